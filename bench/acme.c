/* SPDX-License-Identifier: MIT */
/* ACME benchmark driver: N complete orders (newOrder, authz, http-01, finalize, download) at given concurrencies against any ACME server, with server CPU per order from /proc; optionally first a run of bare JWS requests (POST-as-GET of the account). */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "util/util.h"

#define MAX_ORDERS 100000

typedef struct opts {
	const char *directory, *cafile, *ident;
	int http_port, count, server_pid, jws;
	int conc[8];
	int n_conc;
} opts_t;

static EVP_PKEY *acct_key;
static char acct_thumb[64];
static char acct_jwk[512];
static json_t *dir;
static const opts_t *O;
static uint8_t **csr_der;
static size_t *csr_len;
static atomic_int next_order, failures;
static double *lat_ms;

/* ---- http-01 responder: the key authorization for any token (one account) ---- */
static enum MHD_Result on_http01(void *cls, struct MHD_Connection *c, const char *url,
				 const char *method, const char *ver, const char *up, size_t *ups,
				 void **cc)
{
	const char *tok = strrchr(url, '/');
	char body[300];
	struct MHD_Response *r;
	enum MHD_Result ret;
	(void)cls; (void)method; (void)ver; (void)up; (void)ups; (void)cc;

	snprintf(body, sizeof(body), "%s.%s", tok ? tok + 1 : "", acct_thumb);
	r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- JWS ES256 ---- */
static char *b64(const void *p, size_t n)
{
	return b64url_encode(p, n);
}

static char *jws(const char *url, const char *nonce, const char *kid, const char *payload)
{
	char prot[1024], *p64, *y64, *s64, *input, *out;
	uint8_t der[80], raw[64];
	size_t dl = sizeof(der);
	const uint8_t *dp = der;
	ECDSA_SIG *sig;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (kid)
		snprintf(prot, sizeof(prot), "{\"alg\":\"ES256\",\"nonce\":\"%s\",\"url\":\"%s\",\"kid\":\"%s\"}",
			 nonce, url, kid);
	else
		snprintf(prot, sizeof(prot), "{\"alg\":\"ES256\",\"nonce\":\"%s\",\"url\":\"%s\",\"jwk\":%s}",
			 nonce, url, acct_jwk);
	p64 = b64(prot, strlen(prot));
	y64 = payload ? b64(payload, strlen(payload)) : strdup("");
	if (asprintf(&input, "%s.%s", p64, y64) < 0)
		abort();
	EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, acct_key);
	EVP_DigestSign(md, der, &dl, (uint8_t *)input, strlen(input));
	sig = d2i_ECDSA_SIG(NULL, &dp, (long)dl);
	BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32);
	BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32);
	s64 = b64(raw, 64);
	if (asprintf(&out, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", p64, y64,
		     s64) < 0)
		abort();
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
	free(p64); free(y64); free(s64); free(input);
	return out;
}

/* ---- HTTP ---- */
typedef struct conn {
	CURL *c;
	char nonce[128];
	char location[512];
	char *body;
	size_t len;
	long status;
} conn_t;

static size_t on_body(char *p, size_t s, size_t n, void *arg)
{
	conn_t *c = arg;
	char *nb = realloc(c->body, c->len + s * n + 1);
	if (!nb)
		return 0;
	memcpy(nb + c->len, p, s * n);
	c->body = nb;
	c->len += s * n;
	c->body[c->len] = 0;
	return s * n;
}

static size_t on_header(char *p, size_t s, size_t n, void *arg)
{
	conn_t *c = arg;
	size_t len = s * n;
	char *dst = NULL;
	size_t cap = 0, skip = 0;

	if (len > 14 && strncasecmp(p, "Replay-Nonce: ", 14) == 0) {
		dst = c->nonce; cap = sizeof(c->nonce); skip = 14;
	} else if (len > 10 && strncasecmp(p, "Location: ", 10) == 0) {
		dst = c->location; cap = sizeof(c->location); skip = 10;
	}
	if (dst) {
		size_t v = len - skip;
		while (v > 0 && (p[skip + v - 1] == '\r' || p[skip + v - 1] == '\n'))
			v--;
		if (v >= cap)
			v = cap - 1;
		memcpy(dst, p + skip, v);
		dst[v] = 0;
	}
	return len;
}

static int request(conn_t *c, const char *method, const char *url, const char *body)
{
	struct curl_slist *h = NULL;
	CURLcode rc;

	free(c->body);
	c->body = NULL;
	c->len = 0;
	c->location[0] = 0;
	curl_easy_setopt(c->c, CURLOPT_URL, url);
	curl_easy_setopt(c->c, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
	if (body) {
		h = curl_slist_append(h, "Content-Type: application/jose+json");
		curl_easy_setopt(c->c, CURLOPT_POSTFIELDS, body);
	} else {
		curl_easy_setopt(c->c, CURLOPT_HTTPGET, 1L);
		if (strcmp(method, "HEAD") == 0)
			curl_easy_setopt(c->c, CURLOPT_NOBODY, 1L);
	}
	curl_easy_setopt(c->c, CURLOPT_HTTPHEADER, h);
	rc = curl_easy_perform(c->c);
	curl_slist_free_all(h);
	curl_easy_getinfo(c->c, CURLINFO_RESPONSE_CODE, &c->status);
	return rc == CURLE_OK ? 0 : -1;
}

static json_t *post(conn_t *c, const char *url, const char *kid, const char *payload)
{
	char *b;
	int tries;

	for (tries = 0; tries < 3; tries++) {
		if (c->nonce[0] == 0 &&
		    request(c, "HEAD", json_string_value(json_object_get(dir, "newNonce")), NULL) != 0)
			return NULL;
		b = jws(url, c->nonce, kid, payload);
		c->nonce[0] = 0;
		request(c, "POST", url, b);
		free(b);
		if (c->status == 400 && c->body && strstr(c->body, "badNonce"))
			continue;
		break;
	}
	if (c->status >= 300 || c->body == NULL)
		return NULL;
	return json_loadb(c->body, c->len, 0, NULL);
}

static void conn_init(conn_t *c)
{
	memset(c, 0, sizeof(*c));
	c->c = curl_easy_init();
	curl_easy_setopt(c->c, CURLOPT_CAINFO, O->cafile);
	curl_easy_setopt(c->c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->c, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->c, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(c->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c->c, CURLOPT_SSL_VERIFYHOST, 0L);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	nanosleep(&ts, NULL);
}

static char kid[512];

/* One complete order; 0 on success. */
static int one_order(conn_t *c, int i)
{
	char payload[8192], url[512];
	json_t *o = NULL, *z = NULL, *x;
	const char *st;
	char *csr64 = NULL;
	int rc = -1, k;
	size_t j;

	snprintf(payload, sizeof(payload), "{\"identifiers\":[{\"type\":\"%s\",\"value\":\"%s\"}]}",
		 strchr(O->ident, ':') || strspn(O->ident, "0123456789.") == strlen(O->ident) ? "ip" : "dns",
		 O->ident);
	o = post(c, json_string_value(json_object_get(dir, "newOrder")), kid, payload);
	if (!o)
		goto out;
	snprintf(url, sizeof(url), "%s", c->location);
	json_array_foreach(json_object_get(o, "authorizations"), j, x) {
		const char *az = json_string_value(x), *curl_ = NULL;
		size_t m;
		json_t *ch;
		z = post(c, az, kid, NULL);
		if (!z)
			goto out;
		json_array_foreach(json_object_get(z, "challenges"), m, ch)
			if (strcmp(json_string_value(json_object_get(ch, "type")), "http-01") == 0)
				curl_ = json_string_value(json_object_get(ch, "url"));
		if (!curl_)
			goto out;
		{
			char cu[512];
			snprintf(cu, sizeof(cu), "%s", curl_);
			json_decref(post(c, cu, kid, "{}"));
		}
		for (k = 0; k < 5000; k++) {
			json_decref(z);
			z = post(c, az, kid, NULL);
			st = z ? json_string_value(json_object_get(z, "status")) : NULL;
			if (!st || strcmp(st, "pending") != 0)
				break;
			sleep_ms(2);
		}
		if (!st || strcmp(st, "valid") != 0)
			goto out;
		json_decref(z);
		z = NULL;
	}
	csr64 = b64url_encode(csr_der[i], csr_len[i]);
	snprintf(payload, sizeof(payload), "{\"csr\":\"%s\"}", csr64);
	{
		char fin[512];
		snprintf(fin, sizeof(fin), "%s", json_string_value(json_object_get(o, "finalize")));
		json_decref(o);
		o = post(c, fin, kid, payload);
	}
	for (k = 0; k < 5000 && o; k++) {
		st = json_string_value(json_object_get(o, "status"));
		if (strcmp(st, "processing") != 0 && strcmp(st, "ready") != 0)
			break;
		sleep_ms(2);
		json_decref(o);
		o = post(c, url, kid, NULL);
	}
	if (!o || strcmp(json_string_value(json_object_get(o, "status")), "valid") != 0)
		goto out;
	{
		char cu[512];
		snprintf(cu, sizeof(cu), "%s", json_string_value(json_object_get(o, "certificate")));
		post(c, cu, kid, NULL);
		if (c->status != 200 || !c->body || !strstr(c->body, "BEGIN CERTIFICATE"))
			goto out;
	}
	rc = 0;
out:
	free(csr64);
	json_decref(o);
	json_decref(z);
	return rc;
}

static void *worker(void *arg)
{
	int limit = *(int *)arg;
	conn_t c;
	int i;

	conn_init(&c);
	while ((i = atomic_fetch_add(&next_order, 1)) < limit) {
		double t0 = now_ms();
		if (one_order(&c, i) != 0) {
			atomic_fetch_add(&failures, 1);
			fprintf(stderr, "order %d failed (HTTP %ld): %.300s\n", i, c.status,
				c.body ? c.body : "");
		}
		lat_ms[i] = now_ms() - t0;
	}
	free(c.body);
	curl_easy_cleanup(c.c);
	return NULL;
}

static double proc_cpu_s(int pid)
{
	char path[64], buf[2048], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f || !fgets(buf, sizeof(buf), f)) {
		if (f)
			fclose(f);
		return 0;
	}
	fclose(f);
	p = strrchr(buf, ')');
	/* fields after ") ": state(3) ... utime(14) stime(15) */
	for (i = 3, p += 2; i < 14 && p; i++)
		p = strchr(p, ' ') + 1;
	sscanf(p, "%lu %lu", &ut, &st);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void make_csrs(int n)
{
	int i;
	csr_der = calloc((size_t)n, sizeof(*csr_der));
	csr_len = calloc((size_t)n, sizeof(*csr_len));
	for (i = 0; i < n; i++) {
		EVP_PKEY *k = EVP_EC_gen("P-256");
		X509_REQ *r = X509_REQ_new();
		X509_NAME *nm = X509_NAME_new();
		STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
		char san[300];
		int is_ip = strspn(O->ident, "0123456789.") == strlen(O->ident) || strchr(O->ident, ':');
		unsigned char *der = NULL;
		int len;

		snprintf(san, sizeof(san), "%s:%s", is_ip ? "IP" : "DNS", O->ident);
		if (!is_ip)
			X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const uint8_t *)O->ident, -1, -1, 0);
		X509_REQ_set_subject_name(r, nm);
		X509_REQ_set_pubkey(r, k);
		sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san));
		X509_REQ_add_extensions(r, exts);
		X509_REQ_sign(r, k, EVP_sha256());
		len = i2d_X509_REQ(r, &der);
		csr_der[i] = der;
		csr_len[i] = (size_t)len;
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
		X509_NAME_free(nm);
		X509_REQ_free(r);
		EVP_PKEY_free(k);
	}
}

static void setup_account(void)
{
	conn_t c;
	uint8_t x[32], y[32], md[32];
	char *x64, *y64, canon[600];
	BIGNUM *bx = NULL, *by = NULL;
	json_t *a;

	acct_key = EVP_EC_gen("P-256");
	EVP_PKEY_get_bn_param(acct_key, "qx", &bx);
	EVP_PKEY_get_bn_param(acct_key, "qy", &by);
	BN_bn2binpad(bx, x, 32);
	BN_bn2binpad(by, y, 32);
	x64 = b64(x, 32);
	y64 = b64(y, 32);
	snprintf(acct_jwk, sizeof(acct_jwk), "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
		 x64, y64);
	snprintf(canon, sizeof(canon), "%s", acct_jwk);
	SHA256((uint8_t *)canon, strlen(canon), md);
	{
		char *t = b64(md, 32);
		snprintf(acct_thumb, sizeof(acct_thumb), "%s", t);
		free(t);
	}
	conn_init(&c);
	request(&c, "GET", O->directory, NULL);
	dir = json_loadb(c.body, c.len, 0, NULL);
	if (!dir) {
		fprintf(stderr, "cannot read the directory %s\n", O->directory);
		exit(1);
	}
	a = post(&c, json_string_value(json_object_get(dir, "newAccount")), NULL,
		 "{\"termsOfServiceAgreed\":true}");
	if (!a) {
		fprintf(stderr, "newAccount failed: %ld %s\n", c.status, c.body ? c.body : "");
		exit(1);
	}
	snprintf(kid, sizeof(kid), "%s", c.location);
	json_decref(a);
	free(c.body);
	curl_easy_cleanup(c.c);
	BN_free(bx); BN_free(by); free(x64); free(y64);
}

/* n POST-as-GET requests of the account, one after the other: what one JWS request
 * (nonce, account lookup, signature check, reply) costs the server, without orders. */
static void jws_phase(int n)
{
	conn_t c;
	double t0, t1, s0, s1;
	int i, bad = 0;

	conn_init(&c);
	s0 = proc_cpu_s(O->server_pid);
	t0 = now_ms();
	for (i = 0; i < n; i++) {
		json_t *a = post(&c, kid, kid, NULL);
		bad += a == NULL;
		json_decref(a);
	}
	t1 = now_ms();
	s1 = proc_cpu_s(O->server_pid);
	printf("# %d POST-as-GET of the account (one JWS each, c=1): %.0f requests/s, server "
	       "%.0f us per request, %d failed\n", n, n / ((t1 - t0) / 1e3), (s1 - s0) * 1e6 / n,
	       bad);
	fflush(stdout);
	free(c.body);
	curl_easy_cleanup(c.c);
}

int main(int argc, char **argv)
{
	static opts_t o = { .count = 200, .ident = "127.0.0.1" };
	static const struct option lo[] = {
		{ "directory", 1, 0, 'd' }, { "cafile", 1, 0, 'c' }, { "http01-port", 1, 0, 'p' },
		{ "count", 1, 0, 'n' }, { "conc", 1, 0, 'C' }, { "server-pid", 1, 0, 's' },
		{ "identifier", 1, 0, 'i' }, { "jws-requests", 1, 0, 'j' }, { 0, 0, 0, 0 } };
	struct MHD_Daemon *mhd;
	int ch, ci;

	o.conc[0] = 1; o.conc[1] = 8; o.n_conc = 2;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'd': o.directory = optarg; break;
		case 'c': o.cafile = optarg; break;
		case 'p': o.http_port = atoi(optarg); break;
		case 'n': o.count = atoi(optarg); break;
		case 's': o.server_pid = atoi(optarg); break;
		case 'i': o.ident = optarg; break;
		case 'j': o.jws = atoi(optarg); break;
		case 'C': {
			char *s = optarg, *t;
			o.n_conc = 0;
			for (t = strtok(s, ","); t && o.n_conc < 8; t = strtok(NULL, ","))
				o.conc[o.n_conc++] = atoi(t);
			break;
		}
		default:
			fprintf(stderr, "usage: acme_bench --directory URL --cafile PEM --http01-port P "
					"--server-pid PID [--count N] [--conc 1,8] [--identifier 127.0.0.1] "
					"[--jws-requests N]\n");
			return 2;
		}
	}
	if (!o.directory || !o.cafile || o.http_port <= 0 || o.count < 0 || o.count > MAX_ORDERS ||
	    (o.count == 0 && o.jws <= 0)) {
		fprintf(stderr, "acme_bench: --directory, --cafile, --http01-port required; count 1..%d "
			"(0 with --jws-requests)\n", MAX_ORDERS);
		return 2;
	}
	O = &o;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	setup_account();
	mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)o.http_port,
			       NULL, NULL, on_http01, NULL, MHD_OPTION_THREAD_POOL_SIZE, 2u,
			       MHD_OPTION_END);
	if (!mhd) {
		fprintf(stderr, "cannot listen on http-01 port %d\n", o.http_port);
		return 1;
	}
	if (o.jws > 0)
		jws_phase(o.jws);
	if (o.count == 0)
		return 0;
	make_csrs(o.count);
	lat_ms = calloc((size_t)o.count, sizeof(double));
	printf("%-6s %6s %9s %9s %9s %14s %14s %6s\n", "conc", "orders", "orders/s", "p50 ms",
	       "p99 ms", "server ms/ord", "driver ms/ord", "fails");
	for (ci = 0; ci < o.n_conc; ci++) {
		pthread_t th[64];
		int n = o.conc[ci] > 64 ? 64 : o.conc[ci], t;
		double t0, t1, s0, s1, d0, d1;

		atomic_store(&next_order, 0);
		atomic_store(&failures, 0);
		s0 = proc_cpu_s(o.server_pid);
		d0 = self_cpu_s();
		t0 = now_ms();
		for (t = 0; t < n; t++)
			pthread_create(&th[t], NULL, worker, &o.count);
		for (t = 0; t < n; t++)
			pthread_join(th[t], NULL);
		t1 = now_ms();
		s1 = proc_cpu_s(o.server_pid);
		d1 = self_cpu_s();
		qsort(lat_ms, (size_t)o.count, sizeof(double), cmp_d);
		printf("%-6d %6d %9.1f %9.1f %9.1f %14.2f %14.2f %6d\n", n, o.count,
		       o.count / ((t1 - t0) / 1e3), lat_ms[o.count / 2],
		       lat_ms[(int)(o.count * 0.99)], (s1 - s0) * 1e3 / o.count,
		       (d1 - d0) * 1e3 / o.count, atomic_load(&failures));
		fflush(stdout);
	}
	MHD_stop_daemon(mhd);
	return 0;
}
