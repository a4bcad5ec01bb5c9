/* SPDX-License-Identifier: MIT */
/* ocsp internals shared by the files of ocsp/ — not part of the public interface. */
#ifndef CAIRN_OCSP_INT_H
#define CAIRN_OCSP_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <openssl/ocsp.h>

#include "ocsp/ocsp.h"

/* CertID hash algorithms we answer for; the number is the last byte of a cache key. */
enum { OCSP_ALG_SHA1 = 1, OCSP_ALG_SHA256 = 2, OCSP_N_ALGS = 2 };

/* Cache value, a header then the OCSPResponse DER; read and written only by the codec
 * in cache.c (ocsp_cache_*). A changed signer makes old answers stale. */
#define OCSP_CACHE_VERSION 2
#define OCSP_CACHE_OFF_VERSION 0      /* 1 byte: OCSP_CACHE_VERSION */
#define OCSP_CACHE_OFF_STATUS 1       /* 1 byte: db_cert_status_t or OCSP_CACHE_UNKNOWN */
#define OCSP_CACHE_OFF_REASON 2       /* 1 byte: CRL reason code or OCSP_NO_REASON */
#define OCSP_CACHE_OFF_REVOKED_AT 3   /* BE64 */
#define OCSP_CACHE_OFF_THIS_UPDATE 11 /* BE64 */
#define OCSP_CACHE_OFF_NEXT_UPDATE 19 /* BE64 */
#define OCSP_CACHE_OFF_ETAG 27        /* 8 bytes: first bytes of SHA-256 of the DER */
#define OCSP_CACHE_OFF_SIGNER 35      /* 4 bytes: the signing responder's tag */
#define OCSP_CACHE_HDR 39             /* the DER starts here */
#define OCSP_NO_REASON 0xff
/* Status byte of a cached `unknown` answer (a serial that is not ours). */
#define OCSP_CACHE_UNKNOWN 0xfe
/* Most `unknown` answers kept: each is a random serial someone asked for, so without
 * a bound the cache would grow with whatever a client invents. Beyond it they are
 * signed live and not stored; the refresher deletes them once past nextUpdate. */
#define OCSP_UNKNOWN_MAX 65536

/* Capacity of the refresher's queues; beyond it changes wait for the next scan. */
#define OCSP_QUEUE_MAX 65536
#define OCSP_STORE_MAX 4096

/* A responder: its certificate, key and what goes into the answers it signs. Held by
 * reference, so ocsp_set_signer can replace it while answers signed by the old one are
 * still being made. */
struct ocsp_signer {
	atomic_int refs;
	X509 *cert, *extra;
	EVP_PKEY *key;
	const EVP_MD *md;             /* response signature digest */
	STACK_OF(X509) *certs;        /* extra certificates in responses */
	uint8_t tag[4];               /* first bytes of SHA-256 of the responder certificate */
};

struct ocsp_iss {
	char name[32];
	X509 *cert;
	struct ocsp_signer *sg;       /* the current responder, under ocsp.sg_mu */
	_Atomic uint32_t signer_tag;  /* sg->tag, read without the lock by the cache path */
	int any_signer;               /* presigned_only: no responder here; the answers the
	                                 issuing daemon stored carry its tags, any is taken */
	OCSP_CERTID *tmpl[OCSP_N_ALGS + 1]; /* [alg]: issuer hashes, serial 0 */
};

/* A certificate's state as a response is signed for it (copied out of a txn). */
typedef struct ocsp_state {
	uint8_t serial[DB_SERIAL_MAX];
	size_t serial_len;
	int known;       /* 0: unknown to us (or another issuer's) */
	int exists;      /* a certificate with this serial exists (maybe another issuer's):
	                    an `unknown` answer for it is never stored */
	int status;      /* db_cert_status_t */
	int reason;      /* -1 none */
	int64_t revoked_at;
	int64_t not_after;   /* the certificate's, when known */
	int issued;          /* queued by ocsp_issued: the SHA-1 answer only, as a scan signs */
} ocsp_state_t;

/* A signed answer ready for the cache. */
typedef struct ocsp_entry {
	uint8_t key[DB_SERIAL_MAX + 1];
	size_t klen;
	uint8_t *val; /* OCSP_CACHE_HDR + DER, malloc'd */
	size_t vlen;
} ocsp_entry_t;

struct ocsp {
	db_t *db;
	struct ocsp_iss iss[OCSP_MAX_ISSUERS];
	_Atomic size_t n_iss;    /* slots below it are complete and never change but for sg */
	int64_t validity, scan_interval;
	atomic_ulong hits, live, presigned;
	atomic_ulong try_later;  /* presigned_only: answers without a fresh cached one */
	int presigned_only;      /* ocsp_config_t.presigned_only */
	atomic_ulong swept;      /* cache entries deleted (expired certificates, stale unknowns) */
	atomic_ulong cache_writes; /* db_writes of the cache (stores and sweeps) */
	atomic_ulong unknowns;   /* `unknown` entries stored (counted again by each sweep) */
	pthread_mutex_t sg_mu;   /* guards iss[].sg (the pointer; the signer is refcounted) */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int started, stopping;
	int rescan;              /* the responder changed: scan the whole cache now */
	ocsp_state_t *changed;   /* serials to re-sign now (issuer resolved at sign time) */
	size_t n_changed;
	ocsp_entry_t *stores;    /* live-signed answers to store */
	size_t n_stores;
	/* The arrays of the last drain, kept for the next queue (allocated once: a fresh
	 * array per drain was an mmap, page faults and an munmap per new certificate). */
	ocsp_state_t *changed_spare;
	ocsp_entry_t *stores_spare;
	ocsp_pub_t *pub;         /* borrowed: told of every stored or swept answer, or NULL */
};

/* The single CertID a request is answered for from the cache (answer_one): issuer i,
 * hash algorithm, serial as stored (minimal big-endian bytes). */
typedef struct ocsp_one {
	size_t iss;
	int alg;
	uint8_t serial[DB_SERIAL_MAX];
	size_t serial_len;
} ocsp_one_t;

/* request.c */
/* 1 when der (len bytes) is an RFC 5019 request (one CertID, no extension, no signature)
 * in DER, for one of o's issuers: *one says what it asks. 0 for anything else, read by
 * the decoder then. A request this takes is one the decoder reads the same way
 * (ocsp_req_decoded: test_ocsp and fuzz_ocsp compare them). Thread-safe. */
int ocsp_req_quick(const ocsp_t *o, const uint8_t *der, size_t len, ocsp_one_t *one);

/* respond.c */
/* Signs a one-response answer for state st of issuer i with CertID alg, no
 * nonce, thisUpdate now: e->key/val filled for the cache (val malloc'd).
 * Returns 0 or CAIRN_ECRYPTO/CAIRN_ENOMEM. Thread-safe. */
int ocsp_sign_entry(ocsp_t *o, size_t i, int alg, const ocsp_state_t *st, time_t now,
		    ocsp_entry_t *e) CAIRN_WUR;
/* 1 when a cached value has the current format, is fresh at now and was signed for
 * state st (whoever signed it). */
int ocsp_cache_current(const ocsp_state_t *st, const uint8_t *v, size_t vlen, time_t now);
/* Every batched, resumable walk of the cache (DB_OCSP): cache keys only (serial ||
 * algorithm), anything else passed over; the callback ends each batch. */
#define OCSP_CACHE_WALK ((db_walk_t){ .min_len = 2, .max_len = DB_SERIAL_MAX + 1 })
/* The decoder's reading of der: 1 when it is a well-formed request answered from one
 * CertID (*one), as ocsp_handle does without ocsp_req_quick; 0 otherwise. */
int ocsp_req_decoded(const ocsp_t *o, const uint8_t *der, size_t len, ocsp_one_t *one);
/* The CertID's serial as stored in the db (minimal big-endian bytes); 0, or -1 when it
 * cannot be one of ours. */
int ocsp_cid_serial(OCSP_CERTID *cid, uint8_t out[DB_SERIAL_MAX], size_t *len);
/* Reads the state of serial for issuer i in txn. */
void ocsp_read_state(db_txn_t *txn, const struct ocsp_iss *is, const uint8_t *serial,
		     size_t len, ocsp_state_t *st);
/* The same for the issuer named issuer. */
void ocsp_state_of(db_txn_t *txn, const char *issuer, const uint8_t *serial, size_t len,
		   ocsp_state_t *st);

/* The state a cached answer v (vlen bytes) of issuer i must match, read from the revoked
 * index alone when that is enough (v says `good` or `revoked`, signed by i's current
 * responder, whose tag is i's only; respond.c says why). Returns 0 with *st set as
 * ocsp_read_state sets it but for not_after (0), or -1: read the record. */
int ocsp_indexed_state(ocsp_t *o, size_t i, db_txn_t *txn, const uint8_t *serial,
		       size_t slen, const uint8_t *v, size_t vlen, ocsp_state_t *st);

/* The current responder of issuer i with a reference taken; release with ocsp_signer_put. */
struct ocsp_signer *ocsp_signer_get(ocsp_t *o, size_t i);
void ocsp_signer_put(struct ocsp_signer *sg);
/* Sets issuer i's first responder from c (references taken). Returns 0 or CAIRN_ENOMEM. */
int ocsp_signer_init(ocsp_t *o, size_t i, const ocsp_issuer_t *c) CAIRN_WUR;

/*
 * DB_META "ocsp_signers": which responder (its tag) signed the cache of each issuer, as
 * "name\0" and 4 tag bytes per issuer. A responder replaced while the refresher was not
 * running (the delegated signer renewed at start-up, ocsp.signer changed) leaves answers
 * the daemon no longer serves: each certificate's first question after it was a live
 * signature until half-life. The refresher compares at start and re-signs the whole
 * cache when a tag differs, as ocsp_set_signer has it do at run time.
 */
#define OCSP_SIGNERS_META "ocsp_signers"
/* DB_META: the latest thisUpdate of a stored answer (8 bytes, big-endian), written with
 * the answers; ahead of the clock once the clock went back behind them (ocsp_latest). */
#define OCSP_LATEST_META "ocsp_latest"
#define OCSP_SIGNERS_MAX (OCSP_MAX_ISSUERS * (sizeof(((struct ocsp_iss *)0)->name) + 4))
/* The record of the current responders into buf (OCSP_SIGNERS_MAX bytes); its length. */
size_t ocsp_signers_encode(const ocsp_t *o, uint8_t *buf);
/* 1 when the stored record names another responder for one of o's issuers, or none (an
 * issuer added since); 0 when it matches; -1 when there is no record. */
int ocsp_signers_changed(ocsp_t *o);

/* cache.c */
/* Queues a live-signed entry for storing (takes ownership of e->val; dropped when full). */
void ocsp_queue_store(ocsp_t *o, ocsp_entry_t *e);
/* Stores entries in one db_write; frees their values. Flags: OCSP_STORE_BACKGROUND, a
 * store no answer waits on (a new certificate's pre-signed answer, a live answer kept for
 * later), made with db_write_background so it shares the commit of the next client
 * write; OCSP_STORE_LIVE, answers the responder signed on a miss: each is stored only
 * where no stored answer still fits (same status, revocation and signer, not expired). */
#define OCSP_STORE_BACKGROUND 1
#define OCSP_STORE_LIVE 2
int ocsp_store(ocsp_t *o, ocsp_entry_t *e, size_t n, int flags, cairn_err_t *err) CAIRN_WUR;
/* The cache codec: the only code that knows the layout of a cache value. */
/* Cache key of (serial, alg) into key (DB_SERIAL_MAX + 1 bytes); returns its length. */
size_t ocsp_cache_key(uint8_t *key, const uint8_t *serial, size_t len, int alg);
/* e->val/vlen: the cache value of der (len bytes), an answer for st signed by the
 * responder with tag signer, valid from this_update to next_update (e->key untouched).
 * Returns 0 or CAIRN_ENOMEM. */
int ocsp_cache_encode(const ocsp_state_t *st, time_t this_update, time_t next_update,
		      const uint8_t signer[4], const uint8_t *der, size_t len,
		      ocsp_entry_t *e) CAIRN_WUR;
/* 1 when a cached value (vlen bytes) was signed for st by issuer is's current
 * responder, is fresh at now, and has the current format. */
int ocsp_cache_matches(const struct ocsp_iss *is, const ocsp_state_t *st, const uint8_t *v,
		       size_t vlen, time_t now);
/* 1 when the cache value v (vlen bytes) is an `unknown` answer. */
int ocsp_cache_is_unknown(const uint8_t *v, size_t vlen);
/* Fields of a cache value of more than OCSP_CACHE_HDR bytes (the caller checks vlen,
 * e.g. with ocsp_cache_matches or ocsp_cache_is_unknown): the times it is valid for,
 * the 8-byte ETag, and the DER (vlen - OCSP_CACHE_HDR bytes) inside v. */
time_t ocsp_cache_this_update(const uint8_t *v);
time_t ocsp_cache_next_update(const uint8_t *v);
const uint8_t *ocsp_cache_etag(const uint8_t *v);
const uint8_t *ocsp_cache_der(const uint8_t *v, size_t vlen, size_t *der_len);
/*
 * The due index (DB_OCSP_DUE: when || cache key) says when each cached answer must be
 * looked at again: a SHA-1 answer of a known certificate near half-life (ocsp_resign_at),
 * any other answer (SHA-256, `unknown`) at its nextUpdate (dropped then: a later question
 * is signed live). It changes in the transaction of the answer it times, so the
 * refresher reads only what is due (docs/scaling.md) instead of every certificate.
 */
#define OCSP_DUE_KEY_MAX (8 + DB_SERIAL_MAX + 1)
/*
 * When a SHA-1 answer of a known certificate is re-signed: at half-life, less a spread
 * of up to an eighth of the validity fixed by its serial. Answers signed together (a
 * pre-signed database, a mass revocation) would otherwise fall due together every
 * half-life for ever; with the spread their first re-signing is spread over validity/8
 * and, each serial keeping its own period, they drift further apart every round. It
 * costs ~14 % more signatures than exactly at half-life (the mean period is 7/16 of the
 * validity, not 1/2).
 */
int64_t ocsp_resign_at(const ocsp_t *o, const uint8_t *key, size_t klen, int64_t this_update);
/* When the cached value v (vlen bytes) under key falls due: ocsp_resign_at for a SHA-1
 * answer of a known certificate, its nextUpdate otherwise (0 for a short value). */
int64_t ocsp_due_of(const ocsp_t *o, const uint8_t *key, size_t klen, const uint8_t *v,
		    size_t vlen);
/* The due-index key (8-byte big-endian when, then the cache key) into out
 * (OCSP_DUE_KEY_MAX bytes); returns its length. */
size_t ocsp_due_key(uint8_t *out, int64_t when, const uint8_t *key, size_t klen);

/* refresh.c */
/* Stops and joins the refresher thread, frees the queues. */
void ocsp_refresher_stop(ocsp_t *o);

#endif
