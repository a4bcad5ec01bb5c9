#!/bin/sh
# SPDX-License-Identifier: MIT
# The certificate inventory: import of a directory (cairn's own, foreign self-signed and
# CA-signed ones, a bundle, DER, garbage, unreadable entries) and of a CSV through the
# daemon, idempotence, owners, audit events, reports in three formats, the admin API roles,
# and a forgery of a cairn certificate (its serial and issuer name copied) kept foreign.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
ca_serve "$D" || bail "cairn serve did not start"
ROOT=$D/ca/root.pem
C() { "$CAIRN" "$@"; }
py() { python3 -c "$@"; }

# ---- the certificates ----
P=$WORK/pems
mkdir -p "$P/sub/deeper" "$WORK/keys"
issue() {
	make_csr "$1" ec:P-256 "/CN=$1.example.test" "DNS:$1.example.test" &&
		C issue --dir "$D" --csr "$WORK/$1.csr" --profile tls-server --out "$WORK/$1.chain" &&
		openssl x509 -in "$WORK/$1.chain" -out "$WORK/$1.pem"
}
for n in web api; do issue $n >"$WORK/issue.out" 2>&1 || bail "issuance failed: $(cat "$WORK/issue.out")"; done
SERIAL_WEB=$(openssl x509 -in "$WORK/web.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
cp "$WORK/web.chain" "$P/web-chain.pem"    # a bundle: cairn leaf + cairn's issuing CA
openssl x509 -in "$WORK/api.pem" -outform DER -out "$P/sub/api.der"
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr 'A-F' 'a-f'; }

# Foreign: self-signed (openssl req -x509), expiring in 10 days.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/keys/self.key" -out "$P/self.pem" \
	-subj /CN=self.example.org -addext subjectAltName=DNS:self.example.org -days 10 2>/dev/null
# A weak one: RSA-1024 signed with SHA-1; and an MD5-signed one.
openssl req -x509 -newkey rsa:1024 -sha1 -nodes -keyout "$WORK/keys/weak.key" -out "$P/sub/weak.pem" \
	-subj /CN=weak.example.org -days 200 2>/dev/null
openssl req -x509 -newkey rsa:2048 -md5 -nodes -keyout "$WORK/keys/md5.key" -out "$WORK/md5.pem" \
	-subj /CN=md5.example.org -days 200 2>/dev/null
# A private CA of someone else's with `openssl ca` and `openssl x509 -req`.
X=$WORK/otherca
mkdir -p "$X/new"
: >"$X/index.txt"
echo 01 >"$X/serial"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$X/ca.key" \
	-out "$X/ca.pem" -subj "/CN=Other Corp CA" -days 400 2>/dev/null
cat >"$X/ca.cnf" <<EOF
[ ca ]
default_ca = other
[ other ]
dir = $X
database = $X/index.txt
new_certs_dir = $X/new
serial = $X/serial
certificate = $X/ca.pem
private_key = $X/ca.key
default_md = sha256
default_days = 20
policy = any
[ any ]
commonName = supplied
EOF
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/keys/oc.key" \
	-out "$WORK/oc.csr" -subj /CN=app.other.example 2>/dev/null
openssl ca -batch -config "$X/ca.cnf" -in "$WORK/oc.csr" -out "$P/sub/deeper/openssl-ca.pem" \
	-notext >/dev/null 2>&1 || bail "openssl ca failed"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/keys/xr.key" \
	-out "$WORK/xr.csr" -subj /CN=db.other.example 2>/dev/null
openssl x509 -req -in "$WORK/xr.csr" -CA "$X/ca.pem" -CAkey "$X/ca.key" -set_serial 77 -days 300 \
	-out "$WORK/xr.pem" 2>/dev/null
cat "$WORK/xr.pem" "$X/ca.pem" >"$P/sub/other-bundle.pem"   # leaf + its CA: two certificates
# Things that are not certificates, or cannot be read.
echo "this is not a certificate" >"$P/garbage.txt"
head -c 300 /dev/urandom >"$P/sub/random.der"
printf -- '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n' >"$P/broken.pem"
ln -s does-not-exist "$P/dangling.pem"       # a broken symlink: unreadable
ln -s .. "$P/sub/loop"                        # a directory loop
mkfifo "$P/sub/pipe.pem"                      # a FIFO: opening it would block
cp "$WORK/api.pem" "$P/sub/locked.pem"
chmod 000 "$P/sub/locked.pem"                 # unreadable, except to root
if [ "$(id -u)" = 0 ]; then LOCKED_REFUSED=0; else LOCKED_REFUSED=1; fi

# Expected: cairn web + issuing (bundle), api (DER; locked.pem is the same certificate),
# self, weak, openssl-ca leaf, x509-req leaf, other CA = 8 distinct certificates.
# Refused: garbage.txt, random.der, broken.pem, dangling.pem, loop, pipe.pem (+ locked.pem).
REFUSED=$((6 + LOCKED_REFUSED))

# ---- import a directory ----
ok "import --pem-dir" sh -c "'$CAIRN' inventory import --dir '$D' --pem-dir '$P' >'$WORK/imp1.out' 2>'$WORK/imp1.err'; rc=\$?; cat '$WORK/imp1.out' '$WORK/imp1.err'; exit \$rc"
last_has "  ... summary: 8 added, refused $REFUSED" "^added 8, already known [0-9]+, refused $REFUSED\$"
last_has "  ... progress on stderr" "cairn inventory: [0-9]+ certificates sent: "
last_has "  ... garbage reported" "garbage.txt: refused: not a certificate"
last_has "  ... random bytes reported" "random.der: refused: not a certificate"
last_has "  ... a PEM block that does not decode" "broken.pem: refused: block 1: damaged"
last_has "  ... a dangling symlink reported" "dangling.pem: refused: No such file or directory"
last_has "  ... the directory loop reported, not followed" "sub/loop: refused: directory loop"
last_has "  ... the FIFO reported, never opened" "pipe.pem: refused: not a regular file"
if [ "$LOCKED_REFUSED" = 1 ]; then
	last_has "  ... the chmod 000 file reported" "locked.pem: refused: Permission denied"
else
	# Root reads a mode-000 file: it is imported (as the api certificate, already known).
	ok "  ... as root, the chmod 000 file is readable and counts as known" grep -q "already known [1-9]" "$WORK/imp1.out"
fi

ok "re-import adds nothing" "$CAIRN" inventory import --dir "$D" --pem-dir "$P"
last_has "  ... 0 added" "^added 0, already known "

# Every import batch is one audit event; the fingerprints added are in it.
C audit export --dir "$D" --format jsonl --unsigned >"$WORK/audit.jsonl" 2>/dev/null
ok "imports are audited" py "
import json,sys
ev=[json.loads(l) for l in open('$WORK/audit.jsonl') if '\"inventory.import\"' in l]
assert len(ev)==2, len(ev)
assert ev[0]['details']['added']==8 and ev[1]['details']['added']==0, ev
assert '$(fp "$P/self.pem")' in ev[0]['details']['fingerprints']
assert ev[0]['actor']=='admin:bootstrap', ev[0]['actor']
"

# ---- the join with cairn's own ----
ok "list (json)" sh -c "'$CAIRN' inventory list --dir '$D' --format json >'$WORK/list.json'"
ok "  ... cairn's certificates recognised by serial+issuer, with status" py "
import json
d=json.load(open('$WORK/list.json'))
assert d['total']==8 and len(d['items'])==8 and 'next' in d, d['total']
by={r['fp']:r for r in d['items']}
web=by['$(fp "$WORK/web.pem")']
assert web['cairn_serial']=='$SERIAL_WEB' and web['status']=='valid' and web['source']=='cairn', web
assert by['$(fp "$P/self.pem")']['source']=='inventory'
assert by['$(fp "$P/self.pem")']['trust']=='unknown'
assert by['$(fp "$D/ca/issuing.pem")']['trust']=='cairn'
"
ok "show one record with its sightings" "$CAIRN" inventory show --dir "$D" "$(fp "$P/sub/weak.pem")"
last_has "  ... the file where it was seen" "sub/weak.pem"
last_has "  ... RSA-1024" '"bits": 1024'

# ---- CSV ----
cp "$WORK/md5.pem" "$WORK/md5-by-path.pem"
{
	echo 'path,owner,tags'
	echo 'md5-by-path.pem,team-legacy,legacy;md5'
	echo 'missing-file.pem,nobody,'
	printf 'pems/self.pem,"=HYPERLINK(""http://evil"")",web\n'
	echo ',orphan,'
	echo 'pems/garbage.txt,x,'
	echo 'a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q'
} >"$WORK/inv.csv"
ok "import --csv (good and bad rows)" sh -c "'$CAIRN' inventory import --dir '$D' --csv '$WORK/inv.csv' 2>&1"
last_has "  ... one added (md5), one known (self), four refused" "^added 1, already known 1, refused 4$"
last_has "  ... a missing path names its row" "inv.csv:3: refused: missing-file.pem: No such file"
last_has "  ... a row without pem or path" "inv.csv:5: refused: neither pem nor path"
last_has "  ... a row that is not a certificate" "inv.csv:6: refused: not a certificate"
last_has "  ... a row with too many columns" "inv.csv:7: refused: more columns"
# Inline PEM in a quoted cell (line breaks inside the quotes).
{
	echo 'pem,owner'
	printf '"%s",team-weak\n' "$(cat "$P/sub/weak.pem")"
} >"$WORK/inline.csv"
ok "import --csv with inline PEM" "$CAIRN" inventory import --dir "$D" --csv "$WORK/inline.csv"
last_has "  ... known, owner taken from the row" "^added 0, already known 1, refused 0$"
ok "re-import of the CSV adds nothing" "$CAIRN" inventory import --dir "$D" --csv "$WORK/inv.csv"
last_has "  ... 0 added" "^added 0, already known 2, refused 4$"
fails "a CSV without pem/path column is refused" "$CAIRN" inventory import --dir "$D" --csv "$ROOT"
last_one_line "  ... in one line"

# ---- owners ----
ok "owner set by fingerprint" "$CAIRN" inventory owner set --dir "$D" "$(fp "$P/self.pem")" team-web
last_has "  ... shows the previous owner" "team-web \\(was =HYPERLINK"
ok "owner set by cairn serial (with colons, upper case)" "$CAIRN" inventory owner set --dir "$D" \
	"$(echo "$SERIAL_WEB" | tr a-f A-F | sed 's/../&:/g; s/:$//')" team-cairn
fails "owner set of an unknown certificate" "$CAIRN" inventory owner set --dir "$D" 00112233 x
last_has "  ... says so" "no certificate with fingerprint or serial"
last_one_line "  ... in one line"
C audit export --dir "$D" --format jsonl --unsigned >"$WORK/audit.jsonl" 2>/dev/null
ok "owner changes are audited with the previous owner" py "
import json
ev=[json.loads(l) for l in open('$WORK/audit.jsonl') if '\"inventory.owner\"' in l]
assert len(ev)==2, ev
assert ev[0]['details']['owner']=='team-web' and ev[0]['details']['previous'].startswith('=HYPERLINK'), ev[0]
assert ev[1]['details']['owner']=='team-cairn' and ev[1]['serial']=='$SERIAL_WEB', ev[1]
imp=[json.loads(l) for l in open('$WORK/audit.jsonl') if '\"inventory.import\"' in l]
assert any(e['details']['owner_changed']==1 for e in imp), 'CSV owner change not counted'
"
ok "  ... and the audit chain verifies" "$CAIRN" audit verify --dir "$D"

# ---- reports ----
ok "report expiring --within 30d --by owner (json)" sh -c "'$CAIRN' report expiring --dir '$D' --within 30d --by owner --format json >'$WORK/exp.json'"
ok "  ... the 10-day and 20-day foreign ones, not cairn's 90-day ones" py "
import json
d=json.load(open('$WORK/exp.json'))
subj=sorted(r['subject'] for r in d['items'])
assert subj==['CN=app.other.example','CN=self.example.org'], subj
g={r['subject']:r['group'] for r in d['items']}
assert g['CN=self.example.org']=='team-web' and g['CN=app.other.example']=='(none)', g
assert d['items'][0]['group']<=d['items'][1]['group']
"
ok "report expiring --within 100d --by profile" sh -c "'$CAIRN' report expiring --dir '$D' --within 100d --by profile --format json >'$WORK/exp2.json'"
ok "  ... cairn's leaves under tls-server, with the owner set on one" py "
import json
d=json.load(open('$WORK/exp2.json'))
c=[r for r in d['items'] if r['source']=='cairn' and r['group']=='tls-server']
assert sorted(r['subject'] for r in c)==['CN=api.example.test','CN=web.example.test'], c
assert all(r['group']=='tls-server' for r in c)
assert [r['owner'] for r in c if r['serial']=='$SERIAL_WEB']==['team-cairn']
assert len([r for r in d['items'] if r['source']=='inventory'])==2
"
ok "report expiring --by issuer (table)" "$CAIRN" report expiring --dir "$D" --within 30d --by issuer
last_has "  ... a header" "^group +not_after +days_left"
last_has "  ... grouped by issuer" "^CN=Other Corp CA +"
fails "report expiring --by nonsense" "$CAIRN" report expiring --dir "$D" --by colour
last_one_line "  ... in one line"
fails "report unknown" "$CAIRN" report shiny --dir "$D"
fails "report --format xml" "$CAIRN" report weak --dir "$D" --format xml

ok "report weak (csv)" sh -c "'$CAIRN' report weak --dir '$D' --format csv >'$WORK/weak.csv'"
ok "  ... RSA-1024/SHA-1 and MD5, nothing else" py "
import csv
rows=list(csv.DictReader(open('$WORK/weak.csv', newline='')))
w={r['subject']:r['weakness'] for r in rows}
assert w=={'CN=weak.example.org':'RSA-1024 key, SHA1 signature','CN=md5.example.org':'MD5 signature'}, w
assert [r['owner'] for r in rows if r['subject']=='CN=weak.example.org']==['team-weak']
"
ok "report unknown-issuer (json)" sh -c "'$CAIRN' report unknown-issuer --dir '$D' --format json >'$WORK/unk.json'"
ok "  ... foreign ones only; cairn's chain to its root" py "
import json
s=sorted(r['subject'] for r in json.load(open('$WORK/unk.json'))['items'])
assert s==['CN=Other Corp CA','CN=app.other.example','CN=db.other.example','CN=md5.example.org','CN=self.example.org','CN=weak.example.org'], s
"
# CSV injection: a formula-like owner must reach a spreadsheet as text.
ok "a formula-like owner" "$CAIRN" inventory owner set --dir "$D" "$(fp "$P/sub/weak.pem")" "=cmd|' /C calc'!A0"
ok "report weak (csv) again" sh -c "'$CAIRN' report weak --dir '$D' --format csv >'$WORK/weak2.csv'"
ok "  ... the formula is neutralised (leading quote), the CSV still parses" py "
import csv
rows=list(csv.DictReader(open('$WORK/weak2.csv', newline='')))
o=[r['owner'] for r in rows if r['subject']=='CN=weak.example.org']
assert o==[\"'=cmd|' /C calc'!A0\"], o
"
ok "  ... CRLF line ends" sh -c "head -n1 '$WORK/weak2.csv' | od -c | grep -q '\\\\r  \\\\n'"

# ---- revoking a cairn certificate shows in the join ----
C revoke --dir "$D" "$SERIAL_WEB" --reason keyCompromise >/dev/null 2>&1
ok "list after a revocation" sh -c "'$CAIRN' inventory list --dir '$D' --format csv >'$WORK/list.csv'"
ok "  ... the cairn certificate shows as revoked" py "
import csv
r=[r for r in csv.DictReader(open('$WORK/list.csv', newline='')) if r['cairn_serial']=='$SERIAL_WEB']
assert len(r)==1 and r[0]['status']=='revoked', r
"

# ---- the admin API: same reports, roles ----
TOKEN=$(cat "$D/admin.token")
C admin add --dir "$D" --name audrey --role auditor >/dev/null 2>&1
C admin add --dir "$D" --name otto --role operator >/dev/null 2>&1
AUD=$(C token create --dir "$D" --name audrey --role auditor 2>/dev/null)
OPS=$(C token create --dir "$D" --name otto --role operator 2>/dev/null)
get() { curl -s --cacert "$ROOT" -H "Authorization: Bearer $1" -w '\n%{http_code}\n' "$HTTPS_URL/admin/v1$2"; }
post() { curl -s --cacert "$ROOT" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
	-d "$3" -w '\n%{http_code}\n' "$HTTPS_URL/admin/v1$2"; }
ok "API: an auditor reads the weak report" get "$AUD" /reports/weak
last_has "  ... 200" "^200$"
last_has "  ... the same rows" '"total": 2'
ok "API: expiring within 30d by owner" get "$AUD" "/reports/expiring?within=30d&by=owner"
last_has "  ... two rows" '"total": 2'
ok "API: grouped by something else" get "$AUD" "/reports/expiring?within=30d&by=colour"
last_has "  ... 400" "^400$"
last_has "  ... naming the groups, not a CLI flag" 'group by owner, issuer or profile, not colour'
ok "API: bad duration" get "$AUD" "/reports/expiring?within=soon"
last_has "  ... 400 problem" "^400$"
ok "API: unknown report" get "$AUD" /reports/nothing
last_has "  ... 404" "^404$"
ok "API: an auditor may not import" post "$AUD" /inventory/import '{"source":"x","items":[]}'
last_has "  ... 403" "^403$"
C admin add --dir "$D" --name pat --role approver >/dev/null 2>&1
APR=$(C token create --dir "$D" --name pat --role approver 2>/dev/null)
ok "API: an approver may not import either" post "$APR" /inventory/import "{\"source\":\"x\",\"items\":[{\"der\":\"AAAA\",\"kind\":\"file\",\"where\":\"w\"}]}"
last_has "  ... 403" "^403$"
ok "API: an auditor may not set owners" post "$AUD" "/inventory/$(fp "$P/self.pem")/owner" '{"owner":"me"}'
last_has "  ... 403" "^403$"
DER64=$(openssl x509 -in "$WORK/md5.pem" -outform DER | basenc --base64url -w0 | tr -d =)
ok "API: an operator imports" post "$OPS" /inventory/import "{\"source\":\"api\",\"items\":[{\"der\":\"$DER64\",\"kind\":\"file\",\"where\":\"api-test\"},{\"der\":\"AAAA\",\"kind\":\"file\",\"where\":\"junk\"}]}"
last_has "  ... 200" "^200$"
last_has "  ... known, and junk refused" '"known": 1'
last_has "  ... refused counted" '"refused": 1'
ok "API: bad kind" post "$OPS" /inventory/import "{\"source\":\"api\",\"items\":[{\"der\":\"$DER64\",\"kind\":\"ftp\",\"where\":\"x\"}]}"
last_has "  ... 400" "^400$"
ok "API: too many items" post "$OPS" /inventory/import "$(py "import json;print(json.dumps({'source':'x','items':[{'der':'A','kind':'file','where':'w'}]*1001}))")"
last_has "  ... 400 or 413" "^(400|413)$"
ok "API: an oversized tls object" post "$OPS" /inventory/import "{\"source\":\"api\",\"items\":[{\"der\":\"$DER64\",\"kind\":\"tls\",\"where\":\"x:1\",\"tls\":{\"pad\":\"$(printf '%5000s' '' | tr ' ' a)\"}}]}"
last_has "  ... 400" "^400$"
ok "API: not JSON" post "$OPS" /inventory/import '{"source":'
last_has "  ... 400" "^400$"
ok "API: owner of an unknown fingerprint" post "$OPS" "/inventory/$(printf '%064d' 0)/owner" '{"owner":"me"}'
last_has "  ... 404" "^404$"
ok "API: show one" get "$AUD" "/inventory/$(fp "$P/self.pem")"
last_has "  ... its owner" '"owner": "team-web"'

ok "the daemon is still up" kill -0 "$SERVE_PID"

# ---- expiring inventory certificates feed cert.expiring (the notify worker's scan) ----
printf 'inv-secret\n' >"$D/inv.secret"
rm -f "$WORK/sink.port"
python3 "$CAIRN_SRCDIR/tests/integration/webhook_sink.py" 0 "$WORK/sink.port" "$D/inv.secret" \
	"$WORK/sink.log" 2>>"$WORK/sink.err" &
CAIRN_PIDS="$CAIRN_PIDS $!"
waits "$WORK/sink.port" . 100 || bail "webhook receiver did not start: $(cat "$WORK/sink.err")"
py "
import json
p='$D/cairn.json'; d=json.load(open(p))
d['notify']={'poll_ms':100,'webhooks':[{'name':'inv','url':'http://127.0.0.1:%s/' % open('$WORK/sink.port').read().strip(),'secret_file':'inv.secret','events':['cert.expiring']}]}
json.dump(d, open(p,'w'), indent=2)
"
ca_stop
ca_serve "$D" || bail "cairn serve did not restart"
SELF_SERIAL=$(openssl x509 -in "$P/self.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
OC_SERIAL=$(openssl x509 -in "$P/sub/deeper/openssl-ca.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
ok "the 10-day foreign certificate gets cert.expiring (30-day threshold)" \
	waits "$WORK/sink.log" "^ok [0-9]+ cert.expiring $SELF_SERIAL 30 "
ok "  ... so does the 20-day one" waits "$WORK/sink.log" "^ok [0-9]+ cert.expiring $OC_SERIAL 30 "
ca_stop
ca_serve "$D" || bail "cairn serve did not restart"
# The worker scans before it delivers anything: once a test event has arrived, the
# restarted daemon's scan is done.
"$CAIRN" notify test --dir "$D" inv >/dev/null 2>&1
ok "  ... (the restarted worker delivered a test event)" waits "$WORK/sink.log" "^ok [0-9]+ notify.test "
ok "  ... once: a restart (a new scan) sends no second one" sh -c "
	[ \$(grep -c 'cert.expiring' '$WORK/sink.log') -eq 2 ]"
# A bundle [A, a damaged CERTIFICATE block, B, B's private key, C]: every block is read on its
# own; the damaged one is refused by number and the import goes on; the key is skipped,
# never stored, and the skip is counted.
BU=$WORK/bundle
mkdir -p "$BU/in"
for n in a b c; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$BU/$n.key" \
		-out "$BU/$n.pem" -subj "/CN=bundle-$n.example" -days 30 2>/dev/null
done
{ cat "$BU/a.pem"; printf -- '-----BEGIN CERTIFICATE-----\nMIIBdGFtYWdlZA==\n-----END CERTIFICATE-----\n'
  cat "$BU/b.pem" "$BU/b.key" "$BU/c.pem"; } >"$BU/in/bundle.pem"
ok "import of a bundle with a damaged block" "$CAIRN" inventory import --dir "$D" --pem-dir "$BU/in"
last_has "  ... A, B and C added, the damaged block refused" "^added 3, already known 0, refused 1\$"
last_has "  ... the damaged block named by file and number" "bundle.pem: refused: block 2: damaged"
last_has "  ... the key block skipped and counted" "bundle.pem: skipped 1 PEM block that is no certificate"
"$CAIRN" inventory list --dir "$D" --format csv >"$WORK/bundle.csv" 2>&1
ok "  ... A, B and C in the inventory" sh -c "grep -q bundle-a.example '$WORK/bundle.csv' &&
	grep -q bundle-b.example '$WORK/bundle.csv' && grep -q bundle-c.example '$WORK/bundle.csv'"
ok "  ... no private key stored" sh -c "! grep -rq 'PRIVATE KEY' '$D/db' 2>/dev/null"

# A forgery of a cairn certificate: the serial and issuer name of the api certificate (both
# public: any endpoint serving it shows them), signed by a look-alike "issuing CA" key of
# the attacker's, RSA-1024 with SHA-1. It is not cairn's: no cairn_serial, trust unknown,
# and every report meant to find it (unknown-issuer, weak) lists it.
F=$WORK/forged
mkdir -p "$F/in"
SERIAL_API=$(openssl x509 -in "$WORK/api.pem" -noout -serial | cut -d= -f2)
openssl req -x509 -newkey rsa:1024 -sha1 -nodes -keyout "$F/ca.key" -out "$F/ca.pem" -days 400 \
	-subj "$(openssl x509 -in "$D/ca/issuing.pem" -noout -subject -nameopt compat | sed 's/^subject=//')" 2>/dev/null
openssl req -new -newkey rsa:1024 -nodes -keyout "$F/leaf.key" -out "$F/leaf.csr" \
	-subj /CN=api.example.test 2>/dev/null
openssl x509 -req -in "$F/leaf.csr" -CA "$F/ca.pem" -CAkey "$F/ca.key" -set_serial "0x$SERIAL_API" \
	-sha1 -days 300 -out "$F/in/forged.pem" 2>/dev/null
ok "a forged certificate has the serial and issuer name of a cairn one" sh -c "
	[ \"\$(openssl x509 -in '$F/in/forged.pem' -noout -serial -issuer -nameopt RFC2253)\" = \
	  \"\$(openssl x509 -in '$WORK/api.pem' -noout -serial -issuer -nameopt RFC2253)\" ]"
ok "import the forgery" "$CAIRN" inventory import --dir "$D" --pem-dir "$F/in"
last_has "  ... added" "^added 1, already known 0, refused 0\$"
"$CAIRN" inventory list --dir "$D" --format json >"$WORK/forged.json" 2>&1
ok "  ... not taken for cairn's: no cairn_serial, trust unknown" py "
import json
r=[r for r in json.load(open('$WORK/forged.json'))['items'] if r['fp']=='$(fp "$F/in/forged.pem")']
assert len(r)==1 and r[0]['source']=='inventory' and r[0]['trust']=='unknown', r
assert 'cairn_serial' not in r[0] or not r[0]['cairn_serial'], r
"
"$CAIRN" report unknown-issuer --dir "$D" --format json >"$WORK/forged-unk.json" 2>&1
ok "  ... report unknown-issuer lists it" grep -q "$(fp "$F/in/forged.pem")" "$WORK/forged-unk.json"
"$CAIRN" report weak --dir "$D" --format json >"$WORK/forged-weak.json" 2>&1
ok "  ... report weak lists it" grep -q "$(fp "$F/in/forged.pem")" "$WORK/forged-weak.json"

# A CSV longer than the rows read (1,000,000): the rows past the limit are named and counted
# as refused, not dropped without a word.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/keys/far.key" \
	-out "$WORK/far.pem" -subj /CN=far.example -days 30 2>/dev/null
python3 -c "
import sys
with open('$WORK/long.csv', 'w') as f:
    f.write('path\\n' + '\\n' * 1000000 + 'far.pem\\n')
"
ok "import of a CSV with a row past 1,000,000" sh -c "'$CAIRN' inventory import --dir '$D' --csv '$WORK/long.csv' 2>&1"
last_has "  ... the row not read is counted as refused" "^added 0, already known 0, refused 1\$"
last_has "  ... and named" "long.csv:1000001: refused: more than 1000000 rows"

# Rows with long tags: each API call stays under server.max_body (the tags count towards a
# batch's size), so no 413 takes the batch down.
TG=$WORK/tagged
mkdir -p "$TG"
TAG=$(printf '%3000s' '' | tr ' ' t)
echo 'path,tags' >"$TG/tags.csv"
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TG/$i.key" \
		-out "$TG/$i.pem" -subj "/CN=tagged-$i.example" -days 30 2>/dev/null
	echo "$i.pem,a$TAG;b$TAG" >>"$TG/tags.csv"
done
ok "import of 12 rows with 6 KB of tags each" sh -c "'$CAIRN' inventory import --dir '$D' --csv '$TG/tags.csv' 2>&1"
last_has "  ... all 12 added" "^added 12, already known 0, refused 0\$"

done_testing
