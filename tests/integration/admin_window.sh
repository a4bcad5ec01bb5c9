#!/bin/sh
# SPDX-License-Identifier: MIT
# The admin API checks the caller's token (or certificate, or console session) and admin
# when a call arrives; an issuance then signs in the token before its write. A token
# revoked, or its admin disabled, while that signature waits must not be honoured by the
# write: the certificate's own write checks the caller again. The window is the time a
# signature takes; the token plug holds it open (every token call waits while $WORK/hang
# exists, and creates $WORK/waiting). Before, the certificate was issued and returned.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

plug_ca '.token.timeout = 60'
export CAIRN_TEST_TOKEN_HANG="$WORK/hang" CAIRN_TEST_TOKEN_WAITING="$WORK/waiting"
ca_serve "$D" || bail "cairn serve did not start"
C() { "$CAIRN" "$@" --dir "$D"; }
for who in oscar olga sam; do
	C admin add --name "$who" --role operator >/dev/null 2>&1 &&
		C token create --name "$who" --role operator >"$WORK/$who.tok" 2>/dev/null ||
		bail "no operator $who"
done
# token_id NAME: the id `cairn token revoke` takes (SHA-256 of the token, 8 bytes in hex).
token_id() { printf %s "$(cat "$WORK/$1.tok")" | sha256sum | cut -c1-16; }

# issue_bg NAME CRED...: POST /certificates for NAME.example.test in the background with
# the curl options CRED; NAME.out gets the answer (status on the last line), NAME.done
# appears when it has come.
issue_bg() {
	name=$1
	shift
	make_csr "$name" ec:P-256 "/CN=$name.example.test" "DNS:$name.example.test"
	jq -n --rawfile csr "$WORK/$name.csr" '{csr: $csr, profile: "tls-server"}' >"$WORK/$name.json"
	(curl -s -m 90 --cacert "$ROOT" -H 'Content-Type: application/json' "$@" \
		-d @"$WORK/$name.json" -w '\n%{http_code}\n' "$HTTPS_URL/admin/v1/certificates" \
		>"$WORK/$name.out"; touch "$WORK/$name.done") &
	CAIRN_PIDS="$CAIRN_PIDS $!"
}
# held NAME CRED...: issue_bg while the token hangs; true once its signature waits.
held() {
	rm -f "$WORK/waiting"
	touch "$WORK/hang"
	issue_bg "$@"
	waits_for test -e "$WORK/waiting"
}
# released NAME: the token answers again; true once NAME's answer has come.
released() {
	rm -f "$WORK/hang"
	waits_for test -e "$WORK/$1.done"
}
# answered NAME STATUS REGEX: NAME's answer was STATUS and its body matches REGEX.
answered() { tail -n 1 "$WORK/$1.out" | grep -qx "$2" && grep -Eq -- "$3" "$WORK/$1.out"; }
# none_for NAME: no certificate names NAME.example.test.
none_for() { ! C list --name "$1.example.test" | grep -q "$1.example.test"; }
bearer() { echo "Authorization: Bearer $(cat "$WORK/$1.tok")"; }

ok "without a race, an operator's issuance waits in the token" held ctl -H "$(bearer oscar)"
ok "  ... the token answers again" released ctl
ok "  ... 201 with the certificate" answered ctl 201 "BEGIN CERTIFICATE"

ok "oscar's issuance waits in the token" held race1 -H "$(bearer oscar)"
ok "  ... meanwhile the admin revokes oscar's token" C token revoke "$(token_id oscar)"
ok "  ... the token answers again" released race1
ok "  ... the issuance is refused: 401, the token was revoked" answered race1 401 "was revoked"
ok "  ... and nothing was issued" none_for race1

ok "olga's issuance waits in the token" held race2 -H "$(bearer olga)"
ok "  ... meanwhile the admin disables olga" C admin disable olga
ok "  ... the token answers again" released race2
ok "  ... the issuance is refused: 401, olga is disabled" answered race2 401 "olga is disabled"
ok "  ... and nothing was issued" none_for race2

# A console session is checked again through the token it was opened with.
ok "sam signs in to the console with his token" sh -c "[ \$(curl -s --cacert '$ROOT' \
	-H '$(bearer sam)' -c '$WORK/sam.jar' -o '$WORK/sam.sess' -w '%{http_code}' -X POST \
	'$HTTPS_URL/admin/v1/session') = 201 ]"
CSRF=$(jq -r .csrf_token "$WORK/sam.sess")
ok "sam's issuance through the session waits in the token" \
	held race3 -b "$WORK/sam.jar" -H "X-CSRF-Token: $CSRF"
ok "  ... meanwhile the admin revokes the token the session was opened with" \
	C token revoke "$(token_id sam)"
ok "  ... the token answers again" released race3
ok "  ... the issuance is refused: 401, the token was revoked" answered race3 401 "was revoked"
ok "  ... and nothing was issued" none_for race3
ca_stop
done_testing
