/* SPDX-License-Identifier: MIT */
/* db internals shared by the db/ files: the env handle, transactions, the writer queue. */
#ifndef CAIRN_DB_INT_H
#define CAIRN_DB_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <lmdb.h>

#include "db/db.h"

/* Reset read transactions kept for reuse: each keeps its reader slot (of
 * DB_MAX_READERS) but pins no pages. More than the HTTP threads ever read at once. */
#define DB_IDLE_READERS 32

/* requester.c: c's by_requester entry. Write txn only. */
int db_requester_put(db_txn_t *txn, const db_cert_t *c) CAIRN_WUR;

/* Free space below which a failed page write is put down to a full disk (writer.c). */
#define DB_DISK_FULL_BYTES (1u << 20)

/* A queued write: lives on the caller's stack until done is set. */
struct db_req {
	db_write_fn fn;
	void *arg;
	db_guard_t guard;    /* the caller's (db_guard_swap), run before fn */
	cairn_err_t err;     /* filled by fn or by the commit */
	int result;
	int done;
	int set_aside;       /* failed in this batch: result kept, not rerun (committer only) */
	int lazy;            /* a db_write_background call */
	pthread_cond_t cv;   /* signalled (under db->q_mu) when done */
	struct db_req *next;
};

struct db {
	MDB_env *env;
	MDB_dbi dbi[DB_TABLE_COUNT];
	char *path;

	/* writer queue, protected by q_mu */
	pthread_mutex_t q_mu;
	pthread_cond_t q_cv;         /* work arrived or stopping */
	struct db_req *q_head, *q_tail;
	unsigned q_urgent;           /* queued db_write calls (not db_write_background) */
	int q_has_lazy;              /* a db_write_background call is queued ... */
	uint64_t q_lazy_since;       /* ... since then (time_mono_ms) */
	int committing;              /* a thread (a caller or the writer) is running a batch */
	uint64_t writer_done_at;     /* the writer thread's last batch ended (time_mono_ms) */
	int stopping;
	int fatal;                   /* env unusable: writes fail fast */
	char fatal_msg[sizeof(((cairn_err_t *)0)->msg)];
	uint64_t commits, ops, grows;
	uint64_t lone_commits;       /* commits of background writes alone, after DB_LAZY_MS */
	util_failrun_t commit_fail;  /* batches not committed (db_write_state) */
	pthread_t writer;
	int writer_started;

	/* map-resize gate, protected by gate_mu: no txn may be open during a resize */
	pthread_mutex_t gate_mu;
	pthread_cond_t gate_cv;
	unsigned readers;            /* open read txns of this process */
	int writer_in_txn;
	int resizing;
	size_t map_size;
	/* read txns reset by db_txn_end, renewed by the next db_read_begin (gate_mu) */
	MDB_txn *idle[DB_IDLE_READERS];
	unsigned n_idle;
	atomic_ullong renewed;       /* db_read_begin calls served by a renewed txn */
	atomic_ullong walked;        /* entries visited by db_iterate (db_walked) */
};

struct db_txn {
	MDB_txn *txn;
	db_t *db;
	int write;      /* a write child txn run by the writer */
	int map_full;   /* an operation hit MDB_MAP_FULL: the writer grows and reruns */
	int poisoned;   /* an LMDB error made the txn unusable */
};

/* Maps an LMDB return code to a cairn code, flagging map-full / poisoned on txn. */
int db_mdb_rc(db_txn_t *txn, int rc);

/* Gate: the writer thread marks its write txn open/closed around each batch. */
void db_gate_writer_enter(db_t *db);
void db_gate_writer_exit(db_t *db);
/* Resizes the map with no txn open in this process: want == 0 adopts the size
 * another process set, else grows past the current size. Returns 0 or CAIRN_EDB. */
int db_resize(db_t *db, int grow, cairn_err_t *err);

/* stats.c: the certificate counters follow every record change (same txn). */
int db_stats_cert_added(db_txn_t *txn, const db_cert_t *c) CAIRN_WUR;
/* before: the record as it was; status/reason: what it becomes (reason counted in
 * "revocations" when status is DB_CERT_REVOKED). */
int db_stats_cert_status(db_txn_t *txn, const db_cert_t *before, int status, int reason)
	CAIRN_WUR;

/* Builds the counters in txn (db_open's set-up write) when the stats table is not
 * complete ("version" unset): a database that predates them. A no-op afterwards. */
int db_stats_ensure(db_txn_t *txn, cairn_err_t *err) CAIRN_WUR;

/* How long a db_write_background call waits for an ordinary write to share its commit
 * before it is committed alone. */
#define DB_LAZY_MS 200

/* Writer thread body (db/writer.c): commits what queued during another commit, and
 * background writes. */
void *db_writer_main(void *arg);

#endif
