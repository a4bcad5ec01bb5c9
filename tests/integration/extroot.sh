#!/bin/sh
# SPDX-License-Identifier: MIT
# cairn under an outside root made here with `openssl req -x509`: init --external-root writes
# a CSR, openssl signs it, `ca import-cert` refuses what does not fit and installs what does;
# then the root's and the issuing CA's name constraints hold on every channel (admin API,
# ACME with lego, EST), and OCSP and CRLs verify against the imported issuer.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"
. "$(dirname "$0")/est_lib.sh"

command -v lego >/dev/null || bail "lego is not installed (scripts/deps.sh)"
command -v pebble-challtestsrv >/dev/null || bail "pebble-challtestsrv is not installed"
[ -n "$FAKETIME_LIB" ] || bail "libfaketime is not installed (scripts/deps.sh installs faketime)"

# root NAME [nameConstraints]: a self-signed P-384 root in $WORK/NAME.pem (key NAME.key).
root() {
	{
		printf '[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = v3\n'
		printf '[dn]\nCN = Outside %s Root\nO = Outside\n' "$1"
		printf '[v3]\nbasicConstraints = %s\nkeyUsage = critical,keyCertSign,cRLSign\n' \
			"${ROOT_BC:-critical,CA:TRUE}"
		printf 'subjectKeyIdentifier = hash\n'
		[ -z "${2:-}" ] || printf 'nameConstraints = critical,%s\n' "$2"
	} >"$WORK/$1.cnf"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -days 3650 \
		-keyout "$WORK/$1.key" -out "$WORK/$1.pem" -config "$WORK/$1.cnf" 2>/dev/null
}
# sign CSR ROOT OUT DAYS [extension lines...]: the root signs the CSR, as its owner would.
sign() {
	csr=$1 r=$2 out=$3 days=$4
	shift 4
	printf '%s\n' "subjectKeyIdentifier = hash" "authorityKeyIdentifier = keyid" "$@" \
		>"$WORK/$out.ext"
	openssl x509 -req -in "$csr" -CA "$WORK/$r.pem" -CAkey "$WORK/$r.key" -set_serial "0x40$(
		openssl rand -hex 8)" -days "$days" -extfile "$WORK/$out.ext" -out "$WORK/$out.pem" \
		2>/dev/null
}
CA_EXT="basicConstraints = critical,CA:TRUE,pathlen:0"
KU_EXT="keyUsage = critical,keyCertSign,cRLSign,digitalSignature"

# ---- init --external-root ----
D1=$WORK/plain
ok "init --external-root" ca_init "$D1" --external-root
ok "  ... says it awaits the certificate and how to import it" grep -q "import-cert" "$D1.init.out"
ok "  ... writes a CSR for the issuing CA that verifies" \
	openssl req -in "$D1/ca/issuing.csr" -noout -verify
ok "  ... asking for CA:TRUE and keyCertSign" sh -c "openssl req -in '$D1/ca/issuing.csr' -noout \
	-text | grep -q 'CA:TRUE' && openssl req -in '$D1/ca/issuing.csr' -noout -text |
	grep -q 'Certificate Sign'"
ok "  ... and makes no root, no database" sh -c "[ ! -e '$D1/ca/root.pem' ] && [ ! -e '$D1/db' ]"
fails "init --external-root refuses --root-key" "$CAIRN" init --dir "$WORK/x" --external-root \
	--root-key p256
fails "serve refuses to start before the import" timeout 30 "$CAIRN" serve --dir "$D1"
last_one_line "  ... with one line"
last_has "  ... naming the CSR and import-cert" "issuing.csr.*import-cert"

root r1 || bail "openssl could not make a root"
root r2 || bail "openssl could not make a root"
sign "$D1/ca/issuing.csr" r1 good1 1000 "$CA_EXT" "$KU_EXT" || bail "openssl x509 -req failed"

# ---- import: attacks first ----
# import_in DIR CERT CHAIN: `ca import-cert`, its certificates naming INIT_URL (ca_init).
import_in() {
	set_public_http "$1" "$INIT_URL" || return 1
	"$CAIRN" ca import-cert "$2" --chain "$3" --dir "$1"
	_rc=$?
	set_public_http "$1" "" && return $_rc
}
import() { import_in "$D1" "$@"; }
make_csr other ec:P-256 "/CN=Not The Token Key"
sign "$WORK/other.csr" r1 otherkey 1000 "$CA_EXT" "$KU_EXT"
fails "import of a certificate for another key is refused" import "$WORK/otherkey.pem" "$WORK/r1.pem"
last_one_line "  ... with one line"
last_has "  ... saying it certifies another key" "another key"
fails "import of the root itself as the issuing certificate is refused" import "$WORK/r1.pem" \
	"$WORK/r1.pem"
last_has "  ... another key" "another key"
sign "$D1/ca/issuing.csr" r1 notca 1000 "basicConstraints = critical,CA:FALSE" \
	"keyUsage = critical,digitalSignature"
fails "import of a non-CA certificate is refused" import "$WORK/notca.pem" "$WORK/r1.pem"
last_has "  ... saying it is not a CA" "not a CA certificate"
sign "$D1/ca/issuing.csr" r1 nocrl 1000 "$CA_EXT" "keyUsage = critical,keyCertSign"
fails "import of a CA certificate without cRLSign is refused" import "$WORK/nocrl.pem" "$WORK/r1.pem"
last_has "  ... naming cRLSign" "cRLSign"
fails "import with a chain that does not verify is refused" import "$WORK/good1.pem" "$WORK/r2.pem"
last_has "  ... saying so" "does not verify up to the root"
ROOT_BC=critical,CA:TRUE,pathlen:0
root p0 || bail "openssl could not make a root"
ROOT_BC=
sign "$D1/ca/issuing.csr" p0 under_p0 1000 "$CA_EXT" "$KU_EXT"
fails "import under a root with pathlen:0 is refused" import "$WORK/under_p0.pem" "$WORK/p0.pem"
last_has "  ... saying it allows no CA below it" "pathlen:0 allows no CA"
fails "import with a non-root chain is refused" import "$WORK/good1.pem" "$WORK/good1.pem"
last_has "  ... saying it is not a self-signed root" "not a self-signed root"
LD_PRELOAD=$FAKETIME_LIB FAKETIME=-10d sign "$D1/ca/issuing.csr" r1 expired 2 "$CA_EXT" "$KU_EXT"
ok "(an expired certificate was made)" sh -c "! openssl x509 -in '$WORK/expired.pem' -noout -checkend 0"
fails "import of an expired certificate is refused" import "$WORK/expired.pem" "$WORK/r1.pem"
last_has "  ... saying it expired" "expired on"
fails "a private key passed as FILE is refused" import "$WORK/r1.key" "$WORK/r1.pem"
last_has "  ... saying it is a private key" "private key"
cat "$WORK/good1.pem" "$WORK/r1.key" >"$WORK/withkey.pem"
fails "a certificate with a private key in the same file is refused" import "$WORK/withkey.pem" \
	"$WORK/r1.pem"
last_has "  ... saying it is a private key" "private key"
fails "a private key passed as --chain is refused" import "$WORK/good1.pem" "$WORK/r1.key"
fails "after all refusals the daemon still refuses to start" timeout 30 "$CAIRN" serve --dir "$D1"
last_has "  ... awaiting its certificate" "awaits"

# ---- import, serve, issue (no constraints) ----
fails "import on listen.http port 0 without public_urls.http is refused" \
	"$CAIRN" ca import-cert "$WORK/good1.pem" --chain "$WORK/r1.pem" --dir "$D1"
last_has "  ... saying what to set" "port 0.*set public_urls.http"
ok "import of the certificate the root signed" import "$WORK/good1.pem" "$WORK/r1.pem"
ok "  ... installs the outside root as the trust anchor" cmp "$D1/ca/root.pem" "$WORK/r1.pem"
fails "a second import is refused" import "$WORK/good1.pem" "$WORK/r1.pem"
last_has "  ... saying the CA already has one" "already has its issuing CA"
ca_serve "$D1" || bail "cairn serve did not start after the import"
ok "/ca/root.crt serves the outside root" sh -c "curl -sf '$HTTP_URL/ca/root.crt' |
	openssl x509 -inform DER | cmp - '$WORK/r1.pem'"
ok "the daemon's HTTPS certificate verifies against the outside root" sh -c \
	"curl -sf --cacert '$WORK/r1.pem' '$HTTPS_URL/healthz' | grep -q ok"
make_csr p1 ec:P-256 /CN=any.other.test "DNS:any.other.test"
ok "admin API issues under the outside root" "$CAIRN" issue --dir "$D1" --csr "$WORK/p1.csr" \
	--profile tls-server --out "$WORK/p1.pem"
ok "  ... and the certificate verifies up to it" openssl verify -CAfile "$WORK/r1.pem" \
	-untrusted "$D1/ca/issuing.pem" "$WORK/p1.pem"
ok "the import is in the audit log" sh -c "'$CAIRN' audit export --dir '$D1' --format jsonl \
	>'$WORK/a1.jsonl' && grep -q '\"ca.import\"' '$WORK/a1.jsonl'"
ok "  ... and the export verifies against the outside root" "$CAIRN" audit verify \
	--export "$WORK/a1.jsonl" --ca "$WORK/r1.pem"
ca_stop

# ---- name constraints: in the root and in the issuing certificate ----
D=$WORK/nc
HTTPS_NAMES="permitted;DNS:localhost,permitted;IP:127.0.0.0/255.0.0.0"
HTTPS_NAMES="$HTTPS_NAMES,permitted;IP:::1/ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
ok "init --external-root (second CA)" ca_init "$D" --external-root
root nc "permitted;DNS:.example.test,permitted;IP:10.0.0.0/255.0.0.0,$HTTPS_NAMES,excluded;DNS:bad.example.test" ||
	bail "openssl could not make a constrained root"
root narrow "permitted;DNS:.example.test" || bail "openssl could not make a root"
root dirn "permitted;dirName:dn_sect"; printf '[dn_sect]\nO = Outside\n' >>"$WORK/dirn.cnf" &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -days 3650 \
		-keyout "$WORK/dirn.key" -out "$WORK/dirn.pem" -config "$WORK/dirn.cnf" 2>/dev/null
sign "$D/ca/issuing.csr" dirn dirn_iss 1000 "$CA_EXT" "$KU_EXT"
fails "import refused when the root has constraints cairn cannot honour (dirName)" \
	import_in "$D" "$WORK/dirn_iss.pem" "$WORK/dirn.pem"
last_has "  ... saying so" "cannot honour directoryName name constraints"
sign "$D/ca/issuing.csr" narrow narrow_iss 1000 "$CA_EXT" "$KU_EXT"
fails "import refused when the daemon's HTTPS names break the root's constraints" \
	import_in "$D" "$WORK/narrow_iss.pem" "$WORK/narrow.pem"
last_has "  ... naming the name and the constraint" "dns:localhost.*dns:.example.test"
sign "$D/ca/issuing.csr" nc iss 1000 "$CA_EXT" "$KU_EXT" \
	"nameConstraints = critical,excluded;DNS:secret.example.test,excluded;email:.example.test"
ok "import under the constrained root" import_in "$D" "$WORK/iss.pem" "$WORK/nc.pem"
dns_start || bail "test DNS server did not start"
HP=$(free_port)
acme_conf "$D" "{\"validation\": {\"dns_server\": \"127.0.0.1:$DNS_PORT\", \"http01_port\": $HP}}"
# An EST label for servers (tls-server: DNS and IP names).
jq '.est.labels["servers"] = {"profile": "tls-server", "validity_days": 30}' "$D/cairn.json" \
	>"$WORK/cairn.json" && cp "$WORK/cairn.json" "$D/cairn.json" || bail "cannot edit cairn.json"
ca_serve "$D" || bail "cairn serve did not start"
ROOT=$WORK/nc.pem
ISSUING=$D/ca/issuing.pem
verifies() { openssl verify -CAfile "$ROOT" -untrusted "$ISSUING" "$1"; }

# -- admin API --
issue() { "$CAIRN" issue --dir "$D" --csr "$WORK/$1.csr" --profile "${2:-tls-server}" --out "$WORK/$1.pem"; }
make_csr in1 ec:P-256 /CN=www.example.test "DNS:www.example.test,DNS:WWW2.Example.Test,IP:10.1.2.3"
ok "admin API: in-constraint names are issued" issue in1
ok "  ... and verify up to the root (openssl checks the constraints too)" verifies "$WORK/in1.pem"
refused() { # refused DESCRIPTION CSRNAME SAN [CN] [PROFILE] REGEX
	make_csr "$2" ec:P-256 "/CN=${4:-www.example.test}" "$3"
	fails "admin API refuses $1" issue "$2" "${5:-tls-server}"
	last_has "  ... naming the name and the constraint" "$6"
}
refused "one extra name outside" x1 "DNS:www.example.test,DNS:x.other.test" "" "" \
	"dns:x.other.test is outside the permitted subtrees \(dns:.example.test"
refused "a wildcard outside" x2 "DNS:*.other.test" "*.other.test" "" "dns:\*.other.test is outside"
refused "an IPv4-mapped IPv6 address outside" x3 "DNS:www.example.test,IP:::ffff:192.168.1.1" \
	"" "" "IPv4-mapped.*ip:192.168.1.1 is outside.*ip:10.0.0.0/8"
refused "an uppercase name outside" x4 "DNS:X.OTHER.TEST" X.OTHER.TEST "" "dns:x.other.test is outside"
refused "a trailing-dot name" x5 "DNS:x.other.test." x.other.test "" "trailing|dot|name"
refused "a name that only ends in the permitted text" x6 "DNS:evilexample.test" \
	evilexample.test "" "dns:evilexample.test is outside"
refused "the bare domain of a .example.test constraint" x7 "DNS:example.test" example.test "" \
	"dns:example.test is outside"
refused "a name in the root's excluded subtree" x8 "DNS:bad.example.test" bad.example.test "" \
	"dns:bad.example.test is in the excluded subtree dns:bad.example.test of the root CA"
refused "a name in the issuing CA's excluded subtree" x9 "DNS:a.secret.example.test" \
	a.secret.example.test "" "excluded subtree dns:secret.example.test of the issuing CA"
refused "an IP outside" x10 "DNS:www.example.test,IP:11.0.0.1" "" "" "ip:11.0.0.1 is outside"
refused "a CN outside when there is no SAN" x11 "" host.other.test tls-client \
	"subject CN dns:host.other.test is outside"
refused "an email in the issuing CA's excluded subtree" x12 "email:a@b.example.test" \
	"Alice" tls-client "email:a@b.example.test is in the excluded subtree email:.example.test"
ok "admin API answers a problem document naming the name" sh -c "
	python3 -c 'import json,sys; print(json.dumps({\"csr\": open(sys.argv[1]).read(),
		\"profile\": \"tls-server\"}))' '$WORK/x1.csr' >'$WORK/x1.json' &&
	curl -s --cacert '$ROOT' -H \"Authorization: Bearer \$(cat '$D/admin.token')\" \
		-H 'Content-Type: application/json' --data-binary @'$WORK/x1.json' \
		-D '$WORK/x1.hdr' '$HTTPS_URL/admin/v1/certificates' >'$WORK/x1.body' &&
	grep -qi '^content-type: application/problem+json' '$WORK/x1.hdr' &&
	grep -q 'x.other.test is outside the permitted subtrees' '$WORK/x1.body'"
# A policy that makes every request wait: a name outside is refused at once, never parked
# for approvers to approve into a refusal.
cp "$D/policy.json" "$WORK/policy.saved"
cat >"$D/policy.json" <<'JSON'
{"rules": [{"name": "hold", "match": {}, "action": "approve", "approvals": 1}]}
JSON
ok "policy reload (every request waits for one approval)" "$CAIRN" policy reload --dir "$D"
make_csr w1 ec:P-256 /CN=w.example.test "DNS:w.example.test,DNS:w.other.test"
fails "a request outside the constraints is refused, not left pending" issue w1
last_has "  ... naming the name and the constraint" "dns:w.other.test is outside"
ok "  ... and no request waits" sh -c "! '$CAIRN' requests list --dir '$D' --json | grep -q w.other.test"
cp "$WORK/policy.saved" "$D/policy.json"
ok "policy reload (back to issuing)" "$CAIRN" policy reload --dir "$D"
ok "nothing out of constraint was stored" sh -c "! '$CAIRN' list --dir '$D' --json |
	grep -Eq 'other.test|192.168|bad.example|secret.example|11.0.0.1|evilexample'"

# -- ACME (lego) --
export LEGO_CA_CERTIFICATES="$ROOT"
lego_exec_script "$WORK/dns-hook.sh"
export EXEC_PATH="$WORK/dns-hook.sh" EXEC_POLLING_INTERVAL=1 EXEC_PROPAGATION_TIMEOUT=30 \
	EXEC_SEQUENCE_INTERVAL=1
L="lego --server $HTTPS_URL/acme/directory --path $WORK/lego --email ops@example.test --accept-tos"
cd "$WORK" || bail "no work dir"
ok "ACME (lego): an in-constraint name is issued" $L --domains acme.example.test \
	--http --http.port "127.0.0.1:$HP" run
ok "  ... and verifies up to the root" verifies "$WORK/lego/certificates/acme.example.test.crt"
fails "ACME (lego): one extra name outside is refused at finalize" $L \
	--domains acme2.example.test --domains y.other.test --http --http.port "127.0.0.1:$HP" run
last_has "  ... naming the name and the constraint" "y.other.test is outside the permitted subtrees"
fails "ACME (lego): a wildcard outside is refused" $L --domains '*.other.test' --dns exec \
	--dns.disable-cp --dns.resolvers "127.0.0.1:$DNS_PORT" run
last_has "  ... naming it" "\*.other.test is outside"
fails "ACME (lego): an uppercase name outside is refused" $L --domains Z.OTHER.TEST \
	--http --http.port "127.0.0.1:$HP" run
last_has "  ... naming it" "z.other.test is outside"
fails "ACME (lego): a name in the excluded subtree is refused" $L --domains bad.example.test \
	--http --http.port "127.0.0.1:$HP" run
last_has "  ... naming it" "bad.example.test is in the excluded subtree"

# -- EST --
EST=$HTTPS_URL/.well-known/est
printf 'device password\n' >"$WORK/pw"
ok "est user add" "$CAIRN" est user add --dir "$D" --name dev --password-file "$WORK/pw" \
	--labels servers
make_csr e1 ec:P-256 /CN=dev.example.test "DNS:dev.example.test,IP:10.9.9.9"
BODY=$WORK/e1.b64
b64csr e1
est_post e1 servers/simpleenroll -u 'dev:device password'
ok "EST: an in-constraint CSR is enrolled" status_is e1 200
ok "  ... and verifies up to the root" sh -c "p7cert() { openssl base64 -d -in '$WORK/e1.body' |
	openssl pkcs7 -inform DER -print_certs -out '$WORK/e1.pem'; }; p7cert &&
	openssl verify -CAfile '$ROOT' -untrusted '$ISSUING' '$WORK/e1.pem'"
est_refused() { # est_refused DESCRIPTION NAME SAN REGEX
	make_csr "$2" ec:P-256 /CN=dev.example.test "$3"
	BODY=$WORK/$2.b64
	b64csr "$2"
	est_post "$2" servers/simpleenroll -u 'dev:device password'
	ok "EST refuses $1 (400)" status_is "$2" 400
	ok "  ... naming the name and the constraint" grep -Eq "$4" "$WORK/$2.body"
}
est_refused "one extra name outside" e2 "DNS:dev.example.test,DNS:w.other.test" \
	"w.other.test is outside the permitted subtrees"
est_refused "an IPv4-mapped IPv6 address outside" e3 "DNS:dev.example.test,IP:::ffff:192.168.1.1" \
	"192.168.1.1 is outside.*ip:10.0.0.0/8"
est_refused "a wildcard outside" e4 "DNS:dev.example.test,DNS:*.other.test" "\*.other.test is outside"

# -- OCSP and CRL against the imported issuer --
cat "$ROOT" "$ISSUING" >"$WORK/chain.pem"
ok "OCSP: good, and the answer verifies against the imported issuer" sh -c "
	openssl ocsp -issuer '$ISSUING' -cert '$WORK/in1.pem' -url '$HTTP_URL/ocsp' \
		-CAfile '$WORK/chain.pem' >'$WORK/ocsp.out' 2>&1 &&
	grep -q 'Response verify OK' '$WORK/ocsp.out' && grep -q ': good' '$WORK/ocsp.out'"
SERIAL=$(openssl x509 -in "$WORK/in1.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
ok "revoke an issued certificate" "$CAIRN" revoke --dir "$D" "$SERIAL" --reason keyCompromise
crl_lists() {
	i=0
	while [ $i -lt 100 ]; do
		curl -sf "$HTTP_URL/crl/issuing.crl" -o "$WORK/i.crl" &&
			openssl crl -inform DER -in "$WORK/i.crl" -out "$WORK/i.crl.pem" &&
			openssl crl -in "$WORK/i.crl.pem" -noout -text | grep -qi "$1" && return 0
		i=$((i + 1))
		sleep 0.1
	done
	return 1
}
ok "the CRL lists it" crl_lists "$SERIAL"
ok "  ... and is signed by the imported issuer" openssl crl -in "$WORK/i.crl.pem" \
	-CAfile "$WORK/chain.pem" -noout
ok "  ... openssl verify -crl_check says revoked" sh -c "! openssl verify -crl_check \
	-CAfile '$WORK/chain.pem' -CRLfile '$WORK/i.crl.pem' '$WORK/in1.pem' >'$WORK/v.out' 2>&1 &&
	grep -q 'certificate revoked' '$WORK/v.out'"
ok "OCSP says revoked, verified against the imported issuer" sh -c "
	openssl ocsp -issuer '$ISSUING' -cert '$WORK/in1.pem' -url '$HTTP_URL/ocsp' \
		-CAfile '$WORK/chain.pem' >'$WORK/ocsp.out' 2>&1 &&
	grep -q 'Response verify OK' '$WORK/ocsp.out' && grep -q ': revoked' '$WORK/ocsp.out'"
ok "no root CRL is served (the root is not ours)" sh -c \
	"[ \$(curl -s -o /dev/null -w '%{http_code}' '$HTTP_URL/crl/root.crl') = 404 ]"
ok "lint_db: everything stored passes certlint" lint_db "$D"
ca_stop
done_testing
