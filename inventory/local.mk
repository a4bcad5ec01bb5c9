# SPDX-License-Identifier: MIT
# inventory: certificates cairn did not issue — import, owners, reports, TLS discovery.
noinst_LTLIBRARIES += libinventory.la
libinventory_la_SOURCES = inventory/inventory.h inventory/inventory_int.h inventory/record.c \
	inventory/store.c inventory/report.c inventory/format.c inventory/discover.c \
	inventory/expiry.c

check_PROGRAMS += tests/unit/test_inventory
TESTS += tests/unit/test_inventory
tests_unit_test_inventory_SOURCES = tests/unit/test_inventory.c tests/unit/db_fixture.c tests/unit/db_fixture.h
tests_unit_test_inventory_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_inventory_LDADD = libinventory.la libca.la libnotify.la libaudit.la libdb.la libhsm.la \
	libutil.la $(UNIT_LIBS)
