#!/bin/sh
# SPDX-License-Identifier: MIT
# lego against a real `cairn serve`: http-01, dns-01 (exec hook into a loopback test DNS
# server), tls-alpn-01, a wildcard through dns-01, renew, revoke, and an EAB account.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"

command -v lego >/dev/null || bail "lego is not installed (scripts/deps.sh)"
command -v pebble-challtestsrv >/dev/null || bail "pebble-challtestsrv is not installed"

D=$WORK/ca
ca_init "$D" || bail "init failed"
dns_start || bail "test DNS server did not start"
HP=$(free_port)
TP=$(free_port)
acme_conf "$D" "{\"caa_identities\": [\"cairn.test\"],
  \"validation\": {\"dns_server\": \"127.0.0.1:$DNS_PORT\", \"http01_port\": $HP,
  \"tlsalpn01_port\": $TP}}"
ca_serve "$D" || bail "serve failed"
DIRURL="$HTTPS_URL/acme/directory"
export LEGO_CA_CERTIFICATES="$D/ca/root.pem"
lego_exec_script "$WORK/dns-hook.sh"
export EXEC_PATH="$WORK/dns-hook.sh" EXEC_POLLING_INTERVAL=1 EXEC_PROPAGATION_TIMEOUT=30 \
	EXEC_SEQUENCE_INTERVAL=1
L="lego --server $DIRURL --path $WORK/lego --email ops@example.test --accept-tos"
LC=$WORK/lego/certificates

cd "$WORK" || bail "no work dir"
ok "lego http-01 for two names" $L --domains h1.example.test --domains h2.example.test \
	--http --http.port "127.0.0.1:$HP" run
ok "http-01 certificate chains to the root" cert_verifies "$D" "$LC/h1.example.test.crt"
ok "http-01 certificate names both domains" sh -c \
	"openssl x509 -in $LC/h1.example.test.crt -noout -ext subjectAltName | grep -q 'DNS:h2.example.test'"

ok "lego dns-01 (exec hook)" $L --domains d.example.test --dns exec --dns.disable-cp \
	--dns.resolvers "127.0.0.1:$DNS_PORT" run
ok "dns-01 certificate chains to the root" cert_verifies "$D" "$LC/d.example.test.crt"

ok "lego tls-alpn-01" $L --domains t.example.test --tls --tls.port "127.0.0.1:$TP" run
ok "tls-alpn-01 certificate chains to the root" cert_verifies "$D" "$LC/t.example.test.crt"

ok "lego wildcard through dns-01" $L --domains '*.w.example.test' --domains w.example.test \
	--dns exec --dns.disable-cp --dns.resolvers "127.0.0.1:$DNS_PORT" run
ok "wildcard certificate names *.w.example.test" sh -c \
	"openssl x509 -in '$LC/_.w.example.test.crt' -noout -ext subjectAltName | grep -q 'DNS:\*.w.example.test'"

# CAA (RFC 8659, RFC 8657): a record naming another CA forbids; ours with the method allows.
dns_caa forbidden.example.test other-ca.test >/dev/null
dns_caa caa-ok.example.test "cairn.test; validationmethods=http-01" >/dev/null
dns_caa caa-method.example.test "cairn.test; validationmethods=dns-01" >/dev/null
fails "a CAA record for another CA forbids issuance" $L --domains forbidden.example.test \
	--http --http.port "127.0.0.1:$HP" run
last_has "  ... with the caa problem" "error:caa"
ok "a CAA record naming this CA allows it" $L --domains caa-ok.example.test \
	--http --http.port "127.0.0.1:$HP" run
fails "CAA validationmethods=dns-01 refuses http-01" $L --domains caa-method.example.test \
	--http --http.port "127.0.0.1:$HP" run
last_has "  ... with the caa problem" "error:caa"

old=$(openssl x509 -in "$LC/h1.example.test.crt" -noout -serial)
ok "lego renew (forced by --days 3650)" $L --domains h1.example.test --domains h2.example.test \
	--http --http.port "127.0.0.1:$HP" renew --days 3650 --no-random-sleep
new=$(openssl x509 -in "$LC/h1.example.test.crt" -noout -serial)
[ "$old" != "$new" ]
tap $((1 - $?)) "renewal issued a new certificate ($new)"

serial=$(openssl x509 -in "$LC/d.example.test.crt" -noout -serial | sed 's/serial=//' |
	tr 'A-F' 'a-f')
ok "lego revoke" $L --domains d.example.test revoke --reason 4
ok "the revoked certificate shows as revoked" "$CAIRN" show --dir "$D" "$serial"
last_has "show says revoked" "revoked"
ok "the revocation is in the audit log" "$CAIRN" audit export --dir "$D"
last_has "audit has cert.revoke" "cert.revoke"

ok "an EAB key is created through the admin API" "$CAIRN" acme eab create --dir "$D" --group team-a
kid=$(sed -n 's/^kid: *//p' "$WORK/last.out")
hmac=$(sed -n 's/^hmac: *//p' "$WORK/last.out")
ok "lego registers with EAB and gets a certificate" lego --server "$DIRURL" \
	--path "$WORK/lego-eab" --email eab@example.test --accept-tos --eab --kid "$kid" \
	--hmac "$hmac" --domains e.example.test --http --http.port "127.0.0.1:$HP" run
fails "the same EAB key id cannot bind a second account" lego --server "$DIRURL" \
	--path "$WORK/lego-eab2" --email eab2@example.test --accept-tos --eab --kid "$kid" \
	--hmac "$hmac" --domains e.example.test --http --http.port "127.0.0.1:$HP" run
last_has "refused as already used" "already used"

fails "an EAB key for an unknown profile is refused" "$CAIRN" acme eab create --dir "$D" \
	--profile nosuch
last_has "  ... naming it" "no certificate profile named nosuch"
ok "an EAB key bound to the tls-client profile" "$CAIRN" acme eab create --dir "$D" \
	--profile tls-client
kid=$(sed -n 's/^kid: *//p' "$WORK/last.out")
hmac=$(sed -n 's/^hmac: *//p' "$WORK/last.out")
ok "its account gets certificates of that profile" lego --server "$DIRURL" \
	--path "$WORK/lego-client" --email c@example.test --accept-tos --eab --kid "$kid" \
	--hmac "$hmac" --domains c.example.test --http --http.port "127.0.0.1:$HP" run
ok "  ... clientAuth, not serverAuth" sh -c "openssl x509 -in \
	'$WORK/lego-client/certificates/c.example.test.crt' -noout -ext extendedKeyUsage |
	grep -q 'Client Authentication' && ! openssl x509 -in \
	'$WORK/lego-client/certificates/c.example.test.crt' -noout -ext extendedKeyUsage |
	grep -q 'Server Authentication'"

ok "every certificate in the database passes certlint" lint_db "$D"
done_testing
