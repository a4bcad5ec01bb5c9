/* SPDX-License-Identifier: MIT */
/* Private to cli/: what `cairn backup` writes and `cairn restore` reads back — a tar.xz made
 * by GNU tar, the names it may hold, its manifest, and the file walks both sides share. */
#ifndef CAIRN_CLI_ARCHIVE_H
#define CAIRN_CLI_ARCHIVE_H

#include <stddef.h>
#include <sys/stat.h>

#define BK_MANIFEST "MANIFEST.sha256" /* sha256sum format: "HEX  NAME\n" per file */
#define BK_INFO "BACKUP.json"         /* what was backed up, from where, when */
#define BK_DB "db/data.mdb"           /* the compacted LMDB copy */
#define BK_FORMAT "cairn-backup"
#define BK_VERSION 1
#define BK_MAX_FILES 100000
#define BK_NAME_MAX 255

/* Parses the two options both commands take, --a VALUE and --b VALUE, both required,
 * into *va and *vb (borrowed from argv), and, when flag is not NULL, the option --flag
 * (no value) into *flag_set (1 when given). CLI_OK or a usage error (CLI_USAGE, printed). */
int bk_parse_opts(const char *cmd, int argc, char **argv, const char *a, const char **va,
		  const char *b, const char **vb, const char *flag, int *flag_set);

/*
 * 1 when rel may stand in an archive: relative, '/'-separated components of
 * [A-Za-z0-9._-] that start with a letter, digit or '_' (so no ".", "..", hidden
 * or empty component), at most BK_NAME_MAX bytes, and not a runtime file of a data
 * directory (cairn.lock, serve.json). Anything else is refused by restore and
 * left out by backup.
 */
int bk_name_ok(const char *rel);

/* SHA-256 of the regular file at path (a symbolic link is refused) as 64 lower-case hex
 * digits into hex (65 bytes); *size (may be NULL) gets its length. 0 or CAIRN_EIO. */
int bk_sha256_file(const char *path, char hex[65], long long *size);
/* The same over an open descriptor, read from offset 0 to the end. */
int bk_sha256_fd(int fd, char hex[65], long long *size);

/*
 * Calls fn for every entry below root (root itself excluded), parents before their
 * children, names in byte order; links are not followed (st is from lstat). rel is
 * the path below root. fn returns 0 to go on, BK_WALK_SKIP (for a directory) to not
 * descend, anything else to stop the walk with that value. Returns 0, fn's value or
 * CAIRN_EIO (a directory could not be read).
 */
#define BK_WALK_SKIP 1
typedef int (*bk_walk_fn)(const char *rel, const struct stat *st, void *arg);
int bk_walk(const char *root, bk_walk_fn fn, void *arg);

/* Removes path and everything below it without following links. Missing is fine. */
void bk_rmtree(const char *path);
/* Creates the directories leading to root/rel (not rel itself), 0700. 0 or CAIRN_EIO. */
int bk_mkparents(const char *root, const char *rel);
/* Copies the regular file src to dst (created 0600, must not exist), fsynced.
 * 0 or CAIRN_EIO. */
int bk_copy_file(const char *src, const char *dst);

/*
 * One run of GNU tar. stdin: in_fd when >= 0, else feed (feed_len bytes) through a
 * pipe, else /dev/null. stdout: out_fd when >= 0, else captured into out (at most
 * out_cap bytes; more is an error). stderr is captured and its first line kept in err.
 * tar runs with LC_ALL=C and without TAR_OPTIONS or XZ_* from the caller's environment
 * (xz_opt, when not NULL, becomes XZ_OPT). With bound_s > 0, tar still running bound_s
 * seconds after its start is killed (xz, its child, dies of the broken pipe).
 */
typedef struct bk_tar {
	int in_fd;
	const char *feed;
	size_t feed_len;
	int out_fd;
	size_t out_cap;
	const char *xz_opt;
	unsigned long long bound_s;
	char *out;      /* captured stdout (malloc'd, NUL-terminated; caller frees) */
	size_t out_len;
	char err[256];  /* first line tar (or xz) wrote on stderr, or how it died */
} bk_tar_t;

/* A time bound that grows with a file's size: base_s plus per_gib_s for each GiB of
 * size_bytes (counted in whole MiB). Restore's tar runs and its database check. */
unsigned long long bk_size_bound_s(unsigned long long base_s, unsigned long long per_gib_s,
				   off_t size_bytes);

/* Runs `tar args...` (args NULL-terminated, without "tar"). Returns 0 when tar exited
 * 0, CAIRN_EIO otherwise (t->err says why; "... took more than N s" at the bound),
 * CAIRN_ETOOBIG (stdout over out_cap). */
int bk_tar_run(const char *const *args, bk_tar_t *t);

/*
 * Reads the LMDB database in dbdir (an unpacked archive's db/) whole, every entry of
 * every table, and verifies its audit chain, in a child process: a damaged page may
 * make LMDB read past its map (SIGBUS) or loop. The child has a time bound that grows
 * with the size of data.mdb (cli/archive_db.c says how much and why) and is killed when
 * it passes it. Returns 0 when the database reads whole; CAIRN_EINVAL when it is damaged
 * (the child failed, died of a signal or ran out of time), CAIRN_EIO when the check
 * could not run; why (why_len bytes) gets one line saying which, naming BK_DB. For a
 * single-threaded caller (the child runs LMDB after fork); no child is left behind.
 */
int bk_db_check(const char *dbdir, char *why, size_t why_len);

#endif
