/* SPDX-License-Identifier: MIT */
/* Unit tests for ocsp/: answers verified with OpenSSL — statuses, nonces, errors, the pre-signed cache, GET form, a responder replaced at run time. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "db/db.h"
#include "ocsp/ocsp_int.h"

enum { N_CERTS = 5 };

typedef struct fixture {
	char *dir;
	db_t *db;
	EVP_PKEY *root_key, *iss_key, *ocsp_key;
	X509 *root, *issuing, *signer;
	X509_STORE *store;
	ocsp_t *o;
	uint8_t serial[N_CERTS][16];
} fixture_t;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static X509 *make_cert(const char *cn, int is_ca, X509 *issuer, EVP_PKEY *ikey, EVP_PKEY *pub,
		       int ocsp_signer)
{
	static const char *const eku[] = { "1.3.6.1.5.5.7.3.9", NULL };
	ca_cert_spec_t spec = { 0 };
	cairn_err_t err = { 0 };
	X509 *x = NULL;

	spec.subject_cn = cn;
	spec.validity_days = 30;
	spec.is_ca = is_ca;
	spec.path_len = -1;
	spec.key_usage = is_ca ? X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN
			       : X509v3_KU_DIGITAL_SIGNATURE;
	spec.eku = ocsp_signer ? eku : NULL;
	spec.ocsp_nocheck = ocsp_signer;
	if (ca_cert_build(&spec, issuer, ikey, pub, &x, &err) != 0)
		fail_msg("ca_cert_build: %s", cairn_err_msg(&err));
	return x;
}

/* Certificate records: serial[0..2] valid, [3] revoked (keyCompromise), [4] expired. */
static int put_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	fixture_t *f = arg;
	int i, rc;
	(void)err;

	for (i = 0; i < N_CERTS; i++) {
		db_cert_t c = { 0 };
		memcpy(c.serial, f->serial[i], 16);
		c.serial_len = 16;
		c.not_before = time(NULL) - 3600;
		c.not_after = i == 4 ? time(NULL) - 60 : time(NULL) + 86400 * 90;
		c.reason = -1;
		snprintf(c.issuer, sizeof(c.issuer), "issuing");
		snprintf(c.profile, sizeof(c.profile), "tls-server");
		snprintf(c.requester, sizeof(c.requester), "test");
		if ((rc = db_cert_put(txn, &c, NULL, 0)) != 0)
			return rc;
	}
	return db_cert_revoke(txn, f->serial[3], 16, 1800000000, 1);
}

static int setup(void **state)
{
	fixture_t *f = calloc(1, sizeof(*f));
	ocsp_config_t cfg = { 0 };
	cairn_err_t err = { 0 };
	char *db;
	int i;

	assert_non_null(f);
	assert_true(asprintf(&f->dir, "%s/cairn-test-ocsp-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") > 0);
	assert_non_null(mkdtemp(f->dir));
	assert_true(asprintf(&db, "%s/db", f->dir) > 0);
	if (db_open(db, &f->db, &err) != 0)
		fail_msg("db_open: %s", cairn_err_msg(&err));
	free(db);
	f->root_key = EVP_EC_gen("P-256");
	f->iss_key = EVP_EC_gen("P-256");
	f->ocsp_key = EVP_EC_gen("P-256");
	f->root = make_cert("Root", 1, NULL, f->root_key, f->root_key, 0);
	f->issuing = make_cert("Issuing", 1, f->root, f->root_key, f->iss_key, 0);
	f->signer = make_cert("OCSP", 0, f->issuing, f->iss_key, f->ocsp_key, 1);
	f->store = X509_STORE_new();
	X509_STORE_add_cert(f->store, f->root);
	for (i = 0; i < N_CERTS; i++) {
		assert_int_equal(util_random(f->serial[i], 16), 0);
		f->serial[i][0] = (uint8_t)(0x10 + i);
	}
	assert_int_equal(db_write(f->db, put_run, f, &err), 0);
	cfg.db = f->db;
	cfg.issuers[0] = (ocsp_issuer_t){ "issuing", f->issuing, f->signer, f->ocsp_key, f->issuing };
	cfg.issuers[1] = (ocsp_issuer_t){ "root", f->root, f->root, f->root_key, NULL };
	cfg.n_issuers = 2;
	cfg.validity = 3600;
	if (ocsp_open(&cfg, &f->o, &err) != 0)
		fail_msg("ocsp_open: %s", cairn_err_msg(&err));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture_t *f = *state;

	ocsp_free(f->o);
	db_close(f->db);
	X509_STORE_free(f->store);
	X509_free(f->root);
	X509_free(f->issuing);
	X509_free(f->signer);
	EVP_PKEY_free(f->root_key);
	EVP_PKEY_free(f->iss_key);
	EVP_PKEY_free(f->ocsp_key);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f->dir);
	free(f);
	return 0;
}

static OCSP_CERTID *cert_id(X509 *issuer, const uint8_t *serial, size_t len, const EVP_MD *md)
{
	BIGNUM *bn = BN_bin2bn(serial, (int)len, NULL);
	ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
	OCSP_CERTID *id = OCSP_cert_id_new(md, X509_get_subject_name(issuer),
					   X509_get0_pubkey_bitstr(issuer), ai);

	ASN1_INTEGER_free(ai);
	BN_free(bn);
	assert_non_null(id);
	return id;
}

/* DER of a request for one serial of the issuing CA (plus a nonce when asked). */
static int request_der(fixture_t *f, int idx, const EVP_MD *md, int nonce, OCSP_REQUEST **keep,
		       unsigned char **der)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	int n;

	assert_non_null(OCSP_request_add0_id(req, cert_id(f->issuing, f->serial[idx], 16, md)));
	if (nonce)
		assert_int_equal(OCSP_request_add1_nonce(req, NULL, -1), 1);
	n = i2d_OCSP_REQUEST(req, der);
	assert_true(n > 0);
	if (keep)
		*keep = req;
	else
		OCSP_REQUEST_free(req);
	return n;
}

/* Parses a reply: HTTP 200 application/ocsp-response; returns the response status. */
static int parse(const http_reply_t *r, OCSP_BASICRESP **bs)
{
	const unsigned char *p = (const unsigned char *)r->body;
	OCSP_RESPONSE *resp;
	int st;

	assert_int_equal(r->status, 200);
	assert_string_equal(r->content_type, "application/ocsp-response");
	resp = d2i_OCSP_RESPONSE(NULL, &p, (long)r->body_len);
	assert_non_null(resp);
	st = OCSP_response_status(resp);
	if (bs)
		*bs = st == OCSP_RESPONSE_STATUS_SUCCESSFUL ? OCSP_response_get1_basic(resp) : NULL;
	OCSP_RESPONSE_free(resp);
	return st;
}

/* Asks for serial idx and returns its cert status (verifying the signature chain to the root). */
static int ask(fixture_t *f, int idx, const EVP_MD *md, int nonce, int *reason, http_reply_t *out)
{
	OCSP_REQUEST *req = NULL;
	OCSP_BASICRESP *bs = NULL;
	OCSP_CERTID *id = cert_id(f->issuing, f->serial[idx], 16, md);
	unsigned char *der = NULL;
	http_reply_t r = { 0 };
	int n = request_der(f, idx, md, nonce, &req, &der), status = -1;
	ASN1_GENERALIZEDTIME *rev = NULL, *tu = NULL, *nu = NULL;

	ocsp_handle(f->o, der, (size_t)n, &r);
	assert_int_equal(parse(&r, &bs), OCSP_RESPONSE_STATUS_SUCCESSFUL);
	assert_int_equal(OCSP_basic_verify(bs, NULL, f->store, 0), 1);
	assert_int_equal(OCSP_check_nonce(req, bs), nonce ? 1 : 2);
	assert_int_equal(OCSP_resp_find_status(bs, id, &status, reason, &rev, &tu, &nu), 1);
	assert_int_equal(OCSP_check_validity(tu, nu, 0, -1), 1);
	OCSP_BASICRESP_free(bs);
	OCSP_REQUEST_free(req);
	OCSP_CERTID_free(id);
	OPENSSL_free(der);
	if (out)
		*out = r;
	else
		http_reply_clear(&r);
	return status;
}

static void test_statuses(void **state)
{
	fixture_t *f = *state;
	int reason = -1;

	assert_int_equal(ask(f, 0, EVP_sha1(), 0, &reason, NULL), V_OCSP_CERTSTATUS_GOOD);
	assert_int_equal(ask(f, 3, EVP_sha1(), 0, &reason, NULL), V_OCSP_CERTSTATUS_REVOKED);
	assert_int_equal(reason, 1);
	assert_int_equal(ask(f, 1, EVP_sha256(), 0, &reason, NULL), V_OCSP_CERTSTATUS_GOOD);
	assert_int_equal(ask(f, 2, EVP_sha1(), 1, &reason, NULL), V_OCSP_CERTSTATUS_GOOD);
	assert_int_equal(ask(f, 3, EVP_sha256(), 1, &reason, NULL), V_OCSP_CERTSTATUS_REVOKED);
}

static void test_unknown_and_unauthorized(void **state)
{
	fixture_t *f = *state;
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_BASICRESP *bs = NULL;
	EVP_PKEY *other_key = EVP_EC_gen("P-256");
	X509 *other = make_cert("Other", 1, NULL, other_key, other_key, 0);
	uint8_t never[16] = { 0x7f, 1, 2, 3 };
	OCSP_CERTID *id = cert_id(f->issuing, never, 16, EVP_sha1());
	unsigned char *der = NULL;
	http_reply_t r = { 0 };
	int n, status = -1, reason;

	OCSP_request_add0_id(req, OCSP_CERTID_dup(id));
	n = i2d_OCSP_REQUEST(req, &der);
	ocsp_handle(f->o, der, (size_t)n, &r);
	assert_int_equal(parse(&r, &bs), OCSP_RESPONSE_STATUS_SUCCESSFUL);
	assert_int_equal(OCSP_resp_find_status(bs, id, &status, &reason, NULL, NULL, NULL), 1);
	assert_int_equal(status, V_OCSP_CERTSTATUS_UNKNOWN);
	OCSP_BASICRESP_free(bs);
	OCSP_REQUEST_free(req);
	OPENSSL_free(der);
	http_reply_clear(&r);

	der = NULL;
	req = OCSP_REQUEST_new();
	OCSP_request_add0_id(req, cert_id(other, f->serial[0], 16, EVP_sha1()));
	n = i2d_OCSP_REQUEST(req, &der);
	ocsp_handle(f->o, der, (size_t)n, &r);
	assert_int_equal(parse(&r, NULL), OCSP_RESPONSE_STATUS_UNAUTHORIZED);
	http_reply_clear(&r);
	OCSP_REQUEST_free(req);
	OPENSSL_free(der);
	OCSP_CERTID_free(id);
	X509_free(other);
	EVP_PKEY_free(other_key);
}

static void test_malformed(void **state)
{
	fixture_t *f = *state;
	unsigned char *der = NULL, *big;
	http_reply_t r = { 0 };
	int n;

	ocsp_handle(f->o, "garbage", 7, &r);
	assert_int_equal(parse(&r, NULL), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	http_reply_clear(&r);
	ocsp_handle(f->o, "", 0, &r);
	assert_int_equal(parse(&r, NULL), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	http_reply_clear(&r);
	n = request_der(f, 0, EVP_sha1(), 0, NULL, &der);
	ocsp_handle(f->o, der, (size_t)n - 3, &r); /* truncated */
	assert_int_equal(parse(&r, NULL), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	http_reply_clear(&r);
	big = malloc((size_t)n + 1);
	memcpy(big, der, (size_t)n);
	big[n] = 0; /* trailing byte */
	ocsp_handle(f->o, big, (size_t)n + 1, &r);
	assert_int_equal(parse(&r, NULL), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	http_reply_clear(&r);
	ocsp_handle_get(f->o, "!!!not-base64", &r);
	assert_int_equal(parse(&r, NULL), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	http_reply_clear(&r);
	ocsp_handle_get(f->o, "", &r);
	assert_int_equal(parse(&r, NULL), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	http_reply_clear(&r);
	free(big);
	OPENSSL_free(der);
}

static const char *header(const http_reply_t *r, const char *name)
{
	int i;

	for (i = 0; i < r->n_headers; i++)
		if (strcmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

/* GET form: base64 (URL-encoded, padding optional) gives the same answer as POST. */
static void test_get(void **state)
{
	fixture_t *f = *state;
	unsigned char *der = NULL;
	char b64[1024], enc[3072], *q = enc;
	http_reply_t r = { 0 };
	OCSP_BASICRESP *bs = NULL;
	OCSP_CERTID *id = cert_id(f->issuing, f->serial[3], 16, EVP_sha1());
	int n = request_der(f, 3, EVP_sha1(), 0, NULL, &der), status = -1, reason = -1, i;

	EVP_EncodeBlock((unsigned char *)b64, der, n);
	for (i = 0; b64[i]; i++) {
		if (b64[i] == '+' || b64[i] == '/' || b64[i] == '=')
			q += sprintf(q, "%%%02X", (unsigned char)b64[i]);
		else
			*q++ = b64[i];
	}
	*q = '\0';
	ocsp_handle_get(f->o, enc, &r);
	assert_int_equal(parse(&r, &bs), OCSP_RESPONSE_STATUS_SUCCESSFUL);
	assert_int_equal(OCSP_resp_find_status(bs, id, &status, &reason, NULL, NULL, NULL), 1);
	assert_int_equal(status, V_OCSP_CERTSTATUS_REVOKED);
	assert_non_null(header(&r, "Cache-Control"));
	OCSP_BASICRESP_free(bs);
	http_reply_clear(&r);
	/* Unpadded and raw base64 work too. */
	for (i = (int)strlen(b64); i > 0 && b64[i - 1] == '='; i--)
		b64[i - 1] = '\0';
	ocsp_handle_get(f->o, b64, &r);
	assert_int_equal(parse(&r, NULL), OCSP_RESPONSE_STATUS_SUCCESSFUL);
	http_reply_clear(&r);
	OCSP_CERTID_free(id);
	OPENSSL_free(der);
}

static int revoke_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	(void)err;
	return db_cert_revoke(txn, arg, 16, time(NULL), 6);
}

/* The pre-signed cache: filled by a scan, served as identical bytes, never stale after a revocation. */
static void test_cache(void **state)
{
	fixture_t *f = *state;
	cairn_err_t err = { 0 };
	http_reply_t a = { 0 }, b = { 0 };
	uint64_t hits0, hits1, presigned;
	size_t n = 0;
	int reason = -1;

	assert_int_equal(ocsp_refresh_all(f->o, &n, &err), 0);
	assert_int_equal(n, 4); /* every unexpired certificate; the expired one is left out */
	assert_int_equal(ocsp_refresh_all(f->o, &n, &err), 0);
	assert_int_equal(n, 0); /* fresh: nothing to re-sign */
	ocsp_stats(f->o, &hits0, NULL, &presigned);
	assert_int_equal(presigned, 4);
	assert_int_equal(ask(f, 0, EVP_sha1(), 0, &reason, &a), V_OCSP_CERTSTATUS_GOOD);
	assert_int_equal(ask(f, 0, EVP_sha1(), 0, &reason, &b), V_OCSP_CERTSTATUS_GOOD);
	assert_int_equal(a.body_len, b.body_len);
	assert_memory_equal(a.body, b.body, a.body_len);
	ocsp_stats(f->o, &hits1, NULL, NULL);
	assert_int_equal(hits1, hits0 + 2);
	assert_non_null(header(&a, "ETag"));
	assert_non_null(header(&a, "Expires"));
	assert_non_null(header(&a, "Last-Modified"));
	assert_non_null(strstr(header(&a, "Cache-Control"), "max-age="));
	http_reply_clear(&a);
	http_reply_clear(&b);

	/* Revoked after caching: the cached "good" is never served. */
	assert_int_equal(db_write(f->db, revoke_run, f->serial[0], &err), 0);
	assert_int_equal(ask(f, 0, EVP_sha1(), 0, &reason, NULL), V_OCSP_CERTSTATUS_REVOKED);
	assert_int_equal(reason, 6);
	ocsp_stats(f->o, &hits0, NULL, NULL);
	assert_int_equal(hits0, hits1);
	/* The next scan re-signs it, and then it is a cache hit again. */
	assert_int_equal(ocsp_refresh_all(f->o, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ask(f, 0, EVP_sha1(), 0, &reason, NULL), V_OCSP_CERTSTATUS_REVOKED);
	ocsp_stats(f->o, &hits1, NULL, NULL);
	assert_int_equal(hits1, hits0 + 1);
	/* With a nonce it is always signed now. */
	assert_int_equal(ask(f, 0, EVP_sha1(), 1, &reason, NULL), V_OCSP_CERTSTATUS_REVOKED);
	ocsp_stats(f->o, &hits0, NULL, NULL);
	assert_int_equal(hits0, hits1);
}

/* 1 when the answer in r was signed by (and carries) signer. */
static int signed_by(const http_reply_t *r, X509 *signer)
{
	OCSP_BASICRESP *bs = NULL;
	X509 *who = NULL;
	int same;

	assert_int_equal(parse(r, &bs), OCSP_RESPONSE_STATUS_SUCCESSFUL);
	assert_int_equal(OCSP_resp_get0_signer(bs, &who, NULL), 1);
	same = X509_cmp(who, signer) == 0;
	OCSP_BASICRESP_free(bs);
	return same;
}

/* A new responder at run time: no answer of the old one is served after the switch, the
 * next scan re-signs the whole cache, and a responder the CA did not issue is refused. */
static void test_set_signer(void **state)
{
	fixture_t *f = *state;
	cairn_err_t err = { 0 };
	EVP_PKEY *key2 = EVP_EC_gen("P-256");
	X509 *signer2 = make_cert("OCSP 2", 0, f->issuing, f->iss_key, key2, 1);
	X509 *stranger = make_cert("OCSP 3", 0, f->root, f->root_key, key2, 1);
	http_reply_t r = { 0 };
	uint64_t hits0, hits1;
	size_t n = 0;
	int reason;

	assert_int_equal(ocsp_refresh_all(f->o, &n, &err), 0);
	assert_int_equal(ask(f, 0, EVP_sha1(), 0, &reason, &r), V_OCSP_CERTSTATUS_GOOD);
	assert_true(signed_by(&r, f->signer));
	http_reply_clear(&r);

	assert_int_equal(ocsp_set_signer(f->o, "issuing", stranger, key2, f->issuing, &err),
			 CAIRN_EINVAL);
	assert_int_equal(ocsp_set_signer(f->o, "issuing", signer2, f->ocsp_key, f->issuing, &err),
			 CAIRN_EINVAL);
	assert_int_equal(ocsp_set_signer(f->o, "nobody", signer2, key2, f->issuing, &err),
			 CAIRN_EINVAL);
	assert_int_equal(ocsp_set_signer(f->o, "issuing", signer2, key2, f->issuing, &err), 0);

	/* The cached answer of the old responder is not served: signed now, by the new one. */
	ocsp_stats(f->o, &hits0, NULL, NULL);
	assert_int_equal(ask(f, 0, EVP_sha1(), 0, &reason, &r), V_OCSP_CERTSTATUS_GOOD);
	assert_true(signed_by(&r, signer2));
	http_reply_clear(&r);
	ocsp_stats(f->o, &hits1, NULL, NULL);
	assert_int_equal(hits1, hits0);
	/* The scan re-signs everything for the new responder; then answers come from the cache. */
	assert_int_equal(ocsp_refresh_all(f->o, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_int_equal(ask(f, 1, EVP_sha1(), 0, &reason, &r), V_OCSP_CERTSTATUS_GOOD);
	assert_true(signed_by(&r, signer2));
	http_reply_clear(&r);
	ocsp_stats(f->o, &hits0, NULL, NULL);
	assert_int_equal(hits0, hits1 + 1);
	X509_free(stranger);
	X509_free(signer2);
	EVP_PKEY_free(key2);
}

/* 1 when DB_META has key (the refresher's records). */
static int meta_has(db_t *db, const char *key)
{
	db_txn_t *txn = NULL;
	int has;

	assert_int_equal(db_read_begin(db, &txn), 0);
	has = db_get(txn, DB_META, key, strlen(key), NULL, NULL) == 0;
	db_txn_end(txn);
	return has;
}

/* Polls (bounded: 10 s) until the refresher of o has recorded its first full scan
 * (meta: 1) or pre-signed at least n answers (meta: 0). */
static int refresher_did(fixture_t *f, int meta, uint64_t n)
{
	uint64_t p = 0;
	int i;

	for (i = 0; i < 1000; i++) {
		ocsp_stats(f->o, NULL, NULL, &p);
		if (meta ? meta_has(f->db, "ocsp_due") && meta_has(f->db, "ocsp_signers") : p >= n)
			return 1;
		usleep(10000);
	}
	return 0;
}

/* A responder replaced while no refresher ran (the delegated signer renewed at start-up):
 * the next refresher re-signs the whole cache for it at start, so the first question is
 * answered from the cache, by the new responder. */
static void test_signer_changed_while_stopped(void **state)
{
	fixture_t *f = *state;
	ocsp_config_t cfg = { 0 };
	cairn_err_t err = { 0 };
	EVP_PKEY *key2 = EVP_EC_gen("P-256");
	X509 *signer2 = make_cert("OCSP 2", 0, f->issuing, f->iss_key, key2, 1);
	http_reply_t r = { 0 };
	uint64_t hits0, hits1, live0, live1;
	int reason;

	assert_int_equal(ocsp_start(f->o, &err), 0);
	assert_true(refresher_did(f, 1, 0)); /* the first run's full scan, recorded */
	ocsp_free(f->o);
	f->o = NULL;
	cfg.db = f->db;
	cfg.issuers[0] = (ocsp_issuer_t){ "issuing", f->issuing, signer2, key2, f->issuing };
	cfg.issuers[1] = (ocsp_issuer_t){ "root", f->root, f->root, f->root_key, NULL };
	cfg.n_issuers = 2;
	cfg.validity = 3600;
	assert_int_equal(ocsp_open(&cfg, &f->o, &err), 0);
	assert_int_equal(ocsp_start(f->o, &err), 0);
	/* Nothing is due (half-life is 30 min away): only the new responder makes it sign. */
	assert_true(refresher_did(f, 0, 4));
	ocsp_stats(f->o, &hits0, &live0, NULL);
	assert_int_equal(ask(f, 0, EVP_sha1(), 0, &reason, &r), V_OCSP_CERTSTATUS_GOOD);
	assert_true(signed_by(&r, signer2));
	http_reply_clear(&r);
	ocsp_stats(f->o, &hits1, &live1, NULL);
	assert_int_equal(hits1, hits0 + 1);
	assert_int_equal(live1, live0);
	X509_free(signer2);
	EVP_PKEY_free(key2);
}

/* Several single requests in one: every status answered, in one signed response. */
static void test_multiple(void **state)
{
	fixture_t *f = *state;
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_BASICRESP *bs = NULL;
	unsigned char *der = NULL;
	http_reply_t r = { 0 };
	int i, n, status, reason;

	for (i = 0; i < 4; i++)
		OCSP_request_add0_id(req, cert_id(f->issuing, f->serial[i], 16, EVP_sha1()));
	n = i2d_OCSP_REQUEST(req, &der);
	ocsp_handle(f->o, der, (size_t)n, &r);
	assert_int_equal(parse(&r, &bs), OCSP_RESPONSE_STATUS_SUCCESSFUL);
	assert_int_equal(OCSP_basic_verify(bs, NULL, f->store, 0), 1);
	for (i = 0; i < 4; i++) {
		OCSP_CERTID *id = cert_id(f->issuing, f->serial[i], 16, EVP_sha1());
		assert_int_equal(OCSP_resp_find_status(bs, id, &status, &reason, NULL, NULL, NULL), 1);
		assert_int_equal(status, i == 3 ? V_OCSP_CERTSTATUS_REVOKED : V_OCSP_CERTSTATUS_GOOD);
		OCSP_CERTID_free(id);
	}
	OCSP_BASICRESP_free(bs);
	OCSP_REQUEST_free(req);
	OPENSSL_free(der);
	http_reply_clear(&r);
}

/* Asks o about serial idx of the issuing CA: the response status; *cert_status the
 * certificate's (verified to the root) when successful, *nonce_back OCSP_check_nonce. */
static int ask_o(fixture_t *f, ocsp_t *o, int idx, const EVP_MD *md, int nonce, int *cert_status,
		 int *nonce_back)
{
	OCSP_REQUEST *req = NULL;
	OCSP_BASICRESP *bs = NULL;
	OCSP_CERTID *id = cert_id(f->issuing, f->serial[idx], 16, md);
	unsigned char *der = NULL;
	http_reply_t r = { 0 };
	int n = request_der(f, idx, md, nonce, &req, &der), st, reason;

	ocsp_handle(o, der, (size_t)n, &r);
	st = parse(&r, &bs);
	if (st == OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		assert_int_equal(OCSP_basic_verify(bs, NULL, f->store, 0), 1);
		assert_int_equal(OCSP_resp_find_status(bs, id, cert_status, &reason, NULL, NULL, NULL), 1);
		if (nonce_back)
			*nonce_back = OCSP_check_nonce(req, bs);
	} else {
		assert_string_equal(header(&r, "Cache-Control"), "no-store");
	}
	OCSP_BASICRESP_free(bs);
	OCSP_REQUEST_free(req);
	OCSP_CERTID_free(id);
	OPENSSL_free(der);
	http_reply_clear(&r);
	return st;
}

/* A responder without a signer (presigned_only, `cairn serve --role responder`): the
 * daemon's stored answers only, tryLater (counted) for everything else, never a stale one. */
static void test_presigned_only(void **state)
{
	fixture_t *f = *state;
	ocsp_config_t cfg = { 0 };
	cairn_err_t err = { 0 };
	ocsp_t *p = NULL;
	OCSP_REQUEST *req;
	unsigned char *der = NULL;
	http_reply_t r = { 0 };
	size_t n = 0;
	int st = -1, nb = 0, len;

	cfg.db = f->db;
	cfg.issuers[0] = (ocsp_issuer_t){ "issuing", f->issuing, NULL, NULL, NULL };
	cfg.n_issuers = 1;
	cfg.validity = 3600;
	assert_int_equal(ocsp_open(&cfg, &p, &err), CAIRN_EINVAL); /* a signer is needed... */
	cfg.presigned_only = 1;
	assert_int_equal(ocsp_open(&cfg, &p, &err), 0);            /* ...unless presigned_only */

	/* Nothing stored yet: tryLater, counted. */
	assert_int_equal(ask_o(f, p, 0, EVP_sha1(), 0, &st, NULL), OCSP_RESPONSE_STATUS_TRYLATER);
	assert_int_equal(ocsp_try_later(p), 1);
	/* The daemon's scan stores the SHA-1 answers: served, verified. */
	assert_int_equal(ocsp_refresh_all(f->o, &n, &err), 0);
	assert_int_equal(ask_o(f, p, 0, EVP_sha1(), 0, &st, NULL), OCSP_RESPONSE_STATUS_SUCCESSFUL);
	assert_int_equal(st, V_OCSP_CERTSTATUS_GOOD);
	assert_int_equal(ask_o(f, p, 3, EVP_sha1(), 0, &st, NULL), OCSP_RESPONSE_STATUS_SUCCESSFUL);
	assert_int_equal(st, V_OCSP_CERTSTATUS_REVOKED);
	/* A nonce: the stored answer without one (RFC 8954 §2.1). */
	assert_int_equal(ask_o(f, p, 0, EVP_sha1(), 1, &st, &nb), OCSP_RESPONSE_STATUS_SUCCESSFUL);
	assert_int_equal(nb, -1);
	/* No SHA-256 answer stored by a scan; several CertIDs make an answer nobody stored. */
	assert_int_equal(ask_o(f, p, 0, EVP_sha256(), 0, &st, NULL), OCSP_RESPONSE_STATUS_TRYLATER);
	req = OCSP_REQUEST_new();
	OCSP_request_add0_id(req, cert_id(f->issuing, f->serial[0], 16, EVP_sha1()));
	OCSP_request_add0_id(req, cert_id(f->issuing, f->serial[1], 16, EVP_sha1()));
	len = i2d_OCSP_REQUEST(req, &der);
	ocsp_handle(p, der, (size_t)len, &r);
	assert_int_equal(parse(&r, NULL), OCSP_RESPONSE_STATUS_TRYLATER);
	http_reply_clear(&r);
	OPENSSL_free(der);
	der = NULL;
	OCSP_REQUEST_free(req);
	/* A CA it does not serve is still unauthorized, not tryLater. */
	req = OCSP_REQUEST_new();
	OCSP_request_add0_id(req, cert_id(f->root, f->serial[0], 16, EVP_sha1()));
	len = i2d_OCSP_REQUEST(req, &der);
	ocsp_handle(p, der, (size_t)len, &r);
	assert_int_equal(parse(&r, NULL), OCSP_RESPONSE_STATUS_UNAUTHORIZED);
	http_reply_clear(&r);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
	assert_int_equal(ocsp_try_later(p), 3);

	/* Revoked after the answer was stored: tryLater until the daemon re-signs, then revoked. */
	assert_int_equal(db_write(f->db, revoke_run, f->serial[0], &err), 0);
	assert_int_equal(ask_o(f, p, 0, EVP_sha1(), 0, &st, NULL), OCSP_RESPONSE_STATUS_TRYLATER);
	assert_int_equal(ocsp_refresh_all(f->o, &n, &err), 0);
	assert_int_equal(ask_o(f, p, 0, EVP_sha1(), 0, &st, NULL), OCSP_RESPONSE_STATUS_SUCCESSFUL);
	assert_int_equal(st, V_OCSP_CERTSTATUS_REVOKED);
	ocsp_free(p);
}

/* Mutated requests (bit flips, truncations, bytes inserted, as POST and GET): every
 * answer is a well-formed OCSP response, never a crash. Seeded: reproducible. */
static void test_mutations(void **state)
{
	fixture_t *f = *state;
	unsigned char *der = NULL, buf[600];
	char b64[1024];
	int n = request_der(f, 3, EVP_sha1(), 1, NULL, &der), i;
	unsigned seed = 12345;
	int seen[7] = { 0 };

	assert_true(n > 0 && n < 500);
	for (i = 0; i < 3000; i++) {
		http_reply_t r = { 0 };
		int len = n, k, flips = 1 + (int)(rand_r(&seed) % 4);

		memcpy(buf, der, (size_t)n);
		for (k = 0; k < flips; k++) {
			int pos = (int)(rand_r(&seed) % (unsigned)len);
			switch (rand_r(&seed) % 3) {
			case 0: buf[pos] ^= (unsigned char)(1u << (rand_r(&seed) % 8)); break;
			case 1: len = pos + 1; break;
			default:
				memmove(buf + pos + 1, buf + pos, (size_t)(len - pos));
				buf[pos] = (unsigned char)rand_r(&seed);
				len++;
			}
		}
		if (i % 2 == 0) {
			ocsp_handle(f->o, buf, (size_t)len, &r);
		} else {
			EVP_EncodeBlock((unsigned char *)b64, buf, len);
			ocsp_handle_get(f->o, b64, &r);
		}
		assert_int_equal(r.status, 200);
		{
			const unsigned char *p = (const unsigned char *)r.body;
			OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)r.body_len);
			assert_non_null(resp);
			seen[OCSP_response_status(resp) % 7]++;
			OCSP_RESPONSE_free(resp);
		}
		http_reply_clear(&r);
	}
	/* Both paths were taken: refused as malformed, and parsed and answered. */
	print_message("# mutations: %d successful, %d malformed, %d unauthorized\n",
		      seen[OCSP_RESPONSE_STATUS_SUCCESSFUL],
		      seen[OCSP_RESPONSE_STATUS_MALFORMEDREQUEST],
		      seen[OCSP_RESPONSE_STATUS_UNAUTHORIZED]);
	assert_true(seen[OCSP_RESPONSE_STATUS_SUCCESSFUL] > 0);
	assert_true(seen[OCSP_RESPONSE_STATUS_MALFORMEDREQUEST] > 0);
	OPENSSL_free(der);
}

/* The cache codec: what ocsp_cache_encode writes, the readers give back, and a value
 * matches only the state, responder and time it was made for. */
/* The stored answer for serial i (SHA-1 key), copied: *len bytes, or NULL. */
static uint8_t *stored(fixture_t *f, int i, size_t *len)
{
	uint8_t key[17], *copy = NULL;
	const void *v;
	db_txn_t *txn;

	memcpy(key, f->serial[i], 16);
	key[16] = OCSP_ALG_SHA1;
	assert_int_equal(db_read_begin(f->db, &txn), 0);
	if (db_get(txn, DB_OCSP, key, sizeof(key), &v, len) == 0) {
		copy = malloc(*len);
		assert_non_null(copy);
		memcpy(copy, v, *len);
	}
	db_txn_end(txn);
	return copy;
}

/* Stores value (len bytes) for serial i with flags, as the refresher does. */
static void store_as(fixture_t *f, int i, const uint8_t *value, size_t len, int flags)
{
	ocsp_entry_t e = { .klen = 17, .vlen = len };
	cairn_err_t err = { 0 };

	memcpy(e.key, f->serial[i], 16);
	e.key[16] = OCSP_ALG_SHA1;
	e.val = malloc(len);
	assert_non_null(e.val);
	memcpy(e.val, value, len);
	assert_int_equal(ocsp_store(f->o, &e, 1, flags, &err), 0);
}

/* A live answer (signed on a miss, stored later) never replaces a stored answer that still
 * fits: the bytes a client was served do not change under it (ocsp.sh saw them change
 * across a restart when the live answer's store committed after the pre-signed one). It
 * does replace one that no longer fits (another status), and a refresher store always
 * replaces. */
static void test_live_store(void **state)
{
	fixture_t *f = *state;
	cairn_err_t err = { 0 };
	uint8_t *a, *live, *now;
	size_t n = 0, alen, nlen;

	assert_int_equal(ocsp_refresh_all(f->o, &n, &err), 0);
	assert_non_null(a = stored(f, 0, &alen));
	assert_true(alen > OCSP_CACHE_HDR + 8);
	live = malloc(alen);
	assert_non_null(live);
	memcpy(live, a, alen);
	live[alen - 1] ^= 0x01; /* another signature of the same status */
	store_as(f, 0, live, alen, OCSP_STORE_LIVE);
	assert_non_null(now = stored(f, 0, &nlen));
	assert_int_equal(nlen, alen);
	assert_memory_equal(now, a, alen); /* kept */
	free(now);
	live[OCSP_CACHE_OFF_STATUS] = (uint8_t)DB_CERT_REVOKED; /* no longer fits */
	store_as(f, 0, live, alen, OCSP_STORE_LIVE);
	assert_non_null(now = stored(f, 0, &nlen));
	assert_memory_equal(now, live, alen);
	free(now);
	store_as(f, 0, a, alen, 0); /* the refresher's store replaces */
	assert_non_null(now = stored(f, 0, &nlen));
	assert_memory_equal(now, a, alen);
	free(now);
	free(live);
	free(a);
}

static int unhold_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	(void)err;
	return db_cert_unhold(txn, arg, 16, time(NULL));
}

/* ocsp_indexed_state against the record (ocsp_read_state) for every state a certificate
 * can be in; st_of the serial i, v a cached answer. Returns ocsp_indexed_state's result. */
static int indexed_agrees(fixture_t *f, size_t iss, int i, const uint8_t *v, size_t vlen)
{
	ocsp_state_t rec, idx;
	db_txn_t *txn;
	int rc;

	assert_int_equal(db_read_begin(f->db, &txn), 0);
	ocsp_read_state(txn, &f->o->iss[iss], f->serial[i], 16, &rec);
	memset(&idx, 0xa5, sizeof(idx));
	rc = ocsp_indexed_state(f->o, iss, txn, f->serial[i], 16, v, vlen, &idx);
	db_txn_end(txn);
	if (rc == 0) {
		assert_int_equal(idx.known, rec.known);
		assert_int_equal(idx.exists, rec.exists);
		assert_int_equal(idx.status, rec.status);
		assert_int_equal(idx.reason, rec.reason);
		assert_int_equal(idx.revoked_at, rec.revoked_at);
		assert_int_equal(idx.serial_len, 16);
		assert_memory_equal(idx.serial, f->serial[i], 16);
	}
	return rc;
}

/* A cache hit reads the certificate's status from the revoked index, not its record: the
 * two agree in every state (valid, revoked, held, released, expired), the index is used
 * only for answers it can vouch for, and a cached answer that no longer fits is never
 * served — one stored before a revocation, one stored after it (a late live store), one
 * of a hold since released. */
static void test_indexed_state(void **state)
{
	fixture_t *f = *state;
	cairn_err_t err = { 0 };
	uint8_t *good, *held, *other;
	size_t n = 0, glen, hlen;
	uint64_t hits0, hits1;
	int i, reason = -1;

	assert_int_equal(ocsp_refresh_all(f->o, &n, &err), 0);
	assert_non_null(good = stored(f, 0, &glen));
	assert_int_equal(good[OCSP_CACHE_OFF_STATUS], DB_CERT_VALID);
	/* serial[1] held, its answer re-signed as held, then released. */
	assert_int_equal(db_write(f->db, revoke_run, f->serial[1], &err), 0);
	assert_int_equal(ocsp_refresh_all(f->o, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_non_null(held = stored(f, 1, &hlen));
	assert_int_equal(held[OCSP_CACHE_OFF_STATUS], DB_CERT_REVOKED);
	assert_int_equal(held[OCSP_CACHE_OFF_REASON], 6);
	assert_int_equal(db_write(f->db, unhold_run, f->serial[1], &err), 0);

	/* The same state either way: 0 valid, 1 released, 2 valid, 3 keyCompromise, 4 expired
	 * (no answer of its own: any of the issuer's answers stands for the question). */
	for (i = 0; i < N_CERTS; i++) {
		assert_int_equal(indexed_agrees(f, 0, i, good, glen), 0);
		assert_int_equal(indexed_agrees(f, 0, i, held, hlen), 0);
	}

	/* Declined: an `unknown` answer, another responder's tag, another issuer, a
	 * responder-only process (any tag taken), two issuers sharing a tag. */
	other = malloc(glen);
	assert_non_null(other);
	memcpy(other, good, glen);
	other[OCSP_CACHE_OFF_STATUS] = OCSP_CACHE_UNKNOWN;
	assert_int_equal(indexed_agrees(f, 0, 0, other, glen), -1);
	memcpy(other, good, glen);
	other[OCSP_CACHE_OFF_SIGNER] ^= 0x01;
	assert_int_equal(indexed_agrees(f, 0, 0, other, glen), -1);
	assert_int_equal(indexed_agrees(f, 1, 0, good, glen), -1);
	assert_int_equal(indexed_agrees(f, 0, 0, good, OCSP_CACHE_HDR), -1);
	f->o->iss[0].any_signer = 1;
	assert_int_equal(indexed_agrees(f, 0, 0, good, glen), -1);
	f->o->iss[0].any_signer = 0;
	{
		uint32_t mine = atomic_load(&f->o->iss[0].signer_tag);
		uint32_t theirs = atomic_load(&f->o->iss[1].signer_tag);

		atomic_store(&f->o->iss[1].signer_tag, mine);
		assert_int_equal(indexed_agrees(f, 0, 0, good, glen), -1);
		atomic_store(&f->o->iss[1].signer_tag, theirs);
	}
	assert_int_equal(indexed_agrees(f, 0, 0, good, glen), 0);

	/* Served from the cache: a good answer that fits. */
	ocsp_stats(f->o, &hits0, NULL, NULL);
	assert_int_equal(ask(f, 0, EVP_sha1(), 0, &reason, NULL), V_OCSP_CERTSTATUS_GOOD);
	ocsp_stats(f->o, &hits1, NULL, NULL);
	assert_int_equal(hits1, hits0 + 1);
	/* Never served: the held answer of a released certificate... */
	assert_int_equal(ask(f, 1, EVP_sha1(), 0, &reason, NULL), V_OCSP_CERTSTATUS_GOOD);
	/* ...nor a good answer stored after the revocation committed (a live answer signed
	 * just before it, stored just after: OCSP_STORE_LIVE replaces what no longer fits). */
	assert_int_equal(db_write(f->db, revoke_run, f->serial[2], &err), 0);
	memcpy(other, good, glen);
	store_as(f, 2, other, glen, 0); /* serial[0]'s bytes: the status byte is what counts */
	assert_int_equal(ask(f, 2, EVP_sha1(), 0, &reason, NULL), V_OCSP_CERTSTATUS_REVOKED);
	assert_int_equal(reason, 6);
	ocsp_stats(f->o, &hits0, NULL, NULL);
	assert_int_equal(hits0, hits1);
	free(other);
	free(held);
	free(good);
}

/* The latest stored thisUpdate (OCSP_LATEST_META), 0 when none. */
static int64_t latest(fixture_t *f)
{
	const void *v;
	size_t vlen;
	db_txn_t *txn;
	int64_t t = 0;

	assert_int_equal(db_read_begin(f->db, &txn), 0);
	if (db_get(txn, DB_META, OCSP_LATEST_META, strlen(OCSP_LATEST_META), &v, &vlen) == 0 &&
	    vlen == 8)
		t = (int64_t)db_be64_get(v);
	db_txn_end(txn);
	return t;
}

/* An answer from the future (stored before the clock went back) is what a live answer
 * replaces although it says the same, and the cache keeps the latest thisUpdate it holds,
 * never moving it back, so the refresher can see that the clock went back behind it. */
static void test_future_store(void **state)
{
	fixture_t *f = *state;
	cairn_err_t err = { 0 };
	uint8_t *a, *ahead, *now;
	size_t n = 0, alen, nlen;
	int64_t tu;

	assert_int_equal(ocsp_refresh_all(f->o, &n, &err), 0);
	assert_non_null(a = stored(f, 0, &alen));
	tu = (int64_t)ocsp_cache_this_update(a);
	assert_true(latest(f) >= tu);
	ahead = malloc(alen);
	assert_non_null(ahead);
	memcpy(ahead, a, alen);
	db_be64_put(ahead + OCSP_CACHE_OFF_THIS_UPDATE, (uint64_t)(tu + 86400));
	store_as(f, 0, ahead, alen, 0);
	assert_int_equal(latest(f), tu + 86400);
	store_as(f, 0, a, alen, OCSP_STORE_LIVE); /* same status, but the stored one is ahead */
	assert_non_null(now = stored(f, 0, &nlen));
	assert_memory_equal(now, a, alen);
	free(now);
	assert_int_equal(latest(f), tu + 86400); /* never moved back by a store */
	free(ahead);
	free(a);
}

static void test_cache_codec(void **state)
{
	static const uint8_t der[] = { 0x30, 0x03, 0x0a, 0x01, 0x00 };
	static const uint8_t tag[4] = { 1, 2, 3, 4 }, other[4] = { 4, 3, 2, 1 };
	ocsp_state_t st = { .serial = { 0x0a }, .serial_len = 1, .known = 1,
			    .status = DB_CERT_REVOKED, .reason = 1, .revoked_at = 1700000000 };
	struct ocsp_iss is;
	ocsp_entry_t e = { 0 };
	const uint8_t *d;
	uint32_t t;
	size_t n = 0;
	(void)state;

	memset(&is, 0, sizeof(is));
	memcpy(&t, tag, 4);
	atomic_store(&is.signer_tag, t);
	assert_int_equal(ocsp_cache_encode(&st, 1800000000, 1800003600, tag, der, sizeof(der), &e),
			 0);
	assert_int_equal(e.vlen, OCSP_CACHE_HDR + sizeof(der));
	assert_int_equal(ocsp_cache_this_update(e.val), 1800000000);
	assert_int_equal(ocsp_cache_next_update(e.val), 1800003600);
	d = ocsp_cache_der(e.val, e.vlen, &n);
	assert_int_equal(n, sizeof(der));
	assert_memory_equal(d, der, sizeof(der));
	assert_false(ocsp_cache_is_unknown(e.val, e.vlen));
	assert_true(ocsp_cache_matches(&is, &st, e.val, e.vlen, 1800000001));
	assert_false(ocsp_cache_matches(&is, &st, e.val, e.vlen, 1800003600)); /* expired */
	/* from the future (the clock went back since it was signed): not served, up to the
	 * slack that certificates are backdated by */
	assert_true(ocsp_cache_matches(&is, &st, e.val, e.vlen, 1800000000 - TIME_AHEAD_SLACK));
	assert_false(ocsp_cache_matches(&is, &st, e.val, e.vlen,
					1800000000 - TIME_AHEAD_SLACK - 1));
	assert_false(ocsp_cache_matches(&is, &st, e.val, e.vlen, 1800000000 - 86400));
	assert_false(ocsp_cache_matches(&is, &st, e.val, OCSP_CACHE_HDR, 1800000001));
	st.reason = 4;
	assert_false(ocsp_cache_matches(&is, &st, e.val, e.vlen, 1800000001));
	st.reason = 1;
	memcpy(&t, other, 4);
	atomic_store(&is.signer_tag, t);
	assert_false(ocsp_cache_matches(&is, &st, e.val, e.vlen, 1800000001));
	free(e.val);
	st.known = 0;
	assert_int_equal(ocsp_cache_encode(&st, 1, 2, tag, der, sizeof(der), &e), 0);
	assert_true(ocsp_cache_is_unknown(e.val, e.vlen));
	free(e.val);
	assert_null(ocsp_cache_der(der, sizeof(der), &n));
}

/* The published names of a serial: checks get/hash against the request DER, whose
 * CertID must be the SHA-1 one for the issuer and serial, with nothing else. */
static void check_names(fixture_t *f, const uint8_t *serial, size_t len, char *b64)
{
	char get[OCSP_PUB_PATH_MAX], hash[OCSP_PUB_PATH_MAX], want[OCSP_PUB_PATH_MAX], hex[65];
	uint8_t *der = NULL, md[32];
	const unsigned char *p;
	OCSP_REQUEST *req;
	OCSP_CERTID *id = cert_id(f->issuing, serial, len, EVP_sha1());
	size_t dlen = 0, i, o;

	assert_int_equal(ocsp_pub_names(f->issuing, serial, len, get, hash, &der, &dlen), 0);
	p = der;
	assert_non_null(req = d2i_OCSP_REQUEST(NULL, &p, (long)dlen));
	assert_true(p == der + dlen);
	assert_int_equal(OCSP_request_onereq_count(req), 1);
	assert_int_equal(OCSP_REQUEST_get_ext_count(req), 0);
	assert_int_equal(OCSP_id_cmp(id, OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, 0))), 0);
	EVP_EncodeBlock((unsigned char *)b64, der, (int)dlen);
	o = (size_t)sprintf(want, "ocsp/");
	for (i = 0; b64[i]; i++)
		if (b64[i] != '/' || want[o - 1] != '/')
			want[o++] = b64[i];
	strcpy(want + o, want[o - 1] == '/' ? OCSP_PUB_INDEX : "");
	assert_string_equal(get, want);
	EVP_Digest(der, dlen, md, NULL, EVP_sha256(), NULL);
	hex_encode(md, 32, hex);
	sprintf(want, "ocsp/sha256/%.2s/%s", hex, hex);
	assert_string_equal(hash, want);
	OCSP_REQUEST_free(req);
	OCSP_CERTID_free(id);
	free(der);
}

/* Published names: the base64 GET path with '/' as directories, "//" as one, a trailing
 * '/' as the directory's index file; a bad serial refused. */
static void test_pub_names(void **state)
{
	fixture_t *f = *state;
	char b64[OCSP_PUB_PATH_MAX], get[OCSP_PUB_PATH_MAX], hash[OCSP_PUB_PATH_MAX];
	uint8_t serial[DB_SERIAL_MAX];
	int tries, trailing = 0, doubled = 0;

	check_names(f, f->serial[0], 16, b64);
	assert_int_equal(b64[0], 'M');
	/* 14-byte serials make 81-byte requests: base64 without padding, so it may end in '/'. */
	for (tries = 0; tries < 200000 && !(trailing && doubled); tries++) {
		size_t n;
		assert_int_equal(util_random(serial, 14), 0);
		serial[0] = (uint8_t)((serial[0] | 1) & 0x7f);
		check_names(f, serial, 14, b64);
		n = strlen(b64);
		trailing |= b64[n - 1] == '/';
		doubled |= strstr(b64, "//") != NULL;
	}
	assert_true(trailing && doubled);
	assert_int_equal(ocsp_pub_names(f->issuing, serial, 0, get, hash, NULL, NULL), CAIRN_EINVAL);
	assert_int_equal(ocsp_pub_names(f->issuing, serial, DB_SERIAL_MAX + 1, get, hash, NULL, NULL),
			 CAIRN_EINVAL);
}

/* ---- the RFC 5019 request read without the decoder (ocsp_req_quick) ---- */

/* Appends the DER element tag(contents) to out at *at; long: the length in two bytes even
 * when one would do (not DER). */
static void put_tlv(uint8_t *out, size_t *at, uint8_t tag, const uint8_t *c, size_t n, int long_len)
{
	out[(*at)++] = tag;
	if (long_len || n >= 0x100) {
		out[(*at)++] = 0x82;
		out[(*at)++] = (uint8_t)(n >> 8);
		out[(*at)++] = (uint8_t)n;
	} else if (n >= 0x80) {
		out[(*at)++] = 0x81;
		out[(*at)++] = (uint8_t)n;
	} else {
		out[(*at)++] = (uint8_t)n;
	}
	memmove(out + *at, c, n);
	*at += n;
}

/* What a hand-made request holds; every field but the hashes has a DER default. */
typedef struct req_spec {
	const uint8_t *oid;
	size_t oid_len;
	const uint8_t *params; /* the DER after the OID in the AlgorithmIdentifier */
	size_t params_len;
	uint8_t name_hash[32], key_hash[32];
	size_t hash_len;
	const uint8_t *serial; /* the INTEGER's contents */
	size_t serial_len;
	int version, requestor, two, single_ext, request_ext, signature, trailing, long_len;
} req_spec_t;

static const uint8_t oid_sha1[] = { 0x2b, 0x0e, 0x03, 0x02, 0x1a };
static const uint8_t oid_sha256[] = { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01 };
static const uint8_t der_null[] = { 0x05, 0x00 };

/* The spec of a SHA-1 request for serial (len bytes) of issuer x, with NULL parameters. */
static void spec_for(req_spec_t *r, X509 *x, const uint8_t *serial, size_t len)
{
	OCSP_CERTID *id = cert_id(x, (const uint8_t *)"\x01", 1, EVP_sha1());
	ASN1_OCTET_STRING *nh = NULL, *kh = NULL;

	memset(r, 0, sizeof(*r));
	OCSP_id_get0_info(&nh, NULL, &kh, NULL, id);
	r->hash_len = (size_t)ASN1_STRING_length(nh);
	memcpy(r->name_hash, ASN1_STRING_get0_data(nh), r->hash_len);
	memcpy(r->key_hash, ASN1_STRING_get0_data(kh), r->hash_len);
	OCSP_CERTID_free(id);
	r->oid = oid_sha1;
	r->oid_len = sizeof(oid_sha1);
	r->params = der_null;
	r->params_len = sizeof(der_null);
	r->serial = serial;
	r->serial_len = len;
}

static size_t build_request(const req_spec_t *r, uint8_t *out)
{
	static const uint8_t v1[] = { 0x02, 0x01, 0x00 };
	static const uint8_t ext[] = { /* Extensions { { id-pkix-ocsp 99, OCTET STRING {} } } */
		0x30, 0x0e, 0x30, 0x0c, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05,
		0x05, 0x07, 0x30, 0x63, 0x04, 0x00 };
	uint8_t a[64], cid[200], one[300], list[700], tbs[900], sig[64], body[1200];
	size_t na = 0, nc = 0, no = 0, nl = 0, nt = 0, nb = 0, ns = 0, k = 0;

	put_tlv(a, &na, 0x06, r->oid, r->oid_len, 0);
	memcpy(a + na, r->params, r->params_len);
	na += r->params_len;
	put_tlv(cid, &nc, 0x30, a, na, 0);
	put_tlv(cid, &nc, 0x04, r->name_hash, r->hash_len, 0);
	put_tlv(cid, &nc, 0x04, r->key_hash, r->hash_len, 0);
	put_tlv(cid, &nc, 0x02, r->serial, r->serial_len, 0);
	put_tlv(one, &no, 0x30, cid, nc, r->long_len);
	if (r->single_ext)
		put_tlv(one, &no, 0xa0, ext, sizeof(ext), 0);
	put_tlv(list, &nl, 0x30, one, no, 0);
	if (r->two)
		put_tlv(list, &nl, 0x30, one, no, 0);
	if (r->version)
		put_tlv(tbs, &nt, 0xa0, v1, sizeof(v1), 0);
	if (r->requestor) { /* [1] GeneralName: dNSName "a" */
		static const uint8_t gn[] = { 0x82, 0x01, 'a' };
		put_tlv(tbs, &nt, 0xa1, gn, sizeof(gn), 0);
	}
	put_tlv(tbs, &nt, 0x30, list, nl, 0);
	if (r->request_ext)
		put_tlv(tbs, &nt, 0xa2, ext, sizeof(ext), 0);
	put_tlv(body, &nb, 0x30, tbs, nt, 0);
	if (r->signature) { /* [0] Signature { AlgorithmIdentifier, BIT STRING } */
		static const uint8_t s[] = { 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
					     0x3d, 0x04, 0x03, 0x02, 0x03, 0x01, 0x00 };
		memcpy(sig, s, sizeof(s));
		ns = sizeof(s);
		put_tlv(body, &nb, 0xa0, sig, ns, 0);
	}
	put_tlv(out, &k, 0x30, body, nb, 0);
	if (r->trailing)
		out[k++] = 0x00;
	return k;
}

/* What both readings say of der: quick's verdict, and when it takes it, the decoder
 * reads the very same CertID. */
static int quick_agrees(fixture_t *f, const uint8_t *der, size_t len, ocsp_one_t *got)
{
	ocsp_one_t q, d;
	int quick = ocsp_req_quick(f->o, der, len, &q);

	if (quick) {
		assert_int_equal(ocsp_req_decoded(f->o, der, len, &d), 1);
		assert_int_equal(q.iss, d.iss);
		assert_int_equal(q.alg, d.alg);
		assert_int_equal(q.serial_len, d.serial_len);
		assert_memory_equal(q.serial, d.serial, q.serial_len);
		if (got)
			*got = q;
	}
	return quick;
}

/* The quick reading takes RFC 5019's request and nothing else, and reads it as the
 * decoder does; the answer it leads to is the one tested everywhere above. */
static void test_quick_request(void **state)
{
	fixture_t *f = *state;
	static const uint8_t padded[] = { 0x00, 0x10, 0x01 }, signed_[] = { 0x90, 0x01 },
			     sign_byte[] = { 0x00, 0x90, 0x01 }, zero[] = { 0x00 }, empty[] = { 0 },
			     other_params[] = { 0x04, 0x00 }, bad_null[] = { 0x05, 0x01, 0x00 };
	uint8_t der[1400], big[DB_SERIAL_MAX + 1];
	unsigned char *made = NULL;
	req_spec_t r;
	ocsp_one_t one;
	size_t n;
	int len;

	/* OpenSSL's own requests: SHA-1 and SHA-256, the issuing CA and the root. */
	len = request_der(f, 2, EVP_sha1(), 0, NULL, &made);
	assert_int_equal(quick_agrees(f, made, (size_t)len, &one), 1);
	assert_int_equal(one.iss, 0);
	assert_int_equal(one.alg, OCSP_ALG_SHA1);
	assert_int_equal(one.serial_len, 16);
	assert_memory_equal(one.serial, f->serial[2], 16);
	OPENSSL_free(made);
	made = NULL;
	len = request_der(f, 4, EVP_sha256(), 0, NULL, &made);
	assert_int_equal(quick_agrees(f, made, (size_t)len, &one), 1);
	assert_int_equal(one.alg, OCSP_ALG_SHA256);
	OPENSSL_free(made);
	made = NULL;
	len = request_der(f, 4, EVP_sha1(), 1, NULL, &made); /* a nonce: the decoder's */
	assert_int_equal(ocsp_req_quick(f->o, made, (size_t)len, &one), 0);
	OPENSSL_free(made);

	spec_for(&r, f->root, f->serial[0], 16);
	assert_int_equal(quick_agrees(f, der, build_request(&r, der), &one), 1);
	assert_int_equal(one.iss, 1);
	/* Hand-made: taken as the decoder takes them. */
	spec_for(&r, f->issuing, f->serial[1], 16);
	assert_int_equal(quick_agrees(f, der, build_request(&r, der), &one), 1);
	r.params_len = 0; /* no parameters at all */
	assert_int_equal(quick_agrees(f, der, build_request(&r, der), &one), 1);
	spec_for(&r, f->issuing, sign_byte, sizeof(sign_byte));
	assert_int_equal(quick_agrees(f, der, build_request(&r, der), &one), 1);
	assert_int_equal(one.serial_len, 2);
	assert_int_equal(one.serial[0], 0x90);
	memset(big, 0x42, sizeof(big)); /* DB_SERIAL_MAX bytes: the most a serial may be */
	spec_for(&r, f->issuing, big, DB_SERIAL_MAX);
	assert_int_equal(quick_agrees(f, der, build_request(&r, der), &one), 1);

	/* Left to the decoder: anything but the one CertID in DER, and serials or issuers
	 * that cannot be ours. */
#define DECLINED(field, value)                                                               \
	do {                                                                                 \
		spec_for(&r, f->issuing, f->serial[1], 16);                                  \
		r.field = value;                                                             \
		n = build_request(&r, der);                                                  \
		assert_int_equal(ocsp_req_quick(f->o, der, n, &one), 0);                     \
	} while (0)
	DECLINED(version, 1);
	DECLINED(requestor, 1);
	DECLINED(two, 1);
	DECLINED(single_ext, 1);
	DECLINED(request_ext, 1);
	DECLINED(signature, 1);
	DECLINED(trailing, 1);
	DECLINED(long_len, 1);
	spec_for(&r, f->issuing, f->serial[1], 16);
	r.params = other_params; /* the decoder ignores parameters; this reading takes NULL only */
	r.params_len = sizeof(other_params);
	assert_int_equal(ocsp_req_quick(f->o, der, build_request(&r, der), &one), 0);
	assert_int_equal(ocsp_req_decoded(f->o, der, build_request(&r, der), &one), 1);
	r.params = bad_null;
	r.params_len = sizeof(bad_null);
	assert_int_equal(ocsp_req_quick(f->o, der, build_request(&r, der), &one), 0);
	DECLINED(oid, oid_sha256); /* SHA-256's OID beside SHA-1 hashes: nobody's CertID */
	DECLINED(key_hash[0], (uint8_t)(r.key_hash[0] ^ 1));
	DECLINED(name_hash[19], (uint8_t)(r.name_hash[19] ^ 0x80));
	spec_for(&r, f->issuing, padded, sizeof(padded));
	assert_int_equal(ocsp_req_quick(f->o, der, build_request(&r, der), &one), 0);
	/* the decoder refuses a padded INTEGER outright */
	assert_int_equal(ocsp_req_decoded(f->o, der, build_request(&r, der), &one), 0);
	spec_for(&r, f->issuing, signed_, sizeof(signed_)); /* negative */
	assert_int_equal(ocsp_req_quick(f->o, der, build_request(&r, der), &one), 0);
	assert_int_equal(ocsp_req_decoded(f->o, der, build_request(&r, der), &one), 0);
	spec_for(&r, f->issuing, zero, sizeof(zero));
	assert_int_equal(ocsp_req_quick(f->o, der, build_request(&r, der), &one), 0);
	assert_int_equal(ocsp_req_decoded(f->o, der, build_request(&r, der), &one), 0);
	spec_for(&r, f->issuing, empty, 0);
	assert_int_equal(ocsp_req_quick(f->o, der, build_request(&r, der), &one), 0);
	spec_for(&r, f->issuing, big, sizeof(big));
	assert_int_equal(ocsp_req_quick(f->o, der, build_request(&r, der), &one), 0);
	assert_int_equal(ocsp_req_decoded(f->o, der, build_request(&r, der), &one), 0);
	spec_for(&r, f->issuing, f->serial[1], 16);
	n = build_request(&r, der);
	assert_int_equal(ocsp_req_quick(f->o, der, n - 1, &one), 0); /* cut short */
	assert_int_equal(ocsp_req_quick(f->o, der, 0, &one), 0);
#undef DECLINED
}

/* Random damage to real requests: whatever the quick reading takes, the decoder reads
 * the same way (and some of it is taken: serials and lengths can change and stay valid). */
static void test_quick_mutations(void **state)
{
	fixture_t *f = *state;
	unsigned char *made[2] = { NULL, NULL };
	int lens[2], i, taken = 0, declined = 0;
	unsigned seed = 4242;
	uint8_t buf[600];

	lens[0] = request_der(f, 1, EVP_sha1(), 0, NULL, &made[0]);
	lens[1] = request_der(f, 3, EVP_sha256(), 0, NULL, &made[1]);
	for (i = 0; i < 20000; i++) {
		int which = i & 1, len = lens[which], k, flips = 1 + (int)(rand_r(&seed) % 3);

		memcpy(buf, made[which], (size_t)len);
		for (k = 0; k < flips; k++) {
			int pos = (int)(rand_r(&seed) % (unsigned)len);
			switch (rand_r(&seed) % 4) {
			case 0: buf[pos] ^= (unsigned char)(1u << (rand_r(&seed) % 8)); break;
			case 1: buf[pos] = (unsigned char)rand_r(&seed); break;
			case 2: len = pos + 1; break;
			default:
				if (len + 1 >= (int)sizeof(buf))
					break;
				memmove(buf + pos + 1, buf + pos, (size_t)(len - pos));
				buf[pos] = (unsigned char)rand_r(&seed);
				len++;
			}
		}
		if (quick_agrees(f, buf, (size_t)len, NULL))
			taken++;
		else
			declined++;
	}
	print_message("# quick reading: %d of 20000 damaged requests taken (the decoder agreed), %d left to it\n",
		      taken, declined);
	assert_true(taken > 100 && declined > 100);
	OPENSSL_free(made[0]);
	OPENSSL_free(made[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_codec),
		cmocka_unit_test_setup_teardown(test_statuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_and_unauthorized, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indexed_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_future_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_signer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signer_changed_while_stopped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multiple, setup, teardown),
		cmocka_unit_test_setup_teardown(test_presigned_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mutations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pub_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quick_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quick_mutations, setup, teardown),
	};

	setenv("CAIRN_DB_MAPSIZE", "16M", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
