#!/bin/sh
# SPDX-License-Identifier: MIT
# EST challengePassword bound to the TLS session (RFC 7030 §3.5, tls-exporter): a device
# that reads its session's exporter (openssl s_client -keymatexport) enrolls; a CSR
# without the binding, or bound to another session, is refused.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
jq '.est.channel_binding = "tls-exporter"' "$D/cairn.json" >"$WORK/cairn.json" &&
	cp "$WORK/cairn.json" "$D/cairn.json" || bail "cannot edit cairn.json"
ca_serve "$D" || bail "cairn serve did not start"
ROOT=$D/ca/root.pem
EST=$HTTPS_URL/.well-known/est
HOSTPORT=${HTTPS_URL#https://}
printf 'binding password\n' >"$WORK/pw"
"$CAIRN" est user add --dir "$D" --name dev --password-file "$WORK/pw" 2>/dev/null ||
	bail "cannot add the EST user"

ok "csrattrs asks for challengePassword" sh -c "curl -sf --cacert '$ROOT' '$EST/csrattrs' |
	openssl base64 -d | openssl asn1parse -inform DER | grep -q challengePassword"

# A CSR with a challengePassword (base64 of the bytes whose hex is $1) for key dev.key.
bound_csr() {
	b64=$(for pair in $(echo "$1" | sed 's/../& /g'); do
		printf "\\$(printf '%03o' "$((0x$pair))")"
	done | openssl base64 -A)
	printf '[req]\nprompt = no\ndistinguished_name = dn\nattributes = attrs\n[dn]\nCN = %s\n[attrs]\nchallengePassword = %s\n' \
		"$2" "$b64" >"$WORK/cb.cnf"
	openssl req -new -key "$WORK/dev.key" -config "$WORK/cb.cnf" -outform DER |
		openssl base64 >"$WORK/$2.b64"
}

# enroll_bound CN: one TLS session (openssl s_client) reads its tls-exporter value, builds
# the CSR with it, and sends the simpleenroll on that same session. Answer in $WORK/CN.out.
enroll_bound() {
	rm -f "$WORK/fifo"
	mkfifo "$WORK/fifo"
	openssl s_client -connect "$HOSTPORT" -CAfile "$ROOT" -keymatexport EXPORTER-Channel-Binding \
		-keymatexportlen 32 <"$WORK/fifo" >"$WORK/$1.out" 2>/dev/null &
	sc=$!
	exec 3>"$WORK/fifo"
	i=0
	while ! grep -q 'Keying material:' "$WORK/$1.out" && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	hex=$(sed -n 's/^ *Keying material: *//p' "$WORK/$1.out")
	bound_csr "$hex" "$1"
	len=$(wc -c <"$WORK/$1.b64")
	auth=$(printf 'dev:binding password' | openssl base64 -A)
	printf 'POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nContent-Type: application/pkcs10\r\nContent-Length: %s\r\nConnection: close\r\n\r\n' \
		"$HOSTPORT" "$auth" "$len" >&3
	cat "$WORK/$1.b64" >&3
	# The daemon closes the connection after answering (Connection: close); s_client exits.
	i=0
	while kill -0 "$sc" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	exec 3>&-
	kill "$sc" 2>/dev/null
	wait "$sc" 2>/dev/null
	[ -n "$hex" ]
}

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/dev.key" 2>/dev/null
ok "s_client exported the session's tls-exporter value" enroll_bound bound-device
ok "a CSR bound to its own TLS session enrolls (200)" grep -q '^HTTP/1.1 200' "$WORK/bound-device.out"
ok "  ... and the answer is the certificate" sh -c "
	sed -n '/^HTTP\/1.1/,\$p' '$WORK/bound-device.out' | sed '1,/^\r\$/d' |
	grep -v '^closed\$' | openssl base64 -d |
	openssl pkcs7 -inform DER -print_certs | grep -q 'subject=CN *= *bound-device'"

make_csr plain ec:P-256 /CN=plain-device
openssl req -in "$WORK/plain.csr" -outform DER | openssl base64 >"$WORK/plain.b64"
ok "a CSR without challengePassword is refused (403)" sh -c "curl -s --cacert '$ROOT' \
	-u 'dev:binding password' -H 'Content-Type: application/pkcs10' --data-binary @'$WORK/plain.b64' \
	-w '%{http_code}' -o '$WORK/plain.out' '$EST/simpleenroll' | grep -qx 403 &&
	grep -q challengePassword '$WORK/plain.out'"
ok "a CSR bound to another TLS session is refused (403)" sh -c "curl -s --cacert '$ROOT' \
	-u 'dev:binding password' -H 'Content-Type: application/pkcs10' \
	--data-binary @'$WORK/bound-device.b64' -w '%{http_code}' -o '$WORK/replay.out' \
	'$EST/simpleenroll' | grep -qx 403 && grep -q 'does not match' '$WORK/replay.out'"

done_testing
