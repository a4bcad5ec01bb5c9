# hsm: CA keys in a PKCS#11 token (pkcs11-helper for the provider and login, raw sessions for signing).
noinst_LTLIBRARIES += libhsm.la
libhsm_la_SOURCES = hsm/hsm.h hsm/hsm_int.h hsm/hsm.c hsm/session.c hsm/signer.c hsm/keygen.c hsm/pkey.c

check_PROGRAMS += tests/unit/test_hsm
TESTS += tests/unit/test_hsm
tests_unit_test_hsm_SOURCES = tests/unit/test_hsm.c
tests_unit_test_hsm_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_hsm_LDADD = libhsm.la libutil.la $(UNIT_LIBS)
# The signers (a token that hangs: tests/tools/token_plug.so), in a process of their own
# (test_hsm.c says why): test_hsm_signers.c includes test_hsm.c, whose other tests are
# compiled in and not run.
check_PROGRAMS += tests/unit/test_hsm_signers
TESTS += tests/unit/test_hsm_signers
tests_unit_test_hsm_signers_SOURCES = tests/unit/test_hsm_signers.c
EXTRA_DIST += tests/unit/test_hsm.c
tests_unit_test_hsm_signers_CFLAGS = $(UNIT_CFLAGS) -Wno-unused-function
tests_unit_test_hsm_signers_LDADD = libhsm.la libutil.la $(UNIT_LIBS)
