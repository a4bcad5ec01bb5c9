/* SPDX-License-Identifier: MIT */
/* Private to audit/: the signed checkpoint message shared by signer and verifier. */
#ifndef CAIRN_AUDIT_INT_H
#define CAIRN_AUDIT_INT_H

#include <stddef.h>
#include <stdint.h>

/* "cairn-audit-checkpoint:v1:SEQ:HASH" into out; returns its length or -1. */
int audit_checkpoint_message(uint64_t seq, const char *hash_hex, char *out, size_t cap);

#endif
