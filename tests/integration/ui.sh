#!/bin/sh
# SPDX-License-Identifier: MIT
# The web console at /ui/: its headers (CSP), sessions (token and admin certificate, CSRF,
# cross-site refusal, sign-out, expiry under libfaketime) with curl, then the pages in a
# headless Chromium (ui_browser.py): sign-in with an admin certificate, two approvers in
# two browsers, the requester's download, search/detail/revoke then `openssl ocsp`, the
# auditor, a hostile CN.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

command -v jq >/dev/null || bail "jq is not installed"
PY=/usr/bin/python3
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && [ -x /usr/bin/certutil ] ||
	bail "chromium, chromium-driver and libnss3-tools are not installed (scripts/deps.sh)"
$PY -c 'import selenium' 2>/dev/null || bail "python3-selenium is not installed (scripts/deps.sh)"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
cat >"$D/policy.json" <<'JSON'
{"rules": [
  {"name": "payments", "match": {"dns_exact": ["pay.example.test", "pay2.example.test"]},
   "action": "approve", "approvals": 2},
  {"name": "default", "match": {}, "action": "issue"}
]}
JSON
# The daemon reads its clock offset from this file at every call: the test moves it on.
clock_set "$WORK/faketime" +0
ca_serve_at "$D" FAKETIME_TIMESTAMP_FILE="$WORK/faketime" FAKETIME_NO_CACHE=1 ||
	bail "cairn serve did not start"
ROOT=$D/ca/root.pem
C() { "$CAIRN" "$@" --dir "$D"; }
for who in alice:approver bob:approver ops:operator audrey:auditor carol:approver; do
	n=${who%%:*} r=${who#*:}
	C admin add --name "$n" --role "$r" >/dev/null 2>&1 || bail "admin add $n failed"
	"$CAIRN" token create --dir "$D" --name "$n" --role "$r" >"$WORK/$n.tok" 2>/dev/null ||
		bail "token create $n failed"
done
cp "$D/admin.token" "$WORK/admin.tok"

# ---- the pages and their headers ----
curl -s --cacert "$ROOT" -D "$WORK/ui.h" -o "$WORK/ui.html" "$HTTPS_URL/ui/"
cp "$WORK/ui.h" "$WORK/last.out"
last_has "GET /ui/ answers 200 with the page" "^HTTP/1.1 200"
last_has "  ... with the strict Content-Security-Policy" \
	"^Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
last_has "  ... nosniff" "^X-Content-Type-Options: nosniff"
last_has "  ... and no referrer" "^Referrer-Policy: no-referrer"
ok "the page loads app.js, has no inline script and loads nothing from elsewhere" sh -c "
	grep -q '<script src=\"app.js\" defer></script>' '$WORK/ui.html' && ! grep -Eiq '<script>|<script [^>]*>[^<]|[[:space:]]on[a-z]+=|https?://' '$WORK/ui.html'"
for a in app.js app.css favicon.svg; do
	ok "/ui/$a is served (with the CSP)" sh -c "curl -sf --cacert '$ROOT' -D - -o /dev/null \
		'$HTTPS_URL/ui/$a' | grep -q '^Content-Security-Policy: default-src'"
done
ok "app.js never writes HTML (no innerHTML, outerHTML =, insertAdjacentHTML, document.write)" sh -c "
	curl -sf --cacert '$ROOT' '$HTTPS_URL/ui/app.js' >'$WORK/app.js' &&
	! grep -Eq 'innerHTML|outerHTML *=|insertAdjacentHTML|document\\.write|eval\\(' '$WORK/app.js'"
ok "an unknown console page is a 404 problem" sh -c "
	[ \$(curl -s --cacert '$ROOT' -o /dev/null -w '%{http_code}' '$HTTPS_URL/ui/nope.js') = 404 ]"
ok "  ... with the CSP too" sh -c "curl -s --cacert '$ROOT' -D - -o /dev/null '$HTTPS_URL/ui/nope.js' |
	grep -q \"^Content-Security-Policy: default-src 'self'; script-src 'self';\""
ok "the console is not on the plain HTTP listener" sh -c "
	[ \$(curl -s -o /dev/null -w '%{http_code}' '$HTTP_URL/ui/') = 404 ]"

# ---- sessions with curl ----
# sess NAME ARGS...: POST /session, cookie jar $WORK/NAME.jar, body $WORK/NAME.sess
sess() {
	n=$1
	shift
	curl -s --cacert "$ROOT" -c "$WORK/$n.jar" -D "$WORK/$n.sh" -o "$WORK/$n.sess" \
		-w '%{http_code}' -X POST "$@" "$HTTPS_URL/admin/v1/session"
}
# with NAME METHOD PATH [CSRF] [BODY]: the call with NAME's cookie; prints the status.
with() {
	curl -s --cacert "$ROOT" -b "$WORK/$1.jar" -o "$WORK/with.out" -w '%{http_code}' -X "$2" \
		${4:+-H "X-CSRF-Token: $4"} -H 'Content-Type: application/json' ${5:+-d "$5"} \
		"$HTTPS_URL/admin/v1$3"
}
is() { [ "$1" = "$2" ]; }
ok "sign-in with a token: 201" is "$(sess admin -H "Authorization: Bearer $(cat "$WORK/admin.tok")")" 201
cp "$WORK/admin.sh" "$WORK/last.out"
last_has "  ... the cookie is __Host-, HttpOnly, Secure, SameSite=Strict, Path=/, 8h" \
	"^Set-Cookie: __Host-cairn_session=[0-9a-f]{64}; Path=/; Max-Age=28800; Secure; HttpOnly; SameSite=Strict"
CSRF=$(jq -r .csrf_token "$WORK/admin.sess")
ok "  ... and a CSRF token comes back in the body" sh -c "echo '$CSRF' | grep -Eq '^[0-9a-f]{64}$'"
ok "a read with the cookie alone works" is "$(with admin GET /stats)" 200
ok "a change with the cookie but no CSRF header: 403" is "$(with admin POST /audit/checkpoint '' '{}')" 403
cp "$WORK/with.out" "$WORK/last.out"
last_has "  ... a problem document naming the header" '"detail": "missing or wrong X-CSRF-Token header"'
ok "a change with a wrong CSRF token: 403" \
	is "$(with admin POST /audit/checkpoint "$(echo "$CSRF" | tr 0-9a-f 1-9a-f0)" '{}')" 403
ok "a change with the session's CSRF token: 200" is "$(with admin POST /audit/checkpoint "$CSRF" '{}')" 200
ok "a change a browser marks cross-site is refused, even with a token (403)" sh -c "
	[ \$(curl -s --cacert '$ROOT' -o /dev/null -w '%{http_code}' -X POST \
		-H 'Authorization: Bearer $(cat "$WORK/admin.tok")' -H 'Sec-Fetch-Site: cross-site' \
		'$HTTPS_URL/admin/v1/audit/checkpoint') = 403 ]"
ok "  ... and so is one from another Origin" sh -c "
	[ \$(curl -s --cacert '$ROOT' -o /dev/null -w '%{http_code}' -X POST \
		-H 'Authorization: Bearer $(cat "$WORK/admin.tok")' -H 'Origin: https://evil.example' \
		'$HTTPS_URL/admin/v1/audit/checkpoint') = 403 ]"
ok "  ... and one from Origin: null (a sandboxed frame, a file)" sh -c "
	[ \$(curl -s --cacert '$ROOT' -o /dev/null -w '%{http_code}' -X POST \
		-H 'Authorization: Bearer $(cat "$WORK/admin.tok")' -H 'Origin: null' \
		'$HTTPS_URL/admin/v1/audit/checkpoint') = 403 ]"
ok "  ... and one a browser marks same-site (a sibling host)" sh -c "
	[ \$(curl -s --cacert '$ROOT' -o /dev/null -w '%{http_code}' -X POST \
		-H 'Authorization: Bearer $(cat "$WORK/admin.tok")' -H 'Sec-Fetch-Site: same-site' \
		'$HTTPS_URL/admin/v1/audit/checkpoint') = 403 ]"
ok "  ... while our own origin may (200)" sh -c "
	[ \$(curl -s --cacert '$ROOT' -o /dev/null -w '%{http_code}' -X POST \
		-H 'Authorization: Bearer $(cat "$WORK/admin.tok")' -H 'Sec-Fetch-Site: same-origin' \
		-H \"Origin: \$(echo '$HTTPS_URL')\" '$HTTPS_URL/admin/v1/audit/checkpoint') = 200 ]"
ok "a second cookie of a look-alike name is not a session" sh -c "
	[ \$(curl -s --cacert '$ROOT' -H 'Cookie: x__Host-cairn_session=1; __Host-cairn_session_x=2' \
		-o /dev/null -w '%{http_code}' '$HTTPS_URL/admin/v1/stats') = 401 ]"
ok "a form post (no JSON) with the cookie is refused" sh -c "
	[ \$(curl -s --cacert '$ROOT' -b '$WORK/admin.jar' -o /dev/null -w '%{http_code}' \
		-d 'reason=keyCompromise' '$HTTPS_URL/admin/v1/audit/checkpoint') = 403 ]"
ok "a made-up session cookie: 401" sh -c "
	[ \$(curl -s --cacert '$ROOT' -b '__Host-cairn_session=$(printf %064d 7)' -o /dev/null \
		-w '%{http_code}' '$HTTPS_URL/admin/v1/stats') = 401 ]"
# Session fixation: a cookie the client planted before signing in is never the session's.
PLANTED=$(printf %064d 8)
ok "a sign-in sent with a planted session cookie gets a session id of the daemon's" sh -c "
	curl -s --cacert '$ROOT' -b '__Host-cairn_session=$PLANTED' -D - -o /dev/null -X POST \
		-H 'Authorization: Bearer $(cat "$WORK/admin.tok")' '$HTTPS_URL/admin/v1/session' |
	grep -E '^Set-Cookie: __Host-cairn_session=[0-9a-f]{64};' | grep -vq '$PLANTED'"
ok "  ... and the planted cookie stays no session (401)" sh -c "
	[ \$(curl -s --cacert '$ROOT' -b '__Host-cairn_session=$PLANTED' -o /dev/null \
		-w '%{http_code}' '$HTTPS_URL/admin/v1/stats') = 401 ]"
# One admin's session cookie with another admin's token: the token alone decides, so the
# session never lends its role to the call, nor its CSRF exemption to a bad header.
ok "the admin's cookie with the auditor's token: the call is the auditor's" sh -c "
	curl -s --cacert '$ROOT' -b '$WORK/admin.jar' -H 'Authorization: Bearer $(cat "$WORK/audrey.tok")' \
		'$HTTPS_URL/admin/v1/session' | jq -e '.name == \"audrey\" and .role == \"auditor\" and .csrf_token == null'"
ok "  ... an admin-only change with both is refused (403)" sh -c "
	[ \$(curl -s --cacert '$ROOT' -b '$WORK/admin.jar' -H 'X-CSRF-Token: $CSRF' -o /dev/null \
		-w '%{http_code}' -H 'Authorization: Bearer $(cat "$WORK/audrey.tok")' \
		-H 'Content-Type: application/json' -d '{\"name\":\"audrey\",\"role\":\"auditor\"}' \
		'$HTTPS_URL/admin/v1/tokens') = 403 ]"
ok "  ... and the admin's cookie with a header that is no token is refused (401)" sh -c "
	[ \$(curl -s --cacert '$ROOT' -b '$WORK/admin.jar' -H 'Authorization: Basic YTpi' -o /dev/null \
		-w '%{http_code}' '$HTTPS_URL/admin/v1/stats') = 401 ]"
# Another spelling of an admin-only path is no way around the roles table: an auditor's
# POST /tokens is 404 (no such path) or 403 (the route's roles), never made.
for p in //admin/v1/tokens /admin/v1//tokens /admin/v1/./tokens /admin/v1/x/../tokens \
	/admin/v1/tokens/ /admin/v1/TOKENS /ADMIN/v1/tokens /admin/v1/%74okens /admin/v1%2Ftokens; do
	ok "an auditor's POST $p: 404 or 403" sh -c "
		s=\$(curl -s --path-as-is --cacert '$ROOT' -o /dev/null -w '%{http_code}' -X POST \
			-H 'Authorization: Bearer $(cat "$WORK/audrey.tok")' -H 'Content-Type: application/json' \
			-d '{\"name\":\"audrey\",\"role\":\"auditor\"}' '$HTTPS_URL$p'); echo \$s
		[ \$s = 404 ] || [ \$s = 403 ]"
done
# Answers carrying a session's CSRF token, a new API token or the audit log must stay in
# no browser's disk cache nor a proxy's: every admin API answer says no-store.
# no_store DESCRIPTION CURL-ARGS...: the answer to that call has Cache-Control: no-store.
no_store() {
	d=$1
	shift
	ok "$d: Cache-Control: no-store" sh -c 'curl -s --cacert "$0" -D - -o /dev/null "$@" |
		grep -qi "^Cache-Control: no-store"' "$ROOT" "$@"
}
ok "the sign-in answer (cookie and CSRF token): Cache-Control: no-store" \
	grep -qi '^Cache-Control: no-store' "$WORK/admin.sh"
no_store "GET /session with the cookie (its CSRF token)" -b "$WORK/admin.jar" \
	"$HTTPS_URL/admin/v1/session"
no_store "POST /tokens (the new token)" -H "Authorization: Bearer $(cat "$WORK/admin.tok")" \
	-H 'Content-Type: application/json' -d '{"name":"audrey","role":"auditor"}' \
	"$HTTPS_URL/admin/v1/tokens"
no_store "GET /audit/export" -H "Authorization: Bearer $(cat "$WORK/admin.tok")" \
	"$HTTPS_URL/admin/v1/audit/export"
no_store "a 401 problem" "$HTTPS_URL/admin/v1/certificates"
no_store "a 404 problem" "$HTTPS_URL/admin/v1/nope"
ok "sign-in and sign-out are audited with the admin's name" sh -c "
	'$CAIRN' audit export --dir '$D' --unsigned | grep '\"admin.session.create\"' | grep -q 'admin:bootstrap'"

# Sign-in with an admin client certificate with curl (and in the browser below).
make_csr carol ec:P-256 /CN=carol
C issue --csr "$WORK/carol.csr" --profile admin --out "$WORK/carol.pem" >/dev/null 2>&1 ||
	bail "admin certificate for carol not issued"
ok "with an admin certificate, GET /session says who (via certificate)" sh -c "
	curl -sf --cacert '$ROOT' --cert '$WORK/carol.pem' --key '$WORK/carol.key' \
		'$HTTPS_URL/admin/v1/session' | jq -e '.name == \"carol\" and .via == \"certificate\"'"
ok "sign-in with the admin certificate: 201" \
	is "$(sess carol --cert "$WORK/carol.pem" --key "$WORK/carol.key")" 201
ok "  ... the session works without the certificate" is "$(with carol GET /requests)" 200
ok "  ... and names carol" sh -c "curl -s --cacert '$ROOT' -b '$WORK/carol.jar' \
	'$HTTPS_URL/admin/v1/session' | jq -e '.name == \"carol\" and .via == \"session\"'"
CCSRF=$(jq -r .csrf_token "$WORK/carol.sess")
ok "sign-out: 200" is "$(curl -s --cacert "$ROOT" -b "$WORK/carol.jar" -D "$WORK/out.h" -o /dev/null \
	-w '%{http_code}' -X DELETE -H "X-CSRF-Token: $CCSRF" "$HTTPS_URL/admin/v1/session")" 200
cp "$WORK/out.h" "$WORK/last.out"
last_has "  ... its Set-Cookie clears the cookie with the attributes that set it (else a browser keeps it)" \
	"^Set-Cookie: __Host-cairn_session=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict"
ok "  ... the cookie is gone: 401" is "$(with carol GET /requests)" 401
# A session lasts no longer than what made it: revoking its token or its certificate ends it.
"$CAIRN" token create --dir "$D" --name alice --role approver >"$WORK/alice2.tok" 2>/dev/null ||
	bail "second token for alice failed"
ok "a session made with a token works" sh -c "
	[ \$(curl -s --cacert '$ROOT' -c '$WORK/a2.jar' -o /dev/null -w '%{http_code}' -X POST \
		-H 'Authorization: Bearer $(cat "$WORK/alice2.tok")' '$HTTPS_URL/admin/v1/session') = 201 ] &&
	[ \$(curl -s --cacert '$ROOT' -b '$WORK/a2.jar' -o /dev/null -w '%{http_code}' \
		'$HTTPS_URL/admin/v1/requests') = 200 ]"
TID=$(printf %s "$(cat "$WORK/alice2.tok")" | sha256sum | cut -c1-16)
ok "  ... revoking that token ends the session (401)" sh -c "
	curl -sf --cacert '$ROOT' -X POST -H 'Authorization: Bearer $(cat "$WORK/admin.tok")' \
		'$HTTPS_URL/admin/v1/tokens/$TID/revoke' >/dev/null &&
	[ \$(curl -s --cacert '$ROOT' -b '$WORK/a2.jar' -o '$WORK/a2.out' -w '%{http_code}' \
		'$HTTPS_URL/admin/v1/requests') = 401 ] && grep -q 'revoked' '$WORK/a2.out'"
C admin add --name dave --role approver >/dev/null 2>&1 || bail "admin add dave failed"
make_csr dave ec:P-256 /CN=dave
C issue --csr "$WORK/dave.csr" --profile admin --out "$WORK/dave.pem" >/dev/null 2>&1 ||
	bail "admin certificate for dave not issued"
DSER=$(openssl x509 -in "$WORK/dave.pem" -noout -serial | cut -d= -f2 | tr A-F a-f)
ok "a session made with an admin certificate works" sh -c "
	[ \$(curl -s --cacert '$ROOT' -c '$WORK/d.jar' -o /dev/null -w '%{http_code}' -X POST \
		--cert '$WORK/dave.pem' --key '$WORK/dave.key' '$HTTPS_URL/admin/v1/session') = 201 ] &&
	[ \$(curl -s --cacert '$ROOT' -b '$WORK/d.jar' -o /dev/null -w '%{http_code}' \
		'$HTTPS_URL/admin/v1/requests') = 200 ]"
ok "  ... revoking that certificate ends the session (401)" sh -c "
	curl -sf --cacert '$ROOT' -X POST -H 'Authorization: Bearer $(cat "$WORK/admin.tok")' \
		-H 'Content-Type: application/json' -d '{\"reason\":\"keyCompromise\"}' \
		'$HTTPS_URL/admin/v1/certificates/$DSER/revoke' >/dev/null &&
	[ \$(curl -s --cacert '$ROOT' -b '$WORK/d.jar' -o '$WORK/d.out' -w '%{http_code}' \
		'$HTTPS_URL/admin/v1/requests') = 401 ] && grep -q 'revoked' '$WORK/d.out'"
ok "disabling an admin ends its sessions" sh -c "
	[ \$(curl -s --cacert '$ROOT' -c '$WORK/c2.jar' -o /dev/null -w '%{http_code}' -X POST \
		--cert '$WORK/carol.pem' --key '$WORK/carol.key' '$HTTPS_URL/admin/v1/session') = 201 ] &&
	'$CAIRN' admin disable --dir '$D' --name carol >/dev/null 2>&1 &&
	[ \$(curl -s --cacert '$ROOT' -b '$WORK/c2.jar' -o /dev/null -w '%{http_code}' \
		'$HTTPS_URL/admin/v1/requests') = 401 ]"

# ---- what the browser run needs ----
# pay asks for OCSP Must-Staple: the approver's page says so
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$WORK/pay.key" \
	-subj /CN=pay.example.test -addext subjectAltName=DNS:pay.example.test \
	-addext tlsfeature=status_request -out "$WORK/pay.csr" 2>/dev/null
make_csr pay2 ec:P-256 /CN=pay2.example.test DNS:pay2.example.test
C issue --csr "$WORK/pay2.csr" --profile tls-server >"$WORK/pay2.out" 2>&1
PENDING=$(sed -n 's/^request \([0-9a-f]\{32\}\) pending.*/\1/p' "$WORK/pay2.out")
[ -n "$PENDING" ] || bail "no pending request: $(cat "$WORK/pay2.out")"
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$WORK/xss.key" \
	-out "$WORK/xss.csr" -subj '/CN=<img src=x onerror=alert(1)>' 2>/dev/null
C issue --csr "$WORK/xss.csr" --profile tls-client --out "$WORK/xss.pem" >/dev/null 2>&1 ||
	bail "the hostile-CN certificate was not issued"
XSS=$(openssl x509 -in "$WORK/xss.pem" -noout -serial | cut -d= -f2 | tr A-F a-f)

# Chromium trusts the CA through a private NSS database (no --ignore-certificate-errors).
# nssdb HOME: the NSS database a Chromium run with that HOME uses, trusting our root.
nssdb() {
	mkdir -p "$1/.pki/nssdb" && certutil -d "sql:$1/.pki/nssdb" -N --empty-password &&
		certutil -d "sql:$1/.pki/nssdb" -A -t C,, -n cairn -i "$ROOT"
}
nssdb "$WORK/home" || bail "cannot make the NSS database"
# Sign-in with an admin client certificate in the browser: the certificate and key go into
# an NSS database of its own, and a managed policy (AutoSelectCertificateForUrls, the only way a
# headless Chromium presents one) names our origin and the issuing CA. Chromium reads
# policies from /etc/chromium/policies/managed only, so this needs root; the file has a
# name of its own and goes at exit.
UI_CERT_NAME=
if [ "$(id -u)" -eq 0 ]; then
	C admin add --name erin --role operator >/dev/null 2>&1 || bail "admin add erin failed"
	make_csr erin ec:P-256 /CN=erin
	C issue --csr "$WORK/erin.csr" --profile admin --out "$WORK/erin.pem" >/dev/null 2>&1 ||
		bail "admin certificate for erin not issued"
	# Its own NSS database (its own HOME): the other browsers hold no client certificate.
	nssdb "$WORK/home-cert" &&
		openssl pkcs12 -export -in "$WORK/erin.pem" -inkey "$WORK/erin.key" -name erin \
		-passout pass:p12pass -out "$WORK/erin.p12" 2>"$WORK/p12.err" &&
		pk12util -i "$WORK/erin.p12" -d "sql:$WORK/home-cert/.pki/nssdb" -W p12pass >"$WORK/p12.out" 2>&1 ||
		bail "cannot import the admin certificate into the NSS database: $(cat "$WORK/p12.err" "$WORK/p12.out")"
	ICN=$(openssl x509 -in "$D/ca/issuing.pem" -noout -subject -nameopt multiline |
		sed -n 's/^ *commonName *= //p')
	[ -n "$ICN" ] || bail "no CN in the issuing CA's subject"
	mkdir -p /etc/chromium/policies/managed || bail "cannot make /etc/chromium/policies/managed"
	# A run killed before its trap left its policy behind: two files setting the policy
	# conflict, and Chromium then selects no certificate. Those of processes gone go.
	for f in /etc/chromium/policies/managed/cairn-ui-test-*.json; do
		[ -e "$f" ] || continue
		pid=${f##*/cairn-ui-test-}
		kill -0 "${pid%%-*}" 2>/dev/null || rm -f "$f"
	done
	UI_POLICY=/etc/chromium/policies/managed/cairn-ui-test-$$-${WORK##*.}.json
	trap 'rm -f "$UI_POLICY"; cleanup' EXIT INT TERM
	jq -n --arg p "$HTTPS_URL" --arg cn "$ICN" \
		'{AutoSelectCertificateForUrls: [{pattern: $p, filter: {ISSUER: {CN: $cn}}} | tojson]}' \
		>"$UI_POLICY" || bail "cannot write the Chromium policy $UI_POLICY"
	UI_CERT_NAME=erin
else
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - browser: sign-in with an admin client certificate # SKIP not root: Chromium reads the AutoSelectCertificateForUrls policy only from /etc/chromium/policies/managed"
fi
ART=${CAIRN_BUILDDIR:-$(pwd)}/tests/artifacts
mkdir -p "$ART"
HOME=$WORK/home UI_URL=$HTTPS_URL UI_ROOT=$ROOT UI_ARTIFACTS=$ART UI_WORK=$WORK \
	UI_TOKEN_ADMIN=$(cat "$WORK/admin.tok") UI_TOKEN_OPS=$(cat "$WORK/ops.tok") \
	UI_TOKEN_ALICE=$(cat "$WORK/alice.tok") UI_TOKEN_BOB=$(cat "$WORK/bob.tok") \
	UI_TOKEN_AUDREY=$(cat "$WORK/audrey.tok") UI_CSR=$(cat "$WORK/pay.csr") \
	UI_XSS_SERIAL=$XSS UI_PENDING=$PENDING UI_FAKETIME=$WORK/faketime UI_CERT_NAME=$UI_CERT_NAME \
	UI_CERT_HOME=$WORK/home-cert \
	timeout 600 $PY "$CAIRN_SRCDIR/tests/integration/ui_browser.py" >"$WORK/browser.out" 2>"$WORK/browser.err"
[ -z "${UI_POLICY:-}" ] || rm -f "$UI_POLICY"
# One TAP line per browser check (the script's lines are "ok - ..." / "not ok - ...").
n_browser=0
while IFS= read -r line; do
	case $line in
	"ok - "*) tap 1 "browser: ${line#ok - }"; n_browser=$((n_browser + 1)) ;;
	"not ok - "*) printf '%s\n' "$line" >"$WORK/last.out"
		tap 0 "browser: ${line#not ok - }"; n_browser=$((n_browser + 1)) ;;
	"# "*) echo "$line" ;;
	esac
done <"$WORK/browser.out"
cp "$WORK/browser.err" "$WORK/last.out"
# 35 checks, and 6 more for the client certificate when it could be set up (root).
want=35
[ -z "$UI_CERT_NAME" ] || want=41
tap $((n_browser >= want)) "the browser run made all its checks ($n_browser)"

# ---- OCSP agrees with what the console did ----
SERIAL=$(cat "$WORK/serial" 2>/dev/null)
clock_set "$WORK/faketime" +0
ok "the downloaded certificate is the one the database holds for that serial" sh -c "
	openssl x509 -in '$WORK/downloaded.pem' -noout -serial | cut -d= -f2 | tr A-F a-f |
	grep -qx '$SERIAL'"
ok "openssl ocsp says the certificate revoked in the console is revoked" sh -c "
	openssl ocsp -issuer '$D/ca/issuing.pem' -cert '$WORK/downloaded.pem' -url '$HTTP_URL/ocsp' \
		-CAfile '$ROOT' 2>&1 | grep -q ': revoked'"
ok "  ... revoked by admin:bootstrap from the console, in the audit log" sh -c "
	[ -n '$SERIAL' ] && '$CAIRN' audit export --dir '$D' --unsigned |
	grep -i '\"serial\":\"$SERIAL\"' | grep '\"cert.revoke\"' | grep -q '\"admin:bootstrap\"'"
ok "the hostile-CN certificate is still valid (the cross-site post and the auditor changed nothing)" sh -c "
	openssl ocsp -issuer '$D/ca/issuing.pem' -cert '$WORK/xss.pem' -url '$HTTP_URL/ocsp' \
		-CAfile '$ROOT' 2>&1 | grep -q ': good'"
ok "the pending request has no approval from the auditor" sh -c "
	'$CAIRN' requests show '$PENDING' --dir '$D' | jq -e '.approvals_have == 0'"

# ---- the dashboard's figures are the stats table's, and agree with the database ----
cat >"$WORK/stats_check.py" <<'PY'
import datetime as dt, json, re, sys
stats, metrics, listing, page, revoked = (open(f).read() for f in sys.argv[1:6])
stats, listing, page, revoked = json.loads(stats), json.loads(listing), json.loads(page), json.loads(revoked)
fail = []
# Counts by status: the numbers /metrics serves (cairn_certificates), summed over profiles.
m = {}
for st, n in re.findall(r'^cairn_certificates\{status="(\w+)",profile="[^"]*"\} (\d+)$', metrics, re.M):
    m[st] = m.get(st, 0) + int(n)
if stats["status"] != m:
    fail.append("status %s != metrics %s" % (stats["status"], m))
items = sorted(listing["items"], key=lambda c: c["serial"])  # the API pages in serial order
if sum(stats["profiles"].values()) != len(items):
    fail.append("profiles %s: not the %d certificates" % (stats["profiles"], len(items)))
# Per day: today from now, then UTC days; whatever expires within 90 days is in.
p = lambda t: dt.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ")
frm = p(stats["expiring"]["from"])
want = [0] * 91
for c in items:
    na = p(c["not_after"])
    d = (na.date() - frm.date()).days
    if c["status"] != "revoked" and na >= frm and d < 91:
        want[d] += 1
if stats["expiring"]["per_day"] != want:
    fail.append("per_day %s != %s" % (stats["expiring"]["per_day"], want))
if sum(want) < 3:
    fail.append("nothing expires within 90 days: the check would prove nothing")
# Paging without filters: total from the counters, the page is the list's, in serial order.
if page["total"] != len(items) or [c["serial"] for c in page["items"]] != [c["serial"] for c in items[1:3]]:
    fail.append("page %s != list %s" % (page, [c["serial"] for c in items[1:3]]))
if revoked["total"] != sum(c["status"] == "revoked" for c in items):
    fail.append("revoked total %s" % revoked["total"])
print("\n".join(fail) or "ok")
sys.exit(1 if fail else 0)
PY
for v in 20 60 89; do
	make_csr "short$v" ec:P-256 "/CN=short$v.example.test"
	C issue --csr "$WORK/short$v.csr" --profile tls-client --validity-days "$v" >/dev/null 2>&1 ||
		bail "a $v-day certificate was not issued"
done
A="Authorization: Bearer $(cat "$WORK/admin.tok")"
curl -sf --cacert "$ROOT" -H "$A" "$HTTPS_URL/admin/v1/stats" >"$WORK/stats.json"
curl -sf "$HTTP_URL/metrics" >"$WORK/metrics.txt"
# The second page of one certificate each, reached by the first page's cursor (keyset paging).
NEXT=$(curl -sf --cacert "$ROOT" -H "$A" "$HTTPS_URL/admin/v1/certificates?limit=1" | jq -r .next)
curl -sf --cacert "$ROOT" -H "$A" "$HTTPS_URL/admin/v1/certificates?after=$NEXT&limit=2" >"$WORK/page.json"
curl -sf --cacert "$ROOT" -H "$A" "$HTTPS_URL/admin/v1/certificates?status=revoked&limit=1" >"$WORK/revoked.json"
"$CAIRN" list --dir "$D" --json >"$WORK/list.json"
ok "GET /stats: counts are /metrics' cairn_certificates; 91 days of expiries as in the database; unfiltered paging" \
	sh -c "python3 '$WORK/stats_check.py' '$WORK/stats.json' '$WORK/metrics.txt' '$WORK/list.json' \
		'$WORK/page.json' '$WORK/revoked.json'"
ca_stop
done_testing
