#!/bin/sh
# SPDX-License-Identifier: MIT
# Three more ACME clients against a real `cairn serve`, each through what it offers:
# uacme (C, libcurl + GnuTLS): account with a contact, update, keyChange, issuance for two
# names and for an IP address, OCSP Must-Staple, revocation by the account key and by the certificate key, a
# reissue it decides on by itself after reading "revoked" over OCSP, deactivation; a profile
# that never certifies Must-Staple refuses it, naming the setting. dehydrated (bash, curl,
# openssl): register, two names, its OCSP fetch verified through the delegated signer,
# Must-Staple, forced renewal, revocation. Caddy (Go, ACMEz): gets a certificate for two
# names when it starts and serves it with cairn's OCSP answer stapled.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"

for c in uacme dehydrated caddy; do
	command -v "$c" >/dev/null || bail "$c is not installed (scripts/deps.sh)"
done

D=$WORK/ca
ca_init "$D" || bail "init failed"
HP=$(free_port)
TP=$(free_port)
acme_conf "$D" "{\"validation\": {\"http01_port\": $HP, \"tlsalpn01_port\": $TP, \"hosts\": {
  \"www.example.test\": \"127.0.0.1\", \"api.example.test\": \"127.0.0.1\",
  \"dh.example.test\": \"127.0.0.1\", \"dh2.example.test\": \"127.0.0.1\",
  \"caddy.example.test\": \"127.0.0.1\", \"caddy2.example.test\": \"127.0.0.1\"}}}"
ca_serve "$D" || bail "serve failed"
DIRURL=$HTTPS_URL/acme/directory

# http-01 answers for uacme's hook and dehydrated: files under $WWW, served on $HP.
WWW=$WORK/www
mkdir -p "$WWW/.well-known/acme-challenge"
python3 -m http.server "$HP" --bind 127.0.0.1 --directory "$WWW" >"$WORK/http.log" 2>&1 &
WEB_PID=$!
CAIRN_PIDS="$CAIRN_PIDS $WEB_PID"
waits_port() { # PORT: something listens on 127.0.0.1:PORT (bounded, 10 s)
	i=0
	while ! curl -s -o /dev/null "http://127.0.0.1:$1/" && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ $i -lt 100 ]
}
waits_port "$HP" || bail "the challenge web server did not start"

# is_revoked CERT REASON: cairn's OCSP says revoked with REASON (openssl's wording).
is_revoked() {
	openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$1" -url "$HTTP_URL/ocsp" \
		-CAfile "$D/ca/root.pem" >"$WORK/ocsp.out" 2>&1 &&
		grep -q ": revoked" "$WORK/ocsp.out" && grep -qi "Reason: $2" "$WORK/ocsp.out"
}
# staples CERT: the certificate carries the TLS feature status_request (Must-Staple).
staples() {
	openssl x509 -in "$1" -noout -ext tlsfeature | grep -q status_request
}
# names CERT NAME...: the certificate's SANs are exactly these DNS names.
names() {
	cert=$1
	shift
	want=$(for n in "$@"; do echo "DNS:$n"; done | sort | tr '\n' ' ')
	have=$(openssl x509 -in "$cert" -noout -ext subjectAltName | tail -n +2 | tr -d ' ' |
		tr ',' '\n' | sort | tr '\n' ' ')
	[ "$have" = "$want" ] || { echo "SANs: $have, expected $want"; return 1; }
}

# ---- uacme. Its libcurl trusts only the system bundle: in a mount namespace of its own
# the bundle is cairn's root (root, as CI runs).
cat >"$WORK/hook.sh" <<H
#!/bin/sh
echo "\$*" >>"$WORK/hook.log"
case "\$1:\$2" in
begin:http-01) printf '%s' "\$5" >"$WWW/.well-known/acme-challenge/\$4" ;;
done:*|failed:*) rm -f "$WWW/.well-known/acme-challenge/\$4" ;;
*) exit 1 ;;
esac
H
chmod +x "$WORK/hook.sh"
U=$WORK/uacme
uacme_run() {
	unshare -m --propagation private sh -c 'mount --bind "$1" /etc/ssl/certs/ca-certificates.crt &&
		shift && exec "$@"' sh "$D/ca/root.pem" \
		uacme -v -y -c "$U" -a "$DIRURL" -h "$WORK/hook.sh" "$@"
}
# uacme keeps the file it replaces as cert-SECONDS.pem (revoked-SECONDS.pem when it
# revokes) and fails when that name exists: a run that replaces one starts in a new second.
uacme_again() {
	s=$(date +%s)
	while [ "$(date +%s)" = "$s" ]; do sleep 0.05; done
	uacme_run "$@"
}
if unshare -m --propagation private true 2>/dev/null; then
	ok "uacme creates an account with a contact" uacme_run new ops@example.test
	ok "uacme issues for two names (http-01)" uacme_run issue www.example.test api.example.test
	C1=$U/www.example.test/cert.pem
	ok "  ... the certificate chains to the root" cert_verifies "$D" "$C1"
	ok "  ... and names exactly both" names "$C1" www.example.test api.example.test
	fails "  ... without Must-Staple, not asked for" staples "$C1"
	ok "uacme issues for an IP address identifier (RFC 8738, http-01)" uacme_run issue 127.0.0.1
	ok "  ... the certificate names IP:127.0.0.1 only" sh -c "openssl x509 -in \
		'$U/127.0.0.1/cert.pem' -noout -ext subjectAltName | tail -n +2 | tr -d ' ' |
		grep -qx 'IPAddress:127.0.0.1'"
	ok "uacme updates the account's contact" uacme_run update sec@example.test
	last_has "  ... the account answers with the new contact" "mailto:sec@example.test|updated"
	ok "uacme changes the account key (keyChange)" uacme_run newkey
	ok "  ... and issues with the new key (forced)" uacme_again -f issue www.example.test \
		api.example.test
	ok "  ... a new certificate" sh -c "! cmp -s '$C1' \$(ls '$U'/www.example.test/cert-*.pem | head -n 1)"
	ok "uacme asks for OCSP Must-Staple (-m) for api.example.test" uacme_run -m -f issue \
		api.example.test
	C2=$U/api.example.test/cert.pem
	ok "  ... the certificate carries the TLS feature status_request" staples "$C2"
	ok "  ... and cairn's OCSP answers good for it" openssl ocsp -issuer "$D/ca/issuing.pem" \
		-cert "$C2" -url "$HTTP_URL/ocsp" -CAfile "$D/ca/root.pem"
	last_has "  ... good" "cert.pem: good"

	# cairn revokes www's certificate; uacme's run without -f reads OCSP and reissues
	serial=$(openssl x509 -in "$C1" -noout -serial | sed 's/serial=//' | tr 'A-F' 'a-f')
	ok "cairn revokes uacme's certificate (superseded)" "$CAIRN" revoke --dir "$D" "$serial" \
		--reason superseded
	ok "uacme, not forced, sees it revoked over OCSP and reissues" uacme_again issue \
		www.example.test api.example.test
	last_has "  ... it read REVOKED from cairn's OCSP" "OCSP certificate status is REVOKED"
	ok "  ... a certificate of another serial" sh -c "openssl x509 -in '$C1' -noout -serial |
		grep -vqi '$serial'"
	ok "uacme revokes with the account key (keyCompromise)" uacme_again -r 1 revoke "$C1"
	ok "  ... OCSP says revoked, keyCompromise" is_revoked \
		"$(ls "$U"/www.example.test/revoked-*.pem | head -n 1)" "keyCompromise"
	ok "uacme revokes with the certificate's own key (cessationOfOperation)" uacme_again -r 5 \
		revoke "$C2" "$U/private/api.example.test/key.pem"
	ok "  ... OCSP says revoked, cessationOfOperation" is_revoked \
		"$(ls "$U"/api.example.test/revoked-*.pem | head -n 1)" "cessationOfOperation"
	ok "uacme deactivates its account" uacme_run deactivate
	fails "  ... which then cannot order" uacme_run -f issue www.example.test
	last_has "  ... told the account is deactivated" "deactivated|unauthorized"
else
	tap 1 "uacme # SKIP no private mount namespace here (unshare -m needs root with CAP_SYS_ADMIN)"
fi

# ---- dehydrated: curl and openssl, which take the trust anchor from the environment.
B=$WORK/dehydrated
mkdir -p "$B"
cat >"$B/config" <<C
CA="$DIRURL"
BASEDIR="$B"
WELLKNOWN="$WWW/.well-known/acme-challenge"
CONTACT_EMAIL="ops@example.test"
KEY_ALGO=prime256v1
OCSP_FETCH="yes"
OCSP_MUST_STAPLE="yes"
C
echo "dh.example.test dh2.example.test" >"$B/domains.txt"
DH() { CURL_CA_BUNDLE=$D/ca/root.pem SSL_CERT_FILE=$D/ca/root.pem dehydrated -f "$B/config" "$@"; }
DC=$B/certs/dh.example.test
ok "dehydrated registers" DH --register --accept-terms
ok "dehydrated signs two names and fetches the OCSP answer to staple" DH -c
ok "  ... the certificate chains to the root" cert_verifies "$D" "$DC/cert.pem"
ok "  ... names exactly both" names "$DC/cert.pem" dh.example.test dh2.example.test
ok "  ... carries Must-Staple (OCSP_MUST_STAPLE)" staples "$DC/cert.pem"
ok "  ... the stapling file is cairn's signed answer, good" sh -c "openssl ocsp -respin \
	'$DC/ocsp.der' -issuer '$DC/chain.pem' -cert '$DC/cert.pem' -CAfile '$D/ca/root.pem' \
	-verify_other '$DC/chain.pem' | grep -q ': good'"
first=$(openssl x509 -in "$DC/cert.pem" -noout -serial)
ok "dehydrated renews (forced), reusing its valid authorizations" DH -c --force
last_has "  ... without a new challenge" "Found valid authorization"
ok "  ... a new certificate" sh -c "openssl x509 -in '$DC/cert.pem' -noout -serial |
	grep -vq '$first'"
ok "dehydrated revokes it" DH --revoke "$DC/cert.pem"
ok "  ... OCSP says revoked" is_revoked "$(ls "$DC"/cert-*.pem-revoked | head -n 1)" "."
ok "dehydrated updates the account" DH --account

# ---- Caddy: obtains at start-up (http-01 or tls-alpn-01, its choice) and staples OCSP.
kill "$WEB_PID" 2>/dev/null && wait "$WEB_PID" 2>/dev/null
AP=$(free_port)
cat >"$WORK/Caddyfile" <<C
{
	admin 127.0.0.1:$AP
	http_port $HP
	https_port $TP
	default_bind 127.0.0.1
	storage file_system $WORK/caddy
	acme_ca $DIRURL
	acme_ca_root $D/ca/root.pem
	email ops@example.test
}
caddy.example.test, caddy2.example.test {
	respond "served by caddy"
}
C
HOME=$WORK XDG_CONFIG_HOME=$WORK XDG_DATA_HOME=$WORK caddy run --config "$WORK/Caddyfile" \
	--adapter caddyfile >"$WORK/caddy.log" 2>&1 &
CADDY_PID=$!
CAIRN_PIDS="$CAIRN_PIDS $CADDY_PID"
get() { # NAME: the page, over TLS trusting only cairn's root
	curl -sf --max-time 5 --cacert "$D/ca/root.pem" --resolve "$1:$TP:127.0.0.1" "https://$1:$TP/"
}
i=0
while ! get caddy.example.test >/dev/null 2>&1 && [ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
ok "Caddy serves caddy.example.test with a certificate from cairn" get caddy.example.test
last_has "  ... its page" "served by caddy"
ok "  ... and caddy2.example.test" get caddy2.example.test
echo | openssl s_client -connect "127.0.0.1:$TP" -servername caddy.example.test -status \
	-CAfile "$D/ca/root.pem" >"$WORK/sclient.out" 2>&1
openssl s_client -connect "127.0.0.1:$TP" -servername caddy.example.test -showcerts \
	</dev/null 2>/dev/null | openssl x509 >"$WORK/caddy.pem" 2>/dev/null
ok "  ... the certificate chains to the root" cert_verifies "$D" "$WORK/caddy.pem"
ok "  ... with cairn's OCSP answer stapled, good" sh -c "grep -q 'OCSP Response Status: successful' \
	'$WORK/sclient.out' && grep -q 'Cert Status: good' '$WORK/sclient.out'"
[ -s "$WORK/caddy.log" ] && grep -i '"level":"error"' "$WORK/caddy.log" | head -n 5 | sed 's/^/# /'
kill "$CADDY_PID" 2>/dev/null && wait "$CADDY_PID" 2>/dev/null

# ---- a profile that never certifies Must-Staple refuses it, and says why; one that
# always does puts it in a certificate whose CSR did not ask
ca_stop
jq '.profiles["tls-server"].must_staple = "never" | .profiles["tls-client"].must_staple = "always"' \
	"$D/cairn.json" >"$WORK/c.json" && cat "$WORK/c.json" >"$D/cairn.json"
ca_serve "$D" || bail "serve failed"
make_csr plain ec:prime256v1 /CN=device-1 DNS:device-1.example.test
ok "cairn issue, profile tls-client (must_staple \"always\"), a CSR that does not ask" \
	"$CAIRN" issue --dir "$D" --csr "$WORK/plain.csr" --profile tls-client --out "$WORK/plain.pem"
ok "  ... carries Must-Staple" staples "$WORK/plain.pem"
if unshare -m --propagation private true 2>/dev/null; then
	DIRURL=$HTTPS_URL/acme/directory
	python3 -m http.server "$HP" --bind 127.0.0.1 --directory "$WWW" >"$WORK/http.log" 2>&1 &
	CAIRN_PIDS="$CAIRN_PIDS $!"
	waits_port "$HP" || bail "the challenge web server did not start again"
	U=$WORK/uacme2
	ok "a new uacme account" uacme_run new
	fails "uacme -m under a profile whose must_staple is \"never\"" uacme_run -m issue \
		www.example.test
	last_has "  ... badCSR" "urn:ietf:params:acme:error:badCSR"
	last_has "  ... naming the setting" 'profiles.tls-server.must_staple is .{1,2}never'

	ok "  ... the same order without -m is issued" uacme_run issue www.example.test
	fails "  ... and carries no Must-Staple" staples "$U/www.example.test/cert.pem"
fi
ok "every certificate in the database passes certlint" lint_db "$D"
ok "the audit chain verifies" "$CAIRN" audit verify --dir "$D"
done_testing
