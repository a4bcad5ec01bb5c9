#!/bin/sh
# SPDX-License-Identifier: MIT
# A policy decision's texts are cut to their fields by bytes: a subject CN in UTF-8 (up to 64
# characters, 256 bytes), a rule's reason or name from the policy file. A cut inside a
# character is no UTF-8, and jansson refuses it: the request that waits for approval must
# still be stored and shown, a refusal still audited with its rule and reason, `policy test
# --json` still answer, and a policy that cannot be loaded still leave its error in the audit
# log. The cut character shows as U+FFFD.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

command -v jq >/dev/null || bail "jq is not installed"
D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
# RSA keys are refused, EC keys wait for one approval: neither rule has name fields, so both
# take a CN that is no host name (kind text).
cat >"$D/policy.json" <<'JSON'
{"rules": [
  {"name": "rsa", "match": {"key_type": "rsa"}, "action": "reject", "reason": "no RSA"},
  {"name": "held", "match": {"key_type": "ec"}, "action": "approve", "approvals": 1},
  {"name": "default", "match": {}, "action": "issue"}
]}
JSON
ca_serve "$D" || bail "cairn serve did not start"
ROOT=$D/ca/root.pem
C() { "$CAIRN" "$@" --dir "$D"; }
C admin add --name alice --role approver >/dev/null 2>&1 || bail "admin add alice failed"
C token create --name alice --role approver >"$WORK/alice.tok" 2>/dev/null ||
	bail "token create alice failed"
# api PATH OUT: GET /admin/v1/PATH with the bootstrap token into $WORK/OUT (200 only).
api() {
	curl -sf --cacert "$ROOT" -H "Authorization: Bearer $(cat "$D/admin.token")" \
		-o "$WORK/$2" "$HTTPS_URL/admin/v1/$1"
}
has() { jq -e "$2" "$WORK/$1" >/dev/null; }

# 64 characters: "ab" and 62 euro signs (3 bytes each). The label "CN ab€€…" is cut at
# 120 bytes for an approval's reason and at 100 for a refusal's: both inside a euro sign.
E=$(printf '\342\202\254')
CN=ab
i=0
while [ $i -lt 62 ]; do CN=$CN$E; i=$((i + 1)); done
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$WORK/ec.key" \
	-out "$WORK/ec.csr" -utf8 -subj "/CN=$CN" 2>/dev/null || bail "no EC CSR"
openssl req -new -nodes -newkey rsa:2048 -keyout "$WORK/rsa.key" -out "$WORK/rsa.csr" -utf8 \
	-subj "/CN=$CN" 2>/dev/null || bail "no RSA CSR"

# ---- a request that waits ----
"$CAIRN" issue --dir "$D" --csr "$WORK/ec.csr" --profile tls-client >"$WORK/issue.out" 2>&1
rc=$?
cp "$WORK/issue.out" "$WORK/last.out"
tap $((rc == 3)) "a CN of 62 euro signs waits for its approval (cairn issue exits 3)"
ID=$(sed -n 's/^request \([0-9a-f]\{32\}\) pending.*/\1/p' "$WORK/issue.out")
ok "  ... GET /admin/v1/requests/ID answers" api "requests/$ID" req.json
cp "$WORK/req.json" "$WORK/last.out" 2>/dev/null
ok "  ... its reason names the rule, the cut character shown as U+FFFD" has req.json \
	'(.reason | startswith("CN ab") and endswith("\ufffd needs 1 approval (rule held)")) and
	 .decision.reason == .reason and .decision.name == "'"$CN"'" and .rule == "held"'
ok "  ... the request.pending event has its details" sh -c "
	curl -sf --cacert '$ROOT' -H 'Authorization: Bearer $(cat "$D/admin.token")' \
		'$HTTPS_URL/admin/v1/audit?action=request.pending' | tee '$WORK/pend.json' |
	jq -e '.items | map(select(.details.id == \"$ID\" and .details.rule == \"held\" and
		(.details.reason | endswith(\"(rule held)\")))) | length == 1'"
ok "  ... alice approves it" C requests approve "$ID" --token-file "$WORK/alice.tok"
ok "  ... into a certificate whose subject the API shows escaped" sh -c "
	curl -sf --cacert '$ROOT' -H 'Authorization: Bearer $(cat "$D/admin.token")' \
		'$HTTPS_URL/admin/v1/certificates' | tee '$WORK/certs.json' |
	jq -e '.items | map(select(.subject | startswith(\"CN=ab\\\\E2\\\\82\\\\AC\"))) |
		length == 1'"

# ---- a refusal ----
fails "the same CN with an RSA key is refused" C issue --csr "$WORK/rsa.csr" --profile tls-client
last_has "  ... by rule rsa" "rejected by policy rule rsa: no RSA \(CN ab"
ok "  ... the request.rejected event keeps its rule, reason and name" sh -c "
	curl -sf --cacert '$ROOT' -H 'Authorization: Bearer $(cat "$D/admin.token")' \
		'$HTTPS_URL/admin/v1/audit?action=request.rejected' | tee '$WORK/rej.json' |
	jq -e '.items | length == 1 and (.[0].details | .rule == \"rsa\" and
		(.reason | startswith(\"no RSA (CN ab\") and endswith(\"\\ufffd)\")) and
		.name == \"$CN\")'"
cp "$WORK/rej.json" "$WORK/last.out" 2>/dev/null

# ---- policy test --json, the admin API's answer ----
ok "cairn policy test --json answers for the waiting request" sh -c "
	'$CAIRN' policy test --dir '$D' --csr '$WORK/ec.csr' --channel admin --profile tls-client \
		--json >'$WORK/test.json'"
cp "$WORK/test.json" "$WORK/last.out" 2>/dev/null
ok "  ... with the decision's reason" has test.json \
	'.action == "approve" and .rule == "held" and (.reason | endswith("(rule held)"))'

# ---- a policy file that does not load: its error is audited ----
# The error quotes the value cut at 64 bytes: inside the 22nd euro sign.
V=
i=0
while [ $i -lt 30 ]; do V=$V$E; i=$((i + 1)); done
cp "$D/policy.json" "$WORK/policy.good"
printf '{"rules": [{"name": "x", "match": {"key_type": "%s"}, "action": "issue"}]}\n' "$V" \
	>"$D/policy.json"
fails "a policy with an unknown key_type does not load" C policy reload
ok "  ... and policy.reload_failed says why" sh -c "
	curl -sf --cacert '$ROOT' -H 'Authorization: Bearer $(cat "$D/admin.token")' \
		'$HTTPS_URL/admin/v1/audit?action=policy.reload_failed' | tee '$WORK/fail.json' |
	jq -e '.items | length == 1 and (.[0].details.error | test(\"unknown value\")) and
		(.[0].details.file | endswith(\"policy.json\"))'"
cp "$WORK/fail.json" "$WORK/last.out" 2>/dev/null
cp "$WORK/policy.good" "$D/policy.json"
ok "the policy as it was loads again" C policy reload

done_testing
