#!/bin/sh
# SPDX-License-Identifier: MIT
# Events and webhooks through the running daemon: issue, revoke, request pending/approved/
# rejected each reach a loopback receiver with a valid Cairn-Signature; a receiver that is
# down gets everything after it comes back, in order per certificate; a daemon killed with
# SIGKILL during delivery delivers every event afterwards (by id); dead letters show in
# `cairn notify list` and `retry` delivers them; under libfaketime certificates cross the
# 30/7/1-day thresholds with exactly one cert.expiring each, a renewed one with none.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

SINK="$CAIRN_SRCDIR/tests/integration/webhook_sink.py"
D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
C() { "$CAIRN" "$@" --dir "$D"; }
cat >"$D/policy.json" <<'JSON'
{"rules": [
  {"name": "prod", "match": {"dns_suffix": [".prod.test"]}, "action": "approve", "approvals": 1},
  {"name": "default", "match": {}, "action": "issue"}
]}
JSON
printf 'ops-secret\n' >"$D/ops.secret"
printf 'late-secret\n' >"$D/late.secret"

# sink_start NAME PORT: a receiver (PORT 0 = any); sets SINK_PID_NAME, its port in $WORK/NAME.port.
sink_start() {
	rm -f "$WORK/$1.port"
	python3 "$SINK" "$2" "$WORK/$1.port" "$D/$1.secret" "$WORK/$1.log" 2>>"$WORK/$1.err" &
	eval "SINK_PID_$1=$!"
	CAIRN_PIDS="$CAIRN_PIDS $!"
	i=0
	until [ -s "$WORK/$1.port" ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && return 1
		sleep 0.1
	done
}
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f'; }

sink_start ops 0 || bail "webhook receiver did not start: $(cat "$WORK/ops.err")"
OPS_PORT=$(cat "$WORK/ops.port")
python3 "$CAIRN_SRCDIR/tests/integration/smtp_sink.py" "$WORK/smtp.port" "$WORK/smtp.log" \
	2>>"$WORK/smtp.err" &
CAIRN_PIDS="$CAIRN_PIDS $!"
i=0
until [ -s "$WORK/smtp.port" ] || [ $i -gt 100 ]; do i=$((i + 1)); sleep 0.1; done
SMTP_PORT=$(cat "$WORK/smtp.port") || bail "SMTP sink did not start: $(cat "$WORK/smtp.err")"
# A port nothing listens on yet, for the sink whose events go to the dead-letter state.
LATE_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# set_notify JSON: the notify object of cairn.json.
set_notify() {
	python3 - "$D/cairn.json" "$1" <<'PY'
import json, sys
p = sys.argv[1]
d = json.load(open(p))
d["notify"] = json.loads(sys.argv[2])
json.dump(d, open(p, "w"), indent=2)
PY
}
set_notify '{"webhooks":[{"name":"ops","url":"http://127.0.0.1:1/","secret_file":"ops.secret","events":["cert.nope"]}]}'
fails "an unknown event type in notify.webhooks is refused" C config check
last_has "  ... naming the key" "notify.webhooks\[0\].events\[0\]"
set_notify '{"webhooks":[{"name":"ops","url":"ftp://x/","secret_file":"ops.secret"}]}'
fails "a webhook url that is not http(s) is refused" C config check
last_has "  ... naming the key" "notify.webhooks\[0\].url"
set_notify '{"email":[{"name":"mail","to":["pki@example.test"]}]}'
fails "an e-mail sink without notify.smtp is refused" C config check
last_has "  ... saying so" "notify.email: needs notify.smtp"
set_notify '{"smtp":{"url":"smtp://127.0.0.1:25","from":"cairn@example.test"},"email":[{"name":"mail","to":["not an address"]}]}'
fails "a recipient that is not an address is refused" C config check
last_has "  ... naming the key" "notify.email\[0\].to"
set_notify '{"webhooks":[{"name":"ops","url":"http://127.0.0.1:1/","secret_file":"nope.secret"}]}'
ca_serve "$D" >/dev/null 2>&1 && bail "serve started without the secret file"
ok "a missing secret file stops the daemon from starting with a clear error" \
	grep -q "secret_file.*nope.secret" "$D.serve.log"
set_notify "{\"poll_ms\": 100, \"backoff_ms\": 100, \"backoff_max_ms\": 400,
  \"webhooks\": [
    {\"name\": \"ops\", \"url\": \"http://hookuser:S3cretPw@127.0.0.1:$OPS_PORT/hook/T0/XSECRETX?token=abc\", \"secret_file\": \"ops.secret\",
     \"max_tries\": 100},
    {\"name\": \"late\", \"url\": \"http://127.0.0.1:$LATE_PORT/hook\", \"secret_file\": \"late.secret\",
     \"events\": [\"cert.revoked\"], \"max_tries\": 2}],
  \"smtp\": {\"url\": \"smtp://127.0.0.1:$SMTP_PORT\", \"from\": \"cairn@example.test\"},
  \"email\": [{\"name\": \"mail\", \"to\": [\"pki@example.test\", \"ops@example.test\"],
    \"events\": [\"cert.issued\", \"cert.revoked\"]},
   {\"name\": \"payteam\", \"to\": [\"pay@example.test\"], \"events\": [\"cert.issued\", \"cert.revoked\"],
    \"match\": {\"dns_suffix\": [\".pay.test\"]}}]}"
ok "cairn config check accepts the notify object" C config check
ca_serve "$D" || bail "cairn serve did not start"
C admin add --name bob --role approver >/dev/null 2>&1 || bail "admin add bob failed"
"$CAIRN" token create --dir "$D" --name bob --role approver >"$WORK/bob.tok" 2>/dev/null ||
	bail "token create failed"

# ---- issue, revoke, requests ----
make_csr one ec:P-256 /CN=one.dev.test "DNS:one.dev.test"
ok "issue one certificate" C issue --csr "$WORK/one.csr" --profile tls-server --out "$WORK/one.pem"
S1=$(serial_of "$WORK/one.pem")
ok "the receiver gets cert.issued for it with a valid signature" \
	waits "$WORK/ops.log" "^ok [0-9]+ cert.issued $S1 "
ok "  ... the event id is in the Cairn-Event-Id header and version 1 in the body" \
	sh -c "grep -E '^ok ([0-9]+) cert.issued $S1 - ' '$WORK/ops.log' | awk '\$2 != \$6 || \$7 != \"v1\" {exit 1}'"
ok "the e-mail sink sends one message for it through SMTP, to both recipients" \
	waits "$WORK/smtp.log" "^cairn@example.test pki@example.test,ops@example.test \\[cairn\\] cert.issued $S1 \\| <cairn-event-[0-9]+@example.test> \\| json=True"
make_csr pay ec:P-256 /CN=www.pay.test "DNS:www.pay.test"
ok "issue a certificate under .pay.test" C issue --csr "$WORK/pay.csr" --profile tls-server --out "$WORK/pay.pem"
ok "the route by name suffix mails the pay team about it" \
	waits "$WORK/smtp.log" "^cairn@example.test pay@example.test \\[cairn\\] cert.issued $(serial_of "$WORK/pay.pem") "
ok "  ... and about nothing else" sh -c "[ \$(grep -c ' pay@example.test ' '$WORK/smtp.log') -eq 1 ]"
ok "revoke the .pay.test certificate" C revoke "$(serial_of "$WORK/pay.pem")" --reason superseded
ok "  ... the route mails the pay team its revocation too (cert.revoked carries the names)" \
	waits "$WORK/smtp.log" "^cairn@example.test pay@example.test \\[cairn\\] cert.revoked $(serial_of "$WORK/pay.pem") "
ok "revoke it" C revoke "$S1" --reason keyCompromise
ok "the receiver gets cert.revoked" waits "$WORK/ops.log" "^ok [0-9]+ cert.revoked $S1 "
ok "  ... and the mail sink a message" waits "$WORK/smtp.log" "cert.revoked $S1 "

make_csr prod ec:P-256 /CN=api.prod.test "DNS:api.prod.test"
C issue --csr "$WORK/prod.csr" --profile tls-server >"$WORK/req.out" 2>&1
REQ=$(grep -Eo '[0-9a-f]{32}' "$WORK/req.out" | head -1)
ok "a prod name waits for approval" test -n "$REQ"
ok "the receiver gets request.pending" waits "$WORK/ops.log" "^ok [0-9]+ request.pending "
ok "bob approves" C requests approve "$REQ" --token-file "$WORK/bob.tok"
ok "the receiver gets request.approved" waits "$WORK/ops.log" "^ok [0-9]+ request.approved "
C issue --csr "$WORK/prod.csr" --profile tls-server >"$WORK/req2.out" 2>&1
REQ2=$(grep -Eo '[0-9a-f]{32}' "$WORK/req2.out" | head -1)
ok "bob rejects another" C requests reject "$REQ2" --token-file "$WORK/bob.tok"
ok "the receiver gets request.rejected" waits "$WORK/ops.log" "^ok [0-9]+ request.rejected "
ok "no request reached the receiver with a bad signature" sh -c "! grep -q '^bad' '$WORK/ops.log'"

# ---- dead letters, retry, test ----
# dead_listed: both revocations (one.dev.test, www.pay.test) are dead letters of the late sink.
dead_listed() {
	C notify list >"$WORK/list.out" 2>&1 &&
		[ "$(grep -Ec "^late +[0-9]+ +cert.revoked .*no +" "$WORK/list.out")" -eq 2 ]
}
i=0
until dead_listed || [ $i -gt 100 ]; do i=$((i + 1)); sleep 0.1; done
ok "events the late sink could not take in 2 tries are dead-lettered (cairn notify list)" dead_listed
ok "  ... with the delivery error" grep -qi "connect" "$WORK/list.out"
sink_start late "$LATE_PORT" || bail "second receiver did not start"
ok "cairn notify retry late" C notify retry late
last_has "  ... queues both revocations again" "2 event"
ok "the late sink gets the revocation now" waits "$WORK/late.log" "^ok [0-9]+ cert.revoked $S1 "
no_dead() { C notify list --json | jq -e '[.items[].dead[]] | length == 0' >/dev/null; }
i=0
until no_dead || [ $i -gt 50 ]; do i=$((i + 1)); sleep 0.1; done
ok "  ... and the dead letter is gone" no_dead
fails "retry with nothing dead says so" C notify retry late
last_has "  ... in one line" "no dead-lettered event"
fails "test of an unknown sink is refused" C notify test nosuch
ok "cairn notify test ops" C notify test ops
ok "the receiver gets notify.test" waits "$WORK/ops.log" "^ok [0-9]+ notify.test "
ok "the late sink does not (not its test, not its event type)" sh -c "! grep -q notify.test '$WORK/late.log'"
ok "notify retry and test are audited" sh -c "'$CAIRN' audit export --dir '$D' --unsigned --format jsonl |
	grep -q notify.retry && '$CAIRN' audit export --dir '$D' --unsigned --format jsonl | grep -q notify.test"
TOKEN_AUD=$("$CAIRN" token create --dir "$D" --name bob --role approver 2>/dev/null)
ok "an approver may read the status" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --cacert '$D/ca/root.pem' \
	-H 'Authorization: Bearer $TOKEN_AUD' '$HTTPS_URL/admin/v1/notify')\" = 200 ]"
ok "  ... which shows a webhook's scheme, host and port, not its credentials, path or query" sh -c "
	curl -s --cacert '$D/ca/root.pem' -H 'Authorization: Bearer $TOKEN_AUD' \
		'$HTTPS_URL/admin/v1/notify' >'$WORK/notify.json' &&
	jq -e '.sinks[] | select(.name == \"ops\") | .url == \"http://127.0.0.1:$OPS_PORT/...\"' \
		'$WORK/notify.json' >/dev/null && ! grep -Eq 'S3cretPw|hookuser|XSECRETX|token=' '$WORK/notify.json'"
ok "  ... but not retry (403)" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --cacert '$D/ca/root.pem' \
	-H 'Authorization: Bearer $TOKEN_AUD' -H 'Content-Type: application/json' -d '{}' \
	'$HTTPS_URL/admin/v1/notify/retry')\" = 403 ]"
ok "a malformed retry body is a problem document (400)" sh -c "curl -s --cacert '$D/ca/root.pem' \
	-H \"Authorization: Bearer \$(cat '$D/admin.token')\" -H 'Content-Type: application/json' \
	-d '{\"id\":\"x\"}' '$HTTPS_URL/admin/v1/notify/retry' | grep -q '\"status\": *400'"

ok "a negative retry id is a 400 that says what id is" sh -c "curl -s --cacert '$D/ca/root.pem' \
	-H \"Authorization: Bearer \$(cat '$D/admin.token')\" -H 'Content-Type: application/json' \
	-d '{\"id\":-1}' '$HTTPS_URL/admin/v1/notify/retry' | tee '$WORK/retry.out' | grep -q '\"status\": *400' &&
	grep -q \"event id (leave it out for all), not -1\" '$WORK/retry.out'"
ok "a test-event body with a member notify does not know (\"snk\") is a 400 naming it" sh -c "
	curl -s --cacert '$D/ca/root.pem' \
	-H \"Authorization: Bearer \$(cat '$D/admin.token')\" -H 'Content-Type: application/json' \
	-d '{\"sink\":\"ops\",\"snk\":\"x\"}' '$HTTPS_URL/admin/v1/notify/test' | tee '$WORK/test.out' |
	grep -q '\"status\": *400' && grep -q snk '$WORK/test.out'"

# ---- the receiver down for a while ----
kill "$SINK_PID_ops"
wait "$SINK_PID_ops" 2>/dev/null
for n in 1 2 3; do
	make_csr "d$n" ec:P-256 "/CN=d$n.dev.test" "DNS:d$n.dev.test"
	C issue --csr "$WORK/d$n.csr" --profile tls-server --out "$WORK/d$n.pem" >/dev/null 2>&1
	C revoke "$(serial_of "$WORK/d$n.pem")" --reason superseded >/dev/null 2>&1
done
backlog() { C notify list | grep -Eq '^ops +[0-9]+ +[1-9]'; }
ok "while the receiver is down the events wait (notify list shows the backlog)" backlog
sink_start ops "$OPS_PORT" || bail "receiver did not restart"
ok "after it comes back it gets every event it missed" sh -c "
	for n in 1 2 3; do s=\$(openssl x509 -in '$WORK/d'\$n.pem -noout -serial | cut -d= -f2 | tr A-F a-f)
	i=0; until grep -q \"cert.revoked \$s \" '$WORK/ops.log'; do i=\$((i+1)); [ \$i -gt 200 ] && exit 1; sleep 0.1; done; done"
ok "  ... in order per certificate (issued before revoked)" sh -c "
	for n in 1 2 3; do s=\$(openssl x509 -in '$WORK/d'\$n.pem -noout -serial | cut -d= -f2 | tr A-F a-f)
	a=\$(grep -n \"cert.issued \$s \" '$WORK/ops.log' | head -1 | cut -d: -f1)
	b=\$(grep -n \"cert.revoked \$s \" '$WORK/ops.log' | head -1 | cut -d: -f1)
	[ -n \"\$a\" ] && [ -n \"\$b\" ] && [ \$a -lt \$b ] || exit 1; done"

# ---- SIGKILL during delivery ----
touch "$WORK/ops.log.hold"
for n in 1 2 3 4 5 6; do
	make_csr "k$n" ec:P-256 "/CN=k$n.dev.test" "DNS:k$n.dev.test"
	C issue --csr "$WORK/k$n.csr" --profile tls-server --out "$WORK/k$n.pem" >/dev/null 2>&1
done
ok "six certificates issued while the receiver holds its first delivery unanswered" sh -c "
	for n in 1 2 3 4 5 6; do openssl x509 -in '$WORK/k'\$n.pem -noout || exit 1; done"
K1=$(serial_of "$WORK/k1.pem")
waits "$WORK/ops.log" "cert.issued $K1 " || true
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
ok "the daemon was killed while delivering (not every event had arrived)" sh -c \
	"! grep -q \"cert.issued $(serial_of "$WORK/k6.pem") \" '$WORK/ops.log'"
rm -f "$WORK/ops.log.hold"
ca_serve "$D" || bail "cairn serve did not restart after SIGKILL"
C notify list --json >"$WORK/status.json" 2>/dev/null
LAST=$(jq '.items[0].cursor + .items[0].behind' "$WORK/status.json")
# every_id: the receiver has each event id 1..LAST with a valid signature.
every_id() {
	python3 - "$WORK/ops.log" "$LAST" <<'PY'
import sys
got = {int(l.split()[1]) for l in open(sys.argv[1]) if l.startswith("ok ")}
missing = [i for i in range(1, int(sys.argv[2]) + 1) if i not in got]
print("missing:", missing[:20])
sys.exit(1 if missing else 0)
PY
}
i=0
until every_id >/dev/null 2>&1 || [ $i -gt 200 ]; do i=$((i + 1)); sleep 0.1; done
ok "after the restart every event id 1..$LAST reached the receiver (duplicates allowed)" every_id
ok "  ... including the certificates issued just before the kill" \
	grep -q "cert.issued $(serial_of "$WORK/k6.pem") " "$WORK/ops.log"

# ---- expiry thresholds under libfaketime ----
make_csr exp ec:P-256 /CN=exp.dev.test "DNS:exp.dev.test"
make_csr ren ec:P-256 /CN=ren.dev.test "DNS:ren.dev.test"
ok "issue a 40-day certificate" C issue --csr "$WORK/exp.csr" --profile tls-server \
	--validity-days 40 --out "$WORK/exp.pem"
ok "issue a 40-day certificate and renew it at once (60 days, same names, same requester)" sh -c "
	'$CAIRN' issue --dir '$D' --csr '$WORK/ren.csr' --profile tls-server --validity-days 40 --out '$WORK/ren.pem' &&
	'$CAIRN' issue --dir '$D' --csr '$WORK/ren.csr' --profile tls-server --validity-days 60 --out '$WORK/ren2.pem'"
SE=$(serial_of "$WORK/exp.pem")
SR=$(serial_of "$WORK/ren.pem")
# serve_later OFFSET: restarts the daemon with its clock OFFSET on.
serve_later() {
	ca_stop
	ca_serve_at "$D" FAKETIME="$1"
}
for step in +11d:30 +34d:7 +950h:1; do
	ok "restart with the clock ${step%%:*} on" serve_later "${step%%:*}"
	ok "  ... the certificate crosses its ${step#*:}-day threshold: cert.expiring" \
		waits "$WORK/ops.log" "^ok [0-9]+ cert.expiring $SE ${step#*:} "
done
ok "exactly one cert.expiring per threshold (30, 7, 1)" sh -c "
	[ \$(grep -c 'cert.expiring $SE 30 ' '$WORK/ops.log') -eq 1 ] &&
	[ \$(grep -c 'cert.expiring $SE 7 ' '$WORK/ops.log') -eq 1 ] &&
	[ \$(grep -c 'cert.expiring $SE 1 ' '$WORK/ops.log') -eq 1 ]"
ok "the renewed certificate gets none" sh -c "! grep -q 'cert.expiring $SR ' '$WORK/ops.log'"
ok "the 90-day certificates got none" sh -c "! grep -q 'cert.expiring $(serial_of "$WORK/d1.pem") ' '$WORK/ops.log'"
ca_stop
done_testing
