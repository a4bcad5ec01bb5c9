/* SPDX-License-Identifier: MIT */
/* Unit tests for the stored-certificate fast path (ca/cert_fast.c): cairn's certificates take it without OpenSSL's provider decoder walk, and every other or damaged certificate decodes exactly as d2i_X509 decodes it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "util/util.h"

#include "tests/unit/ca_fixture.h"

enum { BOTH_REFUSE = -1, GENERIC = 0, FAST = 1 };

/* The names of x through the one extractor, compared field by field with y's. */
static void same_names(X509 *x, X509 *y)
{
	cairn_err_t e1 = { 0 }, e2 = { 0 };
	ca_names_t a, b;
	int r1, r2;

	/* A refusal's message ends with OpenSSL's queued error, if any: start both from an
	 * empty queue. */
	ERR_clear_error();
	r1 = ca_names_from_cert(x, &a, &e1);
	ERR_clear_error();
	r2 = ca_names_from_cert(y, &b, &e2);

	assert_int_equal(r1, r2);
	assert_string_equal(e1.msg, e2.msg);
	if (r1 != 0)
		return;
	assert_true((a.cn == NULL && b.cn == NULL) ||
		    (a.cn != NULL && b.cn != NULL && strcmp(a.cn, b.cn) == 0));
	assert_true((a.o == NULL && b.o == NULL) ||
		    (a.o != NULL && b.o != NULL && strcmp(a.o, b.o) == 0));
	assert_int_equal(a.n_san, b.n_san);
	assert_true(ca_names_same_sans(&a, &b));
	ca_names_clear(&a);
	ca_names_clear(&b);
}

static void same_key(X509 *x, X509 *y)
{
	EVP_PKEY *a = X509_get0_pubkey(x), *b = X509_get0_pubkey(y);
	unsigned char *da = NULL, *db = NULL;
	int na, nb;

	assert_true((a == NULL) == (b == NULL));
	if (a == NULL)
		return;
	assert_int_equal(EVP_PKEY_eq(a, b), 1);
	na = i2d_PUBKEY(a, &da);
	nb = i2d_PUBKEY(b, &db);
	assert_true(na > 0);
	assert_int_equal(na, nb);
	assert_memory_equal(da, db, (size_t)na);
	OPENSSL_free(da);
	OPENSSL_free(db);
}

/*
 * d2i_X509 and ca_cert_d2i on the same bytes: the same verdict, the same advance, and
 * for a certificate the same encoding, names, key, extension flags and signature check
 * (under ikey, may be NULL). FAST when ca_cert_d2i built the key itself (a legacy key)
 * and set up no provider decoder doing so, GENERIC when it decoded the generic way,
 * BOTH_REFUSE.
 */
static int same(const uint8_t *der, size_t len, EVP_PKEY *ikey)
{
	const unsigned char *p1 = der, *p2 = der;
	unsigned char *e1 = NULL, *e2 = NULL;
	uint64_t walks;
	X509 *a, *b;
	EVP_PKEY *kb;
	int n1, n2, fast;

	a = d2i_X509(NULL, &p1, (long)len);
	walks = fixture_decoder_walks();
	b = ca_cert_d2i(&p2, (long)len);
	assert_ptr_equal(p1, p2);
	if (a == NULL) {
		assert_null(b);
		return BOTH_REFUSE;
	}
	assert_non_null(b);
	n1 = i2d_X509(a, &e1);
	n2 = i2d_X509(b, &e2);
	assert_true(n1 > 0);
	assert_int_equal(n1, n2);
	assert_memory_equal(e1, e2, (size_t)n1);
	assert_int_equal(X509_cmp(a, b), 0);
	assert_int_equal(X509_get_extension_flags(a), X509_get_extension_flags(b));
	assert_int_equal(X509_get_signature_nid(a), X509_get_signature_nid(b));
	same_names(a, b);
	same_key(a, b);
	if (ikey != NULL)
		assert_int_equal(X509_verify(a, ikey), X509_verify(b, ikey));
	kb = X509_get0_pubkey(b);
	fast = kb != NULL && EVP_PKEY_get0_provider(kb) == NULL;
	/* The generic decoder never hands out a legacy key. */
	assert_true(X509_get0_pubkey(a) == NULL || EVP_PKEY_get0_provider(X509_get0_pubkey(a)));
	OPENSSL_free(e1);
	OPENSSL_free(e2);
	X509_free(a);
	X509_free(b);
	if (fast)
		assert_true(fixture_decoder_walks() == walks);
	return fast ? FAST : GENERIC;
}

typedef struct fixture {
	EVP_PKEY *root_key;
	X509 *root;
} fixture_t;

static int setup(void **state)
{
	fixture_t *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->root_key = EVP_EC_gen("P-384");
	assert_non_null(f->root_key);
	f->root = build_ca("Cert Test Root", 3650, 0, NULL, f->root_key, f->root_key, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture_t *f = *state;

	X509_free(f->root);
	EVP_PKEY_free(f->root_key);
	free(f);
	return 0;
}

/* A server certificate as cairn issues it (ca_cert_build: SANs, EKU, AIA, CRL DP, SKI,
 * AKI), for pub, signed by the root. DER, OPENSSL_free. */
static uint8_t *leaf(fixture_t *f, EVP_PKEY *pub, size_t *len)
{
	static const char *const eku[] = { "1.3.6.1.5.5.7.3.1", NULL };
	GENERAL_NAMES *sans = sk_GENERAL_NAME_new_null();
	ca_cert_spec_t spec;
	cairn_err_t err = { 0 };
	uint8_t *der = NULL;
	X509 *x = NULL;
	int n;

	assert_non_null(sans);
	assert_true(sk_GENERAL_NAME_push(sans, a2i_GENERAL_NAME(NULL, NULL, NULL, GEN_DNS,
								"www.example.test", 0)) > 0);
	assert_true(sk_GENERAL_NAME_push(sans, a2i_GENERAL_NAME(NULL, NULL, NULL, GEN_DNS,
								"Example.TEST", 0)) > 0);
	assert_true(sk_GENERAL_NAME_push(sans, a2i_GENERAL_NAME(NULL, NULL, NULL, GEN_IPADD,
								"192.0.2.7", 0)) > 0);
	memset(&spec, 0, sizeof(spec));
	spec.subject_cn = "www.example.test";
	spec.validity_days = 90;
	spec.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
	spec.eku = eku;
	spec.sans = sans;
	spec.ocsp_url = "http://127.0.0.1:1/ocsp";
	spec.ca_issuers_url = "http://127.0.0.1:1/ca.crt";
	spec.crl_url = "http://127.0.0.1:1/crl";
	if (ca_cert_build(&spec, f->root, f->root_key, pub, &x, &err) != 0)
		fail_msg("ca_cert_build: %s", cairn_err_msg(&err));
	n = i2d_X509(x, &der);
	assert_true(n > 0);
	*len = (size_t)n;
	X509_free(x);
	GENERAL_NAMES_free(sans);
	return der;
}

static int same_leaf(fixture_t *f, EVP_PKEY *pub)
{
	size_t len;
	uint8_t *der = leaf(f, pub, &len);
	int r = same(der, len, f->root_key);

	OPENSSL_free(der);
	return r;
}

/* cairn's own certificates, for the keys it issues to, take the fast path: no provider
 * decoder is set up (d2i_X509 sets one up for each). */
static void test_issued_keys_fast(void **state)
{
	fixture_t *f = *state;
	EVP_PKEY *keys[] = { EVP_EC_gen("P-256"), EVP_EC_gen("P-384"),
			     EVP_RSA_gen(2048), EVP_RSA_gen(3072) };
	const unsigned char *p;
	uint64_t w0;
	uint8_t *der = NULL;
	size_t i, len;
	X509 *x;
	int n;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		assert_non_null(keys[i]);
		assert_int_equal(same_leaf(f, keys[i]), FAST);
	}
	/* The root itself (P-384, self-signed, a CA). */
	n = i2d_X509(f->root, &der);
	assert_true(n > 0);
	assert_int_equal(same(der, (size_t)n, f->root_key), FAST);
	/* What is counted: the generic decoder sets one up per certificate. */
	p = der;
	w0 = fixture_decoder_walks();
	x = d2i_X509(NULL, &p, n);
	assert_non_null(x);
	assert_true(fixture_decoder_walks() > w0);
	X509_free(x);
	OPENSSL_free(der);
	/* A fast-decoded certificate is a working certificate: it verifies, and a chain
	 * check through it (root read back the fast way) succeeds. */
	der = leaf(f, keys[0], &len);
	p = der;
	x = ca_cert_d2i(&p, (long)len);
	assert_non_null(x);
	assert_int_equal(X509_verify(x, f->root_key), 1);
	assert_int_equal(X509_check_issued(f->root, x), X509_V_OK);
	X509_free(x);
	OPENSSL_free(der);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		EVP_PKEY_free(keys[i]);
}

/* A certificate made with OpenSSL alone (not ca_cert_build, which stores EC keys as
 * named curves, uncompressed): version (X509_VERSION_*), CN v.test, a DNS SAN when v3,
 * pub as given. DER, OPENSSL_free. */
static uint8_t *openssl_cert(fixture_t *f, EVP_PKEY *pub, long version, size_t *len)
{
	X509 *x = X509_new();
	X509_EXTENSION *e;
	uint8_t *der = NULL;
	int n;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, version), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 77), 1);
	assert_int_equal(X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName,
						    MBSTRING_UTF8, (unsigned char *)"v.test", -1,
						    -1, 0),
			 1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(f->root)), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	assert_int_equal(X509_set_pubkey(x, pub), 1);
	if (version == X509_VERSION_3) {
		e = X509V3_EXT_nconf_nid(NULL, NULL, NID_subject_alt_name, "DNS:v.test");
		assert_non_null(e);
		assert_int_equal(X509_add_ext(x, e, -1), 1);
		X509_EXTENSION_free(e);
	}
	assert_true(X509_sign(x, f->root_key, EVP_sha384()) > 0);
	n = i2d_X509(x, &der);
	assert_true(n > 0);
	*len = (size_t)n;
	X509_free(x);
	return der;
}

static int same_openssl(fixture_t *f, EVP_PKEY *pub, long version)
{
	size_t len;
	uint8_t *der = openssl_cert(f, pub, version, &len);
	int r = same(der, len, f->root_key);

	OPENSSL_free(der);
	return r;
}

/* Keys the fast path does not build: decoded the generic way, to the same certificate. */
static void test_other_keys(void **state)
{
	fixture_t *f = *state;
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), *k1 = EVP_EC_gen("secp256k1"),
		 *p521 = EVP_EC_gen("P-521"), *expl = EVP_EC_gen("P-256"),
		 *comp = EVP_EC_gen("P-256");

	assert_non_null(ed);
	assert_non_null(k1);
	assert_non_null(p521);
	assert_non_null(expl);
	assert_non_null(comp);
	assert_int_equal(same_leaf(f, ed), GENERIC);
	assert_int_equal(same_leaf(f, k1), GENERIC);
	assert_int_equal(same_leaf(f, p521), GENERIC);
	/* Explicit curve parameters instead of the named P-256. */
	assert_int_equal(EVP_PKEY_set_utf8_string_param(expl, OSSL_PKEY_PARAM_EC_ENCODING,
							"explicit"),
			 1);
	assert_int_equal(same_openssl(f, expl, X509_VERSION_3), GENERIC);
	/* A compressed point: built by the fast path, kept compressed, as stored. */
	assert_int_equal(EVP_PKEY_set_utf8_string_param(
				 comp, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed"),
			 1);
	assert_int_equal(same_openssl(f, comp, X509_VERSION_3), FAST);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(p521);
	EVP_PKEY_free(expl);
	EVP_PKEY_free(comp);
}

/* Versions 1 and 2 (cairn issues v3 only): the generic way, the same result. */
static void test_versions(void **state)
{
	fixture_t *f = *state;
	EVP_PKEY *key = EVP_EC_gen("P-256");

	assert_non_null(key);
	assert_int_equal(same_openssl(f, key, X509_VERSION_3), FAST);
	assert_int_equal(same_openssl(f, key, X509_VERSION_1), GENERIC);
	assert_int_equal(same_openssl(f, key, X509_VERSION_2), GENERIC);
	EVP_PKEY_free(key);
}

/* Encodings: trailing bytes, non-minimal and indefinite lengths, every truncation, every
 * single flipped bit, an explicitly encoded default. */
static void test_encodings(void **state)
{
	fixture_t *f = *state;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	uint8_t *der, *buf, *v;
	size_t len, i, hdr;
	int bit, flips = 0;

	assert_non_null(key);
	der = leaf(f, key, &len);
	buf = malloc(len + 8);
	assert_non_null(buf);

	/* Trailing bytes: both read the certificate and stop at its end. */
	memcpy(buf, der, len);
	memcpy(buf + len, "\x30\x00\x00", 3);
	assert_int_equal(same(buf, len + 3, f->root_key), FAST);

	/* The outer length in a non-minimal form (30 82 L L -> 30 83 00 L L). */
	assert_int_equal(der[0], 0x30);
	assert_int_equal(der[1], 0x82);
	buf[0] = 0x30;
	buf[1] = 0x83;
	buf[2] = 0x00;
	memcpy(buf + 3, der + 2, len - 2);
	assert_int_equal(same(buf, len + 1, f->root_key), GENERIC);

	/* BER indefinite length for the outer SEQUENCE (30 80 ... 00 00). */
	hdr = 4;
	buf[0] = 0x30;
	buf[1] = 0x80;
	memcpy(buf + 2, der + hdr, len - hdr);
	buf[2 + len - hdr] = 0x00;
	buf[3 + len - hdr] = 0x00;
	assert_int_equal(same(buf, len - hdr + 4, f->root_key), GENERIC);

	/* Every truncation. */
	for (i = 0; i < len; i++)
		assert_int_equal(same(der, i, f->root_key), BOTH_REFUSE);

	/* Every byte with one bit flipped (a different bit each byte): whatever d2i_X509
	 * decides, ca_cert_d2i decides too, with the same certificate. */
	for (i = 0; i < len; i++) {
		memcpy(buf, der, len);
		bit = (int)(i % 8);
		buf[i] ^= (uint8_t)(1u << bit);
		flips += same(buf, len, f->root_key) != BOTH_REFUSE;
	}
	assert_true(flips > 0);

	/* basicConstraints' critical TRUE (01 01 ff) written as a BER TRUE (01 01 01):
	 * OpenSSL keeps the byte as read and writes it back, so both decoders give the
	 * same (differently signed) certificate, the signature check fails for both. */
	memcpy(buf, der, len);
	v = memmem(buf, len, "\x55\x1d\x13\x01\x01\xff", 6); /* basicConstraints */
	assert_non_null(v);
	v[5] = 0x01;
	assert_int_equal(same(buf, len, f->root_key), FAST);

	free(buf);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_issued_keys_fast, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_encodings, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
