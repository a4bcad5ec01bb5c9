# SPDX-License-Identifier: MIT
# Shared by the bench scripts (sourced, POSIX sh).

# bench_rss PID: a daemon's memory in MiB, one line: VmHWM (peak resident), RssAnon (heap
# and stacks: what would grow per request if anything leaked) and RssFile (file pages
# mapped: LMDB's database pages, reclaimable).
bench_rss() {
	awk '/^(RssAnon|RssFile|VmHWM):/ { printf "%s %d MiB  ", $1, $2 / 1024 }' "/proc/$1/status"
}

# free_port: a TCP port on 127.0.0.1 nothing listens on now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# cpu_ns PID: nanoseconds the process's threads have run (the kernel's per-thread schedstat).
cpu_ns() {
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# median: of the numbers on stdin, one a line ("?" when there are none).
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "?" }'; }
