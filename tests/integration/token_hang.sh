#!/bin/sh
# SPDX-License-Identifier: MIT
# The token stops answering while nobody watches: a network HSM whose link died without a
# reset, whose calls neither answer nor fail. token.module is tests/tools/token_plug.so,
# SoftHSM2 behind a plug: while the file $WORK/hang exists every call to it waits. With
# token.timeout 3 s, what asks for a signature is refused within it (503 and what
# happened), more issuances at once than the HTTPS listener has workers leave it
# answering (a revocation is recorded meanwhile, /healthz answers), OCSP answers tryLater
# where it would sign and serves its stored answers, /healthz and /metrics say the token
# does not answer, signatures are then refused at once, and a webhook is told. Once the
# token answers again everything works without a restart; a daemon stopped while the token
# hangs exits, and its audit chain is intact. The OCSP signer falling due while it hangs:
# the renewal's key generation is given up within the timeout too, /healthz says the
# renewal fails, and a later try renews it; a start while it hangs fails within the
# timeout. Before token.timeout,
# the first four issuances held every HTTPS worker for as long as the token hung.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"
. "$CAIRN_SRCDIR/tests/integration/acme_lib.sh"
. "$CAIRN_SRCDIR/tests/integration/est_lib.sh"
. "$CAIRN_SRCDIR/tests/integration/outage_lib.sh"

plugged_ca '.token.timeout = 3'
export CAIRN_TEST_TOKEN_HANG="$WORK/hang"
clock_file
clock_at 0

# issue_bg NAME: `cairn issue` of NAME in the background; $WORK/NAME.done gets its exit
# code and the milliseconds it took once it returns.
issue_bg() {
	make_csr "$1" ec:P-256 "/CN=$1.example.test" "DNS:$1.example.test"
	sh -c 't0=$(date +%s%N); "$1" issue --dir "$2" --csr "$3.csr" --profile tls-server \
		--out "$3.pem" >"$3.out" 2>&1; rc=$?
		echo "$rc $((($(date +%s%N) - t0) / 1000000))" >"$3.done"' \
		x "$CAIRN" "$D" "$WORK/$1" &
	CAIRN_PIDS="$CAIRN_PIDS $!"
}
# refused_within NAME MS: NAME's issuance returned, refused, within MS milliseconds,
# saying the token did not answer.
refused_within() {
	read -r rc ms <"$WORK/$1.done" && [ "$rc" -ne 0 ] && [ "$ms" -lt "$2" ] &&
		grep -Eq 'HTTP 503.*(no answer from the token|token has not answered)' "$WORK/$1.out"
}
ocsp_of() {
	openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$WORK/$1.pem" -url "$HTTP_URL/ocsp" \
		-CAfile "$ROOT" -no_nonce -timeout 10 2>&1
}
# ocsp_bg NAME N: an OCSP request about NAME's certificate in the background, its answer
# in $WORK/ocspN.out, then $WORK/ocspN.done.
ocsp_bg() {
	sh -c 'openssl ocsp -issuer "$1" -cert "$2" -url "$3/ocsp" -CAfile "$4" -no_nonce \
		-timeout 10 >"$5.out" 2>&1; echo $? >"$5.done"' x "$D/ca/issuing.pem" \
		"$WORK/$1.pem" "$HTTP_URL" "$ROOT" "$WORK/ocsp$2" &
	CAIRN_PIDS="$CAIRN_PIDS $!"
}
all_done() {
	for f in "$@"; do [ -f "$WORK/$f.done" ] || return 1; done
}
stuck() { test "$(metric cairn_token_calls_stuck)" -ge 1; }

# ---- the token answers ----
ok "/healthz ok with the token answering" health
ok "  ... status ok" has '.status == "ok"'
ok "a signature is waited for 3 s (token.timeout)" test "$(metric cairn_token_timeout_seconds)" -eq 3
ok "no call stuck in the token" test "$(metric cairn_token_calls_stuck)" -eq 0
ok "  ... none given up" test "$(metric cairn_token_timeouts_total)" -eq 0
outage_certs
outage_ready

# ---- the token hangs: six issuances at once, more than server.threads (4) ----
touch "$WORK/hang"
for i in 1 2 3 4 5 6; do issue_bg "h$i"; done
S_GONE=$(serial_of "$WORK/gone.pem")
ok "a revocation over the admin API is recorded while they wait" "$CAIRN" revoke \
	--dir "$D" "$S_GONE" --reason keyCompromise
ok "/healthz over HTTPS answers meanwhile" curl -sf -m 10 --cacert "$ROOT" \
	"$HTTPS_URL/healthz"
WAITS_FOR_TENTHS=300
ok "the six issuances all come back" waits_for all_done h1 h2 h3 h4 h5 h6
for i in 1 2 3 4 5 6; do
	# at most: a worker's wait (3 s) for the one before it, then its own
	ok "  ... h$i: refused (503) within 10 s, saying the token did not answer" \
		refused_within "h$i" 10000
done
WAITS_FOR_TENTHS=150
for i in 1 2 3 4; do ocsp_bg gone "$i"; done
ok "four OCSP questions about the revoked certificate (it needs a signature) come back" \
	waits_for all_done ocsp1 ocsp2 ocsp3 ocsp4
ok "  ... each with tryLater, never its stored good" sh -c "grep -l 'trylater' \
	'$WORK'/ocsp[1-4].out | wc -l | grep -qx 4"
ok "OCSP still serves the stored answer (good)" sh -c "openssl ocsp \
	-issuer '$D/ca/issuing.pem' -cert '$WORK/kept.pem' -url '$HTTP_URL/ocsp' -CAfile '$ROOT' \
	-no_nonce -timeout 10 2>&1 | grep -q ': good'"
ok "a call has been in the token longer than token.timeout (cairn_token_calls_stuck)" \
	waits_for stuck
ok "/healthz says the token does not answer" health
ok "  ... not_answering, how many calls, since when and what it means" has 'any(.problems[];
	.what == "token" and .state == "not_answering" and .calls >= 1 and (.at | length) > 0
	and (.detail | test("without an answer; calls are given up after 3 s")))'
AT=$(jq -r '.problems[] | select(.state == "not_answering") | .at' "$WORK/health.json")
sleep 1.1
ok "  ... since the same time a second later (notify sends it once)" sh -c "curl -sf \
	'$HTTP_URL/healthz' | jq -e --arg at '$AT' 'any(.problems[];
	.state == \"not_answering\" and .at == \$at)'"
ok "  ... and the refusals as failed signatures (sign_failing)" has 'any(.problems[];
	.what == "token" and .state == "sign_failing" and
	(.detail | test("no answer from the token|token has not answered")))'
ok "signatures given up are counted" test "$(metric cairn_token_timeouts_total)" -ge 6
ok "  ... and the degraded gauge is set" test "$(metric cairn_health_degraded)" -eq 1
# While it does not answer, signatures are refused at once; one each 3 s still goes to the
# token to see whether it is back (that one waits), so one of three may be it.
fast=0
for i in 1 2 3; do
	issue_bg "f$i"
	waits_for all_done "f$i" >/dev/null 2>&1
	grep -q 'token has not answered for' "$WORK/f$i.out" && refused_within "f$i" 3000 &&
		fast=$i && break
done
ok "while it does not answer, an issuance is refused at once (under 3 s)" test "$fast" -ge 1
cp "$WORK/f$fast.out" "$WORK/last.out"
last_has "  ... saying for how long it has not answered" \
	'refused \(HTTP 503\): the token did not sign the certificate: the token has not answered for [0-9]+ s'
outage_refused tokenUnavailable "the token did not sign the certificate"
next_scan
ok "  ... and the webhook is told (ca.expiring, token)" \
	waits "$WORK/ops.log" '^ok [^ ]+ ca\.expiring token ' 300
ok "the daemon still runs" kill -0 "$SERVE_PID"

# ---- the token answers again: no restart ----
rm -f "$WORK/hang"
ok "the token back: issuance works" issue back
ok "  ... no call stuck" waits_for sh -c "test \"\$(curl -sf '$HTTP_URL/metrics' |
	sed -n 's/^cairn_token_calls_stuck //p')\" -eq 0"
ok "  ... /healthz answers" health
ok "  ... no longer not_answering" has '[.problems[] | select(.state == "not_answering")] == []'
ok "  ... the outage still said (for five minutes), no longer failing" has 'any(.problems[];
	.what == "token" and .state == "sign_failing" and .still_failing == false)'
outage_over
outage_healed "$S_GONE"

# ---- it hangs again, and the daemon is stopped meanwhile ----
touch "$WORK/hang"
issue_bg s1
ok "a signature waits in the token" waits_for stuck
kill -TERM "$SERVE_PID"
# gone, or a zombie (it is our child: wait reaps it below)
exited() { [ ! -e "/proc/$1" ] || awk '{ exit $3 != "Z" }' "/proc/$1/stat"; }
# stopped: reaps the daemon, killed first if it did not exit (the test goes on)
stopped() {
	exited "$SERVE_PID" || kill -KILL "$SERVE_PID"
	wait "$SERVE_PID" 2>/dev/null
}
WAITS_FOR_TENTHS=200
ok "a daemon stopped while the token hangs exits within 20 s" waits_for exited "$SERVE_PID"
WAITS_FOR_TENTHS=150
stopped
ok "  ... the issuance it was given comes back" waits_for all_done s1
rm -f "$WORK/hang"
ok "the audit chain is intact" "$CAIRN" audit verify --dir "$D"
jq 'del(.token.timeout)' "$D/cairn.json" >"$WORK/c2.json" && cp "$WORK/c2.json" "$D/cairn.json"
clock_at 301
ok "restarted without token.timeout: a signature is waited for 10 s (a module not SoftHSM2's)" \
	test "$(metric cairn_token_timeout_seconds)" -eq 10
ok "  ... the daemon issues" issue after
ok "  ... /healthz ok" health
ok "  ... nothing stuck" has '[.problems[]? | select(.state == "not_answering")] == []'
jq 'del(.token.timeout) | .token.module = "/usr/lib/softhsm/libsofthsm2.so"' "$WORK/cairn.json" \
	>"$D/cairn.json"
clock_at 301
ok "SoftHSM2's module itself: no bound (it runs in the daemon's process)" \
	test "$(metric cairn_token_timeout_seconds)" -eq 0
ok "  ... the start says so" grep -q 'token: no bound on a signature' "$D.serve.log"
ok "  ... the daemon issues" issue direct

# ---- nobody watching: the OCSP signer falls due while the token hangs ----
# Its renewal generates a key in the token. Before it was bounded, the renewal thread
# waited in C_GenerateKeyPair holding the renewal lock: an admin's renewal held its HTTPS
# worker as long, /healthz said ok, and a stop waited for the token. A renewal that
# failed was only logged: /healthz said so 30 days before the signer's end.
cp "$WORK/cairn.json" "$D/cairn.json" # the plug again, token.timeout 3
clock_at 301
ok "the plug again: the daemon issues" issue plug
SIGNER=$(jq -r '.ca.ocsp_cert' "$D/cairn.json")
case $SIGNER in /*) ;; *) SIGNER=$D/$SIGNER ;; esac
OLD_SIGNER=$(serial_of "$SIGNER")
nb=$(date -d "$(openssl x509 -in "$SIGNER" -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(openssl x509 -in "$SIGNER" -noout -enddate | cut -d= -f2)" +%s)
touch "$WORK/hang"
# two thirds of its lifetime, and a minute: the renewal thread looks every 10 s
clock_move $((nb + (na - nb) * 2 / 3 + 60 - $(date +%s)))
WAITS_FOR_TENTHS=300
ok "the signer due, the renewal thread gives up its new key within 3 s" waits "$D.serve.log" \
	'renewing ocsp-signer failed, retried in 600 s: keygen \\"ocsp-[0-9a-f]+\\": no answer from the token within 3 s' 300
WAITS_FOR_TENTHS=150
ok "/healthz says the token does not answer" health
ok "  ... not_answering: the key generation is the call in it" has 'any(.problems[];
	.state == "not_answering" and .calls >= 1)'
ok "  ... and that the signer's renewal fails, why, and that it is retried" has 'any(.problems[];
	.what == "ocsp-signer" and .state == "renew_failing" and .still_failing == true and
	(.detail | test("^keygen \"ocsp-[0-9a-f]+\": no answer from the token within 3 s \\(retried every 10 minutes\\)$")))'
ok "  ... cairn_cert_renewal_failing says so" test \
	"$(metric 'cairn_cert_renewal_failing{cert="ocsp-signer"}')" -eq 1
ok "  ... counted" test "$(metric 'cairn_cert_renewal_failures_total{cert="ocsp-signer"}')" -ge 1
next_scan
ok "  ... the webhook is told (ca.expiring, ocsp-signer)" \
	waits "$WORK/ops.log" '^ok [^ ]+ ca\.expiring ocsp-signer ' 300
renew_api() {
	curl -s -m 20 --cacert "$ROOT" -H "Authorization: Bearer $(cat "$D/admin.token")" \
		-H 'Content-Type: application/json' --data-binary '{"what": "ocsp-signer"}' \
		-D "$WORK/$1.hdr" -o "$WORK/$1.body" -w '%{time_total}' "$HTTPS_URL/admin/v1/ca/renew" \
		>"$WORK/$1.time"
}
renew_api r1
ok "an admin's renewal meanwhile: 503" grep -q '^HTTP/[0-9.]* 503' "$WORK/r1.hdr"
ok "  ... with Retry-After" grep -qi '^Retry-After: [0-9]' "$WORK/r1.hdr"
ok "  ... tokenUnavailable, saying the token did not answer" jq -e '.type ==
	"urn:cairn:problem:tokenUnavailable" and (.detail | test("^keygen \"ocsp-[0-9a-f]+\": (no answer from the token within 3 s|the token has not answered for [0-9]+ s)$"))' \
	"$WORK/r1.body"
ok "  ... within 10 s" awk '{ exit !($1 < 10) }' "$WORK/r1.time"
curl -s -m 20 --cacert "$ROOT" -H "Authorization: Bearer $(cat "$D/admin.token")" \
	-H 'Content-Type: application/json' --data-binary '{}' -D "$WORK/rot.hdr" \
	-o "$WORK/rot.body" "$HTTPS_URL/admin/v1/ca/rotate"
ok "a rotation meanwhile: 503 tokenUnavailable (not 409 \"no root key\")" jq -e '.status == 503
	and .type == "urn:cairn:problem:tokenUnavailable" and (.detail |
	test("^key \"[^\"]+\": (no answer from the token within 3 s|the token has not answered for [0-9]+ s)$"))' \
	"$WORK/rot.body"
ok "/healthz over HTTPS answers meanwhile" curl -sf -m 10 --cacert "$ROOT" "$HTTPS_URL/healthz"

# ---- the token back: the next try, ten minutes on, renews it without a restart ----
rm -f "$WORK/hang"
ok "the token back: nothing stuck" waits_for sh -c "test \"\$(curl -sf '$HTTP_URL/metrics' |
	sed -n 's/^cairn_token_calls_stuck //p')\" -eq 0"
ok "  ... the signer still fails to renew until its next try" test \
	"$(metric 'cairn_cert_renewal_failing{cert="ocsp-signer"}')" -eq 1
clock_move $((OFF + 601))
WAITS_FOR_TENTHS=300
ok "ten minutes on, the renewal thread renews the signer" waits "$D.serve.log" \
	'"ocsp-signer renewed \(schedule, by server:renew\)' 300
WAITS_FOR_TENTHS=150
ok "  ... cairn_cert_renewal_failing is 0" test \
	"$(metric 'cairn_cert_renewal_failing{cert="ocsp-signer"}')" -eq 0
ok "  ... /healthz no longer names it" sh -c "curl -sf '$HTTP_URL/healthz' |
	jq -e '[.problems[]? | select(.state == \"renew_failing\")] == []'"
ok "  ... ca.ocsp_cert is the new signer" test "$(serial_of "$SIGNER")" != "$OLD_SIGNER"
openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$WORK/plug.pem" -url "$HTTP_URL/ocsp" \
	-CAfile "$ROOT" -no_nonce -respout "$WORK/resp.der" >"$WORK/resp.out" 2>&1
ok "  ... OCSP answers, signed by it" python3 -c '
import sys
from cryptography import x509
from cryptography.x509 import ocsp
r = ocsp.load_der_ocsp_response(open(sys.argv[1], "rb").read())
s = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
sys.exit(not (r.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL and
              r.certificates[0].serial_number == s.serial_number))' "$WORK/resp.der" "$SIGNER"

# ---- it hangs during an admin's renewal, and the daemon is stopped meanwhile ----
touch "$WORK/hang"
sh -c 'curl -s -m 20 --cacert "$1" -H "Authorization: Bearer $(cat "$2/admin.token")" \
	-H "Content-Type: application/json" --data-binary "{\"what\": \"ocsp-signer\"}" \
	"$3/admin/v1/ca/renew" >/dev/null 2>&1' x "$ROOT" "$D" "$HTTPS_URL" &
CAIRN_PIDS="$CAIRN_PIDS $!"
ok "the renewal's key generation waits in the token" waits_for stuck
kill -TERM "$SERVE_PID"
WAITS_FOR_TENTHS=200
ok "a daemon stopped during the renewal exits within 20 s" waits_for exited "$SERVE_PID"
stopped
rm -f "$WORK/hang"
ok "  ... its audit chain is intact" "$CAIRN" audit verify --dir "$D"

# ---- a start while the token hangs: refused within token.timeout, in one line ----
# Before, the start waited in the login for as long as the token hung (systemd's start
# timeout ended it, with nothing said but the last log line).
touch "$WORK/hang"
t0=$(date +%s%N)
timeout -k 5 30 "$CAIRN" serve --dir "$D" >"$WORK/start.out" 2>&1
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
ok "a start while the token hangs fails (exit 1), not waits ($ms ms)" test "$rc" -eq 1
ok "  ... within 10 s" test "$ms" -lt 10000
ok "  ... saying which token did not answer, and for how long" grep -Eq \
	'^cairn serve: opening token "[^"]+" with [^ ]+token_plug\.so: no answer from the token within 3 s$' \
	"$WORK/start.out"
rm -f "$WORK/hang"
ca_serve "$D" || bail "serve after the token came back failed: $(tail -5 "$D.serve.log")"
ok "the token back, the daemon starts and issues" issue started
done_testing
