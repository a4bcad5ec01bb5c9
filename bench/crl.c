/* SPDX-License-Identifier: MIT */
/* bench/crl_bench: time and peak memory of crl_build with 10k..1M revoked entries, beside `openssl ca -gencrl`; with -K, of all K shard CRLs too (K walks or one). */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/bn.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "crl/crl.h"
#include "db/db.h"

#define BATCH 20000 /* records per db_write while seeding */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

struct seed_op {
	uint8_t (*serials)[16];
	size_t from, to;
	int64_t revoked_at, not_after;
};

static int seed_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct seed_op *op = arg;
	size_t i;
	int rc;

	for (i = op->from; i < op->to; i++) {
		db_cert_t c = { 0 };
		memcpy(c.serial, op->serials[i], 16);
		c.serial_len = 16;
		c.status = DB_CERT_REVOKED;
		c.not_before = op->revoked_at - 86400;
		c.not_after = op->not_after;
		c.revoked_at = op->revoked_at - (int64_t)(i % 86400);
		c.reason = 1;
		memcpy(c.issuer, "issuing", 8);
		memcpy(c.profile, "tls-server", 11);
		memcpy(c.requester, "bench", 6);
		if ((rc = db_cert_put(txn, &c, NULL, 0)) != 0)
			return cairn_err_set(err, rc, "seed: %s", cairn_strerror(rc));
	}
	return 0;
}

/* A "Name: N kB" line of /proc/self/status, in kB (-1 when absent). */
static long status_kb(const char *name)
{
	FILE *f = fopen("/proc/self/status", "r");
	char l[256];
	long v = -1;

	while (f != NULL && fgets(l, sizeof(l), f) != NULL)
		if (strncmp(l, name, strlen(name)) == 0)
			v = strtol(l + strlen(name), NULL, 10);
	if (f != NULL)
		fclose(f);
	return v;
}

/* The reference: the same CRL through OpenSSL's X509_CRL object API (one
 * X509_REVOKED per entry, X509_CRL_sort, X509_CRL_sign), from the same index walk. */
struct obj_walk {
	X509_CRL *crl;
	size_t n;
	int fail;
};

static int obj_cb(const db_revocation_t *r, void *arg)
{
	struct obj_walk *w = arg;
	X509_REVOKED *rev = X509_REVOKED_new();
	BIGNUM *bn = BN_bin2bn(r->serial, (int)r->serial_len, NULL);
	ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)r->revoked_at);
	ASN1_ENUMERATED *reason = ASN1_ENUMERATED_new();

	if (rev == NULL || ai == NULL || t == NULL || reason == NULL ||
	    !X509_REVOKED_set_serialNumber(rev, ai) || !X509_REVOKED_set_revocationDate(rev, t) ||
	    !ASN1_ENUMERATED_set(reason, r->reason) ||
	    (r->reason != 0 && !X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, reason, 0, 0)) ||
	    !X509_CRL_add0_revoked(w->crl, rev)) {
		X509_REVOKED_free(rev);
		w->fail = 1;
	} else {
		w->n++;
	}
	ASN1_ENUMERATED_free(reason);
	ASN1_TIME_free(t);
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return w->fail;
}

static int objapi_build(db_txn_t *txn, X509 *cert, EVP_PKEY *key, uint8_t **der, size_t *len,
			size_t *entries)
{
	struct obj_walk w = { X509_CRL_new(), 0, 0 };
	ASN1_TIME *tu = ASN1_TIME_set(NULL, time(NULL)), *nu = ASN1_TIME_set(NULL, time(NULL) + 86400);
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	unsigned char *buf = NULL;
	int n = -1;

	if (w.crl != NULL && tu != NULL && nu != NULL && num != NULL && akid != NULL &&
	    X509_CRL_set_version(w.crl, X509_CRL_VERSION_2) &&
	    X509_CRL_set_issuer_name(w.crl, X509_get_subject_name(cert)) &&
	    X509_CRL_set1_lastUpdate(w.crl, tu) && X509_CRL_set1_nextUpdate(w.crl, nu) &&
	    ASN1_INTEGER_set(num, 1) && X509_CRL_add1_ext_i2d(w.crl, NID_crl_number, num, 0, 0) &&
	    (akid->keyid = ASN1_OCTET_STRING_dup(X509_get0_subject_key_id(cert))) != NULL &&
	    X509_CRL_add1_ext_i2d(w.crl, NID_authority_key_identifier, akid, 0, 0) &&
	    db_revocations(txn, "issuing", obj_cb, &w) == 0 && !w.fail && X509_CRL_sort(w.crl) &&
	    X509_CRL_sign(w.crl, key, EVP_sha256()) > 0)
		n = i2d_X509_CRL(w.crl, &buf);
	AUTHORITY_KEYID_free(akid);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
	X509_CRL_free(w.crl);
	if (n <= 0)
		return -1;
	*der = malloc((size_t)n);
	memcpy(*der, buf, (size_t)n);
	OPENSSL_free(buf);
	*len = (size_t)n;
	*entries = w.n;
	return 0;
}

/* Shard CRLs per issuer (-K): the seeded serials name one of them; 0 = plain serials. */
static unsigned g_shards;

/* How the shard children build (-S, -W, -F). */
enum shard_mode { SHARDS_EACH, SHARDS_ONE_WALK, SHARDS_WITH_FULL };

/* The shard children: the K shard CRLs of dir, each with its IDP — one crl_build after
 * the other, one read txn each (-S, what the daemon did before crl_build_set), or all in
 * one crl_build_set walk (-W), or those and the full CRL in one walk (-F). Prints
 * "seconds entries bytes anon_kB file_kB" summed over the shard CRLs (seconds: all
 * builds; anon_kB: peak anonymous memory, VmHWM less the file pages; the last field is
 * VmHWM, the peak RSS of the build, in place of file_kB). */
static int child_shards(const char *dir, enum shard_mode mode)
{
	char dbdir[600], kpath[600], cpath[600], (*url)[64] = NULL;
	FILE *kf, *cf;
	EVP_PKEY *key;
	X509 *cert;
	cairn_err_t err = { 0 };
	db_t *db = NULL;
	db_txn_t *txn = NULL;
	crl_params_t *ps = NULL;
	const crl_params_t **pp = NULL;
	uint8_t **der = NULL;
	size_t *len = NULL, entries = 0, bytes = 0, i, n;
	crl_stats_t *st = NULL;
	double t0, total = 0;
	char line[128];
	long anon_peak = 0, hwm = 0;
	int w;

	snprintf(dbdir, sizeof(dbdir), "%s/db", dir);
	snprintf(kpath, sizeof(kpath), "%s/ca.key", dir);
	snprintf(cpath, sizeof(cpath), "%s/ca.pem", dir);
	if (g_shards < 2 || (kf = fopen(kpath, "r")) == NULL || (cf = fopen(cpath, "r")) == NULL ||
	    (key = PEM_read_PrivateKey(kf, NULL, NULL, NULL)) == NULL ||
	    (cert = PEM_read_X509(cf, NULL, NULL, NULL)) == NULL ||
	    db_open(dbdir, &db, &err) != 0)
		return 1;
	n = g_shards + (mode == SHARDS_WITH_FULL);
	ps = calloc(n, sizeof(*ps));
	pp = calloc(n, sizeof(*pp));
	der = calloc(n, sizeof(*der));
	len = calloc(n, sizeof(*len));
	st = calloc(n, sizeof(*st));
	url = calloc(n, sizeof(*url));
	if (ps == NULL || pp == NULL || der == NULL || len == NULL || st == NULL || url == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		ps[i] = (crl_params_t){ .issuer = "issuing", .cert = cert, .key = key, .number = 1,
					.this_update = time(NULL), .next_update = time(NULL) + 86400,
					.keep_expired = 1 };
		if (i < g_shards) {
			snprintf(url[i], sizeof(url[i]), "http://bench.test/crl/issuing/%zu.crl", i);
			ps[i].idp_url = url[i];
			ps[i].shard = (int)i;
		}
		pp[i] = &ps[i];
	}
	if (mode == SHARDS_EACH) {
		for (i = 0; i < n; i++) {
			/* One read txn per shard, like crl_rebuild did. */
			t0 = now_s();
			if (db_read_begin(db, &txn) != 0 ||
			    crl_build(txn, &ps[i], &der[i], &len[i], &st[i], &err) != 0) {
				fprintf(stderr, "crl_build shard %zu: %s\n", i, cairn_err_msg(&err));
				return 1;
			}
			db_txn_end(txn);
			total += now_s() - t0;
			free(der[i]);
			der[i] = NULL;
		}
	} else {
		t0 = now_s();
		if (db_read_begin(db, &txn) != 0 || crl_build_set(txn, pp, n, der, len, st, &err) != 0) {
			fprintf(stderr, "crl_build_set: %s\n", cairn_err_msg(&err));
			return 1;
		}
		db_txn_end(txn);
		total = now_s() - t0;
	}
	/* The peaks so far, before the parse-back below (whose objects are not the build's):
	 * all n CRLs were alive at once (-W, -F). */
	hwm = status_kb("VmHWM:");
	anon_peak = hwm - status_kb("RssFile:");
	for (i = 0; i < g_shards; i++) {
		entries += st[i].entries;
		bytes += len[i];
	}
	if (mode == SHARDS_WITH_FULL && st[g_shards].entries != entries) {
		fprintf(stderr, "the full CRL has %zu entries, the shards %zu\n",
			st[g_shards].entries, entries);
		return 1;
	}
	/* Parse every shard back (not timed): signature, entry count. */
	for (i = 0; mode != SHARDS_EACH && i < n; i++) {
		const unsigned char *q = der[i];
		X509_CRL *crl = d2i_X509_CRL(NULL, &q, (long)len[i]);
		if (crl == NULL || X509_CRL_verify(crl, key) != 1 ||
		    (size_t)sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) != st[i].entries) {
			fprintf(stderr, "CRL %zu does not parse back\n", i);
			return 1;
		}
		X509_CRL_free(crl);
		free(der[i]);
	}
	w = snprintf(line, sizeof(line), "%.3f %zu %zu %ld %ld\n", total, entries, bytes, anon_peak,
		     hwm);
	db_close(db);
	return write(1, line, (size_t)w) == w ? 0 : 1;
}

/* The child (a fresh process: its peak RSS is the build's alone): open the db in
 * dir, build + sign one CRL with dir/ca.key (crl_build, or the object API when
 * objects is set), write dir/issuing.crl; prints "seconds entries bytes anon_kB
 * file_kB" on stdout. */
static int child_build(const char *dir, int objects)
{
	char dbdir[600], out[600], kpath[600], cpath[600];
	FILE *kf, *cf;
	EVP_PKEY *key;
	X509 *cert;
	crl_params_t p;
	cairn_err_t err = { 0 };
	crl_stats_t st;
	db_t *db = NULL;
	db_txn_t *txn = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	double t0;
	char line[128];
	FILE *f;
	int n;

	snprintf(dbdir, sizeof(dbdir), "%s/db", dir);
	snprintf(out, sizeof(out), "%s/%s.crl", dir, objects ? "objapi" : "issuing");
	snprintf(kpath, sizeof(kpath), "%s/ca.key", dir);
	snprintf(cpath, sizeof(cpath), "%s/ca.pem", dir);
	if ((kf = fopen(kpath, "r")) == NULL || (cf = fopen(cpath, "r")) == NULL ||
	    (key = PEM_read_PrivateKey(kf, NULL, NULL, NULL)) == NULL ||
	    (cert = PEM_read_X509(cf, NULL, NULL, NULL)) == NULL)
		return 1;
	p = (crl_params_t){ .issuer = "issuing", .cert = cert, .key = key, .number = 1,
			    .this_update = time(NULL), .next_update = time(NULL) + 86400,
			    .keep_expired = 1 };
	if (db_open(dbdir, &db, &err) != 0 || db_read_begin(db, &txn) != 0)
		return 1;
	t0 = now_s();
	if (objects ? objapi_build(txn, cert, key, &der, &len, &st.entries) != 0
		    : crl_build(txn, &p, &der, &len, &st, &err) != 0) {
		fprintf(stderr, "crl_build: %s\n", cairn_err_msg(&err));
		return 1;
	}
	t0 = now_s() - t0;
	db_txn_end(txn);
	/* At this point the CRL buffer is alive: the peak of anonymous memory. */
	n = snprintf(line, sizeof(line), "%.3f %zu %zu %ld %ld\n", t0, st.entries, len,
		     status_kb("RssAnon:"), status_kb("RssFile:"));
	if ((f = fopen(out, "wb")) == NULL || fwrite(der, 1, len, f) != len || fclose(f) != 0)
		return 1;
	if (write(1, line, (size_t)n) != n)
		return 1;
	free(der);
	db_close(db);
	return 0;
}

struct child_result {
	double secs, rss_mib;
	size_t entries, bytes;
	long anon_kb, file_kb;
};

/* Runs `crl_bench MODE dir` in a fresh process and reads its figures. */
static int run_child(const char *mode, const char *dir, struct child_result *r)
{
	struct rusage ru;
	char line[160] = "";
	int pipefd[2], status;
	pid_t pid;

	if (pipe(pipefd) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		dup2(pipefd[1], 1);
		execl("/proc/self/exe", "crl_bench", mode, dir, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	if (read(pipefd[0], line, sizeof(line) - 1) <= 0)
		line[0] = '\0';
	close(pipefd[0]);
	if (pid < 0 || wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0 ||
	    sscanf(line, "%lf %zu %zu %ld %ld", &r->secs, &r->entries, &r->bytes, &r->anon_kb,
		   &r->file_kb) != 5)
		return -1;
	r->rss_mib = (double)ru.ru_maxrss / 1024.0;
	return 0;
}

/* Runs argv, returning wall seconds and peak RSS (MiB) of the child. */
static int run_measured(char *const argv[], double *secs, double *mib)
{
	struct rusage ru;
	double t0 = now_s();
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		freopen("/dev/null", "w", stdout);
		freopen("/dev/null", "w", stderr);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	*secs = now_s() - t0;
	*mib = (double)ru.ru_maxrss / 1024.0;
	return 0;
}

static int write_openssl_side(const char *dir, uint8_t (*serials)[16], size_t n,
			      int64_t revoked_at, int64_t not_after, X509 *cert, EVP_PKEY *key)
{
	char path[512], hex[33], na[16], ra[16];
	struct tm tm;
	time_t t;
	FILE *f;
	size_t i;

	snprintf(path, sizeof(path), "%s/index.txt", dir);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	t = (time_t)not_after;
	gmtime_r(&t, &tm);
	strftime(na, sizeof(na), "%y%m%d%H%M%SZ", &tm);
	for (i = 0; i < n; i++) {
		t = (time_t)(revoked_at - (int64_t)(i % 86400));
		gmtime_r(&t, &tm);
		strftime(ra, sizeof(ra), "%y%m%d%H%M%SZ", &tm);
		hex_encode(serials[i], 16, hex);
		for (char *p = hex; *p; p++)
			if (*p >= 'a' && *p <= 'f')
				*p = (char)(*p - 'a' + 'A');
		fprintf(f, "R\t%s\t%s,keyCompromise\t%s\tunknown\t/CN=bench-%zu\n", na, ra, hex, i);
	}
	if (fclose(f) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/ca.key", dir);
	if ((f = fopen(path, "w")) == NULL || !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL))
		return -1;
	fclose(f);
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	if ((f = fopen(path, "w")) == NULL || !PEM_write_X509(f, cert))
		return -1;
	fclose(f);
	snprintf(path, sizeof(path), "%s/crlnumber", dir);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fputs("01\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/openssl.cnf", dir);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fprintf(f, "[ca]\ndefault_ca = bench\n[bench]\ndatabase = %s/index.txt\n"
		   "certificate = %s/ca.pem\nprivate_key = %s/ca.key\ncrlnumber = %s/crlnumber\n"
		   "default_md = sha256\ndefault_crl_days = 1\ncrl_extensions = crl_ext\n"
		   "[crl_ext]\nauthorityKeyIdentifier = keyid:always\n",
		dir, dir, dir, dir);
	return fclose(f);
}

#define ROUNDS 5 /* interleaved rounds of the shard builds */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int bench_size(size_t n, int with_openssl, int keep)
{
	char tmpl[] = "/tmp/cairn-crlbench-XXXXXX", dbdir[600], out[600], cnf[600], ossl_out[600];
	uint8_t (*serials)[16] = NULL;
	cairn_err_t err = { 0 };
	EVP_PKEY *key = EVP_EC_gen("P-256");
	ca_cert_spec_t spec = { 0 };
	X509 *cert = NULL, *crlx = NULL;
	db_t *db = NULL;
	int64_t revoked_at = time(NULL) - 60, not_after = time(NULL) + 90 * 86400;
	double t0, seed_s, ours_s, ours_mib, ossl_s = 0, ossl_mib = 0;
	size_t i, entries = 0, bytes = 0;
	long anon_kb = 0, file_kb = 0;
	struct child_result ours = { 0 }, obj = { 0 };
	int rc = 1;
	X509_CRL *crl = NULL;

	if (mkdtemp(tmpl) == NULL || key == NULL || (serials = malloc(n * 16)) == NULL)
		goto out;
	spec.subject_cn = "Bench Issuing CA";
	spec.validity_days = 365;
	spec.is_ca = 1;
	spec.path_len = 0;
	spec.key_usage = X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN;
	if (ca_cert_build(&spec, NULL, key, key, &cert, &err) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (g_shards >= 2) {
			if (util_serial_sharded(serials[i], g_shards, NULL) != 0)
				goto out;
			continue;
		}
		if (util_random(serials[i], 16) != 0)
			goto out;
		serials[i][0] = (uint8_t)((serials[i][0] & 0x7f) | 0x01);
	}
	snprintf(dbdir, sizeof(dbdir), "%s/db", tmpl);
	t0 = now_s();
	if (db_open(dbdir, &db, &err) != 0)
		goto out;
	for (i = 0; i < n; i += BATCH) {
		struct seed_op op = { serials, i, i + BATCH < n ? i + BATCH : n, revoked_at, not_after };
		if (db_write(db, seed_run, &op, &err) != 0) {
			fprintf(stderr, "seed: %s\n", cairn_err_msg(&err));
			goto out;
		}
	}
	db_close(db);
	db = NULL;
	seed_s = now_s() - t0;

	/* Ours, in a fresh process so its peak RSS is the build's alone. */
	snprintf(out, sizeof(out), "%s/issuing.crl", tmpl);
	if (write_openssl_side(tmpl, serials, with_openssl ? n : 0, revoked_at, not_after, cert,
			       key) != 0 || run_child("-B", tmpl, &ours) != 0 ||
	    (with_openssl && run_child("-X", tmpl, &obj) != 0)) {
		fprintf(stderr, "crl build child failed\n");
		goto out;
	}
	ours_s = ours.secs;
	ours_mib = ours.rss_mib;
	entries = ours.entries;
	bytes = ours.bytes;
	anon_kb = ours.anon_kb;
	file_kb = ours.file_kb;
	/* Parse it back with OpenSSL (not timed): signature and entry count. */
	{
		char *data = NULL;
		size_t len;
		const unsigned char *p;
		if (fs_read(out, 1u << 30, &data, &len) != 0)
			goto out;
		p = (const unsigned char *)data;
		crl = d2i_X509_CRL(NULL, &p, (long)len);
		free(data);
		if (crl == NULL || X509_CRL_verify(crl, key) != 1 ||
		    (size_t)sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) != n || entries != n) {
			fprintf(stderr, "the CRL does not parse back with %zu entries\n", n);
			goto out;
		}
	}
	if (with_openssl) {
		char *argv[] = { "openssl", "ca", "-config", cnf, "-gencrl", "-batch", "-out", ossl_out, NULL };
		snprintf(cnf, sizeof(cnf), "%s/openssl.cnf", tmpl);
		snprintf(ossl_out, sizeof(ossl_out), "%s/openssl.crl", tmpl);
		if (run_measured(argv, &ossl_s, &ossl_mib) != 0) {
			fprintf(stderr, "openssl ca -gencrl failed (config in %s)\n", tmpl);
			keep = 1;
			goto out;
		}
	}
	printf("%8zu entries (%.1f MB CRL): cairn crl_build %6.2f s, peak RSS %6.1f MiB "
	       "(anon %5.1f + LMDB file pages %5.1f)",
	       n, (double)bytes / 1e6, ours_s, ours_mib, anon_kb / 1024.0, file_kb / 1024.0);
	if (with_openssl)
		printf("\n%8s X509_CRL object API %6.2f s, peak RSS %6.1f MiB | openssl ca "
		       "-gencrl %6.2f s, peak RSS %6.1f MiB",
		       "", obj.secs, obj.rss_mib, ossl_s, ossl_mib);
	printf("  [seeded in %.1f s]\n", seed_s);
	if (g_shards >= 2) {
		/* The three ways, interleaved (rounds, medians below). */
		static const char *const modes[3] = { "-S", "-W", "-F" };
		static const char *const what[3] = { "one after the other (K walks)",
						      "all in one walk", "with the full CRL, one walk" };
		struct child_result sh[3][ROUNDS];
		double secs[ROUNDS], rss[ROUNDS], anon[ROUNDS];
		int m, k;

		for (k = 0; k < ROUNDS; k++)
			for (m = 0; m < 3; m++)
				if (run_child(modes[m], tmpl, &sh[m][k]) != 0 || sh[m][k].entries != n) {
					fprintf(stderr, "shard builds (%s) failed or lost entries\n", modes[m]);
					goto out;
				}
		for (m = 0; m < 3; m++) {
			for (k = 0; k < ROUNDS; k++) {
				secs[k] = sh[m][k].secs;
				rss[k] = sh[m][k].file_kb / 1024.0; /* VmHWM before the parse-back */
				anon[k] = sh[m][k].anon_kb / 1024.0;
			}
			printf("%8s all %u shard CRLs (%.1f MB together) %-30s %6.2f s, peak RSS "
			       "%6.1f MiB (anon %6.1f)  [median of %d]\n",
			       "", g_shards, (double)sh[m][0].bytes / 1e6, what[m], median(secs, ROUNDS),
			       median(rss, ROUNDS), median(anon, ROUNDS), ROUNDS);
			printf("{\"bench\":\"crl_shards\",\"mode\":\"%s\",\"entries\":%zu,"
			       "\"shards\":%u,\"bytes\":%zu,\"all_shards_s\":%.3f,\"rss_mib\":%.1f,"
			       "\"anon_mib\":%.1f,\"runs_s\":[",
			       modes[m] + 1, n, g_shards, sh[m][0].bytes, median(secs, ROUNDS),
			       median(rss, ROUNDS), median(anon, ROUNDS));
			for (k = 0; k < ROUNDS; k++)
				printf("%s%.3f", k ? "," : "", sh[m][k].secs);
			printf("]}\n");
		}
		fflush(stdout);
	}
	printf("{\"bench\":\"crl\",\"entries\":%zu,\"bytes\":%zu,\"cairn_s\":%.3f,\"cairn_rss_mib\":%.1f,"
	       "\"cairn_anon_mib\":%.1f,\"cairn_file_mib\":%.1f,\"objapi_s\":%.3f,\"objapi_rss_mib\":%.1f,"
	       "\"openssl_s\":%.3f,\"openssl_rss_mib\":%.1f}\n",
	       n, bytes, ours_s, ours_mib, anon_kb / 1024.0, file_kb / 1024.0, obj.secs, obj.rss_mib,
	       ossl_s, ossl_mib);
	fflush(stdout);
	rc = 0;
out:
	db_close(db);
	X509_CRL_free(crl);
	X509_free(crlx);
	X509_free(cert);
	EVP_PKEY_free(key);
	free(serials);
	if (!keep)
		nftw(tmpl, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	else
		fprintf(stderr, "kept %s\n", tmpl);
	return rc;
}

int main(int argc, char **argv)
{
	const char *sizes = "10000,100000,1000000";
	int c, with_openssl = 1, keep = 0, rc = 0;
	char *list, *tok, *save = NULL;

	const char *env = getenv("CRL_BENCH_SHARDS");

	g_shards = env != NULL ? (unsigned)atoi(env) : 0;
	while ((c = getopt(argc, argv, "s:OkB:X:S:W:F:K:")) != -1) {
		switch (c) {
		case 'B': return child_build(optarg, 0);
		case 'X': return child_build(optarg, 1);
		case 'S': return child_shards(optarg, SHARDS_EACH);
		case 'W': return child_shards(optarg, SHARDS_ONE_WALK);
		case 'F': return child_shards(optarg, SHARDS_WITH_FULL);
		case 'K':
			g_shards = (unsigned)atoi(optarg);
			if (g_shards < 2 || g_shards > UTIL_SHARDS_MAX) {
				fprintf(stderr, "crl_bench: -K takes 2..%d\n", UTIL_SHARDS_MAX);
				return 2;
			}
			/* The children learn K from the environment (their argv is MODE DIR). */
			setenv("CRL_BENCH_SHARDS", optarg, 1);
			break;
		case 's': sizes = optarg; break;
		case 'O': with_openssl = 0; break;
		case 'k': keep = 1; break;
		default:
			fprintf(stderr, "usage: crl_bench [-s 10000,100000,1000000] [-O (no openssl)] [-k] "
				"[-K shards]\n");
			return 2;
		}
	}
	list = strdup(sizes);
	for (tok = strtok_r(list, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
		long n = strtol(tok, NULL, 10);
		if (n < 1 || n > 10000000) {
			fprintf(stderr, "crl_bench: size %s out of 1..10000000\n", tok);
			rc = 2;
			break;
		}
		rc = bench_size((size_t)n, with_openssl, keep);
	}
	free(list);
	return rc;
}
