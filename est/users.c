/* SPDX-License-Identifier: MIT */
/* EST enrollment accounts: salted scrypt hashes in LMDB (DB_EST "u:NAME"), add/del audited in the same write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "audit/audit.h"
#include "est/est.h"
#include "notify/notify.h"

#define USER_PREFIX "u:"
#define SCRYPT_N EST_SCRYPT_N /* for an unknown user's dummy hash */
#define SCRYPT_R EST_SCRYPT_R
#define SCRYPT_P EST_SCRYPT_P
#define SCRYPT_MAXMEM EST_SCRYPT_MAXMEM

/* What new passwords are hashed with (est_users_kdf). */
static _Atomic int kdf_n = EST_SCRYPT_N, kdf_r = EST_SCRYPT_R, kdf_p = EST_SCRYPT_P;

void est_users_kdf(int n, int r, int p)
{
	kdf_n = n;
	kdf_r = r;
	kdf_p = p;
}
#define SALT_LEN 16
#define HASH_LEN 32

static int user_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= EST_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("._@-", s[i]) != NULL))
			return 0;
	return 1;
}

static int user_key(const char *name, char *key, size_t cap)
{
	return snprintf(key, cap, USER_PREFIX "%s", name);
}

static int scrypt_hash(const char *password, const uint8_t *salt, size_t salt_len, uint64_t n,
		       uint64_t r, uint64_t p, uint8_t out[HASH_LEN])
{
	if (!EVP_PBE_scrypt(password, strlen(password), salt, salt_len, n, r, p, SCRYPT_MAXMEM,
			    out, HASH_LEN))
		return CAIRN_ECRYPTO;
	return 0;
}

int est_scrypt_check(int n, int r, int p, cairn_err_t *err)
{
	/* OpenSSL needs 128 * r * (n + p + 2) bytes (V and B) and, with r = 1, n < 2^16;
	 * without a key it only checks the parameters against SCRYPT_MAXMEM. */
	long long need = 128LL * r * ((long long)n + p + 2);

	if (n > 1 && r > 0 && p > 0 &&
	    EVP_PBE_scrypt(NULL, 0, NULL, 0, (uint64_t)n, (uint64_t)r, (uint64_t)p, SCRYPT_MAXMEM,
			   NULL, 0) == 1)
		return 0;
	ERR_clear_error();
	if (need > (long long)SCRYPT_MAXMEM)
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "est.scrypt_n/r/p: N=%d r=%d p=%d need %lld bytes of memory "
				     "(128 * r * (N + p + 2)), more than 64 MiB",
				     n, r, p, need);
	return cairn_err_set(err, CAIRN_ECONFIG,
			     "est.scrypt_n/r/p: N=%d r=%d p=%d are refused by scrypt (with r = 1, "
			     "N must be below 65536)", n, r, p);
}

struct user_put {
	const char *name;
	const char *actor;
	const char *record;
	json_t *labels; /* borrowed; NULL = the default label only */
};

static int user_put_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct user_put *u = arg;
	char key[EST_NAME_MAX + 4];
	json_t *details = u->labels ? json_pack("{s:s, s:O}", "user", u->name, "labels", u->labels)
				    : json_pack("{s:s}", "user", u->name);
	audit_event_t ev = { .actor = u->actor, .action = "est.user.add", .details = details };
	int rc;

	user_key(u->name, key, sizeof(key));
	rc = db_put(txn, DB_EST, key, strlen(key), u->record, strlen(u->record), DB_NOOVERWRITE);
	if (rc == CAIRN_EEXIST)
		rc = cairn_err_set(err, rc, "EST user %s already exists", u->name);
	if (rc == 0)
		rc = audit_append(txn, &ev, NULL, err);
	json_decref(details);
	return rc;
}

/* The labels as a JSON array (NULL when there are none), or CAIRN_EINVAL naming the bad one. */
static int labels_json(const char *const *labels, size_t n, json_t **out, cairn_err_t *err)
{
	size_t i, j;

	*out = NULL;
	if (n > EST_MAX_LABELS)
		return cairn_err_set(err, CAIRN_EINVAL, "at most %d labels", EST_MAX_LABELS);
	for (i = 0; i < n; i++) {
		if (labels[i] == NULL || !est_label_name_ok(labels[i]))
			return cairn_err_set(err, CAIRN_EINVAL,
					     "label %zu: a label is [a-z0-9_-]{1,63} and not an EST operation",
					     i + 1);
		for (j = 0; j < i; j++)
			if (strcmp(labels[i], labels[j]) == 0)
				return cairn_err_set(err, CAIRN_EINVAL, "label %s given twice",
						     labels[i]);
	}
	if (n == 0)
		return 0;
	if ((*out = json_array()) == NULL)
		return CAIRN_ENOMEM;
	for (i = 0; i < n; i++)
		if (json_array_append_new(*out, json_string(labels[i])) != 0) {
			json_decref(*out);
			*out = NULL;
			return CAIRN_ENOMEM;
		}
	return 0;
}

int est_user_add(db_t *db, const char *name, const char *password, const char *const *labels,
		 size_t n_labels, const char *email, const char *actor, cairn_err_t *err)
{
	uint8_t salt[SALT_LEN], hash[HASH_LEN];
	char salt_hex[2 * SALT_LEN + 1], hash_hex[2 * HASH_LEN + 1];
	struct user_put u = { name, actor, NULL, NULL };
	int n = kdf_n, r = kdf_r, p = kdf_p;
	json_t *rec = NULL;
	char *text = NULL;
	size_t plen;
	int rc;

	if (name == NULL || !user_name_ok(name))
		return cairn_err_set(err, CAIRN_EINVAL,
				     "user name must be 1..63 characters of A-Z a-z 0-9 . _ @ -");
	plen = password ? strlen(password) : 0;
	if (plen < 8 || plen > 1024)
		return cairn_err_set(err, CAIRN_EINVAL, "password must be 8..1024 bytes");
	if (email != NULL && !notify_address_ok(email))
		return cairn_err_set(err, CAIRN_EINVAL, "e-mail address must be one user@host");
	if ((rc = labels_json(labels, n_labels, &u.labels, err)) != 0)
		return rc;
	if (util_random(salt, sizeof(salt)) != 0 ||
	    scrypt_hash(password, salt, sizeof(salt), (uint64_t)n, (uint64_t)r, (uint64_t)p,
			hash) != 0) {
		rc = cairn_err_ssl(err, CAIRN_ECRYPTO, "scrypt failed");
		goto out;
	}
	hex_encode(salt, sizeof(salt), salt_hex);
	hex_encode(hash, sizeof(hash), hash_hex);
	OPENSSL_cleanse(hash, sizeof(hash));
	rec = json_pack("{s:s, s:i, s:i, s:i, s:s, s:s, s:I}", "kdf", "scrypt", "n", n, "r", r,
			"p", p, "salt", salt_hex, "hash", hash_hex, "created",
			(json_int_t)time(NULL));
	if (rec != NULL && email != NULL && json_object_set_new(rec, "email", json_string(email)) != 0) {
		json_decref(rec);
		rec = NULL;
	}
	if (rec != NULL && u.labels != NULL && json_object_set(rec, "labels", u.labels) != 0) {
		json_decref(rec);
		rec = NULL;
	}
	text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
	if (text == NULL) {
		rc = CAIRN_ENOMEM;
		goto out;
	}
	u.record = text;
	rc = db_write(db, user_put_op, &u, err);
out:
	free(text);
	json_decref(rec);
	json_decref(u.labels);
	return rc;
}

static int user_del_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct user_put *u = arg;
	char key[EST_NAME_MAX + 4];
	json_t *details = json_pack("{s:s}", "user", u->name);
	audit_event_t ev = { .actor = u->actor, .action = "est.user.del", .details = details };
	int rc;

	user_key(u->name, key, sizeof(key));
	rc = db_del(txn, DB_EST, key, strlen(key));
	if (rc == CAIRN_ENOENT)
		rc = cairn_err_set(err, rc, "no EST user %s", u->name);
	if (rc == 0)
		rc = audit_append(txn, &ev, NULL, err);
	json_decref(details);
	return rc;
}

int est_user_del(db_t *db, const char *name, const char *actor, cairn_err_t *err)
{
	struct user_put u = { name, actor, NULL, NULL };

	if (name == NULL || !user_name_ok(name))
		return cairn_err_set(err, CAIRN_ENOENT, "no EST user %s", name ? name : "");
	return db_write(db, user_del_op, &u, err);
}

/* The record of name in txn (new reference) or NULL when there is none. */
static json_t *record_get_txn(db_txn_t *txn, const char *name)
{
	char key[EST_NAME_MAX + 4];
	const void *val;
	size_t vlen;

	if (!user_name_ok(name))
		return NULL;
	user_key(name, key, sizeof(key));
	if (db_get(txn, DB_EST, key, strlen(key), &val, &vlen) != 0)
		return NULL;
	return json_loadb(val, vlen, 0, NULL);
}

/* The record of name (new reference) or NULL when there is none. */
static json_t *record_get(db_t *db, const char *name, int *db_failed)
{
	db_txn_t *txn = NULL;
	json_t *rec;

	*db_failed = 0;
	if (db_read_begin(db, &txn) != 0) {
		*db_failed = 1;
		return NULL;
	}
	rec = record_get_txn(txn, name);
	db_txn_end(txn);
	return rec;
}

/* Labels, creation time and password tag of a record into info. */
static void record_info(const json_t *rec, est_user_info_t *info)
{
	const json_t *labels = json_object_get(rec, "labels"), *l;
	const char *hash_hex = json_string_value(json_object_get(rec, "hash"));
	size_t i;

	memset(info, 0, sizeof(*info));
	info->created = json_integer_value(json_object_get(rec, "created"));
	if (hash_hex == NULL || hex_decode(hash_hex, info->tag, sizeof(info->tag)) != HASH_LEN)
		memset(info->tag, 0, sizeof(info->tag));
	json_array_foreach(labels, i, l) {
		if (info->n_labels == EST_MAX_LABELS || json_string_length(l) >= EST_NAME_MAX)
			break;
		snprintf(info->labels[info->n_labels++], EST_NAME_MAX, "%s", json_string_value(l));
	}
}

int est_user_check(db_t *db, const char *name, const char *password, est_user_info_t *info,
		   cairn_err_t *err)
{
	static const uint8_t dummy_salt[SALT_LEN];
	uint8_t salt[SALT_LEN], want[HASH_LEN], got[HASH_LEN];
	json_t *rec = NULL;
	json_int_t n = SCRYPT_N, r = SCRYPT_R, p = SCRYPT_P;
	const char *salt_hex = NULL, *hash_hex = NULL;
	int found = 0, rc, db_failed;

	rec = record_get(db, name, &db_failed);
	if (rec != NULL &&
	    json_unpack(rec, "{s:I, s:I, s:I, s:s, s:s}", "n", &n, "r", &r, "p", &p, "salt",
			&salt_hex, "hash", &hash_hex) == 0 &&
	    hex_decode(salt_hex, salt, sizeof(salt)) == SALT_LEN &&
	    hex_decode(hash_hex, want, sizeof(want)) == HASH_LEN && n > 1 && r > 0 && p > 0)
		found = 1;
	/* An unknown user costs the same slow hash, so timing does not tell names apart. */
	rc = scrypt_hash(password, found ? salt : dummy_salt, SALT_LEN, (uint64_t)(found ? n : SCRYPT_N),
			 (uint64_t)(found ? r : SCRYPT_R), (uint64_t)(found ? p : SCRYPT_P), got);
	if (rc == 0 && found && util_ct_equal(got, want, HASH_LEN)) {
		rc = 0;
		if (info != NULL)
			record_info(rec, info);
	} else if (rc == 0) {
		rc = cairn_err_set(err, CAIRN_EAUTH, "unknown user or wrong password");
	} else {
		rc = cairn_err_ssl(err, CAIRN_ECRYPTO, "scrypt failed");
	}
	OPENSSL_cleanse(got, sizeof(got));
	json_decref(rec);
	return rc;
}

int est_user_get(db_t *db, const char *name, est_user_info_t *info)
{
	int db_failed;
	json_t *rec = record_get(db, name, &db_failed);

	if (rec == NULL)
		return db_failed ? CAIRN_EDB : CAIRN_ENOENT;
	record_info(rec, info);
	json_decref(rec);
	return 0;
}

int est_user_get_txn(db_txn_t *txn, const char *name, est_user_info_t *info)
{
	json_t *rec = record_get_txn(txn, name);

	if (rec == NULL)
		return CAIRN_ENOENT;
	record_info(rec, info);
	json_decref(rec);
	return 0;
}

int est_requester_active(db_txn_t *txn, const char *requester, const char *request, void *arg,
                         cairn_err_t *err)
{
	est_user_info_t info;
	(void)request;
	(void)arg;

	if (strncmp(requester, "est:user/", 9) != 0 || est_user_get_txn(txn, requester + 9, &info) == 0)
		return 0;
	return cairn_err_set(err, CAIRN_EAUTH, "the EST account %s was deleted while the request "
			     "waited", requester + 9);
}

int est_user_may_use(const est_user_info_t *info, const char *label, const char *default_label)
{
	size_t i;

	if (info->n_labels == 0)
		return strcmp(label, default_label) == 0;
	for (i = 0; i < info->n_labels; i++)
		if (strcmp(info->labels[i], label) == 0)
			return 1;
	return 0;
}

struct list_ctx {
	est_user_fn fn;
	void *arg;
	int past; /* the walk left the accounts' key range */
};

static int list_one(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct list_ctx *lc = arg;
	char name[EST_NAME_MAX];
	est_user_info_t info;
	json_t *rec;

	if (klen < 2 || memcmp(key, USER_PREFIX, 2) != 0) {
		lc->past = 1;
		return 1;
	}
	if (klen - 2 >= sizeof(name))
		return 0;
	memcpy(name, (const char *)key + 2, klen - 2);
	name[klen - 2] = '\0';
	rec = json_loadb(val, vlen, 0, NULL);
	record_info(rec, &info);
	json_decref(rec);
	return lc->fn(name, &info, lc->arg);
}

int est_users_list(db_t *db, est_user_fn fn, void *arg)
{
	struct list_ctx lc = { fn, arg, 0 };
	db_txn_t *txn;
	int rc;

	if (db_read_begin(db, &txn) != 0)
		return CAIRN_EDB;
	rc = db_iterate(txn, DB_EST, USER_PREFIX, 2, list_one, &lc);
	db_txn_end(txn);
	return lc.past ? 0 : rc;
}

int est_owner_address(db_t *db, const char *requester, json_t *into)
{
	char key[EST_NAME_MAX + 4];
	const char *name, *email;
	const void *val;
	size_t vlen;
	db_txn_t *txn = NULL;
	json_t *rec = NULL;
	int rc = CAIRN_ENOENT;

	if (requester == NULL || strncmp(requester, "est:user/", 9) != 0)
		return CAIRN_ENOENT;
	name = requester + 9;
	if (!user_name_ok(name) || db_read_begin(db, &txn) != 0)
		return CAIRN_ENOENT;
	user_key(name, key, sizeof(key));
	if (db_get(txn, DB_EST, key, strlen(key), &val, &vlen) == 0)
		rec = json_loadb(val, vlen, 0, NULL);
	db_txn_end(txn);
	email = json_string_value(json_object_get(rec, "email"));
	if (email != NULL && notify_address_ok(email)) {
		json_array_append_new(into, json_string(email));
		rc = 0;
	}
	json_decref(rec);
	return rc;
}
