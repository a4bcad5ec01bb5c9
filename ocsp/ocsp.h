/* SPDX-License-Identifier: MIT */
/* ocsp: the OCSP responder (RFC 6960, RFC 5019) — request parsing, pre-signed response cache, signing. */
#ifndef CAIRN_OCSP_H
#define CAIRN_OCSP_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "db/db.h"
#include "util/util.h"

/* The root and up to 16 issuing CAs (rotations, ca.h CA_MAX_ISSUERS). */
#define OCSP_MAX_ISSUERS 17
/* Largest request accepted (POST body or decoded GET path). */
#define OCSP_MAX_REQUEST 8192
/* Most single requests answered in one OCSP request. */
#define OCSP_MAX_SINGLE 16

typedef struct ocsp ocsp_t;

/* One CA we answer for. Everything borrowed during ocsp_open (references are taken). */
typedef struct ocsp_issuer {
	const char *name;    /* issuer name as in the db records: "issuing", "root" */
	X509 *cert;          /* the CA certificate (CertIDs are matched against it) */
	X509 *signer_cert;   /* the responder certificate: a delegated OCSP signer issued by
	                        cert, or cert itself */
	EVP_PKEY *signer_key;/* its key (may be a token key) */
	X509 *extra_cert;    /* added to the response's certs besides the signer (the CA
	                        certificate for a delegated signer), or NULL */
} ocsp_issuer_t;

typedef struct ocsp_config {
	db_t *db;                 /* borrowed, outlives the responder */
	ocsp_issuer_t issuers[OCSP_MAX_ISSUERS];
	size_t n_issuers;
	int64_t validity;         /* nextUpdate - thisUpdate, seconds (>= 60) */
	int64_t scan_interval;    /* seconds between cache scans (0 = validity / 8, at most 1 h) */
} ocsp_config_t;

/*
 * Creates the responder. Takes references on the certificates and keys. The
 * background refresher is not started (ocsp_start). *out owned by the caller:
 * ocsp_free. Returns 0, CAIRN_EINVAL (no issuer, validity < 60 s, a missing
 * certificate or key), CAIRN_ENOMEM.
 */
int ocsp_open(const ocsp_config_t *cfg, ocsp_t **out, cairn_err_t *err) CAIRN_WUR;

/* Starts the refresher thread: it pre-signs a response (SHA-1 CertID, no nonce)
 * for every unexpired certificate and keeps each one re-signed before half its
 * validity has passed, re-signs at once the certificates passed to
 * ocsp_changed, and stores answers signed live on a cache miss. Each batch is
 * one db_write. Returns 0 or CAIRN_EIO (thread). */
int ocsp_start(ocsp_t *o, cairn_err_t *err) CAIRN_WUR;

/* Stops the refresher (if started) and frees everything. NULL is a no-op. No
 * ocsp_handle may be running. */
void ocsp_free(ocsp_t *o);

/*
 * Answers one OCSP request (DER, borrowed) into reply: HTTP 200 with an
 * application/ocsp-response body whose status is successful (signed by the
 * issuer's responder), malformedRequest (unparseable, no or too many single
 * requests, trailing bytes), unauthorized (a CertID for a CA we do not serve)
 * or internalError. Without a nonce and with one single request the answer
 * comes from the pre-signed cache when it is fresh and matches the
 * certificate's current status (a read txn and a copy); else it is signed now
 * (and, without a nonce, stored for the next time). A nonce (RFC 8954) is
 * echoed. RFC 5019 §6.2 headers: Last-Modified, Expires, Cache-Control
 * (max-age, public, no-transform, must-revalidate; no-store with a nonce),
 * ETag. Thread-safe; never blocks on the writer.
 */
void ocsp_handle(ocsp_t *o, const void *der, size_t len, http_reply_t *reply);

/* The GET form (RFC 6960 appendix A.1): path is the URL-decoded base64 of the
 * DER request (standard alphabet, padding optional). Bad base64 or an oversized
 * path gets a malformedRequest answer. Thread-safe. */
void ocsp_handle_get(ocsp_t *o, const char *path, http_reply_t *reply);

/* ca_revoke_cb-compatible listener: queues the certificate for an immediate
 * re-sign (the stale cached answer is never served meanwhile: cached answers
 * carry the status they were signed for). arg is the ocsp_t. Thread-safe. */
void ocsp_changed(const char *issuer, const uint8_t *serial, size_t len, void *arg);

/* Answers from now on for one more CA, c as in ocsp_config_t (references taken): its
 * CertIDs are matched by issuerNameHash/issuerKeyHash like the others (a walk of this
 * small table, no database read). The refresher pre-signs its certificates at its next
 * scan. Thread-safe. Returns 0, CAIRN_EINVAL (incomplete), CAIRN_ECONFLICT (full),
 * CAIRN_ENOMEM. */
int ocsp_add_issuer(ocsp_t *o, const ocsp_issuer_t *c, cairn_err_t *err) CAIRN_WUR;

/* Counters since ocsp_open. Any pointer may be NULL. Thread-safe. */
void ocsp_stats(ocsp_t *o, uint64_t *cache_hits, uint64_t *signed_live, uint64_t *presigned);
/* Cache entries deleted by ocsp_sweep since ocsp_open. Thread-safe. */
uint64_t ocsp_swept(ocsp_t *o);

/* Deletes from the cache the answers of expired certificates (and of serials no
 * longer in the database) and the `unknown` answers past their nextUpdate, in
 * db_writes of at most 1024 deletions (the refresher runs it after each scan).
 * *n (may be NULL) receives the number deleted. Do not call while the refresher
 * runs. Returns 0 or a db code. */
int ocsp_sweep(ocsp_t *o, size_t *n, cairn_err_t *err) CAIRN_WUR;

/*
 * Replaces the responder of issuer (by name) with signer_cert/signer_key (and
 * extra_cert in the answers' certs, may be NULL); references are taken. Answers
 * being signed finish with the old responder, whose references are dropped after.
 * Cached answers of the old responder are no longer served (they are signed live
 * meanwhile) and the refresher re-signs the whole cache at once. Thread-safe.
 * Returns 0, CAIRN_EINVAL (unknown issuer, a certificate not issued by it or not
 * for that key), CAIRN_ENOMEM.
 */
int ocsp_set_signer(ocsp_t *o, const char *issuer, X509 *signer_cert, EVP_PKEY *signer_key,
		    X509 *extra_cert, cairn_err_t *err) CAIRN_WUR;

/* Runs one full cache scan on the calling thread (what the refresher does
 * periodically): signs and stores what is missing or past half-life. *n (may
 * be NULL) receives the number signed. For tests and benchmarks; do not call
 * while the refresher runs. Returns 0 or a db/crypto code. */
int ocsp_refresh_all(ocsp_t *o, size_t *n, cairn_err_t *err) CAIRN_WUR;

/* What the refresher does each tick once the due index is complete: reads the due index
 * (DB_OCSP_DUE) up to now in batches, re-signs the SHA-1 answers at half-life and signs
 * new certificates' first ones, drops the answers of expired certificates and any other
 * past its nextUpdate. *n_signed, *n_dropped, *next (the time the next entry is due, 0
 * when none) may be NULL. For tests and benchmarks; do not call while the refresher runs.
 * Returns 0 or a db/crypto code. */
int ocsp_refresh_due(ocsp_t *o, size_t *n_signed, size_t *n_dropped, int64_t *next,
		     cairn_err_t *err) CAIRN_WUR;

#endif
