/* SPDX-License-Identifier: MIT */
/* Fuzz target: EST bodies — the lenient base64 of PKCS#10 requests (and its round trip), the CSR inside, and the "est" config object. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "est/est_int.h"
#include "fuzz/fuzz.h"

FUZZ_TARGET(est)
{
	uint8_t *raw = NULL, *back = NULL;
	size_t raw_len = 0, back_len = 0, text_len = 0;
	char *text = NULL;
	X509_REQ *req = NULL;
	est_settings_t *set = malloc(sizeof(*set));
	json_t *obj;

	FUZZ_ASSERT(set != NULL);
	if (est_b64_decode((const char *)data, size, &raw, &raw_len) == 0) {
		/* What decodes encodes again and decodes to the same bytes. */
		FUZZ_ASSERT(est_b64_encode(raw, raw_len, &text, &text_len) == 0);
		FUZZ_ASSERT(est_b64_decode(text, text_len, &back, &back_len) == 0);
		FUZZ_ASSERT(back_len == raw_len && (raw_len == 0 || memcmp(back, raw, raw_len) == 0));
		if (ca_csr_parse(raw, raw_len, &req, NULL) == 0)
			FUZZ_ASSERT(req != NULL);
	}
	obj = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (obj != NULL) {
		int rc = est_settings_parse(obj, set, NULL);
		FUZZ_ASSERT(rc == 0 || rc == CAIRN_ECONFIG);
		FUZZ_ASSERT(rc != 0 || set->n_labels <= EST_MAX_LABELS);
		/* No label lets admin or init-made certificates authenticate EST clients. */
		for (size_t i = 0; rc == 0 && i < set->n_labels; i++)
			for (size_t j = 0; j < set->labels[i].n_client_cert_profiles; j++) {
				FUZZ_ASSERT(j < EST_MAX_CERT_PROFILES);
				FUZZ_ASSERT(!est_profile_never_client(set->labels[i].client_cert_profiles[j]));
			}
	}
	json_decref(obj);
	X509_REQ_free(req);
	free(raw);
	free(back);
	free(text);
	free(set);
	return 0;
}
