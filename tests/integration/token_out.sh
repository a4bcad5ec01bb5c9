#!/bin/sh
# SPDX-License-Identifier: MIT
# The token drops off while nobody watches (a network HSM losing its link). The daemon's
# token.module is tests/tools/token_plug.so, SoftHSM2 behind a plug: while the file
# $WORK/out exists, opening a session and signing answer CKR_DEVICE_REMOVED. Meanwhile
# every channel's issuance is refused with 503, Retry-After and what the token said (the
# admin API, ACME finalize with the order left ready, EST), OCSP answers tryLater where it
# would sign, stored answers are still served, /healthz names the token (and the CRL it
# cannot sign) and the daemon keeps running; once the token is back everything works
# again without a restart, /healthz names the outage for five more minutes (libfaketime
# moves past them and the CRL's retry), a webhook is told, and the audit chain is intact.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"
. "$CAIRN_SRCDIR/tests/integration/acme_lib.sh"
. "$CAIRN_SRCDIR/tests/integration/est_lib.sh"
. "$CAIRN_SRCDIR/tests/integration/outage_lib.sh"

plugged_ca
export CAIRN_TEST_TOKEN_OUT="$WORK/out"
clock_file
clock_at 0 FAKETIME_DONT_FAKE_MONOTONIC=1

# ---- the token in ----
ok "/healthz ok with the token in" health
ok "  ... status ok" has '.status == "ok"'
ok "no signature failed" test "$(metric cairn_token_sign_failures_total)" -eq 0
outage_certs
outage_ready

# ---- the token out ----
touch "$WORK/out"
fails "the token out: cairn issue is refused" issue out1
cp "$WORK/out1.out" "$WORK/last.out"
last_has "  ... in one line saying what the token said (503)" \
	'refused \(HTTP 503\): the token did not sign the certificate: C_[A-Za-z]+: CKR_DEVICE_REMOVED'
last_one_line "  ... one line"
outage_refused tokenUnavailable "the token did not sign the certificate"
ok "  ... and what the token said" grep -q 'CKR_DEVICE_REMOVED' "$WORK/e1.body"
ok "OCSP still serves the stored answer (good)" sh -c "openssl ocsp \
	-issuer '$D/ca/issuing.pem' -cert '$WORK/kept.pem' -url '$HTTP_URL/ocsp' -CAfile '$ROOT' \
	-no_nonce 2>&1 | grep -q ': good'"
S_GONE=$(serial_of "$WORK/gone.pem")
ok "a revocation is recorded with the token out" "$CAIRN" revoke --dir "$D" "$S_GONE" \
	--reason keyCompromise
ok "OCSP for it: tryLater (it cannot be signed, and the stored good is not served)" sh -c "
	openssl ocsp -issuer '$D/ca/issuing.pem' -cert '$WORK/gone.pem' -url '$HTTP_URL/ocsp' \
	-CAfile '$ROOT' -no_nonce 2>&1 | grep -q 'trylater'"
ok "/healthz answers with the token out" health
ok "  ... names the token, still failing, with what it said" has 'any(.problems[];
	.what == "token" and .state == "sign_failing" and .still_failing == true and
	(.detail | test("CKR_DEVICE_REMOVED")))'
ok "  ... and the CRL it cannot sign" waits_for sh -c "curl -sf '$HTTP_URL/healthz' |
	jq -e 'any(.problems[]; .what == \"crl-issuing\" and .state == \"failing\")'"
next_scan
ok "  ... and the webhook is told (ca.expiring, token)" \
	waits "$WORK/ops.log" '^ok [^ ]+ ca\.expiring token ' 300
ok "signature failures are counted" test "$(metric cairn_token_sign_failures_total)" -gt 0
ok "  ... and the degraded gauge is set" test "$(metric cairn_health_degraded)" -eq 1
ok "the daemon still runs" kill -0 "$SERVE_PID"

# ---- the token back: no restart ----
rm -f "$WORK/out"
ok "the token back: issuance works" issue back
ok "  ... /healthz answers" health
ok "  ... the outage still said (for five minutes), no longer failing" has 'any(.problems[];
	.what == "token" and .still_failing == false)'
outage_over
outage_healed "$S_GONE"

# ---- out again, and back reset: it forgot the daemon's sessions, login and key copies ----
touch "$WORK/out.reset" "$WORK/out"
fails "the token out again: issuance is refused" issue out2
rm -f "$WORK/out"
ok "back after a reset: the first issuance works, no restart (the daemon logs in again)" \
	issue reset1
ok "  ... one new login" test "$(metric cairn_token_relogins_total)" -eq 1
ok "  ... OCSP answers for it (signed after the login)" waits_for sh -c "openssl ocsp \
	-issuer '$D/ca/issuing.pem' -cert '$WORK/reset1.pem' -url '$HTTP_URL/ocsp' -CAfile '$ROOT' \
	-no_nonce 2>&1 | grep -q ': good'"
S_KEPT=$(serial_of "$WORK/kept.pem")
ok "  ... a revocation" "$CAIRN" revoke --dir "$D" "$S_KEPT" --reason superseded
ok "  ... is in the CRL signed next" waits_for sh -c "curl -sf '$HTTP_URL/crl/issuing.crl' |
	openssl crl -inform DER -noout -text | grep -qi 'Serial Number: $S_KEPT'"
est_post e3 simpleenroll -u 'dev:device password'
ok "  ... EST enrolls: 200" status_is e3 200
ca_stop
ok "the audit chain is intact" "$CAIRN" audit verify --dir "$D"
done_testing
