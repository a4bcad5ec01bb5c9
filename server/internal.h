/* SPDX-License-Identifier: MIT */
/* Private to server/: the running daemon's state and the route table's types. */
#ifndef CAIRN_SERVER_INTERNAL_H
#define CAIRN_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <gnutls/abstract.h>
#include <microhttpd.h>

#include "acme/acme.h"
#include "admin/admin.h"
#include "ca/ca.h"
#include "crl/crl.h"
#include "db/db.h"
#include "est/est.h"
#include "hsm/hsm.h"
#include "notify/notify.h"
#include "ocsp/ocsp.h"
#include "policy/policy.h"
#include "server/server.h"

/* ---- the config table (config_table.c rows, read by config.c) ---- */

typedef enum {
	CFG_STR,   /* string; choices "a|b" or max length when set */
	CFG_INT,   /* integer min..max */
	CFG_BOOL,  /* true | false */
	CFG_DUR,   /* duration string (duration_parse) of min..max seconds */
	CFG_URL,   /* absolute http:// or https:// URL ("" only with CFG_EMPTY) */
	CFG_ADDR,  /* host:port or [v6]:port with port min..max ("" only with CFG_EMPTY) */
	CFG_IP,    /* IPv4 or IPv6 address */
	CFG_LIST,  /* array of at most max strings */
	CFG_OBJ,   /* object whose members are the rows below it */
	CFG_MAP,   /* object of at most max members of any name, each the row PATH.* */
	CFG_SUB,   /* object checked whole by its subsystem's validator (cfg_check_subsystems) */
} cfg_type_t;

#define CFG_INIT 1u  /* `cairn init` writes the default into cairn.json */
#define CFG_EMPTY 2u /* "" is allowed (URL, ADDR) */
#define CFG_BASE 4u  /* URL: a base that paths are appended to (cfg_base_why) */
#define CFG_HTTPS 8u /* URL: https:// only */
#define CFG_NO_FIELD ((size_t)-1)

typedef struct cfg_key {
	const char *path;    /* dotted path; "*" stands for any member name of a CFG_MAP */
	cfg_type_t type;
	size_t offset;       /* into cairn_config_t, or CFG_NO_FIELD (inside a map) */
	const char *def;     /* default as text; NULL = required; "" = empty/optional */
	long min, max;
	const char *choices; /* CFG_STR: allowed values "a|b|c", or NULL */
	unsigned flags;
	const char *doc;
} cfg_key_t;

extern const cfg_key_t config_keys[];
extern const size_t config_n_keys;

enum { LISTEN_HTTPS = 1, LISTEN_HTTP = 2, LISTEN_BOTH = 3 };

/* A certificate of the daemon's own (CA, OCSP signer, HTTPS) and its validity. */
typedef struct server_material {
	char name[24];          /* "root", "issuing", "ocsp-signer", "https" */
	int64_t not_before, not_after;
	int is_ca;              /* a CA certificate (basicConstraints cA): a "ca" metric row */
	char serial[2 * DB_SERIAL_MAX + 1]; /* hex: what ca_in_use_set is told */
} server_material_t;
#define SERVER_MAX_MATERIAL (CA_MAX_ISSUERS + 4) /* issuers, root, signer, https */

/* Request channels of the duration histograms (metrics.c); a route row names its own. */
enum { SERVER_CH_OTHER, SERVER_CH_ACME, SERVER_CH_EST, SERVER_CH_ADMIN, SERVER_CH_OCSP,
       SERVER_CH_CRL, SERVER_CHANNELS };
#define SERVER_BUCKETS 13
/* One histogram: per-bucket (not cumulative) counts, the sum in microseconds, the count.
 * Relaxed atomics: the request path pays three uncontended adds. */
typedef struct server_hist {
	atomic_ulong bucket[SERVER_BUCKETS];
	atomic_ullong sum_us;
	atomic_ulong count;
} server_hist_t;

typedef struct server {
	const cairn_config_t *cfg;
	hsm_t *hsm;
	db_t *db;
	ca_t *ca;
	policy_engine_t *policy;        /* the one issuance path; reloaded on SIGHUP */
	admin_ctx_t admin;
	est_t *est;
	est_settings_t est_settings;
	acme_t *acme;
	struct MHD_Daemon *https, *http;
	char *tls_trust_pem;            /* root + issuing CA: client certificates are checked against it */
	char https_url[160], http_url[160];
	unsigned conn_max;              /* connections each listener may hold (conns.c) */
	unsigned long fd_limit;         /* the file-descriptor limit then; 0 = not known */
	atomic_ulong requests[2];       /* per listener: [0] https, [1] http */
	atomic_uint conns[2];           /* connections open now, per listener (http.c) */
	atomic_ulong responses[6];      /* by status class 1xx..5xx ([0] unused) */
	server_hist_t hist[SERVER_CHANNELS]; /* request durations by channel (metrics.c) */
	struct server_expiring *expiring; /* the expiring gauges last computed, under metrics_lock */
	pthread_mutex_t metrics_lock;
	pthread_cond_t exp_wake;        /* the expiry gauge thread (metrics.c), under metrics_lock */
	pthread_t exp_thread;
	int exp_stop, exp_running;
	atomic_uint_fast64_t exp_gen;   /* certificates issued or revoked since the start */
	ocsp_t *ocsp;                   /* OCSP responder (revocation.c) */
	crl_t *crl;                     /* CRL service (revocation.c) */
	ocsp_pub_t *ocsp_pub;           /* the published tree, or NULL (ocsp.publish) */
	server_material_t material[SERVER_MAX_MATERIAL]; /* under material_lock (health.c) */
	size_t n_material;
	int64_t disk_low_since;         /* when /healthz first found the disk low; 0 (health.c) */
	pthread_mutex_t material_lock;
	struct http_cred *tls_cred;     /* the HTTPS certificate new connections get (tls.c) */
	pthread_mutex_t tls_lock;       /* guards the tls_cred pointer (the credential is refcounted) */
	struct server_renew *renew;     /* renewal of the OCSP signer and HTTPS certificate (renew.c) */
	struct server_audit_check *audit_check; /* the audit chain's self-check (audit_check.c) */
	time_t started;
	atomic_int ready;               /* set once the core is open */
	pthread_t checkpointer;         /* signs the audit head every audit.checkpoint_interval */
	pthread_mutex_t cp_lock;
	pthread_cond_t cp_wake;
	int cp_stop, cp_running;
	pthread_t indexer;              /* builds indexes an older database lacks (daemon.c) */
	atomic_int idx_stop;
	int idx_running;
	notify_settings_t notify_settings;
	notify_t *notify;               /* event delivery worker (events.c) */
	struct server_discover *discover; /* discover.schedules (discover.c), NULL = none */
	struct server_replace *replace;   /* replacement campaigns (replace.c) */
	struct server_responder *responder; /* the responder role's state (responder.c), or NULL */
} server_t;

/* One parsed request as the routes see it. Everything borrowed for the call. */
typedef struct server_req {
	const char *method;
	const char *path;
	int listener;           /* LISTEN_HTTPS or LISTEN_HTTP */
	struct MHD_Connection *conn;
	const char *body;
	size_t body_len;
	const uint8_t *peer_cert; /* DER of the TLS client certificate, verified against the
	                             root and every issuing CA (http_tls_peer_trusted: chain
	                             and validity); NULL = none or not verified */
	size_t peer_cert_len;
	void *tls_session;        /* gnutls_session_t on HTTPS, NULL on HTTP */
	est_conn_t **est_conn;    /* this TLS connection's EST slot, or NULL */
} server_req_t;

typedef void (*route_fn)(server_t *s, const server_req_t *req, const char *arg,
			 http_reply_t *reply);

typedef struct route {
	const char *method;    /* "GET", "POST", or "*" (the handler checks) */
	const char *path;      /* exact, or a prefix ending in '/' whose rest is arg */
	int listeners;         /* LISTEN_* mask */
	route_fn fn;
	long body_limit;       /* 0 = no body accepted; -1 = server.max_body */
	int channel;           /* SERVER_CH_*: the request-duration histogram it counts in */
} route_t;

/* discover.c: discover.schedules. start checks every schedule's targets against
 * discover.allowed (CAIRN_ECONFIG naming the schedule) and starts the scanning thread;
 * none configured = nothing started. stop waits for a scan under way. */
int server_discover_start(server_t *s, cairn_err_t *err) CAIRN_WUR;
/* The most connections one discovery scan of cfg's schedules holds at once (0: none). */
int server_discover_parallel(const cairn_config_t *cfg);
void server_discover_stop(server_t *s);
/* replace.c: progresses replacement campaigns at start-up and every replace.interval. */
int server_replace_start(server_t *s, cairn_err_t *err) CAIRN_WUR;
void server_replace_stop(server_t *s);

/* renew.c: renewal of the delegated OCSP signer and the HTTPS certificate. */
typedef struct server_renew server_renew_t;
/*
 * Finds the delegated OCSP signer in use (the one the last renewal recorded in the
 * database, else ca.ocsp_cert/ca.ocsp_key; its key must be the token key and the
 * issuing CA its issuer: CAIRN_ECONFIG otherwise) and the HTTPS certificate (renewed
 * only when the issuing CA issued it), and renews at once what is due. Call after
 * ca_open and the HTTPS listener, before the OCSP responder opens. *ocsp_cert and *ocsp_key
 * (NULL with ocsp.signer "ca") are the signer to answer with, owned by the caller.
 * A failed renewal is logged and retried later; it does not fail the start.
 */
int server_renew_open(server_t *s, X509 **ocsp_cert, EVP_PKEY **ocsp_key, cairn_err_t *err)
	CAIRN_WUR;
/* Starts the thread that renews each certificate when due (two thirds of its lifetime;
 * a delegated signer also no later than notAfter - ocsp.validity). */
int server_renew_start(server_t *s, cairn_err_t *err) CAIRN_WUR;
/* Stops the thread and refuses an admin's renewal from then on; the state stays for
 * /healthz and /metrics until server_renew_close (NULL-safe). */
void server_renew_stop(server_t *s);
/* Stops the thread and frees the state, once nothing reads it: after the listeners and
 * the notify worker (NULL-safe). */
void server_renew_close(server_t *s);
/* admin_ctx_t.renew: renews what ("ocsp-signer" | "https") now, audited with actor;
 * *out = {what, serial, replaces, not_after}. arg is the server_t. Returns 0,
 * CAIRN_EINVAL (what), CAIRN_ECONFLICT (nothing of ours to renew), or the failure. */
int server_renew_now(void *arg, const char *what, const char *actor, json_t **out,
		     cairn_err_t *err) CAIRN_WUR;
/* The renewals of kind i (0, 1, ...) that were due and failed: *what its name
 * ("ocsp-signer", "https"), *out their run (/healthz renew_failing). CAIRN_ENOENT past
 * the last kind, or before server_renew_open. */
int server_renew_failrun(server_t *s, int i, const char **what, util_failrun_t *out);
/* Completes an HTTPS renewal a crash interrupted (its ".new" files), before the
 * listener reads tls.cert/tls.key. Returns 0 or CAIRN_EIO/CAIRN_ENOMEM. */
int server_renew_tls_recover(const cairn_config_t *cfg, cairn_err_t *err) CAIRN_WUR;

/* The route table (routes.c). */
extern const route_t server_routes[];
extern const size_t server_route_count;

/* metrics.c: the /metrics text. */
/* Text being built: mtext_add appends (printf format); on out-of-memory failed is set
 * and later adds do nothing. p is malloc'd, owned by whoever built it. */
typedef struct mtext {
	char *p;
	size_t len, cap;
	int failed;
} mtext_t;
void mtext_add(mtext_t *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The # HELP and # TYPE lines of a metric family. */
void mtext_family(mtext_t *m, const char *name, const char *type, const char *help);
/* v escaped as a label value into out (cap bytes, truncated); returns out. */
const char *mtext_label(const char *v, char *out, size_t cap);
extern const char *const server_channel_names[SERVER_CHANNELS];
/* Counts one request of channel that took us microseconds. Lock-free; any thread. */
void server_observe(server_t *s, int channel, uint64_t us);
/* The HTTP front's families (cairn_up, start time, requests, responses, durations). */
void server_metrics_front(server_t *s, mtext_t *m);
/* The whole exposition: *text (malloc'd, *len bytes). Returns 0 or CAIRN_ENOMEM. */
int server_metrics(server_t *s, char **text, size_t *len) CAIRN_WUR;
/* The expiry gauge thread: the expiring gauges are computed there (at start, after
 * certificates change, when the windows reach one), never by a scrape. start registers
 * server_metrics_changed with s->ca (before the ca is shared). stop: a no-op when not
 * started. */
int server_metrics_start(server_t *s, cairn_err_t *err) CAIRN_WUR;
void server_metrics_stop(server_t *s);
void server_metrics_changed(const char *issuer, const uint8_t *serial, size_t len, void *arg);

/* revocation.c: the OCSP responder and the CRL service, wired to ca_on_revoke. */
int server_revocation_open(server_t *s, cairn_err_t *err);
void server_revocation_close(server_t *s);
/* Appends the OCSP/CRL metrics to m. */
void server_revocation_metrics(server_t *s, mtext_t *m);
/* Answers OCSP and publishes a CRL for the issuing CA name (already in the ca: a
 * rotation). Returns 0, CAIRN_ENOENT or the ocsp/crl code. */
int server_revocation_add_issuer(server_t *s, const char *name, cairn_err_t *err) CAIRN_WUR;

/* rotate.c: admin_ctx_t.rotate (arg is the server_t): ca_rotate, OCSP and CRL for the
 * new issuing CA, its expiry in /metrics and /healthz, then it becomes current. */
int server_rotate_now(void *arg, const char *actor, json_t **out, cairn_err_t *err) CAIRN_WUR;

/* health.c. Records (or replaces, after a renewal) the validity of a certificate of the
 * daemon's own under name (x borrowed; NULL is ignored). Thread-safe. */
void server_material_update(server_t *s, const char *name, X509 *x);
/* Tells s->ca (just opened) the OCSP signer and HTTPS certificate recorded before it
 * existed (ca_in_use_set); server_material_update tells it from then on. */
void server_material_to_ca(server_t *s);
/* Counts what makes the daemon degraded at now: material expired or within its warning
 * window (a third of its lifetime, at most 30 days), a CRL past or within a minute of its
 * nextUpdate. Each problem is appended to problems ({"what","state","at"}) unless NULL. */
int server_health(server_t *s, int64_t now, json_t *problems);
/* Appends {"what","state","at"} and the members of extra (taken; may be NULL) to problems
 * (which may be NULL: only counted); returns 1 (health.c). */
int server_problem(json_t *problems, const char *what, const char *state, int64_t at,
		   json_t *extra);
/* The audit chain's self-check (audit_check.c): at start and daily, in a thread of its own.
 * Open its state before any thread that reads it starts, start the thread once the daemon
 * is up, stop it before the database closes, free the state once nothing reads it
 * (/healthz, /metrics, notify). server_audit_health appends the problem of a broken chain
 * (returns their count); server_audit_metrics writes its gauges. All NULL-safe. */
int server_audit_check_open(server_t *s, cairn_err_t *err) CAIRN_WUR;
int server_audit_check_start(server_t *s, cairn_err_t *err) CAIRN_WUR;
void server_audit_check_stop(server_t *s);
void server_audit_check_free(server_t *s);
int server_audit_health(server_t *s, json_t *problems);
void server_audit_metrics(server_t *s, mtext_t *m);
/* events.c. notify_names_fn: the names of a stored certificate (DER) through ca/'s one
 * extractor, a new json array (arg unused). */
json_t *server_cert_names(const uint8_t *der, size_t len, void *arg);
/* Starts the notify worker (cfg->notify validated; secrets read): 0 or the error.
 * server_events_stop stops it (safe when never started). events.c */
int server_events_start(server_t *s, cairn_err_t *err);
void server_events_stop(server_t *s);
/* Appends the expiry gauges of the daemon's own material (CAs, OCSP signer, HTTPS, CRLs)
 * and cairn_health_degraded to m. */
void server_health_metrics(server_t *s, mtext_t *m);
/* routes.c: /healthz and /ca/{issuer}.crt, served by both roles. */
void route_healthz(server_t *s, const server_req_t *req, const char *arg, http_reply_t *reply);
void route_ca_cert(server_t *s, const server_req_t *req, const char *arg, http_reply_t *reply);
/* responder.c: the CA certificate named name ("root", "issuing", "issuing-2", …) of the
 * daemon's ca or of the responder's table; borrowed; NULL when none. */
X509 *server_ca_cert(server_t *s, const char *name);
/* The last root rollover the daemon (its CA) or the responder (read from the database)
 * knows of; NULL if none. Borrowed, valid while s runs. */
const ca_rollover_certs_t *server_rollover(server_t *s);
void route_ocsp_post(server_t *s, const server_req_t *req, const char *arg, http_reply_t *reply);
void route_ocsp_get(server_t *s, const server_req_t *req, const char *arg, http_reply_t *reply);
void route_crl(server_t *s, const server_req_t *req, const char *arg, http_reply_t *reply);
/* A CRL's 200 answer: der (malloc'd, taken) with Last-Modified, Expires and Cache-Control
 * after its thisUpdate tu and nextUpdate nu. */
void server_reply_crl(http_reply_t *reply, uint8_t *der, size_t len, int64_t tu, int64_t nu);

/* lifecycle.c: the service manager and SIGHUP. */
/* Sends state ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=...") to $NOTIFY_SOCKET;
 * 0 also when the variable is unset (not under systemd), CAIRN_EINVAL/CAIRN_EIO. */
int server_sd_notify(const char *state);
/* SHA-256 of DIR/cairn.json into out: 0 or a CAIRN_E* code. */
int server_config_digest(const char *dir, unsigned char out[32]) CAIRN_WUR;
/* SIGHUP: reloads the policy, compares cairn.json with cfg_digest (what was started
 * with) and logs one line saying what was reloaded and what changed. */
void server_reload(server_t *s, const unsigned char cfg_digest[32]);

/* tls.c: the HTTPS credential. */
/* What one HTTPS connection holds of the credential it was handshaked with. */
typedef struct http_tls_hold {
	server_t *s;
	struct http_cred *cred;
} http_tls_hold_t;
/* Makes cert_pem (certificate chain) and key_pem the credential of new HTTPS connections,
 * after checking that the key belongs to the first certificate; connections already open
 * keep theirs. Updates the "https" material. Returns 0, CAIRN_ECONFIG, CAIRN_ENOMEM.
 * Thread-safe (s->tls_lock). */
int http_tls_set(server_t *s, const char *cert_pem, const char *key_pem, cairn_err_t *err)
	CAIRN_WUR;
/* 1 when the client certificate chain the peer sent (peers[0] the leaf, DER) verifies
 * against the root and the issuing CAs of s->ca, rotations included (signatures,
 * validity now); 0 otherwise. Thread-safe. */
int http_tls_peer_trusted(server_t *s, const gnutls_datum_t *peers, unsigned n);
/* Drops the current credential (after the HTTPS listener stopped). */
void http_tls_clear(server_t *s);
/* At connection start: h (owned by the connection) becomes the session's user pointer. */
void http_tls_hold_start(http_tls_hold_t *h, server_t *s, void *tls_session);
/* At connection end: releases the credential the connection held. */
void http_tls_hold_end(http_tls_hold_t *h);
/* MHD_OPTION_HTTPS_CERT_CALLBACK: the current credential, a reference held by the
 * connection (through the session's user pointer) until http_tls_hold_end. */
int http_tls_retrieve(gnutls_session_t sess, const gnutls_datum_t *req_ca_rdn, int nreqs,
		      const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
		      gnutls_pcert_st **pcert, unsigned int *pcert_length,
		      gnutls_privkey_t *privkey);

/* Starts both listeners (http.c). */
int http_start(server_t *s, cairn_err_t *err);
/* Starts only the plain HTTP listener on addr ("host:port", port 0 = any), serving the
 * n routes of routes (borrowed for the listener's life); s->http_url says where. */
int http_start_plain(server_t *s, const char *addr, const route_t *routes, size_t n,
		     cairn_err_t *err);
void http_stop(server_t *s);

/* The listeners' connections and the file descriptors (conns.c): sets s->conn_max for n
 * listeners, raising the soft descriptor limit as far as needed; CAIRN_ECONFIG when too
 * few are left. */
int server_conns_budget(server_t *s, unsigned listeners, cairn_err_t *err) CAIRN_WUR;
unsigned server_conns_per_ip(const server_t *s);
long server_open_fds(void);

#endif
