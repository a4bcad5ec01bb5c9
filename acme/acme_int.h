/* SPDX-License-Identifier: MIT */
/* Private to acme/: the server state, the store of ACME objects and the helpers the handlers share. */
#ifndef CAIRN_ACME_INT_H
#define CAIRN_ACME_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "acme/acme.h"

#define ACME_ERR "urn:ietf:params:acme:error:"
#define ACME_ID_LEN 22          /* base64url of 16 random bytes */
#define ACME_MAX_IDENTIFIERS 100

typedef struct acme_host {
	char name[254];
	char addr[64];
} acme_host_t;

/* Validation settings (acme.validation). */
typedef struct acme_vconf {
	char dns_host[128];     /* "" = system resolver */
	int dns_port;
	int http01_port;
	int tlsalpn01_port;
	acme_host_t hosts[ACME_MAX_HOSTS];
	size_t n_hosts;
	int timeout_ms;
	int answer_wait_ms;     /* a challenge answer waits this long for its result */
	uint64_t deadline_ms;   /* 0, or time_mono_ms() at which DNS queries give up */
} acme_vconf_t;

typedef struct acme_nonces acme_nonces_t;

/* Parsed account keys by JWK thumbprint (the SHA-256 of the key's members, so one
 * thumbprint is one key): building an EVP_PKEY from a JWK costs more than verifying the
 * signature with OpenSSL 3.0, and every request needs one. ec is pk's legacy EC_KEY for
 * ECDSA keys (else NULL): verifying with it skips the per-call provider fetch of
 * EVP_DigestVerifyInit (jws.c). */
#define ACME_KEYCACHE 1024
typedef struct acme_keyslot {
	char thumb[48];
	EVP_PKEY *pk;
	EC_KEY *ec;
	int type, bits;          /* pk's EVP_PKEY_get_base_id and EVP_PKEY_get_bits */
} acme_keyslot_t;

/* Parsed records of the store (accounts a/, orders o/, authorizations z/, certificate
 * owners s/; not EAB keys, which hold secrets), each with the exact bytes it was parsed
 * from. acme_get still reads the record (a pooled read transaction) and hands out the
 * parsed copy only when the stored bytes are the same, so a rewrite by any request or
 * validation is seen by the very next read, whoever wrote it: nothing is invalidated
 * by hand. Parsing the JSON was most of the cost of a read (bench/README.md). */
#define ACME_OBJCACHE 1024
typedef struct acme_objslot {
	char key[48];
	char *raw;               /* the record's bytes (owned) */
	size_t len;
	json_t *obj;             /* raw parsed; shared by the requests using it, never changed */
} acme_objslot_t;
typedef struct acme_pool acme_pool_t;

/* Client addresses whose new accounts are counted at once (least recently used forgotten). */
#define ACME_ACCOUNT_ADDRS 4096

struct acme {
	db_t *db;
	ca_t *ca;
	policy_engine_t *policy;
	char base[256];          /* https base + "/acme/" */
	char http_base[256];
	char profile[64];
	char tos[256], website[256];
	util_json_limits_t json;  /* every JSON of a request: its body, JWS parts, EAB */
	json_t *caa_identities;  /* array of strings (owned) */
	int eab_required;
	int64_t authz_reuse;     /* seconds; 0 = never reuse */
	int64_t order_lifetime;  /* seconds */
	long orders_per_hour;    /* 0 = unlimited */
	long pending_authz_max;
	long failed_per_hour;
	long accounts_per_hour;  /* new accounts per client address (net_addr_key); 0 = any */
	util_ratelimit_t *new_accounts; /* ... counted here, or NULL */
	int64_t ari_window_pct;  /* renewal window start, percent of lifetime elapsed */
	acme_vconf_t v;
	acme_nonces_t *nonces;
	pthread_mutex_t key_lock; /* keys */
	acme_keyslot_t keys[ACME_KEYCACHE];
	pthread_mutex_t obj_lock; /* objs */
	acme_objslot_t objs[ACME_OBJCACHE];
	atomic_ulong parses;     /* stored records parsed (store.c): tests, bench notes */
	acme_pool_t *pool;
	pthread_mutex_t fin_lock; /* guards finalizing */
	json_t *finalizing;      /* order ids being finalized now */
	/* the retention sweep (sweep.c) */
	int64_t retention_days;  /* 0: orders and authorizations kept for ever */
	util_periodic_t *sweeper;
	atomic_ullong swept_orders, swept_authzs, swept_failures;
	_Atomic int64_t sweep_last; /* when the last sweep ended whole; 0: none yet */
};

/* ---- problems (problem.c) ---- */
/* Problem document with type ACME_ERR + type, status and detail. */
void acme_problem(http_reply_t *r, int status, const char *type, const char *fmt, ...)
	CAIRN_PRINTF(4, 5);
/* Same with a subproblems array (takes ownership of subs). */
void acme_problem_sub(http_reply_t *r, int status, const char *type, json_t *subs,
		      const char *fmt, ...) CAIRN_PRINTF(5, 6);
/* Same with further members (an object whose members are added; takes ownership). */
void acme_problem_with(http_reply_t *r, int status, const char *type, json_t *extra,
		       const char *fmt, ...) CAIRN_PRINTF(5, 6);
/* Problem JSON object (new reference) for storing in a challenge/order. */
json_t *acme_problem_obj(const char *type, const char *detail, const json_t *identifier);
/* Problem document for error code (status, type and Retry-After from the one error
 * table, cairn_err_http in util/util.h) with a formatted detail. */
void acme_problem_err(http_reply_t *r, int code, const char *fmt, ...) CAIRN_PRINTF(3, 4);
/* The server's own write failed (err from db_write): 503 with Retry-After when the disk is
 * full (it passes once room is made), else 500 serverInternal; detail "what: message". */
void acme_problem_write(http_reply_t *r, const cairn_err_t *err, const char *what);

/* ---- nonces (nonce.c) ---- */
int acme_nonces_new(acme_nonces_t **out);
void acme_nonces_free(acme_nonces_t *n);
/* A fresh nonce into out (at least 32 bytes). */
int acme_nonce_make(acme_nonces_t *n, char *out, size_t cap);
/* 1 when nonce was issued, unused and unexpired (and consumes it), else 0. */
int acme_nonce_use(acme_nonces_t *n, const char *nonce);

/* ---- JWS (jws.c) ---- */
typedef struct acme_jws {
	json_t *protected_hdr;   /* parsed protected header (owned) */
	json_t *payload;         /* parsed payload, NULL for POST-as-GET (owned) */
	int post_as_get;
	const char *alg;         /* borrowed from protected_hdr */
	const char *kid;         /* or NULL */
	json_t *jwk;             /* the key: jwk_public, or borrowed from the account (kid) */
	json_t *jwk_public;      /* the header's jwk, its public members only (owned), or NULL */
	char thumb[48];          /* RFC 7638 thumbprint of the key that verified */
	char acct_id[ACME_ID_LEN + 1]; /* from kid, when kid was used */
	json_t *account;         /* the account (kid) or NULL: a reference of its own to an
				  * object shared with other requests; read it, never change it */
} acme_jws_t;

/* Parses and verifies a flattened JWS request body: nonce, url, alg, key (jwk or
 * kid looked up in the store). want_jwk: 1 = jwk required, 0 = kid required,
 * -1 = either. On failure fills reply with the problem and returns negative. */
int acme_jws_verify(acme_t *a, const char *body, size_t len, const char *url, int want_jwk,
		    acme_jws_t *out, http_reply_t *reply);
void acme_jws_clear(acme_jws_t *j);
/* acme_jws_verify for a resource that is only read: the JWS must be a POST-as-GET (RFC
 * 8555 §6.3: an empty payload; "{}" is not one), else 400 malformed saying that what (the
 * resource, "an order") is fetched with POST-as-GET, and *out is cleared. */
int acme_jws_verify_get(acme_t *a, const char *body, size_t len, const char *url,
			const char *what, acme_jws_t *out, http_reply_t *reply);
/* Verifies a compact-free flattened JWS object with the given key (for keyChange's
 * inner JWS; its parts parsed within a->json); fills *protected_hdr and *payload
 * (owned). Returns 0 or CAIRN_EAUTH. */
int acme_jws_check_inner(const acme_t *a, const json_t *jws, const json_t *jwk,
			 json_t **protected_hdr, json_t **payload, char *why, size_t cap);
/* Frees the key cache (acme_free). */
void acme_jws_caches_free(acme_t *a);
/* Public key from a JWK (RSA, EC P-256/P-384, OKP Ed25519); NULL with why set. */
EVP_PKEY *acme_jwk_to_pkey(const json_t *jwk, char *why, size_t cap);
/* A new JWK holding only the public members of jwk's kty (those its thumbprint hashes);
 * NULL with why for another kty, a missing member, or any private member ("d", …). Every
 * key a client sends is kept in this form. */
json_t *acme_jwk_public(const json_t *jwk, char *why, size_t cap);
/* RFC 7638 thumbprint (base64url SHA-256) into out (>= 44 bytes). */
int acme_jwk_thumbprint(const json_t *jwk, char *out, size_t cap);

/* ---- store (store.c): JSON objects in DB_ACME keyed "<type>/<id>" ---- */
/* Loads key into *out: a new reference to an object that may be shared with other
 * requests and threads (acme_objslot_t): read it, never change it (acme_txn_get gives
 * a private copy). Returns 0, CAIRN_ENOENT, CAIRN_EDB. Thread-safe. */
int acme_get(acme_t *a, const char *key, json_t **out);
/* Frees the parsed-record cache (acme_free). */
void acme_store_cache_free(acme_t *a);
/* Reads a raw string value (for index entries) into out. */
int acme_get_str(acme_t *a, const char *key, char *out, size_t cap);
/* Inside a write txn. acme_txn_get gives a private copy (the caller may change it);
 * acme_txn_put keeps a copy of obj as the parsed form of the bytes it stored, so the
 * next acme_get or acme_txn_get of key parses nothing while those bytes stay. a may be
 * NULL (no parsed forms used or kept). */
int acme_txn_get(acme_t *a, db_txn_t *txn, const char *key, json_t **out);
int acme_txn_put(acme_t *a, db_txn_t *txn, const char *key, const json_t *obj);
int acme_txn_put_str(db_txn_t *txn, const char *key, const char *val);
/* The time (16 hex digits) right after prefix in an index key; -1 when the key is not
 * prefix's or too short. */
int64_t acme_key_time(const void *key, size_t klen, const char *prefix, size_t plen);
/* Rate windows: entries PREFIX + a time as 16 hex digits (+ anything after it), counted
 * in txn for the hour before now (times after now - 3600), up to limit; *first: the oldest
 * counted one's time. Returns the count or a db code (< 0). */
long acme_hour_count(db_txn_t *txn, const char *prefix, int64_t now, long limit,
		     int64_t *first);
/* Read-modify-write of one object inside the group-commit writer: fn sees the stored
 * object (fresh on every run) and changes it; return 0 to store it, negative to roll back.
 * *result (may be NULL) receives a copy of the stored object (new reference). */
typedef int (*acme_update_fn)(db_txn_t *txn, json_t *obj, void *arg, cairn_err_t *err);
int acme_update(acme_t *a, const char *key, acme_update_fn fn, void *arg, json_t **result,
		cairn_err_t *err);
/* A fresh random id (ACME_ID_LEN+1 bytes): base64url of 127 random bits, never beginning
 * with '-' or '_'. */
int acme_new_id(char *out);
/* Appends an audit event (actor "acme:acct/ID") inside txn; takes ownership of names and details. */
int acme_audit(db_txn_t *txn, const char *acct, const char *action, const char *serial,
	       json_t *names, json_t *details, cairn_err_t *err);
/* The account record of an ACME requester ("acme:acct/ID", or "acme:eab/KID": the
 * account that key bound) in txn: 0 with *acct (new reference) and its id, CAIRN_ENOENT
 * when there is none, CAIRN_EINVAL when requester is no ACME one. */
int acme_requester_account(db_txn_t *txn, const char *requester, json_t **acct,
			   char id[ACME_ID_LEN + 1]);
/* The same for an admin's change (actor admin:NAME: EAB keys, an account revoked); takes
 * ownership of details. */
int acme_audit_by(db_txn_t *txn, const char *action, const char *actor, json_t *details,
		  cairn_err_t *err);

/* ---- resources: one handler per resource; arg is the rest of the path after the row's prefix ---- */
typedef void (*acme_fn)(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
			http_reply_t *r);
void acme_new_account(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		      http_reply_t *r);
void acme_account(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		  http_reply_t *r);
void acme_account_orders(acme_t *a, const char *url, const char *arg,
			 const acme_request_t *req, http_reply_t *r);
/* Later pages of the orders list: orders/ACCT/CURSOR. */
void acme_orders_next(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		      http_reply_t *r);
void acme_key_change(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		     http_reply_t *r);
void acme_new_order(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		    http_reply_t *r);
void acme_order(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		http_reply_t *r);
void acme_authz(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		http_reply_t *r);
void acme_challenge(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		    http_reply_t *r);
void acme_finalize(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		   http_reply_t *r);
void acme_cert(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
	       http_reply_t *r);
/* issuer/{name}: the PEM of one of our CA certificates ("root", "issuing", "issuing-2",
 * …), the target of a certificate's Link rel="up"; POST-as-GET like every ACME resource
 * (RFC 8555 §7.1), GET too. An issuing CA links up to the root. */
void acme_issuer(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		 http_reply_t *r);
void acme_revoke(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		 http_reply_t *r);
void acme_renewal_info(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		       http_reply_t *r);

/* DNS name as in identifiers: ASCII (an IDN as A-labels), the syntax of every certificate
 * name (ca_dns_problem: LDH labels of 1..63, <= 253 in all, the last not all digits, no
 * trailing dot) and at least two labels; a leading "*." sets *wildcard. Lower-cases name
 * in place. Returns 0 or CAIRN_EINVAL with why. */
int acme_dns_name_check(char *name, int *wildcard, char *why, size_t cap);
/* Order JSON as served (status derived from its authorizations). New reference. */
json_t *acme_order_view(acme_t *a, json_t *order);
/* Loads "<prefix>/<id>" owned by the JWS account (else 404/403 problem, NULL). New reference. */
json_t *acme_load_owned(acme_t *a, const char *prefix, const char *id, const acme_jws_t *j,
			http_reply_t *r);
/* 1 when the account holds a valid, unexpired authorization for the identifier
 * (value "*.x" means the wildcard authorization of x). */
int acme_has_valid_authz(acme_t *a, const char *acct, const char *type, const char *value);
/* Brings a processing order up to date (policy request decided). Replaces *order. */
void acme_order_refresh(acme_t *a, json_t **order);

/* A change of an order's stored state. Everything borrowed. */
typedef struct acme_order_change {
	const char *status;   /* the new status */
	const char *serial;   /* the certificate (hex), stored with its s/SERIAL owner entry; or NULL */
	const char *request;  /* the pending policy request, or NULL */
	const json_t *error;  /* problem object for the order, or NULL */
	const char *expect;   /* the stored status required, or NULL for any */
	int authzs_valid;     /* 1: every authorization of the order must be valid as stored
	                         in this txn (finalize: one deactivated meanwhile stops it) */
	const char *acct;     /* the order's account */
	int wrong_state;      /* out: 1 when expect did not match (CAIRN_ECONFLICT) */
} acme_order_change_t;
/* Applies ch to order oid inside a write txn (so it can commit with a certificate:
 * finalize runs it in the issuance's own transaction). *result (may be NULL; an
 * earlier value is released, so a rerun write is safe) receives the stored order
 * (new reference). Returns 0, CAIRN_ECONFLICT (expect, authzs_valid), CAIRN_ENOENT or a
 * db code. */
int acme_order_change_txn(acme_t *a, db_txn_t *txn, const char *oid, acme_order_change_t *ch,
			  json_t **result, cairn_err_t *err);
/* In txn: 0 when no order waits on policy request (its id: r/REQUEST, written with the
 * order's move to processing), or when every authorization of the order that does is
 * valid as stored; else CAIRN_ECONFLICT naming the first that is not (deactivated or
 * gone while the request waited for approvers). Expiry is not counted: an order waiting
 * for approvers is kept past its authorizations' expiry (sweep.c). */
int acme_request_authzs_valid(db_txn_t *txn, const char *request, cairn_err_t *err);
/* The same as one durable write of its own. */
int acme_order_change(acme_t *a, const char *oid, acme_order_change_t *ch, json_t **result,
		      cairn_err_t *err);
/* Derives the order status from its stored status and its authorizations. */
const char *acme_order_status(acme_t *a, json_t *order);

/* In write txn: account acct becomes revoked (RFC 8555 §7.1.6: the server's doing) by
 * actor, when it is valid; every request it signs is refused from then on. *was (may be
 * NULL): its status before. Returns 0 (an unknown account too: nothing to stop) or a db
 * code. */
int acme_account_revoke_txn(db_txn_t *txn, const char *acct, const char *actor,
			    char was[16], cairn_err_t *err);

/* ---- EAB (eab.c) ---- */
/* What EAB key record rec is at now: "unused", "bound", "expired" or "revoked". */
const char *acme_eab_state(const json_t *rec, int64_t now);
/* 0 when rec may bind an account now, else CAIRN_EAUTH with the reason in err. */
int acme_eab_bindable(const json_t *rec, int64_t now, cairn_err_t *err);
/* Checks an externalAccountBinding against the outer jwk; fills kid/group/profile. On failure
 * fills the problem and returns negative. */
int acme_eab_check(acme_t *a, const json_t *eab, const json_t *jwk, const char *url,
		   char *kid, size_t kid_cap, char *group, size_t group_cap, char *profile,
		   size_t profile_cap, http_reply_t *r);


/* ---- status moves (status.c, RFC 8555 §7.1.6) ---- */
/* The authorization's status as served: "expired" once a pending or valid one is past
 * its expiry, else the stored status ("invalid" when missing). Borrowed string. */
const char *acme_authz_status(const json_t *z);
/* 1 when the authorization (its acme_authz_status) may move to status to, else 0:
 * deactivated, invalid, revoked and expired are final. */
int acme_authz_may_move(const json_t *z, const char *to);
/* The challenge that validated the authorization (its "type" is the method, its
 * "validated" the unix time of the validation), or NULL when none is valid. Borrowed
 * from z. */
const json_t *acme_authz_valid_chall(const json_t *z);
/* 1 when the challenge may move from its stored status to to, else 0 (valid and
 * invalid are final). */
int acme_chall_may_move(const json_t *c, const char *to);
/* Deactivates the authorization (authz/ID with {"status":"deactivated"}) in the writer;
 * *result (may be NULL) receives the stored object. CAIRN_EINVAL when its status may not
 * move (err says which), a db code otherwise. */
int acme_authz_deactivate(acme_t *a, const char *authz_id, json_t **result, cairn_err_t *err);
/* The account acct_id as it stands in txn (a write's own): 0 while it is valid, else
 * CAIRN_EAUTH "account is revoked|deactivated" (or the read's error) in err. A request's
 * JWS check read the account before its write; what creates or changes state on the
 * account's word checks again here. (account.c) */
int acme_account_usable(acme_t *a, db_txn_t *txn, const char *acct_id, cairn_err_t *err)
	CAIRN_WUR;
/* Stores the outcome of validating challenge idx of authz_id: error NULL means valid,
 * else the problem object (borrowed) for the challenge. Re-reads the authorization in
 * the write transaction and changes nothing the status table refuses: a result for an
 * authorization that is no longer pending only turns the challenge invalid. failed: a
 * validation was tried and failed; it counts against failed_validations_per_hour
 * (recorded in the same transaction). */
int acme_chall_result(acme_t *a, const char *authz_id, int idx, const json_t *error,
		      int failed);

/* ---- the retention sweep (sweep.c) ---- */
/* Deletes, in writes of their own, the orders past acme.retention_days after they expired
 * (none when it is 0) with their authorizations and index entries, and failed-validation
 * entries older than an hour, as of now; counted for acme_sweep_stats, logged when an
 * order or authorization went. Stops between batches once acme_sweeper_stop is called.
 * Returns 0 or a db code with err set. */
int acme_sweep(acme_t *a, int64_t now, cairn_err_t *err);
/* The thread that sweeps at start and every hour after; stop it before the db closes. */
int acme_sweeper_start(acme_t *a);
void acme_sweeper_stop(acme_t *a);

/* ---- validation (validate.c and friends) ---- */
int acme_pool_start(acme_t *a, int threads, acme_pool_t **out);
void acme_pool_stop(acme_pool_t *p);
/* Queues the challenge (authz id, index) for validation: from now until its result is
 * stored it is "processing" (acme_pool_busy). 0, CAIRN_EEXIST (already queued or
 * running: nothing done), CAIRN_ETOOBIG (queue full) or CAIRN_ENOMEM. Thread-safe. */
int acme_pool_queue(acme_pool_t *p, const char *authz_id, int idx);
/* Parks a challenge answer until the challenge leaves the pool (its result stored,
 * durably) or ms pass, whichever comes first: then later is fired (from a validation
 * worker or the pool's waker thread). 0, or CAIRN_ENOENT when the challenge is not
 * queued or running (any more) or the pool is closing, CAIRN_ENOMEM: then nothing will
 * fire later (the caller fires it). Thread-safe. */
int acme_pool_watch(acme_pool_t *p, const char *authz_id, int idx, int ms, http_later_t *later);
/* Fires every parked answer and takes no new ones: before the listeners stop. */
void acme_pool_release(acme_pool_t *p);
/* 1 while the challenge is queued or being validated, else 0 (p NULL: 0). Thread-safe. */
int acme_pool_busy(acme_pool_t *p, const char *authz_id, int idx);
/* Resolves name (hosts map, then DNS server) to a numeric address; 0 or negative with why. */
int acme_resolve(const acme_vconf_t *v, const char *name, char *addr, size_t cap, char *why,
		 size_t why_cap);
/* TXT records of name (DNS server); values as a JSON array (new reference) or NULL with why. */
json_t *acme_dns_txt(const acme_vconf_t *v, const char *name, char *why, size_t why_cap);
/* CAA records of name as a JSON array of {flags, tag, value}, [] when none, NULL on error. */
json_t *acme_dns_caa(const acme_vconf_t *v, const char *name, char *why, size_t why_cap);
/* Each returns 0 (valid) or negative with *type (problem type suffix) and why set. */
int acme_validate_http01(const acme_vconf_t *v, const char *name, const char *token,
			 const char *keyauth, const char **type, char *why, size_t cap);
int acme_validate_dns01(const acme_vconf_t *v, const char *name, const char *keyauth,
			const char **type, char *why, size_t cap);
int acme_validate_tlsalpn01(const acme_vconf_t *v, const char *name, const char *keyauth,
			    const char **type, char *why, size_t cap);
/* CAA check (RFC 8659/8657) of name for this CA (a->caa_identities), asking the DNS of v;
 * 0, CAIRN_EDENIED or CAIRN_EIO (lookup failed) with why. */
int acme_caa_check(acme_t *a, const acme_vconf_t *v, const char *name, int wildcard,
		   const char *acct_url, const char *method, char *why, size_t cap);
/* CAA again before signing (at finalize, or at the approval of an order that waited for
 * approvers: when says which, for err) for every dns authorization of the order whose
 * validation is more than 8 hours old (CA/B Baseline Requirements §3.2.2.8), with the
 * method that validated it; all lookups together take at most
 * acme.validation.timeout_ms (this runs on the HTTP thread). 0, or negative with *type
 * ("caa": CAA forbids, CAIRN_EDENIED; "dns": a lookup failed or the time ran out) and err
 * set. */
int acme_caa_recheck(acme_t *a, const json_t *order, const char *when, const char **type,
		     cairn_err_t *err);

#endif
