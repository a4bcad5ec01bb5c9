noinst_LTLIBRARIES += libserver.la
libserver_la_SOURCES = server/server.h server/internal.h server/config.c server/http.c \
	server/routes.c server/daemon.c
