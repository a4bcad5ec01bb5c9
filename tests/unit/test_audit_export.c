/* SPDX-License-Identifier: MIT */
/* Unit tests for signed audit checkpoints, anchored exports and their offline verification. */
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
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "audit/audit.h"
#include "ca/ca.h"
#include "db/db.h"
#include "util/util.h"

#define T0 1767225600 /* 2026-01-01T00:00:00Z */

typedef struct fixture {
	char dir[64];
	db_t *db;
	EVP_PKEY *root_key, *key;
	X509 *root, *signer;
} fixture_t;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static X509 *make_cert(const char *cn, X509 *issuer, EVP_PKEY *ikey, EVP_PKEY *pub)
{
	ca_cert_spec_t spec;
	cairn_err_t err = { 0 };
	X509 *x = NULL;

	memset(&spec, 0, sizeof(spec));
	spec.subject_cn = cn;
	spec.validity_days = 365;
	spec.is_ca = 1;
	spec.path_len = issuer ? 0 : 1;
	spec.key_usage = X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN;
	if (ca_cert_build(&spec, issuer, ikey, pub, &x, &err) != 0)
		fail_msg("%s: %s", cn, cairn_err_msg(&err));
	return x;
}

static int setup(void **state)
{
	fixture_t *f = calloc(1, sizeof(*f));
	cairn_err_t err = { 0 };

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/cairn-test-auditx-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	if (db_open(f->dir, &f->db, &err) != 0)
		fail_msg("db_open: %s", cairn_err_msg(&err));
	f->root_key = EVP_EC_gen("P-256");
	f->key = EVP_EC_gen("P-256");
	f->root = make_cert("Export Test Root", NULL, f->root_key, f->root_key);
	f->signer = make_cert("Export Test Issuing", f->root, f->root_key, f->key);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture_t *f = *state;

	db_close(f->db);
	EVP_PKEY_free(f->root_key);
	EVP_PKEY_free(f->key);
	X509_free(f->root);
	X509_free(f->signer);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

struct append {
	int first, n;
};

/* Events first..first+n-1, event i at T0 + i hours; odd ones carry a name with a space. */
static int append_fn(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct append *a = arg;
	int i, rc = 0;

	for (i = 0; rc == 0 && i < a->n; i++) {
		int k = a->first + i;
		json_t *names = (k % 2) ? json_pack("[s, s]", "ocsp responder", "www.example.test")
					: json_pack("[s]", "a.example.test");
		json_t *details = json_pack("{s:i, s:s}", "k", k, "quote", "a \"b\", c");
		audit_event_t ev = { "test:actor", "cert.issue", (k % 3) ? "7f01" : NULL, names,
				     details };
		rc = audit_append_at(txn, &ev, T0 + (time_t)k * 3600, NULL, err);
		json_decref(names);
		json_decref(details);
	}
	return rc;
}

static void append(fixture_t *f, int first, int n)
{
	struct append a = { first, n };
	cairn_err_t err = { 0 };

	if (db_write(f->db, append_fn, &a, &err) != 0)
		fail_msg("append: %s", cairn_err_msg(&err));
}

/* Exports into a malloc'd string. */
static char *export(fixture_t *f, audit_format_t fmt, time_t since, time_t until, uint64_t *n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	cairn_err_t err = { 0 };

	assert_non_null(out);
	if (audit_export_anchored(f->db, out, fmt, since, until, n, &err) != 0)
		fail_msg("export: %s", cairn_err_msg(&err));
	fclose(out);
	return buf;
}

static int verify(const char *text, X509 *root, audit_export_check_t *res)
{
	FILE *in = fmemopen((void *)text, strlen(text), "r");
	int rc;

	assert_non_null(in);
	rc = audit_verify_export(in, root, res);
	fclose(in);
	return rc;
}

/* Replaces the first occurrence of from on line (1-based) with to; new string. */
static char *tamper(const char *text, int line, const char *from, const char *to)
{
	const char *p = text, *hit;
	char *out;
	int l;

	for (l = 1; l < line; l++) {
		p = strchr(p, '\n');
		assert_non_null(p);
		p++;
	}
	hit = strstr(p, from);
	assert_non_null(hit);
	assert_true(memchr(p, '\n', (size_t)(hit - p)) == NULL);
	out = malloc(strlen(text) + strlen(to) + 1);
	memcpy(out, text, (size_t)(hit - text));
	strcpy(out + (hit - text), to);
	strcat(out, hit + strlen(from));
	return out;
}

static void test_checkpoint_and_verify(void **state)
{
	fixture_t *f = *state;
	audit_export_check_t res;
	audit_verify_result_t vr;
	cairn_err_t err = { 0 };
	uint64_t seq = 0, n = 0;
	char *jsonl, *csv, *bad;
	X509 *other;
	EVP_PKEY *other_key;

	append(f, 1, 5);
	assert_int_equal(audit_checkpoint(f->db, f->key, f->signer, "test:cp", &seq, &err), 0);
	assert_int_equal(seq, 5);
	/* Nothing new since: no second checkpoint. */
	assert_int_equal(audit_checkpoint(f->db, f->key, f->signer, "test:cp", &seq, &err), 0);
	assert_int_equal(seq, 6);
	assert_int_equal(audit_verify(f->db, &vr), 0);
	assert_int_equal(vr.count, 6);

	jsonl = export(f, AUDIT_FMT_JSONL, 0, 0, &n);
	assert_int_equal(n, 6);
	assert_non_null(strstr(jsonl, "\n{\"head\":{\"seq\":6,\"hash\":\""));
	assert_int_equal(verify(jsonl, f->root, &res), 0);
	assert_int_equal(res.events, 6);
	assert_int_equal(res.anchor_seq, 5);
	assert_non_null(strstr(res.signer, "Export Test Issuing"));
	csv = export(f, AUDIT_FMT_CSV, 0, 0, &n);
	assert_non_null(strstr(csv, "\"[\"\"ocsp responder\"\",\"\"www.example.test\"\"]\""));
	assert_int_equal(verify(csv, f->root, &res), 0);
	assert_int_equal(res.events, 6);

	/* One changed line is named, in either format. */
	bad = tamper(jsonl, 2, "test:actor", "test:mallory");
	assert_int_equal(verify(bad, f->root, &res), CAIRN_EAUDIT);
	assert_int_equal(res.bad_line, 2);
	assert_non_null(strstr(res.reason, "event 2 was modified"));
	free(bad);
	bad = tamper(csv, 4, "test:actor", "test:mallory"); /* line 1 is the header */
	assert_int_equal(verify(bad, f->root, &res), CAIRN_EAUDIT);
	assert_int_equal(res.bad_line, 4);
	free(bad);
	bad = tamper(jsonl, 5, "\"k\":5", "\"k\":50"); /* the event the checkpoint signed */
	assert_int_equal(verify(bad, f->root, &res), CAIRN_EAUDIT);
	assert_int_equal(res.bad_line, 5);
	free(bad);
	bad = tamper(jsonl, 6, "\"seq\":5", "\"seq\":4"); /* the signed statement itself */
	assert_int_equal(verify(bad, f->root, &res), CAIRN_EAUDIT);
	assert_int_equal(res.bad_line, 6);
	assert_non_null(strstr(res.reason, "signature"));
	free(bad);
	bad = tamper(jsonl, 1, "\"seq\":1", "\"seq\":9");
	assert_int_equal(verify(bad, f->root, &res), CAIRN_EAUDIT);
	assert_int_equal(res.bad_line, 2); /* the gap shows after line 1 */
	free(bad);
	bad = tamper(jsonl, 3, "{", "x");
	assert_int_equal(verify(bad, f->root, &res), CAIRN_EAUDIT);
	assert_int_equal(res.bad_line, 3);
	free(bad);

	/* Any single changed byte anywhere is caught (bounded, deterministic sample). */
	for (int pass = 0; pass < 2; pass++) {
		const char *text = pass ? csv : jsonl;
		size_t len = strlen(text), i;
		unsigned seed = 12345;
		char *copy = malloc(len + 1);
		for (i = 0; i < 400; i++) {
			size_t at;
			seed = seed * 1103515245u + 12345u;
			at = (seed >> 8) % len;
			memcpy(copy, text, len + 1);
			copy[at] = (char)(copy[at] ^ (1 + (seed & 0x3f)));
			if (copy[at] == '\0')
				copy[at] = 'x';
			/* Line endings (CRLF or LF) and blank lines carry no event data. */
			if (strchr("\r\n", text[at]) && strchr("\r\n", copy[at]))
				continue;
			if (verify(copy, f->root, &res) != CAIRN_EAUDIT)
				fail_msg("%s: byte %zu changed (0x%02x) went unnoticed",
					 pass ? "csv" : "jsonl", at, (unsigned char)copy[at]);
		}
		free(copy);
	}

	/* Another CA does not vouch for it. */
	other_key = EVP_EC_gen("P-256");
	other = make_cert("Other Root", NULL, other_key, other_key);
	assert_int_equal(verify(jsonl, other, &res), CAIRN_EAUDIT);
	assert_non_null(strstr(res.reason, "checkpoint signature does not verify"));
	X509_free(other);
	EVP_PKEY_free(other_key);
	free(jsonl);
	free(csv);

	/* Events after the last checkpoint are not anchored until the next one. */
	append(f, 7, 2);
	jsonl = export(f, AUDIT_FMT_JSONL, 0, 0, &n);
	assert_int_equal(verify(jsonl, f->root, &res), CAIRN_EAUDIT);
	assert_int_equal(res.bad_line, 7);
	assert_non_null(strstr(res.reason, "not anchored"));
	free(jsonl);
	assert_int_equal(audit_checkpoint(f->db, f->key, f->signer, "test:cp", &seq, &err), 0);
	assert_int_equal(seq, 8);
	jsonl = export(f, AUDIT_FMT_JSONL, 0, 0, &n);
	assert_int_equal(verify(jsonl, f->root, &res), 0);
	assert_int_equal(res.anchor_seq, 8);
	free(jsonl);

	/* A time range: events 3..4, then on to the checkpoint that covers them (event 6). */
	jsonl = export(f, AUDIT_FMT_JSONL, T0 + 3 * 3600, T0 + 5 * 3600, &n);
	assert_int_equal(n, 4);
	assert_true(strncmp(jsonl, "{\"seq\":3,", 9) == 0);
	assert_int_equal(verify(jsonl, f->root, &res), 0);
	assert_int_equal(res.first_seq, 3);
	assert_int_equal(res.last_seq, 6);
	free(jsonl);
	/* An empty range has only the head line, and nothing to verify. */
	jsonl = export(f, AUDIT_FMT_CSV, (time_t)4102444800, 0, &n); /* 2100 */
	assert_int_equal(n, 0);
	assert_int_equal(verify(jsonl, f->root, &res), CAIRN_EAUDIT);
	free(jsonl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_checkpoint_and_verify, setup, teardown),
	};
	return cmocka_run_group_tests_name("audit_export", tests, NULL, NULL);
}
