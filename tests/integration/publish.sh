#!/bin/sh
# SPDX-License-Identifier: MIT
# The published tree behind a real nginx (docs/nginx-publish.conf as shipped): ocsp.publish and
# crl.publish on a daemon with seeded and issued certificates; OCSP GET through nginx (raw and
# percent-encoded base64) verified by openssl with RFC 5019 headers; a revocation reaches the
# tree within ocsp.publish_delay; the CRL from nginx lists it; every file parses, no temporary
# file is left or served; `cairn publish --to` writes the same tree once; a restart prunes
# stray temporaries and stale answers (never symlinks or others' files); a kill -9 while
# publishing leaves a tree nginx serves after the restart.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"
. "$CAIRN_SRCDIR/tests/integration/acme_lib.sh"

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || bail "nginx is not installed (scripts/deps.sh installs it)"
SEED=$(pwd)/bench/ocsp_seed
[ -x "$SEED" ] || bail "bench/ocsp_seed is not built"

N=200
DELAY=1
D=$WORK/ca
TREE=$WORK/tree
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
ROOT=$D/ca/root.pem
ISSUING=$D/ca/issuing.pem
"$SEED" -O -T "$D" $N $N "$WORK" >"$WORK/seed.json" 2>&1 || bail "seeding failed: $(cat "$WORK/seed.json")"
python3 - "$D/cairn.json" "$TREE" "$DELAY" <<'PY' || bail "cannot edit cairn.json"
import json, sys
path, tree, delay = sys.argv[1], sys.argv[2], int(sys.argv[3])
doc = json.load(open(path))
doc.setdefault("ocsp", {}).update({"publish": tree, "publish_delay": delay})
doc.setdefault("crl", {}).update({"publish": tree, "debounce": 1})
json.dump(doc, open(path, "w"), indent=2)
PY
VALIDITY=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get('ocsp',{}).get('validity',345600))" "$D/cairn.json")
CRLVAL=$(python3 -c "import json,sys; c=json.load(open(sys.argv[1])).get('crl',{}); print(c.get('period',86400)+c.get('overlap',86400))" "$D/cairn.json")
ca_serve "$D" || bail "cairn serve did not start"

# nginx as this user, its own prefix, pid and logs in $WORK, the site as docs/ ships it.
NG=$WORK/nginx
PORT=$(free_port)
mkdir -p "$NG"
sed -e "s|@LISTEN@|127.0.0.1:$PORT|" -e "s|@TREE@|$TREE|" -e "s|@OCSP_VALIDITY@|$VALIDITY|" \
	-e "s|@CRL_VALIDITY@|$CRLVAL|" "$CAIRN_SRCDIR/docs/nginx-publish.conf" >"$NG/site.conf"
{
	[ "$(id -u)" -eq 0 ] && echo "user $(id -un);"
	cat <<EOF
worker_processes 1;
daemon off;
pid $NG/nginx.pid;
error_log $NG/error.log;
events { worker_connections 64; }
http {
	access_log $NG/access.log;
	client_body_temp_path $NG/body;
	proxy_temp_path $NG/proxy;
	fastcgi_temp_path $NG/fastcgi;
	uwsgi_temp_path $NG/uwsgi;
	scgi_temp_path $NG/scgi;
	include $NG/site.conf;
}
EOF
} >"$NG/nginx.conf"
"$NGINX" -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log" 2>"$NG/start.log" &
NGINX_PID=$!
CAIRN_PIDS="$CAIRN_PIDS $NGINX_PID"
NG_URL=http://127.0.0.1:$PORT
i=0
until curl -s -o /dev/null "$NG_URL/"; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$NGINX_PID" 2>/dev/null; then
		bail "nginx did not start: $(cat "$NG/start.log" "$NG/error.log" 2>/dev/null)"
	fi
	sleep 0.1
done

# req NAME ISSUER-OPTS...: the DER request (SHA-1 CertID, no nonce) in $WORK/NAME.req and its
# base64 in $WORK/NAME.b64 (raw) and $WORK/NAME.enc (percent-encoded).
req() {
	n=$1
	shift
	openssl ocsp -issuer "$ISSUING" "$@" -no_nonce -reqout "$WORK/$n.req" >/dev/null 2>&1 &&
		base64 -w0 "$WORK/$n.req" >"$WORK/$n.b64" &&
		sed 's|+|%2B|g; s|/|%2F|g; s|=|%3D|g' "$WORK/$n.b64" >"$WORK/$n.enc"
}
# fetch NAME b64|enc OUT: GET through nginx; headers in OUT.h. Fails on anything but 200.
fetch() {
	curl -sf -D "$3.h" -o "$3" "$NG_URL/ocsp/$(cat "$WORK/$1.$2")"
}
# verify OUT STATUS CERT-OPTS...: openssl ocsp checks the answer in OUT against the root.
verify() {
	out=$1 want=$2
	shift 2
	openssl ocsp -respin "$out" -issuer "$ISSUING" "$@" -CAfile "$ROOT" >"$out.txt" 2>&1 &&
		grep -q "Response verify OK" "$out.txt" && grep -q ": $want\$" "$out.txt"
}
# until_ok TENTHS CMD...: runs CMD until it succeeds, at most TENTHS tenths of a second.
until_ok() {
	t=$1
	shift
	i=0
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -gt "$t" ] && return 1
		sleep 0.1
	done
}

# A certificate issued now reaches the tree within the delay (the daemon signs it at issuance).
make_csr alpha ec:P-256 "/CN=alpha.example.test" "DNS:alpha.example.test"
"$CAIRN" issue --dir "$D" --csr "$WORK/alpha.csr" --profile tls-server --out "$WORK/alpha.chain" \
	>"$WORK/issue.out" 2>&1 || bail "issuance failed: $(cat "$WORK/issue.out")"
openssl x509 -in "$WORK/alpha.chain" -out "$WORK/alpha.pem"
ALPHA=$(openssl x509 -in "$WORK/alpha.pem" -noout -serial | cut -d= -f2)
req alpha -cert "$WORK/alpha.pem" || bail "openssl ocsp -reqout failed"
ok "a new certificate's answer is in the tree within ocsp.publish_delay + 5 s" \
	until_ok $(((DELAY + 5) * 10)) fetch alpha b64 "$WORK/a1"
ok "GET with the raw base64 path: openssl verifies the answer, good" verify "$WORK/a1" good -cert "$WORK/alpha.pem"
ok "GET with the percent-encoded path: the same file" fetch alpha enc "$WORK/a2"
ok "  ... byte for byte" cmp "$WORK/a1" "$WORK/a2"
ok "  ... verifies, good" verify "$WORK/a2" good -cert "$WORK/alpha.pem"
ok "Content-Type: application/ocsp-response" grep -qi '^Content-Type: application/ocsp-response' "$WORK/a1.h"
# RFC 5019 §6.2: Last-Modified = thisUpdate, Expires = nextUpdate, max-age <= nextUpdate - now.
ok "RFC 5019 caching headers agree with the answer's thisUpdate and nextUpdate" python3 - "$WORK/a1" <<'PY'
import sys, re
import warnings; warnings.simplefilter("ignore")
from email.utils import parsedate_to_datetime
from cryptography.x509 import ocsp
r = ocsp.load_der_ocsp_response(open(sys.argv[1], "rb").read())
h = {}
for line in open(sys.argv[1] + ".h", encoding="latin-1"):
    if ":" in line:
        k, v = line.split(":", 1)
        h.setdefault(k.strip().lower(), []).append(v.strip())
tu, nu = r.this_update.timestamp(), r.next_update.timestamp()
assert parsedate_to_datetime(h["last-modified"][0]).timestamp() == tu, (h["last-modified"], tu)
assert parsedate_to_datetime(h["expires"][0]).timestamp() == nu, (h["expires"], nu)
cc = ", ".join(h["cache-control"])
m = re.search(r"max-age=(\d+)", cc)
now = parsedate_to_datetime(h["date"][0]).timestamp()
assert m and 0 < int(m.group(1)) <= nu - now, (cc, nu - now)
for t in ("public", "no-transform", "must-revalidate"):
    assert t in cc, cc
assert h["etag"][0].startswith('"'), h["etag"]
PY
ok "the answer is also named by the SHA-256 of the request (ocsp/sha256/hh/hex)" sh -c "
	h=\$(sha256sum '$WORK/alpha.req' | cut -c1-64); hh=\$(echo \$h | cut -c1-2)
	curl -sf -o '$WORK/a3' '$NG_URL/ocsp/sha256/'\$hh/\$h && cmp '$WORK/a1' '$WORK/a3'"

# Seeded certificates: paths with '/', '+' and '=' in their base64, raw and encoded.
slash=0 plus=0 k=0
while read -r serial status; do
	k=$((k + 1))
	req "s$k" -serial "0x$serial" || continue
	b=$(cat "$WORK/s$k.b64")
	# Two certificates, always: the first with '/', and another with '+' (one holding
	# both counts for '/' only), so the number of checks below does not depend on
	# the random serials.
	if [ $slash -eq 0 ]; then
		case $b in */*) slash=$k ;; *) continue ;; esac
	elif [ $plus -eq 0 ]; then
		case $b in *+*) plus=$k ;; *) continue ;; esac
	fi
	echo "$k $serial $status" >>"$WORK/picked.txt"
	[ $slash -gt 0 ] && [ $plus -gt 0 ] && break
done <"$WORK/queried.txt"
ok "seeded certificates whose base64 holds '/' and '+' were found" test $slash -gt 0 -a $plus -gt 0
while read -r k serial status; do
	ok "seeded $serial ($status, base64 $(cat "$WORK/s$k.b64" | tr -cd '/+=' | head -c 12)): raw path served" \
		until_ok 300 fetch "s$k" b64 "$WORK/s$k.r"
	ok "  ... verifies, $status" verify "$WORK/s$k.r" "$status" -serial "0x$serial"
	ok "  ... percent-encoded path: the same answer" sh -c "curl -sf -o '$WORK/s$k.e' '$NG_URL/ocsp/$(cat "$WORK/s$k.enc")' && cmp '$WORK/s$k.r' '$WORK/s$k.e'"
done <"$WORK/picked.txt"
BAD=$(awk '$2 == "revoked" { print $1; exit }' "$WORK/queried.txt")
req bad -serial "0x$BAD"
ok "a seeded revoked certificate: nginx serves its revoked answer" until_ok 300 fetch bad enc "$WORK/bad"
ok "  ... verifies, revoked" verify "$WORK/bad" revoked -serial "0x$BAD"

ok "the issuing CA certificate is served at /ca/issuing.crt (AIA caIssuers), DER" sh -c "
	curl -sf -D '$WORK/ca.h' -o '$WORK/issuing.der' '$NG_URL/ca/issuing.crt' &&
	openssl x509 -in '$ISSUING' -outform DER | cmp - '$WORK/issuing.der' &&
	grep -qi '^Content-Type: application/pkix-cert' '$WORK/ca.h'"

# Someone with write access to the tree plants a symlink under the daemon's temporary name
# for alpha's answer: the rewrite after the revocation must not write through it.
ALPHA_FILE=$TREE/ocsp/$(sed 's|//*|/|g' "$WORK/alpha.b64")
echo keep >"$WORK/victim"
ln -s "$WORK/victim" "$ALPHA_FILE.tmp.$SERVE_PID"

# Revocation: the tree changes within the delay; nginx serves revoked; the CRL lists it.
ok "revoke alpha (keyCompromise)" "$CAIRN" revoke --dir "$D" "$ALPHA" --reason keyCompromise
revoked_alpha() { fetch alpha enc "$WORK/a4" && verify "$WORK/a4" revoked -cert "$WORK/alpha.pem"; }
ok "nginx serves alpha's revoked answer within ocsp.publish_delay + 5 s" \
	until_ok $(((DELAY + 5) * 10)) revoked_alpha
ok "  ... reason keyCompromise" grep -q "Reason: keyCompromise" "$WORK/a4.txt"
ok "  ... a symlink planted at the temporary name was not written through" sh -c "
	[ \"\$(cat '$WORK/victim')\" = keep ] && [ ! -e '$ALPHA_FILE.tmp.$SERVE_PID' ] && [ ! -L '$ALPHA_FILE.tmp.$SERVE_PID' ]"
ok "  ... the raw path too" sh -c "curl -sf -o '$WORK/a5' '$NG_URL/ocsp/$(cat "$WORK/alpha.b64")' && cmp '$WORK/a4' '$WORK/a5'"
crl_lists_alpha() {
	curl -sf -D "$WORK/crl.h" -o "$WORK/issuing.crl" "$NG_URL/crl/issuing.crl" &&
		openssl crl -inform DER -in "$WORK/issuing.crl" -noout -text | grep -qi "Serial Number: $ALPHA"
}
ok "nginx's /crl/issuing.crl lists alpha within crl.debounce + 5 s" until_ok 60 crl_lists_alpha
ok "  ... the CRL verifies against the issuing CA" sh -c "openssl crl -inform DER -in '$WORK/issuing.crl' \
	-CAfile '$ISSUING' -noout 2>&1 | grep -q 'verify OK'"
ok "  ... Content-Type: application/pkix-crl" grep -qi '^Content-Type: application/pkix-crl' "$WORK/crl.h"
ok "  ... openssl verify -crl_check: alpha is revoked" sh -c "
	openssl crl -inform DER -in '$WORK/issuing.crl' -out '$WORK/issuing.crl.pem' &&
	cat '$ISSUING' '$ROOT' >'$WORK/chain.pem' &&
	! openssl verify -crl_check -CAfile '$WORK/chain.pem' -CRLfile '$WORK/issuing.crl.pem' '$WORK/alpha.pem' >'$WORK/v.out' 2>&1 &&
	grep -q 'certificate revoked' '$WORK/v.out'"

# Atomic files: nothing half-written is left, every file parses, the two names agree.
ok "no temporary file is left in the tree" sh -c "[ -z \"\$(find '$TREE' -name '*.tmp.*')\" ]"
ok "every OCSP file parses as a successful OCSPResponse, under both of its names (built here from its CertID)" \
	python3 - "$TREE" $((N + 1)) <<'PY'
import base64, hashlib, os, sys
import warnings; warnings.simplefilter("ignore")
from cryptography.x509 import ocsp
tree, want = os.path.join(sys.argv[1], "ocsp"), int(sys.argv[2])
def tlv(tag, c):
    n = len(c)
    return bytes([tag]) + (bytes([n]) if n < 128 else bytes([0x81, n])) + c
hashed = named = 0
for d, _, files in os.walk(tree):
    for f in files:
        p = os.path.join(d, f)
        data = open(p, "rb").read()
        r = ocsp.load_der_ocsp_response(data)
        assert r.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL, p
        if not os.path.relpath(p, tree).startswith("sha256/"):
            named += 1
            continue
        hashed += 1
        # The request a client sends for this answer: SHA-1 CertID, no nonce (RFC 5019).
        s = r.serial_number
        cid = bytes.fromhex("300906052b0e03021a0500") + tlv(4, r.issuer_name_hash) + \
            tlv(4, r.issuer_key_hash) + tlv(2, s.to_bytes(s.bit_length() // 8 + 1, "big"))
        # OCSPRequest { tbsRequest { requestList { Request { CertID } } } }
        der = tlv(0x30, tlv(0x30, tlv(0x30, tlv(0x30, tlv(0x30, cid)))))
        h = hashlib.sha256(der).hexdigest()
        assert p == os.path.join(tree, "sha256", h[:2], h), (p, h)
        b64 = base64.b64encode(der).decode()
        while "//" in b64:
            b64 = b64.replace("//", "/")
        get = os.path.join(tree, b64 + ("index.ocsp" if b64.endswith("/") else ""))
        assert open(get, "rb").read() == data, get
assert hashed >= want and named == hashed, (named, hashed, want)
PY
# cairn's 16-byte serials never make a base64 ending in '/' (83-byte requests are padded),
# so the shipped config's index file is checked with a copy of a real answer where such a
# name would put it (test/unit/test_ocsp.c checks the naming rule itself).
mkdir -p "$TREE/ocsp/Mtest"
cp "$WORK/a1" "$TREE/ocsp/Mtest/index.ocsp"
ok "a GET path ending in '/' (raw or %2F) is served from that directory's index.ocsp" sh -c "
	curl -sf -D '$WORK/ix.h' -o '$WORK/ix1' '$NG_URL/ocsp/Mtest/' && cmp '$WORK/a1' '$WORK/ix1' &&
	curl -sf -o '$WORK/ix2' '$NG_URL/ocsp/Mtest%2F' && cmp '$WORK/a1' '$WORK/ix2' &&
	grep -qi '^Content-Type: application/ocsp-response' '$WORK/ix.h'"
rm -rf "$TREE/ocsp/Mtest"
ok "a temporary file in the tree is never served" sh -c "
	d=\$(dirname \"\$(find '$TREE/ocsp' -type f ! -path '*/sha256/*' | head -1)\")
	cp '$WORK/a1' \"\$d/M.tmp.123\" && code=\$(curl -s -o /dev/null -w '%{http_code}' \"$NG_URL/ocsp/\${d#$TREE/ocsp/}/M.tmp.123\")
	rm -f \"\$d/M.tmp.123\"; [ \"\$code\" = 404 ]"
ok "a request for a certificate that is not ours is 404, not another answer" sh -c "
	[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$NG_URL/ocsp/MEIwQDA%2BMDwwOjAJBgUrDgMCGgUABBQAAAAAAAAAAAAAAAAAAAAAAAAAAAQUAAAAAAAAAAAAAAAAAAAAAAAAAAACAQE%3D')\" = 404 ]"

ok "/metrics counts the answers published, none failed" sh -c "
	curl -sf '$HTTP_URL/metrics' >'$WORK/metrics.txt' &&
	awk '/^cairn_ocsp_published_total[{]result=\"written\"[}]/ { w = \$2 }
	     /^cairn_ocsp_published_total[{]result=\"failed\"[}]/ { f = \$2; seen = 1 }
	     END { exit !(w >= $N && seen && f == 0) }' '$WORK/metrics.txt'"
if command -v promtool >/dev/null 2>&1; then
	ok "  ... promtool accepts the exposition" sh -c "promtool check metrics <'$WORK/metrics.txt'"
fi

# The one-shot command writes the same tree.
ok "cairn publish --to writes the tree once, beside the running daemon" \
	"$CAIRN" publish --dir "$D" --to "$WORK/once"
last_has "  ... it says what it wrote" "published [0-9]+ OCSP answers .* CRLs and [0-9]+ CA certificates"
ok "  ... the same files with the same bytes as the daemon's tree" diff -r "$TREE" "$WORK/once"
ok "  ... run again: nothing rewritten" "$CAIRN" publish --dir "$D" --to "$WORK/once"
last_has "  ... all already there" "published 0 OCSP answers"
fails "cairn publish without --to is a usage error" "$CAIRN" publish --dir "$D"
last_one_line "  ... one line"
fails "cairn publish on a directory without a CA fails" "$CAIRN" publish --dir "$WORK/nothing" --to "$WORK/x"
last_one_line "  ... one line"

# A restart brings the tree back in line: a deleted answer and a damaged one are rewritten.
ca_stop
VICTIM=$(find "$TREE/ocsp" -type f ! -path '*/sha256/*' ! -name 'index.ocsp' | sed -n 5p)
rm -f "$ALPHA_FILE"
printf 'not an answer' >"$VICTIM"
ca_serve "$D" || bail "cairn serve did not start again"
ok "after a restart the deleted answer is back (nginx serves alpha revoked)" \
	until_ok 300 revoked_alpha
ok "  ... and the damaged file is a valid answer again" until_ok 100 python3 -c "
import sys
from cryptography.x509 import ocsp
ocsp.load_der_ocsp_response(open(sys.argv[1], 'rb').read())" "$VICTIM"

# A rotation with publishing on: the new issuing CA's certificate and CRL reach the tree, and
# so does the answer for a certificate it issues (signed by it, verified under the root).
ok "cairn ca rotate with publishing on" "$CAIRN" ca rotate --dir "$D"
ok "  ... nginx serves the new issuing CA at /ca/issuing-2.crt" \
	until_ok 100 curl -sf -o "$WORK/i2.der" "$NG_URL/ca/issuing-2.crt"
openssl x509 -inform DER -in "$WORK/i2.der" -out "$WORK/i2.pem" 2>/dev/null
ok "  ... a CA certificate that chains to the root" openssl verify -CAfile "$ROOT" "$WORK/i2.pem"
ok "  ... and its CRL at /crl/issuing-2.crl, signed by it" until_ok 100 sh -c "
	curl -sf -o '$WORK/i2.crl' '$NG_URL/crl/issuing-2.crl' &&
	openssl crl -inform DER -in '$WORK/i2.crl' -CAfile '$WORK/i2.pem' -noout 2>&1 |
	grep -q 'verify OK'"
make_csr beta ec:P-256 "/CN=beta.example.test" "DNS:beta.example.test"
"$CAIRN" issue --dir "$D" --csr "$WORK/beta.csr" --profile tls-server --out "$WORK/beta.chain" \
	>"$WORK/issue.out" 2>&1 || bail "issuance after the rotation failed: $(cat "$WORK/issue.out")"
openssl x509 -in "$WORK/beta.chain" -out "$WORK/beta.pem"
ISSUING=$WORK/i2.pem
req beta -cert "$WORK/beta.pem" || bail "openssl ocsp -reqout failed"
ok "a certificate of the new issuing CA: its answer is in the tree within the delay + 5 s" \
	until_ok $(((DELAY + 5) * 10)) fetch beta b64 "$WORK/b1"
ok "  ... verifies under the root, good" verify "$WORK/b1" good -cert "$WORK/beta.pem"

# Pruning after a crash (ocsp/prune.c): what a crash or the sweep left behind goes at the
# next start, in the background; nothing cairn did not write is touched.
# A signed answer for a serial the db does not hold (as if the sweep dropped it while the
# daemon was down), and another one to hide behind a symlink.
ISSUING2=$ISSUING ISSUING1=$D/ca/issuing.pem
ISSUING=$ISSUING1
# alpha_revoked: revoked_alpha with alpha's issuer (the first issuing CA).
alpha_revoked() { ISSUING=$ISSUING1; revoked_alpha; r=$?; ISSUING=$ISSUING2; return $r; }
GHOST=5c0a0102030405060708090a0b0c0d0e
GHOST2=5c0a1112131415161718191a1b1c1d1e
for g in $GHOST $GHOST2; do
	openssl ocsp -issuer "$ISSUING" -serial "0x$g" -no_nonce -url "$HTTP_URL/ocsp" \
		-respout "$WORK/$g.der" >/dev/null 2>&1
	req "$g" -serial "0x$g" || bail "openssl ocsp -reqout failed"
done
ok "the daemon signs an answer for a serial it does not hold (the planted stale answer)" python3 -c "
import sys
from cryptography.x509 import ocsp
r = ocsp.load_der_ocsp_response(open(sys.argv[1], 'rb').read())
assert r.serial_number == int(sys.argv[2], 16)" "$WORK/$GHOST.der" "$GHOST"
ISSUING=$ISSUING2
ca_stop
# tree_names NAME: the GET and hash paths of NAME's request in the tree.
tree_get() { echo "$TREE/ocsp/$(sed 's|//*|/|g' "$WORK/$1.b64")"; }
tree_hash() { h=$(sha256sum "$WORK/$1.req" | cut -c1-64); echo "$TREE/ocsp/sha256/$(echo "$h" | cut -c1-2)/$h"; }
DEAD=$(sh -c 'echo $$') # a process that has exited
STALE_GET=$(tree_get "$GHOST") STALE_HASH=$(tree_hash "$GHOST")
mkdir -p "$(dirname "$STALE_GET")" "$(dirname "$STALE_HASH")"
cp "$WORK/$GHOST.der" "$STALE_GET"
cp "$WORK/$GHOST.der" "$STALE_HASH"
STRAY=$ALPHA_FILE.tmp.$DEAD
printf 'half an answer' >"$STRAY"
CRL_STRAY=$TREE/crl/issuing.crl.tmp.$DEAD
cp "$TREE/crl/issuing.crl" "$CRL_STRAY"
LIVE_TMP=$ALPHA_FILE.tmp.$$ # this shell is alive: its temporary may be in use
printf 'in use' >"$LIVE_TMP"
# A symlink under the stale answer's names, pointing out of the tree; an operator's files;
# the stale answer under a name cairn would not give it.
cp "$WORK/$GHOST2.der" "$WORK/outside.der"
LINK_GET=$(tree_get "$GHOST2")
mkdir -p "$(dirname "$LINK_GET")"
ln -s "$WORK/outside.der" "$LINK_GET"
ln -s "$WORK/outside.der" "$STALE_HASH.tmp.$DEAD.x"
mkdir -p "$(dirname "$(tree_hash "$GHOST2")")"
ln -s "$WORK/outside.der" "$(tree_hash "$GHOST2")"
echo '<h1>revocation data</h1>' >"$TREE/index.html"
echo 'operator notes' >"$TREE/ocsp/notes.tmp.$DEAD"
mkdir -p "$TREE/ocsp/sha256/00"
WRONG_NAME=$TREE/ocsp/sha256/00/0000000000000000000000000000000000000000000000000000000000000000
cp "$WORK/$GHOST.der" "$WRONG_NAME"
ALPHA_HASH=$(tree_hash alpha)
mv "$D.serve.log" "$D.serve.log.1"
ca_serve "$D" || bail "cairn serve did not start again"
ok "the start-up prune runs in the background and says what it removed" \
	until_ok 300 grep -q "pruned $TREE: [0-9]* stray files removed" "$D.serve.log"
ok "  ... the stray temporary of an answer is gone" test ! -e "$STRAY"
ok "  ... the stray temporary of a CRL is gone" test ! -e "$CRL_STRAY"
ok "  ... the stale answer (a serial the db does not hold) is gone under its GET name" test ! -e "$STALE_GET"
ok "  ... and under its hash name" test ! -e "$STALE_HASH"
ok "  ... a temporary of a live process is left alone" test -f "$LIVE_TMP"
ok "  ... the symlinks are left alone, their target untouched" sh -c "
	[ -L '$LINK_GET' ] && [ -L '$STALE_HASH.tmp.$DEAD.x' ] && [ -L '$(tree_hash "$GHOST2")' ] &&
	cmp '$WORK/outside.der' '$WORK/$GHOST2.der'"
ok "  ... the operator's index.html and notes are left alone" sh -c "
	[ -f '$TREE/index.html' ] && [ -f '$TREE/ocsp/notes.tmp.$DEAD' ]"
ok "  ... a stale answer under a name cairn would not give it is left alone" test -f "$WRONG_NAME"
ok "  ... current answers stay under both names" sh -c "test -f '$ALPHA_HASH' && test -f '$ALPHA_FILE'"
ok "  ... nginx serves alpha revoked" until_ok 100 alpha_revoked
rm -f "$LIVE_TMP" "$LINK_GET" "$STALE_HASH.tmp.$DEAD.x" "$(tree_hash "$GHOST2")" "$TREE/index.html" \
	"$TREE/ocsp/notes.tmp.$DEAD" "$WRONG_NAME"

# cairn publish --to prunes the same way, and refuses a root that is a symlink.
cp "$WORK/$GHOST.der" "$WORK/once/ocsp/sha256/$(basename "$(dirname "$STALE_HASH")")/$(basename "$STALE_HASH")" 2>/dev/null ||
	{ mkdir -p "$WORK/once/ocsp/sha256/$(basename "$(dirname "$STALE_HASH")")" &&
	  cp "$WORK/$GHOST.der" "$WORK/once/ocsp/sha256/$(basename "$(dirname "$STALE_HASH")")/$(basename "$STALE_HASH")"; }
printf 'half' >"$WORK/once/crl/issuing.crl.tmp.$DEAD"
ok "cairn publish --to prunes a stale answer and a stray temporary" \
	"$CAIRN" publish --dir "$D" --to "$WORK/once"
last_has "  ... it says so" "pruned 2 stray files"
ok "  ... both gone" sh -c "[ ! -e '$WORK/once/crl/issuing.crl.tmp.$DEAD' ] &&
	[ ! -e '$WORK/once/ocsp/sha256/$(basename "$(dirname "$STALE_HASH")")/$(basename "$STALE_HASH")' ]"
ln -s "$WORK/once" "$WORK/once-link"
fails "cairn publish --to a symlink is refused" "$CAIRN" publish --dir "$D" --to "$WORK/once-link"
last_one_line "  ... one line"
if [ "$(id -u)" -eq 0 ] && mkdir -p "$WORK/theirs" && chown nobody "$WORK/theirs"; then
	fails "cairn publish --to a directory of another user is refused" \
		"$CAIRN" publish --dir "$D" --to "$WORK/theirs"
fi

# A directory symlink planted inside the tree (ca, crl, ocsp/sha256): cairn publish --to
# refuses it in one line naming it, and writes, renames over or deletes nothing in its
# target (docs/security.md).
for part in ca crl ocsp/sha256; do
	P=$WORK/planted-$(echo "$part" | tr / -)
	V=$P.victim
	mkdir -p "$P/ocsp" "$V"
	echo "another CA's file" >"$V/issuing.crt"
	echo "another CA's file" >"$V/issuing.crl"
	printf 'x' >"$V/issuing.crt.tmp.$DEAD"
	printf 'x' >"$V/issuing.crl.tmp.$DEAD"
	(cd "$V" && find . -exec ls -ld --time-style=+%s {} + | sort >"$P.before")
	ln -s "$V" "$P/$part"
	fails "cairn publish --to with $part a planted symlink fails" "$CAIRN" publish --dir "$D" --to "$P"
	last_has "  ... the refusal names $part" "refusing $P/$part: a symlink"
	last_one_line "  ... in one line"
	(cd "$V" && find . -exec ls -ld --time-style=+%s {} + | sort >"$P.after")
	ok "  ... nothing written, renamed or deleted in its target" cmp "$P.before" "$P.after"
done

# The daemon's OCSP publisher refuses a planted ocsp/sha256 too, in one log line.
ca_stop
mv "$TREE/ocsp/sha256" "$WORK/sha256.kept"
mkdir -p "$WORK/sha-victim"
ln -s "$WORK/sha-victim" "$TREE/ocsp/sha256"
ca_serve "$D" || bail "cairn serve did not start with a planted ocsp/sha256"
ok "the daemon's publisher refuses a planted ocsp/sha256, naming it" \
	until_ok 300 grep -q "refusing $TREE/ocsp/sha256: a symlink" "$D.serve.log"
ok "  ... nothing written in its target" sh -c "[ -z \"\$(ls -A '$WORK/sha-victim')\" ]"
ca_stop
rm "$TREE/ocsp/sha256"
mv "$WORK/sha256.kept" "$TREE/ocsp/sha256"
ca_serve "$D" || bail "cairn serve did not start again"

# kill -9 while the daemon publishes (the answers' hash names were lost, so the start-up
# pass is rewriting them): after a restart the tree is whole and nginx serves it.
ca_stop
rm -rf "$TREE/ocsp/sha256"
ca_serve "$D" || bail "cairn serve did not start again"
until_ok 300 test -d "$TREE/ocsp/sha256" || bail "the daemon did not start publishing"
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
echo "# killed while publishing: $(find "$TREE/ocsp/sha256" -type f | wc -l) hash names written, $(find "$TREE" -name '*.tmp.*' | wc -l) temporaries left"
mv "$D.serve.log" "$D.serve.log.killed"
ca_serve "$D" || bail "cairn serve did not start after kill -9"
ok "after kill -9 and a restart: the prune finished" \
	until_ok 300 grep -q "pruned $TREE: " "$D.serve.log"
ok "  ... the publisher's pass finished" until_ok 300 grep -q "published [0-9]* answers to $TREE" "$D.serve.log"
ok "  ... no temporary file in the tree" sh -c "[ -z \"\$(find '$TREE' -name '*.tmp.*')\" ]"
ok "  ... every file under ocsp/ is an OCSP answer, each under both names" python3 - "$TREE" <<'PY2'
import os, sys
from cryptography.x509 import ocsp
tree = sys.argv[1]
get = hashed = 0
for d, _, files in os.walk(os.path.join(tree, "ocsp")):
    for f in files:
        ocsp.load_der_ocsp_response(open(os.path.join(d, f), "rb").read())
        if "/sha256/" in d + "/":
            hashed += 1
        else:
            get += 1
assert get == hashed and get > 0, (get, hashed)
PY2
ok "  ... nginx serves alpha revoked" until_ok 100 alpha_revoked
good_beta() { fetch beta b64 "$WORK/b2" && verify "$WORK/b2" good -cert "$WORK/beta.pem"; }
ok "  ... and beta good" until_ok 100 good_beta

ca_stop
kill -TERM "$NGINX_PID" 2>/dev/null
wait "$NGINX_PID" 2>/dev/null
done_testing
