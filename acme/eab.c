/* SPDX-License-Identifier: MIT */
/* External Account Binding (RFC 8555 §7.3.4): admin-created key ids with HMAC keys, bound to a policy group. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include "acme/acme_int.h"

typedef struct eab_op {
	const char *kid;
	json_t *rec;
	const char *actor;
} eab_op_t;

static int eab_create_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	eab_op_t *op = arg;
	char key[64];
	int rc;

	snprintf(key, sizeof(key), "e/%s", op->kid);
	if ((rc = acme_txn_put(NULL, txn, key, op->rec)) != 0)
		return rc;
	return acme_audit(txn, "-", "acme.eab.create", NULL, NULL,
			  json_pack("{s:s, s:O?, s:O?, s:s}", "kid", op->kid, "group",
				    json_object_get(op->rec, "group"), "profile",
				    json_object_get(op->rec, "profile"), "by", op->actor),
			  err);
}

int acme_eab_create(acme_t *a, const char *group, const char *profile, const char *actor,
		    char **kid, char **hmac_b64, cairn_err_t *err)
{
	uint8_t key[32];
	char id[ACME_ID_LEN + 1];
	char *k64 = NULL;
	eab_op_t op;
	int rc;

	*kid = *hmac_b64 = NULL;
	if (group != NULL && !policy_group_ok(group))
		return cairn_err_set(err, CAIRN_EINVAL, "group must be " POLICY_GROUP_RULE);
	if (profile != NULL && ca_profile(a->ca, profile) == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "no certificate profile named %s", profile);
	if (profile != NULL && strcmp(profile, CA_ADMIN_PROFILE) == 0)
		return cairn_err_set(err, CAIRN_EINVAL,
				     "profile %s logs in to the admin API: EAB keys may not hand it out",
				     profile);
	if (util_random(key, sizeof(key)) != 0 || acme_new_id(id) != 0)
		return cairn_err_set(err, CAIRN_ECRYPTO, "no randomness");
	k64 = b64url_encode(key, sizeof(key));
	OPENSSL_cleanse(key, sizeof(key));
	if (k64 == NULL)
		return CAIRN_ENOMEM;
	op.kid = id;
	op.actor = actor ? actor : "admin";
	op.rec = json_pack("{s:s, s:s, s:s?, s:s?, s:I}", "kid", id, "key", k64, "group", group,
			   "profile", profile, "created", (json_int_t)time(NULL));
	rc = op.rec ? db_write(a->db, eab_create_run, &op, err) : CAIRN_ENOMEM;
	json_decref(op.rec);
	if (rc) {
		free(k64);
		return rc;
	}
	*kid = strdup(id);
	*hmac_b64 = k64;
	return 0;
}

int acme_eab_check(acme_t *a, const json_t *eab, const json_t *jwk, const char *url,
		   char *kid, size_t kid_cap, char *group, size_t group_cap, char *profile,
		   size_t profile_cap, http_reply_t *r)
{
	const char *prot, *pay, *sig, *alg, *hkid, *hurl, *k64;
	json_t *ph = NULL, *rec = NULL, *inner_jwk = NULL;
	uint8_t *raw = NULL, *hkey = NULL, *sigraw = NULL, mac[EVP_MAX_MD_SIZE];
	size_t rl = 0, kl = 0, sl = 0, pl;
	unsigned int ml = 0;
	const EVP_MD *md = NULL;
	char key[64], t1[48], t2[48], why[160] = "not base64url", *input = NULL;
	int rc = CAIRN_EAUTH;

	prot = json_string_value(json_object_get(eab, "protected"));
	pay = json_string_value(json_object_get(eab, "payload"));
	sig = json_string_value(json_object_get(eab, "signature"));
	if (!json_is_object(eab) || !prot || !pay || !sig) {
		acme_problem(r, 400, "malformed", "externalAccountBinding must be a flattened JWS");
		goto out;
	}
	if (b64url_decode(prot, strlen(prot), &raw, &rl) != 0 ||
	    util_json_parse((const char *)raw, rl, &a->json, &ph, why, sizeof(why)) != 0) {
		acme_problem(r, 400, "malformed",
			     "externalAccountBinding protected header is not JSON: %s", why);
		goto out;
	}
	alg = json_string_value(json_object_get(ph, "alg"));
	hkid = json_string_value(json_object_get(ph, "kid"));
	hurl = json_string_value(json_object_get(ph, "url"));
	if (alg && strcmp(alg, "HS256") == 0)
		md = EVP_sha256();
	else if (alg && strcmp(alg, "HS384") == 0)
		md = EVP_sha384();
	else if (alg && strcmp(alg, "HS512") == 0)
		md = EVP_sha512();
	if (md == NULL || hkid == NULL || hurl == NULL || strcmp(hurl, url) != 0 ||
	    json_object_get(ph, "nonce") != NULL || strlen(hkid) >= kid_cap) {
		acme_problem(r, 400, "malformed",
			     "externalAccountBinding needs alg HS256/384/512, kid, url = newAccount, no nonce");
		goto out;
	}
	snprintf(key, sizeof(key), "e/%.40s", hkid);
	if (acme_get(a, key, &rec) != 0) {
		acme_problem(r, 401, "unauthorized", "unknown external account key id");
		goto out;
	}
	if (json_object_get(rec, "account") != NULL) {
		acme_problem(r, 401, "unauthorized", "external account key id already used");
		goto out;
	}
	k64 = json_string_value(json_object_get(rec, "key"));
	pl = strlen(prot) + 1 + strlen(pay);
	input = malloc(pl + 1);
	if (input == NULL || b64url_decode(k64, strlen(k64), &hkey, &kl) != 0 ||
	    b64url_decode(sig, strlen(sig), &sigraw, &sl) != 0) {
		acme_problem(r, 400, "malformed", "externalAccountBinding signature is not base64url");
		goto out;
	}
	snprintf(input, pl + 1, "%s.%s", prot, pay);
	if (HMAC(md, hkey, (int)kl, (const uint8_t *)input, pl, mac, &ml) == NULL || sl != ml ||
	    CRYPTO_memcmp(mac, sigraw, ml) != 0) {
		acme_problem(r, 401, "unauthorized", "externalAccountBinding MAC does not verify");
		goto out;
	}
	free(raw);
	raw = NULL;
	snprintf(why, sizeof(why), "not base64url");
	if (b64url_decode(pay, strlen(pay), &raw, &rl) != 0 ||
	    util_json_parse((const char *)raw, rl, &a->json, &inner_jwk, why, sizeof(why)) != 0) {
		acme_problem(r, 400, "malformed", "externalAccountBinding payload is not JSON: %s",
			     why);
		goto out;
	}
	if (acme_jwk_thumbprint(inner_jwk, t1, sizeof(t1)) != 0 ||
	    acme_jwk_thumbprint(jwk, t2, sizeof(t2)) != 0 || strcmp(t1, t2) != 0) {
		acme_problem(r, 400, "malformed",
			     "externalAccountBinding payload must be the account's jwk");
		goto out;
	}
	snprintf(kid, kid_cap, "%s", hkid);
	snprintf(group, group_cap, "%s",
		 json_string_value(json_object_get(rec, "group")) ?
			 json_string_value(json_object_get(rec, "group")) : "");
	snprintf(profile, profile_cap, "%s",
		 json_string_value(json_object_get(rec, "profile")) ?
			 json_string_value(json_object_get(rec, "profile")) : "");
	rc = 0;
out:
	if (hkey)
		OPENSSL_cleanse(hkey, kl);
	free(hkey);
	free(sigraw);
	free(raw);
	free(input);
	json_decref(ph);
	json_decref(rec);
	json_decref(inner_jwk);
	return rc;
}
