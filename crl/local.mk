# SPDX-License-Identifier: MIT
# crl: CRL building (streamed from the revoked index), scheduling and publication.
noinst_LTLIBRARIES += libcrl.la
libcrl_la_SOURCES = crl/crl.h crl/crl_int.h crl/der.c crl/build.c crl/sched.c
