# SPDX-License-Identifier: MIT
# Benchmarks (built with `make`, run by hand; see bench/README.md).
noinst_PROGRAMS += bench/issue_bench
bench_issue_bench_SOURCES = bench/issue.c
bench_issue_bench_LDADD = libca.la libaudit.la libdb.la libhsm.la libutil.la $(CAIRN_LIBS)

EXTRA_DIST += bench/README.md bench/acme_compare.sh

noinst_PROGRAMS += bench/acme_bench
bench_acme_bench_SOURCES = bench/acme.c
bench_acme_bench_LDADD = libutil.la $(CAIRN_LIBS)
