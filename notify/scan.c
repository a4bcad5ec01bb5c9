/* SPDX-License-Identifier: MIT */
/* The expiry scan: walks by_expiry only between the last horizon and the new one, per threshold. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify/notify_int.h"

#define DAY 86400
#define SCAN_BATCH 2000

struct scan_op {
	int64_t days, now, until;      /* threshold; window end (exclusive) */
	notify_names_fn names;
	void *names_arg;
	/* per run (the writer may rerun an op): reset in scan_op_run */
	int64_t from, stop_at;         /* the window start; where this batch stopped */
	int more;                      /* batch full: another batch follows */
	uint64_t visited, emitted;
	db_txn_t *txn;
	int rc;
	cairn_err_t *err;
};

int notify_cert_renewed(db_txn_t *txn, const db_cert_t *c, const json_t *names)
{
	size_t n = json_array_size(names), i, k = 0;
	const char **list = n ? malloc(n * sizeof(*list)) : NULL;
	int rc;

	if (n > 0 && list == NULL)
		return CAIRN_ENOMEM;
	for (i = 0; i < n; i++)
		if (json_string_value(json_array_get(names, i)) != NULL)
			list[k++] = json_string_value(json_array_get(names, i));
	rc = db_cert_renewed(txn, c, list, k);
	free(list);
	return rc;
}

static int one_cert(const db_cert_t *c, void *arg)
{
	struct scan_op *op = arg;
	json_t *data = NULL, *names = NULL;
	char hex[2 * DB_SERIAL_MAX + 1], na[32];

	if (op->visited >= SCAN_BATCH && c->not_after > op->stop_at) {
		op->more = 1;
		return 1; /* stop between two notAfter values: the horizon stays exact */
	}
	op->visited++;
	op->stop_at = c->not_after;
	if (c->status != DB_CERT_VALID || c->not_after <= op->now ||
	    c->not_before > c->not_after - op->days * DAY)
		return 0;
	db_serial_hex(c->serial, c->serial_len, hex);
	if (notify_is_superseded(op->txn, hex))
		return 0; /* renewed: its successor is the one to watch */
	if (op->names != NULL)
		names = op->names(c->der, c->der_len, op->names_arg);
	if (notify_cert_renewed(op->txn, c, names) == 1) {
		json_decref(names);
		return 0;
	}
	time_rfc3339((time_t)c->not_after, na, sizeof(na));
	data = json_pack("{s:s, s:o, s:s, s:s, s:s, s:s, s:I, s:I}", "serial", hex, "names",
			 names ? names : json_array(), "profile", c->profile, "issuer",
			 c->issuer, "requester", c->requester, "not_after", na, "threshold_days",
			 (json_int_t)op->days, "days_left",
			 (json_int_t)((c->not_after - op->now) / DAY));
	if (data == NULL) {
		op->rc = cairn_err_set(op->err, CAIRN_ENOMEM, "notify: out of memory");
		return 1;
	}
	op->rc = notify_event(op->txn, "cert.expiring", data, NULL, op->err);
	json_decref(data);
	if (op->rc == 0)
		op->emitted++;
	return op->rc != 0;
}

static void horizon_name(int64_t days, char *out, size_t cap)
{
	snprintf(out, cap, "notify_horizon_%lld", (long long)days);
}

static int scan_op_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct scan_op *op = arg;
	char name[48];
	uint64_t h;
	int rc;

	horizon_name(op->days, name, sizeof(name));
	h = notify_meta_u64(txn, name);
	op->from = h != 0 ? (int64_t)h : op->now;
	op->stop_at = op->from;
	op->more = 0;
	op->visited = op->emitted = 0;
	op->txn = txn;
	op->rc = 0;
	op->err = err;
	if (op->from >= op->until)
		return 0;
	rc = db_certs_by_expiry(txn, op->from, op->until, one_cert, op);
	if (op->rc != 0)
		return op->rc;
	if (rc < 0)
		return cairn_err_set(err, rc, "notify: expiry scan: %s", cairn_strerror(rc));
	/* Everything below the new horizon has been seen: with a full batch, the next
	 * batch starts after the last notAfter it finished (a batch stops only between two). */
	return notify_meta_put_u64(txn, name, (uint64_t)(op->more ? op->stop_at + 1 : op->until));
}

int notify_scan_expiry(db_t *db, const notify_settings_t *set, int64_t now,
		       notify_names_fn names, void *names_arg, notify_scan_stats_t *stats,
		       cairn_err_t *err)
{
	struct scan_op op;
	size_t i;
	int rc;

	if (stats != NULL)
		memset(stats, 0, sizeof(*stats));
	for (i = 0; i < set->n_expiry; i++) {
		memset(&op, 0, sizeof(op));
		op.days = set->expiry_days[i];
		op.now = now;
		op.until = now + op.days * DAY;
		op.names = names;
		op.names_arg = names_arg;
		do {
			rc = db_write(db, scan_op_run, &op, err);
			if (rc != 0)
				return rc;
			if (stats != NULL) {
				stats->visited += op.visited;
				stats->emitted += op.emitted;
			}
		} while (op.more);
	}
	return 0;
}

struct material_op {
	const json_t *problem;
};

static int material_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct material_op *m = arg;
	const char *what = json_string_value(json_object_get(m->problem, "what"));
	const char *state = json_string_value(json_object_get(m->problem, "state"));
	const char *at = json_string_value(json_object_get(m->problem, "at"));
	char key[160];
	json_t *data;
	int rc;

	if (what == NULL || state == NULL || at == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "notify: material problem incomplete");
	snprintf(key, sizeof(key), "notify_ca_%s_%s_%s", what, state, at);
	if (db_get(txn, DB_META, key, strlen(key), NULL, NULL) == 0)
		return 0;
	data = json_pack("{s:s, s:s, s:s}", "what", what, "state", state, "at", at);
	if (data == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "notify: out of memory");
	rc = notify_event(txn, "ca.expiring", data, NULL, err);
	json_decref(data);
	if (rc == 0)
		rc = db_put(txn, DB_META, key, strlen(key), "1", 1, 0);
	return rc;
}

unsigned notify_due_thresholds(int64_t end, const json_t *notified, const int64_t *days,
			       size_t n_days, int64_t now)
{
	const json_t *d;
	unsigned mask = 0;
	size_t i, j;

	if (end <= now)
		return 0;
	for (i = 0; i < n_days && i < 32; i++) {
		int seen = 0;

		if (end >= now + days[i] * 86400)
			continue;
		json_array_foreach(notified, j, d)
			seen |= json_integer_value(d) == days[i];
		if (!seen)
			mask |= 1u << i;
	}
	return mask;
}

int notify_material(db_t *db, const json_t *problem, cairn_err_t *err)
{
	struct material_op m = { problem };

	return db_write(db, material_run, &m, err);
}
