/* SPDX-License-Identifier: MIT */
/* Appending hash-chained audit events and verifying the chain. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "audit/audit.h"

#define HEAD_KEY "audit_head"
#define HEAD_KEY_LEN (sizeof(HEAD_KEY) - 1)
#define HASH_LEN 32
#define HEX_LEN (2 * HASH_LEN)

int audit_hash(const void *data, size_t len, uint8_t out[32])
{
	unsigned int n = 0;

	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != HASH_LEN)
		return CAIRN_ECRYPTO;
	return 0;
}

/* Current head: *seq = 0 and zero hash when the log is empty. */
static int read_head(db_txn_t *txn, uint64_t *seq, uint8_t hash[HASH_LEN], cairn_err_t *err)
{
	const void *v;
	size_t vlen;
	int ret = db_get(txn, DB_META, HEAD_KEY, HEAD_KEY_LEN, &v, &vlen);

	if (ret == CAIRN_ENOENT) {
		if (db_count(txn, DB_AUDIT) != 0)
			return cairn_err_set(err, CAIRN_EAUDIT,
					     "audit head missing but %zu events stored",
					     db_count(txn, DB_AUDIT));
		*seq = 0;
		memset(hash, 0, HASH_LEN);
		return 0;
	}
	if (ret != 0)
		return cairn_err_set(err, ret, "read audit head: %s", cairn_strerror(ret));
	if (vlen != 8 + HASH_LEN)
		return cairn_err_set(err, CAIRN_EAUDIT, "audit head has %zu bytes, want %d", vlen,
				     8 + HASH_LEN);
	*seq = db_be64_get(v);
	memcpy(hash, (const uint8_t *)v + 8, HASH_LEN);
	return 0;
}

int audit_head(db_t *db, uint64_t *seq, uint8_t hash[HASH_LEN], cairn_err_t *err)
{
	db_txn_t *txn = NULL;
	int ret = db_read_begin(db, &txn);

	if (ret != 0)
		return cairn_err_set(err, ret, "audit head: cannot open a read transaction");
	ret = read_head(txn, seq, hash, err);
	db_txn_end(txn);
	return ret;
}

static int check_event(const audit_event_t *ev, cairn_err_t *err)
{
	size_t i;

	if (ev == NULL || ev->actor == NULL || ev->actor[0] == '\0' || ev->action == NULL ||
	    ev->action[0] == '\0')
		return cairn_err_set(err, CAIRN_EINVAL, "audit event needs an actor and an action");
	if (ev->names != NULL) {
		if (!json_is_array(ev->names))
			return cairn_err_set(err, CAIRN_EINVAL, "audit names must be an array");
		for (i = 0; i < json_array_size(ev->names); i++)
			if (!json_is_string(json_array_get(ev->names, i)))
				return cairn_err_set(err, CAIRN_EINVAL,
						     "audit names must be strings");
	}
	if (ev->details != NULL && !json_is_object(ev->details))
		return cairn_err_set(err, CAIRN_EINVAL, "audit details must be an object");
	return 0;
}

/* Adds a member; on failure (NULL value, e.g. invalid UTF-8) returns -1. */
static int add(json_t *obj, const char *key, json_t *val)
{
	return val == NULL ? -1 : json_object_set_new(obj, key, val);
}

/* Events that change the CA's keys or certificates: a backup taken before one lacks it. */
static const char *const ca_changes[] = { "ca.init",	 "ca.renew",	  "ca.rotate",
					  "ca.root_new", "ca.rollover",	  "ca.cross_sign",
					  "ca.import",	 NULL };

/* Keeps the backup counters with the event (/metrics): a backup sets backup_last to when
 * it was taken and backup_changes to 0, as a restore does (the CA is then as its archive
 * was, taken at details.backup_created); each change of the CA adds one. */
static int backup_account(db_txn_t *txn, const audit_event_t *ev, time_t when)
{
	const char *created;
	time_t at = when;
	size_t i;
	int rc;

	if (strcmp(ev->action, "ca.backup") == 0 || strcmp(ev->action, "ca.restore") == 0) {
		created = json_string_value(json_object_get(ev->details, "backup_created"));
		if (created != NULL && time_parse(created, &at) != 0)
			at = when;
		if ((rc = db_counter_set(txn, "backup_last", NULL, 0, (int64_t)at)) != 0)
			return rc;
		return db_counter_set(txn, "backup_changes", NULL, 0, 0);
	}
	for (i = 0; ca_changes[i] != NULL; i++)
		if (strcmp(ev->action, ca_changes[i]) == 0)
			return db_counter_add(txn, "backup_changes", NULL, 0, 1);
	return 0;
}

int audit_append_at(db_txn_t *txn, const audit_event_t *ev, time_t when, uint64_t *seq,
		    cairn_err_t *err)
{
	uint8_t prev[HASH_LEN], hash[HASH_LEN], key[8], head[8 + HASH_LEN];
	char prev_hex[HEX_LEN + 1], ts[32];
	json_t *root = NULL;
	char *text = NULL;
	uint64_t last = 0, n;
	int ret;

	if ((ret = check_event(ev, err)) != 0)
		return ret;
	if ((ret = read_head(txn, &last, prev, err)) != 0)
		return ret;
	n = last + 1;
	hex_encode(prev, HASH_LEN, prev_hex);
	time_rfc3339(when, ts, sizeof(ts));
	root = json_object();
	if (root == NULL || add(root, "seq", json_integer((json_int_t)n)) != 0 ||
	    add(root, "time", json_string(ts)) != 0 ||
	    add(root, "actor", json_string(ev->actor)) != 0 ||
	    add(root, "action", json_string(ev->action)) != 0 ||
	    add(root, "serial", ev->serial != NULL ? json_string(ev->serial) : json_null()) != 0 ||
	    add(root, "names", ev->names != NULL ? json_incref(ev->names) : json_array()) != 0 ||
	    add(root, "details",
		ev->details != NULL ? json_incref(ev->details) : json_object()) != 0 ||
	    add(root, "prev", json_string(prev_hex)) != 0) {
		ret = cairn_err_set(err, CAIRN_EINVAL,
				    "audit event: cannot encode (strings must be UTF-8)");
		goto out;
	}
	text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text == NULL) {
		ret = cairn_err_set(err, CAIRN_ENOMEM, "audit event: cannot serialise");
		goto out;
	}
	if ((ret = audit_hash(text, strlen(text), hash)) != 0) {
		cairn_err_set(err, ret, "audit event: SHA-256 failed");
		goto out;
	}
	db_be64_put(key, n);
	ret = db_put(txn, DB_AUDIT, key, sizeof(key), text, strlen(text), DB_NOOVERWRITE);
	if (ret == CAIRN_EEXIST)
		ret = cairn_err_set(err, CAIRN_EAUDIT, "audit event %" PRIu64 " already stored", n);
	else if (ret != 0)
		cairn_err_set(err, ret, "store audit event %" PRIu64 ": %s", n,
			      cairn_strerror(ret));
	if (ret != 0)
		goto out;
	memcpy(head, key, 8);
	memcpy(head + 8, hash, HASH_LEN);
	ret = db_put(txn, DB_META, HEAD_KEY, HEAD_KEY_LEN, head, sizeof(head), 0);
	if (ret != 0) {
		cairn_err_set(err, ret, "update audit head: %s", cairn_strerror(ret));
		goto out;
	}
	if ((ret = backup_account(txn, ev, when)) != 0) {
		cairn_err_set(err, ret, "backup counters: %s", cairn_strerror(ret));
		goto out;
	}
	if (seq != NULL)
		*seq = n;
out:
	free(text);
	json_decref(root);
	return ret;
}

int audit_append(db_txn_t *txn, const audit_event_t *ev, uint64_t *seq, cairn_err_t *err)
{
	return audit_append_at(txn, ev, time(NULL), seq, err);
}

struct record_op {
	const audit_event_t *ev;
	uint64_t *seq;
};

static int record_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct record_op *r = arg;

	return audit_append(txn, r->ev, r->seq, err);
}

int audit_record(db_t *db, const audit_event_t *ev, uint64_t *seq, cairn_err_t *err)
{
	struct record_op r = { ev, seq };

	return db_write(db, record_op, &r, err);
}

/* The details of a lock-out's event: {"key": shown, "refused": N}. */
static json_t *limit_details(const char *shown, unsigned refused)
{
	return json_pack("{s:s, s:I}", "key", shown, "refused", (json_int_t)refused);
}

uint64_t audit_limit_check(db_t *db, util_ratelimit_t *rl, const char *key, const char *shown,
			   const char *actor, const char *action, int *first)
{
	unsigned refused = 0;
	uint64_t wait = rl != NULL ? util_ratelimit_check(rl, key, &refused) : 0;
	json_t *details;
	cairn_err_t err = { 0 };
	int rc;

	*first = wait > 0 && refused == 1;
	if (wait > 0 || refused == 0)
		return wait;
	details = limit_details(shown, refused);
	if (details != NULL) {
		audit_event_t ev = { .actor = actor, .action = action, .details = details };
		rc = audit_record(db, &ev, NULL, &err);
		json_decref(details);
	} else {
		rc = cairn_err_set(&err, CAIRN_ENOMEM, "out of memory");
	}
	if (rc != 0) {
		log_kv(LOG_LVL_ERROR, "audit", "audit of a lock-out failed: its count is kept for "
		       "the next try", "action", action, "key", shown, "reason", cairn_err_msg(&err),
		       NULL);
		util_ratelimit_recount(rl, key, refused);
	}
	return 0;
}

/* audit_limit_flush: the events to write (details objects), and how to show a key. */
struct limit_flush {
	json_t *events;
	void (*shown)(const char *key, char *out, size_t cap);
	const char *actor, *action;
};

static void limit_flush_one(void *arg, const char *key, unsigned refused)
{
	struct limit_flush *lf = arg;
	char shown[4 * RL_KEY_MAX];
	json_t *d;

	if (lf->shown != NULL)
		lf->shown(key, shown, sizeof(shown));
	else
		snprintf(shown, sizeof(shown), "%s", key);
	d = limit_details(shown, refused);
	if (d == NULL || json_object_set_new(d, "at_stop", json_true()) != 0 ||
	    json_array_append_new(lf->events, d) != 0)
		log_kv(LOG_LVL_ERROR, "audit", "a lock-out's count lost at stop: out of memory",
		       "action", lf->action, "key", shown, NULL);
}

static int limit_flush_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	const struct limit_flush *lf = arg;
	size_t i;
	json_t *d;

	json_array_foreach(lf->events, i, d) {
		audit_event_t ev = { .actor = lf->actor, .action = lf->action, .details = d };
		int rc = audit_append(txn, &ev, NULL, err);

		if (rc != 0)
			return rc;
	}
	return 0;
}

int audit_limit_flush(db_t *db, util_ratelimit_t *rl, const char *actor, const char *action,
		      void (*shown)(const char *key, char *out, size_t cap))
{
	struct limit_flush lf = { json_array(), shown, actor, action };
	cairn_err_t err = { 0 };
	int rc = 0;

	if (rl == NULL || lf.events == NULL) {
		json_decref(lf.events);
		return rl == NULL ? 0 : CAIRN_ENOMEM;
	}
	util_ratelimit_drain(rl, limit_flush_one, &lf);
	if (json_array_size(lf.events) > 0 && (rc = db_write(db, limit_flush_op, &lf, &err)) != 0)
		log_kv(LOG_LVL_ERROR, "audit", "audit of the lock-outs at stop failed", "action",
		       action, "reason", cairn_err_msg(&err), NULL);
	json_decref(lf.events);
	return rc;
}

/* ---- verification ---- */

struct verify {
	db_txn_t *txn;
	audit_verify_result_t *res;
	uint64_t expected;        /* next sequence we expect */
	uint8_t prev[HASH_LEN];   /* hash of the previous stored event */
	int have_head;
	uint64_t head_seq;
	uint8_t head_hash[HASH_LEN];
	uint64_t left;            /* events this step may still check */
};

static int bad(struct verify *v, uint64_t seq, const char *fmt, ...) CAIRN_PRINTF(3, 4);

static int bad(struct verify *v, uint64_t seq, const char *fmt, ...)
{
	va_list ap;

	v->res->first_bad = seq;
	va_start(ap, fmt);
	vsnprintf(v->res->reason, sizeof(v->res->reason), fmt, ap);
	va_end(ap);
	return CAIRN_EAUDIT;
}

json_t *audit_event_parse(const void *val, size_t vlen, const char **why)
{
	json_error_t jerr;
	json_t *o = json_loadb(val, vlen, JSON_REJECT_DUPLICATES, &jerr);
	json_t *prev;

	*why = NULL;
	if (o == NULL)
		*why = "not valid JSON";
	else if (!json_is_object(o))
		*why = "not a JSON object";
	else if (!json_is_integer(json_object_get(o, "seq")))
		*why = "\"seq\" missing or not an integer";
	else if (!json_is_string(json_object_get(o, "time")) ||
		 !json_is_string(json_object_get(o, "actor")) ||
		 !json_is_string(json_object_get(o, "action")))
		*why = "\"time\", \"actor\" or \"action\" missing or not a string";
	else if (!json_is_string(prev = json_object_get(o, "prev")) ||
		 json_string_length(prev) != HEX_LEN)
		*why = "\"prev\" missing or not a SHA-256 hex string";
	if (*why != NULL) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * Is the link from event seq (whose stored bytes hash to h) intact — does the
 * next event's prev (or the head, for the newest event) still equal h?
 */
static int link_ok(struct verify *v, uint64_t seq, const uint8_t h[HASH_LEN])
{
	uint8_t key[8];
	char hex[HEX_LEN + 1];
	const void *val;
	size_t vlen;
	const char *why;
	json_t *o;
	int ok;

	db_be64_put(key, seq + 1);
	if (db_get(v->txn, DB_AUDIT, key, sizeof(key), &val, &vlen) != 0)
		return v->have_head && v->head_seq == seq &&
		       memcmp(v->head_hash, h, HASH_LEN) == 0;
	o = audit_event_parse(val, vlen, &why);
	if (o == NULL)
		return 0;
	hex_encode(h, HASH_LEN, hex);
	ok = strcmp(json_string_value(json_object_get(o, "prev")), hex) == 0;
	json_decref(o);
	return ok;
}

static int verify_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct verify *v = arg;
	char want[HEX_LEN + 1];
	uint8_t h[HASH_LEN];
	const char *why;
	json_t *o;
	uint64_t seq;
	int ret = 0;

	if (v->left == 0)
		return 1; /* the step is full: the next one starts at this event */
	if (klen != 8)
		return bad(v, v->expected, "key of %zu bytes after event %" PRIu64, klen,
			   v->expected - 1);
	seq = db_be64_get(key);
	if (seq != v->expected)
		return bad(v, v->expected, "event %" PRIu64 " missing (next stored is %" PRIu64 ")",
			   v->expected, seq);
	o = audit_event_parse(val, vlen, &why);
	if (o == NULL)
		return bad(v, seq, "event %" PRIu64 ": %s", seq, why);
	if ((uint64_t)json_integer_value(json_object_get(o, "seq")) != seq) {
		ret = bad(v, seq, "event %" PRIu64 " says \"seq\":%" JSON_INTEGER_FORMAT, seq,
			  json_integer_value(json_object_get(o, "seq")));
		goto out;
	}
	if (audit_hash(val, vlen, h) != 0) {
		ret = bad(v, seq, "SHA-256 failed");
		goto out;
	}
	hex_encode(v->prev, HASH_LEN, want);
	if (strcmp(json_string_value(json_object_get(o, "prev")), want) != 0) {
		/* Either event seq-1 changed (its hash moved) or seq's own "prev" did:
		 * if seq's hash still matches what the next link recorded, seq is intact. */
		if (seq > 1 && link_ok(v, seq, h))
			ret = bad(v, seq - 1,
				  "event %" PRIu64 " was altered: its hash no longer matches "
				  "\"prev\" of event %" PRIu64, seq - 1, seq);
		else
			ret = bad(v, seq,
				  "event %" PRIu64 " was altered: \"prev\" does not match the hash "
				  "of event %" PRIu64, seq, seq - 1);
		goto out;
	}
	memcpy(v->prev, h, HASH_LEN);
	v->expected++;
	v->res->count++;
	v->left--;
out:
	json_decref(o);
	return ret;
}

int audit_verify_step(db_t *db, audit_walk_t *w, uint64_t max, audit_verify_result_t *res,
		      int *done)
{
	struct verify v;
	db_txn_t *txn = NULL;
	const void *hv;
	size_t hlen;
	uint8_t start[8];
	uint64_t last;
	int ret;

	*done = 0;
	memset(res, 0, sizeof(*res));
	memset(&v, 0, sizeof(v));
	v.res = res;
	res->count = w->count;
	v.expected = w->expected ? w->expected : 1;
	memcpy(v.prev, w->prev, HASH_LEN);
	v.left = max ? max : UINT64_MAX; /* 0 would never move */
	ret = db_read_begin(db, &txn);
	if (ret != 0) {
		snprintf(res->reason, sizeof(res->reason), "cannot open a read transaction: %s",
			 cairn_strerror(ret));
		return ret;
	}
	v.txn = txn;
	ret = db_get(txn, DB_META, HEAD_KEY, HEAD_KEY_LEN, &hv, &hlen);
	if (ret == 0 && hlen == 8 + HASH_LEN) {
		v.have_head = 1;
		v.head_seq = db_be64_get(hv);
		memcpy(v.head_hash, (const uint8_t *)hv + 8, HASH_LEN);
	} else if (ret == 0) {
		ret = bad(&v, 1, "audit head has %zu bytes, want %d", hlen, 8 + HASH_LEN);
		goto out;
	}
	/* The first step from the table's start (a stray key before event 1 is seen), the
	 * others from the event the step before stopped at. */
	db_be64_put(start, v.expected);
	ret = v.expected == 1 ? db_iterate(txn, DB_AUDIT, NULL, 0, verify_cb, &v)
			      : db_iterate(txn, DB_AUDIT, start, sizeof(start), verify_cb, &v);
	if (ret == 1) { /* full: where the next step starts */
		w->expected = v.expected;
		memcpy(w->prev, v.prev, HASH_LEN);
		w->count = res->count;
		ret = 0;
		goto out;
	}
	if (ret != 0)
		goto out;
	*done = 1;
	last = v.expected - 1;
	if (!v.have_head) {
		if (last > 0)
			ret = bad(&v, last, "audit head missing (newest event is %" PRIu64 ")", last);
	} else if (v.head_seq > last) {
		ret = bad(&v, last + 1,
			  "event %" PRIu64 " missing: the head records %" PRIu64 " events",
			  last + 1, v.head_seq);
	} else if (v.head_seq < last) {
		ret = bad(&v, v.head_seq + 1,
			  "event %" PRIu64 " not covered by the head (head records %" PRIu64 ")",
			  v.head_seq + 1, v.head_seq);
	} else if (memcmp(v.head_hash, v.prev, HASH_LEN) != 0) {
		ret = bad(&v, last, "event %" PRIu64 " was altered: its hash does not match the head",
			  last);
	}
out:
	db_txn_end(txn);
	if (ret != 0 && ret != CAIRN_EAUDIT) {
		if (res->reason[0] == '\0')
			snprintf(res->reason, sizeof(res->reason), "reading the log: %s",
				 cairn_strerror(ret));
	}
	return ret;
}

int audit_verify(db_t *db, audit_verify_result_t *res)
{
	audit_verify_result_t dummy;
	audit_walk_t w = { 0 };
	int done;

	return audit_verify_step(db, &w, UINT64_MAX, res ? res : &dummy, &done);
}
