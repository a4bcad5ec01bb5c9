#!/bin/sh
# SPDX-License-Identifier: MIT
# jq as the integration tests call it (lib.sh puts it first in PATH as `jq`). Debian 12's
# jq 1.6 exits 0 under -e / --exit-status when it read no input at all, so a check
# `cmd | jq -e EXPR` passed when cmd printed nothing (it failed, or printed to stderr);
# jq 1.7 exits 4 then. Here, with -e, a run that printed nothing fails with 4: a true last
# value is always printed, so nothing printed means no value was produced.
real=${CAIRN_REAL_JQ:-/usr/bin/jq}
strict=0
for a in "$@"; do
	case $a in
	--exit-status) strict=1 ;;
	--*) ;;
	-*e*) strict=1 ;;
	esac
done
[ "$strict" -eq 1 ] || exec "$real" "$@"
# jq's output goes through a file to learn whether it printed anything; the file goes
# with this script however it ends.
out=$(mktemp "${TMPDIR:-/tmp}/jq_strict.XXXXXX") ||
	{ echo "jq_strict.sh: cannot make a temporary file" >&2; exit 2; }
trap 'rm -f "$out"' EXIT
trap 'exit 130' INT TERM
"$real" "$@" >"$out"
rc=$?
cat "$out"
[ "$rc" -eq 0 ] && [ ! -s "$out" ] && rc=4
exit "$rc"
