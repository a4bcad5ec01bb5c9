/* SPDX-License-Identifier: MIT */
/* Unit tests for signed audit checkpoints, exports with a signed head line and their offline verification. */
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

/* Exports into a malloc'd string: JSONL signed with f->key (sign), unsigned, or CSV. */
enum { SIGNED, UNSIGNED, CSV };
static char *export(fixture_t *f, int how, time_t since, time_t until, uint64_t *n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	cairn_err_t err = { 0 };
	int rc;

	assert_non_null(out);
	if (how == CSV)
		rc = audit_export(f->db, out, AUDIT_FMT_CSV, since, until, n, &err);
	else
		rc = audit_export_sealed(f->db, out, since, until, how == SIGNED ? f->key : NULL,
					 how == SIGNED ? f->signer : NULL, n, &err);
	if (rc != 0)
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

/* The attack: drop the last `drop` event lines and, when redo_head, redo the head line's
 * seq, hash and events for what is left (the signature cannot be redone). New string. */
static char *truncate_tail(const char *text, int drop, int redo_head)
{
	char *copy = strdup(text), *lines[256], *save = NULL, *l, *out, *head_text;
	json_t *line, *head, *last;
	uint8_t hash[32];
	char hex[65];
	size_t n = 0, i;

	for (l = strtok_r(copy, "\n", &save); l && n < 256; l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	assert_true(n >= (size_t)drop + 2);
	line = json_loads(lines[n - 1], 0, NULL);
	head = json_object_get(line, "head");
	assert_non_null(head);
	n -= 1 + (size_t)drop; /* event lines kept */
	last = json_loads(lines[n - 1], 0, NULL);
	assert_int_equal(audit_hash(lines[n - 1], strlen(lines[n - 1]), hash), 0);
	hex_encode(hash, 32, hex);
	if (redo_head) {
		json_object_set(head, "seq", json_object_get(last, "seq"));
		json_object_set_new(head, "hash", json_string(hex));
		json_object_set_new(head, "events",
				    json_integer(json_integer_value(json_object_get(head, "events")) -
						 drop));
	}
	head_text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
	out = calloc(1, strlen(text) + 1024);
	for (i = 0; i < n; i++) {
		strcat(out, lines[i]);
		strcat(out, "\n");
	}
	strcat(out, head_text);
	strcat(out, "\n");
	free(head_text);
	json_decref(last);
	json_decref(line);
	free(copy);
	return out;
}

/* text without the line holding marker. New string. */
static char *drop_line(const char *text, const char *marker)
{
	const char *hit = strstr(text, marker), *start, *end;
	char *out;

	assert_non_null(hit);
	for (start = hit; start > text && start[-1] != '\n'; start--)
		;
	end = strchr(hit, '\n');
	end = end ? end + 1 : hit + strlen(hit);
	out = malloc(strlen(text) + 1);
	memcpy(out, text, (size_t)(start - text));
	strcpy(out + (start - text), end);
	return out;
}

static void test_sealed_export(void **state)
{
	fixture_t *f = *state;
	audit_export_check_t res;
	cairn_err_t err = { 0 };
	uint64_t seq = 0, n = 0;
	char *jsonl, *bad, *text;
	X509 *other;
	EVP_PKEY *other_key;

	append(f, 1, 5);
	assert_int_equal(audit_checkpoint(f->db, f->key, f->signer, "test:cp", &seq, &err), 0);
	append(f, 7, 2); /* events after the checkpoint: the export's head line vouches for them */
	jsonl = export(f, SIGNED, 0, 0, &n);
	assert_int_equal(n, 8);
	assert_non_null(strstr(jsonl, "\n{\"head\":{\"seq\":8,\"hash\":\""));
	assert_non_null(strstr(jsonl, "\"events\":8,\"first\":1,\"since\":null,\"until\":null,"
				      "\"exported\":\""));
	assert_int_equal(verify(jsonl, f->root, &res), 0);
	assert_int_equal(res.events, 8);
	assert_int_equal(res.first_seq, 1);
	assert_int_equal(res.last_seq, 8);
	assert_string_equal(res.since, "");
	assert_int_equal(strlen(res.exported), 20);
	assert_non_null(strstr(res.signer, "Export Test Issuing"));

	/* The attack: events cut off the end, the head line redone to match. */
	bad = truncate_tail(jsonl, 2, 1);
	assert_int_equal(verify(bad, f->root, &res), CAIRN_EAUDIT);
	assert_non_null(strstr(res.reason, "signature does not verify"));
	assert_int_equal(res.bad_line, 7);
	free(bad);
	/* ... or cut off with the head line left as it was. */
	bad = truncate_tail(jsonl, 1, 0);
	assert_int_equal(verify(bad, f->root, &res), CAIRN_EAUDIT);
	assert_non_null(strstr(res.reason, "events missing"));
	free(bad);
	/* ... or from the start. */
	bad = drop_line(jsonl, "{\"seq\":1,");
	assert_int_equal(verify(bad, f->root, &res), CAIRN_EAUDIT);
	assert_non_null(strstr(res.reason, "events missing"));
	free(bad);
	/* No head line, or one without its signature. */
	bad = drop_line(jsonl, "{\"head\":");
	assert_int_equal(verify(bad, f->root, &res), CAIRN_EAUDIT);
	assert_non_null(strstr(res.reason, "no head line"));
	free(bad);
	text = strstr(strstr(jsonl, "{\"head\":"), ",\"alg\":");
	assert_non_null(text);
	bad = strdup(jsonl);
	strcpy(bad + (text - jsonl), "}}\n");
	assert_int_equal(verify(bad, f->root, &res), CAIRN_EAUDIT);
	assert_non_null(strstr(res.reason, "not signed"));
	free(bad);
	/* Lines after the head line. */
	assert_int_equal(asprintf(&bad, "%s%s", jsonl, "{\"seq\":9}\n"), (int)strlen(jsonl) + 10);
	assert_int_equal(verify(bad, f->root, &res), CAIRN_EAUDIT);
	assert_non_null(strstr(res.reason, "after the head line"));
	free(bad);

	/* One changed line is named. */
	bad = tamper(jsonl, 2, "test:actor", "test:mallory");
	assert_int_equal(verify(bad, f->root, &res), CAIRN_EAUDIT);
	assert_int_equal(res.bad_line, 2);
	assert_non_null(strstr(res.reason, "event 2 was modified"));
	free(bad);
	bad = tamper(jsonl, 8, "\"k\":8", "\"k\":80"); /* the newest event */
	assert_int_equal(verify(bad, f->root, &res), CAIRN_EAUDIT);
	assert_int_equal(res.bad_line, 8);
	free(bad);
	bad = tamper(jsonl, 6, "\"seq\":5", "\"seq\":4"); /* a checkpoint's signed statement */
	assert_int_equal(verify(bad, f->root, &res), CAIRN_EAUDIT);
	assert_int_equal(res.bad_line, 6);
	assert_non_null(strstr(res.reason, "checkpoint signature"));
	free(bad);
	bad = tamper(jsonl, 1, "\"seq\":1", "\"seq\":9");
	assert_int_equal(verify(bad, f->root, &res), CAIRN_EAUDIT);
	assert_int_equal(res.bad_line, 2); /* the gap shows after line 1 */
	free(bad);
	bad = tamper(jsonl, 3, "{", "x");
	assert_int_equal(verify(bad, f->root, &res), CAIRN_EAUDIT);
	assert_int_equal(res.bad_line, 3);
	free(bad);
	bad = tamper(jsonl, 9, "\"exported\":\"20", "\"exported\":\"19"); /* the time of export */
	assert_int_equal(verify(bad, f->root, &res), CAIRN_EAUDIT);
	assert_non_null(strstr(res.reason, "signature does not verify"));
	free(bad);

	/* Any single changed byte anywhere is caught (bounded, deterministic sample). */
	{
		size_t len = strlen(jsonl), i;
		unsigned rnd = 12345;
		char *copy = malloc(len + 1);
		for (i = 0; i < 600; i++) {
			size_t at;
			rnd = rnd * 1103515245u + 12345u;
			at = (rnd >> 8) % len;
			memcpy(copy, jsonl, len + 1);
			copy[at] = (char)(copy[at] ^ (1 + (rnd & 0x3f)));
			if (copy[at] == '\0')
				copy[at] = 'x';
			/* Line endings (CRLF or LF) carry no event data. */
			if (strchr("\r\n", jsonl[at]) && strchr("\r\n", copy[at]))
				continue;
			if (verify(copy, f->root, &res) != CAIRN_EAUDIT)
				fail_msg("byte %zu changed (0x%02x) went unnoticed", at,
					 (unsigned char)copy[at]);
		}
		free(copy);
	}

	/* Another CA does not vouch for it. */
	other_key = EVP_EC_gen("P-256");
	other = make_cert("Other Root", NULL, other_key, other_key);
	assert_int_equal(verify(jsonl, other, &res), CAIRN_EAUDIT);
	assert_non_null(strstr(res.reason, "does not chain to the given CA"));
	X509_free(other);
	EVP_PKEY_free(other_key);
	free(jsonl);

	/* A leaf certificate straight under the root chains to it with nothing else given, but
	 * only a CA certificate vouches for an export or a checkpoint (the daemon signs with
	 * the issuing CA key in the token; leaves have keys outside it). */
	{
		ca_cert_spec_t spec;
		EVP_PKEY *leaf_key = EVP_EC_gen("P-256");
		X509 *leaf = NULL;
		memset(&spec, 0, sizeof(spec));
		spec.subject_cn = "leaf.example.test";
		spec.validity_days = 30;
		spec.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
		assert_int_equal(ca_cert_build(&spec, f->root, f->root_key, leaf_key, &leaf, &err), 0);
		jsonl = NULL;
		{
			size_t len = 0;
			FILE *out = open_memstream(&jsonl, &len);
			assert_int_equal(audit_export_sealed(f->db, out, 0, 0, leaf_key, leaf, &n, &err), 0);
			fclose(out);
		}
		assert_int_equal(verify(jsonl, f->root, &res), CAIRN_EAUDIT);
		assert_non_null(strstr(res.reason, "signature does not verify"));
		free(jsonl);
		assert_int_equal(audit_checkpoint(f->db, leaf_key, leaf, "test:leaf", &seq, &err), 0);
		jsonl = export(f, SIGNED, 0, 0, &n);
		assert_int_equal(verify(jsonl, f->root, &res), CAIRN_EAUDIT);
		assert_non_null(strstr(res.reason, "checkpoint signature does not verify"));
		free(jsonl);
		X509_free(leaf);
		EVP_PKEY_free(leaf_key);
	}

	/* An unsigned export (made without the token) is refused. */
	jsonl = export(f, UNSIGNED, 0, 0, &n);
	assert_int_equal(n, 9); /* with the leaf's checkpoint */
	assert_null(strstr(strstr(jsonl, "{\"head\":"), "\"signature\""));
	assert_int_equal(verify(jsonl, f->root, &res), CAIRN_EAUDIT);
	assert_non_null(strstr(res.reason, "not signed"));
	free(jsonl);

	/* A CSV export is a report: verification points at the JSONL export. */
	jsonl = export(f, CSV, 0, 0, &n);
	assert_int_equal(verify(jsonl, f->root, &res), CAIRN_EAUDIT);
	assert_non_null(strstr(res.reason, "verify the JSONL export"));
	free(jsonl);

	/* A time range: events 3..4 only; its ends are signed too. */
	jsonl = export(f, SIGNED, T0 + 3 * 3600, T0 + 5 * 3600, &n);
	assert_int_equal(n, 2);
	assert_true(strncmp(jsonl, "{\"seq\":3,", 9) == 0);
	assert_int_equal(verify(jsonl, f->root, &res), 0);
	assert_int_equal(res.first_seq, 3);
	assert_int_equal(res.last_seq, 4);
	assert_string_equal(res.since, "2026-01-01T03:00:00Z");
	assert_string_equal(res.until, "2026-01-01T05:00:00Z");
	bad = tamper(jsonl, 3, "\"until\":\"2026-01-01T05", "\"until\":\"2026-01-01T04");
	assert_int_equal(verify(bad, f->root, &res), CAIRN_EAUDIT);
	assert_non_null(strstr(res.reason, "signature does not verify"));
	free(bad);
	free(jsonl);
	/* An empty range: the signed head line says there is nothing, and that verifies. */
	jsonl = export(f, SIGNED, (time_t)4102444800, 0, &n); /* 2100 */
	assert_int_equal(n, 0);
	assert_true(strncmp(jsonl, "{\"head\":{\"seq\":0,\"hash\":\"\",\"events\":0,", 38) == 0);
	assert_int_equal(verify(jsonl, f->root, &res), 0);
	assert_int_equal(res.events, 0);
	free(jsonl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sealed_export, setup, teardown),
	};
	return cmocka_run_group_tests_name("audit_export", tests, NULL, NULL);
}
