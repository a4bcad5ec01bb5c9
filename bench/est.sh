#!/bin/sh
# SPDX-License-Identifier: MIT
# EST benchmark: a fresh CA and daemon on loopback, then simpleenroll req/s at concurrency
# 1 and 8 over TLS keep-alive (Basic and client-certificate auth), next to two references
# measured in the same run: admin API issuance (same issuance path) and GET /healthz.
# Usage: sh bench/est.sh [-n N] [-t SEC]   (run from the build tree; see bench/README.md)
set -eu
N=400
T=20
while [ $# -gt 0 ]; do
	case $1 in
	-n) N=$2; shift 2 ;;
	-t) T=$2; shift 2 ;;
	*) echo "usage: sh bench/est.sh [-n N] [-t SEC]" >&2; exit 2 ;;
	esac
done
CAIRN=${CAIRN:-./cairn}
DRIVER=${DRIVER:-./bench/est_bench}
. "$(dirname "$0")/lib.sh"
W=$(mktemp -d "${TMPDIR:-/tmp}/cairn-estbench.XXXXXX")
PID=""
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

"$CAIRN" init --dir "$W/ca" --listen-https 127.0.0.1:0 --listen-http 127.0.0.1:0 --public-http http://init.invalid >"$W/init.out" 2>&1
jq '.public_urls.http = ""' "$W/ca/cairn.json" >"$W/c.json" && cat "$W/c.json" >"$W/ca/cairn.json" # the URLs follow the listeners
"$CAIRN" serve --dir "$W/ca" 2>"$W/serve.log" &
PID=$!
i=0
while [ ! -s "$W/ca/serve.json" ]; do
	i=$((i + 1)); [ $i -gt 300 ] && { echo "daemon did not start" >&2; exit 1; }
	sleep 0.1
done
URL=$(sed -n 's/.*"https": *"\([^"]*\)".*/\1/p' "$W/ca/serve.json")
ROOT=$W/ca/ca/root.pem
printf 'bench password 1\n' >"$W/pw"
"$CAIRN" est user add --dir "$W/ca" --name bench --password-file "$W/pw" 2>/dev/null
# A device certificate for client-certificate authentication, enrolled over EST itself.
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$W/dev.key" \
	-subj /CN=bench-device -outform DER 2>/dev/null | openssl base64 >"$W/dev.b64"
curl -sf --cacert "$ROOT" -u 'bench:bench password 1' -H 'Content-Type: application/pkcs10' \
	--data-binary @"$W/dev.b64" "$URL/.well-known/est/simpleenroll" | openssl base64 -d |
	openssl pkcs7 -inform DER -print_certs -out "$W/dev.pem"

echo "# $(date -u +%FT%TZ) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# cairn memory idle: $(bench_rss "$PID")"
"$DRIVER" --url "$URL" --cacert "$ROOT" --healthz -n "$((N * 10))" -t "$T" || echo "# (that mode had failures)"
"$DRIVER" --url "$URL" --cacert "$ROOT" --token "$(cat "$W/ca/admin.token")" -n "$N" -t "$T" || echo "# (that mode had failures)"
"$DRIVER" --url "$URL" --cacert "$ROOT" --cert "$W/dev.pem" --key "$W/dev.key" -n "$N" -t "$T" || echo "# (that mode had failures)"
"$DRIVER" --url "$URL" --cacert "$ROOT" --user 'bench:bench password 1' -n "$N" -t "$T" || echo "# (that mode had failures)"
# Clients without keep-alive: a TLS handshake per request; the login cache spares the hash.
"$DRIVER" --url "$URL" --cacert "$ROOT" --user 'bench:bench password 1' --fresh -n "$N" -t "$T" || echo "# (that mode had failures)"
echo "# cairn memory after the runs: $(bench_rss "$PID")"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
