/* SPDX-License-Identifier: MIT */
/* Admin API: renewal, on request, of what the daemon signs for itself (OCSP signer, HTTPS certificate), rotation of the issuing CA, the certificates of a root rollover. */
#include <stdio.h>

#include "admin/admin_int.h"

void api_ca_renew(const admin_ctx_t *ctx, const admin_request_t *req, const admin_identity_t *who,
		  const char *arg, http_reply_t *reply)
{
	json_t *body = api_body(ctx, req, reply), *doc = NULL;
	const char *what = NULL;
	cairn_err_t err = { 0 };
	char actor[96];
	(void)arg;

	if (body == NULL)
		return;
	if (json_unpack(body, "{s:s !}", "what", &what) != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "expected {\"what\": \"ocsp-signer\" | \"https\"}");
		goto out;
	}
	if (ctx->renew == NULL) {
		http_reply_problem(reply, 501, PROBLEM("serverInternal"),
				   "renewal is not available in this process");
		goto out;
	}
	api_actor(who, actor, sizeof(actor));
	if (ctx->renew(ctx->renew_arg, what, actor, &doc, &err) != 0) {
		log_warn("admin", "%s: renewing %s: %s", actor, what, cairn_err_msg(&err));
		api_reply_error(reply, &err);
		goto out;
	}
	http_reply_json(reply, 200, NULL, doc);
out:
	json_decref(doc);
	json_decref(body);
}

/* The CA's key ceremonies as the admin API runs them: fn(arg, actor, &doc, err). */
typedef int (*ca_action_fn)(void *arg, const char *actor, json_t **out, cairn_err_t *err);

static int cross_sign(void *arg, const char *actor, json_t **out, cairn_err_t *err)
{
	return ca_cross_sign(arg, actor, out, err);
}

/* Body {} (no options), then fn audited as the caller; 200 with what fn answers. */
static void ca_action(const admin_ctx_t *ctx, const admin_request_t *req,
		      const admin_identity_t *who, const char *what, ca_action_fn fn, void *arg,
		      http_reply_t *reply)
{
	json_t *doc = NULL;
	cairn_err_t err = { 0 };
	char actor[96];

	if (api_body_none(ctx, req, reply) != 0)
		return;
	if (fn == NULL) {
		http_reply_problem(reply, 501, PROBLEM("serverInternal"),
				   "%s is not available in this process", what);
		goto out;
	}
	api_actor(who, actor, sizeof(actor));
	if (fn(arg, actor, &doc, &err) != 0) {
		log_warn("admin", "%s: %s: %s", actor, what, cairn_err_msg(&err));
		api_reply_error(reply, &err);
		goto out;
	}
	http_reply_json(reply, 200, NULL, doc);
out:
	json_decref(doc);
}

void api_ca_rotate(const admin_ctx_t *ctx, const admin_request_t *req,
		   const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	(void)arg;
	ca_action(ctx, req, who, "rotation of the issuing CA", ctx->rotate, ctx->renew_arg, reply);
}

void api_ca_cross_sign(const admin_ctx_t *ctx, const admin_request_t *req,
		       const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	(void)arg;
	ca_action(ctx, req, who, "root rollover", cross_sign, ctx->ca, reply);
}
