/* SPDX-License-Identifier: MIT */
/* Private to inventory/: helpers shared by the record, store, report and scan files. */
#ifndef CAIRN_INVENTORY_INT_H
#define CAIRN_INVENTORY_INT_H

#include "inventory/inventory.h"

/* Verifies x against store with untrusted intermediates (borrowed); check_time 0 ignores
 * validity dates. 1 when it chains, else 0 with *why (static, may be NULL) set. */
int inv_verify(X509_STORE *store, X509 *x, STACK_OF(X509) *untrusted, int check_time,
	       const char **why);
/* The stored record under fp (new reference) or NULL. Inside any txn. */
json_t *inv_load(db_txn_t *txn, const uint8_t fp[INV_FP_LEN]);
/* Stores rec under fp. Write txn only. */
int inv_store(db_txn_t *txn, const uint8_t fp[INV_FP_LEN], const json_t *rec) CAIRN_WUR;

#endif
