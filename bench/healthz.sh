#!/bin/sh
# SPDX-License-Identifier: MIT
# GET /healthz on one keep-alive connection per client: this build beside a reference
# build (an older cairn binary) in the same run, over TLS and plain HTTP, at c=1 and c=8,
# runs interleaved, medians; with the daemon's CPU time per request and the load average.
# Usage: sh bench/healthz.sh [-r REF_CAIRN] [-n N] [-t SEC] [-R RUNS] [-c "1 8"] [-s]
#   (run from the build tree; see bench/README.md, "/healthz at c=1")
set -eu
REF=${CAIRN_REF:-}
N=20000
T=10
RUNS=3
LEVELS="1 8"
SPIN=0
while [ $# -gt 0 ]; do
	case $1 in
	-r) REF=$2; shift 2 ;;
	-n) N=$2; shift 2 ;;
	-t) T=$2; shift 2 ;;
	-R) RUNS=$2; shift 2 ;;
	-c) LEVELS=$2; shift 2 ;;
	-s) SPIN=1; shift ;;
	*) echo "usage: sh bench/healthz.sh [-r REF_CAIRN] [-n N] [-t SEC] [-R RUNS] [-c LEVELS] [-s]" >&2
	   exit 2 ;;
	esac
done
CAIRN=${CAIRN:-./cairn}
DRIVER=${DRIVER:-./bench/est_bench}
W=$(mktemp -d "${TMPDIR:-/tmp}/cairn-healthz.XXXXXX")
PIDS=""
SPINNERS=""
cleanup() {
	set +e # a killed child's status must not end the cleanup (set -e)
	for p in $SPINNERS $PIDS; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

# start NAME BINARY: a fresh CA and daemon on loopback; writes $W/NAME.env
start() {
	"$2" init --dir "$W/$1" --listen-https 127.0.0.1:0 --listen-http 127.0.0.1:0 --public-http http://init.invalid \
		>"$W/$1.init" 2>&1 || { cat "$W/$1.init" >&2; exit 1; }
	jq '.public_urls.http = ""' "$W/$1/cairn.json" >"$W/$1.c.json" && cat "$W/$1.c.json" >"$W/$1/cairn.json" # the URLs follow the listeners
	"$2" serve --dir "$W/$1" >/dev/null 2>"$W/$1.log" &
	PIDS="$PIDS $!"
	echo "pid=$!" >"$W/$1.env"
	i=0
	until [ -s "$W/$1/serve.json" ] &&
		curl -sf -o /dev/null "$(sed -n 's/.*"http": *"\([^"]*\)".*/\1/p' "$W/$1/serve.json")/healthz"; do
		i=$((i + 1)); [ $i -gt 300 ] && { echo "$1: daemon did not start" >&2; exit 1; }
		sleep 0.1
	done
	echo "https=$(sed -n 's/.*"https": *"\([^"]*\)".*/\1/p' "$W/$1/serve.json")" >>"$W/$1.env"
	echo "http=$(sed -n 's/.*"http": *"\([^"]*\)".*/\1/p' "$W/$1/serve.json")" >>"$W/$1.env"
}

. "$(dirname "$0")/lib.sh" # cpu_ns

BUILDS="new"
start new "$CAIRN"
if [ -n "$REF" ]; then
	start ref "$REF"
	BUILDS="ref new"
fi
if [ "$SPIN" = 1 ]; then
	# A busy machine: one idle-priority spinner per CPU keeps the vCPUs from halting.
	for c in $(seq 0 $(($(nproc) - 1))); do
		taskset -c "$c" nice -n 19 timeout $((RUNS * 8 * (T + 5) + 60)) \
			sh -c 'while :; do :; done' &
		SPINNERS="$SPINNERS $!"
	done
fi

echo "# $(date -u +%FT%TZ) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)$([ "$SPIN" = 1 ] && echo ', spinners on')"
echo "# reference: ${REF:-none}; N=$N per level, cap ${T}s"
r=0
while [ $r -lt "$RUNS" ]; do
	r=$((r + 1))
	for c in $LEVELS; do
		for proto in https http; do
			for b in $BUILDS; do
				. "$W/$b.env"
				eval "url=\$$proto"
				a=$(cpu_ns "$pid")
				line=$("$DRIVER" --url "$url" --cacert "$W/$b/ca/root.pem" --healthz \
					-n "$N" -t "$T" -c "$c" 2>&1 | tail -1)
				z=$(cpu_ns "$pid")
				echo "$line" | awk -v b="$b" -v p="$proto" -v r="$r" -v a="$a" -v z="$z" '
					{ n = $3 + 0; printf "run %d %s %s %s req/s %s p50_ms %s us_cpu %.1f conns %s failed %s\n",
					  r, b, p, $2, $9, $12, n ? (z - a) / n / 1000 : 0, $21, $18 }'
			done
		done
	done
done | tee "$W/runs"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| listener | c | build | req/s (median) | p50 ms | daemon CPU µs/request |"
echo "| --- | ---: | --- | ---: | ---: | ---: |"
for proto in https http; do
	for c in $LEVELS; do
		for b in $BUILDS; do
			grep " $b $proto c=$c " "$W/runs" | awk -v b="$b" -v p="$proto" -v c="$c" '
				function med(v, k,   i, j, t) {
					for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++)
						if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
					return k % 2 ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2 }
				{ k++; q[k] = $7; l[k] = $9; u[k] = $11 }
				END { if (k) printf "| %s | %s | %s | %.0f | %.2f | %.1f |\n",
				      p == "https" ? "TLS" : "plain", c, b, med(q, k), med(l, k), med(u, k) }'
		done
	done
done
