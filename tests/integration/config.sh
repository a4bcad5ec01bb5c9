#!/bin/sh
# SPDX-License-Identifier: MIT
# One validator: every bad cairn.json is refused by `cairn config check` and by `cairn serve`
# with the same one-line message naming the key path; a full valid config passes both; and
# docs/config.md carries exactly the table `cairn config keys` prints.
. "${CAIRN_SRCDIR:-.}/tests/integration/lib.sh"

D=$WORK/ca
ca_init "$D" || bail "init failed"
cp "$D/cairn.json" "$WORK/good.json"

# set_key PATH JSON: DIR/cairn.json = the good one with PATH (dotted) set to JSON.
set_key() {
	python3 - "$WORK/good.json" "$D/cairn.json" "$1" "$2" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
*parents, last = sys.argv[3].split(".")
cur = doc
for p in parents:
    cur = cur.setdefault(p, {})
cur[last] = json.loads(sys.argv[4])
json.dump(doc, open(sys.argv[2], "w"), indent=2)
PY
}

# refused PATH JSON REGEX: both commands refuse it, each with one line, the same message
# (after "cairn config: " / "cairn serve: "), matching REGEX.
refused() {
	set_key "$1" "$2"
	"$CAIRN" config check --dir "$D" >"$WORK/check.out" 2>&1
	crc=$?
	timeout 30 "$CAIRN" serve --dir "$D" >"$WORK/serve.out" 2>&1
	src=$?
	sed 's/^cairn config: //' "$WORK/check.out" >"$WORK/check.msg"
	sed 's/^cairn serve: //' "$WORK/serve.out" >"$WORK/serve.msg"
	cp "$WORK/check.out" "$WORK/last.out"
	if [ $crc -ne 0 ] && [ $src -ne 0 ] && [ $src -ne 124 ] &&
		cmp -s "$WORK/check.msg" "$WORK/serve.msg" &&
		[ "$(wc -l <"$WORK/check.msg")" -eq 1 ] && grep -Eq -- "$3" "$WORK/check.msg"; then
		tap 1 "$1 = $2: refused alike by check and serve ($(cat "$WORK/check.msg"))"
	else
		{ echo "check ($crc):"; cat "$WORK/check.out"; echo "serve ($src):"; cat "$WORK/serve.out"; } >"$WORK/last.out"
		tap 0 "$1 = $2: refused alike by check and serve, /$3/"
	fi
}

# The examples of the issue: check used to pass what serve then refused.
refused acme.validation '{"dns_server": "nonsense", "bogus": 1}' \
	'^acme\.validation\.(dns_server: must be host:port|bogus: unknown key)'
refused acme.validation.bogus 1 '^acme\.validation\.bogus: unknown key \(known here: .*dns_server'
refused acme.validation.dns_server '"nonsense"' '^acme\.validation\.dns_server: must be host:port'
refused profiles.tls-server.validity_hours 24 '^profiles\.tls-server\.validity_hours: unknown key'
refused public_urls.http '"ca.example.com"' \
	'^public_urls\.http: must be an absolute http:// or https:// URL'
refused public_urls.https '"https:///path"' '^public_urls\.https: must be an absolute'
# The public URLs are bases: what would break the links built on them is refused.
refused public_urls.https '"https://ca.example:8443/"' \
	'^public_urls\.https: a base URL does not end in / '
refused public_urls.http '"http://ca.example/ocsp/"' '^public_urls\.http: a base URL does not end in / '
refused public_urls.https '"https://ca.example:8443?x=1"' '^public_urls\.https: a base URL has no \?query'
refused public_urls.http '"http://ca.example/#f"' '^public_urls\.http: a base URL has no \?query or #fragment'
refused public_urls.https '"https://admin:secret@ca.example"' \
	'^public_urls\.https: a base URL carries no user name or password'
refused public_urls.https '"http://ca.example:8443"' '^public_urls\.https: must be an https:// URL'
# One bad value per type of the table.
refused log_level '"loud"' '^log_level: must be debug, info, warn or error$'
refused server.threads 0 '^server\.threads: must be an integer 1\.\.256$'
refused server.threads '"4"' '^server\.threads: must be an integer 1\.\.256$'
refused acme.external_account_required '"yes"' \
	'^acme\.external_account_required: must be true or false$'
refused requests.pending_ttl '"7 days"' '^requests\.pending_ttl: must be a duration'
refused audit.checkpoint_interval '"30s"' '^audit\.checkpoint_interval: must be a duration.* from 60s'
refused acme.terms_of_service '"ftp://example.com/tos"' \
	'^acme\.terms_of_service: must be an absolute http:// or https:// URL'
refused listen.http '"nowhere"' '^listen\.http: must be host:port or \[v6\]:port'
refused acme.validation.hosts '{"a.test": "not-an-ip"}' \
	'^acme\.validation\.hosts\.a\.test: must be an IPv4 or IPv6 address$'
refused acme.caa_identities '"cairn.test"' '^acme\.caa_identities: must be an array of at most 32 strings$'
# A CAA identity no record can name would refuse every name that has CAA records.
refused acme.caa_identities '["cairn.test", "ca.example."]' \
	'^acme\.caa_identities\[1\]: "ca\.example\." is no issuer domain name: it ends with a dot$'
refused acme.caa_identities '[""]' '^acme\.caa_identities\[0\]: "" is no issuer domain name: it is empty$'
refused acme.caa_identities '["*.cairn.test"]' '^acme\.caa_identities\[0\]: "\*\.cairn\.test" is no issuer domain name'
# An EST label's policy group is a name EAB keys and policy rules can hold too.
refused est.labels.default.policy_group '"lab devices"' \
	'^est\.labels\.default\.policy_group: must be 1\.\.63 of \[A-Za-z0-9_\.-\]$'
# A notify sink whose match no event can meet would drop its alerts without a word.
SINK='"name": "pay", "url": "https://hooks.example/x", "secret_file": "wh.secret", "events": ["cert.expiring"]'
refused notify "{\"webhooks\": [{$SINK, \"match\": {\"dns_suffix\": [\".pay.example.\"]}}]}" \
	'^notify sink pay: match\.dns_suffix "\.pay\.example\." can never match: the name ends with a dot$'
refused notify "{\"webhooks\": [{$SINK, \"match\": {\"profile\": [\"tls-server\", \"tls-sever\"]}}]}" \
	'^notify sink pay: match\.profile "tls-sever" can never match: cairn\.json has no such profile$'
refused discover.allowed '["10.0.0.0/8", "10.0.0.0/99"]' \
	'^discover\.allowed: 10\.0\.0\.0/99 is not an address or CIDR range$'
refused acme.rate_limits 5 '^acme\.rate_limits: must be an object$'
refused est.labels '[]' '^est\.labels: must be an object of 0\.\.32 named entries$'
refused ocsp.signer '"nobody"' '^ocsp\.signer: must be delegated or ca$'
refused colour '"blue"' '^colour: unknown key \(known here: listen, '
# What the subsystems refuse, through the same validator.
refused est.labels.default.bogus 1 '^est\.labels\.default\.bogus: unknown key'
refused est.labels.default.profile '"nosuch"' '^est\.labels\.default\.profile: no profile named nosuch$'
refused acme.profile '"nosuch"' '^acme\.profile: no profile named nosuch$'
refused acme.profile '"admin"' '^acme\.profile: admin logs in to the admin API'
refused profiles.tls-server.key_usage '["keyCertSign"]' '^profiles\.tls-server\.key_usage'
refused profiles.tls-server '{"key_usage": ["digitalSignature"]}' \
	'^profiles\.tls-server\.validity_days: required \(longest validity'
refused profiles '{}' '^profiles: must be an object of 1\.\.64 named entries$'

# cairn init checks its URL options with the same rule (they go into the certificates it makes).
fails "init refuses --public-http without a scheme" \
	"$CAIRN" init --dir "$WORK/bare" --public-http ca.example.com/ocsp
last_has "  ... with the table's message" "public_urls\.http: must be an absolute http:// or https:// URL"
ok "  ... and made nothing" test ! -e "$WORK/bare"
fails "init refuses --public-http with a trailing /" \
	"$CAIRN" init --dir "$WORK/bare" --public-http http://ca.example/
last_has "  ... saying why" "public_urls\.http: a base URL does not end in /"
ok "  ... and made nothing" test ! -e "$WORK/bare"

# A full config: every optional key given a valid value passes check and starts serve.
python3 - "$WORK/good.json" "$D/cairn.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["public_urls"] = {"https": "https://127.0.0.1:8443", "http": "http://127.0.0.1:8080"}
doc["log_level"] = "debug"
doc["server"].update({"max_connections": 64, "max_connections_per_ip": 8,
    "max_header_bytes": 16384, "http_max_header_bytes": 8192, "connection_timeout": 10,
    "max_json_depth": 16, "tls_min_version": "1.3"})
doc["audit"] = {"checkpoint_interval": "2h"}
doc["requests"] = {"pending_ttl": "2w"}
doc["acme"] = {"profile": "tls-server", "terms_of_service": "https://example.com/tos",
    "website": "https://example.com/", "caa_identities": ["cairn.test"],
    "external_account_required": False, "authz_reuse_seconds": 3600,
    "order_lifetime_seconds": 3600, "renewal_window_percent": 50, "validation_workers": 2,
    "rate_limits": {"orders_per_hour": 100, "pending_authorizations": 10,
                    "failed_validations_per_hour": 5},
    "validation": {"dns_server": "127.0.0.1:5353", "http01_port": 5002, "tlsalpn01_port": 5001,
                   "timeout_ms": 2000, "hosts": {"a.test": "127.0.0.1", "b.test": "::1"}}}
doc["ocsp"] = {"signer": "ca", "validity": 3600}
doc["crl"] = {"publish_dir": "crl", "period": 3600, "overlap": 600, "debounce": 1,
              "delta_period": 600, "keep_expired": 1}
doc["est"]["labels"]["iot"] = {"profile": "tls-client", "validity_days": 30,
    "serverkeygen": True, "policy_group": "devices", "client_cert_profiles": ["tls-client"]}
doc["est"].update({"auth_fail_limit": 5, "auth_fail_window": 60})
doc["profiles"]["tls-server"].update({"min_rsa_bits": 3072, "require_san": True})
json.dump(doc, open(sys.argv[2], "w"), indent=2)
PY
ok "a full valid config passes config check" "$CAIRN" config check --dir "$D"
last_has "  ... says it is valid" "cairn.json is valid"
if ca_serve "$D"; then tap 1 "the same config starts serve"; else tap 0 "the same config starts serve"; fi
ok "  ... and keeps running" kill -0 "$SERVE_PID"
ca_stop

# docs/config.md carries the table as `cairn config keys` prints it, line for line.
ok "cairn config keys prints the table" sh -c "'$CAIRN' config keys >'$WORK/keys.md'"
awk '/^\| key \| type/{t=1} t&&/^\|/{print; next} t{exit}' "$CAIRN_SRCDIR/docs/config.md" \
	>"$WORK/doc-table.md"
ok "docs/config.md is the regenerated table (diff)" diff -u "$WORK/doc-table.md" "$WORK/keys.md"
done_testing
