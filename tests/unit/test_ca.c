/* SPDX-License-Identifier: MIT */
/* Unit tests for ca/: profiles, certificate building and CSR checks (in-memory keys). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ftw.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config.h"

#include "audit/audit.h"
#include "ca/ca.h"
#include "db/db.h"
#include "hsm/hsm.h"
#include "util/util.h"

#include "tests/unit/ca_fixture.h"

/* ---------- profiles ---------- */

static void test_profiles_default(void **state)
{
	ca_profile_t p;
	(void)state;

	p = default_profile("tls-server");
	assert_int_equal(p.validity_days, 90);
	assert_int_equal(p.key_usage, X509v3_KU_DIGITAL_SIGNATURE | X509v3_KU_KEY_ENCIPHERMENT);
	assert_int_equal(p.n_eku, 1);
	assert_string_equal(p.eku[0], "1.3.6.1.5.5.7.3.1");
	assert_int_equal(p.allowed_sans, CA_SAN_DNS | CA_SAN_IP);
	assert_true(p.require_san);
	assert_int_equal(p.min_rsa_bits, 2048);

	p = default_profile("tls-client");
	assert_int_equal(p.validity_days, 365);
	assert_string_equal(p.eku[0], "1.3.6.1.5.5.7.3.2");
	assert_int_equal(p.allowed_sans, CA_SAN_DNS | CA_SAN_EMAIL | CA_SAN_URI);

	p = default_profile("code-signing");
	assert_string_equal(p.eku[0], "1.3.6.1.5.5.7.3.3");
	assert_int_equal(p.allowed_sans, CA_SAN_EMAIL | CA_SAN_URI);
	assert_false(p.require_san);

	p = default_profile("document-signing");
	assert_int_equal(p.key_usage, X509v3_KU_DIGITAL_SIGNATURE | X509v3_KU_NON_REPUDIATION);
	assert_string_equal(p.eku[0], "1.3.6.1.5.5.7.3.36");
	assert_int_equal(p.allowed_sans, CA_SAN_EMAIL);

	p = default_profile("admin");
	assert_string_equal(p.eku[0], "1.3.6.1.5.5.7.3.2");
	assert_int_equal(p.allowed_sans, CA_SAN_EMAIL | CA_SAN_URI);
}

static void test_profile_parse(void **state)
{
	json_t *obj = json_loads("{\"validity_days\": 30, \"key_usage\": [\"digitalSignature\","
				 " \"keyAgreement\"], \"ext_key_usage\": [\"clientAuth\","
				 " \"1.2.3.4.5\"], \"san_types\": [\"uri\"], \"require_san\": true,"
				 " \"min_rsa_bits\": 3072}",
				 0, NULL);
	ca_profile_t p;
	cairn_err_t err = { 0 };
	(void)state;

	assert_int_equal(ca_profile_parse("iot", obj, &p, &err), 0);
	assert_string_equal(p.name, "iot");
	assert_int_equal(p.validity_days, 30);
	assert_int_equal(p.key_usage, X509v3_KU_DIGITAL_SIGNATURE | X509v3_KU_KEY_AGREEMENT);
	assert_int_equal(p.n_eku, 2);
	assert_string_equal(p.eku[1], "1.2.3.4.5");
	assert_int_equal(p.allowed_sans, CA_SAN_URI);
	assert_int_equal(p.min_rsa_bits, 3072);
	json_decref(obj);
}

static void test_profile_errors(void **state)
{
	static const struct {
		const char *json, *msg;
	} cases[] = {
		{ "{\"validity_days\": 0, \"key_usage\": [\"digitalSignature\"]}",
		  "profiles.tls-server.validity_days: must be 1..3650" },
		{ "{\"validity_days\": 3651, \"key_usage\": [\"digitalSignature\"]}",
		  "profiles.tls-server.validity_days: must be 1..3650" },
		{ "{\"validity_days\": \"90\", \"key_usage\": [\"digitalSignature\"]}",
		  "profiles.tls-server.validity_days: must be 1..3650" },
		{ "{\"key_usage\": [\"digitalSignature\"]}",
		  "profiles.tls-server.validity_days: missing" },
		{ "{\"validity_days\": 90}", "profiles.tls-server.key_usage: missing" },
		{ "{\"validity_days\": 90, \"key_usage\": [\"digitalSig\"]}",
		  "profiles.tls-server.key_usage[0]: unknown key usage \"digitalSig\"" },
		{ "{\"validity_days\": 90, \"key_usage\": [\"keyCertSign\"]}",
		  "profiles.tls-server.key_usage[0]: keyCertSign is only for CA certificates" },
		{ "{\"validity_days\": 90, \"key_usage\": [\"digitalSignature\"],"
		  " \"ext_key_usage\": [\"serverAuth\", \"webAuth\"]}",
		  "profiles.tls-server.ext_key_usage[1]: \"webAuth\" is neither a known name nor a "
		  "dotted OID" },
		{ "{\"validity_days\": 90, \"key_usage\": [\"digitalSignature\"],"
		  " \"san_types\": [\"dns\", \"x400\"]}",
		  "profiles.tls-server.san_types[1]: must be one of \"dns\", \"ip\", \"email\", "
		  "\"uri\"" },
		{ "{\"validity_days\": 90, \"key_usage\": [\"digitalSignature\"],"
		  " \"require_san\": true}",
		  "profiles.tls-server.require_san: needs at least one san_types entry" },
		{ "{\"validity_days\": 90, \"key_usage\": [\"digitalSignature\"], \"min_rsa_bits\": 1024}",
		  "profiles.tls-server.min_rsa_bits: must be 2048..16384" },
		{ "{\"validity_days\": 90, \"key_usage\": [\"digitalSignature\"], \"valdity\": 3}",
		  "profiles.tls-server.valdity: unknown key" },
		{ "[]", "profiles.tls-server: must be an object" },
	};
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *obj = json_loads(cases[i].json, 0, NULL);
		ca_profile_t p;
		cairn_err_t err = { 0 };
		assert_non_null(obj);
		assert_int_equal(ca_profile_parse("tls-server", obj, &p, &err), CAIRN_ECONFIG);
		assert_string_equal(err.msg, cases[i].msg);
		json_decref(obj);
	}
	{
		json_t *obj = json_loads("{\"validity_days\": 1, \"key_usage\": [\"cRLSign\"]}", 0,
					 NULL);
		ca_profile_t p;
		cairn_err_t err = { 0 };
		assert_int_equal(ca_profile_parse("Bad Name", obj, &p, &err), CAIRN_EINVAL);
		json_decref(obj);
	}
}

/* ---------- certificate building: root (P-384) -> issuing (P-256) -> leaf ---------- */

static void test_build_chain(void **state)
{
	static const char *const eku[] = { "1.3.6.1.5.5.7.3.1", NULL };
	EVP_PKEY *root_key = EVP_EC_gen("P-384"), *iss_key = EVP_EC_gen("P-256");
	EVP_PKEY *leaf_key = EVP_EC_gen("P-256");
	X509 *root = NULL, *iss = NULL, *leaf = NULL, *bare = NULL;
	X509_REQ *req = NULL;
	GENERAL_NAMES *sans = NULL;
	ca_cert_spec_t spec;
	ca_profile_t prof = default_profile("tls-server");
	cairn_err_t err = { 0 };
	uint8_t *der;
	size_t len;
	(void)state;

	/* Root: self-signed with SHA-384, CA:TRUE pathlen 1, AKI = its own SKI. */
	root = build_ca("Test Root CA", 3650, 1, NULL, root_key, root_key, NULL);
	assert_int_equal(X509_get_signature_nid(root), NID_ecdsa_with_SHA384);
	assert_int_equal(X509_get_version(root), X509_VERSION_3);
	assert_int_equal(X509_check_ca(root), 1);
	assert_int_equal(X509_get_pathlen(root), 1);
	assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(root),
					       X509_get0_subject_key_id(root)),
			 0);
	assert_int_equal(X509_check_issued(root, root), X509_V_OK);

	/* Issuing: signed by the root with SHA-384, pathlen 0, with a CDP. */
	iss = build_ca("Test Issuing CA", 1825, 0, root, root_key, iss_key,
		       "http://ca.test/crl/root.crl");
	assert_int_equal(X509_get_signature_nid(iss), NID_ecdsa_with_SHA384);
	assert_int_equal(X509_get_pathlen(iss), 0);
	assert_int_equal(ext_critical(iss, NID_basic_constraints), 1);

	/* Leaf from a checked CSR, signed by the issuing key with SHA-256. */
	der = make_csr(leaf_key, "www.example.com", "DNS:www.example.com,IP:192.0.2.7", &len);
	assert_int_equal(ca_csr_parse(der, len, &req, &err), 0);
	assert_int_equal(ca_csr_check(req, &prof, &err), 0);
	{
		STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
		sans = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	assert_non_null(sans);
	memset(&spec, 0, sizeof(spec));
	spec.subject_cn = "www.example.com";
	spec.validity_days = 5000; /* clamped to the issuer's notAfter */
	spec.key_usage = X509v3_KU_DIGITAL_SIGNATURE | X509v3_KU_KEY_ENCIPHERMENT;
	spec.eku = eku;
	spec.sans = sans;
	spec.ocsp_url = "http://ca.test/ocsp";
	spec.ca_issuers_url = "http://ca.test/ca/issuing.crt";
	spec.crl_url = "http://ca.test/crl/issuing.crl";
	assert_int_equal(ca_cert_build(&spec, iss, iss_key, X509_REQ_get0_pubkey(req), &leaf, &err),
			 0);
	assert_int_equal(X509_get_signature_nid(leaf), NID_ecdsa_with_SHA256);
	assert_int_equal(verify_chain(root, iss, leaf, X509_PURPOSE_SSL_SERVER), 1);

	assert_int_equal(X509_check_ca(leaf), 0);
	assert_int_equal(ext_critical(leaf, NID_basic_constraints), 1);
	assert_int_equal(ext_critical(leaf, NID_key_usage), 1);
	assert_int_equal(ext_critical(leaf, NID_subject_alt_name), 0);
	assert_int_equal(X509_get_key_usage(leaf),
			 X509v3_KU_DIGITAL_SIGNATURE | X509v3_KU_KEY_ENCIPHERMENT);
	assert_int_equal(X509_get_extended_key_usage(leaf), XKU_SSL_SERVER);
	assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf),
					       X509_get0_subject_key_id(iss)),
			 0);
	assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(iss),
					       X509_get0_subject_key_id(root)),
			 0);
	assert_non_null(X509_get0_subject_key_id(leaf));
	assert_serial16(leaf);
	assert_serial16(iss);
	assert_string_equal(aia_uri(leaf, NID_ad_OCSP), "http://ca.test/ocsp");
	assert_string_equal(aia_uri(leaf, NID_ad_ca_issuers), "http://ca.test/ca/issuing.crt");
	assert_string_equal(cdp_uri(leaf), "http://ca.test/crl/issuing.crl");
	assert_string_equal(cdp_uri(iss), "http://ca.test/crl/root.crl");
	assert_int_equal(X509_get_ext_by_NID(leaf, NID_id_pkix_OCSP_noCheck, -1), -1);
	/* Never outlives the issuer. */
	assert_true(unix_time(X509_get0_notAfter(leaf)) == unix_time(X509_get0_notAfter(iss)));

	/* OCSP signer: ocsp-nocheck, EKU OCSPSigning. */
	{
		static const char *const ocsp_eku[] = { "1.3.6.1.5.5.7.3.9", NULL };
		X509 *ocsp = NULL;
		memset(&spec, 0, sizeof(spec));
		spec.subject_cn = "OCSP";
		spec.validity_days = 30;
		spec.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
		spec.eku = ocsp_eku;
		spec.ocsp_nocheck = 1;
		assert_int_equal(ca_cert_build(&spec, iss, iss_key, leaf_key, &ocsp, &err), 0);
		assert_true(X509_get_ext_by_NID(ocsp, NID_id_pkix_OCSP_noCheck, -1) >= 0);
		assert_int_equal(X509_get_extended_key_usage(ocsp), XKU_OCSP_SIGN);
		X509_free(ocsp);
	}

	/* Empty subject: SAN is critical; a given serial is used as is. */
	{
		static const uint8_t serial[] = { 0x80, 0x01 };
		memset(&spec, 0, sizeof(spec));
		spec.validity_days = 1;
		spec.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
		spec.sans = sans;
		spec.serial = serial;
		spec.serial_len = sizeof(serial);
		assert_int_equal(ca_cert_build(&spec, iss, iss_key, leaf_key, &bare, &err), 0);
		assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(bare)), 0);
		assert_int_equal(ext_critical(bare, NID_subject_alt_name), 1);
		assert_int_equal(ASN1_INTEGER_get(X509_get0_serialNumber(bare)), 0x8001);
		spec.sans = NULL;
		X509_free(bare);
		bare = NULL;
		assert_int_equal(ca_cert_build(&spec, iss, iss_key, leaf_key, &bare, &err),
				 CAIRN_EINVAL);
		assert_null(bare);
	}

	OPENSSL_free(der);
	GENERAL_NAMES_free(sans);
	X509_REQ_free(req);
	X509_free(leaf);
	X509_free(iss);
	X509_free(root);
	EVP_PKEY_free(leaf_key);
	EVP_PKEY_free(iss_key);
	EVP_PKEY_free(root_key);
}

/* The certificate carries exactly the CSR's SubjectPublicKeyInfo, whatever the key type
 * (EC keys take a faster encoding path in ca_cert_build: the bytes must not change). */
static void test_build_subject_keys(void **state)
{
	EVP_PKEY *iss_key = EVP_EC_gen("P-256"), *keys[5];
	size_t i;
	(void)state;

	keys[0] = EVP_EC_gen("P-256");
	keys[1] = EVP_EC_gen("P-256");
	assert_int_equal(EVP_PKEY_set_utf8_string_param(keys[1], "point-format", "compressed"), 1);
	keys[2] = EVP_EC_gen("P-384");
	keys[3] = EVP_RSA_gen(2048);
	keys[4] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		ca_profile_t prof = default_profile("tls-client");
		ca_cert_spec_t spec;
		cairn_err_t err = { 0 };
		X509_REQ *req = NULL;
		X509 *x = NULL;
		unsigned char *a = NULL, *b = NULL;
		int alen, blen;
		size_t len;
		uint8_t *der;

		assert_non_null(keys[i]);
		der = make_csr(keys[i], "device", "URI:urn:dev:1", &len);
		assert_int_equal(ca_csr_parse(der, len, &req, &err), 0);
		if (ca_csr_check(req, &prof, &err) != 0)
			fail_msg("key %zu: %s", i, err.msg);
		memset(&spec, 0, sizeof(spec));
		spec.subject_cn = "device";
		spec.validity_days = 1;
		spec.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
		assert_int_equal(ca_cert_build(&spec, NULL, iss_key, X509_REQ_get0_pubkey(req), &x,
					       &err),
				 0);
		alen = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &a);
		blen = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &b);
		assert_true(alen > 0);
		assert_int_equal(alen, blen);
		assert_memory_equal(a, b, (size_t)alen);
		assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), keys[i]), 1);
		assert_int_equal(X509_verify(x, iss_key), 1);
		OPENSSL_free(a);
		OPENSSL_free(b);
		OPENSSL_free(der);
		X509_free(x);
		X509_REQ_free(req);
		EVP_PKEY_free(keys[i]);
	}
	EVP_PKEY_free(iss_key);
}

/* ---------- CSR parsing and checks ---------- */

static void test_csr_parse(void **state)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509_REQ *req = NULL;
	cairn_err_t err = { 0 };
	size_t len;
	uint8_t *der = make_csr(key, "a.example", "DNS:a.example", &len), *longer;
	BIO *b = BIO_new(BIO_s_mem());
	char *pem;
	long pem_len;
	static const char garbage[] = "\x30\x82\x01\x00this is not a CSR at all........";
	(void)state;

	/* DER, then the same CSR as PEM. */
	assert_int_equal(ca_csr_parse(der, len, &req, &err), 0);
	assert_int_equal(PEM_write_bio_X509_REQ(b, req), 1);
	X509_REQ_free(req);
	req = NULL;
	pem_len = BIO_get_mem_data(b, &pem);
	assert_int_equal(ca_csr_parse(pem, (size_t)pem_len, &req, &err), 0);
	X509_REQ_free(req);
	req = NULL;

	assert_int_equal(ca_csr_parse(garbage, sizeof(garbage) - 1, &req, &err), CAIRN_EBADCSR);
	assert_null(req);
	assert_int_equal(strncmp(err.msg, "CSR is not valid PEM or DER", 27), 0);
	assert_int_equal(ca_csr_parse("hello", 5, &req, &err), CAIRN_EBADCSR);
	assert_int_equal(ca_csr_parse("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", 40, &req,
				      &err),
			 CAIRN_EBADCSR);
	assert_int_equal(ca_csr_parse(der, 0, &req, &err), CAIRN_EBADCSR);
	assert_int_equal(ca_csr_parse(der, len - 1, &req, &err), CAIRN_EBADCSR);

	longer = malloc(len + 1);
	memcpy(longer, der, len);
	longer[len] = 0;
	assert_int_equal(ca_csr_parse(longer, len + 1, &req, &err), CAIRN_EBADCSR);
	assert_string_equal(err.msg, "CSR has trailing bytes after the DER");
	free(longer);

	longer = calloc(1, 70000);
	assert_int_equal(ca_csr_parse(longer, 70000, &req, &err), CAIRN_EBADCSR);
	assert_string_equal(err.msg, "CSR is larger than 65536 bytes");
	free(longer);

	BIO_free(b);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
}

static void test_csr_check_keys(void **state)
{
	EVP_PKEY *p256 = EVP_EC_gen("P-256"), *p384 = EVP_EC_gen("P-384");
	EVP_PKEY *p521 = EVP_EC_gen("P-521"), *rsa1024 = EVP_RSA_gen(1024);
	EVP_PKEY *rsa2048 = EVP_RSA_gen(2048), *ed = NULL, *ed448 = NULL;
	cairn_err_t err;
	(void)state;

	ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	ed448 = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
	assert_non_null(ed);
	assert_non_null(ed448);

	assert_int_equal(check_key_csr(p256, "www.example.com", "DNS:www.example.com,DNS:Example.COM,IP:192.0.2.1",
				       "tls-server", &err),
			 0);
	assert_int_equal(check_key_csr(p384, NULL, "DNS:x.example", "tls-server", &err), 0);
	assert_int_equal(check_key_csr(rsa2048, NULL, "DNS:x.example", "tls-server", &err), 0);
	assert_int_equal(check_key_csr(ed, "device-1", "URI:urn:dev:1", "tls-client", &err), 0);

	assert_int_equal(check_key_csr(rsa1024, NULL, "DNS:x.example", "tls-server", &err),
			 CAIRN_EWEAKKEY);
	assert_string_equal(err.msg, "RSA key of 1024 bits is below the minimum of 2048");
	assert_int_equal(check_key_csr(p521, NULL, "DNS:x.example", "tls-server", &err),
			 CAIRN_EKEYTYPE);
	assert_string_equal(err.msg, "EC curve secp521r1 is not supported");
	assert_int_equal(check_key_csr(ed448, NULL, "DNS:x.example", "tls-server", &err),
			 CAIRN_EKEYTYPE);
	assert_string_equal(err.msg, "key type ED448 is not supported");

	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(p521);
	EVP_PKEY_free(rsa1024);
	EVP_PKEY_free(rsa2048);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(ed448);
}

static void test_csr_check_signature(void **state)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	cairn_err_t err;
	size_t len;
	uint8_t *der = make_csr(key, "tamper.example", "DNS:tamper.example", &len);
	uint8_t *p = memmem(der, len, "tamper", 6);
	(void)state;

	assert_non_null(p);
	assert_int_equal(check_csr(der, len, "tls-server", &err), 0);
	p[0] = 'T'; /* changes the signed subject, not the DER structure */
	assert_int_equal(check_csr(der, len, "tls-server", &err), CAIRN_ECSRSIG);
	assert_int_equal(strncmp(err.msg, "CSR signature does not verify", 29), 0);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
}

static void test_csr_check_names(void **state)
{
	static const char *const bad_dns[] = {
		"DNS:-bad.example.com",  "DNS:a..example.com",    "DNS:foo_bar.example",
		"DNS:*.*.example.com",   "DNS:foo.*.example.com", "DNS:f*o.example.com",
		"DNS:example.com.",      "DNS:192.0.2.1",          "DNS:*.com",
		"DNS:bad-.example.com",  "DNS:caf\xc3\xa9.example",
		"DNS:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
	};
	static const char *const good_dns[] = {
		"DNS:*.example.com", "DNS:xn--bcher-kva.example", "DNS:localhost",
		"DNS:A-1.Example.ORG", "DNS:3com.example",
	};
	EVP_PKEY *key = EVP_EC_gen("P-256");
	cairn_err_t err;
	char long_name[300];
	size_t i;
	(void)state;

	assert_int_equal(check_key_csr(key, NULL, "IP:10.0.0.1", "code-signing", &err),
			 CAIRN_ENAME);
	assert_string_equal(err.msg, "SAN type ip is not allowed by profile code-signing");
	assert_int_equal(check_key_csr(key, "Code Signer", "email:dev@example.com",
				       "code-signing", &err),
			 0);
	assert_int_equal(check_key_csr(key, "Code Signer", NULL, "code-signing", &err), 0);

	for (i = 0; i < sizeof(bad_dns) / sizeof(bad_dns[0]); i++) {
		int rc = check_key_csr(key, NULL, bad_dns[i], "tls-server", &err);
		if (rc != CAIRN_ENAME)
			fail_msg("%s: got %d (%s)", bad_dns[i], rc, err.msg);
	}
	for (i = 0; i < sizeof(good_dns) / sizeof(good_dns[0]); i++) {
		int rc = check_key_csr(key, NULL, good_dns[i], "tls-server", &err);
		if (rc != 0)
			fail_msg("%s: got %d (%s)", good_dns[i], rc, err.msg);
	}
	snprintf(long_name, sizeof(long_name), "DNS:");
	for (i = 0; i < 42; i++)
		strcat(long_name, "abcde.");
	strcat(long_name, "com"); /* 255 characters */
	assert_int_equal(check_key_csr(key, NULL, long_name, "tls-server", &err), CAIRN_ENAME);
	assert_string_equal(err.msg + strlen(err.msg) - 29, "is longer than 253 characters");

	assert_int_equal(check_key_csr(key, "www.example.com", NULL, "tls-server", &err),
			 CAIRN_ENAME);
	assert_string_equal(err.msg, "profile tls-server requires at least one subjectAltName");
	assert_int_equal(check_key_csr(key, "other.example.com", "DNS:www.example.com",
				       "tls-server", &err),
			 CAIRN_ENAME);
	assert_int_equal(check_key_csr(key, "192.0.2.9", "IP:192.0.2.9", "tls-server", &err), 0);
	assert_int_equal(check_key_csr(key, "2001:db8::1", "IP:2001:db8:0::1", "tls-server",
				       &err),
			 0);
	assert_int_equal(check_key_csr(key, NULL, "email:a@b@example.com", "tls-client", &err),
			 CAIRN_ENAME);
	assert_int_equal(check_key_csr(key, NULL, "email:user@example.com", "tls-client", &err),
			 0);
	assert_int_equal(check_key_csr(key, NULL, "URI:no scheme", "tls-client", &err),
			 CAIRN_ENAME);
	assert_int_equal(check_key_csr(key, NULL, "RID:1.2.3.4", "tls-client", &err), CAIRN_ENAME);
	assert_string_equal(err.msg, "SAN type registeredID is not supported");
	assert_int_equal(check_key_csr(key, NULL, NULL, "tls-client", &err), CAIRN_ENAME);
	EVP_PKEY_free(key);
}

/* An xn-- label is an A-label only when it is Punycode (RFC 3492) of a name outside ASCII
 * (RFC 5890 §2.3.2.1); the prefix in any case. No IDNA2008 tables: only the decoding. */
/* URIs with a "." or ".." path segment (also %2e) are refused: a consumer that normalises
 * (RFC 3986 §5.2.4) reads another path than the one a policy's uri_prefix compared. */
static void test_uri_dot_segments(void **state)
{
	static const char *const good[] = {
		"spiffe://prod/web", "spiffe://prod/web/", "https://h.example/a..b/c.d",
		"https://h.example/.../x", "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
		"https://h.example/x?y=../z", "https://h.example/x#..", "spiffe://..prod/web",
	};
	static const char *const bad[] = {
		"spiffe://prod/web/../admin", "spiffe://prod/web/./x", "spiffe://prod/web/..",
		"spiffe://prod/web/.", "spiffe://prod/web/%2e%2e/admin", "spiffe://prod/web/%2E./admin",
		"spiffe://prod/web/.%2e?x", "spiffe://prod/web/%2e#f", "x:./y",
	};
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const char *why = ca_uri_problem(good[i], strlen(good[i]));
		if (why != NULL)
			fail_msg("%s: %s", good[i], why);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ca_uri_problem(bad[i], strlen(bad[i])) == NULL)
			fail_msg("%s was accepted", bad[i]);
}

static void test_dns_punycode(void **state)
{
	static const char *const good[] = {
		"xn--bcher-kva.example",   /* bücher */
		"xn--mnchen-3ya.example",  /* münchen */
		"XN--MNCHEN-3YA.example",  /* the same, the prefix and digits in capitals */
		"www.xn--fiqs8s.example",  /* 中国 (no basic code points, no delimiter) */
		"xn--ls8h.example",        /* U+1F4A9, beyond the BMP */
		"a-b.xn--e1afmkfd.example", /* пример */
		"a--b.example",             /* '--' elsewhere than the third and fourth positions */
		"abc--d.example",
	};
	static const char *const bad[] = {
		"xn--zz.example",    /* the last integer is cut short */
		"xn--a.example",     /* U+0080: a C1 control */
		"xn--abc-.example",  /* the delimiter and nothing after: ASCII only */
		"xn--.example",      /* nothing at all */
		"xn---abc.example",  /* a delimiter with no basic code points before it */
		"xn--ab_c.example",  /* not a digit of base 36 (refused as LDH first) */
		"xn--zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz.example",
		"xn--99999999999.example", /* overflows 32 bits */
		"xn--en32g.example", /* U+110000, beyond Unicode */
		"xn--ib9b.example",  /* a surrogate, U+D800 */
		"ab--cd.example",    /* a reserved LDH label that is not an xn-- one */
		"www.zz--x.example", /* the same, not leftmost */
	};
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const char *why = ca_dns_problem(good[i], strlen(good[i]), 0);
		if (why != NULL)
			fail_msg("%s: %s", good[i], why);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ca_dns_problem(bad[i], strlen(bad[i]), 0) == NULL)
			fail_msg("%s: accepted", bad[i]);
	assert_non_null(strstr(ca_dns_problem("xn--zz.example", 14, 0), "Punycode"));
}

/* A key pin in each accepted spelling decodes to the same 32 bytes; anything else fails. */
static void test_spki_pin_parse(void **state)
{
	static const char hex[] =
		"1785cfc3bc6ac7738e8b38cdccd1af12563c2b9070e07af336a1bf8c0f772b6a";
	uint8_t want[32], got[32];
	char colons[3 * 32], b64[64];
	size_t i;
	(void)state;

	assert_int_equal(ca_spki_pin_parse(hex, want), 0);
	for (i = 0; i < 32; i++)
		snprintf(colons + 3 * i, sizeof(colons) - 3 * i, "%.2s%s", hex + 2 * i,
			 i < 31 ? ":" : "");
	assert_int_equal(ca_spki_pin_parse(colons, got), 0);
	assert_memory_equal(want, got, 32);
	assert_int_equal(EVP_EncodeBlock((unsigned char *)b64, want, 32), 44);
	assert_int_equal(ca_spki_pin_parse(b64, got), 0); /* pin-sha256 */
	assert_memory_equal(want, got, 32);
	b64[43] = '\0';
	for (i = 0; b64[i]; i++)
		b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
	assert_int_equal(ca_spki_pin_parse(b64, got), 0); /* base64url */
	assert_memory_equal(want, got, 32);
	assert_int_equal(ca_spki_pin_parse("xyz", got), CAIRN_EINVAL);
	assert_int_equal(ca_spki_pin_parse("", got), CAIRN_EINVAL);
	assert_int_equal(ca_spki_pin_parse(NULL, got), CAIRN_EINVAL);
	assert_int_equal(ca_spki_pin_parse(hex + 2, got), CAIRN_EINVAL);     /* 31 bytes */
	{
		char longer[80];
		snprintf(longer, sizeof(longer), "%s00", hex);
		assert_int_equal(ca_spki_pin_parse(longer, got), CAIRN_EINVAL); /* 33 bytes */
		snprintf(longer, sizeof(longer), "%.63sg", hex);
		assert_int_equal(ca_spki_pin_parse(longer, got), CAIRN_EINVAL); /* not hex */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_profiles_default),
		cmocka_unit_test(test_spki_pin_parse),
		cmocka_unit_test(test_profile_parse),
		cmocka_unit_test(test_profile_errors),
		cmocka_unit_test(test_build_chain),
		cmocka_unit_test(test_build_subject_keys),
		cmocka_unit_test(test_csr_parse),
		cmocka_unit_test(test_csr_check_keys),
		cmocka_unit_test(test_csr_check_signature),
		cmocka_unit_test(test_csr_check_names),
		cmocka_unit_test(test_dns_punycode),
		cmocka_unit_test(test_uri_dot_segments),
	};
	return cmocka_run_group_tests_name("ca", tests, NULL, NULL);
}
