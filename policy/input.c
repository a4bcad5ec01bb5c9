/* SPDX-License-Identifier: MIT */
/* What a policy rule sees of a CSR: subject CN, DNS and IP names, key type and size. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "policy/policy.h"

void policy_input_clear(policy_input_t *in)
{
	size_t i;

	if (in == NULL)
		return;
	for (i = 0; i < in->n_dns; i++)
		free(in->dns[i]);
	for (i = 0; i < in->n_ips; i++)
		free(in->ips[i]);
	free(in->dns);
	free(in->ips);
	in->dns = in->ips = NULL;
	in->n_dns = in->n_ips = 0;
	free((char *)in->subject_cn);
	in->subject_cn = NULL;
}

static int push(char ***arr, size_t *n, char *s)
{
	char **grown = realloc(*arr, (*n + 1) * sizeof(char *));

	if (grown == NULL) {
		free(s);
		return CAIRN_ENOMEM;
	}
	grown[(*n)++] = s;
	*arr = grown;
	return 0;
}

static char *lower_copy(const unsigned char *data, int len)
{
	char *s = malloc((size_t)len + 1);
	int i;

	if (s == NULL)
		return NULL;
	for (i = 0; i < len; i++)
		s[i] = (char)(data[i] >= 'A' && data[i] <= 'Z' ? data[i] - 'A' + 'a' : data[i]);
	s[len] = '\0';
	return s;
}

static int add_san(policy_input_t *in, const GENERAL_NAME *g)
{
	char text[INET6_ADDRSTRLEN];
	const unsigned char *d;
	char *s;
	int len;

	if (g->type == GEN_DNS) {
		d = ASN1_STRING_get0_data(g->d.dNSName);
		len = ASN1_STRING_length(g->d.dNSName);
		if (memchr(d, '\0', (size_t)len) != NULL)
			return CAIRN_ENAME;
		s = lower_copy(d, len);
		return s ? push(&in->dns, &in->n_dns, s) : CAIRN_ENOMEM;
	}
	if (g->type == GEN_IPADD) {
		d = ASN1_STRING_get0_data(g->d.iPAddress);
		len = ASN1_STRING_length(g->d.iPAddress);
		if (inet_ntop(len == 4 ? AF_INET : AF_INET6, d, text, sizeof(text)) == NULL ||
		    (len != 4 && len != 16))
			return CAIRN_ENAME;
		s = strdup(text);
		return s ? push(&in->ips, &in->n_ips, s) : CAIRN_ENOMEM;
	}
	return 0; /* email, URI: not matched by policy rules */
}

int policy_input_from_csr(X509_REQ *req, policy_input_t *in, cairn_err_t *err)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *sans = NULL;
	EVP_PKEY *key;
	X509_NAME *subj;
	int i, rc = 0, idx;

	in->dns = in->ips = NULL;
	in->n_dns = in->n_ips = 0;
	in->subject_cn = NULL;
	subj = X509_REQ_get_subject_name(req);
	idx = subj ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
	if (idx >= 0) {
		ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
		unsigned char *utf8 = NULL;
		int n = ASN1_STRING_to_UTF8(&utf8, cn);
		if (n < 0)
			return cairn_err_ssl(err, CAIRN_EBADCSR, "subject CN is not a valid string");
		in->subject_cn = strndup((const char *)utf8, (size_t)n);
		OPENSSL_free(utf8);
		if (in->subject_cn == NULL) {
			rc = CAIRN_ENOMEM;
			goto out;
		}
	}
	exts = X509_REQ_get_extensions(req);
	sans = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL;
	for (i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		rc = add_san(in, sk_GENERAL_NAME_value(sans, i));
		if (rc) {
			cairn_err_set(err, rc, rc == CAIRN_ENAME ? "malformed name in the CSR" : "out of memory");
			goto out;
		}
	}
	key = X509_REQ_get0_pubkey(req);
	if (key == NULL) {
		rc = cairn_err_ssl(err, CAIRN_EBADCSR, "CSR public key unreadable");
		goto out;
	}
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC:
		in->key_type = "ec";
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
	GENERAL_NAMES_free(sans);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	if (rc)
		policy_input_clear(in);
	return rc;
}
