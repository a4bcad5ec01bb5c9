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

san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

# build_libs: build-fuzz/ configured with clang for libFuzzer, its libraries made.
build_libs() {
	sh scripts/deps.sh >/dev/null || return 1
	[ -x configure ] || autoreconf -fi >/dev/null 2>&1 || return 1
	sh scripts/mirror.sh build-fuzz || return 1
	(
		cd build-fuzz || exit 1
		if [ ! -f Makefile ]; then
			./configure -q CC=clang CFLAGS="-g -O1 -fsanitize=fuzzer-no-link $san" \
				>configure.out 2>&1 || { tail -n 20 configure.out; exit 1; }
		fi
		make -j"$(nproc)" libutil.la libhsm.la libdb.la libaudit.la libnotify.la libca.la libpolicy.la libinventory.la \
			libocsp.la libcrl.la libacme.la libest.la libadmin.la libui.la libserver.la >make.out 2>&1 || { tail -n 30 make.out; exit 1; }
	)
}

# link TARGET: build-fuzz/bin/TARGET from fuzz/fuzz_TARGET.c and the libraries (build_libs);
# clang's messages on stdout/stderr.
link() {
	(
		cd build-fuzz || exit 1
		libs=$(pkg-config --libs libcurl libcares libmicrohttpd gnutls libpkcs11-helper-1 \
			jansson lmdb libcrypto libssl)
		cflags=$(pkg-config --cflags jansson libmicrohttpd gnutls libpkcs11-helper-1)
		mkdir -p bin
		# shellcheck disable=SC2086
		clang -g -O1 -fsanitize=fuzzer $san -DFUZZ_LIBFUZZER -D_GNU_SOURCE -I. $cflags \
			-o bin/"$1" fuzz/fuzz_"$1".c fuzz/common.c .libs/libserver.a .libs/libui.a .libs/libadmin.a .libs/libest.a .libs/libacme.a \
			.libs/libcrl.a .libs/libocsp.a .libs/libpolicy.a .libs/libinventory.a .libs/libca.a .libs/libnotify.a .libs/libaudit.a .libs/libdb.a .libs/libhsm.a .libs/libutil.a \
			$libs -lpthread -ldl
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
	build_libs || { echo "fuzz build failed"; echo "0 passed, 1 failed"; exit 1; }
	# As many processes at a time as there are cores: one links the targets one after the
	# other, in target order, while the others fuzz those already linked; once the last is
	# linked, every core fuzzes. Each target still runs for SECS. (Linked two at a time, then
	# fuzzed two at a time, each phase left a core idle in its last round: 11 targets on 2
	# cores took 11 s of links + 6 x 20 s, now about (22 s of links + 11 x 20 s) / 2.)
	# A target that does not link counts as failed, with clang's messages. Reports are
	# printed in target order.
	width=$(nproc)
	st=build-fuzz/smoke
	rm -rf "$st" && mkdir -p "$st" || exit 1
	(
		for t in $targets; do
			link "$t" >"$st/$t.link" 2>&1
			echo $? >"$st/$t.linked"
		done
		: >"$st/.links-done"
	) &
	linker=$!
	n=$(echo "$targets" | wc -w)
	# bounded: each target's SECS, plus 5 minutes each for its link and libFuzzer's start and end
	deadline=$(($(date +%s) + n * (secs + 300)))
	pids=$linker
	while :; do
		running=0 finished=0 next=""
		for t in $targets; do
			if [ ! -e "$st/$t.started" ]; then
				[ -n "$next" ] || next=$t
			elif [ -e "$st/$t.rc" ]; then
				finished=$((finished + 1))
			else
				running=$((running + 1))
			fi
		done
		[ "$finished" -eq "$n" ] && break
		linking=1
		[ -e "$st/.links-done" ] && linking=0
		if [ -n "$next" ] && [ -e "$st/$next.linked" ] && [ $((running + linking)) -lt "$width" ]; then
			: >"$st/$next.started"
			if [ "$(cat "$st/$next.linked")" -ne 0 ]; then
				{ echo "$next: does not link"; tail -n 30 "$st/$next.link"; } >"$st/$next.report"
				echo 1 >"$st/$next.rc"
			else
				(
					run "$next" "$secs" >"$st/$next.report" 2>&1
					echo $? >"$st/$next.rc"
				) &
				pids="$pids $!"
			fi
			continue
		fi
		if [ "$(date +%s)" -gt "$deadline" ]; then
			echo "fuzz smoke: not done within $((n * (secs + 300))) s; stopping"
			for p in $pids; do kill "$p" 2>/dev/null; done
			for t in $targets; do [ -e "$st/$t.rc" ] || echo 1 >"$st/$t.rc"; done
			break
		fi
		sleep 0.1
	done
	for p in $pids; do wait "$p" 2>/dev/null; done
	pass=0 fail=0
	for t in $targets; do
		if [ "$(cat "$st/$t.rc")" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
		cat "$st/$t.report" 2>/dev/null
	done
	echo "$pass passed, $fail failed"
	[ $fail -eq 0 ]
	exit
fi

[ $# -eq 2 ] || { echo "usage: scripts/fuzz.sh TARGET SECONDS | --smoke SECONDS | --list" >&2; exit 2; }
echo "$targets" | grep -qx "$1" || { echo "fuzz.sh: no target $1 (have: $(echo $targets))" >&2; exit 2; }
build_libs || exit 1
link "$1" || exit 1
run "$1" "$2"
