/* SPDX-License-Identifier: MIT */
/* server: configuration (DIR/cairn.json), the HTTP front and the daemon. */
#ifndef CAIRN_SERVER_H
#define CAIRN_SERVER_H

#include <jansson.h>

#include "acme/acme.h"
#include "est/est.h"
#include "util/util.h"

typedef struct cairn_config {
	char *dir;              /* absolute data directory */
	char *listen_https;     /* "127.0.0.1:8443" */
	char *listen_http;      /* "127.0.0.1:8080" */
	char *public_https;     /* "" = follows the HTTPS listener */
	char *public_http;      /* "" = follows the HTTP listener */
	char *token_module;
	char *token_label;
	char *pin_file;         /* relative to dir */
	char *pin_env;          /* environment variable holding the PIN (wins over pin_file) */
	char *softhsm_conf;     /* "" = leave SOFTHSM2_CONF alone (real HSM) */
	long token_timeout;     /* seconds a signature is waited for */
	char *root_cert;        /* PEM paths, relative to dir */
	char *issuing_cert;
	char *ocsp_cert;
	char *issuing_key;      /* token key labels */
	char *ocsp_key;
	char *tls_cert;         /* daemon HTTPS chain (PEM) */
	char *tls_key;          /* daemon HTTPS key (PEM file) */
	long tls_days;          /* lifetime of a renewed HTTPS certificate */
	long ocsp_signer_days;  /* lifetime of a renewed delegated OCSP signer */
	char *log_level;
	long threads;           /* HTTPS worker threads */
	long http_threads;      /* plain HTTP worker threads; 0: one per CPU we may run on */
	long max_body;          /* bytes */
	long max_connections;
	long max_connections_per_ip;
	long max_header_bytes;  /* per-connection memory for headers and read buffer (HTTPS) */
	long http_max_header_bytes; /* the same for the plain HTTP listener */
	long connection_timeout;/* seconds a connection may stay idle */
	long max_json_depth;    /* nesting allowed in JSON request bodies */
	long disk_min_free_mb;  /* /healthz: the database's disk is low below this; 0 = not watched */
	char *tls_min_version;  /* "1.2" | "1.3" */
	char *tls_priorities;   /* GnuTLS priority string without VERS- items */
	char *ocsp_signer;      /* "delegated" | "ca" */
	long ocsp_validity;     /* seconds */
	char *crl_publish_dir;  /* relative to dir */
	long crl_period, crl_overlap, crl_debounce, crl_keep_expired, crl_delta_period;
	char *ocsp_publish;     /* "" = off; else the published tree's root (relative to dir) */
	long ocsp_publish_delay;/* seconds changes are gathered before the tree is written */
	char *crl_publish;      /* "" = off; else the tree CRLs and CA certificates go to */
	long crl_shards;
	char *policy_file;      /* approval policy (JSON), relative to dir */
	char *pending_ttl;      /* how long a pending request waits, e.g. "7d" */
	char *checkpoint_interval; /* signed audit checkpoints, e.g. "1h" */
	char *ui_session_lifetime; /* console session lifetime, e.g. "8h" */
	json_t *profiles;       /* borrowed from root */
	json_t *acme;           /* borrowed from root, may be NULL */
	json_t *est;            /* borrowed from root, may be NULL */
	acme_settings_t acme_settings; /* the "acme" object as typed values (strings owned) */
	est_settings_t *est_settings;  /* the "est" object as est_settings_parse reads it (owned) */
	json_t *notify;         /* borrowed from root, may be NULL (validated by notify_settings_parse) */
	json_t *root;           /* the whole document (owned) */
} cairn_config_t;

/*
 * Loads and validates DIR/cairn.json against the one config table: unknown keys,
 * wrong types, values out of bounds and what the subsystems refuse (profiles, EST
 * labels, the ACME profile, TLS priorities) are refused with a one-line error naming
 * the key and what is allowed ("server.threads: must be an integer 1..256"). `cairn
 * config check` and `cairn serve` both call this. *out owned by the caller: config_free.
 */
int config_load(const char *dir, cairn_config_t **out, cairn_err_t *err) CAIRN_WUR;
/*
 * The same validation on a document already in memory (text of len bytes, not
 * necessarily NUL-terminated); dir (need not exist) becomes cfg->dir as given and
 * name is used in messages. No file is read. Used by config_load and the fuzzer.
 */
int config_parse(const char *dir, const char *name, const char *text, size_t len,
		 cairn_config_t **out, cairn_err_t *err) CAIRN_WUR;
void config_free(cairn_config_t *cfg);
/* 1 when profiles (a config's "profiles" object) has a profile named name: the lookup the
 * config's own checks and `cairn policy check --dir` make. */
int config_has_profile(const char *name, const void *profiles);

/* The HTTPS listener's default server.tls_priorities: forward-secret AEAD suites only. */
#define CONFIG_TLS_PRIORITIES "SECURE128:-AES-128-CBC:-AES-256-CBC:-RSA"

/* The GnuTLS priority string of the HTTPS listener: server.tls_priorities with the
 * versions of server.tls_min_version and above (malloc'd), or NULL (out of memory). */
char *config_tls_priorities(const cairn_config_t *cfg) CAIRN_WUR;

/* malloc'd absolute path of a config-relative file. */
char *config_path(const cairn_config_t *cfg, const char *rel) CAIRN_WUR;

/* Reads the token PIN from pin_env (if set and present) or pin_file; malloc'd, trimmed. */
int config_read_pin(const cairn_config_t *cfg, char **pin, cairn_err_t *err) CAIRN_WUR;

/* Builds the default document `cairn init` writes (new reference). listen/public
 * may be NULL for defaults; profiles is borrowed (copied in). */
json_t *config_default(const char *listen_https, const char *listen_http,
		       const char *public_https, const char *public_http, const json_t *profiles);

/* Writes the documented key table (key, type, default, description) as Markdown to out:
 * the text `cairn config keys` prints and docs/config.md carries. */
void config_describe(FILE *out);
/* The same table as data (new reference; NULL when out of memory): one object a key,
 * {"key", "type", "bounds"?, "default", "value"?, "meaning"}; "default" is "required",
 * "optional", "empty" or "value" (then "value" holds it). For `config keys --json` and the
 * cairn.json(5) page. */
json_t *config_keys_json(void);

/* Checks value as the string of key (e.g. "public_urls.http") against the config table, with
 * the message `cairn serve` would give. 0, CAIRN_ECONFIG (err filled) or CAIRN_EINVAL (no
 * such key). For `cairn init`'s options. */
int config_check_string(const char *key, const char *value, cairn_err_t *err) CAIRN_WUR;
/* The default of key as the table writes it (static), or NULL for an unknown key or a
 * required one. */
const char *config_key_default(const char *key);

/* Splits "host:port" / "[v6]:port" into host (no brackets) and port. */
int config_parse_addr(const char *addr, char *host, size_t cap, int *port) CAIRN_WUR;

/*
 * Runs the daemon until SIGINT/SIGTERM: takes the exclusive lock on cfg->dir,
 * logs in to the token once, opens the database and the CA, starts the HTTPS
 * and HTTP listeners, writes DIR/serve.json (pid and the URLs actually bound,
 * so port 0 works) and removes it on a clean shutdown.
 * Returns 0 after a clean shutdown, or a negative code with err filled.
 */
int server_run(const cairn_config_t *cfg, cairn_err_t *err) CAIRN_WUR;
/*
 * Runs a responder until SIGINT/SIGTERM (`cairn serve --role responder`,
 * docs/scaling.md): beside the issuing daemon of cfg->dir (or on a copy of its data
 * dir), opens the database read-only (db_open_readonly), takes no lock on the data
 * dir, opens no token, writes no file; serves on listen (cfg's listen.http when NULL)
 * only OCSP from the daemon's pre-signed answers (tryLater when none is fresh), the
 * CRLs the daemon published, the CA certificates, /healthz and /metrics.
 * Returns 0 after a clean shutdown, or a negative code with err filled.
 */
int server_run_responder(const cairn_config_t *cfg, const char *listen, cairn_err_t *err)
	CAIRN_WUR;

/* Takes an exclusive, non-blocking lock on DIR/cairn.lock; returns the fd (keep it
 * open to hold the lock) or CAIRN_EBUSY when another process holds it. */
int server_lock_dir(const char *dir, cairn_err_t *err) CAIRN_WUR;

#endif
