#!/bin/sh
# SPDX-License-Identifier: MIT
# Authorizations against a real `cairn serve`: a deactivation that races the validator
# stays deactivated (python3-acme holding its correct challenge answer back until the
# deactivation is committed), and CAA is checked again at finalize once the validation
# is more than 8 hours old (lego; libfaketime moves the daemon's clock 9 hours on).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"

PY=/usr/bin/python3
$PY -c 'import acme.client' 2>/dev/null || bail "python3-acme is not installed (scripts/deps.sh)"
command -v lego >/dev/null || bail "lego is not installed (scripts/deps.sh)"
command -v pebble-challtestsrv >/dev/null || bail "pebble-challtestsrv is not installed"
FT=$(dpkg -L libfaketime 2>/dev/null | grep -m1 'libfaketime.so.1$')
[ -n "$FT" ] || bail "libfaketime is not installed (package faketime, scripts/deps.sh)"

D=$WORK/ca
ca_init "$D" || bail "init failed"
dns_start || bail "test DNS server did not start"
HP=$(free_port)
acme_conf "$D" "{\"caa_identities\": [\"cairn.test\"], \"validation\": {
  \"dns_server\": \"127.0.0.1:$DNS_PORT\", \"http01_port\": $HP, \"timeout_ms\": 10000}}"
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
dns_caa late.example.test other-ca.test >/dev/null
dns_caa early.example.test other-ca.test >/dev/null
ok "within 8 hours of the validation, finalize does not recheck CAA" \
	$L --domains early.example.test $H run
last_has "  ... (the valid authorization was reused)" "authorization already valid"

keep_https_port "$D"
ca_stop
export LD_PRELOAD="$FT" FAKETIME=+9h
ca_serve "$D"
rc=$?
unset LD_PRELOAD FAKETIME
[ $rc -eq 0 ] || bail "restart with FAKETIME=+9h failed"
served=$(curl -sI --cacert "$D/ca/root.pem" "$HTTPS_URL/acme/directory" |
	sed -n 's/^[Dd]ate: *//p' | tr -d '\r')
skew=$(($(date -d "$served" +%s) - $(date +%s)))
[ "$skew" -gt 28800 ]
tap $((1 - $?)) "the restarted daemon's clock is 9 hours on (Date: $served, ${skew}s ahead)"
fails "9 hours later, a CAA record added since the validation makes finalize fail" \
	$L --domains late.example.test $H run
last_has "  ... at finalize, on the reused authorization" "authorization already valid"
last_has "  ... with the caa problem" "error:caa.*CAA rechecked at finalize"
ok "9 hours later, a CAA record naming this CA lets finalize through" \
	$L --domains ours.example.test $H run
last_has "  ... on the reused authorization" "authorization already valid"

ok "every certificate in the database passes certlint" lint_db "$D"
done_testing
