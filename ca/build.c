/* SPDX-License-Identifier: MIT */
/* X.509 v3 certificate building: serial, validity, names, extensions, signature. */
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/ca_int.h"

#define SERIAL_BYTES 16
#define MAX_VALIDITY_DAYS (100 * 366)

/* keyUsage bit positions (RFC 5280 §4.2.1.3) for the X509v3_KU_* values. */
static const unsigned ku_bits[9] = {
	X509v3_KU_DIGITAL_SIGNATURE, X509v3_KU_NON_REPUDIATION, X509v3_KU_KEY_ENCIPHERMENT,
	X509v3_KU_DATA_ENCIPHERMENT, X509v3_KU_KEY_AGREEMENT,  X509v3_KU_KEY_CERT_SIGN,
	X509v3_KU_CRL_SIGN,          X509v3_KU_ENCIPHER_ONLY,  X509v3_KU_DECIPHER_ONLY,
};

/*
 * A fresh serial: 16 bytes from the CSPRNG with the top bit cleared (so the
 * DER INTEGER is positive) and a non-zero first byte (so DER keeps all 16
 * bytes: minimal encoding would drop a leading 0x00). That leaves ~127 bits of
 * entropy, and every serial is exactly 16 content bytes.
 */
static int serial_fresh(uint8_t s[SERIAL_BYTES])
{
	int i;

	for (i = 0; i < 64; i++) {
		if (util_random(s, SERIAL_BYTES) != 0)
			return CAIRN_ECRYPTO;
		s[0] &= 0x7f;
		if (s[0] != 0)
			return 0;
	}
	return CAIRN_ECRYPTO;
}

static int set_serial(X509 *x, const ca_cert_spec_t *spec, cairn_err_t *err)
{
	uint8_t buf[SERIAL_BYTES];
	const uint8_t *s = spec->serial;
	size_t len = spec->serial_len;
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;
	int rc = 0;

	if (s == NULL) {
		if (serial_fresh(buf) != 0)
			return cairn_err_ssl(err, CAIRN_ECRYPTO, "random serial failed");
		s = buf;
		len = sizeof(buf);
	} else if (len == 0 || len > DB_SERIAL_MAX) {
		return cairn_err_set(err, CAIRN_EINVAL, "serial must be 1..%d bytes",
				     DB_SERIAL_MAX);
	}
	bn = BN_bin2bn(s, (int)len, NULL);
	if (bn == NULL || BN_is_zero(bn) || BN_num_bytes(bn) > DB_SERIAL_MAX) {
		rc = cairn_err_set(err, CAIRN_EINVAL, "serial must be non-zero and at most %d bytes",
				   DB_SERIAL_MAX);
		goto out;
	}
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	if (ai == NULL || X509_set_serialNumber(x, ai) != 1)
		rc = cairn_err_ssl(err, CAIRN_ENOMEM, "cannot set serial");
out:
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return rc;
}

static int set_validity(X509 *x, const ca_cert_spec_t *spec, X509 *issuer, cairn_err_t *err)
{
	int64_t nb = spec->not_before ? spec->not_before : (int64_t)time(NULL) - 60;
	int64_t na, issuer_na;

	if (spec->validity_days < 1 || spec->validity_days > MAX_VALIDITY_DAYS)
		return cairn_err_set(err, CAIRN_EINVAL, "validity_days must be 1..%d",
				     MAX_VALIDITY_DAYS);
	/* RFC 5280 validity includes both ends: N days is N*86400 - 1 seconds later. */
	na = nb + (int64_t)spec->validity_days * 86400 - 1;
	/* A certificate never outlives its issuer. */
	if (issuer != NULL && ca_time_unix(X509_get0_notAfter(issuer), &issuer_na) == 0 &&
	    na > issuer_na)
		na = issuer_na;
	if (na <= nb)
		return cairn_err_set(err, CAIRN_EINVAL,
				     "the issuer certificate expires before the new notBefore");
	if (ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) == NULL)
		return cairn_err_ssl(err, CAIRN_ENOMEM, "cannot set validity");
	return 0;
}

/* Sets x's subject from spec: a copy of the borrowed subject, or CN/O added to x's own
 * (empty) name in place — no second copy of a name built only for this certificate. */
static int make_subject(X509 *x, const ca_cert_spec_t *spec, cairn_err_t *err)
{
	X509_NAME *n = X509_get_subject_name(x);

	if (spec->subject != NULL) {
		if (X509_set_subject_name(x, spec->subject) != 1)
			return cairn_err_ssl(err, CAIRN_ENOMEM, "cannot copy the subject");
		return 0;
	}
	if ((spec->subject_o != NULL &&
	     X509_NAME_add_entry_by_NID(n, NID_organizationName, MBSTRING_UTF8,
					(const unsigned char *)spec->subject_o, -1, -1, 0) != 1) ||
	    (spec->subject_cn != NULL &&
	     X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8,
					(const unsigned char *)spec->subject_cn, -1, -1, 0) != 1))
		return cairn_err_ssl(err, CAIRN_EINVAL, "subject CN/O not encodable");
	return 0;
}

static int add_ext(X509 *x, int nid, void *val, int crit, const char *what, cairn_err_t *err)
{
	if (X509_add1_ext_i2d(x, nid, val, crit, X509V3_ADD_DEFAULT) != 1)
		return cairn_err_ssl(err, CAIRN_ECRYPTO, "cannot add %s", what);
	return 0;
}

/* OCSP Must-Staple: the TLS feature extension (RFC 7633) listing status_request (5), not
 * critical (its §4.2.3). */
static int add_must_staple(X509 *x, cairn_err_t *err)
{
	TLS_FEATURE *f = TLS_FEATURE_new();
	ASN1_INTEGER *v = ASN1_INTEGER_new();
	int rc;

	if (f == NULL || v == NULL || ASN1_INTEGER_set(v, 5) != 1 ||
	    sk_ASN1_INTEGER_push(f, v) <= 0) {
		ASN1_INTEGER_free(v);
		TLS_FEATURE_free(f);
		return cairn_err_ssl(err, CAIRN_ENOMEM, "cannot allocate the TLS feature");
	}
	rc = add_ext(x, NID_tlsfeature, f, 0, "TLS feature (OCSP Must-Staple)", err);
	TLS_FEATURE_free(f);
	return rc;
}

static int add_basic_ku_eku(X509 *x, const ca_cert_spec_t *spec, cairn_err_t *err)
{
	BASIC_CONSTRAINTS *bc = NULL;
	ASN1_BIT_STRING *ku = NULL;
	EXTENDED_KEY_USAGE *eku = NULL;
	ASN1_OBJECT *obj = NULL;
	size_t i;
	int rc = CAIRN_ENOMEM;

	bc = BASIC_CONSTRAINTS_new();
	if (bc == NULL)
		goto fail;
	bc->ca = spec->is_ca ? 0xff : 0;
	if (spec->is_ca && spec->path_len >= 0) {
		bc->pathlen = ASN1_INTEGER_new();
		if (bc->pathlen == NULL || ASN1_INTEGER_set(bc->pathlen, spec->path_len) != 1)
			goto fail;
	}
	if ((rc = add_ext(x, NID_basic_constraints, bc, 1, "basicConstraints", err)) != 0)
		goto out;

	if (spec->key_usage != 0) {
		rc = CAIRN_ENOMEM;
		if ((ku = ASN1_BIT_STRING_new()) == NULL)
			goto fail;
		for (i = 0; i < sizeof(ku_bits) / sizeof(ku_bits[0]); i++)
			if ((spec->key_usage & ku_bits[i]) &&
			    ASN1_BIT_STRING_set_bit(ku, (int)i, 1) != 1)
				goto fail;
		if ((rc = add_ext(x, NID_key_usage, ku, 1, "keyUsage", err)) != 0)
			goto out;
	}

	if (spec->eku != NULL && spec->eku[0] != NULL) {
		rc = CAIRN_ENOMEM;
		if ((eku = sk_ASN1_OBJECT_new_null()) == NULL)
			goto fail;
		for (i = 0; spec->eku[i] != NULL; i++) {
			if ((obj = OBJ_txt2obj(spec->eku[i], 1)) == NULL) {
				rc = cairn_err_set(err, CAIRN_EINVAL,
						   "extendedKeyUsage %s is not a dotted OID",
						   spec->eku[i]);
				goto out;
			}
			if (sk_ASN1_OBJECT_push(eku, obj) <= 0)
				goto fail;
			obj = NULL;
		}
		rc = add_ext(x, NID_ext_key_usage, eku, 0, "extendedKeyUsage", err);
	}
	goto out;
fail:
	rc = cairn_err_ssl(err, rc, "cannot build basicConstraints/keyUsage/extendedKeyUsage");
out:
	ASN1_OBJECT_free(obj);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	ASN1_BIT_STRING_free(ku);
	BASIC_CONSTRAINTS_free(bc);
	return rc;
}

/* SKI = SHA-1 of the subjectPublicKey BIT STRING (RFC 5280 §4.2.1.2, method 1);
 * AKI = the issuer's SKI (computed the same way if the issuer lacks one). */
static int add_key_ids(X509 *x, X509 *issuer, cairn_err_t *err)
{
	unsigned char md[EVP_MAX_MD_SIZE], imd[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, imdlen = 0;
	ASN1_OCTET_STRING *ski = NULL;
	AUTHORITY_KEYID *akid = NULL;
	const ASN1_OCTET_STRING *issuer_ski = NULL;
	int rc = CAIRN_ECRYPTO;

	if (X509_pubkey_digest(x, EVP_sha1(), md, &mdlen) != 1)
		goto fail;
	if ((ski = ASN1_OCTET_STRING_new()) == NULL || ASN1_OCTET_STRING_set(ski, md, (int)mdlen) != 1)
		goto fail;
	if ((rc = add_ext(x, NID_subject_key_identifier, ski, 0, "subjectKeyIdentifier", err)) != 0)
		goto out;

	rc = CAIRN_ECRYPTO;
	if ((akid = AUTHORITY_KEYID_new()) == NULL)
		goto fail;
	if (issuer != NULL)
		issuer_ski = X509_get0_subject_key_id(issuer);
	if (issuer == NULL) {
		akid->keyid = ASN1_OCTET_STRING_dup(ski);
	} else if (issuer_ski != NULL) {
		akid->keyid = ASN1_OCTET_STRING_dup(issuer_ski);
	} else {
		if (X509_pubkey_digest(issuer, EVP_sha1(), imd, &imdlen) != 1)
			goto fail;
		if ((akid->keyid = ASN1_OCTET_STRING_new()) != NULL &&
		    ASN1_OCTET_STRING_set(akid->keyid, imd, (int)imdlen) != 1)
			goto fail;
	}
	if (akid->keyid == NULL)
		goto fail;
	rc = add_ext(x, NID_authority_key_identifier, akid, 0, "authorityKeyIdentifier", err);
	goto out;
fail:
	rc = cairn_err_ssl(err, rc, "cannot compute key identifiers");
out:
	AUTHORITY_KEYID_free(akid);
	ASN1_OCTET_STRING_free(ski);
	return rc;
}

static GENERAL_NAME *uri_name(const char *url)
{
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();

	if (g == NULL || s == NULL || ASN1_STRING_set(s, url, -1) != 1) {
		GENERAL_NAME_free(g);
		ASN1_IA5STRING_free(s);
		return NULL;
	}
	GENERAL_NAME_set0_value(g, GEN_URI, s);
	return g;
}

static int push_access(AUTHORITY_INFO_ACCESS *aia, int nid, const char *url)
{
	ACCESS_DESCRIPTION *ad = ACCESS_DESCRIPTION_new();

	if (ad == NULL)
		return -1;
	ASN1_OBJECT_free(ad->method);
	ad->method = OBJ_nid2obj(nid);
	GENERAL_NAME_free(ad->location);
	ad->location = uri_name(url);
	if (ad->location == NULL || sk_ACCESS_DESCRIPTION_push(aia, ad) <= 0) {
		ACCESS_DESCRIPTION_free(ad);
		return -1;
	}
	return 0;
}

static int add_urls(X509 *x, const ca_cert_spec_t *spec, cairn_err_t *err)
{
	AUTHORITY_INFO_ACCESS *aia = NULL;
	CRL_DIST_POINTS *cdp = NULL;
	DIST_POINT *dp = NULL;
	GENERAL_NAME *g = NULL;
	int rc = CAIRN_ENOMEM;

	if (spec->ocsp_url != NULL || spec->ca_issuers_url != NULL) {
		if ((aia = sk_ACCESS_DESCRIPTION_new_null()) == NULL)
			goto fail;
		if (spec->ocsp_url != NULL && push_access(aia, NID_ad_OCSP, spec->ocsp_url) != 0)
			goto fail;
		if (spec->ca_issuers_url != NULL &&
		    push_access(aia, NID_ad_ca_issuers, spec->ca_issuers_url) != 0)
			goto fail;
		if ((rc = add_ext(x, NID_info_access, aia, 0, "authorityInfoAccess", err)) != 0)
			goto out;
	}
	if (spec->crl_url != NULL) {
		rc = CAIRN_ENOMEM;
		if ((cdp = sk_DIST_POINT_new_null()) == NULL || (dp = DIST_POINT_new()) == NULL ||
		    (dp->distpoint = DIST_POINT_NAME_new()) == NULL)
			goto fail;
		dp->distpoint->type = 0;
		if ((dp->distpoint->name.fullname = GENERAL_NAMES_new()) == NULL ||
		    (g = uri_name(spec->crl_url)) == NULL ||
		    sk_GENERAL_NAME_push(dp->distpoint->name.fullname, g) <= 0)
			goto fail;
		g = NULL;
		if (sk_DIST_POINT_push(cdp, dp) <= 0)
			goto fail;
		dp = NULL;
		if ((rc = add_ext(x, NID_crl_distribution_points, cdp, 0,
				  "cRLDistributionPoints", err)) != 0)
			goto out;
	}
	rc = 0;
	goto out;
fail:
	rc = cairn_err_ssl(err, rc, "cannot build AIA/CDP");
out:
	GENERAL_NAME_free(g);
	DIST_POINT_free(dp);
	sk_DIST_POINT_pop_free(cdp, DIST_POINT_free);
	sk_ACCESS_DESCRIPTION_pop_free(aia, ACCESS_DESCRIPTION_free);
	return rc;
}

/* The signature digest for an issuer key: SHA-384 for P-384, SHA-512 for larger
 * curves, none for EdDSA, SHA-256 otherwise (P-256, RSA). */
static const EVP_MD *sign_md(EVP_PKEY *key)
{
	int bits;

	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_ED25519:
	case EVP_PKEY_ED448:
		return NULL;
	case EVP_PKEY_EC:
		bits = EVP_PKEY_get_bits(key);
		if (bits > 384)
			return EVP_sha512();
		if (bits > 256)
			return EVP_sha384();
		return EVP_sha256();
	default:
		return EVP_sha256();
	}
}

/*
 * Signs x with an EC issuer key the way X509_sign does (the same AlgorithmIdentifier in
 * the TBS and outside it, ecdsa-with-SHA* without parameters, the signature as a BIT
 * STRING with no unused bits) and returns the certificate's DER built from the one TBS
 * encoding the signature was made over: X509_sign then i2d_X509 encode the TBS twice.
 * Returns 1 on success, 0 when the key or digest is not one this path handles (the
 * caller uses X509_sign), -1 on a failure.
 */
static int sign_ec_der(X509 *x, EVP_PKEY *key, const EVP_MD *md, unsigned char **der,
		       size_t *der_len)
{
	X509_ALGOR *tbs_alg, *alg;
	const X509_ALGOR *calg;
	const ASN1_BIT_STRING *csig;
	ASN1_BIT_STRING *sig;
	EVP_MD_CTX *mctx = NULL;
	unsigned char *tbs = NULL, *s = NULL, *out = NULL, *p;
	size_t slen = 0;
	int signid, tlen, alen, blen, inner, total, rc = -1;

	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC || md == NULL ||
	    OBJ_find_sigid_by_algs(&signid, EVP_MD_get_type(md), EVP_PKEY_EC) != 1)
		return 0;
	/* X509_sign writes both AlgorithmIdentifiers through the same pointers. */
	tbs_alg = (X509_ALGOR *)X509_get0_tbs_sigalg(x);
	X509_get0_signature(&csig, &calg, x);
	alg = (X509_ALGOR *)calg;
	sig = (ASN1_BIT_STRING *)csig;
	if (X509_ALGOR_set0(tbs_alg, OBJ_nid2obj(signid), V_ASN1_UNDEF, NULL) != 1 ||
	    X509_ALGOR_set0(alg, OBJ_nid2obj(signid), V_ASN1_UNDEF, NULL) != 1 ||
	    (tlen = i2d_re_X509_tbs(x, &tbs)) <= 0 || (mctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(mctx, NULL, md, NULL, key) != 1 ||
	    EVP_DigestSign(mctx, NULL, &slen, tbs, (size_t)tlen) != 1 ||
	    (s = OPENSSL_malloc(slen)) == NULL ||
	    EVP_DigestSign(mctx, s, &slen, tbs, (size_t)tlen) != 1 ||
	    ASN1_BIT_STRING_set(sig, s, (int)slen) != 1)
		goto out;
	sig->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	sig->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	if ((alen = i2d_X509_ALGOR(alg, NULL)) <= 0 || (blen = i2d_ASN1_BIT_STRING(sig, NULL)) <= 0)
		goto out;
	inner = tlen + alen + blen;
	total = ASN1_object_size(1, inner, V_ASN1_SEQUENCE);
	if (total <= 0 || (out = p = OPENSSL_malloc((size_t)total)) == NULL)
		goto out;
	ASN1_put_object(&p, 1, inner, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	memcpy(p, tbs, (size_t)tlen);
	p += tlen;
	if (i2d_X509_ALGOR(alg, &p) != alen || i2d_ASN1_BIT_STRING(sig, &p) != blen)
		goto out;
	*der = out;
	*der_len = (size_t)total;
	out = NULL;
	rc = 1;
out:
	OPENSSL_free(out);
	OPENSSL_free(s);
	OPENSSL_free(tbs);
	EVP_MD_CTX_free(mctx);
	return rc;
}

int ca_cert_build(const ca_cert_spec_t *spec, X509 *issuer, EVP_PKEY *issuer_key,
		  EVP_PKEY *subject_pub, X509 **out, cairn_err_t *err)
{
	return ca_cert_build_der(spec, issuer, issuer_key, subject_pub, out, NULL, NULL, err);
}

/*
 * Builds and signs a certificate (see ca.h). Extensions, in order:
 * basicConstraints (critical), keyUsage (critical, when any bit is set),
 * extendedKeyUsage, subjectKeyIdentifier, authorityKeyIdentifier,
 * subjectAltName (critical when the subject is empty), authorityInfoAccess,
 * cRLDistributionPoints, TLS feature (must_staple), id-pkix-ocsp-nocheck. notAfter is
 * clamped to the issuer's notAfter. Thread-safe (no shared state; issuer/issuer_key are only read).
 */
int ca_cert_build_der(const ca_cert_spec_t *spec, X509 *issuer, EVP_PKEY *issuer_key,
		      EVP_PKEY *subject_pub, X509 **out, uint8_t **der, size_t *der_len,
		      cairn_err_t *err)
{
	X509 *x = NULL;
	unsigned char *enc = NULL;
	size_t enc_len = 0;
	int signed_der = 0;
	const X509_NAME *subject;
	EVP_PKEY *fast_pub = NULL;
	ASN1_NULL *null = NULL;
	int rc, empty_subject;

	*out = NULL;
	if (der != NULL)
		*der = NULL;
	if (spec == NULL || issuer_key == NULL || subject_pub == NULL ||
	    (der != NULL && der_len == NULL))
		return cairn_err_set(err, CAIRN_EINVAL, "ca_cert_build: missing argument");
	if ((x = X509_new()) == NULL) {
		rc = cairn_err_ssl(err, CAIRN_ENOMEM, "cannot allocate certificate");
		goto out;
	}
	if ((rc = make_subject(x, spec, err)) != 0)
		goto out;
	subject = X509_get_subject_name(x);
	empty_subject = X509_NAME_entry_count(subject) == 0;
	if (empty_subject && (spec->sans == NULL || sk_GENERAL_NAME_num(spec->sans) == 0)) {
		rc = cairn_err_set(err, CAIRN_EINVAL,
				   "a certificate needs a subject or a subjectAltName");
		goto out;
	}
	if (ca_pubkey_fast(subject_pub, &fast_pub) != 0) {
		rc = cairn_err_ssl(err, CAIRN_ENOMEM, "cannot copy the subject key");
		goto out;
	}
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject) != 1 ||
	    X509_set_pubkey(x, fast_pub ? fast_pub : subject_pub) != 1) {
		rc = cairn_err_ssl(err, CAIRN_ECRYPTO, "cannot set names or public key");
		goto out;
	}
	if ((rc = set_serial(x, spec, err)) != 0 || (rc = set_validity(x, spec, issuer, err)) != 0 ||
	    (rc = add_basic_ku_eku(x, spec, err)) != 0 || (rc = add_key_ids(x, issuer, err)) != 0)
		goto out;
	if (spec->sans != NULL && sk_GENERAL_NAME_num(spec->sans) > 0 &&
	    (rc = add_ext(x, NID_subject_alt_name, spec->sans, empty_subject, "subjectAltName",
			  err)) != 0)
		goto out;
	if ((rc = add_urls(x, spec, err)) != 0)
		goto out;
	if (spec->must_staple && (rc = add_must_staple(x, err)) != 0)
		goto out;
	if (spec->ocsp_nocheck) {
		if ((null = ASN1_NULL_new()) == NULL) {
			rc = cairn_err_ssl(err, CAIRN_ENOMEM, "cannot allocate ocsp-nocheck");
			goto out;
		}
		if ((rc = add_ext(x, NID_id_pkix_OCSP_noCheck, null, 0, "ocsp-nocheck", err)) != 0)
			goto out;
	}
	(void)hsm_sign_failure(NULL, 0); /* an earlier signature's failure on this thread */
	if (der != NULL)
		signed_der = sign_ec_der(x, issuer_key, sign_md(issuer_key), &enc, &enc_len);
	if (signed_der < 0 || (signed_der == 0 && X509_sign(x, issuer_key, sign_md(issuer_key)) <= 0)) {
		char why[96];
		if (hsm_sign_failure(why, sizeof(why))) { /* the token, not the certificate */
			ERR_clear_error();
			rc = cairn_err_set(err, CAIRN_ETOKENDOWN,
					   "the token did not sign the certificate: %s", why);
		} else {
			rc = cairn_err_ssl(err, CAIRN_ECRYPTO, "signing the certificate failed");
		}
		goto out;
	}
	if (der != NULL && signed_der == 0) {
		int n = i2d_X509(x, &enc);
		if (n <= 0) {
			rc = cairn_err_ssl(err, CAIRN_ECRYPTO, "cannot encode the certificate");
			goto out;
		}
		enc_len = (size_t)n;
	}
	if (der != NULL) {
		*der = enc;
		*der_len = enc_len;
		enc = NULL;
	}
	*out = x;
	x = NULL;
	rc = 0;
out:
	OPENSSL_free(enc);
	EVP_PKEY_free(fast_pub);
	ASN1_NULL_free(null);
	X509_free(x);
	return rc;
}
