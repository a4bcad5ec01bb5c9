noinst_LTLIBRARIES += libdb.la
libdb_la_SOURCES = db/db.h db/db_int.h db/env.c db/writer.c db/table.c db/cert.c db/requester.c db/search.c db/stats.c db/walk.c

check_PROGRAMS += tests/unit/test_db
TESTS += tests/unit/test_db
tests_unit_test_db_SOURCES = tests/unit/test_db.c
tests_unit_test_db_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_db_LDADD = libdb.la libutil.la $(UNIT_LIBS)
