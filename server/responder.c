/* SPDX-License-Identifier: MIT */
/* The responder role (`cairn serve --role responder`): OCSP from the pre-signed answers the issuing daemon stores, its published CRLs and the CA certificates, read-only beside it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "server/internal.h"

/* Largest CRL file served (a CRL of 10M entries is ~500 MB: raise it with the table). */
#define RSP_CRL_MAX ((size_t)1 << 30)
#define RSP_MAX_CRLS (2 * OCSP_MAX_ISSUERS) /* a full and a delta CRL per issuer */
#define RSP_ISSUERS_EVERY 60 /* seconds between looks for issuing CAs of new rotations */

/* One published CRL as last read: the file's identity tells when it was replaced (the
 * daemon writes a new file and renames it over the old one). */
struct rsp_crl {
	char name[48];           /* "issuing", "issuing-delta", … */
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	off_t size;
	uint8_t *der;
	size_t len;
	int64_t this_update, next_update;
};

struct server_responder {
	char names[OCSP_MAX_ISSUERS][CA_ISSUER_NAME_MAX];
	X509 *certs[OCSP_MAX_ISSUERS];
	_Atomic size_t n_iss;    /* slots below it are complete (one writer: the main thread) */
	char *crl_dir;
	pthread_mutex_t crl_mu;  /* guards crls */
	struct rsp_crl crls[RSP_MAX_CRLS];
	size_t n_crls;
	atomic_ulong crl_reads;  /* CRL files (re)read */
	/* the last root rollover recorded (GET /ca/rollover-*.crt); those it replaced stay
	 * allocated (prev) until responder_free, as readers do not lock */
	_Atomic(ca_rollover_certs_t *) rollover;
};

X509 *server_ca_cert(server_t *s, const char *name)
{
	struct server_responder *r = s->responder;
	size_t i, n;

	if (r == NULL)
		return ca_issuer_cert(s->ca, name);
	for (i = 0, n = atomic_load(&r->n_iss); i < n; i++)
		if (strcmp(r->names[i], name) == 0)
			return r->certs[i];
	return NULL;
}

const ca_rollover_certs_t *server_rollover(server_t *s)
{
	return s->responder == NULL ? ca_rollover(s->ca) : atomic_load(&s->responder->rollover);
}

/* Reads the root rollover recorded in the database; a new one replaces the one served
 * (main thread only). Returns 0 or ca_rollover_read's code. */
static int read_rollover(server_t *s, cairn_err_t *err)
{
	struct server_responder *r = s->responder;
	ca_rollover_certs_t *now = atomic_load(&r->rollover), *read = NULL;
	int rc = ca_rollover_read(s->db, server_ca_cert(s, "root"), &read, err);

	if (rc != 0 || read == NULL)
		return rc;
	if (now != NULL && X509_cmp(now->root, read->root) == 0) {
		ca_rollover_free(read);
		return 0;
	}
	read->prev = now;
	atomic_store(&r->rollover, read);
	log_info("server", "responder: now serving the certificates of the root rollover");
	return 0;
}

/* Adds an issuer to the table; the slot is filled before it counts (readers do not lock). */
static int add_issuer(struct server_responder *r, const char *name, X509 *x, cairn_err_t *err)
{
	size_t n = atomic_load(&r->n_iss);

	if (n == OCSP_MAX_ISSUERS || strlen(name) >= CA_ISSUER_NAME_MAX)
		return cairn_err_set(err, CAIRN_ECONFLICT, "too many issuing CAs or name too long");
	snprintf(r->names[n], CA_ISSUER_NAME_MAX, "%s", name);
	X509_up_ref(x);
	r->certs[n] = x;
	atomic_store(&r->n_iss, n + 1);
	return 0;
}

/* ca_recorded_fn: an issuing CA a rotation made, unless already known; once the responder
 * runs (s->ocsp set) it answers OCSP for it too. arg is the server_t. */
static int add_rotated(const char *name, const char *label, X509 *x, void *arg, cairn_err_t *err)
{
	server_t *s = arg;
	ocsp_issuer_t oi = { name, x, NULL, NULL, NULL };
	int rc;
	(void)label;

	if (server_ca_cert(s, name) != NULL)
		return 0;
	if (s->ocsp != NULL && (rc = ocsp_add_issuer(s->ocsp, &oi, err)) != 0)
		return rc;
	server_material_update(s, name, x);
	if ((rc = add_issuer(s->responder, name, x, err)) == 0 && s->ocsp != NULL)
		log_info("server", "responder: now serving the issuing CA %s (a rotation)", name);
	return rc;
}

/* The issuer whose CRL is NAME (or NAME-delta), or NULL. */
static X509 *crl_issuer(const struct server_responder *r, const char *name)
{
	size_t i, n, count = atomic_load(&r->n_iss);

	for (i = 0; i < count; i++) {
		n = strlen(r->names[i]);
		if (strncmp(name, r->names[i], n) == 0 &&
		    (name[n] == '\0' || strcmp(name + n, "-delta") == 0))
			return r->certs[i];
	}
	return NULL;
}

/*
 * The CA certificates (files of the config, rotations from the database) and the
 * responder over them: every issuing CA, and the root when the daemon serves it (its
 * key is in the token: then the daemon publishes root.crl; an outside root's status is
 * its owner's business).
 */
static int open_issuers(server_t *s, cairn_err_t *err)
{
	const cairn_config_t *cfg = s->cfg;
	struct server_responder *r = s->responder;
	char *root_path = config_path(cfg, cfg->root_cert);
	char *issuing_path = config_path(cfg, cfg->issuing_cert);
	char *root_crl = fs_join(r->crl_dir, "root.crl");
	X509 *root = NULL, *issuing = NULL;
	ocsp_config_t oc = { 0 };
	size_t i;
	int rc;

	if (root_path == NULL || issuing_path == NULL || root_crl == NULL) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = ca_cert_load(root_path, "root certificate", &root, err)) != 0 ||
	    (rc = ca_cert_load(issuing_path, "issuing CA certificate", &issuing, err)) != 0 ||
	    (rc = add_issuer(r, "issuing", issuing, err)) != 0 ||
	    (rc = ca_issuers_recorded(s->db, add_rotated, s, err)) != 0)
		goto out;
	oc.db = s->db;
	oc.validity = cfg->ocsp_validity;
	oc.presigned_only = 1;
	for (i = 0; i < atomic_load(&r->n_iss); i++)
		oc.issuers[oc.n_issuers++] = (ocsp_issuer_t){ r->names[i], r->certs[i], NULL, NULL,
							       NULL };
	server_material_update(s, "issuing", issuing);
	server_material_update(s, "root", root);
	if (fs_exists(root_crl))
		oc.issuers[oc.n_issuers++] = (ocsp_issuer_t){ "root", root, NULL, NULL, NULL };
	/* /ca/root.crt is served either way (the issuing CA's AIA names it). */
	if ((rc = add_issuer(r, "root", root, err)) == 0 && (rc = read_rollover(s, err)) == 0)
		rc = ocsp_open(&oc, &s->ocsp, err);
out:
	X509_free(root);
	X509_free(issuing);
	free(root_path);
	free(issuing_path);
	free(root_crl);
	return rc;
}

/* Reads the CRL file (fd, st) into c when it changed; its signature is checked against
 * issuer, so only a CRL of ours is served. Under crl_mu. Returns 0 or a CAIRN_E* code. */
static int crl_reload(struct server_responder *r, struct rsp_crl *c, X509 *issuer, int fd,
		      const struct stat *st)
{
	uint8_t *der = NULL;
	const unsigned char *p;
	X509_CRL *crl = NULL;
	size_t got = 0;
	int64_t tu = 0, nu = 0;
	int rc = CAIRN_EIO;

	if (c->der != NULL && c->dev == st->st_dev && c->ino == st->st_ino &&
	    c->size == st->st_size && c->mtime.tv_sec == st->st_mtim.tv_sec &&
	    c->mtime.tv_nsec == st->st_mtim.tv_nsec)
		return 0;
	if (st->st_size <= 0 || (size_t)st->st_size > RSP_CRL_MAX)
		return CAIRN_ETOOBIG;
	if ((der = malloc((size_t)st->st_size)) == NULL)
		return CAIRN_ENOMEM;
	while (got < (size_t)st->st_size) {
		ssize_t n = read(fd, der + got, (size_t)st->st_size - got);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			goto out;
		}
		got += (size_t)n;
	}
	p = der;
	rc = CAIRN_ECRYPTO;
	if ((crl = d2i_X509_CRL(NULL, &p, (long)got)) == NULL || p != der + got ||
	    X509_CRL_verify(crl, X509_get0_pubkey(issuer)) != 1 ||
	    ca_time_unix(X509_CRL_get0_lastUpdate(crl), &tu) != 0 ||
	    ca_time_unix(X509_CRL_get0_nextUpdate(crl), &nu) != 0)
		goto out;
	free(c->der);
	c->der = der;
	der = NULL;
	c->len = got;
	c->this_update = tu;
	c->next_update = nu;
	c->dev = st->st_dev;
	c->ino = st->st_ino;
	c->size = st->st_size;
	c->mtime = st->st_mtim;
	atomic_fetch_add(&r->crl_reads, 1);
	rc = 0;
out:
	ERR_clear_error();
	X509_CRL_free(crl);
	free(der);
	return rc;
}

/* A copy of the CRL NAME as the daemon last published it (read again when the file was
 * replaced). Returns 0, CAIRN_ENOENT, or the reload's code. */
static int crl_current(struct server_responder *r, const char *name, uint8_t **der, size_t *len,
		       int64_t *tu, int64_t *nu)
{
	X509 *issuer = crl_issuer(r, name);
	char file[64], *path = NULL;
	struct rsp_crl *c = NULL;
	struct stat st;
	size_t i;
	int fd = -1, rc = CAIRN_ENOENT;

	if (issuer == NULL || strlen(name) >= sizeof(c->name))
		return CAIRN_ENOENT;
	snprintf(file, sizeof(file), "%s.crl", name);
	if ((path = fs_join(r->crl_dir, file)) == NULL)
		return CAIRN_ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		return CAIRN_ENOENT;
	}
	pthread_mutex_lock(&r->crl_mu);
	for (i = 0; i < r->n_crls && strcmp(r->crls[i].name, name) != 0; i++)
		;
	if (i == r->n_crls && r->n_crls < RSP_MAX_CRLS) {
		c = &r->crls[r->n_crls++];
		memset(c, 0, sizeof(*c));
		snprintf(c->name, sizeof(c->name), "%s", name);
	} else if (i < r->n_crls) {
		c = &r->crls[i];
	}
	if (c != NULL && (rc = crl_reload(r, c, issuer, fd, &st)) == 0 && c->der == NULL)
		rc = CAIRN_ENOENT;
	if (rc == 0) {
		rc = (*der = malloc(c->len)) != NULL ? 0 : CAIRN_ENOMEM;
		if (rc == 0) {
			memcpy(*der, c->der, c->len);
			*len = c->len;
			*tu = c->this_update;
			*nu = c->next_update;
		}
	}
	pthread_mutex_unlock(&r->crl_mu);
	close(fd);
	return rc;
}

/* /crl/{issuer}.crl: the file the daemon published, with the daemon's caching headers. */
static void route_responder_crl(server_t *s, const server_req_t *req, const char *arg,
				http_reply_t *reply)
{
	char name[48];
	size_t n = strlen(arg), len = 0;
	uint8_t *der = NULL;
	int64_t tu = 0, nu = 0;
	int rc;
	(void)req;

	if (n <= 4 || n - 4 >= sizeof(name) || strcmp(arg + n - 4, ".crl") != 0) {
		http_reply_problem(reply, 404, NULL, "no CRL named %s", arg);
		return;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(n - 4), arg);
	if ((rc = crl_current(s->responder, name, &der, &len, &tu, &nu)) != 0) {
		if (rc == CAIRN_ENOENT)
			http_reply_problem(reply, 404, NULL, "no CRL named %s", arg);
		else
			http_reply_problem(reply, 503, NULL, "the published CRL %s is unusable: %s",
					   arg, cairn_strerror(rc));
		return;
	}
	server_reply_crl(reply, der, len, tu, nu);
}

static void route_responder_metrics(server_t *s, const server_req_t *req, const char *arg,
				    http_reply_t *reply)
{
	mtext_t m = { 0 };
	uint64_t hits = 0;
	(void)req;
	(void)arg;

	server_metrics_front(s, &m);
	ocsp_stats(s->ocsp, &hits, NULL, NULL);
	mtext_family(&m, "cairn_ocsp_responses_total", "counter", "OCSP answers by source.");
	mtext_add(&m,
		  "cairn_ocsp_responses_total{source=\"cache\"} %lu\n"
		  "cairn_ocsp_responses_total{source=\"trylater\"} %lu\n",
		  (unsigned long)hits, (unsigned long)ocsp_try_later(s->ocsp));
	mtext_family(&m, "cairn_responder_crl_reads_total", "counter",
		     "Published CRL files read (again after the daemon replaced them).");
	mtext_add(&m, "cairn_responder_crl_reads_total %lu\n",
		  (unsigned long)atomic_load(&s->responder->crl_reads));
	if (m.failed) {
		free(m.p);
		http_reply_problem(reply, 500, NULL, "out of memory");
		return;
	}
	http_reply_set(reply, 200, "text/plain; version=0.0.4", m.p, m.len);
}

/* What a responder serves; every other path is a 404 problem document. */
static const route_t responder_routes[] = {
	{ "GET", "/healthz", LISTEN_HTTP, route_healthz, 0, SERVER_CH_OTHER },
	{ "GET", "/metrics", LISTEN_HTTP, route_responder_metrics, 0, SERVER_CH_OTHER },
	{ "GET", "/ca/", LISTEN_HTTP, route_ca_cert, 0, SERVER_CH_OTHER },
	{ "POST", "/ocsp", LISTEN_HTTP, route_ocsp_post, OCSP_MAX_REQUEST, SERVER_CH_OCSP },
	{ "GET", "/ocsp/", LISTEN_HTTP, route_ocsp_get, 0, SERVER_CH_OCSP },
	{ "GET", "/crl/", LISTEN_HTTP, route_responder_crl, 0, SERVER_CH_CRL },
};

static void responder_free(struct server_responder *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < atomic_load(&r->n_iss); i++)
		X509_free(r->certs[i]);
	for (i = 0; i < r->n_crls; i++)
		free(r->crls[i].der);
	pthread_mutex_destroy(&r->crl_mu);
	free(r->crl_dir);
	ca_rollover_free(atomic_load(&r->rollover));
	free(r);
}

int server_run_responder(const cairn_config_t *cfg, const char *listen, cairn_err_t *err)
{
	server_t s = { 0 };
	sigset_t sigs;
	char *dbdir = NULL;
	int sig = 0, rc;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (log_async_start() != 0)
		log_warn("server", "the log writer did not start: lines are written directly");
	s.cfg = cfg;
	s.started = time(NULL);
	pthread_mutex_init(&s.material_lock, NULL);
	pthread_mutex_init(&s.tls_lock, NULL);
	pthread_mutex_init(&s.metrics_lock, NULL);
	if ((s.responder = calloc(1, sizeof(*s.responder))) == NULL ||
	    (dbdir = fs_join(cfg->dir, "db")) == NULL ||
	    (s.responder->crl_dir = config_path(cfg, cfg->crl_publish_dir)) == NULL) {
		free(s.responder);
		s.responder = NULL;
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	pthread_mutex_init(&s.responder->crl_mu, NULL);
	/* No lock on the data dir, no token, no write: only LMDB's own reader slot. */
	if ((rc = db_open_readonly(dbdir, &s.db, err)) != 0 || (rc = open_issuers(&s, err)) != 0)
		goto out;
	rc = http_start_plain(&s, listen ? listen : cfg->listen_http, responder_routes,
			      sizeof(responder_routes) / sizeof(responder_routes[0]), err);
	if (rc != 0)
		goto out;
	atomic_store(&s.ready, 1);
	log_info("server", "responder for %s serving %s (OCSP from the pre-signed cache, CRLs, "
		 "CA certificates)", cfg->dir, s.http_url);
	if (server_sd_notify("READY=1") != 0)
		log_warn("server", "NOTIFY_SOCKET is set but readiness could not be sent");
	/* A rotation or a root rollover is picked up within a minute, or at once on SIGHUP. */
	for (;;) {
		struct timespec every = { RSP_ISSUERS_EVERY, 0 };
		cairn_err_t rerr = { 0 };

		sig = sigtimedwait(&sigs, NULL, &every);
		if (sig == SIGINT || sig == SIGTERM)
			break;
		if (ca_issuers_recorded(s.db, add_rotated, &s, &rerr) != 0)
			log_warn("server", "responder: reading the issuing CAs: %s", cairn_err_msg(&rerr));
		else if (read_rollover(&s, &rerr) != 0)
			log_warn("server", "responder: reading the root rollover: %s", cairn_err_msg(&rerr));
	}
	log_info("server", "signal %d: shutting down", sig);
out:
	atomic_store(&s.ready, 0);
	http_stop(&s);
	ocsp_free(s.ocsp);
	db_close(s.db);
	responder_free(s.responder);
	pthread_mutex_destroy(&s.material_lock);
	pthread_mutex_destroy(&s.tls_lock);
	pthread_mutex_destroy(&s.metrics_lock);
	free(dbdir);
	log_async_stop();
	return rc;
}
