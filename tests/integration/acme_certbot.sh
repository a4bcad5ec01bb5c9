#!/bin/sh
# SPDX-License-Identifier: MIT
# certbot against a real `cairn serve`: register, obtain for two names with --standalone
# http-01, renew (--force-renewal), revoke with a reason, --must-staple; certificates chain
# to the root.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"

command -v certbot >/dev/null || bail "certbot is not installed (scripts/deps.sh)"

D=$WORK/ca
ca_init "$D" || bail "init failed"
HP=$(free_port)
acme_conf "$D" "{\"validation\": {\"http01_port\": $HP, \"hosts\": {
  \"www.example.test\": \"127.0.0.1\", \"api.example.test\": \"127.0.0.1\",
  \"staple.example.test\": \"127.0.0.1\"}}}"
ca_serve "$D" || bail "serve failed"
export REQUESTS_CA_BUNDLE="$D/ca/root.pem"
CB="certbot --config-dir $WORK/cb/conf --work-dir $WORK/cb/work --logs-dir $WORK/cb/logs
 --non-interactive --server $HTTPS_URL/acme/directory"
LIVE=$WORK/cb/conf/live/www.example.test

ok "certbot registers an account" $CB register --agree-tos -m ops@example.test
ok "certbot obtains a certificate for two names (standalone http-01)" $CB certonly \
	--standalone --http-01-address 127.0.0.1 --http-01-port "$HP" \
	-d www.example.test -d api.example.test
ok "the certificate chains to the root" cert_verifies "$D" "$LIVE/cert.pem"
ok "the chain file holds the issuing CA" openssl verify -CAfile "$D/ca/root.pem" \
	-untrusted "$LIVE/chain.pem" "$LIVE/cert.pem"
ok "both names are in the certificate" sh -c "openssl x509 -in $LIVE/cert.pem -noout \
	-ext subjectAltName | grep -q 'DNS:api.example.test' &&
	openssl x509 -in $LIVE/cert.pem -noout -ext subjectAltName | grep -q 'DNS:www.example.test'"
first=$(openssl x509 -in "$LIVE/cert.pem" -noout -serial)

ok "certbot renews (--force-renewal)" $CB renew --force-renewal --no-random-sleep-on-renew \
	--standalone \
	--http-01-address 127.0.0.1 --http-01-port "$HP"
second=$(openssl x509 -in "$LIVE/cert.pem" -noout -serial)
[ "$first" != "$second" ]
tap $((1 - $?)) "renewal gave a new certificate"
ok "the renewed certificate chains to the root" cert_verifies "$D" "$LIVE/cert.pem"

serial=$(echo "$second" | sed 's/serial=//' | tr 'A-F' 'a-f')
ok "certbot revokes with reason keyCompromise" $CB revoke --cert-path "$LIVE/cert.pem" \
	--reason keycompromise --no-delete-after-revoke
ok "cairn show reports it revoked" "$CAIRN" show --dir "$D" "$serial"
last_has "revoked with reason keyCompromise" "revoked.*(keyCompromise|1)|keyCompromise"
ok "OCSP answers revoked for it at once" openssl ocsp -issuer "$D/ca/issuing.pem" \
	-cert "$LIVE/cert.pem" -url "$HTTP_URL/ocsp" -CAfile "$D/ca/root.pem"
last_has "  ... revoked" "cert.pem: revoked"
ok "certbot --must-staple obtains a certificate" $CB certonly --must-staple --standalone \
	--http-01-address 127.0.0.1 --http-01-port "$HP" -d staple.example.test
ok "  ... that carries OCSP Must-Staple" sh -c "openssl x509 -in \
	'$WORK/cb/conf/live/staple.example.test/cert.pem' -noout -ext tlsfeature | grep -q status_request"
ok "the audit chain verifies after the ACME flows" "$CAIRN" audit verify --dir "$D"

ok "every certificate in the database passes certlint" lint_db "$D"
done_testing
