#!/bin/sh
# SPDX-License-Identifier: MIT
# The disk under the CA fills while nobody watches. The data directory sits on a 48 MiB
# tmpfs of its own (a private mount namespace: the test runs itself again under
# `unshare -m`, as root as CI runs). Before the disk is full /healthz says it is low and a
# webhook gets the alert; once full, every channel's write is refused with 503,
# Retry-After and a message that says so (admin API, ACME finalize with the order left
# ready, EST), /healthz names the failing writes and the CRL that cannot be written,
# OCSP still answers, and the daemon keeps running; once room is made, issuance, the
# order, EST and the CRL recover without a restart, and the audit chain is intact.
# Where no mount namespace with a tmpfs of its own can be made (not root, or a container
# without CAP_SYS_ADMIN) the test says so and skips, as ui.sh does without root.
if [ -z "${CAIRN_DISK_NS:-}" ]; then
	if ! unshare -m --propagation private sh -c \
		'd=$(mktemp -d) && mount -t tmpfs -o size=1m cairn-probe "$d" && umount "$d"; r=$?; rmdir "$d"; exit $r' \
		>/dev/null 2>&1; then
		echo "ok 1 - a disk of its own # SKIP no private mount namespace with a tmpfs here (unshare -m, mount: needs root with CAP_SYS_ADMIN)"
		echo "1..1"
		exit 0
	fi
	CAIRN_DISK_NS=1 exec unshare -m --propagation private sh "$0" "$@"
fi
. "$CAIRN_SRCDIR/tests/integration/lib.sh"
. "$CAIRN_SRCDIR/tests/integration/acme_lib.sh"
. "$CAIRN_SRCDIR/tests/integration/est_lib.sh"
. "$CAIRN_SRCDIR/tests/integration/outage_lib.sh"

DISK=$WORK/disk
mkdir -p "$DISK" && mount -t tmpfs -o size=48m,mode=0700 cairn-disk "$DISK" ||
	bail "cannot mount a tmpfs in a private mount namespace (the test runs as root)"
# The daemons stopped first, then the disk unmounted, then $WORK removed.
trap 'for pid in $CAIRN_PIDS; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
	umount -l "$DISK" 2>/dev/null; cleanup' EXIT INT TERM

# The CA on the small disk; D is a link to it, so the daemon's log ($D.serve.log) is not.
ca_init "$DISK/ca" || bail "cairn init failed: $(cat "$DISK/ca.init.out")"
D=$WORK/ca
ln -s "$DISK/ca" "$D"
ROOT=$D/ca/root.pem
HP=$(free_port)
ops_sink || bail "webhook receiver did not start"
jq --argjson hp "$HP" --argjson notify "$OPS_NOTIFY" '
	.server.disk_min_free_mb = 8 | .crl.debounce = 3 | .notify = $notify |
	.acme = {validation: {http01_port: $hp, timeout_ms: 3000,
	  hosts: {"ready.example.test": "127.0.0.1"}}}' "$D/cairn.json" >"$WORK/cairn.json" &&
	cp "$WORK/cairn.json" "$D/cairn.json" || bail "cannot edit cairn.json"
# The daemon's clock is a file (libfaketime), moved past the CRL's one-minute retry.
clock_file
clock_at 0 FAKETIME_DONT_FAKE_MONOTONIC=1
# fill FILE [MIB]: writes zeros to FILE on the disk, MIB of them, or until it is full.
fill() { dd if=/dev/zero of="$DISK/$1" bs=1M ${2:+count=$2} 2>/dev/null || :; }
free_mib() { df -m --output=avail "$DISK" | tail -1 | tr -d ' '; }

# ---- room on the disk ----
ok "/healthz ok with room on the disk" health
ok "  ... status ok" has '.status == "ok"'
ok "the disk's free space is a gauge" test "$(metric cairn_disk_free_bytes)" -gt $((8 << 20))
ok "  ... and its size" test "$(metric cairn_disk_size_bytes)" -eq $((48 << 20))
ok "no commit failed" test "$(metric cairn_db_commit_failures_total)" -eq 0
ok "a certificate issued (to revoke later)" issue gone
ok "a certificate issued (to ask OCSP about later)" issue kept
outage_ready

# ---- low: less than server.disk_min_free_mb (8 MiB) left ----
fill low $(($(free_mib) - 4))
ok "less than 8 MiB left: /healthz answers" health
ok "  ... degraded: the disk is low" has '.status == "degraded" and
	any(.problems[]; .what == "disk" and .state == "low" and .free_bytes < 8388608)'
next_scan
ok "  ... and the webhook is told (ca.expiring, disk) while there is room to store it" \
	waits "$WORK/ops.log" '^ok [^ ]+ ca\.expiring disk ' 300
ok "  ... the degraded gauge is set" test "$(metric cairn_health_degraded)" -eq 1
ok "issuance still works while the disk is only low" issue low

# ---- full ----
S_GONE=$(serial_of "$WORK/gone.pem")
ok "a revocation just before the disk fills" "$CAIRN" revoke --dir "$D" "$S_GONE" \
	--reason keyCompromise
fill full # within the CRL's 3 s debounce: its rebuild finds the disk full
# LMDB reuses the pages its earlier commits freed: issue until three in a row fail (the
# freed pages are used up), at most 300 tries. Room can still turn up after that (see
# outage_refused): the admin API's probe below may issue up to 10 more first.
fails_in_row=0 tries=0
while [ $fails_in_row -lt 3 ] && [ $tries -lt 300 ]; do
	tries=$((tries + 1))
	if issue "f$tries"; then fails_in_row=0; else fails_in_row=$((fails_in_row + 1)); fi
done
ok "on the full disk issuance is refused (three in a row, after $tries tries)" \
	test $fails_in_row -eq 3
cp "$WORK/f$tries.out" "$WORK/last.out"
last_has "  ... the CLI says why in one line (503, the disk is full)" \
	'refused \(HTTP 503\): commit failed: the disk holding the database is full \((No space left on device|a page write was cut short)\)'
last_one_line "  ... one line"
outage_refused storageFull "the disk holding the database is full" 10
ok "/healthz answers on the full disk" health
ok "  ... the failing writes, since when and why" has 'any(.problems[];
	.what == "database" and .state == "write_failing" and (.at | length) > 0 and
	(.detail | test("disk holding the database is full")))'
ok "  ... the disk, low with (next to) nothing left" has 'any(.problems[]; .what == "disk" and
	.free_bytes < 1048576)'
ok "  ... the CRL whose rebuild cannot be written" waits_for sh -c "
	curl -sf '$HTTP_URL/healthz' | jq -e 'any(.problems[]; .what == \"crl-issuing\" and
	.state == \"failing\")'"
ok "commit failures are counted" test "$(metric cairn_db_commit_failures_total)" -gt 0
ok "OCSP still answers (good) on the full disk" sh -c "openssl ocsp -issuer '$D/ca/issuing.pem' \
	-cert '$WORK/kept.pem' -url '$HTTP_URL/ocsp' -CAfile '$ROOT' -no_nonce 2>&1 |
	grep -q ': good'"
ok "OCSP says the certificate revoked before the disk filled is revoked" sh -c "openssl ocsp \
	-issuer '$D/ca/issuing.pem' -cert '$WORK/gone.pem' -url '$HTTP_URL/ocsp' -CAfile '$ROOT' \
	-no_nonce 2>&1 | grep -q ': revoked'"
ok "the daemon still runs" kill -0 "$SERVE_PID"

# ---- room again: everything recovers without a restart ----
rm -f "$DISK/low" "$DISK/full"
ok "room again: issuance works" issue back
ok "  ... /healthz answers" health
ok "  ... the failed writes still said (for five minutes), no longer failing" has 'any(.problems[];
	.what == "database" and .state == "write_failing" and .still_failing == false)'
ok "  ... no low disk" has '[.problems[]? | select(.what == "disk")] == []'
outage_over
# The CRL is retried a minute after its failure, failed writes are said for five minutes:
# the clock moves past both.
clock_move $((OFF + 301))
ok "the CRL is rebuilt and written once its retry is due" waits_for sh -c "
	curl -sf '$HTTP_URL/healthz' | jq -e '[.problems[]? | select(.what == \"crl-issuing\")] == []'"
ok "  ... the CRL served lists the revocation" sh -c "curl -sf '$HTTP_URL/crl/issuing.crl' |
	openssl crl -inform DER -noout -text | grep -qi 'Serial Number: $S_GONE'"
ok "  ... and so does its file" sh -c "openssl crl -inform DER -in '$D/crl/issuing.crl' \
	-noout -text | grep -qi 'Serial Number: $S_GONE'"
ok "five minutes later /healthz is ok again" health
ok "  ... status ok" has '.status == "ok"'
ca_stop
fill full
ok "a start on the full disk stops, in one line" sh -c "timeout 60 '$CAIRN' serve --dir '$D' \
	2>'$WORK/start.err'; rc=\$?; [ \$rc -ne 0 ] && [ \$rc -ne 124 ]"
cp "$WORK/start.err" "$WORK/last.out"
last_has "  ... saying the disk is full" 'serve\.json: no space left on the disk'
rm -f "$DISK/full"
ok "the audit chain is intact" "$CAIRN" audit verify --dir "$D"
done_testing
