/* SPDX-License-Identifier: MIT */
/* notify internals shared by the notify/ files: outbox keys and meta counters. */
#ifndef CAIRN_NOTIFY_INT_H
#define CAIRN_NOTIFY_INT_H

#include "notify/notify.h"

/* Outbox keys: 'e' || BE64 id -> event JSON; 'd' || sink || 0 || BE64 id -> dead letter
 * {"sink","id","tries","error","time","retry","event"}; 'l' || sink || 0 || BE64 n -> one
 * delivery log entry (the last NOTIFY_LOG_KEEP per sink are kept); 'g' below. */
#define NOTIFY_KEY_EVENT 'e'
#define NOTIFY_KEY_DEAD 'd'
#define NOTIFY_KEY_LOG 'l'
/* 'g' || sink || 0 || day || 0 || address || 0 || BE64 id -> an event waiting for a
 * recipient's daily digest (email.c). */
#define NOTIFY_KEY_DIGEST 'g'
/* 's' || serial hex -> the serial hex of the certificate that superseded it. */
#define NOTIFY_KEY_SUPERSEDED 's'
/* 'c' || H(requester, name) || serial -> BE16 count of the certificate's distinct names
 * (or "": not known): a valid certificate a later issuance of that requester for that
 * name may supersede; 'C' || H(requester, name) -> "": every such
 * certificate is listed under 'c' (H: the first 16 bytes of SHA-256 over requester || 0 ||
 * lower-case name). */
#define NOTIFY_KEY_CANDIDATE 'c'
#define NOTIFY_KEY_CANDIDATES_LISTED 'C'
#define NOTIFY_LOG_KEEP 50
/* 'r' || sink || 0 || BE64 id -> "": the sink's dead letter id is marked for retry. */
#define NOTIFY_KEY_RETRY 'r'
/* Dead letters a status shows per sink (the oldest; the count says how many there are). */
#define NOTIFY_DEAD_SHOWN 100

/* 'e' || BE64 id into key[9]. */
void notify_event_key(uint64_t id, uint8_t key[9]);
/* prefix || sink || 0 || BE64 id into key; returns the length (0 if sink is too long). */
size_t notify_sink_key(char prefix, const char *sink, uint64_t id, uint8_t *key, size_t cap);
/* A BE64 value of DB_META (0 when absent). */
uint64_t notify_meta_u64(db_txn_t *txn, const char *name);
/* Writes a BE64 value to DB_META. */
int notify_meta_put_u64(db_txn_t *txn, const char *name, uint64_t v) CAIRN_WUR;

/* ---- dead letters (dead.c): counted in DB_META, capped, marked for retry ---- */
/* How many sink has; how many were dropped past notify.dead_letters_max, ever. */
uint64_t notify_dead_count(db_txn_t *txn, const char *sink);
uint64_t notify_dead_dropped(db_txn_t *txn, const char *sink);
/* Stores sink's dead letter id (its JSON text; a new one is counted), then drops the
 * oldest while there are more than max (their number added to *dropped, may be NULL). */
int notify_dead_put(db_txn_t *txn, const char *sink, uint64_t id, const char *text,
		    uint64_t max, uint64_t *dropped) CAIRN_WUR;
/* Deletes sink's dead letter id and its retry mark (counted down if it was there). */
int notify_dead_del(db_txn_t *txn, const char *sink, uint64_t id) CAIRN_WUR;
/* Sets (on) or clears the retry mark of sink's dead letter id. */
int notify_dead_mark(db_txn_t *txn, const char *sink, uint64_t id, int on) CAIRN_WUR;
/* The first of sink's dead letters marked for retry: 1 with *id and its stored text
 * (*val borrowed from txn; NULL when the letter is gone and only the mark is left), 0
 * when none is marked. One B-tree lookup, whatever the number of letters. */
int notify_dead_next_retry(db_txn_t *txn, const char *sink, uint64_t *id, const void **val,
			   size_t *vlen);
/* At start, per sink: counts letters stored before counts were kept (marking those flagged
 * "retry"), then drops the oldest past max (added to *dropped). */
int notify_dead_settle(db_txn_t *txn, const char *sink, uint64_t max, uint64_t *dropped)
	CAIRN_WUR;

#endif
