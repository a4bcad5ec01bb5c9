/* SPDX-License-Identifier: MIT */
/* A job on a thread of its own, run at once and then at the wall-clock time each run asks
 * for: the loop of the daemon's housekeeping (ACME retention, request expiry). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "util/util.h"

struct util_periodic {
	util_periodic_fn fn;
	void *arg;
	int64_t every;         /* the longest wait: a next run set before the clock went back */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t wake;   /* stopping (time_mono_cond_init) */
	atomic_int stop;
};

static void *periodic_main(void *arg)
{
	util_periodic_t *p = arg;
	int64_t next = 0, now;

	pthread_mutex_lock(&p->mu);
	while (!atomic_load(&p->stop)) {
		now = (int64_t)time(NULL);
		if (now < (next = time_next_within(next, now, p->every))) {
			time_wait_until(&p->wake, &p->mu, next);
			continue;
		}
		pthread_mutex_unlock(&p->mu);
		next = p->fn(p->arg, now);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int util_periodic_start(util_periodic_fn fn, void *arg, int64_t every, util_periodic_t **out)
{
	util_periodic_t *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (p == NULL)
		return CAIRN_ENOMEM;
	p->fn = fn;
	p->arg = arg;
	p->every = every;
	pthread_mutex_init(&p->mu, NULL);
	time_mono_cond_init(&p->wake);
	*out = p; /* before the thread: its first run may ask util_periodic_stopping */
	if (pthread_create(&p->thread, NULL, periodic_main, p) != 0) {
		*out = NULL;
		pthread_cond_destroy(&p->wake);
		pthread_mutex_destroy(&p->mu);
		free(p);
		return CAIRN_ENOMEM;
	}
	return 0;
}

int util_periodic_stopping(const util_periodic_t *p)
{
	return p != NULL && atomic_load(&p->stop);
}

void util_periodic_stop(util_periodic_t *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->stop, 1);
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
