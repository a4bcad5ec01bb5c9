# SPDX-License-Identifier: MIT
# Helpers of the notify tests (source after lib.sh, with D the data dir): the notify
# object of cairn.json, bounded waits, serials.

# set_notify JSON: the notify object of $D/cairn.json.
set_notify() { conf_set "$D" notify "$1"; }

# until_ok COMMAND...: until COMMAND succeeds, at most UNTIL_OK_TRIES tries 0.1 s apart
# (default 300: 30 s; no fixed sleeps in the tests).
until_ok() {
	n=0
	until "$@" >/dev/null 2>&1; do
		n=$((n + 1))
		[ $n -gt "${UNTIL_OK_TRIES:-300}" ] && return 1
		sleep 0.1
	done
}

# serial_of PEM: the certificate's serial in lower-case hex.
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f'; }

# smtp_sink NAME [ARGS...]: tests/integration/smtp_tls_sink.py on a free port (in
# $WORK/NAME.port), messages as JSON lines in $WORK/NAME.log.
smtp_sink() {
	sn=$1
	shift
	/usr/bin/python3 "$CAIRN_SRCDIR/tests/integration/smtp_tls_sink.py" "$WORK/$sn.port" \
		"$WORK/$sn.log" "$@" 2>>"$WORK/$sn.err" &
	CAIRN_PIDS="$CAIRN_PIDS $!"
	until_ok test -s "$WORK/$sn.port"
}
