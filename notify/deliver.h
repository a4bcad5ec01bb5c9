/* SPDX-License-Identifier: MIT */
/* Internal to notify/: the worker's state shared by deliver.c and worker.c. */
#ifndef CAIRN_NOTIFY_DELIVER_H
#define CAIRN_NOTIFY_DELIVER_H

#include <pthread.h>

#include "notify/notify_int.h"

typedef struct notify_sink_state {
	notify_sink_t conf;
	char *secret;             /* the secret file's bytes (trailing newline cut) */
	size_t secret_len;
	/* written by the worker under notify_t.mu (notify_status reads them) */
	uint64_t cursor;          /* last event id passed (delivered, skipped or dead) */
	int tries;                /* failed tries of the event at the cursor + 1 */
	int64_t next_attempt_ms;  /* unix ms; 0 = now */
	uint64_t delivered, failed;
	char last_error[240];
} notify_sink_state_t;

struct notify {
	db_t *db;
	notify_settings_t set;
	notify_names_fn names;
	void *names_arg;
	notify_material_fn material;
	void *material_arg;
	notify_sink_state_t sinks[NOTIFY_MAX_SINKS];
	size_t n_sinks;
	char *smtp_password;      /* notify.smtp.password_file's bytes, or NULL */
	uint64_t gc_done;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop, kicked, running;
	pthread_t thread;
};

/* 1 once notify_free began (read from the worker without the lock). */
static inline int notify_stopping(notify_t *n)
{
	return __atomic_load_n(&n->stop, __ATOMIC_RELAXED);
}

/* meta key of a sink's cursor. */
void notify_cursor_name(const char *sink, char *out, size_t cap);
/* Delivers what s may send now (retried dead letters first, then the outbox in order)
 * until caught up, a failure (backoff starts) or a round's limit. Worker thread only. */
void notify_deliver_sink(notify_t *n, notify_sink_state_t *s);
/* Deletes events every sink has passed (with no sink: all but the newest 10000). */
void notify_gc(notify_t *n);

#endif
