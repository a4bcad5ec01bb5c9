#!/bin/sh
# SPDX-License-Identifier: MIT
# Dead letters of a receiver that stays down: at most notify.dead_letters_max a sink (the
# oldest dropped, counted in `notify list` and /metrics, logged); the counts survive a
# restart; a failed retry stays dead; letters stored before counts were kept are counted
# at start (and those flagged for retry are retried); `notify retry` marks every letter,
# whatever its id (ids of 128 and more used to be skipped).
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

SINK="$CAIRN_SRCDIR/tests/integration/webhook_sink.py"
FILL="$CAIRN_TOOLS/tools/notify_dead_fill"
D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
C() { "$CAIRN" "$@" --dir "$D"; }
printf 'late-secret\n' >"$D/late.secret"
printf 'old-secret\n' >"$D/old.secret"
LATE_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# set_notify JSON: the notify object of cairn.json.
set_notify() {
	jq --argjson n "$1" '.notify = $n' "$D/cairn.json" >"$WORK/c.json" && cat "$WORK/c.json" >"$D/cairn.json"
}
# metric NAME SINK: the value of NAME{sink="SINK"} on /metrics.
metric() { curl -s "$HTTP_URL/metrics" | sed -n "s/^$1{sink=\"$2\"} //p"; }
# dead_is SINK N DROPPED: the sink's counts, as /metrics has them, within 10 s.
dead_is() {
	i=0
	until [ "$(metric cairn_notify_dead_letters "$1") $(metric cairn_notify_dead_letters_dropped_total "$1")" = "$2 $3" ]; do
		i=$((i + 1)); [ $i -gt 100 ] && { echo "metrics: $(metric cairn_notify_dead_letters "$1") $(metric cairn_notify_dead_letters_dropped_total "$1")"; return 1; }
		sleep 0.1
	done
}
LATE="{\"name\": \"late\", \"url\": \"http://127.0.0.1:$LATE_PORT/\", \"secret_file\": \"late.secret\", \"max_tries\": 1}"
set_notify "{\"webhooks\": [$LATE], \"backoff_ms\": 10, \"backoff_max_ms\": 20, \"poll_ms\": 20, \"dead_letters_max\": 3}"
ca_serve "$D" || bail "cairn serve did not start"

# ---- the cap: five events for a receiver that is down, at most three kept ----
for n in 1 2 3 4 5; do
	C notify test late >>"$WORK/tests.out" 2>&1 || bail "notify test failed: $(cat "$WORK/tests.out")"
done
IDS=$(sed -n 's/^test event \([0-9]*\) queued for late$/\1/p' "$WORK/tests.out" | tr '\n' ' ')
ok "five events the receiver never took: three dead letters, two dropped (/metrics)" dead_is late 3 2
ok "  ... the newest three are kept (notify list --json)" sh -c "
	C() { '$CAIRN' \"\$@\" --dir '$D'; }
	[ \"\$(C notify list --json | jq -r '.items[] | select(.name == \"late\") | [.dead[].id] | map(tostring) | join(\" \")')\" = \
	  \"\$(echo '$IDS' | cut -d' ' -f3-5)\" ]"
ok "  ... notify list says how many there are and how many were dropped" sh -c "
	'$CAIRN' notify list --dir '$D' >'$WORK/list.out' && cat '$WORK/list.out' &&
	grep -Eq '^late +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +3 ' '$WORK/list.out' &&
	grep -q 'late: 2 oldest dead letters dropped past notify.dead_letters_max' '$WORK/list.out'"
ok "  ... and the daemon's log says so" grep -q "oldest dead letter(s) dropped" "$D.serve.log"

# ---- a retry that fails again stays dead; nothing is dropped for it ----
ID5=$(echo "$IDS" | cut -d' ' -f5)
ok "notify retry late ID (the receiver still down)" C notify retry late "$ID5"
retry_done() {
	"$CAIRN" notify list --dir "$D" --json >"$WORK/l.json" &&
		jq -e --argjson id "$ID5" '.items[] | select(.name == "late") | .dead[] | select(.id == $id) |
			.retry == false and .tries == 2' "$WORK/l.json" >/dev/null
}
i=0
until retry_done || [ $i -gt 100 ]; do i=$((i + 1)); sleep 0.1; done
ok "  ... it was tried once more and stays dead, no longer marked" retry_done
ok "  ... still three, still two dropped" dead_is late 3 2

# ---- letters from before the counts, a lower cap, a restart ----
ca_stop
# 200 letters of "old" with ids 100..299 (a big-endian id of 128 or more is no UTF-8 text),
# and 2 of "old2" flagged for retry, written as an older daemon left them: no counts, no marks.
"$FILL" "$D/db" old 200 100 >/dev/null || bail "notify_dead_fill old failed"
"$FILL" "$D/db" old2 2 5000 retry >/dev/null || bail "notify_dead_fill old2 failed"
rm -f "$WORK/old.port"
python3 "$SINK" 0 "$WORK/old.port" "$D/old.secret" "$WORK/old.log" 2>>"$WORK/old.err" &
CAIRN_PIDS="$CAIRN_PIDS $!"
i=0
until [ -s "$WORK/old.port" ] || [ $i -gt 100 ]; do i=$((i + 1)); sleep 0.1; done
OLD_URL="http://127.0.0.1:$(cat "$WORK/old.port")/"
OLD="{\"name\": \"old\", \"url\": \"$OLD_URL\", \"secret_file\": \"old.secret\", \"events\": [\"cert.revoked\"]}"
OLD2="{\"name\": \"old2\", \"url\": \"$OLD_URL\", \"secret_file\": \"old.secret\", \"events\": [\"cert.revoked\"]}"
set_notify "{\"webhooks\": [$LATE, $OLD, $OLD2], \"backoff_ms\": 10, \"backoff_max_ms\": 20, \"poll_ms\": 20, \"dead_letters_max\": 150}"
ca_serve "$D" || bail "cairn serve did not restart"
ok "after the restart the late sink's counts are as they were" dead_is late 3 2
ok "200 letters stored before counts were kept: counted, the oldest 50 dropped (cap 150)" dead_is old 150 50
ok "  ... the two flagged for retry are delivered at start, none left" dead_is old2 0 0
ok "  ... the receiver got both" sh -c "[ \$(grep -c '^ok 500[01] cert.issued ' '$WORK/old.log') -eq 2 ]"
ok "notify retry old" C notify retry old
last_has "  ... queues all 150 (ids 150..299: most of them not UTF-8 as keys)" "^150 event"
ok "  ... and they are delivered: none left" dead_is old 0 50
ok "  ... the receiver got the 150 kept, none of the 50 dropped" sh -c "
	[ \$(grep -Ec '^ok (1[5-9][0-9]|2[0-9][0-9]) cert.issued ' '$WORK/old.log') -eq 150 ] &&
	! grep -Eq '^ok (10[0-9]|1[0-4][0-9]) cert.issued ' '$WORK/old.log'"
ca_stop
done_testing
