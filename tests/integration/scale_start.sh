#!/bin/sh
# SPDX-License-Identifier: MIT
# Start-up and request paths that must not depend on the database's size, on 200k
# certificates (100k revoked) seeded by bench/ocsp_seed: the listeners answer (/healthz,
# OCSP) before the first CRL is built, /crl says 503 with Retry-After until it is, and
# /healthz names the CRLs still pending; a /metrics scrape walks nothing; a page of the
# certificates of one requester walks only its rows. Orders and counts, never timings.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

# 200k in the normal build; 50k under the sanitizers, where seeding and pre-signing take
# most of this file's time (5.5 minutes at 200k) and the paths checked are the same.
N=200000
[ -n "${ASAN_OPTIONS:-}${TSAN_OPTIONS:-}" ] && N=50000
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
waits_long() { # CMD...: the same, bounded at 10 minutes (pre-signing on a busy machine)
	i=0
	until "$@"; do
		i=$((i + 1)); [ $i -lt 1200 ] || return 1
		sleep 0.5
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

# ---- what a scrape and a requester page walk ----
# cairn_db_entries_walked_total counts every entry any walk visits. Quiet first: every
# certificate pre-signed, and the counter moving by no more than a scrape's own walk
# (walked and quiet: lib.sh).
presigned() {
	[ "$(curl -s "$HTTP_URL/metrics" | sed -n 's/^cairn_ocsp_cached_responses //p')" -ge "$N" ] 2>/dev/null
}
C() { "$CAIRN" "$@" --dir "$D"; }
ok "the refresher pre-signs every certificate" waits_long presigned
for n in 1 2 3; do
	make_csr "r$n" ec:P-256 "/CN=r$n.requester.test" "DNS:r$n.requester.test"
	ok "issue r$n through the admin API" C issue --csr "$WORK/r$n.csr" --profile tls-server --out "$WORK/r$n.pem"
done
expiring_current() { curl -s "$HTTP_URL/metrics" | grep -qx 'cairn_certificates_expiring_outdated 0'; }
ok "the expiring gauges are recomputed in the background after the issues" waits_for expiring_current
ok "  ... and the daemon goes quiet" quiet
# A write that changes no certificate (an admin added), between scrapes: a scrape does not
# walk the 30-day window ($(jq .expiring_30d "$WORK/seed.json") seeded certificates expire in it) for it.
# Background work (the refresher's sweep, in batches of 1,024, starved on a loaded machine)
# can only add to a count: up to 3 tries, each with another admin after the daemon is quiet
# again, and one clean try passes. A scrape that walked the window would show thousands in
# every try.
for t in 1 2 3; do
	[ "$t" -eq 1 ] || quiet
	a=$(walked)
	C admin add --name "scraper$t" --role auditor >/dev/null 2>&1
	b=$(walked)
	c=$(walked)
	[ $((b - a)) -lt 100 ] && [ $((c - b)) -lt 100 ] && break
done
ok "a scrape after a database write walks (almost) nothing ($((b - a)), then $((c - b)))" \
	test $((b - a)) -lt 100 -a $((c - b)) -lt 100
ok "  ... the expiring gauges carry the time they were computed" sh -c "
	curl -s '$HTTP_URL/metrics' | grep -Eq '^cairn_certificates_expiring_computed_timestamp_seconds [1-9][0-9]{9}'"

TOK=$(cat "$D/admin.token")
api() { curl -s --cacert "$D/ca/root.pem" -H "Authorization: Bearer $TOK" "$HTTPS_URL/admin/v1/certificates?$1"; }
R=$(api "serial=$(openssl x509 -in "$WORK/r1.pem" -noout -serial | cut -d= -f2)" | jq -r '.items[0].requester')
ok "the certificates issued have a requester ($R)" test -n "$R" -a "$R" != null
RQ=$(printf %s "$R" | jq -sRr @uri)
ok "requester=$R with count=true finds every certificate of it" sh -c "
	[ \$(curl -s --cacert '$D/ca/root.pem' -H 'Authorization: Bearer $TOK' \
	  '$HTTPS_URL/admin/v1/certificates?requester=$RQ&count=true&limit=1000' | jq .total) -ge 3 ]"
page_cost() { walk_cost api "$1"; cp "$WORK/walk_cost.out" "$WORK/rpage.json"; }
cost=$(page_cost "requester=$RQ&limit=2")
ok "a page of 2 of the requester's certificates among $N walks at most 3 entries (walked $cost)" \
	test "$cost" -le 3 -a "$cost" -ge 2
ok "  ... holds 2 rows of that requester and a next cursor" jq -e --arg r "$R" \
	'(.items | length) == 2 and ([.items[].requester] | all(. == $r)) and .more and (.next | type == "string")' \
	"$WORK/rpage.json"
NEXT=$(jq -r .next "$WORK/rpage.json")
cp "$WORK/rpage.json" "$WORK/rpage1.json"
cost=$(page_cost "requester=$RQ&limit=2&after=$NEXT")
ok "  ... the next page too, plus the entry it resumes at (walked $cost)" test "$cost" -le 4 -a "$cost" -ge 2
ok "  ... of that requester, none of the first page's rows again" sh -c "
	jq -e --arg r '$R' '(.items | length) >= 1 and ([.items[].requester] | all(. == \$r))' '$WORK/rpage.json' >/dev/null &&
	jq -r '.items[].serial' '$WORK/rpage1.json' '$WORK/rpage.json' | sort | uniq -d | wc -l | grep -qx 0"
ok "a cursor of another search is refused by a requester search" sh -c "
	c=\$(curl -s --cacert '$D/ca/root.pem' -H 'Authorization: Bearer $TOK' \
	  '$HTTPS_URL/admin/v1/certificates?expiring_within=30d&limit=5' | jq -r .next) &&
	curl -s --cacert '$D/ca/root.pem' -H 'Authorization: Bearer $TOK' \
	  \"$HTTPS_URL/admin/v1/certificates?requester=$RQ&limit=2&after=\$c\" | jq -e '.status == 400' >/dev/null"

ca_stop
done_testing
