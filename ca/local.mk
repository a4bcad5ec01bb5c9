# SPDX-License-Identifier: MIT
# ca: the issuing core — profiles, CSR checks, X.509 building, issuance.
noinst_LTLIBRARIES += libca.la
libca_la_SOURCES = ca/ca.h ca/ca_int.h \
	ca/profile.c ca/names.c ca/nameset.c ca/csr.c ca/csr_fast.c ca/cert_fast.c ca/request.c ca/pubkey.c ca/build.c ca/selfcert.c ca/record.c ca/supersede.c ca/replace.c ca/issue.c ca/issuers.c ca/rotate.c ca/rollover.c ca/revoke.c ca/inuse.c ca/lint.c \
	ca/constraints.c

check_PROGRAMS += tests/unit/test_ca
TESTS += tests/unit/test_ca
tests_unit_test_ca_SOURCES = tests/unit/test_ca.c tests/unit/ca_fixture.c tests/unit/ca_fixture.h
tests_unit_test_ca_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ca_LDADD = libca.la libnotify.la libaudit.la libdb.la libhsm.la libutil.la $(UNIT_LIBS)

check_PROGRAMS += tests/unit/test_ca_csr
TESTS += tests/unit/test_ca_csr
tests_unit_test_ca_csr_SOURCES = tests/unit/test_ca_csr.c tests/unit/ca_fixture.c tests/unit/ca_fixture.h
tests_unit_test_ca_csr_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ca_csr_LDADD = libca.la libnotify.la libaudit.la libdb.la libhsm.la libutil.la $(UNIT_LIBS)

check_PROGRAMS += tests/unit/test_ca_cert
TESTS += tests/unit/test_ca_cert
tests_unit_test_ca_cert_SOURCES = tests/unit/test_ca_cert.c tests/unit/ca_fixture.c tests/unit/ca_fixture.h
tests_unit_test_ca_cert_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ca_cert_LDADD = libca.la libnotify.la libaudit.la libdb.la libhsm.la libutil.la $(UNIT_LIBS)

check_PROGRAMS += tests/unit/test_ca_lint
TESTS += tests/unit/test_ca_lint
tests_unit_test_ca_lint_SOURCES = tests/unit/test_ca_lint.c
tests_unit_test_ca_lint_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ca_lint_LDADD = libca.la libnotify.la libaudit.la libdb.la libhsm.la libutil.la $(UNIT_LIBS)

check_PROGRAMS += tests/unit/test_ca_issue
TESTS += tests/unit/test_ca_issue
tests_unit_test_ca_issue_SOURCES = tests/unit/test_ca_issue.c tests/unit/ca_fixture.c \
	tests/unit/ca_fixture.h
tests_unit_test_ca_issue_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ca_issue_LDADD = libca.la libnotify.la libaudit.la libdb.la libhsm.la libutil.la $(UNIT_LIBS)
# test_replace_cancel_window puts a cancel right after a campaign's walk of what to revoke
tests_unit_test_ca_issue_LDFLAGS = -Wl,--wrap=db_iterate

check_PROGRAMS += tests/unit/test_ca_constraints
TESTS += tests/unit/test_ca_constraints
tests_unit_test_ca_constraints_SOURCES = tests/unit/test_ca_constraints.c
tests_unit_test_ca_constraints_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ca_constraints_LDADD = libca.la libnotify.la libaudit.la libdb.la libhsm.la libutil.la $(UNIT_LIBS)

check_PROGRAMS += tests/unit/test_ca_build_golden
TESTS += tests/unit/test_ca_build_golden
EXTRA_DIST += tests/unit/ca_build_golden.inc
tests_unit_test_ca_build_golden_SOURCES = tests/unit/test_ca_build_golden.c
tests_unit_test_ca_build_golden_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ca_build_golden_LDADD = libca.la libnotify.la libaudit.la libdb.la libhsm.la libutil.la $(UNIT_LIBS)
