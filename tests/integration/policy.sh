#!/bin/sh
# SPDX-License-Identifier: MIT
# Policy through the running daemon: issue at once, park for approvals, refuse; reload on SIGHUP.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
ok "init writes the default policy 0600" test "$(stat -c %a "$D/policy.json")" = 600
ok "the default policy issues everything" grep -q '"action": "issue"' "$D/policy.json"
cat >"$D/policy.json" <<'JSON'
{"rules": [
  {"name": "dev",     "match": {"dns_suffix": [".dev.test"]},                   "action": "issue"},
  {"name": "prod",    "match": {"dns_suffix": [".prod.test"]},                  "action": "approve", "approvals": 2},
  {"name": "devices", "match": {"channel": "est", "subject_cn_prefix": "device-"}, "action": "approve", "approvals": 2},
  {"name": "default", "match": {},                                               "action": "reject", "reason": "not allowed by policy"}
]}
JSON
ca_serve "$D" || bail "cairn serve did not start"
ROOT=$D/ca/root.pem
TOKEN=$(cat "$D/admin.token")

# post NAME: POST $WORK/NAME.csr to /admin/v1/certificates; prints the status, body in NAME.out,
# headers in NAME.hdr.
post() {
	body=$(perl -0777 -pe 's/\n/\\n/g; s/^/"/; s/$/"/' "$WORK/$1.csr")
	curl -s --cacert "$ROOT" -o "$WORK/$1.out" -D "$WORK/$1.hdr" -w '%{http_code}' \
		-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
		-d "{\"csr\":$body,\"profile\":\"tls-server\"}" "$HTTPS_URL/admin/v1/certificates"
}
# post_is CODE NAME: the POST answers CODE.
post_is() { [ "$(post "$2")" = "$1" ]; }
# log_waits TEXT: waits (bounded) until the daemon log holds TEXT.
log_waits() {
	i=0
	until grep -q "$1" "$D.serve.log"; do
		i=$((i + 1))
		[ $i -gt 100 ] && return 1
		sleep 0.1
	done
}

make_csr dev ec:P-256 /CN=www.dev.test "DNS:www.dev.test"
make_csr prod ec:P-256 /CN=api.prod.test "DNS:api.prod.test"
make_csr other ec:P-256 /CN=www.example.org "DNS:www.example.org"
make_csr mixed ec:P-256 /CN=www.dev.test "DNS:www.dev.test,DNS:www.example.org"

ok "a dev name is issued at once (201)" post_is 201 dev
ok "  ... with the certificate" grep -q 'BEGIN CERTIFICATE' "$WORK/dev.out"
ok "a prod name waits for approvals (202)" post_is 202 prod
ok "  ... with the request id and its Location" sh -c "
	id=\$(sed -n 's/.*\"request\": *\"\\([0-9a-f]*\\)\".*/\\1/p' '$WORK/prod.out')
	[ \${#id} -eq 32 ] && grep -qi \"^location: /admin/v1/requests/\$id\" '$WORK/prod.hdr'"
ok "  ... needing 2 approvals under rule prod" sh -c "grep -q '\"approvals_needed\": 2' '$WORK/prod.out' &&
	grep -q '\"rule\": \"prod\"' '$WORK/prod.out'"
ok "anything else is refused (403)" post_is 403 other
ok "  ... with a rejectedByPolicy problem naming the rule and reason" sh -c "
	grep -q 'urn:cairn:problem:rejectedByPolicy' '$WORK/other.out' &&
	grep -q 'default' '$WORK/other.out' && grep -q 'not allowed by policy' '$WORK/other.out'"
ok "one name outside the dev suffix is refused too" post_is 403 mixed
fails "cairn issue of a prod name does not print a certificate" "$CAIRN" issue --dir "$D" \
	--csr "$WORK/prod.csr" --profile tls-server
last_has "  ... it says the request is pending" "request [0-9a-f]{32} pending: 2 approvals needed"
ok "the pending request and the refusal are audited" sh -c "
	'$CAIRN' audit export --dir '$D' --format jsonl >'$WORK/audit.jsonl' &&
	grep -q '\"action\":\"request.pending\"' '$WORK/audit.jsonl' &&
	grep -q '\"action\":\"request.rejected\"' '$WORK/audit.jsonl'"

# Reload: a broken file is refused and the old policy stays; a good one takes over.
cp "$D/policy.json" "$WORK/good-policy.json"
sed 's/"dns_suffix": \[".prod.test"\]/"dns_suffix": ".prod.test"/' "$WORK/good-policy.json" >"$D/policy.json"
kill -HUP "$SERVE_PID"
ok "a bad policy is refused on SIGHUP" log_waits 'policy not reloaded'
ok "  ... naming rule and field" sh -c "grep 'policy not reloaded' '$D.serve.log' |
	grep -q 'rules\\[1\\] (prod).match.dns_suffix'"
ok "  ... and the old policy stays (dev still issued)" post_is 201 dev
ok "  ... (prod still waits)" post_is 202 prod
ok "  ... and the daemon is still up" curl -fsS "$HTTP_URL/healthz"
sed 's/"reject", "reason": "not allowed by policy"/"issue"/' "$WORK/good-policy.json" >"$D/policy.json"
kill -HUP "$SERVE_PID"
ok "a good policy is taken on SIGHUP" log_waits 'SIGHUP: policy reloaded'
ok "  ... and decides from then on" post_is 201 other
cp "$D/policy.json" "$WORK/taken.json"
echo '{"rules": [{"name": "r", "match": {"ip_cidr": ["nope"]}, "action": "issue"}]}' >"$D/policy.json"
fails "cairn policy reload refuses a bad file" "$CAIRN" policy reload --dir "$D"
last_has "  ... 422 naming rule and field" "422.*rules\[0\] \(r\)\.match\.ip_cidr"
ok "  ... policy show still gives the old one" sh -c "'$CAIRN' policy show --dir '$D' | cmp -s - '$WORK/taken.json'"
# A protecting rule written with a trailing dot would match no name and let prod names
# through to the issue rule after it: refused, and the policy in force stays.
sed 's/"\.prod\.test"/".prod.test."/' "$WORK/taken.json" >"$D/policy.json"
fails "a reload whose prod rule names \".prod.test.\" is refused" "$CAIRN" policy reload --dir "$D"
last_has "  ... 422 saying it can never match" "422.*rules\[1\] \(prod\)\.match\.dns_suffix: \"\.prod\.test\.\" can never match: the name ends with a dot"
ok "  ... prod still waits" post_is 202 prod
fails "  ... policy check refuses the file too" "$CAIRN" policy check "$D/policy.json"
last_one_line "  ... in one line"
# The same for a misspelt profile: the daemon knows its profiles, and so does `policy check
# --dir`; a file checked alone cannot.
python3 -c 'import json, sys
p = json.load(open(sys.argv[1]))
p["rules"].insert(0, {"name": "servers", "match": {"profile": ["tls-sever"]}, "action": "reject"})
json.dump(p, open(sys.argv[2], "w"))' "$WORK/taken.json" "$D/policy.json"
fails "a reload whose rule names profile \"tls-sever\" is refused" "$CAIRN" policy reload --dir "$D"
last_has "  ... 422 naming rule, field and profile" "422.*rules\[0\] \(servers\)\.match\.profile: \"tls-sever\" can never match: cairn.json has no such profile"
fails "  ... policy check --dir refuses it" "$CAIRN" policy check --dir "$D"
last_has "  ... the same way" "rules\[0\] \(servers\)\.match\.profile: \"tls-sever\""
ok "  ... policy check of the file alone cannot know" "$CAIRN" policy check "$D/policy.json"
cp "$WORK/taken.json" "$D/policy.json"
ok "cairn policy reload takes a good file" "$CAIRN" policy reload --dir "$D"
ok "reloads are audited" sh -c "
	'$CAIRN' audit export --dir '$D' --format jsonl >'$WORK/audit2.jsonl' &&
	grep -q '\"action\":\"policy.reload_failed\"' '$WORK/audit2.jsonl' &&
	grep -q '\"action\":\"policy.reload\"' '$WORK/audit2.jsonl'"
ca_stop
ok "the daemon signed a checkpoint at shutdown" sh -c "
	'$CAIRN' audit export --dir '$D' --format jsonl --unsigned --out '$WORK/all.jsonl' &&
	tail -n 2 '$WORK/all.jsonl' | head -n 1 | grep -q '\"actor\":\"server:shutdown\",\"action\":\"audit.checkpoint\"'"

# A daemon refuses to start on a broken policy, and says where.
cp "$WORK/good-policy.json" "$D/policy.json"
echo '{"rules": [{"name": "x", "match": {}, "action": "maybe"}]}' >"$D/policy.json"
fails "serve refuses a broken policy file" "$CAIRN" serve --dir "$D"
last_has "  ... naming rule and field" "rules\[0\] \(x\)\.action"
for f in "$CAIRN_SRCDIR"/policy/examples/*.json; do
	ok "example $(basename "$f") is a valid policy" "$CAIRN" policy check "$f"
done
fails "policy check refuses a broken file" "$CAIRN" policy check "$D/policy.json"
last_has "  ... naming rule and field" "rules\[0\] \(x\)\.action: must be"
ok "cairn config check accepts requests.pending_ttl" "$CAIRN" config check --dir "$D"
sed 's/"pending_ttl": "7d"/"pending_ttl": "soon"/' "$D/cairn.json" >"$WORK/c.json" && cp "$WORK/c.json" "$D/cairn.json"
fails "a bad requests.pending_ttl is refused" "$CAIRN" config check --dir "$D"
last_has "  ... naming the key" "requests.pending_ttl"

# Nobody decides in time: the request expires.
sed 's/"pending_ttl": "soon"/"pending_ttl": "1s"/' "$D/cairn.json" >"$WORK/c.json" && cp "$WORK/c.json" "$D/cairn.json"
cp "$WORK/good-policy.json" "$D/policy.json"
ca_serve "$D" || bail "cairn serve did not restart"
make_csr late ec:P-256 /CN=late.prod.test "DNS:late.prod.test"
fails "a prod request waits" "$CAIRN" issue --dir "$D" --csr "$WORK/late.csr" --profile tls-server
LATE=$(sed -n 's/^request \([0-9a-f]\{32\}\) pending.*/\1/p' "$WORK/last.out")
expired() {
	i=0
	until "$CAIRN" requests show "$LATE" --dir "$D" | grep -q '"status": "expired"'; do
		i=$((i + 1))
		[ $i -gt 50 ] && return 1
		sleep 0.1
	done
}
ok "after requests.pending_ttl it is expired" expired
fails "  ... and can no longer be approved" "$CAIRN" requests approve "$LATE" --dir "$D" \
	--token-file "$D/admin.token"
last_has "  ... 409" "409.*(expired|not pending)"
ok "  ... the expiry is audited" sh -c "'$CAIRN' audit export --dir '$D' --format jsonl |
	grep '\"action\":\"request.expired\"' | grep -q '$LATE'"
ca_stop

ok "every certificate in the database passes certlint" lint_db "$D"
done_testing
