/* SPDX-License-Identifier: MIT */
/* Fuzz target: CSR parsing (PEM or DER) and the checks against every default profile. */
#include <jansson.h>
#include <openssl/err.h>

#include "ca/ca.h"
#include "fuzz/fuzz.h"

#define MAX_PROFILES 16

static ca_profile_t profiles[MAX_PROFILES];
static size_t n_profiles;

static void load_profiles(void)
{
	json_t *all = ca_profiles_default(), *obj;
	const char *name;

	FUZZ_ASSERT(all != NULL);
	json_object_foreach(all, name, obj) {
		FUZZ_ASSERT(n_profiles < MAX_PROFILES);
		FUZZ_ASSERT(ca_profile_parse(name, obj, &profiles[n_profiles], NULL) == 0);
		n_profiles++;
	}
	json_decref(all);
}

FUZZ_TARGET(csr)
{
	X509_REQ *req = NULL;
	cairn_err_t err = { 0 };
	size_t i;

	if (n_profiles == 0)
		load_profiles();
	if (ca_csr_parse(data, size, &req, &err) == 0) {
		FUZZ_ASSERT(req != NULL);
		for (i = 0; i < n_profiles; i++) {
			int rc = ca_csr_check(req, &profiles[i], &err);
			/* A refusal always says why. */
			FUZZ_ASSERT(rc == 0 || err.msg[0] != '\0');
			err.msg[0] = '\0';
		}
	} else {
		FUZZ_ASSERT(req == NULL && err.code != 0);
	}
	X509_REQ_free(req);
	ERR_clear_error();
	return 0;
}
