/* SPDX-License-Identifier: MIT */
/* Mass replacement in the background: at start-up (an interrupted marking goes on) and
 * then every replace.interval, each unfinished campaign revokes what has a successor and,
 * past its deadline, what has none (ca/replace.c), as "server:replace". */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "server/internal.h"

struct server_replace {
	server_t *s;
	int64_t every;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
};

static int stopping(void *arg)
{
	struct server_replace *r = arg;
	int stop;

	pthread_mutex_lock(&r->mu);
	stop = r->stop;
	pthread_mutex_unlock(&r->mu);
	return stop;
}

static void *replace_main(void *arg)
{
	struct server_replace *r = arg;
	int64_t next = 0;

	pthread_mutex_lock(&r->mu);
	while (!r->stop) {
		cairn_err_t err = { 0 };
		int64_t now = (int64_t)time(NULL);

		next = time_next_within(next, now, r->every);
		if (now < next) {
			time_wait_until(&r->cv, &r->mu, next);
			continue;
		}
		pthread_mutex_unlock(&r->mu);
		if (ca_replace_tick(r->s->ca, "server:replace", stopping, r, &err) != 0)
			log_warn("replace", "%s", cairn_err_msg(&err));
		pthread_mutex_lock(&r->mu);
		next = (int64_t)time(NULL) + r->every;
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

int server_replace_start(server_t *s, cairn_err_t *err)
{
	const char *iv = json_string_value(
		json_object_get(json_object_get(s->cfg->root, "replace"), "interval"));
	struct server_replace *r = calloc(1, sizeof(*r));

	s->replace = NULL;
	if (r == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	r->s = s;
	r->every = 300;
	if (iv != NULL && (duration_parse(iv, &r->every) != 0 || r->every < 1))
		r->every = 300;
	pthread_mutex_init(&r->mu, NULL);
	time_mono_cond_init(&r->cv); /* time_wait_until */
	if (pthread_create(&r->thread, NULL, replace_main, r) != 0) {
		pthread_mutex_destroy(&r->mu);
		pthread_cond_destroy(&r->cv);
		free(r);
		return cairn_err_set(err, CAIRN_ENOMEM, "cannot start the replacement thread");
	}
	s->replace = r;
	return 0;
}

void server_replace_stop(server_t *s)
{
	struct server_replace *r = s->replace;

	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL); /* a round under way stops after its batch */
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r);
	s->replace = NULL;
}
