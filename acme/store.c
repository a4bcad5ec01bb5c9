/* SPDX-License-Identifier: MIT */
/* ACME objects as JSON in the DB_ACME table: a/ accounts, k/ key thumbprints, o/ orders,
 * z/ authorizations, s/ certificates, e/ EAB keys; beside them index entries: l/ an
 * account's orders by creation time, p/ its pending authorizations, v/ its valid ones by
 * identifier (order.c), f/ its failed validations by name and time (validate.c), r/ the
 * order waiting on a policy request, by the request's id (order.c). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme_int.h"
#include "audit/audit.h"
#include "notify/notify.h"

/* Records whose parsed form is kept (acme_objslot_t): not e/ (EAB keys are secrets).
 * The slot for key, or NULL when a is NULL or key is not kept. */
static acme_objslot_t *slot_of(acme_t *a, const char *key, size_t klen)
{
	size_t h = 5381;
	const char *k;

	if (a == NULL || klen >= sizeof(a->objs[0].key) || klen <= 2 || key[1] != '/' ||
	    strchr("aozs", key[0]) == NULL)
		return NULL;
	for (k = key; *k; k++)
		h = h * 33 + (unsigned char)*k;
	return &a->objs[h % ACME_OBJCACHE];
}

/* Parses stored bytes (counted: a->parses, for the tests and the bench notes). */
static json_t *parse(acme_t *a, const void *val, size_t len)
{
	if (a != NULL)
		atomic_fetch_add_explicit(&a->parses, 1, memory_order_relaxed);
	return json_loadb(val, len, 0, NULL);
}

/* The kept object of slot s when it was parsed from exactly val (new reference), or NULL. */
static json_t *kept(acme_t *a, const acme_objslot_t *s, const char *key, const void *val,
		    size_t len)
{
	json_t *o = NULL;

	pthread_mutex_lock(&a->obj_lock);
	if (s->obj != NULL && s->len == len && strcmp(s->key, key) == 0 &&
	    memcmp(s->raw, val, len) == 0)
		o = json_incref(s->obj);
	pthread_mutex_unlock(&a->obj_lock);
	return o;
}

/* Keeps obj as the parsed form of raw (len bytes) for key in slot s: takes ownership of
 * raw and of the reference obj, which nobody may change from now on. */
static void keep(acme_t *a, acme_objslot_t *s, const char *key, char *raw, size_t len,
		 json_t *obj)
{
	json_t *drop;
	char *drop_raw;

	pthread_mutex_lock(&a->obj_lock);
	drop = s->obj;
	drop_raw = s->raw;
	s->obj = obj;
	s->raw = raw;
	s->len = len;
	snprintf(s->key, sizeof(s->key), "%s", key);
	pthread_mutex_unlock(&a->obj_lock);
	json_decref(drop);
	free(drop_raw);
}

int acme_txn_get(acme_t *a, db_txn_t *txn, const char *key, json_t **out)
{
	size_t klen = strlen(key);
	acme_objslot_t *s = slot_of(a, key, klen);
	const void *val;
	size_t len;
	json_t *o;
	int rc = db_get(txn, DB_ACME, key, klen, &val, &len);

	if (rc)
		return rc;
	/* The caller changes what it gets: a copy of the kept form (~1 us for an
	 * authorization) rather than a parse (~5 us). */
	if (s != NULL && (o = kept(a, s, key, val, len)) != NULL) {
		*out = json_deep_copy(o);
		json_decref(o);
		return *out ? 0 : CAIRN_ENOMEM;
	}
	*out = parse(a, val, len);
	return *out ? 0 : CAIRN_EDB;
}

int acme_get(acme_t *a, const char *key, json_t **out)
{
	size_t klen = strlen(key);
	acme_objslot_t *s = slot_of(a, key, klen);
	const void *val;
	size_t len;
	db_txn_t *txn;
	json_t *o = NULL;
	char *copy = NULL;
	int rc;

	*out = NULL;
	if ((rc = db_read_begin(a->db, &txn)) != 0)
		return rc;
	if ((rc = db_get(txn, DB_ACME, key, klen, &val, &len)) != 0)
		goto out;
	if (s != NULL && (o = kept(a, s, key, val, len)) != NULL)
		goto out;
	if ((o = parse(a, val, len)) == NULL) {
		rc = CAIRN_EDB;
		goto out;
	}
	if (s == NULL || (copy = malloc(len ? len : 1)) == NULL)
		goto out; /* usable, just not kept */
	memcpy(copy, val, len);
	keep(a, s, key, copy, len, json_incref(o));
out:
	db_txn_end(txn);
	*out = o;
	return rc;
}

void acme_store_cache_free(acme_t *a)
{
	size_t i;

	for (i = 0; i < ACME_OBJCACHE; i++) {
		json_decref(a->objs[i].obj);
		free(a->objs[i].raw);
		a->objs[i].obj = NULL;
		a->objs[i].raw = NULL;
	}
}

int acme_get_str(acme_t *a, const char *key, char *out, size_t cap)
{
	db_txn_t *txn;
	const void *val;
	size_t len;
	int rc = db_read_begin(a->db, &txn);

	if (rc)
		return rc;
	rc = db_get(txn, DB_ACME, key, strlen(key), &val, &len);
	if (rc == 0) {
		if (len >= cap)
			len = cap - 1;
		memcpy(out, val, len);
		out[len] = '\0';
	}
	db_txn_end(txn);
	return rc;
}

int acme_txn_put(acme_t *a, db_txn_t *txn, const char *key, const json_t *obj)
{
	size_t klen = strlen(key), len;
	acme_objslot_t *s = slot_of(a, key, klen);
	char *text = json_dumps(obj, JSON_COMPACT);
	json_t *copy;
	int rc;

	if (text == NULL)
		return CAIRN_ENOMEM;
	len = strlen(text);
	rc = db_put(txn, DB_ACME, key, klen, text, len, 0);
	/* Kept before the commit is safe: a kept form is handed out only while the stored
	 * bytes are exactly these, so a write that aborts (or is rerun without this op)
	 * leaves bytes that do not match, and the next read parses them. */
	if (rc == 0 && s != NULL && (copy = json_deep_copy(obj)) != NULL) {
		keep(a, s, key, text, len, copy);
		return 0;
	}
	free(text);
	return rc;
}

int acme_txn_put_str(db_txn_t *txn, const char *key, const char *val)
{
	return db_put(txn, DB_ACME, key, strlen(key), val, strlen(val), 0);
}

int64_t acme_key_time(const void *key, size_t klen, const char *prefix, size_t plen)
{
	char hex[17];

	if (klen < plen + 16 || memcmp(key, prefix, plen) != 0)
		return -1;
	memcpy(hex, (const char *)key + plen, 16);
	hex[16] = '\0';
	return (int64_t)strtoull(hex, NULL, 16);
}

typedef struct hour_count {
	const char *prefix;
	size_t plen;
	long n, limit;
	int64_t first;
} hour_count_t;

static int count_hour(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	hour_count_t *c = arg;
	int64_t t = acme_key_time(key, klen, c->prefix, c->plen);
	(void)val;
	(void)vlen;

	if (t < 0)
		return 1;
	if (c->n == 0)
		c->first = t;
	return ++c->n >= c->limit ? 1 : 0;
}

long acme_hour_count(db_txn_t *txn, const char *prefix, int64_t now, long limit,
		     int64_t *first)
{
	hour_count_t c = { .prefix = prefix, .plen = strlen(prefix), .limit = limit };
	char start[512];
	int rc;

	*first = 0;
	if (limit <= 0)
		return 0;
	/* a prefix too long to seek from is an error, never a count of 0 (the limit open) */
	if (snprintf(start, sizeof(start), "%s%016llx", prefix,
		     (unsigned long long)(now > 3599 ? now - 3599 : 0)) >= (int)sizeof(start))
		return CAIRN_EINVAL;
	if ((rc = db_iterate(txn, DB_ACME, start, strlen(start), count_hour, &c)) < 0)
		return rc;
	*first = c.first;
	return c.n;
}

int acme_new_id(char *out)
{
	uint8_t raw[16];
	char *t;

	if (util_random(raw, sizeof(raw)) != 0)
		return CAIRN_ECRYPTO;
	/* The first character from the first 32 of base64url's alphabet (A-Z, a-f): an id
	 * never begins with '-', which a command line would read as an option (127 bits). */
	raw[0] &= 0x7f;
	t = b64url_encode(raw, sizeof(raw));
	if (t == NULL)
		return CAIRN_ENOMEM;
	memcpy(out, t, ACME_ID_LEN + 1);
	free(t);
	return 0;
}

int acme_audit(db_txn_t *txn, const char *acct, const char *action, const char *serial,
	       json_t *names, json_t *details, cairn_err_t *err)
{
	char actor[64];
	audit_event_t ev = { 0 };
	int rc;

	snprintf(actor, sizeof(actor), "acme:acct/%s", acct);
	ev.actor = actor;
	ev.action = action;
	ev.serial = serial;
	ev.names = names;
	ev.details = details;
	rc = audit_append(txn, &ev, NULL, err);
	json_decref(names);
	json_decref(details);
	return rc;
}

int acme_audit_by(db_txn_t *txn, const char *action, const char *actor, json_t *details,
		  cairn_err_t *err)
{
	audit_event_t ev = { .actor = actor, .action = action, .details = details };
	int rc = audit_append(txn, &ev, NULL, err);

	json_decref(details);
	return rc;
}

typedef struct update_op {
	acme_t *a;
	const char *key;
	acme_update_fn fn;
	void *arg;
	json_t *result;
} update_op_t;

static int update_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	update_op_t *op = arg;
	json_t *obj = NULL;
	int rc;

	json_decref(op->result);
	op->result = NULL;
	rc = acme_txn_get(op->a, txn, op->key, &obj);
	if (rc)
		return cairn_err_set(err, rc, "%s: %s", op->key, cairn_strerror(rc));
	rc = op->fn(txn, obj, op->arg, err);
	if (rc == 0)
		rc = acme_txn_put(op->a, txn, op->key, obj);
	if (rc == 0)
		op->result = obj;
	else
		json_decref(obj);
	return rc;
}

int acme_update(acme_t *a, const char *key, acme_update_fn fn, void *arg, json_t **result,
		cairn_err_t *err)
{
	update_op_t op = { a, key, fn, arg, NULL };
	int rc = db_write(a->db, update_run, &op, err);

	if (rc == 0 && result != NULL)
		*result = op.result;
	else
		json_decref(op.result);
	return rc;
}

int acme_requester_account(db_txn_t *txn, const char *requester, json_t **acct,
			   char id[ACME_ID_LEN + 1])
{
	char key[160];
	json_t *eab = NULL;
	const char *a = NULL;
	int rc;

	*acct = NULL;
	id[0] = '\0';
	if (strncmp(requester, "acme:eab/", 9) == 0) {
		snprintf(key, sizeof(key), "e/%.64s", requester + 9);
		if (acme_txn_get(NULL, txn, key, &eab) == 0)
			a = json_string_value(json_object_get(eab, "account"));
	} else if (strncmp(requester, "acme:acct/", 10) == 0) {
		a = requester + 10;
	} else {
		return CAIRN_EINVAL;
	}
	rc = CAIRN_ENOENT;
	if (a != NULL && strlen(a) <= ACME_ID_LEN && strchr(a, '/') == NULL) {
		snprintf(id, ACME_ID_LEN + 1, "%s", a);
		snprintf(key, sizeof(key), "a/%s", a);
		rc = acme_txn_get(NULL, txn, key, acct) == 0 ? 0 : CAIRN_ENOENT;
	}
	json_decref(eab);
	return rc;
}

int acme_owner_contacts(db_t *db, const char *requester, json_t *into)
{
	char id[ACME_ID_LEN + 1];
	const char *uri;
	db_txn_t *txn = NULL;
	json_t *rec = NULL, *c;
	size_t i;
	int rc = CAIRN_ENOENT;

	if (requester == NULL || db_read_begin(db, &txn) != 0)
		return CAIRN_ENOENT;
	if (acme_requester_account(txn, requester, &rec, id) != 0)
		rec = NULL;
	db_txn_end(txn);
	if (strcmp(json_string_value(json_object_get(rec, "status")) ?: "valid", "valid") == 0)
		json_array_foreach(json_object_get(rec, "contact"), i, c) {
			uri = json_string_value(c);
			if (uri != NULL && strncmp(uri, "mailto:", 7) == 0 && notify_address_ok(uri + 7)) {
				json_array_append_new(into, json_string(uri + 7));
				rc = 0;
			}
		}
	json_decref(rec);
	return rc;
}
