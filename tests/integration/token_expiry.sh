#!/bin/sh
# SPDX-License-Identifier: MIT
# token.expiring: an API token with an expiry is announced once per threshold of
# notify.expiry_days before its end (what uses it stops then), to the webhook and to the
# admin holding it (to_owner); never a token without an expiry, a revoked one or one that
# has ended; no repeat across a restart. libfaketime moves the clock under the running
# daemon and across the restart.
. "$(dirname "$0")/lib.sh"

DAY=86400
D=$WORK/ca
ca_init "$D" || bail "init failed"
printf 'ops-secret\n' >"$D/ops.secret"
python3 "$CAIRN_SRCDIR/tests/integration/webhook_sink.py" 0 "$WORK/ops.port" "$D/ops.secret" \
	"$WORK/ops.log" 2>>"$WORK/ops.err" &
CAIRN_PIDS="$CAIRN_PIDS $!"
waits "$WORK/ops.port" '^[0-9]+$' 100 || bail "webhook receiver did not start"
python3 "$CAIRN_SRCDIR/tests/integration/smtp_sink.py" "$WORK/smtp.port" "$WORK/smtp.log" \
	2>>"$WORK/smtp.err" &
CAIRN_PIDS="$CAIRN_PIDS $!"
waits "$WORK/smtp.port" '^[0-9]+$' 100 || bail "SMTP sink did not start"
jq --arg hook "http://127.0.0.1:$(cat "$WORK/ops.port")/" --arg smtp "127.0.0.1:$(cat "$WORK/smtp.port")" '
	.notify = {expiry_days: [30, 7, 1], scan_interval: 10, poll_ms: 100,
	  smtp: {url: ("smtp://" + $smtp), from: "cairn@example.test"},
	  webhooks: [{name: "ops", url: $hook, secret_file: "ops.secret", events: ["token.expiring"]}],
	  email: [{name: "owners", to_owner: true, events: ["token.expiring"]}]}' \
	"$D/cairn.json" >"$WORK/c.json" && cp "$WORK/c.json" "$D/cairn.json"

clock_file
clock_at 0
C() { $FT "$CAIRN" "$@" --dir "$D"; }
C admin add --name carol --role operator --email carol@example.test >/dev/null 2>&1 ||
	bail "admin add failed"
# token ARGS: a token of carol's; its id (from "token ID for ...") on stdout
token() {
	C token create --name carol --role operator "$@" 2>&1 >/dev/null |
		sed -n 's/^cairn token: token \([0-9a-f]*\) for .*/\1/p'
}
T20=$(token --expires-in 20d)
T60=$(token --expires-in 60d)
TNEVER=$(token)
TREV=$(token --expires-in 20d)
ok "four tokens of carol's are made (20 days, 60 days, no end, 20 days then revoked)" \
	sh -c "[ -n '$T20' ] && [ -n '$T60' ] && [ -n '$TNEVER' ] && [ -n '$TREV' ] &&
	[ \$(printf '%s\n' '$T20' '$T60' '$TNEVER' '$TREV' | sort -u | wc -l) = 4 ]"
ok "  ... the last revoked" C token revoke "$TREV"

sent() { # ID DAYS: token.expiring of token ID at threshold DAYS was received, once
	[ "$(grep -c "^ok [0-9]* token.expiring $1 $2 " "$WORK/ops.log" 2>/dev/null)" = 1 ]
}
events() { grep -c 'token.expiring' "$WORK/ops.log" 2>/dev/null || true; }
WAITS_FOR_TENTHS=300 # 30 s: the scan runs every 10 s

next_scan # the tokens were made after the start-up scan
ok "the token ending in 20 days is announced at the 30-day threshold" waits_for sent "$T20" 30
ok "  ... and only it" test "$(events)" = 1
ok "  ... carol is told by e-mail" waits "$WORK/smtp.log" "^cairn@example.test carol@example.test \\[cairn\\] token.expiring $T20 "

clock_move $((14 * DAY))
ok "6 days before its end: the 7-day threshold" waits_for sent "$T20" 7
ok "  ... the 60-day token not yet (46 days left)" test "$(events)" = 2

ca_stop
clock_at $((31 * DAY))
ok "after a restart 29 days before its end, the 60-day token reaches 30 days" waits_for sent "$T60" 30
ok "  ... the ended one is not announced again, nor anything repeated" sh -c "
	[ \$(grep -c 'token.expiring' '$WORK/ops.log') = 3 ] && ! grep -q ' $T20 1 ' '$WORK/ops.log'"
ok "  ... never the token without an end, nor the revoked one" sh -c "
	! grep -q ' $TNEVER ' '$WORK/ops.log' && ! grep -q ' $TREV ' '$WORK/ops.log'"
ok "each event is signed" sh -c "! grep -q '^bad' '$WORK/ops.log'"
done_testing
