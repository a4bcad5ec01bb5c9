# SPDX-License-Identifier: MIT
# est: the EST enrollment server (RFC 7030).
noinst_LTLIBRARIES += libest.la
libest_la_SOURCES = est/est.h est/est_int.h est/settings.c est/users.c est/encode.c est/est.c \
	est/enroll.c
