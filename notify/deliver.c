/* SPDX-License-Identifier: MIT */
/* The delivery worker: per sink, events in outbox order; the cursor moves only after a 2xx. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "notify/deliver.h"
#include "notify/smtp.h"
#include "notify/webhook.h"

/* Events kept when no sink is configured (nobody to deliver them to). */
#define NOTIFY_KEEP_UNSENT 10000
#define GC_BATCH 1000
#define ROUND_MAX 200
/* A sink's turn ends once it has used this long (after one attempt at least): a receiver
 * that answers each POST slowly, within notify.timeout_ms, then takes its own turns, not
 * the other sinks' (200 events at 10 s each held every other sink for 33 minutes). */
#define TURN_MS 1000

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void notify_cursor_name(const char *sink, char *out, size_t cap)
{
	snprintf(out, cap, "notify_cursor_%s", sink);
}

/* Delay before try number tries+1: backoff * 2^(tries-1), capped, times 0.5..1 (jitter). */
static int64_t backoff(const notify_settings_t *set, int tries)
{
	int64_t d = set->backoff_ms;
	unsigned char r = 0;

	while (--tries > 0 && d < set->backoff_max_ms)
		d *= 2;
	if (d > set->backoff_max_ms)
		d = set->backoff_max_ms;
	if (RAND_bytes(&r, 1) != 1)
		r = 128;
	return d / 2 + (d / 2) * r / 255;
}

/* 1 when the turn that began at start (time_mono_ms) is over; the worker then comes
 * back at once, after the other sinks' turns, instead of waiting poll_ms. */
static int turn_over(notify_t *n, uint64_t start)
{
	if (time_mono_ms() - start < TURN_MS)
		return 0;
	pthread_mutex_lock(&n->mu);
	n->kicked = 1;
	pthread_mutex_unlock(&n->mu);
	return 1;
}

/* ---- what the writer does after an attempt ---- */
struct after_op {
	notify_sink_state_t *s;
	uint64_t id;            /* the event tried (0: only the cursor moves) */
	const char *type;
	uint64_t cursor;        /* new cursor, 0 = unchanged */
	int ok;
	int tries;
	int dead;               /* dead-letter it */
	int from_dead;          /* a retried dead letter: delete (ok) or keep (failed) */
	int gone;               /* from_dead: only its mark was left (nothing tried) */
	int64_t dead_max;       /* notify.dead_letters_max */
	uint64_t dropped;       /* out: the oldest dead letters dropped past dead_max */
	const char *error;
	const char *body;
	long status;
	const char *result;      /* the log's result when not delivered/dead/failed */
	const json_t *digest;    /* digest sink: the recipients to queue the event for */
};

static int log_entry(db_txn_t *txn, const struct after_op *a)
{
	char name[96], when[32];
	uint8_t key[96];
	uint64_t n;
	size_t klen;
	json_t *e;
	char *text;
	int rc;

	snprintf(name, sizeof(name), "notify_logseq_%s", a->s->conf.name);
	n = notify_meta_u64(txn, name) + 1;
	time_rfc3339(time(NULL), when, sizeof(when));
	e = json_pack("{s:I, s:s, s:s, s:s, s:i, s:I, s:s}", "id", (json_int_t)a->id, "type",
		      a->type ? a->type : "", "time", when, "result",
		      a->result ? a->result : a->ok ? "delivered" : a->dead ? "dead" : "failed",
		      "try", a->tries, "http",
		      (json_int_t)a->status, "error", a->error ? a->error : "");
	text = e ? json_dumps(e, JSON_COMPACT) : NULL;
	json_decref(e);
	klen = notify_sink_key(NOTIFY_KEY_LOG, a->s->conf.name, n, key, sizeof(key));
	if (text == NULL || klen == 0) {
		free(text);
		return CAIRN_ENOMEM;
	}
	rc = db_put(txn, DB_OUTBOX, key, klen, text, strlen(text), 0);
	free(text);
	if (rc == 0 && n > NOTIFY_LOG_KEEP) {
		notify_sink_key(NOTIFY_KEY_LOG, a->s->conf.name, n - NOTIFY_LOG_KEEP, key, sizeof(key));
		rc = db_del(txn, DB_OUTBOX, key, klen);
		rc = rc == CAIRN_ENOENT ? 0 : rc;
	}
	return rc ? rc : notify_meta_put_u64(txn, name, n);
}

/* Stores a's event as a dead letter of its sink (retry cleared): counted, capped. */
static int dead_put(db_txn_t *txn, struct after_op *a)
{
	char when[32], *text;
	json_t *d;
	int rc;

	time_rfc3339(time(NULL), when, sizeof(when));
	d = json_pack("{s:s, s:I, s:s, s:i, s:s, s:s, s:b, s:s}", "sink", a->s->conf.name, "id",
		      (json_int_t)a->id, "type", a->type ? a->type : "", "tries", a->tries,
		      "error", a->error ? a->error : "", "time", when, "retry", 0, "event",
		      a->body);
	text = d ? json_dumps(d, JSON_COMPACT) : NULL;
	json_decref(d);
	if (text == NULL)
		return CAIRN_ENOMEM;
	rc = notify_dead_put(txn, a->s->conf.name, a->id, text, (uint64_t)a->dead_max, &a->dropped);
	free(text);
	return rc;
}

static int after_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct after_op *a = arg;
	char name[96];
	int rc = 0;

	a->dropped = 0; /* the writer may run this twice */
	if (a->cursor != 0) {
		notify_cursor_name(a->s->conf.name, name, sizeof(name));
		rc = notify_meta_put_u64(txn, name, a->cursor);
	}
	if (rc == 0 && a->digest != NULL)
		rc = notify_digest_queue(txn, a->s->conf.name, a->digest, a->id, a->body);
	if (rc == 0 && a->id != 0 && !a->gone)
		rc = log_entry(txn, a);
	/* a retried letter: delivered, it goes; failed, it stays dead, its mark cleared */
	if (rc == 0 && a->from_dead && (a->ok || a->gone))
		rc = notify_dead_del(txn, a->s->conf.name, a->id);
	else if (rc == 0 && (a->dead || a->from_dead))
		rc = dead_put(txn, a);
	if (rc == 0 && a->from_dead)
		rc = notify_dead_mark(txn, a->s->conf.name, a->id, 0);
	if (rc != 0)
		cairn_err_set(err, rc, "notify: recording delivery to %s: %s", a->s->conf.name,
			      cairn_strerror(rc));
	return rc;
}

static void record(notify_t *n, struct after_op *a)
{
	cairn_err_t err = { 0 };

	a->dead_max = n->set.dead_letters_max;
	if (db_write(n->db, after_run, a, &err) != 0)
		log_warn("notify", "%s", cairn_err_msg(&err));
	else if (a->dropped > 0)
		log_warn("notify", "%s: %llu oldest dead letter(s) dropped: the sink had more than "
			 "notify.dead_letters_max (%lld)", a->s->conf.name,
			 (unsigned long long)a->dropped, (long long)a->dead_max);
}

/* One POST (or message); updates the sink's counters. Returns 0 when delivered,
 * CAIRN_ENOENT when an e-mail sink has nobody to send this event to (nothing tried). */
static int attempt(notify_t *n, notify_sink_state_t *s, uint64_t id, const char *type,
		   const char *body, long *status, char *why, size_t why_cap)
{
	char idtext[24];
	json_t *ev = NULL, *rcpt = NULL;
	int rc;

	snprintf(idtext, sizeof(idtext), "%llu", (unsigned long long)id);
	if (s->conf.email) {
		ev = json_loads(body, 0, NULL);
		rcpt = ev ? notify_email_recipients(n, &s->conf, ev) : NULL;
		if (json_array_size(rcpt) == 0) {
			snprintf(why, why_cap, "no recipient");
			json_decref(rcpt);
			json_decref(ev);
			return CAIRN_ENOENT;
		}
		rc = notify_email_event(n, rcpt, id, type, body, why, why_cap);
		json_decref(rcpt);
		json_decref(ev);
	} else {
		rc = notify_webhook_post(s->conf.url, s->secret, s->secret_len, body, strlen(body),
					 idtext, (long)n->set.timeout_ms, &n->stop, status, why,
					 why_cap);
	}
	pthread_mutex_lock(&n->mu);
	if (rc == 0) {
		s->delivered++;
		s->last_error[0] = '\0';
	} else {
		s->failed++;
		snprintf(s->last_error, sizeof(s->last_error), "event %llu: %s",
			 (unsigned long long)id, why);
	}
	pthread_mutex_unlock(&n->mu);
	return rc;
}

/* A digest sink takes an event by queueing it for each recipient's digest (with the
 * cursor, in one write): a->ok with a->digest set, or the result "no recipient". */
static void queue_digest(notify_t *n, notify_sink_state_t *s, const char *body, json_t **rcpt,
			 struct after_op *a)
{
	json_t *ev = json_loads(body, 0, NULL);

	*rcpt = ev ? notify_email_recipients(n, &s->conf, ev) : NULL;
	json_decref(ev);
	a->ok = 1;
	a->result = json_array_size(*rcpt) > 0 ? "queued for digest" : "no recipient";
	a->digest = json_array_size(*rcpt) > 0 ? *rcpt : NULL;
}

/* Sends the digests of past days that s has queued, oldest first; a failure backs off. */
static void flush_digests(notify_t *n, notify_sink_state_t *s, uint64_t start)
{
	int guard, sent = 0, rc;
	char why[200];

	for (guard = 0; guard < ROUND_MAX && !notify_stopping(n) && !turn_over(n, start); guard++) {
		rc = notify_digest_flush(n, s, now_ms() / 1000, &sent, why, sizeof(why));
		pthread_mutex_lock(&n->mu);
		if (rc != 0) {
			s->failed++;
			s->tries++;
			snprintf(s->last_error, sizeof(s->last_error), "digest: %s", why);
			s->next_attempt_ms = now_ms() + backoff(&n->set, s->tries);
		} else if (sent) {
			s->delivered++;
			s->tries = 0;
			s->last_error[0] = '\0';
		}
		pthread_mutex_unlock(&n->mu);
		if (rc != 0)
			log_warn("notify", "%s: digest: %s", s->conf.name, why);
		if (rc != 0 || !sent)
			return;
	}
}

/* The next event for s after its cursor: body (malloc'd) and id; *skip_to is the last id
 * looked at (so events s does not take are passed over). Returns 1 found, 0 none. */
struct next_find {
	const notify_sink_t *sink;
	uint64_t id, last;
	char *body, type[32];
};

static int next_iter(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct next_find *f = arg;
	json_t *ev;
	const char *type;
	int want;

	if (klen != 9 || ((const uint8_t *)key)[0] != NOTIFY_KEY_EVENT)
		return 1;
	f->last = db_be64_get((const uint8_t *)key + 1);
	ev = json_loadb(val, vlen, 0, NULL);
	type = json_string_value(json_object_get(ev, "type"));
	want = notify_sink_wants(f->sink, ev);
	if (want) {
		f->id = f->last;
		snprintf(f->type, sizeof(f->type), "%s", type);
		f->body = strndup(val, vlen);
	}
	json_decref(ev);
	return want ? 1 : 0;
}

static int next_event(notify_t *n, notify_sink_state_t *s, struct next_find *f)
{
	db_txn_t *txn = NULL;
	uint8_t start[9];

	memset(f, 0, sizeof(*f));
	f->sink = &s->conf;
	if (db_read_begin(n->db, &txn) != 0)
		return 0;
	notify_event_key(s->cursor + 1, start);
	(void)db_iterate(txn, DB_OUTBOX, start, sizeof(start), next_iter, f);
	db_txn_end(txn);
	return f->body != NULL;
}

/* Dead letters of s marked for retry: one attempt each, the marked found by their own
 * keys (a sink's thousands of unmarked letters are never read here). */
struct retry_find {
	uint64_t id;
	char *event, type[32];
	int tries, gone;
};

static int retry_next(notify_t *n, notify_sink_state_t *s, struct retry_find *f)
{
	db_txn_t *txn = NULL;
	const void *val = NULL;
	size_t vlen = 0;
	json_t *d;
	int found;

	memset(f, 0, sizeof(*f));
	if (db_read_begin(n->db, &txn) != 0)
		return 0;
	found = notify_dead_next_retry(txn, s->conf.name, &f->id, &val, &vlen);
	d = found && val != NULL ? json_loadb(val, vlen, 0, NULL) : NULL;
	db_txn_end(txn);
	if (!found)
		return 0;
	f->gone = d == NULL; /* only the mark is left (or a letter that does not parse) */
	if (val != NULL && d == NULL)
		log_warn("notify", "%s: dead letter %llu does not parse: dropped on its retry",
			 s->conf.name, (unsigned long long)f->id);
	f->event = strdup(json_string_value(json_object_get(d, "event")) ?: "{}");
	snprintf(f->type, sizeof(f->type), "%s", json_string_value(json_object_get(d, "type")) ?: "");
	f->tries = (int)json_integer_value(json_object_get(d, "tries"));
	json_decref(d);
	return f->event != NULL;
}

static void deliver_retries(notify_t *n, notify_sink_state_t *s, uint64_t start)
{
	int guard;

	for (guard = 0; guard < ROUND_MAX && !notify_stopping(n) && !turn_over(n, start); guard++) {
		struct retry_find f;
		struct after_op a = { 0 };
		char why[200];
		long status = 0;
		int rc;

		if (!retry_next(n, s, &f))
			return;
		a.s = s;
		a.id = f.id;
		a.type = f.type;
		a.from_dead = 1;
		a.tries = f.tries + 1;
		a.body = f.event;
		if (f.gone) {
			a.gone = 1;
			record(n, &a);
			free(f.event);
			continue;
		}
		rc = attempt(n, s, f.id, f.type, f.event, &status, why, sizeof(why));
		a.ok = rc == 0 || rc == CAIRN_ENOENT;
		a.result = rc == CAIRN_ENOENT ? "no recipient" : NULL;
		a.status = status;
		a.error = a.ok ? NULL : why;
		record(n, &a);
		free(f.event);
		if (!a.ok)
			return;
	}
}

/* Takes the events after s's cursor (delivered, or queued for a digest sink), at most
 * ROUND_MAX of them in one turn. Returns 1 when s has caught up with the outbox, else 0
 * (more to take, the turn over, a failure backing off, or stopping). */
static int take_events(notify_t *n, notify_sink_state_t *s, uint64_t start)
{
	int guard;

	for (guard = 0; guard < ROUND_MAX && !notify_stopping(n) && !turn_over(n, start); guard++) {
		struct next_find f;
		struct after_op a = { 0 };
		json_t *rcpt = NULL;
		char why[200];
		long status = 0;
		int rc = 0;

		if (!next_event(n, s, &f)) {
			if (f.last > s->cursor) { /* only events s does not take: pass over them */
				a.s = s;
				a.cursor = f.last;
				record(n, &a);
				pthread_mutex_lock(&n->mu);
				s->cursor = f.last;
				pthread_mutex_unlock(&n->mu);
			}
			return 1;
		}
		a.s = s;
		a.id = f.id;
		a.type = f.type;
		a.body = f.body;
		if (s->conf.email && s->conf.digest) {
			queue_digest(n, s, f.body, &rcpt, &a);
		} else {
			rc = attempt(n, s, f.id, f.type, f.body, &status, why, sizeof(why));
			a.ok = rc == 0 || rc == CAIRN_ENOENT;
			a.result = rc == CAIRN_ENOENT ? "no recipient" : NULL;
		}
		a.status = status;
		pthread_mutex_lock(&n->mu);
		s->tries = a.ok ? 0 : s->tries + 1;
		a.tries = a.ok ? 1 : s->tries;
		if (!a.ok && s->tries >= (s->conf.max_tries ? s->conf.max_tries : n->set.max_tries)) {
			a.dead = 1;
			s->tries = 0;
		}
		if (a.ok || a.dead) {
			a.cursor = f.id;
			s->next_attempt_ms = 0;
		} else {
			s->next_attempt_ms = now_ms() + backoff(&n->set, s->tries);
		}
		pthread_mutex_unlock(&n->mu);
		a.error = a.ok ? NULL : why;
		record(n, &a);
		pthread_mutex_lock(&n->mu);
		if (a.cursor != 0)
			s->cursor = a.cursor;
		pthread_mutex_unlock(&n->mu);
		free(f.body);
		json_decref(rcpt);
		if (!a.ok) {
			if (a.dead)
				log_warn("notify", "%s: event %llu dead-lettered after %d tries: %s",
					 s->conf.name, (unsigned long long)f.id, a.tries, why);
			return 0;
		}
	}
	return 0;
}

void notify_deliver_sink(notify_t *n, notify_sink_state_t *s)
{
	int64_t now = now_ms();
	uint64_t start = time_mono_ms();

	/* A retry set further away than the longest back-off was set before the wall clock
	 * went back (the retry would wait for as long as the step): it is due now. */
	pthread_mutex_lock(&n->mu);
	if (s->next_attempt_ms > now + n->set.backoff_max_ms)
		s->next_attempt_ms = now;
	pthread_mutex_unlock(&n->mu);
	if (now < s->next_attempt_ms)
		return;
	deliver_retries(n, s, start);
	/* A digest sink queues what the outbox holds before it sends the digests of past
	 * days: an event of yesterday still waiting (a kill -9 before it was queued, a
	 * backlog) joins yesterday's digest instead of making a second one. */
	if (take_events(n, s, start) && s->conf.email && s->conf.digest)
		flush_digests(n, s, start);
}

/* ---- garbage collection: events every sink has passed ---- */
struct gc_op {
	uint64_t upto;
	size_t deleted;
};

static int gc_iter(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	uint64_t *ids = arg;
	(void)val;
	(void)vlen;
	if (klen != 9 || ((const uint8_t *)key)[0] != NOTIFY_KEY_EVENT ||
	    db_be64_get((const uint8_t *)key + 1) > ids[0] || ids[1] >= GC_BATCH)
		return 1;
	ids[2 + ids[1]++] = db_be64_get((const uint8_t *)key + 1);
	return 0;
}

static int gc_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct gc_op *g = arg;
	uint64_t *ids = malloc((GC_BATCH + 2) * sizeof(*ids));
	uint8_t key[9];
	size_t i;
	int rc = 0;

	g->deleted = 0;
	if (ids == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "notify: out of memory");
	ids[0] = g->upto;
	ids[1] = 0;
	notify_event_key(1, key);
	(void)db_iterate(txn, DB_OUTBOX, key, sizeof(key), gc_iter, ids);
	for (i = 0; i < ids[1] && rc == 0; i++) {
		notify_event_key(ids[2 + i], key);
		rc = db_del(txn, DB_OUTBOX, key, sizeof(key));
	}
	g->deleted = (size_t)ids[1];
	free(ids);
	return rc;
}

void notify_gc(notify_t *n)
{
	struct gc_op g = { 0 };
	cairn_err_t err = { 0 };
	db_txn_t *txn = NULL;
	uint64_t seq = 0;
	size_t i;

	if (n->n_sinks == 0) {
		if (db_read_begin(n->db, &txn) != 0)
			return;
		seq = notify_meta_u64(txn, "notify_seq");
		db_txn_end(txn);
		g.upto = seq > NOTIFY_KEEP_UNSENT ? seq - NOTIFY_KEEP_UNSENT : 0;
	} else {
		g.upto = UINT64_MAX;
		for (i = 0; i < n->n_sinks; i++)
			if (n->sinks[i].cursor < g.upto)
				g.upto = n->sinks[i].cursor;
	}
	if (g.upto == 0 || g.upto <= n->gc_done)
		return;
	do {
		if (db_write(n->db, gc_run, &g, &err) != 0) {
			log_warn("notify", "outbox clean-up: %s", cairn_err_msg(&err));
			return;
		}
	} while (g.deleted == GC_BATCH && !notify_stopping(n));
	n->gc_done = g.upto;
}
