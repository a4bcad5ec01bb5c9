/* SPDX-License-Identifier: MIT */
/* The table of issuing CAs: the first from `cairn init`, later ones from rotations (DB_META "issuers"); which one new certificates get. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/ca_int.h"

void ca_iss_free(ca_iss_t *is)
{
	if (is == NULL)
		return;
	X509_free(is->cert);
	EVP_PKEY_free(is->key);
	free(is->pem);
	free(is->ocsp_url);
	free(is->ca_issuers_url);
	free(is->crl_url);
	free(is);
}

int ca_iss_add(ca_t *ca, const char *name, X509 *cert, const char *label, cairn_err_t *err)
{
	ca_iss_t *is = NULL;
	size_t n = atomic_load(&ca->n_iss);
	int rc;

	if (n == CA_MAX_ISSUERS)
		return cairn_err_set(err, CAIRN_ECONFLICT, "at most %d issuing CAs", CA_MAX_ISSUERS);
	if (strlen(name) >= CA_ISSUER_NAME_MAX || strlen(label) >= sizeof(is->label))
		return cairn_err_set(err, CAIRN_EINVAL, "issuer name or key label too long");
	if (ca_iss_find(ca, name) != NULL)
		return cairn_err_set(err, CAIRN_EEXIST, "issuing CA %s already loaded", name);
	if (X509_check_ca(cert) < 1 || X509_verify(cert, X509_get0_pubkey(ca->root)) != 1) {
		ERR_clear_error();
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "issuing CA %s is not a CA certificate signed by the root", name);
	}
	if ((is = calloc(1, sizeof(*is))) == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	snprintf(is->name, sizeof(is->name), "%s", name);
	snprintf(is->label, sizeof(is->label), "%s", label);
	X509_up_ref(cert);
	is->cert = cert;
	if ((rc = hsm_key_get(ca->hsm, label, &is->key, err)) != 0)
		goto out;
	if (EVP_PKEY_eq(X509_get0_pubkey(cert), is->key) != 1) {
		rc = cairn_err_set(err, CAIRN_ECONFIG, "token key %s does not match issuing CA %s",
				   label, name);
		goto out;
	}
	/* Decode the certificate's extensions now, not in the first ca_issue. */
	(void)X509_get0_subject_key_id(cert);
	if (asprintf(&is->ocsp_url, "%s/ocsp", ca->http_base) < 0)
		is->ocsp_url = NULL;
	if (asprintf(&is->ca_issuers_url, "%s/ca/%s.crt", ca->http_base, name) < 0)
		is->ca_issuers_url = NULL;
	if (asprintf(&is->crl_url, "%s/crl/%s.crl", ca->http_base, name) < 0)
		is->crl_url = NULL;
	if (is->ocsp_url == NULL || is->ca_issuers_url == NULL || is->crl_url == NULL ||
	    ca_cert_pem(cert, &is->pem, &is->pem_len) != 0) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	ca->iss[n] = is;
	is = NULL;
	atomic_store(&ca->n_iss, n + 1); /* the slot is complete before it counts */
	rc = 0;
out:
	ERR_clear_error();
	ca_iss_free(is);
	return rc;
}

int ca_issuers_recorded(db_t *db, ca_recorded_fn fn, void *arg, cairn_err_t *err)
{
	db_txn_t *txn = NULL;
	const void *v;
	size_t vlen, i;
	json_t *doc = NULL, *e;
	int rc = 0;

	if (db_read_begin(db, &txn) != 0)
		return cairn_err_set(err, CAIRN_EDB, "cannot read the database");
	if (db_get(txn, DB_META, CA_ISSUERS_META, strlen(CA_ISSUERS_META), &v, &vlen) != 0)
		goto out; /* never rotated */
	if ((doc = json_loadb(v, vlen, 0, NULL)) == NULL || !json_is_array(doc)) {
		rc = cairn_err_set(err, CAIRN_EDB, "meta %s is damaged", CA_ISSUERS_META);
		goto out;
	}
	json_array_foreach(doc, i, e) {
		const char *name = NULL, *label = NULL, *hex = NULL;
		uint8_t serial[DB_SERIAL_MAX];
		const unsigned char *p;
		X509 *x = NULL;
		db_cert_t c;
		int n;

		if (json_unpack(e, "{s:s, s:s, s:s}", "name", &name, "label", &label, "serial",
				&hex) != 0 ||
		    (n = hex_decode(hex, serial, sizeof(serial))) <= 0 ||
		    db_cert_get(txn, serial, (size_t)n, &c) != 0 ||
		    (p = c.der, x = ca_cert_d2i(&p, (long)c.der_len)) == NULL) {
			rc = cairn_err_set(err, CAIRN_EDB, "meta %s: entry %zu is damaged",
					   CA_ISSUERS_META, i);
			goto out;
		}
		rc = fn(name, label, x, arg, err);
		X509_free(x);
		if (rc != 0)
			goto out;
	}
out:
	ERR_clear_error();
	json_decref(doc);
	db_txn_end(txn);
	return rc;
}

static int load_one(const char *name, const char *label, X509 *x, void *arg, cairn_err_t *err)
{
	ca_t *ca = arg;

	return ca_iss_find(ca, name) != NULL ? 0 : ca_iss_add(ca, name, x, label, err);
}

int ca_iss_load_rotated(ca_t *ca, cairn_err_t *err)
{
	int rc = ca_issuers_recorded(ca->db, load_one, ca, err);

	if (rc == 0)
		atomic_store(&ca->cur, atomic_load(&ca->n_iss) - 1);
	return rc;
}

const ca_iss_t *ca_iss_current(const ca_t *ca)
{
	return ca->iss[atomic_load(&ca->cur)];
}

const ca_iss_t *ca_iss_find(const ca_t *ca, const char *name)
{
	size_t i, n = atomic_load(&ca->n_iss);

	for (i = 0; name != NULL && i < n; i++)
		if (strcmp(ca->iss[i]->name, name) == 0)
			return ca->iss[i];
	return NULL;
}

size_t ca_issuer_count(const ca_t *ca)
{
	return ca == NULL ? 0 : atomic_load(&ca->n_iss);
}

int ca_issuer_at(const ca_t *ca, size_t i, ca_issuer_info_t *out)
{
	const ca_iss_t *is;

	if (ca == NULL || i >= atomic_load(&ca->n_iss))
		return CAIRN_ENOENT;
	is = ca->iss[i];
	out->name = is->name;
	out->cert = is->cert;
	out->key = is->key;
	out->key_label = is->label;
	out->current = atomic_load(&ca->cur) == i;
	return 0;
}

const char *ca_issuer_of(const ca_t *ca, X509 *x)
{
	size_t i, n = ca ? atomic_load(&ca->n_iss) : 0;
	const char *name = NULL;

	/* Newest first: that is where most certificates in use come from. */
	for (i = n; x != NULL && i-- > 0 && name == NULL;)
		if (X509_check_issued(ca->iss[i]->cert, x) == X509_V_OK &&
		    X509_verify(x, X509_get0_pubkey(ca->iss[i]->cert)) == 1)
			name = ca->iss[i]->name;
	ERR_clear_error();
	return name;
}

int ca_issuer_activate(ca_t *ca, const char *name)
{
	size_t i, n = atomic_load(&ca->n_iss);

	for (i = 0; i < n; i++)
		if (strcmp(ca->iss[i]->name, name) == 0) {
			atomic_store(&ca->cur, i);
			return 0;
		}
	return CAIRN_ENOENT;
}

X509 *ca_issuer_cert(const ca_t *ca, const char *name)
{
	const ca_iss_t *is;

	if (ca == NULL || name == NULL)
		return NULL;
	if (strcmp(name, "root") == 0)
		return ca->root;
	if (strcmp(name, "current") == 0)
		return ca_iss_current(ca)->cert;
	is = ca_iss_find(ca, name);
	return is ? is->cert : NULL;
}
