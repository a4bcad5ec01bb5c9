#!/bin/sh
# SPDX-License-Identifier: MIT
# The OCSP cache's lifetimes under libfaketime, the clock moved across each edge with
# restarts in between (ocsp.validity is 4 days):
# - a stored answer is served until its nextUpdate, never after; an answer signed live
#   once the stored one has expired replaces it (clock moved while the daemon runs,
#   before the refresher's next tick) and is the one served from then on, after a
#   restart too; `unknown` answers the same;
# - a certificate's cached answer is served until it expires; after, its entry is
#   deleted and its answers are signed live and not stored again, across a restart;
# - the delegated signer's rollover at start-up: the answers cached before it verify
#   with the old signer, which outlives them; after it every answer served, cached ones
#   included, verifies with the new signer alone, and the refresher re-signed the cache
#   for it at start (no certificate's first question is a miss).
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

[ -n "$FAKETIME_LIB" ] || bail "libfaketime is not installed (scripts/deps.sh installs faketime)"

D=$WORK/ca
ROOT=$D/ca/root.pem
ISSUING=$D/ca/issuing.pem
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
jq '.profiles.long = (.profiles["tls-server"] + {validity_days: 1000})' "$D/cairn.json" \
	>"$WORK/cairn.json" && cp "$WORK/cairn.json" "$D/cairn.json" || bail "cannot edit cairn.json"

# The daemon and every client read their clock offset from a file (lib.sh clock_file):
# `move` changes it under a running daemon, `at` restarts the daemon on it.
clock_file
move() { clock_move "$1"; }
at() { clock_at "$1"; }
fnow() { clock_now; }
stamp() { date -d "$1" +%s; }

metric() { curl -sf "$HTTP_URL/metrics" | sed -n "s/^$1 //p"; }
hits() { metric 'cairn_ocsp_responses_total{source="cache"}'; }
signed() { metric 'cairn_ocsp_responses_total{source="signed"}'; }
swept_ge() { [ "$(metric cairn_ocsp_swept_total)" -ge "$1" ]; }

issue() {
	make_csr "$1" ec:P-256 "/CN=$1.example.test" "DNS:$1.example.test" &&
		$FT "$CAIRN" issue --dir "$D" --csr "$WORK/$1.csr" --profile "$2" \
			--out "$WORK/$1.chain" >/dev/null &&
		openssl x509 -in "$WORK/$1.chain" -out "$WORK/$1.pem" &&
		openssl x509 -in "$WORK/$1.pem" -noout -serial | cut -d= -f2 >"$WORK/$1.serial"
}
# req Q SERIAL [openssl options]: the nonce-less request Q (serial of the issuing CA),
# kept as its RFC 5019 GET path in $WORK/Q.path.
req() {
	q=$1 s=$2
	shift 2
	openssl ocsp -issuer "$ISSUING" "$@" -serial "0x$s" -no_nonce -reqout "$WORK/$q.req" \
		>/dev/null 2>&1 &&
		base64 -w0 "$WORK/$q.req" | sed 's|+|%2B|g; s|/|%2F|g; s|=|%3D|g' >"$WORK/$q.path"
}
# get Q OUT [openssl options]: asks Q over GET into OUT and checks the answer on the
# day's clock: it verifies (against the root, or as the options say), its status is
# in OUT.status, and it is not past its nextUpdate (nor from the future).
get() {
	q=$1 out=$2
	shift 2
	curl -sf -o "$out" "$HTTP_URL/ocsp/$(cat "$WORK/$q.path")" || return 1
	$FT openssl ocsp -respin "$out" -reqin "$WORK/$q.req" -CAfile "$ROOT" "$@" -resp_text \
		>"$out.txt" 2>&1
	grep -q "Response verify OK" "$out.txt" || { cat "$out.txt"; return 1; }
	sed -n 's/^ *Cert Status: *//p' "$out.txt" | head -1 >"$out.status"
	nu=$(stamp "$(sed -n 's/^ *Next Update: *//p' "$out.txt" | head -1)")
	tu=$(stamp "$(sed -n 's/^ *This Update: *//p' "$out.txt" | head -1)")
	now=$(fnow)
	echo "$(cat "$out.status"): thisUpdate $tu nextUpdate $nu now $now"
	[ "$nu" -gt "$now" ] && [ "$tu" -le $((now + 5)) ]
}
# served Q FILE [options]: until the answer to Q is FILE's bytes (bounded: 15 s).
served() {
	sq=$1 sf=$2
	shift 2
	waits_for sh -c "curl -sf '$HTTP_URL/ocsp/$(cat "$WORK/$sq.path")' | cmp -s - '$sf'" &&
		get "$sq" "$WORK/served.der" "$@" && cmp "$WORK/served.der" "$sf"
}
# cached Q OUT [options]: until two answers in a row are the same bytes (bounded), the
# second counted as a cache hit: OUT is the answer the cache holds for Q.
cached() {
	cq=$1 co=$2
	shift 2
	j=0
	while [ $j -lt 150 ]; do
		get "$cq" "$co" "$@" >/dev/null || return 1
		h=$(hits)
		get "$cq" "$co.2" "$@" || return 1
		cmp -s "$co" "$co.2" && [ "$(hits)" -gt "$h" ] && return 0
		j=$((j + 1))
		sleep 0.1
	done
	return 1
}
differ() { ! cmp -s "$1" "$2"; }

at 0
issue leaf tls-server || bail "issuance failed"
issue long long || bail "issuance failed"
LEAF=$(cat "$WORK/leaf.serial")
LONG=$(cat "$WORK/long.serial")
req leaf256 "$LEAF" -sha256
req leaf1 "$LEAF"
req long1 "$LONG"
req unk 5eed0fca11ab1e0000000000000000c1

# ---- an answer until its nextUpdate, never after; a live one replaces an expired one ----
ok "day 0: the leaf's SHA-256 answer (signed live: the refresher pre-signs SHA-1 only)" \
	get leaf256 "$WORK/a0.der"
last_has "  ... good, fresh" "^good:"
ok "  ... then served from the cache, the same bytes" served leaf256 "$WORK/a0.der"
# Two hours later (the clock moved under the running daemon) an unknown serial: its
# answer expires two hours after the leaf's.
move 7200
ok "2 h later, a serial that is not ours: unknown" get unk "$WORK/u0.der"
last_has "  ... unknown, fresh" "^unknown:"
ok "  ... then served from the cache, the same bytes" served unk "$WORK/u0.der"

at $((345600 - 600))
ok "restart 10 min before the leaf answer's nextUpdate: its cached answer is served" \
	served leaf256 "$WORK/a0.der"
ok "  ... and the cached unknown answer" served unk "$WORK/u0.der"
# The refresher re-signed the SHA-1 answers past half-life at start; once it is idle it
# sleeps until its next tick (a minute): the clock moves past a nextUpdate before that,
# so the expired answer is still stored when the next question comes.
ok "  ... the refresher is idle" quiet
move $((345600 + 1800))
ok "clock moved 30 min past the leaf answer's nextUpdate (no restart): the answer" \
	get leaf256 "$WORK/r1.der"
last_has "  ... good, and not past its nextUpdate" "^good:"
ok "  ... is a new one" differ "$WORK/r1.der" "$WORK/a0.der"
ok "  ... which replaces the expired one in the cache" served leaf256 "$WORK/r1.der"
ok "the unknown answer, 1.5 h before its nextUpdate, is still the cached one" \
	served unk "$WORK/u0.der"
ok "  ... the refresher is idle" quiet
move $((345600 + 7200 + 1800))
ok "clock moved 30 min past its nextUpdate: the unknown serial gets a new answer" \
	get unk "$WORK/v1.der"
last_has "  ... unknown, not past its nextUpdate" "^unknown:"
ok "  ... not the expired one" differ "$WORK/v1.der" "$WORK/u0.der"
ok "  ... and it replaces it in the cache" served unk "$WORK/v1.der"

at $((345600 + 7200 + 1800))
ok "restart at the same time: the replacing answers are the ones served" served leaf256 "$WORK/r1.der"
ok "  ... the unknown one too" served unk "$WORK/v1.der"

at $((2 * 345600 + 3 * 7200))
ok "restart past their nextUpdate too: the leaf's answer" get leaf256 "$WORK/r2.der"
last_has "  ... good, not past its nextUpdate" "^good:"
ok "  ... not the expired one" differ "$WORK/r2.der" "$WORK/r1.der"
ok "  ... and cached from then on" cached leaf256 "$WORK/r2c.der"
ok "the unknown serial: not the expired answer" get unk "$WORK/v2.der"
last_has "  ... unknown, not past its nextUpdate" "^unknown:"
ok "  ... a new one" differ "$WORK/v2.der" "$WORK/v1.der"
ok "  ... cached from then on" cached unk "$WORK/v2c.der"

# ---- a certificate's answers while it is valid, and after it expired ----
NA=$(stamp "$(openssl x509 -in "$WORK/leaf.pem" -noout -enddate | cut -d= -f2)")
at $((NA - 3600 - $(date +%s)))
ok "restart 1 h before the leaf expires: its answer comes from the cache" cached leaf1 "$WORK/e0.der"
last_has "  ... good, not past its nextUpdate" "^good:"
# 2.5 days after it expired: past the re-signing time of the answer cached above (at most
# half its 4 days), not past its nextUpdate.
at $((NA + 216000 - $(date +%s)))
ok "restart 2.5 days after the leaf expired: the refresher deletes its cached answer" \
	waits_for swept_ge 1
ok "  ... the expired leaf is still answered (good)" get leaf1 "$WORK/e1.der"
last_has "  ... good, not past its nextUpdate" "^good:"
ok "  ... not with the deleted answer" differ "$WORK/e1.der" "$WORK/e0.der"
ok "  ... nothing queued is left to store" quiet
h0=$(hits)
s0=$(signed)
ok "asked again: good" get leaf1 "$WORK/e2.der"
ok "  ... signed live again: its answer was not stored (not from the cache)" \
	test "$(signed)" -eq $((s0 + 1)) -a "$(hits)" -eq "$h0"
at $((NA + 216000 - $(date +%s)))
s0=$(signed)
ok "restart at the same time: the expired leaf is answered" get leaf1 "$WORK/e3.der"
last_has "  ... good" "^good:"
ok "  ... signed live (its entry stayed deleted)" test "$(signed)" -eq $((s0 + 1))

# ---- the delegated signer's rollover while answers are cached ----
# Renewed at two thirds of its lifetime (server/renew.c), at the first start past it.
S0=$(openssl x509 -in "$D/ca/ocsp.pem" -noout -serial)
cp "$D/ca/ocsp.pem" "$WORK/signer0.pem"
snb=$(stamp "$(openssl x509 -in "$WORK/signer0.pem" -noout -startdate | cut -d= -f2)")
sna=$(stamp "$(openssl x509 -in "$WORK/signer0.pem" -noout -enddate | cut -d= -f2)")
SDUE=$((snb + (sna - snb) / 3 * 2))
# signer_outlives ANSWER SIGNER: SIGNER's notAfter is not before ANSWER's nextUpdate.
signer_outlives() {
	nu=$(stamp "$(sed -n 's/^ *Next Update: *//p' "$1.txt" | head -1)")
	na=$(stamp "$(openssl x509 -in "$2" -noout -enddate | cut -d= -f2)")
	echo "answer nextUpdate $nu, signer notAfter $na"
	[ "$na" -ge "$nu" ]
}
at $((SDUE - 3600 - $(date +%s)))
ok "1 h before the signer is due: the same signer at start" \
	test "$(openssl x509 -in "$D/ca/ocsp.pem" -noout -serial)" = "$S0"
ok "  ... a long-lived certificate's answer comes from the cache, signed by it alone" \
	cached long1 "$WORK/b0.der" -VAfile "$WORK/signer0.pem" -no_intern
last_has "  ... good" "^good:"
ok "  ... and the signer outlives that answer" signer_outlives "$WORK/b0.der" "$WORK/signer0.pem"
at $((SDUE + 3600 - $(date +%s)))
ok "1 h after it is due: renewed at start" \
	test "$(openssl x509 -in "$D/ca/ocsp.pem" -noout -serial)" != "$S0"
cp "$D/ca/ocsp.pem" "$WORK/signer1.pem"
ok "  ... the refresher's start-up work done" quiet
h0=$(hits)
s0=$(signed)
ok "  ... the answer, though one of the old signer was cached, verifies with the new one alone" \
	get long1 "$WORK/b1.der" -VAfile "$WORK/signer1.pem" -no_intern
last_has "  ... good" "^good:"
ok "  ... and the first question is answered from the cache (re-signed for the new signer)" \
	test "$(hits)" -eq $((h0 + 1)) -a "$(signed)" -eq "$s0"
ok "  ... it is not the old signer's" differ "$WORK/b1.der" "$WORK/b0.der"
ok "  ... the cache serves the new signer's answer" \
	cached long1 "$WORK/b1c.der" -VAfile "$WORK/signer1.pem" -no_intern
ok "  ... and the new signer outlives it" signer_outlives "$WORK/b1c.der" "$WORK/signer1.pem"
at $((SDUE + 3600 - $(date +%s)))
ok "restart at the same time: the same cached answer, the new signer's" \
	served long1 "$WORK/b1c.der" -VAfile "$WORK/signer1.pem" -no_intern
ca_stop
done_testing
