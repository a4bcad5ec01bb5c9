/* SPDX-License-Identifier: MIT */
/* Unit tests for db/: environment life cycle, schema check, records, indexes, group commit, map growth. */
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/db_int.h" /* the writer queue: a background write is queued */

/* ---- helpers ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup_dir(void **state)
{
	const char *tmp = getenv("TMPDIR");
	char *dir;

	if (asprintf(&dir, "%s/cairn-test-db-XXXXXX", tmp != NULL ? tmp : "/tmp") < 0)
		return -1;
	if (mkdtemp(dir) == NULL)
		return -1;
	*state = dir;
	return 0;
}

static int teardown_dir(void **state)
{
	char *dir = *state;

	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(dir);
	return 0;
}

static db_t *open_db(const char *dir)
{
	cairn_err_t err = { 0 };
	db_t *db = NULL;
	int rc = db_open(dir, &db, &err);

	if (rc != 0)
		fail_msg("db_open: %s", cairn_err_msg(&err));
	return db;
}

struct kv {
	db_table_t t;
	const char *key;
	const void *val;
	size_t vlen;
};

static int put_kv(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct kv *kv = arg;
	int rc = db_put(txn, kv->t, kv->key, strlen(kv->key), kv->val, kv->vlen, 0);

	if (rc != 0)
		return cairn_err_set(err, rc, "put %s", kv->key);
	return 0;
}

static void write_kv(db_t *db, db_table_t t, const char *key, const char *val)
{
	struct kv kv = { t, key, val, strlen(val) };
	cairn_err_t err = { 0 };

	assert_int_equal(db_write(db, put_kv, &kv, &err), 0);
}

/* Returns a malloc'd copy of the value or NULL. */
static char *read_kv(db_t *db, db_table_t t, const char *key)
{
	db_txn_t *txn;
	const void *v;
	size_t vlen;
	char *out = NULL;

	assert_int_equal(db_read_begin(db, &txn), 0);
	if (db_get(txn, t, key, strlen(key), &v, &vlen) == 0) {
		out = malloc(vlen + 1);
		memcpy(out, v, vlen);
		out[vlen] = '\0';
	}
	db_txn_end(txn);
	return out;
}

static void make_cert(db_cert_t *c, uint8_t serial_byte, int64_t not_after)
{
	static const uint8_t der[] = { 0x30, 0x03, 0x02, 0x01, 0x2a };

	memset(c, 0, sizeof(*c));
	memset(c->serial, serial_byte, 16);
	c->serial[0] &= 0x7f;
	c->serial_len = 16;
	c->status = DB_CERT_VALID;
	c->not_before = not_after - 90 * 86400;
	c->not_after = not_after;
	c->reason = -1;
	snprintf(c->issuer, sizeof(c->issuer), "issuing");
	snprintf(c->profile, sizeof(c->profile), "tls-server");
	snprintf(c->requester, sizeof(c->requester), "acme:acct/%u", serial_byte);
	snprintf(c->subject, sizeof(c->subject), "CN=host%u.example.com", serial_byte);
	c->der = der;
	c->der_len = sizeof(der);
}

struct cert_op {
	db_cert_t cert;
	const char *names[4];
	size_t n_names;
	const char *marker; /* put into DB_META before the cert, to prove rollback */
};

static int put_cert(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct cert_op *op = arg;
	int rc;

	if (op->marker != NULL) {
		rc = db_put(txn, DB_META, op->marker, strlen(op->marker), "x", 1, 0);
		if (rc != 0)
			return rc;
	}
	rc = db_cert_put(txn, &op->cert, op->names, op->n_names);
	if (rc != 0)
		return cairn_err_set(err, rc, "db_cert_put: %s", cairn_strerror(rc));
	return 0;
}

static void store_cert(db_t *db, uint8_t serial_byte, int64_t not_after, const char *n1,
		       const char *n2)
{
	struct cert_op op = { .n_names = 0 };
	cairn_err_t err = { 0 };

	make_cert(&op.cert, serial_byte, not_after);
	if (n1 != NULL)
		op.names[op.n_names++] = n1;
	if (n2 != NULL)
		op.names[op.n_names++] = n2;
	assert_int_equal(db_write(db, put_cert, &op, &err), 0);
}

/* Collects serial first bytes seen by a walk. */
struct seen {
	uint8_t first[64];
	size_t n;
	int64_t not_after[64];
};

static int collect(const db_cert_t *c, void *arg)
{
	struct seen *s = arg;

	s->not_after[s->n] = c->not_after;
	s->first[s->n++] = c->serial[1];
	return 0;
}

/* ---- tests ---- */

/* A page of at most 3: keeps the position of the last row taken, stops at the 4th. */
struct page {
	db_cursor_t pos, last;
	uint8_t got[64];
	size_t n, in_page;
	int more;
};

static int page_cb(const db_cert_t *c, void *arg)
{
	struct page *p = arg;

	if (p->in_page == 3) {
		p->more = 1;
		return 1;
	}
	p->got[p->n++] = c->serial[1];
	p->in_page++;
	p->last = p->pos;
	return 0;
}

/* Follows cursors (through their text form) to the end; returns the pages walked. */
static int page_all(db_t *db, int kind, const char *name, struct page *p, uint64_t *walked)
{
	db_txn_t *txn;
	char *text;
	int pages = 0, rc;

	memset(p, 0, sizeof(*p));
	for (;;) {
		uint64_t w0 = db_walked(db);
		p->in_page = 0;
		p->more = 0;
		assert_int_equal(db_read_begin(db, &txn), 0);
		rc = kind == 'e' ? db_certs_by_expiry_at(txn, 0, INT64_MAX, &p->pos, page_cb, p)
		     : kind == 'n' ? db_certs_by_name_at(txn, name, &p->pos, page_cb, p)
				   : db_certs_all_at(txn, &p->pos, page_cb, p);
		db_txn_end(txn);
		assert_true(rc == 0 || rc == 1);
		/* rows + 1 (the one that says "more" or the end of the range) + the resumed key */
		assert_true(db_walked(db) - w0 <= 3 + 1 + (pages > 0));
		*walked += db_walked(db) - w0;
		pages++;
		if (!p->more)
			return pages;
		text = db_cursor_text(&p->last, (char)kind);
		assert_non_null(text);
		assert_int_equal(db_cursor_parse(text, (char)kind, &p->pos), 0);
		assert_int_equal(db_cursor_parse(text, kind == 'e' ? 'n' : 'e', &p->last),
				 CAIRN_EINVAL); /* a cursor of another kind of search */
		free(text);
		assert_true(pages < 20);
	}
}

static void test_keyset_paging(void **state)
{
	db_t *db = open_db(*state);
	struct page p;
	db_cursor_t bad;
	db_txn_t *txn;
	uint64_t walked = 0;
	char name[32];
	uint8_t i;

	for (i = 1; i <= 10; i++) {
		snprintf(name, sizeof(name), "h%u.z.example.com", i);
		/* expiry order is the reverse of serial order */
		store_cert(db, i, 2000000000 - i, name, i % 2 ? "other.example.org" : NULL);
	}
	assert_int_equal(page_all(db, 'e', NULL, &p, &walked), 4);
	assert_int_equal(p.n, 10);
	for (i = 0; i < 10; i++)
		assert_int_equal(p.got[i], 10 - i);
	assert_int_equal(page_all(db, 'a', NULL, &p, &walked), 4);
	assert_int_equal(p.n, 10);
	for (i = 0; i < 10; i++)
		assert_int_equal(p.got[i], i + 1);
	/* suffix: by_rname order, every certificate once (one name each under .z.example.com) */
	assert_int_equal(page_all(db, 'n', ".Z.example.com", &p, &walked), 4);
	assert_int_equal(p.n, 10);
	assert_string_equal(p.last.name, "h9.z.example.com"); /* the name is un-reversed */
	/* ".example.org": five certificates share one name: a page is its rows */
	assert_int_equal(page_all(db, 'n', ".example.org", &p, &walked), 2);
	assert_int_equal(p.n, 5);
	assert_int_equal(page_all(db, 'n', "h3.z.example.com", &p, &walked), 1);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.got[0], 3);
	/* A name walk refuses a position outside its prefix; garbage and offsets are not cursors. */
	memset(&bad, 0, sizeof(bad));
	memcpy(bad.key, "zzz", 3);
	bad.len = 3;
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_certs_by_name_at(txn, ".example.com", &bad, page_cb, &p), CAIRN_EINVAL);
	db_txn_end(txn);
	assert_int_equal(db_cursor_parse("100", 'e', &bad), CAIRN_EINVAL);
	assert_int_equal(db_cursor_parse("!!", 'e', &bad), CAIRN_EINVAL);
	assert_int_equal(db_cursor_parse("", 'e', &bad), CAIRN_EINVAL);
	db_close(db);
}

static int revoke_at(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	uint8_t serial[16];
	(void)err;
	(void)arg;
	memset(serial, 2, sizeof(serial));
	return db_cert_revoke(txn, serial, sizeof(serial), 1700000123, 1);
}

static void test_revoked_last(void **state)
{
	db_t *db = open_db(*state);
	db_txn_t *txn;
	int64_t t = 0;

	store_cert(db, 2, 2000000000, "a.example", NULL);
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_revoked_last(txn, "issuing", &t), CAIRN_ENOENT);
	db_txn_end(txn);
	assert_int_equal(db_write(db, revoke_at, NULL, NULL), 0);
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_revoked_last(txn, "issuing", &t), 0);
	assert_int_equal(t, 1700000123);
	db_txn_end(txn);
	db_close(db);
}


static void test_open_reopen(void **state)
{
	const char *dir = *state;
	db_t *db = open_db(dir);
	char *v;
	uint64_t commits, ops;

	write_kv(db, DB_REQUESTS, "req-1", "pending");
	db_stats(db, &commits, &ops, NULL);
	assert_int_equal(commits, 1);
	assert_int_equal(ops, 1);
	db_close(db);

	db = open_db(dir);
	v = read_kv(db, DB_REQUESTS, "req-1");
	assert_non_null(v);
	assert_string_equal(v, "pending");
	free(v);
	v = read_kv(db, DB_META, "schema_version");
	assert_string_equal(v, "1");
	free(v);
	db_close(db);
	db_close(NULL);
}

/* db_open_readonly: nothing made where there is no database; a database made by
 * db_open is read as it is; no write gets through; a newer schema is refused. */
static void test_open_readonly(void **state)
{
	const char *dir = *state;
	cairn_err_t err = { 0 };
	db_t *db = NULL;
	char *v, *sub = NULL, *lock = NULL;
	struct kv kv = { DB_REQUESTS, "req-2", "x", 1 };

	assert_true(asprintf(&sub, "%s/empty", dir) > 0 && asprintf(&lock, "%s/lock.mdb", sub) > 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(db_open_readonly(sub, &db, &err), CAIRN_ENOENT);
	assert_null(db);
	assert_non_null(strstr(err.msg, "no CA database"));
	assert_int_not_equal(access(lock, F_OK), 0); /* not even LMDB's lock file */

	db = open_db(dir);
	write_kv(db, DB_REQUESTS, "req-1", "pending");
	db_close(db);
	db = NULL;
	assert_int_equal(db_open_readonly(dir, &db, &err), 0);
	v = read_kv(db, DB_REQUESTS, "req-1");
	assert_non_null(v);
	assert_string_equal(v, "pending");
	free(v);
	memset(&err, 0, sizeof(err));
	assert_int_equal(db_write(db, put_kv, &kv, &err), CAIRN_EDB);
	assert_non_null(strstr(err.msg, "read-only"));
	assert_null(read_kv(db, DB_REQUESTS, "req-2"));
	db_close(db);

	db = open_db(dir);
	write_kv(db, DB_META, "schema_version", "2");
	db_close(db);
	db = NULL;
	assert_int_equal(db_open_readonly(dir, &db, &err), CAIRN_ESCHEMA);
	assert_null(db);
	free(sub);
	free(lock);
}

static void test_schema_mismatch(void **state)
{
	const char *dir = *state;
	cairn_err_t err = { 0 };
	db_t *db = open_db(dir);

	write_kv(db, DB_META, "schema_version", "2");
	db_close(db);
	db = NULL;
	assert_int_equal(db_open(dir, &db, &err), CAIRN_ESCHEMA);
	assert_null(db);
	assert_int_equal(err.code, CAIRN_ESCHEMA);
	assert_non_null(strstr(err.msg, "version 2"));
	assert_non_null(strstr(err.msg, "expects 1"));
}

static void test_cert_roundtrip(void **state)
{
	db_t *db = open_db(*state);
	db_cert_t in, out;
	db_txn_t *txn;
	uint8_t unknown[16] = { 0x01 };

	store_cert(db, 0x11, 2000000000, "www.example.com", NULL);
	make_cert(&in, 0x11, 2000000000);
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_cert_get(txn, in.serial, in.serial_len, &out), 0);
	assert_memory_equal(out.serial, in.serial, 16);
	assert_int_equal(out.serial_len, 16);
	assert_int_equal(out.status, DB_CERT_VALID);
	assert_int_equal(out.not_before, in.not_before);
	assert_int_equal(out.not_after, in.not_after);
	assert_int_equal(out.revoked_at, 0);
	assert_int_equal(out.reason, -1);
	assert_string_equal(out.issuer, "issuing");
	assert_string_equal(out.profile, "tls-server");
	assert_string_equal(out.requester, "acme:acct/17");
	assert_string_equal(out.subject, "CN=host17.example.com");
	assert_int_equal(out.der_len, in.der_len);
	assert_memory_equal(out.der, in.der, in.der_len);
	assert_int_equal(db_cert_get(txn, unknown, sizeof(unknown), &out), CAIRN_ENOENT);
	assert_int_equal(db_count(txn, DB_CERTS), 1);
	assert_int_equal(db_count(txn, DB_BY_EXPIRY), 1);
	assert_int_equal(db_count(txn, DB_BY_NAME), 1);
	/* writes refused on a read txn */
	assert_int_equal(db_put(txn, DB_META, "k", 1, "v", 1, 0), CAIRN_EINVAL);
	db_txn_end(txn);
	db_close(db);
}

/* ---- one failing op in a batch rolls back only itself ---- */

struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int started;
	int release; /* the held op may go on */
};

/* Waits until the op holding g has started. */
static void gate_wait_started(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	while (!g->started)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

/* Lets the op held by g go on. */
static void gate_release(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->release = 1;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

static int slow_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct gate *g = arg;
	(void)err;

	pthread_mutex_lock(&g->mu);
	g->started = 1;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	usleep(300 * 1000); /* the writer is busy: the next callers queue up */
	return db_put(txn, DB_META, "slow", 4, "1", 1, 0);
}

struct call {
	db_t *db;
	db_write_fn fn;
	void *arg;
	int rc;
	cairn_err_t err;
};

static void *call_thread(void *arg)
{
	struct call *c = arg;

	c->rc = db_write(c->db, c->fn, c->arg, &c->err);
	return NULL;
}

static void test_collision_in_batch(void **state)
{
	db_t *db = open_db(*state);
	struct gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct cert_op dup = { .names = { "dup.example.com" }, .n_names = 1, .marker = "dup-marker" };
	struct cert_op good = { .names = { "good.example.com" }, .n_names = 1 };
	struct call a = { db, slow_op, &g, 0, { 0 } }, b = { db, put_cert, &dup, 0, { 0 } },
		    c = { db, put_cert, &good, 0, { 0 } };
	pthread_t ta, tb, tc;
	uint64_t commits0, ops0, commits1, ops1;
	db_txn_t *txn;
	db_cert_t out;
	char *v;

	store_cert(db, 0x22, 2000000000, "first.example.com", NULL);
	make_cert(&dup.cert, 0x22, 2100000000);
	snprintf(dup.cert.requester, sizeof(dup.cert.requester), "intruder");
	make_cert(&good.cert, 0x33, 2000000000);
	db_stats(db, &commits0, &ops0, NULL);

	assert_int_equal(pthread_create(&ta, NULL, call_thread, &a), 0);
	gate_wait_started(&g);
	assert_int_equal(pthread_create(&tb, NULL, call_thread, &b), 0);
	assert_int_equal(pthread_create(&tc, NULL, call_thread, &c), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_join(tc, NULL);

	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, CAIRN_ECOLLISION);
	assert_int_equal(b.err.code, CAIRN_ECOLLISION);
	assert_int_equal(c.rc, 0);
	db_stats(db, &commits1, &ops1, NULL);
	assert_int_equal(ops1 - ops0, 3);
	/* b and c, queued while a ran, joined a's batch: one commit for the three */
	assert_int_equal(commits1 - commits0, 1);

	v = read_kv(db, DB_META, "dup-marker");
	assert_null(v); /* nothing of the failed op */
	v = read_kv(db, DB_META, "slow");
	assert_non_null(v);
	free(v);
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_cert_get(txn, good.cert.serial, 16, &out), 0);
	assert_int_equal(db_cert_get(txn, dup.cert.serial, 16, &out), 0);
	assert_string_equal(out.requester, "acme:acct/34"); /* the original record */
	assert_int_equal(out.not_after, 2000000000);
	assert_int_equal(db_count(txn, DB_BY_NAME), 2); /* first + good, not dup */
	db_txn_end(txn);
	db_close(db);
}

/* ---- failing ops in one batch: each rolls back alone, whatever path the writer takes ---- */

/* Writes its leak key, then fails with its own code (after writing: the rollback must
 * take the write back). */
struct failing {
	const char *leak;
	int code;
	int runs;
};

static int leaking_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct failing *f = arg;
	int rc;

	f->runs++;
	if ((rc = db_put(txn, DB_META, f->leak, strlen(f->leak), "x", 1, 0)) != 0)
		return rc;
	return cairn_err_set(err, f->code, "%s failed on purpose", f->leak);
}

/* Looks for any leak key of a failing op (none may ever be visible), then writes one
 * key of its own. */
struct probe {
	const char *key;
	int saw_leak;
};

static int probe_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct probe *p = arg;
	static const char *const leaks[] = { "leak-0", "leak-1", "leak-2", "leak-3" };
	size_t i;
	(void)err;

	p->saw_leak = 0;
	for (i = 0; i < sizeof(leaks) / sizeof(leaks[0]); i++)
		p->saw_leak |= db_get(txn, DB_META, leaks[i], strlen(leaks[i]), NULL, NULL) == 0;
	return db_put(txn, DB_META, p->key, strlen(p->key), "ok", 2, 0);
}

/* One batch (queued while a slow op runs) of good ops and n_fail failing ones: one commit,
 * every good op stored, nothing of a failing op, each failing op its own result.
 * 1 failure: the ops run straight in the batch's txn (set aside and rerun); 4: past
 * the set-aside bound the batch runs nested txns. */
static void failures_in_batch(const char *dir, int n_fail)
{
	db_t *db = open_db(dir);
	struct gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	static const char *const leaks[] = { "leak-0", "leak-1", "leak-2", "leak-3" };
	static const int codes[] = { CAIRN_EEXIST, CAIRN_ENOENT, CAIRN_ECONFLICT, CAIRN_EINVAL };
	struct failing f[4];
	struct probe p[3] = { { "probe-0", -1 }, { "probe-1", -1 }, { "probe-2", -1 } };
	struct call a = { db, slow_op, &g, 0, { 0 } }, calls[7];
	pthread_t ta, t[7];
	uint64_t commits0, ops0, commits1, ops1;
	int i, n = 0;
	char *v;

	db_stats(db, &commits0, &ops0, NULL);
	assert_int_equal(pthread_create(&ta, NULL, call_thread, &a), 0);
	gate_wait_started(&g);
	for (i = 0; i < 3; i++) { /* probes before, between and after the failing ops */
		calls[n++] = (struct call){ db, probe_op, &p[i], -1, { 0 } };
		if (i < 2)
			for (int k = i * 2; k < n_fail && k < i * 2 + 2; k++) {
				f[k] = (struct failing){ leaks[k], codes[k], 0 };
				calls[n++] = (struct call){ db, leaking_op, &f[k], -1, { 0 } };
			}
	}
	for (i = 0; i < n; i++)
		assert_int_equal(pthread_create(&t[i], NULL, call_thread, &calls[i]), 0);
	pthread_join(ta, NULL);
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);

	assert_int_equal(a.rc, 0);
	for (i = 0; i < n; i++) {
		if (calls[i].fn == probe_op) {
			struct probe *pr = calls[i].arg;
			assert_int_equal(calls[i].rc, 0);
			assert_int_equal(pr->saw_leak, 0);
			v = read_kv(db, DB_META, pr->key);
			assert_non_null(v);
			assert_string_equal(v, "ok");
			free(v);
		} else {
			struct failing *fl = calls[i].arg;
			assert_int_equal(calls[i].rc, fl->code);
			assert_int_equal(calls[i].err.code, fl->code);
			assert_non_null(strstr(calls[i].err.msg, fl->leak)); /* its own message */
			assert_true(fl->runs >= 1);
			assert_null(read_kv(db, DB_META, fl->leak));
		}
	}
	db_stats(db, &commits1, &ops1, NULL);
	assert_int_equal(ops1 - ops0, (uint64_t)n + 1);
	/* queued while the slow op ran, they joined its batch: one commit */
	assert_int_equal(commits1 - commits0, 1);
	db_close(db);
}

static void test_failures_in_batch(void **state)
{
	failures_in_batch(*state, 1);
}

static void test_many_failures_in_batch(void **state)
{
	failures_in_batch(*state, 4);
}

/* ---- background writes share the commit of the next ordinary write ---- */

/* Waits (bounded: 10 s) until a db_write_background call is queued. */
static void wait_background_queued(db_t *db)
{
	int i, queued = 0;

	for (i = 0; i < 10000 && !queued; i++) {
		pthread_mutex_lock(&db->q_mu);
		queued = db->q_has_lazy;
		pthread_mutex_unlock(&db->q_mu);
		if (!queued)
			usleep(1000);
	}
	assert_true(queued);
}

static void *background_thread(void *arg)
{
	struct call *c = arg;

	c->rc = db_write_background(c->db, c->fn, c->arg, &c->err);
	return NULL;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_background_write(void **state)
{
	db_t *db = open_db(*state);
	struct kv bg1 = { DB_META, "bg1", "1", 1 }, bg2 = { DB_META, "bg2", "2", 1 },
		  client = { DB_META, "client", "c", 1 };
	struct failing bad = { "leak-0", CAIRN_ECONFLICT, 0 };
	struct call b = { db, put_kv, &bg2, -1, { 0 } }, fb = { db, leaking_op, &bad, -1, { 0 } };
	cairn_err_t err = { 0 };
	uint64_t c0, c1, o0, o1, l0, l1;
	pthread_t tb;
	int64_t t0, waited;
	char *v;

	/* Alone: it waits for company, then commits by itself (it still lands), counted
	 * as a lone commit. */
	db_stats(db, &c0, &o0, &l0);
	t0 = mono_ms();
	assert_int_equal(db_write_background(db, put_kv, &bg1, &err), 0);
	waited = mono_ms() - t0;
	db_stats(db, &c1, &o1, &l1);
	assert_int_equal(c1 - c0, 1);
	assert_int_equal(l1 - l0, 1);
	assert_true(waited >= DB_LAZY_MS - 1);
	assert_true(waited < 10000);
	v = read_kv(db, DB_META, "bg1");
	assert_non_null(v);
	free(v);

	/* With an ordinary write: one commit for both, the ordinary one not kept waiting
	 * for the background delay; not a lone commit. */
	db_stats(db, &c0, &o0, &l0);
	assert_int_equal(pthread_create(&tb, NULL, background_thread, &b), 0);
	wait_background_queued(db);
	t0 = mono_ms();
	assert_int_equal(db_write(db, put_kv, &client, &err), 0);
	waited = mono_ms() - t0;
	pthread_join(tb, NULL);
	assert_int_equal(b.rc, 0);
	db_stats(db, &c1, &o1, &l1);
	print_message("# background + client write: %llu commit(s), client waited %lld ms\n",
		      (unsigned long long)(c1 - c0), (long long)waited);
	assert_int_equal(o1 - o0, 2);
	assert_int_equal(c1 - c0, 1);
	assert_int_equal(l1, l0);
	v = read_kv(db, DB_META, "bg2");
	assert_non_null(v);
	free(v);

	/* A failing background write spoils nothing of the ordinary one it rides with. */
	client.key = "client2";
	db_stats(db, &c0, &o0, NULL);
	assert_int_equal(pthread_create(&tb, NULL, background_thread, &fb), 0);
	wait_background_queued(db);
	assert_int_equal(db_write(db, put_kv, &client, &err), 0);
	pthread_join(tb, NULL);
	assert_int_equal(fb.rc, CAIRN_ECONFLICT);
	assert_int_equal(fb.err.code, CAIRN_ECONFLICT);
	db_stats(db, &c1, &o1, NULL);
	assert_int_equal(c1 - c0, 1);
	assert_null(read_kv(db, DB_META, "leak-0"));
	v = read_kv(db, DB_META, "client2");
	assert_non_null(v);
	free(v);
	db_close(db);
}

static void test_by_expiry(void **state)
{
	db_t *db = open_db(*state);
	struct seen s = { .n = 0 };
	db_txn_t *txn;
	int i;

	for (i = 9; i >= 0; i--)
		store_cert(db, (uint8_t)(0x40 + i), 1000000 + i * 100, NULL, NULL);
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_certs_by_expiry(txn, 1000200, 1000600, collect, &s), 0);
	assert_int_equal(s.n, 4);
	for (i = 0; i < 4; i++) {
		assert_int_equal(s.not_after[i], 1000200 + i * 100);
		assert_int_equal(s.first[i], 0x42 + i);
	}
	s.n = 0;
	assert_int_equal(db_certs_by_expiry(txn, 0, INT64_MAX, collect, &s), 0);
	assert_int_equal(s.n, 10);
	s.n = 0;
	assert_int_equal(db_certs_by_expiry(txn, 1000950, 2000000, collect, &s), 0);
	assert_int_equal(s.n, 0);
	s.n = 0;
	assert_int_equal(db_certs_all(txn, collect, &s), 0);
	assert_int_equal(s.n, 10);
	db_txn_end(txn);
	db_close(db);
}

static void test_by_name(void **state)
{
	db_t *db = open_db(*state);
	struct seen s = { .n = 0 };
	db_txn_t *txn;

	store_cert(db, 0x51, 2000000000, "www.Example.com", "example.com");
	store_cert(db, 0x52, 2000000000, "api.example.com", NULL);
	store_cert(db, 0x53, 2000000000, "example.org", NULL);
	store_cert(db, 0x54, 2000000000, "WWW.EXAMPLE.COM", "mail.example.com");
	store_cert(db, 0x55, 2000000000, "example.com.au", "wwwexample.com");

	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_certs_by_name(txn, "www.example.com", collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.first[0], 0x51);
	assert_int_equal(s.first[1], 0x54);
	s.n = 0;
	assert_int_equal(db_certs_by_name(txn, "EXAMPLE.com", collect, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.first[0], 0x51);
	s.n = 0;
	assert_int_equal(db_certs_by_name(txn, "example", collect, &s), 0);
	assert_int_equal(s.n, 0);
	s.n = 0;
	/* suffix: 0x54 has two matching names but is reported once */
	assert_int_equal(db_certs_by_name(txn, ".Example.com", collect, &s), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.first[0], 0x51);
	assert_int_equal(s.first[1], 0x52);
	assert_int_equal(s.first[2], 0x54);
	s.n = 0;
	assert_int_equal(db_certs_by_name(txn, ".org", collect, &s), 0);
	assert_int_equal(s.n, 1);
	db_txn_end(txn);
	db_close(db);
}

/* n certificates (serials tag, i) holding shared and second, each of its own requester;
 * second NULL: a host name of its own (host<i>.example.com). Written in one txn. */
struct many_op {
	uint8_t tag;
	int n;
	const char *shared, *second;
};

static int many_put(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	const struct many_op *op = arg;
	const char *names[2] = { op->shared, NULL };
	char own[64];
	db_cert_t c;
	int i, rc;

	(void)err;
	for (i = 0; i < op->n; i++) {
		make_cert(&c, op->tag, 2000000000);
		c.serial[1] = (uint8_t)(i >> 8);
		c.serial[2] = (uint8_t)i;
		snprintf(c.requester, sizeof(c.requester), "acme:acct/many%d", i);
		snprintf(own, sizeof(own), "host%d.example.com", i);
		names[1] = op->second != NULL ? op->second : own;
		if ((rc = db_cert_put(txn, &c, names, 2)) != 0)
			return rc;
	}
	return 0;
}

#define CROWD 3000
#define PAIRED 200

/* 1/0 from db_cert_renewed for c with names; *walked: index entries it read. */
static int renewed_walked(db_t *db, const db_cert_t *c, const char *const *names, size_t n,
			  uint64_t *walked)
{
	db_txn_t *txn;
	uint64_t w0 = db_walked(db);
	int r;

	assert_int_equal(db_read_begin(db, &txn), 0);
	r = db_cert_renewed(txn, c, names, n);
	db_txn_end(txn);
	*walked = db_walked(db) - w0;
	return r;
}

/* The successor search reads the certificates of c's rarest name, not of its first: a
 * service name in thousands of hosts' certificates costs a few entries per check. */
static void test_successor_shared_name(void **state)
{
	db_t *db = open_db(*state);
	const char *names[2] = { "svc.example.com", "web7.example.com" };
	const char *one[1] = { "svc.example.com" };
	cairn_err_t err = { 0 };
	struct cert_op op = { .n_names = 2 };
	struct many_op crowd = { 0x10, CROWD, "svc.example.com", NULL },
		       paired = { 0x30, PAIRED, "pair-a.example.com", "pair-b.example.com" };
	db_cert_t c;
	uint64_t walked;

	assert_int_equal(db_write(db, many_put, &crowd, &err), 0);
	/* web7's certificate; its renewal sorts after every other entry of svc. */
	op.names[0] = names[0];
	op.names[1] = names[1];
	make_cert(&op.cert, 0x21, 1900000000);
	snprintf(op.cert.requester, sizeof(op.cert.requester), "acme:acct/web7");
	c = op.cert;
	assert_int_equal(db_write(db, put_cert, &op, &err), 0);

	assert_int_equal(renewed_walked(db, &c, names, 2, &walked), 0);
	assert_true(walked < 100); /* a page of svc (2 x 32), web7's few */

	make_cert(&op.cert, 0x7e, 1950000000);
	snprintf(op.cert.requester, sizeof(op.cert.requester), "acme:acct/web7");
	assert_int_equal(db_write(db, put_cert, &op, &err), 0);
	assert_int_equal(renewed_walked(db, &c, names, 2, &walked), 1);
	assert_true(walked < 100); /* a page of svc (2 x 32), web7's few */
	/* The name order does not matter, and one name alone is walked to its end. */
	names[0] = "web7.example.com";
	names[1] = "svc.example.com";
	assert_int_equal(renewed_walked(db, &c, names, 2, &walked), 1);
	assert_true(walked < 100); /* a page of svc (2 x 32), web7's few */
	assert_int_equal(renewed_walked(db, &c, one, 1, &walked), 1);
	assert_true(walked > CROWD);
	/* Another requester's later certificate, or one missing a name, is no successor. */
	make_cert(&op.cert, 0x7f, 1960000000);
	snprintf(op.cert.requester, sizeof(op.cert.requester), "acme:acct/web8");
	assert_int_equal(db_write(db, put_cert, &op, &err), 0);
	op.n_names = 1;
	make_cert(&op.cert, 0x7d, 1960000000);
	snprintf(op.cert.requester, sizeof(op.cert.requester), "acme:acct/web7");
	assert_int_equal(db_write(db, put_cert, &op, &err), 0);
	c.not_after = 1955000000; /* only 0x7f and 0x7d expire later */
	assert_int_equal(renewed_walked(db, &c, names, 2, &walked), 0);

	/* Two names held equally often: about twice the entries of one, not n times. */
	assert_int_equal(db_write(db, many_put, &paired, &err), 0);
	names[0] = "pair-a.example.com";
	names[1] = "pair-b.example.com";
	assert_int_equal(renewed_walked(db, &c, names, 2, &walked), 0);
	assert_true(walked >= PAIRED && walked <= 2 * PAIRED + 2 * 2 * 32);
	db_close(db);
}

static int drop_rname_marker(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	(void)arg;
	(void)err;
	return db_del(txn, DB_META, "by_rname", 8);
}

/* Suffix search through the reversed-name index, and the full scan an older database
 * (no meta by_rname) falls back to: the same answers. */
static void test_by_name_suffix_index(void **state)
{
	db_t *db = open_db(*state);
	struct seen s = { .n = 0 };
	db_txn_t *txn;
	int pass;

	store_cert(db, 0x61, 2000000000, "a.Example.com", "b.example.com");
	store_cert(db, 0x62, 2000000000, "example.com", "xexample.com");
	store_cert(db, 0x63, 2000000000, "c.example.com.au", NULL);
	store_cert(db, 0x64, 2000000000, "d.sub.example.com", NULL);
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_count(txn, DB_BY_RNAME), 6); /* one reversed entry per name */
	assert_int_equal(db_count(txn, DB_BY_NAME), 6);
	db_txn_end(txn);
	for (pass = 0; pass < 2; pass++) {
		assert_int_equal(db_read_begin(db, &txn), 0);
		s.n = 0;
		assert_int_equal(db_certs_by_name(txn, ".EXAMPLE.com", collect, &s), 0);
		assert_int_equal(s.n, 2); /* not example.com itself, xexample.com, nor .com.au */
		assert_int_equal(s.first[0], 0x61);
		assert_int_equal(s.first[1], 0x64);
		s.n = 0;
		assert_int_equal(db_certs_by_name(txn, ".sub.example.com", collect, &s), 0);
		assert_int_equal(s.n, 1);
		assert_int_equal(s.first[0], 0x64);
		s.n = 0;
		assert_int_equal(db_certs_by_name(txn, ".au", collect, &s), 0);
		assert_int_equal(s.n, 1);
		assert_int_equal(s.first[0], 0x63);
		s.n = 0;
		assert_int_equal(db_certs_by_name(txn, ".net", collect, &s), 0);
		assert_int_equal(s.n, 0);
		db_txn_end(txn);
		if (pass == 0)
			assert_int_equal(db_write(db, drop_rname_marker, NULL, NULL), 0);
	}
	db_close(db);
}


struct keys {
	uint8_t (*k)[64];
	size_t *l;
	size_t *n;
};

static int req_key_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct keys *acc = arg;
	(void)val;
	(void)vlen;

	if (*acc->n == 16 || klen > 64)
		return CAIRN_EINVAL;
	memcpy(acc->k[*acc->n], key, klen);
	acc->l[(*acc->n)++] = klen;
	return 0;
}

/* An older database: no by_requester entries and no meta marker. */
static int drop_requester_index(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	uint8_t keys[16][64];
	size_t lens[16], n = 0, i;
	struct keys acc = { keys, lens, &n };
	int rc;
	(void)arg;
	(void)err;

	rc = db_iterate(txn, DB_BY_REQUESTER, NULL, 0, req_key_cb, &acc);
	for (i = 0; rc == 0 && i < n; i++)
		rc = db_del(txn, DB_BY_REQUESTER, keys[i], lens[i]);
	return rc != 0 ? rc : db_del(txn, DB_META, "by_requester", 12);
}

/* Pages of 3 of one requester's certificates (through the cursor text); the walk counts. */
static size_t requester_pages(db_t *db, const char *who, struct page *p, uint64_t *walked)
{
	db_txn_t *txn;
	char *text;
	size_t pages = 0;
	uint64_t w0 = db_walked(db);

	memset(p, 0, sizeof(*p));
	for (;;) {
		p->in_page = 0;
		p->more = 0;
		assert_int_equal(db_read_begin(db, &txn), 0);
		assert_true(db_certs_by_requester_at(txn, who, &p->pos, page_cb, p) >= 0);
		db_txn_end(txn);
		pages++;
		if (!p->more)
			break;
		text = db_cursor_text(&p->last, 'r');
		assert_non_null(text);
		assert_int_equal(db_cursor_parse(text, 'r', &p->pos), 0);
		free(text);
		assert_true(pages < 20);
	}
	*walked = db_walked(db) - w0;
	return pages;
}

/* by_requester: one requester's certificates in serial order, a page costing its rows;
 * an older database answers the same by a walk of everything until db_requester_build,
 * batch by batch, has indexed every certificate — and a cursor taken before the end of
 * the build goes on after it. */
static void test_by_requester(void **state)
{
	db_t *db = open_db(*state);
	struct page p;
	uint64_t walked = 0;
	db_txn_t *txn;
	int done = 0, steps = 0;
	uint8_t b;

	/* make_cert's requester is "acme:acct/<serial byte>": 7 of requester 0x40, 5 others */
	for (b = 0x10; b < 0x1c; b++) {
		struct cert_op op = { .n_names = 0 };
		cairn_err_t err = { 0 };
		make_cert(&op.cert, b, 2000000000 + b);
		if (b % 2 == 0 || b == 0x11 || b == 0x1b)
			snprintf(op.cert.requester, sizeof(op.cert.requester), "acme:acct/64");
		assert_int_equal(db_write(db, put_cert, &op, &err), 0);
	}
	assert_int_equal(requester_pages(db, "acme:acct/64", &p, &walked), 3);
	assert_int_equal(p.n, 8);
	assert_int_equal(p.got[0], 0x10);
	assert_int_equal(p.got[1], 0x11);
	assert_int_equal(p.got[7], 0x1b);
	/* 8 rows, the entry past the range, and each resumed-at key and "more" row again */
	assert_true(walked <= 8 + 1 + 2 * 2);
	assert_int_equal(requester_pages(db, "acme:acct/6", &p, &walked), 1);
	assert_int_equal(p.n, 0); /* a prefix of a requester is not that requester */

	assert_int_equal(db_write(db, drop_requester_index, NULL, NULL), 0);
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_count(txn, DB_BY_REQUESTER), 0);
	db_txn_end(txn);
	assert_int_equal(requester_pages(db, "acme:acct/64", &p, &walked), 3);
	assert_int_equal(p.n, 8); /* the same answer by the walk of everything */
	assert_int_equal(p.got[7], 0x1b);
	assert_true(walked >= 12);
	/* a first page before the build, the rest after it */
	memset(&p, 0, sizeof(p));
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_certs_by_requester_at(txn, "acme:acct/64", &p.pos, page_cb, &p), 1);
	db_txn_end(txn);
	while (!done) {
		assert_int_equal(db_requester_build(db, 5, &done, NULL), 0);
		assert_true(++steps < 10);
	}
	assert_int_equal(steps, 3); /* 5 + 5 + 2, the last one reaching the end */
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_count(txn, DB_BY_REQUESTER), 12);
	p.pos = p.last;
	p.in_page = 0;
	p.more = 0;
	assert_int_equal(db_certs_by_requester_at(txn, "acme:acct/64", &p.pos, page_cb, &p), 1);
	db_txn_end(txn);
	assert_int_equal(p.n, 6);
	assert_int_equal(p.got[3], 0x14); /* 0x10 0x11 0x12 | 0x14 ... in serial order */
	assert_int_equal(db_requester_build(db, 5, &done, NULL), 0);
	assert_int_equal(done, 1);
	assert_int_equal(requester_pages(db, "acme:acct/64", &p, &walked), 3);
	assert_int_equal(p.n, 8);
	assert_true(walked <= 8 + 1 + 2 * 2);
	db_close(db);
}

/* db_walk: the keys a batch takes, in order, and where the next one starts. */
struct walk_seen {
	char keys[16][8];
	size_t n, stop_after; /* stop_after > 0: fn ends the batch after that many keys */
};

static int walk_seen_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct walk_seen *s = arg;
	(void)val;
	(void)vlen;

	assert_true(klen < sizeof(s->keys[0]) && s->n < 16);
	memcpy(s->keys[s->n], key, klen);
	s->keys[s->n][klen] = '\0';
	s->n++;
	return s->stop_after > 0 && s->n % s->stop_after == 0 ? 1 : 0;
}

static int walk_delete(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	(void)err;
	return db_del(txn, DB_OCSP, arg, strlen(arg));
}

/* One table walked both ways: keys of the wrong length passed over or refused; a batch
 * ended by its size (before the key past it) or by the callback (after the key); a key
 * removed between batches does not lose the place. */
static void test_walk(void **state)
{
	static const char *const keys[] = { "aa", "bb", "c", "dd", "ee", "ffffffff" };
	db_t *db = open_db(*state);
	struct walk_seen s = { .n = 0 };
	db_walk_t w;
	db_txn_t *txn;
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		write_kv(db, DB_OCSP, keys[i], "v");
	/* skip bad keys (lengths 2..4 taken), the callback ends a batch after 2 */
	w = (db_walk_t){ .min_len = 2, .max_len = 4 };
	s.stop_after = 2;
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_walk_batch(txn, DB_OCSP, &w, walk_seen_cb, &s), 1);
	db_txn_end(txn);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.keys[1], "bb");
	assert_int_equal(w.last_len, 2);
	assert_memory_equal(w.last, "bb", 2);
	/* "dd" goes between the batches: the walk goes on after "bb" all the same */
	assert_int_equal(db_write(db, walk_delete, (void *)"dd", NULL), 0);
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_walk_batch(txn, DB_OCSP, &w, walk_seen_cb, &s), 0);
	db_txn_end(txn);
	assert_int_equal(s.n, 3); /* "c" and "ffffffff" passed over */
	assert_string_equal(s.keys[2], "ee");

	/* refuse bad keys, batches of 1 by size: the key past the batch is not taken */
	memset(&s, 0, sizeof(s));
	w = (db_walk_t){ .min_len = 2, .max_len = 4, .refuse_bad = 1, .batch = 1 };
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_walk_batch(txn, DB_OCSP, &w, walk_seen_cb, &s), 1);
	assert_int_equal(db_walk_batch(txn, DB_OCSP, &w, walk_seen_cb, &s), 1);
	assert_int_equal(s.n, 2);
	assert_int_equal(w.n, 1);
	assert_string_equal(s.keys[1], "bb");
	assert_int_equal(db_walk_batch(txn, DB_OCSP, &w, walk_seen_cb, &s), CAIRN_EDB); /* "c" */
	/* resuming at a position kept elsewhere */
	memset(&s, 0, sizeof(s));
	assert_int_equal(db_walk_resume(&w, "c", 1), 0);
	assert_int_equal(db_walk_batch(txn, DB_OCSP, &w, walk_seen_cb, &s), 1);
	assert_string_equal(s.keys[0], "ee");
	assert_int_equal(db_walk_batch(txn, DB_OCSP, &w, walk_seen_cb, &s), CAIRN_EDB);
	{ /* a position longer than any key */
		char too_long[DB_WALK_KEY_MAX + 1];
		memset(too_long, 'k', sizeof(too_long));
		assert_int_equal(db_walk_resume(&w, too_long, sizeof(too_long)), CAIRN_EINVAL);
		assert_int_equal(db_walk_resume(&w, too_long, DB_WALK_KEY_MAX), 0);
	}
	db_txn_end(txn);
	db_close(db);
}

struct revoke_op {
	uint8_t serial[16];
	int64_t when;
	int reason;
};

static int revoke_fn(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct revoke_op *r = arg;
	(void)err;
	return db_cert_revoke(txn, r->serial, sizeof(r->serial), r->when, r->reason);
}

static int collect_revoked(const uint8_t *serial, size_t len, int64_t when, int reason,
			   void *arg)
{
	struct seen *s = arg;

	assert_int_equal(len, 16);
	s->not_after[s->n] = when + reason;
	s->first[s->n++] = serial[1];
	return 0;
}

static void test_revoke(void **state)
{
	db_t *db = open_db(*state);
	struct revoke_op r = { .when = 1700000000, .reason = 1 };
	struct seen s = { .n = 0 };
	db_cert_t c;
	db_txn_t *txn;

	store_cert(db, 0x61, 2000000000, NULL, NULL);
	store_cert(db, 0x62, 2000000000, NULL, NULL);
	make_cert(&c, 0x61, 0);
	memcpy(r.serial, c.serial, 16);
	assert_int_equal(db_write(db, revoke_fn, &r, NULL), 0);
	assert_int_equal(db_write(db, revoke_fn, &r, NULL), CAIRN_EEXIST);
	r.reason = 7;
	assert_int_equal(db_write(db, revoke_fn, &r, NULL), CAIRN_EINVAL);
	memset(r.serial, 0x01, 16);
	r.reason = 0;
	assert_int_equal(db_write(db, revoke_fn, &r, NULL), CAIRN_ENOENT);

	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_cert_get(txn, c.serial, 16, &c), 0);
	assert_int_equal(c.status, DB_CERT_REVOKED);
	assert_int_equal(c.revoked_at, 1700000000);
	assert_int_equal(c.reason, 1);
	assert_int_equal(c.der_len, 5);
	assert_int_equal(db_revoked_by_issuer(txn, "issuing", collect_revoked, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.first[0], 0x61);
	assert_int_equal(s.not_after[0], 1700000001);
	s.n = 0;
	assert_int_equal(db_revoked_by_issuer(txn, "root", collect_revoked, &s), 0);
	assert_int_equal(s.n, 0);
	db_txn_end(txn);
	db_close(db);
}

static int hold_fn(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct revoke_op *r = arg;
	(void)err;
	if (r->reason == 8)
		return db_cert_unhold(txn, r->serial, sizeof(r->serial), r->when + 100);
	return db_cert_revoke_ex(txn, r->serial, sizeof(r->serial), r->when, r->reason, 1600000000);
}

static int collect_revocation(const db_revocation_t *rv, void *arg)
{
	db_revocation_t *out = arg;

	*out = *rv;
	out->serial = NULL;
	return 0;
}

/* Invalidity date and notAfter in the revoked index; a released hold becomes removeFromCRL. */
static void test_hold_and_details(void **state)
{
	db_t *db = open_db(*state);
	struct revoke_op r = { .when = 1700000000, .reason = 6 };
	db_revocation_t rv = { 0 };
	db_cert_t c;
	db_txn_t *txn;
	int64_t when = -1;
	int reason = -1;

	store_cert(db, 0x71, 2000000000, NULL, NULL);
	make_cert(&c, 0x71, 0);
	memcpy(r.serial, c.serial, 16);
	assert_int_equal(db_read_begin(db, &txn), 0); /* valid, never revoked: no entry */
	assert_int_equal(db_revoked_get(txn, "issuing", c.serial, 16, &when, &reason),
			 CAIRN_ENOENT);
	assert_int_equal(db_revoked_get(txn, "", c.serial, 16, &when, &reason), CAIRN_EINVAL);
	assert_int_equal(db_revoked_get(txn, "issuing", c.serial, 0, &when, &reason),
			 CAIRN_EINVAL);
	assert_int_equal(db_revoked_get(txn, "issuing", c.serial, 21, &when, &reason),
			 CAIRN_EINVAL);
	db_txn_end(txn);
	r.reason = 8;
	assert_int_equal(db_write(db, hold_fn, &r, NULL), CAIRN_EINVAL); /* not on hold */
	r.reason = 6;
	assert_int_equal(db_write(db, hold_fn, &r, NULL), 0);
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_revocations(txn, "issuing", collect_revocation, &rv), 0);
	assert_int_equal(rv.revoked_at, 1700000000);
	assert_int_equal(rv.reason, 6);
	assert_int_equal(rv.invalidity_date, 1600000000);
	assert_int_equal(rv.not_after, 2000000000);
	/* One entry read by key says what the walk says, for its issuer only. */
	assert_int_equal(db_revoked_get(txn, "issuing", c.serial, 16, &when, &reason), 0);
	assert_int_equal(when, 1700000000);
	assert_int_equal(reason, 6);
	assert_int_equal(db_revoked_get(txn, "root", c.serial, 16, &when, &reason), CAIRN_ENOENT);
	db_txn_end(txn);
	r.reason = 8;
	assert_int_equal(db_write(db, hold_fn, &r, NULL), 0);
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_cert_get(txn, c.serial, 16, &c), 0);
	assert_int_equal(c.status, DB_CERT_VALID);
	assert_int_equal(c.reason, -1);
	assert_int_equal(c.revoked_at, 0);
	memset(&rv, 0, sizeof(rv));
	/* The index keeps a removeFromCRL entry (for delta CRLs) at the release time. */
	assert_int_equal(db_revocations(txn, "issuing", collect_revocation, &rv), 0);
	assert_int_equal(rv.reason, 8);
	assert_int_equal(rv.revoked_at, 1700000100);
	assert_int_equal(rv.invalidity_date, 0);
	assert_int_equal(db_revoked_get(txn, "issuing", r.serial, 16, &when, &reason), 0);
	assert_int_equal(when, 1700000100);
	assert_int_equal(reason, 8);
	db_txn_end(txn);
	db_close(db);
}

/* ---- write errors and misuse ---- */

static int failing_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	(void)arg;
	if (db_put(txn, DB_META, "never", 5, "x", 1, 0) != 0)
		return CAIRN_EDB;
	return cairn_err_set(err, CAIRN_EDENIED, "no way");
}

static int nested_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	(void)txn;
	return db_write(arg, failing_op, NULL, err);
}

static void *end_txn_thread(void *arg)
{
	db_txn_end(arg);
	return NULL;
}

static void test_write_errors(void **state)
{
	db_t *db = open_db(*state);
	cairn_err_t err = { 0 };
	db_txn_t *txn;
	pthread_t t;
	char big[600];

	assert_int_equal(db_write(db, failing_op, NULL, &err), CAIRN_EDENIED);
	assert_string_equal(err.msg, "no way");
	assert_null(read_kv(db, DB_META, "never"));
	assert_int_equal(db_write(db, nested_op, db, &err), CAIRN_EINVAL);
	memset(big, 'k', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	{
		struct kv kv = { DB_META, big, "v", 1 };
		assert_int_equal(db_write(db, put_kv, &kv, &err), CAIRN_ETOOBIG);
	}
	/* MDB_NOTLS: a read txn may end on another thread */
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(pthread_create(&t, NULL, end_txn_thread, txn), 0);
	pthread_join(t, NULL);
	db_close(db);
}

/* ---- group commit under concurrency ---- */

#define N_THREADS 8
#define N_PER_THREAD 200

struct worker {
	db_t *db;
	int id;
	int failures;
	int own;       /* ops of this worker committed on its own thread */
};

static __thread int this_worker = -1; /* the worker id of the running thread */

struct kv_on {
	struct kv kv;
	int ran_on; /* this_worker of the thread the op ran on */
};

static int put_kv_on(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct kv_on *k = arg;

	k->ran_on = this_worker;
	return put_kv(txn, &k->kv, err);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char key[32], val[32];
	int i;

	this_worker = w->id;
	for (i = 0; i < N_PER_THREAD; i++) {
		struct kv_on k = { { DB_REQUESTS, key, val, 0 }, -1 };
		snprintf(key, sizeof(key), "t%d-%03d", w->id, i);
		snprintf(val, sizeof(val), "v%d", i);
		k.kv.vlen = strlen(val);
		if (db_write(w->db, put_kv_on, &k, NULL) != 0)
			w->failures++;
		else if (k.ran_on == w->id)
			w->own++;
	}
	return NULL;
}

/* Read txns are reused (reset, then renewed): a renewed one sees what was committed
 * after the reset, several open at once each get their own, and a map resize with kept
 * txns around works. */
static void test_read_txn_reuse(void **state)
{
	db_t *db = open_db(*state);
	db_txn_t *a, *b;
	const void *v;
	size_t vlen;
	uint64_t r0;
	char *got;

	write_kv(db, DB_META, "k", "one");
	got = read_kv(db, DB_META, "k"); /* leaves one reset txn behind */
	assert_string_equal(got, "one");
	free(got);
	r0 = db_read_renewed(db);
	write_kv(db, DB_META, "k", "two");
	got = read_kv(db, DB_META, "k");
	assert_string_equal(got, "two"); /* the renewed txn has the new snapshot */
	free(got);
	assert_true(db_read_renewed(db) == r0 + 1);

	/* Two at once: one renewed, one new; each its own snapshot. */
	assert_int_equal(db_read_begin(db, &a), 0);
	assert_int_equal(db_read_begin(db, &b), 0);
	assert_true(a != b);
	write_kv(db, DB_META, "k", "three"); /* a and b keep their snapshot */
	assert_int_equal(db_get(a, DB_META, "k", 1, &v, &vlen), 0);
	assert_memory_equal(v, "two", 3);
	db_txn_end(a);
	assert_int_equal(db_get(b, DB_META, "k", 1, &v, &vlen), 0);
	assert_memory_equal(v, "two", 3);
	db_txn_end(b);
	got = read_kv(db, DB_META, "k");
	assert_string_equal(got, "three");
	free(got);
	db_close(db); /* the kept txns are aborted before the env closes */
}

static void test_concurrent_group_commit(void **state)
{
	const char *dir = *state;
	db_t *db = open_db(dir);
	struct worker w[N_THREADS];
	pthread_t t[N_THREADS];
	uint64_t commits, ops;
	db_txn_t *txn;
	char *v;
	int i, own;

	for (i = 0; i < N_THREADS; i++) {
		w[i] = (struct worker){ db, i, 0, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (i = 0, own = 0; i < N_THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
		own += w[i].own;
	}
	db_stats(db, &commits, &ops, NULL);
	print_message("# %llu ops in %llu commits (%.1f ops/commit)\n", (unsigned long long)ops,
		      (unsigned long long)commits, (double)ops / (double)commits);
	assert_int_equal(ops, N_THREADS * N_PER_THREAD);
	assert_true(commits < ops); /* batching happened */
	/* the first write at least found nobody committing and committed on its own thread */
	print_message("# %d ops committed on their callers' own threads\n", own);
	assert_true(own > 0);
	db_close(db);

	db = open_db(dir);
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_count(txn, DB_REQUESTS), N_THREADS * N_PER_THREAD);
	db_txn_end(txn);
	v = read_kv(db, DB_REQUESTS, "t7-199");
	assert_string_equal(v, "v199");
	free(v);
	db_close(db);
}

/* ---- who commits: the caller when nobody else is, then the first caller queued ---- */

struct where {
	db_t *db;
	const char *key;
	struct gate *hold; /* when set, the op holds its batch until released */
	pthread_t ran_on;  /* the thread the op last ran on */
	int nested_rc;     /* what a db_write from inside the op returned */
};

struct caller {
	struct where w;
	pthread_t self;
	int rc;
};

static int noop_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	(void)txn;
	(void)arg;
	(void)err;
	return 0;
}

static int where_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct where *w = arg;

	(void)err;
	w->ran_on = pthread_self();
	w->nested_rc = db_write(w->db, noop_op, NULL, NULL);
	if (w->hold != NULL) {
		pthread_mutex_lock(&w->hold->mu);
		w->hold->started = 1;
		pthread_cond_broadcast(&w->hold->cv);
		while (!w->hold->release)
			pthread_cond_wait(&w->hold->cv, &w->hold->mu);
		pthread_mutex_unlock(&w->hold->mu);
	}
	return db_put(txn, DB_META, w->key, strlen(w->key), "1", 1, 0);
}

static void *caller_main(void *arg)
{
	struct caller *c = arg;

	c->self = pthread_self();
	c->rc = db_write(c->w.db, where_op, &c->w, NULL);
	return NULL;
}

static unsigned queued_writes(db_t *db)
{
	unsigned n;

	pthread_mutex_lock(&db->q_mu);
	n = db->q_urgent;
	pthread_mutex_unlock(&db->q_mu);
	return n;
}

/*
 * A db_write that finds nobody committing and the writer idle runs on the caller's own
 * thread (no hand-off to the writer thread and back); callers that queue during a commit form one batch
 * together; a db_write from inside an op is refused wherever the op runs (it would wait
 * for its own commit).
 */
static void test_caller_commits(void **state)
{
	db_t *db = open_db(*state);
	struct gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct caller a = { { db, "lead-a", &g, 0, 0 }, 0, -1 };
	struct caller b = { { db, "lead-b", NULL, 0, 0 }, 0, -1 };
	struct caller c = { { db, "lead-c", NULL, 0, 0 }, 0, -1 };
	struct where alone = { db, "alone", NULL, 0, 0 };
	pthread_t ta, tb, tc;
	uint64_t c0, c1, o0, o1;
	char *v;
	int i;

	db_stats(db, &c0, &o0, NULL);
	assert_int_equal(db_write(db, where_op, &alone, NULL), 0);
	db_stats(db, &c1, &o1, NULL);
	assert_true(pthread_equal(alone.ran_on, pthread_self()));
	assert_int_equal(alone.nested_rc, CAIRN_EINVAL);
	assert_int_equal(c1 - c0, 1);
	v = read_kv(db, DB_META, "alone");
	assert_non_null(v);
	free(v);

	/* a's op holds its batch while b and c queue behind it */
	db_stats(db, &c0, &o0, NULL);
	assert_int_equal(pthread_create(&ta, NULL, caller_main, &a), 0);
	gate_wait_started(&g);
	assert_int_equal(pthread_create(&tb, NULL, caller_main, &b), 0);
	assert_int_equal(pthread_create(&tc, NULL, caller_main, &c), 0);
	for (i = 0; i < 10000 && queued_writes(db) < 2; i++)
		usleep(1000);
	assert_int_equal(queued_writes(db), 2);
	gate_release(&g);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_join(tc, NULL);
	db_stats(db, &c1, &o1, NULL);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	assert_int_equal(c.rc, 0);
	assert_true(pthread_equal(a.w.ran_on, a.self));
	assert_int_equal(a.w.nested_rc, CAIRN_EINVAL);
	assert_int_equal(b.w.nested_rc, CAIRN_EINVAL);
	/* b and c queued during a's commit: they join a's batch (its late rounds) or form the
	 * next one, committed by the writer thread; neither commits on its own */
	assert_true(pthread_equal(b.w.ran_on, c.w.ran_on));
	assert_false(pthread_equal(b.w.ran_on, b.self));
	assert_false(pthread_equal(b.w.ran_on, c.self));
	assert_int_equal(o1 - o0, 3);
	assert_true(c1 - c0 <= 2);
	v = read_kv(db, DB_META, "lead-c");
	assert_non_null(v);
	free(v);
	db_close(db);
}

/* A background write whose wait ran out is committed by the writer; an ordinary write
 * queued while its op runs joins that batch late: one commit, and not a lone one. */
static void test_background_joined_late(void **state)
{
	db_t *db = open_db(*state);
	struct gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct where held = { db, "bg-held", &g, 0, 0 };
	struct kv client = { DB_META, "client-late", "c", 1 };
	struct call bg = { db, where_op, &held, -1, { 0 } }, cl = { db, put_kv, &client, -1, { 0 } };
	pthread_t tb, tc;
	uint64_t c0, c1, l0, l1;
	char *v;
	int i;

	db_stats(db, &c0, NULL, &l0);
	assert_int_equal(pthread_create(&tb, NULL, background_thread, &bg), 0);
	gate_wait_started(&g); /* the writer runs the background op after its 200 ms */
	assert_int_equal(pthread_create(&tc, NULL, call_thread, &cl), 0);
	for (i = 0; i < 10000 && queued_writes(db) == 0; i++)
		usleep(1000);
	assert_int_equal(queued_writes(db), 1);
	gate_release(&g);
	pthread_join(tb, NULL);
	pthread_join(tc, NULL);
	assert_int_equal(bg.rc, 0);
	assert_int_equal(cl.rc, 0);
	db_stats(db, &c1, NULL, &l1);
	assert_int_equal(c1 - c0, 1);
	assert_int_equal(l1, l0);
	v = read_kv(db, DB_META, "client-late");
	assert_non_null(v);
	free(v);
	v = read_kv(db, DB_META, "bg-held");
	assert_non_null(v);
	free(v);
	db_close(db);
}

/* db_backup: a compacted copy of one snapshot while writers go on; never over a file. */
static void test_backup(void **state)
{
	const char *dir = *state;
	char *src, *copy, *file;
	db_t *db, *cp;
	struct worker w = { NULL, 1, 0, 0 };
	pthread_t t;
	db_txn_t *txn;
	struct stat st;
	cairn_err_t err = { 0 };
	char *v, key[32];
	size_t i, n;

	assert_true(asprintf(&src, "%s/src", dir) > 0 && asprintf(&copy, "%s/copy", dir) > 0 &&
		    asprintf(&file, "%s/copy/data.mdb", dir) > 0);
	db = open_db(src);
	write_kv(db, DB_META, "before", "yes");
	w.db = db;
	assert_int_equal(pthread_create(&t, NULL, worker_main, &w), 0);
	assert_int_equal(mkdir(copy, 0700), 0);
	assert_int_equal(db_backup(db, file, &err), 0);
	assert_int_equal(db_backup(db, file, &err), CAIRN_EIO); /* exists: refused */
	pthread_join(t, NULL);
	assert_int_equal(w.failures, 0);
	db_close(db);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	cp = open_db(copy);
	v = read_kv(cp, DB_META, "before");
	assert_non_null(v);
	free(v);
	/* One snapshot: the worker's keys, written in order, are a gapless prefix. */
	assert_int_equal(db_read_begin(cp, &txn), 0);
	n = db_count(txn, DB_REQUESTS);
	for (i = 0; i < n; i++) {
		const void *val;
		size_t vlen;
		snprintf(key, sizeof(key), "t1-%03zu", i);
		assert_int_equal(db_get(txn, DB_REQUESTS, key, strlen(key), &val, &vlen), 0);
	}
	db_txn_end(txn);
	db_close(cp);
	free(src);
	free(copy);
	free(file);
}

/* ---- map growth ---- */

#define BLOB 16384

struct blob_worker {
	db_t *db;
	int id, n;
	int failures;
	char *blob;
};

static void *blob_main(void *arg)
{
	struct blob_worker *w = arg;
	char key[32];
	int i;

	for (i = 0; i < w->n; i++) {
		struct kv kv = { DB_OCSP, key, w->blob, BLOB };
		snprintf(key, sizeof(key), "b%d-%03d", w->id, i);
		if (db_write(w->db, put_kv, &kv, NULL) != 0)
			w->failures++;
	}
	return NULL;
}

static void test_map_growth(void **state)
{
	const char *dir = *state;
	struct blob_worker w[4];
	pthread_t t[4];
	size_t initial;
	db_t *db;
	db_txn_t *txn;
	char *blob = malloc(BLOB);
	int i;

	memset(blob, 'z', BLOB);
	setenv("CAIRN_DB_MAPSIZE", "256K", 1);
	db = open_db(dir);
	unsetenv("CAIRN_DB_MAPSIZE");
	initial = db_map_size(db);
	assert_true(initial <= 512 * 1024);
	/* 4 x 50 x 16 KiB = 3.2 MiB of values into a 256 KiB map, batched concurrently */
	for (i = 0; i < 4; i++) {
		w[i] = (struct blob_worker){ db, i, 50, 0, blob };
		assert_int_equal(pthread_create(&t[i], NULL, blob_main, &w[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	print_message("# map grew %llu times: %zu -> %zu bytes\n",
		      (unsigned long long)db_map_grows(db), initial, db_map_size(db));
	assert_true(db_map_grows(db) >= 3);
	assert_true(db_map_size(db) >= 8 * initial);
	db_close(db);

	db = open_db(dir);
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_count(txn, DB_OCSP), 200);
	{
		const void *v;
		size_t vlen;
		assert_int_equal(db_get(txn, DB_OCSP, "b3-049", 6, &v, &vlen), 0);
		assert_int_equal(vlen, BLOB);
		assert_memory_equal(v, blob, BLOB);
	}
	db_txn_end(txn);
	db_close(db);
	free(blob);
}

/* ---- counters (stats table) ---- */

struct count_seen {
	int64_t valid, revoked, expired;
	int rows;
};

static int count_collect(const db_cert_count_t *c, void *arg)
{
	struct count_seen *s = arg;

	assert_string_equal(c->profile, "tls-server");
	s->valid = c->valid;
	s->revoked = c->revoked;
	s->expired = c->expired;
	s->rows++;
	return 0;
}

/* Counts at now; checks the three values and how many by_expiry entries were walked. */
static void expect_counts(db_t *db, int64_t now, int64_t valid, int64_t revoked,
			  int64_t expired, size_t walked)
{
	struct count_seen s = { 0 };
	db_txn_t *txn;
	size_t w = 99;

	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_cert_counts(txn, now, count_collect, &s, &w), 0);
	db_txn_end(txn);
	assert_int_equal(s.rows, 1);
	assert_int_equal(s.valid, valid);
	assert_int_equal(s.revoked, revoked);
	assert_int_equal(s.expired, expired);
	assert_int_equal(w, walked);
}

static int advance_fn(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	(void)err;
	return db_cert_counts_advance(txn, *(int64_t *)arg);
}

static int unhold_fn(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct revoke_op *r = arg;
	(void)err;
	return db_cert_unhold(txn, r->serial, sizeof(r->serial), r->when);
}

/* An older database: counters half-made by a binary without them, no "version". */
static int spoil_fn(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	const char *p[1] = { "tls-server" };
	(void)arg;
	(void)err;
	assert_int_equal(db_counter_add(txn, "certs", p, 1, 100), 0);
	return db_del(txn, DB_STATS, "version", 7);
}

static void test_cert_counts(void **state)
{
	const int64_t T = 4000000000; /* far past the real clock: nothing expired at open */
	db_t *db = open_db(*state);
	struct revoke_op r = { .when = T, .reason = 1 };
	const char *l[2] = { "unknown", "tls-server" };
	db_cert_t c;
	db_txn_t *txn;
	int64_t now = T + 250, v;

	store_cert(db, 0x71, T + 100, NULL, NULL);
	store_cert(db, 0x72, T + 200, NULL, NULL);
	store_cert(db, 0x73, T + 300, NULL, NULL);
	expect_counts(db, T, 3, 0, 0, 0);
	/* Two expired since the horizon: found by walking just those two index entries. */
	expect_counts(db, T + 250, 1, 0, 2, 2);
	assert_int_equal(db_write(db, advance_fn, &now, NULL), 0);
	expect_counts(db, T + 250, 1, 0, 2, 0);
	/* Revoking an expired certificate moves it from expired to revoked. */
	make_cert(&c, 0x71, 0);
	memcpy(r.serial, c.serial, 16);
	assert_int_equal(db_write(db, revoke_fn, &r, NULL), 0);
	expect_counts(db, T + 250, 1, 1, 1, 0);
	/* The clock set back: the walk runs the other way and un-expires 0x72. */
	expect_counts(db, T, 2, 1, 0, 2);
	/* A hold released is valid again. */
	make_cert(&c, 0x73, 0);
	memcpy(r.serial, c.serial, 16);
	r.reason = 6;
	assert_int_equal(db_write(db, revoke_fn, &r, NULL), 0);
	expect_counts(db, T + 250, 0, 2, 1, 0);
	assert_int_equal(db_write(db, unhold_fn, &r, NULL), 0);
	expect_counts(db, T + 250, 1, 1, 1, 0);
	/* Revocations counted by reason, holds included (a revocation happened). */
	assert_int_equal(db_read_begin(db, &txn), 0);
	l[0] = "1";
	assert_int_equal(db_counter_get(txn, "revocations", l, 1, &v), 0);
	assert_int_equal(v, 1);
	l[0] = "6";
	assert_int_equal(db_counter_get(txn, "revocations", l, 1, &v), 0);
	assert_int_equal(v, 1);
	db_txn_end(txn);

	/* Issued while the horizon is ahead of the clock (a daemon ran with the clock moved
	 * forward): counted expired at the horizon, un-expired by the walk back to now. */
	store_cert(db, 0x74, T + 150, NULL, NULL);
	expect_counts(db, T, 3, 1, 0, 3);
	expect_counts(db, T + 250, 1, 1, 2, 0);

	/* An older database is rebuilt on open: garbage gone, counts exact. */
	assert_int_equal(db_write(db, spoil_fn, NULL, NULL), 0);
	db_close(db);
	db = open_db(*state);
	expect_counts(db, T + 250, 1, 1, 2, 3);
	assert_int_equal(db_read_begin(db, &txn), 0);
	l[0] = "unknown";
	assert_int_equal(db_counter_get(txn, "issued", l, 2, &v), 0);
	assert_int_equal(v, 4);
	db_txn_end(txn);
	db_close(db);
}

static void expect_days(db_t *db, const char *what, int64_t now, const int64_t *want, size_t n)
{
	int64_t got[8];
	db_txn_t *txn;
	size_t i;

	assert_true(n <= 8);
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_cert_expiry_days(txn, now, n, got), 0);
	db_txn_end(txn);
	for (i = 0; i < n; i++)
		if (got[i] != want[i])
			fail_msg("%s: day %zu: %lld, not %lld", what, i, (long long)got[i], (long long)want[i]);
}

/* A version-1 stats table: no expiry_day family yet. */
struct day_list {
	char day[16][16];
	int64_t n[16];
	size_t count;
};

static int list_day(const char *const *labels, size_t n, int64_t v, void *arg)
{
	struct day_list *d = arg;

	assert_int_equal(n, 1);
	assert_true(d->count < 16);
	snprintf(d->day[d->count], sizeof(d->day[0]), "%s", labels[0]);
	d->n[d->count++] = v;
	return 0;
}

static int drop_days_fn(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct day_list d = { .count = 0 };
	size_t i;
	(void)arg;
	(void)err;
	assert_int_equal(db_counters(txn, "expiry_day", list_day, &d), 0);
	for (i = 0; i < d.count; i++) {
		const char *l[1] = { d.day[i] };
		assert_int_equal(db_counter_add(txn, "expiry_day", l, 1, -d.n[i]), 0);
	}
	assert_int_equal(db_counter_add(txn, "version", NULL, 0, -1), 0);
	return 0;
}

static void test_expiry_days(void **state)
{
	const int64_t D = 86400, M = 4000000000 - 4000000000 % 86400; /* a UTC midnight */
	const int64_t now = M + 10 * 3600;
	db_t *db = open_db(*state);
	struct revoke_op r = { .when = now, .reason = 4 };
	db_cert_t c;
	db_txn_t *txn;
	int64_t v;
	const char *l[2] = { "unknown", "tls-server" };

	store_cert(db, 0x81, now - 3600, NULL, NULL);      /* expired earlier today */
	store_cert(db, 0x82, now + 3600, NULL, NULL);      /* later today */
	store_cert(db, 0x83, M + D + 5, NULL, NULL);       /* tomorrow */
	store_cert(db, 0x84, M + D + D - 1, NULL, NULL);   /* tomorrow, last second */
	store_cert(db, 0x85, M + 3 * D, NULL, NULL);       /* in 3 days */
	store_cert(db, 0x86, M + 3 * D + 7, NULL, NULL);   /* in 3 days, revoked below */
	store_cert(db, 0x87, M + 9 * D, NULL, NULL);       /* past the window asked */
	{
		const int64_t want[5] = { 1, 2, 0, 2, 0 };
		expect_days(db, "stored", now, want, 5);
	}
	make_cert(&c, 0x86, 0);
	memcpy(r.serial, c.serial, 16);
	assert_int_equal(db_write(db, revoke_fn, &r, NULL), 0);
	{
		const int64_t want[5] = { 1, 2, 0, 1, 0 };
		expect_days(db, "0x86 revoked", now, want, 5);
	}
	/* A released hold counts again. */
	r.reason = 6;
	make_cert(&c, 0x85, 0);
	memcpy(r.serial, c.serial, 16);
	assert_int_equal(db_write(db, revoke_fn, &r, NULL), 0);
	{
		const int64_t want[5] = { 1, 2, 0, 0, 0 };
		expect_days(db, "0x85 on hold", now, want, 5);
	}
	assert_int_equal(db_write(db, unhold_fn, &r, NULL), 0);
	{
		const int64_t want[5] = { 1, 2, 0, 1, 0 };
		expect_days(db, "0x85 released", now, want, 5);
	}
	/* A table of version 1 gets the family on open, and keeps what the records lack. */
	assert_int_equal(db_write(db, drop_days_fn, NULL, NULL), 0);
	{
		const int64_t want[5] = { 1, 0, 0, 0, 0 };
		expect_days(db, "version 1", now, want, 5);
	}
	db_close(db);
	db = open_db(*state);
	{
		const int64_t want[5] = { 1, 2, 0, 1, 0 };
		expect_days(db, "rebuilt", now, want, 5);
	}
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_counter_get(txn, "version", NULL, 0, &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(db_counter_get(txn, "issued", l, 2, &v), 0);
	assert_int_equal(v, 0); /* put_cert counts no issuance: nothing was rebuilt */
	db_txn_end(txn);
	db_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_reopen, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_schema_mismatch, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_open_readonly, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_cert_roundtrip, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_collision_in_batch, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_failures_in_batch, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_many_failures_in_batch, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_background_write, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_by_expiry, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_by_name, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_successor_shared_name, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_by_requester, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_walk, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_by_name_suffix_index, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_revoke, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_keyset_paging, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_revoked_last, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_cert_counts, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_expiry_days, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_hold_and_details, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_write_errors, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_caller_commits, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_background_joined_late, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_concurrent_group_commit, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_map_growth, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_read_txn_reuse, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_backup, setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
