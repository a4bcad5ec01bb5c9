/* SPDX-License-Identifier: MIT */
/* CSR DER decoding that keeps OpenSSL 3.0's generic key decoder off the keys cairn issues for. */
/*
 * d2i_X509_REQ decodes the subject key as soon as it meets it, and OpenSSL 3.0 does
 * that through OSSL_DECODER_CTX_new_for_pkey, which walks every decoder of every
 * provider: ~130 us of the ~135 us a P-256 CSR costs, the largest CPU cost of an
 * issuance (bench/README.md, issue_bench). For the keys nearly every CSR carries (EC
 * P-256/P-384 on a named curve, RSA) this file reads the request with a template of
 * the same RFC 2986 shape whose key is left as bytes, builds the key directly
 * (ca_pubkey_from_spki) and assembles the X509_REQ from the decoded parts.
 *
 * The result is taken only if it encodes to exactly the bytes that were read; any
 * other request (another key type, explicit curve parameters, a point that is not on
 * the curve, a non-DER encoding, a version other than 1, ...) goes through
 * d2i_X509_REQ as before, so it is accepted or refused exactly as before. The
 * signature is then checked by the caller as always (X509_REQ_verify): over the
 * re-encoding, which is the bytes received.
 */
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "ca/ca_int.h"

/* SubjectPublicKeyInfo with the key as bytes: no callback decodes it. */
typedef struct csr_spki {
	X509_ALGOR *algorithm;
	ASN1_BIT_STRING *key;
} CSR_SPKI;

/* CertificationRequestInfo. */
typedef struct csr_info {
	ASN1_INTEGER *version;
	X509_NAME *subject;
	CSR_SPKI *spki;
	STACK_OF(X509_ATTRIBUTE) *attributes;
} CSR_INFO;

/* CertificationRequest. */
typedef struct csr_raw {
	CSR_INFO *info;
	X509_ALGOR *sig_alg;
	ASN1_BIT_STRING *signature;
} CSR_RAW;

ASN1_SEQUENCE(CSR_SPKI) = {
	ASN1_SIMPLE(CSR_SPKI, algorithm, X509_ALGOR),
	ASN1_SIMPLE(CSR_SPKI, key, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(CSR_SPKI)

/* attributes [0] is OPTIONAL, as in OpenSSL's own template (some clients omit it). */
ASN1_SEQUENCE(CSR_INFO) = {
	ASN1_SIMPLE(CSR_INFO, version, ASN1_INTEGER),
	ASN1_SIMPLE(CSR_INFO, subject, X509_NAME),
	ASN1_SIMPLE(CSR_INFO, spki, CSR_SPKI),
	ASN1_IMP_SET_OF_OPT(CSR_INFO, attributes, X509_ATTRIBUTE, 0),
} static_ASN1_SEQUENCE_END(CSR_INFO)

ASN1_SEQUENCE(CSR_RAW) = {
	ASN1_SIMPLE(CSR_RAW, info, CSR_INFO),
	ASN1_SIMPLE(CSR_RAW, sig_alg, X509_ALGOR),
	ASN1_SIMPLE(CSR_RAW, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(CSR_RAW)

/* The X509_REQ made of raw's parts with key as its public key, or NULL. */
static X509_REQ *assemble(const CSR_RAW *raw, EVP_PKEY *key)
{
	const CSR_INFO *info = raw->info;
	ASN1_BIT_STRING *sig = NULL;
	X509_REQ *req;
	int i;

	if (ASN1_INTEGER_get(info->version) != X509_REQ_VERSION_1 || (req = X509_REQ_new()) == NULL)
		return NULL;
	if (X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
	    X509_REQ_set_subject_name(req, info->subject) != 1 || X509_REQ_set_pubkey(req, key) != 1 ||
	    X509_REQ_set1_signature_algo(req, raw->sig_alg) != 1 ||
	    (sig = ASN1_STRING_dup(raw->signature)) == NULL)
		goto fail;
	X509_REQ_set0_signature(req, sig);
	for (i = 0; i < sk_X509_ATTRIBUTE_num(info->attributes); i++)
		if (X509_REQ_add1_attr(req, sk_X509_ATTRIBUTE_value(info->attributes, i)) != 1)
			goto fail;
	return req;
fail:
	X509_REQ_free(req);
	return NULL;
}

/* The fast way, or NULL (nothing consumed) when it does not apply. */
static X509_REQ *decode_fast(const unsigned char **pp, long len)
{
	const unsigned char *p = *pp;
	unsigned char *again = NULL;
	CSR_RAW *raw = NULL;
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	long used;
	int n;

	raw = (CSR_RAW *)ASN1_item_d2i(NULL, &p, len, ASN1_ITEM_rptr(CSR_RAW));
	if (raw == NULL || (key = ca_pubkey_from_spki(raw->info->spki->algorithm,
						      raw->info->spki->key)) == NULL ||
	    (req = assemble(raw, key)) == NULL)
		goto out;
	/* Exactly what was read, or the generic decoder decides. */
	used = p - *pp;
	if ((n = i2d_X509_REQ(req, &again)) != used || memcmp(again, *pp, (size_t)used) != 0) {
		X509_REQ_free(req);
		req = NULL;
		goto out;
	}
	*pp = p;
out:
	OPENSSL_free(again);
	EVP_PKEY_free(key);
	ASN1_item_free((ASN1_VALUE *)raw, ASN1_ITEM_rptr(CSR_RAW));
	return req;
}

X509_REQ *ca_csr_d2i(const unsigned char **pp, long len)
{
	X509_REQ *req;

	ERR_set_mark();
	req = decode_fast(pp, len);
	ERR_pop_to_mark();
	if (req == NULL)
		req = d2i_X509_REQ(NULL, pp, len);
	return req;
}
