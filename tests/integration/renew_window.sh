#!/bin/sh
# SPDX-License-Identifier: MIT
# A renewal of the OCSP signer records the new certificate, then switches the responders to
# it. Between the two, the new certificate is not yet the one in use: a revocation there
# found it retired, and the daemon then signed with a revoked signer (the next start too,
# when the switch failed). The window is milliseconds; the token plug holds it open: while
# $WORK/hold exists, the lookup of a key the daemon just generated waits in the token. The
# revocation must be refused while held, after a switch that completed, and after one that
# was given up (the token did not answer within token.timeout) and a restart. A rotation of
# the issuing CA has the same window (its write, then the new CA's key and OCSP and CRL,
# then current): its new CA is refused there too.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

plug_ca '.token.timeout = 60'
export CAIRN_TEST_TOKEN_HOLD_NEW="$WORK/hold" CAIRN_TEST_TOKEN_WAITING="$WORK/waiting"
ca_serve "$D" || bail "cairn serve did not start"
TOKEN=$(cat "$D/admin.token")

# api METHOD PATH [JSON]: the admin API; the body, then the HTTP status on the last line.
api() {
	curl -s -m 90 --cacert "$ROOT" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
		-X "$1" ${3:+-d "$3"} -w '\n%{http_code}\n' "$HTTPS_URL/admin/v1$2"
}
# signers: the serials of the ocsp-signer certificates.
signers() {
	api GET '/certificates?profile=ocsp-signer&limit=100' | sed '$d' |
		jq -r '.items[].serial'
}
# appears FILE: until FILE exists (bounded: 60 s).
appears() {
	i=0
	until [ -e "$1" ]; do
		i=$((i + 1))
		[ $i -lt 600 ] || return 1
		sleep 0.1
	done
}
# revoke_is STATUS SERIAL REGEX: a revocation of SERIAL answers STATUS, its body matches REGEX.
revoke_is() {
	api POST "/certificates/$2/revoke" '{"reason": "keyCompromise"}' >"$WORK/rv.out"
	tail -n 1 "$WORK/rv.out" | grep -qx "$1" && grep -Eq -- "$3" "$WORK/rv.out"
}
# renew_bg NAME: POST /ca/renew of the OCSP signer in the background; NAME.out gets the
# answer, NAME.done appears when it has come.
renew_bg() {
	sh -c 'curl -s -m 90 --cacert "$1" -H "Authorization: Bearer $2" -H "Content-Type: application/json" \
		-d "{\"what\": \"ocsp-signer\"}" -w "\n%{http_code}\n" "$3/admin/v1/ca/renew" >"$4.out"
		touch "$4.done"' x "$ROOT" "$TOKEN" "$HTTPS_URL" "$WORK/$1" &
	CAIRN_PIDS="$CAIRN_PIDS $!"
}
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f'; }
# ocsp_signed_by SERIAL: an OCSP answer about a leaf of the first issuing CA verifies and
# carries the signer certificate SERIAL.
make_csr leaf ec:P-256 "/CN=leaf.example.test" "DNS:leaf.example.test"
"$CAIRN" issue --dir "$D" --csr "$WORK/leaf.csr" --profile tls-server --out "$WORK/leaf.pem" \
	>"$WORK/leaf.out" 2>&1 || bail "issuance failed: $(cat "$WORK/leaf.out")"
ocsp_signed_by() {
	openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$WORK/leaf.pem" -url "$HTTP_URL/ocsp" \
		-CAfile "$ROOT" -no_nonce -resp_text >"$WORK/ocsp.txt" 2>&1 &&
		grep -q 'Response verify OK' "$WORK/ocsp.txt" && grep -q ': good' "$WORK/ocsp.txt" &&
		tr 'A-F' 'a-f' <"$WORK/ocsp.txt" | tr -d ':' | grep -A1 -i 'serial number' | tr -d ' \n' |
		grep -q "$1"
}

OLD=$(signers)
ok "one OCSP signer to start with" test -n "$OLD" -a "$(echo "$OLD" | wc -l)" -eq 1
ok "  ... its answers carry it" waits_for ocsp_signed_by "$OLD"

# ---- held between the record and the switch ----
touch "$WORK/hold"
renew_bg r1
ok "the renewal holds in the token after recording the new signer" appears "$WORK/waiting"
NEW=$(signers | grep -vx "$OLD")
ok "  ... the new signer is recorded" test -n "$NEW" -a "$(echo "$NEW" | wc -l)" -eq 1
ok "  ... the renewal has not answered yet" test ! -e "$WORK/r1.done"
ok "revoking the new signer meanwhile is refused (409, being put in use)" \
	revoke_is 409 "$NEW" 'being put in use by a renewal'
ok "  ... and the old one, still in use" revoke_is 409 "$OLD" 'profile ocsp-signer\), in use'
ok "  ... the renewal still holds" test ! -e "$WORK/r1.done"
rm -f "$WORK/hold"
ok "released, the renewal answers" appears "$WORK/r1.done"
ok "  ... 200, naming the new signer" sh -c "tail -n 1 '$WORK/r1.out' | grep -qx 200 &&
	grep -q '\"serial\": *\"$NEW\"' '$WORK/r1.out'"
ok "the new signer is in use: its revocation refused" revoke_is 409 "$NEW" 'profile ocsp-signer\), in use'
ok "OCSP answers carry the new signer" waits_for ocsp_signed_by "$NEW"
ok "the replaced one may be revoked now" revoke_is 200 "$OLD" '"profile": "ocsp-signer"'

# ---- a rotation of the issuing CA, held between its write and the switch ----
# The rotation records the new issuing CA (with DB_META issuers), then loads its key, sets
# up its OCSP and CRL and makes it current: until then the daemon did not know it, so
# it read as retired and an admin confirming revoked the CA every new certificate would
# be issued under.
rm -f "$WORK/waiting"
touch "$WORK/hold"
sh -c 'curl -s -m 90 --cacert "$1" -H "Authorization: Bearer $2" -H "Content-Type: application/json" \
	-d "{}" -w "\n%{http_code}\n" "$3/admin/v1/ca/rotate" >"$4.out"; touch "$4.done"' \
	x "$ROOT" "$TOKEN" "$HTTPS_URL" "$WORK/rot" &
CAIRN_PIDS="$CAIRN_PIDS $!"
ok "a rotation holds in the token after recording the new issuing CA" appears "$WORK/waiting"
ISS2=$(api GET '/certificates?profile=ca-issuing&limit=100' | sed '$d' | jq -r '.items[].serial' |
	grep -vx "$(serial_of "$D/ca/issuing.pem")")
ok "  ... the new issuing CA is recorded" test -n "$ISS2" -a "$(echo "$ISS2" | wc -l)" -eq 1
api POST "/certificates/$ISS2/revoke" '{"reason": "superseded", "confirm_issuing_ca": true}' >"$WORK/rv.out"
ok "revoking it meanwhile, confirmed, is refused (409: new certificates are issued under it)" \
	sh -c "tail -n 1 '$WORK/rv.out' | grep -qx 409 && grep -q 'new certificates are issued under it' '$WORK/rv.out'"
rm -f "$WORK/hold"
ok "released, the rotation answers" appears "$WORK/rot.done"
ok "  ... 200, issuing-2" sh -c "tail -n 1 '$WORK/rot.out' | grep -qx 200 &&
	grep -q '\"serial\": *\"$ISS2\"' '$WORK/rot.out'"
ok "a certificate issued now is under it" sh -c "
	'$CAIRN' issue --dir '$D' --csr '$WORK/leaf.csr' --profile tls-server --out '$WORK/leaf2.pem' &&
	openssl x509 -in '$WORK/leaf2.pem' -noout -issuer | grep -q ' 2\$'"

# ---- a switch given up: the token did not answer within token.timeout ----
ca_stop
jq '.token.timeout = 2' "$D/cairn.json" >"$WORK/c.json" && cp "$WORK/c.json" "$D/cairn.json" ||
	bail "cannot edit cairn.json"
ca_serve "$D" || bail "cairn serve did not start again"
rm -f "$WORK/waiting"
touch "$WORK/hold"
renew_bg r2
ok "a renewal whose new key does not answer is given up" appears "$WORK/r2.done"
ok "  ... 503" sh -c "tail -n 1 '$WORK/r2.out' | grep -qx 503"
ok "  ... after recording its signer" test -e "$WORK/waiting"
THIRD=$(signers | grep -vx "$OLD" | grep -vx "$NEW")
ok "  ... which is recorded" test -n "$THIRD" -a "$(echo "$THIRD" | wc -l)" -eq 1
ok "that signer's revocation is refused: the next start uses it" \
	revoke_is 409 "$THIRD" 'being put in use by a renewal'
rm -f "$WORK/hold"
ca_stop
ca_serve "$D" || bail "cairn serve did not start a third time"
ok "restarted, OCSP answers carry the signer recorded last" waits_for ocsp_signed_by "$THIRD"
ok "  ... in use: its revocation refused" revoke_is 409 "$THIRD" 'profile ocsp-signer\), in use'
ok "  ... the one before it may be revoked" revoke_is 200 "$NEW" '"status": "revoked"'
ok "the audit chain is intact" "$CAIRN" audit verify --dir "$D"

done_testing
