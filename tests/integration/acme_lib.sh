# SPDX-License-Identifier: MIT
# ACME test helpers (source after lib.sh): free loopback ports, acme settings in
# cairn.json, and pebble-challtestsrv as the loopback DNS server for test names.

# free_port: prints a TCP/UDP port that is free on 127.0.0.1 right now.
free_port() {
	python3 - <<'PY'
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p))
    except OSError:
        t.close(); u.close(); continue
    t.close(); u.close(); print(p); break
PY
}

# acme_conf DIR JSON: sets the "acme" object of DIR/cairn.json.
acme_conf() { conf_set "$1" acme "$2"; }

# dns_start [OPTIONS]: pebble-challtestsrv answering A 127.0.0.1 for every name (unless
# OPTIONS say otherwise, e.g. -defaultIPv4 ""), with TXT, CAA and A records set through
# its management API. Sets DNS_PORT and DNS_MGMT.
dns_start() {
	DNS_PORT=$(free_port)
	DNS_MGMT=$(free_port)
	pebble-challtestsrv -dns01 "127.0.0.1:$DNS_PORT" -management "127.0.0.1:$DNS_MGMT" \
		-http01 "" -https01 "" -tlsalpn01 "" -defaultIPv6 "" "$@" \
		>"$WORK/challtestsrv.log" 2>&1 &
	DNS_PID=$!
	CAIRN_PIDS="$CAIRN_PIDS $DNS_PID"
	i=0
	until curl -s -o /dev/null "http://127.0.0.1:$DNS_MGMT/"; do
		i=$((i + 1))
		[ $i -gt 100 ] && return 1
		sleep 0.1
	done
}

# dns_caa NAME VALUE: adds a CAA "issue" record (flags 0) for NAME.
dns_caa() {
	curl -s -X POST -d "{\"host\":\"$1.\",\"policies\":[{\"tag\":\"issue\",\"value\":\"$2\"}]}" \
		"http://127.0.0.1:$DNS_MGMT/add-caa"
}

# dns_a NAME ADDRESS: adds an A record for NAME.
dns_a() {
	curl -s -X POST -d "{\"host\":\"$1.\",\"addresses\":[\"$2\"]}" \
		"http://127.0.0.1:$DNS_MGMT/add-a"
}

# keep_https_port DIR: the next `ca_serve DIR` listens on the HTTPS port of this run
# (account and order URLs carry it, so a restart must keep it).
keep_https_port() {
	python3 - "$1/cairn.json" "${HTTPS_URL#https://}" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["listen"]["https"] = sys.argv[2]
json.dump(doc, open(sys.argv[1], "w"), indent=2)
PY
}

# lego_exec_script PATH: the lego --dns exec hook that sets TXT records in challtestsrv.
lego_exec_script() {
	cat >"$1" <<SH
#!/bin/sh
# lego exec DNS provider: present|cleanup FQDN VALUE
case "\$1" in
present) curl -s -X POST -d "{\"host\":\"\$2\",\"value\":\"\$3\"}" http://127.0.0.1:$DNS_MGMT/set-txt ;;
cleanup) curl -s -X POST -d "{\"host\":\"\$2\"}" http://127.0.0.1:$DNS_MGMT/clear-txt ;;
esac
SH
	chmod +x "$1"
}

# acme_pending DIR [PID]: waits (bounded) for a pending ACME request in DIR and sets REQ
# to its id; gives up at once when PID (the client that should be waiting) has ended.
acme_pending() {
	i=0
	REQ=""
	while [ -z "$REQ" ]; do
		i=$((i + 1))
		[ $i -gt 300 ] && return 1
		[ -z "${2:-}" ] || kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
		REQ=$("$CAIRN" requests list --dir "$1" --json 2>/dev/null | python3 -c '
import json, sys
for r in json.load(sys.stdin)["items"]:
    if r["channel"] == "acme" and r["status"] == "pending":
        print(r["id"]); break')
	done
}

# serve_pid_of DIR: pid recorded in DIR/serve.json.
serve_pid_of() {
	sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' "$1/serve.json"
}

# cert_verifies CADIR CERT: the certificate chains to the CA's root.
cert_verifies() {
	openssl verify -CAfile "$1/ca/root.pem" -untrusted "$1/ca/issuing.pem" "$2"
}

# tap_lines FILE LAST WHAT: one TAP line per "pass: NAME" / "fail: NAME: detail" line of a
# client driver's output (acme_probe.py, acme_client.py), the whole output as comments;
# the driver must have reached the check whose text starts with LAST.
tap_lines() {
	sed 's/^/# /' "$1"
	while IFS= read -r line; do
		case $line in
		"pass: "*) tap 1 "${line#pass: }" ;;
		"fail: "*) echo "${line#fail: }" >"$WORK/last.out"; tap 0 "${line#fail: }" ;;
		esac
	done <"$1"
	grep -q "^pass: $2" "$1"
	tap $((1 - $?)) "the $3 ran to its end"
}

# acme_probe MODE LAST [ARGS...]: runs acme_probe.py MODE against the daemon (HTTPS_URL,
# DIR $D, challenge port $HP) and turns its output into TAP lines (tap_lines).
acme_probe() {
	mode=$1 last=$2
	shift 2
	python3 "$CAIRN_SRCDIR/tests/integration/acme_probe.py" "$mode" "$HTTPS_URL/acme/directory" \
		"$D/ca/root.pem" "$HP" "$@" >"$WORK/probe.out" 2>&1
	tap_lines "$WORK/probe.out" "$last" "$mode probe"
}
