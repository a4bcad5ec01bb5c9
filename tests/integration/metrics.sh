#!/bin/sh
# SPDX-License-Identifier: MIT
# /metrics after a known sequence: certificates issued through the admin API and EST,
# revoked with reasons, a request left pending, webhook deliveries that succeed and fail;
# then the clock moved under libfaketime (restarts) so some expire, one is revoked after
# expiring, and back. Every scrape passes `promtool check metrics` (the strict parser) and
# its certificate gauges equal what `cairn list --json` counts — values, not presence.
# Histograms grow by the requests made. The shipped alert rules pass `promtool check rules`.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"
. "$CAIRN_SRCDIR/tests/integration/est_lib.sh"

command -v promtool >/dev/null || bail "promtool is not installed (scripts/deps.sh installs prometheus)"
CHECK="python3 $CAIRN_SRCDIR/tests/integration/metrics_check.py"
SINK="$CAIRN_SRCDIR/tests/integration/webhook_sink.py"
D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
C() { "$CAIRN" "$@" --dir "$D"; }
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f'; }

# ---- set-up: EST labels of 10 and 70 days, a policy that holds one name, two sinks ----
printf 'hook-secret\n' >"$D/ops.secret"
python3 "$SINK" 0 "$WORK/ops.port" "$D/ops.secret" "$WORK/ops.log" 2>>"$WORK/ops.err" &
CAIRN_PIDS="$CAIRN_PIDS $!"
i=0
until [ -s "$WORK/ops.port" ] || [ $i -gt 100 ]; do i=$((i + 1)); sleep 0.1; done
OPS_PORT=$(cat "$WORK/ops.port") || bail "webhook receiver did not start"
DOWN_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
jq --arg ops "http://127.0.0.1:$OPS_PORT/hook" --arg down "http://127.0.0.1:$DOWN_PORT/hook" '
	.est.labels.short = {"profile": "tls-client", "validity_days": 10} |
	.est.labels.week = {"profile": "tls-client", "validity_days": 70} |
	.notify = {"poll_ms": 100, "backoff_ms": 100, "backoff_max_ms": 200, "webhooks": [
	  {"name": "ops", "url": $ops, "secret_file": "ops.secret"},
	  {"name": "down", "url": $down, "secret_file": "ops.secret", "events": ["cert.revoked"],
	   "max_tries": 1}]}' "$D/cairn.json" >"$WORK/cairn.json" && cp "$WORK/cairn.json" "$D/cairn.json" ||
	bail "cannot edit cairn.json"
cat >"$D/policy.json" <<'JSON'
{"rules": [
  {"name": "held", "match": {"dns_suffix": [".hold.test"]}, "action": "approve", "approvals": 1},
  {"name": "default", "match": {}, "action": "issue"}
]}
JSON
ca_serve "$D" || bail "cairn serve did not start"
printf 'device pass\n' >"$WORK/pw"
C est user add --name dev --password-file "$WORK/pw" --labels short,week >/dev/null 2>&1 ||
	bail "est user add failed"

# scrape NAME: /metrics into $WORK/NAME.prom, checked by promtool's strict parser.
scrape() {
	curl -sf "$HTTP_URL/metrics" >"$WORK/$1.prom" && promtool check metrics <"$WORK/$1.prom"
}
# val NAME SERIES: one value of scrape NAME.
val() { $CHECK get "$WORK/$1.prom" "$2"; }
# matches_db NAME OFFSET_DAYS: scrape NAME against `cairn list --json` at now + OFFSET_DAYS
# (the daemon's clock); the list is read before and after the scrape and must not change.
# The expiring gauges are computed in the background (at start, after each change):
# first wait until they cover every change made (bounded, 20 s).
expiring_current() {
	i=0
	until curl -s "$HTTP_URL/metrics" | grep -qx 'cairn_certificates_expiring_outdated 0'; do
		i=$((i + 1))
		[ $i -gt 200 ] && return 1
		sleep 0.1
	done
}
matches_db() {
	expiring_current || return 1
	for try in 1 2 3; do
		C list --json >"$WORK/$1.list.a" 2>&1 && scrape "$1" && C list --json >"$WORK/$1.list" 2>&1 ||
			return 1
		cmp -s "$WORK/$1.list.a" "$WORK/$1.list" && break
	done
	$CHECK db "$WORK/$1.prom" "$WORK/$1.list" "$(($(date +%s) + $2 * 86400))"
}
hist() { val "$1" "cairn_http_request_duration_seconds_count{channel=\"$2\"}"; }

ok "day 0 before anything: /metrics passes promtool check metrics" scrape m0

# ---- the sequence ----
for n in 1 2 3; do
	make_csr "a$n" ec:P-256 "/CN=a$n.metrics.test" "DNS:a$n.metrics.test"
	ok "issue a$n through the admin API" C issue --csr "$WORK/a$n.csr" --profile tls-server --out "$WORK/a$n.pem"
done
ROOT=$D/ca/root.pem
EST=$HTTPS_URL/.well-known/est
for n in s1 s2 w1; do
	make_csr "$n" ec:P-256 "/CN=$n.device" "DNS:$n.device.test"
	b64csr "$n"
	BODY=$WORK/$n.b64
	case $n in s*) label=short ;; *) label=week ;; esac
	est_post "$n" "$label/simpleenroll" -u 'dev:device pass'
	ok "enroll $n over EST (label $label)" status_is "$n" 200
	p7cert "$n" || bail "no certificate in the EST answer for $n"
done
ok "revoke a1 (keyCompromise)" C revoke "$(serial_of "$WORK/a1.pem")" --reason keyCompromise
ok "revoke a2 (superseded)" C revoke "$(serial_of "$WORK/a2.pem")" --reason superseded
ok "revoke s1 (cessationOfOperation) while it is valid" \
	C revoke "$(serial_of "$WORK/s1.pem")" --reason cessationOfOperation
make_csr held ec:P-256 /CN=x.hold.test "DNS:x.hold.test"
C issue --csr "$WORK/held.csr" --profile tls-server >"$WORK/held.out" 2>&1
ok "a request under .hold.test waits for approval (exit 3)" test $? -eq 3
ok "one OCSP request" sh -c "openssl ocsp -issuer '$D/ca/issuing.pem' -cert '$WORK/a3.pem' \
	-url '$HTTP_URL/ocsp' -CAfile '$ROOT' -noverify >/dev/null 2>&1"
ok "one CRL download" curl -sf -o "$WORK/crl.der" "$HTTP_URL/crl/issuing.crl"

# wait_series NAME SERIES VALUE: scrapes until SERIES has VALUE (bounded, 20 s).
wait_series() {
	i=0
	until scrape "$1" >/dev/null 2>&1 && [ "$(val "$1" "$2" 2>/dev/null)" = "$3" ]; do
		i=$((i + 1))
		[ $i -gt 200 ] && return 1
		sleep 0.1
	done
}
ok "the failing sink dead-letters the three revocations it wanted" \
	wait_series m1 'cairn_notify_dead_letters{sink="down"}' 3
ok "  ... the ops sink's backlog drains to 0" wait_series m1 'cairn_notify_backlog_events{sink="ops"}' 0

ok "day 0: /metrics passes promtool and its certificate gauges equal the database" matches_db m1 0
ok "issued through the admin API: 3 tls-server" test "$(val m1 'cairn_issued_total{channel="admin",profile="tls-server"}')" = 3
ok "issued over EST: 3 tls-client" test "$(val m1 'cairn_issued_total{channel="est",profile="tls-client"}')" = 3
ok "revoked: 1 keyCompromise" test "$(val m1 'cairn_revoked_total{reason="keyCompromise"}')" = 1
ok "revoked: 1 superseded" test "$(val m1 'cairn_revoked_total{reason="superseded"}')" = 1
ok "revoked: 1 cessationOfOperation" test "$(val m1 'cairn_revoked_total{reason="cessationOfOperation"}')" = 1
ok "one request pending, as cairn requests list says" sh -c "
	[ \"\$($CHECK get '$WORK/m1.prom' cairn_requests_pending)\" = 1 ] &&
	[ \$('$CAIRN' requests list --dir '$D' | grep -c pending) -eq 1 ]"
ok "the ops sink's deliveries equal the receiver's log (all signed ok)" sh -c "
	[ \"\$($CHECK get '$WORK/m1.prom' 'cairn_notify_deliveries_total{sink=\"ops\",result=\"delivered\"}')\" = \
	  \$(grep -c '^ok ' '$WORK/ops.log') ] && ! grep -q '^bad' '$WORK/ops.log'"
ok "the down sink failed 3 times, delivered none" sh -c "
	[ \"\$($CHECK get '$WORK/m1.prom' 'cairn_notify_deliveries_total{sink=\"down\",result=\"failed\"}')\" = 3 ] &&
	[ \"\$($CHECK get '$WORK/m1.prom' 'cairn_notify_deliveries_total{sink=\"down\",result=\"delivered\"}')\" = 0 ]"
ok "the EST histogram counted exactly the 3 enrollments" test $(($(hist m1 est) - $(hist m0 est))) -eq 3
ok "the OCSP histogram counted the 1 request" test $(($(hist m1 ocsp) - $(hist m0 ocsp))) -eq 1
ok "the CRL histogram counted the 1 download" test $(($(hist m1 crl) - $(hist m0 crl))) -eq 1
ok "the admin histogram counted at least the 4 issues and 3 revocations" \
	test $(($(hist m1 admin) - $(hist m0 admin))) -ge 7
ok "the database gauges are there: used <= map size, both > 0" sh -c "
	u=\$($CHECK get '$WORK/m1.prom' cairn_db_used_bytes); m=\$($CHECK get '$WORK/m1.prom' cairn_db_map_size_bytes)
	[ \$u -gt 0 ] && [ \$u -le \$m ]"

# ---- day 65: the 10-day certificates have expired, the 70-day one expires within 7 days ----
ca_stop
ca_serve_at "$D" FAKETIME=+65d || bail "serve at +65d failed"
ok "day 65: the gauges equal the database (expired ones counted)" matches_db m65 65
ok "  ... s2 is expired (s1 was revoked first: it stays revoked)" \
	test "$(val m65 'cairn_certificates{status="expired",profile="tls-client"}')" = 1
ok "  ... w1 expires within 7 days" \
	test "$(val m65 'cairn_certificates_expiring{profile="tls-client",within="7d"}')" = 1
ok "  ... a3 expires within 30 days, not 7" sh -c "
	[ \"\$($CHECK get '$WORK/m65.prom' 'cairn_certificates_expiring{profile=\"tls-server\",within=\"30d\"}')\" = 1 ] &&
	[ \"\$($CHECK get '$WORK/m65.prom' 'cairn_certificates_expiring{profile=\"tls-server\",within=\"7d\"}')\" = 0 ]"
ok "  ... counters survived the restart" \
	test "$(val m65 'cairn_issued_total{channel="est",profile="tls-client"}')" = 3
ok "  ... and is not renewed" \
	test "$(val m65 'cairn_certificates_expiring_unrenewed{profile="tls-client",within="7d"}')" = 1
ok "day 65: the device enrolls again for w1's names (a renewal; curl on the daemon's clock)" \
	sh -c "[ \$(LD_PRELOAD='$FAKETIME_LIB' FAKETIME=+65d curl -s --cacert '$ROOT' \
		-H 'Content-Type: application/pkcs10' --data-binary '@$WORK/w1.b64' -u 'dev:device pass' \
		-o '$WORK/w1b.body' -w '%{http_code}' '$HTTPS_URL/.well-known/est/week/simpleenroll') = 200 ]"
ok "  ... the gauges equal the database" matches_db m65r 65
ok "  ... w1 still expires within 7 days" \
	test "$(val m65r 'cairn_certificates_expiring{profile="tls-client",within="7d"}')" = 1
ok "  ... but it is renewed: no unrenewed one left" \
	test "$(val m65r 'cairn_certificates_expiring_unrenewed{profile="tls-client",within="7d"}')" = 0
ok "revoke s2 after it expired (affiliationChanged)" \
	C revoke "$(serial_of "$WORK/s2.pem")" --reason affiliationChanged
ok "  ... the gauges still equal the database (expired to revoked)" matches_db m65b 65
ok "  ... no expired tls-client left" \
	test "$(val m65b 'cairn_certificates{status="expired",profile="tls-client"}')" = 0

# ---- day 200: everything of ours has expired; then the clock back at day 0 ----
ca_stop
ca_serve_at "$D" FAKETIME=+200d || bail "serve at +200d failed"
ok "day 200: the gauges equal the database" matches_db m200 200
ca_stop
ca_serve_at "$D" FAKETIME=+0d || bail "serve back at day 0 failed"
ok "back at day 0 (the clock set back): the gauges equal the database again" matches_db mback 0
ok "  ... nothing of tls-server counted expired" \
	test "$(val mback 'cairn_certificates{status="expired",profile="tls-server"}')" = 0

# ---- the alert rules shipped in docs/ ----
ok "docs/alerts.yml passes promtool check rules" \
	promtool check rules "$CAIRN_SRCDIR/docs/alerts.yml"
ok "every metric the rules use is one /metrics serves" sh -c "
	for m in \$(grep -o 'cairn_[a-z_]*' '$CAIRN_SRCDIR/docs/alerts.yml' | sort -u); do
		grep -q \"^# TYPE \$m \" '$WORK/mback.prom' || { echo \"not served: \$m\"; exit 1; }
	done"
done_testing
