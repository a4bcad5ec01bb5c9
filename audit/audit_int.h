/* SPDX-License-Identifier: MIT */
/* Private to audit/: the signed messages (checkpoints, export seals) shared by signer and verifier. */
#ifndef CAIRN_AUDIT_INT_H
#define CAIRN_AUDIT_INT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "audit/audit.h"
#include "util/util.h"

/* "cairn-audit-checkpoint:v1:SEQ:HASH" into out; returns its length or -1. */
int audit_checkpoint_message(uint64_t seq, const char *hash_hex, char *out, size_t cap);

/* What an export's signed head line vouches for. */
typedef struct audit_seal {
	uint64_t first, last; /* sequences of the first and last event written (0, 0: none) */
	uint64_t events;      /* events written */
	char hash[65];        /* hex SHA-256 of the last event's stored bytes, "" when none */
	/* The range asked for and the time of export, RFC 3339 exactly as the head line
	 * spells them ("" = unbounded), so that no byte of the line escapes the signature. */
	char since[AUDIT_TIME_CAP], until[AUDIT_TIME_CAP], exported[AUDIT_TIME_CAP];
} audit_seal_t;

/* "cairn-audit-export:v1:first=F:last=L:events=M:hash=H:since=S:until=U:exported=E"
 * into out, the times spelled as in the head line (fields in a fixed order, each time
 * checked by time_parse, so the ':' inside a time is not ambiguous); returns its length
 * or -1. */
int audit_seal_message(const audit_seal_t *s, char *out, size_t cap);

/*
 * The one signer of audit statements: signs msg with key (a CA key in the token,
 * SHA-256). *sig_b64 and *cert_b64 (base64url of the signature and of cert's DER) are
 * malloc'd for the caller to free. Returns 0, CAIRN_ECRYPTO or CAIRN_ENOMEM.
 */
int audit_sign(EVP_PKEY *key, X509 *cert, const char *msg, char **sig_b64, char **cert_b64,
	       cairn_err_t *err) CAIRN_WUR;

#endif
