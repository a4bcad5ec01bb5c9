/* SPDX-License-Identifier: MIT */
/* Opening and closing the LMDB environment, schema check, map resizing and read transactions. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db/db_int.h"

#define DB_DEFAULT_MAPSIZE ((size_t)256 << 20)
#define DB_MIN_MAPSIZE ((size_t)64 << 10)
#define DB_MAX_READERS 512
#define DB_GROW_STEP_MAX ((size_t)1 << 30)
#define DB_RESIZE_WAIT_S 30

/* Table names, indexed by db_table_t. */
static const char *const table_names[DB_TABLE_COUNT] = {
	[DB_META] = "meta",         [DB_CERTS] = "certs",   [DB_BY_EXPIRY] = "by_expiry",
	[DB_BY_NAME] = "by_name",   [DB_REVOKED] = "revoked", [DB_OCSP] = "ocsp",
	[DB_REQUESTS] = "requests", [DB_AUDIT] = "audit",   [DB_TOKENS] = "tokens",
	[DB_ACME] = "acme",
	[DB_ADMINS] = "admins",
	[DB_EST] = "est",
	[DB_OUTBOX] = "outbox",
	[DB_STATS] = "stats",
	[DB_INVENTORY] = "inventory",
	[DB_BY_RNAME] = "by_rname",
	[DB_REPLACE] = "replace",
	[DB_OCSP_DUE] = "ocsp_due",
	[DB_BY_REQUESTER] = "by_requester",
};

/* Initial map size: CAIRN_DB_MAPSIZE (bytes, optional K/M/G suffix; used by tests) or 256 MiB. */
static size_t initial_mapsize(void)
{
	const char *s = getenv("CAIRN_DB_MAPSIZE");
	char *end;
	unsigned long long v;

	if (s == NULL || *s == '\0')
		return DB_DEFAULT_MAPSIZE;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s)
		return DB_DEFAULT_MAPSIZE;
	switch (*end) {
	case 'G': case 'g': v <<= 10; /* fall through */
	case 'M': case 'm': v <<= 10; /* fall through */
	case 'K': case 'k': v <<= 10; end++; break;
	default: break;
	}
	if (*end != '\0')
		return DB_DEFAULT_MAPSIZE;
	return v < DB_MIN_MAPSIZE ? DB_MIN_MAPSIZE : (size_t)v;
}

static void refresh_mapsize(db_t *db)
{
	MDB_envinfo info;

	if (mdb_env_info(db->env, &info) == 0)
		db->map_size = info.me_mapsize;
}

void db_gate_writer_enter(db_t *db)
{
	pthread_mutex_lock(&db->gate_mu);
	while (db->resizing)
		pthread_cond_wait(&db->gate_cv, &db->gate_mu);
	db->writer_in_txn = 1;
	pthread_mutex_unlock(&db->gate_mu);
}

void db_gate_writer_exit(db_t *db)
{
	pthread_mutex_lock(&db->gate_mu);
	db->writer_in_txn = 0;
	pthread_cond_broadcast(&db->gate_cv);
	pthread_mutex_unlock(&db->gate_mu);
}

/*
 * mdb_env_set_mapsize remaps the file, so every pointer into the map dies: it
 * may run only while no txn of this process is open. New txns wait at the gate;
 * open ones are waited for (bounded, so a thread that holds a read txn while
 * waiting on db_write gets an error instead of a deadlock).
 */
int db_resize(db_t *db, int grow, cairn_err_t *err)
{
	uint64_t deadline;
	size_t before, want = 0;
	int rc, ret = 0;

	pthread_mutex_lock(&db->gate_mu);
	while (db->resizing)
		pthread_cond_wait(&db->gate_cv, &db->gate_mu);
	db->resizing = 1;
	deadline = time_mono_ms() + DB_RESIZE_WAIT_S * 1000;
	while (db->readers > 0 || db->writer_in_txn) {
		if (time_mono_wait(&db->gate_cv, &db->gate_mu, deadline) == ETIMEDOUT) {
			ret = cairn_err_set(err, CAIRN_EDB,
					    "database map full and %u read transaction(s) still open",
					    db->readers);
			goto out;
		}
	}
	before = db->map_size;
	if (grow)
		want = before + (before < DB_GROW_STEP_MAX ? before : DB_GROW_STEP_MAX);
	rc = mdb_env_set_mapsize(db->env, want);
	if (rc != 0) {
		ret = cairn_err_set(err, CAIRN_EDB, "resize database map to %zu bytes: %s", want,
				    mdb_strerror(rc));
		pthread_mutex_lock(&db->q_mu);
		db->fatal = 1;
		snprintf(db->fatal_msg, sizeof(db->fatal_msg), "%s", cairn_err_msg(err));
		pthread_mutex_unlock(&db->q_mu);
		goto out;
	}
	refresh_mapsize(db);
	if (grow) {
		pthread_mutex_lock(&db->q_mu);
		db->grows++;
		pthread_mutex_unlock(&db->q_mu);
	}
out:
	db->resizing = 0;
	pthread_cond_broadcast(&db->gate_cv);
	pthread_mutex_unlock(&db->gate_mu);
	return ret;
}

/* Meta keys a new database sets to "1" (see open_tables). */
static const char *const new_db_flags[] = { "by_rname", "by_requester", DB_META_CANDIDATES };
#define N_NEW_DB_FLAGS (int)(sizeof(new_db_flags) / sizeof(new_db_flags[0]))

/* Reads or creates meta "schema_version" (ASCII decimal); opens every table.
 * *map_full is set when the map is too small even for that. */
static int open_tables(db_t *db, int *map_full, cairn_err_t *err)
{
	MDB_txn *txn = NULL;
	MDB_val k = { sizeof("schema_version") - 1, (void *)"schema_version" }, v;
	char buf[32], want[32];
	int rc, i, ret = 0;

	rc = mdb_txn_begin(db->env, NULL, 0, &txn);
	if (rc != 0) {
		ret = cairn_err_set(err, CAIRN_EDB, "begin setup txn in %s: %s", db->path,
				    mdb_strerror(rc));
		goto out;
	}
	rc = mdb_dbi_open(txn, table_names[DB_META], MDB_CREATE, &db->dbi[DB_META]);
	if (rc != 0)
		goto mdb_fail;
	snprintf(want, sizeof(want), "%d", DB_SCHEMA_VERSION);
	rc = mdb_get(txn, db->dbi[DB_META], &k, &v);
	if (rc == 0) {
		size_t n = v.mv_size < sizeof(buf) - 1 ? v.mv_size : sizeof(buf) - 1;
		memcpy(buf, v.mv_data, n);
		buf[n] = '\0';
		if (v.mv_size != strlen(want) || strcmp(buf, want) != 0) {
			ret = cairn_err_set(err, CAIRN_ESCHEMA,
					    "database %s has schema version %s, this cairn expects %s",
					    db->path, buf, want);
			goto out;
		}
	} else if (rc == MDB_NOTFOUND) {
		v.mv_size = strlen(want);
		v.mv_data = want;
		rc = mdb_put(txn, db->dbi[DB_META], &k, &v, 0);
		/* What a new database keeps from its first certificate on, so that no walk has
		 * to make up for older ones: every name reversed (by_rname: suffix searches
		 * follow the matches, not the table), by requester (db_certs_by_requester_at;
		 * older ones: db_requester_build), every certificate issued listed as a renewal
		 * candidate (DB_META_CANDIDATES). */
		for (i = 0; rc == 0 && i < N_NEW_DB_FLAGS; i++) {
			MDB_val rk = { strlen(new_db_flags[i]), (void *)new_db_flags[i] },
				rv = { 1, (void *)"1" };
			rc = mdb_put(txn, db->dbi[DB_META], &rk, &rv, 0);
		}
		if (rc != 0)
			goto mdb_fail;
	} else {
		goto mdb_fail;
	}
	for (i = 0; i < DB_TABLE_COUNT; i++) {
		if (i == DB_META)
			continue;
		rc = mdb_dbi_open(txn, table_names[i], MDB_CREATE, &db->dbi[i]);
		if (rc != 0)
			goto mdb_fail;
	}
	{
		db_txn_t t = { .txn = txn, .db = db, .write = 1 };
		if ((ret = db_stats_ensure(&t, err)) != 0) {
			*map_full = t.map_full;
			goto out;
		}
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto mdb_fail;
	goto out;
mdb_fail:
	*map_full = rc == MDB_MAP_FULL;
	ret = cairn_err_set(err, CAIRN_EDB, "set up tables in %s: %s", db->path,
			    mdb_strerror(rc));
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	return ret;
}

/* A db_t around an LMDB environment opened in path with flags; stale reader slots
 * cleared. On failure everything is freed and *out is NULL. */
static int env_open(const char *path, unsigned flags, db_t **out, cairn_err_t *err)
{
	db_t *db = calloc(1, sizeof(*db));
	int rc, ret = 0, dead = 0;

	*out = NULL;
	if (db == NULL || (db->path = strdup(path)) == NULL) {
		free(db);
		return cairn_err_set(err, CAIRN_ENOMEM, "db_open: out of memory");
	}
	pthread_mutex_init(&db->q_mu, NULL);
	time_mono_cond_init(&db->q_cv);
	pthread_mutex_init(&db->gate_mu, NULL);
	time_mono_cond_init(&db->gate_cv);
	rc = mdb_env_create(&db->env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(db->env, DB_TABLE_COUNT);
	if (rc == 0)
		rc = mdb_env_set_maxreaders(db->env, DB_MAX_READERS);
	if (rc == 0)
		rc = mdb_env_set_mapsize(db->env, initial_mapsize());
	if (rc != 0) {
		ret = cairn_err_set(err, CAIRN_EDB, "create LMDB environment: %s", mdb_strerror(rc));
		goto out;
	}
	rc = mdb_env_open(db->env, path, flags, 0600);
	if (rc != 0) {
		ret = cairn_err_set(err, rc == EACCES ? CAIRN_EDENIED : CAIRN_EDB,
				    "open database %s%s: %s", path,
				    flags & MDB_RDONLY ? " read-only" : "", mdb_strerror(rc));
		goto out;
	}
	mdb_reader_check(db->env, &dead);
	refresh_mapsize(db);
	*out = db;
	db = NULL;
out:
	db_close(db);
	return ret;
}

int db_open(const char *path, db_t **out, cairn_err_t *err)
{
	db_t *db = NULL;
	int rc, ret = 0, tries;

	*out = NULL;
	if (path == NULL || *path == '\0')
		return cairn_err_set(err, CAIRN_EINVAL, "db_open: empty path");
	if (fs_mkdirs(path, 0700) != 0)
		return cairn_err_set(err, CAIRN_EIO, "create database directory %s: %s", path,
				     strerror(errno));
	/* Default sync: every commit is durable. Never MDB_NOSYNC. */
	if ((ret = env_open(path, MDB_NOTLS, &db, err)) != 0)
		return ret;
	for (tries = 0;; tries++) {
		int map_full = 0;
		ret = open_tables(db, &map_full, err);
		if (!map_full || tries > 16)
			break;
		db->map_size *= 2;
		rc = mdb_env_set_mapsize(db->env, db->map_size);
		if (rc != 0) {
			ret = cairn_err_set(err, CAIRN_EDB, "grow database map: %s", mdb_strerror(rc));
			break;
		}
	}
	if (ret != 0)
		goto out;
	refresh_mapsize(db);
	rc = pthread_create(&db->writer, NULL, db_writer_main, db);
	if (rc != 0) {
		ret = cairn_err_set(err, CAIRN_ENOMEM, "start database writer: %s", strerror(rc));
		goto out;
	}
	db->writer_started = 1;
	*out = db;
	db = NULL;
out:
	db_close(db);
	return ret;
}

/* Opens every table in a read txn (MDB_RDONLY env: nothing is created) and checks the
 * schema version like open_tables. A table missing is an error: the issuing daemon
 * creates them all at its start. */
static int open_tables_readonly(db_t *db, cairn_err_t *err)
{
	MDB_txn *txn = NULL;
	MDB_val k = { sizeof("schema_version") - 1, (void *)"schema_version" }, v;
	char want[32];
	int rc, i, ret = 0;

	snprintf(want, sizeof(want), "%d", DB_SCHEMA_VERSION);
	if ((rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn)) != 0)
		goto mdb_fail;
	for (i = 0; i < DB_TABLE_COUNT; i++)
		if ((rc = mdb_dbi_open(txn, table_names[i], 0, &db->dbi[i])) != 0) {
			ret = cairn_err_set(err, CAIRN_ESCHEMA,
					    "database %s has no table %s: start the issuing daemon "
					    "(this cairn's) on it once first", db->path, table_names[i]);
			goto out;
		}
	if ((rc = mdb_get(txn, db->dbi[DB_META], &k, &v)) != 0 || v.mv_size != strlen(want) ||
	    memcmp(v.mv_data, want, v.mv_size) != 0) {
		ret = cairn_err_set(err, CAIRN_ESCHEMA,
				    "database %s is not of schema version %s (this cairn's)", db->path,
				    want);
		goto out;
	}
	/* Committing a read txn keeps the table handles it opened for the env. */
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc == 0)
		goto out;
mdb_fail:
	ret = cairn_err_set(err, CAIRN_EDB, "open tables of %s: %s", db->path, mdb_strerror(rc));
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	return ret;
}

int db_open_readonly(const char *path, db_t **out, cairn_err_t *err)
{
	db_t *db = NULL;
	char *data = NULL;
	int ret = 0;

	*out = NULL;
	if (path == NULL || *path == '\0')
		return cairn_err_set(err, CAIRN_EINVAL, "db_open_readonly: empty path");
	/* LMDB would create lock.mdb in any directory: look for the data file first. */
	if ((data = fs_join(path, "data.mdb")) == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	if (!fs_exists(data))
		ret = cairn_err_set(err, CAIRN_ENOENT, "no CA database in %s (no data.mdb)", path);
	free(data);
	/* The map follows the file's (the writer's) size, adopted again when it grows. */
	if (ret != 0 || (ret = env_open(path, MDB_RDONLY | MDB_NOTLS, &db, err)) != 0)
		return ret;
	/* No writer thread: every db_write fails fast with this message. */
	db->fatal = 1;
	snprintf(db->fatal_msg, sizeof(db->fatal_msg), "database %s is open read-only", path);
	if ((ret = open_tables_readonly(db, err)) != 0) {
		db_close(db);
		return ret;
	}
	*out = db;
	return 0;
}

void db_close(db_t *db)
{
	if (db == NULL)
		return;
	if (db->writer_started) {
		pthread_mutex_lock(&db->q_mu);
		db->stopping = 1;
		pthread_cond_signal(&db->q_cv);
		pthread_mutex_unlock(&db->q_mu);
		pthread_join(db->writer, NULL);
	}
	while (db->n_idle > 0)
		mdb_txn_abort(db->idle[--db->n_idle]);
	if (db->env != NULL)
		mdb_env_close(db->env);
	pthread_cond_destroy(&db->q_cv);
	pthread_mutex_destroy(&db->q_mu);
	pthread_cond_destroy(&db->gate_cv);
	pthread_mutex_destroy(&db->gate_mu);
	free(db->path);
	free(db);
}

/*
 * With MDB_NOTLS a reader slot belongs to the MDB_txn, not to the thread, so a
 * txn that db_txn_end reset can be renewed by any thread: mdb_txn_renew reuses
 * its slot where mdb_txn_begin searches the reader table for a free one under
 * the table's mutex (the larger part of an OCSP cache hit, bench/README.md).
 * A reset txn holds no snapshot, so it pins no pages and does not block a map
 * resize. A renewal that fails (another process grew the map) falls back to a
 * fresh txn.
 */
int db_read_begin(db_t *db, db_txn_t **out)
{
	db_txn_t *t;
	MDB_txn *idle = NULL;
	int rc, tries;

	*out = NULL;
	if (db == NULL)
		return CAIRN_EINVAL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return CAIRN_ENOMEM;
	t->db = db;
	for (tries = 0;; tries++) {
		pthread_mutex_lock(&db->gate_mu);
		while (db->resizing)
			pthread_cond_wait(&db->gate_cv, &db->gate_mu);
		db->readers++;
		if (tries == 0 && db->n_idle > 0)
			idle = db->idle[--db->n_idle];
		pthread_mutex_unlock(&db->gate_mu);
		if (idle != NULL) {
			rc = mdb_txn_renew(idle);
			if (rc == 0) {
				t->txn = idle;
				atomic_fetch_add(&db->renewed, 1);
				break;
			}
			mdb_txn_abort(idle);
			idle = NULL;
		}
		rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &t->txn);
		if (rc == 0)
			break;
		pthread_mutex_lock(&db->gate_mu);
		db->readers--;
		pthread_cond_broadcast(&db->gate_cv);
		pthread_mutex_unlock(&db->gate_mu);
		/* Another process grew the map: adopt its size and retry. */
		if (rc != MDB_MAP_RESIZED || tries > 4 || db_resize(db, 0, NULL) != 0) {
			free(t);
			return CAIRN_EDB;
		}
	}
	*out = t;
	return 0;
}

uint64_t db_read_renewed(db_t *db)
{
	return atomic_load(&db->renewed);
}

/*
 * mdb_env_copyfd2 with MDB_CP_COMPACT walks one read snapshot (its own read txn),
 * so writers of this and other processes go on while it runs. The gate counts it
 * as a reader, so this process never remaps under it; when another process grew
 * the map, the copy's txn_begin says MDB_MAP_RESIZED and the size is adopted.
 */
int db_backup(db_t *db, const char *file, cairn_err_t *err)
{
	int fd, rc = MDB_MAP_RESIZED, tries;

	if (db == NULL || file == NULL || *file == '\0')
		return cairn_err_set(err, CAIRN_EINVAL, "db_backup: no database or file");
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return cairn_err_set(err, CAIRN_EIO, "create %s: %s", file, strerror(errno));
	for (tries = 0; rc == MDB_MAP_RESIZED && tries < 5; tries++) {
		if (tries > 0 && (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0 ||
				  db_resize(db, 0, NULL) != 0))
			break;
		pthread_mutex_lock(&db->gate_mu);
		while (db->resizing)
			pthread_cond_wait(&db->gate_cv, &db->gate_mu);
		db->readers++;
		pthread_mutex_unlock(&db->gate_mu);
		rc = mdb_env_copyfd2(db->env, fd, MDB_CP_COMPACT);
		pthread_mutex_lock(&db->gate_mu);
		db->readers--;
		pthread_cond_broadcast(&db->gate_cv);
		pthread_mutex_unlock(&db->gate_mu);
	}
	if (rc == 0 && fsync(fd) != 0)
		rc = errno;
	if (close(fd) != 0 && rc == 0)
		rc = errno;
	if (rc != 0) {
		unlink(file);
		return cairn_err_set(err, CAIRN_EDB, "copy database %s to %s: %s", db->path, file,
				     mdb_strerror(rc));
	}
	return 0;
}

void db_txn_end(db_txn_t *txn)
{
	db_t *db;
	MDB_txn *drop = NULL;

	if (txn == NULL || txn->write)
		return; /* write txns belong to the writer thread */
	db = txn->db;
	mdb_txn_reset(txn->txn); /* releases the snapshot; the slot stays with the txn */
	pthread_mutex_lock(&db->gate_mu);
	db->readers--;
	if (db->n_idle < DB_IDLE_READERS)
		db->idle[db->n_idle++] = txn->txn;
	else
		drop = txn->txn;
	if (db->resizing)
		pthread_cond_broadcast(&db->gate_cv);
	pthread_mutex_unlock(&db->gate_mu);
	if (drop != NULL)
		mdb_txn_abort(drop);
	free(txn);
}

void db_stats(db_t *db, uint64_t *commits, uint64_t *ops, uint64_t *lone)
{
	pthread_mutex_lock(&db->q_mu);
	if (commits != NULL)
		*commits = db->commits;
	if (ops != NULL)
		*ops = db->ops;
	if (lone != NULL)
		*lone = db->lone_commits;
	pthread_mutex_unlock(&db->q_mu);
}

void db_write_state(db_t *db, util_failrun_t *out)
{
	pthread_mutex_lock(&db->q_mu);
	*out = db->commit_fail;
	pthread_mutex_unlock(&db->q_mu);
}

size_t db_map_size(db_t *db)
{
	size_t n;

	pthread_mutex_lock(&db->gate_mu);
	n = db->map_size;
	pthread_mutex_unlock(&db->gate_mu);
	return n;
}

uint64_t db_map_grows(db_t *db)
{
	uint64_t n;

	pthread_mutex_lock(&db->q_mu);
	n = db->grows;
	pthread_mutex_unlock(&db->q_mu);
	return n;
}

int db_mdb_rc(db_txn_t *txn, int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return CAIRN_ENOENT;
	case MDB_KEYEXIST:
		return CAIRN_EEXIST;
	case MDB_BAD_VALSIZE:
		return CAIRN_ETOOBIG;
	case MDB_MAP_FULL:
		if (txn != NULL)
			txn->map_full = 1;
		/* fall through */
	default:
		if (txn != NULL)
			txn->poisoned = 1;
		return CAIRN_EDB;
	}
}
