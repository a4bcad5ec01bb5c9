/* SPDX-License-Identifier: MIT */
/* The fast path for the usual CSR: decoded without OpenSSL 3.0's generic key decoder, its ECDSA signature checked without building a provider key. */
/*
 * d2i_X509_REQ decodes the subject key as soon as it meets it, and OpenSSL 3.0 does
 * that through OSSL_DECODER_CTX_new_for_pkey, which walks every decoder of every
 * provider: ~130 us of the ~135 us a P-256 CSR costs, the largest CPU cost of an
 * issuance (bench/README.md, issue_bench). For the keys nearly every CSR carries (EC
 * P-256/P-384 on a named curve, RSA) ca_csr_d2i reads the request with a template of
 * the same RFC 2986 shape whose key is left as bytes, builds the key directly
 * (ca_pubkey_from_spki: a legacy key) and assembles the X509_REQ from the decoded
 * parts. The result is taken only if it encodes to exactly the bytes that were read;
 * any other request (another key type, explicit curve parameters, a point that is
 * not on the curve, a non-DER encoding, a version other than 1, ...) goes through
 * d2i_X509_REQ as before, so it is accepted or refused exactly as before.
 *
 * X509_REQ_verify with such a legacy EC key first copies it into a provider key
 * (a new EC_GROUP, a context, fetches): ~40 us on top of the ~75 us of the ECDSA
 * verification itself. ca_csr_verify_ecdsa does what ASN1_item_verify and the
 * provider's ECDSA verifier do for ecdsa-with-SHA256/384/512 (the same digest of
 * the same bytes, the same ECDSA_verify with its strict DER check of the
 * signature), directly on the legacy key; it only ever accepts, and a signature it
 * does not accept goes to X509_REQ_verify for the verdict and the error message.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <pthread.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "ca/ca_int.h"

/* CertificationRequestInfo. */
typedef struct csr_info {
	ASN1_INTEGER *version;
	X509_NAME *subject;
	CA_SPKI_RAW *spki;
	STACK_OF(X509_ATTRIBUTE) *attributes;
} CSR_INFO;

/* CertificationRequest. */
typedef struct csr_raw {
	CSR_INFO *info;
	X509_ALGOR *sig_alg;
	ASN1_BIT_STRING *signature;
} CSR_RAW;

/* attributes [0] is OPTIONAL, as in OpenSSL's own template (some clients omit it). */
ASN1_SEQUENCE(CSR_INFO) = {
	ASN1_SIMPLE(CSR_INFO, version, ASN1_INTEGER),
	ASN1_SIMPLE(CSR_INFO, subject, X509_NAME),
	ASN1_SIMPLE(CSR_INFO, spki, CA_SPKI_RAW),
	ASN1_IMP_SET_OF_OPT(CSR_INFO, attributes, X509_ATTRIBUTE, 0),
} static_ASN1_SEQUENCE_END(CSR_INFO)

ASN1_SEQUENCE(CSR_RAW) = {
	ASN1_SIMPLE(CSR_RAW, info, CSR_INFO),
	ASN1_SIMPLE(CSR_RAW, sig_alg, X509_ALGOR),
	ASN1_SIMPLE(CSR_RAW, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(CSR_RAW)

/* The X509_REQ made of raw's parts with their key as a legacy key, or NULL. */
static ASN1_VALUE *assemble(ASN1_VALUE *v)
{
	const CSR_RAW *raw = (const CSR_RAW *)v;
	const CSR_INFO *info = raw->info;
	ASN1_BIT_STRING *sig = NULL;
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	int i;

	if (ASN1_INTEGER_get(info->version) != X509_REQ_VERSION_1 ||
	    (key = ca_pubkey_from_raw(info->spki)) == NULL || (req = X509_REQ_new()) == NULL)
		goto fail;
	if (X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
	    X509_REQ_set_subject_name(req, info->subject) != 1 || X509_REQ_set_pubkey(req, key) != 1 ||
	    X509_REQ_set1_signature_algo(req, raw->sig_alg) != 1 ||
	    (sig = ASN1_STRING_dup(raw->signature)) == NULL)
		goto fail;
	X509_REQ_set0_signature(req, sig);
	for (i = 0; i < sk_X509_ATTRIBUTE_num(info->attributes); i++)
		if (X509_REQ_add1_attr(req, sk_X509_ATTRIBUTE_value(info->attributes, i)) != 1)
			goto fail;
	EVP_PKEY_free(key);
	return (ASN1_VALUE *)req;
fail:
	EVP_PKEY_free(key);
	X509_REQ_free(req);
	return NULL;
}

X509_REQ *ca_csr_d2i(const unsigned char **pp, long len)
{
	X509_REQ *req = (X509_REQ *)ca_der_fast(pp, len, ASN1_ITEM_rptr(CSR_RAW),
					       ASN1_ITEM_rptr(X509_REQ), assemble);

	return req != NULL ? req : d2i_X509_REQ(NULL, pp, len);
}

/* The digests of ecdsa-with-SHA256/384/512, fetched once (no implicit fetch per use). */
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha256, *md_sha384, *md_sha512;

static void md_init(void)
{
	md_sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	md_sha384 = EVP_MD_fetch(NULL, "SHA2-384", NULL);
	md_sha512 = EVP_MD_fetch(NULL, "SHA2-512", NULL);
}

static const EVP_MD *ecdsa_md(const X509_ALGOR *alg)
{
	const ASN1_OBJECT *oid;
	int md_nid, pk_nid;

	X509_ALGOR_get0(&oid, NULL, NULL, alg);
	if (OBJ_find_sigid_algs(OBJ_obj2nid(oid), &md_nid, &pk_nid) != 1 ||
	    pk_nid != NID_X9_62_id_ecPublicKey || pthread_once(&md_once, md_init) != 0)
		return NULL;
	switch (md_nid) {
	case NID_sha256:
		return md_sha256;
	case NID_sha384:
		return md_sha384;
	case NID_sha512:
		return md_sha512;
	default:
		return NULL;
	}
}

/* In der (an encoded CertificationRequest), the CertificationRequestInfo: the bytes
 * X509_REQ_verify hashes, as they are encoded for req (cached or re-encoded). */
static int info_span(const unsigned char *der, long len, const unsigned char **info,
		     long *info_len)
{
	const unsigned char *p = der, *start;
	long n;
	int tag, cls;

	if ((ASN1_get_object(&p, &n, &tag, &cls, len) & 0x80) || tag != V_ASN1_SEQUENCE)
		return -1;
	start = p;
	if ((ASN1_get_object(&p, &n, &tag, &cls, len - (p - der)) & 0x80) ||
	    tag != V_ASN1_SEQUENCE)
		return -1;
	*info = start;
	*info_len = (p - start) + n;
	return 0;
}

int ca_csr_verify_ecdsa(X509_REQ *req, EVP_PKEY *pk)
{
	const ASN1_BIT_STRING *sig;
	const X509_ALGOR *alg;
	const unsigned char *info;
	unsigned char *der = NULL, dgst[EVP_MAX_MD_SIZE];
	const EVP_MD *md;
	const EC_KEY *ec;
	unsigned dlen = 0;
	long info_len;
	int n, ok = 0;

	/* A legacy key of OpenSSL's own EC method: what ca_pubkey_from_spki makes. */
	if (req == NULL || pk == NULL || EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC ||
	    EVP_PKEY_get0_provider(pk) != NULL || (ec = EVP_PKEY_get0_EC_KEY(pk)) == NULL ||
	    EC_KEY_get_method(ec) != EC_KEY_OpenSSL())
		return 0;
	X509_REQ_get0_signature(req, &sig, &alg);
	/* ASN1_item_verify refuses a signature BIT STRING with unused bits. */
	if (sig == NULL || alg == NULL || (sig->flags & 0x07) != 0 || (md = ecdsa_md(alg)) == NULL)
		return 0;
	ERR_set_mark();
	if ((n = i2d_X509_REQ(req, &der)) > 0 && info_span(der, n, &info, &info_len) == 0 &&
	    EVP_Digest(info, (size_t)info_len, dgst, &dlen, md, NULL) == 1 &&
	    ECDSA_verify(0, dgst, (int)dlen, sig->data, sig->length, (EC_KEY *)ec) == 1)
		ok = 1;
	ERR_pop_to_mark();
	OPENSSL_free(der);
	return ok;
}
