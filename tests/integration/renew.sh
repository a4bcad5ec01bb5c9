#!/bin/sh
# SPDX-License-Identifier: MIT
# Renewal of what cairn signs for itself, without a restart: `cairn ca renew --https` swaps
# the certificate new TLS connections get while the daemon runs (an open connection keeps
# working), `--ocsp-signer` puts a new signer (new token key) in charge of every answer,
# cached ones included; both are admin-only, audited, in /metrics, and survive a restart;
# a renewal interrupted between its steps is completed at the next start; a running daemon
# renews both by itself when they come due (libfaketime).
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

[ -n "$FAKETIME_LIB" ] || bail "libfaketime is not installed (scripts/deps.sh installs faketime)"

D=$WORK/ca
ROOT=$D/ca/root.pem
ISSUING=$D/ca/issuing.pem
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
ca_serve "$D" || bail "cairn serve did not start"

# file_serial PEM: the serial of the first certificate in PEM.
file_serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
# tls_serial: the serial of the certificate a new TLS connection is shown (verified).
tls_serial() {
	echo | $FT openssl s_client -connect "${HTTPS_URL#https://}" -CAfile "$ROOT" \
		-verify_return_error 2>/dev/null | openssl x509 -noout -serial | cut -d= -f2
}
# gauge NAME: cairn_cert_not_after_timestamp_seconds{cert=NAME}.
gauge() {
	curl -sf "$HTTP_URL/metrics" | sed -n "s/^cairn_cert_not_after_timestamp_seconds{cert=\"$1\"} //p"
}
not_after() { date -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s; }
not_before() { date -d "$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)" +%s; }
metric() { curl -sf "$HTTP_URL/metrics" | sed -n "s/^$1 //p"; }
# ocsp_new NAME: an answer for NAME that verifies against the CURRENT signer (ca/ocsp.pem)
# alone: -no_intern ignores the certificates in the response, so an answer of any other
# signer fails. No nonce, so a cached answer is what comes back when there is one.
ocsp_new() {
	$FT openssl ocsp -issuer "$ISSUING" -cert "$WORK/$1.pem" -url "$HTTP_URL/ocsp" -no_nonce \
		-CAfile "$ROOT" -VAfile "$D/ca/ocsp.pem" -no_intern
}
FT=""

make_csr leaf ec:P-256 "/CN=leaf.example.test" "DNS:leaf.example.test"
"$CAIRN" issue --dir "$D" --csr "$WORK/leaf.csr" --profile tls-server --out "$WORK/leaf.chain" \
	>"$WORK/issue.out" 2>&1 || bail "issuance failed: $(cat "$WORK/issue.out")"
openssl x509 -in "$WORK/leaf.chain" -out "$WORK/leaf.pem"

# --- HTTPS ---
s0=$(tls_serial)
ok "the daemon serves the HTTPS certificate of tls/server.pem" test -n "$s0" -a "$s0" = "$(file_serial "$D/tls/server.pem")"
cp "$D/tls/server.pem" "$WORK/tls-A.pem"
cp "$D/tls/server.key" "$WORK/tls-A.key"

# One connection opened before the swap and used after it; new connections get the new one.
cat >"$WORK/keepalive.py" <<'PY'
import http.client, ssl, subprocess, sys
host, port = sys.argv[1].rsplit(":", 1)
ctx = ssl.create_default_context(cafile=sys.argv[2])
conn = http.client.HTTPSConnection(host, int(port), context=ctx)
conn.request("GET", "/healthz")
r = conn.getresponse(); r.read()
before = conn.sock.getpeercert()["serialNumber"]
subprocess.run(sys.argv[3:], check=True)
conn.request("GET", "/healthz")
r = conn.getresponse(); body = r.read()
same = conn.sock.getpeercert()["serialNumber"]
print("before", before, "after-on-same-connection", same, "status", r.status, body.decode())
sys.exit(0 if r.status == 200 and same == before else 1)
PY
ok "cairn ca renew --https while a keep-alive connection is open: that connection goes on" \
	python3 "$WORK/keepalive.py" "${HTTPS_URL#https://}" "$ROOT" "$CAIRN" ca renew --https --dir "$D"
last_has "  ... the renewal printed its new serial" "https renewed: serial [0-9a-f]+ \\(replaces"
s1=$(tls_serial)
ok "a new TLS connection gets a new certificate (no restart)" test -n "$s1" -a "$s1" != "$s0"
ok "  ... the one now in tls/server.pem" test "$s1" = "$(file_serial "$D/tls/server.pem")"
ok "  ... from the same daemon process" test "$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' "$D/serve.json")" = "$SERVE_PID"
ok "  ... it chains to the root" openssl verify -CAfile "$ROOT" -untrusted "$ISSUING" "$D/tls/server.pem"
ok "  ... with the same names" sh -c "openssl x509 -in '$WORK/tls-A.pem' -noout -ext subjectAltName >'$WORK/san.A' &&
	openssl x509 -in '$D/tls/server.pem' -noout -ext subjectAltName | cmp -s - '$WORK/san.A'"
ok "  ... and a new key, the one in tls/server.key" sh -c "
	openssl x509 -in '$D/tls/server.pem' -noout -pubkey >'$WORK/pub.cert' &&
	openssl pkey -in '$D/tls/server.key' -pubout >'$WORK/pub.key' && cmp -s '$WORK/pub.cert' '$WORK/pub.key' &&
	! openssl pkey -in '$WORK/tls-A.key' -pubout | cmp -s - '$WORK/pub.key'"
ok "/metrics carries the new certificate's notAfter" test "$(gauge https)" = "$(not_after "$D/tls/server.pem")"
cp "$D/tls/server.pem" "$WORK/tls-B.pem"
cp "$D/tls/server.key" "$WORK/tls-B.key"

# --- OCSP signer ---
o0=$(file_serial "$D/ca/ocsp.pem")
ok "before: the answer verifies against the init signer alone" ocsp_new leaf
last_has "  ... good" "leaf.pem: good"
cp "$D/ca/ocsp.pem" "$WORK/ocsp-A.pem"
pre0=$(metric cairn_ocsp_presigned_total)
ok "cairn ca renew --ocsp-signer" "$CAIRN" ca renew --ocsp-signer --dir "$D"
last_has "  ... prints its new serial" "ocsp-signer renewed: serial [0-9a-f]+"
o1=$(file_serial "$D/ca/ocsp.pem")
ok "ca/ocsp.pem holds the new signer" test -n "$o1" -a "$o1" != "$o0"
ok "  ... an OCSPSigning certificate with ocsp-nocheck from the issuing CA" sh -c "
	openssl verify -CAfile '$ROOT' -untrusted '$ISSUING' -purpose ocsphelper '$D/ca/ocsp.pem' &&
	openssl x509 -in '$D/ca/ocsp.pem' -noout -text | grep -q 'OCSP Signing' &&
	openssl x509 -in '$D/ca/ocsp.pem' -noout -text | grep -q 'OCSP No Check'"
openssl x509 -in "$D/ca/ocsp.pem" -noout -pubkey >"$WORK/ocsp-B.pub"
ok "  ... with a new key (made in the token)" sh -c "! openssl x509 -in '$WORK/ocsp-A.pem' -noout -pubkey | cmp -s - '$WORK/ocsp-B.pub'"
ok "at once, every answer comes from the new signer" ocsp_new leaf
last_has "  ... good" "leaf.pem: good"
# The refresher re-signs the whole cache for the new signer: the presigned counter grows
# and the next nonce-less query is a cache hit (signed by the new signer).
i=0
while [ "$(metric cairn_ocsp_presigned_total)" -le "$pre0" ] && [ $i -lt 100 ]; do
	i=$((i + 1))
	sleep 0.1
done
ok "the cache was re-signed by the new signer" test "$(metric cairn_ocsp_presigned_total)" -gt "$pre0"
hits0=$(metric 'cairn_ocsp_responses_total{source="cache"}')
ok "  ... a cached answer verifies against the new signer alone" ocsp_new leaf
ok "  ... and was served from the cache" test "$(metric 'cairn_ocsp_responses_total{source="cache"}')" -gt "$hits0"
ok "/metrics carries the new signer's notAfter" test "$(gauge ocsp-signer)" = "$(not_after "$D/ca/ocsp.pem")"
ok "/healthz is ok" sh -c "curl -sf '$HTTP_URL/healthz' | grep -q '\"status\":\"ok\"'"
cp "$D/ca/ocsp.pem" "$WORK/ocsp-B.pem"

# --- who may, and the audit trail ---
"$CAIRN" admin add --dir "$D" --name oscar --role operator >/dev/null 2>&1
"$CAIRN" token create --dir "$D" --name oscar --role operator >"$WORK/oscar.tok" 2>/dev/null
fails "an operator may not renew" "$CAIRN" ca renew --https --dir "$D" --token-file "$WORK/oscar.tok"
last_has "  ... 403, named" "role operator may not"
fails "renew needs --https or --ocsp-signer" "$CAIRN" ca renew --dir "$D"
last_has "  ... one line saying so" "exactly one of --ocsp-signer, --https"
ok "the API refuses an unknown target with a problem document" sh -c "
	curl -s -o '$WORK/p.json' -w '%{http_code}' --cacert '$ROOT' -H 'Content-Type: application/json' \
	-H \"Authorization: Bearer \$(cat '$D/admin.token')\" -d '{\"what\":\"root\"}' \
	'$HTTPS_URL/admin/v1/ca/renew' | grep -qx 400 && grep -q 'use ocsp-signer or https' '$WORK/p.json'"
ok "the audit log has both renewals and the refusal" "$CAIRN" audit export --dir "$D" --format jsonl --unsigned
last_has "  ... https renewal by the admin" '"actor":"admin:bootstrap","action":"ca.renew".*"what":"https","replaces":"'"$(echo "$s0" | tr 'A-F' 'a-f')"'"'
last_has "  ... signer renewal, with its token key" '"action":"ca.renew".*"what":"ocsp-signer".*"key":"ocsp-[0-9a-f]+"'
last_has "  ... the operator's refused try" '"action":"admin.denied"'
ok "the audit chain verifies" "$CAIRN" audit verify --dir "$D"
ok "the renewed certificates pass certlint" lint_db "$D"

# --- a restart keeps them ---
ca_stop
ca_serve "$D" || bail "restart failed"
ok "after a restart the renewed HTTPS certificate is served" test "$(tls_serial)" = "$s1"
ok "after a restart the renewed signer answers" ocsp_new leaf

# --- interrupted renewals are completed ---
# HTTPS: key renamed into place, certificate not yet (the .new file is left).
ca_stop
cp "$D/tls/server.pem" "$D/tls/server.pem.new"
cp "$WORK/tls-A.pem" "$D/tls/server.pem"
ca_serve "$D" || bail "start after an interrupted HTTPS renewal failed: $(tail -3 "$D.serve.log")"
ok "an HTTPS renewal interrupted between its renames is completed at start" test "$(tls_serial)" = "$s1"
ok "  ... and its .new file is gone" test ! -e "$D/tls/server.pem.new"
# OCSP: committed (the database names the new signer), ca/ocsp.pem not yet rewritten.
ca_stop
cp "$WORK/ocsp-A.pem" "$D/ca/ocsp.pem"
ca_serve "$D" || bail "start after an interrupted signer renewal failed: $(tail -3 "$D.serve.log")"
ok "a signer renewal interrupted before ca/ocsp.pem was rewritten: the new signer answers" ocsp_new leaf
ok "  ... and ca/ocsp.pem is brought up to date" cmp -s "$D/ca/ocsp.pem" "$WORK/ocsp-B.pem"

# --- a running daemon renews by itself when due ---
# Both certificates with the same lifetime (tls.validity_days 365), renewed together;
# then the daemon runs from 20 s before they are due: no restart, no admin. Its clock is a
# file (clock_file, lib.sh) moved 25 s on once it has been seen to renew nothing at start:
# the renewal thread looks at the clock every 2 s, so the step is seen as the time passing
# (waiting out the 20 s made this file 20 s longer).
python3 - "$D/cairn.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc.setdefault("tls", {})["validity_days"] = 365
json.dump(doc, open(sys.argv[1], "w"), indent=2)
PY
ca_stop
ca_serve "$D" || bail "restart failed"
"$CAIRN" ca renew --https --dir "$D" >/dev/null && "$CAIRN" ca renew --ocsp-signer --dir "$D" >/dev/null ||
	bail "renewals before the clock test failed"
ca_stop
t1=$(file_serial "$D/tls/server.pem")
s1=$(file_serial "$D/ca/ocsp.pem")
due() { nb=$(not_before "$1"); na=$(not_after "$1"); echo $((nb + (na - nb) / 3 * 2)); }
d1=$(due "$D/tls/server.pem")
d2=$(due "$D/ca/ocsp.pem")
[ "$d1" -gt "$d2" ] && d2=$d1
clock_file
clock_move $((d2 - $(date +%s) - 20))
ca_serve_at "$D" FAKETIME_TIMESTAMP_FILE="$CLOCK" FAKETIME_NO_CACHE=1 || bail "start under faketime failed"
ok "20 s before they are due, nothing was renewed at start" sh -c "
	test '$(file_serial "$D/tls/server.pem")' = '$t1' && test '$(file_serial "$D/ca/ocsp.pem")' = '$s1'"
clock_move $((OFF + 25))
i=0
while { [ "$(file_serial "$D/tls/server.pem")" = "$t1" ] || [ "$(file_serial "$D/ca/ocsp.pem")" = "$s1" ]; } &&
	[ $i -lt 600 ]; do
	i=$((i + 1))
	sleep 0.1
done
ok "when due, the running daemon renewed the HTTPS certificate" test "$(file_serial "$D/tls/server.pem")" != "$t1"
ok "  ... and new connections get it" test "$(tls_serial)" = "$(file_serial "$D/tls/server.pem")"
ok "when due, the running daemon renewed the OCSP signer" test "$(file_serial "$D/ca/ocsp.pem")" != "$s1"
ok "  ... whose answers verify" ocsp_new leaf
ok "  ... and the gauges follow" test "$(gauge ocsp-signer)" = "$(not_after "$D/ca/ocsp.pem")"
ok "the renewals were scheduled ones" "$CAIRN" audit export --dir "$D" --format jsonl --unsigned
last_has "  ... by the daemon" '"actor":"server:renew","action":"ca.renew".*"trigger":"schedule"'
done_testing
