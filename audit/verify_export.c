/* SPDX-License-Identifier: MIT */
/* Offline verification of an exported audit range: chain, signed checkpoints, the line at fault. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "audit/audit.h"
#include "audit/audit_int.h"

#define CSV_HEADER "seq,time,actor,action,serial,names,details,prev"
#define CSV_FIELDS 8

typedef struct line_event {
	size_t line;
	uint64_t seq;
	uint8_t hash[32];
	char prev[65];
	json_t *obj; /* the parsed event */
} line_event_t;

typedef struct events {
	line_event_t *v;
	size_t n, cap;
	int have_head;
	uint64_t head_seq, head_events;
	int head_ok;            /* the head line parsed completely */
	char head_hash[65];
	size_t head_line;
} events_t;

static int fail(audit_export_check_t *res, size_t line, const char *fmt, ...)
	CAIRN_PRINTF(3, 4);
static int fail(audit_export_check_t *res, size_t line, const char *fmt, ...)
{
	va_list ap;

	res->bad_line = line;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
	return CAIRN_EAUDIT;
}

/* Splits one RFC 4180 record (no line breaks inside fields) into CSV_FIELDS malloc'd fields. */
static int csv_split(const char *s, char **fields)
{
	size_t k = 0;

	while (k < CSV_FIELDS) {
		size_t cap = strlen(s) + 1, n = 0;
		char *f = malloc(cap);
		if (f == NULL)
			return -1;
		if (*s == '"') {
			s++;
			for (;;) {
				if (*s == '\0') {
					free(f);
					return -1;
				}
				if (*s == '"' && s[1] == '"') {
					f[n++] = '"';
					s += 2;
				} else if (*s == '"') {
					s++;
					break;
				} else {
					f[n++] = *s++;
				}
			}
		} else {
			while (*s != '\0' && *s != ',')
				f[n++] = *s++;
		}
		f[n] = '\0';
		fields[k++] = f;
		if (*s == ',')
			s++;
		else
			break;
	}
	return k == CSV_FIELDS && *s == '\0' ? 0 : -1;
}

/* The stored bytes of an event shown as a CSV row: the same JSON audit_append wrote. */
static json_t *csv_event(char **f)
{
	json_t *o = json_object(), *names = json_array(), *details;
	char *end, *tok, *save = NULL;
	unsigned long long seq = strtoull(f[0], &end, 10);

	if (o == NULL || names == NULL || f[0][0] == '\0' || *end != '\0')
		goto bad;
	if (f[5][0] == '[') { /* names that do not survive space-joining come as JSON */
		json_decref(names);
		names = json_loads(f[5], JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_array(names))
			goto bad;
	} else {
		for (tok = strtok_r(f[5], " ", &save); tok; tok = strtok_r(NULL, " ", &save))
			json_array_append_new(names, json_string(tok));
	}
	details = json_loads(f[6], JSON_REJECT_DUPLICATES, NULL);
	if (details == NULL || !json_is_object(details)) {
		json_decref(details);
		goto bad;
	}
	json_object_set_new(o, "seq", json_integer((json_int_t)seq));
	json_object_set_new(o, "time", json_string(f[1]));
	json_object_set_new(o, "actor", json_string(f[2]));
	json_object_set_new(o, "action", json_string(f[3]));
	json_object_set_new(o, "serial", f[4][0] ? json_string(f[4]) : json_null());
	json_object_set_new(o, "names", names);
	json_object_set_new(o, "details", details);
	json_object_set_new(o, "prev", json_string(f[7]));
	return o;
bad:
	json_decref(names);
	json_decref(o);
	return NULL;
}

static int add_event(events_t *ev, size_t line, json_t *obj, const char *bytes, size_t len)
{
	line_event_t *e;
	json_t *seq = json_object_get(obj, "seq");
	const char *prev = json_string_value(json_object_get(obj, "prev"));

	if (!json_is_integer(seq) || prev == NULL || strlen(prev) != 64)
		return -1;
	if (ev->n == ev->cap) {
		size_t cap = ev->cap ? ev->cap * 2 : 256;
		line_event_t *grown = realloc(ev->v, cap * sizeof(*grown));
		if (grown == NULL)
			return -2;
		ev->v = grown;
		ev->cap = cap;
	}
	e = &ev->v[ev->n];
	e->line = line;
	e->seq = (uint64_t)json_integer_value(seq);
	snprintf(e->prev, sizeof(e->prev), "%s", prev);
	if (audit_hash(bytes, len, e->hash) != 0)
		return -2;
	e->obj = obj;
	ev->n++;
	return 0;
}

/* Reads the export into ev; the line at fault in res on a malformed line. */
static int read_export(FILE *in, events_t *ev, audit_export_check_t *res)
{
	char *buf = NULL, *fields[CSV_FIELDS];
	size_t cap = 0, line = 0;
	ssize_t len;
	int csv = -1, rc = 0;

	while (rc == 0 && (len = getline(&buf, &cap, in)) >= 0) {
		json_t *obj = NULL;
		char *text = NULL;
		int k;
		line++;
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			buf[--len] = '\0';
		if (csv < 0) {
			csv = strcmp(buf, CSV_HEADER) == 0;
			if (csv)
				continue;
		}
		if (len == 0)
			continue;
		if (csv && strncmp(buf, "#head,", 6) == 0) {
			unsigned long long s = 0, m = 0;
			int used = 0;
			ev->have_head = 1;
			ev->head_ok = sscanf(buf + 6, "%llu,%64[0-9a-f],%llu%n", &s, ev->head_hash, &m,
					     &used) == 3 && buf[6 + used] == '\0';
			ev->head_seq = s;
			ev->head_events = m;
			ev->head_line = line;
			continue;
		}
		if (csv) {
			memset(fields, 0, sizeof(fields));
			if (csv_split(buf, fields) == 0 && (obj = csv_event(fields)) != NULL)
				text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
			for (k = 0; k < CSV_FIELDS; k++)
				free(fields[k]);
		} else {
			obj = json_loadb(buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
			if (obj != NULL && json_object_get(obj, "head") != NULL &&
			    json_object_size(obj) == 1) {
				json_t *h = json_object_get(obj, "head");
				ev->have_head = 1;
				ev->head_ok = json_is_integer(json_object_get(h, "seq")) &&
					      json_is_integer(json_object_get(h, "events")) &&
					      json_is_string(json_object_get(h, "hash")) &&
					      json_object_size(h) == 3;
				ev->head_seq = (uint64_t)json_integer_value(json_object_get(h, "seq"));
				ev->head_events =
					(uint64_t)json_integer_value(json_object_get(h, "events"));
				snprintf(ev->head_hash, sizeof(ev->head_hash), "%s",
					 json_string_value(json_object_get(h, "hash")) ?: "");
				ev->head_line = line;
				json_decref(obj);
				continue;
			}
			text = obj ? strdup(buf) : NULL;
		}
		k = obj && text ? add_event(ev, line, obj, text, strlen(text)) : -1;
		free(text);
		if (k != 0) {
			json_decref(obj);
			rc = k == -2 ? CAIRN_ENOMEM : fail(res, line, "line %zu is not an audit event", line);
		}
	}
	free(buf);
	if (rc == 0 && ferror(in))
		rc = CAIRN_EIO;
	return rc;
}

/* 1 when the checkpoint event's signature verifies with a certificate chaining to root. */
static int checkpoint_valid(const json_t *details, X509 *root, uint64_t *seq, char *hash_hex,
			    char *signer, size_t signer_cap)
{
	const char *hash = json_string_value(json_object_get(details, "hash"));
	const char *sig64 = json_string_value(json_object_get(details, "signature"));
	const char *cert64 = json_string_value(json_object_get(details, "cert"));
	json_t *s = json_object_get(details, "seq");
	uint8_t *sig = NULL, *der = NULL;
	size_t siglen = 0, derlen = 0;
	const unsigned char *p;
	X509 *cert = NULL;
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	EVP_MD_CTX *md = NULL;
	char msg[160];
	int ok = 0;

	if (hash == NULL || sig64 == NULL || cert64 == NULL || !json_is_integer(s) ||
	    strlen(hash) != 64 || b64url_decode(sig64, strlen(sig64), &sig, &siglen) != 0 ||
	    b64url_decode(cert64, strlen(cert64), &der, &derlen) != 0)
		goto out;
	p = der;
	cert = d2i_X509(NULL, &p, (long)derlen);
	store = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	if (cert == NULL || store == NULL || ctx == NULL || X509_STORE_add_cert(store, root) != 1 ||
	    X509_STORE_CTX_init(ctx, store, cert, NULL) != 1 || X509_verify_cert(ctx) != 1)
		goto out;
	*seq = (uint64_t)json_integer_value(s);
	if (audit_checkpoint_message(*seq, hash, msg, sizeof(msg)) < 0)
		goto out;
	md = EVP_MD_CTX_new();
	if (md == NULL ||
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, X509_get0_pubkey(cert)) != 1 ||
	    EVP_DigestVerify(md, sig, siglen, (const unsigned char *)msg, strlen(msg)) != 1)
		goto out;
	snprintf(hash_hex, 65, "%s", hash);
	X509_NAME_oneline(X509_get_subject_name(cert), signer, (int)signer_cap);
	ok = 1;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(cert);
	free(sig);
	free(der);
	return ok;
}

static int check(events_t *ev, X509 *root, audit_export_check_t *res)
{
	char hex[65], anchor_hash[65] = "", want[65];
	size_t i, anchor = (size_t)-1;
	uint64_t anchor_seq = 0;

	if (ev->n == 0)
		return fail(res, 0, "the export holds no events");
	res->events = ev->n;
	res->first_seq = ev->v[0].seq;
	res->last_seq = ev->v[ev->n - 1].seq;
	for (i = 1; i < ev->n; i++)
		if (ev->v[i].seq != ev->v[i - 1].seq + 1)
			return fail(res, ev->v[i].line,
				    "line %zu: sequence %" PRIu64 " follows %" PRIu64
				    " (events missing or reordered)",
				    ev->v[i].line, ev->v[i].seq, ev->v[i - 1].seq);
	for (i = 0; i < ev->n; i++) {
		const char *a = json_string_value(json_object_get(ev->v[i].obj, "action"));
		uint64_t s = 0;
		char h[65], signer[128];
		if (a == NULL || strcmp(a, "audit.checkpoint") != 0)
			continue;
		if (!checkpoint_valid(json_object_get(ev->v[i].obj, "details"), root, &s, h, signer,
				      sizeof(signer)))
			return fail(res, ev->v[i].line,
				    "line %zu: checkpoint signature does not verify with the given CA",
				    ev->v[i].line);
		if (s >= res->first_seq && s <= res->last_seq && s >= anchor_seq) {
			anchor_seq = s;
			anchor = (size_t)(s - res->first_seq);
			snprintf(anchor_hash, sizeof(anchor_hash), "%s", h);
			snprintf(res->signer, sizeof(res->signer), "%s", signer);
		}
	}
	if (anchor == (size_t)-1)
		return fail(res, 0, "no signed checkpoint in the export covers its events "
				    "(run `cairn audit checkpoint` and export again)");
	res->anchor_seq = anchor_seq;
	/* Walk back from the signed hash: the first event whose hash is not what the next
	 * (trusted) event says is the one that was changed. */
	snprintf(want, sizeof(want), "%s", anchor_hash);
	for (i = anchor + 1; i-- > 0;) {
		hex_encode(ev->v[i].hash, 32, hex);
		if (strcmp(hex, want) != 0)
			return fail(res, ev->v[i].line,
				    "line %zu: event %" PRIu64 " was modified (its hash does not match "
				    "the chain vouched for by the checkpoint at %" PRIu64 ")",
				    ev->v[i].line, ev->v[i].seq, anchor_seq);
		snprintf(want, sizeof(want), "%s", ev->v[i].prev);
	}
	/* After the anchor only checkpoints may follow, chained to it. */
	for (i = anchor + 1; i < ev->n; i++) {
		const char *a = json_string_value(json_object_get(ev->v[i].obj, "action"));
		hex_encode(ev->v[i - 1].hash, 32, hex);
		if (a == NULL || strcmp(a, "audit.checkpoint") != 0)
			return fail(res, ev->v[i].line,
				    "line %zu: event %" PRIu64 " comes after the last signed "
				    "checkpoint (not anchored)",
				    ev->v[i].line, ev->v[i].seq);
		if (strcmp(ev->v[i].prev, hex) != 0)
			return fail(res, ev->v[i].line, "line %zu: event %" PRIu64 " does not chain",
				    ev->v[i].line, ev->v[i].seq);
	}
	if (ev->have_head) {
		hex_encode(ev->v[ev->n - 1].hash, 32, hex);
		if (!ev->head_ok || ev->head_seq != res->last_seq || ev->head_events != ev->n ||
		    strcmp(ev->head_hash, hex) != 0)
			return fail(res, ev->head_line,
				    "line %zu: the head line does not match the last event",
				    ev->head_line);
	}
	return 0;
}

int audit_verify_export(FILE *in, X509 *root, audit_export_check_t *res)
{
	events_t ev;
	size_t i;
	int rc;

	memset(res, 0, sizeof(*res));
	memset(&ev, 0, sizeof(ev));
	if (in == NULL || root == NULL)
		return CAIRN_EINVAL;
	rc = read_export(in, &ev, res);
	if (rc == 0)
		rc = check(&ev, root, res);
	for (i = 0; i < ev.n; i++)
		json_decref(ev.v[i].obj);
	free(ev.v);
	return rc;
}
