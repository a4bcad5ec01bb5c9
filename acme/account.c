/* SPDX-License-Identifier: MIT */
/* ACME accounts (RFC 8555 §7.3): newAccount, lookup by key, update, deactivation, orders list, keyChange. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "acme/acme_int.h"
#include "notify/notify.h"

/* The account as served to its owner. New reference. */
static json_t *account_view(acme_t *a, const json_t *acct)
{
	char u[512];
	json_t *v = json_object();
	json_t *c = json_object_get(acct, "contact");

	snprintf(u, sizeof(u), "%sacct/%s/orders", a->base,
		 json_string_value(json_object_get(acct, "id")));
	json_object_set(v, "status", json_object_get(acct, "status"));
	json_object_set_new(v, "contact", c ? json_incref(c) : json_array());
	json_object_set(v, "termsOfServiceAgreed", json_object_get(acct, "tos"));
	json_object_set_new(v, "orders", json_string(u));
	json_object_set(v, "key", json_object_get(acct, "jwk"));
	return v;
}

static void reply_account(acme_t *a, http_reply_t *r, int status, const json_t *acct)
{
	char u[512];
	json_t *v = account_view(a, acct);

	http_reply_json(r, status, NULL, v);
	json_decref(v);
	snprintf(u, sizeof(u), "%sacct/%s", a->base, json_string_value(json_object_get(acct, "id")));
	r->location = strdup(u);
}

/* 1 when the mailto: contacts x and y (one plain address each) name the same mailbox:
 * the local part as it is, the host in any case (RFC 5321 §2.4). */
static int same_address(const char *x, const char *y)
{
	const char *ax = strchr(x, '@'), *ay = strchr(y, '@');

	return ax != NULL && ay != NULL && ax - x == ay - y && memcmp(x, y, (size_t)(ax - x)) == 0 &&
	       strcasecmp(ax, ay) == 0;
}

/* contact: array of "mailto:" URIs (RFC 8555 §7.3), each one plain address
 * (notify_address_ok), each address once: a duplicate is refused rather than stored once,
 * so what the account holds is what it sent (certbot and lego send each address once).
 * 0 or fills the problem (invalidContact, unsupportedContact). */
static int check_contact(const json_t *c, http_reply_t *r)
{
	size_t i, k;

	if (c == NULL)
		return 0;
	if (!json_is_array(c) || json_array_size(c) > 10) {
		acme_problem(r, 400, "malformed", "contact must be an array of at most 10 URIs");
		return CAIRN_EINVAL;
	}
	for (i = 0; i < json_array_size(c); i++) {
		const char *s = json_string_value(json_array_get(c, i));
		if (s == NULL || strlen(s) > 256) {
			acme_problem(r, 400, "invalidContact", "contact[%zu] must be a URI string", i);
			return CAIRN_EINVAL;
		}
		if (strncmp(s, "mailto:", 7) != 0) {
			acme_problem(r, 400, "unsupportedContact",
				     "contact[%zu]: only mailto: is supported", i);
			return CAIRN_EINVAL;
		}
		/* The address is where notices go (to_owner): the one address check of
		 * notify/, so what is stored is what a mail may be sent to (no line breaks,
		 * spaces, brackets or second address: no header injection). */
		if (strchr(s, '?') || !notify_address_ok(s + 7)) {
			acme_problem(r, 400, "invalidContact",
				     "contact[%zu]: one plain address user@host per mailto: URI", i);
			return CAIRN_EINVAL;
		}
		for (k = 0; k < i; k++)
			if (same_address(json_string_value(json_array_get(c, k)), s)) {
				acme_problem(r, 400, "invalidContact", "the address of contact[%zu] "
					     "is listed twice (contact[%zu]: %s)", k, i, s);
				return CAIRN_EINVAL;
			}
	}
	return 0;
}

/* The SHA-256 of jwk's SubjectPublicKeyInfo (ca_pubkey_sha256: what a key is blocked
 * by). 0, or non-zero with the problem in r. */
static int jwk_spki(const json_t *jwk, uint8_t spki[32], http_reply_t *r)
{
	char why[160] = "";
	EVP_PKEY *pk = acme_jwk_to_pkey(jwk, why, sizeof(why));
	int rc = pk != NULL ? ca_pubkey_sha256(pk, spki) : CAIRN_EKEYTYPE;

	EVP_PKEY_free(pk);
	if (rc != 0)
		acme_problem(r, 400, "badPublicKey", "the key cannot be read%s%s", why[0] ? ": " : "",
			     why);
	return rc;
}

/* In txn: CAIRN_EWEAKKEY (err saying why) when a certificate with the key spki was
 * revoked for keyCompromise: whoever holds that key may not be whom it was issued to, so
 * it makes no new account and becomes no account's key. */
static int key_not_compromised(db_txn_t *txn, const uint8_t spki[32], cairn_err_t *err)
{
	char why[256];

	if (ca_spki_compromised(txn, spki, why, sizeof(why)))
		return cairn_err_set(err, CAIRN_EWEAKKEY, "the key is blocked (%s): use a new key",
				     why[0] ? why : "compromised");
	return 0;
}

typedef struct create_op {
	acme_t *a;
	json_t *acct;          /* the new account */
	const char *thumb;
	uint8_t spki[32];      /* its key's (jwk_spki) */
	const char *eab_kid;   /* or NULL */
	char existing[ACME_ID_LEN + 1]; /* set when the key already had an account */
} create_op_t;

static int create_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	create_op_t *op = arg;
	char key[128];
	const void *val;
	size_t len;
	const char *id = json_string_value(json_object_get(op->acct, "id"));
	int rc;

	op->existing[0] = '\0';
	snprintf(key, sizeof(key), "k/%s", op->thumb);
	if (db_get(txn, DB_ACME, key, strlen(key), &val, &len) == 0) {
		/* A concurrent newAccount with the same key won: answer with that account. */
		if (len > ACME_ID_LEN)
			len = ACME_ID_LEN;
		memcpy(op->existing, val, len);
		op->existing[len] = '\0';
		return 0;
	}
	if ((rc = key_not_compromised(txn, op->spki, err)) != 0)
		return rc;
	if (op->eab_kid != NULL) {
		json_t *eab = NULL;
		snprintf(key, sizeof(key), "e/%s", op->eab_kid);
		if ((rc = acme_txn_get(NULL, txn, key, &eab)) != 0)
			return cairn_err_set(err, CAIRN_EAUTH, "unknown EAB key id");
		/* checked again here: a revocation or a concurrent binding may have
		 * committed since acme_eab_check read the key */
		if ((rc = acme_eab_bindable(eab, (int64_t)time(NULL), err)) != 0) {
			json_decref(eab);
			return rc;
		}
		json_object_set_new(eab, "account", json_string(id));
		rc = acme_txn_put(NULL, txn, key, eab);
		json_decref(eab);
		if (rc)
			return rc;
	}
	snprintf(key, sizeof(key), "a/%s", id);
	if ((rc = acme_txn_put(op->a, txn, key, op->acct)) != 0)
		return rc;
	snprintf(key, sizeof(key), "k/%s", op->thumb);
	if ((rc = acme_txn_put_str(txn, key, id)) != 0)
		return rc;
	return acme_audit(txn, id, "acme.account.create", NULL, NULL,
			  json_pack("{s:s, s:O*}", "jwk_thumbprint", op->thumb, "eab_kid",
				    json_object_get(op->acct, "eab_kid")),
			  err);
}

/*
 * 1 (reply filled: 429 rateLimited with Retry-After) when the client address addr made
 * acme.rate_limits.accounts_per_address_per_hour new accounts in the last hour: every
 * account is durable state that anyone with a key may ask for, so one client could fill
 * the disk. Existing accounts found by their key are not counted. The first refusal of a
 * lock-out is logged, with the address.
 */
static int over_accounts(acme_t *a, const char *addr, http_reply_t *r)
{
	unsigned refused = 0;
	uint64_t wait;

	if (a->new_accounts == NULL || (wait = util_ratelimit_check(a->new_accounts, addr,
								   &refused)) == 0)
		return 0;
	if (refused == 1)
		log_kv(LOG_LVL_WARN, "acme", "new accounts refused: too many from one address",
		       "remote", addr + 5, NULL);
	acme_problem(r, 429, "rateLimited",
		     "too many new accounts from %s: at most %ld an hour "
		     "(acme.rate_limits.accounts_per_address_per_hour); try again in %llu s",
		     addr + 5, a->accounts_per_hour, (unsigned long long)((wait + 999) / 1000));
	r->retry_after = (int)((wait + 999) / 1000);
	return 1;
}

void acme_new_account(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		      http_reply_t *r)
{
	acme_jws_t j;
	json_t *acct = NULL, *p, *eab;
	char key[128], id[ACME_ID_LEN + 1], kid[128] = "", group[64] = "", profile[64] = "";
	char addr[RL_KEY_MAX];
	create_op_t op = { 0 };
	cairn_err_t err = { 0 };
	int rc;
	(void)arg;

	if (acme_jws_verify(a, req->body, req->body_len, url, 1, &j, r) != 0)
		return;
	p = j.payload;
	if (p == NULL) {
		acme_problem(r, 400, "malformed", "newAccount needs a payload");
		goto out;
	}
	snprintf(key, sizeof(key), "k/%s", j.thumb);
	if (acme_get_str(a, key, id, sizeof(id)) == 0) {
		snprintf(key, sizeof(key), "a/%s", id);
		if (acme_get(a, key, &acct) != 0) {
			acme_problem(r, 500, "serverInternal", "account index is inconsistent");
			goto out;
		}
		if (strcmp(json_string_value(json_object_get(acct, "status")), "valid") != 0) {
			acme_problem(r, 401, "unauthorized", "account is %s",
				     json_string_value(json_object_get(acct, "status")));
			goto out;
		}
		reply_account(a, r, 200, acct);
		goto out;
	}
	if (json_is_true(json_object_get(p, "onlyReturnExisting"))) {
		acme_problem(r, 400, "accountDoesNotExist", "no account for this key");
		goto out;
	}
	if (check_contact(json_object_get(p, "contact"), r) != 0)
		goto out;
	if (a->tos[0] && !json_is_true(json_object_get(p, "termsOfServiceAgreed"))) {
		acme_problem(r, 403, "userActionRequired", "agree to the terms of service at %s",
			     a->tos);
		goto out;
	}
	eab = json_object_get(p, "externalAccountBinding");
	if (eab == NULL && a->eab_required) {
		acme_problem(r, 403, "externalAccountRequired",
			     "this CA requires an external account binding");
		goto out;
	}
	if (eab != NULL && acme_eab_check(a, eab, j.jwk, url, kid, sizeof(kid), group,
					  sizeof(group), profile, sizeof(profile), r) != 0)
		goto out;
	net_addr_key(req->remote, addr, sizeof(addr));
	if (over_accounts(a, addr, r))
		goto out;
	if (acme_new_id(id) != 0) {
		acme_problem(r, 500, "serverInternal", "no randomness");
		goto out;
	}
	acct = json_pack("{s:s, s:s, s:O, s:s, s:b, s:I}", "id", id, "status", "valid", "jwk",
			 j.jwk, "thumb", j.thumb, "tos",
			 json_is_true(json_object_get(p, "termsOfServiceAgreed")), "created",
			 (json_int_t)time(NULL));
	if (acct == NULL) {
		acme_problem(r, 500, "serverInternal", "out of memory");
		goto out;
	}
	if (json_object_get(p, "contact"))
		json_object_set(acct, "contact", json_object_get(p, "contact"));
	if (kid[0]) {
		json_object_set_new(acct, "eab_kid", json_string(kid));
		if (group[0])
			json_object_set_new(acct, "group", json_string(group));
		if (profile[0])
			json_object_set_new(acct, "profile", json_string(profile));
	}
	op.a = a;
	op.acct = acct;
	op.thumb = j.thumb;
	op.eab_kid = kid[0] ? kid : NULL;
	if (jwk_spki(j.jwk, op.spki, r) != 0)
		goto out;
	rc = db_write(a->db, create_run, &op, &err);
	if (rc == CAIRN_EAUTH) {
		acme_problem(r, 401, "unauthorized", "%s", cairn_err_msg(&err));
		goto out;
	}
	if (rc == CAIRN_EWEAKKEY) {
		acme_problem_err(r, rc, "%s", cairn_err_msg(&err));
		goto out;
	}
	if (rc) {
		acme_problem_write(r, &err, "storing the account");
		goto out;
	}
	if (op.existing[0]) {
		json_decref(acct);
		acct = NULL;
		snprintf(key, sizeof(key), "a/%s", op.existing);
		if (acme_get(a, key, &acct) != 0) {
			acme_problem(r, 500, "serverInternal", "account index is inconsistent");
			goto out;
		}
		reply_account(a, r, 200, acct);
		goto out;
	}
	if (a->new_accounts != NULL)
		util_ratelimit_fail(a->new_accounts, addr); /* counts the account made */
	reply_account(a, r, 201, acct);
out:
	json_decref(acct);
	acme_jws_clear(&j);
}

/* The account acct as read in its own change's write: 0 while it is valid, else
 * CAIRN_EAUTH ("account is revoked") in err. The request's JWS check read the account
 * before this write; an admin's revocation (acme_account_revoke) or another request's
 * deactivation may have committed since. A deactivated or revoked account gets no new
 * contact or key, and revoked is final: a deactivation never overwrites it. */
static int account_usable(const json_t *acct, cairn_err_t *err)
{
	const char *st = json_string_value(json_object_get(acct, "status"));

	if (st != NULL && strcmp(st, "valid") == 0)
		return 0;
	return cairn_err_set(err, CAIRN_EAUTH, "account is %s", st ? st : "unusable");
}

int acme_account_usable(acme_t *a, db_txn_t *txn, const char *acct_id, cairn_err_t *err)
{
	char key[64];
	json_t *acct = NULL;
	int rc;

	snprintf(key, sizeof(key), "a/%s", acct_id);
	if ((rc = acme_txn_get(a, txn, key, &acct)) != 0)
		return cairn_err_set(err, rc, "account %s: %s", acct_id, cairn_strerror(rc));
	rc = account_usable(acct, err);
	json_decref(acct);
	return rc;
}

typedef struct acct_upd {
	const json_t *payload;
	int deactivate;
} acct_upd_t;

static int acct_update_run(db_txn_t *txn, json_t *acct, void *arg, cairn_err_t *err)
{
	acct_upd_t *u = arg;
	json_t *c = json_object_get(u->payload, "contact");
	const char *id = json_string_value(json_object_get(acct, "id"));
	int rc;

	if ((rc = account_usable(acct, err)) != 0)
		return rc;
	if (c != NULL)
		json_object_set(acct, "contact", c);
	if (u->deactivate) {
		json_object_set_new(acct, "status", json_string("deactivated"));
		return acme_audit(txn, id, "acme.account.deactivate", NULL, NULL, NULL, err);
	}
	return c != NULL ? acme_audit(txn, id, "acme.account.update", NULL, NULL, NULL, err) : 0;
}

void acme_account(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		  http_reply_t *r)
{
	acme_jws_t j;
	json_t *res = NULL, *st;
	acct_upd_t u = { 0 };
	char key[64];
	cairn_err_t err = { 0 };
	int rc;

	if (acme_jws_verify(a, req->body, req->body_len, url, 0, &j, r) != 0)
		return;
	if (strcmp(arg, j.acct_id) != 0) {
		acme_problem(r, 401, "unauthorized", "kid is not this account");
		goto out;
	}
	if (j.post_as_get) {
		reply_account(a, r, 200, j.account);
		goto out;
	}
	if (check_contact(json_object_get(j.payload, "contact"), r) != 0)
		goto out;
	st = json_object_get(j.payload, "status");
	if (st != NULL) {
		if (!json_is_string(st) || strcmp(json_string_value(st), "deactivated") != 0) {
			acme_problem(r, 400, "malformed", "status may only be set to \"deactivated\"");
			goto out;
		}
		u.deactivate = 1;
	}
	u.payload = j.payload;
	snprintf(key, sizeof(key), "a/%s", j.acct_id);
	rc = acme_update(a, key, acct_update_run, &u, &res, &err);
	if (rc == CAIRN_EAUTH) {
		acme_problem_err(r, rc, "%s", cairn_err_msg(&err));
		goto out;
	}
	if (rc) {
		acme_problem_write(r, &err, "updating the account");
		goto out;
	}
	reply_account(a, r, 200, res);
out:
	json_decref(res);
	acme_jws_clear(&j);
}

#define ACME_ORDERS_PAGE 100

typedef struct list_ctx {
	const char *prefix;
	size_t plen;
	json_t *urls;
	const char *base;
	char next[64];   /* first key (after the prefix) of the next page, "" = none */
} list_ctx_t;

static int list_one(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	list_ctx_t *c = arg;
	char u[512];
	(void)val;
	(void)vlen;

	if (klen < c->plen || memcmp(key, c->prefix, c->plen) != 0)
		return 1;
	if (klen - c->plen >= sizeof(c->next))
		return 0;
	if (json_array_size(c->urls) == ACME_ORDERS_PAGE) {
		memcpy(c->next, (const char *)key + c->plen, klen - c->plen);
		c->next[klen - c->plen] = '\0';
		return 1;
	}
	/* key: l/ACCT/HEX16(created)ORDERID; the order id is the last ACME_ID_LEN bytes */
	snprintf(u, sizeof(u), "%sorder/%.*s", c->base, ACME_ID_LEN,
		 (const char *)key + klen - ACME_ID_LEN);
	json_array_append_new(c->urls, json_string(u));
	return 0;
}

/* One page of the account's orders (RFC 8555 §7.1.2.1), oldest first, from cursor (or
 * the start); a Link rel="next" points at the following page. */
static void orders_page(acme_t *a, const char *url, const char *acct, const char *cursor,
			const acme_request_t *req, http_reply_t *r)
{
	acme_jws_t j;
	char prefix[64], start[160], link[700];
	list_ctx_t c = { 0 };
	db_txn_t *txn;
	json_t *doc;

	if (acme_jws_verify_get(a, req->body, req->body_len, url, "an orders list", &j, r) != 0)
		return;
	if (strcmp(acct, j.acct_id) != 0) {
		acme_problem(r, 401, "unauthorized", "kid is not this account");
		goto out;
	}
	if (strlen(cursor) > 60) {
		acme_problem(r, 404, "malformed", "no such page");
		goto out;
	}
	snprintf(prefix, sizeof(prefix), "l/%s/", j.acct_id);
	snprintf(start, sizeof(start), "%s%s", prefix, cursor);
	c.prefix = prefix;
	c.plen = strlen(prefix);
	c.urls = json_array();
	c.base = a->base;
	if (db_read_begin(a->db, &txn) == 0) {
		db_iterate(txn, DB_ACME, start, strlen(start), list_one, &c);
		db_txn_end(txn);
	}
	doc = json_pack("{s:o}", "orders", c.urls);
	http_reply_json(r, 200, NULL, doc);
	json_decref(doc);
	if (c.next[0]) {
		snprintf(link, sizeof(link), "<%sorders/%s/%s>;rel=\"next\"", a->base, j.acct_id,
			 c.next);
		http_reply_header(r, "Link", "%s", link);
	}
out:
	acme_jws_clear(&j);
}

void acme_account_orders(acme_t *a, const char *url, const char *arg,
			 const acme_request_t *req, http_reply_t *r)
{
	orders_page(a, url, arg, "", req, r);
}

void acme_orders_next(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		      http_reply_t *r)
{
	char acct[ACME_ID_LEN + 1];
	const char *slash = strchr(arg, '/');

	if (slash == NULL || (size_t)(slash - arg) != ACME_ID_LEN || slash[1] == '\0') {
		acme_problem(r, 404, "malformed", "no such page");
		return;
	}
	memcpy(acct, arg, ACME_ID_LEN);
	acct[ACME_ID_LEN] = '\0';
	orders_page(a, url, acct, slash + 1, req, r);
}

typedef struct rollover_op {
	acme_t *a;
	const char *id;
	const char *old_thumb, *new_thumb;
	const json_t *new_jwk;
	uint8_t new_spki[32]; /* jwk_spki of new_jwk */
	int conflict; /* the new key belongs to an account already */
	int stale;    /* the account's key is no longer the one that signed the request */
} rollover_op_t;

static int rollover_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	rollover_op_t *op = arg;
	char key[128];
	const void *val;
	size_t len;
	const char *thumb;
	json_t *acct = NULL;
	int rc;

	op->conflict = op->stale = 0;
	/* The signature was checked against the account's key before this transaction: a
	 * revocation or deactivation committed meanwhile ends the account (account_usable),
	 * and a keyChange committed meanwhile (two sent at once) has replaced that key, so
	 * this request no longer speaks for the account. */
	snprintf(key, sizeof(key), "a/%s", op->id);
	if ((rc = acme_txn_get(op->a, txn, key, &acct)) != 0)
		return rc;
	if ((rc = account_usable(acct, err)) != 0)
		goto out;
	thumb = json_string_value(json_object_get(acct, "thumb"));
	if (thumb == NULL || strcmp(thumb, op->old_thumb) != 0) {
		op->stale = 1;
		rc = CAIRN_EAUTH;
		goto out;
	}
	snprintf(key, sizeof(key), "k/%s", op->new_thumb);
	if (db_get(txn, DB_ACME, key, strlen(key), &val, &len) == 0) {
		op->conflict = 1;
		rc = CAIRN_EEXIST;
		goto out;
	}
	if ((rc = key_not_compromised(txn, op->new_spki, err)) != 0)
		goto out;
	if ((rc = acme_txn_put_str(txn, key, op->id)) != 0)
		goto out;
	snprintf(key, sizeof(key), "k/%s", op->old_thumb);
	if ((rc = db_del(txn, DB_ACME, key, strlen(key))) != 0)
		goto out;
	snprintf(key, sizeof(key), "a/%s", op->id);
	json_object_set(acct, "jwk", (json_t *)op->new_jwk);
	json_object_set_new(acct, "thumb", json_string(op->new_thumb));
	if ((rc = acme_txn_put(op->a, txn, key, acct)) != 0)
		goto out;
	rc = acme_audit(txn, op->id, "acme.account.key_change", NULL, NULL,
			json_pack("{s:s, s:s}", "old_thumbprint", op->old_thumb,
				  "new_thumbprint", op->new_thumb),
			err);
out:
	json_decref(acct);
	return rc;
}

void acme_key_change(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		     http_reply_t *r)
{
	acme_jws_t j;
	json_t *inner_hdr = NULL, *inner = NULL, *new_jwk = NULL;
	const char *iurl, *acct_url;
	char why[256] = "", new_thumb[48], old_thumb[48];
	rollover_op_t op = { 0 };
	cairn_err_t err = { 0 };
	int rc;
	(void)arg;

	if (acme_jws_verify(a, req->body, req->body_len, url, 0, &j, r) != 0)
		return;
	if (j.payload == NULL) {
		acme_problem(r, 400, "malformed", "keyChange needs an inner JWS as payload");
		goto out;
	}
	/* The inner JWS is signed by the new key, carried as its jwk (RFC 8555 §7.3.5). */
	if (json_is_object(j.payload) && json_object_get(j.payload, "protected")) {
		json_t *ph = NULL;
		uint8_t *raw = NULL;
		size_t rl = 0;
		const char *ps = json_string_value(json_object_get(j.payload, "protected"));
		char jwhy[160];
		if (ps && b64url_decode(ps, strlen(ps), &raw, &rl) == 0 &&
		    util_json_parse((const char *)raw, rl, &a->json, &ph, jwhy, sizeof(jwhy)) != 0) {
			free(raw);
			acme_problem(r, 400, "malformed", "inner JWS protected header: %s", jwhy);
			goto out;
		}
		free(raw);
		if (json_object_get(ph, "jwk") == NULL || json_object_get(ph, "nonce") != NULL ||
		    json_object_get(ph, "kid") != NULL) {
			json_decref(ph);
			acme_problem(r, 400, "malformed",
				     "inner JWS needs a jwk and no kid or nonce in its protected "
				     "header");
			goto out;
		}
		/* kept as the account's key: its public members only */
		new_jwk = acme_jwk_public(json_object_get(ph, "jwk"), why, sizeof(why));
		json_decref(ph);
		if (new_jwk == NULL) {
			acme_problem(r, 400, "badPublicKey", "inner JWS: %s", why);
			goto out;
		}
		if (acme_jws_check_inner(a, j.payload, new_jwk, &inner_hdr, &inner, why,
					 sizeof(why)) != 0) {
			acme_problem(r, 400, "malformed", "inner JWS: %s", why);
			goto out;
		}
	} else {
		acme_problem(r, 400, "malformed", "keyChange payload must be a flattened JWS");
		goto out;
	}
	iurl = json_string_value(json_object_get(inner_hdr, "url"));
	if (iurl == NULL || strcmp(iurl, url) != 0) {
		acme_problem(r, 400, "malformed", "inner JWS url must equal the outer url");
		goto out;
	}
	acct_url = json_string_value(json_object_get(inner, "account"));
	if (acct_url == NULL || strcmp(acct_url, j.kid) != 0) {
		acme_problem(r, 400, "malformed", "inner payload account must equal the outer kid");
		goto out;
	}
	if (acme_jwk_thumbprint(json_object_get(inner, "oldKey"), old_thumb, sizeof(old_thumb)) !=
		    0 ||
	    strcmp(old_thumb, j.thumb) != 0) {
		acme_problem(r, 400, "malformed", "inner payload oldKey is not the account key");
		goto out;
	}
	if (acme_jwk_thumbprint(new_jwk, new_thumb, sizeof(new_thumb)) != 0) {
		acme_problem(r, 400, "badPublicKey", "new key has no thumbprint");
		goto out;
	}
	op.a = a;
	op.id = j.acct_id;
	op.old_thumb = j.thumb;
	op.new_thumb = new_thumb;
	op.new_jwk = new_jwk;
	if (jwk_spki(new_jwk, op.new_spki, r) != 0)
		goto out;
	rc = db_write(a->db, rollover_run, &op, &err);
	if (op.conflict) {
		char key[128], other[ACME_ID_LEN + 1] = "", u[512];
		snprintf(key, sizeof(key), "k/%s", new_thumb);
		if (acme_get_str(a, key, other, sizeof(other)) == 0) {
			snprintf(u, sizeof(u), "%sacct/%s", a->base, other);
			r->location = strdup(u);
		}
		acme_problem(r, 409, "conflict", "the new key already belongs to an account");
		goto out;
	}
	if (op.stale) {
		acme_problem(r, 401, "unauthorized",
			     "the account's key changed while this keyChange was in flight: sign "
			     "with its current key");
		goto out;
	}
	if (rc == CAIRN_EAUTH) {
		acme_problem_err(r, rc, "%s", cairn_err_msg(&err));
		goto out;
	}
	if (rc == CAIRN_EWEAKKEY) {
		acme_problem_err(r, rc, "new key: %s", cairn_err_msg(&err));
		goto out;
	}
	if (rc) {
		acme_problem_write(r, &err, "key change");
		goto out;
	}
	{
		json_t *acct = NULL;
		char key[64];
		snprintf(key, sizeof(key), "a/%s", j.acct_id);
		if (acme_get(a, key, &acct) == 0)
			reply_account(a, r, 200, acct);
		json_decref(acct);
	}
out:
	json_decref(inner_hdr);
	json_decref(inner);
	json_decref(new_jwk);
	acme_jws_clear(&j);
}

/* ---- what admins see and do (admin API) ---- */

int acme_account_revoke_txn(db_txn_t *txn, const char *acct, const char *actor,
			    char was[16], cairn_err_t *err)
{
	char key[64];
	json_t *ac = NULL;
	const char *st;
	int rc;

	if (was != NULL)
		was[0] = '\0';
	snprintf(key, sizeof(key), "a/%s", acct);
	if ((rc = acme_txn_get(NULL, txn, key, &ac)) != 0)
		return rc == CAIRN_ENOENT ? 0 : cairn_err_set(err, rc, "account %s", acct);
	st = json_string_value(json_object_get(ac, "status"));
	if (was != NULL)
		snprintf(was, 16, "%s", st ? st : "");
	if (st != NULL && strcmp(st, "valid") == 0) {
		json_object_set_new(ac, "status", json_string("revoked"));
		json_object_set_new(ac, "revoked", json_integer((json_int_t)time(NULL)));
		json_object_set_new(ac, "revoked_by", json_string(actor));
		rc = acme_txn_put(NULL, txn, key, ac);
	}
	json_decref(ac);
	return rc;
}

/* The record as admins see it: the owner's view's members with their names in the
 * record, never anything the account did not send or the CA did not decide. */
static json_t *admin_view(const json_t *acct)
{
	static const char *const members[] = { "id", "status", "contact", "created", "eab_kid",
					       "group", "profile", "revoked", "revoked_by" };
	json_t *v = json_object(), *m;
	size_t i;

	if (v == NULL)
		return NULL;
	for (i = 0; i < sizeof(members) / sizeof(members[0]); i++)
		if ((m = json_object_get(acct, members[i])) != NULL)
			json_object_set(v, members[i], m);
	json_object_set(v, "jwk_thumbprint", json_object_get(acct, "thumb"));
	json_object_set(v, "key", json_object_get(acct, "jwk"));
	json_object_set(v, "termsOfServiceAgreed", json_object_get(acct, "tos"));
	return v;
}

/* An account id from a URL path: ACME_ID_LEN characters of base64url. */
static int account_id_ok(const char *id)
{
	return strlen(id) == ACME_ID_LEN &&
	       strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
		       ACME_ID_LEN;
}

json_t *acme_account_show(acme_t *a, const char *id, cairn_err_t *err)
{
	char key[64];
	json_t *acct = NULL, *v;
	int rc;

	if (!account_id_ok(id)) {
		cairn_err_set(err, CAIRN_ENOENT, "no ACME account %.64s", id);
		return NULL;
	}
	snprintf(key, sizeof(key), "a/%s", id);
	if ((rc = acme_get(a, key, &acct)) != 0) {
		cairn_err_set(err, rc, rc == CAIRN_ENOENT ? "no ACME account %s" : "account %s", id);
		return NULL;
	}
	v = admin_view(acct);
	json_decref(acct);
	if (v == NULL)
		cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	return v;
}

typedef struct acct_revoke_op {
	const char *id, *actor;
	json_t *result;
} acct_revoke_op_t;

static int acct_revoke_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	acct_revoke_op_t *op = arg;
	char key[64], was[16];
	json_t *acct = NULL;
	int rc;

	json_decref(op->result);
	op->result = NULL;
	snprintf(key, sizeof(key), "a/%s", op->id);
	if ((rc = acme_txn_get(NULL, txn, key, &acct)) != 0)
		return cairn_err_set(err, rc, rc == CAIRN_ENOENT ? "no ACME account %s" : "account %s",
				     op->id);
	json_decref(acct);
	acct = NULL;
	if ((rc = acme_account_revoke_txn(txn, op->id, op->actor, was, err)) != 0)
		return rc;
	if (strcmp(was, "valid") != 0)
		return cairn_err_set(err, CAIRN_ECONFLICT, "ACME account %s is %s already", op->id,
				     was);
	if ((rc = acme_txn_get(NULL, txn, key, &acct)) != 0)
		return cairn_err_set(err, rc, "account %s", op->id);
	rc = acme_audit_by(txn, "acme.account.revoke", op->actor,
			   json_pack("{s:s, s:O*}", "account", op->id, "eab_kid",
				     json_object_get(acct, "eab_kid")),
			   err);
	if (rc == 0 && (op->result = admin_view(acct)) == NULL)
		rc = CAIRN_ENOMEM;
	json_decref(acct);
	return rc;
}

int acme_account_revoke(acme_t *a, const char *id, const char *actor, json_t **out,
			cairn_err_t *err)
{
	acct_revoke_op_t op = { .id = id, .actor = actor ? actor : "admin" };
	int rc;

	*out = NULL;
	if (!account_id_ok(id))
		return cairn_err_set(err, CAIRN_ENOENT, "no ACME account %.64s", id);
	rc = db_write(a->db, acct_revoke_run, &op, err);
	if (rc == 0)
		*out = op.result;
	else
		json_decref(op.result);
	return rc;
}

int acme_requester_active(db_txn_t *txn, const char *requester, const char *request, void *arg,
			  cairn_err_t *err)
{
	char acct[ACME_ID_LEN + 1];
	json_t *rec = NULL;
	const char *st;
	int rc;
	(void)arg;

	rc = acme_requester_account(txn, requester, &rec, acct);
	if (rc == CAIRN_EINVAL) /* not an ACME requester */
		return 0;
	if (rc != 0)
		return cairn_err_set(err, CAIRN_EAUTH, "the ACME account of %s is gone", requester);
	st = json_string_value(json_object_get(rec, "status"));
	rc = st != NULL && strcmp(st, "valid") == 0 ? 0 :
		cairn_err_set(err, CAIRN_EAUTH, "the ACME account %s of %s is %s", acct, requester,
			      st ? st : "unusable");
	json_decref(rec);
	return rc != 0 || request == NULL ? rc : acme_request_authzs_valid(txn, request, err);
}
