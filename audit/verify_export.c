/* SPDX-License-Identifier: MIT */
/* Offline verification of an exported audit range: the signed head line, the chain, the line at fault. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "audit/audit.h"
#include "audit/audit_int.h"

/* What a CSV export starts with: a report, refused with a pointer to the JSONL export. */
#define CSV_HEADER_PREFIX "seq,time,actor,action,"

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
	json_t *head;           /* the head line's "head" object, or NULL */
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
	char *buf = NULL;
	size_t cap = 0, line = 0;
	ssize_t len;
	int rc = 0, k;

	while (rc == 0 && (len = getline(&buf, &cap, in)) >= 0) {
		json_t *obj;
		line++;
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			buf[--len] = '\0';
		if (len == 0)
			continue;
		if (ev->n == 0 && ev->head == NULL &&
		    strncmp(buf, CSV_HEADER_PREFIX, strlen(CSV_HEADER_PREFIX)) == 0) {
			rc = fail(res, line, "a CSV export is a report for spreadsheets and cannot be "
					     "verified: verify the JSONL export of the same range");
			break;
		}
		if (ev->head != NULL) {
			rc = fail(res, line, "line %zu comes after the head line", line);
			break;
		}
		obj = json_loadb(buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
		if (json_is_object(json_object_get(obj, "head")) && json_object_size(obj) == 1) {
			ev->head = json_incref(json_object_get(obj, "head"));
			ev->head_line = line;
			json_decref(obj);
			continue;
		}
		k = obj ? add_event(ev, line, obj, buf, (size_t)len) : -1;
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

/* What signed_by_root found. */
enum sig_check {
	SIG_OK = 0,
	SIG_NO_CHAIN, /* the CA certificate does not chain to root at that time */
	SIG_BAD,      /* missing, malformed, a leaf's, or not a signature over msg by it */
};

/* Whether sig64 is a signature over msg by cert64, a CA certificate that chains to root
 * at time at (when it was signed: a CA that expired since still vouches for what it
 * signed then); signer gets its subject, why (SIG_NO_CHAIN) the chain's error. A CA
 * certificate, because audit statements are signed with a CA key in the token: a leaf
 * this CA issued (an ACME or EST certificate whose key its holder has, the daemon's TLS
 * certificate whose key is a file) chains to root too, and must not be able to vouch
 * for a doctored export. */
static enum sig_check signed_by_root(const char *msg, const char *sig64, const char *cert64,
				     X509 *root, time_t at, char *signer, size_t signer_cap,
				     char *why, size_t why_cap)
{
	uint8_t *sig = NULL, *der = NULL;
	size_t siglen = 0, derlen = 0;
	const unsigned char *p;
	X509 *cert = NULL;
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	EVP_MD_CTX *md = NULL;
	enum sig_check rc = SIG_BAD;

	if (why_cap > 0)
		why[0] = '\0';
	if (sig64 == NULL || cert64 == NULL ||
	    b64url_decode(sig64, strlen(sig64), &sig, &siglen) != 0 ||
	    b64url_decode(cert64, strlen(cert64), &der, &derlen) != 0)
		goto out;
	p = der;
	cert = d2i_X509(NULL, &p, (long)derlen);
	store = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	/* a leaf's signature is a forgery's, not a chain problem: SIG_BAD */
	if (cert == NULL || X509_check_ca(cert) != 1 || store == NULL || ctx == NULL)
		goto out;
	/* The signature first: the time the chain is judged at is the signed one, so it is
	 * trusted only once the signature over it verifies. */
	md = EVP_MD_CTX_new();
	if (md == NULL ||
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, X509_get0_pubkey(cert)) != 1 ||
	    EVP_DigestVerify(md, sig, siglen, (const unsigned char *)msg, strlen(msg)) != 1)
		goto out;
	if (X509_STORE_add_cert(store, root) != 1 ||
	    X509_STORE_CTX_init(ctx, store, cert, NULL) != 1)
		goto out;
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), at);
	if (X509_verify_cert(ctx) != 1) {
		rc = SIG_NO_CHAIN;
		snprintf(why, why_cap, "%s",
			 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		goto out;
	}
	X509_NAME_oneline(X509_get_subject_name(cert), signer, (int)signer_cap);
	rc = SIG_OK;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(cert);
	free(sig);
	free(der);
	return rc;
}

/* A checkpoint event's signature checked as signed_by_root does, at time at. */
static enum sig_check checkpoint_valid(const json_t *details, X509 *root, time_t at, char *why,
				       size_t why_cap)
{
	const char *hash = json_string_value(json_object_get(details, "hash"));
	json_t *s = json_object_get(details, "seq");
	char msg[160], signer[128];

	if (hash == NULL || !json_is_integer(s) || strlen(hash) != 64 ||
	    audit_checkpoint_message((uint64_t)json_integer_value(s), hash, msg, sizeof(msg)) < 0)
		return SIG_BAD;
	return signed_by_root(msg, json_string_value(json_object_get(details, "signature")),
			      json_string_value(json_object_get(details, "cert")), root, at, signer,
			      sizeof(signer), why, why_cap);
}

/* A non-negative integer member. */
static int head_uint(const json_t *head, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(head, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* A string member with no NUL inside (what the signature covers is all of it), or NULL. */
static const char *head_str(const json_t *head, const char *key)
{
	json_t *v = json_object_get(head, key);
	const char *s = json_string_value(v);

	return s != NULL && strlen(s) == json_string_length(v) ? s : NULL;
}

/* A time member: an RFC 3339 string copied to text, or (when may_be_null) null for "". */
static int head_time(const json_t *head, const char *key, int may_be_null, char *text, size_t cap)
{
	const char *v = head_str(head, key);
	time_t t;

	text[0] = '\0';
	if (may_be_null && json_is_null(json_object_get(head, key)))
		return 0;
	if (v == NULL || strlen(v) >= cap || time_parse(v, &t) != 0)
		return -1;
	snprintf(text, cap, "%s", v);
	return 0;
}

/* The signed head line: parsed into seal, its signature checked against root. */
static int check_head(const events_t *ev, X509 *root, audit_seal_t *seal,
		      audit_export_check_t *res)
{
	const json_t *h = ev->head;
	const char *hash = head_str(h, "hash"), *alg = head_str(h, "alg");
	char msg[320], why[128];
	enum sig_check sc;
	time_t at;

	if (h == NULL)
		return fail(res, 0, "no head line: the export was cut short (or not made by "
				    "`cairn audit export`)");
	if (json_object_get(h, "signature") == NULL)
		return fail(res, ev->head_line,
			    "line %zu: the export is not signed (made with --unsigned), so nothing "
			    "proves it is complete: export again while the daemon runs",
			    ev->head_line);
	if (head_uint(h, "first", &seal->first) != 0 || head_uint(h, "seq", &seal->last) != 0 ||
	    head_uint(h, "events", &seal->events) != 0 || hash == NULL ||
	    strlen(hash) != (seal->events ? 64u : 0u) ||
	    head_time(h, "since", 1, seal->since, sizeof(seal->since)) != 0 ||
	    head_time(h, "until", 1, seal->until, sizeof(seal->until)) != 0 ||
	    head_time(h, "exported", 0, seal->exported, sizeof(seal->exported)) != 0 ||
	    alg == NULL || strcmp(alg, "sha256") != 0)
		return fail(res, ev->head_line, "line %zu: the head line is malformed", ev->head_line);
	snprintf(seal->hash, sizeof(seal->hash), "%s", hash);
	memcpy(res->since, seal->since, sizeof(res->since));
	memcpy(res->until, seal->until, sizeof(res->until));
	memcpy(res->exported, seal->exported, sizeof(res->exported));
	/* head_time made sure it parses */
	if (time_parse(seal->exported, &at) != 0 || audit_seal_message(seal, msg, sizeof(msg)) < 0)
		return CAIRN_EINVAL;
	sc = signed_by_root(msg, head_str(h, "signature"), head_str(h, "cert"), root, at,
			    res->signer, sizeof(res->signer), why, sizeof(why));
	if (sc == SIG_NO_CHAIN)
		return fail(res, ev->head_line,
			    "line %zu: the certificate that signed the export does not chain to the "
			    "given CA at its export time %s (%s): wrong --ca, or not a certificate "
			    "of this CA; the events were not checked",
			    ev->head_line, seal->exported, why);
	if (sc != SIG_OK)
		return fail(res, ev->head_line,
			    "line %zu: the export's signature does not verify with the given CA "
			    "(the head line was changed, or events were cut off and it was redone)",
			    ev->head_line);
	return 0;
}

static int check(events_t *ev, X509 *root, audit_export_check_t *res)
{
	audit_seal_t seal;
	char hex[65], want[65];
	time_t since = 0, until = 0;
	size_t i;
	int rc;

	memset(&seal, 0, sizeof(seal));
	if ((rc = check_head(ev, root, &seal, res)) != 0)
		return rc;
	res->events = ev->n;
	res->first_seq = ev->n ? ev->v[0].seq : 0;
	res->last_seq = ev->n ? ev->v[ev->n - 1].seq : 0;
	for (i = 1; i < ev->n; i++)
		if (ev->v[i].seq != ev->v[i - 1].seq + 1)
			return fail(res, ev->v[i].line,
				    "line %zu: sequence %" PRIu64 " follows %" PRIu64
				    " (events missing or reordered)",
				    ev->v[i].line, ev->v[i].seq, ev->v[i - 1].seq);
	if (ev->n != seal.events || res->first_seq != seal.first || res->last_seq != seal.last)
		return fail(res, ev->head_line,
			    "events missing: the signed head covers %" PRIu64 " event(s), %" PRIu64
			    "..%" PRIu64 ", the export holds %zu, %" PRIu64 "..%" PRIu64
			    " (cut off or added)",
			    seal.events, seal.first, seal.last, ev->n, res->first_seq, res->last_seq);
	for (i = 0; i < ev->n; i++) {
		const char *a = json_string_value(json_object_get(ev->v[i].obj, "action"));
		const char *ts = json_string_value(json_object_get(ev->v[i].obj, "time"));
		enum sig_check sc;
		char why[128];
		time_t at;

		if (a == NULL || strcmp(a, "audit.checkpoint") != 0)
			continue;
		/* signed when it was written; a time that does not parse fails below */
		if ((ts == NULL || time_parse(ts, &at) != 0) && time_parse(seal.exported, &at) != 0)
			return CAIRN_EINVAL;
		sc = checkpoint_valid(json_object_get(ev->v[i].obj, "details"), root, at, why,
				      sizeof(why));
		if (sc == SIG_NO_CHAIN)
			return fail(res, ev->v[i].line,
				    "line %zu: the certificate that signed the checkpoint does not "
				    "chain to the given CA at its time (%s)", ev->v[i].line, why);
		if (sc != SIG_OK)
			return fail(res, ev->v[i].line,
				    "line %zu: checkpoint signature does not verify with the given CA",
				    ev->v[i].line);
	}
	/* Walk back from the signed hash: the first event whose hash is not what the next
	 * (trusted) event says is the one that was changed. */
	snprintf(want, sizeof(want), "%s", seal.hash);
	for (i = ev->n; i-- > 0;) {
		hex_encode(ev->v[i].hash, 32, hex);
		if (strcmp(hex, want) != 0)
			return fail(res, ev->v[i].line,
				    "line %zu: event %" PRIu64 " was modified (its hash does not match "
				    "the chain the signed head vouches for)",
				    ev->v[i].line, ev->v[i].seq);
		snprintf(want, sizeof(want), "%s", ev->v[i].prev);
	}
	/* Both parse: check_head made sure. */
	if ((seal.since[0] && time_parse(seal.since, &since) != 0) ||
	    (seal.until[0] && time_parse(seal.until, &until) != 0))
		return CAIRN_EINVAL;
	for (i = 0; i < ev->n; i++) {
		const char *ts = json_string_value(json_object_get(ev->v[i].obj, "time"));
		time_t t;
		if (ts == NULL || time_parse(ts, &t) != 0 || (seal.since[0] && t < since) ||
		    (seal.until[0] && t >= until))
			return fail(res, ev->v[i].line,
				    "line %zu: event %" PRIu64 " lies outside the signed range",
				    ev->v[i].line, ev->v[i].seq);
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
	json_decref(ev.head);
	return rc;
}
