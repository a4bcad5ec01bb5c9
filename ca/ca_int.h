/* SPDX-License-Identifier: MIT */
/* ca internals shared by the files of ca/ — not part of the public interface. */
#ifndef CAIRN_CA_INT_H
#define CAIRN_CA_INT_H

#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"

/* Upper bounds on what a CSR may carry. */
#define CA_CSR_MAX_BYTES (64 * 1024)
#define CA_MAX_SANS 100
#define CA_MAX_NAME_CHARS 64 /* ub-common-name, ub-organization-name (RFC 5280) */

/* Key usages RFC 8813 / RFC 8410 permit for EC and Ed25519 subject keys. */
#define CA_KU_EC_OK                                                             \
	(X509v3_KU_DIGITAL_SIGNATURE | X509v3_KU_NON_REPUDIATION | X509v3_KU_KEY_AGREEMENT | \
	 X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN)
#define CA_KU_ED_OK                                                             \
	(X509v3_KU_DIGITAL_SIGNATURE | X509v3_KU_NON_REPUDIATION | X509v3_KU_KEY_CERT_SIGN | \
	 X509v3_KU_CRL_SIGN)

/* names.c: syntax of names, and the names a certificate is indexed under. */

/* ca_dns_problem, ca_uri_problem: in ca.h (the policy rules check their names with them). */
/* The same as ca_dns_problem for an rfc822Name. */
const char *ca_email_problem(const char *s, size_t len);
/* "dns", "ip", "email", "uri" or the ASN.1 name of another GeneralName type. */
const char *ca_san_type_name(int gen_type);

/*
 * The lower-cased, de-duplicated SAN values (DNS, IP as text, email, URI) and
 * the subject CN of x. *names is a malloc'd array of malloc'd strings: free with
 * ca_names_free. Built on ca_names_from_cert: returns 0, CAIRN_ENOMEM, or its
 * CAIRN_ENAME/CAIRN_EBADCSR for a certificate whose names are malformed.
 */
int ca_cert_names(X509 *x, char ***names, size_t *n) CAIRN_WUR;
void ca_names_free(char **names, size_t n);

/* The serial of x as stored in the db: the positive DER INTEGER content without
 * a leading 0x00. Returns 0 or CAIRN_EINVAL (negative, zero or > DB_SERIAL_MAX). */
int ca_cert_serial(X509 *x, uint8_t out[DB_SERIAL_MAX], size_t *len, cairn_err_t *err) CAIRN_WUR;


/* pubkey.c: for a provider EC P-256/P-384 key, *out is a legacy copy that
 * X509_set_pubkey encodes ~20x faster (caller frees); *out NULL means use pk
 * as is. Returns 0, or CAIRN_ENOMEM. */
int ca_pubkey_fast(EVP_PKEY *pk, EVP_PKEY **out) CAIRN_WUR;
/* The legacy key of a SubjectPublicKeyInfo's algorithm and key bits when it is one
 * that needs no generic decoder: EC P-256/P-384 named by OID, RSA with NULL parameters
 * (new EVP_PKEY, caller frees). NULL for anything else, a key that does not decode, or
 * no memory: the caller then decodes it the generic way. Thread-safe. */
EVP_PKEY *ca_pubkey_from_spki(const X509_ALGOR *alg, const ASN1_BIT_STRING *bits)
	CAIRN_WUR;

/* A SubjectPublicKeyInfo with the key left as bytes (no callback decodes it): what the
 * fast decoders of CSRs and certificates read in place of X509_PUBKEY. */
typedef struct ca_spki_raw {
	X509_ALGOR *algorithm;
	ASN1_BIT_STRING *key;
} CA_SPKI_RAW;
DECLARE_ASN1_ITEM(CA_SPKI_RAW)
/* ca_pubkey_from_spki of a raw SPKI (NULL when spki is NULL). */
EVP_PKEY *ca_pubkey_from_raw(const CA_SPKI_RAW *spki) CAIRN_WUR;
/* Builds the object (of the item given to ca_der_fast) from a decoded raw value, or NULL. */
typedef ASN1_VALUE *(*ca_der_assemble_fn)(ASN1_VALUE *raw);
/* The fast decode both csr_fast.c and cert_fast.c use: der read with raw_it (a template of
 * the same shape as it whose SPKI is a CA_SPKI_RAW), the object assembled from the parts
 * with a legacy key, and taken only if it encodes (ASN1_item_i2d with it) to exactly the
 * bytes read; *pp then advances past them. NULL with nothing consumed and no errors
 * queued otherwise: the caller then decodes the generic way, which decides. */
ASN1_VALUE *ca_der_fast(const unsigned char **pp, long len, const ASN1_ITEM *raw_it,
			const ASN1_ITEM *it, ca_der_assemble_fn assemble) CAIRN_WUR;

/* csr_fast.c: d2i_X509_REQ(NULL, pp, len) — same result, same *pp advance, same
 * refusals — without OpenSSL 3.0's decoder walk for the keys ca_pubkey_from_spki
 * builds (their X509_REQ carries that legacy key). Thread-safe. */
X509_REQ *ca_csr_d2i(const unsigned char **pp, long len) CAIRN_WUR;
/* 1 when req's signature is ecdsa-with-SHA256/384/512 and verifies under pk, a legacy
 * EC key such as ca_csr_d2i gives its requests; 0 for anything else (a signature that
 * does not verify, another key or algorithm): X509_REQ_verify decides those.
 * Thread-safe; leaves no errors queued. */
int ca_csr_verify_ecdsa(X509_REQ *req, EVP_PKEY *pk) CAIRN_WUR;

/* csr.c: pieces of a CSR that issuance reuses. */

/* The key of req (pk: its decoded key, NULL when OpenSSL could not decode it): type,
 * curve, size (RSA at least min_rsa_bits). 0, CAIRN_EBADCSR, CAIRN_EKEYTYPE or
 * CAIRN_EWEAKKEY with a one-line err. */
int ca_csr_key_check(X509_REQ *req, EVP_PKEY *pk, int min_rsa_bits, cairn_err_t *err) CAIRN_WUR;
/* The signature of req under pk (counted for ca_csr_counts): 0 or CAIRN_ECSRSIG. */
int ca_csr_sig_check(X509_REQ *req, EVP_PKEY *pk, cairn_err_t *err) CAIRN_WUR;
/* Extracted names against a profile: types, syntax, require_san, serverAuth CN. 0 or
 * CAIRN_ENAME. */
int ca_csr_names_check(const ca_names_t *names, const ca_profile_t *prof, cairn_err_t *err)
	CAIRN_WUR;
/* A CSR asking for OCSP Must-Staple (must_staple 1) against a profile whose must_staple is
 * "never": CAIRN_EBADCSR naming the setting; else 0. */
int ca_csr_staple_check(int must_staple, const ca_profile_t *prof, cairn_err_t *err) CAIRN_WUR;

/* record.c: one durable write of a certificate, its indexes and its audit event. */
typedef struct ca_record_args {
	const char *issuer;     /* "root", "issuing" */
	const char *profile;
	const char *requester;  /* also the audit actor */
	const char *action;     /* audit action, e.g. "cert.issue" */
	const char *channel;    /* audit details.channel; may be NULL */
	const ca_record_extra_t *extra; /* may be NULL */
	uint8_t **der_out;      /* may be NULL: on success, the DER stored (OPENSSL_free) */
	size_t *der_len_out;    /* with der_out */
	const uint8_t *der;     /* may be NULL: cert's DER already encoded (ca_cert_build_der),
	                           borrowed; stored as is instead of a second i2d_X509 */
	size_t der_len;
} ca_record_args_t;

/*
 * Stores cert with db_cert_put and appends its audit event in the same
 * db_write. serial_hex (may be NULL) receives the serial as stored; *seq (may be
 * NULL) the audit sequence. Returns 0, CAIRN_ECOLLISION (nothing stored) or
 * another negative code.
 */
int ca_record_write(db_t *db, X509 *cert, const ca_record_args_t *a,
		    char serial_hex[2 * DB_SERIAL_MAX + 1], uint64_t *seq, cairn_err_t *err)
	CAIRN_WUR;

/*
 * Inside txn, after rec (a new end-entity certificate with names) was stored: a
 * "cert.renewed" event (serial, names, profile, issuer, requester, not_after of the old
 * one; superseded_by the new serial; channel) for each valid, unexpired certificate of the
 * same requester, expiring no later than rec, whose names rec all holds (supersede.c).
 * Returns 0 or a db code.
 */
int ca_supersede_events(db_txn_t *txn, const db_cert_t *rec, const char *const *names,
			size_t n_names, const char *channel, cairn_err_t *err) CAIRN_WUR;

/* issue.c: the listeners registered with ca_on_revoke, called in order
 * (revoke.c calls this after a revocation committed). */
#define CA_MAX_LISTENERS 4
#define CA_USE_ROLES 2 /* CA_USE_OCSP_SIGNER, CA_USE_HTTPS */

/* DB_META entry listing the issuing CAs made by rotations, oldest first:
 * [{"name", "label", "serial"}]. Written in the rotation's own transaction. */
#define CA_ISSUERS_META "issuers"
/* DB_META: {"root", "new_by_old", "old_by_new"} serials (hex) of the last root rollover. */
#define CA_ROLLOVER_META "rollover"

/* issuers.c: one issuing CA. Immutable once in the table; freed by ca_free only. */
typedef struct ca_iss {
	char name[CA_ISSUER_NAME_MAX]; /* "issuing", "issuing-2", … (records, URLs, CRL files) */
	char label[64];          /* token label of its key */
	X509 *cert;
	EVP_PKEY *key;           /* signs from many threads at once (hsm.h) */
	char *pem;               /* the certificate's PEM (chains) */
	size_t pem_len;
	char *ocsp_url, *ca_issuers_url, *crl_url; /* AIA/CDP of what it issues */
} ca_iss_t;

/* constraints.c: the name constraints of the CA certificates above an issuance. */
#define CA_MAX_NC 4
typedef struct ca_nc_set {
	NAME_CONSTRAINTS *nc[CA_MAX_NC]; /* owned */
	char what[CA_MAX_NC][32];        /* whose they are, for messages: "issuing CA", "root CA" */
	size_t n;
} ca_nc_set_t;

/* The CA. Everything but the issuer table is immutable after ca_open. The table only
 * grows: a slot is filled before n_iss counts it, and `cur` (the issuer new certificates
 * get) moves only forward, so readers need no lock; rotations take rot_mu. */
struct ca {
	hsm_t *hsm;
	db_t *db;
	X509 *root;
	char *http_base;         /* no trailing slash */
	unsigned crl_shards;     /* ca_config_t.crl_shards (0 when below 2) */
	ca_iss_t *iss[CA_MAX_ISSUERS];
	_Atomic size_t n_iss;
	_Atomic size_t cur;
	pthread_mutex_t rot_mu;
	ca_profile_t *profiles;
	size_t n_profiles;
	ca_nc_set_t nc;          /* name constraints of the first issuing CA and the root */
	_Atomic(ca_rollover_certs_t *) rollover; /* the last root rollover, or NULL (rollover.c) */
	struct {
		ca_revoke_cb fn;
		void *arg;
	} listeners[CA_MAX_LISTENERS], issue_listeners[CA_MAX_LISTENERS];
	size_t n_listeners, n_issue_listeners;
	/* ca_in_use_set: per role (inuse.c), the serial in use ("" until set), and the one a
	 * renewal is putting in use (ca_in_use_incoming; "" when none); under use_mu */
	pthread_mutex_t use_mu;
	char in_use[CA_USE_ROLES][2 * DB_SERIAL_MAX + 1];
	char incoming[CA_USE_ROLES][2 * DB_SERIAL_MAX + 1];
};

/* inuse.c. Whether a hold or revocation of c (its serial serial_hex), read in the
 * revocation's write txn, may go ahead: 0 when c is not one of the CA's own
 * certificates, or a retired one (a retired issuing CA only with confirm); else
 * CAIRN_ECONFLICT and why (cap bytes) says why and what to do instead. */
int ca_own_revocable(ca_t *ca, db_txn_t *txn, const db_cert_t *c, const char *serial_hex,
		     int confirm, char *why, size_t cap) CAIRN_WUR;

/* A ca_record_also_fn (ca_cross_sign's last write): puts DB_META "rollover" naming the
 * three certificates of arg, a ca_rollover_certs_t. */
int ca_rollover_meta_put(db_txn_t *txn, const char *serial_hex, void *arg, cairn_err_t *err)
	CAIRN_WUR;
/* Publishes a copy of r (references taken) as the rollover answered from now on. rot_mu
 * held. 0 or CAIRN_ENOMEM. */
int ca_rollover_set(ca_t *ca, const ca_rollover_certs_t *r, cairn_err_t *err) CAIRN_WUR;
/* Frees r's three certificates (not r). */
void ca_rollover_clear(ca_rollover_certs_t *r);
/* Loads DB_META "rollover" at ca_open (none: 0); CAIRN_EDB when damaged, CAIRN_ECONFIG
 * when its certificates are not those of the root in ca.root_cert. */
int ca_rollover_load(ca_t *ca, cairn_err_t *err) CAIRN_WUR;
/* Frees every rollover published (ca_free). */
void ca_rollover_free_all(ca_t *ca);

/* Makes the issuer name with certificate cert (reference taken) and token key label,
 * after checking that cert is a CA certificate signed by the root whose key is the token
 * key, and appends it to the table (not made current). rot_mu held or not yet shared.
 * Returns 0, CAIRN_ECONFIG (the checks), CAIRN_ECONFLICT (table full), a token code or
 * CAIRN_ENOMEM. */
int ca_iss_add(ca_t *ca, const char *name, X509 *cert, const char *label, cairn_err_t *err)
	CAIRN_WUR;
/* Adds the issuers recorded by earlier rotations (DB_META "issuers") and makes the last
 * one current. Returns 0 or a code with err filled. */
int ca_iss_load_rotated(ca_t *ca, cairn_err_t *err) CAIRN_WUR;
/* The issuer new certificates get (never NULL once ca_open succeeded). */
const ca_iss_t *ca_iss_current(const ca_t *ca);
/* The issuer by name, or NULL. */
const ca_iss_t *ca_iss_find(const ca_t *ca, const char *name);
void ca_iss_free(ca_iss_t *is);
void ca_notify_revoked(const ca_t *ca, const char *issuer, const uint8_t *serial, size_t len);
/* The ca's database (borrowed). */
db_t *ca_db(const ca_t *ca);


/* Adds x's nameConstraints to set (none: nothing added). Refuses (CAIRN_ECONFIG, naming
 * what) constraints cairn cannot honour: types other than dns/ip/email/uri, minimum or
 * maximum, an ip base not 8 or 32 bytes. */
int ca_nc_add(ca_nc_set_t *set, X509 *x, const char *what, cairn_err_t *err) CAIRN_WUR;
void ca_nc_clear(ca_nc_set_t *set);
/* 0 when every SAN of names, and the CN when it is a host name or an address, lies in
 * the permitted and outside the excluded subtrees of every set member; else CAIRN_ENAME
 * with a message naming the name and the constraint. Thread-safe (set is only read). */
int ca_nc_check(const ca_nc_set_t *set, const ca_names_t *names, cairn_err_t *err) CAIRN_WUR;
/* The ca's name constraints (borrowed). */
const ca_nc_set_t *ca_nc(const ca_t *ca);

#endif
