#!/bin/sh
# SPDX-License-Identifier: MIT
# Mass replacement at scale and across restarts: a database seeded with thousands of
# certificates (bench/ocsp_seed), a campaign by profile whose marking is cut short by
# SIGKILL, finished by the restarted daemon without marking anything twice; then, past the
# deadline (libfaketime), every pending certificate revoked in bounded rounds. Figures on
# stderr (marking and revoking time).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/notify_lib.sh"

SEED=$(pwd)/bench/ocsp_seed
[ -x "$SEED" ] || bail "bench/ocsp_seed is not built"
N=${REPLACE_N:-4000}
VALID=$((N - (N + 9) / 10)) # ocsp_seed revokes every 10th
# Waits grow with N (REPLACE_N=100000 for a figure): 30 s, or 10 ms per certificate.
[ "$N" -gt 3000 ] && UNTIL_OK_TRIES=$((N / 10))

D=$WORK/ca
ca_init "$D" || bail "init failed"
conf_set "$D" replace '{"interval": "1h"}'
ok "seed $N certificates (every 10th revoked)" "$SEED" -C "$D/ca/ocsp.pem" "$D" "$N" 1 "$WORK"
# Small marking batches, and a daemon that dies by SIGKILL once 5 of them have committed
# (a test-only knob: the crash lands at an exact point of the walk).
export CAIRN_REPLACE_BATCH=${REPLACE_BATCH:-20} CAIRN_TEST_KILL_AFTER_MARKS=5
ca_serve "$D" || bail "serve failed"
unset CAIRN_TEST_KILL_AFTER_MARKS

BY=$(date -u -d '+3 days' +%Y-%m-%dT%H:%M:%SZ)
RA=$(date -u -d '+5 days' +%Y-%m-%dT%H:%M:%SZ)
fails "the daemon dies while cairn replace marks" "$CAIRN" replace --dir "$D" \
	--profile tls-server --by "$BY" --revoke-after "$RA" --reason cessationOfOperation
wait "$SERVE_PID" 2>/dev/null
ok "cut short: 5 marking batches committed, by the admin" sh -c "
	[ \$('$CAIRN' audit export --dir '$D' --unsigned | grep '\"replace.mark\"' |
	grep -c '\"actor\":\"admin:bootstrap\"') -eq 5 ]"
status() { "$CAIRN" replace status 1 --dir "$D" --json >"$WORK/st.json" 2>/dev/null; }

t0=$(date +%s)
ca_serve "$D" || bail "restart failed"
done_marking() { status && jq -e '.state == "active"' "$WORK/st.json"; }
ok "the restarted daemon finishes the marking by itself" until_ok done_marking
t1=$(date +%s)
ok "  ... every valid certificate of the profile, each once" jq -e \
	".marked == $VALID and .pending == $VALID" "$WORK/st.json"
ok "  ... the rest as server:replace in the audit log" sh -c "
	'$CAIRN' audit export --dir '$D' --unsigned | grep '\"replace.mark\"' |
	grep -q '\"actor\":\"server:replace\"'"
ok "the marks in the audit log add up to the campaign's count" sh -c "
	'$CAIRN' audit export --dir '$D' --unsigned | grep '\"replace.mark\"' |
	jq -s '[.[].details.marked] | add' | grep -qx $VALID"
echo "# marking $VALID certificates ${CAIRN_REPLACE_BATCH} per transaction finished $((t1 - t0)) s after restart" >&2

ca_stop
unset CAIRN_REPLACE_BATCH
t0=$(date +%s)
ca_serve_at "$D" FAKETIME=+6d || bail "serve under faketime failed"
all_revoked() { status && jq -e '.state == "done"' "$WORK/st.json"; }
ok "past the deadline every pending certificate is revoked" until_ok all_revoked
t1=$(date +%s)
ok "  ... counted as revoked" jq -e ".revoked == $VALID and .pending == 0 and .replaced == 0" \
	"$WORK/st.json"
ok "  ... each with the campaign's reason, audited as server:replace" sh -c "
	'$CAIRN' audit export --dir '$D' --unsigned | grep '\"cert.revoke\"' |
	jq -s '[.[] | select(.actor == \"server:replace\" and
	.details.reason == \"cessationOfOperation\")] | length' | grep -qx $VALID"
echo "# revoking $VALID certificates (rounds of 500) took $((t1 - t0)) s" >&2
done_testing
