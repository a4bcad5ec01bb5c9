/* SPDX-License-Identifier: MIT */
/* cert.expiring events for inventory certificates: the notify worker runs this beside its own
 * scan of by_expiry (server/events.c hands it in as notify_config_t.also_scan). */
#include <stdlib.h>
#include <string.h>

#include "inventory/inventory_int.h"
#include "notify/notify.h"

#define DAY 86400
#define EXPIRY_BATCH 500 /* records per write transaction */

/* The thresholds a record is due for and not yet notified of: a bit per index of days. */
static unsigned due_mask(const json_t *rec, const int64_t *days, size_t n_days, int64_t now)
{
	if (json_object_get(rec, "cairn_serial") != NULL)
		return 0; /* cairn's own are the notify worker's (by_expiry) */
	return notify_due_thresholds(json_integer_value(json_object_get(rec, "not_after")),
				     json_object_get(rec, "notified"), days, n_days, now);
}

struct collect {
	const int64_t *days;
	size_t n_days;
	int64_t now;
	uint8_t (*fps)[INV_FP_LEN];
	size_t n, cap;
};

static int collect_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct collect *c = arg;
	json_t *rec = json_loadb(val, vlen, 0, NULL);
	unsigned mask = rec && klen == INV_FP_LEN ? due_mask(rec, c->days, c->n_days, c->now) : 0;

	json_decref(rec);
	if (mask == 0)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		void *nv = realloc(c->fps, cap * INV_FP_LEN);
		if (nv == NULL)
			return CAIRN_ENOMEM;
		c->fps = nv;
		c->cap = cap;
	}
	memcpy(c->fps[c->n++], key, INV_FP_LEN);
	return 0;
}

struct emit_op {
	const struct collect *c;
	size_t from, to;
	uint64_t emitted; /* per run */
};

/* The SAN texts without their type prefix, as cairn's own events carry names. */
static json_t *plain_names(const json_t *sans)
{
	json_t *out = json_array(), *v;
	size_t i;

	json_array_foreach(sans, i, v) {
		const char *s = json_string_value(v), *colon = s ? strchr(s, ':') : NULL;
		json_array_append_new(out, json_string(colon ? colon + 1 : ""));
	}
	return out;
}

static int emit_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct emit_op *op = arg;
	const struct collect *c = op->c;
	size_t k, i;
	int rc = 0;

	op->emitted = 0;
	for (k = op->from; k < op->to && rc == 0; k++) {
		json_t *rec = inv_load(txn, c->fps[k]), *done;
		/* Re-read inside the write txn: another scan may have notified it meanwhile. */
		unsigned mask = rec ? due_mask(rec, c->days, c->n_days, c->now) : 0;
		json_int_t na = json_integer_value(json_object_get(rec, "not_after"));
		char when[32];

		done = json_object_get(rec, "notified");
		if (mask != 0 && !json_is_array(done)) {
			done = json_array();
			json_object_set_new(rec, "notified", done);
		}
		time_rfc3339((time_t)na, when, sizeof(when));
		for (i = 0; mask != 0 && i < c->n_days && rc == 0; i++) {
			const char *owner = json_string_value(json_object_get(rec, "owner"));
			json_t *data;
			if (!(mask & (1u << i)))
				continue;
			data = json_pack("{s:s, s:O, s:O, s:o, s:O, s:O, s:s, s:s, s:s, s:I, s:I}",
					 "source", "inventory", "fp", json_object_get(rec, "fp"),
					 "serial", json_object_get(rec, "serial"), "names",
					 plain_names(json_object_get(rec, "sans")), "subject",
					 json_object_get(rec, "subject"), "issuer",
					 json_object_get(rec, "issuer"), "owner", owner ? owner : "",
					 "profile", "", "not_after", when, "threshold_days",
					 (json_int_t)c->days[i], "days_left",
					 (json_int_t)((na - c->now) / DAY));
			rc = data ? notify_event(txn, "cert.expiring", data, NULL, err)
				  : cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
			json_decref(data);
			if (rc == 0) {
				json_array_append_new(done, json_integer(c->days[i]));
				op->emitted++;
			}
		}
		if (rc == 0 && mask != 0)
			rc = inv_store(txn, c->fps[k], rec);
		json_decref(rec);
	}
	return rc;
}

int inventory_expiry_scan(db_t *db, const int64_t *days, size_t n_days, int64_t now,
			  uint64_t *emitted, cairn_err_t *err)
{
	struct collect c = { .days = days, .n_days = n_days, .now = now };
	db_txn_t *txn = NULL;
	size_t k;
	int rc;

	if (emitted != NULL)
		*emitted = 0;
	if (n_days == 0 || n_days > 32)
		return cairn_err_set(err, CAIRN_EINVAL, "1..32 thresholds");
	/* Find the due records in a read snapshot; the writer is held only to emit. */
	if ((rc = db_read_begin(db, &txn)) != 0)
		return cairn_err_set(err, rc, "inventory: cannot read the database");
	rc = db_iterate(txn, DB_INVENTORY, NULL, 0, collect_cb, &c);
	db_txn_end(txn);
	if (rc != 0) {
		free(c.fps);
		return cairn_err_set(err, rc, "inventory: expiry scan: %s", cairn_strerror(rc));
	}
	for (k = 0; k < c.n && rc == 0; k += EXPIRY_BATCH) {
		struct emit_op op = { &c, k, k + EXPIRY_BATCH < c.n ? k + EXPIRY_BATCH : c.n, 0 };
		rc = db_write(db, emit_run, &op, err);
		if (rc == 0 && emitted != NULL)
			*emitted += op.emitted;
	}
	free(c.fps);
	return rc;
}
