#!/bin/sh
# SPDX-License-Identifier: MIT
# After a root rollover (`cairn ca cross-sign`), while the daemon still issues under its
# root: ACME offers an alternate chain through the old root certified by the new one
# (RFC 8555 §7.4.2; certbot --preferred-chain, uacme -l), and EST's /cacerts carries the
# rollover's certificates (RFC 7030 §4.1.3). Clients that trust only the new root then
# validate today's certificates; those that trust the old root see nothing change. Both
# survive a restart (the rollover is read back from the database).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"

command -v certbot >/dev/null || bail "certbot is not installed (scripts/deps.sh)"
command -v uacme >/dev/null || bail "uacme is not installed (scripts/deps.sh)"

D=$WORK/ca
ca_init "$D" || bail "init failed"
ROOT=$D/ca/root.pem
HP=$(free_port)
acme_conf "$D" "{\"validation\": {\"http01_port\": $HP, \"hosts\": {
  \"www.example.test\": \"127.0.0.1\", \"api.example.test\": \"127.0.0.1\",
  \"a1.example.test\": \"127.0.0.1\", \"a2.example.test\": \"127.0.0.1\"}}}"
ca_serve "$D" || bail "serve failed"
export REQUESTS_CA_BUNDLE=$ROOT
# the daemon's ports change at a restart: the URLs are read at each call
CB() {
	certbot --config-dir "$WORK/cb/conf" --work-dir "$WORK/cb/work" --logs-dir "$WORK/cb/logs" \
		--non-interactive --server "$HTTPS_URL/acme/directory" --standalone \
		--http-01-address 127.0.0.1 --http-01-port "$HP" "$@"
}
LIVE=$WORK/cb/conf/live/www.example.test
cacerts() { # OUT: /cacerts as PEM
	curl -sf --cacert "$ROOT" "$HTTPS_URL/.well-known/est/cacerts" | openssl base64 -d |
		openssl pkcs7 -inform DER -print_certs >"$1"
}
# has_cert BUNDLE CERT: CERT (a PEM file) is one of BUNDLE's certificates.
has_cert() {
	want=$(openssl x509 -in "$2" -noout -fingerprint -sha256)
	awk '/BEGIN CERTIFICATE/{n++} {print > ("'"$WORK"'/split." n)}' "$1"
	for f in "$WORK"/split.*; do
		[ "$(openssl x509 -in "$f" -noout -fingerprint -sha256 2>/dev/null)" = "$want" ] &&
			{ rm -f "$WORK"/split.*; return 0; }
	done
	rm -f "$WORK"/split.*
	return 1
}

served_code() { curl -s -o /dev/null -w '%{http_code}' "$HTTP_URL/ca/$1.crt"; }

ok "certbot registers" CB register --agree-tos -m ops@example.test
ok "before any rollover certbot obtains a certificate" CB certonly -d www.example.test
ok "  ... its chain is the issuing CA alone" sh -c "[ \$(grep -c 'BEGIN CERTIFICATE' '$LIVE/chain.pem') -eq 1 ]"
ok "  ... /cacerts answers" cacerts "$WORK/cacerts0.pem"
ok "  ... with the issuing CA and the root" sh -c "[ \$(grep -c 'BEGIN CERTIFICATE' '$WORK/cacerts0.pem') -eq 2 ]"
ok "GET /ca/rollover-root.crt: 404 before any rollover" test "$(served_code rollover-root)" = 404

acme_probe alternate "alternate probe done" a1.example.test none

ok "cairn ca cross-sign makes a new root and both cross-certificates" "$CAIRN" ca cross-sign \
	--dir "$D" "$WORK/ro"
R2=$WORK/ro-root.pem
NEWCN=$(openssl x509 -in "$R2" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p')

check_rollover() { # WHEN: the same checks before and after a restart
	ok "$1: certbot --preferred-chain \"$NEWCN\" gets the alternate chain" CB certonly \
		--force-renewal --preferred-chain "$NEWCN" -d www.example.test
	ok "  ... issuing CA, then the old root certified by the new one" sh -c "
		[ \$(grep -c 'BEGIN CERTIFICATE' '$LIVE/chain.pem') -eq 2 ] &&
		openssl x509 -in '$LIVE/chain.pem' -noout -subject | grep -q 'Issuing CA' &&
		awk 'n==1; /END CERTIFICATE/{n++}' '$LIVE/chain.pem' | openssl x509 -noout -issuer |
		grep -qF '$NEWCN'"
	ok "  ... a client trusting only the new root validates it" openssl verify -CAfile "$R2" \
		-untrusted "$LIVE/chain.pem" "$LIVE/cert.pem"
	fails "  ... the old root alone cannot (its copy in the chain is signed by the new key)" \
		openssl verify -CAfile "$R2" -untrusted "$D/ca/issuing.pem" "$LIVE/cert.pem"
	ok "$1: certbot without a preference gets the default chain" CB certonly --force-renewal \
		-d www.example.test
	ok "  ... the issuing CA alone, validated by the old root" sh -c "
		[ \$(grep -c 'BEGIN CERTIFICATE' '$LIVE/chain.pem') -eq 1 ] &&
		openssl verify -CAfile '$ROOT' -untrusted '$LIVE/chain.pem' '$LIVE/cert.pem'"
	ok "$1: /cacerts adds the new root and both cross-certificates" cacerts "$WORK/cacerts.pem"
	ok "  ... five certificates" sh -c "[ \$(grep -c 'BEGIN CERTIFICATE' '$WORK/cacerts.pem') -eq 5 ]"
	ok "  ... the new root (NewWithNew)" has_cert "$WORK/cacerts.pem" "$R2"
	ok "  ... the new root under the old (NewWithOld)" has_cert "$WORK/cacerts.pem" \
		"$WORK/ro-cross-new-by-old.pem"
	ok "  ... the old root under the new (OldWithNew)" has_cert "$WORK/cacerts.pem" \
		"$WORK/ro-cross-old-by-new.pem"
	for f in root cross-new-by-old cross-old-by-new; do
		ok "$1: GET /ca/rollover-$f.crt is ro-$f.pem" served_is "$HTTP_URL" "rollover-$f" "$WORK/ro-$f.pem"
	done
	ok "  ... another name is still 404" test "$(served_code rollover-cross)" = 404
}
check_rollover "after the rollover"
acme_probe alternate "alternate probe done" a2.example.test one "$WORK/ro-cross-old-by-new.pem"

# uacme -l 1 takes the first alternate; it trusts the system bundle only (a mount
# namespace of its own whose bundle is the new root: it must reach cairn's HTTPS too, so
# the bundle holds both roots).
WWW=$WORK/www
mkdir -p "$WWW/.well-known/acme-challenge"
cat "$ROOT" "$R2" >"$WORK/bundle.pem"
cat >"$WORK/hook.sh" <<H
#!/bin/sh
case "\$1:\$2" in
begin:http-01) printf '%s' "\$5" >"$WWW/.well-known/acme-challenge/\$4" ;;
done:*|failed:*) rm -f "$WWW/.well-known/acme-challenge/\$4" ;;
*) exit 1 ;;
esac
H
chmod +x "$WORK/hook.sh"
if unshare -m --propagation private true 2>/dev/null; then
	python3 -m http.server "$HP" --bind 127.0.0.1 --directory "$WWW" >"$WORK/http.log" 2>&1 &
	WEB_PID=$!
	CAIRN_PIDS="$CAIRN_PIDS $WEB_PID"
	waits_for curl -s -o /dev/null "http://127.0.0.1:$HP/" ||
		bail "the challenge web server did not start"
	uacme_run() {
		unshare -m --propagation private sh -c \
			'mount --bind "$1" /etc/ssl/certs/ca-certificates.crt && shift && exec "$@"' sh \
			"$WORK/bundle.pem" uacme -v -y -c "$WORK/u" -a "$HTTPS_URL/acme/directory" \
			-h "$WORK/hook.sh" "$@"
	}
	ok "uacme makes an account" uacme_run new
	ok "uacme -l 1 takes the alternate chain" uacme_run -l 1 issue api.example.test
	ok "  ... leaf, issuing CA and the old root under the new one" sh -c "
		[ \$(grep -c 'BEGIN CERTIFICATE' '$WORK/u/api.example.test/cert.pem') -eq 3 ] &&
		openssl verify -CAfile '$R2' -untrusted '$WORK/u/api.example.test/cert.pem' \
			'$WORK/u/api.example.test/cert.pem'"
	kill "$WEB_PID" && wait "$WEB_PID" 2>/dev/null # certbot's standalone server takes the port
else
	tap 1 "uacme -l # SKIP no private mount namespace here (unshare -m needs root with CAP_SYS_ADMIN)"
fi

ca_stop
ca_serve "$D" || bail "serve failed"
# certbot keeps an account per directory URL, and the port changed
ok "certbot registers with the restarted daemon" CB register --agree-tos -m ops@example.test
check_rollover "after a restart"
ok "the audit chain verifies" "$CAIRN" audit verify --dir "$D"
done_testing
