#!/bin/sh
# SPDX-License-Identifier: MIT
# Approvals, roles, tokens and the audit trail through the running daemon's admin API and CLI.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
cat >"$D/policy.json" <<'JSON'
{"rules": [
  {"name": "admins",  "match": {"profile": "admin", "channel": "admin"}, "action": "issue"},
  {"name": "dev",     "match": {"dns_suffix": [".dev.test"]},  "action": "issue"},
  {"name": "prod",    "match": {"dns_suffix": [".prod.test"]}, "action": "approve", "approvals": 2},
  {"name": "default", "match": {},                              "action": "reject", "reason": "not allowed by policy"}
]}
JSON
ca_serve "$D" || bail "cairn serve did not start"
ROOT=$D/ca/root.pem
# Audit times have one-second resolution: the export range starts on the next second.
sleep 1
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# api TOKENFILE METHOD PATH [BODY]: prints the status, body in $WORK/api.out.
api() {
	curl -s --cacert "$ROOT" -o "$WORK/api.out" -w '%{http_code}' -X "$2" \
		-H "Authorization: Bearer $(cat "$1")" -H 'Content-Type: application/json' \
		${4:+-d "$4"} "$HTTPS_URL/admin/v1$3"
}
api_is() { [ "$(api "$2" "$3" "$4" "${5:-}")" = "$1" ]; }
req_id() { sed -n 's/^request \([0-9a-f]\{32\}\) pending.*/\1/p' "$WORK/last.out"; }
C() { "$CAIRN" "$@" --dir "$D"; }

# Tokens are for admins that exist (`admin add`), each shown once on stdout.
fails "a token for someone who is not an admin is refused" C token create --name alice --role approver
last_has "  ... saying to add the admin first" "no admin alice.*admin add"
for who in alice:approver bob:approver audrey:auditor oscar:operator; do
	C admin add --name "${who%%:*}" --role "${who#*:}" >/dev/null 2>&1 || bail "admin add $who failed"
done
ok "token create for an approver prints only the token" sh -c "
	'$CAIRN' token create --dir '$D' --name alice --role approver >'$WORK/alice.tok' &&
	[ \$(wc -l <'$WORK/alice.tok') -eq 1 ] && grep -q '^cairn_' '$WORK/alice.tok'"
ok "a second approver" sh -c "'$CAIRN' token create --dir '$D' --name bob --role approver >'$WORK/bob.tok'"
ok "an auditor" sh -c "'$CAIRN' token create --dir '$D' --name audrey --role auditor >'$WORK/audrey.tok'"
ok "an operator" sh -c "'$CAIRN' token create --dir '$D' --name oscar --role operator >'$WORK/oscar.tok'"
fails "a token for an existing admin with another role is refused" C token create --name alice --role admin
last_has "  ... saying why" "alice has role approver"
fails "an unknown role is refused" C token create --name eve --role root
fails "a token that would expire in 99999 years is refused" \
	C token create --name alice --role approver --expires-in 99999y
last_has "  ... saying how long a token may last" "at most 10y .*leave it out"
ok "  ... 10y is the longest" sh -c "
	'$CAIRN' token create --dir '$D' --name alice --role approver --expires-in 10y >/dev/null &&
	y=\$(date -u +%Y)
	'$CAIRN' token list --dir '$D' | grep -Eq \"alice .*active  (\$((y + 9))|\$((y + 10)))-\""
ok "admin list shows the admins and roles" C admin list
last_has "  ... alice is an approver" "alice +approver +enabled"
last_has "  ... the bootstrap admin from init is there" "bootstrap +admin"

# A dev name is issued at once; a prod name waits for two distinct approvers.
make_csr dev ec:P-256 /CN=www.dev.test "DNS:www.dev.test"
make_csr prod ec:P-256 /CN=api.prod.test "DNS:api.prod.test"
make_csr prod2 ec:P-256 /CN=db.prod.test "DNS:db.prod.test"
make_csr other ec:P-256 /CN=www.example.org "DNS:www.example.org"
ok "a dev name is issued immediately" C issue --csr "$WORK/dev.csr" --profile tls-server --out "$WORK/dev.pem"
fails "a prod name is not issued at once" C issue --csr "$WORK/prod.csr" --profile tls-server
last_has "  ... it waits for 2 approvals" "pending: 2 approvals needed \(rule prod\)"
ID=$(req_id)
ok "  ... and has a request id" test ${#ID} -eq 32
fails "anything else is rejected" C issue --csr "$WORK/other.csr" --profile tls-server
last_has "  ... with the rule and reason" "rejected by policy rule default: not allowed by policy"
ok "requests list shows the pending request" C requests list
last_has "  ... with 0 of 2 approvals" "$ID +pending +admin +prod +0/2"
fails "the requester cannot approve its own request" C requests approve "$ID"
last_has "  ... 403 saying so" "403.*cannot approve"
ok "an approval with \"coment\" is refused (400), not counted without its comment" \
	api_is 400 "$WORK/alice.tok" POST "/requests/$ID/approve" '{"coment": "looks right"}'
ok "  ... naming the member" grep -q 'coment' "$WORK/api.out"
ok "alice approves" C requests approve "$ID" --token-file "$WORK/alice.tok" --comment "looks right"
last_has "  ... one of two" "pending \(1/2 approvals\)"
fails "alice approving twice does not count" C requests approve "$ID" --token-file "$WORK/alice.tok"
last_has "  ... 409 already approved" "409.*already approved"
ok "  ... still one approval" sh -c "'$CAIRN' requests show '$ID' --dir '$D' |
	jq -e '.approvals_have == 1 and [.approvals[].by] == [\"admin:alice\"]'"
ok "an auditor token cannot approve (403 problem)" api_is 403 "$WORK/audrey.tok" POST "/requests/$ID/approve" '{}'
ok "  ... a forbidden problem document" grep -q '"type": "urn:cairn:problem:forbidden"' "$WORK/api.out"
fails "an operator cannot approve a rule that wants approvers" C requests approve "$ID" --token-file "$WORK/oscar.tok"
last_has "  ... and is told which role it needs" "needs approver or admin"
ok "bob approves: the certificate is issued" env CAIRN_TOKEN="$(cat "$WORK/bob.tok")" "$CAIRN" requests approve "$ID" --dir "$D"
last_has "  ... with its serial" "issued \(2/2 approvals\), serial [0-9a-f]+"
SERIAL=$(sed -n 's/.*serial \([0-9a-f]*\).*/\1/p' "$WORK/last.out")
ok "  ... the certificate is in the inventory for the prod name" sh -c "
	'$CAIRN' show --dir '$D' --pem $SERIAL >'$WORK/prod.pem' &&
	openssl x509 -in '$WORK/prod.pem' -noout -ext subjectAltName | grep -q 'DNS:api.prod.test' &&
	openssl verify -CAfile '$ROOT' -untrusted '$D/ca/issuing.pem' '$WORK/prod.pem'"
fails "a decided request takes no more approvals" C requests approve "$ID" --token-file "$WORK/alice.tok"
last_has "  ... 409 not pending" "409.*not pending"

# One reject ends a request.
fails "a second prod request waits" C issue --csr "$WORK/prod2.csr" --profile tls-server
ID2=$(req_id)
ok "alice rejects it with a comment" C requests reject "$ID2" --token-file "$WORK/alice.tok" --comment "not ours"
last_has "  ... it is rejected" "rejected"
fails "  ... bob can no longer approve it" C requests approve "$ID2" --token-file "$WORK/bob.tok"
ok "  ... show gives the reason and who decided" sh -c "'$CAIRN' requests show '$ID2' --dir '$D' >'$WORK/r2' &&
	grep -q '\"reason\": \"not ours\"' '$WORK/r2' && grep -q '\"decided_by\": \"admin:alice\"' '$WORK/r2'"
ok "requests list --status rejected finds it" sh -c "'$CAIRN' requests list --dir '$D' --status rejected | grep -q '$ID2'"

# The API: pagination, search, audit query, policy.
ok "GET /requests?status=all&limit=1 pages" api_is 200 "$WORK/audrey.tok" GET '/requests?status=all&limit=1'
ok "  ... total and next link" sh -c "grep -q '\"total\": 2' '$WORK/api.out' &&
	grep -q '\"next\": \"/admin/v1/requests?offset=1&limit=1' '$WORK/api.out'"
ok "GET /certificates?name= finds the approved certificate" api_is 200 "$WORK/audrey.tok" GET '/certificates?name=api.prod.test'
ok "  ... by serial" grep -q "$SERIAL" "$WORK/api.out"
ok "GET /certificates?requester=&status=&limit= filters and pages" api_is 200 "$WORK/audrey.tok" GET \
	'/certificates?requester=admin:bootstrap&status=valid&limit=1'
ok "  ... more to come" grep -q '"more": true' "$WORK/api.out"
ok "GET /certificates/<21 bytes>: 400, not a lookup" api_is 400 "$WORK/audrey.tok" GET \
	"/certificates/$(printf '%042d' 0)"
ok "  ... saying the serial is too long for one" grep -q 'is not 1..20 bytes of hex' "$WORK/api.out"
ok "GET /certificates/<not hex>: 400" api_is 400 "$WORK/audrey.tok" GET '/certificates/xyz'
ok "GET /certificates?serial=<not hex>: 400, not an empty page" api_is 400 "$WORK/audrey.tok" GET \
	'/certificates?serial=zz'
ok "  ... naming the serial" grep -q 'serial zz is not 1..20 bytes of hex' "$WORK/api.out"
# A misspelt filter is refused, not ignored (which answered every certificate).
ok "GET /certificates?stauts=revoked: 400, not every certificate" api_is 400 "$WORK/audrey.tok" GET \
	'/certificates?stauts=revoked'
ok "  ... naming it and what the endpoint takes" grep -q \
	'unknown query parameter \\"stauts\\": GET /admin/v1/certificates takes name, serial, status' \
	"$WORK/api.out"
ok "GET /admins?x=1: 400" api_is 400 "$WORK/audrey.tok" GET '/admins?x=1'
ok "  ... /admins takes none" grep -q 'GET /admin/v1/admins takes none' "$WORK/api.out"
ok "GET /reports/expiring?colour=1: 400 naming the report's path" api_is 400 "$WORK/audrey.tok" GET \
	'/reports/expiring?colour=1'
ok "  ... and its parameters" grep -q 'GET /admin/v1/reports/expiring takes within, by, limit' \
	"$WORK/api.out"
ok "GET /requests?%ff=1 (a name that is not UTF-8): 400" api_is 400 "$WORK/audrey.tok" GET \
	'/requests?%ff=1'
ok "  ... shown as U+FFFD, not dropped" grep -q "unknown query parameter \\\\\"$(printf '\357\277\275')" \
	"$WORK/api.out"
ok "an empty name (a trailing &) is passed over" api_is 200 "$WORK/audrey.tok" GET \
	'/certificates?status=valid&limit=1&'
# A body member an endpoint does not know is refused, not dropped: "expire_in" for
# "expires_in" made a token that never expires.
C admin add --name kim --role admin >/dev/null 2>&1 &&
	C token create --name kim --role admin >"$WORK/kim.tok" 2>/dev/null || bail "token for kim failed"
api_is 200 "$WORK/kim.tok" GET /tokens && TOKS=$(jq '.items | length' "$WORK/api.out")
ok "POST /tokens with \"expire_in\": 400" api_is 400 "$WORK/kim.tok" POST /tokens \
	'{"name": "kim", "role": "admin", "expire_in": "1h"}'
ok "  ... naming the member" grep -q 'expire_in' "$WORK/api.out"
ok "  ... and no token was made" sh -c "
	[ \$(curl -s --cacert '$ROOT' -H \"Authorization: Bearer \$(cat '$WORK/kim.tok')\" \
		'$HTTPS_URL/admin/v1/tokens' | jq '.items | length') -eq $TOKS ]"
ok "POST /admins with \"emial\": 400 naming it" sh -c "
	[ \$(curl -s --cacert '$ROOT' -o '$WORK/api.out' -w '%{http_code}' \
		-H \"Authorization: Bearer \$(cat '$WORK/kim.tok')\" -H 'Content-Type: application/json' \
		-d '{\"name\": \"lee\", \"role\": \"auditor\", \"emial\": \"lee@example.test\"}' \
		'$HTTPS_URL/admin/v1/admins') = 400 ] && grep -q emial '$WORK/api.out'"
ok "POST /policy/test with \"profil\" (a good CSR): 400" api_is 400 "$WORK/kim.tok" POST /policy/test \
	"$(jq -n --rawfile c "$WORK/dev.csr" '{csr: $c, channel: "admin", profil: "tls-server"}')"
ok "  ... naming it" grep -q 'profil' "$WORK/api.out"
# An endpoint without options refuses a body with any (it was ignored: a caller asking
# POST /policy/reload {"file": ...} got the daemon's own file reloaded and a 200).
ok "POST /policy/reload {\"file\": ...}: 400 naming it" api_is 400 "$WORK/kim.tok" POST /policy/reload \
	'{"file": "/tmp/other.json"}'
ok "  ... takes no options" grep -q 'unknown member \\"file\\": POST /admin/v1/policy/reload takes no options' \
	"$WORK/api.out"
ok "GET /certificates?requester= that is not UTF-8: 400" api_is 400 "$WORK/audrey.tok" GET \
	'/certificates?requester=admin%3A%FFolivia'
ok "  ... a problem saying why" grep -q 'UTF-8' "$WORK/api.out"
ok "GET /certificates?requester= longer than any record holds (128 bytes): 400" api_is 400 \
	"$WORK/audrey.tok" GET "/certificates?requester=admin:$(printf '%0122d' 0)"
ok "  ... a problem saying why" grep -q '127 bytes' "$WORK/api.out"
ok "GET /certificates?requester= of nobody: 200, none" api_is 200 "$WORK/audrey.tok" GET \
	'/certificates?requester=admin:nobody'
ok "  ... an empty list" grep -q '"items": \[\]' "$WORK/api.out"
ok "GET /audit?action=request.approve" api_is 200 "$WORK/audrey.tok" GET '/audit?action=request.approve'
ok "  ... lists both approvals" grep -q '"total": 2' "$WORK/api.out"
ok "GET /policy shows the rules in force" api_is 200 "$WORK/audrey.tok" GET /policy
ok "  ... with the reason" grep -q 'not allowed by policy' "$WORK/api.out"
csr=$(perl -0777 -pe 's/\n/\\n/g' "$WORK/prod.csr")
ok "POST /policy/test" api_is 200 "$WORK/audrey.tok" POST /policy/test "{\"csr\":\"$csr\",\"channel\":\"acme\"}"
ok "  ... says rule prod decides: approve" sh -c "grep -q '\"rule\": \"prod\"' '$WORK/api.out' &&
	grep -q '\"action\": \"approve\"' '$WORK/api.out'"
ok "cairn policy test prints the deciding rule and why" C policy test --csr "$WORK/prod.csr" --channel acme --requester acme:acct/1
last_has "  ... rule prod, 2 approvals" "decision: approve by rule prod: 2 approval"
last_has "  ... and why dev did not match" "rule dev passed over: DNS name api.prod.test"
ok "an auditor cannot revoke (403)" api_is 403 "$WORK/audrey.tok" POST "/certificates/$SERIAL/revoke" '{"reason":"superseded"}'
ok "an operator can revoke" api_is 200 "$WORK/oscar.tok" POST "/certificates/$SERIAL/revoke" '{"reason":"superseded"}'
ok "  ... the search sees it revoked" api_is 200 "$WORK/audrey.tok" GET "/certificates?serial=$SERIAL&status=revoked"
ok "  ... (one hit)" grep -q '"total": 1' "$WORK/api.out"
ok "an approver cannot create tokens (403)" api_is 403 "$WORK/alice.tok" POST /tokens '{"name":"x","role":"admin"}'
ok "unknown request id is a 404 problem" api_is 404 "$WORK/audrey.tok" GET /requests/00112233445566778899aabbccddeeff
ok "a bad limit is a 400 problem" api_is 400 "$WORK/audrey.tok" GET '/requests?limit=0'
# The query is read strictly: an empty value is not the default, a number is digits in
# the documented range (these were 200: the default page, or every inventory row).
ok "GET /requests?limit= (empty): 400, not the default page" api_is 400 "$WORK/audrey.tok" GET \
	'/requests?limit='
ok "  ... naming the parameter" grep -q 'query parameter \\"limit\\" is empty' "$WORK/api.out"
ok "  ... a problem document" grep -q '"type": "urn:cairn:problem:malformed"' "$WORK/api.out"
ok "GET /requests?status= (empty): 400, not every request" api_is 400 "$WORK/audrey.tok" GET \
	'/requests?status='
ok "GET /certificates?after= (empty): 400, not the first page" api_is 400 "$WORK/audrey.tok" GET \
	'/certificates?after='
ok "GET /audit?since= (empty): 400" api_is 400 "$WORK/audrey.tok" GET '/audit?since='
ok "GET /requests?limit=5&limit=7: 400, not the first value" api_is 400 "$WORK/audrey.tok" GET \
	'/requests?limit=5&limit=7'
ok "  ... naming it" grep -q 'query parameter \\"limit\\" is given more than once' "$WORK/api.out"
ok "GET /certificates?status (no '='): 400, not every certificate" api_is 400 "$WORK/audrey.tok" GET \
	'/certificates?status'
ok "  ... naming it" grep -q 'query parameter \\"status\\" is empty' "$WORK/api.out"
ok "GET /requests?limit (no '='): 400" api_is 400 "$WORK/audrey.tok" GET '/requests?limit'
ok "GET /certificates?status=valid&status=revoked: 400" api_is 400 "$WORK/audrey.tok" GET \
	'/certificates?status=valid&status=revoked'
ok "GET /audit/export?since=2020-01-01&since=2020-01-02: 400" \
	api_is 400 "$WORK/audrey.tok" GET '/audit/export?since=2020-01-01&since=2020-01-02'
ok "GET /audit?limit=%2B5 (+5): 400, digits only" api_is 400 "$WORK/audrey.tok" GET '/audit?limit=%2B5'
ok "  ... naming the range" grep -q 'limit must be an integer 1..1000' "$WORK/api.out"
ok "GET /audit?limit=99999999999999999999999: 400" api_is 400 "$WORK/audrey.tok" GET \
	'/audit?limit=99999999999999999999999'
ok "GET /inventory?limit=0: 400" api_is 400 "$WORK/audrey.tok" GET '/inventory?limit=0'
ok "  ... naming the range" grep -q 'limit must be an integer 1..1000' "$WORK/api.out"
ok "GET /inventory?limit=1000000: 400" api_is 400 "$WORK/audrey.tok" GET '/inventory?limit=1000000'
ok "GET /inventory?limit=1000: 200" api_is 200 "$WORK/audrey.tok" GET '/inventory?limit=1000'
ok "GET /reports/expiring?limit=0: 400" api_is 400 "$WORK/audrey.tok" GET '/reports/expiring?limit=0'
ok "GET /audit/export?since=&until=: 400 (cairn audit export leaves out the bounds it has not)" \
	api_is 400 "$WORK/audrey.tok" GET '/audit/export?format=jsonl&since=&until='
ok "  ... and \`cairn audit export\`, unbounded and bounded, still exports signed" sh -c \
	"'$CAIRN' audit export --dir '$D' --format jsonl >/dev/null &&
	'$CAIRN' audit export --dir '$D' --format jsonl --since 2020-01-01 >/dev/null"

# Admins may log in with a certificate of the admin profile instead of a token.
ok "admin add carol (approver)" C admin add --name carol --role approver
make_csr carol ec:P-256 /CN=carol
make_csr dan ec:P-256 /CN=dan
ok "an admin certificate for carol is issued" C issue --csr "$WORK/carol.csr" --profile admin --out "$WORK/carol.pem"
ok "an operator may not issue admin certificates (403)" api_is 403 "$WORK/oscar.tok" POST /certificates \
	"{\"csr\":\"$(perl -0777 -pe 's/\n/\\n/g' "$WORK/dan.csr")\",\"profile\":\"admin\"}"
# denied ACTOR REGEX: an admin.denied event of ACTOR matches REGEX.
denied() {
	C audit export --format jsonl | grep '"action":"admin.denied"' | grep -F "\"actor\":\"$1\"" |
		grep -Eq -- "$2"
}
ok "  ... audited with who tried and why" denied admin:oscar 'only the admin role may issue admin-profile'
fails "a third prod request waits" C issue --csr "$WORK/prod2.csr" --profile tls-server
ID3=$(req_id)
cert_api() {
	curl -s --cacert "$ROOT" --cert "$1.pem" --key "$1.key" -o "$WORK/api.out" -w '%{http_code}' \
		-X "$2" -H 'Content-Type: application/json' ${4:+-d "$4"} "$HTTPS_URL/admin/v1$3"
}
cert_is() { [ "$(cert_api "$2" "$3" "$4" "${5:-}")" = "$1" ]; }
ok "carol approves with her TLS client certificate" cert_is 200 "$WORK/carol" POST "/requests/$ID3/approve" '{}'
ok "  ... recorded as admin:carol" sh -c "'$CAIRN' requests show '$ID3' --dir '$D' | grep -q '\"by\": \"admin:carol\"'"
ok "a certificate for someone who is not an admin gets 401" sh -c "
	'$CAIRN' issue --dir '$D' --csr '$WORK/dan.csr' --profile admin --out '$WORK/dan.pem' 2>/dev/null &&
	[ \$(curl -s --cacert '$ROOT' --cert '$WORK/dan.pem' --key '$WORK/dan.key' -o '$WORK/api.out' \
		-w '%{http_code}' '$HTTPS_URL/admin/v1/requests') = 401 ] && grep -q 'no admin dan' '$WORK/api.out'"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/fake.key" \
	-out "$WORK/fake.pem" -subj /CN=carol -days 1 2>/dev/null
ok "a self-made certificate naming carol gets 401" cert_is 401 "$WORK/fake" GET /requests

# An admin certificate is a login: only the admin role may hold, revoke or release it, and a
# console session it opened ends when it is refused (releasing the hold does not revive it).
ok "admin add adam (admin)" C admin add --name adam --role admin
make_csr adam ec:P-256 /CN=adam
ok "an admin certificate for adam is issued" C issue --csr "$WORK/adam.csr" --profile admin --out "$WORK/adam.pem"
ASER=$(openssl x509 -in "$WORK/adam.pem" -noout -serial | cut -d= -f2 | tr A-F a-f)
ok "adam signs in to the console with it" sh -c "[ \$(curl -s --cacert '$ROOT' --cert '$WORK/adam.pem' \
	--key '$WORK/adam.key' -c '$WORK/adam.jar' -o /dev/null -w '%{http_code}' -X POST \
	'$HTTPS_URL/admin/v1/session') = 201 ]"
# jar_is STATUS PATH: GET PATH with adam's session cookie answers STATUS.
jar_is() {
	[ "$(curl -s --cacert "$ROOT" -b "$WORK/adam.jar" -o "$WORK/api.out" -w '%{http_code}' \
		"$HTTPS_URL/admin/v1$2")" = "$1" ]
}
ok "  ... the session reads the tokens (admin and auditor only)" jar_is 200 /tokens
# revoke_is STATUS TOKENFILE REASON: revoking adam's certificate for REASON answers STATUS.
revoke_is() { api_is "$1" "$2" POST "/certificates/$ASER/revoke" "{\"reason\":\"$3\"}"; }
ok "an operator may not put an admin certificate on hold (403)" revoke_is 403 "$WORK/oscar.tok" certificateHold
ok "  ... nor revoke it (403)" revoke_is 403 "$WORK/oscar.tok" keyCompromise
ok "  ... audited" denied admin:oscar "$ASER/revoke"
ok "  ... adam's certificate still logs in" cert_is 200 "$WORK/adam" GET /requests
ok "the admin role puts it on hold" revoke_is 200 "$D/admin.token" certificateHold
ok "  ... the certificate gets 401" cert_is 401 "$WORK/adam" GET /requests
ok "  ... so does the session it opened" jar_is 401 /tokens
ok "an operator may not release the hold (403)" revoke_is 403 "$WORK/oscar.tok" removeFromCRL
ok "  ... a problem saying only the admin role may" grep -q 'only the admin role may hold, revoke or release' "$WORK/api.out"
ok "  ... audited" denied admin:oscar "may not release"
ok "  ... nor through POST /revocations" api_is 200 "$WORK/oscar.tok" POST /revocations \
	"{\"serials\":[\"$ASER\"],\"reason\":\"removeFromCRL\"}"
ok "  ... which lists it as forbidden" sh -c "jq -e '.revoked == 0 and .results[0].status == \"forbidden\"' '$WORK/api.out'"
ok "  ... audited" denied admin:oscar '"path":"/revocations".*1 of 1 refused'
ok "  ... the certificate is still on hold" cert_is 401 "$WORK/adam" GET /requests
ok "the admin role releases the hold" revoke_is 200 "$D/admin.token" removeFromCRL
ok "  ... the certificate logs in again" cert_is 200 "$WORK/adam" GET /requests
ok "  ... but the session it opened stays ended (401)" jar_is 401 /tokens
ok "  ... saying so" grep -q 'session expired or signed out' "$WORK/api.out"

# A key revoked for keyCompromise (through another certificate of it) signs nobody in.
ok "adam signs in again with his certificate" sh -c "[ \$(curl -s --cacert '$ROOT' --cert \
	'$WORK/adam.pem' --key '$WORK/adam.key' -c '$WORK/adam.jar' -o /dev/null -w '%{http_code}' \
	-X POST '$HTTPS_URL/admin/v1/session') = 201 ]"
openssl req -new -key "$WORK/adam.key" -subj /CN=adam.dev.test -addext subjectAltName=DNS:adam.dev.test -out "$WORK/adam2.csr" 2>/dev/null
ok "another certificate of adam's key (tls-client) is issued" \
	C issue --csr "$WORK/adam2.csr" --profile tls-client --out "$WORK/adam2.pem"
ok "  ... and revoked for keyCompromise" C revoke "$(openssl x509 -in "$WORK/adam2.pem" -noout \
	-serial | cut -d= -f2)" --reason keyCompromise
ok "adam's admin certificate, of that key, no longer signs in (401)" cert_is 401 "$WORK/adam" GET /requests
ok "  ... saying the key is blocked" grep -q "key is blocked" "$WORK/api.out"
ok "  ... and the session it opened ends" jar_is 401 /tokens

# A cross-site refusal is audited under the credential that came with it.
ok "a change a browser marks cross-site is refused, token or not (403)" sh -c "[ \$(curl -s \
	--cacert '$ROOT' -o /dev/null -w '%{http_code}' -X POST -H 'Sec-Fetch-Site: cross-site' \
	-H \"Authorization: Bearer \$(cat '$WORK/oscar.tok')\" '$HTTPS_URL/admin/v1/notify/test') = 403 ]"
ok "  ... audited under the token's admin" denied admin:oscar 'cross-site request'

# One admin holds at most 16 console sessions: a 17th sign-in drops its oldest, not others'.
# signin TOKENFILE N: a console sign-in with the token, its cookie in $WORK/sN.jar.
signin() {
	curl -s --cacert "$ROOT" -H "Authorization: Bearer $(cat "$1")" -c "$WORK/s$2.jar" \
		-o /dev/null -w '%{http_code}' -X POST "$HTTPS_URL/admin/v1/session"
}
# session_is STATUS N: GET /session with the cookie of sign-in N answers STATUS.
session_is() {
	[ "$(curl -s --cacert "$ROOT" -b "$WORK/s$2.jar" -o /dev/null -w '%{http_code}' \
		"$HTTPS_URL/admin/v1/session")" = "$1" ]
}
ok "alice signs in to the console" test "$(signin "$WORK/alice.tok" 0)" = 201
n=0
for i in $(seq 1 17); do
	[ "$(signin "$WORK/oscar.tok" "$i")" = 201 ] && n=$((n + 1))
done
ok "oscar signs in 17 times" test "$n" -eq 17
ok "  ... his first session was dropped" session_is 401 1
ok "  ... his second still works" session_is 200 2
ok "  ... and his last" session_is 200 17
ok "  ... and alice's session is untouched" session_is 200 0

# A remote daemon: --url and --cacert instead of --dir.
ok "requests list with --url --cacert --token-file" "$CAIRN" requests list --status all \
	--url "$HTTPS_URL" --cacert "$ROOT" --token-file "$WORK/alice.tok"
last_has "  ... sees the requests" "$ID"
fails "--url without a trusted CA fails cleanly" "$CAIRN" requests list --url "$HTTPS_URL" \
	--cacert "$WORK/fake.pem" --token-file "$WORK/alice.tok"
last_one_line "  ... in one line"

# A NUL (%00) in the path or a query key or value is refused before any route: it used
# to cut the C string short (/admins%00x answered as /admins, pending%00 as pending).
ok "GET /admins%00x is 400, not /admins" api_is 400 "$D/admin.token" GET '/admins%00x'
ok "  ... a problem document saying why" jq -e '.status == 400 and (.detail | test("NUL byte"))' "$WORK/api.out"
ok "GET /requests?status=pending%00 is 400, not the pending ones" \
	api_is 400 "$D/admin.token" GET '/requests?status=pending%00'
ok "GET /requests?status=%00 is 400, not every request" api_is 400 "$D/admin.token" GET '/requests?status=%00'
ok "GET /requests?sta%00tus=pending (in the name) is 400" \
	api_is 400 "$D/admin.token" GET '/requests?sta%00tus=pending'
ok "  ... while ?status=pending and /admins still answer" sh -c "
	[ \$(curl -s --cacert '$ROOT' -o /dev/null -w '%{http_code}' -H \"Authorization: Bearer \$(cat '$D/admin.token')\" \
		'$HTTPS_URL/admin/v1/requests?status=pending') = 200 ] &&
	[ \$(curl -s --cacert '$ROOT' -o /dev/null -w '%{http_code}' -H \"Authorization: Bearer \$(cat '$D/admin.token')\" \
		'$HTTPS_URL/admin/v1/admins') = 200 ]"
ok "plain HTTP: /ca/root.crt%00 is 400; the next request on the connection is served" sh -c "
	curl -s -w '%{http_code} %{num_connects}\n' -o /dev/null '$HTTP_URL/ca/root.crt%00' \
		-o /dev/null '$HTTP_URL/ca/root.crt' >'$WORK/nul2.out' &&
	[ \"\$(tr '\n' ' ' <'$WORK/nul2.out')\" = '400 1 200 0 ' ]"

# Revocation of tokens and disabling admins take effect at once.
AUD_ID=$("$CAIRN" token list --dir "$D" | awk '$2 == "audrey" {print $1}')
ok "token revoke" C token revoke "$AUD_ID"
ok "  ... the revoked token gets 401" api_is 401 "$WORK/audrey.tok" GET /requests
ok "admin disable" C admin disable bob
ok "  ... bob's token gets 401" api_is 401 "$WORK/bob.tok" GET /requests
ok "  ... saying why" grep -q "admin bob is disabled" "$WORK/api.out"

# The last enabled admin of the admin role stays: nothing could re-enable or add one.
# bootstrap, kim and adam hold the role: an admin disables another, down to one.
ok "an admin disables another admin-role admin" api_is 200 "$WORK/kim.tok" POST /admins/adam/disable '{}'
ok "  ... and the last other one" api_is 200 "$D/admin.token" POST /admins/kim/disable '{}'
ok "the only admin-role admin left may not disable itself (409)" \
	api_is 409 "$D/admin.token" POST /admins/bootstrap/disable '{}'
ok "  ... a conflict problem saying why" sh -c "grep -q 'problem:conflict' '$WORK/api.out' &&
	grep -q 'bootstrap is the last enabled admin with the admin role' '$WORK/api.out'"
fails "  ... through the CLI neither" C admin disable bootstrap
last_has "  ... 409, saying to add another admin first" "409.*last enabled admin.*cairn admin add --role admin"
ok "  ... it still administers" api_is 200 "$D/admin.token" GET /admins
ok "  ... as the one enabled admin-role admin" sh -c "
	jq -r '.items[] | select(.role == \"admin\" and .disabled == false) | .name' '$WORK/api.out' |
	grep -qx bootstrap"

# Audit: every decision with its actor; denied calls too; export and verify offline.
ok "audit export for the test's time range" sh -c "
	'$CAIRN' audit checkpoint --dir '$D' &&
	'$CAIRN' audit export --dir '$D' --format jsonl --since '$START' --out '$WORK/a.jsonl' &&
	'$CAIRN' audit export --dir '$D' --format csv --since '$START' --out '$WORK/a.csv'"
ok "  ... approvals carry the approvers" sh -c "grep '\"action\":\"request.approve\"' '$WORK/a.jsonl' | grep -q '\"actor\":\"admin:alice\"' &&
	grep '\"action\":\"request.approve\"' '$WORK/a.jsonl' | grep -q '\"actor\":\"admin:bob\"'"
ok "  ... the auditor's denied approval is there" sh -c "grep '\"action\":\"admin.denied\"' '$WORK/a.jsonl' | grep -q '\"actor\":\"admin:audrey\"'"
ok "  ... so are reject, token revoke, admin disable and issuance" sh -c "
	for a in request.reject request.issued admin.token.revoke admin.disable admin.token.create cert.issue cert.revoke request.rejected; do
		grep -q \"\\\"action\\\":\\\"\$a\\\"\" '$WORK/a.jsonl' || { echo missing \$a; exit 1; }; done"
ok "  ... the range starts after init" sh -c "! grep -q '\"action\":\"ca.init\"' '$WORK/a.jsonl'"
ok "  ... the JSONL ends with its head line, the CSV starts with its header" sh -c "
	tail -n 1 '$WORK/a.jsonl' | grep -q '^{\"head\"' && head -n 1 '$WORK/a.csv' | grep -q '^seq,time,'"
ok "the JSONL export verifies offline against the root" "$CAIRN" audit verify --export "$WORK/a.jsonl" --ca "$ROOT"
last_has "  ... signed at export time" "export intact: .*signed at export time .* by .*Issuing CA"
fails "the CSV export is a report: verify refuses it" "$CAIRN" audit verify --export "$WORK/a.csv" --ca "$ROOT"
last_has "  ... pointing at the JSONL export" "verify the JSONL export"
sed -E '3s/"actor":"[^"]*"/"actor":"admin:mallory"/' "$WORK/a.jsonl" >"$WORK/t.jsonl"
ok "  (tampered JSONL differs from the export)" sh -c "! cmp -s '$WORK/a.jsonl' '$WORK/t.jsonl'"
fails "a tampered JSONL line fails verification" "$CAIRN" audit verify --export "$WORK/t.jsonl" --ca "$ROOT"
last_has "  ... naming line 3" "line 3: event [0-9]+ was modified"
sed '2d' "$WORK/a.jsonl" >"$WORK/d.jsonl"
fails "a deleted line fails verification" "$CAIRN" audit verify --export "$WORK/d.jsonl" --ca "$ROOT"
last_has "  ... naming the gap" "line 2: sequence [0-9]+ follows"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/o.key" \
	-out "$WORK/other-root.pem" -subj /CN=other -days 1 2>/dev/null
fails "verification against another CA fails" "$CAIRN" audit verify --export "$WORK/a.jsonl" --ca "$WORK/other-root.pem"
last_has "  ... the signer does not chain to that CA" "does not chain to the given CA"
ok "the daemon's own chain is still intact" C audit verify
ca_stop

# ---- a token's lifetime: the daemon's clock moved by libfaketime, a restart between ----
clock_set "$WORK/clock" +0
ca_serve_at "$D" FAKETIME_TIMESTAMP_FILE="$WORK/clock" FAKETIME_NO_CACHE=1 ||
	bail "cairn serve under libfaketime did not start"
C admin add --name tess --role auditor >/dev/null 2>&1 || bail "admin add tess failed"
C token create --name tess --role auditor --expires-in 1h >"$WORK/hour.tok" 2>/dev/null &&
	C token create --name tess --role auditor >"$WORK/ever.tok" 2>/dev/null ||
	bail "token create for tess failed"
ok "a token made with --expires-in 1h works" api_is 200 "$WORK/hour.tok" GET /admins
# hour_session STATUS: GET /admins with the console session made with the 1h token.
hour_session() {
	[ "$(curl -s --cacert "$ROOT" -b "$WORK/hour.jar" -o "$WORK/api.out" -w '%{http_code}' \
		"$HTTPS_URL/admin/v1/admins")" = "$1" ]
}
ok "  ... and so does a console session made with it (8 hours' lifetime)" sh -c "
	[ \$(curl -s --cacert '$ROOT' -c '$WORK/hour.jar' -o /dev/null -w '%{http_code}' -X POST \
		-H 'Authorization: Bearer $(cat "$WORK/hour.tok")' '$HTTPS_URL/admin/v1/session') = 201 ]"
clock_set "$WORK/clock" +3540
ok "  ... 59 minutes later" api_is 200 "$WORK/hour.tok" GET /admins
ok "  ... the session too" hour_session 200
clock_set "$WORK/clock" +3660
ok "  ... 61 minutes later it is refused (401)" api_is 401 "$WORK/hour.tok" GET /admins
ok "  ... and the session ends with it, whatever its own lifetime (401)" hour_session 401
ok "  ... while a token made without --expires-in still works" api_is 200 "$WORK/ever.tok" GET /admins
ca_stop
ca_serve_at "$D" FAKETIME_TIMESTAMP_FILE="$WORK/clock" FAKETIME_NO_CACHE=1 ||
	bail "cairn serve did not restart under libfaketime"
ok "(restarted, clock still 61 minutes on) the 1h token stays refused" \
	api_is 401 "$WORK/hour.tok" GET /admins
ok "  ... the one without expiry works" api_is 200 "$WORK/ever.tok" GET /admins
ok "  ... and token list, run 61 minutes on too, shows it expired" sh -c "
	LD_PRELOAD='$FAKETIME_LIB' FAKETIME=+3660 '$CAIRN' token list --dir '$D' >'$WORK/tl.out' &&
	[ \$(grep -Ec ' tess +auditor +expired ' '$WORK/tl.out') -eq 1 ] &&
	[ \$(grep -Ec ' tess +auditor +active +never' '$WORK/tl.out') -eq 1 ]"

# Every refusal of a caller with no valid credential is a durable audit event: without a
# bound, anyone reaching the listener grew the (append-only) audit log as fast as it
# sent requests. Past 50 from one address: 429, the first audited, the rest counted and
# audited once when the address may try again; a valid token from there still works.
# flood N PATH [CURL-ARGS...]: N calls to PATH on one connection; their statuses, one a line.
flood() {
	n=$1 p=$2
	shift 2
	for i in $(seq "$n"); do
		printf 'url = "%s/admin/v1%s"\noutput = "/dev/null"\n' "$HTTPS_URL" "$p"
	done >"$WORK/flood.cfg"
	curl -s --cacert "$ROOT" -w '%{http_code}\n' "$@" -K "$WORK/flood.cfg"
}
flood 80 /certificates/f100d >"$WORK/flood.out"
# (this daemon refused one call already: the expired token's)
ok "80 calls without a credential: at most 50 answered 401, the rest 429" sh -c "
	n401=\$(grep -c '^401\$' '$WORK/flood.out'); n429=\$(grep -c '^429\$' '$WORK/flood.out')
	echo \"401: \$n401, 429: \$n429\"; [ \$n401 -le 50 ] && [ \$n429 -ge 30 ] && [ \$((n401 + n429)) -eq 80 ]"
ok "  ... each 401 and the first 429 audited, no more" sh -c "
	n=\$('$CAIRN' audit export --dir '$D' --unsigned | grep '\"admin.denied\"' |
		grep -c '/certificates/f100d'); echo \"\$n events\"
	[ \$n -eq \$((\$(grep -c '^401\$' '$WORK/flood.out') + 1)) ]"
curl -s --cacert "$ROOT" -D "$WORK/last.out" -o "$WORK/api.out" "$HTTPS_URL/admin/v1/stats"
last_has "  ... a 429 with Retry-After" "^Retry-After: [0-9]+"
ok "  ... and a problem document saying why" grep -q '"type": "urn:cairn:problem:rateLimited"' "$WORK/api.out"
ok "  ... so is a cross-site change without a credential (429)" sh -c "
	[ \$(curl -s --cacert '$ROOT' -o /dev/null -w '%{http_code}' -X POST -H 'Origin: https://evil.example' \
		'$HTTPS_URL/admin/v1/audit/checkpoint') = 429 ]"
ok "  ... a dead session's cookie is cleared with the 429 (a certificate may sign in again)" sh -c "
	curl -s --cacert '$ROOT' -D - -o /dev/null -b '__Host-cairn_session=$(printf %064d 5)' \
		'$HTTPS_URL/admin/v1/session' >'$WORK/dead.h'; cat '$WORK/dead.h'
	grep -q '^HTTP/1.1 429' '$WORK/dead.h' && grep -q '^Set-Cookie: __Host-cairn_session=; Path=/; Max-Age=0' '$WORK/dead.h'"
ok "  ... while a valid token from the same address still works" api_is 200 "$WORK/ever.tok" GET /admins
clock_set "$WORK/clock" +4400
ok "ten minutes on, the address is refused with 401 again" sh -c "
	[ \$(curl -s --cacert '$ROOT' -o /dev/null -w '%{http_code}' '$HTTPS_URL/admin/v1/stats') = 401 ]"
ok "  ... and the lock-out's refusals were audited once (admin.login_limited)" sh -c "
	'$CAIRN' audit export --dir '$D' --unsigned | grep '\"admin.login_limited\"' >'$WORK/ll.out'
	cat '$WORK/ll.out'; [ \$(wc -l <'$WORK/ll.out') -eq 1 ] &&
	grep -q \"\\\"refused\\\":\$((\$(grep -c '^429\$' '$WORK/flood.out') + 3))[,}]\" '$WORK/ll.out'"
# A cross-site page may make an admin's browser post without end (its client certificate
# goes along; cross-site is refused, each refusal audited under that admin): bounded the same way.
flood 60 /audit/checkpoint -X POST -H "Authorization: Bearer $(cat "$WORK/ever.tok")" \
	-H 'Origin: https://evil.example' >"$WORK/xflood.out"
ok "60 cross-site posts with a valid token: at most 50 answered 403, the rest 429" sh -c "
	n403=\$(grep -c '^403\$' '$WORK/xflood.out'); n429=\$(grep -c '^429\$' '$WORK/xflood.out')
	echo \"403: \$n403, 429: \$n429\"; [ \$n403 -le 50 ] && [ \$n429 -ge 10 ] && [ \$((n403 + n429)) -eq 60 ]"
ok "  ... each 403 and the first 429 audited, under the token's admin" sh -c "
	n=\$('$CAIRN' audit export --dir '$D' --unsigned | grep '\"admin.denied\"' | grep '\"admin:tess\"' |
		grep -c '/audit/checkpoint'); echo \"\$n events\"
	[ \$n -eq \$((\$(grep -c '^403\$' '$WORK/xflood.out') + 1)) ]"
ok "  ... while the token's own calls still work" api_is 200 "$WORK/ever.tok" GET /admins
ca_stop
# The limiter lives in memory: a stop must not lose the refusals it only counted.
ok "  ... the stop audits the running lock-out's refusals (at_stop)" sh -c "
	'$CAIRN' audit export --dir '$D' --unsigned | grep '\"admin.login_limited\"' |
		grep '\"at_stop\":true' >'$WORK/ll2.out'
	cat '$WORK/ll2.out'; [ \$(wc -l <'$WORK/ll2.out') -eq 1 ] &&
	grep -q \"\\\"refused\\\":\$(grep -c '^429\$' '$WORK/xflood.out')[,}]\" '$WORK/ll2.out'"

# A clock 1000 times fast: a durable commit between two readings of it moves it by seconds.
# The expiry a new token's answer gives is the one stored (it used to read the clock twice).
# (An idle connection's 30 s would pass in 30 ms: the timeout is an hour of that clock.)
python3 - "$D/cairn.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc.setdefault("server", {})["connection_timeout"] = 3600
json.dump(doc, open(sys.argv[1], "w"), indent=2)
PY
ca_serve_at "$D" "FAKETIME=+0 x1000" || bail "cairn serve under a fast clock did not start"
ok "after the restart the address starts afresh (401, not 429)" sh -c "
	[ \$(curl -s --cacert '$ROOT' -o /dev/null -w '%{http_code}' '$HTTPS_URL/admin/v1/stats') = 401 ]"
C admin add --name fay --role admin >/dev/null 2>&1 &&
	C token create --name fay --role admin >"$WORK/fay.tok" 2>/dev/null || bail "token for fay failed"
# expiry_as_stored: three new 1h tokens; each answer's expiry is the one GET /tokens lists.
expiry_as_stored() {
	for i in 1 2 3; do
		api_is 201 "$WORK/fay.tok" POST /tokens \
			'{"name": "tess", "role": "auditor", "expires_in": "1h"}' || return 1
		id=$(jq -r .id "$WORK/api.out") exp=$(jq -r .expires "$WORK/api.out")
		api_is 200 "$WORK/fay.tok" GET /tokens || return 1
		listed=$(jq -r --arg id "$id" '.items[] | select(.id == $id) | .expires' "$WORK/api.out")
		echo "token $id: answered $exp, stored $listed"
		[ "$exp" -gt 0 ] && [ "$listed" = "$exp" ] || return 1
	done
}
ok "under a fast clock, POST /tokens answers the expiry that GET /tokens lists" expiry_as_stored
ca_stop

done_testing
