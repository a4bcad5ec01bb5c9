#!/bin/sh
# SPDX-License-Identifier: MIT
# What one GET /healthz costs the daemon on a keep-alive connection, counted, not timed
# (speed goals live in bench/healthz.sh): N requests over one TLS and one plain
# connection are N answers on one TCP connection each (keep-alive held; answering in the
# first handler call would force Connection: close, STACK-NOTES.md), and meanwhile the
# daemon's system calls (strace -c, every thread) stay within a few per request, none of
# them a file, log or durability call. A request that reopened, stat'ed,
# logged or synced something, or a connection closed after each answer, fails here.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"

command -v strace >/dev/null || bail "strace is not installed (scripts/deps.sh installs it)"
N=300
# Today: ~9 per request (epoll_wait 2, recvfrom 3, sendmsg 2 for TLS, setsockopt 1).
MAX_PER_REQUEST=12
# File, logging, durability and connection calls: background threads may make a few
# while the requests run; a request that makes one makes N of them. (Memory-mapping calls
# are left out: a sanitizer build's allocator maps memory as the requests run.)
HEAVY="open openat stat lstat fstat newfstatat statx access faccessat faccessat2 fsync
fdatasync msync sync_file_range pwrite64 pread64 write writev accept accept4 close"

D=$WORK/ca
ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
ca_serve "$D" || bail "cairn serve failed"
ROOT=$D/ca/root.pem

# measure NAME URL: N GETs of URL by one curl (it reuses its connection) while strace
# counts the daemon's system calls into $WORK/NAME.sc; curl writes one "status connects"
# line per request into $WORK/NAME.w.
measure() {
	: >"$WORK/$1.cfg"
	i=0
	while [ $i -lt $N ]; do
		i=$((i + 1))
		printf 'url = "%s"\noutput = "/dev/null"\n' "$2" >>"$WORK/$1.cfg"
	done
	strace -f -c -p "$SERVE_PID" -o "$WORK/$1.sc" 2>"$WORK/$1.strace" &
	sp=$!
	if ! waits "$WORK/$1.strace" 'attached' 100; then
		kill "$sp" 2>/dev/null
		return 1
	fi
	curl -s --max-time 120 --cacert "$ROOT" -K "$WORK/$1.cfg" \
		-w '%{http_code} %{num_connects}\n' >"$WORK/$1.w"
	rc=$?
	kill -INT "$sp"
	wait "$sp"
	return $rc
}

# calls NAME SYSCALL: calls of SYSCALL in the summary (0 when absent); "total" for all.
calls() {
	awk -v s="$2" '$NF == s && $4 ~ /^[0-9]+$/ { c = $4 } END { print c + 0 }' "$WORK/$1.sc"
}

for l in https http; do
	if [ $l = https ]; then url=$HTTPS_URL/healthz; else url=$HTTP_URL/healthz; fi
	ok "$l: $N GET /healthz by one client while strace counts the daemon's calls" \
		measure $l "$url"
	cp "$WORK/$l.w" "$WORK/last.out"
	ok "$l: every answer is 200" \
		sh -c "[ \$(grep -c '^200 ' '$WORK/$l.w') -eq $N ]"
	cp "$WORK/$l.w" "$WORK/last.out"
	ok "$l: all $N answers came over one TCP connection (keep-alive held)" \
		sh -c "[ \$(awk '{ s += \$2 } END { print s }' '$WORK/$l.w') -eq 1 ]"
	cp "$WORK/$l.sc" "$WORK/last.out"
	total=$(calls $l total)
	ok "$l: the daemon made at most $MAX_PER_REQUEST system calls per request ($total for $N)" \
		test "$total" -le $((N * MAX_PER_REQUEST))
	sends=$(($(calls $l sendmsg) + $(calls $l sendto) + $(calls $l writev) + $(calls $l write)))
	ok "$l: strace saw the answers go out ($sends sends for $N requests)" test "$sends" -ge "$N"
	heavy=""
	for c in $HEAVY; do
		n=$(calls $l "$c")
		[ "$n" -ge $((N / 10)) ] && heavy="$heavy $c=$n"
	done
	cp "$WORK/$l.sc" "$WORK/last.out"
	ok "$l: no file, log, sync or accept/close call per request${heavy:+ (made:$heavy)}" \
		test -z "$heavy"
done

done_testing
