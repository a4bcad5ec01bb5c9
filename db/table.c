/* SPDX-License-Identifier: MIT */
/* Raw key/value access to the named tables inside a transaction. */
#include <string.h>

#include "db/db_int.h"

static int check(db_txn_t *txn, db_table_t t)
{
	if (txn == NULL || txn->txn == NULL || (int)t < 0 || t >= DB_TABLE_COUNT)
		return CAIRN_EINVAL;
	if (txn->poisoned)
		return CAIRN_EPOISONED;
	return 0;
}

static int check_key(db_txn_t *txn, const void *key, size_t klen)
{
	if (key == NULL || klen == 0)
		return CAIRN_EINVAL;
	if (klen > (size_t)mdb_env_get_maxkeysize(txn->db->env))
		return CAIRN_ETOOBIG;
	return 0;
}

int db_put(db_txn_t *txn, db_table_t t, const void *key, size_t klen, const void *val,
	   size_t vlen, unsigned flags)
{
	MDB_val k, v;
	int rc;

	if ((rc = check(txn, t)) != 0 || (rc = check_key(txn, key, klen)) != 0)
		return rc;
	if (!txn->write || (val == NULL && vlen > 0))
		return CAIRN_EINVAL;
	k.mv_data = (void *)key;
	k.mv_size = klen;
	v.mv_data = (void *)(val != NULL ? val : "");
	v.mv_size = vlen;
	rc = mdb_put(txn->txn, txn->db->dbi[t], &k, &v,
		     (flags & DB_NOOVERWRITE) ? MDB_NOOVERWRITE : 0);
	return db_mdb_rc(txn, rc);
}

int db_get(db_txn_t *txn, db_table_t t, const void *key, size_t klen, const void **val,
	   size_t *vlen)
{
	MDB_val k, v;
	int rc;

	if ((rc = check(txn, t)) != 0)
		return rc;
	if (key == NULL || klen == 0 || klen > (size_t)mdb_env_get_maxkeysize(txn->db->env))
		return CAIRN_ENOENT; /* no such key can exist */
	k.mv_data = (void *)key;
	k.mv_size = klen;
	rc = mdb_get(txn->txn, txn->db->dbi[t], &k, &v);
	if (rc != 0)
		return db_mdb_rc(rc == MDB_NOTFOUND ? NULL : txn, rc);
	if (val != NULL)
		*val = v.mv_data;
	if (vlen != NULL)
		*vlen = v.mv_size;
	return 0;
}

int db_del(db_txn_t *txn, db_table_t t, const void *key, size_t klen)
{
	MDB_val k;
	int rc;

	if ((rc = check(txn, t)) != 0)
		return rc;
	if (!txn->write)
		return CAIRN_EINVAL;
	if (key == NULL || klen == 0 || klen > (size_t)mdb_env_get_maxkeysize(txn->db->env))
		return CAIRN_ENOENT;
	k.mv_data = (void *)key;
	k.mv_size = klen;
	rc = mdb_del(txn->txn, txn->db->dbi[t], &k, NULL);
	return db_mdb_rc(rc == MDB_NOTFOUND ? NULL : txn, rc);
}

int db_last(db_txn_t *txn, db_table_t t, const void **key, size_t *klen, const void **val,
	    size_t *vlen)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	if ((rc = check(txn, t)) != 0)
		return rc;
	rc = mdb_cursor_open(txn->txn, txn->db->dbi[t], &cur);
	if (rc != 0)
		return db_mdb_rc(txn, rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	mdb_cursor_close(cur);
	if (rc != 0)
		return db_mdb_rc(rc == MDB_NOTFOUND ? NULL : txn, rc);
	if (key != NULL)
		*key = k.mv_data;
	if (klen != NULL)
		*klen = k.mv_size;
	if (val != NULL)
		*val = v.mv_data;
	if (vlen != NULL)
		*vlen = v.mv_size;
	return 0;
}

int db_iterate(db_txn_t *txn, db_table_t t, const void *start, size_t slen, db_iter_fn fn,
	       void *arg)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	MDB_cursor_op op;
	int rc, ret = 0;

	if ((rc = check(txn, t)) != 0)
		return rc;
	if (fn == NULL)
		return CAIRN_EINVAL;
	rc = mdb_cursor_open(txn->txn, txn->db->dbi[t], &cur);
	if (rc != 0)
		return db_mdb_rc(txn, rc);
	if (start != NULL && slen > 0) {
		k.mv_data = (void *)start;
		k.mv_size = slen;
		op = MDB_SET_RANGE;
	} else {
		op = MDB_FIRST;
	}
	for (;;) {
		rc = mdb_cursor_get(cur, &k, &v, op);
		if (rc == MDB_NOTFOUND)
			break;
		if (rc != 0) {
			ret = db_mdb_rc(txn, rc);
			break;
		}
		atomic_fetch_add_explicit(&txn->db->walked, 1, memory_order_relaxed);
		ret = fn(k.mv_data, k.mv_size, v.mv_data, v.mv_size, arg);
		if (ret != 0)
			break;
		op = MDB_NEXT;
	}
	mdb_cursor_close(cur);
	return ret;
}

uint64_t db_walked(db_t *db)
{
	return db != NULL ? atomic_load(&db->walked) : 0;
}

size_t db_count(db_txn_t *txn, db_table_t t)
{
	MDB_stat st;

	if (check(txn, t) != 0 || mdb_stat(txn->txn, txn->db->dbi[t], &st) != 0)
		return 0;
	return st.ms_entries;
}

void db_serial_hex(const uint8_t *serial, size_t len, char *out)
{
	hex_encode(serial, len, out);
}
