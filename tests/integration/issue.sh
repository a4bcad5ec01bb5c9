#!/bin/sh
# SPDX-License-Identifier: MIT
# Issuance through the running daemon: every profile, chain and extensions, refusals, inventory.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
ca_serve "$D" || bail "cairn serve did not start"
ROOT=$D/ca/root.pem
ISSUING=$D/ca/issuing.pem

# issue_ok NAME PROFILE: issues $WORK/NAME.csr and checks the chain.
issue_ok() {
	"$CAIRN" issue --dir "$D" --csr "$WORK/$1.csr" --profile "$2" --out "$WORK/$1.pem" &&
		openssl verify -CAfile "$ROOT" -untrusted "$ISSUING" "$WORK/$1.pem"
}
text() { openssl x509 -in "$WORK/$1.pem" -noout -text; }

make_csr srv ec:P-256 /CN=www.example.test "DNS:www.example.test,DNS:api.example.test,IP:127.0.0.1"
ok "tls-server certificate issued and verifies" issue_ok srv tls-server
ok "tls-server has serverAuth" sh -c "openssl x509 -in '$WORK/srv.pem' -noout -text |
	grep -q 'TLS Web Server Authentication'"
ok "tls-server SANs copied from the CSR" sh -c "openssl x509 -in '$WORK/srv.pem' -noout \
	-ext subjectAltName | grep -q 'DNS:www.example.test, DNS:api.example.test, IP Address:127.0.0.1'"
ok "keyUsage is critical digitalSignature" sh -c "openssl x509 -in '$WORK/srv.pem' -noout -text |
	grep -A1 'Key Usage: critical' | grep -q 'Digital Signature'"
ok "basicConstraints CA:FALSE" sh -c "openssl x509 -in '$WORK/srv.pem' -noout -text | grep -q 'CA:FALSE'"
ok "AKI equals the issuing CA's SKI" sh -c "
	ski=\$(openssl x509 -in '$ISSUING' -noout -ext subjectKeyIdentifier | tail -n 1 | tr -d ' ')
	openssl x509 -in '$WORK/srv.pem' -noout -ext authorityKeyIdentifier | grep -q \"\$ski\""
ok "SKI present" sh -c "openssl x509 -in '$WORK/srv.pem' -noout -ext subjectKeyIdentifier | grep -q ':'"
ok "AIA has OCSP and caIssuers URLs of this daemon" sh -c "text=\$(openssl x509 -in \
	'$WORK/srv.pem' -noout -text); echo \"\$text\" | grep -q 'OCSP - URI:$HTTP_URL/ocsp' &&
	echo \"\$text\" | grep -q 'CA Issuers - URI:$HTTP_URL/ca/issuing.crt'"
ok "CRL distribution point" sh -c "openssl x509 -in '$WORK/srv.pem' -noout -text |
	grep -q 'URI:$HTTP_URL/crl/issuing.crl'"
ok "serial is 16 bytes and positive" sh -c "s=\$(openssl x509 -in '$WORK/srv.pem' -noout -serial |
	cut -d= -f2); [ \${#s} -eq 32 ] || [ \${#s} -eq 30 ]; case \$s in [0-7]*) ;; *) exit 1;; esac"
ok "validity is the profile's 90 days" sh -c "
	nb=\$(date -d \"\$(openssl x509 -in '$WORK/srv.pem' -noout -startdate | cut -d= -f2)\" +%s)
	na=\$(date -d \"\$(openssl x509 -in '$WORK/srv.pem' -noout -enddate | cut -d= -f2)\" +%s)
	d=\$(( (na - nb) / 86400 )); [ \$d -ge 89 ] && [ \$d -le 90 ]"
ok "the chain file carries the issuing CA" sh -c "[ \$(grep -c 'BEGIN CERTIFICATE' '$WORK/srv.pem') -eq 2 ]"
ok "issued certificate passes the sslserver purpose check" sh -c "
	openssl x509 -in '$WORK/srv.pem' -out '$WORK/leaf.pem'
	openssl verify -purpose sslserver -CAfile '$ROOT' -untrusted '$ISSUING' '$WORK/leaf.pem'"

make_csr cli ec:P-384 /CN=device-17 "DNS:device-17.example.test"
ok "tls-client (P-384 key) issued and verifies" issue_ok cli tls-client
ok "tls-client has clientAuth" sh -c "openssl x509 -in '$WORK/cli.pem' -noout -text |
	grep -q 'TLS Web Client Authentication'"
make_csr code rsa:3072 "/CN=Release Signing/O=Example"
ok "code-signing (RSA-3072 key) issued and verifies" issue_ok code code-signing
ok "code-signing has codeSigning EKU" sh -c "openssl x509 -in '$WORK/code.pem' -noout -text |
	grep -q 'Code Signing'"
make_csr doc ed25519 "/CN=Alice Example" "email:alice@example.test"
ok "document-signing (Ed25519 key) issued and verifies" issue_ok doc document-signing
ok "document-signing has EKU 1.3.6.1.5.5.7.3.36" sh -c "openssl x509 -in '$WORK/doc.pem' \
	-noout -text | grep -Eq '1.3.6.1.5.5.7.3.36|Document Signing'"
make_csr short ec:P-256 /CN=short.example.test "DNS:short.example.test"
ok "a shorter validity may be asked for" sh -c "'$CAIRN' issue --dir '$D' --csr '$WORK/short.csr' \
	--profile tls-server --validity-days 7 --out '$WORK/short.pem' &&
	openssl x509 -in '$WORK/short.pem' -noout -checkend $((8 * 86400)) | grep -q 'will expire'"
fails "a longer validity than the profile's is refused" "$CAIRN" issue --dir "$D" \
	--csr "$WORK/short.csr" --profile tls-server --validity-days 400

# Refusals: each with a one-line reason, exit 1.
refused() { # DESC REGEX CSR PROFILE
	fails "$1" "$CAIRN" issue --dir "$D" --csr "$3" --profile "$4" --out "$WORK/refused.pem"
	last_has "  ... reason says: $2" "$2"
	last_one_line "  ... in one line"
}
openssl req -in "$WORK/srv.csr" -outform DER -out "$WORK/bad.der"
perl -e 'local $/; open F, "+<", $ARGV[0]; binmode F; $d = <F>;
	substr($d, -1, 1) = chr(ord(substr($d, -1, 1)) ^ 1); seek F, 0, 0; print F $d;' "$WORK/bad.der"
{ echo "-----BEGIN CERTIFICATE REQUEST-----"; base64 "$WORK/bad.der"
  echo "-----END CERTIFICATE REQUEST-----"; } >"$WORK/badsig.csr"
refused "CSR with a bad signature is refused" "signature" "$WORK/badsig.csr" tls-server
make_csr weak rsa:1024 /CN=weak.example.test "DNS:weak.example.test"
refused "RSA-1024 key is refused" "1024" "$WORK/weak.csr" tls-server
make_csr p521 ec:P-521 /CN=p521.example.test "DNS:p521.example.test"
refused "P-521 key is refused" "curve|secp521r1|not supported" "$WORK/p521.csr" tls-server
make_csr ipcode ec:P-256 /CN=Signer "IP:10.0.0.1"
refused "IP SAN on code-signing is refused" "not allowed" "$WORK/ipcode.csr" code-signing
make_csr badname ec:P-256 /CN=bad "DNS:bad_name..example.test"
refused "malformed DNS name is refused" "bad_name|DNS name" "$WORK/badname.csr" tls-server
make_csr nosan ec:P-256 /CN=nosan.example.test
refused "tls-server without SAN is refused" "subjectAltName" "$WORK/nosan.csr" tls-server
printf 'this is not a CSR\n' >"$WORK/garbage.csr"
refused "garbage instead of a CSR is refused" "CSR|PEM|DER" "$WORK/garbage.csr" tls-server
refused "unknown profile is refused" "profile" "$WORK/srv.csr" no-such-profile

# The admin API itself: authentication and problem documents.
api() { curl -s --cacert "$ROOT" -o "$WORK/api.out" -w '%{http_code}' "$@"; }
body=$(perl -0777 -pe 's/\n/\\n/g; s/^/"/; s/$/"/' "$WORK/srv.csr")
ok "wrong admin token gets 401" sh -c "[ \$(curl -s --cacert '$ROOT' -o '$WORK/api.out' -w '%{http_code}' \
	-H 'Authorization: Bearer cairn_wrong' -H 'Content-Type: application/json' \
	-d '{\"csr\":$body,\"profile\":\"tls-server\"}' '$HTTPS_URL/admin/v1/certificates') = 401 ]"
ok "401 is a problem document" grep -q '"type": "urn:cairn:problem:unauthorized"' "$WORK/api.out"
ok "no token gets 401" sh -c "[ \$(curl -s --cacert '$ROOT' -o /dev/null -w '%{http_code}' \
	-H 'Content-Type: application/json' -d '{}' '$HTTPS_URL/admin/v1/certificates') = 401 ]"
fails "cairn issue with a wrong token fails" env CAIRN_ADMIN_TOKEN=cairn_wrong "$CAIRN" issue \
	--dir "$D" --csr "$WORK/srv.csr" --profile tls-server
last_has "  ... and says why" "unknown API token"
TOKEN=$(cat "$D/admin.token")
ok "malformed JSON body gets 400 problem" sh -c "[ \$(curl -s --cacert '$ROOT' -o '$WORK/api.out' \
	-w '%{http_code}' -H 'Authorization: Bearer $TOKEN' -H 'Content-Type: application/json' \
	-d '{\"csr\": ' '$HTTPS_URL/admin/v1/certificates') = 400 ] && grep -q malformed '$WORK/api.out'"
ok "wrong content type gets 415" sh -c "[ \$(curl -s --cacert '$ROOT' -o /dev/null \
	-w '%{http_code}' -H 'Authorization: Bearer $TOKEN' -H 'Content-Type: text/plain' \
	-d 'x' '$HTTPS_URL/admin/v1/certificates') = 415 ]"
ok "  ... and so does one that only begins with application/json" sh -c "[ \$(curl -s \
	--cacert '$ROOT' -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $TOKEN' \
	-H 'Content-Type: application/jsonx' -d '{}' '$HTTPS_URL/admin/v1/certificates') = 415 ]"
ok "  ... while any case and parameters are the media type" sh -c "[ \$(curl -s \
	--cacert '$ROOT' -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $TOKEN' \
	-H 'Content-Type: Application/JSON; charset=utf-8' -d '{}' \
	'$HTTPS_URL/admin/v1/certificates') = 400 ]"
# An explicit validity_days below 1 is refused (it used to mean the profile's validity);
# left out, the profile's applies (above). Past 32 bits it is refused too, not wrapped
# (4294967297 was taken as 1 day, 4294967386 as 90).
for ep in certificates policy/test; do
	extra=
	[ "$ep" = policy/test ] && extra=',"channel":"admin"'
	for v in 0 4294967297 4294967386 -4294967295 2147483648 3651; do
		ok "validity_days $v on /$ep gets 400 problem" sh -c "[ \$(curl -s --cacert '$ROOT' \
			-o '$WORK/api.out' -w '%{http_code}' -H 'Authorization: Bearer $TOKEN' \
			-H 'Content-Type: application/json' \
			-d '{\"csr\":$body,\"profile\":\"tls-server\"$extra,\"validity_days\":$v}' \
			'$HTTPS_URL/admin/v1/$ep') = 400 ] &&
			jq -e '.type == \"urn:cairn:problem:malformed\" and
				.detail == \"validity_days $v is not 1..3650 (leave it out for the profile'\\''s)\"' \
				'$WORK/api.out'"
	done
done
ok "validity_days 3650 is still taken (as far as the range goes)" sh -c "[ \$(curl -s --cacert '$ROOT' \
	-o '$WORK/api.out' -w '%{http_code}' -H 'Authorization: Bearer $TOKEN' \
	-H 'Content-Type: application/json' \
	-d '{\"csr\":$body,\"profile\":\"tls-server\",\"channel\":\"admin\",\"validity_days\":3650}' \
	'$HTTPS_URL/admin/v1/policy/test') = 200 ]"
head -c 200000 /dev/zero | tr '\0' 'a' >"$WORK/big"
ok "oversized body gets 413" sh -c "[ \$(curl -s --cacert '$ROOT' -o /dev/null \
	-w '%{http_code}' -H 'Authorization: Bearer $TOKEN' -H 'Content-Type: application/json' \
	--data-binary @'$WORK/big' '$HTTPS_URL/admin/v1/certificates') = 413 ]"
ok "daemon still healthy after bad input" curl -fsS "$HTTP_URL/healthz"

# Inventory (read-only commands read LMDB beside the running daemon).
SERIAL=$(openssl x509 -in "$WORK/srv.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
ok "show prints the record" sh -c "'$CAIRN' show --dir '$D' $SERIAL | grep -q 'profile: *tls-server'"
ok "show prints the same certificate" sh -c "'$CAIRN' show --dir '$D' --pem $SERIAL |
	openssl x509 -noout -serial | grep -qi '$SERIAL'"
fails "show of an unknown serial fails" "$CAIRN" show --dir "$D" 00aabbcc
last_has "  ... with a clear message" "no certificate with serial"
ok "list shows the issued certificates" sh -c "'$CAIRN' list --dir '$D' | grep -q '$SERIAL'"
ok "list --expiring-within 30d shows the 7-day certificate only" sh -c "
	out=\$('$CAIRN' list --dir '$D' --expiring-within 30d); echo \"\$out\" | grep -q short.example.test &&
	! echo \"\$out\" | grep -q www.example.test"
ok "list --name finds by SAN" sh -c "'$CAIRN' list --dir '$D' --name api.example.test | grep -q '$SERIAL'"
fails "list with a bad duration is a usage error" "$CAIRN" list --dir "$D" --expiring-within soon

# A CSR whose P-256 point is compressed (openssl cannot write one): the same key under other
# SubjectPublicKeyInfo bytes, whose hash would miss a block of the key (docs/security.md).
python3 - "$WORK/compressed.csr" "$WORK/compressed.key" <<'PY'
import sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

def tlv(tag, body):
    n = len(body)
    ln = bytes([n]) if n < 128 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + ln + body

def parts(der):  # the elements of a DER SEQUENCE, as encoded
    i, hl = 0, 2 if der[1] < 128 else 2 + (der[1] & 0x7f)
    body, out = der[hl:], []
    while i < len(body):
        l = body[i + 1]
        h = 2
        if l >= 128:
            h = 2 + (l & 0x7f)
            l = int.from_bytes(body[i + 2:i + h], "big")
        out.append(body[i:i + h + l])
        i += h + l
    return out

key = ec.generate_private_key(ec.SECP256R1())
csr = (x509.CertificateSigningRequestBuilder()
       .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "compressed.example.test")]))
       .add_extension(x509.SubjectAlternativeName([x509.DNSName("compressed.example.test")]), False)
       .sign(key, hashes.SHA256()))
cri, alg, _ = parts(csr.public_bytes(serialization.Encoding.DER))
f = parts(cri)
spki = parts(f[2])
point = key.public_key().public_bytes(serialization.Encoding.X962,
                                      serialization.PublicFormat.CompressedPoint)
f[2] = tlv(0x30, spki[0] + tlv(0x03, b"\x00" + point))
cri = tlv(0x30, b"".join(f))
sig = key.sign(cri, ec.ECDSA(hashes.SHA256()))
der = tlv(0x30, cri + alg + tlv(0x03, b"\x00" + sig))
x509.load_der_x509_csr(der)  # well formed, and its signature checks:
assert x509.load_der_x509_csr(der).is_signature_valid
open(sys.argv[1], "wb").write(x509.load_der_x509_csr(der).public_bytes(serialization.Encoding.PEM))
PY
ok "a CSR with a compressed P-256 point is made (signed over the compressed key)" \
	sh -c "openssl req -in '$WORK/compressed.csr' -noout -verify && openssl req -in '$WORK/compressed.csr' \
	-outform DER | od -An -tx1 | tr -d ' \n' | grep -Eq '0322000[23]'"
fails "  ... is not certified" "$CAIRN" issue --dir "$D" --csr "$WORK/compressed.csr" --profile tls-server \
	--out "$WORK/compressed.pem"
last_has "  ... saying why, in one line" "compressed form"
last_one_line "  ... one line"
ok "  ... and nothing was stored for it" sh -c "! '$CAIRN' list --dir '$D' --name compressed.example.test |
	grep -q compressed"

ok "every certificate in the database passes certlint" lint_db "$D"
ca_stop
fails "issue while the daemon is stopped fails" "$CAIRN" issue --dir "$D" --csr "$WORK/srv.csr" \
	--profile tls-server
last_has "  ... saying the daemon is not running" "not running"

done_testing
