/* SPDX-License-Identifier: MIT */
/* Unit tests for hsm/: a SoftHSM2 token in a temp dir, key generation, signing from threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "config.h"
#include "hsm/hsm.h"
#include "hsm/hsm_int.h"

/* PKCS#11 2.40; pkcs11-helper's headers are 2.20. */
#ifndef CKA_COPYABLE
#define CKA_COPYABLE 0x171UL
#endif

#define TOKEN_LABEL "cairn-test"
#define USER_PIN "1234-user"
#define SO_PIN "5678-so"

/* The SoftHSM conf is process-global (SOFTHSM2_CONF): one token dir for the program. */
typedef struct state {
	char dir[256];
	char conf[300];
	hsm_config_t cfg;
	EVP_PKEY *pub[3]; /* per hsm_key_type_t, from hsm_keygen */
} state_t;

static const char *key_label[3] = { "ca-p256", "ca-p384", "ca-rsa3072" };

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int group_setup(void **pstate)
{
	state_t *st = calloc(1, sizeof(*st));
	const char *tmp = getenv("TMPDIR");
	char tokens[300];
	cairn_err_t err = { 0 };
	FILE *f;

	if (st == NULL)
		return -1;
	snprintf(st->dir, sizeof(st->dir), "%s/cairn-hsm-XXXXXX", tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(st->dir) == NULL)
		return -1;
	snprintf(tokens, sizeof(tokens), "%s/tokens", st->dir);
	snprintf(st->conf, sizeof(st->conf), "%s/softhsm2.conf", st->dir);
	if (mkdir(tokens, 0700) != 0 || (f = fopen(st->conf, "w")) == NULL)
		return -1;
	fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
		tokens);
	fclose(f);
	st->cfg = (hsm_config_t){ .module = CAIRN_DEFAULT_MODULE,
				  .token_label = TOKEN_LABEL,
				  .pin = USER_PIN,
				  .softhsm_conf = st->conf,
				  .timeout_ms = HSM_TIMEOUT_MS };
	if (hsm_token_create(&st->cfg, SO_PIN, &err) != 0) {
		fprintf(stderr, "# hsm_token_create: %s\n", cairn_err_msg(&err));
		return -1;
	}
	*pstate = st;
	return 0;
}

static int group_teardown(void **pstate)
{
	state_t *st = *pstate;
	int i;

	for (i = 0; i < 3; i++)
		EVP_PKEY_free(st->pub[i]);
	nftw(st->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(st);
	return 0;
}

static hsm_t *open_ok(state_t *st)
{
	cairn_err_t err = { 0 };
	hsm_t *h = NULL;
	int rc = hsm_open(&st->cfg, &h, &err);

	if (rc != 0)
		fprintf(stderr, "# hsm_open: %s\n", cairn_err_msg(&err));
	assert_int_equal(rc, 0);
	assert_non_null(h);
	return h;
}

/* The key of that type, generated on first use. */
static void need_key(state_t *st, hsm_t *h, hsm_key_type_t t)
{
	cairn_err_t err = { 0 };
	int rc;

	if (st->pub[t] != NULL)
		return;
	rc = hsm_keygen(h, t, key_label[t], &st->pub[t], &err);
	if (rc != 0)
		fprintf(stderr, "# hsm_keygen: %s\n", cairn_err_msg(&err));
	assert_int_equal(rc, 0);
	assert_non_null(st->pub[t]);
}

static int digest_sign_verify(EVP_PKEY *key, EVP_PKEY *pub, const char *msg)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[1024];
	size_t siglen = sizeof(sig);
	int ok;

	ok = EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
	     EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)msg, strlen(msg)) == 1;
	EVP_MD_CTX_reset(ctx);
	ok = ok && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) == 1 &&
	     EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)msg, strlen(msg)) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

static void test_token_create_twice(void **pstate)
{
	state_t *st = *pstate;
	cairn_err_t err = { 0 };

	assert_int_equal(hsm_token_create(&st->cfg, SO_PIN, &err), CAIRN_EEXIST);
	assert_int_equal(err.code, CAIRN_EEXIST);
}

static void test_key_type_names(void **pstate)
{
	hsm_key_type_t t;
	(void)pstate;

	assert_int_equal(hsm_key_type_parse("p256", &t), 0);
	assert_int_equal(t, HSM_KEY_EC_P256);
	assert_int_equal(hsm_key_type_parse("ec-p384", &t), 0);
	assert_int_equal(t, HSM_KEY_EC_P384);
	assert_int_equal(hsm_key_type_parse("rsa-3072", &t), 0);
	assert_string_equal(hsm_key_type_name(t), "rsa3072");
	assert_int_equal(hsm_key_type_parse("rsa1024", &t), CAIRN_EINVAL);
}

static void test_open_wrong_pin(void **pstate)
{
	state_t *st = *pstate;
	hsm_config_t cfg = st->cfg;
	cairn_err_t err = { 0 };
	hsm_t *h = NULL;

	cfg.pin = "not-the-pin";
	assert_int_equal(hsm_open(&cfg, &h, &err), CAIRN_ELOGIN);
	assert_null(h);
	assert_non_null(strstr(err.msg, "CKR_PIN_INCORRECT"));
}

static void test_open_unknown_token(void **pstate)
{
	state_t *st = *pstate;
	hsm_config_t cfg = st->cfg;
	cairn_err_t err = { 0 };
	hsm_t *h = NULL;

	cfg.token_label = "no-such-token";
	assert_int_equal(hsm_open(&cfg, &h, &err), CAIRN_ETOKEN);
	assert_null(h);
}

static void test_open_twice_busy(void **pstate)
{
	state_t *st = *pstate;
	hsm_t *h = open_ok(st), *h2 = NULL;

	assert_int_equal(hsm_open(&st->cfg, &h2, NULL), CAIRN_EBUSY);
	assert_null(h2);
	hsm_close(h);
	h = open_ok(st); /* close really released it */
	hsm_close(h);
}

/* Once SOFTHSM2_CONF is exported (as the daemon does before its first thread), opening
 * and creating tokens leave the environment alone: a setenv() there would free the array
 * under another thread's getenv(). The string getenv returns is the same one after. */
static void test_conf_export_once(void **pstate)
{
	state_t *st = *pstate;
	char other[sizeof(st->conf) + 8];
	const char *before;
	hsm_t *h;

	assert_int_equal(hsm_conf_export(st->conf), 0);
	before = getenv("SOFTHSM2_CONF");
	assert_non_null(before);
	assert_string_equal(before, st->conf);
	h = open_ok(st);
	hsm_close(h);
	assert_ptr_equal(getenv("SOFTHSM2_CONF"), before);
	assert_int_equal(hsm_token_create(&st->cfg, SO_PIN, NULL), CAIRN_EEXIST);
	assert_ptr_equal(getenv("SOFTHSM2_CONF"), before);
	assert_int_equal(hsm_conf_export(NULL), 0); /* NULL: left as it is */
	assert_ptr_equal(getenv("SOFTHSM2_CONF"), before);
	/* another path is set */
	snprintf(other, sizeof(other), "%s.other", st->conf);
	assert_int_equal(hsm_conf_export(other), 0);
	assert_string_equal(getenv("SOFTHSM2_CONF"), other);
	assert_int_equal(hsm_conf_export(st->conf), 0);
	assert_string_equal(getenv("SOFTHSM2_CONF"), st->conf);
}

static void test_keygen_all_types(void **pstate)
{
	state_t *st = *pstate;
	hsm_t *h = open_ok(st);
	int t;

	for (t = HSM_KEY_EC_P256; t <= HSM_KEY_RSA_3072; t++) {
		EVP_PKEY *key = NULL;
		cairn_err_t err = { 0 };

		need_key(st, h, (hsm_key_type_t)t);
		assert_int_equal(EVP_PKEY_get_bits(st->pub[t]),
				 t == HSM_KEY_EC_P256 ? 256 : t == HSM_KEY_EC_P384 ? 384 : 3072);
		assert_int_equal(hsm_key_is_protected(h, key_label[t]), 1);
		assert_int_equal(hsm_key_get(h, key_label[t], &key, &err), 0);
		assert_int_equal(EVP_PKEY_eq(key, st->pub[t]), 1);
		assert_true(digest_sign_verify(key, st->pub[t], "to be signed"));
		EVP_PKEY_free(key);
	}
	hsm_close(h);
}

static void test_keygen_duplicate_label(void **pstate)
{
	state_t *st = *pstate;
	hsm_t *h = open_ok(st);
	EVP_PKEY *pub = NULL;
	cairn_err_t err = { 0 };

	need_key(st, h, HSM_KEY_EC_P256);
	assert_int_equal(hsm_keygen(h, HSM_KEY_EC_P384, key_label[HSM_KEY_EC_P256], &pub, &err),
			 CAIRN_EEXIST);
	assert_null(pub);
	hsm_close(h);
}

static void test_unknown_key(void **pstate)
{
	state_t *st = *pstate;
	hsm_t *h = open_ok(st);
	EVP_PKEY *key = NULL;
	uint8_t dgst[32] = { 0 }, sig[512];
	size_t siglen = sizeof(sig);
	cairn_err_t err = { 0 };

	assert_int_equal(hsm_key_get(h, "no-such-key", &key, &err), CAIRN_EKEY);
	assert_null(key);
	assert_int_equal(hsm_sign_raw(h, "no-such-key", dgst, sizeof(dgst), sig, &siglen, &err),
			 CAIRN_EKEY);
	assert_int_equal(hsm_key_is_protected(h, "no-such-key"), CAIRN_EKEY);
	hsm_close(h);
}

static void test_x509_self_signed(void **pstate)
{
	state_t *st = *pstate;
	hsm_t *h = open_ok(st);
	int t;

	for (t = HSM_KEY_EC_P256; t <= HSM_KEY_RSA_3072; t++) {
		EVP_PKEY *key = NULL;
		X509 *x = X509_new();
		X509_NAME *name = X509_NAME_new();
		X509_CRL *crl;

		need_key(st, h, (hsm_key_type_t)t);
		assert_int_equal(hsm_key_get(h, key_label[t], &key, NULL), 0);
		X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					   (const unsigned char *)"cairn test CA", -1, -1, 0);
		assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
		ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
		X509_set_subject_name(x, name);
		X509_set_issuer_name(x, name);
		X509_gmtime_adj(X509_getm_notBefore(x), 0);
		X509_gmtime_adj(X509_getm_notAfter(x), 3600);
		assert_int_equal(X509_set_pubkey(x, key), 1);
		assert_true(X509_sign(x, key, t == HSM_KEY_EC_P384 ? EVP_sha384() : EVP_sha256()) >
			    0);
		assert_int_equal(X509_verify(x, st->pub[t]), 1);

		crl = X509_CRL_new();
		assert_int_equal(X509_CRL_set_issuer_name(crl, name), 1);
		assert_int_equal(X509_CRL_set1_lastUpdate(crl, X509_get0_notBefore(x)), 1);
		assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
		assert_int_equal(X509_CRL_verify(crl, st->pub[t]), 1);
		X509_CRL_free(crl);
		X509_NAME_free(name);
		X509_free(x);
		EVP_PKEY_free(key);
	}
	hsm_close(h);
}

static void test_rsa_pss(void **pstate)
{
	state_t *st = *pstate;
	hsm_t *h = open_ok(st);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *key = NULL;
	unsigned char sig[512];
	size_t siglen = sizeof(sig);

	need_key(st, h, HSM_KEY_RSA_3072);
	assert_int_equal(hsm_key_get(h, key_label[HSM_KEY_RSA_3072], &key, NULL), 0);
	assert_int_equal(EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, key), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)"pss", 3), 1);
	EVP_MD_CTX_reset(ctx);
	assert_int_equal(EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL,
					      st->pub[HSM_KEY_RSA_3072]),
			 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
	assert_int_equal(EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)"pss", 3), 1);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	hsm_close(h);
}

static void test_sign_raw(void **pstate)
{
	state_t *st = *pstate;
	hsm_t *h = open_ok(st);
	uint8_t dgst[32], sig[512], *der = NULL;
	size_t siglen = sizeof(sig), small = 10;
	cairn_err_t err = { 0 };
	EVP_PKEY_CTX *vctx;
	ECDSA_SIG *es;
	int derlen;

	need_key(st, h, HSM_KEY_EC_P256);
	need_key(st, h, HSM_KEY_RSA_3072);
	assert_int_equal(EVP_Digest("raw", 3, dgst, NULL, EVP_sha256(), NULL), 1);

	assert_int_equal(hsm_sign_raw(h, key_label[HSM_KEY_EC_P256], dgst, sizeof(dgst), sig,
				      &small, &err),
			 CAIRN_EINVAL);
	assert_int_equal(small, 64);
	assert_int_equal(hsm_sign_raw(h, key_label[HSM_KEY_EC_P256], dgst, sizeof(dgst), sig,
				      &siglen, &err),
			 0);
	assert_int_equal(siglen, 64);
	es = ECDSA_SIG_new();
	ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
	derlen = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	vctx = EVP_PKEY_CTX_new(st->pub[HSM_KEY_EC_P256], NULL);
	assert_int_equal(EVP_PKEY_verify_init(vctx), 1);
	assert_int_equal(EVP_PKEY_verify(vctx, der, (size_t)derlen, dgst, sizeof(dgst)), 1);
	EVP_PKEY_CTX_free(vctx);
	OPENSSL_free(der);

	siglen = sizeof(sig);
	assert_int_equal(hsm_sign_raw(h, key_label[HSM_KEY_RSA_3072], dgst, sizeof(dgst), sig,
				      &siglen, &err),
			 0);
	assert_int_equal(siglen, 384);
	vctx = EVP_PKEY_CTX_new(st->pub[HSM_KEY_RSA_3072], NULL);
	assert_int_equal(EVP_PKEY_verify_init(vctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(vctx, RSA_PKCS1_PADDING), 1);
	assert_int_equal(EVP_PKEY_CTX_set_signature_md(vctx, EVP_sha256()), 1);
	assert_int_equal(EVP_PKEY_verify(vctx, sig, siglen, dgst, sizeof(dgst)), 1);
	EVP_PKEY_CTX_free(vctx);
	hsm_close(h);
}

#define N_THREADS 4
#define N_SIGS 300

typedef struct worker {
	EVP_PKEY *key, *pub;
	int index, good;
} worker_t;

static void *sign_worker(void *arg)
{
	worker_t *w = arg;
	char msg[64];
	int i;

	for (i = 0; i < N_SIGS; i++) {
		snprintf(msg, sizeof(msg), "thread %d message %d", w->index, i);
		w->good += digest_sign_verify(w->key, w->pub, msg);
	}
	return NULL;
}

static void test_parallel_ecdsa(void **pstate)
{
	state_t *st = *pstate;
	hsm_t *h = open_ok(st);
	pthread_t th[N_THREADS];
	worker_t w[N_THREADS];
	EVP_PKEY *key = NULL;
	int i;

	need_key(st, h, HSM_KEY_EC_P256);
	assert_int_equal(hsm_key_get(h, key_label[HSM_KEY_EC_P256], &key, NULL), 0);
	for (i = 0; i < N_THREADS; i++) {
		w[i] = (worker_t){ .key = key, .pub = st->pub[HSM_KEY_EC_P256], .index = i };
		assert_int_equal(pthread_create(&th[i], NULL, sign_worker, &w[i]), 0);
	}
	for (i = 0; i < N_THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].good, N_SIGS);
	}
	EVP_PKEY_free(key);
	hsm_close(h);
}

/* One CK_BBOOL attribute of o, read on a pooled session; -1 if unreadable. */
static int bool_attr(hsm_t *h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL v = CK_FALSE;
	CK_ATTRIBUTE a = { type, &v, sizeof(v) };
	CK_SESSION_HANDLE s;
	CK_RV rv;

	assert_int_equal(hsm_session_take(h, &s), CKR_OK);
	rv = h->fl->C_GetAttributeValue(s, o, &a, 1);
	hsm_session_give(h, s, 0);
	return rv == CKR_OK ? v == CK_TRUE : -1;
}

/* An ECDSA P-256 raw signature of dgst by label, checked against pub. */
static void raw_sign_verifies(hsm_t *h, const char *label, EVP_PKEY *pub, const uint8_t dgst[32])
{
	uint8_t sig[64], *der = NULL;
	size_t siglen = sizeof(sig);
	cairn_err_t err = { 0 };
	EVP_PKEY_CTX *vctx;
	ECDSA_SIG *es;
	int derlen;

	assert_int_equal(hsm_sign_raw(h, label, dgst, 32, sig, &siglen, &err), 0);
	es = ECDSA_SIG_new();
	ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
	derlen = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	vctx = EVP_PKEY_CTX_new(pub, NULL);
	assert_int_equal(EVP_PKEY_verify_init(vctx), 1);
	assert_int_equal(EVP_PKEY_verify(vctx, der, (size_t)derlen, dgst, 32), 1);
	EVP_PKEY_CTX_free(vctx);
	OPENSSL_free(der);
}

/*
 * Signing uses a session copy of the token key (no token file read per signature):
 * the copy is a private, sensitive, unextractable session object whose value cannot
 * be read; it outlives a pooled session closed after an error, and a reopened handle
 * finds the token key (not a copy) by its label and copies it again.
 */
static void test_session_copy(void **pstate)
{
	state_t *st = *pstate;
	hsm_t *h = open_ok(st);
	const char *label = key_label[HSM_KEY_EC_P256];
	const hsm_key_ent_t *k = NULL;
	uint8_t dgst[32], buf[256], out[64];
	CK_ATTRIBUTE val = { CKA_VALUE, buf, sizeof(buf) };
	cairn_err_t err = { 0 };
	CK_SESSION_HANDLE s;
	size_t n = sizeof(out);
	CK_RV rv;

	need_key(st, h, HSM_KEY_EC_P256);
	assert_int_equal(EVP_Digest("copy", 4, dgst, NULL, EVP_sha256(), NULL), 1);
	assert_int_equal(hsm_key_lookup(h, label, &k, &err), 0);
	assert_int_not_equal(k->sign_obj, k->priv);
	assert_int_equal(bool_attr(h, k->priv, CKA_TOKEN), 1);
	assert_int_equal(bool_attr(h, k->sign_obj, CKA_TOKEN), 0);
	assert_int_equal(bool_attr(h, k->sign_obj, CKA_PRIVATE), 1);
	assert_int_equal(bool_attr(h, k->sign_obj, CKA_SENSITIVE), 1);
	assert_int_equal(bool_attr(h, k->sign_obj, CKA_EXTRACTABLE), 0);
	assert_int_equal(hsm_session_take(h, &s), CKR_OK);
	rv = h->fl->C_GetAttributeValue(s, k->sign_obj, &val, 1);
	hsm_session_give(h, s, 0);
	assert_int_equal(rv, CKR_ATTRIBUTE_SENSITIVE);
	raw_sign_verifies(h, label, st->pub[HSM_KEY_EC_P256], dgst);

	/* A mechanism the EC key refuses: the pooled session is closed as bad. */
	assert_int_not_equal(hsm_sign_mech(h, k->sign_obj, CKM_SHA256_RSA_PKCS, dgst, 32, out, &n),
			     CKR_OK);
	raw_sign_verifies(h, label, st->pub[HSM_KEY_EC_P256], dgst);
	hsm_close(h);

	h = open_ok(st);
	assert_int_equal(hsm_key_lookup(h, label, &k, &err), 0);
	assert_int_equal(bool_attr(h, k->priv, CKA_TOKEN), 1);
	assert_int_equal(bool_attr(h, k->sign_obj, CKA_TOKEN), 0);
	raw_sign_verifies(h, label, st->pub[HSM_KEY_EC_P256], dgst);
	hsm_close(h);
}

/*
 * The token forgets the process (C_CloseAllSessions: every session closed, logged out,
 * the session copies gone), as an HSM that was reset: the next signature finds out, the
 * handle logs in again, finds and copies the key anew and signs, through the raw call
 * and through the EVP_PKEY made before. (Not while other threads sign: SoftHSM2 runs in
 * the process and frees a session another thread is using; token_out.sh resets a
 * running daemon's token through a plug that waits for the calls in flight.)
 */
static void test_reset_relogin(void **pstate)
{
	state_t *st = *pstate;
	hsm_t *h = open_ok(st);
	const char *label = key_label[HSM_KEY_EC_P256];
	const hsm_key_ent_t *k = NULL;
	CK_OBJECT_HANDLE before;
	EVP_PKEY *key = NULL;
	uint8_t dgst[32];

	need_key(st, h, HSM_KEY_EC_P256);
	assert_int_equal(hsm_key_lookup(h, label, &k, NULL), 0);
	assert_int_equal(hsm_key_get(h, label, &key, NULL), 0);
	memset(dgst, 9, sizeof(dgst));
	raw_sign_verifies(h, label, st->pub[HSM_KEY_EC_P256], dgst);
	assert_int_equal(hsm_relogins(h), 0);

	before = key_handle(&k->sign_obj);
	assert_int_equal(h->fl->C_CloseAllSessions(h->slot), CKR_OK);
	assert_int_equal(bool_attr(h, before, CKA_TOKEN), -1); /* the copy is gone */
	raw_sign_verifies(h, label, st->pub[HSM_KEY_EC_P256], dgst);
	assert_int_equal(hsm_relogins(h), 1);
	assert_int_equal(bool_attr(h, key_handle(&k->sign_obj), CKA_TOKEN), 0); /* a new copy */
	assert_int_equal(bool_attr(h, key_handle(&k->priv), CKA_TOKEN), 1);

	usleep((HSM_RELOGIN_MS + 100) * 1000); /* the next reset gets a login of its own */
	assert_int_equal(h->fl->C_CloseAllSessions(h->slot), CKR_OK);
	assert_int_equal(digest_sign_verify(key, st->pub[HSM_KEY_EC_P256], "after a reset"), 1);
	assert_int_equal(hsm_relogins(h), 2);
	EVP_PKEY_free(key);
	hsm_close(h);
}

#ifdef TEST_HSM_SIGNERS
/* Milliseconds since t0 (time_mono_ms). */
static uint64_t since(uint64_t t0)
{
	return time_mono_ms() - t0;
}

/* One raw P-256 signature; its CK result as hsm_sign_raw's, why what the token said. */
static int sign_once(hsm_t *h, char *why, size_t cap)
{
	uint8_t dgst[32], sig[64];
	size_t siglen = sizeof(sig);
	int rc;

	memset(dgst, 5, sizeof(dgst));
	(void)hsm_sign_failure(NULL, 0);
	rc = hsm_sign_raw(h, key_label[HSM_KEY_EC_P256], dgst, sizeof(dgst), sig, &siglen, NULL);
	why[0] = '\0';
	(void)hsm_sign_failure(why, cap);
	return rc;
}

/* Waits (at most 3 s) until want calls have been in the token a timeout long: from when
 * their signer took them, a little after they were asked for (a signer started for one is
 * slow to take it in a sanitizer build). */
static void stuck_wait(hsm_t *h, unsigned want, hsm_stuck_t *stuck)
{
	int i;

	for (i = 0; i < 300; i++) {
		hsm_token_stuck(h, stuck);
		if (stuck->calls == want)
			return;
		usleep(10 * 1000);
	}
	fail_msg("%u calls stuck, not %u", stuck->calls, want);
}

/* The token answers again (hang removed): waits (at most 2 s) until the calls stuck in it
 * came back. */
static void token_back(hsm_t *h, const char *hang)
{
	hsm_stuck_t stuck;
	int i;

	unlink(hang);
	for (i = 0; i < 200; i++) {
		hsm_token_stuck(h, &stuck);
		if (stuck.calls == 0)
			return;
		usleep(10 * 1000);
	}
	fail_msg("%u calls still in the token", stuck.calls);
}

/* A handle on the token through tests/tools/token_plug.so (its calls wait while the file
 * hang exists), waiting 1 s for them; plug_done puts st back. */
static hsm_t *plug_open(state_t *st, char *hang, size_t cap)
{
	const char *plug = "tests/tools/token_plug.so";

	if (access(plug, F_OK) != 0)
		fail_msg("no %s (make builds it)", plug);
	snprintf(hang, cap, "%s/hang", st->dir);
	setenv("CAIRN_TEST_TOKEN_HANG", hang, 1);
	st->cfg.module = plug;
	st->cfg.timeout_ms = 1000;
	return open_ok(st);
}

static void plug_done(state_t *st, hsm_t *h)
{
	hsm_close(h);
	st->cfg.module = CAIRN_DEFAULT_MODULE;
	st->cfg.timeout_ms = HSM_TIMEOUT_MS;
	unsetenv("CAIRN_TEST_TOKEN_HANG");
}

/*
 * A token that answers nothing (tests/tools/token_plug.so: its calls wait while a file
 * exists): a signature is given up after the timeout, the next refused at once, one per
 * timeout still tried; the calls stuck are counted; once the token answers, signing works
 * on the same handle.
 */
static void test_token_hangs(void **pstate)
{
	state_t *st = *pstate;
	char hang[300], why[HSM_WHY_MAX];
	hsm_stuck_t stuck;
	hsm_t *h;
	uint64_t t0;
	int rc;

	h = plug_open(st, hang, sizeof(hang));
	need_key(st, h, HSM_KEY_EC_P256);
	assert_int_equal(sign_once(h, why, sizeof(why)), 0);
	hsm_token_stuck(h, &stuck);
	assert_int_equal(stuck.calls, 0);
	assert_int_equal(stuck.timeouts, 0);

	fclose(fopen(hang, "w"));
	t0 = time_mono_ms();
	rc = sign_once(h, why, sizeof(why));
	assert_int_not_equal(rc, 0);
	assert_true(since(t0) >= 1000 && since(t0) < 5000); /* the timeout, not the hang */
	assert_string_equal(why, "no answer from the token within 1 s");
	stuck_wait(h, 1, &stuck); /* still in the token */
	assert_true(stuck.for_ms >= 1000);
	/* Refused at once while it does not answer (the probe of this period went first). */
	t0 = time_mono_ms();
	assert_int_not_equal(sign_once(h, why, sizeof(why)), 0);
	assert_true(since(t0) < 500);
	assert_true(strncmp(why, "the token has not answered for ", 31) == 0);
	/* A period later one goes to the token again, and waits. */
	usleep(1100 * 1000);
	t0 = time_mono_ms();
	assert_int_not_equal(sign_once(h, why, sizeof(why)), 0);
	assert_true(since(t0) >= 1000);
	assert_string_equal(why, "no answer from the token within 1 s");
	stuck_wait(h, 2, &stuck);
	assert_int_equal(stuck.timeouts, 3);

	/* The token answers again: the stuck calls come back, signing works. */
	token_back(h, hang);
	assert_int_equal(sign_once(h, why, sizeof(why)), 0);
	plug_done(st, h);
}

/*
 * Key generation and key lookups are bounded as signatures are (a renewal of the OCSP
 * signer generates a key and looks it up): given up after the timeout, saying so, with
 * CAIRN_ETOKENDOWN; the key generated once the token answers again is in the token (what
 * the call returned to nobody is freed: ASan's leak check), and both work then.
 */
static void test_key_calls_hang(void **pstate)
{
	state_t *st = *pstate;
	char hang[300];
	cairn_err_t err = { 0 };
	EVP_PKEY *pub = NULL, *key = NULL;
	hsm_stuck_t stuck;
	hsm_t *h;
	uint64_t t0;

	h = plug_open(st, hang, sizeof(hang));
	need_key(st, h, HSM_KEY_EC_P256);

	fclose(fopen(hang, "w"));
	t0 = time_mono_ms();
	assert_int_equal(hsm_keygen(h, HSM_KEY_EC_P256, "late", &pub, &err), CAIRN_ETOKENDOWN);
	assert_true(since(t0) >= 1000 && since(t0) < 5000);
	assert_null(pub);
	assert_string_equal(cairn_err_msg(&err), "keygen \"late\": no answer from the token within 1 s");
	stuck_wait(h, 1, &stuck);
	/* A label this handle has not looked up yet: refused at once meanwhile. */
	t0 = time_mono_ms();
	assert_int_equal(hsm_key_get(h, key_label[HSM_KEY_EC_P384], &key, &err),
			 CAIRN_ETOKENDOWN);
	assert_true(since(t0) < 500);
	assert_null(key);
	assert_true(strncmp(cairn_err_msg(&err), "key \"", 5) == 0);
	assert_non_null(strstr(cairn_err_msg(&err), ": the token has not answered for "));

	token_back(h, hang);
	/* The generation went on once the token answered: its key is there. */
	assert_int_equal(hsm_keygen(h, HSM_KEY_EC_P256, "late", NULL, &err), CAIRN_EEXIST);
	assert_int_equal(hsm_key_get(h, "late", &key, &err), 0);
	assert_int_equal(EVP_PKEY_get_bits(key), 256);
	EVP_PKEY_free(key);
	plug_done(st, h);
}

/* A handle closed when the token does not answer stays, with the module: kept here so the
 * leak check sees it is on purpose. */
static hsm_t *closed_hung;

/*
 * A close while the token does not answer, nothing in it (a token that went dark while
 * idle): its own token calls (sessions, logout, C_Finalize) are given up after the
 * timeout like any other, and the handle is kept rather than the caller. Last of its
 * program: no token can be opened in the process after it.
 */
static void test_close_hangs(void **pstate)
{
	state_t *st = *pstate;
	char hang[300], why[HSM_WHY_MAX];
	hsm_stuck_t stuck;
	uint64_t t0;
	int i;

	closed_hung = plug_open(st, hang, sizeof(hang));
	need_key(st, closed_hung, HSM_KEY_EC_P256);
	assert_int_equal(sign_once(closed_hung, why, sizeof(why)), 0);
	fclose(fopen(hang, "w"));
	t0 = time_mono_ms();
	hsm_close(closed_hung);
	/* at most: the close's calls given up (1 s), the signers' stop (1 s) */
	assert_true(since(t0) >= 1000 && since(t0) < 5000);
	hsm_token_stuck(closed_hung, &stuck);
	assert_int_equal(stuck.calls, 1);
	/* The token answers again: the close's calls come back, the signer ends. */
	unlink(hang);
	for (i = 0; i < 300; i++) {
		pthread_mutex_lock(&closed_hung->sign_lock);
		stuck.calls = closed_hung->live;
		pthread_mutex_unlock(&closed_hung->sign_lock);
		if (stuck.calls == 0)
			break;
		usleep(10 * 1000);
	}
	assert_int_equal(stuck.calls, 0);
	unsetenv("CAIRN_TEST_TOKEN_HANG");
}

/* Signatures go to a signer thread unless the bound is off (token.timeout 0): then the
 * calling thread makes the token calls, and none is started. */
static void test_signer_or_caller(void **pstate)
{
	state_t *st = *pstate;
	char why[HSM_WHY_MAX];
	hsm_t *h;

	h = open_ok(st);
	need_key(st, h, HSM_KEY_EC_P256);
	assert_int_equal(sign_once(h, why, sizeof(why)), 0);
	assert_true(h->signers >= 1);
	hsm_close(h);

	st->cfg.timeout_ms = 0;
	h = open_ok(st);
	assert_int_equal(sign_once(h, why, sizeof(why)), 0);
	assert_int_equal(h->signers, 0);
	hsm_close(h);
	st->cfg.timeout_ms = HSM_TIMEOUT_MS;
}
#endif

/* A token key that may not be copied (CKA_COPYABLE false) signs as the token object. */
static void test_uncopyable_key(void **pstate)
{
	state_t *st = *pstate;
	hsm_t *h = open_ok(st);
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	unsigned char *params = NULL;
	int plen = i2d_ASN1_OBJECT(OBJ_nid2obj(NID_X9_62_prime256v1), &params);
	CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pubt[] = {
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_EC_PARAMS, params, (CK_ULONG)plen },
	};
	CK_ATTRIBUTE privt[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },	{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },	{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_SIGN, &yes, sizeof(yes) },	{ CKA_COPYABLE, &no, sizeof(no) },
		{ CKA_LABEL, "nocopy", 6 },
	};
	CK_OBJECT_HANDLE hpub, hpriv;
	const hsm_key_ent_t *k = NULL;
	cairn_err_t err = { 0 };
	uint8_t dgst[32], sig[64];
	size_t siglen = sizeof(sig);
	CK_SESSION_HANDLE s;

	assert_true(plen > 0);
	assert_int_equal(hsm_session_take(h, &s), CKR_OK);
	assert_int_equal(h->fl->C_GenerateKeyPair(s, &mech, pubt, 3, privt, 7, &hpub, &hpriv),
			 CKR_OK);
	hsm_session_give(h, s, 0);
	OPENSSL_free(params);
	assert_int_equal(hsm_key_lookup(h, "nocopy", &k, &err), 0);
	assert_int_equal(k->sign_obj, k->priv);
	memset(dgst, 7, sizeof(dgst));
	assert_int_equal(hsm_sign_raw(h, "nocopy", dgst, sizeof(dgst), sig, &siglen, &err), 0);
	assert_int_equal(siglen, 64);
	hsm_close(h);
}

/*
 * The signers' tests run as a program of their own (test_hsm_signers.c includes this file
 * with TEST_HSM_SIGNERS defined): under TSan every hsm_open/hsm_close leaves SoftHSM2 locks that
 * the deadlock detector counts as held by the thread, and at 64 it aborts the process.
 */
int main(void)
{
#ifdef TEST_HSM_SIGNERS
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_hangs),
		cmocka_unit_test(test_key_calls_hang),
		cmocka_unit_test(test_signer_or_caller),
		cmocka_unit_test(test_close_hangs), /* the last: no open after it */
	};

	return cmocka_run_group_tests_name("hsm signers", tests, group_setup, group_teardown);
#else
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_type_names),
		cmocka_unit_test(test_token_create_twice),
		cmocka_unit_test(test_open_wrong_pin),
		cmocka_unit_test(test_open_unknown_token),
		cmocka_unit_test(test_open_twice_busy),
		cmocka_unit_test(test_conf_export_once),
		cmocka_unit_test(test_keygen_all_types),
		cmocka_unit_test(test_keygen_duplicate_label),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_x509_self_signed),
		cmocka_unit_test(test_sign_raw),
		cmocka_unit_test(test_rsa_pss),
		cmocka_unit_test(test_parallel_ecdsa),
		cmocka_unit_test(test_session_copy),
		cmocka_unit_test(test_uncopyable_key),
		cmocka_unit_test(test_reset_relogin),
	};

	return cmocka_run_group_tests_name("hsm", tests, group_setup, group_teardown);
#endif
}
