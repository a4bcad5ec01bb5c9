noinst_LTLIBRARIES += libacme.la
libacme_la_SOURCES = acme/acme.h acme/acme_int.h acme/acme.c acme/problem.c acme/nonce.c \
	acme/jws.c acme/store.c acme/account.c acme/order.c acme/finalize.c acme/revoke.c \
	acme/eab.c acme/validate.c acme/validate_dns.c acme/validate_tlsalpn.c
