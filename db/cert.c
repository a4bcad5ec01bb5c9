/* SPDX-License-Identifier: MIT */
/* Certificate records, their binary encoding, and the expiry/name/revoked indexes. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_int.h"

/*
 * Record layout (version 1), all integers big-endian:
 *   [0] version  [1] status  [2..9] not_before  [10..17] not_after
 *   [18..25] revoked_at  [26] reason (0xff = none)
 *   then issuer, profile, requester, subject as u16 length + bytes,
 *   then DER as u32 length + bytes.
 * Status, revoked_at and reason sit at fixed offsets so revocation patches in place.
 */
#define REC_VERSION 1
#define REC_OFF_STATUS 1
#define REC_OFF_REVOKED_AT 18
#define REC_OFF_REASON 26
#define REC_FIXED 27
#define REC_NO_REASON 0xff

static size_t field_len(const char *s, size_t cap)
{
	return strnlen(s, cap);
}

static uint8_t *put_str(uint8_t *p, const char *s, size_t n)
{
	p[0] = (uint8_t)(n >> 8);
	p[1] = (uint8_t)n;
	memcpy(p + 2, s, n);
	return p + 2 + n;
}

static int rec_encode(const db_cert_t *c, uint8_t **out, size_t *out_len)
{
	size_t li = field_len(c->issuer, sizeof(c->issuer));
	size_t lp = field_len(c->profile, sizeof(c->profile));
	size_t lr = field_len(c->requester, sizeof(c->requester));
	size_t ls = field_len(c->subject, sizeof(c->subject));
	size_t n = REC_FIXED + 8 + li + lp + lr + ls + 4 + c->der_len;
	uint8_t *buf, *p;

	if (c->der_len > UINT32_MAX || (c->der == NULL && c->der_len > 0))
		return CAIRN_EINVAL;
	buf = malloc(n);
	if (buf == NULL)
		return CAIRN_ENOMEM;
	buf[0] = REC_VERSION;
	buf[REC_OFF_STATUS] = (uint8_t)c->status;
	db_be64_put(buf + 2, (uint64_t)c->not_before);
	db_be64_put(buf + 10, (uint64_t)c->not_after);
	db_be64_put(buf + REC_OFF_REVOKED_AT, (uint64_t)c->revoked_at);
	buf[REC_OFF_REASON] = c->reason < 0 ? REC_NO_REASON : (uint8_t)c->reason;
	p = buf + REC_FIXED;
	p = put_str(p, c->issuer, li);
	p = put_str(p, c->profile, lp);
	p = put_str(p, c->requester, lr);
	p = put_str(p, c->subject, ls);
	p[0] = (uint8_t)(c->der_len >> 24);
	p[1] = (uint8_t)(c->der_len >> 16);
	p[2] = (uint8_t)(c->der_len >> 8);
	p[3] = (uint8_t)c->der_len;
	if (c->der_len > 0)
		memcpy(p + 4, c->der, c->der_len);
	*out = buf;
	*out_len = n;
	return 0;
}

static int get_str(const uint8_t **p, const uint8_t *end, char *dst, size_t cap)
{
	size_t n;

	if (end - *p < 2)
		return CAIRN_EDB;
	n = ((size_t)(*p)[0] << 8) | (*p)[1];
	if ((size_t)(end - *p - 2) < n || n >= cap || memchr(*p + 2, 0, n) != NULL)
		return CAIRN_EDB;
	memcpy(dst, *p + 2, n);
	dst[n] = '\0';
	*p += 2 + n;
	return 0;
}

static int rec_decode(const uint8_t *serial, size_t slen, const uint8_t *v, size_t vlen,
		      db_cert_t *c)
{
	const uint8_t *p = v + REC_FIXED, *end = v + vlen;
	size_t der_len;

	memset(c, 0, sizeof(*c));
	if (vlen < REC_FIXED || v[0] != REC_VERSION || slen == 0 || slen > DB_SERIAL_MAX)
		return CAIRN_EDB;
	memcpy(c->serial, serial, slen);
	c->serial_len = slen;
	c->status = v[REC_OFF_STATUS];
	c->not_before = (int64_t)db_be64_get(v + 2);
	c->not_after = (int64_t)db_be64_get(v + 10);
	c->revoked_at = (int64_t)db_be64_get(v + REC_OFF_REVOKED_AT);
	c->reason = v[REC_OFF_REASON] == REC_NO_REASON ? -1 : v[REC_OFF_REASON];
	if (get_str(&p, end, c->issuer, sizeof(c->issuer)) != 0 ||
	    get_str(&p, end, c->profile, sizeof(c->profile)) != 0 ||
	    get_str(&p, end, c->requester, sizeof(c->requester)) != 0 ||
	    get_str(&p, end, c->subject, sizeof(c->subject)) != 0 || end - p < 4)
		return CAIRN_EDB;
	der_len = ((size_t)p[0] << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
	if ((size_t)(end - p - 4) != der_len)
		return CAIRN_EDB;
	c->der = der_len > 0 ? p + 4 : NULL;
	c->der_len = der_len;
	return 0;
}

/* lowercase(name) || 0x00 || serial into key (DB_NAME_MAX + 1 + DB_SERIAL_MAX bytes). */
static size_t name_key(uint8_t *key, const char *name, size_t nlen, const uint8_t *serial,
		       size_t slen)
{
	size_t i;

	for (i = 0; i < nlen; i++)
		key[i] = (uint8_t)tolower((unsigned char)name[i]);
	key[nlen] = 0;
	if (slen > 0)
		memcpy(key + nlen + 1, serial, slen);
	return nlen + 1 + slen;
}

/* The name reversed and lower-cased || 0x00 || serial: a suffix is a prefix here. */
static size_t rname_key(uint8_t *key, const char *name, size_t nlen, const uint8_t *serial,
			size_t slen)
{
	size_t i;

	for (i = 0; i < nlen; i++)
		key[i] = (uint8_t)tolower((unsigned char)name[nlen - 1 - i]);
	key[nlen] = 0;
	if (slen > 0)
		memcpy(key + nlen + 1, serial, slen);
	return nlen + 1 + slen;
}

/* issuer || 0x00 || serial */
static size_t revoked_key(uint8_t *key, const char *issuer, const uint8_t *serial, size_t slen)
{
	size_t n = strnlen(issuer, 31);

	memcpy(key, issuer, n);
	key[n] = 0;
	memcpy(key + n + 1, serial, slen);
	return n + 1 + slen;
}

/*
 * Revoked index value: revoked_at (BE64) || reason (1 byte), then (version 2)
 * invalidity date (BE64, 0 = none) || notAfter (BE64). Walks accept both sizes.
 */
#define REV_VAL_V1 9
#define REV_VAL_V2 25

static void revoked_val(uint8_t v[REV_VAL_V2], int64_t when, int reason, int64_t invalidity,
			int64_t not_after)
{
	db_be64_put(v, (uint64_t)when);
	v[8] = reason < 0 ? 0 : (uint8_t)reason;
	db_be64_put(v + 9, (uint64_t)invalidity);
	db_be64_put(v + 17, (uint64_t)not_after);
}

/* meta "revoked_last/ISSUER": the latest revocation (or release) time in issuer's part of
 * the revoked index (BE64), kept in the change's own txn: a CRL adopted at start-up asks
 * whether anything changed since its thisUpdate with one read instead of a walk. */
static size_t last_key(char *out, size_t cap, const char *issuer)
{
	int n = snprintf(out, cap, "revoked_last/%.31s", issuer);

	return n < 0 ? 0 : (size_t)n;
}

int db_revoked_last_note(db_txn_t *txn, const char *issuer, int64_t when)
{
	char key[64];
	uint8_t v[8];
	const void *old;
	size_t klen = last_key(key, sizeof(key), issuer), olen;

	if (issuer == NULL || issuer[0] == '\0')
		return CAIRN_EINVAL;
	if (db_get(txn, DB_META, key, klen, &old, &olen) == 0 && olen == 8 &&
	    (int64_t)db_be64_get(old) >= when)
		return 0;
	db_be64_put(v, (uint64_t)when);
	return db_put(txn, DB_META, key, klen, v, sizeof(v), 0);
}

int db_revoked_last(db_txn_t *txn, const char *issuer, int64_t *out)
{
	char key[64];
	const void *v;
	size_t vlen;
	int rc;

	if (issuer == NULL || issuer[0] == '\0' || out == NULL)
		return CAIRN_EINVAL;
	if ((rc = db_get(txn, DB_META, key, last_key(key, sizeof(key), issuer), &v, &vlen)) != 0)
		return rc;
	if (vlen != 8)
		return CAIRN_EDB;
	*out = (int64_t)db_be64_get(v);
	return 0;
}

int db_cert_put(db_txn_t *txn, const db_cert_t *c, const char *const *names, size_t n_names)
{
	uint8_t key[DB_NAME_MAX + 1 + DB_SERIAL_MAX];
	uint8_t *rec = NULL;
	size_t rlen, i;
	int ret;

	if (txn == NULL || c == NULL || c->serial_len == 0 || c->serial_len > DB_SERIAL_MAX ||
	    c->not_after < 0 || (names == NULL && n_names > 0))
		return CAIRN_EINVAL;
	for (i = 0; i < n_names; i++) {
		size_t nl = names[i] != NULL ? strlen(names[i]) : 0;
		if (nl == 0)
			return CAIRN_EINVAL;
		if (nl > DB_NAME_MAX)
			return CAIRN_ETOOBIG;
	}
	ret = rec_encode(c, &rec, &rlen);
	if (ret != 0)
		goto out;
	ret = db_put(txn, DB_CERTS, c->serial, c->serial_len, rec, rlen, DB_NOOVERWRITE);
	if (ret == CAIRN_EEXIST)
		ret = CAIRN_ECOLLISION;
	if (ret != 0)
		goto out;
	db_be64_put(key, (uint64_t)c->not_after);
	memcpy(key + 8, c->serial, c->serial_len);
	ret = db_put(txn, DB_BY_EXPIRY, key, 8 + c->serial_len, NULL, 0, 0);
	for (i = 0; ret == 0 && i < n_names; i++) {
		size_t kl = name_key(key, names[i], strlen(names[i]), c->serial, c->serial_len);
		ret = db_put(txn, DB_BY_NAME, key, kl, NULL, 0, 0);
		if (ret == 0) {
			kl = rname_key(key, names[i], strlen(names[i]), c->serial, c->serial_len);
			ret = db_put(txn, DB_BY_RNAME, key, kl, NULL, 0, 0);
		}
	}
	if (ret == 0 && c->status == DB_CERT_REVOKED) {
		uint8_t val[REV_VAL_V2];
		size_t kl = revoked_key(key, c->issuer, c->serial, c->serial_len);
		revoked_val(val, c->revoked_at, c->reason, 0, c->not_after);
		ret = db_put(txn, DB_REVOKED, key, kl, val, sizeof(val), 0);
		if (ret == 0)
			ret = db_revoked_last_note(txn, c->issuer, c->revoked_at);
	}
	if (ret == 0)
		ret = db_requester_put(txn, c);
	if (ret == 0)
		ret = db_stats_cert_added(txn, c);
	if (ret == 0) { /* its first OCSP answer (SHA-1 CertID, ocsp/) is due now */
		memset(key, 0, 8);
		memcpy(key + 8, c->serial, c->serial_len);
		key[8 + c->serial_len] = 1;
		ret = db_put(txn, DB_OCSP_DUE, key, 9 + c->serial_len, NULL, 0, 0);
	}
out:
	free(rec);
	return ret;
}

int db_cert_get(db_txn_t *txn, const uint8_t *serial, size_t len, db_cert_t *out)
{
	const void *v;
	size_t vlen;
	int ret;

	if (serial == NULL || len == 0 || len > DB_SERIAL_MAX || out == NULL)
		return CAIRN_EINVAL;
	ret = db_get(txn, DB_CERTS, serial, len, &v, &vlen);
	if (ret != 0)
		return ret;
	return rec_decode(serial, len, v, vlen, out);
}

int db_cert_revoke(db_txn_t *txn, const uint8_t *serial, size_t len, int64_t when, int reason)
{
	return db_cert_revoke_ex(txn, serial, len, when, reason, 0);
}

int db_cert_revoke_ex(db_txn_t *txn, const uint8_t *serial, size_t len, int64_t when, int reason,
		      int64_t invalidity_date)
{
	uint8_t key[32 + DB_SERIAL_MAX], val[REV_VAL_V2];
	uint8_t *rec = NULL;
	db_cert_t c;
	const void *v;
	size_t vlen, kl;
	int ret;

	if (reason < 0 || reason > 10 || reason == 7 || reason == 8 || serial == NULL || len == 0 ||
	    len > DB_SERIAL_MAX)
		return CAIRN_EINVAL;
	ret = db_get(txn, DB_CERTS, serial, len, &v, &vlen);
	if (ret != 0)
		return ret;
	ret = rec_decode(serial, len, v, vlen, &c);
	if (ret != 0)
		return ret;
	if (c.status == DB_CERT_REVOKED)
		return CAIRN_EEXIST;
	/* Copy before writing: v points into the map page the put may rewrite. */
	rec = malloc(vlen);
	if (rec == NULL)
		return CAIRN_ENOMEM;
	memcpy(rec, v, vlen);
	rec[REC_OFF_STATUS] = DB_CERT_REVOKED;
	db_be64_put(rec + REC_OFF_REVOKED_AT, (uint64_t)when);
	rec[REC_OFF_REASON] = (uint8_t)reason;
	ret = db_put(txn, DB_CERTS, serial, len, rec, vlen, 0);
	if (ret != 0)
		goto out;
	kl = revoked_key(key, c.issuer, serial, len);
	revoked_val(val, when, reason, invalidity_date, c.not_after);
	ret = db_put(txn, DB_REVOKED, key, kl, val, sizeof(val), 0);
	if (ret == 0)
		ret = db_revoked_last_note(txn, c.issuer, when);
	if (ret == 0)
		ret = db_stats_cert_status(txn, &c, DB_CERT_REVOKED, reason);
out:
	free(rec);
	return ret;
}

int db_cert_unhold(db_txn_t *txn, const uint8_t *serial, size_t len, int64_t when)
{
	uint8_t key[32 + DB_SERIAL_MAX], val[REV_VAL_V2];
	uint8_t *rec = NULL;
	db_cert_t c;
	const void *v;
	size_t vlen;
	int ret;

	if (serial == NULL || len == 0 || len > DB_SERIAL_MAX)
		return CAIRN_EINVAL;
	ret = db_get(txn, DB_CERTS, serial, len, &v, &vlen);
	if (ret != 0)
		return ret;
	ret = rec_decode(serial, len, v, vlen, &c);
	if (ret != 0)
		return ret;
	if (c.status != DB_CERT_REVOKED || c.reason != 6)
		return CAIRN_EINVAL;
	rec = malloc(vlen);
	if (rec == NULL)
		return CAIRN_ENOMEM;
	memcpy(rec, v, vlen);
	rec[REC_OFF_STATUS] = DB_CERT_VALID;
	db_be64_put(rec + REC_OFF_REVOKED_AT, 0);
	rec[REC_OFF_REASON] = REC_NO_REASON;
	ret = db_put(txn, DB_CERTS, serial, len, rec, vlen, 0);
	/* The index keeps a removeFromCRL (8) entry for delta CRLs; full CRLs skip it. */
	revoked_val(val, when, 8, 0, c.not_after);
	if (ret == 0)
		ret = db_put(txn, DB_REVOKED, key, revoked_key(key, c.issuer, serial, len), val,
			     sizeof(val), 0);
	if (ret == 0)
		ret = db_revoked_last_note(txn, c.issuer, when);
	if (ret == 0)
		ret = db_stats_cert_status(txn, &c, DB_CERT_VALID, -1);
	free(rec);
	return ret;
}

/* ---- walks ---- */

struct walk {
	db_txn_t *txn;
	db_cert_fn fn;
	void *arg;
	const uint8_t *prefix; /* key prefix that must match (exact name / issuer) */
	size_t plen;
	int64_t until;         /* expiry walk bound */
	const char *suffix;    /* lower-cased suffix walk */
	size_t sfx_len;
	uint8_t (*found)[DB_SERIAL_MAX + 1]; /* suffix walk: [0] = length, then serial */
	size_t n_found, cap_found;
	db_revoked_fn rfn;
	db_revocation_fn xfn;
	int ended;             /* the walk left its range (not a stop by the callback) */
	db_cursor_t *pos;      /* paged walks: the key of the row reported (may be NULL) */
	int skip_first;        /* the walk starts at pos's key, which was reported before */
	int reversed;          /* pos->name: the key's name is reversed (by_rname) */
};

/* Records key (and, for a name walk, its name: the bytes before the NUL) in w->pos.
 * Returns 1 when key is the position the walk resumed at (already reported). */
static int walk_at(struct walk *w, const uint8_t *key, size_t klen, int named)
{
	const uint8_t *nul;
	size_t i, n;

	if (w->skip_first) {
		w->skip_first = 0;
		if (w->pos != NULL && klen == w->pos->len && memcmp(key, w->pos->key, klen) == 0)
			return 1;
	}
	if (w->pos == NULL || klen > DB_CURSOR_MAX)
		return 0;
	memcpy(w->pos->key, key, klen);
	w->pos->len = klen;
	w->pos->name[0] = '\0';
	if (named && (nul = memchr(key, 0, klen)) != NULL && (n = (size_t)(nul - key)) <= DB_NAME_MAX) {
		for (i = 0; i < n; i++)
			w->pos->name[i] = (char)(w->reversed ? key[n - 1 - i] : key[i]);
		w->pos->name[n] = '\0';
	}
	return 0;
}

/* Ends a range walk: the caller maps this back to 0 when w->ended is set. */
static int walk_end(struct walk *w)
{
	w->ended = 1;
	return 1;
}

static int walk_result(const struct walk *w, int ret)
{
	return w->ended && ret == 1 ? 0 : ret;
}

static int emit(struct walk *w, const uint8_t *serial, size_t slen)
{
	db_cert_t c;
	int ret = db_cert_get(w->txn, serial, slen, &c);

	if (ret == CAIRN_ENOENT || ret == CAIRN_EINVAL)
		return CAIRN_EDB; /* an index entry without its record: corrupt */
	if (ret != 0)
		return ret;
	return w->fn(&c, w->arg);
}

static int expiry_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct walk *w = arg;
	(void)val;
	(void)vlen;

	if (klen < 9)
		return CAIRN_EDB;
	if ((int64_t)db_be64_get(key) >= w->until)
		return walk_end(w);
	if (walk_at(w, key, klen, 0))
		return 0;
	return emit(w, (const uint8_t *)key + 8, klen - 8);
}

int db_certs_by_expiry(db_txn_t *txn, int64_t from, int64_t until, db_cert_fn fn, void *arg)
{
	return db_certs_by_expiry_at(txn, from, until, NULL, fn, arg);
}

int db_certs_by_expiry_at(db_txn_t *txn, int64_t from, int64_t until, db_cursor_t *pos,
			  db_cert_fn fn, void *arg)
{
	struct walk w = { .txn = txn, .fn = fn, .arg = arg, .until = until, .pos = pos };
	uint8_t start[8];
	int ret;

	if (fn == NULL)
		return CAIRN_EINVAL;
	if (pos != NULL && pos->len > 0 && (pos->len < 9 || pos->len > 8 + DB_SERIAL_MAX))
		return CAIRN_EINVAL;
	if (until <= from || until <= 0)
		return 0;
	db_be64_put(start, (uint64_t)(from < 0 ? 0 : from));
	if (pos != NULL && pos->len > 0 && memcmp(pos->key, start, 8) >= 0) {
		w.skip_first = 1;
		ret = db_iterate(txn, DB_BY_EXPIRY, pos->key, pos->len, expiry_cb, &w);
	} else {
		ret = db_iterate(txn, DB_BY_EXPIRY, start, sizeof(start), expiry_cb, &w);
	}
	return walk_result(&w, ret);
}

static int prefix_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct walk *w = arg;
	(void)val;
	(void)vlen;

	if (klen <= w->plen || memcmp(key, w->prefix, w->plen) != 0)
		return walk_end(w);
	if (walk_at(w, key, klen, 1))
		return 0;
	return emit(w, (const uint8_t *)key + w->plen, klen - w->plen);
}

/* Paged suffix walk: each by_rname (or, on an older database, by_name) entry whose name
 * ends in the suffix, reported in index order. */
static int rsuffix_emit_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct walk *w = arg;
	const uint8_t *k = key, *nul;
	(void)val;
	(void)vlen;

	if (klen <= w->plen || memcmp(k, w->prefix, w->plen) != 0)
		return walk_end(w);
	if ((nul = memchr(k + w->plen, 0, klen - w->plen)) == NULL || klen == (size_t)(nul + 1 - k))
		return CAIRN_EDB;
	if (walk_at(w, key, klen, 1))
		return 0;
	return emit(w, nul + 1, klen - (size_t)(nul + 1 - k));
}

static int suffix_emit_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct walk *w = arg;
	const uint8_t *k = key, *nul = memchr(k, 0, klen);
	size_t nlen;
	(void)val;
	(void)vlen;

	if (nul == NULL || klen == (size_t)(nul + 1 - k))
		return CAIRN_EDB;
	nlen = (size_t)(nul - k);
	if (walk_at(w, key, klen, 1))
		return 0;
	if (nlen < w->sfx_len || memcmp(k + nlen - w->sfx_len, w->suffix, w->sfx_len) != 0)
		return 0;
	return emit(w, nul + 1, klen - nlen - 1);
}

int db_certs_by_name_at(db_txn_t *txn, const char *name, db_cursor_t *pos, db_cert_fn fn,
			void *arg)
{
	struct walk w = { .txn = txn, .fn = fn, .arg = arg, .pos = pos };
	uint8_t key[DB_NAME_MAX + 1 + DB_SERIAL_MAX];
	char lower[DB_NAME_MAX + 1];
	const void *start;
	size_t nlen, slen, i;
	db_table_t t;
	db_iter_fn cb;

	if (pos == NULL)
		return db_certs_by_name(txn, name, fn, arg);
	if (name == NULL || fn == NULL || pos->len > DB_CURSOR_MAX)
		return CAIRN_EINVAL;
	nlen = strlen(name);
	if (nlen == 0 || nlen > DB_NAME_MAX)
		return 0;
	if (name[0] != '.') {
		t = DB_BY_NAME;
		cb = prefix_cb;
		w.plen = name_key(key, name, nlen, NULL, 0);
	} else if (db_get(txn, DB_META, "by_rname", 8, NULL, NULL) == 0) {
		t = DB_BY_RNAME;
		cb = rsuffix_emit_cb;
		w.reversed = 1;
		w.plen = rname_key(key, name, nlen, NULL, 0) - 1;
	} else { /* older database: the whole name index, filtered (docs/scaling.md) */
		for (i = 0; i <= nlen; i++)
			lower[i] = (char)tolower((unsigned char)name[i]);
		t = DB_BY_NAME;
		cb = suffix_emit_cb;
		w.suffix = lower;
		w.sfx_len = nlen;
		w.plen = 0;
	}
	w.prefix = key;
	start = w.plen > 0 ? key : NULL;
	slen = w.plen;
	if (pos->len > 0) {
		if (pos->len <= w.plen || memcmp(pos->key, key, w.plen) != 0)
			return CAIRN_EINVAL; /* a position of another search */
		w.skip_first = 1;
		start = pos->key;
		slen = pos->len;
	}
	return walk_result(&w, db_iterate(txn, t, start, slen, cb, &w));
}

/* Keeps the serial of a name index entry (name || 0x00 || serial) for the suffix walk. */
static int found_add(struct walk *w, const uint8_t *serial, size_t slen)
{
	if (slen == 0 || slen > DB_SERIAL_MAX)
		return CAIRN_EDB;
	if (w->n_found == w->cap_found) {
		size_t cap = w->cap_found ? 2 * w->cap_found : 64;
		void *p = realloc(w->found, cap * sizeof(*w->found));
		if (p == NULL)
			return CAIRN_ENOMEM;
		w->found = p;
		w->cap_found = cap;
	}
	w->found[w->n_found][0] = (uint8_t)slen;
	memcpy(&w->found[w->n_found][1], serial, slen);
	w->n_found++;
	return 0;
}

/* by_rname entries under the reversed suffix: every name ending in it. */
static int rsuffix_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct walk *w = arg;
	const uint8_t *k = key, *nul;
	(void)val;
	(void)vlen;

	if (klen <= w->plen || memcmp(k, w->prefix, w->plen) != 0)
		return walk_end(w);
	if ((nul = memchr(k + w->plen, 0, klen - w->plen)) == NULL)
		return CAIRN_EDB;
	return found_add(w, nul + 1, klen - (size_t)(nul + 1 - k));
}

static int suffix_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct walk *w = arg;
	const uint8_t *k = key, *nul = memchr(k, 0, klen);
	size_t nlen, slen;
	(void)val;
	(void)vlen;

	if (nul == NULL)
		return CAIRN_EDB;
	nlen = (size_t)(nul - k);
	slen = klen - nlen - 1;
	if (slen == 0 || slen > DB_SERIAL_MAX)
		return CAIRN_EDB;
	if (nlen < w->sfx_len || memcmp(k + nlen - w->sfx_len, w->suffix, w->sfx_len) != 0)
		return 0;
	return found_add(w, nul + 1, slen);
}

static int serial_cmp(const void *a, const void *b)
{
	const uint8_t *x = a, *y = b;
	size_t n = x[0] < y[0] ? x[0] : y[0];
	int c = memcmp(x + 1, y + 1, n);

	return c != 0 ? c : (int)x[0] - (int)y[0];
}

int db_certs_by_name(db_txn_t *txn, const char *name, db_cert_fn fn, void *arg)
{
	struct walk w = { .txn = txn, .fn = fn, .arg = arg };
	uint8_t key[DB_NAME_MAX + 1 + DB_SERIAL_MAX];
	char lower[DB_NAME_MAX + 1];
	size_t nlen, i;
	int ret = 0;

	if (name == NULL || fn == NULL)
		return CAIRN_EINVAL;
	nlen = strlen(name);
	if (nlen == 0 || nlen > DB_NAME_MAX)
		return 0; /* such a name is never indexed */
	if (name[0] != '.') {
		w.prefix = key;
		w.plen = name_key(key, name, nlen, NULL, 0);
		ret = db_iterate(txn, DB_BY_NAME, key, w.plen, prefix_cb, &w);
		return walk_result(&w, ret);
	}
	/* Suffix: each certificate reported once, in serial order. */
	if (db_get(txn, DB_META, "by_rname", 8, NULL, NULL) == 0) {
		w.prefix = key;
		w.plen = rname_key(key, name, nlen, NULL, 0) - 1; /* no NUL: a prefix */
		ret = walk_result(&w, db_iterate(txn, DB_BY_RNAME, key, w.plen, rsuffix_cb, &w));
	} else { /* older database: no reversed entries for its first certificates */
		for (i = 0; i <= nlen; i++)
			lower[i] = (char)tolower((unsigned char)name[i]);
		w.suffix = lower;
		w.sfx_len = nlen;
		ret = db_iterate(txn, DB_BY_NAME, NULL, 0, suffix_cb, &w);
	}
	if (ret != 0)
		goto out;
	if (w.n_found > 1)
		qsort(w.found, w.n_found, sizeof(*w.found), serial_cmp);
	for (i = 0; i < w.n_found; i++) {
		if (i > 0 && serial_cmp(w.found[i - 1], w.found[i]) == 0)
			continue;
		ret = emit(&w, &w.found[i][1], w.found[i][0]);
		if (ret != 0)
			break;
	}
out:
	free(w.found);
	return ret;
}

static int all_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct walk *w = arg;
	db_cert_t c;
	int ret;

	if (walk_at(w, key, klen, 0))
		return 0;
	if ((ret = rec_decode(key, klen, val, vlen, &c)) != 0)
		return ret;
	return w->fn(&c, w->arg);
}

int db_certs_all(db_txn_t *txn, db_cert_fn fn, void *arg)
{
	return db_certs_all_at(txn, NULL, fn, arg);
}

int db_certs_all_at(db_txn_t *txn, db_cursor_t *pos, db_cert_fn fn, void *arg)
{
	struct walk w = { .txn = txn, .fn = fn, .arg = arg, .pos = pos };

	if (fn == NULL || (pos != NULL && pos->len > DB_SERIAL_MAX))
		return CAIRN_EINVAL;
	w.skip_first = pos != NULL && pos->len > 0;
	return db_iterate(txn, DB_CERTS, w.skip_first ? pos->key : NULL, w.skip_first ? pos->len : 0,
			  all_cb, &w);
}

static int revoked_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct walk *w = arg;
	const uint8_t *v = val;
	db_revocation_t r;

	if (klen <= w->plen || memcmp(key, w->prefix, w->plen) != 0)
		return walk_end(w);
	if (vlen != REV_VAL_V1 && vlen != REV_VAL_V2)
		return CAIRN_EDB;
	if (w->rfn != NULL)
		return w->rfn((const uint8_t *)key + w->plen, klen - w->plen,
			      (int64_t)db_be64_get(v), v[8], w->arg);
	r.serial = (const uint8_t *)key + w->plen;
	r.serial_len = klen - w->plen;
	r.revoked_at = (int64_t)db_be64_get(v);
	r.reason = v[8];
	r.invalidity_date = vlen == REV_VAL_V2 ? (int64_t)db_be64_get(v + 9) : 0;
	r.not_after = vlen == REV_VAL_V2 ? (int64_t)db_be64_get(v + 17) : 0;
	return w->xfn(&r, w->arg);
}

/* Walks issuer's part of the revoked index with w's callback. */
static int revoked_walk(db_txn_t *txn, const char *issuer, struct walk *w)
{
	uint8_t key[32];
	size_t n;

	if (issuer == NULL || (n = strlen(issuer)) == 0 || n > 31)
		return CAIRN_EINVAL;
	memcpy(key, issuer, n);
	key[n] = 0;
	w->prefix = key;
	w->plen = n + 1;
	return walk_result(w, db_iterate(txn, DB_REVOKED, key, w->plen, revoked_cb, w));
}

int db_revocations(db_txn_t *txn, const char *issuer, db_revocation_fn fn, void *arg)
{
	struct walk w = { .txn = txn, .xfn = fn, .arg = arg };

	return fn == NULL ? CAIRN_EINVAL : revoked_walk(txn, issuer, &w);
}

int db_revoked_get(db_txn_t *txn, const char *issuer, const uint8_t *serial, size_t len,
		   int64_t *when, int *reason)
{
	uint8_t key[32 + DB_SERIAL_MAX];
	const uint8_t *v;
	size_t vlen;
	int ret;

	if (issuer == NULL || issuer[0] == 0 || strlen(issuer) > 31 || serial == NULL ||
	    len == 0 || len > DB_SERIAL_MAX || when == NULL || reason == NULL)
		return CAIRN_EINVAL;
	ret = db_get(txn, DB_REVOKED, key, revoked_key(key, issuer, serial, len),
		     (const void **)&v, &vlen);
	if (ret != 0)
		return ret;
	if (vlen != REV_VAL_V1 && vlen != REV_VAL_V2)
		return CAIRN_EDB;
	*when = (int64_t)db_be64_get(v);
	*reason = v[8];
	return 0;
}

int db_revoked_by_issuer(db_txn_t *txn, const char *issuer, db_revoked_fn fn, void *arg)
{
	struct walk w = { .txn = txn, .rfn = fn, .arg = arg };

	return fn == NULL ? CAIRN_EINVAL : revoked_walk(txn, issuer, &w);
}

/* ---- renewal ---- */

/* Entries of one name's index read before the successor search moves to the next name. */
#define RENEW_PAGE 32

struct renew_find {
	const db_cert_t *c;
	const char *const *names;
	size_t n;
	db_txn_t *txn;
	int found;
	size_t in_page, page;
	int64_t after;
	int (*accept)(const db_cert_t *c2, void *arg);
	void *arg;
};

int db_cert_has_name(db_txn_t *txn, const char *name, const uint8_t *serial, size_t slen)
{
	uint8_t key[DB_NAME_MAX + 1 + DB_SERIAL_MAX];
	size_t nlen = name != NULL ? strlen(name) : 0;
	int rc;

	if (nlen == 0 || nlen > DB_NAME_MAX || slen == 0 || slen > DB_SERIAL_MAX)
		return 0;
	rc = db_get(txn, DB_BY_NAME, key, name_key(key, name, nlen, serial, slen), NULL, NULL);
	return rc == 0 ? 1 : rc == CAIRN_ENOENT ? 0 : rc;
}

/* 1 when c2 holds every one of f's names (its by_name entries). */
static int holds_all(const struct renew_find *f, const db_cert_t *c2)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (db_cert_has_name(f->txn, f->names[i], c2->serial, c2->serial_len) != 1)
			return 0;
	return 1;
}

/* A page of one name's walk: 1 on a successor, 2 at the end of the page (the walk
 * pauses there and resumes after c2, which has been checked). */
static int renew_check(const db_cert_t *c2, void *arg)
{
	struct renew_find *f = arg;

	if (c2->status == DB_CERT_VALID && c2->not_after > f->c->not_after &&
	    strcmp(c2->requester, f->c->requester) == 0 && c2->not_before >= f->after &&
	    (f->accept == NULL || f->accept(c2, f->arg)) && holds_all(f, c2)) {
		f->found = 1;
		return 1;
	}
	return ++f->in_page >= f->page ? 2 : 0;
}

int db_cert_renewed(db_txn_t *txn, const db_cert_t *c, const char *const *names, size_t n)
{
	return db_cert_successor(txn, c, names, n, INT64_MIN, NULL, NULL);
}

/*
 * A successor holds every one of the names, so the certificates of any one name are
 * enough to look through: the walks of all names go round in pages, and the search
 * ends when one name's walk ends. names[0] gets n times the page of the others, so the
 * cost is about the lesser of twice its own entries and 2n times the rarest name's.
 * Walking names[0] alone cost every certificate that ever held it, per certificate
 * checked: a name shared by many certificates (one service name in every host's
 * certificate) made the expiry scan read all of them for each.
 */
int db_cert_successor(db_txn_t *txn, const db_cert_t *c, const char *const *names, size_t n,
		      int64_t issued_after, int (*accept)(const db_cert_t *c2, void *arg),
		      void *arg)
{
	struct renew_find f = { c, names, n, txn, 0, 0, 0, issued_after, accept, arg };
	db_cursor_t *pos;
	size_t i, nl, walked = 0;
	int rc = 2;

	if (txn == NULL || c == NULL || (names == NULL && n > 0))
		return CAIRN_EINVAL;
	for (i = 0; i < n; i++) {
		if ((nl = strlen(names[i])) == 0 || nl > DB_NAME_MAX)
			return 0; /* not a name the index holds: no certificate holds it */
		walked += names[i][0] != '.'; /* ".x" would be a suffix search: looked up only */
	}
	if (walked == 0)
		return 0;
	if ((pos = calloc(n, sizeof(*pos))) == NULL)
		return CAIRN_ENOMEM;
	while (rc == 2) {
		for (i = 0; i < n; i++) {
			if (names[i][0] == '.')
				continue;
			f.in_page = 0;
			f.page = i == 0 ? RENEW_PAGE * n : RENEW_PAGE;
			rc = db_certs_by_name_at(txn, names[i], &pos[i], renew_check, &f);
			if (rc != 2)
				break; /* found (1), this name's walk ended (0), or an error */
		}
	}
	free(pos);
	return rc < 0 ? rc : f.found;
}

/* ---- page cursors ---- */

char *db_cursor_text(const db_cursor_t *pos, char kind)
{
	uint8_t buf[1 + DB_CURSOR_MAX];

	if (pos == NULL || pos->len == 0 || pos->len > DB_CURSOR_MAX)
		return NULL;
	buf[0] = (uint8_t)kind;
	memcpy(buf + 1, pos->key, pos->len);
	return b64url_encode(buf, 1 + pos->len);
}

int db_cursor_parse(const char *text, char kind, db_cursor_t *pos)
{
	uint8_t *raw = NULL;
	size_t n = 0;
	int ret = CAIRN_EINVAL;

	memset(pos, 0, sizeof(*pos));
	if (text == NULL || strlen(text) > 2 * (1 + DB_CURSOR_MAX) ||
	    b64url_decode(text, strlen(text), &raw, &n) != 0)
		return CAIRN_EINVAL;
	if (n >= 2 && n <= 1 + DB_CURSOR_MAX && raw[0] == (uint8_t)kind) {
		memcpy(pos->key, raw + 1, n - 1);
		pos->len = n - 1;
		ret = 0;
	}
	free(raw);
	return ret;
}
