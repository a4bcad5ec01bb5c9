#!/bin/sh
# SPDX-License-Identifier: MIT
# acme.rate_limits.pending_authorizations: exact when one account's new orders arrive
# together (checked again in the order's write transaction), expired authorizations no
# longer count once the clock passes them (libfaketime, across a restart), and their
# index entries are deleted by the new orders that meet them.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"

LIMIT=100
D=$WORK/ca
ca_init "$D" || bail "init failed"
HP=$(free_port)
acme_conf "$D" "{\"rate_limits\": {\"pending_authorizations\": $LIMIT},
  \"order_lifetime_seconds\": 86400, \"validation\": {\"http01_port\": $HP}}"
ca_serve "$D" || bail "serve failed"
acme_probe pending_fill "another account" "$WORK/pending.json" "$LIMIT"

keep_https_port "$D"
ca_stop
ca_serve_at "$D" FAKETIME=+2d || bail "restart with FAKETIME=+2d failed"
acme_probe pending_later "and one more" "$WORK/pending.json" "$LIMIT" "$HTTP_URL/metrics"
done_testing
