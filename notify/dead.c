/* SPDX-License-Identifier: MIT */
/*
 * Dead letters of a sink, kept so that a receiver down for long costs the daemon nothing
 * while they wait: counted in DB_META (status and /metrics read the count, not the
 * letters), marked for retry under keys of their own (a delivery turn looks up the first
 * mark, not every letter), and at most notify.dead_letters_max of them a sink (past it the
 * oldest are dropped and counted).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify/notify_int.h"

static void meta_name(const char *what, const char *sink, char *out, size_t cap)
{
	snprintf(out, cap, "notify_%s_%s", what, sink);
}

uint64_t notify_dead_count(db_txn_t *txn, const char *sink)
{
	char name[96];

	meta_name("dead", sink, name, sizeof(name));
	return notify_meta_u64(txn, name);
}

uint64_t notify_dead_dropped(db_txn_t *txn, const char *sink)
{
	char name[96];

	meta_name("deaddrop", sink, name, sizeof(name));
	return notify_meta_u64(txn, name);
}

static int add_count(db_txn_t *txn, const char *what, const char *sink, int64_t by)
{
	char name[96];
	uint64_t v;

	meta_name(what, sink, name, sizeof(name));
	v = notify_meta_u64(txn, name);
	v = by < 0 && (uint64_t)-by > v ? 0 : v + (uint64_t)by;
	return notify_meta_put_u64(txn, name, v);
}

/* The first key at or after prefix (of length plen) that starts with it: its id. */
struct first_find {
	const uint8_t *prefix;
	size_t plen;
	uint64_t id;
	int found;
};

static int first_iter(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct first_find *f = arg;

	(void)val;
	(void)vlen;
	if (klen == f->plen + 8 && memcmp(key, f->prefix, f->plen) == 0) {
		f->id = db_be64_get((const uint8_t *)key + f->plen);
		f->found = 1;
	}
	return 1;
}

/* The smallest id under kind's keys of sink: 1 with *id, 0 when there is none. */
static int first_id(db_txn_t *txn, char kind, const char *sink, uint64_t *id)
{
	uint8_t prefix[96];
	size_t klen = notify_sink_key(kind, sink, 0, prefix, sizeof(prefix));
	struct first_find f = { prefix, klen - 8, 0, 0 };

	if (klen == 0)
		return 0;
	(void)db_iterate(txn, DB_OUTBOX, prefix, klen, first_iter, &f);
	*id = f.id;
	return f.found;
}

static int del_key(db_txn_t *txn, char kind, const char *sink, uint64_t id, int *was)
{
	uint8_t key[96];
	size_t klen = notify_sink_key(kind, sink, id, key, sizeof(key));
	int rc = klen ? db_del(txn, DB_OUTBOX, key, klen) : CAIRN_EINVAL;

	if (was != NULL)
		*was = rc == 0;
	return rc == CAIRN_ENOENT ? 0 : rc;
}

int notify_dead_mark(db_txn_t *txn, const char *sink, uint64_t id, int on)
{
	uint8_t key[96];
	size_t klen = notify_sink_key(NOTIFY_KEY_RETRY, sink, id, key, sizeof(key));

	if (klen == 0)
		return CAIRN_EINVAL;
	return on ? db_put(txn, DB_OUTBOX, key, klen, "", 0, 0)
		  : del_key(txn, NOTIFY_KEY_RETRY, sink, id, NULL);
}

int notify_dead_del(db_txn_t *txn, const char *sink, uint64_t id)
{
	int was = 0, rc = del_key(txn, NOTIFY_KEY_DEAD, sink, id, &was);

	if (rc == 0)
		rc = notify_dead_mark(txn, sink, id, 0);
	if (rc == 0 && was)
		rc = add_count(txn, "dead", sink, -1);
	return rc;
}

/* Drops the oldest letters of sink while it has more than max; adds them to *dropped. */
static int trim(db_txn_t *txn, const char *sink, uint64_t max, uint64_t *dropped)
{
	uint64_t n = notify_dead_count(txn, sink), id, gone = 0;
	int rc = 0;

	while (n > max && rc == 0 && first_id(txn, NOTIFY_KEY_DEAD, sink, &id)) {
		if ((rc = notify_dead_del(txn, sink, id)) == 0) {
			n--;
			gone++;
		}
	}
	if (rc == 0 && gone > 0)
		rc = add_count(txn, "deaddrop", sink, (int64_t)gone);
	if (dropped != NULL)
		*dropped += gone;
	return rc;
}

int notify_dead_put(db_txn_t *txn, const char *sink, uint64_t id, const char *text,
		    uint64_t max, uint64_t *dropped)
{
	uint8_t key[96];
	size_t klen = notify_sink_key(NOTIFY_KEY_DEAD, sink, id, key, sizeof(key));
	const void *old;
	size_t olen;
	int fresh, rc;

	if (klen == 0)
		return CAIRN_EINVAL;
	fresh = db_get(txn, DB_OUTBOX, key, klen, &old, &olen) != 0;
	rc = db_put(txn, DB_OUTBOX, key, klen, text, strlen(text), 0);
	if (rc == 0 && fresh)
		rc = add_count(txn, "dead", sink, 1);
	return rc ? rc : trim(txn, sink, max, dropped);
}

int notify_dead_next_retry(db_txn_t *txn, const char *sink, uint64_t *id, const void **val,
			   size_t *vlen)
{
	uint8_t key[96];
	size_t klen;

	if (!first_id(txn, NOTIFY_KEY_RETRY, sink, id))
		return 0;
	klen = notify_sink_key(NOTIFY_KEY_DEAD, sink, *id, key, sizeof(key));
	if (db_get(txn, DB_OUTBOX, key, klen, val, vlen) != 0) {
		*val = NULL; /* a mark whose letter is gone: the caller removes it */
		*vlen = 0;
	}
	return 1;
}

/* Counts the letters of a sink stored before counts were kept; marks those flagged. */
struct settle_walk {
	const uint8_t *prefix;
	size_t plen;
	uint64_t n;
	uint64_t *marks; /* ids flagged "retry" without a mark: written after the walk */
	size_t n_marks, cap_marks;
};

static int settle_iter(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct settle_walk *w = arg;
	json_t *d;

	if (klen != w->plen + 8 || memcmp(key, w->prefix, w->plen) != 0)
		return 1;
	w->n++;
	/* a cheap look first: the flag is rare, a parse of every letter is not */
	if (memmem(val, vlen, "\"retry\":true", 12) == NULL)
		return 0;
	d = json_loadb(val, vlen, 0, NULL);
	if (json_is_true(json_object_get(d, "retry"))) {
		if (w->n_marks == w->cap_marks) {
			size_t cap = w->cap_marks ? 2 * w->cap_marks : 64;
			uint64_t *m = realloc(w->marks, cap * sizeof(*m));
			if (m == NULL) {
				json_decref(d);
				return -1; /* out of memory */
			}
			w->marks = m;
			w->cap_marks = cap;
		}
		w->marks[w->n_marks++] = db_be64_get((const uint8_t *)key + w->plen);
	}
	json_decref(d);
	return 0;
}

int notify_dead_settle(db_txn_t *txn, const char *sink, uint64_t max, uint64_t *dropped)
{
	uint8_t prefix[96];
	size_t klen = notify_sink_key(NOTIFY_KEY_DEAD, sink, 0, prefix, sizeof(prefix)), i;
	struct settle_walk w = { prefix, klen - 8, 0, NULL, 0, 0 };
	char name[96];
	const void *v;
	size_t vlen;
	int rc = 0;

	if (klen == 0)
		return CAIRN_EINVAL;
	meta_name("dead", sink, name, sizeof(name));
	if (db_get(txn, DB_META, name, strlen(name), &v, &vlen) != 0) {
		rc = db_iterate(txn, DB_OUTBOX, prefix, klen, settle_iter, &w);
		rc = rc == -1 ? CAIRN_ENOMEM : rc == 1 ? 0 : rc;
		for (i = 0; i < w.n_marks && rc == 0; i++)
			rc = notify_dead_mark(txn, sink, w.marks[i], 1);
		free(w.marks);
		if (rc == 0)
			rc = notify_meta_put_u64(txn, name, w.n);
	}
	return rc ? rc : trim(txn, sink, max, dropped);
}
