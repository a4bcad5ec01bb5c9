#!/bin/sh
# SPDX-License-Identifier: MIT
# Fresh CRLs whatever happens: the scheduler rebuilds before the served CRL's own
# nextUpdate, even when a restart with a longer crl.period adopted a CRL built under the
# shorter one, and at once when the clock went back behind the served thisUpdate. A
# revoked certificate stays on the first CRL built after its notAfter (RFC 5280 §3.3),
# and leaves one built more than a period later.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
# crl_conf PERIOD OVERLAP: sets crl.period and crl.overlap in cairn.json.
crl_conf() {
	python3 - "$D/cairn.json" "$1" "$2" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc.setdefault("crl", {}).update(period=int(sys.argv[2]), overlap=int(sys.argv[3]))
json.dump(doc, open(sys.argv[1], "w"), indent=2)
PY
}
fetch() {
	curl -sf -o "$WORK/cur.crl" "$HTTP_URL/crl/issuing.crl" &&
		openssl crl -inform DER -in "$WORK/cur.crl" -out "$WORK/cur.crl.pem"
}
number() { printf "%d" "$(openssl crl -in "$WORK/cur.crl.pem" -noout -crlnumber | cut -d= -f2)"; }
stamp() { date -d "$(openssl crl -in "$WORK/cur.crl.pem" -noout -"$1" | cut -d= -f2)" +%s; }
# wait_rebuilt N [TRIES]: polls (bounded: TRIES x 0.1 s, default 150) until the served
# CRL number passes N.
wait_rebuilt() {
	i=0
	while [ $i -lt "${2:-150}" ]; do
		fetch && [ "$(number)" -gt "$1" ] && return 0
		i=$((i + 1))
		sleep 0.1
	done
	return 1
}

# A CRL valid for 60 s (period 60, no overlap).
crl_conf 60 0
ca_serve "$D" || bail "cairn serve did not start"
fetch || bail "no CRL served"
n0=$(number)
# Rebuilt half-way through its minute, not again and again: the rebuild margin before
# nextUpdate is at most half the validity (it was a whole minute: 266 rebuilds in 3 s).
# Nothing to wait for here, so a short fixed look.
sleep 2
fetch || bail "no CRL served"
ok "a 60-second CRL is not rebuilt without pause (at most once in 2 s)" \
	test $(($(number) - n0)) -le 1
ca_stop
# The one the restart adopts is the last one published (a 60-second CRL is rebuilt again
# and again while the daemon runs, so the one fetched above may be older).
openssl crl -inform DER -in "$D/crl/issuing.crl" -out "$WORK/cur.crl.pem" || bail "no CRL published"
n1=$(number)
nu1=$(stamp nextupdate)

# Restart at once with a day-long period: the daemon adopts the 60-second CRL (same
# number), and must rebuild it before that CRL's nextUpdate, not a day later. The daemon
# runs 25 s ahead (libfaketime) so that half-way through the minute comes a few seconds
# from now rather than up to 30.
crl_conf 86400 0
ca_serve_at "$D" FAKETIME=+25 || bail "restart failed"
ok "a CRL built under the shorter period is rebuilt" wait_rebuilt "$n1" 450
n2=$(number)
ok "  ... before the adopted CRL's nextUpdate" test "$(stamp lastupdate)" -lt "$nu1"
ok "the new CRL's nextUpdate is later than the adopted one's" test "$(stamp nextupdate)" -gt "$nu1"
ok "the new CRL follows the new period (about a day)" \
	test $(($(stamp nextupdate) - $(stamp lastupdate))) -ge 86000
ok "the served CRL is not stale" test "$(stamp nextupdate)" -gt "$(date +%s)"
ca_stop

# The clock goes back an hour (restart under libfaketime): a CRL whose thisUpdate lies
# in the future is not served on; the daemon rebuilds it at once.
ca_serve_at "$D" FAKETIME=-1h || bail "restart under faketime failed"
ok "after the clock went back, the CRL is rebuilt" wait_rebuilt "$n2"
ok "its thisUpdate is not in the (faked) future" \
	test "$(stamp lastupdate)" -le $(($(date +%s) - 3000))
ca_stop

# Forward jump past nextUpdate (restart 2 days later): rebuilt, valid again.
n3=$(number)
ca_serve_at "$D" FAKETIME=+2d || bail "restart under faketime failed"
ok "two days later the CRL is rebuilt" wait_rebuilt "$n3"
ok "its nextUpdate is in the (faked) future" \
	test "$(stamp nextupdate)" -gt $(($(date +%s) + 2 * 86400))
ca_stop

# RFC 5280 §3.3: a revoked certificate stays on the CRL until "one regularly scheduled CRL
# issued beyond the revoked certificate's validity period" has listed it. With crl.period
# 3600 (no overlap) that is every CRL whose thisUpdate is within an hour of its notAfter.
# A CA of its own, whose tls-server certificates live one day.
D=$WORK/short
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
crl_conf 3600 0
jq '.profiles["tls-server"].validity_days = 1' "$D/cairn.json" >"$WORK/short.json" &&
	cat "$WORK/short.json" >"$D/cairn.json"
ca_serve "$D" || bail "cairn serve did not start"
make_csr short ec:P-256 /CN=short.example.test DNS:short.example.test
"$CAIRN" issue --dir "$D" --csr "$WORK/short.csr" --profile tls-server --out "$WORK/short.pem" \
	>"$WORK/issue.out" 2>&1 || bail "issuance failed: $(cat "$WORK/issue.out")"
S=$(openssl x509 -in "$WORK/short.pem" -noout -serial | cut -d= -f2)
na=$(date -d "$(openssl x509 -in "$WORK/short.pem" -noout -enddate | cut -d= -f2)" +%s)
ok "revoke a certificate that lives one day" "$CAIRN" revoke --dir "$D" "$S" --reason keyCompromise
ca_stop
listed() { openssl crl -in "$WORK/cur.crl.pem" -noout -text | grep -q "$S"; }
# Ten minutes after its notAfter: the CRL of the start (the one before has expired) is
# the first one issued beyond the certificate's validity.
ca_serve_at "$D" FAKETIME=+$((na - $(date +%s) + 600)) || bail "restart under faketime failed"
fetch || bail "no CRL served"
ok "the first CRL built after the certificate's notAfter" test "$(stamp lastupdate)" -gt "$na"
ok "  ... still lists it (RFC 5280 3.3)" listed
ca_stop
# Seventy minutes after: more than a period after the notAfter; that CRL (valid an hour)
# has expired, so the start builds one anew, and it leaves the entry out.
ca_serve_at "$D" FAKETIME=+$((na - $(date +%s) + 4200)) || bail "restart under faketime failed"
fetch || bail "no CRL served"
ok "a CRL built more than a period after the notAfter" \
	test "$(stamp lastupdate)" -gt $((na + 3600))
fails "  ... no longer lists it" listed
done_testing
