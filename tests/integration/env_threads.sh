#!/bin/sh
# SPDX-License-Identifier: MIT
# The daemon changes its environment only while it has one thread. setenv() is not
# thread-safe: beside it, a getenv() in another thread (OpenSSL, libcurl, libfaketime at
# each clock call) may read memory the change frees, and two test daemons died in getenv
# so. tests/tools/env_guard.so reports each change made while a process has threads; the
# daemon runs under libfaketime too, as those two did.
. "$(dirname "$0")/lib.sh"

GUARD=$CAIRN_TOOLS/tools/env_guard.so
[ -f "$GUARD" ] || bail "tests/tools/env_guard.so is not built (make)"
[ -n "$FAKETIME_LIB" ] || bail "libfaketime is not installed (scripts/deps.sh installs faketime)"

# The guard is not blind: a setenv beside a running thread is reported.
LD_PRELOAD=$GUARD CAIRN_TEST_ENV_GUARD=$WORK/control.log python3 -c '
import os, threading, time
t = threading.Thread(target=time.sleep, args=(0.5,)); t.start()
os.environ["CAIRN_GUARD_CONTROL"] = "1"; t.join()'
ok "the guard reports a setenv made beside another thread" \
	grep -q "setenv CAIRN_GUARD_CONTROL [2-9]" "$WORK/control.log"

D=$WORK/ca
LD_PRELOAD=$GUARD CAIRN_TEST_ENV_GUARD=$WORK/init.log ca_init "$D" || bail "init failed"
[ -s "$WORK/init.log" ] && sed 's/^/# /' "$WORK/init.log"
ok "cairn init changes no environment beside a thread" sh -c "! test -s $WORK/init.log"
serve() {
	ca_serve_at "$D" LD_PRELOAD="$GUARD $FAKETIME_LIB" FAKETIME=+0 \
		CAIRN_TEST_ENV_GUARD="$WORK/env.log" || bail "serve failed: $(tail -5 "$D.serve.log")"
}
serve
make_csr h ec:prime256v1 /CN=h.example.test DNS:h.example.test
ok "the daemon issues (the token's SOFTHSM2_CONF was set)" "$CAIRN" issue --dir "$D" \
	--csr "$WORK/h.csr" --profile tls-server --out "$WORK/h.pem"
ok "  ... and answers OCSP for it" openssl ocsp -issuer "$D/ca/issuing.pem" \
	-cert "$WORK/h.pem" -url "$HTTP_URL/ocsp" -CAfile "$D/ca/root.pem"
ca_stop
serve
ok "  ... and again after a restart" curl -sf "$HTTP_URL/healthz" -o /dev/null
ca_stop
[ -s "$WORK/env.log" ] && sed 's/^/# /' "$WORK/env.log"
ok "no change of the environment while the daemon had threads" \
	sh -c "! test -s $WORK/env.log"
done_testing
