/* SPDX-License-Identifier: MIT */
/* Persisted CRL numbers and publication records, atomic writes of the files, and rebuilds of a set of CRLs in one walk. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crl/crl_int.h"

static void meta_key(char *out, size_t cap, const char *issuer)
{
	snprintf(out, cap, "crl_number/%s", issuer);
}

struct number_op {
	const char *issuer;
	uint64_t number; /* out: the number just taken */
	size_t n;        /* number_op_run: this op and the n - 1 after it, in one txn */
};

static int number_take(db_txn_t *txn, struct number_op *op, cairn_err_t *err)
{
	char key[64];
	const void *v;
	size_t vlen;
	uint8_t buf[8];
	int rc;

	meta_key(key, sizeof(key), op->issuer);
	op->number = 1;
	rc = db_get(txn, DB_META, key, strlen(key), &v, &vlen);
	if (rc == 0 && vlen == 8)
		op->number = db_be64_get(v) + 1;
	else if (rc != CAIRN_ENOENT)
		return cairn_err_set(err, CAIRN_EDB, "crl: bad %s in meta", key);
	db_be64_put(buf, op->number);
	return db_put(txn, DB_META, key, strlen(key), buf, sizeof(buf), 0);
}

static int number_op_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct number_op *op = arg;
	size_t i, n = op->n;
	int rc = 0;

	for (i = 0; rc == 0 && i < n; i++)
		rc = number_take(txn, &op[i], err);
	return rc;
}

uint64_t crl_stored_number(crl_t *c, const char *issuer)
{
	db_txn_t *txn;
	char key[64];
	const void *v;
	size_t vlen;
	uint64_t n = 0;

	meta_key(key, sizeof(key), issuer);
	if (db_read_begin(c->db, &txn) != 0)
		return 0;
	if (db_get(txn, DB_META, key, strlen(key), &v, &vlen) == 0 && vlen == 8)
		n = db_be64_get(v);
	db_txn_end(txn);
	return n;
}

/*
 * meta "crl_published/ISSUER" (and "crl_published/ISSUER/S" for shard S): what a
 * restart needs to adopt the full (shard) CRL it last published without parsing it:
 * SHA-256 of the file || SHA-256 of the issuer certificate that signed it (for a
 * shard: SHA-256 of that and its IDP URLs) || number || thisUpdate || nextUpdate (BE64 each) ||
 * 1 if it names a delta CRL (Freshest CRL). Parsing and verifying a published CRL of
 * 1M entries costs ~2 s of CPU (d2i_X509_CRL builds an object per entry); hashing
 * its 49 MB ~0.1 s (docs/scaling.md).
 */
#define PUB_LEN (32 + 32 + 24 + 1)

struct pub_op {
	const char *issuer;      /* NULL: nothing to record */
	uint8_t val[PUB_LEN];
	size_t n;                /* pub_op_run: this op and the n - 1 after it, in one txn */
};

static void pub_key(char *out, size_t cap, const char *issuer)
{
	snprintf(out, cap, "crl_published/%s", issuer);
}

static int pub_op_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct pub_op *op = arg;
	char key[80];
	size_t i, n = op->n;
	int rc = 0;
	(void)err;

	for (i = 0; rc == 0 && i < n; i++) {
		if (op[i].issuer == NULL)
			continue;
		pub_key(key, sizeof(key), op[i].issuer);
		rc = db_put(txn, DB_META, key, strlen(key), op[i].val, sizeof(op[i].val), 0);
	}
	return rc;
}

/* The record's hash of the issuer certificate; for a shard CRL (n_urls > 0), of that
 * hash and the IDP URLs, each NUL-terminated: a CRL published under another public URL,
 * or before one was added, is not adopted. */
static int cert_sha256(X509 *cert, const char *const *urls, size_t n_urls, uint8_t out[32])
{
	unsigned int n = 0;
	EVP_MD_CTX *md;
	size_t i;
	int ok;

	if (X509_digest(cert, EVP_sha256(), out, &n) != 1 || n != 32)
		return -1;
	if (n_urls == 0)
		return 0;
	md = EVP_MD_CTX_new();
	ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(md, out, 32) == 1;
	for (i = 0; ok && i < n_urls; i++)
		ok = EVP_DigestUpdate(md, urls[i], strlen(urls[i]) + 1) == 1;
	ok = ok && EVP_DigestFinal_ex(md, out, NULL) == 1;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

/* The record of the full or shard CRL just published under key name, in *op (op->issuer
 * left NULL when it cannot be made). Written by the caller, best effort: without it a
 * restart parses a full CRL and rebuilds a shard. */
static void record_published(const struct crl_iss *is, const char *name,
			     const struct crl_slot *slot, const crl_params_t *p,
			     const uint8_t *der, size_t len, struct pub_op *op)
{
	if (cert_sha256(is->cert, (const char *const *)slot->urls,
			slot->shard >= 0 ? slot->n_urls : 0, op->val + 32) != 0 ||
	    EVP_Digest(der, len, op->val, NULL, EVP_sha256(), NULL) != 1) {
		ERR_clear_error();
		return;
	}
	db_be64_put(op->val + 64, p->number);
	db_be64_put(op->val + 72, (uint64_t)p->this_update);
	db_be64_put(op->val + 80, (uint64_t)p->next_update);
	op->val[88] = p->freshest_url != NULL;
	op->issuer = name;
}

/* 1 and the CRL's number and times when data is the file record_published described
 * under name, signed by is's current certificate, with a Freshest CRL extension or
 * not as freshest says; else 0 (the caller parses it). */
int crl_recorded_match(crl_t *c, const struct crl_iss *is, const char *name,
		       char *const *idp_urls, size_t n_urls, int freshest, const char *data,
		       size_t len, uint64_t *number, int64_t *tu, int64_t *nu)
{
	uint8_t md[32], cd[32];
	const uint8_t *v;
	size_t vlen;
	db_txn_t *txn;
	char key[80];
	int ok = 0;

	pub_key(key, sizeof(key), name);
	if (EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL) != 1 ||
	    cert_sha256(is->cert, (const char *const *)idp_urls, n_urls, cd) != 0 ||
	    db_read_begin(c->db, &txn) != 0) {
		ERR_clear_error();
		return 0;
	}
	if (db_get(txn, DB_META, key, strlen(key), (const void **)&v, &vlen) == 0 &&
	    vlen == PUB_LEN && memcmp(v, md, 32) == 0 && memcmp(v + 32, cd, 32) == 0 &&
	    v[88] == (freshest != 0)) {
		*number = db_be64_get(v + 64);
		*tu = (int64_t)db_be64_get(v + 72);
		*nu = (int64_t)db_be64_get(v + 80);
		ok = 1;
	}
	db_txn_end(txn);
	return ok;
}

/* Writes a CRL to the slot's file and its copy in the tree (when set), each atomically
 * with thisUpdate as modification time (a web server's Last-Modified). The copy is
 * skipped when the tree already holds it (same size and time: a restart's adopted CRL). */
int crl_slot_write(const struct crl_slot *slot, const uint8_t *der, size_t len, int64_t tu,
	       cairn_err_t *err)
{
	int rc;

	if (slot->der != der && (rc = fs_write_atomic_ex(slot->path, der, len, 0644, 0, (time_t)tu)) != 0)
		return cairn_err_set(err, rc, "crl: publishing %s: %s", slot->path,
				     cairn_strerror(rc));
	if (slot->tree_rel != NULL &&
	    (rc = pubtree_write(slot->tree_root, slot->tree_rel, der, len, PUBTREE_KEEP_SAME,
				(time_t)tu, NULL, err)) != 0)
		return rc; /* err names the path */
	return 0;
}

/* The parts of one crl_rebuild_slots call, allocated together. */
struct rebuild {
	struct number_op *nums;
	crl_params_t *ps;
	const crl_params_t **pp;
	uint8_t **der;
	size_t *len;
	struct pub_op *pubs;
	int *rc;
};

static void rebuild_free(struct rebuild *r, size_t n)
{
	size_t i;

	for (i = 0; r->der != NULL && i < n; i++)
		free(r->der[i]);
	free(r->nums);
	free(r->ps);
	free(r->pp);
	free(r->der);
	free(r->len);
	free(r->pubs);
	free(r->rc);
}

/*
 * Rebuilds the n CRLs slots (of issuer is: its full CRL or delta, and any of its shards)
 * in ONE walk of its revoked index (crl_build_set): their next CRL numbers are committed
 * first in one db_write (numbers never repeat, even after a crash), then the CRLs are
 * built, each written atomically to its file (and the tree) with its thisUpdate as
 * modification time and served, and their records committed in one more db_write. A
 * slot that failed (a full disk: its file cannot be written) keeps serving what it
 * served, is named by crl_failing, and is due again in a minute. Returns 0 or the first
 * failure's code.
 */
int crl_rebuild_slots(crl_t *c, struct crl_iss *is, struct crl_slot *const *slots, size_t n,
		  cairn_err_t *err)
{
	struct rebuild r = { 0 };
	db_txn_t *txn = NULL;
	int64_t now = (int64_t)time(NULL);
	size_t i;
	int rc = 0, delta;

	if ((r.nums = calloc(n, sizeof(*r.nums))) == NULL || (r.ps = calloc(n, sizeof(*r.ps))) == NULL ||
	    (r.pp = calloc(n, sizeof(*r.pp))) == NULL || (r.der = calloc(n, sizeof(*r.der))) == NULL ||
	    (r.len = calloc(n, sizeof(*r.len))) == NULL ||
	    (r.pubs = calloc(n, sizeof(*r.pubs))) == NULL || (r.rc = calloc(n, sizeof(*r.rc))) == NULL) {
		rebuild_free(&r, n);
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&c->build_mu);
	pthread_mutex_lock(&c->mu);
	for (i = 0; i < n; i++) {
		crl_params_t *p = &r.ps[i];
		const struct crl_slot *slot = slots[i];

		slots[i]->dirty = 0; /* revocations from now on need another build */
		delta = slot == &is->delta;
		if (delta) {
			p->delta_base = is->full.number;
			p->delta_since = is->full.this_update;
		}
		/* Full and delta CRLs share one number sequence (RFC 5280 §5.2.3); a shard is a
		 * scope of its own (its IDP) with its own sequence. */
		r.nums[i].issuer = slot->shard >= 0 ? slot->name : is->name;
		p->issuer = is->name;
		p->cert = is->cert;
		p->key = is->key;
		p->this_update = now;
		p->next_update = now + (delta ? 2 * c->delta_period : c->period + c->overlap);
		p->keep_expired = c->keep_expired;
		p->freshest_url = delta || slot->shard >= 0 ? NULL : is->freshest_url;
		if (slot->shard >= 0) {
			p->idp_url = slot->urls[0];
			p->idp_more = (const char *const *)slot->urls + 1;
			p->n_idp_more = slot->n_urls - 1;
		}
		p->shard = slot->shard;
		r.pp[i] = p;
	}
	pthread_mutex_unlock(&c->mu);
	r.nums[0].n = n;
	if ((rc = db_write(c->db, number_op_run, r.nums, err)) != 0)
		goto out;
	for (i = 0; i < n; i++)
		r.ps[i].number = r.nums[i].number;
	if (db_read_begin(c->db, &txn) != 0) {
		rc = cairn_err_set(err, CAIRN_EDB, "crl: cannot read the database");
		goto out;
	}
	rc = crl_build_set(txn, r.pp, n, r.der, r.len, NULL, err);
	db_txn_end(txn);
	if (rc != 0)
		goto out;
	for (i = 0; i < n; i++) {
		cairn_err_t e = { 0 };

		if ((r.rc[i] = crl_slot_write(slots[i], r.der[i], r.len[i], now, rc == 0 ? err : &e)) != 0) {
			rc = rc != 0 ? rc : r.rc[i];
			continue;
		}
		if (slots[i] != &is->delta)
			record_published(is, r.nums[i].issuer, slots[i], &r.ps[i], r.der[i], r.len[i],
					 &r.pubs[i]);
	}
	r.pubs[0].n = n;
	(void)!db_write(c->db, pub_op_run, r.pubs, NULL);
	pthread_mutex_lock(&c->mu);
	for (i = 0; i < n; i++) {
		struct crl_slot *slot = slots[i];

		if (r.rc[i] != 0)
			continue;
		r.rc[i] = 1; /* served */
		free(slot->der);
		slot->der = r.der[i];
		r.der[i] = NULL;
		slot->len = r.len[i];
		slot->this_update = now;
		slot->next_update = r.ps[i].next_update;
		slot->number = r.ps[i].number;
		slot->retry_at = 0;
		slot->failing_since = 0;
		slot->interim = 0;
		if (slot == &is->full && c->delta_period > 0 && !is->delta.dirty) {
			/* A new base: the delta follows at once. */
			is->delta.dirty = 1;
			is->delta.dirty_at = now - c->debounce;
		}
	}
	pthread_mutex_unlock(&c->mu);
out:
	if (rc != 0) {
		/* Try again in a minute rather than spinning; the builds are still owed. */
		pthread_mutex_lock(&c->mu);
		for (i = 0; i < n; i++) {
			if (r.rc[i] == 1)
				continue; /* served above */
			slots[i]->dirty = 1;
			slots[i]->dirty_at = now - c->debounce;
			slots[i]->retry_at = now + 60;
			if (slots[i]->failing_since == 0)
				slots[i]->failing_since = now;
		}
		pthread_mutex_unlock(&c->mu);
	}
	pthread_mutex_unlock(&c->build_mu);
	rebuild_free(&r, n);
	return rc;
}

/* Makes der (taken over) the slot's served CRL. interim: the previous start's, served
 * until the first build of this start replaces it. */
void crl_slot_serve(crl_t *c, struct crl_slot *slot, uint8_t *der, size_t len, int64_t tu,
		int64_t nu, uint64_t number, int interim)
{
	pthread_mutex_lock(&c->mu);
	free(slot->der);
	slot->der = der;
	slot->len = len;
	slot->this_update = tu;
	slot->next_update = nu;
	slot->number = number;
	slot->interim = interim;
	pthread_mutex_unlock(&c->mu);
}

int crl_rebuild(crl_t *c, const char *name, cairn_err_t *err)
{
	struct crl_iss *is = NULL;
	struct crl_slot *slot = crl_find_slot(c, name, &is);

	if (slot == NULL)
		return cairn_err_set(err, CAIRN_ENOENT, "no CRL named %s", name ? name : "");
	return crl_rebuild_slots(c, is, &slot, 1, err);
}

/* Rebuilds, in one walk, the shards of is for which adopted (may be NULL) says 0. */
int crl_rebuild_shards(crl_t *c, struct crl_iss *is, const uint8_t *adopted, cairn_err_t *err)
{
	struct crl_slot **slots = calloc(is->n_shards ? is->n_shards : 1, sizeof(*slots));
	size_t n = 0;
	unsigned s;
	int rc = 0;

	if (slots == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	for (s = 0; s < is->n_shards; s++)
		if (adopted == NULL || !adopted[s])
			slots[n++] = &is->shards[s];
	if (n > 0)
		rc = crl_rebuild_slots(c, is, slots, n, err);
	free(slots);
	return rc;
}
