/* SPDX-License-Identifier: MIT */
/* The pre-signed OCSP response cache: its value codec, the due index, and the store path
 * (pre-signed, re-signed and live answers; the refresher thread is in refresh.c). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "ocsp/ocsp_int.h"

/* The layout in ocsp_int.h, field after field. */
_Static_assert(OCSP_CACHE_OFF_REVOKED_AT == OCSP_CACHE_OFF_REASON + 1, "cache layout");
_Static_assert(OCSP_CACHE_OFF_THIS_UPDATE == OCSP_CACHE_OFF_REVOKED_AT + 8, "cache layout");
_Static_assert(OCSP_CACHE_OFF_NEXT_UPDATE == OCSP_CACHE_OFF_THIS_UPDATE + 8, "cache layout");
_Static_assert(OCSP_CACHE_OFF_ETAG == OCSP_CACHE_OFF_NEXT_UPDATE + 8, "cache layout");
_Static_assert(OCSP_CACHE_OFF_SIGNER == OCSP_CACHE_OFF_ETAG + 8, "cache layout");
_Static_assert(OCSP_CACHE_HDR == OCSP_CACHE_OFF_SIGNER + 4, "cache layout");

/* ---- the codec ---- */

size_t ocsp_cache_key(uint8_t *key, const uint8_t *serial, size_t len, int alg)
{
	memcpy(key, serial, len);
	key[len] = (uint8_t)alg;
	return len + 1;
}

/* The status byte a cached answer for st carries. */
static uint8_t cache_status(const ocsp_state_t *st)
{
	return st->known ? (uint8_t)st->status : OCSP_CACHE_UNKNOWN;
}

static uint8_t cache_reason(const ocsp_state_t *st)
{
	return st->reason < 0 ? OCSP_NO_REASON : (uint8_t)st->reason;
}

int ocsp_cache_encode(const ocsp_state_t *st, time_t this_update, time_t next_update,
		      const uint8_t signer[4], const uint8_t *der, size_t len, ocsp_entry_t *e)
{
	uint8_t md[32];

	if ((e->val = malloc(OCSP_CACHE_HDR + len)) == NULL)
		return CAIRN_ENOMEM;
	e->vlen = OCSP_CACHE_HDR + len;
	e->val[OCSP_CACHE_OFF_VERSION] = OCSP_CACHE_VERSION;
	e->val[OCSP_CACHE_OFF_STATUS] = cache_status(st);
	e->val[OCSP_CACHE_OFF_REASON] = cache_reason(st);
	db_be64_put(e->val + OCSP_CACHE_OFF_REVOKED_AT, (uint64_t)st->revoked_at);
	db_be64_put(e->val + OCSP_CACHE_OFF_THIS_UPDATE, (uint64_t)this_update);
	db_be64_put(e->val + OCSP_CACHE_OFF_NEXT_UPDATE, (uint64_t)next_update);
	EVP_Digest(der, len, md, NULL, EVP_sha256(), NULL);
	memcpy(e->val + OCSP_CACHE_OFF_ETAG, md, 8);
	memcpy(e->val + OCSP_CACHE_OFF_SIGNER, signer, 4);
	memcpy(e->val + OCSP_CACHE_HDR, der, len);
	return 0;
}

/* 1 when tag (4 bytes) is the tag of issuer is's current responder (or, in a
 * responder-only process, which holds no responder, any). */
static int signer_is(const struct ocsp_iss *is, const uint8_t *tag)
{
	uint32_t t, cur = atomic_load(&is->signer_tag);

	memcpy(&t, tag, sizeof(t));
	return is->any_signer || t == cur;
}

int ocsp_cache_current(const ocsp_state_t *st, const uint8_t *v, size_t vlen, time_t now)
{
	return vlen > OCSP_CACHE_HDR && v[OCSP_CACHE_OFF_VERSION] == OCSP_CACHE_VERSION &&
	       v[OCSP_CACHE_OFF_STATUS] == cache_status(st) &&
	       v[OCSP_CACHE_OFF_REASON] == cache_reason(st) &&
	       (int64_t)db_be64_get(v + OCSP_CACHE_OFF_REVOKED_AT) == st->revoked_at &&
	       (int64_t)ocsp_cache_next_update(v) > (int64_t)now &&
	       !time_ahead((int64_t)ocsp_cache_this_update(v), (int64_t)now);
}

int ocsp_cache_matches(const struct ocsp_iss *is, const ocsp_state_t *st, const uint8_t *v,
		       size_t vlen, time_t now)
{
	return ocsp_cache_current(st, v, vlen, now) && signer_is(is, v + OCSP_CACHE_OFF_SIGNER);
}

int ocsp_cache_is_unknown(const uint8_t *v, size_t vlen)
{
	return vlen > OCSP_CACHE_HDR && v[OCSP_CACHE_OFF_STATUS] == OCSP_CACHE_UNKNOWN;
}

time_t ocsp_cache_this_update(const uint8_t *v)
{
	return (time_t)db_be64_get(v + OCSP_CACHE_OFF_THIS_UPDATE);
}

time_t ocsp_cache_next_update(const uint8_t *v)
{
	return (time_t)db_be64_get(v + OCSP_CACHE_OFF_NEXT_UPDATE);
}

const uint8_t *ocsp_cache_etag(const uint8_t *v)
{
	return v + OCSP_CACHE_OFF_ETAG;
}

const uint8_t *ocsp_cache_der(const uint8_t *v, size_t vlen, size_t *der_len)
{
	if (vlen <= OCSP_CACHE_HDR)
		return NULL;
	*der_len = vlen - OCSP_CACHE_HDR;
	return v + OCSP_CACHE_HDR;
}

/* ---- the due index (ocsp_int.h) ---- */


int64_t ocsp_resign_at(const ocsp_t *o, const uint8_t *key, size_t klen, int64_t this_update)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	int64_t window = o->validity / 8;
	size_t i;

	for (i = 0; i < klen; i++)
		h = (h ^ key[i]) * 16777619u;
	return this_update + o->validity / 2 - (window > 0 ? (int64_t)(h % (uint32_t)window) : 0);
}

int64_t ocsp_due_of(const ocsp_t *o, const uint8_t *key, size_t klen, const uint8_t *v,
		    size_t vlen)
{
	if (vlen < OCSP_CACHE_HDR)
		return 0;
	if (ocsp_cache_is_unknown(v, vlen) || key[klen - 1] != OCSP_ALG_SHA1)
		return (int64_t)db_be64_get(v + OCSP_CACHE_OFF_NEXT_UPDATE);
	return ocsp_resign_at(o, key, klen, (int64_t)db_be64_get(v + OCSP_CACHE_OFF_THIS_UPDATE));
}

size_t ocsp_due_key(uint8_t *out, int64_t when, const uint8_t *key, size_t klen)
{
	db_be64_put(out, (uint64_t)(when < 0 ? 0 : when));
	memcpy(out + 8, key, klen);
	return 8 + klen;
}

/* 1 when the stored answer old still says what v says (status, reason, revocation time,
 * signer), is not past its nextUpdate and not from the future: an answer the responder
 * serves as it is. */
static int still_fits(const uint8_t *old, size_t olen, const uint8_t *v, size_t vlen)
{
	int64_t now = (int64_t)time(NULL);

	return olen > OCSP_CACHE_HDR && vlen > OCSP_CACHE_HDR &&
	       memcmp(old + OCSP_CACHE_OFF_STATUS, v + OCSP_CACHE_OFF_STATUS,
		      OCSP_CACHE_OFF_THIS_UPDATE - OCSP_CACHE_OFF_STATUS) == 0 &&
	       memcmp(old + OCSP_CACHE_OFF_SIGNER, v + OCSP_CACHE_OFF_SIGNER, 4) == 0 &&
	       (int64_t)db_be64_get(old + OCSP_CACHE_OFF_NEXT_UPDATE) > now &&
	       !time_ahead((int64_t)ocsp_cache_this_update(old), now);
}

/* Keeps in DB_META the latest thisUpdate the cache holds (OCSP_LATEST_META), the mark by
 * which the refresher sees that the clock went back behind stored answers. */
static int latest_put(db_txn_t *txn, int64_t latest)
{
	const void *v;
	size_t vlen;
	uint8_t be[8];

	if (db_get(txn, DB_META, OCSP_LATEST_META, strlen(OCSP_LATEST_META), &v, &vlen) == 0 &&
	    vlen == 8 && (int64_t)db_be64_get(v) >= latest)
		return 0;
	db_be64_put(be, (uint64_t)latest);
	return db_put(txn, DB_META, OCSP_LATEST_META, strlen(OCSP_LATEST_META), be, 8, 0);
}

/* Puts the answer (key, v) and moves its due entry from the old answer's time. *unknowns
 * moves by the change in stored `unknown` answers. keep: a live answer, stored only where
 * no stored answer still fits (one committed while it was queued stays: the bytes served
 * do not change under a client, and no write is spent). An `unknown` answer never
 * replaces a certificate's good or revoked one: the key holds no issuer, so it could
 * only come from a question naming another CA, and responders serve what is stored. */
static int cache_put(db_txn_t *txn, const ocsp_t *o, const uint8_t *key, size_t klen,
		     const uint8_t *v, size_t vlen, int keep, long *unknowns)
{
	uint8_t dk[OCSP_DUE_KEY_MAX];
	const uint8_t *old;
	size_t olen;
	int rc;

	if (klen == 0 || klen > DB_SERIAL_MAX + 1)
		return CAIRN_EINVAL;
	if (db_get(txn, DB_OCSP, key, klen, (const void **)&old, &olen) == 0) {
		if ((keep && still_fits(old, olen, v, vlen)) ||
		    (ocsp_cache_is_unknown(v, vlen) && olen > OCSP_CACHE_HDR &&
		     !ocsp_cache_is_unknown(old, olen)))
			return 0;
		*unknowns -= ocsp_cache_is_unknown(old, olen);
		rc = db_del(txn, DB_OCSP_DUE, dk, ocsp_due_key(dk, ocsp_due_of(o, key, klen, old, olen), key, klen));
		if (rc != 0 && rc != CAIRN_ENOENT)
			return rc;
	}
	if ((rc = db_put(txn, DB_OCSP, key, klen, v, vlen, 0)) != 0)
		return rc;
	*unknowns += ocsp_cache_is_unknown(v, vlen);
	return db_put(txn, DB_OCSP_DUE, dk, ocsp_due_key(dk, ocsp_due_of(o, key, klen, v, vlen), key, klen),
		      NULL, 0, 0);
}

struct store_op {
	const ocsp_t *o;
	ocsp_entry_t *e;
	size_t n;
	int keep; /* live answers: see cache_put */
	long unknowns;
};

static int store_op_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct store_op *op = arg;
	size_t i;
	int64_t latest = 0, tu;
	int rc;

	op->unknowns = 0;
	for (i = 0; i < op->n; i++) {
		if ((rc = cache_put(txn, op->o, op->e[i].key, op->e[i].klen, op->e[i].val,
				    op->e[i].vlen, op->keep, &op->unknowns)) != 0)
			return cairn_err_set(err, rc, "storing an OCSP response: %s",
					     cairn_strerror(rc));
		if (op->e[i].vlen > OCSP_CACHE_HDR &&
		    (tu = (int64_t)ocsp_cache_this_update(op->e[i].val)) > latest)
			latest = tu;
	}
	if (latest > 0 && (rc = latest_put(txn, latest)) != 0)
		return cairn_err_set(err, rc, "storing an OCSP response: %s", cairn_strerror(rc));
	return 0;
}

int ocsp_store(ocsp_t *o, ocsp_entry_t *e, size_t n, int flags, cairn_err_t *err)
{
	struct store_op op = { o, e, n, (flags & OCSP_STORE_LIVE) != 0, 0 };
	int background = (flags & OCSP_STORE_BACKGROUND) != 0;
	size_t i;
	int rc = 0;

	if (n > 0) {
		atomic_fetch_add(&o->cache_writes, 1);
		rc = background ? db_write_background(o->db, store_op_run, &op, err)
				: db_write(o->db, store_op_run, &op, err);
	}
	for (i = 0; rc == 0 && o->pub != NULL && i < n; i++)
		if (e[i].key[e[i].klen - 1] == OCSP_ALG_SHA1)
			ocsp_pub_changed(o->pub, e[i].key, e[i].klen - 1);
	if (rc == 0 && op.unknowns != 0)
		atomic_fetch_add(&o->unknowns, (unsigned long)op.unknowns);
	for (i = 0; i < n; i++) {
		free(e[i].val);
		e[i].val = NULL;
	}
	return rc;
}

void ocsp_queue_store(ocsp_t *o, ocsp_entry_t *e)
{
	pthread_mutex_lock(&o->mu);
	if (o->started && !o->stopping && o->n_stores < OCSP_STORE_MAX) {
		if (o->stores == NULL) {
			o->stores = o->stores_spare != NULL
					    ? o->stores_spare
					    : malloc(OCSP_STORE_MAX * sizeof(*o->stores));
			o->stores_spare = NULL;
		}
		if (o->stores != NULL) {
			o->stores[o->n_stores++] = *e;
			e->val = NULL;
			pthread_cond_signal(&o->cv);
		}
	}
	pthread_mutex_unlock(&o->mu);
	free(e->val); /* not queued: the next scan signs it again */
	e->val = NULL;
}

/* Queues serial for the refresher; issued: a new certificate (see ocsp_issued). */
static void queue_changed(ocsp_t *o, const uint8_t *serial, size_t len, int issued)
{

	if (len == 0 || len > DB_SERIAL_MAX)
		return;
	pthread_mutex_lock(&o->mu);
	if (o->changed == NULL) {
		o->changed = o->changed_spare != NULL
				     ? o->changed_spare
				     : malloc(OCSP_QUEUE_MAX * sizeof(*o->changed));
		o->changed_spare = NULL;
	}
	/* Full: the periodic scan re-signs it (a stale answer is never served). */
	if (o->changed != NULL && o->n_changed < OCSP_QUEUE_MAX) {
		ocsp_state_t *st = &o->changed[o->n_changed++];
		memset(st, 0, sizeof(*st));
		memcpy(st->serial, serial, len);
		st->serial_len = len;
		st->issued = issued;
		pthread_cond_signal(&o->cv);
	}
	pthread_mutex_unlock(&o->mu);
}

void ocsp_changed(const char *issuer, const uint8_t *serial, size_t len, void *arg)
{
	(void)issuer;
	queue_changed(arg, serial, len, 0);
}

void ocsp_issued(const char *issuer, const uint8_t *serial, size_t len, void *arg)
{
	(void)issuer;
	queue_changed(arg, serial, len, 1);
}
