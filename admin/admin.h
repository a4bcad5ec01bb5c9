/* SPDX-License-Identifier: MIT */
/* admin: the admin REST API under /admin/v1 — bearer API tokens, certificate issuance by hand. */
#ifndef CAIRN_ADMIN_H
#define CAIRN_ADMIN_H

#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "acme/acme.h"
#include "ca/ca.h"
#include "db/db.h"
#include "notify/notify.h"
#include "policy/policy.h"
#include "util/util.h"

#define ADMIN_TOKEN_PREFIX "cairn_"

typedef struct admin_identity {
	char name[64];
	char role[16]; /* "admin" | "approver" | "operator" | "auditor" */
	const char *via; /* static: "token" | "certificate" | "session" (NULL = token) */
	/* What proved it, so that a console session made with it ends when it does: the
	 * token's SHA-256 (via "token") or the admin certificate's serial ("certificate"). */
	uint8_t cred[32];
	size_t cred_len;
	const char *proof; /* static: what cred is, "token" | "certificate" (a session's too) */
} admin_identity_t;

/*
 * Creates an API token for the existing admin name, whose role must be role, valid
 * until expires_at (0 = no expiry). Only SHA-256 of the token is stored (DB_TOKENS),
 * with an audit event by actor, in one durable write. *token receives the secret
 * (malloc'd; shown once). A token never creates an admin: CAIRN_ENOENT when name is
 * not an admin (admin_add first), CAIRN_ECONFLICT for another role, CAIRN_EDENIED when
 * the admin is disabled, CAIRN_EINVAL for a bad name or role.
 */
int admin_token_create(db_t *db, const char *name, const char *role, int64_t expires_at,
		       const char *actor, char **token, cairn_err_t *err) CAIRN_WUR;

/*
 * Checks an Authorization header value ("Bearer <token>") against the stored
 * token hashes. Returns 0 and fills id, or CAIRN_EAUTH with the reason
 * (unknown, revoked or expired token; its admin disabled).
 */
int admin_authenticate(db_t *db, const char *authorization, admin_identity_t *id,
		       cairn_err_t *err) CAIRN_WUR;

/* ---- admins (DB_ADMINS) and token management ---- */

/* 1 for "admin", "approver", "operator", "auditor". */
int admin_role_valid(const char *role);
/* The public id of a token: hex of the first 8 bytes of its SHA-256 (out: 17 bytes). */
void admin_token_id(const char *token, char out[17]);

/*
 * Adds an admin (name: 1..63 of [A-Za-z0-9._@-]) with a role, audited "admin.add" by actor.
 * The record keeps that event's sequence (created_seq): the admin's approvals count only
 * on requests submitted after it (admin_approver_counts). email (may be NULL) is where
 * notices go: about the certificates and requests the admin asked for (notify.email
 * to_owner) and the pending requests the admin may approve (to_approvers).
 * Returns 0, CAIRN_EINVAL, CAIRN_EEXIST or a db code.
 */
int admin_add(db_t *db, const char *name, const char *role, const char *email, const char *actor,
	      cairn_err_t *err) CAIRN_WUR;
/* Appends to into (a json array) the e-mail address of the admin requester names
 * ("admin:NAME"). Returns 0, CAIRN_ENOENT (not an admin, disabled, or no address). */
int admin_owner_address(db_t *db, const char *requester, json_t *into);
/*
 * Appends to into the addresses of the admins who may decide a pending request: enabled,
 * with an address, a role that may decide requests of approver_role (policy's
 * policy_role_may_decide), not the requester, and added before the request (request_seq,
 * as admin_approver_counts). Returns the number appended.
 */
size_t admin_approver_addresses(db_t *db, const char *approver_role, const char *requester,
				uint64_t request_seq, json_t *into);
/* Disables an admin: its tokens and certificates stop authenticating. Audited
 * "admin.disable". Returns 0, CAIRN_ENOENT, CAIRN_ECONFLICT (already disabled). */
int admin_disable(db_t *db, const char *name, const char *actor, cairn_err_t *err) CAIRN_WUR;
/* Reads an admin: role and disabled flag. Returns 0 or CAIRN_ENOENT. */
int admin_get(db_t *db, const char *name, admin_identity_t *id, int *disabled) CAIRN_WUR;
/*
 * The daemon's policy_approver_fn (policy_engine_set_approver_check): approver
 * "admin:NAME" counts on a request submitted at audit sequence request_seq only when
 * NAME is an enabled admin added before it. Inside txn (borrowed); arg unused.
 * Returns 0 or CAIRN_EDENIED with the reason in err.
 */
int admin_approver_counts(db_txn_t *txn, const char *approver, uint64_t request_seq, void *arg,
			  cairn_err_t *err);
/*
 * policy_requester_fn for admin requesters: 0 when requester is not "admin:NAME" or NAME is
 * an enabled admin; CAIRN_EAUTH when the admin was disabled while its request waited for
 * approvers. Reads txn only; request and arg unused.
 */
int admin_requester_active(db_txn_t *txn, const char *requester, const char *request, void *arg,
                           cairn_err_t *err);
/* Every admin [{name, role, disabled, created, created_seq}] (new reference), or NULL. */
json_t *admin_list(db_t *db);
/* Every token without its secret [{id, name, role, created, expires, revoked}], or NULL. */
json_t *admin_token_list(db_t *db);
/*
 * Emits token.expiring (notify) for every unrevoked API token with an expiry that crossed
 * one of the thresholds days (n_days of them) at now and was not told of it yet (kept on
 * the token's record): the notify worker's scan. *emitted: events written. Returns 0 or a
 * db code with err set.
 */
int admin_token_expiry_scan(db_t *db, const int64_t *days, size_t n_days, int64_t now,
			    uint64_t *emitted, cairn_err_t *err) CAIRN_WUR;
/* Revokes the token whose id is given, audited "admin.token.revoke" by actor.
 * Returns 0, CAIRN_ENOENT, CAIRN_ECONFLICT (already revoked). */
int admin_token_revoke(db_t *db, const char *id, const char *actor, cairn_err_t *err) CAIRN_WUR;

/* ---- console sessions (session.c) ---- */

/* The console's session cookie. The __Host- prefix makes browsers refuse it unless it is
 * Secure, Path=/ and without Domain. */
#define ADMIN_SESSION_COOKIE "__Host-cairn_session"
/* The header a session's state-changing calls carry its CSRF token in. */
#define ADMIN_CSRF_HEADER "X-CSRF-Token"
#define ADMIN_SESSION_LIFETIME (8 * 3600)
#define ADMIN_SESSIONS_MAX 4096
/* Live console sessions one admin may hold: its next sign-in drops its oldest, so no
 * admin fills the store and pushes out everyone else's sessions. */
#define ADMIN_SESSIONS_PER_ADMIN 16
/* Refusals of callers with no valid credential, and of cross-site changes (each a
 * durable audit event), one client address (net_addr_key) may cause:
 * ADMIN_AUTH_FAIL_LIMIT at once, then one more every ADMIN_AUTH_FAIL_WINDOW /
 * ADMIN_AUTH_FAIL_LIMIT seconds; past it, 429 (util_ratelimit, of ADMIN_AUTH_FAIL_KEYS
 * addresses). A same-site call with a valid credential is never refused for it. */
#define ADMIN_AUTH_FAIL_LIMIT 50
#define ADMIN_AUTH_FAIL_WINDOW 600
#define ADMIN_AUTH_FAIL_KEYS 4096

/* Sessions live in memory only: a restart signs everyone out. Thread-safe. */
typedef struct admin_sessions admin_sessions_t;
/* A store of at most cap sessions (when full, the one closest to its end gives way),
 * or NULL (out of memory). admin_sessions_free(NULL) is a no-op. */
admin_sessions_t *admin_sessions_new(size_t cap);
void admin_sessions_free(admin_sessions_t *s);

typedef struct admin_ctx {
	ca_t *ca; /* borrowed */
	db_t *db; /* borrowed */
	util_json_limits_t json; /* bounds on JSON request bodies; zeros = the defaults */
	policy_engine_t *policy; /* borrowed: every issuance goes through it */
	EVP_PKEY *audit_key;     /* borrowed: signs audit checkpoints (a token key), may be NULL */
	X509 *audit_cert;        /* borrowed: its certificate, chains to the root */
	acme_t *acme;            /* borrowed: EAB keys are made there; NULL = no ACME (503) */
	notify_t *notify;        /* borrowed: the event delivery worker; NULL = not running */
	/* Renews a certificate the daemon signs for itself ("ocsp-signer" or "https") now,
	 * audited with actor; *out receives {what, serial, replaces, not_after}. Injected
	 * by the daemon (which holds them); NULL = not available (POST /ca/renew: 501). */
	int (*renew)(void *arg, const char *what, const char *actor, json_t **out,
		     cairn_err_t *err);
	void *renew_arg;
	/* Rotates the issuing CA now (ca_rotate, then OCSP and CRLs for the new one, then it
	 * becomes current), audited with actor; *out = {name, serial, key, replaces,
	 * not_after}. Injected by the daemon; NULL = not available (POST /ca/rotate: 501).
	 * Called with renew_arg. */
	int (*rotate)(void *arg, const char *actor, json_t **out, cairn_err_t *err);
	admin_sessions_t *sessions; /* borrowed: console sessions; NULL = none (cookies refused) */
	long session_lifetime;      /* seconds; 0 = ADMIN_SESSION_LIFETIME */
	/* borrowed: refusals without a valid credential per address (ADMIN_AUTH_FAIL_*);
	 * NULL = unbounded */
	util_ratelimit_t *fails;
} admin_ctx_t;

typedef struct admin_request {
	const char *method;
	const char *path;          /* below /admin/v1, e.g. "/certificates" */
	const char *authorization; /* header value or NULL */
	const char *content_type;  /* header value or NULL */
	const char *body;          /* not NUL-terminated */
	size_t body_len;
	const char *remote;        /* peer address for the audit log */
	/* Query parameter lookup (NULL when absent); query may be NULL (no parameters). */
	const char *(*query)(void *query_ctx, const char *key);
	/* The first query parameter whose name is not in known (NULL-terminated), or NULL
	 * when there is none; may be NULL (the check is then skipped). */
	const char *(*query_unknown)(void *query_ctx, const char *const *known);
	/* How many times the query gives key (0 when absent); may be NULL (a repeated
	 * parameter is then not seen: query answers its first value). */
	size_t (*query_count)(void *query_ctx, const char *key);
	void *query_ctx;
	X509 *client_cert;         /* TLS client certificate the server verified, or NULL */
	/* What a browser sends (all NULL from other clients): the Cookie header, the
	 * X-CSRF-Token header, and the Origin, Host and Sec-Fetch-Site headers that tell a
	 * cross-site request from one of our own pages. */
	const char *cookie;
	const char *csrf_token;
	const char *origin;
	const char *host;
	const char *fetch_site;
} admin_request_t;

/* Serves one admin API request: authenticates, checks the role, and fills reply
 * (JSON, or an RFC 7807 problem document). Denied calls are audited. Thread-safe. */
void admin_handle(const admin_ctx_t *ctx, const admin_request_t *req, http_reply_t *reply);

#endif
