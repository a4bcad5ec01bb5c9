/* SPDX-License-Identifier: MIT */
/* Unit tests for admin/: a route writes on its caller's authority as it stands in that
 * write. The test binary is linked with -Wl,--wrap=db_write, so a test can revoke the
 * caller's token or admin certificate, hold that certificate, or disable its admin between
 * the route's credential check and its first write — the window no client can hold open
 * on a revocation (no token call comes before its write) — and see that the write changes
 * nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "config.h"
#include "admin/admin.h"
#include "db/db.h"
#include "est/est.h"
#include "hsm/hsm.h"
#include "tests/unit/ca_fixture.h"
#include "util/util.h"

typedef struct fixture {
	char dir[64];
	hsm_t *hsm;
	db_t *db;
	ca_t *ca;
	uint8_t serial[3][16];
} fixture_t;

static fixture_t *fx;

/* ---- the window: what happens between a route's check and its first write ---- */

int __real_db_write(db_t *db, db_write_fn fn, void *arg, cairn_err_t *err);
int __wrap_db_write(db_t *db, db_write_fn fn, void *arg, cairn_err_t *err);

static void (*between)(void);
static int between_at; /* before the route's between_at-th write (1: its first) */
static int between_ran;

int __wrap_db_write(db_t *db, db_write_fn fn, void *arg, cairn_err_t *err)
{
	void (*hook)(void) = between;

	if (hook != NULL && --between_at == 0) {
		between = NULL;
		hook();
		between_ran = 1;
	}
	return __real_db_write(db, fn, arg, err);
}

static char caller_token[128];
/* When set, the caller presents this admin certificate (its TLS client certificate) and
 * no token; caller_cert_hex is its serial. */
static X509 *caller_cert;
static char caller_cert_hex[2 * DB_SERIAL_MAX + 1];

/* The caller's token, revoked (its id: the first 8 bytes of its SHA-256, in hex). */
static void revoke_caller_token(void)
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	cairn_err_t err = { 0 };
	char id[17];

	SHA256((const uint8_t *)caller_token, strlen(caller_token), md);
	hex_encode(md, 8, id);
	if (admin_token_revoke(fx->db, id, "test", &err) != 0)
		fail_msg("admin_token_revoke: %s", cairn_err_msg(&err));
}

/* The caller's admin certificate revoked with reason, by the CA's revocation in its own
 * write (CA_REASON_REMOVE_FROM_CRL: its hold released). */
static void caller_cert_revoke(int reason)
{
	cairn_err_t err = { 0 };

	if (ca_revoke(fx->ca, caller_cert_hex, reason, 0, "test", &err) != 0)
		fail_msg("ca_revoke %s: %s", ca_reason_name(reason), cairn_err_msg(&err));
}

static void revoke_caller_cert(void)
{
	caller_cert_revoke(CA_REASON_SUPERSEDED);
}

static void hold_caller_cert(void)
{
	caller_cert_revoke(CA_REASON_HOLD);
}

static void disable_caller(void)
{
	cairn_err_t err = { 0 };

	if (admin_disable(fx->db, "walt", "test", &err) != 0)
		fail_msg("admin_disable: %s", cairn_err_msg(&err));
}

/* ---- fixture ---- */

static int put_certs(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	fixture_t *f = arg;
	int i, rc;
	(void)err;

	for (i = 0; i < 3; i++) {
		db_cert_t c = { 0 };

		memcpy(c.serial, f->serial[i], 16);
		c.serial_len = 16;
		c.not_before = time(NULL) - 3600;
		c.not_after = time(NULL) + 86400 * 30;
		c.reason = -1;
		snprintf(c.issuer, sizeof(c.issuer), "issuing");
		snprintf(c.profile, sizeof(c.profile), "tls-server");
		snprintf(c.requester, sizeof(c.requester), "test");
		if ((rc = db_cert_put(txn, &c, NULL, 0)) != 0)
			return rc;
	}
	return 0;
}

static int setup(void **state)
{
	fixture_t *f = calloc(1, sizeof(*f));
	cairn_err_t err = { 0 };
	int i;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/cairn-test-window-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	fixture_ca_make(f->dir, "cairn-test-window", "Window", &f->hsm, &f->db, &f->ca);
	for (i = 0; i < 3; i++) {
		assert_int_equal(util_random(f->serial[i], 16), 0);
		f->serial[i][0] = (uint8_t)(0x20 + i);
	}
	assert_int_equal(db_write(f->db, put_certs, f, &err), 0);
	if (admin_add(f->db, "wendy", "admin", NULL, "test", &err) != 0 ||
	    admin_add(f->db, "walt", "admin", NULL, "test", &err) != 0)
		fail_msg("admin_add: %s", cairn_err_msg(&err));
	fx = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture_t *f = *state;

	X509_free(caller_cert);
	caller_cert = NULL;
	ca_free(f->ca);
	db_close(f->db);
	hsm_close(f->hsm);
	fixture_rmtree(f->dir);
	free(f);
	fx = NULL;
	return 0;
}

/* ---- helpers ---- */

/* A new token of admin name in caller_token. */
static void new_token(const char *name)
{
	cairn_err_t err = { 0 };
	char *t = NULL;

	if (admin_token_create(fx->db, name, "admin", 0, "test", &t, &err) != 0)
		fail_msg("admin_token_create: %s", cairn_err_msg(&err));
	snprintf(caller_token, sizeof(caller_token), "%s", t);
	free(t);
}

/* A certificate of profile for cn (sans: NULL or OpenSSL's SAN list) from the fixture's
 * CA, for the caller to free (ca_issued_free). */
static ca_issued_t *issue(const char *profile, const char *cn, const char *sans)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	cairn_err_t err = { 0 };
	ca_issued_t *is = NULL;
	ca_csr_t *csr = NULL;
	size_t len;
	uint8_t *der;
	ca_request_t req = { .profile = profile, .requester = "test", .channel = "admin" };

	assert_non_null(key);
	der = make_csr(key, cn, sans, &len);
	assert_int_equal(ca_csr_new(der, len, 0, &csr, &err), 0);
	req.csr = csr;
	if (ca_issue(fx->ca, &req, &is, &err) != 0)
		fail_msg("ca_issue: %s", cairn_err_msg(&err));
	ca_csr_free(csr);
	free(der);
	EVP_PKEY_free(key);
	return is;
}

/* A new admin certificate of admin name (its CN) in caller_cert: the caller presents it. */
static void new_cert(const char *name)
{
	ca_issued_t *is = issue(CA_ADMIN_PROFILE, name, NULL);

	X509_free(caller_cert);
	caller_cert = is->cert;
	is->cert = NULL;
	snprintf(caller_cert_hex, sizeof(caller_cert_hex), "%s", is->serial_hex);
	ca_issued_free(is);
}

/* POST path with body as the holder of caller_token (or of caller_cert when set), with
 * hook run right before the route's nth write (NULL: none); returns the HTTP status. */
static int post_at(const char *path, const char *body, void (*hook)(void), int nth,
		   http_reply_t *r)
{
	admin_ctx_t ctx = { .ca = fx->ca, .db = fx->db };
	char authz[160];
	admin_request_t req = { .method = "POST", .path = path,
				.authorization = caller_cert ? NULL : authz,
				.content_type = "application/json", .body = body,
				.body_len = strlen(body), .remote = "127.0.0.1",
				.client_cert = caller_cert };

	snprintf(authz, sizeof(authz), "Bearer %s", caller_token);
	memset(r, 0, sizeof(*r));
	between = hook;
	between_at = nth;
	between_ran = 0;
	admin_handle(&ctx, &req, r);
	between = NULL;
	if (hook != NULL)
		assert_true(between_ran); /* the route did write: the window was there */
	return r->status;
}

/* post_at with hook before the route's first write: between its check and its change. */
static int post(const char *path, const char *body, void (*hook)(void), http_reply_t *r)
{
	return post_at(path, body, hook, 1, r);
}

static int last_audit_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	json_t **last = arg;
	(void)key;
	(void)klen;

	json_decref(*last);
	*last = json_loadb(val, vlen, 0, NULL);
	return 0;
}

/* The last audit event's action and, for admin.denied, its reason, as "action: reason". */
static void last_audit(char *out, size_t cap)
{
	json_t *last = NULL, *d;
	db_txn_t *txn;

	assert_int_equal(db_read_begin(fx->db, &txn), 0);
	assert_int_equal(db_iterate(txn, DB_AUDIT, NULL, 0, last_audit_cb, &last), 0);
	db_txn_end(txn);
	assert_non_null(last);
	d = json_object_get(last, "details");
	snprintf(out, cap, "%s: %s", json_string_value(json_object_get(last, "action")),
		 json_is_string(json_object_get(d, "reason")) ?
			 json_string_value(json_object_get(d, "reason")) : "");
	json_decref(last);
}

/* A refusal in the write: 401 with the Bearer challenge, the detail saying why (which
 * credential the re-check found gone), audited as a refusal. */
static void assert_refused_in_write(http_reply_t *r, const char *why)
{
	char ev[256];

	assert_int_equal(r->status, 401);
	assert_non_null(r->www_authenticate);
	assert_non_null(strstr(r->body, "urn:cairn:problem:unauthorized"));
	if (strstr(r->body, why) == NULL)
		fail_msg("401 without \"%s\": %s", why, r->body);
	last_audit(ev, sizeof(ev));
	assert_string_equal(ev, "admin.denied: credential no longer valid when written");
}

static int cert_status(int i)
{
	db_txn_t *txn;
	db_cert_t c;

	assert_int_equal(db_read_begin(fx->db, &txn), 0);
	assert_int_equal(db_cert_get(txn, fx->serial[i], 16, &c), 0);
	db_txn_end(txn);
	return c.status;
}

static void serial_hex(int i, char out[33])
{
	hex_encode(fx->serial[i], 16, out);
}

/* Who calls: wendy with a new token, or with a new admin certificate. */
static void wendy_token(void)
{
	new_token("wendy");
}

static void wendy_cert(void)
{
	new_cert("wendy");
}

/* POST /certificates/{serial 0}/revoke as a caller fresh() makes, with hook before its
 * write: refused in the write for why and the certificate still valid; then as a new
 * caller fresh() makes, without hook: revoked. */
static void revoke_refused_then_done(void (*fresh)(void), void (*hook)(void), const char *why)
{
	static const char body[] = "{\"reason\": \"keyCompromise\"}";
	http_reply_t r;
	char path[96], hex[33];

	serial_hex(0, hex);
	snprintf(path, sizeof(path), "/certificates/%s/revoke", hex);
	fresh();
	post(path, body, hook, &r);
	assert_refused_in_write(&r, why);
	http_reply_clear(&r);
	assert_int_equal(cert_status(0), DB_CERT_VALID);

	fresh();
	assert_int_equal(post(path, body, NULL, &r), 200);
	http_reply_clear(&r);
	assert_int_equal(cert_status(0), DB_CERT_REVOKED);
}

/* The calls that make a login: an admin, a token, an EST account. */
static const struct {
	const char *path, *body;
} login_calls[] = {
	{ "/admins", "{\"name\": \"zed\", \"role\": \"admin\"}" },
	{ "/tokens", "{\"name\": \"wendy\", \"role\": \"admin\"}" },
	{ "/est/users", "{\"name\": \"dev9\", \"password\": \"correct horse battery\"}" },
};
#define LOGIN_CALLS (sizeof(login_calls) / sizeof(login_calls[0]))

static size_t token_count(void)
{
	db_txn_t *txn;
	size_t n;

	assert_int_equal(db_read_begin(fx->db, &txn), 0);
	n = db_count(txn, DB_TOKENS);
	db_txn_end(txn);
	return n;
}

/* 0 when admin zed and EST account dev9 (what login_calls make) both exist, CAIRN_ENOENT
 * when neither does; fails the test when only one does. */
static int logins_exist(void)
{
	admin_identity_t id;
	est_user_info_t info;
	int disabled, rc = admin_get(fx->db, "zed", &id, &disabled);

	assert_int_equal(est_user_get(fx->db, "dev9", &info), rc);
	return rc;
}

/* Each of login_calls as a caller fresh() makes, with hook before its first write: each
 * refused in its write for why, no token made; then neither admin zed nor EST account
 * dev9. */
static void logins_refused(void (*fresh)(void), void (*hook)(void), const char *why)
{
	http_reply_t r;
	size_t i, tokens0;

	for (i = 0; i < LOGIN_CALLS; i++) {
		fresh();
		tokens0 = token_count();
		post(login_calls[i].path, login_calls[i].body, hook, &r);
		assert_refused_in_write(&r, why);
		http_reply_clear(&r);
		assert_int_equal(token_count(), tokens0);
	}
	assert_int_equal(logins_exist(), CAIRN_ENOENT);
}

/* Each of login_calls as the current caller (fresh() before each, when not NULL): 201;
 * then admin zed and EST account dev9 exist. */
static void logins_done(void (*fresh)(void))
{
	http_reply_t r;
	size_t i;

	for (i = 0; i < LOGIN_CALLS; i++) {
		if (fresh != NULL)
			fresh();
		assert_int_equal(post(login_calls[i].path, login_calls[i].body, NULL, &r), 201);
		http_reply_clear(&r);
	}
	assert_int_equal(logins_exist(), 0);
}

/* ---- tests ---- */

/* Revoking a certificate: the caller's token revoked in the window revokes nothing; the
 * same call with a live token does. */
static void test_revoke_token_gone(void **state)
{
	(void)state;
	revoke_refused_then_done(wendy_token, revoke_caller_token, "API token wendy was revoked");
}

/* The same as an admin signed in with its client certificate: that certificate revoked
 * in the window (by ca_revoke, in its own write) revokes nothing; the same call with a
 * live admin certificate does. */
static void test_revoke_cert_revoked(void **state)
{
	(void)state;
	revoke_refused_then_done(wendy_cert, revoke_caller_cert, "client certificate is revoked");
}

/* Revoking many: the caller's admin disabled in the window revokes none of them. */
static void test_revoke_many_admin_disabled(void **state)
{
	http_reply_t r;
	char body[160], h1[33], h2[33];
	(void)state;

	serial_hex(1, h1);
	serial_hex(2, h2);
	snprintf(body, sizeof(body), "{\"serials\": [\"%s\", \"%s\"], \"reason\": \"superseded\"}",
		 h1, h2);
	new_token("walt");
	post("/revocations", body, disable_caller, &r);
	assert_refused_in_write(&r, "admin walt is disabled");
	http_reply_clear(&r);
	assert_int_equal(cert_status(1), DB_CERT_VALID);
	assert_int_equal(cert_status(2), DB_CERT_VALID);

	new_token("wendy");
	assert_int_equal(post("/revocations", body, NULL, &r), 200);
	assert_non_null(strstr(r.body, "\"revoked\": 2"));
	http_reply_clear(&r);
	assert_int_equal(cert_status(1), DB_CERT_REVOKED);
	assert_int_equal(cert_status(2), DB_CERT_REVOKED);
}

/* Logins: no admin, token or EST account is made on the authority of a token revoked in
 * the window. */
static void test_logins_token_gone(void **state)
{
	(void)state;
	logins_refused(wendy_token, revoke_caller_token, "API token wendy was revoked");
	logins_done(wendy_token);
}

/* Logins: none is made on the authority of an admin certificate put on hold
 * (certificateHold) in the window; the hold released, the same certificate makes each. */
static void test_logins_cert_held(void **state)
{
	(void)state;
	logins_refused(wendy_cert, hold_caller_cert, "client certificate is on hold");
	caller_cert_revoke(CA_REASON_REMOVE_FROM_CRL);
	logins_done(NULL);
}

/* A caller whose own change ends its authority (revoking its own token) is allowed it:
 * the guard runs before the change. */
static void test_own_token_revoked_by_itself(void **state)
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	http_reply_t r;
	char path[64], id[17];
	(void)state;

	new_token("wendy");
	SHA256((const uint8_t *)caller_token, strlen(caller_token), md);
	hex_encode(md, 8, id);
	snprintf(path, sizeof(path), "/tokens/%s/revoke", id);
	assert_int_equal(post(path, "{}", NULL, &r), 200);
	http_reply_clear(&r);
	/* and now it is gone: the next call is refused at the door */
	assert_int_equal(post("/admins", "{\"name\": \"zoe\", \"role\": \"admin\"}", NULL, &r), 401);
	http_reply_clear(&r);
}

/* A replacement campaign is decided by its creating write; the marking that follows is
 * done whoever asked: the caller's token revoked right after the creation (before the
 * first marking write) still leaves every matching certificate marked, and the answer is
 * the campaign (the guard set aside, db_guard_swap), not a failure halfway. */
static void test_replace_marking_follows(void **state)
{
	http_reply_t r;
	char body[160], by[32], cn[32], san[40];
	int i;
	(void)state;

	for (i = 0; i < 2; i++) { /* two certificates of this CA (the fixture's have no DER) */
		snprintf(cn, sizeof(cn), "m%d.example", i);
		snprintf(san, sizeof(san), "DNS:%s", cn);
		ca_issued_free(issue("tls-server", cn, san));
	}
	time_rfc3339(time(NULL) + 7 * 86400, by, sizeof(by));
	snprintf(body, sizeof(body), "{\"profile\": \"tls-server\", \"by\": \"%s\"}", by);
	new_token("wendy");
	assert_int_equal(post_at("/replace", body, revoke_caller_token, 2, &r), 201);
	assert_non_null(strstr(r.body, "\"marked\": 2"));
	http_reply_clear(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_revoke_token_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke_cert_revoked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke_many_admin_disabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logins_token_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logins_cert_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_own_token_revoked_by_itself, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_marking_follows, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
