#!/bin/sh
# SPDX-License-Identifier: MIT
# The daemon keeps parsed orders, authorizations and accounts between requests, and one
# HTTP client per validation thread: every read is still the object as stored now (an
# authorization's result, a deactivation, a finalized order are seen on the very next
# read), another account's objects stay refused, and every http-01 validation opens a
# connection of its own (a keep-alive server counts them) to the address resolved for
# it, also when the name moved between two validations on the same thread.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"

command -v pebble-challtestsrv >/dev/null || bail "pebble-challtestsrv is not installed"
D=$WORK/ca
ca_init "$D" || bail "init failed"
dns_start || bail "test DNS server did not start"
HP=$(free_port)
# One validation worker: every validation runs on the same thread, so its client is reused.
acme_conf "$D" "{\"authz_reuse_seconds\": 0, \"validation_workers\": 1,
  \"validation\": {\"dns_server\": \"127.0.0.1:$DNS_PORT\", \"http01_port\": $HP,
  \"timeout_ms\": 3000}}"
ca_serve "$D" || bail "serve failed"

acme_probe fresh "still one connection per request" "http://127.0.0.1:$DNS_MGMT"
done_testing
