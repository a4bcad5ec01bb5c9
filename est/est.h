/* SPDX-License-Identifier: MIT */
/* est: the EST enrollment server (RFC 7030) — labels, enrollment accounts, device authentication, CMS answers. */
#ifndef CAIRN_EST_H
#define CAIRN_EST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ca/ca.h"
#include "db/db.h"
#include "policy/policy.h"
#include "util/util.h"

#define EST_NAME_MAX 64
#define EST_MAX_LABELS 32
#define EST_MAX_CERT_PROFILES 8

/* One label: /.well-known/est/{name}/... selects a profile, a validity and a policy group. */
typedef struct est_label {
	char name[EST_NAME_MAX];
	char profile[EST_NAME_MAX];
	int validity_days;        /* 0 = the profile's default */
	int serverkeygen;         /* /serverkeygen allowed */
	char policy_group[EST_NAME_MAX]; /* "" = none */
	/* Profiles whose certificates from outside EST (any channel but ACME and init)
	 * authenticate simpleenroll/serverkeygen/simplereenroll on this label, besides those
	 * EST issued on it; never an EST certificate of another label. */
	char client_cert_profiles[EST_MAX_CERT_PROFILES][EST_NAME_MAX];
	size_t n_client_cert_profiles;
} est_label_t;

typedef enum { EST_CB_OFF, EST_CB_TLS_UNIQUE, EST_CB_TLS_EXPORTER } est_binding_t;

/* The validated "est" object of cairn.json. */
typedef struct est_settings {
	est_label_t labels[EST_MAX_LABELS];
	size_t n_labels;
	char default_label[EST_NAME_MAX]; /* the label of /.well-known/est/{op} */
	est_binding_t channel_binding;    /* challengePassword must carry this binding */
	int revoke_superseded;            /* re-enroll revokes the old certificate (superseded) */
	int retry_after;                  /* seconds, for 202 answers */
	int auth_fail_limit;              /* failed Basic logins at once, per address and per user */
	int auth_fail_window;             /* seconds to drain auth_fail_limit failures */
	int auth_cache_seconds;           /* verified Basic credentials kept in memory (0 = off) */
	int auth_cache_entries;           /* ... at most this many (0 = off) */
	int scrypt_n, scrypt_r, scrypt_p; /* scrypt cost of passwords set from now on */
} est_settings_t;

/*
 * Parses and validates the "est" object (NULL = the defaults: one label
 * "default" with the tls-client profile, no serverkeygen). Keys: labels
 * (object of {profile, validity_days?, serverkeygen?, policy_group?,
 * client_cert_profiles? (array of up to 8 profile names, never admin or the
 * init-made ones)}), default_label, channel_binding ("off" | "tls-unique" |
 * "tls-exporter"), revoke_superseded (bool), retry_after (1..86400),
 * auth_fail_limit (1..1000, default 10), auth_fail_window (seconds 1..86400,
 * default 600), auth_cache_seconds (0..3600, default 60), auth_cache_entries
 * (0..65536, default 1024), scrypt_n (a power of two 1024..1048576, default 16384),
 * scrypt_r (1..32, default 8), scrypt_p (1..16, default 1; est_scrypt_check:
 * 128 * r * (n + p + 2) bytes at most 64 MiB, n below 65536 when r = 1). Unknown keys
 * are refused; errors name the key ("est.labels.iot-device.validity_days: must be 0..3650").
 * Returns 0 or CAIRN_ECONFIG. Profile names are checked by est_settings_check_profiles
 * (from the config validator against the "profiles" object, and from est_new against the CA).
 */
int est_settings_parse(const json_t *obj, est_settings_t *out, cairn_err_t *err) CAIRN_WUR;
/* Every profile a label names (profile, client_cert_profiles) must be known(name, arg);
 * else CAIRN_ECONFIG naming the key. est_new and the config validator both call it. */
int est_settings_check_profiles(const est_settings_t *set,
				int (*known)(const char *name, const void *arg), const void *arg,
				cairn_err_t *err) CAIRN_WUR;

#define EST_DEFAULT_RETRY_AFTER 60 /* seconds a client waits on a pending request */
#define EST_AUTH_FAIL_LIMIT 10
#define EST_AUTH_FAIL_WINDOW 600
#define EST_AUTH_CACHE_SECONDS 60
#define EST_AUTH_CACHE_ENTRIES 1024
#define EST_SCRYPT_N 16384
#define EST_SCRYPT_R 8
#define EST_SCRYPT_P 1
#define EST_SCRYPT_MAXMEM (64u << 20)

/* 1 for the profiles whose certificates never authenticate an EST client, whatever
 * a label's client_cert_profiles says: admin and those `cairn init` issues. */
int est_profile_never_client(const char *profile);

/* The "est" object `cairn init` writes (new reference). */
json_t *est_settings_default(void);

typedef struct est est_t;

/*
 * An EST server over a CA, its database and the policy engine (all borrowed,
 * they outlive the est). Checks that every label's profile exists in ca
 * (CAIRN_ECONFIG naming the label) and that the /cacerts answer builds (the
 * current issuing CA, the root, then earlier issuing CAs; built per request, so a
 * rotation shows at once). *out owned by the caller: est_free. Thread-safe afterwards.
 */
int est_new(const est_settings_t *set, ca_t *ca, db_t *db, policy_engine_t *policy,
	    est_t **out, cairn_err_t *err) CAIRN_WUR;
void est_free(est_t *e);
/* At a daemon's stop, the listener closed: the counts of failed-login lock-outs only
 * memory held are audited ("est.login_limited", audit_limit_flush). */
void est_audit_lockouts(est_t *e);

/* What EST keeps per TLS connection (a login to reuse on keep-alive requests). */
typedef struct est_conn est_conn_t;
/* Frees what est_handle stored in a connection's slot (NULL is fine). */
void est_conn_free(est_conn_t *conn);

/* What the HTTP front knows of one request. Everything borrowed for the call. */
typedef struct est_request {
	const char *method;
	const char *path;          /* below /.well-known/est/, e.g. "cacerts" or "iot-device/simpleenroll" */
	const char *authorization; /* header value or NULL */
	const char *content_type;  /* header value or NULL */
	const char *body;          /* not NUL-terminated */
	size_t body_len;
	const uint8_t *peer_cert;  /* DER of the TLS client certificate, already verified
	                              against the trusted CAs by the TLS front; NULL = none */
	size_t peer_cert_len;
	const uint8_t *binding;    /* channel binding of this TLS session (per
	                              settings), NULL when not available */
	size_t binding_len;
	const char *remote;        /* peer address, for the audit log and failure limits */
	est_conn_t **conn;         /* this TLS connection's slot (starts NULL; est_handle
	                              may fill it; the front calls est_conn_free on it when
	                              the connection closes), or NULL: nothing kept */
} est_request_t;

/*
 * Serves one EST request: req->path selects label and operation (unknown ones
 * are 404). Answers are RFC 7030 bodies (base64, with the header
 * Content-Transfer-Encoding: base64), 202 with reply->retry_after while a
 * request waits for approval, or a one-line text/plain error (400, 401 with
 * reply->www_authenticate, 403, 405, 415). Every issuance is audited by
 * ca_issue/policy_submit (channel "est"), every refusal here as "est.refused".
 * reply is filled, never left empty. Thread-safe.
 */
void est_handle(est_t *e, const est_request_t *req, http_reply_t *reply);
/* EST's error format (RFC 7030 has no problem documents): a text/plain answer of status,
 * one line ending in a newline. est_handle's errors, and the HTTP layer's refusals of an
 * EST request (server/http.c), use it. */
void est_reply_text(http_reply_t *reply, int status, const char *fmt, ...) CAIRN_PRINTF(3, 4);

/* ---- enrollment accounts (table DB_EST, keys "u:NAME") ---- */

/* 1 when s is a well-formed label name ([a-z0-9_-]{1,63}, not an EST operation). */
int est_label_name_ok(const char *s);

/* What an account record holds besides its password (filled by est_user_check/get). */
typedef struct est_user_info {
	char labels[EST_MAX_LABELS][EST_NAME_MAX]; /* the labels the account may use */
	size_t n_labels;  /* 0: added without labels (or before accounts had them):
	                     the default label (est.default_label) only */
	int64_t created;
	uint8_t tag[32];  /* the stored password hash: changes whenever the password does */
} est_user_info_t;

/*
 * Adds an account with a salted scrypt hash of password (the parameters of
 * est_users_kdf, by default N=16384, r=8, p=1; stored with the hash, so a later
 * change of them leaves existing accounts verifying as before) bound to labels (n_labels 0: the default
 * label only), audited "est.user.add" by actor, in one durable write. name is
 * [A-Za-z0-9._@-]{1,63}; password 8..1024 bytes; labels well-formed label
 * names, at most EST_MAX_LABELS (whether they are configured is the caller's
 * check: a label that does not exist grants nothing). email (may be NULL) is where
 * notices about the account's certificates go (notify.email to_owner). Returns 0,
 * CAIRN_EINVAL (name/password/labels/email), CAIRN_EEXIST, CAIRN_ECRYPTO, a db code.
 */
int est_user_add(db_t *db, const char *name, const char *password, const char *const *labels,
		 size_t n_labels, const char *email, const char *actor, cairn_err_t *err) CAIRN_WUR;
/* 0 when scrypt takes N=n, r, p within EST_SCRYPT_MAXMEM: 128 * r * (n + p + 2) bytes
 * at most, and n below 65536 when r = 1 (OpenSSL's own check); else CAIRN_ECONFIG,
 * saying which. */
int est_scrypt_check(int n, int r, int p, cairn_err_t *err);
/* The scrypt parameters est_user_add uses from now on, for the whole process (est_new
 * sets them from est.scrypt_n/r/p; checked there). Thread-safe. */
void est_users_kdf(int n, int r, int p);

/* Basic logins since est_new: checked with the slow hash, taken from the in-memory
 * credential cache, reused by their TLS connection. Any pointer may be NULL. */
void est_login_stats(est_t *e, uint64_t *password, uint64_t *cache, uint64_t *connection);

/* Appends to into (a json array) the e-mail address of the EST account requester names
 * ("est:user/NAME"). Returns 0, CAIRN_ENOENT (not an account, or one without an address). */
int est_owner_address(db_t *db, const char *requester, json_t *into);
/* Removes an account (audited "est.user.del"). Returns 0, CAIRN_ENOENT, a db code. */
int est_user_del(db_t *db, const char *name, const char *actor, cairn_err_t *err) CAIRN_WUR;
/* Checks a password in constant time after the slow hash; on success fills info
 * (may be NULL). Returns 0, CAIRN_EAUTH (unknown user or wrong password: the same
 * code and timing shape for both). */
int est_user_check(db_t *db, const char *name, const char *password, est_user_info_t *info,
		   cairn_err_t *err) CAIRN_WUR;
/* The account's record without checking any password (one read, no slow hash).
 * Returns 0, CAIRN_ENOENT or CAIRN_EDB. */
int est_user_get(db_t *db, const char *name, est_user_info_t *info) CAIRN_WUR;
/* The same inside any txn (borrowed). Returns 0 or CAIRN_ENOENT. */
int est_user_get_txn(db_txn_t *txn, const char *name, est_user_info_t *info) CAIRN_WUR;
/*
 * policy_requester_fn for EST accounts: 0 when requester is not "est:user/NAME" or the
 * account NAME still exists; CAIRN_EAUTH when it was deleted while its request waited for
 * approvers. A device renewing by certificate ("est:cert/SUBJECT") is not checked here: it
 * collects only with a current certificate of this CA. Reads txn only; request and arg
 * unused.
 */
int est_requester_active(db_txn_t *txn, const char *requester, const char *request, void *arg,
                         cairn_err_t *err);
/* 1 when the account may enroll on label (default_label: est.default_label). */
int est_user_may_use(const est_user_info_t *info, const char *label, const char *default_label);

/* Calls fn for every account in name order; fn returns non-zero to stop.
 * Returns 0, the fn value or CAIRN_EDB. One read txn. */
typedef int (*est_user_fn)(const char *name, const est_user_info_t *info, void *arg);
int est_users_list(db_t *db, est_user_fn fn, void *arg);

#endif
