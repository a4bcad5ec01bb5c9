/* SPDX-License-Identifier: MIT */
/* Fuzz target: the stored-certificate decoder (ca_cert_d2i) against OpenSSL's own
 * (d2i_X509) on the same bytes: the same verdict, the same bytes consumed, and for a
 * certificate the same encoding, key, extension flags and names through the one name
 * extractor. */
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "fuzz/fuzz.h"

static void same_names(X509 *a, X509 *b)
{
	cairn_err_t e1 = { 0 }, e2 = { 0 };
	ca_names_t n1, n2;
	int r1, r2;

	/* A refusal's message ends with OpenSSL's queued error, when there is one: start
	 * both from an empty queue (what the decoders left there is not the names'). */
	ERR_clear_error();
	r1 = ca_names_from_cert(a, &n1, &e1);
	ERR_clear_error();
	r2 = ca_names_from_cert(b, &n2, &e2);

	FUZZ_ASSERT(r1 == r2 && strcmp(e1.msg, e2.msg) == 0);
	if (r1 != 0)
		return;
	FUZZ_ASSERT((n1.cn == NULL) == (n2.cn == NULL) &&
		    (n1.cn == NULL || strcmp(n1.cn, n2.cn) == 0));
	FUZZ_ASSERT(n1.n_san == n2.n_san && ca_names_same_sans(&n1, &n2));
	ca_names_clear(&n1);
	ca_names_clear(&n2);
}

static void same_key(X509 *a, X509 *b)
{
	EVP_PKEY *k1 = X509_get0_pubkey(a), *k2 = X509_get0_pubkey(b);
	unsigned char *d1 = NULL, *d2 = NULL;
	int l1, l2;

	FUZZ_ASSERT((k1 == NULL) == (k2 == NULL));
	if (k1 == NULL)
		return;
	l1 = i2d_PUBKEY(k1, &d1);
	l2 = i2d_PUBKEY(k2, &d2);
	FUZZ_ASSERT(l1 == l2 && (l1 <= 0 || memcmp(d1, d2, (size_t)l1) == 0));
	OPENSSL_free(d1);
	OPENSSL_free(d2);
}

FUZZ_TARGET(cert)
{
	const unsigned char *p1 = data, *p2 = data;
	unsigned char *e1 = NULL, *e2 = NULL;
	X509 *a, *b;
	int l1, l2;

	a = d2i_X509(NULL, &p1, (long)size);
	b = ca_cert_d2i(&p2, (long)size);
	FUZZ_ASSERT((a == NULL) == (b == NULL) && p1 == p2);
	if (a != NULL) {
		l1 = i2d_X509(a, &e1);
		l2 = i2d_X509(b, &e2);
		FUZZ_ASSERT(l1 == l2 && (l1 <= 0 || memcmp(e1, e2, (size_t)l1) == 0));
		FUZZ_ASSERT(X509_get_extension_flags(a) == X509_get_extension_flags(b));
		same_key(a, b);
		same_names(a, b);
	}
	OPENSSL_free(e1);
	OPENSSL_free(e2);
	X509_free(a);
	X509_free(b);
	ERR_clear_error();
	return 0;
}
