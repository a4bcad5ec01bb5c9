#!/bin/sh
# SPDX-License-Identifier: MIT
# ACME objects do not pile up: orders and authorizations are deleted with their index
# entries acme.retention_days after they expired (the sweep at start and hourly, moved by
# libfaketime across restarts and under a running daemon), the certificates stay
# downloadable and revocable, an order parked for an approver is kept while it waits,
# failed-validation entries go once they left their hour, and 0 keeps everything.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"

DAY=86400
D=$WORK/ca
ca_init "$D" || bail "init failed"
HP=$(free_port)
retention() { # DAYS: the ACME settings of this test with acme.retention_days DAYS
	acme_conf "$D" "{\"order_lifetime_seconds\": $DAY, \"retention_days\": $1,
	  \"validation\": {\"http01_port\": $HP, \"hosts\": {\"v.keep.test\": \"127.0.0.1\",
	  \"p.keep.test\": \"127.0.0.1\", \"f.keep.test\": \"127.0.0.1\",
	  \"a.wait.test\": \"127.0.0.1\"}}}"
}
retention 2
cat >"$D/policy.json" <<'JSON'
{"rules": [
  {"name": "wait", "match": {"dns_suffix": [".wait.test"]}, "action": "approve", "approvals": 1},
  {"name": "default", "match": {}, "action": "issue"}
]}
JSON
clock_file
clock_at 0
"$CAIRN" admin add --dir "$D" --name alice --role approver >/dev/null 2>&1 || bail "admin add failed"
keep_https_port "$D" # the order URLs hold it
retained() { # MODE LAST [ARGS]: acme_retention.py against the daemon, as TAP lines
	mode=$1 last=$2
	shift 2
	$FT python3 "$CAIRN_SRCDIR/tests/integration/acme_retention.py" "$mode" \
		"$HTTPS_URL/acme/directory" "$D/ca/root.pem" "$HP" "$WORK/state.json" "$@" \
		>"$WORK/probe.out" 2>&1
	tap_lines "$WORK/probe.out" "$last" "$mode $* probe"
}
metric() { # NAME (with its labels): its value on /metrics, or nothing
	curl -s "$HTTP_URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
swept() { metric "cairn_acme_swept_total{kind=\"$1\"}"; }
swept_at_least() { [ "$(swept "$1")" -ge "$2" ] 2>/dev/null; }
sweep_after() { [ "$(metric cairn_acme_sweep_last_timestamp_seconds)" -ge "$1" ] 2>/dev/null; }
records_are() { # N: the ACME table holds N records
	echo "cairn_acme_records $(metric cairn_acme_records), want $1"
	[ "$(metric cairn_acme_records)" = "$1" ]
}
# waits_for: at most 30 s (a sweep thread looks at a moved clock every 10 s)
WAITS_FOR_TENTHS=300

retained make "an order is parked"
ok "/metrics counts the ACME table's records" sh -c "[ '$(metric cairn_acme_records)' -gt 0 ]"
R0=$(metric cairn_acme_records)

# ---- a day after they expired (retention 2 days): every order is still served ----
T=$(($(date +%s) + 2 * DAY))
clock_at $((2 * DAY))
ok "the sweep at start ran" waits_for sweep_after "$T"
ok "  ... deleting the failed validation's rate entry, an hour old (they count in the hour)" \
	waits_for swept_at_least failed_validation 1
ok "  ... and no order" test "$(swept order)" = 0
ok "the ACME table lost that one record" records_are $((R0 - 1))
retained look "the certificate of the valid order downloads" kept

# ---- the clock moves past expiry + retention under the running daemon ----
clock_move $((3 * DAY + 2 * 3600))
ok "the hourly sweep deletes the 4 orders past their retention" waits_for swept_at_least order 4
ok "  ... and their 3 authorizations (one was shared by two orders)" \
	sh -c "[ '$(swept authorization)' = 3 ]"
ok "  ... and every index entry with them: 13 records fewer (orders, lists, authorizations, pending and reuse entries)" \
	records_are $((R0 - 14))
retained look "the certificate of the valid order downloads" gone
ok "the sweep is logged" grep -q '"component":"acme".*deleted 4 orders and 3 authorizations' "$D.serve.log"

# ---- the parked order waited past its retention: an approver still finds it ----
$FT "$CAIRN" token create --dir "$D" --name alice --role approver >"$WORK/alice.tok" 2>/dev/null
ok "the parked ACME request is still pending" acme_pending "$D"
ok "alice approves it" env CAIRN_TOKEN="$(cat "$WORK/alice.tok")" $FT "$CAIRN" requests approve "$REQ" --dir "$D"
SERIAL=$(sed -n 's/.*serial \([0-9a-f]*\).*/\1/p' "$WORK/last.out")
# The order learns of the decision when it is read; its client never reads it again.
T=$(($(date +%s) + 3 * DAY + 4 * 3600))
clock_move $((3 * DAY + 4 * 3600))
ok "the next hourly sweep finds the approved order, which nobody fetched since" waits_for sweep_after "$T"
ok "  ... and keeps it" test "$(swept order)" = 4
clock_move $((3 * DAY + 6 * 3600))
ok "brought up to date by that sweep, it goes at the one after" waits_for swept_at_least order 5
ok "  ... with its authorization" sh -c "[ '$(swept authorization)' = 4 ]"
retained parked "  ... its certificate downloads" "$SERIAL"

# ---- after the sweep: the account orders again and revokes what its swept order got ----
retained after "the account revokes the certificate of its swept order"
R2=$(metric cairn_acme_records)
ca_stop
T=$(($(date +%s) + 3 * DAY + 6 * 3600))
clock_at $((3 * DAY + 6 * 3600))
ok "a restart's sweep finds nothing more to delete" waits_for sweep_after "$T"
ok "  ... no order" test "$(swept order)" = 0
ok "  ... the ACME table as before the restart" records_are "$R2"

# ---- 0 keeps everything ----
retention 0
T=$(($(date +%s) + 60 * DAY))
clock_at $((60 * DAY))
ok "with retention_days 0 a start sweeps no order 57 days after expiry" waits_for sweep_after "$T"
ok "  ... the ACME table as before" records_are "$R2"
ok "  ... the order made after the sweep is still listed" sh -c "
	$FT python3 - '$HTTPS_URL/acme/directory' '$D/ca/root.pem' '$WORK/state.json' <<'PY'
import sys
sys.path.insert(0, '$CAIRN_SRCDIR/tests/integration')
import acme_retention as r
c, k, s = r.account(sys.argv[1], sys.argv[2], sys.argv[3])
st, h, doc = c.post(k, s['orders']['new'], None)
assert st == 200 and doc['status'] == 'valid', (st, doc)
assert s['orders']['new'] in r.orders_list(c, k)
PY"

# ---- a retention shorter than the order lifetime, over more orders than one write takes ----
# Kept as long as the lifetime (3 days, not 1): an order reusing an authorization expires
# before the authorization goes. N orders: two writes of the sweep (256 orders each).
acme_conf "$D" "{\"order_lifetime_seconds\": $((3 * DAY)), \"retention_days\": 1}"
T=$(($(date +%s) + 60 * DAY))
clock_at $((60 * DAY))
ok "a start with retention_days 1 sweeps the order made after the first sweep" waits_for sweep_after "$T"
ok "  ... and only it" sh -c "[ '$(swept order)' = 1 ]"
R3=$(metric cairn_acme_records)
N=260
ok "another account makes $N orders" sh -c "
	$FT python3 '$CAIRN_SRCDIR/tests/integration/acme_probe.py' orders '$HTTPS_URL/acme/directory' \
		'$D/ca/root.pem' '$HP' '$WORK/many.json' $N >'$WORK/many.out' 2>&1 &&
	[ \$(grep -c '^201 ' '$WORK/many.out') = $N ]"
R4=$(metric cairn_acme_records)
T=$(($(date +%s) + 64 * DAY + 2 * 3600))
clock_move $((64 * DAY + 2 * 3600))
ok "a day and 2 hours after they expired (retention 1 day) the hourly sweep ran" waits_for sweep_after "$T"
ok "  ... and kept them: the lifetime (3 days) is the least kept" sh -c "[ '$(swept order)' = 1 ]"
ok "  ... the ACME table as before" records_are "$R4"
clock_move $((66 * DAY + 2 * 3600))
ok "three days and 2 hours after, the hourly sweep deletes the $N" waits_for swept_at_least order $((N + 1))
ok "  ... with their $N authorizations" sh -c "[ '$(swept authorization)' = $((N + 1)) ]"
ok "  ... and their entries: 4 records each (order, list, authorization, pending)" records_are "$((R4 - 4 * N))"
ok "  ... the account that made them is kept (its record and key entry)" test "$((R4 - 4 * N))" = "$((R3 + 2))"

# ---- bounds ----
acme_conf "$D" '{"retention_days": 3651}'
fails "retention_days above 3650 is refused" "$CAIRN" config check --dir "$D"
last_has "  ... naming the key" "acme.retention_days"
acme_conf "$D" '{"retention_days": -1}'
fails "a negative retention_days is refused" "$CAIRN" config check --dir "$D"
done_testing
