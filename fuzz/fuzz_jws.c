/* SPDX-License-Identifier: MIT */
/* Fuzz target: an ACME request body as a flattened JWS — its parts, the protected header,
 * the JWK in it (key and RFC 7638 thumbprint) and the signature check against that key,
 * as acme/jws.c does before the nonce and account look-ups. */
#include <jansson.h>
#include <openssl/err.h>

#include "acme/acme_int.h"
#include "fuzz/fuzz.h"

FUZZ_TARGET(jws)
{
	json_t *jws, *hdr = NULL, *payload = NULL, *outer = NULL, *jwk;
	uint8_t *prot = NULL;
	size_t prot_len = 0;
	const char *p;
	char why[256] = "", thumb[64];
	EVP_PKEY *pk;

	jws = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (jws == NULL)
		return 0;
	p = json_string_value(json_object_get(jws, "protected"));
	if (p != NULL && b64url_decode(p, strlen(p), &prot, &prot_len) == 0)
		outer = json_loadb((const char *)prot, prot_len, JSON_REJECT_DUPLICATES, NULL);
	jwk = json_object_get(outer, "jwk");
	if (jwk != NULL) {
		pk = acme_jwk_to_pkey(jwk, why, sizeof(why));
		FUZZ_ASSERT(pk != NULL || why[0] != '\0');
		/* A key that loads has a thumbprint. */
		if (pk != NULL)
			FUZZ_ASSERT(acme_jwk_thumbprint(jwk, thumb, sizeof(thumb)) == 0);
		EVP_PKEY_free(pk);
		why[0] = '\0';
		if (acme_jws_check_inner(jws, jwk, &hdr, &payload, why, sizeof(why)) == 0)
			FUZZ_ASSERT(hdr != NULL && payload != NULL);
		else
			FUZZ_ASSERT(hdr == NULL && payload == NULL && why[0] != '\0');
	}
	json_decref(hdr);
	json_decref(payload);
	json_decref(outer);
	free(prot);
	json_decref(jws);
	ERR_clear_error();
	return 0;
}
