#!/bin/sh
# SPDX-License-Identifier: MIT
# The audit log: every issuance recorded, chain verifies, export works, tampering is caught.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
ca_serve "$D" || bail "cairn serve did not start"
for n in 1 2 3; do
	make_csr "h$n" ec:P-256 "/CN=h$n.example.test" "DNS:h$n.example.test"
	"$CAIRN" issue --dir "$D" --csr "$WORK/h$n.csr" --profile tls-server --out "$WORK/h$n.pem" \
		2>/dev/null || bail "issue failed"
done
curl -s --cacert "$D/ca/root.pem" -H 'Authorization: Bearer cairn_nope' \
	-H 'Content-Type: application/json' -d '{}' "$HTTPS_URL/admin/v1/certificates" >/dev/null

ok "audit verify passes while the daemon runs" "$CAIRN" audit verify --dir "$D"
last_has "  ... and counts the events" "intact: [0-9]+ events"
ok "export jsonl" sh -c "'$CAIRN' audit export --dir '$D' --format jsonl >'$WORK/a.jsonl'"
ok "every issuance is an event with its serial" sh -c "for n in 1 2 3; do
	s=\$(openssl x509 -in '$WORK/h'\$n.pem -noout -serial | cut -d= -f2 | tr A-F a-f)
	grep '\"action\":\"cert.issue\"' '$WORK/a.jsonl' | grep -q \"\$s\" || exit 1; done"
ok "init recorded the hierarchy and the bootstrap token" sh -c "
	[ \$(grep -c '\"action\":\"ca.init\"' '$WORK/a.jsonl') -eq 4 ] &&
	grep -q '\"action\":\"admin.token.create\"' '$WORK/a.jsonl'"
ok "the refused admin call was audited" grep -q '"action":"admin.denied"' "$WORK/a.jsonl"
ok "events chain by prev hash" sh -c "head -n 1 '$WORK/a.jsonl' |
	grep -q '\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\"'"
ok "export csv has a header and one row per event" sh -c "
	'$CAIRN' audit export --dir '$D' --format csv >'$WORK/a.csv' &&
	head -n 1 '$WORK/a.csv' | grep -q '^seq,time,actor,action' &&
	[ \$(grep -c '^[0-9]' '$WORK/a.csv') -eq \$(grep -vc '^{\"head\"' '$WORK/a.jsonl') ]"
ok "both exports end with a head line" sh -c "tail -n 1 '$WORK/a.jsonl' | grep -q '^{\"head\":{\"seq\":' &&
	tail -n 1 '$WORK/a.csv' | grep -q '^#head,'"
ok "export --since in the future holds only the head line" sh -c "
	[ \"\$('$CAIRN' audit export --dir '$D' --format jsonl --since 2999-01-01)\" = \
	  '{\"head\":{\"seq\":0,\"hash\":\"\",\"events\":0}}' ]"
ok "export --until in the past holds only the head line" sh -c "
	[ \"\$('$CAIRN' audit export --dir '$D' --format jsonl --until 2000-01-01)\" = \
	  '{\"head\":{\"seq\":0,\"hash\":\"\",\"events\":0}}' ]"
fails "bad --format is refused" "$CAIRN" audit export --dir "$D" --format xml
ok "every certificate in the database passes certlint" lint_db "$D"
ca_stop

SEQ=5
ok "tamper tool flips one byte of event $SEQ" "$CAIRN_TOOLS/tools/audit_tamper" "$D/db" $SEQ
fails "audit verify FAILS after one byte changed" "$CAIRN" audit verify --dir "$D"
last_has "  ... naming the first broken sequence" "sequence $SEQ"
last_one_line "  ... in one line"

done_testing
