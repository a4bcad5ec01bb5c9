/* SPDX-License-Identifier: MIT */
/* The by_requester index: certificates of one requester, paged by key, and its build on a database made before it. */
#include <stdlib.h>
#include <string.h>

#include "db/db_int.h"

#define META_DONE "by_requester"        /* set: every certificate has its entry */
#define META_AT "by_requester_at"       /* the build's progress: the last serial indexed */

/* requester || 0x00 || serial into key (DB_CURSOR_MAX bytes); the length, 0 when the
 * requester is too long to be one (never stored: db_cert_t.requester is 128 bytes). */
static size_t req_key(uint8_t *key, const char *requester, const uint8_t *serial, size_t slen)
{
	size_t n = strlen(requester);

	if (n > DB_NAME_MAX || n + 1 + slen > DB_CURSOR_MAX)
		return 0;
	memcpy(key, requester, n);
	key[n] = 0;
	if (slen > 0)
		memcpy(key + n + 1, serial, slen);
	return n + 1 + slen;
}

int db_requester_put(db_txn_t *txn, const db_cert_t *c)
{
	uint8_t key[DB_CURSOR_MAX];
	char requester[sizeof(c->requester)];
	size_t kl;

	/* The record keeps the field up to its NUL or its full size: the same here. */
	memcpy(requester, c->requester, sizeof(requester) - 1);
	requester[sizeof(requester) - 1] = '\0';
	if ((kl = req_key(key, requester, c->serial, c->serial_len)) == 0)
		return CAIRN_EINVAL;
	return db_put(txn, DB_BY_REQUESTER, key, kl, NULL, 0, 0);
}

struct req_walk {
	db_txn_t *txn;
	db_cert_fn fn;
	void *arg;
	const char *requester;
	uint8_t prefix[DB_NAME_MAX + 1];
	size_t plen;
	db_cursor_t *pos;
	int skip_first;  /* the walk starts at pos's key, reported on the previous page */
	int ended;       /* left the requester's range (not a stop by fn) */
};

/* Records key as the walk's position; 1 when it is the one it resumed at. */
static int req_at(struct req_walk *w, const uint8_t *key, size_t klen)
{
	if (w->skip_first) {
		w->skip_first = 0;
		if (klen == w->pos->len && memcmp(key, w->pos->key, klen) == 0)
			return 1;
	}
	if (w->pos != NULL) {
		memcpy(w->pos->key, key, klen);
		w->pos->len = klen;
		w->pos->name[0] = '\0';
	}
	return 0;
}

/* by_requester: each entry under the prefix is one certificate of the requester. */
static int index_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct req_walk *w = arg;
	db_cert_t c;
	int rc;
	(void)val;
	(void)vlen;

	if (klen <= w->plen || klen > DB_CURSOR_MAX || memcmp(key, w->prefix, w->plen) != 0) {
		w->ended = 1;
		return 1;
	}
	if (req_at(w, key, klen))
		return 0;
	rc = db_cert_get(w->txn, (const uint8_t *)key + w->plen, klen - w->plen, &c);
	if (rc == CAIRN_ENOENT || rc == CAIRN_EINVAL)
		return CAIRN_EDB; /* an index entry without its record: corrupt */
	return rc != 0 ? rc : w->fn(&c, w->arg);
}

/* A database whose index is still being built: every certificate, in serial order (the
 * order of the index within one requester), filtered; positions in the index's form. */
static int all_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct req_walk *w = arg;
	uint8_t k[DB_CURSOR_MAX];
	db_cert_t c;
	int rc;
	(void)val;
	(void)vlen;

	if (klen == 0 || klen > DB_SERIAL_MAX || w->plen + klen > DB_CURSOR_MAX)
		return CAIRN_EDB;
	if ((rc = db_cert_get(w->txn, key, klen, &c)) != 0)
		return rc;
	if (strcmp(c.requester, w->requester) != 0)
		return 0;
	memcpy(k, w->prefix, w->plen);
	memcpy(k + w->plen, key, klen);
	if (req_at(w, k, w->plen + klen))
		return 0;
	return w->fn(&c, w->arg);
}

int db_certs_by_requester_at(db_txn_t *txn, const char *requester, db_cursor_t *pos,
			     db_cert_fn fn, void *arg)
{
	struct req_walk w = { .txn = txn, .fn = fn, .arg = arg, .requester = requester, .pos = pos };
	const uint8_t *start;
	size_t slen;
	int rc;

	if (requester == NULL || fn == NULL || (pos != NULL && pos->len > DB_CURSOR_MAX))
		return CAIRN_EINVAL;
	if ((w.plen = req_key(w.prefix, requester, NULL, 0)) == 0)
		return 0; /* longer than any stored requester: nothing matches */
	start = w.prefix;
	slen = w.plen;
	if (pos != NULL && pos->len > 0) {
		if (pos->len <= w.plen || memcmp(pos->key, w.prefix, w.plen) != 0)
			return CAIRN_EINVAL; /* a position of another search */
		w.skip_first = 1;
		start = pos->key;
		slen = pos->len;
	}
	if (db_get(txn, DB_META, META_DONE, strlen(META_DONE), NULL, NULL) == 0) {
		rc = db_iterate(txn, DB_BY_REQUESTER, start, slen, index_cb, &w);
		return w.ended && rc == 1 ? 0 : rc;
	}
	/* Older database, index not built yet (db_requester_build): the whole table. */
	if (start == w.prefix)
		return db_iterate(txn, DB_CERTS, NULL, 0, all_cb, &w);
	return db_iterate(txn, DB_CERTS, start + w.plen, slen - w.plen, all_cb, &w);
}

/* ---- building the index of an older database, a batch per write ---- */

struct build_op {
	db_walk_t walk; /* DB_CERTS, serial keys, batch at a time */
	int done;
	db_txn_t *txn;
	int rc;
};

static int build_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct build_op *op = arg;
	db_cert_t c;
	(void)val;
	(void)vlen;

	if ((op->rc = db_cert_get(op->txn, key, klen, &c)) != 0 ||
	    (op->rc = db_requester_put(op->txn, &c)) != 0)
		return op->rc;
	return 0;
}

static int build_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct build_op *op = arg;
	const void *v;
	size_t vlen;
	int rc;

	op->txn = txn;
	op->done = 0;
	if (db_get(txn, DB_META, META_DONE, strlen(META_DONE), NULL, NULL) == 0) {
		op->done = 1;
		return 0;
	}
	rc = db_get(txn, DB_META, META_AT, strlen(META_AT), &v, &vlen);
	if (rc == CAIRN_ENOENT)
		rc = db_walk_resume(&op->walk, NULL, 0);
	else if (rc == 0 && vlen > 0 && vlen <= DB_SERIAL_MAX)
		rc = db_walk_resume(&op->walk, v, vlen);
	else
		rc = CAIRN_EINVAL;
	if (rc != 0)
		return cairn_err_set(err, CAIRN_EDB, "db: bad %s in meta", META_AT);
	rc = db_walk_batch(txn, DB_CERTS, &op->walk, build_cb, op);
	if (rc < 0)
		return cairn_err_set(err, rc, "db: building the requester index: %s",
				     cairn_strerror(rc));
	if (rc == 0) { /* the end of the table: every certificate has its entry */
		op->done = 1;
		if ((rc = db_put(txn, DB_META, META_DONE, strlen(META_DONE), "1", 1, 0)) != 0)
			return rc;
		rc = db_del(txn, DB_META, META_AT, strlen(META_AT));
		return rc == CAIRN_ENOENT ? 0 : rc;
	}
	return db_put(txn, DB_META, META_AT, strlen(META_AT), op->walk.last, op->walk.last_len, 0);
}

int db_requester_build(db_t *db, size_t batch, int *done, cairn_err_t *err)
{
	/* A key that is not a serial is a corrupt table here: refused, not passed over. */
	struct build_op op = { .walk = { .min_len = 1, .max_len = DB_SERIAL_MAX, .refuse_bad = 1,
					 .batch = batch > 0 ? batch : 1 } };
	db_txn_t *txn;
	int rc;

	/* Read first: a complete index (every database made since) costs no write. */
	*done = 0;
	if (db_read_begin(db, &txn) == 0) {
		*done = db_get(txn, DB_META, META_DONE, strlen(META_DONE), NULL, NULL) == 0;
		db_txn_end(txn);
		if (*done)
			return 0;
	}
	rc = db_write(db, build_run, &op, err);
	*done = rc == 0 && op.done;
	return rc;
}
