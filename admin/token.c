/* SPDX-License-Identifier: MIT */
/* Admin API tokens: random secrets shown once, stored only as SHA-256 with role and expiry. */
#include <stdlib.h>
#include <string.h>

#include <stdio.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "admin/admin.h"
#include "admin/admin_int.h"
#include "audit/audit.h"

static const char *const admin_roles[] = { "admin", "approver", "operator", "auditor" };

int admin_role_valid(const char *role)
{
	size_t i;

	for (i = 0; i < sizeof(admin_roles) / sizeof(admin_roles[0]); i++)
		if (strcmp(role, admin_roles[i]) == 0)
			return 1;
	return 0;
}

struct token_put {
	uint8_t hash[SHA256_DIGEST_LENGTH];
	const char *record;
	const char *name;
	const char *role;
	const char *actor;
};

static int token_put_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct token_put *tp = arg;
	json_t *details = json_pack("{s:s, s:s}", "name", tp->name, "role", tp->role);
	audit_event_t ev = { .actor = tp->actor, .action = "admin.token.create", .details = details };
	int rc;

	rc = admin_require(txn, tp->name, tp->role, err);
	if (rc) {
		json_decref(details);
		return rc;
	}
	rc = db_put(txn, DB_TOKENS, tp->hash, sizeof(tp->hash), tp->record, strlen(tp->record),
		    DB_NOOVERWRITE);
	if (rc == 0)
		rc = audit_append(txn, &ev, NULL, err);
	else
		cairn_err_set(err, rc, "storing token: %s", cairn_strerror(rc));
	json_decref(details);
	return rc;
}

int admin_token_create(db_t *db, const char *name, const char *role, int64_t expires_at,
		       const char *actor, char **token, cairn_err_t *err)
{
	struct token_put tp = { .name = name, .role = role, .actor = actor };
	uint8_t secret[32];
	char *b64 = NULL, *record = NULL;
	json_t *rec = NULL;
	int rc;

	*token = NULL;
	if (name == NULL || name[0] == '\0' || strlen(name) >= sizeof(((admin_identity_t *)0)->name))
		return cairn_err_set(err, CAIRN_EINVAL, "token name must be 1..63 characters");
	if (!admin_role_valid(role))
		return cairn_err_set(err, CAIRN_EINVAL,
				     "role %s: must be admin, approver, operator or auditor", role);
	rc = util_random(secret, sizeof(secret));
	if (rc)
		return cairn_err_set(err, rc, "no randomness for the token");
	b64 = b64url_encode(secret, sizeof(secret));
	if (b64 == NULL || asprintf(token, ADMIN_TOKEN_PREFIX "%s", b64) < 0) {
		*token = NULL;
		rc = CAIRN_ENOMEM;
		goto out;
	}
	SHA256((const unsigned char *)*token, strlen(*token), tp.hash);
	rec = json_pack("{s:s, s:s, s:I, s:I, s:b}", "name", name, "role", role, "created",
			(json_int_t)time(NULL), "expires", (json_int_t)expires_at, "revoked", 0);
	record = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
	if (record == NULL) {
		rc = CAIRN_ENOMEM;
		goto out;
	}
	tp.record = record;
	rc = db_write(db, token_put_op, &tp, err);
out:
	if (rc != 0) {
		free(*token);
		*token = NULL;
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	free(b64);
	free(record);
	json_decref(rec);
	return rc;
}

int admin_authenticate(db_t *db, const char *authorization, admin_identity_t *id,
		       cairn_err_t *err)
{
	uint8_t hash[SHA256_DIGEST_LENGTH];
	const char *token;

	memset(id, 0, sizeof(*id));
	if (authorization == NULL)
		return cairn_err_set(err, CAIRN_EAUTH, "missing Authorization header");
	if (strncasecmp(authorization, "Bearer ", 7) != 0)
		return cairn_err_set(err, CAIRN_EAUTH, "Authorization must be a Bearer token");
	token = authorization + 7;
	while (*token == ' ')
		token++;
	if (strncmp(token, ADMIN_TOKEN_PREFIX, strlen(ADMIN_TOKEN_PREFIX)) != 0 ||
	    strlen(token) > 128)
		return cairn_err_set(err, CAIRN_EAUTH, "unknown API token");
	SHA256((const unsigned char *)token, strlen(token), hash);
	return admin_token_check_hash(db, hash, id, err);
}

int admin_token_check_txn(db_txn_t *txn, const uint8_t hash[32], admin_identity_t *id,
			  cairn_err_t *err)
{
	const void *val;
	size_t vlen;
	json_t *rec = NULL;
	const char *name = NULL, *role = NULL;
	json_int_t expires = 0, created = 0;
	int revoked = 0, rc;

	/* The lookup is by hash, so timing reveals nothing about the secret. */
	if (db_get(txn, DB_TOKENS, hash, SHA256_DIGEST_LENGTH, &val, &vlen) != 0)
		return cairn_err_set(err, CAIRN_EAUTH, "unknown API token");
	rec = json_loadb(val, vlen, 0, NULL);
	if (rec == NULL ||
	    json_unpack(rec, "{s:s, s:s, s?I, s?I, s?b}", "name", &name, "role", &role, "created",
			&created, "expires", &expires, "revoked", &revoked) != 0) {
		rc = cairn_err_set(err, CAIRN_EAUTH, "token record is damaged");
		goto out;
	}
	if (revoked) {
		rc = cairn_err_set(err, CAIRN_EAUTH, "API token %s was revoked", name);
		goto out;
	}
	if (expires != 0 && expires < (json_int_t)time(NULL)) {
		rc = cairn_err_set(err, CAIRN_EAUTH, "API token %s expired", name);
		goto out;
	}
	/* A token that expires, made after now: the clock went back since, and the token
	 * would outlive its lifetime by as much (one that never expires has none to keep). */
	if (expires != 0 && time_ahead(created, (int64_t)time(NULL))) {
		rc = cairn_err_set(err, CAIRN_EAUTH,
				   "API token %s was made %lld s after the current time (the "
				   "clock went back since): make a new one",
				   name, (long long)(created - (json_int_t)time(NULL)));
		goto out;
	}
	snprintf(id->name, sizeof(id->name), "%s", name);
	snprintf(id->role, sizeof(id->role), "%s", role);
	memcpy(id->cred, hash, SHA256_DIGEST_LENGTH);
	id->cred_len = SHA256_DIGEST_LENGTH;
	id->proof = "token";
	rc = admin_check_enabled(txn, id, err);
out:
	json_decref(rec);
	return rc;
}

int admin_token_check_hash(db_t *db, const uint8_t hash[32], admin_identity_t *id,
			   cairn_err_t *err)
{
	db_txn_t *txn = NULL;
	int rc;

	if ((rc = db_read_begin(db, &txn)) != 0)
		return cairn_err_set(err, rc, "token lookup: %s", cairn_strerror(rc));
	rc = admin_token_check_txn(txn, hash, id, err);
	db_txn_end(txn);
	return rc;
}
