#!/bin/sh
# SPDX-License-Identifier: MIT
# The daemon keeps parsed accounts and account keys between requests; every request is
# still judged by the account as stored now: after a keyChange the old key is refused on
# the very next request, a deactivated account likewise, a kid never goes with another
# account's key, a signature with one bit flipped fails for each kind of key, and
# nonces drawn in batches are all different and good once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"

D=$WORK/ca
ca_init "$D" || bail "init failed"
HP=$(free_port)
acme_conf "$D" "{\"validation\": {\"http01_port\": $HP, \"timeout_ms\": 2000}}"
ca_serve "$D" || bail "serve failed"

acme_probe keys "a nonce of the row is good once"
done_testing
