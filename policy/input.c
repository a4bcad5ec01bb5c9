/* SPDX-License-Identifier: MIT */
/* What a policy rule sees of a CSR: subject CN, its names (DNS, IP, email, URI), key and size. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>

#include "policy/policy_int.h"

static void names_free(char ***v, size_t *n)
{
	size_t i;

	for (i = 0; i < *n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
	*n = 0;
}

void policy_input_clear(policy_input_t *in)
{
	if (in == NULL)
		return;
	names_free(&in->dns, &in->n_dns);
	names_free(&in->ips, &in->n_ips);
	names_free(&in->emails, &in->n_emails);
	names_free(&in->uris, &in->n_uris);
	free((char *)in->subject_cn);
	in->subject_cn = NULL;
	in->cn_name = NULL;
}

static int push(char ***arr, size_t *n, const char *text)
{
	char **grown = realloc(*arr, (*n + 1) * sizeof(char *));
	char *s = strdup(text);

	if (grown != NULL)
		*arr = grown;
	if (grown == NULL || s == NULL) {
		free(s);
		return CAIRN_ENOMEM;
	}
	(*arr)[(*n)++] = s;
	return 0;
}

/* An email SAN as rules compare it: the domain lower-cased (domains are not case
 * sensitive), the local part as given (RFC 5321 leaves its case to the mailbox's host). */
static int push_email(policy_input_t *in, const char *text)
{
	const char *at = strrchr(text, '@');
	char *c;
	int rc;

	if ((rc = push(&in->emails, &in->n_emails, text)) != 0 || at == NULL)
		return rc;
	for (c = in->emails[in->n_emails - 1] + (at - text); *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return 0;
}

/* 1 when in's email names already hold text as rules compare it (push_email: the
 * domain's case folded): a CN "Ceo@X.iot.test" beside the SAN "Ceo@x.iot.test" is one
 * mailbox, listed once. */
static int has_email(const policy_input_t *in, const char *text)
{
	const char *at = strrchr(text, '@');
	size_t i, local = at == NULL ? strlen(text) : (size_t)(at - text);

	for (i = 0; i < in->n_emails; i++)
		if (strlen(in->emails[i]) == strlen(text) &&
		    strncmp(in->emails[i], text, local) == 0 &&
		    (at == NULL || strcasecmp(in->emails[i] + local, at) == 0))
			return 1;
	return 0;
}

/* The CN read the way the most lenient reader would: " host. " is "host", and text
 * that inet_aton takes for an IPv4 address ("10.20.257", "0x0a.20.1.1") is that
 * address. *out (a copy, text malloc'd) is the IP or DNS name. */
static int cn_lenient(const ca_name_t *cn, ca_name_t *out)
{
	struct in_addr v4;
	const char *start = cn->text + strspn(cn->text, " ");
	size_t len = strlen(start);
	char *text;
	int rc;

	memset(out, 0, sizeof(*out));
	if (cn->type == CA_SAN_IP)
		return ca_ip_from_bytes(cn->ip, cn->ip_len, out);
	while (len > 0 && start[len - 1] == ' ')
		len--;
	if (len > 1 && start[len - 1] == '.')
		len--;
	if (len == 0)
		return 0; /* only spaces: no name (type 0) */
	if ((text = strndup(start, len)) == NULL)
		return CAIRN_ENOMEM;
	rc = ca_ip_from_text(text, out);
	if (rc == CAIRN_ENAME && inet_aton(text, &v4) == 1)
		rc = ca_ip_from_bytes((const uint8_t *)&v4.s_addr, 4, out);
	if (rc != CAIRN_ENAME) {
		free(text);
		return rc;
	}
	out->type = CA_SAN_DNS;
	out->text = text;
	return 0;
}

/* 1 when text starts with a URI scheme and its ':' (RFC 3986 3.1: a letter, then letters,
 * digits, '+', '-', '.'): "spiffe://prod/x", "urn:uuid:...". No host name or IP address
 * does ("::1" was read as an address before). */
static int has_scheme(const char *text)
{
	size_t i = 0;

	if (!((text[0] >= 'a' && text[0] <= 'z') || (text[0] >= 'A' && text[0] <= 'Z')))
		return 0;
	while (text[i] != '\0' && text[i] != ':' &&
	       strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.", text[i]))
		i++;
	return text[i] == ':';
}

/* The CN as written, surrounding spaces dropped, as a name of kind type (CA_SAN_EMAIL or
 * CA_SAN_URI): a copy in out->text. */
static int cn_as_written(const char *cn, unsigned type, ca_name_t *out)
{
	const char *start = cn + strspn(cn, " ");
	size_t len = strlen(start);

	while (len > 0 && start[len - 1] == ' ')
		len--;
	memset(out, 0, sizeof(*out));
	out->type = type;
	return (out->text = strndup(start, len)) == NULL ? CAIRN_ENOMEM : 0;
}

/* The CN is a name too (a client certificate's CN is what many servers check): when
 * it is not one of the SANs it joins the names of its kind, read the strict way: an IP
 * address when any reader takes it for one; else a URI when it starts with a scheme
 * (spiffe://prod/admin), an email address when it has an '@' (ceo@x.iot.test), each as
 * written; else a DNS-style name. Read as a DNS name, "ceo@x.iot.test" and
 * "spiffe://prod/x.iot.test" ended in ".iot.test", and a rule for that DNS suffix let
 * through what a consumer reads as a mailbox or a SPIFFE ID. */
static int add_cn_name(const ca_names_t *names, policy_input_t *in)
{
	ca_name_t cn;
	unsigned kind;
	int rc;

	if (names->cn == NULL || names->cn_name.type == 0)
		return 0;
	if ((rc = cn_lenient(&names->cn_name, &cn)) != 0)
		return rc;
	kind = cn.type != CA_SAN_DNS	  ? 0
	       : has_scheme(cn.text)	  ? CA_SAN_URI
	       : strchr(cn.text, '@') != NULL ? CA_SAN_EMAIL
					  : 0;
	if (kind != 0) {
		free(cn.text);
		if ((rc = cn_as_written(names->cn, kind, &cn)) != 0)
			return rc;
	}
	if (cn.type != 0 && !ca_names_has(names, &cn) &&
	    !(cn.type == CA_SAN_EMAIL && has_email(in, cn.text))) {
		if (cn.type == CA_SAN_IP && (rc = push(&in->ips, &in->n_ips, cn.text)) == 0)
			in->cn_name = in->ips[in->n_ips - 1];
		else if (cn.type == CA_SAN_DNS && (rc = push(&in->dns, &in->n_dns, cn.text)) == 0)
			in->cn_name = in->dns[in->n_dns - 1];
		else if (cn.type == CA_SAN_URI && (rc = push(&in->uris, &in->n_uris, cn.text)) == 0)
			in->cn_name = in->uris[in->n_uris - 1];
		else if (cn.type == CA_SAN_EMAIL && (rc = push_email(in, cn.text)) == 0)
			in->cn_name = in->emails[in->n_emails - 1];
	}
	free(cn.text);
	return rc;
}

/* The NIST name of an EC key's curve ("P-256"), else OpenSSL's short name; a static
 * string, or NULL when the curve has no name. */
static const char *curve_name(const EVP_PKEY *key)
{
	char group[64];
	const char *nist;
	int nid;

	if (EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) != 1)
		return NULL;
	nid = OBJ_sn2nid(group);
	if (nid == NID_undef)
		nid = OBJ_txt2nid(group);
	if (nid == NID_undef)
		return NULL;
	nist = EC_curve_nid2nist(nid);
	return nist ? nist : OBJ_nid2sn(nid);
}

/* Names come from the one extractor (ca_names_from_csr, run once by ca_csr_new): an
 * iPAddress of a length other than 4 or 16 is refused there, and IPv4-mapped IPv6
 * arrives as IPv4. */
int policy_input_from_csr(const ca_csr_t *csr, policy_input_t *in, cairn_err_t *err)
{
	const ca_names_t *names;
	EVP_PKEY *key;
	size_t i;
	int rc;

	in->dns = in->ips = in->emails = in->uris = NULL;
	in->n_dns = in->n_ips = in->n_emails = in->n_uris = 0;
	in->subject_cn = NULL;
	in->cn_name = NULL;
	if (csr == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "policy input: no CSR");
	names = &csr->names;
	rc = 0;
	if (names->cn != NULL && (in->subject_cn = strdup(names->cn)) == NULL)
		rc = CAIRN_ENOMEM;
	for (i = 0; rc == 0 && i < names->n_san; i++) {
		const ca_name_t *nm = &names->san[i];
		if (nm->type == CA_SAN_DNS)
			rc = push(&in->dns, &in->n_dns, nm->text);
		else if (nm->type == CA_SAN_IP)
			rc = push(&in->ips, &in->n_ips, nm->text);
		else if (nm->type == CA_SAN_EMAIL)
			rc = push_email(in, nm->text);
		else if (nm->type == CA_SAN_URI)
			rc = push(&in->uris, &in->n_uris, nm->text);
	}
	if (rc == 0)
		rc = add_cn_name(names, in);
	if (rc != 0) {
		cairn_err_set(err, rc, "out of memory");
		goto out;
	}
	key = X509_REQ_get0_pubkey(csr->req);
	if (key == NULL) {
		rc = cairn_err_ssl(err, CAIRN_EBADCSR, "CSR public key unreadable");
		goto out;
	}
	in->key_curve = NULL;
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC:
		in->key_type = "ec";
		in->key_curve = curve_name(key);
		break;
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS:
		in->key_type = "rsa";
		break;
	case EVP_PKEY_ED25519:
		in->key_type = "ed25519";
		break;
	default:
		in->key_type = "other";
	}
	/* Ed25519 reports 253 bits; rules speak of the 256-bit key. */
	in->key_bits = strcmp(in->key_type, "ed25519") == 0 ? 256 : EVP_PKEY_get_bits(key);
out:
	if (rc)
		policy_input_clear(in);
	return rc;
}

json_t *policy_input_names(const policy_input_t *in)
{
	char *const *const lists[] = { in->dns, in->ips, in->emails, in->uris };
	const size_t counts[] = { in->n_dns, in->n_ips, in->n_emails, in->n_uris };
	json_t *names = json_array();
	size_t k, i;

	for (k = 0; names != NULL && k < 4; k++)
		for (i = 0; i < counts[k]; i++)
			json_array_append_new(names, json_string(lists[k][i]));
	return names;
}
