/* SPDX-License-Identifier: MIT */
/* Name syntax (DNS, email, URI), the names a certificate is indexed under, serials and times. */
#include <stdint.h>
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

/* Punycode's parameters (RFC 3492 §5). */
enum { PUNY_BASE = 36, PUNY_TMIN = 1, PUNY_TMAX = 26, PUNY_SKEW = 38, PUNY_DAMP = 700,
       PUNY_BIAS = 72, PUNY_N = 0x80 };

/* The bias adaptation of RFC 3492 §6.1. */
static uint32_t puny_adapt(uint32_t delta, uint32_t points, int first)
{
	uint32_t k = 0;

	delta = first ? delta / PUNY_DAMP : delta / 2;
	delta += delta / points;
	while (delta > ((PUNY_BASE - PUNY_TMIN) * PUNY_TMAX) / 2) {
		delta /= PUNY_BASE - PUNY_TMIN;
		k += PUNY_BASE;
	}
	return k + (PUNY_BASE - PUNY_TMIN + 1) * delta / (delta + PUNY_SKEW);
}

/* The value of a Punycode digit (either case), or PUNY_BASE for a character that is none. */
static uint32_t puny_digit(char c)
{
	if (c >= 'a' && c <= 'z')
		return (uint32_t)(c - 'a');
	if (c >= 'A' && c <= 'Z')
		return (uint32_t)(c - 'A');
	if (c >= '0' && c <= '9')
		return (uint32_t)(c - '0' + 26);
	return PUNY_BASE;
}

/*
 * NULL when s (len bytes: an xn-- label without its prefix, LDH already) is the Punycode
 * of a U-label (RFC 5890 §2.3.2.1), else what is wrong. The decoder of RFC 3492 §6.2 with
 * its overflow checks, keeping only what a check needs (how many code points, and each
 * one inserted) rather than the U-label. It is strict: the basic code points all before
 * the last '-', every one inserted non-basic, every integer complete. A decoding that
 * passes is therefore the only one of its U-label, which encodes back to this label
 * (case aside): the round trip of §2.3.2.1 holds without an encoder. No IDNA2008 tables.
 */
static const char *puny_problem(const char *s, size_t len)
{
	uint32_t n = PUNY_N, i = 0, bias = PUNY_BIAS, out, oldi, w, k, t, digit;
	const char *delim = NULL;
	size_t in, j;

	for (j = 0; j < len; j++)
		if (s[j] == '-')
			delim = s + j;
	/* The basic code points before the last '-' are copied as they are; the '-' is
	 * consumed only after at least one (a leading one is a digit, and no digit). */
	out = delim ? (uint32_t)(delim - s) : 0;
	in = out > 0 ? (size_t)out + 1 : 0;
	if (in >= len)
		return "has an xn-- label that decodes to ASCII only (not an A-label)";
	while (in < len) {
		oldi = i;
		w = 1;
		for (k = PUNY_BASE;; k += PUNY_BASE) {
			if (in >= len || (digit = puny_digit(s[in++])) >= PUNY_BASE)
				return "has an xn-- label that is not valid Punycode (RFC 3492)";
			if (digit > (UINT32_MAX - i) / w)
				return "has an xn-- label that is not valid Punycode (RFC 3492)";
			i += digit * w;
			t = k <= bias ? PUNY_TMIN : k >= bias + PUNY_TMAX ? PUNY_TMAX : k - bias;
			if (digit < t)
				break;
			if (w > UINT32_MAX / (PUNY_BASE - t))
				return "has an xn-- label that is not valid Punycode (RFC 3492)";
			w *= PUNY_BASE - t;
		}
		out++; /* the code point about to be inserted */
		bias = puny_adapt(i - oldi, out, oldi == 0);
		if (i / out > UINT32_MAX - n)
			return "has an xn-- label that is not valid Punycode (RFC 3492)";
		n += i / out;
		i %= out;
		/* n < 0x80 cannot happen (n only grows from 0x80); 0x80..0x9F are C1 controls */
		if (n < 0xA0 || (n >= 0xD800 && n <= 0xDFFF) || n > 0x10FFFF)
			return "has an xn-- label that decodes to a control character, a surrogate "
			       "or a code point beyond U+10FFFF";
		i++;
	}
	return NULL;
}

const char *ca_dns_problem(const char *s, size_t len, int wildcard)
{
	size_t i, start, labels = 0;
	int all_digits = 1;
	const char *why;

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
			/* "--" in the third and fourth positions is reserved (RFC 5890 §2.3.1):
			 * only xn-- labels, and only Punycode of a U-label */
			if (n >= 4 && s[start + 2] == '-' && s[start + 3] == '-' &&
			    strncasecmp(s + start, "xn--", 4) != 0)
				return "has a reserved label ('--' in the third and fourth "
				       "positions) that is not an xn-- label";
			if (n >= 4 && strncasecmp(s + start, "xn--", 4) == 0 &&
			    (why = puny_problem(s + start + 4, n - 4)) != NULL)
				return why;
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

const char *ca_dns_suffix_problem(const char *s)
{
	if (s[0] == '.')
		s++;
	if (s[0] == '*')
		return "is a wildcard, which a suffix cannot be";
	return ca_dns_problem(s, strlen(s), 0);
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

/* 1 when the hierarchical part of URI s (len bytes, after its "scheme:") has a "." or
 * ".." segment, a dot also written %2e: RFC 3986 §5.2.4 removes them, so a consumer that
 * normalises reads "spiffe://prod/web/../admin" as spiffe://prod/admin, outside the
 * prefix a policy compared byte for byte. */
static int has_dot_segment(const char *s, size_t len, size_t at)
{
	size_t dots = 0, other = 0, i = at;

	if (i + 1 < len && s[i] == '/' && s[i + 1] == '/') /* the authority is no segment */
		for (i += 2; i < len && s[i] != '/' && s[i] != '?' && s[i] != '#'; i++)
			;
	for (; i <= len; i++) {
		if (i == len || s[i] == '/' || s[i] == '?' || s[i] == '#') {
			if (other == 0 && (dots == 1 || dots == 2))
				return 1;
			if (i == len || s[i] != '/')
				return 0;
			dots = other = 0;
		} else if (s[i] == '.') {
			dots++;
		} else if (s[i] == '%' && i + 2 < len && s[i + 1] == '2' &&
			   (s[i + 2] == 'e' || s[i + 2] == 'E')) {
			dots++;
			i += 2;
		} else {
			other++;
		}
	}
	return 0;
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
	if (has_dot_segment(s, len, i + 1))
		return "has a '.' or '..' path segment (RFC 3986 §5.2.4 would remove it)";
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

/* Appends a lower-cased copy of s unless already present. */
static int names_add(char ***names, size_t *n, const char *s)
{
	char *c, **grown;
	size_t i, len = strlen(s);

	for (i = 0; i < *n; i++)
		if (strcasecmp((*names)[i], s) == 0)
			return 0;
	if ((grown = realloc(*names, (*n + 1) * sizeof(*grown))) == NULL)
		return CAIRN_ENOMEM;
	*names = grown;
	if ((c = malloc(len + 1)) == NULL)
		return CAIRN_ENOMEM;
	for (i = 0; i <= len; i++)
		c[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
	(*names)[(*n)++] = c;
	return 0;
}

int ca_cert_names(X509 *x, char ***names, size_t *n)
{
	ca_names_t nm;
	size_t i;
	int rc;

	*names = NULL;
	*n = 0;
	if ((rc = ca_names_from_cert(x, &nm, NULL)) != 0)
		return rc;
	for (i = 0; i < nm.n_san && rc == 0; i++)
		rc = names_add(names, n, nm.san[i].text);
	if (rc == 0 && nm.cn != NULL)
		rc = names_add(names, n, nm.cn_name.type == CA_SAN_IP ? nm.cn_name.text : nm.cn);
	ca_names_clear(&nm);
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
