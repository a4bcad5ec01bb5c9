#!/bin/sh
# SPDX-License-Identifier: MIT
# cairn under a service manager: sd_notify readiness (READY=1 only once serve.json is
# written, RELOADING=1/READY=1 around SIGHUP, STOPPING=1) on a path and an abstract
# NOTIFY_SOCKET; SIGHUP reloads the policy and logs one line naming each item and whether
# it changed (policy: changed, unchanged, refused; cairn.json: changed on disk, restart).
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
C() { "$CAIRN" "$@" --dir "$D"; }
SINK="$CAIRN_SRCDIR/tests/integration/notify_socket.py"

# sink_start ADDR: the notification socket, bound before the daemon starts.
sink_start() {
	rm -f "$WORK/notify.out" "$WORK/notify.out.bound"
	python3 "$SINK" "$1" "$WORK/notify.out" "$D" &
	CAIRN_PIDS="$CAIRN_PIDS $!"
	waits "$WORK/notify.out.bound" '^bound$' 100
}
# hup_line: the log line of the last SIGHUP (waits for the Nth, N = $HUPS).
HUPS=0
hup() {
	HUPS=$((HUPS + 1))
	kill -HUP "$SERVE_PID"
	i=0
	until [ "$(grep -c 'SIGHUP: ' "$D.serve.log")" -ge $HUPS ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && return 1
		sleep 0.1
	done
	grep 'SIGHUP: ' "$D.serve.log" | tail -n 1 >"$WORK/hup.line"
}
hup_is() { grep -Eq -- "$1" "$WORK/hup.line" || { cat "$WORK/hup.line"; false; }; }

# Readiness on a socket path.
sink_start "$WORK/notify.sock" || bail "the notification socket did not bind"
NOTIFY_SOCKET=$WORK/notify.sock
export NOTIFY_SOCKET
ca_serve "$D" || bail "cairn serve did not start"
unset NOTIFY_SOCKET
ok "READY=1 arrives on NOTIFY_SOCKET" waits "$WORK/notify.out" '^READY=1'
ok "  ... after serve.json was written (the listeners answer)" grep -q '^READY=1.*serve.json=yes' "$WORK/notify.out"
ok "  ... with a STATUS naming both URLs" grep -q "^READY=1|STATUS=serving $HTTPS_URL and $HTTP_URL" "$WORK/notify.out"
ok "  ... once" sh -c "[ \$(grep -c '^READY=1' '$WORK/notify.out') -eq 1 ]"

# SIGHUP with nothing changed.
ok "SIGHUP logs one line" hup
ok "  ... policy reloaded, unchanged; cairn.json unchanged" hup_is \
	'SIGHUP: policy reloaded, unchanged; cairn.json not reloadable: unchanged"'
ok "  ... RELOADING=1, then READY=1 again" waits "$WORK/notify.out" '^READY=1 serve.json=yes'
ok "  ... in that order" sh -c "grep -n '' '$WORK/notify.out' | grep -A1 'RELOADING=1' | grep -q 'READY=1 '"

# A changed policy takes effect: names under .blocked.test are refused from now on.
make_csr b ec:P-256 /CN=a.blocked.test DNS:a.blocked.test
ok "before: a.blocked.test is issued (init's policy issues everything)" \
	C issue --csr "$WORK/b.csr" --profile tls-server --out "$WORK/b1.pem"
cp "$D/policy.json" "$WORK/policy.orig"
cat >"$D/policy.json" <<'JSON'
{"rules": [
  {"name": "blocked", "match": {"dns_suffix": [".blocked.test"]}, "action": "reject", "reason": "blocked here"},
  {"name": "rest", "match": {}, "action": "issue"}
]}
JSON
ok "SIGHUP after policy.json changed" hup
ok "  ... says policy reloaded, changed" hup_is 'SIGHUP: policy reloaded, changed; cairn.json not reloadable: unchanged"'
fails "  ... and the new policy decides: a.blocked.test is refused" \
	C issue --csr "$WORK/b.csr" --profile tls-server
last_has "  ... by the new rule" "rule blocked: blocked here"
ok "  ... policy show gives the new file" sh -c "'$CAIRN' policy show --dir '$D' --json | jq -e '.rules[0].name == \"blocked\"'"

# A broken policy: refused, the old one stays, and the line says so.
echo '{"rules": [{"name": "x", "match": {"dns_suffix": "no-list"}, "action": "issue"}]}' >"$D/policy.json"
ok "SIGHUP with a broken policy.json" hup
ok "  ... says not reloaded, the old one stays, naming the field" \
	hup_is 'SIGHUP: policy not reloaded, the old one stays \(.*rules\[0\] \(x\)\.match\.dns_suffix.*\); cairn.json'
fails "  ... and the old policy still decides" C issue --csr "$WORK/b.csr" --profile tls-server
last_has "  ... (rule blocked)" "rule blocked"

# cairn.json is not reloaded, but a change is noticed and named.
cp "$WORK/policy.orig" "$D/policy.json"
printf '\n' >>"$D/cairn.json"
ok "SIGHUP after cairn.json changed" hup
ok "  ... says cairn.json changed on disk, restart to apply" \
	hup_is 'SIGHUP: policy reloaded, changed; cairn.json not reloadable: changed on disk, restart to apply"'
ok "  ... and the daemon still answers" curl -fsS "$HTTP_URL/healthz"

ca_stop
ok "STOPPING=1 at shutdown" waits "$WORK/notify.out" '^STOPPING=1'

# An abstract-namespace socket ("@name"), as systemd may hand out.
ABSTRACT="@cairn-test-$$-$(basename "$WORK")"
sink_start "$ABSTRACT" || bail "the abstract notification socket did not bind"
NOTIFY_SOCKET=$ABSTRACT
export NOTIFY_SOCKET
ca_serve "$D" || bail "cairn serve did not restart"
unset NOTIFY_SOCKET
ok "READY=1 arrives on an abstract NOTIFY_SOCKET" waits "$WORK/notify.out" '^READY=1.*serve.json=yes'
ok "SIGHUP after the restart: cairn.json unchanged again (compared with what it started with)" hup
ok "  ... says so" hup_is 'cairn.json not reloadable: unchanged"'
ca_stop

done_testing
