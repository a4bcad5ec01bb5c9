#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what is missing, builds, runs every unit and integration test, and
# ends with the line "N passed, N failed". Exit status 0 only when nothing failed.
#   scripts/test.sh [CONFIGURE-ARGS]   the normal build, in the source tree
#   scripts/test.sh --sanitize         the same suites built with ASan + UBSan in
#                                      build-san/ (a mirror of the sources); every
#                                      sanitizer report counts as a failure
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
reports=""

if [ "${1:-}" = "--sanitize" ]; then
	shift
	sh scripts/build.sh "$@" >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
	sh scripts/mirror.sh build-san || { echo "mirror failed"; echo "0 passed, 1 failed"; exit 1; }
	cd build-san
	if [ ! -f Makefile ]; then
		./configure -q --enable-sanitizers >configure.out 2>&1 ||
			{ tail -n 20 configure.out; echo "0 passed, 1 failed"; exit 1; }
	fi
	reports=$top/build-san/san-reports
	rm -rf "$reports" && mkdir -p "$reports"
	# halt at the first report; reports go to files so that stderr-parsing tests are not
	# disturbed and reports from daemons started in the background are not lost.
	ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:log_path=$reports/asan"
	UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan"
	LSAN_OPTIONS="suppressions=$top/tests/lsan.supp:print_suppressions=0"
	export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
	make -j"$(nproc)" >make.out 2>&1 || { tail -n 30 make.out; echo "0 passed, 1 failed"; exit 1; }
fi

if [ -z "$reports" ]; then
	sh scripts/build.sh "$@" || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
fi

make -j"$(nproc)" check >make-check.out 2>&1
status=$?
grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):' make-check.out || true
if [ $status -ne 0 ]; then
	echo "---- failing logs ----"
	for log in $(grep -lE '^(FAIL|ERROR|XPASS)' tests/unit/*.log tests/integration/*.log 2>/dev/null); do
		echo "== $log"; tail -n 60 "$log"
	done
fi
pass=$(sed -n 's/^# PASS: *//p' test-suite.log 2>/dev/null | head -1)
fail=$(sed -n 's/^# FAIL: *//p' test-suite.log 2>/dev/null | head -1)
error=$(sed -n 's/^# ERROR: *//p' test-suite.log 2>/dev/null | head -1)
xpass=$(sed -n 's/^# XPASS: *//p' test-suite.log 2>/dev/null | head -1)
pass=${pass:-0}
failed=$(( ${fail:-0} + ${error:-0} + ${xpass:-0} ))
if [ $status -ne 0 ] && [ "$failed" -eq 0 ]; then
	tail -n 30 make-check.out
	failed=1
fi
if [ -n "$reports" ]; then
	nrep=0
	for r in "$reports"/*; do
		[ -s "$r" ] || continue
		nrep=$((nrep + 1))
		echo "---- sanitizer report $(basename "$r") ----"
		head -n 60 "$r"
	done
	failed=$((failed + nrep))
	status=$((status + nrep))
fi
echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ] && [ $status -eq 0 ]
