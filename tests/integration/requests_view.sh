#!/bin/sh
# SPDX-License-Identifier: MIT
# What approvers see of a waiting request, through the running daemon's admin API and the CLI:
# subject, every SAN by type, key, profile, validity asked and granted, channel, requester, the
# rule and the name that decided, approvals so far and the history; an admin request and an EST
# device without SANs; `requests list` with its NAMES column.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"
. "$CAIRN_SRCDIR/tests/integration/est_lib.sh"

command -v jq >/dev/null || bail "jq is not installed"
D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
# A profile with every SAN type; an EST label for devices (30 days, group devices).
jq '.profiles.multi = {"validity_days": 90, "key_usage": ["digitalSignature"],
	"ext_key_usage": ["clientAuth"], "san_types": ["dns", "ip", "email", "uri"]}
	| .est.labels.iot = {"profile": "tls-client", "validity_days": 30, "policy_group": "devices"}' \
	"$D/cairn.json" >"$WORK/cairn.json" && cp "$WORK/cairn.json" "$D/cairn.json" ||
	bail "cannot edit cairn.json"
cat >"$D/policy.json" <<'JSON'
{"rules": [
  {"name": "payments", "match": {"dns_exact": ["pay.example.test"]}, "action": "approve",
   "approvals": 2},
  {"name": "devices", "match": {"channel": "est", "subject_cn_prefix": "device-"},
   "action": "approve", "approvals": 2},
  {"name": "default", "match": {}, "action": "issue"}
]}
JSON
ca_serve "$D" || bail "cairn serve did not start"
ROOT=$D/ca/root.pem
EST=$HTTPS_URL/.well-known/est
C() { "$CAIRN" "$@" --dir "$D"; }
for who in alice bob; do
	C admin add --name "$who" --role approver >/dev/null 2>&1 || bail "admin add $who failed"
	"$CAIRN" token create --dir "$D" --name "$who" --role approver >"$WORK/$who.tok" 2>/dev/null ||
		bail "token create $who failed"
done
# api PATH OUT: GET /admin/v1/PATH with the bootstrap token into $WORK/OUT (200 only).
api() {
	curl -sf --cacert "$ROOT" -H "Authorization: Bearer $(cat "$D/admin.token")" \
		-o "$WORK/$2" "$HTTPS_URL/admin/v1/$1"
}
# has FILE JQ: the JSON in $WORK/FILE satisfies the jq expression.
has() { jq -e "$2" "$WORK/$1" >/dev/null; }

# ---- an admin request: several SAN types, RSA key, validity asked ----
make_csr pay rsa:3072 "/O=Example Pay/CN=pay.example.test" \
	"DNS:pay.example.test,DNS:www.example.test,IP:10.0.0.7,email:ops@example.test,URI:https://pay.example.test/id"
"$CAIRN" issue --dir "$D" --csr "$WORK/pay.csr" --profile multi --validity-days 10 >"$WORK/issue.out" 2>&1
tap $(( $? == 3 )) "cairn issue exits 3 when the policy makes the request wait"
cp "$WORK/issue.out" "$WORK/last.out"
last_has "  ... naming the request" "request [0-9a-f]{32} pending"
ID=$(sed -n 's/^request \([0-9a-f]\{32\}\) pending.*/\1/p' "$WORK/issue.out")

ok "GET /admin/v1/requests/ID answers" api "requests/$ID" pay.json
cp "$WORK/pay.json" "$WORK/last.out"
ok "  ... the full subject DN" has pay.json '.subject == "CN=pay.example.test,O=Example Pay"'
ok "  ... every SAN with its type, in order" has pay.json '.sans == [
	{"type":"dns","value":"pay.example.test"}, {"type":"dns","value":"www.example.test"},
	{"type":"ip","value":"10.0.0.7"}, {"type":"email","value":"ops@example.test"},
	{"type":"uri","value":"https://pay.example.test/id"}]'
ok "  ... the key: RSA 3072" has pay.json '.key == {"type":"rsa","bits":3072}'
ok "  ... no OCSP Must-Staple asked for" has pay.json '.must_staple == false'
ok "  ... profile, channel and requester" has pay.json \
	'.profile == "multi" and .channel == "admin" and (.requester | startswith("admin:"))'
ok "  ... validity asked 10 days, granted 10" has pay.json \
	'.validity.asked_days == 10 and .validity.granted_days == 10'
ok "  ... the rule and the name that decided" has pay.json '.rule == "payments" and
	.decision.rule == "payments" and .decision.name == "pay.example.test" and
	.decision.subject_cn == false and .decision.action == "approve" and
	.decision.approvals_needed == 2'
ok "  ... and why" has pay.json '.decision.reason | test("pay.example.test needs 2 approvals \\(rule payments\\)")'
ok "  ... no approvals yet" has pay.json '.approvals == [] and .approvals_have == 0'
ok "  ... history: submitted, linked to its audit event" has pay.json \
	'(.history | length) == 1 and .history[0].event == "submitted" and
	 .history[0].by == .requester and .history[0].at == .created and .history[0].seq > 0'
ok "  ... no CSR in the view" has pay.json 'has("csr") | not'
ok "  ... the audit event of the submission says the same" sh -c "
	'$CAIRN' audit export --dir '$D' --format jsonl --unsigned |
	jq -s -e --argjson seq \$(jq .history[0].seq '$WORK/pay.json') 'map(select(.seq == \$seq))[0] |
	.action == \"request.pending\" and .details.id == \"$ID\" and .details.name == \"pay.example.test\"'"

ok "alice approves (1 of 2)" C requests approve "$ID" --token-file "$WORK/alice.tok" --comment "known host"
ok "the request shows alice's approval" api "requests/$ID" pay1.json
cp "$WORK/pay1.json" "$WORK/last.out"
ok "  ... by name, role, time and comment" has pay1.json '.status == "pending" and
	.approvals_have == 1 and (.approvals | length) == 1 and .approvals[0].by == "admin:alice" and
	.approvals[0].role == "approver" and .approvals[0].at >= .created and
	.approvals[0].comment == "known host"'
ok "  ... and in the history" has pay1.json '[.history[].event] == ["submitted", "approved"] and
	.history[1].by == "admin:alice" and .history[1].role == "approver" and
	.history[1].comment == "known host" and .history[1].seq > .history[0].seq'

ok "cairn requests show prints the same view" sh -c "C() { '$CAIRN' \"\$@\" --dir '$D'; }
	C requests show '$ID' >'$WORK/show.json' && jq -S 'del(.expires)' '$WORK/show.json' >'$WORK/a' &&
	jq -S 'del(.expires)' '$WORK/pay1.json' >'$WORK/b' && cmp -s '$WORK/a' '$WORK/b'"
cp "$WORK/show.json" "$WORK/last.out"
ok "  ... subject, SANs, key, validity, decision, approvals, history" has show.json \
	'.subject == "CN=pay.example.test,O=Example Pay" and (.sans | length) == 5 and
	 .key.bits == 3072 and .validity.granted_days == 10 and .decision.name == "pay.example.test" and
	 .approvals[0].by == "admin:alice" and (.history | length) == 2'

# A subject of outside bytes: escaped, so what looks alike does not read alike.
openssl req -new -nodes -newkey ed25519 -keyout "$WORK/u.key" -out "$WORK/u.csr" -utf8 \
	-subj "/O=Müller, Inc./CN=pay.example.test" -addext "subjectAltName=DNS:pay.example.test" 2>/dev/null
"$CAIRN" issue --dir "$D" --csr "$WORK/u.csr" --profile multi >"$WORK/u.out" 2>&1
U=$(sed -n 's/^request \([0-9a-f]\{32\}\) pending.*/\1/p' "$WORK/u.out")
ok "a subject with non-ASCII bytes and a comma" api "requests/$U" u.json
cp "$WORK/u.json" "$WORK/last.out"
ok "  ... shows them escaped (RFC 2253)" has u.json '.subject == "CN=pay.example.test,O=M\\C3\\BCller\\, Inc."'
ok "  ... and an Ed25519 key" has u.json '.key == {"type":"ed25519","bits":256}'

# ---- an EST device without SANs ----
printf 'device pass\n' >"$WORK/pw"
ok "est user for the devices" C est user add --name dev1 --password-file "$WORK/pw" --labels iot
# the device asks for OCSP Must-Staple: approvers see it
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$WORK/dev.key" \
	-subj /CN=device-0042 -addext tlsfeature=status_request -out "$WORK/dev.csr" 2>/dev/null
b64csr dev
BODY=$WORK/dev.b64
est_post dev iot/simpleenroll -u 'dev1:device pass'
ok "an EST device request waits for approval (202)" status_is dev 202
ok "  ... and is listed" sh -c "C() { '$CAIRN' \"\$@\" --dir '$D'; }
	C requests list --json >'$WORK/list.json' &&
	jq -e '[.items[] | select(.channel == \"est\")] | length == 1' '$WORK/list.json'"
DEV=$(jq -r '.items[] | select(.channel == "est") | .id' "$WORK/list.json")
ok "GET /admin/v1/requests/ID of the device answers" api "requests/$DEV" dev.json
cp "$WORK/dev.json" "$WORK/last.out"
ok "  ... subject CN=device-0042, no SANs" has dev.json '.subject == "CN=device-0042" and .sans == []'
ok "  ... the key: EC P-256" has dev.json '.key == {"type":"ec","bits":256,"curve":"P-256"}'
ok "  ... OCSP Must-Staple asked for" has dev.json '.must_staple == true'
ok "  ... profile, channel, requester and group" has dev.json '.profile == "tls-client" and
	.channel == "est" and .requester == "est:user/dev1" and .group == "devices"'
ok "  ... validity asked by the label (30 days), granted 30" has dev.json \
	'.validity.asked_days == 30 and .validity.granted_days == 30'
ok "  ... rule devices, decided by the subject CN" has dev.json '.decision.rule == "devices" and
	.decision.name == "device-0042" and .decision.subject_cn == true and
	(.decision.reason | test("device-0042 needs 2 approvals"))'
ok "  ... history: submitted by the device" has dev.json \
	'[.history[].event] == ["submitted"] and .history[0].by == "est:user/dev1"'
ok "alice approves the device (1 of 2)" C requests approve "$DEV" --token-file "$WORK/alice.tok"
ok "cairn requests show of the device" C requests show "$DEV"
cp "$WORK/last.out" "$WORK/devshow.json"
ok "  ... shows subject, key, validity, rule and alice's approval" has devshow.json \
	'.subject == "CN=device-0042" and .key.curve == "P-256" and .validity.asked_days == 30 and
	 .decision.name == "device-0042" and .approvals[0].by == "admin:alice" and
	 [.history[].event] == ["submitted", "approved"]'

# ---- the list ----
ok "cairn requests list" C requests list
last_has "  ... has a NAMES column" "^ID +STATUS +CHANNEL +RULE +APPR +NAMES +REQUESTER"
last_has "  ... with the admin request's SANs" "^$ID +pending +admin +payments +1/2 +pay\.example\.test,www\.example\.test,"
last_has "  ... cut with a count of the rest" "^$ID .*,\+[0-9]+ +admin:"
last_has "  ... and the device's subject when it has no SANs" "^$DEV +pending +est +devices +1/2 +CN=device-0042 +est:user/dev1"
ok "GET /admin/v1/requests lists subject, SANs and key" sh -c "
	curl -sf --cacert '$ROOT' -H \"Authorization: Bearer \$(cat '$D/admin.token')\" \
		'$HTTPS_URL/admin/v1/requests?status=pending' >'$WORK/items.json' &&
	jq -e '[.items[] | select(.id == \"$ID\")][0] | .subject == \"CN=pay.example.test,O=Example Pay\"
		and (.sans | length) == 5 and .key.type == \"rsa\"' '$WORK/items.json' &&
	jq -e '[.items[] | select(.id == \"$DEV\")][0] | .sans == [] and .subject == \"CN=device-0042\"' \
		'$WORK/items.json'"

# ---- the outcome joins the history ----
ok "bob approves the admin request: issued" C requests approve "$ID" --token-file "$WORK/bob.tok"
ok "the issued request" api "requests/$ID" pay2.json
cp "$WORK/pay2.json" "$WORK/last.out"
ok "  ... history: submitted, approved, approved, issued with the serial" has pay2.json \
	'[.history[].event] == ["submitted", "approved", "approved", "issued"] and
	 .history[2].by == "admin:bob" and .history[3].serial == .serial and .status == "issued"'
ok "  ... validity granted: the certificate's 10 days" has pay2.json \
	'.validity.granted_days == 10 and .validity.not_after - .validity.not_before == 10 * 86400 - 1'
ok "bob rejects the device" C requests reject "$DEV" --token-file "$WORK/bob.tok" --comment "unknown device"
ok "the rejected request" api "requests/$DEV" dev2.json
cp "$WORK/dev2.json" "$WORK/last.out"
ok "  ... keeps its decision and ends with the rejection" has dev2.json '.status == "rejected" and
	.decision.reason == "CN device-0042 needs 2 approvals (rule devices)" and
	[.history[].event] == ["submitted", "approved", "rejected"] and
	.history[2].by == "admin:bob" and .history[2].comment == "unknown device"'

# ---- the policy in force decides again at each approval ----
# Two requests wait under rule payments; a reload then rejects one (profile multi) and asks
# more of the other (3 approvals, by admins).
C admin add --name ada --role admin >/dev/null 2>&1 || bail "admin add ada failed"
"$CAIRN" token create --dir "$D" --name ada --role admin >"$WORK/ada.tok" 2>/dev/null ||
	bail "token create ada failed"
make_csr pay3 ec:P-256 /CN=pay.example.test "DNS:pay.example.test"
"$CAIRN" issue --dir "$D" --csr "$WORK/pay.csr" --profile multi >"$WORK/last.out" 2>&1
FRZ=$(sed -n 's/^request \([0-9a-f]\{32\}\) pending.*/\1/p' "$WORK/last.out")
"$CAIRN" issue --dir "$D" --csr "$WORK/pay3.csr" --profile tls-server >"$WORK/last.out" 2>&1
RSE=$(sed -n 's/^request \([0-9a-f]\{32\}\) pending.*/\1/p' "$WORK/last.out")
ok "two pay requests wait under rule payments" test ${#FRZ} -eq 32 -a ${#RSE} -eq 32
ok "alice approves the second (1 of 2)" C requests approve "$RSE" --token-file "$WORK/alice.tok"
jq '.rules = [{"name": "freeze", "match": {"dns_exact": ["pay.example.test"], "profile": "multi"},
	"action": "reject", "reason": "frozen"},
	{"name": "payments-admin", "match": {"dns_exact": ["pay.example.test"]}, "action": "approve",
	"approvals": 3, "approver_role": "admin"}] + .rules' "$D/policy.json" >"$WORK/p2.json" &&
	cp "$WORK/p2.json" "$D/policy.json"
ok "the policy is reloaded" C policy reload
fails "alice's approval of the first is refused: the policy in force rejects it" \
	C requests approve "$FRZ" --token-file "$WORK/alice.tok"
last_has "  ... naming the new rule and its reason" "rejected by policy rule freeze: frozen"
ok "the first request" api "requests/$FRZ" frz.json
cp "$WORK/frz.json" "$WORK/last.out"
ok "  ... is rejected by rule freeze, no certificate" has frz.json '.status == "rejected" and
	.rule == "freeze" and .decision.rule == "freeze" and .decision.action == "reject" and
	(.reason | test("rejected by policy rule freeze: frozen")) and ((has("serial") | not) or .serial == "")'
ok "  ... its history ends with the rejection by policy:recheck" has frz.json \
	'.history[-1].event == "rejected" and .history[-1].by == "policy:recheck" and .approvals == []'
ok "  ... audited request.rejected with the rule" sh -c "
	'$CAIRN' audit export --dir '$D' --format jsonl --unsigned | jq -s -e 'map(select(
	.action == \"request.rejected\" and .actor == \"policy:recheck\" and
	.details.id == \"$FRZ\" and .details.rule == \"freeze\")) | length == 1'"
fails "bob's approval of the second, which would have issued it, is refused (needs admin)" \
	C requests approve "$RSE" --token-file "$WORK/bob.tok"
last_has "  ... saying which role the policy in force asks" "403.*asks admin \(rule payments-admin\)"
ok "the second request" api "requests/$RSE" rse.json
cp "$WORK/rse.json" "$WORK/last.out"
ok "  ... still waits, now for 3 admin approvals under rule payments-admin" has rse.json \
	'.status == "pending" and .rule == "payments-admin" and .approvals_needed == 3 and
	 .approver_role == "admin" and .decision.rule == "payments-admin" and
	 .decision.approvals_needed == 3'
ok "  ... alice's approval (an approver's) no longer counts" has rse.json \
	'.approvals == [] and .history[-1].event == "raised" and .history[-1].dropped == ["admin:alice"]'
ok "  ... audited request.raised" sh -c "
	'$CAIRN' audit export --dir '$D' --format jsonl --unsigned | jq -s -e 'map(select(
	.action == \"request.raised\" and .details.id == \"$RSE\" and
	.details.approvals_needed == 3)) | length == 1'"
ok "an admin's approval counts (1 of 3)" C requests approve "$RSE" --token-file "$WORK/ada.tok"
last_has "  ... still pending" "pending \(1/3 approvals\)"

# ---- a requester gone while its request waits: the approval issues nothing ----
# An EST account deleted, an admin disabled: the certificate the last approval signs is not
# written (the requester is read again in its own write, as a revoked ACME account is).
jq '.rules = [{"name": "held", "match": {"dns_exact": ["held.example.test"]}, "action": "approve",
	"approvals": 1}] + .rules' "$D/policy.json" >"$WORK/p3.json" && cp "$WORK/p3.json" "$D/policy.json"
ok "a rule holding held.example.test for one approval is loaded" C policy reload
ok "est user gone1" C est user add --name gone1 --password-file "$WORK/pw" --labels iot
csr gone /CN=device-0099 ""
est_post gone iot/simpleenroll -u 'gone1:device pass'
ok "gone1's device request waits for approval (202)" status_is gone 202
C requests list --json >"$WORK/list.json"
GONE=$(jq -r '.items[] | select(.requester == "est:user/gone1") | .id' "$WORK/list.json")
ok "  ... listed as est:user/gone1's" test ${#GONE} -eq 32
ok "the account gone1 is deleted" C est user del --name gone1
ok "alice approves (1 of 2)" C requests approve "$GONE" --token-file "$WORK/alice.tok"
fails "bob's approval, the last one, issues nothing" C requests approve "$GONE" --token-file "$WORK/bob.tok"
last_has "  ... 403, saying the account was deleted" "403.*issuance failed: the EST account gone1 was deleted"
ok "  ... the request is failed, saying why" sh -c "C() { '$CAIRN' \"\$@\" --dir '$D'; }
	C requests show '$GONE' | jq -e '.status == \"failed\" and (.reason | test(\"gone1 was deleted\"))'"
ok "  ... and no certificate names device-0099" sh -c \
	"'$CAIRN' list --dir '$D' --json >'$WORK/all.json' && ! grep -q device-0099 '$WORK/all.json'"
C admin add --name carl --role operator >/dev/null 2>&1 || bail "admin add carl failed"
"$CAIRN" token create --dir "$D" --name carl --role operator >"$WORK/carl.tok" 2>/dev/null ||
	bail "token create carl failed"
make_csr held ec:P-256 /CN=held.example.test "DNS:held.example.test"
jq -n --rawfile csr "$WORK/held.csr" '{csr: $csr, profile: "tls-server"}' >"$WORK/held.json"
curl -s --cacert "$ROOT" -H "Authorization: Bearer $(cat "$WORK/carl.tok")" \
	-H 'Content-Type: application/json' -d @"$WORK/held.json" -o "$WORK/held.out" \
	"$HTTPS_URL/admin/v1/certificates"
HELD=$(jq -r '.request // empty' "$WORK/held.out")
ok "operator carl's request for held.example.test waits" test ${#HELD} -eq 32
ok "  ... its requester admin:carl" sh -c "'$CAIRN' requests show '$HELD' --dir '$D' |
	jq -e '.requester == \"admin:carl\"'"
ok "carl is disabled" C admin disable --name carl
fails "alice's approval, the last one, issues nothing" C requests approve "$HELD" --token-file "$WORK/alice.tok"
last_has "  ... 403, saying the admin was disabled" "403.*issuance failed: admin carl was disabled"
ok "  ... the request is failed" sh -c "'$CAIRN' requests show '$HELD' --dir '$D' |
	jq -e '.status == \"failed\" and (.reason | test(\"carl was disabled\"))'"
ok "  ... and no certificate names held.example.test" sh -c \
	"'$CAIRN' list --dir '$D' --name held.example.test >'$WORK/held.list' &&
	! grep -q held.example.test '$WORK/held.list'"
make_csr held2 ec:P-256 /CN=held.example.test "DNS:held.example.test"
"$CAIRN" issue --dir "$D" --csr "$WORK/held2.csr" --profile tls-server >"$WORK/last.out" 2>&1
HELD2=$(sed -n 's/^request \([0-9a-f]\{32\}\) pending.*/\1/p' "$WORK/last.out")
ok "an enabled admin's request for it still issues on approval" sh -c "
	'$CAIRN' requests approve '$HELD2' --dir '$D' --token-file '$WORK/alice.tok' &&
	'$CAIRN' requests show '$HELD2' --dir '$D' | jq -e '.status == \"issued\"'"

# ---- attacks: clear errors, never a crash ----
fails "requests show of an unknown id" C requests show 0123456789abcdef0123456789abcdef
last_has "  ... says 404" "404"
last_one_line "  ... in one line"
fails "requests show of a path is refused before the network" C requests show ../../certificates
last_has "  ... saying what it needs" "needs one request ID"
ok "GET /requests/ID with odd ids answers 404 problems" sh -c "
	for id in x '%2e%2e' 0123456789ABCDEF0123456789ABCDEF \$(printf 'a%.0s' \$(seq 40)); do
		c=\$(curl -s --cacert '$ROOT' -o '$WORK/odd.json' -w '%{http_code}' \
			-H \"Authorization: Bearer \$(cat '$D/admin.token')\" \"$HTTPS_URL/admin/v1/requests/\$id\")
		[ \"\$c\" = 404 ] && jq -e '.type and .detail' '$WORK/odd.json' >/dev/null || exit 1
	done"
ok "  ... and the daemon is still up" curl -fsS "$HTTP_URL/healthz"
done_testing
