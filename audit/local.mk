noinst_LTLIBRARIES += libaudit.la
libaudit_la_SOURCES = audit/audit.h audit/audit_int.h audit/audit.c audit/export.c \
	audit/checkpoint.c audit/verify_export.c

check_PROGRAMS += tests/unit/test_audit
TESTS += tests/unit/test_audit
tests_unit_test_audit_SOURCES = tests/unit/test_audit.c
tests_unit_test_audit_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_audit_LDADD = libaudit.la libdb.la libutil.la $(UNIT_LIBS)

# audit_tamper DBDIR SEQ [OFFSET]: flips a byte of a stored event (integration tests).
noinst_PROGRAMS += tests/tools/audit_tamper
tests_tools_audit_tamper_SOURCES = tests/tools/audit_tamper.c
tests_tools_audit_tamper_LDADD = libdb.la libutil.la $(CAIRN_LIBS)

# Checkpoints and export verification (certificates made with ca/ in the test).
check_PROGRAMS += tests/unit/test_audit_export
TESTS += tests/unit/test_audit_export
tests_unit_test_audit_export_SOURCES = tests/unit/test_audit_export.c
tests_unit_test_audit_export_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_audit_export_LDADD = libca.la libaudit.la libdb.la libhsm.la libutil.la \
	$(UNIT_LIBS)
