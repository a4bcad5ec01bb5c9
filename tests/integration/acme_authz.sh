#!/bin/sh
# SPDX-License-Identifier: MIT
# Authorizations against a real `cairn serve`: a deactivation that races the validator
# stays deactivated (python3-acme holding its correct challenge answer back until the
# deactivation is committed), and CAA is checked again at finalize once the validation
# is more than 8 hours old (lego; libfaketime moves the daemon's clock 9 hours on), and
# is reused only while its validation is younger than acme.authz_reuse_seconds. An order
# that waited for approvers is rechecked likewise when an approval signs it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"

PY=/usr/bin/python3
$PY -c 'import acme.client' 2>/dev/null || bail "python3-acme is not installed (scripts/deps.sh)"
command -v lego >/dev/null || bail "lego is not installed (scripts/deps.sh)"
command -v pebble-challtestsrv >/dev/null || bail "pebble-challtestsrv is not installed"

D=$WORK/ca
ca_init "$D" || bail "init failed"
dns_start || bail "test DNS server did not start"
HP=$(free_port)
acme_conf "$D" "{\"caa_identities\": [\"cairn.test\"], \"validation\": {
  \"dns_server\": \"127.0.0.1:$DNS_PORT\", \"http01_port\": $HP, \"timeout_ms\": 10000}}"
# held.example.test waits for one approver; every other name is issued
jq '.rules = [{"name": "held", "match": {"dns_exact": ["held.example.test"]},
	"action": "approve", "approvals": 1}] + .rules' "$D/policy.json" >"$WORK/policy.json" &&
	cp "$WORK/policy.json" "$D/policy.json" || bail "cannot edit the policy"
ca_serve "$D" || bail "serve failed"
DIRURL=$HTTPS_URL/acme/directory

# Deactivation against the validation worker.
$PY "$(dirname "$0")/acme_client.py" race "$DIRURL" "$D/ca/root.pem" "$HP" \
	>"$WORK/client.out" 2>&1
tap_lines "$WORK/client.out" "deactivating a deactivated authorization is refused" "client"

# CAA at finalize: validate three names now, add CAA records, finalize again later.
export LEGO_CA_CERTIFICATES="$D/ca/root.pem"
L="lego --server $DIRURL --path $WORK/lego --email ops@example.test --accept-tos"
H="--http --http.port 127.0.0.1:$HP"
cd "$WORK" || bail "no work dir"
dns_caa ours.example.test "cairn.test; validationmethods=http-01" >/dev/null
for n in late early ours; do
	ok "lego validates $n.example.test (http-01)" $L --domains $n.example.test $H run
done
M=""
for i in 1 2 3 4 5 6; do
	M="$M --domains m$i.example.test"
done
ok "lego validates m1..m6.example.test in one order" $L $M $H run
dns_caa late.example.test other-ca.test >/dev/null
dns_caa early.example.test other-ca.test >/dev/null
acme_probe held_order "the order for held.example.test waits" held.example.test
ok "  ... its request is pending" acme_pending "$D"
HELD=$REQ
dns_caa held.example.test other-ca.test >/dev/null
ok "within 8 hours of the validation, finalize does not recheck CAA" \
	$L --domains early.example.test $H run
last_has "  ... (the valid authorization was reused)" "authorization already valid"

# serve_9h_later: restarts the daemon with its clock 9 hours on (the same HTTPS port).
serve_9h_later() {
	ca_stop
	ca_serve_at "$D" FAKETIME=+9h
}

keep_https_port "$D"
serve_9h_later || bail "restart with FAKETIME=+9h failed"
served=$(curl -sI --cacert "$D/ca/root.pem" "$HTTPS_URL/acme/directory" |
	sed -n 's/^[Dd]ate: *//p' | tr -d '\r')
skew=$(($(date -d "$served" +%s) - $(date +%s)))
[ "$skew" -gt 28800 ]
tap $((1 - $?)) "the restarted daemon's clock is 9 hours on (Date: $served, ${skew}s ahead)"
fails "9 hours later, a CAA record added since the validation makes finalize fail" \
	$L --domains late.example.test $H run
last_has "  ... at finalize, on the reused authorization" "authorization already valid"
last_has "  ... with the caa problem" "error:caa.*CAA rechecked at finalize"
fails "9 hours later, an approval of the order that waited, CAA added since, issues nothing" \
	"$CAIRN" requests approve "$HELD" --dir "$D"
last_has "  ... with the CAA problem (403)" "403.*CAA rechecked at approval"
ok "  ... the request is failed, saying why" sh -c "'$CAIRN' requests show '$HELD' --dir '$D' |
	jq -e '.status == \"failed\" and (.reason | test(\"CAA rechecked at approval\"))' >/dev/null"
ok "  ... and no certificate names held.example.test" sh -c \
	"! '$CAIRN' list --dir '$D' --name held.example.test | grep -q held.example.test"
ok "9 hours later, a CAA record naming this CA lets finalize through" \
	$L --domains ours.example.test $H run
last_has "  ... on the reused authorization" "authorization already valid"

# The recheck runs on the HTTP thread: a DNS server that takes 0.4 s for every (empty)
# answer holds finalize for at most acme.validation.timeout_ms in all, not per lookup
# (6 names walked up to the root are 18 lookups: 7 s), then the order fails (dns problem).
SLOW=$(free_port)
python3 -c 'import socket, sys, threading, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
def answer(q, peer):
    time.sleep(0.4)
    # the query back as a response: QR and RA set, NOERROR, no records
    s.sendto(q[:2] + bytes([q[2] | 0x80, 0x80]) + q[4:], peer)
while True:
    q, peer = s.recvfrom(512)
    threading.Thread(target=answer, args=(q, peer), daemon=True).start()' "$SLOW" &
CAIRN_PIDS="$CAIRN_PIDS $!"
acme_conf "$D" "{\"caa_identities\": [\"cairn.test\"], \"validation\": {
  \"dns_server\": \"127.0.0.1:$SLOW\", \"http01_port\": $HP, \"timeout_ms\": 1500}}"
serve_9h_later || bail "restart with a slow DNS server failed"
t0=$(date +%s)
fails "a CAA recheck against a slow DNS server fails finalize" $L $M $H run
t=$(($(date +%s) - t0))
last_has "  ... with the dns problem, out of time" "error:dns.*CAA rechecked at finalize.*no answer in time"
[ "$t" -lt 5 ]
tap $((1 - $?)) "  ... after ${t}s for 6 names (timeout_ms is 1.5 s)"

# acme.authz_reuse_seconds bounds the age of the validation that is reused, not only
# whether reuse happens: 9 hours after the validation, with reuse for 1 hour, lego
# validates ours.example.test again; the authorization it then gets is reused at once.
acme_conf "$D" "{\"caa_identities\": [\"cairn.test\"], \"authz_reuse_seconds\": 3600,
  \"validation\": {\"dns_server\": \"127.0.0.1:$DNS_PORT\", \"http01_port\": $HP,
  \"timeout_ms\": 10000}}"
serve_9h_later || bail "restart with authz_reuse_seconds 3600 failed"
ok "9 hours after the validation, with authz_reuse_seconds 3600, lego gets a certificate" \
	$L --domains ours.example.test $H run
! grep -qi "authorization already valid" "$WORK/last.out"
tap $((1 - $?)) "  ... after validating again (the 9-hour-old authorization was not reused)"
ok "at once again, the fresh authorization is reused" $L --domains ours.example.test $H run
last_has "  ... (authorization already valid)" "authorization already valid"

ok "every certificate in the database passes certlint" lint_db "$D"
done_testing
