#!/bin/sh
# SPDX-License-Identifier: MIT
# Regenerates the seed corpora in fuzz/corpus/ from real traffic: a CA made by
# `cairn init`, CSRs made by openssl, admin API requests that a running `cairn serve`
# answered (sent with curl), and the audit log `cairn audit export` wrote for them.
# Seeds are named by content hash, so rerunning adds new shapes and keeps the old
# ones (and every crash input, which must stay). Run from a built tree: needs ./cairn.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
CAIRN=$top/cairn
C=$top/fuzz/corpus
W=$(mktemp -d "${TMPDIR:-/tmp}/cairn-seeds.XXXXXX")
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$W"' EXIT
mkdir -p "$C/base64url" "$C/csr" "$C/config" "$C/admin" "$C/audit_event" "$C/policy" "$C/ocsp" "$C/jws" "$C/time" "$C/cert"

# seed TARGET FILE: stores FILE under its SHA-1.
seed() { cp "$2" "$C/$1/$(sha1sum "$2" | cut -c1-16)"; }
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

"$CAIRN" init --dir "$W/ca" --listen-https 127.0.0.1:0 --listen-http 127.0.0.1:0 \
	--public-http http://init.invalid >/dev/null
seed config "$W/ca/cairn.json"
seed policy "$W/ca/policy.json"
# Rules as tests/integration/policy.sh and docs/policy.md write them, and broken ones.
cat >"$W/p1" <<'JSON'
{"rules": [
  {"name": "dev",     "match": {"dns_suffix": [".dev.test"]},                   "action": "issue"},
  {"name": "prod",    "match": {"dns_suffix": [".prod.test"]},                  "action": "approve", "approvals": 2},
  {"name": "devices", "match": {"channel": "est", "subject_cn_prefix": "device-"}, "action": "approve", "approvals": 2},
  {"name": "default", "match": {},                                               "action": "reject", "reason": "not allowed by policy"}
]}
JSON
seed policy "$W/p1"
sed 's/"dns_suffix": \[".prod.test"\]/"dns_suffix": ".prod.test"/' "$W/p1" >"$W/p2" && seed policy "$W/p2"
echo '{"rules": [{"name": "x", "match": {}, "action": "maybe"}]}' >"$W/p3" && seed policy "$W/p3"
# The same document with every limit and section spelled out.
perl -0pi -e 's/"max_body": 65536/"max_body": 65536, "max_connections": 512, "max_connections_per_ip": 32, "max_header_bytes": 16384, "connection_timeout": 10, "max_json_depth": 16/' \
	"$W/ca/cairn.json"
seed config "$W/ca/cairn.json"
"$CAIRN" config check --dir "$W/ca" >/dev/null

i=0
for spec in "ec -pkeyopt ec_paramgen_curve:P-256" "ec -pkeyopt ec_paramgen_curve:P-384" \
	"rsa:2048" "rsa:3072" "ed25519" "ec -pkeyopt ec_paramgen_curve:P-521" "rsa:1024"; do
	for san in "DNS:www.example.test,DNS:api.example.test,IP:127.0.0.1" \
		"email:alice@example.test" "" "URI:https://example.test/x,DNS:*.example.test"; do
		i=$((i + 1))
		# shellcheck disable=SC2086
		set -- -new -nodes -keyout "$W/k$i.key" -out "$W/r$i.csr" -newkey $spec \
			-subj "/CN=www.example.test/O=Example"
		[ -n "$san" ] && set -- "$@" -addext "subjectAltName=$san"
		openssl req "$@" 2>/dev/null
		seed csr "$W/r$i.csr"
		openssl req -in "$W/r$i.csr" -outform DER -out "$W/r$i.der"
		seed csr "$W/r$i.der"
		b64url <"$W/r$i.der" >"$W/r$i.b64u"
		seed base64url "$W/r$i.b64u"
	done
done
printf '' >"$W/empty" && seed base64url "$W/empty"
# Times as cairn writes them and as operators type them (--since, invalidity_date), edges included.
for v in 2026-11-27T10:00:00Z 2026-11-27T12:00:00+02:00 2026-11-27 2026-11-27t10:00:00z \
	2016-12-31T23:59:60Z 2026-11-27T10:00:00.123456789-23:59 2024-02-29T00:00:00-00:00 \
	0000-01-01T00:00:00+23:59 9999-12-31T23:59:59-23:59 2026-11-27T10:00:00+1:00 \
	2026-11-27T10:00:00+99:99 2026-11-27T10:00:00+; do
	printf '%s' "$v" >"$W/time" && seed time "$W/time"
done
printf 'eyJhbGciOiJFUzI1NiJ9' >"$W/hdr" && seed base64url "$W/hdr"

"$CAIRN" serve --dir "$W/ca" 2>"$W/serve.log" &
PID=$!
n=0
while [ ! -s "$W/ca/serve.json" ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
URL=$(sed -n 's/.*"https": *"\([^"]*\)".*/\1/p' "$W/ca/serve.json")
TOKEN=$(cat "$W/ca/admin.token")

# admin REQLINE AUTH CTYPE BODYFILE: sends it for real, keeps it as a seed when the daemon
# answered (any status: refusals are traffic too), in the fuzz target's input format.
admin() {
	auth=$2
	[ "$auth" = "@token@" ] && auth="Bearer $TOKEN"
	set -- "$1" "$2" "$3" "$4" "$auth"
	method=${1%% *} path=${1#* }
	code=$(curl -s --cacert "$W/ca/ca/root.pem" -o /dev/null -w '%{http_code}' -X "$method" \
		${5:+-H "Authorization: $5"} -H "Content-Type: $3" --data-binary @"$4" \
		"$URL/admin/v1$path")
	[ "$code" != 000 ] || return 1
	{ printf '%s\n%s\n%s\n' "$1" "$2" "$3"; cat "$4"; } >"$W/adm"
	seed admin "$W/adm"
}
for j in 1 2 5 9 12; do
	perl -0777 -ne 'chomp; s/\n/\\n/g; print "{\"csr\":\"$_\",\"profile\":\"tls-server\"}"' \
		"$W/r$j.csr" >"$W/body$j"
	admin "POST /certificates" "@token@" application/json "$W/body$j"
done
perl -0777 -ne 'chomp; s/\n/\\n/g; print "{\"csr\":\"$_\",\"profile\":\"tls-client\",\"validity_days\":7}"' \
	"$W/r2.csr" >"$W/bodyv" && admin "POST /certificates" "@token@" application/json "$W/bodyv"
printf '{"csr": ' >"$W/trunc" && admin "POST /certificates" "@token@" application/json "$W/trunc"
printf '{"csr":"x","csr":"y","profile":"tls-server"}' >"$W/dup" &&
	admin "POST /certificates" "@token@" application/json "$W/dup"
printf '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]' >"$W/deep" &&
	admin "POST /certificates" "@token@" application/json "$W/deep"
printf '{}' >"$W/empty" && admin "POST /certificates" "Bearer cairn_wrong" application/json "$W/empty"
admin "POST /certificates" "@token@" text/plain "$W/empty"
SERIAL=$(curl -s --cacert "$W/ca/ca/root.pem" -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: application/json' --data-binary @"$W/body1" "$URL/admin/v1/certificates" |
	sed -n 's/.*"serial": *"\([0-9a-f]*\)".*/\1/p')
printf '' >"$W/none"
admin "GET /certificates/$SERIAL" "@token@" - "$W/none"
admin "GET /certificates/zz" "@token@" - "$W/none"
admin "DELETE /certificates" "@token@" - "$W/none"

# Stored certificates: the CA's own, as DER (the cert target decodes DER).
for n in root issuing; do
	openssl x509 -in "$W/ca/ca/$n.pem" -outform DER -out "$W/$n.der" && seed cert "$W/$n.der"
done

# OCSP: a request to the running daemon for the certificate issued above (real traffic),
# then requests for the fuzz target's own issuer (fixed test key and name in fuzz_ocsp.c)
# so that their CertIDs match: valid, revoked, expired and unknown serials, with and
# without nonce, SHA-1 and SHA-256 CertIDs, several in one request; DER and GET base64.
HTTP=$(sed -n 's/.*"http": *"\([^"]*\)".*/\1/p' "$W/ca/serve.json")
openssl ocsp -issuer "$W/ca/ca/issuing.pem" -serial "0x$SERIAL" -url "$HTTP/ocsp" \
	-reqout "$W/ocsp-real.der" -resp_text >/dev/null 2>&1 || true
seed ocsp "$W/ocsp-real.der"
sed -n 's/^\t"\(.*\)\\n"[;]*$/\1/p' fuzz/fuzz_ocsp.c >"$W/fk.pem"
openssl req -x509 -new -key "$W/fk.pem" -subj "/CN=cairn fuzz issuing" -days 30 -out "$W/fi.pem"
s10=0x10101010101010101010101010101010 s11=0x11111111111111111111111111111111
s12=0x12121212121212121212121212121212 s99=0x99999999999999999999999999999999
for args in "-serial $s10" "-serial $s11 -no_nonce" "-serial $s12" "-serial $s99 -no_nonce" \
	"-serial $s10 -serial $s11 -serial $s99" "-sha256 -serial $s10 -no_nonce"; do
	# shellcheck disable=SC2086
	openssl ocsp -issuer "$W/fi.pem" $args -reqout "$W/oreq.der" 2>/dev/null
	seed ocsp "$W/oreq.der"
	openssl base64 -A <"$W/oreq.der" >"$W/oreq.b64" && seed ocsp "$W/oreq.b64"
done

# JWS: ACME request bodies as certbot signs them (its acme/josepy library), for each key
# type, jwk and kid forms, with account, order, finalize and POST-as-GET payloads.
mkdir -p "$W/jws"
/usr/bin/python3 - "$W/jws" "$URL" <<'PY'
import sys, josepy as jose
from acme import jws
from cryptography.hazmat.primitives.asymmetric import ec, rsa, ed25519
out, base = sys.argv[1], sys.argv[2] + "/acme"
keys = [(jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1())), jose.ES256),
        (jose.JWKEC(key=ec.generate_private_key(ec.SECP384R1())), jose.ES384),
        (jose.JWKRSA(key=rsa.generate_private_key(65537, 2048)), jose.RS256)]
payloads = [(b'{"termsOfServiceAgreed": true, "contact": ["mailto:ops@example.test"]}', "new-account", None),
            (b'{"identifiers": [{"type": "dns", "value": "www.example.test"}]}', "new-order", "acct/abc"),
            (b'{"csr": "MIIBAjCBqQIBADAbMRkwFwYDVQQDDBB3d3cuZXhhbXBsZS50ZXN0"}', "order/x/finalize", "acct/abc"),
            (b'', "authz/y", "acct/abc"), (b'{}', "chall/z", "acct/abc")]
n = 0
for key, alg in keys:
    for body, path, kid in payloads:
        j = jws.JWS.sign(body, key=key, alg=alg, nonce=b"nonce-%d" % n, url=base + "/" + path,
                         kid=base + "/" + kid if kid else None)
        open("%s/%d.json" % (out, n), "w").write(j.json_dumps())
        n += 1
PY
for f in "$W"/jws/*.json; do seed jws "$f"; done

"$CAIRN" audit export --dir "$W/ca" --format jsonl --out "$W/audit.jsonl"
n=0
while IFS= read -r line; do
	n=$((n + 1))
	printf '%s' "$line" >"$W/ev$n" && seed audit_event "$W/ev$n"
done <"$W/audit.jsonl"
kill "$PID" && wait "$PID" 2>/dev/null || true
PID=""
for t in base64url csr config admin audit_event policy ocsp jws time cert; do echo "$t: $(ls "$C/$t" | wc -l) seeds"; done
