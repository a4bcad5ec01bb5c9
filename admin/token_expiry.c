/* SPDX-License-Identifier: MIT */
/*
 * token.expiring: an API token made with an expiry (`cairn token create --expires-in`,
 * POST /admin/v1/tokens "expires_in") crosses a threshold of notify.expiry_days. Whatever
 * uses it (a pipeline, a script) stops at its end; this says so beforehand, once per
 * threshold, to the sinks that ask for it and to the admin who holds it (to_owner). The
 * notify worker runs it beside its certificate scans (server/events.c). Thresholds sent
 * are kept on the token's record ("notified"), as the inventory keeps them.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "admin/admin.h"
#include "admin/admin_int.h"
#include "notify/notify.h"

typedef struct token_due {
	const int64_t *days;
	size_t n_days;
	int64_t now;
	uint8_t (*keys)[SHA256_DIGEST_LENGTH];
	size_t n, cap;
	uint64_t emitted; /* by the write that committed */
} token_due_t;

/* The thresholds rec (a token record) is due for; 0 for a revoked token or one that
 * never expires. */
static unsigned due(const json_t *rec, const token_due_t *t)
{
	json_int_t expires = json_integer_value(json_object_get(rec, "expires"));

	if (expires == 0 || json_is_true(json_object_get(rec, "revoked")))
		return 0;
	return notify_due_thresholds(expires, json_object_get(rec, "notified"), t->days,
				     t->n_days, t->now);
}

static int collect(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	token_due_t *t = arg;
	json_t *rec = klen == SHA256_DIGEST_LENGTH ? json_loadb(val, vlen, 0, NULL) : NULL;
	unsigned mask = rec ? due(rec, t) : 0;

	json_decref(rec);
	if (mask == 0)
		return 0;
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		void *grown = realloc(t->keys, cap * sizeof(*t->keys));
		if (grown == NULL)
			return CAIRN_ENOMEM;
		t->keys = grown;
		t->cap = cap;
	}
	memcpy(t->keys[t->n++], key, SHA256_DIGEST_LENGTH);
	return 0;
}

/* One token.expiring of token key (record rec) for threshold days inside txn. */
static int emit(db_txn_t *txn, const uint8_t *key, const json_t *rec, int64_t days, int64_t now,
		cairn_err_t *err)
{
	json_int_t expires = json_integer_value(json_object_get(rec, "expires"));
	const char *name = json_string_value(json_object_get(rec, "name"));
	char id[17], when[32], requester[80];
	json_t *data;
	int rc;

	hex_encode(key, 8, id);
	time_rfc3339((time_t)expires, when, sizeof(when));
	snprintf(requester, sizeof(requester), "admin:%s", name ? name : "");
	data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "id", id, "name", name ? name : "",
			 "role", json_string_value(json_object_get(rec, "role")) ?: "",
			 "requester", requester, "expires", when, "threshold_days", (json_int_t)days,
			 "days_left", (json_int_t)((expires - now) / 86400));
	rc = data ? notify_event(txn, "token.expiring", data, NULL, err)
		  : cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	json_decref(data);
	return rc;
}

static int emit_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	token_due_t *t = arg;
	const void *val;
	size_t k, i, len;
	int rc = 0;

	t->emitted = 0;
	for (k = 0; k < t->n && rc == 0; k++) {
		json_t *rec = NULL, *done;
		unsigned mask;
		char *text = NULL;

		/* Read again in the write: a revocation or another scan may have come since. */
		if (db_get(txn, DB_TOKENS, t->keys[k], SHA256_DIGEST_LENGTH, &val, &len) != 0 ||
		    (rec = json_loadb(val, len, 0, NULL)) == NULL || (mask = due(rec, t)) == 0) {
			json_decref(rec);
			continue;
		}
		if (!json_is_array(done = json_object_get(rec, "notified"))) {
			done = json_array();
			json_object_set_new(rec, "notified", done);
		}
		for (i = 0; i < t->n_days && rc == 0; i++) {
			if (!(mask & (1u << i)))
				continue;
			if ((rc = emit(txn, t->keys[k], rec, t->days[i], t->now, err)) == 0) {
				json_array_append_new(done, json_integer(t->days[i]));
				t->emitted++;
			}
		}
		if (rc == 0 && (text = json_dumps(rec, JSON_COMPACT)) == NULL)
			rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		if (rc == 0 && (rc = db_put(txn, DB_TOKENS, t->keys[k], SHA256_DIGEST_LENGTH, text,
					    strlen(text), 0)) != 0)
			cairn_err_set(err, rc, "storing a token: %s", cairn_strerror(rc));
		free(text);
		json_decref(rec);
	}
	return rc;
}

int admin_token_expiry_scan(db_t *db, const int64_t *days, size_t n_days, int64_t now,
			    uint64_t *emitted, cairn_err_t *err)
{
	token_due_t t = { .days = days, .n_days = n_days, .now = now };
	db_txn_t *txn = NULL;
	int rc;

	*emitted = 0;
	if (n_days == 0)
		return 0;
	if ((rc = db_read_begin(db, &txn)) != 0)
		return cairn_err_set(err, rc, "reading the tokens: %s", cairn_strerror(rc));
	rc = db_iterate(txn, DB_TOKENS, NULL, 0, collect, &t);
	db_txn_end(txn);
	if (rc < 0)
		cairn_err_set(err, rc, "reading the tokens: %s", cairn_strerror(rc));
	else if ((rc = t.n > 0 ? db_write(db, emit_run, &t, err) : 0) == 0)
		*emitted = t.emitted;
	free(t.keys);
	return rc;
}
