#!/bin/sh
# SPDX-License-Identifier: MIT
# EST authorization attacked as an outsider would, with curl, openssl and lego: which client
# certificates authenticate (not ACME's, not the daemon's own, only EST clients'), which
# names a certificate may ask for, accounts bound to labels, re-enrollment keeping its EKUs,
# serverkeygen never parked for approval, failed logins and requests without credentials
# limited (429) before the slow hash, a key blocked by a keyCompromise revocation never
# authenticating, logins reused on a keep-alive connection, outside bytes never echoed raw.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"
. "$CAIRN_SRCDIR/tests/integration/acme_lib.sh"
. "$CAIRN_SRCDIR/tests/integration/est_lib.sh"

command -v lego >/dev/null || bail "lego is not installed (scripts/deps.sh)"
command -v pebble-challtestsrv >/dev/null || bail "pebble-challtestsrv is not installed"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
dns_start || bail "test DNS server did not start"
HP=$(free_port)
acme_conf "$D" "{\"validation\": {\"dns_server\": \"127.0.0.1:$DNS_PORT\", \"http01_port\": $HP}}"
# default/iot: device labels; servers: another profile (serverAuth); partners: accepts
# tls-server certificates from outside EST; held: every request waits for an approver.
jq '.est.labels = {
	"default": {"profile": "tls-client", "validity_days": 30},
	"iot": {"profile": "tls-client", "serverkeygen": true, "policy_group": "devices"},
	"servers": {"profile": "tls-server"},
	"partners": {"profile": "tls-client", "client_cert_profiles": ["tls-server"]},
	"held": {"profile": "tls-client", "serverkeygen": true, "policy_group": "held"}}
	| .est.auth_fail_limit = 3 | .est.auth_fail_window = 600' "$D/cairn.json" \
	>"$WORK/cairn.json" && cp "$WORK/cairn.json" "$D/cairn.json" || bail "cannot edit cairn.json"
cat >"$D/policy.json" <<'JSON'
{"rules": [
  {"name": "held", "match": {"channel": "est", "group": "held"}, "action": "approve",
   "approvals": 1},
  {"name": "default", "match": {}, "action": "issue"}
]}
JSON
ca_serve "$D" || bail "cairn serve did not start"
ROOT=$D/ca/root.pem
EST=$HTTPS_URL/.well-known/est
HOSTPORT=${HTTPS_URL#https://}

# not_issued OUT: the answer carries no certificate (any 4xx).
not_issued() { grep -q '^4' "$WORK/$1.code" && ! grep -q 'BEGIN\|^MII' "$WORK/$1.body"; }
audit_jsonl() { "$CAIRN" audit export --dir "$D" --format jsonl >"$WORK/audit.jsonl" 2>"$WORK/audit.err"; }
pending_count() { "$CAIRN" requests list --dir "$D" --json 2>/dev/null | jq '.items | length'; }
# req_id OUT: the request id a 202 answer names.
req_id() { grep -Eo '[0-9a-f]{32}' "$WORK/$1.body" | head -n 1; }
serial_of() { openssl x509 -in "$WORK/$1.pem" -noout -serial | cut -d= -f2 | tr A-F a-f; }
# superseded_count SERIAL: the cert.superseded events about that certificate.
superseded_count() {
	audit_jsonl
	jq -c --arg s "$1" 'select(.action == "cert.superseded" and .serial == $s)' \
		"$WORK/audit.jsonl" | wc -l
}

printf 'alice password\n' >"$WORK/pw.alice"
printf 'bob password 1\n' >"$WORK/pw.bob"
printf 'carol password\n' >"$WORK/pw.carol"
printf 'keygen password\n' >"$WORK/pw.kg"

# ---- accounts bound to labels ----
ok "est user add --labels binds an account to labels" "$CAIRN" est user add --dir "$D" \
	--name alice --password-file "$WORK/pw.alice" --labels iot
ok "an account added without --labels" "$CAIRN" est user add --dir "$D" --name bob \
	--password-file "$WORK/pw.bob"
"$CAIRN" est user add --dir "$D" --name carol --password-file "$WORK/pw.carol" >/dev/null 2>&1
"$CAIRN" est user add --dir "$D" --name kg --password-file "$WORK/pw.kg" --labels held \
	>/dev/null 2>&1
fails "--labels naming a label that is not configured is refused" "$CAIRN" est user add \
	--dir "$D" --name mallory --password-file "$WORK/pw.bob" --labels iot,nosuch
last_has "  ... naming it" "no EST label nosuch"
ok "est user list shows the labels" "$CAIRN" est user list --dir "$D"
last_has "  ... alice: iot" "^alice.*[[:space:]]iot$"
last_has "  ... bob: the default label only" "^bob.*default \(default label\)"

csr a1 /CN=dev-a.iot.test "DNS:dev-a.iot.test"
est_post a1 iot/simpleenroll -u 'alice:alice password'
ok "alice enrolls on her label (iot)" status_is a1 200
ok "  ... and gets a client certificate" p7cert a1
cp "$WORK/a1.key" "$WORK/alice.key"
cp "$WORK/a1.pem" "$WORK/alice.pem"
csr a2 /CN=dev-a2 "DNS:dev-a2.iot.test"
est_post a2 simpleenroll -u 'alice:alice password'
ok "alice on the default label, which she is not bound to: 403" status_is a2 403
ok "  ... saying so" grep -q "may not use label default" "$WORK/a2.body"
est_post a3 servers/simpleenroll -u 'alice:alice password'
ok "alice on label servers (serverAuth): 403" status_is a3 403
est_post b1 iot/simpleenroll -u 'bob:bob password 1'
ok "bob (no labels) on label iot: 403" status_is b1 403
est_post b2 simpleenroll -u 'bob:bob password 1'
ok "bob on the default label: 200" status_is b2 200

# ---- a certificate authenticates only on the label it was issued on ----
# bob may use the default label only: his certificate from there is no pass to iot (the
# same profile, but another policy group, and serverkeygen on). Refusals that fall back to
# Basic, and re-enrollments refused for their certificate, are failed logins of their address:
# each address here stays under the limit.
csr bob1 /CN=bob-1.iot.test "DNS:bob-1.iot.test"
est_post bob1 simpleenroll -u 'bob:bob password 1'
ok "bob enrolls on the default label" p7cert bob1
csr bob2 /CN=bob-1.iot.test "DNS:bob-1.iot.test"
est_post bob2 iot/simpleenroll --interface 127.0.2.1 --cert "$WORK/bob1.pem" --key "$WORK/bob1.key"
ok "bob's certificate from the default label does not authenticate simpleenroll on iot" \
	not_issued bob2
ok "  ... saying it authenticates only on the default label" \
	grep -q "issued on EST label default: it authenticates only there" "$WORK/bob2.body"
est_post bob3 iot/serverkeygen --interface 127.0.2.1 --cert "$WORK/bob1.pem" --key "$WORK/bob1.key"
ok "  ... nor serverkeygen on iot (enabled there, not on his label)" not_issued bob3
ok "  ... no key in the answer" sh -c "! grep -qi 'pkcs8\|PRIVATE' '$WORK/bob3.body'"
csr bobre /CN=bob-1.iot.test "DNS:bob-1.iot.test" "$WORK/bob1.key"
est_post bob4 iot/simplereenroll --interface 127.0.3.1 --cert "$WORK/bob1.pem" --key "$WORK/bob1.key"
ok "  ... nor simplereenroll on iot (403)" status_is bob4 403
ok "  ... saying why" grep -q "issued on EST label default" "$WORK/bob4.body"
est_post bob5 simplereenroll --cert "$WORK/bob1.pem" --key "$WORK/bob1.key"
ok "bob's certificate re-enrolls on its own label (200)" status_is bob5 200
p7cert bob5
cp "$WORK/bob1.key" "$WORK/bob5.key"
est_post bob6 iot/simplereenroll --interface 127.0.3.2 --cert "$WORK/bob5.pem" --key "$WORK/bob5.key"
ok "  ... and the renewal keeps that label: not on iot either (403)" status_is bob6 403

# hank's label held makes every request wait for an approver; his certificate does not
# skip them on another label.
printf 'hank password\n' >"$WORK/pw.hank"
"$CAIRN" est user add --dir "$D" --name hank --password-file "$WORK/pw.hank" --labels held \
	>/dev/null 2>&1
csr h1 /CN=dev-h.iot.test "DNS:dev-h.iot.test"
est_post h1 held/simpleenroll -u 'hank:hank password'
ok "hank enrolls on held: 202 (waits for an approver)" status_is h1 202
ok "  ... approved" "$CAIRN" requests approve "$(req_id h1)" --dir "$D"
est_post h1 held/simpleenroll -u 'hank:hank password'
ok "  ... hank collects his certificate" p7cert h1
csr hre /CN=dev-h.iot.test "DNS:dev-h.iot.test" "$WORK/h1.key"
est_post hre_default simplereenroll --interface 127.0.3.3 --cert "$WORK/h1.pem" --key "$WORK/h1.key"
ok "hank's certificate from held does not renew on the default label without approval (403)" \
	status_is hre_default 403
ok "  ... saying it authenticates only on held" grep -q "issued on EST label held" \
	"$WORK/hre_default.body"
est_post hre_iot iot/simplereenroll --interface 127.0.3.4 --cert "$WORK/h1.pem" --key "$WORK/h1.key"
ok "  ... nor on iot (403)" status_is hre_iot 403
csr h5 /CN=dev-h.iot.test "DNS:dev-h.iot.test"
est_post h5 iot/simpleenroll --interface 127.0.2.2 --cert "$WORK/h1.pem" --key "$WORK/h1.key"
ok "  ... nor has a new key certified on iot" not_issued h5
BODY=$WORK/hre.b64
est_post hre held/simplereenroll --cert "$WORK/h1.pem" --key "$WORK/h1.key"
ok "on its own label the renewal waits for approval (202)" status_is hre 202
HRE=$(req_id hre)
ok "  ... approved" "$CAIRN" requests approve "$HRE" --dir "$D"
est_post hsteal held/simpleenroll --cert "$WORK/h1.pem" --key "$WORK/h1.key"
ok "the approved renewal is not collected through simpleenroll (a request of its own, 202)" \
	sh -c "[ \"\$(cat '$WORK/hsteal.code')\" = 202 ] && ! grep -q '$HRE' '$WORK/hsteal.body'"
est_post hre2 held/simplereenroll --cert "$WORK/h1.pem" --key "$WORK/h1.key"
ok "simplereenroll collects it (200)" status_is hre2 200
ok "  ... the renewal" p7cert hre2
ok "  ... and the certificate it renews is audited cert.superseded" \
	[ "$(superseded_count "$(serial_of h1)")" -eq 1 ]
est_post hre3 held/simplereenroll --cert "$WORK/h1.pem" --key "$WORK/h1.key"
ok "collected again (200)" status_is hre3 200
ok "  ... it is superseded once, not at every collection" \
	[ "$(superseded_count "$(serial_of h1)")" -eq 1 ]

# ---- an EST client certificate asks only for its own names ----
csr o1 /CN=dev-a.iot.test "DNS:victim.example.test"
est_post o1 iot/simpleenroll --cert "$WORK/alice.pem" --key "$WORK/alice.key"
ok "alice's certificate asking for another DNS name: 403" status_is o1 403
ok "  ... naming the name" grep -q "victim.example.test" "$WORK/o1.body"
csr o2 /CN=victim.example.test "DNS:dev-a.iot.test"
est_post o2 iot/simpleenroll --cert "$WORK/alice.pem" --key "$WORK/alice.key"
ok "  ... asking for another CN: 403" status_is o2 403
csr o3 "/CN=dev-a.iot.test/O=Victim Corp" "DNS:dev-a.iot.test"
est_post o3 iot/simpleenroll --cert "$WORK/alice.pem" --key "$WORK/alice.key"
ok "  ... adding an O it does not have: 403" status_is o3 403
csr o4 /CN=dev-a.iot.test "DNS:dev-a.iot.test"
est_post o4 iot/simpleenroll --cert "$WORK/alice.pem" --key "$WORK/alice.key"
ok "  ... asking for its own names: 200" status_is o4 200
est_post o5 servers/simpleenroll --cert "$WORK/alice.pem" --key "$WORK/alice.key"
ok "  ... on a label of another profile (servers, serverAuth): refused" not_issued o5
ok "  ... saying why" grep -q "issued on EST label iot" "$WORK/o5.body"
ok "the refusals are audited" sh -c "'$CAIRN' audit export --dir '$D' --format jsonl |
	grep '\"est.refused\"' | grep -q 'victim.example.test'"

# ---- re-enrollment: on the certificate's own label, keeping its subject exactly ----
openssl req -new -key "$WORK/alice.key" -subj /CN=dev-a.iot.test -addext "subjectAltName=DNS:dev-a.iot.test" \
	-outform DER 2>/dev/null | openssl base64 >"$WORK/re.b64"
BODY=$WORK/re.b64
est_post re servers/simplereenroll --interface 127.0.3.5 --cert "$WORK/alice.pem" --key "$WORK/alice.key"
ok "alice's certificate (label iot) does not re-enroll through label servers (403)" status_is re 403
ok "  ... saying it authenticates only on iot" grep -q "issued on EST label iot" "$WORK/re.body"
openssl req -new -key "$WORK/alice.key" -subj /CN=DEV-A.IOT.TEST -addext "subjectAltName=DNS:dev-a.iot.test" \
	-outform DER 2>/dev/null | openssl base64 >"$WORK/recase.b64"
BODY=$WORK/recase.b64
est_post recase iot/simplereenroll --cert "$WORK/alice.pem" --key "$WORK/alice.key"
ok "a renewal of CN=dev-a.iot.test asking for CN=DEV-A.IOT.TEST is refused (403)" \
	status_is recase 403
ok "  ... saying the subject must stay exactly the certificate's" grep -q \
	"keep the subject of the current certificate exactly (CN=dev-a.iot.test), byte for byte: the CSR asks for CN=DEV-A.IOT.TEST" \
	"$WORK/recase.body"
# The same CN in another encoding (PrintableString), with another RDN beside it or in
# a multi-valued RDN: the subject is not the certificate's, byte for byte.
printf '[req]\ndistinguished_name = dn\nstring_mask = pkix\n[dn]\n' >"$WORK/pkix.cnf"
for v in printable extra multi; do
	case $v in
	printable) set -- -config "$WORK/pkix.cnf" -subj /CN=dev-a.iot.test ;;
	extra) set -- -subj /OU=devices/CN=dev-a.iot.test ;;
	multi) set -- -multivalue-rdn -subj "/CN=dev-a.iot.test+OU=devices" ;;
	esac
	openssl req -new -key "$WORK/alice.key" "$@" -addext "subjectAltName=DNS:dev-a.iot.test" \
		-outform DER 2>/dev/null | openssl base64 >"$WORK/re_$v.b64"
	BODY=$WORK/re_$v.b64
	est_post "re_$v" iot/simplereenroll --cert "$WORK/alice.pem" --key "$WORK/alice.key"
done
ok "  ... nor the CN as PrintableString, beside an OU, or in a multi-valued RDN (403 each)" sh -c "
	[ \"\$(cat '$WORK/re_printable.code' '$WORK/re_extra.code' '$WORK/re_multi.code')\" = 403403403 ] &&
	grep -l 'byte for byte' '$WORK/re_printable.body' '$WORK/re_extra.body' '$WORK/re_multi.body' |
	wc -l | grep -qx 3"
BODY=$WORK/re.b64
est_post re2 iot/simplereenroll --cert "$WORK/alice.pem" --key "$WORK/alice.key"
ok "  ... on its own label, the same subject, it re-enrolls (200)" status_is re2 200
p7cert re2
ok "  ... the renewal is still clientAuth" sh -c "openssl x509 -in '$WORK/re2.pem' -noout \
	-ext extendedKeyUsage | grep -q 'Client Authentication'"
ok "  ... for CN=dev-a.iot.test" sh -c "openssl x509 -in '$WORK/re2.pem' -noout -subject \
	-nameopt RFC2253 | grep -qx 'subject=CN=dev-a.iot.test'"

# ---- a key revoked for keyCompromise authenticates nothing, in whichever certificate ----
csr kc1 /CN=dev-k.iot.test "DNS:dev-k.iot.test"
est_post kc1 iot/simpleenroll -u 'alice:alice password'
ok "alice enrolls dev-k (kc1)" p7cert kc1
cp "$WORK/kc1.key" "$WORK/k.key"
csr kc2 /CN=dev-k.iot.test "DNS:dev-k.iot.test" "$WORK/k.key"
est_post kc2 iot/simpleenroll -u 'alice:alice password'
ok "  ... and a second certificate for the same key (kc2)" p7cert kc2
ok "kc2 is revoked for keyCompromise: the key is blocked" "$CAIRN" revoke --dir "$D" \
	"$(serial_of kc2)" --reason keyCompromise
csr kc3 /CN=dev-k.iot.test "DNS:dev-k.iot.test"
est_post kc3 iot/simplereenroll --interface 127.0.3.6 --cert "$WORK/kc1.pem" --key "$WORK/k.key"
ok "kc1 (not revoked, same key) does not re-enroll, not even to a new key (403)" status_is kc3 403
ok "  ... saying its key is blocked and why" grep -q "key is blocked (certificate .* keyCompromise)" \
	"$WORK/kc3.body"
est_post kc4 iot/simpleenroll --interface 127.0.1.4 --cert "$WORK/kc1.pem" --key "$WORK/k.key"
ok "  ... nor authenticates simpleenroll (401, naming the block)" sh -c "
	[ \"\$(cat '$WORK/kc4.code')\" = 401 ] && grep -q 'key is blocked' '$WORK/kc4.body'"
ok "  ... and the refusals are audited" sh -c "'$CAIRN' audit export --dir '$D' --format jsonl |
	grep '\"est.refused\"' | grep -q 'key is blocked'"
# A key campaign's block is not a compromise: its certificates re-enroll out of it.
csr kc5 /CN=dev-c.iot.test "DNS:dev-c.iot.test"
est_post kc5 iot/simpleenroll -u 'alice:alice password'
p7cert kc5
CSPKI=$(openssl pkey -in "$WORK/kc5.key" -pubout -outform DER | sha256sum | cut -d' ' -f1)
ok "a key campaign retires kc5's key" "$CAIRN" replace --dir "$D" --issued-by-key "$CSPKI" \
	--by "$(date -u -d '+3 days' +%Y-%m-%dT%H:%M:%SZ)"
csr kc6 /CN=dev-c.iot.test "DNS:dev-c.iot.test" "$WORK/kc5.key"
ok "  ... (the key is blocked: a CSR with it is refused)" waits_for sh -c "
	curl -s --cacert '$ROOT' -u 'alice:alice password' -H 'Content-Type: application/pkcs10' \
	--data-binary '@$WORK/kc6.b64' '$EST/iot/simpleenroll' | grep -q blocked"
csr kc7 /CN=dev-c.iot.test "DNS:dev-c.iot.test"
est_post kc7 iot/simplereenroll --cert "$WORK/kc5.pem" --key "$WORK/kc5.key"
ok "  ... kc5 re-enrolls to a new key (200)" status_is kc7 200

# ---- certificates not issued for EST clients ----
cd "$WORK" || bail "no work dir"
export LEGO_CA_CERTIFICATES="$ROOT"
ok "lego gets an ACME (DV) server certificate" lego --server "$HTTPS_URL/acme/directory" \
	--path "$WORK/lego" --email ops@example.test --accept-tos --domains acme-dv.example.test \
	--http --http.port "127.0.0.1:$HP" run
LC=$WORK/lego/certificates/acme-dv.example.test
csr ac1 /CN=acme-dv.example.test "DNS:acme-dv.example.test"
est_post ac1 partners/simpleenroll --interface 127.0.1.1 --cert "$LC.crt" --key "$LC.key"
ok "the ACME certificate does not authenticate simpleenroll, even on a label that lists its profile" \
	not_issued ac1
ok "  ... saying it came from ACME" grep -q "ACME" "$WORK/ac1.body"
est_post ac2 simpleenroll --interface 127.0.1.1 --cert "$LC.crt" --key "$LC.key"
ok "  ... nor on the default label" not_issued ac2
openssl req -new -key "$LC.key" -subj /CN=acme-dv.example.test \
	-addext "subjectAltName=DNS:acme-dv.example.test" -outform DER 2>/dev/null |
	openssl base64 >"$WORK/acre.b64"
BODY=$WORK/acre.b64
est_post acre servers/simplereenroll --interface 127.0.3.7 --cert "$LC.crt" --key "$LC.key"
ok "  ... nor renews itself through EST (no ACME validation bypass)" not_issued acre

# The daemon's own HTTPS certificate: its key is a file in DIR.
csr dt1 /CN=localhost "DNS:localhost"
est_post dt1 simpleenroll --interface 127.0.1.2 --cert "$D/tls/server.pem" --key "$D/tls/server.key"
ok "the daemon's HTTPS certificate + key do not authenticate simpleenroll" not_issued dt1
est_post dt2 partners/simpleenroll --interface 127.0.1.2 --cert "$D/tls/server.pem" --key "$D/tls/server.key"
ok "  ... not even on a label that lists tls-server" not_issued dt2
openssl x509 -x509toreq -in "$D/tls/server.pem" -signkey "$D/tls/server.key" \
	-copy_extensions copyall 2>/dev/null | openssl req -outform DER | openssl base64 >"$WORK/dt3.b64"
BODY=$WORK/dt3.b64
est_post dt3 servers/simplereenroll --interface 127.0.3.8 --cert "$D/tls/server.pem" --key "$D/tls/server.key"
ok "  ... nor re-enroll (a second daemon certificate)" not_issued dt3

# An admin-issued tls-server certificate counts only where a label lists its profile.
make_csr adm ec:P-256 /CN=adm.example.test "DNS:adm.example.test"
"$CAIRN" issue --dir "$D" --csr "$WORK/adm.csr" --profile tls-server --out "$WORK/adm.pem" \
	>/dev/null 2>&1 || bail "cairn issue failed"
csr ad1 /CN=adm.example.test "DNS:adm.example.test"
est_post ad1 simpleenroll --interface 127.0.1.3 --cert "$WORK/adm.pem" --key "$WORK/adm.key"
ok "an admin-issued tls-server certificate on the default label: refused" not_issued ad1
ok "  ... naming est.labels.default.client_cert_profiles" \
	grep -q "client_cert_profiles" "$WORK/ad1.body"
est_post ad2 partners/simpleenroll --cert "$WORK/adm.pem" --key "$WORK/adm.key"
ok "  ... on label partners (client_cert_profiles: tls-server): 200" status_is ad2 200
csr ad3 /CN=adm.example.test "DNS:adm.example.test,DNS:victim.example.test"
est_post ad3 partners/simpleenroll --cert "$WORK/adm.pem" --key "$WORK/adm.key"
ok "  ... but only for its own names" status_is ad3 403
openssl req -new -key "$WORK/adm.key" -subj /CN=adm.example.test \
	-addext "subjectAltName=DNS:adm.example.test" -outform DER 2>/dev/null |
	openssl base64 >"$WORK/adre.b64"
BODY=$WORK/adre.b64
est_post adre partners/simplereenroll --cert "$WORK/adm.pem" --key "$WORK/adm.key"
ok "  ... it re-enrolls there (200)" status_is adre 200
p7cert adre
ok "  ... keeping its own profile: serverAuth, never the label's clientAuth" sh -c "
	e=\$(openssl x509 -in '$WORK/adre.pem' -noout -ext extendedKeyUsage)
	echo \"\$e\" | grep -q 'Server Authentication' && ! echo \"\$e\" | grep -q 'Client Authentication'"

# ---- serverkeygen never leaves a request for approvers ----
before=$(pending_count)
csr kg1 /CN=kg-1 "DNS:kg-1.iot.test"
est_post kg1 held/serverkeygen -u 'kg:keygen password'
ok "serverkeygen on a label whose policy needs approval is refused (403)" status_is kg1 403
ok "  ... saying the key cannot wait" grep -q "cannot wait" "$WORK/kg1.body"
ok "  ... without any key in the answer" sh -c "! grep -qi 'pkcs8\|PRIVATE' '$WORK/kg1.body'"
after=$(pending_count)
ok "  ... and cairn requests list shows nothing new" [ "$after" -eq "$before" ]
csr kg2 /CN=kg-2 "DNS:kg-2.iot.test"
est_post kg2 held/simpleenroll -u 'kg:keygen password'
ok "the same label's simpleenroll still waits for approval (202)" status_is kg2 202

# ---- outside bytes are never echoed raw ----
auth=$(printf 'x\nFORGED\377:password' | openssl base64 -A)
curl -s --interface 127.0.0.5 --cacert "$ROOT" -H "Authorization: Basic $auth" \
	-H 'Content-Type: application/pkcs10' --data-binary "@$WORK/kg2.b64" \
	-o "$WORK/raw.body" -w '%{http_code}' "$EST/simpleenroll" >"$WORK/raw.code"
ok "a Basic user name with a newline and \\xff: 401" status_is raw 401
ok "  ... the body is one line" sh -c "[ \$(wc -l <'$WORK/raw.body') -eq 1 ]"
ok "  ... without the raw 0xff byte" sh -c "! LC_ALL=C grep -q \"\$(printf '\\377')\" '$WORK/raw.body'"
ok "  ... showing the name escaped" grep -qF 'x\x0aFORGED\xff' "$WORK/raw.body"
curl -s --cacert "$ROOT" -o "$WORK/lbl.body" "$EST/%0aBAD%ff/cacerts"
ok "an unknown label with a newline and \\xff is echoed escaped" sh -c "
	[ \$(wc -l <'$WORK/lbl.body') -eq 1 ] && grep -qF '\\x0aBAD\\xff' '$WORK/lbl.body'"

# ---- a login reused on a keep-alive connection skips the slow hash and the limits ----
# conn_open NAME: a TLS connection (openssl s_client) fed through a fifo; conn_send NAME
# USER:PASS CSR sends one simpleenroll on it and waits for its answer.
conn_open() {
	mkfifo "$WORK/$1.fifo"
	openssl s_client -quiet -connect "$HOSTPORT" -CAfile "$ROOT" <"$WORK/$1.fifo" \
		>"$WORK/$1.out" 2>/dev/null &
	eval "${1}_pid=$!"
	CAIRN_PIDS="$CAIRN_PIDS $!"
	eval "exec ${2}>\"$WORK/$1.fifo\""
}
conn_send() {
	n=$(grep -c '^HTTP/1.1 ' "$WORK/$1.out")
	len=$(wc -c <"$4")
	printf 'POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nContent-Type: application/pkcs10\r\nContent-Length: %s\r\n\r\n' \
		"$HOSTPORT" "$(printf '%s' "$3" | openssl base64 -A)" "$len" >&"$2"
	cat "$4" >&"$2"
	i=0
	while [ "$(grep -c '^HTTP/1.1 ' "$WORK/$1.out")" -le "$n" ] && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	grep '^HTTP/1.1 ' "$WORK/$1.out" | tail -n 1 | cut -d' ' -f2
}
conn_open c1 7
csr k1 /CN=carol-1 "DNS:carol-1.example.test"
s1=$(conn_send c1 7 'carol:carol password' "$WORK/k1.b64")
ok "carol enrolls on a keep-alive connection (200)" [ "$s1" = 200 ]
for i in 1 2 3; do
	curl -s --interface 127.0.0.4 --cacert "$ROOT" -u 'carol:wrong password' \
		-H 'Content-Type: application/pkcs10' --data-binary "@$WORK/k1.b64" -o /dev/null \
		"$EST/simpleenroll"
done
curl -s --interface 127.0.0.6 --cacert "$ROOT" -u 'carol:carol password' -D "$WORK/cl.hdr" \
	-H 'Content-Type: application/pkcs10' --data-binary "@$WORK/k1.b64" -o "$WORK/cl.body" \
	-w '%{http_code}' "$EST/simpleenroll" >"$WORK/cl.code"
ok "three wrong passwords for carol lock her name: the right one on a new connection gets 429" \
	status_is cl 429
ok "  ... with Retry-After" grep -Eqi '^Retry-After: [0-9]+' "$WORK/cl.hdr"
csr k2 /CN=carol-2 "DNS:carol-2.example.test"
s2=$(conn_send c1 7 'carol:carol password' "$WORK/k2.b64")
ok "  ... while her keep-alive connection, same credentials, still enrolls (200)" [ "$s2" = 200 ]
s3=$(conn_send c1 7 'carol:another guess' "$WORK/k2.b64")
ok "  ... and other credentials on that connection are limited like any (429)" [ "$s3" = 429 ]
exec 7>&-

# A password change (account removed and added again) ends the reuse.
conn_open c2 8
printf 'bob password 2\n' >"$WORK/pw.bob2"
csr k3 /CN=bob-3 "DNS:bob-3.example.test"
s4=$(conn_send c2 8 'bob:bob password 1' "$WORK/k3.b64")
ok "bob enrolls on another keep-alive connection (200)" [ "$s4" = 200 ]
"$CAIRN" est user del --dir "$D" --name bob >/dev/null 2>&1
"$CAIRN" est user add --dir "$D" --name bob --password-file "$WORK/pw.bob2" >/dev/null 2>&1
s5=$(conn_send c2 8 'bob:bob password 1' "$WORK/k3.b64")
ok "  ... after his password changed, the old credentials on it get 401" [ "$s5" = 401 ]
exec 8>&-

# ---- failed logins are limited per client address, before the slow hash ----
# Each failed login costs the slow hash: time three, to compare the refusals past the limit.
t0=$(date +%s%N)
for i in 1 2 3; do
	curl -s --interface 127.0.0.2 --cacert "$ROOT" -u "nobody$i:wrong password" \
		-H 'Content-Type: application/pkcs10' --data-binary "@$WORK/k1.b64" \
		-o /dev/null -w '%{http_code}\n' "$EST/simpleenroll"
done >"$WORK/bf.codes"
t_fail=$(($(date +%s%N) - t0))
ok "three failed logins from one address are 401" sh -c "[ \$(grep -c 401 '$WORK/bf.codes') -eq 3 ]"
curl -s --interface 127.0.0.2 --cacert "$ROOT" -u 'nobody4:wrong password' -D "$WORK/bf4.hdr" \
	-H 'Content-Type: application/pkcs10' --data-binary "@$WORK/k1.b64" -o "$WORK/bf4.body" \
	-w '%{http_code}' "$EST/simpleenroll" >"$WORK/bf4.code"
ok "the fourth is 429 Too Many Requests" status_is bf4 429
ok "  ... with a Retry-After within the window" sh -c "
	ra=\$(sed -n 's/^Retry-After: *\\([0-9]*\\).*/\\1/Ip' '$WORK/bf4.hdr')
	[ -n \"\$ra\" ] && [ \"\$ra\" -ge 1 ] && [ \"\$ra\" -le 600 ]"
set --
i=0
while [ $i -lt 30 ]; do
	set -- "$@" -o /dev/null "$EST/simpleenroll"
	i=$((i + 1))
done
t0=$(date +%s%N)
curl -s --interface 127.0.0.2 --cacert "$ROOT" -u 'nobody:one more guess' \
	-H 'Content-Type: application/pkcs10' --data-binary "@$WORK/k1.b64" \
	-w '%{http_code}\n' "$@" >"$WORK/bf30.codes"
t_limited=$(($(date +%s%N) - t0))
ok "30 more guesses are all 429" sh -c "[ \$(grep -c 429 '$WORK/bf30.codes') -eq 30 ]"
echo "# 3 failed logins: $((t_fail / 1000000)) ms; 30 refused by the limit: $((t_limited / 1000000)) ms"
ok "  ... answered without the slow hash (all 30 faster than the 3 failed logins)" \
	[ "$t_limited" -lt "$t_fail" ]
curl -s --interface 127.0.0.2 --cacert "$ROOT" -u 'alice:alice password' \
	-H 'Content-Type: application/pkcs10' --data-binary "@$WORK/o4.b64" -o /dev/null \
	-w '%{http_code}' "$EST/iot/simpleenroll" >"$WORK/bfgood.code"
ok "a good account from the locked address is limited too (429: checked before the password)" \
	status_is bfgood 429
audit_jsonl
ok "the lock-out's first refusal is audited, the others are not written one by one" sh -c "
	[ \$(grep '\"est.refused\"' '$WORK/audit.jsonl' | grep '127.0.0.2' | grep -c '\"status\":429') -eq 1 ]"
ok "  ... while each failed login before it is" sh -c "
	[ \$(grep '\"est.refused\"' '$WORK/audit.jsonl' | grep '127.0.0.2' | grep -c '\"status\":401') -eq 3 ]"
curl -s --interface 127.0.0.3 --cacert "$ROOT" -u 'alice:alice password' \
	-H 'Content-Type: application/pkcs10' --data-binary "@$WORK/o4.b64" -o /dev/null \
	-w '%{http_code}' "$EST/iot/simpleenroll" >"$WORK/other.code"
ok "another address is not affected (200)" status_is other 200
ok "client certificates are not limited" sh -c "curl -s --interface 127.0.0.2 --cacert '$ROOT' \
	--cert '$WORK/alice.pem' --key '$WORK/alice.key' -H 'Content-Type: application/pkcs10' \
	--data-binary '@$WORK/o4.b64' -o /dev/null -w '%{http_code}' '$EST/iot/simpleenroll' | grep -q 200"

# Requests without any credential count as failed logins too: limited per address, and a
# flood costs the audit log the refusals before the lock-out and its first 429, not a
# durable write each.
set --
i=0
while [ $i -lt 40 ]; do
	set -- "$@" -o /dev/null "$EST/simpleenroll"
	i=$((i + 1))
done
# Each line: the status and whether curl opened a new connection for it (a transfer that
# reconnects is one curl may have sent twice: shown when the audit check fails).
curl -s --interface 127.0.0.9 --cacert "$ROOT" -H 'Content-Type: application/pkcs10' \
	--data-binary "@$WORK/k1.b64" -w '%{http_code} %{num_connects}\n' "$@" >"$WORK/anon.codes"
ok "40 requests without credentials from one address: the first 3 are 401" \
	test "$(awk 'NR <= 3 { printf "%s ", $1 }' "$WORK/anon.codes")" = '401 401 401 '
ok "  ... the other 37 are 429" test "$(awk '$1 == 429' "$WORK/anon.codes" | wc -l)" -eq 37
curl -s --interface 127.0.0.9 --cacert "$ROOT" -D "$WORK/anon.hdr" -o /dev/null \
	-H 'Content-Type: application/pkcs10' --data-binary "@$WORK/k1.b64" "$EST/simpleenroll"
ok "  ... with Retry-After" grep -Eqi '^Retry-After: [0-9]+' "$WORK/anon.hdr"
# The refusals audited for 127.0.0.9: exactly the three 401s and one 429. On failure the
# output shows each audited one, the transfers that reconnected and what the daemon
# logged about audit writes.
anon_audited() {
	grep '"est.refused"' "$WORK/audit.jsonl" | grep -F '"remote":"127.0.0.9"' >"$WORK/anon.audit"
	jq -c '[.seq, .time, .details.status, .details.reason]' "$WORK/anon.audit"
	echo "export: $(wc -l <"$WORK/audit.jsonl") lines"; cat "$WORK/audit.err"
	awk 'NR > 1 && $2 > 0 { print "transfer " NR " (" $1 ") reconnected" }' "$WORK/anon.codes"
	grep -i 'audit' "$D.serve.log" | grep -i 'fail' | tail -n 5
	[ "$(wc -l <"$WORK/anon.audit")" -eq 4 ] &&
		[ "$(grep -c '"status":429' "$WORK/anon.audit")" -eq 1 ]
}
audit_jsonl
ok "  ... audited: the three 401s and the lock-out's first 429, nothing more" anon_audited
ok "  ... cacerts stays open to that address (no credential needed)" sh -c "
	curl -s --interface 127.0.0.9 --cacert '$ROOT' -o /dev/null -w '%{http_code}' '$EST/cacerts' | grep -qx 200"
# simplereenroll is proven by the client certificate alone: a request without one, or with
# one that does not count (an ACME certificate: anyone may get one), is a failed login of
# its address like simpleenroll's. It used to be refused before any limit: a durable audit
# write for every request, from anyone.
# reenroll_flood ADDR OUT [curl options]: 20 simplereenroll requests from ADDR.
reenroll_flood() {
	addr=$1 out=$2
	shift 2
	i=0
	while [ $i -lt 20 ]; do
		curl -s --interface "$addr" --cacert "$ROOT" -H 'Content-Type: application/pkcs10' \
			--data-binary "@$WORK/k1.b64" -o /dev/null -w '%{http_code}\n' "$@" \
			"$EST/servers/simplereenroll"
		i=$((i + 1))
	done >"$WORK/$out.codes"
}
# codes_are OUT FIRST: the first 3 of OUT.codes are FIRST, the other 17 are 429.
codes_are() {
	test "$(awk 'NR <= 3' "$WORK/$1.codes" | tr '\n' ' ')" = "$2 $2 $2 " &&
		test "$(awk 'NR > 3 && $1 == 429' "$WORK/$1.codes" | wc -l)" -eq 17
}
# refused_audited ADDR: the number of est.refused events of ADDR.
refused_audited() {
	grep '"est.refused"' "$WORK/audit.jsonl" | grep -cF "\"remote\":\"$1\""
}
reenroll_flood 127.0.0.10 renone
ok "20 simplereenroll without a client certificate: 3 are 401, then 429" codes_are renone 401
reenroll_flood 127.0.0.11 reacme --cert "$LC.crt" --key "$LC.key"
ok "20 simplereenroll with an ACME certificate: 3 are 403, then 429" codes_are reacme 403
audit_jsonl
ok "  ... each address audited four times (the refusals and the lock-out's first 429)" \
	test "$(refused_audited 127.0.0.10) $(refused_audited 127.0.0.11)" = "4 4"
p7cert kc7
ok "  ... a device's own certificate still re-enrolls from a locked address (200)" sh -c "
	curl -s --interface 127.0.0.10 --cacert '$ROOT' --cert '$WORK/kc7.pem' --key '$WORK/kc7.key' \
	-H 'Content-Type: application/pkcs10' --data-binary '@$WORK/kc7.b64' -o /dev/null \
	-w '%{http_code}' '$EST/iot/simplereenroll' | grep -qx 200"

# ---- the window ends: a clock moved by libfaketime lets the address try again ----
ca_stop
# The lock-outs of .10 and .11 were still running: the stop audits what only memory held.
"$CAIRN" audit export --dir "$D" --unsigned --format jsonl >"$WORK/audit.jsonl"
ok "the stop audits each running lock-out's 17 refusals (est.login_limited, at_stop)" sh -c "
	grep '\"est.login_limited\"' '$WORK/audit.jsonl'
	for a in 127.0.0.10 127.0.0.11; do
		grep '\"est.login_limited\"' '$WORK/audit.jsonl' | grep -F \"addr:\$a\\\"\" |
			grep '\"at_stop\":true' | grep -q '\"refused\":17[,}]' || exit 1
	done"
clock_set "$WORK/faketime" +0
# The offset is read from a file at every clock call, so the test moves the daemon's clock
# while it runs.
ca_serve_at "$D" FAKETIME_TIMESTAMP_FILE="$WORK/faketime" FAKETIME_NO_CACHE=1 ||
	bail "cairn serve under libfaketime did not start"
EST=$HTTPS_URL/.well-known/est
for i in 1 2 3 4; do
	curl -s --interface 127.0.0.7 --cacert "$ROOT" -u "nobody:wrong password" \
		-H 'Content-Type: application/pkcs10' --data-binary "@$WORK/k1.b64" \
		-o /dev/null -w '%{http_code}\n' "$EST/simpleenroll"
done >"$WORK/win.codes"
ok "(restarted) 3 failures then 429" sh -c "[ \"\$(tr '\n' ' ' <'$WORK/win.codes')\" = '401 401 401 429 ' ]"
clock_set "$WORK/faketime" +700
curl -s --interface 127.0.0.7 --cacert "$ROOT" -u "nobody:wrong password" \
	-H 'Content-Type: application/pkcs10' --data-binary "@$WORK/k1.b64" -o /dev/null \
	-w '%{http_code}' "$EST/simpleenroll" >"$WORK/win.code"
ok "once the window (600 s) has passed the address may try again (401, not 429)" status_is win 401
audit_jsonl
ok "  ... and the lock-out is summarised in the audit log" sh -c "
	grep '\"est.login_limited\"' '$WORK/audit.jsonl' | grep -q '127.0.0.7'"
ok "the audit chain is intact" "$CAIRN" audit verify --dir "$D"

# ---- configuration: admin and init-made profiles never authenticate EST clients ----
ca_stop
jq '.est.labels.default.client_cert_profiles = ["tls-client", "admin"]' "$WORK/cairn.json" \
	>"$D/cairn.json"
fails "client_cert_profiles with admin is refused" "$CAIRN" config check --dir "$D"
last_has "  ... naming the key" "est.labels.default.client_cert_profiles\[1\]"
jq '.est.labels.default.client_cert_profiles = ["daemon-tls"]' "$WORK/cairn.json" >"$D/cairn.json"
fails "client_cert_profiles with daemon-tls is refused" "$CAIRN" config check --dir "$D"
jq '.est.labels.default.client_cert_profiles = ["no-such"]' "$WORK/cairn.json" >"$D/cairn.json"
fails "client_cert_profiles with an unknown profile stops serve" "$CAIRN" serve --dir "$D"
last_has "  ... naming it" "client_cert_profiles\[0\]: no profile named no-such"

done_testing
