#!/bin/sh
# SPDX-License-Identifier: MIT
# Webhook receivers that misbehave: one that answers every POST slowly (2xx, within
# notify.timeout_ms) takes its own turns of the delivery worker, not the other sinks';
# a 307 is a failed delivery, not followed; an HTTPS receiver whose certificate does not
# verify gets nothing.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"
. "$CAIRN_SRCDIR/tests/integration/notify_lib.sh"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
C() { "$CAIRN" "$@" --dir "$D"; }

# sink NAME: a receiver on a free port ($WORK/NAME.port), its requests in $WORK/NAME.log.
sink() {
	printf '%s-secret\n' "$1" >"$D/$1.secret"
	python3 "$CAIRN_SRCDIR/tests/integration/webhook_sink.py" 0 "$WORK/$1.port" "$D/$1.secret" \
		"$WORK/$1.log" 2>>"$WORK/$1.err" &
	CAIRN_PIDS="$CAIRN_PIDS $!"
	until_ok test -s "$WORK/$1.port"
}
for s in slow fast moved; do sink $s || bail "webhook receiver $s did not start"; done
: >"$WORK/slow.log" >"$WORK/fast.log" >"$WORK/moved.log"

# ---- a backlog of events that no sink has taken yet ----
ca_serve "$D" || bail "cairn serve did not start"
make_csr one ec:P-256 /CN=one.slow.test DNS:one.slow.test
N=8
i=0
while [ $i -lt $N ]; do
	C issue --csr "$WORK/one.csr" --profile tls-server --out "$WORK/c$i.pem" >/dev/null 2>&1 ||
		bail "issuance failed"
	i=$((i + 1))
done
ca_stop

# A new sink starts at the oldest event still in the outbox: both have the whole backlog.
# The slow receiver is first in the list and answers each POST after a second.
echo 1 >"$WORK/slow.log.delay"
TLS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
port() { cat "$WORK/$1.port"; }
set_notify "{\"poll_ms\": 100, \"backoff_ms\": 100, \"backoff_max_ms\": 400, \"timeout_ms\": 5000,
  \"webhooks\": [
    {\"name\": \"slow\", \"url\": \"http://127.0.0.1:$(port slow)/\", \"secret_file\": \"slow.secret\",
     \"events\": [\"cert.issued\"]},
    {\"name\": \"fast\", \"url\": \"http://127.0.0.1:$(port fast)/\", \"secret_file\": \"fast.secret\",
     \"events\": [\"cert.issued\"]},
    {\"name\": \"moved\", \"url\": \"http://127.0.0.1:$(port moved)/\", \"secret_file\": \"moved.secret\",
     \"events\": [\"cert.revoked\"], \"max_tries\": 1},
    {\"name\": \"tls\", \"url\": \"https://localhost:$TLS_PORT/\", \"secret_file\": \"fast.secret\",
     \"events\": [\"cert.revoked\"], \"max_tries\": 1}]}"
ca_serve "$D" || bail "cairn serve did not restart"

# has NAME COUNT: the receiver NAME got COUNT cert.issued events.
has() { [ "$(grep -c "^ok [0-9]* cert.issued " "$WORK/$1.log")" -eq "$2" ]; }
ok "the fast receiver gets the $N cert.issued events" until_ok has fast $N
SLOW_THEN=$(grep -c "^ok [0-9]* cert.issued " "$WORK/slow.log")
ok "  ... while the slow one is still taking its own ($SLOW_THEN of $N by then)" \
	test "$SLOW_THEN" -le $((N / 2))
ok "the slow receiver gets them all in the end" until_ok has slow $N
ok "  ... each once, with a valid signature" sh -c "! grep -q '^bad' '$WORK/slow.log' '$WORK/fast.log'"

# ---- a redirect is a failed delivery, never followed ----
echo "http://127.0.0.1:$(port fast)/moved-here" >"$WORK/moved.log.redirect"
ok "cairn notify test moved (its receiver answers 307 to the fast one)" C notify test moved
ok "  ... the moved receiver was asked" waits "$WORK/moved.log" "^ok [0-9]+ notify.test "
ok "  ... the delivery failed with the 307 (dead-lettered after its one try)" \
	until_ok sh -c "'$CAIRN' notify list --dir '$D' --json | grep -q 'HTTP 307'"
ok "  ... and the redirect was not followed" sh -c "! grep -q notify.test '$WORK/fast.log'"

# ---- an HTTPS receiver whose certificate nothing vouches for ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/tls.key" \
	-out "$WORK/tls.pem" -subj /CN=localhost -addext subjectAltName=DNS:localhost -days 2 2>/dev/null
openssl s_server -accept "127.0.0.1:$TLS_PORT" -cert "$WORK/tls.pem" -key "$WORK/tls.key" -www \
	-quiet >"$WORK/tls.out" 2>&1 </dev/null &
CAIRN_PIDS="$CAIRN_PIDS $!"
until_ok sh -c "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $TLS_PORT), 1)'"
ok "cairn notify test tls (a self-signed receiver certificate)" C notify test tls
# tls_sink CHECK: CHECK (Python) holds of the tls sink s in `cairn notify list --json`.
tls_sink() {
	"$CAIRN" notify list --dir "$D" --json | python3 -c "import json,sys
s=[x for x in json.load(sys.stdin)['items'] if x['name']=='tls']
assert s and ($1), s"
}
ok "  ... not delivered: the receiver's certificate does not verify" \
	until_ok tls_sink "'certificate' in s[0]['last_error'] and s[0]['failed'] >= 1"
ok "  ... nothing counted as delivered to it" tls_sink "s[0]['delivered'] == 0"

ok "the daemon is still up" kill -0 "$SERVE_PID"
done_testing
