/* SPDX-License-Identifier: MIT */
/* Admin API: audit query (filtered, paginated), export with a signed head line, signed checkpoints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin/admin_int.h"
#include "audit/audit.h"


struct query {
	const char *actor, *action;
	time_t since, until;
	long offset, limit, seen;
	json_t *items;
	const char *serial; /* events about this certificate only (details.serial), or NULL */
};

/* 1 when the event names this certificate serial (hex, any case), at the top as
 * issuance and revocation events do, or in its details. */
static int serial_is(const json_t *ev, const char *serial)
{
	const char *s = json_string_value(json_object_get(ev, "serial"));

	if (s == NULL)
		s = json_string_value(json_object_get(json_object_get(ev, "details"), "serial"));
	return s != NULL && strcasecmp(s, serial) == 0;
}

static int query_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct query *q = arg;
	json_t *o = json_loadb(val, vlen, 0, NULL);
	const char *actor = json_string_value(json_object_get(o, "actor"));
	const char *action = json_string_value(json_object_get(o, "action"));
	const char *ts = json_string_value(json_object_get(o, "time"));
	time_t t = 0;
	(void)key;
	(void)klen;

	if (o == NULL || ts == NULL || time_parse(ts, &t) != 0 ||
	    (q->actor && (actor == NULL || strcmp(actor, q->actor) != 0)) ||
	    (q->action && (action == NULL || strncmp(action, q->action, strlen(q->action)) != 0)) ||
	    (q->since && t < q->since) || (q->until && t >= q->until) ||
	    (q->serial && !serial_is(o, q->serial))) {
		json_decref(o);
		return 0;
	}
	if (q->seen >= q->offset && q->seen < q->offset + q->limit)
		json_array_append_new(q->items, o);
	else
		json_decref(o);
	q->seen++;
	return 0;
}

/* since and until (either may be absent: 0); a range that holds no time is malformed. */
static int time_range(const admin_request_t *req, time_t *since, time_t *until,
		      http_reply_t *reply)
{
	if (api_query_time(req, "since", 0, since, reply) != 0 ||
	    api_query_time(req, "until", 0, until, reply) != 0)
		return -1;
	if (*since != 0 && *until != 0 && *since >= *until) {
		http_reply_problem(reply, 400, PROBLEM("malformed"), "since must be before until");
		return -1;
	}
	return 0;
}

void api_audit_query(const admin_ctx_t *ctx, const admin_request_t *req,
		     const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	struct query q = { api_query(req, "actor"), api_query(req, "action"), 0, 0, 0, 0, 0, NULL,
			   api_query(req, "serial") };
	db_txn_t *txn = NULL;
	json_t *doc;
	(void)who;
	(void)arg;

	if ((q.offset = api_query_long(req, "offset", 0, 0, 1L << 40, reply)) < 0 ||
	    (q.limit = api_query_long(req, "limit", 100, 1, API_PAGE_MAX, reply)) < 0 ||
	    time_range(req, &q.since, &q.until, reply) != 0)
		return;
	q.items = json_array();
	if (q.items == NULL || db_read_begin(ctx->db, &txn) != 0) {
		json_decref(q.items);
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "database unavailable");
		return;
	}
	db_iterate(txn, DB_AUDIT, NULL, 0, query_cb, &q);
	db_txn_end(txn);
	doc = json_pack("{s:o, s:I, s:b}", "items", q.items, "total", (json_int_t)q.seen, "more",
			q.offset + q.limit < q.seen);
	http_reply_json(reply, 200, NULL, doc);
	json_decref(doc);
}

void api_audit_export(const admin_ctx_t *ctx, const admin_request_t *req,
		      const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	const char *format = api_query(req, "format");
	audit_format_t fmt = AUDIT_FMT_JSONL;
	cairn_err_t err = { 0 };
	time_t since, until;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem;
	int rc;
	(void)who;
	(void)arg;

	if (format != NULL && strcmp(format, "csv") == 0)
		fmt = AUDIT_FMT_CSV;
	else if (format != NULL && strcmp(format, "jsonl") != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"), "format must be jsonl or csv");
		return;
	}
	if (time_range(req, &since, &until, reply) != 0)
		return;
	mem = open_memstream(&buf, &len);
	if (mem == NULL) {
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "out of memory");
		return;
	}
	/* JSONL is the evidence: its head line is signed here, in the token, at export time.
	 * CSV is a report for spreadsheets. */
	if (fmt == AUDIT_FMT_CSV)
		rc = audit_export(ctx->db, mem, fmt, since, until, NULL, &err);
	else if (ctx->audit_key == NULL || ctx->audit_cert == NULL)
		rc = cairn_err_set(&err, CAIRN_EKEY, "no audit signing key: cannot sign an export");
	else
		rc = audit_export_sealed(ctx->db, mem, since, until, ctx->audit_key,
					 ctx->audit_cert, NULL, &err);
	fclose(mem);
	if (rc != 0) {
		free(buf);
		api_reply_error(reply, &err);
		return;
	}
	http_reply_set(reply, 200, fmt == AUDIT_FMT_CSV ? "text/csv" : "application/jsonl", buf, len);
}

void api_audit_checkpoint(const admin_ctx_t *ctx, const admin_request_t *req,
			  const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	cairn_err_t err = { 0 };
	uint64_t seq = 0;
	json_t *doc;
	char actor[96];
	(void)arg;

	if (api_body_none(ctx, req, reply) != 0)
		return;
	api_actor(who, actor, sizeof(actor));
	if (audit_checkpoint(ctx->db, ctx->audit_key, ctx->audit_cert, actor, &seq, &err) != 0) {
		api_reply_error(reply, &err);
		return;
	}
	doc = json_pack("{s:I}", "seq", (json_int_t)seq);
	http_reply_json(reply, 200, NULL, doc);
	json_decref(doc);
}

/* A backup taken by `cairn backup` beside the running daemon: the CLI only reads the
 * database, so the daemon writes the event that says the CA's keys were copied. */
void api_audit_backup(const admin_ctx_t *ctx, const admin_request_t *req,
		      const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	json_t *body = api_body(ctx, req, reply), *details = NULL, *doc;
	audit_event_t ev = { 0 };
	cairn_err_t err = { 0 };
	json_error_t jerr;
	json_int_t bytes = 0, files = 0, certs = 0, seq_in = 0;
	const char *sum = NULL;
	uint64_t seq = 0;
	char actor[96];
	size_t i;
	(void)arg;

	if (body == NULL)
		return;
	if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s:I, s:I, s:I, s:I}", "archive_sha256",
			   &sum, "bytes", &bytes, "files", &files, "certificates", &certs,
			   "audit_seq", &seq_in) != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "expected {\"archive_sha256\", \"bytes\", \"files\", "
				   "\"certificates\", \"audit_seq\"}: %s", jerr.text);
		goto out;
	}
	for (i = 0; sum[i] != '\0' && strchr("0123456789abcdef", sum[i]) != NULL; i++)
		;
	if (i != 64 || sum[i] != '\0' || bytes < 0 || files < 0 || certs < 0 || seq_in < 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "archive_sha256 is 64 lower-case hex digits; counts are >= 0");
		goto out;
	}
	api_actor(who, actor, sizeof(actor));
	details = json_deep_copy(body);
	ev.actor = actor;
	ev.action = "ca.backup";
	ev.details = details;
	if (details == NULL)
		cairn_err_set(&err, CAIRN_ENOMEM, "out of memory");
	if (details == NULL || audit_record(ctx->db, &ev, &seq, &err) != 0) {
		api_reply_error(reply, &err);
		goto out;
	}
	doc = json_pack("{s:I}", "seq", (json_int_t)seq);
	http_reply_json(reply, 201, NULL, doc);
	json_decref(doc);
out:
	json_decref(details);
	json_decref(body);
}
