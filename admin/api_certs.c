/* SPDX-License-Identifier: MIT */
/* Admin API: certificate search by name, serial, requester, status and expiry window, paginated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"


struct search {
	const char *requester;
	const char *profile;
	const char *suffix;    /* a name search by suffix: one row per certificate */
	int status;            /* -1 any */
	int64_t after, before; /* expiry window */
	long limit, n;         /* rows wanted, rows kept */
	int count;             /* count=true: walk every match for an exact total */
	json_int_t matched;    /* matches seen (rows, and with count every one) */
	int more;              /* a match past the page exists */
	db_cursor_t pos, last; /* the walk's position; the position of the last row kept */
	json_t *items;
};

static json_t *cert_json(const db_cert_t *c)
{
	char serial[2 * DB_SERIAL_MAX + 1], nb[32], na[32];

	db_serial_hex(c->serial, c->serial_len, serial);
	time_rfc3339((time_t)c->not_before, nb, sizeof(nb));
	time_rfc3339((time_t)c->not_after, na, sizeof(na));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "serial", serial, "status",
			 c->status == DB_CERT_REVOKED ? "revoked" : "valid", "subject", c->subject,
			 "issuer", c->issuer, "profile", c->profile, "requester", c->requester,
			 "not_before", nb, "not_after", na);
}

/* A suffix search reports a certificate once per name ending in the suffix: keep the
 * row of its first such name (db_certs_by_name_at, ca_names_suffix_first). */
static int suffix_first(const db_cert_t *c, const char *suffix, const char *matched)
{
	const unsigned char *p = c->der;
	X509 *x = ca_cert_d2i(&p, (long)c->der_len);
	ca_names_t names;
	int keep = 1;

	if (x != NULL && ca_names_from_cert(x, &names, NULL) == 0) {
		keep = ca_names_suffix_first(&names, suffix, matched);
		ca_names_clear(&names);
	}
	X509_free(x);
	return keep;
}

/* Keeps up to limit matching rows, then stops at the first match past them (more), or
 * with count=true goes on counting every match. */
static int search_cb(const db_cert_t *c, void *arg)
{
	struct search *s = arg;

	if (s->requester && strcmp(c->requester, s->requester) != 0)
		return 0;
	if (s->profile && strcmp(c->profile, s->profile) != 0)
		return 0;
	if (s->status >= 0 && c->status != s->status)
		return 0;
	if (c->not_after < s->after || c->not_after >= s->before)
		return 0;
	if (s->suffix != NULL && !suffix_first(c, s->suffix, s->pos.name))
		return 0;
	s->matched++;
	if (s->n < s->limit) {
		json_array_append_new(s->items, cert_json(c));
		s->n++;
		s->last = s->pos;
		return 0;
	}
	s->more = 1;
	return s->count ? 0 : 1;
}

/* What the stats table says a search by profile and status alone will match. */
struct total {
	const struct search *s;
	json_int_t n;
};

static int total_cb(const db_cert_count_t *c, void *arg)
{
	struct total *t = arg;

	if (t->s->profile != NULL && strcmp(c->profile, t->s->profile) != 0)
		return 0;
	if (t->s->status != DB_CERT_VALID)
		t->n += c->revoked;
	if (t->s->status != DB_CERT_REVOKED)
		t->n += c->valid + c->expired;
	return 0;
}

/*
 * Keyset paging (docs/api.md): a page starts just after the index key its "after"
 * cursor names and stops at the first match past `limit`, so it costs its rows at any
 * size. `total` is given when it costs nothing — from the stats counters (no filter, or
 * profile/status alone), or when the first page holds every match — or when asked
 * (count=true: every match is walked); else null.
 */
void api_certs_search(const admin_ctx_t *ctx, const admin_request_t *req,
		      const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	struct search s = { 0 };
	struct total t = { &s, 0 };
	const char *name = api_query(req, "name"), *serial = api_query(req, "serial");
	const char *status = api_query(req, "status"), *within = api_query(req, "expiring_within");
	const char *after = api_query(req, "after"), *count = api_query(req, "count");
	char kind = DB_SEARCH_ALL, *next = NULL;
	const char *why;
	db_search_t q = { 0 };
	uint8_t sn[DB_SERIAL_MAX];
	db_txn_t *txn = NULL;
	json_t *doc, *total = NULL;
	int64_t d;
	time_t after_t, before_t;
	int len = 0, rc = 0, counted = 0;
	(void)who;
	(void)arg;

	s.status = -1;
	s.requester = api_query(req, "requester");
	s.profile = api_query(req, "profile");
	if (s.requester != NULL && (why = db_search_requester_invalid(s.requester)) != NULL) {
		http_reply_problem(reply, 400, PROBLEM("malformed"), "requester: %s", why);
		return;
	}
	if (api_query(req, "offset") != NULL && strcmp(api_query(req, "offset"), "0") != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "offset paging was replaced by cursors: pass after=NEXT from the "
				   "previous page");
		return;
	}
	if ((s.limit = api_query_long(req, "limit", 100, 1, API_PAGE_MAX, reply)) < 0 ||
	    api_query_time(req, "expires_after", INT64_MIN, &after_t, reply) != 0 ||
	    api_query_time(req, "expires_before", INT64_MAX, &before_t, reply) != 0)
		return;
	s.after = (int64_t)after_t;
	s.before = (int64_t)before_t;
	if (count != NULL && strcmp(count, "true") != 0 && strcmp(count, "false") != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"), "count must be true or false");
		return;
	}
	s.count = count != NULL && strcmp(count, "true") == 0;
	if (within != NULL && (duration_parse(within, &d) != 0 || d < 0)) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "expiring_within must be a duration like 30d");
		return;
	}
	if (within != NULL) {
		s.after = (int64_t)time(NULL);
		s.before = s.after + d;
	}
	if (status != NULL && strcmp(status, "valid") != 0 && strcmp(status, "revoked") != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"), "status must be valid or revoked");
		return;
	}
	if (status != NULL)
		s.status = strcmp(status, "revoked") == 0 ? DB_CERT_REVOKED : DB_CERT_VALID;
	/* The search `cairn list` makes too (db_certs_search_at): its index is the cursor's
	 * kind, a "next" of one index is refused by another. */
	q.name = name;
	q.window = s.after != INT64_MIN || s.before != INT64_MAX;
	q.from = s.after == INT64_MIN ? 0 : s.after;
	q.until = s.before;
	q.requester = s.requester;
	if (serial != NULL && (len = api_serial_parse(serial, sn, reply)) < 0)
		return;
	if (serial == NULL)
		kind = db_search_kind(&q);
	if (after != NULL && db_cursor_parse(after, kind, &s.pos) != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "after must be the \"next\" of a previous page of the same search "
				   "(offset paging was replaced by cursors)");
		return;
	}
	if (name != NULL && name[0] == '.')
		s.suffix = name;
	s.items = json_array();
	if (s.items == NULL || db_read_begin(ctx->db, &txn) != 0) {
		json_decref(s.items);
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "database unavailable");
		return;
	}
	if (serial != NULL) {
		db_cert_t c;
		if (db_cert_get(txn, sn, (size_t)len, &c) == 0)
			search_cb(&c, &s);
		s.pos.len = 0;
	} else {
		if (kind == DB_SEARCH_ALL && !s.count &&
		    db_cert_counts(txn, (int64_t)time(NULL), total_cb, &t, NULL) == 0)
			counted = 1; /* by profile and status alone: the counters know */
		rc = db_certs_search_at(txn, &q, &s.pos, search_cb, &s);
	}
	db_txn_end(txn);
	if (rc < 0) {
		json_decref(s.items);
		if (rc == CAIRN_EINVAL)
			http_reply_problem(reply, 400, PROBLEM("malformed"),
					   "after is not a cursor of this search");
		else
			http_reply_problem(reply, 500, PROBLEM("serverInternal"),
					   "database unreadable: %s", cairn_strerror(rc));
		return;
	}
	if (counted)
		total = json_integer(t.n);
	else if (s.count || (!s.more && after == NULL))
		total = json_integer(s.matched);
	else
		total = json_null();
	if (s.more && (next = db_cursor_text(&s.last, kind)) == NULL) {
		json_decref(total);
		json_decref(s.items);
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "out of memory");
		return;
	}
	doc = json_pack("{s:o, s:o, s:s?, s:b}", "items", s.items, "total", total, "next", next,
			"more", s.more);
	http_reply_json(reply, 200, NULL, doc);
	json_decref(doc);
	free(next);
}

/* Today and the 90 UTC days after it: everything that expires within 90 days from now. */
#define STATS_DAYS 91

struct stats {
	json_int_t valid, revoked, expired;
	json_t *profiles;
};

static int stats_cb(const db_cert_count_t *c, void *arg)
{
	struct stats *st = arg;

	st->valid += c->valid;
	st->revoked += c->revoked;
	st->expired += c->expired;
	return json_object_set_new(st->profiles, c->profile,
				   json_integer(c->valid + c->revoked + c->expired)) != 0
		       ? CAIRN_ENOMEM
		       : 0;
}

/* The dashboard's figures, from the stats table's counters (db/stats.c: the numbers
 * /metrics serves, kept in each change's transaction): the counts by status and profile
 * and the expiries per UTC day cost the same at a million certificates as at ten (what
 * expired since the last horizon and the rest of today are walked, nothing else). */
void api_stats(const admin_ctx_t *ctx, const admin_request_t *req, const admin_identity_t *who,
	       const char *arg, http_reply_t *reply)
{
	struct stats st = { 0 };
	int64_t now = (int64_t)time(NULL), per_day[STATS_DAYS];
	json_t *days = json_array(), *doc = NULL;
	db_txn_t *txn = NULL;
	char from[32];
	size_t i;
	int rc;
	(void)req;
	(void)who;
	(void)arg;

	st.profiles = json_object();
	if (days == NULL || st.profiles == NULL || db_read_begin(ctx->db, &txn) != 0) {
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "database unavailable");
		goto out;
	}
	rc = db_cert_counts(txn, now, stats_cb, &st, NULL);
	if (rc == 0)
		rc = db_cert_expiry_days(txn, now, STATS_DAYS, per_day);
	db_txn_end(txn);
	if (rc != 0) {
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "counting certificates: %s",
				   cairn_strerror(rc));
		goto out;
	}
	for (i = 0; i < STATS_DAYS; i++)
		json_array_append_new(days, json_integer(per_day[i]));
	time_rfc3339((time_t)now, from, sizeof(from));
	doc = json_pack("{s:{s:I, s:I, s:I}, s:O, s:{s:s, s:O}}", "status", "valid", st.valid,
			"revoked", st.revoked, "expired", st.expired, "profiles", st.profiles,
			"expiring", "from", from, "per_day", days);
	http_reply_json(reply, 200, NULL, doc);
out:
	json_decref(doc);
	json_decref(days);
	json_decref(st.profiles);
}
