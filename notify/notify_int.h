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

/* 'e' || BE64 id into key[9]. */
void notify_event_key(uint64_t id, uint8_t key[9]);
/* prefix || sink || 0 || BE64 id into key; returns the length (0 if sink is too long). */
size_t notify_sink_key(char prefix, const char *sink, uint64_t id, uint8_t *key, size_t cap);
/* A BE64 value of DB_META (0 when absent). */
uint64_t notify_meta_u64(db_txn_t *txn, const char *name);
/* Writes a BE64 value to DB_META. */
int notify_meta_put_u64(db_txn_t *txn, const char *name, uint64_t v) CAIRN_WUR;

#endif
