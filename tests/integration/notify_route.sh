#!/bin/sh
# SPDX-License-Identifier: MIT
# Who is told what, by e-mail through a loopback SMTP sink: the owner of a certificate (the
# ACME account's contact via lego, the EST user's address, the requesting admin's) gets
# its notices and nobody else's; the approvers who may decide a pending request (by role,
# not the requester, with an address) get request.pending and nobody else; a route by
# issuer; an ACME renewal says cert.renewed with the old serial; the daily digest (one
# message per recipient per day, under libfaketime across midnight, nothing lost to a
# kill -9, nothing sent twice after a restart); past the 30-day threshold only the renewed
# certificate is reported expiring, never the one it superseded.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"
. "$CAIRN_SRCDIR/tests/integration/acme_lib.sh"
. "$CAIRN_SRCDIR/tests/integration/est_lib.sh"
. "$CAIRN_SRCDIR/tests/integration/notify_lib.sh"

PY=/usr/bin/python3
$PY -c 'import aiosmtpd' 2>/dev/null || bail "python3-aiosmtpd is not installed (scripts/deps.sh)"
command -v lego >/dev/null || bail "lego is not installed (scripts/deps.sh)"
command -v pebble-challtestsrv >/dev/null || bail "pebble-challtestsrv is not installed"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
C() { "$CAIRN" "$@" --dir "$D"; }
cat >"$D/policy.json" <<'JSON'
{"rules": [
  {"name": "prod", "match": {"dns_suffix": [".prod.test"]}, "action": "approve", "approvals": 1},
  {"name": "ops", "match": {"dns_suffix": [".ops.test"]}, "action": "approve", "approvals": 1,
   "approver_role": "operator"},
  {"name": "default", "match": {}, "action": "issue"}
]}
JSON
MAIL=$WORK/mail.log
smtp_sink mail || bail "SMTP sink did not start: $(cat "$WORK/mail.err")"
SMTP_PORT=$(cat "$WORK/mail.port")
dns_start || bail "test DNS server did not start"
HP=$(free_port)
acme_conf "$D" "{\"validation\": {\"dns_server\": \"127.0.0.1:$DNS_PORT\", \"http01_port\": $HP}}"

set_notify "{\"email\": [{\"name\": \"x\", \"events\": [\"cert.issued\"]}],
  \"smtp\": {\"url\": \"smtp://127.0.0.1:1\", \"from\": \"cairn@example.test\"}}"
fails "an e-mail sink with neither to nor to_owner/to_approvers is refused" C config check
last_has "  ... naming the key" "notify.email\[0\].to"
set_notify "{\"email\": [{\"name\": \"x\", \"to_owner\": \"yes\"}],
  \"smtp\": {\"url\": \"smtp://127.0.0.1:1\", \"from\": \"cairn@example.test\"}}"
fails "to_owner must be a boolean" C config check
last_has "  ... naming the key" "notify.email\[0\].to_owner"
set_notify "{\"email\": [{\"name\": \"x\", \"to\": [\"a@example.test\"], \"mode\": \"weekly\"}],
  \"smtp\": {\"url\": \"smtp://127.0.0.1:1\", \"from\": \"cairn@example.test\"}}"
fails "an unknown mode is refused" C config check
last_has "  ... naming the key" "notify.email\[0\].mode"
# The digest sink comes first: the worker flushes it before it serves the sinks after it.
set_notify "{\"poll_ms\": 100, \"backoff_ms\": 100, \"backoff_max_ms\": 400,
  \"smtp\": {\"url\": \"smtp://127.0.0.1:$SMTP_PORT\", \"from\": \"cairn@example.test\"},
  \"email\": [
    {\"name\": \"daily\", \"to\": [\"pki@example.test\"], \"to_owner\": true, \"mode\": \"digest\",
     \"events\": [\"cert.issued\", \"cert.renewed\"]},
    {\"name\": \"owners\", \"to_owner\": true,
     \"events\": [\"cert.issued\", \"cert.renewed\", \"cert.expiring\", \"request.pending\"]},
    {\"name\": \"approvers\", \"to_approvers\": true, \"events\": [\"request.pending\"]},
    {\"name\": \"by-issuer\", \"to\": [\"issuing-team@example.test\"], \"events\": [\"cert.issued\"],
     \"match\": {\"issuer\": [\"issuing\"]}},
    {\"name\": \"other-issuer\", \"to\": [\"nobody@example.test\"], \"match\": {\"issuer\": [\"nosuch\"]}},
    {\"name\": \"ca-team\", \"to\": [\"pki-ca@example.test\"], \"to_owner\": true, \"events\": [\"ca.expiring\"]}]}"
ok "cairn config check accepts owners, approvers, digest and issuer routes" C config check
# Event ids from 1001 on: their big-endian bytes are no UTF-8 text (a digest whose entries'
# keys were carried as JSON strings was never sent, or sent again and again).
"$CAIRN_TOOLS/tools/notify_fill" "$D/db" seq 1000 || bail "notify_fill seq failed"
ca_serve "$D" || bail "cairn serve did not start"

# ---- the people: admins with and without addresses, an EST user with one ----
ok "admin add with --email (the requester, role admin)" \
	C admin add --name olivia --role admin --email olivia@example.test
ok "approver alice with an address" C admin add --name alice --role approver --email alice@example.test
ok "approver bob without one" C admin add --name bob --role approver
ok "auditor carol (may not approve)" C admin add --name carol --role auditor --email carol@example.test
ok "admin dave (may approve anything)" C admin add --name dave --role admin --email dave@example.test
ok "operator frank (may approve the ops rule only)" \
	C admin add --name frank --role operator --email frank@example.test
fails "an admin address that is not one address is refused" \
	C admin add --name mallory --role approver --email 'a@b.test, c@d.test'
"$CAIRN" token create --dir "$D" --name olivia --role admin >"$WORK/olivia.tok" 2>/dev/null ||
	bail "token create failed"
printf 'correct horse battery\n' >"$WORK/pw"
ok "est user add with --email" C est user add --name dev1 --password-file "$WORK/pw" \
	--email dev1@example.test
fails "an EST user address with a line break is refused" C est user add --name dev2 \
	--password-file "$WORK/pw" --email "$(printf 'dev2@example.test\nBcc: x@evil.test')"

# mailed ADDR TYPE SERIAL-OR-ID: a message whose envelope includes ADDR and whose subject
# is "[cairn] TYPE SERIAL-OR-ID" arrived; wait_mail waits for one (bounded).
mailed() {
	[ "$(jq -c --arg a "$1" --arg s "[cairn] $2 $3" \
		'select(.subject == $s and (.to | index($a)))' "$MAIL" 2>/dev/null | wc -l)" -ge 1 ]
}
wait_mail() { until_ok mailed "$@"; }
# as_olivia NAME: POSTs NAME.csr to the admin API with olivia's token (she is the requester):
# the answer in NAME.json, a certificate's chain in NAME.pem.
as_olivia() {
	jq -n --rawfile c "$WORK/$1.csr" '{csr: $c, profile: "tls-server"}' >"$WORK/$1.req" &&
		curl -s --cacert "$D/ca/root.pem" -H "Authorization: Bearer $(cat "$WORK/olivia.tok")" \
			-H 'Content-Type: application/json' --data-binary "@$WORK/$1.req" \
			"$HTTPS_URL/admin/v1/certificates" >"$WORK/$1.json" &&
		jq -r '.chain // empty' "$WORK/$1.json" >"$WORK/$1.pem"
}

# ---- ACME: lego with a contact address; then a renewal ----
export LEGO_CA_CERTIFICATES="$D/ca/root.pem"
L="lego --server $HTTPS_URL/acme/directory --path $WORK/lego --email owner-acme@example.test --accept-tos"
cd "$WORK" || bail "no work dir"
ok "lego gets a certificate for www.acme.test (contact mailto:owner-acme@example.test)" \
	$L --domains www.acme.test --http --http.port "127.0.0.1:$HP" run
SA=$(serial_of "$WORK/lego/certificates/www.acme.test.crt")
ok "the ACME account's contact is told cert.issued" wait_mail owner-acme@example.test cert.issued "$SA"
ok "lego renews it (forced)" $L --domains www.acme.test --http --http.port "127.0.0.1:$HP" \
	renew --days 3650 --no-random-sleep
SA2=$(serial_of "$WORK/lego/certificates/www.acme.test.crt")
ok "  ... a new certificate" test "$SA" != "$SA2"
ok "the contact is told cert.renewed with the old serial" \
	wait_mail owner-acme@example.test cert.renewed "$SA"
ok "  ... which names the new one (superseded_by)" sh -c "jq -r 'select(.subject == \"[cairn] cert.renewed $SA\") | .body' '$MAIL' | grep -q '\"superseded_by\": \"$SA2\"'"

# ---- EST: an account with an address ----
ROOT=$D/ca/root.pem
EST=$HTTPS_URL/.well-known/est
make_csr dev ec:P-256 /CN=device-1 "DNS:device-1.iot.test"
b64csr dev
BODY=$WORK/dev.b64
est_post enroll simpleenroll -u 'dev1:correct horse battery'
ok "EST simpleenroll as dev1" status_is enroll 200
p7cert enroll
SE=$(serial_of "$WORK/enroll.pem")
ok "the EST user's address is told cert.issued" wait_mail dev1@example.test cert.issued "$SE"

# ---- admin API: olivia asks ----
make_csr app ec:P-256 /CN=app.dev.test "DNS:app.dev.test"
ok "olivia issues app.dev.test through the admin API" as_olivia app
SO=$(serial_of "$WORK/app.pem")
ok "the requesting admin is told cert.issued" wait_mail olivia@example.test cert.issued "$SO"
ok "the issuer route tells the issuing CA's team" wait_mail issuing-team@example.test cert.issued "$SO"

make_csr prod ec:P-256 /CN=api.prod.test "DNS:api.prod.test"
as_olivia prod
R1=$(jq -r '.request // empty' "$WORK/prod.json")
make_csr ops ec:P-256 /CN=x.ops.test "DNS:x.ops.test"
as_olivia ops
R2=$(jq -r '.request // empty' "$WORK/ops.json")
ok "two requests wait for approval (prod: approvers; ops: operators)" sh -c "[ -n '$R1' ] && [ -n '$R2' ]"
ok "the requester is told request.pending" wait_mail olivia@example.test request.pending "$R1"
ok "the approvers are told: alice and dave get the prod request" until_ok jq -e -s \
	--arg s "[cairn] request.pending $R1" --argjson to '["alice@example.test", "dave@example.test"]' \
	'map(select(.subject == $s and (.to | sort) == $to)) | length == 1' "$MAIL"
ok "  ... and frank and dave the ops request (its rule asks for an operator)" until_ok jq -e -s \
	--arg s "[cairn] request.pending $R2" --argjson to '["dave@example.test", "frank@example.test"]' \
	'map(select(.subject == $s and (.to | sort) == $to)) | length == 1' "$MAIL"
ok "no one else is told of a pending request: no auditor, no approver without an address or the rule's role" sh -c "
	jq -r 'select(.subject | startswith(\"[cairn] request.pending\")) | .to[]' '$MAIL' | sort -u >'$WORK/pending.to' &&
	[ \"\$(cat '$WORK/pending.to' | tr '\\n' ' ')\" = 'alice@example.test dave@example.test frank@example.test olivia@example.test ' ] &&
	! jq -c 'select(.subject == \"[cairn] request.pending $R2\") | .to[]' '$MAIL' | grep -q alice &&
	! jq -c 'select(.subject == \"[cairn] request.pending $R1\") | .to[]' '$MAIL' | grep -q frank"
ok "  ... and the requester, who may not approve her own request, only as its owner" sh -c "
	[ \$(jq -c 'select((.subject | startswith(\"[cairn] request.pending\")) and (.to | index(\"olivia@example.test\")))' '$MAIL' |
	  jq -s 'map(.to | length) | max') -eq 1 ]"
ok "each owner heard only of their own certificates" sh -c "
	! jq -r 'select(.to | index(\"owner-acme@example.test\")) | .subject' '$MAIL' | grep -Ev '$SA|$SA2' | grep -q . &&
	! jq -r 'select(.to | index(\"dev1@example.test\")) | .subject' '$MAIL' | grep -v '$SE' | grep -q . &&
	! jq -r 'select(.to | index(\"olivia@example.test\")) | .subject' '$MAIL' | grep -Ev '$SO|$R1|$R2' | grep -q ."
ok "the route by another issuer got nothing" sh -c "! grep -q nobody@example.test '$MAIL'"
ok "mails carry no secret (no key, no token, no password)" sh -c "
	! grep -Eq 'PRIVATE KEY|correct horse|$(cut -c1-20 "$WORK/olivia.tok")' '$MAIL'"

# ---- the digest: nothing before midnight; kill -9 right after an issuance ----
ok "no digest went out the same day" sh -c "! grep -q 'digest' '$MAIL'"
make_csr late ec:P-256 /CN=late.dev.test "DNS:late.dev.test"
ok "olivia issues one more certificate" as_olivia late
SL=$(serial_of "$WORK/late.pem")
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
ok "restart the next day (libfaketime +1d), after a kill -9" ca_serve_at "$D" FAKETIME=+1d
# digest_to ADDR: the digest messages to ADDR (JSON lines).
digest_to() { jq -c --arg a "$1" 'select((.subject | startswith("[cairn] digest")) and .to == [$a])' "$MAIL"; }
until_ok jq -e -s 'map(select((.subject | startswith("[cairn] digest")) and .to == ["pki@example.test"])) | length >= 1' "$MAIL"
ok "pki@ gets yesterday's digest" sh -c "[ \$(jq -c 'select((.subject | startswith(\"[cairn] digest\")) and .to == [\"pki@example.test\"])' '$MAIL' | wc -l) -eq 1 ]"
digest_to pki@example.test | jq -r .body >"$WORK/pki.digest"
ok "  ... listing every certificate of the day, the one issued just before the kill -9 too" sh -c "
	for s in $SA $SA2 $SE $SO $SL; do grep -q \"cert.issued  *\$s\" '$WORK/pki.digest' || exit 1; done"
ok "  ... and the renewal" grep -Eq "cert.renewed +$SA" "$WORK/pki.digest"
ok "serve a sink after the digest sink (cairn notify test by-issuer)" C notify test by-issuer
ok "  ... it arrives (the worker went past the digests)" until_ok jq -e -s \
	'map(select(.subject | startswith("[cairn] notify.test"))) | length >= 1' "$MAIL"
ok "each owner got one digest of their own" sh -c "
	[ \$(jq -c 'select((.subject | startswith(\"[cairn] digest\")) and .to == [\"olivia@example.test\"])' '$MAIL' | wc -l) -eq 1 ] &&
	[ \$(jq -c 'select((.subject | startswith(\"[cairn] digest\")) and .to == [\"owner-acme@example.test\"])' '$MAIL' | wc -l) -eq 1 ] &&
	[ \$(jq -c 'select((.subject | startswith(\"[cairn] digest\")) and .to == [\"dev1@example.test\"])' '$MAIL' | wc -l) -eq 1 ]"
ok "  ... listing only theirs" sh -c "
	jq -r 'select((.subject | startswith(\"[cairn] digest\")) and .to == [\"olivia@example.test\"]) | .body' '$MAIL' >'$WORK/o.digest' &&
	grep -q '$SO' '$WORK/o.digest' && grep -q '$SL' '$WORK/o.digest' && ! grep -Eq '$SA|$SE' '$WORK/o.digest'"
ca_stop
ok "restart again the same (faked) day" ca_serve_at "$D" FAKETIME=+1d
ok "cairn notify test by-issuer" C notify test by-issuer
ok "  ... arrives (the worker went past the digests again)" until_ok jq -e -s \
	'map(select(.subject | startswith("[cairn] notify.test"))) | length >= 2' "$MAIL"
ok "no digest was sent twice" sh -c "
	[ \$(jq -c 'select(.subject | startswith(\"[cairn] digest\"))' '$MAIL' | wc -l) -eq 4 ]"

# ---- an event of a past day still waiting at a restart joins that day's digest ----
# One certificate is queued for the digest of day +1; a second one is issued while the
# worker sleeps (poll 60 s) and the daemon is killed before it is queued. The restart on
# day +2 must send ONE digest of day +1 listing both, not one per restart round.
make_csr mid ec:P-256 /CN=mid.dev.test "DNS:mid.dev.test"
ok "olivia issues a certificate on day +1" as_olivia mid
SM=$(serial_of "$WORK/mid.pem")
ok "  ... the digest sink queues it" until_ok sh -c \
	"'$CAIRN' notify list --json --dir '$D' | jq -e '.items[] | select(.name == \"daily\") | .behind == 0'"
ca_stop
conf_set "$D" notify "$(jq -c '.notify | .poll_ms = 60000' "$D/cairn.json")"
ok "restart on day +1 with a worker that polls once a minute" ca_serve_at "$D" FAKETIME=+1d
ok "  ... its first round is over (a kicked test event arrives)" C notify test by-issuer
until_ok jq -e -s 'map(select(.subject | startswith("[cairn] notify.test"))) | length >= 3' "$MAIL"
make_csr late2 ec:P-256 /CN=late2.dev.test "DNS:late2.dev.test"
ok "olivia issues another while the worker sleeps" as_olivia late2
SL2=$(serial_of "$WORK/late2.pem")
ok "  ... not yet queued for the digest" sh -c \
	"'$CAIRN' notify list --json --dir '$D' | jq -e '.items[] | select(.name == \"daily\") | .behind > 0'"
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
conf_set "$D" notify "$(jq -c '.notify | .poll_ms = 100' "$D/cairn.json")"
ok "restart on day +2 after the kill -9" ca_serve_at "$D" FAKETIME=+2d
DAY1=$(date -u -d '+1 day' +%F)
until_ok jq -e -s --arg p "[cairn] digest $DAY1" \
	'map(select((.subject | startswith($p)) and .to == ["pki@example.test"])) | length >= 1' "$MAIL"
ok "  ... two more worker rounds (kicked test events arrive)" sh -c "
	'$CAIRN' notify test by-issuer --dir '$D' && '$CAIRN' notify test by-issuer --dir '$D'"
until_ok jq -e -s 'map(select(.subject | startswith("[cairn] notify.test"))) | length >= 5' "$MAIL"
ok "pki@ gets one digest of day +1, not two" sh -c "
	[ \$(jq -c --arg p '[cairn] digest $DAY1' 'select((.subject | startswith(\$p)) and .to == [\"pki@example.test\"])' '$MAIL' | wc -l) -eq 1 ]"
ok "  ... listing the queued certificate and the one the kill -9 left waiting" sh -c "
	jq -r --arg p '[cairn] digest $DAY1' 'select((.subject | startswith(\$p)) and .to == [\"pki@example.test\"]) | .body' '$MAIL' >'$WORK/d1.digest' &&
	grep -q '$SM' '$WORK/d1.digest' && grep -q '$SL2' '$WORK/d1.digest'"
ok "olivia too gets one digest of day +1" sh -c "
	[ \$(jq -c --arg p '[cairn] digest $DAY1' 'select((.subject | startswith(\$p)) and .to == [\"olivia@example.test\"])' '$MAIL' | wc -l) -eq 1 ]"
ca_stop

# ---- past the 30-day threshold: the renewed certificate only ----
ok "restart with the clock 65 days on" ca_serve_at "$D" FAKETIME=+65d
ok "the renewed ACME certificate is reported expiring to its owner" \
	wait_mail owner-acme@example.test cert.expiring "$SA2"
ok "  ... the one it superseded is not (no cert.expiring for $SA)" sh -c "! grep -q 'cert.expiring $SA' '$MAIL'"
ca_stop

# ---- the CA's own material: 5 days before the issuing CA's notAfter ----
END=$(date -d "$(openssl x509 -in "$D/ca/issuing.pem" -noout -enddate | cut -d= -f2)" +%s)
ok "restart 5 days before the issuing CA expires" \
	ca_serve_at "$D" FAKETIME="+$(((END - $(date +%s)) / 86400 - 5))d"
ok "the CA team is told: ca.expiring for the issuing CA" wait_mail pki-ca@example.test ca.expiring issuing
ok "  ... and nobody else (the CA's material has no owner)" sh -c "
	[ \"\$(jq -c 'select(.subject == \"[cairn] ca.expiring issuing\") | .to' '$MAIL' | sort -u)\" = '[\"pki-ca@example.test\"]' ]"
ca_stop
done_testing
