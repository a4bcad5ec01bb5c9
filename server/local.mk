noinst_LTLIBRARIES += libserver.la
libserver_la_SOURCES = server/server.h server/internal.h server/config.c server/config_table.c server/http.c \
	server/routes.c server/daemon.c server/revocation.c server/health.c server/events.c \
	server/tls.c server/renew.c server/lifecycle.c \
	server/metrics.c server/conns.c server/rotate.c server/discover.c server/replace.c server/responder.c \
	server/audit_check.c

check_PROGRAMS += tests/unit/test_config
TESTS += tests/unit/test_config
tests_unit_test_config_SOURCES = tests/unit/test_config.c
tests_unit_test_config_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_config_LDADD = libserver.la libui.la libadmin.la libest.la libacme.la libcrl.la libocsp.la \
	libpolicy.la libinventory.la libca.la \
	libnotify.la libaudit.la libdb.la libhsm.la libutil.la $(UNIT_LIBS)
