/* SPDX-License-Identifier: MIT */
/* crl: full CRLs per issuer (RFC 5280) — streamed from the revoked index, signed in the token, scheduled, published. */
#ifndef CAIRN_CRL_H
#define CAIRN_CRL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "db/db.h"
#include "util/util.h"

/* The root and up to 16 issuing CAs (rotations, ca.h CA_MAX_ISSUERS). */
#define CRL_MAX_ISSUERS 17
/* Base URLs a shard CRL's IDP names at most: the current one and the 15 before it. */
#define CRL_MAX_BASES 16

/* ---- building one CRL (no state: for the daemon, tests and the benchmark) ---- */

typedef struct crl_params {
	const char *issuer;       /* issuer name in the db ("issuing", "root") */
	X509 *cert;               /* the issuer's certificate (name, SKI for the AKI) */
	EVP_PKEY *key;            /* its signing key (may be a token key) */
	uint64_t number;          /* CRL Number */
	int64_t this_update;      /* unix seconds */
	int64_t next_update;
	int keep_expired;         /* 0: leave out entries whose certificate expired more
	                             than one validity (next_update - this_update) before
	                             this_update; the first CRL scheduled after the expiry
	                             still lists them (RFC 5280 §3.3) */
	uint64_t delta_base;      /* 0: a full CRL; else a delta CRL (RFC 5280 §5.2.4) on the
	                             full CRL with this number: only entries changed at or
	                             after delta_since, released holds as removeFromCRL, and
	                             a critical Delta CRL Indicator */
	int64_t delta_since;
	const char *freshest_url; /* full CRLs: Freshest CRL extension pointing at the delta
	                             CRL, or NULL */
	const char *idp_url;      /* NULL: every entry of the issuer. Else a shard CRL: only
	                             the entries whose serial names shard (util_serial_shard),
	                             and a critical Issuing Distribution Point (RFC 5280
	                             §5.2.5) with this URL as its fullName and
	                             onlyContainsUserCerts TRUE */
	const char *const *idp_more; /* a shard CRL's URLs under earlier public URLs, n_idp_more
	                             of them: also in the IDP's fullName, after idp_url. The
	                             certificates issued then name them, and RFC 5280 §6.3.3
	                             (b)(2)(i) needs one IDP name to match one of their CDP */
	size_t n_idp_more;
	int shard;
} crl_params_t;

typedef struct crl_stats {
	size_t entries;           /* revoked entries in the CRL */
	size_t skipped_expired;   /* entries left out because the certificate expired
	                             (keep_expired) */
} crl_stats_t;

/*
 * Builds and signs the full CRL of p->issuer from the revoked index inside
 * txn (a read txn; held for the walk only, not while signing): version 2,
 * the issuer's subject as issuer, thisUpdate/nextUpdate, one entry per revoked
 * certificate (serial, revocation date, reasonCode unless unspecified,
 * invalidityDate when known), extensions AKI (keyid) and CRL Number (plus
 * Freshest CRL, or Delta CRL Indicator for a delta; Issuing Distribution Point for
 * a shard CRL, which lists only its shard's entries); released holds (reason
 * removeFromCRL in the index) are left out of full CRLs; signed
 * with ECDSA-SHA256/384 or RSA-SHA256 after the key. Entries are streamed:
 * one walk of the index into a buffer that doubles as it fills (pages never
 * written are never resident), so memory is the CRL itself plus a constant. The DER is emitted here (DESIGN.md
 * allows it on this measured hot path); tests parse every output back with
 * OpenSSL. *der is malloc'd (caller frees). stats may be NULL.
 * Returns 0, CAIRN_EINVAL, CAIRN_EDB, CAIRN_ECRYPTO, CAIRN_ENOMEM.
 * The txn is ended by the caller. Thread-safe (txn per thread).
 */
int crl_build(db_txn_t *txn, const crl_params_t *p, uint8_t **der, size_t *len, crl_stats_t *stats,
	      cairn_err_t *err) CAIRN_WUR;

/*
 * crl_build for n CRLs of one issuer in ONE walk of its revoked index: each entry goes
 * to every CRL of the whole issuer among ps (full, delta) and to the one shard CRL its
 * serial names, if that shard is among ps. All ps[i]->issuer must be equal and no shard
 * may appear twice. Memory: each CRL holds its own entries only, so n shard CRLs
 * together take about what one full CRL does (plus 64 KiB each before they grow).
 * der[i], len[i] and stats[i] (stats may be NULL) receive CRL i; on failure every
 * der[i] is NULL. Returns the codes of crl_build. Thread-safe (txn per thread).
 */
int crl_build_set(db_txn_t *txn, const crl_params_t *const *ps, size_t n, uint8_t **der,
		  size_t *len, crl_stats_t *stats, cairn_err_t *err) CAIRN_WUR;

/* ---- the daemon's CRL service ---- */

typedef struct crl crl_t;

typedef struct crl_issuer {
	const char *name;         /* "issuing", "root" (also the file name: NAME.crl) */
	X509 *cert;               /* borrowed during crl_open (a reference is taken) */
	EVP_PKEY *key;
	int sharded;              /* 1: an issuing CA whose certificates may name a shard
	                             CRL (crl_config_t.shards) */
} crl_issuer_t;

typedef struct crl_config {
	db_t *db;                 /* borrowed, outlives the service */
	crl_issuer_t issuers[CRL_MAX_ISSUERS];
	size_t n_issuers;
	const char *publish_dir;  /* absolute; created 0755 when missing */
	int64_t period;           /* seconds between scheduled rebuilds */
	int64_t overlap;          /* nextUpdate = thisUpdate + period + overlap */
	int64_t debounce;         /* seconds to gather revocations before a rebuild */
	int keep_expired;
	int64_t delta_period;     /* 0: no delta CRLs; else seconds between delta CRLs
	                             (also rebuilt, debounced, after revocations), served
	                             and published as NAME-delta.crl */
	const char *base_url;     /* http base for the Freshest CRL URL ({base}/crl/NAME-delta.crl)
	                             and the shard CRLs' IDP ({base}/crl/NAME/SHARD.crl). With
	                             shards, every base ever in force is kept in DB_META
	                             "crl_bases" (newest first, at most CRL_MAX_BASES) and each
	                             shard CRL's IDP names its URL under all of them */
	unsigned shards;          /* crl.shards: K >= 2 also serves, for each sharded issuer,
	                             K shard CRLs NAME/0 .. NAME/K-1 (publish_dir/NAME/S.crl),
	                             each rebuilt (debounced) only when one of its entries
	                             changes or its nextUpdate nears, with its own CRL number
	                             sequence. The largest K ever configured is kept in DB_META
	                             "crl_shards" and served from then on, whatever K is
	                             later: certificates already issued name those URLs. */
	const char *tree_dir;     /* NULL, or the root of a published tree (absolute): every CRL
	                             is also written to tree_dir/crl/NAME.crl (NAME-delta.crl) and
	                             each issuer's certificate to tree_dir/ca/NAME.crt (DER), the
	                             paths the HTTP listener serves them at; docs/scaling.md */
} crl_config_t;

/*
 * Creates the service and makes sure every issuer has a current CRL: a
 * published file (publish_dir/NAME.crl) that parses, carries the CRL number
 * stored in the db (DB_META "crl_number/NAME") and is not past half its
 * validity is served as is (so a restart keeps the number); else a new one is
 * built. Built here only while the revoked index is small (10,000 entries, about
 * 10 ms); past that the start does not wait: the scheduler thread (crl_start) adopts
 * or builds them first thing, and until a CRL exists crl_get says CAIRN_EAGAIN — or
 * serves the CRL published before this start while it is still valid (crl_pending
 * names both kinds). Start-up cost is thus independent of the number revoked.
 * *out owned by the caller: crl_free.
 * Returns 0, CAIRN_EINVAL, CAIRN_EIO (publish dir), or a crl_rebuild code.
 */
int crl_open(const crl_config_t *cfg, crl_t **out, cairn_err_t *err) CAIRN_WUR;
/* Adds an issuer to a running service (a rotation): its CRL (NAME.crl) is built and
 * published now, then kept fresh like the others. Thread-safe. Returns 0, CAIRN_EINVAL
 * (incomplete or a name already served), CAIRN_ECONFLICT (full), or a crl_rebuild code
 * (the issuer is then served from the scheduler's next successful build). */
int crl_add_issuer(crl_t *c, const crl_issuer_t *ci, cairn_err_t *err) CAIRN_WUR;
/* Starts the scheduler thread (periodic and debounced rebuilds). Returns 0 or CAIRN_EIO. */
int crl_start(crl_t *c, cairn_err_t *err) CAIRN_WUR;
/* Stops the scheduler and frees. NULL is a no-op. No crl_get may be running. */
void crl_free(crl_t *c);

/*
 * Rebuilds issuer's CRL now ("NAME", "NAME-delta" or the shard "NAME/S"): the next CRL number is committed first (one
 * db_write, so numbers never repeat even after a crash), then the CRL is
 * built, written atomically to publish_dir/NAME.crl (and the tree, when set) with its
 * thisUpdate as modification time, and served.
 * Returns 0, CAIRN_ENOENT (no such issuer), or a build/db/file code. Thread-safe.
 */
int crl_rebuild(crl_t *c, const char *issuer, cairn_err_t *err) CAIRN_WUR;

/* ca_revoke_cb-compatible listener: schedules a rebuild of that issuer's CRL
 * (its delta CRL when deltas are on) and of the shard CRL serial names, if any,
 * after the debounce delay. arg is the crl_t.
 * Thread-safe. */
void crl_changed(const char *issuer, const uint8_t *serial, size_t len, void *arg);

/* A copy of the current CRL of issuer (DER, malloc'd) with its thisUpdate and
 * nextUpdate; "NAME-delta" names the issuer's delta CRL, "NAME/S" its shard S. der and len may be NULL
 * (only the times and number wanted). Returns 0 or CAIRN_ENOENT
 * (unknown issuer, or no delta CRLs), CAIRN_EAGAIN (no CRL yet: the first build
 * after the start runs, or failed and is retried), CAIRN_ENOMEM. Thread-safe. */
int crl_get(crl_t *c, const char *issuer, uint8_t **der, size_t *len, int64_t *this_update,
	    int64_t *next_update, uint64_t *number) CAIRN_WUR;

/* The CRLs that the first build after the start has not produced yet: fn (may be NULL)
 * gets each one's name ("NAME", "NAME-delta", "NAME/S") and state: "previous" (the CRL
 * published before the start is served meanwhile), "building" (none is: crl_get says
 * CAIRN_EAGAIN) or "failed" (none is, a build failed: retried each minute, logged).
 * fn runs under the service's lock: it must not call crl_*. Returns how many.
 * Thread-safe. */
size_t crl_pending(crl_t *c, void (*fn)(const char *name, const char *state, void *arg),
		   void *arg);
/* The CRLs served whose latest rebuild failed (the revocations since are not in them; a
 * full disk, say): fn (may be NULL) gets each one's name and when its rebuilds began to
 * fail; each is retried every minute until one succeeds. Those crl_pending names are
 * left out. fn runs under the service's lock. Returns how many. Thread-safe. */
size_t crl_failing(crl_t *c, void (*fn)(const char *name, int64_t since, void *arg), void *arg);

#endif
