#!/bin/sh
# SPDX-License-Identifier: MIT
# A validation target that answers a byte a second holds a validation worker for its
# timeout (acme.validation.timeout_ms), not for as long as it keeps sending. tls-alpn-01
# used a read timeout per socket read: a peer announcing a 16 KiB handshake record and
# sending it a byte a second held its worker for 4.5 hours, and as many such orders as
# there are workers (4) stopped every ACME validation of every account. Now the
# connection and the handshake share one deadline (util/net.c, as discovery's scans);
# http-01 answers sent a byte a second are checked the same way.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"

D=$WORK/ca
ca_init "$D" || bail "init failed"
HP=$(free_port)
TP=$(free_port)
hosts='"fast.example.test": "127.0.0.1", "drip.example.test": "127.0.0.1"'
for i in 0 1 2 3; do
	hosts="$hosts, \"slow$i.example.test\": \"127.0.0.1\""
done
acme_conf "$D" "{\"validation_workers\": 4, \"validation\": {\"http01_port\": $HP,
  \"tlsalpn01_port\": $TP, \"timeout_ms\": 2000, \"hosts\": {$hosts}}}"
ca_serve "$D" || bail "serve failed"

acme_probe slow_peers "another account's validation asked for meanwhile is valid soon after" \
	"$TP" 4 2000
ok "the daemon still answers" curl -sf --cacert "$D/ca/root.pem" "$HTTPS_URL/acme/directory"
done_testing
