/* SPDX-License-Identifier: MIT */
/* The HTTP surface as a table: health, metrics, CA certificates and the admin API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netdb.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>
#include <openssl/x509.h>

#include "server/internal.h"
#include "ui/ui.h"

/* crl_pending's callback: {"what":"crl-NAME","state":"building"|"previous"|"failed"}
 * into arg. */
static void pending_crl(const char *name, const char *state, void *arg)
{
	char what[64];

	snprintf(what, sizeof(what), "crl-%s", name);
	json_array_append_new(arg, json_pack("{s:s, s:s}", "what", what, "state", state));
}

void route_healthz(server_t *s, const server_req_t *req, const char *arg,
			  http_reply_t *reply)
{
	db_txn_t *txn;
	json_t *problems = json_array(), *pending = json_array(), *doc = NULL;
	char *body = NULL;
	int n;
	(void)req;
	(void)arg;

	/* Healthy means the database answers a read (the token was checked at start) and
	 * nothing of the daemon's own is expiring or stale. Degraded still answers 200: the
	 * daemon serves, and load balancers should keep sending to it. */
	if (db_read_begin(s->db, &txn) != 0) {
		http_reply_problem(reply, 503, NULL, "database unavailable");
		goto out;
	}
	db_txn_end(txn);
	n = problems ? server_health(s, (int64_t)time(NULL), problems) : 0;
	doc = json_pack("{s:s}", "status", n > 0 ? "degraded" : "ok");
	if (doc != NULL && n > 0)
		json_object_set(doc, "problems", problems);
	/* CRLs still being built after the start (crl_open) are said, not a problem: OCSP,
	 * issuance and the CA certificates are served meanwhile, /crl answers 503 with
	 * Retry-After (or the CRL published before the start), so the node stays in. */
	if (doc != NULL && pending != NULL && s->crl != NULL &&
	    crl_pending(s->crl, pending_crl, pending) > 0)
		json_object_set(doc, "pending", pending);
	if (problems == NULL || doc == NULL ||
	    (body = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		http_reply_problem(reply, 500, NULL, "out of memory");
		goto out;
	}
	http_reply_set(reply, 200, "application/json", body, strlen(body));
out:
	json_decref(doc);
	json_decref(problems);
	json_decref(pending);
}

static void route_metrics(server_t *s, const server_req_t *req, const char *arg,
			  http_reply_t *reply)
{
	char *text = NULL;
	size_t len = 0;
	(void)req;
	(void)arg;

	if (server_metrics(s, &text, &len) != 0) {
		http_reply_problem(reply, 500, NULL, "out of memory");
		return;
	}
	http_reply_set(reply, 200, "text/plain; version=0.0.4", text, len);
}

/* /ca/{issuer}.crt: DER, for AIA caIssuers: root.crt, issuing.crt (the first issuing CA)
 * and one per rotated issuing CA (issuing-2.crt, …). */
void route_ca_cert(server_t *s, const server_req_t *req, const char *arg,
		   http_reply_t *reply)
{
	size_t n = strlen(arg);
	char name[CA_PUBLISHED_NAME_MAX], *copy = NULL;
	unsigned char *der = NULL;
	X509 *x = NULL;
	int len = 0;
	(void)req;

	if (n > 4 && n - 4 < sizeof(name) && strcmp(arg + n - 4, ".crt") == 0) {
		snprintf(name, sizeof(name), "%.*s", (int)(n - 4), arg);
		/* "current" names no file: a certificate's AIA says which issuer it has. After
		 * a root rollover its three certificates are published beside the issuers. */
		if (strcmp(name, "current") != 0 && (x = server_ca_cert(s, name)) == NULL)
			x = ca_rollover_named(server_rollover(s), name);
	}
	if (x == NULL) {
		http_reply_problem(reply, 404, NULL, "no CA certificate named %s", arg);
		return;
	}
	if ((len = i2d_X509(x, &der)) <= 0 || (copy = malloc((size_t)len)) == NULL) {
		OPENSSL_free(der);
		http_reply_problem(reply, 500, NULL, "out of memory");
		return;
	}
	memcpy(copy, der, (size_t)len);
	OPENSSL_free(der);
	http_reply_set(reply, 200, "application/pkix-cert", copy, (size_t)len);
}

/* The TLS client certificate, when one was sent and verified (tls_peer in http.c); else NULL. */
static X509 *peer_cert(const server_req_t *req)
{
	const unsigned char *p = req->peer_cert;

	return p ? d2i_X509(NULL, &p, (long)req->peer_cert_len) : NULL;
}

static const char *admin_query(void *conn, const char *key)
{
	return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

typedef struct unknown_arg {
	const char *const *known;
	const char *found;
} unknown_arg_t;

static enum MHD_Result unknown_one(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	unknown_arg_t *u = cls;
	size_t i;
	(void)kind;
	(void)value;

	if (key[0] == '\0')
		return MHD_YES; /* "?a=1&" or "?&": nothing named */
	for (i = 0; u->known != NULL && u->known[i] != NULL; i++)
		if (strcmp(key, u->known[i]) == 0)
			return MHD_YES;
	u->found = key;
	return MHD_NO;
}

typedef struct count_arg {
	const char *key;
	size_t n;
} count_arg_t;

static enum MHD_Result count_one(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	count_arg_t *c = cls;
	(void)kind;
	(void)value;

	c->n += strcmp(key, c->key) == 0;
	return MHD_YES;
}

/* MHD_lookup_connection_value answers the first of repeated keys: count them. */
static size_t admin_query_count(void *conn, const char *key)
{
	count_arg_t c = { key, 0 };

	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, count_one, &c);
	return c.n;
}

static const char *admin_query_unknown(void *conn, const char *const *known)
{
	unknown_arg_t u = { known, NULL };

	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, unknown_one, &u);
	return u.found;
}

/* The peer's numeric address, for audit events ("" when unknown). */
static void peer_address(struct MHD_Connection *conn, char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	out[0] = '\0';
	if (ci != NULL && ci->client_addr != NULL)
		getnameinfo(ci->client_addr,
			    ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
								   : sizeof(struct sockaddr_in),
			    out, (socklen_t)cap, NULL, 0, NI_NUMERICHOST);
}

static void route_admin(server_t *s, const server_req_t *req, const char *arg,
			http_reply_t *reply)
{
	char remote[64], path[512];
	admin_request_t areq = { 0 }; /* a field added to it is NULL here until set */

	peer_address(req->conn, remote, sizeof(remote));
	snprintf(path, sizeof(path), "/%s", arg);
	areq.method = req->method;
	areq.path = path;
	areq.authorization =
		MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	areq.content_type =
		MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	areq.body = req->body;
	areq.body_len = req->body_len;
	areq.remote = remote;
	areq.query = admin_query;
	areq.query_unknown = admin_query_unknown;
	areq.query_count = admin_query_count;
	areq.query_ctx = req->conn;
	areq.client_cert = areq.authorization ? NULL : peer_cert(req);
	areq.cookie = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_COOKIE);
	areq.csrf_token = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, ADMIN_CSRF_HEADER);
	areq.origin = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Origin");
	areq.host = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	areq.fetch_site = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
	admin_handle(&s->admin, &areq, reply);
	X509_free(areq.client_cert);
}

/* /ui/NAME: the console's pages, from the binary; they reach the data only through
 * /admin/v1 like any client. */
static void route_ui(server_t *s, const server_req_t *req, const char *arg, http_reply_t *reply)
{
	const ui_asset_t *a = ui_asset_find(arg);
	char *copy;
	size_t i;
	(void)s;
	(void)req;

	if (a == NULL) {
		http_reply_problem(reply, 404, NULL, "no console page %s", arg);
	} else if ((copy = malloc(a->len)) == NULL) {
		http_reply_problem(reply, 500, NULL, "out of memory");
	} else {
		memcpy(copy, a->data, a->len);
		http_reply_set(reply, 200, a->content_type, copy, a->len);
	}
	for (i = 0; ui_headers[i] != NULL; i += 2)
		(void)http_reply_header(reply, ui_headers[i], "%s", ui_headers[i + 1]);
}

static void route_ui_root(server_t *s, const server_req_t *req, const char *arg,
			  http_reply_t *reply)
{
	(void)s;
	(void)req;
	(void)arg;
	http_reply_set(reply, 308, NULL, NULL, 0);
	reply->location = strdup("/ui/");
}

/* /.well-known/est/[label/]op: EST (RFC 7030); the est folder dispatches. */
static void route_est(server_t *s, const server_req_t *req, const char *arg, http_reply_t *reply)
{
	char remote[64];
	gnutls_datum_t cb = { NULL, 0 };
	est_request_t ereq = { 0 };

	peer_address(req->conn, remote, sizeof(remote));
	/* The session's channel binding, when the challengePassword must carry it (RFC 7030 §3.5). */
	if (req->tls_session != NULL && s->est_settings.channel_binding != EST_CB_OFF &&
	    gnutls_session_channel_binding(req->tls_session,
					   s->est_settings.channel_binding == EST_CB_TLS_UNIQUE
						   ? GNUTLS_CB_TLS_UNIQUE
						   : GNUTLS_CB_TLS_EXPORTER,
					   &cb) != GNUTLS_E_SUCCESS)
		cb.data = NULL, cb.size = 0;
	ereq.method = req->method;
	ereq.path = arg;
	ereq.authorization =
		MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	ereq.content_type =
		MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	ereq.body = req->body;
	ereq.body_len = req->body_len;
	ereq.peer_cert = req->peer_cert;
	ereq.peer_cert_len = req->peer_cert_len;
	ereq.binding = cb.data;
	ereq.binding_len = cb.size;
	ereq.remote = remote;
	ereq.conn = req->est_conn;
	est_handle(s->est, &ereq, reply);
	gnutls_free(cb.data);
}

static void route_acme(server_t *s, const server_req_t *req, const char *arg,
		       http_reply_t *reply)
{
	acme_request_t areq;
	char remote[64];

	peer_address(req->conn, remote, sizeof(remote));
	areq.remote = remote;
	areq.method = req->method;
	areq.path = arg;
	areq.content_type =
		MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	areq.body = req->body;
	areq.body_len = req->body_len;
	acme_handle(s->acme, &areq, reply);
}

const route_t server_routes[] = {
	{ "GET", "/healthz", LISTEN_BOTH, route_healthz, 0, SERVER_CH_OTHER },
	{ "GET", "/metrics", LISTEN_BOTH, route_metrics, 0, SERVER_CH_OTHER },
	{ "GET", "/ca/", LISTEN_HTTP, route_ca_cert, 0, SERVER_CH_OTHER },
	{ "POST", "/ocsp", LISTEN_HTTP, route_ocsp_post, OCSP_MAX_REQUEST, SERVER_CH_OCSP },
	{ "GET", "/ocsp/", LISTEN_HTTP, route_ocsp_get, 0, SERVER_CH_OCSP },
	{ "GET", "/crl/", LISTEN_HTTP, route_crl, 0, SERVER_CH_CRL },
	{ "*", "/admin/v1/", LISTEN_HTTPS, route_admin, -1, SERVER_CH_ADMIN },
	/* The console's static pages; its sign-in and data calls are /admin/v1 (admin). */
	{ "GET", "/ui/", LISTEN_HTTPS, route_ui, 0, SERVER_CH_OTHER },
	{ "GET", "/ui", LISTEN_HTTPS, route_ui_root, 0, SERVER_CH_OTHER },
	{ "*", "/.well-known/est/", LISTEN_HTTPS, route_est, -1, SERVER_CH_EST },
	{ "*", "/acme/", LISTEN_HTTPS, route_acme, ACME_MAX_BODY, SERVER_CH_ACME },
};
const size_t server_route_count = sizeof(server_routes) / sizeof(server_routes[0]);
