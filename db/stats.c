/* SPDX-License-Identifier: MIT */
/* Counters in the stats table, changed in the transaction of the change they count, so a
 * /metrics scrape reads a handful of keys instead of walking a million certificates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include <jansson.h>

#include "db/db_int.h"

/*
 * Keys: family || 0 || label || 0 || label ..., value a signed BE64. Families:
 *   certs/P, certs_revoked/P, certs_expired/P  (P = profile; see db_cert_counts)
 *   horizon                                    (the time certs_expired is exact at)
 *   expiry_day/YYYY-MM-DD                      (not revoked, by the UTC day of notAfter)
 *   issued/CHANNEL/P, revocations/REASON, requests/STATUS
 *   backup_last, backup_changes                (audit_append: see audit.c)
 *   version                                    (set once the counters are complete)
 * Version 2 added expiry_day; a version-1 table gets just that family built on open.
 */
#define STATS_VERSION 2
#define KEY_MAX 256
#define DAY 86400

/* The UTC day of t as YYYY-MM-DD: labels that sort in time order. */
static void utc_day(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, cap, "%Y-%m-%d", &tm) == 0)
		snprintf(out, cap, "?");
}

/* family || 0 || labels joined by 0 into key; 0 when too long. */
static size_t stat_key(uint8_t *key, const char *family, const char *const *labels, size_t n)
{
	size_t len = strlen(family), i;

	if (len + 1 > KEY_MAX)
		return 0;
	memcpy(key, family, len);
	for (i = 0; i < n; i++) {
		size_t l = strlen(labels[i]);
		if (len + 1 + l > KEY_MAX)
			return 0;
		key[len++] = 0;
		memcpy(key + len, labels[i], l);
		len += l;
	}
	return len;
}

static int stat_get(db_txn_t *txn, const uint8_t *key, size_t klen, int64_t *out)
{
	const void *v;
	size_t vlen;
	int rc = db_get(txn, DB_STATS, key, klen, &v, &vlen);

	*out = 0;
	if (rc == CAIRN_ENOENT)
		return 0;
	if (rc != 0)
		return rc;
	if (vlen != 8)
		return CAIRN_EDB;
	*out = (int64_t)db_be64_get(v);
	return 0;
}

static int stat_set(db_txn_t *txn, const uint8_t *key, size_t klen, int64_t v)
{
	uint8_t val[8];

	db_be64_put(val, (uint64_t)v);
	return db_put(txn, DB_STATS, key, klen, val, sizeof(val), 0);
}

int db_counter_add(db_txn_t *txn, const char *family, const char *const *labels, size_t n,
		   int64_t delta)
{
	uint8_t key[KEY_MAX];
	size_t klen;
	int64_t v;
	int rc;

	if (txn == NULL || family == NULL || (labels == NULL && n > 0))
		return CAIRN_EINVAL;
	if ((klen = stat_key(key, family, labels, n)) == 0)
		return CAIRN_ETOOBIG;
	if (delta == 0)
		return 0;
	if ((rc = stat_get(txn, key, klen, &v)) != 0)
		return rc;
	return stat_set(txn, key, klen, v + delta);
}

int db_counter_set(db_txn_t *txn, const char *family, const char *const *labels, size_t n,
		   int64_t v)
{
	uint8_t key[KEY_MAX];
	size_t klen;

	if (txn == NULL || family == NULL || (labels == NULL && n > 0))
		return CAIRN_EINVAL;
	if ((klen = stat_key(key, family, labels, n)) == 0)
		return CAIRN_ETOOBIG;
	return stat_set(txn, key, klen, v);
}

int db_counter_get(db_txn_t *txn, const char *family, const char *const *labels, size_t n,
		   int64_t *out)
{
	uint8_t key[KEY_MAX];
	size_t klen;

	if (txn == NULL || family == NULL || out == NULL || (labels == NULL && n > 0))
		return CAIRN_EINVAL;
	if ((klen = stat_key(key, family, labels, n)) == 0)
		return CAIRN_ETOOBIG;
	return stat_get(txn, key, klen, out);
}

struct counter_walk {
	uint8_t prefix[KEY_MAX + 1];
	size_t plen;
	db_counter_fn fn;
	void *arg;
};

static int counter_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct counter_walk *w = arg;
	char text[KEY_MAX + 1];
	const char *labels[DB_COUNTER_MAX_LABELS];
	size_t n = 0, i;

	if (klen < w->plen || memcmp(key, w->prefix, w->plen) != 0)
		return 1;
	if (vlen != 8 || klen - w->plen > KEY_MAX)
		return CAIRN_EDB;
	memcpy(text, (const uint8_t *)key + w->plen, klen - w->plen);
	text[klen - w->plen] = '\0';
	labels[n++] = text;
	for (i = 0; i < klen - w->plen; i++) {
		if (text[i] != '\0')
			continue;
		if (n == DB_COUNTER_MAX_LABELS)
			return CAIRN_EDB;
		labels[n++] = text + i + 1;
	}
	return w->fn(labels, n, (int64_t)db_be64_get(val), w->arg);
}

int db_counters(db_txn_t *txn, const char *family, db_counter_fn fn, void *arg)
{
	struct counter_walk w = { .fn = fn, .arg = arg };
	int rc;

	if (txn == NULL || family == NULL || fn == NULL || strlen(family) >= KEY_MAX)
		return CAIRN_EINVAL;
	w.plen = strlen(family) + 1; /* the family and the 0 before the first label */
	memcpy(w.prefix, family, w.plen);
	rc = db_iterate(txn, DB_STATS, w.prefix, w.plen, counter_cb, &w);
	return rc == 1 ? 0 : rc;
}

/* ---- certificates by status ---- */

static int horizon(db_txn_t *txn, int64_t *out)
{
	return db_counter_get(txn, "horizon", NULL, 0, out);
}

/* The certificate's contribution to the counters, times sign (+1 added, -1 taken away). */
static int cert_account(db_txn_t *txn, const db_cert_t *c, int sign)
{
	const char *p[1] = { c->profile };
	char day[16];
	const char *d[1] = { day };
	int64_t h;
	int rc;

	if ((rc = horizon(txn, &h)) != 0 || (rc = db_counter_add(txn, "certs", p, 1, sign)) != 0)
		return rc;
	if (c->status == DB_CERT_REVOKED)
		return db_counter_add(txn, "certs_revoked", p, 1, sign);
	utc_day(c->not_after, day, sizeof(day));
	if ((rc = db_counter_add(txn, "expiry_day", d, 1, sign)) != 0)
		return rc;
	if (c->not_after < h)
		return db_counter_add(txn, "certs_expired", p, 1, sign);
	return 0;
}

int db_stats_cert_added(db_txn_t *txn, const db_cert_t *c)
{
	return cert_account(txn, c, +1);
}

int db_stats_cert_status(db_txn_t *txn, const db_cert_t *before, int status, int reason)
{
	db_cert_t after = *before;
	int rc;

	after.status = status;
	if ((rc = cert_account(txn, before, -1)) != 0 || (rc = cert_account(txn, &after, +1)) != 0)
		return rc;
	if (status == DB_CERT_REVOKED) {
		char r[8];
		const char *l[1] = { r };
		snprintf(r, sizeof(r), "%d", reason);
		rc = db_counter_add(txn, "revocations", l, 1, 1);
	}
	return rc;
}

/* Per-profile totals while counting (profiles are few: the config's). */
struct counts {
	db_cert_count_t row[DB_COUNT_PROFILES];
	size_t n;
	db_txn_t *txn;
	int sign;         /* +1 walking [H, now), -1 walking [now, H) */
	size_t walked;
};

static db_cert_count_t *row_of(struct counts *k, const char *profile)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		if (strcmp(k->row[i].profile, profile) == 0)
			return &k->row[i];
	if (k->n == DB_COUNT_PROFILES)
		return NULL;
	memset(&k->row[k->n], 0, sizeof(k->row[0]));
	snprintf(k->row[k->n].profile, sizeof(k->row[0].profile), "%s", profile);
	return &k->row[k->n++];
}

static int stored_cb(const char *const *labels, size_t n, int64_t v, void *arg)
{
	struct counts *k = arg;
	db_cert_count_t *r;

	if (n != 1 || (r = row_of(k, labels[0])) == NULL)
		return CAIRN_EDB;
	r->valid += v; /* "certs" is walked first: every certificate, sorted out below */
	return 0;
}

static int revoked_cb(const char *const *labels, size_t n, int64_t v, void *arg)
{
	struct counts *k = arg;
	db_cert_count_t *r;

	if (n != 1 || (r = row_of(k, labels[0])) == NULL)
		return CAIRN_EDB;
	r->revoked += v;
	r->valid -= v;
	return 0;
}

static int expired_cb(const char *const *labels, size_t n, int64_t v, void *arg)
{
	struct counts *k = arg;
	db_cert_count_t *r;

	if (n != 1 || (r = row_of(k, labels[0])) == NULL)
		return CAIRN_EDB;
	r->expired += v;
	r->valid -= v;
	return 0;
}

/* A certificate whose notAfter lies between the horizon and now: expired since (sign +1)
 * or, with the clock set back, not expired any more (sign -1). */
static int between_cb(const db_cert_t *c, void *arg)
{
	struct counts *k = arg;
	db_cert_count_t *r;

	k->walked++;
	if (c->status == DB_CERT_REVOKED)
		return 0;
	if ((r = row_of(k, c->profile)) == NULL)
		return CAIRN_EDB;
	r->expired += k->sign;
	r->valid -= k->sign;
	return 0;
}

static int count_at(db_txn_t *txn, int64_t now, struct counts *k)
{
	int64_t h;
	int rc;

	k->n = 0;
	k->walked = 0;
	k->txn = txn;
	if ((rc = horizon(txn, &h)) != 0 || (rc = db_counters(txn, "certs", stored_cb, k)) != 0 ||
	    (rc = db_counters(txn, "certs_revoked", revoked_cb, k)) != 0 ||
	    (rc = db_counters(txn, "certs_expired", expired_cb, k)) != 0)
		return rc;
	k->sign = now >= h ? 1 : -1;
	return now >= h ? db_certs_by_expiry(txn, h, now, between_cb, k)
			: db_certs_by_expiry(txn, now, h, between_cb, k);
}

int db_cert_counts(db_txn_t *txn, int64_t now, db_cert_count_fn fn, void *arg, size_t *walked)
{
	struct counts *k = malloc(sizeof(*k));
	size_t i;
	int rc;

	if (k == NULL)
		return CAIRN_ENOMEM;
	rc = fn == NULL ? CAIRN_EINVAL : count_at(txn, now, k);
	for (i = 0; rc == 0 && i < k->n; i++)
		rc = fn(&k->row[i], arg);
	if (walked != NULL)
		*walked = k->walked;
	free(k);
	return rc;
}

int db_cert_counts_advance(db_txn_t *txn, int64_t now)
{
	struct counts *k = malloc(sizeof(*k));
	size_t i;
	int rc;

	if (k == NULL)
		return CAIRN_ENOMEM;
	rc = count_at(txn, now, k);
	for (i = 0; rc == 0 && i < k->n; i++) {
		const char *p[1] = { k->row[i].profile };
		int64_t old;
		rc = db_counter_get(txn, "certs_expired", p, 1, &old);
		if (rc == 0 && old != k->row[i].expired)
			rc = db_counter_add(txn, "certs_expired", p, 1, k->row[i].expired - old);
	}
	if (rc == 0) {
		uint8_t key[KEY_MAX];
		rc = stat_set(txn, key, stat_key(key, "horizon", NULL, 0), now);
	}
	free(k);
	return rc;
}

/* ---- certificates by the day they expire ---- */

static int today_cb(const db_cert_t *c, void *arg)
{
	if (c->status != DB_CERT_REVOKED)
		(*(int64_t *)arg)++;
	return 0;
}

int db_cert_expiry_days(db_txn_t *txn, int64_t now, size_t days, int64_t *per_day)
{
	int64_t midnight = now - now % DAY;
	char day[16];
	const char *d[1] = { day };
	size_t i;
	int rc;

	if (txn == NULL || per_day == NULL || days == 0 || now < 0)
		return CAIRN_EINVAL;
	memset(per_day, 0, days * sizeof(*per_day));
	/* Today's counter also holds what expired earlier today: walk the rest of today. */
	if ((rc = db_certs_by_expiry(txn, now, midnight + DAY, today_cb, &per_day[0])) != 0)
		return rc;
	for (i = 1; i < days; i++) {
		utc_day(midnight + (int64_t)i * DAY, day, sizeof(day));
		if ((rc = db_counter_get(txn, "expiry_day", d, 1, &per_day[i])) != 0)
			return rc;
	}
	return 0;
}

/* ---- building the counters of a database that predates them ---- */

/* Version 1 -> 2: the expiry_day family of every certificate not revoked. */
static int expiry_day_cert(const db_cert_t *c, void *arg)
{
	char day[16];
	const char *d[1] = { day };

	if (c->status == DB_CERT_REVOKED)
		return 0;
	utc_day(c->not_after, day, sizeof(day));
	return db_counter_add(arg, "expiry_day", d, 1, 1);
}


static int rebuild_cert(const db_cert_t *c, void *arg)
{
	db_txn_t *txn = arg;
	const char *l[2] = { "unknown", c->profile };
	char r[8];
	int rc;

	if ((rc = db_stats_cert_added(txn, c)) != 0 ||
	    (rc = db_counter_add(txn, "issued", l, 2, 1)) != 0)
		return rc;
	if (c->status != DB_CERT_REVOKED)
		return 0;
	snprintf(r, sizeof(r), "%d", c->reason);
	l[0] = r;
	return db_counter_add(txn, "revocations", l, 1, 1);
}

static int rebuild_request(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	json_t *rec = json_loadb(val, vlen, 0, NULL);
	const char *l[1];
	int rc = 0;
	(void)key;
	(void)klen;

	l[0] = json_string_value(json_object_get(rec, "status"));
	if (l[0] != NULL)
		rc = db_counter_add(arg, "requests", l, 1, 1);
	json_decref(rec);
	return rc;
}

int db_stats_ensure(db_txn_t *txn, cairn_err_t *err)
{
	uint8_t key[KEY_MAX];
	int64_t v;
	int rc;

	if ((rc = db_counter_get(txn, "version", NULL, 0, &v)) != 0 || v == STATS_VERSION)
		return rc;
	/* From version 1 only expiry_day is missing: keep the rest (issued by channel is
	 * not in the records, a full rebuild would lose it). */
	if (v == 1) {
		if ((rc = db_certs_all(txn, expiry_day_cert, txn)) != 0 ||
		    (rc = stat_set(txn, key, stat_key(key, "version", NULL, 0), STATS_VERSION)) != 0)
			return cairn_err_set(err, rc, "adding expiry days to the stats table: %s",
					     cairn_strerror(rc));
		return 0;
	}
	/* Start from nothing (counters a binary without them could have left half-made). */
	if ((rc = db_mdb_rc(txn, mdb_drop(txn->txn, txn->db->dbi[DB_STATS], 0))) != 0 ||
	    (rc = db_certs_all(txn, rebuild_cert, txn)) != 0 ||
	    (rc = db_iterate(txn, DB_REQUESTS, NULL, 0, rebuild_request, txn)) != 0 ||
	    (rc = db_cert_counts_advance(txn, (int64_t)time(NULL))) != 0 ||
	    (rc = stat_set(txn, key, stat_key(key, "version", NULL, 0), STATS_VERSION)) != 0)
		return cairn_err_set(err, rc, "building the stats table: %s", cairn_strerror(rc));
	return 0;
}

int db_disk(db_t *db, uint64_t *free_bytes, uint64_t *size_bytes)
{
	struct statvfs v;

	if (db == NULL || statvfs(db->path, &v) != 0)
		return CAIRN_EIO;
	if (free_bytes != NULL)
		*free_bytes = (uint64_t)v.f_bavail * v.f_frsize;
	if (size_bytes != NULL)
		*size_bytes = (uint64_t)v.f_blocks * v.f_frsize;
	return 0;
}

int db_usage(db_t *db, uint64_t *map_bytes, uint64_t *used_bytes)
{
	MDB_envinfo info;
	MDB_stat st;
	db_txn_t *txn = NULL;
	int rc;

	/* mdb_env_info reads the meta pages inside the map: hold a read txn so the writer
	 * cannot remap it (db_resize waits for this process's readers) meanwhile. A scrape
	 * during a map growth crashed here before. */
	if (db == NULL || db_read_begin(db, &txn) != 0)
		return CAIRN_EDB;
	rc = mdb_env_info(db->env, &info) != 0 || mdb_env_stat(db->env, &st) != 0;
	db_txn_end(txn);
	if (rc)
		return CAIRN_EDB;
	if (map_bytes != NULL)
		*map_bytes = info.me_mapsize;
	if (used_bytes != NULL)
		*used_bytes = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	return 0;
}
