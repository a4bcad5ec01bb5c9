/* SPDX-License-Identifier: MIT */
/* inventory: certificates cairn did not issue (and the join with its own) — import, owners,
 * reports, TLS discovery. */
#ifndef CAIRN_INVENTORY_H
#define CAIRN_INVENTORY_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "db/db.h"
#include "util/util.h"

#define INV_FP_LEN 32          /* SHA-256 of the DER: the table key */
#define INV_BATCH_MAX 1000     /* items per inventory_import call (one durable txn) */
#define INV_SIGHTINGS_MAX 32   /* places kept per certificate (the oldest-seen dropped) */
#define INV_TAGS_MAX 16
#define INV_OWNER_MAX 128
#define INV_WEAK_RSA_BITS 2048 /* RSA keys below this are weak */

/*
 * Record (DB_INVENTORY, key: the 32-byte fingerprint), one JSON object:
 * {"fp", "subject", "issuer", "serial", "sans": ["dns:a.example", ...], "key": "RSA"|"EC"|...,
 *  "bits", "sig": signature algorithm, "digest": its hash ("SHA1", "MD5", ...),
 *  "not_before", "not_after" (unix), "ca": bool, "trust": "cairn"|"system"|"unknown",
 *  "cairn_serial"?: hex (issued by cairn: same serial and issuer as a certificate in certs),
 *  "owner"?: text, "tags": [...], "added": unix,
 *  "seen": [{"kind": "file"|"csv"|"tls", "where", "sni"?, "first", "last", "tls"?: {...}}]}
 */

/* What an importer hands in: one certificate and where it was seen. All borrowed. */
typedef struct inv_item {
	const uint8_t *der;
	size_t der_len;
	const char *kind;   /* "file" | "csv" | "tls" */
	const char *where;  /* a path, "FILE:ROW", "host:port" */
	const char *sni;    /* tls: the server name sent, or NULL */
	const char *owner;  /* NULL = leave as it is */
	const json_t *tags; /* array of strings or NULL */
	const json_t *tls;  /* tls: what the scan saw (object) or NULL */
} inv_item_t;

/* The trust anchors import checks issuers against: the system store and cairn's roots. */
typedef struct inv_trust inv_trust_t;
/* Loads the system default store and adds cairn's root (ca may be NULL: system only) and
 * its issuing CA as an intermediate. Returns NULL when out of memory. Thread-safe to use. */
inv_trust_t *inv_trust_new(const ca_t *ca);
void inv_trust_free(inv_trust_t *t);
/* A new store of the system's trusted certificates: the default bundle file
 * ($SSL_CERT_FILE or OpenSSL's default), empty when there is none; NULL when out of memory. */
X509_STORE *inv_system_store(void);

/*
 * Imports up to INV_BATCH_MAX certificates in ONE durable write with ONE audit event
 * "inventory.import" by actor ({source, added, known, refused, owner_changed,
 * fingerprints added}), de-duplicated by fingerprint: a known certificate gains or
 * refreshes a sighting (owner and tags when given; an owner change is counted in the
 * event). Items that are not certificates are refused (counted, not fatal).
 * *results (new reference) is {"added", "known", "refused", "results": [{"fp", "result":
 * "added"|"known"|"refused", "reason"?, "cairn_serial"?, "status"?}]}.
 * Returns 0, CAIRN_EINVAL (n 0 or too many), CAIRN_ENOMEM or db_write's codes.
 */
int inventory_import(db_t *db, const inv_trust_t *trust, const inv_item_t *items, size_t n,
		     const char *source, const char *actor, json_t **results, cairn_err_t *err)
	CAIRN_WUR;

/*
 * Sets the owner of one certificate, named by key: 64 hex digits (fingerprint of an
 * inventory entry) or a serial (a certificate cairn issued — it joins the inventory — or
 * else the one inventory entry with that serial). owner "" clears it. Audited
 * "inventory.owner" {fp, serial, owner, previous} in the same transaction. *out (new
 * reference) is {fp, serial, owner, previous}. Returns 0, CAIRN_EINVAL, CAIRN_ENOENT,
 * CAIRN_ECONFLICT (a serial several inventory entries carry: give the fingerprint).
 */
int inventory_owner_set(db_t *db, const char *key, const char *owner, const char *actor,
			json_t **out, cairn_err_t *err) CAIRN_WUR;

/* ---- reading: rows for listings and reports (report.c) ---- */

typedef enum {
	INV_REPORT_LIST,           /* every inventory entry */
	INV_REPORT_EXPIRING,       /* both sets: now <= notAfter < now + within */
	INV_REPORT_WEAK,           /* both sets: RSA < 2048, SHA-1 or MD5 signatures */
	INV_REPORT_REVOKED_IN_USE, /* tls sightings of a cairn certificate that is revoked */
	INV_REPORT_UNKNOWN_ISSUER, /* inventory entries chaining to neither cairn nor the system */
} inv_report_t;

typedef struct inv_report_opts {
	inv_report_t kind;
	int64_t now;    /* unix seconds */
	int64_t within; /* EXPIRING: seconds */
	const char *by; /* EXPIRING: NULL, "owner", "issuer" or "profile" (rows sorted, "group") */
	size_t limit;   /* 0 = no limit */
} inv_report_opts_t;

/* "expiring", "weak", ... -> kind; -1 when unknown. */
int inv_report_parse(const char *name);
/*
 * Builds the report's rows in one read txn (borrowed): *rows (new reference) is an array
 * of flat objects whose members are inv_report_columns(kind). Returns 0, CAIRN_EINVAL
 * (bad by), CAIRN_ENOMEM or CAIRN_EDB.
 */
int inventory_report(db_txn_t *txn, const inv_report_opts_t *o, json_t **rows, cairn_err_t *err)
	CAIRN_WUR;
/* The columns of a report in print order (NULL-terminated, static). */
const char *const *inv_report_columns(inv_report_t kind);
/* One inventory record by fingerprint (hex) as stored: new reference, or NULL. */
json_t *inventory_get(db_txn_t *txn, const char *fp_hex);

typedef enum { INV_FMT_TABLE, INV_FMT_CSV, INV_FMT_JSON } inv_format_t;
/* "table"|"csv"|"json" -> format; -1 when unknown. */
int inv_format_parse(const char *name);
/* Writes rows under cols as an aligned text table or a spreadsheet-safe CSV (util_csv_cell).
 * JSON is the caller's (the CLI's one JSON writer). Returns 0 or CAIRN_EIO. */
int inv_rows_write(FILE *out, const json_t *rows, const char *const *cols, inv_format_t fmt)
	CAIRN_WUR;

/* ---- expiry notifications (expiry.c) ---- */

/*
 * The notify worker's second expiry scan (server/events.c): emits one "cert.expiring" event (notify_event, data {source:
 * "inventory", fp, serial, names, subject, issuer, owner, profile "", not_after, threshold_days,
 * days_left}) per inventory certificate (cairn's own excluded: the notify worker's scan of
 * by_expiry covers them) and threshold D of days (n_days 1..32, in days) with
 * now < notAfter < now + D, once: the record remembers the thresholds notified. Due records
 * are found in a read snapshot, events written in batches of 500. *emitted (may be NULL)
 * counts the events. Returns 0, CAIRN_EINVAL or a db code.
 */
int inventory_expiry_scan(db_t *db, const int64_t *days, size_t n_days, int64_t now,
			  uint64_t *emitted, cairn_err_t *err) CAIRN_WUR;

/* ---- parsing one certificate (record.c) ---- */

/* The record of x (fields above without owner/seen/added), or NULL (out of memory).
 * trust may be NULL ("unknown"); untrusted: other certificates that may be intermediates. */
json_t *inv_record_new(X509 *x, const inv_trust_t *trust, STACK_OF(X509) *untrusted);
/* SHA-256 of x's DER. Returns 0 or CAIRN_ECRYPTO. */
int inv_fingerprint(X509 *x, uint8_t fp[INV_FP_LEN]) CAIRN_WUR;
/* 1 when a record's key or signature is weak; why (may be NULL) says how. */
int inv_record_weak(const json_t *rec, char *why, size_t cap);

/* ---- discovery (discover.c) ---- */

#define INV_SCAN_MAX_TARGETS 65536 /* address x port pairs one scan may try */

typedef struct inv_scan_opts {
	const char *targets;    /* "10.0.0.0/24,host:8443,[::1]:443" */
	const char *ports;      /* default ports for targets without one: "443,8443" */
	const char *const *snis;/* server names to try on each endpoint (NULL: none / host) */
	size_t n_snis;
	const char *const *allowed; /* CIDR ranges scans may touch (NULL/0: loopback only) */
	size_t n_allowed;
	int parallel;           /* connections at once (1..256) */
	int connect_ms;         /* connect timeout */
	int handshake_ms;       /* TLS handshake timeout */
	int rate;               /* new connections per second (0 = unbounded) */
	X509_STORE *cairn_roots;  /* borrowed: verify against cairn's roots (may be NULL) */
	X509_STORE *system_roots; /* borrowed: verify against the system store (may be NULL) */
	int dry_run;            /* check targets, ports and ranges only: connect nowhere */
} inv_scan_opts_t;

/* One endpoint's result, given to the callback (borrowed during the call). */
typedef struct inv_scan_result {
	const char *host;   /* as given (name or address) */
	const char *addr;   /* the address connected to */
	int port;
	const char *sni;    /* NULL when none was sent */
	const char *error;  /* NULL when a TLS handshake completed: "connection refused", ... */
	STACK_OF(X509) *chain; /* served chain, leaf first */
	json_t *tls;        /* {"version", "cipher", "verify_cairn", "verify_system",
	                       "verify_error", "name_match", "expired", "weak"} */
} inv_scan_result_t;

typedef void (*inv_scan_fn)(const inv_scan_result_t *r, void *arg);

#define INV_ALLOWED_MAX 64 /* entries of discover.allowed */
/* discover.allowed: at most INV_ALLOWED_MAX entries, each an address or CIDR range ("10.0.0.0/24",
 * "fd00::/8"). 0, or CAIRN_ECONFIG with err naming the first bad entry. The check
 * inventory_scan makes; `config check` and `serve` make it through the config. */
int inventory_allowed_check(const char *const *allowed, size_t n, cairn_err_t *err) CAIRN_WUR;

/* "host:port", "[v6]:port" for an IPv6 address: the "where" of a tls sighting. */
void inv_endpoint_name(const inv_scan_result_t *r, char *out, size_t cap);

/*
 * Expands targets x ports, refuses (CAIRN_EDENIED, naming it) any address outside the
 * allowed ranges before connecting anywhere, then scans with at most parallel
 * connections, each bounded by connect_ms + handshake_ms, starting at most rate per
 * second. fn is called once per endpoint and SNI, from one thread at a time. Host names
 * are resolved once (getaddrinfo); every address a name resolves to must be allowed.
 * Returns 0, CAIRN_EINVAL (bad target list, with err saying which), CAIRN_EDENIED,
 * CAIRN_ETOOBIG (more than INV_SCAN_MAX_TARGETS).
 */
int inventory_scan(const inv_scan_opts_t *o, inv_scan_fn fn, void *arg, cairn_err_t *err)
	CAIRN_WUR;

#endif
