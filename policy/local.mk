# SPDX-License-Identifier: MIT
# policy: rules, decisions and the pending-request engine every channel goes through.
noinst_LTLIBRARIES += libpolicy.la
libpolicy_la_SOURCES = policy/policy.h policy/policy_int.h \
	policy/rules.c policy/decide.c policy/input.c policy/engine.c policy/submit.c policy/requests.c \
	policy/request_view.c policy/explain.c policy/expiry.c

check_PROGRAMS += tests/unit/test_policy
TESTS += tests/unit/test_policy
tests_unit_test_policy_SOURCES = tests/unit/test_policy.c tests/unit/ca_fixture.c \
	tests/unit/ca_fixture.h
tests_unit_test_policy_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_policy_LDADD = libpolicy.la libca.la libnotify.la libaudit.la libdb.la libhsm.la libutil.la \
	$(UNIT_LIBS)

EXTRA_DIST += policy/examples/issue-all.json policy/examples/dev-prod.json \
	policy/examples/enterprise.json
