/* SPDX-License-Identifier: MIT */
/* Unit tests for inventory/: import de-duplication and audit, owners, reports, the CSV writer,
 * the expiry hook, and the scanner's refusal of targets outside the allowed ranges. */
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
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "inventory/inventory.h"

#include "tests/unit/db_fixture.h"

#define DAY 86400

/* A self-signed certificate: cn, key (EC P-256 or RSA of bits), digest, valid for days. */
static X509 *make_cert(const char *cn, int rsa_bits, const EVP_MD *md, long serial, long days,
		       uint8_t **der, size_t *len)
{
	EVP_PKEY *k = rsa_bits ? EVP_RSA_gen((unsigned)rsa_bits) : EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	unsigned char *p = NULL;
	int l;

	assert_non_null(k);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_gmtime_adj(X509_getm_notBefore(x), -DAY);
	X509_gmtime_adj(X509_getm_notAfter(x), days * DAY);
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, md) > 0);
	l = i2d_X509(x, &p);
	assert_true(l > 0);
	*der = p;
	*len = (size_t)l;
	X509_NAME_free(n);
	EVP_PKEY_free(k);
	return x;
}

static void test_import_owner_report(void **state)
{
	db_t *db = ((void **)*state)[1];
	uint8_t *der[3], junk[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	size_t len[3];
	X509 *x[3];
	inv_item_t items[5];
	json_t *res = NULL, *rows = NULL, *out = NULL;
	cairn_err_t err = { 0 };
	db_txn_t *txn;
	inv_report_opts_t o = { .kind = INV_REPORT_WEAK, .now = time(NULL) };
	size_t audit0;
	char fp[2 * INV_FP_LEN + 1];
	uint8_t raw[INV_FP_LEN];
	int i;

	x[0] = make_cert("a.example", 0, EVP_sha256(), 1, 10, &der[0], &len[0]);
	x[1] = make_cert("weak.example", 1024, EVP_sha1(), 2, 200, &der[1], &len[1]);
	x[2] = make_cert("b.example", 0, EVP_sha256(), 3, 400, &der[2], &len[2]);
	for (i = 0; i < 3; i++)
		items[i] = (inv_item_t){ der[i], len[i], "file", "/f", NULL, NULL, NULL, NULL };
	items[3] = (inv_item_t){ junk, sizeof(junk), "file", "/junk", NULL, NULL, NULL, NULL };
	items[4] = items[0]; /* the same certificate twice in one batch */

	assert_int_equal(db_read_begin(db, &txn), 0);
	audit0 = db_count(txn, DB_AUDIT);
	db_txn_end(txn);
	assert_int_equal(inventory_import(db, NULL, items, 5, "test", "cli:test", &res, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(res, "added")), 3);
	assert_int_equal(json_integer_value(json_object_get(res, "known")), 1);
	assert_int_equal(json_integer_value(json_object_get(res, "refused")), 1);
	json_decref(res);
	/* Idempotent, and one audit event per batch. */
	assert_int_equal(inventory_import(db, NULL, items, 3, "test", "cli:test", &res, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(res, "added")), 0);
	assert_int_equal(json_integer_value(json_object_get(res, "known")), 3);
	json_decref(res);
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_count(txn, DB_AUDIT), audit0 + 2);
	assert_int_equal(db_count(txn, DB_INVENTORY), 3);
	db_txn_end(txn);
	assert_int_equal(inventory_import(db, NULL, items, 0, "t", "cli:test", &res, &err), CAIRN_EINVAL);

	/* Owner by fingerprint, audited; a serial nobody has is ENOENT. */
	assert_int_equal(inv_fingerprint(x[1], raw), 0);
	hex_encode(raw, sizeof(raw), fp);
	assert_int_equal(inventory_owner_set(db, fp, "=evil()", "cli:test", &out, &err), 0);
	assert_string_equal(json_string_value(json_object_get(out, "previous")), "");
	json_decref(out);
	assert_int_equal(inventory_owner_set(db, "ffee", "x", "cli:test", &out, &err), CAIRN_ENOENT);
	/* By the serial of the one inventory certificate carrying it. */
	assert_int_equal(inventory_owner_set(db, "03", "team-b", "cli:test", &out, &err), 0);
	json_decref(out);

	/* weak: the RSA-1024/SHA-1 one only, with its owner; CSV neutralises the formula. */
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(inventory_report(txn, &o, &rows, &err), 0);
	assert_int_equal(json_array_size(rows), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "weakness")),
			    "RSA-1024 key, SHA1 signature");
	{
		char *buf = NULL;
		size_t blen = 0;
		FILE *m = open_memstream(&buf, &blen);
		const char *cols[] = { "subject", "owner", NULL };
		assert_int_equal(inv_rows_write(m, rows, cols, INV_FMT_CSV), 0);
		fclose(m);
		assert_string_equal(buf, "subject,owner\r\nCN=weak.example,'=evil()\r\n");
		free(buf);
	}
	json_decref(rows);
	/* expiring within 30 days: a.example only. */
	o.kind = INV_REPORT_EXPIRING;
	o.within = 30 * DAY;
	o.by = "owner";
	assert_int_equal(inventory_report(txn, &o, &rows, &err), 0);
	assert_int_equal(json_array_size(rows), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "subject")),
			    "CN=a.example");
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "group")),
			    "(none)");
	json_decref(rows);
	o.by = "colour";
	assert_int_equal(inventory_report(txn, &o, &rows, &err), CAIRN_EINVAL);
	db_txn_end(txn);

	for (i = 0; i < 3; i++) {
		X509_free(x[i]);
		OPENSSL_free(der[i]);
	}
}

static void test_expiry_hook(void **state)
{
	db_t *db = ((void **)*state)[1];
	const int64_t days[] = { 30, 7, 1 };
	uint8_t *der;
	size_t len;
	X509 *x = make_cert("soon.example", 0, EVP_sha256(), 9, 5, &der, &len);
	inv_item_t it = { der, len, "file", "/soon", NULL, NULL, NULL, NULL };
	json_t *res = NULL;
	cairn_err_t err = { 0 };
	uint64_t n = 0;
	int64_t now = time(NULL);

	assert_int_equal(inventory_import(db, NULL, &it, 1, "t", "cli:test", &res, &err), 0);
	json_decref(res);
	/* 5 days left: the 30- and 7-day thresholds, once each. */
	assert_int_equal(inventory_expiry_scan(db, days, 3, now, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(inventory_expiry_scan(db, days, 3, now + 60, &n, &err), 0);
	assert_int_equal(n, 0);
	/* Four days later, 1 day left: the 1-day threshold. */
	assert_int_equal(inventory_expiry_scan(db, days, 3, now + 4 * DAY + 60, &n, &err), 0);
	assert_int_equal(n, 1);
	X509_free(x);
	OPENSSL_free(der);
}

struct seen {
	int n;
};

static void count_cb(const inv_scan_result_t *r, void *arg)
{
	(void)r;
	((struct seen *)arg)->n++;
}

static void test_scan_refuses(void **state)
{
	const char *allowed[] = { "127.0.0.1/32" };
	const char *const outside[] = { "127.2", "0x7f000002", "2130706434", "0", "0.0.0.0",
					"[::]:9" };
	size_t i;
	inv_scan_opts_t o = { .ports = "9", .parallel = 4, .connect_ms = 200, .handshake_ms = 200,
			      .allowed = allowed, .n_allowed = 1 };
	struct seen s = { 0 };
	cairn_err_t err = { 0 };
	(void)state;

	o.targets = "127.0.0.2";
	assert_int_equal(inventory_scan(&o, count_cb, &s, &err), CAIRN_EDENIED);
	o.targets = "127.0.0.0/31";
	assert_int_equal(inventory_scan(&o, count_cb, &s, &err), CAIRN_EDENIED);
	o.targets = "[::ffff:127.0.0.1]:9";
	assert_int_equal(inventory_scan(&o, count_cb, &s, &err), CAIRN_EDENIED);
	o.targets = "127.0.0.1:0";
	assert_int_equal(inventory_scan(&o, count_cb, &s, &err), CAIRN_EINVAL);
	o.targets = "127.0.0.1/33";
	assert_int_equal(inventory_scan(&o, count_cb, &s, &err), CAIRN_EINVAL);
	/* Written as names the resolver reads as addresses outside: 127.0.0.2, and 0.0.0.0
	 * and :: (which reach the host itself). */
	for (i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
		o.targets = outside[i];
		assert_int_equal(inventory_scan(&o, count_cb, &s, &err), CAIRN_EDENIED);
	}
	assert_int_equal(s.n, 0); /* nothing was tried */
	o.n_allowed = 0;          /* default: loopback */
	o.targets = "10.0.0.1";
	assert_int_equal(inventory_scan(&o, count_cb, &s, &err), CAIRN_EDENIED);
	o.targets = "127.0.0.1/8";
	assert_int_equal(inventory_scan(&o, count_cb, &s, &err), CAIRN_ETOOBIG);
	allowed[0] = "nonsense";
	o.n_allowed = 1;
	o.targets = "127.0.0.1";
	assert_int_equal(inventory_scan(&o, count_cb, &s, &err), CAIRN_ECONFIG);
	assert_int_equal(s.n, 0);
}

/* The table shows control characters as '?': C0, DEL and the C1 controls U+0080..U+009F
 * (UTF-8 C2 80..C2 9F; U+009B is a CSI to terminals that take C1), one '?' a byte so the
 * columns stay aligned; other UTF-8 is kept. */
static void test_table_controls(void **state)
{
	json_t *rows = json_pack("[{s:s}, {s:s}, {s:s}]", "owner", "a\x1b[2Jb", "owner",
				 "c\xc2\x9b" "2Jd\xc2\x85", "owner", "caf\xc3\xa9");
	const char *cols[] = { "owner", NULL };
	char *buf = NULL;
	size_t blen = 0;
	FILE *m = open_memstream(&buf, &blen);
	(void)state;

	assert_non_null(rows);
	assert_int_equal(inv_rows_write(m, rows, cols, INV_FMT_TABLE), 0);
	fclose(m);
	assert_string_equal(buf, "owner\na?[2Jb\nc??2Jd??\ncaf\xc3\xa9\n");
	free(buf);
	json_decref(rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_import_owner_report, fixture_db_setup, fixture_db_teardown),
		cmocka_unit_test_setup_teardown(test_expiry_hook, fixture_db_setup, fixture_db_teardown),
		cmocka_unit_test(test_scan_refuses),
		cmocka_unit_test(test_table_controls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
