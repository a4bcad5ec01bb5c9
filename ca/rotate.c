/* SPDX-License-Identifier: MIT */
/* Rotation of the issuing CA (a new key in the token, its certificate signed by the root in the token, recorded with its audit event and the issuer list in one write) and the certificates of a root rollover (a new root key in the token, cross-certificates both ways). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/ca_int.h"

#define DAY 86400

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

static int put_issuers(db_txn_t *txn, const char *serial_hex, void *arg, cairn_err_t *err)
{
	struct issuers_meta *m = arg;
	int rc = db_put(txn, DB_META, CA_ISSUERS_META, strlen(CA_ISSUERS_META), m->text,
			strlen(m->text), 0);

	(void)serial_hex;
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
		ca_serial_hex(ca->iss[i]->cert, hex);
		json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "name", ca->iss[i]->name,
						      "label", ca->iss[i]->label, "serial", hex));
	}
	ca_serial_hex(cert, hex);
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
	/* No root key is a conflict; a token that fails or does not answer says so. */
	if ((rc = hsm_key_get(ca->hsm, CA_ROOT_KEY_LABEL, &root_key, err)) != 0) {
		if (rc == CAIRN_EKEY)
			rc = cairn_err_set(err, CAIRN_ECONFLICT,
					   "the root key is not in the token (an external root?): "
					   "the new issuing CA must be signed where the root is");
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
	ca_serial_hex(cert, hex);
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

/* Runs fn under rot_mu: one key ceremony at a time. */
static int locked(ca_t *ca, const char *actor, json_t **out, cairn_err_t *err,
		  int (*fn)(ca_t *, const char *, json_t **, cairn_err_t *))
{
	int rc;

	*out = NULL;
	if (ca == NULL || actor == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "missing CA or actor");
	pthread_mutex_lock(&ca->rot_mu);
	rc = fn(ca, actor, out, err);
	pthread_mutex_unlock(&ca->rot_mu);
	return rc;
}

int ca_rotate(ca_t *ca, const char *actor, json_t **out, cairn_err_t *err)
{
	return locked(ca, actor, out, err, rotate_locked);
}

/* The three certificates of a root rollover. */
/* Builds the new root (self-signed by nkey), the cross-certificate of the new root under
 * the old one and of the old root under the new one. */
static int rollover_build(const ca_t *ca, EVP_PKEY *root_key, EVP_PKEY *nkey, EVP_PKEY *npub,
			  const char *cn, const char *o, int days, ca_rollover_certs_t *r,
			  cairn_err_t *err)
{
	ca_cert_spec_t spec = { 0 };
	char root_crt[300], root_crl[300];
	int rc;

	spec.subject_cn = cn;
	spec.subject_o = o[0] ? o : NULL;
	spec.validity_days = days;
	spec.is_ca = 1;
	/* No path length on the new root: a client that trusts only it reaches today's
	 * certificates through two CAs (the old root's cross-certificate, an issuing CA). */
	spec.path_len = -1;
	spec.key_usage = X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN | X509v3_KU_DIGITAL_SIGNATURE;
	if ((rc = ca_cert_build(&spec, NULL, nkey, npub, &r->root, err)) != 0)
		return rc;
	spec.path_len = 1; /* the cross-certificates: one issuing CA below, as under a root */
	/* Old → new: the new root's name and key, signed by the old root (clients that
	 * trust the old root reach the new hierarchy); the old root's AIA/CDP. */
	snprintf(root_crt, sizeof(root_crt), "%s/ca/root.crt", ca->http_base);
	snprintf(root_crl, sizeof(root_crl), "%s/crl/root.crl", ca->http_base);
	spec.subject_cn = NULL;
	spec.subject_o = NULL;
	spec.subject = X509_get_subject_name(r->root);
	spec.ca_issuers_url = root_crt;
	spec.crl_url = root_crl;
	if ((rc = ca_cert_build(&spec, ca->root, root_key, npub, &r->new_by_old, err)) != 0)
		return rc;
	/* New → old: the old root's name and key, signed by the new root (clients that
	 * trust only the new root still validate the old hierarchy). */
	spec.subject = X509_get_subject_name(ca->root);
	spec.ca_issuers_url = NULL;
	spec.crl_url = NULL;
	return ca_cert_build(&spec, r->root, nkey, X509_get0_pubkey(ca->root), &r->old_by_new,
			     err);
}

static json_t *pem_json(X509 *x)
{
	char *pem = NULL;
	json_t *s = NULL;

	if (ca_cert_pem(x, &pem, NULL) == 0)
		s = json_string(pem);
	free(pem);
	return s;
}

static int cross_sign_locked(ca_t *ca, const char *actor, json_t **out, cairn_err_t *err)
{
	ca_rollover_certs_t r = { NULL, NULL, NULL, NULL };
	X509_NAME *old;
	EVP_PKEY *root_key = NULL, *npub = NULL, *nkey = NULL;
	json_t *details = NULL;
	ca_record_extra_t extra = { NULL, NULL, NULL };
	char label[40], cn[72], o[72], base[64] = "Root CA", day[16];
	char h_root[2 * DB_SERIAL_MAX + 1], h_no[2 * DB_SERIAL_MAX + 1], h_on[2 * DB_SERIAL_MAX + 1];
	int64_t nb = 0, na = 0;
	time_t now = time(NULL);
	struct tm tm;
	uint8_t rnd[8];
	int rc;

	if ((rc = hsm_key_get(ca->hsm, CA_ROOT_KEY_LABEL, &root_key, err)) != 0)
		return rc != CAIRN_EKEY ? rc
					: cairn_err_set(err, CAIRN_ECONFLICT,
							"the root key is not in the token (an "
							"external root?): cross-sign where the root is");
	if (util_random(rnd, sizeof(rnd)) != 0) {
		rc = cairn_err_set(err, CAIRN_ECRYPTO, "no randomness for a key label");
		goto out;
	}
	memcpy(label, "root-", 5);
	hex_encode(rnd, sizeof(rnd), label + 5);
	old = X509_get_subject_name(ca->root);
	if (X509_NAME_get_text_by_NID(old, NID_commonName, base, sizeof(base)) <= 0)
		snprintf(base, sizeof(base), "Root CA");
	if (X509_NAME_get_text_by_NID(old, NID_organizationName, o, sizeof(o)) <= 0)
		o[0] = '\0';
	gmtime_r(&now, &tm);
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	/* ub-common-name is 64: the old CN, shortened, the day of the rollover and the
	 * token key's random label: two rollovers of one day make two roots of two names
	 * (one name for two keys would leave path building and CRL matching to guess). */
	snprintf(cn, sizeof(cn), "%.43s %s %.8s", base, day, label + 5);
	if (ca_time_unix(X509_get0_notBefore(ca->root), &nb) != 0 ||
	    ca_time_unix(X509_get0_notAfter(ca->root), &na) != 0 || na - nb < DAY) {
		rc = cairn_err_set(err, CAIRN_ECONFIG, "the root has no usable validity");
		goto out;
	}
	if ((rc = hsm_keygen(ca->hsm, key_type_of(root_key), label, &npub, err)) != 0 ||
	    (rc = hsm_key_get(ca->hsm, label, &nkey, err)) != 0 ||
	    (rc = rollover_build(ca, root_key, nkey, npub, cn, o, (int)((na - nb) / DAY), &r,
				 err)) != 0)
		goto out;
	ca_serial_hex(r.root, h_root);
	ca_serial_hex(r.new_by_old, h_no);
	ca_serial_hex(r.old_by_new, h_on);
	/* Three durable writes: a crash between them leaves certificates nobody uses yet
	 * (the daemon keeps its root); the audit event comes with the last one and names
	 * all three. The one the daemon's root signs goes last, with DB_META "rollover":
	 * from the write that records it, a revocation reads it as the last rollover's
	 * (ca_own_revocable); the two before it are never revocable here (a root; a
	 * certificate under a root whose CRL this CA does not publish). */
	details = json_pack("{s:s, s:s, s:s, s:s}", "key", label, "root", h_root,
			    "cross_new_by_old", h_no, "cross_old_by_new", h_on);
	if (details == NULL) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	extra.details = details;
	extra.also = ca_rollover_meta_put; /* offered from the commit on (ca_rollover) */
	extra.also_arg = &r;
	if ((rc = ca_record(ca->db, r.root, label, "ca-root", actor, "ca.root_new", err)) != 0 ||
	    (rc = ca_record(ca->db, r.old_by_new, label, "ca-cross", actor, "ca.cross_sign",
			    err)) != 0 ||
	    (rc = ca_record_with(ca->db, r.new_by_old, "root", "ca-cross", actor, "ca.rollover",
				 &extra, err)) != 0 ||
	    (rc = ca_rollover_set(ca, &r, err)) != 0)
		goto out;
	*out = json_pack("{s:s, s:o, s:o, s:o}", "key", label, "root", pem_json(r.root),
			 "cross_new_by_old", pem_json(r.new_by_old), "cross_old_by_new",
			 pem_json(r.old_by_new));
	if (*out == NULL)
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
out:
	ERR_clear_error();
	json_decref(details);
	ca_rollover_clear(&r);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(npub);
	EVP_PKEY_free(nkey);
	return rc;
}

int ca_cross_sign(ca_t *ca, const char *actor, json_t **out, cairn_err_t *err)
{
	return locked(ca, actor, out, err, cross_sign_locked);
}
