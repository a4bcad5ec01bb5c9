/* SPDX-License-Identifier: MIT */
/* Unit tests for ca_open/ca_issue: concurrent issuance through a real SoftHSM2 token and LMDB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ftw.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config.h"

#include "audit/audit.h"
#include "ca/ca.h"
#include "db/db.h"
#include "hsm/hsm.h"
#include "notify/notify.h"
#include "util/util.h"

#include "tests/unit/ca_fixture.h"

/* ---------- issuance through the token and the db ---------- */

#define TOKEN_LABEL "cairn-test"
#define TOKEN_PIN "1234"
#define N_THREADS 4
#define PER_THREAD 8

typedef struct fixture {
	char dir[64];
	hsm_t *hsm;
	db_t *db;
	ca_t *ca;
	X509 *root, *issuing;
} fixture_t;

static int fixture_setup(void **state)
{
	fixture_t *f = calloc(1, sizeof(*f));
	char path[256];
	hsm_config_t hc = { CAIRN_DEFAULT_MODULE, TOKEN_LABEL, TOKEN_PIN, NULL, 0 };
	EVP_PKEY *root_pub = NULL, *iss_pub = NULL, *root_key = NULL, *iss_key = NULL;
	ca_config_t cc;
	cairn_err_t err = { 0 };
	char root_path[256], iss_path[256];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/cairn-test-ca-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	fixture_softhsm_conf(f->dir, path, sizeof(path));
	hc.softhsm_conf = path;

	if (hsm_token_create(&hc, "5678", &err) != 0 || hsm_open(&hc, &f->hsm, &err) != 0 ||
	    hsm_keygen(f->hsm, HSM_KEY_EC_P384, "root", &root_pub, &err) != 0 ||
	    hsm_keygen(f->hsm, HSM_KEY_EC_P256, "issuing", &iss_pub, &err) != 0 ||
	    hsm_key_get(f->hsm, "root", &root_key, &err) != 0 ||
	    hsm_key_get(f->hsm, "issuing", &iss_key, &err) != 0)
		fail_msg("token: %s", cairn_err_msg(&err));

	/* Both signed in the token by the root key (a legacy EC_KEY_METHOD key). */
	f->root = build_ca("Test Root CA", 3650, 1, NULL, root_key, root_pub, NULL);
	f->issuing = build_ca("Test Issuing CA", 1825, 0, f->root, root_key, iss_pub, NULL);
	assert_int_equal(X509_get_signature_nid(f->root), NID_ecdsa_with_SHA384);
	assert_int_equal(X509_verify(f->root, root_pub), 1);
	assert_int_equal(X509_verify(f->issuing, root_pub), 1);

	snprintf(root_path, sizeof(root_path), "%s/root.crt", f->dir);
	snprintf(iss_path, sizeof(iss_path), "%s/issuing.crt", f->dir);
	fixture_write_pem(root_path, f->root);
	fixture_write_pem(iss_path, f->issuing);
	snprintf(path, sizeof(path), "%s/db", f->dir);
	if (db_open(path, &f->db, &err) != 0)
		fail_msg("db_open: %s", cairn_err_msg(&err));
	if (ca_record(f->db, f->root, "root", "ca-root", "cli:init", "ca.init", &err) != 0 ||
	    ca_record(f->db, f->issuing, "root", "ca-issuing", "cli:init", "ca.init", &err) != 0)
		fail_msg("ca_record: %s", cairn_err_msg(&err));
	assert_int_equal(ca_record(f->db, f->root, "root", "ca-root", "cli:init", "ca.init", &err),
			 CAIRN_ECOLLISION);

	memset(&cc, 0, sizeof(cc));
	cc.hsm = f->hsm;
	cc.db = f->db;
	cc.root_cert_file = root_path;
	cc.issuing_cert_file = iss_path;
	cc.issuing_key_label = "root"; /* wrong key: refused */
	cc.http_base_url = "http://localhost:8080/";
	assert_int_equal(ca_open(&cc, &f->ca, &err), CAIRN_ECONFIG);
	cc.issuing_key_label = "issuing";
	if (ca_open(&cc, &f->ca, &err) != 0)
		fail_msg("ca_open: %s", cairn_err_msg(&err));

	EVP_PKEY_free(root_key);
	EVP_PKEY_free(iss_key);
	EVP_PKEY_free(root_pub);
	EVP_PKEY_free(iss_pub);
	*state = f;
	return 0;
}

static int fixture_teardown(void **state)
{
	fixture_t *f = *state;

	if (f == NULL)
		return 0;
	ca_free(f->ca);
	db_close(f->db);
	hsm_close(f->hsm);
	X509_free(f->root);
	X509_free(f->issuing);
	fixture_rmtree(f->dir);
	free(f);
	return 0;
}

typedef struct worker {
	ca_t *ca;
	uint8_t *csr[PER_THREAD];
	size_t csr_len[PER_THREAD];
	ca_issued_t *out[PER_THREAD];
	int rc[PER_THREAD];
	cairn_err_t err[PER_THREAD];
} worker_t;

static void *worker_run(void *arg)
{
	worker_t *w = arg;
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		ca_csr_t *csr = NULL;
		ca_request_t r = { .profile = "tls-server", .requester = "test:worker",
				   .channel = "admin" };
		w->rc[i] = ca_csr_new(w->csr[i], w->csr_len[i], 0, &csr, &w->err[i]);
		r.csr = csr;
		if (w->rc[i] == 0)
			w->rc[i] = ca_issue(w->ca, &r, &w->out[i], &w->err[i]);
		ca_csr_free(csr);
	}
	return NULL;
}

static int count_cert(const db_cert_t *c, void *arg)
{
	(void)c;
	(*(int *)arg)++;
	return 0;
}

static void test_issue_concurrent(void **state)
{
	fixture_t *f = *state;
	worker_t w[N_THREADS];
	pthread_t th[N_THREADS];
	EVP_PKEY *key = EVP_EC_gen("P-256");
	audit_verify_result_t res;
	uint64_t seqs[N_THREADS * PER_THREAD];
	int t, i, j, n;

	memset(w, 0, sizeof(w));
	for (t = 0; t < N_THREADS; t++) {
		w[t].ca = f->ca;
		for (i = 0; i < PER_THREAD; i++) {
			char cn[64], san[128];
			snprintf(cn, sizeof(cn), "Host-%d-%d.Example.com", t, i);
			snprintf(san, sizeof(san), "DNS:%s,IP:10.0.%d.%d", cn, t, i);
			w[t].csr[i] = make_csr(key, cn, san, &w[t].csr_len[i]);
		}
	}
	for (t = 0; t < N_THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, worker_run, &w[t]), 0);
	for (t = 0; t < N_THREADS; t++)
		pthread_join(th[t], NULL);

	n = 0;
	for (t = 0; t < N_THREADS; t++) {
		for (i = 0; i < PER_THREAD; i++) {
			ca_issued_t *is = w[t].out[i];
			db_txn_t *txn = NULL;
			db_cert_t rec;
			uint8_t serial[DB_SERIAL_MAX];
			int slen;
			unsigned char *der = NULL;
			int der_len;
			char cn[64];

			if (w[t].rc[i] != 0)
				fail_msg("issue %d/%d: %s", t, i, cairn_err_msg(&w[t].err[i]));
			assert_non_null(is);
			assert_int_equal(verify_chain(f->root, f->issuing, is->cert,
						      X509_PURPOSE_SSL_SERVER),
					 1);
			assert_serial16(is->cert);
			assert_int_equal(strlen(is->serial_hex), 32);
			/* The issued cert: lower-cased DNS SAN, CN only from the CSR, EC key
			 * gets digitalSignature only (RFC 8813), AIA/CDP from the base URL. */
			snprintf(cn, sizeof(cn), "host-%d-%d.example.com", t, i);
			assert_int_equal(X509_check_host(is->cert, cn, 0, X509_CHECK_FLAG_NO_WILDCARDS, NULL), 1);
			assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(is->cert)), 1);
			assert_int_equal(X509_get_key_usage(is->cert), X509v3_KU_DIGITAL_SIGNATURE);
			assert_int_equal(X509_check_ca(is->cert), 0);
			assert_string_equal(aia_uri(is->cert, NID_ad_OCSP), "http://localhost:8080/ocsp");
			assert_string_equal(aia_uri(is->cert, NID_ad_ca_issuers),
					    "http://localhost:8080/ca/issuing.crt");
			assert_string_equal(cdp_uri(is->cert), "http://localhost:8080/crl/issuing.crl");
			{
				char *pem = NULL, *chain = NULL;
				assert_int_equal(ca_issued_pem(f->ca, is, &pem, &chain), 0);
				assert_non_null(strstr(chain, pem));
				assert_true(strlen(chain) > strlen(pem) + 100);
				free(pem);
				free(chain);
			}

			slen = hex_decode(is->serial_hex, serial, sizeof(serial));
			assert_int_equal(slen, 16);
			assert_int_equal(db_read_begin(f->db, &txn), 0);
			assert_int_equal(db_cert_get(txn, serial, (size_t)slen, &rec), 0);
			der_len = i2d_X509(is->cert, &der);
			assert_int_equal(rec.der_len, (size_t)der_len);
			assert_memory_equal(rec.der, der, (size_t)der_len);
			/* ca_issue hands back exactly the DER it stored. */
			assert_int_equal(is->der_len, rec.der_len);
			assert_memory_equal(is->der, rec.der, rec.der_len);
			assert_string_equal(is->issuer, "issuing");
			assert_string_equal(rec.issuer, "issuing");
			assert_string_equal(rec.profile, "tls-server");
			assert_string_equal(rec.requester, "test:worker");
			assert_int_equal(rec.status, DB_CERT_VALID);
			j = 0;
			assert_int_equal(db_certs_by_name(txn, cn, count_cert, &j), 0);
			assert_int_equal(j, 1);
			db_txn_end(txn);
			OPENSSL_free(der);

			for (j = 0; j < n; j++)
				assert_true(seqs[j] != is->audit_seq);
			seqs[n++] = is->audit_seq;
			ca_issued_free(is);
			OPENSSL_free(w[t].csr[i]);
		}
	}
	memset(&res, 0, sizeof(res));
	if (audit_verify(f->db, &res) != 0)
		fail_msg("audit: %s at %llu", res.reason, (unsigned long long)res.first_bad);
	assert_int_equal(res.count, 2 + N_THREADS * PER_THREAD);
	EVP_PKEY_free(key);
}

static void test_issue_errors(void **state)
{
	fixture_t *f = *state;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	ca_issued_t *is = NULL;
	cairn_err_t err = { 0 };
	audit_verify_result_t res;
	size_t len;
	uint8_t *der = make_csr(key, "x.example", "DNS:x.example", &len);
	ca_csr_t *csr = NULL, *rcsr = NULL;
	ca_request_t r = { .profile = "tls-server", .requester = "test:errors",
			   .channel = "admin" };

	assert_int_equal(ca_csr_new(der, len, 0, &csr, &err), 0);
	r.csr = csr;

	assert_non_null(ca_profile(f->ca, "tls-server"));
	assert_null(ca_profile(f->ca, "nope"));
	assert_ptr_equal(ca_issuer_cert(f->ca, "root") != NULL, 1);
	assert_null(ca_issuer_cert(f->ca, "other"));

	r.profile = "nope";
	assert_int_equal(ca_issue(f->ca, &r, &is, &err), CAIRN_EPROFILE);
	r.profile = "tls-server";
	r.validity_days = 91;
	assert_int_equal(ca_issue(f->ca, &r, &is, &err), CAIRN_EINVAL);
	r.validity_days = 0;
	assert_int_equal(ca_csr_new("garbage", 7, 0, &rcsr, &err), CAIRN_EBADCSR);
	assert_null(rcsr);
	r.csr = NULL;
	assert_int_equal(ca_issue(f->ca, &r, &is, &err), CAIRN_EINVAL);
	assert_null(is);
	r.csr = csr;
	r.profile = "code-signing";
	assert_int_equal(ca_issue(f->ca, &r, &is, &err), CAIRN_ENAME);

	/* Short validity on request; the audit chain only holds the one issuance. */
	r.profile = "tls-server";
	r.validity_days = 7;
	assert_int_equal(ca_issue(f->ca, &r, &is, &err), 0);
	assert_int_equal(unix_time(X509_get0_notAfter(is->cert)) -
				 unix_time(X509_get0_notBefore(is->cert)),
			 7 * 86400 - 1);
	assert_int_equal(audit_verify(f->db, &res), 0);
	assert_int_equal(res.count, 3);
	assert_int_equal(is->audit_seq, 3);
	ca_issued_free(is);
	is = NULL;

	/* An RSA subject key keeps keyEncipherment (EC keys do not: RFC 8813). */
	{
		EVP_PKEY *rsa = EVP_RSA_gen(2048);
		uint8_t *rder = make_csr(rsa, NULL, "DNS:rsa.example", &len);
		assert_int_equal(ca_csr_new(rder, len, 0, &rcsr, &err), 0);
		r.csr = rcsr;
		r.validity_days = 0;
		assert_int_equal(ca_issue(f->ca, &r, &is, &err), 0);
		assert_int_equal(X509_get_key_usage(is->cert),
				 X509v3_KU_DIGITAL_SIGNATURE | X509v3_KU_KEY_ENCIPHERMENT);
		assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(is->cert)), 0);
		assert_int_equal(ext_critical(is->cert, NID_subject_alt_name), 1);
		ca_issued_free(is);
		ca_csr_free(rcsr);
		OPENSSL_free(rder);
		EVP_PKEY_free(rsa);
	}
	ca_csr_free(csr);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
}

/* Audit events stored so far. */
static uint64_t audit_count(db_t *db)
{
	audit_verify_result_t res;

	memset(&res, 0, sizeof(res));
	assert_int_equal(audit_verify(db, &res), 0);
	return res.count;
}

static int block_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	return ca_key_block(txn, arg, "keyCompromise", 0, 1700000000, err);
}

/* Issues one certificate for key (the names made unique by n); the code ca_issue returned. */
/* A certificate for bN.example under key, valid for days (0: the profile's). */
static int issue_key_days(fixture_t *f, EVP_PKEY *key, int n, int days, ca_issued_t **is,
			  cairn_err_t *err)
{
	char cn[64], san[80];
	size_t len;
	uint8_t *der;
	ca_csr_t *csr = NULL;
	ca_request_t r = { .profile = "tls-server", .requester = "test:block",
			   .channel = "admin", .validity_days = days };
	int rc;

	snprintf(cn, sizeof(cn), "b%d.example", n);
	snprintf(san, sizeof(san), "DNS:b%d.example", n);
	der = make_csr(key, cn, san, &len);
	assert_int_equal(ca_csr_new(der, len, 0, &csr, err), 0);
	r.csr = csr;
	*is = NULL;
	rc = ca_issue(f->ca, &r, is, err);
	ca_csr_free(csr);
	OPENSSL_free(der);
	return rc;
}

static int issue_key(fixture_t *f, EVP_PKEY *key, int n, ca_issued_t **is, cairn_err_t *err)
{
	return issue_key_days(f, key, n, 0, is, err);
}

/*
 * A blocked key (revoked for keyCompromise, or retired by a campaign: both block the hash
 * of the SubjectPublicKeyInfo of a certificate, ca_spki_sha256) is never certified again,
 * whatever the names, for every key type ca_issue takes; the other keys still are, and a
 * refused request stores nothing.
 */
/* A DER CSR for key, DNS:staple.example.test, with the TLS feature extension(s) given as
 * OpenSSL config values ("status_request"), each added once; NULL ends the list. */
static uint8_t *csr_features(EVP_PKEY *key, const char *const *features, size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *e;
	uint8_t *der = NULL;
	int n;

	assert_non_null(req);
	assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
	e = X509V3_EXT_nconf_nid(NULL, NULL, NID_subject_alt_name, "DNS:staple.example.test");
	assert_non_null(e);
	sk_X509_EXTENSION_push(exts, e);
	for (; features != NULL && *features != NULL; features++) {
		e = X509V3_EXT_nconf_nid(NULL, NULL, NID_tlsfeature, *features);
		assert_non_null(e);
		sk_X509_EXTENSION_push(exts, e);
	}
	assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
	assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	n = i2d_X509_REQ(req, &der);
	assert_true(n > 0);
	*len = (size_t)n;
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	return der;
}

/* The TLS feature status_request in a certificate: present, not critical, [5] only. */
static int cert_staples(X509 *x)
{
	int crit = -1, ok;
	TLS_FEATURE *f = X509_get_ext_d2i(x, NID_tlsfeature, &crit, NULL);

	if (f == NULL)
		return 0;
	ok = crit == 0 && sk_ASN1_INTEGER_num(f) == 1 &&
	     ASN1_INTEGER_get(sk_ASN1_INTEGER_value(f, 0)) == 5;
	sk_ASN1_INTEGER_pop_free(f, ASN1_INTEGER_free);
	return ok ? 1 : -1;
}

/* OCSP Must-Staple: certified when the CSR asks (profiles' default "request"), refused by
 * a profile that says "never" (never dropped in silence); a feature other than
 * status_request, an empty list or the extension twice is a bad CSR. */
static void test_must_staple(void **state)
{
	fixture_t *f = *state;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	static const char *const staple[] = { "status_request", NULL };
	static const char *const v2[] = { "status_request,status_request_v2", NULL };
	static const char *const twice[] = { "status_request", "status_request", NULL };
	ca_request_t r = { .profile = "tls-server", .requester = "test:staple",
			   .channel = "admin" };
	ca_profile_t never;
	json_t *obj;
	ca_csr_t *csr = NULL;
	ca_issued_t *is = NULL;
	cairn_err_t err = { 0 };
	uint8_t *der;
	size_t len;

	der = csr_features(key, staple, &len);
	assert_int_equal(ca_csr_new(der, len, 0, &csr, &err), 0);
	free(der);
	assert_int_equal(csr->must_staple, 1);
	r.csr = csr;
	assert_int_equal(ca_issue(f->ca, &r, &is, &err), 0);
	assert_int_equal(cert_staples(is->cert), 1);
	ca_issued_free(is);
	is = NULL;

	obj = json_pack("{s:i, s:[s], s:[s], s:[s], s:s}", "validity_days", 90, "key_usage",
			"digitalSignature", "ext_key_usage", "serverAuth", "san_types", "dns",
			"must_staple", "never");
	assert_int_equal(ca_profile_parse("web", obj, &never, &err), 0);
	assert_int_equal(never.must_staple, CA_STAPLE_NEVER);
	assert_int_equal(ca_csr_check_profile(csr, &never, &err), CAIRN_EBADCSR);
	assert_non_null(strstr(err.msg, "profiles.web.must_staple is \"never\""));
	/* the bare CSR check says the same */
	memset(&err, 0, sizeof(err));
	assert_int_equal(ca_csr_check(csr->req, &never, &err), CAIRN_EBADCSR);
	assert_non_null(strstr(err.msg, "profiles.web.must_staple is \"never\""));
	json_object_set_new(obj, "must_staple", json_string("sometimes"));
	assert_int_equal(ca_profile_parse("web", obj, &never, &err), CAIRN_ECONFIG);
	assert_non_null(strstr(err.msg, "profiles.web.must_staple: must be"));
	json_decref(obj);
	ca_csr_free(csr);
	csr = NULL;

	der = csr_features(key, NULL, &len); /* not asked: not certified */
	assert_int_equal(ca_csr_new(der, len, 0, &csr, &err), 0);
	free(der);
	assert_int_equal(csr->must_staple, 0);
	r.csr = csr;
	assert_int_equal(ca_issue(f->ca, &r, &is, &err), 0);
	assert_int_equal(cert_staples(is->cert), 0);
	ca_issued_free(is);
	ca_csr_free(csr);
	csr = NULL;

	der = csr_features(key, v2, &len);
	assert_int_equal(ca_csr_new(der, len, 0, &csr, &err), CAIRN_EBADCSR);
	free(der);
	assert_null(csr);
	assert_non_null(strstr(err.msg, "TLS feature 17"));
	der = csr_features(key, twice, &len);
	assert_int_equal(ca_csr_new(der, len, 0, &csr, &err), CAIRN_EBADCSR);
	free(der);
	assert_non_null(strstr(err.msg, "twice"));
	EVP_PKEY_free(key);
}

static void test_blocked_key(void **state)
{
	fixture_t *f = *state;
	EVP_PKEY *keys[4];
	ca_issued_t *is = NULL;
	cairn_err_t err = { 0 };
	uint8_t spki[32], pk_hash[32];
	uint64_t before;
	unsigned long signs;
	size_t i;

	keys[0] = EVP_EC_gen("P-256");
	keys[1] = EVP_EC_gen("P-384");
	keys[2] = EVP_RSA_gen(2048);
	keys[3] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	for (i = 0; i < 4; i++) {
		EVP_PKEY *other = EVP_EC_gen("P-256");
		assert_non_null(keys[i]);
		assert_int_equal(issue_key(f, keys[i], (int)(10 * i), &is, &err), 0);
		assert_int_equal(ca_spki_sha256(is->cert, spki), 0);
		assert_int_equal(ca_pubkey_sha256(keys[i], pk_hash), 0);
		assert_memory_equal(spki, pk_hash, 32);
		/* ... and as stored: the certificate read back from its DER (both decoders),
		 * hashed from its bytes and from its key re-encoded, gives the same hash */
		{
			const unsigned char *p = is->der;
			X509 *back = ca_cert_d2i(&p, (long)is->der_len), *full;
			uint8_t h2[32];

			p = is->der;
			full = d2i_X509(NULL, &p, (long)is->der_len);
			assert_non_null(back);
			assert_non_null(full);
			assert_int_equal(ca_spki_sha256(back, h2), 0);
			assert_memory_equal(h2, spki, 32);
			assert_int_equal(ca_spki_sha256(full, h2), 0);
			assert_memory_equal(h2, spki, 32);
			assert_int_equal(ca_pubkey_sha256(X509_get0_pubkey(full), h2), 0);
			assert_memory_equal(h2, spki, 32);
			X509_free(back);
			X509_free(full);
		}
		ca_issued_free(is);
		assert_int_equal(db_write(f->db, block_run, spki, &err), 0);

		before = audit_count(f->db);
		signs = hsm_signatures(f->hsm);
		assert_int_equal(issue_key(f, keys[i], (int)(10 * i + 1), &is, &err),
				 CAIRN_EWEAKKEY);
		assert_null(is);
		assert_non_null(strstr(err.msg, "the public key is blocked (keyCompromise)"));
		assert_int_equal(audit_count(f->db), before);
		/* refused before anything is signed: no certificate for it ever existed */
		assert_int_equal(hsm_signatures(f->hsm), signs);

		assert_int_equal(issue_key(f, other, (int)(10 * i + 2), &is, &err), 0);
		assert_true(hsm_signatures(f->hsm) > signs); /* the counter counts */
		ca_issued_free(is);
		EVP_PKEY_free(other);
	}
	/* The first key again, its point compressed (the same key under other SPKI bytes,
	 * whose hash would miss the block): refused, whatever the block. */
	{
		EVP_PKEY *kc = EVP_PKEY_dup(keys[0]);
		assert_non_null(kc);
		assert_int_equal(EVP_PKEY_set_utf8_string_param(
					 kc, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
					 "compressed"),
				 1);
		before = audit_count(f->db);
		signs = hsm_signatures(f->hsm);
		assert_int_equal(issue_key(f, kc, 99, &is, &err), CAIRN_EKEYTYPE);
		assert_null(is);
		assert_non_null(strstr(err.msg, "compressed"));
		assert_int_equal(audit_count(f->db), before);
		assert_int_equal(hsm_signatures(f->hsm), signs);
		EVP_PKEY_free(kc);
	}
	for (i = 0; i < 4; i++)
		EVP_PKEY_free(keys[i]);
}


/*
 * The request object: one decode and one signature check per request, however many
 * steps read it; ca_issue decodes and verifies nothing more, and refuses an object whose
 * signature was not verified. A CSR changed after signing is refused when it is built.
 */
static void test_request_once(void **state)
{
	fixture_t *f = *state;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	ca_csr_t *csr = NULL, *bad = NULL, *unverified = NULL;
	ca_issued_t *is = NULL;
	cairn_err_t err = { 0 };
	uint64_t p0, v0, p1, v1, events;
	size_t len, i;
	uint8_t *der = make_csr(key, "once.example.test", "DNS:once.example.test", &len);
	uint8_t *tampered = malloc(len);
	ca_request_t r = { .profile = "tls-server", .requester = "test:once",
			   .channel = "admin" };

	assert_non_null(tampered);
	ca_csr_counts(&p0, &v0);
	assert_int_equal(ca_csr_new(der, len, 0, &csr, &err), 0);
	ca_csr_counts(&p1, &v1);
	assert_int_equal(p1 - p0, 1);
	assert_int_equal(v1 - v0, 1);
	assert_true(csr->verified);
	assert_non_null(csr->req);
	assert_non_null(csr->pub);
	assert_int_equal(csr->names.n_san, 1);
	assert_string_equal(csr->names.san[0].text, "once.example.test");
	assert_string_equal(csr->names.cn, "once.example.test");
	assert_int_equal(csr->raw_len, len);
	assert_memory_equal(csr->raw, der, len);

	/* Checks, constraints and issuance read the object: no decode, no verification. */
	r.csr = csr;
	assert_int_equal(ca_csr_check_profile(csr, ca_profile(f->ca, "tls-server"), &err), 0);
	assert_int_equal(ca_csr_check_constraints(f->ca, csr, &err), 0);
	assert_int_equal(ca_issue(f->ca, &r, &is, &err), 0);
	ca_csr_counts(&p0, &v0);
	assert_int_equal(p0, p1);
	assert_int_equal(v0, v1);
	assert_int_equal(X509_check_host(is->cert, "once.example.test", 0, 0, NULL), 1);
	ca_issued_free(is);
	is = NULL;

	/* A byte of the signed part changed ("once" -> "ONCE" in the CN): refused when built. */
	memcpy(tampered, der, len);
	for (i = 0; i + 4 <= len; i++)
		if (memcmp(tampered + i, "once", 4) == 0) {
			memcpy(tampered + i, "ONCE", 4);
			break;
		}
	assert_true(i + 4 <= len);
	assert_int_equal(ca_csr_new(tampered, len, 0, &bad, &err), CAIRN_ECSRSIG);
	assert_null(bad);
	assert_int_equal(strncmp(err.msg, "CSR signature does not verify", 29), 0);
	/* The last byte of the signature changed: the same. */
	memcpy(tampered, der, len);
	tampered[len - 1] ^= 0x01;
	assert_int_equal(ca_csr_new(tampered, len, 0, &bad, &err), CAIRN_ECSRSIG);
	assert_null(bad);

	/* Read without verification (what explanations do), it can never be issued. */
	assert_int_equal(ca_csr_new(tampered, len, CA_CSR_NO_VERIFY, &unverified, &err), 0);
	assert_false(unverified->verified);
	events = audit_count(f->db);
	r.csr = unverified;
	memset(&err, 0, sizeof(err));
	assert_int_equal(ca_issue(f->ca, &r, &is, &err), CAIRN_EINVAL);
	assert_null(is);
	assert_non_null(strstr(err.msg, "not verified"));
	assert_int_equal(ca_csr_check_profile(unverified, ca_profile(f->ca, "tls-server"), &err),
			 CAIRN_EINVAL);
	assert_int_equal(audit_count(f->db), events);

	ca_csr_free(unverified);
	ca_csr_free(csr);
	free(tampered);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
}

/* Issues one certificate for cn and returns it (asserts on failure). */
static ca_issued_t *issue_one(ca_t *ca, const char *cn)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	char san[96];
	size_t len = 0;
	uint8_t *csr;
	ca_csr_t *obj = NULL;
	ca_issued_t *is = NULL;
	cairn_err_t err = { 0 };
	ca_request_t r = { 0 };

	snprintf(san, sizeof(san), "DNS:%s", cn);
	csr = make_csr(key, cn, san, &len);
	if (ca_csr_new(csr, len, 0, &obj, &err) != 0)
		fail_msg("ca_csr_new: %s", cairn_err_msg(&err));
	r.csr = obj;
	r.profile = "tls-server";
	r.requester = "test:rotate";
	r.channel = "admin";
	if (ca_issue(ca, &r, &is, &err) != 0)
		fail_msg("ca_issue: %s", cairn_err_msg(&err));
	ca_csr_free(obj);
	OPENSSL_free(csr);
	EVP_PKEY_free(key);
	return is;
}

/* The issuer name stored in the db record of x. */
static void record_issuer(db_t *db, X509 *x, char *out, size_t cap)
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	db_txn_t *txn = NULL;
	db_cert_t c;

	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(db_cert_get(txn, sn->data, (size_t)sn->length, &c), 0);
	snprintf(out, cap, "%s", c.issuer);
	db_txn_end(txn);
}

/* ---------- a revocation and the delta CRL: its time is its commit's, not its call's ---------- */

/* Holds the database writer until opened: a write that waits behind it is committed
 * after a read snapshot taken meanwhile. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int entered, open;
};

static int gate_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct gate *g = arg;

	(void)txn;
	(void)err;
	pthread_mutex_lock(&g->mu);
	g->entered = 1;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	return 0;
}

struct gated {
	fixture_t *f;
	struct gate *g;
	const char *serial_hex;
	int rc;
};

static void *gate_thread(void *arg)
{
	struct gated *w = arg;
	cairn_err_t err = { 0 };

	w->rc = db_write(w->f->db, gate_op, w->g, &err);
	return NULL;
}

static void *revoke_thread(void *arg)
{
	struct gated *w = arg;
	cairn_err_t err = { 0 };

	w->rc = ca_revoke(w->f->ca, w->serial_hex, CA_REASON_KEY_COMPROMISE, 0, "test", &err);
	return NULL;
}

/* The delta CRL lists what was revoked at or after its base's thisUpdate (crl/build.c);
 * the base lists what was committed before its snapshot. A revocation called before a
 * base's thisUpdate but committed after its snapshot must therefore carry a time not
 * before that thisUpdate, or it is on neither until the next full CRL. */
static void test_revoke_time_is_commit(void **state)
{
	fixture_t *f = *state;
	ca_issued_t *leaf = issue_one(f->ca, "late.example.test");
	struct gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct gated hold = { f, &g, NULL, -1 }, rev = { f, &g, leaf->serial_hex, -1 };
	const ASN1_INTEGER *sn = X509_get0_serialNumber(leaf->cert);
	pthread_t th, tr;
	db_txn_t *txn = NULL;
	db_cert_t c;
	time_t called, base_tu;

	assert_int_equal(pthread_create(&th, NULL, gate_thread, &hold), 0);
	pthread_mutex_lock(&g.mu);
	while (!g.entered)
		pthread_cond_wait(&g.cv, &g.mu);
	pthread_mutex_unlock(&g.mu);
	called = time(NULL);
	assert_int_equal(pthread_create(&tr, NULL, revoke_thread, &rev), 0);
	/* The base CRL: its thisUpdate seconds after the call, its snapshot before the
	 * commit (the writer is held). */
	while ((base_tu = time(NULL)) < called + 2)
		usleep(50000);
	assert_int_equal(db_read_begin(f->db, &txn), 0);
	assert_int_equal(db_cert_get(txn, sn->data, (size_t)sn->length, &c), 0);
	assert_int_equal(c.status, DB_CERT_VALID);
	db_txn_end(txn);

	pthread_mutex_lock(&g.mu);
	g.open = 1;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	pthread_join(th, NULL);
	pthread_join(tr, NULL);
	assert_int_equal(hold.rc, 0);
	assert_int_equal(rev.rc, 0);

	assert_int_equal(db_read_begin(f->db, &txn), 0);
	assert_int_equal(db_cert_get(txn, sn->data, (size_t)sn->length, &c), 0);
	db_txn_end(txn);
	assert_int_equal(c.status, DB_CERT_REVOKED);
	if (c.revoked_at < (int64_t)base_tu)
		fail_msg("revoked at %lld, before the base's thisUpdate %lld: on no delta",
			 (long long)c.revoked_at, (long long)base_tu);
	ca_issued_free(leaf);
}

/* ---------- renewals: the superseded certificates are found without walking every
 * certificate that ever held the name ---------- */

#define RENEWALS 40

static int is_superseded(db_t *db, const char *hex)
{
	db_txn_t *t = NULL;
	int r;

	assert_int_equal(db_read_begin(db, &t), 0);
	r = notify_is_superseded(t, hex);
	db_txn_end(t);
	return r;
}

/* ca_issue of a CSR for key with sans; *walks (may be NULL): the provider decoders
 * (fixture_decoder_walks) ca_issue set up. */
static ca_issued_t *issue_walks(fixture_t *f, EVP_PKEY *key, const char *requester,
				const char *sans, uint64_t *walks)
{
	ca_request_t r = { .profile = "tls-server", .requester = requester, .channel = "admin" };
	ca_csr_t *csr = NULL;
	ca_issued_t *is = NULL;
	cairn_err_t err = { 0 };
	size_t len;
	uint8_t *der = make_csr(key, "renew.example.test", sans, &len);
	uint64_t w0;

	assert_int_equal(ca_csr_new(der, len, 0, &csr, &err), 0);
	r.csr = csr;
	w0 = fixture_decoder_walks();
	if (ca_issue(f->ca, &r, &is, &err) != 0)
		fail_msg("ca_issue: %s", err.msg);
	if (walks != NULL)
		*walks = fixture_decoder_walks() - w0;
	ca_csr_free(csr);
	free(der);
	return is;
}

static ca_issued_t *issue_for(fixture_t *f, EVP_PKEY *key, const char *requester,
			      const char *sans)
{
	return issue_walks(f, key, requester, sans, NULL);
}

static void test_supersede_walk(void **state)
{
	fixture_t *f = *state;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	ca_issued_t *prev = NULL, *is, *other, *revoked;
	cairn_err_t err = { 0 };
	uint64_t w0, w1;
	int i;

	assert_non_null(key);
	/* Another requester's certificate for the same name is never superseded by ours. */
	other = issue_for(f, key, "test:other", "DNS:renew.example.test");
	for (i = 0; i < RENEWALS; i++) {
		is = issue_for(f, key, "test:renewer", "DNS:renew.example.test");
		if (prev != NULL) {
			assert_true(is_superseded(f->db, prev->serial_hex));
			ca_issued_free(prev);
		}
		prev = is;
	}
	assert_false(is_superseded(f->db, prev->serial_hex));
	assert_false(is_superseded(f->db, other->serial_hex));

	/* The next renewal reads the live candidates of this requester and name, not the
	 * RENEWALS + 1 certificates that held it (the name index walk read them all). */
	w0 = db_walked(f->db);
	is = issue_for(f, key, "test:renewer", "DNS:renew.example.test");
	w1 = db_walked(f->db);
	assert_true(is_superseded(f->db, prev->serial_hex));
	assert_true(w1 - w0 < 8);
	ca_issued_free(prev);
	prev = is;

	/* A revoked certificate is not superseded by the next one (and leaves the list). */
	assert_int_equal(ca_revoke(f->ca, prev->serial_hex, 5, 0, "test", &err), 0);
	revoked = prev;
	prev = issue_for(f, key, "test:renewer", "DNS:renew.example.test");
	assert_false(is_superseded(f->db, revoked->serial_hex));
	/* One extra name: the new certificate holds the old one's name, so it supersedes it;
	 * the reverse (an old certificate with a name the new one lacks) does not happen. */
	is = issue_for(f, key, "test:renewer", "DNS:renew.example.test,DNS:extra.example.test");
	assert_true(is_superseded(f->db, prev->serial_hex));
	ca_issued_free(prev);
	prev = is;
	is = issue_for(f, key, "test:renewer", "DNS:renew.example.test");
	assert_false(is_superseded(f->db, prev->serial_hex));
	assert_false(is_superseded(f->db, other->serial_hex));

	ca_issued_free(is);
	ca_issued_free(prev);
	ca_issued_free(revoked);
	ca_issued_free(other);
	EVP_PKEY_free(key);
}

/* A name held by more certificates than one walk reads (4096 in ca/supersede.c), all
 * of other requesters: a newcomer's issuances must not walk them each time. */
#define CROWD 4200

static int crowd_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	const char *name = "crowded.example.test";
	int i, rc;

	(void)arg;
	(void)err;
	for (i = 0; i < CROWD; i++) {
		db_cert_t c = { 0 };

		c.serial[0] = 0x5c;
		c.serial[1] = (uint8_t)(i >> 8);
		c.serial[2] = (uint8_t)i;
		c.serial_len = 16;
		c.not_before = time(NULL) - 3600;
		c.not_after = time(NULL) + 86400 * 30;
		c.reason = -1;
		snprintf(c.issuer, sizeof(c.issuer), "issuing");
		snprintf(c.profile, sizeof(c.profile), "tls-server");
		snprintf(c.requester, sizeof(c.requester), "test:crowd%d", i % 7);
		if ((rc = db_cert_put(txn, &c, &name, 1)) != 0)
			return rc;
	}
	return 0;
}

static int forget_lists_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	(void)arg;
	(void)err;
	return db_del(txn, DB_META, DB_META_CANDIDATES, sizeof(DB_META_CANDIDATES) - 1);
}

/* Entries the name index walk (or any db_iterate) reads for one issuance. */
static ca_issued_t *issue_counted(fixture_t *f, EVP_PKEY *key, const char *requester,
				  uint64_t *walked)
{
	uint64_t w0 = db_walked(f->db);
	ca_issued_t *is = issue_for(f, key, requester,
				   "DNS:crowded.example.test,DNS:renew.example.test");

	*walked = db_walked(f->db) - w0;
	return is;
}

static void test_supersede_crowded_name(void **state)
{
	fixture_t *f = *state;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	ca_issued_t *a, *b, *c, *d;
	cairn_err_t err = { 0 };
	uint64_t w;

	assert_non_null(key);
	assert_int_equal(db_write(f->db, crowd_run, NULL, &err), 0);

	/* A database created with the lists: a requester's first issuance of the name reads
	 * no list entry and walks none of the others' certificates; its renewal finds it. */
	a = issue_counted(f, key, "test:newcomer", &w);
	assert_true(w < 16);
	b = issue_counted(f, key, "test:newcomer", &w);
	assert_true(w < 16);
	assert_true(is_superseded(f->db, a->serial_hex));
	assert_false(is_superseded(f->db, b->serial_hex));

	/* A database from before the lists: the first issuance of a pair walks the name
	 * index (bounded) and lists the pair even though the walk stopped short of the
	 * end; the next issuance reads the list only, and still supersedes. */
	assert_int_equal(db_write(f->db, forget_lists_run, NULL, &err), 0);
	c = issue_counted(f, key, "test:late", &w);
	assert_true(w >= 4096);
	d = issue_counted(f, key, "test:late", &w);
	assert_true(w < 16);
	assert_true(is_superseded(f->db, c->serial_hex));
	assert_false(is_superseded(f->db, b->serial_hex)); /* another requester's */

	ca_issued_free(a);
	ca_issued_free(b);
	ca_issued_free(c);
	ca_issued_free(d);
	EVP_PKEY_free(key);
}

/* A candidate listed with its count of names is checked against the name index, not
 * decoded: one whose stored DER is not a certificate at all is still found, when its
 * names are all among the renewal's; listed without a count it is decoded (and that
 * fails). */
struct fake_candidate {
	const char *requester;
	uint8_t tag;
	unsigned count;
	char hex[2 * DB_SERIAL_MAX + 1];
};

static int fake_candidate_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	static const uint8_t junk[] = { 0x30, 0x03, 0x02, 0x01, 0x2a };
	const char *names[2] = { "renew.example.test", "Fast.Example.Test" };
	struct fake_candidate *fc = arg;
	db_cert_t c = { 0 };
	int i, rc;

	(void)err;
	c.serial[0] = 0x6b;
	c.serial[1] = fc->tag;
	c.serial_len = 16;
	c.status = DB_CERT_VALID;
	c.not_before = time(NULL) - 3600;
	c.not_after = time(NULL) + 86400;
	c.reason = -1;
	snprintf(c.issuer, sizeof(c.issuer), "issuing");
	snprintf(c.profile, sizeof(c.profile), "tls-server");
	snprintf(c.requester, sizeof(c.requester), "%s", fc->requester);
	c.der = junk;
	c.der_len = sizeof(junk);
	db_serial_hex(c.serial, c.serial_len, fc->hex);
	if ((rc = db_cert_put(txn, &c, names, 2)) != 0)
		return rc;
	for (i = 0; i < 2; i++)
		if ((rc = notify_candidate_add(txn, fc->requester, names[i], c.serial,
					       c.serial_len, fc->count)) != 0)
			return rc;
	return 0;
}

static int count_cb(const uint8_t *serial, size_t len, unsigned n_names, void *arg)
{
	(void)serial;
	(void)len;
	*(unsigned *)arg = n_names;
	return 0;
}

/* The count the last listed candidate of requester and name was listed with. */
static unsigned listed_count(db_t *db, const char *requester, const char *name)
{
	db_txn_t *t = NULL;
	unsigned n = 9999;

	assert_int_equal(db_read_begin(db, &t), 0);
	assert_int_equal(notify_candidates(t, requester, name, count_cb, &n), 0);
	db_txn_end(t);
	return n;
}

static void test_supersede_counted(void **state)
{
	fixture_t *f = *state;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	struct fake_candidate two = { "test:counted", 1, 2, "" },
			      three = { "test:overcounted", 2, 3, "" },
			      unknown = { "test:uncounted", 3, 0, "" };
	const char *sans = "DNS:renew.example.test,DNS:fast.example.test,DNS:more.example.test";
	cairn_err_t err = { 0 };
	ca_issued_t *a, *b, *c;

	assert_non_null(key);
	assert_int_equal(db_write(f->db, fake_candidate_run, &two, &err), 0);
	assert_int_equal(db_write(f->db, fake_candidate_run, &three, &err), 0);
	assert_int_equal(db_write(f->db, fake_candidate_run, &unknown, &err), 0);

	a = issue_for(f, key, "test:counted", sans);
	assert_true(is_superseded(f->db, two.hex)); /* both names held, case aside */
	b = issue_for(f, key, "test:overcounted", sans);
	assert_false(is_superseded(f->db, three.hex)); /* a third name it does not hold */
	c = issue_for(f, key, "test:uncounted", sans);
	assert_false(is_superseded(f->db, unknown.hex)); /* decoded: not a certificate */
	/* An issuance lists itself with its count of distinct names (the CN repeats a
	 * SAN): three. */
	assert_int_equal(listed_count(f->db, "test:counted", "more.example.test"), 3);

	ca_issued_free(a);
	ca_issued_free(b);
	ca_issued_free(c);
	EVP_PKEY_free(key);
}

/* Finding what a renewal supersedes reads each candidate's names from its stored DER:
 * without OpenSSL's provider decoder walk (ca_cert_d2i). An issuance, a renewal with
 * three candidates to read included, sets up no provider decoder at all. */
static void test_supersede_decoder(void **state)
{
	fixture_t *f = *state;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	ca_issued_t *a, *b, *c, *renewal;
	uint64_t walks = 1;

	assert_non_null(key);
	a = issue_walks(f, key, "test:decoder", "DNS:renew.example.test,DNS:a.example.test",
			&walks);
	assert_int_equal(walks, 0);
	b = issue_for(f, key, "test:decoder", "DNS:renew.example.test,DNS:b.example.test");
	c = issue_for(f, key, "test:decoder", "DNS:renew.example.test,DNS:c.example.test");
	/* None holds another's names: all three are still candidates. */
	assert_false(is_superseded(f->db, a->serial_hex));
	assert_false(is_superseded(f->db, b->serial_hex));

	walks = 1;
	renewal = issue_walks(f, key, "test:decoder",
			      "DNS:renew.example.test,DNS:a.example.test,DNS:b.example.test,"
			      "DNS:c.example.test",
			      &walks);
	assert_true(is_superseded(f->db, a->serial_hex));
	assert_true(is_superseded(f->db, b->serial_hex));
	assert_true(is_superseded(f->db, c->serial_hex));
	assert_int_equal(walks, 0);

	ca_issued_free(a);
	ca_issued_free(b);
	ca_issued_free(c);
	ca_issued_free(renewal);
	EVP_PKEY_free(key);
}

/* Closes f's CA and opens it again from the same files, token and database (what a
 * restart does). Returns ca_open's result. */
static int reopen(fixture_t *f, cairn_err_t *err)
{
	char root_path[256], iss_path[256];

	ca_free(f->ca);
	f->ca = NULL;
	snprintf(root_path, sizeof(root_path), "%s/root.crt", f->dir);
	snprintf(iss_path, sizeof(iss_path), "%s/issuing.crt", f->dir);
	return fixture_ca_open(f->hsm, f->db, root_path, iss_path, &f->ca, err);
}

static void test_rotate(void **state)
{
	fixture_t *f = *state;
	ca_issued_t *before, *pending, *after, *again;
	json_t *doc = NULL;
	X509 *next;
	cairn_err_t err = { 0 };
	char name[32];
	ca_issuer_info_t info;
	int i, rc;

	before = issue_one(f->ca, "before.example.test");
	assert_int_equal(ca_rotate(f->ca, "test:admin", &doc, &err), 0);
	assert_string_equal(json_string_value(json_object_get(doc, "name")), "issuing-2");
	assert_string_equal(json_string_value(json_object_get(doc, "replaces")), "issuing");
	json_decref(doc);
	next = ca_issuer_cert(f->ca, "issuing-2");
	assert_non_null(next);
	assert_int_equal(X509_verify(next, X509_get0_pubkey(f->root)), 1);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(next), X509_get0_pubkey(f->issuing)), 0);
	assert_int_equal(ca_issuer_count(f->ca), 2);

	/* Not current before it is activated: the caller makes OCSP and CRLs ready first. */
	pending = issue_one(f->ca, "pending.example.test");
	assert_int_equal(verify_chain(f->root, f->issuing, pending->cert, X509_PURPOSE_SSL_SERVER), 1);
	assert_int_equal(ca_issuer_activate(f->ca, "issuing-9"), CAIRN_ENOENT);
	assert_int_equal(ca_issuer_activate(f->ca, "issuing-2"), 0);
	after = issue_one(f->ca, "after.example.test");
	assert_int_equal(verify_chain(f->root, next, after->cert, X509_PURPOSE_SSL_SERVER), 1);
	assert_int_equal(verify_chain(f->root, f->issuing, after->cert, X509_PURPOSE_SSL_SERVER), 0);
	assert_non_null(strstr(aia_uri(after->cert, NID_ad_ca_issuers), "/ca/issuing-2.crt"));
	assert_non_null(strstr(cdp_uri(after->cert), "/crl/issuing-2.crl"));
	{
		/* The chain a channel formats follows the CA that signed it. */
		char *pem = NULL, *chain = NULL, *next_pem = NULL;
		assert_string_equal(after->issuer, "issuing-2");
		assert_int_equal(ca_issued_pem(f->ca, after, &pem, &chain), 0);
		assert_int_equal(ca_cert_pem(next, &next_pem, NULL), 0);
		assert_non_null(strstr(chain, pem));
		assert_non_null(strstr(chain, next_pem));
		free(pem);
		free(chain);
		free(next_pem);
	}
	record_issuer(f->db, after->cert, name, sizeof(name));
	assert_string_equal(name, "issuing-2");
	record_issuer(f->db, before->cert, name, sizeof(name));
	assert_string_equal(name, "issuing");
	assert_string_equal(ca_issuer_of(f->ca, before->cert), "issuing");
	assert_string_equal(ca_issuer_of(f->ca, after->cert), "issuing-2");
	assert_null(ca_issuer_of(f->ca, f->root));
	assert_int_equal(ca_issuer_at(f->ca, 1, &info), 0);
	assert_true(info.current);
	assert_string_equal(info.name, "issuing-2");

	/* A new ca_open finds the rotation in the database, the last issuer current. */
	if (reopen(f, &err) != 0)
		fail_msg("ca_open after a rotation: %s", cairn_err_msg(&err));
	assert_int_equal(ca_issuer_count(f->ca), 2);
	again = issue_one(f->ca, "again.example.test");
	assert_string_equal(ca_issuer_of(f->ca, again->cert), "issuing-2");

	/* At most CA_MAX_ISSUERS; the one past it is refused and nothing changes. */
	for (i = 2; i < CA_MAX_ISSUERS; i++) {
		rc = ca_rotate(f->ca, "test:admin", &doc, &err);
		if (rc != 0)
			fail_msg("rotation %d: %s", i, cairn_err_msg(&err));
		json_decref(doc);
	}
	assert_int_equal(ca_rotate(f->ca, "test:admin", &doc, &err), CAIRN_ECONFLICT);
	assert_null(doc);
	assert_int_equal(ca_issuer_count(f->ca), CA_MAX_ISSUERS);
	assert_string_equal(ca_issuer_of(f->ca, again->cert), "issuing-2");

	ca_issued_free(before);
	ca_issued_free(pending);
	ca_issued_free(after);
	ca_issued_free(again);
}

static int meta_set(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	(void)err;
	return db_put(txn, DB_META, "rollover", 8, arg, strlen(arg), 0);
}

/* Puts text as the database's record of the rollover (meta "rollover"). */
static void rollover_meta_write(fixture_t *f, const char *text)
{
	cairn_err_t err = { 0 };

	if (db_write(f->db, meta_set, (void *)text, &err) != 0)
		fail_msg("meta rollover: %s", cairn_err_msg(&err));
}

/* A root rollover (ca_cross_sign) is offered at once and after a restart; a record of it
 * that does not fit the daemon's root, or is damaged, refuses the start naming it. */
static void test_rollover(void **state)
{
	fixture_t *f = *state;
	const ca_rollover_certs_t *ro;
	json_t *doc = NULL, *rec, *orig;
	const void *v;
	size_t vlen;
	db_txn_t *txn;
	char *saved, *swapped, root_path[256], iss_path[256], hex[2 * DB_SERIAL_MAX + 1];
	X509 *root;
	ca_t *before = NULL;
	cairn_err_t err = { 0 };

	assert_null(ca_rollover(f->ca));
	/* A second handle opened before: memory that has not switched to the rollover yet,
	 * as the daemon's between the rollover's write and ca_rollover_set. */
	snprintf(root_path, sizeof(root_path), "%s/root.crt", f->dir);
	snprintf(iss_path, sizeof(iss_path), "%s/issuing.crt", f->dir);
	if (fixture_ca_open(f->hsm, f->db, root_path, iss_path, &before, &err) != 0)
		fail_msg("second ca_open: %s", cairn_err_msg(&err));
	if (ca_cross_sign(f->ca, "test:admin", &doc, &err) != 0)
		fail_msg("ca_cross_sign: %s", cairn_err_msg(&err));
	json_decref(doc);
	ro = ca_rollover(f->ca);
	assert_non_null(ro);
	assert_null(ca_rollover(before));
	/* The cross-certificate the root signed is the last rollover's from its write on:
	 * refused there too (the database says so, not the handle's memory). */
	ca_serial_hex(ro->new_by_old, hex);
	memset(&err, 0, sizeof(err));
	assert_int_equal(ca_revoke(before, hex, CA_REASON_SUPERSEDED, 0, "test", &err),
			 CAIRN_ECONFLICT);
	assert_non_null(strstr(cairn_err_msg(&err), "of the last root rollover"));
	ca_free(before);
	/* The new root, the new root under the old one, the old root under the new one. */
	assert_int_equal(X509_verify(ro->root, X509_get0_pubkey(ro->root)), 1);
	assert_int_equal(X509_verify(ro->new_by_old, X509_get0_pubkey(f->root)), 1);
	assert_int_equal(X509_verify(ro->old_by_new, X509_get0_pubkey(ro->root)), 1);
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(ro->old_by_new),
				       X509_get_subject_name(f->root)), 0);
	root = X509_dup(ro->root);
	assert_non_null(root);

	/* A restart reads it back from the database. */
	if (reopen(f, &err) != 0)
		fail_msg("ca_open after a rollover: %s", cairn_err_msg(&err));
	ro = ca_rollover(f->ca);
	assert_non_null(ro);
	assert_int_equal(X509_cmp(ro->root, root), 0);

	assert_int_equal(db_read_begin(f->db, &txn), 0);
	assert_int_equal(db_get(txn, DB_META, "rollover", 8, &v, &vlen), 0);
	saved = strndup(v, vlen);
	db_txn_end(txn);
	assert_non_null(saved);
	rec = json_loads(saved, 0, NULL);
	orig = json_loads(saved, 0, NULL);
	assert_non_null(rec);
	assert_non_null(orig);

	/* The new root and the old root's cross-certificate swapped: not this root's. */
	json_object_set(rec, "root", json_object_get(orig, "old_by_new"));
	json_object_set(rec, "old_by_new", json_object_get(orig, "root"));
	swapped = json_dumps(rec, JSON_COMPACT);
	rollover_meta_write(f, swapped);
	memset(&err, 0, sizeof(err));
	assert_int_equal(reopen(f, &err), CAIRN_ECONFIG);
	assert_null(f->ca);
	assert_non_null(strstr(cairn_err_msg(&err), "meta rollover"));
	assert_non_null(strstr(cairn_err_msg(&err), "ca.root_cert"));

	/* A serial that is not in the database, and a record that is not JSON. */
	json_object_set_new(rec, "root", json_string("0badc0de"));
	free(swapped);
	swapped = json_dumps(rec, JSON_COMPACT);
	rollover_meta_write(f, swapped);
	memset(&err, 0, sizeof(err));
	assert_int_equal(reopen(f, &err), CAIRN_EDB);
	assert_non_null(strstr(cairn_err_msg(&err), "meta rollover: root is damaged"));
	rollover_meta_write(f, "{\"root\":");
	memset(&err, 0, sizeof(err));
	assert_int_equal(reopen(f, &err), CAIRN_EDB);
	assert_non_null(strstr(cairn_err_msg(&err), "meta rollover is damaged"));

	/* The record put back: the daemon starts and offers the rollover again. */
	rollover_meta_write(f, saved);
	if (reopen(f, &err) != 0)
		fail_msg("ca_open with the record back: %s", cairn_err_msg(&err));
	assert_int_equal(X509_cmp(ca_rollover(f->ca)->root, root), 0);

	json_decref(rec);
	json_decref(orig);
	free(swapped);
	free(saved);
	X509_free(root);
}

/*
 * A replacement campaign cancelled between the read that picks what to revoke and the
 * revocation's write revokes nothing. The link wraps db_iterate (-Wl,--wrap, ca/local.mk):
 * armed, the walk of the campaign's pending certificates is followed at once by a cancel
 * committed from another thread, so the cancel lands exactly in that window.
 */
int __real_db_iterate(db_txn_t *txn, db_table_t t, const void *start, size_t slen,
		      db_iter_fn fn, void *arg);

static struct {
	ca_t *ca;
	uint64_t id; /* 0: not armed */
	uint64_t id_now; /* the one being cancelled */
	int rc;
} cancel_in_walk;

static void *cancel_thread(void *arg)
{
	cairn_err_t err = { 0 };
	(void)arg;

	cancel_in_walk.rc = ca_replace_cancel(cancel_in_walk.ca, cancel_in_walk.id_now,
					      "test:cancel", &err);
	return NULL;
}

int __wrap_db_iterate(db_txn_t *txn, db_table_t t, const void *start, size_t slen,
		      db_iter_fn fn, void *arg);
int __wrap_db_iterate(db_txn_t *txn, db_table_t t, const void *start, size_t slen,
		      db_iter_fn fn, void *arg)
{
	int rc = __real_db_iterate(txn, t, start, slen, fn, arg);
	pthread_t th;

	if (cancel_in_walk.id != 0 && t == DB_REPLACE && slen == 9 &&
	    ((const uint8_t *)start)[0] == 'P') {
		cancel_in_walk.id_now = cancel_in_walk.id;
		cancel_in_walk.id = 0; /* once: the cancel's own walk passes through here too */
		assert_int_equal(pthread_create(&th, NULL, cancel_thread, NULL), 0);
		assert_int_equal(pthread_join(th, NULL), 0);
	}
	return rc;
}

static int cert_status(fixture_t *f, X509 *x)
{
	char hex[2 * DB_SERIAL_MAX + 1];
	uint8_t serial[DB_SERIAL_MAX];
	db_txn_t *txn = NULL;
	db_cert_t rec;
	int len, status = -1;

	ca_serial_hex(x, hex);
	len = hex_decode(hex, serial, sizeof(serial));
	assert_true(len > 0);
	assert_int_equal(db_read_begin(f->db, &txn), 0);
	if (db_cert_get(txn, serial, (size_t)len, &rec) == 0)
		status = (int)rec.status;
	db_txn_end(txn);
	return status;
}

static void test_replace_cancel_window(void **state)
{
	fixture_t *f = *state;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	ca_issued_t *old = NULL, *succ = NULL, *old2 = NULL, *succ2 = NULL;
	ca_replace_spec_t spec = { .kind = "profile", .value = "tls-server",
				   .by = (int64_t)time(NULL) + 3600,
				   .reason = CA_REASON_SUPERSEDED };
	cairn_err_t err = { 0 };
	uint64_t id;
	size_t marked, revoked;
	int done = 0;
	json_t *camp = NULL;
	db_txn_t *txn = NULL;

	assert_non_null(key);
	/* A certificate, a campaign marking it, then its successor (same names and
	 * requester, a later notAfter): the round revokes the first as superseded. */
	assert_int_equal(issue_key_days(f, key, 1, 30, &old, &err), 0);
	assert_int_equal(ca_replace_create(f->ca, &spec, "test:admin", &id, &err), 0);
	while (!done)
		assert_int_equal(ca_replace_mark_step(f->ca, id, "test:admin", &marked, &done, &err),
				 0);
	assert_int_equal(issue_key(f, key, 1, &succ, &err), 0);

	cancel_in_walk.ca = f->ca;
	cancel_in_walk.id = id;
	cancel_in_walk.rc = -1;
	assert_int_equal(ca_replace_progress(f->ca, id, "test:replace", &revoked, NULL, NULL,
					     &err),
			 0);
	assert_int_equal(cancel_in_walk.rc, 0); /* the cancel committed inside the window */
	assert_int_equal(revoked, 0);
	assert_int_equal(cert_status(f, old->cert), DB_CERT_VALID);
	assert_int_equal(db_read_begin(f->db, &txn), 0);
	assert_int_equal(ca_replace_load(txn, id, &camp), 0);
	db_txn_end(txn);
	assert_string_equal(json_string_value(json_object_get(camp, "state")), "cancelled");
	assert_int_equal(json_integer_value(json_object_get(camp, "revoked")), 0);
	assert_int_equal(json_integer_value(json_object_get(camp, "replaced")), 0);
	json_decref(camp);

	/* Not armed, a campaign revokes what its successor replaced: the window is the only
	 * difference. */
	assert_int_equal(issue_key_days(f, key, 2, 30, &old2, &err), 0);
	spec.by = (int64_t)time(NULL) + 3600;
	assert_int_equal(ca_replace_create(f->ca, &spec, "test:admin", &id, &err), 0);
	done = 0;
	while (!done)
		assert_int_equal(ca_replace_mark_step(f->ca, id, "test:admin", &marked, &done, &err),
				 0);
	assert_int_equal(issue_key(f, key, 2, &succ2, &err), 0);
	assert_int_equal(ca_replace_progress(f->ca, id, "test:replace", &revoked, NULL, NULL,
					     &err),
			 0);
	assert_true(revoked >= 1);
	assert_int_equal(cert_status(f, old2->cert), DB_CERT_REVOKED);
	assert_int_equal(cert_status(f, succ2->cert), DB_CERT_VALID);
	ca_issued_free(old);
	ca_issued_free(succ);
	ca_issued_free(old2);
	ca_issued_free(succ2);
	EVP_PKEY_free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_issue_concurrent, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_issue_errors, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_request_once, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_blocked_key, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_must_staple, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rotate, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_revoke_time_is_commit, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rollover, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_supersede_decoder, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_supersede_walk, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_supersede_crowded_name, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_supersede_counted, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_replace_cancel_window, fixture_setup,
						fixture_teardown),
	};
	return cmocka_run_group_tests_name("ca_issue", tests, NULL, NULL);
}
