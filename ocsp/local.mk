# SPDX-License-Identifier: MIT
# ocsp: the OCSP responder — request parsing, pre-signed response cache, signing.
noinst_LTLIBRARIES += libocsp.la
libocsp_la_SOURCES = ocsp/ocsp.h ocsp/ocsp_int.h ocsp/respond.c ocsp/cache.c
