/* SPDX-License-Identifier: MIT */
/* notify: the events outbox (written in the change's own transaction), the expiry scan over
 * by_expiry, and the webhook delivery worker. */
#ifndef CAIRN_NOTIFY_H
#define CAIRN_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "db/db.h"
#include "util/util.h"

/* Version of the event document (docs/notify.md); receivers check it. */
#define NOTIFY_SCHEMA_VERSION 1
#define NOTIFY_MAX_SINKS 16
#define NOTIFY_MAX_THRESHOLDS 8

/*
 * Appends one event to the outbox inside txn (a write txn of db_write), next to the
 * audit event of the same change, so both commit or vanish together. type is
 * "cert.issued", "cert.revoked", "request.pending", ...; data (borrowed, an object or
 * NULL) becomes the event's "data". The event gets the next outbox id (1, 2, ...; never
 * reused, kept in meta "notify_seq"), stored in *id when id is not NULL. Safe to rerun
 * (the group-commit writer may run an operation twice). Returns 0, CAIRN_EINVAL,
 * CAIRN_ENOMEM or a db code.
 */
int notify_event(db_txn_t *txn, const char *type, json_t *data, uint64_t *id,
		 cairn_err_t *err) CAIRN_WUR;

/*
 * Inside txn: records that the certificate serial_hex (lower-case hex) was superseded by
 * by_hex (a renewal; it goes with the change's cert.renewed event), so the expiry scan
 * never reports it expiring, whatever the two notAfter times. Returns 0, CAIRN_EINVAL
 * or a db code.
 */
int notify_superseded(db_txn_t *txn, const char *serial_hex, const char *by_hex) CAIRN_WUR;
/* 1 when serial_hex was recorded as superseded (in txn), else 0. */
int notify_is_superseded(db_txn_t *txn, const char *serial_hex);

/*
 * Renewal candidates, so that an issuance finds the certificates it supersedes without
 * walking every certificate that ever held the name: the valid certificates of one
 * requester holding one name. Entries of certificates that were since revoked, expired
 * or superseded stay until the next walk of that requester and name drops them.
 * notify_candidate_add lists serial with n_names, the number of distinct (lower-cased)
 * names its certificate is indexed under (0: not known; the reader then decodes the
 * certificate); notify_candidate_del removes it;
 * notify_candidates_listed says (1/0) whether the list of (requester, name) is known to
 * be complete, notify_candidates_mark_listed records that it is; notify_candidates calls
 * fn with each listed serial and its n_names (fn may not write), stopping when fn returns
 * non-zero.
 */
typedef int (*notify_candidate_fn)(const uint8_t *serial, size_t len, unsigned n_names,
				   void *arg);
int notify_candidate_add(db_txn_t *txn, const char *requester, const char *name,
			 const uint8_t *serial, size_t len, unsigned n_names) CAIRN_WUR;
int notify_candidate_del(db_txn_t *txn, const char *requester, const char *name,
			 const uint8_t *serial, size_t len) CAIRN_WUR;
int notify_candidates_listed(db_txn_t *txn, const char *requester, const char *name);
int notify_candidates_mark_listed(db_txn_t *txn, const char *requester,
				  const char *name) CAIRN_WUR;
int notify_candidates(db_txn_t *txn, const char *requester, const char *name,
		      notify_candidate_fn fn, void *arg);

/* ---- settings: the "notify" object of cairn.json ---- */
typedef struct notify_sink {
	char name[64];
	char url[512];
	char secret_file[512];  /* as written in the config (relative to the data dir) */
	char events[16][32];    /* event types; "*" = all */
	size_t n_events;
	int max_tries;          /* 0 = notify.max_tries */
	char dns_suffix[4][128];/* "match": only events naming one of these (empty: any) */
	size_t n_suffix;
	char profile[4][64];    /* "match": only events of these profiles (empty: any) */
	size_t n_profile;
	char issuer[4][64];     /* "match": only events of these issuers (empty: any) */
	size_t n_issuer;
	int email;              /* an e-mail sink (notify.email): url/secret unused */
	char to[4][128];        /* e-mail recipients (may be none with to_owner/to_approvers) */
	size_t n_to;
	int to_owner;           /* e-mail: also the owner of the certificate or request */
	int to_approvers;       /* e-mail: also the approvers who may decide a request.pending */
	int digest;             /* e-mail: one message per recipient per day ("mode": "digest") */
} notify_sink_t;

/* notify.smtp.starttls */
typedef enum {
	NOTIFY_STARTTLS_AUTO = 0, /* when offered; required when a user is set */
	NOTIFY_STARTTLS_REQUIRE,  /* refuse a server that does not offer it */
	NOTIFY_STARTTLS_NONE,     /* never (only without a user, or with smtps://) */
} notify_starttls_t;

typedef struct notify_settings {
	int64_t expiry_days[NOTIFY_MAX_THRESHOLDS]; /* thresholds, days before notAfter */
	size_t n_expiry;
	int64_t scan_interval;   /* seconds between expiry scans */
	int max_tries;           /* then the event is dead-lettered for that sink */
	int64_t backoff_ms;      /* first retry delay; doubles per try, with jitter */
	int64_t backoff_max_ms;
	int64_t poll_ms;         /* how often the worker looks for new events */
	int64_t timeout_ms;      /* one delivery attempt */
	int64_t dead_letters_max; /* per sink; past it the oldest dead letters are dropped */
	notify_sink_t sinks[NOTIFY_MAX_SINKS]; /* webhooks, then e-mail sinks */
	size_t n_sinks;
	char smtp_url[256];      /* notify.smtp: smtp://host:587 (STARTTLS) or smtps://host:465 */
	char smtp_from[128];
	char smtp_user[128];     /* empty: no AUTH */
	char smtp_password_file[256];
	int smtp_starttls;       /* notify_starttls_t */
	char smtp_ca_file[256];  /* CA certificates the server's must chain to ("": system's) */
} notify_settings_t;

/* Parses the notify object (NULL = defaults: thresholds 30, 7, 1, no sinks). Errors name
 * the key at fault ("notify.webhooks[0].url: ..."). Returns 0, CAIRN_ECONFIG. */
int notify_settings_parse(const json_t *obj, notify_settings_t *out, cairn_err_t *err) CAIRN_WUR;
/* 1 when sink s takes event (the stored event document): its type is one of the sink's,
 * it matches the sink's "match" (a name under one dns_suffix, a profile listed), and a
 * notify.test only for the sink it names. */
int notify_sink_wants(const notify_sink_t *s, const json_t *event);

/* ---- expiry scan ---- */

/* Names of a certificate from its DER (injected by the caller, e.g. a wrapper around
 * ca_cert_names): a new json array of strings, or NULL. */
typedef json_t *(*notify_names_fn)(const uint8_t *der, size_t len, void *arg);

typedef struct notify_scan_stats {
	uint64_t visited;   /* by_expiry entries read */
	uint64_t emitted;   /* cert.expiring events written */
} notify_scan_stats_t;

/* db_cert_renewed with c's names as a json array of strings (a notify_names_fn result;
 * NULL or empty: 0). 1 renewed, 0 not, a negative code on error. What the expiry scan
 * skips, and what /metrics counts as cairn_certificates_expiring_unrenewed. */
int notify_cert_renewed(db_txn_t *txn, const db_cert_t *c, const json_t *names);

/*
 * For each threshold D of set: emits "cert.expiring" for every certificate whose notAfter
 * lies in [horizon_D, now + D), then moves horizon_D (meta "notify_horizon_<days>") to
 * now + D. The first scan starts at now. Only the by_expiry index between the two
 * horizons is walked. Skipped (no event): revoked certificates, expired ones, ones born
 * inside the threshold (notBefore > notAfter - D) and renewed ones (recorded with
 * notify_superseded, or a valid certificate of the same requester with a later notAfter
 * holding every name). names may be NULL
 * (no names in the payload, no renewal check). Runs in db_write batches of at most
 * 2000 certificates (the writer is not held long). stats may be NULL. Returns 0 or a db code.
 */
int notify_scan_expiry(db_t *db, const notify_settings_t *set, int64_t now,
		       notify_names_fn names, void *names_arg, notify_scan_stats_t *stats,
		       cairn_err_t *err) CAIRN_WUR;

/*
 * The thresholds (notify.expiry_days: days, n_days of them, at most 32) that something
 * ending at end has reached at now and that notified (a JSON array of the threshold days
 * already sent for it, or NULL) lacks: a bit per index of days; 0 once it has ended. The
 * one rule of the expiry events kept on their record (inventory cert.expiring,
 * token.expiring).
 */
unsigned notify_due_thresholds(int64_t end, const json_t *notified, const int64_t *days,
			       size_t n_days, int64_t now);

/*
 * Emits "ca.expiring" for one problem of the CA's own material ({"what","state","at"} as
 * /healthz reports it) unless the same (what, state, at) was emitted before (meta keeps
 * it). Returns 0 (also when already emitted) or a db code.
 */
int notify_material(db_t *db, const json_t *problem, cairn_err_t *err) CAIRN_WUR;

/* ---- delivery ---- */
typedef struct notify notify_t;

/* The CA's own material problems now: a new array of {"what","state","at"} or NULL. */
typedef json_t *(*notify_material_fn)(void *arg, int64_t now);

/*
 * Addresses an e-mail sink sends event (the stored event document, borrowed) to besides
 * its own "to": owner != 0 asks for the owner of the event's certificate or request (the
 * ACME account's contact, the EST user's or the requesting admin's address), approvers != 0
 * for the admins who may decide the pending request it announces. A new json array of
 * address strings (possibly empty), or NULL. Called on the worker thread.
 */
typedef json_t *(*notify_recipients_fn)(void *arg, const json_t *event, int owner,
					int approvers);

typedef struct notify_config {
	db_t *db;                     /* borrowed */
	const notify_settings_t *set; /* copied */
	const char *dir;              /* data dir: secret files are relative to it */
	notify_names_fn names;
	void *names_arg;
	notify_material_fn material;  /* may be NULL */
	void *material_arg;
	notify_recipients_fn recipients; /* may be NULL: sinks' own "to" only */
	void *recipients_arg;
	/* Run after each expiry scan with the same thresholds (the inventory's certificates,
	 * injected by the daemon); may be NULL. Returns 0 or a code with err set; *emitted
	 * counts the events it wrote. */
	int (*also_scan)(db_t *db, const notify_settings_t *set, int64_t now, void *arg,
			 uint64_t *emitted, cairn_err_t *err);
	void *also_scan_arg;
} notify_config_t;

/* 1 when addr is one plain address an e-mail may go to (user@host, printable, no
 * spaces, brackets, commas or line breaks, < 128 bytes). */
int notify_address_ok(const char *addr);

/* Reads the sinks' secrets and starts the delivery worker thread. *out: notify_free.
 * Returns 0, CAIRN_ECONFIG (a secret file unreadable or empty), CAIRN_ENOMEM. */
int notify_start(const notify_config_t *cfg, notify_t **out, cairn_err_t *err) CAIRN_WUR;
/* Stops the worker (an attempt under way finishes or times out) and frees. NULL ok. */
void notify_free(notify_t *n);
/* Wakes the worker now (new events committed). Thread-safe; NULL ok. */
void notify_kick(notify_t *n);

/*
 * Status for the admin API: {"sinks":[{name,url,cursor,pending,tries,next_attempt,
 * last_error,delivered,failed,log:[..]}],"dead":[{sink,id,type,tries,error,time}]}.
 * New reference or NULL. Thread-safe.
 */
json_t *notify_status(notify_t *n);
/* Puts dead-lettered events back for delivery: those of sink (NULL = every sink) and id
 * (0 = all). *count receives how many. Audited "notify.retry" by actor. Returns 0,
 * CAIRN_ENOENT (nothing matched), or a db code. */
int notify_retry(notify_t *n, const char *sink, uint64_t id, const char *actor, size_t *count,
		 cairn_err_t *err) CAIRN_WUR;
/* Queues a "notify.test" event for sink (audited by actor); *id its event id.
 * Returns 0, CAIRN_ENOENT (no such sink) or a db code. */
int notify_test(notify_t *n, const char *sink, const char *actor, uint64_t *id,
		cairn_err_t *err) CAIRN_WUR;

/* "t=UNIX,v1=HEX" for body at time t with secret (out: at least 96 bytes).
 * Returns 0 or CAIRN_ECRYPTO. */
int notify_sign(const char *secret, size_t secret_len, int64_t t, const char *body,
		size_t body_len, char *out, size_t cap) CAIRN_WUR;

#endif
