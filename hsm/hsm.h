/* SPDX-License-Identifier: MIT */
/* hsm: CA keys in a PKCS#11 token — open/login once, generate keys inside, sign from many threads. */
#ifndef CAIRN_HSM_H
#define CAIRN_HSM_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "util/util.h"

typedef struct hsm hsm_t;

typedef enum {
	HSM_KEY_EC_P256,
	HSM_KEY_EC_P384,
	HSM_KEY_RSA_3072,
} hsm_key_type_t;

/* "p256" | "p384" | "rsa3072" (also "ec-p256", "ec-p384", "rsa-3072"). Returns 0 or CAIRN_EINVAL. */
int hsm_key_type_parse(const char *s, hsm_key_type_t *out) CAIRN_WUR;
/* Canonical name ("p256", "p384", "rsa3072"); static string. */
const char *hsm_key_type_name(hsm_key_type_t t);

typedef struct hsm_config {
	const char *module;       /* PKCS#11 module path, e.g. /usr/lib/softhsm/libsofthsm2.so */
	const char *token_label;  /* token to use */
	const char *pin;          /* user PIN (already read from its file/env by the caller) */
	const char *softhsm_conf; /* if non-NULL, exported as SOFTHSM2_CONF before the module loads */
	/* Longest wait for a token call (HSM_TIMEOUT_MS unless configured); 0: no bound,
	 * the calling thread makes the token calls itself (saves a hand-off per signature). */
	unsigned timeout_ms;
} hsm_config_t;

/* The longest a token call is waited for unless configured (token.timeout). */
#define HSM_TIMEOUT_S 10
#define HSM_TIMEOUT_MS (HSM_TIMEOUT_S * 1000)

/* Calls in the token for longer than the timeout (a network HSM that lost its link
 * without a reset answers nothing): how many, how long the oldest has been in it, and
 * the signatures given up or refused because of it since hsm_open. */
typedef struct hsm_stuck {
	unsigned calls;
	uint64_t for_ms;
	int64_t since; /* when the oldest went in (wall clock): the same at every look */
	unsigned long timeouts;
	uint64_t timeout_ms;
} hsm_stuck_t;
/* What hsm_stuck_t says, now. Thread-safe; NULL h: all zero. */
void hsm_token_stuck(hsm_t *h, hsm_stuck_t *out);

/* The token's signatures that failed (a copy): how many since hsm_open, their latest run
 * (a token that drops off, as a network HSM may) and what the latest said
 * ("C_SignInit: CKR_DEVICE_REMOVED (0x32)"). Thread-safe. */
void hsm_sign_state(hsm_t *h, util_failrun_t *out);
/* 1 when the calling thread's latest signature in the token failed, with what the token
 * said in why (may be NULL), so a caller that signed through OpenSSL can tell a token
 * failure from its own; else 0. Forgets it: call once before signing to start afresh. */
int hsm_sign_failure(char *why, size_t cap);
/* How many times the daemon logged in to the token again after it forgot the daemon's
 * sessions, login or key copies (an HSM reset): signing tries once more after one. */
unsigned long hsm_relogins(const hsm_t *h);

/*
 * Initialises a fresh token with the given label on the module's first free
 * (uninitialised) slot, and sets the user PIN. Used by `cairn init` for the
 * embedded SoftHSM2 token. cfg->pin is the user PIN.
 * Returns 0, CAIRN_EEXIST (a token with that label exists), CAIRN_ETOKEN (no free
 * slot), CAIRN_EINVAL (label empty or longer than 32 bytes) or CAIRN_EPKCS11.
 * Not thread-safe; call before hsm_open. Uses the raw PKCS#11 API (pkcs11-helper
 * cannot initialise tokens) and unloads the module again when done.
 */
int hsm_token_create(const hsm_config_t *cfg, const char *so_pin, cairn_err_t *err) CAIRN_WUR;

/*
 * Loads the module, finds the token by label and logs in ONCE (SoftHSM2
 * rewrites its token file at every login: see STACK-NOTES.md). The handle keeps
 * a pool of logged-in sessions so signing runs in parallel, one session per
 * signing thread at a time (opened on demand, at most 64).
 * pkcs11-helper loads the provider, finds the token and performs the login;
 * its state is process-global, so ONE handle may be open per process at a time
 * (a second hsm_open before hsm_close fails with CAIRN_EBUSY; open, close and
 * open again is fine). When cfg->softhsm_conf is set, SOFTHSM2_CONF is set to it
 * (hsm_conf_export): a program with threads exports it before it starts any.
 * Open after any daemonising fork(); a forked child must not use the handle.
 * *out is owned by the caller: release with hsm_close.
 * Returns 0, CAIRN_ETOKEN, CAIRN_ELOGIN (wrong/locked PIN), CAIRN_EBUSY,
 * CAIRN_EINVAL, CAIRN_EPKCS11 (module missing, C_Initialize failed, ...).
 */
int hsm_open(const hsm_config_t *cfg, hsm_t **out, cairn_err_t *err) CAIRN_WUR;
/*
 * Sets SOFTHSM2_CONF, which SoftHSM2 reads when its module loads, to path (NULL: leaves
 * the environment alone), unless it already is path. setenv() is not thread-safe: a
 * getenv() in another thread meanwhile (OpenSSL, libcurl, libfaketime on every clock
 * call) may walk the array setenv just freed. So a program with threads calls this
 * before it starts any; hsm_open and hsm_token_create then find the value set and leave
 * the environment as it is. 0, or CAIRN_ENOMEM.
 */
int hsm_conf_export(const char *path) CAIRN_WUR;

/* Logs out, closes all sessions and finalises the module. NULL is a no-op.
 * Every EVP_PKEY from hsm_key_get must have been freed before, and no thread
 * may still be signing. */
void hsm_close(hsm_t *h);

/*
 * Generates a key pair inside the token: private key TOKEN, PRIVATE, SENSITIVE,
 * not EXTRACTABLE, SIGN; public key with the same CKA_LABEL and a CKA_ID derived
 * from the public key. Refuses (CAIRN_EEXIST) when a key with that label exists.
 * *pub receives the public key as a plain OpenSSL key (caller frees); may be NULL.
 * Returns 0, CAIRN_EEXIST, CAIRN_EINVAL, CAIRN_EPKCS11. On failure no object
 * is left in the token. Thread-safe (generations are serialised).
 */
int hsm_keygen(hsm_t *h, hsm_key_type_t type, const char *label, EVP_PKEY **pub,
	       cairn_err_t *err) CAIRN_WUR;

/*
 * Finds the private key with that label and returns an EVP_PKEY carrying the
 * public key whose private operation (ECDSA or RSA PKCS#1 v1.5 signing) runs in
 * the token. Stock OpenSSL signing (X509_sign, X509_CRL_sign, OCSP_basic_sign,
 * EVP_DigestSign) works with it, from many threads at once: each signature
 * borrows one session from the handle's pool.
 * *key is owned by the caller (EVP_PKEY_free), and must not outlive h.
 * RSA keys also sign RSA-PSS (padded by OpenSSL, CKM_RSA_X_509 in the token).
 * A failed C_Sign surfaces as an OpenSSL error ("PKCS#11 C_Sign: CKR_...").
 * Returns 0, CAIRN_EKEY, CAIRN_EKEYTYPE, CAIRN_EPKCS11. Thread-safe.
 */
int hsm_key_get(hsm_t *h, const char *label, EVP_PKEY **key, cairn_err_t *err) CAIRN_WUR;

/* 1 when the key with that label exists in the token as SENSITIVE and never
 * extractable (checked via CKA_ALWAYS_SENSITIVE / CKA_NEVER_EXTRACTABLE), 0 when
 * not, negative on error (CAIRN_EKEY: no such key, CAIRN_EPKCS11). */
int hsm_key_is_protected(hsm_t *h, const char *label);

/*
 * Raw sign of a precomputed digest with C_Sign on a pooled session (ECDSA: raw
 * r||s out; RSA: PKCS#1 v1.5 over the DigestInfo for SHA-256). For the benchmark's
 * ceiling figure. *siglen is in: capacity, out: length (64 for P-256, 96 for
 * P-384, 384 for RSA-3072). RSA also accepts 48/64-byte digests (SHA-384/512).
 * Returns 0, CAIRN_EKEY, CAIRN_EINVAL (buffer too small: *siglen is set to the
 * size needed; or a digest length RSA cannot name), CAIRN_EPKCS11. Thread-safe.
 */
int hsm_sign_raw(hsm_t *h, const char *label, const uint8_t *digest, size_t dlen,
		 uint8_t *sig, size_t *siglen, cairn_err_t *err) CAIRN_WUR;

/* Signatures the token made through h since hsm_open (every C_Sign that succeeded: CA
 * certificates, CRLs, OCSP answers, raw signs). Thread-safe. */
unsigned long hsm_signatures(const hsm_t *h);

#endif
