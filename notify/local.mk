noinst_LTLIBRARIES += libnotify.la
libnotify_la_SOURCES = notify/notify.h notify/notify_int.h notify/deliver.h notify/webhook.h notify/smtp.h \
	notify/outbox.c notify/settings.c notify/scan.c notify/webhook.c notify/deliver.c \
	notify/worker.c notify/smtp.c notify/email.c notify/dead.c

check_PROGRAMS += tests/unit/test_notify
TESTS += tests/unit/test_notify
tests_unit_test_notify_SOURCES = tests/unit/test_notify.c tests/unit/db_fixture.c tests/unit/db_fixture.h
tests_unit_test_notify_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_notify_LDADD = libnotify.la libaudit.la libdb.la libutil.la $(UNIT_LIBS)
