/* SPDX-License-Identifier: MIT */
/* The inventory table: import batches (one durable txn, one audit event) and owner changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "audit/audit.h"
#include "inventory/inventory_int.h"

json_t *inv_load(db_txn_t *txn, const uint8_t fp[INV_FP_LEN])
{
	const void *v;
	size_t vlen;

	if (db_get(txn, DB_INVENTORY, fp, INV_FP_LEN, &v, &vlen) != 0)
		return NULL;
	return json_loadb(v, vlen, 0, NULL);
}

int inv_store(db_txn_t *txn, const uint8_t fp[INV_FP_LEN], const json_t *rec)
{
	char *text = json_dumps(rec, JSON_COMPACT);
	int rc;

	if (text == NULL)
		return CAIRN_ENOMEM;
	rc = db_put(txn, DB_INVENTORY, fp, INV_FP_LEN, text, strlen(text), 0);
	free(text);
	return rc;
}

json_t *inventory_get(db_txn_t *txn, const char *fp_hex)
{
	uint8_t fp[INV_FP_LEN];

	if (fp_hex == NULL || strlen(fp_hex) != 2 * INV_FP_LEN ||
	    hex_decode(fp_hex, fp, sizeof(fp)) != INV_FP_LEN)
		return NULL;
	return inv_load(txn, fp);
}

/* The cairn certificate x is, when certs holds it (its serial, then the same DER: a
 * serial and an issuer name are public, anyone can copy both into a forgery): its serial
 * (hex) into out and its status; 0 when found, CAIRN_ENOENT otherwise. */
static int cairn_match(db_txn_t *txn, X509 *x, char *out, size_t cap, int *status)
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	BIGNUM *bn = ASN1_INTEGER_to_BN(sn, NULL);
	uint8_t serial[DB_SERIAL_MAX];
	const unsigned char *p;
	db_cert_t c;
	X509 *mine = NULL;
	int len = bn ? BN_num_bytes(bn) : -1, rc = CAIRN_ENOENT;

	if (len <= 0 || len > DB_SERIAL_MAX || BN_is_negative(bn))
		goto out;
	BN_bn2bin(bn, serial);
	if (db_cert_get(txn, serial, (size_t)len, &c) != 0)
		goto out;
	p = c.der;
	mine = ca_cert_d2i(&p, (long)c.der_len);
	if (mine == NULL || X509_cmp(mine, x) != 0)
		goto out;
	if (2 * (size_t)len + 1 > cap)
		goto out;
	db_serial_hex(serial, (size_t)len, out);
	*status = c.status;
	rc = 0;
out:
	X509_free(mine);
	BN_free(bn);
	return rc;
}

/* Adds or refreshes the sighting of it in rec's "seen" at time now. */
static void sighting_merge(json_t *rec, const inv_item_t *it, int64_t now)
{
	json_t *seen = json_object_get(rec, "seen"), *s, *oldest = NULL;
	size_t i, oldest_i = 0;

	if (!json_is_array(seen)) {
		seen = json_array();
		json_object_set_new(rec, "seen", seen);
	}
	if (it->kind == NULL || it->where == NULL)
		return;
	json_array_foreach(seen, i, s) {
		const char *k = json_string_value(json_object_get(s, "kind"));
		const char *w = json_string_value(json_object_get(s, "where"));
		const char *n = json_string_value(json_object_get(s, "sni"));
		if (k && w && strcmp(k, it->kind) == 0 && strcmp(w, it->where) == 0 &&
		    ((n == NULL && it->sni == NULL) || (n && it->sni && strcmp(n, it->sni) == 0))) {
			json_object_set_new(s, "last", json_integer(now));
			if (it->tls != NULL)
				json_object_set(s, "tls", (json_t *)it->tls);
			return;
		}
		if (oldest == NULL || json_integer_value(json_object_get(s, "last")) <
					      json_integer_value(json_object_get(oldest, "last"))) {
			oldest = s;
			oldest_i = i;
		}
	}
	if (json_array_size(seen) >= INV_SIGHTINGS_MAX)
		json_array_remove(seen, oldest_i);
	s = json_pack("{s:o, s:o, s:I, s:I}", "kind", util_json_text(it->kind), "where",
		      util_json_text(it->where), "first", (json_int_t)now, "last", (json_int_t)now);
	if (s != NULL && it->sni != NULL)
		json_object_set_new(s, "sni", util_json_text(it->sni));
	if (s != NULL && it->tls != NULL)
		json_object_set(s, "tls", (json_t *)it->tls);
	json_array_append_new(seen, s);
}

/* Adds tags not yet present (at most INV_TAGS_MAX). */
static void tags_merge(json_t *rec, const json_t *tags)
{
	json_t *have = json_object_get(rec, "tags"), *t, *h;
	size_t i, j;

	if (!json_is_array(have)) {
		have = json_array();
		json_object_set_new(rec, "tags", have);
	}
	json_array_foreach(tags, i, t) {
		int dup = 0;
		if (!json_is_string(t) || json_array_size(have) >= INV_TAGS_MAX)
			continue;
		json_array_foreach(have, j, h)
			dup |= json_equal(h, t);
		if (!dup)
			json_array_append(have, t);
	}
}

typedef struct import_one {
	const inv_item_t *item;
	X509 *x;
	uint8_t fp[INV_FP_LEN];
	json_t *rec;        /* parsed record, or NULL when refused */
	const char *reason; /* refused: why */
} import_one_t;

struct import_op {
	import_one_t *v;
	size_t n;
	const char *source, *actor;
	json_t *results; /* output, reset on each run */
};

static int import_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct import_op *op = arg;
	json_t *results = json_array(), *added_fps = json_array(), *details = NULL;
	int64_t now = (int64_t)time(NULL);
	size_t i, added = 0, known = 0, refused = 0, owner_changed = 0;
	int rc = CAIRN_ENOMEM;

	json_decref(op->results);
	op->results = NULL;
	if (results == NULL || added_fps == NULL)
		goto out;
	for (i = 0; i < op->n; i++) {
		import_one_t *one = &op->v[i];
		const char *fp = one->rec ? json_string_value(json_object_get(one->rec, "fp")) : NULL;
		json_t *rec, *res;
		const char *was;
		char serial[2 * DB_SERIAL_MAX + 1] = "";
		int status = 0, fresh = 0, mine = 0;

		if (one->rec == NULL) {
			refused++;
			json_array_append_new(results,
					      json_pack("{s:s, s:s}", "result", "refused", "reason",
							one->reason ? one->reason : "not a certificate"));
			continue;
		}
		rec = inv_load(txn, one->fp);
		if (rec == NULL) {
			rec = json_deep_copy(one->rec);
			if (rec == NULL)
				goto out;
			json_object_set_new(rec, "added", json_integer(now));
			fresh = 1;
		}
		if (cairn_match(txn, one->x, serial, sizeof(serial), &status) == 0) {
			mine = 1;
			json_object_set_new(rec, "cairn_serial", json_string(serial));
			json_object_set_new(rec, "trust", json_string("cairn"));
		}
		sighting_merge(rec, one->item, now);
		if (one->item->tags != NULL)
			tags_merge(rec, one->item->tags);
		was = json_string_value(json_object_get(rec, "owner"));
		if (one->item->owner != NULL && one->item->owner[0] != '\0' &&
		    (was == NULL || strcmp(was, one->item->owner) != 0)) {
			json_object_set_new(rec, "owner", util_json_text(one->item->owner));
			owner_changed += !fresh;
		}
		rc = inv_store(txn, one->fp, rec);
		json_decref(rec);
		if (rc != 0)
			goto out;
		rc = CAIRN_ENOMEM;
		res = json_pack("{s:s, s:s}", "fp", fp, "result", fresh ? "added" : "known");
		if (res != NULL && mine) {
			json_object_set_new(res, "cairn_serial", json_string(serial));
			json_object_set_new(res, "status", json_string(status == DB_CERT_REVOKED
									       ? "revoked"
									       : "valid"));
		}
		json_array_append_new(results, res);
		if (fresh) {
			added++;
			json_array_append_new(added_fps, json_string(fp));
		} else {
			known++;
		}
	}
	details = json_pack("{s:o, s:I, s:I, s:I, s:I, s:O}", "source", util_json_text(op->source),
			    "added", (json_int_t)added, "known", (json_int_t)known, "refused",
			    (json_int_t)refused, "owner_changed", (json_int_t)owner_changed,
			    "fingerprints", added_fps);
	if (details == NULL)
		goto out;
	{
		audit_event_t ev = { .actor = op->actor, .action = "inventory.import",
				     .details = details };
		rc = audit_append(txn, &ev, NULL, err);
		if (rc != 0)
			goto out;
	}
	op->results = json_pack("{s:I, s:I, s:I, s:I, s:O}", "added", (json_int_t)added, "known",
				(json_int_t)known, "refused", (json_int_t)refused, "owner_changed",
				(json_int_t)owner_changed, "results", results);
	rc = op->results ? 0 : CAIRN_ENOMEM;
out:
	if (rc == CAIRN_ENOMEM)
		cairn_err_set(err, rc, "out of memory");
	json_decref(details);
	json_decref(added_fps);
	json_decref(results);
	return rc;
}

int inventory_import(db_t *db, const inv_trust_t *trust, const inv_item_t *items, size_t n,
		     const char *source, const char *actor, json_t **results, cairn_err_t *err)
{
	struct import_op op = { .n = n, .source = source ? source : "", .actor = actor };
	STACK_OF(X509) *batch = NULL;
	size_t i;
	int rc = CAIRN_ENOMEM;

	*results = NULL;
	if (n == 0 || n > INV_BATCH_MAX || actor == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "an import takes 1..%d certificates",
				     INV_BATCH_MAX);
	op.v = calloc(n, sizeof(*op.v));
	batch = sk_X509_new_null();
	if (op.v == NULL || batch == NULL)
		goto out;
	/* Parse everything outside the write transaction: the whole batch waits on it. */
	for (i = 0; i < n; i++) {
		const unsigned char *p = items[i].der;
		op.v[i].item = &items[i];
		op.v[i].x = p ? ca_cert_d2i(&p, (long)items[i].der_len) : NULL;
		if (op.v[i].x == NULL || p != items[i].der + items[i].der_len) {
			X509_free(op.v[i].x);
			op.v[i].x = NULL;
			op.v[i].reason = "not a DER certificate";
			continue;
		}
		sk_X509_push(batch, op.v[i].x);
	}
	for (i = 0; i < n; i++) {
		if (op.v[i].x == NULL)
			continue;
		/* The other certificates of the batch (a bundle's intermediates) may complete
		 * a chain to the system store. */
		op.v[i].rec = inv_record_new(op.v[i].x, trust, batch);
		if (op.v[i].rec == NULL || inv_fingerprint(op.v[i].x, op.v[i].fp) != 0)
			goto out;
	}
	rc = db_write(db, import_run, &op, err);
	if (rc == 0) {
		*results = op.results;
		op.results = NULL;
	}
out:
	if (rc == CAIRN_ENOMEM && (err == NULL || err->code == 0))
		cairn_err_set(err, rc, "out of memory");
	json_decref(op.results);
	for (i = 0; op.v != NULL && i < n; i++) {
		X509_free(op.v[i].x);
		json_decref(op.v[i].rec);
	}
	free(op.v);
	sk_X509_free(batch);
	return rc;
}

/* ---- owners ---- */

struct owner_op {
	const char *key, *owner, *actor;
	json_t *out;
};

struct serial_find {
	const char *serial;
	uint8_t fp[INV_FP_LEN];
	int n;
};

static int find_serial_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct serial_find *sf = arg;
	json_t *rec = json_loadb(val, vlen, 0, NULL);
	const char *s = json_string_value(json_object_get(rec, "serial"));

	if (s != NULL && klen == INV_FP_LEN && strcmp(s, sf->serial) == 0) {
		memcpy(sf->fp, key, INV_FP_LEN);
		sf->n++;
	}
	json_decref(rec);
	return 0;
}

/* Resolves op->key to a fingerprint and its record (new reference) inside txn. */
static int owner_target(db_txn_t *txn, const char *key, uint8_t fp[INV_FP_LEN], json_t **rec,
			cairn_err_t *err)
{
	uint8_t serial[DB_SERIAL_MAX];
	struct serial_find sf = { .serial = key };
	db_cert_t c;
	int len;

	*rec = NULL;
	if (strlen(key) == 2 * INV_FP_LEN && hex_decode(key, fp, INV_FP_LEN) == INV_FP_LEN &&
	    (*rec = inv_load(txn, fp)) != NULL)
		return 0;
	len = hex_decode(key, serial, sizeof(serial));
	if (len > 0 && db_cert_get(txn, serial, (size_t)len, &c) == 0) {
		/* A certificate cairn issued joins the inventory to carry its owner. */
		const unsigned char *p = c.der;
		X509 *x = ca_cert_d2i(&p, (long)c.der_len);
		if (x != NULL && inv_fingerprint(x, fp) == 0)
			*rec = inv_load(txn, fp);
		if (x != NULL && *rec == NULL) {
			*rec = inv_record_new(x, NULL, NULL);
			if (*rec != NULL) {
				json_object_set_new(*rec, "trust", json_string("cairn"));
				json_object_set_new(*rec, "added", json_integer(time(NULL)));
			}
		}
		if (*rec != NULL)
			json_object_set_new(*rec, "cairn_serial", json_string(key));
		X509_free(x);
		return *rec ? 0 : cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	}
	if (len > 0 && db_iterate(txn, DB_INVENTORY, NULL, 0, find_serial_cb, &sf) == 0) {
		if (sf.n > 1)
			return cairn_err_set(err, CAIRN_ECONFLICT,
					     "%d inventory certificates have serial %s: give the "
					     "fingerprint", sf.n, key);
		if (sf.n == 1) {
			memcpy(fp, sf.fp, INV_FP_LEN);
			*rec = inv_load(txn, fp);
			return *rec ? 0 : cairn_err_set(err, CAIRN_EDB, "inventory record unreadable");
		}
	}
	return cairn_err_set(err, CAIRN_ENOENT, "no certificate with fingerprint or serial %s", key);
}

static int owner_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct owner_op *op = arg;
	uint8_t fp[INV_FP_LEN];
	json_t *rec = NULL, *details = NULL, *prev = NULL;
	const char *serial;
	int rc;

	json_decref(op->out);
	op->out = NULL;
	if ((rc = owner_target(txn, op->key, fp, &rec, err)) != 0)
		return rc;
	prev = json_object_get(rec, "owner");
	prev = prev ? json_incref(prev) : json_string("");
	if (op->owner[0] == '\0')
		json_object_del(rec, "owner");
	else
		json_object_set_new(rec, "owner", util_json_text(op->owner));
	serial = json_string_value(json_object_get(rec, "cairn_serial"));
	if (serial == NULL)
		serial = json_string_value(json_object_get(rec, "serial"));
	details = json_pack("{s:O, s:s, s:o, s:O}", "fp", json_object_get(rec, "fp"), "serial",
			    serial ? serial : "", "owner", util_json_text(op->owner), "previous",
			    prev);
	rc = details ? inv_store(txn, fp, rec) : CAIRN_ENOMEM;
	if (rc == 0) {
		audit_event_t ev = { .actor = op->actor, .action = "inventory.owner",
				     .serial = json_string_value(json_object_get(rec, "cairn_serial")),
				     .details = details };
		rc = audit_append(txn, &ev, NULL, err);
	}
	if (rc == 0)
		op->out = json_incref(details);
	else if (rc == CAIRN_ENOMEM)
		cairn_err_set(err, rc, "out of memory");
	json_decref(prev);
	json_decref(details);
	json_decref(rec);
	return rc;
}

int inventory_owner_set(db_t *db, const char *key, const char *owner, const char *actor,
			json_t **out, cairn_err_t *err)
{
	struct owner_op op = { .key = key, .owner = owner, .actor = actor };
	int rc;

	*out = NULL;
	if (key == NULL || owner == NULL || actor == NULL || key[0] == '\0')
		return cairn_err_set(err, CAIRN_EINVAL, "a fingerprint or serial and an owner are required");
	if (strlen(owner) > INV_OWNER_MAX)
		return cairn_err_set(err, CAIRN_EINVAL, "owner longer than %d bytes", INV_OWNER_MAX);
	rc = db_write(db, owner_run, &op, err);
	if (rc == 0)
		*out = op.out;
	else
		json_decref(op.out);
	return rc;
}
