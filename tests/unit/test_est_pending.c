/* SPDX-License-Identifier: MIT */
/* est_handle over a real token, CA, database and policy engine: held enrollments answer 202 until approved, then the certificate; rejected ones 403. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "config.h"
#include "est/est_int.h"
#include "tests/unit/ca_fixture.h"

#define TOKEN_LABEL "cairn-est-test"
#define AUTH "Basic ZGV2MTpkZXZpY2UgcGFzc3dvcmQ=" /* dev1:device password */

static const char policy_text[] =
	"{\"rules\": ["
	" {\"name\": \"held\", \"match\": {\"channel\": \"est\", \"group\": \"devices\","
	"  \"subject_cn_prefix\": \"held-\"}, \"action\": \"approve\", \"approvals\": 1},"
	" {\"name\": \"default\", \"match\": {}, \"action\": \"issue\"}"
	"]}";

typedef struct fixture {
	char dir[64];
	hsm_t *hsm;
	db_t *db;
	ca_t *ca;
	policy_engine_t *engine;
	est_t *est;
	EVP_PKEY *key;
} fixture_t;

static int fixture_setup(void **state)
{
	fixture_t *f = calloc(1, sizeof(*f));
	char policy_path[256];
	est_settings_t set;
	json_t *est_cfg;
	cairn_err_t err = { 0 };

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/cairn-test-est-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	fixture_ca_make(f->dir, TOKEN_LABEL, "EST", &f->hsm, &f->db, &f->ca);
	snprintf(policy_path, sizeof(policy_path), "%s/policy.json", f->dir);
	assert_int_equal(fs_write_atomic(policy_path, policy_text, strlen(policy_text), 0600), 0);
	if (policy_engine_new(f->ca, f->db, policy_path, 3600, &f->engine, &err) != 0)
		fail_msg("policy_engine_new: %s", cairn_err_msg(&err));
	est_cfg = json_loads("{\"default_label\": \"iot\", \"labels\": {\"iot\": {\"profile\":"
			     " \"tls-client\", \"policy_group\": \"devices\"},"
			     " \"other\": {\"profile\": \"tls-client\"}}}",
			     0, NULL);
	if (est_settings_parse(est_cfg, &set, &err) != 0 ||
	    est_new(&set, f->ca, f->db, f->engine, &f->est, &err) != 0 ||
	    est_user_add(f->db, "dev1", "device password", NULL, 0, NULL, "test", &err) != 0)
		fail_msg("est: %s", cairn_err_msg(&err));
	json_decref(est_cfg);
	f->key = EVP_EC_gen("P-256");
	*state = f;
	return 0;
}

static int fixture_teardown(void **state)
{
	fixture_t *f = *state;

	est_free(f->est);
	policy_engine_free(f->engine);
	ca_free(f->ca);
	db_close(f->db);
	hsm_close(f->hsm);
	EVP_PKEY_free(f->key);
	fixture_rmtree(f->dir);
	free(f);
	return 0;
}

/* POSTs the DER CSR der to path, as dev1 (peer NULL) or with peer as the verified TLS
 * client certificate; the reply is filled. */
static void post(fixture_t *f, const char *path, X509 *peer, const uint8_t *der, size_t len,
		 http_reply_t *reply)
{
	size_t blen = 0;
	unsigned char *pder = NULL;
	int plen = peer != NULL ? i2d_X509(peer, &pder) : 0;
	char *b64 = NULL;
	est_request_t req = { 0 };

	assert_int_equal(est_b64_encode(der, len, &b64, &blen), 0);
	req.method = "POST";
	req.path = path;
	req.authorization = peer == NULL ? AUTH : NULL;
	req.peer_cert = pder;
	req.peer_cert_len = plen > 0 ? (size_t)plen : 0;
	req.content_type = "application/pkcs10";
	req.body = b64;
	req.body_len = blen;
	req.remote = "127.0.0.1";
	memset(reply, 0, sizeof(*reply));
	est_handle(f->est, &req, reply);
	free(b64);
	OPENSSL_free(pder);
}

/* POSTs simpleenroll for a CSR of cn (base64 body) as dev1; the reply is filled. */
static void enroll(fixture_t *f, const char *cn, http_reply_t *reply)
{
	size_t len = 0;
	uint8_t *der = make_csr(f->key, cn, NULL, &len);

	post(f, "simpleenroll", NULL, der, len, reply);
	OPENSSL_free(der);
}

/* The request id named in a 202 body. */
static void request_id(const http_reply_t *r, char id[33])
{
	const char *p = strstr(r->body, "request ");

	assert_non_null(p);
	assert_int_equal(sscanf(p, "request %32[0-9a-f]", id), 1);
	assert_int_equal(strlen(id), 32);
}

/* The certificate of a certs-only answer (owned by the caller). */
static X509 *answer_cert(const http_reply_t *r)
{
	uint8_t *der = NULL;
	size_t len = 0;
	const unsigned char *p;
	PKCS7 *p7;
	X509 *x;

	assert_int_equal(est_b64_decode(r->body, r->body_len, &der, &len), 0);
	p = der;
	p7 = d2i_PKCS7(NULL, &p, (long)len);
	assert_non_null(p7);
	assert_int_equal(sk_X509_num(p7->d.sign->cert), 1);
	x = X509_dup(sk_X509_value(p7->d.sign->cert, 0));
	PKCS7_free(p7);
	free(der);
	return x;
}

/* Re-enrolls x (same subject, same key) on label's simplereenroll and checks the answer:
 * status, and a body that says says (NULL: not checked). The renewal (owned by the
 * caller) when status is 200, else NULL. */
static X509 *reenroll(fixture_t *f, const char *label, X509 *x, int status, const char *says)
{
	X509_REQ *req = X509_to_X509_REQ(x, f->key, EVP_sha256());
	unsigned char *der = NULL;
	http_reply_t r;
	X509 *renewed = NULL;
	char path[64];
	int len;

	assert_non_null(req);
	assert_int_equal(X509_get_ext_by_NID(x, NID_subject_alt_name, -1), -1); /* nothing to copy */
	len = i2d_X509_REQ(req, &der);
	assert_true(len > 0);
	snprintf(path, sizeof(path), "%s/simplereenroll", label);
	post(f, path, x, der, (size_t)len, &r);
	assert_int_equal(r.status, status);
	if (says != NULL)
		assert_non_null(strstr(r.body, says));
	if (status == 200)
		renewed = answer_cert(&r);
	http_reply_clear(&r);
	OPENSSL_free(der);
	X509_REQ_free(req);
	return renewed;
}

static void test_issue_at_once(void **state)
{
	fixture_t *f = *state;
	http_reply_t r;
	X509 *x;

	enroll(f, "device-1", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.n_headers, 1);
	assert_string_equal(r.headers[0].name, "Content-Transfer-Encoding");
	assert_string_equal(r.headers[0].value, "base64");
	x = answer_cert(&r);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), f->key), 1);
	X509_free(x);
	http_reply_clear(&r);
}

static void test_held_then_approved(void **state)
{
	fixture_t *f = *state;
	cairn_err_t err = { 0 };
	request_info_t info;
	http_reply_t r;
	char id[33], again[33];
	X509 *x;

	enroll(f, "held-1", &r);
	assert_int_equal(r.status, 202);
	assert_int_equal(r.retry_after, 60);
	request_id(&r, id);
	http_reply_clear(&r);
	enroll(f, "held-1", &r); /* the same CSR: still waiting, same request */
	assert_int_equal(r.status, 202);
	request_id(&r, again);
	assert_string_equal(again, id);
	http_reply_clear(&r);
	if (policy_request_approve(f->engine, id, "admin:alice", "admin", NULL, &info, &err) != 0)
		fail_msg("approve: %s", cairn_err_msg(&err));
	assert_int_equal(info.status, REQ_ISSUED);
	enroll(f, "held-1", &r);
	assert_int_equal(r.status, 200);
	x = answer_cert(&r);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), f->key), 1);
	X509_free(x);
	http_reply_clear(&r);
}

static void test_held_then_rejected(void **state)
{
	fixture_t *f = *state;
	cairn_err_t err = { 0 };
	http_reply_t r;
	char id[33], next[33];

	enroll(f, "held-2", &r);
	assert_int_equal(r.status, 202);
	request_id(&r, id);
	http_reply_clear(&r);
	if (policy_request_reject(f->engine, id, "admin:alice", "admin", "unknown device", NULL,
				  &err) != 0)
		fail_msg("reject: %s", cairn_err_msg(&err));
	enroll(f, "held-2", &r);
	assert_int_equal(r.status, 403);
	assert_non_null(strstr(r.body, "rejected"));
	http_reply_clear(&r);
	/* The refusal ended that request: asking again starts a new one. */
	enroll(f, "held-2", &r);
	assert_int_equal(r.status, 202);
	request_id(&r, next);
	assert_string_not_equal(next, id);
	http_reply_clear(&r);
}

struct label_del {
	char serial[2 * DB_SERIAL_MAX + 1];
};

static int label_del_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct label_del *d = arg;
	char key[2 + 2 * DB_SERIAL_MAX + 1];
	(void)err;

	snprintf(key, sizeof(key), "l:%s", d->serial);
	return db_del(txn, DB_EST, key, strlen(key));
}

/* Forgets the label recorded for x, as for a certificate issued before labels were. */
static void forget_label(fixture_t *f, X509 *x)
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	struct label_del d;
	cairn_err_t err = { 0 };

	db_serial_hex(ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn), d.serial);
	if (db_write(f->db, label_del_op, &d, &err) != 0)
		fail_msg("forgetting the label of %s: %s", d.serial, cairn_err_msg(&err));
}

/* A certificate of EST with no label recorded counts only on the labels of the account its
 * requester names ("est:user/dev1": the default label iot); one renewed by certificate
 * ("est:cert/...") names no account and counts nowhere. */
static void test_unrecorded_label(void **state)
{
	fixture_t *f = *state;
	http_reply_t r;
	X509 *x, *renewed;

	enroll(f, "device-u", &r);
	assert_int_equal(r.status, 200);
	x = answer_cert(&r);
	http_reply_clear(&r);
	assert_null(reenroll(f, "other", x, 403, "issued on EST label iot")); /* recorded */
	forget_label(f, x);
	assert_null(reenroll(f, "other", x, 403,
			     "no label recorded, and its account dev1 may not use label other"));
	renewed = reenroll(f, "iot", x, 200, NULL);
	forget_label(f, renewed);
	assert_null(reenroll(f, "iot", renewed, 403, "names no account (est:cert/CN=device-u)"));
	X509_free(renewed);
	X509_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issue_at_once),
		cmocka_unit_test(test_held_then_approved),
		cmocka_unit_test(test_held_then_rejected),
		cmocka_unit_test(test_unrecorded_label),
	};
	return cmocka_run_group_tests_name("est_pending", tests, fixture_setup, fixture_teardown);
}
