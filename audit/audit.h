/* SPDX-License-Identifier: MIT */
/* audit: append-only, hash-chained audit log stored in the same LMDB environment. */
#ifndef CAIRN_AUDIT_H
#define CAIRN_AUDIT_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "db/db.h"
#include "util/util.h"

/*
 * One event. All fields borrowed for the duration of the call.
 * Stored as JSON: {"seq":N,"time":"RFC3339","actor":..,"action":..,
 *   "serial":..,"names":[..],"details":{..},"prev":"hex SHA-256 of the previous stored event"}
 * The first event's prev is 64 zeros.
 */
typedef struct audit_event {
	const char *actor;   /* who: "cli:init", "admin:bootstrap", "acme:acct/..." */
	const char *action;  /* what: "ca.init", "cert.issue", "cert.revoke", "admin.denied", ... */
	const char *serial;  /* hex serial concerned, or NULL */
	json_t *names;       /* array of strings, or NULL */
	json_t *details;     /* object, or NULL */
} audit_event_t;

/*
 * Appends ev inside a write transaction (so the event commits or vanishes with
 * the change it records). Maintains the chain head in DB_META ("audit_head":
 * last seq + its hash) so that tampering with the newest event is also seen.
 * *seq (may be NULL) receives the event's sequence number (1-based).
 */
int audit_append(db_txn_t *txn, const audit_event_t *ev, uint64_t *seq, cairn_err_t *err)
	CAIRN_WUR;
/*
 * Same, with the event's "time" given (audit_append uses time(NULL)): for
 * imports and tests. NULL serial is stored as null, NULL names as [], NULL
 * details as {}. Returns 0, CAIRN_EINVAL (missing actor/action, names not an
 * array of strings, details not an object, invalid UTF-8), CAIRN_EAUDIT (the
 * head is inconsistent: run audit_verify), or the db_put error. Write txn only;
 * safe to rerun (the group-commit writer may run an operation twice).
 */
int audit_append_at(db_txn_t *txn, const audit_event_t *ev, time_t when, uint64_t *seq,
		    cairn_err_t *err) CAIRN_WUR;

/*
 * Appends ev on its own: one durable write transaction (db_write) holding only
 * this event, for actions that change nothing else in the database (a backup,
 * a restore). Same return codes as audit_append, plus db_write's. Thread-safe.
 */
int audit_record(db_t *db, const audit_event_t *ev, uint64_t *seq, cairn_err_t *err) CAIRN_WUR;

/*
 * A failure limit (util_ratelimit) whose lock-outs are audited, for every channel that
 * refuses callers without end (admin API, EST). Checks key: returns 0 when it may fail
 * once more, else the milliseconds until it may, with *first 1 for the first refusal of
 * a lock-out (the caller audits that one like any refusal; the others are only counted).
 * When a lock-out of key has ended, its count is audited once: an event action by actor
 * with details {"key": shown, "refused": N}; a failed write is logged and the count
 * given back to the limiter, for the next check to write. rl NULL: no limit.
 */
uint64_t audit_limit_check(db_t *db, util_ratelimit_t *rl, const char *key, const char *shown,
			   const char *actor, const char *action, int *first);

/*
 * At a daemon's stop, what only memory held: every count of refusals of rl not yet
 * audited (a lock-out running, or ended with no check since), one event per key as
 * audit_limit_check writes them, with "at_stop": true, all in one durable write. shown
 * (NULL: the key itself) turns a key into what the event shows (cap >= 4 * RL_KEY_MAX).
 * Returns 0 or the write's error (logged). rl NULL: nothing to do.
 */
int audit_limit_flush(db_t *db, util_ratelimit_t *rl, const char *actor, const char *action,
		      void (*shown)(const char *key, char *out, size_t cap));

/* SHA-256 of an event's stored bytes, as chained in "prev". Returns 0 or CAIRN_ECRYPTO. */
int audit_hash(const void *data, size_t len, uint8_t out[32]) CAIRN_WUR;

/*
 * Parses one stored event as audit_verify reads it: a JSON object with no
 * duplicate keys, integer "seq", strings "time", "actor", "action" and a
 * 64-character "prev". Returns a new reference (caller json_decref), or NULL
 * with *why set to a static reason. Thread-safe.
 */
json_t *audit_event_parse(const void *val, size_t vlen, const char **why) CAIRN_WUR;

typedef struct audit_verify_result {
	uint64_t count;     /* events checked */
	uint64_t first_bad; /* first broken sequence, 0 if intact */
	char reason[256];   /* why it is broken */
} audit_verify_result_t;

/*
 * Walks the whole chain in a read txn: each event parses (no duplicate keys),
 * its "seq" equals its key, sequences run 1..N without gaps, each "prev" is the
 * SHA-256 of the previous stored bytes, and the head in DB_META matches event N.
 * Returns 0 (intact) or CAIRN_EAUDIT with res filled (another negative code if
 * the database cannot be read). When one event was modified, first_bad names it;
 * when events were deleted, the first missing one. res may be NULL. Thread-safe.
 */
int audit_verify(db_t *db, audit_verify_result_t *res) CAIRN_WUR;

/*
 * The same checks in steps, one read transaction of at most max events each, so that a
 * long log is never read under one snapshot (the daemon's own check). Zero w, then call
 * until it returns non-zero or sets *done: 0 with *done = 1 when the chain holds up to the
 * head (res->count: every event checked), CAIRN_EAUDIT with res filled as audit_verify
 * fills it, or another code when the database cannot be read. Events appended between
 * steps are checked by the later steps. Not thread-safe per w.
 */
typedef struct audit_walk {
	uint64_t expected;   /* the event the next step starts at (0: the first) */
	uint8_t prev[32];    /* the hash of the event before it */
	uint64_t count;      /* events checked by the steps before */
} audit_walk_t;
int audit_verify_step(db_t *db, audit_walk_t *w, uint64_t max, audit_verify_result_t *res,
		      int *done) CAIRN_WUR;

typedef enum { AUDIT_FMT_JSONL, AUDIT_FMT_CSV } audit_format_t;

/*
 * Writes events with since <= time < until (0 = unbounded) to out, in sequence order.
 * JSONL: each event's stored bytes (what the chain hashes) followed by "\n".
 * CSV, a report for spreadsheets (it cannot be verified: its cells are plain values, not
 * the stored bytes): a header line, then columns seq,time,actor,action,serial,names,
 * details,hash,prev: serial is empty when null; names are joined by single spaces; details
 * are flattened to "key=value" pairs joined by "; " (nested members as outer.inner=, array
 * elements as key.0=); hash is the SHA-256 of the event's stored bytes, which matches the
 * JSONL export's chain. A cell that starts (maybe after spaces) with = + - @, tab, CR or LF
 * gets a leading ' so that no spreadsheet reads it as a formula (OWASP CSV injection);
 * cells are quoted (with "" for a quote) when they hold , " CR or LF, and lines end in CRLF
 * (RFC 4180). *n (may be NULL) receives the number written.
 * Returns 0, CAIRN_EIO (write failed), CAIRN_EAUDIT (an event does not parse).
 * Holds one read txn for the whole walk.
 */
int audit_export(db_t *db, FILE *out, audit_format_t fmt, time_t since, time_t until,
		 uint64_t *n, cairn_err_t *err) CAIRN_WUR;

/*
 * The JSONL export for offline verification (audit_verify_export): the events in range,
 * then one head line made at export time:
 *   {"head":{"seq":LAST,"hash":"hex of LAST","events":M,"first":FIRST,"since":T|null,
 *            "until":T|null,"exported":T,"alg":"sha256","signature":"..","cert":".."}}
 * signed with key (a CA key in the token; cert is its certificate, chaining to the root)
 * over audit_seal_message, so that cutting events off either end, or changing the range
 * or the time, is seen. key and cert NULL write the head line without alg, signature and
 * cert: an unsigned export, which audit_verify_export refuses. *n (may be NULL) counts the
 * events written. Returns as audit_export, or CAIRN_ECRYPTO (signing).
 */
int audit_export_sealed(db_t *db, FILE *out, time_t since, time_t until, EVP_PKEY *key,
			X509 *cert, uint64_t *n, cairn_err_t *err) CAIRN_WUR;

/* The chain head: sequence of the newest event (0 when empty) and its hash. */
int audit_head(db_t *db, uint64_t *seq, uint8_t hash[32], cairn_err_t *err) CAIRN_WUR;

/*
 * Signed checkpoint: signs "cairn-audit-checkpoint:v1:SEQ:HASH" (the current head) with
 * key (a CA key in the token; SHA-256) and appends it as event "audit.checkpoint" by actor
 * with details {seq, hash, alg, signature (base64url), cert (base64url DER of cert)}.
 * Nothing is written when the head already is a checkpoint. *seq (may be NULL) gets the
 * signed sequence. Returns 0, CAIRN_ECRYPTO (signing) or a db code. Thread-safe.
 */
int audit_checkpoint(db_t *db, EVP_PKEY *key, X509 *cert, const char *actor, uint64_t *seq,
		     cairn_err_t *err) CAIRN_WUR;

/* Room for an RFC 3339 time as time_parse accepts it (at most 35 characters). */
#define AUDIT_TIME_CAP 40

typedef struct audit_export_check {
	uint64_t events;        /* event lines read */
	uint64_t first_seq, last_seq;
	char exported[AUDIT_TIME_CAP];  /* when the daemon signed the export (RFC 3339) */
	char since[AUDIT_TIME_CAP], until[AUDIT_TIME_CAP]; /* the range ("" = unbounded) */
	char signer[128];       /* subject of the signing certificate */
	size_t bad_line;        /* 1-based line of the export at fault, 0 if none */
	char reason[256];
} audit_export_check_t;

/*
 * Verifies a JSONL export made by audit_export_sealed offline: the head line must be
 * there and signed by a certificate that chains to root, over the first and last
 * sequence, the last event's hash, the event count, the range and the export time; the
 * sequences run without gaps; every event is anchored by walking back from the signed
 * hash through each "prev" (so a modified line is named); every event's time lies in the
 * signed range; every checkpoint event inside verifies too. An unsigned export, a CSV
 * export (a report, not the stored bytes) and anything after the head line are refused.
 * Line endings (CRLF/LF) and blank lines are not significant. Returns 0 or CAIRN_EAUDIT
 * with res naming the line; CAIRN_EIO/CAIRN_ENOMEM otherwise.
 */
int audit_verify_export(FILE *in, X509 *root, audit_export_check_t *res) CAIRN_WUR;

#endif
