/* SPDX-License-Identifier: MIT */
/*
 * The bytes ca_cert_build produces, pinned: every built-in profile and custom ones (all key
 * usages, several EKUs, a private EKU OID), P-256, P-384 and RSA subject keys, names of every
 * type (DNS, IPv4, IPv6, IPv4-mapped, email, URI, CN, O), an empty subject, CA certificates
 * and OCSP signers, under a P-256 and a P-384 issuer. Keys, serials and times are fixed, so
 * the TBSCertificate and the signature algorithm are the same on every run: their SHA-256 is
 * compared with the table below, taken from the code before the issuance speed-ups (main at
 * 74ab430, CAIRN_BUILD_GOLDEN_PRINT=1 prints the table). A change of one byte in any case
 * names the case. Each certificate must also verify under its issuer, and every end-entity
 * one must pass ca_cert_lint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/ca_int.h"

static const char issuer_p256_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQge9kmwbL6fxn24s7Q\n"
	"mduT/uZfBOh75C0cCoDvTzKWZiehRANCAAQvuXaMZ3MNi1s3L9sNDffOIxhtQJZL\n"
	"MOTQ1TDzYzEMbVw1PNOTiuviSZQKtetbsQLkK8tdn7rxZL/gWZr4oUOM\n"
	"-----END PRIVATE KEY-----\n";
static const char issuer_p384_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDCt2ZUjarAgWuPOR/ka\n"
	"ramcy2UeZ8DZ7Q+NEWdrGn33Zvaj71BqmFK17I517s63NAChZANiAATwr5kJe1TX\n"
	"Bc0jYa5EGQbNO9/kBoxlLlsqTvPcYAmi0QvIx0TrpqaK1uv8bo4WHYkJwU/nvH/p\n"
	"NZjUmoyiqXj8ARova+HRCFTlLJOm5yypZPx/s6muyC3E78rmWNB4O7I=\n"
	"-----END PRIVATE KEY-----\n";
static const char leaf_p256_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgtn+GC6H/jbqCUaZ9\n"
	"aS/QD3o9NJYJtd0LTUkq3Vbr5KGhRANCAAQKwNc+9iACJfNvSmcGMAUQnck+0bfb\n"
	"YZf0eS3iXy94+YHni8ls9OEl1PnXdtHxn/gzNx2xR8YsaDO/a4QPILFY\n"
	"-----END PRIVATE KEY-----\n";
static const char leaf_p384_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDB4865Y5WhOkNra3ATB\n"
	"Dt/gr7Wa8Jm6SmACCM9c2xqemrgMWWkuAfXSShpw3lv6SYehZANiAAQ06eDtt8jm\n"
	"18HN+nEnjKb3zUDziELeySwUp7eEfJIE/6Sbs3eLkfzpcDh9a6eO6w/tuQXs5lNQ\n"
	"42ksL5aGb5k0UG7iRxJJU7RBNoBECRS0dRo7F05+1HBMeK18O1oL3as=\n"
	"-----END PRIVATE KEY-----\n";
static const char leaf_rsa_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQD3lOtuE7hbvcpX\n"
	"eC8EFH4d4Yxug7cHYQwMSoXxEQTGk2X8LbbRwfQ5K4lGaPyXPxMkP0KA4EZThAwO\n"
	"70uo9BDfus3YaGdJk3eBomZpLylD3r/VUA8RA+FdjkcWb82gu9cx566nsV35Xa/q\n"
	"1zyUv9c/FxJYTRCSpi8UszO/LKX8z1+rXOhl1z/RQOPpGxCqqCSL0KvWMyYdMC7G\n"
	"Ow83SUnvH0J4W/jqUahiCM0jY45n8Zh7VBd+VgcWgmzKPjuG6nx24AFlLAcho1j2\n"
	"6GvqJoJ/PYSt8+ZhLRvg0tkt0O46TnroZ+AmAQUb9ffgR3JWBIDLhj/6pidilLUi\n"
	"yXqcOfvvAgMBAAECggEAewoBtHtNaB5aY/zg1LTAdmYkbbm8qIikvaj9hq+QAYW4\n"
	"LcqkK/spPY4y0xCS0zFv+FgN21FZ8eBSQ8vNfIIKrr091loQVqLYRc7o+UYMSmP1\n"
	"TvPSAQE+K0ntbyuR89rWF8GNbV46lxZluh5MR5pNRNfY8JQf89lt1Wo3gb8VIJ0O\n"
	"L9mFOzDXCCiRSxoklqYnJ4rBlsgLzOcfTrTHJTjsC2MHxGoMdJVOqv9/bdttBrpQ\n"
	"tR+FjuErWH+dGamk7G0u1o+Jw2Cr3dQQe1B/DEJHeS71c7/0T0J0EdJU+Sk3reK6\n"
	"9bgidQQsvgvYhoMqvJ5eGza5q0rEJGtFrXenA0QyqQKBgQD9yHW8nT1qY78/i1qO\n"
	"aQA6hxeQ5gxP0aKpnVVs6BQ37u1J6+YmIUZX3kH5nztcg+W9brIzJmQBZ/KT2YeV\n"
	"4sWRt00sd9+q/nIcWwAQnVacW7VKjzh9n04wouE1hXNFhvWb+sBwPpAhbqT6nfyH\n"
	"oQk5mElQy+OTdVYBSgBC5RvuKQKBgQD5vpdx/At4NPG6SGaGVGN7SZ0eRkAWSeUa\n"
	"j+4+9iPPs8NKmdDnSpSsBhOPqTf1kjI9tMAl5s8eGhiw9SgMVD/N6l9zmYiXDY7T\n"
	"H5CScNAS8hexVTALg9g0K303ha9+7l2TiNXmmzhsmDQSRSj6lAX1UBYCDPxUnrMR\n"
	"G++xbAUsVwKBgQCRJNcBesSnVkkJJMAz9qWk06KMwqWD+ReY/lzfHpSBsOqRfpNw\n"
	"d1Nt6bW9+G3Q6ba5ctgEHQ7RJww7twuuk7X/MuC2cBDCESheQ0V0OyhP4Lt82xCp\n"
	"+DSV6HH5VEurFhbekLkC+SUhmdBNbZICV/2YrRoxVYrgyRjZP+OKXtJskQKBgQC0\n"
	"JiFEXZVAbqB3yUX7W+AuzJkDf5U2/rK+iFhJHnASoQ8cPvwL+yZnODLgDCaLg5uu\n"
	"GzYHoQiCJDzvWMg8rIEh3hBgaL24iFUgQcKdf7b4E523k0WG6OIKL9yxMkO3geYK\n"
	"SEhTgmAfJWNaUn0O07vAirZ1YDycJaXxj39FMjBBHQKBgQDCaa7OdJTu0/4bImA4\n"
	"uhEV3r9ZyD4SWOfCUZzJj1iOlJwv+BUovumXcq/ZBW9moaozGHdtGWZjPOTrHV4d\n"
	"mINs+lIS5eaXLb3og3phYxJ69+HnkJxJ5mdDayE0anhgyqaNMpppA1ryHc9FZ2/4\n"
	"TTqYGzIS3c2/RJzqYuABXhkzKA==\n"
	"-----END PRIVATE KEY-----\n";

#define NOT_BEFORE 1767225600 /* 2026-01-01T00:00:00Z */

typedef struct golden {
	const char *name;
	const char *sha256;
} golden_t;

/* Case name -> SHA-256 of (TBSCertificate || signatureAlgorithm), from main at 74ab430. */
static const golden_t golden[] = {
#include "ca_build_golden.inc"
};

static EVP_PKEY *key_pem(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);

	BIO_free(b);
	assert_non_null(k);
	return k;
}

/* SHA-256 hex of the certificate without its signature value: the TBS and the algorithm. */
static void tbs_hash(X509 *x, char hex[65])
{
	unsigned char *der = NULL, md[32];
	const unsigned char *p;
	long len, inner;
	int tag, cls, n = i2d_X509(x, &der), i;
	unsigned hl;

	assert_true(n > 0);
	p = der;
	assert_int_equal(ASN1_get_object(&p, &len, &tag, &cls, n) & 0x80, 0);
	hl = (unsigned)(p - der);
	/* TBS, then AlgorithmIdentifier: hash up to the signature BIT STRING. */
	{
		const unsigned char *q = p;
		assert_int_equal(ASN1_get_object(&q, &inner, &tag, &cls, len) & 0x80, 0);
		q += inner;
		assert_int_equal(ASN1_get_object(&q, &inner, &tag, &cls, len) & 0x80, 0);
		q += inner;
		assert_int_equal(*q, V_ASN1_BIT_STRING);
		EVP_Digest(der + hl, (size_t)(q - (der + hl)), md, NULL, EVP_sha256(), NULL);
	}
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	OPENSSL_free(der);
}

static int print_mode;
static int n_checked;

static void check(const char *name, X509 *x)
{
	char hex[65];
	size_t i;

	tbs_hash(x, hex);
	if (print_mode) {
		printf("\t{ \"%s\", \"%s\" },\n", name, hex);
		return;
	}
	for (i = 0; i < sizeof(golden) / sizeof(golden[0]); i++) {
		if (strcmp(golden[i].name, name) != 0)
			continue;
		if (strcmp(golden[i].sha256, hex) != 0)
			fail_msg("%s: the certificate's bytes changed (TBS+alg SHA-256 %s, was %s)",
				 name, hex, golden[i].sha256);
		n_checked++;
		return;
	}
	fail_msg("%s: no golden value", name);
}

/* A CSR for key with the SAN text (NULL: none) and CN (NULL: empty subject), as a request
 * object: the names come out of the one extractor, as in ca_issue. */
static ca_csr_t *request(EVP_PKEY *key, const char *cn, const char *san)
{
	X509_REQ *req = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	unsigned char *der = NULL;
	cairn_err_t err = { 0 };
	ca_csr_t *c = NULL;
	int n;

	assert_non_null(req);
	if (cn != NULL)
		assert_int_equal(X509_NAME_add_entry_by_NID(X509_REQ_get_subject_name(req),
							    NID_commonName, MBSTRING_UTF8,
							    (const unsigned char *)cn, -1, -1, 0),
				 1);
	if (san != NULL) {
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
		assert_non_null(e);
		sk_X509_EXTENSION_push(exts, e);
		assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
	}
	assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
	assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	n = i2d_X509_REQ(req, &der);
	assert_true(n > 0);
	if (ca_csr_new(der, (size_t)n, 0, &c, &err) != 0)
		fail_msg("ca_csr_new: %s", cairn_err_msg(&err));
	OPENSSL_free(der);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	return c;
}

static const char *const prof_json =
	"{\"agree\": {\"validity_days\": 30, \"key_usage\": [\"digitalSignature\", "
	"\"keyAgreement\", \"dataEncipherment\", \"keyEncipherment\", \"nonRepudiation\", "
	"\"encipherOnly\", \"decipherOnly\"], \"ext_key_usage\": [\"serverAuth\", \"clientAuth\", "
	"\"emailProtection\", \"1.3.6.1.4.1.55555.7.1\"], \"san_types\": [\"dns\", \"ip\", "
	"\"email\", \"uri\"]},"
	" \"sign-only\": {\"validity_days\": 3650, \"key_usage\": [\"digitalSignature\"], "
	"\"ext_key_usage\": [\"codeSigning\", \"timeStamping\", \"OCSPSigning\"], "
	"\"san_types\": [\"uri\"]},"
	" \"no-eku\": {\"validity_days\": 7, \"key_usage\": [\"keyEncipherment\", "
	"\"dataEncipherment\"], \"ext_key_usage\": [], \"san_types\": [\"dns\"]}}";

typedef struct names_case {
	const char *tag;
	const char *cn;
	const char *san;
} names_case_t;

static const names_case_t names_cases[] = {
	{ "all", "www.example.test",
	  "DNS:www.example.test,DNS:API.Example.TEST,DNS:*.wild.example.test,IP:192.0.2.1,"
	  "IP:2001:db8::17,IP:::ffff:198.51.100.7,email:ops@example.test,"
	  "URI:https://example.test/device/42" },
	{ "cn-only", "Device 42 / Ünïcode", NULL },
	{ "no-subject", NULL, "DNS:only-san.example.test,IP:10.0.0.1" },
	{ "one-dns", "a.example.test", "DNS:a.example.test" },
};

typedef struct fixture {
	EVP_PKEY *ikey[2], *leaf[3];
	X509 *issuer[2];
	json_t *profiles;
} fixture_t;

static X509 *build_or_fail(const char *name, const ca_cert_spec_t *spec, X509 *issuer,
			   EVP_PKEY *ikey, EVP_PKEY *pub)
{
	cairn_err_t err = { 0 };
	X509 *x = NULL, *back;
	uint8_t *der = NULL;
	unsigned char *re = NULL;
	const unsigned char *p;
	size_t der_len = 0;
	int n;

	/* The DER ca_issue stores and answers with (encoded once, while signing) must be the
	 * bytes i2d_X509 gives for the certificate, and decode to one that verifies: the
	 * golden hash below is then taken from those bytes. */
	if (ca_cert_build_der(spec, issuer, ikey, pub, &x, &der, &der_len, &err) != 0)
		fail_msg("%s: ca_cert_build_der: %s", name, cairn_err_msg(&err));
	n = i2d_X509(x, &re);
	if (n <= 0 || (size_t)n != der_len || memcmp(re, der, der_len) != 0)
		fail_msg("%s: the DER from ca_cert_build_der is not i2d_X509's", name);
	p = der;
	back = d2i_X509(NULL, &p, (long)der_len);
	assert_non_null(back);
	assert_true(p == der + der_len);
	assert_int_equal(X509_verify(back, issuer ? X509_get0_pubkey(issuer) : pub), 1);
	assert_int_equal(X509_verify(x, issuer ? X509_get0_pubkey(issuer) : pub), 1);
	X509_free(back);
	OPENSSL_free(re);
	OPENSSL_free(der);
	return x;
}

static void test_golden(void **state)
{
	static const uint8_t serial_fixed[] = { 0x5a, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
						0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f };
	static const uint8_t serial_lead0[] = { 0x00, 0x00, 0x81, 0x22, 0x33, 0x44, 0x55,
						0x66, 0x77, 0x88, 0x99, 0xaa };
	static const char *const key_tag[3] = { "p256", "p384", "rsa" };
	static const char *const iss_tag[2] = { "iss256", "iss384" };
	fixture_t f;
	json_t *all, *v;
	const char *pname;
	cairn_err_t err = { 0 };
	ca_cert_spec_t spec;
	char name[160];
	size_t i, k, n, j;
	int server_auth;
	(void)state;

	memset(&f, 0, sizeof(f));
	print_mode = getenv("CAIRN_BUILD_GOLDEN_PRINT") != NULL;
	f.ikey[0] = key_pem(issuer_p256_pem);
	f.ikey[1] = key_pem(issuer_p384_pem);
	f.leaf[0] = key_pem(leaf_p256_pem);
	f.leaf[1] = key_pem(leaf_p384_pem);
	f.leaf[2] = key_pem(leaf_rsa_pem);

	/* The two issuing CAs: self-signed, with and without O, a path length and none. */
	for (i = 0; i < 2; i++) {
		memset(&spec, 0, sizeof(spec));
		spec.subject_cn = i ? "Golden Root P-384" : "Golden Issuing P-256";
		spec.subject_o = i ? NULL : "Cairn Golden";
		spec.not_before = NOT_BEFORE - 86400;
		spec.validity_days = 3650;
		spec.is_ca = 1;
		spec.path_len = i ? -1 : 0;
		spec.key_usage = X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN |
				 X509v3_KU_DIGITAL_SIGNATURE;
		spec.serial = serial_fixed;
		spec.serial_len = sizeof(serial_fixed);
		f.issuer[i] = build_or_fail(iss_tag[i], &spec, NULL, f.ikey[i], f.ikey[i]);
		check(iss_tag[i], f.issuer[i]);
	}

	/* Built-in and custom profiles, as ca_issue fills the spec. */
	all = ca_profiles_default();
	f.profiles = json_loads(prof_json, 0, NULL);
	assert_non_null(all);
	assert_non_null(f.profiles);
	assert_int_equal(json_object_update(all, f.profiles), 0);
	json_object_foreach(all, pname, v) {
		ca_profile_t prof;
		const char *eku[CA_MAX_EKU + 1];

		if (ca_profile_parse(pname, v, &prof, &err) != 0)
			fail_msg("profile %s: %s", pname, cairn_err_msg(&err));
		server_auth = 0;
		for (j = 0; j < prof.n_eku; j++) {
			eku[j] = prof.eku[j];
			server_auth |= strcmp(prof.eku[j], "1.3.6.1.5.5.7.3.1") == 0;
		}
		eku[prof.n_eku] = NULL;
		for (k = 0; k < 3; k++) {
			for (n = 0; n < sizeof(names_cases) / sizeof(names_cases[0]); n++) {
				const names_case_t *nc = &names_cases[n];
				ca_csr_t *csr = request(f.leaf[k], nc->cn, nc->san);
				GENERAL_NAMES *sans = NULL;

				assert_int_equal(ca_names_to_general(&csr->names, &sans), 0);
				for (i = 0; i < 2; i++) {
					X509 *x;

					memset(&spec, 0, sizeof(spec));
					spec.subject_cn = csr->names.cn;
					spec.subject_o = csr->names.o;
					spec.not_before = NOT_BEFORE;
					spec.validity_days = prof.validity_days;
					spec.key_usage = prof.key_usage;
					if (k < 2)
						spec.key_usage &= CA_KU_EC_OK;
					spec.eku = eku;
					spec.sans = sans;
					spec.ocsp_url = "http://ca.example.test/ocsp";
					spec.ca_issuers_url = i ? NULL : "http://ca.example.test/ca/issuing.crt";
					spec.crl_url = i ? "http://ca.example.test/crl/issuing/3.crl"
							 : "http://ca.example.test/crl/issuing.crl";
					spec.serial = i ? serial_lead0 : serial_fixed;
					spec.serial_len = i ? sizeof(serial_lead0) : sizeof(serial_fixed);
					snprintf(name, sizeof(name), "%s/%s/%s/%s", pname, key_tag[k],
						 nc->tag, iss_tag[i]);
					if (spec.key_usage == 0)
						continue; /* ca_issue refuses: no usage for this key */
					x = build_or_fail(name, &spec, f.issuer[i], f.ikey[i],
							  csr->pub);
					check(name, x);
					/* What ca_issue would let through must pass lint: a CN-only
					 * request only without serverAuth and without require_san. */
					if (!print_mode &&
					    (nc->san != NULL || (!prof.require_san && !server_auth)) &&
					    ca_cert_lint(x, f.issuer[i], &prof, &err) != 0)
						fail_msg("%s: %s", name, cairn_err_msg(&err));
					X509_free(x);
				}
				GENERAL_NAMES_free(sans);
				ca_csr_free(csr);
			}
		}
	}

	/* An OCSP signer (nocheck, borrowed subject) and a sub-CA under the P-384 root. */
	for (k = 0; k < 3; k++) {
		static const char *const ocsp_eku[] = { "1.3.6.1.5.5.7.3.9", NULL };
		X509_NAME *subj = X509_NAME_new();
		X509 *x;

		assert_int_equal(X509_NAME_add_entry_by_txt(subj, "C", MBSTRING_ASC,
							    (const unsigned char *)"DE", -1, -1, 0), 1);
		assert_int_equal(X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC,
							    (const unsigned char *)"OCSP", -1, -1, 0), 1);
		memset(&spec, 0, sizeof(spec));
		spec.subject = subj;
		spec.not_before = NOT_BEFORE;
		spec.validity_days = 30;
		spec.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
		spec.eku = ocsp_eku;
		spec.ocsp_nocheck = 1;
		spec.serial = serial_fixed;
		spec.serial_len = sizeof(serial_fixed);
		snprintf(name, sizeof(name), "ocsp-signer/%s", key_tag[k]);
		x = build_or_fail(name, &spec, f.issuer[0], f.ikey[0], f.leaf[k]);
		check(name, x);
		X509_free(x);
		X509_NAME_free(subj);

		memset(&spec, 0, sizeof(spec));
		spec.subject_cn = "Golden Sub CA";
		spec.subject_o = "Cairn Golden";
		spec.not_before = NOT_BEFORE;
		spec.validity_days = 20000; /* clamped to the issuer's notAfter */
		spec.is_ca = 1;
		spec.path_len = (int)k;
		spec.key_usage = X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN;
		spec.ocsp_url = "http://ca.example.test/ocsp";
		spec.serial = serial_lead0;
		spec.serial_len = sizeof(serial_lead0);
		snprintf(name, sizeof(name), "sub-ca/%s", key_tag[k]);
		x = build_or_fail(name, &spec, f.issuer[1], f.ikey[1], f.leaf[k]);
		check(name, x);
		X509_free(x);
	}
	if (!print_mode && (size_t)n_checked != sizeof(golden) / sizeof(golden[0]))
		fail_msg("%d cases checked, %zu golden values", n_checked,
			 sizeof(golden) / sizeof(golden[0]));
	json_decref(all);
	json_decref(f.profiles);
	for (i = 0; i < 2; i++) {
		X509_free(f.issuer[i]);
		EVP_PKEY_free(f.ikey[i]);
	}
	for (k = 0; k < 3; k++)
		EVP_PKEY_free(f.leaf[k]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
	};
	return cmocka_run_group_tests_name("ca_build_golden", tests, NULL, NULL);
}
