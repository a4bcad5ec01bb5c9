/* SPDX-License-Identifier: MIT */
/* Mass replacement campaigns: mark the certificates a selector picks (in bounded, resumable
 * batches), then revoke each with the campaign's reason once it has a successor or when
 * the campaign's revoke_after deadline passes. Table DB_REPLACE:
 *   'N'                    -> next campaign id (BE64)
 *   'C' || id (BE64)       -> campaign JSON
 *   'M' || serial          -> id (BE64) || marked at (BE64): the mark ACME renewalInfo reads
 *   'P' || id || serial    -> "": still pending (neither replaced nor revoked)
 *   'K' || SHA-256(SPKI)   -> {"why", "at", "campaign"?}: a key never certified again
 *                             (ca_key_block; "campaign": the key campaign that blocked it) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "audit/audit.h"
#include "ca/ca.h"
#include "ca/ca_int.h"
#include "db/db.h"
#include "notify/notify.h"

#define MARK_WALK 2000   /* certificates looked at per marking transaction */
#define PENDING_BATCH 500 /* pending certificates looked at per revocation round */
#define FILE_MAX 10000    /* serials of one --file campaign */

/* Certificates looked at per marking transaction: MARK_WALK, or fewer with the test knob
 * CAIRN_REPLACE_BATCH (a restart in the middle of a marking is then easy to hit). */
static size_t mark_walk_max(void)
{
	const char *e = getenv("CAIRN_REPLACE_BATCH");
	long v = e ? strtol(e, NULL, 10) : 0;

	return v > 0 && v < MARK_WALK ? (size_t)v : MARK_WALK;
}

/* ---- keys ---- */

static size_t camp_key(uint64_t id, uint8_t key[9])
{
	key[0] = 'C';
	db_be64_put(key + 1, id);
	return 9;
}

static size_t mark_key(const uint8_t *serial, size_t len, uint8_t key[1 + DB_SERIAL_MAX])
{
	key[0] = 'M';
	memcpy(key + 1, serial, len);
	return 1 + len;
}

static size_t pend_key(uint64_t id, const uint8_t *serial, size_t len,
		       uint8_t key[9 + DB_SERIAL_MAX])
{
	key[0] = 'P';
	db_be64_put(key + 1, id);
	if (len > 0)
		memcpy(key + 9, serial, len);
	return 9 + len;
}

int ca_replace_load(db_txn_t *txn, uint64_t id, json_t **out)
{
	uint8_t key[9];
	const void *v;
	size_t vlen;

	*out = NULL;
	if (db_get(txn, DB_REPLACE, key, camp_key(id, key), &v, &vlen) != 0)
		return CAIRN_ENOENT;
	*out = json_loadb(v, vlen, 0, NULL);
	return *out ? 0 : CAIRN_EDB;
}

static int camp_store(db_txn_t *txn, uint64_t id, const json_t *c)
{
	uint8_t key[9];
	char *text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
	int rc;

	if (text == NULL)
		return CAIRN_ENOMEM;
	rc = db_put(txn, DB_REPLACE, key, camp_key(id, key), text, strlen(text), 0);
	free(text);
	return rc;
}

static void bump(json_t *c, const char *field, json_int_t by)
{
	json_object_set_new(c, field, json_integer(json_integer_value(json_object_get(c, field)) + by));
}

int ca_replace_mark_of(db_txn_t *txn, const uint8_t *serial, size_t len, uint64_t *id,
		       int64_t *by, char *url, size_t url_cap)
{
	uint8_t key[1 + DB_SERIAL_MAX];
	const void *v;
	size_t vlen;
	json_t *c = NULL;
	int rc;

	if (len == 0 || len > DB_SERIAL_MAX ||
	    db_get(txn, DB_REPLACE, key, mark_key(serial, len, key), &v, &vlen) != 0 || vlen < 16)
		return CAIRN_ENOENT;
	*id = db_be64_get(v);
	if ((rc = ca_replace_load(txn, *id, &c)) != 0)
		return rc;
	/* A cancelled campaign marks nothing (its marks are being cleared). */
	if (strcmp(json_string_value(json_object_get(c, "state")), "cancelled") == 0) {
		json_decref(c);
		return CAIRN_ENOENT;
	}
	*by = (int64_t)json_integer_value(json_object_get(c, "by"));
	if (url != NULL && url_cap > 0)
		snprintf(url, url_cap, "%s",
			 json_string_value(json_object_get(c, "explanation_url"))
				 ? json_string_value(json_object_get(c, "explanation_url")) : "");
	json_decref(c);
	return 0;
}

/* ---- selectors ---- */

int ca_spki_pin_parse(const char *text, uint8_t out[32])
{
	char hex[65];
	size_t i, n = 0;
	uint8_t *raw = NULL;
	size_t rlen = 0;

	if (text == NULL)
		return CAIRN_EINVAL;
	/* 64 hex digits (colons allowed), or base64url/base64 of the 32 bytes (pin-sha256). */
	for (i = 0; text[i] != '\0' && n < 64; i++)
		if (text[i] != ':')
			hex[n++] = text[i];
	hex[n] = '\0';
	if (text[i] == '\0' && n == 64 && hex_decode(hex, out, 32) == 32)
		return 0;
	if (strlen(text) == 43 && b64url_decode(text, 43, &raw, &rlen) == 0 && rlen == 32) {
		memcpy(out, raw, 32);
		free(raw);
		return 0;
	}
	free(raw);
	if (strlen(text) == 44 && text[43] == '=') {
		unsigned char buf[36];
		if (EVP_DecodeBlock(buf, (const unsigned char *)text, 44) == 33) {
			memcpy(out, buf, 32);
			return 0;
		}
	}
	return CAIRN_EINVAL;
}

int ca_spki_sha256(X509 *x, uint8_t out[32])
{
	/* The SubjectPublicKeyInfo as the certificate carries it (the bytes a pin-sha256 is
	 * taken over, RFC 7469 §2.4). A certificate this CA signs carries its key as
	 * i2d_PUBKEY encodes it (X509_set_pubkey; ca_key_check refuses keys whose bytes
	 * would differ), so this is ca_pubkey_sha256 of its key (test_blocked_key checks
	 * that), without re-encoding the key through OpenSSL 3's encoder: ~0.6 µs, not ~55. */
	unsigned char *der = NULL;
	unsigned int olen = 0;
	X509_PUBKEY *xpk = x != NULL ? X509_get_X509_PUBKEY(x) : NULL;
	int len = xpk != NULL ? i2d_X509_PUBKEY(xpk, &der) : -1;
	int ok = len > 0 && EVP_Digest(der, (size_t)len, out, &olen, EVP_sha256(), NULL) == 1;

	OPENSSL_free(der);
	return ok ? 0 : CAIRN_ECRYPTO;
}

int ca_pubkey_sha256(EVP_PKEY *pk, uint8_t out[32])
{
	unsigned char *der = NULL;
	unsigned int olen = 0;
	int len = pk != NULL ? i2d_PUBKEY(pk, &der) : -1;
	int ok = len > 0 && EVP_Digest(der, (size_t)len, out, &olen, EVP_sha256(), NULL) == 1;

	OPENSSL_free(der);
	return ok ? 0 : CAIRN_ECRYPTO;
}

/* ---- keys never certified again ---- */

static size_t block_key(const uint8_t spki[32], uint8_t key[33])
{
	key[0] = 'K';
	memcpy(key + 1, spki, 32);
	return 33;
}

int ca_key_block(db_txn_t *txn, const uint8_t spki[32], const char *why, uint64_t campaign,
		 int64_t at, cairn_err_t *err)
{
	uint8_t key[33];
	const void *v;
	size_t vlen;
	json_t *j, *old;
	char *text;
	int rc, keep = 0;

	/* The first reason stays, except that a revocation replaces a campaign's block: a
	 * cancelled campaign lifts its own block, never a keyCompromise revocation's. */
	if (db_get(txn, DB_REPLACE, key, block_key(spki, key), &v, &vlen) == 0) {
		old = json_loadb(v, vlen, 0, NULL);
		keep = campaign != 0 || json_integer_value(json_object_get(old, "campaign")) == 0;
		json_decref(old);
	}
	if (keep)
		return 0;
	j = json_pack("{s:s, s:I}", "why", why, "at", (json_int_t)at);
	if (j != NULL && campaign != 0)
		json_object_set_new(j, "campaign", json_integer((json_int_t)campaign));
	text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (text == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	rc = db_put(txn, DB_REPLACE, key, 33, text, strlen(text), 0);
	free(text);
	return rc != 0 ? cairn_err_set(err, rc, "blocking a key: %s", cairn_strerror(rc)) : 0;
}

/* 1 when spki is an id-ecPublicKey whose point is not in the uncompressed form (04 || x ||
 * y). A compressed point is the same key under other bytes: its hash would miss a block
 * taken from an uncompressed certificate, and RFC 5480 §2.2 makes uncompressed the form
 * to support (the Mozilla policy allows no other). */
static int ec_point_not_uncompressed(const uint8_t *spki, size_t len)
{
	static const uint8_t ec_oid[] = { 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };
	const unsigned char *p = spki, *end = spki + len, *alg_end;
	long l;
	int tag, cls;

	if ((ASN1_get_object(&p, &l, &tag, &cls, end - p) & 0x81) ||
	    (ASN1_get_object(&p, &l, &tag, &cls, end - p) & 0x81) || l > end - p)
		return 1;
	alg_end = p + l;
	if ((size_t)(alg_end - p) < sizeof(ec_oid) || memcmp(p, ec_oid, sizeof(ec_oid)) != 0)
		return 0;
	p = alg_end;
	if ((ASN1_get_object(&p, &l, &tag, &cls, end - p) & 0x81) || tag != V_ASN1_BIT_STRING ||
	    l < 2 || l > end - p)
		return 1;
	return p[0] != 0x00 || p[1] != 0x04;
}

int ca_key_blocked(db_txn_t *txn, const uint8_t spki[32], uint64_t *campaign, char *why,
		   size_t why_cap)
{
	uint8_t key[33];
	const void *v;
	size_t vlen;
	json_t *j;
	int rc;

	if ((rc = db_get(txn, DB_REPLACE, key, block_key(spki, key), &v, &vlen)) != 0)
		return rc;
	j = json_loadb(v, vlen, 0, NULL);
	*campaign = (uint64_t)json_integer_value(json_object_get(j, "campaign"));
	if (why != NULL && why_cap > 0)
		snprintf(why, why_cap, "%s",
			 json_is_string(json_object_get(j, "why"))
				 ? json_string_value(json_object_get(j, "why"))
				 : "");
	json_decref(j);
	return 0;
}

int ca_key_compromised(db_txn_t *txn, X509 *x, char *why, size_t why_cap)
{
	uint8_t spki[32];

	if (ca_spki_sha256(x, spki) != 0) {
		snprintf(why, why_cap, "its key cannot be read");
		return 1; /* a key we cannot hash is not one we can clear */
	}
	return ca_spki_compromised(txn, spki, why, why_cap);
}

int ca_spki_compromised(db_txn_t *txn, const uint8_t spki[32], char *why, size_t why_cap)
{
	uint64_t campaign = 0;

	if (ca_key_blocked(txn, spki, &campaign, why, why_cap) == 0 && campaign == 0)
		return 1;
	if (why_cap > 0)
		why[0] = '\0';
	return 0;
}

int ca_key_check(ca_t *ca, EVP_PKEY *pk, cairn_err_t *err)
{
	uint8_t spki[32];
	unsigned char *info = NULL;
	int info_len;
	db_txn_t *txn = NULL;
	uint64_t campaign;
	char why[256];
	int rc;

	/* Before anything is signed: the SPKI the certificate will carry (X509_set_pubkey
	 * encodes the key as i2d_PUBKEY does), the bytes ca_spki_sha256 hashes at revocation. */
	if ((info_len = i2d_PUBKEY(pk, &info)) <= 0 ||
	    EVP_Digest(info, (size_t)info_len, spki, NULL, EVP_sha256(), NULL) != 1) {
		OPENSSL_free(info);
		return cairn_err_set(err, CAIRN_ECRYPTO, "hashing the public key failed");
	}
	rc = ec_point_not_uncompressed(info, (size_t)info_len);
	OPENSSL_free(info);
	if (rc)
		return cairn_err_set(err, CAIRN_EKEYTYPE,
				     "EC public key in compressed form: send the uncompressed point");
	if ((rc = db_read_begin(ca_db(ca), &txn)) != 0)
		return cairn_err_set(err, rc, "database: %s", cairn_strerror(rc));
	rc = ca_key_blocked(txn, spki, &campaign, why, sizeof(why));
	db_txn_end(txn);
	if (rc == CAIRN_ENOENT)
		return 0;
	if (rc != 0)
		return cairn_err_set(err, rc, "database: %s", cairn_strerror(rc));
	return cairn_err_set(err, CAIRN_EWEAKKEY, "the public key is blocked (%s): use a new key",
			     why[0] ? why : "compromised");
}

/* Certificates a campaign may mark: valid, unexpired end-entity certificates of this CA. */
static int matches(const json_t *camp, const db_cert_t *c, X509 *x, int64_t now)
{
	const char *kind = json_string_value(json_object_get(camp, "kind"));
	const char *value = json_string_value(json_object_get(camp, "value"));
	uint8_t want[32], got[32];

	if (c->status != DB_CERT_VALID || c->not_after <= now || x == NULL || X509_check_ca(x) != 0)
		return 0;
	if (strcmp(kind, "key") == 0)
		return ca_spki_pin_parse(value, want) == 0 && ca_spki_sha256(x, got) == 0 &&
		       memcmp(want, got, 32) == 0;
	if (strcmp(kind, "issuer") == 0)
		return strcmp(c->issuer, value) == 0;
	if (strcmp(kind, "profile") == 0)
		return strcmp(c->profile, value) == 0;
	return strcmp(kind, "file") == 0; /* the serial list already chose it */
}

/* ---- marking ---- */

struct mark_op {
	uint64_t id;
	const char *actor;
	int64_t now;
	/* results, reset on every run */
	size_t marked;
	int done;
	/* walk state */
	db_txn_t *txn;
	json_t *camp, *serials;
	size_t walked, walk_max;
	uint8_t last[DB_SERIAL_MAX];
	size_t last_len;
	int rc;
	cairn_err_t *err;
};

static int mark_one(struct mark_op *op, const db_cert_t *c)
{
	const unsigned char *p = c->der;
	X509 *x = ca_cert_d2i(&p, (long)c->der_len);
	uint8_t key[1 + DB_SERIAL_MAX], pk[9 + DB_SERIAL_MAX], val[16];
	char hex[2 * DB_SERIAL_MAX + 1], na[32], by[32];
	char **names = NULL;
	size_t n = 0, i;
	json_t *ev = NULL, *jn = NULL;
	int rc = 0;

	if (!matches(op->camp, c, x, op->now) ||
	    db_get(op->txn, DB_REPLACE, key, mark_key(c->serial, c->serial_len, key), NULL,
		   NULL) == 0)
		goto out; /* a certificate belongs to the first campaign that marked it */
	db_be64_put(val, op->id);
	db_be64_put(val + 8, (uint64_t)op->now);
	if ((rc = db_put(op->txn, DB_REPLACE, key, mark_key(c->serial, c->serial_len, key), val,
			 16, 0)) != 0 ||
	    (rc = db_put(op->txn, DB_REPLACE, pk, pend_key(op->id, c->serial, c->serial_len, pk),
			 "", 0, 0)) != 0)
		goto out;
	db_serial_hex(c->serial, c->serial_len, hex);
	jn = json_array();
	if (jn != NULL && ca_cert_names(x, &names, &n) == 0)
		for (i = 0; i < n; i++)
			json_array_append_new(jn, json_string(names[i]));
	time_rfc3339((time_t)c->not_after, na, sizeof(na));
	time_rfc3339((time_t)json_integer_value(json_object_get(op->camp, "by")), by, sizeof(by));
	ev = json_pack("{s:s, s:O, s:s, s:s, s:s, s:s, s:I, s:s}", "serial", hex, "names", jn,
		       "profile", c->profile, "issuer", c->issuer, "requester", c->requester,
		       "not_after", na, "campaign", (json_int_t)op->id, "by", by);
	if (ev == NULL) {
		rc = CAIRN_ENOMEM;
		goto out;
	}
	if (json_object_get(op->camp, "explanation_url") != NULL)
		json_object_set(ev, "explanation_url", json_object_get(op->camp, "explanation_url"));
	if ((rc = notify_event(op->txn, "cert.replace", ev, NULL, op->err)) != 0)
		goto out;
	json_array_append_new(op->serials, json_string(hex));
	op->marked++;
out:
	json_decref(ev);
	json_decref(jn);
	ca_names_free(names, n);
	X509_free(x);
	return rc;
}

static int mark_walk(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct mark_op *op = arg;
	db_cert_t c;
	(void)val;
	(void)vlen;

	if (op->walked >= op->walk_max)
		return 1;
	if (klen > DB_SERIAL_MAX)
		return 0;
	if (op->last_len == klen && memcmp(op->last, key, klen) == 0)
		return 0; /* the cursor itself was done in the previous batch */
	op->walked++;
	memcpy(op->last, key, klen);
	op->last_len = klen;
	if (db_cert_get(op->txn, key, klen, &c) != 0)
		return 0;
	if ((op->rc = mark_one(op, &c)) != 0)
		return 2;
	return 0;
}

static int mark_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct mark_op *op = arg;
	const char *cur;
	json_t *list;
	audit_event_t ev = { 0 };
	int rc;

	op->marked = 0;
	op->done = 0;
	op->walked = 0;
	op->last_len = 0;
	op->rc = 0;
	op->txn = txn;
	op->err = err;
	json_decref(op->camp);
	json_decref(op->serials);
	op->camp = NULL;
	if ((op->serials = json_array()) == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	if ((rc = ca_replace_load(txn, op->id, &op->camp)) != 0)
		return cairn_err_set(err, rc, "campaign %llu: %s", (unsigned long long)op->id,
				     cairn_strerror(rc));
	if (strcmp(json_string_value(json_object_get(op->camp, "state")), "marking") != 0) {
		op->done = 1;
		return 0;
	}
	list = json_object_get(op->camp, "serials");
	if (list != NULL) {
		/* --file: the serials the operator listed, from index "cursor" on. */
		size_t i = (size_t)json_integer_value(json_object_get(op->camp, "cursor"));
		for (; i < json_array_size(list) && op->walked < op->walk_max; i++, op->walked++) {
			uint8_t s[DB_SERIAL_MAX];
			int len = hex_decode(json_string_value(json_array_get(list, i)), s, sizeof(s));
			db_cert_t c;
			if (len > 0 && db_cert_get(txn, s, (size_t)len, &c) == 0 &&
			    (rc = mark_one(op, &c)) != 0)
				return cairn_err_set(err, rc, "marking: %s", cairn_strerror(rc));
		}
		json_object_set_new(op->camp, "cursor", json_integer((json_int_t)i));
		op->done = i >= json_array_size(list);
	} else {
		cur = json_string_value(json_object_get(op->camp, "cursor"));
		if (cur != NULL && cur[0] != '\0') {
			int len = hex_decode(cur, op->last, sizeof(op->last));
			op->last_len = len > 0 ? (size_t)len : 0;
		}
		rc = db_iterate(txn, DB_CERTS, op->last_len ? op->last : NULL, op->last_len,
				mark_walk, op);
		if (op->rc != 0)
			return cairn_err_set(err, op->rc, "marking: %s", cairn_strerror(op->rc));
		if (rc < 0)
			return cairn_err_set(err, rc, "marking: %s", cairn_strerror(rc));
		op->done = rc == 0;
		if (op->last_len > 0) {
			char hex[2 * DB_SERIAL_MAX + 1];
			db_serial_hex(op->last, op->last_len, hex);
			json_object_set_new(op->camp, "cursor", json_string(hex));
		}
	}
	bump(op->camp, "marked", (json_int_t)op->marked);
	bump(op->camp, "pending", (json_int_t)op->marked);
	if (op->done) {
		json_object_set_new(op->camp, "state",
				    json_string(json_integer_value(json_object_get(op->camp, "marked"))
							? "active" : "empty"));
		json_object_del(op->camp, "serials");
	}
	if ((rc = camp_store(txn, op->id, op->camp)) != 0)
		return cairn_err_set(err, rc, "campaign %llu: %s", (unsigned long long)op->id,
				     cairn_strerror(rc));
	if (op->marked == 0)
		return 0;
	ev.actor = op->actor;
	ev.action = "replace.mark";
	ev.details = json_pack("{s:I, s:I, s:O}", "campaign", (json_int_t)op->id, "marked",
			       (json_int_t)op->marked, "serials", op->serials);
	rc = audit_append(txn, &ev, NULL, err);
	json_decref(ev.details);
	return rc;
}

int ca_replace_mark_step(ca_t *ca, uint64_t id, const char *actor, size_t *marked, int *done,
			 cairn_err_t *err)
{
	struct mark_op op = { 0 };
	int rc;

	op.id = id;
	op.actor = actor;
	op.now = (int64_t)time(NULL);
	op.walk_max = mark_walk_max();
	rc = db_write(ca_db(ca), mark_run, &op, err);
	*marked = op.marked;
	*done = op.done;
	json_decref(op.camp);
	json_decref(op.serials);
	return rc;
}

/* ---- creation ---- */

struct create_op {
	json_t *camp;
	const char *actor;
	uint64_t id;
	int64_t now;
};

static int create_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct create_op *op = arg;
	const void *v;
	size_t vlen;
	uint8_t nk = 'N', val[8];
	audit_event_t ev = { 0 };
	json_t *sel;
	int rc;

	op->id = 1;
	if (db_get(txn, DB_REPLACE, &nk, 1, &v, &vlen) == 0 && vlen == 8)
		op->id = db_be64_get(v);
	db_be64_put(val, op->id + 1);
	json_object_set_new(op->camp, "id", json_integer((json_int_t)op->id));
	if ((rc = db_put(txn, DB_REPLACE, &nk, 1, val, 8, 0)) != 0 ||
	    (rc = camp_store(txn, op->id, op->camp)) != 0)
		return cairn_err_set(err, rc, "storing the campaign: %s", cairn_strerror(rc));
	/* A key campaign retires the key: no new certificate for it, whatever channel. */
	if (strcmp(json_string_value(json_object_get(op->camp, "kind")), "key") == 0) {
		uint8_t spki[32];
		char why[64];

		snprintf(why, sizeof(why), "retired by replacement campaign %llu",
			 (unsigned long long)op->id);
		if (ca_spki_pin_parse(json_string_value(json_object_get(op->camp, "value")),
				      spki) == 0 &&
		    (rc = ca_key_block(txn, spki, why, op->id, op->now, err)) != 0)
			return rc;
	}
	sel = json_deep_copy(op->camp);
	json_object_del(sel, "serials");
	ev.actor = op->actor;
	ev.action = "replace.create";
	ev.details = sel;
	rc = audit_append(txn, &ev, NULL, err);
	json_decref(sel);
	return rc;
}

int ca_replace_create(ca_t *ca, const ca_replace_spec_t *s, const char *actor, uint64_t *id,
		      cairn_err_t *err)
{
	struct create_op op = { 0 };
	uint8_t spki[32];
	int64_t now = (int64_t)time(NULL);
	int rc;

	if (s->kind == NULL || (strcmp(s->kind, "key") != 0 && strcmp(s->kind, "issuer") != 0 &&
				strcmp(s->kind, "profile") != 0 && strcmp(s->kind, "file") != 0))
		return cairn_err_set(err, CAIRN_EINVAL,
				     "select by one of issued_by_key, issuer, profile, serials");
	if (strcmp(s->kind, "file") == 0
		    ? (json_array_size(s->serials) == 0 || json_array_size(s->serials) > FILE_MAX)
		    : (s->value == NULL || s->value[0] == '\0' || strlen(s->value) > 128))
		return cairn_err_set(err, CAIRN_EINVAL,
				     "serials must list 1..%d certificates; other selectors one "
				     "value of 1..128 bytes", FILE_MAX);
	if (strcmp(s->kind, "key") == 0 && ca_spki_pin_parse(s->value, spki) != 0)
		return cairn_err_set(err, CAIRN_EINVAL,
				     "%s is not a SHA-256 of a SubjectPublicKeyInfo (64 hex digits, "
				     "or 32 bytes in base64 as in pin-sha256)", s->value);
	if (s->by <= now)
		return cairn_err_set(err, CAIRN_EINVAL, "the deadline (by) must be in the future");
	if (s->revoke_after != 0 && s->revoke_after < s->by)
		return cairn_err_set(err, CAIRN_EINVAL, "revoke_after must not be before by");
	if (s->reason < 0 || s->reason == CA_REASON_REMOVE_FROM_CRL || s->reason == CA_REASON_HOLD)
		return cairn_err_set(err, CAIRN_EINVAL,
				     "the reason must be a CRLReason other than certificateHold "
				     "and removeFromCRL");
	if (s->explanation_url != NULL && strncmp(s->explanation_url, "https://", 8) != 0 &&
	    strncmp(s->explanation_url, "http://", 7) != 0)
		return cairn_err_set(err, CAIRN_EINVAL, "explanation_url must be an http(s) URL");
	op.actor = actor;
	op.now = now;
	op.camp = json_pack("{s:s, s:I, s:I, s:s, s:I, s:s, s:s, s:i, s:i, s:i, s:i, s:i}",
			    "kind", s->kind, "by", (json_int_t)s->by, "revoke_after",
			    (json_int_t)s->revoke_after, "reason", ca_reason_name(s->reason),
			    "created", (json_int_t)now, "actor", actor, "state", "marking",
			    "marked", 0, "pending", 0, "replaced", 0, "revoked", 0, "gone", 0);
	if (op.camp == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	if (s->value != NULL)
		json_object_set_new(op.camp, "value", json_string(s->value));
	if (s->serials != NULL)
		json_object_set(op.camp, "serials", s->serials);
	if (s->explanation_url != NULL)
		json_object_set_new(op.camp, "explanation_url", json_string(s->explanation_url));
	rc = db_write(ca_db(ca), create_run, &op, err);
	*id = op.id;
	json_decref(op.camp);
	return rc;
}

/* ---- progress: successors and the deadline ---- */

struct pend_walk {
	db_txn_t *txn;
	uint64_t id;
	json_t *camp;
	int64_t now, marked_at;
	size_t n;
	char (*hex)[2 * DB_SERIAL_MAX + 1];
	int *reason; /* -1: keep pending; -2: no longer pending (revoked, expired, gone) */
	unsigned char *succ; /* 1: revoked because a successor came (counted "replaced") */
	uint8_t last[DB_SERIAL_MAX];
	size_t last_len;
	const uint8_t *spki; /* a key campaign: the successor must have another key */
};

static int successor_ok(const db_cert_t *c2, void *arg)
{
	struct pend_walk *w = arg;
	uint8_t key[1 + DB_SERIAL_MAX], got[32];
	const unsigned char *p = c2->der;
	X509 *x;
	int ok;

	if (db_get(w->txn, DB_REPLACE, key, mark_key(c2->serial, c2->serial_len, key), NULL,
		   NULL) == 0)
		return 0; /* itself marked for replacement */
	if (w->spki == NULL)
		return 1;
	x = ca_cert_d2i(&p, (long)c2->der_len);
	ok = x != NULL && ca_spki_sha256(x, got) == 0 && memcmp(got, w->spki, 32) != 0;
	X509_free(x);
	return ok;
}

static int pend_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct pend_walk *w = arg;
	const uint8_t *k = key;
	uint8_t mk[1 + DB_SERIAL_MAX];
	const void *mv;
	size_t mlen, slen = klen - 9;
	db_cert_t c;
	const unsigned char *p;
	X509 *x = NULL;
	char **names = NULL;
	size_t n = 0;
	int64_t ra = json_integer_value(json_object_get(w->camp, "revoke_after"));
	int camp_reason = ca_reason_parse(json_string_value(json_object_get(w->camp, "reason")));
	int r;
	(void)val;
	(void)vlen;

	if (w->n >= PENDING_BATCH || klen <= 9 || k[0] != 'P' || db_be64_get(k + 1) != w->id)
		return 1;
	memcpy(w->last, k + 9, slen);
	w->last_len = slen;
	db_serial_hex(k + 9, slen, w->hex[w->n]);
	r = -2; /* no longer pending: gone, expired or revoked */
	w->succ[w->n] = 0;
	if (db_cert_get(w->txn, k + 9, slen, &c) != 0 ||
	    (c.status == DB_CERT_VALID && c.not_after <= w->now))
		goto out;
	w->marked_at = w->now;
	if (db_get(w->txn, DB_REPLACE, mk, mark_key(k + 9, slen, mk), &mv, &mlen) == 0 &&
	    mlen >= 16)
		w->marked_at = (int64_t)db_be64_get((const uint8_t *)mv + 8);
	p = c.der;
	/* A certificate already revoked (by an earlier round the daemon stopped in, or by
	 * someone else) is counted "replaced" when it has a successor, from the same rule. */
	w->succ[w->n] = (x = ca_cert_d2i(&p, (long)c.der_len)) != NULL &&
			ca_cert_names(x, &names, &n) == 0 &&
			db_cert_successor(w->txn, &c, (const char *const *)names, n,
					  w->marked_at - 60, successor_ok, w) == 1;
	if (c.status != DB_CERT_VALID)
		goto out;
	/* The campaign's reason, successor or not: a campaign for a compromised key revokes
	 * the replaced certificates of that key as keyCompromise too. */
	r = w->succ[w->n] || (ra != 0 && w->now >= ra) ? camp_reason : -1;
out:
	w->reason[w->n++] = r;
	ca_names_free(names, n);
	X509_free(x);
	return 0;
}

struct settle_op {
	uint64_t id;
	const char *actor;
	char (*hex)[2 * DB_SERIAL_MAX + 1];
	const unsigned char *succ;
	size_t n;
	int64_t now;
	size_t replaced, revoked, gone;
};

/* Drops from pending every certificate of the round that is no longer valid (revoked just
 * now, or by someone else, or expired) and counts it, with one audit event for the round. */
static int settle_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct settle_op *op = arg;
	json_t *camp = NULL, *rep = json_array(), *rev = json_array(), *gone = json_array();
	audit_event_t ev = { 0 };
	size_t i;
	int rc;

	op->replaced = op->revoked = op->gone = 0;
	if (rep == NULL || rev == NULL || gone == NULL) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = ca_replace_load(txn, op->id, &camp)) != 0) {
		cairn_err_set(err, rc, "campaign %llu: %s", (unsigned long long)op->id,
			      cairn_strerror(rc));
		goto out;
	}
	for (i = 0; i < op->n; i++) {
		uint8_t s[DB_SERIAL_MAX], pk[9 + DB_SERIAL_MAX];
		int len = hex_decode(op->hex[i], s, sizeof(s));
		db_cert_t c;
		int found;

		if (len <= 0)
			continue;
		found = db_cert_get(txn, s, (size_t)len, &c) == 0;
		if (found && c.status == DB_CERT_VALID && c.not_after > op->now)
			continue;
		if (db_del(txn, DB_REPLACE, pk, pend_key(op->id, s, (size_t)len, pk)) != 0)
			continue;
		if (found && c.status == DB_CERT_REVOKED && op->succ[i]) {
			op->replaced++;
			json_array_append_new(rep, json_string(op->hex[i]));
		} else if (found && c.status == DB_CERT_REVOKED) {
			op->revoked++;
			json_array_append_new(rev, json_string(op->hex[i]));
		} else {
			op->gone++;
			json_array_append_new(gone, json_string(op->hex[i]));
		}
	}
	bump(camp, "replaced", (json_int_t)op->replaced);
	bump(camp, "revoked", (json_int_t)op->revoked);
	bump(camp, "gone", (json_int_t)op->gone);
	bump(camp, "pending", -(json_int_t)(op->replaced + op->revoked + op->gone));
	if (json_integer_value(json_object_get(camp, "pending")) <= 0 &&
	    strcmp(json_string_value(json_object_get(camp, "state")), "active") == 0)
		json_object_set_new(camp, "state", json_string("done"));
	if ((rc = camp_store(txn, op->id, camp)) != 0) {
		cairn_err_set(err, rc, "campaign: %s", cairn_strerror(rc));
		goto out;
	}
	if (op->replaced + op->revoked + op->gone > 0) {
		ev.actor = op->actor;
		ev.action = "replace.revoke";
		ev.details = json_pack("{s:I, s:O, s:O, s:O, s:s}", "campaign",
				       (json_int_t)op->id, "replaced", rep, "revoked", rev,
				       "gone", gone, "reason",
				       json_string_value(json_object_get(camp, "reason")));
		rc = audit_append(txn, &ev, NULL, err);
		json_decref(ev.details);
	}
out:
	json_decref(camp);
	json_decref(rep);
	json_decref(rev);
	json_decref(gone);
	return rc;
}

/* Only an active campaign revokes. Read with the pending certificates, and again in the
 * revocation's own write (ca_revoke_batch_if): a cancel that committed in between
 * revokes nothing (CAIRN_ECONFLICT). */
static int campaign_active(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	const uint64_t *id = arg;
	json_t *camp = NULL;
	const char *st;
	int rc;

	if ((rc = ca_replace_load(txn, *id, &camp)) != 0)
		return cairn_err_set(err, rc, "campaign %llu: %s", (unsigned long long)*id,
				     cairn_strerror(rc));
	st = json_string_value(json_object_get(camp, "state"));
	rc = st != NULL && strcmp(st, "active") == 0
		     ? 0
		     : cairn_err_set(err, CAIRN_ECONFLICT, "campaign %llu is %s: nothing revoked",
				     (unsigned long long)*id, st ? st : "unreadable");
	json_decref(camp);
	return rc;
}

int ca_replace_progress(ca_t *ca, uint64_t id, const char *actor, size_t *revoked,
			int (*stopping)(void *arg), void *stop_arg, cairn_err_t *err)
{
	char (*hex)[2 * DB_SERIAL_MAX + 1] = calloc(PENDING_BATCH, sizeof(*hex));
	int *reason = calloc(PENDING_BATCH, sizeof(int));
	unsigned char *succ = calloc(PENDING_BATCH, 1);
	ca_revoke_item_t *items = calloc(PENDING_BATCH, sizeof(*items));
	ca_revoke_result_t *res = calloc(PENDING_BATCH, sizeof(*res));
	struct pend_walk w = { 0 };
	struct settle_op so = { 0 };
	cairn_err_t gone = { 0 };
	uint8_t start[9 + DB_SERIAL_MAX], spki[32];
	size_t slen, i, n_items;
	db_txn_t *txn = NULL;
	int rc = 0, more = 1;

	*revoked = 0;
	if (hex == NULL || reason == NULL || succ == NULL || items == NULL || res == NULL) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	slen = pend_key(id, NULL, 0, start);
	while (more && (stopping == NULL || !stopping(stop_arg))) {
		w = (struct pend_walk){ 0 };
		w.id = id;
		w.now = (int64_t)time(NULL);
		w.hex = hex;
		w.reason = reason;
		w.succ = succ;
		if ((rc = db_read_begin(ca_db(ca), &txn)) != 0 ||
		    (rc = ca_replace_load(txn, id, &w.camp)) != 0) {
			cairn_err_set(err, rc, "campaign %llu: %s", (unsigned long long)id,
				      cairn_strerror(rc));
			goto out;
		}
		if (campaign_active(txn, &id, &gone) != 0) {
			json_decref(w.camp); /* cancelled (or done) since the caller looked */
			break;
		}
		if (strcmp(json_string_value(json_object_get(w.camp, "kind")), "key") == 0 &&
		    ca_spki_pin_parse(json_string_value(json_object_get(w.camp, "value")),
					  spki) == 0)
			w.spki = spki;
		w.txn = txn;
		rc = db_iterate(txn, DB_REPLACE, start, slen, pend_cb, &w);
		db_txn_end(txn);
		txn = NULL;
		json_decref(w.camp);
		w.camp = NULL;
		if (rc < 0) {
			cairn_err_set(err, rc, "pending certificates: %s", cairn_strerror(rc));
			goto out;
		}
		more = w.n == PENDING_BATCH;
		if (w.n == 0)
			break;
		/* Resume after the last one looked at. */
		slen = pend_key(id, w.last, w.last_len, start);
		start[slen++] = 0;
		for (i = 0, n_items = 0; i < w.n; i++)
			if (reason[i] >= 0)
				items[n_items++] = (ca_revoke_item_t){ hex[i], reason[i], 0, NULL, 0 };
		if (n_items > 0 && (rc = ca_revoke_batch_if(ca, items, n_items, actor,
							    campaign_active, &id, res, &gone)) != 0) {
			/* cancelled meanwhile: nothing revoked, nothing to settle */
			if (rc == CAIRN_ECONFLICT)
				rc = 0;
			else
				cairn_err_set(err, rc, "%s", cairn_err_msg(&gone));
			goto out;
		}
		for (i = 0; i < n_items; i++)
			*revoked += res[i].code == 0;
		so = (struct settle_op){ id, actor, hex, succ, w.n, (int64_t)time(NULL), 0, 0, 0 };
		if ((rc = db_write(ca_db(ca), settle_run, &so, err)) != 0)
			goto out;
	}
out:
	db_txn_end(txn);
	free(hex);
	free(reason);
	free(succ);
	free(items);
	free(res);
	return rc;
}

/* ---- cancelling ---- */

#define CLEAR_BATCH 2000 /* pending certificates unmarked per transaction */

struct cancel_op {
	uint64_t id;
	const char *actor;
	int64_t now;
	char refused[16]; /* the state that refuses a cancel, or "" */
};

/* The key block a key campaign made goes with it; one made by a keyCompromise
 * revocation (or another campaign) stays. */
static int unblock_campaign_key(db_txn_t *txn, uint64_t id, const json_t *camp)
{
	uint8_t spki[32], key[33];
	const void *v;
	size_t vlen;
	json_t *j;
	int mine;

	if (strcmp(json_string_value(json_object_get(camp, "kind")), "key") != 0 ||
	    ca_spki_pin_parse(json_string_value(json_object_get(camp, "value")), spki) != 0 ||
	    db_get(txn, DB_REPLACE, key, block_key(spki, key), &v, &vlen) != 0)
		return 0;
	j = json_loadb(v, vlen, 0, NULL);
	mine = (uint64_t)json_integer_value(json_object_get(j, "campaign")) == id;
	json_decref(j);
	return mine ? db_del(txn, DB_REPLACE, key, 33) : 0;
}

static int cancel_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct cancel_op *op = arg;
	audit_event_t ev = { 0 };
	json_t *camp = NULL;
	const char *st;
	int rc;

	op->refused[0] = '\0';
	if ((rc = ca_replace_load(txn, op->id, &camp)) != 0)
		return cairn_err_set(err, rc, "campaign %llu: %s", (unsigned long long)op->id,
				     rc == CAIRN_ENOENT ? "no such campaign" : cairn_strerror(rc));
	st = json_string_value(json_object_get(camp, "state"));
	if (strcmp(st, "marking") != 0 && strcmp(st, "active") != 0) {
		snprintf(op->refused, sizeof(op->refused), "%s", st);
		json_decref(camp);
		return 0;
	}
	json_object_set_new(camp, "state", json_string("cancelled"));
	json_object_set_new(camp, "cancelled", json_integer((json_int_t)op->now));
	json_object_set_new(camp, "cancelled_by", json_string(op->actor));
	if ((rc = unblock_campaign_key(txn, op->id, camp)) != 0 ||
	    (rc = camp_store(txn, op->id, camp)) != 0) {
		json_decref(camp);
		return cairn_err_set(err, rc, "campaign: %s", cairn_strerror(rc));
	}
	ev.actor = op->actor;
	ev.action = "replace.cancel";
	ev.details = json_pack("{s:I, s:O, s:O, s:O}", "campaign", (json_int_t)op->id, "kind",
			       json_object_get(camp, "kind"), "value",
			       json_object_get(camp, "value") ? json_object_get(camp, "value")
							      : json_null(),
			       "pending", json_object_get(camp, "pending"));
	rc = audit_append(txn, &ev, NULL, err);
	json_decref(ev.details);
	json_decref(camp);
	return rc;
}

struct clear_op {
	uint64_t id;
	uint8_t (*keys)[9 + DB_SERIAL_MAX];
	size_t *lens;
	size_t n;
	int done;
};

static int clear_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct clear_op *op = arg;
	const uint8_t *k = key;
	(void)val;
	(void)vlen;

	if (op->n >= CLEAR_BATCH || klen <= 9 || klen > 9 + DB_SERIAL_MAX || k[0] != 'P' ||
	    db_be64_get(k + 1) != op->id)
		return 1;
	memcpy(op->keys[op->n], k, klen);
	op->lens[op->n++] = klen;
	return 0;
}

/* One transaction of a cancelled campaign's clearing: up to CLEAR_BATCH pending
 * certificates lose their pending entry and their mark (a later campaign may mark
 * them), and the campaign's pending count drops. */
static int clear_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct clear_op *op = arg;
	uint8_t start[9 + DB_SERIAL_MAX], mk[1 + DB_SERIAL_MAX];
	const void *mv;
	size_t i, mlen;
	json_t *camp = NULL;
	int rc;

	op->n = 0;
	op->done = 0;
	rc = db_iterate(txn, DB_REPLACE, start, pend_key(op->id, NULL, 0, start), clear_cb, op);
	if (rc < 0)
		return cairn_err_set(err, rc, "pending certificates: %s", cairn_strerror(rc));
	for (i = 0; i < op->n; i++) {
		const uint8_t *serial = op->keys[i] + 9;
		size_t slen = op->lens[i] - 9;

		if ((rc = db_del(txn, DB_REPLACE, op->keys[i], op->lens[i])) != 0)
			return cairn_err_set(err, rc, "unmarking: %s", cairn_strerror(rc));
		if (db_get(txn, DB_REPLACE, mk, mark_key(serial, slen, mk), &mv, &mlen) == 0 &&
		    mlen >= 8 && db_be64_get(mv) == op->id &&
		    (rc = db_del(txn, DB_REPLACE, mk, mark_key(serial, slen, mk))) != 0)
			return cairn_err_set(err, rc, "unmarking: %s", cairn_strerror(rc));
	}
	if ((rc = ca_replace_load(txn, op->id, &camp)) != 0)
		return cairn_err_set(err, rc, "campaign: %s", cairn_strerror(rc));
	op->done = op->n < CLEAR_BATCH;
	bump(camp, "pending", -(json_int_t)op->n);
	bump(camp, "unmarked", (json_int_t)op->n);
	if (op->done)
		json_object_set_new(camp, "pending", json_integer(0));
	rc = camp_store(txn, op->id, camp);
	json_decref(camp);
	return rc != 0 ? cairn_err_set(err, rc, "campaign: %s", cairn_strerror(rc)) : 0;
}

/* Clears what a cancelled campaign still has pending, a transaction at a time. */
static int clear_pending(ca_t *ca, uint64_t id, int (*stopping)(void *arg), void *stop_arg,
			 cairn_err_t *err)
{
	struct clear_op op = { .id = id };
	int rc = 0;

	op.keys = calloc(CLEAR_BATCH, sizeof(*op.keys));
	op.lens = calloc(CLEAR_BATCH, sizeof(*op.lens));
	if (op.keys == NULL || op.lens == NULL)
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	while (rc == 0 && !op.done && (stopping == NULL || !stopping(stop_arg)))
		rc = db_write(ca_db(ca), clear_run, &op, err);
	free(op.keys);
	free(op.lens);
	return rc;
}

int ca_replace_cancel(ca_t *ca, uint64_t id, const char *actor, cairn_err_t *err)
{
	struct cancel_op op = { id, actor, (int64_t)time(NULL), "" };
	int rc = db_write(ca_db(ca), cancel_run, &op, err);

	if (rc != 0)
		return rc;
	if (op.refused[0] != '\0')
		return cairn_err_set(err, CAIRN_ECONFLICT, "campaign %llu is %s: nothing to cancel",
				     (unsigned long long)id, op.refused);
	return clear_pending(ca, id, NULL, NULL, err);
}

/* ---- the daemon's round over every unfinished campaign ---- */

static int unfinished_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	json_t *ids = arg, *c;
	const char *st;

	if (klen != 9 || ((const uint8_t *)key)[0] != 'C')
		return 1;
	c = json_loadb(val, vlen, 0, NULL);
	st = json_string_value(json_object_get(c, "state"));
	/* A cancelled campaign is unfinished while it has marks to clear: negative id. */
	if (st != NULL && (strcmp(st, "marking") == 0 || strcmp(st, "active") == 0))
		json_array_append_new(ids, json_integer((json_int_t)db_be64_get((const uint8_t *)key + 1)));
	else if (st != NULL && strcmp(st, "cancelled") == 0 &&
		 json_integer_value(json_object_get(c, "pending")) > 0)
		json_array_append_new(ids,
				      json_integer(-(json_int_t)db_be64_get((const uint8_t *)key + 1)));
	json_decref(c);
	return 0;
}

int ca_replace_tick(ca_t *ca, const char *actor, int (*stopping)(void *arg), void *stop_arg,
		    cairn_err_t *err)
{
	json_t *ids = json_array(), *v;
	db_txn_t *txn = NULL;
	uint8_t start = 'C';
	size_t i, marked, revoked;
	int rc, done;

	if (ids == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	if ((rc = db_read_begin(ca_db(ca), &txn)) == 0) {
		rc = db_iterate(txn, DB_REPLACE, &start, 1, unfinished_cb, ids);
		rc = rc < 0 ? rc : 0;
		db_txn_end(txn);
	}
	json_array_foreach(ids, i, v) {
		uint64_t id = (uint64_t)json_integer_value(v);
		if (json_integer_value(v) < 0) {
			/* A cancel the daemon stopped in the middle of: clear the rest. */
			rc = clear_pending(ca, (uint64_t)-json_integer_value(v), stopping, stop_arg,
					   err);
			if (rc != 0)
				break;
			continue;
		}
		done = 0;
		/* An unfinished marking (the daemon stopped in the middle) goes on first. */
		while (rc == 0 && !done && (stopping == NULL || !stopping(stop_arg)))
			rc = ca_replace_mark_step(ca, id, actor, &marked, &done, err);
		if (rc == 0 && done)
			rc = ca_replace_progress(ca, id, actor, &revoked, stopping, stop_arg, err);
		if (rc != 0)
			break;
		if (revoked > 0)
			log_info("replace", "campaign %llu: %zu certificate(s) revoked",
				 (unsigned long long)id, revoked);
	}
	json_decref(ids);
	return rc;
}

/* ---- listing ---- */

static int list_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	json_t *c;

	if (klen != 9 || ((const uint8_t *)key)[0] != 'C')
		return 1;
	if ((c = json_loadb(val, vlen, 0, NULL)) != NULL) {
		json_object_del(c, "serials");
		json_array_append_new(arg, c);
	}
	return 0;
}

int ca_replace_list(db_txn_t *txn, json_t **out)
{
	uint8_t start = 'C';
	int rc;

	if ((*out = json_array()) == NULL)
		return CAIRN_ENOMEM;
	rc = db_iterate(txn, DB_REPLACE, &start, 1, list_cb, *out);
	return rc < 0 ? rc : 0;
}
