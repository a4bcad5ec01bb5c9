#!/bin/sh
# SPDX-License-Identifier: MIT
# `--json` of every read command, parsed with jq: one envelope for lists
# ({"items", "total", "next"}), the object itself for `show`; values checked against what
# was done (serials issued, requests left pending, admins, tokens, EST users, sinks); paging
# with --limit/--after; the token table's EXPIRES column.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"
. "$CAIRN_SRCDIR/tests/integration/acme_lib.sh"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
cat >"$D/policy.json" <<'JSON'
{"rules": [
  {"name": "dev",     "match": {"dns_suffix": [".dev.test"]},  "action": "issue"},
  {"name": "prod",    "match": {"dns_suffix": [".prod.test"]}, "action": "approve", "approvals": 2},
  {"name": "default", "match": {},                              "action": "reject", "reason": "not here"}
]}
JSON
HOOK_PORT=$(free_port)
echo 'hook secret of the test' >"$D/hook.secret"
python3 - "$D/cairn.json" "$HOOK_PORT" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["notify"] = {"poll_ms": 100, "backoff_ms": 100, "backoff_max_ms": 100, "webhooks": [
    {"name": "hook", "url": "http://127.0.0.1:%s/down" % sys.argv[2], "secret_file": "hook.secret",
     "events": ["cert.revoked"], "max_tries": 1}]}
json.dump(d, open(sys.argv[1], "w"), indent=2)
PY
ca_serve "$D" || bail "cairn serve did not start"
C() { "$CAIRN" "$@" --dir "$D"; }
# envelope FILE: exactly the list envelope, total an integer, next a string or null.
envelope() {
	jq -e '(keys == ["items", "next", "total"]) and (.items | type == "array") and
		(.total | type == "number") and (.next == null or (.next | type == "string"))' "$1" >/dev/null
}
# has FILE JQ: the JSON in FILE satisfies the jq expression.
has() { jq -e "$2" "$1" >/dev/null; }

# Three certificates issued, one revoked; two requests left waiting.
for n in 1 2 3; do
	make_csr "w$n" ec:P-256 "/CN=www$n.dev.test" "DNS:www$n.dev.test"
	C issue --csr "$WORK/w$n.csr" --profile tls-server --out "$WORK/w$n.pem" >/dev/null 2>&1 ||
		bail "issue www$n failed"
	openssl x509 -in "$WORK/w$n.pem" -noout -serial | sed 's/serial=//' | tr 'A-F' 'a-f' >"$WORK/w$n.serial"
done
S1=$(cat "$WORK/w1.serial") S2=$(cat "$WORK/w2.serial") S3=$(cat "$WORK/w3.serial")
C revoke "$S2" --reason keyCompromise >/dev/null 2>&1 || bail "revoke failed"
for n in 1 2; do
	make_csr "p$n" ec:P-256 "/CN=api$n.prod.test" "DNS:api$n.prod.test"
	C issue --csr "$WORK/p$n.csr" --profile tls-server >"$WORK/p$n.out" 2>&1
	sed -n 's/^request \([0-9a-f]\{32\}\) pending.*/\1/p' "$WORK/p$n.out" >"$WORK/p$n.id"
done
P1=$(cat "$WORK/p1.id") P2=$(cat "$WORK/p2.id")
[ ${#P1} -eq 32 ] && [ ${#P2} -eq 32 ] || bail "the prod requests did not wait: $(cat "$WORK/p1.out")"

# list
ok "list --json" sh -c "'$CAIRN' list --dir '$D' --json >'$WORK/list.json'"
ok "  ... is the list envelope" envelope "$WORK/list.json"
ok "  ... total counts the items, no next page" has "$WORK/list.json" '.total == (.items | length) and .next == null'
ok "  ... holds the three issued serials" has "$WORK/list.json" \
	"[.items[].serial] as \$s | all(\"$S1\", \"$S2\", \"$S3\"; . as \$x | \$s | index(\$x) != null)"
ok "  ... with their names as arrays, status and profile" has "$WORK/list.json" \
	".items[] | select(.serial == \"$S1\") | .names == [\"www1.dev.test\"] and .status == \"valid\" and .profile == \"tls-server\""
ok "  ... the revoked one revoked, with its reason" has "$WORK/list.json" \
	".items[] | select(.serial == \"$S2\") | .status == \"revoked\" and .reason == \"keyCompromise\""
TOTAL=$(jq .total "$WORK/list.json")
ok "list --json --limit 2: two items and a next cursor" sh -c "
	'$CAIRN' list --dir '$D' --json --limit 2 >'$WORK/page1.json' &&
	jq -e '(.items | length) == 2 and .total == $TOTAL and (.next | type == \"string\")' '$WORK/page1.json'"
ok "  ... --after NEXT gives the rest, and the pages add up to the whole list" sh -c "
	'$CAIRN' list --dir '$D' --json --after \"\$(jq -r .next '$WORK/page1.json')\" >'$WORK/page2.json' &&
	jq -e '.next == null and (.items | length) == $TOTAL - 2' '$WORK/page2.json' &&
	[ \"\$(jq -r '.items[].serial' '$WORK/page1.json' '$WORK/page2.json')\" = \"\$(jq -r '.items[].serial' '$WORK/list.json')\" ]"
ok "list --json --name www3.dev.test: that certificate only" sh -c "
	'$CAIRN' list --dir '$D' --json --name www3.dev.test >'$WORK/one.json' &&
	jq -e '.total == 1 and .items[0].serial == \"$S3\"' '$WORK/one.json'"
fails "--limit 0 is refused" C list --json --limit 0
last_one_line "  ... in one line"
fails "--after that is not a cursor is refused" C list --json --after abc
fails "--limit without --json is refused (the table does not page)" C list --limit 2

# list --requester: the certificates of one requester (olivia issues three through the
# admin API with her own token; the three above are admin:bootstrap's).
C admin add --name olivia --role admin >/dev/null 2>&1 || bail "admin add olivia failed"
"$CAIRN" token create --dir "$D" --name olivia --role admin >"$WORK/olivia.tok" 2>/dev/null ||
	bail "token create failed"
for n in 1 2 3; do
	make_csr "o$n" ec:P-256 "/CN=own$n.dev.test" "DNS:own$n.dev.test"
	jq -n --rawfile c "$WORK/o$n.csr" '{csr: $c, profile: "tls-server"}' >"$WORK/o$n.req"
	curl -s --cacert "$D/ca/root.pem" -H "Authorization: Bearer $(cat "$WORK/olivia.tok")" \
		-H 'Content-Type: application/json' --data-binary "@$WORK/o$n.req" \
		"$HTTPS_URL/admin/v1/certificates" | jq -r '.chain // empty' >"$WORK/o$n.pem"
	openssl x509 -in "$WORK/o$n.pem" -noout -serial | sed 's/serial=//' | tr 'A-F' 'a-f' >"$WORK/o$n.serial" ||
		bail "olivia's own$n was not issued"
done
OLIVIA=$(sort "$WORK"/o[123].serial | tr '\n' ' ')
REQ=$(jq -r --arg s "$(cat "$WORK/o1.serial")" '.items[] | select(.serial == $s) | .requester' \
	"$(C list --json >"$WORK/all.json" && echo "$WORK/all.json")")
[ -n "$REQ" ] && [ "$REQ" != admin:bootstrap ] || bail "olivia's certificate has no requester of its own: '$REQ'"
# serials FILE...: the serials of the items, sorted, on one line.
serials() { jq -r '.items[].serial' "$@" | sort | tr '\n' ' '; }
ok "list --json --requester $REQ: her three certificates, nobody else's" sh -c "
	'$CAIRN' list --dir '$D' --json --requester '$REQ' >'$WORK/req.json' &&
	jq -e '.total == 3 and .next == null and all(.items[]; .requester == \"$REQ\")' '$WORK/req.json'"
ok "  ... exactly the serials she was issued" sh -c "[ \"\$(jq -r '.items[].serial' '$WORK/req.json' | sort | tr '\\n' ' ')\" = '$OLIVIA' ]"
ok "list --json --requester admin:bootstrap: the first three, none of hers" sh -c "
	'$CAIRN' list --dir '$D' --json --requester admin:bootstrap >'$WORK/boot.json' &&
	jq -e '[.items[].serial] | sort == ([\"$S1\", \"$S2\", \"$S3\"] | sort)' '$WORK/boot.json'"
ok "--requester --limit 2: two items and a next cursor" sh -c "
	'$CAIRN' list --dir '$D' --json --requester '$REQ' --limit 2 >'$WORK/rp1.json' &&
	jq -e '(.items | length) == 2 and (.next | type == \"string\") and .more != true' '$WORK/rp1.json'"
ok "  ... --after NEXT: the third, the last page; the pages add up to her certificates" sh -c "
	'$CAIRN' list --dir '$D' --json --requester '$REQ' --limit 2 --after \"\$(jq -r .next '$WORK/rp1.json')\" >'$WORK/rp2.json' &&
	jq -e '(.items | length) == 1 and .next == null' '$WORK/rp2.json' &&
	[ \"\$(jq -r '.items[].serial' '$WORK/rp1.json' '$WORK/rp2.json' | sort | tr '\\n' ' ')\" = '$OLIVIA' ]"
fails "  ... its cursor is refused by a listing without --requester" sh -c "
	'$CAIRN' list --dir '$D' --json --after \"\$(jq -r .next '$WORK/rp1.json')\""
last_one_line "  ... in one line"
ok "--requester of nobody: an empty list, not an error" sh -c "
	'$CAIRN' list --dir '$D' --json --requester admin:nobody >'$WORK/none.json' &&
	jq -e '.total == 0 and .items == [] and .next == null' '$WORK/none.json'"
ok "  ... the table too: no rows" sh -c "
	'$CAIRN' list --dir '$D' --requester admin:nobody 2>&1 | grep -qx '0 certificate(s)'"
ok "the table of --requester $REQ: her three serials" sh -c "
	'$CAIRN' list --dir '$D' --requester '$REQ' 2>'$WORK/t.err' | awk 'NR > 1 {print \$1}' | sort | tr '\\n' ' ' >'$WORK/t.out' &&
	[ \"\$(cat '$WORK/t.out')\" = '$OLIVIA' ] && grep -qx '3 certificate(s)' '$WORK/t.err'"
ok "--requester with --name: her own2.dev.test" sh -c "
	'$CAIRN' list --dir '$D' --json --requester '$REQ' --name own2.dev.test >'$WORK/rn.json' &&
	jq -e '.total == 1 and .items[0].serial == \"$(cat "$WORK/o2.serial")\"' '$WORK/rn.json'"
ok "  ... another requester with that name: nothing" sh -c "
	'$CAIRN' list --dir '$D' --json --requester admin:bootstrap --name own2.dev.test >'$WORK/rn2.json' &&
	jq -e '.total == 0' '$WORK/rn2.json'"
ok "--requester with --name .dev.test (a suffix), paged by one: her three, once each" sh -c "
	'$CAIRN' list --dir '$D' --json --requester '$REQ' --name .dev.test --limit 1 >'$WORK/rs1.json' &&
	'$CAIRN' list --dir '$D' --json --requester '$REQ' --name .dev.test --limit 1 --after \"\$(jq -r .next '$WORK/rs1.json')\" >'$WORK/rs2.json' &&
	'$CAIRN' list --dir '$D' --json --requester '$REQ' --name .dev.test --limit 1 --after \"\$(jq -r .next '$WORK/rs2.json')\" >'$WORK/rs3.json' &&
	jq -e '.next == null' '$WORK/rs3.json' &&
	[ \"\$(jq -r '.items[].serial' '$WORK/rs1.json' '$WORK/rs2.json' '$WORK/rs3.json' | sort | tr '\\n' ' ')\" = '$OLIVIA' ]"
ok "--requester with --expiring-within 3650d: her three; with 1h: none" sh -c "
	'$CAIRN' list --dir '$D' --json --requester '$REQ' --expiring-within 3650d | jq -e '.total == 3 and all(.items[]; .requester == \"$REQ\")' &&
	'$CAIRN' list --dir '$D' --json --requester '$REQ' --expiring-within 1h | jq -e '.total == 0'"
fails "a --requester that is not UTF-8 is refused" C list --json --requester "$(printf 'admin:\377olivia')"
last_one_line "  ... in one line"
last_has "  ... saying why" "UTF-8"
fails "a --requester longer than any record holds (128 bytes) is refused" \
	C list --requester "admin:$(printf '%0122d' 0)"
last_one_line "  ... in one line"
last_has "  ... saying why" "127 bytes"
ok "  ... 127 bytes is a requester (of nobody)" sh -c "
	'$CAIRN' list --dir '$D' --json --requester 'admin:$(printf '%0121d' 0)' | jq -e '.total == 0'"

# show
ok "show --json SERIAL is the record itself" sh -c "'$CAIRN' show --dir '$D' --json '$S2' >'$WORK/show.json'"
ok "  ... serial, names, status, revocation" has "$WORK/show.json" \
	".serial == \"$S2\" and .names == [\"www2.dev.test\"] and .status == \"revoked\" and .reason == \"keyCompromise\" and (.revoked_at | test(\"^[0-9]{4}-\"))"
ok "  ... its pem is the certificate issued" sh -c "jq -r .pem '$WORK/show.json' | openssl x509 -noout -serial |
	tr 'A-F' 'a-f' | grep -qx 'serial=$S2'"
fails "show --json --pem is refused" C show --json --pem "$S2"

# requests
ok "requests list --json" sh -c "'$CAIRN' requests list --dir '$D' --json >'$WORK/req.json'"
ok "  ... is the list envelope" envelope "$WORK/req.json"
ok "  ... holds the two waiting requests" has "$WORK/req.json" \
	".total == 2 and ([.items[].id] | sort) == ([\"$P1\", \"$P2\"] | sort) and .next == null"
ok "requests list --json --limit 1: one item, next \"1\"" sh -c "
	'$CAIRN' requests list --dir '$D' --json --limit 1 >'$WORK/rq1.json' &&
	jq -e '(.items | length) == 1 and .total == 2 and .next == \"1\"' '$WORK/rq1.json'"
ok "  ... --after 1: the other one, last page" sh -c "
	'$CAIRN' requests list --dir '$D' --json --limit 1 --after 1 >'$WORK/rq2.json' &&
	jq -e '(.items | length) == 1 and .next == null' '$WORK/rq2.json' &&
	[ \"\$(jq -r '.items[0].id' '$WORK/rq1.json' '$WORK/rq2.json' | sort)\" = \"\$(printf '%s\n' $P1 $P2 | sort)\" ]"
ok "requests show --json ID is the request itself" sh -c "
	'$CAIRN' requests show --dir '$D' --json '$P1' | jq -e '.id == \"$P1\" and .status == \"pending\" and .approvals_needed == 2'"

# admins and tokens (with expiry)
C admin add --name alice --role approver >/dev/null 2>&1 || bail "admin add failed"
C token create --name alice --role approver --expires-in 30d >"$WORK/alice.tok" 2>/dev/null || bail "token create failed"
C token create --name alice --role approver >"$WORK/alice2.tok" 2>/dev/null || bail "token create failed"
ok "admin list --json" sh -c "'$CAIRN' admin list --dir '$D' --json >'$WORK/admins.json'"
ok "  ... is the list envelope" envelope "$WORK/admins.json"
ok "  ... the bootstrap admin, olivia (list --requester) and alice, with roles" has "$WORK/admins.json" \
	'.total == 3 and ([.items[] | "\(.name):\(.role)"] | sort) == ["alice:approver", "bootstrap:admin", "olivia:admin"]'
ok "token list --json" sh -c "'$CAIRN' token list --dir '$D' --json >'$WORK/tokens.json'"
ok "  ... is the list envelope" envelope "$WORK/tokens.json"
NOW=$(date +%s)
ok "  ... alice's tokens: one expiring in 30 days, one never" has "$WORK/tokens.json" \
	"[.items[] | select(.name == \"alice\") | .expires] | sort | .[0] == 0 and
	 (.[1] - $NOW | . > 29 * 86400 and . <= 30 * 86400 + 60)"
ok "token list shows an EXPIRES column" C token list
EXP=$(date -u -d "@$(jq '[.items[].expires] | max' "$WORK/tokens.json")" +%Y-%m-%dT%H:%M:%SZ)
last_has "  ... with the expiring token's date" "alice +approver +active +$EXP"
last_has "  ... and never for the other" "alice +approver +active +never"

# EST users
printf 'device password 1\n' >"$WORK/pw"
C est user add --name dev1 --password-file "$WORK/pw" >/dev/null 2>&1 || bail "est user add failed"
ok "est user list --json" sh -c "'$CAIRN' est user list --dir '$D' --json >'$WORK/est.json'"
ok "  ... is the list envelope with dev1" sh -c "jq -e '(keys == [\"items\", \"next\", \"total\"]) and .total == 1 and
	.items[0].name == \"dev1\" and .items[0].labels == [] and .items[0].default_label == \"default\"' '$WORK/est.json'"

# audit export: JSON lines
ok "audit export --json is JSON lines, each line an object" sh -c "
	'$CAIRN' audit export --dir '$D' --json >'$WORK/audit.jsonl' &&
	[ \$(jq -c 'type' '$WORK/audit.jsonl' | grep -cv '\"object\"') -eq 0 ] &&
	[ \$(wc -l <'$WORK/audit.jsonl') -gt 5 ]"
ok "  ... holding the revocation of $S2 with its reason" sh -c "
	[ \"\$(jq -r 'select(.action == \"cert.revoke\") | \"\\(.serial) \\(.details.reason)\"' '$WORK/audit.jsonl')\" = '$S2 keyCompromise' ]"
fails "audit export --json --format csv is refused" C audit export --json --format csv

# policy
ok "policy show --json is the policy in force" sh -c "
	'$CAIRN' policy show --dir '$D' --json | jq -e '[.rules[].name] == [\"dev\", \"prod\", \"default\"]'"
ok "policy test --json" sh -c "'$CAIRN' policy test --dir '$D' --csr '$WORK/p1.csr' --channel admin --json >'$WORK/ptest.json'"
ok "  ... decides approve by rule prod, 2 approvals, reading the daemon's policy file" has "$WORK/ptest.json" \
	".action == \"approve\" and .rule == \"prod\" and .approvals == 2 and .policy == \"$D/policy.json\""
ok "  ... the verdict for api1.prod.test, rule dev passed over" has "$WORK/ptest.json" \
	'.names == [{"name": "api1.prod.test", "kind": "dns", "rule": "prod", "action": "approve", "approvals": 2, "approver_role": ""}] and
	 [.passed_over[] | select(.rule == "dev") | .why | type] == ["string"]'
ok "  ... the same document as the admin API's policy test, but for the file name" sh -c "
	curl -s --cacert '$D/ca/root.pem' -H \"Authorization: Bearer \$(cat '$D/admin.token')\" \
		-H 'Content-Type: application/json' \
		-d \"\$(jq -n --rawfile csr '$WORK/p1.csr' '{csr: \$csr, channel: \"admin\"}')\" \
		'$HTTPS_URL/admin/v1/policy/test' >'$WORK/api_ptest.json' &&
	jq -e --slurpfile api '$WORK/api_ptest.json' 'del(.policy) == \$api[0]' '$WORK/ptest.json'"

# config keys
ok "config keys --json" sh -c "'$CAIRN' config keys --json >'$WORK/keys.json'"
ok "  ... is the list envelope" envelope "$WORK/keys.json"
ok "  ... one item per row of the Markdown table" sh -c "
	[ \$(jq .total '$WORK/keys.json') -eq \$('$CAIRN' config keys | grep -c '^| \`') ]"
ok "  ... listen.https with its type and default" has "$WORK/keys.json" \
	'.items[] | select(.key == "listen.https") | .type == "host:port" and .value == "127.0.0.1:8443"'

# notify: the revocation above went to a sink that is down (one try): a dead letter
dead() { "$CAIRN" notify list --dir "$D" --json | jq -e '.items[0].dead | length == 1' >/dev/null; }
i=0
until dead || [ $i -gt 100 ]; do i=$((i + 1)); sleep 0.1; done
ok "notify list --json" sh -c "'$CAIRN' notify list --dir '$D' --json >'$WORK/notify.json'"
ok "  ... is the list envelope" envelope "$WORK/notify.json"
ok "  ... the sink with its dead letter (cert.revoked)" has "$WORK/notify.json" \
	".total == 1 and .items[0].name == \"hook\" and .items[0].url == \"http://127.0.0.1:$HOOK_PORT/...\" and
	 [.items[0].dead[].type] == [\"cert.revoked\"]"

done_testing
