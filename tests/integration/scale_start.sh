#!/bin/sh
# SPDX-License-Identifier: MIT
# Start-up and request paths that must not depend on the database's size, on 200k
# certificates (100k revoked) seeded by bench/ocsp_seed: the listeners answer (/healthz,
# OCSP) before the first CRL is built, /crl says 503 with Retry-After until it is, and
# /healthz names the CRLs still pending; a /metrics scrape walks nothing; a page of the
# certificates of one requester walks only its rows. Orders and counts, never timings.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

N=200000
D=$WORK/ca
SEED=$(pwd)/bench/ocsp_seed
[ -x "$SEED" ] || bail "bench/ocsp_seed not built"
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
ok "bench/ocsp_seed adds $N certificates, every second one revoked" sh -c \
	"'$SEED' -e 365 -N start.example -T -r 2 -O '$D' $N 50 '$WORK' >'$WORK/seed.json'"
ok "  ... $((N / 2)) revoked" test "$(jq .revoked "$WORK/seed.json")" -eq $((N / 2))
GOOD=$(awk '$2 == "good" { print $1; exit }' "$WORK/queried.txt")
ocsp_q() {
	openssl ocsp -issuer "$D/ca/issuing.pem" -serial "0x$1" -url "$HTTP_URL/ocsp" \
		-CAfile "$D/ca/root.pem" -no_nonce
}
crl_status() { curl -s -o /dev/null -w '%{http_code}' "$HTTP_URL/crl/$1.crl"; }

# ---- a first build that cannot finish: the daemon serves all the same ----
# A directory where the issuing CA's CRL file goes: its build fails at publication, on
# every try, whoever runs the test (root too). Before, the daemon did not start at all.
mkdir -p "$D/crl/issuing.crl"
ok "the daemon starts although the issuing CA's first CRL cannot be published" ca_serve "$D"
ok "/healthz answers 200" sh -c "curl -s -o '$WORK/h1.json' -w '%{http_code}' '$HTTP_URL/healthz' | grep -qx 200"
ok "  ... and names the issuing CA's CRL as pending (building or failed), the status ok" \
	jq -e '.status == "ok" and ([.pending[] | select(.what == "crl-issuing") |
	  .state | IN("building", "failed")] | length == 1)' "$WORK/h1.json"
ok "openssl ocsp gets a verified answer meanwhile" ocsp_q "$GOOD"
last_has "  ... good" "^0x$GOOD: good"
ok "GET /crl/issuing.crl answers 503" sh -c "
	curl -s -D '$WORK/crl503.h' -o '$WORK/crl503.json' -w '%{http_code}' '$HTTP_URL/crl/issuing.crl' | grep -qx 503"
ok "  ... with Retry-After" grep -qi '^Retry-After: [0-9]' "$WORK/crl503.h"
ok "  ... and a problem document" sh -c "grep -qi '^Content-Type: application/problem+json' '$WORK/crl503.h' &&
	jq -e '.status == 503 and (.detail | test(\"being built\"))' '$WORK/crl503.json' >/dev/null"
root_ok() { [ "$(crl_status root)" = 200 ]; }
waits_for() { # CMD...: until it succeeds (bounded, 60 s)
	i=0
	until "$@"; do
		i=$((i + 1)); [ $i -lt 600 ] || return 1
		sleep 0.1
	done
}
ok "the root's CRL is served once built" waits_for root_ok
ok "/metrics counts the CRLs still pending" sh -c "
	curl -s '$HTTP_URL/metrics' | grep -qx 'cairn_crl_pending [1-9][0-9]*'"
ok "the failure is logged" waits "$D.serve.log" '"level":"error","component":"crl".*issuing'
ca_stop
rmdir "$D/crl/issuing.crl"

# ---- an ordinary first start: listening first, then the CRL, then 200 ----
: >"$D.serve.log"
ok "the daemon starts again" ca_serve "$D"
issuing_ok() { [ "$(crl_status issuing)" = 200 ]; }
ok "GET /crl/issuing.crl answers 200 once the scheduler has built it" waits_for issuing_ok
ok "  ... the log says it listened first, and built the CRL after" sh -c "
	grep -n '\"msg\":\"serving ' '$D.serve.log' | head -1 | cut -d: -f1 >'$WORK/l.serving' &&
	grep -n 'built the first CRLs of issuing' '$D.serve.log' | head -1 | cut -d: -f1 >'$WORK/l.built' &&
	[ -s '$WORK/l.serving' ] && [ -s '$WORK/l.built' ] && [ \$(cat '$WORK/l.serving') -lt \$(cat '$WORK/l.built') ]"
ok "  ... the CRL lists the $((N / 2)) revoked certificates and verifies" sh -c "
	curl -sf -o '$WORK/issuing.crl' '$HTTP_URL/crl/issuing.crl' &&
	openssl crl -inform DER -in '$WORK/issuing.crl' -CAfile '$D/ca/chain.pem' -noout -text 2>'$WORK/crl.err' |
	grep -c 'Serial Number:' >'$WORK/crl.n' && grep -q 'verify OK' '$WORK/crl.err' &&
	[ \$(cat '$WORK/crl.n') -eq $((N / 2)) ]"
nothing_pending() { curl -s "$HTTP_URL/healthz" | jq -e '.status == "ok" and .pending == null' >/dev/null; }
ok "/healthz then has nothing pending" waits_for nothing_pending

ca_stop
done_testing
