/* SPDX-License-Identifier: MIT */
/* db: the LMDB environment — named tables, certificate records, and the group-commit writer. */
#ifndef CAIRN_DB_H
#define CAIRN_DB_H

#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

#define DB_SCHEMA_VERSION 1
/* Meta key set when a database is created: every certificate issued into it is listed as
 * a renewal candidate of its requester and names from the start (ca/supersede.c reads
 * the lists and never walks the name index). An older database lacks it. */
#define DB_META_CANDIDATES "renew_candidates"
#define DB_SERIAL_MAX 20
/* Longest name db_cert_put indexes in by_name (LMDB keys are at most 511 bytes). */
#define DB_NAME_MAX 480

typedef struct db db_t;
typedef struct db_txn db_txn_t;

/* Named databases of the environment (see DESIGN.md "Data"). */
typedef enum {
	DB_META,      /* name -> value: schema version, counters, audit head */
	DB_CERTS,     /* serial -> certificate record */
	DB_BY_EXPIRY, /* notAfter (BE64) || serial -> "" */
	DB_BY_NAME,   /* lower-cased name || 0x00 || serial -> "" */
	DB_REVOKED,   /* issuer || 0x00 || serial -> revocation time + reason */
	DB_OCSP,      /* serial -> pre-signed response */
	DB_REQUESTS,  /* request id -> pending request */
	DB_AUDIT,     /* sequence (BE64) -> event JSON */
	DB_TOKENS,    /* SHA-256(API token) -> token record JSON */
	DB_ACME,      /* ACME objects, keyed by type prefix */
	DB_ADMINS,    /* admin name -> admin record JSON (role, disabled) */
	DB_EST,       /* EST: "u:NAME" -> enrollment account, "p:HASH" -> pending request id,
	                 "l:SERIAL" -> the label a certificate was issued on */
	DB_OUTBOX,    /* notify/: events to deliver, dead letters, delivery log (notify_int.h) */
	DB_STATS,     /* counters kept in the change's own txn (stats.c; docs/monitoring.md) */
	DB_INVENTORY, /* inventory/: SHA-256 fingerprint -> record JSON (inventory.h) */
	DB_BY_RNAME,  /* reversed lower-cased name || 0x00 || serial -> "" (suffix search) */
	DB_REPLACE,   /* ca/replace.c: replacement campaigns, marks, pending certificates */
	DB_OCSP_DUE,  /* when (BE64) || OCSP cache key (serial || alg) -> "": when ocsp/'s
	               * refresher must look at that cached answer (re-sign or drop it);
	               * db_cert_put adds (0, serial || 1): a new certificate is due at once */
	DB_BY_REQUESTER, /* requester || 0x00 || serial -> "" (requester.c) */
	DB_TABLE_COUNT
} db_table_t;

/*
 * Opens (creating if absent) the environment in directory path (created 0700).
 * A database created by another schema version is refused with CAIRN_ESCHEMA
 * and a message naming both versions (meta "schema_version" holds the version
 * as ASCII decimal). A table added since (outbox) is created on open: an older
 * database of the same schema opens cleanly. Clears stale reader slots (and again when the writer idles).
 * Starts the writer thread. *out is owned by the caller: db_close.
 * The map starts at 256 MiB (env CAIRN_DB_MAPSIZE, bytes with optional K/M/G,
 * overrides it; tests use a tiny one) and grows on demand.
 * Open an environment once per process (LMDB rule); other processes may open it too.
 */
int db_open(const char *path, db_t **out, cairn_err_t *err) CAIRN_WUR;
/*
 * Opens an existing environment read-only (MDB_RDONLY) beside the process that writes
 * it: a reader like the writer's own threads, seeing each commit as soon as it is
 * durable. Creates nothing but what LMDB itself needs (lock.mdb, when missing; the lock
 * file must be writable: reader slots live there). Starts no writer thread: db_write
 * fails with CAIRN_EDB. The map follows the writer's growth (db_read_begin adopts it).
 * Returns 0, CAIRN_ENOENT (no data.mdb in path), CAIRN_ESCHEMA (another schema version,
 * or a table missing), CAIRN_EDENIED, CAIRN_EDB. *out owned by the caller: db_close.
 */
int db_open_readonly(const char *path, db_t **out, cairn_err_t *err) CAIRN_WUR;
/* Stops the writer (after draining its queue) and closes the env. NULL is a no-op.
 * Every read txn must have ended; db_write calls racing with close get CAIRN_ESHUTDOWN. */
void db_close(db_t *db);

/*
 * A write operation: runs inside a write transaction, on the thread that commits its
 * batch (the caller's own, another caller's or the writer thread's).
 * Return 0 to keep its changes, negative to roll back just this operation
 * (the batch is rerun without it: the others see nothing it wrote, and it keeps
 * its result). Must not call db_write (refused
 * with CAIRN_EINVAL) nor db_txn_end. Keep it short: the whole batch waits.
 * It may run MORE THAN ONCE (the batch is rerun after the map grows or another
 * op of the batch failed), so keep
 * side effects inside txn, and (re)set any output in arg on every run.
 */
typedef int (*db_write_fn)(db_txn_t *txn, void *arg, cairn_err_t *err);

/*
 * Queues fn and returns only after the durable commit of the transaction it ran in.
 * Group commit: when no batch is being committed and the writer thread has been idle
 * for a moment, the calling thread commits everything queued in ONE durable
 * transaction itself; otherwise it waits, and the writer thread commits what queued
 * meanwhile as the next batch (back to back while writes keep coming). Returns fn's
 * result, or CAIRN_EDB if the commit failed (then nothing of fn is stored).
 * MDB_MAP_FULL is handled by growing the map and retrying.
 * Thread-safe; err (may be NULL) is filled by fn or by the commit (only on failure).
 * After a fatal environment error every call fails fast with CAIRN_EDB; during
 * db_close with CAIRN_ESHUTDOWN. Growing the map waits (up to 30 s) for open read
 * txns of this process to end: do not hold a read txn while calling db_write.
 */
int db_write(db_t *db, db_write_fn fn, void *arg, cairn_err_t *err) CAIRN_WUR;

/*
 * A condition on every db_write this thread makes while it is set: fn(txn, arg, err) runs
 * first in each op's own write transaction, reading only, and when it returns non-zero
 * the op does not run and db_write returns that code (err filled). For work done on
 * someone's authority: the admin API checks its caller's credential again here
 * (admin_handle), so a token revoked or an admin disabled between the request's check and
 * its writes changes nothing. Writes that follow from what a guarded write decided (an
 * approval's outcome, a new campaign's marking) set it aside. db_write_background is not
 * guarded (caches nobody decided). arg must outlive the writes.
 */
typedef struct db_guard {
	db_write_fn fn; /* NULL: none */
	void *arg;
} db_guard_t;
/* Sets the calling thread's guard and returns the one it replaces (to put back). */
db_guard_t db_guard_swap(db_guard_t guard);

/*
 * db_write for background writes nothing answered to a client waits on (the OCSP
 * cache's pre-signed answers): fn rides on the commit of the next db_write instead of
 * forcing one of its own, or is committed alone after at most 200 ms when none comes
 * (at once while the database closes). Returns like db_write, after fn's commit is
 * durable. Never delays a db_write: the writer does not wait for these.
 */
int db_write_background(db_t *db, db_write_fn fn, void *arg, cairn_err_t *err) CAIRN_WUR;

/* Read-only snapshot. Any thread (MDB_NOTLS); end with db_txn_end, from any thread.
 * Returns 0, CAIRN_EDB or CAIRN_ENOMEM. Keep it short-lived (it pins old pages
 * and blocks map growth). Reuses a transaction an earlier db_txn_end reset
 * (mdb_txn_renew: its reader slot is kept, no search of the reader table), so a
 * thread pool that reads per request pays no transaction set-up after the first
 * requests; up to 32 reset transactions are kept, each holding one reader slot
 * of the environment's 512 but no snapshot. */
int db_read_begin(db_t *db, db_txn_t **out) CAIRN_WUR;
/* Ends a read transaction (write transactions are ended by the writer: a no-op). NULL ok.
 * The snapshot is released at once (mdb_txn_reset); the LMDB txn is kept for reuse. */
void db_txn_end(db_txn_t *txn);
/* How many db_read_begin calls were served by renewing a kept transaction. Thread-safe. */
uint64_t db_read_renewed(db_t *db);

/*
 * Writes a consistent, compacted copy of the environment (LMDB's own copy:
 * mdb_env_copyfd2 with MDB_CP_COMPACT, one read snapshot; free pages left out)
 * to file, created 0600 (it must not exist), and fsyncs it. The result is a
 * data.mdb that db_open can open once it sits in a directory of its own.
 * A reader like any other: safe while this and other processes write; keeps the
 * snapshot's pages pinned while it runs. Returns 0, CAIRN_EINVAL, CAIRN_EIO
 * (file not creatable) or CAIRN_EDB; on failure file is removed. Thread-safe.
 */
int db_backup(db_t *db, const char *file, cairn_err_t *err) CAIRN_WUR;

/* Group-commit counters since db_open: durable commits and write operations run
 * (ops / commits is the mean batch size), and how many of the commits held only
 * db_write_background calls, made after those waited 200 ms for an ordinary write in
 * vain (the background writes' own fsyncs; at db_close they do not wait, and are not
 * counted). Any pointer may be NULL. Thread-safe. */
void db_stats(db_t *db, uint64_t *commits, uint64_t *ops, uint64_t *lone);
/* The writer's failures (a copy): batches whose commit failed since db_open (a full disk,
 * an I/O error, a database made unusable; nothing of them was stored), their latest run
 * and its message ("commit failed: the disk holding the database is full (...)"). On a
 * full disk small writes may still fit in pages LMDB freed earlier while larger ones
 * fail: failing says whether the latest batch failed. Thread-safe. */
void db_write_state(db_t *db, util_failrun_t *out);
/* Current map size in bytes, and how many times the writer grew it. Thread-safe. */
size_t db_map_size(db_t *db);
uint64_t db_map_grows(db_t *db);

/* Big-endian 64-bit helpers for keys (audit sequence, expiry index). */
static inline void db_be64_put(uint8_t out[8], uint64_t v)
{
	int i;
	for (i = 7; i >= 0; i--, v >>= 8)
		out[i] = (uint8_t)v;
}
static inline uint64_t db_be64_get(const void *in)
{
	const uint8_t *p = in;
	uint64_t v = 0;
	int i;
	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* ---- raw table access (inside a txn). Values returned are borrowed: valid until the txn ends. ---- */
#define DB_NOOVERWRITE 1u
/* Write txns only (CAIRN_EINVAL on a read txn). Keys are 1..511 bytes (CAIRN_ETOOBIG).
 * Returns 0, CAIRN_EEXIST (with DB_NOOVERWRITE), CAIRN_EDB. After an LMDB error
 * the txn is poisoned: further calls return CAIRN_EPOISONED. */
int db_put(db_txn_t *txn, db_table_t t, const void *key, size_t klen, const void *val,
	   size_t vlen, unsigned flags) CAIRN_WUR;
/* Returns 0 or CAIRN_ENOENT. *val is borrowed: valid until the txn ends or the
 * next write to that key in the same txn. */
int db_get(db_txn_t *txn, db_table_t t, const void *key, size_t klen, const void **val,
	   size_t *vlen) CAIRN_WUR;
/* Write txns only. Returns 0, CAIRN_ENOENT or CAIRN_EDB. */
int db_del(db_txn_t *txn, db_table_t t, const void *key, size_t klen) CAIRN_WUR;
/* Last entry in key order; CAIRN_ENOENT when empty. */
int db_last(db_txn_t *txn, db_table_t t, const void **key, size_t *klen, const void **val,
	    size_t *vlen) CAIRN_WUR;
/* Calls fn for each entry with key >= start (all when start is NULL), in key order,
 * until fn returns non-zero (that value is returned) or the table ends (0).
 * fn may read (db_get) in the same txn but must not write to the table walked. */
typedef int (*db_iter_fn)(const void *key, size_t klen, const void *val, size_t vlen, void *arg);
int db_iterate(db_txn_t *txn, db_table_t t, const void *start, size_t slen, db_iter_fn fn,
	       void *arg);
/*
 * A walk of a whole table in batches, one transaction each (walk.c): where it stands is
 * the last key taken, and the next batch starts just after it, so entries added or
 * removed between batches never make it repeat or skip the others. Set the options,
 * zero the rest ({ .min_len = ..., ... }), then call db_walk_batch until it returns 0.
 * A walk of the keys under a prefix starts with db_walk_resume at the prefix, and its fn
 * returns a value of its own (2) at the first key past it.
 * Not thread-safe (one walker); holds no pointer into a txn between batches.
 */
#define DB_WALK_KEY_MAX 511 /* db_put's longest key */
typedef struct db_walk {
	/* options */
	size_t min_len, max_len; /* the keys the walk takes (max_len <= DB_WALK_KEY_MAX) */
	int refuse_bad;          /* a key of another length: 1 fails with CAIRN_EDB (a table
	                            that holds only such keys is corrupt), 0 passes it over */
	size_t batch;            /* > 0: a batch ends before its (batch + 1)th key, which the
	                            next one starts with; 0: fn ends it by returning 1 */
	/* state */
	uint8_t last[DB_WALK_KEY_MAX]; /* the last key taken */
	size_t last_len;               /* 0: from the start */
	size_t n;                      /* keys taken in this batch */
	int skip_first;
	db_iter_fn fn;
	void *arg;
} db_walk_t;
/* Sets the position: the next batch starts just after key (a position kept elsewhere,
 * e.g. in meta); klen 0 = from the start. Returns 0 or CAIRN_EINVAL (too long). */
int db_walk_resume(db_walk_t *w, const void *key, size_t klen) CAIRN_WUR;
/* One batch of table t in txn: fn (as for db_iterate) for each key taken, after it has
 * become the position. Returns 0 at the table's end, 1 when the batch ended (full, or fn
 * returned 1), fn's other non-zero value, CAIRN_EDB (a bad key, refuse_bad) or
 * CAIRN_EINVAL. */
int db_walk_batch(db_txn_t *txn, db_table_t t, db_walk_t *w, db_iter_fn fn, void *arg);
/* Number of entries in a table (0 on error). */
size_t db_count(db_txn_t *txn, db_table_t t);
/* Entries visited by db_iterate (every walk: index scans, record walks, the refresher)
 * in this process since db_open: what a walk costs, for /metrics and the tests that
 * check a page reads about its rows and a start-up reads no whole table. Thread-safe. */
uint64_t db_walked(db_t *db);

/* ---- certificate records ---- */
typedef enum { DB_CERT_VALID = 0, DB_CERT_REVOKED = 1 } db_cert_status_t;

typedef struct db_cert {
	uint8_t serial[DB_SERIAL_MAX];
	size_t serial_len;
	int status;             /* db_cert_status_t */
	int64_t not_before;     /* unix seconds */
	int64_t not_after;
	int64_t revoked_at;     /* 0 unless revoked */
	int reason;             /* RFC 5280 CRLReason, -1 unless revoked */
	char issuer[32];        /* issuer name: "root", "issuing", ... */
	char profile[64];
	char requester[128];
	char subject[256];      /* one-line subject DN */
	const uint8_t *der;     /* borrowed (from txn or caller) */
	size_t der_len;
} db_cert_t;

/*
 * Stores a new certificate with its indexes (by_expiry, and by_name for each of
 * names — lower-cased here; and revoked when c->status is DB_CERT_REVOKED).
 * Refuses CAIRN_ECOLLISION when the serial exists: serials are never reused.
 * CAIRN_EINVAL for an empty/oversized serial, negative not_after or empty name;
 * CAIRN_ETOOBIG for a name longer than DB_NAME_MAX. String fields are stored up
 * to their NUL (or full size). Write txn only.
 */
int db_cert_put(db_txn_t *txn, const db_cert_t *c, const char *const *names, size_t n_names)
	CAIRN_WUR;
/* Reads a record; out->der points into the txn. Returns 0 or CAIRN_ENOENT. */
int db_cert_get(db_txn_t *txn, const uint8_t *serial, size_t len, db_cert_t *out) CAIRN_WUR;
/* Marks a certificate revoked and adds it to the revoked index. Returns 0,
 * CAIRN_ENOENT (unknown serial), CAIRN_EEXIST (already revoked), CAIRN_EINVAL
 * (reason not an RFC 5280 CRLReason 0..10 except 7, nor 8: removeFromCRL is
 * db_cert_unhold). Write txn only. */
int db_cert_revoke(db_txn_t *txn, const uint8_t *serial, size_t len, int64_t when, int reason)
	CAIRN_WUR;

/* 1 when the certificate serial is indexed under name (by_name, case-insensitive),
 * 0 when not (or name is empty or too long), a negative code on error. */
int db_cert_has_name(db_txn_t *txn, const char *name, const uint8_t *serial, size_t slen);
/* 1 when c has been renewed: a valid certificate of the same requester with a later
 * notAfter holds every one of names (c's names, from its DER); 0 when not (or n is 0);
 * a negative code on error. The check the expiry scan (notify/) and /metrics share.
 * It reads the name index of every name in turn, a page at a time, and stops when one
 * name's entries are all seen: the cost follows c's rarest name, not its first. */
int db_cert_renewed(db_txn_t *txn, const db_cert_t *c, const char *const *names, size_t n);
/* db_cert_renewed with two more conditions on the successor: notBefore at or after
 * issued_after, and accept(successor, arg) non-zero (accept may be NULL). */
int db_cert_successor(db_txn_t *txn, const db_cert_t *c, const char *const *names, size_t n,
		      int64_t issued_after, int (*accept)(const db_cert_t *c2, void *arg),
		      void *arg);

/* Callback for certificate walks: return non-zero to stop (that value is returned). */
typedef int (*db_cert_fn)(const db_cert_t *c, void *arg);

/*
 * Where a paged walk stands: the index key of the row last reported (key, len; len 0 =
 * the start), and for a name walk the indexed name of that entry (lower-cased, not
 * reversed; "" otherwise). A walk given a position starts just after it, so a page
 * costs its own rows whatever the number of matches; the walk updates it before every
 * call of fn, so the caller saves it with the last row it keeps. The key is opaque to
 * callers: they store its bytes (admin API and CLI "next" cursors) and hand them back.
 */
#define DB_CURSOR_MAX (DB_NAME_MAX + 1 + DB_SERIAL_MAX)
typedef struct db_cursor {
	uint8_t key[DB_CURSOR_MAX];
	size_t len;
	char name[DB_NAME_MAX + 1];
} db_cursor_t;
/* The paged forms of the three walks below: pos may be NULL (from the start, as the
 * unpaged ones). A position that is not a key of the walk's index (a cursor of another
 * search) is refused with CAIRN_EINVAL before anything is reported. A suffix search
 * reports in the order of the reversed names (not serials) and may report a certificate
 * once per matching name: callers that page it keep one (ca_names_suffix_first). */
int db_certs_by_expiry_at(db_txn_t *txn, int64_t from, int64_t until, db_cursor_t *pos,
			  db_cert_fn fn, void *arg);
int db_certs_by_name_at(db_txn_t *txn, const char *name, db_cursor_t *pos, db_cert_fn fn,
			void *arg);
int db_certs_all_at(db_txn_t *txn, db_cursor_t *pos, db_cert_fn fn, void *arg);
/* The "next" cursor of the admin API and the CLI: base64url of a tag byte (kind: 'e'
 * expiry window, 'n' name, 'a' all, …) and pos's key. A new string (free), or NULL when
 * out of memory. db_cursor_parse fills pos from such a text; CAIRN_EINVAL when it is not
 * one (an old numeric offset, garbage) or was made for another kind of search. */
char *db_cursor_text(const db_cursor_t *pos, char kind) CAIRN_WUR;
int db_cursor_parse(const char *text, char kind, db_cursor_t *pos) CAIRN_WUR;
/* Certificates with from <= notAfter < until, in expiry order (INT64_MAX: no upper bound). */
int db_certs_by_expiry(db_txn_t *txn, int64_t from, int64_t until, db_cert_fn fn, void *arg);
/* Certificates whose indexed name equals name (case-insensitive; a range scan);
 * a name starting with '.' matches every name ending in it (each certificate
 * reported once, in serial order): a range scan of by_rname, the names reversed,
 * so the cost follows the matches. A database made before by_rname existed (meta
 * "by_rname" unset) has no reversed entries for its older certificates: there the
 * suffix search scans the whole name index, as it always did. */
int db_certs_by_name(db_txn_t *txn, const char *name, db_cert_fn fn, void *arg);
/* Every certificate, in serial order. */
int db_certs_all(db_txn_t *txn, db_cert_fn fn, void *arg);
/*
 * The certificates whose requester is exactly requester, in serial order, paged like the
 * walks above (pos may be NULL; its key is requester || 0x00 || serial): a range scan of
 * by_requester, so a page costs its rows. A database made before the index (meta
 * "by_requester" unset) walks every certificate, filtered, until db_requester_build has
 * finished; positions have the same form either way, so paging goes on across the end of
 * the build. Returns 0, fn's non-zero value, CAIRN_EINVAL (pos of another search) or a db code.
 */
int db_certs_by_requester_at(db_txn_t *txn, const char *requester, db_cursor_t *pos,
			     db_cert_fn fn, void *arg);

/* ---- the certificate search of the admin API and `cairn list` (search.c) ---- */
#define DB_SEARCH_NAME 'n'      /* the cursor tags (db_cursor_text) of the indexes walked */
#define DB_SEARCH_EXPIRY 'e'
#define DB_SEARCH_REQUESTER 'r'
#define DB_SEARCH_ALL 'a'
typedef struct db_search {
	const char *name;      /* NULL, an exact name or a .suffix (db_certs_by_name) */
	int window;            /* 1: only from <= notAfter < until */
	int64_t from, until;
	const char *requester; /* NULL, or exactly this requester */
} db_search_t;
/* NULL when r may be a requester (non-empty UTF-8 that fits db_cert_t's field), else why
 * not, in words for a one-line error: the CLI and the admin API refuse such a value
 * instead of listing nothing for it. */
const char *db_search_requester_invalid(const char *r);
/* The index a search walks, as its cursor tag: the name's, else the window's (by_expiry),
 * else the requester's (by_requester), else every certificate. */
char db_search_kind(const db_search_t *q);
/*
 * One search, one query path: walks the index db_search_kind names, paged by pos (may
 * be NULL) like the walks above, and hands fn only the rows that also pass the filters
 * that index does not apply (the requester, the window). A name search with a requester
 * costs the name's rows; a requester search its own rows. Returns as the walk does
 * (0, fn's non-zero value, CAIRN_EINVAL for a pos of another search, a db code).
 */
int db_certs_search_at(db_txn_t *txn, const db_search_t *q, db_cursor_t *pos, db_cert_fn fn,
		       void *arg);
/*
 * One step of building by_requester on a database made before it (new databases have it
 * from their first certificate, and db_cert_put always adds the entry): indexes up to
 * batch certificates after the last one indexed (meta "by_requester_at") in one durable
 * write, and when the table's end is reached sets meta "by_requester". *done = 1 once
 * the index is complete (then nothing is written). For a background thread: each call
 * holds the writer for one batch only. Returns 0 or a db code. Thread-safe.
 */
int db_requester_build(db_t *db, size_t batch, int *done, cairn_err_t *err) CAIRN_WUR;

/* Revoked certificates of one issuer ("issuing", ...), in serial order: what a CRL
 * build walks (released holds are reported with reason 8, removeFromCRL). fn gets the serial (borrowed), revocation time and reason; return
 * non-zero to stop (that value is returned). */
typedef int (*db_revoked_fn)(const uint8_t *serial, size_t len, int64_t when, int reason,
			     void *arg);
int db_revoked_by_issuer(db_txn_t *txn, const char *issuer, db_revoked_fn fn, void *arg);

/* ---- revocation details (invalidity date, hold release, CRL walk with expiry) ---- */

/* One entry of the revoked index as a CRL build sees it. serial is borrowed
 * (valid until the txn ends). */
typedef struct db_revocation {
	const uint8_t *serial;
	size_t serial_len;
	int64_t revoked_at;      /* unix seconds */
	int reason;              /* RFC 5280 CRLReason */
	int64_t invalidity_date; /* unix seconds, 0 = none */
	int64_t not_after;       /* the certificate's notAfter, 0 = not recorded */
} db_revocation_t;

/* db_cert_revoke with an invalidity date (0 = none), which the revoked index
 * keeps beside the certificate's notAfter (so a CRL build never reads certs).
 * Same return codes as db_cert_revoke. Write txn only. */
int db_cert_revoke_ex(db_txn_t *txn, const uint8_t *serial, size_t len, int64_t when, int reason,
		      int64_t invalidity_date) CAIRN_WUR;
/* Releases a certificateHold (RFC 5280 removeFromCRL) at time when: the record
 * becomes valid again; its revoked index entry turns into reason removeFromCRL (8)
 * at that time (delta CRLs list it; full CRLs skip reason 8). Returns 0,
 * CAIRN_ENOENT (unknown serial), CAIRN_EINVAL (not revoked with certificateHold).
 * Write txn only. */
int db_cert_unhold(db_txn_t *txn, const uint8_t *serial, size_t len, int64_t when) CAIRN_WUR;

/* The revoked index entry of issuer's certificate serial: *when and *reason (8,
 * removeFromCRL, for a released hold: the certificate is valid again). Every change of a
 * certificate's status writes this entry in the same txn (db_cert_put, db_cert_revoke_ex,
 * db_cert_unhold), so it says what the record says without reading the record. Returns 0,
 * CAIRN_ENOENT (never revoked, or not issuer's), CAIRN_EINVAL, CAIRN_EDB. */
int db_revoked_get(db_txn_t *txn, const char *issuer, const uint8_t *serial, size_t len,
		   int64_t *when, int *reason) CAIRN_WUR;

typedef int (*db_revocation_fn)(const db_revocation_t *r, void *arg);
/* Like db_revoked_by_issuer with every detail of the entry: a walk of the
 * revoked index only, in serial order, O(1) memory. Returns 0, fn's non-zero
 * value, CAIRN_EINVAL or CAIRN_EDB (corrupt entry). */
int db_revocations(db_txn_t *txn, const char *issuer, db_revocation_fn fn, void *arg);

/* The latest revocation or release time in issuer's part of the revoked index, kept by
 * db_cert_put / db_cert_revoke_ex / db_cert_unhold in their own txn (meta
 * "revoked_last/ISSUER"): "did anything change since t" is one read. Returns 0,
 * CAIRN_ENOENT (a database made before it, or no revocation yet: walk db_revocations
 * once and record the answer with db_revoked_last_note), CAIRN_EINVAL, CAIRN_EDB. */
int db_revoked_last(db_txn_t *txn, const char *issuer, int64_t *out) CAIRN_WUR;
/* Raises the recorded time to when (never lowers it). Write txn only. */
int db_revoked_last_note(db_txn_t *txn, const char *issuer, int64_t when) CAIRN_WUR;

/* ---- counters (the stats table): changed in the transaction of what they count ---- */
#define DB_COUNTER_MAX_LABELS 4

/* Adds delta to the counter family{labels} (created at 0). Write txn only. Returns 0,
 * CAIRN_EINVAL, CAIRN_ETOOBIG (key over 256 bytes) or a db code. */
int db_counter_add(db_txn_t *txn, const char *family, const char *const *labels, size_t n,
		   int64_t delta) CAIRN_WUR;
/* Sets the counter family{labels} to v (a gauge kept with what it describes). Write txn
 * only. Returns as db_counter_add. */
int db_counter_set(db_txn_t *txn, const char *family, const char *const *labels, size_t n,
		   int64_t v) CAIRN_WUR;
/* *out = the counter's value (0 when it was never set). Returns 0 or a code. */
int db_counter_get(db_txn_t *txn, const char *family, const char *const *labels, size_t n,
		   int64_t *out) CAIRN_WUR;
/* Calls fn for every counter of family, in key order; labels are borrowed for the call.
 * Families kept by cairn: "issued" {channel, profile} (ca/record.c), "revocations"
 * {reason: CRLReason as decimal} (db_cert_revoke*), "requests" {status} (policy/),
 * "expiry_day" {YYYY-MM-DD} (db_cert_expiry_days), "backup_last" and
 * "backup_changes" (audit_append: the last backup and the CA changes since).
 * Returns 0, fn's non-zero value or a code. */
typedef int (*db_counter_fn)(const char *const *labels, size_t n, int64_t value, void *arg);
int db_counters(db_txn_t *txn, const char *family, db_counter_fn fn, void *arg);

/* Certificates of one profile by status: revoked (whatever their notAfter), expired (not
 * revoked, notAfter < now) and valid (the rest). At most DB_COUNT_PROFILES profiles are
 * told apart (more is CAIRN_EDB: the config has far fewer). */
#define DB_COUNT_PROFILES 256
typedef struct db_cert_count {
	char profile[64];
	int64_t valid, revoked, expired;
} db_cert_count_t;
typedef int (*db_cert_count_fn)(const db_cert_count_t *c, void *arg);
/*
 * Counts at time now without walking the certificates: the stored per-profile counters
 * are exact at a horizon H (stats "horizon"); only by_expiry between H and now is walked
 * (*walked, may be NULL, says how many entries), so the cost is what expired since H.
 * Any txn. Returns 0, fn's non-zero value or a code.
 */
int db_cert_counts(db_txn_t *txn, int64_t now, db_cert_count_fn fn, void *arg,
		   size_t *walked) CAIRN_WUR;
/* Moves H to now (write txn), so the next db_cert_counts walks from there. A database
 * that predates the counters gets them built by db_open (one walk of every certificate
 * and request, in its set-up transaction). */
int db_cert_counts_advance(db_txn_t *txn, int64_t now) CAIRN_WUR;
/*
 * Certificates not revoked by the UTC day of their notAfter, for days days from now:
 * per_day[0] counts those expiring from now to the end of today (a by_expiry walk of
 * the rest of today), per_day[i] those expiring on the UTC day i days after today (one
 * "expiry_day" counter each). Cost: days lookups plus today's expiries, however many
 * certificates there are. Any txn. Returns 0, CAIRN_EINVAL or a db code.
 */
int db_cert_expiry_days(db_txn_t *txn, int64_t now, size_t days, int64_t *per_day) CAIRN_WUR;
/* Map size and the bytes in use (up to the last page written), from LMDB. */
int db_usage(db_t *db, uint64_t *map_bytes, uint64_t *used_bytes) CAIRN_WUR;
/* The filesystem holding the database: the bytes an unprivileged writer may still use
 * (statvfs f_bavail) and its size. Returns 0 or CAIRN_EIO. Thread-safe. */
int db_disk(db_t *db, uint64_t *free_bytes, uint64_t *size_bytes) CAIRN_WUR;

/* Serial as lower-case hex (2*len+1 bytes) — the form used by the CLI and API. */
void db_serial_hex(const uint8_t *serial, size_t len, char *out);

#endif
