noinst_LTLIBRARIES += libadmin.la
libadmin_la_SOURCES = admin/admin.h admin/token.c admin/api.c
