/* SPDX-License-Identifier: MIT */
/* A reply finished later: the handshake between a handler that waits for an event and the
 * listener that parks the connection meanwhile (no worker thread is held). */
#include <pthread.h>
#include <stdlib.h>

#include "util/util.h"

struct http_later {
	pthread_mutex_t lock;
	int refs;          /* the listener's and the firer's */
	int fired, parked;
	http_later_fn finish;
	void *arg;
	void (*drop)(void *arg);
	void (*resume)(void *conn);
	void *conn;
};

http_later_t *http_later_new(http_later_fn finish, void *arg, void (*drop)(void *arg))
{
	http_later_t *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	pthread_mutex_init(&l->lock, NULL);
	l->refs = 2;
	l->finish = finish;
	l->arg = arg;
	l->drop = drop;
	return l;
}

static void release(http_later_t *l)
{
	int last;

	pthread_mutex_lock(&l->lock);
	last = --l->refs == 0;
	pthread_mutex_unlock(&l->lock);
	if (!last)
		return;
	if (l->drop != NULL)
		l->drop(l->arg);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

void http_later_fire(http_later_t *l)
{
	if (l == NULL)
		return;
	pthread_mutex_lock(&l->lock);
	if (!l->fired) {
		l->fired = 1;
		if (l->parked)
			l->resume(l->conn);
	}
	pthread_mutex_unlock(&l->lock);
	release(l);
}

int http_later_park(http_later_t *l, void (*suspend)(void *conn), void (*resume)(void *conn),
		    void *conn)
{
	int parked = 0;

	pthread_mutex_lock(&l->lock);
	if (!l->fired) {
		suspend(conn); /* before a fire can resume it: both under the lock */
		l->resume = resume;
		l->conn = conn;
		l->parked = parked = 1;
	}
	pthread_mutex_unlock(&l->lock);
	return parked;
}

void http_later_finish(http_later_t *l, http_reply_t *r)
{
	l->finish(l->arg, r);
	release(l);
}

void http_later_abandon(http_later_t *l)
{
	release(l);
}
