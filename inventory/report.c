/* SPDX-License-Identifier: MIT */
/* Reports over the inventory joined with cairn's own certificates: one read txn, flat rows. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/x509.h>

#include "inventory/inventory_int.h"

static const char *const cols_list[] = { "fp",    "subject", "issuer", "not_after", "key",
					  "sig",   "trust",   "owner",  "tags",      "cairn_serial",
					  "status", "seen",   "where",  NULL };
static const char *const cols_expiring[] = { "group",  "not_after", "days_left", "subject",
					      "sans",   "issuer",    "owner",     "profile",
					      "source", "serial",    "fp",        NULL };
static const char *const cols_weak[] = { "weakness", "subject", "issuer", "key",    "sig",
					  "owner",    "source",  "serial", "where", "fp",  NULL };
static const char *const cols_revoked[] = { "endpoint", "sni",    "last_seen", "serial",
					     "reason",   "subject", "owner",    "fp",   NULL };
static const char *const cols_unknown[] = { "subject", "issuer", "not_after", "trust", "owner",
					     "where",   "fp",     NULL };

static const struct {
	const char *name;
	inv_report_t kind;
	const char *const *cols;
} reports[] = {
	{ "list", INV_REPORT_LIST, cols_list },
	{ "expiring", INV_REPORT_EXPIRING, cols_expiring },
	{ "weak", INV_REPORT_WEAK, cols_weak },
	{ "revoked-in-use", INV_REPORT_REVOKED_IN_USE, cols_revoked },
	{ "unknown-issuer", INV_REPORT_UNKNOWN_ISSUER, cols_unknown },
};

int inv_report_parse(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < sizeof(reports) / sizeof(reports[0]); i++)
		if (strcmp(name, reports[i].name) == 0)
			return (int)reports[i].kind;
	return -1;
}

const char *const *inv_report_columns(inv_report_t kind)
{
	size_t i;

	for (i = 0; i < sizeof(reports) / sizeof(reports[0]); i++)
		if (reports[i].kind == kind)
			return reports[i].cols;
	return cols_list;
}

struct walk {
	const inv_report_opts_t *o;
	db_txn_t *txn;
	json_t *rows;
	int oom;
};

static void set_time(json_t *row, const char *key, int64_t t)
{
	char buf[32];

	time_rfc3339((time_t)t, buf, sizeof(buf));
	json_object_set_new(row, key, json_string(buf));
}

static char *joined(const json_t *arr)
{
	size_t i, n = 0;
	json_t *v;
	char *out;

	json_array_foreach(arr, i, v)
		n += strlen(json_string_value(v) ? json_string_value(v) : "") + 1;
	out = calloc(1, n + 1);
	if (out == NULL)
		return NULL;
	json_array_foreach(arr, i, v) {
		if (i > 0)
			strcat(out, " ");
		strcat(out, json_string_value(v) ? json_string_value(v) : "");
	}
	return out;
}

/* The sighting seen last (borrowed) or NULL. */
static json_t *last_seen(const json_t *rec)
{
	json_t *seen = json_object_get(rec, "seen"), *s, *best = NULL;
	size_t i;

	json_array_foreach(seen, i, s)
		if (best == NULL || json_integer_value(json_object_get(s, "last")) >=
					    json_integer_value(json_object_get(best, "last")))
			best = s;
	return best;
}

static void set_where(json_t *row, const json_t *s)
{
	const char *w = json_string_value(json_object_get(s, "where"));
	const char *sni = json_string_value(json_object_get(s, "sni"));
	char buf[600];

	if (w == NULL)
		return;
	snprintf(buf, sizeof(buf), "%s%s%s", w, sni ? " sni=" : "", sni ? sni : "");
	json_object_set_new(row, "where", util_json_text(buf));
}

/* The row every report starts from: a record's printable fields. */
static json_t *row_of(const json_t *rec, const char *source, int64_t now)
{
	json_int_t na = json_integer_value(json_object_get(rec, "not_after"));
	const char *owner = json_string_value(json_object_get(rec, "owner"));
	char *sans = joined(json_object_get(rec, "sans")), *tags = joined(json_object_get(rec, "tags"));
	char key[48];
	json_t *row;

	snprintf(key, sizeof(key), "%s-%lld",
		 json_string_value(json_object_get(rec, "key")) ? json_string_value(json_object_get(rec, "key")) : "?",
		 (long long)json_integer_value(json_object_get(rec, "bits")));
	row = json_pack("{s:O, s:O, s:O, s:s, s:s, s:O, s:O, s:s, s:s, s:s, s:s, s:I, s:s, s:I}",
			"fp", json_object_get(rec, "fp"), "subject", json_object_get(rec, "subject"),
			"issuer", json_object_get(rec, "issuer"), "sans", sans ? sans : "", "key", key,
			"sig", json_object_get(rec, "sig"), "trust", json_object_get(rec, "trust"),
			"owner", owner ? owner : "", "tags", tags ? tags : "", "source", source,
			"profile", "", "days_left", (json_int_t)((na - now) / 86400), "serial",
			json_string_value(json_object_get(rec, "serial")) ?
				json_string_value(json_object_get(rec, "serial")) : "",
			"seen", (json_int_t)json_array_size(json_object_get(rec, "seen")));
	if (row != NULL) {
		set_time(row, "not_after", na);
		set_where(row, last_seen(rec));
	}
	free(sans);
	free(tags);
	return row;
}

static int add_row(struct walk *w, json_t *row)
{
	if (row == NULL || json_array_append_new(w->rows, row) != 0) {
		w->oom = 1;
		return -1;
	}
	return w->o->limit > 0 && json_array_size(w->rows) >= w->o->limit ? 1 : 0;
}

/* The group of a row for --by (owner, issuer or profile); "(none)" when empty. */
static void set_group(json_t *row, const char *by)
{
	const char *g = by ? json_string_value(json_object_get(row, by)) : NULL;

	json_object_set_new(row, "group", json_string(g && g[0] ? g : by ? "(none)" : ""));
}

/* A certificate of cairn's own, joined with its inventory entry (owner, sightings). */
static int cairn_cb(const db_cert_t *c, void *arg)
{
	struct walk *w = arg;
	const unsigned char *p = c->der;
	X509 *x = ca_cert_d2i(&p, (long)c->der_len);
	json_t *rec = NULL, *inv = NULL, *row = NULL;
	uint8_t fp[INV_FP_LEN];
	char serial[2 * DB_SERIAL_MAX + 1], why[96];
	int rc = 0;

	/* A revoked certificate is not "expiring": nobody should renew it. */
	if (x == NULL || (w->o->kind == INV_REPORT_EXPIRING && c->status == DB_CERT_REVOKED))
		goto out;
	if ((rec = inv_record_new(x, NULL, NULL)) == NULL) {
		w->oom = 1;
		rc = -1;
		goto out;
	}
	if (w->o->kind == INV_REPORT_WEAK && !inv_record_weak(rec, why, sizeof(why)))
		goto out;
	if (inv_fingerprint(x, fp) == 0 && (inv = inv_load(w->txn, fp)) != NULL) {
		json_object_set(rec, "owner", json_object_get(inv, "owner"));
		json_object_set(rec, "seen", json_object_get(inv, "seen"));
		json_object_set(rec, "tags", json_object_get(inv, "tags"));
	}
	if ((row = row_of(rec, "cairn", w->o->now)) == NULL) {
		w->oom = 1;
		rc = -1;
		goto out;
	}
	db_serial_hex(c->serial, c->serial_len, serial);
	json_object_set_new(row, "serial", json_string(serial));
	json_object_set_new(row, "profile", json_string(c->profile));
	json_object_set_new(row, "status", json_string(c->status == DB_CERT_REVOKED ? "revoked" : "valid"));
	if (w->o->kind == INV_REPORT_WEAK)
		json_object_set_new(row, "weakness", json_string(why));
	set_group(row, w->o->by);
	rc = add_row(w, row);
	row = NULL;
out:
	json_decref(row);
	json_decref(inv);
	json_decref(rec);
	X509_free(x);
	return rc;
}

/* The status of a cairn certificate by hex serial: 1 revoked, 0 valid, -1 unknown. */
static int cairn_status(db_txn_t *txn, const char *hex, db_cert_t *c)
{
	uint8_t serial[DB_SERIAL_MAX];
	int len = hex ? hex_decode(hex, serial, sizeof(serial)) : -1;

	if (len <= 0 || db_cert_get(txn, serial, (size_t)len, c) != 0)
		return -1;
	return c->status == DB_CERT_REVOKED;
}

static int revoked_rows(struct walk *w, const json_t *rec, const db_cert_t *c)
{
	json_t *s;
	size_t i;
	int rc = 0;

	json_array_foreach(json_object_get(rec, "seen"), i, s) {
		const char *kind = json_string_value(json_object_get(s, "kind"));
		const char *sni = json_string_value(json_object_get(s, "sni"));
		const char *owner = json_string_value(json_object_get(rec, "owner"));
		const char *reason = ca_reason_name(c->reason);
		json_t *row;

		if (kind == NULL || strcmp(kind, "tls") != 0)
			continue;
		row = json_pack("{s:O, s:s, s:O, s:s, s:O, s:s, s:O}", "endpoint",
				json_object_get(s, "where"), "sni", sni ? sni : "", "serial",
				json_object_get(rec, "cairn_serial"), "reason",
				reason ? reason : "", "subject", json_object_get(rec, "subject"),
				"owner", owner ? owner : "", "fp", json_object_get(rec, "fp"));
		if (row != NULL)
			set_time(row, "last_seen", json_integer_value(json_object_get(s, "last")));
		if ((rc = add_row(w, row)) != 0)
			break;
	}
	return rc;
}

static int inv_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct walk *w = arg;
	json_t *rec = json_loadb(val, vlen, 0, NULL), *row = NULL;
	const char *mine = json_string_value(json_object_get(rec, "cairn_serial"));
	json_int_t na = json_integer_value(json_object_get(rec, "not_after"));
	char why[96];
	db_cert_t c;
	int st, rc = 0;
	(void)key;
	(void)klen;

	if (rec == NULL)
		return 0;
	switch (w->o->kind) {
	case INV_REPORT_LIST:
		row = row_of(rec, mine ? "cairn" : "inventory", w->o->now);
		if (row != NULL && mine != NULL && (st = cairn_status(w->txn, mine, &c)) >= 0) {
			json_object_set_new(row, "cairn_serial", json_string(mine));
			json_object_set_new(row, "status", json_string(st ? "revoked" : "valid"));
		}
		break;
	case INV_REPORT_EXPIRING:
		/* cairn's own are reported from certs (with their profile). */
		if (mine == NULL && na >= w->o->now && na < w->o->now + w->o->within)
			row = row_of(rec, "inventory", w->o->now);
		break;
	case INV_REPORT_WEAK:
		if (mine == NULL && inv_record_weak(rec, why, sizeof(why))) {
			row = row_of(rec, "inventory", w->o->now);
			if (row != NULL)
				json_object_set_new(row, "weakness", json_string(why));
		}
		break;
	case INV_REPORT_REVOKED_IN_USE:
		if (mine != NULL && cairn_status(w->txn, mine, &c) == 1)
			rc = revoked_rows(w, rec, &c);
		goto out;
	case INV_REPORT_UNKNOWN_ISSUER: {
		const char *trust = json_string_value(json_object_get(rec, "trust"));
		if (mine == NULL && trust != NULL && strcmp(trust, "unknown") == 0)
			row = row_of(rec, "inventory", w->o->now);
		break;
	}
	}
	if (row != NULL) {
		set_group(row, w->o->by);
		rc = add_row(w, row);
	} else if (w->oom) {
		rc = -1;
	}
out:
	json_decref(rec);
	return rc;
}

static int by_group(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	const char *gx = json_string_value(json_object_get(x, "group"));
	const char *gy = json_string_value(json_object_get(y, "group"));
	int c = strcmp(gx ? gx : "", gy ? gy : "");

	if (c != 0)
		return c;
	/* RFC 3339 UTC text sorts as time. */
	gx = json_string_value(json_object_get(x, "not_after"));
	gy = json_string_value(json_object_get(y, "not_after"));
	c = strcmp(gx ? gx : "", gy ? gy : "");
	if (c != 0)
		return c;
	gx = json_string_value(json_object_get(x, "fp"));
	gy = json_string_value(json_object_get(y, "fp"));
	return strcmp(gx ? gx : "", gy ? gy : "");
}

static int sort_rows(json_t *rows)
{
	size_t n = json_array_size(rows), i;
	json_t **v = n ? calloc(n, sizeof(*v)) : NULL;

	if (n == 0)
		return 0;
	if (v == NULL)
		return CAIRN_ENOMEM;
	for (i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(rows, i));
	qsort(v, n, sizeof(*v), by_group);
	json_array_clear(rows);
	for (i = 0; i < n; i++)
		json_array_append_new(rows, v[i]);
	free(v);
	return 0;
}

int inventory_report(db_txn_t *txn, const inv_report_opts_t *o, json_t **rows, cairn_err_t *err)
{
	struct walk w = { .o = o, .txn = txn };
	int rc = 0;

	*rows = NULL;
	if (o->by != NULL && strcmp(o->by, "owner") != 0 && strcmp(o->by, "issuer") != 0 &&
	    strcmp(o->by, "profile") != 0)
		return cairn_err_set(err, CAIRN_EINVAL, "group by owner, issuer or profile, not %s",
				     o->by);
	if ((w.rows = json_array()) == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	if (o->kind == INV_REPORT_EXPIRING)
		rc = db_certs_by_expiry(txn, o->now, o->now + o->within, cairn_cb, &w);
	else if (o->kind == INV_REPORT_WEAK)
		rc = db_certs_all(txn, cairn_cb, &w);
	if (rc >= 0 && !w.oom && (o->limit == 0 || json_array_size(w.rows) < o->limit))
		rc = db_iterate(txn, DB_INVENTORY, NULL, 0, inv_cb, &w);
	if (w.oom || rc < 0) {
		json_decref(w.rows);
		return w.oom ? cairn_err_set(err, CAIRN_ENOMEM, "out of memory")
			     : cairn_err_set(err, CAIRN_EDB, "cannot read the inventory");
	}
	if (o->kind == INV_REPORT_EXPIRING && sort_rows(w.rows) != 0) {
		json_decref(w.rows);
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	}
	*rows = w.rows;
	return 0;
}
