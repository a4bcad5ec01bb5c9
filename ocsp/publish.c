/* SPDX-License-Identifier: MIT */
/* The published tree: every current pre-signed OCSP answer as a file named by its RFC 5019 GET path, for any web server or CDN. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "ocsp/ocsp_int.h"

#define PUB_BATCH 1024          /* answers per read txn during a pass */
#define PUB_QUEUE_MAX 65536     /* serials queued; beyond, the next flush is a full pass */

struct pub_iss {
	char name[32];
	X509 *cert;
};

struct ocsp_pub {
	db_t *db;
	char *dir;
	int dirfd;                  /* for syncfs */
	int64_t delay;
	struct pub_iss iss[OCSP_MAX_ISSUERS];
	_Atomic size_t n_iss;       /* slots below it are complete and never change */
	pthread_mutex_t add_mu;     /* one ocsp_pub_add_issuer at a time */

	pthread_mutex_t mu;         /* the queue and the thread's state */
	pthread_cond_t cv;
	pthread_t thread, prune_thread;
	int started, prune_started, stopping;
	int full;                   /* a whole pass is owed (start-up, queue overflow) */
	ocsp_state_t *queue;        /* serials only */
	size_t n_queue;
	uint64_t first_at;          /* when the oldest queued serial came (time_mono_ms) */

	pthread_mutex_t st_mu;
	ocsp_pub_stats_t total;
};

int ocsp_pub_names(X509 *issuer, const uint8_t *serial, size_t len, char *get, char *hash,
		   uint8_t **der, size_t *der_len)
{
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;
	OCSP_CERTID *cid = NULL;
	OCSP_REQUEST *req = NULL;
	unsigned char *buf = NULL, md[32];
	char b64[OCSP_PUB_PATH_MAX], hex[65];
	size_t i, o;
	int n, rc = CAIRN_ECRYPTO;

	if (issuer == NULL || len == 0 || len > DB_SERIAL_MAX)
		return CAIRN_EINVAL;
	/* What `openssl ocsp -no_nonce`, browsers and RFC 5019 clients send: one CertID with
	 * SHA-1 hashes of the issuer's name and key, nothing else. */
	if ((bn = BN_bin2bn(serial, (int)len, NULL)) == NULL ||
	    (ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    (cid = OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(issuer),
				    X509_get0_pubkey_bitstr(issuer), ai)) == NULL ||
	    (req = OCSP_REQUEST_new()) == NULL || OCSP_request_add0_id(req, cid) == NULL)
		goto out;
	cid = NULL; /* the request owns it */
	if ((n = i2d_OCSP_REQUEST(req, &buf)) <= 0 || (size_t)n > (OCSP_PUB_PATH_MAX - 32) / 4 * 3)
		goto out;
	EVP_EncodeBlock((unsigned char *)b64, buf, n);
	/* '/' separates directories; "//" is one separator to the file system and to nginx
	 * (merge_slashes), so it is written as one; a trailing '/' names the directory's
	 * index file. Base64 of DER starts with 'M' (0x30), never with '/'. */
	o = (size_t)snprintf(get, OCSP_PUB_PATH_MAX, "ocsp/");
	for (i = 0; b64[i] != '\0'; i++)
		if (b64[i] != '/' || get[o - 1] != '/')
			get[o++] = b64[i];
	get[o] = '\0';
	if (get[o - 1] == '/')
		snprintf(get + o, OCSP_PUB_PATH_MAX - o, "%s", OCSP_PUB_INDEX);
	if (EVP_Digest(buf, (size_t)n, md, NULL, EVP_sha256(), NULL) != 1)
		goto out;
	hex_encode(md, sizeof(md), hex);
	snprintf(hash, OCSP_PUB_PATH_MAX, "ocsp/sha256/%.2s/%s", hex, hex);
	if (der != NULL) {
		rc = CAIRN_ENOMEM;
		if ((*der = malloc((size_t)n)) == NULL)
			goto out;
		memcpy(*der, buf, (size_t)n);
		*der_len = (size_t)n;
	}
	rc = 0;
out:
	if (rc != 0)
		ERR_clear_error();
	OPENSSL_free(buf);
	OCSP_REQUEST_free(req);
	OCSP_CERTID_free(cid);
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return rc;
}

int ocsp_pub_new(db_t *db, const char *dir, int64_t delay, ocsp_pub_t **out, cairn_err_t *err)
{
	ocsp_pub_t *p;
	int rc;

	*out = NULL;
	if (db == NULL || dir == NULL || dir[0] != '/' || delay < 0)
		return cairn_err_set(err, CAIRN_EINVAL, "ocsp: publishing needs a db and an absolute "
				     "directory");
	if ((rc = fs_mkdirs(dir, 0755)) != 0)
		return cairn_err_set(err, rc, "ocsp: publish dir %s: %s", dir, cairn_strerror(rc));
	if ((p = calloc(1, sizeof(*p))) == NULL || (p->dir = strdup(dir)) == NULL) {
		free(p);
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	}
	if ((p->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = cairn_err_set(err, CAIRN_EIO, "ocsp: publish dir %s: %s", dir, strerror(errno));
		free(p->dir);
		free(p);
		return rc;
	}
	p->db = db;
	p->delay = delay;
	p->full = 1;
	pthread_mutex_init(&p->add_mu, NULL);
	pthread_mutex_init(&p->mu, NULL);
	pthread_mutex_init(&p->st_mu, NULL);
	/* The delay is measured on the monotonic clock: a wall clock set back does not
	 * stretch it. */
	time_mono_cond_init(&p->cv);
	*out = p;
	return 0;
}

int ocsp_pub_add_issuer(ocsp_pub_t *p, const char *name, X509 *cert)
{
	size_t i;
	int rc = 0;

	if (name == NULL || cert == NULL || strlen(name) >= sizeof(p->iss[0].name))
		return CAIRN_EINVAL;
	pthread_mutex_lock(&p->add_mu);
	i = atomic_load(&p->n_iss);
	if (i == OCSP_MAX_ISSUERS) {
		rc = CAIRN_ECONFLICT;
	} else {
		snprintf(p->iss[i].name, sizeof(p->iss[i].name), "%s", name);
		X509_up_ref(cert);
		p->iss[i].cert = cert;
		atomic_store(&p->n_iss, i + 1);
	}
	pthread_mutex_unlock(&p->add_mu);
	return rc;
}

static X509 *pub_issuer(ocsp_pub_t *p, const char *name)
{
	size_t i, n = atomic_load(&p->n_iss);

	for (i = 0; i < n; i++)
		if (strcmp(p->iss[i].name, name) == 0)
			return p->iss[i].cert;
	return NULL;
}

/* The counters of one pass or flush and its first file failure (err.code 0: none). */
struct pub_run {
	ocsp_pub_stats_t st;
	cairn_err_t first;
};

/* Writes data to the relative path rel under the tree unless a file of that size and
 * modification time is there already; *wrote says which. 0 or a code, the first
 * failure of the pass described in st->first (one log line names it). */
static int put_file(ocsp_pub_t *p, const char *rel, const uint8_t *data, size_t len, time_t mtime,
		    int *wrote, struct pub_run *st)
{
	return pubtree_write(p->dir, rel, data, len, FS_NO_SYNC | PUBTREE_KEEP_SAME, mtime, wrote,
			     st->first.code == 0 ? &st->first : NULL);
}

static void drop_file(ocsp_pub_t *p, const char *rel, struct pub_run *st)
{
	int rc = pubtree_unlink(p->dir, rel, st->first.code == 0 ? &st->first : NULL);

	if (rc == 0)
		st->st.removed++;
	else if (rc != CAIRN_ENOENT)
		st->st.failed++;
}

/*
 * Publishes what the cache holds for serial (its record c, read in txn): the answer when
 * it is fresh and signed for the certificate's current status; the files removed once
 * the certificate has expired; else nothing (the refresher is about to re-sign it, and
 * the answer in the tree stays valid until its own nextUpdate).
 */
static void publish_one(ocsp_pub_t *p, db_txn_t *txn, const db_cert_t *c, time_t now,
			struct pub_run *run)
{
	char get[OCSP_PUB_PATH_MAX], hash[OCSP_PUB_PATH_MAX];
	uint8_t key[DB_SERIAL_MAX + 1];
	X509 *issuer = pub_issuer(p, c->issuer);
	ocsp_state_t state;
	const uint8_t *v;
	size_t vlen, der_len;
	time_t tu;
	int a, b, wa, wb;

	if (issuer == NULL ||
	    ocsp_pub_names(issuer, c->serial, c->serial_len, get, hash, NULL, NULL) != 0) {
		run->st.skipped++;
		return;
	}
	if (c->not_after <= (int64_t)now) {
		drop_file(p, get, run);
		drop_file(p, hash, run);
		return;
	}
	ocsp_state_of(txn, c->issuer, c->serial, c->serial_len, &state);
	if (db_get(txn, DB_OCSP, key, ocsp_cache_key(key, c->serial, c->serial_len, OCSP_ALG_SHA1),
		   (const void **)&v, &vlen) != 0 ||
	    !ocsp_cache_current(&state, v, vlen, now)) {
		run->st.skipped++;
		return;
	}
	tu = (time_t)db_be64_get(v + 11);
	der_len = vlen - OCSP_CACHE_HDR;
	a = put_file(p, get, v + OCSP_CACHE_HDR, der_len, tu, &wa, run);
	b = put_file(p, hash, v + OCSP_CACHE_HDR, der_len, tu, &wb, run);
	if (a != 0 || b != 0)
		run->st.failed++;
	else if (wa + wb > 0)
		run->st.written++;
	else
		run->st.unchanged++;
}

static void stats_add(ocsp_pub_t *p, const ocsp_pub_stats_t *st)
{
	pthread_mutex_lock(&p->st_mu);
	p->total.written += st->written;
	p->total.unchanged += st->unchanged;
	p->total.removed += st->removed;
	p->total.skipped += st->skipped;
	p->total.failed += st->failed;
	pthread_mutex_unlock(&p->st_mu);
}

void ocsp_pub_stats(ocsp_pub_t *p, ocsp_pub_stats_t *st)
{
	pthread_mutex_lock(&p->st_mu);
	*st = p->total;
	pthread_mutex_unlock(&p->st_mu);
}

/* One pass over the ocsp table: where to go on, what was done. */
struct pass {
	ocsp_pub_t *p;
	db_txn_t *txn;
	time_t now;
	struct pub_run run;
	db_walk_t walk;
	size_t n;
};

static int pass_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct pass *w = arg;
	const uint8_t *k = key;
	db_cert_t c;
	(void)val;
	(void)vlen;

	/* The tree holds SHA-1 CertIDs only (RFC 5019 §2.1.1); unknown serials never. */
	if (k[klen - 1] != OCSP_ALG_SHA1 || db_cert_get(w->txn, key, klen - 1, &c) != 0)
		return 0;
	publish_one(w->p, w->txn, &c, w->now, &w->run);
	return ++w->n == PUB_BATCH ? 1 : 0;
}

static int stopping(ocsp_pub_t *p)
{
	int s;

	pthread_mutex_lock(&p->mu);
	s = p->stopping;
	pthread_mutex_unlock(&p->mu);
	return s;
}

int ocsp_pub_all(ocsp_pub_t *p, ocsp_pub_stats_t *st, cairn_err_t *err)
{
	struct pass *w = calloc(1, sizeof(*w));
	int rc = 0, more;

	if (w == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	w->p = p;
	w->walk = OCSP_CACHE_WALK;
	w->now = time(NULL);
	do {
		w->n = 0;
		if (db_read_begin(p->db, &w->txn) != 0) {
			rc = cairn_err_set(err, CAIRN_EDB, "ocsp: cannot read the database");
			break;
		}
		more = db_walk_batch(w->txn, DB_OCSP, &w->walk, pass_cb, w);
		db_txn_end(w->txn);
		if (more < 0)
			rc = cairn_err_set(err, more, "ocsp: reading the cache: %s", cairn_strerror(more));
	} while (rc == 0 && more == 1 && !stopping(p));
	if (syncfs(p->dirfd) != 0 && rc == 0)
		rc = cairn_err_set(err, CAIRN_EIO, "ocsp: syncing %s: %s", p->dir, strerror(errno));
	if (rc == 0 && w->run.st.failed > 0)
		rc = cairn_err_set(err, w->run.first.code ? w->run.first.code : CAIRN_EIO,
				   "ocsp: %lu answers could not be written under %s: %s",
				   (unsigned long)w->run.st.failed, p->dir, cairn_err_msg(&w->run.first));
	stats_add(p, &w->run.st);
	if (st != NULL)
		*st = w->run.st;
	free(w);
	return rc;
}

/* Publishes the queued serials, PUB_BATCH per read txn, then one syncfs. */
static void flush(ocsp_pub_t *p, const ocsp_state_t *q, size_t n)
{
	struct pub_run run = { { 0 }, { 0 } };
	time_t now = time(NULL);
	size_t i = 0, end;
	db_txn_t *txn;
	db_cert_t c;

	while (i < n) {
		if (db_read_begin(p->db, &txn) != 0) {
			log_error("ocsp", "publishing: cannot read the database");
			return;
		}
		for (end = i + PUB_BATCH < n ? i + PUB_BATCH : n; i < end; i++)
			if (db_cert_get(txn, q[i].serial, q[i].serial_len, &c) == 0)
				publish_one(p, txn, &c, now, &run);
		db_txn_end(txn);
	}
	if (syncfs(p->dirfd) != 0)
		log_warn("ocsp", "publishing: syncing %s: %s", p->dir, strerror(errno));
	if (run.st.failed > 0)
		log_error("ocsp", "publishing: %lu answers could not be written under %s: %s",
			  (unsigned long)run.st.failed, p->dir, cairn_err_msg(&run.first));
	stats_add(p, &run.st);
}

void ocsp_pub_changed(ocsp_pub_t *p, const uint8_t *serial, size_t len)
{
	if (p == NULL || len == 0 || len > DB_SERIAL_MAX)
		return;
	pthread_mutex_lock(&p->mu);
	if (p->n_queue == 0 && !p->full)
		p->first_at = time_mono_ms();
	if (p->queue == NULL)
		p->queue = calloc(PUB_QUEUE_MAX, sizeof(*p->queue));
	if (p->queue != NULL && p->n_queue < PUB_QUEUE_MAX) {
		memcpy(p->queue[p->n_queue].serial, serial, len);
		p->queue[p->n_queue++].serial_len = len;
	} else {
		p->full = 1; /* too many at once: the next round walks the whole cache */
	}
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void *pub_main(void *arg)
{
	ocsp_pub_t *p = arg;
	ocsp_state_t *q;
	size_t n;
	int full;

	pthread_mutex_lock(&p->mu);
	while (!p->stopping || p->n_queue > 0) {
		uint64_t due = p->first_at + (uint64_t)p->delay * 1000;

		if (!p->full && p->n_queue == 0) {
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		/* Gather what else changes within the delay (a revocation re-signs two answers
		 * one after the other; a scan stores 256 at a time). */
		if (!p->full && !p->stopping && time_mono_ms() < due) {
			(void)time_mono_wait(&p->cv, &p->mu, due);
			continue;
		}
		q = p->queue;
		n = p->n_queue;
		full = p->full;
		p->queue = NULL;
		p->n_queue = 0;
		p->full = 0;
		pthread_mutex_unlock(&p->mu);
		if (full) {
			ocsp_pub_stats_t st;
			cairn_err_t err = { 0 };
			if (ocsp_pub_all(p, &st, &err) != 0)
				log_error("ocsp", "publishing to %s: %s", p->dir, cairn_err_msg(&err));
			else
				log_info("ocsp", "published %lu answers to %s (%lu unchanged, %lu stale)",
					 (unsigned long)st.written, p->dir, (unsigned long)st.unchanged,
					 (unsigned long)st.skipped);
		} else {
			flush(p, q, n);
		}
		free(q);
		pthread_mutex_lock(&p->mu);
		if (p->stopping)
			p->full = 0; /* no new whole pass on the way out */
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static int stop_cb(void *arg)
{
	return stopping(arg);
}

int ocsp_pub_prune(ocsp_pub_t *p, ocsp_pub_stats_t *st, cairn_err_t *err)
{
	ocsp_prune_issuer_t iss[OCSP_MAX_ISSUERS];
	ocsp_prune_config_t cfg = { p->db, p->dir, iss, atomic_load(&p->n_iss), stop_cb, p };
	ocsp_pub_stats_t got = { 0 };
	size_t i;
	int rc;

	for (i = 0; i < cfg.n_issuers; i++)
		iss[i] = (ocsp_prune_issuer_t){ p->iss[i].name, p->iss[i].cert };
	rc = ocsp_prune(&cfg, &got, err);
	pthread_mutex_lock(&p->st_mu);
	p->total.removed += got.removed;
	pthread_mutex_unlock(&p->st_mu);
	if (st != NULL)
		*st = got;
	return rc;
}

/* The start-up prune, beside the publisher: the listeners never wait for it. */
static void *prune_main(void *arg)
{
	ocsp_pub_t *p = arg;
	ocsp_pub_stats_t st = { 0 };
	cairn_err_t err = { 0 };

	if (ocsp_pub_prune(p, &st, &err) != 0)
		log_error("ocsp", "pruning %s: %s", p->dir, cairn_err_msg(&err));
	else
		log_info("ocsp", "pruned %s: %lu stray files removed", p->dir,
			 (unsigned long)st.removed);
	return NULL;
}

int ocsp_pub_start(ocsp_pub_t *p, cairn_err_t *err)
{
	int rc = pthread_create(&p->thread, NULL, pub_main, p);

	if (rc != 0)
		return cairn_err_set(err, CAIRN_EIO, "ocsp: cannot start the publisher: %s",
				     strerror(rc));
	p->started = 1;
	if ((rc = pthread_create(&p->prune_thread, NULL, prune_main, p)) != 0)
		log_warn("ocsp", "cannot start pruning %s: %s", p->dir, strerror(rc));
	else
		p->prune_started = 1;
	return 0;
}

void ocsp_pub_free(ocsp_pub_t *p)
{
	size_t i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (p->started)
		pthread_join(p->thread, NULL);
	if (p->prune_started)
		pthread_join(p->prune_thread, NULL);
	for (i = 0; i < p->n_iss; i++)
		X509_free(p->iss[i].cert);
	free(p->queue);
	close(p->dirfd);
	free(p->dir);
	pthread_mutex_destroy(&p->add_mu);
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->st_mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}
