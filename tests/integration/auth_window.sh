#!/bin/sh
# SPDX-License-Identifier: MIT
# A channel checks its caller's credential, and the policy decides, when a call arrives;
# an issuance then signs in the token before its write. What changed while that signature
# waits must be honoured by the write: the certificate's own write checks again. The admin
# API: a token revoked, its admin disabled, the token a console session was opened with
# revoked; an approver disabled while the approval completing a request signs; a policy
# reload that rejects the name (a submission, an approval). EST: an account deleted, a
# device certificate revoked during its re-enrollment. The window is the time a signature
# takes; the token plug holds it open (every token call waits while $WORK/hang exists, and
# creates $WORK/waiting). Before, the certificate was issued and returned.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"
. "$CAIRN_SRCDIR/tests/integration/est_lib.sh"

plug_ca '.token.timeout = 60 | .est.labels.iot = {"profile": "tls-client"}'
cat >"$D/policy.json" <<'JSON'
{"rules": [
  {"name": "prod",    "match": {"dns_suffix": [".prod.test"]}, "action": "approve", "approvals": 2},
  {"name": "default", "match": {},                              "action": "issue"}
]}
JSON
export CAIRN_TEST_TOKEN_HANG="$WORK/hang" CAIRN_TEST_TOKEN_WAITING="$WORK/waiting"
ca_serve "$D" || bail "cairn serve did not start"
EST=$HTTPS_URL/.well-known/est/iot
C() { "$CAIRN" "$@" --dir "$D"; }
for who in oscar:operator olga:operator sam:operator otto:operator alice:approver bob:approver \
	carl:approver; do
	C admin add --name "${who%:*}" --role "${who#*:}" >/dev/null 2>&1 &&
		C token create --name "${who%:*}" --role "${who#*:}" >"$WORK/${who%:*}.tok" 2>/dev/null ||
		bail "no admin ${who%:*}"
done
printf 'correct horse battery\n' >"$WORK/pw"
for who in dev1 dev2; do
	C est user add --name "$who" --password-file "$WORK/pw" --labels iot >/dev/null 2>&1 ||
		bail "no EST user $who"
done
# token_id NAME: the id `cairn token revoke` takes (SHA-256 of the token, 8 bytes in hex).
token_id() { printf %s "$(cat "$WORK/$1.tok")" | sha256sum | cut -c1-16; }
bearer() { echo "Authorization: Bearer $(cat "$WORK/$1.tok")"; }

# admin_issue NAME CURL_OPTIONS...: POST /certificates for NAME.example.test; NAME.out gets
# the answer, its status on the last line.
admin_issue() {
	name=$1
	shift
	make_csr "$name" ec:P-256 "/CN=$name.example.test" "DNS:$name.example.test"
	jq -n --rawfile csr "$WORK/$name.csr" '{csr: $csr, profile: "tls-server"}' >"$WORK/$name.json"
	curl -s -m 90 --cacert "$ROOT" -H 'Content-Type: application/json' "$@" \
		-d @"$WORK/$name.json" -w '\n%{http_code}\n' "$HTTPS_URL/admin/v1/certificates" \
		>"$WORK/$name.out"
}
# approve NAME ID WHO: WHO approves request ID; NAME.out gets the answer, its status on the
# last line.
approve() {
	curl -s -m 90 --cacert "$ROOT" -H 'Content-Type: application/json' -H "$(bearer "$3")" \
		-d '{}' -w '\n%{http_code}\n' "$HTTPS_URL/admin/v1/requests/$2/approve" >"$WORK/$1.out"
}
# pending NAME: a request for NAME.prod.test through `cairn issue`, which the rule prod
# makes wait for two approvals; its id in ID.
pending() {
	make_csr "$1" ec:P-256 "/CN=$1.prod.test" "DNS:$1.prod.test"
	C issue --csr "$WORK/$1.csr" --profile tls-server >"$WORK/$1.pending" 2>&1
	ID=$(sed -n 's/^request \([0-9a-f]\{32\}\) pending.*/\1/p' "$WORK/$1.pending")
	[ -n "$ID" ]
}
# est_call NAME OP CURL_OPTIONS...: EST OP with $BODY; NAME.out gets the answer, its
# status on the last line.
est_call() {
	name=$1 op=$2
	shift 2
	est_post "$name" "$op" "$@"
	{ cat "$WORK/$name.body" && echo && code "$name" && echo; } >"$WORK/$name.out"
}
# held NAME COMMAND...: COMMAND in the background while the token hangs; true once a token
# call waits. NAME.done appears when COMMAND has ended.
held() {
	name=$1
	shift
	rm -f "$WORK/waiting"
	touch "$WORK/hang"
	("$@"; touch "$WORK/$name.done") &
	CAIRN_PIDS="$CAIRN_PIDS $!"
	waits_for test -e "$WORK/waiting"
}
# released NAME: the token answers again; true once NAME's command has ended.
released() {
	rm -f "$WORK/hang"
	waits_for test -e "$WORK/$1.done"
}
# answered NAME STATUS REGEX: NAME's answer was STATUS and its body matches REGEX.
answered() { tail -n 1 "$WORK/$1.out" | grep -qx "$2" && grep -Eq -- "$3" "$WORK/$1.out"; }
# certs_for NAME: how many certificates name NAME.
certs_for() { C list --name "$1" 2>/dev/null | grep -c "$1"; }

# ---- the admin API ----
ok "without a race, an operator's issuance waits in the token" held ctl admin_issue ctl -H "$(bearer oscar)"
ok "  ... the token answers again" released ctl
ok "  ... 201 with the certificate" answered ctl 201 "BEGIN CERTIFICATE"

ok "oscar's issuance waits in the token" held race1 admin_issue race1 -H "$(bearer oscar)"
ok "  ... meanwhile the admin revokes oscar's token" C token revoke "$(token_id oscar)"
ok "  ... the token answers again" released race1
ok "  ... the issuance is refused: 401, the token was revoked" answered race1 401 "was revoked"
ok "  ... and nothing was issued" test "$(certs_for race1.example.test)" = 0

ok "olga's issuance waits in the token" held race2 admin_issue race2 -H "$(bearer olga)"
ok "  ... meanwhile the admin disables olga" C admin disable olga
ok "  ... the token answers again" released race2
ok "  ... the issuance is refused: 401, olga is disabled" answered race2 401 "olga is disabled"
ok "  ... and nothing was issued" test "$(certs_for race2.example.test)" = 0

# A console session is checked again through the token it was opened with.
ok "sam signs in to the console with his token" sh -c "[ \$(curl -s --cacert '$ROOT' \
	-H '$(bearer sam)' -c '$WORK/sam.jar' -o '$WORK/sam.sess' -w '%{http_code}' -X POST \
	'$HTTPS_URL/admin/v1/session') = 201 ]"
CSRF=$(jq -r .csrf_token "$WORK/sam.sess")
ok "sam's issuance through the session waits in the token" \
	held race3 admin_issue race3 -b "$WORK/sam.jar" -H "X-CSRF-Token: $CSRF"
ok "  ... meanwhile the admin revokes the token the session was opened with" \
	C token revoke "$(token_id sam)"
ok "  ... the token answers again" released race3
ok "  ... the issuance is refused: 401, the token was revoked" answered race3 401 "was revoked"
ok "  ... and nothing was issued" test "$(certs_for race3.example.test)" = 0

# An approver disabled while the approval that completes a request signs: the approvals are
# counted again in the certificate's write.
ok "a request for p1.prod.test waits for two approvals" pending p1
ok "  ... alice approves it" approve a1 "$ID" alice
ok "bob's approval, the second, issues: its signature waits in the token" held a2 approve a2 "$ID" bob
ok "  ... meanwhile the admin disables alice" C admin disable alice
ok "  ... the token answers again" released a2
ok "  ... no certificate: alice's approval no longer counts" answered a2 403 "alice.*no longer counts"
ok "  ... and nothing was issued" test "$(certs_for p1.prod.test)" = 0

# A policy reload that rejects a name while its issuance signs: the policy in force decides
# again in the certificate's write.
ok "otto's issuance for x.rl.example.test waits in the token" \
	held x.rl admin_issue x.rl -H "$(bearer otto)"
jq '.rules |= [{"name": "no-rl", "match": {"dns_suffix": [".rl.example.test"]},
	"action": "reject", "reason": "not any more"}] + .' "$D/policy.json" >"$WORK/policy.json" &&
	cp "$WORK/policy.json" "$D/policy.json"
ok "  ... meanwhile the admin reloads a policy that rejects the name" \
	"$CAIRN" policy reload --dir "$D"
ok "  ... the token answers again" released x.rl
ok "  ... the issuance is refused: 403, rejected by the policy in force" \
	answered x.rl 403 "rejected by policy rule no-rl"
ok "  ... and nothing was issued" test "$(certs_for x.rl.example.test)" = 0
ok "  ... audited as a rejection" sh -c "'$CAIRN' audit export --dir '$D' --format jsonl |
	grep '\"request.rejected\"' | grep -q no-rl"

# ... and while the approval that completes a request signs: the request is decided again.
ok "a request for p2.prod.test waits for two approvals" pending p2
ok "  ... carl approves it" approve a3 "$ID" carl
ok "bob's approval, the second, issues: its signature waits in the token" held a4 approve a4 "$ID" bob
jq '.rules |= [{"name": "no-p2", "match": {"dns_suffix": [".p2.prod.test", "p2.prod.test"]},
	"action": "reject", "reason": "not any more"}] + .' "$D/policy.json" >"$WORK/policy.json" &&
	cp "$WORK/policy.json" "$D/policy.json"
ok "  ... meanwhile the admin reloads a policy that rejects the name" \
	"$CAIRN" policy reload --dir "$D"
ok "  ... the token answers again" released a4
ok "  ... no certificate: the policy in force rejects it" answered a4 403 "reloaded meanwhile rejects it.*no-p2"
ok "  ... and nothing was issued" test "$(certs_for p2.prod.test)" = 0

# ... and while its own approval signs, the approver that completes a request is disabled:
# the certificate's write is refused on its authority, and the request is recorded
# `failed` (the outcome is written whoever asked), not left `approved` for ever.
ok "a request for p3.prod.test waits for two approvals" pending p3
ok "  ... carl approves it" approve a5 "$ID" carl
ok "bob's approval, the second, issues: its signature waits in the token" held a6 approve a6 "$ID" bob
ok "  ... meanwhile the admin disables bob" C admin disable bob
ok "  ... the token answers again" released a6
ok "  ... no certificate: 401, bob is disabled" answered a6 401 "disabled"
ok "  ... and nothing was issued" test "$(certs_for p3.prod.test)" = 0
ok "  ... the request is failed, saying why" sh -c "curl -s -m 30 --cacert '$ROOT' \
	-H '$(bearer otto)' '$HTTPS_URL/admin/v1/requests/$ID' |
	jq -e '.status == \"failed\" and (.reason | test(\"disabled\"))'"
ok "  ... the refusal is audited" sh -c "'$CAIRN' audit export --dir '$D' --format jsonl |
	grep '\"admin.denied\"' | grep -q 'no longer valid when written'"

# ---- EST ----
csr dev1 /CN=dev1.iot.test DNS:dev1.iot.test
ok "dev1 enrolls with HTTP Basic" held e1 est_call e1 simpleenroll -u "dev1:correct horse battery"
ok "  ... the token answers again" released e1
ok "  ... 200 with its certificate" p7cert e1

csr dev2 /CN=dev2.iot.test DNS:dev2.iot.test
ok "dev2's enrollment waits in the token" held e2 est_call e2 simpleenroll -u "dev2:correct horse battery"
ok "  ... meanwhile the admin deletes the account dev2" C est user del --name dev2
ok "  ... the token answers again" released e2
ok "  ... the enrollment is refused: 401, the account was deleted" answered e2 401 "dev2 was deleted"
ok "  ... and nothing was issued" test "$(certs_for dev2.iot.test)" = 0

csr re1 /CN=dev1.iot.test DNS:dev1.iot.test "$WORK/dev1.key"
DEV1=$WORK/e1.pem
ok "dev1's re-enrollment with its certificate waits in the token" \
	held e3 est_call e3 simplereenroll --cert "$DEV1" --key "$WORK/dev1.key"
ok "  ... meanwhile the admin revokes that certificate (keyCompromise)" \
	C revoke "$(openssl x509 -in "$DEV1" -noout -serial | cut -d= -f2)" --reason keyCompromise
ok "  ... the token answers again" released e3
ok "  ... the re-enrollment is refused: 401, the certificate is revoked" \
	answered e3 401 "not a current certificate|key blocked"
ok "  ... and nothing was issued: dev1 has its one certificate" test "$(certs_for dev1.iot.test)" = 1
ca_stop
done_testing
