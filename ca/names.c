/* SPDX-License-Identifier: MIT */
/* Name syntax (DNS, email, URI), the names a certificate is indexed under, serials and times. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/x509v3.h>

#include "ca/ca_int.h"

static int is_ldh(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

const char *ca_dns_problem(const char *s, size_t len, int wildcard)
{
	size_t i, start, labels = 0;
	int all_digits = 1;

	if (len == 0)
		return "is empty";
	if (len > 253)
		return "is longer than 253 characters";
	if (s[len - 1] == '.')
		return "ends with a dot";
	i = 0;
	if (len >= 2 && s[0] == '*' && s[1] == '.') {
		if (!wildcard)
			return "is a wildcard, which is not allowed here";
		i = 2;
	}
	start = i;
	for (; i <= len; i++) {
		if (i == len || s[i] == '.') {
			size_t n = i - start;
			if (n == 0)
				return "has an empty label";
			if (n > 63)
				return "has a label longer than 63 characters";
			if (s[start] == '-' || s[i - 1] == '-')
				return "has a label that starts or ends with '-'";
			labels++;
			if (i < len)
				all_digits = 1;
			start = i + 1;
			continue;
		}
		if (s[i] == '*')
			return "has a '*' that is not the whole leftmost label";
		if (!is_ldh(s[i]))
			return "has a character other than letters, digits, '-' and '.'";
		if (s[i] < '0' || s[i] > '9')
			all_digits = 0;
	}
	if (all_digits)
		return "ends in an all-numeric label (an IP address belongs in an IP SAN)";
	if (s[0] == '*' && labels < 2)
		return "is a wildcard over a single label";
	return NULL;
}

const char *ca_email_problem(const char *s, size_t len)
{
	const char *at;
	size_t i, local;

	at = memchr(s, '@', len);
	if (at == NULL || memchr(at + 1, '@', len - (size_t)(at - s) - 1) != NULL)
		return "must contain exactly one '@'";
	local = (size_t)(at - s);
	if (local == 0 || local > 64)
		return "has a local part that is empty or longer than 64 characters";
	for (i = 0; i < local; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f || strchr("\"(),:;<>[\\]", s[i]) != NULL)
			return "has a character not allowed in the local part";
	if (ca_dns_problem(at + 1, len - local - 1, 0) != NULL)
		return "has an invalid domain";
	return NULL;
}

const char *ca_uri_problem(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 2048)
		return "is empty or longer than 2048 characters";
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return "does not start with a scheme";
	for (i = 1; i < len && s[i] != ':'; i++)
		if (!is_ldh(s[i]) && s[i] != '+' && s[i] != '.')
			return "does not start with a scheme";
	if (i == len || i + 1 == len)
		return "has no scheme or nothing after it";
	for (; i < len; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return "has a space, control or non-ASCII character";
	return NULL;
}

const char *ca_san_type_name(int gen_type)
{
	switch (gen_type) {
	case GEN_DNS:
		return "dns";
	case GEN_IPADD:
		return "ip";
	case GEN_EMAIL:
		return "email";
	case GEN_URI:
		return "uri";
	case GEN_OTHERNAME:
		return "otherName";
	case GEN_X400:
		return "x400Address";
	case GEN_DIRNAME:
		return "directoryName";
	case GEN_EDIPARTY:
		return "ediPartyName";
	case GEN_RID:
		return "registeredID";
	default:
		return "unknown";
	}
}

unsigned ca_san_type_bit(int gen_type)
{
	switch (gen_type) {
	case GEN_DNS:
		return CA_SAN_DNS;
	case GEN_IPADD:
		return CA_SAN_IP;
	case GEN_EMAIL:
		return CA_SAN_EMAIL;
	case GEN_URI:
		return CA_SAN_URI;
	default:
		return 0;
	}
}

/* Appends a lower-cased copy of s (len bytes) unless already present. */
static int names_add(char ***names, size_t *n, size_t *cap, const char *s, size_t len)
{
	char *c;
	size_t i;

	if (len == 0 || memchr(s, '\0', len) != NULL)
		return 0;
	for (i = 0; i < *n; i++)
		if (strlen((*names)[i]) == len && strncasecmp((*names)[i], s, len) == 0)
			return 0;
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		char **nn = realloc(*names, ncap * sizeof(*nn));
		if (nn == NULL)
			return CAIRN_ENOMEM;
		*names = nn;
		*cap = ncap;
	}
	c = malloc(len + 1);
	if (c == NULL)
		return CAIRN_ENOMEM;
	for (i = 0; i < len; i++)
		c[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
	c[len] = '\0';
	(*names)[(*n)++] = c;
	return 0;
}

int ca_cert_names(X509 *x, char ***names, size_t *n)
{
	GENERAL_NAMES *gens = NULL;
	unsigned char *cn = NULL;
	size_t cap = 0;
	int i, rc = 0, idx;

	*names = NULL;
	*n = 0;
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const ASN1_STRING *s;
		char ip[INET6_ADDRSTRLEN];

		switch (g->type) {
		case GEN_DNS:
		case GEN_EMAIL:
		case GEN_URI:
			s = g->d.ia5;
			rc = names_add(names, n, &cap, (const char *)ASN1_STRING_get0_data(s),
				       (size_t)ASN1_STRING_length(s));
			break;
		case GEN_IPADD:
			s = g->d.ip;
			if (ASN1_STRING_length(s) != 4 && ASN1_STRING_length(s) != 16)
				break;
			if (inet_ntop(ASN1_STRING_length(s) == 4 ? AF_INET : AF_INET6,
				      ASN1_STRING_get0_data(s), ip, sizeof(ip)) != NULL)
				rc = names_add(names, n, &cap, ip, strlen(ip));
			break;
		default:
			break;
		}
		if (rc != 0)
			goto out;
	}
	idx = X509_NAME_get_index_by_NID(X509_get_subject_name(x), NID_commonName, -1);
	if (idx >= 0) {
		X509_NAME_ENTRY *e = X509_NAME_get_entry(X509_get_subject_name(x), idx);
		int len = ASN1_STRING_to_UTF8(&cn, X509_NAME_ENTRY_get_data(e));
		if (len > 0)
			rc = names_add(names, n, &cap, (const char *)cn, (size_t)len);
	}
out:
	OPENSSL_free(cn);
	GENERAL_NAMES_free(gens);
	if (rc != 0) {
		ca_names_free(*names, *n);
		*names = NULL;
		*n = 0;
	}
	return rc;
}

void ca_names_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; names != NULL && i < n; i++)
		free(names[i]);
	free(names);
}

int ca_cert_serial(X509 *x, uint8_t out[DB_SERIAL_MAX], size_t *len, cairn_err_t *err)
{
	const ASN1_INTEGER *ai = X509_get0_serialNumber(x);
	BIGNUM *bn = NULL;
	int n, rc = 0;

	*len = 0;
	bn = ASN1_INTEGER_to_BN(ai, NULL);
	if (bn == NULL) {
		rc = cairn_err_ssl(err, CAIRN_EINVAL, "certificate serial cannot be read");
		goto out;
	}
	n = BN_num_bytes(bn);
	if (BN_is_negative(bn) || n == 0 || n > DB_SERIAL_MAX) {
		rc = cairn_err_set(err, CAIRN_EINVAL,
				   "certificate serial must be positive and at most %d bytes",
				   DB_SERIAL_MAX);
		goto out;
	}
	BN_bn2bin(bn, out);
	*len = (size_t)n;
out:
	BN_free(bn);
	return rc;
}

int ca_time_unix(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return CAIRN_EINVAL;
	*out = (int64_t)timegm(&tm);
	return 0;
}
