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
	notify_recipients_fn recipients;
	void *recipients_arg;
	int (*also_scan)(db_t *db, const notify_settings_t *set, int64_t now, void *arg,
			 uint64_t *emitted, cairn_err_t *err);
	void *also_scan_arg;
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

/* ---- e-mail sinks (email.c) ---- */

/* Who an e-mail sink sends event to: its "to", then the owner and approvers when it asks
 * for them (deduplicated, each notify_address_ok). New array (maybe empty) or NULL. */
json_t *notify_email_recipients(notify_t *n, const notify_sink_t *s, const json_t *event);
/* One message for one event (subject "[cairn] TYPE SERIAL", the event pretty-printed,
 * Message-ID cairn-event-ID). Returns 0, CAIRN_EIO (why filled), CAIRN_ENOMEM. */
int notify_email_event(notify_t *n, const json_t *rcpt, uint64_t id, const char *type,
		       const char *body, char *why, size_t why_cap);
/* Inside txn: queues event id (body) for the daily digest of each address of rcpt, under
 * the event's own UTC day. Returns 0 or a db code. */
int notify_digest_queue(db_txn_t *txn, const char *sink, const json_t *rcpt, uint64_t id,
			const char *body) CAIRN_WUR;
/* Sends the oldest (day, address) digest of s whose day is before now's (UTC), then
 * deletes it from the queue; *sent = 1 when one went. Returns 0 (also with nothing to
 * send), CAIRN_EIO with why filled, CAIRN_ENOMEM, a db code. Worker thread only. */
int notify_digest_flush(notify_t *n, notify_sink_state_t *s, int64_t now, int *sent, char *why,
			size_t why_cap);

#endif
