/* SPDX-License-Identifier: MIT */
/* EST benchmark driver: simpleenroll requests/s over TLS keep-alive at several concurrencies, next to reference requests. */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define MAX_THREADS 64
#define MAX_CONC 8

typedef enum { MODE_BASIC, MODE_CERT, MODE_ADMIN, MODE_HEALTHZ } mode_t_;

typedef struct opts {
	const char *url, *cacert, *user, *cert, *key, *token, *label;
	mode_t_ mode;
	int count;
	double time_cap;
	int conc[MAX_CONC];
	int n_conc;
	int fresh; /* a new TLS connection for every request (clients without keep-alive) */
} opts_t;

typedef struct run {
	const opts_t *o;
	int count;
	double deadline;
	atomic_int next;
	atomic_int failed;
	atomic_long connects;
	double *lat_ms;
	char *bodies[MAX_THREADS]; /* per thread: the request body (base64 CSR or JSON) */
	int first_status;
} run_t;

typedef struct worker {
	run_t *r;
	int idx;
} worker_t;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t discard(char *p, size_t s, size_t n, void *a)
{
	(void)p;
	(void)a;
	return s * n;
}

/* A fresh P-256 key and CSR; returns base64 DER (est) or a JSON issue request (admin). */
static char *make_body(const opts_t *o, int idx)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char *der = NULL;
	char cn[64], *out = NULL;
	int n;
	BIO *b = NULL;
	BUF_MEM *mem;

	/* A device authenticated by its certificate may only ask for its own names. */
	if (o->mode == MODE_CERT)
		snprintf(cn, sizeof(cn), "bench-device");
	else
		snprintf(cn, sizeof(cn), "bench-device-%d", idx);
	if (k == NULL || req == NULL || name == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (unsigned char *)cn, -1, -1, 0) ||
	    !X509_REQ_set_subject_name(req, name) || !X509_REQ_set_pubkey(req, k) ||
	    !X509_REQ_sign(req, k, EVP_sha256()))
		goto out;
	if (o->mode == MODE_ADMIN) {
		b = BIO_new(BIO_s_mem());
		if (b == NULL || !PEM_write_bio_X509_REQ(b, req))
			goto out;
		BIO_get_mem_ptr(b, &mem);
		/* PEM has only base64, dashes and newlines: JSON-escape the newlines. */
		out = malloc(mem->length * 2 + 64);
		if (out != NULL) {
			size_t i, j = 0;
			j += (size_t)sprintf(out, "{\"profile\":\"tls-client\",\"csr\":\"");
			for (i = 0; i < mem->length; i++) {
				if (mem->data[i] == '\n') {
					out[j++] = '\\';
					out[j++] = 'n';
				} else {
					out[j++] = mem->data[i];
				}
			}
			strcpy(out + j, "\"}");
		}
	} else {
		n = i2d_X509_REQ(req, &der);
		out = n > 0 ? malloc((size_t)n * 2 + 4) : NULL;
		if (out != NULL)
			EVP_EncodeBlock((unsigned char *)out, der, n);
	}
out:
	BIO_free(b);
	OPENSSL_free(der);
	X509_NAME_free(name);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
	return out;
}

static void *worker_main(void *arg)
{
	worker_t *w = arg;
	run_t *r = w->r;
	const opts_t *o = r->o;
	CURL *c = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	char url[512], auth[512];
	long status = 0, conns = 0;
	int i;

	if (c == NULL)
		return NULL;
	switch (o->mode) {
	case MODE_HEALTHZ:
		snprintf(url, sizeof(url), "%s/healthz", o->url);
		break;
	case MODE_ADMIN:
		snprintf(url, sizeof(url), "%s/admin/v1/certificates", o->url);
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->token);
		hdrs = curl_slist_append(hdrs, auth);
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		break;
	default:
		snprintf(url, sizeof(url), "%s/.well-known/est/%s%ssimpleenroll", o->url,
			 o->label ? o->label : "", o->label ? "/" : "");
		hdrs = curl_slist_append(hdrs, "Content-Type: application/pkcs10");
		if (o->mode == MODE_BASIC) {
			curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
			curl_easy_setopt(c, CURLOPT_USERPWD, o->user);
		} else {
			curl_easy_setopt(c, CURLOPT_SSLCERT, o->cert);
			curl_easy_setopt(c, CURLOPT_SSLKEY, o->key);
		}
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, o->cacert);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	if (o->fresh)
		curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	if (o->mode != MODE_HEALTHZ)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->bodies[w->idx]);
	while ((i = atomic_fetch_add(&r->next, 1)) < r->count && now_s() < r->deadline) {
		double t0 = now_s();
		CURLcode cc = curl_easy_perform(c);

		r->lat_ms[i] = (now_s() - t0) * 1000.0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns);
		atomic_fetch_add(&r->connects, conns);
		if (cc != CURLE_OK || status != (o->mode == MODE_ADMIN ? 201 : 200)) {
			if (atomic_fetch_add(&r->failed, 1) == 0)
				fprintf(stderr, "first failure: %s, HTTP %ld\n",
					cc != CURLE_OK ? curl_easy_strerror(cc) : "status", status);
		}
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static const char *mode_name(mode_t_ m)
{
	static const char *const names[] = { "est-basic", "est-cert", "admin-api", "healthz" };
	return names[m];
}

static int run_level(const opts_t *o, int conc)
{
	pthread_t th[MAX_THREADS];
	worker_t w[MAX_THREADS];
	run_t r;
	double t0, el, *done;
	int i, n = 0;

	memset(&r, 0, sizeof(r));
	r.o = o;
	r.count = o->count;
	r.lat_ms = calloc((size_t)o->count, sizeof(double));
	done = calloc((size_t)o->count, sizeof(double));
	if (r.lat_ms == NULL || done == NULL)
		return -1;
	for (i = 0; i < o->count; i++)
		r.lat_ms[i] = -1;
	for (i = 0; i < conc; i++)
		if (o->mode != MODE_HEALTHZ && (r.bodies[i] = make_body(o, i)) == NULL)
			return -1;
	t0 = now_s();
	r.deadline = t0 + o->time_cap;
	for (i = 0; i < conc; i++) {
		w[i] = (worker_t){ &r, i };
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	for (i = 0; i < conc; i++)
		pthread_join(th[i], NULL);
	el = now_s() - t0;
	for (i = 0; i < o->count; i++)
		if (r.lat_ms[i] >= 0)
			done[n++] = r.lat_ms[i];
	qsort(done, (size_t)n, sizeof(double), cmp_double);
	printf("%-9s%s c=%-2d %5d req in %6.2f s = %8.1f req/s  p50 %7.2f ms  p99 %7.2f ms  "
	       "failed %d  TLS connections %ld%s\n",
	       mode_name(o->mode), o->fresh ? "-fresh" : "", conc, n, el, n / el, n ? done[n / 2] : 0.0,
	       n ? done[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] : 0.0, atomic_load(&r.failed),
	       atomic_load(&r.connects), n < o->count ? "  [time cap hit]" : "");
	for (i = 0; i < conc; i++)
		free(r.bodies[i]);
	free(r.lat_ms);
	free(done);
	return atomic_load(&r.failed) ? 1 : 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: est_bench --url HTTPS_BASE --cacert ROOT.pem MODE [-n N] [-c 1,8] [-t SEC]\n"
		"  MODE: --user NAME:PASSWORD (EST, HTTP Basic) | --cert F --key F (EST, client cert)\n"
		"        | --token T (admin API issuance, reference) | --healthz (GET, reference)\n"
		"  --label L   EST label (default: none)\n"
		"  --fresh     a new TLS connection for every request (no keep-alive)\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },   { "cacert", required_argument, NULL, 'a' },
		{ "user", required_argument, NULL, 'b' },  { "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },   { "token", required_argument, NULL, 'T' },
		{ "healthz", no_argument, NULL, 'h' },     { "label", required_argument, NULL, 'l' },
		{ "fresh", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	opts_t o = { .mode = MODE_HEALTHZ, .count = 400, .time_cap = 30, .conc = { 1, 8 }, .n_conc = 2 };
	int c, i, rc = 0;
	char *list, *tok, *save = NULL;

	while ((c = getopt_long(argc, argv, "n:c:t:", longopts, NULL)) != -1) {
		switch (c) {
		case 'u': o.url = optarg; break;
		case 'a': o.cacert = optarg; break;
		case 'b': o.user = optarg; o.mode = MODE_BASIC; break;
		case 'C': o.cert = optarg; o.mode = MODE_CERT; break;
		case 'K': o.key = optarg; break;
		case 'T': o.token = optarg; o.mode = MODE_ADMIN; break;
		case 'h': o.mode = MODE_HEALTHZ; break;
		case 'l': o.label = optarg; break;
		case 'f': o.fresh = 1; break;
		case 'n': o.count = atoi(optarg); break;
		case 't': o.time_cap = atof(optarg); break;
		case 'c':
			o.n_conc = 0;
			list = optarg;
			for (tok = strtok_r(list, ",", &save); tok && o.n_conc < MAX_CONC;
			     tok = strtok_r(NULL, ",", &save))
				o.conc[o.n_conc++] = atoi(tok);
			break;
		default: usage(); return 2;
		}
	}
	if (o.url == NULL || o.cacert == NULL || o.count < 1 || o.count > 1000000 ||
	    o.time_cap <= 0 || (o.mode == MODE_CERT && o.key == NULL)) {
		usage();
		return 2;
	}
	for (i = 0; i < o.n_conc; i++)
		if (o.conc[i] < 1 || o.conc[i] > MAX_THREADS) {
			usage();
			return 2;
		}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (i = 0; i < o.n_conc; i++)
		if (run_level(&o, o.conc[i]) != 0)
			rc = 1;
	curl_global_cleanup();
	return rc;
}
