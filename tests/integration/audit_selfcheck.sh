#!/bin/sh
# SPDX-License-Identifier: MIT
# The daemon checks its own audit chain, at start and daily: an event changed behind its
# back (tests/tools/audit_tamper, while it is stopped and while it runs) is reported on
# /healthz (audit broken, the event named), /metrics, the log and to the ca.expiring
# webhook, once; the daemon goes on issuing; a chain put right is intact again.
# libfaketime moves the clock a day on under the running daemon.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/outage_lib.sh"

D=$WORK/ca
ca_init "$D" || bail "init failed"
ops_sink || bail "webhook receiver did not start"
jq --argjson notify "$OPS_NOTIFY" '.notify = $notify' "$D/cairn.json" >"$WORK/c.json" &&
	cp "$WORK/c.json" "$D/cairn.json"
TAMPER=$CAIRN_TOOLS/tools/audit_tamper
[ -x "$TAMPER" ] || bail "no $TAMPER (make builds it)"
WAITS_FOR_TENTHS=300 # 30 s

clock_file
clock_at 0
checked() { # [SINCE]: a whole check found the chain intact (at SINCE or later)
	[ "$(metric cairn_audit_chain_verified_timestamp_seconds)" -ge "${1:-1}" ] 2>/dev/null
}
broken_at() { # SEQ: /healthz names the audit chain broken at event SEQ
	health
	has ".status == \"degraded\" and ([.problems[] | select(.what == \"audit\" and
	  .state == \"broken\" and .first_bad == $1 and (.detail | test(\"event $1\")))] |
	  length == 1)"
}
intact() { health && has '[.problems[]? | select(.what == "audit")] | length == 0'; }
sent() { [ "$(grep -c '^ok [0-9]* ca.expiring audit ' "$WORK/ops.log" 2>/dev/null)" = "$1" ]; }

ok "the start's check finds the chain intact" waits_for checked
ok "  ... /healthz names no audit problem" intact
ok "  ... cairn_audit_chain_broken 0" test "$(metric cairn_audit_chain_broken)" = 0
for n in a b c; do issue "$n" || bail "issuing $n failed: $(cat "$WORK/$n.out")"; done

# ---- an event changed while the daemon was stopped (a database copied back, say) ----
ca_stop
ok "audit_tamper changes event 3 while the daemon is stopped" "$TAMPER" "$D/db" 3
clock_at 0
ok "the start's check reports the chain broken at event 3 (/healthz degraded)" waits_for broken_at 3
ok "  ... cairn_audit_chain_broken 1" test "$(metric cairn_audit_chain_broken)" = 1
ok "  ... logged as an error naming the event" \
	waits "$D.serve.log" '"level":"error","component":"audit".*broken at event 3'
next_scan
ok "  ... sent to the ca.expiring webhook" waits_for sent 1
ok "cairn audit verify agrees" sh -c "! '$CAIRN' audit verify --dir '$D' >'$WORK/v.out' 2>&1 &&
	grep -q 'sequence 3' '$WORK/v.out'"
ok "the daemon goes on issuing" issue d
ok "  ... and still reports the break" broken_at 3

# ---- put right: intact again ----
ca_stop
ok "audit_tamper flips the byte back" "$TAMPER" "$D/db" 3
T=$(date +%s)
clock_at 0
ok "the start's check finds the chain intact again" waits_for checked "$T"
ok "  ... /healthz names no audit problem" intact
ok "  ... cairn_audit_chain_broken 0" test "$(metric cairn_audit_chain_broken)" = 0

# ---- changed under the running daemon: found by the daily check ----
ok "audit_tamper changes event 5 while the daemon runs" "$TAMPER" "$D/db" 5
ok "  ... not seen before the day is over" intact
clock_move $((86400 + 60))
ok "the daily check a day on reports it" waits_for broken_at 5
next_scan
ok "  ... sent once more (another event)" waits_for sent 2
done_testing
