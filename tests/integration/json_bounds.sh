#!/bin/sh
# SPDX-License-Identifier: MIT
# Every JSON that comes from outside goes through the one bounded parser: each admin API
# endpoint that takes a JSON body (the EAB route included) and each ACME resource (the
# JWS body, its protected header and payload, the EAB binding, keyChange's inner JWS)
# refuses JSON nested 1000 deep (server.max_json_depth is 32; jansson alone would take
# it) with a 400 problem document naming the depth, and a body over the limit with a
# 413 problem document; the requests refused change nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"

D=$WORK/ca
ca_init "$D" || bail "init failed"
HP=$(free_port)
acme_conf "$D" "{\"validation\": {\"http01_port\": $HP, \"timeout_ms\": 2000,
  \"hosts\": {\"deep.example.test\": \"127.0.0.1\"}}}"
ca_serve "$D" || bail "serve failed"
printf 'header = "Authorization: Bearer %s"\n' "$(cat "$D/admin.token")" >"$WORK/auth"
ROOT=$D/ca/root.pem

# {"x": 1000 nested arrays}, and a body one byte over server.max_body (65536).
python3 -c 'import sys; sys.stdout.write("{\"x\":" + "[" * 1000 + "]" * 1000 + "}")' >"$WORK/deep"
python3 -c 'import sys; sys.stdout.write("{\"x\":\"" + "a" * 65530 + "\"}")' >"$WORK/big"

# post PATH FILE: POST FILE as JSON to the admin API; status in $WORK/status, body in last.out.
post() {
	curl -s --cacert "$ROOT" -K "$WORK/auth" -H 'Content-Type: application/json' \
		-o "$WORK/last.out" -w '%{http_code} %{content_type}' --data-binary @"$2" \
		"$HTTPS_URL/admin/v1$1" >"$WORK/status"
}
# problem DESC STATUS [DETAIL-REGEX]: the last answer is a problem document with STATUS.
problem() {
	if grep -q "^$2 application/problem+json" "$WORK/status" &&
		grep -q "\"status\": $2" "$WORK/last.out" &&
		{ [ -z "${3:-}" ] || grep -Eq -- "$3" "$WORK/last.out"; }; then
		tap 1 "$1"
	else
		echo "answer: $(cat "$WORK/status")" >>"$WORK/last.out"
		tap 0 "$1"
	fi
}

# Admin API endpoints that take a JSON body (admin/api.c); * is any id: the body is
# parsed before the resource is looked up.
for path in /certificates /certificates/0A/revoke /revocations /est/users \
	/requests/0a/approve /requests/0a/reject /policy/test /audit/backups /admins /tokens \
	/acme/eab /notify/retry /notify/test /ca/renew /inventory/import /inventory/0a/owner \
	/replace; do
	post "$path" "$WORK/deep"
	problem "admin POST $path: JSON 1000 deep is a 400 problem naming the depth" 400 \
		'deeper than 32'
	post "$path" "$WORK/big"
	problem "admin POST $path: a body over server.max_body is a 413 problem" 413
done

# An EAB key for the binding checks (the route itself is in the loop above).
curl -s --cacert "$ROOT" -K "$WORK/auth" -H 'Content-Type: application/json' -d '{}' \
	"$HTTPS_URL/admin/v1/acme/eab" >"$WORK/eab.json" || bail "no EAB key"
KID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["kid"])' <"$WORK/eab.json")
HMAC=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["hmac_key"])' <"$WORK/eab.json")
acme_probe bounds "bounds probe done" "$KID" "$HMAC"

ok "the daemon still answers" curl -sf --cacert "$ROOT" "$HTTPS_URL/healthz"
done_testing
