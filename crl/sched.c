/* SPDX-License-Identifier: MIT */
/* The CRL service: persisted CRL numbers, atomic publication, periodic and debounced rebuilds, serving. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crl/crl_int.h"

#define CRL_FILE_MAX (1u << 30)

/* One published CRL: the full one or the delta of an issuer (guarded by crl.mu). */
struct crl_slot {
	char *path;            /* publish_dir/NAME.crl or NAME-delta.crl */
	uint8_t *der;          /* current CRL */
	size_t len;
	int64_t this_update, next_update;
	uint64_t number;
	int dirty;             /* revocations since the last build */
	int64_t dirty_at;
	int64_t retry_at;      /* after a failed build: not before this time */
};

struct crl_iss {
	char name[32];
	X509 *cert;
	EVP_PKEY *key;
	char *freshest_url;    /* the delta's URL, when deltas are on */
	struct crl_slot full, delta;
};

struct crl {
	db_t *db;
	struct crl_iss iss[CRL_MAX_ISSUERS];
	_Atomic size_t n_iss;      /* slots below it are set up; crl_add_issuer appends */
	char *publish_dir, *base_url;
	int64_t period, overlap, debounce, delta_period;
	int keep_expired;
	pthread_mutex_t mu;        /* the current CRLs and the schedule */
	pthread_mutex_t build_mu;  /* one rebuild at a time */
	pthread_cond_t cv;
	pthread_t thread;
	int started, stopping;
};

static struct crl_iss *find(crl_t *c, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < c->n_iss; i++)
		if (strcmp(c->iss[i].name, name) == 0)
			return &c->iss[i];
	return NULL;
}

/* The slot a name means: "NAME" (full) or "NAME-delta" (when deltas are on). */
static struct crl_slot *find_slot(crl_t *c, const char *name, struct crl_iss **is)
{
	size_t n = name ? strlen(name) : 0;
	char base[40];

	*is = find(c, name);
	if (*is != NULL)
		return &(*is)->full;
	if (c->delta_period <= 0 || n <= 6 || n - 6 >= sizeof(base) ||
	    strcmp(name + n - 6, "-delta") != 0)
		return NULL;
	snprintf(base, sizeof(base), "%.*s", (int)(n - 6), name);
	*is = find(c, base);
	return *is ? &(*is)->delta : NULL;
}

static void meta_key(char *out, size_t cap, const char *issuer)
{
	snprintf(out, cap, "crl_number/%s", issuer);
}

struct number_op {
	const char *issuer;
	uint64_t number; /* out: the number just taken */
};

static int number_op_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct number_op *op = arg;
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

static uint64_t stored_number(crl_t *c, const char *issuer)
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
 * meta "crl_published/ISSUER": what a restart needs to adopt the full CRL it last
 * published without parsing it: SHA-256 of the file || SHA-256 of the issuer
 * certificate that signed it || number || thisUpdate || nextUpdate (BE64 each) ||
 * 1 if it names a delta CRL (Freshest CRL). Parsing and verifying a published CRL of
 * 1M entries costs ~2 s of CPU (d2i_X509_CRL builds an object per entry); hashing
 * its 49 MB ~0.1 s (docs/scaling.md).
 */
#define PUB_LEN (32 + 32 + 24 + 1)

struct pub_op {
	const char *issuer;
	uint8_t val[PUB_LEN];
};

static void pub_key(char *out, size_t cap, const char *issuer)
{
	snprintf(out, cap, "crl_published/%s", issuer);
}

static int pub_op_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct pub_op *op = arg;
	char key[80];
	(void)err;

	pub_key(key, sizeof(key), op->issuer);
	return db_put(txn, DB_META, key, strlen(key), op->val, sizeof(op->val), 0);
}

/* The record's hash of the issuer certificate. */
static int cert_sha256(X509 *cert, uint8_t out[32])
{
	unsigned int n = 0;

	return X509_digest(cert, EVP_sha256(), out, &n) == 1 && n == 32 ? 0 : -1;
}

/* Records the full CRL just published (best effort: without it a restart parses the file). */
static void record_published(crl_t *c, const struct crl_iss *is, const crl_params_t *p,
			     const uint8_t *der, size_t len)
{
	struct pub_op op = { is->name, { 0 } };

	if (cert_sha256(is->cert, op.val + 32) != 0 ||
	    EVP_Digest(der, len, op.val, NULL, EVP_sha256(), NULL) != 1) {
		ERR_clear_error();
		return;
	}
	db_be64_put(op.val + 64, p->number);
	db_be64_put(op.val + 72, (uint64_t)p->this_update);
	db_be64_put(op.val + 80, (uint64_t)p->next_update);
	op.val[88] = p->freshest_url != NULL;
	(void)!db_write(c->db, pub_op_run, &op, NULL);
}

/* 1 and the CRL's number and times when data is the file record_published described,
 * signed by is's current certificate; else 0 (the caller parses it). */
static int recorded_match(crl_t *c, const struct crl_iss *is, const char *data, size_t len,
			  uint64_t *number, int64_t *tu, int64_t *nu)
{
	uint8_t md[32], cd[32];
	const uint8_t *v;
	size_t vlen;
	db_txn_t *txn;
	char key[80];
	int ok = 0;

	pub_key(key, sizeof(key), is->name);
	if (EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL) != 1 ||
	    cert_sha256(is->cert, cd) != 0 || db_read_begin(c->db, &txn) != 0) {
		ERR_clear_error();
		return 0;
	}
	if (db_get(txn, DB_META, key, strlen(key), (const void **)&v, &vlen) == 0 &&
	    vlen == PUB_LEN && memcmp(v, md, 32) == 0 && memcmp(v + 32, cd, 32) == 0 &&
	    v[88] == (c->delta_period > 0)) {
		*number = db_be64_get(v + 64);
		*tu = (int64_t)db_be64_get(v + 72);
		*nu = (int64_t)db_be64_get(v + 80);
		ok = 1;
	}
	db_txn_end(txn);
	return ok;
}

int crl_rebuild(crl_t *c, const char *name, cairn_err_t *err)
{
	struct crl_iss *is = NULL;
	struct crl_slot *slot = find_slot(c, name, &is);
	struct number_op op = { NULL, 0 };
	crl_params_t p;
	db_txn_t *txn = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	int rc, delta;

	if (slot == NULL)
		return cairn_err_set(err, CAIRN_ENOENT, "no CRL named %s", name ? name : "");
	delta = slot == &is->delta;
	op.issuer = is->name;
	pthread_mutex_lock(&c->build_mu);
	memset(&p, 0, sizeof(p));
	pthread_mutex_lock(&c->mu);
	slot->dirty = 0; /* revocations from now on need another build */
	if (delta) {
		p.delta_base = is->full.number;
		p.delta_since = is->full.this_update;
	}
	pthread_mutex_unlock(&c->mu);
	/* Full and delta CRLs share one number sequence (RFC 5280 §5.2.3). */
	if ((rc = db_write(c->db, number_op_run, &op, err)) != 0)
		goto out;
	p.issuer = is->name;
	p.cert = is->cert;
	p.key = is->key;
	p.number = op.number;
	p.this_update = (int64_t)time(NULL);
	p.next_update = p.this_update + (delta ? 2 * c->delta_period : c->period + c->overlap);
	p.keep_expired = c->keep_expired;
	p.freshest_url = delta ? NULL : is->freshest_url;
	if (db_read_begin(c->db, &txn) != 0) {
		rc = cairn_err_set(err, CAIRN_EDB, "crl: cannot read the database");
		goto out;
	}
	rc = crl_build(txn, &p, &der, &len, NULL, err);
	db_txn_end(txn);
	if (rc != 0)
		goto out;
	if ((rc = fs_write_atomic(slot->path, der, len, 0644)) != 0) {
		cairn_err_set(err, rc, "crl: publishing %s: %s", slot->path, cairn_strerror(rc));
		goto out;
	}
	if (!delta)
		record_published(c, is, &p, der, len);
	pthread_mutex_lock(&c->mu);
	free(slot->der);
	slot->der = der;
	slot->len = len;
	slot->this_update = p.this_update;
	slot->next_update = p.next_update;
	slot->number = p.number;
	slot->retry_at = 0;
	if (!delta && c->delta_period > 0 && !is->delta.dirty) {
		/* A new base: the delta follows at once. */
		is->delta.dirty = 1;
		is->delta.dirty_at = p.this_update - c->debounce;
	}
	pthread_mutex_unlock(&c->mu);
	der = NULL;
out:
	pthread_mutex_unlock(&c->build_mu);
	free(der);
	return rc;
}

static int64_t asn1_unix(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

struct since {
	int64_t t, last;
	int changed;
};

static int since_cb(const db_revocation_t *r, void *arg)
{
	struct since *w = arg;

	if (r->revoked_at >= w->t)
		w->changed = 1;
	if (r->revoked_at > w->last)
		w->last = r->revoked_at;
	return 0;
}

struct last_op {
	const char *issuer;
	int64_t last;
};

static int last_op_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct last_op *op = arg;
	(void)err;
	return db_revoked_last_note(txn, op->issuer, op->last);
}

/* 1 when an entry of issuer's revoked index changed at or after t (or the read failed):
 * one read of the time the db keeps (db_revoked_last). A database made before it is
 * walked once, and the answer recorded so the next start reads it. */
static int changed_since(crl_t *c, const char *issuer, int64_t t)
{
	struct since w = { t, 0, 0 };
	struct last_op op = { issuer, 0 };
	cairn_err_t err = { 0 };
	db_txn_t *txn;
	int64_t last = 0;
	int rc;

	if (db_read_begin(c->db, &txn) != 0)
		return 1;
	if ((rc = db_revoked_last(txn, issuer, &last)) != CAIRN_ENOENT) {
		db_txn_end(txn);
		return rc != 0 || last >= t;
	}
	rc = db_revocations(txn, issuer, since_cb, &w);
	db_txn_end(txn);
	if (rc == 0 && w.last > 0) {
		op.last = w.last;
		if (db_write(c->db, last_op_run, &op, &err) != 0)
			log_warn("crl", "recording the last revocation of %s: %s", issuer,
				 cairn_err_msg(&err));
	}
	return rc < 0 || w.changed;
}

/* Adopts the published full CRL when it is ours, its number was taken from the
 * db's sequence, it is in the first half of its validity and nothing was revoked
 * (or released) since its thisUpdate: a restart then keeps serving it as is. */
static int adopt_published(crl_t *c, struct crl_iss *is)
{
	uint64_t want = stored_number(c, is->name);
	char *data = NULL;
	size_t len = 0;
	const unsigned char *p;
	X509_CRL *crl = NULL;
	ASN1_INTEGER *num = NULL;
	uint64_t have = 0;
	int64_t tu, nu, now = (int64_t)time(NULL);
	int ok = 0;

	if (want == 0 || fs_read(is->full.path, CRL_FILE_MAX, &data, &len) != 0)
		goto out;
	if (recorded_match(c, is, data, len, &have, &tu, &nu)) {
		if (have == 0 || have > want)
			goto out;
		goto times;
	}
	p = (const unsigned char *)data;
	if ((crl = d2i_X509_CRL(NULL, &p, (long)len)) == NULL ||
	    X509_CRL_verify(crl, X509_get0_pubkey(is->cert)) != 1 ||
	    (num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL)) == NULL ||
	    ASN1_INTEGER_get_uint64(&have, num) != 1 || have == 0 || have > want ||
	    X509_CRL_get_ext_by_NID(crl, NID_delta_crl, -1) >= 0 ||
	    (X509_CRL_get_ext_by_NID(crl, NID_freshest_crl, -1) >= 0) != (c->delta_period > 0))
		goto out;
	tu = asn1_unix(X509_CRL_get0_lastUpdate(crl));
	nu = asn1_unix(X509_CRL_get0_nextUpdate(crl));
times:
	if (tu == 0 || nu <= tu || now >= tu + (nu - tu) / 2 || changed_since(c, is->name, tu))
		goto out;
	is->full.der = (uint8_t *)data;
	is->full.len = len;
	is->full.this_update = tu;
	is->full.next_update = nu;
	is->full.number = have;
	data = NULL;
	ok = 1;
out:
	ERR_clear_error();
	ASN1_INTEGER_free(num);
	X509_CRL_free(crl);
	free(data);
	return ok;
}

/* Sets up the next issuer slot from ci, then counts it. One writer at a time (crl_open,
 * or crl_add_issuer under build_mu); the slot's CRL is built by the caller. */
static int iss_init(crl_t *c, const crl_issuer_t *ci, cairn_err_t *err)
{
	size_t i = atomic_load(&c->n_iss);
	struct crl_iss *is = &c->iss[i];
	char file[48];

	if (i == CRL_MAX_ISSUERS)
		return cairn_err_set(err, CAIRN_ECONFLICT, "crl: at most %d issuers", CRL_MAX_ISSUERS);
	if (ci->name == NULL || strlen(ci->name) >= sizeof(is->name) || ci->cert == NULL ||
	    ci->key == NULL || strchr(ci->name, '/') != NULL || find(c, ci->name) != NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "crl: issuer %zu incomplete or repeated", i);
	memset(is, 0, sizeof(*is));
	snprintf(is->name, sizeof(is->name), "%s", ci->name);
	snprintf(file, sizeof(file), "%s.crl", ci->name);
	if ((is->full.path = fs_join(c->publish_dir, file)) == NULL)
		goto nomem;
	if (c->delta_period > 0) {
		snprintf(file, sizeof(file), "%s-delta.crl", ci->name);
		if ((is->delta.path = fs_join(c->publish_dir, file)) == NULL ||
		    asprintf(&is->freshest_url, "%s/crl/%s", c->base_url, file) < 0) {
			is->freshest_url = NULL;
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
	free(is->full.path);
	free(is->delta.path);
	memset(is, 0, sizeof(*is));
	return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
}

/* The issuer's full CRL (and delta) as the service starts or the issuer is added: the
 * published one when it can be adopted, else built now. */
static int first_build(crl_t *c, struct crl_iss *is, cairn_err_t *err)
{
	char name[48];
	int rc;

	if (!adopt_published(c, is) && (rc = crl_rebuild(c, is->name, err)) != 0)
		return rc;
	snprintf(name, sizeof(name), "%s-delta", is->name);
	if (c->delta_period > 0 && (rc = crl_rebuild(c, name, err)) != 0)
		return rc;
	return 0;
}

int crl_add_issuer(crl_t *c, const crl_issuer_t *ci, cairn_err_t *err)
{
	int rc;

	pthread_mutex_lock(&c->build_mu); /* crl_rebuild takes it too: not recursive */
	rc = iss_init(c, ci, err);
	pthread_mutex_unlock(&c->build_mu);
	if (rc != 0)
		return rc;
	rc = first_build(c, &c->iss[atomic_load(&c->n_iss) - 1], err);
	pthread_mutex_lock(&c->mu);
	pthread_cond_signal(&c->cv); /* the scheduler learns of the new slot */
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int crl_open(const crl_config_t *cfg, crl_t **out, cairn_err_t *err)
{
	crl_t *c = NULL;
	size_t i;
	int rc;

	*out = NULL;
	if (cfg == NULL || cfg->db == NULL || cfg->n_issuers == 0 ||
	    cfg->n_issuers > CRL_MAX_ISSUERS || cfg->publish_dir == NULL || cfg->period < 60 ||
	    cfg->overlap < 0 || cfg->debounce < 0 || cfg->delta_period < 0 ||
	    (cfg->delta_period > 0 && cfg->base_url == NULL))
		return cairn_err_set(err, CAIRN_EINVAL,
				     "crl: need a db, issuers, a publish dir, period >= 60 s "
				     "(and a base URL for delta CRLs)");
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
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_REALTIME);
		pthread_cond_init(&c->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	if ((c->publish_dir = strdup(cfg->publish_dir)) == NULL ||
	    (cfg->base_url != NULL && (c->base_url = strdup(cfg->base_url)) == NULL))
		goto nomem;
	for (i = 0; i < cfg->n_issuers; i++)
		if ((rc = iss_init(c, &cfg->issuers[i], err)) != 0)
			goto out;
	for (i = 0; i < c->n_iss; i++)
		if ((rc = first_build(c, &c->iss[i], err)) != 0)
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

static void mark_dirty(struct crl_slot *slot, int64_t now)
{
	if (!slot->dirty) {
		slot->dirty = 1;
		slot->dirty_at = now;
	}
}

void crl_changed(const char *issuer, const uint8_t *serial, size_t len, void *arg)
{
	crl_t *c = arg;
	struct crl_iss *is = find(c, issuer);
	int64_t now = (int64_t)time(NULL);
	(void)serial;
	(void)len;

	if (is == NULL)
		return;
	/* With deltas, a revocation reaches relying parties through the next delta;
	 * the full CRL keeps its period. */
	pthread_mutex_lock(&c->mu);
	mark_dirty(c->delta_period > 0 ? &is->delta : &is->full, now);
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* How long before the served CRL's nextUpdate it is rebuilt at the latest: a tenth
 * of its validity, between one minute and one hour. */
static int64_t safety_margin(const struct crl_slot *slot)
{
	int64_t m = (slot->next_update - slot->this_update) / 10;

	return m < 60 ? 60 : m > 3600 ? 3600 : m;
}

/*
 * When a slot is due: its scheduled rebuild (thisUpdate + period), or earlier the
 * debounced one after revocations — but never later than the served CRL's own
 * nextUpdate minus the safety margin, whatever the period says now (a restart with a
 * longer crl.period adopts a CRL built under the shorter one), and at once when the
 * clock went back behind the served thisUpdate. A failed build waits for retry_at.
 */
static int64_t due(const struct crl_slot *slot, int64_t period, int64_t debounce, int64_t now)
{
	int64_t t = slot->this_update + period;

	if (slot->next_update > slot->this_update && slot->next_update - safety_margin(slot) < t)
		t = slot->next_update - safety_margin(slot);
	if (slot->dirty && slot->dirty_at + debounce < t)
		t = slot->dirty_at + debounce;
	if (slot->der != NULL && now + 60 < slot->this_update)
		t = now;
	return t < slot->retry_at ? slot->retry_at : t;
}

static void *sched_main(void *arg)
{
	crl_t *c = arg;
	cairn_err_t err;
	size_t i;

	pthread_mutex_lock(&c->mu);
	while (!c->stopping) {
		int64_t now = (int64_t)time(NULL), next = INT64_MAX;
		struct crl_slot *next_slot = NULL;
		char name[48] = "";

		for (i = 0; i < c->n_iss; i++) {
			struct crl_iss *is = &c->iss[i];
			int64_t d = due(&is->full, c->period, c->debounce, now);
			if (d <= now && next_slot == NULL) {
				next_slot = &is->full;
				snprintf(name, sizeof(name), "%s", is->name);
			}
			next = d < next ? d : next;
			if (c->delta_period <= 0)
				continue;
			d = due(&is->delta, c->delta_period, c->debounce, now);
			if (d <= now && next_slot == NULL) {
				next_slot = &is->delta;
				snprintf(name, sizeof(name), "%s-delta", is->name);
			}
			next = d < next ? d : next;
		}
		if (next_slot == NULL) {
			struct timespec ts = { .tv_sec = (time_t)next };
			pthread_cond_timedwait(&c->cv, &c->mu, &ts);
			continue;
		}
		pthread_mutex_unlock(&c->mu);
		memset(&err, 0, sizeof(err));
		if (crl_rebuild(c, name, &err) != 0) {
			log_error("crl", "rebuilding the %s CRL: %s", name, cairn_err_msg(&err));
			pthread_mutex_lock(&c->mu);
			/* Try again in a minute rather than spinning; the build is still owed. */
			next_slot->dirty = 1;
			next_slot->dirty_at = now - c->debounce;
			next_slot->retry_at = now + 60;
			continue;
		}
		log_info("crl", "published the %s CRL", name);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int crl_start(crl_t *c, cairn_err_t *err)
{
	int rc = pthread_create(&c->thread, NULL, sched_main, c);

	if (rc != 0)
		return cairn_err_set(err, CAIRN_EIO, "crl: cannot start the scheduler: %s", strerror(rc));
	c->started = 1;
	return 0;
}

static void slot_free(struct crl_slot *slot)
{
	free(slot->path);
	free(slot->der);
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
		free(c->iss[i].freshest_url);
		slot_free(&c->iss[i].full);
		slot_free(&c->iss[i].delta);
	}
	free(c->publish_dir);
	free(c->base_url);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->build_mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}

int crl_get(crl_t *c, const char *name, uint8_t **der, size_t *len, int64_t *this_update,
	    int64_t *next_update, uint64_t *number)
{
	struct crl_iss *is = NULL;
	struct crl_slot *slot = find_slot(c, name, &is);
	int rc = 0;

	if (slot == NULL)
		return CAIRN_ENOENT;
	pthread_mutex_lock(&c->mu);
	if (slot->der == NULL) {
		rc = CAIRN_ENOENT;
	} else if (der != NULL && (*der = malloc(slot->len)) == NULL) {
		rc = CAIRN_ENOMEM;
	} else {
		if (der != NULL)
			memcpy(*der, slot->der, slot->len);
		if (len)
			*len = slot->len;
		if (this_update)
			*this_update = slot->this_update;
		if (next_update)
			*next_update = slot->next_update;
		if (number)
			*number = slot->number;
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}
