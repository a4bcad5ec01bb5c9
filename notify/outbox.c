/* SPDX-License-Identifier: MIT */
/* The outbox: events written in the same transaction as the change that caused them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ctype.h>

#include <openssl/evp.h>

#include "notify/notify_int.h"

void notify_event_key(uint64_t id, uint8_t key[9])
{
	key[0] = NOTIFY_KEY_EVENT;
	db_be64_put(key + 1, id);
}

size_t notify_sink_key(char prefix, const char *sink, uint64_t id, uint8_t *key, size_t cap)
{
	size_t n = strlen(sink);

	if (n == 0 || n + 10 > cap)
		return 0;
	key[0] = (uint8_t)prefix;
	memcpy(key + 1, sink, n);
	key[n + 1] = 0;
	db_be64_put(key + n + 2, id);
	return n + 10;
}

uint64_t notify_meta_u64(db_txn_t *txn, const char *name)
{
	const void *v;
	size_t len;

	if (db_get(txn, DB_META, name, strlen(name), &v, &len) != 0 || len != 8)
		return 0;
	return db_be64_get(v);
}

int notify_meta_put_u64(db_txn_t *txn, const char *name, uint64_t v)
{
	uint8_t b[8];

	db_be64_put(b, v);
	return db_put(txn, DB_META, name, strlen(name), b, sizeof(b), 0);
}

int notify_event(db_txn_t *txn, const char *type, json_t *data, uint64_t *id, cairn_err_t *err)
{
	uint8_t key[9];
	char when[32];
	json_t *ev = NULL;
	char *text = NULL;
	uint64_t seq;
	int rc;

	if (txn == NULL || type == NULL || type[0] == '\0' || (data != NULL && !json_is_object(data)))
		return cairn_err_set(err, CAIRN_EINVAL, "notify: bad event");
	seq = notify_meta_u64(txn, "notify_seq") + 1;
	time_rfc3339(time(NULL), when, sizeof(when));
	ev = json_pack("{s:i, s:I, s:s, s:s, s:O}", "version", NOTIFY_SCHEMA_VERSION, "id",
		       (json_int_t)seq, "type", type, "time", when, "data",
		       data != NULL ? data : json_object());
	if (data == NULL && ev != NULL)
		json_decref(json_object_get(ev, "data")); /* the O above took a second reference */
	text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	if (text == NULL) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "notify: out of memory");
		goto out;
	}
	notify_event_key(seq, key);
	rc = db_put(txn, DB_OUTBOX, key, sizeof(key), text, strlen(text), DB_NOOVERWRITE);
	if (rc == 0)
		rc = notify_meta_put_u64(txn, "notify_seq", seq);
	if (rc != 0) {
		cairn_err_set(err, rc, "notify: storing event %s: %s", type, cairn_strerror(rc));
		goto out;
	}
	if (id != NULL)
		*id = seq;
out:
	free(text);
	json_decref(ev);
	return rc;
}

/* 's' || serial hex: superseded certificates (the expiry scan passes over them). */
static size_t superseded_key(const char *serial_hex, uint8_t *key, size_t cap)
{
	size_t n = strlen(serial_hex);

	if (n == 0 || n + 1 > cap)
		return 0;
	key[0] = NOTIFY_KEY_SUPERSEDED;
	memcpy(key + 1, serial_hex, n);
	return n + 1;
}

int notify_superseded(db_txn_t *txn, const char *serial_hex, const char *by_hex)
{
	uint8_t key[2 * DB_SERIAL_MAX + 2];
	size_t klen = superseded_key(serial_hex, key, sizeof(key));

	if (klen == 0 || by_hex == NULL)
		return CAIRN_EINVAL;
	return db_put(txn, DB_OUTBOX, key, klen, by_hex, strlen(by_hex), 0);
}

int notify_is_superseded(db_txn_t *txn, const char *serial_hex)
{
	uint8_t key[2 * DB_SERIAL_MAX + 2];
	size_t klen = superseded_key(serial_hex, key, sizeof(key));

	return klen != 0 && db_get(txn, DB_OUTBOX, key, klen, NULL, NULL) == 0;
}

/* ---- renewal candidates ---- */

#define CAND_HASH 16

/* prefix || H(requester, name) into key; returns the length, 0 on failure. */
static size_t cand_key(char prefix, const char *requester, const char *name,
		       const uint8_t *serial, size_t slen, uint8_t *key, size_t cap)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char lower[DB_NAME_MAX + 1];
	size_t n = strlen(name), i;
	EVP_MD_CTX *ctx;
	int ok;

	if (n > DB_NAME_MAX || slen > DB_SERIAL_MAX || 1 + CAND_HASH + slen > cap)
		return 0;
	for (i = 0; i < n; i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return 0;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(ctx, requester, strlen(requester) + 1) &&
	     EVP_DigestUpdate(ctx, lower, n) && EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	if (!ok || mdlen < CAND_HASH)
		return 0;
	key[0] = (uint8_t)prefix;
	memcpy(key + 1, md, CAND_HASH);
	if (slen > 0)
		memcpy(key + 1 + CAND_HASH, serial, slen);
	return 1 + CAND_HASH + slen;
}

/* Lists (del 0, with the certificate's name count) or unlists (del 1) serial as a
 * candidate of requester and name. */
static int cand_change(db_txn_t *txn, const char *requester, const char *name,
		       const uint8_t *serial, size_t len, unsigned n_names, int del)
{
	uint8_t val[2] = { (uint8_t)(n_names >> 8), (uint8_t)n_names };
	uint8_t key[1 + CAND_HASH + DB_SERIAL_MAX];
	size_t klen = len ? cand_key(NOTIFY_KEY_CANDIDATE, requester, name, serial, len, key,
				     sizeof(key))
			  : 0;
	int rc;

	if (klen == 0)
		return CAIRN_EINVAL;
	if (!del) /* no count (0, or more than fit): stored as "" */
		return db_put(txn, DB_OUTBOX, key, klen, val,
			      n_names > 0 && n_names <= 0xffff ? sizeof(val) : 0, 0);
	rc = db_del(txn, DB_OUTBOX, key, klen);
	return rc == CAIRN_ENOENT ? 0 : rc;
}

int notify_candidate_add(db_txn_t *txn, const char *requester, const char *name,
			 const uint8_t *serial, size_t len, unsigned n_names)
{
	return cand_change(txn, requester, name, serial, len, n_names, 0);
}

int notify_candidate_del(db_txn_t *txn, const char *requester, const char *name,
			 const uint8_t *serial, size_t len)
{
	return cand_change(txn, requester, name, serial, len, 0, 1);
}

int notify_candidates_listed(db_txn_t *txn, const char *requester, const char *name)
{
	uint8_t key[1 + CAND_HASH];
	size_t klen = cand_key(NOTIFY_KEY_CANDIDATES_LISTED, requester, name, NULL, 0, key,
			       sizeof(key));

	return klen != 0 && db_get(txn, DB_OUTBOX, key, klen, NULL, NULL) == 0;
}

int notify_candidates_mark_listed(db_txn_t *txn, const char *requester, const char *name)
{
	uint8_t key[1 + CAND_HASH];
	size_t klen = cand_key(NOTIFY_KEY_CANDIDATES_LISTED, requester, name, NULL, 0, key,
			       sizeof(key));

	return klen ? db_put(txn, DB_OUTBOX, key, klen, "", 0, 0) : CAIRN_EINVAL;
}

struct cand_walk {
	uint8_t prefix[1 + CAND_HASH];
	notify_candidate_fn fn;
	void *arg;
};

static int cand_iter(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct cand_walk *w = arg;

	const uint8_t *v = val;

	if (klen <= sizeof(w->prefix) || memcmp(key, w->prefix, sizeof(w->prefix)) != 0)
		return 1; /* past this requester and name */
	return w->fn((const uint8_t *)key + sizeof(w->prefix), klen - sizeof(w->prefix),
		     vlen == 2 ? (unsigned)v[0] << 8 | v[1] : 0, w->arg) != 0
		       ? 2
		       : 0;
}

int notify_candidates(db_txn_t *txn, const char *requester, const char *name,
		      notify_candidate_fn fn, void *arg)
{
	struct cand_walk w = { .fn = fn, .arg = arg };
	int rc;

	if (cand_key(NOTIFY_KEY_CANDIDATE, requester, name, NULL, 0, w.prefix,
		     sizeof(w.prefix)) == 0)
		return CAIRN_EINVAL;
	rc = db_iterate(txn, DB_OUTBOX, w.prefix, sizeof(w.prefix), cand_iter, &w);
	return rc < 0 ? rc : 0;
}
