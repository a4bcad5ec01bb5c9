#!/bin/sh
# SPDX-License-Identifier: MIT
# What a new user types wrong: a private key given as the CSR (checked here, never sent),
# a mistyped profile, a missing file, serials pasted as openssl prints them, durations.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
ca_serve "$D" || bail "cairn serve did not start"

# https_requests: how many requests the HTTPS listener (admin API) has served so far.
https_requests() {
	curl -sf "$HTTP_URL/metrics" | sed -n 's/^cairn_http_requests_total{listener="https"} //p'
}

make_csr srv ec:P-256 /CN=www.example.test "DNS:www.example.test"
openssl req -in "$WORK/srv.csr" -outform DER -out "$WORK/srv.der"
ok "a DER CSR is issued (converted locally)" "$CAIRN" issue --dir "$D" --csr "$WORK/srv.der" \
	--profile tls-server --out "$WORK/srv.pem"

# A private key instead of the CSR: refused before anything is sent.
before=$(https_requests)
events_before=$("$CAIRN" audit export --dir "$D" --unsigned | wc -l)
fails "issue --csr KEY.pem (a private key) is refused" "$CAIRN" issue --dir "$D" \
	--csr "$WORK/srv.key" --profile tls-server
last_has "  ... saying it is a private key that was not sent" \
	"srv\.key holds a private key, not a CSR: nothing was sent"
last_one_line "  ... in one line"
openssl pkey -in "$WORK/srv.key" -outform DER -out "$WORK/srv.key.der"
fails "  ... also in DER" "$CAIRN" issue --dir "$D" --csr "$WORK/srv.key.der" --profile tls-server
last_has "  ... the same message" "holds a private key, not a CSR"
cat "$WORK/srv.csr" "$WORK/srv.key" >"$WORK/both.pem"
fails "  ... also when a CSR comes with it in one file" "$CAIRN" issue --dir "$D" \
	--csr "$WORK/both.pem" --profile tls-server
after=$(https_requests)
ok "  ... the daemon saw no request ($before = $after HTTPS requests)" test "$before" = "$after"
ok "  ... and audited nothing" test "$events_before" = \
	"$("$CAIRN" audit export --dir "$D" --unsigned | wc -l)"
fails "  ... and no key material reached the serve log" grep -q "PRIVATE KEY" "$D.serve.log"
echo "not a request" >"$WORK/junk.pem"
fails "a file that is no CSR is refused locally" "$CAIRN" issue --dir "$D" --csr "$WORK/junk.pem" \
	--profile tls-server
last_has "  ... saying so" "junk\.pem: not a certificate request"

fails "a missing CSR file is refused" "$CAIRN" issue --dir "$D" --csr "$WORK/nosuch.pem" \
	--profile tls-server
last_has "  ... saying why (errno text)" "cannot read CSR .*nosuch\.pem: No such file or directory"
last_one_line "  ... in one line"

fails "an unknown profile is refused" "$CAIRN" issue --dir "$D" --csr "$WORK/srv.csr" \
	--profile tls-srv
last_has "  ... listing the valid ones" "unknown profile tls-srv \(profiles: .*tls-server.*tls-client"

# Numbers given to options: the whole text must be an integer in range. These used to be
# read with atoi: "5x" issued 5 days, and "0", "-1" and "" the profile's whole validity.
before=$(https_requests)
for v in 0 -1 5x 1e3 '' ' 5' 99999999999; do
	fails "issue --validity-days '$v' is refused" "$CAIRN" issue --dir "$D" \
		--csr "$WORK/srv.csr" --profile tls-server --validity-days "$v"
	last_has "  ... naming the option and the range" \
		"^cairn issue: --validity-days .*: must be an integer 1\.\.3650"
done
last_one_line "  ... in one line"
ok "  ... before anything was sent ($before = $(https_requests) HTTPS requests)" \
	test "$before" = "$(https_requests)"
ok "issue --validity-days 7 issues for 7 days" "$CAIRN" issue --dir "$D" --csr "$WORK/srv.csr" \
	--profile tls-server --validity-days 7 --out "$WORK/seven.pem"
ok "  ... (notAfter - notBefore = 7 days, the last second included)" sh -c "
	nb=\$(date -d \"\$(openssl x509 -in '$WORK/seven.pem' -noout -startdate | cut -d= -f2)\" +%s)
	na=\$(date -d \"\$(openssl x509 -in '$WORK/seven.pem' -noout -enddate | cut -d= -f2)\" +%s)
	[ \$((na - nb)) -ge \$((7 * 86400 - 1)) ] && [ \$((na - nb)) -le \$((7 * 86400 + 3600)) ]"
fails "policy test --validity-days 5x is refused" "$CAIRN" policy test --dir "$D" \
	--csr "$WORK/srv.csr" --channel admin --validity-days 5x
last_has "  ... naming the option" "--validity-days 5x: must be an integer 1\.\.3650"
fails "init --root-days 5x is refused" "$CAIRN" init --dir "$WORK/new" --root-days 5x
last_has "  ... naming the option" "^cairn init: --root-days 5x: must be an integer 1\.\.36500"
ok "  ... and made nothing" test ! -e "$WORK/new"
fails "discover --parallel 0 is refused" "$CAIRN" discover --dir "$D" --targets 127.0.0.1 \
	--parallel 0
last_has "  ... naming the option" "^cairn discover: --parallel 0: must be an integer 1\.\.256"

ok "revoke --help lists aACompromise" "$CAIRN" revoke --help
last_has "  ... among the reasons" "aACompromise"

# Serials as openssl prints them (upper case) and with colons.
serial=$(openssl x509 -in "$WORK/srv.pem" -noout -serial | cut -d= -f2)
lower=$(echo "$serial" | tr 'A-F' 'a-f')
colons=$(echo "$serial" | sed 's/../&:/g; s/:$//')
ok "show takes an upper-case serial" "$CAIRN" show --dir "$D" "$serial"
last_has "  ... and prints it in lower case" "serial: +$lower"
ok "show takes a colon-separated serial" "$CAIRN" show --dir "$D" "$colons"
last_has "  ... the same certificate" "serial: +$lower"
ok "show takes 0x and lower-case colons" "$CAIRN" show --dir "$D" "0x$(echo "$colons" | tr 'A-F' 'a-f')"
fails "show refuses a serial that is not hex" "$CAIRN" show --dir "$D" "12:zz"
last_has "  ... saying what a serial is" "SERIAL must be hex \(colons allowed\)"
ok "revoke takes a colon-separated serial" "$CAIRN" revoke --dir "$D" "$colons" --reason superseded
ok "  ... it is revoked" "$CAIRN" show --dir "$D" "$lower"
last_has "  ... as shown" "status: +revoked"

# --expiring-within: the one duration syntax (the certificate expires in 90 days; 13w = 91d).
for d in 1y 13w 91d 2200h; do
	ok "list --expiring-within $d" "$CAIRN" list --dir "$D" --expiring-within "$d"
	last_has "  ... finds the certificate" "$lower"
done
ok "list --expiring-within 36h" "$CAIRN" list --dir "$D" --expiring-within 36h
fails "  ... does not find a 90-day certificate" grep -q "$lower" "$WORK/last.out"
fails "list --expiring-within 3 months is refused" "$CAIRN" list --dir "$D" --expiring-within 3mo
last_has "  ... with the syntax" "use e\.g\. 1y, 12w, 90d, 36h"

ok "cairn --version" "$CAIRN" --version
last_has "  ... the version" "^cairn [0-9]"
last_has "  ... OpenSSL as loaded" "^OpenSSL 3\."
last_has "  ... LMDB" "^LMDB 0\.9"
last_has "  ... libmicrohttpd" "^libmicrohttpd [0-9]"
# A FIFO where a file is expected: refused at once in one line, never waited on (nothing
# ever writes to it; `timeout 10` turns a hang into exit status 124).
mkfifo "$WORK/fifo"
"$CAIRN" audit export --dir "$D" --out "$WORK/export.jsonl" >/dev/null 2>&1
fifo_refused() {
	desc=$1
	shift
	timeout 10 "$@" >"$WORK/last.out" 2>&1
	st=$?
	if [ $st -eq 1 ] && [ "$(wc -l <"$WORK/last.out")" -eq 1 ] &&
		grep -q "fifo: not a regular file" "$WORK/last.out"; then tap 1 "$desc"; else
		echo "exit status $st" >>"$WORK/last.out"
		tap 0 "$desc"
	fi
}
fifo_refused "restore --from FIFO is refused, not waited on" "$CAIRN" restore --from "$WORK/fifo" \
	--dir "$WORK/r-fifo"
ok "  ... and leaves no directory" test ! -e "$WORK/r-fifo"
fifo_refused "audit verify --export FIFO is refused" "$CAIRN" audit verify --export "$WORK/fifo" \
	--ca "$D/ca/root.pem"
fifo_refused "audit verify --ca FIFO is refused" "$CAIRN" audit verify \
	--export "$WORK/export.jsonl" --ca "$WORK/fifo"
ok "  ... the same export verifies with the root as a file" "$CAIRN" audit verify \
	--export "$WORK/export.jsonl" --ca "$D/ca/root.pem"
fifo_refused "policy check FIFO is refused" "$CAIRN" policy check "$WORK/fifo"
fifo_refused "inventory import --csv FIFO is refused" "$CAIRN" inventory import --dir "$D" \
	--csv "$WORK/fifo"

# Text that goes into a request body must be UTF-8 (JSON holds nothing else): a value
# that is not was once left out of the body without a word — `acme eab create --group X`
# made a key of no group, `--profile X` one of the default profile.
X=$(printf 'a\377b')
eabs() {
	"$CAIRN" audit export --dir "$D" --format jsonl --unsigned 2>/dev/null |
		grep -c '"action":"acme.eab.create"'
}
eab_before=$(eabs)
for opt in --group --profile; do
	ok "acme eab create $opt NOT-UTF-8 is a usage error (exit 2)" sh -c \
		"'$CAIRN' acme eab create --dir '$D' $opt '$X' 2>&1; [ \$? -eq 2 ]"
	last_has "  ... naming the option" "cairn acme: $opt is not UTF-8 text"
done
ok "  ... and no key was made" test "$(eabs)" -eq "$eab_before"
ok "  ... while a group in UTF-8 makes one" "$CAIRN" acme eab create --dir "$D" --group ops
ok "  ... which is audited (the count above is live)" test "$(eabs)" -eq $((eab_before + 1))
echo "correct horse battery" >"$WORK/pw"
fails "est user add --email NOT-UTF-8 is refused" "$CAIRN" est user add --dir "$D" --name dev7 \
	--password-file "$WORK/pw" --email "$X@example.test"
last_has "  ... naming the option" "cairn est: --email is not UTF-8 text"
printf 'pass\377word\n' >"$WORK/pw.bad"
fails "est user add with a password file that is not UTF-8 is refused" "$CAIRN" est user add \
	--dir "$D" --name dev7 --password-file "$WORK/pw.bad"
last_has "  ... saying so" "pw.bad: the password must be UTF-8 text"
fails "requests reject --comment NOT-UTF-8 is refused" "$CAIRN" requests reject \
	0123456789abcdef0123456789abcdef --dir "$D" --comment "$X"
last_has "  ... naming the option" "cairn requests: --comment is not UTF-8 text"
ok "replace --profile NOT-UTF-8 is a usage error (exit 2), not a campaign over no profile" sh -c \
	"'$CAIRN' replace --dir '$D' --profile '$X' --by 2030-01-01 2>&1; [ \$? -eq 2 ]"
last_has "  ... naming the option" "cairn replace: --profile is not UTF-8 text"
ok "notify retry NOT-UTF-8 (a sink) is a usage error (exit 2), not a retry of every sink" sh -c \
	"'$CAIRN' notify retry '$X' --dir '$D' 2>&1; [ \$? -eq 2 ]"
last_has "  ... naming it" "cairn notify: SINK is not UTF-8 text"
fails "admin add --name NOT-UTF-8 is refused" "$CAIRN" admin add --dir "$D" --name "$X" \
	--role operator
last_has "  ... naming the option" "cairn admin: --name is not UTF-8 text"

done_testing
