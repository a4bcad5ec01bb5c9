/* SPDX-License-Identifier: MIT */
/* Private to server/: the running daemon's state and the route table's types. */
#ifndef CAIRN_SERVER_INTERNAL_H
#define CAIRN_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

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
} server_material_t;
#define SERVER_MAX_MATERIAL 8

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
	char *tls_cert_pem, *tls_key_pem;
	char *tls_trust_pem;            /* root + issuing CA: client certificates are checked against it */
	char https_url[160], http_url[160];
	uint8_t *root_der, *issuing_der;
	size_t root_der_len, issuing_der_len;
	atomic_ulong requests[2];       /* per listener: [0] https, [1] http */
	atomic_ulong responses[6];      /* by status class 1xx..5xx ([0] unused) */
	ocsp_t *ocsp;                   /* OCSP responder (revocation.c) */
	crl_t *crl;                     /* CRL service (revocation.c) */
	server_material_t material[SERVER_MAX_MATERIAL]; /* noted at start (health.c) */
	size_t n_material;
	time_t started;
	atomic_int ready;               /* set once the core is open */
	pthread_t checkpointer;         /* signs the audit head every audit.checkpoint_interval */
	pthread_mutex_t cp_lock;
	pthread_cond_t cp_wake;
	int cp_stop, cp_running;
	notify_settings_t notify_settings;
	notify_t *notify;               /* event delivery worker (events.c) */
} server_t;

/* One parsed request as the routes see it. Everything borrowed for the call. */
typedef struct server_req {
	const char *method;
	const char *path;
	int listener;           /* LISTEN_HTTPS or LISTEN_HTTP */
	struct MHD_Connection *conn;
	const char *body;
	size_t body_len;
	const uint8_t *peer_cert; /* DER of the TLS client certificate, verified against
	                             tls_trust_pem (chain and validity); NULL = none or not verified */
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
} route_t;

/* The route table (routes.c). */
extern const route_t server_routes[];
extern const size_t server_route_count;

/* revocation.c: the OCSP responder and the CRL service, wired to ca_on_revoke. */
int server_revocation_open(server_t *s, cairn_err_t *err);
void server_revocation_close(server_t *s);
/* Appends the OCSP/CRL metrics to *text (malloc'd, len bytes; realloc'd). Returns
 * the new length or -1 (out of memory; *text still owned by the caller). */
int server_revocation_metrics(server_t *s, char **text, size_t len);

/* health.c. Notes a certificate of the daemon's own under name (copied; x borrowed);
 * call at start, before the listeners run. */
void server_material_note(server_t *s, const char *name, X509 *x);
/* Counts what makes the daemon degraded at now: material expired or within its warning
 * window (a third of its lifetime, at most 30 days), a CRL past or within a minute of its
 * nextUpdate. Each problem is appended to problems ({"what","state","at"}) unless NULL. */
int server_health(server_t *s, int64_t now, json_t *problems);
/* Starts the notify worker (cfg->notify validated; secrets read): 0 or the error.
 * server_events_stop stops it (safe when never started). events.c */
int server_events_start(server_t *s, cairn_err_t *err);
void server_events_stop(server_t *s);
/* Appends the expiry gauges to *text (len bytes so far); returns the new length or -1. */
int server_health_metrics(server_t *s, char **text, size_t len);
void route_ocsp_post(server_t *s, const server_req_t *req, const char *arg, http_reply_t *reply);
void route_ocsp_get(server_t *s, const server_req_t *req, const char *arg, http_reply_t *reply);
void route_crl(server_t *s, const server_req_t *req, const char *arg, http_reply_t *reply);

/* Starts both listeners (http.c). */
int http_start(server_t *s, cairn_err_t *err);
void http_stop(server_t *s);

#endif
