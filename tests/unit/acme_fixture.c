/* SPDX-License-Identifier: MIT */
/* Shared helpers of the acme/ unit tests: keys and JWS made as an ACME client makes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include "tests/unit/acme_fixture.h"
#include "tests/unit/ca_fixture.h"
#include "util/util.h"

json_t *ec_jwk(EVP_PKEY *key)
{
	BIGNUM *x = NULL, *y = NULL;
	uint8_t bx[32], by[32];
	char *x64, *y64;
	json_t *j;

	EVP_PKEY_get_bn_param(key, "qx", &x);
	EVP_PKEY_get_bn_param(key, "qy", &y);
	BN_bn2binpad(x, bx, 32);
	BN_bn2binpad(y, by, 32);
	x64 = b64url_encode(bx, 32);
	y64 = b64url_encode(by, 32);
	j = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", x64, "y", y64);
	free(x64);
	free(y64);
	BN_free(x);
	BN_free(y);
	return j;
}

json_t *sign_jws(EVP_PKEY *key, const char *prot, const char *payload)
{
	char *p64 = b64url_encode((const uint8_t *)prot, strlen(prot));
	char *y64 = b64url_encode((const uint8_t *)payload, strlen(payload));
	char *input = NULL, *s64;
	uint8_t der[80], raw[64];
	size_t dl = sizeof(der);
	const uint8_t *dp = der;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ECDSA_SIG *sig;
	json_t *out;

	assert_true(asprintf(&input, "%s.%s", p64, y64) > 0);
	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
	assert_int_equal(EVP_DigestSign(md, der, &dl, (uint8_t *)input, strlen(input)), 1);
	sig = d2i_ECDSA_SIG(NULL, &dp, (long)dl);
	BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32);
	BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32);
	s64 = b64url_encode(raw, 64);
	out = json_pack("{s:s, s:s, s:s}", "protected", p64, "payload", y64, "signature", s64);
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
	free(p64);
	free(y64);
	free(s64);
	free(input);
	return out;
}

int fixture_acme_open(const char *name, const char *base, char *dir, size_t cap, db_t **db,
		      acme_t **a)
{
	const char *tmp = getenv("TMPDIR");
	cairn_err_t err = { 0 };

	*a = NULL;
	snprintf(dir, cap, "%s/cairn-test-%s-XXXXXX", tmp ? tmp : "/tmp", name);
	if (mkdtemp(dir) == NULL || db_open(dir, db, &err) != 0)
		return -1;
	*a = calloc(1, sizeof(**a));
	if (*a == NULL || acme_nonces_new(&(*a)->nonces) != 0)
		return -1;
	(*a)->db = *db;
	snprintf((*a)->base, sizeof((*a)->base), "%s", base);
	pthread_mutex_init(&(*a)->key_lock, NULL);
	pthread_mutex_init(&(*a)->obj_lock, NULL);
	return 0;
}

void fixture_acme_close(const char *dir, db_t *db, acme_t *a)
{
	if (a != NULL) {
		acme_nonces_free(a->nonces);
		acme_jws_caches_free(a);
		acme_store_cache_free(a);
		pthread_mutex_destroy(&a->key_lock);
		pthread_mutex_destroy(&a->obj_lock);
		free(a);
	}
	db_close(db);
	fixture_rmtree(dir);
}
