/* SPDX-License-Identifier: MIT */
/* admin: the admin REST API under /admin/v1 — bearer API tokens, certificate issuance by hand. */
#ifndef CAIRN_ADMIN_H
#define CAIRN_ADMIN_H

#include <stdint.h>

#include "ca/ca.h"
#include "db/db.h"
#include "policy/policy.h"
#include "util/util.h"

#define ADMIN_TOKEN_PREFIX "cairn_"

typedef struct admin_identity {
	char name[64];
	char role[16]; /* "admin" | "approver" | "operator" | "auditor" */
} admin_identity_t;

/*
 * Creates an API token for (name, role), valid until expires_at (0 = no expiry).
 * Only SHA-256 of the token is stored (DB_TOKENS), with an audit event by actor,
 * in one durable write. *token receives the secret (malloc'd; shown once).
 */
int admin_token_create(db_t *db, const char *name, const char *role, int64_t expires_at,
		       const char *actor, char **token, cairn_err_t *err) CAIRN_WUR;

/*
 * Checks an Authorization header value ("Bearer <token>") against the stored
 * token hashes. Returns 0 and fills id, or CAIRN_EAUTH with the reason.
 */
int admin_authenticate(db_t *db, const char *authorization, admin_identity_t *id,
		       cairn_err_t *err) CAIRN_WUR;

typedef struct admin_ctx {
	ca_t *ca; /* borrowed */
	db_t *db; /* borrowed */
	int max_json_depth; /* nesting allowed in request bodies; 0 = ADMIN_JSON_DEPTH */
	policy_engine_t *policy; /* borrowed: every issuance goes through it */
} admin_ctx_t;

#define ADMIN_JSON_DEPTH 32

typedef struct admin_request {
	const char *method;
	const char *path;          /* below /admin/v1, e.g. "/certificates" */
	const char *authorization; /* header value or NULL */
	const char *content_type;  /* header value or NULL */
	const char *body;          /* not NUL-terminated */
	size_t body_len;
	const char *remote;        /* peer address for the audit log */
} admin_request_t;

/* Serves one admin API request: authenticates, checks the role, and fills reply
 * (JSON, or an RFC 7807 problem document). Denied calls are audited. Thread-safe. */
void admin_handle(const admin_ctx_t *ctx, const admin_request_t *req, http_reply_t *reply);

#endif
