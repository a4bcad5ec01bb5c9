/* SPDX-License-Identifier: MIT */
/* Group commit: whoever commits runs every queued write operation in one durable txn. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "db/db_int.h"
#include "util/util.h"

#define DB_READER_CHECK_S 60 /* idle interval between stale-reader sweeps */
#define DB_MAX_REGROWS 24
/* Failed ops a batch may set aside (abort, rerun without them) before the rest of its
 * attempts run each op in a nested txn instead: bounds the reruns of a batch in which
 * many ops fail. */
#define DB_MAX_SET_ASIDE 2
/* Times a batch takes in what was queued while its ops ran, before it commits. */
#define DB_LATE_ROUNDS 4
/* A caller commits its own write only when the writer thread finished its last batch
 * this long ago: while writes keep coming the writer commits back to back, and callers
 * taking over between its batches would cost it a wake-up per batch (issue_bench at 32
 * in flight lost 8-20 % that way). */
#define DB_LEAD_IDLE_MS 2

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

/* An op's own failure: its result, with a message when fn left none. */
static void op_failed(struct db_req *r)
{
	if (r->result == 0) /* it returned 0 past an LMDB error that broke the txn */
		r->result = cairn_err_set(&r->err, CAIRN_EDB, "write operation: %s",
					  cairn_strerror(CAIRN_EPOISONED));
	else if (r->err.code == 0)
		cairn_err_set(&r->err, r->result, "%s", cairn_strerror(r->result));
}

/* The op, after its caller's guard (db_guard_swap) allowed it. */
static int run_op(db_txn_t *t, struct db_req *r)
{
	int rc;

	if (r->guard.fn != NULL && (rc = r->guard.fn(t, r->guard.arg, &r->err)) != 0)
		return rc;
	return r->fn(t, r->arg, &r->err);
}

/* What running the ops of one attempt found. */
typedef enum { OPS_DONE, OPS_MAP_FULL, OPS_SET_ASIDE } ops_outcome_t;

/*
 * Runs every op not set aside directly in parent. The first op to fail (or to break
 * the txn) is set aside with its result: the caller aborts parent and reruns the
 * batch without it, so what it wrote before failing is gone and the others' results
 * are those of a batch it never was in — what a nested txn per op gives, without
 * LMDB's allocation of a dirty list (2 MiB) and a free list per nested txn.
 */
static ops_outcome_t run_direct(db_t *db, MDB_txn *parent, struct db_req *batch)
{
	struct db_req *r;

	for (r = batch; r != NULL; r = r->next) {
		db_txn_t t = { .txn = parent, .db = db, .write = 1 };

		if (r->set_aside)
			continue;
		r->result = run_op(&t, r);
		if (t.map_full)
			return OPS_MAP_FULL;
		if (r->result != 0 || t.poisoned) {
			op_failed(r);
			r->set_aside = 1;
			return OPS_SET_ASIDE;
		}
	}
	return OPS_DONE;
}

/* Runs every op not set aside in its own nested txn of parent: a failing op rolls
 * back alone. For batches in which many ops fail. */
static ops_outcome_t run_nested(db_t *db, MDB_txn *parent, struct db_req *batch)
{
	struct db_req *r;
	MDB_txn *child;
	int rc;

	for (r = batch; r != NULL; r = r->next) {
		db_txn_t t = { .db = db, .write = 1 };

		if (r->set_aside)
			continue;
		rc = mdb_txn_begin(db->env, parent, 0, &child);
		if (rc != 0) {
			r->result = cairn_err_set(&r->err, CAIRN_EDB, "begin nested txn: %s",
						  mdb_strerror(rc));
			continue;
		}
		t.txn = child;
		r->result = run_op(&t, r);
		if (t.map_full) {
			mdb_txn_abort(child);
			return OPS_MAP_FULL;
		}
		if (r->result != 0 || t.poisoned) {
			mdb_txn_abort(child);
			op_failed(r);
		} else if ((rc = mdb_txn_commit(child)) != 0) {
			if (rc == MDB_MAP_FULL)
				return OPS_MAP_FULL;
			r->result = cairn_err_set(&r->err, CAIRN_EDB, "commit nested txn: %s",
						  mdb_strerror(rc));
		}
	}
	return OPS_DONE;
}

static ops_outcome_t run_ops(db_t *db, MDB_txn *parent, struct db_req *first, int set_aside)
{
	return set_aside < DB_MAX_SET_ASIDE ? run_direct(db, parent, first)
					    : run_nested(db, parent, first);
}

/* Moves what was queued while the batch's ops ran onto the batch's end, to share its
 * commit. Returns the first op moved, or NULL. */
static struct db_req *take_late(db_t *db, struct db_req *batch)
{
	struct db_req *first, *tail = batch;

	pthread_mutex_lock(&db->q_mu);
	first = db->q_head;
	if (first != NULL) {
		while (tail->next != NULL)
			tail = tail->next;
		tail->next = first;
		db->q_head = db->q_tail = NULL;
		db->q_urgent = 0;
		db->q_has_lazy = 0;
	}
	pthread_mutex_unlock(&db->q_mu);
	return first;
}

/* 1 when the disk holding the database has (next to) nothing left: LMDB says EIO, not
 * ENOSPC, for a page write the full disk cut short. */
static int disk_full(db_t *db)
{
	uint64_t free_bytes;

	return db_disk(db, &free_bytes, NULL) == 0 && free_bytes < DB_DISK_FULL_BYTES;
}

/*
 * Runs one batch in one parent write txn, then one durable commit. The ops run
 * directly in the parent; an op that fails is set aside (its result kept) and the
 * batch reruns without it; past DB_MAX_SET_ASIDE of those the batch runs each op in
 * a nested txn. On MDB_MAP_FULL anywhere the whole batch is aborted, the map grows and
 * the batch reruns. So an op may run more than once (db_write_fn says so). Ops queued
 * while the batch's ops ran join it before the commit (up to DB_LATE_ROUNDS times):
 * they cost the batch their run time, not a commit of their own.
 * Says whether the batch was committed; each op's own result is in its req.
 */
typedef enum { BATCH_NOT_COMMITTED, BATCH_COMMITTED } batch_outcome_t;

static batch_outcome_t run_batch(db_t *db, struct db_req *batch, cairn_err_t *why)
{
	MDB_txn *parent = NULL;
	struct db_req *r;
	cairn_err_t err = { 0 };
	struct db_req *late;
	ops_outcome_t ops;
	int rc, rounds, regrows = 0, set_aside = 0;

	for (r = batch; r != NULL; r = r->next)
		r->set_aside = 0;
	while (regrows < DB_MAX_REGROWS) {
		for (r = batch; r != NULL; r = r->next)
			if (!r->set_aside) {
				r->result = 0;
				memset(&r->err, 0, sizeof(r->err));
			}
		if (begin_parent(db, &parent, &err) != 0)
			goto failed;
		ops = run_ops(db, parent, batch, set_aside);
		for (rounds = 0; ops == OPS_DONE && rounds < DB_LATE_ROUNDS &&
				 (late = take_late(db, batch)) != NULL;
		     rounds++)
			ops = run_ops(db, parent, late, set_aside);
		if (ops == OPS_SET_ASIDE) {
			mdb_txn_abort(parent);
			db_gate_writer_exit(db);
			parent = NULL;
			set_aside++;
			continue;
		}
		if (ops == OPS_MAP_FULL) {
			mdb_txn_abort(parent);
			db_gate_writer_exit(db);
		} else {
			rc = mdb_txn_commit(parent);
			db_gate_writer_exit(db);
			if (rc == 0)
				return BATCH_COMMITTED;
			if (rc == ENOSPC || rc == EDQUOT || (rc == EIO && disk_full(db))) {
				cairn_err_set(&err, CAIRN_ENOSPACE,
					      "commit failed: the disk holding the database is full "
					      "(%s)", rc == EIO ? "a page write was cut short"
								: mdb_strerror(rc));
				goto failed;
			}
			if (rc != MDB_MAP_FULL) {
				cairn_err_set(&err, CAIRN_EDB, "commit failed: %s", mdb_strerror(rc));
				goto failed;
			}
		}
		parent = NULL;
		regrows++;
		if (db_resize(db, 1, &err) != 0)
			goto failed;
	}
	cairn_err_set(&err, CAIRN_EDB, "database map still full after %d resizes", regrows);
failed:
	if (err.code == 0)
		err.code = CAIRN_EDB;
	fail_all(batch, err.code, err.msg);
	*why = err;
	return BATCH_NOT_COMMITTED;
}

/* Set while this thread runs a batch's ops: a db_write from inside one would wait for
 * the commit it is part of. */
static __thread int in_batch;

/*
 * Commits everything queued (q_mu held, no batch running, queue not empty) on the
 * calling thread: the ops run, one durable commit, each waiting caller is told. What
 * was queued meanwhile is the writer thread's next batch (it is signalled, and goes on
 * from batch to batch while work keeps coming, without sleeping in between). So a
 * db_write that finds nobody committing and the writer idle (DB_LEAD_IDLE_MS) runs its
 * batch on its own thread: no hand-off to the writer thread and back (two context
 * switches and a wake-up per commit saved when writes come one at a time); under load
 * the writer thread commits back to back as before, and callers arriving during a
 * commit form the next batch together.
 */
static void commit_queued(db_t *db)
{
	struct db_req *batch = db->q_head, *r, *next;
	batch_outcome_t outcome = BATCH_NOT_COMMITTED;
	cairn_err_t why = { 0 };
	/* background writes only, whose wait for company ran out (not cut short by
	 * db_close): lone unless an ordinary write joins the batch late */
	int lone = db->q_urgent == 0 && !db->stopping &&
		   time_mono_ms() >= db->q_lazy_since + DB_LAZY_MS;
	uint64_t n;

	db->q_head = db->q_tail = NULL;
	db->q_urgent = 0;
	db->q_has_lazy = 0;
	db->committing = 1;
	if (db->fatal) {
		fail_all(batch, CAIRN_EDB, db->fatal_msg);
		cairn_err_set(&why, CAIRN_EDB, "%s", db->fatal_msg);
	} else {
		pthread_mutex_unlock(&db->q_mu);
		in_batch = 1;
		outcome = run_batch(db, batch, &why);
		in_batch = 0;
		pthread_mutex_lock(&db->q_mu);
	}
	/* Failed commits (a full disk, an I/O error) for db_write_state (/healthz). */
	if (outcome == BATCH_COMMITTED)
		util_failrun_ok(&db->commit_fail);
	else
		util_failrun_fail(&db->commit_fail, (int64_t)time(NULL), why.msg);
	for (n = 0, r = batch; r != NULL; r = next, n++) {
		next = r->next; /* r may be gone once done is seen */
		lone &= r->lazy;
		r->done = 1;
		pthread_cond_signal(&r->cv);
	}
	db->ops += n;
	db->commits += outcome == BATCH_COMMITTED;
	db->lone_commits += outcome == BATCH_COMMITTED && lone;
	db->committing = 0;
	if (db->q_head != NULL || db->stopping)
		pthread_cond_signal(&db->q_cv);
}

/*
 * Waits (q_mu held) until the writer thread has a batch to run: no batch running, and
 * ordinary writes queued (during another's commit), or background writes queued
 * DB_LAZY_MS ago, or stopping. Sweeps stale reader slots when idle. Returns 0 with work
 * queued, -1 when stopping with nothing left and no batch running.
 */
static int wait_for_work(db_t *db)
{
	uint64_t idle_until = time_mono_ms() + DB_READER_CHECK_S * 1000;
	int dead;

	for (;;) {
		if (!db->committing) { /* else the committer signals q_cv when it is done */
			if (db->q_head != NULL && (db->q_urgent > 0 || db->stopping ||
						   time_mono_ms() >= db->q_lazy_since + DB_LAZY_MS))
				return 0;
			if (db->q_head == NULL && db->stopping)
				return -1;
			if (db->q_head != NULL) { /* background writes only: wait for company */
				(void)time_mono_wait(&db->q_cv, &db->q_mu,
						     db->q_lazy_since + DB_LAZY_MS);
				continue;
			}
		}
		if (time_mono_wait(&db->q_cv, &db->q_mu, idle_until) == ETIMEDOUT) {
			pthread_mutex_unlock(&db->q_mu);
			mdb_reader_check(db->env, &dead);
			pthread_mutex_lock(&db->q_mu);
			idle_until = time_mono_ms() + DB_READER_CHECK_S * 1000;
		}
	}
}

void *db_writer_main(void *arg)
{
	db_t *db = arg;

	pthread_mutex_lock(&db->q_mu);
	while (wait_for_work(db) == 0) {
		commit_queued(db);
		db->writer_done_at = time_mono_ms();
	}
	pthread_mutex_unlock(&db->q_mu);
	return NULL;
}

static __thread db_guard_t thread_guard;

db_guard_t db_guard_swap(db_guard_t guard)
{
	db_guard_t prev = thread_guard;

	thread_guard = guard;
	return prev;
}

static int queue_and_wait(db_t *db, db_write_fn fn, void *arg, int lazy, cairn_err_t *err)
{
	struct db_req req;
	int ret;

	if (db == NULL || fn == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "db_write: no database or operation");
	if (in_batch)
		return cairn_err_set(err, CAIRN_EINVAL,
				     "db_write called from inside a write operation");
	memset(&req, 0, sizeof(req));
	req.fn = fn;
	req.arg = arg;
	req.lazy = lazy;
	if (!lazy)
		req.guard = thread_guard;
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
	if (!lazy) {
		db->q_urgent++;
	} else if (!db->q_has_lazy) {
		db->q_has_lazy = 1;
		db->q_lazy_since = time_mono_ms();
	}
	if (db->q_tail != NULL)
		db->q_tail->next = &req;
	else
		db->q_head = &req;
	db->q_tail = &req;
	if (!lazy && !db->committing && time_mono_ms() >= db->writer_done_at + DB_LEAD_IDLE_MS)
		commit_queued(db); /* nobody committing, the writer idle: commit it here */
	else if (!db->committing)
		pthread_cond_signal(&db->q_cv); /* the writer thread takes it (or times the wait
						 * of a background write for company) */
	while (!req.done) /* else the running commit's end hands the queue to the writer */
		pthread_cond_wait(&req.cv, &db->q_mu);
	pthread_mutex_unlock(&db->q_mu);

	ret = req.result;
	if (ret != 0 && err != NULL)
		*err = req.err;
out:
	pthread_cond_destroy(&req.cv);
	return ret;
}

int db_write(db_t *db, db_write_fn fn, void *arg, cairn_err_t *err)
{
	return queue_and_wait(db, fn, arg, 0, err);
}

int db_write_background(db_t *db, db_write_fn fn, void *arg, cairn_err_t *err)
{
	return queue_and_wait(db, fn, arg, 1, err);
}
