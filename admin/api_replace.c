/* SPDX-License-Identifier: MIT */
/* Admin API: mass replacement campaigns (ca/replace.c) — create and mark, list, show, cancel. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/admin_int.h"

/* Tests only: CAIRN_TEST_KILL_AFTER_MARKS=K makes the daemon die by SIGKILL once K
 * marking batches have committed, so a restart in the middle of a marking is exact
 * (tests/integration/replace_resume.sh). */
static void crash_point(void)
{
	static atomic_long batches;
	const char *e = getenv("CAIRN_TEST_KILL_AFTER_MARKS");
	long k = e ? strtol(e, NULL, 10) : 0;

	if (k > 0 && atomic_fetch_add(&batches, 1) + 1 >= k)
		raise(SIGKILL);
}

/* Hands a campaign to clients with times as RFC 3339 and its progress counts. */
static json_t *campaign_view(json_t *c)
{
	static const char *const times[] = { "by", "revoke_after", "created", "cancelled" };
	char t[32];
	size_t i;

	json_object_del(c, "serials");
	json_object_del(c, "cursor");
	for (i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		json_int_t v = json_integer_value(json_object_get(c, times[i]));
		if (v == 0) {
			json_object_set_new(c, times[i], json_null());
			continue;
		}
		time_rfc3339((time_t)v, t, sizeof(t));
		json_object_set_new(c, times[i], json_string(t));
	}
	return c;
}

static int parse_time(const char *text, const char *what, int64_t *out, http_reply_t *reply)
{
	time_t t;

	*out = 0;
	if (text == NULL)
		return 0;
	if (time_parse(text, &t) != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "%s %s is not an RFC 3339 time (or YYYY-MM-DD)", what, text);
		return -1;
	}
	*out = (int64_t)t;
	return 0;
}

/* POST /replace {"issued_by_key"|"issuer"|"profile": TEXT | "serials": [HEX], "by": TIME,
 * "revoke_after"?: TIME, "reason"?: NAME, "explanation_url"?: URL}: creates the campaign and
 * marks in bounded transactions; 201 with the campaign, 404 noMatch when nothing matched. */
void api_replace_create(const admin_ctx_t *ctx, const admin_request_t *req,
			const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	json_t *body = NULL, *serials = NULL, *camp = NULL;
	const char *key = NULL, *issuer = NULL, *profile = NULL, *by = NULL, *ra = NULL;
	const char *reason = NULL, *url = NULL;
	ca_replace_spec_t s = { 0 };
	cairn_err_t err = { 0 };
	json_error_t jerr;
	db_txn_t *txn = NULL;
	char actor[96];
	uint64_t id = 0;
	size_t marked;
	int done = 0, rc, kinds;
	db_guard_t guard;
	(void)arg;

	if ((body = api_body(ctx, req, reply)) == NULL)
		return;
	if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s?s, s?s, s?s, s?o, s:s, s?s, s?s, s?s}",
			   "issued_by_key", &key, "issuer", &issuer, "profile", &profile,
			   "serials", &serials, "by", &by, "revoke_after", &ra, "reason", &reason,
			   "explanation_url", &url) != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "expected {\"issued_by_key\"|\"issuer\"|\"profile\": TEXT | "
				   "\"serials\": [HEX], \"by\": TIME, \"revoke_after\"?: TIME, "
				   "\"reason\"?: NAME, \"explanation_url\"?: URL}: %s", jerr.text);
		goto out;
	}
	kinds = (key != NULL) + (issuer != NULL) + (profile != NULL) + (serials != NULL);
	if (kinds != 1) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "select by exactly one of issued_by_key, issuer, profile, serials");
		goto out;
	}
	s.kind = key ? "key" : issuer ? "issuer" : profile ? "profile" : "file";
	s.value = key ? key : issuer ? issuer : profile;
	s.serials = serials;
	if (serials != NULL) {
		json_t *v;
		size_t i;
		if (!json_is_array(serials))
			goto bad_serials;
		json_array_foreach(serials, i, v) {
			uint8_t raw[DB_SERIAL_MAX];
			if (!json_is_string(v) || hex_decode(json_string_value(v), raw, sizeof(raw)) <= 0)
				goto bad_serials;
		}
	}
	if (parse_time(by, "by", &s.by, reply) != 0 ||
	    parse_time(ra, "revoke_after", &s.revoke_after, reply) != 0)
		goto out;
	s.reason = reason ? ca_reason_parse(reason) : CA_REASON_SUPERSEDED;
	if (s.reason < 0) {
		http_reply_problem(reply, 400, PROBLEM("badRevocationReason"),
				   "reason %s is not an RFC 5280 CRLReason name", reason);
		goto out;
	}
	s.explanation_url = url;
	snprintf(actor, sizeof(actor), "admin:%s", who->name);
	rc = ca_replace_create(ctx->ca, &s, actor, &id, &err);
	if (rc == CAIRN_EINVAL) {
		http_reply_problem(reply, 400, PROBLEM("malformed"), "%s", cairn_err_msg(&err));
		goto out;
	}
	/* The campaign is decided (its write was the caller's, guarded by admin_handle); the
	 * marking follows from it whoever asked (db_guard_swap), as the daemon's round would. */
	guard = db_guard_swap((db_guard_t){ NULL, NULL });
	while (rc == 0 && !done) {
		rc = ca_replace_mark_step(ctx->ca, id, actor, &marked, &done, &err);
		crash_point();
	}
	db_guard_swap(guard);
	if (rc != 0) {
		/* What is marked stays marked; the daemon finishes the walk at its next round. */
		log_error("admin", "replace campaign %llu: %s", (unsigned long long)id,
			  cairn_err_msg(&err));
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "campaign %llu: %s",
				   (unsigned long long)id, cairn_err_msg(&err));
		goto out;
	}
	/* The daemon's own round may have marked batches of it too: the record counts. */
	if (db_read_begin(ctx->db, &txn) != 0 || ca_replace_load(txn, id, &camp) != 0) {
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "database unavailable");
		goto out;
	}
	if (json_integer_value(json_object_get(camp, "marked")) == 0) {
		http_reply_problem(reply, 404, PROBLEM("noMatch"),
				   "no valid certificate of this CA matches (campaign %llu is "
				   "recorded as empty)", (unsigned long long)id);
		goto out;
	}
	log_info("admin", "%s: replace campaign %llu marked %lld certificate(s)", actor,
		 (unsigned long long)id, (long long)json_integer_value(json_object_get(camp, "marked")));
	http_reply_json(reply, 201, NULL, campaign_view(camp));
	goto out;
bad_serials:
	http_reply_problem(reply, 400, PROBLEM("malformed"),
			   "serials must be an array of hex serials");
out:
	db_txn_end(txn);
	json_decref(camp);
	json_decref(body);
}

void api_replace_list(const admin_ctx_t *ctx, const admin_request_t *req,
		      const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	json_t *list = NULL, *c, *doc;
	db_txn_t *txn = NULL;
	size_t i;
	(void)req;
	(void)who;
	(void)arg;

	if (db_read_begin(ctx->db, &txn) != 0 || ca_replace_list(txn, &list) != 0) {
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "database unavailable");
		goto out;
	}
	json_array_foreach(list, i, c)
		campaign_view(c);
	doc = json_pack("{s:O, s:I, s:n}", "items", list, "total",
			(json_int_t)json_array_size(list), "next");
	http_reply_json(reply, 200, NULL, doc);
	json_decref(doc);
out:
	db_txn_end(txn);
	json_decref(list);
}

/* The campaign id of a path, or 0 (after a 400 problem). */
static unsigned long long campaign_id(const char *arg, http_reply_t *reply)
{
	char *end = NULL;
	unsigned long long id = strtoull(arg ? arg : "", &end, 10);

	if (arg == NULL || arg[0] < '1' || arg[0] > '9' || *end != '\0') {
		http_reply_problem(reply, 400, PROBLEM("malformed"), "a campaign id is a number");
		return 0;
	}
	return id;
}

void api_replace_show(const admin_ctx_t *ctx, const admin_request_t *req,
		      const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	json_t *camp = NULL;
	db_txn_t *txn = NULL;
	unsigned long long id = campaign_id(arg, reply);
	int rc;
	(void)req;
	(void)who;

	if (id == 0)
		return;
	if (db_read_begin(ctx->db, &txn) != 0) {
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "database unavailable");
		return;
	}
	rc = ca_replace_load(txn, (uint64_t)id, &camp);
	if (rc == CAIRN_ENOENT)
		http_reply_problem(reply, 404, PROBLEM("notFound"), "no campaign %llu", id);
	else if (rc != 0)
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "database unavailable");
	else
		http_reply_json(reply, 200, NULL, campaign_view(camp));
	db_txn_end(txn);
	json_decref(camp);
}

/* POST /replace/{id}/cancel (admin): stops a campaign that is marking or active and
 * unmarks what it still has pending; answers the campaign as it now is. */
void api_replace_cancel(const admin_ctx_t *ctx, const admin_request_t *req,
			const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	cairn_err_t err = { 0 };
	json_t *camp = NULL;
	db_txn_t *txn = NULL;
	unsigned long long id = campaign_id(arg, reply);
	char actor[96];
	int rc;

	if (id == 0 || api_body_none(ctx, req, reply) != 0)
		return;
	snprintf(actor, sizeof(actor), "admin:%s", who->name);
	rc = ca_replace_cancel(ctx->ca, (uint64_t)id, actor, &err);
	if (rc == CAIRN_ENOENT) {
		http_reply_problem(reply, 404, PROBLEM("notFound"), "no campaign %llu", id);
		return;
	}
	if (rc == CAIRN_ECONFLICT) {
		http_reply_problem(reply, 409, PROBLEM("conflict"), "%s", cairn_err_msg(&err));
		return;
	}
	if (rc != 0) {
		/* The cancel itself committed or not at all (401: the caller's credential gone
		 * by its write); the daemon finishes unmarking. */
		if (cairn_err_http(rc)->status >= 500)
			log_error("admin", "cancelling replace campaign %llu: %s", id,
				  cairn_err_msg(&err));
		api_reply_error(reply, &err);
		return;
	}
	log_info("admin", "%s: replace campaign %llu cancelled", actor, id);
	if (db_read_begin(ctx->db, &txn) != 0 || ca_replace_load(txn, (uint64_t)id, &camp) != 0)
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "database unavailable");
	else
		http_reply_json(reply, 200, NULL, campaign_view(camp));
	db_txn_end(txn);
	json_decref(camp);
}
