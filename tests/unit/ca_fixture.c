/* SPDX-License-Identifier: MIT */
/* Shared helpers of the ca/ unit tests: default profiles, CSRs made in memory, chain checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dlfcn.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/decoder.h>
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

#include <ftw.h>

#include "tests/unit/ca_fixture.h"
#include "util/util.h"

/* Every OSSL_DECODER_CTX_new_for_pkey call of the test program, libcrypto's own included
 * (it calls it through its PLT, so this definition takes them), counted and passed on. */
static atomic_uint_fast64_t decoder_walks;

OSSL_DECODER_CTX *OSSL_DECODER_CTX_new_for_pkey(EVP_PKEY **pkey, const char *input_type,
						const char *input_struct, const char *keytype,
						int selection, OSSL_LIB_CTX *libctx,
						const char *propquery)
{
	static OSSL_DECODER_CTX *(*real)(EVP_PKEY **, const char *, const char *, const char *,
					 int, OSSL_LIB_CTX *, const char *);

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "OSSL_DECODER_CTX_new_for_pkey");
	assert_non_null(real);
	atomic_fetch_add(&decoder_walks, 1);
	return real(pkey, input_type, input_struct, keytype, selection, libctx, propquery);
}

uint64_t fixture_decoder_walks(void)
{
	return (uint64_t)atomic_load(&decoder_walks);
}

ca_profile_t default_profile(const char *name)
{
	json_t *all = ca_profiles_default();
	ca_profile_t p;
	cairn_err_t err = { 0 };

	assert_non_null(all);
	assert_int_equal(ca_profile_parse(name, json_object_get(all, name), &p, &err), 0);
	json_decref(all);
	return p;
}

/* A DER CSR for key with an optional CN and SAN list ("DNS:a,IP:1.2.3.4"). */
uint8_t *make_csr(EVP_PKEY *key, const char *cn, const char *sans, size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	uint8_t *der = NULL;
	int n;

	assert_non_null(req);
	assert_int_equal(X509_REQ_set_version(req, X509_REQ_VERSION_1), 1);
	if (cn != NULL)
		assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
							    (const unsigned char *)cn, -1, -1, 0),
				 1);
	assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_organizationalUnitName,
						    MBSTRING_UTF8, (const unsigned char *)"ignored",
						    -1, -1, 0),
			 1);
	assert_int_equal(X509_REQ_set_subject_name(req, name), 1);
	assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
	if (sans != NULL) {
		X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, NULL, NID_subject_alt_name, sans);
		assert_non_null(e);
		sk_X509_EXTENSION_push(exts, e);
		/* Requested extensions other than SAN must be ignored. */
		e = X509V3_EXT_nconf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:TRUE");
		assert_non_null(e);
		sk_X509_EXTENSION_push(exts, e);
		assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
	}
	assert_true(X509_REQ_sign(req, key, EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ||
						    EVP_PKEY_get_base_id(key) == EVP_PKEY_ED448
					    ? NULL
					    : EVP_sha256()) > 0);
	n = i2d_X509_REQ(req, &der);
	assert_true(n > 0);
	*len = (size_t)n;
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return der;
}

/* Parses and checks a CSR against a default profile; returns the code, err filled. */
int check_csr(const uint8_t *der, size_t len, const char *profile, cairn_err_t *err)
{
	ca_profile_t p = default_profile(profile);
	X509_REQ *req = NULL;
	int rc;

	memset(err, 0, sizeof(*err));
	rc = ca_csr_parse(der, len, &req, err);
	if (rc == 0)
		rc = ca_csr_check(req, &p, err);
	X509_REQ_free(req);
	return rc;
}

int check_key_csr(EVP_PKEY *key, const char *cn, const char *sans, const char *profile,
			 cairn_err_t *err)
{
	size_t len;
	uint8_t *der = make_csr(key, cn, sans, &len);
	int rc = check_csr(der, len, profile, err);

	OPENSSL_free(der);
	return rc;
}

int ext_critical(X509 *x, int nid)
{
	int idx = X509_get_ext_by_NID(x, nid, -1);

	assert_true(idx >= 0);
	return X509_EXTENSION_get_critical(X509_get_ext(x, idx));
}

/* The URI of the given AIA access method, or NULL (static buffer). */
const char *aia_uri(X509 *x, int nid)
{
	static char buf[256];
	AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
	int i;

	buf[0] = '\0';
	for (i = 0; aia != NULL && i < sk_ACCESS_DESCRIPTION_num(aia); i++) {
		ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);
		if (OBJ_obj2nid(ad->method) == nid && ad->location->type == GEN_URI)
			snprintf(buf, sizeof(buf), "%s",
				 (const char *)ASN1_STRING_get0_data(ad->location->d.uniformResourceIdentifier));
	}
	AUTHORITY_INFO_ACCESS_free(aia);
	return buf[0] ? buf : NULL;
}

const char *cdp_uri(X509 *x)
{
	static char buf[256];
	CRL_DIST_POINTS *cdp = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);

	buf[0] = '\0';
	if (cdp != NULL && sk_DIST_POINT_num(cdp) == 1) {
		DIST_POINT *dp = sk_DIST_POINT_value(cdp, 0);
		GENERAL_NAME *g = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, 0);
		snprintf(buf, sizeof(buf), "%s", (const char *)ASN1_STRING_get0_data(g->d.ia5));
	}
	CRL_DIST_POINTS_free(cdp);
	return buf[0] ? buf : NULL;
}

int verify_chain(X509 *root, X509 *issuing, X509 *leaf, int purpose)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	int ok;

	X509_STORE_add_cert(store, root);
	sk_X509_push(untrusted, issuing);
	X509_STORE_CTX_init(ctx, store, leaf, untrusted);
	if (purpose)
		X509_STORE_CTX_set_purpose(ctx, purpose);
	ok = X509_verify_cert(ctx);
	if (ok != 1)
		fprintf(stderr, "# verify: %s\n",
			X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);
	X509_STORE_free(store);
	return ok;
}

/* 16 content bytes and positive: the DER INTEGER is 02 10 0x(00..7f) ... */
void assert_serial16(X509 *x)
{
	const ASN1_INTEGER *s = X509_get0_serialNumber(x);
	unsigned char *der = NULL;
	int n = i2d_ASN1_INTEGER((ASN1_INTEGER *)s, &der);

	assert_int_equal(n, 18);
	assert_int_equal(der[1], 16);
	assert_true(der[2] != 0 && der[2] < 0x80);
	OPENSSL_free(der);
}

int64_t unix_time(const ASN1_TIME *t)
{
	struct tm tm;

	assert_int_equal(ASN1_TIME_to_tm(t, &tm), 1);
	return (int64_t)timegm(&tm);
}

/* A CA certificate (keyCertSign + cRLSign); issuer NULL = self-signed. */
X509 *build_ca(const char *cn, int days, int path_len, X509 *issuer, EVP_PKEY *ikey,
		      EVP_PKEY *pub, const char *crl_url)
{
	ca_cert_spec_t spec;
	cairn_err_t err = { 0 };
	X509 *x = NULL;

	memset(&spec, 0, sizeof(spec));
	spec.subject_cn = cn;
	spec.subject_o = "Cairn Test";
	spec.validity_days = days;
	spec.is_ca = 1;
	spec.path_len = path_len;
	spec.key_usage = X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN;
	spec.crl_url = crl_url;
	if (ca_cert_build(&spec, issuer, ikey, pub, &x, &err) != 0)
		fail_msg("%s: %s", cn, cairn_err_msg(&err));
	return x;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void fixture_rmtree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void fixture_write_pem(const char *path, X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;

	assert_int_equal(PEM_write_bio_X509(b, x), 1);
	n = BIO_get_mem_data(b, &data);
	assert_int_equal(fs_write_atomic(path, data, (size_t)n, 0644), 0);
	BIO_free(b);
}

void fixture_softhsm_conf(const char *dir, char *path, size_t cap)
{
	char conf[512];

	snprintf(path, cap, "%s/tokens", dir);
	assert_int_equal(fs_mkdirs(path, 0700), 0);
	snprintf(conf, sizeof(conf),
		 "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
		 dir);
	snprintf(path, cap, "%s/softhsm2.conf", dir);
	assert_int_equal(fs_write_atomic(path, conf, strlen(conf), 0600), 0);
}

int fixture_ca_open(hsm_t *hsm, db_t *db, const char *root_path, const char *iss_path,
		    ca_t **out, cairn_err_t *err)
{
	ca_config_t cc;

	memset(&cc, 0, sizeof(cc));
	cc.hsm = hsm;
	cc.db = db;
	cc.root_cert_file = root_path;
	cc.issuing_cert_file = iss_path;
	cc.issuing_key_label = "issuing";
	cc.http_base_url = "http://localhost:8080";
	return ca_open(&cc, out, err);
}

void fixture_ca_make(const char *dir, const char *label, const char *name, hsm_t **hsm,
		     db_t **db, ca_t **ca)
{
	hsm_config_t hc = { CAIRN_DEFAULT_MODULE, label, "1234", NULL, 0 };
	char path[256], root_path[256], iss_path[256], cn[96];
	EVP_PKEY *root_pub = NULL, *iss_pub = NULL, *root_key = NULL;
	X509 *root, *issuing;
	cairn_err_t err = { 0 };

	fixture_softhsm_conf(dir, path, sizeof(path));
	hc.softhsm_conf = path;
	if (hsm_token_create(&hc, "5678", &err) != 0 || hsm_open(&hc, hsm, &err) != 0 ||
	    hsm_keygen(*hsm, HSM_KEY_EC_P256, "root", &root_pub, &err) != 0 ||
	    hsm_keygen(*hsm, HSM_KEY_EC_P256, "issuing", &iss_pub, &err) != 0 ||
	    hsm_key_get(*hsm, "root", &root_key, &err) != 0)
		fail_msg("token: %s", cairn_err_msg(&err));
	snprintf(cn, sizeof(cn), "%s Test Root", name);
	root = build_ca(cn, 3650, 1, NULL, root_key, root_pub, NULL);
	snprintf(cn, sizeof(cn), "%s Test Issuing", name);
	issuing = build_ca(cn, 1825, 0, root, root_key, iss_pub, NULL);
	snprintf(root_path, sizeof(root_path), "%s/root.pem", dir);
	snprintf(iss_path, sizeof(iss_path), "%s/issuing.pem", dir);
	fixture_write_pem(root_path, root);
	fixture_write_pem(iss_path, issuing);
	snprintf(path, sizeof(path), "%s/db", dir);
	if (db_open(path, db, &err) != 0)
		fail_msg("db_open: %s", cairn_err_msg(&err));
	if (fixture_ca_open(*hsm, *db, root_path, iss_path, ca, &err) != 0)
		fail_msg("ca_open: %s", cairn_err_msg(&err));
	X509_free(root);
	X509_free(issuing);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(root_pub);
	EVP_PKEY_free(iss_pub);
}
