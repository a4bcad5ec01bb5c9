/* SPDX-License-Identifier: MIT */
/* EVP_PKEYs whose private operation is C_Sign in the token (legacy EC_KEY_METHOD / RSA_METHOD). */
/*
 * OpenSSL 3 routes an EC_KEY or RSA whose method is not the built-in one
 * ("foreign" key, decided in EVP_PKEY_assign_*) through the legacy code path,
 * which calls the method's callbacks: so stock X509_sign, X509_CRL_sign,
 * OCSP_basic_sign and EVP_DigestSign sign in the token. These APIs are
 * deprecated in 3.0 but present; a provider would be the 3.x way and is far
 * more code.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "hsm/hsm_int.h"

/* What a token key's callbacks need; one per EC_KEY/RSA, in ex_data. */
typedef struct hsm_keyref {
	hsm_t *h;
	const hsm_key_ent_t *ent; /* the key entry (its handles change at a relogin) */
	size_t siglen;
} hsm_keyref_t;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_ec_idx = -1, g_rsa_idx = -1;
static EC_KEY_METHOD *g_ec_meth;
static RSA_METHOD *g_rsa_meth;

static void keyref_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

/* EC_KEY_dup copies ex_data: give the copy its own reference. */
static int keyref_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx,
		      long argl, void *argp)
{
	void **pp = from_d;
	hsm_keyref_t *copy;

	(void)to;
	(void)from;
	(void)idx;
	(void)argl;
	(void)argp;
	if (*pp == NULL)
		return 1;
	copy = malloc(sizeof(*copy));
	if (copy == NULL)
		return 0;
	memcpy(copy, *pp, sizeof(*copy));
	*pp = copy;
	return 1;
}

/* What the token said, or that it did not answer (hsm_sign_key's why). */
static void sign_error(int lib, CK_RV rv)
{
	const char *why = hsm_sign_why_get();

	if (why[0] != '\0')
		ERR_raise_data(lib, ERR_R_OPERATION_FAIL, "PKCS#11 %s", why);
	else
		ERR_raise_data(lib, ERR_R_OPERATION_FAIL, "PKCS#11 C_Sign: %s (0x%lx)",
			       hsm_ckr_name(rv), (unsigned long)rv);
}

static ECDSA_SIG *ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
			      const BIGNUM *r, EC_KEY *ec)
{
	const hsm_keyref_t *ref = EC_KEY_get_ex_data(ec, g_ec_idx);
	unsigned char buf[2 * 66];
	size_t n, half;
	BIGNUM *br = NULL, *bs = NULL;
	ECDSA_SIG *sig = NULL;
	CK_RV rv;

	(void)kinv;
	(void)r;
	if (ref == NULL || ref->siglen > sizeof(buf) || dlen < 0) {
		ERR_raise(ERR_LIB_EC, ERR_R_PASSED_INVALID_ARGUMENT);
		return NULL;
	}
	n = ref->siglen;
	rv = hsm_sign_key(ref->h, ref->ent, CKM_ECDSA, dgst, (size_t)dlen, buf, &n);
	if (rv != CKR_OK) {
		sign_error(ERR_LIB_EC, rv);
		return NULL;
	}
	half = n / 2;
	br = BN_bin2bn(buf, (int)half, NULL);
	bs = BN_bin2bn(buf + half, (int)half, NULL);
	sig = ECDSA_SIG_new();
	if (br == NULL || bs == NULL || sig == NULL || !ECDSA_SIG_set0(sig, br, bs)) {
		BN_free(br);
		BN_free(bs);
		ECDSA_SIG_free(sig);
		ERR_raise(ERR_LIB_EC, ERR_R_MALLOC_FAILURE);
		return NULL;
	}
	return sig;
}

/* ECDSA_sign's entry: DER ECDSA-Sig-Value into sig (ECDSA_size bytes). */
static int ec_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig,
		   unsigned int *siglen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *ec)
{
	ECDSA_SIG *s = ec_sign_sig(dgst, dlen, kinv, r, ec);
	unsigned char *p = sig;
	int n;

	(void)type;
	*siglen = 0;
	if (s == NULL)
		return 0;
	n = i2d_ECDSA_SIG(s, &p);
	ECDSA_SIG_free(s);
	if (n <= 0)
		return 0;
	*siglen = (unsigned int)n;
	return 1;
}

/*
 * RSA_sign (reached from the legacy EVP path) builds the DigestInfo itself and
 * hands it here with RSA_PKCS1_PADDING: that is CKM_RSA_PKCS. RSA_NO_PADDING
 * (PSS, padded by OpenSSL) maps to CKM_RSA_X_509.
 */
static int rsa_priv_enc(int flen, const unsigned char *from, unsigned char *to, RSA *rsa,
			int padding)
{
	const hsm_keyref_t *ref = RSA_get_ex_data(rsa, g_rsa_idx);
	CK_MECHANISM_TYPE mech;
	size_t n;
	CK_RV rv;

	if (padding == RSA_PKCS1_PADDING) {
		mech = CKM_RSA_PKCS;
	} else if (padding == RSA_NO_PADDING) {
		mech = CKM_RSA_X_509;
	} else {
		ERR_raise(ERR_LIB_RSA, RSA_R_UNKNOWN_PADDING_TYPE);
		return -1;
	}
	if (ref == NULL || flen < 0) {
		ERR_raise(ERR_LIB_RSA, ERR_R_PASSED_INVALID_ARGUMENT);
		return -1;
	}
	n = ref->siglen;
	rv = hsm_sign_key(ref->h, ref->ent, mech, from, (size_t)flen, to, &n);
	if (rv != CKR_OK) {
		sign_error(ERR_LIB_RSA, rv);
		return -1;
	}
	return (int)n;
}

/* The token key never decrypts; refuse instead of running with no private exponent. */
static int rsa_priv_dec(int flen, const unsigned char *from, unsigned char *to, RSA *rsa,
			int padding)
{
	(void)flen;
	(void)from;
	(void)to;
	(void)rsa;
	(void)padding;
	ERR_raise(ERR_LIB_RSA, ERR_R_OPERATION_FAIL);
	return -1;
}

static void methods_init(void)
{
	g_ec_idx = EC_KEY_get_ex_new_index(0, NULL, NULL, keyref_dup, keyref_free);
	g_rsa_idx = RSA_get_ex_new_index(0, NULL, NULL, keyref_dup, keyref_free);
	g_ec_meth = EC_KEY_METHOD_new(EC_KEY_OpenSSL());
	if (g_ec_meth != NULL)
		EC_KEY_METHOD_set_sign(g_ec_meth, ec_sign, NULL, ec_sign_sig);
	g_rsa_meth = RSA_meth_dup(RSA_PKCS1_OpenSSL());
	if (g_rsa_meth != NULL &&
	    (!RSA_meth_set1_name(g_rsa_meth, "cairn PKCS#11") ||
	     !RSA_meth_set_priv_enc(g_rsa_meth, rsa_priv_enc) ||
	     !RSA_meth_set_priv_dec(g_rsa_meth, rsa_priv_dec))) {
		RSA_meth_free(g_rsa_meth);
		g_rsa_meth = NULL;
	}
}

/* The EC_KEY with the token method; takes ownership of ref on success. */
static EVP_PKEY *ec_pkey(const hsm_pub_t *p, hsm_keyref_t *ref)
{
	EC_KEY *ec = EC_KEY_new_by_curve_name(p->nid);
	EVP_PKEY *pkey = NULL;

	/* The method goes on before EVP_PKEY_assign so the key counts as foreign. */
	if (ec == NULL || !EC_KEY_set_method(ec, g_ec_meth) ||
	    !EC_KEY_oct2key(ec, p->point, p->point_len, NULL) ||
	    !EC_KEY_set_ex_data(ec, g_ec_idx, ref))
		goto fail;
	pkey = EVP_PKEY_new();
	if (pkey == NULL || !EVP_PKEY_assign_EC_KEY(pkey, ec))
		goto fail;
	return pkey;
fail:
	if (ec != NULL)
		EC_KEY_set_ex_data(ec, g_ec_idx, NULL); /* ref stays the caller's */
	EVP_PKEY_free(pkey);
	EC_KEY_free(ec);
	return NULL;
}

static EVP_PKEY *rsa_pkey(const hsm_pub_t *p, hsm_keyref_t *ref)
{
	RSA *rsa = RSA_new();
	BIGNUM *n = BN_bin2bn(p->n, (int)p->n_len, NULL);
	BIGNUM *e = BN_bin2bn(p->e, (int)p->e_len, NULL);
	EVP_PKEY *pkey = NULL;

	if (rsa == NULL || n == NULL || e == NULL || !RSA_set_method(rsa, g_rsa_meth) ||
	    !RSA_set0_key(rsa, n, e, NULL))
		goto fail;
	n = e = NULL;
	if (!RSA_set_ex_data(rsa, g_rsa_idx, ref))
		goto fail;
	pkey = EVP_PKEY_new();
	if (pkey == NULL || !EVP_PKEY_assign_RSA(pkey, rsa))
		goto fail;
	return pkey;
fail:
	if (rsa != NULL)
		RSA_set_ex_data(rsa, g_rsa_idx, NULL); /* ref stays the caller's */
	EVP_PKEY_free(pkey);
	RSA_free(rsa);
	BN_free(n);
	BN_free(e);
	return NULL;
}

/* hsm_key_get on the calling thread. */
static int key_get_now(hsm_t *h, const char *label, EVP_PKEY **key, cairn_err_t *err)
{
	const hsm_key_ent_t *k;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE pub;
	hsm_keyref_t *ref = NULL;
	hsm_pub_t p = { 0 };
	int ret;
	CK_RV rv;

	if (key != NULL)
		*key = NULL;
	if (key == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "key get: no output");
	ret = hsm_key_lookup(h, label, &k, err);
	if (ret != 0)
		return ret;
	pthread_once(&g_once, methods_init);
	if (g_ec_idx < 0 || g_rsa_idx < 0 || g_ec_meth == NULL || g_rsa_meth == NULL)
		return cairn_err_ssl(err, CAIRN_ECRYPTO, "key get: cannot set up key methods");

	rv = hsm_session_take(h, &s);
	if (rv != CKR_OK)
		return cairn_err_set(err, CAIRN_EPKCS11, "C_OpenSession: %s (0x%lx)",
				     hsm_ckr_name(rv), (unsigned long)rv);
	ret = hsm_pub_find(h, s, key_handle(&k->priv), label, &pub, err);
	if (ret == 0)
		ret = hsm_pub_read(h, s, pub, &p, err);
	hsm_session_give(h, s, ret == CAIRN_EPKCS11);
	if (ret != 0)
		goto out;
	if (p.ktype != k->ktype) {
		ret = cairn_err_set(err, CAIRN_EKEY, "public key of \"%s\" has another type", label);
		goto out;
	}

	ref = malloc(sizeof(*ref));
	if (ref == NULL) {
		ret = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	*ref = (hsm_keyref_t){ .h = h, .ent = k, .siglen = k->siglen };
	*key = p.ktype == CKK_EC ? ec_pkey(&p, ref) : rsa_pkey(&p, ref);
	if (*key == NULL) {
		ret = cairn_err_ssl(err, CAIRN_ECRYPTO, "building the token key \"%s\"", label);
		goto out;
	}
	ref = NULL; /* owned by the key's ex_data now */
	ret = 0;
out:
	free(ref);
	hsm_pub_clear(&p);
	return ret;
}

static int key_get(hsm_t *h, const char *label, int unused, void **key, cairn_err_t *err)
{
	EVP_PKEY *k = NULL;
	int rc = key_get_now(h, label, &k, err);

	(void)unused;
	*key = k;
	return rc;
}

void hsm_pkey_free(void *key)
{
	EVP_PKEY_free(key);
}

int hsm_key_get(hsm_t *h, const char *label, EVP_PKEY **key, cairn_err_t *err)
{
	void *k = NULL;
	int rc;

	if (key != NULL)
		*key = NULL;
	if (h == NULL || label == NULL || key == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "key get: missing handle, label or output");
	rc = hsm_key_call(h, key_get, label, 0, &k, hsm_pkey_free, "key", err);
	*key = k;
	return rc;
}
