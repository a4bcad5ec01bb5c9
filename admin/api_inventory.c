/* SPDX-License-Identifier: MIT */
/* Admin API: the certificate inventory — import batches, owners, listings and reports. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/admin_int.h"
#include "inventory/inventory.h"

#define IMPORT_SOURCE_MAX 512
#define IMPORT_TLS_MAX 4096 /* bytes of a sighting's tls details (kept with each sighting) */

/* The trust anchors of one CA, built once: loading the system bundle (about 150
 * certificates) for every batch cost more than the batch's own certificates. Stores are
 * safe to verify against from many threads. Lives as long as the process. */
static const inv_trust_t *trust_for(const ca_t *ca)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static inv_trust_t *cached;
	static const ca_t *cached_ca;
	const inv_trust_t *t;

	pthread_mutex_lock(&mu);
	if (cached == NULL || cached_ca != ca) {
		inv_trust_t *fresh = inv_trust_new(ca);
		if (fresh != NULL) {
			/* An older one may still be in use by another request: keep it. */
			cached = fresh;
			cached_ca = ca;
		}
	}
	t = cached;
	pthread_mutex_unlock(&mu);
	return t;
}

/* POST /inventory/import {"source": TEXT, "items": [{"der": base64url, "kind": "file"|"csv"|
 * "tls", "where": TEXT, "sni"?, "owner"?, "tags"?: [TEXT], "tls"?: {...}}]} (1..1000 items):
 * one durable transaction and one audit event; 200 with the per-item results. */
void api_inventory_import(const admin_ctx_t *ctx, const admin_request_t *req,
			  const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	json_t *body = NULL, *items = NULL, *it, *results = NULL;
	const char *source = NULL;
	inv_item_t *v = NULL;
	uint8_t **ders = NULL;
	const inv_trust_t *trust = NULL;
	cairn_err_t err = { 0 };
	json_error_t jerr;
	char actor[96];
	size_t i, n = 0;
	(void)arg;

	if ((body = api_body(ctx, req, reply)) == NULL)
		return;
	if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s:o}", "source", &source, "items",
			   &items) != 0 || !json_is_array(items)) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "expected {\"source\": TEXT, \"items\": [{\"der\", \"kind\", "
				   "\"where\", ...}]}: %s", jerr.text);
		goto out;
	}
	n = json_array_size(items);
	if (n == 0 || n > INV_BATCH_MAX || strlen(source) > IMPORT_SOURCE_MAX) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "items must hold 1..%d certificates, source at most %d bytes",
				   INV_BATCH_MAX, IMPORT_SOURCE_MAX);
		goto out;
	}
	v = calloc(n, sizeof(*v));
	ders = calloc(n, sizeof(*ders));
	if (v == NULL || ders == NULL) {
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "out of memory");
		goto out;
	}
	json_array_foreach(items, i, it) {
		const char *der = NULL, *kind = NULL, *where = NULL, *sni = NULL, *owner = NULL;
		json_t *tags = NULL, *tls = NULL;
		size_t len = 0;

		if (json_unpack_ex(it, &jerr, JSON_STRICT, "{s:s, s:s, s:s, s?s, s?s, s?o, s?o}", "der",
				   &der, "kind", &kind, "where", &where, "sni", &sni, "owner", &owner,
				   "tags", &tags, "tls", &tls) != 0 ||
		    (strcmp(kind, "file") != 0 && strcmp(kind, "csv") != 0 && strcmp(kind, "tls") != 0) ||
		    (tags != NULL && (!json_is_array(tags) || json_array_size(tags) > INV_TAGS_MAX)) ||
		    (tls != NULL && (!json_is_object(tls) ||
				     json_dumpb(tls, NULL, 0, JSON_COMPACT) > IMPORT_TLS_MAX)) ||
		    strlen(where) > IMPORT_SOURCE_MAX ||
		    (sni != NULL && strlen(sni) > 255) ||
		    (owner != NULL && strlen(owner) > INV_OWNER_MAX)) {
			http_reply_problem(reply, 400, PROBLEM("malformed"),
					   "items[%zu]: needs der, kind (file|csv|tls), where; "
					   "sni, owner (at most %d bytes), tags (at most %d), tls (an "
					   "object of at most %d bytes) optional%s%s", i, INV_OWNER_MAX,
					   INV_TAGS_MAX, IMPORT_TLS_MAX,
					   jerr.text[0] ? ": " : "", jerr.text);
			goto out;
		}
		/* Not base64url: the item is refused by inventory_import, like any non-certificate. */
		if (b64url_decode(der, strlen(der), &ders[i], &len) != 0)
			ders[i] = NULL, len = 0;
		v[i] = (inv_item_t){ ders[i], len, kind, where, sni, owner, tags, tls };
		jerr.text[0] = '\0';
	}
	trust = trust_for(ctx->ca);
	api_actor(who, actor, sizeof(actor));
	if (trust == NULL ||
	    inventory_import(ctx->db, trust, v, n, source, actor, &results, &err) != 0) {
		if (trust == NULL)
			cairn_err_set(&err, CAIRN_ENOMEM, "out of memory");
		api_reply_error(reply, &err);
		goto out;
	}
	http_reply_json(reply, 200, NULL, results);
	log_info("admin", "%s: inventory import from %s: %lld added, %lld known, %lld refused",
		 actor, source, (long long)json_integer_value(json_object_get(results, "added")),
		 (long long)json_integer_value(json_object_get(results, "known")),
		 (long long)json_integer_value(json_object_get(results, "refused")));
out:
	for (i = 0; ders != NULL && i < n; i++)
		free(ders[i]);
	free(ders);
	free(v);
	json_decref(results);
	json_decref(body);
}

/* POST /inventory/{fp|serial}/owner {"owner": TEXT} ("" clears): audited. */
void api_inventory_owner(const admin_ctx_t *ctx, const admin_request_t *req,
			 const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	json_t *body = NULL, *out = NULL;
	const char *owner = NULL;
	cairn_err_t err = { 0 };
	json_error_t jerr;
	char actor[96], key[2 * INV_FP_LEN + 1];
	size_t i;

	if ((body = api_body(ctx, req, reply)) == NULL)
		return;
	if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s}", "owner", &owner) != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"), "expected {\"owner\": TEXT}: %s",
				   jerr.text);
		goto out;
	}
	for (i = 0; arg[i] != '\0' && i + 1 < sizeof(key); i++)
		key[i] = (char)(arg[i] >= 'A' && arg[i] <= 'F' ? arg[i] - 'A' + 'a' : arg[i]);
	key[i] = '\0';
	if (arg[i] != '\0' || hex_decode(key, (uint8_t[INV_FP_LEN]){ 0 }, INV_FP_LEN) <= 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "give a fingerprint (64 hex digits) or a serial (hex)");
		goto out;
	}
	api_actor(who, actor, sizeof(actor));
	if (inventory_owner_set(ctx->db, key, owner, actor, &out, &err) != 0) {
		api_reply_error(reply, &err);
		goto out;
	}
	http_reply_json(reply, 200, NULL, out);
out:
	json_decref(out);
	json_decref(body);
}

/* Rows of one report as {"items": [...], "total": N, "columns": [...]}. */
static void report_reply(const admin_ctx_t *ctx, const inv_report_opts_t *o, http_reply_t *reply)
{
	const char *const *cols = inv_report_columns(o->kind);
	json_t *rows = NULL, *doc = NULL, *colv = json_array();
	cairn_err_t err = { 0 };
	db_txn_t *txn = NULL;

	if (colv == NULL || db_read_begin(ctx->db, &txn) != 0) {
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "database unavailable");
		goto out;
	}
	if (inventory_report(txn, o, &rows, &err) != 0) {
		api_reply_error(reply, &err);
		goto out;
	}
	for (; *cols != NULL; cols++)
		json_array_append_new(colv, json_string(*cols));
	doc = json_pack("{s:O, s:I, s:O}", "items", rows, "total",
			(json_int_t)json_array_size(rows), "columns", colv);
	if (doc == NULL)
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "out of memory");
	else
		http_reply_json(reply, 200, NULL, doc);
out:
	db_txn_end(txn);
	json_decref(doc);
	json_decref(rows);
	json_decref(colv);
}

/* GET /inventory[?limit=N]: every inventory entry, or the first N (1..API_PAGE_MAX). */
void api_inventory_list(const admin_ctx_t *ctx, const admin_request_t *req,
			const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	inv_report_opts_t o = { .kind = INV_REPORT_LIST, .now = time(NULL) };
	long limit = api_query_long(req, "limit", 0, 1, API_PAGE_MAX, reply);
	(void)who;
	(void)arg;

	if (limit < 0)
		return;
	o.limit = (size_t)limit;
	report_reply(ctx, &o, reply);
}

/* GET /inventory/{fp}: the stored record. */
void api_inventory_show(const admin_ctx_t *ctx, const admin_request_t *req,
			const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	db_txn_t *txn = NULL;
	json_t *rec;
	(void)req;
	(void)who;

	if (db_read_begin(ctx->db, &txn) != 0) {
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "database unavailable");
		return;
	}
	rec = inventory_get(txn, arg);
	db_txn_end(txn);
	if (rec == NULL) {
		http_reply_problem(reply, 404, PROBLEM("notFound"),
				   "no inventory certificate with fingerprint %s", arg);
		return;
	}
	http_reply_json(reply, 200, NULL, rec);
	json_decref(rec);
}

/* GET /reports/{expiring|weak|revoked-in-use|unknown-issuer}[?within=30d&by=owner&limit=N]. */
void api_inventory_report(const admin_ctx_t *ctx, const admin_request_t *req,
			  const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	inv_report_opts_t o = { .now = time(NULL), .within = 30 * 86400 };
	const char *within = api_query(req, "within");
	long limit = api_query_long(req, "limit", 0, 1, API_PAGE_MAX, reply);
	int kind = inv_report_parse(arg);
	(void)who;

	if (limit < 0)
		return;
	if (kind < 0 || kind == INV_REPORT_LIST) {
		http_reply_problem(reply, 404, PROBLEM("notFound"),
				   "no report %s (expiring, weak, revoked-in-use, unknown-issuer)", arg);
		return;
	}
	if (within != NULL && (duration_parse(within, &o.within) != 0 || o.within <= 0)) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "within must be a duration (30d, 12w, 36h)");
		return;
	}
	o.kind = (inv_report_t)kind;
	o.by = api_query(req, "by");
	o.limit = (size_t)limit;
	report_reply(ctx, &o, reply);
}
