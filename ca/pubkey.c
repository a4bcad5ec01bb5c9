/* SPDX-License-Identifier: MIT */
/* Subject keys in the legacy form OpenSSL 3.0 decodes and encodes fast: from the SPKI of a CSR or a stored certificate (with the decode-and-compare step both fast decoders share), or copied from a provider key. */
/*
 * OpenSSL 3.0 handles a provider key's SubjectPublicKeyInfo through the generic
 * OSSL_DECODER / OSSL_ENCODER machinery, which looks up every provider decoder
 * (or encoder) for each key: d2i_X509_REQ spends ~100-130 us of its ~135 us on
 * the CSR's key, and X509_set_pubkey ~150 us encoding it (bench/README.md,
 * issue_bench). A legacy EC_KEY or RSA key is decoded and encoded directly by its
 * ASN.1 method (~2 us and ~7 us). The legacy key API is deprecated in 3.0 but
 * present (hsm/ relies on it as well).
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <pthread.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>

#include "ca/ca_int.h"

/* Immutable after the once-init; EC_KEY_set_group copies them. */
static pthread_once_t groups_once = PTHREAD_ONCE_INIT;
static EC_GROUP *group_p256, *group_p384;

static void groups_init(void)
{
	group_p256 = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	group_p384 = EC_GROUP_new_by_curve_name(NID_secp384r1);
}

/* The cached group of a named curve cairn accepts, or NULL. */
static const EC_GROUP *group_of(int nid)
{
	if (pthread_once(&groups_once, groups_init) != 0)
		return NULL;
	if (nid == NID_X9_62_prime256v1)
		return group_p256;
	if (nid == NID_secp384r1)
		return group_p384;
	return NULL;
}

/* A legacy EC key on g from an encoded point (o2i_ECPublicKey: the same decoding, with
 * its on-curve check, that OpenSSL's own EC SPKI decoder applies), or NULL. */
static EVP_PKEY *ec_legacy(const EC_GROUP *g, const unsigned char *point, long len)
{
	const unsigned char *p = point;
	EC_KEY *ec = NULL;
	EVP_PKEY *pk = NULL;

	if ((ec = EC_KEY_new()) == NULL || EC_KEY_set_group(ec, g) != 1 ||
	    o2i_ECPublicKey(&ec, &p, len) == NULL || p != point + len ||
	    (pk = EVP_PKEY_new()) == NULL || EVP_PKEY_assign_EC_KEY(pk, ec) != 1) {
		EC_KEY_free(ec);
		EVP_PKEY_free(pk);
		return NULL;
	}
	return pk;
}

EVP_PKEY *ca_pubkey_from_spki(const X509_ALGOR *alg, const ASN1_BIT_STRING *bits)
{
	const ASN1_OBJECT *oid;
	const void *param;
	const unsigned char *p;
	const EC_GROUP *g;
	EVP_PKEY *pk = NULL;
	RSA *rsa = NULL;
	int ptype;
	long len;

	if (alg == NULL || bits == NULL || bits->data == NULL || bits->length <= 0 ||
	    (bits->flags & 0x07) != 0)
		return NULL;
	X509_ALGOR_get0(&oid, &ptype, &param, alg);
	p = bits->data;
	len = bits->length;
	switch (OBJ_obj2nid(oid)) {
	case NID_X9_62_id_ecPublicKey:
		/* Named P-256/P-384 only; explicit parameters go the generic way. */
		if (ptype != V_ASN1_OBJECT || (g = group_of(OBJ_obj2nid(param))) == NULL)
			return NULL;
		return ec_legacy(g, p, len);
	case NID_rsaEncryption:
		if (ptype != V_ASN1_NULL)
			return NULL;
		if ((rsa = d2i_RSAPublicKey(NULL, &p, len)) == NULL || p != bits->data + len ||
		    (pk = EVP_PKEY_new()) == NULL || EVP_PKEY_assign_RSA(pk, rsa) != 1) {
			RSA_free(rsa);
			EVP_PKEY_free(pk);
			return NULL;
		}
		return pk;
	default:
		return NULL;
	}
}

int ca_pubkey_fast(EVP_PKEY *pk, EVP_PKEY **out)
{
	unsigned char point[1 + 2 * 48];
	char group[32];
	const EC_GROUP *g;
	size_t len = 0;

	*out = NULL;
	if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC || EVP_PKEY_get0_provider(pk) == NULL)
		return 0;
	if (EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) != 1)
		return 0;
	if (strcmp(group, "prime256v1") == 0)
		g = group_of(NID_X9_62_prime256v1);
	else if (strcmp(group, "secp384r1") == 0)
		g = group_of(NID_secp384r1);
	else
		return 0;
	if (g == NULL ||
	    EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point),
					    &len) != 1)
		return 0;
	if ((*out = ec_legacy(g, point, (long)len)) == NULL)
		return CAIRN_ENOMEM;
	return 0;
}

ASN1_SEQUENCE(CA_SPKI_RAW) = {
	ASN1_SIMPLE(CA_SPKI_RAW, algorithm, X509_ALGOR),
	ASN1_SIMPLE(CA_SPKI_RAW, key, ASN1_BIT_STRING),
} ASN1_SEQUENCE_END(CA_SPKI_RAW)

EVP_PKEY *ca_pubkey_from_raw(const CA_SPKI_RAW *spki)
{
	return spki != NULL ? ca_pubkey_from_spki(spki->algorithm, spki->key) : NULL;
}

/* The fast way, or NULL (nothing consumed) when it does not apply. */
static ASN1_VALUE *decode_fast(const unsigned char **pp, long len, const ASN1_ITEM *raw_it,
			       const ASN1_ITEM *it, ca_der_assemble_fn assemble)
{
	const unsigned char *p = *pp;
	unsigned char *again = NULL;
	ASN1_VALUE *raw, *obj = NULL;
	long used;

	if ((raw = ASN1_item_d2i(NULL, &p, len, raw_it)) == NULL ||
	    (obj = assemble(raw)) == NULL)
		goto out;
	/* Exactly what was read, or the generic decoder decides. */
	used = p - *pp;
	if (ASN1_item_i2d(obj, &again, it) != used || memcmp(again, *pp, (size_t)used) != 0) {
		ASN1_item_free(obj, it);
		obj = NULL;
		goto out;
	}
	*pp = p;
out:
	OPENSSL_free(again);
	ASN1_item_free(raw, raw_it);
	return obj;
}

ASN1_VALUE *ca_der_fast(const unsigned char **pp, long len, const ASN1_ITEM *raw_it,
			const ASN1_ITEM *it, ca_der_assemble_fn assemble)
{
	ASN1_VALUE *obj;

	if (pp == NULL || *pp == NULL || len <= 0)
		return NULL;
	ERR_set_mark();
	obj = decode_fast(pp, len, raw_it, it, assemble);
	ERR_pop_to_mark();
	return obj;
}
