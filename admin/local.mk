noinst_LTLIBRARIES += libadmin.la
libadmin_la_SOURCES = admin/admin.h admin/admin_int.h admin/token.c admin/admins.c admin/api.c \
	admin/api_util.c admin/api_requests.c admin/api_manage.c admin/api_certs.c admin/api_audit.c \
	admin/revoke.c admin/api_notify.c admin/api_renew.c admin/api_inventory.c admin/session.c \
	admin/api_replace.c admin/token_expiry.c

check_PROGRAMS += tests/unit/test_admin
TESTS += tests/unit/test_admin
tests_unit_test_admin_SOURCES = tests/unit/test_admin.c
tests_unit_test_admin_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_admin_LDADD = libadmin.la libest.la libacme.la libpolicy.la libinventory.la libca.la libnotify.la libaudit.la libdb.la \
	libhsm.la libutil.la $(UNIT_LIBS)

# test_admin_window puts a token revocation, an admin certificate's revocation or hold, or
# an admin's disable between a route's credential check and its first write
# (-Wl,--wrap=db_write)
check_PROGRAMS += tests/unit/test_admin_window
TESTS += tests/unit/test_admin_window
tests_unit_test_admin_window_SOURCES = tests/unit/test_admin_window.c tests/unit/ca_fixture.c \
	tests/unit/ca_fixture.h
tests_unit_test_admin_window_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_admin_window_LDADD = $(tests_unit_test_admin_LDADD)
tests_unit_test_admin_window_LDFLAGS = -Wl,--wrap=db_write
