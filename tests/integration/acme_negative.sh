#!/bin/sh
# SPDX-License-Identifier: MIT
# Hostile and malformed ACME requests get the right problem documents; ACME state
# survives a daemon restart in the middle of a flow.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"

PROBE="python3 $(dirname "$0")/acme_probe.py"
D=$WORK/ca
ca_init "$D" || bail "init failed"
HP=$(free_port)
acme_conf "$D" "{\"validation\": {\"http01_port\": $HP, \"timeout_ms\": 2000, \"hosts\": {
  \"n1.example.test\": \"127.0.0.1\", \"n2.example.test\": \"127.0.0.1\",
  \"r.example.test\": \"127.0.0.1\", \"attacker.example.test\": \"127.0.0.1\"}}}"
ca_serve "$D" || bail "serve failed"
DIRURL=$HTTPS_URL/acme/directory
CA=$D/ca/root.pem

acme_probe negative "account deactivation"
# Another account's objects, URLs, kid and url headers that differ a little, duplicate
# members, IP text forms, CSR names that differ a little: refused (or normalised).
acme_probe lookalikes "a CSR naming a name twice"

# revokeCert by authorizations: the CN of a certificate issued outside ACME counts as a
# name; a keyCompromise block needs the certificate's key.
for who in victim person; do
	cn=victim.example.test
	[ $who = person ] && cn="Jane Doe"
	openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-keyout "$WORK/$who.key" -out "$WORK/$who.csr" -subj "/CN=$cn" \
		-addext "subjectAltName=DNS:attacker.example.test" 2>/dev/null
	ok "a tls-client certificate with CN=$cn and SAN attacker.example.test" \
		"$CAIRN" issue --dir "$D" --csr "$WORK/$who.csr" --profile tls-client \
		--out "$WORK/$who.pem"
done
acme_probe revoke_names "another reason from that account revokes" "$WORK/victim.pem" \
	"$WORK/person.pem"
ok "the victim's key was not blocked: it is certified again" \
	"$CAIRN" issue --dir "$D" --csr "$WORK/victim.csr" --profile tls-client --out "$WORK/v2.pem"

# Restart in the middle of a flow: account and order exist, the daemon stops and starts.
ok "account and order before the restart" $PROBE begin "$DIRURL" "$CA" "$HP" "$WORK/state.json"
keep_https_port "$D"
ca_stop
ca_serve "$D" || bail "restart failed"
ok "the flow finishes after the restart" $PROBE finish "$HTTPS_URL/acme/directory" "$CA" "$HP" \
	"$WORK/state.json"
last_has "the order and its authorization were kept" "pass: the order survived the restart"

ok "every certificate in the database passes certlint" lint_db "$D"
done_testing
