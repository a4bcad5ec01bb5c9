/* SPDX-License-Identifier: MIT */
/* The CRL service's life cycle: issuers and their slots, the first builds (inline or left to the scheduler), open and free. */
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

static int slot_init(crl_t *c, struct crl_slot *slot, const char *name, const char *suffix,
		     int shard)
{
	char file[64];

	snprintf(slot->name, sizeof(slot->name), "%s%s", name, suffix);
	slot->shard = shard;
	snprintf(file, sizeof(file), "%s.crl", slot->name);
	if ((slot->path = fs_join(c->publish_dir, file)) == NULL)
		return CAIRN_ENOMEM;
	if (shard >= 0) {
		if ((slot->urls = calloc(c->n_bases, sizeof(*slot->urls))) == NULL)
			return CAIRN_ENOMEM;
		for (; slot->n_urls < c->n_bases; slot->n_urls++)
			if (asprintf(&slot->urls[slot->n_urls], "%s/crl/%s", c->bases[slot->n_urls],
				     file) < 0) {
				slot->urls[slot->n_urls] = NULL;
				return CAIRN_ENOMEM;
			}
	}
	if (c->tree_dir != NULL && asprintf(&slot->tree_rel, "crl/%s", file) < 0) {
		slot->tree_rel = NULL;
		return CAIRN_ENOMEM;
	}
	slot->tree_root = c->tree_dir;
	return 0;
}

static void strings_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

static void slot_free(struct crl_slot *slot)
{
	free(slot->path);
	free(slot->tree_rel);
	strings_free(slot->urls, slot->n_urls);
	free(slot->der);
}

/* Frees what an issuer slot holds but its certificate and key, and zeroes it. */
static void iss_clear(struct crl_iss *is)
{
	unsigned s;

	free(is->freshest_url);
	slot_free(&is->full);
	slot_free(&is->delta);
	for (s = 0; s < is->n_shards; s++)
		slot_free(&is->shards[s]);
	free(is->shards);
	memset(is, 0, sizeof(*is));
}

/* Sets up the next issuer slot from ci, then counts it. One writer at a time (crl_open,
 * or crl_add_issuer under build_mu); the slot's CRL is built by the caller. */
static int iss_init(crl_t *c, const crl_issuer_t *ci, cairn_err_t *err)
{
	size_t i = atomic_load(&c->n_iss);
	struct crl_iss *is = &c->iss[i];
	char file[48];
	int rc = CAIRN_ENOMEM;

	if (i == CRL_MAX_ISSUERS)
		return cairn_err_set(err, CAIRN_ECONFLICT, "crl: at most %d issuers", CRL_MAX_ISSUERS);
	if (ci->name == NULL || strlen(ci->name) >= sizeof(is->name) || ci->cert == NULL ||
	    ci->key == NULL || strchr(ci->name, '/') != NULL || crl_find_issuer(c, ci->name) != NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "crl: issuer %zu incomplete or repeated", i);
	memset(is, 0, sizeof(*is));
	snprintf(is->name, sizeof(is->name), "%s", ci->name);
	if (slot_init(c, &is->full, ci->name, "", -1) != 0)
		goto nomem;
	if (c->delta_period > 0) {
		snprintf(file, sizeof(file), "%s-delta.crl", ci->name);
		if (slot_init(c, &is->delta, ci->name, "-delta", -1) != 0 ||
		    asprintf(&is->freshest_url, "%s/crl/%s", c->base_url, file) < 0) {
			is->freshest_url = NULL;
			goto nomem;
		}
	}
	if (c->tree_dir != NULL && (rc = crl_tree_ca_cert(c, ci, err)) != 0)
		goto fail;
	if (ci->sharded && c->shards >= 2) {
		char *dir = fs_join(c->publish_dir, ci->name);
		unsigned s;

		rc = dir == NULL ? CAIRN_ENOMEM : fs_mkdirs(dir, 0755);
		free(dir);
		if (rc != 0) {
			cairn_err_set(err, rc, "crl: shard directory for %s: %s", ci->name,
				      cairn_strerror(rc));
			goto fail;
		}
		rc = CAIRN_ENOMEM;
		if ((is->shards = calloc(c->shards, sizeof(*is->shards))) == NULL)
			goto nomem;
		is->n_shards = c->shards;
		for (s = 0; s < c->shards; s++) {
			char sfx[16];
			snprintf(sfx, sizeof(sfx), "/%u", s);
			if (slot_init(c, &is->shards[s], ci->name, sfx, (int)s) != 0)
				goto nomem;
		}
	}
	X509_up_ref(ci->cert);
	is->cert = ci->cert;
	EVP_PKEY_up_ref(ci->key);
	is->key = ci->key;
	pthread_mutex_lock(&c->mu);
	atomic_store(&c->n_iss, i + 1);
	pthread_mutex_unlock(&c->mu);
	return 0;
nomem:
	cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
fail:
	iss_clear(is);
	return rc;
}

/* The issuer's shard CRLs as the service starts: adopted[s] set for each adopted because
 * nothing of its own changed (one walk of the revoked index says when each last changed);
 * when deferred, the others serve their previous CRL meanwhile (crl_serve_previous).
 * *adopted is malloc'd (caller frees). */
static int adopt_shards(crl_t *c, struct crl_iss *is, int deferred, uint8_t **adopted,
			cairn_err_t *err)
{
	int64_t *latest = calloc(is->n_shards, sizeof(*latest));
	unsigned s;

	*adopted = calloc(is->n_shards, 1);
	if (latest == NULL || *adopted == NULL) {
		free(latest);
		free(*adopted);
		*adopted = NULL;
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	}
	crl_shard_latest(c, is, latest);
	for (s = 0; s < is->n_shards; s++) {
		(*adopted)[s] = (uint8_t)crl_adopt_shard(c, is, &is->shards[s], latest[s]);
		if (!(*adopted)[s] && deferred)
			crl_serve_previous(c, is, &is->shards[s]);
	}
	free(latest);
	return 0;
}

/* The issuer's full CRL, delta and shards as the service starts or the issuer is added:
 * each published one that can be adopted, the others built now (the shards in one walk).
 * deferred (the scheduler's first builds, the listeners already answering): before any
 * build, every CRL that is not adopted serves the one published before the start while
 * it is still valid. */
int crl_first_build(crl_t *c, struct crl_iss *is, int deferred, cairn_err_t *err)
{
	uint8_t *adopted = NULL;
	char name[48];
	int full = crl_adopt_published(c, is), rc = 0;

	if (!full && deferred)
		crl_serve_previous(c, is, &is->full);
	if (is->n_shards > 0 && (rc = adopt_shards(c, is, deferred, &adopted, err)) != 0)
		return rc;
	if (full)
		rc = crl_slot_write(&is->full, is->full.der, is->full.len, is->full.this_update, err);
	else
		rc = crl_rebuild(c, is->name, err);
	snprintf(name, sizeof(name), "%s-delta", is->name);
	if (rc == 0 && c->delta_period > 0)
		rc = crl_rebuild(c, name, err);
	if (rc == 0 && is->n_shards > 0)
		rc = crl_rebuild_shards(c, is, adopted, err); /* the others, in one walk */
	free(adopted);
	return rc;
}

int crl_add_issuer(crl_t *c, const crl_issuer_t *ci, cairn_err_t *err)
{
	int rc;

	pthread_mutex_lock(&c->build_mu); /* crl_rebuild takes it too: not recursive */
	rc = iss_init(c, ci, err);
	pthread_mutex_unlock(&c->build_mu);
	if (rc != 0)
		return rc;
	rc = crl_first_build(c, &c->iss[atomic_load(&c->n_iss) - 1], 0, err);
	pthread_mutex_lock(&c->mu);
	pthread_cond_signal(&c->cv); /* the scheduler learns of the new slot */
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/* DB_META "crl_shards": the largest crl.shards ever in force (one byte). */
#define SHARDS_META "crl_shards"

struct shards_op {
	unsigned want, n; /* in: configured; out: served */
};

static int shards_op_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct shards_op *op = arg;
	const void *v;
	size_t vlen;
	uint8_t b;
	int rc = db_get(txn, DB_META, SHARDS_META, strlen(SHARDS_META), &v, &vlen);

	if (rc != 0 && rc != CAIRN_ENOENT)
		return rc;
	if (rc == 0 && vlen != 1)
		return cairn_err_set(err, CAIRN_EDB, "crl: bad %s in meta", SHARDS_META);
	op->n = rc == 0 ? *(const uint8_t *)v : 0;
	if (op->want < 2 || op->want <= op->n)
		return 0;
	op->n = op->want;
	b = (uint8_t)op->n;
	return db_put(txn, DB_META, SHARDS_META, strlen(SHARDS_META), &b, 1, 0);
}

/* c->shards = the larger of want (crl.shards) and every earlier value, which is stored:
 * a certificate issued under a larger count names a shard that must stay served. */
static int shards_in_force(crl_t *c, unsigned want, cairn_err_t *err)
{
	struct shards_op op = { 0, 0 };
	db_txn_t *txn;
	int rc;

	/* Read first: a start-up that changes nothing writes nothing. */
	if (db_read_begin(c->db, &txn) != 0)
		return cairn_err_set(err, CAIRN_EDB, "crl: cannot read the database");
	rc = shards_op_run(txn, &op, err);
	db_txn_end(txn);
	if (rc != 0)
		return rc;
	if (want >= 2 && want > op.n) {
		op.want = want;
		if ((rc = db_write(c->db, shards_op_run, &op, err)) != 0)
			return rc;
	}
	c->shards = op.n >= 2 ? op.n : 0;
	return 0;
}

/* DB_META "crl_bases": the base URLs shard CRLs were published under, newest first, each
 * NUL-terminated. A certificate names its shard under the base in force when it was
 * issued, so the shard's IDP keeps naming it there (RFC 5280 §6.3.3 (b)(2)(i)). */
#define BASES_META "crl_bases"

static int bases_put(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	const crl_t *c = arg;
	size_t i, len = 0;
	char *buf, *q;
	int rc;
	(void)err;

	for (i = 0; i < c->n_bases; i++)
		len += strlen(c->bases[i]) + 1;
	if ((q = buf = malloc(len)) == NULL)
		return CAIRN_ENOMEM;
	for (i = 0; i < c->n_bases; i++)
		q = stpcpy(q, c->bases[i]) + 1;
	rc = db_put(txn, DB_META, BASES_META, strlen(BASES_META), buf, len, 0);
	free(buf);
	return rc;
}

/* c->bases = c->base_url, then the bases stored before it (CRL_MAX_BASES in all at most:
 * the oldest leave first); stored again when that changed the list. */
static int bases_in_force(crl_t *c, cairn_err_t *err)
{
	db_txn_t *txn;
	const char *v = NULL;
	size_t vlen = 0, off;
	int rc, same;

	if ((c->bases = calloc(CRL_MAX_BASES, sizeof(*c->bases))) == NULL ||
	    (c->bases[0] = strdup(c->base_url)) == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	c->n_bases = 1;
	if (db_read_begin(c->db, &txn) != 0)
		return cairn_err_set(err, CAIRN_EDB, "crl: cannot read the database");
	rc = db_get(txn, DB_META, BASES_META, strlen(BASES_META), (const void **)&v, &vlen);
	if (rc == CAIRN_ENOENT)
		vlen = 0, rc = 0;
	else if (rc == 0 && (vlen == 0 || v[vlen - 1] != '\0'))
		rc = cairn_err_set(err, CAIRN_EDB, "crl: bad %s in meta", BASES_META);
	same = vlen > 0 && strcmp(v, c->base_url) == 0;
	for (off = 0; rc == 0 && off < vlen; off += strlen(v + off) + 1) {
		if (strcmp(v + off, c->base_url) == 0 || c->n_bases == CRL_MAX_BASES)
			continue;
		if ((c->bases[c->n_bases] = strdup(v + off)) == NULL)
			rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		else
			c->n_bases++;
	}
	db_txn_end(txn);
	if (rc != 0 || same)
		return rc; /* a start-up that changes nothing writes nothing */
	return db_write(c->db, bases_put, c, err);
}

/* Entries of the revoked index, every issuer's (O(1): the table's entry count). */
static size_t revoked_entries(crl_t *c)
{
	db_txn_t *txn;
	size_t n;

	if (db_read_begin(c->db, &txn) != 0)
		return SIZE_MAX;
	n = db_count(txn, DB_REVOKED);
	db_txn_end(txn);
	return n;
}

int crl_open(const crl_config_t *cfg, crl_t **out, cairn_err_t *err)
{
	crl_t *c = NULL;
	size_t i, blen;
	int rc;

	*out = NULL;
	if (cfg == NULL || cfg->db == NULL || cfg->n_issuers == 0 ||
	    cfg->n_issuers > CRL_MAX_ISSUERS || cfg->publish_dir == NULL || cfg->period < 60 ||
	    cfg->overlap < 0 || cfg->debounce < 0 || cfg->delta_period < 0 ||
	    cfg->shards > UTIL_SHARDS_MAX ||
	    ((cfg->delta_period > 0 || cfg->shards >= 2) && cfg->base_url == NULL))
		return cairn_err_set(err, CAIRN_EINVAL,
				     "crl: need a db, issuers, a publish dir, period >= 60 s, "
				     "at most %d shards (and a base URL for delta or shard CRLs)",
				     UTIL_SHARDS_MAX);
	if ((rc = fs_mkdirs(cfg->publish_dir, 0755)) != 0)
		return cairn_err_set(err, rc, "crl: publish dir %s: %s", cfg->publish_dir,
				     cairn_strerror(rc));
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	c->db = cfg->db;
	c->period = cfg->period;
	c->overlap = cfg->overlap;
	c->debounce = cfg->debounce;
	c->delta_period = cfg->delta_period;
	c->keep_expired = cfg->keep_expired;
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->build_mu, NULL);
	time_mono_cond_init(&c->cv); /* time_wait_until */
	/* The URLs must be byte for byte those ca/ writes: no trailing slash. */
	for (blen = cfg->base_url ? strlen(cfg->base_url) : 0;
	     blen > 0 && cfg->base_url[blen - 1] == '/'; blen--)
		;
	if ((c->publish_dir = strdup(cfg->publish_dir)) == NULL ||
	    (cfg->tree_dir != NULL && (c->tree_dir = strdup(cfg->tree_dir)) == NULL) ||
	    (cfg->base_url != NULL && (c->base_url = strndup(cfg->base_url, blen)) == NULL))
		goto nomem;
	if ((rc = shards_in_force(c, cfg->shards, err)) != 0)
		goto out;
	if (c->shards > 0 && c->base_url == NULL) {
		rc = cairn_err_set(err, CAIRN_EINVAL, "crl: shard CRLs need a base URL");
		goto out;
	}
	if (c->shards > 0 && (rc = bases_in_force(c, err)) != 0)
		goto out;
	for (i = 0; i < cfg->n_issuers; i++)
		if ((rc = iss_init(c, &cfg->issuers[i], err)) != 0)
			goto out;
	if (revoked_entries(c) > CRL_INLINE_MAX)
		c->deferred = 1; /* the scheduler's first job (crl_start) */
	for (i = 0; !c->deferred && i < c->n_iss; i++)
		if ((rc = crl_first_build(c, &c->iss[i], 0, err)) != 0)
			goto out;
	*out = c;
	c = NULL;
	rc = 0;
	goto out;
nomem:
	rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
out:
	crl_free(c);
	return rc;
}

void crl_free(crl_t *c)
{
	size_t i;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->stopping = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (c->started)
		pthread_join(c->thread, NULL);
	for (i = 0; i < c->n_iss; i++) {
		X509_free(c->iss[i].cert);
		EVP_PKEY_free(c->iss[i].key);
		iss_clear(&c->iss[i]);
	}
	free(c->publish_dir);
	free(c->base_url);
	strings_free(c->bases, c->n_bases);
	free(c->tree_dir);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->build_mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}
