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
/* A request's nonce: 1..128 octets (RFC 9654 §2.1); any other is malformedRequest. */
#define OCSP_NONCE_MAX 128

typedef struct ocsp ocsp_t;
typedef struct ocsp_pub ocsp_pub_t;

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
	int presigned_only;       /* a responder beside the issuing daemon (docs/scaling.md):
	                             no signer (signer_cert/signer_key NULL), db read-only;
	                             answers come from the cache the daemon keeps, a miss is
	                             tryLater; ocsp_start must not be called */
	ocsp_pub_t *publish;      /* borrowed, or NULL: told of every answer stored or swept */
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
 * ocsp_changed, and stores answers signed live on a cache miss. When a responder
 * differs from the one the cache was signed by (DB_META "ocsp_signers": a signer
 * renewed or changed while no refresher ran) it first re-signs the whole cache. Each
 * batch is one db_write. Returns 0 or CAIRN_EIO (thread). */
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

/* ca_on_issue listener: queues a new certificate's first answer (SHA-1 CertID, the one
 * a scan signs) for the refresher, so it is pre-signed seconds after issuance instead of
 * at the next scan: what a presigned_only responder serves. arg is the ocsp_t. */
void ocsp_issued(const char *issuer, const uint8_t *serial, size_t len, void *arg);

/* Answers from now on for one more CA, c as in ocsp_config_t (references taken): its
 * CertIDs are matched by issuerNameHash/issuerKeyHash like the others (a walk of this
 * small table, no database read). The refresher pre-signs its certificates at its next
 * scan. Thread-safe. Returns 0, CAIRN_EINVAL (incomplete), CAIRN_ECONFLICT (full),
 * CAIRN_ENOMEM. */
int ocsp_add_issuer(ocsp_t *o, const ocsp_issuer_t *c, cairn_err_t *err) CAIRN_WUR;

/* Answers a presigned_only responder gave tryLater since ocsp_open (no fresh cached
 * answer for the certificate's current status, several CertIDs). Thread-safe. */
uint64_t ocsp_try_later(ocsp_t *o);

/* Counters since ocsp_open. Any pointer may be NULL. Thread-safe. */
void ocsp_stats(ocsp_t *o, uint64_t *cache_hits, uint64_t *signed_live, uint64_t *presigned);
/* Cache entries deleted by ocsp_sweep since ocsp_open. Thread-safe. */
uint64_t ocsp_swept(ocsp_t *o);
/* Durable writes of the cache (stored answers, sweeps) since ocsp_open: the part of the
 * database's writes that is background work, not a request's. Thread-safe. */
uint64_t ocsp_cache_writes(ocsp_t *o);

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

/* ---- the published tree (publish.c; docs/scaling.md "Serving revocation data as files") ----
 *
 * Under a directory DIR, one file per certificate with a current pre-signed answer:
 *   DIR/ocsp/<base64 of the DER OCSPRequest>   the RFC 5019 GET path: the request a
 *       client makes for that certificate (one CertID with SHA-1 hashes, no nonce, no
 *       extensions), standard base64 with padding. Its '/' characters are directory
 *       separators, so a web server that decodes %2F (nginx, S3) finds the same file for
 *       a raw and a percent-encoded path; a name ending in '/' is that directory's file
 *       OCSP_PUB_INDEX.
 *   DIR/ocsp/sha256/<hh>/<hex>                   the same answer named by the SHA-256 of
 *       that DER request (hh its first two hex digits), for a front end that turns a
 *       POST into a file lookup.
 * Each file is the OCSPResponse DER, written atomically (temporary file and rename in
 * its directory) with its modification time set to the answer's thisUpdate.
 */
#define OCSP_PUB_INDEX "index.ocsp"
/* Longest relative path of a published answer. */
#define OCSP_PUB_PATH_MAX 512

/* The two relative names of the answer for serial (len bytes) of the CA with certificate
 * issuer: get (the GET path, "ocsp/...") and hash ("ocsp/sha256/..."), each
 * OCSP_PUB_PATH_MAX bytes. der/der_len (both may be NULL) receive the DER request
 * (malloc'd). Returns 0, CAIRN_EINVAL (serial), CAIRN_ECRYPTO, CAIRN_ENOMEM. */
int ocsp_pub_names(X509 *issuer, const uint8_t *serial, size_t len, char *get, char *hash,
		   uint8_t **der, size_t *der_len) CAIRN_WUR;

/* A publisher into dir (absolute; created 0755 when missing) that writes the fresh
 * answers of db's cache whose status matches the certificate's. delay: seconds changes
 * are gathered (ocsp_pub_changed) before they are written. *out owned by the caller:
 * ocsp_pub_free. Returns 0, CAIRN_EINVAL, CAIRN_EIO (dir), CAIRN_ENOMEM. */
int ocsp_pub_new(db_t *db, const char *dir, int64_t delay, ocsp_pub_t **out,
		 cairn_err_t *err) CAIRN_WUR;
/* Publishes the answers of the CA named name (certificate cert, reference taken) too.
 * Thread-safe. Returns 0, CAIRN_EINVAL, CAIRN_ECONFLICT (full). */
int ocsp_pub_add_issuer(ocsp_pub_t *p, const char *name, X509 *cert) CAIRN_WUR;
/* Counts of one pass or since ocsp_pub_new. */
typedef struct ocsp_pub_stats {
	uint64_t written;   /* answers written (two names each) */
	uint64_t unchanged; /* already in the tree (same size and thisUpdate) */
	uint64_t removed;   /* answers of expired certificates removed (and files pruned:
	                       ocsp_prune) */
	uint64_t skipped;   /* stale or not matching the certificate's status: left alone */
	uint64_t failed;    /* files that could not be written */
} ocsp_pub_stats_t;
/* One pass over the whole cache on the calling thread: writes every current answer not
 * already in the tree, one read txn per 1024 answers, one syncfs at the end. st may be
 * NULL. Do not call while the publisher thread runs. Returns 0 or a db/file code. */
int ocsp_pub_all(ocsp_pub_t *p, ocsp_pub_stats_t *st, cairn_err_t *err) CAIRN_WUR;
/* Starts the publisher thread: one ocsp_pub_all pass first, then the serials given to
 * ocsp_pub_changed, at most delay seconds after the first of a batch (a full pass again
 * when more than its queue holds were changed); and, beside it, one ocsp_pub_prune of
 * the tree (a crash's leftovers), which logs what it did. Returns 0 or CAIRN_EIO. */
int ocsp_pub_start(ocsp_pub_t *p, cairn_err_t *err) CAIRN_WUR;
/* Queues serial (len bytes, copied) for publishing: its current answer written, or its
 * files removed once the certificate has expired. Thread-safe; never blocks on files. */
void ocsp_pub_changed(ocsp_pub_t *p, const uint8_t *serial, size_t len);
/* Counters since ocsp_pub_new. Thread-safe. */
void ocsp_pub_stats(ocsp_pub_t *p, ocsp_pub_stats_t *st);
/* Stops the threads (the queue is written first) and frees. NULL is a no-op. */
void ocsp_pub_free(ocsp_pub_t *p);

/* ---- pruning a published tree (prune.c) ---- */
typedef struct ocsp_prune_issuer {
	const char *name;         /* the CA's name in the db ("issuing", ...) */
	X509 *cert;               /* borrowed */
} ocsp_prune_issuer_t;

typedef struct ocsp_prune_config {
	db_t *db;                 /* borrowed */
	const char *dir;          /* the tree's root, absolute */
	const ocsp_prune_issuer_t *issuers;
	size_t n_issuers;
	int (*stop)(void *arg);   /* may be NULL: non-zero ends the walk early */
	void *stop_arg;
} ocsp_prune_config_t;

/*
 * Removes from the tree at cfg->dir what a crash or the database's own clean-up left
 * behind, and nothing else: temporary files of cairn's names ("NAME.tmp.PID" under
 * ocsp/, crl/ and ca/) whose process is gone, and answer files under ocsp/ that are an
 * OCSP response of one of cfg's issuers, stored under the very name cairn gives that
 * answer, for a serial the db no longer holds (or holds as expired or of another CA).
 * Anything else — other names, symlinks (never followed), files that do not parse — is
 * left alone, and a GET-path directory is removed only when this walk emptied it. The
 * root must be a directory owned by this user, not a symlink. Memory: 1024 answers per
 * check and one descriptor per directory level. st->removed counts the files removed
 * (st may be NULL). Returns 0, CAIRN_EDENIED (the root), CAIRN_EINVAL, CAIRN_EIO,
 * CAIRN_ENOMEM, CAIRN_ECRYPTO. Thread-safe (one read txn at a time).
 */
int ocsp_prune(const ocsp_prune_config_t *cfg, ocsp_pub_stats_t *st, cairn_err_t *err) CAIRN_WUR;
/* ocsp_prune of p's tree with p's issuers, on the calling thread (cairn publish --to);
 * ocsp_pub_start runs it on a thread of its own. */
int ocsp_pub_prune(ocsp_pub_t *p, ocsp_pub_stats_t *st, cairn_err_t *err) CAIRN_WUR;
/* What the refresher does each tick once the due index is complete: reads the due index
 * (DB_OCSP_DUE) up to now in batches, re-signs the SHA-1 answers at half-life and signs
 * new certificates' first ones, drops the answers of expired certificates and any other
 * past its nextUpdate. *n_signed, *n_dropped, *next (the time the next entry is due, 0
 * when none) may be NULL. For tests and benchmarks; do not call while the refresher runs.
 * Returns 0 or a db/crypto code. */
int ocsp_refresh_due(ocsp_t *o, size_t *n_signed, size_t *n_dropped, int64_t *next,
		     cairn_err_t *err) CAIRN_WUR;

#endif
