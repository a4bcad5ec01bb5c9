#!/bin/sh
# SPDX-License-Identifier: MIT
# E-mail through a loopback SMTP server (aiosmtpd) that offers STARTTLS with a certificate
# cairn issued and wants AUTH: mail goes over TLS with the password, the server's
# certificate is checked against notify.smtp.ca_file; a wrong password is a failed (then
# dead-lettered) delivery in `cairn notify list`; starttls "require" refuses a server
# without STARTTLS; a CA file the server's certificate does not chain to refuses it; AUTH
# in clear is refused at config check.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"
. "$CAIRN_SRCDIR/tests/integration/notify_lib.sh"

PY=/usr/bin/python3
$PY -c 'import aiosmtpd' 2>/dev/null || bail "python3-aiosmtpd is not installed (scripts/deps.sh)"
D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
C() { "$CAIRN" "$@" --dir "$D"; }

# has FILE REGEX: FILE has a line matching REGEX.
has() { grep -Eq -- "$2" "$1"; }
# listed REGEX: `cairn notify list` (kept in $WORK/list.out) has a line matching REGEX.
listed() { C notify list >"$WORK/list.out" 2>&1 && grep -Eq -- "$1" "$WORK/list.out"; }
issue() {
	make_csr "$1" ec:P-256 "/CN=$1.dev.test" "DNS:$1.dev.test"
	C issue --csr "$WORK/$1.csr" --profile tls-server --out "$WORK/$1.pem" >/dev/null 2>&1
}

# The mail server's certificate, issued by this CA for "localhost" (the name in the URL).
ca_serve "$D" || bail "cairn serve did not start"
make_csr mx ec:P-256 /CN=localhost "DNS:localhost"
C issue --csr "$WORK/mx.csr" --profile tls-server --out "$WORK/mx.pem" >/dev/null 2>&1 ||
	bail "could not issue the mail server's certificate"
cat "$WORK/mx.pem" "$D/ca/issuing.pem" >"$WORK/mx-chain.pem"
ca_stop
smtp_sink tls --tls "$WORK/mx-chain.pem" "$WORK/mx.key" --auth cairn 'right-password' ||
	bail "SMTP sink did not start: $(cat "$WORK/tls.err")"
smtp_sink plain || bail "SMTP sink did not start: $(cat "$WORK/plain.err")"
TLS_PORT=$(cat "$WORK/tls.port")
PLAIN_PORT=$(cat "$WORK/plain.port")
printf 'right-password\n' >"$D/smtp.password"

set_notify "{\"smtp\": {\"url\": \"smtp://127.0.0.1:$PLAIN_PORT\", \"from\": \"cairn@example.test\",
  \"user\": \"cairn\", \"password_file\": \"smtp.password\", \"starttls\": \"none\"},
  \"email\": [{\"name\": \"ops\", \"to\": [\"ops@example.test\"]}]}"
fails "starttls none with a user on smtp:// is refused (the password would cross in clear)" C config check
last_has "  ... naming the key" "notify.smtp.starttls"
set_notify "{\"smtp\": {\"url\": \"smtp://127.0.0.1:1\", \"from\": \"cairn@example.test\", \"starttls\": \"sometimes\"}}"
fails "an unknown starttls mode is refused" C config check
last_has "  ... naming the key" "notify.smtp.starttls"

# ---- STARTTLS, verified against the CA file, and AUTH ----
set_notify "{\"poll_ms\": 100, \"backoff_ms\": 100, \"backoff_max_ms\": 200,
  \"smtp\": {\"url\": \"smtp://localhost:$TLS_PORT\", \"from\": \"cairn@example.test\",
    \"user\": \"cairn\", \"password_file\": \"smtp.password\", \"starttls\": \"require\",
    \"ca_file\": \"ca/root.pem\"},
  \"email\": [{\"name\": \"ops\", \"to\": [\"ops@example.test\"], \"events\": [\"cert.issued\"],
    \"max_tries\": 2}]}"
ok "cairn config check accepts starttls and ca_file" C config check
ca_serve "$D" || bail "cairn serve did not start"
ok "issue a certificate" issue one
S1=$(serial_of "$WORK/one.pem")
ok "the message reaches the server" until_ok has "$WORK/tls.log" "cert.issued $S1"
ok "  ... over STARTTLS, after AUTH as the configured user" sh -c \
	"grep 'cert.issued $S1' '$WORK/tls.log' | grep -q '\"tls\": true, \"user\": \"cairn\"'"
ok "  ... and the mail carries no secret (no password, no key)" sh -c \
	"! grep -Eq 'right-password|PRIVATE KEY' '$WORK/tls.log'"
ca_stop

# ---- a wrong password: a failed delivery, then a dead letter, in cairn notify list ----
printf 'wrong-password\n' >"$D/smtp.password"
ca_serve "$D" || bail "cairn serve did not restart"
ok "issue another certificate" issue two
S2=$(serial_of "$WORK/two.pem")
ok "with a wrong password the delivery fails and is dead-lettered (cairn notify list)" \
	until_ok listed "^ops +[0-9]+ +cert.issued"
ok "  ... the list says why (the login was refused)" grep -Eqi "login|auth|denied" "$WORK/list.out"
ok "  ... the server saw the refused AUTH" grep -q '"refused": "auth"' "$WORK/tls.log"
ok "  ... and got no message for it" sh -c "! grep -q 'cert.issued $S2' '$WORK/tls.log'"
ca_stop

# ---- starttls require against a server without STARTTLS ----
printf 'right-password\n' >"$D/smtp.password"
set_notify "{\"poll_ms\": 100, \"backoff_ms\": 100, \"backoff_max_ms\": 200,
  \"smtp\": {\"url\": \"smtp://127.0.0.1:$PLAIN_PORT\", \"from\": \"cairn@example.test\",
    \"starttls\": \"require\"},
  \"email\": [{\"name\": \"plain\", \"to\": [\"ops@example.test\"], \"events\": [\"cert.issued\"],
    \"max_tries\": 2}]}"
ca_serve "$D" || bail "cairn serve did not restart"
ok "issue a third certificate" issue three
S3=$(serial_of "$WORK/three.pem")
ok "starttls require: a server without STARTTLS is refused (a dead letter)" \
	until_ok listed "^plain +[0-9]+ +cert.issued"
ok "  ... the plain server got no message" sh -c "! grep -q 'cert.issued' '$WORK/plain.log'"
ca_stop

# ---- a CA file the server's certificate does not chain to ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/other.key" \
	-out "$D/other-ca.pem" -subj /CN=other-ca -days 30 2>/dev/null
set_notify "{\"poll_ms\": 100, \"backoff_ms\": 100, \"backoff_max_ms\": 200,
  \"smtp\": {\"url\": \"smtp://localhost:$TLS_PORT\", \"from\": \"cairn@example.test\",
    \"user\": \"cairn\", \"password_file\": \"smtp.password\", \"ca_file\": \"other-ca.pem\"},
  \"email\": [{\"name\": \"strict\", \"to\": [\"ops@example.test\"], \"events\": [\"cert.issued\"],
    \"max_tries\": 2}]}"
ca_serve "$D" || bail "cairn serve did not restart"
ok "issue a fourth certificate" issue four
S4=$(serial_of "$WORK/four.pem")
ok "a server certificate that does not chain to ca_file is refused (a dead letter)" \
	until_ok listed "^strict +[0-9]+ +cert.issued"
ok "  ... the list says it is the certificate" grep -Eqi "certificate|SSL|peer" "$WORK/list.out"
ok "  ... and no message went" sh -c "! grep -q 'cert.issued $S4' '$WORK/tls.log'"
ca_stop
done_testing
