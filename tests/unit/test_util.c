/* SPDX-License-Identifier: MIT */
/* Unit tests for util/: base64url, hex, durations, time parsing, error list, files, JSON text, logs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "util/util.h"

static void test_b64url_roundtrip(void **state)
{
	static const char *vectors[][2] = {
		{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
	};
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		char *enc = b64url_encode((const uint8_t *)vectors[i][0], strlen(vectors[i][0]));
		uint8_t *dec;
		size_t n;
		assert_string_equal(enc, vectors[i][1]);
		assert_int_equal(b64url_decode(enc, strlen(enc), &dec, &n), 0);
		assert_int_equal(n, strlen(vectors[i][0]));
		assert_memory_equal(dec, vectors[i][0], n);
		free(enc);
		free(dec);
	}
}

static void test_b64url_alphabet(void **state)
{
	const uint8_t bytes[] = { 0xfb, 0xff, 0xbf };
	char *enc = b64url_encode(bytes, sizeof(bytes));
	(void)state;
	assert_string_equal(enc, "-_-_");
	free(enc);
}

/* The decoder looks characters up in a table, four at a time, then the tail one by one:
 * every byte value at a position of a whole group and of the tail is accepted exactly
 * when it is in the alphabet, and decoding undoes encoding for every length 0..96. */
static void test_b64url_every_byte(void **state)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t raw[96];
	size_t i, pos, n;
	int c;
	(void)state;

	for (c = 0; c < 256; c++) {
		int in = c != 0 && memchr(alphabet, c, sizeof(alphabet) - 1) != NULL;
		for (pos = 0; pos < 6; pos++) {
			char text[8] = "AAAAAAA"; /* one group and a 3-character tail */
			uint8_t *dec = NULL;

			text[pos] = (char)c;
			assert_int_equal(b64url_decode(text, 7, &dec, &n) == 0, in);
			if (in)
				assert_int_equal(n, 5);
			free(dec);
		}
	}
	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i * 37 + 11);
	for (n = 0; n <= sizeof(raw); n++) {
		char *enc = b64url_encode(raw, n);
		uint8_t *dec = NULL;
		size_t m = 0;

		assert_non_null(enc);
		assert_int_equal(b64url_decode(enc, strlen(enc), &dec, &m), 0);
		assert_int_equal(m, n);
		if (n > 0)
			assert_memory_equal(dec, raw, n);
		free(enc);
		free(dec);
	}
}

static void test_b64url_rejects(void **state)
{
	static const char *bad[] = { "Zg==", "Zm9v+", "Zm9v/", "Z", "Zh", "Zm9 v", "Zm\n9v" };
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t *dec = NULL;
		size_t n;
		assert_int_equal(b64url_decode(bad[i], strlen(bad[i]), &dec, &n), CAIRN_EINVAL);
		assert_null(dec);
	}
}

static void test_hex(void **state)
{
	uint8_t in[] = { 0x00, 0x7f, 0xab, 0xff }, out[4];
	char text[9];
	(void)state;

	hex_encode(in, sizeof(in), text);
	assert_string_equal(text, "007fabff");
	assert_int_equal(hex_decode("007FABff", out, sizeof(out)), 4);
	assert_memory_equal(in, out, 4);
	assert_int_equal(hex_decode("0g", out, sizeof(out)), -1);
	assert_int_equal(hex_decode("123", out, sizeof(out)), -1);
	assert_int_equal(hex_decode("0011223344", out, sizeof(out)), -1);
}

static void test_duration(void **state)
{
	int64_t s;
	(void)state;

	assert_int_equal(duration_parse("30d", &s), 0);
	assert_int_equal(s, 30 * 86400);
	assert_int_equal(duration_parse("12h", &s), 0);
	assert_int_equal(s, 12 * 3600);
	assert_int_equal(duration_parse("45", &s), 0);
	assert_int_equal(s, 45);
	assert_int_equal(duration_parse("d", &s), CAIRN_EINVAL);
	assert_int_equal(duration_parse("3x", &s), CAIRN_EINVAL);
	assert_int_equal(duration_parse("-3d", &s), CAIRN_EINVAL);
	assert_int_equal(duration_parse("3dd", &s), CAIRN_EINVAL);
}

/* time_parse of s into the RFC 3339 UTC form, or "EINVAL". */
static const char *reparse(const char *s, char *buf, size_t cap)
{
	time_t t;

	if (time_parse(s, &t) != 0)
		return "EINVAL";
	time_rfc3339(t, buf, cap);
	return buf;
}

/* time_http_date formats by hand: the C library's gmtime_r and strftime say the same,
 * for known dates, around leap days and centuries, before 1970 and at random. */
static void test_http_date(void **state)
{
	static const struct { time_t t; const char *want; } known[] = {
		{ 784111777, "Sun, 06 Nov 1994 08:49:37 GMT" }, /* RFC 9110's example */
		{ 0, "Thu, 01 Jan 1970 00:00:00 GMT" },
		{ -1, "Wed, 31 Dec 1969 23:59:59 GMT" },
		{ 951782400, "Tue, 29 Feb 2000 00:00:00 GMT" },
		{ 4107542400, "Mon, 01 Mar 2100 00:00:00 GMT" },
		{ 253402300799, "Fri, 31 Dec 9999 23:59:59 GMT" },
		{ -57602016000, "Mon, 31 Aug 0144 00:00:00 GMT" }, /* four digits, as IMF-fixdate has */
	};
	char got[64], want[64];
	unsigned seed = 777;
	struct tm tm;
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		time_http_date(known[i].t, got, sizeof(got));
		assert_string_equal(got, known[i].want);
	}
	for (i = 0; i < 200000; i++) {
		/* years 1000 to 9999 (-30610224000 .. 253402300799; glibc writes the years
		 * before 1000 in fewer than the four digits IMF-fixdate has) */
		int64_t r = ((int64_t)rand_r(&seed) << 31 | rand_r(&seed)) % (253402300800LL + 30610224000LL);
		time_t t = (time_t)(r - 30610224000LL);

		if (i < 50000) /* and densely around now */
			t = (time_t)(1700000000LL + ((int64_t)rand_r(&seed) % 2000000000LL));
		time_http_date(t, got, sizeof(got));
		gmtime_r(&t, &tm);
		strftime(want, sizeof(want), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		assert_string_equal(got, want);
	}
	/* beyond year 9999, and a buffer too small: the library's way, still terminated */
	time_http_date((time_t)253402300800LL, got, sizeof(got));
	assert_string_equal(got, "Sat, 01 Jan 10000 00:00:00 GMT");
	time_http_date(0, got, 10);
	assert_true(strlen(got) < 10);
	/* a year gmtime_r cannot hold in an int: nothing, terminated */
	memset(got, 'x', sizeof(got));
	time_http_date((time_t)INT64_MAX, got, sizeof(got));
	assert_string_equal(got, "");
}

static void test_time(void **state)
{
	/* input, what it reads as (UTC), or EINVAL */
	static const char *const cases[][2] = {
		{ "2026-11-27T10:00:00Z", "2026-11-27T10:00:00Z" },
		{ "2026-11-27T12:00:00+02:00", "2026-11-27T10:00:00Z" },
		{ "2026-11-27T10:00:00-00:00", "2026-11-27T10:00:00Z" },
		{ "2026-11-27", "2026-11-27T00:00:00Z" },
		/* lower-case t and z (RFC 3339 §5.6) */
		{ "2026-11-27t10:00:00z", "2026-11-27T10:00:00Z" },
		/* offsets: at most ±23:59, both signs */
		{ "2026-11-27T23:59:00+23:59", "2026-11-27T00:00:00Z" },
		{ "2026-11-27T00:00:00-23:59", "2026-11-27T23:59:00Z" },
		{ "2026-11-27T10:00:00+24:00", "EINVAL" },
		{ "2026-11-27T10:00:00+99:99", "EINVAL" },
		{ "2026-11-27T10:00:00+01:60", "EINVAL" },
		/* truncated offsets: once read past the end */
		{ "2026-11-27T10:00:00+1:00", "EINVAL" },
		{ "2026-11-27T10:00:00+01:0", "EINVAL" },
		{ "2026-11-27T10:00:00+01", "EINVAL" },
		{ "2026-11-27T10:00:00+", "EINVAL" },
		{ "2026-11-27T10:00:00+0100", "EINVAL" },
		{ "2026-11-27T10:00:00+01:00:00", "EINVAL" },
		/* fractions: 1 to 9 digits, dropped */
		{ "2026-11-27T10:00:00.5Z", "2026-11-27T10:00:00Z" },
		{ "2026-11-27T10:00:00.999999999+01:00", "2026-11-27T09:00:00Z" },
		{ "2026-11-27T10:00:00.Z", "EINVAL" },
		{ "2026-11-27T10:00:00.1234567890Z", "EINVAL" },
		{ "2026-11-27T10:00:00,5Z", "EINVAL" },
		/* leap second: only 23:59:60 UTC, read as the next second */
		{ "2016-12-31T23:59:60Z", "2017-01-01T00:00:00Z" },
		{ "2016-12-31T18:59:60-05:00", "2017-01-01T00:00:00Z" },
		{ "2016-12-31T12:00:60Z", "EINVAL" },
		{ "2016-12-31T23:59:61Z", "EINVAL" },
		/* fields in range, month lengths, leap years */
		{ "2024-02-29", "2024-02-29T00:00:00Z" },
		{ "2000-02-29", "2000-02-29T00:00:00Z" },
		{ "2026-02-29", "EINVAL" },
		{ "1900-02-29", "EINVAL" },
		{ "2026-04-31", "EINVAL" },
		{ "2026-13-01", "EINVAL" },
		{ "2026-00-10", "EINVAL" },
		{ "2026-01-00", "EINVAL" },
		{ "2026-11-27T24:00:00Z", "EINVAL" },
		{ "2026-11-27T10:60:00Z", "EINVAL" },
		{ "1969-12-31T23:59:59Z", "1969-12-31T23:59:59Z" },
		{ "9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z" },
		{ "0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z" },
		/* truncated and malformed */
		{ "", "EINVAL" },
		{ "2026", "EINVAL" },
		{ "2026-11", "EINVAL" },
		{ "2026-11-2", "EINVAL" },
		{ "2026-11-27T", "EINVAL" },
		{ "2026-11-27T10", "EINVAL" },
		{ "2026-11-27T10:00", "EINVAL" },
		{ "2026-11-27T10:00:00", "EINVAL" },
		{ "2026-11-27T10:00:0Z", "EINVAL" },
		{ "2026-11-27 10:00:00Z", "EINVAL" },
		{ "2026-11-27T10:00:00Zx", "EINVAL" },
		{ "2026-11-27x", "EINVAL" },
		{ " 2026-11-27", "EINVAL" },
		{ "+2026-11-27", "EINVAL" },
		{ "20261127", "EINVAL" },
		{ "2026-1-27", "EINVAL" },
		{ "yesterday", "EINVAL" },
	};
	char buf[32];
	time_t t = 42;
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (strcmp(reparse(cases[i][0], buf, sizeof(buf)), cases[i][1]) != 0)
			fail_msg("time_parse(\"%s\") gave %s, want %s", cases[i][0],
				 reparse(cases[i][0], buf, sizeof(buf)), cases[i][1]);
	assert_int_equal(time_parse("2026-11-27", &t), 0);
	assert_int_equal(t, 1795737600);
	t = 42;
	assert_int_equal(time_parse("2026-11-27T10:00:00+1:00", &t), CAIRN_EINVAL);
	assert_int_equal(t, 42); /* untouched on failure */
	assert_int_equal(time_parse(NULL, &t), CAIRN_EINVAL);
	/* The offset is read from exactly the bytes given: nothing after the NUL. */
	{
		char *heap = malloc(25);
		memcpy(heap, "2026-11-27T10:00:00+1:00", 25);
		assert_int_equal(time_parse(heap, &t), CAIRN_EINVAL);
		free(heap);
	}
}

static void test_errors(void **state)
{
	cairn_err_t err = { 0 };
	(void)state;

	assert_string_equal(cairn_strerror(0), "success");
	assert_string_equal(cairn_strerror(CAIRN_EBADCSR), "malformed CSR");
	assert_string_equal(cairn_strerror(12345), "unknown error");
	assert_true(CAIRN_EINVAL < 0 && CAIRN_ETOOBIG < 0);
	assert_int_equal(cairn_err_set(&err, CAIRN_ENAME, "name %s refused", "x"), CAIRN_ENAME);
	assert_string_equal(cairn_err_msg(&err), "name x refused");
}

/* The error -> HTTP table: every code answers with a 4xx/5xx and both types; the
 * rows each channel relied on before the table keep their answers. */
static void test_error_http(void **state)
{
	static const int codes[] = {
#define CODE(name, msg) name,
		CAIRN_ERROR_LIST(CODE)
#undef CODE
	};
	const cairn_http_error_t *m;
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		m = cairn_err_http(codes[i]);
		assert_true(m->status >= 400 && m->status <= 599);
		assert_non_null(m->type);
		assert_non_null(m->acme_type);
	}
	m = cairn_err_http(CAIRN_ECSRSIG);
	assert_int_equal(m->status, 400);
	assert_string_equal(m->type, "badSignature");
	assert_string_equal(m->acme_type, "badCSR");
	assert_string_equal(cairn_err_http(CAIRN_EKEYTYPE)->acme_type, "badPublicKey");
	assert_int_equal(cairn_err_http(CAIRN_EDENIED)->status, 403);
	assert_string_equal(cairn_err_http(CAIRN_EDENIED)->acme_type, "rejectedIdentifier");
	assert_int_equal(cairn_err_http(CAIRN_ENOENT)->status, 404);
	assert_int_equal(cairn_err_http(CAIRN_EEXIST)->status, 409);
	/* the server's own failures, 0 and codes outside the list: 500 serverInternal */
	assert_int_equal(cairn_err_http(CAIRN_EDB)->status, 500);
	assert_string_equal(cairn_err_http(CAIRN_ENOMEM)->acme_type, "serverInternal");
	assert_int_equal(cairn_err_http(0)->status, 500);
	assert_int_equal(cairn_err_http(CAIRN_ERROR_BASE)->status, 500);
	assert_int_equal(cairn_err_http(CAIRN_ERROR_END)->status, 500);
	assert_int_equal(cairn_err_http(12345)->status, 500);
}

static void test_files(void **state)
{
	char dir[] = "/tmp/cairn-test-util-XXXXXX", *path, *nested, *data, *abs;
	size_t len;
	(void)state;

	assert_non_null(mkdtemp(dir));
	path = fs_join(dir, "f.txt");
	nested = fs_join(dir, "a/b/c");
	assert_int_equal(fs_write_atomic(path, "hello", 5, 0600), 0);
	assert_int_equal(fs_read(path, 100, &data, &len), 0);
	assert_int_equal(len, 5);
	assert_string_equal(data, "hello");
	free(data);
	assert_int_equal(fs_read(path, 3, &data, &len), CAIRN_ETOOBIG);
	assert_int_equal(fs_read("/nonexistent/x", 3, &data, &len), CAIRN_ENOENT);
	assert_int_equal(fs_mkdirs(nested, 0700), 0);
	assert_true(fs_exists(nested));
	abs = fs_join("/d", "/abs");
	assert_string_equal(abs, "/abs");
	free(abs);
	unlink(path);
	rmdir(nested);
	*strrchr(nested, '/') = '\0';
	rmdir(nested);
	*strrchr(nested, '/') = '\0';
	rmdir(nested);
	rmdir(dir);
	free(path);
	free(nested);
}

/* fs_open_regular and fs_read_regular: a FIFO (nothing writes it) and a directory are
 * refused at once with CAIRN_EINVAL; a regular file reads as fs_read reads it. */
static void test_regular_files(void **state)
{
	char dir[] = "/tmp/cairn-test-util-XXXXXX", *path, *fifo, *data = NULL;
	size_t len = 0;
	int fd = -1;
	(void)state;

	assert_non_null(mkdtemp(dir));
	path = fs_join(dir, "f.txt");
	fifo = fs_join(dir, "fifo");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(fs_open_regular(fifo, &fd), CAIRN_EINVAL);
	assert_int_equal(fd, -1);
	assert_int_equal(fs_read_regular(fifo, 100, &data, &len), CAIRN_EINVAL);
	assert_null(data);
	assert_int_equal(fs_open_regular(dir, &fd), CAIRN_EINVAL);
	assert_int_equal(fs_open_regular("/nonexistent/x", &fd), CAIRN_ENOENT);
	assert_int_equal(fs_write_atomic(path, "hello", 5, 0600), 0);
	assert_int_equal(fs_read_regular(path, 100, &data, &len), 0);
	assert_int_equal(len, 5);
	assert_string_equal(data, "hello");
	free(data);
	assert_int_equal(fs_read_regular(path, 4, &data, &len), CAIRN_ETOOBIG);
	assert_int_equal(fs_open_regular(path, &fd), 0);
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	unlink(fifo);
	rmdir(dir);
	free(path);
	free(fifo);
}

/* util_json_parse of a NUL-terminated literal with the given depth bound. */
static int parse(const char *text, int depth, json_t **doc, char *why)
{
	util_json_limits_t lim = { depth, 4096 };

	return util_json_parse(text, strlen(text), &lim, doc, why, 128);
}

static void test_json_limits(void **state)
{
	char why[128];
	json_t *doc = NULL;
	(void)state;

	assert_int_equal(parse("{\"a\":[1,{\"b\":2}]}", 3, &doc, why), 0);
	assert_non_null(doc);
	json_decref(doc);
	assert_int_equal(parse("{\"a\":[1,{\"b\":2}]}", 2, &doc, why), CAIRN_ETOOBIG);
	assert_null(doc);
	assert_non_null(strstr(why, "deeper than 2"));
	assert_int_equal(parse("{\"a\":1,\"a\":2}", 8, &doc, why), CAIRN_EINVAL);
	assert_non_null(strstr(why, "duplicate"));
	assert_int_equal(parse("{\"a\":", 8, &doc, why), CAIRN_EINVAL);
	/* Only objects and arrays at the top, as jansson decodes by default. */
	assert_int_equal(parse("1", 8, &doc, why), CAIRN_EINVAL);
	assert_null(doc);
	/* The length bound holds before jansson reads a byte; NULL limits are the defaults. */
	{
		util_json_limits_t small = { 8, 16 };
		char deep[2 * 40 + 1];
		int i;

		assert_int_equal(util_json_parse("{\"a\":\"0123456789\"}", 18, &small, &doc, why,
						 sizeof(why)),
				 CAIRN_ETOOBIG);
		assert_null(doc);
		assert_non_null(strstr(why, "longer than 16"));
		for (i = 0; i < 40; i++)
			deep[i] = '[', deep[40 + i] = ']';
		deep[80] = '\0';
		assert_int_equal(util_json_parse(deep, 80, NULL, &doc, why, sizeof(why)),
				 CAIRN_ETOOBIG);
		assert_int_equal(util_json_parse(deep + 8, 64, NULL, &doc, why, sizeof(why)), 0);
		json_decref(doc);
	}
}

/* util_json_text(s) dumped as a JSON string. */
static char *as_json(const char *s)
{
	json_t *v = util_json_text(s);
	char *text;

	assert_non_null(v);
	text = json_dumps(v, JSON_ENCODE_ANY);
	json_decref(v);
	assert_non_null(text);
	return text;
}

static void test_json_text(void **state)
{
	static const char *const cases[][2] = {
		{ "plain", "\"plain\"" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91\"" },
		/* the attack: a newline and an invalid byte in a user name */
		{ "x\nFORGED\xff", "\"x\\nFORGED\xef\xbf\xbd\"" },
		{ "/certificates/\xff", "\"/certificates/\xef\xbf\xbd\"" },
		/* stray continuation, truncated, overlong, surrogate, past U+10FFFF, bad lead */
		{ "a\x80z", "\"a\xef\xbf\xbdz\"" },
		{ "a\xc3", "\"a\xef\xbf\xbd\"" },
		{ "\xe2\x82", "\"\xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "\xe0\x80\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "\xf4\x90\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "\xf5", "\"\xef\xbf\xbd\"" },
		/* control characters are kept, escaped by JSON */
		{ "a\tb\x01", "\"a\\tb\\u0001\"" },
		{ "", "\"\"" },
	};
	size_t i;
	char *text;
	(void)state;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		text = as_json(cases[i][0]);
		if (strcmp(text, cases[i][1]) != 0)
			fail_msg("case %zu: got %s, want %s", i, text, cases[i][1]);
		/* util_utf8_valid says the same: valid exactly when nothing was replaced */
		if (util_utf8_valid(cases[i][0]) != (strstr(text, "\xef\xbf\xbd") == NULL))
			fail_msg("case %zu: util_utf8_valid disagrees with util_json_text", i);
		free(text);
	}
	text = as_json(NULL);
	assert_string_equal(text, "\"\"");
	free(text);
}

/* A problem detail with invalid UTF-8, or cut inside a character, is still a problem
 * document with that status: the bad bytes as U+FFFD (it was a 500 "out of memory"). */
static void test_problem_detail(void **state)
{
	http_reply_t r = { 0 };
	char longer[2000];
	json_t *doc;
	size_t i;
	(void)state;

	http_reply_problem(&r, 404, NULL, "no such resource: %s", "/nope\xff");
	assert_int_equal(r.status, 404);
	assert_non_null(doc = json_loadb(r.body, r.body_len, 0, NULL));
	assert_string_equal(json_string_value(json_object_get(doc, "detail")),
			    "no such resource: /nope\xef\xbf\xbd");
	json_decref(doc);
	http_reply_clear(&r);
	/* 1 + 2k bytes of "\xc3\xa9": the 1023-byte detail ends inside a character */
	longer[0] = 'x';
	for (i = 1; i + 2 < sizeof(longer); i += 2)
		memcpy(longer + i, "\xc3\xa9", 2);
	longer[i] = '\0';
	http_reply_problem(&r, 404, NULL, "%s", longer);
	assert_int_equal(r.status, 404);
	assert_non_null(doc = json_loadb(r.body, r.body_len, 0, NULL));
	assert_int_equal(json_integer_value(json_object_get(doc, "status")), 404);
	json_decref(doc);
	http_reply_clear(&r);
}

/* Runs fn with stderr going to a file; returns what it wrote (malloc'd). */
static char *capture_stderr(void (*fn)(void))
{
	char path[] = "/tmp/cairn-test-log-XXXXXX", *data = NULL;
	size_t len;
	int fd = mkstemp(path), saved = dup(2);

	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	assert_int_equal(fs_read(path, 1 << 16, &data, &len), 0);
	unlink(path);
	return data;
}

static void log_attack(void)
{
	log_kv(LOG_LVL_WARN, "admin", "call refused", "remote", "127.0.0.1", "path",
	       "/x\xff\n{\"level\":\"info\"}", "user", "x\nFORGED\xff", "reason", NULL, NULL);
	log_msg(LOG_LVL_WARN, "est", "refused for %s", "x\nFORGED\xff");
	log_debug("est", "below the level: not written");
}

static void test_log_lines(void **state)
{
	char *out = capture_stderr(log_attack), *line, *save = NULL;
	json_t *doc;
	int n = 0;
	(void)state;

	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		doc = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
		if (doc == NULL)
			fail_msg("log line %d is not JSON: %s", n + 1, line);
		if (n == 0) {
			assert_string_equal(json_string_value(json_object_get(doc, "msg")), "call refused");
			assert_string_equal(json_string_value(json_object_get(doc, "user")),
					    "x\nFORGED\xef\xbf\xbd");
			assert_string_equal(json_string_value(json_object_get(doc, "path")),
					    "/x\xef\xbf\xbd\n{\"level\":\"info\"}");
			assert_string_equal(json_string_value(json_object_get(doc, "remote")), "127.0.0.1");
			assert_true(json_is_null(json_object_get(doc, "reason")));
		} else {
			assert_string_equal(json_string_value(json_object_get(doc, "msg")),
					    "refused for x\nFORGED\xef\xbf\xbd");
		}
		json_decref(doc);
		n++;
	}
	assert_int_equal(n, 2);
	free(out);
}

/* The reader of test_log_stalled: everything from fd arg until EOF. */
struct drain {
	int fd;
	char *buf;
	size_t len, cap;
};

static void *drain_fd(void *arg)
{
	struct drain *d = arg;
	ssize_t n;

	for (;;) {
		if (d->cap - d->len < 65536) {
			d->cap = d->cap * 2 + 65536;
			assert_non_null(d->buf = realloc(d->buf, d->cap + 1));
		}
		n = read(d->fd, d->buf + d->len, d->cap - d->len);
		if (n <= 0)
			break;
		d->len += (size_t)n;
	}
	d->buf[d->len] = '\0';
	return NULL;
}

/* A stderr nobody reads (a pipe of one page): with the log's writer thread, 30,000 lines
 * of ~280 bytes (8 MB) are taken without the caller ever waiting on the pipe; past the
 * queue's 4 MiB they are dropped and counted, and log_state says a write is stuck. Once
 * the pipe is read, the lines kept come out whole and in order, a prefix of what was
 * logged, then the note naming the count dropped; kept + dropped = logged. Without the
 * writer thread the first write past the pipe's page would never return (the alarm
 * fails the test instead of hanging it). */
static void test_log_stalled(void **state)
{
	enum { LINES = 30000 };
	struct drain d = { 0 };
	pthread_t reader;
	char pad[201], *line, *save = NULL, *msg;
	uint64_t dropped, blocked_ms, note = 0;
	int64_t since;
	int p[2], saved = dup(2), i, next = 0, n;
	json_t *doc;
	(void)state;

	memset(pad, 'x', 200);
	pad[200] = '\0';
	assert_int_equal(pipe(p), 0);
	assert_true(fcntl(p[1], F_SETPIPE_SZ, 4096) >= 4096);
	fflush(stderr);
	dup2(p[1], 2);
	close(p[1]);
	alarm(60);
	assert_int_equal(log_async_start(), 0);
	for (i = 0; i < LINES; i++)
		log_msg(LOG_LVL_WARN, "test", "line %06d %s", i, pad);
	log_state(&dropped, &since, &blocked_ms);
	assert_true(dropped > 0 && dropped < LINES);
	assert_true(since > 0); /* the writer is in a write that has not returned */
	d.fd = p[0];
	assert_int_equal(pthread_create(&reader, NULL, drain_fd, &d), 0);
	log_async_stop(); /* what is queued is written, the note last */
	dup2(saved, 2);   /* the pipe's last write end: the reader sees its end */
	close(saved);
	pthread_join(reader, NULL);
	close(p[0]);
	alarm(0);
	log_state(&dropped, &since, &blocked_ms);
	assert_int_equal(since, 0);
	for (line = strtok_r(d.buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		assert_non_null(doc = json_loads(line, 0, NULL));
		msg = (char *)json_string_value(json_object_get(doc, "msg"));
		assert_non_null(msg);
		if (sscanf(msg, "line %d ", &n) == 1) {
			assert_int_equal(n, next); /* whole, in order, none after a gap */
			assert_int_equal(note, 0);
			next++;
		} else {
			assert_int_equal(sscanf(msg, "%" SCNu64 " log lines dropped", &note), 1);
			assert_string_equal(json_string_value(json_object_get(doc, "level")), "warn");
		}
		json_decref(doc);
	}
	assert_int_equal(note, dropped);
	assert_int_equal((uint64_t)next + dropped, LINES);
	free(d.buf);
}

/* Failure limits: limit failures pass, the next check is refused with a wait; other keys
 * are unaffected; a table far smaller than the keys seen stays usable. */
static void test_ratelimit(void **state)
{
	util_ratelimit_t *rl = NULL;
	unsigned refused = 9;
	uint64_t wait;
	char key[32];
	int i;
	(void)state;

	assert_int_equal(util_ratelimit_new(0, 3, 60000, &rl), CAIRN_EINVAL);
	assert_int_equal(util_ratelimit_new(16, 3, 60000, &rl), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(util_ratelimit_check(rl, "addr:192.0.2.1", &refused), 0);
		assert_int_equal(refused, 0);
		util_ratelimit_fail(rl, "addr:192.0.2.1");
	}
	wait = util_ratelimit_check(rl, "addr:192.0.2.1", &refused);
	assert_true(wait > 0 && wait <= 20000); /* one failure leaks away every 60 s / 3 */
	assert_int_equal(refused, 1);
	assert_true(util_ratelimit_check(rl, "addr:192.0.2.1", &refused) > 0);
	assert_int_equal(refused, 2);
	assert_int_equal(util_ratelimit_check(rl, "addr:192.0.2.2", &refused), 0);
	/* Many more keys than slots: memory stays fixed, the table keeps working. */
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "user:u%d", i);
		util_ratelimit_fail(rl, key);
	}
	util_ratelimit_fail(rl, "user:last");
	assert_int_equal(util_ratelimit_check(rl, "user:last", &refused), 0);
	util_ratelimit_free(rl);
	/* A short window lets the key try again once it has passed. */
	assert_int_equal(util_ratelimit_new(16, 1, 50, &rl), 0);
	util_ratelimit_fail(rl, "k");
	assert_true(util_ratelimit_check(rl, "k", &refused) > 0);
	usleep(60 * 1000);
	assert_int_equal(util_ratelimit_check(rl, "k", &refused), 0);
	assert_int_equal(refused, 1); /* the lock-out that ended, reported once */
	assert_int_equal(util_ratelimit_check(rl, "k", &refused), 0);
	assert_int_equal(refused, 0);
	/* A count given back (its audit write failed) is reported again, once; no failure. */
	util_ratelimit_recount(rl, "k", 7);
	util_ratelimit_recount(rl, "new", 2);
	assert_int_equal(util_ratelimit_check(rl, "k", &refused), 0);
	assert_int_equal(refused, 7);
	assert_int_equal(util_ratelimit_check(rl, "k", &refused), 0);
	assert_int_equal(refused, 0);
	assert_int_equal(util_ratelimit_check(rl, "new", &refused), 0);
	assert_int_equal(refused, 2);
	util_ratelimit_free(rl);
}

/* The limiters' key of a client address: an IPv4-mapped IPv6 address is its IPv4 one (no
 * second budget by spelling), an IPv6 address its /64 (a host has a /64 to pick from). */
static void test_net_addr_key(void **state)
{
	char a[RL_KEY_MAX], b[RL_KEY_MAX];
	(void)state;

	net_addr_key("192.0.2.7", a, sizeof(a));
	assert_string_equal(a, "addr:192.0.2.7");
	net_addr_key("::ffff:192.0.2.7", b, sizeof(b));
	assert_string_equal(b, a);
	net_addr_key("::FFFF:192.0.2.7", b, sizeof(b));
	assert_string_equal(b, a);
	net_addr_key("::ffff:c000:207", b, sizeof(b));
	assert_string_equal(b, a);
	net_addr_key("2001:db8:1:2:aaaa::1", a, sizeof(a));
	assert_string_equal(a, "addr:2001:db8:1:2::/64");
	net_addr_key("2001:db8:1:2:ffff:ffff:ffff:ffff", b, sizeof(b));
	assert_string_equal(b, a);
	net_addr_key("2001:db8:1:3::1", b, sizeof(b));
	assert_string_not_equal(b, a);
	net_addr_key("::1", a, sizeof(a));
	assert_string_equal(a, "addr:::/64");
	net_addr_key(NULL, a, sizeof(a));
	assert_string_equal(a, "addr:");
}

/* A periodic job: runs at once, again when the time it returned has come, sees a stop
 * asked during a run, and a stop while it waits for a time far off returns at once. */
struct periodic_count {
	atomic_int runs, saw_stop;
	int64_t again;                  /* what each run returns: 0 = now + 1, else this */
	util_periodic_t *p;
};

static int64_t periodic_count_run(void *arg, int64_t now)
{
	struct periodic_count *c = arg;

	if (atomic_fetch_add(&c->runs, 1) == 2)
		while (!util_periodic_stopping(c->p)) /* the third run waits for the stop */
			usleep(1000);
	atomic_store(&c->saw_stop, util_periodic_stopping(c->p));
	return c->again ? c->again : now + 1;
}

static void test_periodic(void **state)
{
	struct periodic_count c = { 0 };
	uint64_t t0;
	int i;
	(void)state;

	assert_int_equal(util_periodic_start(periodic_count_run, &c, 3600, &c.p), 0);
	for (i = 0; i < 500 && atomic_load(&c.runs) < 3; i++) /* bounded: 5 s */
		usleep(10 * 1000);
	assert_int_equal(atomic_load(&c.runs), 3); /* at once, then each second */
	util_periodic_stop(c.p); /* the third run returns once it sees it */
	assert_int_equal(atomic_load(&c.saw_stop), 1);
	assert_int_equal(atomic_load(&c.runs), 3);
	/* a next run an hour away: the stop does not wait for it */
	memset(&c, 0, sizeof(c));
	c.again = INT64_MAX;
	assert_int_equal(util_periodic_start(periodic_count_run, &c, 3600, &c.p), 0);
	for (i = 0; i < 500 && atomic_load(&c.runs) < 1; i++)
		usleep(10 * 1000);
	assert_int_equal(atomic_load(&c.runs), 1);
	t0 = time_mono_ms();
	util_periodic_stop(c.p);
	assert_true(time_mono_ms() - t0 < 1000);
	assert_int_equal(atomic_load(&c.runs), 1);
	util_periodic_stop(NULL);
	assert_int_equal(util_periodic_stopping(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url_roundtrip), cmocka_unit_test(test_b64url_alphabet),
		cmocka_unit_test(test_b64url_rejects),   cmocka_unit_test(test_b64url_every_byte),   cmocka_unit_test(test_hex),
		cmocka_unit_test(test_duration),         cmocka_unit_test(test_time),
		cmocka_unit_test(test_http_date),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_error_http),           cmocka_unit_test(test_files),
		cmocka_unit_test(test_regular_files),
		cmocka_unit_test(test_json_limits),      cmocka_unit_test(test_json_text),
		cmocka_unit_test(test_problem_detail),
		cmocka_unit_test(test_log_lines),        cmocka_unit_test(test_log_stalled),
		cmocka_unit_test(test_ratelimit),        cmocka_unit_test(test_net_addr_key),
		cmocka_unit_test(test_periodic),
	};
	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
