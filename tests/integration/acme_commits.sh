#!/bin/sh
# SPDX-License-Identifier: MIT
# Durable commits per ACME order, counted by the daemon itself (cairn_db_writes_total
# in /metrics): newOrder with its authorization is one write, the validation result one,
# finalize one (the certificate, its indexes and audit event and the order turning valid
# commit together); an order whose authorization is reused makes two. Nonces write
# nothing, and after a restart no nonce of the previous run is accepted. A challenge is
# processing in memory while it is validated: after a kill -9 it is pending again and
# can be answered again; a clean stop keeps the queued ones for the next start. The answer
# that starts a validation waits up to acme.validation.answer_wait_ms for its result.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"

PROBE="python3 $(dirname "$0")/acme_probe.py"
D=$WORK/ca
ca_init "$D" || bail "init failed"
HP=$(free_port)
acme_conf "$D" "{\"authz_reuse_seconds\": 3600, \"validation\": {\"http01_port\": $HP,
  \"timeout_ms\": 2000, \"hosts\": {\"w0.example.test\": \"127.0.0.1\",
  \"w1.example.test\": \"127.0.0.1\", \"w2.example.test\": \"127.0.0.1\"}}}"
ca_serve "$D" || bail "serve failed"

acme_probe commits "twenty new nonces write nothing" "$HTTP_URL/metrics" "$WORK/state.json"

keep_https_port "$D"
ca_stop
ca_serve "$D" || bail "restart failed"
acme_probe nonces "the nonce carried by the badNonce answer works" "$WORK/state.json"

# ---- validations under way: kill -9, then a clean stop ----
# The test's http-01 server answers from $WORK/tokens, or hangs while $WORK/hang exists.
mkdir -p "$WORK/tokens"
cat >"$WORK/h01.py" <<'PY'
import http.server, os, sys, time
work = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if os.path.exists(work + "/hang"):
            time.sleep(8)
            return
        p = work + "/tokens/" + os.path.basename(self.path)
        body = open(p, "rb").read() if os.path.isfile(p) else b""
        self.send_response(200 if body else 404)
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$WORK/h01.py" "$HP" "$WORK" &
H01_PID=$!
CAIRN_PIDS="$CAIRN_PIDS $H01_PID"
keep_https_port "$D"
ca_stop
# The kill must come while h1's validation hangs: its timeout leaves the probe that starts
# it 6 s (2 s were not always enough on a loaded machine: the validation had already
# failed, and after the restart the challenge was invalid, not pending).
acme_conf "$D" "{\"validation_workers\": 1, \"validation\": {\"http01_port\": $HP,
  \"timeout_ms\": 6000, \"hosts\": {\"h1.example.test\": \"127.0.0.1\",
  \"h2.example.test\": \"127.0.0.1\", \"h3.example.test\": \"127.0.0.1\"}}}"
ca_serve "$D" || bail "restart with one validation worker failed"
touch "$WORK/hang"
acme_probe inflight "answering it again while it runs" "$WORK/inflight.json" "$WORK/tokens"
keep_https_port "$D"
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
rm -f "$WORK/hang"
ca_serve "$D" || bail "restart after kill -9 failed"
acme_probe killed "and its order is issued" "$WORK/inflight.json" "$WORK/tokens"
touch "$WORK/hang"
acme_probe park "answered before the stop" "$WORK/inflight.json" "$WORK/tokens"
keep_https_port "$D"
ca_stop
rm -f "$WORK/hang"
ca_serve "$D" || bail "restart after the clean stop failed"
acme_probe parked "the validation queued at the stop ran" "$WORK/inflight.json" "$WORK/tokens"

# ---- the answer that starts a validation waits for its result (answer_wait_ms) ----
keep_https_port "$D"
ca_stop
acme_conf "$D" "{\"validation\": {\"http01_port\": $HP, \"timeout_ms\": 2000,
  \"answer_wait_ms\": 1000, \"hosts\": {\"h4.example.test\": \"127.0.0.1\",
  \"h5.example.test\": \"127.0.0.1\"}}}"
ca_serve "$D" || bail "restart with answer_wait_ms 1000 failed"
acme_probe answered "  ... and its authorization is valid" "$WORK/answered.json" \
	"$WORK/tokens"
touch "$WORK/hang"
acme_probe answered_late "a validation still running when the wait ends" "$WORK/answered.json" "$WORK/tokens"
rm -f "$WORK/hang"
keep_https_port "$D"
ca_stop
acme_conf "$D" "{\"validation\": {\"http01_port\": $HP, \"timeout_ms\": 2000,
  \"answer_wait_ms\": 0, \"hosts\": {\"h6.example.test\": \"127.0.0.1\"}}}"
ca_serve "$D" || bail "restart with answer_wait_ms 0 failed"
acme_probe unanswered "  ... and the validation still settles" "$WORK/unanswered.json" \
	"$WORK/tokens"

# A parked answer holds no HTTPS worker (one worker here), and a stop with one parked
# neither hangs nor trips libmicrohttpd (which aborts on a suspended connection at stop).
keep_https_port "$D"
ca_stop
conf_set "$D" server '{"threads": 1, "max_body": 65536}'
acme_conf "$D" "{\"validation\": {\"http01_port\": $HP, \"timeout_ms\": 2000,
  \"answer_wait_ms\": 1000, \"hosts\": {\"h7.example.test\": \"127.0.0.1\",
  \"h8.example.test\": \"127.0.0.1\"}}}"
ca_serve "$D" || bail "restart with one HTTPS worker failed"
touch "$WORK/hang"
acme_probe worker_free "  ... and the parked answer comes back" "$HTTP_URL/metrics" "$WORK/tokens"
python3 "$CAIRN_SRCDIR/tests/integration/acme_probe.py" stop_parked "$HTTPS_URL/acme/directory" \
	"$D/ca/root.pem" "$HP" "$HTTP_URL/metrics" "$WORK/tokens" "$WORK/parked.mark" \
	>"$WORK/stop_parked.out" 2>&1 &
PROBE_PID=$!
ok "an answer is parked" waits_for test -f "$WORK/parked.mark"
ca_stop
rc=$?
ok "the daemon stops cleanly with an answer parked (exit status $rc)" test "$rc" -eq 0
ok "  ... without libmicrohttpd complaining of suspended connections" \
	sh -c "! grep -qi 'suspended' '$D.serve.log'"
wait "$PROBE_PID"
tap_lines "$WORK/stop_parked.out" "the answer parked at the stop" "stop_parked probe"
rm -f "$WORK/hang"

ok "every certificate in the database passes certlint" lint_db "$D"
done_testing
