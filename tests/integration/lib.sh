# SPDX-License-Identifier: MIT
# Shared helpers for integration tests: TAP output, a CA in a temp dir, a real
# `cairn serve` on ephemeral loopback ports, and cleanup of what we started.

CAIRN=${CAIRN:-$(pwd)/cairn}
TAP_N=0
TAP_FAILED=0
CAIRN_PIDS=""
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cairn-it.XXXXXX")

# python3 is Debian's, the one scripts/deps.sh installs python3-acme, -cryptography,
# -aiosmtpd and -selenium for, also where a version manager put its own first in PATH
# (a pyenv shim forks ~20 processes and costs ~0.4 s a start; the suites start python3
# several hundred times). A link in $WORK/bin reaches `sh -c` strings and scripts too.
if [ -x /usr/bin/python3 ] && [ "$(command -v python3)" != /usr/bin/python3 ]; then
	mkdir -p "$WORK/bin" && ln -s /usr/bin/python3 "$WORK/bin/python3" &&
		PATH=$WORK/bin:$PATH && export PATH
fi

# jq through tests/tools/jq_strict.sh: jq 1.6's -e exits 0 on no input, so `cmd | jq -e X`
# passed when cmd printed nothing; the wrapper fails that run (4), as jq 1.7 does.
if [ -x /usr/bin/jq ] && [ -x "${CAIRN_SRCDIR:-}/tests/tools/jq_strict.sh" ]; then
	mkdir -p "$WORK/bin" && ln -s "$CAIRN_SRCDIR/tests/tools/jq_strict.sh" "$WORK/bin/jq" &&
		case ":$PATH:" in *":$WORK/bin:"*) ;; *) PATH=$WORK/bin:$PATH && export PATH ;; esac
fi

cleanup() {
	for pid in $CAIRN_PIDS; do
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# tap PASSED DESCRIPTION: one TAP line; a failure shows the tail of the last output.
tap() {
	TAP_N=$((TAP_N + 1))
	if [ "$1" -eq 1 ]; then
		echo "ok $TAP_N - $2"
	else
		echo "not ok $TAP_N - $2"
		sed 's/^/# /' "$WORK/last.out" | tail -n 20
		TAP_FAILED=$((TAP_FAILED + 1))
	fi
}

# ok DESCRIPTION COMMAND...: the command must succeed.
ok() {
	desc=$1
	shift
	if "$@" >"$WORK/last.out" 2>&1; then tap 1 "$desc"; else tap 0 "$desc"; fi
}

# fails DESCRIPTION COMMAND...: the command must exit non-zero.
fails() {
	desc=$1
	shift
	if "$@" >"$WORK/last.out" 2>&1; then tap 0 "$desc (unexpectedly succeeded)"; else tap 1 "$desc"; fi
}

# last_has DESCRIPTION REGEX: the output of the last ok/fails command matches.
last_has() {
	if grep -Eqi -- "$2" "$WORK/last.out"; then tap 1 "$1"; else tap 0 "$1 (no /$2/ in the output)"; fi
}

# last_one_line DESCRIPTION: the last ok/fails command printed exactly one line.
last_one_line() {
	if [ "$(wc -l <"$WORK/last.out")" -eq 1 ]; then tap 1 "$1"; else tap 0 "$1"; fi
}

done_testing() {
	echo "1..$TAP_N"
	[ "$TAP_FAILED" -eq 0 ]
}

# waits FILE REGEX [TENTHS]: until FILE has a line matching REGEX (bounded: TENTHS tenths
# of a second, default 200).
waits() {
	i=0
	until grep -Eq -- "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt "${3:-200}" ] && return 1
		sleep 0.1
	done
}

# waits_for COMMAND...: until COMMAND succeeds (bounded: WAITS_FOR_TENTHS tenths of a
# second, default 150); on time-out prints its last output and fails.
waits_for() {
	_w=0
	until "$@" >"$WORK/waits_for.out" 2>&1; do
		_w=$((_w + 1))
		[ $_w -gt "${WAITS_FOR_TENTHS:-150}" ] && { cat "$WORK/waits_for.out"; return 1; }
		sleep 0.1
	done
}

# served_is URL NAME FILE: GET URL/ca/NAME.crt (DER) is the certificate of FILE (PEM).
served_is() {
	curl -fsS "$1/ca/$2.crt" | openssl x509 -inform DER -noout -fingerprint -sha256 >"$WORK/served.fp" &&
		openssl x509 -in "$3" -noout -fingerprint -sha256 >"$WORK/file.fp" &&
		cmp -s "$WORK/served.fp" "$WORK/file.fp"
}

# bail REASON: stop the whole file (TAP "Bail out!").
bail() {
	echo "Bail out! $1"
	exit 1
}

# Tests move the clock with libfaketime (LD_PRELOAD); in a sanitizer build it then loads
# before the ASan runtime, which works but fails ASan's start-up check: skip that check.
# (Preloading the ASan runtime first instead hangs non-ASan programs such as rm.)
[ -n "${ASAN_OPTIONS:-}" ] && export ASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0"

# The URL in the AIA and CDP of the certificates `cairn init` and `cairn ca import-cert`
# make for a CA on ephemeral ports: on port 0 they refuse without public_urls.http (no
# certificate can name a port picked at each start). No test follows it.
INIT_URL=http://init.invalid
# set_public_http DIR URL: public_urls.http of DIR's cairn.json ("": the daemon's URLs
# follow its listener). The file keeps its mode (0600).
set_public_http() {
	jq --arg u "$2" '.public_urls.http = $u' "$1/cairn.json" >"$1.cairn.json" &&
		cat "$1.cairn.json" >"$1/cairn.json"
}

# ca_init DIR [init options]: a fresh CA on ephemeral loopback ports; its certificates
# name INIT_URL, then public_urls.http is emptied (unless the options gave one) so that
# the daemon's URLs follow its listener. Its /healthz does not depend on the free space
# of the machine's disk (server.disk_min_free_mb 1 MiB, not 256): disk_full.sh tests the
# rule on a disk of its own.
ca_init() {
	d=$1
	shift
	"$CAIRN" init --dir "$d" --listen-https 127.0.0.1:0 --listen-http 127.0.0.1:0 \
		--public-http "$INIT_URL" "$@" >"$d.init.out" 2>&1 &&
		jq --arg p "$INIT_URL" '.server.disk_min_free_mb = 1 |
			if .public_urls.http == $p then .public_urls.http = "" else . end' \
			"$d/cairn.json" >"$d.cairn.json" &&
		cat "$d.cairn.json" >"$d/cairn.json" # the file keeps its mode (0600)
}

# plug_ca [FILTER]: a CA in $WORK/ca (D; ROOT its root) whose token.module is
# tests/tools/token_plug.so (SoftHSM2 behind a plug that the CAIRN_TEST_TOKEN_* variables
# make hold or fail a call: tests/tools/token_plug.c); then the jq FILTER on cairn.json.
plug_ca() {
	PLUG=$CAIRN_TOOLS/tools/token_plug.so
	[ -f "$PLUG" ] || bail "no $PLUG (make builds it)"
	D=$WORK/ca
	ROOT=$D/ca/root.pem
	ca_init "$D" || bail "cairn init failed: $(cat "$D.init.out")"
	jq --arg plug "$PLUG" '.token.module = $plug | '"${1:-.}" "$D/cairn.json" \
		>"$WORK/c.json" && cp "$WORK/c.json" "$D/cairn.json" || bail "cannot edit cairn.json"
}

# ca_serve DIR: starts the daemon, waits for serve.json, sets HTTPS_URL/HTTP_URL/SERVE_PID.
# Its stderr goes to DIR.serve.log, or to $SERVE_ERR when set (log_blocked.sh: a FIFO).
ca_serve() {
	d=$1
	rm -f "$d/serve.json"
	"$CAIRN" serve --dir "$d" 2>>"${SERVE_ERR:-$d.serve.log}" &
	SERVE_PID=$!
	CAIRN_PIDS="$CAIRN_PIDS $SERVE_PID"
	i=0
	while [ ! -s "$d/serve.json" ]; do
		i=$((i + 1))
		if [ $i -gt 300 ] || ! kill -0 "$SERVE_PID" 2>/dev/null; then
			# why, in the test's own log: its last lines as TAP comments
			echo "# no serve.json from the daemon (still running after up to 30 s: $(kill -0 "$SERVE_PID" \
				2>/dev/null && echo yes || echo no)); the end of $d.serve.log:"
			tail -n 20 "$d.serve.log" 2>/dev/null | sed 's/^/#   /'
			return 1
		fi
		sleep 0.1
	done
	HTTPS_URL=$(sed -n 's/.*"https": *"\([^"]*\)".*/\1/p' "$d/serve.json")
	HTTP_URL=$(sed -n 's/.*"http": *"\([^"]*\)".*/\1/p' "$d/serve.json")
}

# FAKETIME_LIB: libfaketime's preload library (scripts/deps.sh installs faketime), the
# thread-safe build. With FAKETIME_TIMESTAMP_FILE and FAKETIME_NO_CACHE the plain build
# re-reads the file at every clock call through one static buffer that it first resets
# to "+0": a thread that reads the clock meanwhile in another thread gets the real time,
# 9 hours back in ui.sh, and libmicrohttpd closes a connection whose clock jumped back
# more than 5 s (a request answered with nothing). libfaketimeMT serialises the calls.
FAKETIME_LIB=$(dpkg -L libfaketime 2>/dev/null | grep -m1 'libfaketimeMT.so.1$')

# clock_set FILE OFFSET: the offset a daemon started with FAKETIME_TIMESTAMP_FILE=FILE
# reads at its next clock call. Written aside and renamed: a reader that opened the file
# while it was being rewritten would see it empty, which libfaketime takes as "+0".
clock_set() {
	printf '%s\n' "$2" >"$1.tmp" && mv -f "$1.tmp" "$1"
}

# ca_serve_at DIR NAME=VALUE...: ca_serve DIR under libfaketime with these settings, e.g.
# FAKETIME=+400d, or FAKETIME_TIMESTAMP_FILE=F FAKETIME_NO_CACHE=1 to move the clock while
# the daemon runs (ASAN_OPTIONS above lets ASan be second in the preload list). The
# settings do not leak into the caller's environment.
ca_serve_at() {
	d=$1
	shift
	[ -n "$FAKETIME_LIB" ] || bail "libfaketime is not installed (scripts/deps.sh installs faketime)"
	export LD_PRELOAD="$FAKETIME_LIB" "$@"
	ca_serve "$d"
	rc=$?
	unset LD_PRELOAD
	for kv in "$@"; do unset "${kv%%=*}"; done
	return $rc
}

# clock_file: a clock that the daemon and every client started through $FT read from the
# file $CLOCK at each call, its offset $OFF seconds (+0 at first): clock_move SECONDS
# changes it under a running daemon, clock_at SECONDS [NAME=VALUE...] restarts the daemon
# of $D on it (with those settings too), clock_now is the time on it.
clock_file() {
	CLOCK=$WORK/clock
	OFF=0
	clock_set "$CLOCK" +0
	FT="env LD_PRELOAD=$FAKETIME_LIB FAKETIME_TIMESTAMP_FILE=$CLOCK FAKETIME_NO_CACHE=1"
}
clock_move() {
	OFF=$1
	clock_set "$CLOCK" "+$OFF"
}
clock_at() {
	[ -n "${SERVE_PID:-}" ] && ca_stop
	clock_move "$1"
	shift
	ca_serve_at "$D" FAKETIME_TIMESTAMP_FILE="$CLOCK" FAKETIME_NO_CACHE=1 "$@" ||
		bail "serve at +$OFF s failed: $(tail -5 "$D.serve.log")"
}
clock_now() { echo $(($(date +%s) + OFF)); }
# next_scan: the clock 11 s on, past the notify worker's next scan when notify.scan_interval
# is 10 s (the least it takes), as the tests set it: the scan emits the expiry events
# (cert, token, ca.expiring of what /healthz reports). The worker reads the clock at each
# poll (notify.poll_ms): waiting for the scan in real time took up to 10 s each time.
next_scan() { clock_move $((OFF + 11)); }

# calm: the daemon ($SERVE_PID) used under half a second of CPU in the next second (utime
# + stime of /proc/PID/stat, in clock ticks): it does not spin.
calm() {
	_a=$(awk '{print $14 + $15}' "/proc/$SERVE_PID/stat")
	sleep 1
	_b=$(awk '{print $14 + $15}' "/proc/$SERVE_PID/stat")
	echo "$((_b - _a)) ticks of CPU in 1 s (CLK_TCK $(getconf CLK_TCK))"
	[ $((_b - _a)) -lt $(($(getconf CLK_TCK) / 2)) ]
}

# ca_stop: SIGTERM to the daemon we started; waits for it.
ca_stop() {
	kill -TERM "$SERVE_PID" 2>/dev/null
	wait "$SERVE_PID"
}

# conf_set DIR KEY JSON: sets the top-level KEY of DIR/cairn.json to the JSON value.
# walked: the daemon's cairn_db_entries_walked_total (every db_iterate entry since start).
walked() { curl -s "$HTTP_URL/metrics" | sed -n 's/^cairn_db_entries_walked_total //p'; }
# quiet: waits (bounded: 120 s) until the daemon's background work is done: two scrapes in
# a row move the walked counter by the same amount (a scrape's own walk).
quiet() {
	i=0 a=$(walked) b=$(walked)
	while :; do
		sleep 1
		c=$(walked)
		[ -n "$c" ] && [ $((c - b)) -eq $((b - a)) ] && return 0
		a=$b b=$c i=$((i + 1))
		[ $i -lt 120 ] || return 1
	done
}

# walk_cost COMMAND...: entries the daemon walked for COMMAND (its output in
# $WORK/walk_cost.out), beyond a scrape's own. A try counts when the scrapes before and
# after it walked the same (no background walk around it); the least of up to 5 such
# tries, since background work during COMMAND can only add; after a disturbed try it waits
# until the daemon is quiet again. "unmeasured" if none counted.
walk_cost() {
	_best=""
	for _t in 1 2 3 4 5; do
		_a=$(walked) _b=$(walked)
		"$@" >"$WORK/walk_cost.out"
		_c=$(walked) _d=$(walked)
		[ $((_d - _c)) -eq $((_b - _a)) ] || { quiet; continue; }
		_v=$(((_c - _b) - (_b - _a)))
		{ [ -z "$_best" ] || [ "$_v" -lt "$_best" ]; } && _best=$_v
	done
	echo "${_best:-unmeasured}"
}

conf_set() {
	python3 - "$1/cairn.json" "$2" "$3" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc[sys.argv[2]] = json.loads(sys.argv[3])
json.dump(doc, open(sys.argv[1], "w"), indent=2)
PY
}

# make_csr NAME KEYSPEC SUBJ [SAN]: writes $WORK/NAME.csr (PEM) and NAME.key; KEYSPEC
# key:FILE signs with the key in FILE instead (no NAME.key).
make_csr() {
	name=$1 keyspec=$2 subj=$3 san=${4:-}
	set -- -new -out "$WORK/$name.csr" -subj "$subj"
	case $keyspec in
	key:*) set -- "$@" -key "${keyspec#key:}" ;;
	*) set -- "$@" -nodes -keyout "$WORK/$name.key" ;;
	esac
	case $keyspec in
	ec:*) set -- "$@" -newkey ec -pkeyopt "ec_paramgen_curve:${keyspec#ec:}" ;;
	rsa:*) set -- "$@" -newkey "rsa:${keyspec#rsa:}" ;;
	ed25519) set -- "$@" -newkey ed25519 ;;
	esac
	[ -n "$san" ] && set -- "$@" -addext "subjectAltName=$san"
	openssl req "$@" 2>/dev/null
}

# lint_db DIR: runs tests/tools/certlint over every certificate stored in DIR's database,
# each with its profile's rules from DIR/cairn.json (the hierarchy init made: CA rules).
# Prints the failures and the count; fails when any certificate fails or none was found.
# Certificates that take the same rules are linted by one certlint run (it takes many):
# certlint and openssl started once per certificate made this the longest step of several
# files (15 s of crash.sh's 30).
lint_db() {
	d=$1 _ld=$WORK/lint
	rm -rf "$_ld" && mkdir "$_ld" || return 1
	"$CAIRN" list --dir "$d" --json 2>/dev/null |
		jq -r '.items[] | "\(.serial) \(.profile)"' >"$_ld/list"
	while read -r serial prof; do
		"$CAIRN" show --dir "$d" --pem "$serial" >"$_ld/$serial.pem" 2>"$_ld/show" ||
			sed "s/^/# cairn show $serial: /" "$_ld/show"
	done <"$_ld/list"
	# Every issuing CA (init's and those of rotations) and every root, by subject: a
	# certificate is checked against the one that issued it.
	while read -r serial prof; do
		case $prof in ca-issuing | ca-root) ;; *) continue ;; esac
		echo "$prof $_ld/$serial.pem $(openssl x509 -in "$_ld/$serial.pem" -noout -subject \
			-nameopt RFC2253 2>/dev/null | sed 's/^subject/issuer/')"
	done <"$_ld/list" | sort -k2,2 >"$_ld/cas"
	while read -r serial prof; do
		want=$(openssl x509 -in "$_ld/$serial.pem" -noout -issuer -nameopt RFC2253 2>/dev/null)
		iss=$(lint_issuer ca-issuing "$d/ca/issuing.pem")
		case $prof in
		ca-root) _args=--ca ;;
		ca-issuing) _args="--ca --issuer $d/ca/root.pem" ;;
		# A cross-certificate of a root rollover: issued by one of the self-signed roots.
		ca-cross) _args="--ca --issuer $(lint_issuer ca-root "$d/ca/root.pem")" ;;
		ocsp-signer) _args="--issuer $iss" ;;
		# The daemon's own HTTPS certificate from init: no profile, 825 days at most.
		daemon-tls) _args="--issuer $iss --max-days 825" ;;
		*) _args="--issuer $iss --config $d/cairn.json --profile $prof" ;;
		esac
		printf '%s\t%s\n' "$_args" "$_ld/$serial.pem"
	done <"$_ld/list" | sort >"$_ld/runs"
	# One certlint run per set of rules; a certificate passed when certlint said "ok" of it.
	cut -f1 "$_ld/runs" | uniq | while read -r _args; do
		# shellcheck disable=SC2046,SC2086 # options and files: paths without spaces
		"$CAIRN_TOOLS/tools/certlint" $_args $(awk -F '\t' -v a="$_args" '$1 == a { print $2 }' \
			"$_ld/runs") 2>&1
	done >"$_ld/out"
	grep -v ': ok$' "$_ld/out"
	n=$(wc -l <"$_ld/list")
	nbad=$((n - $(grep -c ': ok$' "$_ld/out")))
	echo "certlint: $n certificates, $nbad failed"
	[ "$n" -gt 0 ] && [ "$nbad" -eq 0 ]
}

# lint_issuer KIND DEFAULT (lint_db): the file of the CA certificate of KIND (ca-issuing,
# ca-root) whose subject is $want (the last one in file order), else DEFAULT.
lint_issuer() {
	_f=$(want=$want awk -v k="$1" '$1 == k && substr($0, length($1 $2) + 3) == ENVIRON["want"] {
		f = $2 } END { print f }' "$_ld/cas")
	echo "${_f:-$2}"
}
