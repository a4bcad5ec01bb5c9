/* SPDX-License-Identifier: MIT */
/* Shared helpers of the acme/ unit tests: keys and JWS made as an ACME client makes them. */
#ifndef CAIRN_TEST_ACME_FIXTURE_H
#define CAIRN_TEST_ACME_FIXTURE_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "acme/acme_int.h"

/* The public JWK of the EC P-256 key, as a client sends it. New reference. */
json_t *ec_jwk(EVP_PKEY *key);
/* A flattened JWS signed by the P-256 key with ES256 over the protected header prot and
 * payload (both JSON text, taken as they are). New reference; fails the test on error. */
json_t *sign_jws(EVP_PKEY *key, const char *prot, const char *payload);

/* An ACME store for a unit test: a new directory below $TMPDIR (or /tmp) named after name,
 * its path in dir (cap bytes), a database in it (*db), and over that database an acme_t
 * (*a) built by hand with base as its URL base: its store, nonces and JWS checks, no CA,
 * policy or validation workers. 0, or -1 (for the test's setup to return). Undone by
 * fixture_acme_close. */
int fixture_acme_open(const char *name, const char *base, char *dir, size_t cap, db_t **db,
		      acme_t **a);
/* Frees a, closes db, removes dir and everything below it. */
void fixture_acme_close(const char *dir, db_t *db, acme_t *a);

#endif
