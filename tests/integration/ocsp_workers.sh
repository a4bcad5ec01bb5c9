#!/bin/sh
# SPDX-License-Identifier: MIT
# The OCSP responder's threads: one plain-HTTP worker per CPU the daemon may run on
# (server.http_threads 0), the HTTPS listener keeps server.threads, and the OCSP
# refresher runs below the workers' priority yet keeps answers fresh while the
# responder is saturated (bench/README.md, the OCSP p99).
. "$CAIRN_SRCDIR/tests/integration/lib.sh"
command -v wrk >/dev/null || bail "wrk missing (scripts/deps.sh installs it)"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
ROOT=$D/ca/root.pem
ISSUING=$D/ca/issuing.pem

# named NAME: how many of the daemon's threads are called NAME.
named() { cat /proc/"$SERVE_PID"/task/*/comm | grep -c "^$1\$"; }
# nice_of NAME: the nice values of the daemon's threads called NAME.
nice_of() {
	for t in /proc/"$SERVE_PID"/task/*; do
		[ "$(cat "$t/comm")" = "$1" ] && sed 's/^.*) //' "$t/stat" | awk '{ print $17 }'
	done | sort -u | tr '\n' ' '
}
metric() { curl -sf "$HTTP_URL/metrics" | sed -n "s/^$1 //p"; }
hits_ge() { [ "$(metric 'cairn_ocsp_responses_total{source="cache"}')" -ge "$1" ]; }

# Started on one CPU (the daemon inherits the affinity): one plain HTTP worker, which
# libmicrohttpd runs as its single internal thread; the HTTPS listener keeps 4.
ALL=$(taskset -p "$$" | sed 's/.*: //')
taskset -p -c 0 "$$" >/dev/null || bail "taskset"
ca_serve "$D" || bail "cairn serve did not start"
taskset -p "$ALL" "$$" >/dev/null
ok "pinned to one CPU: one plain HTTP worker ($(named MHD-single) single, $(named MHD-worker) pooled)" \
	test "$(named MHD-single)" -eq 1
ok "  ... the HTTPS listener keeps server.threads (4)" test "$(named MHD-worker)" -eq 4
ok "the OCSP refresher is its own thread" test "$(named ocsp-refresh)" -eq 1
ok "  ... at nice 10 ($(nice_of ocsp-refresh)), below the workers ($(nice_of MHD-single))" \
	test "$(nice_of ocsp-refresh)" = "10 " -a "$(nice_of MHD-single)" = "0 " \
	-a "$(nice_of MHD-worker)" = "0 "

# Saturate the one worker with OCSP GETs from the cache (wrk, bounded: 8 s) and revoke
# a certificate meanwhile: the answer is revoked at once (signed live), and the
# refresher, at its lower priority, still re-signs both CertIDs into the cache.
make_csr leaf ec:P-256 "/CN=leaf.example.test" "DNS:leaf.example.test"
ok "issue a leaf" "$CAIRN" issue --dir "$D" --csr "$WORK/leaf.csr" --profile tls-server \
	--out "$WORK/leaf.chain"
LEAF=$(openssl x509 -in "$WORK/leaf.chain" -noout -serial | cut -d= -f2)
openssl ocsp -issuer "$ISSUING" -serial "0x$LEAF" -no_nonce -reqout "$WORK/req.der" >/dev/null 2>&1
GETPATH=$(base64 -w0 "$WORK/req.der" | sed 's/+/%2B/g; s|/|%2F|g; s/=/%3D/g')
ok "the leaf is good over GET" sh -c "curl -sf '$HTTP_URL/ocsp/$GETPATH' >'$WORK/good.der' &&
	openssl ocsp -respin '$WORK/good.der' -issuer '$ISSUING' -serial 0x$LEAF -CAfile '$ROOT'"
last_has "  ... good" ": good"
# The leaf's first answer pre-signed (ocsp_issued) and counted before p0 is read.
ok "  ... the refresher's work is done (the leaf pre-signed)" quiet
taskset -c 0 wrk -t1 -c16 -d8s "$HTTP_URL/ocsp/$GETPATH" >"$WORK/wrk.out" 2>&1 &
WRK=$!
# wrk connected and busy: its answers are being counted (its run is bounded by -d).
h0=$(metric 'cairn_ocsp_responses_total{source="cache"}')
ok "  ... wrk is being answered" waits_for hits_ge $((h0 + 100))
p0=$(metric cairn_ocsp_presigned_total)
ok "revoke the leaf under load" "$CAIRN" revoke --dir "$D" "$LEAF" --reason keyCompromise
ok "  ... OCSP says revoked at once" openssl ocsp -issuer "$ISSUING" -serial "0x$LEAF" \
	-url "$HTTP_URL/ocsp" -CAfile "$ROOT" -no_nonce
last_has "  ... revoked" ": revoked"
# Until both are re-signed or wrk is done (its -d bounds the wait).
while [ "$(metric cairn_ocsp_presigned_total)" -lt $((p0 + 2)) ] && kill -0 "$WRK" 2>/dev/null; do
	sleep 0.1
done
ok "  ... the refresher re-signed both CertIDs while the worker was saturated ($(metric cairn_ocsp_presigned_total) > $p0)" \
	sh -c "[ $(metric cairn_ocsp_presigned_total) -ge $((p0 + 2)) ] && kill -0 $WRK"
wait "$WRK"
ok "  ... wrk was answered (non-zero requests/s)" grep -Eq '^Requests/sec: *[1-9]' "$WORK/wrk.out"
ok "GET still says revoked after the load" sh -c "curl -sf '$HTTP_URL/ocsp/$GETPATH' >'$WORK/rev.der' &&
	openssl ocsp -respin '$WORK/rev.der' -issuer '$ISSUING' -serial 0x$LEAF -CAfile '$ROOT'"
last_has "  ... revoked" ": revoked"
ca_stop

# An explicit server.http_threads wins over the CPU count.
conf_set "$D" server "$(jq -c '.server + { http_threads: 3 }' "$D/cairn.json")"
ca_serve "$D" || bail "cairn serve did not start with server.http_threads 3"
ok "server.http_threads 3: 3 plain HTTP workers beside the 4 HTTPS ones" \
	test "$(named MHD-worker)" -eq 7 -a "$(named MHD-single)" -eq 0
ok "  ... and OCSP is answered" openssl ocsp -issuer "$ISSUING" -serial "0x$LEAF" \
	-url "$HTTP_URL/ocsp" -CAfile "$ROOT" -no_nonce
last_has "  ... revoked" ": revoked"
ca_stop

done_testing
