/* SPDX-License-Identifier: MIT */
/* Building CRLs: one streamed walk of the revoked index fills every CRL asked for (the full CRL, its delta, shard CRLs), then each is signed. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "crl/crl_int.h"

/* Entry extension prefixes: Extension { extnID, extnValue OCTET STRING { ... } }. */
static const uint8_t ext_reason[] = { 0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15,
				      0x04, 0x03, 0x0a, 0x01 }; /* + reason byte */
static const uint8_t ext_invalidity[] = { 0x30, 0x18, 0x06, 0x03, 0x55, 0x1d, 0x18,
					  0x04, 0x11 }; /* + GeneralizedTime TLV (17) */
#define EXT_REASON_LEN (sizeof(ext_reason) + 1)
#define EXT_INVALIDITY_LEN (sizeof(ext_invalidity) + 17)

/* One CRL being built during the walk: its entries are appended to buf after room for
 * everything that precedes them (the header is written in front once their size is known). */
struct builder {
	const crl_params_t *p;
	uint8_t *buf;
	size_t cap, used;  /* used: bytes of buf in use, the reserved head included */
	size_t head;       /* reserved bytes before the first entry */
	size_t entries, skipped;
};

/* Bytes of one entry's TLV, written at q when q is non-NULL. */
static size_t entry(uint8_t *q, const db_revocation_t *r)
{
	int pad = (r->serial[0] & 0x80) != 0;
	size_t ser = crl_der_tlv_size(r->serial_len + (size_t)pad);
	size_t tim = crl_der_time(NULL, r->revoked_at, 0);
	size_t ext = (r->reason != 0 ? EXT_REASON_LEN : 0) +
		     (r->invalidity_date > 0 ? EXT_INVALIDITY_LEN : 0);
	size_t content = ser + tim + (ext ? crl_der_tlv_size(ext) : 0);

	if (q == NULL)
		return crl_der_tlv_size(content);
	q = crl_der_hdr(q, 0x30, content);
	q = crl_der_hdr(q, 0x02, r->serial_len + (size_t)pad);
	if (pad)
		*q++ = 0;
	memcpy(q, r->serial, r->serial_len);
	q += r->serial_len;
	q += crl_der_time(q, r->revoked_at, 0);
	if (ext) {
		q = crl_der_hdr(q, 0x30, ext);
		if (r->reason != 0) {
			memcpy(q, ext_reason, sizeof(ext_reason));
			q += sizeof(ext_reason);
			*q++ = (uint8_t)r->reason;
		}
		if (r->invalidity_date > 0) {
			memcpy(q, ext_invalidity, sizeof(ext_invalidity));
			q += sizeof(ext_invalidity);
			crl_der_time(q, r->invalidity_date, 1);
		}
	}
	return crl_der_tlv_size(content);
}

/* Room for n more bytes in b->buf. The buffer doubles: large blocks are mmap'd by the
 * allocator and grown with mremap (no copy), and pages never written are never
 * resident, so the peak RSS is the bytes written, not the capacity. */
static int reserve(struct builder *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 65536;
	uint8_t *nb;

	if (b->used + n <= b->cap)
		return 0;
	while (cap < b->used + n)
		cap *= 2;
	if ((nb = realloc(b->buf, cap)) == NULL)
		return CAIRN_ENOMEM;
	b->buf = nb;
	b->cap = cap;
	return 0;
}

/*
 * 1 when the entry of a certificate that expired at not_after has served its time on CRLs
 * like p: RFC 5280 §3.3 keeps it "until it appears on one regularly scheduled CRL issued
 * beyond the revoked certificate's validity period". Each kind of CRL (full, delta, shard,
 * the root's) is rebuilt at least once within its own validity (nextUpdate - thisUpdate;
 * crl/sched.c), so the entry stays on every CRL whose thisUpdate is at most one validity
 * past notAfter: the first scheduled CRL after expiry is among them, whatever the kind.
 */
static int expired_long_enough(const crl_params_t *p, int64_t not_after)
{
	return !p->keep_expired && not_after > 0 &&
	       not_after < p->this_update - (p->next_update - p->this_update);
}

/* Appends r to b unless b's scope leaves it out. */
static int add(struct builder *b, const db_revocation_t *r)
{
	const crl_params_t *p = b->p;
	size_t n;

	if (p->delta_base == 0 ? r->reason == 8 : r->revoked_at < p->delta_since)
		return 0; /* a released hold (full CRL), or unchanged since the base (delta) */
	if (expired_long_enough(p, r->not_after)) {
		b->skipped++;
		return 0;
	}
	n = entry(NULL, r);
	if (reserve(b, n) != 0)
		return CAIRN_ENOMEM;
	entry(b->buf + b->used, r);
	b->used += n;
	b->entries++;
	return 0;
}

/* The walk: every entry to each CRL of the whole issuer, and to the one shard CRL its
 * serial names (route[shard]: index into bs, or -1). */
struct walk {
	struct builder *bs;
	size_t n;
	const int *route;   /* UTIL_SHARDS_MAX entries */
	int failed;         /* CAIRN_ENOMEM when a buffer could not grow */
};

static int walk_cb(const db_revocation_t *r, void *arg)
{
	struct walk *w = arg;
	size_t i;
	int s, rc;

	if (r->serial_len == 0 || r->serial_len > DB_SERIAL_MAX || r->reason < 0 || r->reason > 10)
		return CAIRN_EDB;
	for (i = 0; i < w->n; i++)
		if (w->bs[i].p->idp_url == NULL && (rc = add(&w->bs[i], r)) != 0)
			return w->failed = rc;
	s = util_serial_shard(r->serial, r->serial_len, NULL);
	if (s >= 0 && w->route[s] >= 0 && (rc = add(&w->bs[w->route[s]], r)) != 0)
		return w->failed = rc;
	return 0;
}

/* DER of the pieces OpenSSL encodes for us: algorithm, issuer name, times, extensions. */
struct parts {
	unsigned char *alg, *name, *tu, *nu, *exts;
	int alg_len, name_len, tu_len, nu_len, exts_len;
	const EVP_MD *md;
};

static void parts_free(struct parts *pt)
{
	OPENSSL_free(pt->alg);
	OPENSSL_free(pt->name);
	OPENSSL_free(pt->tu);
	OPENSSL_free(pt->nu);
	OPENSSL_free(pt->exts);
}

/* Appends url to names as a URI GeneralName. Returns 0, or -1 when out of memory. */
static int push_uri(GENERAL_NAMES *names, const char *url)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *uri = ASN1_IA5STRING_new();

	if (gn == NULL || uri == NULL || !ASN1_STRING_set(uri, url, (int)strlen(url))) {
		ASN1_IA5STRING_free(uri);
		GENERAL_NAME_free(gn);
		return -1;
	}
	GENERAL_NAME_set0_value(gn, GEN_URI, uri);
	if (!sk_GENERAL_NAME_push(names, gn)) {
		GENERAL_NAME_free(gn);
		return -1;
	}
	return 0;
}

/* A distribution point name whose fullName is the URI url, then the n_more URIs of more
 * (NULL when out of memory). */
static DIST_POINT_NAME *dp_name_uris(const char *url, const char *const *more, size_t n_more)
{
	DIST_POINT_NAME *dpn = DIST_POINT_NAME_new();
	size_t i;

	if (dpn == NULL || (dpn->name.fullname = sk_GENERAL_NAME_new_null()) == NULL)
		goto fail;
	dpn->type = 0;
	if (push_uri(dpn->name.fullname, url) != 0)
		goto fail;
	for (i = 0; i < n_more; i++)
		if (push_uri(dpn->name.fullname, more[i]) != 0)
			goto fail;
	return dpn;
fail:
	DIST_POINT_NAME_free(dpn);
	return NULL;
}

/* Freshest CRL (RFC 5280 §5.2.6): a distribution point with one URI. */
static X509_EXTENSION *freshest_ext(const char *url)
{
	CRL_DIST_POINTS *cdp = sk_DIST_POINT_new_null();
	DIST_POINT *dp = DIST_POINT_new();
	X509_EXTENSION *ext = NULL;

	if (cdp == NULL || dp == NULL || (dp->distpoint = dp_name_uris(url, NULL, 0)) == NULL ||
	    !sk_DIST_POINT_push(cdp, dp))
		goto out;
	dp = NULL;
	ext = X509V3_EXT_i2d(NID_freshest_crl, 0, cdp);
out:
	DIST_POINT_free(dp);
	sk_DIST_POINT_pop_free(cdp, DIST_POINT_free);
	return ext;
}

/* Issuing Distribution Point of a shard CRL (RFC 5280 §5.2.5), critical: its scope is
 * the end-entity certificates whose distribution point is one of its URLs (the shard's
 * under the current public URL and under each earlier one). */
static X509_EXTENSION *idp_ext(const crl_params_t *p)
{
	ISSUING_DIST_POINT *idp = ISSUING_DIST_POINT_new();
	X509_EXTENSION *ext = NULL;

	if (idp == NULL ||
	    (idp->distpoint = dp_name_uris(p->idp_url, p->idp_more, p->n_idp_more)) == NULL)
		goto out;
	idp->onlyuser = 1; /* ASN1_FBOOLEAN: encoded as TRUE when non-zero */
	ext = X509V3_EXT_i2d(NID_issuing_distribution_point, 1, idp);
out:
	ISSUING_DIST_POINT_free(idp);
	return ext;
}

static int encode_parts(const crl_params_t *p, struct parts *pt, cairn_err_t *err)
{
	X509_ALGOR *alg = X509_ALGOR_new();
	ASN1_TIME *t = NULL;
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *ext = NULL;
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(p->cert);
	int ec = EVP_PKEY_is_a(p->key, "EC"), sig_nid = NID_undef, rc = CAIRN_ECRYPTO;

	pt->md = ec && EVP_PKEY_get_bits(p->key) > 256 ? EVP_sha384() : EVP_sha256();
	if (!ec && !EVP_PKEY_is_a(p->key, "RSA")) {
		rc = cairn_err_set(err, CAIRN_EINVAL, "crl: issuer key must be EC or RSA");
		goto out;
	}
	if (alg == NULL || akid == NULL || num == NULL || exts == NULL || ski == NULL ||
	    !OBJ_find_sigid_by_algs(&sig_nid, EVP_MD_get_type(pt->md),
				    ec ? NID_X9_62_id_ecPublicKey : NID_rsaEncryption) ||
	    !X509_ALGOR_set0(alg, OBJ_nid2obj(sig_nid), ec ? V_ASN1_UNDEF : V_ASN1_NULL, NULL) ||
	    (pt->alg_len = i2d_X509_ALGOR(alg, &pt->alg)) <= 0 ||
	    (pt->name_len = i2d_X509_NAME(X509_get_subject_name(p->cert), &pt->name)) <= 0 ||
	    (t = ASN1_TIME_set(NULL, (time_t)p->this_update)) == NULL ||
	    (pt->tu_len = i2d_ASN1_TIME(t, &pt->tu)) <= 0 ||
	    ASN1_TIME_set(t, (time_t)p->next_update) == NULL ||
	    (pt->nu_len = i2d_ASN1_TIME(t, &pt->nu)) <= 0)
		goto fail;
	if ((akid->keyid = ASN1_OCTET_STRING_dup(ski)) == NULL ||
	    (ext = X509V3_EXT_i2d(NID_authority_key_identifier, 0, akid)) == NULL ||
	    !sk_X509_EXTENSION_push(exts, ext))
		goto fail;
	ext = NULL;
	if (!ASN1_INTEGER_set_uint64(num, p->number) ||
	    (ext = X509V3_EXT_i2d(NID_crl_number, 0, num)) == NULL ||
	    !sk_X509_EXTENSION_push(exts, ext))
		goto fail;
	ext = NULL;
	if (p->delta_base != 0 &&
	    (!ASN1_INTEGER_set_uint64(num, p->delta_base) ||
	     (ext = X509V3_EXT_i2d(NID_delta_crl, 1, num)) == NULL ||
	     !sk_X509_EXTENSION_push(exts, ext)))
		goto fail;
	ext = NULL;
	if (p->delta_base == 0 && p->freshest_url != NULL &&
	    ((ext = freshest_ext(p->freshest_url)) == NULL || !sk_X509_EXTENSION_push(exts, ext)))
		goto fail;
	ext = NULL;
	if (p->idp_url != NULL &&
	    ((ext = idp_ext(p)) == NULL || !sk_X509_EXTENSION_push(exts, ext)))
		goto fail;
	ext = NULL;
	if ((pt->exts_len = i2d_X509_EXTENSIONS(exts, &pt->exts)) <= 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	rc = cairn_err_ssl(err, CAIRN_ECRYPTO, "crl: encoding the %s CRL header failed", p->issuer);
out:
	X509_EXTENSION_free(ext);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	ASN1_INTEGER_free(num);
	AUTHORITY_KEYID_free(akid);
	ASN1_TIME_free(t);
	X509_ALGOR_free(alg);
	return rc;
}

static uint8_t *put(uint8_t *q, const void *src, int n)
{
	memcpy(q, src, (size_t)n);
	return q + n;
}

/* Bytes reserved in front of the entries: outer and TBS SEQUENCE headers, version,
 * algorithm, issuer, times and the entry list's header (a header is at most 10 bytes). */
static size_t head_size(const struct parts *pt)
{
	return 10 + 10 + 3 + (size_t)pt->alg_len + (size_t)pt->name_len + (size_t)pt->tu_len +
	       (size_t)pt->nu_len + 10;
}

/* Writes the header in front of b's entries, the extensions after them, signs, and moves
 * the CRL to the start of b->buf: *len its size. */
static int finish(struct builder *b, const struct parts *pt, size_t *len, cairn_err_t *err)
{
	const crl_params_t *p = b->p;
	size_t list = b->used - b->head, list_len = b->entries > 0 ? crl_der_tlv_size(list) : 0;
	size_t tbs_content = 3 + (size_t)pt->alg_len + (size_t)pt->name_len + (size_t)pt->tu_len +
			     (size_t)pt->nu_len + list_len + crl_der_tlv_size((size_t)pt->exts_len);
	size_t tbs_len = crl_der_tlv_size(tbs_content);
	size_t pre = tbs_len - tbs_content + 3 + (size_t)pt->alg_len + (size_t)pt->name_len +
		     (size_t)pt->tu_len + (size_t)pt->nu_len + (list_len - list);
	size_t sig_max = (size_t)EVP_PKEY_get_size(p->key), sig_len = sig_max, tbs_at, outer, start;
	EVP_MD_CTX *mctx = NULL;
	uint8_t *tbs, *q;
	int rc;

	if (pre + 10 > b->head)
		return cairn_err_set(err, CAIRN_EINVAL, "crl: internal size mismatch");
	/* After the entries: extensions, then signatureAlgorithm and the signature. */
	if (reserve(b, crl_der_tlv_size((size_t)pt->exts_len) + (size_t)pt->alg_len + 1 + 5 + 1 +
			       sig_max) != 0)
		return cairn_err_set(err, CAIRN_ENOMEM, "crl: no memory for the %s CRL", p->issuer);
	tbs_at = b->head - pre;
	tbs = q = b->buf + tbs_at;
	q = crl_der_hdr(q, 0x30, tbs_content);
	*q++ = 0x02, *q++ = 0x01, *q++ = 0x01; /* version v2 */
	q = put(q, pt->alg, pt->alg_len);
	q = put(q, pt->name, pt->name_len);
	q = put(q, pt->tu, pt->tu_len);
	q = put(q, pt->nu, pt->nu_len);
	if (b->entries > 0)
		q = crl_der_hdr(q, 0x30, list);
	if (q != b->buf + b->head)
		return cairn_err_set(err, CAIRN_EINVAL, "crl: internal size mismatch");
	q = b->buf + b->used;
	q = crl_der_hdr(q, 0xa0, (size_t)pt->exts_len);
	q = put(q, pt->exts, pt->exts_len);
	if ((size_t)(q - tbs) != tbs_len)
		return cairn_err_set(err, CAIRN_EINVAL, "crl: internal size mismatch");
	q = put(q, pt->alg, pt->alg_len);
	mctx = EVP_MD_CTX_new();
	if (mctx == NULL || EVP_DigestSignInit(mctx, NULL, pt->md, NULL, p->key) != 1 ||
	    EVP_DigestSign(mctx, q + 1 + 5 + 1, &sig_len, tbs, tbs_len) != 1) {
		rc = cairn_err_ssl(err, CAIRN_ECRYPTO, "crl: signing the %s CRL failed", p->issuer);
		EVP_MD_CTX_free(mctx);
		return rc;
	}
	EVP_MD_CTX_free(mctx);
	/* The signature was written after a maximal header: move it behind the real one. */
	{
		uint8_t *sig = q + 1 + 5 + 1, *h = crl_der_hdr(q, 0x03, sig_len + 1);
		*h++ = 0; /* no unused bits */
		memmove(h, sig, sig_len);
		q = h + sig_len;
	}
	outer = (size_t)(q - tbs);
	start = tbs_at - (crl_der_tlv_size(outer) - outer);
	crl_der_hdr(b->buf + start, 0x30, outer);
	*len = (size_t)(q - b->buf) - start;
	memmove(b->buf, b->buf + start, *len);
	return 0;
}

static int check_params(const crl_params_t *p)
{
	return p != NULL && p->issuer != NULL && p->cert != NULL && p->key != NULL &&
	       p->next_update > p->this_update &&
	       (p->idp_url == NULL || (p->shard >= 0 && p->shard < UTIL_SHARDS_MAX)) &&
	       (p->n_idp_more == 0 || (p->idp_url != NULL && p->idp_more != NULL));
}

int crl_build_set(db_txn_t *txn, const crl_params_t *const *ps, size_t n, uint8_t **der,
		  size_t *len, crl_stats_t *stats, cairn_err_t *err)
{
	struct builder *bs = NULL;
	struct parts *pts = NULL;
	struct walk w = { 0 };
	int route[UTIL_SHARDS_MAX];
	size_t i;
	int rc = 0;

	for (i = 0; i < n; i++)
		der[i] = NULL;
	for (i = 0; i < UTIL_SHARDS_MAX; i++)
		route[i] = -1;
	if (txn == NULL || n == 0 || n > INT_MAX)
		return cairn_err_set(err, CAIRN_EINVAL, "crl_build: bad parameters");
	for (i = 0; i < n; i++) {
		if (!check_params(ps[i]) || strcmp(ps[i]->issuer, ps[0]->issuer) != 0 ||
		    (ps[i]->idp_url != NULL && route[ps[i]->shard] >= 0))
			return cairn_err_set(err, CAIRN_EINVAL, "crl_build: bad parameters");
		if (ps[i]->idp_url != NULL)
			route[ps[i]->shard] = (int)i;
	}
	if ((bs = calloc(n, sizeof(*bs))) == NULL || (pts = calloc(n, sizeof(*pts))) == NULL) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		bs[i].p = ps[i];
		if ((rc = encode_parts(ps[i], &pts[i], err)) != 0)
			goto out;
		bs[i].head = bs[i].used = head_size(&pts[i]);
		if (reserve(&bs[i], 0) != 0) {
			rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
			goto out;
		}
	}
	/* The one walk. */
	w.bs = bs;
	w.n = n;
	w.route = route;
	if ((rc = db_revocations(txn, ps[0]->issuer, walk_cb, &w)) != 0) {
		if (w.failed != 0)
			cairn_err_set(err, rc, "crl: no memory for the %s CRLs", ps[0]->issuer);
		else
			cairn_err_set(err, rc, "crl: reading the revoked index of %s: %s",
				      ps[0]->issuer, cairn_strerror(rc));
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((rc = finish(&bs[i], &pts[i], &len[i], err)) != 0)
			goto out;
		if (stats != NULL) {
			stats[i].entries = bs[i].entries;
			stats[i].skipped_expired = bs[i].skipped;
		}
	}
	for (i = 0; i < n; i++) {
		uint8_t *shrunk = realloc(bs[i].buf, len[i]);
		der[i] = shrunk != NULL ? shrunk : bs[i].buf;
		bs[i].buf = NULL;
	}
out:
	for (i = 0; bs != NULL && i < n; i++)
		free(bs[i].buf);
	for (i = 0; pts != NULL && i < n; i++)
		parts_free(&pts[i]);
	free(bs);
	free(pts);
	return rc;
}

int crl_build(db_txn_t *txn, const crl_params_t *p, uint8_t **der, size_t *len, crl_stats_t *stats,
	      cairn_err_t *err)
{
	*der = NULL;
	if (!check_params(p))
		return cairn_err_set(err, CAIRN_EINVAL, "crl_build: bad parameters");
	return crl_build_set(txn, &p, 1, der, len, stats, err);
}
