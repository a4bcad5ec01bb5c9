#!/bin/sh
# SPDX-License-Identifier: MIT
# GET /admin/v1/audit over a long log: a page reads at most 10,000 events whatever its
# filters (it used to parse the whole log for every query: its total and its offset), says
# where to go on (more, next) and never counts what it did not read; following next visits
# every event once, oldest first or newest first; offset paging is refused.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

FILL="$CAIRN_TOOLS/tools/audit_fill"
N=25000
D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
"$FILL" "$D/db" "$N" >/dev/null || bail "audit_fill failed"
ca_serve "$D" || bail "cairn serve did not start"
TOK=$(cat "$D/admin.token")
# get QUERY: the answer of GET /admin/v1/audit?QUERY into $WORK/a.json; prints the status.
get() {
	curl -s -o "$WORK/a.json" -w '%{http_code}' --cacert "$D/ca/root.pem" \
		-H "Authorization: Bearer $TOK" "$HTTPS_URL/admin/v1/audit?$1"
}
# pages QUERY: follows next from the first page of QUERY until more is false (at most 50
# pages); every page's seqs to $WORK/seqs, the most events one page read to $WORK/most.
pages() {
	: >"$WORK/seqs"
	most=0 q=$1 k=0
	while :; do
		[ "$(get "$q")" = 200 ] || return 1
		jq -r '.items[].seq' "$WORK/a.json" >>"$WORK/seqs"
		s=$(jq -r .scanned "$WORK/a.json")
		[ "$s" -gt "$most" ] && most=$s
		[ "$(jq -r .more "$WORK/a.json")" = true ] || break
		q="$1&after=$(jq -r .next "$WORK/a.json")"
		k=$((k + 1)); [ $k -lt 50 ] || return 1
	done
	echo "$most" >"$WORK/most"
}
HEAD=$(curl -s "$HTTP_URL/metrics" | sed -n 's/^cairn_audit_events //p')
ok "the log holds the $N events written and the CA's own ($HEAD)" [ "${HEAD:-0}" -gt "$N" ]

# ---- a filter that matches nothing reads 10,000 events, not the whole log ----
ok "GET /audit?action=no.such: 200" [ "$(get 'action=no.such&limit=10')" = 200 ]
cp "$WORK/a.json" "$WORK/nosuch.json"
ok "  ... no items, more to read, next where it stopped, no total" jq -e \
	'.items == [] and .more == true and .next == "10000" and .total == null and .scanned == 10000' \
	"$WORK/nosuch.json"
quiet || bail "the daemon never went quiet"
W=$(walk_cost get 'action=no.such&limit=10')
ok "  ... the daemon walked at most 10,001 entries for it (walked $W)" \
	sh -c "[ '$W' != unmeasured ] && [ '$W' -le 10001 ]"

# ---- every event once, oldest first, a page of 1000 at a time ----
ok "paging the whole log by next, oldest first, 1000 a page" pages 'limit=1000'
ok "  ... every event once, in order" sh -c "[ \$(wc -l <'$WORK/seqs') = '$HEAD' ] &&
	sort -n -c '$WORK/seqs' && [ \$(sort -u '$WORK/seqs' | wc -l) = '$HEAD' ]"
ok "  ... no page read more than 1000 events" [ "$(cat "$WORK/most")" -le 1000 ]

# ---- newest first ----
newest5() {
	[ "$(get 'order=newest&limit=5')" = 200 ] && jq -e --argjson h "$HEAD" \
		'[.items[].seq] == [$h, $h - 1, $h - 2, $h - 3, $h - 4] and .next == ($h - 4 | tostring)' \
		"$WORK/a.json"
}
ok "GET /audit?order=newest&limit=5: the newest five" newest5
ok "paging the whole log newest first" pages 'order=newest&limit=1000'
ok "  ... every event once, newest first" sh -c "[ \$(wc -l <'$WORK/seqs') = '$HEAD' ] &&
	sort -n -r -c '$WORK/seqs' && [ \$(sort -u '$WORK/seqs' | wc -l) = '$HEAD' ]"

# ---- a filter: the last certificate written, found three pages on or on the first ----
LAST=$(printf '7f%038x' $((N - 1)))
ok "serial=the newest certificate, oldest first: found by following next" pages "serial=$LAST&limit=10"
ok "  ... once, and no page read more than 10,000 events" sh -c "
	[ \$(wc -l <'$WORK/seqs') = 1 ] && [ \$(cat '$WORK/most') -le 10000 ]"
ok "  ... newest first: on the first page, having read one event" sh -c "
	[ \"\$(curl -s --cacert '$D/ca/root.pem' -H 'Authorization: Bearer $TOK' \
		'$HTTPS_URL/admin/v1/audit?serial=$LAST&order=newest&limit=1' | jq -c '[(.items | length), .scanned]')\" = '[1,1]' ]"

# ---- a later page has no total ----
last3() {
	[ "$(get "after=$((HEAD - 3))")" = 200 ] && jq -e \
		'(.items | length) == 3 and .more == false and .next == null and .total == null' "$WORK/a.json"
}
ok "after=HEAD-3: the last three, more false, no total (a later page)" last3

# ---- refusals ----
ok "offset=100: 400 (replaced by cursors)" [ "$(get 'offset=100')" = 400 ]
ok "  ... saying to pass after" grep -q "pass after=NEXT" "$WORK/a.json"
ok "order=sideways: 400" [ "$(get 'order=sideways')" = 400 ]
ok "after=-1: 400" [ "$(get 'after=-1')" = 400 ]
ok "order=newest&after=0: 400 (nothing is before event 1)" [ "$(get 'order=newest&after=0')" = 400 ]

done_testing
