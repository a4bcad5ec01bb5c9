/* SPDX-License-Identifier: MIT */
/* The CRL service: persisted CRL numbers, atomic publication, periodic and debounced rebuilds, serving. */
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

#define CRL_FILE_MAX (1u << 30)

/* One published CRL: the full one, the delta or a shard of an issuer (guarded by crl.mu). */
struct crl_slot {
	char name[48];         /* "NAME", "NAME-delta" or "NAME/S" (crl_get, logs) */
	int shard;             /* -1, or the shard this CRL lists */
	char *url;             /* a shard's: its IDP ({base}/crl/NAME/S.crl) */
	char *path;            /* publish_dir/NAME.crl, NAME-delta.crl or NAME/S.crl */
	char *tree_path;       /* tree_dir/crl/ and the same name, or NULL */
	uint8_t *der;          /* current CRL */
	size_t len;
	int64_t this_update, next_update;
	uint64_t number;
	int dirty;             /* revocations since the last build */
	int64_t dirty_at;
	int64_t retry_at;      /* after a failed build: not before this time */
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

static struct crl_iss *find(crl_t *c, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < c->n_iss; i++)
		if (strcmp(c->iss[i].name, name) == 0)
			return &c->iss[i];
	return NULL;
}

/* The shard slot "NAME/S" means (S in decimal, no leading zeros), or NULL. */
static struct crl_slot *find_shard(crl_t *c, const char *name, struct crl_iss **is)
{
	const char *sl = name ? strchr(name, '/') : NULL;
	char base[40], *end;
	unsigned long s;

	if (sl == NULL || (size_t)(sl - name) >= sizeof(base) || sl[1] < '0' || sl[1] > '9' ||
	    (sl[1] == '0' && sl[2] != '\0'))
		return NULL;
	s = strtoul(sl + 1, &end, 10);
	if (*end != '\0')
		return NULL;
	snprintf(base, sizeof(base), "%.*s", (int)(sl - name), name);
	*is = find(c, base);
	return *is != NULL && s < (*is)->n_shards ? &(*is)->shards[s] : NULL;
}

/* The slot a name means: "NAME" (full), "NAME-delta" (when deltas are on) or "NAME/S"
 * (a shard). */
static struct crl_slot *find_slot(crl_t *c, const char *name, struct crl_iss **is)
{
	size_t n = name ? strlen(name) : 0;
	char base[40];
	struct crl_slot *sh;

	*is = find(c, name);
	if (*is != NULL)
		return &(*is)->full;
	if ((sh = find_shard(c, name, is)) != NULL)
		return sh;
	*is = NULL;
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
 * meta "crl_published/ISSUER" (and "crl_published/ISSUER/S" for shard S): what a
 * restart needs to adopt the full (shard) CRL it last published without parsing it:
 * SHA-256 of the file || SHA-256 of the issuer certificate that signed it (for a
 * shard: SHA-256 of that and its IDP URL) || number || thisUpdate || nextUpdate (BE64 each) ||
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

/* The record's hash of the issuer certificate; for a shard CRL (url non-NULL), of that
 * hash and the IDP URL: a CRL published under another public URL is not adopted. */
static int cert_sha256(X509 *cert, const char *url, uint8_t out[32])
{
	unsigned int n = 0;
	EVP_MD_CTX *md;
	int ok;

	if (X509_digest(cert, EVP_sha256(), out, &n) != 1 || n != 32)
		return -1;
	if (url == NULL)
		return 0;
	md = EVP_MD_CTX_new();
	ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(md, out, 32) == 1 && EVP_DigestUpdate(md, url, strlen(url)) == 1 &&
	     EVP_DigestFinal_ex(md, out, NULL) == 1;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

/* The record of the full or shard CRL just published under key name, in *op (op->issuer
 * left NULL when it cannot be made). Written by the caller, best effort: without it a
 * restart parses a full CRL and rebuilds a shard. */
static void record_published(const struct crl_iss *is, const char *name,
			     const crl_params_t *p, const uint8_t *der, size_t len,
			     struct pub_op *op)
{
	if (cert_sha256(is->cert, p->idp_url, op->val + 32) != 0 ||
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
static int recorded_match(crl_t *c, const struct crl_iss *is, const char *name,
			  const char *idp_url, int freshest, const char *data, size_t len,
			  uint64_t *number, int64_t *tu, int64_t *nu)
{
	uint8_t md[32], cd[32];
	const uint8_t *v;
	size_t vlen;
	db_txn_t *txn;
	char key[80];
	int ok = 0;

	pub_key(key, sizeof(key), name);
	if (EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL) != 1 ||
	    cert_sha256(is->cert, idp_url, cd) != 0 || db_read_begin(c->db, &txn) != 0) {
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
static int slot_write(const struct crl_slot *slot, const uint8_t *der, size_t len, int64_t tu,
		      cairn_err_t *err)
{
	struct stat sb;
	int rc;

	if (slot->der != der && (rc = fs_write_atomic_ex(slot->path, der, len, 0644, 0, (time_t)tu)) != 0)
		return cairn_err_set(err, rc, "crl: publishing %s: %s", slot->path,
				     cairn_strerror(rc));
	if (slot->tree_path == NULL ||
	    (stat(slot->tree_path, &sb) == 0 && (size_t)sb.st_size == len && sb.st_mtime == tu))
		return 0;
	if ((rc = fs_write_atomic_ex(slot->tree_path, der, len, 0644, FS_MKDIRS, (time_t)tu)) != 0)
		return cairn_err_set(err, rc, "crl: publishing %s: %s", slot->tree_path,
				     cairn_strerror(rc));
	return 0;
}

/* The parts of one rebuild_slots call, allocated together. */
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
 * slot that failed is due again in a minute. Returns 0 or the first failure's code.
 */
static int rebuild_slots(crl_t *c, struct crl_iss *is, struct crl_slot *const *slots, size_t n,
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
		p->idp_url = slot->shard >= 0 ? slot->url : NULL;
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

		if ((r.rc[i] = slot_write(slots[i], r.der[i], r.len[i], now, rc == 0 ? err : &e)) != 0) {
			rc = rc != 0 ? rc : r.rc[i];
			continue;
		}
		if (slots[i] != &is->delta)
			record_published(is, r.nums[i].issuer, &r.ps[i], r.der[i], r.len[i], &r.pubs[i]);
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
		}
		pthread_mutex_unlock(&c->mu);
	}
	pthread_mutex_unlock(&c->build_mu);
	rebuild_free(&r, n);
	return rc;
}

/* Makes der (taken over) the slot's served CRL. interim: the previous start's, served
 * until the first build of this start replaces it. */
static void slot_serve(crl_t *c, struct crl_slot *slot, uint8_t *der, size_t len, int64_t tu,
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
	struct crl_slot *slot = find_slot(c, name, &is);

	if (slot == NULL)
		return cairn_err_set(err, CAIRN_ENOENT, "no CRL named %s", name ? name : "");
	return rebuild_slots(c, is, &slot, 1, err);
}

/* Rebuilds, in one walk, the shards of is for which adopted (may be NULL) says 0. */
static int rebuild_shards(crl_t *c, struct crl_iss *is, const uint8_t *adopted, cairn_err_t *err)
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
		rc = rebuild_slots(c, is, slots, n, err);
	free(slots);
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
	if (recorded_match(c, is, is->name, NULL, c->delta_period > 0, data, len, &have, &tu,
			   &nu)) {
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
	slot_serve(c, &is->full, (uint8_t *)data, len, tu, nu, have, 0);
	data = NULL;
	ok = 1;
out:
	ERR_clear_error();
	ASN1_INTEGER_free(num);
	X509_CRL_free(crl);
	free(data);
	return ok;
}

/* The issuer's certificate in the tree as the HTTP listener serves it: ca/NAME.crt, DER. */
static int tree_ca_cert(crl_t *c, const crl_issuer_t *ci)
{
	unsigned char *der = NULL;
	char *path = NULL;
	int n = i2d_X509(ci->cert, &der), rc = CAIRN_ENOMEM;

	if (n > 0 && asprintf(&path, "%s/ca/%s.crt", c->tree_dir, ci->name) >= 0)
		rc = fs_write_atomic_ex(path, der, (size_t)n, 0644, FS_MKDIRS, 0);
	else
		path = NULL;
	OPENSSL_free(der);
	free(path);
	ERR_clear_error();
	return rc;
}

struct latest {
	int64_t *t;  /* per shard: the latest change of one of its entries */
	unsigned n;
};

static int latest_cb(const db_revocation_t *r, void *arg)
{
	struct latest *w = arg;
	int s = util_serial_shard(r->serial, r->serial_len, NULL);

	if (s >= 0 && (unsigned)s < w->n && r->revoked_at > w->t[s])
		w->t[s] = r->revoked_at;
	return 0;
}

/* t[s] = when an entry of shard s last changed (0: never), for all of is's shards in one
 * walk of its revoked index; INT64_MAX everywhere when the walk fails. */
static void shard_latest(crl_t *c, const struct crl_iss *is, int64_t *t)
{
	struct latest w = { t, is->n_shards };
	db_txn_t *txn;
	unsigned s;
	int rc = -1;

	if (db_read_begin(c->db, &txn) == 0) {
		rc = db_revocations(txn, is->name, latest_cb, &w);
		db_txn_end(txn);
	}
	for (s = 0; rc != 0 && s < is->n_shards; s++)
		t[s] = INT64_MAX;
}

/* Adopts a published shard CRL on the same terms as adopt_published, from its record in
 * meta only (a shard without one is rebuilt: it is small). latest: when one of its
 * entries last changed. */
static int adopt_shard(crl_t *c, struct crl_iss *is, struct crl_slot *slot, int64_t latest)
{
	uint64_t want = stored_number(c, slot->name), have = 0;
	int64_t tu = 0, nu = 0, now = (int64_t)time(NULL);
	char *data = NULL;
	size_t len = 0;

	if (want == 0 || fs_read(slot->path, CRL_FILE_MAX, &data, &len) != 0 ||
	    !recorded_match(c, is, slot->name, slot->url, 0, data, len, &have, &tu, &nu) ||
	    have == 0 ||
	    have > want || tu == 0 || nu <= tu || now >= tu + (nu - tu) / 2 || latest >= tu) {
		free(data);
		return 0;
	}
	slot_serve(c, slot, (uint8_t *)data, len, tu, nu, have, 0);
	return 1;
}

/* While the first build of a deferred start runs: the CRL published before it, when the
 * db's record says it is ours and it is not within a minute of its nextUpdate — a valid
 * CRL, if not the newest, is better than none. An expired one is never served. */
static void serve_previous(crl_t *c, struct crl_iss *is, struct crl_slot *slot)
{
	uint64_t have = 0;
	int64_t tu = 0, nu = 0, now = (int64_t)time(NULL);
	char *data = NULL;
	size_t len = 0;

	if (fs_read(slot->path, CRL_FILE_MAX, &data, &len) != 0 ||
	    !recorded_match(c, is, slot == &is->full ? is->name : slot->name,
			    slot->shard >= 0 ? slot->url : NULL,
			    slot == &is->full && c->delta_period > 0, data, len, &have, &tu, &nu) ||
	    have == 0 || tu == 0 || now + 60 >= nu) {
		free(data);
		return;
	}
	slot_serve(c, slot, (uint8_t *)data, len, tu, nu, have, 1);
}

/* Names, file and URL of slot: NAME plus suffix ("", "-delta" or "/S"). */
static int slot_init(crl_t *c, struct crl_slot *slot, const char *name, const char *suffix,
		     int shard)
{
	char file[64];

	snprintf(slot->name, sizeof(slot->name), "%s%s", name, suffix);
	slot->shard = shard;
	snprintf(file, sizeof(file), "%s.crl", slot->name);
	if ((slot->path = fs_join(c->publish_dir, file)) == NULL)
		return CAIRN_ENOMEM;
	if (shard >= 0 && asprintf(&slot->url, "%s/crl/%s", c->base_url, file) < 0) {
		slot->url = NULL;
		return CAIRN_ENOMEM;
	}
	if (c->tree_dir != NULL && asprintf(&slot->tree_path, "%s/crl/%s", c->tree_dir, file) < 0) {
		slot->tree_path = NULL;
		return CAIRN_ENOMEM;
	}
	return 0;
}

static void slot_free(struct crl_slot *slot)
{
	free(slot->path);
	free(slot->tree_path);
	free(slot->url);
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
	    ci->key == NULL || strchr(ci->name, '/') != NULL || find(c, ci->name) != NULL)
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
	if (c->tree_dir != NULL && tree_ca_cert(c, ci) != 0) {
		rc = cairn_err_set(err, CAIRN_EIO, "crl: cannot write %s/ca/%s.crt", c->tree_dir,
				   ci->name);
		goto fail;
	}
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
 * when deferred, the others serve their previous CRL meanwhile (serve_previous).
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
	shard_latest(c, is, latest);
	for (s = 0; s < is->n_shards; s++) {
		(*adopted)[s] = (uint8_t)adopt_shard(c, is, &is->shards[s], latest[s]);
		if (!(*adopted)[s] && deferred)
			serve_previous(c, is, &is->shards[s]);
	}
	free(latest);
	return 0;
}

/* The issuer's full CRL, delta and shards as the service starts or the issuer is added:
 * each published one that can be adopted, the others built now (the shards in one walk).
 * deferred (the scheduler's first builds, the listeners already answering): before any
 * build, every CRL that is not adopted serves the one published before the start while
 * it is still valid. */
static int first_build(crl_t *c, struct crl_iss *is, int deferred, cairn_err_t *err)
{
	uint8_t *adopted = NULL;
	char name[48];
	int full = adopt_published(c, is), rc = 0;

	if (!full && deferred)
		serve_previous(c, is, &is->full);
	if (is->n_shards > 0 && (rc = adopt_shards(c, is, deferred, &adopted, err)) != 0)
		return rc;
	if (full)
		rc = slot_write(&is->full, is->full.der, is->full.len, is->full.this_update, err);
	else
		rc = crl_rebuild(c, is->name, err);
	snprintf(name, sizeof(name), "%s-delta", is->name);
	if (rc == 0 && c->delta_period > 0)
		rc = crl_rebuild(c, name, err);
	if (rc == 0 && is->n_shards > 0)
		rc = rebuild_shards(c, is, adopted, err); /* the others, in one walk */
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
	rc = first_build(c, &c->iss[atomic_load(&c->n_iss) - 1], 0, err);
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
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_REALTIME);
		pthread_cond_init(&c->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
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
	for (i = 0; i < cfg->n_issuers; i++)
		if ((rc = iss_init(c, &cfg->issuers[i], err)) != 0)
			goto out;
	if (revoked_entries(c) > CRL_INLINE_MAX)
		c->deferred = 1; /* the scheduler's first job (crl_start) */
	for (i = 0; !c->deferred && i < c->n_iss; i++)
		if ((rc = first_build(c, &c->iss[i], 0, err)) != 0)
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
	int shard;

	if (is == NULL)
		return;
	/* With deltas, a revocation reaches relying parties through the next delta;
	 * the full CRL keeps its period. */
	pthread_mutex_lock(&c->mu);
	mark_dirty(c->delta_period > 0 ? &is->delta : &is->full, now);
	/* Of the shards, only the one the serial names (certificates from before
	 * sharding name none: the full CRL covers them). */
	if ((shard = util_serial_shard(serial, len, NULL)) >= 0 && (unsigned)shard < is->n_shards)
		mark_dirty(&is->shards[shard], now);
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* How long before the served CRL's nextUpdate it is rebuilt at the latest: a tenth
 * of its validity, between one minute and one hour, but never more than half of it (a
 * CRL valid for a minute would otherwise be due the moment it is built, and be rebuilt
 * without pause). */
static int64_t safety_margin(const struct crl_slot *slot)
{
	int64_t validity = slot->next_update - slot->this_update;
	int64_t m = validity / 10;

	m = m < 60 ? 60 : m > 3600 ? 3600 : m;
	return m > validity / 2 ? validity / 2 : m;
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

/* Folds slot into the scheduler's pass: *next = the earliest due time, *first = the
 * first slot due now. c->mu held. */
static void consider(struct crl_slot *slot, int64_t period, const crl_t *c, int64_t now,
		     int64_t *next, struct crl_slot **first)
{
	int64_t d = due(slot, period, c->debounce, now);

	if (d <= now && *first == NULL)
		*first = slot;
	if (d < *next)
		*next = d;
}

/* The slots of is due now that one walk can build with first (an issuer's due slot):
 * its full CRL or delta and its due shards. The delta of a full CRL in the same set
 * follows it (its base is that new full CRL). At most 2 + n_shards into out. c->mu held. */
static size_t due_set(const crl_t *c, struct crl_iss *is, struct crl_slot *first, int64_t now,
		      struct crl_slot **out)
{
	size_t n = 0;
	unsigned s;
	int full = due(&is->full, c->period, c->debounce, now) <= now;

	if (full)
		out[n++] = &is->full;
	else if (c->delta_period > 0 && due(&is->delta, c->delta_period, c->debounce, now) <= now)
		out[n++] = &is->delta;
	for (s = 0; s < is->n_shards; s++)
		if (due(&is->shards[s], c->period, c->debounce, now) <= now)
			out[n++] = &is->shards[s];
	if (n == 0)
		out[n++] = first;
	return n;
}

/* A deferred start's first builds, issuer by issuer, in the scheduler thread. A failed one
 * leaves its CRLs without one: the scheduler's loop retries them (due at once, then a
 * minute apart). */
static void first_builds(crl_t *c)
{
	size_t i, n = atomic_load(&c->n_iss); /* crl_add_issuer builds later ones itself */
	struct timespec t0, t1;
	cairn_err_t err;

	for (i = 0; i < n; i++) {
		pthread_mutex_lock(&c->mu);
		if (c->stopping) {
			pthread_mutex_unlock(&c->mu);
			return;
		}
		pthread_mutex_unlock(&c->mu);
		memset(&err, 0, sizeof(err));
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (first_build(c, &c->iss[i], 1, &err) != 0) {
			log_error("crl", "first CRLs of %s: %s (retried by the scheduler)",
				  c->iss[i].name, cairn_err_msg(&err));
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		log_info("crl", "built the first CRLs of %s since the start (%ld ms)", c->iss[i].name,
			 (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
	}
}

/* What a crash left beside the CRL files (crl.publish_dir) and in their tree (crl.publish,
 * when it is not ocsp.publish's, which ocsp/prune.c walks too): the temporaries of dead
 * processes, nothing else (util/pubtree.c). Before the scheduler writes anything; a few
 * entries per issuer, so it holds nothing up. */
static void prune_strays(const crl_t *c)
{
	const char *dirs[2] = { c->publish_dir, c->tree_dir };
	cairn_err_t err;
	uint64_t n;
	int i;

	for (i = 0; i < 2; i++) {
		if (dirs[i] == NULL)
			continue;
		memset(&err, 0, sizeof(err));
		if (pubtree_prune(dirs[i], i == 0 ? PUBTREE_CRL_DIR : PUBTREE_TREE, NULL, NULL, &n,
				  &err) != 0)
			log_warn("crl", "%s", cairn_err_msg(&err));
		else if (n > 0 || i == 1)
			log_info("crl", "%s: %lu stray temporaries removed", dirs[i], (unsigned long)n);
	}
}

static void *sched_main(void *arg)
{
	crl_t *c = arg;
	cairn_err_t err;
	size_t i;

	prune_strays(c);
	if (c->deferred)
		first_builds(c);
	pthread_mutex_lock(&c->mu);
	while (!c->stopping) {
		int64_t now = (int64_t)time(NULL), next = INT64_MAX;
		struct crl_slot *next_slot = NULL, *set[2 + UTIL_SHARDS_MAX];
		struct crl_iss *next_is = NULL;
		char name[80] = "";
		size_t n;

		for (i = 0; i < c->n_iss; i++) {
			struct crl_iss *is = &c->iss[i];
			unsigned s;
			struct crl_slot *was = next_slot;

			consider(&is->full, c->period, c, now, &next, &next_slot);
			if (c->delta_period > 0)
				consider(&is->delta, c->delta_period, c, now, &next, &next_slot);
			for (s = 0; s < is->n_shards; s++)
				consider(&is->shards[s], c->period, c, now, &next, &next_slot);
			if (next_slot != was)
				next_is = is;
		}
		if (next_slot == NULL) {
			struct timespec ts = { .tv_sec = (time_t)next };
			pthread_cond_timedwait(&c->cv, &c->mu, &ts);
			continue;
		}
		/* Everything of that issuer due now, in one walk of its revoked index. */
		n = due_set(c, next_is, next_slot, now, set);
		if (n == 1)
			snprintf(name, sizeof(name), "the %s CRL", set[0]->name);
		else
			snprintf(name, sizeof(name), "%zu CRLs of %s (one walk)", n, next_is->name);
		pthread_mutex_unlock(&c->mu);
		memset(&err, 0, sizeof(err));
		if (rebuild_slots(c, next_is, set, n, &err) != 0) {
			/* rebuild_slots made the failed ones due again in a minute. */
			log_error("crl", "rebuilding %s: %s", name, cairn_err_msg(&err));
			pthread_mutex_lock(&c->mu);
			continue;
		}
		log_info("crl", "published %s", name);
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
	free(c->tree_dir);
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
		rc = CAIRN_EAGAIN;
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

size_t crl_pending(crl_t *c, void (*fn)(const char *name, const char *state, void *arg),
		   void *arg)
{
	size_t i, n = 0;
	unsigned k;

	pthread_mutex_lock(&c->mu);
	for (i = 0; i < c->n_iss; i++) {
		struct crl_iss *is = &c->iss[i];
		struct crl_slot *slots[2] = { &is->full, c->delta_period > 0 ? &is->delta : NULL };
		for (k = 0; k < 2 + is->n_shards; k++) {
			struct crl_slot *slot = k < 2 ? slots[k] : &is->shards[k - 2];
			if (slot == NULL || (slot->der != NULL && !slot->interim))
				continue;
			n++;
			if (fn != NULL)
				fn(slot->name, slot->der != NULL ? "previous"
					       : slot->retry_at != 0 ? "failed" : "building", arg);
		}
	}
	pthread_mutex_unlock(&c->mu);
	return n;
}
