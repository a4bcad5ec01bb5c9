#!/bin/sh
# SPDX-License-Identifier: MIT
# Certificate lint: one certificate per profile and key type, issued by the running daemon,
# and the hierarchy init made, all pass tests/tools/certlint (RFC 5280, CA/B BR in spirit);
# the linter itself catches a deliberately bad certificate.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

LINT=$CAIRN_TOOLS/tools/certlint
D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
ca_serve "$D" || bail "cairn serve did not start"

ok "root CA passes lint (CA rules)" "$LINT" --ca "$D/ca/root.pem"
ok "issuing CA passes lint (CA rules)" "$LINT" --ca --issuer "$D/ca/root.pem" "$D/ca/issuing.pem"
ok "OCSP signer passes lint" "$LINT" --issuer "$D/ca/issuing.pem" "$D/ca/ocsp.pem"
ok "daemon TLS certificate passes lint" "$LINT" --issuer "$D/ca/issuing.pem" --max-days 825 \
	"$D/tls/server.pem"

# Profile rows: NAME|SUBJECT|SAN ("-" = none).
PROFILES="
tls-server|/CN=lint.example.test|DNS:lint.example.test,DNS:www.lint.example.test,IP:127.0.0.1
tls-client|/CN=device-9|DNS:device-9.example.test
code-signing|/CN=Release Signing/O=Example|-
document-signing|/CN=Alice Example|email:alice@example.test
admin|/CN=ops|email:ops@example.test
"
for k in ec:P-256 ec:P-384 rsa:2048 rsa:3072 ed25519; do
	f=$WORK/key-$(echo "$k" | tr ':' '-')
	case $k in
	ec:*) openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:${k#ec:}" -out "$f" ;;
	rsa:*) openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:${k#rsa:}" -out "$f" ;;
	ed25519) openssl genpkey -algorithm ED25519 -out "$f" ;;
	esac 2>/dev/null || bail "key generation failed for $k"
done
while IFS="|" read -r prof subj san; do
	[ -n "$prof" ] || continue
	for k in ec-P-256 ec-P-384 rsa-2048 rsa-3072 ed25519; do
		set -- -new -key "$WORK/key-$k" -subj "$subj" -out "$WORK/$prof-$k.csr"
		[ "$san" != - ] && set -- "$@" -addext "subjectAltName=$san"
		openssl req "$@" 2>/dev/null || bail "CSR for $prof/$k"
		ok "$prof with a $k key: issued" "$CAIRN" issue --dir "$D" --csr "$WORK/$prof-$k.csr" \
			--profile "$prof" --out "$WORK/$prof-$k.pem"
		ok "$prof with a $k key: passes lint" "$LINT" --issuer "$D/ca/issuing.pem" \
			--config "$D/cairn.json" --profile "$prof" "$WORK/$prof-$k.pem"
	done
done <<ROWS
$PROFILES
ROWS
ok "every certificate in the database passes lint" lint_db "$D"
last_has "  ... all of them" "certlint: 29 certificates, 0 failed"

# The linter is not vacuous: a certificate with known defects fails, each one named.
openssl req -x509 -newkey rsa:1024 -nodes -keyout "$WORK/bad.key" -subj /CN=bad.example.test \
	-days 800 -set_serial 5 -addext "keyUsage=keyEncipherment,keyCertSign" \
	-addext "basicConstraints=CA:FALSE" -addext "extendedKeyUsage=serverAuth,anyExtendedKeyUsage" \
	-addext "subjectAltName=DNS:other..example.test" -out "$WORK/bad.pem" 2>/dev/null
fails "a defective certificate fails lint" "$LINT" --max-days 398 "$WORK/bad.pem"
for why in "1 octets" "exceeds 398 days" "basicConstraints missing or not critical" \
	"keyUsage is not critical" "keyCertSign" "anyExtendedKeyUsage" "not a valid host name" \
	"not among the subjectAltNames" "RSA key of 1024 bits"; do
	last_has "  ... naming: $why" "$why"
done
ca_stop
done_testing
