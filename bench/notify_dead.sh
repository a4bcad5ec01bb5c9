#!/bin/sh
# SPDX-License-Identifier: MIT
# What a webhook receiver that stays down costs the daemon: N dead letters of its sink
# (tests/tools/notify_fill), then the daemon's CPU while idle for T seconds (its notify
# worker goes on polling that sink) and the time of a /metrics scrape, for this build
# beside a reference build (an older cairn binary) in the same run, runs interleaved.
# Usage: sh bench/notify_dead.sh [-r REF_CAIRN] [-n N] [-t SEC] [-R RUNS]
#   (run from the build tree; see bench/README.md, "notify: dead letters")
set -eu
REF=${CAIRN_REF:-}
N=50000
T=10
RUNS=3
while [ $# -gt 0 ]; do
	case $1 in
	-r) REF=$2; shift 2 ;;
	-n) N=$2; shift 2 ;;
	-t) T=$2; shift 2 ;;
	-R) RUNS=$2; shift 2 ;;
	*) echo "usage: sh bench/notify_dead.sh [-r REF_CAIRN] [-n N] [-t SEC] [-R RUNS]" >&2
	   exit 2 ;;
	esac
done
CAIRN=${CAIRN:-./cairn}
FILL=${FILL:-./tests/tools/notify_fill}
W=$(mktemp -d "${TMPDIR:-/tmp}/cairn-notify-dead.XXXXXX")
PID=""
cleanup() {
	set +e
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT INT TERM
. "$(dirname "$0")/lib.sh"


# one NAME BINARY: a fresh CA whose sink "late" posts to a port nothing listens on, N dead
# letters of it, then the daemon: prints "cpu_ms_per_s scrape_ms start_ms dead|memory".
one() {
	d=$W/$1
	rm -rf "$d"
	"$2" init --dir "$d" --listen-https 127.0.0.1:0 --listen-http 127.0.0.1:0 \
		--public-http http://init.invalid >"$W/init.out" 2>&1 || { cat "$W/init.out" >&2; exit 1; }
	head -c 32 /dev/urandom | base64 >"$d/late.secret"
	jq --arg url "http://127.0.0.1:$(free_port)/" '.public_urls.http = "" |
		.notify = {"webhooks": [{"name": "late", "url": $url, "secret_file": "late.secret",
		"max_tries": 1}], "poll_ms": 500}' "$d/cairn.json" >"$W/c.json" && cat "$W/c.json" >"$d/cairn.json"
	"$FILL" "$d/db" dead late "$N" >/dev/null
	t0=$(date +%s%N)
	"$2" serve --dir "$d" >/dev/null 2>"$W/$1.log" &
	PID=$!
	i=0
	until [ -s "$d/serve.json" ] &&
		curl -sf -o /dev/null "$(sed -n 's/.*"http": *"\([^"]*\)".*/\1/p' "$d/serve.json")/healthz"; do
		i=$((i + 1)); [ $i -gt 600 ] && { echo "$1: daemon did not start" >&2; exit 1; }
		sleep 0.1
	done
	start_ms=$((($(date +%s%N) - t0) / 1000000))
	http=$(sed -n 's/.*"http": *"\([^"]*\)".*/\1/p' "$d/serve.json")
	sleep 2 # the worker's first turns
	c0=$(cpu_ns "$PID")
	sleep "$T"
	c1=$(cpu_ns "$PID")
	scrape=$(for k in 1 2 3; do curl -s -o /dev/null -w '%{time_total}\n' "$http/metrics"; done |
		awk '{ print $1 * 1000 }' | median)
	dead=$(curl -s "$http/metrics" | sed -n 's/^cairn_notify_dead_letters{sink="late"} //p')
	rss=$(bench_rss "$PID")
	kill "$PID" && wait "$PID" 2>/dev/null || true
	PID=""
	echo "$(awk -v a="$c0" -v b="$c1" -v t="$T" 'BEGIN { printf "%.1f", (b - a) / 1e6 / t }') $scrape $start_ms ${dead:-?}|$rss"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $N dead letters of one sink; idle ${T}s; reference: ${REF:-none}"
printf '%-4s %-4s %14s %12s %10s %8s  %s\n' build run "cpu ms/s idle" "scrape ms" "start ms" dead memory
r=1
while [ $r -le "$RUNS" ]; do
	for b in ${REF:+ref} new; do
		bin=$CAIRN
		[ "$b" = ref ] && bin=$REF
		line=$(one "$b" "$bin")
		mem=${line#*|}
		set -- ${line%%|*}
		printf '%-4s %-4s %14s %12s %10s %8s  %s\n' "$b" "$r" "$1" "$2" "$3" "$4" "$mem"
	done
	r=$((r + 1))
done
