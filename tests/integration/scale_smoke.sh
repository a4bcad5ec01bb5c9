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

# The admin API pages through the same 30-day window by cursor: every certificate once, in order.
TOK=$(cat "$D/admin.token")
api() { curl -s --cacert "$D/ca/root.pem" -H "Authorization: Bearer $TOK" "$HTTPS_URL/admin/v1/certificates?$1"; }
pages() { # QUERY LIMIT OUT: follows "next" to the end; each page's serials into OUT
	cur="" n=0
	: >"$3"
	while :; do
		api "$1&limit=$2${cur:+&after=$cur}" >"$WORK/page.json" || return 1
		jq -e '(.items | length) <= '"$2"' and (.more == (.next != null))' "$WORK/page.json" >/dev/null || return 1
		jq -r '.items[] | "\(.not_after) \(.serial)"' "$WORK/page.json" >>"$3"
		cur=$(jq -r '.next // empty' "$WORK/page.json")
		[ -n "$cur" ] || break
		n=$((n + 1))
		[ $n -lt 1000 ] || return 1
	done
}
ok "admin API: pages of 500 through expiring_within=30d by the next cursor" pages "expiring_within=30d" 500 "$WORK/api.serials"
ok "  ... together they hold $EXP certificates" test "$(wc -l <"$WORK/api.serials")" -eq "$EXP"
ok "  ... no certificate twice" test "$(cut -d' ' -f2 "$WORK/api.serials" | sort -u | wc -l)" -eq "$EXP"
ok "  ... in expiry order" sh -c "cut -d' ' -f1 '$WORK/api.serials' | sort -c"
ok "  ... the same certificates as the CLI" sh -c "
	awk 'NR > 1 { print \$1 }' '$WORK/exp.txt' | sort >'$WORK/cli.s' &&
	cut -d' ' -f2 '$WORK/api.serials' | sort >'$WORK/api.s' && cmp '$WORK/cli.s' '$WORK/api.s'"
# (checks as functions: `sh -c` would not see api())
has() { api "$1" >"$WORK/q.json" && jq -e "$2" "$WORK/q.json" >/dev/null; }
ok "a first page says total null (not counted: counting is the walk) and gives a next cursor" \
	has 'expiring_within=30d&limit=500' '.total == null and (.next | type == "string") and .more'
ok "  ... count=true counts every match: total $EXP" \
	has 'expiring_within=30d&limit=500&count=true' ".total == $EXP and (.items | length) == 500"
ok "  ... a search that fits one page gives its exact total" \
	has 'expiring_within=30d&limit=1000&name=h7.z7.smoke.example' '.total == 1 and (.items | length) == 1 and .next == null'
ok "an old offset is refused with a problem that says what to do" \
	has 'expiring_within=30d&limit=500&offset=500' '.status == 400 and (.detail | test("cursor"))'
foreign() {
	c=$(api 'expiring_within=30d&limit=5' | jq -r '.next // empty')
	[ -n "$c" ] && has "name=$GRP&limit=5&after=$c" '.status == 400'
}
ok "a cursor of another search (expiry) is refused by a name search" foreign
ok "admin API: pages of 100 through the suffix $GRP" pages "name=$GRP" 100 "$WORK/grp.api"
ok "  ... hold the group's $GRPN certificates, each once" sh -c "
	[ \$(wc -l <'$WORK/grp.api') -eq $GRPN ] && [ \$(cut -d' ' -f2 '$WORK/grp.api' | sort -u | wc -l) -eq $GRPN ]"

# cairn list --json pages by cursor too, and its pages add up to the list.
cli_pages() { # ARGS...: every page of 300 to $WORK/cli.pages
	cur="" n=0
	: >"$WORK/cli.pages"
	while :; do
		"$CAIRN" list --dir "$D" --json --limit 300 ${cur:+--after "$cur"} "$@" >"$WORK/cpage.json" || return 1
		jq -r '.items[].serial' "$WORK/cpage.json" >>"$WORK/cli.pages"
		cur=$(jq -r '.next // empty' "$WORK/cpage.json")
		[ -n "$cur" ] || break
		n=$((n + 1))
		[ $n -lt 1000 ] || return 1
	done
}
ok "cairn list --json --expiring-within 30d, page by page with --after NEXT" cli_pages --expiring-within 30d
ok "  ... the pages are the whole list, each certificate once" sh -c "
	sort '$WORK/cli.pages' >'$WORK/cli.p' && [ \$(sort -u '$WORK/cli.p' | wc -l) -eq $EXP ] && cmp '$WORK/cli.s' '$WORK/cli.p'"
ok "cairn list --json --name $GRP, page by page" cli_pages --name "$GRP"
ok "  ... the group's $GRPN certificates, each once" sh -c "[ \$(sort -u '$WORK/cli.pages' | wc -l) -eq $GRPN ] && [ \$(wc -l <'$WORK/cli.pages') -eq $GRPN ]"
fails "cairn list --after with an old numeric offset is refused" "$CAIRN" list --dir "$D" --json --after 300
last_one_line "  ... in one line"

# What a page and a start-up read: cairn_db_entries_walked_total counts every entry any walk
# visits. Quiet first (pre-signing done, the counter still between two scrapes), then a scrape,
# a page, a scrape: the page's share is what it walked beyond a scrape's own.
presigned() {
	i=0
	until [ "$(curl -s "$HTTP_URL/metrics" | sed -n 's/^cairn_ocsp_cached_responses //p')" -ge $((BASE + N)) ] 2>/dev/null; do
		i=$((i + 1)); [ $i -lt 600 ] || return 1
		sleep 0.5
	done
}
ok "the refresher pre-signs every certificate" presigned
ok "  ... and goes quiet" quiet
page_cost() { walk_cost api "$1"; } # QUERY: entries walked by that page (lib.sh)
cost=$(page_cost "expiring_within=30d&limit=50")
ok "a page of 50 of the $EXP in the 30-day window walks at most 51 entries (walked $cost)" test "$cost" -le 51 -a "$cost" -ge 50
c=$(api "expiring_within=30d&limit=50" | jq -r .next)
cost=$(page_cost "expiring_within=30d&limit=50&after=$c")
ok "  ... the next page too, plus the entry it resumes at (walked $cost)" test "$cost" -le 52 -a "$cost" -ge 50
cost=$(page_cost "name=$GRP&limit=20")
ok "a page of 20 of the $GRPN in $GRP walks at most 21 entries (walked $cost)" test "$cost" -le 21 -a "$cost" -ge 20
# Unfiltered, the total comes from the stats counters (a walk of what expired since their
# horizon, however many certificates): the page itself is the difference of two limits.
c1=$(page_cost "limit=1")
cost=$(($(page_cost "limit=20") - c1))
ok "a page of 20 of all $((BASE + N)) certificates walks 19 more entries than a page of 1 ($cost; that one $c1)" \
	test "$cost" -eq 19 -a "$c1" -lt 200

# A restart on the pre-signed database: nothing at start-up (CRL adoption, the refresher's
# first tick, the expiry scan) reads the $N certificates, or their OCSP answers.
ca_stop
ca_serve "$D" || bail "cairn serve did not restart"
ok "after a restart the daemon goes quiet" quiet
w=$(walked)
ok "  ... having walked far fewer entries than there are certificates ($w, incl. the scrapes' 30-day window)" \
	test "$w" -lt $((N / 4))
ok "  ... and answers OCSP from the cache" ocsp_q "$GOOD"
last_has "  ... good" "^0x$GOOD: good"

ca_stop
# bench/scale.sh -s: only a sample of the seeded certificates is due for pre-signing
# (ocsp_seed -P), so a daemon on a 10M database pre-signs the sample, not all N; and -H
# counts the refresher's work per simulated hour by restarting under libfaketime.
S=$WORK/sample
mkdir -p "$WORK/s"
ca_init "$S" || bail "cairn init (sample) failed"
ok "ocsp_seed: 3000 more certificates in a second CA, a sample of 200 queried" sh -c \
	"'$SEED' -e 365 -N sample.example -T -O '$S' 3000 200 '$WORK/s' >'$WORK/s/seed.json'"
ok "ocsp_seed -P leaves only the sample due for pre-signing" sh -c "'$SEED' -P '$S' '$WORK/s' >'$WORK/s/prune.json'"
ok "  ... 200 kept, every other seeded certificate's entry dropped" \
	jq -e '.due_kept == 200 and .due_dropped >= 2800' "$WORK/s/prune.json"
ca_serve "$S" || bail "cairn serve (sample) did not start"
metric() { curl -s "$HTTP_URL/metrics" | sed -n "s/^$1 //p"; }
cached200() {
	i=0
	until [ "$(metric cairn_ocsp_cached_responses)" -ge 200 ] 2>/dev/null; do
		i=$((i + 1)); [ $i -lt 600 ] || return 1
		sleep 0.5
	done
}
ok "the refresher pre-signs the sample" cached200
ok "  ... goes quiet" quiet
ok "  ... having signed exactly the 200 (not the 3000)" \
	test "$(metric cairn_ocsp_presigned_total)" -eq 200 -a "$(metric cairn_ocsp_cached_responses)" -eq 200
SGOOD=$(awk '$2 == "good" { print $1; exit }' "$WORK/s/queried.txt")
ok "openssl ocsp verifies a sampled certificate's answer" openssl ocsp -issuer "$S/ca/issuing.pem" \
	-serial "0x$SGOOD" -url "$HTTP_URL/ocsp" -CAfile "$S/ca/root.pem" -no_nonce
last_has "  ... good" "^0x$SGOOD: good"
ca_stop
ca_serve_at "$S" FAKETIME=+1h || bail "cairn serve at +1h did not start"
ok "an hour later (restart under libfaketime) the daemon goes quiet" quiet
ok "  ... having re-signed nothing: no answer is at half-life" test "$(metric cairn_ocsp_presigned_total)" -eq 0
ca_stop
# Answers signed together are re-signed spread over the eighth of their validity before
# half-life (36-48 h for the default 96 h), not all at 48 h: at +42h about half are done.
ca_serve_at "$S" FAKETIME=+42h || bail "cairn serve at +42h did not start"
ok "at +42h the daemon goes quiet" quiet
early=$(($(metric cairn_ocsp_presigned_total) + $(metric cairn_ocsp_swept_total)))
ok "  ... having re-signed some of the 200 answers signed together, not all ($early)" \
	test "$early" -gt 0 -a "$early" -lt 200
ca_stop
ca_serve_at "$S" FAKETIME=+49h || bail "cairn serve at +49h did not start"
ok "past half-life (+49h) the daemon goes quiet" quiet
ok "  ... having re-signed or dropped (expired) the rest, each answer once in all" \
	test "$(($(metric cairn_ocsp_presigned_total) + $(metric cairn_ocsp_swept_total) + early))" -eq 200
ca_stop
done_testing
