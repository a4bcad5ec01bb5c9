# Tests: every program and script speaks TAP, so the harness counts single cases.
TEST_EXTENSIONS = .sh
TAP_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
LOG_DRIVER = $(TAP_DRIVER)
SH_LOG_DRIVER = $(TAP_DRIVER)
SH_LOG_COMPILER = $(SHELL)
AM_TESTS_ENVIRONMENT = \
	CMOCKA_MESSAGE_OUTPUT=tap; export CMOCKA_MESSAGE_OUTPUT; \
	CAIRN=$(abs_top_builddir)/cairn; export CAIRN; \
	CAIRN_TOOLS=$(abs_top_builddir)/tests; export CAIRN_TOOLS; \
	CAIRN_SRCDIR=$(abs_top_srcdir); export CAIRN_SRCDIR;
UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
UNIT_LIBS = $(CMOCKA_LIBS) $(CAIRN_LIBS)

check_PROGRAMS += tests/unit/test_util
TESTS += tests/unit/test_util
tests_unit_test_util_SOURCES = tests/unit/test_util.c
tests_unit_test_util_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_util_LDADD = libutil.la $(UNIT_LIBS)

EXTRA_DIST += tests/integration/lib.sh tests/tools/jq_strict.sh

# certlint [--ca] [--issuer PEM] [--config cairn.json --profile NAME] CERT...: an independent
# X.509 linter (RFC 5280, CA/B BR in spirit) run over what the integration suites issue.
# notify_fill DIR dead SINK N [FIRST [retry]] | DIR seq N: what a long life leaves in
# notify's tables, written into a stopped daemon's database (notify_dead.sh,
# notify_route.sh, bench/notify_dead.sh).
noinst_PROGRAMS += tests/tools/notify_fill
tests_tools_notify_fill_SOURCES = tests/tools/notify_fill.c
tests_tools_notify_fill_LDADD = libnotify.la libaudit.la libdb.la libutil.la $(CAIRN_LIBS)

# audit_fill DIR N [SERIAL]: N chained cert.issue events appended to a stopped daemon's
# database (audit_page.sh, bench/audit_query.sh).
noinst_PROGRAMS += tests/tools/audit_fill
tests_tools_audit_fill_SOURCES = tests/tools/audit_fill.c
tests_tools_audit_fill_LDADD = libaudit.la libdb.la libutil.la $(CAIRN_LIBS)

noinst_PROGRAMS += tests/tools/certlint
tests_tools_certlint_SOURCES = tests/tools/certlint.c
tests_tools_certlint_LDADD = $(CAIRN_LIBS)

# hang_mdb.so: an LD_PRELOAD shim whose mdb_env_open never returns when CAIRN_TEST_HANG_MDB
# is set (backup.sh: restore's time bound on reading an archive's database). A plain rule:
# libtool here builds static libraries only. Without CFLAGS: a sanitizer build's flags would
# make the shim need the ASan runtime first in the preload list.
noinst_DATA += tests/tools/hang_mdb.so
tests/tools/hang_mdb.so: tests/tools/hang_mdb.c
	@$(MKDIR_P) tests/tools
	$(AM_V_CCLD)$(CC) $(LMDB_CFLAGS) -O2 -Wall -Wextra -shared -fPIC -o $@ \
		$(srcdir)/tests/tools/hang_mdb.c -ldl
CLEANFILES += tests/tools/hang_mdb.so
EXTRA_DIST += tests/tools/hang_mdb.c

# token_plug.so: a PKCS#11 module in front of SoftHSM2 whose token is out while a file
# exists (token_out.sh), whose calls wait while another exists (token_hang.sh), or whose
# lookups of a key just generated wait while a third exists (renew_window.sh). Built
# like hang_mdb.so.
noinst_DATA += tests/tools/token_plug.so
tests/tools/token_plug.so: tests/tools/token_plug.c
	@$(MKDIR_P) tests/tools
	$(AM_V_CCLD)$(CC) $(PKCS11H_CFLAGS) -O2 -Wall -Wextra -shared -fPIC -o $@ \
		$(srcdir)/tests/tools/token_plug.c -ldl
CLEANFILES += tests/tools/token_plug.so
EXTRA_DIST += tests/tools/token_plug.c

# env_guard.so: reports changes of the environment made while a process has threads
# (env_threads.sh). Built like hang_mdb.so.
noinst_DATA += tests/tools/env_guard.so
tests/tools/env_guard.so: tests/tools/env_guard.c
	@$(MKDIR_P) tests/tools
	$(AM_V_CCLD)$(CC) -O2 -Wall -Wextra -shared -fPIC -o $@ \
		$(srcdir)/tests/tools/env_guard.c -ldl
CLEANFILES += tests/tools/env_guard.so
EXTRA_DIST += tests/tools/env_guard.c

# Start-up and request paths independent of the database's size (200k seeded certificates).
# The longest suite (almost 2 minutes under ASan), so it is listed first: `make -jN check`
# starts tests in this order, and last it kept one core busy after the other had finished.
TESTS += tests/integration/scale_start.sh
EXTRA_DIST += tests/integration/scale_start.sh

# The other longest suites (25-60 s each under ASan), next: `make -jN check` starts tests in
# TESTS order, and a long one started last keeps a job slot busy after the others are done. Each
# one's EXTRA_DIST and comment stay with its area below.
TESTS += tests/integration/ui.sh tests/integration/scale_smoke.sh tests/integration/token_hang.sh \
	tests/integration/backup.sh tests/integration/crash.sh tests/integration/hostile.sh \
	tests/integration/acme_clients.sh tests/integration/renew.sh tests/integration/timetravel.sh \
	tests/integration/policy_names.sh tests/integration/revoke.sh tests/integration/acme_commits.sh

TESTS += tests/integration/init.sh tests/integration/issue.sh tests/integration/audit.sh \
	tests/integration/policy.sh tests/integration/admin.sh tests/integration/acme_approval.sh \
	tests/integration/lint.sh tests/integration/est.sh tests/integration/est_binding.sh
EXTRA_DIST += tests/integration/init.sh tests/integration/issue.sh tests/integration/audit.sh \
	tests/integration/policy.sh tests/integration/admin.sh tests/integration/acme_approval.sh \
	tests/integration/crash.sh tests/integration/hostile.sh tests/integration/lint.sh tests/integration/est.sh \
	tests/integration/est_binding.sh

TESTS += tests/integration/ocsp.sh tests/integration/crl.sh tests/integration/ocsp_cache.sh tests/integration/est_login_cache.sh tests/integration/ocsp_workers.sh
EXTRA_DIST += tests/integration/revoke.sh tests/integration/ocsp.sh tests/integration/crl.sh tests/integration/ocsp_cache.sh tests/integration/est_login_cache.sh tests/integration/ocsp_workers.sh
# Admin identities and approvals, the EAB endpoint, the admin profile, TLS versions.
TESTS += tests/integration/authz_admin.sh
EXTRA_DIST += tests/integration/authz_admin.sh

EXTRA_DIST += tests/integration/acme_lib.sh
TESTS += tests/integration/acme_lego.sh
EXTRA_DIST += tests/integration/acme_lego.sh
TESTS += tests/integration/replace.sh tests/integration/replace_resume.sh
EXTRA_DIST += tests/integration/replace.sh tests/integration/replace_resume.sh
TESTS += tests/integration/acme_certbot.sh
EXTRA_DIST += tests/integration/acme_certbot.sh
TESTS += tests/integration/acme_negative.sh
EXTRA_DIST += tests/integration/acme_commits.sh
EXTRA_DIST += tests/integration/acme_negative.sh tests/integration/acme_probe.py
EXTRA_DIST += tests/integration/ocsp_request.py
TESTS += tests/integration/json_bounds.sh
EXTRA_DIST += tests/integration/json_bounds.sh
TESTS += tests/integration/acme_policy.sh
EXTRA_DIST += tests/integration/acme_policy.sh
TESTS += tests/integration/acme_pending.sh
EXTRA_DIST += tests/integration/acme_pending.sh
TESTS += tests/integration/acme_retention.sh tests/integration/request_expiry.sh \
	tests/integration/token_expiry.sh tests/integration/audit_selfcheck.sh
EXTRA_DIST += tests/integration/request_expiry.sh tests/integration/token_expiry.sh \
	tests/integration/audit_selfcheck.sh
EXTRA_DIST += tests/integration/acme_retention.sh tests/integration/acme_retention.py
TESTS += tests/integration/env_threads.sh
EXTRA_DIST += tests/integration/acme_clients.sh
TESTS += tests/integration/rollover_chains.sh
EXTRA_DIST += tests/integration/rollover_chains.sh
EXTRA_DIST += tests/integration/env_threads.sh
TESTS += tests/integration/names.sh
EXTRA_DIST += tests/integration/names.sh
TESTS += tests/integration/crl_fresh.sh tests/integration/health.sh
EXTRA_DIST += tests/integration/crl_fresh.sh tests/integration/health.sh
TESTS += tests/integration/crl_shards.sh
EXTRA_DIST += tests/integration/crl_shards.sh
TESTS += tests/integration/acme_ssrf.sh tests/integration/acme_authz.sh \
	tests/integration/acme_slow_peer.sh
EXTRA_DIST += tests/integration/acme_ssrf.sh tests/integration/acme_authz.sh \
	tests/integration/acme_slow_peer.sh \
	tests/integration/acme_client.py
TESTS += tests/integration/est_authz.sh
EXTRA_DIST += tests/integration/est_authz.sh tests/integration/est_lib.sh
EXTRA_DIST += tests/integration/policy_names.sh
TESTS += tests/integration/requests_view.sh
EXTRA_DIST += tests/integration/requests_view.sh
# Policy decisions whose texts (a UTF-8 CN, a reason) are cut inside a character.
TESTS += tests/integration/policy_text.sh
EXTRA_DIST += tests/integration/policy_text.sh
EXTRA_DIST += tests/integration/backup.sh
# One config validator (config check = serve), docs/config.md = `cairn config keys`.
TESTS += tests/integration/config.sh
EXTRA_DIST += tests/integration/config.sh
# CLI input checks: a private key never sent as a CSR, profiles listed, serials, durations.
TESTS += tests/integration/cli_input.sh
EXTRA_DIST += tests/integration/cli_input.sh

# Events outbox, webhooks (with a loopback receiver that checks signatures), expiry thresholds.
TESTS += tests/integration/notify.sh
EXTRA_DIST += tests/integration/notify.sh tests/integration/webhook_sink.py \
	tests/integration/smtp_sink.py
# E-mail over STARTTLS with AUTH, verified server certificates; owners, approvers, digests, renewals.
TESTS += tests/integration/notify_smtp.sh tests/integration/notify_route.sh
# Receivers that answer slowly, redirect, or serve a certificate that does not verify.
TESTS += tests/integration/notify_slow.sh
EXTRA_DIST += tests/integration/notify_slow.sh
TESTS += tests/integration/notify_dead.sh
EXTRA_DIST += tests/integration/notify_dead.sh
TESTS += tests/integration/audit_page.sh
EXTRA_DIST += tests/integration/audit_page.sh
EXTRA_DIST += tests/integration/notify_smtp.sh tests/integration/notify_route.sh tests/integration/notify_lib.sh \
	tests/integration/smtp_tls_sink.py
EXTRA_DIST += tests/integration/renew.sh tests/integration/timetravel.sh
# `--json` of every read command: the one envelope, values checked with jq; paging.
TESTS += tests/integration/cli_json.sh
EXTRA_DIST += tests/integration/cli_json.sh
# Running as a service: sd_notify readiness and reload, the SIGHUP log line.
TESTS += tests/integration/service.sh
EXTRA_DIST += tests/integration/service.sh tests/integration/notify_socket.py
# make install (DESTDIR, prefix), the .deb in a scratch root, unit, man pages, completion.
TESTS += tests/integration/package.sh
EXTRA_DIST += tests/integration/package.sh scripts/package.sh
# /metrics against the database after a known sequence; docs/alerts.yml through promtool.
TESTS += tests/integration/metrics.sh
EXTRA_DIST += tests/integration/metrics.sh tests/integration/metrics_check.py docs/alerts.yml
# Issuing CA rotation: OCSP and CRLs per issuer, certbot across it, ACME rel=up POST-as-GET, cross-sign.
TESTS += tests/integration/rotate.sh
EXTRA_DIST += tests/integration/rotate.sh
# Under an outside root: init --external-root, ca import-cert and its refusals, name
# constraints on every channel, OCSP and CRL against the imported issuer.
TESTS += tests/integration/extroot.sh
EXTRA_DIST += tests/integration/extroot.sh
# The certificate inventory: import (directory, CSV), owners, reports; TLS discovery.
TESTS += tests/integration/inventory.sh tests/integration/discover.sh
EXTRA_DIST += tests/integration/inventory.sh tests/integration/discover.sh
# The web console (/ui/): sessions, CSRF, CSP with curl; the pages in headless Chromium.
EXTRA_DIST += tests/integration/ui.sh tests/integration/ui_browser.py

# The scale bench's path at N = 20000 (bench/scale.sh runs the large sizes by hand).
EXTRA_DIST += tests/integration/scale_smoke.sh
TESTS += tests/integration/responder.sh
EXTRA_DIST += tests/integration/responder.sh
# The published tree (ocsp.publish, crl.publish, cairn publish) behind a real nginx on loopback.
TESTS += tests/integration/publish.sh
EXTRA_DIST += tests/integration/publish.sh docs/nginx-publish.conf
TESTS += tests/integration/acme_keys.sh
EXTRA_DIST += tests/integration/acme_keys.sh
TESTS += tests/integration/acme_deactivate.sh
EXTRA_DIST += tests/integration/acme_deactivate.sh
# EAB keys and ACME accounts as admins manage them: expiry (libfaketime, restarts), lists, revocation.
TESTS += tests/integration/acme_accounts.sh
EXTRA_DIST += tests/integration/acme_accounts.sh
TESTS += tests/integration/acme_fresh.sh
EXTRA_DIST += tests/integration/acme_fresh.sh

TESTS += tests/integration/healthz_cost.sh
EXTRA_DIST += tests/integration/healthz_cost.sh
# Group commit: the OCSP refresher's stores share the commits of concurrent issuances.
TESTS += tests/integration/group_commit.sh
EXTRA_DIST += tests/integration/group_commit.sh

# The OCSP cache's lifetimes under libfaketime: expiry and replacement of stored answers,
# expired certificates, the signer's rollover, with restarts between clock moves.
TESTS += tests/integration/ocsp_clock.sh
EXTRA_DIST += tests/integration/ocsp_clock.sh
TESTS += tests/integration/clock_back.sh
EXTRA_DIST += tests/integration/clock_back.sh
TESTS += tests/integration/disk_full.sh tests/integration/token_out.sh
# More idle connections than file descriptors: the listeners fitted to the limit.
TESTS += tests/integration/fd_limit.sh
EXTRA_DIST += tests/integration/fd_limit.sh tests/integration/conn_flood.py
# A stderr nobody reads: the log's own thread waits, nothing else.
TESTS += tests/integration/log_blocked.sh
EXTRA_DIST += tests/integration/log_blocked.sh tests/integration/stalled_reader.py
# A token that answers nothing: signatures are waited for token.timeout, no longer.
EXTRA_DIST += tests/integration/token_hang.sh
# A renewal held between recording the new OCSP signer and switching to it (the plug holds
# the new key's lookup): the new signer is never revocable in between.
TESTS += tests/integration/renew_window.sh
EXTRA_DIST += tests/integration/renew_window.sh
# Issuances (admin API, EST) held in the token while their caller's credential is revoked:
# the certificate's own write checks the caller again.
TESTS += tests/integration/auth_window.sh
EXTRA_DIST += tests/integration/auth_window.sh
EXTRA_DIST += tests/integration/disk_full.sh tests/integration/token_out.sh \
	tests/integration/outage_lib.sh
