#!/bin/sh
# SPDX-License-Identifier: MIT
# The scale bench's path at a small N (so it cannot rot): 20k certificates seeded through the
# db layer by bench/ocsp_seed, a real daemon on them, OCSP answers verified by openssl, the
# 30-day expiry list and a name-suffix search against the seeder's counts, and admin API
# paging that returns every matching certificate exactly once. Results, never timings.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

N=20000
D=$WORK/ca
SEED=$(pwd)/bench/ocsp_seed
[ -x "$SEED" ] || bail "bench/ocsp_seed not built"
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
BASE=$("$CAIRN" list --dir "$D" --json | jq .total) # what init issued for itself
ok "bench/ocsp_seed adds $N certificates (names, spread expiry, template DER)" sh -c \
	"'$SEED' -e 365 -N smoke.example -T -O '$D' $N 50 '$WORK' >'$WORK/seed.json'"
EXP=$(jq .expiring_30d "$WORK/seed.json")
GRP=$(jq -r .group "$WORK/seed.json")
GRPN=$(jq .group_count "$WORK/seed.json")
ok "  ... it says how many expire within 30 days and how many are in one name group" \
	test "$EXP" -gt 0 -a "$GRPN" -gt 0

ca_serve "$D" || bail "cairn serve did not start"
ok "/healthz answers 200 on a seeded database" curl -sf -o "$WORK/health.json" "$HTTP_URL/healthz"
ok "/metrics counts every seeded certificate" sh -c \
	"[ \"\$(curl -s '$HTTP_URL/metrics' | awk '/^cairn_certificates[{ ]/ { n += \$NF } END { print n }')\" = $((BASE + N)) ]"

# OCSP for a good and a revoked seeded certificate (the cache may still be filling: live or cached).
GOOD=$(awk '$2 == "good" { print $1; exit }' "$WORK/queried.txt")
BAD=$(awk '$2 == "revoked" { print $1; exit }' "$WORK/queried.txt")
ocsp_q() {
	openssl ocsp -issuer "$D/ca/issuing.pem" -serial "0x$1" -url "$HTTP_URL/ocsp" \
		-CAfile "$D/ca/root.pem" -no_nonce
}
ok "openssl ocsp verifies the answer for a good seeded certificate" ocsp_q "$GOOD"
last_has "  ... signature verified and status good" "Response verify OK"
last_has "  ... status good" "^0x$GOOD: good"
ok "openssl ocsp verifies the answer for a revoked seeded certificate" ocsp_q "$BAD"
last_has "  ... revoked, keyCompromise" "revoked"
last_has "  ... reason keyCompromise" "keyCompromise"
ok "a GET from the seeder's request list is answered with a successful OCSP response" sh -c "
	curl -sf -o '$WORK/get.der' \"$HTTP_URL/ocsp/\$(sed -n '/^paths = {/{n;s/[\",]//g;p;q}' '$WORK/reqs.lua')\" &&
	openssl ocsp -respin '$WORK/get.der' -resp_text -noverify | grep -q 'OCSP Response Status: successful'"

# list --expiring-within and --name through the CLI (reads LMDB beside the daemon).
ok "cairn list --expiring-within 30d" sh -c "'$CAIRN' list --dir '$D' --expiring-within 30d >'$WORK/exp.txt'"
ok "  ... lists exactly the seeded certificates that expire within 30 days ($EXP)" \
	test "$(($(wc -l <"$WORK/exp.txt") - 1))" -eq "$EXP"
ok "cairn list --name $GRP (suffix search)" sh -c "'$CAIRN' list --dir '$D' --name '$GRP' >'$WORK/grp.txt'"
ok "  ... lists exactly that name group ($GRPN)" test "$(($(wc -l <"$WORK/grp.txt") - 1))" -eq "$GRPN"
ok "  ... and only names in it" sh -c "'$CAIRN' list --dir '$D' --name '$GRP' --json --limit 1000 |
	jq -e --arg g '$GRP' '[.items[].subject | endswith(\$g)] | all and length == $GRPN' >/dev/null"
ok "an exact name finds one certificate" sh -c \
	"[ \$('$CAIRN' list --dir '$D' --name h7.z7.smoke.example --json | jq '.items | length') -eq 1 ]"

# The admin API pages through the same 30-day window: every certificate once, in order.
api_page() {
	curl -s --cacert "$D/ca/root.pem" -H "Authorization: Bearer $(cat "$D/admin.token")" \
		"$HTTPS_URL/admin/v1/certificates?expiring_within=30d&limit=$1&offset=$2"
}
pages() {
	off=0
	: >"$WORK/api.serials"
	while :; do
		api_page 500 $off >"$WORK/page.json" || return 1
		jq -e ".total == $EXP" "$WORK/page.json" >/dev/null || return 1
		jq -r '.items[] | "\(.not_after) \(.serial)"' "$WORK/page.json" >>"$WORK/api.serials"
		off=$((off + 500))
		[ "$(jq .more "$WORK/page.json")" = true ] || break
		[ $off -lt $((EXP + 1000)) ] || return 1
	done
}
ok "admin API: pages of 500 through expiring_within=30d, each saying total $EXP" pages
ok "  ... together they hold $EXP certificates" test "$(wc -l <"$WORK/api.serials")" -eq "$EXP"
ok "  ... no certificate twice" test "$(cut -d' ' -f2 "$WORK/api.serials" | sort -u | wc -l)" -eq "$EXP"
ok "  ... in expiry order" sh -c "cut -d' ' -f1 '$WORK/api.serials' | sort -c"
ok "  ... the same certificates as the CLI" sh -c "
	awk 'NR > 1 { print \$1 }' '$WORK/exp.txt' | sort >'$WORK/cli.s' &&
	cut -d' ' -f2 '$WORK/api.serials' | sort >'$WORK/api.s' && cmp '$WORK/cli.s' '$WORK/api.s'"
ok "the last page is short and says there is no more" sh -c "
	api_page() { curl -s --cacert '$D/ca/root.pem' -H \"Authorization: Bearer \$(cat '$D/admin.token')\" \
		\"$HTTPS_URL/admin/v1/certificates?expiring_within=30d&limit=500&offset=\$1\"; }
	api_page $((EXP / 500 * 500)) | jq -e '(.items | length) == $((EXP % 500)) and .more == false' >/dev/null"

ca_stop
done_testing
