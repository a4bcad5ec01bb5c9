/* SPDX-License-Identifier: MIT */
/* Unit tests for acme/: an account's own changes (contact update, deactivation, keyChange)
 * are written only while the account, read again in that write, is still valid. The test
 * binary is linked with -Wl,--wrap=db_write, so a test can revoke the account (as an admin
 * does) or deactivate it (by another request of its own) between the request's JWS check
 * and its write — a window no client can hold open — and see that the write changes
 * nothing: revoked stays revoked, the key stays, no audit event of the change; a newOrder
 * stores no order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "acme/acme_int.h"
#include "tests/unit/acme_fixture.h"
#include "tests/unit/ca_fixture.h"

#define BASE "https://ca.test/acme/"

typedef struct fixture {
	char dir[512];
	db_t *db;
	acme_t *a;        /* its store, nonces and JWS checks: no CA, no validation workers */
	EVP_PKEY *key;    /* the account's key */
	char kid[256];    /* its URL */
	const char *id;   /* its id, in kid */
} fixture_t;

static fixture_t *fx;

/* ---- the window: what happens between a request's JWS check and its first write ---- */

int __real_db_write(db_t *db, db_write_fn fn, void *arg, cairn_err_t *err);
int __wrap_db_write(db_t *db, db_write_fn fn, void *arg, cairn_err_t *err);

static void (*between)(void);
static int between_ran;

int __wrap_db_write(db_t *db, db_write_fn fn, void *arg, cairn_err_t *err)
{
	void (*hook)(void) = between;

	if (hook != NULL) {
		between = NULL; /* the hook's own writes go straight through */
		hook();
		between_ran = 1;
	}
	return __real_db_write(db, fn, arg, err);
}

/* ---- requests as a client sends them ---- */

/* POST BASE path with payload (JSON text) signed by key: with the account's kid, or with
 * key's jwk when jwk is set (newAccount); hook runs right before the request's first write
 * (NULL: none). Returns the HTTP status; r is the caller's to clear. */
static int post(EVP_PKEY *key, int jwk, const char *path, const char *payload,
		void (*hook)(void), http_reply_t *r)
{
	char nonce[40], url[256], *who, *prot = NULL, *body;
	json_t *k = NULL, *jws;
	acme_request_t req = { .method = "POST", .path = path,
			       .content_type = "application/jose+json", .remote = "127.0.0.1" };

	assert_int_equal(acme_nonce_make(fx->a->nonces, nonce, sizeof(nonce)), 0);
	snprintf(url, sizeof(url), BASE "%s", path);
	if (jwk) {
		k = ec_jwk(key);
		who = json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS);
		assert_true(asprintf(&prot, "{\"alg\":\"ES256\",\"jwk\":%s,\"nonce\":\"%s\","
					    "\"url\":\"%s\"}", who, nonce, url) > 0);
		free(who);
		json_decref(k);
	} else {
		assert_true(asprintf(&prot, "{\"alg\":\"ES256\",\"kid\":\"%s\",\"nonce\":\"%s\","
					    "\"url\":\"%s\"}", fx->kid, nonce, url) > 0);
	}
	jws = sign_jws(key, prot, payload);
	body = json_dumps(jws, JSON_COMPACT);
	req.body = body;
	req.body_len = strlen(body);
	memset(r, 0, sizeof(*r));
	between = hook;
	between_ran = 0;
	acme_handle(fx->a, &req, r);
	between = NULL;
	if (hook != NULL)
		assert_true(between_ran); /* the request did write: the window was there */
	free(body);
	json_decref(jws);
	free(prot);
	return r->status;
}

/* The stored account (new reference). */
static json_t *account(void)
{
	char key[64];
	json_t *acct = NULL;

	snprintf(key, sizeof(key), "a/%s", fx->id);
	assert_int_equal(acme_get(fx->a, key, &acct), 0);
	return acct;
}

static void assert_status(const char *status)
{
	json_t *acct = account();

	assert_string_equal(json_string_value(json_object_get(acct, "status")), status);
	json_decref(acct);
}

typedef struct audit_count {
	const char *action;
	int n;
} audit_count_t;

static int count_one(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	audit_count_t *c = arg;
	json_t *ev = json_loadb(val, vlen, 0, NULL);
	(void)key;
	(void)klen;

	if (strcmp(json_string_value(json_object_get(ev, "action")) ?: "", c->action) == 0)
		c->n++;
	json_decref(ev);
	return 0;
}

/* How many audit events of action there are. */
static int audited(const char *action)
{
	audit_count_t c = { action, 0 };
	db_txn_t *txn;

	assert_int_equal(db_read_begin(fx->db, &txn), 0);
	assert_true(db_iterate(txn, DB_AUDIT, NULL, 0, count_one, &c) >= 0);
	db_txn_end(txn);
	return c.n;
}

/* A refusal in the write: 401 unauthorized saying the account is what it became. */
static void assert_refused(http_reply_t *r, const char *why)
{
	assert_int_equal(r->status, 401);
	assert_non_null(strstr(r->body, ACME_ERR "unauthorized"));
	if (strstr(r->body, why) == NULL)
		fail_msg("401 without \"%s\": %s", why, r->body);
}

/* ---- what races the request ---- */

/* An admin revokes the account (cairn acme account revoke), in its own write. */
static void revoke_account(void)
{
	cairn_err_t err = { 0 };
	json_t *out = NULL;

	if (acme_account_revoke(fx->a, fx->id, "admin:test", &out, &err) != 0)
		fail_msg("acme_account_revoke: %s", cairn_err_msg(&err));
	json_decref(out);
}

/* The account deactivates itself by another request (RFC 8555 §7.3.6). */
static void deactivate_account(void)
{
	http_reply_t r;
	char path[64];

	snprintf(path, sizeof(path), "acct/%s", fx->id);
	if (post(fx->key, 0, path, "{\"status\":\"deactivated\"}", NULL, &r) != 200)
		fail_msg("deactivation: %d %s", r.status, r.body);
	http_reply_clear(&r);
}

/* ---- fixture ---- */

/* A new account with one contact: fx->key, fx->kid, fx->id. */
static void new_account(void)
{
	http_reply_t r;

	EVP_PKEY_free(fx->key);
	fx->key = EVP_EC_gen("P-256");
	assert_non_null(fx->key);
	assert_int_equal(post(fx->key, 1, "new-account",
			      "{\"termsOfServiceAgreed\":true,"
			      "\"contact\":[\"mailto:first@example.test\"]}", NULL, &r), 201);
	assert_non_null(r.location);
	assert_true(strlen(r.location) == strlen(BASE "acct/") + ACME_ID_LEN);
	snprintf(fx->kid, sizeof(fx->kid), "%s", r.location);
	fx->id = fx->kid + strlen(BASE "acct/");
	http_reply_clear(&r);
}

static int setup(void **state)
{
	fixture_t *f = calloc(1, sizeof(*f));

	if (f == NULL ||
	    fixture_acme_open("acme-window", BASE, f->dir, sizeof(f->dir), &f->db, &f->a) != 0)
		return -1;
	fx = f;
	*state = f;
	new_account();
	return 0;
}

static int teardown(void **state)
{
	fixture_t *f = *state;

	fixture_acme_close(f->dir, f->db, f->a);
	EVP_PKEY_free(f->key);
	free(f);
	fx = NULL;
	return 0;
}

/* ---- keyChange (RFC 8555 §7.3.5) ---- */

/* The keyChange body's payload moving the account from fx->key to new_key: the inner JWS,
 * signed by new_key. malloc'd. */
static char *key_change_payload(EVP_PKEY *new_key)
{
	json_t *nj = ec_jwk(new_key), *oj = ec_jwk(fx->key), *inner;
	char *njs = json_dumps(nj, JSON_COMPACT | JSON_SORT_KEYS);
	char *ojs = json_dumps(oj, JSON_COMPACT | JSON_SORT_KEYS);
	char *prot = NULL, *pay = NULL, *out;

	assert_true(asprintf(&prot, "{\"alg\":\"ES256\",\"jwk\":%s,\"url\":\"" BASE "key-change\"}",
			     njs) > 0);
	assert_true(asprintf(&pay, "{\"account\":\"%s\",\"oldKey\":%s}", fx->kid, ojs) > 0);
	inner = sign_jws(new_key, prot, pay);
	out = json_dumps(inner, JSON_COMPACT);
	json_decref(inner);
	json_decref(nj);
	json_decref(oj);
	free(njs);
	free(ojs);
	free(prot);
	free(pay);
	return out;
}

/* 1 when the key new_key is indexed as some account's (k/THUMB). */
static int key_indexed(EVP_PKEY *new_key)
{
	json_t *nj = ec_jwk(new_key);
	char thumb[48], key[64], id[ACME_ID_LEN + 1];

	assert_int_equal(acme_jwk_thumbprint(nj, thumb, sizeof(thumb)), 0);
	json_decref(nj);
	snprintf(key, sizeof(key), "k/%s", thumb);
	return acme_get_str(fx->a, key, id, sizeof(id)) == 0;
}

/* keyChange with hook before its write: refused for why, the account in status with its
 * key as before, the new key nobody's, no key change audited. */
static void key_change_refused(void (*hook)(void), const char *why, const char *status)
{
	EVP_PKEY *new_key = EVP_EC_gen("P-256");
	char *payload = key_change_payload(new_key);
	json_t *before = account(), *after;
	http_reply_t r;

	post(fx->key, 0, "key-change", payload, hook, &r);
	assert_refused(&r, why);
	http_reply_clear(&r);
	after = account();
	assert_string_equal(json_string_value(json_object_get(after, "status")), status);
	assert_true(json_equal(json_object_get(after, "jwk"), json_object_get(before, "jwk")));
	assert_string_equal(json_string_value(json_object_get(after, "thumb")),
			    json_string_value(json_object_get(before, "thumb")));
	assert_false(key_indexed(new_key));
	assert_int_equal(audited("acme.account.key_change"), 0);
	json_decref(before);
	json_decref(after);
	free(payload);
	EVP_PKEY_free(new_key);
}

/* ---- tests ---- */

/* Control: nobody in the way, the account's changes are made and audited. */
static void test_changes_made(void **state)
{
	EVP_PKEY *new_key = EVP_EC_gen("P-256");
	char path[64], *payload = key_change_payload(new_key);
	json_t *acct;
	http_reply_t r;
	(void)state;

	snprintf(path, sizeof(path), "acct/%s", fx->id);
	assert_int_equal(post(fx->key, 0, path, "{\"contact\":[\"mailto:next@example.test\"]}",
			      NULL, &r), 200);
	http_reply_clear(&r);
	assert_int_equal(audited("acme.account.update"), 1);
	assert_int_equal(post(fx->key, 0, "key-change", payload, NULL, &r), 200);
	http_reply_clear(&r);
	assert_true(key_indexed(new_key));
	assert_int_equal(audited("acme.account.key_change"), 1);
	EVP_PKEY_free(fx->key);
	fx->key = new_key;
	deactivate_account();
	assert_status("deactivated");
	assert_int_equal(audited("acme.account.deactivate"), 1);
	acct = account();
	assert_string_equal(json_string_value(json_array_get(json_object_get(acct, "contact"), 0)),
			    "mailto:next@example.test");
	json_decref(acct);
	free(payload);
}

/* A contact update whose account an admin revokes in the window: refused, the contact as
 * it was, nothing audited but the revocation. */
static void test_update_revoked(void **state)
{
	char path[64];
	json_t *acct;
	http_reply_t r;
	(void)state;

	snprintf(path, sizeof(path), "acct/%s", fx->id);
	post(fx->key, 0, path, "{\"contact\":[\"mailto:next@example.test\"]}", revoke_account,
	     &r);
	assert_refused(&r, "account is revoked");
	http_reply_clear(&r);
	acct = account();
	assert_string_equal(json_string_value(json_object_get(acct, "status")), "revoked");
	assert_int_equal(json_array_size(json_object_get(acct, "contact")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(acct, "contact"), 0)),
			    "mailto:first@example.test");
	json_decref(acct);
	assert_int_equal(audited("acme.account.revoke"), 1);
	assert_int_equal(audited("acme.account.update"), 0);
}

/* The account's own deactivation racing an admin's revocation, the revocation first:
 * revoked stays revoked (never overwritten by deactivated), no deactivation audited. */
static void test_deactivate_revoked(void **state)
{
	char path[64];
	http_reply_t r;
	(void)state;

	snprintf(path, sizeof(path), "acct/%s", fx->id);
	post(fx->key, 0, path, "{\"status\":\"deactivated\"}", revoke_account, &r);
	assert_refused(&r, "account is revoked");
	http_reply_clear(&r);
	assert_status("revoked");
	assert_int_equal(audited("acme.account.deactivate"), 0);
}

/* A contact update whose account deactivated itself in the window (two requests of its
 * own): refused, the contact as it was. */
static void test_update_deactivated(void **state)
{
	char path[64];
	json_t *acct;
	http_reply_t r;
	(void)state;

	snprintf(path, sizeof(path), "acct/%s", fx->id);
	post(fx->key, 0, path, "{\"contact\":[\"mailto:next@example.test\"]}",
	     deactivate_account, &r);
	assert_refused(&r, "account is deactivated");
	http_reply_clear(&r);
	acct = account();
	assert_string_equal(json_string_value(json_array_get(json_object_get(acct, "contact"), 0)),
			    "mailto:first@example.test");
	json_decref(acct);
	assert_int_equal(audited("acme.account.update"), 0);
	assert_int_equal(audited("acme.account.deactivate"), 1); /* its own, in the window */
}

/* keyChange whose account is revoked, or deactivated, in the window: no key change. */
static void test_key_change_revoked(void **state)
{
	(void)state;
	key_change_refused(revoke_account, "account is revoked", "revoked");
}

static void test_key_change_deactivated(void **state)
{
	(void)state;
	key_change_refused(deactivate_account, "account is deactivated", "deactivated");
}

/* Entries of DB_ACME whose key starts with prefix. */
struct prefix_count {
	const char *prefix;
	int n;
};

static int count_prefix(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct prefix_count *c = arg;
	size_t plen = strlen(c->prefix);
	(void)val;
	(void)vlen;

	if (klen < plen || memcmp(key, c->prefix, plen) != 0)
		return 1;
	c->n++;
	return 0;
}

static int stored(const char *prefix)
{
	struct prefix_count c = { prefix, 0 };
	db_txn_t *txn;

	assert_int_equal(db_read_begin(fx->db, &txn), 0);
	assert_true(db_iterate(txn, DB_ACME, prefix, strlen(prefix), count_prefix, &c) >= 0);
	db_txn_end(txn);
	return c.n;
}

/* newOrder whose account an admin revokes, or that deactivates itself, in the window:
 * refused, no order and no authorization stored; with nobody in the way, one is. */
static void new_order(void (*hook)(void), const char *why)
{
	http_reply_t r;

	post(fx->key, 0, "new-order", "{\"identifiers\":[{\"type\":\"dns\","
				       "\"value\":\"w.example.test\"}]}", hook, &r);
	if (why == NULL) {
		if (r.status != 201)
			fail_msg("newOrder: %d %s", r.status, r.body);
		assert_int_equal(stored("o/"), 1);
		assert_int_equal(stored("z/"), 1);
	} else {
		assert_refused(&r, why);
		assert_int_equal(stored("o/"), 0);
		assert_int_equal(stored("z/"), 0);
	}
	http_reply_clear(&r);
}

static void test_new_order(void **state)
{
	(void)state;
	new_order(NULL, NULL);
}

static void test_new_order_revoked(void **state)
{
	(void)state;
	new_order(revoke_account, "account is revoked");
}

static void test_new_order_deactivated(void **state)
{
	(void)state;
	new_order(deactivate_account, "account is deactivated");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_changes_made, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_revoked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deactivate_revoked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_deactivated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_change_revoked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_change_deactivated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_order_revoked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_order_deactivated, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
