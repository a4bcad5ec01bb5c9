#!/bin/sh
# SPDX-License-Identifier: MIT
# Years in the life of a CA, under libfaketime: the daemon (and every client) at day 0,
# +200, +400, +700 and +900, restarted at each step, with crl.period changed in between.
# At every step: OCSP says good (revoked for the revoked one) with "Response verify OK"
# for every certificate issued so far, the CRL at the CDP URL verifies and is not past its
# nextUpdate, s_client -verify_return_error accepts the HTTPS certificate, /healthz is ok,
# certbot (on the same clock) gets a certificate. The OCSP signer (365 days) must have
# been renewed by days 400 and 700, the HTTPS certificate (825 days) by day 700.
# Certificates come from a profile of 1000 days, so all of them are still valid at day 900.
# lego is not used here: Go reads the clock without libc, so libfaketime cannot move it.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"
. "$CAIRN_SRCDIR/tests/integration/acme_lib.sh"

[ -n "$FAKETIME_LIB" ] || bail "libfaketime is not installed (scripts/deps.sh installs faketime)"
command -v certbot >/dev/null || bail "certbot is not installed (scripts/deps.sh)"

D=$WORK/ca
ROOT=$D/ca/root.pem
ISSUING=$D/ca/issuing.pem
# Fixed ports across restarts: the AIA/CDP URLs in certificates issued at day 0 must still
# reach the daemon at day 900.
PS=$(free_port)
PH=$(free_port)
ca_init "$D" --listen-https "127.0.0.1:$PS" --listen-http "127.0.0.1:$PH" ||
	bail "cairn init failed: $(cat "$D.init.out")"

# conf PYTHON: edits the cairn.json document `doc` in place.
conf() {
	python3 - "$D/cairn.json" "$1" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
exec(sys.argv[2])
json.dump(doc, open(sys.argv[1], "w"), indent=2)
PY
}
conf "
p = dict(doc['profiles']['tls-server']); p['validity_days'] = 1000
doc['profiles']['long'] = p
doc['acme'] = {'validation': {'hosts': {
    'tt%d.example.test' % d: '127.0.0.1' for d in (0, 200, 400, 700, 900)}}}
" || bail "config edit failed"

# at DAY: (re)starts the daemon DAY days from now; FT runs a client on the same clock.
at() {
	[ -n "${SERVE_PID:-}" ] && ca_stop
	ca_serve_at "$D" FAKETIME="+$1d" || bail "serve at day $1 failed: $(tail -5 "$D.serve.log")"
	FT="env LD_PRELOAD=$FAKETIME_LIB FAKETIME=+$1d"
	NOW=$(($(date +%s) + $1 * 86400))
}
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
stamp() { date -d "$(openssl "$1" -in "$2" -noout -"$3" | cut -d= -f2)" +%s; }

# issue NAME: a certificate of the 1000-day profile, through the daemon (clock of the day).
issue() {
	make_csr "$1" ec:P-256 "/CN=$1.example.test" "DNS:$1.example.test" &&
		$FT "$CAIRN" issue --dir "$D" --csr "$WORK/$1.csr" --profile long \
			--out "$WORK/$1.chain" >/dev/null &&
		openssl x509 -in "$WORK/$1.chain" -out "$WORK/$1.pem"
}
# ocsp NAME [options]: openssl ocsp on the day's clock, verified against the root.
ocsp() {
	n=$1
	shift
	$FT openssl ocsp -issuer "$ISSUING" -cert "$WORK/$n.pem" -url "$HTTP_URL/ocsp" \
		-CAfile "$ROOT" "$@"
}
# crl_fresh NAME: fetches the CRL named in NAME's CDP (bounded wait for a rebuild after
# the restart or the revocation), verifies it on the day's clock; its nextUpdate must be
# in the future and it must list r0.
crl_fresh() {
	r0=$(serial "$WORK/r0.pem")
	url=$(openssl x509 -in "$WORK/$1.pem" -noout -ext crlDistributionPoints |
		sed -n 's/.*URI:\(http[^ ]*\).*/\1/p')
	i=0
	while [ $i -lt 150 ]; do
		if curl -sf -o "$WORK/cdp.crl" "$url" &&
			openssl crl -inform DER -in "$WORK/cdp.crl" -out "$WORK/cdp.pem" 2>/dev/null &&
			[ "$(stamp crl "$WORK/cdp.pem" nextupdate)" -gt "$(($(date +%s) + DAY * 86400))" ] &&
			openssl crl -in "$WORK/cdp.pem" -noout -text | grep -q "Serial Number: $r0"; then
			echo "CRL $url: nextUpdate $(openssl crl -in "$WORK/cdp.pem" -noout -nextupdate)"
			$FT openssl crl -in "$WORK/cdp.pem" -CAfile "$D/ca/chain.pem" -noout 2>&1
			return 0
		fi
		i=$((i + 1))
		sleep 0.1
	done
	echo "no fresh CRL at $url"
	return 1
}
tls_ok() {
	echo | $FT openssl s_client -connect "127.0.0.1:$PS" -servername localhost -CAfile "$ROOT" \
		-verify_return_error 2>&1
}
certbot_get() {
	REQUESTS_CA_BUNDLE=$ROOT $FT certbot --config-dir "$WORK/cb/conf" --work-dir "$WORK/cb/work" \
		--logs-dir "$WORK/cb/logs" --non-interactive --server "$HTTPS_URL/acme/directory" \
		--agree-tos -m ops@example.test certonly --standalone --http-01-address 127.0.0.1 \
		--http-01-port "$HP" -d "$1.example.test" &&
		$FT openssl verify -CAfile "$ROOT" -untrusted "$ISSUING" \
			"$WORK/cb/conf/live/$1.example.test/cert.pem"
}
# cell NAME: the last check's result for the table.
cell() { if [ "$TAP_FAILED" -eq "$failed_before" ]; then printf "%s" "$1"; else printf "FAIL"; fi; }
TABLE="day | OCSP good+verify | OCSP revoked | CRL at CDP fresh+verifies | s_client HTTPS | /healthz | certbot | OCSP signer | HTTPS cert"
ISSUED=""

for DAY in 0 200 400 700 900; do
	case $DAY in
	400) conf "doc.setdefault('crl', {}).update(period=3600, overlap=600)" ;;
	700) conf "doc.setdefault('crl', {}).update(period=172800, overlap=86400)" ;;
	esac
	# certbot's http-01 port, picked afresh for each day's start: one picked once could be
	# taken for the whole run by a listener of a test running beside this one
	HP=$(free_port)
	conf "doc['acme']['validation']['http01_port'] = $HP"
	sig0=$(serial "$D/ca/ocsp.pem")
	tls0=$(serial "$D/tls/server.pem")
	at "$DAY"
	row="$DAY"

	# The signer and HTTPS certificate in use: renewed at start when due (2/3 of life).
	sig1=$(serial "$D/ca/ocsp.pem")
	tls1=$(serial "$D/tls/server.pem")
	case $DAY in 400 | 700) want_sig=renewed ;; *) want_sig=kept ;; esac
	case $DAY in 700) want_tls=renewed ;; *) want_tls=kept ;; esac
	[ "$sig1" != "$sig0" ] && got_sig=renewed || got_sig=kept
	[ "$tls1" != "$tls0" ] && got_tls=renewed || got_tls=kept
	ok "day $DAY: OCSP signer $want_sig at start" test "$got_sig" = "$want_sig"
	ok "day $DAY: HTTPS certificate $want_tls at start" test "$got_tls" = "$want_tls"
	ok "day $DAY: the OCSP signer in use is valid today" \
		test "$(stamp x509 "$D/ca/ocsp.pem" enddate)" -gt "$NOW"

	issue "d$DAY" || bail "day $DAY: issuance failed"
	ISSUED="$ISSUED d$DAY"
	if [ "$DAY" -eq 0 ]; then
		issue r0 || bail "issuance failed"
		$FT "$CAIRN" revoke --dir "$D" "$(serial "$WORK/r0.pem" | tr 'A-F' 'a-f')" \
			--reason keyCompromise >/dev/null 2>&1 || bail "revocation failed"
	fi

	failed_before=$TAP_FAILED
	for n in $ISSUED; do
		ok "day $DAY: OCSP for $n (issued day ${n#d}) is good" ocsp "$n" -no_nonce
		last_has "  ... and the response verifies" "Response verify OK"
		last_has "  ... good" "$n.pem: good"
	done
	ok "day $DAY: OCSP with a nonce for the newest one" ocsp "d$DAY"
	last_has "  ... verifies, good" "Response verify OK"
	row="$row | $(cell "ok ($(echo $ISSUED | wc -w) certs)")"
	failed_before=$TAP_FAILED
	ok "day $DAY: OCSP for the revoked certificate" ocsp r0 -no_nonce
	last_has "  ... revoked, and the response verifies" "Response verify OK"
	last_has "  ... revoked" "r0.pem: revoked"
	row="$row | $(cell ok)"

	failed_before=$TAP_FAILED
	ok "day $DAY: the CRL at the CDP URL is fresh" crl_fresh "d$DAY"
	last_has "  ... and its signature verifies" "verify OK"
	ok "  ... a certificate of the day verifies with it" $FT openssl verify -crl_check -CAfile "$ROOT" \
		-untrusted "$ISSUING" -CRLfile "$WORK/cdp.pem" "$WORK/d$DAY.pem"
	fails "  ... and the revoked one fails against it" $FT openssl verify -crl_check -CAfile "$ROOT" \
		-untrusted "$ISSUING" -CRLfile "$WORK/cdp.pem" "$WORK/r0.pem"
	last_has "  ... as revoked" "certificate revoked"
	row="$row | $(cell ok)"

	failed_before=$TAP_FAILED
	ok "day $DAY: s_client -verify_return_error accepts the HTTPS certificate" tls_ok
	last_has "  ... verify return code 0" "Verify return code: 0 \\(ok\\)"
	row="$row | $(cell ok)"

	failed_before=$TAP_FAILED
	ok "day $DAY: /healthz answers" curl -sf "$HTTP_URL/healthz"
	last_has "  ... ok" '"status":"ok"'
	row="$row | $(cell ok)"

	failed_before=$TAP_FAILED
	ok "day $DAY: certbot gets a certificate (its clock moved too)" certbot_get "tt$DAY"
	row="$row | $(cell ok)"
	row="$row | $got_sig ($(openssl x509 -in "$D/ca/ocsp.pem" -noout -enddate | cut -d= -f2)) | $got_tls ($(openssl x509 -in "$D/tls/server.pem" -noout -enddate | cut -d= -f2))"
	TABLE="$TABLE
$row"
done

ok "the audit chain verifies after the years" "$CAIRN" audit verify --dir "$D"
ok "the renewals are audited, started by the daemon" "$CAIRN" audit export --dir "$D" --format jsonl --unsigned
last_has "  ... signer renewed at start" '"actor":"server:renew","action":"ca.renew".*"what":"ocsp-signer".*"trigger":"startup"'
last_has "  ... HTTPS renewed at start" '"actor":"server:renew","action":"ca.renew".*"what":"https".*"trigger":"startup"'
ok "every certificate in the database passes certlint" lint_db "$D"
echo "$TABLE" | sed 's/^/# /'
done_testing
