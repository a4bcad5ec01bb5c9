/* SPDX-License-Identifier: MIT */
/* bench/ocsp_seed: fills a stopped CA's database with N synthetic certificates and writes wrk/openssl inputs. */
/*
 * The one seeder of the benchmarks (bench/ocsp.sh, bench/scale.sh,
 * tests/integration/scale_smoke.sh). Records go straight through db_cert_put in
 * large db_write transactions (BATCH each): no CSR, no signing per certificate.
 * With -T every record carries the same template certificate (one P-256
 * certificate signed once by a throw-away key: realistic size, not the record's
 * serial); serials, names, notAfter and status are unique per record. OCSP
 * answers need only the serial and the issuer, so the daemon signs real ones.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "db/db.h"

#define BATCH 50000 /* records per db_write transaction unless -b */
#define NAME_GROUPS 1000 /* certificate i is named h<i>.z<i % NAME_GROUPS>.<domain> */

struct seed_op {
	uint8_t (*serials)[16];
	size_t from, to;
	int64_t now;
	int expiry_days;      /* 0: every notAfter now + 90 days; else spread over this many days */
	const char *domain;   /* NULL: no names */
	const uint8_t *der;   /* template certificate or NULL */
	size_t der_len;
};

static unsigned revoke_every = 10;

/* Every revoke_every-th certificate is revoked (keyCompromise, a day ago). */
static int revoked(size_t i)
{
	return i % revoke_every == 0;
}

/* notAfter of certificate i: an hour past a whole number of days, spread evenly. */
static int64_t not_after(const struct seed_op *op, size_t i)
{
	if (op->expiry_days == 0)
		return op->now + 90 * 86400;
	return op->now + 3600 + (int64_t)(i % (size_t)op->expiry_days) * 86400;
}

static int seed_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct seed_op *op = arg;
	size_t i;
	int rc;

	for (i = op->from; i < op->to; i++) {
		db_cert_t c = { 0 };
		char name[300];
		const char *names[1] = { name };

		snprintf(name, sizeof(name), "h%zu.z%zu.%s", i, i % NAME_GROUPS,
			 op->domain ? op->domain : "");
		memcpy(c.serial, op->serials[i], 16);
		c.serial_len = 16;
		c.status = revoked(i) ? DB_CERT_REVOKED : DB_CERT_VALID;
		c.not_before = op->now - 86400;
		c.not_after = not_after(op, i);
		c.revoked_at = revoked(i) ? op->now - 86400 : 0;
		c.reason = revoked(i) ? 1 : -1;
		memcpy(c.issuer, "issuing", 8);
		memcpy(c.profile, "tls-server", 11);
		memcpy(c.requester, "bench", 6);
		snprintf(c.subject, sizeof(c.subject), "CN=%.250s", name);
		c.der = op->der;
		c.der_len = op->der_len;
		if ((rc = db_cert_put(txn, &c, op->domain ? names : NULL, op->domain ? 1 : 0)) != 0)
			return cairn_err_set(err, rc, "seed: %s", cairn_strerror(rc));
	}
	return 0;
}

/* DER OCSP request (SHA-1 CertID; no nonce: the RFC 5019 profile, unless nonce) for one serial. */
static int request_der(X509 *issuer, const uint8_t *serial, int nonce, unsigned char **der)
{
	BIGNUM *bn = BN_bin2bn(serial, 16, NULL);
	ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
	OCSP_CERTID *id = OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(issuer),
					   X509_get0_pubkey_bitstr(issuer), ai);
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	int n = -1;

	if (id != NULL && req != NULL && OCSP_request_add0_id(req, id) != NULL) {
		id = NULL;
		if (!nonce || OCSP_request_add1_nonce(req, NULL, -1) > 0)
			n = i2d_OCSP_REQUEST(req, der);
	}
	OCSP_CERTID_free(id);
	OCSP_REQUEST_free(req);
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return n;
}

static void lua_string(FILE *f, const unsigned char *p, int n)
{
	int i;

	fputc('"', f);
	for (i = 0; i < n; i++)
		fprintf(f, "\\%03u", p[i]);
	fputc('"', f);
}

static void url_b64(FILE *f, const unsigned char *p, int n)
{
	char b64[1024];
	int i;

	EVP_EncodeBlock((unsigned char *)b64, p, n);
	for (i = 0; b64[i]; i++) {
		if (b64[i] == '+' || b64[i] == '/' || b64[i] == '=')
			fprintf(f, "%%%02X", (unsigned char)b64[i]);
		else
			fputc(b64[i], f);
	}
}

/* openssl ocsp's index.txt for the same certificates, plus a file-key signer for it. */
static int write_openssl_side(const char *out, uint8_t (*serials)[16], size_t n, int64_t now)
{
	char path[600], hex[33], na[16], ra[16];
	struct tm tm;
	time_t t;
	FILE *f;
	size_t i;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	ca_cert_spec_t spec = { 0 };
	cairn_err_t err = { 0 };
	X509 *cert = NULL;
	static const char *const eku[] = { "1.3.6.1.5.5.7.3.9", NULL };

	snprintf(path, sizeof(path), "%s/index.txt", out);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	t = (time_t)(now + 90 * 86400);
	gmtime_r(&t, &tm);
	strftime(na, sizeof(na), "%y%m%d%H%M%SZ", &tm);
	t = (time_t)(now - 86400);
	gmtime_r(&t, &tm);
	strftime(ra, sizeof(ra), "%y%m%d%H%M%SZ", &tm);
	for (i = 0; i < n; i++) {
		char *p;
		hex_encode(serials[i], 16, hex);
		for (p = hex; *p; p++)
			if (*p >= 'a' && *p <= 'f')
				*p = (char)(*p - 'a' + 'A');
		if (revoked(i))
			fprintf(f, "R\t%s\t%s,keyCompromise\t%s\tunknown\t/CN=bench-%zu\n", na, ra, hex, i);
		else
			fprintf(f, "V\t%s\t\t%s\tunknown\t/CN=bench-%zu\n", na, hex, i);
	}
	fclose(f);
	spec.subject_cn = "bench OCSP signer (openssl side)";
	spec.validity_days = 30;
	spec.path_len = -1;
	spec.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
	spec.eku = eku;
	if (key == NULL || ca_cert_build(&spec, NULL, key, key, &cert, &err) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/signer.key", out);
	if ((f = fopen(path, "w")) == NULL || !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL))
		return -1;
	fclose(f);
	snprintf(path, sizeof(path), "%s/signer.pem", out);
	if ((f = fopen(path, "w")) == NULL || !PEM_write_X509(f, cert))
		return -1;
	fclose(f);
	X509_free(cert);
	EVP_PKEY_free(key);
	return 0;
}

/* The template DER of -T: a P-256 end-entity certificate with one SAN, signed once. */
static int template_der(const char *domain, uint8_t **der, size_t *len)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	ca_cert_spec_t spec = { 0 };
	cairn_err_t err = { 0 };
	GENERAL_NAMES *sans = GENERAL_NAMES_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
	X509 *cert = NULL;
	unsigned char *p = NULL;
	char name[300];
	int n = -1;
	static const char *const eku[] = { "1.3.6.1.5.5.7.3.1", NULL };

	snprintf(name, sizeof(name), "h0.z0.%s", domain ? domain : "bench.example");
	if (key == NULL || sans == NULL || gn == NULL || ia5 == NULL ||
	    !ASN1_STRING_set(ia5, name, -1))
		goto out;
	GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
	ia5 = NULL;
	if (!sk_GENERAL_NAME_push(sans, gn))
		goto out;
	gn = NULL;
	spec.subject_cn = name;
	spec.validity_days = 90;
	spec.path_len = -1;
	spec.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
	spec.eku = eku;
	spec.sans = sans;
	spec.ocsp_url = "http://localhost:8080/ocsp";
	spec.ca_issuers_url = "http://localhost:8080/ca/issuing.crt";
	spec.crl_url = "http://localhost:8080/crl/issuing.crl";
	if (ca_cert_build(&spec, NULL, key, key, &cert, &err) != 0 || (n = i2d_X509(cert, &p)) <= 0)
		goto out;
	*der = p;
	*len = (size_t)n;
	p = NULL;
out:
	OPENSSL_free(p);
	X509_free(cert);
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(sans);
	EVP_PKEY_free(key);
	return n > 0 ? 0 : -1;
}

/*
 * -P: only the queried sample stays due. db_cert_put makes every new certificate's
 * first OCSP answer due at once (a (0, serial || SHA-1) entry in the due index), so a
 * daemon started on a seeded database pre-signs all N (~71 min at 10M in SoftHSM2).
 * This drops the entries of every certificate outside OUTDIR/queried.txt (init's own
 * included) and records the due index as complete (meta ocsp_due): the refresher then
 * pre-signs the sample only and is idle after that, as at steady state between re-signs.
 * The certificate records and their indexes are untouched: an OCSP hit on the sample
 * still reads the N-entry certificate tree; the answer table holds the sample's answers
 * only.
 */
#define PRUNE_BATCH 20000

struct prune_op {
	uint8_t (*keep)[16]; /* the sample, sorted */
	size_t n_keep;
	uint8_t last[8 + 17];
	size_t last_len;
	uint8_t (*del)[8 + 17];
	size_t nd, deleted, kept;
	int done;
};

static int cmp16(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

static int prune_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct prune_op *op = arg;
	const uint8_t *k = key;
	static const uint8_t zero[8];
	(void)val;
	(void)vlen;

	if (klen < 9 || memcmp(k, zero, 8) != 0) {
		op->done = 1; /* past the entries due at 0 (the seeded ones) */
		return 1;
	}
	if (op->last_len == klen && memcmp(k, op->last, klen) == 0)
		return 0; /* where the previous batch stopped (kept) */
	memcpy(op->last, k, klen);
	op->last_len = klen;
	if (klen == 8 + 17 && bsearch(k + 8, op->keep, op->n_keep, 16, cmp16) != NULL) {
		op->kept++;
		return 0;
	}
	if (klen != 8 + 17)
		return 0; /* not a 16-byte serial: left due */
	memcpy(op->del[op->nd++], k, klen);
	return op->nd == PRUNE_BATCH ? 1 : 0;
}

static int prune_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct prune_op *op = arg;
	size_t i;
	int rc;

	op->nd = 0;
	rc = db_iterate(txn, DB_OCSP_DUE, op->last_len ? op->last : NULL, op->last_len, prune_cb, op);
	if (rc < 0)
		return cairn_err_set(err, rc, "prune: %s", cairn_strerror(rc));
	if (rc == 0)
		op->done = 1;
	for (i = 0; i < op->nd; i++)
		if ((rc = db_del(txn, DB_OCSP_DUE, op->del[i], 8 + 17)) != 0)
			return cairn_err_set(err, rc, "prune: %s", cairn_strerror(rc));
	op->deleted += op->nd;
	if (op->done)
		return db_put(txn, DB_META, "ocsp_due", 8, "1", 1, 0);
	return 0;
}

static int prune_main(const char *cadir, const char *outdir)
{
	cairn_err_t err = { 0 };
	struct prune_op op = { 0 };
	char path[600], line[128];
	size_t cap = 1024;
	db_t *db = NULL;
	uint64_t t0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/queried.txt", outdir);
	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "ocsp_seed: cannot read %s\n", path);
		return 1;
	}
	op.keep = malloc(cap * 16);
	op.del = malloc(PRUNE_BATCH * sizeof(*op.del));
	while (op.keep != NULL && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, " \n")] = 0;
		if (op.n_keep == cap && (op.keep = realloc(op.keep, (cap *= 2) * 16)) == NULL)
			break;
		if (hex_decode(line, op.keep[op.n_keep], 16) == 16)
			op.n_keep++;
	}
	fclose(f);
	if (op.keep == NULL || op.del == NULL)
		return 1;
	qsort(op.keep, op.n_keep, 16, cmp16);
	snprintf(path, sizeof(path), "%s/db", cadir);
	if (db_open(path, &db, &err) != 0) {
		fprintf(stderr, "ocsp_seed: %s\n", cairn_err_msg(&err));
		return 1;
	}
	t0 = time_mono_ms();
	while (!op.done)
		if (db_write(db, prune_run, &op, &err) != 0) {
			fprintf(stderr, "ocsp_seed: %s\n", cairn_err_msg(&err));
			return 1;
		}
	db_close(db);
	printf("{\"due_dropped\":%zu,\"due_kept\":%zu,\"seconds\":%.3f}\n", op.deleted, op.kept,
	       (double)(time_mono_ms() - t0) / 1000);
	free(op.keep);
	free(op.del);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ocsp_seed [-e DAYS] [-N DOMAIN] [-T | -C CERT.pem] [-r R] [-b BATCH] [-O] CADIR N QUERIED OUTDIR\n"
		"       ocsp_seed -P CADIR OUTDIR\n"
		"  adds N certificates (every R-th revoked, default 10) to CADIR's database (daemon\n"
		"  stopped) and writes OUTDIR/reqs.lua (QUERIED requests), OUTDIR/queried.txt\n"
		"  (serial hex and status of each), index.txt and signer.{key,pem}\n"
		"  -e DAYS    notAfter spread evenly over DAYS days (default: all in 90 days)\n"
		"  -N DOMAIN  index one name per certificate: h<i>.z<i%%%d>.DOMAIN\n"
		"  -T         store a template certificate (~0.6 KB) as every record's DER\n"
		"  -C PEM     store that certificate's DER as every record's (the replace tests)\n"
		"  -b BATCH   records per write transaction (default %d)\n"
		"  -O         skip openssl's index.txt and signer\n"
		"  -P         after seeding: only OUTDIR/queried.txt's certificates stay due for\n"
		"             pre-signing, the due index is recorded complete (bench/scale.sh -s)\n"
		"  prints one JSON line: counts, seconds, certificates/s, and the expected answers\n"
		"  of the 30-day expiry window and of one name group\n",
		NAME_GROUPS, BATCH);
}

int main(int argc, char **argv)
{
	cairn_err_t err = { 0 };
	uint8_t (*serials)[16] = NULL;
	size_t n, k, i, step, expiring = 0, group7 = 0, n_revoked = 0;
	char path[600], hex[33];
	db_t *db = NULL;
	X509 *issuer = NULL;
	FILE *f, *fq;
	int64_t now = time(NULL);
	struct seed_op base = { 0 };
	int opt, ossl = 1, prune = 0;
	const char *carry = NULL; /* -C: every record carries this certificate */
	uint64_t t0, ms;
	size_t batch = BATCH;

	while ((opt = getopt(argc, argv, "e:N:Tr:OC:b:P")) != -1) {
		switch (opt) {
		case 'e': base.expiry_days = atoi(optarg); break;
		case 'N': base.domain = optarg; break;
		case 'T': base.der_len = 1; break;
		case 'r': revoke_every = (unsigned)atoi(optarg); break;
		case 'O': ossl = 0; break;
		case 'C': carry = optarg; break;
		case 'b': batch = strtoul(optarg, NULL, 10); break;
		case 'P': prune = 1; break;
		default: usage(); return 2;
		}
	}
	if (prune && argc - optind == 2)
		return prune_main(argv[optind], argv[optind + 1]);
	if (prune || argc - optind != 4 || base.expiry_days < 0 || base.expiry_days > 3650 ||
	    revoke_every < 1 || batch < 1 || (base.domain && strlen(base.domain) > 200)) {
		usage();
		return 2;
	}
	argv += optind;
	n = strtoul(argv[1], NULL, 10);
	k = strtoul(argv[2], NULL, 10);
	if (n < 10 || k < 1 || k > n) {
		fprintf(stderr, "ocsp_seed: need N >= 10 and 1 <= QUERIED <= N\n");
		return 2;
	}
	if (base.der_len && template_der(base.domain, (uint8_t **)&base.der, &base.der_len) != 0) {
		fprintf(stderr, "ocsp_seed: cannot build the template certificate\n");
		return 1;
	}
	if (carry != NULL) {
		X509 *x = NULL;
		unsigned char *der = NULL;
		int len = -1;

		if (base.der_len) {
			usage();
			return 2;
		}
		if ((f = fopen(carry, "r")) != NULL) {
			x = PEM_read_X509(f, NULL, NULL, NULL);
			fclose(f);
		}
		if (x == NULL || (len = i2d_X509(x, &der)) <= 0) {
			fprintf(stderr, "ocsp_seed: cannot read %s\n", carry);
			X509_free(x);
			return 1;
		}
		X509_free(x);
		base.der = der;
		base.der_len = (size_t)len;
	}
	snprintf(path, sizeof(path), "%s/ca/issuing.pem", argv[0]);
	if ((f = fopen(path, "r")) == NULL || (issuer = PEM_read_X509(f, NULL, NULL, NULL)) == NULL) {
		fprintf(stderr, "ocsp_seed: cannot read %s\n", path);
		return 1;
	}
	fclose(f);
	if ((serials = malloc(n * 16)) == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		if (util_random(serials[i], 16) != 0)
			return 1;
		serials[i][0] = (uint8_t)((serials[i][0] & 0x7f) | 0x01);
	}
	snprintf(path, sizeof(path), "%s/db", argv[0]);
	if (db_open(path, &db, &err) != 0) {
		fprintf(stderr, "ocsp_seed: %s\n", cairn_err_msg(&err));
		return 1;
	}
	base.serials = serials;
	base.now = now;
	t0 = time_mono_ms();
	for (i = 0; i < n; i += batch) {
		struct seed_op op = base;
		op.from = i;
		op.to = i + batch < n ? i + batch : n;
		if (db_write(db, seed_run, &op, &err) != 0) {
			fprintf(stderr, "ocsp_seed: %s\n", cairn_err_msg(&err));
			return 1;
		}
	}
	ms = time_mono_ms() - t0;
	db_close(db);
	for (i = 0; i < n; i++) {
		n_revoked += revoked(i) != 0;
		expiring += not_after(&base, i) < now + 30 * 86400;
		group7 += i % NAME_GROUPS == 7;
	}
	/* The queried set: k certificates spread over the database, every 10th revoked. */
	snprintf(path, sizeof(path), "%s/reqs.lua", argv[3]);
	if ((f = fopen(path, "w")) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/queried.txt", argv[3]);
	if ((fq = fopen(path, "w")) == NULL)
		return 1;
	step = n / k;
	fprintf(f, "-- generated by bench/ocsp_seed: %zu requests, SHA-1 CertIDs, no nonce "
		   "(nonce_bodies: the same with a nonce, always signed live)\nreturn {\n", k);
	for (int pass = 0; pass < 3; pass++) {
		fprintf(f, pass == 0 ? "paths = {\n" : pass == 1 ? "bodies = {\n" : "nonce_bodies = {\n");
		for (i = 0; i < k; i++) {
			unsigned char *der = NULL;
			size_t idx = i * step;
			int len;

			/* Keep the queried set at 10% revoked whatever the step. */
			if (revoked(idx) && i % 10 != 0 && idx + 1 < n)
				idx++;
			else if (!revoked(idx) && i % 10 == 0)
				idx -= idx % revoke_every;
			len = request_der(issuer, serials[idx], pass == 2, &der);
			if (len <= 0)
				return 1;
			if (pass == 0) {
				fputc('"', f);
				url_b64(f, der, len);
				fputs("\",\n", f);
				hex_encode(serials[idx], 16, hex);
				fprintf(fq, "%s %s\n", hex, revoked(idx) ? "revoked" : "good");
			} else {
				lua_string(f, der, len);
				fputs(",\n", f);
			}
			OPENSSL_free(der);
		}
		fprintf(f, "},\n");
	}
	fprintf(f, "}\n");
	fclose(f);
	fclose(fq);
	if (ossl && write_openssl_side(argv[3], serials, n, now) != 0) {
		fprintf(stderr, "ocsp_seed: cannot write the openssl side\n");
		return 1;
	}
	printf("{\"seeded\":%zu,\"revoked\":%zu,\"seconds\":%.3f,\"per_second\":%.0f,"
	       "\"der_bytes\":%zu,\"expiring_30d\":%zu,\"group\":\".z7.%s\",\"group_count\":%zu,"
	       "\"queried\":%zu}\n",
	       n, n_revoked, (double)ms / 1000, ms ? (double)n * 1000 / (double)ms : 0.0,
	       base.der_len, base.expiry_days ? expiring : 0, base.domain ? base.domain : "",
	       base.domain ? group7 : 0, k);
	OPENSSL_free((void *)base.der);
	X509_free(issuer);
	free(serials);
	return 0;
}
