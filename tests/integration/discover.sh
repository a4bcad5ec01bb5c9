#!/bin/sh
# SPDX-License-Identifier: MIT
# TLS discovery against real `openssl s_server`s on loopback: a cairn certificate, an expired
# one, a self-signed one, RSA-1024/SHA-1, a revoked cairn certificate, a name mismatch, a
# closed port and a server that accepts TCP but never speaks TLS; the allowed ranges.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"
. "$CAIRN_SRCDIR/tests/integration/acme_lib.sh"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
ca_serve "$D" || bail "cairn serve did not start"
C() { "$CAIRN" "$@"; }
py() { python3 -c "$@"; }
SNI=good.example.test

issue() { # NAME DNSNAME: a cairn tls-server certificate with its key in $WORK/NAME.key
	make_csr "$1" ec:P-256 "/CN=$2" "DNS:$2" &&
		C issue --dir "$D" --csr "$WORK/$1.csr" --profile tls-server --out "$WORK/$1.chain" &&
		openssl x509 -in "$WORK/$1.chain" -out "$WORK/$1.pem"
}
issue good "$SNI" >"$WORK/i.out" 2>&1 || bail "issue failed: $(cat "$WORK/i.out")"
issue revoked "$SNI" >"$WORK/i.out" 2>&1 || bail "issue failed: $(cat "$WORK/i.out")"
issue other other.example.test >"$WORK/i.out" 2>&1 || bail "issue failed: $(cat "$WORK/i.out")"
REVOKED_SERIAL=$(openssl x509 -in "$WORK/revoked.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
C revoke --dir "$D" "$REVOKED_SERIAL" --reason keyCompromise >/dev/null 2>&1 || bail "revoke failed"
# Foreign ones: self-signed; expired (made 400 days ago for 30 days); RSA-1024 with SHA-1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/self.key" \
	-out "$WORK/self.pem" -subj "/CN=$SNI" -addext "subjectAltName=DNS:$SNI" -days 30 2>/dev/null
faketime -f -400d openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$WORK/expired.key" -out "$WORK/expired.pem" -subj "/CN=$SNI" \
	-addext "subjectAltName=DNS:$SNI" -days 30 2>/dev/null || bail "faketime is missing"
openssl req -x509 -newkey rsa:1024 -sha1 -nodes -keyout "$WORK/weak.key" -out "$WORK/weak.pem" \
	-subj "/CN=$SNI" -addext "subjectAltName=DNS:$SNI" -days 30 2>/dev/null

PIDS=""
# serve NAME CERT KEY [CHAIN]: an s_server on a free loopback port; sets PORT_NAME.
# listens PID PORT: process PID itself listens on 127.0.0.1:PORT (its socket's inode in
# /proc/net/tcp), not merely somebody: a port another test took between free_port and
# s_server's bind makes s_server exit, and a bare connect would reach the other listener.
listens() {
	python3 - "$1" "$2" <<'PY'
import os, sys
pid, port = sys.argv[1], int(sys.argv[2])
inodes = set()
for line in open("/proc/net/tcp").read().splitlines()[1:]:
    f = line.split()
    if int(f[1].split(":")[1], 16) == port and f[3] == "0A":
        inodes.add(f[9])
fds = "/proc/%s/fd" % pid
held = {os.readlink(os.path.join(fds, n)) for n in os.listdir(fds)}
sys.exit(0 if any("socket:[%s]" % i in held for i in inodes) else 1)
PY
}
# serve NAME CERT KEY [CHAIN]: openssl s_server on a free loopback port (PORT_NAME), up to
# five ports tried; a scan right after start-up must not find the port closed (seen under
# ASan and load).
serve() {
	for try in 1 2 3 4 5; do
		port=$(free_port)
		if [ -n "${4:-}" ]; then
			openssl s_server -accept "127.0.0.1:$port" -cert "$2" -key "$3" -cert_chain "$4" \
				-cipher 'DEFAULT@SECLEVEL=0' -www -quiet </dev/null >/dev/null 2>"$WORK/$1.err" &
		else
			openssl s_server -accept "127.0.0.1:$port" -cert "$2" -key "$3" \
				-cipher 'DEFAULT@SECLEVEL=0' -www -quiet </dev/null >/dev/null 2>"$WORK/$1.err" &
		fi
		pid=$!
		i=0
		while kill -0 "$pid" 2>/dev/null && ! listens "$pid" "$port" 2>/dev/null && [ $i -lt 150 ]; do
			i=$((i + 1))
			sleep 0.1
		done
		if listens "$pid" "$port" 2>/dev/null; then
			PIDS="$PIDS $pid"
			CAIRN_PIDS="$CAIRN_PIDS $pid"
			eval "PORT_$1=$port"
			return 0
		fi
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	bail "openssl s_server for $1 did not listen ($(cat "$WORK/$1.err"))"
}
serve good "$WORK/good.pem" "$WORK/good.key" "$D/ca/issuing.pem"
serve revoked "$WORK/revoked.pem" "$WORK/revoked.key" "$D/ca/issuing.pem"
serve mismatch "$WORK/other.pem" "$WORK/other.key" "$D/ca/issuing.pem"
serve self "$WORK/self.pem" "$WORK/self.key"
serve expired "$WORK/expired.pem" "$WORK/expired.key"
serve weak "$WORK/weak.pem" "$WORK/weak.key"
PORT_closed=$(free_port)
# A server that accepts TCP and never says a word (for at most 60 s).
PORT_hung=$(free_port)
python3 - "$PORT_hung" <<'PY' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
held, end = [], time.time() + 60
s.settimeout(0.5)
while time.time() < end:
    try:
        held.append(s.accept()[0])
    except OSError:
        pass
PY
CAIRN_PIDS="$CAIRN_PIDS $!"
# Wait (bounded) until every server listens.
for name in good revoked mismatch self expired weak hung; do
	eval "p=\$PORT_$name"
	i=0
	until py "import socket; socket.create_connection(('127.0.0.1', $p), 1).close()" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 50 ] || bail "server $name on port $p did not start: $(cat "$WORK/$name.err" 2>/dev/null)"
		sleep 0.1
	done
done

echo "$SNI" >"$WORK/sni.txt"
TARGETS="127.0.0.1:$PORT_good,127.0.0.1:$PORT_revoked,127.0.0.1:$PORT_mismatch,127.0.0.1:$PORT_self"
TARGETS="$TARGETS,127.0.0.1:$PORT_expired,127.0.0.1:$PORT_weak,127.0.0.1:$PORT_closed,127.0.0.1:$PORT_hung"
T0=$(date +%s%N)
ok "discover the eight endpoints" sh -c "'$CAIRN' discover --dir '$D' --targets '$TARGETS' \
	--sni-file '$WORK/sni.txt' --timeout-ms 2000 --parallel 8 --format json >'$WORK/scan.json'"
T1=$(date +%s%N)
ELAPSED_MS=$(((T1 - T0) / 1000000))
ok "every finding is right" py "
import json
rows={r['endpoint'].rsplit(':',1)[1]: r for r in json.load(open('$WORK/scan.json'))['items']}
def r(name):
    import os
    return rows[str({'good':$PORT_good,'revoked':$PORT_revoked,'mismatch':$PORT_mismatch,'self':$PORT_self,'expired':$PORT_expired,'weak':$PORT_weak,'closed':$PORT_closed,'hung':$PORT_hung}[name])]
assert len(rows)==8, rows.keys()
g=r('good')
assert g['result']=='tls' and g['verify_cairn']=='yes' and g['name_match']=='yes' and g['expired']=='no' and g['weak']=='' and g['status']=='valid' and g['cairn_serial'], g
assert g['sni']=='$SNI' and g['version'].startswith('TLSv1.'), g
v=r('revoked')
assert v['status']=='revoked' and v['cairn_serial']=='$REVOKED_SERIAL' and v['verify_cairn']=='yes', v
m=r('mismatch')
assert m['name_match']=='no' and m['verify_cairn']=='yes' and m['status']=='valid', m
s=r('self')
assert s['verify_cairn']=='no' and s['verify_system']=='no' and s['name_match']=='yes' and s['status']==\"not cairn's\", s
import re
assert re.search('self.signed', s['verify_error']), s
e=r('expired')
assert e['expired']=='yes' and e['weak']=='', e
w=r('weak')
assert w['weak']=='RSA-1024 key, SHA1 signature' and w['expired']=='no', w
assert r('closed')['result']=='connection refused', r('closed')
assert r('hung')['result']=='handshake timeout', r('hung')
"
# Eight endpoints through eight slots: the hung one costs one 2 s handshake timeout.
ok "the hung server costs one timeout ($ELAPSED_MS ms)" test "$ELAPSED_MS" -lt 5000
ok "  ... and at least that timeout" test "$ELAPSED_MS" -ge 1900

ok "report revoked-in-use names the endpoint serving the revoked certificate" \
	sh -c "'$CAIRN' report revoked-in-use --dir '$D' --format csv >'$WORK/riu.csv'"
ok "  ... one row: the endpoint, SNI, serial and reason" py "
import csv
rows=list(csv.DictReader(open('$WORK/riu.csv', newline='')))
assert [(r['endpoint'],r['sni'],r['serial'],r['reason']) for r in rows]==[('127.0.0.1:$PORT_revoked','$SNI','$REVOKED_SERIAL','keyCompromise')], rows
"
ok "the discovered certificates are in the inventory with tls sightings" py "
import json,subprocess
d=json.loads(subprocess.run(['$CAIRN','inventory','list','--dir','$D','--format','json'],capture_output=True,text=True).stdout)
assert d['total']==6, d['total']
assert all(r['where'].startswith('127.0.0.1:') and r['where'].endswith('sni=$SNI') for r in d['items']), d
"
ok "rescanning adds nothing" sh -c "'$CAIRN' discover --dir '$D' --targets '127.0.0.1:$PORT_good,127.0.0.1:$PORT_self' --sni-file '$WORK/sni.txt' 2>&1 >/dev/null"
last_has "  ... known" "0 added, 2 already known"
C audit export --dir "$D" --format jsonl --unsigned >"$WORK/audit.jsonl" 2>/dev/null
ok "scans are audited as imports" py "
import json
ev=[json.loads(l) for l in open('$WORK/audit.jsonl') if '\"inventory.import\"' in l]
assert len(ev)==2 and ev[0]['details']['source'].startswith('discover ') and ev[0]['details']['added']==6, ev
"

# A range: 127.0.0.0/29 on the good port finds it once, and the rest is refused/closed.
ok "a CIDR range" sh -c "'$CAIRN' discover --dir '$D' --targets 127.0.0.0/29 --ports '$PORT_good,$PORT_closed' --timeout-ms 1000 --format csv >'$WORK/range.csv'"
ok "  ... 16 endpoints, one TLS" py "
import csv
rows=list(csv.DictReader(open('$WORK/range.csv', newline='')))
assert len(rows)==16, len(rows)
assert [r['endpoint'] for r in rows if r['result']=='tls']==['127.0.0.1:$PORT_good'], rows
"

# ---- the allowed ranges ----
fails "a target outside the default (loopback) range is refused" "$CAIRN" discover --dir "$D" --targets 10.1.2.3:443
last_has "  ... naming it" "10.1.2.3 is outside discover.allowed: refused"
last_one_line "  ... in one line"
fails "an IPv4-mapped IPv6 address of it too" "$CAIRN" discover --dir "$D" --targets "[::ffff:10.1.2.3]:443"
fails "a range that leaves loopback" "$CAIRN" discover --dir "$D" --targets 126.255.255.0/23 --ports 443
fails "one bad target refuses the whole scan, before any connection" "$CAIRN" discover --dir "$D" \
	--targets "127.0.0.1:$PORT_good,10.0.0.1" --ports 443
# One endpoint serving a ~60 KB leaf (a 413 for the batch it joined, which stopped the scan
# and lost what came before it) is one failed handshake; the others are still recorded.
printf '[req]\ndistinguished_name=dn\nprompt=no\nx509_extensions=v3\n[dn]\nCN=big.test\n[v3]\n1.2.3.4=ASN1:FORMAT:HEX,OCTETSTRING:%s\n' \
	"$(head -c 60000 /dev/zero | od -An -v -tx1 | tr -d ' \n')" >"$WORK/big.cnf"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/big.key" \
	-out "$WORK/big.pem" -days 30 -config "$WORK/big.cnf" 2>/dev/null || bail "no big certificate"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/beside.key" \
	-out "$WORK/beside.pem" -days 30 -subj /CN=beside-big.test \
	-addext subjectAltName=DNS:beside-big.test 2>/dev/null
serve big "$WORK/big.pem" "$WORK/big.key"
serve beside "$WORK/beside.pem" "$WORK/beside.key"
ok "a scan of an endpoint with a 60 KB leaf and one beside it finishes" sh -c "'$CAIRN' discover \
	--dir '$D' --targets '127.0.0.1:$PORT_beside,127.0.0.1:$PORT_big' --parallel 1 \
	--timeout-ms 3000 >'$WORK/big.out' 2>&1"
ok "  ... the certificate beside it is in the inventory" sh -c "'$CAIRN' inventory list --dir '$D' \
	--format json | grep -q '127.0.0.1:$PORT_beside'"
ok "  ... the big one is a failed handshake, not a refused batch" sh -c "cat '$WORK/big.out'
	! grep -qw 413 '$WORK/big.out' && grep '127.0.0.1:$PORT_big' '$WORK/big.out' | grep -q 'handshake failed'"
fails "bad ports" "$CAIRN" discover --dir "$D" --targets 127.0.0.1 --ports 0
last_has "  ... naming the port" "--ports: 0 is not a port 1..65535"
fails "a /8 is too large to expand" "$CAIRN" discover --dir "$D" --targets 127.0.0.0/8
py "
import json
p='$D/cairn.json'; d=json.load(open(p)); d['discover']={'allowed':['127.0.0.1/32']}
json.dump(d, open(p,'w'), indent=2)
"
ok "with discover.allowed = 127.0.0.1/32, it is scanned" "$CAIRN" discover --dir "$D" --targets "127.0.0.1:$PORT_good"
fails "  ... but 127.0.0.2 is not" "$CAIRN" discover --dir "$D" --targets "127.0.0.2:$PORT_good"
last_has "  ... refused" "127.0.0.2 is outside discover.allowed"
fails "  ... nor localhost's other addresses in a /30" "$CAIRN" discover --dir "$D" --targets 127.0.0.0/30 --ports 443
py "
import json
p='$D/cairn.json'; d=json.load(open(p)); d['discover']={'allowed':['not-a-range']}
json.dump(d, open(p,'w'), indent=2)
"
fails "a bad discover.allowed entry is named" "$CAIRN" discover --dir "$D" --targets 127.0.0.1:443
last_has "  ... as such" "discover.allowed: not-a-range"
fails "  ... config check refuses it too (not only a scan)" "$CAIRN" config check --dir "$D"
last_has "  ... naming it" "discover.allowed: not-a-range is not an address or CIDR range"
py "
import json
p='$D/cairn.json'; d=json.load(open(p)); d['discover']={'allowed':['10.0.0.0/8', '10.0.0.0/33']}
json.dump(d, open(p,'w'), indent=2)
"
fails "a prefix longer than the address is refused by config check" "$CAIRN" config check --dir "$D"
last_has "  ... naming it" "discover.allowed: 10.0.0.0/33 is not"

ok "the daemon is still up" kill -0 "$SERVE_PID"

# ---- discover.schedules: the daemon scans by itself (at start-up, then every interval) ----
set_discover() {
	python3 - "$D/cairn.json" "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["discover"] = json.loads(sys.argv[2])
json.dump(d, open(sys.argv[1], "w"), indent=2)
PY
}
set_discover "{\"schedules\": {\"lab\": {\"targets\": \"127.0.0.1:$PORT_weak,127.0.0.1:$PORT_hung\", \"interval\": \"1h\", \"timeout_ms\": 1000}}}"
ok "a schedule passes config check" "$CAIRN" config check --dir "$D"
ca_stop
ca_serve "$D" || bail "cairn serve did not restart: $(tail -3 "$D.serve.log")"
i=0
until C audit export --dir "$D" --format jsonl --unsigned 2>/dev/null | grep -q '"server:discover"'; do
	i=$((i + 1)); [ $i -lt 100 ] || break
	sleep 0.2
done
C audit export --dir "$D" --format jsonl --unsigned >"$WORK/audit2.jsonl" 2>/dev/null
ok "the daemon ran the schedule at start-up and recorded what it found" py "
import json
ev=[json.loads(l) for l in open('$WORK/audit2.jsonl') if '\"server:discover\"' in l]
assert len(ev)==1, ev
d=ev[0]['details']
assert d['source']=='discover schedule lab' and d['known']==1 and d['added']==0, d
"
ok "  ... as a tls sighting of the weak certificate" sh -c "'$CAIRN' inventory show --dir '$D' \
	\$(openssl x509 -in '$WORK/weak.pem' -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f) |
	grep -q '\"where\": \"127.0.0.1:$PORT_weak\"'"
ca_stop
set_discover '{"schedules": {"lab": {"targets": "127.0.0.1:443,10.9.8.7:443", "interval": "1h"}}}'
if ca_serve "$D" 2>/dev/null; then tap 0 "a schedule outside discover.allowed stops serve"; ca_stop
else tap 1 "a schedule outside discover.allowed stops serve"; fi
ok "  ... naming the schedule and the address" grep -q "discover.schedules.lab: 10.9.8.7 is outside discover.allowed" "$D.serve.log"
set_discover '{"schedules": {"lab": {"targets": "127.0.0.1", "interval": "10s"}}}'
fails "an interval under a minute is refused by config check" "$CAIRN" config check --dir "$D"
last_has "  ... naming the key" "discover.schedules.lab.interval"
done_testing
