/* SPDX-License-Identifier: MIT */
/* Admin API: notification sinks — status with delivery logs and dead letters, retry, test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"

static int notify_running(const admin_ctx_t *ctx, http_reply_t *reply)
{
	if (ctx->notify != NULL)
		return 1;
	http_reply_problem(reply, 503, PROBLEM("serverInternal"), "the notify worker is not running");
	return 0;
}

void api_notify_list(const admin_ctx_t *ctx, const admin_request_t *req,
		     const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	json_t *doc;
	(void)req;
	(void)who;
	(void)arg;

	if (!notify_running(ctx, reply))
		return;
	doc = notify_status(ctx->notify);
	if (doc == NULL) {
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "out of memory");
		return;
	}
	http_reply_json(reply, 200, NULL, doc);
	json_decref(doc);
}

void api_notify_retry(const admin_ctx_t *ctx, const admin_request_t *req,
		      const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	json_t *body = NULL, *doc = NULL;
	const char *sink = NULL;
	json_int_t id = 0;
	json_error_t jerr;
	cairn_err_t err = { 0 };
	size_t count = 0;
	char actor[96];
	(void)arg;

	if (!notify_running(ctx, reply) || (body = api_body(ctx, req, reply)) == NULL)
		return;
	if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s?s, s?I}", "sink", &sink, "id", &id) != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "expected {\"sink\"?: NAME, \"id\"?: EVENT-ID}: %s", jerr.text);
		goto out;
	}
	if (id < 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "id must be a dead letter's event id (leave it out for all), not %lld",
				   (long long)id);
		goto out;
	}
	api_actor(who, actor, sizeof(actor));
	if (notify_retry(ctx->notify, sink, (uint64_t)id, actor, &count, &err) != 0) {
		api_reply_error(reply, &err);
		goto out;
	}
	doc = json_pack("{s:I}", "retried", (json_int_t)count);
	http_reply_json(reply, 200, NULL, doc);
	log_info("admin", "%s: %zu dead-lettered event(s) queued again", actor, count);
out:
	json_decref(doc);
	json_decref(body);
}

void api_notify_test(const admin_ctx_t *ctx, const admin_request_t *req,
		     const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	json_t *body = NULL, *doc = NULL;
	const char *sink = NULL;
	cairn_err_t err = { 0 };
	json_error_t jerr;
	uint64_t id = 0;
	char actor[96];
	(void)arg;

	if (!notify_running(ctx, reply) || (body = api_body(ctx, req, reply)) == NULL)
		return;
	if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s}", "sink", &sink) != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"), "expected {\"sink\": NAME}: %s",
				   jerr.text);
		goto out;
	}
	api_actor(who, actor, sizeof(actor));
	if (notify_test(ctx->notify, sink, actor, &id, &err) != 0) {
		api_reply_error(reply, &err);
		goto out;
	}
	doc = json_pack("{s:I, s:s}", "id", (json_int_t)id, "sink", sink);
	http_reply_json(reply, 202, NULL, doc);
out:
	json_decref(doc);
	json_decref(body);
}
