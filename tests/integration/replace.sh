#!/bin/sh
# SPDX-License-Identifier: MIT
# Mass replacement (cairn replace): certificates for several names under one key, issued by
# lego, are marked by that key; renewalInfo asks for renewal now; owners get cert.replace;
# those lego renews are revoked with the campaign's reason, and past the deadline (libfaketime)
# the rest too; a campaign without a reason revokes as superseded; `replace status` reports it. Bad selectors, nothing matching
# and a non-admin caller are refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"
. "$(dirname "$0")/notify_lib.sh"

command -v lego >/dev/null || bail "lego is not installed (scripts/deps.sh)"
command -v pebble-challtestsrv >/dev/null || bail "pebble-challtestsrv is not installed"

D=$WORK/ca
ca_init "$D" || bail "init failed"
dns_start || bail "test DNS server did not start"
HP=$(free_port)
acme_conf "$D" "{\"validation\": {\"dns_server\": \"127.0.0.1:$DNS_PORT\", \"http01_port\": $HP}}"
conf_set "$D" replace '{"interval": "1s"}'
printf 'ops-secret\n' >"$D/ops.secret"
rm -f "$WORK/ops.port"
python3 "$CAIRN_SRCDIR/tests/integration/webhook_sink.py" 0 "$WORK/ops.port" "$D/ops.secret" \
	"$WORK/ops.log" 2>>"$WORK/ops.err" &
CAIRN_PIDS="$CAIRN_PIDS $!"
until_ok test -s "$WORK/ops.port" || bail "webhook receiver did not start"
set_notify "{\"webhooks\": [{\"name\": \"ops\", \"url\": \"http://127.0.0.1:$(cat "$WORK/ops.port")/\",
  \"secret_file\": \"ops.secret\", \"events\": [\"cert.replace\"]}], \"poll_ms\": 100}"
ca_serve "$D" || bail "serve failed"
ROOT=$D/ca/root.pem
ISSUING=$D/ca/issuing.pem
export LEGO_CA_CERTIFICATES="$ROOT"
L="lego --server $HTTPS_URL/acme/directory --path $WORK/lego --email ops@example.test --accept-tos"
LC=$WORK/lego/certificates
cd "$WORK" || bail "no work dir"

# Three names under one (compromised) key, one name under a key of its own.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/shared.key" 2>/dev/null
for n in r1 r2 r3; do
	openssl req -new -key "$WORK/shared.key" -subj "/CN=$n.example.test" \
		-addext "subjectAltName=DNS:$n.example.test" -out "$WORK/$n.csr" 2>/dev/null
	ok "lego issues $n.example.test under the shared key" $L --csr "$WORK/$n.csr" \
		--http --http.port "127.0.0.1:$HP" run
	cp "$LC/$n.example.test.crt" "$WORK/$n.old.pem"
done
ok "lego issues o.example.test under its own key" $L --domains o.example.test \
	--http --http.port "127.0.0.1:$HP" run
SPKI=$(openssl pkey -in "$WORK/shared.key" -pubout -outform DER | sha256sum | cut -d' ' -f1)

# The renewalInfo URL of a certificate (RFC 9773 §4.1: AKI keyIdentifier "." serial).
b64u() { xxd -r -p | base64 -w0 | tr '+/' '-_' | tr -d '='; }
ari_url() {
	aki=$(openssl x509 -in "$1" -noout -ext authorityKeyIdentifier | tail -n1 |
		sed 's/keyid://; s/[: ]//g')
	ser=$(serial_of "$1")
	[ $((${#ser} % 2)) -eq 1 ] && ser=0$ser
	echo "$HTTPS_URL/acme/renewal-info/$(printf %s "$aki" | b64u).$(printf %s "$ser" | b64u)"
}
# window_starts_by PEM LIMIT: the suggested window starts no later than LIMIT (unix time).
window_starts_by() {
	curl -sf --cacert "$ROOT" "$(ari_url "$1")" >"$WORK/ari.json" || return 1
	start=$(jq -r .suggestedWindow.start "$WORK/ari.json")
	[ "$(date -d "$start" +%s)" -le "$2" ]
}
NOW=$(date +%s)
fails "before marking, renewalInfo of r1 does not ask for renewal now" window_starts_by \
	"$WORK/r1.old.pem" $((NOW + 86400))

BY=$(date -u -d '+3 days' +%Y-%m-%dT%H:%M:%SZ)
RA=$(date -u -d '+5 days' +%Y-%m-%dT%H:%M:%SZ)
fails "a malformed key hash is refused" "$CAIRN" replace --dir "$D" --issued-by-key xyz --by "$BY"
last_has "  ... saying what a key hash is" "not a SHA-256 of a SubjectPublicKeyInfo"
fails "a key no certificate has marks nothing: an error" "$CAIRN" replace --dir "$D" \
	--issued-by-key "$(printf nothing | sha256sum | cut -d' ' -f1)" --by "$BY"
last_has "  ... saying nothing matches" "no valid certificate of this CA matches"
fails "two selectors at once are refused" "$CAIRN" replace --dir "$D" --issuer issuing \
	--profile tls-server --by "$BY"
fails "a deadline in the past is refused" "$CAIRN" replace --dir "$D" --issued-by-key "$SPKI" \
	--by 2001-01-01
last_has "  ... saying so" "must be in the future"
"$CAIRN" admin add --dir "$D" --name oscar --role operator >/dev/null 2>&1
"$CAIRN" token create --dir "$D" --name oscar --role operator >"$WORK/oscar.tok" 2>/dev/null
fails "an operator may not start a campaign" "$CAIRN" replace --dir "$D" \
	--token-file "$WORK/oscar.tok" --issued-by-key "$SPKI" --by "$BY"
last_has "  ... 403" "403|forbidden|role"
ok "the operator's attempt: a 403 from the API itself" sh -c "
	curl -s -o /dev/null -w '%{http_code}' --cacert '$ROOT' \
	-H \"Authorization: Bearer \$(cat '$WORK/oscar.tok')\" -H 'Content-Type: application/json' \
	--data '{\"issuer\": \"issuing\", \"by\": \"$BY\"}' '$HTTPS_URL/admin/v1/replace' | grep -qx 403"

ok "cairn replace marks the certificates of the shared key" "$CAIRN" replace --dir "$D" \
	--issued-by-key "$SPKI" --by "$BY" --revoke-after "$RA" --reason keyCompromise \
	--explanation-url https://pki.example.test/replace
last_has "  ... all three, and only them" "marked 3,"
ID=$(sed -n 's/^campaign \([0-9]*\):.*/\1/p' "$WORK/last.out")
NOW=$(date +%s)
ok "renewalInfo of a marked certificate now starts at once" window_starts_by \
	"$WORK/r3.old.pem" "$NOW"
ok "  ... ends by the deadline" sh -c "[ \$(date -d \"\$(jq -r .suggestedWindow.end \
	'$WORK/ari.json')\" +%s) -le $(date -d "$BY" +%s) ]"
ok "  ... with the explanation URL" sh -c \
	"jq -e '.explanationURL == \"https://pki.example.test/replace\"' '$WORK/ari.json'"
fails "renewalInfo of the certificate of another key is unchanged" window_starts_by \
	"$LC/o.example.test.crt" $((NOW + 86400))
for n in r1 r2 r3; do
	ok "the owner's sink gets cert.replace for $n" waits "$WORK/ops.log" \
		"^ok [0-9]+ cert.replace $(serial_of "$WORK/$n.old.pem") "
done
ok "the audit log records the marking" "$CAIRN" audit export --dir "$D"
last_has "  ... replace.mark" "replace.mark"

# key_and_csrs KEY NAME...: a new P-256 key $WORK/KEY.key and a CSR $WORK/NAME.csr for each
# NAME.example.test under it.
key_and_csrs() {
	k=$1
	shift
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/$k.key" 2>/dev/null
	for n in "$@"; do
		openssl req -new -key "$WORK/$k.key" -subj "/CN=$n.example.test" \
			-addext "subjectAltName=DNS:$n.example.test" -out "$WORK/$n.csr" 2>/dev/null
	done
}

# The campaign retires the shared key: no channel certifies it again.
openssl req -new -key "$WORK/shared.key" -subj "/CN=r4.example.test" \
	-addext "subjectAltName=DNS:r4.example.test" -out "$WORK/r4.csr" 2>/dev/null
fails "lego gets no new certificate for the retired key" $L --csr "$WORK/r4.csr" \
	--http --http.port "127.0.0.1:$HP" run
last_has "  ... badPublicKey, naming the campaign" \
	"badPublicKey.*retired by replacement campaign $ID"
fails "cairn issue refuses the retired key too" "$CAIRN" issue --dir "$D" --csr "$WORK/r4.csr" \
	--profile tls-server
last_has "  ... saying why" "retired by replacement campaign $ID"
# A key whose certificate was revoked for keyCompromise is blocked the same way.
key_and_csrs k k1 k2
ok "lego issues k1.example.test" $L --csr "$WORK/k1.csr" --http --http.port "127.0.0.1:$HP" run
ok "cairn revoke k1 for keyCompromise" "$CAIRN" revoke --dir "$D" \
	"$(serial_of "$LC/k1.example.test.crt")" --reason keyCompromise
fails "lego gets no certificate for that key, even for another name" $L --csr "$WORK/k2.csr" \
	--http --http.port "127.0.0.1:$HP" run
last_has "  ... badPublicKey: revoked for keyCompromise" \
	"badPublicKey.*$(serial_of "$LC/k1.example.test.crt") was revoked for keyCompromise"

# A campaign started by mistake is cancelled: nothing of it is revoked later, renewalInfo
# answers as before, the key is no longer blocked, and its certificate can be marked again.
key_and_csrs c c1 c2
ok "lego issues c1.example.test" $L --csr "$WORK/c1.csr" --http --http.port "127.0.0.1:$HP" run
cp "$LC/c1.example.test.crt" "$WORK/c1.old.pem"
CSPKI=$(openssl pkey -in "$WORK/c.key" -pubout -outform DER | sha256sum | cut -d' ' -f1)
ok "a key campaign on c1's key" "$CAIRN" replace --dir "$D" --issued-by-key "$CSPKI" \
	--by "$BY" --revoke-after "$RA" --reason keyCompromise
CID=$(sed -n 's/^campaign \([0-9]*\):.*/\1/p' "$WORK/last.out")
ok "  ... c1's renewalInfo starts now" window_starts_by "$WORK/c1.old.pem" "$(date +%s)"
fails "  ... and its key is blocked" $L --csr "$WORK/c2.csr" --http --http.port "127.0.0.1:$HP" run
ok "an operator may not cancel it: 403" sh -c "
	curl -s -o /dev/null -w '%{http_code}' --cacert '$ROOT' -X POST \
	-H \"Authorization: Bearer \$(cat '$WORK/oscar.tok')\" \
	'$HTTPS_URL/admin/v1/replace/$CID/cancel' | grep -qx 403"
fails "cancelling a campaign that does not exist" "$CAIRN" replace cancel 999 --dir "$D"
last_has "  ... says so" "no campaign 999"
ok "cairn replace cancel" "$CAIRN" replace cancel "$CID" --dir "$D" --json
cp "$WORK/last.out" "$WORK/cancel.json"
ok "  ... the campaign is cancelled, nothing pending, c1 unmarked" jq -e \
	'.state == "cancelled" and .pending == 0 and .unmarked == 1 and .cancelled_by == "admin:bootstrap"' \
	"$WORK/cancel.json"
fails "  ... c1's renewalInfo no longer asks for renewal now" window_starts_by \
	"$WORK/c1.old.pem" "$(date +%s)"
ok "  ... the key is no longer blocked" $L --csr "$WORK/c2.csr" --http --http.port "127.0.0.1:$HP" run
fails "cancelling it twice is refused" "$CAIRN" replace cancel "$CID" --dir "$D"
last_has "  ... 409, naming the state" "is cancelled"
ok "the audit log records the cancel" "$CAIRN" audit export --dir "$D" --unsigned
last_has "  ... replace.cancel by the admin" '"action":"replace.cancel".*"actor":"admin:bootstrap"|"actor":"admin:bootstrap".*"action":"replace.cancel"'
# A keyCompromise revocation during a key campaign outlives the campaign's cancel (b3
# keeps the campaign active whatever its rounds do meanwhile).
key_and_csrs b b1 b2 b3
for n in b1 b3; do
	ok "lego issues $n.example.test" $L --csr "$WORK/$n.csr" --http --http.port "127.0.0.1:$HP" run
done
ok "a key campaign on b1's key" "$CAIRN" replace --dir "$D" --by "$BY" --issued-by-key \
	"$(openssl pkey -in "$WORK/b.key" -pubout -outform DER | sha256sum | cut -d' ' -f1)"
BID=$(sed -n 's/^campaign \([0-9]*\):.*/\1/p' "$WORK/last.out")
ok "  ... then b1 is revoked for keyCompromise" "$CAIRN" revoke --dir "$D" \
	"$(serial_of "$LC/b1.example.test.crt")" --reason keyCompromise
ok "  ... and the campaign cancelled" "$CAIRN" replace cancel "$BID" --dir "$D"
fails "the key stays blocked" $L --csr "$WORK/b2.csr" --http --http.port "127.0.0.1:$HP" run
last_has "  ... by the revocation" "was revoked for keyCompromise"

# A serial list: a bad line is refused before anything is sent; then only o is marked (no
# deadline: it stays pending until a successor comes).
printf '# incident 42\n%s\nnot-a-serial\n' "$(serial_of "$LC/o.example.test.crt")" >"$WORK/bad.list"
fails "a serial file with a bad line is refused" "$CAIRN" replace --dir "$D" --file "$WORK/bad.list" \
	--by "$BY"
last_has "  ... naming the line" "bad.list:3: not a serial"
printf '# incident 42\n%s\n%s\n' "$(serial_of "$LC/o.example.test.crt")" \
	"$(serial_of "$WORK/r1.old.pem")" >"$WORK/ok.list"
ok "a serial file marks what it lists and no campaign has yet" "$CAIRN" replace --dir "$D" \
	--file "$WORK/ok.list" --by "$BY"
last_has "  ... o only (r1 belongs to the key campaign)" "marked 1,"
FILE_ID=$(sed -n 's/^campaign \([0-9]*\):.*/\1/p' "$WORK/last.out")

# lego renews two of them (with a new key): each old one gets revoked with the campaign's
# reason (keyCompromise: the key they share is compromised, successor or not).
for n in r1 r2; do
	ok "lego renews $n.example.test" $L --domains "$n.example.test" \
		--http --http.port "127.0.0.1:$HP" renew --days 3650 --no-random-sleep
done
replaced() {
	"$CAIRN" replace status "$ID" --dir "$D" --json >"$WORK/st.json" &&
		jq -e ".replaced == $1 and .revoked == $2 and .pending == $3" "$WORK/st.json"
}
ok "replace status: two replaced, one pending" until_ok replaced 2 0 1
for n in r1 r2; do
	ok "OCSP: the replaced $n certificate is revoked for keyCompromise" sh -c \
		"$(command -v openssl) ocsp -issuer '$ISSUING' -cert '$WORK/$n.old.pem' \
		-url '$HTTP_URL/ocsp' -CAfile '$ROOT' 2>&1 | grep -qi 'reason: *keyCompromise'"
	ok "  ... its successor is good" sh -c "$(command -v openssl) ocsp -issuer '$ISSUING' \
		-cert '$LC/$n.example.test.crt' -url '$HTTP_URL/ocsp' -CAfile '$ROOT' 2>&1 |
		grep -q ': good'"
done
ok "OCSP: the unreplaced r3 certificate is still good" sh -c "$(command -v openssl) ocsp \
	-issuer '$ISSUING' -cert '$WORK/r3.old.pem' -url '$HTTP_URL/ocsp' -CAfile '$ROOT' 2>&1 |
	grep -q ': good'"
ok "the audit log records the revocation round" "$CAIRN" audit export --dir "$D"
last_has "  ... replace.revoke" "replace.revoke"

# Past revoke_after: the daemon, restarted there, revokes the rest with the given reason.
ca_stop
keep_https_port "$D"
ca_serve_at "$D" FAKETIME=+6d || bail "serve under faketime failed"
ok "past the deadline, the unreplaced one is revoked" until_ok replaced 2 1 0
ok "  ... and the campaign is done" jq -e '.state == "done"' "$WORK/st.json"
ok "OCSP: r3 is revoked for keyCompromise" sh -c "LD_PRELOAD='$FAKETIME_LIB' FAKETIME=+6d \
	$(command -v openssl) ocsp -issuer '$ISSUING' -cert '$WORK/r3.old.pem' \
	-url '$HTTP_URL/ocsp' -CAfile '$ROOT' 2>&1 | grep -qi 'reason: *keyCompromise'"
ok "OCSP: the other key's certificate is untouched" sh -c "LD_PRELOAD='$FAKETIME_LIB' \
	FAKETIME=+6d $(command -v openssl) ocsp -issuer '$ISSUING' -cert '$LC/o.example.test.crt' \
	-url '$HTTP_URL/ocsp' -CAfile '$ROOT' 2>&1 | grep -q ': good'"
ok "OCSP: c1 of the cancelled campaign is still good" sh -c "LD_PRELOAD='$FAKETIME_LIB' \
	FAKETIME=+6d $(command -v openssl) ocsp -issuer '$ISSUING' -cert '$WORK/c1.old.pem' \
	-url '$HTTP_URL/ocsp' -CAfile '$ROOT' 2>&1 | grep -q ': good'"
ok "replace status (text) reports it" "$CAIRN" replace status "$ID" --dir "$D"
last_has "  ... counts" "marked 3, replaced 2, revoked 1, pending 0"
ok "replace list --json holds the campaigns" sh -c "'$CAIRN' replace list --dir '$D' --json |
	jq -e '.items | map(.state) == [\"empty\", \"done\", \"cancelled\", \"cancelled\", \"active\"]'"
ok "the serial-list campaign keeps o pending (no deadline, no successor)" sh -c "
	'$CAIRN' replace status $FILE_ID --dir '$D' --json | jq -e '.pending == 1 and .revoked == 0'"
# o's owner renews it: a campaign without --reason revokes the replaced one as superseded.
cp "$LC/o.example.test.crt" "$WORK/o.old.pem"
ok "lego renews o.example.test" $L --domains o.example.test --http --http.port "127.0.0.1:$HP" \
	renew --days 3650 --no-random-sleep
ok "the serial-list campaign: o replaced, done" until_ok sh -c "
	'$CAIRN' replace status $FILE_ID --dir '$D' --json |
	jq -e '.replaced == 1 and .pending == 0 and .state == \"done\"'"
ok "OCSP: the old o is revoked as superseded (the default reason)" sh -c "\
	LD_PRELOAD='$FAKETIME_LIB' FAKETIME=+6d $(command -v openssl) ocsp -issuer '$ISSUING' \
	-cert '$WORK/o.old.pem' -url '$HTTP_URL/ocsp' -CAfile '$ROOT' 2>&1 |
	grep -qi 'reason: *superseded'"
ok "every certificate in the database passes certlint" lint_db "$D"
done_testing
