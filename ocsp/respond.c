/* SPDX-License-Identifier: MIT */
/* OCSP answers: parse the request, serve the pre-signed cache or sign now, RFC 5019 caching headers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>

#include "ocsp/ocsp_int.h"

#define CT_OCSP "application/ocsp-response"

static const EVP_MD *alg_md(int alg)
{
	return alg == OCSP_ALG_SHA1 ? EVP_sha1() : EVP_sha256();
}

/* Fills the next issuer slot from c, then counts it (readers never see a half-made
 * slot). One writer at a time: ocsp_open, or ocsp_add_issuer under sg_mu. */
static int iss_init(ocsp_t *o, const ocsp_issuer_t *c, cairn_err_t *err)
{
	size_t i = atomic_load(&o->n_iss);
	struct ocsp_iss *is = &o->iss[i];
	ASN1_INTEGER *zero = NULL;
	int alg, rc = 0;

	if (i == OCSP_MAX_ISSUERS)
		return cairn_err_set(err, CAIRN_ECONFLICT, "ocsp: at most %d issuers",
				     OCSP_MAX_ISSUERS);
	if (c->name == NULL || strlen(c->name) >= sizeof(is->name) || c->cert == NULL ||
	    (!o->presigned_only && (c->signer_cert == NULL || c->signer_key == NULL)))
		return cairn_err_set(err, CAIRN_EINVAL, "ocsp: issuer %zu incomplete", i);
	memset(is, 0, sizeof(*is));
	snprintf(is->name, sizeof(is->name), "%s", c->name);
	is->any_signer = o->presigned_only;
	if ((zero = ASN1_INTEGER_new()) == NULL ||
	    (!o->presigned_only && ocsp_signer_init(o, i, c) != 0))
		goto fail;
	for (alg = 1; alg <= OCSP_N_ALGS; alg++) {
		is->tmpl[alg] = OCSP_cert_id_new(alg_md(alg), X509_get_subject_name(c->cert),
						 X509_get0_pubkey_bitstr(c->cert), zero);
		if (is->tmpl[alg] == NULL)
			goto fail;
	}
	X509_up_ref(c->cert);
	is->cert = c->cert;
	atomic_store(&o->n_iss, i + 1);
	goto out;
fail:
	ocsp_signer_put(is->sg);
	for (alg = 1; alg <= OCSP_N_ALGS; alg++)
		OCSP_CERTID_free(is->tmpl[alg]);
	memset(is, 0, sizeof(*is));
	rc = cairn_err_ssl(err, CAIRN_ENOMEM, "ocsp: cannot set up issuer %s", c->name);
out:
	ASN1_INTEGER_free(zero);
	return rc;
}

int ocsp_open(const ocsp_config_t *cfg, ocsp_t **out, cairn_err_t *err)
{
	ocsp_t *o = NULL;
	size_t i;
	int rc = CAIRN_ENOMEM;

	*out = NULL;
	if (cfg == NULL || cfg->db == NULL || cfg->n_issuers == 0 ||
	    cfg->n_issuers > OCSP_MAX_ISSUERS || cfg->validity < 60)
		return cairn_err_set(err, CAIRN_EINVAL, "ocsp: need a db, 1..%d issuers, validity >= 60 s",
				     OCSP_MAX_ISSUERS);
	if ((o = calloc(1, sizeof(*o))) == NULL)
		goto fail;
	o->db = cfg->db;
	o->presigned_only = cfg->presigned_only;
	o->pub = cfg->publish;
	o->validity = cfg->validity;
	o->scan_interval = cfg->scan_interval > 0 ? cfg->scan_interval : cfg->validity / 8;
	if (cfg->scan_interval <= 0 && o->scan_interval > 3600)
		o->scan_interval = 3600;
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->cv, NULL);
	pthread_mutex_init(&o->sg_mu, NULL);
	for (i = 0; i < cfg->n_issuers; i++)
		if ((rc = iss_init(o, &cfg->issuers[i], err)) != 0)
			goto out;
	*out = o;
	o = NULL;
	rc = 0;
	goto out;
fail:
	rc = cairn_err_ssl(err, CAIRN_ENOMEM, "ocsp: cannot set up the responder");
out:
	ocsp_free(o);
	return rc;
}

int ocsp_add_issuer(ocsp_t *o, const ocsp_issuer_t *c, cairn_err_t *err)
{
	int rc;

	pthread_mutex_lock(&o->sg_mu);
	rc = iss_init(o, c, err);
	pthread_mutex_unlock(&o->sg_mu);
	if (rc == 0) { /* its certificates' due entries were dropped while it was unknown */
		pthread_mutex_lock(&o->mu);
		o->rescan = 1;
		pthread_cond_signal(&o->cv);
		pthread_mutex_unlock(&o->mu);
	}
	return rc;
}

void ocsp_free(ocsp_t *o)
{
	size_t i;
	int alg;

	if (o == NULL)
		return;
	ocsp_refresher_stop(o);
	for (i = 0; i < o->n_iss; i++) {
		struct ocsp_iss *is = &o->iss[i];
		X509_free(is->cert);
		ocsp_signer_put(is->sg);
		for (alg = 1; alg <= OCSP_N_ALGS; alg++)
			OCSP_CERTID_free(is->tmpl[alg]);
	}
	pthread_mutex_destroy(&o->mu);
	pthread_cond_destroy(&o->cv);
	pthread_mutex_destroy(&o->sg_mu);
	free(o);
}

void ocsp_stats(ocsp_t *o, uint64_t *hits, uint64_t *live, uint64_t *presigned)
{
	if (hits)
		*hits = atomic_load(&o->hits);
	if (live)
		*live = atomic_load(&o->live);
	if (presigned)
		*presigned = atomic_load(&o->presigned);
}

uint64_t ocsp_try_later(ocsp_t *o)
{
	return atomic_load(&o->try_later);
}

uint64_t ocsp_swept(ocsp_t *o)
{
	return atomic_load(&o->swept);
}

uint64_t ocsp_cache_writes(ocsp_t *o)
{
	return atomic_load(&o->cache_writes);
}

/* Which issuer and hash algorithm a CertID names; -1 when none of ours. */
static int match_issuer(const ocsp_t *o, const OCSP_CERTID *cid, int *alg)
{
	size_t i;
	int a;

	for (i = 0; i < o->n_iss; i++)
		for (a = 1; a <= OCSP_N_ALGS; a++)
			if (OCSP_id_issuer_cmp(o->iss[i].tmpl[a], cid) == 0) {
				*alg = a;
				return (int)i;
			}
	return -1;
}

int ocsp_cid_serial(OCSP_CERTID *cid, uint8_t out[DB_SERIAL_MAX], size_t *len)
{
	ASN1_INTEGER *ai = NULL;
	BIGNUM *bn;
	int n, rc = -1;

	OCSP_id_get0_info(NULL, NULL, NULL, &ai, cid);
	bn = ai ? ASN1_INTEGER_to_BN(ai, NULL) : NULL;
	if (bn != NULL && !BN_is_negative(bn) && !BN_is_zero(bn) &&
	    (n = BN_num_bytes(bn)) <= DB_SERIAL_MAX) {
		BN_bn2bin(bn, out);
		*len = (size_t)n;
		rc = 0;
	}
	BN_free(bn);
	return rc;
}

void ocsp_read_state(db_txn_t *txn, const struct ocsp_iss *is, const uint8_t *serial,
		     size_t len, ocsp_state_t *st)
{
	ocsp_state_of(txn, is->name, serial, len, st);
}

void ocsp_state_of(db_txn_t *txn, const char *issuer, const uint8_t *serial, size_t len,
		   ocsp_state_t *st)
{
	db_cert_t c;

	memset(st, 0, sizeof(*st));
	memcpy(st->serial, serial, len);
	st->serial_len = len;
	st->reason = -1;
	if (db_cert_get(txn, serial, len, &c) != 0)
		return;
	st->exists = 1;
	if (strcmp(c.issuer, issuer) != 0)
		return;
	st->known = 1;
	st->status = c.status;
	st->reason = c.reason;
	st->revoked_at = c.revoked_at;
	st->not_after = c.not_after;
}

/*
 * The revoked index is enough for a cached answer that says `good` or `revoked` and was
 * signed by i's current responder, whose tag no other issuer's responder shares: such an
 * answer is signed only for a certificate of i (an `unknown` for another issuer's serial
 * is never stored), certificates are never deleted and never change issuer, and every
 * change of status writes the index entry in the same txn (db_revoked_get). That index is
 * small and warm where the certificates' is large and cold: a hit reads one small B-tree
 * instead of a record of the big one.
 * Returns 0 with st set, or -1: read the record (ocsp_read_state).
 */
int ocsp_indexed_state(ocsp_t *o, size_t i, db_txn_t *txn, const uint8_t *serial,
		       size_t slen, const uint8_t *v, size_t vlen, ocsp_state_t *st)
{
	uint32_t tag = atomic_load(&o->iss[i].signer_tag), t;
	size_t k, n = atomic_load(&o->n_iss);
	int64_t when;
	int reason, rc;

	if (vlen <= OCSP_CACHE_HDR || o->iss[i].any_signer ||
	    (v[OCSP_CACHE_OFF_STATUS] != DB_CERT_VALID &&
	     v[OCSP_CACHE_OFF_STATUS] != DB_CERT_REVOKED))
		return -1;
	memcpy(&t, v + OCSP_CACHE_OFF_SIGNER, sizeof(t));
	if (t != tag)
		return -1;
	for (k = 0; k < n; k++)
		if (k != i && atomic_load(&o->iss[k].signer_tag) == tag)
			return -1;
	rc = db_revoked_get(txn, o->iss[i].name, serial, slen, &when, &reason);
	if (rc != 0 && rc != CAIRN_ENOENT)
		return -1;
	memset(st, 0, sizeof(*st));
	memcpy(st->serial, serial, slen);
	st->serial_len = slen;
	st->exists = 1;
	st->known = 1;
	st->status = DB_CERT_VALID;
	st->reason = -1;
	/* A released hold stays in the index as removeFromCRL: valid again. */
	if (rc == 0 && reason != OCSP_REVOKED_STATUS_REMOVEFROMCRL) {
		st->status = DB_CERT_REVOKED;
		st->reason = reason;
		st->revoked_at = when;
	}
	return 0;
}

/* Adds one SingleResponse for st (CertID cid, duplicated) to bs. */
static int add_single(OCSP_BASICRESP *bs, const OCSP_CERTID *cid, const ocsp_state_t *st,
		      ASN1_TIME *thisupd, ASN1_TIME *nextupd)
{
	ASN1_TIME *rev = NULL;
	OCSP_SINGLERESP *sr;
	int status = V_OCSP_CERTSTATUS_UNKNOWN, reason = OCSP_REVOKED_STATUS_NOSTATUS;

	if (st->known && st->status == DB_CERT_REVOKED) {
		status = V_OCSP_CERTSTATUS_REVOKED;
		reason = st->reason >= 0 ? st->reason : OCSP_REVOKED_STATUS_NOSTATUS;
		if ((rev = ASN1_GENERALIZEDTIME_set(NULL, (time_t)st->revoked_at)) == NULL)
			return -1;
	} else if (st->known) {
		status = V_OCSP_CERTSTATUS_GOOD;
	}
	sr = OCSP_basic_add1_status(bs, (OCSP_CERTID *)cid, status, reason, rev, thisupd, nextupd);
	ASN1_TIME_free(rev);
	return sr ? 0 : -1;
}

/* Signs bs with responder sg and wraps it into an OCSPResponse DER. */
static int finish(const struct ocsp_signer *sg, OCSP_BASICRESP *bs, uint8_t **der, size_t *len)
{
	OCSP_RESPONSE *resp = NULL;
	unsigned char *buf = NULL;
	int n = -1;

	if (OCSP_basic_sign(bs, sg->cert, sg->key, sg->md, sg->certs, OCSP_RESPID_KEY) == 1 &&
	    (resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs)) != NULL)
		n = i2d_OCSP_RESPONSE(resp, &buf);
	OCSP_RESPONSE_free(resp);
	if (n <= 0)
		return -1;
	*der = buf;
	*len = (size_t)n;
	return 0;
}

int ocsp_sign_entry(ocsp_t *o, size_t i, int alg, const ocsp_state_t *st, time_t now,
		    ocsp_entry_t *e)
{
	const struct ocsp_iss *is = &o->iss[i];
	struct ocsp_signer *sg = ocsp_signer_get(o, i);
	ASN1_INTEGER *serial = NULL;
	OCSP_CERTID *cid = NULL;
	OCSP_BASICRESP *bs = NULL;
	ASN1_TIME *tu = NULL, *nu = NULL;
	BIGNUM *bn = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	int rc = CAIRN_ECRYPTO;

	memset(e, 0, sizeof(*e));
	if ((bn = BN_bin2bn(st->serial, (int)st->serial_len, NULL)) == NULL ||
	    (serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    (cid = OCSP_cert_id_new(alg_md(alg), X509_get_subject_name(is->cert),
				    X509_get0_pubkey_bitstr(is->cert), serial)) == NULL ||
	    (bs = OCSP_BASICRESP_new()) == NULL || (tu = ASN1_GENERALIZEDTIME_set(NULL, now)) == NULL ||
	    (nu = ASN1_GENERALIZEDTIME_set(NULL, now + (time_t)o->validity)) == NULL ||
	    add_single(bs, cid, st, tu, nu) != 0 || finish(sg, bs, &der, &len) != 0)
		goto out;
	if ((rc = ocsp_cache_encode(st, now, now + (time_t)o->validity, sg->tag, der, len, e)) != 0)
		goto out;
	e->klen = ocsp_cache_key(e->key, st->serial, st->serial_len, alg);
out:
	if (rc != 0)
		ERR_clear_error();
	OPENSSL_free(der);
	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
	OCSP_BASICRESP_free(bs);
	OCSP_CERTID_free(cid);
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	ocsp_signer_put(sg);
	return rc;
}

/* An OCSPResponse with only a status (malformedRequest, unauthorized, internalError). */
static void reply_status(http_reply_t *reply, int status)
{
	OCSP_RESPONSE *resp = OCSP_response_create(status, NULL);
	unsigned char *buf = NULL;
	int n = resp ? i2d_OCSP_RESPONSE(resp, &buf) : -1;
	char *body = n > 0 ? malloc((size_t)n) : NULL;

	OCSP_RESPONSE_free(resp);
	if (body == NULL) {
		OPENSSL_free(buf);
		http_reply_problem(reply, 500, NULL, "out of memory");
		return;
	}
	memcpy(body, buf, (size_t)n);
	OPENSSL_free(buf);
	http_reply_set(reply, 200, CT_OCSP, body, (size_t)n);
	http_reply_header(reply, "Cache-Control", "no-store");
}

/* RFC 5019 §6.2 headers for an answer valid from this_update to next_update. */
static void caching_headers(http_reply_t *reply, time_t now, time_t this_update,
			    time_t next_update, const uint8_t etag[8])
{
	char date[40], hex[17];
	long max_age = (long)(next_update - now);

	if (max_age < 0)
		max_age = 0;
	time_http_date(this_update, date, sizeof(date));
	http_reply_header(reply, "Last-Modified", "%s", date);
	time_http_date(next_update, date, sizeof(date));
	http_reply_header(reply, "Expires", "%s", date);
	http_reply_header(reply, "Cache-Control", "max-age=%ld, public, no-transform, must-revalidate",
			  max_age);
	hex_encode(etag, 8, hex);
	http_reply_header(reply, "ETag", "\"%s\"", hex);
}

/*
 * The one-CertID, nonce-less answer (RFC 5019): one read txn for the cached answer and
 * the certificate's status (from the revoked index when that is enough: ocsp_indexed_state);
 * the cached answer when it is fresh and signed for that status (`unknown` included),
 * else signed now from the certificate's record and queued for the cache.
 */
static void answer_one(ocsp_t *o, size_t i, int alg, const uint8_t *serial, size_t slen,
		       time_t now, http_reply_t *reply)
{
	uint8_t key[DB_SERIAL_MAX + 1];
	db_txn_t *txn = NULL;
	ocsp_state_t st;
	ocsp_entry_t e;
	const uint8_t *v, *der;
	size_t vlen, der_len;
	char *body;
	int found, hit;

	if (db_read_begin(o->db, &txn) != 0) {
		reply_status(reply, OCSP_RESPONSE_STATUS_INTERNALERROR);
		return;
	}
	found = db_get(txn, DB_OCSP, key, ocsp_cache_key(key, serial, slen, alg),
		       (const void **)&v, &vlen) == 0;
	hit = found && ocsp_indexed_state(o, i, txn, serial, slen, v, vlen, &st) == 0 &&
	      ocsp_cache_matches(&o->iss[i], &st, v, vlen, now);
	if (!hit) { /* the record decides, and the live answer needs all of it */
		ocsp_read_state(txn, &o->iss[i], serial, slen, &st);
		hit = found && ocsp_cache_matches(&o->iss[i], &st, v, vlen, now);
	}
	if (hit && (der = ocsp_cache_der(v, vlen, &der_len)) != NULL &&
	    (body = malloc(der_len)) != NULL) {
		memcpy(body, der, der_len);
		http_reply_set(reply, 200, CT_OCSP, body, der_len);
		caching_headers(reply, now, ocsp_cache_this_update(v), ocsp_cache_next_update(v),
				ocsp_cache_etag(v));
		db_txn_end(txn);
		atomic_fetch_add(&o->hits, 1);
		return;
	}
	db_txn_end(txn);
	if (o->presigned_only) {
		/* Nothing to sign with: the issuing daemon's refresher stores the answer
		 * (at once after a revocation), and the client asks again. */
		atomic_fetch_add(&o->try_later, 1);
		reply_status(reply, OCSP_RESPONSE_STATUS_TRYLATER);
		return;
	}
	if (ocsp_sign_entry(o, i, alg, &st, now, &e) != 0) {
		/* The signer cannot sign now (the token dropped off): a client may ask again
		 * (RFC 6960 §2.3), and /healthz names the token. */
		atomic_fetch_add(&o->try_later, 1);
		reply_status(reply, OCSP_RESPONSE_STATUS_TRYLATER);
		return;
	}
	if ((der = ocsp_cache_der(e.val, e.vlen, &der_len)) == NULL ||
	    (body = malloc(der_len)) == NULL) {
		free(e.val);
		reply_status(reply, OCSP_RESPONSE_STATUS_INTERNALERROR);
		return;
	}
	memcpy(body, der, der_len);
	http_reply_set(reply, 200, CT_OCSP, body, der_len);
	caching_headers(reply, now, ocsp_cache_this_update(e.val), ocsp_cache_next_update(e.val),
			ocsp_cache_etag(e.val));
	atomic_fetch_add(&o->live, 1);
	/* Not kept: answers for expired certificates (the sweep would delete them),
	 * unknowns beyond OCSP_UNKNOWN_MAX, and an `unknown` for a serial we issued under
	 * another CA (a CertID naming the wrong issuer): the cache is keyed by serial, so
	 * it would replace that certificate's own answer, which responders serve. */
	if ((st.known && st.not_after > (int64_t)now) ||
	    (!st.known && !st.exists && atomic_fetch_add(&o->unknowns, 1) < OCSP_UNKNOWN_MAX))
		ocsp_queue_store(o, &e);
	free(e.val);
}

/* Signs the answer for every single request now (several CertIDs, or a nonce). */
static void answer_live(ocsp_t *o, OCSP_REQUEST *req, int n, int has_nonce, time_t now,
			http_reply_t *reply)
{
	ocsp_state_t st[OCSP_MAX_SINGLE];
	int iss[OCSP_MAX_SINGLE], alg[OCSP_MAX_SINGLE];
	struct ocsp_signer *sg;
	OCSP_BASICRESP *bs = NULL;
	ASN1_TIME *tu = NULL, *nu = NULL;
	db_txn_t *txn = NULL;
	uint8_t *der = NULL, md[32];
	size_t len = 0;
	char *body;
	int k;

	for (k = 0; k < n; k++) {
		OCSP_CERTID *cid = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, k));
		uint8_t serial[DB_SERIAL_MAX];
		size_t slen = 0;

		iss[k] = match_issuer(o, cid, &alg[k]);
		/* Not ours, or another CA than the first CertID's: one response has one
		 * signer, a responder authorized for one CA (RFC 6960 §4.2.2.2), so no answer
		 * we sign can be authoritative for both. The request is well formed (not
		 * malformedRequest); we are not authorized to answer it as asked. */
		if (iss[k] < 0 || iss[k] != iss[0]) {
			reply_status(reply, OCSP_RESPONSE_STATUS_UNAUTHORIZED);
			goto out;
		}
		/* Several CertIDs make one answer that nobody stored. */
		if (o->presigned_only) {
			if (k + 1 < n)
				continue;
			atomic_fetch_add(&o->try_later, 1);
			reply_status(reply, OCSP_RESPONSE_STATUS_TRYLATER);
			goto out;
		}
		if (txn == NULL && db_read_begin(o->db, &txn) != 0) {
			reply_status(reply, OCSP_RESPONSE_STATUS_INTERNALERROR);
			goto out;
		}
		if (ocsp_cid_serial(cid, serial, &slen) == 0) {
			ocsp_read_state(txn, &o->iss[iss[k]], serial, slen, &st[k]);
		} else {
			memset(&st[k], 0, sizeof(st[k]));
			st[k].reason = -1;
		}
	}
	db_txn_end(txn);
	txn = NULL;
	if ((bs = OCSP_BASICRESP_new()) == NULL || (tu = ASN1_GENERALIZEDTIME_set(NULL, now)) == NULL ||
	    (nu = ASN1_GENERALIZEDTIME_set(NULL, now + (time_t)o->validity)) == NULL)
		goto fail;
	for (k = 0; k < n; k++)
		if (add_single(bs, OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, k)), &st[k], tu,
			       nu) != 0)
			goto fail;
	if (has_nonce && OCSP_copy_nonce(bs, req) <= 0)
		goto fail;
	/* Every CertID names the same CA, whose responder signs. */
	sg = ocsp_signer_get(o, (size_t)iss[0]);
	k = finish(sg, bs, &der, &len);
	ocsp_signer_put(sg);
	if (k != 0) { /* not signed: as above */
		ERR_clear_error();
		atomic_fetch_add(&o->try_later, 1);
		reply_status(reply, OCSP_RESPONSE_STATUS_TRYLATER);
		goto out;
	}
	if ((body = malloc(len)) == NULL)
		goto fail;
	memcpy(body, der, len);
	http_reply_set(reply, 200, CT_OCSP, body, len);
	atomic_fetch_add(&o->live, 1);
	if (has_nonce) {
		http_reply_header(reply, "Cache-Control", "no-store");
	} else {
		EVP_Digest(der, len, md, NULL, EVP_sha256(), NULL);
		caching_headers(reply, now, now, now + (time_t)o->validity, md);
	}
	goto out;
fail:
	ERR_clear_error();
	reply_status(reply, OCSP_RESPONSE_STATUS_INTERNALERROR);
out:
	db_txn_end(txn);
	OPENSSL_free(der);
	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
	OCSP_BASICRESP_free(bs);
}

/* The request's nonce (RFC 9654 §2.1): 1 when it has one of 1..OCSP_NONCE_MAX octets, 0
 * when it has none, -1 when it must be refused: empty, longer (a signed answer would
 * carry up to 8 KiB of bytes the client chose), or given twice. The value is the DER of
 * an OCTET STRING; an older client's bare bytes are measured as they are. */
static int request_nonce(OCSP_REQUEST *req)
{
	int i = OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, -1), tag, cls;
	const ASN1_OCTET_STRING *v;
	const unsigned char *start, *p;
	long inner, n;

	if (i < 0)
		return 0;
	if (OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, i) >= 0)
		return -1;
	v = X509_EXTENSION_get_data(OCSP_REQUEST_get_ext(req, i));
	start = p = ASN1_STRING_get0_data(v);
	n = ASN1_STRING_length(v);
	if (n > 0 && ASN1_get_object(&p, &inner, &tag, &cls, n) == 0 &&
	    tag == V_ASN1_OCTET_STRING && cls == V_ASN1_UNIVERSAL && p + inner == start + n)
		n = inner;
	ERR_clear_error();
	return n >= 1 && n <= OCSP_NONCE_MAX ? 1 : -1;
}

/* 1 when the request or one of its n single requests carries a critical extension other
 * than the nonce: RFC 6960 §4.4 lets a responder ignore only what is not critical. */
static int critical_unknown(OCSP_REQUEST *req, int n)
{
	int i, k;

	for (k = 0; k < OCSP_REQUEST_get_ext_count(req); k++) {
		X509_EXTENSION *x = OCSP_REQUEST_get_ext(req, k);
		if (X509_EXTENSION_get_critical(x) &&
		    OBJ_obj2nid(X509_EXTENSION_get_object(x)) != NID_id_pkix_OCSP_Nonce)
			return 1;
	}
	for (i = 0; i < n; i++) {
		OCSP_ONEREQ *one = OCSP_request_onereq_get0(req, i);
		for (k = 0; k < OCSP_ONEREQ_get_ext_count(one); k++)
			if (X509_EXTENSION_get_critical(OCSP_ONEREQ_get_ext(one, k)))
				return 1;
	}
	return 0;
}

/* The decoder's reading of der: 0 with *req (its n single requests, whether it has a
 * nonce), or -1 when it is malformed (*req NULL, no errors queued). */
static int decode_request(const uint8_t *der, size_t len, OCSP_REQUEST **req, int *n,
			  int *has_nonce)
{
	const unsigned char *p = der;

	*req = NULL;
	if (len == 0 || len > OCSP_MAX_REQUEST ||
	    (*req = d2i_OCSP_REQUEST(NULL, &p, (long)len)) == NULL || p != der + len ||
	    (*n = OCSP_request_onereq_count(*req)) < 1 || *n > OCSP_MAX_SINGLE ||
	    (*has_nonce = request_nonce(*req)) < 0 || critical_unknown(*req, *n)) {
		OCSP_REQUEST_free(*req);
		*req = NULL;
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* 1 when req is answered from its one CertID (*one): ours, with a serial that can be
 * one of ours, and no nonce to echo. A responder without a signer answers a nonce from
 * the cache too (RFC 8954 §2.1: a responder may leave the nonce out; the client then
 * judges the answer by its thisUpdate). */
static int single_of(const ocsp_t *o, OCSP_REQUEST *req, int n, int has_nonce, ocsp_one_t *one)
{
	OCSP_CERTID *cid;
	int i;

	if (n != 1 || (has_nonce && !o->presigned_only))
		return 0;
	cid = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, 0));
	if ((i = match_issuer(o, cid, &one->alg)) < 0 ||
	    ocsp_cid_serial(cid, one->serial, &one->serial_len) != 0)
		return 0;
	one->iss = (size_t)i;
	return 1;
}

int ocsp_req_decoded(const ocsp_t *o, const uint8_t *der, size_t len, ocsp_one_t *one)
{
	OCSP_REQUEST *req;
	int n, has_nonce, rc = 0;

	if (decode_request(der, len, &req, &n, &has_nonce) == 0)
		rc = single_of(o, req, n, has_nonce, one);
	OCSP_REQUEST_free(req);
	return rc;
}

void ocsp_handle(ocsp_t *o, const void *der, size_t len, http_reply_t *reply)
{
	OCSP_REQUEST *req = NULL;
	time_t now = time(NULL);
	ocsp_one_t one;
	int n, has_nonce;

	/* Most requests (RFC 5019's profile) are read without the decoder. */
	if (ocsp_req_quick(o, der, len, &one)) {
		answer_one(o, one.iss, one.alg, one.serial, one.serial_len, now, reply);
		return;
	}
	if (decode_request(der, len, &req, &n, &has_nonce) != 0)
		reply_status(reply, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	else if (single_of(o, req, n, has_nonce, &one))
		answer_one(o, one.iss, one.alg, one.serial, one.serial_len, now, reply);
	else
		answer_live(o, req, n, has_nonce, now, reply);
	OCSP_REQUEST_free(req);
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

void ocsp_handle_get(ocsp_t *o, const char *path, http_reply_t *reply)
{
	size_t plen = strlen(path), n = 0, pad = 0, i;
	char *b64 = NULL;
	unsigned char *der = NULL;
	int dlen;

	/* base64 of OCSP_MAX_REQUEST bytes, percent-encoded at worst 3x */
	if (plen == 0 || plen > 3 * (OCSP_MAX_REQUEST / 3 * 4 + 4) ||
	    (b64 = malloc(plen + 4)) == NULL)
		goto bad;
	for (i = 0; i < plen; i++) {
		if (path[i] == '%' && i + 2 < plen && hexval(path[i + 1]) >= 0 &&
		    hexval(path[i + 2]) >= 0) {
			b64[n++] = (char)(hexval(path[i + 1]) * 16 + hexval(path[i + 2]));
			i += 2;
		} else {
			b64[n++] = path[i];
		}
	}
	while (n % 4 != 0)
		b64[n++] = '=';
	for (i = n; i > 0 && b64[i - 1] == '='; i--)
		pad++;
	if (n == 0 || pad > 2 || (der = malloc(n / 4 * 3)) == NULL)
		goto bad;
	dlen = EVP_DecodeBlock(der, (unsigned char *)b64, (int)n);
	if (dlen < (int)pad)
		goto bad;
	ocsp_handle(o, der, (size_t)dlen - pad, reply);
	goto out;
bad:
	reply_status(reply, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
out:
	free(der);
	free(b64);
}
