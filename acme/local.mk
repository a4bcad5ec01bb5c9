noinst_LTLIBRARIES += libacme.la
libacme_la_SOURCES = acme/acme.h acme/acme_int.h acme/acme.c acme/problem.c acme/nonce.c \
	acme/jws.c acme/store.c acme/account.c acme/order.c acme/finalize.c acme/revoke.c \
	acme/eab.c acme/status.c acme/validate.c acme/validate_http.c acme/validate_dns.c \
	acme/validate_tlsalpn.c acme/sweep.c

check_PROGRAMS += tests/unit/test_acme
TESTS += tests/unit/test_acme
tests_unit_test_acme_SOURCES = tests/unit/test_acme.c tests/unit/acme_fixture.c \
	tests/unit/acme_fixture.h tests/unit/ca_fixture.c tests/unit/ca_fixture.h
tests_unit_test_acme_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_acme_LDADD = libacme.la libpolicy.la libca.la libnotify.la libaudit.la libdb.la libhsm.la \
	libutil.la $(UNIT_LIBS)

check_PROGRAMS += tests/unit/test_acme_status
TESTS += tests/unit/test_acme_status
tests_unit_test_acme_status_SOURCES = tests/unit/test_acme_status.c tests/unit/acme_fixture.c \
	tests/unit/acme_fixture.h tests/unit/ca_fixture.c tests/unit/ca_fixture.h
tests_unit_test_acme_status_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_acme_status_LDADD = $(tests_unit_test_acme_LDADD)

# test_acme_window revokes or deactivates an account between its request's JWS check and
# the request's first write (-Wl,--wrap=db_write): update, deactivation, keyChange
check_PROGRAMS += tests/unit/test_acme_window
TESTS += tests/unit/test_acme_window
tests_unit_test_acme_window_SOURCES = tests/unit/test_acme_window.c tests/unit/acme_fixture.c \
	tests/unit/acme_fixture.h tests/unit/ca_fixture.c tests/unit/ca_fixture.h
tests_unit_test_acme_window_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_acme_window_LDADD = $(tests_unit_test_acme_LDADD)
tests_unit_test_acme_window_LDFLAGS = -Wl,--wrap=db_write

# test_acme_caa answers CAA queries from a DNS server in the test's own process, records
# written byte by byte (no UTF-8, controls, one that does not parse)
check_PROGRAMS += tests/unit/test_acme_caa
TESTS += tests/unit/test_acme_caa
tests_unit_test_acme_caa_SOURCES = tests/unit/test_acme_caa.c
tests_unit_test_acme_caa_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_acme_caa_LDADD = $(tests_unit_test_acme_LDADD)
