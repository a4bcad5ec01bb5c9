/* SPDX-License-Identifier: MIT */
/* Fuzz target: an ACME request body as a flattened JWS — its parts, the protected header,
 * the JWK in it (key and RFC 7638 thumbprint) and the signature check against that key,
 * through the one bounded JSON parser, as acme/jws.c does before the nonce and account
 * look-ups. */
#include <jansson.h>
#include <openssl/err.h>

#include "acme/acme_int.h"
#include "fuzz/fuzz.h"

FUZZ_TARGET(jws)
{
	/* Zero limits: the parser's defaults, as a daemon with no server.max_json_depth. */
	static const acme_t a;
	json_t *jws = NULL, *hdr = NULL, *payload = NULL, *outer = NULL, *jwk;
	uint8_t *prot = NULL;
	size_t prot_len = 0;
	const char *p;
	char why[256] = "", thumb[64];
	EVP_PKEY *pk;

	if (util_json_parse((const char *)data, size, &a.json, &jws, why, sizeof(why)) != 0)
		return 0;
	p = json_string_value(json_object_get(jws, "protected"));
	if (p != NULL && b64url_decode(p, strlen(p), &prot, &prot_len) == 0 &&
	    util_json_parse((const char *)prot, prot_len, &a.json, &outer, why, sizeof(why)) != 0)
		outer = NULL;
	why[0] = '\0';
	jwk = json_object_get(outer, "jwk");
	if (jwk != NULL) {
		pk = acme_jwk_to_pkey(jwk, why, sizeof(why));
		FUZZ_ASSERT(pk != NULL || why[0] != '\0');
		/* A key that loads has a thumbprint. */
		if (pk != NULL)
			FUZZ_ASSERT(acme_jwk_thumbprint(jwk, thumb, sizeof(thumb)) == 0);
		EVP_PKEY_free(pk);
		why[0] = '\0';
		if (acme_jws_check_inner(&a, jws, jwk, &hdr, &payload, why, sizeof(why)) == 0)
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
