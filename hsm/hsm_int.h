/* SPDX-License-Identifier: MIT */
/* hsm internals shared by the files of hsm/: the handle, the session pool, attribute helpers. */
#ifndef CAIRN_HSM_INT_H
#define CAIRN_HSM_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <pkcs11-helper-1.0/pkcs11h-core.h>
#include <pkcs11-helper-1.0/pkcs11h-token.h>

#include "hsm/hsm.h"

/* Most sessions the pool opens: one per concurrently signing thread. */
#define HSM_POOL_MAX 64

/* A private key found by label, cached for the life of the handle. Its handles change when
 * the token comes back from a reset (hsm_relogin): read them with key_handle. */
typedef struct hsm_key_ent {
	struct hsm_key_ent *next;
	char *label;
	CK_OBJECT_HANDLE priv; /* the token object */
	/* What C_SignInit is given: a session copy of priv in the keeper session, or priv
	 * itself when the token refuses the copy (see hsm_key_lookup). */
	CK_OBJECT_HANDLE sign_obj;
	CK_KEY_TYPE ktype; /* CKK_EC or CKK_RSA */
	size_t siglen;     /* raw C_Sign output: 2*field bytes (EC) or modulus bytes (RSA) */
} hsm_key_ent_t;

struct hsm {
	CK_FUNCTION_LIST_PTR fl; /* the module's function list, shared with pkcs11-helper */
	void *dl;                /* our own reference on the module (RTLD_NOLOAD) */
	pkcs11h_token_id_t token_id;
	CK_SLOT_ID slot;

	pthread_mutex_t lock; /* guards the pool and the key cache */
	pthread_cond_t cond;  /* a session came back or a slot freed up */
	CK_SESSION_HANDLE free_s[HSM_POOL_MAX];
	size_t nfree; /* idle sessions in free_s */
	size_t nopen; /* sessions open or being opened (idle + lent out) */
	hsm_key_ent_t *keys;
	/* Never lent out: holds the session copies of the signing keys, which live as long
	 * as it does (a pooled session may be closed after an error). */
	CK_SESSION_HANDLE keeper;
	int have_keeper;
	pthread_mutex_t lookup_lock; /* one key lookup (find, describe, copy) at a time */
	atomic_ulong signatures;      /* C_Sign calls that succeeded (hsm_signatures) */
	/* Signatures the token refused or failed (hsm_sign_state), under fail_lock; the flag
	 * is read without it, so a signature that succeeds takes the lock only after a
	 * failure. */
	pthread_mutex_t fail_lock;
	util_failrun_t sign_fail;
	atomic_int sign_failing;

	pthread_mutex_t keygen_lock; /* label check + generation are one step */

	/* A token that comes back having forgotten the daemon (an HSM reset: its sessions,
	 * login and session objects gone) is logged in again with this PIN (wiped at
	 * hsm_close), at most once per HSM_RELOGIN_MS (hsm_relogin). */
	char *pin;
	pthread_mutex_t relogin_lock;
	uint64_t relogin_at;  /* time_mono_ms of the last attempt */
	int relogin_ok;       /* ... and whether it succeeded */
	atomic_ulong relogins; /* successful ones (hsm_relogins) */

	/*
	 * The signers (signer.c): threads that make the token calls after the start
	 * (signatures, key generation, key lookups), so the thread that asked waits at most
	 * timeout_ms for one (a network HSM whose link died without a reset answers nothing,
	 * for minutes or for good). Started on demand, at most HSM_POOL_MAX; under sign_lock.
	 */
	uint64_t timeout_ms; /* 0: no bound, the caller signs */
	pthread_mutex_t sign_lock;
	pthread_cond_t sign_work;   /* a job queued, or stop */
	pthread_cond_t sign_back;   /* a signer came back from the token, or ended */
	struct hsm_job *queue, *queue_tail;
	unsigned queued;  /* jobs in the queue */
	unsigned signers; /* signers started (their slots in since_ms) */
	unsigned live;    /* ... and not ended */
	unsigned idle;    /* ... waiting for a job */
	int stopping;
	uint64_t since_ms[HSM_POOL_MAX]; /* when signer i took its job (time_mono_ms); 0 idle */
	int64_t since_wall[HSM_POOL_MAX]; /* ... and by the wall clock (/healthz's at) */
	pthread_t signer_tid[HSM_POOL_MAX];
	uint64_t done_ms;  /* when a signer last came back from the token */
	uint64_t probe_ms; /* when the last job went to a token that did not answer */
	atomic_ulong timeouts; /* calls given up or refused (hsm_token_stuck) */
};

/* Longest text of what a signature came to ("C_Sign: CKR_DEVICE_REMOVED (0x32)"). */
#define HSM_WHY_MAX 96

#define HSM_RELOGIN_MS 2000

/* A key handle of an entry, as the last relogin left it. */
static inline CK_OBJECT_HANDLE key_handle(const CK_OBJECT_HANDLE *field)
{
	return __atomic_load_n(field, __ATOMIC_ACQUIRE);
}

/* Signs with entry k's key (hsm_sign_mech) on the calling thread; a token that forgot the
 * daemon (sessions, login or key handles invalid) is logged in again and the signature
 * tried once more. The signers run it. */
CK_RV hsm_sign_now(hsm_t *h, const hsm_key_ent_t *k, CK_MECHANISM_TYPE mech, const uint8_t *in,
		   size_t inlen, uint8_t *out, size_t *outlen);
/* A token call made by a signer: fn(h, arg) with arg the job's own copy of the caller's
 * argument; drop(arg), when not NULL, frees what fn left in that copy when the caller
 * gave the job up before it came back. */
typedef CK_RV (*hsm_call_fn)(hsm_t *h, void *arg);
typedef void (*hsm_drop_fn)(void *arg);
/* Runs fn on a signer (signer.c), waiting at most h->timeout_ms for it; while the token
 * does not answer, refused at once but for one try per timeout. Returns fn's result with
 * its argument copied back over arg (size bytes), or CKR_FUNCTION_FAILED with the calling
 * thread's hsm_sign_why_get saying why when it was given up or refused. Made on the
 * caller's thread when there is no bound (timeout_ms 0) or the caller is a signer. */
CK_RV hsm_call(hsm_t *h, hsm_call_fn fn, void *arg, size_t size, hsm_drop_fn drop);
/* A call about the key labelled label: returns a cairn error code, *out (out may be
 * NULL) what it made. */
typedef int (*hsm_key_fn)(hsm_t *h, const char *label, int param, void **out,
			  cairn_err_t *err);
/* fn through hsm_call, with its own copies of label, *out and the error; free_out (may
 * be NULL) frees an *out nobody took. Given up or refused: CAIRN_ETOKENDOWN, "WHAT
 * "LABEL": no answer from the token within N s". */
int hsm_key_call(hsm_t *h, hsm_key_fn fn, const char *label, int param, void **out,
		 void (*free_out)(void *out), const char *what, cairn_err_t *err);
/* EVP_PKEY_free as an hsm_key_call free_out. */
void hsm_pkey_free(void *key);
/* hsm_sign_now through hsm_call: the same contract. */
CK_RV hsm_sign_key(hsm_t *h, const hsm_key_ent_t *k, CK_MECHANISM_TYPE mech, const uint8_t *in,
		   size_t inlen, uint8_t *out, size_t *outlen);
/* Sets up the signers' state (none run yet); hsm_signers_stop ends them. */
void hsm_signers_init(hsm_t *h, uint64_t timeout_ms);
/* Waits at most h->timeout_ms until no signer is in a call: 0, or CAIRN_EBUSY when one
 * still is (the token does not answer). */
int hsm_signers_calm(hsm_t *h);
/* Ends the signers: waits for those in a call at most h->timeout_ms. Returns 0, or
 * CAIRN_EBUSY when some are still in the token (h must then outlive them: not freed). */
int hsm_signers_stop(hsm_t *h);

/* The calling thread's latest signature: what it came to ("" when it succeeded). */
const char *hsm_sign_why_get(void);
void hsm_sign_why_set(const char *why);
/* Counts a failed signature (the token's run of them, /healthz) saying why, and makes it
 * the calling thread's hsm_sign_failure. */
void hsm_sign_failed(hsm_t *h, const char *why);

/* "CKR_PIN_INCORRECT" or "unknown"; static string. */
const char *hsm_ckr_name(CK_RV rv);

/* Borrows a logged-in R/W session (opens one when none is idle and the pool is
 * below HSM_POOL_MAX, else waits). Returns CKR_OK or C_OpenSession's error. */
CK_RV hsm_session_take(hsm_t *h, CK_SESSION_HANDLE *s) CAIRN_WUR;
/* Returns a session; bad != 0 closes it instead (after an error on it). */
void hsm_session_give(hsm_t *h, CK_SESSION_HANDLE s, int bad);
/* Closes the pool's idle sessions (lent ones are closed when they come back bad). */
void hsm_pool_close_idle(hsm_t *h);

/* Reads a variable-length attribute into a malloc'd buffer (caller frees).
 * Returns the CK_RV. */
CK_RV hsm_attr_alloc(hsm_t *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
		     uint8_t **out, size_t *len);
/* Finds up to max objects matching the template; *n receives the count. Returns the CK_RV. */
CK_RV hsm_find(hsm_t *h, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG ntmpl,
	       CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *n);

/* Looks up (and caches) the private key with that label. *ent is borrowed,
 * valid until hsm_close. Returns 0, CAIRN_EKEY, CAIRN_EPKCS11. */
int hsm_key_lookup(hsm_t *h, const char *label, const hsm_key_ent_t **ent,
		   cairn_err_t *err) CAIRN_WUR;

/* One C_SignInit + C_Sign with mech on a pooled session. *outlen is in:
 * capacity, out: length. Returns the CK_RV (CKR_OK on success). */
CK_RV hsm_sign_mech(hsm_t *h, CK_OBJECT_HANDLE key, CK_MECHANISM_TYPE mech, const uint8_t *in,
		    size_t inlen, uint8_t *out, size_t *outlen);

/* Curve NID of a DER CKA_EC_PARAMS (named curve OID); NID_undef if unknown. */
int hsm_ec_nid(const uint8_t *params, size_t len);
/* Bytes of one ECDSA coordinate for the supported curves; 0 if unsupported. */
size_t hsm_ec_field_bytes(int nid);

/* Public key material of a token key pair, read from the public key object. */
typedef struct hsm_pub {
	CK_KEY_TYPE ktype;
	int nid;        /* EC: curve NID */
	uint8_t *point; /* EC: uncompressed point (malloc'd) */
	size_t point_len;
	uint8_t *n, *e; /* RSA: big-endian modulus and exponent (malloc'd) */
	size_t n_len, e_len;
} hsm_pub_t;

/* Reads the public half of the pair whose public object is pub. Returns 0,
 * CAIRN_EPKCS11, CAIRN_EKEYTYPE or CAIRN_ENOMEM. */
int hsm_pub_read(hsm_t *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub, hsm_pub_t *out,
		 cairn_err_t *err) CAIRN_WUR;
void hsm_pub_clear(hsm_pub_t *p);
/* A plain OpenSSL public key (provider-native) from the material. */
int hsm_pub_to_evp(const hsm_pub_t *p, EVP_PKEY **out, cairn_err_t *err) CAIRN_WUR;
/* Finds the public key object of a private key (same CKA_ID, else same label). */
int hsm_pub_find(hsm_t *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv, const char *label,
		 CK_OBJECT_HANDLE *pub, cairn_err_t *err) CAIRN_WUR;

#endif
