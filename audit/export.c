/* SPDX-License-Identifier: MIT */
/* Exporting the audit log: JSON lines with a signed head line, or a CSV report for spreadsheets. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "audit/audit_int.h"

#define CSV_HEADER "seq,time,actor,action,serial,names,details,hash,prev\r\n"

struct export {
	FILE *out;
	audit_format_t fmt;
	time_t since, until;
	uint64_t n, first, last; /* events written, first and last sequence */
	uint8_t last_hash[32];
	cairn_err_t *err;
	int err_set;
};

/* Details as plain "key=value" pairs joined by "; " in stored order: nested members as
 * outer.inner=, array elements as key.0=, strings as they are, numbers in decimal,
 * true/false/null as words, an empty object or array as "key=". */
static void flatten(FILE *m, const char *path, const json_t *v, int *first)
{
	const char *key;
	json_t *child;
	size_t i;
	char *sub = NULL;

	if ((json_is_object(v) && json_object_size(v) > 0) ||
	    (json_is_array(v) && json_array_size(v) > 0)) {
		if (json_is_object(v)) {
			json_object_foreach((json_t *)v, key, child) {
				if (asprintf(&sub, "%s%s%s", path, path[0] ? "." : "", key) < 0)
					return;
				flatten(m, sub, child, first);
				free(sub);
			}
		} else {
			json_array_foreach(v, i, child) {
				if (asprintf(&sub, "%s%s%zu", path, path[0] ? "." : "", i) < 0)
					return;
				flatten(m, sub, child, first);
				free(sub);
			}
		}
		return;
	}
	if (path[0] == '\0')
		return; /* the empty top-level object */
	fprintf(m, "%s%s=", *first ? "" : "; ", path);
	*first = 0;
	if (json_is_string(v))
		fputs(json_string_value(v), m);
	else if (json_is_integer(v))
		fprintf(m, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		fprintf(m, "%.17g", json_real_value(v));
	else if (json_is_true(v) || json_is_false(v))
		fputs(json_is_true(v) ? "true" : "false", m);
	else if (json_is_null(v))
		fputs("null", m);
}

/* Names joined by single spaces, or details flattened, as a malloc'd string. */
static char *plain(const json_t *names, const json_t *details)
{
	char *buf = NULL;
	size_t len = 0, i;
	int first = 1;
	FILE *m = open_memstream(&buf, &len);

	if (m == NULL)
		return NULL;
	for (i = 0; names != NULL && i < json_array_size(names); i++)
		fprintf(m, "%s%s", i ? " " : "", json_string_value(json_array_get(names, i)) ?: "");
	if (details != NULL)
		flatten(m, "", details, &first);
	if (fclose(m) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int csv_row(FILE *out, const json_t *o, const uint8_t hash[32])
{
	char seq[32], hex[65], *names = plain(json_object_get(o, "names"), NULL);
	char *details = plain(NULL, json_object_get(o, "details"));
	int rc = -1;

	snprintf(seq, sizeof(seq), "%" JSON_INTEGER_FORMAT,
		 json_integer_value(json_object_get(o, "seq")));
	hex_encode(hash, 32, hex);
	if (names == NULL || details == NULL)
		goto out;
	if (util_csv_cell(out, seq, 0) != 0 ||
	    util_csv_cell(out, json_string_value(json_object_get(o, "time")), 0) != 0 ||
	    util_csv_cell(out, json_string_value(json_object_get(o, "actor")), 0) != 0 ||
	    util_csv_cell(out, json_string_value(json_object_get(o, "action")), 0) != 0 ||
	    util_csv_cell(out, json_string_value(json_object_get(o, "serial")), 0) != 0 ||
	    util_csv_cell(out, names, 0) != 0 || util_csv_cell(out, details, 0) != 0 ||
	    util_csv_cell(out, hex, 0) != 0 ||
	    util_csv_cell(out, json_string_value(json_object_get(o, "prev")), 1) != 0)
		goto out;
	rc = 0;
out:
	free(names);
	free(details);
	return rc;
}

static int export_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct export *x = arg;
	json_error_t jerr;
	json_t *o;
	const char *ts;
	time_t t;
	uint64_t seq = klen == 8 ? db_be64_get(key) : 0;
	uint8_t hash[32];
	int ret = 0;

	o = json_loadb(val, vlen, JSON_REJECT_DUPLICATES, &jerr);
	ts = json_string_value(json_object_get(o, "time"));
	if (o == NULL || ts == NULL || time_parse(ts, &t) != 0) {
		ret = cairn_err_set(x->err, CAIRN_EAUDIT,
				    "audit event %" PRIu64 " does not parse; run audit verify", seq);
		x->err_set = 1;
		goto out;
	}
	if ((x->since != 0 && t < x->since) || (x->until != 0 && t >= x->until))
		goto out;
	if (audit_hash(val, vlen, hash) != 0) {
		ret = cairn_err_set(x->err, CAIRN_ECRYPTO, "SHA-256 failed");
		x->err_set = 1;
		goto out;
	}
	if (x->fmt == AUDIT_FMT_JSONL) {
		if (fwrite(val, 1, vlen, x->out) != vlen || fputc('\n', x->out) == EOF)
			ret = CAIRN_EIO;
	} else if (csv_row(x->out, o, hash) != 0) {
		ret = CAIRN_EIO;
	}
	if (ret != 0) {
		cairn_err_set(x->err, ret, "writing audit export failed");
		x->err_set = 1;
		goto out;
	}
	if (x->n++ == 0)
		x->first = seq;
	x->last = seq;
	memcpy(x->last_hash, hash, sizeof(hash));
out:
	json_decref(o);
	return ret;
}

/* Writes the events of x's range (and the CSV header) in one read txn. */
static int walk(db_t *db, struct export *x)
{
	db_txn_t *txn = NULL;
	int ret;

	if (db == NULL || x->out == NULL || (x->fmt != AUDIT_FMT_JSONL && x->fmt != AUDIT_FMT_CSV))
		return cairn_err_set(x->err, CAIRN_EINVAL, "audit_export: bad arguments");
	if (x->fmt == AUDIT_FMT_CSV && fputs(CSV_HEADER, x->out) == EOF)
		return cairn_err_set(x->err, CAIRN_EIO, "writing audit export failed");
	ret = db_read_begin(db, &txn);
	if (ret != 0)
		return cairn_err_set(x->err, ret, "audit export: cannot open a read transaction");
	ret = db_iterate(txn, DB_AUDIT, NULL, 0, export_cb, x);
	db_txn_end(txn);
	if (ret != 0 && !x->err_set)
		cairn_err_set(x->err, ret, "audit export: %s", cairn_strerror(ret));
	return ret;
}

int audit_export(db_t *db, FILE *out, audit_format_t fmt, time_t since, time_t until,
		 uint64_t *n, cairn_err_t *err)
{
	struct export x = { .out = out, .fmt = fmt, .since = since, .until = until, .err = err };
	int ret = walk(db, &x);

	if (ret == 0 && fflush(out) != 0)
		ret = cairn_err_set(err, CAIRN_EIO, "writing audit export failed");
	if (n != NULL)
		*n = x.n;
	return ret;
}

/* An end of the range as the head line spells it: "" when unbounded, else RFC 3339. */
static void range_end(time_t t, char *out, size_t cap)
{
	out[0] = '\0';
	if (t != 0)
		time_rfc3339(t, out, cap);
}

/* A head line time: null for "" (unbounded), else the string. */
static json_t *head_time(const char *t)
{
	return t[0] != '\0' ? json_string(t) : json_null();
}

int audit_export_sealed(db_t *db, FILE *out, time_t since, time_t until, EVP_PKEY *key,
			X509 *cert, uint64_t *n, cairn_err_t *err)
{
	struct export x = { .out = out, .fmt = AUDIT_FMT_JSONL, .since = since, .until = until,
			    .err = err };
	audit_seal_t seal = { 0 };
	char msg[320], *sig_b64 = NULL, *cert_b64 = NULL, *text = NULL;
	json_t *head = NULL, *line = NULL;
	int ret;

	if (n != NULL)
		*n = 0;
	if ((key == NULL) != (cert == NULL))
		return cairn_err_set(err, CAIRN_EINVAL, "audit export: a key needs its certificate");
	if ((ret = walk(db, &x)) != 0)
		return ret;
	seal.first = x.first;
	seal.last = x.last;
	seal.events = x.n;
	if (x.n > 0)
		hex_encode(x.last_hash, sizeof(x.last_hash), seal.hash);
	range_end(since, seal.since, sizeof(seal.since));
	range_end(until, seal.until, sizeof(seal.until));
	time_rfc3339(time(NULL), seal.exported, sizeof(seal.exported));
	head = json_pack("{s:I, s:s, s:I, s:I, s:o, s:o, s:s}", "seq", (json_int_t)seal.last,
			 "hash", seal.hash, "events", (json_int_t)seal.events, "first",
			 (json_int_t)seal.first, "since", head_time(seal.since), "until",
			 head_time(seal.until), "exported", seal.exported);
	if (head == NULL) {
		ret = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	if (key != NULL) {
		if (audit_seal_message(&seal, msg, sizeof(msg)) < 0) {
			ret = cairn_err_set(err, CAIRN_EINVAL, "audit export: seal too long");
			goto out;
		}
		if ((ret = audit_sign(key, cert, msg, &sig_b64, &cert_b64, err)) != 0)
			goto out;
		if (json_object_set_new(head, "alg", json_string("sha256")) != 0 ||
		    json_object_set_new(head, "signature", json_string(sig_b64)) != 0 ||
		    json_object_set_new(head, "cert", json_string(cert_b64)) != 0) {
			ret = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
			goto out;
		}
	}
	line = json_pack("{s:O}", "head", head);
	text = line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (text == NULL) {
		ret = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	if (fprintf(out, "%s\n", text) < 0 || fflush(out) != 0) {
		ret = cairn_err_set(err, CAIRN_EIO, "writing audit export failed");
		goto out;
	}
	if (n != NULL)
		*n = x.n;
out:
	free(sig_b64);
	free(cert_b64);
	free(text);
	json_decref(line);
	json_decref(head);
	return ret;
}
