#!/bin/sh
# SPDX-License-Identifier: MIT
# OCSP responder benchmark: wrk GET and POST load on cairn (pre-signed cache) and on
# `openssl ocsp -index` (signs live) in the same run, over the same requests.
#
# usage: sh bench/ocsp.sh [-n CERTS] [-q QUERIED] [-c "1 16 64"] [-d SECONDS] [-t THREADS] [-T HTTP_THREADS] [-O] [-k]
#   -O skips the openssl side
#   run from the build directory (needs ./cairn and ./bench/ocsp_seed); loopback only.
set -eu

N=100000 Q=1000 CONNS="1 16 64" DUR=10 THREADS=2 HTHREADS="" KEEP=0 OSSL=1
while getopts n:q:c:d:t:T:Ok opt; do
	case $opt in
	n) N=$OPTARG ;;
	q) Q=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	d) DUR=$OPTARG ;;
	t) THREADS=$OPTARG ;;
	T) HTHREADS=$OPTARG ;;
	k) KEEP=1 ;;
	O) OSSL=0 ;;
	*) echo "usage: $0 [-n CERTS] [-q QUERIED] [-c \"1 16 64\"] [-d SECONDS] [-t THREADS] [-T HTTP_THREADS] [-O] [-k]" >&2; exit 2 ;;
	esac
done
B=$(pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
CAIRN=$B/cairn
. "$SRC/bench/lib.sh"
command -v wrk >/dev/null || { echo "wrk missing: apt-get install wrk (scripts/deps.sh)" >&2; exit 1; }
[ -x "$CAIRN" ] && [ -x "$B/bench/ocsp_seed" ] || { echo "build first (make -j2)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "needs 2 CPUs (responder on 0, wrk on 1)" >&2; exit 1; }

W=$(mktemp -d /tmp/cairn-ocspbench.XXXXXX)
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	[ "$KEEP" = 1 ] && echo "kept $W" >&2 || rm -rf "$W"
}
trap cleanup EXIT INT TERM

echo "# machine: $(nproc) CPUs, $(uptime | sed 's/.*load/load/')"
echo "# cairn $("$CAIRN" --version | cut -d' ' -f2), $(openssl version), $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)"
"$CAIRN" init --dir "$W/ca" --listen-https 127.0.0.1:0 --listen-http 127.0.0.1:0 --public-http http://init.invalid >"$W/init.out" 2>&1
jq '.public_urls.http = ""' "$W/ca/cairn.json" >"$W/c.json" && cat "$W/c.json" >"$W/ca/cairn.json" # the URLs follow the listeners
python3 - "$W/ca/cairn.json" "$THREADS" "$HTHREADS" <<'EOF'
import json, sys
p, threads, hthreads = sys.argv[1], int(sys.argv[2]), sys.argv[3]
d = json.load(open(p))
d.setdefault("server", {})["threads"] = threads
if hthreads:  # else the daemon's default (one per CPU it may run on: 1 here, pinned)
    d["server"]["http_threads"] = int(hthreads)
d["log_level"] = "warn"
json.dump(d, open(p, "w"), indent=2)
EOF
"$B/bench/ocsp_seed" "$W/ca" "$N" "$Q" "$W"

# Start cairn on CPU 0 and wait (bounded) until the refresher has pre-signed everything.
taskset -c 0 "$CAIRN" serve --dir "$W/ca" 2>"$W/serve.log" &
CPID=$!
PIDS="$PIDS $CPID"
i=0
while [ ! -s "$W/ca/serve.json" ]; do
	i=$((i + 1)); [ $i -lt 300 ] || { cat "$W/serve.log" >&2; exit 1; }
	sleep 0.1
done
HTTP=$(sed -n 's/.*"http": *"\([^"]*\)".*/\1/p' "$W/ca/serve.json")
t0=$(date +%s)
want=$((N + 1)) # the seeded certificates and the OCSP signer's own
while :; do
	have=$(curl -s "$HTTP/metrics" | sed -n 's/^cairn_ocsp_cached_responses //p')
	[ "${have:-0}" -ge "$want" ] && break
	[ $(($(date +%s) - t0)) -lt 600 ] || { echo "pre-signing did not finish in 600 s ($have/$want)" >&2; exit 1; }
	sleep 1
done
echo "# cairn pre-signed $have responses in $(($(date +%s) - t0)) s (server.threads=$THREADS, server.http_threads=${HTHREADS:-default}, pinned to CPU 0)"
echo "# cairn memory idle, all answers pre-signed: $(bench_rss "$CPID")"

# cpu_ticks PID: utime + stime of a process, in clock ticks.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
HZ=$(getconf CLK_TCK)

# run_wrk NAME URL MODE PREFIX C [PID]: one 10 s wrk run on CPU 1; prints one result line,
# with the server's CPU per request when its PID is given (less swayed by other load
# on the machine than req/s).
run_wrk() {
	out=$W/wrk.$1.$3.$5.txt
	t0=$([ -n "${6:-}" ] && cpu_ticks "$6" || echo 0)
	taskset -c 1 wrk -t1 -c"$5" -d"${DUR}s" --latency --timeout 5s -s "$SRC/bench/ocsp.lua" "$2" \
		-- "$W/reqs.lua" "$3" "$4" >"$out" 2>&1 || true
	rps=$(sed -n 's/^Requests\/sec: *//p' "$out")
	p50=$(sed -n 's/^ *50% *//p' "$out")
	p99=$(sed -n 's/^ *99% *//p' "$out")
	errs=$(sed -n 's/.*Socket errors: \(.*\)/\1/p; s/.*Non-2xx or 3xx responses: \(.*\)/non2xx \1/p' "$out" | tr '\n' ' ')
	cpu=""
	if [ -n "${6:-}" ]; then
		t1=$(cpu_ticks "$6")
		nreq=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$out")
		[ "${nreq:-0}" -gt 0 ] && cpu=$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v n="$nreq" \
			'BEGIN { printf "cpu %.1f us/req", t * 1e6 / hz / n }')
	fi
	printf '%-8s %-4s c=%-3s %10s req/s  p50 %8s  p99 %8s  %s %s\n' "$1" "$3" "$5" "${rps:-?}" \
		"${p50:-?}" "${p99:-?}" "$cpu" "$errs"
}

# A fresh `openssl ocsp` responder on CPU 0 for each run (it cannot survive some clients).
openssl_up() {
	port=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 20000))
	taskset -c 0 openssl ocsp -index "$W/index.txt" -port "$port" -rsigner "$W/signer.pem" \
		-rkey "$W/signer.key" -CA "$W/ca/ca/issuing.pem" -ndays 4 >"$W/openssl.log" 2>&1 &
	OPID=$!
	PIDS="$PIDS $OPID"
	i=0
	until openssl ocsp -issuer "$W/ca/ca/issuing.pem" -serial 1 -url "http://127.0.0.1:$port" \
		-noverify >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -lt 50 ] || { cat "$W/openssl.log" >&2; exit 1; }
		sleep 0.1
	done
	OURL="http://127.0.0.1:$port"
}
openssl_down() {
	kill "$OPID" 2>/dev/null; wait "$OPID" 2>/dev/null || true
}

# One untimed pass first (3 s, GET): it maps in the database pages the queries touch, as
# a responder that has been running has them. Without it the first measured run paid the
# page faults (7 Dec 2026: GET c=64 19.9 us an answer, p99 4.8 ms, then 17.0 us and 2.2 ms
# in the run after it).
taskset -c 1 wrk -t1 -c16 -d3s --timeout 5s -s "$SRC/bench/ocsp.lua" "$HTTP" \
	-- "$W/reqs.lua" get /ocsp/ >"$W/wrk.warmup.txt" 2>&1 || true
echo "# cairn memory after a 3 s warm-up pass: $(bench_rss "$CPID")"
echo "# $Q different certificates (10% revoked) of $N; wrk -t1 pinned to CPU 1, ${DUR} s per run"
for mode in get post; do
	for c in $CONNS; do
		run_wrk cairn "$HTTP" "$mode" "$([ $mode = get ] && echo /ocsp/ || echo /ocsp)" "$c" "$CPID"
		[ "$OSSL" = 1 ] || continue
		openssl_up
		run_wrk openssl "$OURL" "$mode" "/" "$c"
		openssl_down
	done
done
echo "# cairn memory after the runs: $(bench_rss "$CPID")"
curl -s "$HTTP/metrics" | grep '^cairn_ocsp_' | sed 's/^/# /'
