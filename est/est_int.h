/* SPDX-License-Identifier: MIT */
/* Private to est/: encoders for RFC 7030 bodies and the server state. */
#ifndef CAIRN_EST_INT_H
#define CAIRN_EST_INT_H

#include <openssl/x509.h>

#include "est/est.h"

struct est {
	est_settings_t set;
	ca_t *ca;
	db_t *db;
	policy_engine_t *policy;
	char *cacerts_b64;      /* pre-built /cacerts body */
	size_t cacerts_len;
};

/* Which operation, for the audit log and errors. */
typedef struct est_call {
	est_t *e;
	const est_request_t *req;
	const est_label_t *label;
	const char *op;          /* "simpleenroll", ... */
	char requester[320];     /* "est:user/NAME" or "est:cert/SUBJECT" once authenticated */
	X509 *peer;              /* the verified client certificate, or NULL (owned) */
	int peer_ok;             /* peer is ours, valid and not revoked */
	char peer_serial[2 * DB_SERIAL_MAX + 1];
} est_call_t;

/* A text/plain answer (status, one line). */
void est_reply_text(http_reply_t *reply, int status, const char *fmt, ...) CAIRN_PRINTF(3, 4);
/* Refuses the call: text answer plus an "est.refused" audit event naming the
 * operation, label, requester (or "anonymous"), remote address and reason. */
void est_refuse(est_call_t *c, http_reply_t *reply, int status, const char *fmt, ...)
	CAIRN_PRINTF(4, 5);
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
