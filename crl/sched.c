/* SPDX-License-Identifier: MIT */
/* The CRL scheduler thread: debounced rebuilds after revocations, periodic ones before nextUpdate, the deferred first builds. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crl/crl_int.h"

static void mark_dirty(struct crl_slot *slot, int64_t now)
{
	if (!slot->dirty) {
		slot->dirty = 1;
		slot->dirty_at = now;
	}
}

void crl_changed(const char *issuer, const uint8_t *serial, size_t len, void *arg)
{
	crl_t *c = arg;
	struct crl_iss *is = crl_find_issuer(c, issuer);
	int64_t now = (int64_t)time(NULL);
	int shard;

	if (is == NULL)
		return;
	/* With deltas, a revocation reaches relying parties through the next delta;
	 * the full CRL keeps its period. */
	pthread_mutex_lock(&c->mu);
	mark_dirty(c->delta_period > 0 ? &is->delta : &is->full, now);
	/* Of the shards, only the one the serial names (certificates from before
	 * sharding name none: the full CRL covers them). */
	if ((shard = util_serial_shard(serial, len, NULL)) >= 0 && (unsigned)shard < is->n_shards)
		mark_dirty(&is->shards[shard], now);
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* How long before the served CRL's nextUpdate it is rebuilt at the latest: a tenth
 * of its validity, between one minute and one hour, but never more than half of it (a
 * CRL valid for a minute would otherwise be due the moment it is built, and be rebuilt
 * without pause). */
static int64_t safety_margin(const struct crl_slot *slot)
{
	int64_t validity = slot->next_update - slot->this_update;
	int64_t m = validity / 10;

	m = m < 60 ? 60 : m > 3600 ? 3600 : m;
	return m > validity / 2 ? validity / 2 : m;
}

/*
 * When a slot is due: its scheduled rebuild (thisUpdate + period), or earlier the
 * debounced one after revocations — but never later than the served CRL's own
 * nextUpdate minus the safety margin, whatever the period says now (a restart with a
 * longer crl.period adopts a CRL built under the shorter one), and at once when the
 * clock went back behind the served thisUpdate. A failed build waits for retry_at.
 */
static int64_t due(const struct crl_slot *slot, int64_t period, int64_t debounce, int64_t now)
{
	int64_t t = slot->this_update + period;

	if (slot->next_update > slot->this_update && slot->next_update - safety_margin(slot) < t)
		t = slot->next_update - safety_margin(slot);
	if (slot->dirty && slot->dirty_at + debounce < t)
		t = slot->dirty_at + debounce;
	if (slot->der != NULL && time_ahead(slot->this_update, now))
		t = now;
	return t < slot->retry_at ? slot->retry_at : t;
}

/* Folds slot into the scheduler's pass: *next = the earliest due time, *first = the
 * first slot due now. c->mu held. */
static void consider(struct crl_slot *slot, int64_t period, const crl_t *c, int64_t now,
		     int64_t *next, struct crl_slot **first)
{
	int64_t d = due(slot, period, c->debounce, now);

	if (d <= now && *first == NULL)
		*first = slot;
	if (d < *next)
		*next = d;
}

/* The slots of is due now that one walk can build with first (an issuer's due slot):
 * its full CRL or delta and its due shards. The delta of a full CRL in the same set
 * follows it (its base is that new full CRL). At most 2 + n_shards into out. c->mu held. */
static size_t due_set(const crl_t *c, struct crl_iss *is, struct crl_slot *first, int64_t now,
		      struct crl_slot **out)
{
	size_t n = 0;
	unsigned s;
	int full = due(&is->full, c->period, c->debounce, now) <= now;

	if (full)
		out[n++] = &is->full;
	else if (c->delta_period > 0 && due(&is->delta, c->delta_period, c->debounce, now) <= now)
		out[n++] = &is->delta;
	for (s = 0; s < is->n_shards; s++)
		if (due(&is->shards[s], c->period, c->debounce, now) <= now)
			out[n++] = &is->shards[s];
	if (n == 0)
		out[n++] = first;
	return n;
}

/* A deferred start's first builds, issuer by issuer, in the scheduler thread. A failed one
 * leaves its CRLs without one: the scheduler's loop retries them (due at once, then a
 * minute apart). */
static void first_builds(crl_t *c)
{
	size_t i, n = atomic_load(&c->n_iss); /* crl_add_issuer builds later ones itself */
	struct timespec t0, t1;
	cairn_err_t err;

	for (i = 0; i < n; i++) {
		pthread_mutex_lock(&c->mu);
		if (c->stopping) {
			pthread_mutex_unlock(&c->mu);
			return;
		}
		pthread_mutex_unlock(&c->mu);
		memset(&err, 0, sizeof(err));
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (crl_first_build(c, &c->iss[i], 1, &err) != 0) {
			log_error("crl", "first CRLs of %s: %s (retried by the scheduler)",
				  c->iss[i].name, cairn_err_msg(&err));
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		log_info("crl", "built the first CRLs of %s since the start (%ld ms)", c->iss[i].name,
			 (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
	}
}

/* What a crash left beside the CRL files (crl.publish_dir) and in their tree (crl.publish,
 * when it is not ocsp.publish's, which ocsp/prune.c walks too): the temporaries of dead
 * processes, nothing else (util/pubtree.c). Before the scheduler writes anything; a few
 * entries per issuer, so it holds nothing up. */
static void prune_strays(const crl_t *c)
{
	const char *dirs[2] = { c->publish_dir, c->tree_dir };
	cairn_err_t err;
	uint64_t n;
	int i;

	for (i = 0; i < 2; i++) {
		if (dirs[i] == NULL)
			continue;
		memset(&err, 0, sizeof(err));
		if (pubtree_prune(dirs[i], i == 0 ? PUBTREE_CRL_DIR : PUBTREE_TREE, NULL, NULL, &n,
				  &err) != 0)
			log_warn("crl", "%s", cairn_err_msg(&err));
		else if (n > 0 || i == 1)
			log_info("crl", "%s: %lu stray temporaries removed", dirs[i], (unsigned long)n);
	}
}

static void *sched_main(void *arg)
{
	crl_t *c = arg;
	cairn_err_t err;
	size_t i;

	prune_strays(c);
	if (c->deferred)
		first_builds(c);
	pthread_mutex_lock(&c->mu);
	while (!c->stopping) {
		int64_t now = (int64_t)time(NULL), next = INT64_MAX;
		struct crl_slot *next_slot = NULL, *set[2 + UTIL_SHARDS_MAX];
		struct crl_iss *next_is = NULL;
		char name[80] = "";
		size_t n;

		for (i = 0; i < c->n_iss; i++) {
			struct crl_iss *is = &c->iss[i];
			unsigned s;
			struct crl_slot *was = next_slot;

			consider(&is->full, c->period, c, now, &next, &next_slot);
			if (c->delta_period > 0)
				consider(&is->delta, c->delta_period, c, now, &next, &next_slot);
			for (s = 0; s < is->n_shards; s++)
				consider(&is->shards[s], c->period, c, now, &next, &next_slot);
			if (next_slot != was)
				next_is = is;
		}
		if (next_slot == NULL) {
			time_wait_until(&c->cv, &c->mu, next);
			continue;
		}
		/* Everything of that issuer due now, in one walk of its revoked index. */
		n = due_set(c, next_is, next_slot, now, set);
		if (n == 1)
			snprintf(name, sizeof(name), "the %s CRL", set[0]->name);
		else
			snprintf(name, sizeof(name), "%zu CRLs of %s (one walk)", n, next_is->name);
		pthread_mutex_unlock(&c->mu);
		memset(&err, 0, sizeof(err));
		if (crl_rebuild_slots(c, next_is, set, n, &err) != 0) {
			/* crl_rebuild_slots made the failed ones due again in a minute. */
			log_error("crl", "rebuilding %s: %s", name, cairn_err_msg(&err));
			pthread_mutex_lock(&c->mu);
			continue;
		}
		log_info("crl", "published %s", name);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int crl_start(crl_t *c, cairn_err_t *err)
{
	int rc = pthread_create(&c->thread, NULL, sched_main, c);

	if (rc != 0)
		return cairn_err_set(err, CAIRN_EIO, "crl: cannot start the scheduler: %s", strerror(rc));
	c->started = 1;
	return 0;
}
