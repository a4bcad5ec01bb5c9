#!/bin/sh
# SPDX-License-Identifier: MIT
# Admin authorization the way an attacker tries it: one admin posing as two approvers,
# approvers added (or disabled) after the fact, refused EAB calls, the admin-login profile
# through EAB/EST/ACME, EAB-bound requesters in policy, and old TLS on the token listener.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"

command -v lego >/dev/null || bail "lego is not installed (scripts/deps.sh)"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
HP=$(free_port)
acme_conf "$D" "{\"validation\": {\"http01_port\": $HP,
  \"hosts\": {\"bound.eab.test\": \"127.0.0.1\", \"open.eab.test\": \"127.0.0.1\"}}}"
cat >"$D/policy.json" <<'JSON'
{"rules": [
  {"name": "bound", "match": {"channel": "acme", "requester": "acme:eab/*"}, "action": "issue"},
  {"name": "open",  "match": {"channel": "acme"}, "action": "reject", "reason": "ACME needs an EAB key"},
  {"name": "prod",  "match": {"dns_suffix": [".prod.test"]}, "action": "approve", "approvals": 2},
  {"name": "default", "match": {}, "action": "reject", "reason": "not allowed by policy"}
]}
JSON
cp "$D/policy.json" "$WORK/policy.good"
cp "$D/cairn.json" "$WORK/cairn.good"
ca_serve "$D" || bail "cairn serve did not start"
ROOT=$D/ca/root.pem
BOOT=$D/admin.token
C() { "$CAIRN" "$@" --dir "$D"; }

# api TOKENFILE|- METHOD PATH [BODY]: prints the HTTP status; the body lands in $WORK/api.out.
api() {
	tok=$1 method=$2 path=$3 body=${4:-}
	set -- -s --cacert "$ROOT" -o "$WORK/api.out" -w '%{http_code}' -X "$method" \
		-H 'Content-Type: application/json'
	[ "$tok" = - ] || set -- "$@" -H "Authorization: Bearer $(cat "$tok")"
	[ -z "$body" ] || set -- "$@" -d "$body"
	curl "$@" "$HTTPS_URL/admin/v1$path"
}
api_is() { [ "$(api "$2" "$3" "$4" "${5:-}")" = "$1" ]; }
# body_has REGEX...: the last API answer matches every REGEX.
body_has() {
	for re; do grep -Eq -- "$re" "$WORK/api.out" || return 1; done
}
# denied_audited REGEX...: an admin.denied event matches every REGEX.
denied_audited() {
	"$CAIRN" audit export --dir "$D" --format jsonl >"$WORK/audit.jsonl" || return 1
	grep '"action":"admin.denied"' "$WORK/audit.jsonl" >"$WORK/denied.jsonl"
	for re; do
		grep -E -- "$re" "$WORK/denied.jsonl" >"$WORK/denied.next" || return 1
		mv "$WORK/denied.next" "$WORK/denied.jsonl"
	done
}
# mint NAME ROLE FILE: a token for admin NAME through the API, saved in $WORK/FILE.tok.
mint() {
	api_is 201 "$BOOT" POST /tokens "{\"name\":\"$1\",\"role\":\"$2\"}" &&
		python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["token"])' \
			"$WORK/api.out" >"$WORK/$3.tok"
}
# request_is ID STATUS APPROVALS: the request's status and how many approvals it holds.
request_is() {
	api_is 200 "$BOOT" GET "/requests/$1" && python3 - "$WORK/api.out" "$2" "$3" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(0 if r["status"] == sys.argv[2] and len(r["approvals"]) == int(sys.argv[3]) else 1)
PY
}
req_id() { sed -n 's/^request \([0-9a-f]\{32\}\) pending.*/\1/p' "$WORK/last.out"; }

# ---- One admin is one approver: tokens never make identities ----
ok "a token for a name that is not an admin is refused (404)" \
	api_is 404 "$BOOT" POST /tokens '{"name":"sock1","role":"approver"}'
ok "  ... as a problem document saying to add the admin first" \
	body_has 'urn:cairn:problem:notFound' 'no admin sock1.*admin add'
ok "  ... and no admin sock1 appeared" sh -c "! '$CAIRN' admin list --dir '$D' | grep -q sock1"
ok "  ... the attempt is audited" denied_audited '"actor":"admin:bootstrap"' 'no admin sock1' '"path":"/tokens"'

ok "admin add alice (approver)" api_is 201 "$BOOT" POST /admins '{"name":"alice","role":"approver"}'
ok "admin add carol (approver)" api_is 201 "$BOOT" POST /admins '{"name":"carol","role":"approver"}'
ok "alice gets a first token" mint alice approver alice1
ok "alice gets a second token" mint alice approver alice2
ok "carol gets a token" mint carol approver carol

make_csr prod ec:P-256 /CN=api.prod.test "DNS:api.prod.test"
make_csr prod2 ec:P-256 /CN=db.prod.test "DNS:db.prod.test"
fails "a prod request waits for two approvals" C issue --csr "$WORK/prod.csr" --profile tls-server
ID=$(req_id)
ok "  ... with a request id" test ${#ID} -eq 32
ok "alice approves with her first token" api_is 200 "$WORK/alice1.tok" POST "/requests/$ID/approve" '{}'
ok "alice's second token is still alice: 409, not a second approval" \
	api_is 409 "$WORK/alice2.tok" POST "/requests/$ID/approve" '{}'
ok "  ... a problem saying she already approved" body_has 'admin:alice already approved'
ok "  ... the request stays pending with one approval" request_is "$ID" pending 1

# An approver created after the request cannot complete it.
ok "admin add bob after the request was submitted" \
	api_is 201 "$BOOT" POST /admins '{"name":"bob","role":"approver"}'
ok "bob gets a token" mint bob approver bob
ok "bob's approval does not count (403)" api_is 403 "$WORK/bob.tok" POST "/requests/$ID/approve" '{}'
ok "  ... a problem saying he was added after the request" \
	body_has 'urn:cairn:problem:forbidden' 'admin bob was added after the request was submitted'
ok "  ... audited" denied_audited '"actor":"admin:bob"' 'added after the request'
ok "  ... the request is still pending with one approval" request_is "$ID" pending 1
ok "carol, an approver from before the request, approves" \
	api_is 200 "$WORK/carol.tok" POST "/requests/$ID/approve" '{}'
ok "  ... and the certificate is issued with two distinct approvals" request_is "$ID" issued 2
fails "a third prod request waits" C issue --csr "$WORK/prod2.csr" --profile tls-server
ID3=$(req_id)
ok "bob approves it: he was added before this one" \
	api_is 200 "$WORK/bob.tok" POST "/requests/$ID3/approve" '{}'

# A disabled admin's earlier approval stops counting.
ok "alice approves that request too" api_is 200 "$WORK/alice1.tok" POST "/requests/$ID3/approve" '{}'
ok "  ... and it is issued (bob + alice)" request_is "$ID3" issued 2
fails "a fourth prod request waits" C issue --csr "$WORK/prod.csr" --profile tls-server
ID4=$(req_id)
ok "alice approves it" api_is 200 "$WORK/alice1.tok" POST "/requests/$ID4/approve" '{}'
ok "alice is disabled" api_is 200 "$BOOT" POST /admins/alice/disable
ok "carol approves: alice's approval no longer counts" \
	api_is 200 "$WORK/carol.tok" POST "/requests/$ID4/approve" '{}'
ok "  ... still pending, with carol's approval only" request_is "$ID4" pending 1
ok "  ... the dropped approval is in the audit log" sh -c "'$CAIRN' audit export --dir '$D' |
	grep '\"action\":\"request.approve\"' | grep -q '\"dropped\":\[\"admin:alice\"\]'"
fails "tokens for a disabled admin are refused" mint alice approver alice3

# ---- The EAB route goes through the admin API's authentication, roles and audit ----
ok "EAB without credentials: 401 problem" api_is 401 - POST /acme/eab '{}'
ok "  ... a cairn problem document" body_has 'urn:cairn:problem:unauthorized'
ok "  ... audited" denied_audited '"actor":"anonymous"' '"path":"/acme/eab"'
ok "EAB with an approver's token: 403 problem" api_is 403 "$WORK/carol.tok" POST /acme/eab '{}'
ok "  ... audited with who tried" denied_audited '"actor":"admin:carol"' '"path":"/acme/eab"'
ok "EAB with a bogus field: 400" api_is 400 "$BOOT" POST /acme/eab '{"groop":"x"}'

# ---- The admin-login profile is never handed out by EAB, EST or ACME ----
ok "an EAB key for the admin profile is refused (400)" \
	api_is 400 "$BOOT" POST /acme/eab '{"profile":"admin"}'
ok "  ... saying why" body_has 'logs in to the admin API'
fails "the CLI says the same" C acme eab create --profile admin
last_has "  ... 400 with the reason" "400.*logs in to the admin API"
python3 - "$D/cairn.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc.setdefault("est", {}).setdefault("labels", {})["ops"] = {"profile": "admin"}
json.dump(doc, open(sys.argv[1], "w"), indent=2)
PY
fails "an EST label with the admin profile is a config error" C config check
last_has "  ... naming the key" "est\.labels\.ops\.profile: admin logs in to the admin API"
cp "$WORK/cairn.good" "$D/cairn.json"

# ---- acme:eab/KID: what an EAB-bound account asks as, and what policies match ----
ok "an EAB key for the bound rule" api_is 201 "$BOOT" POST /acme/eab '{}'
KID=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["kid"])' "$WORK/api.out")
HMAC=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["hmac_key"])' "$WORK/api.out")
export LEGO_CA_CERTIFICATES="$ROOT"
cd "$WORK" || bail "no work dir"
ok "lego with the EAB key is issued (rule bound: acme:eab/*)" lego --server \
	"$HTTPS_URL/acme/directory" --path "$WORK/lego-eab" --email eab@example.test --accept-tos \
	--eab --kid "$KID" --hmac "$HMAC" --domains bound.eab.test --http \
	--http.port "127.0.0.1:$HP" run
ok "  ... the certificate's requester is acme:eab/KID" \
	api_is 200 "$BOOT" GET "/certificates?requester=acme:eab/$KID"
ok "  ... (one hit)" body_has '"total": 1'
fails "lego without EAB is refused (rule open)" lego --server "$HTTPS_URL/acme/directory" \
	--path "$WORK/lego-open" --email open@example.test --accept-tos --domains open.eab.test \
	--http --http.port "127.0.0.1:$HP" run
last_has "  ... with the rule's reason" "ACME needs an EAB key"
sed 's|"acme:eab/\*"|"acme:eab-*"|' "$WORK/policy.good" >"$D/policy.json"
ok "a policy whose requester pattern no channel produces is not loaded (422)" \
	api_is 422 "$BOOT" POST /policy/reload
ok "  ... the error names the rule, field and pattern" \
	body_has 'rules\[0\] \(bound\)\.match\.requester: \\"acme:eab-\*\\" can never match'
cp "$WORK/policy.good" "$D/policy.json"
ok "the good policy reloads" api_is 200 "$BOOT" POST /policy/reload

# ---- TLS on the listener that carries bearer tokens: 1.2 at the oldest ----
# tls VERSION: a handshake with openssl s_client offering only that version (SECLEVEL=0
# so the client offers TLS 1.0/1.1 at all).
tls() {
	openssl s_client -connect "${HTTPS_URL#https://}" "-$1" -cipher 'DEFAULT@SECLEVEL=0' \
		-CAfile "$ROOT" </dev/null >"$WORK/last.out" 2>&1 &&
		grep -q "^New, TLSv1" "$WORK/last.out"
}
fails "TLS 1.0 is refused" tls tls1
fails "TLS 1.1 is refused" tls tls1_1
ok "TLS 1.2 is accepted" tls tls1_2
ok "TLS 1.3 is accepted" tls tls1_3
last_has "  ... with an AEAD suite" "^New, TLSv1\.3, Cipher is TLS_(AES_(128|256)_GCM|CHACHA20)"

ca_stop
# set_conf SECTION KEY JSON: one key of DIR/cairn.json.
set_conf() {
	python3 - "$D/cairn.json" "$1" "$2" "$3" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc.setdefault(sys.argv[2], {})[sys.argv[3]] = json.loads(sys.argv[4])
json.dump(doc, open(sys.argv[1], "w"), indent=2)
PY
}
set_conf acme profile '"admin"'
fails "serve refuses acme.profile admin" timeout 120 "$CAIRN" serve --dir "$D"
last_has "  ... naming the key" "acme\.profile: admin logs in to the admin API"
cp "$WORK/cairn.good" "$D/cairn.json"
set_conf server tls_min_version '"1.1"'
fails "server.tls_min_version 1.1 is a config error" C config check
last_has "  ... naming the key" "server\.tls_min_version: must be 1\.2 or 1\.3"
set_conf server tls_min_version '"1.3"'
set_conf server tls_priorities '"NORMAL:+VERS-TLS1.0"'
fails "versions in server.tls_priorities are refused" C config check
last_has "  ... pointing at tls_min_version" "server\.tls_priorities: no VERS- items"
set_conf server tls_priorities '"SECURE128:-AES-128-GCM:-AES-128-CCM:-CHACHA20-POLY1305"'
ok "tls_min_version 1.3 with a cipher choice checks out" C config check
ca_serve "$D" || bail "cairn serve did not restart"
fails "with min 1.3, TLS 1.2 is refused" tls tls1_2
ok "with min 1.3, TLS 1.3 is accepted" tls tls1_3
last_has "  ... with the one suite left" "^New, TLSv1\.3, Cipher is TLS_AES_256_GCM_SHA384"
ok "  ... and the admin API answers over it" api_is 200 "$BOOT" GET /admins

done_testing
