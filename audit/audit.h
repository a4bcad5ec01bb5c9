/* SPDX-License-Identifier: Apache-2.0 */
/* audit: append-only, hash-chained audit log stored in the same LMDB environment. */
#ifndef CAIRN_AUDIT_H
#define CAIRN_AUDIT_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>

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

typedef struct audit_verify_result {
	uint64_t count;     /* events checked */
	uint64_t first_bad; /* first broken sequence, 0 if intact */
	char reason[256];   /* why it is broken */
} audit_verify_result_t;

/* Walks the whole chain in a read txn. Returns 0 (intact) or CAIRN_EAUDIT with res filled. */
int audit_verify(db_t *db, audit_verify_result_t *res) CAIRN_WUR;

typedef enum { AUDIT_FMT_JSONL, AUDIT_FMT_CSV } audit_format_t;

/* Writes events with since <= time < until (0 = unbounded) to out.
 * CSV columns: seq,time,actor,action,serial,names,details,prev (RFC 4180 quoting).
 * *n (may be NULL) receives the number written. */
int audit_export(db_t *db, FILE *out, audit_format_t fmt, time_t since, time_t until,
		 uint64_t *n, cairn_err_t *err) CAIRN_WUR;

#endif
