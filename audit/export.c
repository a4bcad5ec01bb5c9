/* SPDX-License-Identifier: MIT */
/* Exporting the audit log as JSON lines or RFC 4180 CSV, filtered by time. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"

struct export {
	FILE *out;
	audit_format_t fmt;
	time_t since, until;
	uint64_t n;
	cairn_err_t *err;
	int err_set;
	int anchored;       /* go on past the range up to the covering checkpoint */
	uint64_t last_seq;  /* last event written */
	uint8_t last_hash[32];
	uint64_t last_in_range;
};

/* A checkpoint event covering seq (its signed "seq" is at least seq). */
static int covers(const json_t *o, uint64_t seq)
{
	const char *action = json_string_value(json_object_get(o, "action"));
	json_t *signed_seq = json_object_get(json_object_get(o, "details"), "seq");

	return action && strcmp(action, "audit.checkpoint") == 0 && json_is_integer(signed_seq) &&
	       (uint64_t)json_integer_value(signed_seq) >= seq;
}

/* One CSV field, quoted only when it must be. Returns 0 or -1 on a write error. */
static int csv_field(FILE *out, const char *s, size_t len, int last)
{
	size_t i;
	int rc = 0;

	if (strcspn(s, ",\"\r\n") < len) {
		rc |= fputc('"', out) == EOF;
		for (i = 0; i < len; i++) {
			if (s[i] == '"')
				rc |= fputc('"', out) == EOF;
			rc |= fputc(s[i], out) == EOF;
		}
		rc |= fputc('"', out) == EOF;
	} else if (len > 0) {
		rc |= fwrite(s, 1, len, out) != len;
	}
	rc |= fputs(last ? "\r\n" : ",", out) == EOF;
	return rc ? -1 : 0;
}

static int csv_str(FILE *out, const char *s, int last)
{
	return csv_field(out, s != NULL ? s : "", s != NULL ? strlen(s) : 0, last);
}

static int csv_row(FILE *out, const json_t *o)
{
	const json_t *names = json_object_get(o, "names"), *details = json_object_get(o, "details");
	char seq[32], *joined = NULL, *dj = NULL;
	size_t i, len = 0;
	int rc = -1, json_form = 0;

	snprintf(seq, sizeof(seq), "%" JSON_INTEGER_FORMAT,
		 json_integer_value(json_object_get(o, "seq")));
	for (i = 0; i < json_array_size(names); i++) {
		const char *s = json_string_value(json_array_get(names, i));
		len += json_string_length(json_array_get(names, i)) + 1;
		/* A name that space-joining would garble: the column is a JSON array instead,
		 * so the verifier can rebuild the stored event exactly. */
		if (s == NULL || s[0] == '\0' || s[0] == '[' || strchr(s, ' ') != NULL)
			json_form = 1;
	}
	if (json_form) {
		joined = json_dumps(names, JSON_COMPACT);
		i = json_array_size(names); /* skip the joining below */
	} else {
		joined = calloc(1, len + 1);
		i = 0;
	}
	if (joined == NULL)
		goto out;
	for (; i < json_array_size(names); i++) {
		const char *s = json_string_value(json_array_get(names, i));
		if (s == NULL)
			continue;
		if (joined[0] != '\0')
			strcat(joined, " ");
		strcat(joined, s);
	}
	if (json_is_object(details) || json_is_array(details))
		dj = json_dumps(details, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (csv_str(out, seq, 0) != 0 ||
	    csv_str(out, json_string_value(json_object_get(o, "time")), 0) != 0 ||
	    csv_str(out, json_string_value(json_object_get(o, "actor")), 0) != 0 ||
	    csv_str(out, json_string_value(json_object_get(o, "action")), 0) != 0 ||
	    csv_str(out, json_string_value(json_object_get(o, "serial")), 0) != 0 ||
	    csv_str(out, joined, 0) != 0 || csv_str(out, dj, 0) != 0 ||
	    csv_str(out, json_string_value(json_object_get(o, "prev")), 1) != 0)
		goto out;
	rc = 0;
out:
	free(joined);
	free(dj);
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
	int ret = 0;

	o = json_loadb(val, vlen, JSON_REJECT_DUPLICATES, &jerr);
	ts = json_string_value(json_object_get(o, "time"));
	if (o == NULL || ts == NULL || time_parse(ts, &t) != 0) {
		ret = cairn_err_set(x->err, CAIRN_EAUDIT,
				    "audit event %" PRIu64 " does not parse; run audit verify", seq);
		x->err_set = 1;
		goto out;
	}
	if (x->since != 0 && t < x->since)
		goto out;
	if (x->until != 0 && t >= x->until) {
		/* Past the range: an anchored export carries on to the first checkpoint that
		 * covers its last event, so that a signature vouches for the whole range. */
		if (!x->anchored || x->n == 0)
			goto out;
		x->anchored = 2;
	}
	if (x->fmt == AUDIT_FMT_JSONL) {
		if (fwrite(val, 1, vlen, x->out) != vlen || fputc('\n', x->out) == EOF)
			ret = CAIRN_EIO;
	} else if (csv_row(x->out, o) != 0) {
		ret = CAIRN_EIO;
	}
	if (ret != 0) {
		cairn_err_set(x->err, ret, "writing audit export failed");
		x->err_set = 1;
		goto out;
	}
	if (x->anchored != 2)
		x->last_in_range = seq;
	x->n++;
	x->last_seq = seq;
	if (audit_hash(val, vlen, x->last_hash) != 0) {
		ret = cairn_err_set(x->err, CAIRN_ECRYPTO, "SHA-256 failed");
		x->err_set = 1;
		goto out;
	}
	if (x->anchored == 2 && covers(o, x->last_in_range))
		ret = 1; /* the checkpoint is written: done */
out:
	json_decref(o);
	return ret;
}

int audit_export(db_t *db, FILE *out, audit_format_t fmt, time_t since, time_t until,
		 uint64_t *n, cairn_err_t *err)
{
	struct export x = { .out = out, .fmt = fmt, .since = since, .until = until, .err = err };
	db_txn_t *txn = NULL;
	int ret;

	if (n != NULL)
		*n = 0;
	if (db == NULL || out == NULL || (fmt != AUDIT_FMT_JSONL && fmt != AUDIT_FMT_CSV))
		return cairn_err_set(err, CAIRN_EINVAL, "audit_export: bad arguments");
	if (fmt == AUDIT_FMT_CSV &&
	    fputs("seq,time,actor,action,serial,names,details,prev\r\n", out) == EOF)
		return cairn_err_set(err, CAIRN_EIO, "writing audit export failed");
	ret = db_read_begin(db, &txn);
	if (ret != 0)
		return cairn_err_set(err, ret, "audit export: cannot open a read transaction");
	ret = db_iterate(txn, DB_AUDIT, NULL, 0, export_cb, &x);
	db_txn_end(txn);
	if (ret == 1)
		ret = 0; /* stopped early on purpose */
	if (ret == 0 && fflush(out) != 0)
		ret = cairn_err_set(err, CAIRN_EIO, "writing audit export failed");
	else if (ret != 0 && !x.err_set)
		cairn_err_set(err, ret, "audit export: %s", cairn_strerror(ret));
	if (n != NULL)
		*n = x.n;
	return ret;
}

int audit_export_anchored(db_t *db, FILE *out, audit_format_t fmt, time_t since, time_t until,
			  uint64_t *n, cairn_err_t *err)
{
	struct export x = { .out = out, .fmt = fmt, .since = since, .until = until, .err = err,
			    .anchored = 1 };
	char hex[65];
	db_txn_t *txn = NULL;
	int ret;

	if (n != NULL)
		*n = 0;
	if (db == NULL || out == NULL || (fmt != AUDIT_FMT_JSONL && fmt != AUDIT_FMT_CSV))
		return cairn_err_set(err, CAIRN_EINVAL, "audit_export: bad arguments");
	if (fmt == AUDIT_FMT_CSV &&
	    fputs("seq,time,actor,action,serial,names,details,prev\r\n", out) == EOF)
		return cairn_err_set(err, CAIRN_EIO, "writing audit export failed");
	ret = db_read_begin(db, &txn);
	if (ret != 0)
		return cairn_err_set(err, ret, "audit export: cannot open a read transaction");
	ret = db_iterate(txn, DB_AUDIT, NULL, 0, export_cb, &x);
	db_txn_end(txn);
	if (ret == 1)
		ret = 0;
	if (ret != 0) {
		if (!x.err_set)
			cairn_err_set(err, ret, "audit export: %s", cairn_strerror(ret));
		return ret;
	}
	hex_encode(x.last_hash, sizeof(x.last_hash), hex);
	if (x.n == 0)
		hex[0] = '\0';
	if ((fmt == AUDIT_FMT_JSONL
		     ? fprintf(out, "{\"head\":{\"seq\":%" PRIu64 ",\"hash\":\"%s\",\"events\":%" PRIu64
				    "}}\n", x.last_seq, hex, x.n)
		     : fprintf(out, "#head,%" PRIu64 ",%s,%" PRIu64 "\r\n", x.last_seq, hex, x.n)) < 0 ||
	    fflush(out) != 0)
		return cairn_err_set(err, CAIRN_EIO, "writing audit export failed");
	if (n != NULL)
		*n = x.n;
	return 0;
}
