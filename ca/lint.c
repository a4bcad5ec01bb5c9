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

/* The decoded extendedKeyUsage purposes as dotted OIDs, once per certificate. */
#define LINT_EKU_MAX 16
typedef struct eku_list {
	size_t n;
	int any;                /* anyExtendedKeyUsage among them */
	char oid[LINT_EKU_MAX][64];
} eku_list_t;

/* Is the dotted oid among the purposes? */
static int has_eku(const eku_list_t *l, const char *oid)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->oid[i], oid) == 0)
			return 1;
	return 0;
}

/*
 * The extensions lint reads, each decoded once by itself (X509_get_ext_d2i): OpenSSL's
 * extension cache (X509_get_key_usage, X509_get_extension_flags, X509_get0_*_key_id)
 * would also hash the whole certificate and decode every other extension. An extension
 * present but not decoding, or present twice (crit -2), is refused like the cache would
 * mark the certificate invalid.
 */
typedef struct lint_exts {
	BASIC_CONSTRAINTS *bc;
	int bc_crit;
	ASN1_BIT_STRING *ku;
	int ku_crit;
	EXTENDED_KEY_USAGE *eku;
	eku_list_t ekus;
	ASN1_OCTET_STRING *ski;
	AUTHORITY_KEYID *aki;
	GENERAL_NAMES *sans;
	int san_crit;
} lint_exts_t;

static void lint_exts_free(lint_exts_t *e)
{
	BASIC_CONSTRAINTS_free(e->bc);
	ASN1_BIT_STRING_free(e->ku);
	sk_ASN1_OBJECT_pop_free(e->eku, ASN1_OBJECT_free);
	ASN1_OCTET_STRING_free(e->ski);
	AUTHORITY_KEYID_free(e->aki);
	GENERAL_NAMES_free(e->sans);
}

/* Decodes extension nid into *out; *crit 1/0, -1 absent. A decoding failure or a
 * duplicate is reported as why. */
static const char *ext_get(X509 *x, int nid, void **out, int *crit, const char *why)
{
	*crit = -1;
	*out = X509_get_ext_d2i(x, nid, crit, NULL);
	return *out == NULL && *crit != -1 ? why : NULL;
}

static const char *lint_exts_read(X509 *x, lint_exts_t *e)
{
	const char *why;
	int crit, i, j, n_ext;

	memset(e, 0, sizeof(*e));
	/* No extension twice (RFC 5280 4.2), whichever: the cache would call that invalid. */
	n_ext = X509_get_ext_count(x);
	for (i = 0; i < n_ext; i++)
		for (j = i + 1; j < n_ext; j++)
			if (OBJ_cmp(X509_EXTENSION_get_object(X509_get_ext(x, i)),
				    X509_EXTENSION_get_object(X509_get_ext(x, j))) == 0)
				return "an extension appears twice";
	if ((why = ext_get(x, NID_basic_constraints, (void **)&e->bc, &e->bc_crit,
			   "basicConstraints does not decode or appears twice")) != NULL ||
	    (why = ext_get(x, NID_key_usage, (void **)&e->ku, &e->ku_crit,
			   "keyUsage does not decode or appears twice")) != NULL ||
	    (why = ext_get(x, NID_ext_key_usage, (void **)&e->eku, &crit,
			   "extendedKeyUsage does not decode or appears twice")) != NULL ||
	    (why = ext_get(x, NID_subject_key_identifier, (void **)&e->ski, &crit,
			   "subjectKeyIdentifier does not decode or appears twice")) != NULL ||
	    (why = ext_get(x, NID_authority_key_identifier, (void **)&e->aki, &crit,
			   "authorityKeyIdentifier does not decode or appears twice")) != NULL ||
	    (why = ext_get(x, NID_subject_alt_name, (void **)&e->sans, &e->san_crit,
			   "subjectAltName does not decode or appears twice")) != NULL)
		return why;
	for (i = 0; e->eku != NULL && i < sk_ASN1_OBJECT_num(e->eku); i++) {
		const ASN1_OBJECT *o = sk_ASN1_OBJECT_value(e->eku, i);
		int n;

		if (OBJ_obj2nid(o) == NID_anyExtendedKeyUsage)
			e->ekus.any = 1;
		if (e->ekus.n == LINT_EKU_MAX)
			return "extendedKeyUsage has too many purposes";
		n = OBJ_obj2txt(e->ekus.oid[e->ekus.n], sizeof(e->ekus.oid[0]), o, 1);
		if (n <= 0 || (size_t)n >= sizeof(e->ekus.oid[0]))
			return "extendedKeyUsage purpose is not an OID";
		e->ekus.n++;
	}
	return NULL;
}

/* The keyUsage bits as X509_get_key_usage reports them (KU_* values); UINT32_MAX absent. */
static uint32_t key_usage_bits(const ASN1_BIT_STRING *ku)
{
	uint32_t v = 0;

	if (ku == NULL)
		return UINT32_MAX;
	if (ku->length > 0)
		v = ku->data[0];
	if (ku->length > 1)
		v |= (uint32_t)ku->data[1] << 8;
	return v;
}

static const char *lint_usage(X509 *x, const lint_exts_t *e, const ca_profile_t *prof)
{
	const eku_list_t *eku = &e->ekus;
	uint32_t ku = key_usage_bits(e->ku);
	int base = EVP_PKEY_get_base_id(X509_get0_pubkey(x));
	size_t j;

	if (e->bc == NULL || e->bc->ca)
		return "basicConstraints missing or CA:TRUE on an end-entity certificate";
	if (e->bc_crit != 1)
		return "basicConstraints is not critical";
	if (ku == UINT32_MAX || ku == 0)
		return "keyUsage missing or empty";
	if (e->ku_crit != 1)
		return "keyUsage is not critical";
	if (ku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN))
		return "keyCertSign/cRLSign on an end-entity certificate";
	if ((base == EVP_PKEY_EC || base == EVP_PKEY_ED25519) &&
	    (ku & (KU_KEY_ENCIPHERMENT | KU_DATA_ENCIPHERMENT)))
		return "keyEncipherment/dataEncipherment with an EC or Ed25519 key";
	if (eku->any)
		return "anyExtendedKeyUsage in an issued certificate";
	if (eku->n != prof->n_eku)
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

static const char *lint_names(X509 *x, const lint_exts_t *e, const ca_profile_t *prof)
{
	const X509_NAME *subj = X509_get_subject_name(x);
	const GENERAL_NAMES *sans = e->sans;
	const eku_list_t *eku = &e->ekus;
	unsigned char *cn = NULL;
	const char *why = NULL;
	int crit = e->san_crit, i, idx;

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
	return why;
}

/* The issuer's SKI comes from its extension cache: computed once, the issuer is shared. */
static const char *lint_key_ids(const lint_exts_t *e, X509 *issuer)
{
	const ASN1_OCTET_STRING *ski = e->ski;
	const ASN1_OCTET_STRING *aki = e->aki ? e->aki->keyid : NULL;
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
	lint_exts_t e;
	const char *why;

	if (cert == NULL || prof == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "ca_cert_lint: missing argument");
	if ((why = lint_exts_read(cert, &e)) == NULL && (why = lint_serial(cert)) == NULL &&
	    (why = lint_validity(cert, issuer, prof)) == NULL &&
	    (why = lint_usage(cert, &e, prof)) == NULL && (why = lint_names(cert, &e, prof)) == NULL &&
	    (why = lint_key_ids(&e, issuer)) == NULL)
		why = lint_encoding(cert);
	lint_exts_free(&e);
	return why != NULL ? lint_fail(err, why) : 0;
}
