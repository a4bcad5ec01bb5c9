/* SPDX-License-Identifier: MIT */
/* CSR parsing (PEM or DER) and the checks a CSR must pass against a profile. */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/ca_int.h"

#define SERVER_AUTH_OID "1.3.6.1.5.5.7.3.1"
#define MAX_RSA_BITS 16384

/*
 * Parses a CSR in PEM ("-----BEGIN CERTIFICATE REQUEST-----" or the "NEW"
 * variant; the first block is used) or DER (which must be consumed exactly).
 * Inputs over 64 KiB are refused. Returns 0 or CAIRN_EBADCSR with a one-line
 * reason. *out owned by the caller (X509_REQ_free).
 */
int ca_csr_parse(const void *data, size_t len, X509_REQ **out, cairn_err_t *err)
{
	const unsigned char *p = data;
	X509_REQ *req = NULL;
	BIO *bio = NULL;
	int rc = 0;

	*out = NULL;
	if (data == NULL || len == 0)
		return cairn_err_set(err, CAIRN_EBADCSR, "CSR is empty");
	if (len > CA_CSR_MAX_BYTES)
		return cairn_err_set(err, CAIRN_EBADCSR, "CSR is larger than %d bytes",
				     CA_CSR_MAX_BYTES);
	if (memmem(data, len, "-----BEGIN", 10) != NULL) {
		if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
			rc = cairn_err_ssl(err, CAIRN_ENOMEM, "cannot allocate BIO");
			goto out;
		}
		req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	} else if (p[0] == 0x30) {
		req = d2i_X509_REQ(NULL, &p, (long)len);
		if (req != NULL && p != (const unsigned char *)data + len) {
			rc = cairn_err_set(err, CAIRN_EBADCSR, "CSR has trailing bytes after the DER");
			goto out;
		}
	}
	if (req == NULL) {
		rc = cairn_err_ssl(err, CAIRN_EBADCSR, "CSR is not valid PEM or DER");
		goto out;
	}
	if (X509_REQ_get_version(req) != X509_REQ_VERSION_1) {
		rc = cairn_err_set(err, CAIRN_EBADCSR, "CSR version must be 1 (encoded 0)");
		goto out;
	}
	*out = req;
	req = NULL;
out:
	X509_REQ_free(req);
	BIO_free(bio);
	return rc;
}

/* Key type and size (before the signature, so no expensive work on odd keys). */
static int check_key(EVP_PKEY *pk, const ca_profile_t *prof, cairn_err_t *err)
{
	char group[64] = "";
	int id = EVP_PKEY_get_base_id(pk), bits;

	switch (id) {
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) != 1)
			return cairn_err_set(err, CAIRN_EKEYTYPE,
					     "EC key on an explicit or unknown curve is not supported");
		if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0 ||
		    strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
			return 0;
		return cairn_err_set(err, CAIRN_EKEYTYPE, "EC curve %s is not supported", group);
	case EVP_PKEY_RSA:
		bits = EVP_PKEY_get_bits(pk);
		if (bits < prof->min_rsa_bits)
			return cairn_err_set(err, CAIRN_EWEAKKEY,
					     "RSA key of %d bits is below the minimum of %d", bits,
					     prof->min_rsa_bits);
		if (bits > MAX_RSA_BITS)
			return cairn_err_set(err, CAIRN_EKEYTYPE,
					     "RSA key of %d bits is above the maximum of %d", bits,
					     MAX_RSA_BITS);
		return 0;
	case EVP_PKEY_ED25519:
		return 0;
	default:
		return cairn_err_set(err, CAIRN_EKEYTYPE, "key type %s is not supported",
				     id != EVP_PKEY_NONE ? OBJ_nid2sn(id) : "unknown");
	}
}

/* No EVP_PKEY: an algorithm OpenSSL does not know (CAIRN_EKEYTYPE), or a
 * known one with a malformed key (CAIRN_EBADCSR). */
static int key_undecodable(X509_REQ *req, cairn_err_t *err)
{
	ASN1_OBJECT *alg = NULL;
	char oid[80] = "unknown";
	int nid;

	if (X509_PUBKEY_get0_param(&alg, NULL, NULL, NULL, X509_REQ_get_X509_PUBKEY(req)) == 1 &&
	    alg != NULL)
		OBJ_obj2txt(oid, sizeof(oid), alg, 0);
	nid = OBJ_obj2nid(alg);
	if (nid == NID_X9_62_id_ecPublicKey || nid == NID_rsaEncryption || nid == NID_ED25519)
		return cairn_err_ssl(err, CAIRN_EBADCSR, "CSR public key (%s) is malformed", oid);
	ERR_clear_error();
	return cairn_err_set(err, CAIRN_EKEYTYPE, "key type %s is not supported", oid);
}

int ca_csr_sans(X509_REQ *req, GENERAL_NAMES **out, cairn_err_t *err)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	int crit = -1, rc = 0;

	*out = NULL;
	exts = X509_REQ_get_extensions(req);
	if (exts == NULL)
		return 0;
	*out = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
	if (*out == NULL && crit == -2)
		rc = cairn_err_set(err, CAIRN_EBADCSR, "CSR requests subjectAltName twice");
	else if (*out == NULL && crit >= 0)
		rc = cairn_err_ssl(err, CAIRN_EBADCSR, "CSR subjectAltName extension is malformed");
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

int ca_csr_name_entry(X509_REQ *req, int nid, char **out, cairn_err_t *err)
{
	X509_NAME *name = X509_REQ_get_subject_name(req);
	unsigned char *utf8 = NULL;
	const char *what = OBJ_nid2ln(nid);
	int idx, len, i, chars = 0;

	*out = NULL;
	idx = X509_NAME_get_index_by_NID(name, nid, -1);
	if (idx < 0)
		return 0;
	if (X509_NAME_get_index_by_NID(name, nid, idx) >= 0)
		return cairn_err_set(err, CAIRN_ENAME, "CSR subject has more than one %s", what);
	len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
	if (len < 0)
		return cairn_err_set(err, CAIRN_EBADCSR, "CSR subject %s is not a valid string",
				     what);
	for (i = 0; i < len; i++) {
		if (utf8[i] < 0x20 || utf8[i] == 0x7f) {
			OPENSSL_free(utf8);
			return cairn_err_set(err, CAIRN_ENAME,
					     "CSR subject %s contains a control character", what);
		}
		if ((utf8[i] & 0xc0) != 0x80)
			chars++;
	}
	if (chars == 0 || chars > CA_MAX_NAME_CHARS) {
		OPENSSL_free(utf8);
		return cairn_err_set(err, CAIRN_ENAME, "CSR subject %s must be 1..%d characters",
				     what, CA_MAX_NAME_CHARS);
	}
	*out = (char *)utf8;
	return 0;
}

static int check_one_san(const GENERAL_NAME *g, const ca_profile_t *prof, cairn_err_t *err)
{
	const char *type = ca_san_type_name(g->type), *why = NULL;
	unsigned bit = ca_san_type_bit(g->type);
	const ASN1_STRING *s;
	const char *v;
	int len;

	if (bit == 0)
		return cairn_err_set(err, CAIRN_ENAME, "SAN type %s is not supported", type);
	if (!(prof->allowed_sans & bit))
		return cairn_err_set(err, CAIRN_ENAME, "SAN type %s is not allowed by profile %s",
				     type, prof->name);
	if (g->type == GEN_IPADD) {
		len = ASN1_STRING_length(g->d.ip);
		if (len != 4 && len != 16)
			return cairn_err_set(err, CAIRN_ENAME,
					     "SAN ip has %d bytes, not 4 or 16", len);
		return 0;
	}
	s = g->d.ia5;
	v = (const char *)ASN1_STRING_get0_data(s);
	len = ASN1_STRING_length(s);
	if (g->type == GEN_DNS)
		why = ca_dns_problem(v, (size_t)len, 1);
	else if (g->type == GEN_EMAIL)
		why = ca_email_problem(v, (size_t)len);
	else
		why = ca_uri_problem(v, (size_t)len);
	if (why != NULL) {
		int shown = len > 80 ? 80 : len;
		/* Show the value only if printable, so the message stays one clean line. */
		int i, printable = 1;
		for (i = 0; i < shown; i++)
			if (v[i] < 0x20 || v[i] >= 0x7f)
				printable = 0;
		if (!printable)
			return cairn_err_set(err, CAIRN_ENAME, "SAN %s (not printable) %s", type,
					     why);
		return cairn_err_set(err, CAIRN_ENAME, "SAN %s \"%.*s%s\" %s", type, shown, v,
				     shown < len ? "..." : "", why);
	}
	return 0;
}

/* 1 when cn equals one of the DNS (case-insensitive) or IP SANs. */
static int cn_matches_san(const char *cn, const GENERAL_NAMES *sans)
{
	unsigned char ip[16];
	int i, iplen = 0;

	if (inet_pton(AF_INET, cn, ip) == 1)
		iplen = 4;
	else if (inet_pton(AF_INET6, cn, ip) == 1)
		iplen = 16;
	for (i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		if (g->type == GEN_DNS && (size_t)ASN1_STRING_length(g->d.ia5) == strlen(cn) &&
		    strncasecmp((const char *)ASN1_STRING_get0_data(g->d.ia5), cn, strlen(cn)) == 0)
			return 1;
		if (g->type == GEN_IPADD && iplen > 0 && ASN1_STRING_length(g->d.ip) == iplen &&
		    memcmp(ASN1_STRING_get0_data(g->d.ip), ip, (size_t)iplen) == 0)
			return 1;
	}
	return 0;
}

static int profile_has_eku(const ca_profile_t *prof, const char *oid)
{
	size_t i;

	for (i = 0; i < prof->n_eku; i++)
		if (strcmp(prof->eku[i], oid) == 0)
			return 1;
	return 0;
}

/*
 * Checks a CSR against a profile (see ca.h), in this order: key type and size,
 * signature, subject CN/O (at most one each, 1..64 printable characters),
 * SANs (at most 100; each type allowed by the profile and well-formed),
 * require_san, and for serverAuth profiles (tls-server) a CN equal to one of
 * the DNS/IP SANs. Requested extensions other than subjectAltName are ignored:
 * the profile decides the extensions. Thread-safe; req is only read.
 */
int ca_csr_check(X509_REQ *req, const ca_profile_t *prof, cairn_err_t *err)
{
	GENERAL_NAMES *sans = NULL;
	EVP_PKEY *pk;
	char *cn = NULL, *o = NULL;
	int rc, i, n;

	if (req == NULL || prof == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "ca_csr_check: missing argument");
	pk = X509_REQ_get0_pubkey(req);
	if (pk == NULL)
		return key_undecodable(req, err);
	if ((rc = check_key(pk, prof, err)) != 0)
		return rc;
	if (X509_REQ_verify(req, pk) != 1)
		return cairn_err_ssl(err, CAIRN_ECSRSIG, "CSR signature does not verify");

	if ((rc = ca_csr_name_entry(req, NID_commonName, &cn, err)) != 0 ||
	    (rc = ca_csr_name_entry(req, NID_organizationName, &o, err)) != 0 ||
	    (rc = ca_csr_sans(req, &sans, err)) != 0)
		goto out;
	n = sans ? sk_GENERAL_NAME_num(sans) : 0;
	if (n > CA_MAX_SANS) {
		rc = cairn_err_set(err, CAIRN_ENAME, "CSR has %d subjectAltNames, the maximum is %d",
				   n, CA_MAX_SANS);
		goto out;
	}
	for (i = 0; i < n; i++)
		if ((rc = check_one_san(sk_GENERAL_NAME_value(sans, i), prof, err)) != 0)
			goto out;
	if (n == 0 && prof->require_san) {
		rc = cairn_err_set(err, CAIRN_ENAME,
				   "profile %s requires at least one subjectAltName", prof->name);
		goto out;
	}
	if (n == 0 && cn == NULL) {
		rc = cairn_err_set(err, CAIRN_ENAME,
				   "CSR has neither a subject commonName nor a subjectAltName");
		goto out;
	}
	if (cn != NULL && profile_has_eku(prof, SERVER_AUTH_OID) &&
	    (sans == NULL || !cn_matches_san(cn, sans))) {
		rc = cairn_err_set(err, CAIRN_ENAME,
				   "CSR commonName \"%.64s\" is not one of its DNS or IP "
				   "subjectAltNames",
				   cn);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		ERR_clear_error();
	GENERAL_NAMES_free(sans);
	OPENSSL_free(cn);
	OPENSSL_free(o);
	return rc;
}
