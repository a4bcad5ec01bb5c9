#!/bin/sh
# SPDX-License-Identifier: MIT
# OCSP responder: openssl ocsp over POST and GET, good/revoked/unknown, nonces, errors, caching, restart.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
ca_serve "$D" || bail "cairn serve did not start"
ROOT=$D/ca/root.pem
ISSUING=$D/ca/issuing.pem

# issue NAME: a tls-server certificate (leaf only) in $WORK/NAME.pem
issue() {
	make_csr "$1" ec:P-256 "/CN=$1.example.test" "DNS:$1.example.test" &&
		"$CAIRN" issue --dir "$D" --csr "$WORK/$1.csr" --profile tls-server --out "$WORK/$1.chain" &&
		openssl x509 -in "$WORK/$1.chain" -out "$WORK/$1.pem"
}
serial_of() { openssl x509 -in "$WORK/$1.pem" -noout -serial | cut -d= -f2; }
# query NAME [openssl ocsp options]: POSTs a request for NAME, verifying against the root.
query() {
	n=$1
	shift
	openssl ocsp -issuer "$ISSUING" -cert "$WORK/$n.pem" -url "$HTTP_URL/ocsp" -CAfile "$ROOT" "$@"
}
# get_resp NAME OUT [options]: the GET form — request DER, base64, URL-encoded, fetched with curl.
get_resp() {
	n=$1 out=$2
	shift 2
	openssl ocsp -issuer "$ISSUING" -cert "$WORK/$n.pem" -no_nonce -reqout "$WORK/$n.req" "$@" \
		>/dev/null 2>&1 || return 1
	b64=$(base64 -w0 "$WORK/$n.req" | sed 's|+|%2B|g; s|/|%2F|g; s|=|%3D|g')
	curl -sf -D "$out.headers" -o "$out" "$HTTP_URL/ocsp/$b64"
}

issue alpha >"$WORK/issue.out" 2>&1 || bail "issuance failed: $(cat "$WORK/issue.out")"
issue beta >"$WORK/issue.out" 2>&1 || bail "issuance failed: $(cat "$WORK/issue.out")"

ok "POST: a fresh certificate is good and the response verifies" query alpha -no_nonce
last_has "  ... signature verifies against the root" "Response verify OK"
last_has "  ... status good" "alpha.pem: good"
last_has "  ... has nextUpdate" "Next Update"

ok "GET: curl on the base64 URL, then openssl ocsp -respin" get_resp alpha "$WORK/alpha.get"
ok "  ... the GET response verifies and says good" openssl ocsp -respin "$WORK/alpha.get" \
	-issuer "$ISSUING" -cert "$WORK/alpha.pem" -CAfile "$ROOT"
last_has "  ... good" "alpha.pem: good"
ok "  ... content type application/ocsp-response" grep -qi '^Content-Type: application/ocsp-response' "$WORK/alpha.get.headers"
ok "  ... RFC 5019 Cache-Control max-age" grep -qiE '^Cache-Control: max-age=[0-9]+, public, no-transform, must-revalidate' "$WORK/alpha.get.headers"
ok "  ... Expires, Last-Modified and ETag" sh -c "grep -qi '^Expires: ' '$WORK/alpha.get.headers' &&
	grep -qi '^Last-Modified: ' '$WORK/alpha.get.headers' && grep -qi '^ETag: \"' '$WORK/alpha.get.headers'"

ok "signer is the delegated OCSP certificate (OCSP Signing, issued by the issuing CA)" sh -c "
	openssl ocsp -respin '$WORK/alpha.get' -resp_text -noverify >'$WORK/alpha.txt' 2>&1 &&
	grep -q 'OCSP Signing' '$WORK/alpha.txt' && grep -Eq 'Issuer: O ?= ?cairn, CN ?= ?cairn Issuing CA' '$WORK/alpha.txt'"
ok "  ... the response verifies with only the root trusted (chain in the response)" \
	openssl ocsp -respin "$WORK/alpha.get" -CAfile "$ROOT" -issuer "$ISSUING" -cert "$WORK/alpha.pem"

ok "nonce sent (-nonce): echoed" query alpha -nonce -resp_text
last_has "  ... the response carries the nonce" "OCSP Nonce"
last_has "  ... and verifies" "Response verify OK"
ok "no nonce (-no_nonce): none in the response" sh -c "openssl ocsp -issuer '$ISSUING' -cert '$WORK/alpha.pem' \
	-url '$HTTP_URL/ocsp' -CAfile '$ROOT' -no_nonce -resp_text 2>&1 | tee '$WORK/nononce.txt' | grep -q 'alpha.pem: good' &&
	! grep -q 'OCSP Nonce' '$WORK/nononce.txt'"
# ask NAME [options]: one request for NAME shaped by tests/integration/ocsp_request.py's
# options; prints the status and whether the nonce was echoed.
ask() {
	n=$1
	shift
	python3 "$CAIRN_SRCDIR/tests/integration/ocsp_request.py" "$WORK/$n.pem" "$ISSUING" \
		"$HTTP_URL/ocsp" "$@"
}
for n in 1 16 32 128; do
	ok "a nonce of $n octets is echoed" ask beta --nonce octet "$n"
	last_has "  ... in a signed answer" "^status=SUCCESSFUL nonce=echoed$"
done
ok "an older client's bare 16-octet nonce is echoed as sent" ask beta --nonce raw 16
last_has "  ... in a signed answer" "^status=SUCCESSFUL nonce=echoed$"
for case in "octet 0" "octet 129" "octet 4000" "raw 0" "raw 129"; do
	ok "a nonce of ${case#* } octets (${case% *}): malformedRequest, nothing signed (RFC 9654)" \
		ask beta --nonce $case
	last_has "  ... malformedRequest" "^status=MALFORMED_REQUEST nonce=none$"
done
ok "  ... the same by GET" ask beta --nonce octet 129 --get
last_has "  ... malformedRequest" "^status=MALFORMED_REQUEST nonce=none$"
ok "two nonces in one request: malformedRequest" ask beta --nonce octet 16 --dup
last_has "  ... nothing signed" "^status=MALFORMED_REQUEST nonce=none$"
ok "an extension no one knows, not critical: ignored (RFC 6960 §4.4)" ask beta --ext plain --nonce octet 16
last_has "  ... answered" "^status=SUCCESSFUL nonce=echoed$"
ok "  ... the same in the single request" ask beta --single-ext plain
last_has "  ... answered" "^status=SUCCESSFUL nonce=none$"
ok "an extension no one knows, critical: malformedRequest" ask beta --ext critical
last_has "  ... nothing signed" "^status=MALFORMED_REQUEST nonce=none$"
ok "  ... the same in the single request" ask beta --single-ext critical --nonce octet 16
last_has "  ... nothing signed" "^status=MALFORMED_REQUEST nonce=none$"
ok "SHA-256 CertID answered too" openssl ocsp -issuer "$ISSUING" -sha256 -cert "$WORK/alpha.pem" \
	-url "$HTTP_URL/ocsp" -CAfile "$ROOT" -no_nonce
last_has "  ... good" "alpha.pem: good"

before=$(date +%s)
ok "revoke alpha with keyCompromise" "$CAIRN" revoke --dir "$D" "$(serial_of alpha)" --reason keyCompromise
after=$(date +%s)
ok "OCSP says revoked at once" query alpha -no_nonce
last_has "  ... revoked" "alpha.pem: revoked"
last_has "  ... reason keyCompromise" "Reason: keyCompromise"
last_has "  ... the response still verifies" "Response verify OK"
cp "$WORK/last.out" "$WORK/revoked.txt"
ok "  ... revocation time is when we revoked" sh -c "
	t=\$(grep 'Revocation Time' '$WORK/revoked.txt' | sed 's/.*Revocation Time: //')
	s=\$(date -d \"\$t\" +%s); [ \$s -ge $((before - 1)) ] && [ \$s -le $((after + 1)) ]"
get_resp alpha "$WORK/alpha.get2"
ok "  ... GET says revoked too" sh -c "openssl ocsp -respin '$WORK/alpha.get2' -issuer '$ISSUING' \
	-cert '$WORK/alpha.pem' -CAfile '$ROOT' 2>&1 | grep -q 'alpha.pem: revoked'"
ok "the other certificate is still good" query beta -no_nonce
last_has "  ... good" "beta.pem: good"

ok "a serial never issued is unknown" openssl ocsp -issuer "$ISSUING" -serial 0x1234567890abcdef \
	-url "$HTTP_URL/ocsp" -CAfile "$ROOT"
last_has "  ... unknown" ": unknown"
ok "the issuing CA's status comes from the root" openssl ocsp -issuer "$ROOT" -cert "$ISSUING" \
	-url "$HTTP_URL/ocsp" -CAfile "$ROOT" -no_nonce
last_has "  ... good, signed by the root" "issuing.pem: good"
ok "a CertID for a CA we are not: unauthorized" sh -c "openssl ocsp -issuer '$WORK/beta.pem' -serial 5 \
	-url '$HTTP_URL/ocsp' 2>&1 | grep -qi 'unauthorized'"
# One response has one signer, authorized for one CA (RFC 6960 §4.2.2.2): CertIDs of two
# issuers in one request are refused rather than answered by the first one's responder.
for nonce in -no_nonce ""; do
	ok "CertIDs of two issuers in one request ${nonce:-(with a nonce)}: unauthorized" sh -c "
		openssl ocsp -issuer '$ISSUING' -cert '$WORK/beta.pem' -issuer '$ROOT' -cert '$ISSUING' \
		$nonce -url '$HTTP_URL/ocsp' -CAfile '$ROOT' 2>&1 | grep -qi 'Responder Error: unauthorized'"
done
ok "two CertIDs of one issuer are still answered together" sh -c "
	openssl ocsp -issuer '$ISSUING' -cert '$WORK/alpha.pem' -cert '$WORK/beta.pem' \
	-url '$HTTP_URL/ocsp' -CAfile '$ROOT' 2>&1 | grep -c 'pem: \(good\|revoked\)' | grep -qx 2"
ok "garbage body: malformedRequest" sh -c "printf 'not an OCSP request' | curl -sf --data-binary @- \
	-H 'Content-Type: application/ocsp-request' -o '$WORK/garbage.resp' '$HTTP_URL/ocsp' &&
	openssl ocsp -respin '$WORK/garbage.resp' -resp_text 2>&1 | grep -qi 'malformedrequest'"
ok "garbage GET path: malformedRequest" sh -c "curl -sf -o '$WORK/garbage2.resp' '$HTTP_URL/ocsp/%%%%!!' &&
	openssl ocsp -respin '$WORK/garbage2.resp' -resp_text 2>&1 | grep -qi 'malformedrequest'"
ok "truncated request: malformedRequest" sh -c "head -c 20 '$WORK/alpha.req' | curl -sf --data-binary @- \
	-H 'Content-Type: application/ocsp-request' -o '$WORK/trunc.resp' '$HTTP_URL/ocsp' &&
	openssl ocsp -respin '$WORK/trunc.resp' -resp_text 2>&1 | grep -qi 'malformedrequest'"
ok "oversized body refused with 413" sh -c "head -c 100000 /dev/zero | curl -s -o /dev/null \
	-w '%{http_code}' --data-binary @- -H 'Content-Type: application/ocsp-request' '$HTTP_URL/ocsp' | grep -qx 413"
ok "the responder still answers after all that" query beta -no_nonce

# Cached answers: the same bytes come back until they are re-signed, and survive a restart.
stable() {
	i=0
	while [ $i -lt 50 ]; do
		get_resp beta "$WORK/c1" && get_resp beta "$WORK/c2" && cmp -s "$WORK/c1" "$WORK/c2" && return 0
		i=$((i + 1))
		sleep 0.1
	done
	return 1
}
# No store of the refresher still pending (the first scan, beta's pre-signed answer): one
# committed after the two identical answers below would replace them (it always does).
ok "the refresher's work is done" quiet
ok "a nonce-less answer is served from the pre-signed cache (identical bytes)" stable
ca_stop
ca_serve "$D" || bail "cairn serve did not restart"
ok "after a restart the cached answer is the same" sh -c "
	b64=\$(base64 -w0 '$WORK/beta.req' | sed 's|+|%2B|g; s|/|%2F|g; s|=|%3D|g')
	curl -sf -o '$WORK/c3' \"$HTTP_URL/ocsp/\$b64\" && cmp '$WORK/c1' '$WORK/c3'"
ok "after a restart alpha is still revoked" query alpha -no_nonce
last_has "  ... revoked" "alpha.pem: revoked"

# ocsp.signer "ca": the issuing CA's own key signs; answers cached for the old signer are not reused.
ca_stop
sed 's/"ocsp_key": "ocsp"/"ocsp_key": "ocsp"}, "ocsp": {"signer": "ca"/' "$D/cairn.json" >"$WORK/cairn.json" &&
	mv "$WORK/cairn.json" "$D/cairn.json"
ok "ocsp.signer ca is accepted by the config check" "$CAIRN" config check --dir "$D"
ca_serve "$D" || bail "cairn serve did not restart with ocsp.signer ca"
keyhash() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | tail -c 65 |
	sha1sum | cut -d' ' -f1 | tr 'a-f' 'A-F'; }
ok "with ocsp.signer ca the answer verifies" query beta -no_nonce -resp_text
last_has "  ... good" "beta.pem: good"
last_has "  ... and the responder is the issuing CA's key" "Responder Id: $(keyhash "$ISSUING")"

done_testing
