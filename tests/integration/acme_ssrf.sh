#!/bin/sh
# SPDX-License-Identifier: MIT
# http-01 redirects are no SSRF probe (RFC 8555 §8.3): an ACME client (python3-acme)
# answers its challenges with redirects to an internal service on 127.0.0.1, other ports,
# hosts the validation resolver does not know, file:// and gopher://, and 11 hops. Each is
# refused by a named rule, the internal service is never contacted, and no error tells
# what a redirect target answered; redirects to the challenged host on the configured
# http01_port still validate.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"

PY=/usr/bin/python3
$PY -c 'import acme.client' 2>/dev/null || bail "python3-acme is not installed (scripts/deps.sh)"
command -v pebble-challtestsrv >/dev/null || bail "pebble-challtestsrv is not installed"

D=$WORK/ca
ca_init "$D" || bail "init failed"
# The DNS server knows only dnsonly.example.test; the rest comes from the hosts map.
dns_start -defaultIPv4 "" || bail "test DNS server did not start"
dns_a dnsonly.example.test 127.0.0.1 >/dev/null
HP=$(free_port)
SECRET=$(free_port)
hosts="\"secret.example.test\": \"127.0.0.1\""
for i in $(seq 1 23); do
	hosts="$hosts, \"c$i.example.test\": \"127.0.0.1\""
done
acme_conf "$D" "{\"validation\": {\"dns_server\": \"127.0.0.1:$DNS_PORT\",
  \"http01_port\": $HP, \"timeout_ms\": 3000, \"hosts\": {$hosts}}}"
ca_serve "$D" || bail "serve failed"

$PY "$(dirname "$0")/acme_client.py" redirects "$HTTPS_URL/acme/directory" "$D/ca/root.pem" \
	"$HP" "$SECRET" >"$WORK/client.out" 2>&1
tap_lines "$WORK/client.out" "the internal service was never contacted" "client"

ok "the daemon still answers" curl -sf --cacert "$D/ca/root.pem" "$HTTPS_URL/acme/directory"

# Every hop is pinned to an address: the hosts map holds addresses, nothing to resolve again.
ca_stop
acme_conf "$D" '{"validation": {"hosts": {"a.example.test": "localhost"}}}'
fails "serve refuses a hosts map entry that is not an address" "$CAIRN" serve --dir "$D"
last_has "  ... naming the key" "acme.validation.hosts.a.example.test: must be an IPv4 or IPv6 address"
done_testing
