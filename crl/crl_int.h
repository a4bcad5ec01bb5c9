/* SPDX-License-Identifier: MIT */
/* crl internals shared by the files of crl/ — not part of the public interface. */
#ifndef CAIRN_CRL_INT_H
#define CAIRN_CRL_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "crl/crl.h"

/* der.c: the few DER pieces the CRL writer emits by hand (tag, length, times). */

/* Bytes of a tag-length-value with content of n bytes (one-byte tag). */
size_t crl_der_tlv_size(size_t n);
/* Writes tag and the definite length of n at p; returns the position after it. */
uint8_t *crl_der_hdr(uint8_t *p, uint8_t tag, size_t n);
/* Time for a CRL entry (RFC 5280 §5.1.2.6): UTCTime (13 bytes) through 2049,
 * GeneralizedTime (15 bytes) after, or always GeneralizedTime when generalized
 * is set (invalidityDate). Writes the whole TLV at p (when p is non-NULL) and
 * returns its size. */
size_t crl_der_time(uint8_t *p, int64_t t, int generalized);


/* ---- the CRL service (open.c, adopt.c, publish.c, sched.c, serve.c) ---- */

#define CRL_FILE_MAX (1u << 30)

/* One published CRL: the full one, the delta or a shard of an issuer (guarded by crl.mu). */
struct crl_slot {
	char name[48];         /* "NAME", "NAME-delta" or "NAME/S" (crl_get, logs) */
	int shard;             /* -1, or the shard this CRL lists */
	char **urls;           /* a shard's IDP names: {base}/crl/NAME/S.crl for each of
	                          crl.bases, the current base first */
	size_t n_urls;
	char *path;            /* publish_dir/NAME.crl, NAME-delta.crl or NAME/S.crl */
	const char *tree_root; /* tree_dir (borrowed from the crl_t), or NULL */
	char *tree_rel;        /* crl/ and the same name below it, or NULL */
	uint8_t *der;          /* current CRL */
	size_t len;
	int64_t this_update, next_update;
	uint64_t number;
	int dirty;             /* revocations since the last build */
	int64_t dirty_at;
	int64_t retry_at;      /* after a failed build: not before this time */
	int64_t failing_since; /* the first failed build (or write) since the last that
	                          succeeded; 0 (crl_failing) */
	int interim;           /* der is the CRL published before this start, served (still
	                          valid) while the first build of this start runs */
};

struct crl_iss {
	char name[32];
	X509 *cert;
	EVP_PKEY *key;
	char *freshest_url;    /* the delta's URL, when deltas are on */
	struct crl_slot full, delta;
	struct crl_slot *shards; /* n_shards of them (crl.shards), or NULL */
	unsigned n_shards;
};

struct crl {
	db_t *db;
	struct crl_iss iss[CRL_MAX_ISSUERS];
	_Atomic size_t n_iss;      /* slots below it are set up; crl_add_issuer appends */
	char *publish_dir, *base_url, *tree_dir;
	char **bases;              /* with shards: base_url, then the earlier bases (DB_META
	                              crl_bases), n_bases of them */
	size_t n_bases;
	int64_t period, overlap, debounce, delta_period;
	int keep_expired;
	unsigned shards;           /* shard CRLs per sharded issuer (0: none) */
	pthread_mutex_t mu;        /* the current CRLs and the schedule */
	pthread_mutex_t build_mu;  /* one rebuild at a time */
	pthread_cond_t cv;
	pthread_t thread;
	int started, stopping;
	int deferred;              /* the first builds are the scheduler's (crl_open left them) */
};

/* crl_open builds (or adopts) every CRL itself when the revoked index holds at most this
 * many entries (~10 ms of building); past it the scheduler thread does, after the daemon's
 * listeners are up: a first build of 1M revoked takes ~9 s (docs/scaling.md). */
#define CRL_INLINE_MAX 10000

/* serve.c: the issuer named name, or NULL. Under c->mu or before the scheduler starts. */
struct crl_iss *crl_find_issuer(crl_t *c, const char *name);
/* serve.c: the slot a name means: "NAME" (full), "NAME-delta" (when deltas are on) or
 * "NAME/S" (a shard); *is its issuer. NULL when there is none. */
struct crl_slot *crl_find_slot(crl_t *c, const char *name, struct crl_iss **is);

/* publish.c: the last CRL number taken for issuer (meta crl_number/ISSUER), 0 if none. */
uint64_t crl_stored_number(crl_t *c, const char *issuer);
/* publish.c: 1 and the CRL's number and times when data is the file recorded as
 * published under name (meta crl_published/NAME), signed by is's current certificate,
 * with the IDP names idp_urls (n_urls of them; 0: no IDP) and a Freshest CRL extension as
 * freshest says; else 0. */
int crl_recorded_match(crl_t *c, const struct crl_iss *is, const char *name,
		       char *const *idp_urls, size_t n_urls, int freshest, const char *data,
		       size_t len, uint64_t *number, int64_t *tu, int64_t *nu);
/* publish.c: writes a CRL to the slot's file and its copy in the tree (when set), each
 * atomically, with thisUpdate as modification time. Returns 0 or a file code. */
int crl_slot_write(const struct crl_slot *slot, const uint8_t *der, size_t len, int64_t tu,
		   cairn_err_t *err);
/* publish.c: makes der (taken over) the slot's served CRL; interim: the previous start's,
 * served until the first build of this start replaces it. */
void crl_slot_serve(crl_t *c, struct crl_slot *slot, uint8_t *der, size_t len, int64_t tu,
		    int64_t nu, uint64_t number, int interim);
/* publish.c: rebuilds the n CRLs slots of issuer is in ONE walk of its revoked index:
 * numbers committed first, files written atomically and served, records committed; a
 * failed slot is due again in a minute. Returns 0 or the first failure's code. */
int crl_rebuild_slots(crl_t *c, struct crl_iss *is, struct crl_slot *const *slots, size_t n,
		      cairn_err_t *err);
/* publish.c: rebuilds, in one walk, the shards of is for which adopted (may be NULL) says 0. */
int crl_rebuild_shards(crl_t *c, struct crl_iss *is, const uint8_t *adopted, cairn_err_t *err);

/* adopt.c: 1 when the published full CRL of is was adopted (ours, numbered from the db's
 * sequence, in the first half of its validity, nothing revoked or released since). */
int crl_adopt_published(crl_t *c, struct crl_iss *is);
/* adopt.c: the same for a shard, from its meta record; latest: when one of its entries
 * last changed (crl_shard_latest). */
int crl_adopt_shard(crl_t *c, struct crl_iss *is, struct crl_slot *slot, int64_t latest);
/* adopt.c: t[s] = when an entry of shard s last changed (0: never), one walk for all of
 * is's shards; INT64_MAX everywhere when the walk fails. */
void crl_shard_latest(crl_t *c, const struct crl_iss *is, int64_t *t);
/* adopt.c: serves the CRL published before this start while a deferred first build runs,
 * when its record says it is ours and it is not within a minute of its nextUpdate. */
void crl_serve_previous(crl_t *c, struct crl_iss *is, struct crl_slot *slot);
/* adopt.c: writes the issuer's certificate into the tree (ca/NAME.crt, DER). */
int crl_tree_ca_cert(crl_t *c, const crl_issuer_t *ci, cairn_err_t *err);

/* open.c: the issuer's CRLs as the service starts or the issuer is added: each published
 * one that can be adopted, the others built now; deferred: the scheduler's first builds
 * (the previous CRLs served meanwhile while still valid). Returns 0 or a build code. */
int crl_first_build(crl_t *c, struct crl_iss *is, int deferred, cairn_err_t *err);

#endif
