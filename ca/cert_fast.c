/* SPDX-License-Identifier: MIT */
/* The fast path for a stored certificate: decoded without OpenSSL 3.0's generic key decoder, the same X509 d2i_X509 gives. */
/*
 * d2i_X509 decodes the subject key as soon as it meets it, through
 * OSSL_DECODER_CTX_new_for_pkey, which walks every decoder of every provider:
 * ~130 us per certificate, most of what reading a stored certificate costs (the
 * renewal check of every ACME order reads the requester's earlier ones, bench/README.md
 * "Stored certificates without the decoder walk"). As for CSRs (csr_fast.c),
 * ca_cert_d2i reads the certificate with a template of the same RFC 5280 shape whose
 * key is left as bytes, builds the key directly (ca_pubkey_from_spki: EC P-256/P-384
 * on a named curve, RSA) and assembles the X509 from the decoded parts; ca_der_fast
 * takes it only if it encodes to exactly the bytes that were read. Anything else (other
 * key types, explicit curve parameters, a version other than v3, issuer/subject unique
 * IDs, a non-DER encoding, ...) goes through d2i_X509 as before, which decides.
 *
 * OpenSSL 3.0 has no setter for a certificate's two signature algorithms and its
 * signature value: they are written through the pointers X509_get0_tbs_sigalg and
 * X509_get0_signature return into our own new X509 (which no one else has seen yet);
 * the exact re-encoding check covers them like every other field.
 */
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/x509.h>

#include "ca/ca_int.h"

/* TBSCertificate with the key as bytes. */
typedef struct cert_tbs {
	ASN1_INTEGER *version;
	ASN1_INTEGER *serial;
	X509_ALGOR *signature;
	X509_NAME *issuer;
	X509_VAL *validity;
	X509_NAME *subject;
	CA_SPKI_RAW *spki;
	ASN1_BIT_STRING *issuer_uid;
	ASN1_BIT_STRING *subject_uid;
	STACK_OF(X509_EXTENSION) *extensions;
} CERT_TBS;

/* Certificate. */
typedef struct cert_raw {
	CERT_TBS *tbs;
	X509_ALGOR *sig_alg;
	ASN1_BIT_STRING *signature;
} CERT_RAW;

ASN1_SEQUENCE(CERT_TBS) = {
	ASN1_EXP_OPT(CERT_TBS, version, ASN1_INTEGER, 0),
	ASN1_SIMPLE(CERT_TBS, serial, ASN1_INTEGER),
	ASN1_SIMPLE(CERT_TBS, signature, X509_ALGOR),
	ASN1_SIMPLE(CERT_TBS, issuer, X509_NAME),
	ASN1_SIMPLE(CERT_TBS, validity, X509_VAL),
	ASN1_SIMPLE(CERT_TBS, subject, X509_NAME),
	ASN1_SIMPLE(CERT_TBS, spki, CA_SPKI_RAW),
	ASN1_IMP_OPT(CERT_TBS, issuer_uid, ASN1_BIT_STRING, 1),
	ASN1_IMP_OPT(CERT_TBS, subject_uid, ASN1_BIT_STRING, 2),
	ASN1_EXP_SEQUENCE_OF_OPT(CERT_TBS, extensions, X509_EXTENSION, 3),
} static_ASN1_SEQUENCE_END(CERT_TBS)

ASN1_SEQUENCE(CERT_RAW) = {
	ASN1_SIMPLE(CERT_RAW, tbs, CERT_TBS),
	ASN1_SIMPLE(CERT_RAW, sig_alg, X509_ALGOR),
	ASN1_SIMPLE(CERT_RAW, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(CERT_RAW)

/* Both signature algorithms and the signature value of x, from raw. */
static int set_signature(X509 *x, const CERT_RAW *raw)
{
	const ASN1_BIT_STRING *sig = NULL;
	const X509_ALGOR *alg = NULL;

	X509_get0_signature(&sig, &alg, x);
	return sig != NULL && alg != NULL &&
	       X509_ALGOR_copy((X509_ALGOR *)X509_get0_tbs_sigalg(x), raw->tbs->signature) == 1 &&
	       X509_ALGOR_copy((X509_ALGOR *)alg, raw->sig_alg) == 1 &&
	       ASN1_STRING_copy((ASN1_BIT_STRING *)sig, raw->signature) == 1;
}

/* The X509 made of raw's parts with their key as a legacy key, or NULL. */
static ASN1_VALUE *assemble(ASN1_VALUE *v)
{
	const CERT_RAW *raw = (const CERT_RAW *)v;
	const CERT_TBS *tbs = raw->tbs;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	int i;

	/* v3 only (what cairn issues), and no unique IDs: the rest goes the generic way. */
	if (tbs->version == NULL || ASN1_INTEGER_get(tbs->version) != X509_VERSION_3 ||
	    tbs->issuer_uid != NULL || tbs->subject_uid != NULL ||
	    (key = ca_pubkey_from_raw(tbs->spki)) == NULL || (x = X509_new()) == NULL)
		goto fail;
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    X509_set_serialNumber(x, tbs->serial) != 1 || set_signature(x, raw) != 1 ||
	    X509_set_issuer_name(x, tbs->issuer) != 1 ||
	    X509_set1_notBefore(x, tbs->validity->notBefore) != 1 ||
	    X509_set1_notAfter(x, tbs->validity->notAfter) != 1 ||
	    X509_set_subject_name(x, tbs->subject) != 1 || X509_set_pubkey(x, key) != 1)
		goto fail;
	for (i = 0; i < sk_X509_EXTENSION_num(tbs->extensions); i++)
		if (X509_add_ext(x, sk_X509_EXTENSION_value(tbs->extensions, i), -1) != 1)
			goto fail;
	EVP_PKEY_free(key);
	return (ASN1_VALUE *)x;
fail:
	EVP_PKEY_free(key);
	X509_free(x);
	return NULL;
}

X509 *ca_cert_d2i(const unsigned char **pp, long len)
{
	X509 *x = (X509 *)ca_der_fast(pp, len, ASN1_ITEM_rptr(CERT_RAW), ASN1_ITEM_rptr(X509),
				      assemble);

	return x != NULL ? x : d2i_X509(NULL, pp, len);
}
