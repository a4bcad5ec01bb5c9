#!/bin/sh
# SPDX-License-Identifier: MIT
# Revocation through the admin API and `cairn revoke`: one serial, problems, invalidity dates, holds, bulk by file and by key, audit.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
ca_serve "$D" || bail "cairn serve did not start"
ROOT=$D/ca/root.pem
TOKEN=$(cat "$D/admin.token")

# issue NAME [KEYNAME]: a tls-server certificate; KEYNAME reuses $WORK/KEYNAME.key.
issue() {
	if [ -n "${2:-}" ]; then
		openssl req -new -key "$WORK/$2.key" -out "$WORK/$1.csr" -subj "/CN=$1.example.test" \
			-addext "subjectAltName=DNS:$1.example.test" 2>/dev/null
	else
		make_csr "$1" ec:P-256 "/CN=$1.example.test" "DNS:$1.example.test"
	fi && "$CAIRN" issue --dir "$D" --csr "$WORK/$1.csr" --profile tls-server --out "$WORK/$1.chain" &&
		openssl x509 -in "$WORK/$1.chain" -out "$WORK/$1.pem"
}
serial_of() { openssl x509 -in "$WORK/$1.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f'; }
status_of() { "$CAIRN" show --dir "$D" "$(serial_of "$1")"; }
# api PATH JSON: POST to the admin API; prints the body, then the HTTP status on the last line.
api() {
	curl -s --cacert "$ROOT" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
		-d "$2" -w '\n%{http_code}\n' "$HTTPS_URL/admin/v1$1"
}

for n in a b c d e f h; do
	issue $n >"$WORK/issue.out" 2>&1 || bail "issuance failed: $(cat "$WORK/issue.out")"
done
issue g1 a >"$WORK/issue.out" 2>&1 || bail "issuance failed: $(cat "$WORK/issue.out")"
issue g2 a >"$WORK/issue.out" 2>&1 || bail "issuance failed: $(cat "$WORK/issue.out")"

ok "API: revoke by serial" api "/certificates/$(serial_of a)/revoke" '{"reason": "keyCompromise"}'
last_has "  ... 200" "^200$"
last_has "  ... status revoked" '"status": "revoked"'
last_has "  ... what it was: its profile" '"profile": "tls-server"'
last_has "  ... and issuer" '"issuer": "issuing"'
ok "  ... the certificate shows as revoked" status_of a
last_has "  ... revoked" "revoked"
ok "API: revoking twice" api "/certificates/$(serial_of a)/revoke" '{"reason": "keyCompromise"}'
last_has "  ... is 409" "^409$"
last_has "  ... problem says already revoked" "already revoked"
ok "API: unknown serial" api "/certificates/0123456789abcdef/revoke" '{"reason": "superseded"}'
last_has "  ... is 404" "^404$"
last_has "  ... as a problem document" '"type": "urn:cairn:problem:notFound"'
ok "API: bad reason" api "/certificates/$(serial_of b)/revoke" '{"reason": "becauseISaidSo"}'
last_has "  ... is 400" "^400$"
last_has "  ... names the reason" "becauseISaidSo"
ok "API: bad invalidity date" api "/certificates/$(serial_of b)/revoke" '{"reason": "superseded", "invalidity_date": "yesterday"}'
last_has "  ... is 400" "^400$"
# RFC 5280 §5.3.2: the invalidity date says when the key was known or suspected to be
# compromised, so it is never later than now: refused on every path, nothing revoked.
soon=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
ok "API: an invalidity date an hour ahead" api "/certificates/$(serial_of h)/revoke" \
	"{\"reason\": \"keyCompromise\", \"invalidity_date\": \"$soon\"}"
last_has "  ... is 400" "^400$"
last_has "  ... a malformed problem" '"type": "urn:cairn:problem:malformed"'
last_has "  ... saying why" "invalidity date $soon is later than now"
ok "API: the same in POST /revocations" api /revocations \
	"{\"serials\": [\"$(serial_of h)\"], \"reason\": \"keyCompromise\", \"invalidity_date\": \"$soon\"}"
last_has "  ... is 400 for the whole call" "^400$"
last_has "  ... saying why" "is later than now"
fails "CLI: --invalidity-date 9999-12-31T23:59:59Z is refused" "$CAIRN" revoke --dir "$D" \
	"$(serial_of h)" --reason keyCompromise --invalidity-date 9999-12-31T23:59:59Z
last_has "  ... saying why" "invalidity date 9999-12-31T23:59:59Z is later than now"
last_one_line "  ... in one line"
ok "  ... the certificate is still valid" status_of h
last_has "  ... valid" '^status: +valid'
ok "CLI: a past invalidity date is taken" "$CAIRN" revoke --dir "$D" "$(serial_of h)" \
	--reason keyCompromise --invalidity-date 2026-01-02T03:04:05Z
ok "  ... the certificate is revoked" status_of h
last_has "  ... revoked" '^status: +revoked'
ok "  ... its audit event carries the date" sh -c "'$CAIRN' audit export --dir '$D' --format jsonl |
	grep '$(serial_of h)' | grep -q '\"invalidity_date\":\"2026-01-02T03:04:05Z\"'"
ok "API: unknown field" api "/certificates/$(serial_of b)/revoke" '{"reason": "superseded", "why": 1}'
last_has "  ... is 400" "^400$"
ok "API: GET on the revoke endpoint" sh -c "curl -s --cacert '$ROOT' -H 'Authorization: Bearer $TOKEN' \
	-o /dev/null -w '%{http_code}' '$HTTPS_URL/admin/v1/certificates/$(serial_of b)/revoke' | grep -qx 405"
ok "API: without a token" sh -c "curl -s --cacert '$ROOT' -H 'Content-Type: application/json' \
	-d '{\"reason\":\"superseded\"}' -o /dev/null -w '%{http_code}' \
	'$HTTPS_URL/admin/v1/certificates/$(serial_of b)/revoke' | grep -qx 401"

fails "CLI: unknown reason is a usage error" "$CAIRN" revoke --dir "$D" "$(serial_of b)" --reason nope
last_one_line "  ... in one line"
fails "CLI: revoking twice fails" "$CAIRN" revoke --dir "$D" "$(serial_of a)" --reason keyCompromise
last_has "  ... saying already revoked" "already revoked"
last_one_line "  ... in one line"
fails "CLI: unknown serial fails" "$CAIRN" revoke --dir "$D" 00ff00ff --reason superseded
last_has "  ... saying no certificate" "no certificate"

ok "CLI: certificateHold" "$CAIRN" revoke --dir "$D" "$(serial_of b)" --reason certificateHold
fails "  ... holding again is already revoked" "$CAIRN" revoke --dir "$D" "$(serial_of b)" --reason certificateHold
ok "  ... removeFromCRL releases it" "$CAIRN" revoke --dir "$D" "$(serial_of b)" --reason removeFromCRL
ok "  ... valid again" status_of b
last_has "  ... valid" "valid"
fails "  ... removeFromCRL on a certificate not on hold is refused" "$CAIRN" revoke --dir "$D" \
	"$(serial_of b)" --reason removeFromCRL
last_has "  ... saying so" "not on hold"
ok "  ... a hold may become a permanent revocation" sh -c "'$CAIRN' revoke --dir '$D' '$(serial_of b)' \
	--reason certificateHold && '$CAIRN' revoke --dir '$D' '$(serial_of b)' --reason keyCompromise"

{ echo "# compromised hosts"; serial_of c; echo "0x$(serial_of d)"; serial_of e; echo; serial_of a; } >"$WORK/serials.txt"
ok "CLI: bulk --file (one already revoked)" "$CAIRN" revoke --dir "$D" --file "$WORK/serials.txt" --reason keyCompromise
last_has "  ... reports progress" "4/4 done: 3 revoked, 1 already revoked, 0 not found"
ok "  ... all revoked" sh -c "for n in c d e; do '$CAIRN' show --dir '$D' \$(openssl x509 -in '$WORK/'\$n.pem -noout -serial | cut -d= -f2) | grep -q revoked || exit 1; done"
echo 0badc0de >"$WORK/bad.txt"
fails "CLI: bulk with an unknown serial fails" "$CAIRN" revoke --dir "$D" --file "$WORK/bad.txt" --reason superseded
last_has "  ... reporting it" "1 not found"

spki=$(openssl pkey -in "$WORK/a.key" -pubout -outform DER | sha256sum | cut -d' ' -f1)
ok "CLI: --issued-by-key revokes every valid certificate of that key" "$CAIRN" revoke --dir "$D" \
	--issued-by-key "$spki" --reason keyCompromise
last_has "  ... found two (a itself is already revoked)" "2 valid ones"
last_has "  ... revoked them" "2/2 done: 2 revoked"
ok "  ... g1 and g2 revoked, f untouched" sh -c "status_of() { '$CAIRN' show --dir '$D' \$(openssl x509 \
	-in '$WORK/'\$1.pem -noout -serial | cut -d= -f2); }; status_of g1 | grep -q revoked &&
	status_of g2 | grep -q revoked && status_of f | grep -q valid"
fails "CLI: --issued-by-key needs a SHA-256" "$CAIRN" revoke --dir "$D" --issued-by-key abcd --reason keyCompromise

# The CA's own certificates (its hierarchy, the OCSP signer, the HTTPS certificate) are
# never held or revoked through the leaf endpoints, by any role: a root on its own CRL or
# the issuing CA "revoked" breaks every certificate; the daemon would keep signing with a
# revoked signer. The problem names what replaces each instead.
"$CAIRN" admin add --dir "$D" --name oscar --role operator >/dev/null 2>&1 &&
	"$CAIRN" token create --dir "$D" --name oscar --role operator >"$WORK/oscar.tok" 2>/dev/null ||
	bail "no operator token"
"$CAIRN" ca cross-sign --dir "$D" "$WORK/ro" >"$WORK/ro.out" 2>&1 || bail "cross-sign: $(cat "$WORK/ro.out")"
api_as() { (TOKEN=$(cat "$1") && shift && api "$@"); }
# own PROFILE: the serials recorded under PROFILE, one a line.
own() {
	curl -s --cacert "$ROOT" -H "Authorization: Bearer $TOKEN" \
		"$HTTPS_URL/admin/v1/certificates?profile=$1&limit=10" | jq -r '.items[].serial'
}
# revoked_on NAME: the serials the published CRL NAME lists.
revoked_on() {
	curl -fsS "$HTTP_URL/crl/$1.crl" | openssl crl -inform DER -noout -text |
		sed -n 's/.*Serial Number: *//p' | tr 'A-F' 'a-f' | sort
}
: >"$WORK/own.txt"
for p in ca-root ca-issuing ca-cross ocsp-signer daemon-tls; do own $p | sed "s/^/$p /" >>"$WORK/own.txt"; done
ok "the CA's own certificates are listed: 2 roots, an issuing CA, 2 cross, signer, HTTPS" sh -c "
	cut -d' ' -f1 '$WORK/own.txt' | sort | uniq -c | awk '{printf \"%s:%s \", \$2, \$1}' |
	grep -qx 'ca-cross:2 ca-issuing:1 ca-root:2 daemon-tls:1 ocsp-signer:1 '"
# the snapshot once the issuing CRL lists the last revocation above (g2; crl.debounce)
g2_serial=$(openssl x509 -in "$WORK/g2.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
waits_for sh -c "curl -fsS '$HTTP_URL/crl/issuing.crl' | openssl crl -inform DER -noout -text |
	tr 'A-F' 'a-f' | grep -qi 'serial number: *$g2_serial'" || bail "g2 never reached the CRL"
revoked_on root >"$WORK/root.crl0" && revoked_on issuing >"$WORK/issuing.crl0" || bail "no CRLs"
while read -r prof sn; do
	api_as "$WORK/oscar.tok" "/certificates/$sn/revoke" '{"reason": "certificateHold"}' >"$WORK/own.out"
	ok "operator: certificateHold on $prof is 409" sh -c "tail -n1 '$WORK/own.out' | grep -qx 409"
	api "/certificates/$sn/revoke" '{"reason": "keyCompromise"}' >"$WORK/own.out"
	ok "admin: keyCompromise on $prof is 409" sh -c "tail -n1 '$WORK/own.out' | grep -qx 409"
	ok "  ... a conflict problem naming what replaces it" sh -c "grep -q 'problem:conflict' '$WORK/own.out' &&
		grep -Eq \"the CA's own \\(profile $prof\\).*(cross-sign|old root|ca rotate|ca renew --(ocsp-signer|https))\" '$WORK/own.out'"
done <"$WORK/own.txt"
ok "bulk: the admin sends all seven" sh -c "api() { curl -s --cacert '$ROOT' -H 'Authorization: Bearer $TOKEN' \
	-H 'Content-Type: application/json' -d \"\$1\" '$HTTPS_URL/admin/v1/revocations'; }
	api \"\$(cut -d' ' -f2 '$WORK/own.txt' | jq -Rsc '{serials: split(\"\n\")[:-1], reason: \"cACompromise\"}')\" >'$WORK/bulk.json'"
ok "  ... none revoked, each said to be a CA certificate with what replaces it" jq -e \
	'.revoked == 0 and (.results | length) == 7 and all(.results[]; .status == "CA certificate"
	 and (.detail | test("never held or revoked here: ")))' "$WORK/bulk.json"
tls_spki=$(openssl x509 -in "$D/tls/server.pem" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
fails "CLI: --issued-by-key with the HTTPS certificate's key revokes nothing" "$CAIRN" revoke --dir "$D" \
	--issued-by-key "$tls_spki" --reason keyCompromise
last_has "  ... saying why" "profile daemon-tls.*never held or revoked here: .*cairn ca renew --https"
last_has "  ... and counting it refused" "1/1 done: 0 revoked, 0 already revoked, 0 not found, 1 refused"
ok "  ... every one of them still valid" sh -c "cut -d' ' -f2 '$WORK/own.txt' | while read -r sn; do
	'$CAIRN' show --dir '$D' \$sn | grep -q valid || exit 1; done"
ISS_SN=$(awk '$1 == "ca-issuing" {print $2}' "$WORK/own.txt")
TLS_SN=$(awk '$1 == "daemon-tls" {print $2}' "$WORK/own.txt")
ok "  ... OCSP: the issuing CA is good" sh -c "openssl ocsp -issuer '$ROOT' -serial 0x$ISS_SN \
	-url '$HTTP_URL/ocsp' -CAfile '$ROOT' -no_nonce 2>&1 | grep -q ': good'"
ok "  ... OCSP: the HTTPS certificate is good" sh -c "openssl ocsp -issuer '$D/ca/issuing.pem' \
	-serial 0x$TLS_SN -url '$HTTP_URL/ocsp' -CAfile '$ROOT' -no_nonce 2>&1 | grep -q ': good'"
sleep 3 # past crl.debounce: a revocation would have rebuilt them
ok "  ... the root and issuing CRLs list what they listed before" sh -c "
	revoked_on() { curl -fsS '$HTTP_URL/crl/'\$1.crl | openssl crl -inform DER -noout -text |
		sed -n 's/.*Serial Number: *//p' | tr 'A-F' 'a-f' | sort; }
	revoked_on root | cmp -s - '$WORK/root.crl0' && revoked_on issuing | cmp -s - '$WORK/issuing.crl0'"
ok "  ... the refusals are audited as such" sh -c "'$CAIRN' audit export --dir '$D' --format jsonl |
	grep '\"action\":\"admin.denied\"' | grep -c \"the CA's own\" | grep -qx 16"

ok "every revocation is in the audit log" sh -c "'$CAIRN' audit export --dir '$D' --format jsonl |
	grep -c '\"action\":\"cert.revoke\"' | grep -qx 10"
ok "  ... and the hold release" sh -c "'$CAIRN' audit export --dir '$D' --format jsonl | grep -q 'cert.unhold'"
ok "  ... the chain is intact" "$CAIRN" audit verify --dir "$D"


# Only the certificates in use are refused: what a renewal or rotation retired may be
# revoked (a leaked key of an old HTTPS certificate or OCSP signer must not stay valid);
# a retired issuing CA only with confirm_issuing_ca, since every certificate it issued
# fails with it.
SIGNER_SN=$(awk '$1 == "ocsp-signer" {print $2}' "$WORK/own.txt")
ok "cairn ca renew --https" "$CAIRN" ca renew --https --dir "$D"
ok "cairn ca renew --ocsp-signer" "$CAIRN" ca renew --ocsp-signer --dir "$D"
TLS_NEW=$(own daemon-tls | grep -vx "$TLS_SN")
SIGNER_NEW=$(own ocsp-signer | grep -vx "$SIGNER_SN")
ok "  ... one new HTTPS certificate and one new signer" test -n "$TLS_NEW" -a -n "$SIGNER_NEW" \
	-a "$(echo "$TLS_NEW" | wc -l)" -eq 1 -a "$(echo "$SIGNER_NEW" | wc -l)" -eq 1
ok "  ... the new HTTPS certificate is served" sh -c "openssl s_client -connect '${HTTPS_URL#https://}' \
	-CAfile '$ROOT' </dev/null 2>/dev/null | openssl x509 -noout -serial | tr 'A-F' 'a-f' |
	grep -qx 'serial=$TLS_NEW'"
api_as "$WORK/oscar.tok" "/certificates/$TLS_SN/revoke" '{"reason": "keyCompromise"}' >"$WORK/old.out"
ok "operator: the replaced HTTPS certificate is revoked (keyCompromise)" sh -c "tail -n1 '$WORK/old.out' | grep -qx 200"
api "/certificates/$SIGNER_SN/revoke" '{"reason": "superseded"}' >"$WORK/old.out"
ok "admin: the replaced OCSP signer is revoked" sh -c "tail -n1 '$WORK/old.out' | grep -qx 200"
api "/certificates/$TLS_NEW/revoke" '{"reason": "keyCompromise"}' >"$WORK/old.out"
ok "the HTTPS certificate in use is still 409" sh -c "tail -n1 '$WORK/old.out' | grep -qx 409 &&
	grep -q 'profile daemon-tls), in use, and is never held or revoked here' '$WORK/old.out'"
api_as "$WORK/oscar.tok" "/certificates/$SIGNER_NEW/revoke" '{"reason": "certificateHold"}' >"$WORK/old.out"
ok "the OCSP signer in use is still 409" sh -c "tail -n1 '$WORK/old.out' | grep -qx 409 &&
	grep -q 'profile ocsp-signer), in use' '$WORK/old.out'"
ok "  ... the issuing CRL lists the two replaced ones" waits_for sh -c "
	curl -fsS '$HTTP_URL/crl/issuing.crl' | openssl crl -inform DER -noout -text | tr 'A-F' 'a-f' >'$WORK/iss.txt' &&
	grep -qi 'serial number: *$TLS_SN' '$WORK/iss.txt' && grep -qi 'serial number: *$SIGNER_SN' '$WORK/iss.txt' &&
	! grep -qi 'serial number: *$TLS_NEW' '$WORK/iss.txt' && ! grep -qi 'serial number: *$SIGNER_NEW' '$WORK/iss.txt'"
ok "  ... OCSP (from the renewed signer): the old HTTPS certificate revoked" sh -c "openssl ocsp \
	-issuer '$D/ca/issuing.pem' -serial 0x$TLS_SN -url '$HTTP_URL/ocsp' -CAfile '$ROOT' -no_nonce 2>&1 |
	grep -q ': revoked'"
ok "  ... the old signer revoked, the new HTTPS certificate good" sh -c "openssl ocsp \
	-issuer '$D/ca/issuing.pem' -serial 0x$SIGNER_SN -serial 0x$TLS_NEW -url '$HTTP_URL/ocsp' \
	-CAfile '$ROOT' -no_nonce >'$WORK/ocsp.txt' 2>&1 && grep -q '^0x$SIGNER_SN: revoked' '$WORK/ocsp.txt' &&
	grep -q '^0x$TLS_NEW: good' '$WORK/ocsp.txt'"

# Two rotations: issuing-2 is then retired; the first issuing CA still signed the OCSP
# signer and HTTPS certificate in use; issuing-3 issues.
"$CAIRN" ca rotate --dir "$D" >"$WORK/rot2.out" 2>&1 && "$CAIRN" ca rotate --dir "$D" >"$WORK/rot3.out" 2>&1 ||
	bail "rotate: $(cat "$WORK/rot2.out" "$WORK/rot3.out")"
ISS2=$(sed -n 's/.*issuing CA issuing-2 (serial \([0-9a-f]*\).*/\1/p' "$WORK/rot2.out")
ISS3=$(sed -n 's/.*issuing CA issuing-3 (serial \([0-9a-f]*\).*/\1/p' "$WORK/rot3.out")
api "/certificates/$ISS3/revoke" '{"reason": "superseded", "confirm_issuing_ca": true}' >"$WORK/old.out"
ok "the current issuing CA is 409, confirmed or not" sh -c "tail -n1 '$WORK/old.out' | grep -qx 409 &&
	grep -q 'new certificates are issued under it' '$WORK/old.out'"
api "/certificates/$ISS_SN/revoke" '{"reason": "superseded", "confirm_issuing_ca": true}' >"$WORK/old.out"
ok "the first issuing CA, signer of the OCSP signer in use, is 409" sh -c "tail -n1 '$WORK/old.out' | grep -qx 409 &&
	grep -q 'it signed the OCSP signer in use' '$WORK/old.out'"
api "/certificates/$ISS2/revoke" '{"reason": "superseded"}' >"$WORK/old.out"
ok "the retired issuing-2 without confirm_issuing_ca is 409" sh -c "tail -n1 '$WORK/old.out' | grep -qx 409 &&
	grep -q 'retired issuing CA issuing-2: revoking it lists it on the root.s CRL and every certificate it issued stops validating' '$WORK/old.out'"
ok "  ... in bulk too: status CA certificate" sh -c "curl -s --cacert '$ROOT' -H 'Authorization: Bearer $TOKEN' \
	-H 'Content-Type: application/json' -d '{\"serials\": [\"$ISS2\"], \"reason\": \"superseded\"}' \
	'$HTTPS_URL/admin/v1/revocations' | jq -e '.revoked == 0 and .results[0].status == \"CA certificate\"'"
fails "  ... cairn revoke without --confirm-issuing-ca fails" "$CAIRN" revoke --dir "$D" "$ISS2" --reason superseded
last_has "  ... saying how to confirm" "cairn revoke --confirm-issuing-ca"
fails "--confirm-issuing-ca goes with one serial" "$CAIRN" revoke --dir "$D" --file "$WORK/bad.txt" \
	--reason superseded --confirm-issuing-ca
ok "cairn revoke --confirm-issuing-ca revokes the retired issuing-2" "$CAIRN" revoke --dir "$D" "$ISS2" \
	--reason superseded --confirm-issuing-ca
last_has "  ... saying what it means" "every certificate it issued now fails validation"
last_has "  ... naming what it revoked: an issuing CA" "$ISS2 was an issuing CA"
# The warning follows what was revoked (the answer's profile), not the option.
issue k >"$WORK/issue.out" 2>&1 || bail "issuance failed: $(cat "$WORK/issue.out")"
"$CAIRN" revoke --dir "$D" "$(serial_of k)" --reason superseded --confirm-issuing-ca >"$WORK/k.out" 2>&1
ok "--confirm-issuing-ca with a leaf revokes the leaf" sh -c "grep -q 'revoked $(serial_of k) (superseded)' '$WORK/k.out'"
ok "  ... without the issuing-CA warning" sh -c "! grep -q 'issuing CA' '$WORK/k.out'"
issue m >"$WORK/issue.out" 2>&1 || bail "issuance failed: $(cat "$WORK/issue.out")"
api /revocations "{\"serials\": [\"$(serial_of m)\"], \"reason\": \"superseded\"}" | sed '$d' >"$WORK/m.json"
ok "POST /revocations: each revoked one says its profile" jq -e \
	'.revoked == 1 and .results[0].status == "revoked" and .results[0].profile == "tls-server"' "$WORK/m.json"
ok "  ... the root CRL lists it" waits_for sh -c "curl -fsS '$HTTP_URL/crl/root.crl' |
	openssl crl -inform DER -noout -text | tr 'A-F' 'a-f' | grep -qi 'serial number: *$ISS2'"
ok "  ... OCSP from the root: revoked; the first issuing CA good" sh -c "openssl ocsp -issuer '$ROOT' \
	-serial 0x$ISS2 -serial 0x$ISS_SN -url '$HTTP_URL/ocsp' -CAfile '$ROOT' -no_nonce >'$WORK/ocsp.txt' 2>&1 &&
	grep -q '^0x$ISS2: revoked' '$WORK/ocsp.txt' && grep -q '^0x$ISS_SN: good' '$WORK/ocsp.txt'"

# A second rollover retires the first one's cross-certificates. The one the first new root
# signed (the old root certified by it) has no CRL that this CA publishes (the daemon
# still runs on the old root): revoking it would reach nobody, so it is refused.
"$CAIRN" ca cross-sign --dir "$D" "$WORK/ro2" >"$WORK/ro2.out" 2>&1 || bail "cross-sign: $(cat "$WORK/ro2.out")"
for sn in $(awk '$1 == "ca-cross" {print $2}' "$WORK/own.txt"); do
	curl -s --cacert "$ROOT" -H "Authorization: Bearer $TOKEN" \
		"$HTTPS_URL/admin/v1/certificates/$sn" | jq -r '"\(.issuer) \(.serial)"'
done >"$WORK/cross1.txt"
BY_NEW=$(awk '$1 != "root" {print $2}' "$WORK/cross1.txt")
BY_OLD=$(awk '$1 == "root" {print $2}' "$WORK/cross1.txt")
ok "the two rollovers' new roots have two names (one name for two keys leaves path building guessing)" \
	test "$(openssl x509 -in "$WORK/ro-root.pem" -noout -subject)" != \
	"$(openssl x509 -in "$WORK/ro2-root.pem" -noout -subject)"
ok "the first rollover's two cross-certificates: one by the old root, one by the new" \
	test -n "$BY_NEW" -a -n "$BY_OLD"
api "/certificates/$BY_NEW/revoke" '{"reason": "superseded"}' >"$WORK/old.out"
ok "  ... the one the first new root signed is 409: no CRL of this CA would list it" sh -c \
	"tail -n1 '$WORK/old.out' | grep -qx 409 && grep -q 'whose CRL this CA does not publish' '$WORK/old.out'"
api "/certificates/$BY_OLD/revoke" '{"reason": "superseded"}' >"$WORK/old.out"
ok "  ... the one the old root signed, retired, is revoked" sh -c "tail -n1 '$WORK/old.out' | grep -qx 200"
ok "  ... and the root CRL lists it" waits_for sh -c "curl -fsS '$HTTP_URL/crl/root.crl' |
	openssl crl -inform DER -noout -text | tr 'A-F' 'a-f' | grep -qi 'serial number: *$BY_OLD'"

ok "every certificate in the database passes certlint" lint_db "$D"
done_testing
