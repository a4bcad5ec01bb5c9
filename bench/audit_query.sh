#!/bin/sh
# SPDX-License-Identifier: MIT
# What GET /admin/v1/audit costs over a long log: N chained events (tests/tools/audit_fill,
# as N issuances leave them), then, once the daemon's start-up audit check is done, the
# time and the daemon's CPU of: the API's default page (limit=100), the console's audit
# page (its events and its "last checkpoint" query, as each build's console asks them) and
# a certificate's audit trail (the console's certificate page), for this build beside a
# reference build (an older cairn binary), runs interleaved.
# Usage: sh bench/audit_query.sh [-r REF_CAIRN] [-n N] [-R RUNS]
#   (run from the build tree; see bench/README.md, "GET /audit")
set -eu
REF=${CAIRN_REF:-}
N=200000
RUNS=3
while [ $# -gt 0 ]; do
	case $1 in
	-r) REF=$2; shift 2 ;;
	-n) N=$2; shift 2 ;;
	-R) RUNS=$2; shift 2 ;;
	*) echo "usage: sh bench/audit_query.sh [-r REF_CAIRN] [-n N] [-R RUNS]" >&2; exit 2 ;;
	esac
done
CAIRN=${CAIRN:-./cairn}
FILL=${FILL:-./tests/tools/audit_fill}
W=$(mktemp -d "${TMPDIR:-/tmp}/cairn-audit-query.XXXXXX")
PID=""
cleanup() {
	set +e
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT INT TERM
. "$(dirname "$0")/lib.sh"

# One CA, filled once, copied for each run (the fill is not what is measured).
"$CAIRN" init --dir "$W/seed" --listen-https 127.0.0.1:0 --listen-http 127.0.0.1:0 \
	--public-http http://init.invalid >"$W/init.out" 2>&1 || { cat "$W/init.out" >&2; exit 1; }
jq '.public_urls.http = ""' "$W/seed/cairn.json" >"$W/c.json" && cat "$W/c.json" >"$W/seed/cairn.json"
"$FILL" "$W/seed/db" "$N" >/dev/null
SERIAL=$(printf '7f%038x' $((N / 2)))

# timed PID URL: "ms cpu_ms" of one GET (the daemon's CPU over it).
timed() {
	c0=$(cpu_ns "$1")
	t=$(curl -s -o /dev/null -w '%{time_total}' --cacert "$d/ca/root.pem" \
		-H "Authorization: Bearer $(cat "$d/admin.token")" "$2")
	c1=$(cpu_ns "$1")
	awk -v t="$t" -v a="$c0" -v b="$c1" 'BEGIN { printf "%.0f %.0f\n", t * 1000, (b - a) / 1e6 }'
}

# one NAME BINARY KIND: prints "default_ms console_ms trail_ms default_cpu console_cpu trail_cpu"
# (medians of 3 requests each; console = its two queries one after the other).
one() {
	d=$W/$1
	rm -rf "$d"
	cp -a "$W/seed" "$d"
	"$2" serve --dir "$d" >/dev/null 2>"$W/$1.log" &
	PID=$!
	i=0
	until [ -s "$d/serve.json" ]; do
		i=$((i + 1)); [ $i -gt 600 ] && { echo "$1: daemon did not start" >&2; exit 1; }
		sleep 0.1
	done
	a=$(sed -n 's/.*"https": *"\([^"]*\)".*/\1/p' "$d/serve.json")/admin/v1/audit
	# the start-up audit check walks the whole chain: wait until the daemon is idle (< 20 ms
	# of CPU in a second; at most 120 s)
	i=0
	while :; do
		c0=$(cpu_ns "$PID"); sleep 1; c1=$(cpu_ns "$PID")
		[ $(((c1 - c0) / 1000000)) -lt 20 ] && break
		i=$((i + 1)); [ $i -gt 120 ] && { echo "$1: never idle" >&2; exit 1; }
	done
	if [ "$3" = old ]; then
		ev="limit=50&offset=0" cp="action=audit.checkpoint&limit=1000" tr="serial=$SERIAL&limit=200"
	else
		ev="order=newest&limit=50" cp="action=audit.checkpoint&order=newest&limit=1"
		tr="serial=$SERIAL&order=newest&limit=200"
	fi
	for k in 1 2 3; do timed "$PID" "$a?limit=100"; done >"$W/def"
	for k in 1 2 3; do
		x=$(timed "$PID" "$a?$ev"); y=$(timed "$PID" "$a?$cp")
		echo "$x $y" | awk '{ print $1 + $3, $2 + $4 }'
	done >"$W/con"
	for k in 1 2 3; do timed "$PID" "$a?$tr"; done >"$W/tr"
	kill "$PID" && wait "$PID" 2>/dev/null || true
	PID=""
	echo "$(cut -d' ' -f1 "$W/def" | median) $(cut -d' ' -f1 "$W/con" | median) $(cut -d' ' -f1 "$W/tr" | median)" \
		"$(cut -d' ' -f2 "$W/def" | median) $(cut -d' ' -f2 "$W/con" | median) $(cut -d' ' -f2 "$W/tr" | median)"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $N audit events (+ the CA's own); reference: ${REF:-none}; ms and daemon CPU ms, medians of 3 requests"
printf '%-4s %-4s %12s %12s %10s %12s %12s %10s\n' build run "limit=100" console trail \
	"cpu l=100" "cpu console" "cpu trail"
r=1
while [ $r -le "$RUNS" ]; do
	for b in ${REF:+ref} new; do
		bin=$CAIRN kind=new
		[ "$b" = ref ] && bin=$REF kind=old
		set -- $(one "$b" "$bin" "$kind")
		printf '%-4s %-4s %12s %12s %10s %12s %12s %10s\n' "$b" "$r" "$1" "$2" "$3" "$4" "$5" "$6"
	done
	r=$((r + 1))
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
