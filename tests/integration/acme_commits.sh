#!/bin/sh
# SPDX-License-Identifier: MIT
# Durable commits per ACME order, counted by the daemon itself (cairn_db_writes_total
# in /metrics): newOrder with its authorization is one write, the validation result one,
# finalize one (the certificate, its indexes and audit event and the order turning valid
# commit together); an order whose authorization is reused makes two. Nonces write
# nothing, and after a restart no nonce of the previous run is accepted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"

PROBE="python3 $(dirname "$0")/acme_probe.py"
D=$WORK/ca
ca_init "$D" || bail "init failed"
HP=$(free_port)
acme_conf "$D" "{\"authz_reuse_seconds\": 3600, \"validation\": {\"http01_port\": $HP,
  \"timeout_ms\": 2000, \"hosts\": {\"w0.example.test\": \"127.0.0.1\",
  \"w1.example.test\": \"127.0.0.1\", \"w2.example.test\": \"127.0.0.1\"}}}"
ca_serve "$D" || bail "serve failed"

acme_probe commits "twenty new nonces write nothing" "$HTTP_URL/metrics" "$WORK/state.json"

keep_https_port "$D"
ca_stop
ca_serve "$D" || bail "restart failed"
acme_probe nonces "the nonce carried by the badNonce answer works" "$WORK/state.json"

ok "every certificate in the database passes certlint" lint_db "$D"
done_testing
