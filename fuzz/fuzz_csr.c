/* SPDX-License-Identifier: MIT */
/* Fuzz target: CSR parsing (PEM or DER), the request object (ca_csr_new, verified and read
 * only) and the checks against every default profile — as received, and re-signed with a
 * fixed key so that the checks after the signature (names, SANs, CN) see mutated content
 * too instead of stopping at a bad signature. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>

#include "ca/ca.h"
#include "fuzz/fuzz.h"
#include "policy/policy.h"

#define MAX_PROFILES 16

static ca_profile_t profiles[MAX_PROFILES];
static size_t n_profiles;
static EVP_PKEY *resign_key;

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
	resign_key = EVP_EC_gen("P-256");
	FUZZ_ASSERT(resign_key != NULL);
}

/* The one name extractor, on every parsed CSR whatever its signature: what it returns
 * is what every path compares, so its invariants are checked here. */
static void check_names(X509_REQ *req)
{
	cairn_err_t err = { 0 };
	ca_names_t n;
	size_t i, j;
	int staple = -1;

	if (ca_csr_requests(req, &n, &staple, &err) != 0) {
		FUZZ_ASSERT(err.msg[0] != '\0' && n.n_san == 0 && n.cn == NULL && staple == 0);
		return;
	}
	FUZZ_ASSERT(staple == 0 || staple == 1);
	FUZZ_ASSERT(n.n_san <= 100);
	for (i = 0; i < n.n_san; i++) {
		const ca_name_t *nm = &n.san[i];
		FUZZ_ASSERT(nm->text != NULL && nm->text[0] != '\0');
		if (nm->type == CA_SAN_IP) {
			ca_name_t again = { 0 };
			FUZZ_ASSERT(nm->ip_len == 4 || nm->ip_len == 16);
			/* The text form reads back to the same normalised address. */
			FUZZ_ASSERT(ca_ip_from_text(nm->text, &again) == 0 &&
				    again.ip_len == nm->ip_len &&
				    memcmp(again.ip, nm->ip, nm->ip_len) == 0);
			free(again.text);
		} else {
			for (j = 0; nm->text[j]; j++)
				FUZZ_ASSERT(nm->text[j] > 0x20 && nm->text[j] < 0x7f);
		}
		FUZZ_ASSERT(ca_names_has(&n, nm));
	}
	FUZZ_ASSERT(ca_names_same_sans(&n, &n));
	ca_names_clear(&n);
}

static void check_all(X509_REQ *req)
{
	cairn_err_t err = { 0 };
	size_t i;

	check_names(req);

	for (i = 0; i < n_profiles; i++) {
		int rc = ca_csr_check(req, &profiles[i], &err);
		/* A refusal always says why. */
		FUZZ_ASSERT(rc == 0 || err.msg[0] != '\0');
		err.msg[0] = '\0';
	}
}

/* The request object built from the same bytes: read-only always when the CSR parses;
 * verified, it gives every profile the verdict the bare checks give. */
static void check_object(const uint8_t *data, size_t size, X509_REQ *parsed)
{
	cairn_err_t err = { 0 };
	ca_csr_t *c = NULL;
	policy_input_t in;
	size_t i;
	int rc;

	rc = ca_csr_new(data, size, 0, &c, &err);
	FUZZ_ASSERT(rc == 0 ? c != NULL && c->verified && c->pub != NULL : c == NULL);
	if (rc == 0) {
		FUZZ_ASSERT(parsed != NULL && c->raw_len == size && memcmp(c->raw, data, size) == 0);
		for (i = 0; i < n_profiles; i++) {
			cairn_err_t e1 = { 0 }, e2 = { 0 };
			FUZZ_ASSERT(ca_csr_check_profile(c, &profiles[i], &e1) ==
				    ca_csr_check(parsed, &profiles[i], &e2));
		}
	}
	ca_csr_free(c);
	c = NULL;
	rc = ca_csr_new(data, size, CA_CSR_NO_VERIFY, &c, &err);
	if (rc != 0) {
		FUZZ_ASSERT(c == NULL && err.msg[0] != '\0');
		return;
	}
	FUZZ_ASSERT(!c->verified && parsed != NULL);
	memset(&in, 0, sizeof(in));
	if (policy_input_from_csr(c, &in, &err) == 0)
		FUZZ_ASSERT(in.key_type != NULL);
	policy_input_clear(&in);
	ca_csr_free(c);
}

FUZZ_TARGET(csr)
{
	X509_REQ *req = NULL;
	cairn_err_t err = { 0 };

	if (n_profiles == 0)
		load_profiles();
	if (ca_csr_parse(data, size, &req, &err) == 0) {
		FUZZ_ASSERT(req != NULL);
		check_object(data, size, req);
		check_all(req);
		if (X509_REQ_set_pubkey(req, resign_key) == 1 &&
		    X509_REQ_sign(req, resign_key, EVP_sha256()) > 0)
			check_all(req);
	} else {
		FUZZ_ASSERT(req == NULL && err.code != 0);
		check_object(data, size, NULL);
	}
	X509_REQ_free(req);
	ERR_clear_error();
	return 0;
}
