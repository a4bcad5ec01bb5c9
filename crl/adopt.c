/* SPDX-License-Identifier: MIT */
/* Start-up: adopting the CRLs published before this start when they are still good, or serving them meanwhile. */
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
int crl_adopt_published(crl_t *c, struct crl_iss *is)
{
	uint64_t want = crl_stored_number(c, is->name);
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
	if (crl_recorded_match(c, is, is->name, NULL, 0, c->delta_period > 0, data, len, &have,
			       &tu, &nu)) {
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
	crl_slot_serve(c, &is->full, (uint8_t *)data, len, tu, nu, have, 0);
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
int crl_tree_ca_cert(crl_t *c, const crl_issuer_t *ci, cairn_err_t *err)
{
	unsigned char *der = NULL;
	char rel[128];
	int n = i2d_X509(ci->cert, &der), rc;

	if (n <= 0 || snprintf(rel, sizeof(rel), "ca/%s.crt", ci->name) >= (int)sizeof(rel))
		rc = cairn_err_set(err, CAIRN_ENOMEM, "crl: %s: out of memory", ci->name);
	else
		rc = pubtree_write(c->tree_dir, rel, der, (size_t)n, 0, 0, NULL, err);
	OPENSSL_free(der);
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
void crl_shard_latest(crl_t *c, const struct crl_iss *is, int64_t *t)
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

/* Adopts a published shard CRL on the same terms as crl_adopt_published, from its record in
 * meta only (a shard without one is rebuilt: it is small). latest: when one of its
 * entries last changed. */
int crl_adopt_shard(crl_t *c, struct crl_iss *is, struct crl_slot *slot, int64_t latest)
{
	uint64_t want = crl_stored_number(c, slot->name), have = 0;
	int64_t tu = 0, nu = 0, now = (int64_t)time(NULL);
	char *data = NULL;
	size_t len = 0;

	if (want == 0 || fs_read(slot->path, CRL_FILE_MAX, &data, &len) != 0 ||
	    !crl_recorded_match(c, is, slot->name, slot->urls, slot->n_urls, 0, data, len, &have,
				&tu, &nu) ||
	    have == 0 ||
	    have > want || tu == 0 || nu <= tu || now >= tu + (nu - tu) / 2 || latest >= tu) {
		free(data);
		return 0;
	}
	crl_slot_serve(c, slot, (uint8_t *)data, len, tu, nu, have, 0);
	return 1;
}

/* While the first build of a deferred start runs: the CRL published before it, when the
 * db's record says it is ours and it is not within a minute of its nextUpdate — a valid
 * CRL, if not the newest, is better than none. An expired one is never served. */
void crl_serve_previous(crl_t *c, struct crl_iss *is, struct crl_slot *slot)
{
	uint64_t have = 0;
	int64_t tu = 0, nu = 0, now = (int64_t)time(NULL);
	char *data = NULL;
	size_t len = 0;

	if (fs_read(slot->path, CRL_FILE_MAX, &data, &len) != 0 ||
	    !crl_recorded_match(c, is, slot == &is->full ? is->name : slot->name,
			    slot->urls, slot->shard >= 0 ? slot->n_urls : 0,
			    slot == &is->full && c->delta_period > 0, data, len, &have, &tu, &nu) ||
	    have == 0 || tu == 0 || now + 60 >= nu) {
		free(data);
		return;
	}
	crl_slot_serve(c, slot, (uint8_t *)data, len, tu, nu, have, 1);
}

/* Names, file and URL of slot: NAME plus suffix ("", "-delta" or "/S"). */
