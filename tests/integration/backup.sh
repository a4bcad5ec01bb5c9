#!/bin/sh
# SPDX-License-Identifier: MIT
# cairn backup / restore: a hot backup while a client issues through the daemon, a restore
# into a new directory that serves (OCSP for old certificates, new issuance), verifies its
# audit chain and holds every certificate; damaged and hostile archives are refused.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
ca_serve "$D" || bail "cairn serve did not start"
ORIG_HTTP=$HTTP_URL

serials() { "$CAIRN" list --dir "$1" --json 2>/dev/null | jq -r '.items[].serial' | sort; }
# metric NAME: its value in the running daemon's /metrics.
metric() { curl -sf "$HTTP_URL/metrics" | sed -n "s/^$1 //p"; }
count() { cat "$WORK/loop.count" 2>/dev/null || echo 0; }
# one_line_fail DESC CMD...: fails with exit status 1 and a single line of output.
one_line_fail() {
	desc=$1
	shift
	"$@" >"$WORK/last.out" 2>&1
	st=$?
	if [ $st -eq 1 ] && [ "$(wc -l <"$WORK/last.out")" -eq 1 ]; then tap 1 "$desc"; else
		echo "exit status $st" >>"$WORK/last.out"
		tap 0 "$desc"
	fi
}

# Nobody told to back up: a new CA's keys are in no backup yet.
ok "a new CA: no backup recorded (cairn_backup_last_timestamp_seconds 0)" \
	test "$(metric cairn_backup_last_timestamp_seconds)" -eq 0
ok "  ... and its making is a change no backup holds" \
	test "$(metric cairn_backup_changes_pending)" -ge 1

make_csr old ec:P-256 /CN=old.example.test "DNS:old.example.test"
make_csr loop ec:P-256 /CN=loop.example.test "DNS:loop.example.test"
ok "a certificate issued before the backup" "$CAIRN" issue --dir "$D" --csr "$WORK/old.csr" \
	--profile tls-server --out "$WORK/old.pem"

# The client: `cairn issue` through the running daemon, at most 60 certificates or 90 s.
(
	i=0
	end=$(($(date +%s) + 90))
	while [ $i -lt 60 ] && [ "$(date +%s)" -lt $end ]; do
		"$CAIRN" issue --dir "$D" --csr "$WORK/loop.csr" --profile tls-server \
			--out "$WORK/loop.pem" 2>>"$WORK/loop.err" || echo "$i" >>"$WORK/loop.failed"
		i=$((i + 1))
		echo $i >"$WORK/loop.count.tmp" && mv "$WORK/loop.count.tmp" "$WORK/loop.count"
	done
) &
LOOP_PID=$!
n=0
while [ "$(count)" -lt 5 ]; do
	n=$((n + 1))
	[ $n -le 600 ] || bail "the issuing client got no certificates"
	sleep 0.1
done
serials "$D" >"$WORK/before.serials"
ok "backup while the client issues" "$CAIRN" backup --dir "$D" --out "$WORK/ca.tar.xz"
last_has "the backup reports its audit event" "audited +event [0-9]+ \(ca.backup\)"
wait $LOOP_PID
ok "no issuance failed while the backup ran" test ! -e "$WORK/loop.failed"
ok "the client issued all its certificates" test "$(count)" -eq 60

ok "the archive is mode 0600" test "$(stat -c %a "$WORK/ca.tar.xz")" = 600
tar -tJf "$WORK/ca.tar.xz" >"$WORK/members" 2>&1
ok "the archive holds the token, its PIN, config, policy and certificates" sh -c "
	for m in MANIFEST.sha256 BACKUP.json db/data.mdb cairn.json policy.json token.pin \
		softhsm2.conf ca/root.pem ca/issuing.pem ca/ocsp.pem tls/server.key admin.token; do
		grep -qx \"\$m\" '$WORK/members' || { echo \"missing \$m\"; exit 1; }
	done
	grep -q '^tokens/.*\.object\$' '$WORK/members'"
ok "no runtime files in the archive" sh -c "! grep -Eq '^(cairn.lock|serve.json|db/lock.mdb)\$' '$WORK/members'"
mkdir "$WORK/unpacked" && tar -xJf "$WORK/ca.tar.xz" -C "$WORK/unpacked"
ok "sha256sum -c agrees with the manifest" sh -c "cd '$WORK/unpacked' && sha256sum -c --strict --quiet MANIFEST.sha256"
SUM=$(sha256sum "$WORK/ca.tar.xz" | cut -d' ' -f1)
ok "the running CA audited the backup with the archive's SHA-256" sh -c "
	'$CAIRN' audit export --dir '$D' --format jsonl | grep '\"action\":\"ca.backup\"' |
		grep '\"actor\":\"admin:' | grep -q '$SUM'"
CREATED=$(date -d "$(jq -r .created "$WORK/unpacked/BACKUP.json")" +%s)
LAST=$(metric cairn_backup_last_timestamp_seconds)
ok "/metrics: the backup's time (recorded after BACKUP.json's created, before now)" \
	sh -c "[ '$LAST' -ge '$CREATED' ] && [ '$LAST' -le $(date +%s) ]"
ok "  ... no change since" test "$(metric cairn_backup_changes_pending)" -eq 0
ok "the OCSP signer renewed (a new key in the token)" "$CAIRN" ca renew --ocsp-signer --dir "$D"
ok "  ... is a change the backup lacks" test "$(metric cairn_backup_changes_pending)" -eq 1
ca_stop
ca_serve "$D" || bail "cairn serve did not start again"
ORIG_HTTP=$HTTP_URL
ok "  ... still after a restart (kept in the database)" \
	test "$(metric cairn_backup_changes_pending)" -eq 1
ok "  ... with the backup's time" test "$(metric cairn_backup_last_timestamp_seconds)" -eq "$LAST"

# The record a running daemon keeps: admins only, and only the fields a backup reports.
post_backup() {
	curl -s --cacert "$D/ca/root.pem" -o "$WORK/api.out" -w '%{http_code}' \
		-H "Authorization: Bearer $(cat "$1")" -H 'Content-Type: application/json' \
		-d "$2" "$HTTPS_URL/admin/v1/audit/backups"
}
GOOD='{"archive_sha256":"'$SUM'","bytes":1,"files":1,"certificates":1,"audit_seq":1}'
"$CAIRN" admin add --dir "$D" --name aud --role auditor >/dev/null 2>&1
"$CAIRN" token create --dir "$D" --name aud --role auditor >"$WORK/aud.tok" 2>/dev/null
ok "an auditor may not record a backup (403)" test "$(post_backup "$WORK/aud.tok" "$GOOD")" = 403
ok "a record without a SHA-256 is refused (400)" test "$(post_backup "$D/admin.token" \
	'{"archive_sha256":"xyz","bytes":1,"files":1,"certificates":1,"audit_seq":1}')" = 400
ok "a record with another field is refused (400)" test "$(post_backup "$D/admin.token" \
	'{"archive_sha256":"'$SUM'","bytes":1,"files":1,"certificates":1,"audit_seq":1,"action":"x"}')" = 400

# ---- restore ----
C=$WORK/copy
ok "restore into a new directory" "$CAIRN" restore --from "$WORK/ca.tar.xz" --dir "$C"
ok "restored directory 0700, secrets 0600, nothing readable by others" sh -c "
	[ \$(stat -c %a '$C') = 700 ] && [ \$(stat -c %a '$C/token.pin') = 600 ] &&
	[ \$(stat -c %a '$C/tls/server.key') = 600 ] && [ -z \"\$(find '$C' -perm /077)\" ]"
ok "softhsm2.conf points at the restored token" grep -qx "directories.tokendir = $(cd "$C" && pwd -P)/tokens" "$C/softhsm2.conf"
ok "the archive's own files are not left in the data directory" test ! -e "$C/MANIFEST.sha256" -a ! -e "$C/BACKUP.json"
serials "$C" >"$WORK/restored.serials"
serials "$D" >"$WORK/after.serials"
ok "every certificate issued before the backup is in the restored copy" sh -c "
	[ -s '$WORK/before.serials' ] && [ -z \"\$(comm -23 '$WORK/before.serials' '$WORK/restored.serials')\" ]"
ok "the restored copy holds only certificates of the original" sh -c "
	[ -z \"\$(comm -23 '$WORK/restored.serials' '$WORK/after.serials')\" ]"
ok "issuance went on after the snapshot (a hot backup)" sh -c "
	[ -n \"\$(comm -13 '$WORK/restored.serials' '$WORK/after.serials')\" ]"
ok "cairn audit verify on the restored copy" "$CAIRN" audit verify --dir "$C"
last_has "the restored chain is intact" "audit chain intact"
ok "the restore is audited in the restored copy" sh -c "
	'$CAIRN' audit export --dir '$C' --format jsonl --unsigned | grep '\"action\":\"ca.restore\"' |
		grep -q '$SUM'"

ca_serve "$C" || bail "the restored CA does not start: $(tail -n 5 "$C.serve.log")"
ok "the restored daemon listens on its own ports" test "$HTTP_URL" != "$ORIG_HTTP"
ok "  ... its last backup is the archive it came from" \
	test "$(metric cairn_backup_last_timestamp_seconds)" -eq "$CREATED"
ok "  ... with no change since" test "$(metric cairn_backup_changes_pending)" -eq 0
ok "OCSP from the restored daemon: the old certificate is good, response verifies" sh -c "
	openssl ocsp -issuer '$C/ca/issuing.pem' -cert '$WORK/old.pem' -url '$HTTP_URL/ocsp' \
		-CAfile '$C/ca/root.pem' >'$WORK/ocsp.out' 2>&1
	grep -q '$WORK/old.pem: good' '$WORK/ocsp.out' && grep -q 'Response verify OK' '$WORK/ocsp.out'"
make_csr new ec:P-256 /CN=new.example.test "DNS:new.example.test"
ok "the restored daemon issues a new certificate" "$CAIRN" issue --dir "$C" --csr "$WORK/new.csr" \
	--profile tls-server --out "$WORK/new.pem"
ok "which chains to the same root" openssl verify -CAfile "$D/ca/root.pem" \
	-untrusted "$C/ca/issuing.pem" "$WORK/new.pem"
ok "the original keeps serving beside it" sh -c "
	openssl ocsp -issuer '$D/ca/issuing.pem' -cert '$WORK/old.pem' -url '$ORIG_HTTP/ocsp' \
		-CAfile '$D/ca/root.pem' 2>&1 | grep -q 'Response verify OK'"
ca_stop
ok "backup of a stopped CA (the event is written directly)" "$CAIRN" backup --dir "$C" \
	--out "$WORK/copy.tar.xz"
ok "and audited by cli:backup" sh -c "
	'$CAIRN' audit export --dir '$C' --format jsonl --unsigned | grep '\"action\":\"ca.backup\"' |
		grep -q '\"actor\":\"cli:backup\"'"
ok "its audit chain still verifies" "$CAIRN" audit verify --dir "$C"

# SoftHSM2 rewrites token files in place: a copy must not be taken while one changes.
# The backup gives up after 20 tries that each saw a change within 100 ms, so the writer
# must change the file in every such window: one process writing every 5 ms (a shell loop
# forking `sleep` each time missed a window on a loaded machine), for at most 120 s.
TOKDIR=$(dirname "$(ls "$C"/tokens/*/token.object)")
python3 -c '
import os, sys, time
path, stop = sys.argv[1], sys.argv[2]
end, i = time.monotonic() + 120, 0
while not os.path.exists(stop) and time.monotonic() < end:
    with open(path, "w") as f:
        f.write("%d\n" % i)
    i += 1
    time.sleep(0.005)
' "$TOKDIR/busy.object" "$WORK/writer.stop" &
WRITER_PID=$!
waits_for test -s "$TOKDIR/busy.object" || bail "the token file writer did not start"
one_line_fail "no backup while a token file keeps changing" "$CAIRN" backup --dir "$C" \
	--out "$WORK/busy.tar.xz"
last_has "  ... it says which" "busy.object changed while it was copied"
touch "$WORK/writer.stop"
wait $WRITER_PID
: >"$TOKDIR/busy.object"
one_line_fail "no backup of a token holding an empty (half-written) object" "$CAIRN" backup \
	--dir "$C" --out "$WORK/busy.tar.xz"
last_has "  ... it says which" "busy.object is empty"
rm -f "$TOKDIR/busy.object"
ok "no archive was left behind" test ! -e "$WORK/busy.tar.xz"
ok "nor any staging file" sh -c "[ -z \"\$(ls -A '$WORK' | grep '^\\.')\" ]"

# A CA whose keys live in another PKCS#11 token (standing in for a real HSM): the archive
# holds no keys, restore says so, and the restored CA signs with the same token.
mkdir "$WORK/hsm"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$WORK/hsm" \
	>"$WORK/hsm.conf"
echo 87654321 >"$WORK/hsm.pin"
SOFTHSM2_CONF=$WORK/hsm.conf
export SOFTHSM2_CONF
softhsm2-util --init-token --free --label hsm --so-pin 12345678 --pin 87654321 >/dev/null 2>&1 ||
	bail "softhsm2-util cannot make a token"
ca_init "$WORK/ext" --module /usr/lib/softhsm/libsofthsm2.so --token-label hsm \
	--pin-file "$WORK/hsm.pin" || bail "cairn init --module failed: $(cat "$WORK/ext.init.out")"
ok "backup of a CA with its keys in an HSM" "$CAIRN" backup --dir "$WORK/ext" --out "$WORK/ext.tar.xz"
last_has "  ... says the keys are not in it" "keys are in the HSM"
last_has "  ... and names the PIN file it did not take" "not in the archive: $WORK/hsm.pin"
ok "  ... and holds no token" sh -c "! tar -tJf '$WORK/ext.tar.xz' | grep -q '^tokens/'"
ok "restore of that CA" "$CAIRN" restore --from "$WORK/ext.tar.xz" --dir "$WORK/ext2"
last_has "  ... says the keys stayed in the HSM" "keys were in an HSM"
ca_serve "$WORK/ext2" || bail "the restored HSM CA does not start: $(tail -n 5 "$WORK/ext2.serve.log")"
ok "  ... and issues with the HSM's keys" "$CAIRN" issue --dir "$WORK/ext2" --csr "$WORK/new.csr" \
	--profile tls-server --out "$WORK/ext2.pem"
ca_stop
unset SOFTHSM2_CONF

# A restore drill beside a CA that publishes its OCSP answers and CRLs into a web tree
# outside its directory: the copy must not publish there (it would prune the answers of
# certificates issued since the backup and put its older CRL over the current one).
PUB=$WORK/webtree
ca_init "$WORK/live" || bail "cairn init failed: $(cat "$WORK/live.init.out")"
python3 - "$WORK/live/cairn.json" "$PUB" "$WORK/live-crl" <<'EOF2'
import json, sys
d = json.load(open(sys.argv[1]))
d.setdefault("ocsp", {}).update({"publish": sys.argv[2], "publish_delay": 0})
d.setdefault("crl", {}).update({"publish": sys.argv[2], "publish_dir": sys.argv[3]})
json.dump(d, open(sys.argv[1], "w"), indent=2)
EOF2
ca_serve "$WORK/live" || bail "the publishing CA does not start: $(tail -n 5 "$WORK/live.serve.log")"
LIVE_PID=$SERVE_PID
ok "backup of a CA that publishes into $PUB" "$CAIRN" backup --dir "$WORK/live" --out "$WORK/live.tar.xz"
make_csr late ec:P-256 /CN=late.example.test "DNS:late.example.test"
"$CAIRN" issue --dir "$WORK/live" --csr "$WORK/late.csr" --profile tls-server --out "$WORK/late.pem" \
	>/dev/null 2>&1
LATE=$(openssl x509 -in "$WORK/late.pem" -noout -serial | cut -d= -f2)
"$CAIRN" revoke --dir "$WORK/live" "$LATE" --reason keyCompromise >/dev/null 2>&1
# crl_lists FILE: the DER CRL FILE names the late certificate's serial.
crl_lists() { openssl crl -inform DER -in "$1" -noout -text 2>/dev/null | grep -q "Serial Number: $LATE"; }
n=0
until crl_lists "$PUB/crl/issuing.crl" && [ -n "$(find "$PUB/ocsp" -type f 2>/dev/null)" ]; do
	n=$((n + 1))
	[ $n -le 300 ] || bail "the live CA published no CRL naming $LATE"
	sleep 0.1
done
sleep 2
find "$PUB" -type f -exec sha256sum {} + | sort >"$WORK/webtree.before"
ok "restore of that CA beside it" "$CAIRN" restore --from "$WORK/live.tar.xz" --dir "$WORK/drill"
last_has "  ... names ocsp.publish, cleared, with its old value" "ocsp.publish cleared \\(was $PUB,"
last_has "  ... names crl.publish, cleared, with its old value" "crl.publish cleared \\(was $PUB,"
last_has "  ... names crl.publish_dir, set back, with its old value" \
	"crl.publish_dir back to its default \\(was $WORK/live-crl,"
ok "  ... the restored cairn.json publishes nowhere outside it" sh -c "
	jq -e '.ocsp.publish == \"\" and .crl.publish == \"\" and (.crl | has(\"publish_dir\") | not)' \
		'$WORK/drill/cairn.json' >/dev/null"
ca_serve "$WORK/drill" || bail "the drill copy does not start: $(tail -n 5 "$WORK/drill.serve.log")"
DRILL_PID=$SERVE_PID
sleep 4
find "$PUB" -type f -exec sha256sum {} + | sort >"$WORK/webtree.after"
ok "the drill left the live tree as it was (no answer pruned, no file rewritten)" \
	cmp "$WORK/webtree.before" "$WORK/webtree.after"
ok "  ... its CRL still names the certificate revoked after the backup" crl_lists "$PUB/crl/issuing.crl"
ok "  ... and the drill's CRLs are in its own directory" test -s "$WORK/drill/crl/issuing.crl"
kill -TERM "$DRILL_PID" "$LIVE_PID" 2>/dev/null
wait "$DRILL_PID" "$LIVE_PID"
ok "restore --keep-paths keeps them" "$CAIRN" restore --from "$WORK/live.tar.xz" --dir "$WORK/drill2" \
	--keep-paths
last_has "  ... and says so" "ocsp.publish still $PUB, outside .*--keep-paths"
ok "  ... in cairn.json" sh -c "jq -e '.ocsp.publish == \"$PUB\"' '$WORK/drill2/cairn.json' >/dev/null"

# ---- refusals ----
fails "backup without --out is a usage error" "$CAIRN" backup --dir "$D"
ok "with exit status 2" sh -c "'$CAIRN' backup --dir '$D' 2>/dev/null; [ \$? -eq 2 ]"
ok "restore without --dir is a usage error (exit 2)" sh -c "'$CAIRN' restore --from '$WORK/ca.tar.xz' 2>/dev/null; [ \$? -eq 2 ]"
backups() { "$CAIRN" audit export --dir "$D" --format jsonl 2>/dev/null | grep -c '"action":"ca.backup"'; }
n_backups=$(backups)
one_line_fail "backup --out '' is refused" "$CAIRN" backup --dir "$D" --out ""
last_has "  ... says why" "--out is empty"
ok "  ... and records no ca.backup event" test "$(backups)" -eq "$n_backups"
one_line_fail "backup never overwrites a file" "$CAIRN" backup --dir "$D" --out "$WORK/ca.tar.xz"
one_line_fail "backup refuses an archive inside the data directory" "$CAIRN" backup --dir "$D" --out "$D/x.tar.xz"
mkdir "$WORK/full" && echo keep >"$WORK/full/x"
one_line_fail "restore refuses a non-empty directory" "$CAIRN" restore --from "$WORK/ca.tar.xz" --dir "$WORK/full"
ok "and leaves it as it was" sh -c "[ \$(ls -A '$WORK/full') = x ]"

# refused_archive DESC FILE WHY: restore fails with one line matching WHY, and leaves no
# directory behind.
refused_archive() {
	rm -rf "$WORK/bad"
	one_line_fail "$1" "$CAIRN" restore --from "$2" --dir "$WORK/bad"
	last_has "  ... says why" "$3"
	ok "  ... and leaves nothing behind" test ! -e "$WORK/bad"
}
SIZE=$(stat -c %s "$WORK/ca.tar.xz")
for pos in 7 $((SIZE / 3)) $((SIZE / 2)) $((SIZE - 6)); do
	python3 -c "import sys; p, n = sys.argv[1], int(sys.argv[2]); d = bytearray(open(p, 'rb').read()); d[n] ^= 0x10; open(sys.argv[3], 'wb').write(d)" \
		"$WORK/ca.tar.xz" "$pos" "$WORK/flip.tar.xz"
	refused_archive "a flipped byte at offset $pos is refused" "$WORK/flip.tar.xz" \
		"archive damaged: (xz|tar): "
done
head -c $((SIZE / 2)) "$WORK/ca.tar.xz" >"$WORK/trunc.tar.xz"
refused_archive "a truncated archive is refused" "$WORK/trunc.tar.xz" "archive damaged: .*end of input"

# repack OP NAME OUT: the good archive rebuilt by Python's tarfile with one change.
repack() {
	python3 - "$WORK/ca.tar.xz" "$@" <<'EOF'
import hashlib, io, sys, tarfile
src, op, name, dst = sys.argv[1:5]
with tarfile.open(src, 'r:xz') as t:
    members = [(m, t.extractfile(m).read()) for m in t.getmembers()]
def reg(n, data):
    ti = tarfile.TarInfo(n); ti.size = len(data); ti.mode = 0o600
    return (ti, data)
def listed(n, data):
    for i, (ti, d) in enumerate(members):
        if ti.name == 'MANIFEST.sha256':
            d += ('%s  %s\n' % (hashlib.sha256(data).hexdigest(), n)).encode()
            members[i] = reg(ti.name, d)
    members.append(reg(n, data))
if op == 'extra':
    members.append(reg(name, b'not in the manifest\n'))
elif op == 'listed':
    listed(name, b'written where it should not be\n')
elif op == 'drop':
    members = [x for x in members if x[0].name != name]
elif op == 'alter':
    members = [reg(ti.name, d + b' ') if ti.name == name else (ti, d) for ti, d in members]
elif op == 'symlink':
    ti = tarfile.TarInfo(name); ti.type = tarfile.SYMTYPE; ti.linkname = sys.argv[5]
    members.insert(0, (ti, None))
elif op == 'dup':
    members += [x for x in members if x[0].name == name]
elif op == 'bomb':
    # NAME: sys.argv[5] MiB of zeros in front, not in the manifest (xz makes it tiny).
    class Zeros(io.RawIOBase):
        def __init__(self, n): self.n = n
        def readable(self): return True
        def readinto(self, b):
            k = min(len(b), self.n); b[:k] = bytes(k); self.n -= k; return k
    ti = tarfile.TarInfo(name); ti.size = int(sys.argv[5]) << 20; ti.mode = 0o600
    members.insert(0, (ti, io.BufferedReader(Zeros(ti.size))))
elif op == 'lastleaf':
    # The last leaf page of the LMDB file NAME: its first node pointer 0xfff8 sends a
    # reader 64 KiB on, past the end of the file (SIGBUS); the manifest is made to match.
    for i, (ti, d) in enumerate(members):
        if ti.name == name:
            d = bytearray(d)
            leaf = max(p for p in range(2, len(d) // 4096) if d[p * 4096 + 10] == 0x02)
            d[leaf * 4096 + 16:leaf * 4096 + 18] = b'\xf8\xff'
            members[i] = reg(name, bytes(d))
            digest = hashlib.sha256(d).hexdigest()
    for i, (ti, d) in enumerate(members):
        if ti.name == 'MANIFEST.sha256':
            lines = [(digest + '  ' + name) if l.endswith('  ' + name) else l
                     for l in d.decode().splitlines()]
            members[i] = reg(ti.name, ('\n'.join(lines) + '\n').encode())
with tarfile.open(dst, 'w:xz', format=tarfile.PAX_FORMAT, preset=1) as t:
    for ti, d in members:
        t.addfile(ti, io.BytesIO(d) if isinstance(d, bytes) else d)
EOF
}
repack extra extra.txt "$WORK/extra.tar.xz"
refused_archive "an archive with a file the manifest does not list is refused" \
	"$WORK/extra.tar.xz" "archive refused: extra.txt is not in MANIFEST.sha256"
repack listed ../evil.txt "$WORK/up.tar.xz"
refused_archive "a ../ path is refused (even when the manifest lists it)" "$WORK/up.tar.xz" \
	'member name "\.\./evil.txt"'
ok "  ... nothing was written outside" test ! -e "$WORK/evil.txt"
repack listed "$WORK/abs-evil.txt" "$WORK/abs.tar.xz"
refused_archive "an absolute path is refused" "$WORK/abs.tar.xz" "member name \"/"
ok "  ... nothing was written there" test ! -e "$WORK/abs-evil.txt"
repack symlink ca "$WORK/link.tar.xz" "$WORK"
refused_archive "a symbolic link in the archive is refused" "$WORK/link.tar.xz" \
	"member ca -> .* is not a regular file"
repack drop tls/server.key "$WORK/drop.tar.xz"
refused_archive "a file the manifest lists but the archive lacks is refused" "$WORK/drop.tar.xz" \
	"tls/server.key is in MANIFEST.sha256 but not in the archive"
repack alter policy.json "$WORK/alter.tar.xz"
refused_archive "a file that does not match its SHA-256 is refused" "$WORK/alter.tar.xz" \
	"policy.json does not match its SHA-256"
repack dup policy.json "$WORK/dup.tar.xz"
refused_archive "a member that appears twice is refused" "$WORK/dup.tar.xz" \
	"policy.json appears twice"
repack lastleaf db/data.mdb "$WORK/leaf.tar.xz"
# Restore's child that reads the damaged page dies of SIGBUS on purpose; in the
# sanitizer build ASan must let it (no report of a crash the test provokes).
[ -n "${ASAN_OPTIONS:-}" ] && ASAN_SAVED=$ASAN_OPTIONS && export ASAN_OPTIONS="$ASAN_OPTIONS:handle_sigbus=0"
refused_archive "a database with a damaged page (the manifest made to match) is refused" \
	"$WORK/leaf.tar.xz" "archive refused: db/data.mdb is damaged"
[ -n "${ASAN_SAVED:-}" ] && export ASAN_OPTIONS="$ASAN_SAVED"
# A database whose reading never ends (LMDB looping on a damaged page): tests/tools/hang_mdb.so
# makes mdb_env_open wait in pause() for ever, and writes "PID PPID" of the process it holds
# to $WORK/hang.pids. libfaketime runs the clock 100 times fast, so the bound for a small
# data.mdb (120 s) passes in about 1.2 s; `timeout 60` makes a restore without a bound fail
# here instead of hanging.
HANG_SO=$CAIRN_TOOLS/tools/hang_mdb.so
[ -f "$HANG_SO" ] || bail "tests/tools/hang_mdb.so is not built (make)"
[ -n "$FAKETIME_LIB" ] || bail "libfaketime is not installed (scripts/deps.sh installs faketime)"
cp "$WORK/ca.tar.xz" "$WORK/hang.tar.xz"
# left_behind: kills, one by one, what still runs of a restore of the hanging archive (its
# path is in their command line) and the processes the shim held; fails when there was one.
left_behind() {
	pids=$(pgrep -f "restore --from $WORK/hang.tar.xz")
	for pid in $(cut -d' ' -f1 "$WORK/hang.pids" 2>/dev/null); do
		kill -0 "$pid" 2>/dev/null && pids="$pids $pid"
	done
	for pid in $pids; do kill -KILL "$pid" 2>/dev/null; done
	[ -z "$pids" ]
}
# hang_restore DIR: restore of the hanging archive into DIR, sped up, timed in $WORK/hang.secs.
hang_restore() {
	rm -f "$WORK/hang.pids"
	t0=$(date +%s)
	timeout 60 env CAIRN_TEST_HANG_MDB="$WORK/hang.pids" LD_PRELOAD="$FAKETIME_LIB:$HANG_SO" \
		FAKETIME="+0 x100" "$CAIRN" restore --from "$WORK/hang.tar.xz" --dir "$1"
	st=$?
	echo $(($(date +%s) - t0)) >"$WORK/hang.secs"
	return $st
}
# First at the normal speed: what the shim holds is restore's checking child, alone (restore
# opens no database before the check), and restore waits for it.
rm -f "$WORK/hang.pids"
CAIRN_TEST_HANG_MDB=$WORK/hang.pids LD_PRELOAD=$HANG_SO "$CAIRN" restore \
	--from "$WORK/hang.tar.xz" --dir "$WORK/hang0" >"$WORK/hang0.out" 2>&1 &
HANG_PID=$!
ok "the shim holds restore's child in mdb_env_open" waits "$WORK/hang.pids" "^[0-9]+ $HANG_PID\$"
ok "  ... and no other process" test "$(wc -l <"$WORK/hang.pids")" -eq 1
ok "  ... while restore waits for it" sh -c "kill -0 $HANG_PID && [ ! -s '$WORK/hang0.out' ]"
kill -KILL "$HANG_PID"
wait "$HANG_PID" 2>/dev/null
left_behind
rm -rf "$WORK/hang0"
rm -rf "$WORK/bad"
one_line_fail "a database whose reading never ends is refused" hang_restore "$WORK/bad"
last_has "  ... says it took more than its bound" \
	"archive refused: db/data.mdb is damaged \(reading it took more than 120 s\)"
ok "  ... the shim held one process" test "$(wc -l <"$WORK/hang.pids")" -eq 1
ok "  ... refused when the bound passed (1.2 s at this speed; took $(cat "$WORK/hang.secs") s)" \
	test "$(cat "$WORK/hang.secs")" -lt 30
ok "  ... removes the directory it made" test ! -e "$WORK/bad"
ok "  ... and leaves no process behind" left_behind
mkdir "$WORK/empty"
one_line_fail "the same into an empty directory is refused" hang_restore "$WORK/empty"
last_has "  ... says why" "reading it took more than 120 s"
ok "  ... and leaves it there, empty" sh -c "
	[ -d '$WORK/empty' ] && [ -z \"\$(ls -A '$WORK/empty')\" ]"
ok "  ... and no process behind" left_behind
# Decompression bombs, refused before anything is unpacked: tar (restore's child) may
# write no file over 16 MiB here, or it dies of SIGXFSZ and restore says something else.
printf '#!/bin/sh\nulimit -f 16384\nexec "$CAIRN_REAL" "$@"\n' >"$WORK/fsize.sh"
chmod +x "$WORK/fsize.sh"
CAIRN_REAL=$CAIRN
export CAIRN_REAL
repack bomb bomb "$WORK/bomb.tar.xz" 256
CAIRN=$WORK/fsize.sh
refused_archive "a member of 256 MiB of zeros (a decompression bomb) is refused unpacked" \
	"$WORK/bomb.tar.xz" "archive refused: its members add up to 26[0-9]{7} bytes, over 100 times"
# The same bomb with restore's clock 1000 times fast: tar's listing (xz expanding 256 MiB of
# zeros, ~0.7 s here) outlasts the bound for a small archive (60 s: 0.06 s at this speed), so
# restore stops tar there; a bomb too big to list in reasonable time ends the same way.
printf '#!/bin/sh\nLD_PRELOAD=%s FAKETIME="+0 x1000" exec "$CAIRN_REAL" "$@"\n' "$FAKETIME_LIB" \
	>"$WORK/fast.sh"
chmod +x "$WORK/fast.sh"
CAIRN=$WORK/fast.sh
refused_archive "a decompression bomb that tar cannot list within the bound is stopped there" \
	"$WORK/bomb.tar.xz" "archive damaged: tar took more than 60 s \(stopped\)"
ok "  ... and no process has the archive open any more (tar, its xz)" waits_for sh -c "
	! ls -l /proc/[0-9]*/fd 2>/dev/null | grep -q -- '$WORK/bomb.tar.xz'"
CAIRN=$CAIRN_REAL
repack bomb bomb "$WORK/bomb.tar.xz" 24
CAIRN=$WORK/fsize.sh
refused_archive "a member the manifest does not list is refused before unpacking" \
	"$WORK/bomb.tar.xz" "archive refused: bomb is not in MANIFEST.sha256"
CAIRN=$CAIRN_REAL
echo "not an archive" >"$WORK/junk.tar.xz"
refused_archive "a file that is no archive is refused" "$WORK/junk.tar.xz" \
	"archive damaged: .*not recognized"

done_testing
