/* SPDX-License-Identifier: MIT */
/* Unit tests for acme/ status moves (the table, and deactivation against a validation result through the real LMDB store, in a forced order) and for the store's parsed forms kept on write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "acme/acme_int.h"
#include "tests/unit/acme_fixture.h"
#include "tests/unit/ca_fixture.h"

#define AUTHZ "AAAAAAAAAAAAAAAAAAAAAA"
#define ACCT "BBBBBBBBBBBBBBBBBBBBBB"
#define VKEY "v/" ACCT "/dns:race.example.test"

typedef struct fixture {
	char dir[512];
	db_t *db;
	acme_t *a;   /* only the store of it is used */
} fixture_t;

static int setup(void **state)
{
	fixture_t *f = calloc(1, sizeof(*f));

	if (f == NULL ||
	    fixture_acme_open("acme", "https://ca.test/acme/", f->dir, sizeof(f->dir), &f->db,
			      &f->a) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture_t *f = *state;

	fixture_acme_close(f->dir, f->db, f->a);
	free(f);
	return 0;
}

typedef struct put_arg {
	acme_t *a;
	const char *key;
	json_t *obj;
	int fail;    /* roll the write back after the put */
} put_arg_t;

static int put_obj(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	put_arg_t *p = arg;
	int rc = acme_txn_put(p->a, txn, p->key, p->obj);

	if (rc == 0 && p->fail)
		rc = cairn_err_set(err, CAIRN_ECONFLICT, "rolled back on purpose");
	return rc;
}

/* Stores a pending authorization with one challenge in chall_status, expiring at expires. */
static void store_authz(fixture_t *f, const char *status, const char *chall_status,
			int64_t expires)
{
	json_t *z = json_pack("{s:s, s:s, s:s, s:I, s:{s:s, s:s}, s:b, s:[{s:s, s:s, s:s}]}",
			      "id", AUTHZ, "acct", ACCT, "status", status, "expires",
			      (json_int_t)expires, "identifier", "type", "dns", "value",
			      "race.example.test", "wildcard", 0, "challs", "type", "http-01",
			      "status", chall_status, "token", "tok");
	cairn_err_t err = { 0 };

	put_arg_t p = { f->a, "z/" AUTHZ, z, 0 };

	assert_non_null(z);
	assert_int_equal(db_write(f->db, put_obj, &p, &err), 0);
	json_decref(z);
}

static json_t *load_authz(fixture_t *f)
{
	json_t *z = NULL;

	assert_int_equal(acme_get(f->a, "z/" AUTHZ, &z), 0);
	return z;
}

static json_t *load_order(fixture_t *f)
{
	json_t *o = NULL;

	assert_int_equal(acme_get(f->a, "o/CCCCCCCCCCCCCCCCCCCCCC", &o), 0);
	return o;
}

static const char *chall_status(const json_t *z)
{
	return json_string_value(
		json_object_get(json_array_get(json_object_get(z, "challs"), 0), "status"));
}

static int reuse_indexed(fixture_t *f)
{
	char id[64];

	return acme_get_str(f->a, VKEY, id, sizeof(id)) == 0;
}

typedef struct move_case {
	const char *from, *to;
	int allowed;
} move_case_t;

static void test_table(void **state)
{
	static const move_case_t authz[] = {
		{ "pending", "valid", 1 },       { "pending", "invalid", 1 },
		{ "pending", "deactivated", 1 }, { "valid", "deactivated", 1 },
		{ "valid", "revoked", 1 },       { "valid", "invalid", 0 },
		{ "valid", "pending", 0 },       { "deactivated", "valid", 0 },
		{ "deactivated", "pending", 0 }, { "deactivated", "deactivated", 0 },
		{ "invalid", "valid", 0 },       { "invalid", "deactivated", 0 },
		{ "revoked", "valid", 0 },       { "revoked", "deactivated", 0 },
	};
	static const move_case_t chall[] = {
		/* pending -> valid|invalid: the result of a validation held "processing" in
		 * memory only (validate.c); stored "processing" is a parked one */
		{ "pending", "processing", 1 }, { "pending", "valid", 1 },
		{ "pending", "invalid", 1 },    { "pending", "deactivated", 0 },
		{ "processing", "valid", 1 },   { "processing", "invalid", 1 },
		{ "invalid", "valid", 0 },      { "invalid", "processing", 0 },
		{ "valid", "invalid", 0 },
	};
	json_t *z = json_pack("{s:s, s:I}", "status", "pending", "expires",
			      (json_int_t)time(NULL) + 3600);
	json_t *c = json_object();
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(authz) / sizeof(authz[0]); i++) {
		json_object_set_new(z, "status", json_string(authz[i].from));
		if (acme_authz_may_move(z, authz[i].to) != authz[i].allowed)
			fail_msg("authorization %s -> %s", authz[i].from, authz[i].to);
	}
	for (i = 0; i < sizeof(chall) / sizeof(chall[0]); i++) {
		json_object_set_new(c, "status", json_string(chall[i].from));
		if (acme_chall_may_move(c, chall[i].to) != chall[i].allowed)
			fail_msg("challenge %s -> %s", chall[i].from, chall[i].to);
	}
	/* expired is derived from the time, and final too */
	json_object_set_new(z, "status", json_string("pending"));
	json_object_set_new(z, "expires", json_integer((json_int_t)time(NULL) - 1));
	assert_string_equal(acme_authz_status(z), "expired");
	assert_false(acme_authz_may_move(z, "valid"));
	assert_false(acme_authz_may_move(z, "deactivated"));
	json_decref(z);
	json_decref(c);
}

/* Control: with nobody in the way, a valid result validates and is indexed for reuse,
 * whether the challenge is stored "pending" (the validation ran in memory) or
 * "processing" (parked at a clean stop, validated at the next start). */
static void test_result_validates(void **state)
{
	static const char *const stored[] = { "processing", "pending" };
	fixture_t *f = *state;
	json_t *z;
	size_t i;

	for (i = 0; i < 2; i++) {
		store_authz(f, "pending", stored[i], (int64_t)time(NULL) + 3600);
		assert_int_equal(acme_chall_result(f->a, AUTHZ, 0, NULL, 0), 0);
		z = load_authz(f);
		assert_string_equal(acme_authz_status(z), "valid");
		assert_string_equal(chall_status(z), "valid");
		assert_true(reuse_indexed(f));
		json_decref(z);
	}
}

/* The same race with the challenge stored "pending" (its validation in memory only). */
static void test_deactivation_wins_pending(void **state)
{
	fixture_t *f = *state;
	cairn_err_t err = { 0 };
	json_t *z;

	store_authz(f, "pending", "pending", (int64_t)time(NULL) + 3600);
	assert_int_equal(acme_authz_deactivate(f->a, AUTHZ, NULL, &err), 0);
	assert_int_equal(acme_chall_result(f->a, AUTHZ, 0, NULL, 0), 0);
	z = load_authz(f);
	assert_string_equal(acme_authz_status(z), "deactivated");
	assert_string_equal(chall_status(z), "invalid");
	assert_false(reuse_indexed(f));
	json_decref(z);
}

/* The race of issue 10: the deactivation commits first, then the worker's (successful)
 * result arrives. The authorization stays deactivated and is not indexed for reuse. */
static void test_deactivation_wins(void **state)
{
	fixture_t *f = *state;
	cairn_err_t err = { 0 };
	json_t *z;

	store_authz(f, "pending", "processing", (int64_t)time(NULL) + 3600);
	assert_int_equal(acme_authz_deactivate(f->a, AUTHZ, NULL, &err), 0);
	assert_int_equal(acme_chall_result(f->a, AUTHZ, 0, NULL, 0), 0);
	z = load_authz(f);
	assert_string_equal(acme_authz_status(z), "deactivated");
	assert_string_equal(chall_status(z), "invalid");
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(
				       json_array_get(json_object_get(z, "challs"), 0), "error"),
							      "detail")),
			       "deactivated"));
	assert_false(reuse_indexed(f));
	json_decref(z);
	/* final: deactivating again is refused, nothing moves it back */
	assert_int_equal(acme_authz_deactivate(f->a, AUTHZ, NULL, &err), CAIRN_EINVAL);
	assert_int_equal(acme_chall_result(f->a, AUTHZ, 0, NULL, 0), 0);
	z = load_authz(f);
	assert_string_equal(acme_authz_status(z), "deactivated");
	json_decref(z);
}

/* A result for an authorization that expired while it was validated changes nothing of it. */
static void test_expired_stays(void **state)
{
	fixture_t *f = *state;
	json_t *z;

	store_authz(f, "pending", "processing", (int64_t)time(NULL) - 1);
	assert_int_equal(acme_chall_result(f->a, AUTHZ, 0, NULL, 0), 0);
	z = load_authz(f);
	assert_string_equal(acme_authz_status(z), "expired");
	assert_string_equal(json_string_value(json_object_get(z, "status")), "pending");
	assert_false(reuse_indexed(f));
	json_decref(z);
}

/* A failing result never turns a valid authorization invalid, nor a valid challenge. */
static void test_valid_stays(void **state)
{
	fixture_t *f = *state;
	json_t *z, *e = acme_problem_obj("incorrectResponse", "late failure", NULL);

	store_authz(f, "valid", "valid", (int64_t)time(NULL) + 3600);
	assert_int_equal(acme_chall_result(f->a, AUTHZ, 0, e, 1), 0);
	z = load_authz(f);
	assert_string_equal(acme_authz_status(z), "valid");
	assert_string_equal(chall_status(z), "valid");
	json_decref(z);
	store_authz(f, "valid", "processing", (int64_t)time(NULL) + 3600);
	assert_int_equal(acme_chall_result(f->a, AUTHZ, 0, e, 1), 0);
	z = load_authz(f);
	assert_string_equal(acme_authz_status(z), "valid");
	json_decref(z);
	json_decref(e);
}

/* ---- failed validations per hour: f/ACCT/NAME/TIME AUTHZ entries ---- */

#define FPREFIX "f/" ACCT "/race.example.test/"

typedef struct str_puts {
	const char *keys[4];
} str_puts_t;

static int put_strs(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	str_puts_t *p = arg;
	size_t i;
	int rc = 0;
	(void)err;

	for (i = 0; i < 4 && p->keys[i] != NULL && rc == 0; i++)
		rc = acme_txn_put_str(txn, p->keys[i], "");
	return rc;
}

typedef struct f_list {
	char keys[8][128];
	size_t n;
} f_list_t;

static int list_f(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	f_list_t *l = arg;
	(void)val;
	(void)vlen;

	if (klen < strlen(FPREFIX) || memcmp(key, FPREFIX, strlen(FPREFIX)) != 0 || l->n == 8)
		return 1;
	snprintf(l->keys[l->n++], sizeof(l->keys[0]), "%.*s", (int)klen, (const char *)key);
	return 0;
}

static void f_entries(fixture_t *f, f_list_t *l)
{
	db_txn_t *txn;

	memset(l, 0, sizeof(*l));
	assert_int_equal(db_read_begin(f->db, &txn), 0);
	assert_true(db_iterate(txn, DB_ACME, FPREFIX, strlen(FPREFIX), list_f, l) >= 0);
	db_txn_end(txn);
}

/* A failure is recorded with its result and deletes its name's entries older than the
 * hour; the hour's count sees the recent ones only; a success records nothing. */
static void test_failures_kept_an_hour(void **state)
{
	fixture_t *f = *state;
	int64_t now = (int64_t)time(NULL), first = 0;
	char old1[128], old2[128], recent[128];
	str_puts_t p = { { old1, old2, recent, NULL } };
	json_t *e = acme_problem_obj("incorrectResponse", "wrong answer", NULL);
	cairn_err_t err = { 0 };
	db_txn_t *txn;
	f_list_t l;

	snprintf(old1, sizeof(old1), FPREFIX "%016llxOLD1", (unsigned long long)(now - 7200));
	snprintf(old2, sizeof(old2), FPREFIX "%016llxOLD2", (unsigned long long)(now - 3601));
	snprintf(recent, sizeof(recent), FPREFIX "%016llxNEW1", (unsigned long long)(now - 100));
	assert_int_equal(db_write(f->db, put_strs, &p, &err), 0);
	assert_int_equal(db_read_begin(f->db, &txn), 0);
	assert_int_equal(acme_hour_count(txn, FPREFIX, now, 10, &first), 1);
	assert_int_equal(first, now - 100);
	db_txn_end(txn);

	store_authz(f, "pending", "processing", now + 3600);
	assert_int_equal(acme_chall_result(f->a, AUTHZ, 0, e, 1), 0);
	f_entries(f, &l);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.keys[0], recent);
	assert_int_equal(strncmp(l.keys[1], FPREFIX, strlen(FPREFIX)), 0);
	assert_non_null(strstr(l.keys[1], AUTHZ));
	assert_int_equal(db_read_begin(f->db, &txn), 0);
	assert_int_equal(acme_hour_count(txn, FPREFIX, now, 10, &first), 2);
	assert_int_equal(acme_hour_count(txn, FPREFIX, now, 1, &first), 1); /* stops at limit */
	assert_int_equal(acme_hour_count(txn, FPREFIX, now + 3550, 10, &first), 1); /* NEW1 left */
	db_txn_end(txn);

	/* a success (or a result not counted) writes no entry */
	store_authz(f, "pending", "processing", now + 3600);
	assert_int_equal(acme_chall_result(f->a, AUTHZ, 0, NULL, 0), 0);
	f_entries(f, &l);
	assert_int_equal(l.n, 2);
	json_decref(e);
}

/* ---- finalize: the order's move to valid commits with the certificate, or neither ---- */

#define ORDER "CCCCCCCCCCCCCCCCCCCCCC"

static int put_order(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	(void)err;
	return acme_txn_put(NULL, txn, "o/" ORDER, arg);
}

/* What finalize hands ca_issue as its record_extra: the order turns valid. */
static int order_valid(db_txn_t *txn, const char *serial_hex, void *arg, cairn_err_t *err)
{
	acme_order_change_t ch = { 0 };

	ch.status = "valid";
	ch.serial = serial_hex;
	ch.expect = "pending";
	ch.acct = ACCT;
	return acme_order_change_txn(NULL, txn, ORDER, &ch, (json_t **)arg, err);
}

/* A small self-signed certificate with a random serial (the record needs no more). */
static X509 *small_cert(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	uint8_t rnd[16];
	BIGNUM *bn;

	assert_non_null(k);
	assert_non_null(x);
	assert_int_equal(util_random(rnd, sizeof(rnd)), 0);
	rnd[0] &= 0x7f;
	rnd[0] |= 0x01;
	bn = BN_bin2bn(rnd, sizeof(rnd), NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"o.example.test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	EVP_PKEY_free(k);
	return x;
}

static int cert_stored(fixture_t *f, X509 *x)
{
	uint8_t serial[DB_SERIAL_MAX];
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	int len = BN_bn2bin(bn, serial), rc;
	db_txn_t *txn;
	db_cert_t c;

	BN_free(bn);
	assert_int_equal(db_read_begin(f->db, &txn), 0);
	rc = db_cert_get(txn, serial, (size_t)len, &c);
	db_txn_end(txn);
	return rc == 0;
}

static void test_finalize_commits_with_cert(void **state)
{
	fixture_t *f = *state;
	json_t *o = json_pack("{s:s, s:s, s:s}", "id", ORDER, "acct", ACCT, "status", "pending");
	json_t *res = NULL, *owner = NULL;
	ca_record_extra_t extra = { NULL, order_valid, &res };
	cairn_err_t err = { 0 };
	X509 *x1 = small_cert(), *x2 = small_cert();
	char key[64];

	assert_int_equal(db_write(f->db, put_order, o, &err), 0);
	assert_int_equal(ca_record_with(f->db, x1, "issuing", "tls-server", "acme:acct/" ACCT,
					"cert.issue", &extra, &err), 0);
	assert_true(cert_stored(f, x1));
	assert_non_null(res);
	assert_string_equal(json_string_value(json_object_get(res, "status")), "valid");
	json_decref(o);
	o = load_order(f);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "valid");
	snprintf(key, sizeof(key), "s/%s", json_string_value(json_object_get(o, "cert")));
	assert_int_equal(acme_get(f->a, key, &owner), 0);
	assert_string_equal(json_string_value(json_object_get(owner, "order")), ORDER);
	/* The order is valid now: a second certificate for it is rolled back whole. */
	assert_int_equal(ca_record_with(f->db, x2, "issuing", "tls-server", "acme:acct/" ACCT,
					"cert.issue", &extra, &err), CAIRN_ECONFLICT);
	assert_false(cert_stored(f, x2));
	json_decref(o);
	o = load_order(f);
	assert_string_equal(json_string_value(json_object_get(o, "cert")),
			    key + 2); /* still the first certificate */
	json_decref(o);
	json_decref(owner);
	json_decref(res);
	X509_free(x1);
	X509_free(x2);
}

/* ---- the store: parsed forms kept on write, never served for other bytes ---- */

static unsigned long parses(fixture_t *f)
{
	return atomic_load(&f->a->parses);
}

static int put_raw(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	(void)err;
	return db_put(txn, DB_ACME, "z/" AUTHZ, strlen("z/" AUTHZ), arg, strlen(arg), 0);
}

/* A record written through the store is read back (by a request or by the writer's
 * read-modify-write) without parsing it again, and equal to what was written. */
static void test_store_write_kept(void **state)
{
	fixture_t *f = *state;
	json_t *z, *z2;
	unsigned long p0;

	store_authz(f, "pending", "pending", (int64_t)time(NULL) + 3600);
	p0 = parses(f);
	z = load_authz(f);
	assert_int_equal(parses(f), p0);
	assert_string_equal(json_string_value(json_object_get(z, "status")), "pending");
	assert_string_equal(json_string_value(json_object_get(z, "id")), AUTHZ);
	/* the validation result: a read-modify-write in the writer, then a request's read */
	assert_int_equal(acme_chall_result(f->a, AUTHZ, 0, NULL, 0), 0);
	z2 = load_authz(f);
	assert_int_equal(parses(f), p0);
	assert_string_equal(acme_authz_status(z2), "valid");
	assert_string_equal(chall_status(z2), "valid");
	/* the object read first was not changed by the write (shared, read-only) */
	assert_string_equal(json_string_value(json_object_get(z, "status")), "pending");
	json_decref(z);
	json_decref(z2);
}

/* A put whose write rolls back leaves the stored bytes, and those are what is read;
 * so are bytes written without the store (another writer). */
static void test_store_rollback_not_served(void **state)
{
	fixture_t *f = *state;
	json_t *z, *changed;
	put_arg_t p = { f->a, "z/" AUTHZ, NULL, 1 };
	cairn_err_t err = { 0 };
	unsigned long p0;

	store_authz(f, "valid", "valid", (int64_t)time(NULL) + 3600);
	z = load_authz(f);
	changed = json_deep_copy(z);
	json_decref(z);
	json_object_set_new(changed, "status", json_string("deactivated"));
	p.obj = changed;
	assert_int_not_equal(db_write(f->db, put_obj, &p, &err), 0);
	json_decref(changed);
	p0 = parses(f);
	z = load_authz(f);
	assert_string_equal(json_string_value(json_object_get(z, "status")), "valid");
	assert_int_equal(parses(f), p0 + 1); /* the kept form was the rolled-back one */
	json_decref(z);
	assert_int_equal(db_write(f->db, put_raw,
				  "{\"id\":\"" AUTHZ "\",\"status\":\"invalid\"}", &err), 0);
	z = load_authz(f);
	assert_string_equal(json_string_value(json_object_get(z, "status")), "invalid");
	json_decref(z);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test_setup_teardown(test_result_validates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deactivation_wins_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finalize_commits_with_cert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deactivation_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_stays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_valid_stays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failures_kept_an_hour, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_write_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_rollback_not_served, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
