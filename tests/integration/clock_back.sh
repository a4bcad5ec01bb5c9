#!/bin/sh
# SPDX-License-Identifier: MIT
# A wall clock that goes back, under libfaketime: a machine that ran a day ahead (a wrong
# hardware clock at boot, a restored snapshot) and is stepped back by NTP. What the daemon
# signed meanwhile claims a time a day ahead — the cached OCSP answers' thisUpdate, the
# OCSP signer's and the HTTPS certificate's notBefore, the CRL's thisUpdate — and relying
# parties refuse it as not yet valid. Checked with relying parties on the stepped-back
# clock (openssl ocsp, s_client -verify_return_error, verify -crl_check):
# - restarted after the step: the cached answers from the future are re-signed at once
#   (the refresher sees the latest stored thisUpdate ahead of the clock), and the
#   answers served verify and are current; the CRL is rebuilt;
# - the clock stepped back under the running daemon: within seconds the HTTPS certificate
#   and the OCSP signer are renewed (audited with trigger "clock"), the CRL is rebuilt,
#   and every answer verifies; /healthz says ok; an expiring admin token and a console
#   session made ahead are refused; the audit checkpoint due a minute after the start
#   (two days ahead) comes a minute after the step;
# - a CA made while the clock ran ahead: /healthz and /metrics say its root and issuing
#   certificates are not valid yet (nothing can renew those), while the daemon renewed
#   its own HTTPS certificate and OCSP signer.
# The daemon's CLOCK_MONOTONIC is left alone (FAKETIME_DONT_FAKE_MONOTONIC), as a real step
# leaves it.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

[ -n "$FAKETIME_LIB" ] || bail "libfaketime is not installed (scripts/deps.sh installs faketime)"

D=$WORK/ca
ROOT=$D/ca/root.pem
ISSUING=$D/ca/issuing.pem
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"

clock_file
move() { clock_move "$1"; }
at() { clock_at "$1" FAKETIME_DONT_FAKE_MONOTONIC=1; }
fnow() { clock_now; }
DAY=86400

issue() {
	make_csr "$1" ec:P-256 "/CN=$1.example.test" "DNS:$1.example.test" &&
		$FT "$CAIRN" issue --dir "$D" --csr "$WORK/$1.csr" --profile tls-server \
			--out "$WORK/$1.chain" >/dev/null &&
		openssl x509 -in "$WORK/$1.chain" -out "$WORK/$1.pem" &&
		openssl x509 -in "$WORK/$1.pem" -noout -serial | cut -d= -f2 >"$WORK/$1.serial"
}
# ocsp_ok NAME: a nonce-less question for NAME (what the cache answers), checked on the
# test's clock: the answer and its signer verify, it says good, and its times are valid
# (openssl refuses a thisUpdate more than 5 minutes ahead: "Status times invalid").
ocsp_ok() {
	$FT openssl ocsp -issuer "$ISSUING" -serial "0x$(cat "$WORK/$1.serial")" -no_nonce \
		-url "$HTTP_URL/ocsp" -CAfile "$ROOT" -resp_text -respout "$WORK/$1.resp" \
		>"$WORK/$1.ocsp" 2>&1 &&
		grep -q "Response verify OK" "$WORK/$1.ocsp" &&
		grep -q ": good" "$WORK/$1.ocsp" &&
		! grep -Eqi "times invalid|not yet valid" "$WORK/$1.ocsp" ||
		{ cat "$WORK/$1.ocsp"; return 1; }
}
# https_ok: a new TLS connection's certificate verifies on the test's clock.
https_ok() {
	echo | $FT openssl s_client -connect "${HTTPS_URL#https://}" -CAfile "$ROOT" \
		-verify_return_error >"$WORK/s_client.out" 2>&1 ||
		{ grep -iE "verify|error" "$WORK/s_client.out" | head -3; return 1; }
}
# crl_ok: the served CRL of the issuing CA, used by openssl verify -crl_check for the
# early leaf on the test's clock (a CRL from the future is "CRL is not yet valid").
crl_ok() {
	curl -sf -o "$WORK/crl.der" "$HTTP_URL/crl/issuing.crl" &&
		openssl crl -inform der -in "$WORK/crl.der" -out "$WORK/crl.pem" &&
		cat "$ROOT" "$ISSUING" >"$WORK/chain.pem" &&
		$FT openssl verify -crl_check -CRLfile "$WORK/crl.pem" -CAfile "$WORK/chain.pem" \
			"$WORK/early.pem"
}
# api TOKENFILE PATH [JAR]: GET /admin/v1PATH with the token (or the jar's session
# cookie), on the test's clock; prints the status, the body in $WORK/api.out. The server's
# certificate is not checked here (https_ok does): only what the credential gets.
api() {
	if [ -n "${3:-}" ]; then
		$FT curl -s -k -b "$3" -o "$WORK/api.out" -w '%{http_code}' \
			"$HTTPS_URL/admin/v1$2"
	else
		$FT curl -s -k -o "$WORK/api.out" -w '%{http_code}' \
			-H "Authorization: Bearer $(cat "$1")" "$HTTPS_URL/admin/v1$2"
	fi
}
api_is() { [ "$(api "$2" "$3" "${4:-}")" = "$1" ] || { cat "$WORK/api.out"; echo; return 1; }; }
health_ok() { curl -sf "$HTTP_URL/healthz" | grep -q '"status":"ok"'; }
metric() { curl -sf "$HTTP_URL/metrics" | sed -n "s/^$1 //p"; }
hits() { metric 'cairn_ocsp_responses_total{source="cache"}'; }
# cached NAME: asked twice, the second answer from the cache, the same bytes, and good.
cached() {
	ocsp_ok "$1" && cp "$WORK/$1.resp" "$WORK/$1.first" && h=$(hits) && ocsp_ok "$1" &&
		cmp -s "$WORK/$1.first" "$WORK/$1.resp" && [ "$(hits)" -gt "$h" ]
}

# ---- a day ahead, then restarted on the right clock ----
at 0
issue early || bail "issuance failed"
ok "day 0: the early leaf's answer" ocsp_ok early
ok "  ... the CRL" crl_ok
# Its timed waits are on CLOCK_MONOTONIC, which libfaketime leaves alone here; its timed
# wait then returns at once, and the daemon's waiting threads spun a CPU whole
# (time_mono_wait naps instead).
ok "  ... idle, the daemon does not spin (a second under half a CPU)" waits_for calm
at $DAY
issue ahead || bail "issuance failed"
ok "a day ahead: the new leaf's answer (pre-signed a day ahead)" waits_for cached ahead
ok "  ... the CRL, built a day ahead" crl_ok

# the log of this start only
: >"$D.serve.log"
at 0
ok "stepped back a day, restarted: the refresher finds stored answers ahead of the clock" \
	waits "$D.serve.log" "ahead of the clock .*re-signing"
ok "  ... and re-signs them" waits "$D.serve.log" "pre-signed [0-9]+ responses"
live=$(metric 'cairn_ocsp_responses_total{source="signed"}')
h=$(hits)
ok "  ... the leaf's answer verifies and is current" ocsp_ok ahead
ok "  ... from the cache, not signed for the question" \
	test "$(hits)" -gt "$h" -a "$(metric 'cairn_ocsp_responses_total{source="signed"}')" = "$live"
tu=$(date -d "$(sed -n 's/^ *This Update: *//p' "$WORK/ahead.ocsp" | head -1)" +%s)
ok "  ... its thisUpdate is not ahead of the clock ($tu, now $(fnow))" \
	test "$tu" -le $(($(fnow) + 5))
ok "  ... the CRL is no longer from the future" crl_ok
ok "  ... the early leaf's answer" ocsp_ok early
ok "  ... /healthz ok" health_ok

# ---- the clock stepped back under the running daemon ----
# (audit checkpoints every minute: the one due a minute after the start, two days ahead,
# must come a minute after the step instead)
jq '.audit.checkpoint_interval = "60s"' "$D/cairn.json" >"$WORK/cp.json" &&
	cp "$WORK/cp.json" "$D/cairn.json" || bail "cannot edit cairn.json"
at $((2 * DAY))
ok "two days ahead: cairn ca renew --ocsp-signer" "$CAIRN" ca renew --ocsp-signer --dir "$D"
ok "  ... cairn ca renew --https" "$CAIRN" ca renew --https --dir "$D"
issue ahead2 || bail "issuance failed"
ok "  ... an approver with a token for an hour" sh -c "$FT '$CAIRN' admin add --dir '$D' \
	--name alice --role approver && $FT '$CAIRN' token create --dir '$D' --name alice \
	--role approver --expires-in 1h >'$WORK/alice.tok'"
ok "  ... the token works" api_is 200 "$WORK/alice.tok" /requests
ok "  ... a console session made with it" sh -c "[ \$($FT curl -s --cacert '$ROOT' \
	-H \"Authorization: Bearer \$(cat '$WORK/alice.tok')\" -c '$WORK/alice.jar' \
	-o /dev/null -w '%{http_code}' -X POST '$HTTPS_URL/admin/v1/session') = 201 ]"
ok "  ... works" api_is 200 - /requests "$WORK/alice.jar"
ok "  ... the new signer's answers verify on that clock" waits_for ocsp_ok ahead2
ok "  ... and the new HTTPS certificate" https_ok
ok "  ... and the CRL" crl_ok
move 0
# the renewals come at the daemon's next look at the clock (every 10 s)
WAITS_FOR_TENTHS=400
ok "stepped back two days, no restart: the HTTPS certificate verifies (renewed)" \
	waits_for https_ok
ok "  ... the one-hour token made two days from now is refused (401)" \
	api_is 401 "$WORK/alice.tok" /requests
ok "  ... saying the clock went back" grep -q "clock went back" "$WORK/api.out"
ok "  ... the console session made two days from now is over (401)" \
	api_is 401 - /requests "$WORK/alice.jar"
ok "  ... the bootstrap admin's token (it never expires) still works" \
	api_is 200 "$D/admin.token" /requests
ok "  ... answers verify: the OCSP signer was renewed" waits_for ocsp_ok ahead2
ok "  ... the early leaf's answer" waits_for ocsp_ok early
ok "  ... the CRL is rebuilt" waits_for crl_ok
ok "  ... /healthz ok" waits_for health_ok
WAITS_FOR_TENTHS=150
ok "  ... both renewals are audited, trigger \"clock\"" \
	"$CAIRN" audit export --dir "$D" --format jsonl --unsigned
n=$(grep -c '"actor":"server:renew","action":"ca.renew".*"trigger":"clock"' "$WORK/last.out")
ok "  ... two of them ($n)" test "$n" -eq 2
ok "  ... the log says why" waits "$D.serve.log" "https is not valid until .*clock went back"
# checkpoints: those signed so far; then the clock a minute on (no restart)
checkpoints() {
	"$CAIRN" audit export --dir "$D" --format jsonl --unsigned |
		grep -c '"actor":"server:checkpoint"'
}
more_checkpoints() { [ "$(checkpoints)" -gt "$cps" ]; }
cps=$(checkpoints)
move 61
WAITS_FOR_TENTHS=300
ok "a minute after the step: the next audit checkpoint is signed (not two days later)" \
	waits_for more_checkpoints
WAITS_FOR_TENTHS=150
ca_stop
SERVE_PID=

# ---- a CA made while the clock ran ahead ----
D=$WORK/ahead
ROOT=$D/ca/root.pem
ISSUING=$D/ca/issuing.pem
move $DAY
$FT "$CAIRN" init --dir "$D" --listen-https 127.0.0.1:0 --listen-http 127.0.0.1:0 \
	--public-http "$INIT_URL" >"$D.init.out" 2>&1 && set_public_http "$D" "" ||
	bail "cairn init a day ahead failed: $(cat "$D.init.out")"
at 0
ok "a CA made a day ahead: /healthz is degraded" \
	sh -c "curl -s '$HTTP_URL/healthz' >'$WORK/health.json'; grep -q '\"status\":\"degraded\"' '$WORK/health.json'"
for what in root issuing; do
	ok "  ... $what: not_yet_valid" \
		jq -e --arg w "$what" '.problems | any(.what == $w and .state == "not_yet_valid")' \
		"$WORK/health.json"
done
ok "  ... not the HTTPS certificate nor the OCSP signer: renewed at start" \
	jq -e '[.problems[] | select(.what == "https" or .what == "ocsp-signer")] | length == 0' \
	"$WORK/health.json"
ok "  ... cairn_health_degraded 1" test "$(metric cairn_health_degraded)" = 1

ca_stop
done_testing
