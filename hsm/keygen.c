/* SPDX-License-Identifier: MIT */
/* Key generation inside the token, and reading a token key's public half into OpenSSL. */
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>

#include "hsm/hsm_int.h"

int hsm_ec_nid(const uint8_t *params, size_t len)
{
	const unsigned char *p = params;
	ASN1_OBJECT *obj = d2i_ASN1_OBJECT(NULL, &p, (long)len);
	int nid = obj != NULL ? OBJ_obj2nid(obj) : NID_undef;

	ASN1_OBJECT_free(obj);
	return nid;
}

size_t hsm_ec_field_bytes(int nid)
{
	switch (nid) {
	case NID_X9_62_prime256v1:
		return 32;
	case NID_secp384r1:
		return 48;
	default:
		return 0;
	}
}

void hsm_pub_clear(hsm_pub_t *p)
{
	free(p->point);
	free(p->n);
	free(p->e);
	memset(p, 0, sizeof(*p));
}

/* CKA_EC_POINT is a DER OCTET STRING around the point; some modules give it bare. */
static int ec_point_unwrap(hsm_pub_t *p, uint8_t *raw, size_t len)
{
	const unsigned char *q = raw;
	ASN1_OCTET_STRING *os = d2i_ASN1_OCTET_STRING(NULL, &q, (long)len);
	size_t want = 2 * hsm_ec_field_bytes(p->nid) + 1;

	if (os != NULL && (size_t)ASN1_STRING_length(os) == want) {
		p->point = malloc(want);
		if (p->point != NULL)
			memcpy(p->point, ASN1_STRING_get0_data(os), want);
	} else if (len == want && raw[0] == 0x04) {
		p->point = malloc(want);
		if (p->point != NULL)
			memcpy(p->point, raw, want);
	} else {
		ASN1_OCTET_STRING_free(os);
		return CAIRN_EKEYTYPE;
	}
	ASN1_OCTET_STRING_free(os);
	if (p->point == NULL)
		return CAIRN_ENOMEM;
	p->point_len = want;
	return 0;
}

int hsm_pub_read(hsm_t *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub, hsm_pub_t *out,
		 cairn_err_t *err)
{
	CK_ATTRIBUTE a = { CKA_KEY_TYPE, &out->ktype, sizeof(out->ktype) };
	uint8_t *buf = NULL;
	size_t len;
	CK_RV rv;
	int ret;

	memset(out, 0, sizeof(*out));
	rv = h->fl->C_GetAttributeValue(s, pub, &a, 1);
	if (rv != CKR_OK)
		goto fail;
	if (out->ktype == CKK_EC) {
		rv = hsm_attr_alloc(h, s, pub, CKA_EC_PARAMS, &buf, &len);
		if (rv != CKR_OK)
			goto fail;
		out->nid = hsm_ec_nid(buf, len);
		free(buf);
		buf = NULL;
		if (hsm_ec_field_bytes(out->nid) == 0) {
			ret = cairn_err_set(err, CAIRN_EKEYTYPE, "unsupported EC curve in token");
			goto out;
		}
		rv = hsm_attr_alloc(h, s, pub, CKA_EC_POINT, &buf, &len);
		if (rv != CKR_OK)
			goto fail;
		ret = ec_point_unwrap(out, buf, len);
		if (ret != 0)
			cairn_err_set(err, ret, "malformed CKA_EC_POINT in token");
		goto out;
	}
	if (out->ktype == CKK_RSA) {
		rv = hsm_attr_alloc(h, s, pub, CKA_MODULUS, &out->n, &out->n_len);
		if (rv == CKR_OK)
			rv = hsm_attr_alloc(h, s, pub, CKA_PUBLIC_EXPONENT, &out->e, &out->e_len);
		if (rv != CKR_OK)
			goto fail;
		ret = 0;
		goto out;
	}
	ret = cairn_err_set(err, CAIRN_EKEYTYPE, "unsupported key type 0x%lx in token",
			    (unsigned long)out->ktype);
	goto out;
fail:
	ret = cairn_err_set(err, CAIRN_EPKCS11, "reading public key: %s (0x%lx)", hsm_ckr_name(rv),
			    (unsigned long)rv);
out:
	free(buf);
	if (ret != 0)
		hsm_pub_clear(out);
	return ret;
}

int hsm_pub_to_evp(const hsm_pub_t *p, EVP_PKEY **out, cairn_err_t *err)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *n = NULL, *e = NULL;
	int ret = CAIRN_ECRYPTO, ok;

	*out = NULL;
	if (bld == NULL)
		goto fail;
	if (p->ktype == CKK_EC) {
		ok = OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
						     OBJ_nid2sn(p->nid), 0) &&
		     OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, p->point,
						      p->point_len);
	} else {
		n = BN_bin2bn(p->n, (int)p->n_len, NULL);
		e = BN_bin2bn(p->e, (int)p->e_len, NULL);
		ok = n != NULL && e != NULL &&
		     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
		     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
	}
	if (!ok || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto fail;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, p->ktype == CKK_EC ? "EC" : "RSA", NULL);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto fail;
	ret = 0;
	goto out;
fail:
	cairn_err_ssl(err, ret, "building the public key");
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return ret;
}

int hsm_pub_find(hsm_t *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv, const char *label,
		 CK_OBJECT_HANDLE *pub, cairn_err_t *err)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE tmpl[2] = { { CKA_CLASS, &cls, sizeof(cls) } };
	uint8_t *id = NULL;
	size_t id_len = 0;
	CK_ULONG n = 0;
	CK_RV rv;

	/* Prefer the CKA_ID link; fall back to the label for keys made elsewhere. */
	if (hsm_attr_alloc(h, s, priv, CKA_ID, &id, &id_len) == CKR_OK) {
		tmpl[1] = (CK_ATTRIBUTE){ CKA_ID, id, id_len };
		rv = hsm_find(h, s, tmpl, 2, pub, 1, &n);
		free(id);
		if (rv != CKR_OK)
			goto fail;
	}
	if (n == 0) {
		tmpl[1] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
		rv = hsm_find(h, s, tmpl, 2, pub, 1, &n);
		if (rv != CKR_OK)
			goto fail;
	}
	if (n == 0)
		return cairn_err_set(err, CAIRN_EKEY, "no public key object for \"%s\"", label);
	return 0;
fail:
	return cairn_err_set(err, CAIRN_EPKCS11, "finding public key of \"%s\": %s (0x%lx)", label,
			     hsm_ckr_name(rv), (unsigned long)rv);
}

/* Sets *taken when a key object (public or private) with that label exists. */
static CK_RV label_taken(hsm_t *h, CK_SESSION_HANDLE s, const char *label, int *taken)
{
	static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY, CKO_PUBLIC_KEY };
	CK_OBJECT_HANDLE o;
	CK_ULONG n = 0;
	size_t i;
	CK_RV rv = CKR_OK;

	*taken = 0;
	for (i = 0; i < 2 && rv == CKR_OK && n == 0; i++) {
		CK_ATTRIBUTE tmpl[] = {
			{ CKA_CLASS, (void *)&classes[i], sizeof(classes[i]) },
			{ CKA_LABEL, (void *)label, strlen(label) },
		};
		rv = hsm_find(h, s, tmpl, 2, &o, 1, &n);
	}
	*taken = n > 0;
	return rv;
}

/* CKA_ID = SHA-1 of the public point (EC) or modulus (RSA), set on both halves. */
static CK_RV set_id(hsm_t *h, CK_SESSION_HANDLE s, const hsm_pub_t *p, CK_OBJECT_HANDLE pub,
		    CK_OBJECT_HANDLE priv)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	CK_ATTRIBUTE a = { CKA_ID, md, 0 };
	CK_RV rv;

	if (p->ktype == CKK_EC ? !EVP_Digest(p->point, p->point_len, md, &mdlen, EVP_sha1(), NULL)
			       : !EVP_Digest(p->n, p->n_len, md, &mdlen, EVP_sha1(), NULL))
		return CKR_FUNCTION_FAILED;
	a.ulValueLen = mdlen;
	rv = h->fl->C_SetAttributeValue(s, pub, &a, 1);
	if (rv == CKR_OK)
		rv = h->fl->C_SetAttributeValue(s, priv, &a, 1);
	return rv;
}

/* hsm_keygen on the calling thread. */
static int keygen_now(hsm_t *h, hsm_key_type_t type, const char *label, EVP_PKEY **pub,
		      cairn_err_t *err)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits = 3072;
	CK_BYTE exponent[] = { 0x01, 0x00, 0x01 };
	CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pubt[6], privt[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },	  { CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },	  { CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_SIGN, &yes, sizeof(yes) },	  { CKA_DECRYPT, &no, sizeof(no) },
		{ CKA_UNWRAP, &no, sizeof(no) },	  { CKA_DERIVE, &no, sizeof(no) },
		{ CKA_LABEL, (void *)label, label != NULL ? strlen(label) : 0 },
	};
	CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	unsigned char *params = NULL;
	hsm_pub_t p = { 0 };
	CK_ULONG npub = 0;
	const char *step = "C_OpenSession";
	int ret, taken, nid, len;
	CK_RV rv = CKR_OK;

	if (pub != NULL)
		*pub = NULL;
	if (h == NULL || label == NULL || label[0] == '\0')
		return cairn_err_set(err, CAIRN_EINVAL, "keygen: missing handle or label");

	pubt[npub++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
	pubt[npub++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &no, sizeof(no) };
	pubt[npub++] = (CK_ATTRIBUTE){ CKA_VERIFY, &yes, sizeof(yes) };
	pubt[npub++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
	switch (type) {
	case HSM_KEY_EC_P256:
	case HSM_KEY_EC_P384:
		nid = type == HSM_KEY_EC_P256 ? NID_X9_62_prime256v1 : NID_secp384r1;
		len = i2d_ASN1_OBJECT(OBJ_nid2obj(nid), &params);
		if (len <= 0)
			return cairn_err_ssl(err, CAIRN_ECRYPTO, "encoding the curve OID");
		pubt[npub++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, params, (CK_ULONG)len };
		break;
	case HSM_KEY_RSA_3072:
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		pubt[npub++] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits, sizeof(bits) };
		pubt[npub++] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent) };
		break;
	default:
		return cairn_err_set(err, CAIRN_EINVAL, "keygen: unknown key type %d", (int)type);
	}

	pthread_mutex_lock(&h->keygen_lock);
	rv = hsm_session_take(h, &s);
	if (rv != CKR_OK) {
		s = CK_INVALID_HANDLE;
		goto fail;
	}
	step = "C_FindObjects";
	rv = label_taken(h, s, label, &taken);
	if (rv != CKR_OK)
		goto fail;
	if (taken) {
		ret = cairn_err_set(err, CAIRN_EEXIST, "a key labelled \"%s\" exists", label);
		goto out;
	}
	step = "C_GenerateKeyPair";
	rv = h->fl->C_GenerateKeyPair(s, &mech, pubt, npub, privt, sizeof(privt) / sizeof(privt[0]),
				      &hpub, &hpriv);
	if (rv != CKR_OK)
		goto fail;
	ret = hsm_pub_read(h, s, hpub, &p, err);
	if (ret != 0)
		goto out;
	step = "C_SetAttributeValue(CKA_ID)";
	rv = set_id(h, s, &p, hpub, hpriv);
	if (rv != CKR_OK)
		goto fail;
	if (pub != NULL) {
		ret = hsm_pub_to_evp(&p, pub, err);
		if (ret != 0)
			goto out;
	}
	ret = 0;
	goto out;
fail:
	ret = cairn_err_set(err, CAIRN_EPKCS11, "keygen \"%s\": %s: %s (0x%lx)", label, step,
			    hsm_ckr_name(rv), (unsigned long)rv);
out:
	if (ret != 0 && s != CK_INVALID_HANDLE) { /* leave no half-made key behind */
		if (hpriv != CK_INVALID_HANDLE)
			h->fl->C_DestroyObject(s, hpriv);
		if (hpub != CK_INVALID_HANDLE)
			h->fl->C_DestroyObject(s, hpub);
	}
	if (s != CK_INVALID_HANDLE)
		hsm_session_give(h, s, rv != CKR_OK);
	pthread_mutex_unlock(&h->keygen_lock);
	hsm_pub_clear(&p);
	OPENSSL_free(params);
	return ret;
}

static int keygen_key(hsm_t *h, const char *label, int type, void **pub, cairn_err_t *err)
{
	EVP_PKEY *k = NULL;
	int rc = keygen_now(h, (hsm_key_type_t)type, label, pub != NULL ? &k : NULL, err);

	if (pub != NULL)
		*pub = k;
	return rc;
}

int hsm_keygen(hsm_t *h, hsm_key_type_t type, const char *label, EVP_PKEY **pub,
	       cairn_err_t *err)
{
	void *k = NULL;
	int rc;

	if (pub != NULL)
		*pub = NULL;
	if (h == NULL || label == NULL || label[0] == '\0')
		return cairn_err_set(err, CAIRN_EINVAL, "keygen: missing handle or label");
	rc = hsm_key_call(h, keygen_key, label, (int)type, pub != NULL ? &k : NULL,
			  hsm_pkey_free, "keygen", err);
	if (pub != NULL)
		*pub = k;
	return rc;
}
