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

/* The good leaf, then tamper(x) changes its extensions: lint must name the defect. Lint reads
 * each extension by itself (no extension cache), so what the cache used to catch on the way
 * (a duplicate, an extension that does not decode) is checked here by name. */
static void expect_tampered(void (*tamper)(X509 *), const char *needle)
{
	ca_cert_spec_t spec;
	GENERAL_NAMES *sans;
	cairn_err_t err = { 0 };
	X509 *x;

	good_spec(&spec, &sans, "DNS:www.example.test");
	x = build(&spec, iss, iss_key);
	tamper(x);
	assert_int_equal(ca_cert_lint(x, iss, &tls, &err), CAIRN_ELINT);
	if (strstr(err.msg, needle) == NULL)
		fail_msg("lint said '%s', expected '%s'", err.msg, needle);
	X509_free(x);
	GENERAL_NAMES_free(sans);
}

/* Replaces extension nid by the value given as text (v3 config syntax). */
static void replace_ext(X509 *x, int nid, const char *text)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, nid, text);

	assert_non_null(ext);
	X509_EXTENSION_free(X509_delete_ext(x, X509_get_ext_by_NID(x, nid, -1)));
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* Appends a second copy of extension nid. */
static void dup_ext(X509 *x, int nid)
{
	assert_int_equal(X509_add_ext(x, X509_get_ext(x, X509_get_ext_by_NID(x, nid, -1)), -1), 1);
}

/* Replaces extension nid by one whose value is DER NULL: it does not decode as nid. */
static void garbage_ext(X509 *x, int nid, int crit)
{
	static const unsigned char null_der[] = { 0x05, 0x00 };
	ASN1_OCTET_STRING *v = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext;

	assert_int_equal(ASN1_OCTET_STRING_set(v, null_der, sizeof(null_der)), 1);
	ext = X509_EXTENSION_create_by_NID(NULL, nid, crit, v);
	assert_non_null(ext);
	X509_EXTENSION_free(X509_delete_ext(x, X509_get_ext_by_NID(x, nid, -1)));
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(v);
}

static void t_dup_aia(X509 *x) { dup_ext(x, NID_info_access); }
static void t_dup_ku(X509 *x) { dup_ext(x, NID_key_usage); }
static void t_bc_ca(X509 *x) { replace_ext(x, NID_basic_constraints, "critical,CA:TRUE"); }
static void t_bc_noncrit(X509 *x) { replace_ext(x, NID_basic_constraints, "CA:FALSE"); }
static void t_ku_noncrit(X509 *x) { replace_ext(x, NID_key_usage, "digitalSignature"); }
static void t_ku_garbage(X509 *x) { garbage_ext(x, NID_key_usage, 1); }
static void t_bc_garbage(X509 *x) { garbage_ext(x, NID_basic_constraints, 1); }
static void t_eku_garbage(X509 *x) { garbage_ext(x, NID_ext_key_usage, 0); }
static void t_san_garbage(X509 *x) { garbage_ext(x, NID_subject_alt_name, 0); }
static void t_no_ski(X509 *x)
{
	X509_EXTENSION_free(X509_delete_ext(x, X509_get_ext_by_NID(x, NID_subject_key_identifier, -1)));
}
static void t_eku_any(X509 *x) { replace_ext(x, NID_ext_key_usage, "serverAuth,anyExtendedKeyUsage"); }
static void t_eku_extra(X509 *x) { replace_ext(x, NID_ext_key_usage, "serverAuth,clientAuth"); }

static void test_tampered_refused(void **state)
{
	(void)state;
	expect_tampered(t_dup_aia, "an extension appears twice");
	expect_tampered(t_dup_ku, "an extension appears twice");
	expect_tampered(t_bc_ca, "CA:TRUE on an end-entity");
	expect_tampered(t_bc_noncrit, "basicConstraints is not critical");
	expect_tampered(t_ku_noncrit, "keyUsage is not critical");
	expect_tampered(t_ku_garbage, "keyUsage does not decode");
	expect_tampered(t_bc_garbage, "basicConstraints does not decode");
	expect_tampered(t_eku_garbage, "extendedKeyUsage does not decode");
	expect_tampered(t_san_garbage, "subjectAltName does not decode");
	expect_tampered(t_no_ski, "subjectKeyIdentifier missing");
	expect_tampered(t_eku_any, "anyExtendedKeyUsage");
	expect_tampered(t_eku_extra, "extendedKeyUsage differs from the profile");
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
		cmocka_unit_test(test_tampered_refused),
		cmocka_unit_test(test_arguments),
	};
	return cmocka_run_group_tests_name("ca_lint", tests, setup, teardown);
}
