/* SPDX-License-Identifier: MIT */
/* A cheap-to-encode copy of an EC subject key: works around OpenSSL 3.0's slow X509_set_pubkey. */
/*
 * OpenSSL 3.0's X509_set_pubkey encodes a provider key with OSSL_ENCODER and
 * decodes the result back with OSSL_DECODER: ~150 us per call, the largest
 * single cost of an issuance (see bench/README.md). A legacy EC key is
 * encoded directly by its ASN.1 method (~7 us). The legacy EC_KEY API is
 * deprecated in 3.0 but present (hsm/ relies on it as well).
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>

#include "ca/ca_int.h"

/* Immutable after the once-init; EC_KEY_set_group copies them. */
static pthread_once_t groups_once = PTHREAD_ONCE_INIT;
static EC_GROUP *group_p256, *group_p384;

static void groups_init(void)
{
	group_p256 = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	group_p384 = EC_GROUP_new_by_curve_name(NID_secp384r1);
}

int ca_pubkey_fast(EVP_PKEY *pk, EVP_PKEY **out)
{
	unsigned char point[1 + 2 * 48];
	char group[32];
	const unsigned char *p = point;
	const EC_GROUP *g;
	EC_KEY *ec = NULL;
	EVP_PKEY *copy = NULL;
	size_t len = 0;

	*out = NULL;
	if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC || EVP_PKEY_get0_provider(pk) == NULL)
		return 0;
	if (pthread_once(&groups_once, groups_init) != 0 ||
	    EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) != 1)
		return 0;
	if (strcmp(group, "prime256v1") == 0)
		g = group_p256;
	else if (strcmp(group, "secp384r1") == 0)
		g = group_p384;
	else
		return 0;
	if (g == NULL ||
	    EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point),
					    &len) != 1)
		return 0;
	if ((ec = EC_KEY_new()) == NULL || EC_KEY_set_group(ec, g) != 1 ||
	    o2i_ECPublicKey(&ec, &p, (long)len) == NULL || (copy = EVP_PKEY_new()) == NULL ||
	    EVP_PKEY_assign_EC_KEY(copy, ec) != 1) {
		EC_KEY_free(ec);
		EVP_PKEY_free(copy);
		return CAIRN_ENOMEM;
	}
	*out = copy;
	return 0;
}
