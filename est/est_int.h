/* SPDX-License-Identifier: MIT */
/* Private to est/: encoders for RFC 7030 bodies and the server state. */
#ifndef CAIRN_EST_INT_H
#define CAIRN_EST_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <openssl/x509.h>

#include "est/est.h"

struct est {
	est_settings_t set;
	ca_t *ca;
	db_t *db;
	policy_engine_t *policy;
	util_ratelimit_t *fails; /* failed Basic logins, per client address and per user */
	uint8_t conn_key[32];   /* keys the digests of Basic credentials (per run, random) */
	pthread_mutex_t logins_mu;
	struct est_login *logins; /* set.auth_cache_entries slots, by the digest's first bytes */
	atomic_ulong n_password, n_cache, n_connection; /* est_login_stats */
};

/* A Basic login verified by the slow hash, kept set.auth_cache_seconds (auth.c). Holds
 * no password: the HMAC of the decoded Basic credentials under conn_key. */
struct est_login {
	uint8_t cred[32];
	char user[EST_NAME_MAX];
	uint8_t tag[32];        /* the account's password hash then: deleted/changed ends it */
	uint64_t until;         /* time_mono_ms: a wall clock set back does not stretch it (0: empty slot) */
};

/* What a TLS connection keeps of its last successful Basic login (auth.c). */
struct est_conn {
	char user[EST_NAME_MAX];
	uint8_t cred[32];       /* HMAC-SHA256(conn_key, the decoded "user:password") */
	uint8_t tag[32];        /* the account's password tag then: a new password ends reuse */
	int valid;
};

/* Which operation, for the audit log and errors. */
typedef struct est_call {
	est_t *e;
	const est_request_t *req;
	const est_label_t *label;
	const char *op;          /* "simpleenroll", ... */
	char requester[320];     /* "est:user/NAME" or "est:cert/SUBJECT" once authenticated */
	X509 *peer;              /* the verified client certificate, or NULL (owned) */
	int peer_ok;             /* peer is ours, valid and not revoked, its key not blocked
	                            by a keyCompromise revocation */
	char peer_blocked[160];  /* why peer's key is blocked, "" when it is not */
	uint8_t peer_spki[32];   /* SHA-256 of peer's SubjectPublicKeyInfo (ca_spki_sha256) */
	int peer_spki_ok;        /* peer_spki is set (the key could be hashed) */
	char peer_serial[2 * DB_SERIAL_MAX + 1];
	char peer_profile[64];   /* peer's db record: the profile it was issued with */
	char peer_requester[128];/* ... and who asked for it ("est:...", "acme:...", "cli:init") */
	char peer_label[EST_NAME_MAX]; /* ... and the EST label it was issued on ("": none recorded) */
	int by_cert;             /* authenticated by peer (else by HTTP Basic) */
	uint8_t user_tag[32];    /* by HTTP Basic: the account's password hash at the login */
} est_call_t;

/* Authenticates an operation that needs a client (auth.c): the TLS client
 * certificate when it is an EST client's on this label (EST's: issued on this label;
 * another channel's: its profile listed in client_cert_profiles; for simplereenroll the
 * only way), else HTTP Basic with a rate limit on failures and the account bound
 * to the label. Returns 0 (c->requester, c->by_cert set) or -1 with the refusal
 * in reply (401, 403 or 429 with Retry-After), audited. */
int est_authenticate(est_call_t *c, int reenroll, http_reply_t *reply);
/* Inside the write that issues for c (txn borrowed, read only): c's credential checked
 * again as est_authenticate checked it — the client certificate still stored, valid,
 * unexpired and its key not blocked; the account still there with the password it logged
 * in with. A certificate revoked or an account deleted while the enrollment signed:
 * CAIRN_EAUTH with the reason, and nothing may be issued. 0 otherwise. */
int est_caller_recheck(db_txn_t *txn, const est_call_t *c, cairn_err_t *err);
/* n bytes of s for a message: printable ASCII but the backslash kept, every other
 * byte as \xHH; cut to fit cap (NUL-terminated). */
void est_shown(const char *s, size_t n, char *out, size_t cap);

/* Refuses the call: text answer plus an "est.refused" audit event naming the
 * operation, label, requester (or "anonymous"), remote address and reason. */
void est_refuse(est_call_t *c, http_reply_t *reply, int status, const char *fmt, ...)
	CAIRN_PRINTF(4, 5);
/* The EST label a certificate was issued on, kept in DB_EST as "l:SERIAL" (lower-case
 * hex) -> label name: written in the certificate's own transaction, or for a request that
 * waited for approval when the device collects it (enroll.c). est_cert_label_get fills
 * label (EST_NAME_MAX bytes); 0, CAIRN_ENOENT (none recorded) or a db code. */
int est_cert_label_put(db_txn_t *txn, const char *serial_hex, const char *label) CAIRN_WUR;
int est_cert_label_get(db_txn_t *txn, const char *serial_hex, char *label) CAIRN_WUR;
/* simpleenroll, simplereenroll and serverkeygen (enroll.c); c is authenticated. */
void est_enroll(est_call_t *c, int reenroll, int keygen, http_reply_t *reply);

/* Base64 with 64-character lines (malloc'd, NUL-terminated). 0 or CAIRN_ENOMEM. */
int est_b64_encode(const uint8_t *in, size_t len, char **out, size_t *out_len) CAIRN_WUR;
/* Decodes base64 ignoring CR, LF, space and tab; anything else outside the
 * alphabet, or a bad length/padding, is CAIRN_EINVAL. *out malloc'd. */
int est_b64_decode(const char *in, size_t len, uint8_t **out, size_t *out_len) CAIRN_WUR;
/* DER of a certs-only CMS SignedData (PKCS#7 degenerate) holding certs. *der malloc'd. */
int est_certs_only(X509 *const *certs, size_t n, uint8_t **der, size_t *len) CAIRN_WUR;
/* DER of CsrAttrs (RFC 7030 §4.5.2) for a profile: key type, signature
 * algorithm, the profile's EKUs, and challengePassword when binding is on. */
int est_csrattrs_der(const ca_profile_t *prof, int want_challenge, uint8_t **der, size_t *len)
	CAIRN_WUR;
/* A fresh key pair like the one in client (EC same curve, RSA same size,
 * Ed25519; other types get P-256) and a CSR signed by it carrying the client
 * CSR's subject and requested extensions. Both owned by the caller. */
int est_keygen_csr(X509_REQ *client, EVP_PKEY **key, X509_REQ **req, cairn_err_t *err) CAIRN_WUR;

#endif
