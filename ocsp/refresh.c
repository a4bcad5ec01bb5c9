/* SPDX-License-Identifier: MIT */
/* The OCSP cache's refresher thread: pre-signs answers of new certificates, re-signs on
 * revocation and before half-life (the due index, cache.c), stores live answers, sweeps
 * entries of expired certificates, and re-signs everything when a responder changed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include "ocsp/ocsp_int.h"

#define SCAN_BATCH 256 /* certificates signed per db_write during a scan */

static int issuer_index(const ocsp_t *o, const char *name)
{
	size_t i;

	for (i = 0; i < o->n_iss; i++)
		if (strcmp(o->iss[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Signs the answers of a batch (issuer iss[k], state st[k]): the SHA-1 one, and the
 * SHA-256 one too unless sha1_only (NULL: for none) says so for k; stores them in one
 * write (e: room for n, or 2n with sha1_only), a background one when the batch is not
 * full (the queued certificates of a few requests: they share a client's commit).
 * *total (may be NULL) counts them. Returns 0, or the signing or database code. */
static int sign_batch(ocsp_t *o, const int *iss, const ocsp_state_t *st, const int *sha1_only,
		      size_t n, time_t now, ocsp_entry_t *e, size_t *total, cairn_err_t *err)
{
	size_t k, ne;
	int rc = 0;

	for (k = 0, ne = 0; k < n && rc == 0; k++) {
		rc = ocsp_sign_entry(o, (size_t)iss[k], OCSP_ALG_SHA1, &st[k], now, &e[ne]);
		ne += rc == 0;
		if (rc == 0 && sha1_only != NULL && !sha1_only[k]) {
			rc = ocsp_sign_entry(o, (size_t)iss[k], OCSP_ALG_SHA256, &st[k], now, &e[ne]);
			ne += rc == 0;
		}
	}
	if (rc != 0)
		cairn_err_set(err, rc, "ocsp: signing failed");
	if (ocsp_store(o, e, ne, n < SCAN_BATCH ? OCSP_STORE_BACKGROUND : 0, rc ? NULL : err) != 0 &&
	    rc == 0)
		rc = CAIRN_EDB;
	if (total != NULL)
		*total += ne;
	atomic_fetch_add(&o->presigned, ne);
	return rc;
}

/* Re-signs (both CertID algorithms; a new certificate's SHA-1 answer only) the queued
 * certificates, SCAN_BATCH per write. */
static int resign_changed(ocsp_t *o, const ocsp_state_t *list, size_t n, cairn_err_t *err)
{
	ocsp_entry_t e[2 * SCAN_BATCH];
	size_t i = 0;
	int rc = 0;

	while (i < n && rc == 0) {
		db_txn_t *txn = NULL;
		ocsp_state_t st[SCAN_BATCH];
		int iss[SCAN_BATCH], issued[SCAN_BATCH];
		size_t m = 0;

		if (db_read_begin(o->db, &txn) != 0)
			return cairn_err_set(err, CAIRN_EDB, "ocsp: cannot read the database");
		for (; i < n && m < SCAN_BATCH; i++) {
			db_cert_t c;
			if (db_cert_get(txn, list[i].serial, list[i].serial_len, &c) != 0 ||
			    (iss[m] = issuer_index(o, c.issuer)) < 0)
				continue;
			ocsp_read_state(txn, &o->iss[iss[m]], list[i].serial, list[i].serial_len,
					&st[m]);
			issued[m] = list[i].issued;
			m++;
		}
		db_txn_end(txn);
		rc = sign_batch(o, iss, st, issued, m, time(NULL), e, NULL, err);
	}
	return rc;
}

struct scan {
	ocsp_t *o;
	db_txn_t *txn;
	time_t now;
	ocsp_state_t st[SCAN_BATCH];
	int iss[SCAN_BATCH];
	size_t n;
	db_walk_t walk; /* DB_CERTS by serial, restarted after the last key seen */
};

/* Does the cached SHA-1 answer for st need signing (missing, stale status or
 * signer, past half-life)? */
static int needs_signing(struct scan *s, const struct ocsp_iss *is, const ocsp_state_t *st)
{
	uint8_t key[DB_SERIAL_MAX + 1];
	size_t klen = ocsp_cache_key(key, st->serial, st->serial_len, OCSP_ALG_SHA1);
	const uint8_t *v;
	size_t vlen;

	if (db_get(s->txn, DB_OCSP, key, klen, (const void **)&v, &vlen) != 0)
		return 1;
	return !ocsp_cache_matches(is, st, v, vlen, s->now) ||
	       ocsp_resign_at(s->o, key, klen, (int64_t)ocsp_cache_this_update(v)) <= (int64_t)s->now;
}

/* 1 once the refresher is asked to stop. */
static int stop_asked(ocsp_t *o)
{
	int stop;

	pthread_mutex_lock(&o->mu);
	stop = o->stopping;
	pthread_mutex_unlock(&o->mu);
	return stop;
}

static int scan_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct scan *s = arg;
	db_cert_t c;
	int i;
	(void)val;
	(void)vlen;

	if (db_cert_get(s->txn, key, klen, &c) != 0 || c.not_after <= (int64_t)s->now ||
	    (i = issuer_index(s->o, c.issuer)) < 0)
		return 0;
	ocsp_read_state(s->txn, &s->o->iss[i], key, klen, &s->st[s->n]);
	if (!needs_signing(s, &s->o->iss[i], &s->st[s->n]))
		return 0;
	s->iss[s->n] = i;
	return ++s->n == SCAN_BATCH ? 1 : 0;
}

/*
 * Re-signs the certificates queued by ocsp_changed and stores the live answers queued
 * by the responder. The refresher calls it between scans and between the batches of a
 * scan: a first scan of 10M certificates signs for about an hour, and a revocation or
 * a miss's answer must not wait for it (docs/scaling.md).
 */
static void drain_queues(ocsp_t *o)
{
	ocsp_state_t *changed;
	ocsp_entry_t *stores;
	size_t n_changed, n_stores;
	cairn_err_t err;

	pthread_mutex_lock(&o->mu);
	changed = o->changed;
	n_changed = o->n_changed;
	stores = o->stores;
	n_stores = o->n_stores;
	o->changed = NULL;
	o->stores = NULL;
	o->n_changed = o->n_stores = 0;
	pthread_mutex_unlock(&o->mu);
	memset(&err, 0, sizeof(err));
	if (n_changed > 0 && resign_changed(o, changed, n_changed, &err) != 0)
		log_error("ocsp", "re-signing after revocation: %s", cairn_err_msg(&err));
	memset(&err, 0, sizeof(err));
	if (n_stores > 0 && ocsp_store(o, stores, n_stores, OCSP_STORE_BACKGROUND | OCSP_STORE_LIVE,
					&err) != 0)
		log_warn("ocsp", "storing live answers: %s", cairn_err_msg(&err));
	pthread_mutex_lock(&o->mu); /* the arrays serve the next queue */
	if (o->changed_spare == NULL && changed != NULL) {
		o->changed_spare = changed;
		changed = NULL;
	}
	if (o->stores_spare == NULL && stores != NULL) {
		o->stores_spare = stores;
		stores = NULL;
	}
	pthread_mutex_unlock(&o->mu);
	free(changed);
	free(stores);
}

int ocsp_refresh_all(ocsp_t *o, size_t *count, cairn_err_t *err)
{
	ocsp_entry_t e[SCAN_BATCH];
	struct scan *s = calloc(1, sizeof(*s));
	size_t total = 0;
	int rc = 0, more;

	if (s == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	s->o = o;
	s->walk = (db_walk_t){ .min_len = 1, .max_len = DB_SERIAL_MAX };
	do {
		s->n = 0;
		s->now = time(NULL);
		if (db_read_begin(o->db, &s->txn) != 0) {
			rc = cairn_err_set(err, CAIRN_EDB, "ocsp: cannot read the database");
			break;
		}
		more = db_walk_batch(s->txn, DB_CERTS, &s->walk, scan_cb, s);
		db_txn_end(s->txn);
		if (more < 0) {
			rc = cairn_err_set(err, more, "ocsp: scanning certificates: %s",
					   cairn_strerror(more));
			break;
		}
		rc = sign_batch(o, s->iss, s->st, NULL, s->n, s->now, e, &total, err);
		if (rc == 0 && more == 1)
			drain_queues(o);
		if (stop_asked(o))
			more = 0;
	} while (rc == 0 && more == 1);
	free(s);
	if (count != NULL)
		*count = total;
	return rc;
}

#define SWEEP_BATCH 1024 /* cache entries deleted per db_write */

/* One pass of the sweep over the ocsp table: the keys to delete, where to go on. */
struct sweep {
	db_txn_t *txn;
	time_t now;
	uint8_t (*keys)[DB_SERIAL_MAX + 1];
	size_t klen[SWEEP_BATCH], n;
	db_walk_t walk;
	unsigned long unknowns; /* `unknown` entries kept, counted on the way */
	const ocsp_t *o;
	uint8_t (*idx)[OCSP_DUE_KEY_MAX]; /* due entries of the answers kept (the index's first build) */
	size_t idx_len[SWEEP_BATCH], n_idx;
};

/* Deletes an entry whose certificate has expired (nobody needs its status from
 * the cache any more; a late question is signed live) and an `unknown` answer
 * past its nextUpdate. */
static int sweep_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct sweep *w = arg;
	db_cert_t c;
	int drop;

	if (ocsp_cache_is_unknown(val, vlen))
		drop = (int64_t)ocsp_cache_next_update(val) <= (int64_t)w->now;
	else
		drop = db_cert_get(w->txn, key, klen - 1, &c) != 0 ||
		       c.not_after <= (int64_t)w->now;
	if (!drop) {
		w->unknowns += ocsp_cache_is_unknown(val, vlen);
		w->idx_len[w->n_idx] = ocsp_due_key(w->idx[w->n_idx], ocsp_due_of(w->o, key, klen, val, vlen),
					       key, klen);
		return ++w->n_idx == SWEEP_BATCH ? 1 : 0;
	}
	memcpy(w->keys[w->n], key, klen);
	w->klen[w->n] = klen;
	return ++w->n == SWEEP_BATCH ? 1 : 0;
}

static int sweep_del(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct sweep *w = arg;
	size_t i;
	int rc;

	for (i = 0; i < w->n; i++)
		if ((rc = db_del(txn, DB_OCSP, w->keys[i], w->klen[i])) != 0 && rc != CAIRN_ENOENT)
			return cairn_err_set(err, rc, "deleting an OCSP response: %s",
					     cairn_strerror(rc));
	for (i = 0; i < w->n_idx; i++)
		if ((rc = db_put(txn, DB_OCSP_DUE, w->idx[i], w->idx_len[i], NULL, 0, 0)) != 0)
			return cairn_err_set(err, rc, "indexing an OCSP response: %s",
					     cairn_strerror(rc));
	return 0;
}

/* The published tree drops the files of the expired certificates just swept. */
static void publish_swept(ocsp_t *o, const struct sweep *w)
{
	size_t i;

	for (i = 0; o->pub != NULL && i < w->n; i++)
		if (w->klen[i] >= 2 && w->keys[i][w->klen[i] - 1] == OCSP_ALG_SHA1)
			ocsp_pub_changed(o->pub, w->keys[i], w->klen[i] - 1);
}

int ocsp_sweep(ocsp_t *o, size_t *count, cairn_err_t *err)
{
	struct sweep *w = calloc(1, sizeof(*w));
	size_t total = 0;
	int rc = 0, more;

	if (w == NULL || (w->keys = calloc(SWEEP_BATCH, sizeof(*w->keys))) == NULL ||
	    (w->idx = calloc(SWEEP_BATCH, sizeof(*w->idx))) == NULL) {
		if (w != NULL)
			free(w->keys);
		free(w);
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	}
	w->o = o;
	w->now = time(NULL);
	w->walk = OCSP_CACHE_WALK;
	do {
		w->n = w->n_idx = 0;
		if (db_read_begin(o->db, &w->txn) != 0) {
			rc = cairn_err_set(err, CAIRN_EDB, "ocsp: cannot read the database");
			break;
		}
		more = db_walk_batch(w->txn, DB_OCSP, &w->walk, sweep_cb, w);
		db_txn_end(w->txn);
		if (more < 0) {
			rc = cairn_err_set(err, more, "ocsp: sweeping the cache: %s",
					   cairn_strerror(more));
			break;
		}
		if (w->n > 0 || w->n_idx > 0) {
			atomic_fetch_add(&o->cache_writes, 1);
			if ((rc = db_write(o->db, sweep_del, w, err)) != 0)
				break;
		}
		publish_swept(o, w);
		total += w->n;
		pthread_mutex_lock(&o->mu);
		if (o->stopping)
			more = 0;
		pthread_mutex_unlock(&o->mu);
	} while (more == 1);
	if (rc == 0 && more == 0)
		atomic_store(&o->unknowns, w->unknowns);
	atomic_fetch_add(&o->swept, total);
	free(w->keys);
	free(w->idx);
	free(w);
	if (count != NULL)
		*count = total;
	return rc;
}

/* The refresher's nice value: below the HTTP workers, never starved (bench/README.md). */
#define REFRESHER_NICE 10

/* One batch of the due index: the answers to sign, the due entries (and answers) to drop. */
struct due_walk {
	ocsp_t *o;
	db_txn_t *txn;
	time_t now;
	ocsp_state_t st[SCAN_BATCH];
	int iss[SCAN_BATCH];
	size_t n;
	uint8_t drop[SCAN_BATCH][OCSP_DUE_KEY_MAX];
	size_t drop_len[SCAN_BATCH];
	int drop_answer[SCAN_BATCH]; /* the answer goes too (expired certificate, stale) */
	size_t nd;
	int64_t next;                /* the first entry not yet due (0: none) */
};

static int due_drop(struct due_walk *w, const uint8_t *key, size_t klen, int answer)
{
	memcpy(w->drop[w->nd], key, klen);
	w->drop_len[w->nd] = klen;
	w->drop_answer[w->nd] = answer;
	return ++w->nd == SCAN_BATCH ? 1 : 0;
}

static int due_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct due_walk *w = arg;
	const uint8_t *k = key, *ck = k + 8, *v;
	size_t cklen = klen - 8, alen;
	int64_t when;
	db_cert_t c;
	int i, have, stale;
	(void)val;
	(void)vlen;

	if (klen < 10 || klen > OCSP_DUE_KEY_MAX)
		return due_drop(w, k, klen < OCSP_DUE_KEY_MAX ? klen : OCSP_DUE_KEY_MAX, 0);
	if ((when = (int64_t)db_be64_get(k)) > (int64_t)w->now) {
		w->next = when;
		return 2;
	}
	have = db_get(w->txn, DB_OCSP, ck, cklen, (const void **)&v, &alen) == 0;
	if (have && ocsp_due_of(w->o, ck, cklen, v, alen) > when)
		return due_drop(w, k, klen, 0); /* the answer was replaced: its entry is elsewhere */
	/* Earlier than its entry says: an entry timed before resign_at spread re-signing (at
	 * exactly half-life). The answer is due; the re-signing writes its new entry. */
	stale = have && ocsp_due_of(w->o, ck, cklen, v, alen) < when;
	if ((have && (ocsp_cache_is_unknown(v, alen) || ck[cklen - 1] != OCSP_ALG_SHA1)) ||
	    (!have && ck[cklen - 1] != OCSP_ALG_SHA1))
		return due_drop(w, k, klen, have); /* past nextUpdate: signed live if asked again */
	if (db_cert_get(w->txn, ck, cklen - 1, &c) != 0 || c.not_after <= (int64_t)w->now ||
	    (i = issuer_index(w->o, c.issuer)) < 0)
		return due_drop(w, k, klen, have); /* expired or gone: nobody needs it cached */
	ocsp_read_state(w->txn, &w->o->iss[i], ck, cklen - 1, &w->st[w->n]);
	w->iss[w->n] = i;
	w->n++;
	if ((!have || stale) && due_drop(w, k, klen, 0)) /* a new certificate's (0, key) entry */
		return 1;
	return w->n == SCAN_BATCH ? 1 : 0;
}

static int due_del(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct due_walk *w = arg;
	size_t i;
	int rc;

	for (i = 0; i < w->nd; i++) {
		rc = db_del(txn, DB_OCSP_DUE, w->drop[i], w->drop_len[i]);
		if ((rc == 0 || rc == CAIRN_ENOENT) && w->drop_answer[i])
			rc = db_del(txn, DB_OCSP, w->drop[i] + 8, w->drop_len[i] - 8);
		if (rc != 0 && rc != CAIRN_ENOENT)
			return cairn_err_set(err, rc, "dropping a due OCSP entry: %s",
					     cairn_strerror(rc));
	}
	return 0;
}

int ocsp_refresh_due(ocsp_t *o, size_t *n_signed, size_t *n_dropped, int64_t *next,
		     cairn_err_t *err)
{
	ocsp_entry_t e[SCAN_BATCH];
	struct due_walk *w = calloc(1, sizeof(*w));
	size_t total = 0, dropped = 0, i;
	int rc = 0, more;

	if (w == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	w->o = o;
	do {
		w->n = w->nd = 0;
		w->next = 0;
		w->now = time(NULL);
		if (db_read_begin(o->db, &w->txn) != 0) {
			rc = cairn_err_set(err, CAIRN_EDB, "ocsp: cannot read the database");
			break;
		}
		more = db_iterate(w->txn, DB_OCSP_DUE, NULL, 0, due_cb, w);
		db_txn_end(w->txn);
		if (more < 0) {
			rc = cairn_err_set(err, more, "ocsp: reading the due index: %s",
					   cairn_strerror(more));
			break;
		}
		if (w->nd > 0) {
			atomic_fetch_add(&o->cache_writes, 1);
			if ((rc = db_write(o->db, due_del, w, err)) != 0)
				break;
		}
		for (i = 0; i < w->nd; i++) {
			dropped += w->drop_answer[i];
			/* A dropped SHA-1 answer leaves the published tree too. */
			if (w->drop_answer[i] && o->pub != NULL && w->drop_len[i] >= 10 &&
			    w->drop[i][w->drop_len[i] - 1] == OCSP_ALG_SHA1)
				ocsp_pub_changed(o->pub, w->drop[i] + 8, w->drop_len[i] - 9);
		}
		rc = sign_batch(o, w->iss, w->st, NULL, w->n, w->now, e, &total, err);
		if (rc == 0 && more == 1)
			drain_queues(o);
		if (stop_asked(o))
			more = 0;
	} while (rc == 0 && more == 1);
	atomic_fetch_add(&o->swept, dropped);
	if (next != NULL)
		*next = w->next;
	free(w);
	if (n_signed != NULL)
		*n_signed = total;
	if (n_dropped != NULL)
		*n_dropped = dropped;
	return rc;
}

/* What the full scan records once done: the due index complete, the responders, and
 * (after a scan for answers from the future) the latest thisUpdate brought back to now. */
struct scan_done {
	uint8_t signers[OCSP_SIGNERS_MAX];
	size_t len;
	int due; /* the due index too */
	int64_t latest; /* > 0: OCSP_LATEST_META set to it */
};

static int scan_done_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct scan_done *d = arg;
	uint8_t be[8];
	int rc = d->due ? db_put(txn, DB_META, "ocsp_due", 8, "1", 1, 0) : 0;
	(void)err;

	if (rc == 0)
		rc = db_put(txn, DB_META, OCSP_SIGNERS_META, strlen(OCSP_SIGNERS_META), d->signers, d->len, 0);
	if (rc == 0 && d->latest > 0) {
		db_be64_put(be, (uint64_t)d->latest);
		rc = db_put(txn, DB_META, OCSP_LATEST_META, strlen(OCSP_LATEST_META), be, 8, 0);
	}
	return rc;
}

/* How far the latest stored answer's thisUpdate is ahead of now when the clock went back
 * behind it (time_ahead), else 0. */
static int64_t cache_ahead(ocsp_t *o, int64_t now)
{
	db_txn_t *txn = NULL;
	const void *v;
	size_t vlen;
	int64_t latest = 0;

	if (db_read_begin(o->db, &txn) != 0)
		return 0;
	if (db_get(txn, DB_META, OCSP_LATEST_META, strlen(OCSP_LATEST_META), &v, &vlen) == 0 &&
	    vlen == 8)
		latest = (int64_t)db_be64_get(v);
	db_txn_end(txn);
	return time_ahead(latest, now) ? latest - now : 0;
}

/* The whole cache once: a database whose due index is not complete yet (made before it,
 * or never scanned), a new responder (every answer re-signed), or answers from the future
 * (reset: the clock went back behind them; each is re-signed, being no longer current). */
static void full_scan(ocsp_t *o, int reset)
{
	cairn_err_t err = { 0 };
	struct scan_done done = { .due = 1, .latest = reset ? (int64_t)time(NULL) : 0 };
	size_t n;
	int rc;

	/* The responders this scan signs for (one replaced meanwhile asks for another). */
	done.len = ocsp_signers_encode(o, done.signers);

	if ((rc = ocsp_refresh_all(o, &n, &err)) != 0)
		log_error("ocsp", "cache refresh: %s", cairn_err_msg(&err));
	else if (n > 0)
		log_info("ocsp", "pre-signed %zu responses", n);
	if (rc == 0 && (rc = ocsp_sweep(o, &n, &err)) != 0)
		log_error("ocsp", "cache sweep: %s", cairn_err_msg(&err));
	else if (rc == 0 && n > 0)
		log_info("ocsp", "deleted %zu cached responses of expired certificates or unknown "
			 "serials", n);
	pthread_mutex_lock(&o->mu);
	rc = rc == 0 && !o->stopping ? 0 : -1;
	pthread_mutex_unlock(&o->mu);
	if (rc == 0 && db_write(o->db, scan_done_op, &done, &err) != 0)
		log_warn("ocsp", "recording the due index: %s", cairn_err_msg(&err));
}

/* At start: a full scan when the responders changed since the cache was signed; a
 * database from before the record gets one (its cache is taken as it is). */
static int signers_at_start(ocsp_t *o, int ready)
{
	struct scan_done done = { .due = 0 };
	cairn_err_t err = { 0 };
	int changed = ready ? ocsp_signers_changed(o) : 0;

	if (changed > 0) {
		log_info("ocsp", "the responder changed since the cache was signed: re-signing it");
		return 1;
	}
	if (changed < 0) {
		done.len = ocsp_signers_encode(o, done.signers);
		if (db_write(o->db, scan_done_op, &done, &err) != 0)
			log_warn("ocsp", "recording the responders: %s", cairn_err_msg(&err));
	}
	return 0;
}

static int due_ready(ocsp_t *o)
{
	db_txn_t *txn = NULL;
	int ready;

	if (db_read_begin(o->db, &txn) != 0)
		return 0;
	ready = db_get(txn, DB_META, "ocsp_due", 8, NULL, NULL) == 0;
	db_txn_end(txn);
	return ready;
}

/* Longest sleep between two looks at the due index: a new certificate's first answer
 * waits at most this long (or its first request, which signs and stores it). */
#define DUE_TICK_MAX 60

/*
 * The refresher: after a full scan the first time (due_ready), each tick reads only the
 * due index — what reached half-life, expired or is new — in batches of SCAN_BATCH, with
 * the queues drained between batches; then it sleeps until the next entry is due (at
 * most DUE_TICK_MAX or the scan interval). At steady state a tick costs what changed.
 */
static void *refresher_main(void *arg)
{
	ocsp_t *o = arg;
	time_t next_scan = 0;
	cairn_err_t err;
	size_t n, d;
	int64_t next;
	int scan, ready = due_ready(o), resign = signers_at_start(o, ready);

	/*
	 * A scan re-signs every answer past its half-life at once (all of them two days
	 * after a first pre-signing) and, on the same CPU as the responder, took turns
	 * with it in scheduler slices: answers from the cache waited behind signing.
	 * On Linux a nice value belongs to the thread: the workers now win the CPU when
	 * both want it; the refresher keeps a share (weight 110 against 1024) and all
	 * of an idle CPU. Failure (not Linux, a seccomp filter) leaves it as it was.
	 */
	pthread_setname_np(pthread_self(), "ocsp-refresh"); /* for top -H, perf, tests */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), REFRESHER_NICE) != 0)
		log_debug("ocsp", "refresher priority unchanged: %s", strerror(errno));
	pthread_mutex_lock(&o->mu);
	while (!o->stopping) {
		/* a next look set further away than any tick sets it: set before the clock went
		 * back, so it is due now */
		if (next_scan > time(NULL) + (time_t)o->scan_interval + DUE_TICK_MAX)
			next_scan = time(NULL);
		if (o->n_changed == 0 && o->n_stores == 0 && !o->rescan && time(NULL) < next_scan) {
			time_wait_until(&o->cv, &o->mu, (int64_t)next_scan);
			continue;
		}
		scan = o->rescan || !ready || resign;
		o->rescan = resign = 0;
		pthread_mutex_unlock(&o->mu);

		drain_queues(o);
		if (scan) {
			full_scan(o, 0);
			ready = due_ready(o);
			next_scan = time(NULL);
		}
		if (ready && time(NULL) >= next_scan) {
			int64_t ahead = cache_ahead(o, (int64_t)time(NULL));
			if (ahead > 0) {
				log_warn("ocsp", "cached answers are up to %lld s ahead of the clock "
					 "(it went back since they were signed): re-signing them",
					 (long long)ahead);
				full_scan(o, 1);
			}
			memset(&err, 0, sizeof(err));
			next = 0;
			if (ocsp_refresh_due(o, &n, &d, &next, &err) != 0)
				log_error("ocsp", "cache refresh: %s", cairn_err_msg(&err));
			else if (n > 0 || d > 0)
				log_info("ocsp", "pre-signed %zu responses, dropped %zu", n, d);
			next_scan = time(NULL) + (time_t)(o->scan_interval < DUE_TICK_MAX
								  ? o->scan_interval
								  : DUE_TICK_MAX);
			if (next > 0 && next < (int64_t)next_scan)
				next_scan = (time_t)next;
		} else if (!ready) {
			next_scan = time(NULL) + (time_t)o->scan_interval;
		}
		pthread_mutex_lock(&o->mu);
	}
	pthread_mutex_unlock(&o->mu);
	return NULL;
}

int ocsp_start(ocsp_t *o, cairn_err_t *err)
{
	int rc;

	/* The refresher's deadlines are wall-clock (thisUpdate/nextUpdate are wall time), its
	 * waits monotonic: time_wait_until. */
	pthread_cond_destroy(&o->cv);
	time_mono_cond_init(&o->cv);
	pthread_mutex_lock(&o->mu);
	o->started = 1;
	pthread_mutex_unlock(&o->mu);
	rc = pthread_create(&o->thread, NULL, refresher_main, o);
	if (rc != 0) {
		o->started = 0;
		return cairn_err_set(err, CAIRN_EIO, "ocsp: cannot start the refresher: %s",
				     strerror(rc));
	}
	return 0;
}

void ocsp_refresher_stop(ocsp_t *o)
{
	size_t i;

	pthread_mutex_lock(&o->mu);
	o->stopping = 1;
	pthread_cond_broadcast(&o->cv);
	pthread_mutex_unlock(&o->mu);
	if (o->started)
		pthread_join(o->thread, NULL);
	o->started = 0;
	for (i = 0; i < o->n_stores; i++)
		free(o->stores[i].val);
	free(o->stores);
	free(o->changed);
	free(o->stores_spare);
	free(o->changed_spare);
	o->stores = o->stores_spare = NULL;
	o->changed = o->changed_spare = NULL;
	o->n_stores = o->n_changed = 0;
}
