# SPDX-License-Identifier: MIT
# Helpers of the outage tests (disk_full.sh, token_out.sh, token_hang.sh; source after
# lib.sh, acme_lib.sh and est_lib.sh; plugged_ca sets D, ROOT and HP, the others need them
# and the daemon running): /healthz and /metrics
# reads, issuance through `cairn issue`, and the refusal every channel must give while
# something the daemon needs is gone, and its recovery.

health() { curl -sf "$HTTP_URL/healthz" >"$WORK/health.json"; }
# has FILTER: jq FILTER holds on the last health.
has() { jq -e "$1" "$WORK/health.json" >/dev/null; }
metric() { curl -sf "$HTTP_URL/metrics" | sed -n "s/^$1 //p"; }
# issue NAME: a tls-server certificate for NAME.example.test through the admin API (cairn
# issue); its output in $WORK/NAME.out.
issue() {
	make_csr "$1" ec:P-256 "/CN=$1.example.test" "DNS:$1.example.test"
	"$CAIRN" issue --dir "$D" --csr "$WORK/$1.csr" --profile tls-server \
		--out "$WORK/$1.pem" >"$WORK/$1.out" 2>&1
}
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f'; }

# ops_sink: a webhook receiver (webhook_sink.py: a line per event in $WORK/ops.log) for
# ca.expiring; OPS_NOTIFY is the notify object of cairn.json that sends there (secret in
# $D/ops.secret), looking every 10 s.
ops_sink() {
	printf 'ops-secret\n' >"$D/ops.secret"
	python3 "$CAIRN_SRCDIR/tests/integration/webhook_sink.py" 0 "$WORK/ops.port" \
		"$D/ops.secret" "$WORK/ops.log" 2>>"$WORK/ops.err" &
	CAIRN_PIDS="$CAIRN_PIDS $!"
	waits "$WORK/ops.port" '^[0-9]+$' 100 || return 1
	OPS_NOTIFY=$(jq -cn --arg hook "http://127.0.0.1:$(cat "$WORK/ops.port")/" \
		'{scan_interval: 10, poll_ms: 100, webhooks: [{name: "ops", url: $hook,
		  secret_file: "ops.secret", events: ["ca.expiring"]}]}')
}

# plugged_ca [FILTER]: a CA in $D (ROOT its root) behind the token plug (plug_ca),
# CRLs rebuilt a second after a change, ca.expiring sent to ops_sink, ACME http-01 to
# ready.example.test on port $HP; then the jq FILTER on cairn.json.
plugged_ca() {
	plug_ca
	HP=$(free_port)
	ops_sink || bail "webhook receiver did not start"
	jq --argjson hp "$HP" --argjson notify "$OPS_NOTIFY" '
		.crl.debounce = 1 | .notify = $notify |
		.acme = {validation: {http01_port: $hp, timeout_ms: 3000,
		  hosts: {"ready.example.test": "127.0.0.1"}}} | '"${1:-.}" "$D/cairn.json" \
		>"$WORK/cairn.json" && cp "$WORK/cairn.json" "$D/cairn.json" ||
		bail "cannot edit cairn.json"
}

# outage_certs: before the outage, two certificates: gone (to revoke during it) and kept
# (to ask OCSP about: its answer is pre-signed and stored).
outage_certs() {
	ok "a certificate issued (to revoke during the outage)" issue gone
	ok "a certificate issued (to ask OCSP about)" issue kept
	ok "  ... its answer is pre-signed and stored" waits_for sh -c "openssl ocsp \
		-issuer '$D/ca/issuing.pem' -cert '$WORK/kept.pem' -url '$HTTP_URL/ocsp' \
		-CAfile '$ROOT' -no_nonce 2>&1 | grep -q ': good'"
}

# outage_ready: before the outage, an EST account (dev) and its CSR, and an ACME order
# made ready ($WORK/order.json).
outage_ready() {
	EST=$HTTPS_URL/.well-known/est
	printf 'device password\n' >"$WORK/pw"
	"$CAIRN" est user add --dir "$D" --name dev --password-file "$WORK/pw" \
		>"$WORK/user.out" 2>&1 || bail "cannot add the EST user"
	make_csr dev ec:P-256 /CN=device-1
	b64csr dev
	BODY=$WORK/dev.b64
	acme_probe ready_order "an order is ready" "$WORK/order.json"
}

# outage_refused TYPE WHY [ROOM]: during the outage the admin API, ACME finalize and EST
# refuse with 503 and Retry-After, the admin API's problem of type TYPE, each saying WHY
# (text). ROOM (a full disk only): up to ROOM certificates the admin API still issues
# first are not failures. A commit on a full disk is refused only when it needs pages the
# file does not have yet; pages freed by the commits that did fit (a background write, an
# issuance) are used again, and a page write cut short leaves the file longer. So three
# refusals in a row do not promise a fourth: with three CPU hogs beside it, disk_full.sh's
# loop saw an issuance succeed after a refusal in 4 of 6 runs, and at make -j4 the admin
# API once did not answer 503 there. Where the token is out no 201 is ever allowed.
outage_refused() {
	make_csr api ec:P-256 /CN=api.example.test DNS:api.example.test
	jq -n --rawfile csr "$WORK/api.csr" '{csr: $csr, profile: "tls-server"}' >"$WORK/api.json"
	_room=${3:-0}
	while :; do
		curl -s --cacert "$ROOT" -H "Authorization: Bearer $(cat "$D/admin.token")" \
			-H 'Content-Type: application/json' --data-binary "@$WORK/api.json" \
			-D "$WORK/api.hdr" -o "$WORK/api.body" "$HTTPS_URL/admin/v1/certificates"
		grep -q '^HTTP/[0-9.]* 201' "$WORK/api.hdr" && [ "$_room" -gt 0 ] || break
		_room=$((_room - 1))
		echo "# the admin API issued in room found on the full disk; asking again"
	done
	# what came instead, for the log (a TAP comment)
	grep -q '^HTTP/[0-9.]* 503' "$WORK/api.hdr" ||
		{ head -n 1 "$WORK/api.hdr"; head -c 400 "$WORK/api.body"; echo; } | sed 's/^/# /'
	ok "the admin API answers 503 ..." grep -q '^HTTP/[0-9.]* 503' "$WORK/api.hdr"
	ok "  ... with Retry-After" grep -qi '^Retry-After: [0-9]' "$WORK/api.hdr"
	ok "  ... a problem document of type $1" jq -e --arg t "urn:cairn:problem:$1" \
		'.type == $t and .status == 503' "$WORK/api.body"
	ok "  ... saying why" grep -Fq "$2" "$WORK/api.body"
	acme_probe finalize_later "  ... and the order is still ready" "$WORK/order.json" "$2"
	est_post e1 simpleenroll -u 'dev:device password'
	ok "EST simpleenroll: 503" status_is e1 503
	ok "  ... with Retry-After" grep -qi '^Retry-After: [0-9]' "$WORK/e1.hdr"
	ok "  ... saying why" grep -Fq "$2" "$WORK/e1.body"
}

# outage_over: once it is over, without a restart: the order of outage_ready is finalized,
# EST enrolls.
outage_over() {
	acme_probe finalize_later "  ... and its certificate downloads" "$WORK/order.json"
	est_post e2 simpleenroll -u 'dev:device password'
	ok "EST enrolls again: 200" status_is e2 200
}

# outage_healed SERIAL: then OCSP says revoked for $WORK/gone.pem, revoked during the
# outage (serial SERIAL); five minutes on (the clock of clock_file: the CRL is retried a
# minute after its failure, an outage is said for five minutes) the CRL is rebuilt with it
# and /healthz is ok.
outage_healed() {
	ok "OCSP says revoked for the certificate revoked meanwhile" waits_for sh -c "
		openssl ocsp -issuer '$D/ca/issuing.pem' -cert '$WORK/gone.pem' \
		-url '$HTTP_URL/ocsp' -CAfile '$ROOT' -no_nonce 2>&1 | grep -q ': revoked'"
	clock_move 301
	ok "five minutes on: the CRL is rebuilt" waits_for sh -c "curl -sf '$HTTP_URL/healthz' |
		jq -e '[.problems[]? | select(.what == \"crl-issuing\")] == []'"
	ok "  ... and lists the revocation" sh -c "curl -sf '$HTTP_URL/crl/issuing.crl' |
		openssl crl -inform DER -noout -text | grep -qi 'Serial Number: $1'"
	ok "  ... /healthz is ok again" health
	ok "  ... status ok" has '.status == "ok"'
}
