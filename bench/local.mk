# SPDX-License-Identifier: MIT
# Benchmarks (built with `make`, run by hand; see bench/README.md).
noinst_PROGRAMS += bench/issue_bench
bench_issue_bench_SOURCES = bench/issue.c
bench_issue_bench_LDADD = libca.la libnotify.la libaudit.la libdb.la libhsm.la libutil.la $(CAIRN_LIBS)

EXTRA_DIST += bench/README.md bench/acme_compare.sh bench/acme_sweep.sh

noinst_PROGRAMS += bench/crl_bench
bench_crl_bench_SOURCES = bench/crl.c
bench_crl_bench_LDADD = libcrl.la libca.la libnotify.la libaudit.la libdb.la libhsm.la libutil.la $(CAIRN_LIBS)

noinst_PROGRAMS += bench/db_read_bench
bench_db_read_bench_SOURCES = bench/db_read.c
bench_db_read_bench_LDADD = libdb.la libutil.la $(CAIRN_LIBS)

# The one seeder of bench/ocsp.sh, bench/scale.sh and tests/integration/scale_smoke.sh.
noinst_PROGRAMS += bench/ocsp_seed
bench_ocsp_seed_SOURCES = bench/ocsp_seed.c
bench_ocsp_seed_LDADD = libca.la libnotify.la libaudit.la libdb.la libhsm.la libutil.la $(CAIRN_LIBS)
EXTRA_DIST += bench/ocsp.sh bench/ocsp.lua bench/scale.sh

noinst_PROGRAMS += bench/acme_bench
bench_acme_bench_SOURCES = bench/acme.c
bench_acme_bench_LDADD = libutil.la $(CAIRN_LIBS)

noinst_PROGRAMS += bench/policy_bench
bench_policy_bench_SOURCES = bench/policy.c
bench_policy_bench_LDADD = libpolicy.la libca.la libnotify.la libaudit.la libdb.la libhsm.la libutil.la \
	$(CAIRN_LIBS)

noinst_PROGRAMS += bench/est_bench
bench_est_bench_SOURCES = bench/est.c
bench_est_bench_LDADD = $(CAIRN_LIBS)
EXTRA_DIST += bench/est.sh bench/healthz.sh bench/lib.sh

# The expiry scan over 1M certificates (bench/README.md).
noinst_PROGRAMS += bench/notify_bench
bench_notify_bench_SOURCES = bench/notify.c
bench_notify_bench_LDADD = libnotify.la libaudit.la libdb.la libutil.la $(CAIRN_LIBS)

# What a receiver down for long costs (tests/tools/notify_fill writes its dead letters).
EXTRA_DIST += bench/notify_dead.sh

# GET /audit over a long log (tests/tools/audit_fill writes its events).
EXTRA_DIST += bench/audit_query.sh

noinst_PROGRAMS += bench/metrics_bench
bench_metrics_bench_SOURCES = bench/metrics.c
bench_metrics_bench_LDADD = libdb.la libutil.la $(CAIRN_LIBS)

# The certificate inventory: import 100k certificates from a directory, scan a loopback /24.
noinst_PROGRAMS += bench/inv_gen
bench_inv_gen_SOURCES = bench/inv_gen.c
bench_inv_gen_LDADD = $(CAIRN_LIBS)
EXTRA_DIST += bench/inventory.sh
