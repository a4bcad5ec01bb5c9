#!/bin/sh
# SPDX-License-Identifier: MIT
# /healthz and /metrics tell when the daemon's own material is expiring or expired:
# checked across the clock under libfaketime, with restarts in between. The issuing CA
# lives 90 days here, so the OCSP signer and HTTPS certificate cannot be renewed past it
# (renewal would not extend them): they expire with it, and /healthz says so.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

D=$WORK/ca
ca_init "$D" --issuing-days 90 || bail "cairn init failed: $(cat "$D.init.out")"
ocsp_na=$(date -d "$(openssl x509 -in "$D/ca/ocsp.pem" -noout -enddate | cut -d= -f2)" +%s)

# serve_at OFFSET: (re)starts the daemon with the clock moved by OFFSET (libfaketime).
serve_at() {
	[ -n "${SERVE_PID:-}" ] && ca_stop
	ca_serve_at "$D" FAKETIME="$1" || bail "serve at $1 failed"
}
health() { curl -sf "$HTTP_URL/healthz" >"$WORK/last.out"; }
metrics() { curl -sf "$HTTP_URL/metrics" >"$WORK/last.out"; }

serve_at "+0d"
ok "day 0: /healthz answers" health
last_has "day 0: status ok" '"status":"ok"'
ok "day 0: /metrics answers" metrics
last_has "the OCSP signer's notAfter is a gauge" \
	"^cairn_cert_not_after_timestamp_seconds\\{cert=\"ocsp-signer\"\\} $ocsp_na\$"
last_has "the issuing CA's notAfter is a CA gauge" 'cairn_ca_not_after_timestamp_seconds\{ca="issuing"\} [0-9]+'
last_has "the root CA's notAfter is a CA gauge" 'cairn_ca_not_after_timestamp_seconds\{ca="root"\} [0-9]+'
last_has "the HTTPS certificate's notAfter is a gauge" 'cairn_cert_not_after_timestamp_seconds\{cert="https"\}'
last_has "the CRL's nextUpdate is a gauge" 'cairn_crl_next_update_timestamp_seconds\{issuer="issuing"\} [0-9]+'
last_has "not degraded" '^cairn_health_degraded 0$'
fails "a CA is a row of one family only" grep -q 'cert="issuing"' "$WORK/last.out"

serve_at "+70d"
ok "day 70: /healthz answers" health
last_has "day 70: degraded" '"status":"degraded"'
last_has "day 70: the issuing CA is expiring" '\{"at":"[^"]*","state":"expiring","what":"issuing"\}'
last_has "day 70: the OCSP signer is expiring (not renewable past the CA)" '\{"at":"[^"]*","state":"expiring","what":"ocsp-signer"\}'
ok "day 70: /metrics answers" metrics
last_has "day 70: the degraded gauge is set" '^cairn_health_degraded 1$'
ok "day 70: the signer was not renewed in vain" test "$(openssl x509 -in "$D/ca/ocsp.pem" -noout -enddate | cut -d= -f2 | xargs -I{} date -d {} +%s)" = "$ocsp_na"

serve_at "+100d"
ok "day 100: /healthz answers" health
last_has "day 100: the OCSP signer has expired" '"state":"expired","what":"ocsp-signer"'
ok "day 100: the CRL is fresh (nothing stale)" sh -c "! grep -q crl- '$WORK/last.out'"

serve_at "+0d"
ok "back to day 0 after the restarts: ok again" health
last_has "status ok" '"status":"ok"'
done_testing
