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
	struct search s = { NULL, NULL, -1, INT64_MIN, INT64_MAX, 0, 0, 0, NULL };
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
	} else {
		db_certs_all(txn, search_cb, &s);
	}
	db_txn_end(txn);
	doc = json_pack("{s:o, s:I, s:b}", "items", s.items, "total", (json_int_t)s.seen, "more",
			s.offset + s.limit < s.seen);
	http_reply_json(reply, 200, NULL, doc);
	json_decref(doc);
}

#define STATS_DAYS 90

struct stats {
	int64_t now;
	json_int_t valid, revoked, expired;
	json_t *profiles;
	json_int_t days[STATS_DAYS];
};

static int stats_cb(const db_cert_t *c, void *arg)
{
	struct stats *st = arg;
	json_t *n = json_object_get(st->profiles, c->profile);

	if (c->status == DB_CERT_REVOKED)
		st->revoked++;
	else if (c->not_after < st->now)
		st->expired++;
	else
		st->valid++;
	if (n != NULL)
		json_integer_set(n, json_integer_value(n) + 1);
	else
		json_object_set_new(st->profiles, c->profile, json_integer(1));
	return 0;
}

static int expiry_cb(const db_cert_t *c, void *arg)
{
	struct stats *st = arg;
	int64_t d = (c->not_after - st->now) / 86400;

	if (c->status != DB_CERT_REVOKED && d >= 0 && d < STATS_DAYS)
		st->days[d]++;
	return 0;
}

/* The dashboard's figures. Counting by status and profile walks every certificate (a full
 * read scan: ~150-350k records/s, STACK-NOTES.md); the expiry timeline is a by_expiry
 * range scan over the next 90 days only. */
void api_stats(const admin_ctx_t *ctx, const admin_request_t *req, const admin_identity_t *who,
	       const char *arg, http_reply_t *reply)
{
	struct stats st = { .now = (int64_t)time(NULL) };
	json_t *days = json_array(), *doc = NULL;
	db_txn_t *txn = NULL;
	char from[32];
	size_t i;
	(void)req;
	(void)who;
	(void)arg;

	st.profiles = json_object();
	if (days == NULL || st.profiles == NULL || db_read_begin(ctx->db, &txn) != 0) {
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "database unavailable");
		goto out;
	}
	db_certs_all(txn, stats_cb, &st);
	db_certs_by_expiry(txn, st.now, st.now + STATS_DAYS * 86400, expiry_cb, &st);
	db_txn_end(txn);
	for (i = 0; i < STATS_DAYS; i++)
		json_array_append_new(days, json_integer(st.days[i]));
	time_rfc3339((time_t)st.now, from, sizeof(from));
	doc = json_pack("{s:{s:I, s:I, s:I}, s:O, s:{s:s, s:O}}", "status", "valid", st.valid,
			"revoked", st.revoked, "expired", st.expired, "profiles", st.profiles,
			"expiring", "from", from, "per_day", days);
	http_reply_json(reply, 200, NULL, doc);
out:
	json_decref(doc);
	json_decref(days);
	json_decref(st.profiles);
}
