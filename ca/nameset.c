/* SPDX-License-Identifier: MIT */
/* The one name extractor: the subject CN/O and subjectAltNames of a CSR or a certificate, checked and normalised once. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/ca_int.h"

static const uint8_t v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

void ca_names_clear(ca_names_t *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->n_san; i++)
		free(n->san[i].text);
	free(n->san);
	free(n->cn_name.text);
	OPENSSL_free(n->cn);
	OPENSSL_free(n->o);
	memset(n, 0, sizeof(*n));
	n->other_type = -1;
}

int ca_ip_from_bytes(const uint8_t *bytes, size_t len, ca_name_t *out)
{
	char text[INET6_ADDRSTRLEN];

	if (len != 4 && len != 16)
		return CAIRN_ENAME;
	out->type = CA_SAN_IP;
	out->mapped = len == 16 && memcmp(bytes, v4_mapped_prefix, 12) == 0;
	if (out->mapped) {
		memcpy(out->ip, bytes + 12, 4);
		out->ip_len = 4;
	} else {
		memcpy(out->ip, bytes, len);
		out->ip_len = len;
	}
	if (inet_ntop(out->ip_len == 4 ? AF_INET : AF_INET6, out->ip, text, sizeof(text)) == NULL)
		return CAIRN_ENAME;
	out->text = strdup(text);
	return out->text ? 0 : CAIRN_ENOMEM;
}

int ca_ip_from_text(const char *s, ca_name_t *out)
{
	uint8_t bin[16];

	if (inet_pton(AF_INET, s, bin) == 1)
		return ca_ip_from_bytes(bin, 4, out);
	if (inet_pton(AF_INET6, s, bin) == 1)
		return ca_ip_from_bytes(bin, 16, out);
	return CAIRN_ENAME;
}

/* A malloc'd NUL-terminated copy of an IA5 value, DNS names lower-cased. Refuses
 * empty values, NUL and bytes outside printable ASCII (an IA5String is ASCII;
 * anything else would be read differently by different parsers). */
static int ia5_text(const ASN1_STRING *s, int lower, const char *type, char **out,
		    cairn_err_t *err)
{
	const unsigned char *d = ASN1_STRING_get0_data(s);
	int i, len = ASN1_STRING_length(s);
	char *t;

	if (len <= 0)
		return cairn_err_set(err, CAIRN_ENAME, "SAN %s is empty", type);
	for (i = 0; i < len; i++)
		if (d[i] <= 0x20 || d[i] >= 0x7f)
			return cairn_err_set(err, CAIRN_ENAME,
					     "SAN %s has a space, control or non-ASCII byte", type);
	if ((t = malloc((size_t)len + 1)) == NULL)
		return CAIRN_ENOMEM;
	for (i = 0; i < len; i++)
		t[i] = (char)(lower && d[i] >= 'A' && d[i] <= 'Z' ? d[i] - 'A' + 'a' : d[i]);
	t[len] = '\0';
	*out = t;
	return 0;
}

static int same_name(const ca_name_t *a, const ca_name_t *b)
{
	if (a->type != b->type)
		return 0;
	if (a->type == CA_SAN_IP)
		return a->ip_len == b->ip_len && memcmp(a->ip, b->ip, a->ip_len) == 0;
	return strcmp(a->text, b->text) == 0;
}

/* Appends one GeneralName; types other than dns/ip/email/uri only set other_type. */
static int add_general_name(ca_names_t *n, const GENERAL_NAME *g, cairn_err_t *err)
{
	ca_name_t nm;
	size_t i;
	int rc;

	memset(&nm, 0, sizeof(nm));
	switch (g->type) {
	case GEN_DNS:
		nm.type = CA_SAN_DNS;
		rc = ia5_text(g->d.dNSName, 1, "dns", &nm.text, err);
		break;
	case GEN_EMAIL:
		nm.type = CA_SAN_EMAIL;
		rc = ia5_text(g->d.rfc822Name, 0, "email", &nm.text, err);
		break;
	case GEN_URI:
		nm.type = CA_SAN_URI;
		rc = ia5_text(g->d.uniformResourceIdentifier, 0, "uri", &nm.text, err);
		break;
	case GEN_IPADD:
		/* Only 4 and 16 bytes are addresses; anything else is never read as one. */
		rc = ca_ip_from_bytes(ASN1_STRING_get0_data(g->d.iPAddress),
				      (size_t)ASN1_STRING_length(g->d.iPAddress), &nm);
		if (rc == CAIRN_ENAME)
			cairn_err_set(err, rc, "SAN ip has %d bytes, not 4 or 16",
				      ASN1_STRING_length(g->d.iPAddress));
		break;
	default:
		if (n->other_type < 0)
			n->other_type = g->type;
		return 0;
	}
	if (rc != 0) {
		free(nm.text);
		return rc;
	}
	for (i = 0; i < n->n_san; i++)
		if (same_name(&n->san[i], &nm)) {
			free(nm.text);
			return 0;
		}
	if (n->n_san % 8 == 0) {
		ca_name_t *grown = realloc(n->san, (n->n_san + 8) * sizeof(*grown));
		if (grown == NULL) {
			free(nm.text);
			return CAIRN_ENOMEM;
		}
		n->san = grown;
	}
	n->san[n->n_san++] = nm;
	return 0;
}

/* The subject attribute nid as UTF-8 (*out NULL when absent; OPENSSL_free).
 * Refuses duplicates, control characters and more than 64 characters. */
static int name_entry(const X509_NAME *name, int nid, char **out, cairn_err_t *err)
{
	unsigned char *utf8 = NULL;
	const char *what = OBJ_nid2ln(nid);
	int idx, len, i, chars = 0;

	*out = NULL;
	idx = X509_NAME_get_index_by_NID(name, nid, -1);
	if (idx < 0)
		return 0;
	if (X509_NAME_get_index_by_NID(name, nid, idx) >= 0)
		return cairn_err_set(err, CAIRN_ENAME, "subject has more than one %s", what);
	len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
	if (len < 0)
		return cairn_err_ssl(err, CAIRN_EBADCSR, "subject %s is not a valid string", what);
	for (i = 0; i < len; i++) {
		if (utf8[i] < 0x20 || utf8[i] == 0x7f) {
			OPENSSL_free(utf8);
			return cairn_err_set(err, CAIRN_ENAME, "subject %s contains a control character",
					     what);
		}
		if ((utf8[i] & 0xc0) != 0x80)
			chars++;
	}
	if (chars == 0 || chars > CA_MAX_NAME_CHARS) {
		OPENSSL_free(utf8);
		return cairn_err_set(err, CAIRN_ENAME, "subject %s must be 1..%d characters", what,
				     CA_MAX_NAME_CHARS);
	}
	*out = (char *)utf8;
	return 0;
}

/* The CN read as a name: an IP address when it parses as one (normalised like
 * an IP SAN), else a lower-cased DNS-style name. */
static int cn_as_name(const char *cn, ca_name_t *out)
{
	size_t i, len = strlen(cn);
	int rc = ca_ip_from_text(cn, out);

	if (rc != CAIRN_ENAME)
		return rc;
	memset(out, 0, sizeof(*out));
	out->type = CA_SAN_DNS;
	if ((out->text = malloc(len + 1)) == NULL)
		return CAIRN_ENOMEM;
	for (i = 0; i <= len; i++)
		out->text[i] = (char)(cn[i] >= 'A' && cn[i] <= 'Z' ? cn[i] - 'A' + 'a' : cn[i]);
	return 0;
}

/* Common part: subject, then the (already decoded) SANs. Consumes gens. */
static int names_fill(const X509_NAME *subj, GENERAL_NAMES *gens, ca_names_t *out,
		      cairn_err_t *err)
{
	int i, rc = 0, n = gens ? sk_GENERAL_NAME_num(gens) : 0;

	if (n > CA_MAX_SANS) {
		rc = cairn_err_set(err, CAIRN_ENAME, "%d subjectAltNames, the maximum is %d", n,
				   CA_MAX_SANS);
		goto out;
	}
	if ((rc = name_entry(subj, NID_commonName, &out->cn, err)) != 0 ||
	    (rc = name_entry(subj, NID_organizationName, &out->o, err)) != 0)
		goto out;
	if (out->cn != NULL && (rc = cn_as_name(out->cn, &out->cn_name)) != 0)
		goto out;
	for (i = 0; i < n; i++)
		if ((rc = add_general_name(out, sk_GENERAL_NAME_value(gens, i), err)) != 0)
			goto out;
out:
	if (rc == CAIRN_ENOMEM)
		cairn_err_set(err, rc, "out of memory");
	GENERAL_NAMES_free(gens);
	if (rc != 0)
		ca_names_clear(out);
	return rc;
}

/* The TLS feature extension a CSR asks for (ca_csr_requests). */
static int tls_feature(const STACK_OF(X509_EXTENSION) *exts, int *must_staple, cairn_err_t *err)
{
	TLS_FEATURE *f;
	long v = 5;
	int crit = -1, i, n;

	*must_staple = 0;
	if ((f = X509V3_get_d2i(exts, NID_tlsfeature, &crit, NULL)) == NULL) {
		if (crit == -2)
			return cairn_err_set(err, CAIRN_EBADCSR,
					     "CSR requests the TLS feature extension twice");
		if (crit >= 0)
			return cairn_err_ssl(err, CAIRN_EBADCSR,
					     "CSR TLS feature extension is malformed");
		return 0;
	}
	n = sk_ASN1_INTEGER_num(f);
	for (i = 0; i < n && v == 5; i++)
		v = ASN1_INTEGER_get(sk_ASN1_INTEGER_value(f, i));
	sk_ASN1_INTEGER_pop_free(f, ASN1_INTEGER_free);
	if (n == 0)
		return cairn_err_set(err, CAIRN_EBADCSR, "CSR TLS feature extension lists no feature");
	if (v != 5)
		return cairn_err_set(err, CAIRN_EBADCSR,
				     "CSR requests TLS feature %ld: only status_request (5, OCSP "
				     "Must-Staple) is certified",
				     v);
	*must_staple = 1;
	return 0;
}

int ca_csr_requests(X509_REQ *req, ca_names_t *out, int *must_staple, cairn_err_t *err)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *gens = NULL;
	int crit = -1, rc = 0, staple = 0;

	memset(out, 0, sizeof(*out));
	out->other_type = -1;
	if (must_staple != NULL)
		*must_staple = 0;
	if (req == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "ca_names_from_csr: no CSR");
	exts = X509_REQ_get_extensions(req);
	if (exts != NULL) {
		gens = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
		if (gens == NULL && crit == -2)
			rc = cairn_err_set(err, CAIRN_EBADCSR, "CSR requests subjectAltName twice");
		else if (gens == NULL && crit >= 0)
			rc = cairn_err_ssl(err, CAIRN_EBADCSR,
					   "CSR subjectAltName extension is malformed");
		else
			rc = tls_feature(exts, &staple, err);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
		if (rc != 0) {
			GENERAL_NAMES_free(gens);
			return rc;
		}
	}
	if ((rc = names_fill(X509_REQ_get_subject_name(req), gens, out, err)) == 0 &&
	    must_staple != NULL)
		*must_staple = staple;
	return rc;
}

int ca_names_from_csr(X509_REQ *req, ca_names_t *out, cairn_err_t *err)
{
	return ca_csr_requests(req, out, NULL, err);
}

int ca_names_from_cert(X509 *x, ca_names_t *out, cairn_err_t *err)
{
	GENERAL_NAMES *gens;
	int crit = -1;

	memset(out, 0, sizeof(*out));
	out->other_type = -1;
	if (x == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "ca_names_from_cert: no certificate");
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	if (gens == NULL && crit == -2)
		return cairn_err_set(err, CAIRN_EBADCSR, "certificate has subjectAltName twice");
	if (gens == NULL && crit >= 0)
		return cairn_err_ssl(err, CAIRN_EBADCSR,
				     "certificate subjectAltName extension is malformed");
	return names_fill(X509_get_subject_name(x), gens, out, err);
}

int ca_names_has(const ca_names_t *n, const ca_name_t *name)
{
	size_t i;

	for (i = 0; i < n->n_san; i++)
		if (same_name(&n->san[i], name))
			return 1;
	return 0;
}

/* strcmp of a and b read backwards, case-insensitive: the by_rname order. */
static int rname_cmp(const char *a, const char *b)
{
	size_t i = strlen(a), j = strlen(b);
	int x, y;

	while (i > 0 && j > 0) {
		x = tolower((unsigned char)a[--i]);
		y = tolower((unsigned char)b[--j]);
		if (x != y)
			return x - y;
	}
	return i > 0 ? 1 : j > 0 ? -1 : 0;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

int ca_names_suffix_first(const ca_names_t *n, const char *suffix, const char *matched)
{
	const char *first = NULL, *t;
	int seen = 0;
	size_t i;

	for (i = 0; i <= n->n_san; i++) {
		t = i < n->n_san ? n->san[i].text : n->cn;
		if (t == NULL || !ends_with(t, suffix))
			continue;
		seen |= strcasecmp(t, matched) == 0;
		if (first == NULL || rname_cmp(t, first) < 0)
			first = t;
	}
	return !seen || strcasecmp(first, matched) == 0;
}

int ca_names_same_sans(const ca_names_t *a, const ca_names_t *b)
{
	size_t i;

	if (a->n_san != b->n_san || a->other_type != b->other_type)
		return 0;
	for (i = 0; i < a->n_san; i++)
		if (!ca_names_has(b, &a->san[i]))
			return 0;
	return 1;
}

char *ca_dn_text(const X509_NAME *name)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL, *out = NULL;
	long n;

	if (b != NULL && name != NULL && X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
		n = BIO_get_mem_data(b, &data);
		out = n >= 0 ? strndup(n > 0 ? data : "", (size_t)n) : NULL;
	}
	BIO_free(b);
	return out;
}

const char *ca_name_type_str(unsigned type)
{
	switch (type) {
	case CA_SAN_DNS:
		return "dns";
	case CA_SAN_IP:
		return "ip";
	case CA_SAN_EMAIL:
		return "email";
	case CA_SAN_URI:
		return "uri";
	default:
		return "other";
	}
}

int ca_names_to_general(const ca_names_t *n, GENERAL_NAMES **out)
{
	GENERAL_NAMES *gens = NULL;
	GENERAL_NAME *g = NULL;
	ASN1_STRING *s = NULL;
	size_t i;
	int gtype;

	*out = NULL;
	if (n->n_san == 0)
		return 0;
	if ((gens = sk_GENERAL_NAME_new_null()) == NULL)
		goto fail;
	for (i = 0; i < n->n_san; i++) {
		const ca_name_t *nm = &n->san[i];
		gtype = nm->type == CA_SAN_DNS	 ? GEN_DNS :
			nm->type == CA_SAN_IP	 ? GEN_IPADD :
			nm->type == CA_SAN_EMAIL ? GEN_EMAIL :
						   GEN_URI;
		s = gtype == GEN_IPADD ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
		if (s == NULL || (g = GENERAL_NAME_new()) == NULL)
			goto fail;
		if (gtype == GEN_IPADD ? ASN1_OCTET_STRING_set(s, nm->ip, (int)nm->ip_len) != 1 :
					 ASN1_STRING_set(s, nm->text, -1) != 1)
			goto fail;
		GENERAL_NAME_set0_value(g, gtype, s);
		s = NULL;
		if (sk_GENERAL_NAME_push(gens, g) == 0)
			goto fail;
		g = NULL;
	}
	*out = gens;
	return 0;
fail:
	ASN1_STRING_free(s);
	GENERAL_NAME_free(g);
	GENERAL_NAMES_free(gens);
	return CAIRN_ENOMEM;
}
