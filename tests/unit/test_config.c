/* SPDX-License-Identifier: MIT */
/* Unit tests for server/config.c: addresses, validation errors naming the key, PIN sources. */
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

#include "server/server.h"

static char dir[64];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/cairn-test-config-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

/* Writes doc as DIR/cairn.json and loads it; returns config_load's code. */
static int load_doc(json_t *doc, cairn_config_t **cfg, cairn_err_t *err)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/cairn.json", dir);
	assert_int_equal(json_dump_file(doc, path, 0), 0);
	json_decref(doc);
	return config_load(dir, cfg, err);
}

static json_t *default_doc(void)
{
	json_t *profiles = ca_profiles_default();
	json_t *doc = config_default(NULL, NULL, NULL, NULL, profiles);
	json_decref(profiles);
	return doc;
}

static void test_addr(void **state)
{
	char host[64];
	int port;
	(void)state;

	assert_int_equal(config_parse_addr("127.0.0.1:8443", host, sizeof(host), &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 8443);
	assert_int_equal(config_parse_addr("[::1]:0", host, sizeof(host), &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 0);
	assert_int_equal(config_parse_addr("localhost", host, sizeof(host), &port), CAIRN_EINVAL);
	assert_int_equal(config_parse_addr("::1:80", host, sizeof(host), &port), CAIRN_EINVAL);
	assert_int_equal(config_parse_addr("h:70000", host, sizeof(host), &port), CAIRN_EINVAL);
	assert_int_equal(config_parse_addr(":80", host, sizeof(host), &port), CAIRN_EINVAL);
	assert_int_equal(config_parse_addr("h:8x", host, sizeof(host), &port), CAIRN_EINVAL);
}

static void test_defaults_load(void **state)
{
	cairn_config_t *cfg = NULL;
	cairn_err_t err = { 0 };
	(void)state;

	assert_int_equal(load_doc(default_doc(), &cfg, &err), 0);
	assert_string_equal(cfg->listen_https, "127.0.0.1:8443");
	assert_string_equal(cfg->token_label, "cairn");
	assert_int_equal(cfg->threads, 4);
	assert_int_equal(cfg->max_body, 65536);
	assert_int_equal(cfg->ocsp_signer_days, 365);
	assert_int_equal(cfg->tls_days, 825);
	assert_non_null(json_object_get(cfg->profiles, "tls-server"));
	config_free(cfg);
}

static void expect_error(json_t *doc, const char *needle)
{
	cairn_config_t *cfg = NULL;
	cairn_err_t err = { 0 };

	assert_int_equal(load_doc(doc, &cfg, &err), CAIRN_ECONFIG);
	assert_null(cfg);
	if (strstr(err.msg, needle) == NULL)
		fail_msg("error '%s' does not name '%s'", err.msg, needle);
}

static void test_errors_name_the_key(void **state)
{
	json_t *doc;
	(void)state;

	doc = default_doc();
	json_object_set_new(json_object_get(doc, "server"), "threads", json_integer(0));
	expect_error(doc, "server.threads");

	doc = default_doc();
	json_object_set_new(json_object_get(doc, "listen"), "https", json_integer(5));
	expect_error(doc, "listen.https: must be a string");

	doc = default_doc();
	json_object_set_new(doc, "colour", json_string("blue"));
	expect_error(doc, "colour: unknown key");

	doc = default_doc();
	json_object_set_new(json_object_get(doc, "token"), "pin", json_string("1234"));
	expect_error(doc, "token.pin: unknown key");

	doc = default_doc();
	json_object_del(doc, "profiles");
	expect_error(doc, "profiles: required");

	doc = default_doc();
	json_object_set_new(json_object_get(doc, "listen"), "http", json_string("nowhere"));
	expect_error(doc, "listen");

	doc = default_doc();
	json_object_set_new(doc, "log_level", json_string("loud"));
	expect_error(doc, "log_level");

	doc = default_doc();
	json_object_set_new(json_object_get(doc, "server"), "tls_min_version", json_string("1.0"));
	expect_error(doc, "server.tls_min_version: must be 1.2 or 1.3");

	doc = default_doc();
	json_object_set_new(json_object_get(doc, "server"), "tls_priorities",
			    json_string("NORMAL:+VERS-TLS1.0"));
	expect_error(doc, "server.tls_priorities: no VERS-");

	doc = default_doc();
	json_object_set_new(json_object_get(doc, "server"), "tls_priorities",
			    json_string("NORMAL:+NO-SUCH-CIPHER"));
	expect_error(doc, "server.tls_priorities: GnuTLS refuses it at \"+NO-SUCH-CIPHER");

	doc = default_doc();
	json_object_set_new(doc, "est", json_pack("{s:{s:{s:s}}, s:s}", "labels", "ops", "profile",
						  "admin", "default_label", "ops"));
	expect_error(doc, "est.labels.ops.profile: admin logs in to the admin API");

	/* A signer must outlive the answers it signs: two OCSP validities at least. */
	doc = default_doc();
	json_object_set_new(doc, "ocsp", json_pack("{s:i, s:i}", "signer_validity_days", 5,
						   "validity", 3 * 86400));
	expect_error(doc, "ocsp.signer_validity_days: must be at least twice ocsp.validity");

	doc = default_doc();
	json_object_set_new(json_object_get(doc, "tls"), "validity_days", json_integer(826));
	expect_error(doc, "tls.validity_days: must be an integer 1..825");
}

/* The limits have defaults and bounds, and config_parse validates text from memory. */
static void test_limits_from_memory(void **state)
{
#define P "{\"profiles\": {\"tls-server\": {\"validity_days\": 1, \"key_usage\": [\"digitalSignature\"]}, " \
	  "\"tls-client\": {\"validity_days\": 1, \"key_usage\": [\"digitalSignature\"]}}"
	static const char doc[] = P ", \"server\": {\"max_json_depth\": 8, "
				  "\"max_connections_per_ip\": 4}}";
	cairn_config_t *cfg = NULL;
	cairn_err_t err = { 0 };
	(void)state;

	assert_int_equal(config_parse("/nowhere", "mem", doc, sizeof(doc) - 1, &cfg, &err), 0);
	assert_string_equal(cfg->dir, "/nowhere");
	assert_int_equal(cfg->max_json_depth, 8);
	assert_int_equal(cfg->max_connections_per_ip, 4);
	assert_int_equal(cfg->max_header_bytes, 32768);
	assert_int_equal(cfg->connection_timeout, 30);
	config_free(cfg);
	assert_int_equal(config_parse("/nowhere", "mem", P ", \"server\": "
				      "{\"max_header_bytes\": 100}}", sizeof(P) + 37, &cfg, &err),
			 CAIRN_ECONFIG);
	assert_non_null(strstr(err.msg, "server.max_header_bytes: must be an integer 4096..1048576"));
	assert_int_equal(config_parse("/nowhere", "mem", "{\"profiles\": {}, \"profiles\": {}}", 32,
				      &cfg, &err), CAIRN_ECONFIG);
	assert_non_null(strstr(err.msg, "duplicate"));
	/* Not NUL-terminated: only len bytes are read. */
	assert_int_equal(config_parse("/nowhere", "mem", P "}garbage", sizeof(P), &cfg, &err), 0);
	config_free(cfg);
}

static void test_pin_sources(void **state)
{
	cairn_config_t *cfg = NULL;
	cairn_err_t err = { 0 };
	char path[128], *pin = NULL;
	json_t *doc = default_doc();
	FILE *f;
	(void)state;

	json_object_set_new(json_object_get(doc, "token"), "pin_env", json_string("CAIRN_TEST_PIN"));
	assert_int_equal(load_doc(doc, &cfg, &err), 0);
	snprintf(path, sizeof(path), "%s/token.pin", dir);
	unlink(path);
	unsetenv("CAIRN_TEST_PIN");
	assert_int_equal(config_read_pin(cfg, &pin, &err), CAIRN_ENOENT);
	assert_non_null(strstr(err.msg, "token.pin_file"));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("from-file\n", f);
	fclose(f);
	assert_int_equal(config_read_pin(cfg, &pin, &err), 0);
	assert_string_equal(pin, "from-file");
	free(pin);
	setenv("CAIRN_TEST_PIN", "from-env", 1);
	assert_int_equal(config_read_pin(cfg, &pin, &err), 0);
	assert_string_equal(pin, "from-env");
	free(pin);
	unsetenv("CAIRN_TEST_PIN");
	config_free(cfg);
}

static void test_missing_and_malformed(void **state)
{
	cairn_config_t *cfg = NULL;
	cairn_err_t err = { 0 };
	char path[128];
	FILE *f;
	(void)state;

	assert_int_equal(config_load("/nonexistent/cairn", &cfg, &err), CAIRN_ENOENT);
	assert_non_null(strstr(err.msg, "cairn init"));
	snprintf(path, sizeof(path), "%s/cairn.json", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"listen\": {\"https\": \"a:1\", \"https\": \"b:2\"}}", f);
	fclose(f);
	assert_int_equal(config_load(dir, &cfg, &err), CAIRN_ECONFIG);
	assert_non_null(strstr(err.msg, "duplicate"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_defaults_load),
		cmocka_unit_test(test_errors_name_the_key),
		cmocka_unit_test(test_limits_from_memory),
		cmocka_unit_test(test_pin_sources),
		cmocka_unit_test(test_missing_and_malformed),
	};
	int failed = cmocka_run_group_tests_name("config", tests, setup, NULL);

	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return failed;
}
