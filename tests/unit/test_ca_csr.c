/* SPDX-License-Identifier: MIT */
/* Unit tests for the CSR fast path (ca/csr_fast.c): the usual CSRs take it, and every odd or hostile one is accepted or refused exactly as OpenSSL's generic decoder and X509_REQ_verify decide. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "util/util.h"

#include "tests/unit/ca_fixture.h"

/* A CSR for host.example (CN and DNS SAN) with subject key pub, signed by signer with md
 * (NULL for Ed25519/Ed448). DER, OPENSSL_free. */
static uint8_t *csr_with(EVP_PKEY *pub, EVP_PKEY *signer, const EVP_MD *md, size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, NULL, NID_subject_alt_name,
						 "DNS:host.example");
	uint8_t *der = NULL;
	int n;

	assert_non_null(req);
	assert_non_null(e);
	assert_int_equal(X509_NAME_add_entry_by_NID(X509_REQ_get_subject_name(req), NID_commonName,
						    MBSTRING_UTF8,
						    (const unsigned char *)"host.example", -1, -1,
						    0),
			 1);
	assert_int_equal(X509_REQ_set_pubkey(req, pub), 1);
	assert_true(sk_X509_EXTENSION_push(exts, e) > 0);
	assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
	assert_true(X509_REQ_sign(req, signer, md) > 0);
	n = i2d_X509_REQ(req, &der);
	assert_true(n > 0);
	*len = (size_t)n;
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	return der;
}

static uint8_t *csr_of(EVP_PKEY *key, size_t *len)
{
	int id = EVP_PKEY_get_base_id(key);

	return csr_with(key, key, id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448 ? NULL
									       : EVP_sha256(),
			len);
}

/* What the code did before the fast path: OpenSSL's own decoder (d2i_X509_REQ or
 * PEM_read_bio_X509_REQ: provider keys, X509_REQ_verify), then the checks. */
static int generic(const uint8_t *data, size_t len, const ca_profile_t *prof, cairn_err_t *err)
{
	const unsigned char *p = data;
	X509_REQ *req = NULL;
	BIO *bio = NULL;
	int rc;

	memset(err, 0, sizeof(*err));
	if (len > 10 && memcmp(data, "-----BEGIN", 10) == 0) {
		bio = BIO_new_mem_buf(data, (int)len);
		req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
		BIO_free(bio);
	} else {
		req = d2i_X509_REQ(NULL, &p, (long)len);
		if (req != NULL && p != data + len) {
			X509_REQ_free(req);
			return cairn_err_set(err, CAIRN_EBADCSR, "CSR has trailing bytes after the DER");
		}
	}
	if (req == NULL)
		return cairn_err_ssl(err, CAIRN_EBADCSR, "CSR is not valid PEM or DER");
	/* The generic decoder never hands out a legacy key. */
	assert_true(X509_REQ_get0_pubkey(req) == NULL ||
		    EVP_PKEY_get0_provider(X509_REQ_get0_pubkey(req)) != NULL);
	if (X509_REQ_get_version(req) != X509_REQ_VERSION_1)
		rc = cairn_err_set(err, CAIRN_EBADCSR, "CSR version must be 1 (encoded 0)");
	else
		rc = ca_csr_check(req, prof, err);
	X509_REQ_free(req);
	return rc;
}

/* The request object as every channel builds it, checked against prof. *fast: its key
 * is the legacy key only the fast path makes. */
static int object(const uint8_t *data, size_t len, const ca_profile_t *prof, cairn_err_t *err,
		  int *fast)
{
	ca_csr_t *c = NULL;
	int rc;

	memset(err, 0, sizeof(*err));
	*fast = 0;
	if ((rc = ca_csr_new(data, len, 0, &c, err)) != 0)
		return rc;
	rc = ca_csr_check_profile(c, prof, err);
	*fast = EVP_PKEY_get0_provider(X509_REQ_get0_pubkey(c->req)) == NULL;
	if (*fast && len > 0 && data[0] == 0x30) {
		/* The assembled request encodes to exactly the bytes received. */
		unsigned char *again = NULL;
		int n = i2d_X509_REQ(c->req, &again);
		assert_int_equal(n, (int)len);
		assert_memory_equal(again, data, len);
		OPENSSL_free(again);
	}
	ca_csr_free(c);
	return rc;
}

/* Both ways give the same code and the same message; returns the code. */
static int same(const uint8_t *data, size_t len, const char *profile, int *fast)
{
	ca_profile_t prof = default_profile(profile);
	cairn_err_t e1, e2;
	int r1, r2, f;

	r1 = generic(data, len, &prof, &e1);
	r2 = object(data, len, &prof, &e2, fast ? fast : &f);
	if (r1 != r2 || strcmp(e1.msg, e2.msg) != 0)
		fail_msg("generic %d \"%s\", request object %d \"%s\"", r1, e1.msg, r2, e2.msg);
	return r1;
}

/* same() on a CSR of key signed by itself (SHA-256, or none for EdDSA). */
static int same_key(EVP_PKEY *key, int *fast)
{
	size_t len;
	uint8_t *der = csr_of(key, &len);
	int rc = same(der, len, "tls-server", fast);

	OPENSSL_free(der);
	return rc;
}

static EVP_PKEY *ec_key(const char *curve)
{
	EVP_PKEY *k = EVP_EC_gen(curve);

	assert_non_null(k);
	return k;
}

/* The usual CSRs take the fast path and come out as the generic decoder reads them. */
static void test_usual_keys_fast(void **state)
{
	EVP_PKEY *keys[3];
	size_t i, len;
	int fast;
	(void)state;

	keys[0] = ec_key("P-256");
	keys[1] = ec_key("P-384");
	keys[2] = EVP_RSA_gen(2048);
	assert_non_null(keys[2]);
	for (i = 0; i < 3; i++) {
		uint8_t *der = csr_of(keys[i], &len);
		ca_csr_t *c = NULL;
		cairn_err_t err;
		unsigned char *a = NULL, *b = NULL;
		int na, nb;
		BIO *bio;
		char *pem;
		long pem_len;

		assert_int_equal(same(der, len, "tls-server", &fast), 0);
		assert_true(fast);
		/* The subject key encodes as the CSR's own. */
		assert_int_equal(ca_csr_new(der, len, 0, &c, &err), 0);
		assert_true(c->verified);
		na = i2d_PUBKEY(c->pub, &a);
		nb = i2d_PUBKEY(keys[i], &b);
		assert_true(na > 0 && na == nb);
		assert_memory_equal(a, b, (size_t)na);
		OPENSSL_free(a);
		OPENSSL_free(b);
		ca_csr_free(c);
		/* PEM too. */
		bio = BIO_new(BIO_s_mem());
		assert_non_null(bio);
		{
			const unsigned char *p = der;
			X509_REQ *r = d2i_X509_REQ(NULL, &p, (long)len);
			assert_non_null(r);
			assert_int_equal(PEM_write_bio_X509_REQ(bio, r), 1);
			X509_REQ_free(r);
		}
		pem_len = BIO_get_mem_data(bio, &pem);
		assert_int_equal(same((uint8_t *)pem, (size_t)pem_len, "tls-server", &fast), 0);
		assert_true(fast);
		BIO_free(bio);
		OPENSSL_free(der);
		EVP_PKEY_free(keys[i]);
	}
}

/* Flips one byte at off (counted from the end when negative). */
static uint8_t *flipped(const uint8_t *der, size_t len, long off, uint8_t mask)
{
	uint8_t *copy = malloc(len);

	assert_non_null(copy);
	memcpy(copy, der, len);
	copy[off < 0 ? (long)len + off : off] ^= mask;
	return copy;
}

/* Tampered signatures and contents: CAIRN_ECSRSIG both ways, with the same message. */
static void test_tampered(void **state)
{
	EVP_PKEY *key = ec_key("P-256"), *other = ec_key("P-256");
	uint8_t *der, *bad, *cn;
	size_t len;
	(void)state;

	der = csr_of(key, &len);
	/* The last byte of the signature's s. */
	bad = flipped(der, len, -1, 0x01);
	assert_int_equal(same(bad, len, "tls-server", NULL), CAIRN_ECSRSIG);
	free(bad);
	/* A byte of the signed content (the CN's last letter): still a valid name. */
	cn = memmem(der, len, "host.example", 12);
	assert_non_null(cn);
	bad = flipped(der, len, (long)(cn - der) + 11, 0x02);
	assert_int_equal(same(bad, len, "tls-server", NULL), CAIRN_ECSRSIG);
	free(bad);
	OPENSSL_free(der);

	/* Signed by another key than the one it carries. */
	der = csr_with(key, other, EVP_sha256(), &len);
	assert_int_equal(same(der, len, "tls-server", NULL), CAIRN_ECSRSIG);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

/* The DER of the CSR in der with its signature BIT STRING replaced by sig (n bytes,
 * unused bits ub). */
static uint8_t *with_signature(const uint8_t *der, size_t len, const uint8_t *sig, int n,
			       int ub, size_t *out_len)
{
	const unsigned char *p = der;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
	const ASN1_BIT_STRING *cur;
	ASN1_BIT_STRING *s;
	uint8_t *out = NULL;
	int m;

	assert_non_null(req);
	X509_REQ_get0_signature(req, &cur, NULL);
	s = (ASN1_BIT_STRING *)cur;
	assert_int_equal(ASN1_BIT_STRING_set(s, (unsigned char *)sig, n), 1);
	s->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	s->flags |= ASN1_STRING_FLAG_BITS_LEFT | ub;
	m = i2d_X509_REQ(req, &out);
	assert_true(m > 0);
	*out_len = (size_t)m;
	X509_REQ_free(req);
	return out;
}

/* ECDSA signatures that are right in value but not in form: refused both ways. */
static void test_signature_form(void **state)
{
	EVP_PKEY *key = ec_key("P-256");
	const ASN1_BIT_STRING *sig;
	const BIGNUM *r, *s;
	ECDSA_SIG *es;
	uint8_t *der, *bad, buf[160];
	const unsigned char *p;
	size_t len, bad_len;
	X509_REQ *req;
	int n, rl, sl;
	(void)state;

	der = csr_of(key, &len);
	p = der;
	req = d2i_X509_REQ(NULL, &p, (long)len);
	assert_non_null(req);
	X509_REQ_get0_signature(req, &sig, NULL);
	p = sig->data;
	es = d2i_ECDSA_SIG(NULL, &p, sig->length);
	assert_non_null(es);
	ECDSA_SIG_get0(es, &r, &s);

	/* The same (r, s) with a superfluous leading zero in r: not DER. */
	rl = BN_num_bytes(r) + (BN_num_bits(r) % 8 == 0);
	sl = BN_num_bytes(s) + (BN_num_bits(s) % 8 == 0);
	memset(buf, 0, sizeof(buf));
	n = 0;
	buf[n++] = 0x30;
	buf[n++] = (uint8_t)(2 + rl + 1 + 2 + sl);
	buf[n++] = 0x02;
	buf[n++] = (uint8_t)(rl + 1);
	n += 1 + rl - BN_num_bytes(r); /* zeros: the extra one and any sign byte */
	BN_bn2bin(r, buf + n);
	n += BN_num_bytes(r);
	buf[n++] = 0x02;
	buf[n++] = (uint8_t)sl;
	n += sl - BN_num_bytes(s);
	BN_bn2bin(s, buf + n);
	n += BN_num_bytes(s);
	bad = with_signature(der, len, buf, n, 0, &bad_len);
	assert_int_equal(same(bad, bad_len, "tls-server", NULL), CAIRN_ECSRSIG);
	OPENSSL_free(bad);

	/* The right signature with a byte of garbage after it inside the BIT STRING. */
	memcpy(buf, sig->data, (size_t)sig->length);
	buf[sig->length] = 0x00;
	bad = with_signature(der, len, buf, sig->length + 1, 0, &bad_len);
	assert_int_equal(same(bad, bad_len, "tls-server", NULL), CAIRN_ECSRSIG);
	OPENSSL_free(bad);

	/* The right signature bytes, but the BIT STRING says its last bits are unused. */
	bad = with_signature(der, len, sig->data, sig->length, 1, &bad_len);
	assert_int_equal(same(bad, bad_len, "tls-server", NULL), CAIRN_ECSRSIG);
	OPENSSL_free(bad);

	ECDSA_SIG_free(es);
	X509_REQ_free(req);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
}

/* The signature algorithm says another digest than was used, or one the direct check
 * leaves to X509_REQ_verify. */
static void test_signature_algorithms(void **state)
{
	static const uint8_t sha256_oid[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
					      0x3d, 0x04, 0x03, 0x02 };
	EVP_PKEY *key = ec_key("P-256");
	uint8_t *der, *hit;
	size_t len;
	int fast;
	(void)state;

	/* ecdsa-with-SHA256 relabelled ecdsa-with-SHA384 (same length): does not verify. */
	der = csr_of(key, &len);
	hit = memmem(der, len, sha256_oid, sizeof(sha256_oid));
	assert_non_null(hit);
	hit[sizeof(sha256_oid) - 1] = 0x03;
	assert_int_equal(same(der, len, "tls-server", NULL), CAIRN_ECSRSIG);
	OPENSSL_free(der);

	/* ecdsa-with-SHA1 and -SHA224: whatever X509_REQ_verify says. */
	der = csr_with(key, key, EVP_sha1(), &len);
	(void)same(der, len, "tls-server", &fast);
	OPENSSL_free(der);
	der = csr_with(key, key, EVP_sha224(), &len);
	(void)same(der, len, "tls-server", &fast);
	OPENSSL_free(der);
	/* SHA-512 is one the direct check takes. */
	der = csr_with(key, key, EVP_sha512(), &len);
	assert_int_equal(same(der, len, "tls-server", &fast), 0);
	assert_true(fast);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
}

/* Keys the fast path builds itself, when they are wrong. */
static void test_bad_keys(void **state)
{
	EVP_PKEY *key = ec_key("P-256"), *rsa1024 = EVP_RSA_gen(1024);
	unsigned char *point = NULL;
	uint8_t *der, *hit;
	size_t len, plen;
	int fast;
	(void)state;

	/* A P-256 point not on the curve: the last byte of y changed. */
	der = csr_of(key, &len);
	plen = EVP_PKEY_get1_encoded_public_key(key, &point);
	assert_int_equal(plen, 65);
	hit = memmem(der, len, point, plen);
	assert_non_null(hit);
	hit[plen - 1] ^= 0x01;
	assert_int_equal(same(der, len, "tls-server", NULL), CAIRN_EBADCSR);
	OPENSSL_free(der);
	OPENSSL_free(point);
	point = NULL;

	/* RSA-1024: too weak for any profile. */
	assert_non_null(rsa1024);
	assert_int_equal(same_key(rsa1024, &fast), CAIRN_EWEAKKEY);

	/* The same P-256 key with a compressed point. */
	assert_int_equal(EVP_PKEY_set_utf8_string_param(key, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
							"compressed"),
			 1);
	der = csr_of(key, &len);
	{
		const unsigned char *p = der, *pk;
		X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
		int pk_len = 0;
		assert_non_null(req);
		X509_PUBKEY_get0_param(NULL, &pk, &pk_len, NULL, X509_REQ_get_X509_PUBKEY(req));
		assert_int_equal(pk_len, 33);
		X509_REQ_free(req);
	}
	/* Accepted both ways; the fast path keeps the point compressed, as received. */
	assert_int_equal(same(der, len, "tls-server", &fast), 0);
	assert_true(fast);
	{
		/* Issued with the key as the CSR carries it. */
		ca_csr_t *c = NULL;
		cairn_err_t err;
		unsigned char *a = NULL;
		int n;
		assert_int_equal(ca_csr_new(der, len, 0, &c, &err), 0);
		n = i2d_PUBKEY(c->pub, &a);
		assert_true(n > 0 && memmem(der, len, a, (size_t)n) != NULL);
		OPENSSL_free(a);
		ca_csr_free(c);
	}
	OPENSSL_free(der);

	/* Explicit curve parameters instead of the named curve: not the fast path, and
	 * refused (RFC 5480 §2.1.1), although OpenSSL recognises them as P-256. */
	assert_int_equal(EVP_PKEY_set_utf8_string_param(key, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
							"uncompressed"),
			 1);
	assert_int_equal(EVP_PKEY_set_utf8_string_param(key, OSSL_PKEY_PARAM_EC_ENCODING, "explicit"),
			 1);
	assert_int_equal(same_key(key, &fast), CAIRN_EKEYTYPE);
	assert_false(fast);

	EVP_PKEY_free(key);
	EVP_PKEY_free(rsa1024);
}

/* Key types cairn does not issue for, and Ed25519, which it does the generic way. */
static void test_other_key_types(void **state)
{
	EVP_PKEY *k1 = ec_key("secp256k1"), *ed448 = EVP_PKEY_Q_keygen(NULL, NULL, "ED448"),
		 *ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	int fast;
	(void)state;

	assert_non_null(ed448);
	assert_non_null(ed25519);
	assert_int_equal(same_key(k1, &fast), CAIRN_EKEYTYPE);
	assert_int_equal(same_key(ed448, &fast), CAIRN_EKEYTYPE);
	assert_int_equal(same_key(ed25519, &fast), 0);
	assert_false(fast);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(ed448);
	EVP_PKEY_free(ed25519);
}

/* Encodings: trailing bytes, non-minimal lengths, truncation, another version. */
static void test_encodings(void **state)
{
	EVP_PKEY *key = ec_key("P-256");
	uint8_t *der, *buf;
	size_t len, i;
	int fast;
	(void)state;

	der = csr_of(key, &len);
	buf = malloc(len + 8);
	assert_non_null(buf);

	/* Trailing garbage after the DER. */
	memcpy(buf, der, len);
	buf[len] = 0x00;
	assert_int_equal(same(buf, len + 1, "tls-server", NULL), CAIRN_EBADCSR);
	memcpy(buf + len, "\x30\x00", 2);
	assert_int_equal(same(buf, len + 2, "tls-server", NULL), CAIRN_EBADCSR);

	/* The outer length in a non-minimal form (30 8n L.. -> 30 8n+1 00 L..): not DER,
	 * so not the fast path, but the generic decoder takes it and the signed part is
	 * intact. */
	assert_int_equal(der[0], 0x30);
	assert_true(der[1] == 0x81 || der[1] == 0x82);
	buf[0] = 0x30;
	buf[1] = (uint8_t)(der[1] + 1);
	buf[2] = 0x00;
	memcpy(buf + 3, der + 2, len - 2);
	assert_int_equal(same(buf, len + 1, "tls-server", &fast), 0);
	assert_false(fast);

	/* Every truncation. */
	for (i = 1; i < len; i += 7)
		assert_int_equal(same(der, i, "tls-server", NULL), CAIRN_EBADCSR);

	/* Version 2 (encoded 1) in the signed part: refused for the version (the
	 * signature would be checked after). */
	{
		uint8_t *v = memmem(der, len, "\x02\x01\x00\x30", 4);
		assert_non_null(v);
		v[2] = 0x01;
		assert_int_equal(same(der, len, "tls-server", &fast), CAIRN_EBADCSR);
	}
	free(buf);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
}

/* An encrypted PEM block is refused at once: no password is read from the terminal or
 * stdin (here a pipe nobody writes to, which kept the parser waiting until an alarm
 * interrupted the read; OpenSSL's prompt catches the signal itself, so the time tells). */
static void test_encrypted_pem(void **state)
{
	static const char pem[] = "-----BEGIN CERTIFICATE REQUEST-----\n"
				  "Proc-Type: 4,ENCRYPTED\n"
				  "DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n"
				  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
				  "-----END CERTIFICATE REQUEST-----\n";
	struct timespec t0, t1;
	ca_csr_t *c = NULL;
	cairn_err_t err;
	int fds[2], saved;
	(void)state;

	assert_int_equal(pipe(fds), 0);
	saved = dup(0);
	assert_true(saved >= 0);
	assert_true(dup2(fds[0], 0) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	alarm(3);
	assert_int_equal(ca_csr_new(pem, sizeof(pem) - 1, 0, &c, &err), CAIRN_EBADCSR);
	alarm(0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(dup2(saved, 0) == 0);
	close(saved);
	close(fds[0]);
	close(fds[1]);
	assert_null(c);
	assert_true(t1.tv_sec - t0.tv_sec < 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usual_keys_fast),     cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_signature_form),      cmocka_unit_test(test_signature_algorithms),
		cmocka_unit_test(test_bad_keys),            cmocka_unit_test(test_other_key_types),
		cmocka_unit_test(test_encodings),           cmocka_unit_test(test_encrypted_pem),
	};
	return cmocka_run_group_tests_name("ca_csr", tests, NULL, NULL);
}
