/* SPDX-License-Identifier: MIT */
/*
 * The retention sweep. RFC 8555 leaves it to the server how long it keeps what expired;
 * nothing else deletes orders and authorizations, so a client ordering in a loop would
 * grow the database for good. Orders are deleted acme.retention_days after they expired
 * (at least the order lifetime after: an order reusing an authorization has expired
 * before that authorization is deleted), with their list entries (l/) and their
 * authorizations past the same point, whose pending (p/) and reuse (v/) entries go with
 * them, and the entry of the policy request it waited on (r/). An order parked for
 * approvers ("processing") is kept while its request waits; one whose request was
 * decided but which no client fetched since (the order learns of the decision when it is
 * read) is brought up to date first, its certificate link written, and goes at a later
 * sweep. The certificate link (s/) stays: the account downloads and
 * revokes as before. Failed-validation entries (f/) go once they left the hour they count
 * in. A thread of its own (util_periodic) sweeps at start and every hour after, in
 * batches of one write each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme/acme_int.h"

#define SWEEP_EVERY 3600  /* seconds between sweeps */
#define SWEEP_BATCH 256   /* orders (or failure entries) deleted by one write at most */
#define SWEEP_LOOK 65536  /* index entries read by one read transaction at most */
#define SWEEP_KEY (DB_WALK_KEY_MAX + 1)

/* One walk over the index entries of a prefix: the candidates of a batch, what the writes
 * deleted. */
typedef struct sweep_walk {
	acme_t *a;
	char prefix[3];        /* "l/" (orders) or "f/" (failed validations) */
	int64_t before;        /* entries whose time is at most this are candidates */
	db_walk_t walk;        /* where the walk stands (db/walk.c) */
	char (*keys)[SWEEP_KEY];
	size_t n;
	uint64_t orders, authzs, failures; /* deleted by the last write (set by it) */
	char (*parked)[ACME_ID_LEN + 1]; /* orders of the write kept as processing */
	size_t n_parked;
} sweep_walk_t;

/* The time in an index entry: l/ACCT/TIME ORDER (the order's creation) or
 * f/ACCT/NAME/TIME AUTHZ (the failure's); -1 for an entry of another shape. */
static int64_t entry_time(const char *prefix, const char *key, size_t klen)
{
	const char *slash = prefix[0] == 'l' ? memchr(key + 2, '/', klen - 2)
					     : memrchr(key + 2, '/', klen - 2);

	if (slash == NULL)
		return -1;
	return acme_key_time(key, klen, key, (size_t)(slash - key) + 1);
}

static int take(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	sweep_walk_t *w = arg;
	int64_t t;
	(void)val;
	(void)vlen;

	if (klen < 2 || memcmp(key, w->prefix, 2) != 0)
		return 2; /* past the prefix: the walk is over */
	t = entry_time(w->prefix, key, klen);
	if (t >= 0 && t <= w->before) {
		memcpy(w->keys[w->n], key, klen);
		w->keys[w->n++][klen] = '\0';
	}
	return w->n == SWEEP_BATCH ? 1 : 0;
}

/* db_del, where an entry already gone is no error. */
static int del(db_txn_t *txn, const char *key)
{
	int rc = db_del(txn, DB_ACME, key, strlen(key));

	return rc == CAIRN_ENOENT ? 0 : rc;
}

/* Authorization zid of acct with its pending and reuse entries, when it expired at
 * w->before or earlier; one deleted already (shared by two orders) is passed over. */
static int authz_del(db_txn_t *txn, sweep_walk_t *w, const char *acct, const char *zid)
{
	char key[SWEEP_KEY];
	const json_t *ident;
	const void *val;
	json_t *z = NULL;
	size_t len;
	int rc;

	if (zid == NULL || strlen(zid) > ACME_ID_LEN)
		return 0;
	snprintf(key, sizeof(key), "z/%s", zid);
	if ((rc = acme_txn_get(w->a, txn, key, &z)) != 0)
		return rc == CAIRN_ENOENT ? 0 : rc;
	if (json_integer_value(json_object_get(z, "expires")) > w->before)
		goto out;
	if ((rc = del(txn, key)) != 0)
		goto out;
	snprintf(key, sizeof(key), "p/%s/%s", acct, zid);
	if ((rc = del(txn, key)) != 0)
		goto out;
	/* the reuse entry of its identifier, unless a later authorization took it over */
	ident = json_object_get(z, "identifier");
	snprintf(key, sizeof(key), "v/%s/%s:%s%s", acct,
		 json_string_value(json_object_get(ident, "type")),
		 json_string_value(json_object_get(ident, "value")),
		 json_is_true(json_object_get(z, "wildcard")) ? "*" : "");
	rc = db_get(txn, DB_ACME, key, strlen(key), &val, &len);
	if (rc == 0 && len == strlen(zid) && memcmp(val, zid, len) == 0)
		rc = del(txn, key);
	else if (rc == CAIRN_ENOENT)
		rc = 0;
	if (rc == 0)
		w->authzs++;
out:
	json_decref(z);
	return rc;
}

/* The order of list entry lkey (l/ACCT/TIME ORDER) when it is past its retention: the
 * order, its authorizations past theirs, the entry. */
static int order_del(db_txn_t *txn, sweep_walk_t *w, const char *lkey)
{
	const char *slash = strchr(lkey + 2, '/'), *st;
	char acct[ACME_ID_LEN + 1], key[SWEEP_KEY], rkey[SWEEP_KEY];
	json_t *o = NULL, *id;
	size_t i;
	int rc;

	if (slash == NULL || (size_t)(slash - lkey - 2) > ACME_ID_LEN || strlen(slash) <= 17)
		return 0;
	snprintf(acct, sizeof(acct), "%.*s", (int)(slash - lkey - 2), lkey + 2);
	snprintf(key, sizeof(key), "o/%s", slash + 17);
	if ((rc = acme_txn_get(w->a, txn, key, &o)) != 0)
		return rc == CAIRN_ENOENT ? del(txn, lkey) : rc; /* an entry of no order */
	if (json_integer_value(json_object_get(o, "expires")) > w->before)
		goto out; /* not yet past its retention */
	st = json_string_value(json_object_get(o, "status"));
	if (st != NULL && strcmp(st, "processing") == 0) {
		/* parked for approvers: looked at again after the write (parked_refresh) */
		snprintf(w->parked[w->n_parked++], sizeof(w->parked[0]), "%s", slash + 17);
		goto out;
	}
	json_array_foreach(json_object_get(o, "authzs"), i, id)
		if ((rc = authz_del(txn, w, acct, json_string_value(id))) != 0)
			goto out;
	if (json_is_string(json_object_get(o, "request"))) {
		snprintf(rkey, sizeof(rkey), "r/%s",
			 json_string_value(json_object_get(o, "request")));
		if ((rc = del(txn, rkey)) != 0)
			goto out;
	}
	if ((rc = del(txn, key)) == 0 && (rc = del(txn, lkey)) == 0)
		w->orders++;
out:
	json_decref(o);
	return rc;
}

static int orders_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	sweep_walk_t *w = arg;
	size_t i;
	int rc = 0;

	w->orders = w->authzs = w->n_parked = 0; /* the counts of the transaction that commits */
	for (i = 0; rc == 0 && i < w->n; i++)
		rc = order_del(txn, w, w->keys[i]);
	return rc ? cairn_err_set(err, rc, "deleting order entry %s: %s", w->keys[i - 1],
				  cairn_strerror(rc))
		  : 0;
}

static int failures_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	sweep_walk_t *w = arg;
	size_t i;
	int rc;

	for (i = 0; i < w->n; i++)
		if ((rc = del(txn, w->keys[i])) != 0)
			return cairn_err_set(err, rc, "deleting %s: %s", w->keys[i],
					     cairn_strerror(rc));
	w->failures = w->n;
	return 0;
}

/* The orders the last write kept as processing, each read as a client's fetch reads it:
 * one whose request was decided takes its final state (and its certificate link) now,
 * so that a later sweep deletes it; one still waiting for approvers stays as it is. */
static void parked_refresh(sweep_walk_t *w)
{
	char key[ACME_ID_LEN + 3];
	json_t *o;
	size_t i;

	for (i = 0; i < w->n_parked; i++) {
		snprintf(key, sizeof(key), "o/%s", w->parked[i]);
		if (acme_get(w->a, key, &o) != 0)
			continue;
		acme_order_refresh(w->a, &o);
		json_decref(o);
	}
}

static int stopping(acme_t *a)
{
	return util_periodic_stopping(a->sweeper);
}

/* Every entry of w->prefix with a time up to w->before, in batches: a read transaction
 * takes candidates (reading SWEEP_LOOK entries at most), run deletes what is still to be
 * deleted in one write. */
static int walk(sweep_walk_t *w, db_write_fn run, uint64_t *orders, uint64_t *authzs,
		uint64_t *failures, cairn_err_t *err)
{
	db_txn_t *txn;
	int rc, more;

	w->walk = (db_walk_t){ .min_len = 2, .max_len = DB_WALK_KEY_MAX, .batch = SWEEP_LOOK };
	if ((rc = db_walk_resume(&w->walk, w->prefix, 2)) != 0)
		return cairn_err_set(err, rc, "%s", cairn_strerror(rc));
	do {
		w->n = w->n_parked = 0;
		w->orders = w->authzs = w->failures = 0;
		if ((rc = db_read_begin(w->a->db, &txn)) != 0)
			return cairn_err_set(err, rc, "reading the database: %s", cairn_strerror(rc));
		more = db_walk_batch(txn, DB_ACME, &w->walk, take, w);
		db_txn_end(txn);
		if (more < 0)
			return cairn_err_set(err, more, "reading the %s entries: %s", w->prefix,
					     cairn_strerror(more));
		if (w->n > 0 && (rc = db_write(w->a->db, run, w, err)) != 0)
			return rc;
		parked_refresh(w);
		*orders += w->orders;
		*authzs += w->authzs;
		*failures += w->failures;
	} while (more == 1 && !stopping(w->a));
	return 0;
}

int acme_sweep(acme_t *a, int64_t now, cairn_err_t *err)
{
	sweep_walk_t *w = calloc(1, sizeof(*w));
	int64_t keep = a->retention_days * 86400;
	uint64_t orders = 0, authzs = 0, failures = 0;
	int rc = 0;

	if (w == NULL || (w->keys = calloc(SWEEP_BATCH, sizeof(*w->keys))) == NULL ||
	    (w->parked = calloc(SWEEP_BATCH, sizeof(*w->parked))) == NULL) {
		if (w != NULL)
			free(w->keys);
		free(w);
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	}
	w->a = a;
	if (keep > 0) {
		if (keep < a->order_lifetime)
			keep = a->order_lifetime;
		snprintf(w->prefix, sizeof(w->prefix), "l/");
		w->before = now - keep;
		rc = walk(w, orders_run, &orders, &authzs, &failures, err);
	}
	if (rc == 0) {
		snprintf(w->prefix, sizeof(w->prefix), "f/");
		w->before = now - 3600;
		rc = walk(w, failures_run, &orders, &authzs, &failures, err);
	}
	atomic_fetch_add(&a->swept_orders, orders);
	atomic_fetch_add(&a->swept_authzs, authzs);
	atomic_fetch_add(&a->swept_failures, failures);
	if (orders > 0 || authzs > 0)
		log_info("acme", "deleted %llu orders and %llu authorizations past their retention "
			 "(%lld days after they expired)", (unsigned long long)orders,
			 (unsigned long long)authzs, (long long)(keep / 86400));
	free(w->keys);
	free(w->parked);
	free(w);
	return rc;
}

static int64_t sweep_run(void *arg, int64_t now)
{
	acme_t *a = arg;
	cairn_err_t err = { 0 };

	if (acme_sweep(a, now, &err) != 0)
		log_error("acme", "retention sweep: %s", cairn_err_msg(&err));
	else if (!stopping(a))
		atomic_store(&a->sweep_last, (int64_t)time(NULL));
	return (int64_t)time(NULL) + SWEEP_EVERY;
}

int acme_sweeper_start(acme_t *a)
{
	return util_periodic_start(sweep_run, a, SWEEP_EVERY, &a->sweeper);
}

void acme_sweeper_stop(acme_t *a)
{
	util_periodic_stop(a->sweeper);
	a->sweeper = NULL;
}

void acme_sweep_stats(acme_t *a, acme_sweep_stats_t *out)
{
	memset(out, 0, sizeof(*out));
	if (a == NULL)
		return;
	out->orders = atomic_load(&a->swept_orders);
	out->authzs = atomic_load(&a->swept_authzs);
	out->failures = atomic_load(&a->swept_failures);
	out->last = atomic_load(&a->sweep_last);
}
