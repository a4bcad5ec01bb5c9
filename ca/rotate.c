/* SPDX-License-Identifier: MIT */
/* Rotation of the issuing CA: a new key in the token, its certificate signed by the root in the token, recorded with its audit event and the issuer list in one write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/ca_int.h"

#define DAY 86400

/* The serial of x as the db stores it, in hex ("" when it cannot be one). */
static void serial_hex(X509 *x, char out[2 * DB_SERIAL_MAX + 1])
{
	uint8_t sn[DB_SERIAL_MAX];
	size_t len = 0;

	out[0] = '\0';
	if (ca_cert_serial(x, sn, &len, NULL) == 0)
		db_serial_hex(sn, len, out);
}

/* A key of the type of k (the current issuing key): P-256, P-384 or RSA-3072. */
static hsm_key_type_t key_type_of(EVP_PKEY *k)
{
	if (EVP_PKEY_is_a(k, "EC"))
		return EVP_PKEY_get_bits(k) > 256 ? HSM_KEY_EC_P384 : HSM_KEY_EC_P256;
	return HSM_KEY_RSA_3072;
}

struct issuers_meta {
	char *text; /* the whole DB_META "issuers" value */
};

static int put_issuers(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct issuers_meta *m = arg;
	int rc = db_put(txn, DB_META, CA_ISSUERS_META, strlen(CA_ISSUERS_META), m->text,
			strlen(m->text), 0);

	if (rc != 0)
		cairn_err_set(err, rc, "recording the issuing CAs: %s", cairn_strerror(rc));
	return rc;
}

/* The issuer list after this rotation: every rotated issuer so far, then the new one. */
static char *issuers_text(const ca_t *ca, const char *name, const char *label, X509 *cert)
{
	json_t *list = json_array();
	char hex[2 * DB_SERIAL_MAX + 1], *text = NULL;
	size_t i, n = atomic_load(&ca->n_iss);

	if (list == NULL)
		return NULL;
	for (i = 1; i < n; i++) { /* iss[0] is the one in cairn.json */
		serial_hex(ca->iss[i]->cert, hex);
		json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "name", ca->iss[i]->name,
						      "label", ca->iss[i]->label, "serial", hex));
	}
	serial_hex(cert, hex);
	json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "name", name, "label", label,
					      "serial", hex));
	if (json_array_size(list) == n)
		text = json_dumps(list, JSON_COMPACT);
	json_decref(list);
	return text;
}

/* The subject of the next issuing CA: the first one's O and CN, the CN numbered. */
static void next_subject(const ca_t *ca, size_t number, char *cn, size_t cn_cap, char *o,
			 size_t o_cap)
{
	X509_NAME *first = X509_get_subject_name(ca->iss[0]->cert);
	char base[64] = "Issuing CA";

	if (X509_NAME_get_text_by_NID(first, NID_commonName, base, sizeof(base)) <= 0)
		snprintf(base, sizeof(base), "Issuing CA");
	if (X509_NAME_get_text_by_NID(first, NID_organizationName, o, (int)o_cap) <= 0)
		o[0] = '\0';
	/* ub-common-name is 64: keep room for " NN". */
	snprintf(cn, cn_cap, "%.58s %zu", base, number);
}

static int rotate_locked(ca_t *ca, const char *actor, json_t **out, cairn_err_t *err)
{
	const ca_iss_t *was = ca_iss_current(ca);
	X509 *cert = NULL;
	EVP_PKEY *pub = NULL, *root_key = NULL;
	ca_cert_spec_t spec = { 0 };
	struct issuers_meta meta = { NULL };
	ca_record_extra_t extra = { NULL, put_issuers, &meta };
	json_t *details = NULL;
	char name[CA_ISSUER_NAME_MAX], label[40], cn[72], o[72], hex[2 * DB_SERIAL_MAX + 1];
	char root_crt[300], root_crl[300], na[32];
	size_t n = atomic_load(&ca->n_iss);
	int64_t nb = 0, first_na = 0, t = 0;
	uint8_t rnd[8];
	int rc;

	if (n == CA_MAX_ISSUERS)
		return cairn_err_set(err, CAIRN_ECONFLICT,
				     "already %d issuing CAs: the most one daemon keeps",
				     CA_MAX_ISSUERS);
	if (util_random(rnd, sizeof(rnd)) != 0)
		return cairn_err_set(err, CAIRN_ECRYPTO, "no randomness for a key label");
	snprintf(name, sizeof(name), "issuing-%zu", n + 1);
	memcpy(label, "issuing-", 8);
	hex_encode(rnd, sizeof(rnd), label + 8);
	if ((rc = hsm_key_get(ca->hsm, CA_ROOT_KEY_LABEL, &root_key, NULL)) != 0) {
		rc = cairn_err_set(err, CAIRN_ECONFLICT,
				   "the root key is not in the token (an external root?): the new "
				   "issuing CA must be signed where the root is");
		goto out;
	}
	next_subject(ca, n + 1, cn, sizeof(cn), o, sizeof(o));
	if (ca_time_unix(X509_get0_notBefore(ca->iss[0]->cert), &nb) != 0 ||
	    ca_time_unix(X509_get0_notAfter(ca->iss[0]->cert), &first_na) != 0 ||
	    first_na - nb < DAY) {
		rc = cairn_err_set(err, CAIRN_ECONFIG, "the first issuing CA has no usable validity");
		goto out;
	}
	snprintf(root_crt, sizeof(root_crt), "%s/ca/root.crt", ca->http_base);
	snprintf(root_crl, sizeof(root_crl), "%s/crl/root.crl", ca->http_base);
	spec.subject_cn = cn;
	spec.subject_o = o[0] ? o : NULL;
	spec.validity_days = (int)((first_na - nb) / DAY);
	spec.is_ca = 1;
	spec.path_len = 0;
	spec.key_usage = X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN | X509v3_KU_DIGITAL_SIGNATURE;
	spec.ca_issuers_url = root_crt;
	spec.crl_url = root_crl;
	/* A crash before the write below leaves this key unused in the token; nothing
	 * changes until the write commits. */
	if ((rc = hsm_keygen(ca->hsm, key_type_of(was->key), label, &pub, err)) != 0 ||
	    (rc = ca_cert_build(&spec, ca->root, root_key, pub, &cert, err)) != 0)
		goto out;
	serial_hex(cert, hex);
	details = json_pack("{s:s, s:s, s:s}", "name", name, "key", label, "replaces", was->name);
	if (details == NULL || (meta.text = issuers_text(ca, name, label, cert)) == NULL) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	extra.details = details;
	if ((rc = ca_record_with(ca->db, cert, "root", "ca-issuing", actor, "ca.rotate", &extra,
				 err)) != 0 ||
	    (rc = ca_iss_add(ca, name, cert, label, err)) != 0)
		goto out;
	if (ca_time_unix(X509_get0_notAfter(cert), &t) != 0)
		t = 0;
	time_rfc3339((time_t)t, na, sizeof(na));
	*out = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", name, "serial", hex, "key", label,
			 "replaces", was->name, "not_after", na);
	if (*out == NULL)
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
out:
	ERR_clear_error();
	free(meta.text);
	json_decref(details);
	X509_free(cert);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(root_key);
	return rc;
}

int ca_rotate(ca_t *ca, const char *actor, json_t **out, cairn_err_t *err)
{
	int rc;

	*out = NULL;
	if (ca == NULL || actor == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "ca_rotate: missing argument");
	pthread_mutex_lock(&ca->rot_mu);
	rc = rotate_locked(ca, actor, out, err);
	pthread_mutex_unlock(&ca->rot_mu);
	return rc;
}
