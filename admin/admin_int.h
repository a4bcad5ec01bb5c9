/* SPDX-License-Identifier: MIT */
/* Private to admin/: helpers shared by tokens, admins and the API handlers. */
#ifndef CAIRN_ADMIN_INT_H
#define CAIRN_ADMIN_INT_H

#include "admin/admin.h"

#define PROBLEM(t) CAIRN_PROBLEM_NS t

/* Inside any txn: 0 when admin name exists, is enabled and has role; else CAIRN_ENOENT
 * (no such admin: tokens are never a way to create one), CAIRN_ECONFLICT (another role)
 * or CAIRN_EDENIED (disabled), with err set. */
int admin_require(db_txn_t *txn, const char *name, const char *role, cairn_err_t *err);
/* Inside any txn: CAIRN_EAUTH when id's admin record is absent or disabled; else
 * sets id->role from the record. */
int admin_check_enabled(db_txn_t *txn, admin_identity_t *id, cairn_err_t *err);

/* Who calls: the bearer token when an Authorization header is present, else the console
 * session its cookie names, else the TLS client certificate (an "admin" profile
 * certificate of this CA naming an enabled admin). Returns 0, CAIRN_EAUTH with the
 * reason, or CAIRN_EDENIED (a session's change without its CSRF token). */
int admin_identify(const admin_ctx_t *ctx, const admin_request_t *req, admin_identity_t *id,
		   cairn_err_t *err);

/* The token whose SHA-256 is hash: 0 and id (name, role, cred) when it exists, is neither
 * revoked nor expired and its admin is enabled; else CAIRN_EAUTH with the reason. */
int admin_token_check_hash(db_t *db, const uint8_t hash[32], admin_identity_t *id,
			   cairn_err_t *err);
/* The same inside any txn (borrowed, read only). */
int admin_token_check_txn(db_txn_t *txn, const uint8_t hash[32], admin_identity_t *id,
			  cairn_err_t *err);
/* The admin certificate with this serial: 0 and id (role from the admin record) when it
 * is stored, of the admin profile, current, not revoked, and name is an enabled admin;
 * else CAIRN_EAUTH with the reason (the database's code when it cannot be read). */
int admin_cert_serial_check(const admin_ctx_t *ctx, const uint8_t *serial, size_t len,
			    const char *name, admin_identity_t *id, cairn_err_t *err);

/* Inside the write that acts for who (txn borrowed, read only): who's credential — the
 * token, the admin certificate, or the one its console session was opened with — and
 * its admin checked again as admin_identify checked them. A token revoked, a certificate
 * revoked or held, or the admin disabled after admin_identify and before this write:
 * CAIRN_EAUTH with the reason, and the caller's write must change nothing. 0 otherwise. */
int admin_identity_recheck(db_txn_t *txn, const admin_identity_t *who, cairn_err_t *err);

/* session.c. 1 when the Cookie header names a console session (live or not). */
int admin_session_cookie_present(const char *cookie);
/* Adds the Set-Cookie header that makes the browser forget its session cookie. */
void admin_session_cookie_clear(http_reply_t *reply);
/* Who calls with a session cookie: 0 and id; CAIRN_EAUTH (unknown, expired or signed-out
 * session; its token or certificate refused now, or its admin disabled: then the session
 * is forgotten for good) or CAIRN_EDENIED (a change without the session's CSRF token). */
int admin_session_identify(const admin_ctx_t *ctx, const admin_request_t *req,
			   admin_identity_t *id, cairn_err_t *err);

/* One handler of the admin API. arg is the path's '*' segment or NULL. */
typedef void (*admin_fn)(const admin_ctx_t *ctx, const admin_request_t *req,
			 const admin_identity_t *who, const char *arg, http_reply_t *reply);

/* Handlers in api_*.c */
/* session.c: POST /session (sign in: 201, Set-Cookie, {name, role, csrf_token, expires,
 * via}), GET /session (who; a session caller gets its csrf_token), DELETE /session. */
void api_session_create(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
			const char *, http_reply_t *);
void api_session_show(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
		      const char *, http_reply_t *);
void api_session_delete(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
			const char *, http_reply_t *);
/* api_certs.c: GET /stats: counts by status and profile, expiries per day for 90 days. */
void api_stats(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
	       const char *, http_reply_t *);
void api_requests_list(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
		       const char *, http_reply_t *);
void api_request_show(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
		      const char *, http_reply_t *);
void api_request_approve(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
			 const char *, http_reply_t *);
void api_request_reject(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
			const char *, http_reply_t *);
void api_policy_show(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
		     const char *, http_reply_t *);
void api_policy_test(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
		     const char *, http_reply_t *);
void api_policy_reload(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
		       const char *, http_reply_t *);
void api_admins_list(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
		     const char *, http_reply_t *);
void api_admins_add(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
		    const char *, http_reply_t *);
void api_admin_disable(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
		       const char *, http_reply_t *);
void api_tokens_list(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
		     const char *, http_reply_t *);
void api_tokens_create(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
		       const char *, http_reply_t *);
void api_token_revoke(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
		      const char *, http_reply_t *);
void api_acme_eab(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
		  const char *, http_reply_t *);
void api_acme_eab_list(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
		       const char *, http_reply_t *);
void api_acme_eab_revoke(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
			 const char *, http_reply_t *);
void api_acme_account_show(const admin_ctx_t *, const admin_request_t *,
			   const admin_identity_t *, const char *, http_reply_t *);
void api_acme_account_revoke(const admin_ctx_t *, const admin_request_t *,
			     const admin_identity_t *, const char *, http_reply_t *);
void api_certs_search(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
		      const char *, http_reply_t *);
void api_audit_query(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
		     const char *, http_reply_t *);
void api_audit_export(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
		      const char *, http_reply_t *);
void api_audit_checkpoint(const admin_ctx_t *, const admin_request_t *,
			  const admin_identity_t *, const char *, http_reply_t *);
/* POST /audit/backups {"archive_sha256", "bytes", "files", "certificates", "audit_seq"}:
 * records event "ca.backup" (admin only); 201 {"seq": N}. */
void api_audit_backup(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
		      const char *, http_reply_t *);

/* POST /ca/renew {"what": "ocsp-signer" | "https"}: renews it now (admin role);
 * 200 with {what, serial, replaces, not_after}. */
void api_ca_renew(const admin_ctx_t *ctx, const admin_request_t *req, const admin_identity_t *who,
		  const char *arg, http_reply_t *reply);

/* POST /ca/rotate {}: a new issuing CA now (admin role); 200 with {name, serial, key,
 * replaces, not_after}. */
void api_ca_rotate(const admin_ctx_t *ctx, const admin_request_t *req,
		   const admin_identity_t *who, const char *arg, http_reply_t *reply);
/* POST /ca/cross-sign {}: a new root key in the token, its root and the cross-certificates
 * both ways (ca_cross_sign; admin role); 200 with {key, root, cross_new_by_old,
 * cross_old_by_new} (PEMs). */
void api_ca_cross_sign(const admin_ctx_t *ctx, const admin_request_t *req,
		       const admin_identity_t *who, const char *arg, http_reply_t *reply);

/* POST /certificates/{serial}/revoke {"reason": NAME, "invalidity_date"?: RFC3339}:
 * 200 with the new status; 404 unknown serial, 409 already revoked, 400 bad reason. */
void admin_api_revoke(const admin_ctx_t *ctx, const admin_request_t *req,
		      const admin_identity_t *who, const char *arg, http_reply_t *reply);
/* POST /revocations {"serials": [hex, ...] (1..1000), "reason": NAME,
 * "invalidity_date"?: RFC3339}: all in one durable transaction; 200 with
 * {"revoked": N, "results": [{"serial", "status", "detail"?}]}. */
void admin_api_revoke_many(const admin_ctx_t *ctx, const admin_request_t *req,
			   const admin_identity_t *who, const char *arg, http_reply_t *reply);

/* Parses a JSON object body (Content-Type application/json; within ctx->json,
 * duplicate keys refused); on failure fills reply and
 * returns NULL. An empty body is {}. */
json_t *api_body(const admin_ctx_t *ctx, const admin_request_t *req, http_reply_t *reply);
/* The body of an endpoint without options: 0 when it is empty or {}; else -1 and a
 * reply as api_body's (not JSON, not an object, not application/json) or a 400 naming
 * the first member (a body that is ignored would let a caller think its option took). */
int api_body_none(const admin_ctx_t *ctx, const admin_request_t *req, http_reply_t *reply);
/* "admin:NAME": the actor written to the audit log. */
void api_actor(const admin_identity_t *who, char *out, size_t cap);
/* Audits a refused call (action "admin.denied"). */
void api_audit_denied(const admin_ctx_t *ctx, const admin_request_t *req, const char *who,
		      const char *why);
/* Query parameters: admin_handle has already refused a query with a parameter the route
 * does not take, an empty value or one given twice; these read one value. */
/* The most rows a list answers in one page (`limit` 1..API_PAGE_MAX; docs/api.md). */
#define API_PAGE_MAX 1000
/* Integer query parameter within [min, max] (def when absent): digits only; -1 and a 400
 * reply naming the parameter and the range when bad. */
long api_query_long(const admin_request_t *req, const char *key, long def, long min, long max,
		    http_reply_t *reply);
/* Time query parameter (strict RFC 3339 or YYYY-MM-DD) into *out (def when absent): 0, or
 * -1 and a 400 reply naming it. */
int api_query_time(const admin_request_t *req, const char *key, time_t def, time_t *out,
		   http_reply_t *reply);
/* A body's optional "validity_days", unpacked ("I") into asked: *days is 0 when absent
 * (the profile's), else asked when 1..CA_PROFILE_MAX_VALIDITY. 0, or -1 and a 400 reply
 * naming the value. */
int api_days_check(const json_t *body, json_int_t asked, int *days, http_reply_t *reply);
/* A certificate serial as hex (1..DB_SERIAL_MAX bytes) into out: its length, or -1 and a
 * 400 reply naming what was given. */
int api_serial_parse(const char *hex, uint8_t out[DB_SERIAL_MAX], http_reply_t *reply);
/* String query parameter or NULL. */
const char *api_query(const admin_request_t *req, const char *key);
/* Maps an error code to a problem reply (400/403/404/409/500). */
void api_reply_error(http_reply_t *reply, const cairn_err_t *err);

/* api_notify.c: GET /notify (sinks, delivery logs, dead letters), POST /notify/retry
 * {sink?, id?}, POST /notify/test {sink}; 503 when the worker is not running. */
void api_notify_list(const admin_ctx_t *ctx, const admin_request_t *req,
		     const admin_identity_t *who, const char *arg, http_reply_t *reply);
void api_notify_retry(const admin_ctx_t *ctx, const admin_request_t *req,
		      const admin_identity_t *who, const char *arg, http_reply_t *reply);
void api_notify_test(const admin_ctx_t *ctx, const admin_request_t *req,
		     const admin_identity_t *who, const char *arg, http_reply_t *reply);

/* api_inventory.c: the certificate inventory (inventory/inventory.h). */
void api_inventory_import(const admin_ctx_t *ctx, const admin_request_t *req,
			  const admin_identity_t *who, const char *arg, http_reply_t *reply);
void api_inventory_owner(const admin_ctx_t *ctx, const admin_request_t *req,
			 const admin_identity_t *who, const char *arg, http_reply_t *reply);
void api_inventory_list(const admin_ctx_t *ctx, const admin_request_t *req,
			const admin_identity_t *who, const char *arg, http_reply_t *reply);
void api_inventory_show(const admin_ctx_t *ctx, const admin_request_t *req,
			const admin_identity_t *who, const char *arg, http_reply_t *reply);
void api_inventory_report(const admin_ctx_t *ctx, const admin_request_t *req,
			  const admin_identity_t *who, const char *arg, http_reply_t *reply);

/* api_replace.c: mass replacement campaigns (ca/replace.c). */
void api_replace_create(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
			const char *, http_reply_t *);
void api_replace_list(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
		      const char *, http_reply_t *);
void api_replace_show(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
		      const char *, http_reply_t *);
void api_replace_cancel(const admin_ctx_t *, const admin_request_t *, const admin_identity_t *,
			const char *, http_reply_t *);

#endif
