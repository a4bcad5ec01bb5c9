#!/bin/sh
# SPDX-License-Identifier: MIT
# Partitioned CRLs (crl.shards): CDP names a shard, shard CRL with a critical IDP, verify good/revoked/wrong shard, only the touched shard rebuilt, full CRL kept, restart, K changes, a new public URL (the IDP keeps the old).
. "$CAIRN_SRCDIR/tests/integration/lib.sh"
. "$CAIRN_SRCDIR/tests/integration/acme_lib.sh"

D=$WORK/ca
# One HTTP port for every start: CDPs and IDPs carry the public URL, which follows it.
ca_init "$D" --listen-http "127.0.0.1:$(free_port)" || bail "cairn init failed: $(cat "$D.init.out")"
ROOT=$D/ca/root.pem
ISSUING=$D/ca/issuing.pem

issue() {
	make_csr "$1" ec:P-256 "/CN=$1.example.test" "DNS:$1.example.test" &&
		"$CAIRN" issue --dir "$D" --csr "$WORK/$1.csr" --profile tls-server --out "$WORK/$1.chain" &&
		openssl x509 -in "$WORK/$1.chain" -out "$WORK/$1.pem"
}
serial_of() { openssl x509 -in "$WORK/$1.pem" -noout -serial | cut -d= -f2; }
cdp_of() { openssl x509 -in "$WORK/$1.pem" -noout -ext crlDistributionPoints | sed -n 's/^ *URI://p'; }
# fetch PATH FILE: GET $HTTP_URL/crl/PATH into FILE (DER) and FILE.pem.
fetch() {
	curl -sf -o "$2" "$HTTP_URL/crl/$1" && openssl crl -inform DER -in "$2" -out "$2.pem"
}
number() { printf "%d" "$(openssl crl -in "$1.pem" -noout -crlnumber | cut -d= -f2)"; }
updated() { openssl crl -in "$1.pem" -noout -lastupdate; }
# wait_number PATH FILE N: polls (bounded: 100 x 0.1 s) until the CRL number passes N.
wait_number() {
	i=0
	while [ $i -lt 100 ]; do
		fetch "$1" "$2" && [ "$(number "$2")" -gt "$3" ] && return 0
		i=$((i + 1))
		sleep 0.1
	done
	return 1
}
# verify CERT CRLFILE: the check a relying party makes with one CRL.
verify() {
	openssl verify -crl_check -CAfile "$ROOT" -untrusted "$ISSUING" -CRLfile "$2" "$WORK/$1.pem"
}

# A certificate from before sharding: its CDP is the full CRL's, which keeps covering it.
for bad in 256 -1 '"4"'; do
	fails "crl.shards = $bad is refused" sh -c "
		python3 - '$D/cairn.json' '$bad' <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc.setdefault('crl', {})['shards'] = json.loads(sys.argv[2])
json.dump(doc, open(sys.argv[1] + '.bad', 'w'), indent=2)
PY
		mkdir -p '$WORK/bad' && cp '$D/cairn.json.bad' '$WORK/bad/cairn.json' &&
		'$CAIRN' config check --dir '$WORK/bad'"
	last_has "  ... naming the key" "crl.shards"
done
ca_serve "$D" || bail "cairn serve did not start"
PUB=$HTTP_URL
issue old >"$WORK/issue.out" 2>&1 || bail "issuance failed: $(cat "$WORK/issue.out")"
ca_stop
ok "crl.shards = 4 is accepted by the config check" sh -c "
	python3 - '$D/cairn.json' <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc.setdefault('crl', {}).update({'shards': 4, 'debounce': 0})
json.dump(doc, open(sys.argv[1], 'w'), indent=2)
PY
	'$CAIRN' config check --dir '$D'"
ca_serve "$D" || bail "cairn serve did not restart with crl.shards"

# Issue until two different shards are named (bounded: 12 certificates).
i=0 A='' B=''
while [ $i -lt 12 ] && [ -z "$B" ]; do
	i=$((i + 1))
	issue "c$i" >"$WORK/issue.out" 2>&1 || bail "issuance failed: $(cat "$WORK/issue.out")"
	u=$(cdp_of "c$i")
	case $u in
	"$PUB"/crl/issuing/[0-3].crl) ;;
	*) echo "c$i: CDP $u" >>"$WORK/badcdp" ;;
	esac
	s=${u##*/}
	s=${s%.crl}
	if [ -z "$A" ]; then
		A=c$i SA=$s
	elif [ -z "$B" ] && [ "$s" != "$SA" ]; then
		B=c$i SB=$s
	fi
done
ok "every new certificate's CDP names a shard CRL $PUB/crl/issuing/{0..3}.crl" test ! -s "$WORK/badcdp"
[ -n "$B" ] || bail "12 certificates all named shard $SA"
ok "the certificate from before sharding names the full CRL" test "$(cdp_of old)" = "$PUB/crl/issuing.crl"

for s in 0 1 2 3; do
	ok "shard $s's CRL is served" fetch "issuing/$s.crl" "$WORK/s$s.crl"
	ok "  ... equals its published file" cmp "$WORK/s$s.crl" "$D/crl/issuing/$s.crl"
	ok "  ... signed by the issuing CA" openssl crl -in "$WORK/s$s.crl.pem" -CAfile "$ISSUING" -noout
	openssl crl -in "$WORK/s$s.crl.pem" -noout -text >"$WORK/s$s.txt"
	ok "  ... with a critical Issuing Distribution Point" grep -q "Issuing Distribution Point: critical" "$WORK/s$s.txt"
	# (OpenSSL 3.0 prints the flag on the URI's line: cut at the first blank)
	ok "  ... naming exactly its URL" sh -c "grep -A4 'Issuing Distribution Point' '$WORK/s$s.txt' |
		sed -n 's/^ *URI:\([^ ]*\).*/\1/p' | grep -qx '$PUB/crl/issuing/$s.crl'"
	ok "  ... for end-entity certificates only" sh -c "grep -A5 'Issuing Distribution Point' '$WORK/s$s.txt' |
		grep -q 'Only User Certificates'"
	eval "N$s=\$(number '$WORK/s$s.crl')"
	eval "U$s=\$(updated '$WORK/s$s.crl')"
done
ok "the full CRL is still served" fetch issuing.crl "$WORK/full.crl"
ok "  ... without an Issuing Distribution Point" sh -c "! openssl crl -in '$WORK/full.crl.pem' -noout -text |
	grep -q 'Issuing Distribution Point'"
NF=$(number "$WORK/full.crl")

ok "verify -crl_check with its shard CRL passes for a good certificate ($A, shard $SA)" verify "$A" "$WORK/s$SA.crl.pem"
ok "  ... and with the full CRL" verify "$A" "$WORK/full.crl.pem"
fails "a certificate of shard $SB checked against shard $SA's CRL (IDP scope mismatch)" verify "$B" "$WORK/s$SA.crl.pem"
last_has "  ... the CRL is not for it (different CRL scope)" "different CRL scope|unable to get certificate CRL"
fails "the old certificate is out of every shard's scope" verify old "$WORK/s$SA.crl.pem"
last_has "  ... the CRL is not for it (different CRL scope)" "different CRL scope|unable to get certificate CRL"

# Restart: the shard CRLs are adopted as published (same numbers), not rebuilt.
ca_stop
ca_serve "$D" || bail "cairn serve did not restart"
for s in 0 1 2 3; do
	fetch "issuing/$s.crl" "$WORK/r$s.crl"
	eval "n=\$N$s"
	ok "after a restart shard $s keeps CRL number $n" test "$(number "$WORK/r$s.crl")" -eq "$n"
done

ok "revoke $A (keyCompromise)" "$CAIRN" revoke --dir "$D" "$(serial_of "$A")" --reason keyCompromise
ok "  ... shard $SA's CRL is rebuilt with a higher number" wait_number "issuing/$SA.crl" "$WORK/s$SA.crl" "$(eval echo \$N$SA)"
ok "  ... and published" cmp "$WORK/s$SA.crl" "$D/crl/issuing/$SA.crl"
ok "  ... listing $A" sh -c "openssl crl -in '$WORK/s$SA.crl.pem' -noout -text | grep -q '$(serial_of "$A")'"
fails "verify -crl_check with the shard CRL now fails" verify "$A" "$WORK/s$SA.crl.pem"
last_has "  ... certificate revoked" "certificate revoked"
ok "the full CRL is rebuilt too" wait_number issuing.crl "$WORK/full.crl" "$NF"
fails "  ... and lists $A as revoked" verify "$A" "$WORK/full.crl.pem"
last_has "  ... certificate revoked" "certificate revoked"
for s in 0 1 2 3; do
	[ "$s" = "$SA" ] && continue
	fetch "issuing/$s.crl" "$WORK/o$s.crl"
	eval "n=\$N$s u=\$U$s"
	ok "shard $s was not rebuilt (CRL number $n, same thisUpdate)" sh -c "
		[ $(number "$WORK/o$s.crl") -eq $n ] && [ '$(updated "$WORK/o$s.crl")' = '$u' ]"
done
fetch "issuing/$SB.crl" "$WORK/s$SB.crl"
ok "$B still verifies against its own shard" verify "$B" "$WORK/s$SB.crl.pem"

# The certificate from before sharding: revoked, it reaches the full CRL.
NF=$(number "$WORK/full.crl")
ok "revoke the certificate from before sharding" "$CAIRN" revoke --dir "$D" "$(serial_of old)" --reason superseded
ok "  ... the full CRL is rebuilt" wait_number issuing.crl "$WORK/full.crl" "$NF"
fails "  ... and says it is revoked" verify old "$WORK/full.crl.pem"
last_has "  ... certificate revoked" "certificate revoked"

# Lowering crl.shards: the certificates already issued name shards 0..3, which stay.
ca_stop
python3 - "$D/cairn.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc['crl']['shards'] = 2
json.dump(doc, open(sys.argv[1], 'w'), indent=2)
PY
ca_serve "$D" || bail "cairn serve did not restart with crl.shards = 2"
ok "after lowering crl.shards to 2, shard 3 is still served" fetch issuing/3.crl "$WORK/k3.crl"
issue late >"$WORK/issue.out" 2>&1 || bail "issuance failed: $(cat "$WORK/issue.out")"
ok "  ... and a new certificate names shard 0 or 1" sh -c "cdp_u='$(cdp_of late)'; case \$cdp_u in
	'$PUB'/crl/issuing/[01].crl) exit 0 ;; esac; exit 1"
fails "an unknown shard is 404" curl -sf -o /dev/null "$HTTP_URL/crl/issuing/4.crl"
fails "  ... and so is a shard number with a leading zero" curl -sf -o /dev/null "$HTTP_URL/crl/issuing/01.crl"
fails "  ... and the root has no shards" curl -sf -o /dev/null "$HTTP_URL/crl/root/0.crl"
fails "  ... and a path that climbs out is 404" curl -sf --path-as-is -o /dev/null "$HTTP_URL/crl/issuing/../root.crl"
fails "  ... and a shard with a trailing path is 404" curl -sf -o /dev/null "$HTTP_URL/crl/issuing/1.crl/x.crl"

# A published shard file that is not what cairn recorded is not adopted at a restart.
fetch issuing/1.crl "$WORK/t1.crl"
n=$(number "$WORK/t1.crl")
ca_stop
cp "$D/crl/issuing.crl" "$D/crl/issuing/1.crl"
ca_serve "$D" || bail "cairn serve did not restart"
ok "a swapped shard file is rebuilt at start-up, not served" fetch issuing/1.crl "$WORK/t1.crl"
ok "  ... with its IDP and a higher number" sh -c "openssl crl -in '$WORK/t1.crl.pem' -noout -text |
	grep -q 'Issuing Distribution Point: critical' && [ $(number "$WORK/t1.crl") -gt $n ]"

# Two days on (nextUpdate = thisUpdate + crl.period + crl.overlap = 2 days): no shard is
# served past its nextUpdate; each is rebuilt with a higher number.
for s in 0 1 2 3; do
	fetch "issuing/$s.crl" "$WORK/p$s.crl"
	eval "P$s=\$(number '$WORK/p$s.crl')"
done
ca_stop
ca_serve_at "$D" FAKETIME=+2d || bail "restart under faketime failed"
for s in 0 1 2 3; do
	fetch "issuing/$s.crl" "$WORK/p$s.crl"
	eval "n=\$P$s"
	ok "two days on, shard $s was rebuilt (number above $n)" test "$(number "$WORK/p$s.crl")" -gt "$n"
	ok "  ... and its nextUpdate is ahead of the (faked) clock" sh -c "
		[ \$(date -d \"\$(openssl crl -in '$WORK/p$s.crl.pem' -noout -nextupdate | cut -d= -f2)\" +%s) \
			-gt \$(( \$(date +%s) + 2 * 86400 )) ]"
done

# A crl.publish tree of its own (no ocsp.publish, whose prune covers a shared tree): the
# stray temporaries a crash leaves there and beside the CRL files (crl.publish_dir) go at
# the next start; foreign names, symlinks and a live process's temporary stay.
ca_stop
CT=$WORK/crltree
python3 - "$D/cairn.json" "$CT" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc['crl']['publish'] = sys.argv[2]
json.dump(doc, open(sys.argv[1], 'w'), indent=2)
PY
ca_serve "$D" || bail "cairn serve did not start with crl.publish"
ok "the crl.publish tree gets the CRLs, the shards and the CA certificates" waits "$D.serve.log" \
	"$CT: 0 stray temporaries removed" 300
ok "  ... its files" sh -c "i=0; until [ -f '$CT/crl/issuing.crl' ] && [ -f '$CT/crl/issuing/3.crl' ] &&
	[ -f '$CT/ca/issuing.crt' ]; do i=\$((i + 1)); [ \$i -gt 300 ] && exit 1; sleep 0.1; done"
ca_stop
DEAD=$(sh -c 'echo $$') # a process that has exited
STRAYS="$CT/crl/issuing.crl.tmp.$DEAD $CT/crl/issuing-delta.crl.tmp.$DEAD $CT/crl/issuing/2.crl.tmp.$DEAD
	$CT/ca/issuing.crt.tmp.$DEAD $D/crl/issuing.crl.tmp.$DEAD $D/crl/issuing/1.crl.tmp.$DEAD"
for f in $STRAYS; do printf 'half a file' >"$f"; done
echo keep >"$WORK/victim"
mkdir -p "$CT/other" "$CT/crl/x.crl.tmp.$DEAD"
# kept: a live process's temporary (this shell's), a symlink under a stray's name (and its
# target), names cairn does not write, a directory cairn does not make, a directory.
KEEP="$CT/crl/issuing.crl.tmp.$$ $CT/crl/notes.txt.tmp.$DEAD $CT/crl/issuing/12345.crl.tmp.$DEAD
	$CT/other/issuing.crl.tmp.$DEAD $CT/issuing.crl.tmp.$DEAD $CT/index.html $D/crl/notes.tmp.$DEAD"
for f in $KEEP; do printf 'not a stray' >"$f"; done
ln -s "$WORK/victim" "$CT/crl/root.crl.tmp.$DEAD"
ln -s "$WORK/victim" "$D/crl/root.crl.tmp.$DEAD"
mv "$D.serve.log" "$D.serve.log.2"
ca_serve "$D" || bail "cairn serve did not restart"
ok "a restart removes the tree's four stray temporaries and says so" \
	waits "$D.serve.log" "$CT: 4 stray temporaries removed" 300
ok "  ... and the two beside the CRL files (crl.publish_dir)" \
	waits "$D.serve.log" "$D/crl: 2 stray temporaries removed" 300
ok "  ... all six gone" sh -c "for f in $(echo $STRAYS); do [ ! -e \"\$f\" ] || exit 1; done"
ok "  ... foreign names, other directories and the live process's temporary kept" sh -c "
	for f in $(echo $KEEP); do [ \"\$(cat \"\$f\")\" = 'not a stray' ] || exit 1; done &&
	[ -d '$CT/crl/x.crl.tmp.$DEAD' ]"
ok "  ... the symlinks kept, their target untouched" sh -c "
	[ -L '$CT/crl/root.crl.tmp.$DEAD' ] && [ -L '$D/crl/root.crl.tmp.$DEAD' ] && [ \"\$(cat '$WORK/victim')\" = keep ]"
ok "  ... and the tree is served as before" sh -c "i=0; until [ -f '$CT/crl/issuing/3.crl' ] &&
	openssl crl -inform DER -in '$CT/crl/issuing.crl' -noout; do i=\$((i + 1)); [ \$i -gt 300 ] && exit 1; sleep 0.1; done"
# A tree root that is a symlink is not pruned (pruning deletes: docs/security.md).
ca_stop
ln -s "$CT" "$WORK/crllink"
python3 - "$D/cairn.json" "$WORK/crllink" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc['crl']['publish'] = sys.argv[2]
json.dump(doc, open(sys.argv[1], 'w'), indent=2)
PY
printf 'half a file' >"$CT/ca/issuing.crt.tmp.$DEAD"
mv "$D.serve.log" "$D.serve.log.3"
ca_serve "$D" || bail "cairn serve did not restart with a symlinked crl.publish"
ok "a crl.publish that is a symlink is not pruned, and the log says why" \
	waits "$D.serve.log" "not pruning $WORK/crllink: it is a symlink" 300
ok "  ... the stray in it is still there" test -f "$CT/ca/issuing.crt.tmp.$DEAD"
rm -f "$CT/ca/issuing.crt.tmp.$DEAD" "$CT/crl/issuing.crl.tmp.$$"

# A new public_urls.http: certificates issued before name their shard under the old URL,
# so each shard CRL's critical IDP names it under both (RFC 5280 §6.3.3 (b)(2)(i): one
# name must match one of the certificate's CDP; a redirect cannot help, the IDP is signed).
ca_stop
NEW=http://crl.example.test
python3 - "$D/cairn.json" "$NEW" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc.setdefault('public_urls', {})['http'] = sys.argv[2]
json.dump(doc, open(sys.argv[1], 'w'), indent=2)
PY
ca_serve "$D" || bail "cairn serve did not restart with a new public_urls.http"
issue fresh >"$WORK/issue.out" 2>&1 || bail "issuance failed: $(cat "$WORK/issue.out")"
SN=$(cdp_of fresh)
SN=${SN##*/}
SN=${SN%.crl}
ok "a certificate issued now names its shard under the new URL" sh -c "case '$(cdp_of fresh)' in
	'$NEW'/crl/issuing/[0-3].crl) exit 0 ;; esac; exit 1"
# idp_of S: the URIs of shard S's published CRL's IDP, one a line (also into $WORK/u$S.crl.pem).
idp_of() {
	openssl crl -inform DER -in "$D/crl/issuing/$1.crl" -out "$WORK/u$1.crl.pem" &&
		openssl crl -in "$WORK/u$1.crl.pem" -noout -text | grep -A6 'Issuing Distribution Point' |
		sed -n 's/^ *URI:\([^ ]*\).*/\1/p'
}
idp_of "$SA" | tr '\n' ' ' >"$WORK/idp.txt"
ok "shard $SA's CRL names its URL under the new and the old public URL" \
	test "$(cat "$WORK/idp.txt")" = "$NEW/crl/issuing/$SA.crl $PUB/crl/issuing/$SA.crl "
fails "$A (issued under the old URL, revoked): its shard CRL still covers it" verify "$A" "$WORK/u$SA.crl.pem"
last_has "  ... certificate revoked, not a different CRL scope" "certificate revoked"
idp_of "$SB" >/dev/null
ok "$B (issued under the old URL) verifies against its shard CRL" verify "$B" "$WORK/u$SB.crl.pem"
idp_of "$SN" >/dev/null
ok "the new certificate verifies against its shard CRL" verify fresh "$WORK/u$SN.crl.pem"
n=$(number "$WORK/u$SA.crl")
ca_stop
ca_serve "$D" || bail "cairn serve did not restart"
idp_of "$SA" | tr '\n' ' ' >"$WORK/idp.txt"
ok "after a restart with the same URL, shard $SA's CRL is adopted (CRL number $n)" \
	test "$(number "$WORK/u$SA.crl")" -eq "$n"
ok "  ... naming the same two URLs" \
	test "$(cat "$WORK/idp.txt")" = "$NEW/crl/issuing/$SA.crl $PUB/crl/issuing/$SA.crl "
ok "certlint passes on every certificate" lint_db "$D"

done_testing
