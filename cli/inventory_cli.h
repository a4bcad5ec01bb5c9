/* SPDX-License-Identifier: MIT */
/* Private to cli/: batches of certificates sent to POST /admin/v1/inventory/import, shared by
 * `cairn inventory import` and `cairn discover`. */
#ifndef CAIRN_CLI_INVENTORY_H
#define CAIRN_CLI_INVENTORY_H

#include <stdio.h>

#include <jansson.h>
#include <openssl/x509.h>

typedef struct inv_batch {
	const char *cmd;    /* "inventory", "discover": message prefix */
	const char *dir;    /* data directory of the running daemon */
	const char *source; /* recorded in the audit event */
	json_t *items;      /* queued items */
	size_t bytes;       /* their JSON size, roughly */
	size_t sent, added, known, refused;
	/* Called for each item the daemon answered (item and result borrowed). */
	void (*on_result)(const json_t *item, const json_t *result, void *arg);
	void *on_result_arg;
} inv_batch_t;

void inv_batch_init(inv_batch_t *b, const char *dir, const char *source);
/* Queues x (its DER) with where it was seen; sends the batch when it is full.
 * tags and tls borrowed. CLI_OK or CLI_FAILED (the daemon refused or is unreachable). */
int inv_batch_add(inv_batch_t *b, X509 *x, const char *kind, const char *where,
		  const char *sni, const char *owner, json_t *tags, json_t *tls);
/* Sends what is queued, with a progress line on stderr. */
int inv_batch_flush(inv_batch_t *b);
/* Counts and reports (stderr) something that could not be imported. */
void inv_batch_refuse(inv_batch_t *b, const char *where, const char *why);
void inv_batch_free(inv_batch_t *b);

#endif
