/* SPDX-License-Identifier: MIT */
/* The issuing CA: loading the hierarchy and profiles, and issuing certificates from CSRs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/ca_int.h"
#include "hsm/hsm.h"

#define CA_CERT_FILE_MAX (1024 * 1024)
#define CA_ISSUE_ATTEMPTS 4 /* a fresh serial per attempt after a collision */

int ca_on_revoke(ca_t *ca, ca_revoke_cb fn, void *arg)
{
	if (ca == NULL || fn == NULL || ca->n_listeners == CA_MAX_LISTENERS)
		return CAIRN_EINVAL;
	ca->listeners[ca->n_listeners].fn = fn;
	ca->listeners[ca->n_listeners].arg = arg;
	ca->n_listeners++;
	return 0;
}

int ca_on_issue(ca_t *ca, ca_revoke_cb fn, void *arg)
{
	if (ca == NULL || fn == NULL || ca->n_issue_listeners == CA_MAX_LISTENERS)
		return CAIRN_EINVAL;
	ca->issue_listeners[ca->n_issue_listeners].fn = fn;
	ca->issue_listeners[ca->n_issue_listeners].arg = arg;
	ca->n_issue_listeners++;
	return 0;
}

void ca_notify_revoked(const ca_t *ca, const char *issuer, const uint8_t *serial, size_t len)
{
	size_t i;

	for (i = 0; i < ca->n_listeners; i++)
		ca->listeners[i].fn(issuer, serial, len, ca->listeners[i].arg);
}

db_t *ca_db(const ca_t *ca)
{
	return ca->db;
}

const ca_nc_set_t *ca_nc(const ca_t *ca)
{
	return &ca->nc;
}

int ca_cert_pem(X509 *x, char **out, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int rc = CAIRN_ENOMEM;

	*out = NULL;
	if (b == NULL || PEM_write_bio_X509(b, x) != 1)
		goto out;
	n = BIO_get_mem_data(b, &data);
	if (n <= 0 || (*out = malloc((size_t)n + 1)) == NULL)
		goto out;
	memcpy(*out, data, (size_t)n);
	(*out)[n] = '\0';
	if (len != NULL)
		*len = (size_t)n;
	rc = 0;
out:
	BIO_free(b);
	return rc;
}

int ca_cert_load(const char *path, const char *what, X509 **out, cairn_err_t *err)
{
	char *data = NULL;
	size_t len = 0;
	BIO *b = NULL;
	int rc;

	*out = NULL;
	if (path == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "%s: missing", what);
	if ((rc = fs_read(path, CA_CERT_FILE_MAX, &data, &len)) != 0)
		return cairn_err_set(err, rc, "%s %s: %s", what, path, cairn_strerror(rc));
	if ((b = BIO_new_mem_buf(data, (int)len)) == NULL ||
	    (*out = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL)
		rc = cairn_err_ssl(err, CAIRN_ECONFIG, "%s %s: not a PEM certificate", what, path);
	BIO_free(b);
	free(data);
	return rc;
}

static int load_profiles(ca_t *ca, const json_t *cfg_profiles, cairn_err_t *err)
{
	json_t *defaults = NULL;
	const json_t *profiles = cfg_profiles;
	const char *name;
	json_t *v;
	size_t n;
	int rc = 0;

	if (profiles == NULL && (profiles = defaults = ca_profiles_default()) == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "cannot build default profiles");
	if ((rc = ca_profiles_check(profiles, err)) != 0)
		goto out;
	n = json_object_size(profiles);
	if ((ca->profiles = calloc(n, sizeof(*ca->profiles))) == NULL) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	/* jansson's iteration API is not const-correct; the object is only read. */
	json_object_foreach((json_t *)profiles, name, v) {
		if ((rc = ca_profile_parse(name, v, &ca->profiles[ca->n_profiles], err)) != 0)
			goto out;
		ca->n_profiles++;
	}
out:
	json_decref(defaults);
	return rc;
}

/*
 * Loads the hierarchy (see ca.h). Checks that the token key matches the
 * issuing certificate, that the issuing certificate is a CA signed by the
 * root, and that every profile parses. cfg->profiles NULL means the defaults.
 * Returns 0, CAIRN_EINVAL, CAIRN_ENOENT/CAIRN_EIO (files), CAIRN_ECONFIG,
 * CAIRN_EKEY/CAIRN_EPKCS11 (token), CAIRN_ENOMEM.
 */
int ca_open(const ca_config_t *cfg, ca_t **out, cairn_err_t *err)
{
	ca_t *ca = NULL;
	X509 *first = NULL;
	size_t blen;
	int rc;

	*out = NULL;
	if (cfg == NULL || cfg->hsm == NULL || cfg->db == NULL || cfg->issuing_key_label == NULL ||
	    cfg->http_base_url == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "ca_open: missing hsm, db, key label or URL");
	if ((ca = calloc(1, sizeof(*ca))) == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	ca->hsm = cfg->hsm;
	ca->db = cfg->db;
	if (cfg->crl_shards > UTIL_SHARDS_MAX) {
		free(ca);
		return cairn_err_set(err, CAIRN_EINVAL, "crl.shards: at most %d", UTIL_SHARDS_MAX);
	}
	ca->crl_shards = cfg->crl_shards >= 2 ? cfg->crl_shards : 0;
	pthread_mutex_init(&ca->rot_mu, NULL);
	pthread_mutex_init(&ca->use_mu, NULL);
	blen = strlen(cfg->http_base_url);
	while (blen > 0 && cfg->http_base_url[blen - 1] == '/')
		blen--;
	if (blen == 0 || (ca->http_base = strndup(cfg->http_base_url, blen)) == NULL) {
		rc = cairn_err_set(err, blen == 0 ? CAIRN_EINVAL : CAIRN_ENOMEM,
				   "cannot build AIA/CDP URLs");
		goto out;
	}
	if ((rc = ca_cert_load(cfg->root_cert_file, "root_cert_file", &ca->root, err)) != 0 ||
	    (rc = ca_cert_load(cfg->issuing_cert_file, "issuing_cert_file", &first, err)) != 0)
		goto out;
	/* The first issuing CA keeps the name "issuing" (and its URLs) for good; the
	 * rotations that followed come from the database, the last one current. */
	if ((rc = ca_iss_add(ca, "issuing", first, cfg->issuing_key_label, err)) != 0 ||
	    (rc = ca_iss_load_rotated(ca, err)) != 0 || (rc = ca_rollover_load(ca, err)) != 0)
		goto out;
	/* Under an outside root the CAs above may limit the names cairn may certify (no
	 * rotation there: the first issuing CA is the only one). */
	if ((rc = ca_nc_add(&ca->nc, first, "issuing CA", err)) != 0 ||
	    (rc = ca_nc_add(&ca->nc, ca->root, "root CA", err)) != 0)
		goto out;
	if ((rc = load_profiles(ca, cfg->profiles, err)) != 0)
		goto out;
	*out = ca;
	ca = NULL;
out:
	X509_free(first);
	ca_free(ca);
	return rc;
}

/* Frees the CA (NULL is a no-op). No ca_issue may be running. */
void ca_free(ca_t *ca)
{
	size_t i;

	if (ca == NULL)
		return;
	for (i = 0; i < atomic_load(&ca->n_iss); i++)
		ca_iss_free(ca->iss[i]);
	ca_rollover_free_all(ca);
	X509_free(ca->root);
	free(ca->http_base);
	free(ca->profiles);
	pthread_mutex_destroy(&ca->rot_mu);
	pthread_mutex_destroy(&ca->use_mu);
	ca_nc_clear(&ca->nc);
	free(ca);
}

const ca_profile_t *ca_profile(const ca_t *ca, const char *name)
{
	size_t i;

	for (i = 0; ca != NULL && name != NULL && i < ca->n_profiles; i++)
		if (strcmp(ca->profiles[i].name, name) == 0)
			return &ca->profiles[i];
	return NULL;
}

const ca_profile_t *ca_profile_find(const ca_t *ca, const char *name, cairn_err_t *err)
{
	const ca_profile_t *prof = ca_profile(ca, name);
	char names[512] = "";
	size_t i, o = 0;

	if (prof != NULL)
		return prof;
	for (i = 0; ca != NULL && i < ca->n_profiles && o + 2 < sizeof(names); i++)
		o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", i ? ", " : "",
				      ca->profiles[i].name);
	cairn_err_set(err, CAIRN_EPROFILE, "unknown profile %.64s (profiles: %s)",
		      name ? name : "(none)", names);
	return NULL;
}

/* The profile's key usages that apply to the subject key: RFC 8813 forbids
 * keyEncipherment/dataEncipherment for EC keys, RFC 8410 keyAgreement too for Ed25519. */
static unsigned ku_for_key(unsigned ku, EVP_PKEY *pk)
{
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_EC:
		return ku & CA_KU_EC_OK;
	case EVP_PKEY_ED25519:
		return ku & CA_KU_ED_OK;
	default:
		return ku;
	}
}

int ca_issued_pem(const ca_t *ca, const ca_issued_t *is, char **pem, char **chain)
{
	const ca_iss_t *iss;
	size_t len = 0;

	*pem = NULL;
	if (chain != NULL)
		*chain = NULL;
	if (ca == NULL || is == NULL || is->cert == NULL)
		return CAIRN_EINVAL;
	if ((iss = ca_iss_find(ca, is->issuer)) == NULL)
		return CAIRN_ENOENT;
	if (ca_cert_pem(is->cert, pem, &len) != 0)
		return CAIRN_ENOMEM;
	if (chain == NULL)
		return 0;
	if ((*chain = malloc(len + iss->pem_len + 1)) == NULL) {
		free(*pem);
		*pem = NULL;
		return CAIRN_ENOMEM;
	}
	memcpy(*chain, *pem, len);
	memcpy(*chain + len, iss->pem, iss->pem_len + 1);
	return 0;
}

/* With crl.shards: a fresh serial that names its shard, and that shard's CRL as the
 * distribution point (into serial and url, which spec then borrows). A certificate's
 * shard is fixed by its serial, so it never moves when crl.shards changes. */
static int shard_spec(const ca_t *ca, const ca_iss_t *iss, ca_cert_spec_t *spec,
		      uint8_t serial[16], char *url, size_t cap, cairn_err_t *err)
{
	unsigned shard = 0;
	int n;

	if (util_serial_sharded(serial, ca->crl_shards, &shard) != 0)
		return cairn_err_ssl(err, CAIRN_ECRYPTO, "random serial failed");
	n = snprintf(url, cap, "%s/crl/%s/%u.crl", ca->http_base, iss->name, shard);
	if (n < 0 || (size_t)n >= cap)
		return cairn_err_set(err, CAIRN_EINVAL, "CRL distribution point URL too long");
	spec->serial = serial;
	spec->serial_len = 16;
	spec->crl_url = url;
	return 0;
}

/* The subject O a request may carry: the CSR's, except on the ACME channel, which
 * validates names only (RFC 8555): an organisation there would be certified without
 * anyone having checked it (CA/B BR 7.1.4.2.2 wants it verified), so ACME
 * certificates carry CN and SANs only, as Let's Encrypt's do. The channel is the
 * request's own (kept with a pending request, so an approved ACME order is the same). */
static const char *subject_o_of(const ca_request_t *req, const ca_names_t *names)
{
	if (req->channel != NULL && strcmp(req->channel, "acme") == 0)
		return NULL;
	return names->o;
}

/* The subject CN a request's certificate carries: the CSR's as written, except on the
 * ACME channel, where the CN is one of the order's identifiers: there it is written as
 * the name it reads as (a DNS name lower-cased, an IP address in its usual text), so it
 * is character for character one of the SANs (CA/B BR 7.1.4.3). Other channels keep the
 * CSR's bytes: an EST renewal must repeat its certificate's subject exactly. */
static const char *subject_cn_of(const ca_request_t *req, const ca_names_t *names)
{
	if (req->channel != NULL && strcmp(req->channel, "acme") == 0 && names->cn != NULL &&
	    (names->cn_name.type == CA_SAN_DNS || names->cn_name.type == CA_SAN_IP) &&
	    names->cn_name.text != NULL)
		return names->cn_name.text;
	return names->cn;
}

/*
 * Issues a certificate (see ca.h). Subject: CN and O from the CSR (CN only on the
 * ACME channel, written as its SAN: subject_o_of, subject_cn_of), nothing else. Extensions come from the profile; the subject key decides which of the
 * profile's key usages apply (ku_for_key). validity_days above the profile's
 * is refused with CAIRN_EINVAL; an unknown profile is CAIRN_EPROFILE.
 * Errors: those of ca_csr_check_profile, CAIRN_ECRYPTO/CAIRN_EPKCS11
 * (signing), CAIRN_EDB (commit), CAIRN_ECOLLISION after repeated collisions.
 */
int ca_issue(ca_t *ca, const ca_request_t *req, ca_issued_t **out, cairn_err_t *err)
{
	const ca_csr_t *csr;
	const ca_names_t *names;
	GENERAL_NAMES *sans = NULL;
	X509 *cert = NULL;
	ca_issued_t *is = NULL;
	char hex[2 * DB_SERIAL_MAX + 1];
	const char *eku[CA_MAX_EKU + 1];
	const ca_profile_t *prof;
	const ca_iss_t *iss;
	ca_cert_spec_t spec;
	ca_record_args_t rec;
	EVP_PKEY *pk;
	uint8_t serial[16];
	char shard_url[320];
	size_t i;
	int rc, days, attempt;

	*out = NULL;
	if (ca == NULL || req == NULL || req->csr == NULL || req->requester == NULL ||
	    req->channel == NULL || req->profile == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "ca_issue: missing argument");
	if (!req->csr->verified)
		return cairn_err_set(err, CAIRN_EINVAL, "ca_issue: the CSR's signature was not verified");
	if ((prof = ca_profile_find(ca, req->profile, err)) == NULL)
		return CAIRN_EPROFILE;
	days = req->validity_days ? req->validity_days : prof->validity_days;
	if (days < 1 || days > prof->validity_days)
		return cairn_err_set(err, CAIRN_EINVAL,
				     "validity of %d days is outside 1..%d allowed by profile %s",
				     req->validity_days, prof->validity_days, prof->name);

	/* The request object was parsed and verified once (ca_csr_new): only the profile's
	 * checks are left. The certificate carries the names as extracted (DNS lower-cased,
	 * IPv4-mapped addresses as IPv4): exactly what the checks and the policy saw. */
	csr = req->csr;
	names = &csr->names;
	if ((rc = ca_csr_check_profile(csr, prof, err)) != 0 ||
	    (rc = ca_nc_check(&ca->nc, names, err)) != 0)
		goto out;
	if ((is = calloc(1, sizeof(*is))) == NULL || ca_names_to_general(names, &sans) != 0) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	pk = csr->pub;
	if ((rc = ca_key_check(ca, pk, err)) != 0)
		goto out;
	for (i = 0; i < prof->n_eku; i++)
		eku[i] = prof->eku[i];
	eku[prof->n_eku] = NULL;

	memset(&spec, 0, sizeof(spec));
	spec.subject_cn = subject_cn_of(req, names);
	spec.subject_o = subject_o_of(req, names);
	spec.validity_days = days;
	spec.key_usage = ku_for_key(prof->key_usage, pk);
	spec.eku = eku;
	spec.sans = sans;
	spec.must_staple = prof->must_staple == CA_STAPLE_ALWAYS ||
			   (csr->must_staple && prof->must_staple == CA_STAPLE_REQUEST);
	/* One issuer for the whole call, even if a rotation makes another current meanwhile. */
	iss = ca_iss_current(ca);
	spec.ocsp_url = iss->ocsp_url;
	spec.ca_issuers_url = iss->ca_issuers_url;
	spec.crl_url = iss->crl_url;
	if (spec.key_usage == 0) {
		rc = cairn_err_set(err, CAIRN_EKEYTYPE,
				   "none of profile %s's key usages apply to a %s key", prof->name,
				   OBJ_nid2sn(EVP_PKEY_get_base_id(pk)));
		goto out;
	}

	rec.issuer = iss->name;
	rec.profile = prof->name;
	rec.requester = req->requester;
	rec.action = "cert.issue";
	rec.channel = req->channel;
	rec.extra = req->record_extra;
	rec.der_out = NULL;
	rec.der_len_out = NULL;
	for (attempt = 0; attempt < CA_ISSUE_ATTEMPTS; attempt++) {
		X509_free(cert);
		cert = NULL;
		OPENSSL_free(is->der);
		is->der = NULL;
		if (ca->crl_shards != 0 &&
		    (rc = shard_spec(ca, iss, &spec, serial, shard_url, sizeof(shard_url), err)) != 0)
			goto out;
		/* One encoding of the certificate: signed over, stored, and handed back. */
		if ((rc = ca_cert_build_der(&spec, iss->cert, iss->key, pk, &cert, &is->der,
					    &is->der_len, err)) != 0 ||
		    (rc = ca_cert_lint(cert, iss->cert, prof, err)) != 0)
			goto out;
		rec.der = is->der;
		rec.der_len = is->der_len;
		rc = ca_record_write(ca->db, cert, &rec, hex, &is->audit_seq, err);
		if (rc != CAIRN_ECOLLISION)
			break;
	}
	if (rc != 0)
		goto out;
	/* Handed back as built and stored: each channel formats what it sends. */
	snprintf(is->serial_hex, sizeof(is->serial_hex), "%s", hex);
	snprintf(is->issuer, sizeof(is->issuer), "%s", iss->name);
	is->cert = cert;
	cert = NULL;
	rc = 0;
	{
		uint8_t stored[DB_SERIAL_MAX];
		int n = hex_decode(hex, stored, sizeof(stored));
		for (i = 0; n > 0 && i < ca->n_issue_listeners; i++)
			ca->issue_listeners[i].fn(iss->name, stored, (size_t)n,
						  ca->issue_listeners[i].arg);
	}
	*out = is;
	is = NULL;
out:
	if (rc != 0)
		ERR_clear_error(); /* the reason is in err; leave no stale entries behind */
	X509_free(cert);
	ca_issued_free(is);
	GENERAL_NAMES_free(sans);
	return rc;
}

void ca_issued_free(ca_issued_t *is)
{
	if (is == NULL)
		return;
	X509_free(is->cert);
	OPENSSL_free(is->der);
	free(is);
}
