#!/bin/sh
# SPDX-License-Identifier: MIT
# `cairn init` and `cairn serve` start-up: files, modes, token keys, refusals, config checks.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

D=$WORK/ca
ok "init creates a CA on a fresh SoftHSM2 token" ca_init "$D"
ok "init prints where the token lives and how to back it up" \
	grep -q "tokens" "$D.init.out"
ok "init output mentions the backup" grep -qi "back it up" "$D.init.out"
for f in cairn.json softhsm2.conf token.pin admin.token ca/root.pem ca/issuing.pem ca/ocsp.pem \
	tls/server.pem tls/server.key; do
	ok "init wrote $f" test -s "$D/$f"
done
ok "data dir is 0700" test "$(stat -c %a "$D")" = 700
ok "token.pin is 0600" test "$(stat -c %a "$D/token.pin")" = 600
ok "admin.token is 0600" test "$(stat -c %a "$D/admin.token")" = 600
ok "TLS key is 0600" test "$(stat -c %a "$D/tls/server.key")" = 600
ok "cairn.json has the documented keys" sh -c "grep -q '\"listen\"' '$D/cairn.json' &&
	grep -q '\"public_urls\"' '$D/cairn.json' && grep -q '\"token\"' '$D/cairn.json' &&
	grep -q '\"profiles\"' '$D/cairn.json' && grep -q '\"tls-server\"' '$D/cairn.json'"
ok "cairn.json holds no PIN" sh -c "! grep -q \"\$(cat '$D/token.pin')\" '$D/cairn.json'"
ok "admin token is not stored in clear in the config" \
	sh -c "! grep -rq \"\$(cat '$D/admin.token')\" '$D/cairn.json'"

# The hierarchy: P-384 root, P-256 issuing, delegated OCSP signer.
ok "root is self-signed P-384 CA" sh -c "openssl x509 -in '$D/ca/root.pem' -noout -text |
	grep -q 'NIST CURVE: P-384' && openssl verify -CAfile '$D/ca/root.pem' '$D/ca/root.pem'"
ok "issuing CA is P-256 and chains to the root" sh -c "openssl x509 -in '$D/ca/issuing.pem' \
	-noout -text | grep -q 'NIST CURVE: P-256' &&
	openssl verify -CAfile '$D/ca/root.pem' '$D/ca/issuing.pem'"
ok "issuing CA has pathlen 0" sh -c "openssl x509 -in '$D/ca/issuing.pem' -noout -text |
	grep -q 'CA:TRUE, pathlen:0'"
ok "OCSP signer has OCSPSigning and ocsp-nocheck" sh -c "openssl x509 -in '$D/ca/ocsp.pem' \
	-noout -text | grep -q 'OCSP Signing' && openssl x509 -in '$D/ca/ocsp.pem' -noout -text |
	grep -q 'OCSP No Check'"
ok "OCSP signer chains" openssl verify -CAfile "$D/ca/root.pem" -untrusted "$D/ca/issuing.pem" \
	"$D/ca/ocsp.pem"
ok "daemon TLS cert covers localhost, 127.0.0.1 and ::1" sh -c "openssl x509 -in \
	'$D/tls/server.pem' -noout -ext subjectAltName | grep -q 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1'"

# Keys were generated in the token and cannot leave it.
export SOFTHSM2_CONF="$D/softhsm2.conf"
ok "token holds the CA keys as sensitive, never-extractable objects" sh -c "
	pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label cairn --login \
		--pin \$(cat '$D/token.pin') --list-objects --type privkey 2>/dev/null >'$WORK/objs'
	grep -c 'label: *\\(root\\|issuing\\|ocsp\\)\$' '$WORK/objs' | grep -qx 3 &&
	[ \$(grep -c 'never extractable' '$WORK/objs') -eq 3 ] &&
	[ \$(grep -c 'always sensitive' '$WORK/objs') -eq 3 ]"
unset SOFTHSM2_CONF

fails "init refuses to overwrite an existing CA" "$CAIRN" init --dir "$D"
last_one_line "refusal is one line"
last_has "refusal says why" "refusing to overwrite"
fails "init without --dir is a usage error" "$CAIRN" init
ok "usage errors exit 2" sh -c "'$CAIRN' init; [ \$? -eq 2 ]"

# The URLs in the CA's certificates (AIA, CRL distribution points) must name a port: a
# listener on port 0 (the system picks one at each start) needs public_urls.http.
fails "init with --listen-http on port 0 and no --public-http is refused" "$CAIRN" init \
	--dir "$WORK/zero" --listen-https 127.0.0.1:0 --listen-http 127.0.0.1:0
last_one_line "  ... in one line"
last_has "  ... saying what to set" "port 0.*public_urls.http.*--public-http http://HOST:PORT"
ok "  ... a usage error that made nothing" sh -c "'$CAIRN' init --dir '$WORK/zero' --listen-http \
	127.0.0.1:0 >/dev/null 2>&1; [ \$? -eq 2 ] && [ ! -e '$WORK/zero/cairn.json' ] && [ ! -e '$WORK/zero/ca' ]"
for any in 0.0.0.0:18080 '[::]:18080'; do
	fails "init listening on every address ($any) without --public-http is refused" "$CAIRN" \
		init --dir "$WORK/any" --listen-https 127.0.0.1:0 --listen-http "$any"
	last_has "  ... saying what to set" "every address.*--public-http http://HOST:PORT"
done
ok "init with port 0 and --public-http" "$CAIRN" init --dir "$WORK/pub" --listen-https 127.0.0.1:0 \
	--listen-http 127.0.0.1:0 --public-http http://ca.example.test:8080
ok "  ... the CA certificates name the public URL" sh -c "
	openssl x509 -in '$WORK/pub/ca/issuing.pem' -noout -ext crlDistributionPoints |
	grep -q 'URI:http://ca.example.test:8080/crl/root.crl' &&
	openssl x509 -in '$WORK/pub/tls/server.pem' -noout -text |
	grep -q 'OCSP - URI:http://ca.example.test:8080/ocsp'"
ok "init with a fixed HTTP port and no public URL" "$CAIRN" init --dir "$WORK/fixed" \
	--listen-https 127.0.0.1:0 --listen-http 127.0.0.1:18080
ok "  ... the CA certificates name the listener" sh -c "
	openssl x509 -in '$WORK/fixed/ca/issuing.pem' -noout -ext crlDistributionPoints |
	grep -q 'URI:http://127.0.0.1:18080/crl/root.crl' &&
	openssl x509 -in '$WORK/fixed/tls/server.pem' -noout -text |
	grep -q 'OCSP - URI:http://127.0.0.1:18080/ocsp'"
ok "--help works for every command" sh -c "for c in init serve issue show list audit; do
	'$CAIRN' \$c --help | grep -q 'usage: cairn' || exit 1; done"

# serve: one daemon per data dir, clear config errors.
ok "serve starts and reports its URLs" ca_serve "$D"
ok "serve.json names the bound HTTPS and HTTP URLs" sh -c "echo '$HTTPS_URL' |
	grep -q '^https://127.0.0.1:[0-9]' && echo '$HTTP_URL' | grep -q '^http://127.0.0.1:[0-9]'"
ok "log lines are JSON" sh -c "head -n 1 '$D.serve.log' | grep -q '^{\"ts\":'"
fails "a second daemon on the same dir is refused" "$CAIRN" serve --dir "$D"
last_has "the refusal says the dir is held" "held by another"
ok "healthz over HTTP" curl -fsS "$HTTP_URL/healthz"
ok "healthz over HTTPS (cert from init verifies)" curl -fsS --cacert "$D/ca/root.pem" \
	"$HTTPS_URL/healthz"
ok "metrics" sh -c "curl -fsS '$HTTP_URL/metrics' | grep -q '^cairn_up 1'"
ok "root certificate served as DER" served_is "$HTTP_URL" root "$D/ca/root.pem"
ok "issuing certificate served as DER" sh -c "curl -fsS '$HTTP_URL/ca/issuing.crt' |
	openssl x509 -inform DER -noout -subject | grep -q 'Issuing CA'"
ok "unknown CA certificate is 404 with a problem document" sh -c "
	[ \$(curl -s -o '$WORK/p' -w '%{http_code}' '$HTTP_URL/ca/nope.crt') = 404 ] &&
	grep -q '\"detail\"' '$WORK/p'"
ok "unknown path is 404" sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' '$HTTP_URL/nope') = 404 ]"
ok "wrong method is 405" sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' -X POST '$HTTP_URL/healthz') = 405 ]"
ok "SIGTERM stops the daemon cleanly" ca_stop
ok "serve.json removed on shutdown" test ! -e "$D/serve.json"

# A broken config is refused with the key at fault.
cp "$D/cairn.json" "$WORK/good.json"
sed 's/"threads": 4/"threads": 0/' "$WORK/good.json" >"$D/cairn.json"
fails "out-of-range config value refused" "$CAIRN" serve --dir "$D"
last_has "error names the key" "server.threads"
sed 's/"listen"/"lisen"/' "$WORK/good.json" >"$D/cairn.json"
fails "unknown config key refused" "$CAIRN" serve --dir "$D"
last_has "error names the unknown key" "lisen: unknown key"
echo '{ "listen": ' >"$D/cairn.json"
fails "malformed JSON refused" "$CAIRN" serve --dir "$D"
last_has "error names the file and line" "cairn.json:[0-9]+"
cp "$WORK/good.json" "$D/cairn.json"
fails "serve on a dir without a CA" "$CAIRN" serve --dir "$WORK/none"
last_has "says to run init" "cairn init"

ok "config check accepts the restored config" "$CAIRN" config check --dir "$D"
ok "docs/config.md carries the config table as the code defines it" sh -c "
	'$CAIRN' config keys >'$WORK/keys.md' && grep -Fxf '$WORK/keys.md' '$CAIRN_SRCDIR/docs/config.md' |
	wc -l | grep -qx \$(wc -l <'$WORK/keys.md')"

done_testing
