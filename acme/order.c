/* SPDX-License-Identifier: MIT */
/* ACME orders, authorizations and challenges (RFC 8555 §7.1.3-7.1.6, §7.4-7.5; RFC 8738 IP identifiers). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme/acme_int.h"

/* ---- identifiers ---- */

int acme_dns_name_check(char *name, int *wildcard, char *why, size_t cap)
{
	const char *p = name, *problem;
	size_t i;

	for (i = 0; name[i]; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c >= 0x80) {
			snprintf(why, cap, "%.280s is not ASCII: give an internationalized name as "
				 "A-labels (xn--...)", name);
			return CAIRN_EINVAL;
		}
		name[i] = (char)tolower(c);
	}
	*wildcard = strncmp(name, "*.", 2) == 0;
	if (*wildcard)
		p += 2;
	/* the syntax every certificate name has (ca/names.c), then a fully qualified name:
	 * an identifier of one label would be a name only the client's resolver knows */
	problem = ca_dns_problem(name, strlen(name), 1);
	if (problem == NULL && strchr(p, '.') == NULL)
		problem = "is not a fully qualified domain name";
	if (problem != NULL) {
		snprintf(why, cap, "%.280s %s", name, problem);
		return CAIRN_EINVAL;
	}
	return 0;
}

/* IP identifier: canonical text form written back into out. */
/* The canonical text of an IP identifier, normalised like the CSR's names
 * (ca_ip_from_text: IPv4-mapped IPv6 becomes IPv4), so both compare equal. */
static int check_ip(const char *value, char *out, size_t cap)
{
	ca_name_t nm = { 0 };
	int rc = ca_ip_from_text(value, &nm);

	if (rc == 0 && (size_t)snprintf(out, cap, "%s", nm.text) >= cap)
		rc = CAIRN_EINVAL;
	free(nm.text);
	return rc ? CAIRN_EINVAL : 0;
}

/* ---- views ---- */

const char *acme_order_status(acme_t *a, json_t *order)
{
	const char *st = json_string_value(json_object_get(order, "status"));
	json_t *ids = json_object_get(order, "authzs"), *v;
	size_t i;
	int pending = 0;

	if (st == NULL)
		return "invalid";
	if ((strcmp(st, "pending") == 0 || strcmp(st, "ready") == 0) &&
	    json_integer_value(json_object_get(order, "expires")) < (json_int_t)time(NULL))
		return "invalid";
	if (strcmp(st, "pending") != 0)
		return st;
	json_array_foreach(ids, i, v) {
		char key[64];
		json_t *z = NULL;
		const char *zs;

		snprintf(key, sizeof(key), "z/%s", json_string_value(v));
		if (acme_get(a, key, &z) != 0)
			return "invalid";
		zs = acme_authz_status(z);
		if (strcmp(zs, "valid") != 0) {
			if (strcmp(zs, "pending") == 0) {
				pending = 1;
			} else {
				json_decref(z);
				return "invalid";
			}
		}
		json_decref(z);
	}
	return pending ? "pending" : "ready";
}

/* The order as served, with status st (acme_order_status, or known by the caller). */
static json_t *order_view_as(acme_t *a, const json_t *order, const char *st)
{
	const char *id = json_string_value(json_object_get(order, "id"));
	json_t *v = json_object(), *urls = json_array(), *x;
	char u[512], when[32];
	size_t i;

	json_object_set_new(v, "status", json_string(st));
	time_rfc3339((time_t)json_integer_value(json_object_get(order, "expires")), when,
		     sizeof(when));
	json_object_set_new(v, "expires", json_string(when));
	json_object_set(v, "identifiers", json_object_get(order, "identifiers"));
	json_object_set_new(v, "profile", json_string(a->profile));
	json_array_foreach(json_object_get(order, "authzs"), i, x) {
		snprintf(u, sizeof(u), "%sauthz/%s", a->base, json_string_value(x));
		json_array_append_new(urls, json_string(u));
	}
	json_object_set_new(v, "authorizations", urls);
	snprintf(u, sizeof(u), "%sorder/%s/finalize", a->base, id);
	json_object_set_new(v, "finalize", json_string(u));
	if ((x = json_object_get(order, "cert")) != NULL) {
		snprintf(u, sizeof(u), "%scert/%s", a->base, json_string_value(x));
		json_object_set_new(v, "certificate", json_string(u));
	}
	if ((x = json_object_get(order, "error")) != NULL)
		json_object_set(v, "error", x);
	return v;
}

json_t *acme_order_view(acme_t *a, json_t *order)
{
	return order_view_as(a, order, acme_order_status(a, order));
}

static json_t *chall_view(acme_t *a, const json_t *z, size_t idx)
{
	json_t *c = json_array_get(json_object_get(z, "challs"), idx), *v, *x;
	char u[512];

	snprintf(u, sizeof(u), "%schall/%s/%zu", a->base,
		 json_string_value(json_object_get(z, "id")), idx);
	v = json_pack("{s:O, s:s, s:O, s:O}", "type", json_object_get(c, "type"), "url", u,
		      "token", json_object_get(c, "token"), "status", json_object_get(c, "status"));
	/* A validation under way is "processing" in memory only (validate.c). */
	if (v != NULL && strcmp(json_string_value(json_object_get(c, "status")), "pending") == 0 &&
	    acme_pool_busy(a->pool, json_string_value(json_object_get(z, "id")), (int)idx))
		json_object_set_new(v, "status", json_string("processing"));
	if ((x = json_object_get(c, "validated")) != NULL) {
		char when[32];
		time_rfc3339((time_t)json_integer_value(x), when, sizeof(when));
		json_object_set_new(v, "validated", json_string(when));
	}
	if ((x = json_object_get(c, "error")) != NULL)
		json_object_set(v, "error", x);
	return v;
}

static json_t *authz_view(acme_t *a, const json_t *z)
{
	json_t *v = json_object(), *list = json_array();
	char when[32];
	size_t i, n = json_array_size(json_object_get(z, "challs"));
	const char *st = acme_authz_status(z);

	json_object_set_new(v, "status", json_string(st));
	time_rfc3339((time_t)json_integer_value(json_object_get(z, "expires")), when, sizeof(when));
	json_object_set_new(v, "expires", json_string(when));
	json_object_set(v, "identifier", json_object_get(z, "identifier"));
	for (i = 0; i < n; i++) {
		json_t *c = json_array_get(json_object_get(z, "challs"), i);
		/* A valid authorization lists only the challenge that validated it. */
		if (strcmp(st, "valid") == 0 &&
		    strcmp(json_string_value(json_object_get(c, "status")), "valid") != 0)
			continue;
		json_array_append_new(list, chall_view(a, z, i));
	}
	json_object_set_new(v, "challenges", list);
	if (json_is_true(json_object_get(z, "wildcard")))
		json_object_set_new(v, "wildcard", json_true());
	return v;
}

/* ---- newOrder ---- */

/* Expired entries of p/ one newOrder deletes (they are kept by nothing else; an account
 * with a long backlog of abandoned authorizations is cleared in a few orders). */
#define PENDING_SWEEP 1024

typedef struct pending_count {
	char prefix[ACME_ID_LEN + 4];
	size_t plen;
	long n, limit;
	int64_t now;
	size_t n_expired;   /* keys of expired entries met, kept when expired != NULL */
	char (*expired)[2 * ACME_ID_LEN + 4];
} pending_count_t;

static int count_pending(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	pending_count_t *c = arg;
	char buf[24];

	if (klen < c->plen || memcmp(key, c->prefix, c->plen) != 0)
		return 1;
	if (vlen >= sizeof(buf))
		vlen = sizeof(buf) - 1;
	memcpy(buf, val, vlen);
	buf[vlen] = '\0';
	if (strtoll(buf, NULL, 10) > c->now)
		c->n++;
	else if (c->expired != NULL && c->n_expired < PENDING_SWEEP &&
		 klen < sizeof(c->expired[0])) {
		memcpy(c->expired[c->n_expired], key, klen);
		c->expired[c->n_expired++][klen] = '\0';
	}
	return c->n >= c->limit + 100 ? 1 : 0;
}

/* The account's unexpired pending authorizations in txn, counted up to a bound (the
 * entries of expired ones are passed over: keys of up to PENDING_SWEEP of them go to
 * c->expired when set). 0 or a db code. */
static int pending_walk(db_txn_t *txn, const char *acct, int64_t now, long limit,
			pending_count_t *c)
{
	int rc;

	snprintf(c->prefix, sizeof(c->prefix), "p/%s/", acct);
	c->plen = strlen(c->prefix);
	c->n = 0;
	c->limit = limit;
	c->now = now;
	c->n_expired = 0;
	rc = db_iterate(txn, DB_ACME, c->prefix, c->plen, count_pending, c);
	return rc < 0 ? rc : 0;
}

/* The same from a read txn: the early refusal, before the order is queued for writing. */
static long pending_authzs(acme_t *a, const char *acct, int64_t now)
{
	pending_count_t c = { .expired = NULL };
	db_txn_t *txn;

	if (db_read_begin(a->db, &txn) != 0)
		return 0;
	if (pending_walk(txn, acct, now, a->pending_authz_max, &c) != 0)
		c.n = 0;
	db_txn_end(txn);
	return c.n;
}

/* 1 when the account has made orders_per_hour orders in the hour before now (retry: the
 * seconds until the oldest of them leaves it), 0 when it may make one more, or a db code.
 * Counted from the account's order list (l/ACCT/CREATED..., CREATED as 16 hex digits):
 * the count survives a restart and counts only orders that were stored. */
static int orders_over(acme_t *a, db_txn_t *txn, const char *acct, int64_t now, int *retry)
{
	char prefix[ACME_ID_LEN + 4];
	int64_t first;
	long n;

	if (a->orders_per_hour <= 0)
		return 0;
	snprintf(prefix, sizeof(prefix), "l/%s/", acct);
	if ((n = acme_hour_count(txn, prefix, now, a->orders_per_hour, &first)) < 0)
		return (int)n;
	if (n < a->orders_per_hour)
		return 0;
	*retry = (int)(first + 3600 - now);
	if (*retry < 1)
		*retry = 1;
	return 1;
}

/* The same from a read txn: the early refusal, before anything is built. */
static int orders_over_now(acme_t *a, const char *acct, int64_t now, int *retry)
{
	db_txn_t *txn;
	int over;

	if (a->orders_per_hour <= 0 || db_read_begin(a->db, &txn) != 0)
		return 0;
	over = orders_over(a, txn, acct, now, retry) == 1;
	db_txn_end(txn);
	return over;
}

static void orders_refused(acme_t *a, int retry, http_reply_t *r)
{
	acme_problem(r, 429, "rateLimited", "at most %ld new orders per hour per account",
		     a->orders_per_hour);
	r->retry_after = retry;
}

typedef struct order_op {
	acme_t *a;
	json_t *order;
	json_t *authzs;   /* new authorizations to store */
	const char *acct;
	size_t n_idents;  /* the order's identifiers (the pending limit counts them all) */
	int64_t now;
	int over;         /* out: the pending limit refused it in the write txn */
	int over_orders;  /* out: the orders-per-hour limit did (retry: Retry-After) */
	int retry;
} order_op_t;

/*
 * The pending-authorization limit, checked again in the write txn (the early check in a
 * read txn lets concurrent newOrders of one account all pass), and the entries of
 * expired authorizations deleted as they are met (nothing else deletes them; unchecked,
 * every newOrder of an account with many abandoned orders walked them all).
 */
static int pending_limit_run(db_txn_t *txn, order_op_t *op)
{
	pending_count_t c = { .expired = NULL };
	size_t i;
	int rc;

	if (op->a->pending_authz_max <= 0)
		return 0;
	if ((c.expired = malloc(PENDING_SWEEP * sizeof(*c.expired))) == NULL)
		return CAIRN_ENOMEM;
	rc = pending_walk(txn, op->acct, op->now, op->a->pending_authz_max, &c);
	if (rc == 0 && c.n + (long)op->n_idents > op->a->pending_authz_max)
		op->over = 1;
	for (i = 0; rc == 0 && !op->over && i < c.n_expired; i++)
		if ((rc = db_del(txn, DB_ACME, c.expired[i], strlen(c.expired[i]))) == CAIRN_ENOENT)
			rc = 0;
	free(c.expired);
	return rc;
}

static int order_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	order_op_t *op = arg;
	char key[128];
	json_t *z;
	size_t i;
	int rc;

	op->over = op->over_orders = 0;
	/* An account revoked or deactivated since the request's JWS check orders nothing. */
	if ((rc = acme_account_usable(op->a, txn, op->acct, err)) != 0)
		return rc;
	/* Both limits again in the write txn: concurrent newOrders of one account all pass
	 * the early checks. Over either: nothing written. */
	if ((rc = orders_over(op->a, txn, op->acct, op->now, &op->retry)) != 0) {
		op->over_orders = rc == 1;
		return rc == 1 ? 0 : rc;
	}
	if ((rc = pending_limit_run(txn, op)) != 0 || op->over)
		return rc;
	json_array_foreach(op->authzs, i, z) {
		char exp[24];
		snprintf(key, sizeof(key), "z/%s", json_string_value(json_object_get(z, "id")));
		if ((rc = acme_txn_put(op->a, txn, key, z)) != 0)
			return rc;
		/* p/ACCT/AUTHZ -> expiry: the account's pending authorizations (rate limit) */
		snprintf(key, sizeof(key), "p/%s/%s", op->acct,
			 json_string_value(json_object_get(z, "id")));
		snprintf(exp, sizeof(exp), "%lld",
			 (long long)json_integer_value(json_object_get(z, "expires")));
		if ((rc = acme_txn_put_str(txn, key, exp)) != 0)
			return rc;
	}
	snprintf(key, sizeof(key), "o/%s", json_string_value(json_object_get(op->order, "id")));
	if ((rc = acme_txn_put(op->a, txn, key, op->order)) != 0)
		return rc;
	snprintf(key, sizeof(key), "l/%s/%016llx%s", op->acct,
		 (unsigned long long)json_integer_value(json_object_get(op->order, "created")),
		 json_string_value(json_object_get(op->order, "id")));
	return acme_txn_put_str(txn, key, "");
}

static json_t *new_authz(acme_t *a, const char *acct, const char *type, const char *value,
			 int wildcard, int64_t now)
{
	static const char *const dns_types[] = { "http-01", "dns-01", "tls-alpn-01", NULL };
	static const char *const wc_types[] = { "dns-01", NULL };
	static const char *const ip_types[] = { "http-01", NULL };
	const char *const *types = strcmp(type, "ip") == 0 ? ip_types : wildcard ? wc_types
										 : dns_types;
	char id[ACME_ID_LEN + 1];
	json_t *z, *challs = json_array();

	if (acme_new_id(id) != 0)
		return NULL;
	for (; *types; types++) {
		uint8_t raw[32];
		char *tok;
		if (util_random(raw, sizeof(raw)) != 0 || (tok = b64url_encode(raw, 32)) == NULL) {
			json_decref(challs);
			return NULL;
		}
		json_array_append_new(challs, json_pack("{s:s, s:s, s:s}", "type", *types, "status",
							"pending", "token", tok));
		free(tok);
	}
	z = json_pack("{s:s, s:s, s:s, s:I, s:{s:s, s:s}, s:b, s:o}", "id", id, "acct", acct,
		      "status", "pending", "expires", (json_int_t)(now + a->order_lifetime),
		      "identifier", "type", type, "value", value, "wildcard", wildcard, "challs",
		      challs);
	return z;
}

/* 1 when idents (normalised {type, value} objects) already holds type:value. Names
 * are compared after normalising (lower-cased DNS, canonical IP text), so "A.example"
 * and "a.example" are one identifier with one authorization, as the CSR has them. */
static int ident_listed(const json_t *idents, const char *type, const char *value)
{
	const json_t *x;
	size_t i;

	json_array_foreach(idents, i, x) {
		if (strcmp(json_string_value(json_object_get(x, "type")), type) == 0 &&
		    strcmp(json_string_value(json_object_get(x, "value")), value) == 0)
			return 1;
	}
	return 0;
}

/* A still-valid authorization of this account for the identifier, to reuse: one whose
 * validation is at most acme.authz_reuse_seconds old (now is the order's time). */
static json_t *reusable_authz(acme_t *a, const char *acct, const char *type, const char *value,
			      int wildcard, int64_t now)
{
	char key[400], id[ACME_ID_LEN + 1];
	const json_t *c;
	json_t *z = NULL;

	if (a->authz_reuse <= 0)
		return NULL;
	snprintf(key, sizeof(key), "v/%s/%s:%s%s", acct, type, value, wildcard ? "*" : "");
	if (acme_get_str(a, key, id, sizeof(id)) != 0)
		return NULL;
	snprintf(key, sizeof(key), "z/%s", id);
	if (acme_get(a, key, &z) != 0)
		return NULL;
	c = acme_authz_valid_chall(z);
	if (strcmp(acme_authz_status(z), "valid") != 0 || c == NULL ||
	    now - json_integer_value(json_object_get(c, "validated")) > a->authz_reuse) {
		json_decref(z);
		return NULL;
	}
	return z;
}

static void pending_refused(acme_t *a, http_reply_t *r)
{
	acme_problem(r, 429, "rateLimited",
		     "at most %ld pending authorizations per account: finish or deactivate some",
		     a->pending_authz_max);
	r->retry_after = 3600;
}

int acme_has_valid_authz(acme_t *a, const char *acct, const char *type, const char *value)
{
	int wildcard = strncmp(value, "*.", 2) == 0;
	char key[400], id[ACME_ID_LEN + 1];
	json_t *z = NULL;
	int ok;

	snprintf(key, sizeof(key), "v/%s/%s:%s%s", acct, type, wildcard ? value + 2 : value,
		 wildcard ? "*" : "");
	if (acme_get_str(a, key, id, sizeof(id)) != 0)
		return 0;
	snprintf(key, sizeof(key), "z/%s", id);
	if (acme_get(a, key, &z) != 0)
		return 0;
	ok = strcmp(acme_authz_status(z), "valid") == 0;
	json_decref(z);
	return ok;
}

void acme_new_order(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		    http_reply_t *r)
{
	acme_jws_t j;
	json_t *ids, *x, *order = NULL, *authz_ids = json_array(), *new_authzs = json_array();
	json_t *idents = json_array(), *subs = json_array(), *view;
	char oid[ACME_ID_LEN + 1], why[400], u[512];
	int64_t now = time(NULL);
	order_op_t op = { 0 };
	cairn_err_t err = { 0 };
	size_t i;
	int retry = 0, unsupported = 0, pending = 0;
	(void)arg;

	if (acme_jws_verify(a, req->body, req->body_len, url, 0, &j, r) != 0)
		goto out_nojws;
	ids = json_object_get(j.payload, "identifiers");
	if (!json_is_array(ids) || json_array_size(ids) == 0 ||
	    json_array_size(ids) > ACME_MAX_IDENTIFIERS) {
		acme_problem(r, 400, "malformed", "identifiers must be an array of 1..%d objects",
			     ACME_MAX_IDENTIFIERS);
		goto out;
	}
	if (json_object_get(j.payload, "notBefore") || json_object_get(j.payload, "notAfter")) {
		acme_problem(r, 400, "malformed", "notBefore/notAfter are not supported");
		goto out;
	}
	/* ACME profiles (draft-ietf-acme-profiles): the directory offers one, acme.profile; a
	 * client that names another must hear so, not get that one in silence. */
	x = json_object_get(j.payload, "profile");
	if (x != NULL && (!json_is_string(x) || strcmp(json_string_value(x), a->profile) != 0)) {
		acme_problem(r, 400, "invalidProfile", "profile %s is not offered (offered: %s)",
			     json_is_string(x) ? json_string_value(x) : "(not a string)",
			     a->profile);
		goto out;
	}
	json_array_foreach(ids, i, x) {
		const char *type = json_string_value(json_object_get(x, "type"));
		const char *value = json_string_value(json_object_get(x, "value"));
		char norm[300];
		int wildcard = 0, rc = 0;

		if (type == NULL || value == NULL || strlen(value) >= sizeof(norm) - 1) {
			acme_problem(r, 400, "malformed",
				     "identifiers[%zu] needs string type and value", i);
			goto out;
		}
		if (strcmp(type, "dns") == 0) {
			snprintf(norm, sizeof(norm), "%s", value);
			rc = acme_dns_name_check(norm, &wildcard, why, sizeof(why));
		} else if (strcmp(type, "ip") == 0) {
			rc = check_ip(value, norm, sizeof(norm));
			if (rc)
				snprintf(why, sizeof(why), "%s is not an IP address", value);
		} else {
			snprintf(why, sizeof(why), "identifier type %s is not supported", type);
			rc = CAIRN_EINVAL;
			unsupported = 1;
		}
		/* Each identifier lands in one of the two lists, or the request fails: one
		 * that fell out of both would leave an order for fewer names than asked. */
		if (rc) {
			json_t *id = json_pack("{s:s, s:s}", "type", type, "value", value);
			rc = json_array_append_new(subs,
						   acme_problem_obj(unsupported ? "unsupportedIdentifier"
										: "rejectedIdentifier",
								    why, id));
			json_decref(id);
		} else if (!ident_listed(idents, type, norm)) {
			rc = json_array_append_new(idents, json_pack("{s:s, s:s}", "type", type,
								     "value", norm));
		}
		if (rc != 0) {
			acme_problem(r, 500, "serverInternal", "out of memory");
			goto out;
		}
	}
	if (json_array_size(subs) > 0) {
		acme_problem_sub(r, 400, unsupported ? "unsupportedIdentifier" : "rejectedIdentifier",
				 json_incref(subs), "%zu identifier(s) refused",
				 json_array_size(subs));
		goto out;
	}
	if (orders_over_now(a, j.acct_id, now, &retry)) {
		orders_refused(a, retry, r);
		goto out;
	}
	if (a->pending_authz_max > 0 &&
	    pending_authzs(a, j.acct_id, now) + (long)json_array_size(idents) >
		    a->pending_authz_max) {
		pending_refused(a, r);
		goto out;
	}
	json_array_foreach(idents, i, x) {
		const char *type = json_string_value(json_object_get(x, "type"));
		const char *value = json_string_value(json_object_get(x, "value"));
		int wildcard = strncmp(value, "*.", 2) == 0;
		json_t *z = reusable_authz(a, j.acct_id, type, wildcard ? value + 2 : value, wildcard,
					   now);

		if (z == NULL) {
			z = new_authz(a, j.acct_id, type, wildcard ? value + 2 : value, wildcard, now);
			if (z == NULL) {
				acme_problem(r, 500, "serverInternal", "out of memory");
				goto out;
			}
			json_array_append(new_authzs, z);
		}
		/* The status acme_order_status would find, from the authorizations in hand. */
		if (strcmp(acme_authz_status(z), "valid") != 0)
			pending = 1;
		json_array_append(authz_ids, json_object_get(z, "id"));
		json_decref(z);
	}
	if (acme_new_id(oid) != 0) {
		acme_problem(r, 500, "serverInternal", "no randomness");
		goto out;
	}
	order = json_pack("{s:s, s:s, s:s, s:I, s:I, s:O, s:O}", "id", oid, "acct", j.acct_id,
			  "status", "pending", "expires", (json_int_t)(now + a->order_lifetime),
			  "created", (json_int_t)now, "identifiers", idents, "authzs", authz_ids);
	op.a = a;
	op.order = order;
	op.authzs = new_authzs;
	op.acct = j.acct_id;
	op.n_idents = json_array_size(idents);
	op.now = now;
	if (order == NULL || db_write(a->db, order_run, &op, &err) != 0) {
		if (err.code == CAIRN_EAUTH)
			acme_problem_err(r, err.code, "%s", cairn_err_msg(&err));
		else
			acme_problem_write(r, &err, "storing the order");
		goto out;
	}
	if (op.over_orders) {
		orders_refused(a, op.retry, r);
		goto out;
	}
	if (op.over) {
		pending_refused(a, r);
		goto out;
	}
	view = order_view_as(a, order, pending ? "pending" : "ready");
	http_reply_json(r, 201, NULL, view);
	json_decref(view);
	snprintf(u, sizeof(u), "%sorder/%s", a->base, oid);
	r->location = strdup(u);
out:
	acme_jws_clear(&j);
out_nojws:
	json_decref(order);
	json_decref(authz_ids);
	json_decref(new_authzs);
	json_decref(idents);
	json_decref(subs);
}

/* Loads key and checks the object belongs to the JWS account; fills the problem otherwise. */
static json_t *load_owned(acme_t *a, const char *prefix, const char *id, const acme_jws_t *j,
			  http_reply_t *r)
{
	char key[128];
	json_t *o = NULL;

	if (strlen(id) != ACME_ID_LEN) {
		acme_problem(r, 404, "malformed", "no such resource");
		return NULL;
	}
	snprintf(key, sizeof(key), "%s/%s", prefix, id);
	if (acme_get(a, key, &o) != 0) {
		acme_problem(r, 404, "malformed", "no such resource");
		return NULL;
	}
	if (strcmp(json_string_value(json_object_get(o, "acct")), j->acct_id) != 0) {
		acme_problem(r, 403, "unauthorized", "this resource belongs to another account");
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *acme_load_owned(acme_t *a, const char *prefix, const char *id, const acme_jws_t *j,
			http_reply_t *r)
{
	return load_owned(a, prefix, id, j, r);
}

void acme_order(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		http_reply_t *r)
{
	acme_jws_t j;
	json_t *o = NULL, *view;

	if (acme_jws_verify_get(a, req->body, req->body_len, url, "an order", &j, r) != 0)
		return;
	if ((o = load_owned(a, "o", arg, &j, r)) == NULL)
		goto out;
	acme_order_refresh(a, &o);
	view = acme_order_view(a, o);
	http_reply_json(r, 200, NULL, view);
	if (strcmp(json_string_value(json_object_get(view, "status")), "processing") == 0)
		r->retry_after = 1;
	json_decref(view);
out:
	json_decref(o);
	acme_jws_clear(&j);
}

static int authz_deactivate_run(db_txn_t *txn, json_t *z, void *arg, cairn_err_t *err)
{
	char key[128];
	(void)arg;

	if (!acme_authz_may_move(z, "deactivated"))
		return cairn_err_set(err, CAIRN_EINVAL, "authorization is %s",
				     acme_authz_status(z));
	json_object_set_new(z, "status", json_string("deactivated"));
	snprintf(key, sizeof(key), "p/%s/%s", json_string_value(json_object_get(z, "acct")),
		 json_string_value(json_object_get(z, "id")));
	if (db_del(txn, DB_ACME, key, strlen(key)) == CAIRN_EDB)
		return CAIRN_EDB;
	return 0;
}

int acme_authz_deactivate(acme_t *a, const char *authz_id, json_t **result, cairn_err_t *err)
{
	char key[64];

	snprintf(key, sizeof(key), "z/%s", authz_id);
	return acme_update(a, key, authz_deactivate_run, NULL, result, err);
}

void acme_authz(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		http_reply_t *r)
{
	acme_jws_t j;
	json_t *z = NULL, *res = NULL, *view, *st;
	cairn_err_t err = { 0 };

	if (acme_jws_verify(a, req->body, req->body_len, url, 0, &j, r) != 0)
		return;
	if ((z = load_owned(a, "z", arg, &j, r)) == NULL)
		goto out;
	if (!j.post_as_get) {
		st = json_object_get(j.payload, "status");
		if (st == NULL || !json_is_string(st) ||
		    strcmp(json_string_value(st), "deactivated") != 0) {
			acme_problem(r, 400, "malformed", "status may only be set to \"deactivated\"");
			goto out;
		}
		if (acme_authz_deactivate(a, arg, &res, &err) != 0) {
			acme_problem(r, 400, "malformed", "%s", cairn_err_msg(&err));
			goto out;
		}
		json_decref(z);
		z = res;
	}
	view = authz_view(a, z);
	http_reply_json(r, 200, NULL, view);
	if (strcmp(acme_authz_status(z), "pending") == 0)
		r->retry_after = 1;
	json_decref(view);
out:
	json_decref(z);
	acme_jws_clear(&j);
}

/* The answer to a challenge as it stands in z: the challenge, Retry-After while it is
 * processing, and a link up to its authorization. */
static void chall_reply(acme_t *a, json_t *z, const char *zid, size_t idx, http_reply_t *r)
{
	json_t *view = chall_view(a, z, idx);
	char up[512], link[600];

	http_reply_json(r, 200, NULL, view);
	if (strcmp(json_string_value(json_object_get(view, "status")), "processing") == 0)
		r->retry_after = 1;
	json_decref(view);
	snprintf(up, sizeof(up), "%sauthz/%s", a->base, zid);
	snprintf(link, sizeof(link), "<%s>;rel=\"up\"", up);
	http_reply_header(r, "Link", "%s", link);
}

typedef struct chall_later {
	acme_t *a;
	char zid[ACME_ID_LEN + 1];
	size_t idx;
} chall_later_t;

/* Finishes a parked challenge answer (http_later_t): the challenge as stored now, its
 * result once the validation ended, still processing when the wait ran out. */
static void chall_answer(void *arg, http_reply_t *r)
{
	chall_later_t *cl = arg;
	json_t *z = NULL;
	char key[64];

	snprintf(key, sizeof(key), "z/%s", cl->zid);
	if (acme_get(cl->a, key, &z) != 0) {
		acme_problem(r, 500, "serverInternal", "the authorization could not be read");
		return;
	}
	chall_reply(cl->a, z, cl->zid, cl->idx, r);
	json_decref(z);
}

/* Parks the answer to the challenge just queued until its validation ends, at most
 * answer_wait_ms: r->later is set. -1 (nothing set) when out of memory. */
static int park_answer(acme_t *a, const char *zid, size_t idx, http_reply_t *r)
{
	chall_later_t *cl = calloc(1, sizeof(*cl));
	http_later_t *later = cl ? http_later_new(chall_answer, cl, free) : NULL;

	if (later == NULL) {
		free(cl);
		return -1;
	}
	cl->a = a;
	snprintf(cl->zid, sizeof(cl->zid), "%s", zid);
	cl->idx = idx;
	if (acme_pool_watch(a->pool, zid, (int)idx, a->v.answer_wait_ms, later) != 0)
		http_later_fire(later); /* already done (or closing): answered at once */
	r->later = later;
	return 0;
}

void acme_challenge(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		    http_reply_t *r)
{
	acme_jws_t j;
	json_t *z = NULL, *c;
	char zid[ACME_ID_LEN + 1];
	const char *slash = strchr(arg, '/');
	char *end;
	long idx;

	if (acme_jws_verify(a, req->body, req->body_len, url, 0, &j, r) != 0)
		return;
	if (slash == NULL || (size_t)(slash - arg) != ACME_ID_LEN) {
		acme_problem(r, 404, "malformed", "no such challenge");
		goto out;
	}
	memcpy(zid, arg, ACME_ID_LEN);
	zid[ACME_ID_LEN] = '\0';
	/* the index as the server writes it: digits, no sign, no leading zero (one URL
	 * per challenge) */
	idx = strtol(slash + 1, &end, 10);
	if ((z = load_owned(a, "z", zid, &j, r)) == NULL)
		goto out;
	if (!isdigit((unsigned char)slash[1]) || (slash[1] == '0' && slash[2] != '\0') ||
	    *end != '\0' || idx < 0 || (size_t)idx >= json_array_size(json_object_get(z, "challs"))) {
		acme_problem(r, 404, "malformed", "no such challenge");
		goto out;
	}
	c = json_array_get(json_object_get(z, "challs"), (size_t)idx);
	/* Any JSON object (normally {}) asks the server to validate. Nothing is written
	 * now: the challenge is processing in memory and its result is its one durable
	 * write (validate.c). Only a challenge of an authorization that can still become
	 * valid starts; a second answer while it runs changes nothing. */
	if (!j.post_as_get && acme_authz_may_move(z, "valid") &&
	    acme_chall_may_move(c, "processing")) {
		int rc = acme_pool_queue(a->pool, zid, (int)idx);

		if (rc == CAIRN_ETOOBIG) {
			acme_problem(r, 503, "serverInternal", "validation queue is full, retry");
			r->retry_after = 5;
			goto out;
		}
		/* The answer that started it waits a little for the result, parked (no HTTPS
		 * worker held): a validation done by then (a near host) is answered valid or
		 * invalid, and the client skips its polling (lego then does not sleep). Only
		 * this first answer waits, once per challenge. */
		if (rc == 0 && a->v.answer_wait_ms > 0 && park_answer(a, zid, (size_t)idx, r) == 0)
			goto out;
	} else if (!j.post_as_get && acme_chall_may_move(c, "processing") &&
		   strcmp(acme_authz_status(z), "valid") != 0) {
		/* A pending challenge of an authorization that is over (deactivated, invalid,
		 * expired, revoked) never starts: say so, rather than answer "pending" for
		 * ever. */
		acme_problem(r, 400, "malformed", "authorization %s is %s: its challenges can no "
			     "longer be answered", zid, acme_authz_status(z));
		goto out;
	}
	chall_reply(a, z, zid, (size_t)idx, r);
out:
	json_decref(z);
	acme_jws_clear(&j);
}

/* ---- order state changes (finalize, approvals) ---- */

/* 0 when every authorization of order is valid as stored in txn (expired: not valid,
 * when expiry counts); else CAIRN_ECONFLICT naming the first that is not (deactivated or
 * expired since finalize looked). */
static int authzs_still_valid(acme_t *a, db_txn_t *txn, const json_t *order, int expiry,
			      cairn_err_t *err)
{
	json_t *v, *z;
	size_t i;
	char key[64];
	const char *zs;
	int rc;

	json_array_foreach(json_object_get(order, "authzs"), i, v) {
		snprintf(key, sizeof(key), "z/%s", json_string_value(v));
		z = NULL;
		if ((rc = acme_txn_get(a, txn, key, &z)) != 0)
			return cairn_err_set(err, rc == CAIRN_ENOENT ? CAIRN_ECONFLICT : rc,
					     "authorization %s: %s", json_string_value(v),
					     cairn_strerror(rc));
		zs = expiry ? acme_authz_status(z) : json_string_value(json_object_get(z, "status"));
		if (zs == NULL || strcmp(zs, "valid") != 0) {
			rc = cairn_err_set(err, CAIRN_ECONFLICT,
					   "authorization %s of the order is %s now",
					   json_string_value(v), zs ? zs : "unusable");
			json_decref(z);
			return rc;
		}
		json_decref(z);
	}
	return 0;
}

int acme_order_change_txn(acme_t *a, db_txn_t *txn, const char *oid, acme_order_change_t *ch,
			  json_t **result, cairn_err_t *err)
{
	char key[128];
	json_t *o = NULL, *owner;
	const char *st;
	int rc;

	ch->wrong_state = 0;
	snprintf(key, sizeof(key), "o/%s", oid);
	if ((rc = acme_txn_get(a, txn, key, &o)) != 0)
		return cairn_err_set(err, rc, "order %s: %s", oid, cairn_strerror(rc));
	st = json_string_value(json_object_get(o, "status"));
	if (ch->expect != NULL && (st == NULL || strcmp(st, ch->expect) != 0)) {
		ch->wrong_state = 1;
		rc = cairn_err_set(err, CAIRN_ECONFLICT, "order %s is %s, not %s", oid,
				   st ? st : "?", ch->expect);
		goto out;
	}
	if (ch->authzs_valid && ((rc = authzs_still_valid(a, txn, o, 1, err)) != 0 ||
				 (ch->acct != NULL &&
				  (rc = acme_account_usable(a, txn, ch->acct, err)) != 0)))
		goto out;
	json_object_set_new(o, "status", json_string(ch->status));
	if (ch->serial != NULL) {
		json_object_set_new(o, "cert", json_string(ch->serial));
		/* s/SERIAL: who may download the certificate, and its order */
		snprintf(key, sizeof(key), "s/%s", ch->serial);
		owner = json_pack("{s:s, s:s}", "acct", ch->acct, "order", oid);
		rc = owner ? acme_txn_put(a, txn, key, owner) : CAIRN_ENOMEM;
		json_decref(owner);
		if (rc)
			goto out;
	}
	if (ch->request != NULL) {
		/* r/REQUEST: the order an approval of the request issues for (the authorizations
		 * are read again then: acme_request_authzs_valid) */
		json_object_set_new(o, "request", json_string(ch->request));
		snprintf(key, sizeof(key), "r/%s", ch->request);
		if ((rc = acme_txn_put_str(txn, key, oid)) != 0)
			goto out;
	}
	if (ch->error != NULL)
		json_object_set(o, "error", (json_t *)ch->error);
	snprintf(key, sizeof(key), "o/%s", oid);
	rc = acme_txn_put(a, txn, key, o);
out:
	if (rc == 0 && result != NULL) {
		json_decref(*result);
		*result = o;
	} else {
		json_decref(o);
	}
	return rc;
}

int acme_request_authzs_valid(db_txn_t *txn, const char *request, cairn_err_t *err)
{
	char key[128], oid[ACME_ID_LEN + 1];
	const void *val;
	size_t len;
	json_t *o = NULL;
	int rc;

	snprintf(key, sizeof(key), "r/%s", request);
	if ((rc = db_get(txn, DB_ACME, key, strlen(key), &val, &len)) != 0)
		return rc == CAIRN_ENOENT ? 0 : cairn_err_set(err, rc, "%s: %s", key,
							      cairn_strerror(rc));
	snprintf(oid, sizeof(oid), "%.*s", (int)(len < ACME_ID_LEN ? len : ACME_ID_LEN),
		 (const char *)val);
	snprintf(key, sizeof(key), "o/%s", oid);
	if ((rc = acme_txn_get(NULL, txn, key, &o)) != 0)
		return rc == CAIRN_ENOENT ? 0 : cairn_err_set(err, rc, "order %s: %s", oid,
							      cairn_strerror(rc));
	rc = authzs_still_valid(NULL, txn, o, 0, err);
	json_decref(o);
	return rc;
}

int acme_request_presign(const char *request, const char *requester, void *arg,
			 cairn_err_t *err)
{
	acme_t *a = arg;
	char key[128], oid[ACME_ID_LEN + 1];
	const char *type = NULL;
	json_t *o = NULL;
	int rc;

	if (strncmp(requester, "acme:", 5) != 0)
		return 0;
	snprintf(key, sizeof(key), "r/%s", request);
	if (acme_get_str(a, key, oid, sizeof(oid)) != 0)
		return 0;
	snprintf(key, sizeof(key), "o/%s", oid);
	if ((rc = acme_get(a, key, &o)) != 0)
		return rc == CAIRN_ENOENT ? 0 : cairn_err_set(err, rc, "order %s: %s", oid,
							      cairn_strerror(rc));
	rc = acme_caa_recheck(a, o, "at approval", &type, err);
	json_decref(o);
	return rc;
}

typedef struct change_op {
	acme_t *a;
	const char *oid;
	acme_order_change_t *ch;
	json_t *result;
} change_op_t;

static int change_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	change_op_t *op = arg;

	return acme_order_change_txn(op->a, txn, op->oid, op->ch, &op->result, err);
}

int acme_order_change(acme_t *a, const char *oid, acme_order_change_t *ch, json_t **result,
		      cairn_err_t *err)
{
	change_op_t op = { a, oid, ch, NULL };
	int rc = db_write(a->db, change_run, &op, err);

	if (rc == 0 && result != NULL)
		*result = op.result;
	else
		json_decref(op.result);
	return rc;
}

void acme_order_refresh(acme_t *a, json_t **order)
{
	const char *st = json_string_value(json_object_get(*order, "status"));
	const char *req = json_string_value(json_object_get(*order, "request"));
	const char *oid = json_string_value(json_object_get(*order, "id"));
	request_info_t info;
	acme_order_change_t ch = { 0 };
	json_t *res = NULL, *perr = NULL;
	char detail[300];

	/* Only an order waiting for approvers changes here. */
	if (st == NULL || strcmp(st, "processing") != 0 || req == NULL ||
	    json_object_get(*order, "cert") != NULL)
		return;
	if (policy_request_get(a->policy, req, &info, NULL) != 0)
		return;
	ch.acct = json_string_value(json_object_get(*order, "acct"));
	ch.expect = "processing";
	if (info.status == REQ_ISSUED) {
		ch.status = "valid";
		ch.serial = info.serial_hex;
	} else if (info.status != REQ_PENDING) {
		snprintf(detail, sizeof(detail), "request %s %s: %s", req,
			 request_status_name(info.status), info.reason[0] ? info.reason : "-");
		perr = acme_problem_obj(info.status == REQ_REJECTED ? "rejectedIdentifier"
								    : "serverInternal",
					detail, NULL);
		ch.status = "invalid";
		ch.error = perr;
	} else {
		return;
	}
	if (acme_order_change(a, oid, &ch, &res, NULL) == 0) {
		json_decref(*order);
		*order = res;
	}
	json_decref(perr);
}
