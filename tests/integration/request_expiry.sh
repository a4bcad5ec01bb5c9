#!/bin/sh
# SPDX-License-Identifier: MIT
# A request nobody decides expires when its time comes although nobody looks at it: the
# expiry is audited (policy:expiry) and sent (request.expired), cairn_requests_pending
# drops, an approval after it is refused; one that came due while the daemon was down
# expires at start. libfaketime moves the clock under the running daemon and across a
# restart; the checks read the audit log, the webhook and /metrics, never the request
# itself (reading it would expire it).
. "$(dirname "$0")/lib.sh"

DAY=86400
D=$WORK/ca
ca_init "$D" || bail "init failed"
cat >"$D/policy.json" <<'JSON'
{"rules": [
  {"name": "prod", "match": {"dns_suffix": [".prod.test"]}, "action": "approve", "approvals": 1},
  {"name": "default", "match": {}, "action": "issue"}
]}
JSON
printf 'ops-secret\n' >"$D/ops.secret"
python3 "$CAIRN_SRCDIR/tests/integration/webhook_sink.py" 0 "$WORK/ops.port" "$D/ops.secret" \
	"$WORK/ops.log" 2>>"$WORK/ops.err" &
CAIRN_PIDS="$CAIRN_PIDS $!"
waits "$WORK/ops.port" '^[0-9]+$' 100 || bail "webhook receiver did not start"
jq --arg hook "http://127.0.0.1:$(cat "$WORK/ops.port")/" '.requests.pending_ttl = "1d" |
	.notify = {poll_ms: 100, webhooks: [{name: "ops", url: $hook, secret_file: "ops.secret",
	  events: ["request.expired"]}]}' "$D/cairn.json" >"$WORK/c.json" && cp "$WORK/c.json" "$D/cairn.json"

clock_file
clock_at 0
# request NAME: a certificate request for NAME.prod.test that waits for an approver; its id
# in $WORK/NAME.id
request() {
	make_csr "$1" ec:P-256 "/CN=$1.prod.test" "DNS:$1.prod.test"
	$FT "$CAIRN" issue --dir "$D" --csr "$WORK/$1.csr" --profile tls-server >"$WORK/$1.out" 2>&1
	sed -n 's/^request \([0-9a-f]\{32\}\) pending.*/\1/p' "$WORK/$1.out" >"$WORK/$1.id"
	[ -s "$WORK/$1.id" ]
}
metric() { curl -s "$HTTP_URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
pending_are() { [ "$(metric cairn_requests_pending)" = "$1" ]; }
sent() { [ "$(grep -c '^ok .* request.expired ' "$WORK/ops.log" 2>/dev/null)" = "$1" ]; }
audited() { # ID: request.expired of ID by policy:expiry in the audit log
	"$CAIRN" audit export --dir "$D" --format jsonl >"$WORK/audit.jsonl" &&
		jq -se --arg id "$1" 'any(.[]; .action == "request.expired" and
		  .actor == "policy:expiry" and .details.id == $id)' "$WORK/audit.jsonl" >/dev/null
}
WAITS_FOR_TENTHS=300 # 30 s: the thread looks at a moved clock every 10 s

ok "a request for early.prod.test waits for an approver" request early
EARLY=$(cat "$WORK/early.id")
ok "  ... counted as pending" pending_are 1
clock_move $((DAY - 120))
ok "two minutes before its end a second one, late.prod.test, is made" request late
LATE=$(cat "$WORK/late.id")
clock_move $((DAY + 60))
ok "a minute after its end the first is sent as request.expired, nobody having looked" \
	waits_for sent 1
ok "  ... audited by policy:expiry" audited "$EARLY"
ok "  ... no longer counted as pending: the second one is" pending_are 1
fails "  ... the second, not yet at its end, is not expired" audited "$LATE"
ok "  ... the daemon logged it" waits "$D.serve.log" '"component":"policy".*1 pending request expired'
fails "an approval after the end is refused" $FT "$CAIRN" requests approve "$EARLY" --dir "$D" \
	--token-file "$D/admin.token"
last_has "  ... as expired (409)" "409.*(expired|not pending)"

# The second one comes due while the daemon is down: expired at the start.
ca_stop
T=$(($(date +%s) + 2 * DAY))
clock_at $((2 * DAY))
ok "a request that came due while the daemon was down is expired at the start" waits_for sent 2
ok "  ... audited by policy:expiry" audited "$LATE"
ok "  ... nothing pending" pending_are 0
ok "  ... both listed as expired" sh -c "$FT '$CAIRN' requests list --dir '$D' --status expired --json |
	jq -e '[.items[].id] | sort == ([\"$EARLY\", \"$LATE\"] | sort)'"
ok "each expiry audited once" sh -c "[ \$(jq -s '[.[] | select(.action == \"request.expired\")] | length' '$WORK/audit.jsonl') = 2 ]"
done_testing
