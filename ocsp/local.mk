# SPDX-License-Identifier: MIT
# ocsp: the OCSP responder — request parsing, pre-signed response cache, signing.
noinst_LTLIBRARIES += libocsp.la
libocsp_la_SOURCES = ocsp/ocsp.h ocsp/ocsp_int.h ocsp/respond.c ocsp/request.c ocsp/cache.c ocsp/refresh.c ocsp/signer.c \
	ocsp/publish.c ocsp/prune.c

check_PROGRAMS += tests/unit/test_ocsp
TESTS += tests/unit/test_ocsp
tests_unit_test_ocsp_SOURCES = tests/unit/test_ocsp.c
tests_unit_test_ocsp_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ocsp_LDADD = libocsp.la libca.la libnotify.la libaudit.la libdb.la libhsm.la libutil.la $(UNIT_LIBS)
