#!/bin/sh
# SPDX-License-Identifier: MIT
# One name extractor on every path: iPAddress SANs of a length other than 4 or 16 are
# refused with the length named (admin API, policy test, ACME finalize) and never read
# as an address; IPv4-mapped IPv6 is normalised to IPv4 before anything compares it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"

D=$WORK/ca
ca_init "$D" || bail "init failed"
HP=$(free_port)
acme_conf "$D" "{\"validation\": {\"http01_port\": $HP, \"timeout_ms\": 2000, \"hosts\": {
  \"n1.example.test\": \"127.0.0.1\"}}}"
ca_serve "$D" || bail "serve failed"

# DER of a SAN extension value: SEQUENCE { dNSName x.example.test, iPAddress <N bytes> }.
dns_x="82:0e:78:2e:65:78:61:6d:70:6c:65:2e:74:65:73:74"
make_csr ip1 ec:P-256 /CN=x.example.test "DER:30:13:$dns_x:87:01:7f"
make_csr ip5 ec:P-256 /CN=x.example.test "DER:30:17:$dns_x:87:05:7f:00:00:01:00"
make_csr ip0 ec:P-256 /CN=x.example.test "DER:30:12:$dns_x:87:00"
for n in 1 5 0; do
	fails "admin API: a $n-byte iPAddress is refused" \
		"$CAIRN" issue --dir "$D" --csr "$WORK/ip$n.csr" --profile tls-server
	last_has "the refusal names the length ($n bytes)" "ip has $n bytes, not 4 or 16"
	last_one_line "the refusal is one line"
done
fails "policy test: a 1-byte iPAddress is refused" \
	"$CAIRN" policy test --dir "$D" --csr "$WORK/ip1.csr" --channel admin
last_has "policy test names the length" "ip has 1 bytes, not 4 or 16"

# IPv4-mapped IPv6 becomes the IPv4 address it stands for, in the certificate too.
make_csr mapped ec:P-256 /CN=m.example.test "DNS:m.example.test,IP:::ffff:127.0.0.1"
ok "a CSR with an IPv4-mapped address is issued" \
	"$CAIRN" issue --dir "$D" --csr "$WORK/mapped.csr" --profile tls-server --out "$WORK/mapped.pem"
ok "the certificate carries it as IPv4" sh -c "openssl x509 -in '$WORK/mapped.pem' -noout \
	-ext subjectAltName | grep -q 'IP Address:127.0.0.1\$'"
ok "cairn list finds it under the IPv4 address" sh -c \
	"'$CAIRN' list --dir '$D' --name 127.0.0.1 | grep -q m.example.test"

# ACME finalize: the detail names the length, never bytes read past the address.
acme_probe badip "a good CSR then finalizes"

ok "the daemon is still up" curl -sf "$HTTP_URL/healthz"
ok "every certificate in the database passes certlint" lint_db "$D"
done_testing
