#!/bin/sh
# SPDX-License-Identifier: MIT
# ACME benchmark: bench/acme_bench against a fresh `cairn serve` and, when Debian's pebble
# is installed, against pebble (PEBBLE_VA_NOSLEEP=1, no authz reuse, no nonce rejection)
# in the same run. usage: [JWS=N] sh bench/acme_compare.sh [COUNT] [CONCURRENCIES]
# WAIT_MS=N: acme.validation.answer_wait_ms for cairn (else its default).
# RSS_ROUNDS=R: then R more rounds of COUNT orders at c=8 against cairn, with the daemon's
# memory after each (RssAnon: heap and stacks; RssFile: LMDB pages mapped), to show
# whether it grows per order.
set -u
COUNT=${1:-200}
CONC=${2:-1,8}
TOP=$(cd "$(dirname "$0")/.." && pwd)
CAIRN=$TOP/cairn
DRIVER=$TOP/bench/acme_bench
W=$(mktemp -d "${TMPDIR:-/tmp}/acme-bench.XXXXXX")
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

. "$TOP/bench/lib.sh"

echo "# machine: $(nproc) cores; load: $(uptime | sed 's/.*load average: //')"

# ---- cairn ----
"$CAIRN" init --dir "$W/ca" --listen-https 127.0.0.1:0 --listen-http 127.0.0.1:0 --public-http http://init.invalid >/dev/null 2>&1 ||
	{ echo "cairn init failed"; exit 1; }
jq '.public_urls.http = ""' "$W/ca/cairn.json" >"$W/c.json" && cat "$W/c.json" >"$W/ca/cairn.json" # the URLs follow the listeners
HP=$(free_port)
python3 - "$W/ca/cairn.json" "$HP" "${WAIT_MS:-}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["acme"] = {"authz_reuse_seconds": 0, "validation": {"http01_port": int(sys.argv[2])}}
if sys.argv[3]:
    d["acme"]["validation"]["answer_wait_ms"] = int(sys.argv[3])
d["log_level"] = "warn"
json.dump(d, open(sys.argv[1], "w"))
PY
"$CAIRN" serve --dir "$W/ca" 2>"$W/serve.log" &
PIDS="$PIDS $!"
i=0
while [ ! -s "$W/ca/serve.json" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
SP=$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' "$W/ca/serve.json")
URL=$(sed -n 's/.*"https": *"\([^"]*\)".*/\1/p' "$W/ca/serve.json")
MURL=$(sed -n 's/.*"http": *"\([^"]*\)".*/\1/p' "$W/ca/serve.json")/metrics
# db_counts: "WRITES COMMITS REQUESTS SWITCHES" of the daemon so far (cairn_db_*_total
# and the HTTPS requests in /metrics, then the context switches of all its threads,
# voluntary and not, from /proc); the writes leave out the OCSP cache's background
# writes (pre-signed answers of the new certificates, batched by the refresher;
# cairn_ocsp_cache_writes_total). Each ACME request but newNonce verifies one JWS.
db_counts() {
	curl -s "$MURL" | awk '$1 == "cairn_db_writes_total" { w = $2 }
		$1 == "cairn_ocsp_cache_writes_total" { o = $2 }
		$1 == "cairn_http_requests_total{listener=\"https\"}" { r = $2 }
		$1 == "cairn_db_commits_total" { c = $2 } END { printf "%d %d %d ", w - o, c + 0, r + 0 }'
	cat /proc/"$SP"/task/*/status 2>/dev/null | awk '/ctxt_switches:/ { n += $2 } END { print n + 0 }'
}
echo "# cairn ($COUNT orders per level, IP identifier 127.0.0.1, http-01, P-256 CSRs made before the clock)"
echo "# cairn memory idle: $(bench_rss "$SP")"
# First JWS=N (default 2000) bare JWS requests (POST-as-GET of an account), one after the
# other: the server's CPU per request without orders, validations or commits.
if [ "${JWS:-2000}" -gt 0 ]; then
	timeout 600 "$DRIVER" --directory "$URL/acme/directory" --cafile "$W/ca/ca/root.pem" \
		--http01-port "$HP" --server-pid "$SP" --count 0 --jws-requests "${JWS:-2000}"
fi
# One driver run per level, so the database counts are per level (each run also makes
# its one account: one write).
: >"$W/cairn.out"
: >"$W/db.out"
for c in $(echo "$CONC" | tr , ' '); do
	set -- $(db_counts)
	timeout 600 "$DRIVER" --directory "$URL/acme/directory" --cafile "$W/ca/ca/root.pem" \
		--http01-port "$HP" --server-pid "$SP" --count "$COUNT" --conc "$c" >"$W/cairn.$c"
	if [ -s "$W/cairn.out" ]; then tail -n +2 "$W/cairn.$c"; else cat "$W/cairn.$c"; fi |
		tee -a "$W/cairn.out"
	# shellcheck disable=SC2046
	set -- "$@" $(db_counts)
	awk -v c="$c" -v n="$COUNT" -v w="$(($5 - $1))" -v k="$(($6 - $2))" -v q="$(($7 - $3))" \
		-v x="$(($8 - $4))" 'BEGIN {
		printf "# db at conc %s: %.2f durable writes and %.2f commits per order (%.1f writes per commit); %.1f HTTPS requests and %.1f context switches per order\n",
			c, w / n, k / n, k ? w / k : 0, q / n, x / n }' >>"$W/db.out"
done
cat "$W/db.out"
echo "# cairn memory after the timed runs: $(bench_rss "$SP")"
r=0
while [ "$r" -lt "${RSS_ROUNDS:-0}" ]; do
	r=$((r + 1))
	timeout 1200 "$DRIVER" --directory "$URL/acme/directory" --cafile "$W/ca/ca/root.pem" \
		--http01-port "$HP" --server-pid "$SP" --count "$COUNT" --conc 8 >"$W/round.out" ||
		{ echo "# round $r failed"; break; }
	echo "# cairn memory after round $r ($COUNT orders, c=8: $(awk 'NR == 2 { print $3 }' "$W/round.out") orders/s): $(bench_rss "$SP")"
done

# ---- pebble ----
if ! command -v pebble >/dev/null; then
	echo "# pebble not installed: no comparison"
	exit 0
fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=pebble \
	-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -keyout "$W/pebble.key" \
	-out "$W/pebble.pem" 2>/dev/null
PP=$(free_port)
PM=$(free_port)
HP2=$(free_port)
cat >"$W/pebble.json" <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$PP", "managementListenAddress": "127.0.0.1:$PM",
 "certificate": "$W/pebble.pem", "privateKey": "$W/pebble.key", "httpPort": $HP2,
 "tlsPort": 5001, "ocspResponderURL": "", "externalAccountBindingRequired": false}}
JSON
PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE=0 PEBBLE_WFE_NONCEREJECT=0 \
	pebble -config "$W/pebble.json" -strict=false >"$W/pebble.log" 2>&1 &
PEB=$!
PIDS="$PIDS $PEB"
i=0
until curl -sk -o /dev/null "https://127.0.0.1:$PP/dir" || [ $i -gt 100 ]; do sleep 0.1; i=$((i + 1)); done
echo "# pebble (same driver, same run)"
timeout 600 "$DRIVER" --directory "https://127.0.0.1:$PP/dir" --cafile "$W/pebble.pem" \
	--http01-port "$HP2" --server-pid "$PEB" --count "$COUNT" --conc "$CONC" | tee "$W/pebble.out"

echo "# ratios cairn/pebble (orders/s) and pebble/cairn (server CPU per order)"
paste "$W/cairn.out" "$W/pebble.out" | awk 'NR > 1 && $1 + 0 > 0 {
	printf "conc %s: throughput x%.1f, server CPU per order x%.1f lower\n", $1, $3 / $11, $14 / $6 }'
echo "# load after: $(uptime | sed 's/.*load average: //')"
