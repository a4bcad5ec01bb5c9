# SPDX-License-Identifier: MIT
# est: the EST enrollment server (RFC 7030).
noinst_LTLIBRARIES += libest.la
libest_la_SOURCES = est/est.h est/est_int.h est/settings.c est/users.c est/encode.c est/est.c \
	est/auth.c est/enroll.c

check_PROGRAMS += tests/unit/test_est
TESTS += tests/unit/test_est
tests_unit_test_est_SOURCES = tests/unit/test_est.c
tests_unit_test_est_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_est_LDADD = libest.la libpolicy.la libca.la libnotify.la libaudit.la libdb.la libhsm.la \
	libutil.la $(UNIT_LIBS)

check_PROGRAMS += tests/unit/test_est_pending
TESTS += tests/unit/test_est_pending
tests_unit_test_est_pending_SOURCES = tests/unit/test_est_pending.c tests/unit/ca_fixture.c \
	tests/unit/ca_fixture.h
tests_unit_test_est_pending_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_est_pending_LDADD = libest.la libpolicy.la libca.la libnotify.la libaudit.la libdb.la \
	libhsm.la libutil.la $(UNIT_LIBS)
