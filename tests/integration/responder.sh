#!/bin/sh
# SPDX-License-Identifier: MIT
# Responders beside the issuing daemon (`cairn serve --role responder`): two of them on the
# daemon's data dir answer OCSP from its pre-signed answers, serve its CRLs and CA
# certificates, follow a revocation without a restart, hold no token and no lock, serve
# nothing else, and keep answering when the daemon stops.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"
. "$CAIRN_SRCDIR/tests/integration/acme_lib.sh"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
ca_serve "$D" || bail "cairn serve did not start"
DAEMON_PID=$SERVE_PID
ROOT=$D/ca/root.pem
ISSUING=$D/ca/issuing.pem
cat "$ISSUING" "$ROOT" >"$WORK/chain.pem"

issue() {
	make_csr "$1" ec:P-256 "/CN=$1.example.test" "DNS:$1.example.test" &&
		"$CAIRN" issue --dir "$D" --csr "$WORK/$1.csr" --profile tls-server --out "$WORK/$1.chain" &&
		openssl x509 -in "$WORK/$1.chain" -noout -serial | cut -d= -f2 >"$WORK/$1.serial"
}
# responder NAME: starts one on a free port; sets NAME_URL and NAME_PID.
responder() {
	port=$(free_port)
	"$CAIRN" serve --role responder --dir "$D" --listen "127.0.0.1:$port" 2>>"$WORK/$1.log" &
	pid=$!
	CAIRN_PIDS="$CAIRN_PIDS $pid"
	eval "$1_PID=$pid $1_URL=http://127.0.0.1:$port"
	i=0
	until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -gt 100 ] && return 1
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
}
# ask URL SERIAL [openssl ocsp options]: one OCSP question about SERIAL of the issuing CA
# (of ISSUER_PEM when set).
ask() {
	url=$1 serial=$2
	shift 2
	openssl ocsp -issuer "${ISSUER_PEM:-$ISSUING}" -serial "0x$serial" -url "$url/ocsp" -CAfile "$ROOT" "$@"
}
# says URL SERIAL STATUS: until the answer is STATUS and verifies (bounded: 15 s).
says() {
	i=0
	while :; do
		ask "$1" "$2" -no_nonce >"$WORK/says.out" 2>&1
		grep -q "Response verify OK" "$WORK/says.out" && grep -q ": $3\$" "$WORK/says.out" && {
			cat "$WORK/says.out"
			return 0
		}
		i=$((i + 1))
		[ $i -gt 150 ] && { cat "$WORK/says.out"; return 1; }
		sleep 0.1
	done
}
# get_form URL SERIAL: the GET form, request DER base64 and URL-encoded, fetched with curl.
get_form() {
	openssl ocsp -issuer "$ISSUING" -serial "0x$2" -no_nonce -reqout "$WORK/get.req" \
		>/dev/null 2>&1 || return 1
	b64=$(base64 -w0 "$WORK/get.req" | sed 's|+|%2B|g; s|/|%2F|g; s|=|%3D|g')
	curl -sf -o "$WORK/get.resp" "$1/ocsp/$b64" &&
		openssl ocsp -respin "$WORK/get.resp" -issuer "$ISSUING" -serial "0x$2" -CAfile "$ROOT"
}
metric() { curl -sf "$1/metrics" | sed -n "s/^$2 //p"; }
# crl_of URL: the CRL a responder serves verifies under our CAs (its text in crl.txt).
crl_of() {
	curl -sf -o "$WORK/r.crl" "$1/crl/issuing.crl" &&
		openssl crl -inform DER -in "$WORK/r.crl" -CAfile "$WORK/chain.pem" -noout -text \
			>"$WORK/crl.txt" 2>&1 && grep -q "verify OK" "$WORK/crl.txt"
}
# listed URL SERIAL: that CRL lists SERIAL.
listed() { crl_of "$1" && grep -qi "Serial Number: *$2" "$WORK/crl.txt"; }

issue a >"$WORK/issue.out" 2>&1 || bail "issuance failed: $(cat "$WORK/issue.out")"
A=$(cat "$WORK/a.serial")

# A data dir without a database: refused in one line, and nothing is created there.
mkdir "$WORK/empty"
cp "$D/cairn.json" "$WORK/empty/"
fails "a responder on a dir without a CA database is refused" \
	"$CAIRN" serve --role responder --dir "$WORK/empty" --listen 127.0.0.1:0
last_has "  ... saying there is no CA database" "no CA database"
last_one_line "  ... in one line"
ok "  ... and it created nothing there" test "$(ls -A "$WORK/empty")" = cairn.json
fails "an unknown role is a usage error" "$CAIRN" serve --role mirror --dir "$D"
fails "--listen without --role responder is a usage error" "$CAIRN" serve --dir "$D" --listen 127.0.0.1:0
last_has "  ... saying so" "--listen goes with --role responder"

find "$D" -path "$D/crl" -prune -o -print | sort >"$WORK/files.before"
ok "responder 1 starts beside the running daemon" responder R1
ok "responder 2 starts too (several run at once)" responder R2

for r in R1 R2; do
	eval "url=\$${r}_URL"
	ok "$r: the new certificate is good (pre-signed by the daemon at issuance)" says "$url" "$A" good
	last_has "  ... and the answer verifies" "Response verify OK"
	ok "$r: a question with a nonce is answered from the cache too" ask "$url" "$A"
	last_has "  ... good" ": good"
	last_has "  ... verified" "Response verify OK"
	ok "$r: GET form (RFC 5019): good, verified" get_form "$url" "$A"
	last_has "  ... good" ": good"
	last_has "  ... verified" "Response verify OK"
	ok "$r: the issuing CA certificate" sh -c "curl -sf '$url/ca/issuing.crt' | openssl x509 -inform DER -noout -subject"
	ok "  ... is the daemon's" test "$(curl -sf "$url/ca/issuing.crt" | openssl x509 -inform DER -outform PEM)" = \
		"$(openssl x509 -in "$ISSUING")"
	ok "$r: the root certificate" sh -c "curl -sf '$url/ca/root.crt' | openssl x509 -inform DER -noout"
done

# A serial nobody pre-signed: the responder cannot sign, so it says tryLater and counts it.
t0=$(metric "$R1_URL" 'cairn_ocsp_responses_total{source="trylater"}')
fails "R1: a serial with no pre-signed answer" ask "$R1_URL" 5eed0fca11ab1e0000000000000000aa -no_nonce
last_has "  ... is tryLater (RFC 6960 status 3)" "trylater"
ok "  ... and counted" test "$(metric "$R1_URL" 'cairn_ocsp_responses_total{source="trylater"}')" -eq $((t0 + 1))
ok "R1: a malformed request" sh -c "curl -sf --data-binary 'not der' -H 'Content-Type: application/ocsp-request' \
	'$R1_URL/ocsp' | openssl ocsp -respin /dev/stdin -resp_text -noverify 2>&1 | grep -qi malformed"

ok "R1: /metrics passes promtool's strict parser" sh -c "curl -sf '$R1_URL/metrics' | promtool check metrics"
# Only OCSP, CRLs, CA certificates, health and metrics: everything else is a 404 problem.
for path in /acme/new-order /admin/v1/certificates /.well-known/est/simpleenroll /ui/; do
	ok "R2: POST $path is a 404" sh -c "curl -s -o '$WORK/p.json' -w '%{http_code} %{content_type}' \
		-H 'Content-Type: application/json' -d '{}' '$R2_URL$path' | grep -qx '404 application/problem+json'"
	ok "  ... problem document" jq -e '.status == 404' "$WORK/p.json"
done
ok "R2: GET /admin/v1/certificates is a 404 too" sh -c "curl -s -o /dev/null -w '%{http_code}' \
	'$R2_URL/admin/v1/certificates' | grep -qx 404"

# No token session: the PKCS#11 module is never loaded (the daemon's process has it).
ok "the daemon has the SoftHSM2 module mapped (so the check below means something)" \
	grep -q libsofthsm2 "/proc/$DAEMON_PID/maps"
ok "R1 never loaded the PKCS#11 module" sh -c "! grep -q libsofthsm2 /proc/$R1_PID/maps"
ok "R2 never loaded the PKCS#11 module" sh -c "! grep -q libsofthsm2 /proc/$R2_PID/maps"
# The daemon keeps its write lock to itself: it issues while the responders run.
ok "the daemon issues another certificate while both responders run" issue b
B=$(cat "$WORK/b.serial")
ok "  ... R1 says good for it" says "$R1_URL" "$B" good

# A revocation reaches both responders without a restart. R1 reads its CRL when first asked
# for it: asked now, before the revocation, so the re-read counted below is a re-read.
ok "R1 serves the CRL before the revocation" crl_of "$R1_URL"
ok "  ... without a" sh -c "! grep -qi 'Serial Number: *$A' '$WORK/crl.txt'"
ok "revoke a through the daemon" "$CAIRN" revoke --dir "$D" "$A" --reason keyCompromise
ok "R1 says revoked (within 15 s)" says "$R1_URL" "$A" revoked
last_has "  ... with the reason" "keyCompromise"
ok "R2 says revoked (within 15 s)" says "$R2_URL" "$A" revoked
ok "R1's CRL verifies and lists a (within 15 s)" waits_for listed "$R1_URL" "$A"
ok "R2's CRL too" waits_for listed "$R2_URL" "$A"
ok "  ... served as application/pkix-crl with caching headers" sh -c "curl -sI '$R2_URL/crl/issuing.crl' |
	grep -qi '^content-type: application/pkix-crl' && curl -sI '$R2_URL/crl/issuing.crl' | grep -qi '^expires:'"
ok "R1 re-read the replaced CRL file" test "$(metric "$R1_URL" cairn_responder_crl_reads_total)" -ge 2
ok "b is still good on R2" says "$R2_URL" "$B" good

# An anonymous question to the daemon naming the root's CertID with a leaf's serial is
# `unknown` (the root did not issue it), and that answer is not stored over the leaf's:
# the responders, which only serve stored answers, go on saying revoked and good.
for s in "$A" "$B"; do
	ok "the daemon: root's CertID, serial $s: answered" sh -c "openssl ocsp -issuer '$ROOT' -serial '0x$s' -url '$HTTP_URL/ocsp' -CAfile '$ROOT' \
		-no_nonce 2>&1 | grep -q ': unknown\$'"
done
sleep 1 # a live answer queued for the cache is committed within 200 ms (db_write_background)
ok "R1 still says revoked for a (its stored answer was not replaced)" says "$R1_URL" "$A" revoked
ok "R2 still says good for b" says "$R2_URL" "$B" good

# With the daemon stopped the responders go on answering what it pre-signed and published.
ca_stop
ok "the daemon stopped" sh -c "! kill -0 $DAEMON_PID 2>/dev/null"
ok "R1 still says revoked for a" says "$R1_URL" "$A" revoked
ok "R2 still says good for b" says "$R2_URL" "$B" good
ok "R2 still serves the CRL" listed "$R2_URL" "$A"
ok "R1 is healthy" sh -c "curl -sf '$R1_URL/healthz' | grep -q status"
find "$D" -path "$D/crl" -prune -o -print | sort >"$WORK/files.after"
ok "the responders created no file in the data dir" test -z "$(comm -13 "$WORK/files.before" "$WORK/files.after")"
ok "no responder holds the data dir's lock (the daemon's flock is free)" flock -n -x "$D/cairn.lock" true
ok "the daemon starts again beside the running responders" ca_serve "$D"
ok "  ... and issues" issue c
ok "  ... R2 answers for that certificate too" says "$R2_URL" "$(cat "$WORK/c.serial")" good

# A rotation: the new issuing CA reaches a running responder (at once on SIGHUP).
ok "cairn ca rotate" "$CAIRN" ca rotate --dir "$D"
ok "  ... the daemon issues under the new issuing CA" issue d
kill -HUP "$R1_PID"
ok "R1 serves the new issuing CA's certificate after SIGHUP" \
	waits_for curl -sf -o "$WORK/iss2.der" "$R1_URL/ca/issuing-2.crt"
openssl x509 -inform DER -in "$WORK/iss2.der" -out "$WORK/iss2.pem" 2>/dev/null
ok "  ... the one that issued d" openssl verify -partial_chain -CAfile "$WORK/iss2.pem" "$WORK/d.chain"
ISSUER_PEM=$WORK/iss2.pem
ok "R1 says good for d (OCSP for the new CA, signed by it)" says "$R1_URL" "$(cat "$WORK/d.serial")" good
unset ISSUER_PEM
cat "$WORK/iss2.pem" "$ROOT" >"$WORK/chain2.pem"
ok "R1 serves the new CA's CRL, verified under it" sh -c "curl -sf '$R1_URL/crl/issuing-2.crl' |
	openssl crl -inform DER -CAfile '$WORK/chain2.pem' -noout 2>&1 | grep -q 'verify OK'"
ok "  ... and R1 is still running" kill -0 "$R1_PID"

# A root rollover: its certificates are published by a running responder too (SIGHUP).
ok "R1: GET /ca/rollover-root.crt is 404 before any rollover" \
	test "$(curl -s -o /dev/null -w '%{http_code}' "$R1_URL/ca/rollover-root.crt")" = 404
ok "cairn ca cross-sign" "$CAIRN" ca cross-sign --dir "$D" "$WORK/ro"
kill -HUP "$R1_PID"
ok "R1 serves the new root after SIGHUP" waits_for curl -sf -o "$WORK/ro-served.der" "$R1_URL/ca/rollover-root.crt"
for f in root cross-new-by-old cross-old-by-new; do
	ok "  ... R1's rollover-$f.crt is the one cross-sign wrote" served_is "$R1_URL" "rollover-$f" "$WORK/ro-$f.pem"
done
ca_stop
kill -TERM "$R1_PID" "$R2_PID"
wait "$R1_PID"
ok "R1 stops cleanly on SIGTERM" test $? -eq 0
wait "$R2_PID"
done_testing
