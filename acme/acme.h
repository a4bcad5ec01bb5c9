/* SPDX-License-Identifier: MIT */
/* acme: the ACME server (RFC 8555) — JWS, nonces, accounts, orders, authorizations, challenges. */
#ifndef CAIRN_ACME_H
#define CAIRN_ACME_H

#include <stddef.h>

#include <jansson.h>

#include "ca/ca.h"
#include "db/db.h"
#include "policy/policy.h"
#include "util/util.h"

typedef struct acme acme_t;

/* Defaults of the "acme" settings; the config table (server/config.c) shows and applies them. */
#define ACME_DEFAULT_PROFILE "tls-server"
#define ACME_DEFAULT_HTTP01_PORT 80
#define ACME_DEFAULT_TLSALPN01_PORT 443
#define ACME_DEFAULT_TIMEOUT_MS 5000
#define ACME_DEFAULT_ANSWER_WAIT_MS 25
#define ACME_DEFAULT_AUTHZ_REUSE 2592000   /* 30 days */
#define ACME_DEFAULT_ORDER_LIFETIME 604800 /* 7 days */
#define ACME_DEFAULT_RENEWAL_PERCENT 66
#define ACME_DEFAULT_WORKERS 4
#define ACME_DEFAULT_RETENTION_DAYS 30
#define ACME_MAX_HOSTS 64

/*
 * The config's "acme" object as typed values, filled by server/'s config table after it
 * validated types, bounds and names (every string non-NULL; dns_server is "" or a checked
 * host:port; hosts maps names to checked IP addresses). Borrowed by acme_new.
 */
typedef struct acme_settings {
	char *profile, *terms_of_service, *website;
	long external_account_required;           /* 0 | 1 */
	const json_t *caa_identities;             /* array of strings or NULL */
	long authz_reuse_seconds, order_lifetime_seconds, renewal_window_percent;
	long validation_workers;
	long orders_per_hour, pending_authorizations, failed_validations_per_hour; /* 0 = no limit */
	long accounts_per_address_per_hour;       /* 0 = no limit */
	long retention_days;                      /* 0 = orders kept for ever */
	char *dns_server;                         /* "" = the system resolver */
	long http01_port, tlsalpn01_port, timeout_ms, answer_wait_ms;
	const json_t *hosts;                      /* name -> address, or NULL */
} acme_settings_t;

typedef struct acme_config {
	db_t *db;                  /* borrowed, outlives the acme_t */
	ca_t *ca;                  /* borrowed, outlives the acme_t */
	policy_engine_t *policy;   /* borrowed, outlives the acme_t: every finalize goes through it */
	const char *https_base;    /* public HTTPS base URL, e.g. "https://127.0.0.1:8443" */
	const char *http_base;     /* public HTTP base URL (issuer certificate links) */
	const acme_settings_t *settings; /* validated settings (borrowed during acme_new) */
	int max_json_depth;        /* server.max_json_depth; 0 = UTIL_JSON_DEPTH_DEFAULT */
} acme_config_t;

/* Largest ACME request body (the route's limit): a JWS with a CSR fits with room to spare. */
#define ACME_MAX_BODY 65536

/*
 * Takes cfg->settings (validated by the config table; the profile must exist in the CA and
 * not be the admin profile, else CAIRN_ECONFIG naming acme.profile), starts the validation worker pool and re-queues challenges that
 * were being validated when the daemon stopped (state lives in DB_ACME).
 * Returns 0, CAIRN_ECONFIG, CAIRN_EINVAL, CAIRN_ENOMEM.
 * *out owned by the caller: acme_free (before the db and the ca are closed).
 */
int acme_new(const acme_config_t *cfg, acme_t **out, cairn_err_t *err) CAIRN_WUR;
/* Answers every challenge answer still parked waiting for its validation (with the
 * challenge as it stands) and parks no more: call before the HTTPS listener stops, which
 * must not find a connection suspended. NULL ok. */
void acme_release(acme_t *acme);
/* Stops the worker pool (waiting for validations in flight) and the retention sweep (at
 * its next batch), and frees. NULL ok. */
void acme_free(acme_t *acme);

/* What the retention sweep deleted since start, and when it last ended whole (unix
 * seconds, 0: not yet). acme NULL: zeros. Thread-safe. */
typedef struct acme_sweep_stats {
	uint64_t orders, authzs, failures;
	int64_t last;
} acme_sweep_stats_t;
void acme_sweep_stats(acme_t *acme, acme_sweep_stats_t *out);

typedef struct acme_request {
	const char *method;       /* "GET", "HEAD", "POST" */
	const char *path;         /* below /acme/, e.g. "directory", "order/ID" */
	const char *content_type; /* header value or NULL */
	const char *body;         /* not NUL-terminated */
	size_t body_len;
	const char *remote;       /* the client's address (text), or NULL */
} acme_request_t;

/*
 * Serves one ACME request: fills reply with the resource (JSON, PEM chain) or an
 * RFC 7807 problem with an urn:ietf:params:acme:error:* type, plus Replay-Nonce,
 * Link and Cache-Control headers. Never blocks on the network (challenges are
 * validated by the worker pool). The answer that starts a challenge's validation may
 * come back with reply->later set and no status (http_later_t): the listener parks it,
 * and it is finished once the validation ends or answer_wait_ms pass. Thread-safe.
 */
void acme_handle(acme_t *acme, const acme_request_t *req, http_reply_t *reply);

/*
 * Answers a request to an ACME path that the HTTP layer refused before acme_handle saw it
 * (a body over ACME_MAX_BODY: 413; a NUL in the path, no Host: 400) as acme_handle
 * answers: an RFC 8555 §6.7 problem (malformed; serverInternal for a 5xx) with detail,
 * and the Replay-Nonce, Link and Cache-Control of every ACME reply (§6.5: every answer
 * to a POST carries a nonce, so the client can retry). Thread-safe.
 */
void acme_refuse(acme_t *acme, int status, const char *detail, http_reply_t *reply);

/*
 * Creates an External Account Binding key (RFC 8555 §7.3.4) bound to the policy
 * group and the certificate profile (either may be NULL: no group, the ACME
 * profile), stored durably with an audit event by actor. The account that uses
 * the key carries both into every finalize. expires: the time after which an
 * unused key binds no account (0: never; acme_eab_state).
 * *kid and *hmac_b64 (base64url HMAC key, shown once) are malloc'd for the caller.
 * Returns 0, CAIRN_EINVAL (group not [A-Za-z0-9_.-]{1,63}; unknown profile; the admin
 * profile, CA_ADMIN_PROFILE), a db code.
 */
int acme_eab_create(acme_t *acme, const char *group, const char *profile, int64_t expires,
		    const char *actor, char **kid, char **hmac_b64, cairn_err_t *err) CAIRN_WUR;
/* Every EAB key as admins see it (never its HMAC key): kid, group, profile, created,
 * by, expires, account (once bound), revoked and revoked_by, and state ("unused",
 * "bound", "expired", "revoked"). One read txn. NULL on a database error. */
json_t *acme_eab_list(acme_t *acme);
/*
 * Revokes EAB key kid, by actor (admin:NAME), in one write with its audit event
 * (acme.eab.revoke): an unused key binds no account from then on, and the account a
 * bound key made is revoked (every request it signs gets 401). *out: the key as
 * acme_eab_list shows it. Returns 0, CAIRN_ENOENT (no such key), CAIRN_ECONFLICT
 * (revoked already), a db code.
 */
int acme_eab_revoke(acme_t *acme, const char *kid, const char *actor, json_t **out,
		    cairn_err_t *err) CAIRN_WUR;

/*
 * ACME account id as admins see it: id, status, contact, jwk_thumbprint, key (the public
 * jwk), created, termsOfServiceAgreed, eab_kid, group and profile (when bound with EAB),
 * revoked and revoked_by (once revoked by an admin). New reference, or NULL with err
 * (CAIRN_ENOENT: no such account; a db code).
 */
json_t *acme_account_show(acme_t *acme, const char *id, cairn_err_t *err);
/*
 * Revokes ACME account id by actor (admin:NAME), in one write with its audit event
 * (acme.account.revoke): every request the account signs gets 401 "account is revoked",
 * a finalize of it signing meanwhile issues nothing, and its key cannot make another
 * account. Its certificates stay valid. *out: the account as acme_account_show shows it.
 * Returns 0, CAIRN_ENOENT, CAIRN_ECONFLICT (deactivated or revoked already), a db code.
 */
int acme_account_revoke(acme_t *acme, const char *id, const char *actor, json_t **out,
			cairn_err_t *err) CAIRN_WUR;

/*
 * policy_requester_fn for ACME requesters: 0 when requester is not an ACME one
 * ("acme:acct/ID", "acme:eab/KID"), or its account is valid and no authorization of the
 * order waiting on request (its id) was deactivated (RFC 8555 §7.5.2) or is gone;
 * CAIRN_EAUTH ("the ACME account … is revoked") when the account was revoked or
 * deactivated while its request waited for approvers, CAIRN_ECONFLICT ("authorization …
 * of the order is deactivated now") for the authorization. Reads txn only; arg unused.
 */
int acme_requester_active(db_txn_t *txn, const char *requester, const char *request, void *arg,
			  cairn_err_t *err);

/*
 * policy_presign_fn for ACME requests (arg: the acme_t): 0 when no ACME order waits on
 * request, else acme_caa_recheck of that order ("at approval"): a request approved more
 * than 8 hours after its names were validated is signed only if CAA still lets this CA
 * issue. Reads the store, asks the DNS (at most acme.validation.timeout_ms).
 */
int acme_request_presign(const char *request, const char *requester, void *arg,
			 cairn_err_t *err);

/*
 * Appends to into (a json array) the addresses of the mailto: contacts of the account
 * requester names: "acme:acct/ID", or "acme:eab/KID" (the account bound with that key).
 * Deactivated accounts have none. One read txn of db. Returns 0, CAIRN_ENOENT (not an
 * ACME requester, no such account, no mailto: contact).
 */
int acme_owner_contacts(db_t *db, const char *requester, json_t *into);

#endif
