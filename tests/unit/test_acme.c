/* SPDX-License-Identifier: MIT */
/* Unit tests for acme/: JWK thumbprints (RFC 7638 vector), JWK parsing limits, inner JWS checks, nonces, problems. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "acme/acme_int.h"
#include "tests/unit/acme_fixture.h"

/* RFC 7638 §3.1 example key and its thumbprint. */
static const char *rfc7638_jwk =
	"{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\",\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}";

static void test_thumbprint_rfc7638(void **state)
{
	json_t *jwk = json_loads(rfc7638_jwk, 0, NULL);
	char t[64];
	(void)state;

	assert_non_null(jwk);
	assert_int_equal(acme_jwk_thumbprint(jwk, t, sizeof(t)), 0);
	assert_string_equal(t, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	json_decref(jwk);
}

static void test_jwk_rsa_parses(void **state)
{
	json_t *jwk = json_loads(rfc7638_jwk, 0, NULL);
	char why[128] = "";
	EVP_PKEY *pk = acme_jwk_to_pkey(jwk, why, sizeof(why));
	(void)state;

	assert_non_null(pk);
	assert_int_equal(EVP_PKEY_get_bits(pk), 2048);
	EVP_PKEY_free(pk);
	json_decref(jwk);
}

static void test_jwk_refusals(void **state)
{
	static const char *bad[] = {
		"{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"}",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}",
		"{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AAAA\"}",
		"{\"kty\":\"oct\",\"k\":\"AAAA\"}",
		"{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",
		"{\"crv\":\"P-256\"}",
		"[]",
	};
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *jwk = json_loads(bad[i], 0, NULL);
		char why[128] = "";
		EVP_PKEY *pk = acme_jwk_to_pkey(jwk, why, sizeof(why));
		assert_null(pk);
		assert_true(why[0] != '\0');
		json_decref(jwk);
	}
}

/* An RSA JWK of the big-endian octets n and e, base64url-encoded as they are. */
static json_t *rsa_jwk(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen)
{
	char *n64 = b64url_encode(n, nlen), *e64 = b64url_encode(e, elen);
	json_t *j = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", n64, "e", e64);

	free(n64);
	free(e64);
	return j;
}

/* 1 when acme_jwk_to_pkey takes the RSA JWK of n and e; a refusal must say why. */
static int rsa_accepted(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen)
{
	json_t *jwk = rsa_jwk(n, nlen, e, elen);
	char why[160] = "";
	EVP_PKEY *pk = acme_jwk_to_pkey(jwk, why, sizeof(why));
	int ok = pk != NULL;

	if (!ok)
		assert_true(why[0] != '\0');
	EVP_PKEY_free(pk);
	json_decref(jwk);
	return ok;
}

/* RFC 7518 §6.3.1: n and e in minimal octets (a zero byte in front is another
 * thumbprint, so another account, for the same key); the size is the modulus's bits,
 * not its octets; e must be odd and at least 65537 (e = 1 makes any payload verify). */
static void test_jwk_rsa_members(void **state)
{
	json_t *ref = json_loads(rfc7638_jwk, 0, NULL);
	const char *n64 = json_string_value(json_object_get(ref, "n"));
	static const uint8_t e65537[] = { 1, 0, 1 }, e_padded[] = { 0, 1, 0, 1 };
	static const uint8_t e1[] = { 1 }, e3[] = { 3 }, e_even[] = { 1, 0, 2 };
	static const uint8_t e_big_ok[] = { 1, 0, 0, 0, 1 };
	static const uint8_t e_too_long[] = { 1, 0, 0, 0, 0, 0, 0, 0, 1 };
	uint8_t *n = NULL, padded[257], small[256];
	size_t nlen = 0;
	(void)state;

	assert_int_equal(b64url_decode(n64, strlen(n64), &n, &nlen), 0);
	assert_int_equal(nlen, 256);
	assert_true(rsa_accepted(n, nlen, e65537, sizeof(e65537)));
	assert_true(rsa_accepted(n, nlen, e_big_ok, sizeof(e_big_ok)));
	/* the same key with a zero byte in front of n or e */
	padded[0] = 0;
	memcpy(padded + 1, n, nlen);
	assert_false(rsa_accepted(padded, sizeof(padded), e65537, sizeof(e65537)));
	assert_false(rsa_accepted(n, nlen, e_padded, sizeof(e_padded)));
	/* a 512-bit modulus padded with zero bytes to 256 octets */
	memset(small, 0, sizeof(small));
	memcpy(small + 192, n, 64);
	assert_false(rsa_accepted(small, sizeof(small), e65537, sizeof(e65537)));
	/* 256 octets without a zero in front, but 2041 bits */
	memcpy(small, n, nlen);
	small[0] = 0x01;
	assert_false(rsa_accepted(small, sizeof(small), e65537, sizeof(e65537)));
	/* exponents: 1, 3, even, more than 8 octets */
	assert_false(rsa_accepted(n, nlen, e1, sizeof(e1)));
	assert_false(rsa_accepted(n, nlen, e3, sizeof(e3)));
	assert_false(rsa_accepted(n, nlen, e_even, sizeof(e_even)));
	assert_false(rsa_accepted(n, nlen, e_too_long, sizeof(e_too_long)));
	free(n);
	json_decref(ref);
}

static void test_inner_jws(void **state)
{
	EVP_PKEY *key = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256");
	json_t *jwk = ec_jwk(key), *wrong = ec_jwk(other), *ph = NULL, *pl = NULL, *jws;
	acme_t a = { 0 };
	char why[256] = "";
	(void)state;

	a.json.max_depth = 4;

	jws = sign_jws(key, "{\"alg\":\"ES256\",\"url\":\"https://x/acme/key-change\"}",
		       "{\"account\":\"a\"}");
	assert_int_equal(acme_jws_check_inner(&a, jws, jwk, &ph, &pl, why, sizeof(why)), 0);
	assert_string_equal(json_string_value(json_object_get(pl, "account")), "a");
	json_decref(ph);
	json_decref(pl);
	/* the same JWS checked with another key fails */
	assert_int_not_equal(acme_jws_check_inner(&a, jws, wrong, &ph, &pl, why, sizeof(why)), 0);
	assert_null(ph);
	json_decref(jws);
	/* unsupported alg */
	jws = sign_jws(key, "{\"alg\":\"HS256\",\"url\":\"u\"}", "{}");
	assert_int_not_equal(acme_jws_check_inner(&a, jws, jwk, &ph, &pl, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "alg"));
	json_decref(jws);
	/* duplicate keys in the protected header are refused */
	jws = sign_jws(key, "{\"alg\":\"ES256\",\"alg\":\"ES256\",\"url\":\"u\"}", "{}");
	assert_int_not_equal(acme_jws_check_inner(&a, jws, jwk, &ph, &pl, why, sizeof(why)), 0);
	json_decref(jws);
	/* a validly signed inner payload nested deeper than the bound is refused */
	jws = sign_jws(key, "{\"alg\":\"ES256\",\"url\":\"u\"}", "{\"a\":[[[[1]]]]}");
	assert_int_not_equal(acme_jws_check_inner(&a, jws, jwk, &ph, &pl, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "deeper than 4"));
	assert_null(pl);
	json_decref(jws);
	json_decref(jwk);
	json_decref(wrong);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

static void test_nonces_single_use(void **state)
{
	acme_nonces_t *n = NULL;
	char a[40], b[40];
	(void)state;

	assert_int_equal(acme_nonces_new(&n), 0);
	assert_int_equal(acme_nonce_make(n, a, sizeof(a)), 0);
	assert_int_equal(acme_nonce_make(n, b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(acme_nonce_use(n, a), 1);
	assert_int_equal(acme_nonce_use(n, a), 0);
	assert_int_equal(acme_nonce_use(n, "not-a-nonce"), 0);
	assert_int_equal(acme_nonce_use(n, b), 1);
	acme_nonces_free(n);
}

static void test_problem_subproblems(void **state)
{
	http_reply_t r = { 0 };
	json_t *doc, *id = json_pack("{s:s, s:s}", "type", "dns", "value", "x");
	json_t *subs = json_pack("[o]", acme_problem_obj("rejectedIdentifier", "bad", id));
	(void)state;

	acme_problem_sub(&r, 400, "rejectedIdentifier", subs, "%d refused", 1);
	assert_int_equal(r.status, 400);
	assert_string_equal(r.content_type, "application/problem+json");
	doc = json_loadb(r.body, r.body_len, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(doc, "type")),
			    "urn:ietf:params:acme:error:rejectedIdentifier");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
				    json_array_get(json_object_get(doc, "subproblems"), 0),
				    "identifier"), "value")),
			    "x");
	json_decref(doc);
	json_decref(id);
	http_reply_clear(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thumbprint_rfc7638),
		cmocka_unit_test(test_jwk_rsa_parses),
		cmocka_unit_test(test_jwk_refusals),
		cmocka_unit_test(test_jwk_rsa_members),
		cmocka_unit_test(test_inner_jws),
		cmocka_unit_test(test_nonces_single_use),
		cmocka_unit_test(test_problem_subproblems),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
