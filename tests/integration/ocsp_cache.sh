#!/bin/sh
# SPDX-License-Identifier: MIT
# OCSP cache upkeep: `unknown` answers are cached like the others; the cached answers of
# expired certificates (and stale unknowns) are deleted by the refresher's sweep.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
ca_serve "$D" || bail "cairn serve did not start"
ROOT=$D/ca/root.pem
ISSUING=$D/ca/issuing.pem

metric() { curl -sf "$HTTP_URL/metrics" | sed -n "s/^$1 //p"; }
cache_hits() { metric 'cairn_ocsp_responses_total{source="cache"}'; }
signed_live() { metric 'cairn_ocsp_responses_total{source="signed"}'; }
# wait_metric NAME OP VALUE: until the metric compares (test OP) to VALUE, at most 20 s.
wait_metric() {
	i=0
	until [ "$(metric "$1")" "$2" "$3" ] 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 200 ] && { echo "$1 is $(metric "$1"), want $2 $3"; return 1; }
		sleep 0.1
	done
}
# ask SERIAL: a nonce-less question about SERIAL (hex) of the issuing CA.
ask() {
	openssl ocsp -issuer "$ISSUING" -serial "0x$1" -url "$HTTP_URL/ocsp" -CAfile "$ROOT" \
		-no_nonce
}

# The refresher pre-signs init's certificates (issuing CA and root) at start-up.
n_certs=$("$CAIRN" list --dir "$D" --json | jq '[.items[] | select(.issuer == "issuing" or .issuer == "root")] | length')
ok "the refresher pre-signed every certificate ($n_certs)" \
	wait_metric cairn_ocsp_cached_responses -ge "$n_certs"
cached0=$(metric cairn_ocsp_cached_responses)
make_csr leaf ec:P-256 "/CN=leaf.example.test" "DNS:leaf.example.test"
ok "issue a 90-day leaf" "$CAIRN" issue --dir "$D" --csr "$WORK/leaf.csr" --profile tls-server \
	--out "$WORK/leaf.chain"
LEAF=$(openssl x509 -in "$WORK/leaf.chain" -noout -serial | cut -d= -f2)
ok "the leaf is good" ask "$LEAF"
last_has "  ... good" ": good"
ok "  ... its live-signed answer is stored" wait_metric cairn_ocsp_cached_responses -eq $((cached0 + 1))
cached0=$((cached0 + 1))

UNKNOWN=5eed0fca11ab1e000000000000000001
s0=$(signed_live)
ok "a serial that is not ours: unknown" ask $UNKNOWN
last_has "  ... status unknown" ": unknown"
last_has "  ... the answer verifies" "Response verify OK"
ok "  ... signed live the first time" test "$(signed_live)" -eq $((s0 + 1))
ok "  ... then stored in the cache" wait_metric cairn_ocsp_cached_responses -eq $((cached0 + 1))
h0=$(cache_hits)
s1=$(signed_live)
ok "asked again: unknown" ask $UNKNOWN
last_has "  ... status unknown" ": unknown"
last_has "  ... and it verifies" "Response verify OK"
ok "  ... answered from the cache (cache counter +1, nothing signed)" \
	test "$(cache_hits)" -eq $((h0 + 1)) -a "$(signed_live)" -eq "$s1"

# 100 days later the 90-day leaf has expired: the sweep deletes its cached answer, and the
# unknown answer (past its nextUpdate, ocsp.validity is 4 days) with it.
ca_stop
ok "serve again 100 days later (libfaketime)" ca_serve_at "$D" FAKETIME=+100d
export FAKETIME=+100d LD_PRELOAD="$FAKETIME_LIB"
ok "  ... the sweep deleted at least the leaf's and the unknown answers" \
	wait_metric cairn_ocsp_swept_total -ge 2
swept=$(metric cairn_ocsp_swept_total)
live=$("$CAIRN" list --dir "$D" --json | jq --argjson now "$(date +%s)" \
	'[.items[] | select((.issuer == "issuing" or .issuer == "root") and (.not_after | fromdateiso8601) > $now)] | length' 2>/dev/null || echo "?")
ok "  ... what is left is the answers of unexpired certificates ($live)" \
	wait_metric cairn_ocsp_cached_responses -eq "$live"
ok "the expired leaf is still answered (signed live)" ask "$LEAF"
last_has "  ... good" ": good"
unset FAKETIME LD_PRELOAD
ca_stop
done_testing
