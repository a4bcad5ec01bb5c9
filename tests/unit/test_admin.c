/* SPDX-License-Identifier: MIT */
/* Unit tests for admin/: API tokens (hashed, roles, expiry), routing, auth and role refusals audited. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "admin/admin.h"
#include "audit/audit.h"

static db_t *db;
static char dir[] = "/tmp/cairn-test-admin-XXXXXX";

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	char path[64];
	(void)state;

	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/db", dir);
	return db_open(path, &db, NULL);
}

static int teardown(void **state)
{
	(void)state;
	db_close(db);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static size_t count(db_table_t t)
{
	db_txn_t *txn;
	size_t n;

	assert_int_equal(db_read_begin(db, &txn), 0);
	n = db_count(txn, t);
	db_txn_end(txn);
	return n;
}

static void test_token_roundtrip(void **state)
{
	admin_identity_t id;
	cairn_err_t err = { 0 };
	char *token = NULL, header[256];
	uint8_t hash[SHA256_DIGEST_LENGTH];
	db_txn_t *txn;
	const void *val;
	size_t vlen, events = count(DB_AUDIT);
	(void)state;

	assert_int_equal(admin_add(db, "alice", "operator", NULL, "test", &err), 0);
	assert_int_equal(admin_token_create(db, "alice", "operator", 0, "test", &token, &err), 0);
	assert_non_null(token);
	assert_true(strncmp(token, ADMIN_TOKEN_PREFIX, strlen(ADMIN_TOKEN_PREFIX)) == 0);
	assert_int_equal(count(DB_AUDIT), events + 2);

	/* Only the hash is stored, and the record does not contain the secret. */
	SHA256((const unsigned char *)token, strlen(token), hash);
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_get(txn, DB_TOKENS, hash, sizeof(hash), &val, &vlen), 0);
	assert_null(memmem(val, vlen, token, strlen(token)));
	db_txn_end(txn);

	snprintf(header, sizeof(header), "Bearer %s", token);
	assert_int_equal(admin_authenticate(db, header, &id, &err), 0);
	assert_string_equal(id.name, "alice");
	assert_string_equal(id.role, "operator");

	header[strlen(header) - 1] ^= 1;
	assert_int_equal(admin_authenticate(db, header, &id, &err), CAIRN_EAUTH);
	assert_int_equal(admin_authenticate(db, NULL, &id, &err), CAIRN_EAUTH);
	assert_int_equal(admin_authenticate(db, "Basic abc", &id, &err), CAIRN_EAUTH);
	assert_int_equal(admin_authenticate(db, "Bearer ", &id, &err), CAIRN_EAUTH);
	free(token);
}

static void test_token_rules(void **state)
{
	admin_identity_t id;
	cairn_err_t err = { 0 };
	char *token = NULL, header[256];
	(void)state;

	assert_int_equal(admin_token_create(db, "bob", "superuser", 0, "test", &token, &err),
			 CAIRN_EINVAL);
	assert_null(token);
	assert_non_null(strstr(err.msg, "superuser"));
	assert_int_equal(admin_token_create(db, "", "admin", 0, "test", &token, &err), CAIRN_EINVAL);

	/* A token never creates an admin: one admin cannot mint a second identity. */
	{
		admin_identity_t who;
		int disabled;
		assert_int_equal(admin_token_create(db, "sock2", "approver", 0, "test", &token,
						    &err), CAIRN_ENOENT);
		assert_null(token);
		assert_non_null(strstr(err.msg, "admin add"));
		assert_int_equal(admin_get(db, "sock2", &who, &disabled), CAIRN_ENOENT);
	}

	/* Expired tokens are refused with a reason. */
	assert_int_equal(admin_add(db, "old", "admin", NULL, "test", &err), 0);
	assert_int_equal(admin_token_create(db, "old", "admin", 1000, "test", &token, &err), 0);
	snprintf(header, sizeof(header), "Bearer %s", token);
	assert_int_equal(admin_authenticate(db, header, &id, &err), CAIRN_EAUTH);
	assert_non_null(strstr(err.msg, "expired"));
	free(token);
}

static void call(const char *method, const char *path, const char *authz, http_reply_t *reply)
{
	admin_ctx_t ctx = { .ca = NULL, .db = db,  };
	admin_request_t req = { .method = method, .path = path, .authorization = authz,
				.content_type = "application/json", .body = "{}", .body_len = 2,
				.remote = "127.0.0.1" };

	memset(reply, 0, sizeof(*reply));
	admin_handle(&ctx, &req, reply);
}

static void test_routing_and_refusals(void **state)
{
	cairn_err_t err = { 0 };
	http_reply_t r;
	char *token = NULL, header[256];
	size_t events;
	(void)state;

	call("GET", "/nope", NULL, &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.content_type, "application/problem+json");
	http_reply_clear(&r);
	call("DELETE", "/certificates", NULL, &r);
	assert_int_equal(r.status, 405);
	http_reply_clear(&r);

	events = count(DB_AUDIT);
	call("POST", "/certificates", "Bearer cairn_nothing", &r);
	assert_int_equal(r.status, 401);
	assert_non_null(r.www_authenticate);
	assert_non_null(strstr(r.body, "urn:cairn:problem:unauthorized"));
	assert_int_equal(count(DB_AUDIT), events + 1); /* the refusal is audited */
	http_reply_clear(&r);

	assert_int_equal(admin_add(db, "carol", "auditor", NULL, "test", &err), 0);
	assert_int_equal(admin_token_create(db, "carol", "auditor", 0, "test", &token, &err), 0);
	snprintf(header, sizeof(header), "Bearer %s", token);
	events = count(DB_AUDIT);
	call("POST", "/certificates", header, &r);
	assert_int_equal(r.status, 403);
	assert_non_null(strstr(r.body, "auditor"));
	assert_int_equal(count(DB_AUDIT), events + 1);
	http_reply_clear(&r);

	call("GET", "/certificates/zz", header, &r);
	assert_int_equal(r.status, 400);
	http_reply_clear(&r);
	call("GET", "/certificates/00aa", header, &r);
	assert_int_equal(r.status, 404);
	http_reply_clear(&r);
	free(token);
}

/* A query as libmicrohttpd keeps it: every key=value in order, repeats included. */
typedef struct fake_query {
	const char *kv[4][2];
	size_t n;
} fake_query_t;

static const char *fq_get(void *ctx, const char *key)
{
	const fake_query_t *q = ctx;
	size_t i;

	for (i = 0; i < q->n; i++)
		if (strcmp(q->kv[i][0], key) == 0)
			return q->kv[i][1];
	return NULL;
}

static size_t fq_count(void *ctx, const char *key)
{
	const fake_query_t *q = ctx;
	size_t i, n = 0;

	for (i = 0; i < q->n; i++)
		n += strcmp(q->kv[i][0], key) == 0;
	return n;
}

static void call_query(const char *path, const char *authz, fake_query_t *q, http_reply_t *reply)
{
	admin_ctx_t ctx = { .ca = NULL, .db = db };
	admin_request_t req = { .method = "GET", .path = path, .authorization = authz,
				.remote = "127.0.0.1", .query = fq_get, .query_count = fq_count,
				.query_ctx = q };

	memset(reply, 0, sizeof(*reply));
	admin_handle(&ctx, &req, reply);
}

/* A parameter given twice or empty, or a number that is not only digits, is a 400
 * naming it: not the first value, not the default. */
static void test_query_refusals(void **state)
{
	cairn_err_t err = { 0 };
	fake_query_t twice = { { { "limit", "5" }, { "limit", "7" } }, 2 };
	fake_query_t empty = { { { "action", "admin." }, { "limit", "" } }, 2 };
	fake_query_t plus = { { { "limit", "+5" } }, 1 };
	fake_query_t good = { { { "limit", "5" } }, 1 };
	http_reply_t r;
	char *token = NULL, header[256];
	(void)state;

	assert_int_equal(admin_add(db, "quinn", "auditor", NULL, "test", &err), 0);
	assert_int_equal(admin_token_create(db, "quinn", "auditor", 0, "test", &token, &err), 0);
	snprintf(header, sizeof(header), "Bearer %s", token);
	call_query("/audit", header, &twice, &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "\\\"limit\\\" is given more than once"));
	http_reply_clear(&r);
	call_query("/audit", header, &empty, &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "\\\"limit\\\" is empty"));
	http_reply_clear(&r);
	call_query("/audit", header, &plus, &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "limit must be an integer 1..1000"));
	http_reply_clear(&r);
	call_query("/audit", header, &good, &r);
	assert_int_equal(r.status, 200);
	http_reply_clear(&r);
	free(token);
}

static void test_admins_and_revocation(void **state)
{
	cairn_err_t err = { 0 };
	admin_identity_t id;
	char *token = NULL, header[256], tid[17];
	json_t *list;
	int disabled = -1;
	size_t i;
	json_t *it;
	(void)state;

	assert_int_equal(admin_add(db, "erin", "approver", NULL, "test", &err), 0);
	assert_int_equal(admin_add(db, "erin", "approver", NULL, "test", &err), CAIRN_EEXIST);
	assert_int_equal(admin_add(db, "bad name", "approver", NULL, "test", &err), CAIRN_EINVAL);
	assert_int_equal(admin_add(db, "frank", "root", NULL, "test", &err), CAIRN_EINVAL);
	assert_int_equal(admin_get(db, "erin", &id, &disabled), 0);
	assert_string_equal(id.role, "approver");
	assert_int_equal(disabled, 0);
	assert_int_equal(admin_get(db, "nobody", &id, &disabled), CAIRN_ENOENT);

	/* A token carries its admin's role; another role for the same admin is refused. */
	assert_int_equal(admin_token_create(db, "erin", "admin", 0, "test", &token, &err),
			 CAIRN_ECONFLICT);
	assert_int_equal(admin_token_create(db, "erin", "approver", 0, "test", &token, &err), 0);
	snprintf(header, sizeof(header), "Bearer %s", token);
	assert_int_equal(admin_authenticate(db, header, &id, &err), 0);
	assert_string_equal(id.name, "erin");
	admin_token_id(token, tid);

	list = admin_token_list(db);
	assert_non_null(list);
	json_array_foreach(list, i, it)
		assert_null(json_object_get(it, "token")); /* never the secret */
	json_decref(list);

	/* Revoked: refused at once, and once only. */
	assert_int_equal(admin_token_revoke(db, tid, "test", &err), 0);
	assert_int_equal(admin_authenticate(db, header, &id, &err), CAIRN_EAUTH);
	assert_non_null(strstr(err.msg, "revoked"));
	assert_int_equal(admin_token_revoke(db, tid, "test", &err), CAIRN_ECONFLICT);
	assert_int_equal(admin_token_revoke(db, "0000000000000000", "test", &err), CAIRN_ENOENT);
	assert_int_equal(admin_token_revoke(db, "zz", "test", &err), CAIRN_ENOENT);
	free(token);

	/* Disabled admins lose their tokens and get no new ones. */
	assert_int_equal(admin_token_create(db, "erin", "approver", 0, "test", &token, &err), 0);
	snprintf(header, sizeof(header), "Bearer %s", token);
	assert_int_equal(admin_disable(db, "erin", "test", &err), 0);
	assert_int_equal(admin_disable(db, "erin", "test", &err), CAIRN_ECONFLICT);
	assert_int_equal(admin_disable(db, "nobody", "test", &err), CAIRN_ENOENT);
	assert_int_equal(admin_authenticate(db, header, &id, &err), CAIRN_EAUTH);
	assert_non_null(strstr(err.msg, "disabled"));
	free(token);
	assert_int_equal(admin_token_create(db, "erin", "approver", 0, "test", &token, &err),
			 CAIRN_EDENIED);
	list = admin_list(db);
	assert_true(json_array_size(list) >= 1);
	json_decref(list);

	/* Without a policy engine (as in the fuzz target) the policy endpoints answer, not crash. */
	{
		http_reply_t r;
		char *op = NULL;
		assert_int_equal(admin_add(db, "gina", "admin", NULL, "test", &err), 0);
		assert_int_equal(admin_token_create(db, "gina", "admin", 0, "test", &op, &err), 0);
		snprintf(header, sizeof(header), "Bearer %s", op);
		call("GET", "/policy", header, &r);
		assert_int_equal(r.status, 503);
		http_reply_clear(&r);
		call("GET", "/requests", header, &r);
		assert_int_equal(r.status, 500);
		http_reply_clear(&r);
		call("POST", "/requests/00112233445566778899aabbccddeeff/approve", header, &r);
		assert_int_equal(r.status, 400);
		http_reply_clear(&r);
		call("POST", "/policy/reload", header, &r);
		assert_int_equal(r.status, 422);
		http_reply_clear(&r);
		free(op);
	}
}

/* The created_seq an admin record carries. */
static uint64_t created_seq(const char *name)
{
	json_t *list = admin_list(db), *it;
	uint64_t seq = 0;
	size_t i;

	json_array_foreach(list, i, it)
		if (strcmp(json_string_value(json_object_get(it, "name")), name) == 0)
			seq = (uint64_t)json_integer_value(json_object_get(it, "created_seq"));
	json_decref(list);
	return seq;
}

static void test_approver_counts(void **state)
{
	cairn_err_t err = { 0 };
	db_txn_t *txn;
	uint64_t hal, ivy;
	(void)state;

	assert_int_equal(admin_add(db, "hal", "approver", NULL, "test", &err), 0);
	assert_int_equal(admin_add(db, "ivy", "approver", NULL, "test", &err), 0);
	hal = created_seq("hal");
	ivy = created_seq("ivy");
	assert_true(hal > 0 && ivy > hal);
	assert_int_equal(db_read_begin(db, &txn), 0);
	/* A request submitted between the two: hal counts, ivy (added after it) does not. */
	assert_int_equal(admin_approver_counts(txn, "admin:hal", hal + 0, NULL, &err), 0);
	assert_int_equal(admin_approver_counts(txn, "admin:ivy", ivy - 1, NULL, &err),
			 CAIRN_EDENIED);
	assert_non_null(strstr(err.msg, "added after the request"));
	assert_int_equal(admin_approver_counts(txn, "admin:ivy", ivy + 5, NULL, &err), 0);
	assert_int_equal(admin_approver_counts(txn, "admin:nobody", ivy + 5, NULL, &err),
			 CAIRN_EDENIED);
	assert_int_equal(admin_approver_counts(txn, "acme:acct/1", ivy + 5, NULL, &err),
			 CAIRN_EDENIED);
	db_txn_end(txn);
	/* Disabled since: no longer counts. */
	assert_int_equal(admin_disable(db, "hal", "test", &err), 0);
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(admin_approver_counts(txn, "admin:hal", ivy + 5, NULL, &err),
			 CAIRN_EDENIED);
	assert_non_null(strstr(err.msg, "disabled"));
	db_txn_end(txn);
}

/* Who is told of a pending request: the same people who could approve it. */
static void test_approver_addresses(void **state)
{
	cairn_err_t err = { 0 };
	json_t *to;
	uint64_t seq;
	(void)state;

	assert_int_equal(admin_add(db, "pia", "approver", "pia@x.test", "test", &err), 0);
	assert_int_equal(admin_add(db, "quin", "approver", NULL, "test", &err), 0);
	assert_int_equal(admin_add(db, "rae", "auditor", "rae@x.test", "test", &err), 0);
	assert_int_equal(admin_add(db, "sol", "admin", "sol@x.test", "test", &err), 0);
	assert_int_equal(admin_add(db, "tao", "operator", "tao@x.test", "test", &err), 0);
	assert_int_equal(admin_add(db, "bad", "approver", "a@x.test\r\nBcc: e@v.test", "test", &err),
			 CAIRN_EINVAL);
	seq = created_seq("tao");
	assert_int_equal(admin_add(db, "uma", "approver", "uma@x.test", "test", &err), 0);
	to = json_array();
	/* Default rule (approver): pia and sol; not quin (no address), rae (auditor), tao
	 * (operator), uma (added after the request), nor sol when sol asked. */
	assert_int_equal(admin_approver_addresses(db, "", "admin:tao", seq, to), 2);
	assert_string_equal(json_string_value(json_array_get(to, 0)), "pia@x.test");
	assert_string_equal(json_string_value(json_array_get(to, 1)), "sol@x.test");
	json_array_clear(to);
	assert_int_equal(admin_approver_addresses(db, "", "admin:sol", seq, to), 1);
	json_array_clear(to);
	assert_int_equal(admin_approver_addresses(db, "operator", "acme:acct/x", seq, to), 2);
	assert_string_equal(json_string_value(json_array_get(to, 1)), "tao@x.test");
	json_array_clear(to);
	assert_int_equal(admin_owner_address(db, "admin:pia", to), 0);
	assert_int_equal(admin_owner_address(db, "admin:quin", to), CAIRN_ENOENT);
	assert_int_equal(admin_owner_address(db, "est:user/pia", to), CAIRN_ENOENT);
	assert_int_equal(json_array_size(to), 1);
	json_decref(to);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_roundtrip),
		cmocka_unit_test(test_token_rules),
		cmocka_unit_test(test_routing_and_refusals),
		cmocka_unit_test(test_query_refusals),
		cmocka_unit_test(test_admins_and_revocation),
		cmocka_unit_test(test_approver_counts),
		cmocka_unit_test(test_approver_addresses),
	};
	return cmocka_run_group_tests_name("admin", tests, setup, teardown);
}
