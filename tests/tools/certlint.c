/* SPDX-License-Identifier: MIT */
/* certlint: an independent X.509 linter for the tests (RFC 5280 and CA/B Forum Baseline
 * Requirements in spirit), parsing with OpenSSL and sharing no code with ca/.
 *   certlint [--ca] [--issuer PEM] [--config cairn.json --profile NAME] [--max-days N] CERT.pem...
 * Prints "FILE: ok" or one "FILE: FAIL: reason" per problem; exit 1 when any failed. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

typedef struct lint_opts {
	int is_ca;
	X509 *issuer;
	long max_days;          /* 0 = no bound from the caller */
	int require_san;
	const char *eku[8];     /* dotted OIDs the profile asks for */
	int n_eku;
	int have_profile;
} lint_opts_t;

static const char *current;
static int problems;

static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bad(const char *fmt, ...)
{
	va_list ap;

	printf("%s: FAIL: ", current);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	problems++;
}

static const char *eku_oid(const char *name)
{
	static const char *const map[][2] = {
		{ "serverAuth", "1.3.6.1.5.5.7.3.1" },      { "clientAuth", "1.3.6.1.5.5.7.3.2" },
		{ "codeSigning", "1.3.6.1.5.5.7.3.3" },     { "emailProtection", "1.3.6.1.5.5.7.3.4" },
		{ "timeStamping", "1.3.6.1.5.5.7.3.8" },    { "OCSPSigning", "1.3.6.1.5.5.7.3.9" },
		{ "documentSigning", "1.3.6.1.5.5.7.3.36" },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i][0], name) == 0)
			return map[i][1];
	return name;
}

static int load_profile(const char *config, const char *name, lint_opts_t *o)
{
	json_error_t jerr;
	json_t *doc = json_load_file(config, 0, &jerr), *p, *v;
	size_t i;

	p = doc ? json_object_get(json_object_get(doc, "profiles"), name) : NULL;
	if (p == NULL) {
		fprintf(stderr, "certlint: no profile %s in %s\n", name, config);
		json_decref(doc);
		return -1;
	}
	if (o->max_days == 0)
		o->max_days = (long)json_integer_value(json_object_get(p, "validity_days"));
	o->require_san = json_is_true(json_object_get(p, "require_san"));
	json_array_foreach(json_object_get(p, "ext_key_usage"), i, v)
		if (o->n_eku < 8)
			o->eku[o->n_eku++] = strdup(eku_oid(json_string_value(v)));
	o->have_profile = 1;
	json_decref(doc);
	return 0;
}

static int64_t unix_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	return (int64_t)timegm(&tm);
}

static void lint_serial(X509 *x)
{
	unsigned char *der = NULL;
	int len = i2d_ASN1_INTEGER((ASN1_INTEGER *)X509_get0_serialNumber(x), &der);

	if (len < 3 || (der[2] & 0x80))
		bad("serial number is negative or empty");
	else if (len - 2 > 20)
		bad("serial number has %d octets (RFC 5280: at most 20)", len - 2);
	else if (len - 2 < 8)
		bad("serial number has %d octets (BR: at least 64 bits of entropy)", len - 2);
	else if (len == 3 && der[2] == 0)
		bad("serial number is zero");
	OPENSSL_free(der);
}

static void lint_time_encoding(const ASN1_TIME *t, const char *which)
{
	int64_t u = unix_time(t);
	/* RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
	int want = u < 2524608000LL ? V_ASN1_UTCTIME : V_ASN1_GENERALIZEDTIME;

	if (ASN1_STRING_type(t) != want)
		bad("%s uses the wrong time type for its year", which);
	if (ASN1_TIME_check(t) != 1)
		bad("%s is not a valid time", which);
}

static void lint_validity(X509 *x, const lint_opts_t *o)
{
	int64_t nb = unix_time(X509_get0_notBefore(x)), na = unix_time(X509_get0_notAfter(x));

	lint_time_encoding(X509_get0_notBefore(x), "notBefore");
	lint_time_encoding(X509_get0_notAfter(x), "notAfter");
	if (nb < 0 || na < 0 || na <= nb) {
		bad("validity period is empty or unreadable");
		return;
	}
	if (o->max_days > 0 && na - nb + 1 > (int64_t)o->max_days * 86400)
		bad("validity of %lld s exceeds %ld days", (long long)(na - nb + 1), o->max_days);
	if (o->issuer != NULL && na > unix_time(X509_get0_notAfter(o->issuer)))
		bad("notAfter is after the issuer's notAfter");
}

static int ext_critical(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);
	return i < 0 ? -1 : X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

static int has_eku(EXTENDED_KEY_USAGE *eku, const char *oid)
{
	ASN1_OBJECT *want = OBJ_txt2obj(oid, 1);
	int i, found = 0;

	for (i = 0; eku && want && i < sk_ASN1_OBJECT_num(eku); i++)
		found |= OBJ_cmp(sk_ASN1_OBJECT_value(eku, i), want) == 0;
	ASN1_OBJECT_free(want);
	return found;
}

static void lint_usage(X509 *x, const lint_opts_t *o, int *server)
{
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	uint32_t ku = X509_get_key_usage(x);
	int base = EVP_PKEY_get_base_id(X509_get0_pubkey(x)), i;

	if (bc == NULL || ext_critical(x, NID_basic_constraints) != 1)
		bad("basicConstraints missing or not critical");
	else if (!!bc->ca != o->is_ca)
		bad("basicConstraints cA is %s", bc->ca ? "TRUE on a leaf" : "FALSE on a CA");
	if (ku == UINT32_MAX || ku == 0)
		bad("keyUsage missing or empty");
	else if (ext_critical(x, NID_key_usage) != 1)
		bad("keyUsage is not critical");
	if (o->is_ca && !(ku & KU_KEY_CERT_SIGN))
		bad("CA certificate without keyCertSign");
	if (!o->is_ca && ku != UINT32_MAX && (ku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)))
		bad("leaf certificate with keyCertSign or cRLSign");
	if ((base == EVP_PKEY_EC || base == EVP_PKEY_ED25519) && ku != UINT32_MAX &&
	    (ku & (KU_KEY_ENCIPHERMENT | KU_DATA_ENCIPHERMENT)))
		bad("EC/Ed25519 key with keyEncipherment or dataEncipherment (RFC 8813/8410)");
	*server = has_eku(eku, "1.3.6.1.5.5.7.3.1");
	if (!o->is_ca && eku == NULL)
		bad("leaf certificate without extendedKeyUsage");
	if (eku != NULL && sk_ASN1_OBJECT_num(eku) == 0)
		bad("extendedKeyUsage is an empty SEQUENCE");
	for (i = 0; eku && i < sk_ASN1_OBJECT_num(eku); i++)
		if (OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == NID_anyExtendedKeyUsage)
			bad("anyExtendedKeyUsage present");
	if (o->have_profile) {
		if (sk_ASN1_OBJECT_num(eku) != o->n_eku)
			bad("%d extendedKeyUsage purposes, the profile has %d",
			    sk_ASN1_OBJECT_num(eku), o->n_eku);
		for (i = 0; i < o->n_eku; i++)
			if (!has_eku(eku, o->eku[i]))
				bad("extendedKeyUsage lacks the profile's %s", o->eku[i]);
	}
	if (*server && ku != UINT32_MAX &&
	    !(ku & (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT)))
		bad("serverAuth without digitalSignature/keyEncipherment/keyAgreement");
	BASIC_CONSTRAINTS_free(bc);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
}

static int dns_ok(const unsigned char *s, int len)
{
	int i, label = 0;

	if (len == 0 || len > 253 || s[len - 1] == '.')
		return 0;
	if (len > 2 && s[0] == '*' && s[1] == '.') {
		s += 2;
		len -= 2;
	}
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!(isalnum(s[i]) || (s[i] == '-' && label > 0)) || ++label > 63)
			return 0;
	}
	return label > 0 && s[len - 1] != '-';
}

static void lint_names(X509 *x, int server)
{
	X509_NAME *subj = X509_get_subject_name(x);
	int crit = -1, i, idx;
	GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	unsigned char *cn = NULL;
	char ip[64];

	for (i = 0; i < X509_NAME_entry_count(subj); i++) {
		const ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
		int t = ASN1_STRING_type(v);
		if (ASN1_STRING_length(v) == 0)
			bad("empty attribute value in the subject");
		if (t != V_ASN1_UTF8STRING && t != V_ASN1_PRINTABLESTRING)
			bad("subject attribute encoded as %s, not UTF8String/PrintableString",
			    ASN1_tag2str(t));
	}
	if (sans == NULL && crit != -1)
		bad("subjectAltName does not decode");
	if (sans != NULL && sk_GENERAL_NAME_num(sans) == 0)
		bad("subjectAltName is an empty SEQUENCE");
	if (X509_NAME_entry_count(subj) == 0 && (sans == NULL || crit != 1))
		bad("empty subject without a critical subjectAltName");
	for (i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		if (g->type == GEN_DNS && !dns_ok(g->d.dNSName->data, g->d.dNSName->length))
			bad("subjectAltName DNS name %.*s is not a valid host name",
			    g->d.dNSName->length, g->d.dNSName->data);
		if (g->type == GEN_IPADD && g->d.ip->length != 4 && g->d.ip->length != 16)
			bad("subjectAltName IP address of %d bytes", g->d.ip->length);
		if ((g->type == GEN_EMAIL || g->type == GEN_URI) && g->d.ia5->length == 0)
			bad("empty email/URI in subjectAltName");
	}
	idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	if (server && sans == NULL)
		bad("serverAuth certificate without subjectAltName (BR 7.1.2.7.12)");
	if (server && idx >= 0 &&
	    ASN1_STRING_to_UTF8(&cn, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx))) >= 0) {
		int found = 0;
		for (i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
			if (g->type == GEN_DNS && (size_t)g->d.dNSName->length == strlen((char *)cn) &&
			    strncasecmp((char *)g->d.dNSName->data, (char *)cn, strlen((char *)cn)) == 0)
				found = 1;
			if (g->type == GEN_IPADD && (g->d.ip->length == 4 || g->d.ip->length == 16) &&
			    inet_ntop(g->d.ip->length == 4 ? AF_INET : AF_INET6, g->d.ip->data, ip,
				      sizeof(ip)) && strcmp(ip, (char *)cn) == 0)
				found = 1;
		}
		if (!found)
			bad("commonName %s is not among the subjectAltNames (BR 7.1.4.3)", cn);
	}
	OPENSSL_free(cn);
	GENERAL_NAMES_free(sans);
}

static void lint_keys(X509 *x, const lint_opts_t *o)
{
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(x);
	const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
	EVP_PKEY *pk = X509_get0_pubkey(x);
	char group[64] = "";
	int self = X509_check_issued(x, x) == X509_V_OK;

	if (ski == NULL || ASN1_STRING_length(ski) == 0)
		bad("subjectKeyIdentifier missing");
	if (!self && (aki == NULL || ASN1_STRING_length(aki) == 0))
		bad("authorityKeyIdentifier keyIdentifier missing");
	if (o->issuer != NULL) {
		const ASN1_OCTET_STRING *iski = X509_get0_subject_key_id(o->issuer);
		if (aki != NULL && iski != NULL && ASN1_OCTET_STRING_cmp(aki, iski) != 0)
			bad("authorityKeyIdentifier is not the issuer's subjectKeyIdentifier");
		if (X509_verify(x, X509_get0_pubkey(o->issuer)) != 1)
			bad("signature does not verify with the issuer's key");
		if (X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(o->issuer)) != 0)
			bad("issuer name is not the issuer's subject");
	}
	if (pk == NULL) {
		bad("public key does not decode");
		return;
	}
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(pk) < 2048)
			bad("RSA key of %d bits (BR: at least 2048)", EVP_PKEY_get_bits(pk));
		break;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) != 1 ||
		    (strcmp(group, "prime256v1") && strcmp(group, "secp384r1")))
			bad("EC key on curve %s (BR: P-256 or P-384)", group[0] ? group : "?");
		break;
	case EVP_PKEY_ED25519:
		break;
	default:
		bad("public key type %s", OBJ_nid2sn(EVP_PKEY_get_base_id(pk)));
	}
}

static void lint_encoding(X509 *x, const unsigned char *der, int len)
{
	AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
	CRL_DIST_POINTS *cdp = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
	const X509_ALGOR *outer = NULL;
	unsigned char *again = NULL;
	int len2 = i2d_X509(x, &again);

	if (X509_get_version(x) != X509_VERSION_3)
		bad("not a version 3 certificate");
	if (len2 != len || memcmp(again, der, (size_t)len) != 0)
		bad("encoding is not DER (does not re-encode to the same bytes)");
	X509_get0_signature(NULL, &outer, x);
	if (X509_ALGOR_cmp(X509_get0_tbs_sigalg(x), outer) != 0)
		bad("signature algorithm differs inside and outside the TBS");
	if (X509_get_extension_flags(x) & EXFLAG_INVALID)
		bad("an extension does not decode or appears twice");
	if (aia != NULL && sk_ACCESS_DESCRIPTION_num(aia) == 0)
		bad("authorityInfoAccess is an empty SEQUENCE");
	if (cdp != NULL && sk_DIST_POINT_num(cdp) == 0)
		bad("cRLDistributionPoints is an empty SEQUENCE");
	OPENSSL_free(again);
	AUTHORITY_INFO_ACCESS_free(aia);
	CRL_DIST_POINTS_free(cdp);
}

static X509 *read_pem(const char *path, unsigned char **der, int *len)
{
	FILE *f = fopen(path, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f)
		fclose(f);
	if (x != NULL && der != NULL) {
		*der = NULL;
		*len = i2d_X509(x, der);
	}
	return x;
}

/* The original DER bytes of the first PEM block (re-encoding must reproduce them). */
static unsigned char *read_der(const char *path, long *len)
{
	FILE *f = fopen(path, "r");
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;

	if (f == NULL)
		return NULL;
	if (PEM_read(f, &name, &header, &data, len) != 1)
		data = NULL;
	fclose(f);
	OPENSSL_free(name);
	OPENSSL_free(header);
	return data;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ca", no_argument, NULL, 'c' },        { "issuer", required_argument, NULL, 'i' },
		{ "config", required_argument, NULL, 'f' }, { "profile", required_argument, NULL, 'p' },
		{ "max-days", required_argument, NULL, 'm' }, { NULL, 0, NULL, 0 },
	};
	lint_opts_t o = { 0 };
	const char *config = NULL, *profile = NULL;
	int c, i, any_bad = 0;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o.is_ca = 1; break;
		case 'i':
			if ((o.issuer = read_pem(optarg, NULL, NULL)) == NULL) {
				fprintf(stderr, "certlint: cannot read issuer %s\n", optarg);
				return 2;
			}
			break;
		case 'f': config = optarg; break;
		case 'p': profile = optarg; break;
		case 'm': o.max_days = atol(optarg); break;
		default: return 2;
		}
	}
	if ((config == NULL) != (profile == NULL) || optind >= argc) {
		fprintf(stderr, "usage: certlint [--ca] [--issuer PEM] [--config cairn.json --profile NAME] "
				"[--max-days N] CERT.pem...\n");
		return 2;
	}
	if (profile != NULL && load_profile(config, profile, &o) != 0)
		return 2;
	for (i = optind; i < argc; i++) {
		long dlen = 0;
		unsigned char *der = read_der(argv[i], &dlen);
		const unsigned char *p = der;
		X509 *x = der ? d2i_X509(NULL, &p, dlen) : NULL;
		int server = 0;

		current = argv[i];
		problems = 0;
		if (x == NULL || p != der + dlen) {
			bad("not a PEM certificate, or trailing bytes after its DER");
		} else {
			lint_serial(x);
			lint_validity(x, &o);
			lint_usage(x, &o, &server);
			lint_names(x, server);
			lint_keys(x, &o);
			lint_encoding(x, der, (int)dlen);
		}
		if (problems == 0)
			printf("%s: ok\n", current);
		any_bad |= problems != 0;
		X509_free(x);
		OPENSSL_free(der);
	}
	for (i = 0; i < o.n_eku; i++)
		free((char *)o.eku[i]);
	X509_free(o.issuer);
	return any_bad;
}
