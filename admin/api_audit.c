/* SPDX-License-Identifier: MIT */
/* Admin API: audit query (filtered, paginated), export with a signed head line, signed checkpoints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin/admin_int.h"
#include "audit/audit.h"


/*
 * GET /audit reads at most AUDIT_QUERY_SCAN events a request, whatever its filters: the
 * log grows by an event or more per certificate and is never cut, and every event read is
 * a JSON parse. Before, each query parsed the whole log to count its matches and to skip
 * an offset: 1.6-2.2 s at 200,000 events (bench/README.md, "GET /audit"), an HTTP worker
 * held meanwhile, two such queries per load of the console's audit page. A page that
 * reaches the bound ends early with the cursor to go on from (docs/api.md).
 */
#define AUDIT_QUERY_SCAN 10000

struct query {
	const char *actor, *action;
	time_t since, until;
	long limit;
	json_t *items;
	const char *serial; /* events about this certificate only (details.serial), or NULL */
	uint64_t scanned;   /* events read by this request */
	uint64_t last;      /* the sequence of the last event read */
	int more;           /* 1: the walk stopped before the log's end */
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

/* One event of the walk: 1 stops it (the page is full, or the bound was reached: q->more). */
static int query_one(struct query *q, uint64_t seq, const void *val, size_t vlen)
{
	json_t *o;
	const char *actor, *action, *ts;
	time_t t = 0;

	if ((long)json_array_size(q->items) == q->limit || q->scanned == AUDIT_QUERY_SCAN) {
		q->more = 1;
		return 1;
	}
	q->scanned++;
	q->last = seq;
	o = json_loadb(val, vlen, 0, NULL);
	actor = json_string_value(json_object_get(o, "actor"));
	action = json_string_value(json_object_get(o, "action"));
	ts = json_string_value(json_object_get(o, "time"));
	if (o == NULL || ts == NULL || time_parse(ts, &t) != 0 ||
	    (q->actor && (actor == NULL || strcmp(actor, q->actor) != 0)) ||
	    (q->action && (action == NULL || strncmp(action, q->action, strlen(q->action)) != 0)) ||
	    (q->since && t < q->since) || (q->until && t >= q->until) ||
	    (q->serial && !serial_is(o, q->serial))) {
		json_decref(o);
		return 0;
	}
	json_array_append_new(q->items, o);
	return 0;
}

static int query_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	if (klen != 8)
		return 0; /* not an event: audit_verify reports it */
	return query_one(arg, db_be64_get(key), val, vlen);
}

/* Newest first: from the event before `before` (0: the newest) down to event 1, by key. */
static int query_newest(db_txn_t *txn, struct query *q, uint64_t before)
{
	const void *k, *v;
	size_t klen, vlen;
	uint8_t key[8];
	uint64_t seq;
	int rc;

	if (before == 0) {
		if ((rc = db_last(txn, DB_AUDIT, &k, &klen, &v, &vlen)) != 0)
			return rc == CAIRN_ENOENT ? 0 : rc;
		if (klen != 8)
			return CAIRN_EDB;
		before = db_be64_get(k) + 1;
	}
	for (seq = before - 1; seq >= 1; seq--) {
		db_be64_put(key, seq);
		if ((rc = db_get(txn, DB_AUDIT, key, sizeof(key), &v, &vlen)) == CAIRN_ENOENT)
			continue; /* a gap: audit_verify reports it */
		if (rc != 0)
			return rc;
		if (query_one(q, seq, v, vlen) != 0)
			return 0;
	}
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
	struct query q = { api_query(req, "actor"), api_query(req, "action"), 0, 0, 0, NULL,
			   api_query(req, "serial"), 0, 0, 0 };
	const char *order = api_query(req, "order"), *offset = api_query(req, "offset");
	const char *after_text = api_query(req, "after");
	db_txn_t *txn = NULL;
	json_t *doc;
	char next[24];
	long after = 0;
	int newest, rc;
	(void)who;
	(void)arg;

	if (offset != NULL && strcmp(offset, "0") != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "offset paging was replaced by cursors: pass after=NEXT from the "
				   "previous page");
		return;
	}
	if (order != NULL && strcmp(order, "oldest") != 0 && strcmp(order, "newest") != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"), "order must be oldest or newest");
		return;
	}
	newest = order != NULL && strcmp(order, "newest") == 0;
	if (after_text != NULL &&
	    (after = api_query_long(req, "after", 0, newest ? 1 : 0, 1L << 62, reply)) < 0)
		return;
	if ((q.limit = api_query_long(req, "limit", 100, 1, API_PAGE_MAX, reply)) < 0 ||
	    time_range(req, &q.since, &q.until, reply) != 0)
		return;
	q.items = json_array();
	if (q.items == NULL || db_read_begin(ctx->db, &txn) != 0) {
		json_decref(q.items);
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "database unavailable");
		return;
	}
	if (newest) {
		rc = query_newest(txn, &q, (uint64_t)after);
	} else {
		uint8_t start[8];
		db_be64_put(start, (uint64_t)after + 1);
		rc = db_iterate(txn, DB_AUDIT, start, sizeof(start), query_cb, &q);
		rc = rc < 0 ? rc : 0;
	}
	db_txn_end(txn);
	if (rc != 0) {
		json_decref(q.items);
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "database unreadable: %s",
				   cairn_strerror(rc));
		return;
	}
	/* next: the last event read, where the following page starts (after=NEXT); a total
	 * only when this one request read every event there is. */
	snprintf(next, sizeof(next), "%llu", (unsigned long long)q.last);
	doc = json_pack("{s:o, s:o, s:b, s:s?, s:I}", "items", q.items, "total",
			q.more || after_text != NULL
				? json_null()
				: json_integer((json_int_t)json_array_size(q.items)),
			"more", q.more, "next", q.more ? next : NULL, "scanned", (json_int_t)q.scanned);
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
