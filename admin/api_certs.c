/* SPDX-License-Identifier: MIT */
/* Admin API: certificate search by name, serial, requester, status and expiry window, paginated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"

#define PAGE_MAX 1000

struct search {
	const char *requester;
	const char *profile;
	int status;            /* -1 any */
	int64_t after, before; /* expiry window */
	long offset, limit, seen;
	long stop_at;          /* >0: stop the walk once this many matched (total known) */
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
	if (s->seen >= s->offset && s->seen < s->offset + s->limit)
		json_array_append_new(s->items, cert_json(c));
	s->seen++;
	return s->stop_at > 0 && s->seen >= s->stop_at;
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

static int time_param(const admin_request_t *req, const char *key, int64_t *out,
		      http_reply_t *reply)
{
	const char *v = api_query(req, key);
	time_t t;

	if (v == NULL || v[0] == '\0')
		return 0;
	if (time_parse(v, &t) != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "%s must be an RFC 3339 time or YYYY-MM-DD", key);
		return -1;
	}
	*out = (int64_t)t;
	return 0;
}

void api_certs_search(const admin_ctx_t *ctx, const admin_request_t *req,
		      const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	struct search s = { NULL, NULL, -1, INT64_MIN, INT64_MAX, 0, 0, 0, 0, NULL };
	struct total t = { &s, 0 };
	json_int_t total;
	const char *name = api_query(req, "name"), *serial = api_query(req, "serial");
	const char *status = api_query(req, "status"), *within = api_query(req, "expiring_within");
	uint8_t sn[DB_SERIAL_MAX];
	db_txn_t *txn = NULL;
	json_t *doc;
	int64_t d;
	int len;
	(void)who;
	(void)arg;

	s.requester = api_query(req, "requester");
	s.profile = api_query(req, "profile");
	if ((s.offset = api_query_long(req, "offset", 0, 0, 1L << 30, reply)) < 0 ||
	    (s.limit = api_query_long(req, "limit", 100, 1, PAGE_MAX, reply)) < 0 ||
	    time_param(req, "expires_after", &s.after, reply) != 0 ||
	    time_param(req, "expires_before", &s.before, reply) != 0)
		return;
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
	s.items = json_array();
	if (s.items == NULL || db_read_begin(ctx->db, &txn) != 0) {
		json_decref(s.items);
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "database unavailable");
		return;
	}
	if (serial != NULL) {
		db_cert_t c;
		len = hex_decode(serial, sn, sizeof(sn));
		if (len > 0 && db_cert_get(txn, sn, (size_t)len, &c) == 0)
			search_cb(&c, &s);
	} else if (name != NULL) {
		db_certs_by_name(txn, name, search_cb, &s);
	} else if (s.after != INT64_MIN || s.before != INT64_MAX) {
		db_certs_by_expiry(txn, s.after == INT64_MIN ? 0 : s.after, s.before, search_cb, &s);
	} else if (s.requester == NULL && db_cert_counts(txn, (int64_t)time(NULL), total_cb, &t,
							  NULL) == 0) {
		/* By profile and status alone the total is in the stats table: walk (in serial
		 * order, from the first) only up to the end of the page asked for. */
		s.stop_at = s.offset + s.limit;
		db_certs_all(txn, search_cb, &s);
	} else {
		db_certs_all(txn, search_cb, &s);
	}
	db_txn_end(txn);
	total = s.stop_at > 0 ? t.n : (json_int_t)s.seen;
	doc = json_pack("{s:o, s:I, s:b}", "items", s.items, "total", total, "more",
			s.offset + s.limit < total);
	http_reply_json(reply, 200, NULL, doc);
	json_decref(doc);
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
