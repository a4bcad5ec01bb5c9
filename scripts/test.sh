#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what is missing, builds, runs every unit and integration test, and
# ends with the line "N passed, N failed". Exit status 0 only when nothing failed.
set -u
cd "$(dirname "$0")/.."
sh scripts/build.sh "$@" || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

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
echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ] && [ $status -eq 0 ]
