#!/bin/sh
# SPDX-License-Identifier: MIT
# libFuzzer runs of the fuzz targets in fuzz/ (clang, ASan + UBSan), built in
# build-fuzz/ (a mirror of the sources, so the normal build stays as it is).
#   scripts/fuzz.sh TARGET SECONDS     one target, longer; new inputs go to
#                                      build-fuzz/corpus/TARGET, crashes to build-fuzz/crashes/
#   scripts/fuzz.sh --smoke SECONDS    every target for SECONDS each (`make fuzz-smoke`);
#                                      prints executions per target and "N passed, N failed"
#   scripts/fuzz.sh --list             the targets
# A crash leaves its input in build-fuzz/crashes/TARGET/: copy it into fuzz/corpus/TARGET/
# (the replay test then runs it in every `make check`) and add a unit test for the bug.
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
targets=$(sed -n 's|^[[:space:]]*fuzz/fuzz_\([a-z0-9_]*\)\.c.*|\1|p' fuzz/local.mk)

if [ "${1:-}" = "--list" ]; then
	echo "$targets"
	exit 0
fi

build() {
	sh scripts/deps.sh >/dev/null || return 1
	[ -x configure ] || autoreconf -fi >/dev/null 2>&1 || return 1
	sh scripts/mirror.sh build-fuzz || return 1
	san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
	(
		cd build-fuzz || exit 1
		if [ ! -f Makefile ]; then
			./configure -q CC=clang CFLAGS="-g -O1 -fsanitize=fuzzer-no-link $san" \
				>configure.out 2>&1 || { tail -n 20 configure.out; exit 1; }
		fi
		make -j"$(nproc)" libutil.la libhsm.la libdb.la libaudit.la libnotify.la libca.la libpolicy.la libinventory.la \
			libocsp.la libcrl.la libacme.la libest.la libadmin.la libui.la libserver.la >make.out 2>&1 || { tail -n 30 make.out; exit 1; }
		libs=$(pkg-config --libs libcurl libcares libmicrohttpd gnutls libpkcs11-helper-1 \
			jansson lmdb libcrypto libssl)
		cflags=$(pkg-config --cflags jansson libmicrohttpd gnutls libpkcs11-helper-1)
		mkdir -p bin
		# one target per core at a time (each link is clang alone, waiting on nothing)
		pids="" n=0 failed=0
		for t in $targets; do
			# shellcheck disable=SC2086
			clang -g -O1 -fsanitize=fuzzer $san -DFUZZ_LIBFUZZER -D_GNU_SOURCE -I. $cflags \
				-o bin/"$t" fuzz/fuzz_"$t".c fuzz/common.c .libs/libserver.a .libs/libui.a .libs/libadmin.a .libs/libest.a .libs/libacme.a \
				.libs/libcrl.a .libs/libocsp.a .libs/libpolicy.a .libs/libinventory.a .libs/libca.a .libs/libnotify.a .libs/libaudit.a .libs/libdb.a .libs/libhsm.a .libs/libutil.a \
				$libs -lpthread -ldl &
			pids="$pids $!" n=$((n + 1))
			if [ $n -ge "$(nproc)" ]; then
				for p in $pids; do wait "$p" || failed=1; done
				pids="" n=0
			fi
		done
		for p in $pids; do wait "$p" || failed=1; done
		[ $failed -eq 0 ]
	)
}

# run TARGET SECONDS: prints "TARGET: N executions" and returns libFuzzer's status.
run() {
	t=$1 secs=$2
	mkdir -p "build-fuzz/corpus/$t" "build-fuzz/crashes/$t" "build-fuzz/tmp"
	TMPDIR=$top/build-fuzz/tmp ASAN_OPTIONS="detect_leaks=1:halt_on_error=1" \
		UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
		LSAN_OPTIONS="suppressions=$top/tests/lsan.supp:print_suppressions=0" \
		build-fuzz/bin/"$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len=65536 -print_final_stats=1 -close_fd_mask=3 \
		-artifact_prefix="build-fuzz/crashes/$t/" \
		"build-fuzz/corpus/$t" "fuzz/corpus/$t" >"build-fuzz/$t.out" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build-fuzz/$t.out" | tail -n 1)
	cov=$(grep -Eo 'cov: [0-9]+' "build-fuzz/$t.out" | tail -n 1)
	echo "$t: ${execs:-0} executions in ${secs}s, ${cov:-cov: ?} edges, exit $rc"
	if [ $rc -ne 0 ]; then
		grep -E -A40 'ERROR|==[0-9]+==|fuzz:' "build-fuzz/$t.out" | head -n 60
		ls "build-fuzz/crashes/$t/"
	fi
	return $rc
}

if [ "${1:-}" = "--smoke" ]; then
	secs=${2:-60}
	build || { echo "fuzz build failed"; echo "0 passed, 1 failed"; exit 1; }
	# As many targets at a time as there are cores, each still for SECS; their reports
	# are printed in target order.
	pass=0 fail=0 width=$(nproc)
	set -- $targets
	while [ $# -gt 0 ]; do
		batch="" n=0
		while [ $# -gt 0 ] && [ $n -lt "$width" ]; do
			run "$1" "$secs" >"build-fuzz/$1.report" 2>&1 &
			echo $! >"build-fuzz/$1.pid"
			batch="$batch $1" n=$((n + 1))
			shift
		done
		for t in $batch; do
			if wait "$(cat "build-fuzz/$t.pid")"; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
			cat "build-fuzz/$t.report"
			rm -f "build-fuzz/$t.pid" "build-fuzz/$t.report"
		done
	done
	echo "$pass passed, $fail failed"
	[ $fail -eq 0 ]
	exit
fi

[ $# -eq 2 ] || { echo "usage: scripts/fuzz.sh TARGET SECONDS | --smoke SECONDS | --list" >&2; exit 2; }
echo "$targets" | grep -qx "$1" || { echo "fuzz.sh: no target $1 (have: $(echo $targets))" >&2; exit 2; }
build || exit 1
run "$1" "$2"
