/* SPDX-License-Identifier: MIT */
/* Resumable walks in batches: where a walk of a whole table stands between its read (or write) transactions. */
#include <string.h>

#include "db/db_int.h"

int db_walk_resume(db_walk_t *w, const void *key, size_t klen)
{
	if (w == NULL || klen > sizeof(w->last) || (klen > 0 && key == NULL))
		return CAIRN_EINVAL;
	if (klen > 0)
		memcpy(w->last, key, klen);
	w->last_len = klen;
	return 0;
}

/* Every entry of the batch: the one resumed after is passed over; then the batch-full
 * check (batch > 0), the key's shape, and the key becomes the position before fn sees it. */
static int step_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	db_walk_t *w = arg;

	if (w->skip_first) {
		w->skip_first = 0;
		if (klen == w->last_len && memcmp(key, w->last, klen) == 0)
			return 0;
	}
	if (w->batch > 0 && w->n == w->batch)
		return 1; /* full: the next batch starts after last, at this key */
	if (klen < w->min_len || klen > w->max_len || klen > sizeof(w->last))
		return w->refuse_bad ? CAIRN_EDB : 0;
	memcpy(w->last, key, klen);
	w->last_len = klen;
	w->n++;
	return w->fn(key, klen, val, vlen, w->arg);
}

int db_walk_batch(db_txn_t *txn, db_table_t t, db_walk_t *w, db_iter_fn fn, void *arg)
{
	if (w == NULL || fn == NULL)
		return CAIRN_EINVAL;
	w->fn = fn;
	w->arg = arg;
	w->n = 0;
	w->skip_first = w->last_len > 0;
	return db_iterate(txn, t, w->last_len > 0 ? w->last : NULL, w->last_len, step_cb, w);
}
