/* SPDX-License-Identifier: MIT */
/* Admin API: admins (list, add, disable), API tokens (list, create, revoke), ACME EAB keys and accounts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "admin/admin_int.h"

/* The longest expires_in of an API token (10 years). */
#define TOKEN_TTL_MAX (10 * 365 * 86400LL)
/* An EAB key's lifetime until it binds an account, unless expires_in says otherwise. */
#define EAB_TTL_DEFAULT (7 * 86400LL)

static void reply_list(http_reply_t *reply, json_t *items)
{
	json_t *doc;

	if (items == NULL) {
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "database unavailable");
		return;
	}
	doc = json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)json_array_size(items));
	http_reply_json(reply, 200, NULL, doc);
	json_decref(doc);
}

/* expires_in of a token or an EAB key: a duration up to 10 years. Past 10 years a
 * secret might as well not expire: that is said otherwise (and year 101959 has no RFC
 * 3339 form). 0, or -1 with the 400 in reply; forever says how to get no expiry. */
static int expires_in_parse(const char *text, const char *forever, int64_t *ttl,
			    http_reply_t *reply)
{
	if (duration_parse(text, ttl) == 0 && *ttl > 0 && *ttl <= TOKEN_TTL_MAX)
		return 0;
	http_reply_problem(reply, 400, PROBLEM("malformed"),
			   "expires_in must be a duration like 30d or 12h, at most 10y "
			   "(leave it out for %s)", forever);
	return -1;
}

void api_admins_list(const admin_ctx_t *ctx, const admin_request_t *req,
		     const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	(void)req;
	(void)who;
	(void)arg;
	reply_list(reply, admin_list(ctx->db));
}

void api_tokens_list(const admin_ctx_t *ctx, const admin_request_t *req,
		     const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	(void)req;
	(void)who;
	(void)arg;
	reply_list(reply, admin_token_list(ctx->db));
}

void api_admins_add(const admin_ctx_t *ctx, const admin_request_t *req,
		    const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	json_t *body = api_body(ctx, req, reply), *doc = NULL;
	const char *name = NULL, *role = NULL, *email = NULL;
	cairn_err_t err = { 0 };
	json_error_t jerr;
	char actor[96];
	(void)arg;

	if (body == NULL)
		return;
	if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s:s, s?s}", "name", &name, "role",
			   &role, "email", &email) != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "expected {\"name\": NAME, \"role\": ROLE, \"email\"?: ADDRESS}: %s",
				   jerr.text);
		goto out;
	}
	api_actor(who, actor, sizeof(actor));
	if (admin_add(ctx->db, name, role, email, actor, &err) != 0) {
		api_reply_error(reply, &err);
		goto out;
	}
	doc = json_pack("{s:s, s:s, s:b, s:s*}", "name", name, "role", role, "disabled", 0, "email",
			email);
	http_reply_json(reply, 201, NULL, doc);
	log_info("admin", "%s added admin %s (%s)", actor, name, role);
out:
	json_decref(doc);
	json_decref(body);
}

void api_admin_disable(const admin_ctx_t *ctx, const admin_request_t *req,
		       const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	cairn_err_t err = { 0 };
	json_t *doc;
	char actor[96];

	if (api_body_none(ctx, req, reply) != 0)
		return;
	api_actor(who, actor, sizeof(actor));
	if (admin_disable(ctx->db, arg, actor, &err) != 0) {
		api_reply_error(reply, &err);
		return;
	}
	doc = json_pack("{s:s, s:b}", "name", arg, "disabled", 1);
	http_reply_json(reply, 200, NULL, doc);
	json_decref(doc);
	log_info("admin", "%s disabled admin %s", actor, arg);
}

void api_tokens_create(const admin_ctx_t *ctx, const admin_request_t *req,
		       const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	json_t *body = api_body(ctx, req, reply), *doc = NULL;
	const char *name = NULL, *role = NULL, *expires = NULL;
	cairn_err_t err = { 0 };
	json_error_t jerr;
	char actor[96], id[17], *token = NULL;
	int64_t ttl = 0, expiry;
	(void)arg;

	if (body == NULL)
		return;
	/* Strict: a misspelt "expires_in" would make a token that never expires. */
	if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s:s, s?s}", "name", &name, "role",
			   &role, "expires_in", &expires) != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "expected {\"name\": NAME, \"role\": ROLE, \"expires_in\"?: \"30d\"}: %s",
				   jerr.text);
		goto out;
	}
	if (expires != NULL && expires_in_parse(expires, "a token that does not expire", &ttl,
						reply) != 0)
		goto out;
	/* One reading of the clock: the expiry answered is the one stored. */
	expiry = ttl ? (int64_t)time(NULL) + ttl : 0;
	api_actor(who, actor, sizeof(actor));
	if (admin_token_create(ctx->db, name, role, expiry, actor, &token, &err) != 0) {
		/* A token for no admin, another role or a disabled one is an attempt worth a trace. */
		if (err.code == CAIRN_ENOENT || err.code == CAIRN_ECONFLICT ||
		    err.code == CAIRN_EDENIED)
			api_audit_denied(ctx, req, actor, cairn_err_msg(&err));
		api_reply_error(reply, &err);
		goto out;
	}
	admin_token_id(token, id);
	doc = json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", id, "name", name, "role", role, "token",
			token, "expires", (json_int_t)expiry);
	http_reply_json(reply, 201, NULL, doc);
	log_info("admin", "%s created token %s for %s (%s)", actor, id, name, role);
out:
	if (token != NULL)
		OPENSSL_cleanse(token, strlen(token));
	free(token);
	json_decref(doc);
	json_decref(body);
}

void api_token_revoke(const admin_ctx_t *ctx, const admin_request_t *req,
		      const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	cairn_err_t err = { 0 };
	json_t *doc;
	char actor[96];

	if (api_body_none(ctx, req, reply) != 0)
		return;
	api_actor(who, actor, sizeof(actor));
	if (admin_token_revoke(ctx->db, arg, actor, &err) != 0) {
		api_reply_error(reply, &err);
		return;
	}
	doc = json_pack("{s:s, s:b}", "id", arg, "revoked", 1);
	http_reply_json(reply, 200, NULL, doc);
	json_decref(doc);
	log_info("admin", "%s revoked token %s", actor, arg);
}

/* POST /acme/eab {"group"?, "profile"?, "expires_in"?}: a new External Account Binding
 * key id and HMAC key (shown once), through the same authentication, role check and
 * audit as the rest. An unused key binds no account after expires_in (7 days unless
 * given): a key handed out and forgotten in a ticket does not stay a way in for ever. */
void api_acme_eab(const admin_ctx_t *ctx, const admin_request_t *req, const admin_identity_t *who,
		  const char *arg, http_reply_t *reply)
{
	json_t *body = api_body(ctx, req, reply), *doc = NULL;
	const char *group = NULL, *profile = NULL, *expires = NULL;
	cairn_err_t err = { 0 };
	json_error_t jerr;
	char actor[96], *kid = NULL, *key = NULL;
	int64_t ttl = EAB_TTL_DEFAULT, expiry;
	(void)arg;

	if (body == NULL)
		return;
	if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s?s, s?s, s?s}", "group", &group,
			   "profile", &profile, "expires_in", &expires) != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "expected {\"group\"?: NAME, \"profile\"?: NAME, "
				   "\"expires_in\"?: \"7d\"}: %s", jerr.text);
		goto out;
	}
	if (expires != NULL &&
	    expires_in_parse(expires, "the default of 7 days", &ttl, reply) != 0)
		goto out;
	if (ctx->acme == NULL) {
		http_reply_problem(reply, 503, PROBLEM("serverInternal"), "ACME is not running");
		goto out;
	}
	/* One reading of the clock: the expiry answered is the one stored. */
	expiry = (int64_t)time(NULL) + ttl;
	api_actor(who, actor, sizeof(actor));
	if (acme_eab_create(ctx->acme, group, profile, expiry, actor, &kid, &key, &err) != 0) {
		api_reply_error(reply, &err);
		goto out;
	}
	doc = json_pack("{s:s, s:s, s:s?, s:s?, s:I}", "kid", kid, "hmac_key", key, "group", group,
			"profile", profile, "expires", (json_int_t)expiry);
	http_reply_json(reply, 201, NULL, doc);
	log_info("admin", "%s created EAB key %s (group %s, profile %s)", actor, kid,
		 group ? group : "-", profile ? profile : "-");
out:
	if (key != NULL)
		OPENSSL_cleanse(key, strlen(key));
	free(key);
	free(kid);
	json_decref(doc);
	json_decref(body);
}

/* GET /acme/eab: every key with its state and the account it bound, never its HMAC key. */
void api_acme_eab_list(const admin_ctx_t *ctx, const admin_request_t *req,
		       const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	(void)req;
	(void)who;
	(void)arg;
	if (ctx->acme == NULL) {
		http_reply_problem(reply, 503, PROBLEM("serverInternal"), "ACME is not running");
		return;
	}
	reply_list(reply, acme_eab_list(ctx->acme));
}

/* GET /acme/accounts/{id}: an ACME account as admins see it (the id is in each of its
 * certificates' requester, acme:acct/ID, and in the EAB key list). */
void api_acme_account_show(const admin_ctx_t *ctx, const admin_request_t *req,
			   const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	cairn_err_t err = { 0 };
	json_t *doc;
	(void)req;
	(void)who;

	if (ctx->acme == NULL) {
		http_reply_problem(reply, 503, PROBLEM("serverInternal"), "ACME is not running");
		return;
	}
	if ((doc = acme_account_show(ctx->acme, arg, &err)) == NULL) {
		api_reply_error(reply, &err);
		return;
	}
	http_reply_json(reply, 200, NULL, doc);
	json_decref(doc);
}

typedef int (*acme_revoke_fn)(acme_t *acme, const char *id, const char *actor, json_t **out,
			      cairn_err_t *err);

/* The revocation of an ACME thing by its id, whose body takes no options: fn revokes it
 * (what names it in the answers) and answers it as it now is. */
static void acme_revoke_by_id(const admin_ctx_t *ctx, const admin_request_t *req,
			      const admin_identity_t *who, const char *id, const char *what,
			      acme_revoke_fn fn, http_reply_t *reply)
{
	json_t *doc = NULL;
	cairn_err_t err = { 0 };
	char actor[96];

	if (api_body_none(ctx, req, reply) != 0)
		return;
	if (ctx->acme == NULL) {
		http_reply_problem(reply, 503, PROBLEM("serverInternal"), "ACME is not running");
		return;
	}
	api_actor(who, actor, sizeof(actor));
	if (fn(ctx->acme, id, actor, &doc, &err) != 0) {
		api_reply_error(reply, &err);
		return;
	}
	http_reply_json(reply, 200, NULL, doc);
	log_info("admin", "%s revoked %s %s%s%s", actor, what, id,
		 json_is_string(json_object_get(doc, "account")) ? " and the account it bound, " : "",
		 json_is_string(json_object_get(doc, "account")) ?
			 json_string_value(json_object_get(doc, "account")) : "");
	json_decref(doc);
}

/* POST /acme/eab/{kid}/revoke: the key binds no account from now on, and the account it
 * bound (if any) is revoked with it: a leaked key, or a team that left, is cut off. */
void api_acme_eab_revoke(const admin_ctx_t *ctx, const admin_request_t *req,
			 const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	acme_revoke_by_id(ctx, req, who, arg, "EAB key", acme_eab_revoke, reply);
}

/* POST /acme/accounts/{id}/revoke: the account stops (a leaked account key, an abusive
 * client); its certificates are revoked, if wanted, like any others. */
void api_acme_account_revoke(const admin_ctx_t *ctx, const admin_request_t *req,
			     const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	acme_revoke_by_id(ctx, req, who, arg, "ACME account", acme_account_revoke, reply);
}
