/* SPDX-License-Identifier: MIT */
/* Unit tests for crl/: every hand-emitted CRL parsed back and checked with OpenSSL; numbers, publication, adoption. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "crl/crl.h"
#include "crl/crl_int.h"
#include "db/db.h"

typedef struct fixture {
	char *dir;
	db_t *db;
	EVP_PKEY *key;
	X509 *cert;
} fixture_t;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Entries of a CRL: 0 when it has none (revokedCertificates is then absent, and OpenSSL
 * counts an absent list as -1). */
static int revoked_count(const X509_CRL *crl)
{
	int n = sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl));

	return n < 0 ? 0 : n;
}

static X509 *make_ca(EVP_PKEY *key, const char *cn)
{
	ca_cert_spec_t spec = { 0 };
	cairn_err_t err = { 0 };
	X509 *x = NULL;

	spec.subject_cn = cn;
	spec.subject_o = "cairn test";
	spec.validity_days = 30;
	spec.is_ca = 1;
	spec.path_len = -1;
	spec.key_usage = X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN;
	if (ca_cert_build(&spec, NULL, key, key, &x, &err) != 0)
		fail_msg("ca_cert_build: %s", cairn_err_msg(&err));
	return x;
}

static fixture_t *fixture_new(EVP_PKEY *key)
{
	fixture_t *f = calloc(1, sizeof(*f));
	cairn_err_t err = { 0 };
	char *db;

	assert_non_null(f);
	assert_true(asprintf(&f->dir, "%s/cairn-test-crl-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") > 0);
	assert_non_null(mkdtemp(f->dir));
	assert_true(asprintf(&db, "%s/db", f->dir) > 0);
	if (db_open(db, &f->db, &err) != 0)
		fail_msg("db_open: %s", cairn_err_msg(&err));
	free(db);
	f->key = key;
	f->cert = make_ca(key, "Test Issuing CA");
	return f;
}

static int setup(void **state)
{
	*state = fixture_new(EVP_EC_gen("P-256"));
	return 0;
}

static int teardown(void **state)
{
	fixture_t *f = *state;

	db_close(f->db);
	X509_free(f->cert);
	EVP_PKEY_free(f->key);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f->dir);
	free(f);
	return 0;
}

/* What one stored certificate looks like, for checking the CRL against. */
typedef struct spec {
	uint8_t serial[DB_SERIAL_MAX];
	size_t len;
	int64_t revoked_at, invalidity, not_after;
	int reason;
	int revoke; /* 0: stays valid */
} spec_t;

struct put_op {
	const spec_t *s;
	size_t n;
	const char *issuer;
};

static int put_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct put_op *op = arg;
	size_t i;
	int rc;
	(void)err;

	for (i = 0; i < op->n; i++) {
		db_cert_t c = { 0 };
		memcpy(c.serial, op->s[i].serial, op->s[i].len);
		c.serial_len = op->s[i].len;
		c.not_before = 1700000000;
		c.not_after = op->s[i].not_after;
		c.reason = -1;
		snprintf(c.issuer, sizeof(c.issuer), "%s", op->issuer);
		snprintf(c.profile, sizeof(c.profile), "tls-server");
		snprintf(c.requester, sizeof(c.requester), "test");
		if ((rc = db_cert_put(txn, &c, NULL, 0)) != 0)
			return rc;
		if (op->s[i].revoke &&
		    (rc = db_cert_revoke_ex(txn, c.serial, c.serial_len, op->s[i].revoked_at,
					    op->s[i].reason, op->s[i].invalidity)) != 0)
			return rc;
	}
	return 0;
}

static void store(fixture_t *f, const spec_t *s, size_t n, const char *issuer)
{
	struct put_op op = { s, n, issuer };
	cairn_err_t err = { 0 };

	if (db_write(f->db, put_run, &op, &err) != 0)
		fail_msg("store: %s", cairn_err_msg(&err));
}

/* crl_build with p, parsed back: no trailing bytes, canonical DER, a valid signature. */
static X509_CRL *build_with(fixture_t *f, const crl_params_t *p, crl_stats_t *st)
{
	cairn_err_t err = { 0 };
	db_txn_t *txn = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	const unsigned char *q;
	X509_CRL *crl;

	assert_int_equal(db_read_begin(f->db, &txn), 0);
	if (crl_build(txn, p, &der, &len, st, &err) != 0)
		fail_msg("crl_build: %s", cairn_err_msg(&err));
	db_txn_end(txn);
	q = der;
	crl = d2i_X509_CRL(NULL, &q, (long)len);
	assert_non_null(crl);
	assert_ptr_equal(q, der + len); /* no trailing bytes */
	/* Re-encoding through OpenSSL gives the same bytes: the DER is canonical. */
	{
		unsigned char *re = NULL;
		int n = i2d_X509_CRL(crl, &re);
		assert_int_equal(n, (int)len);
		assert_memory_equal(re, der, len);
		OPENSSL_free(re);
	}
	free(der);
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(f->cert)), 1);
	return crl;
}

static X509_CRL *build(fixture_t *f, const char *issuer, uint64_t number, int keep_expired,
		       crl_stats_t *st, int64_t now)
{
	crl_params_t p = { .issuer = issuer, .cert = f->cert, .key = f->key, .number = number,
			   .this_update = now, .next_update = now + 86400, .keep_expired = keep_expired };

	return build_with(f, &p, st);
}

static void check_header(X509_CRL *crl, X509 *cert, uint64_t number)
{
	ASN1_INTEGER *num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	AUTHORITY_KEYID *akid = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL, NULL);
	uint64_t v = 0;

	assert_int_equal(X509_CRL_get_version(crl), 1);
	assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(cert)), 0);
	assert_non_null(num);
	assert_int_equal(ASN1_INTEGER_get_uint64(&v, num), 1);
	assert_int_equal(v, number);
	assert_non_null(akid);
	assert_int_equal(ASN1_OCTET_STRING_cmp(akid->keyid, X509_get0_subject_key_id(cert)), 0);
	assert_non_null(X509_CRL_get0_nextUpdate(crl));
	ASN1_INTEGER_free(num);
	AUTHORITY_KEYID_free(akid);
}

static void test_empty_crl(void **state)
{
	fixture_t *f = *state;
	crl_stats_t st;
	X509_CRL *crl = build(f, "issuing", 7, 0, &st, time(NULL));

	check_header(crl, f->cert, 7);
	assert_true(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) <= 0); /* absent when empty */
	assert_int_equal(st.entries, 0);
	X509_CRL_free(crl);
}

static int64_t asn1_unix(const ASN1_TIME *t)
{
	struct tm tm;

	assert_int_equal(ASN1_TIME_to_tm(t, &tm), 1);
	return (int64_t)timegm(&tm);
}

/* Every entry: serial, date, reason (absent for unspecified), invalidity date, expiry filter. */
static void test_entries_round_trip(void **state)
{
	fixture_t *f = *state;
	enum { N = 3000 }; /* > 64 KiB of entries: multi-byte lengths */
	spec_t *s = calloc(N, sizeof(*s));
	int64_t now = time(NULL);
	size_t i, expected = 0, expired = 0;
	crl_stats_t st;
	X509_CRL *crl;
	STACK_OF(X509_REVOKED) *rev;

	assert_non_null(s);
	for (i = 0; i < N; i++) {
		/* Unique by construction: length and i in the first three bytes. */
		s[i].len = 3 + i % (DB_SERIAL_MAX - 2);
		assert_int_equal(util_random(s[i].serial, s[i].len), 0);
		s[i].serial[0] = (uint8_t)((i % 3 == 0 ? 0x80 : 0x40) | s[i].len); /* 0x80: needs a 0x00 pad */
		s[i].serial[1] = (uint8_t)(i >> 8);
		s[i].serial[2] = (uint8_t)i;
		s[i].revoke = i % 7 != 0;
		s[i].reason = (int)(i % 11 == 7 || i % 11 == 8 ? 1 : i % 11); /* 8 is a release */
		s[i].revoked_at = now - (int64_t)i * 37;
		s[i].invalidity = i % 5 == 0 ? now - 86400 * 3 : 0;
		/* Expired: 10 s ago (still listed: RFC 5280 §3.3, the first CRL after its
		 * expiry), or more than the CRL's validity (a day) ago (left out). */
		s[i].not_after = i % 26 == 0 ? now - 10 : i % 13 == 0 ? now - 86400 - 10 : now + 86400 * 90;
		if (i % 4 == 0)
			s[i].revoked_at = 2600000000LL + (int64_t)i; /* after 2049: GeneralizedTime */
		if (s[i].revoke && s[i].not_after < now - 86400)
			expired++;
		else if (s[i].revoke)
			expected++;
	}
	store(f, s, N, "issuing");
	crl = build(f, "issuing", 2, 0, &st, now);
	check_header(crl, f->cert, 2);
	assert_int_equal(st.entries, expected);
	assert_int_equal(st.skipped_expired, expired);
	rev = X509_CRL_get_REVOKED(crl);
	assert_int_equal((size_t)sk_X509_REVOKED_num(rev), expected);
	for (i = 0; i < N; i++) {
		X509_REVOKED *r = NULL;
		ASN1_INTEGER *ai;
		BIGNUM *bn;
		int found;

		bn = BN_bin2bn(s[i].serial, (int)s[i].len, NULL);
		ai = BN_to_ASN1_INTEGER(bn, NULL);
		found = X509_CRL_get0_by_serial(crl, &r, ai);
		ASN1_INTEGER_free(ai);
		BN_free(bn);
		if (!s[i].revoke || s[i].not_after < now - 86400) {
			assert_int_equal(found, 0);
			continue;
		}
		assert_int_not_equal(found, 0);
		assert_int_equal(asn1_unix(X509_REVOKED_get0_revocationDate(r)), s[i].revoked_at);
		{
			ASN1_ENUMERATED *re = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);
			ASN1_GENERALIZEDTIME *inv =
				X509_REVOKED_get_ext_d2i(r, NID_invalidity_date, NULL, NULL);
			if (s[i].reason == 0) {
				assert_null(re);
			} else {
				assert_non_null(re);
				assert_int_equal(ASN1_ENUMERATED_get(re), s[i].reason);
			}
			if (s[i].invalidity == 0) {
				assert_null(inv);
			} else {
				assert_non_null(inv);
				assert_int_equal(asn1_unix(inv), s[i].invalidity);
			}
			ASN1_ENUMERATED_free(re);
			ASN1_GENERALIZEDTIME_free(inv);
		}
	}
	X509_CRL_free(crl);

	/* keep_expired: the expired ones come back. */
	crl = build(f, "issuing", 3, 1, &st, now);
	assert_int_equal(st.entries, expected + expired);
	assert_int_equal(st.skipped_expired, 0);
	X509_CRL_free(crl);
	/* Another issuer's CRL does not see them. */
	crl = build(f, "root", 1, 1, &st, now);
	assert_int_equal(st.entries, 0);
	X509_CRL_free(crl);
	free(s);
}

/* P-384 keys sign with SHA-384, RSA with SHA-256. */
static void test_key_types(void **state)
{
	const int want[] = { NID_ecdsa_with_SHA384, NID_sha256WithRSAEncryption };
	size_t k;
	(void)state;

	for (k = 0; k < 2; k++) {
		EVP_PKEY *key = k == 0 ? EVP_EC_gen("P-384") : EVP_RSA_gen(2048);
		fixture_t *f = fixture_new(key);
		spec_t s = { .serial = { 0x42 }, .len = 1, .revoked_at = 1800000000, .reason = 4,
			     .not_after = 4000000000LL, .revoke = 1 };
		crl_stats_t st;
		X509_CRL *crl;
		void *fs = f;

		store(f, &s, 1, "issuing");
		crl = build(f, "issuing", 1, 0, &st, time(NULL));
		assert_int_equal(X509_CRL_get_signature_nid(crl), want[k]);
		assert_int_equal(st.entries, 1);
		X509_CRL_free(crl);
		teardown(&fs);
	}
}

static void test_der_helpers(void **state)
{
	uint8_t buf[32];
	size_t sizes[] = { 0, 127, 128, 255, 256, 65535, 65536, 16777216 };
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *end = crl_der_hdr(buf, 0x30, sizes[i]);
		assert_int_equal((size_t)(end - buf) + sizes[i], crl_der_tlv_size(sizes[i]));
	}
	assert_int_equal(crl_der_time(buf, 0, 0), 15);
	assert_memory_equal(buf, "\x17\x0d" "700101000000Z", 15);
	assert_int_equal(crl_der_time(buf, 2524608000LL, 0), 17); /* 2050-01-01 */
	assert_memory_equal(buf, "\x18\x0f" "20500101000000Z", 17);
	assert_int_equal(crl_der_time(buf, 0, 1), 17);
	assert_memory_equal(buf, "\x18\x0f" "19700101000000Z", 17);
}

static int unhold_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	const spec_t *s = arg;
	int rc;
	(void)err;

	if ((rc = db_cert_revoke_ex(txn, s->serial, s->len, s->revoked_at, 6, 0)) != 0)
		return rc;
	return db_cert_unhold(txn, s->serial, s->len, s->revoked_at + 1);
}

static int has_serial(X509_CRL *crl, uint8_t first, int *reason)
{
	STACK_OF(X509_REVOKED) *rev = X509_CRL_get_REVOKED(crl);
	int i;

	for (i = 0; i < sk_X509_REVOKED_num(rev); i++) {
		X509_REVOKED *r = sk_X509_REVOKED_value(rev, i);
		const ASN1_INTEGER *ai = X509_REVOKED_get0_serialNumber(r);
		if (ASN1_STRING_length(ai) == 2 && ASN1_STRING_get0_data(ai)[0] == first) {
			ASN1_ENUMERATED *re = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);
			*reason = re ? (int)ASN1_ENUMERATED_get(re) : 0;
			ASN1_ENUMERATED_free(re);
			return 1;
		}
	}
	return 0;
}

/* Delta CRLs: only what changed since the base, released holds as removeFromCRL,
 * a critical Delta CRL Indicator; the full CRL names the delta (Freshest CRL). */
static void test_delta(void **state)
{
	fixture_t *f = *state;
	int64_t now = time(NULL);
	spec_t old = { .serial = { 0x21, 1 }, .len = 2, .revoked_at = now - 5000, .reason = 1,
		       .not_after = now + 86400, .revoke = 1 };
	spec_t recent = { .serial = { 0x22, 1 }, .len = 2, .revoked_at = now - 10, .reason = 4,
			  .not_after = now + 86400, .revoke = 1 };
	spec_t held = { .serial = { 0x23, 1 }, .len = 2, .revoked_at = now - 20,
			.not_after = now + 86400 };
	crl_params_t p = { .issuer = "issuing", .cert = f->cert, .key = f->key, .number = 5,
			   .this_update = now, .next_update = now + 3600,
			   .freshest_url = "http://127.0.0.1/crl/issuing-delta.crl" };
	cairn_err_t err = { 0 };
	db_txn_t *txn = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	const unsigned char *q;
	X509_CRL *full, *delta;
	ASN1_INTEGER *base;
	CRL_DIST_POINTS *fresh;
	int reason = -1, crit = 0;

	store(f, &old, 1, "issuing");
	store(f, &recent, 1, "issuing");
	store(f, &held, 1, "issuing");
	assert_int_equal(db_write(f->db, unhold_run, &held, &err), 0);

	assert_int_equal(db_read_begin(f->db, &txn), 0);
	assert_int_equal(crl_build(txn, &p, &der, &len, NULL, &err), 0);
	q = der;
	full = d2i_X509_CRL(NULL, &q, (long)len);
	free(der);
	p.number = 6;
	p.delta_base = 5;
	p.delta_since = now - 1000;
	assert_int_equal(crl_build(txn, &p, &der, &len, NULL, &err), 0);
	db_txn_end(txn);
	q = der;
	delta = d2i_X509_CRL(NULL, &q, (long)len);
	free(der);
	assert_non_null(full);
	assert_non_null(delta);
	assert_int_equal(X509_CRL_verify(delta, X509_get0_pubkey(f->cert)), 1);

	assert_true(has_serial(full, 0x21, &reason));
	assert_true(has_serial(full, 0x22, &reason));
	assert_false(has_serial(full, 0x23, &reason)); /* released: off the full CRL */
	assert_null(X509_CRL_get_ext_d2i(full, NID_delta_crl, NULL, NULL));
	fresh = X509_CRL_get_ext_d2i(full, NID_freshest_crl, NULL, NULL);
	assert_non_null(fresh);
	assert_int_equal(sk_DIST_POINT_num(fresh), 1);
	CRL_DIST_POINTS_free(fresh);

	assert_false(has_serial(delta, 0x21, &reason)); /* unchanged since the base */
	assert_true(has_serial(delta, 0x22, &reason));
	assert_int_equal(reason, 4);
	assert_true(has_serial(delta, 0x23, &reason));
	assert_int_equal(reason, 8); /* removeFromCRL */
	base = X509_CRL_get_ext_d2i(delta, NID_delta_crl, &crit, NULL);
	assert_non_null(base);
	assert_int_equal(ASN1_INTEGER_get(base), 5);
	assert_int_equal(crit, 1);
	assert_null(X509_CRL_get_ext_d2i(delta, NID_freshest_crl, NULL, NULL));
	ASN1_INTEGER_free(base);
	X509_CRL_free(full);
	X509_CRL_free(delta);
}

static int read_number(fixture_t *f, const char *issuer, uint64_t *n)
{
	char *path, *data = NULL;
	size_t len;
	const unsigned char *q;
	X509_CRL *crl;
	ASN1_INTEGER *num;
	int rc = -1;

	assert_true(asprintf(&path, "%s/pub/%s.crl", f->dir, issuer) > 0);
	if (fs_read(path, 1 << 24, &data, &len) == 0) {
		q = (const unsigned char *)data;
		crl = d2i_X509_CRL(NULL, &q, (long)len);
		num = crl ? X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL) : NULL;
		if (num != NULL && ASN1_INTEGER_get_uint64(n, num) == 1)
			rc = 0;
		ASN1_INTEGER_free(num);
		X509_CRL_free(crl);
	}
	free(data);
	free(path);
	return rc;
}

/* The service's configuration in the tests: one issuer, hourly CRLs, published to pub
 * (returned, the caller frees it). */
static char *service_config(fixture_t *f, crl_config_t *cfg)
{
	char *pub = NULL;

	assert_true(asprintf(&pub, "%s/pub", f->dir) > 0);
	cfg->db = f->db;
	cfg->issuers[0] = (crl_issuer_t){ "issuing", f->cert, f->key, 0 };
	cfg->n_issuers = 1;
	cfg->publish_dir = pub;
	cfg->period = 3600;
	cfg->overlap = 600;
	return pub;
}

/* The service: numbers persist and grow, the published file is what crl_get serves, restart adopts. */
static void test_service(void **state)
{
	fixture_t *f = *state;
	crl_config_t cfg = { 0 };
	cairn_err_t err = { 0 };
	crl_t *c = NULL;
	char *pub;
	uint8_t *der = NULL;
	size_t len = 0;
	uint64_t n = 0, served = 0;
	int64_t tu, nu;
	spec_t s = { .serial = { 0x11, 0x22 }, .len = 2, .revoked_at = 1700000000, .reason = 1,
		     .not_after = 4000000000LL, .revoke = 1 };
	spec_t later = { .serial = { 0x11, 0x23 }, .len = 2, .revoked_at = time(NULL), .reason = 4,
			 .not_after = 4000000000LL, .revoke = 1 };

	pub = service_config(f, &cfg);
	if (crl_open(&cfg, &c, &err) != 0)
		fail_msg("crl_open: %s", cairn_err_msg(&err));
	assert_int_equal(read_number(f, "issuing", &n), 0);
	assert_int_equal(n, 1);
	store(f, &s, 1, "issuing");
	assert_int_equal(crl_rebuild(c, "issuing", &err), 0);
	assert_int_equal(read_number(f, "issuing", &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(crl_get(c, "issuing", &der, &len, &tu, &nu, &served), 0);
	assert_int_equal(served, 2);
	assert_int_equal(nu - tu, 4200);
	{
		char *path, *data = NULL;
		size_t flen;
		assert_true(asprintf(&path, "%s/issuing.crl", pub) > 0);
		assert_int_equal(fs_read(path, 1 << 24, &data, &flen), 0);
		assert_int_equal(flen, len);
		assert_memory_equal(data, der, len);
		free(data);
		free(path);
	}
	free(der);
	assert_int_equal(crl_get(c, "nosuch", &der, &len, NULL, NULL, NULL), CAIRN_ENOENT);
	assert_int_equal(crl_rebuild(c, "nosuch", &err), CAIRN_ENOENT);
	crl_free(c);

	/* Reopening adopts the published CRL: same number, nothing rebuilt. */
	c = NULL;
	assert_int_equal(crl_open(&cfg, &c, &err), 0);
	assert_int_equal(crl_get(c, "issuing", &der, &len, NULL, NULL, &served), 0);
	assert_int_equal(served, 2);
	free(der);
	assert_int_equal(read_number(f, "issuing", &n), 0);
	assert_int_equal(n, 2);
	/* A later rebuild continues from the stored number. */
	assert_int_equal(crl_rebuild(c, "issuing", &err), 0);
	assert_int_equal(read_number(f, "issuing", &n), 0);
	assert_int_equal(n, 3);
	crl_free(c);
	/* Revoked while no daemon ran (or before a debounced rebuild): not adopted, rebuilt.
	 * Its time is taken now, after the last build, as a real revocation's would be. */
	later.revoked_at = time(NULL);
	store(f, &later, 1, "issuing");
	c = NULL;
	assert_int_equal(crl_open(&cfg, &c, &err), 0);
	assert_int_equal(read_number(f, "issuing", &n), 0);
	assert_int_equal(n, 4);
	crl_free(c);
	free(pub);
}

/* How many entries the DER CRL lists. */
static int revoked_in(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);
	int n;

	assert_non_null(crl);
	n = sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)); /* -1: none listed */
	X509_CRL_free(crl);
	return n < 0 ? 0 : n;
}

/* Collects crl_failing's names. */
static void failing_cb(const char *name, int64_t since, void *arg)
{
	char *out = arg;

	snprintf(out + strlen(out), 256 - strlen(out), "%s@%s;", name,
		 since > 0 && since <= time(NULL) ? "then" : "bad time");
}

/* A CRL that cannot be written (its directory unusable, as on a full disk) is not served:
 * the CRL served and its file stay the one before, crl_failing names it (not pending: a
 * CRL is served) until a rebuild writes one, with the revocation and a number past the
 * one the failed build took. */
static void test_unwritable(void **state)
{
	fixture_t *f = *state;
	crl_config_t cfg = { 0 };
	cairn_err_t err = { 0 };
	crl_t *c = NULL;
	char *pub, *away = NULL, *file = NULL, *data = NULL, failing[256] = "";
	uint8_t *der = NULL;
	size_t len = 0, flen = 0;
	uint64_t served = 0;
	spec_t s = { .serial = { 0x11, 0x22 }, .len = 2, .revoked_at = 1700000000, .reason = 1,
		     .not_after = 4000000000LL, .revoke = 1 };

	pub = service_config(f, &cfg);
	assert_true(asprintf(&away, "%s.away", pub) > 0);
	assert_true(asprintf(&file, "%s/issuing.crl", pub) > 0);
	if (crl_open(&cfg, &c, &err) != 0)
		fail_msg("crl_open: %s", cairn_err_msg(&err));
	assert_int_equal(crl_failing(c, NULL, NULL), 0);
	store(f, &s, 1, "issuing");
	assert_int_equal(rename(pub, away), 0);
	assert_int_equal(fs_write_atomic(pub, "x", 1, 0600), 0); /* a file where the dir was */
	assert_int_not_equal(crl_rebuild(c, "issuing", &err), 0);
	assert_int_equal(crl_get(c, "issuing", &der, &len, NULL, NULL, &served), 0);
	assert_int_equal(served, 1);
	assert_int_equal(revoked_in(der, len), 0); /* the one before the revocation */
	free(der);
	assert_int_equal(crl_failing(c, failing_cb, failing), 1);
	assert_string_equal(failing, "issuing@then;");
	assert_int_equal(crl_pending(c, NULL, NULL), 0); /* served: not pending */

	/* The directory back: the next rebuild writes and is no longer failing. */
	assert_int_equal(unlink(pub), 0);
	assert_int_equal(rename(away, pub), 0);
	assert_int_equal(crl_rebuild(c, "issuing", &err), 0);
	assert_int_equal(crl_failing(c, NULL, NULL), 0);
	assert_int_equal(crl_get(c, "issuing", &der, &len, NULL, NULL, &served), 0);
	assert_int_equal(served, 3);
	assert_int_equal(revoked_in(der, len), 1);
	assert_int_equal(fs_read(file, 1 << 24, &data, &flen), 0);
	assert_int_equal(flen, len);
	assert_memory_equal(data, der, len);
	free(data);
	free(der);
	crl_free(c);
	free(file);
	free(away);
	free(pub);
}

/* The service with shards: own numbers per shard, only the touched shard rebuilt by the
 * scheduler, IDP URL from the base URL, the largest count kept when the config lowers it. */
/* Collects crl_pending's states. */
static void pending_cb(const char *name, const char *state, void *arg)
{
	char *out = arg;

	snprintf(out + strlen(out), 256 - strlen(out), "%s=%s;", name, state);
}

/* Until crl_get answers (bounded, 60 s). */
static int wait_served(crl_t *c, const char *name, uint64_t *number)
{
	int i, rc = CAIRN_EAGAIN;

	for (i = 0; i < 6000 && (rc = crl_get(c, name, NULL, NULL, NULL, NULL, number)) ==
					     CAIRN_EAGAIN; i++)
		usleep(10000);
	return rc;
}

/* Moves the recorded times of the published CRL of "issuing" (crl/publish.c's meta record:
 * hashes, number, thisUpdate at 72, nextUpdate at 80) into the past: it has expired. */
static int expire_record(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	const char *key = "crl_published/issuing";
	const void *v;
	uint8_t rec[89];
	size_t len;
	int64_t now = (int64_t)time(NULL);
	int rc;
	(void)arg;
	(void)err;

	if ((rc = db_get(txn, DB_META, key, strlen(key), &v, &len)) != 0 || len != sizeof(rec))
		return rc != 0 ? rc : CAIRN_EDB;
	memcpy(rec, v, sizeof(rec));
	db_be64_put(rec + 72, (uint64_t)(now - 7200));
	db_be64_put(rec + 80, (uint64_t)(now - 10));
	return db_put(txn, DB_META, key, strlen(key), rec, sizeof(rec), 0);
}

/* Until crl_pending says states (bounded, 60 s). */
static int wait_states(crl_t *c, const char *want)
{
	char states[256];
	int i;

	for (i = 0; i < 6000; i++) {
		states[0] = '\0';
		(void)crl_pending(c, pending_cb, states);
		if (strcmp(states, want) == 0)
			return 0;
		usleep(10000);
	}
	return -1;
}

/* Past 10,000 revoked entries crl_open leaves the first build to the scheduler: nothing is
 * served (CAIRN_EAGAIN, pending "building") until crl_start; then the CRL holds every
 * entry. A restart with nothing changed adopts it in the background (the same number). */
static void test_service_deferred(void **state)
{
	fixture_t *f = *state;
	crl_config_t cfg = { 0 };
	cairn_err_t err = { 0 };
	crl_t *c = NULL;
	enum { N = 10001 };
	spec_t *s = calloc(N, sizeof(*s));
	char *pub, states[256] = "";
	uint8_t *der = NULL;
	size_t len = 0, i;
	uint64_t number = 0;
	const unsigned char *p;
	X509_CRL *crl;
	EVP_PKEY *pub_only = NULL;

	assert_non_null(s);
	for (i = 0; i < N; i++) {
		s[i].serial[0] = 0x40;
		s[i].serial[1] = (uint8_t)(i >> 8);
		s[i].serial[2] = (uint8_t)i;
		s[i].len = 3;
		s[i].revoked_at = 1700000000;
		s[i].reason = 1;
		s[i].not_after = 4000000000LL;
		s[i].revoke = 1;
	}
	store(f, s, N, "issuing");
	free(s);
	pub = service_config(f, &cfg);
	if (crl_open(&cfg, &c, &err) != 0)
		fail_msg("crl_open: %s", cairn_err_msg(&err));
	assert_int_equal(crl_get(c, "issuing", &der, &len, NULL, NULL, NULL), CAIRN_EAGAIN);
	assert_int_equal(crl_pending(c, pending_cb, states), 1);
	assert_string_equal(states, "issuing=building;");
	assert_int_equal(crl_start(c, &err), 0);
	assert_int_equal(wait_served(c, "issuing", &number), 0);
	assert_int_equal(number, 1);
	assert_int_equal(crl_pending(c, NULL, NULL), 0);
	assert_int_equal(crl_get(c, "issuing", &der, &len, NULL, NULL, NULL), 0);
	p = der;
	crl = d2i_X509_CRL(NULL, &p, (long)len);
	assert_non_null(crl);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), N);
	assert_int_equal(X509_CRL_verify(crl, f->key), 1);
	X509_CRL_free(crl);
	free(der);
	crl_free(c);

	c = NULL;
	assert_int_equal(crl_open(&cfg, &c, &err), 0);
	assert_int_equal(crl_get(c, "issuing", NULL, NULL, NULL, NULL, NULL), CAIRN_EAGAIN);
	assert_int_equal(crl_start(c, &err), 0);
	assert_int_equal(wait_served(c, "issuing", &number), 0);
	assert_int_equal(number, 1); /* adopted, not rebuilt */
	crl_free(c);

	/* Another revocation: a restart cannot adopt the CRL. While the new one is built — here
	 * it never is: the key given cannot sign — the previous one, still valid, is served. */
	{
		spec_t more = { .serial = { 0x41, 0, 1 }, .len = 3, .revoked_at = time(NULL),
				.reason = 1, .not_after = 4000000000LL, .revoke = 1 };
		unsigned char *pubder = NULL, *q;
		const unsigned char *cq;
		int n;
		store(f, &more, 1, "issuing");
		n = i2d_PUBKEY(f->key, &pubder);
		assert_true(n > 0);
		cq = q = pubder;
		pub_only = d2i_PUBKEY(NULL, &cq, n);
		assert_non_null(pub_only);
		OPENSSL_free(q);
	}
	cfg.issuers[0].key = pub_only;
	c = NULL;
	assert_int_equal(crl_open(&cfg, &c, &err), 0);
	assert_int_equal(crl_start(c, &err), 0);
	assert_int_equal(wait_served(c, "issuing", &number), 0);
	assert_int_equal(number, 1); /* the previous one */
	assert_int_equal(wait_states(c, "issuing=previous;"), 0);
	crl_free(c);

	/* The same, the previous CRL past its nextUpdate: not served, the build said failed. */
	assert_int_equal(db_write(f->db, expire_record, NULL, NULL), 0);
	c = NULL;
	assert_int_equal(crl_open(&cfg, &c, &err), 0);
	assert_int_equal(crl_start(c, &err), 0);
	assert_int_equal(wait_states(c, "issuing=failed;"), 0);
	assert_int_equal(crl_get(c, "issuing", NULL, NULL, NULL, NULL, NULL), CAIRN_EAGAIN);
	crl_free(c);
	EVP_PKEY_free(pub_only);
	free(pub);
}

static void test_service_shards(void **state)
{
	fixture_t *f = *state;
	crl_config_t cfg = { 0 };
	cairn_err_t err = { 0 };
	crl_t *c = NULL;
	char *pub;
	uint8_t *der = NULL;
	size_t len = 0;
	uint64_t n = 0;
	unsigned shard = 9;
	int i;
	spec_t s = { .len = 16, .reason = 1, .not_after = 4000000000LL, .revoke = 1 };
	const unsigned char *q;
	X509_CRL *crl;
	ISSUING_DIST_POINT *idp;
	GENERAL_NAME *gn;
	const char *url = "http://127.0.0.1:8080/crl/issuing/1.crl";

	assert_true(asprintf(&pub, "%s/pub", f->dir) > 0);
	cfg.db = f->db;
	cfg.issuers[0] = (crl_issuer_t){ "issuing", f->cert, f->key, 1 };
	cfg.n_issuers = 1;
	cfg.publish_dir = pub;
	cfg.period = 3600;
	cfg.base_url = "http://127.0.0.1:8080/";
	cfg.shards = 3;
	if (crl_open(&cfg, &c, &err) != 0)
		fail_msg("crl_open: %s", cairn_err_msg(&err));
	assert_int_equal(read_number(f, "issuing", &n), 0);
	assert_int_equal(n, 1);
	for (i = 0; i < 3; i++) {
		char name[16];
		snprintf(name, sizeof(name), "issuing/%d", i);
		assert_int_equal(read_number(f, name, &n), 0);
		assert_int_equal(n, 1);
	}
	assert_int_equal(crl_get(c, "issuing/3", NULL, NULL, NULL, NULL, NULL), CAIRN_ENOENT);
	assert_int_equal(crl_get(c, "issuing/01", NULL, NULL, NULL, NULL, NULL), CAIRN_ENOENT);
	assert_int_equal(crl_get(c, "issuing/", NULL, NULL, NULL, NULL, NULL), CAIRN_ENOENT);
	assert_int_equal(crl_get(c, "issuing/1x", NULL, NULL, NULL, NULL, NULL), CAIRN_ENOENT);
	assert_int_equal(crl_get(c, "nosuch/1", NULL, NULL, NULL, NULL, NULL), CAIRN_ENOENT);

	/* A revocation in shard 1, announced as ca/ does: the scheduler rebuilds shard 1
	 * (and the full CRL), not shards 0 and 2. */
	for (i = 0; i < 1000 && shard != 1; i++)
		assert_int_equal(util_serial_sharded(s.serial, 3, &shard), 0);
	assert_int_equal(shard, 1);
	/* Revoked seconds before the rebuild: a change in the same second as a build counts
	 * as after it (not adopted at a restart), which the reopen below would see. */
	s.revoked_at = time(NULL) - 5;
	store(f, &s, 1, "issuing");
	assert_int_equal(crl_start(c, &err), 0);
	crl_changed("issuing", s.serial, s.len, c);
	for (i = 0; i < 100; i++) { /* bounded: 10 s */
		if (read_number(f, "issuing/1", &n) == 0 && n == 2)
			break;
		usleep(100000);
	}
	assert_int_equal(n, 2);
	for (i = 0; i < 100; i++) {
		if (read_number(f, "issuing", &n) == 0 && n == 2)
			break;
		usleep(100000);
	}
	assert_int_equal(n, 2);
	assert_int_equal(read_number(f, "issuing/0", &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(read_number(f, "issuing/2", &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(crl_get(c, "issuing/1", &der, &len, NULL, NULL, &n), 0);
	assert_int_equal(n, 2);
	q = der;
	crl = d2i_X509_CRL(NULL, &q, (long)len);
	free(der);
	assert_non_null(crl);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 1);
	idp = X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, NULL, NULL);
	assert_non_null(idp);
	gn = sk_GENERAL_NAME_value(idp->distpoint->name.fullname, 0);
	assert_int_equal(ASN1_STRING_length(gn->d.uniformResourceIdentifier), (int)strlen(url));
	assert_memory_equal(ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier), url, strlen(url));
	ISSUING_DIST_POINT_free(idp);
	X509_CRL_free(crl);
	crl_free(c);

	/* Lowered to 0: the three shards stay (issued certificates name them), adopted. */
	cfg.shards = 0;
	c = NULL;
	assert_int_equal(crl_open(&cfg, &c, &err), 0);
	assert_int_equal(crl_get(c, "issuing/2", NULL, NULL, NULL, NULL, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(crl_get(c, "issuing/1", NULL, NULL, NULL, NULL, &n), 0);
	assert_int_equal(n, 2);
	crl_free(c);
	free(pub);
}

/* Sharded serials: a pure function of the bytes, even spread, other serials -1. */
static void test_serial_shard(void **state)
{
	uint8_t s[16];
	unsigned k = 0, shard = 0, count[7] = { 0 }, i;
	(void)state;

	for (i = 0; i < 7000; i++) {
		assert_int_equal(util_serial_sharded(s, 7, &shard), 0);
		assert_true(shard < 7);
		assert_int_equal(util_serial_shard(s, sizeof(s), &k), (int)shard);
		assert_int_equal(k, 7);
		assert_true(s[0] != 0 && (s[0] & 0x80) == 0); /* positive, all 16 bytes in DER */
		count[shard]++;
	}
	for (i = 0; i < 7; i++)
		assert_true(count[i] > 800 && count[i] < 1200);
	assert_int_equal(util_serial_sharded(s, 1, NULL), CAIRN_EINVAL);
	assert_int_equal(util_serial_sharded(s, UTIL_SHARDS_MAX + 1, NULL), CAIRN_EINVAL);
	s[1] = 1; /* K < 2 is not a sharded serial */
	assert_int_equal(util_serial_shard(s, sizeof(s), NULL), -1);
	s[0] = 0x11;
	assert_int_equal(util_serial_shard(s, sizeof(s), NULL), -1);
	assert_int_equal(util_serial_shard(s, 15, NULL), -1);
}

/* A shard CRL: only its shard's entries, and a critical IDP naming its URL (and its URLs
 * under earlier public URLs) for end-entity certificates only, in DER OpenSSL re-encodes
 * byte for byte (build() checks). */
static void test_shard_crl(void **state)
{
	fixture_t *f = *state;
	int64_t now = time(NULL);
	const char *url = "http://127.0.0.1:8080/crl/issuing/1.crl";
	const char *const olds[] = { "http://old.example/crl/issuing/1.crl",
				     "http://older.example/crl/issuing/1.crl" };
	spec_t sp[12];
	crl_params_t p = { .issuer = "issuing", .cert = f->cert, .key = f->key, .number = 3,
			   .this_update = now, .next_update = now + 3600, .idp_url = url,
			   .shard = 1 };
	size_t i, want = 0;
	X509_CRL *crl;
	ISSUING_DIST_POINT *idp;
	GENERAL_NAME *gn;
	int crit = 0;

	memset(sp, 0, sizeof(sp));
	for (i = 0; i < 12; i++) {
		unsigned shard = 0;
		if (i < 10) {
			assert_int_equal(util_serial_sharded(sp[i].serial, 3, &shard), 0);
			sp[i].len = 16;
			want += shard == 1;
		} else { /* from before sharding: full CRL only */
			sp[i].serial[0] = (uint8_t)(0x30 + i);
			sp[i].serial[1] = 1;
			sp[i].len = 2;
		}
		sp[i].revoked_at = now - 100;
		sp[i].reason = 1;
		sp[i].not_after = now + 86400;
		sp[i].revoke = 1;
	}
	store(f, sp, 12, "issuing");
	crl = build_with(f, &p, NULL);
	assert_int_equal(revoked_count(crl), (int)want);
	for (i = 0; i < (size_t)revoked_count(crl); i++) {
		const ASN1_INTEGER *ai = X509_REVOKED_get0_serialNumber(
			sk_X509_REVOKED_value(X509_CRL_get_REVOKED(crl), (int)i));
		assert_int_equal(util_serial_shard(ASN1_STRING_get0_data(ai),
						   (size_t)ASN1_STRING_length(ai), NULL), 1);
	}
	idp = X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, &crit, NULL);
	assert_non_null(idp);
	assert_int_equal(crit, 1);
	assert_non_null(idp->distpoint);
	assert_int_equal(idp->distpoint->type, 0);
	assert_int_equal(sk_GENERAL_NAME_num(idp->distpoint->name.fullname), 1);
	gn = sk_GENERAL_NAME_value(idp->distpoint->name.fullname, 0);
	assert_int_equal(gn->type, GEN_URI);
	assert_int_equal(ASN1_STRING_length(gn->d.uniformResourceIdentifier), (int)strlen(url));
	assert_memory_equal(ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier), url, strlen(url));
	assert_true(idp->onlyuser);
	assert_false(idp->onlyCA);
	assert_false(idp->indirectCRL);
	assert_false(idp->onlyattr);
	assert_null(idp->onlysomereasons);
	ISSUING_DIST_POINT_free(idp);
	X509_CRL_free(crl);

	/* Under earlier public URLs too: the IDP's fullName names each, the current first. */
	p.idp_more = olds;
	p.n_idp_more = 2;
	crl = build_with(f, &p, NULL);
	idp = X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, &crit, NULL);
	assert_non_null(idp);
	assert_int_equal(crit, 1);
	assert_int_equal(sk_GENERAL_NAME_num(idp->distpoint->name.fullname), 3);
	for (i = 0; i < 3; i++) {
		const char *u = i == 0 ? url : olds[i - 1];
		gn = sk_GENERAL_NAME_value(idp->distpoint->name.fullname, (int)i);
		assert_int_equal(gn->type, GEN_URI);
		assert_int_equal(ASN1_STRING_length(gn->d.uniformResourceIdentifier), (int)strlen(u));
		assert_memory_equal(ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier), u,
				    strlen(u));
	}
	assert_true(idp->onlyuser);
	ISSUING_DIST_POINT_free(idp);
	X509_CRL_free(crl);

	/* The full CRL of the same index: every entry, no IDP. */
	crl = build(f, "issuing", 4, 0, NULL, now);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 12);
	assert_int_equal(X509_CRL_get_ext_by_NID(crl, NID_issuing_distribution_point, -1), -1);
	X509_CRL_free(crl);
}

/* The TBS of a DER CRL (its first element), parsed with OpenSSL. */
static const unsigned char *tbs_of(const uint8_t *der, size_t len, long *tbs_len)
{
	const unsigned char *q = der, *t;
	long n;
	int tag, cls;

	assert_int_equal(ASN1_get_object(&q, &n, &tag, &cls, (long)len) & 0x80, 0);
	t = q;
	assert_int_equal(ASN1_get_object(&q, &n, &tag, &cls, (long)len) & 0x80, 0);
	*tbs_len = (long)(q - t) + n;
	return t;
}

/* crl_build_set: the full CRL, a delta and 3 shard CRLs from one walk are, to the byte
 * (but for the randomised ECDSA signature), what five crl_build calls make; each
 * verifies, and parameters that would route an entry twice are refused. */
static void test_build_set(void **state)
{
	fixture_t *f = *state;
	int64_t now = time(NULL);
	char urls[3][64];
	spec_t sp[40];
	crl_params_t ps[5];
	const crl_params_t *pp[5];
	uint8_t *der[5], *one = NULL;
	size_t len[5], one_len = 0, i, total = 0;
	crl_stats_t st[5];
	cairn_err_t err = { 0 };
	db_txn_t *txn = NULL;

	memset(sp, 0, sizeof(sp));
	for (i = 0; i < 40; i++) {
		if (i < 36) {
			assert_int_equal(util_serial_sharded(sp[i].serial, 3, NULL), 0);
			sp[i].len = 16;
		} else { /* from before sharding: full CRL only */
			sp[i].serial[0] = (uint8_t)(0x30 + i);
			sp[i].len = 1;
		}
		sp[i].revoked_at = now - 1000 + (int64_t)i * 10;
		sp[i].reason = (int)(i % 3); /* unspecified, keyCompromise, cACompromise */
		sp[i].invalidity = i % 4 == 0 ? now - 5000 : 0;
		/* One expired longer than a CRL's validity (3600 s) ago: left out of every kind;
		 * one just expired: still on all (RFC 5280 §3.3). */
		sp[i].not_after = i == 5 ? now - 3600 - 10 : i == 6 ? now - 10 : now + 86400;
		sp[i].revoke = 1;
	}
	store(f, sp, 40, "issuing");
	for (i = 0; i < 5; i++) {
		ps[i] = (crl_params_t){ .issuer = "issuing", .cert = f->cert, .key = f->key,
					.number = 7 + i, .this_update = now, .next_update = now + 3600 };
		if (i < 3) {
			snprintf(urls[i], sizeof(urls[i]), "http://127.0.0.1/crl/issuing/%zu.crl", i);
			ps[i].idp_url = urls[i];
			ps[i].shard = (int)i;
		}
		pp[i] = &ps[i];
	}
	ps[4].delta_base = 6; /* a delta: the 20 entries revoked in the last 800 s */
	ps[4].delta_since = now - 800;
	assert_int_equal(db_read_begin(f->db, &txn), 0);
	if (crl_build_set(txn, pp, 5, der, len, st, &err) != 0)
		fail_msg("crl_build_set: %s", cairn_err_msg(&err));
	for (i = 0; i < 5; i++) {
		const unsigned char *q = der[i], *a, *b;
		long alen, blen;
		X509_CRL *crl = d2i_X509_CRL(NULL, &q, (long)len[i]);
		crl_stats_t st1 = { 0 };

		assert_non_null(crl);
		assert_ptr_equal(q, der[i] + len[i]);
		assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(f->cert)), 1);
		assert_int_equal(revoked_count(crl), (int)st[i].entries);
		X509_CRL_free(crl);
		assert_int_equal(crl_build(txn, &ps[i], &one, &one_len, &st1, &err), 0);
		assert_int_equal(st1.entries, st[i].entries);
		assert_int_equal(st1.skipped_expired, st[i].skipped_expired);
		a = tbs_of(der[i], len[i], &alen);
		b = tbs_of(one, one_len, &blen);
		assert_int_equal(alen, blen);
		assert_memory_equal(a, b, (size_t)alen);
		free(one);
		free(der[i]);
		if (i < 3)
			total += st[i].entries;
	}
	/* The shards hold every sharded entry but the expired one; the full CRL all 39. */
	assert_int_equal(total, 35);
	assert_int_equal(st[3].entries, 39);
	assert_int_equal(st[3].skipped_expired, 1);
	assert_int_equal(st[4].entries, 20);
	/* One shard twice, or two issuers: refused, nothing returned. */
	ps[1].shard = 0;
	assert_int_equal(crl_build_set(txn, pp, 5, der, len, NULL, &err), CAIRN_EINVAL);
	assert_null(der[0]);
	ps[1].shard = 1;
	ps[3].issuer = "root";
	assert_int_equal(crl_build_set(txn, pp, 5, der, len, NULL, &err), CAIRN_EINVAL);
	db_txn_end(txn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_der_helpers),
		cmocka_unit_test_setup_teardown(test_empty_crl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entries_round_trip, setup, teardown),
		cmocka_unit_test(test_key_types),
		cmocka_unit_test_setup_teardown(test_service, setup, teardown),
		cmocka_unit_test_setup_teardown(test_service_deferred, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delta, setup, teardown),
		cmocka_unit_test(test_serial_shard),
		cmocka_unit_test_setup_teardown(test_service_shards, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shard_crl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_build_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwritable, setup, teardown),
	};

	setenv("CAIRN_DB_MAPSIZE", "16M", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
