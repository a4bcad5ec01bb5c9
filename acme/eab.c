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
	json_t *result;   /* revoke: the record as it now is */
} eab_op_t;

static int eab_create_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	eab_op_t *op = arg;
	char key[64];
	int rc;

	snprintf(key, sizeof(key), "e/%s", op->kid);
	if ((rc = acme_txn_put(NULL, txn, key, op->rec)) != 0)
		return rc;
	return acme_audit_by(txn, "acme.eab.create", op->actor,
			 json_pack("{s:s, s:O?, s:O?, s:O}", "kid", op->kid, "group",
				   json_object_get(op->rec, "group"), "profile",
				   json_object_get(op->rec, "profile"), "expires",
				   json_object_get(op->rec, "expires")),
			 err);
}

int acme_eab_create(acme_t *a, const char *group, const char *profile, int64_t expires,
		    const char *actor, char **kid, char **hmac_b64, cairn_err_t *err)
{
	uint8_t key[32];
	char id[ACME_ID_LEN + 1];
	char *k64 = NULL;
	eab_op_t op = { 0 };
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
	op.rec = json_pack("{s:s, s:s, s:s?, s:s?, s:I, s:I, s:s}", "kid", id, "key", k64, "group",
			   group, "profile", profile, "created", (json_int_t)time(NULL), "expires",
			   (json_int_t)expires, "by", op.actor);
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

/* What a key record is at now: "revoked", "bound" (an account holds it), "expired",
 * or "unused". A key made after now (the clock went back since) counts as expired
 * when it expires at all: it would otherwise outlive its lifetime by the step, as
 * API tokens would (admin/tokens). Keys made before expiries existed never expire. */
const char *acme_eab_state(const json_t *rec, int64_t now)
{
	json_int_t expires = json_integer_value(json_object_get(rec, "expires"));
	json_int_t created = json_integer_value(json_object_get(rec, "created"));

	if (json_object_get(rec, "revoked") != NULL)
		return "revoked";
	if (json_object_get(rec, "account") != NULL)
		return "bound";
	if (expires > 0 && (now >= expires || created > now))
		return "expired";
	return "unused";
}

int acme_eab_bindable(const json_t *rec, int64_t now, cairn_err_t *err)
{
	const char *state = acme_eab_state(rec, now);
	json_int_t created = json_integer_value(json_object_get(rec, "created"));

	if (strcmp(state, "unused") == 0)
		return 0;
	if (strcmp(state, "bound") == 0)
		return cairn_err_set(err, CAIRN_EAUTH, "external account key id already used");
	if (strcmp(state, "revoked") == 0)
		return cairn_err_set(err, CAIRN_EAUTH, "external account key id was revoked");
	if (created > now)
		return cairn_err_set(err, CAIRN_EAUTH,
				     "external account key id was made after the current time "
				     "(the clock went back since): ask for a new one");
	return cairn_err_set(err, CAIRN_EAUTH, "external account key id expired: ask for a new one");
}

/* The record as admins see it: everything but the HMAC key, with its state. */
static json_t *eab_view(const json_t *rec, int64_t now)
{
	json_t *v = json_deep_copy(rec);

	if (v == NULL)
		return NULL;
	json_object_del(v, "key");
	json_object_set_new(v, "state", json_string(acme_eab_state(rec, now)));
	return v;
}

typedef struct eab_list {
	json_t *items;
	int64_t now;
} eab_list_t;

static int eab_collect(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	eab_list_t *l = arg;
	json_t *rec, *v;

	if (klen < 2 || memcmp(key, "e/", 2) != 0)
		return 1;   /* past the keys */
	rec = json_loadb(val, vlen, 0, NULL);
	v = rec ? eab_view(rec, l->now) : NULL;
	json_decref(rec);
	if (v == NULL || json_array_append_new(l->items, v) != 0)
		return CAIRN_ENOMEM;
	return 0;
}

json_t *acme_eab_list(acme_t *a)
{
	eab_list_t l = { json_array(), (int64_t)time(NULL) };
	db_txn_t *txn = NULL;
	int rc;

	if (l.items == NULL || db_read_begin(a->db, &txn) != 0) {
		json_decref(l.items);
		return NULL;
	}
	rc = db_iterate(txn, DB_ACME, "e/", 2, eab_collect, &l);
	db_txn_end(txn);
	if (rc < 0) {
		json_decref(l.items);
		return NULL;
	}
	return l.items;
}

static int eab_revoke_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	eab_op_t *op = arg;
	char key[64];
	json_t *rec = NULL;
	const char *acct;
	int rc;

	json_decref(op->result);
	op->result = NULL;
	snprintf(key, sizeof(key), "e/%s", op->kid);
	if ((rc = acme_txn_get(NULL, txn, key, &rec)) != 0)
		return cairn_err_set(err, rc, rc == CAIRN_ENOENT ? "no EAB key %s" : "EAB key %s",
				     op->kid);
	if (json_object_get(rec, "revoked") != NULL) {
		json_decref(rec);
		return cairn_err_set(err, CAIRN_ECONFLICT, "EAB key %s is revoked already",
				     op->kid);
	}
	json_object_set_new(rec, "revoked", json_integer((json_int_t)time(NULL)));
	json_object_set_new(rec, "revoked_by", json_string(op->actor));
	acct = json_string_value(json_object_get(rec, "account"));
	if ((acct != NULL && (rc = acme_account_revoke_txn(txn, acct, op->actor, NULL, err)) != 0) ||
	    (rc = acme_txn_put(NULL, txn, key, rec)) != 0 ||
	    (rc = acme_audit_by(txn, "acme.eab.revoke", op->actor,
			    json_pack("{s:s, s:s?}", "kid", op->kid, "account", acct), err)) != 0) {
		json_decref(rec);
		return rc;
	}
	op->result = eab_view(rec, (int64_t)time(NULL));
	json_decref(rec);
	return op->result ? 0 : CAIRN_ENOMEM;
}

int acme_eab_revoke(acme_t *a, const char *kid, const char *actor, json_t **out,
		    cairn_err_t *err)
{
	eab_op_t op = { .kid = kid, .actor = actor ? actor : "admin" };
	int rc;

	*out = NULL;
	if (strlen(kid) != ACME_ID_LEN)
		return cairn_err_set(err, CAIRN_ENOENT, "no EAB key %.64s", kid);
	rc = db_write(a->db, eab_revoke_run, &op, err);
	if (rc == 0)
		*out = op.result;
	else
		json_decref(op.result);
	return rc;
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
	cairn_err_t kerr = { 0 };
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
	if (acme_eab_bindable(rec, (int64_t)time(NULL), &kerr) != 0) {
		acme_problem(r, 401, "unauthorized", "%s", cairn_err_msg(&kerr));
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
