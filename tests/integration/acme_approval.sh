#!/bin/sh
# SPDX-License-Identifier: MIT
# The issue's approval flow with a real ACME client: lego gets a dev name at once, waits on a
# prod name until two different approvers approve through the CLI, and fails on a rejection.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"

command -v lego >/dev/null || bail "lego is not installed (scripts/deps.sh)"

D=$WORK/ca
ca_init "$D" || bail "init failed"
HP=$(free_port)
acme_conf "$D" "{\"validation\": {\"http01_port\": $HP, \"hosts\": {\"www.dev.test\": \"127.0.0.1\",
  \"api.prod.test\": \"127.0.0.1\", \"db.prod.test\": \"127.0.0.1\", \"www.example.org\": \"127.0.0.1\"}}}"
cat >"$D/policy.json" <<'JSON'
{"rules": [
  {"name": "dev",     "match": {"dns_suffix": [".dev.test"]},  "action": "issue"},
  {"name": "prod",    "match": {"dns_suffix": [".prod.test"]}, "action": "approve", "approvals": 2},
  {"name": "default", "match": {},                              "action": "reject", "reason": "not allowed by policy"}
]}
JSON
ca_serve "$D" || bail "serve failed"
ROOT=$D/ca/root.pem
export LEGO_CA_CERTIFICATES="$ROOT"
L="lego --server $HTTPS_URL/acme/directory --path $WORK/lego --email ops@example.test --accept-tos"
LC=$WORK/lego/certificates
cd "$WORK" || bail "no work dir"
C() { "$CAIRN" "$@" --dir "$D"; }
for who in alice:approver bob:approver audrey:auditor; do
	C admin add --name "${who%%:*}" --role "${who#*:}" >/dev/null 2>&1 || bail "admin add $who failed"
done
"$CAIRN" token create --dir "$D" --name alice --role approver >"$WORK/alice.tok" 2>/dev/null
"$CAIRN" token create --dir "$D" --name bob --role approver >"$WORK/bob.tok" 2>/dev/null
"$CAIRN" token create --dir "$D" --name audrey --role auditor >"$WORK/audrey.tok" 2>/dev/null

# pending_for NAME: waits (bounded) for the pending ACME request of rule prod; sets REQ.
pending_for() {
	acme_pending "$D" && "$CAIRN" requests show "$REQ" --dir "$D" | grep -q "\"$1\""
}

ok "a dev name through lego is issued immediately" $L --domains www.dev.test \
	--http --http.port "127.0.0.1:$HP" run
ok "  ... and chains to the root" cert_verifies "$D" "$LC/www.dev.test.crt"

# A prod name: lego finalizes, the order stays processing while approvals are missing.
$L --cert.timeout 120 --domains api.prod.test --http --http.port "127.0.0.1:$HP" run \
	>"$WORK/lego-prod.out" 2>&1 &
LEGO=$!
CAIRN_PIDS="$CAIRN_PIDS $LEGO"
ok "a prod name becomes a pending request" pending_for api.prod.test
ok "  ... that lego waits on (order processing)" kill -0 "$LEGO"
ok "  ... that approvers see whole (cairn requests show)" sh -c "
	'$CAIRN' requests show '$REQ' --dir '$D' >'$WORK/req.json' &&
	jq -e '.channel == \"acme\" and (.requester | startswith(\"acme:acct/\")) and
		.subject == \"CN=api.prod.test\" and .sans == [{\"type\": \"dns\", \"value\": \"api.prod.test\"}] and
		.key.type != null and .key.bits > 0 and .profile == \"tls-server\" and
		.validity.granted_days > 0 and .decision.rule == \"prod\" and
		.decision.name == \"api.prod.test\" and .history[0].event == \"submitted\"' '$WORK/req.json'"
ok "alice approves through the CLI" C requests approve "$REQ" --token-file "$WORK/alice.tok"
last_has "  ... one of two" "pending \(1/2 approvals\)"
fails "alice approving twice does not count" C requests approve "$REQ" --token-file "$WORK/alice.tok"
last_has "  ... 409 already approved" "409.*already approved"
ok "  ... lego is still waiting" kill -0 "$LEGO"
ok "an auditor token cannot approve (403 problem)" sh -c "[ \$(curl -s --cacert '$ROOT' \
	-o '$WORK/api.out' -w '%{http_code}' -X POST -H \"Authorization: Bearer \$(cat '$WORK/audrey.tok')\" \
	'$HTTPS_URL/admin/v1/requests/$REQ/approve') = 403 ] && grep -q 'urn:cairn:problem:forbidden' '$WORK/api.out'"
ok "  ... and the refusal is audited" sh -c "'$CAIRN' audit export --dir '$D' --format jsonl |
	grep '\"action\":\"admin.denied\"' | grep -q '\"actor\":\"admin:audrey\"'"
ok "bob approves: the request is issued" C requests approve "$REQ" --token-file "$WORK/bob.tok"
last_has "  ... with both approvals" "issued \(2/2 approvals\), serial [0-9a-f]+"
SERIAL=$(sed -n 's/.*serial \([0-9a-f]*\).*/\1/p' "$WORK/last.out")
wait "$LEGO"
tap $(( $? == 0 )) "lego then gets its certificate"
ok "  ... the one the approvals issued" sh -c "openssl x509 -in '$LC/api.prod.test.crt' -noout -serial |
	tr 'A-F' 'a-f' | grep -q '$SERIAL'"
ok "  ... for api.prod.test, chaining to the root" sh -c "cert_verifies() { openssl verify -CAfile '$ROOT' \
	-untrusted '$D/ca/issuing.pem' \"\$1\"; }; cert_verifies '$LC/api.prod.test.crt' &&
	openssl x509 -in '$LC/api.prod.test.crt' -noout -ext subjectAltName | grep -q 'DNS:api.prod.test'"

# An approver rejects: the order becomes invalid and lego says why. lego keeps polling an
# invalid order until its --cert.timeout (counted from finalize) and then exits with the
# order's error, so the timeout is the test's wait: long enough for the rejection below, no
# longer. The rejection comes ~0.5 s after finalize in the normal build; 15 s leaves room
# for ASan and a loaded machine (40 s made this the suite's longest wait).
$L --cert.timeout 15 --domains db.prod.test --http --http.port "127.0.0.1:$HP" run \
	>"$WORK/lego-rej.out" 2>&1 &
LEGO=$!
CAIRN_PIDS="$CAIRN_PIDS $LEGO"
ok "another prod name waits" pending_for db.prod.test
ok "alice rejects it" C requests reject "$REQ" --token-file "$WORK/alice.tok" --comment "not our host"
wait "$LEGO"
tap $(( $? != 0 )) "lego fails on the rejected request"
cp "$WORK/lego-rej.out" "$WORK/last.out"
last_has "  ... the order is invalid with the approver's reason" "not our host"
# The policy refuses outright: a clear problem at finalize.
fails "a name no rule allows is refused" $L --domains www.example.org --http --http.port "127.0.0.1:$HP" run
last_has "  ... with the policy's reason" "not allowed by policy"
ok "every decision is in the audit log" sh -c "'$CAIRN' audit export --dir '$D' --format jsonl >'$WORK/a.jsonl' &&
	for a in request.pending request.approve request.issued request.reject request.rejected; do
		grep -q \"\\\"action\\\":\\\"\$a\\\"\" '$WORK/a.jsonl' || { echo missing \$a; exit 1; }; done"

done_testing
