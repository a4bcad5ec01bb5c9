/* SPDX-License-Identifier: MIT */
/* The session pool and what runs on it: object search, key lookup, raw signing, key checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/objects.h>
#include <openssl/x509.h>

#include "hsm/hsm_int.h"

CK_RV hsm_session_take(hsm_t *h, CK_SESSION_HANDLE *s)
{
	CK_RV rv;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		if (h->nfree > 0) {
			*s = h->free_s[--h->nfree];
			pthread_mutex_unlock(&h->lock);
			return CKR_OK;
		}
		if (h->nopen < HSM_POOL_MAX)
			break;
		pthread_cond_wait(&h->cond, &h->lock);
	}
	h->nopen++; /* reserve the slot, open outside the lock */
	pthread_mutex_unlock(&h->lock);

	rv = h->fl->C_OpenSession(h->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, s);
	if (rv != CKR_OK) {
		pthread_mutex_lock(&h->lock);
		h->nopen--;
		pthread_cond_signal(&h->cond);
		pthread_mutex_unlock(&h->lock);
	}
	return rv;
}

void hsm_session_give(hsm_t *h, CK_SESSION_HANDLE s, int bad)
{
	/* A session that saw an error may hold a half-finished operation: drop it. */
	if (bad)
		h->fl->C_CloseSession(s);
	pthread_mutex_lock(&h->lock);
	if (bad)
		h->nopen--;
	else
		h->free_s[h->nfree++] = s;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

void hsm_pool_close_idle(hsm_t *h)
{
	pthread_mutex_lock(&h->lock);
	while (h->nfree > 0) {
		h->fl->C_CloseSession(h->free_s[--h->nfree]);
		h->nopen--;
	}
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

CK_RV hsm_attr_alloc(hsm_t *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
		     uint8_t **out, size_t *len)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_RV rv;

	*out = NULL;
	*len = 0;
	rv = h->fl->C_GetAttributeValue(s, o, &a, 1);
	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen == 0)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	a.pValue = malloc(a.ulValueLen);
	if (a.pValue == NULL)
		return CKR_HOST_MEMORY;
	rv = h->fl->C_GetAttributeValue(s, o, &a, 1);
	if (rv != CKR_OK) {
		free(a.pValue);
		return rv;
	}
	*out = a.pValue;
	*len = a.ulValueLen;
	return CKR_OK;
}

CK_RV hsm_find(hsm_t *h, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG ntmpl,
	       CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *n)
{
	CK_RV rv, rv2;

	*n = 0;
	rv = h->fl->C_FindObjectsInit(s, tmpl, ntmpl);
	if (rv != CKR_OK)
		return rv;
	rv = h->fl->C_FindObjects(s, objs, max, n);
	rv2 = h->fl->C_FindObjectsFinal(s);
	return rv != CKR_OK ? rv : rv2;
}

/* Reads type and signature size of a private key. */
static CK_RV key_describe(hsm_t *h, CK_SESSION_HANDLE s, hsm_key_ent_t *k)
{
	CK_ATTRIBUTE a = { CKA_KEY_TYPE, &k->ktype, sizeof(k->ktype) };
	uint8_t *buf = NULL;
	size_t len;
	CK_RV rv;

	rv = h->fl->C_GetAttributeValue(s, k->priv, &a, 1);
	if (rv != CKR_OK)
		return rv;
	if (k->ktype == CKK_EC) {
		rv = hsm_attr_alloc(h, s, k->priv, CKA_EC_PARAMS, &buf, &len);
		if (rv == CKR_OK)
			k->siglen = 2 * hsm_ec_field_bytes(hsm_ec_nid(buf, len));
	} else if (k->ktype == CKK_RSA) {
		rv = hsm_attr_alloc(h, s, k->priv, CKA_MODULUS, &buf, &len);
		while (rv == CKR_OK && len > 0 && buf[0] == 0) { /* tolerate leading zeros */
			memmove(buf, buf + 1, --len);
		}
		k->siglen = len;
	}
	free(buf);
	return rv;
}

/* The cached entry for label, or NULL. */
static hsm_key_ent_t *key_cached(hsm_t *h, const char *label)
{
	hsm_key_ent_t *it;

	pthread_mutex_lock(&h->lock);
	for (it = h->keys; it != NULL && strcmp(it->label, label) != 0; it = it->next)
		;
	pthread_mutex_unlock(&h->lock);
	return it;
}

/* CKA_SENSITIVE and CKA_EXTRACTABLE of o; 0 or -1. */
static int key_guard(hsm_t *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_BBOOL v[2])
{
	CK_ATTRIBUTE a[] = {
		{ CKA_SENSITIVE, &v[0], sizeof(v[0]) },
		{ CKA_EXTRACTABLE, &v[1], sizeof(v[1]) },
	};

	return h->fl->C_GetAttributeValue(s, o, a, 2) == CKR_OK ? 0 : -1;
}

/*
 * The object C_SignInit gets: a session copy of the token key, made in the keeper
 * session. SoftHSM2 (file store) re-reads a token object's generation file before
 * its attribute reads: two open/fcntl/read/close rounds in every C_SignInit, under
 * its object lock; a session object has no file (bench/README.md has the figures).
 * The copy stays private, and it is used only when it is as sensitive and as
 * unextractable as the token key (PKCS#11 lets a copy tighten those, never relax
 * them; we check rather than trust). It dies with the keeper session at hsm_close.
 * A token that refuses the copy signs with the token object, as before.
 */
static CK_OBJECT_HANDLE key_sign_obj(hsm_t *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv)
{
	CK_BBOOL no = CK_FALSE, yes = CK_TRUE, orig[2], copied[2];
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
	};
	CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;

	if (!h->have_keeper || key_guard(h, s, priv, orig) != 0 ||
	    h->fl->C_CopyObject(h->keeper, priv, tmpl, 2, &copy) != CKR_OK ||
	    copy == CK_INVALID_HANDLE)
		return priv;
	if (key_guard(h, h->keeper, copy, copied) != 0 ||
	    (orig[0] == CK_TRUE && copied[0] != CK_TRUE) ||
	    (orig[1] == CK_FALSE && copied[1] != CK_FALSE)) {
		h->fl->C_DestroyObject(h->keeper, copy);
		return priv;
	}
	return copy;
}

/* The token's private key labelled label (not one of our session copies): *n of them. */
static CK_RV key_find(hsm_t *h, CK_SESSION_HANDLE s, const char *label, CK_OBJECT_HANDLE *priv,
		      CK_ULONG *n)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
	};

	return hsm_find(h, s, tmpl, 3, priv, 1, n);
}

/* hsm_key_lookup of a label not in the cache, on the calling thread. */
static int lookup_now(hsm_t *h, const char *label, int unused, void **ent, cairn_err_t *err)
{
	CK_SESSION_HANDLE s;
	CK_ULONG n = 0;
	hsm_key_ent_t *k = NULL, *it;
	int ret;
	CK_RV rv;

	(void)unused;
	/* One lookup at a time: no two copies of one key, and the keeper session (which
	 * PKCS#11 lets only one thread use at a time) used by one thread. */
	pthread_mutex_lock(&h->lookup_lock);
	if ((it = key_cached(h, label)) != NULL) {
		*ent = it;
		ret = 0;
		goto out;
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL || (k->label = strdup(label)) == NULL) {
		ret = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	rv = hsm_session_take(h, &s);
	if (rv != CKR_OK) {
		ret = cairn_err_set(err, CAIRN_EPKCS11, "C_OpenSession: %s (0x%lx)",
				    hsm_ckr_name(rv), (unsigned long)rv);
		goto out;
	}
	rv = key_find(h, s, label, &k->priv, &n);
	if (rv == CKR_OK && n == 1)
		rv = key_describe(h, s, k);
	if (rv == CKR_OK && n == 1 && k->siglen != 0) /* no copy of a key refused below */
		k->sign_obj = key_sign_obj(h, s, k->priv);
	hsm_session_give(h, s, rv != CKR_OK);
	if (rv != CKR_OK) {
		ret = cairn_err_set(err, CAIRN_EPKCS11, "key \"%s\": %s (0x%lx)", label,
				    hsm_ckr_name(rv), (unsigned long)rv);
		goto out;
	}
	if (n == 0) {
		ret = cairn_err_set(err, CAIRN_EKEY, "no private key labelled \"%s\"", label);
		goto out;
	}
	if (k->siglen == 0) {
		ret = cairn_err_set(err, CAIRN_EKEYTYPE, "key \"%s\" has an unsupported type",
				    label);
		goto out;
	}

	pthread_mutex_lock(&h->lock);
	k->next = h->keys;
	h->keys = k;
	pthread_mutex_unlock(&h->lock);
	*ent = k;
	k = NULL;
	ret = 0;
out:
	pthread_mutex_unlock(&h->lookup_lock);
	if (k != NULL)
		free(k->label);
	free(k);
	return ret;
}

int hsm_key_lookup(hsm_t *h, const char *label, const hsm_key_ent_t **ent, cairn_err_t *err)
{
	hsm_key_ent_t *it;
	void *found = NULL;
	int ret;

	if (h == NULL || label == NULL || ent == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "key lookup: missing handle or label");
	if ((it = key_cached(h, label)) != NULL) {
		*ent = it;
		return 0;
	}
	/* An entry is kept for the handle's life: nothing to free when the caller is gone. */
	ret = hsm_key_call(h, lookup_now, label, 0, &found, NULL, "key", err);
	if (ret == 0)
		*ent = found;
	return ret;
}

/* What the calling thread's latest token call came to (hsm_sign_failure). */
static __thread char sign_why[HSM_WHY_MAX];

const char *hsm_sign_why_get(void)
{
	return sign_why;
}

void hsm_sign_why_set(const char *why)
{
	snprintf(sign_why, sizeof(sign_why), "%s", why);
}

void hsm_sign_failed(hsm_t *h, const char *why)
{
	hsm_sign_why_set(why);
	pthread_mutex_lock(&h->fail_lock);
	util_failrun_fail(&h->sign_fail, (int64_t)time(NULL), why);
	atomic_store(&h->sign_failing, 1);
	pthread_mutex_unlock(&h->fail_lock);
}

/* Counts a signature's outcome: a failure starts or extends the token's run of them
 * (/healthz), a success after failures ends it. */
static void sign_outcome(hsm_t *h, const char *step, CK_RV rv)
{
	char why[HSM_WHY_MAX];

	if (rv == CKR_OK) {
		sign_why[0] = '\0';
		atomic_fetch_add_explicit(&h->signatures, 1, memory_order_relaxed);
		if (atomic_load_explicit(&h->sign_failing, memory_order_relaxed)) {
			pthread_mutex_lock(&h->fail_lock);
			util_failrun_ok(&h->sign_fail);
			atomic_store(&h->sign_failing, 0);
			pthread_mutex_unlock(&h->fail_lock);
		}
		return;
	}
	snprintf(why, sizeof(why), "%s: %s (0x%lx)", step, hsm_ckr_name(rv), (unsigned long)rv);
	hsm_sign_failed(h, why);
}

CK_RV hsm_sign_mech(hsm_t *h, CK_OBJECT_HANDLE key, CK_MECHANISM_TYPE mech, const uint8_t *in,
		    size_t inlen, uint8_t *out, size_t *outlen)
{
	CK_MECHANISM m = { mech, NULL, 0 };
	CK_SESSION_HANDLE s;
	CK_ULONG n = *outlen;
	const char *step = "C_OpenSession";
	CK_RV rv;

	rv = hsm_session_take(h, &s);
	if (rv == CKR_OK) {
		step = "C_SignInit";
		rv = h->fl->C_SignInit(s, &m, key);
		if (rv == CKR_OK) {
			step = "C_Sign";
			rv = h->fl->C_Sign(s, (CK_BYTE_PTR)in, inlen, out, &n);
		}
		hsm_session_give(h, s, rv != CKR_OK);
	}
	sign_outcome(h, step, rv);
	*outlen = n;
	return rv;
}

/* The token answers, but has forgot the daemon: its sessions, its login or its objects
 * (a token still away, CKR_DEVICE_REMOVED and the like, is not: nothing to log in to). */
static int forgotten(CK_RV rv)
{
	return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
	       rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_KEY_HANDLE_INVALID ||
	       rv == CKR_OBJECT_HANDLE_INVALID;
}

/* A session that died with the token's reset (relogin takes another). */
static int relogin_retry(CK_RV rv)
{
	return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED;
}

/*
 * Logs the daemon in again after the token forgot it (an HSM reset): the idle sessions
 * are closed, a new one logs in (a login holds for every session of the process), then
 * the keeper session and the session copies of the keys are made anew and the entries'
 * handles replaced. Nothing is changed unless the login succeeds (a token still away
 * keeps what it had). One attempt per HSM_RELOGIN_MS: a caller within that time of the
 * last one gets its result. Returns 0 when the caller may sign again, else -1.
 */
static int relogin(hsm_t *h)
{
	uint64_t now = time_mono_ms();
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE priv;
	CK_ULONG n;
	hsm_key_ent_t *k;
	int tries, held = 0;
	CK_RV rv;

	pthread_mutex_lock(&h->relogin_lock);
	if (h->relogin_at != 0 && now < h->relogin_at + HSM_RELOGIN_MS) {
		rv = h->relogin_ok ? CKR_OK : CKR_GENERAL_ERROR;
		goto out;
	}
	h->relogin_at = now;
	hsm_pool_close_idle(h);
	pthread_mutex_lock(&h->lookup_lock); /* the keeper session and the entries */
	/* A session that signed just before the reset may have come back to the pool since
	 * it was emptied: a dead one is dropped and another taken. */
	for (tries = 0; tries < 4; tries++) {
		if ((rv = hsm_session_take(h, &s)) != CKR_OK)
			break;
		held = 1;
		rv = h->fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)h->pin, strlen(h->pin));
		if (rv == CKR_USER_ALREADY_LOGGED_IN)
			rv = CKR_OK;
		if (!relogin_retry(rv))
			break;
		hsm_session_give(h, s, 1);
		held = 0;
	}
	if (rv == CKR_OK) {
		if (h->have_keeper)
			h->fl->C_CloseSession(h->keeper); /* its copies, if still there */
		h->have_keeper = h->fl->C_OpenSession(h->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
						      NULL, NULL, &h->keeper) == CKR_OK;
	}
	for (k = h->keys; rv == CKR_OK && k != NULL; k = k->next) {
		rv = key_find(h, s, k->label, &priv, &n);
		if (rv == CKR_OK && n != 1)
			rv = CKR_KEY_HANDLE_INVALID; /* the key is gone: nothing to sign with */
		if (rv == CKR_OK) {
			__atomic_store_n(&k->priv, priv, __ATOMIC_RELEASE);
			__atomic_store_n(&k->sign_obj, key_sign_obj(h, s, priv), __ATOMIC_RELEASE);
		}
	}
	if (held)
		hsm_session_give(h, s, rv != CKR_OK);
	pthread_mutex_unlock(&h->lookup_lock);
	h->relogin_ok = rv == CKR_OK;
	if (h->relogin_ok)
		atomic_fetch_add(&h->relogins, 1);
out:
	pthread_mutex_unlock(&h->relogin_lock);
	return rv == CKR_OK ? 0 : -1;
}

CK_RV hsm_sign_now(hsm_t *h, const hsm_key_ent_t *k, CK_MECHANISM_TYPE mech, const uint8_t *in,
		   size_t inlen, uint8_t *out, size_t *outlen)
{
	size_t cap = *outlen;
	CK_RV rv = hsm_sign_mech(h, key_handle(&k->sign_obj), mech, in, inlen, out, outlen);
	int tries;

	/* Again after the login, and once more if the session taken then was one that came
	 * back to the pool from before the reset. */
	for (tries = 0; rv != CKR_OK && forgotten(rv) && tries < 3 && relogin(h) == 0; tries++) {
		*outlen = cap;
		rv = hsm_sign_mech(h, key_handle(&k->sign_obj), mech, in, inlen, out, outlen);
	}
	return rv;
}

unsigned long hsm_relogins(const hsm_t *h)
{
	return atomic_load(&((hsm_t *)h)->relogins);
}

int hsm_sign_failure(char *why, size_t cap)
{
	if (sign_why[0] == '\0')
		return 0;
	if (why != NULL)
		snprintf(why, cap, "%s", sign_why);
	sign_why[0] = '\0';
	return 1;
}

void hsm_sign_state(hsm_t *h, util_failrun_t *out)
{
	pthread_mutex_lock(&h->fail_lock);
	*out = h->sign_fail;
	pthread_mutex_unlock(&h->fail_lock);
}

unsigned long hsm_signatures(const hsm_t *h)
{
	return atomic_load_explicit(&((hsm_t *)h)->signatures, memory_order_relaxed);
}

/* DER DigestInfo (PKCS#1 v1.5) of a digest whose length names the hash. */
static int digest_info(const uint8_t *d, size_t dlen, uint8_t **der, size_t *derlen)
{
	X509_SIG *sig = NULL;
	X509_ALGOR *alg;
	ASN1_OCTET_STRING *os;
	int nid, n, ret = CAIRN_EINVAL;

	switch (dlen) {
	case 32:
		nid = NID_sha256;
		break;
	case 48:
		nid = NID_sha384;
		break;
	case 64:
		nid = NID_sha512;
		break;
	default:
		return CAIRN_EINVAL;
	}
	ret = CAIRN_ENOMEM;
	sig = X509_SIG_new();
	if (sig == NULL)
		goto out;
	X509_SIG_getm(sig, &alg, &os);
	if (!X509_ALGOR_set0(alg, OBJ_nid2obj(nid), V_ASN1_NULL, NULL) ||
	    !ASN1_OCTET_STRING_set(os, d, (int)dlen))
		goto out;
	*der = NULL;
	n = i2d_X509_SIG(sig, der);
	if (n <= 0)
		goto out;
	*derlen = (size_t)n;
	ret = 0;
out:
	X509_SIG_free(sig);
	return ret;
}

int hsm_sign_raw(hsm_t *h, const char *label, const uint8_t *digest, size_t dlen, uint8_t *sig,
		 size_t *siglen, cairn_err_t *err)
{
	const hsm_key_ent_t *k;
	uint8_t *di = NULL;
	size_t dilen = 0;
	int ret;
	CK_RV rv;

	if (digest == NULL || sig == NULL || siglen == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "sign: missing digest or buffer");
	ret = hsm_key_lookup(h, label, &k, err);
	if (ret != 0)
		return ret;
	if (*siglen < k->siglen) {
		ret = cairn_err_set(err, CAIRN_EINVAL, "sign: buffer of %zu bytes, need %zu",
				    *siglen, k->siglen);
		*siglen = k->siglen;
		return ret;
	}
	if (k->ktype == CKK_RSA) {
		ret = digest_info(digest, dlen, &di, &dilen);
		if (ret != 0)
			return cairn_err_set(err, ret, "sign: no DigestInfo for a %zu-byte digest",
					     dlen);
		rv = hsm_sign_key(h, k, CKM_RSA_PKCS, di, dilen, sig, siglen);
		OPENSSL_free(di);
	} else {
		rv = hsm_sign_key(h, k, CKM_ECDSA, digest, dlen, sig, siglen);
	}
	if (rv != CKR_OK)
		return cairn_err_set(err, CAIRN_EPKCS11, "C_Sign with \"%s\": %s (0x%lx)", label,
				     hsm_ckr_name(rv), (unsigned long)rv);
	return 0;
}

int hsm_key_is_protected(hsm_t *h, const char *label)
{
	CK_BBOOL sens = CK_FALSE, extr = CK_TRUE, asens = CK_FALSE, nextr = CK_FALSE;
	CK_ATTRIBUTE a[] = {
		{ CKA_SENSITIVE, &sens, sizeof(sens) },
		{ CKA_EXTRACTABLE, &extr, sizeof(extr) },
		{ CKA_ALWAYS_SENSITIVE, &asens, sizeof(asens) },
		{ CKA_NEVER_EXTRACTABLE, &nextr, sizeof(nextr) },
	};
	const hsm_key_ent_t *k;
	CK_SESSION_HANDLE s;
	int ret;
	CK_RV rv;

	ret = hsm_key_lookup(h, label, &k, NULL);
	if (ret != 0)
		return ret;
	rv = hsm_session_take(h, &s);
	if (rv != CKR_OK)
		return CAIRN_EPKCS11;
	rv = h->fl->C_GetAttributeValue(s, key_handle(&k->priv), a, 4);
	hsm_session_give(h, s, rv != CKR_OK);
	if (rv != CKR_OK)
		return CAIRN_EPKCS11;
	return sens == CK_TRUE && extr == CK_FALSE && asens == CK_TRUE && nextr == CK_TRUE;
}
