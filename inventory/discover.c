/* SPDX-License-Identifier: MIT */
/* TLS discovery: targets x ports inside the allowed ranges, a bounded pool of connections
 * with connect and handshake deadlines and a start rate, and what each endpoint serves. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "inventory/inventory_int.h"

#define PORTS_MAX 64
#define CIDR_V4_MIN_PREFIX 16  /* a /16 is 65536 addresses: the most one scan expands */
#define CIDR_V6_MIN_PREFIX 112
#define DISCOVER_MAX_CHAIN (32u << 10) /* bytes of certificates a server may send us */

typedef struct cidr {
	int family;
	uint8_t addr[16];
	int prefix;
} cidr_t;

typedef struct endpoint {
	char host[256];  /* as given */
	char addr[64];   /* numeric */
	struct sockaddr_storage sa;
	socklen_t salen;
	int port;
	const char *sni;
	int name_given;  /* host is a name, not an address */
} endpoint_t;

/* "a.b.c.d/n", "v6/n" or a bare address (a /32 or /128). 0 or CAIRN_EINVAL. */
static int cidr_parse(const char *s, cidr_t *out)
{
	char buf[80], *slash, *end;
	long prefix;

	if (strlen(s) >= sizeof(buf))
		return CAIRN_EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, out->addr) == 1)
		out->family = AF_INET6;
	else
		return CAIRN_EINVAL;
	prefix = out->family == AF_INET ? 32 : 128;
	if (slash != NULL) {
		errno = 0;
		prefix = strtol(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || prefix < 0 ||
		    prefix > (out->family == AF_INET ? 32 : 128))
			return CAIRN_EINVAL;
	}
	out->prefix = (int)prefix;
	return 0;
}

static int cidr_has(const cidr_t *c, int family, const uint8_t *addr)
{
	int full = c->prefix / 8, rest = c->prefix % 8;

	if (c->family != family)
		return 0;
	if (memcmp(c->addr, addr, (size_t)full) != 0)
		return 0;
	return rest == 0 || ((c->addr[full] ^ addr[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

typedef struct scan {
	const inv_scan_opts_t *o;
	cidr_t allowed[INV_ALLOWED_MAX];
	size_t n_allowed;
	int ports[PORTS_MAX];
	size_t n_ports;
	endpoint_t *ep;
	size_t n, cap;
	/* the pool */
	pthread_mutex_t lock;
	size_t next;
	uint64_t next_start_ms;
	SSL_CTX *ctx;
	inv_scan_fn fn;
	void *arg;
} scan_t;

static int allowed(const scan_t *s, const struct sockaddr_storage *sa)
{
	const uint8_t *a = sa->ss_family == AF_INET
				   ? (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr
				   : (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
	size_t i;

	for (i = 0; i < s->n_allowed; i++)
		if (cidr_has(&s->allowed[i], sa->ss_family, a))
			return 1;
	return 0;
}

static int ep_add(scan_t *s, const char *host, const struct sockaddr *sa, socklen_t salen,
		  int port, int name_given, cairn_err_t *err)
{
	size_t k, n_sni = s->o->n_snis > 0 ? s->o->n_snis : 1;

	for (k = 0; k < n_sni; k++) {
		endpoint_t *e;
		if (s->n >= INV_SCAN_MAX_TARGETS)
			return cairn_err_set(err, CAIRN_ETOOBIG,
					     "more than %d endpoints: scan smaller ranges",
					     INV_SCAN_MAX_TARGETS);
		if (s->n == s->cap) {
			size_t cap = s->cap ? 2 * s->cap : 256;
			endpoint_t *nv = realloc(s->ep, cap * sizeof(*nv));
			if (nv == NULL)
				return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
			s->ep = nv;
			s->cap = cap;
		}
		e = &s->ep[s->n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->host, sizeof(e->host), "%s", host);
		memcpy(&e->sa, sa, salen);
		e->salen = salen;
		e->port = port;
		e->name_given = name_given;
		if (sa->sa_family == AF_INET)
			((struct sockaddr_in *)&e->sa)->sin_port = htons((uint16_t)port);
		else
			((struct sockaddr_in6 *)&e->sa)->sin6_port = htons((uint16_t)port);
		getnameinfo(sa, salen, e->addr, sizeof(e->addr), NULL, 0, NI_NUMERICHOST);
		e->sni = s->o->n_snis > 0 ? s->o->snis[k] : name_given ? e->host : NULL;
	}
	return 0;
}

/* Expands one CIDR range (every address, network and broadcast included: a TLS server may
 * listen anywhere on loopback). */
static int expand_cidr(scan_t *s, const cidr_t *c, int port, cairn_err_t *err)
{
	uint64_t count, i;
	int rc;

	if (c->prefix < (c->family == AF_INET ? CIDR_V4_MIN_PREFIX : CIDR_V6_MIN_PREFIX))
		return cairn_err_set(err, CAIRN_ETOOBIG, "range /%d is too large (at most /%d)",
				     c->prefix, c->family == AF_INET ? CIDR_V4_MIN_PREFIX
								     : CIDR_V6_MIN_PREFIX);
	count = (uint64_t)1 << ((c->family == AF_INET ? 32 : 128) - c->prefix);
	for (i = 0; i < count; i++) {
		struct sockaddr_storage sa = { 0 };
		uint8_t a[16];
		uint64_t v = i;
		int b;
		char text[64];

		memcpy(a, c->addr, 16);
		for (b = (c->family == AF_INET ? 3 : 15); b >= 0 && v > 0; b--, v >>= 8)
			a[b] = (uint8_t)(a[b] + (v & 0xff)); /* host bits of the base are zero below */
		if (c->family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&sa;
			in->sin_family = AF_INET;
			memcpy(&in->sin_addr, a, 4);
		} else {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&sa;
			in6->sin6_family = AF_INET6;
			memcpy(&in6->sin6_addr, a, 16);
		}
		if (!allowed(s, &sa)) {
			inet_ntop(c->family, a, text, sizeof(text));
			return cairn_err_set(err, CAIRN_EDENIED,
					     "%s is outside discover.allowed: refused", text);
		}
		inet_ntop(c->family, a, text, sizeof(text));
		rc = ep_add(s, text, (struct sockaddr *)&sa,
			    c->family == AF_INET ? sizeof(struct sockaddr_in)
						 : sizeof(struct sockaddr_in6),
			    port, 0, err);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* One target with one port: an address, a CIDR range, or a name (every address it
 * resolves to must be allowed). */
static int add_target(scan_t *s, const char *host, int port, cairn_err_t *err)
{
	struct addrinfo hints = { 0 }, *res = NULL, *ai;
	cidr_t c;
	int rc = 0;

	if (cidr_parse(host, &c) == 0) {
		/* Clear the host bits of a range so that expansion starts at its base. */
		int b;
		for (b = c.prefix; b < (c.family == AF_INET ? 32 : 128); b++)
			c.addr[b / 8] &= (uint8_t)~(0x80 >> (b % 8));
		return expand_cidr(s, &c, port, err);
	}
	if (strchr(host, '/') != NULL || host[0] == '\0')
		return cairn_err_set(err, CAIRN_EINVAL, "target %s is not an address, range or name", host);
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "target %s does not resolve", host);
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
		    !allowed(s, (struct sockaddr_storage *)ai->ai_addr)) {
			char text[64] = "";
			getnameinfo(ai->ai_addr, ai->ai_addrlen, text, sizeof(text), NULL, 0,
				    NI_NUMERICHOST);
			rc = cairn_err_set(err, CAIRN_EDENIED,
					   "%s (%s) is outside discover.allowed: refused", host, text);
			goto out;
		}
	for (ai = res; ai != NULL && rc == 0; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		/* getaddrinfo gives one entry per socket type/protocol: keep each address once. */
		if (ai != res && ai->ai_addrlen == res->ai_addrlen &&
		    memcmp(ai->ai_addr, res->ai_addr, ai->ai_addrlen) == 0)
			continue;
		rc = ep_add(s, host, ai->ai_addr, ai->ai_addrlen, port, 1, err);
	}
out:
	freeaddrinfo(res);
	return rc;
}

static int parse_ports(scan_t *s, const char *ports, cairn_err_t *err)
{
	char *copy = strdup(ports ? ports : "443"), *t, *save = NULL, *end;

	if (copy == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	for (t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		long p = strtol(t, &end, 10);
		if (*t == '\0' || *end != '\0' || p < 1 || p > 65535 || s->n_ports >= PORTS_MAX) {
			int rc = cairn_err_set(err, CAIRN_EINVAL, "--ports: %s is not a port "
					       "1..65535 (at most %d ports)", t, PORTS_MAX);
			free(copy); /* after the message: t points into copy */
			return rc;
		}
		s->ports[s->n_ports++] = (int)p;
	}
	free(copy);
	return s->n_ports > 0 ? 0 : cairn_err_set(err, CAIRN_EINVAL, "--ports is empty");
}

static int parse_targets(scan_t *s, cairn_err_t *err)
{
	char *copy = strdup(s->o->targets ? s->o->targets : ""), *t, *save = NULL;
	char host[256];
	size_t i;
	int port, rc = 0;

	if (copy == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	for (t = strtok_r(copy, ",", &save); t != NULL && rc == 0; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ')
			t++;
		/* host:port (one colon) or [v6]:port; a bare v6 address has several colons. */
		if ((t[0] == '[' || (strchr(t, ':') && strchr(t, ':') == strrchr(t, ':'))) &&
		    hostport_parse(t, host, sizeof(host), &port) == 0 && port > 0) {
			rc = add_target(s, host, port, err);
		} else if (t[0] == '[' || (strchr(t, ':') && strchr(t, ':') == strrchr(t, ':'))) {
			rc = cairn_err_set(err, CAIRN_EINVAL, "target %s: bad host:port", t);
		} else {
			for (i = 0; i < s->n_ports && rc == 0; i++)
				rc = add_target(s, t, s->ports[i], err);
		}
	}
	free(copy);
	if (rc == 0 && s->n == 0)
		rc = cairn_err_set(err, CAIRN_EINVAL, "--targets is empty");
	return rc;
}

void inv_endpoint_name(const inv_scan_result_t *r, char *out, size_t cap)
{
	int v6 = strchr(r->host, ':') != NULL; /* an IPv6 address, not a name */

	snprintf(out, cap, "%s%s%s:%d", v6 ? "[" : "", r->host, v6 ? "]" : "", r->port);
}

/* ---- one connection ---- */

static uint64_t now_ms(void)
{
	return time_mono_ms();
}

static json_t *chain_fps(STACK_OF(X509) *chain)
{
	json_t *arr = json_array();
	uint8_t fp[INV_FP_LEN];
	char hex[2 * INV_FP_LEN + 1];
	int i;

	for (i = 0; arr != NULL && i < sk_X509_num(chain); i++)
		if (inv_fingerprint(sk_X509_value(chain, i), fp) == 0) {
			hex_encode(fp, sizeof(fp), hex);
			json_array_append_new(arr, json_string(hex));
		}
	return arr;
}

/* What the handshake showed: version, cipher, chain checks, name, expiry, weakness. */
static json_t *assess(const scan_t *s, const endpoint_t *e, SSL *ssl, STACK_OF(X509) *chain)
{
	X509 *leaf = sk_X509_value(chain, 0);
	const char *why_c = NULL, *why_s = NULL;
	int ok_c = inv_verify(s->o->cairn_roots, leaf, chain, 1, &why_c);
	int ok_s = inv_verify(s->o->system_roots, leaf, chain, 1, &why_s);
	const char *name = e->sni ? e->sni : e->name_given ? e->host : NULL;
	int match = name ? X509_check_host(leaf, name, 0, 0, NULL) == 1
			 : X509_check_ip_asc(leaf, e->addr, 0) == 1;
	json_t *rec = inv_record_new(leaf, NULL, NULL), *tls;
	char weak[96] = "";
	int64_t na = 0;

	if (rec != NULL)
		inv_record_weak(rec, weak, sizeof(weak));
	if (ca_time_unix(X509_get0_notAfter(leaf), &na) != 0)
		na = 0;
	tls = json_pack("{s:s, s:s, s:b, s:b, s:s, s:b, s:s, s:b, s:s, s:o}", "version",
			SSL_get_version(ssl), "cipher", SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)),
			"verify_cairn", ok_c, "verify_system", ok_s, "verify_error",
			ok_c || ok_s ? "" : (why_s ? why_s : why_c ? why_c : "does not verify"),
			"name_match", match, "name_checked", name ? name : e->addr, "expired",
			na != 0 && na < (int64_t)time(NULL), "weak", weak, "chain", chain_fps(chain));
	json_decref(rec);
	ERR_clear_error();
	return tls;
}

static void scan_one(scan_t *s, const endpoint_t *e)
{
	inv_scan_result_t r = { .host = e->host, .addr = e->addr, .port = e->port, .sni = e->sni };
	STACK_OF(X509) *chain = NULL;
	SSL *ssl = NULL;
	int fd = -1;

	r.error = net_connect((const struct sockaddr *)&e->sa, e->salen,
			      now_ms() + (uint64_t)s->o->connect_ms, &fd);
	if (r.error != NULL)
		goto report;
	ssl = SSL_new(s->ctx);
	if (ssl == NULL || !SSL_set_fd(ssl, fd) ||
	    (e->sni != NULL && !SSL_set_tlsext_host_name(ssl, e->sni))) {
		r.error = "TLS set-up failed";
		goto report;
	}
	r.error = net_tls_connect(ssl, fd, now_ms() + (uint64_t)s->o->handshake_ms);
	if (r.error != NULL)
		goto report;
	/* On the client side the peer chain starts with the leaf. */
	chain = SSL_get_peer_cert_chain(ssl);
	if (chain == NULL || sk_X509_num(chain) == 0) {
		r.error = "no certificate served";
		goto report;
	}
	r.chain = chain;
	r.tls = assess(s, e, ssl, chain);
report:
	pthread_mutex_lock(&s->lock);
	s->fn(&r, s->arg);
	pthread_mutex_unlock(&s->lock);
	json_decref(r.tls);
	if (ssl != NULL)
		SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	ERR_clear_error();
}

static void *worker(void *arg)
{
	scan_t *s = arg;

	for (;;) {
		uint64_t start = 0, t;
		size_t i;

		pthread_mutex_lock(&s->lock);
		i = s->next < s->n ? s->next++ : s->n;
		if (i < s->n && s->o->rate > 0) {
			/* Connections start 1/rate s apart, whatever the pool size. */
			t = now_ms();
			start = s->next_start_ms > t ? s->next_start_ms : t;
			s->next_start_ms = start + 1000u / (unsigned)s->o->rate;
		}
		pthread_mutex_unlock(&s->lock);
		if (i >= s->n)
			return NULL;
		t = now_ms();
		if (start > t) {
			struct timespec ts = { (time_t)((start - t) / 1000),
					       (long)((start - t) % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
		scan_one(s, &s->ep[i]);
	}
}

int inventory_allowed_check(const char *const *allowed, size_t n, cairn_err_t *err)
{
	cidr_t c;
	size_t i;

	if (n > INV_ALLOWED_MAX)
		return cairn_err_set(err, CAIRN_ECONFIG, "discover.allowed: at most %d ranges",
				     INV_ALLOWED_MAX);
	for (i = 0; i < n; i++)
		if (allowed[i] == NULL || cidr_parse(allowed[i], &c) != 0)
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "discover.allowed: %s is not an address or CIDR range",
					     allowed[i] ? allowed[i] : "(none)");
	return 0;
}

int inventory_scan(const inv_scan_opts_t *o, inv_scan_fn fn, void *arg, cairn_err_t *err)
{
	static const char *const loopback[] = { "127.0.0.0/8", "::1/128" };
	const char *const *allow = o->n_allowed > 0 ? o->allowed : loopback;
	size_t n_allow = o->n_allowed > 0 ? o->n_allowed : 2, i;
	pthread_t threads[256];
	int n_threads = 0, rc = 0;
	scan_t s = { .o = o, .fn = fn, .arg = arg };

	if (o->parallel < 1 || o->parallel > 256 || o->connect_ms < 1 || o->handshake_ms < 1 ||
	    o->rate < 0 || n_allow > INV_ALLOWED_MAX)
		return cairn_err_set(err, CAIRN_EINVAL, "bad scan limits");
	if ((rc = inventory_allowed_check(allow, n_allow, err)) != 0)
		return rc;
	for (i = 0; i < n_allow; i++)
		(void)cidr_parse(allow[i], &s.allowed[s.n_allowed++]);
	if ((rc = parse_ports(&s, o->ports, err)) != 0 || (rc = parse_targets(&s, err)) != 0 ||
	    o->dry_run)
		goto out;
	s.ctx = SSL_CTX_new(TLS_client_method());
	if (s.ctx == NULL) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	/* A scanner must see what is served, weak or old: no security floor, no verification
	 * during the handshake (the chain is judged afterwards). */
	SSL_CTX_set_security_level(s.ctx, 0);
	SSL_CTX_set_min_proto_version(s.ctx, 0);
	SSL_CTX_set_cipher_list(s.ctx, "ALL:@SECLEVEL=0");
	SSL_CTX_set_verify(s.ctx, SSL_VERIFY_NONE, NULL);
	/* A chain above this is a failed handshake of that endpoint: a leaf that large
	 * (OpenSSL takes 100 KiB) would not fit one inventory call (server.max_body). */
	SSL_CTX_set_max_cert_list(s.ctx, DISCOVER_MAX_CHAIN);
	pthread_mutex_init(&s.lock, NULL);
	for (; n_threads < o->parallel && (size_t)n_threads < s.n; n_threads++)
		if (pthread_create(&threads[n_threads], NULL, worker, &s) != 0)
			break;
	if (n_threads == 0)
		worker(&s);
	for (i = 0; i < (size_t)n_threads; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_destroy(&s.lock);
out:
	SSL_CTX_free(s.ctx);
	free(s.ep);
	return rc;
}
