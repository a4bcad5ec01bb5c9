/* SPDX-License-Identifier: MIT */
/* Admin API: pending requests (list, show, approve, reject) and the policy (show, test, reload). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"


static json_t *info_json(const request_info_t *r)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:s?, s:s, s:I, s:I}", "id",
			 r->id, "status", request_status_name(r->status), "channel", r->channel,
			 "requester", r->requester, "profile", r->profile, "rule", r->rule,
			 "approvals_needed", r->approvals_needed, "approvals_have",
			 r->approvals_have, "serial", r->serial_hex[0] ? r->serial_hex : NULL,
			 "reason", r->reason, "created", (json_int_t)r->created, "expires",
			 (json_int_t)r->expires);
}

struct page {
	json_t *items;
	long offset, limit, seen;
};

static int page_add(const request_info_t *r, json_t *summary, void *arg)
{
	struct page *p = arg;
	json_t *item;

	if (p->seen >= p->offset && p->seen < p->offset + p->limit) {
		if ((item = info_json(r)) == NULL)
			return CAIRN_ENOMEM;
		if (json_object_update(item, summary) != 0) {
			json_decref(item);
			return CAIRN_ENOMEM;
		}
		if (json_array_append_new(p->items, item) != 0)
			return CAIRN_ENOMEM;
	}
	p->seen++;
	return 0;
}

/* {"items": [...], "total": N, "next": URL or null} */
static void reply_page(http_reply_t *reply, const char *base, const char *extra, json_t *items,
		       long offset, long limit, long total)
{
	json_t *doc;
	char next[512];

	snprintf(next, sizeof(next), "/admin/v1%s?offset=%ld&limit=%ld%s", base, offset + limit,
		 limit, extra);
	doc = json_pack("{s:o, s:I, s:s?}", "items", items, "total", (json_int_t)total, "next",
			offset + limit < total ? next : NULL);
	http_reply_json(reply, 200, NULL, doc);
	json_decref(doc);
}

void api_requests_list(const admin_ctx_t *ctx, const admin_request_t *req,
		       const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	const char *status = api_query(req, "status");
	struct page p = { NULL, 0, 0, 0 };
	int st = -1;
	char extra[64] = "";
	(void)who;
	(void)arg;

	if ((p.offset = api_query_long(req, "offset", 0, 0, 1L << 30, reply)) < 0 ||
	    (p.limit = api_query_long(req, "limit", 100, 1, API_PAGE_MAX, reply)) < 0)
		return;
	if (status != NULL && strcmp(status, "all") != 0) {
		st = request_status_parse(status);
		if (st < 0) {
			http_reply_problem(reply, 400, PROBLEM("malformed"),
					   "status must be pending, issued, rejected, expired, failed or all");
			return;
		}
		snprintf(extra, sizeof(extra), "&status=%s", status);
	}
	p.items = json_array();
	if (p.items == NULL || policy_requests_list(ctx->policy, st, page_add, &p) != 0) {
		json_decref(p.items);
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "cannot list requests");
		return;
	}
	reply_page(reply, "/requests", extra, p.items, p.offset, p.limit, p.seen);
}

void api_request_show(const admin_ctx_t *ctx, const admin_request_t *req,
		      const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	cairn_err_t err = { 0 };
	json_t *doc = NULL;
	(void)req;
	(void)who;

	if (policy_request_json(ctx->policy, arg, &doc, &err) != 0) {
		api_reply_error(reply, &err);
		return;
	}
	http_reply_json(reply, 200, NULL, doc);
	json_decref(doc);
}

static void decide(const admin_ctx_t *ctx, const admin_request_t *req,
		   const admin_identity_t *who, const char *id, int approve, http_reply_t *reply)
{
	cairn_err_t err = { 0 };
	request_info_t info;
	json_t *body = api_body(ctx, req, reply), *doc = NULL;
	const char *comment = NULL;
	json_error_t jerr;
	char actor[96];
	int rc;

	if (body == NULL)
		return;
	if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s?s}", "comment", &comment) != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "expected {\"comment\"?: TEXT}: %s", jerr.text);
		goto out;
	}
	api_actor(who, actor, sizeof(actor));
	memset(&info, 0, sizeof(info));
	rc = approve ? policy_request_approve(ctx->policy, id, actor, who->role, comment, &info, &err)
		     : policy_request_reject(ctx->policy, id, actor, who->role, comment, &info, &err);
	if (rc != 0) {
		if (rc == CAIRN_EDENIED)
			api_audit_denied(ctx, req, actor, cairn_err_msg(&err));
		log_warn("admin", "%s %s by %s: %s", approve ? "approve" : "reject", id, actor,
			 cairn_err_msg(&err));
		api_reply_error(reply, &err);
		goto out;
	}
	log_info("admin", "request %s %s by %s: now %s", id, approve ? "approved" : "rejected",
		 actor, request_status_name(info.status));
	doc = info_json(&info);
	http_reply_json(reply, 200, NULL, doc);
out:
	json_decref(doc);
	json_decref(body);
}

void api_request_approve(const admin_ctx_t *ctx, const admin_request_t *req,
			 const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	decide(ctx, req, who, arg, 1, reply);
}

void api_request_reject(const admin_ctx_t *ctx, const admin_request_t *req,
			const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	decide(ctx, req, who, arg, 0, reply);
}

void api_policy_show(const admin_ctx_t *ctx, const admin_request_t *req,
		     const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	char *text = policy_engine_text(ctx->policy);
	(void)req;
	(void)who;
	(void)arg;

	if (text == NULL) {
		http_reply_problem(reply, 503, PROBLEM("serverInternal"), "no policy in force");
		return;
	}
	http_reply_set(reply, 200, "application/json", text, strlen(text));
}

void api_policy_test(const admin_ctx_t *ctx, const admin_request_t *req,
		     const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	json_t *body = api_body(ctx, req, reply), *doc = NULL;
	const char *csr = NULL, *channel = NULL, *requester = NULL, *group = NULL;
	const char *profile = "tls-server";
	policy_input_t in;
	ca_csr_t *x = NULL;
	cairn_err_t err = { 0 };
	json_error_t jerr;
	json_int_t asked = 0;
	int days = 0;
	(void)who;
	(void)arg;

	memset(&in, 0, sizeof(in));
	if (body == NULL)
		return;
	if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s:s, s?s, s?s, s?s, s?I}", "csr", &csr,
			   "channel", &channel, "requester", &requester, "group", &group,
			   "profile", &profile, "validity_days", &asked) != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "expected {\"csr\", \"channel\", \"requester\"?, \"group\"?, "
				   "\"profile\"?, \"validity_days\"?}: %s",
				   jerr.text);
		goto out;
	}
	if (api_days_check(body, asked, &days, reply) != 0)
		goto out;
	/* An explanation only: the CSR is read, its signature not required. */
	if (ca_csr_new(csr, strlen(csr), CA_CSR_NO_VERIFY, &x, &err) != 0 ||
	    policy_input_from_csr(x, &in, &err) != 0) {
		api_reply_error(reply, &err);
		goto out;
	}
	in.channel = channel;
	in.requester = requester ? requester : "";
	in.group = group;
	in.profile = profile;
	in.validity_days = days;
	if (days == 0 && ca_profile(ctx->ca, profile) != NULL)
		in.validity_days = ca_profile(ctx->ca, profile)->validity_days;
	doc = policy_engine_explain_json(ctx->policy, &in);
	if (doc == NULL)
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "out of memory");
	else
		http_reply_json(reply, 200, NULL, doc);
out:
	policy_input_clear(&in);
	ca_csr_free(x);
	json_decref(doc);
	json_decref(body);
}

void api_policy_reload(const admin_ctx_t *ctx, const admin_request_t *req,
		       const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	cairn_err_t err = { 0 };
	char actor[96];
	(void)arg;

	if (api_body_none(ctx, req, reply) != 0)
		return;
	api_actor(who, actor, sizeof(actor));
	if (policy_engine_reload_as(ctx->policy, actor, &err) != 0) {
		http_reply_problem(reply, 422, PROBLEM("badPolicy"),
				   "policy not reloaded, the old one stays: %s", cairn_err_msg(&err));
		return;
	}
	{
		json_t *doc = json_pack("{s:s}", "status", "reloaded");
		http_reply_json(reply, 200, NULL, doc);
		json_decref(doc);
	}
}
