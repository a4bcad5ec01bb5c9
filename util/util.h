/* SPDX-License-Identifier: MIT */
/* util: small shared helpers — the error list, logging, base64url, files, time. */
#ifndef CAIRN_UTIL_H
#define CAIRN_UTIL_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#define CAIRN_WUR __attribute__((warn_unused_result))
#define CAIRN_PRINTF(f, a) __attribute__((format(printf, f, a)))

/*
 * The one error list. 0 is success, every failure is a negative code.
 * X(name, message): the enum value and cairn_strerror() both come from here.
 */
#define CAIRN_ERROR_LIST(X)                                            \
	X(CAIRN_EINVAL, "invalid argument")                            \
	X(CAIRN_ENOMEM, "out of memory")                               \
	X(CAIRN_EIO, "I/O error")                                      \
	X(CAIRN_ENOENT, "not found")                                   \
	X(CAIRN_EEXIST, "already exists")                              \
	X(CAIRN_EBUSY, "in use by another process")                    \
	X(CAIRN_ECONFIG, "invalid configuration")                      \
	X(CAIRN_EPKCS11, "PKCS#11 operation failed")                   \
	X(CAIRN_ETOKEN, "token not found")                             \
	X(CAIRN_ELOGIN, "token login failed")                          \
	X(CAIRN_EKEY, "key not found in token")                        \
	X(CAIRN_ECRYPTO, "cryptographic operation failed")             \
	X(CAIRN_EDB, "database error")                                 \
	X(CAIRN_ESCHEMA, "database schema version mismatch")           \
	X(CAIRN_ECOLLISION, "serial number already in use")            \
	X(CAIRN_EPOISONED, "handle unusable after an earlier failure") \
	X(CAIRN_EAUDIT, "audit chain broken")                          \
	X(CAIRN_EBADCSR, "malformed CSR")                              \
	X(CAIRN_ECSRSIG, "CSR signature does not verify")              \
	X(CAIRN_EWEAKKEY, "key too weak")                              \
	X(CAIRN_EKEYTYPE, "unsupported key type")                      \
	X(CAIRN_ENAME, "name not allowed by profile")                  \
	X(CAIRN_EPROFILE, "unknown profile")                           \
	X(CAIRN_EAUTH, "authentication failed")                        \
	X(CAIRN_EDENIED, "permission denied")                          \
	X(CAIRN_ESHUTDOWN, "shutting down")                            \
	X(CAIRN_ETOOBIG, "input too large")                            \
	X(CAIRN_ECONFLICT, "conflicts with the current state")         \
	X(CAIRN_ELINT, "certificate fails lint")                       \
	X(CAIRN_EAGAIN, "not ready yet, try again later")              \
	X(CAIRN_ENOSPACE, "no space left on the disk")                  \
	X(CAIRN_ETOKENDOWN, "the token does not sign")

enum cairn_error {
	CAIRN_OK = 0,
	CAIRN_ERROR_BASE = -1000,
#define CAIRN_X_ENUM(name, msg) name,
	CAIRN_ERROR_LIST(CAIRN_X_ENUM)
#undef CAIRN_X_ENUM
	CAIRN_ERROR_END
};

/* Static message for a code; never NULL. */
const char *cairn_strerror(int code);

/*
 * The one error -> HTTP table, beside the list it maps: X(name, status, type, acme_type).
 * type is the problem type of the admin API (CAIRN_PROBLEM_NS type), acme_type the ACME
 * one (urn:ietf:params:acme:error:acme_type, RFC 8555 §6.7); EST answers the status with
 * a text line (RFC 7030 has no problem documents). A code without a row (ENOMEM, EIO,
 * EDB, EPKCS11, ...) is the server's fault: 500 serverInternal. In ACME only refusals of
 * a finalize reach EDENIED (policy, or a profile ACME may not issue): rejectedIdentifier.
 */
#define CAIRN_PROBLEM_NS "urn:cairn:problem:"
#define CAIRN_ERROR_HTTP(X)                                                         \
	X(CAIRN_EINVAL, 400, "malformed", "malformed")                              \
	X(CAIRN_ETOOBIG, 400, "malformed", "malformed")                             \
	X(CAIRN_EPROFILE, 400, "malformed", "malformed")                            \
	X(CAIRN_EBADCSR, 400, "badCSR", "badCSR")                                   \
	X(CAIRN_ECSRSIG, 400, "badSignature", "badCSR")                             \
	X(CAIRN_EWEAKKEY, 400, "badPublicKey", "badPublicKey")                      \
	X(CAIRN_EKEYTYPE, 400, "badPublicKey", "badPublicKey")                      \
	X(CAIRN_ENAME, 400, "rejectedIdentifier", "rejectedIdentifier")             \
	X(CAIRN_EAUTH, 401, "unauthorized", "unauthorized")                         \
	X(CAIRN_EDENIED, 403, "forbidden", "rejectedIdentifier")                    \
	X(CAIRN_ENOENT, 404, "notFound", "malformed")                               \
	X(CAIRN_EEXIST, 409, "alreadyDone", "malformed")                            \
	X(CAIRN_ECONFLICT, 409, "conflict", "malformed")                            \
	X(CAIRN_ENOSPACE, 503, "storageFull", "serverInternal")                     \
	X(CAIRN_ETOKENDOWN, 503, "tokenUnavailable", "serverInternal")

/* A row of CAIRN_ERROR_HTTP: types without their namespace prefix. A 503 of the table is
 * a condition that passes (a full disk freed): answered with Retry-After. */
#define CAIRN_RETRY_AFTER_S 60
typedef struct cairn_http_error {
	int status;
	const char *type;      /* admin API: CAIRN_PROBLEM_NS type */
	const char *acme_type; /* ACME: urn:ietf:params:acme:error:acme_type */
	int retry_after;       /* seconds for a Retry-After header; 0 = none */
} cairn_http_error_t;

/* The row of code (0 and codes without a row: 500 serverInternal); static, never NULL. */
const cairn_http_error_t *cairn_err_http(int code);

/*
 * Per-call error detail: a code and a one-line message saying what and why.
 * Callers may pass NULL when they only want the return code.
 */
typedef struct cairn_err {
	int code;
	char msg[512];
} cairn_err_t;

/* Record code and a formatted detail in err (if non-NULL); returns code. */
int cairn_err_set(cairn_err_t *err, int code, const char *fmt, ...) CAIRN_PRINTF(3, 4);
/* Like cairn_err_set, appending the newest OpenSSL error string and clearing the queue. */
int cairn_err_ssl(cairn_err_t *err, int code, const char *fmt, ...) CAIRN_PRINTF(3, 4);
/* The detail if set, else cairn_strerror(code). */
const char *cairn_err_msg(const cairn_err_t *err);

/* ---- logging: JSON lines on stderr ---- */
typedef enum { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR } log_level_t;
void log_set_level(log_level_t min);
/* The daemon's lines to a queue that one thread writes to stderr, so that a stderr
 * nobody reads holds up no other thread (lines past 4 MiB waiting are dropped, counted,
 * and said once writing resumes). log_async_stop writes what is queued, waiting at most
 * 2 s for a stderr that does not take it. Returns 0 or CAIRN_ENOMEM. */
int log_async_start(void);
void log_async_stop(void);
/* Lines dropped so far; when a write to stderr has not returned, since when (Unix time)
 * and for how long in ms (else 0 and 0). */
void log_state(uint64_t *dropped, int64_t *blocked_since, uint64_t *blocked_ms);
/* Writes {"ts":..,"level":..,"component":..,"msg":..}; thread-safe. */
void log_msg(log_level_t lvl, const char *component, const char *fmt, ...) CAIRN_PRINTF(3, 4);
/*
 * Structured line: {"ts","level","component","msg", then each field}. After msg come
 * pairs (const char *key, const char *value) ended by a NULL key, e.g.
 *   log_kv(LOG_LVL_WARN, "admin", "call refused", "remote", ip, "path", path, NULL);
 * Keys are the caller's constants; msg and values may be outside bytes (they go through
 * util_json_text, so the line stays one valid JSON object); a NULL value is written as
 * null. Thread-safe.
 */
void log_kv(log_level_t lvl, const char *component, const char *msg, ...)
	__attribute__((sentinel));
#define log_info(c, ...) log_msg(LOG_LVL_INFO, c, __VA_ARGS__)
#define log_warn(c, ...) log_msg(LOG_LVL_WARN, c, __VA_ARGS__)
#define log_error(c, ...) log_msg(LOG_LVL_ERROR, c, __VA_ARGS__)
#define log_debug(c, ...) log_msg(LOG_LVL_DEBUG, c, __VA_ARGS__)

/* ---- base64url (RFC 4648 §5, no padding, strict) and hex ---- */
/* Returns a malloc'd NUL-terminated string (caller frees) or NULL. */
char *b64url_encode(const uint8_t *in, size_t len) CAIRN_WUR;
/* Decodes strictly (rejects padding and characters outside the alphabet).
 * *out is malloc'd (caller frees). Returns 0 or CAIRN_EINVAL/CAIRN_ENOMEM. */
int b64url_decode(const char *in, size_t in_len, uint8_t **out, size_t *out_len) CAIRN_WUR;
/* Lower-case hex into out (2*len+1 bytes). */
void hex_encode(const uint8_t *in, size_t len, char *out);
/* Decodes hex (either case) into out (cap bytes); returns length or -1. */
int hex_decode(const char *in, uint8_t *out, size_t cap);

/* ---- files ---- */
/* Reads a whole file (at most max bytes) into a malloc'd buffer with a NUL
 * appended (not counted in *len). Returns 0, CAIRN_ENOENT, CAIRN_EIO or CAIRN_ETOOBIG. */
int fs_read(const char *path, size_t max, char **out, size_t *len) CAIRN_WUR;
/* Writes data to path atomically (tmp file, fsync, rename) with the given mode. Returns
 * 0, CAIRN_ENOSPACE (the disk is full, or the quota used up), CAIRN_EIO or as below. */
int fs_write_atomic(const char *path, const void *data, size_t len, unsigned mode) CAIRN_WUR;
/* fs_write_atomic's flags. FS_NO_SYNC: no fsync (readers still never see a partial
 * file; durability is the caller's, e.g. one syncfs after a batch). FS_MKDIRS: create
 * the missing parent directories (0755). */
#define FS_NO_SYNC 1
#define FS_MKDIRS 2
/* fs_write_atomic with flags and, when mtime > 0, the file's access and modification
 * times set to mtime before it is renamed into place (a web server then says
 * Last-Modified: mtime). The temporary file is path.tmp.PID, in the same directory:
 * two threads of one process must not write the same path at once. */
int fs_write_atomic_ex(const char *path, const void *data, size_t len, unsigned mode, int flags,
		       time_t mtime) CAIRN_WUR;
/* fs_write_atomic_ex of name in the directory dfd (AT_FDCWD: the working directory),
 * no directory created: the temporary is opened with openat(O_CREAT|O_EXCL|O_NOFOLLOW)
 * and renamed over name with renameat. Returns 0, CAIRN_ENOENT (name's directory is
 * missing), CAIRN_EINVAL (name too long), CAIRN_ENOSPACE (the disk is full) or CAIRN_EIO. */
int fs_write_at(int dfd, const char *name, const void *data, size_t len, unsigned mode,
		int flags, time_t mtime) CAIRN_WUR;
/* mkdir -p with mode for the created leaf. */
int fs_mkdirs(const char *path, unsigned mode) CAIRN_WUR;
/* malloc'd "dir/rel", or a copy of rel when it is absolute. */
char *fs_join(const char *dir, const char *rel) CAIRN_WUR;
int fs_exists(const char *path);
/*
 * Opens path for reading only when it is a regular file: opened O_NONBLOCK|O_NOCTTY
 * (a FIFO or device neither blocks the open nor becomes a terminal), checked by fstat,
 * then back to blocking reads. *fd (close-on-exec) is the caller's to close; -1 on error.
 * Returns 0, CAIRN_ENOENT, CAIRN_EINVAL (not a regular file) or CAIRN_EIO.
 */
int fs_open_regular(const char *path, int *fd) CAIRN_WUR;
/* fs_read of a regular file only (fs_open_regular): 0, CAIRN_ENOENT, CAIRN_EINVAL (not a
 * regular file), CAIRN_EIO, CAIRN_ENOMEM or CAIRN_ETOOBIG. */
int fs_read_regular(const char *path, size_t max, char **out, size_t *len) CAIRN_WUR;

/* ---- published trees after a crash (pubtree.c) ---- */
/* 1 when name is a temporary of fs_write_atomic_ex (fs.c) ("BASE.tmp.PID") whose process is
 * gone, *base_len then BASE's length; 0 for any other name and for a live process's
 * temporary (this process's included: it may be writing it right now). */
int fs_tmp_stray(const char *name, size_t *base_len);
/* 1 when the n bytes at s (n > 0, no NUL among them) are all in set. */
int pubtree_in_set(const char *s, size_t n, const char *set);
/* The characters of an issuer's name in a tree's file names (crl/NAME.crl, ca/NAME.crt). */
#define PUBTREE_ISSUER_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
/* Opens dir, a tree to prune (pruning deletes, docs/security.md): it must be a directory
 * of this user and not a symlink. *fd the descriptor (O_NOFOLLOW; the caller closes it),
 * -1 when dir does not exist. Returns 0, CAIRN_EDENIED (a symlink, not a directory,
 * another user's), CAIRN_EINVAL (not absolute) or CAIRN_EIO. */
int pubtree_root(const char *dir, int *fd, cairn_err_t *err) CAIRN_WUR;
/*
 * Writing and deleting in a published tree: rel ("ca/NAME.crt", "ocsp/sha256/ab/...") is
 * reached from root (absolute, the operator's configured path) one component at a time
 * with openat(O_DIRECTORY|O_NOFOLLOW), so a directory symlink planted anywhere inside the
 * tree is refused, never followed (docs/security.md). pubtree_write creates the missing
 * directories (0755, root included) and writes as fs_write_at (mode 0644; flags FS_NO_SYNC and
 * PUBTREE_KEEP_SAME: nothing written when a regular file of len bytes modified at mtime
 * is there; *written, when not NULL, says whether it wrote). pubtree_unlink removes rel
 * (unlinkat). Both return 0, CAIRN_EDENIED (a symlink or non-directory on the way; err
 * names it), CAIRN_ENOENT (pubtree_unlink: nothing to remove), CAIRN_EINVAL ("." or
 * ".." in rel, or too long) or CAIRN_EIO, err saying which path. Thread-safe.
 */
#define PUBTREE_KEEP_SAME 0x100
int pubtree_write(const char *root, const char *rel, const void *data, size_t len, int flags,
		  time_t mtime, int *written, cairn_err_t *err) CAIRN_WUR;
int pubtree_unlink(const char *root, const char *rel, cairn_err_t *err);
#define PUBTREE_TREE 0    /* the root of a published tree: its crl/ and ca/ */
#define PUBTREE_CRL_DIR 1 /* a directory laid out as a tree's crl/ (crl.publish_dir) */
/*
 * Removes the stray temporaries (fs_tmp_stray) of the names the CRL side writes:
 * crl/NAME.crl, crl/NAME-delta.crl, crl/NAME/S.crl and ca/NAME.crt below root (borrowed
 * descriptor, from pubtree_root) as layout says. Nothing else: other names, directories
 * cairn does not make, symlinks (never followed: O_NOFOLLOW, lstat) stay. stop may be
 * NULL; non-zero ends the walk early. *removed is increased by the files removed.
 * Returns 0, or -1 when stopped.
 */
int pubtree_prune_at(int root, int layout, int (*stop)(void *), void *arg, uint64_t *removed);
/* pubtree_root and pubtree_prune_at of dir (a missing dir has nothing to prune);
 * *removed set to the files removed. Returns as pubtree_root. */
int pubtree_prune(const char *dir, int layout, int (*stop)(void *), void *arg,
		  uint64_t *removed, cairn_err_t *err) CAIRN_WUR;

/* ---- time ---- */
/* RFC 3339 UTC "2026-11-27T10:00:00Z" into out (at least 21 bytes). */
void time_rfc3339(time_t t, char *out, size_t cap);
/*
 * The one parser for every time that comes from outside (CLI options, query strings, JSON
 * fields, stored audit times). Strict RFC 3339 date-time, or a bare full-date (midnight
 * UTC): YYYY-MM-DD, then optionally T HH:MM:SS [.1-9 digits] (Z | +HH:MM | -HH:MM).
 * "T" and "Z" may be lower case; no space instead of T; month days checked (leap
 * years); hour 00-23, minute 00-59, offsets at most ±23:59 ("-00:00" reads as UTC).
 * Second 60 is accepted only where a leap second can be, 23:59:60 UTC once the offset
 * is applied, and reads as the next second (00:00:00 of the next day): POSIX time has
 * no leap seconds. Fractions are dropped. Never reads past the terminating NUL.
 * Returns 0 with *out set, or CAIRN_EINVAL (*out untouched).
 */
int time_parse(const char *s, time_t *out) CAIRN_WUR;
/* Parses a duration "1y" (365 days), "12w", "30d", "12h", "90m", "45s" (or plain
 * seconds): the one duration syntax of the config and the CLI. CAIRN_EINVAL otherwise. */
int duration_parse(const char *s, int64_t *seconds) CAIRN_WUR;
/* Current time in milliseconds from CLOCK_MONOTONIC. */
uint64_t time_mono_ms(void);
/* pthread_cond_init with CLOCK_MONOTONIC as the clock of its timed waits (time_mono_wait). */
void time_mono_cond_init(pthread_cond_t *cv);
/*
 * One wait on cv (made by time_mono_cond_init; mu held) for a signal or until deadline_ms
 * (a time_mono_ms value): the one timed wait of the code. Returns ETIMEDOUT once the
 * deadline is reached, else 0 (signalled, or woken for nothing: callers check what they
 * wait for and wait again). A timed wait that says it timed out before its deadline is
 * libfaketime's under FAKETIME_DONT_FAKE_MONOTONIC (the tests that step the wall clock
 * alone): it returns at once, measured, and a daemon of waiting threads then spun a whole
 * CPU; this naps up to 20 ms instead and returns 0.
 */
int time_mono_wait(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t deadline_ms);

/*
 * The wall clock can go back: a machine that ran ahead (a wrong hardware clock at boot, a
 * restored snapshot) is stepped back by NTP. What the daemon signed meanwhile then claims
 * a time ahead of the clock (an OCSP thisUpdate, a certificate's notBefore, a CRL's
 * thisUpdate), and relying parties refuse it as not yet valid. Such a time more than
 * TIME_AHEAD_SLACK seconds ahead of the clock counts as from the future: the signed object
 * is replaced (docs/operations.md, "When the clock goes back"). Certificates are
 * backdated by as much, so a step back of less than that changes nothing.
 */
#define TIME_AHEAD_SLACK 60
/* 1 when t is from the future at now (more than TIME_AHEAD_SLACK ahead of it). */
static inline int time_ahead(int64_t t, int64_t now)
{
	return t > now + TIME_AHEAD_SLACK;
}
/* A periodic job's next run, next, at most one interval (every) from now: one set further
 * away was set before the wall clock went back, and would wait as long as the step. */
static inline int64_t time_next_within(int64_t next, int64_t now, int64_t every)
{
	return next > now + every ? now + every : next;
}
/* The longest a thread waiting for a wall-clock deadline sleeps before it looks again: a
 * clock stepped forward (NTP, a VM resumed) is seen within this; each look is one
 * clock_gettime, so a dozen threads looking every 2 s cost nothing measurable. */
#define TIME_WALL_TICK 2
/*
 * Waits on cv (mu held; cv made by time_mono_cond_init) for a signal, or until the wall
 * clock reaches until, or TIME_WALL_TICK seconds, whichever comes first. The wait is
 * measured on the monotonic clock: a wait for a wall-clock deadline (a CLOCK_REALTIME
 * timed wait) lasts as long again as the clock goes back meanwhile, and the scheduler
 * would miss what the step made due (a certificate not yet valid, a CRL from the future)
 * for the length of the step. Callers loop and work out their next deadline again.
 */
void time_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t until);

/*
 * A periodic job (periodic.c): fn(arg, now) runs on a thread of its own at once, then
 * again once the wall clock reaches the time it returned, or `every` seconds after a run
 * whose next time lies further off (the clock went back since). The clock is looked at
 * every TIME_WALL_TICK seconds, so a clock moved forward is seen within that. A long run
 * asks util_periodic_stopping between its steps. *out is set before the first run.
 */
typedef struct util_periodic util_periodic_t;
typedef int64_t (*util_periodic_fn)(void *arg, int64_t now);
int util_periodic_start(util_periodic_fn fn, void *arg, int64_t every, util_periodic_t **out)
	CAIRN_WUR;
/* 1 once util_periodic_stop was called (p NULL: 0). Thread-safe. */
int util_periodic_stopping(const util_periodic_t *p);
/* Stops the thread (waiting for a run under way) and frees. NULL ok. */
void util_periodic_stop(util_periodic_t *p);

/*
 * A run of failures of something the daemon needs (the database's commits, the token's
 * signatures): failures no more than UTIL_FAIL_RUN_S apart are one run. /healthz names a
 * run while its latest failure is less than that old, or the latest attempt failed
 * (util_failrun_open). Not locked: its owner's lock guards it. (time.c)
 */
#define UTIL_FAIL_RUN_S 300
typedef struct util_failrun {
	uint64_t failures;     /* since the start */
	int64_t since, latest; /* the run's first and latest failure (wall clock); 0: none */
	int failing;           /* the latest attempt failed */
	char why[256];         /* what the latest failure said */
} util_failrun_t;
/* Counts a failure at now, saying why. */
void util_failrun_fail(util_failrun_t *f, int64_t now, const char *why);
/* An attempt succeeded: the run is no longer failing (it is still named for a while). */
static inline void util_failrun_ok(util_failrun_t *f)
{
	f->failing = 0;
}
/* 1 while the run should be named at now. */
int util_failrun_open(const util_failrun_t *f, int64_t now);

/*
 * Splits "host:port" or "[v6]:port" into host (no brackets, NUL-terminated in cap
 * bytes) and port (0..65535). A bare IPv6 address without brackets, an empty host
 * or port, and a host longer than cap-1 are CAIRN_EINVAL.
 */
int hostport_parse(const char *addr, char *host, size_t cap, int *port) CAIRN_WUR;
/* The rate-limit key of a client address ("addr:A"): IPv6 by its /64 (one host has them
 * all), an IPv4-mapped address as the IPv4 one. remote may be NULL. (net.c) */
void net_addr_key(const char *remote, char *key, size_t cap);
/*
 * Outgoing connections with one deadline (time_mono_ms) for the whole of them, however
 * slowly the peer answers (a read timeout alone lets a peer that sends a byte a second
 * hold the caller for hours). net.c.
 */
struct ssl_st; /* OpenSSL's SSL */
/* A non-blocking TCP connection to sa made by deadline: NULL and *fdp, else why
 * ("connect timeout", "connection refused", strerror) and *fdp -1. */
const char *net_connect(const struct sockaddr *sa, socklen_t salen, uint64_t deadline,
			int *fdp);
/* The TLS client handshake of ssl on fd (non-blocking) done by deadline: NULL, else why
 * ("handshake timeout", "connection closed during the handshake", "TLS handshake
 * failed"). */
const char *net_tls_connect(struct ssl_st *ssl, int fd, uint64_t deadline);

/* Secure random bytes (OpenSSL CSPRNG). Returns 0 or CAIRN_ECRYPTO. */
int util_random(uint8_t *buf, size_t len) CAIRN_WUR;
/* ---- serials that name their CRL shard (shard.c; crl.shards, docs/scaling.md) ---- */
/* Most CRL shards per issuer: the count is one byte of the serial. */
#define UTIL_SHARDS_MAX 255
/* A fresh 16-byte serial for a CA cutting its CRL into k shards (2..UTIL_SHARDS_MAX):
 * a marker byte, k, then 14 CSPRNG bytes (112 bits); *shard (may be NULL) = its shard.
 * Returns 0, CAIRN_EINVAL (k out of range) or CAIRN_ECRYPTO. */
int util_serial_sharded(uint8_t serial[16], unsigned k, unsigned *shard) CAIRN_WUR;
/* The shard (0..K-1) a serial made by util_serial_sharded names, and K in *k (may be
 * NULL); -1 for any other serial (those are on the full CRL only). A pure function of
 * the bytes: the same answer whatever crl.shards says today. */
int util_serial_shard(const uint8_t *serial, size_t len, unsigned *k);
/* Constant-time comparison: 1 when equal. */
int util_ct_equal(const void *a, const void *b, size_t len);

/* ---- failure rate limits (ratelimit.c) ---- */
/*
 * Failures per key (a client address, a user name) as a leaky bucket: limit at
 * once, then one more each window/limit (a GCRA cell: over a long time at most
 * limit per window). Bounded memory: a fixed table of about keys entries; when full the
 * least recently used key of a set is forgotten. Keys are text, cut to
 * RL_KEY_MAX - 1 bytes. Time is CLOCK_MONOTONIC. Thread-safe.
 */
#define RL_KEY_MAX 80
typedef struct util_ratelimit util_ratelimit_t;
/* Returns 0, CAIRN_EINVAL (keys 0, limit < 1, window < limit ms), CAIRN_ENOMEM or
 * CAIRN_ECRYPTO. *out owned by the caller: util_ratelimit_free. */
int util_ratelimit_new(size_t keys, int limit, uint64_t window_ms, util_ratelimit_t **out)
	CAIRN_WUR;
void util_ratelimit_free(util_ratelimit_t *rl);
/*
 * May key fail once more? Returns 0 (yes) or the milliseconds until it may.
 * *refused: when refused, the refusals of this lock-out so far, this one
 * included (1 = the first); when allowed after a lock-out, how many refusals it
 * had (reported once, then reset); else 0. Checking never counts as a failure.
 */
uint64_t util_ratelimit_check(util_ratelimit_t *rl, const char *key, unsigned *refused);
/* Counts one failure of key. */
void util_ratelimit_fail(util_ratelimit_t *rl, const char *key);
/* Gives back refused refusals that util_ratelimit_check reported at the end of a
 * lock-out and the caller could not record: the next check of key reports them again
 * (with any of a lock-out begun meanwhile). Counts no failure. */
void util_ratelimit_recount(util_ratelimit_t *rl, const char *key, unsigned refused);
/* Takes every count of refusals not yet reported (of lock-outs running or ended), each
 * key's once, and hands it to fn outside the table's lock; the counts are reset. For a
 * daemon stopping: what only memory held is recorded. */
void util_ratelimit_drain(util_ratelimit_t *rl,
			  void (*fn)(void *arg, const char *key, unsigned refused), void *arg);

/* ---- JSON from outside ---- */
struct json_t;
/* Bounds on a JSON document from outside; a field <= 0 takes its default. The daemon
 * sets them from server.max_json_depth and the route's body limit. */
typedef struct util_json_limits {
	int max_depth;    /* nesting of arrays/objects ({"a":[1]} has depth 2) */
	long max_bytes;   /* length of the text */
} util_json_limits_t;
#define UTIL_JSON_DEPTH_DEFAULT 32
#define UTIL_JSON_BYTES_DEFAULT 65536
/*
 * The one parser of outside JSON (request bodies, JWS protected headers and payloads,
 * inner JWS, EAB bindings): len bytes (no NUL needed), at most lim->max_bytes long and
 * lim->max_depth deep (lim NULL: the defaults), duplicate keys refused (they are
 * ambiguous: jansson would keep the last). *out is a new reference (caller
 * json_decref). Returns 0, CAIRN_EINVAL (not JSON, duplicate key) or CAIRN_ETOOBIG
 * (too long, too deep), with a one-line reason in why.
 */
int util_json_parse(const char *buf, size_t len, const util_json_limits_t *lim,
		    struct json_t **out, char *why, size_t why_cap) CAIRN_WUR;

/*
 * The one way outside bytes (a path, a header, a user name, a CSR field, a log message)
 * become a JSON string, for audit details and logs. Valid UTF-8 is kept as it is; each
 * byte that is not part of a valid UTF-8 sequence (a stray continuation byte, a truncated
 * or overlong sequence, a surrogate, a code point past U+10FFFF) becomes U+FFFD, so
 * nothing is dropped silently and the result always encodes. Control characters are
 * kept: JSON escapes them ("\n", "\u0001"), so a newline can never end a log line.
 * s NULL gives "". Returns a new reference (caller json_decref), NULL only when out of
 * memory.
 */
struct json_t *util_json_text(const char *s) CAIRN_WUR;
/* 1 when s is valid UTF-8 (the rules util_json_text applies), else 0. */
int util_utf8_valid(const char *s);

/* ---- CSV (csv.c) ---- */
/* Writes one CSV cell (s NULL = empty) and "," or, when last, CRLF: RFC 4180 quoting
 * when s holds , " CR or LF, and a leading ' when a spreadsheet would read s as a
 * formula (= + - @ tab CR LF after optional spaces: OWASP CSV injection). Returns 0 or
 * -1 on a write error. */
int util_csv_cell(FILE *out, const char *s, int last);

/* ---- HTTP replies (protocol code fills these; server/ sends them) ---- */
#define HTTP_REPLY_MAX_HEADERS 6
typedef struct http_later http_later_t;

typedef struct http_reply {
	int status;               /* HTTP status code (0 while later is set) */
	const char *content_type; /* static string */
	char *body;               /* malloc'd, owned by the reply */
	size_t body_len;
	int secret;               /* the body holds a secret (a generated private key): it is
	                             wiped (OPENSSL_cleanse) before it is freed, here or by
	                             whoever sends it; http_reply_set resets it */
	char *location;           /* optional malloc'd Location header */
	int retry_after;          /* seconds; 0 = no Retry-After header */
	const char *www_authenticate; /* static challenge for 401 replies, or NULL */
	/* Extra headers (caching headers of OCSP/CRL answers...): set with http_reply_header. */
	struct {
		char name[32];
		char value[512]; /* ACME Link headers carry full URLs */
	} headers[HTTP_REPLY_MAX_HEADERS];
	int n_headers;
	http_later_t *later;      /* set: no reply yet, finished when fired (http_later_new) */
} http_reply_t;

/*
 * A reply finished later: a handler that waits for an event (a challenge answer waiting
 * for its validation) sets reply->later = http_later_new(finish, arg, drop), answers
 * nothing else, and hands the later to whoever will call http_later_fire, exactly once,
 * from any thread (firing at once is fine). The listener parks the connection meanwhile
 * without holding a worker thread (http_later_park), and once it is fired calls
 * http_later_finish: finish(arg, r) on the same reply, with the headers set so far, then
 * sends it. drop(arg) (may be NULL) frees arg when both sides are done.
 */
typedef void (*http_later_fn)(void *arg, http_reply_t *r);
http_later_t *http_later_new(http_later_fn finish, void *arg, void (*drop)(void *arg));
void http_later_fire(http_later_t *l);
/* The listener's side. park: 1 when the connection was suspended (suspend(conn) is called
 * under the later's lock, so a fire's resume(conn) always comes after it), 0 when it was
 * already fired (finish now). finish: builds the reply. abandon: the listener lets go
 * without finishing (the connection went away). Each of finish/abandon once. */
int http_later_park(http_later_t *l, void (*suspend)(void *conn), void (*resume)(void *conn),
		    void *conn) CAIRN_WUR;
void http_later_finish(http_later_t *l, http_reply_t *r);
void http_later_abandon(http_later_t *l);

/* Adds a header "name: value" (formatted). Returns 0, or CAIRN_ETOOBIG when the
 * reply already has HTTP_REPLY_MAX_HEADERS or name/value do not fit (nothing added). */
int http_reply_header(http_reply_t *r, const char *name, const char *fmt, ...) CAIRN_PRINTF(3, 4);
/* A 405's Allow header (RFC 9110 §15.5.6) built from the methods the resource takes:
 * adds method to allow (cap bytes, "" to start) unless it is there; with_head: a GET
 * there answers HEAD too, and is listed as "GET, HEAD". */
void http_allow_add(char *allow, size_t cap, const char *method, int with_head);
/* 1 when a request's Content-Type header (may be NULL) is the media type type: the same
 * letters in any case (RFC 9110 §8.3.1), then the end or parameters (";", white space);
 * "application/jsonx" is not application/json. Every channel's body check uses it. */
int http_media_type_is(const char *header, const char *type);
/* RFC 7231 IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") into out (at least 30 bytes). */
void time_http_date(time_t t, char *out, size_t cap);

/* An empty reply, as `= { 0 }` makes one but for the header slots past n_headers, which
 * nothing reads: a listener sets one up per call (two or three a request), and zeroing
 * the 3.3 KiB of slots each time was a cost every cached OCSP answer paid. */
void http_reply_init(http_reply_t *r);
/* Frees the reply's owned fields (a secret body wiped first) and empties it (init). */
void http_reply_clear(http_reply_t *r);
/* Sets an RFC 7807 problem document (application/problem+json):
 * type is a URI (e.g. "urn:ietf:params:acme:error:malformed") or NULL for "about:blank".
 * The detail (cut to 1023 bytes) may hold any bytes: what is not valid UTF-8 becomes
 * U+FFFD (util_json_text), so outside input echoed in it never turns the answer into a 500. */
void http_reply_problem(http_reply_t *r, int status, const char *type, const char *fmt, ...)
	CAIRN_PRINTF(4, 5);
/* Takes ownership of body (malloc'd). */
void http_reply_set(http_reply_t *r, int status, const char *content_type, char *body, size_t len);
/* Serialises json (borrowed) as the body with application/json (or the given type). */
void http_reply_json(http_reply_t *r, int status, const char *content_type, const void *json);

#endif
