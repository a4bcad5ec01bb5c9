/* SPDX-License-Identifier: MIT */
/* Unit tests for util/: base64url, hex, durations, time parsing, error list, files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static void test_time(void **state)
{
	time_t t;
	char buf[32];
	(void)state;

	assert_int_equal(time_parse("2026-11-27T10:00:00Z", &t), 0);
	time_rfc3339(t, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-27T10:00:00Z");
	assert_int_equal(time_parse("2026-11-27T12:00:00+02:00", &t), 0);
	time_rfc3339(t, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-27T10:00:00Z");
	assert_int_equal(time_parse("2026-11-27", &t), 0);
	assert_int_equal(t, 1795737600);
	assert_int_equal(time_parse("yesterday", &t), CAIRN_EINVAL);
	assert_int_equal(time_parse("2026-11-27T10:00:00", &t), CAIRN_EINVAL);
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

/* util_json_parse of a NUL-terminated literal with the given depth bound. */
static int parse(const char *text, int depth, json_t **doc, char *why)
{
	return util_json_parse(text, strlen(text), depth, doc, why, 128);
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
	util_ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url_roundtrip), cmocka_unit_test(test_b64url_alphabet),
		cmocka_unit_test(test_b64url_rejects),   cmocka_unit_test(test_hex),
		cmocka_unit_test(test_duration),         cmocka_unit_test(test_time),
		cmocka_unit_test(test_errors),           cmocka_unit_test(test_files),
		cmocka_unit_test(test_json_limits),      cmocka_unit_test(test_ratelimit),
	};
	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
