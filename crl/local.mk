# SPDX-License-Identifier: MIT
# crl: CRL building (streamed from the revoked index), scheduling and publication.
noinst_LTLIBRARIES += libcrl.la
libcrl_la_SOURCES = crl/crl.h crl/crl_int.h crl/der.c crl/build.c crl/publish.c crl/adopt.c \
	crl/open.c crl/sched.c crl/serve.c

check_PROGRAMS += tests/unit/test_crl
TESTS += tests/unit/test_crl
tests_unit_test_crl_SOURCES = tests/unit/test_crl.c
tests_unit_test_crl_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_crl_LDADD = libcrl.la libca.la libnotify.la libaudit.la libdb.la libhsm.la libutil.la $(UNIT_LIBS)
