#!/bin/sh
# SPDX-License-Identifier: MIT
# ACME finalize goes through the policy engine (issue / wait for approvers / refuse),
# and new orders per account per hour are rate limited.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"

D=$WORK/ca
ca_init "$D" || bail "init failed"
HP=$(free_port)
acme_conf "$D" "{\"rate_limits\": {\"orders_per_hour\": 4, \"pending_authorizations\": 1,
  \"failed_validations_per_hour\": 1},
  \"validation\": {\"http01_port\": $HP, \"hosts\": {\"a.wait.test\": \"127.0.0.1\",
  \"a.deny.test\": \"127.0.0.1\", \"ok.example.test\": \"127.0.0.1\",
  \"fail.example.test\": \"127.0.0.1\"}}}"
cat >"$D/policy.json" <<'JSON'
{"rules": [
  {"name": "wait", "match": {"dns_suffix": [".wait.test"]}, "action": "approve", "approvals": 1},
  {"name": "deny", "match": {"dns_suffix": [".deny.test"]}, "action": "reject", "reason": "not here"},
  {"name": "default", "match": {}, "action": "issue"}
]}
JSON
ca_serve "$D" || bail "serve failed"

acme_probe policy "after deactivating"
ok "the parked and refused requests are audited" "$CAIRN" audit export --dir "$D"
last_has "  ... request.pending" "request.pending"
last_has "  ... request.rejected" "request.rejected"
acme_probe approval_authz "  ... the order is invalid" "$CAIRN" "$D"
ok "nothing was issued on the deactivated authorization: one certificate for a.wait.test" \
	sh -c "[ \$('$CAIRN' list --dir '$D' --name a.wait.test | grep -c a.wait.test) -eq 1 ]"

# Bad ACME settings stop the daemon at start with the key named.
ca_stop
acme_conf "$D" '{"validation": {"http01_port": 0}}'
fails "serve refuses acme.validation.http01_port 0" "$CAIRN" serve --dir "$D"
last_has "  ... naming the key" "acme.validation.http01_port: must be an integer 1..65535"
acme_conf "$D" '{"validaton": {}}'
fails "serve refuses an unknown acme key" "$CAIRN" serve --dir "$D"
last_has "  ... naming it" "acme.validaton: unknown key"

# orders_per_hour across its edge and a restart: the count is kept with the orders (the
# account's order list), not in memory, so a restart does not start the hour afresh.
acme_conf "$D" '{"rate_limits": {"orders_per_hour": 3}}'
clock_set "$WORK/clock" +0
ca_serve_at "$D" FAKETIME_TIMESTAMP_FILE="$WORK/clock" FAKETIME_NO_CACHE=1 ||
	bail "serve under libfaketime failed"
keep_https_port "$D"
# orders_say N [together]: N new orders of the kept account, one after the other or all
# at once; the answers in $WORK/orders.out.
orders_say() {
	python3 "$CAIRN_SRCDIR/tests/integration/acme_probe.py" orders "$HTTPS_URL/acme/directory" \
		"$D/ca/root.pem" 0 "$WORK/orders.state" "$@" >"$WORK/orders.out" 2>&1
}
# retry_in LO HI: the last answer was rateLimited with LO <= Retry-After <= HI.
retry_in() {
	set -- "$1" "$2" $(tail -n 1 "$WORK/orders.out")
	[ "$3" = 429 ] && [ "$5" = rateLimited ] && [ "$4" -ge "$1" ] && [ "$4" -le "$2" ]
}
# answers M R: of the last orders_say, M were made (201) and R refused (429).
answers() {
	cat "$WORK/orders.out"
	[ "$(grep -c '^201 ' "$WORK/orders.out")" -eq "$1" ] &&
		[ "$(grep -c '^429 ' "$WORK/orders.out")" -eq "$2" ]
}
orders_say 4
ok "orders_per_hour 3: three orders, the fourth refused" answers 3 1
ok "  ... Retry-After 3500..3600 s" retry_in 3500 3600
ca_stop
clock_set "$WORK/clock" +1800
ca_serve_at "$D" FAKETIME_TIMESTAMP_FILE="$WORK/clock" FAKETIME_NO_CACHE=1 ||
	bail "serve under libfaketime failed (restart)"
orders_say 1
ok "(restarted, 30 minutes on) the account is still over its limit" answers 0 1
ok "  ... Retry-After 1700..1800 s" retry_in 1700 1800
clock_set "$WORK/clock" +3500
orders_say 1
ok "100 s before the hour is over it still is" answers 0 1
ok "  ... Retry-After 1..100 s" retry_in 1 100
clock_set "$WORK/clock" +3700
orders_say 6 together
ok "past the hour: six orders at once, three made and three refused" answers 3 3
ca_stop

# failed_validations_per_hour across its edge and a restart: failures are kept in the
# database (f/ACCT/NAME/TIME), so a restart does not forget them.
acme_conf "$D" "{\"rate_limits\": {\"failed_validations_per_hour\": 1},
  \"validation\": {\"http01_port\": $HP, \"hosts\": {\"f2.example.test\": \"127.0.0.1\"}}}"
clock_set "$WORK/clock" +0
ca_serve_at "$D" FAKETIME_TIMESTAMP_FILE="$WORK/clock" FAKETIME_NO_CACHE=1 ||
	bail "serve under libfaketime failed"
# validated ANSWER WANT: a new order for f2.example.test by the kept account (made on first
# use), its challenge answered right or wrong, ends as WANT (valid, or the error's type).
validated() {
	python3 "$CAIRN_SRCDIR/tests/integration/acme_probe.py" validate "$HTTPS_URL/acme/directory" \
		"$D/ca/root.pem" "$HP" "$WORK/fail.state" f2.example.test "$1" >"$WORK/val.out" 2>&1
	cat "$WORK/val.out"
	[ "$(tail -n 1 "$WORK/val.out")" = "$2" ]
}
ok "failed_validations_per_hour 1: a wrong answer is incorrectResponse" validated wrong incorrectResponse
ok "  ... then a right one is rateLimited" validated right rateLimited
ca_stop
clock_set "$WORK/clock" +1800
ca_serve_at "$D" FAKETIME_TIMESTAMP_FILE="$WORK/clock" FAKETIME_NO_CACHE=1 ||
	bail "serve under libfaketime failed (restart)"
ok "(restarted, 30 minutes on) a right answer is still rateLimited" validated right rateLimited
clock_set "$WORK/clock" +3700
ok "past the hour it validates" validated right valid

# A nonce lives an hour (acme/nonce.c, NONCE_TTL): good at 58 minutes, badNonce past 60.
# nonce STEP: nonce_age of the kept account ("get" keeps a new nonce, "use" spends it).
nonce() {
	python3 "$CAIRN_SRCDIR/tests/integration/acme_probe.py" nonce_age "$HTTPS_URL/acme/directory" \
		"$D/ca/root.pem" 0 "$WORK/fail.state" "$1" >"$WORK/nonce.out" 2>&1
	cat "$WORK/nonce.out"
	[ "$1" = get ] || [ "$(tail -n 1 "$WORK/nonce.out")" = "$2" ]
}
ok "(a nonce taken)" nonce get
clock_set "$WORK/clock" +7180
ok "a nonce 58 minutes old is good" nonce use "200 -"
ok "(another nonce taken)" nonce get
clock_set "$WORK/clock" +10900
ok "a nonce 62 minutes old is badNonce" nonce use "400 badNonce"
ca_stop

# New accounts per client address (acme.rate_limits.accounts_per_address_per_hour, kept in
# memory): three an hour here, one more each 20 minutes once they are used.
acme_conf "$D" '{"rate_limits": {"accounts_per_address_per_hour": 3}}'
clock_set "$WORK/clock" +0
ca_serve_at "$D" FAKETIME_TIMESTAMP_FILE="$WORK/clock" FAKETIME_NO_CACHE=1 ||
	bail "serve under libfaketime failed (accounts)"
acme_probe accounts "a new account from 127.0.0.2" 3
clock_set "$WORK/clock" +3700
acme_probe accounts "a new account from 127.0.0.2" 3
ca_stop

ok "every certificate in the database passes certlint" lint_db "$D"
done_testing
