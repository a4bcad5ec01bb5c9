#!/bin/sh
# SPDX-License-Identifier: MIT
# Rotation of the issuing CA while the daemon runs: certificates issued before and after
# `cairn ca rotate` each get verified OCSP answers (good, then revoked) from their own
# issuer and appear on their own issuer's CRL; certbot renews across the rotation and the
# new chain verifies; ACME's Link rel="up" answers POST-as-GET and follows the actual
# issuer, as do AIA, CDP and EST /cacerts; restarts in between keep all of it; only an
# admin may rotate, and the rotation is audited. Root rollover: `cairn ca cross-sign` makes a
# new root in the token and cross-certificates both ways, which OpenSSL follows.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"

command -v certbot >/dev/null || bail "certbot is not installed (scripts/deps.sh)"

D=$WORK/ca
ROOT=$D/ca/root.pem
OLD=$D/ca/issuing.pem
NEW=$WORK/issuing-2.pem
ca_init "$D" || bail "init failed: $(cat "$D.init.out")"
HP=$(free_port)
acme_conf "$D" "{\"validation\": {\"http01_port\": $HP, \"hosts\": {
  \"www.example.test\": \"127.0.0.1\", \"chain.example.test\": \"127.0.0.1\",
  \"chain2.example.test\": \"127.0.0.1\"}}}"
ca_serve "$D" || bail "serve failed"
keep_https_port "$D"
export REQUESTS_CA_BUNDLE="$ROOT"
CB="certbot --config-dir $WORK/cb/conf --work-dir $WORK/cb/work --logs-dir $WORK/cb/logs
 --non-interactive --server $HTTPS_URL/acme/directory"
LIVE=$WORK/cb/conf/live/www.example.test

serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f'; }
issue() {
	make_csr "$1" ec:P-256 "/CN=$1.example.test" "DNS:$1.example.test"
	"$CAIRN" issue --dir "$D" --csr "$WORK/$1.csr" --profile tls-server --out "$WORK/$1.chain" \
		>"$WORK/issue.out" 2>&1 || bail "issuing $1 failed: $(cat "$WORK/issue.out")"
	openssl x509 -in "$WORK/$1.chain" -out "$WORK/$1.pem"
}
# ocsp NAME ISSUER: an answer for NAME from the daemon, verified against the root.
ocsp() {
	openssl ocsp -issuer "$2" -cert "$WORK/$1.pem" -url "$HTTP_URL/ocsp" -CAfile "$ROOT"
}
# crl_has NAME ISSUERNAME ISSUERPEM: the CRL at /crl/ISSUERNAME.crl verifies against its
# issuer and lists NAME's serial (waits for the debounced rebuild, 30 s at most).
crl_has() {
	want=$(serial_of "$WORK/$1.pem" | tr 'a-f' 'A-F')
	cat "$ROOT" "$3" >"$WORK/crl-ca.pem"
	i=0
	while [ $i -lt 300 ]; do
		curl -sf -o "$WORK/$2.crl" "$HTTP_URL/crl/$2.crl" &&
			openssl crl -inform DER -in "$WORK/$2.crl" -CAfile "$WORK/crl-ca.pem" -noout \
				-text >"$WORK/crl.txt" 2>&1 &&
			grep -q "verify OK" "$WORK/crl.txt" && grep -q "Serial Number: $want" "$WORK/crl.txt" &&
			return 0
		i=$((i + 1))
		sleep 0.1
	done
	cat "$WORK/crl.txt"
	return 1
}

# --- before: one certificate by certbot, one by the CLI, one by a raw ACME client ---
ok "certbot obtains a certificate before the rotation" $CB certonly --register-unsafely-without-email \
	--agree-tos --standalone --http-01-address 127.0.0.1 --http-01-port "$HP" -d www.example.test
ok "  ... chained by the issuing CA of init" openssl verify -CAfile "$ROOT" -untrusted "$OLD" "$LIVE/cert.pem"
cb_first=$(serial_of "$LIVE/cert.pem")
issue before
# admin_cert NAME: an admin certificate for NAME (an auditor), the leaf alone in NAME.pem.
admin_cert() {
	"$CAIRN" admin add --dir "$D" --name "$1" --role auditor >/dev/null 2>&1
	make_csr "$1" ec:P-256 "/CN=$1"
	"$CAIRN" issue --dir "$D" --csr "$WORK/$1.csr" --profile admin --out "$WORK/$1.chain" \
		>/dev/null 2>&1 || bail "admin certificate for $1 failed"
	openssl x509 -in "$WORK/$1.chain" -out "$WORK/$1.pem"
}
# mtls_is CODE NAME: GET /admin/v1/admins with NAME's certificate (no chain sent) answers CODE.
mtls_is() {
	[ "$(curl -s --cacert "$ROOT" --cert "$WORK/$2.pem" --key "$WORK/$2.key" -o "$WORK/api.out" \
		-w '%{http_code}' "$HTTPS_URL/admin/v1/admins")" = "$1" ]
}
admin_cert bert
acme_probe chain "chain probe done" chain.example.test "$OLD"

# --- rotate ---
ok "cairn ca rotate" "$CAIRN" ca rotate --dir "$D"
last_has "  ... names the new issuing CA and what it replaces" "issuing CA issuing-2 \\(serial [0-9a-f]+, token key issuing-[0-9a-f]+\\) replaces issuing"
ok "the new CA certificate is served at /ca/issuing-2.crt" curl -sf -o "$WORK/issuing-2.der" "$HTTP_URL/ca/issuing-2.crt"
openssl x509 -inform DER -in "$WORK/issuing-2.der" -out "$NEW"
ok "  ... a CA signed by the root" openssl verify -CAfile "$ROOT" "$NEW"
ok "  ... with a new key" sh -c "! openssl x509 -in '$OLD' -noout -pubkey | cmp -s - \
	\"\$(openssl x509 -in '$NEW' -noout -pubkey >'$WORK/new.pub'; echo '$WORK/new.pub')\""
ok "  ... whose key the token keeps (sensitive, never extractable)" sh -c "
	SOFTHSM2_CONF='$D/softhsm2.conf' pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so \
	--token-label cairn --login --pin \"\$(cat '$D/token.pin')\" --list-objects --type privkey |
	grep -A6 'label: *issuing-[0-9a-f]' | grep -q 'never extractable'"
ok "the old CA certificate is still served at /ca/issuing.crt" sh -c "
	curl -sf '$HTTP_URL/ca/issuing.crt' | openssl x509 -inform DER | cmp -s - '$OLD'"
fails "/ca/current.crt names no file" curl -sf -o /dev/null "$HTTP_URL/ca/current.crt"

issue after
ok "a certificate issued right after (no restart) chains to the new issuing CA" \
	openssl verify -CAfile "$ROOT" -untrusted "$NEW" "$WORK/after.pem"
fails "  ... and not to the old one" openssl verify -CAfile "$ROOT" -untrusted "$OLD" "$WORK/after.pem"
ok "  ... its chain file carries the new issuing CA" sh -c "
	openssl crl2pkcs7 -nocrl -certfile '$WORK/after.chain' | openssl pkcs7 -print_certs |
	grep -q 'subject=.*Issuing CA 2'"
ok "  ... its AIA caIssuers and CDP name the new issuer's URLs" sh -c "
	openssl x509 -in '$WORK/after.pem' -noout -text >'$WORK/after.txt' &&
	grep -q 'CA Issuers - URI:.*/ca/issuing-2.crt' '$WORK/after.txt' &&
	grep -q 'URI:.*/crl/issuing-2.crl' '$WORK/after.txt'"
acme_probe chain "chain probe done" chain2.example.test "$NEW"
admin_cert carla
ok "an admin certificate of the new issuing CA logs in over mTLS (leaf alone, no restart)" mtls_is 200 carla
ok "  ... and one of the old issuing CA still does" mtls_is 200 bert
ok "EST /cacerts carries the new issuing CA first, then the root and the old one" sh -c "
	curl -sf --cacert '$ROOT' '$HTTPS_URL/.well-known/est/cacerts' | base64 -d |
	openssl pkcs7 -inform DER -print_certs | grep '^subject' >'$WORK/cacerts.txt' &&
	head -1 '$WORK/cacerts.txt' | grep -q 'Issuing CA 2' && grep -q 'Root CA' '$WORK/cacerts.txt' &&
	grep -c 'Issuing CA' '$WORK/cacerts.txt' | grep -qx 2"

# --- restart, then certbot renews across the rotation ---
ca_stop
ca_serve "$D" || bail "restart after the rotation failed: $(tail -3 "$D.serve.log")"
ok "after a restart certbot renews" $CB renew --force-renewal --no-random-sleep-on-renew --standalone \
	--http-01-address 127.0.0.1 --http-01-port "$HP"
ok "  ... a new certificate" test "$(serial_of "$LIVE/cert.pem")" != "$cb_first"
ok "  ... whose chain verifies with the new issuing CA" openssl verify -CAfile "$ROOT" -untrusted "$NEW" "$LIVE/cert.pem"
ok "  ... which is what certbot's chain.pem holds" cmp -s "$LIVE/chain.pem" "$NEW"
issue later
ok "after the restart new certificates still come from the new issuing CA" \
	openssl verify -CAfile "$ROOT" -untrusted "$NEW" "$WORK/later.pem"
ok "after the restart both admin certificates log in" sh -c "
	$(command -v curl) -s --cacert '$ROOT' --cert '$WORK/carla.pem' --key '$WORK/carla.key' -o /dev/null \
	-w '%{http_code}' '$HTTPS_URL/admin/v1/admins' | grep -qx 200 &&
	curl -s --cacert '$ROOT' --cert '$WORK/bert.pem' --key '$WORK/bert.key' -o /dev/null \
	-w '%{http_code}' '$HTTPS_URL/admin/v1/admins' | grep -qx 200"

# --- OCSP and CRLs per issuer ---
ok "OCSP for a certificate of the old issuer (-issuer old)" ocsp before "$OLD"
last_has "  ... good" "before.pem: good"
last_has "  ... and the answer verifies" "Response verify OK"
ok "OCSP for a certificate of the new issuer (-issuer new)" ocsp after "$NEW"
last_has "  ... good" "after.pem: good"
last_has "  ... and the answer verifies" "Response verify OK"
openssl ocsp -issuer "$OLD" -cert "$WORK/after.pem" -url "$HTTP_URL/ocsp" -CAfile "$ROOT" \
	>"$WORK/wrong.out" 2>&1
ok "a CertID naming the wrong issuer is refused (unauthorized), not answered good" sh -c "
	cat '$WORK/wrong.out'; grep -q 'unauthorized' '$WORK/wrong.out' && ! grep -q 'after.pem: good' '$WORK/wrong.out'"
ok "revoke the old issuer's certificate" "$CAIRN" revoke --dir "$D" "$(serial_of "$WORK/before.pem")" --reason keyCompromise
ok "revoke the new issuer's certificate" "$CAIRN" revoke --dir "$D" "$(serial_of "$WORK/after.pem")" --reason superseded
ca_stop
ca_serve "$D" || bail "restart after the revocations failed"
ok "OCSP: the old issuer's certificate is revoked" ocsp before "$OLD"
last_has "  ... revoked, verified" "Response verify OK"
last_has "  ... revoked" "before.pem: revoked"
ok "OCSP: the new issuer's certificate is revoked" ocsp after "$NEW"
last_has "  ... verified" "Response verify OK"
last_has "  ... revoked" "after.pem: revoked"
ok "the old issuer's CRL (/crl/issuing.crl) verifies and lists its certificate" crl_has before issuing "$OLD"
ok "the new issuer's CRL (/crl/issuing-2.crl) verifies and lists its certificate" crl_has after issuing-2 "$NEW"
ok "  ... and only its own" sh -c "! grep -q 'Serial Number: $(serial_of "$WORK/before.pem" | tr 'a-f' 'A-F')' '$WORK/crl.txt'"
ok "openssl verify -crl_check refuses the revoked new certificate" sh -c "
	openssl crl -inform DER -in '$WORK/issuing-2.crl' -out '$WORK/issuing-2.crl.pem' &&
	! openssl verify -crl_check -CAfile '$ROOT' -untrusted '$NEW' -CRLfile '$WORK/issuing-2.crl.pem' '$WORK/after.pem'"
ok "  ... and accepts the good one" sh -c "
	openssl verify -crl_check -CAfile '$ROOT' -untrusted '$NEW' -CRLfile '$WORK/issuing-2.crl.pem' '$WORK/later.pem'"

# --- metrics, health, who may, audit ---
na=$(date -d "$(openssl x509 -in "$NEW" -noout -enddate | cut -d= -f2)" +%s)
ok "/metrics has the new issuing CA's notAfter" sh -c "
	curl -sf '$HTTP_URL/metrics' | grep -qx 'cairn_ca_not_after_timestamp_seconds{ca=\"issuing-2\"} $na'"
ok "  ... the old one's still" sh -c "curl -sf '$HTTP_URL/metrics' | grep -q 'ca=\"issuing\"}'"
ok "  ... and each issuer's CRL" sh -c "curl -sf '$HTTP_URL/metrics' | grep -q 'cairn_crl_next_update_timestamp_seconds{issuer=\"issuing-2\"}'"
ok "/healthz is ok" sh -c "curl -sf '$HTTP_URL/healthz' | grep -q '\"status\":\"ok\"'"
"$CAIRN" admin add --dir "$D" --name oscar --role operator >/dev/null 2>&1
"$CAIRN" token create --dir "$D" --name oscar --role operator >"$WORK/oscar.tok" 2>/dev/null
fails "an operator may not rotate" "$CAIRN" ca rotate --dir "$D" --token-file "$WORK/oscar.tok"
last_has "  ... 403, named" "role operator may not"
ok "the API refuses options it does not know with a problem document" sh -c "
	curl -s -o '$WORK/p.json' -w '%{http_code}' --cacert '$ROOT' -H 'Content-Type: application/json' \
	-H \"Authorization: Bearer \$(cat '$D/admin.token')\" -d '{\"key\":\"p384\"}' \
	'$HTTPS_URL/admin/v1/ca/rotate' | grep -qx 400 && grep -q 'problem' '$WORK/p.json'"
# --- root rollover: a new root in the token and cross-certificates both ways ---
fails "an operator may not cross-sign" "$CAIRN" ca cross-sign --dir "$D" --token-file "$WORK/oscar.tok" "$WORK/x"
ok "cairn ca cross-sign writes a new root and both cross-certificates" "$CAIRN" ca cross-sign --dir "$D" "$WORK/ro"
R2=$WORK/ro-root.pem NBO=$WORK/ro-cross-new-by-old.pem OBN=$WORK/ro-cross-old-by-new.pem
pub() { openssl x509 -in "$1" -noout -pubkey; }
ok "  ... the new root is self-signed, a CA" sh -c "openssl verify -CAfile '$R2' '$R2' &&
	openssl x509 -in '$R2' -noout -text | grep -q 'CA:TRUE'"
ok "  ... with a new key, kept in the token (never extractable)" sh -c "
	[ \"\$(openssl x509 -in '$R2' -noout -pubkey)\" != \"\$(openssl x509 -in '$ROOT' -noout -pubkey)\" ] &&
	SOFTHSM2_CONF='$D/softhsm2.conf' pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so \
	--token-label cairn --login --pin \"\$(cat '$D/token.pin')\" --list-objects --type privkey |
	grep -A6 'label: *root-[0-9a-f]' | grep -q 'never extractable'"
ok "old -> new: the new root's name and key, signed by the old root" sh -c "
	openssl verify -CAfile '$ROOT' '$NBO' &&
	[ \"\$(openssl x509 -in '$NBO' -noout -pubkey)\" = \"\$(openssl x509 -in '$R2' -noout -pubkey)\" ] &&
	[ \"\$(openssl x509 -in '$NBO' -noout -subject)\" = \"\$(openssl x509 -in '$R2' -noout -subject)\" ]"
ok "new -> old: the old root's name and key, signed by the new root" sh -c "
	openssl verify -CAfile '$R2' '$OBN' &&
	[ \"\$(openssl x509 -in '$OBN' -noout -pubkey)\" = \"\$(openssl x509 -in '$ROOT' -noout -pubkey)\" ]"
cat "$OBN" "$NEW" >"$WORK/via-new-root.pem"
ok "a client trusting only the new root validates a certificate of today's issuing CA" \
	openssl verify -CAfile "$R2" -untrusted "$WORK/via-new-root.pem" "$WORK/later.pem"
fails "  ... which it cannot without the cross-certificate" \
	openssl verify -CAfile "$R2" -untrusted "$NEW" "$WORK/later.pem"
ok "the daemon keeps its root: new certificates still chain to the old one" sh -c "
	'$CAIRN' issue --dir '$D' --csr '$WORK/later.csr' --profile tls-server --out '$WORK/x.chain' >/dev/null &&
	openssl verify -CAfile '$ROOT' -untrusted '$WORK/x.chain' '$WORK/x.chain'"
ok "the audit log has the rotation, by the admin" "$CAIRN" audit export --dir "$D" --format jsonl --unsigned
last_has "  ... with the new CA's name and key" '"actor":"admin:bootstrap","action":"ca.rotate".*"name":"issuing-2".*"key":"issuing-[0-9a-f]+".*"replaces":"issuing"'
last_has "  ... and the root rollover, naming its key" '"actor":"admin:bootstrap","action":"ca.rollover".*"key":"root-[0-9a-f]+"'
ok "the audit chain verifies" "$CAIRN" audit verify --dir "$D"
ok "every certificate passes certlint" lint_db "$D"
done_testing
