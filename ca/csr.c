/* SPDX-License-Identifier: MIT */
/* CSR parsing (PEM or DER) and the checks a CSR must pass against a profile. */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
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

/* CSR decodes and signature checks since start (ca_csr_counts). */
static _Atomic uint64_t n_parsed, n_verified;

void ca_csr_counts(uint64_t *parsed, uint64_t *verified)
{
	if (parsed != NULL)
		*parsed = atomic_load(&n_parsed);
	if (verified != NULL)
		*verified = atomic_load(&n_verified);
}

/* A PEM block with "Proc-Type: 4,ENCRYPTED" asks for a password: refuse instead of
 * letting OpenSSL's default callback read one from the terminal or stdin (which
 * blocked the caller, in the daemon a request thread, until input came). */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/*
 * Parses a CSR in PEM ("-----BEGIN CERTIFICATE REQUEST-----" or the "NEW"
 * variant; the first block is used, as PEM_read_bio_X509_REQ does) or DER (which
 * must be consumed exactly). Inputs over 64 KiB are refused. Returns 0 or
 * CAIRN_EBADCSR with a one-line reason. *out owned by the caller (X509_REQ_free).
 */
int ca_csr_parse(const void *data, size_t len, X509_REQ **out, cairn_err_t *err)
{
	const unsigned char *p = data;
	unsigned char *pem_der = NULL;
	X509_REQ *req = NULL;
	BIO *bio = NULL;
	long der_len = 0;
	int rc = 0;

	*out = NULL;
	if (data == NULL || len == 0)
		return cairn_err_set(err, CAIRN_EBADCSR, "CSR is empty");
	if (len > CA_CSR_MAX_BYTES)
		return cairn_err_set(err, CAIRN_EBADCSR, "CSR is larger than %d bytes",
				     CA_CSR_MAX_BYTES);
	atomic_fetch_add(&n_parsed, 1);
	if (memmem(data, len, "-----BEGIN", 10) != NULL) {
		if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
			rc = cairn_err_ssl(err, CAIRN_ENOMEM, "cannot allocate BIO");
			goto out;
		}
		/* Bytes after the DER inside the PEM block are ignored, as they always were. */
		if (PEM_bytes_read_bio(&pem_der, &der_len, NULL, PEM_STRING_X509_REQ, bio,
				       no_password, NULL) == 1) {
			p = pem_der;
			req = ca_csr_d2i(&p, der_len);
		}
	} else if (p[0] == 0x30) {
		req = ca_csr_d2i(&p, (long)len);
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
	OPENSSL_free(pem_der);
	BIO_free(bio);
	return rc;
}

/* Key type and size (before the signature, so no expensive work on odd keys). */
static int check_key(EVP_PKEY *pk, int min_rsa_bits, cairn_err_t *err)
{
	char group[64] = "";
	int id = EVP_PKEY_get_base_id(pk), bits, explicit = 0;

	switch (id) {
	case EVP_PKEY_EC:
		/* RFC 5480 §2.1.1: namedCurve only. OpenSSL maps explicit parameters that
		 * equal a named curve to its name, so ask how the key was encoded. */
		if (EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) != 1 ||
		    (EVP_PKEY_get_int_param(pk, OSSL_PKEY_PARAM_EC_DECODED_FROM_EXPLICIT_PARAMS,
					    &explicit) == 1 &&
		     explicit))
			return cairn_err_set(err, CAIRN_EKEYTYPE,
					     "EC key on an explicit or unknown curve is not supported");
		if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0 ||
		    strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
			return 0;
		return cairn_err_set(err, CAIRN_EKEYTYPE, "EC curve %s is not supported", group);
	case EVP_PKEY_RSA:
		bits = EVP_PKEY_get_bits(pk);
		if (bits < min_rsa_bits)
			return cairn_err_set(err, CAIRN_EWEAKKEY,
					     "RSA key of %d bits is below the minimum of %d", bits,
					     min_rsa_bits);
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

static int check_one_san(const ca_name_t *nm, const ca_profile_t *prof, cairn_err_t *err)
{
	const char *type = ca_name_type_str(nm->type), *why = NULL;
	size_t len = strlen(nm->text);

	if (!(prof->allowed_sans & nm->type))
		return cairn_err_set(err, CAIRN_ENAME, "SAN type %s is not allowed by profile %s",
				     type, prof->name);
	if (nm->type == CA_SAN_IP)
		return 0;
	if (nm->type == CA_SAN_DNS)
		why = ca_dns_problem(nm->text, len, 1);
	else if (nm->type == CA_SAN_EMAIL)
		why = ca_email_problem(nm->text, len);
	else
		why = ca_uri_problem(nm->text, len);
	if (why != NULL)
		/* The extractor let only printable ASCII through: the message stays one line. */
		return cairn_err_set(err, CAIRN_ENAME, "SAN %s \"%.80s%s\" %s", type, nm->text,
				     len > 80 ? "..." : "", why);
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

int ca_csr_key_check(X509_REQ *req, EVP_PKEY *pk, int min_rsa_bits, cairn_err_t *err)
{
	if (pk == NULL)
		return key_undecodable(req, err);
	return check_key(pk, min_rsa_bits, err);
}

int ca_csr_sig_check(X509_REQ *req, EVP_PKEY *pk, cairn_err_t *err)
{
	int rc;

	atomic_fetch_add(&n_verified, 1);
	/* A signature the direct check does not accept gets X509_REQ_verify's verdict and
	 * error, so a bad CSR is refused exactly as before. */
	if (ca_csr_verify_ecdsa(req, pk) == 1 || X509_REQ_verify(req, pk) == 1)
		return 0;
	rc = cairn_err_ssl(err, CAIRN_ECSRSIG, "CSR signature does not verify");
	ERR_clear_error();
	return rc;
}

/*
 * The names ca_names_from_csr extracted against a profile: SANs (each type allowed by
 * the profile and well-formed), require_san, and for serverAuth profiles (tls-server) a
 * CN equal to one of the DNS/IP SANs. Requested extensions other than subjectAltName are
 * ignored: the profile decides the extensions.
 */
int ca_csr_names_check(const ca_names_t *names, const ca_profile_t *prof, cairn_err_t *err)
{
	size_t i;
	int rc;

	if (names->other_type >= 0)
		return cairn_err_set(err, CAIRN_ENAME, "SAN type %s is not supported",
				     ca_san_type_name(names->other_type));
	for (i = 0; i < names->n_san; i++)
		if ((rc = check_one_san(&names->san[i], prof, err)) != 0)
			return rc;
	if (names->n_san == 0 && prof->require_san)
		return cairn_err_set(err, CAIRN_ENAME,
				     "profile %s requires at least one subjectAltName", prof->name);
	if (names->n_san == 0 && names->cn == NULL)
		return cairn_err_set(err, CAIRN_ENAME,
				     "CSR has neither a subject commonName nor a subjectAltName");
	if (names->cn != NULL && profile_has_eku(prof, SERVER_AUTH_OID) &&
	    ((names->cn_name.type != CA_SAN_DNS && names->cn_name.type != CA_SAN_IP) ||
	     !ca_names_has(names, &names->cn_name)))
		return cairn_err_set(err, CAIRN_ENAME,
				     "CSR commonName \"%.64s\" is not one of its DNS or IP "
				     "subjectAltNames",
				     names->cn);
	return 0;
}

int ca_csr_staple_check(int must_staple, const ca_profile_t *prof, cairn_err_t *err)
{
	if (must_staple && prof->must_staple == CA_STAPLE_NEVER)
		return cairn_err_set(err, CAIRN_EBADCSR,
				     "the CSR asks for OCSP Must-Staple, which profile %s does not "
				     "certify (profiles.%s.must_staple is \"never\")",
				     prof->name, prof->name);
	return 0;
}

/* Checks a bare CSR against a profile (see ca.h), in this order: names and TLS feature
 * extracted, key type and size (before the signature, so no expensive work on odd keys),
 * signature, then Must-Staple and the names against the profile. Thread-safe; req is
 * only read. */
int ca_csr_check(X509_REQ *req, const ca_profile_t *prof, cairn_err_t *err)
{
	ca_names_t names;
	EVP_PKEY *pk;
	int rc, staple = 0;

	if (req == NULL || prof == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "ca_csr_check: missing argument");
	if ((rc = ca_csr_requests(req, &names, &staple, err)) != 0)
		return rc;
	pk = X509_REQ_get0_pubkey(req);
	if ((rc = ca_csr_key_check(req, pk, prof->min_rsa_bits, err)) == 0 &&
	    (rc = ca_csr_sig_check(req, pk, err)) == 0 &&
	    (rc = ca_csr_staple_check(staple, prof, err)) == 0)
		rc = ca_csr_names_check(&names, prof, err);
	ca_names_clear(&names);
	return rc;
}
