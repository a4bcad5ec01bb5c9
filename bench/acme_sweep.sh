#!/bin/sh
# SPDX-License-Identifier: MIT
# The ACME retention sweep over a backlog: COUNT complete orders (bench/acme_bench, c=8,
# an authorization of their own each: authz_reuse_seconds 0), then a start with the clock
# (libfaketime) past their expiry and retention (default 7 + 30 days): how long the sweep
# at start takes, its CPU, the records before and after, and /healthz answered meanwhile.
# usage: sh bench/acme_sweep.sh [COUNT]
set -u
COUNT=${1:-20000}
TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/bench/lib.sh"
CAIRN=$TOP/cairn
DRIVER=$TOP/bench/acme_bench
FT=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -1)
[ -n "$FT" ] || { echo "libfaketime is not installed (scripts/deps.sh)"; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/acme-sweep.XXXXXX")
SP=""
cleanup() {
	[ -n "$SP" ] && kill "$SP" 2>/dev/null && while kill -0 "$SP" 2>/dev/null; do sleep 0.1; done
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

# serve [ENV...]: starts the daemon (with those variables), sets SP, URL and MURL
serve() {
	rm -f "$W/ca/serve.json"
	env "$@" "$CAIRN" serve --dir "$W/ca" 2>>"$W/serve.log" &
	SP=$!
	i=0
	while [ ! -s "$W/ca/serve.json" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
	URL=$(sed -n 's/.*"https": *"\([^"]*\)".*/\1/p' "$W/ca/serve.json")
	MURL=$(sed -n 's/.*"http": *"\([^"]*\)".*/\1/p' "$W/ca/serve.json")
}
stop() {
	kill "$SP"
	while kill -0 "$SP" 2>/dev/null; do sleep 0.1; done
	SP=""
}
metric() { curl -s "$MURL/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
ticks() { awk '{ print $14 + $15 }' "/proc/$SP/stat"; }

echo "# machine: $(nproc) cores; load: $(uptime | sed 's/.*load average: //')"
"$CAIRN" init --dir "$W/ca" --listen-https 127.0.0.1:0 --listen-http 127.0.0.1:0 --public-http http://init.invalid >/dev/null 2>&1 ||
	{ echo "cairn init failed"; exit 1; }
jq '.public_urls.http = ""' "$W/ca/cairn.json" >"$W/c.json" && cat "$W/c.json" >"$W/ca/cairn.json" # the URLs follow the listeners
HP=$(free_port)
python3 - "$W/ca/cairn.json" "$HP" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["acme"] = {"authz_reuse_seconds": 0, "validation": {"http01_port": int(sys.argv[2])}}
d["log_level"] = "info"
json.dump(d, open(sys.argv[1], "w"))
PY
serve
timeout 1800 "$DRIVER" --directory "$URL/acme/directory" --cafile "$W/ca/ca/root.pem" \
	--http01-port "$HP" --server-pid "$SP" --count "$COUNT" --conc 8 >"$W/orders.out" ||
	{ cat "$W/orders.out"; echo "the orders failed"; exit 1; }
echo "# $COUNT orders made: $(awk 'NR == 2 { print $3 }' "$W/orders.out") orders/s"
R0=$(metric cairn_acme_records)
U0=$(metric cairn_db_used_bytes)
stop

# The start 38 days on: every order expired 31 days ago (lifetime 7 days, retention 30).
T0=$(date +%s.%N)
serve LD_PRELOAD="$FT" FAKETIME=+38d
C0=$(ticks)
n=0 slow=0
while [ "$(metric cairn_acme_sweep_last_timestamp_seconds)" = 0 ]; do
	ms=$(curl -s -o /dev/null -w '%{time_total}' "$MURL/healthz" | awk '{ printf "%d", $1 * 1000 }')
	n=$((n + 1))
	[ "$ms" -gt "$slow" ] && slow=$ms
	[ $n -lt 20000 ] || { echo "no sweep ended"; exit 1; }
done
T1=$(date +%s.%N)
C1=$(ticks)
echo "# the start's sweep: $(metric 'cairn_acme_swept_total{kind="order"}') orders and $(metric 'cairn_acme_swept_total{kind="authorization"}') authorizations deleted"
awk -v a="$T0" -v b="$T1" -v c="$((C1 - C0))" -v hz="$(getconf CLK_TCK)" -v n="$COUNT" 'BEGIN {
	printf "# start to its end: %.2f s (%.0f orders/s); daemon CPU meanwhile (start included) %.2f s, %.0f us an order\n",
		b - a, n / (b - a), c / hz, c / hz * 1e6 / n }'
echo "# /healthz during it: $n answered, slowest $slow ms"
echo "# ACME records: $R0 before, $(metric cairn_acme_records) after; db used bytes: $U0 before, $(metric cairn_db_used_bytes) after (freed pages are reused, not returned)"
grep -o '"msg":"deleted[^"]*"' "$W/serve.log" | tail -1
echo "# load after: $(uptime | sed 's/.*load average: //')"
