#!/bin/sh
# SPDX-License-Identifier: MIT
# EST challengePassword bound to the TLS session (RFC 7030 §3.5, tls-exporter): a device
# that reads its session's exporter (openssl s_client -keymatexport) enrolls; a CSR
# without the binding, or bound to another session, is refused; a request that waited for
# an approver is collected on a later session with the CSR bound to that session.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
jq '.est.channel_binding = "tls-exporter"' "$D/cairn.json" >"$WORK/cairn.json" &&
	cp "$WORK/cairn.json" "$D/cairn.json" || bail "cannot edit cairn.json"
# Devices named held-* wait for one approval.
cat >"$D/policy.json" <<'JSON'
{"rules": [
  {"name": "held", "match": {"channel": "est", "subject_cn_prefix": "held-"},
   "action": "approve", "approvals": 1},
  {"name": "default", "match": {}, "action": "issue"}
]}
JSON
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
	# (up to 30 s: under ASan on a loaded machine a handshake once took more than 10)
	i=0
	while ! grep -q 'Keying material:' "$WORK/$1.out" && [ $i -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	hex=$(sed -n 's/^ *Keying material: *//p' "$WORK/$1.out")
	if [ -z "$hex" ]; then
		echo "# enroll_bound $1: no tls-exporter value from s_client after $((i / 10)) s"
		exec 3>&-
		kill "$sc" 2>/dev/null
		wait "$sc" 2>/dev/null
		return 1
	fi
	bound_csr "$hex" "$1"
	len=$(wc -c <"$WORK/$1.b64")
	auth=$(printf 'dev:binding password' | openssl base64 -A)
	printf 'POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nContent-Type: application/pkcs10\r\nContent-Length: %s\r\nConnection: close\r\n\r\n' \
		"$HOSTPORT" "$auth" "$len" >&3
	cat "$WORK/$1.b64" >&3
	# The daemon closes the connection after answering (Connection: close); s_client exits.
	i=0
	while kill -0 "$sc" 2>/dev/null && [ $i -lt 300 ]; do
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

# A request that waits for an approver is repeated on a later TLS session (RFC 7030 §4.2.3):
# the CSR then carries that session's binding, and it is the same request all the same
# (the same key, subject and extensions). It used to be keyed with the challengePassword:
# every retry was a new request for the approvers, and the approved one was never collected.
# status_of CN: the HTTP status of the answer in $WORK/CN.out.
status_of() { sed -n 's/^HTTP\/1.1 \([0-9]*\).*/\1/p' "$WORK/$1.out" | head -n 1; }
pending_count() { "$CAIRN" requests list --dir "$D" --json 2>/dev/null | jq '.items | length'; }
enroll_bound held-device
ok "a held device's bound CSR waits for approval (202)" test "$(status_of held-device)" = 202
HELD=$(grep -Eo 'request [0-9a-f]{32}' "$WORK/held-device.out" | head -n 1 | cut -d' ' -f2)
enroll_bound held-device
ok "  ... repeated on a new session, bound to it: the same request (202)" sh -c "
	[ '$(status_of held-device)' = 202 ] && grep -q 'request $HELD' '$WORK/held-device.out'"
ok "  ... and no second request for the approvers" test "$(pending_count)" -eq 1
ok "  ... approved" "$CAIRN" requests approve "$HELD" --dir "$D"
enroll_bound held-device
ok "  ... then collected on a new session (200)" test "$(status_of held-device)" = 200
ok "  ... the certificate for the device's key" sh -c "
	sed -n '/^HTTP\/1.1/,\$p' '$WORK/held-device.out' | sed '1,/^\r\$/d' |
	grep -v '^closed\$' | openssl base64 -d | openssl pkcs7 -inform DER -print_certs |
	openssl x509 -noout -pubkey >'$WORK/held.pub' &&
	openssl pkey -in '$WORK/dev.key' -pubout | cmp -s - '$WORK/held.pub'"
ok "  ... the CSR bound to an earlier session is still refused (403)" sh -c "curl -s \
	--cacert '$ROOT' -u 'dev:binding password' -H 'Content-Type: application/pkcs10' \
	--data-binary @'$WORK/held-device.b64' -w '%{http_code}' -o /dev/null \
	'$EST/simpleenroll' | grep -qx 403"

done_testing
