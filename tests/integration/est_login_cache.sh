#!/bin/sh
# SPDX-License-Identifier: MIT
# EST Basic login cache: a verified login is reused on a new TLS connection for
# est.auth_cache_seconds (libfaketime moves the clock), never after its account is deleted
# or re-added with another password; scrypt parameters are a setting, old hashes still verify.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"
. "$CAIRN_SRCDIR/tests/integration/est_lib.sh"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
jq '.est.auth_cache_seconds = 60 | .est.scrypt_n = 2048 | .est.scrypt_r = 4' "$D/cairn.json" \
	>"$WORK/cairn.json" && cp "$WORK/cairn.json" "$D/cairn.json" || bail "cannot edit cairn.json"
# The clock of the daemon is read from this file at every call (FAKETIME_NO_CACHE).
clock_set "$WORK/clock" +0
ca_serve_at "$D" FAKETIME_TIMESTAMP_FILE="$WORK/clock" FAKETIME_NO_CACHE=1 ||
	bail "cairn serve did not start"
ROOT=$D/ca/root.pem
EST=$HTTPS_URL/.well-known/est

metric() { curl -sf "$HTTP_URL/metrics" | sed -n "s/^$1 //p"; }
logins() { metric "cairn_est_basic_logins_total{via=\"$1\"}"; }
# enroll OUT USER:PASSWORD: simpleenroll on a new TLS connection (one curl per call).
enroll() { est_post "$1" simpleenroll -u "$2"; }

printf 'first password 1\n' >"$WORK/pw1"
printf 'second password 2\n' >"$WORK/pw2"
ok "add EST user dev (scrypt N=2048 r=4 from the config)" "$CAIRN" est user add --dir "$D" \
	--name dev --password-file "$WORK/pw1"
make_csr dev ec:P-256 /CN=device-1
b64csr dev
BODY=$WORK/dev.b64

ok "enroll: the password is checked with scrypt" enroll e1 'dev:first password 1'
ok "  ... 200" status_is e1 200
ok "  ... counted as a password login" test "$(logins password)" -eq 1
ok "enroll again on a new connection: 200" enroll e2 'dev:first password 1'
ok "  ... 200" status_is e2 200
ok "  ... from the login cache, no second scrypt" test "$(logins cache)" -eq 1 -a "$(logins password)" -eq 1
ok "a wrong password is not served from the cache" enroll e3 'dev:first password X'
ok "  ... 401" status_is e3 401
ok "  ... and nothing was counted as accepted" test "$(logins cache)" -eq 1 -a "$(logins password)" -eq 1

# Lifetime (60 s): 40 s later still cached (the test's own seconds run on top), 121 s
# later checked with scrypt again.
clock_set "$WORK/clock" +40
ok "40 s later: 200" enroll e4 'dev:first password 1'
ok "  ... still from the cache" test "$(logins cache)" -eq 2 -a "$(logins password)" -eq 1
clock_set "$WORK/clock" +121
ok "past est.auth_cache_seconds: 200" enroll e5 'dev:first password 1'
ok "  ... checked with scrypt again" test "$(logins password)" -eq 2 -a "$(logins cache)" -eq 2

# Deleted: refused at once, although the login is in the cache.
ok "est user del dev" "$CAIRN" est user del --dir "$D" --name dev
ok "the deleted user's cached login is refused" enroll e6 'dev:first password 1'
ok "  ... 401" status_is e6 401
ok "  ... not by the cache" test "$(logins cache)" -eq 2 -a "$(logins password)" -eq 2

# Re-added with another password: the old one is refused, the new one works.
ok "add dev again with a new password" "$CAIRN" est user add --dir "$D" --name dev \
	--password-file "$WORK/pw2"
ok "the old password is refused" enroll e7 'dev:first password 1'
ok "  ... 401" status_is e7 401
ok "the new password works" enroll e8 'dev:second password 2'
ok "  ... 200" status_is e8 200

# The same credentials written another way (the scheme in another case, more spaces before
# them, base64 broken by spaces) are the same login: served from the cache, not one slow
# hash per spelling. The cache used to be keyed by the header's bytes, so an account holder
# made the CA run scrypt at every request by re-spacing it.
A=$(printf 'dev:second password 2' | openssl base64 -A)
pw_before=$(logins password) cache_before=$(logins cache)
est_post v1 simpleenroll -H "Authorization: basic $A"
est_post v2 simpleenroll -H "Authorization: BASIC   $A"
est_post v3 simpleenroll -H "Authorization: Basic $(echo "$A" | sed 's/..../& /g')"
ok "the same credentials spelt three other ways: 200 each" sh -c "
	[ \"\$(cat '$WORK/v1.code' '$WORK/v2.code' '$WORK/v3.code')\" = 200200200 ]"
ok "  ... all three from the login cache, no scrypt" \
	test "$(logins password) $(logins cache)" = "$pw_before $((cache_before + 3))"
ok "  ... and a wrong password spelt that way is still refused (401)" sh -c "
	curl -s --cacert '$ROOT' -H 'Content-Type: application/pkcs10' \
	--data-binary '@$BODY' -o /dev/null -w '%{http_code}' \
	-H \"Authorization: basic \$(printf 'dev:second password X' | openssl base64 -A)\" \
	'$EST/simpleenroll' | grep -qx 401"
ca_stop

# The record keeps its parameters: with the default scrypt settings back, dev (hashed
# with N=2048 r=4) still logs in, and a user added now gets N=16384 r=8.
jq 'del(.est.scrypt_n) | del(.est.scrypt_r)' "$D/cairn.json" >"$WORK/cairn.json" &&
	cp "$WORK/cairn.json" "$D/cairn.json"
ca_serve "$D" || bail "cairn serve did not restart"
EST=$HTTPS_URL/.well-known/est
ok "after a restart with other scrypt settings the old hash still verifies" \
	enroll e9 'dev:second password 2'
ok "  ... 200" status_is e9 200
ok "add dev2 with the defaults" "$CAIRN" est user add --dir "$D" --name dev2 \
	--password-file "$WORK/pw1"
ca_stop
ok "the records carry their own parameters" sh -c "
	'$CAIRN' est user list --dir '$D' --json 2>/dev/null >'$WORK/users.json' || true
	strings '$D/db/data.mdb' | grep -o '\"kdf\":\"scrypt\",\"n\":[0-9]*,\"r\":[0-9]*' | sort >'$WORK/kdf.txt'
	grep -q '\"n\":2048,\"r\":4' '$WORK/kdf.txt' && grep -q '\"n\":16384,\"r\":8' '$WORK/kdf.txt'"
ok "a bad scrypt_n is refused by the validator" sh -c "
	jq '.est.scrypt_n = 3000' '$D/cairn.json' >'$WORK/bad.json' && cp '$WORK/bad.json' '$D/cairn.json' &&
	! '$CAIRN' config check --dir '$D' 2>'$WORK/bad.err'"
ok "  ... naming the key" grep -q "est.scrypt_n" "$WORK/bad.err"

# The bound is the memory OpenSSL's scrypt takes, 128 * r * (N + p + 2) bytes: N=65536 r=8
# is just over 64 MiB, and with r=1 N must be below 65536. Both were once accepted, and
# every `est user add` then failed with a 500.
# scrypt_conf N R P: the saved config with those parameters, as D's config.
cp "$WORK/cairn.json" "$WORK/good.json"
scrypt_conf() {
	jq ".est.scrypt_n = $1 | .est.scrypt_r = $2 | .est.scrypt_p = $3" "$WORK/good.json" \
		>"$WORK/s.json" && cp "$WORK/s.json" "$D/cairn.json"
}
scrypt_conf 65536 8 1
fails "scrypt N=65536 r=8 (64 MiB and 2 KiB) is refused by the validator" \
	"$CAIRN" config check --dir "$D"
last_has "  ... with the memory it would take" "N=65536 r=8 p=1 need 67111936 bytes.*64 MiB"
last_one_line "  ... in one line"
# (bounded: a serve that took the setting would listen until timeout stops it, 124)
ok "  ... and by serve, before it listens" sh -c "
	timeout 30 '$CAIRN' serve --dir '$D' 2>&1; rc=\$?; [ \$rc -ne 0 ] && [ \$rc -ne 124 ]"
last_has "  ... naming the keys" "est.scrypt_n/r/p"
scrypt_conf 262144 1 1
fails "scrypt N=262144 r=1 (32 MiB, but N not below 65536) is refused" \
	"$CAIRN" config check --dir "$D"
last_has "  ... saying why" "N must be below 65536"
# Just under the bound: 128 * 7 * 65539 = 56 MiB. Accepted, and an account hashed with it
# logs in.
scrypt_conf 65536 7 1
ok "scrypt N=65536 r=7 (56 MiB) is accepted" "$CAIRN" config check --dir "$D"
ca_serve "$D" || bail "cairn serve did not start with N=65536 r=7"
EST=$HTTPS_URL/.well-known/est
ok "  ... est user add hashes with it" "$CAIRN" est user add --dir "$D" --name dev3 \
	--password-file "$WORK/pw1"
ok "  ... and the account enrolls" enroll e10 'dev3:first password 1'
ok "  ... 200" status_is e10 200
ca_stop
done_testing
