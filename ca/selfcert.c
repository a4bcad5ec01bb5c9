/* SPDX-License-Identifier: MIT */
/* The certificates cairn signs for itself — the delegated OCSP signer and the daemon's HTTPS certificate — made at init and at every renewal by the same builder. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"

/* localhost, 127.0.0.1 and ::1: the names `cairn init` gives the HTTPS certificate. */
static GENERAL_NAMES *default_https_names(void)
{
	static const char *const ips[] = { "127.0.0.1", "::1" };
	GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
	ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	size_t i;

	if (names == NULL || dns == NULL || gn == NULL || !ASN1_STRING_set(dns, "localhost", 9))
		goto fail;
	GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
	dns = NULL;
	if (!sk_GENERAL_NAME_push(names, gn))
		goto fail;
	gn = NULL;
	for (i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
		ASN1_OCTET_STRING *ip = a2i_IPADDRESS(ips[i]);
		if (ip == NULL || (gn = GENERAL_NAME_new()) == NULL) {
			ASN1_OCTET_STRING_free(ip);
			goto fail;
		}
		GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
		if (!sk_GENERAL_NAME_push(names, gn))
			goto fail;
		gn = NULL;
	}
	return names;
fail:
	GENERAL_NAME_free(gn);
	ASN1_IA5STRING_free(dns);
	GENERAL_NAMES_free(names);
	return NULL;
}

int ca_self_cert_build(ca_self_kind_t kind, const ca_self_spec_t *self, X509 *issuer,
		       EVP_PKEY *issuer_key, EVP_PKEY *pub, X509 **out, cairn_err_t *err)
{
	static const char *const ocsp_eku[] = { "1.3.6.1.5.5.7.3.9", NULL };
	static const char *const tls_eku[] = { "1.3.6.1.5.5.7.3.1", NULL };
	char url_ocsp[300], url_crt[300], url_crl[300];
	GENERAL_NAMES *own = NULL;
	ca_cert_spec_t spec;
	int rc;

	*out = NULL;
	if (self == NULL || self->http_base == NULL || self->validity_days < 1 ||
	    (kind != CA_SELF_OCSP_SIGNER && kind != CA_SELF_HTTPS))
		return cairn_err_set(err, CAIRN_EINVAL, "self certificate: bad arguments");
	snprintf(url_ocsp, sizeof(url_ocsp), "%s/ocsp", self->http_base);
	snprintf(url_crt, sizeof(url_crt), "%s/ca/issuing.crt", self->http_base);
	snprintf(url_crl, sizeof(url_crl), "%s/crl/issuing.crl", self->http_base);
	memset(&spec, 0, sizeof(spec));
	spec.subject = self->subject;
	spec.subject_o = self->org;
	spec.validity_days = self->validity_days;
	spec.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
	spec.ca_issuers_url = url_crt;
	if (kind == CA_SELF_OCSP_SIGNER) {
		/* RFC 6960 §4.2.2.2: OCSPSigning; ocsp-nocheck so clients need not ask
		 * about the responder itself. */
		spec.subject_cn = "OCSP Responder";
		spec.eku = ocsp_eku;
		spec.ocsp_nocheck = 1;
	} else {
		spec.subject_cn = "localhost";
		spec.eku = tls_eku;
		spec.sans = self->sans;
		if (spec.sans == NULL && (spec.sans = own = default_https_names()) == NULL)
			return cairn_err_ssl(err, CAIRN_ENOMEM, "cannot build the HTTPS names");
		spec.ocsp_url = url_ocsp;
		spec.crl_url = url_crl;
	}
	rc = ca_cert_build(&spec, issuer, issuer_key, pub, out, err);
	GENERAL_NAMES_free(own);
	return rc;
}

int ca_self_cert_renew(ca_self_kind_t kind, X509 *old, const char *http_base, int days,
		       X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY *pub, X509 **out,
		       cairn_err_t *err)
{
	ca_self_spec_t self = { 0 };
	GENERAL_NAMES *sans = NULL;
	int crit = -1, rc;

	*out = NULL;
	if (old == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "renewal without the certificate it replaces");
	self.subject = X509_get_subject_name(old);
	self.http_base = http_base;
	self.validity_days = days;
	if (kind == CA_SELF_HTTPS) {
		sans = X509_get_ext_d2i(old, NID_subject_alt_name, &crit, NULL);
		if (sans == NULL || sk_GENERAL_NAME_num(sans) == 0) {
			GENERAL_NAMES_free(sans);
			return cairn_err_set(err, CAIRN_EINVAL,
					     "the HTTPS certificate to renew has no subjectAltName");
		}
		self.sans = sans;
	}
	rc = ca_self_cert_build(kind, &self, issuer, issuer_key, pub, out, err);
	GENERAL_NAMES_free(sans);
	return rc;
}

char *ca_key_pem(EVP_PKEY *key)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL, *out = NULL;
	long n;

	if (b != NULL && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1 &&
	    (n = BIO_get_mem_data(b, &data)) > 0) {
		out = strndup(data, (size_t)n);
		OPENSSL_cleanse(data, (size_t)n);
	}
	BIO_free(b);
	return out;
}
