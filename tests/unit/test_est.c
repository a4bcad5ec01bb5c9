/* SPDX-License-Identifier: MIT */
/* Unit tests for est/: settings validation, base64, certs-only CMS, CsrAttrs, server keygen CSR, enrollment accounts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "est/est_int.h"

static db_t *db;

static int setup(void **state)
{
	char dir[] = "/tmp/cairn-test-est-XXXXXX", path[64];
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
	return 0;
}

/* Parses text as the "est" object; returns the code, err filled. */
static int parse(const char *text, est_settings_t *set, cairn_err_t *err)
{
	json_t *obj = json_loads(text, 0, NULL);
	int rc;

	assert_non_null(obj);
	rc = est_settings_parse(obj, set, err);
	json_decref(obj);
	return rc;
}

static void test_settings_default(void **state)
{
	est_settings_t set;
	cairn_err_t err = { 0 };
	(void)state;

	assert_int_equal(est_settings_parse(NULL, &set, &err), 0);
	assert_int_equal(set.n_labels, 1);
	assert_string_equal(set.labels[0].name, "default");
	assert_string_equal(set.labels[0].profile, "tls-client");
	assert_int_equal(set.labels[0].serverkeygen, 0);
	assert_int_equal(set.channel_binding, EST_CB_OFF);
	assert_int_equal(set.retry_after, 60);
}

static void test_settings_labels(void **state)
{
	est_settings_t set;
	cairn_err_t err = { 0 };
	(void)state;

	assert_int_equal(parse("{\"default_label\": \"iot\", \"channel_binding\": \"tls-exporter\","
			       " \"labels\": {\"iot\": {\"profile\": \"tls-client\", \"validity_days\": 30,"
			       " \"serverkeygen\": true, \"policy_group\": \"devices\"}}}",
			       &set, &err),
			 0);
	assert_int_equal(set.n_labels, 1);
	assert_int_equal(set.labels[0].validity_days, 30);
	assert_int_equal(set.labels[0].serverkeygen, 1);
	assert_string_equal(set.labels[0].policy_group, "devices");
	assert_int_equal(set.channel_binding, EST_CB_TLS_EXPORTER);
	assert_int_equal(set.auth_fail_limit, EST_AUTH_FAIL_LIMIT);
	assert_int_equal(set.auth_fail_window, EST_AUTH_FAIL_WINDOW);
	assert_int_equal(parse("{\"auth_fail_limit\": 3, \"auth_fail_window\": 30, \"labels\":"
			       " {\"default\": {\"profile\": \"tls-server\","
			       " \"client_cert_profiles\": [\"tls-client\"]}}}",
			       &set, &err),
			 0);
	assert_int_equal(set.auth_fail_limit, 3);
	assert_int_equal(set.auth_fail_window, 30);
	assert_int_equal(set.labels[0].n_client_cert_profiles, 1);
	assert_string_equal(set.labels[0].client_cert_profiles[0], "tls-client");
}

static void test_settings_errors_name_the_key(void **state)
{
	static const struct {
		const char *text, *key;
	} cases[] = {
		{ "{\"labels\": {\"default\": {\"profile\": \"x\", \"validity_days\": 9999}}}",
		  "est.labels.default.validity_days" },
		{ "{\"labels\": {\"default\": {\"validity_days\": 1}}}", "est.labels.default.profile" },
		{ "{\"labels\": {\"default\": {\"profile\": \"x\", \"colour\": 1}}}",
		  "est.labels.default.colour" },
		{ "{\"labels\": {\"Bad Label\": {\"profile\": \"x\"}}}", "est.labels.Bad Label" },
		{ "{\"labels\": {\"cacerts\": {\"profile\": \"x\"}}}", "est.labels.cacerts" },
		{ "{\"labels\": {\"a\": {\"profile\": \"x\"}}}", "est.default_label" },
		{ "{\"channel_binding\": \"yes\", \"labels\": {}}", "est.channel_binding" },
		{ "{\"retry_after\": 0}", "est.retry_after" },
		{ "{\"revoke_superseded\": 1}", "est.revoke_superseded" },
		{ "{\"nonsense\": 1}", "est.nonsense" },
		{ "{\"labels\": {\"default\": {\"profile\": \"x\", \"client_cert_profiles\": \"x\"}}}",
		  "est.labels.default.client_cert_profiles" },
		{ "{\"labels\": {\"default\": {\"profile\": \"x\", \"client_cert_profiles\": [1]}}}",
		  "est.labels.default.client_cert_profiles[0]" },
		{ "{\"labels\": {\"default\": {\"profile\": \"x\", \"client_cert_profiles\": [\"admin\"]}}}",
		  "est.labels.default.client_cert_profiles[0]: admin certificates never" },
		{ "{\"labels\": {\"default\": {\"profile\": \"x\","
		  " \"client_cert_profiles\": [\"tls-client\", \"daemon-tls\"]}}}",
		  "est.labels.default.client_cert_profiles[1]: daemon-tls" },
		{ "{\"auth_fail_limit\": 0}", "est.auth_fail_limit" },
		{ "{\"auth_fail_window\": 86401}", "est.auth_fail_window" },
		/* what OpenSSL's scrypt refuses: 128 * r * (N + p + 2) bytes over 64 MiB ... */
		{ "{\"scrypt_n\": 65536}", "est.scrypt_n/r/p: N=65536 r=8 p=1 need 67111936 bytes" },
		{ "{\"scrypt_r\": 32}", "est.scrypt_n/r/p: N=16384 r=32 p=1 need" },
		/* ... or N not below 2^16 with r = 1 */
		{ "{\"scrypt_n\": 262144, \"scrypt_r\": 1}", "N must be below 65536" },
	};
	est_settings_t set;
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cairn_err_t err = { 0 };
		assert_int_equal(parse(cases[i].text, &set, &err), CAIRN_ECONFIG);
		if (strstr(err.msg, cases[i].key) == NULL)
			fail_msg("case %zu: \"%s\" does not name %s", i, err.msg, cases[i].key);
	}
	/* just under the bounds: 56 MiB; N=32768 with r = 1 */
	for (i = 0; i < 2; i++) {
		static const char *const under[] = {
			"{\"labels\": {\"default\": {\"profile\": \"x\"}}, \"scrypt_n\": 65536, "
			"\"scrypt_r\": 7, \"scrypt_p\": 16}",
			"{\"labels\": {\"default\": {\"profile\": \"x\"}}, \"scrypt_n\": 32768, "
			"\"scrypt_r\": 1}",
		};
		cairn_err_t err = { 0 };
		if (parse(under[i], &set, &err) != 0)
			fail_msg("%s refused: %s", under[i], err.msg);
		assert_int_equal(set.scrypt_n, i == 0 ? 65536 : 32768);
	}
}

static void test_b64(void **state)
{
	const uint8_t data[] = { 0x30, 0x82, 0x01, 0xff, 0x00, 0x10, 0x20 };
	uint8_t big[200], *out = NULL;
	size_t len = 0, olen = 0, i;
	char *text = NULL;
	(void)state;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	assert_int_equal(est_b64_encode(big, sizeof(big), &text, &len), 0);
	assert_non_null(strchr(text, '\n')); /* lines of 64 */
	assert_int_equal(est_b64_decode(text, len, &out, &olen), 0);
	assert_int_equal(olen, sizeof(big));
	assert_memory_equal(out, big, sizeof(big));
	free(out);
	free(text);
	assert_int_equal(est_b64_encode(data, sizeof(data), &text, &len), 0);
	assert_int_equal(est_b64_decode(text, len, &out, &olen), 0);
	assert_int_equal(olen, sizeof(data)); /* padding is not counted */
	free(out);
	free(text);
	assert_int_equal(est_b64_decode("MDAw\r\n MDAw\t", 11, &out, &olen), 0);
	assert_int_equal(olen, 6);
	free(out);
	assert_int_equal(est_b64_decode("not base64!", 11, &out, &olen), CAIRN_EINVAL);
	assert_int_equal(est_b64_decode("MDA", 3, &out, &olen), CAIRN_EINVAL);
	assert_int_equal(est_b64_decode("MD=w", 4, &out, &olen), CAIRN_EINVAL);
	assert_int_equal(est_b64_decode("", 0, &out, &olen), CAIRN_EINVAL);
}

static X509 *self_signed(const char *cn, EVP_PKEY **keyp)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
	X509 *x = X509_new();

	assert_non_null(k);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	if (keyp)
		*keyp = k;
	else
		EVP_PKEY_free(k);
	return x;
}

static void test_certs_only(void **state)
{
	X509 *certs[2] = { self_signed("one", NULL), self_signed("two", NULL) };
	uint8_t *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	PKCS7 *p7;
	(void)state;

	assert_int_equal(est_certs_only(certs, 2, &der, &len), 0);
	p = der;
	p7 = d2i_PKCS7(NULL, &p, (long)len);
	assert_non_null(p7);
	assert_true(PKCS7_type_is_signed(p7));
	assert_int_equal(sk_X509_num(p7->d.sign->cert), 2);
	assert_int_equal(X509_cmp(sk_X509_value(p7->d.sign->cert, 0), certs[0]), 0);
	assert_int_equal(sk_PKCS7_SIGNER_INFO_num(p7->d.sign->signer_info), 0);
	assert_null(p7->d.sign->contents->d.data); /* no eContent */
	PKCS7_free(p7);
	OPENSSL_free(der);
	X509_free(certs[0]);
	X509_free(certs[1]);
}

static void test_csrattrs(void **state)
{
	ca_profile_t prof = { .name = "tls-client", .n_eku = 1 };
	uint8_t *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	ASN1_SEQUENCE_ANY *seq;
	(void)state;

	snprintf(prof.eku[0], sizeof(prof.eku[0]), "1.3.6.1.5.5.7.3.2");
	assert_int_equal(est_csrattrs_der(&prof, 1, &der, &len), 0);
	p = der;
	seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, (long)len);
	assert_non_null(seq);
	/* challengePassword, the EC attribute, ecdsa-with-SHA256, clientAuth */
	assert_int_equal(sk_ASN1_TYPE_num(seq), 4);
	assert_int_equal(sk_ASN1_TYPE_value(seq, 0)->type, V_ASN1_OBJECT);
	assert_int_equal(OBJ_obj2nid(sk_ASN1_TYPE_value(seq, 0)->value.object),
			 NID_pkcs9_challengePassword);
	assert_int_equal(sk_ASN1_TYPE_value(seq, 1)->type, V_ASN1_SEQUENCE);
	assert_int_equal(OBJ_obj2nid(sk_ASN1_TYPE_value(seq, 3)->value.object), NID_client_auth);
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
	OPENSSL_free(der);
}

static void test_keygen_csr(void **state)
{
	EVP_PKEY *dev = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp384r1"), *key = NULL;
	X509_REQ *in = X509_REQ_new(), *out = NULL;
	cairn_err_t err = { 0 };
	(void)state;

	X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(in), "CN", MBSTRING_ASC,
				   (const unsigned char *)"sensor", -1, -1, 0);
	X509_REQ_set_pubkey(in, dev);
	assert_true(X509_REQ_sign(in, dev, EVP_sha384()) > 0);
	assert_int_equal(est_keygen_csr(in, &key, &out, &err), 0);
	assert_int_equal(X509_REQ_verify(out, key), 1);
	assert_int_equal(EVP_PKEY_eq(X509_REQ_get0_pubkey(out), dev), 0); /* a new key */
	assert_int_equal(EVP_PKEY_get_bits(key), 384);                    /* of the same kind */
	assert_int_equal(X509_NAME_cmp(X509_REQ_get_subject_name(out), X509_REQ_get_subject_name(in)), 0);
	EVP_PKEY_free(key);
	EVP_PKEY_free(dev);
	X509_REQ_free(in);
	X509_REQ_free(out);
}

static int count_user(const char *name, const est_user_info_t *info, void *arg)
{
	(void)name;
	assert_true(info->created > 0);
	(*(int *)arg)++;
	return 0;
}

static void test_users(void **state)
{
	static const char *const labels[] = { "iot", "default" };
	static const char *const bad[] = { "iot", "Not A Label" };
	static const char *const twice[] = { "iot", "iot" };
	est_user_info_t info;
	cairn_err_t err = { 0 };
	int n = 0;
	(void)state;

	assert_int_equal(est_user_add(db, "dev1", "long enough password", NULL, 0, NULL, "test", &err), 0);
	assert_int_equal(est_user_add(db, "dev1", "another password", NULL, 0, NULL, "test", &err),
			 CAIRN_EEXIST);
	assert_int_equal(est_user_add(db, "bad name", "long enough password", NULL, 0, NULL, "test", &err),
			 CAIRN_EINVAL);
	assert_int_equal(est_user_add(db, "dev2", "short", NULL, 0, NULL, "test", &err), CAIRN_EINVAL);
	assert_int_equal(est_user_add(db, "dev3", "long enough password", bad, 2, NULL, "test", &err),
			 CAIRN_EINVAL);
	assert_int_equal(est_user_add(db, "dev3", "long enough password", twice, 2, NULL, "test", &err),
			 CAIRN_EINVAL);
	assert_int_equal(est_user_check(db, "dev1", "long enough password", &info, &err), 0);
	/* Without labels: the default label only. */
	assert_int_equal(info.n_labels, 0);
	assert_true(est_user_may_use(&info, "default", "default"));
	assert_false(est_user_may_use(&info, "iot", "default"));
	assert_int_equal(est_user_check(db, "dev1", "long enough passwore", NULL, &err), CAIRN_EAUTH);
	assert_int_equal(est_user_check(db, "nobody", "long enough password", NULL, &err), CAIRN_EAUTH);
	assert_int_equal(est_user_add(db, "dev2", "second password", labels, 2, NULL, "test", &err), 0);
	assert_int_equal(est_user_get(db, "dev2", &info), 0);
	assert_int_equal(info.n_labels, 2);
	assert_true(est_user_may_use(&info, "iot", "other"));
	assert_true(est_user_may_use(&info, "default", "other"));
	assert_false(est_user_may_use(&info, "other", "other"));
	assert_int_equal(est_user_get(db, "nobody", &info), CAIRN_ENOENT);
	assert_int_equal(est_users_list(db, count_user, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(est_user_del(db, "dev1", "test", &err), 0);
	assert_int_equal(est_user_del(db, "dev1", "test", &err), CAIRN_ENOENT);
	assert_int_equal(est_user_check(db, "dev1", "long enough password", NULL, &err), CAIRN_EAUTH);
	n = 0;
	assert_int_equal(est_users_list(db, count_user, &n), 0);
	assert_int_equal(n, 1);
}

/* Outside bytes in messages: printable ASCII kept, the rest as \xHH, never past cap. */
static void test_shown(void **state)
{
	char out[32];
	(void)state;

	est_shown("x\nFORGED\xff\\", 10, out, sizeof(out));
	assert_string_equal(out, "x\\x0aFORGED\\xff\\x5c");
	est_shown("abcdefgh", 8, out, 6);
	assert_string_equal(out, "ab");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settings_default),
		cmocka_unit_test(test_settings_labels),
		cmocka_unit_test(test_settings_errors_name_the_key),
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_certs_only),
		cmocka_unit_test(test_csrattrs),
		cmocka_unit_test(test_keygen_csr),
		cmocka_unit_test(test_users),
		cmocka_unit_test(test_shown),
	};
	return cmocka_run_group_tests_name("est", tests, setup, teardown);
}
