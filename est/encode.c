/* SPDX-License-Identifier: MIT */
/* RFC 7030 bodies with OpenSSL: base64, certs-only CMS, CsrAttrs, server-side key generation. */
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "est/est_int.h"

int est_b64_encode(const uint8_t *in, size_t len, char **out, size_t *out_len)
{
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	/* 65 output bytes per 48 input bytes, plus the final block and NUL. */
	size_t cap = (len / 48 + 2) * 66 + 1;
	char *buf = malloc(cap);
	int n = 0, total = 0;

	if (ctx == NULL || buf == NULL || len > INT32_MAX / 2) {
		EVP_ENCODE_CTX_free(ctx);
		free(buf);
		return CAIRN_ENOMEM;
	}
	EVP_EncodeInit(ctx);
	if (!EVP_EncodeUpdate(ctx, (unsigned char *)buf, &n, in, (int)len)) {
		EVP_ENCODE_CTX_free(ctx);
		free(buf);
		return CAIRN_ENOMEM;
	}
	total = n;
	EVP_EncodeFinal(ctx, (unsigned char *)buf + total, &n);
	total += n;
	buf[total] = '\0';
	EVP_ENCODE_CTX_free(ctx);
	*out = buf;
	*out_len = (size_t)total;
	return 0;
}

int est_b64_decode(const char *in, size_t len, uint8_t **out, size_t *out_len)
{
	char *clean = malloc(len + 1);
	uint8_t *buf = NULL;
	size_t i, n = 0, pad = 0;
	int got;

	if (clean == NULL)
		return CAIRN_ENOMEM;
	for (i = 0; i < len; i++) {
		char c = in[i];
		if (c == '\r' || c == '\n' || c == ' ' || c == '\t')
			continue;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/' || c == '=') ||
		    (pad > 0 && c != '=')) {
			free(clean);
			return CAIRN_EINVAL;
		}
		if (c == '=')
			pad++;
		clean[n++] = c;
	}
	if (n == 0 || n % 4 != 0 || pad > 2) {
		free(clean);
		return CAIRN_EINVAL;
	}
	buf = malloc(n / 4 * 3 + 1);
	if (buf == NULL) {
		free(clean);
		return CAIRN_ENOMEM;
	}
	got = EVP_DecodeBlock(buf, (unsigned char *)clean, (int)n);
	free(clean);
	if (got < 0 || (size_t)got < pad) {
		free(buf);
		return CAIRN_EINVAL;
	}
	*out = buf;
	*out_len = (size_t)got - pad; /* DecodeBlock counts the padding as zero bytes */
	return 0;
}

int est_certs_only(X509 *const *certs, size_t n, uint8_t **der, size_t *len)
{
	PKCS7 *p7 = PKCS7_new();
	unsigned char *buf = NULL;
	int rc = CAIRN_ECRYPTO, dlen;
	size_t i;

	if (p7 == NULL || !PKCS7_set_type(p7, NID_pkcs7_signed) ||
	    !PKCS7_content_new(p7, NID_pkcs7_data))
		goto out;
	/* certs-only: encapsulated content type id-data with no content (RFC 5272 §3.2). */
	ASN1_OCTET_STRING_free(p7->d.sign->contents->d.data);
	p7->d.sign->contents->d.data = NULL;
	for (i = 0; i < n; i++)
		if (!PKCS7_add_certificate(p7, certs[i]))
			goto out;
	dlen = i2d_PKCS7(p7, &buf);
	if (dlen <= 0)
		goto out;
	*der = buf;
	*len = (size_t)dlen;
	rc = 0;
out:
	PKCS7_free(p7);
	return rc;
}

/* Appends an OBJECT IDENTIFIER element (by dotted text) to seq. */
static int push_oid(ASN1_SEQUENCE_ANY *seq, const char *oid)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	ASN1_TYPE *t = ASN1_TYPE_new();

	if (obj == NULL || t == NULL) {
		ASN1_OBJECT_free(obj);
		ASN1_TYPE_free(t);
		return CAIRN_ECRYPTO;
	}
	ASN1_TYPE_set(t, V_ASN1_OBJECT, obj);
	if (!sk_ASN1_TYPE_push(seq, t)) {
		ASN1_TYPE_free(t);
		return CAIRN_ENOMEM;
	}
	return 0;
}

/* Appends an Attribute { ecPublicKey, { curve } } telling which curve to use. */
static int push_curve_attr(ASN1_SEQUENCE_ANY *seq, int curve_nid)
{
	ASN1_OBJECT *curve = OBJ_nid2obj(curve_nid);
	X509_ATTRIBUTE *attr =
		X509_ATTRIBUTE_create(NID_X9_62_id_ecPublicKey, V_ASN1_OBJECT, OBJ_dup(curve));
	unsigned char *adr = NULL;
	ASN1_STRING *str = NULL;
	ASN1_TYPE *t = NULL;
	int n, rc = CAIRN_ECRYPTO;

	if (attr == NULL || (n = i2d_X509_ATTRIBUTE(attr, &adr)) <= 0)
		goto out;
	str = ASN1_STRING_type_new(V_ASN1_SEQUENCE);
	t = ASN1_TYPE_new();
	if (str == NULL || t == NULL || !ASN1_STRING_set(str, adr, n))
		goto out;
	ASN1_TYPE_set(t, V_ASN1_SEQUENCE, str);
	str = NULL;
	if (!sk_ASN1_TYPE_push(seq, t))
		goto out;
	t = NULL;
	rc = 0;
out:
	OPENSSL_free(adr);
	ASN1_STRING_free(str);
	ASN1_TYPE_free(t);
	X509_ATTRIBUTE_free(attr);
	return rc;
}

int est_csrattrs_der(const ca_profile_t *prof, int want_challenge, uint8_t **der, size_t *len)
{
	ASN1_SEQUENCE_ANY *seq = sk_ASN1_TYPE_new_null();
	unsigned char *buf = NULL;
	int rc = CAIRN_ENOMEM, n;
	size_t i;

	if (seq == NULL)
		goto out;
	if (want_challenge && (rc = push_oid(seq, "1.2.840.113549.1.9.7")) != 0)
		goto out;
	/* EC P-256 keys signed with ECDSA-SHA256, and the EKUs the profile gives. */
	if ((rc = push_curve_attr(seq, NID_X9_62_prime256v1)) != 0 ||
	    (rc = push_oid(seq, "1.2.840.10045.4.3.2")) != 0)
		goto out;
	for (i = 0; i < prof->n_eku; i++)
		if ((rc = push_oid(seq, prof->eku[i])) != 0)
			goto out;
	n = i2d_ASN1_SEQUENCE_ANY(seq, &buf);
	if (n <= 0) {
		rc = CAIRN_ECRYPTO;
		goto out;
	}
	*der = buf;
	*len = (size_t)n;
	rc = 0;
out:
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
	return rc;
}

static EVP_PKEY *keygen_like(EVP_PKEY *model)
{
	EVP_PKEY *key = NULL;
	char group[64];

	switch (model ? EVP_PKEY_get_base_id(model) : EVP_PKEY_NONE) {
	case EVP_PKEY_RSA:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
					 (size_t)(EVP_PKEY_get_bits(model) < 2048
							  ? 2048
							  : EVP_PKEY_get_bits(model) > 4096 ? 4096
											 : EVP_PKEY_get_bits(model)));
	case EVP_PKEY_ED25519:
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_utf8_string_param(model, "group", group, sizeof(group), NULL) &&
		    (strcmp(group, "prime256v1") == 0 || strcmp(group, "secp384r1") == 0))
			return EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
		break;
	}
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
	return key;
}

int est_keygen_csr(X509_REQ *client, EVP_PKEY **keyp, X509_REQ **reqp, cairn_err_t *err)
{
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	int rc = CAIRN_ECRYPTO;

	key = keygen_like(X509_REQ_get0_pubkey(client));
	req = X509_REQ_new();
	if (key == NULL || req == NULL) {
		cairn_err_ssl(err, rc, "server-side key generation failed");
		goto out;
	}
	exts = X509_REQ_get_extensions(client);
	if (!X509_REQ_set_version(req, 0) ||
	    !X509_REQ_set_subject_name(req, X509_REQ_get_subject_name(client)) ||
	    !X509_REQ_set_pubkey(req, key) ||
	    (exts != NULL && sk_X509_EXTENSION_num(exts) > 0 && !X509_REQ_add_extensions(req, exts)) ||
	    !X509_REQ_sign(req, key, EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? NULL
										    : EVP_sha256())) {
		cairn_err_ssl(err, rc, "building the server-side CSR failed");
		goto out;
	}
	*keyp = key;
	*reqp = req;
	key = NULL;
	req = NULL;
	rc = 0;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	EVP_PKEY_free(key);
	X509_REQ_free(req);
	return rc;
}
