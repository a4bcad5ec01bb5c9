/* SPDX-License-Identifier: MIT */
/* Unit tests for ca_cert_lint: a good leaf passes; each kind of defect is refused by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"

static EVP_PKEY *root_key, *iss_key, *leaf_key;
static X509 *root, *iss;
static ca_profile_t tls;
static const char *const server_eku[] = { "1.3.6.1.5.5.7.3.1", NULL };
static const char *const client_eku[] = { "1.3.6.1.5.5.7.3.2", NULL };

static X509 *build(const ca_cert_spec_t *spec, X509 *issuer, EVP_PKEY *ikey)
{
	cairn_err_t err = { 0 };
	X509 *x = NULL;

	if (ca_cert_build(spec, issuer, ikey, leaf_key, &x, &err) != 0)
		fail_msg("build: %s", cairn_err_msg(&err));
	return x;
}

static int setup(void **state)
{
	json_t *all = ca_profiles_default();
	ca_cert_spec_t spec;
	cairn_err_t err = { 0 };
	(void)state;

	root_key = EVP_EC_gen("P-384");
	iss_key = EVP_EC_gen("P-256");
	leaf_key = EVP_EC_gen("P-256");
	if (ca_profile_parse("tls-server", json_object_get(all, "tls-server"), &tls, &err) != 0)
		return -1;
	json_decref(all);
	memset(&spec, 0, sizeof(spec));
	spec.subject_cn = "Lint Root";
	spec.validity_days = 3650;
	spec.is_ca = 1;
	spec.path_len = -1;
	spec.key_usage = X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN;
	if (ca_cert_build(&spec, NULL, root_key, root_key, &root, &err) != 0)
		return -1;
	spec.subject_cn = "Lint Issuing";
	spec.validity_days = 1825;
	if (ca_cert_build(&spec, root, root_key, iss_key, &iss, &err) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	X509_free(root);
	X509_free(iss);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(iss_key);
	EVP_PKEY_free(leaf_key);
	return 0;
}

/* A tls-server leaf as ca_issue builds it, with the given SAN text (NULL = none). */
static void good_spec(ca_cert_spec_t *spec, GENERAL_NAMES **sans, const char *san_text)
{
	memset(spec, 0, sizeof(*spec));
	spec->subject_cn = "www.example.test";
	spec->validity_days = 90;
	spec->key_usage = X509v3_KU_DIGITAL_SIGNATURE;
	spec->eku = server_eku;
	spec->ocsp_url = "http://ca.test/ocsp";
	spec->crl_url = "http://ca.test/crl/issuing.crl";
	*sans = NULL;
	if (san_text != NULL) {
		X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san_text);
		assert_non_null(ext);
		*sans = X509V3_EXT_d2i(ext);
		X509_EXTENSION_free(ext);
	}
	spec->sans = *sans;
}

/* Builds spec under issuer and expects lint to refuse it naming needle. */
static void expect_lint(const ca_cert_spec_t *spec, X509 *issuer, EVP_PKEY *ikey,
			const char *needle)
{
	cairn_err_t err = { 0 };
	X509 *x = build(spec, issuer, ikey);

	assert_int_equal(ca_cert_lint(x, iss, &tls, &err), CAIRN_ELINT);
	if (strstr(err.msg, needle) == NULL)
		fail_msg("lint said '%s', expected '%s'", err.msg, needle);
	X509_free(x);
}

static void test_good_leaf_passes(void **state)
{
	ca_cert_spec_t spec;
	GENERAL_NAMES *sans;
	cairn_err_t err = { 0 };
	X509 *x;
	(void)state;

	good_spec(&spec, &sans, "DNS:www.example.test,IP:192.0.2.1");
	x = build(&spec, iss, iss_key);
	if (ca_cert_lint(x, iss, &tls, &err) != 0)
		fail_msg("lint: %s", err.msg);
	X509_free(x);
	GENERAL_NAMES_free(sans);
}

static void test_defects_refused(void **state)
{
	static const uint8_t short_serial[] = { 0x12, 0x34, 0x56, 0x78 };
	ca_cert_spec_t spec;
	GENERAL_NAMES *sans;
	(void)state;

	good_spec(&spec, &sans, "DNS:www.example.test");
	spec.validity_days = 91;
	expect_lint(&spec, iss, iss_key, "longer than the profile");

	spec.validity_days = 90;
	spec.key_usage = X509v3_KU_DIGITAL_SIGNATURE | X509v3_KU_KEY_ENCIPHERMENT;
	expect_lint(&spec, iss, iss_key, "EC or Ed25519 key");

	spec.key_usage = X509v3_KU_DIGITAL_SIGNATURE | X509v3_KU_KEY_CERT_SIGN;
	expect_lint(&spec, iss, iss_key, "keyCertSign");

	spec.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
	spec.eku = client_eku;
	expect_lint(&spec, iss, iss_key, "extendedKeyUsage differs");

	spec.eku = server_eku;
	spec.serial = short_serial;
	spec.serial_len = sizeof(short_serial);
	expect_lint(&spec, iss, iss_key, "8..20 bytes");

	spec.serial = NULL;
	spec.serial_len = 0;
	/* Signed by the root instead: AKI is not the issuing CA's SKI. */
	expect_lint(&spec, root, root_key, "authorityKeyIdentifier");
	GENERAL_NAMES_free(sans);

	good_spec(&spec, &sans, NULL);
	expect_lint(&spec, iss, iss_key, "subjectAltName missing");

	good_spec(&spec, &sans, "DNS:other.example.test");
	expect_lint(&spec, iss, iss_key, "commonName is not one of the subjectAltNames");
	GENERAL_NAMES_free(sans);
}

static void test_arguments(void **state)
{
	cairn_err_t err = { 0 };
	(void)state;

	assert_int_equal(ca_cert_lint(NULL, iss, &tls, &err), CAIRN_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_leaf_passes),
		cmocka_unit_test(test_defects_refused),
		cmocka_unit_test(test_arguments),
	};
	return cmocka_run_group_tests_name("ca_lint", tests, setup, teardown);
}
