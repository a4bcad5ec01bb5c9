/* SPDX-License-Identifier: MIT */
/* The group-commit writer: one thread commits every queued write operation in one durable txn. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "db/db_int.h"

#define DB_READER_CHECK_S 60 /* idle interval between stale-reader sweeps */
#define DB_MAX_REGROWS 24

static void fail_all(struct db_req *batch, int code, const char *msg)
{
	struct db_req *r;

	for (r = batch; r != NULL; r = r->next) {
		r->result = code;
		cairn_err_set(&r->err, code, "%s", msg);
	}
}

static void set_fatal(db_t *db, const char *msg)
{
	pthread_mutex_lock(&db->q_mu);
	db->fatal = 1;
	snprintf(db->fatal_msg, sizeof(db->fatal_msg), "%s", msg);
	pthread_mutex_unlock(&db->q_mu);
}

/* Opens the batch's parent write txn, adopting a map grown by another process. */
static int begin_parent(db_t *db, MDB_txn **parent, cairn_err_t *err)
{
	int rc, tries;

	for (tries = 0;; tries++) {
		db_gate_writer_enter(db);
		rc = mdb_txn_begin(db->env, NULL, 0, parent);
		if (rc == 0)
			return 0;
		db_gate_writer_exit(db);
		if (rc != MDB_MAP_RESIZED || tries > 4)
			break;
		if (db_resize(db, 0, err) != 0)
			return CAIRN_EDB;
	}
	cairn_err_set(err, CAIRN_EDB, "begin write transaction: %s", mdb_strerror(rc));
	if (rc == MDB_PANIC)
		set_fatal(db, err->msg);
	return CAIRN_EDB;
}

/*
 * Runs one batch: every op in its own child txn of one parent txn, then one
 * durable commit. On MDB_MAP_FULL anywhere the whole batch is aborted, the map
 * grows and the batch reruns (so an op may run more than once).
 * Says whether the batch was committed; each op's own result is in its req.
 */
typedef enum { BATCH_NOT_COMMITTED, BATCH_COMMITTED } batch_outcome_t;

static batch_outcome_t run_batch(db_t *db, struct db_req *batch)
{
	MDB_txn *parent = NULL, *child = NULL;
	struct db_req *r;
	cairn_err_t err = { 0 };
	int rc, attempt;

	for (attempt = 0; attempt < DB_MAX_REGROWS; attempt++) {
		int map_full = 0;

		for (r = batch; r != NULL; r = r->next) {
			r->result = 0;
			memset(&r->err, 0, sizeof(r->err));
		}
		if (begin_parent(db, &parent, &err) != 0) {
			fail_all(batch, CAIRN_EDB, err.msg);
			return BATCH_NOT_COMMITTED;
		}
		for (r = batch; r != NULL && !map_full; r = r->next) {
			db_txn_t t = { 0 };

			rc = mdb_txn_begin(db->env, parent, 0, &child);
			if (rc != 0) {
				r->result = cairn_err_set(&r->err, CAIRN_EDB, "begin nested txn: %s",
							  mdb_strerror(rc));
				continue;
			}
			t.txn = child;
			t.db = db;
			t.write = 1;
			r->result = r->fn(&t, r->arg, &r->err);
			if (t.map_full) {
				mdb_txn_abort(child);
				map_full = 1;
			} else if (r->result != 0) {
				mdb_txn_abort(child);
				if (r->err.code == 0)
					cairn_err_set(&r->err, r->result, "%s",
						      cairn_strerror(r->result));
			} else if ((rc = mdb_txn_commit(child)) != 0) {
				if (rc == MDB_MAP_FULL)
					map_full = 1;
				else
					r->result = cairn_err_set(&r->err, CAIRN_EDB,
								  "commit nested txn: %s",
								  mdb_strerror(rc));
			}
			child = NULL;
		}
		if (map_full) {
			mdb_txn_abort(parent);
			db_gate_writer_exit(db);
		} else {
			rc = mdb_txn_commit(parent);
			db_gate_writer_exit(db);
			if (rc == 0)
				return BATCH_COMMITTED;
			if (rc != MDB_MAP_FULL) {
				cairn_err_set(&err, CAIRN_EDB, "commit failed: %s", mdb_strerror(rc));
				fail_all(batch, CAIRN_EDB, err.msg);
				return BATCH_NOT_COMMITTED;
			}
		}
		parent = NULL;
		if (db_resize(db, 1, &err) != 0) {
			fail_all(batch, CAIRN_EDB, err.msg);
			return BATCH_NOT_COMMITTED;
		}
	}
	cairn_err_set(&err, CAIRN_EDB, "database map still full after %d resizes", attempt);
	fail_all(batch, CAIRN_EDB, err.msg);
	return BATCH_NOT_COMMITTED;
}

void *db_writer_main(void *arg)
{
	db_t *db = arg;
	struct db_req *batch, *r, *next;
	struct timespec deadline;
	batch_outcome_t outcome;
	uint64_t n;
	int dead;

	pthread_mutex_lock(&db->q_mu);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += DB_READER_CHECK_S;
		while (db->q_head == NULL && !db->stopping) {
			if (pthread_cond_timedwait(&db->q_cv, &db->q_mu, &deadline) == ETIMEDOUT) {
				pthread_mutex_unlock(&db->q_mu);
				mdb_reader_check(db->env, &dead);
				pthread_mutex_lock(&db->q_mu);
				clock_gettime(CLOCK_MONOTONIC, &deadline);
				deadline.tv_sec += DB_READER_CHECK_S;
			}
		}
		if (db->q_head == NULL)
			break; /* stopping and drained */
		batch = db->q_head;
		db->q_head = db->q_tail = NULL;
		if (db->fatal) {
			fail_all(batch, CAIRN_EDB, db->fatal_msg);
			outcome = BATCH_NOT_COMMITTED;
		} else {
			pthread_mutex_unlock(&db->q_mu);
			outcome = run_batch(db, batch);
			pthread_mutex_lock(&db->q_mu);
		}
		for (n = 0, r = batch; r != NULL; r = next, n++) {
			next = r->next;
			r->done = 1;
			pthread_cond_signal(&r->cv);
		}
		db->ops += n;
		db->commits += outcome == BATCH_COMMITTED;
	}
	pthread_mutex_unlock(&db->q_mu);
	return NULL;
}

int db_write(db_t *db, db_write_fn fn, void *arg, cairn_err_t *err)
{
	struct db_req req;
	int ret;

	if (db == NULL || fn == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "db_write: no database or operation");
	if (pthread_equal(pthread_self(), db->writer))
		return cairn_err_set(err, CAIRN_EINVAL,
				     "db_write called from inside a write operation");
	memset(&req, 0, sizeof(req));
	req.fn = fn;
	req.arg = arg;
	pthread_cond_init(&req.cv, NULL);

	pthread_mutex_lock(&db->q_mu);
	if (db->stopping) {
		pthread_mutex_unlock(&db->q_mu);
		ret = cairn_err_set(err, CAIRN_ESHUTDOWN, "database is closing");
		goto out;
	}
	if (db->fatal) {
		ret = cairn_err_set(err, CAIRN_EDB, "database unusable after an earlier error: %s",
				    db->fatal_msg);
		pthread_mutex_unlock(&db->q_mu);
		goto out;
	}
	if (db->q_tail != NULL)
		db->q_tail->next = &req;
	else
		db->q_head = &req;
	db->q_tail = &req;
	pthread_cond_signal(&db->q_cv);
	while (!req.done)
		pthread_cond_wait(&req.cv, &db->q_mu);
	pthread_mutex_unlock(&db->q_mu);

	ret = req.result;
	if (ret != 0 && err != NULL)
		*err = req.err;
out:
	pthread_cond_destroy(&req.cv);
	return ret;
}
