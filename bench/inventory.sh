#!/bin/sh
# SPDX-License-Identifier: MIT
# Inventory benchmark: a fresh CA and daemon on loopback; `cairn inventory import` of N
# generated certificates (bench/inv_gen: one key, N serials) from a directory, a re-import
# (all known), a report over them; then `cairn discover` of 127.0.0.0/24 on two ports
# with TLS servers on a few of them. Usage: sh bench/inventory.sh [-n N]   (build tree)
set -eu
N=100000
while [ $# -gt 0 ]; do
	case $1 in
	-n) N=$2; shift 2 ;;
	*) echo "usage: sh bench/inventory.sh [-n N]" >&2; exit 2 ;;
	esac
done
CAIRN=${CAIRN:-./cairn}
GEN=${GEN:-./bench/inv_gen}
W=$(mktemp -d "${TMPDIR:-/tmp}/cairn-invbench.XXXXXX")
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$W"
}
trap cleanup EXIT INT TERM
ms() { date +%s%N | cut -c1-13; }
. "$(dirname "$0")/lib.sh"

"$CAIRN" init --dir "$W/ca" --listen-https 127.0.0.1:0 --listen-http 127.0.0.1:0 --public-http http://init.invalid >"$W/init.out" 2>&1
jq '.public_urls.http = ""' "$W/ca/cairn.json" >"$W/c.json" && cat "$W/c.json" >"$W/ca/cairn.json" # the URLs follow the listeners
"$CAIRN" serve --dir "$W/ca" 2>"$W/serve.log" &
PIDS="$PIDS $!"
i=0
while [ ! -s "$W/ca/serve.json" ]; do
	i=$((i + 1)); [ $i -gt 300 ] && { echo "daemon did not start" >&2; exit 1; }
	sleep 0.1
done

t0=$(ms); "$GEN" "$W/pems" "$N"; t1=$(ms)
echo "generate: $N certificates in $((t1 - t0)) ms"
t0=$(ms)
"$CAIRN" inventory import --dir "$W/ca" --pem-dir "$W/pems" 2>"$W/imp.err"
t1=$(ms)
echo "import:   $N certificates in $((t1 - t0)) ms = $((N * 1000 / (t1 - t0 + 1))) certs/s ($(grep -c 'certificates sent' "$W/imp.err") API calls)"
t0=$(ms)
"$CAIRN" inventory import --dir "$W/ca" --pem-dir "$W/pems" 2>/dev/null
t1=$(ms)
echo "re-import (all known): $((t1 - t0)) ms"
t0=$(ms)
rows=$("$CAIRN" report expiring --dir "$W/ca" --within 30d --by issuer --format csv | wc -l)
t1=$(ms)
echo "report expiring --within 30d over $N: $((rows - 1)) rows in $((t1 - t0)) ms"
echo "database: $(du -sh "$W/ca/db" | cut -f1)"

# Discovery: TLS on 127.0.0.1 and 127.0.0.7 at port A, nothing elsewhere; /24 x 2 ports.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/k.pem" \
	-out "$W/c.pem" -subj /CN=bench.example -days 30 2>/dev/null
PA=$(free_port); PB=$(free_port)
for a in 127.0.0.1 127.0.0.7; do
	openssl s_server -accept "$a:$PA" -cert "$W/c.pem" -key "$W/k.pem" -www -quiet </dev/null >/dev/null 2>&1 &
	PIDS="$PIDS $!"
done
sleep 0.5
for rate in 0 200; do
	t0=$(ms)
	"$CAIRN" discover --dir "$W/ca" --targets 127.0.0.0/24 --ports "$PA,$PB" --parallel 64 \
		--timeout-ms 2000 --rate "$rate" --format csv >"$W/scan.csv" 2>"$W/scan.err"
	t1=$(ms)
	echo "discover 127.0.0.0/24 x 2 ports (512 endpoints, --parallel 64, --rate $rate): $((t1 - t0)) ms, $(grep -c ',tls,' "$W/scan.csv") served TLS"
done
