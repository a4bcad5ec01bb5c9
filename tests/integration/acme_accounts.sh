#!/bin/sh
# SPDX-License-Identifier: MIT
# ACME accounts and External Account Binding keys (RFC 8555 §7.3.4) as admins manage them,
# with EAB required. A key is made (with an expiry for as long as it binds nothing), listed
# with its state and the account it bound (never its HMAC key), revoked — an unused key
# then binds nothing, and the account a bound key made is revoked with it, also while that
# account's finalize is signing. An account is shown and revoked by its id. The clock moves
# across the expiry (libfaketime, a restart each time) and back. lego is the client that
# binds; acme_probe.py holds a finalize in the token for the race.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"
. "$CAIRN_SRCDIR/tests/integration/acme_lib.sh"
. "$CAIRN_SRCDIR/tests/integration/outage_lib.sh"

command -v lego >/dev/null || bail "lego is not installed (scripts/deps.sh)"
plugged_ca '.token.timeout = 60 | .acme.external_account_required = true |
	.acme.validation.hosts = {"one.eab.test": "127.0.0.1", "two.eab.test": "127.0.0.1",
	"race.eab.test": "127.0.0.1", "late.eab.test": "127.0.0.1", "wait.eab.test": "127.0.0.1"}'
# wait.eab.test waits for one approval; every other name as the policy init wrote says
jq '.rules = [{"name": "held", "match": {"dns_exact": ["wait.eab.test"]}, "action": "approve",
	"approvals": 1}] + .rules' "$D/policy.json" >"$WORK/policy.json" &&
	cp "$WORK/policy.json" "$D/policy.json" || bail "cannot edit the policy"
export CAIRN_TEST_TOKEN_HANG="$WORK/hang" CAIRN_TEST_TOKEN_WAITING="$WORK/waiting"
ca_serve "$D" || bail "serve failed"
keep_https_port "$D"
export LEGO_CA_CERTIFICATES="$ROOT"
cd "$WORK" || bail "no work dir"

# eab [OPTIONS]: cairn acme eab create; KID and HMAC from its output.
eab() {
	"$CAIRN" acme eab create --dir "$D" "$@" >"$WORK/eab.out" 2>"$WORK/eab.err" || return 1
	KID=$(sed -n 's/^kid: *//p' "$WORK/eab.out")
	HMAC=$(sed -n 's/^hmac: *//p' "$WORK/eab.out")
	[ -n "$KID" ] && [ -n "$HMAC" ]
}
# lego_bind DIR NAME KID HMAC: a new account bound with the key, and a certificate for NAME.
lego_bind() {
	lego --server "$HTTPS_URL/acme/directory" --path "$WORK/$1" --email "$1@eab.test" \
		--accept-tos --eab --kid "$3" --hmac "$4" --domains "$2" --http \
		--http.port "127.0.0.1:$HP" run
}
# listed KID JQ: `cairn acme eab list --json` has the key, and JQ holds on its item.
listed() {
	"$CAIRN" acme eab list --dir "$D" --json >"$WORK/list.json" 2>&1 &&
		jq -e --arg k "$1" ".items[] | select(.kid == \$k) | $2" "$WORK/list.json" >/dev/null
}
api() {
	curl -s --cacert "$ROOT" -o "$WORK/api.out" -w '%{http_code}' -X "$2" \
		-H "Authorization: Bearer $(cat "$1")" -H 'Content-Type: application/json' \
		${4:+-d "$4"} "$HTTPS_URL/admin/v1$3"
}

fails "without EAB no account is made (acme.external_account_required)" lego --server \
	"$HTTPS_URL/acme/directory" --path "$WORK/open" --email open@eab.test --accept-tos \
	--domains one.eab.test --http --http.port "127.0.0.1:$HP" run

# -- made, listed, bound
now=$(date +%s)
ok "an EAB key is made (group team-a)" eab --group team-a
K1=$KID H1=$HMAC
ok "  ... the CLI says until when an unused key works" grep -q "before .*stops working" \
	"$WORK/eab.err"
ok "the list shows it unused, of group team-a" listed "$K1" \
	'.state == "unused" and .group == "team-a" and .by == "admin:bootstrap"'
ok "  ... expiring 7 days after it was made (the default)" listed "$K1" \
	".expires - .created == 604800 and .created >= $now"
ok "  ... and never its HMAC key" sh -c "! grep -q '$H1' '$WORK/list.json' &&
	! jq -e '.items[] | has(\"key\") or has(\"hmac_key\")' '$WORK/list.json' | grep -q true"
ok "lego binds an account with it and gets a certificate" lego_bind one one.eab.test "$K1" "$H1"
ok "the list shows it bound, naming the account" listed "$K1" \
	'.state == "bound" and (.account | length) == 22'
ACCT=$(jq -r --arg k "$K1" '.items[] | select(.kid == $k) | .account' "$WORK/list.json")
ok "the table of \`cairn acme eab list\` shows the state and the account" sh -c \
	"'$CAIRN' acme eab list --dir '$D' | grep '^$K1 ' | grep -q 'bound .*team-a .*$ACCT'"

# -- who may
for who in aud:auditor op:operator; do
	ok "an admin of role ${who#*:} and a token of it" sh -c "'$CAIRN' admin add --dir '$D' \
		--name ${who%:*} --role ${who#*:} && '$CAIRN' token create --dir '$D' \
		--name ${who%:*} --role ${who#*:} >'$WORK/${who%:*}.tok'"
done
ok "an auditor may list the keys" test "$(api "$WORK/aud.tok" GET /acme/eab)" = 200
ok "  ... but not revoke one (403)" test "$(api "$WORK/aud.tok" POST "/acme/eab/$K1/revoke")" = 403
ok "an operator may not list them (403)" test "$(api "$WORK/op.tok" GET /acme/eab)" = 403
ok "  ... nor revoke one (403)" test "$(api "$WORK/op.tok" POST "/acme/eab/$K1/revoke")" = 403
ok "  ... nor make one (403)" test "$(api "$WORK/op.tok" POST /acme/eab '{}')" = 403
ok "the key is still bound after the refusals" listed "$K1" '.state == "bound"'

# -- revoked: a bound key takes its account with it
ok "the bound key is revoked" "$CAIRN" acme eab revoke "$K1" --dir "$D"
last_has "  ... naming the account revoked with it" "and the ACME account $ACCT"
ok "the list shows it revoked, by whom" listed "$K1" \
	'.state == "revoked" and .revoked_by == "admin:bootstrap" and .revoked > 0'
fails "the account's next order is refused" lego_bind one one.eab.test "$K1" "$H1"
last_has "  ... the account is revoked" "account is revoked"
fails "revoking it again is refused" "$CAIRN" acme eab revoke "$K1" --dir "$D"
last_has "  ... it is revoked already (409)" "409"
fails "an unknown key id is refused" "$CAIRN" acme eab revoke AAAAAAAAAAAAAAAAAAAAAA --dir "$D"
last_has "  ... 404, naming it" "no EAB key AAAAAAAAAAAAAAAAAAAAAA"
fails "a key id beginning with '-' (made before ids could not) is read after --" "$CAIRN" acme \
	eab revoke --dir "$D" -- -AAAAAAAAAAAAAAAAAAAAA
last_has "  ... as an id, not an option" "no EAB key -AAAAAAAAAAAAAAAAAAAAA"
ok "new key ids and account ids never begin with '-'" sh -c "'$CAIRN' acme eab list --dir '$D' --json |
	jq -e '[.items[] | .kid, (.account // empty)] | length > 0 and all(test(\"^[A-Za-f]\"))' >/dev/null"
fails "a key id that is no path segment is a usage error" "$CAIRN" acme eab revoke \
	"../tokens" --dir "$D"
# audited KID ACTION JQ: one event ACTION by the CLI's admin about KID, and JQ holds on it.
audited() {
	"$CAIRN" audit export --dir "$D" --format jsonl --unsigned 2>/dev/null | jq -s -e \
		--arg k "$1" --arg a "$2" "map(select(.action == \$a and .details.kid == \$k and
		.actor == \"admin:bootstrap\" and ($3))) | length == 1" >/dev/null
}
ok "the revocation is audited with the admin and the account" audited "$K1" acme.eab.revoke \
	".details.account == \"$ACCT\""
ok "  ... as its making is, with its expiry" audited "$K1" acme.eab.create ".details.expires > 0"

ok "a second key is made" eab
K2=$KID H2=$HMAC
ok "  ... and revoked unused" "$CAIRN" acme eab revoke "$K2" --dir "$D"
last_has "  ... which bound no account" "bound no account"
fails "a revoked unused key binds no account" lego_bind two two.eab.test "$K2" "$H2"
last_has "  ... saying it was revoked" "was revoked"
fails "a revocation with options is refused (400)" test \
	"$(api "$D/admin.token" POST "/acme/eab/$K2/revoke" '{"reason":"x"}')" = 200
fails "expires_in past 10 years is refused" eab --expires-in 11y
ok "  ... with the rule" grep -q "at most 10y" "$WORK/eab.err"
fails "expires_in 0 is refused" eab --expires-in 0s

# -- revoked while the account's finalize signs
ok "a third key is made" eab
acme_probe eab_race "the account's next request is refused: account is revoked" \
	"$WORK/hang" "$WORK/waiting" "$KID" "$HMAC" "'$CAIRN' acme eab revoke '$KID' --dir '$D'"
ok "nothing was issued for race.eab.test" sh -c \
	"! '$CAIRN' list --dir '$D' --name race.eab.test | grep -q race.eab.test"

# -- an account, by its id
ok "a key is made for an account of its own" eab --group team-b
K7=$KID
ok "  ... lego binds an account with it" lego_bind acct two.eab.test "$K7" "$HMAC"
listed "$K7" true
A7=$(jq -r --arg k "$K7" '.items[] | select(.kid == $k) | .account' "$WORK/list.json")
ok "\`cairn acme account show\` shows the account: valid, its contact, its EAB key" sh -c \
	"'$CAIRN' acme account show '$A7' --dir '$D' >'$WORK/acct.txt' &&
	grep -q '^status *valid' '$WORK/acct.txt' && grep -q '^contact *mailto:acct@eab.test' \
	'$WORK/acct.txt' && grep -q '^EAB key *$K7 (group team-b' '$WORK/acct.txt'"
ok "  ... and --json its key's thumbprint and public key, nothing private" sh -c \
	"'$CAIRN' acme account show '$A7' --dir '$D' --json | jq -e '.id == \"$A7\" and
	(.jwk_thumbprint | length) == 43 and .key.kty == \"EC\" and (.key | has(\"d\") | not)
	and .eab_kid == \"$K7\" and .created > 0' >/dev/null"
ok "an auditor may see it" test "$(api "$WORK/aud.tok" GET "/acme/accounts/$A7")" = 200
ok "  ... but not revoke it (403)" test \
	"$(api "$WORK/aud.tok" POST "/acme/accounts/$A7/revoke")" = 403
ok "an operator may not see it (403)" test "$(api "$WORK/op.tok" GET "/acme/accounts/$A7")" = 403
fails "an unknown account is not found" "$CAIRN" acme account show AAAAAAAAAAAAAAAAAAAAAA \
	--dir "$D"
last_has "  ... 404, naming it" "no ACME account AAAAAAAAAAAAAAAAAAAAAA"
fails "an account revocation with options is refused (400)" test \
	"$(api "$D/admin.token" POST "/acme/accounts/$A7/revoke" '{"why":"x"}')" = 200
ok "the account is revoked by its id" "$CAIRN" acme account revoke "$A7" --dir "$D"
ok "  ... its show says revoked, by whom" sh -c "'$CAIRN' acme account show '$A7' --dir '$D' |
	grep -q '^status *revoked' && '$CAIRN' acme account show '$A7' --dir '$D' |
	grep -q '^revoked by *admin:bootstrap'"
fails "  ... and its next order is refused" lego_bind acct two.eab.test "$K7" "$HMAC"
last_has "  ... the account is revoked" "account is revoked"
fails "revoking it again is refused" "$CAIRN" acme account revoke "$A7" --dir "$D"
last_has "  ... it is revoked already (409)" "409.*revoked already"
ok "the revocation is audited with the admin and the account's EAB key" sh -c \
	"'$CAIRN' audit export --dir '$D' --format jsonl --unsigned 2>/dev/null | jq -s -e 'map(select(
	.action == \"acme.account.revoke\" and .actor == \"admin:bootstrap\" and
	.details.account == \"$A7\" and .details.eab_kid == \"$K7\")) | length == 1' >/dev/null"
ok "the certificate it was issued stays valid (revoked only when asked)" sh -c \
	"'$CAIRN' list --dir '$D' --name two.eab.test | grep -q two.eab.test &&
	! '$CAIRN' list --dir '$D' --name two.eab.test | grep -q revoked"

# -- an account revoked while its request waits for approvers: the approval issues nothing.
# lego keeps polling its order, answered 401 "account is revoked", until its --cert.timeout
# (counted from finalize), so the timeout is this part's wait: long enough for the
# revocation below (~1 s after finalize in the normal build; 15 s leaves room for ASan and
# a loaded machine), no longer (60 s made this file's run a minute longer).
ok "a key is made for an account whose request will wait" eab
K8=$KID
lego --server "$HTTPS_URL/acme/directory" --path "$WORK/held" --email held@eab.test \
	--accept-tos --eab --kid "$K8" --hmac "$HMAC" --domains wait.eab.test --http \
	--http.port "127.0.0.1:$HP" --cert.timeout 15 run >"$WORK/lego-held.out" 2>&1 &
LEGO=$!
CAIRN_PIDS="$CAIRN_PIDS $LEGO"
ok "  ... lego's order for wait.eab.test waits for an approver" acme_pending "$D" "$LEGO"
listed "$K8" true
A8=$(jq -r --arg k "$K8" '.items[] | select(.kid == $k) | .account' "$WORK/list.json")
ok "the account is revoked while its request waits" "$CAIRN" acme account revoke "$A8" --dir "$D"
fails "the approval then issues nothing" "$CAIRN" requests approve "$REQ" --dir "$D"
last_has "  ... the issuance failed (403): the account is revoked" "403.*issuance failed.*ACME account $A8.* is revoked"
ok "  ... the request is failed, saying why" sh -c "'$CAIRN' requests show '$REQ' --dir '$D' |
	jq -e '.status == \"failed\" and (.reason | test(\"is revoked\"))' >/dev/null"
ok "  ... and no certificate names wait.eab.test" sh -c \
	"! '$CAIRN' list --dir '$D' --name wait.eab.test | grep -q wait.eab.test"
wait "$LEGO"
rc=$?
cp "$WORK/lego-held.out" "$WORK/last.out"
# its last error is the revocation: it was still waiting when the account was revoked
tap "$([ $rc -ne 0 ] && grep -q 'account is revoked' "$WORK/last.out" && echo 1 || echo 0)" \
	"  ... lego gets none, told at last that the account is revoked"

# -- the clock: an unused key expires; a key made ahead of the clock does not outlive it
ok "a key for an hour is made" eab --expires-in 1h
K4=$KID H4=$HMAC
ok "a key of the default week is made" eab
K5=$KID H5=$HMAC
clock_file
clock_at 7200
ok "two hours on (a restart), the hour's key is expired" listed "$K4" '.state == "expired"'
ok "  ... and the week's is not" listed "$K5" '.state == "unused"'
fails "  ... the expired one binds no account" lego_bind four late.eab.test "$K4" "$H4"
last_has "  ... saying it expired" "expired"
clock_at $((8 * 86400))
ok "eight days on (a restart), the week's key is expired too" listed "$K5" '.state == "expired"'
fails "  ... and binds no account" lego_bind five late.eab.test "$K5" "$H5"
ok "a key is made eight days ahead" eab
K6=$KID H6=$HMAC
clock_at 0
ok "back at the real time (a restart), the key made ahead counts as expired" listed "$K6" \
	'.state == "expired"'
fails "  ... and binds no account" lego_bind six late.eab.test "$K6" "$H6"
last_has "  ... saying the clock went back" "clock went back"
ok "a key made now binds and gets a certificate" eab
ok "  ... (lego)" lego_bind seven late.eab.test "$KID" "$HMAC"

ok "every certificate in the database passes certlint" lint_db "$D"
done_testing
