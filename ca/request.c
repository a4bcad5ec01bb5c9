/* SPDX-License-Identifier: MIT */
/* The request object: a CSR parsed, its signature verified and its names extracted once, for every channel, the policy and ca_issue. */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "ca/ca_int.h"

void ca_csr_free(ca_csr_t *c)
{
	if (c == NULL)
		return;
	X509_REQ_free(c->req);
	EVP_PKEY_free(c->pub);
	ca_names_clear(&c->names);
	free(c->raw);
	free(c);
}

/*
 * Builds the object (see ca.h). The order of the checks is the order ca_csr_check has
 * always used (names, key, signature), so each CSR is refused for the same reason as
 * before; only the profile's own RSA minimum waits for ca_csr_check_profile.
 */
int ca_csr_new(const void *data, size_t len, unsigned flags, ca_csr_t **out, cairn_err_t *err)
{
	ca_csr_t *c = NULL;
	EVP_PKEY *pk;
	int rc;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	c->names.other_type = -1;
	if ((rc = ca_csr_parse(data, len, &c->req, err)) != 0 ||
	    (rc = ca_csr_requests(c->req, &c->names, &c->must_staple, err)) != 0)
		goto out;
	pk = X509_REQ_get0_pubkey(c->req);
	if (!(flags & CA_CSR_NO_VERIFY)) {
		if ((rc = ca_csr_key_check(c->req, pk, CA_PROFILE_MIN_RSA, err)) != 0 ||
		    (rc = ca_csr_sig_check(c->req, pk, err)) != 0)
			goto out;
		c->verified = 1;
	} else if (pk == NULL) {
		rc = cairn_err_ssl(err, CAIRN_EBADCSR, "CSR public key unreadable");
		goto out;
	}
	/* The form X509_set_pubkey encodes fast (EC), else the CSR's own key. */
	if ((rc = ca_pubkey_fast(pk, &c->pub)) != 0) {
		rc = cairn_err_set(err, rc, "out of memory");
		goto out;
	}
	if (c->pub == NULL && EVP_PKEY_up_ref(pk) == 1)
		c->pub = pk;
	if (c->pub == NULL || (c->raw = malloc(len)) == NULL) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(c->raw, data, len);
	c->raw_len = len;
	*out = c;
	c = NULL;
out:
	if (rc != 0)
		ERR_clear_error();
	ca_csr_free(c);
	return rc;
}

int ca_csr_check_profile(const ca_csr_t *c, const ca_profile_t *prof, cairn_err_t *err)
{
	int rc;

	if (c == NULL || prof == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "ca_csr_check_profile: missing argument");
	if (!c->verified)
		return cairn_err_set(err, CAIRN_EINVAL, "the CSR's signature was not verified");
	if ((rc = ca_csr_key_check(c->req, X509_REQ_get0_pubkey(c->req), prof->min_rsa_bits,
				   err)) != 0)
		return rc;
	if ((rc = ca_csr_staple_check(c->must_staple, prof, err)) != 0)
		return rc;
	return ca_csr_names_check(&c->names, prof, err);
}
