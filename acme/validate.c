/* SPDX-License-Identifier: MIT */
/* Challenge validation off the HTTP threads: the worker pool and storing each result (RFC 8555 §7.1.6). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme/acme_int.h"

#define QUEUE_MAX 4096

typedef struct job {
	char authz[ACME_ID_LEN + 1];
	int idx;
} job_t;

/*
 * A challenge being validated is "processing" in memory only: the set busy holds
 * every queued or running job, the views show it, and the result is the one durable
 * write of the challenge (the status moves pending -> valid|invalid in the store).
 * That saves a commit per authorization; the price is that a kill -9 forgets the
 * validations under way (their challenges are pending again and may be answered
 * again), while a clean stop stores the queued ones as "processing" (pool_park) so
 * the next start validates them.
 */
struct acme_pool {
	acme_t *a;
	pthread_mutex_t lock;
	pthread_cond_t cond;     /* a job was queued, or stopping */
	job_t ring[QUEUE_MAX];
	size_t head, count;
	json_t *busy;            /* "AUTHZ/IDX" -> true: queued or running (under lock) */
	int stop;
	pthread_t *threads;
	int n_threads;
	/* Challenge answers parked until their validation ends or their wait runs out. */
	struct watcher *watchers;
	int closing;             /* no new watchers: the listeners are stopping */
	pthread_cond_t wake;     /* a watcher added (CLOCK_MONOTONIC deadlines), or stopping */
	pthread_t waker;
	int waker_started;
};

typedef struct watcher {
	char key[ACME_ID_LEN + 16]; /* job_key */
	uint64_t deadline;          /* time_mono_ms */
	http_later_t *later;
	struct watcher *next;
} watcher_t;

static void job_key(const char *authz_id, int idx, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%d", authz_id, idx);
}

int acme_pool_queue(acme_pool_t *p, const char *authz_id, int idx)
{
	char key[ACME_ID_LEN + 16];
	int rc = 0;

	job_key(authz_id, idx, key, sizeof(key));
	pthread_mutex_lock(&p->lock);
	if (json_object_get(p->busy, key) != NULL) {
		rc = CAIRN_EEXIST;
	} else if (p->count == QUEUE_MAX || p->stop) {
		rc = CAIRN_ETOOBIG;
	} else if (json_object_set_new(p->busy, key, json_true()) != 0) {
		rc = CAIRN_ENOMEM;
	} else {
		job_t *j = &p->ring[(p->head + p->count) % QUEUE_MAX];
		snprintf(j->authz, sizeof(j->authz), "%s", authz_id);
		j->idx = idx;
		p->count++;
		pthread_cond_signal(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int acme_pool_watch(acme_pool_t *p, const char *authz_id, int idx, int ms, http_later_t *later)
{
	watcher_t *w;
	int rc = 0;

	if (p == NULL)
		return CAIRN_ENOENT;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return CAIRN_ENOMEM;
	job_key(authz_id, idx, w->key, sizeof(w->key));
	w->deadline = time_mono_ms() + (uint64_t)(ms > 0 ? ms : 0);
	w->later = later;
	pthread_mutex_lock(&p->lock);
	if (p->closing || p->stop || json_object_get(p->busy, w->key) == NULL) {
		rc = CAIRN_ENOENT;
	} else {
		w->next = p->watchers;
		p->watchers = w;
		pthread_cond_signal(&p->wake);
	}
	pthread_mutex_unlock(&p->lock);
	if (rc != 0)
		free(w);
	return rc;
}

/* Takes (under p->lock) the watchers of key, or every one past now, or all (key NULL,
 * now 0): the caller fires them after unlocking. */
static watcher_t *take_watchers(acme_pool_t *p, const char *key, uint64_t now)
{
	watcher_t **pp = &p->watchers, *w, *taken = NULL;

	while ((w = *pp) != NULL) {
		if (key != NULL ? strcmp(w->key, key) == 0 : now == 0 || w->deadline <= now) {
			*pp = w->next;
			w->next = taken;
			taken = w;
		} else {
			pp = &w->next;
		}
	}
	return taken;
}

static void fire_watchers(watcher_t *w)
{
	watcher_t *next;

	for (; w != NULL; w = next) {
		next = w->next;
		http_later_fire(w->later);
		free(w);
	}
}

/* Fires each parked answer whose wait ran out (its answer then says processing). */
static void *waker(void *arg)
{
	acme_pool_t *p = arg;
	watcher_t *due, *w;
	uint64_t first;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		due = take_watchers(p, NULL, time_mono_ms());
		if (due != NULL) {
			pthread_mutex_unlock(&p->lock);
			fire_watchers(due);
			pthread_mutex_lock(&p->lock);
			continue;
		}
		if (p->watchers == NULL) {
			pthread_cond_wait(&p->wake, &p->lock);
			continue;
		}
		for (first = UINT64_MAX, w = p->watchers; w != NULL; w = w->next)
			if (w->deadline < first)
				first = w->deadline;
		(void)time_mono_wait(&p->wake, &p->lock, first);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

void acme_pool_release(acme_pool_t *p)
{
	watcher_t *all;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->closing = 1;
	all = take_watchers(p, NULL, 0);
	pthread_mutex_unlock(&p->lock);
	fire_watchers(all);
}

int acme_pool_busy(acme_pool_t *p, const char *authz_id, int idx)
{
	char key[ACME_ID_LEN + 16];
	int busy;

	if (p == NULL)
		return 0;
	job_key(authz_id, idx, key, sizeof(key));
	pthread_mutex_lock(&p->lock);
	busy = json_object_get(p->busy, key) != NULL;
	pthread_mutex_unlock(&p->lock);
	return busy;
}

/* ---- results ---- */

/* f/ACCT/NAME/: the account's failed validations of NAME, one entry each
 * (f/ACCT/NAME/TIME AUTHZ, TIME as 16 hex digits), kept an hour. */
static void failures_prefix(char *out, size_t cap, const char *acct, const char *name)
{
	snprintf(out, cap, "f/%s/%s/", acct, name);
}

typedef struct result_op {
	int idx;
	const json_t *error;  /* NULL = valid (borrowed) */
	int failed;           /* a validation was tried and failed: recorded under f/ */
	int64_t now;
} result_op_t;

/* At most this many entries that left the hour are deleted by each failure recorded. */
#define FAILURES_SWEEP 64

typedef struct failures_old {
	const char *prefix;
	size_t plen;
	int64_t before;  /* entries with times up to this are old */
	size_t n;
	char keys[FAILURES_SWEEP][400];
} failures_old_t;

static int failure_old(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	failures_old_t *o = arg;
	int64_t t = acme_key_time(key, klen, o->prefix, o->plen);
	(void)val;
	(void)vlen;

	if (t < 0 || klen >= sizeof(o->keys[0]))
		return 1;
	if (t > o->before)
		return 1; /* in time order: the rest are of the hour */
	memcpy(o->keys[o->n], key, klen);
	o->keys[o->n][klen] = '\0';
	return ++o->n == FAILURES_SWEEP ? 1 : 0;
}

/* Records a failed validation of the authorization's name under f/ACCT/NAME/ and deletes
 * that name's entries that left the hour (nothing else deletes them). */
static int failure_record(db_txn_t *txn, const char *acct, const json_t *z, int64_t now)
{
	const char *name = json_string_value(json_object_get(json_object_get(z, "identifier"),
							     "value"));
	char prefix[300], key[400];
	failures_old_t *o;
	size_t i;
	int rc;

	if (name == NULL)
		return 0;
	failures_prefix(prefix, sizeof(prefix), acct, name);
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return CAIRN_ENOMEM;
	o->prefix = prefix;
	o->plen = strlen(prefix);
	o->before = now - 3600;
	rc = db_iterate(txn, DB_ACME, prefix, o->plen, failure_old, o);
	for (i = 0; rc >= 0 && i < o->n; i++)
		if ((rc = db_del(txn, DB_ACME, o->keys[i], strlen(o->keys[i]))) == CAIRN_ENOENT)
			rc = 0;
	free(o);
	if (rc < 0)
		return rc;
	snprintf(key, sizeof(key), "%s%016llx%s", prefix, (unsigned long long)now,
		 json_string_value(json_object_get(z, "id")));
	return acme_txn_put_str(txn, key, "");
}

/* Runs in the write transaction on the stored authorization, read afresh there: a
 * deactivation (or expiry) that won the race keeps the authorization where it is. */
static int result_run(db_txn_t *txn, json_t *z, void *arg, cairn_err_t *err)
{
	result_op_t *op = arg;
	json_t *c = json_array_get(json_object_get(z, "challs"), (size_t)op->idx);
	json_t *ident = json_object_get(z, "identifier");
	const char *to = op->error == NULL ? "valid" : "invalid";
	const char *acct = json_string_value(json_object_get(z, "acct"));
	char key[400];
	int rc;
	(void)err;

	if (c == NULL || acct == NULL || !acme_chall_may_move(c, to))
		return 0;
	if (op->failed && (rc = failure_record(txn, acct, z, op->now)) != 0)
		return rc;
	snprintf(key, sizeof(key), "p/%s/%s", acct, json_string_value(json_object_get(z, "id")));
	if (db_del(txn, DB_ACME, key, strlen(key)) == CAIRN_EDB)
		return CAIRN_EDB;
	if (!acme_authz_may_move(z, to)) {
		char detail[160];

		snprintf(detail, sizeof(detail),
			 "the authorization is %s: the result of this validation was discarded",
			 acme_authz_status(z));
		json_object_set_new(c, "status", json_string("invalid"));
		json_object_set_new(c, "error", acme_problem_obj("unauthorized", detail, ident));
		return 0;
	}
	json_object_set_new(c, "status", json_string(to));
	json_object_set_new(z, "status", json_string(to));
	if (op->error != NULL) {
		json_object_set(c, "error", (json_t *)op->error);
		return 0;
	}
	json_object_set_new(c, "validated", json_integer((json_int_t)time(NULL)));
	/* Remember it for reuse by later orders of the same account. */
	snprintf(key, sizeof(key), "v/%s/%s:%s%s", acct,
		 json_string_value(json_object_get(ident, "type")),
		 json_string_value(json_object_get(ident, "value")),
		 json_is_true(json_object_get(z, "wildcard")) ? "*" : "");
	return acme_txn_put_str(txn, key, json_string_value(json_object_get(z, "id")));
}

int acme_chall_result(acme_t *a, const char *authz_id, int idx, const json_t *error,
		      int failed)
{
	result_op_t op = { idx, error, failed, (int64_t)time(NULL) };
	char key[64];

	snprintf(key, sizeof(key), "z/%s", authz_id);
	return acme_update(a, key, result_run, &op, NULL, NULL);
}

/* 1 when the account failed acme.rate_limits.failed_validations_per_hour validations of
 * name in the last hour. Counted from the database, so a restart keeps the count. Per
 * account: counted per name alone, one account failing on purpose would lock every other
 * account out of validating that name. */
static int failed_over_limit(acme_t *a, const char *acct, const char *name)
{
	char prefix[300];
	db_txn_t *txn;
	int64_t first;
	long n;

	if (a->failed_per_hour <= 0 || db_read_begin(a->db, &txn) != 0)
		return 0;
	failures_prefix(prefix, sizeof(prefix), acct, name);
	n = acme_hour_count(txn, prefix, (int64_t)time(NULL), a->failed_per_hour, &first);
	db_txn_end(txn);
	return n >= a->failed_per_hour;
}

static void validate_one(acme_t *a, const job_t *job)
{
	json_t *z = NULL, *acct = NULL, *c, *ident, *error = NULL;
	char key[64], keyauth[300], why[512] = "", acct_url[400];
	const char *type = "serverInternal", *ctype, *name = NULL, *token, *thumb, *acct_id = NULL;
	int rc = CAIRN_EINVAL, wildcard;

	snprintf(key, sizeof(key), "z/%s", job->authz);
	if (acme_get(a, key, &z) != 0)
		return;
	c = json_array_get(json_object_get(z, "challs"), (size_t)job->idx);
	ident = json_object_get(z, "identifier");
	acct_id = json_string_value(json_object_get(z, "acct"));
	snprintf(key, sizeof(key), "a/%s", acct_id);
	if (c == NULL || acme_get(a, key, &acct) != 0)
		goto out;
	ctype = json_string_value(json_object_get(c, "type"));
	token = json_string_value(json_object_get(c, "token"));
	name = json_string_value(json_object_get(ident, "value"));
	thumb = json_string_value(json_object_get(acct, "thumb"));
	wildcard = json_is_true(json_object_get(z, "wildcard"));
	snprintf(keyauth, sizeof(keyauth), "%s.%s", token, thumb);
	snprintf(acct_url, sizeof(acct_url), "%sacct/%s", a->base, acct_id);
	if (!acme_authz_may_move(z, "valid")) {
		/* Deactivated or expired while queued: nothing to fetch (result_run says why). */
		snprintf(why, sizeof(why), "the authorization is %s", acme_authz_status(z));
		name = NULL;
	} else if (failed_over_limit(a, acct_id, name)) {
		type = "rateLimited";
		snprintf(why, sizeof(why),
			 "too many failed validations for %s by this account in the last hour",
			 name);
		rc = CAIRN_EDENIED;
	} else if (strcmp(json_string_value(json_object_get(ident, "type")), "dns") == 0 &&
		   (rc = acme_caa_check(a, &a->v, name, wildcard, acct_url, ctype, why,
					 sizeof(why))) != 0) {
		type = rc == CAIRN_EDENIED ? "caa" : "dns";
	} else if (strcmp(ctype, "http-01") == 0) {
		rc = acme_validate_http01(&a->v, name, token, keyauth, &type, why, sizeof(why));
	} else if (strcmp(ctype, "dns-01") == 0) {
		rc = acme_validate_dns01(&a->v, name, keyauth, &type, why, sizeof(why));
	} else if (strcmp(ctype, "tls-alpn-01") == 0) {
		rc = acme_validate_tlsalpn01(&a->v, name, keyauth, &type, why, sizeof(why));
	}
out:
	if (rc != 0) {
		error = acme_problem_obj(type, why[0] ? why : "validation failed", ident);
		log_info("acme", "challenge %s/%d for %s: %s", job->authz, job->idx,
			 name ? name : "?", why);
	}
	/* A validation that was tried and failed counts against the hour's limit. */
	if (acme_chall_result(a, job->authz, job->idx, error,
			      rc != 0 && name != NULL && strcmp(type, "rateLimited") != 0) != 0)
		log_error("acme", "storing the result of challenge %s/%d failed", job->authz,
			  job->idx);
	json_decref(error);
	json_decref(z);
	json_decref(acct);
}

static void *worker(void *arg)
{
	acme_pool_t *p = arg;
	job_t job;

	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (p->count == 0 && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->count == 0 && p->stop) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		job = p->ring[p->head];
		p->head = (p->head + 1) % QUEUE_MAX;
		p->count--;
		pthread_mutex_unlock(&p->lock);
		validate_one(p->a, &job);
		{
			char key[ACME_ID_LEN + 16];
			watcher_t *done;

			job_key(job.authz, job.idx, key, sizeof(key));
			pthread_mutex_lock(&p->lock);
			json_object_del(p->busy, key);
			done = take_watchers(p, key, 0);
			pthread_mutex_unlock(&p->lock);
			fire_watchers(done); /* their answers show the stored result */
		}
	}
}

/* Jobs still queued at a clean stop, stored as "processing" (one write) so that
 * acme_pool_start validates them again. */
typedef struct park_op {
	acme_t *a;
	const job_t *jobs;
	size_t n;
} park_op_t;

static int park_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	park_op_t *op = arg;
	char key[64];
	size_t i;
	int rc;
	(void)err;

	for (i = 0; i < op->n; i++) {
		json_t *z = NULL, *c;

		snprintf(key, sizeof(key), "z/%s", op->jobs[i].authz);
		if (acme_txn_get(op->a, txn, key, &z) != 0)
			continue;
		c = json_array_get(json_object_get(z, "challs"), (size_t)op->jobs[i].idx);
		rc = 0;
		if (c != NULL && acme_authz_may_move(z, "valid") &&
		    acme_chall_may_move(c, "processing")) {
			json_object_set_new(c, "status", json_string("processing"));
			rc = acme_txn_put(op->a, txn, key, z);
		}
		json_decref(z);
		if (rc)
			return rc;
	}
	return 0;
}

static void pool_park(acme_pool_t *p, const job_t *jobs, size_t n)
{
	park_op_t op = { p->a, jobs, n };
	cairn_err_t err = { 0 };

	if (n > 0 && db_write(p->a->db, park_run, &op, &err) != 0)
		log_warn("acme", "%zu queued validations not kept for the next start: %s", n,
			 cairn_err_msg(&err));
}

/* Challenges left "processing" by a stopped daemon are validated again. */
static int requeue_one(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	acme_pool_t *p = arg;
	json_t *z, *c;
	size_t i;

	if (klen < 2 || memcmp(key, "z/", 2) != 0)
		return 1;
	if (vlen < 20 || memmem(val, vlen, "\"processing\"", 12) == NULL)
		return 0;
	z = json_loadb(val, vlen, 0, NULL);
	json_array_foreach(json_object_get(z, "challs"), i, c) {
		if (strcmp(json_string_value(json_object_get(c, "status")), "processing") == 0)
			acme_pool_queue(p, json_string_value(json_object_get(z, "id")), (int)i);
	}
	json_decref(z);
	return 0;
}

int acme_pool_start(acme_t *a, int threads, acme_pool_t **out)
{
	acme_pool_t *p = calloc(1, sizeof(*p));
	db_txn_t *txn;
	int i;

	if (p == NULL)
		return CAIRN_ENOMEM;
	p->a = a;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	time_mono_cond_init(&p->wake);
	p->threads = calloc((size_t)threads, sizeof(pthread_t));
	p->busy = json_object();
	if (p->threads == NULL || p->busy == NULL) {
		free(p->threads);
		json_decref(p->busy);
		free(p);
		return CAIRN_ENOMEM;
	}
	if (db_read_begin(a->db, &txn) == 0) {
		db_iterate(txn, DB_ACME, "z/", 2, requeue_one, p);
		db_txn_end(txn);
	}
	for (i = 0; i < threads; i++) {
		if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
			break;
		p->n_threads++;
	}
	if (p->n_threads == 0 || pthread_create(&p->waker, NULL, waker, p) != 0) {
		acme_pool_stop(p);
		return CAIRN_ENOMEM;
	}
	p->waker_started = 1;
	*out = p;
	return 0;
}

void acme_pool_stop(acme_pool_t *p)
{
	job_t *left = NULL;
	size_t n = 0, i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	/* Queued work is parked in the store as "processing": validated at the next start. */
	if (p->count > 0 && (left = calloc(p->count, sizeof(*left))) != NULL)
		for (n = 0; n < p->count; n++)
			left[n] = p->ring[(p->head + n) % QUEUE_MAX];
	p->count = 0;
	pthread_cond_broadcast(&p->cond);
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < (size_t)p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	if (p->waker_started)
		pthread_join(p->waker, NULL);
	acme_pool_release(p); /* none should be left: the listeners stopped first */
	pool_park(p, left, n);
	free(left);
	json_decref(p->busy);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	pthread_cond_destroy(&p->wake);
	free(p->threads);
	free(p);
}
