#!/bin/sh
# SPDX-License-Identifier: MIT
# An authorization deactivated (RFC 8555 §7.5.2) while its order's finalize is under way:
# the finalize looked at the authorizations before it signed, and the deactivation commits
# while the signature waits in the token (tests/tools/token_plug.so holds every token call
# while a file exists). The issuance's own write reads them again: nothing is issued on an
# authorization its account gave up. Before, the certificate was issued anyway.
. "$CAIRN_SRCDIR/tests/integration/lib.sh"
. "$CAIRN_SRCDIR/tests/integration/acme_lib.sh"
. "$CAIRN_SRCDIR/tests/integration/outage_lib.sh"

plugged_ca '.token.timeout = 60 | .acme.validation.hosts = {"control.race.test": "127.0.0.1",
	"race.race.test": "127.0.0.1"}'
export CAIRN_TEST_TOKEN_HANG="$WORK/hang" CAIRN_TEST_TOKEN_WAITING="$WORK/waiting"
ca_serve "$D" || bail "serve failed"

acme_probe deactivate_race "the order has no certificate" "$WORK/hang" "$WORK/waiting"
ok "nothing was issued for race.race.test" sh -c \
	"! '$CAIRN' list --dir '$D' --name race.race.test | grep -q race.race.test"
ok "control.race.test was issued" sh -c "'$CAIRN' list --dir '$D' --name control.race.test |
	grep -q control.race.test"
done_testing
