/* SPDX-License-Identifier: MIT */
/* The last check before a certificate is stored: what a linter (RFC 5280, CA/B BR) would
 * refuse is refused here, so the CA never releases such a certificate. */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/ca_int.h"

#define MIN_SERIAL_BYTES 8 /* BR 7.1: at least 64 bits from a CSPRNG */

static int lint_fail(cairn_err_t *err, const char *what)
{
	return cairn_err_set(err, CAIRN_ELINT, "certificate would fail lint: %s", what);
}

/* The serial's DER content: positive, minimal, 8..20 bytes. */
static const char *lint_serial(X509 *x)
{
	const ASN1_INTEGER *s = X509_get0_serialNumber(x);
	unsigned char *der = NULL;
	const char *why = NULL;
	int len = i2d_ASN1_INTEGER((ASN1_INTEGER *)s, &der);

	/* der: 02 L content; content[0] >= 0x80 would be negative. */
	if (len < 3 || der[1] != len - 2 || (der[2] & 0x80))
		why = "serial number is not a positive INTEGER";
	else if (len - 2 > DB_SERIAL_MAX || len - 2 < MIN_SERIAL_BYTES)
		why = "serial number is not 8..20 bytes";
	OPENSSL_free(der);
	return why;
}

static const char *lint_validity(X509 *x, X509 *issuer, const ca_profile_t *prof)
{
	int64_t nb, na, ina;

	if (ca_time_unix(X509_get0_notBefore(x), &nb) != 0 ||
	    ca_time_unix(X509_get0_notAfter(x), &na) != 0)
		return "validity dates do not parse";
	if (na <= nb)
		return "notAfter is not after notBefore";
	/* RFC 5280 validity is inclusive of both ends. */
	if (na - nb + 1 > (int64_t)prof->validity_days * 86400)
		return "validity is longer than the profile allows";
	if (issuer != NULL && ca_time_unix(X509_get0_notAfter(issuer), &ina) == 0 && na > ina)
		return "certificate outlives its issuer";
	return NULL;
}

/* Is the dotted oid among the decoded extendedKeyUsage purposes (eku may be NULL)? */
static int has_eku(const EXTENDED_KEY_USAGE *eku, const char *oid)
{
	ASN1_OBJECT *want = OBJ_txt2obj(oid, 1);
	int i, found = 0;

	for (i = 0; eku && want && i < sk_ASN1_OBJECT_num(eku); i++)
		found |= OBJ_cmp(sk_ASN1_OBJECT_value(eku, i), want) == 0;
	ASN1_OBJECT_free(want);
	return found;
}

/* 1 critical, 0 not, -1 absent. */
static int ext_critical(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	return i < 0 ? -1 : X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

/* eku: the decoded extension, or NULL when absent. */
static const char *lint_usage(X509 *x, const EXTENDED_KEY_USAGE *eku, const ca_profile_t *prof)
{
	uint32_t ku = X509_get_key_usage(x);
	int base = EVP_PKEY_get_base_id(X509_get0_pubkey(x)), i;
	size_t j;

	if (!(X509_get_extension_flags(x) & EXFLAG_BCONS) || (X509_get_extension_flags(x) & EXFLAG_CA))
		return "basicConstraints missing or CA:TRUE on an end-entity certificate";
	if (ext_critical(x, NID_basic_constraints) != 1)
		return "basicConstraints is not critical";
	if (ku == UINT32_MAX || ku == 0)
		return "keyUsage missing or empty";
	if (ext_critical(x, NID_key_usage) != 1)
		return "keyUsage is not critical";
	if (ku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN))
		return "keyCertSign/cRLSign on an end-entity certificate";
	if ((base == EVP_PKEY_EC || base == EVP_PKEY_ED25519) &&
	    (ku & (KU_KEY_ENCIPHERMENT | KU_DATA_ENCIPHERMENT)))
		return "keyEncipherment/dataEncipherment with an EC or Ed25519 key";
	for (i = 0; eku && i < sk_ASN1_OBJECT_num(eku); i++)
		if (OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == NID_anyExtendedKeyUsage)
			return "anyExtendedKeyUsage in an issued certificate";
	if ((size_t)(eku ? sk_ASN1_OBJECT_num(eku) : 0) != prof->n_eku)
		return "extendedKeyUsage differs from the profile";
	for (j = 0; j < prof->n_eku; j++)
		if (!has_eku(eku, prof->eku[j]))
			return "extendedKeyUsage differs from the profile";
	if (has_eku(eku, "1.3.6.1.5.5.7.3.1") &&
	    !(ku & (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT)))
		return "serverAuth without a key usage TLS can use";
	if ((has_eku(eku, "1.3.6.1.5.5.7.3.3") || has_eku(eku, "1.3.6.1.5.5.7.3.36")) &&
	    !(ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)))
		return "a signing EKU without digitalSignature/nonRepudiation";
	return NULL;
}

/* Is the CN (UTF-8) one of the DNS or IP subjectAltNames? */
static int cn_in_sans(const GENERAL_NAMES *sans, const char *cn)
{
	char ip[64];
	int i;

	for (i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		if (g->type == GEN_DNS && (size_t)g->d.dNSName->length == strlen(cn) &&
		    strncasecmp((const char *)g->d.dNSName->data, cn, strlen(cn)) == 0)
			return 1;
		if (g->type == GEN_IPADD &&
		    (ASN1_STRING_length(g->d.ip) == 4 || ASN1_STRING_length(g->d.ip) == 16) &&
		    inet_ntop(ASN1_STRING_length(g->d.ip) == 4 ? AF_INET : AF_INET6,
			      ASN1_STRING_get0_data(g->d.ip), ip, sizeof(ip)) != NULL &&
		    strcmp(ip, cn) == 0)
			return 1;
	}
	return 0;
}

static const char *lint_names(X509 *x, const EXTENDED_KEY_USAGE *eku, const ca_profile_t *prof)
{
	const X509_NAME *subj = X509_get_subject_name(x);
	GENERAL_NAMES *sans;
	unsigned char *cn = NULL;
	const char *why = NULL;
	int crit = -1, i, idx;

	sans = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	if (sans == NULL && crit != -1)
		return "subjectAltName does not decode";
	if (sans != NULL && sk_GENERAL_NAME_num(sans) == 0)
		why = "subjectAltName is an empty SEQUENCE";
	else if (sans == NULL && prof->require_san)
		why = "subjectAltName missing (the profile requires one)";
	else if (X509_NAME_entry_count(subj) == 0 && (sans == NULL || crit != 1))
		why = "empty subject without a critical subjectAltName";
	for (i = 0; why == NULL && i < X509_NAME_entry_count(subj); i++) {
		const ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
		if (ASN1_STRING_length(v) == 0)
			why = "empty attribute in the subject";
	}
	idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	if (why == NULL && idx >= 0 && has_eku(eku, "1.3.6.1.5.5.7.3.1")) {
		/* BR 7.1.4.3: a TLS server CN must be one of the subjectAltNames. */
		if (ASN1_STRING_to_UTF8(&cn, X509_NAME_ENTRY_get_data(
						X509_NAME_get_entry(subj, idx))) < 0 ||
		    sans == NULL || !cn_in_sans(sans, (const char *)cn))
			why = "commonName is not one of the subjectAltNames";
	}
	OPENSSL_free(cn);
	GENERAL_NAMES_free(sans);
	return why;
}

static const char *lint_key_ids(X509 *x, X509 *issuer)
{
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(x);
	const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
	const ASN1_OCTET_STRING *iski = issuer ? X509_get0_subject_key_id(issuer) : NULL;

	if (ski == NULL || ASN1_STRING_length(ski) == 0)
		return "subjectKeyIdentifier missing";
	if (aki == NULL || ASN1_STRING_length(aki) == 0)
		return "authorityKeyIdentifier keyIdentifier missing";
	if (iski != NULL && ASN1_OCTET_STRING_cmp(aki, iski) != 0)
		return "authorityKeyIdentifier is not the issuer's subjectKeyIdentifier";
	return NULL;
}

/* Empty SEQUENCEs in the URL extensions, and the version. The certificate was encoded by
 * OpenSSL from its structures, so it is DER by construction: re-parsing it here would cost
 * more than the rest of the lint (OpenSSL 3 decodes the public key through its provider
 * decoders). tests/tools/certlint checks the re-encoding of every certificate the test
 * suites issue; a hand-written DER emitter must re-parse its output here instead. */
static const char *lint_encoding(X509 *x)
{
	AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
	CRL_DIST_POINTS *cdp = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
	const char *why = NULL;

	if (aia != NULL && sk_ACCESS_DESCRIPTION_num(aia) == 0)
		why = "authorityInfoAccess is an empty SEQUENCE";
	else if (cdp != NULL && sk_DIST_POINT_num(cdp) == 0)
		why = "cRLDistributionPoints is an empty SEQUENCE";
	else if (X509_get_version(x) != X509_VERSION_3)
		why = "not a version 3 certificate";
	AUTHORITY_INFO_ACCESS_free(aia);
	CRL_DIST_POINTS_free(cdp);
	return why;
}

int ca_cert_lint(X509 *cert, X509 *issuer, const ca_profile_t *prof, cairn_err_t *err)
{
	EXTENDED_KEY_USAGE *eku;
	const char *why;
	int crit = -1;

	if (cert == NULL || prof == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "ca_cert_lint: missing argument");
	eku = X509_get_ext_d2i(cert, NID_ext_key_usage, &crit, NULL);
	if (eku == NULL && crit != -1)
		why = "extendedKeyUsage does not decode";
	else if ((why = lint_serial(cert)) == NULL && (why = lint_validity(cert, issuer, prof)) == NULL &&
		 (why = lint_usage(cert, eku, prof)) == NULL && (why = lint_names(cert, eku, prof)) == NULL &&
		 (why = lint_key_ids(cert, issuer)) == NULL)
		why = lint_encoding(cert);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	return why != NULL ? lint_fail(err, why) : 0;
}
