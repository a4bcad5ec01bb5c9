/* SPDX-License-Identifier: MIT */
/* libmicrohttpd glue: listeners, body collection, route dispatch, sending replies. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "server/internal.h"

typedef struct listener {
	server_t *s;
	int kind; /* LISTEN_HTTPS or LISTEN_HTTP */
	const route_t *routes; /* the table it serves: server_routes, or the responder's */
	size_t n_routes;
} listener_t;

static listener_t listeners[2];

/* Per-request state, freed in the completion callback. */
typedef struct conn_ctx {
	const route_t *route;
	char *arg;
	char *body;
	size_t len, cap;
	long limit;
	int refused; /* a status to answer instead of running the route */
	char refusal[128];
	char allow[32]; /* a 405's Allow header: the methods the path's routes take */
	struct timespec start; /* headers arrived: the duration histogram starts here */
	http_later_t *later;   /* a reply finished later: the connection is parked */
	http_reply_t *parked;  /* the reply so far (headers), finished when later fires */
} conn_ctx_t;

/* Counts the request in its channel's histogram (server_observe), once it is answered. */
static void observe(server_t *s, const conn_ctx_t *ctx)
{
	struct timespec now;
	int64_t us;

	clock_gettime(CLOCK_MONOTONIC, &now);
	us = (int64_t)(now.tv_sec - ctx->start.tv_sec) * 1000000 +
	     (now.tv_nsec - ctx->start.tv_nsec) / 1000;
	server_observe(s, ctx->route ? ctx->route->channel : SERVER_CH_OTHER,
		       us > 0 ? (uint64_t)us : 0);
}

/* The route for method and url, or NULL: *method_ok is -1 when routes take the path
 * with other methods only (a 405; allow, cap bytes, then lists them), else 0. */
static const route_t *route_find(const listener_t *l, const char *method, const char *url,
				 const char **arg, int *method_ok, char *allow, size_t cap)
{
	int kind = l->kind;
	size_t i;

	*method_ok = 0;
	allow[0] = '\0';
	for (i = 0; i < l->n_routes; i++) {
		const route_t *r = &l->routes[i];
		size_t n = strlen(r->path);
		int prefix = r->path[n - 1] == '/';

		if (!(r->listeners & kind))
			continue;
		if (prefix ? strncmp(url, r->path, n) != 0 : strcmp(url, r->path) != 0)
			continue;
		if (strcmp(r->method, "*") != 0 && strcmp(r->method, method) != 0 &&
		    !(strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0)) {
			*method_ok = -1;
			http_allow_add(allow, cap, r->method, 1); /* every GET route answers HEAD */
			continue;
		}
		*method_ok = 1;
		*arg = prefix ? url + n : NULL;
		return r;
	}
	return NULL;
}

/* A secret body handed to MHD: wiped and freed when MHD is done with the response. */
struct secret_body {
	char *p;
	size_t len;
};

static void secret_body_free(void *cls)
{
	struct secret_body *b = cls;

	OPENSSL_cleanse(b->p, b->len);
	free(b->p);
	free(b);
}

/* The MHD response for r's body, which it takes over (NULL when out of memory: r keeps
 * it). A secret body is wiped when the response is destroyed: MHD_RESPMEM_MUST_FREE
 * would free it as it is, leaving the key in the heap. */
static struct MHD_Response *response_of(http_reply_t *r)
{
	struct MHD_Response *resp;
	struct secret_body *b;

	if (!r->secret) {
		resp = MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_MUST_FREE);
	} else {
		if ((b = malloc(sizeof(*b))) == NULL)
			return NULL;
		b->p = r->body;
		b->len = r->body_len;
		resp = MHD_create_response_from_buffer_with_free_callback_cls(r->body_len, r->body,
									     secret_body_free, b);
		if (resp == NULL)
			free(b);
	}
	if (resp != NULL) {
		r->body = NULL; /* now owned by the response */
		r->secret = 0;
	}
	return resp;
}

static enum MHD_Result send_reply(server_t *s, struct MHD_Connection *conn, http_reply_t *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char num[24];
	int i;

	if ((resp = response_of(r)) == NULL) {
		http_reply_clear(r);
		return MHD_NO;
	}
	if (r->content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
	if (r->location)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
	if (r->www_authenticate)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, r->www_authenticate);
	if (r->retry_after > 0) {
		snprintf(num, sizeof(num), "%d", r->retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, num);
	}
	for (i = 0; i < r->n_headers; i++)
		MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (r->status >= 100 && r->status < 600)
		atomic_fetch_add(&s->responses[r->status / 100], 1);
	ret = MHD_queue_response(conn, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	http_reply_clear(r);
	return ret;
}

/* Per connection (MHD's socket context). On TLS: the client certificate verified last
 * and the verdict, so the requests of a keep-alive connection do not verify the same
 * chain again. On both listeners: what the unescaper saw of the request being read. */
typedef struct sock_ctx {
	int nul_seen;    /* a %00 decoded in this request's path or query (url_unescape) */
	uint8_t *der;
	size_t len;
	int trusted;
	est_conn_t *est; /* an EST Basic login this connection may reuse */
	http_tls_hold_t hold; /* the server credential this connection was handshaked with */
} sock_ctx_t;

static sock_ctx_t *sock_ctx_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *sci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return sci ? sci->socket_context : NULL;
}

/* MHD_OPTION_UNESCAPE_CALLBACK of both listeners: libmicrohttpd's own %HH decoding of
 * the path and of every query key and value, which it then hands on as C strings, so a
 * %00 would cut one short (`/admin/v1/admins%00x` answered as /admins, `status=pending%00`
 * as pending, EST `simpleenroll%00junk` issued). The connection is told, and on_request
 * refuses the request before any route sees it. */
static size_t url_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	size_t n = MHD_http_unescape(s);
	sock_ctx_t *sc;

	(void)cls;
	if (memchr(s, '\0', n) != NULL) {
		if ((sc = sock_ctx_of(conn)) != NULL)
			sc->nul_seen = 1;
		else
			n = 0, s[0] = '\0'; /* no context (out of memory): serve nothing of it */
	}
	return n;
}

/* Connections open per listener, for /metrics (libmicrohttpd's own count is read from
 * its daemon's memory without a lock). */
static void count_connection(listener_t *l, enum MHD_ConnectionNotificationCode toe)
{
	atomic_uint *n = &l->s->conns[l->kind == LISTEN_HTTPS ? 0 : 1];

	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		atomic_fetch_add_explicit(n, 1, memory_order_relaxed);
	else
		atomic_fetch_sub_explicit(n, 1, memory_order_relaxed);
}

/* MHD_OPTION_NOTIFY_CONNECTION of the plain HTTP listener. */
static void on_connection_plain(void *cls, struct MHD_Connection *conn, void **socket_context,
				enum MHD_ConnectionNotificationCode toe)
{
	(void)conn;
	count_connection(cls, toe);
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		*socket_context = calloc(1, sizeof(sock_ctx_t));
	} else {
		free(*socket_context);
		*socket_context = NULL;
	}
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	listener_t *l = cls;
	sock_ctx_t *tc = *socket_context;

	count_connection(l, toe);
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		/* NULL (out of memory): the handshake finds no credential and fails. */
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
		tc = calloc(1, sizeof(sock_ctx_t));
		if (tc != NULL)
			http_tls_hold_start(&tc->hold, l->s, ci ? ci->tls_session : NULL);
		*socket_context = tc;
	} else if (tc != NULL) {
		http_tls_hold_end(&tc->hold);
		free(tc->der);
		est_conn_free(tc->est);
		free(tc);
		*socket_context = NULL;
	}
}

/*
 * The HTTPS listener asks every client for a certificate but never requires
 * one, and GnuTLS accepts any at the handshake: here it is verified against
 * the root and every issuing CA, rotations included (chain, signatures,
 * validity; http_tls_peer_trusted). Only a verified one reaches the routes.
 */
static void tls_peer(server_t *s, struct MHD_Connection *conn, server_req_t *req)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	gnutls_session_t sess = ci ? (gnutls_session_t)ci->tls_session : NULL;
	sock_ctx_t *tc = sock_ctx_of(conn);
	const gnutls_datum_t *peers;
	unsigned int n = 0;
	int trusted;

	if (sess == NULL)
		return;
	req->tls_session = sess;
	req->est_conn = tc ? &tc->est : NULL;
	peers = gnutls_certificate_get_peers(sess, &n);
	if (peers == NULL || n == 0)
		return;
	if (tc != NULL && tc->der != NULL && tc->len == peers[0].size &&
	    memcmp(tc->der, peers[0].data, tc->len) == 0) {
		trusted = tc->trusted;
	} else {
		trusted = http_tls_peer_trusted(s, peers, n);
		if (tc != NULL) {
			free(tc->der);
			tc->der = malloc(peers[0].size);
			tc->len = tc->der ? peers[0].size : 0;
			if (tc->der)
				memcpy(tc->der, peers[0].data, tc->len);
			tc->trusted = trusted;
		}
	}
	if (!trusted)
		return;
	req->peer_cert = peers[0].data;
	req->peer_cert_len = peers[0].size;
}

static void suspend_conn(void *conn)
{
	MHD_suspend_connection(conn);
}

static void resume_conn(void *conn)
{
	MHD_resume_connection(conn);
}

/* The parked reply, finished now that its later fired, and sent. */
static enum MHD_Result finish_parked(server_t *s, struct MHD_Connection *conn, conn_ctx_t *ctx)
{
	enum MHD_Result ret;

	http_later_finish(ctx->later, ctx->parked);
	ctx->later = NULL;
	if (ctx->parked->status == 0)
		http_reply_problem(ctx->parked, 500, NULL, "no reply");
	ret = send_reply(s, conn, ctx->parked);
	observe(s, ctx);
	return ret;
}

/*
 * The route answered "later" (reply->later): the reply so far is kept and the connection
 * suspended, so this worker serves its other connections meanwhile; MHD calls on_request
 * again once the later fires (resume_conn). Only the HTTPS listener may suspend.
 */
static enum MHD_Result park_reply(server_t *s, listener_t *l, struct MHD_Connection *conn,
				  conn_ctx_t *ctx, http_reply_t *reply)
{
	ctx->later = reply->later;
	reply->later = NULL;
	ctx->parked = malloc(sizeof(*ctx->parked));
	if (ctx->parked == NULL || l->kind != LISTEN_HTTPS) {
		free(ctx->parked);
		ctx->parked = NULL;
		http_later_abandon(ctx->later);
		ctx->later = NULL;
		http_reply_clear(reply);
		http_reply_problem(reply, 500, NULL, "a reply that waits cannot be parked here");
		return send_reply(s, conn, reply);
	}
	*ctx->parked = *reply; /* takes the body, location and headers */
	memset(reply, 0, sizeof(*reply));
	if (http_later_park(ctx->later, suspend_conn, resume_conn, conn))
		return MHD_YES;
	return finish_parked(s, conn, ctx); /* fired before it could park */
}

/*
 * The answer to a request this layer refused (ctx->refused: no Host, a NUL, no route, a
 * body over the route's limit, starting up), in the error format of the channel whose
 * route the path matched, as the channel answers its own errors: ACME an RFC 8555 problem
 * with a fresh Replay-Nonce (§6.5, §6.7: a client retries at once), EST a text line
 * (RFC 7030 has no problem documents); every other path RFC 7807 about:blank. ACME
 * exists once the daemon is ready: before, its 503 is the generic one.
 */
static void refusal_reply(server_t *s, const conn_ctx_t *ctx, http_reply_t *r)
{
	int channel = ctx->route != NULL ? ctx->route->channel : SERVER_CH_OTHER;

	if (channel == SERVER_CH_ACME && atomic_load(&s->ready))
		acme_refuse(s->acme, ctx->refused, ctx->refusal, r);
	else if (channel == SERVER_CH_EST)
		est_reply_text(r, ctx->refused, "%s", ctx->refusal);
	else
		http_reply_problem(r, ctx->refused, NULL, "%s", ctx->refusal);
	if (ctx->refused == 405) /* RFC 9110 §15.5.6 */
		http_reply_header(r, "Allow", "%s", ctx->allow);
}

/* 1 when the request asks "Expect: 100-continue" (RFC 9110 §10.1.1; case-insensitive). */
static int expects_continue(struct MHD_Connection *conn)
{
	const char *e = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);

	return e != NULL && strcasecmp(e, "100-continue") == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_size, void **con_cls)
{
	listener_t *l = cls;
	server_t *s = l->s;
	conn_ctx_t *ctx = *con_cls;
	http_reply_t reply;
	server_req_t req;
	enum MHD_Result ret;

	http_reply_init(&reply);
	if (ctx == NULL) {
		/* First call: headers only. Answering now would force Connection: close
		 * (STACK-NOTES.md), so decide what to do and answer on a later call. */
		const char *arg = NULL, *cl;
		sock_ctx_t *sc = sock_ctx_of(conn);
		int method_ok, nul = sc != NULL && sc->nul_seen;

		ctx = calloc(1, sizeof(*ctx));
		if (ctx == NULL)
			return MHD_NO;
		*con_cls = ctx;
		clock_gettime(CLOCK_MONOTONIC, &ctx->start);
		if (sc != NULL) /* read for this request alone: the next one starts clean */
			sc->nul_seen = 0;
		atomic_fetch_add(&s->requests[l->kind == LISTEN_HTTPS ? 0 : 1], 1);
		/* Looked up first, refused or not: a refusal is answered in the error format
		 * of the route's channel (refusal_reply). A path a NUL cut short still names
		 * its channel. */
		ctx->route = route_find(l, method, url, &arg, &method_ok, ctx->allow,
					sizeof(ctx->allow));
		/* RFC 9112 §3.2: an HTTP/1.1 request without Host is answered 400. */
		if (strcmp(version, MHD_HTTP_VERSION_1_1) == 0 &&
		    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST) == NULL) {
			ctx->refused = 400;
			snprintf(ctx->refusal, sizeof(ctx->refusal), "HTTP/1.1 request without Host");
			return MHD_YES;
		}
		if (nul) {
			ctx->refused = 400;
			snprintf(ctx->refusal, sizeof(ctx->refusal),
				 "a NUL byte (%%00) in the path or the query");
			return MHD_YES;
		}
		if (ctx->route == NULL) {
			ctx->refused = method_ok < 0 ? 405 : 404;
			snprintf(ctx->refusal, sizeof(ctx->refusal), "%s %s",
				 method_ok < 0 ? "method not allowed on" : "no such resource:", url);
			return MHD_YES;
		}
		ctx->arg = arg ? strdup(arg) : NULL;
		ctx->limit = ctx->route->body_limit < 0 ? s->cfg->max_body : ctx->route->body_limit;
		/* GET and HEAD carry no content (RFC 9110 §9.3.1), whatever the route takes. */
		if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
			ctx->limit = 0;
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && strtoll(cl, NULL, 10) > ctx->limit) {
			ctx->refused = 413;
			snprintf(ctx->refusal, sizeof(ctx->refusal),
				 "request body larger than %ld bytes", ctx->limit);
			/* A client that asked "Expect: 100-continue" waits before it sends the
			 * body: answered now, it gets the 413 instead of "100 Continue" and sends
			 * nothing (the connection then closes, STACK-NOTES.md). Any other client
			 * is sending already: its body is read and dropped, or a close would
			 * reset the connection before it reads the answer. */
			if (expects_continue(conn)) {
				refusal_reply(s, ctx, &reply);
				ret = send_reply(s, conn, &reply);
				observe(s, ctx);
				return ret;
			}
		}
		return MHD_YES;
	}

	if (ctx->later != NULL) /* resumed: the parked reply's event fired */
		return finish_parked(s, conn, ctx);
	if (*upload_size > 0) {
		if (!ctx->refused && ctx->len + *upload_size > (size_t)ctx->limit) {
			ctx->refused = 413;
			snprintf(ctx->refusal, sizeof(ctx->refusal),
				 "request body larger than %ld bytes", ctx->limit);
		}
		if (!ctx->refused) {
			if (ctx->len + *upload_size > ctx->cap) {
				size_t ncap = (ctx->len + *upload_size) * 2;
				char *nb = realloc(ctx->body, ncap);
				if (nb == NULL)
					return MHD_NO;
				ctx->body = nb;
				ctx->cap = ncap;
			}
			memcpy(ctx->body + ctx->len, upload_data, *upload_size);
			ctx->len += *upload_size;
		}
		*upload_size = 0; /* consumed (or discarded when refused) */
		return MHD_YES;
	}

	if (!atomic_load(&s->ready) && !ctx->refused) {
		ctx->refused = 503;
		snprintf(ctx->refusal, sizeof(ctx->refusal), "starting up, try again");
	}
	if (ctx->refused) {
		refusal_reply(s, ctx, &reply);
		ret = send_reply(s, conn, &reply);
		observe(s, ctx);
		return ret;
	}
	req.method = method;
	req.path = url;
	req.listener = l->kind;
	req.conn = conn;
	req.body = ctx->body ? ctx->body : "";
	req.body_len = ctx->len;
	req.peer_cert = NULL;
	req.peer_cert_len = 0;
	req.tls_session = NULL;
	req.est_conn = NULL;
	if (l->kind == LISTEN_HTTPS)
		tls_peer(s, conn, &req);
	ctx->route->fn(s, &req, ctx->arg ? ctx->arg : "", &reply);
	if (reply.later != NULL)
		return park_reply(s, l, conn, ctx, &reply);
	if (reply.status == 0)
		http_reply_problem(&reply, 500, NULL, "no reply");
	ret = send_reply(s, conn, &reply);
	observe(s, ctx);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	conn_ctx_t *ctx = *con_cls;
	(void)cls;
	(void)conn;
	(void)toe;

	if (ctx == NULL)
		return;
	if (ctx->later != NULL) /* went away while parked (the daemon stopping) */
		http_later_abandon(ctx->later);
	if (ctx->parked != NULL) {
		http_reply_clear(ctx->parked);
		free(ctx->parked);
	}
	free(ctx->arg);
	free(ctx->body);
	free(ctx);
	*con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;
	(void)cls;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_debug("http", "%s", msg);
}

/* Binds host:port ourselves so port 0 works and the bound port can be reported. */
static int listen_on(const char *addr, char *url, size_t cap, const char *scheme,
		     const char *public_url, cairn_err_t *err)
{
	struct addrinfo hints = { 0 }, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t slen = sizeof(ss);
	char host[128], portstr[8], bound[8];
	int fd = -1, port, one = 1, rc;

	if (config_parse_addr(addr, host, sizeof(host), &port) != 0)
		return cairn_err_set(err, CAIRN_ECONFIG, "bad listen address %s", addr);
	snprintf(portstr, sizeof(portstr), "%d", port);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	rc = getaddrinfo(host, portstr, &hints, &ai);
	if (rc != 0)
		return cairn_err_set(err, CAIRN_ECONFIG, "listen %s: %s", addr, gai_strerror(rc));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &slen) != 0)
		goto fail;
	getnameinfo((struct sockaddr *)&ss, slen, NULL, 0, bound, sizeof(bound), NI_NUMERICSERV);
	if (public_url[0] != '\0')
		snprintf(url, cap, "%s", public_url);
	else
		snprintf(url, cap, "%s://%s%s%s:%s", scheme, ai->ai_family == AF_INET6 ? "[" : "",
			 host, ai->ai_family == AF_INET6 ? "]" : "", bound);
	freeaddrinfo(ai);
	return fd;
fail:
	cairn_err_set(err, CAIRN_EIO, "listen %s: %s", addr, strerror(errno));
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return CAIRN_EIO;
}

/*
 * Workers of the plain HTTP listener: server.http_threads, or one per CPU the daemon
 * may run on. Its requests (OCSP, CRL, CA certificates) use the CPU and never wait on
 * a commit; two busy workers on one CPU take turns in scheduler slices, and the
 * connections of the one waiting wait a slice (bench/README.md, OCSP p99).
 */
static unsigned http_workers(const cairn_config_t *cfg)
{
	cpu_set_t set;
	int n;

	if (cfg->http_threads > 0)
		return (unsigned)cfg->http_threads;
	n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 0;
	if (n < 1)
		n = 1;
	return n > 256 ? 256 : (unsigned)n;
}

/* The plain HTTP listener on fd (taken on success) serving l. */
static struct MHD_Daemon *start_http(server_t *s, listener_t *l, int fd)
{
	const cairn_config_t *cfg = s->cfg;

	return MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
		on_request, l, MHD_OPTION_LISTEN_SOCKET, fd,
		/* Small requests only (OCSP, CRL, CA certificates): MHD zeroes a connection's
		 * whole memory pool between keep-alive requests, so this pool is small. */
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->http_max_header_bytes,
		MHD_OPTION_THREAD_POOL_SIZE, http_workers(cfg), MHD_OPTION_CONNECTION_LIMIT,
		s->conn_max, MHD_OPTION_PER_IP_CONNECTION_LIMIT, server_conns_per_ip(s),
		MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)cfg->connection_timeout, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection_plain, l,
		MHD_OPTION_UNESCAPE_CALLBACK, url_unescape, NULL,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_END);
}

int http_start_plain(server_t *s, const char *addr, const route_t *routes, size_t n,
		     cairn_err_t *err)
{
	int fd, rc;

	if ((rc = server_conns_budget(s, 1, err)) != 0)
		return rc;
	if ((fd = listen_on(addr, s->http_url, sizeof(s->http_url), "http", "", err)) < 0)
		return fd;
	listeners[1] = (listener_t){ s, LISTEN_HTTP, routes, n };
	if ((s->http = start_http(s, &listeners[1], fd)) == NULL) {
		close(fd);
		return cairn_err_set(err, CAIRN_EIO, "HTTP listener %s did not start", addr);
	}
	return 0;
}

int http_start(server_t *s, cairn_err_t *err)
{
	const cairn_config_t *cfg = s->cfg;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	char *cert_path = NULL, *key_path = NULL, *cert = NULL, *key = NULL;
	char *root_path = NULL, *issuing_path = NULL, *root = NULL, *issuing = NULL;
	char *priorities = NULL;
	cairn_err_t terr = { 0 };
	int https_fd = -1, http_fd = -1, rc;

	cert_path = config_path(cfg, cfg->tls_cert);
	key_path = config_path(cfg, cfg->tls_key);
	if (cert_path == NULL || key_path == NULL) {
		rc = CAIRN_ENOMEM;
		goto out;
	}
	if ((rc = fs_read(cert_path, 1 << 20, &cert, NULL)) != 0 ||
	    (rc = fs_read(key_path, 1 << 20, &key, NULL)) != 0) {
		cairn_err_set(err, rc, "TLS certificate/key %s, %s: %s", cert_path, key_path,
			      cairn_strerror(rc));
		goto out;
	}
	/* New connections get whatever credential is current (renewal swaps it). */
	if ((rc = http_tls_set(s, cert, key, &terr)) != 0) {
		cairn_err_set(err, rc, "%s, %s: %s", cert_path, key_path, cairn_err_msg(&terr));
		goto out;
	}
	/* Client certificates are requested (never required) and checked against our own
	 * CAs; the admin API verifies them again per request (STACK-NOTES.md). */
	root_path = config_path(cfg, cfg->root_cert);
	issuing_path = config_path(cfg, cfg->issuing_cert);
	if (root_path == NULL || issuing_path == NULL ||
	    (rc = fs_read(root_path, 1 << 20, &root, NULL)) != 0 ||
	    (rc = fs_read(issuing_path, 1 << 20, &issuing, NULL)) != 0 ||
	    asprintf(&s->tls_trust_pem, "%s\n%s", root, issuing) < 0) {
		s->tls_trust_pem = NULL;
		rc = cairn_err_set(err, CAIRN_EIO, "CA certificates %s, %s unreadable",
				   root_path ? root_path : "?", issuing_path ? issuing_path : "?");
		goto out;
	}
	/* Bearer tokens cross this listener: TLS 1.2 at the oldest (server.tls_min_version). */
	if ((priorities = config_tls_priorities(cfg)) == NULL) {
		rc = CAIRN_ENOMEM;
		goto out;
	}
	if ((rc = server_conns_budget(s, 2, err)) != 0)
		goto out;
	https_fd = listen_on(cfg->listen_https, s->https_url, sizeof(s->https_url), "https",
			     cfg->public_https, err);
	if (https_fd < 0) {
		rc = https_fd;
		goto out;
	}
	http_fd = listen_on(cfg->listen_http, s->http_url, sizeof(s->http_url), "http",
			    cfg->public_http, err);
	if (http_fd < 0) {
		rc = http_fd;
		goto out;
	}
	listeners[0] = (listener_t){ s, LISTEN_HTTPS, server_routes, server_route_count };
	listeners[1] = (listener_t){ s, LISTEN_HTTP, server_routes, server_route_count };
	/* Suspend/resume: a challenge answer waiting for its validation holds no worker. */
	s->https = MHD_start_daemon(
		flags | MHD_USE_TLS | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, on_request, &listeners[0],
		MHD_OPTION_LISTEN_SOCKET, https_fd, MHD_OPTION_HTTPS_CERT_CALLBACK, http_tls_retrieve,
		MHD_OPTION_HTTPS_MEM_TRUST, s->tls_trust_pem,
		MHD_OPTION_HTTPS_PRIORITIES, priorities, MHD_OPTION_THREAD_POOL_SIZE,
		(unsigned)cfg->threads, MHD_OPTION_CONNECTION_LIMIT, s->conn_max,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, server_conns_per_ip(s),
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->max_header_bytes,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, &listeners[0],
		MHD_OPTION_UNESCAPE_CALLBACK, url_unescape, NULL,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_END);
	if (s->https == NULL) {
		rc = cairn_err_set(err, CAIRN_EIO, "HTTPS listener %s did not start (check %s)",
				   cfg->listen_https, cert_path);
		goto out;
	}
	https_fd = -1;
	s->http = start_http(s, &listeners[1], http_fd);
	if (s->http == NULL) {
		rc = cairn_err_set(err, CAIRN_EIO, "HTTP listener %s did not start",
				   cfg->listen_http);
		goto out;
	}
	http_fd = -1;
	rc = 0;
out:
	if (https_fd >= 0)
		close(https_fd);
	if (http_fd >= 0)
		close(http_fd);
	if (key != NULL)
		OPENSSL_cleanse(key, strlen(key));
	free(key);
	free(cert);
	free(cert_path);
	free(key_path);
	free(root_path);
	free(issuing_path);
	free(root);
	free(issuing);
	free(priorities);
	return rc;
}

void http_stop(server_t *s)
{
	if (s->https != NULL)
		MHD_stop_daemon(s->https);
	if (s->http != NULL)
		MHD_stop_daemon(s->http);
	s->https = s->http = NULL;
	http_tls_clear(s);
	free(s->tls_trust_pem);
	s->tls_trust_pem = NULL;
}
