/* SPDX-License-Identifier: MIT */
/* `cairn backup`: a hot copy of the whole CA — database, SoftHSM2 token, config, policy, PINs,
 * certificates — into one tar.xz with a SHA-256 manifest, while the daemon keeps serving. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "audit/audit.h"
#include "cli/archive.h"
#include "cli/cli.h"
#include "config.h"
#include "db/db.h"
#include "server/server.h"

/* How often the token copy is retried while SoftHSM2 rewrites files, and the pause
 * between copying and re-reading (a rewrite in flight ends within it). */
#define TOKEN_TRIES 20
#define TOKEN_SETTLE_MS 100

typedef struct backup {
	char *dir;               /* realpath of --dir */
	cairn_config_t *cfg;
	char *stage;             /* staging directory beside the output (0700) */
	char *tmp;               /* the archive while it is written, beside the output */
	char token_rel[PATH_MAX]; /* SoftHSM2 token directory below dir, "" = none */
	char conf_rel[PATH_MAX]; /* its softhsm2.conf below dir */
	json_t *names;           /* archive members, in order */
	uint64_t certs, audit_events, audit_seq;
	char audit_hash[65];
	int lock_fd;             /* >= 0: we hold DIR's lock, no daemon runs */
	time_t created;
	cairn_err_t err;
} backup_t;

static char *path2(const char *a, const char *b)
{
	char *p;

	return asprintf(&p, "%s/%s", a, b) < 0 ? NULL : p;
}

/* rel (below b->dir) of an absolute path inside it, or NULL when it is outside. */
static const char *below_dir(const backup_t *b, const char *abs)
{
	size_t n = strlen(b->dir);

	return strncmp(abs, b->dir, n) == 0 && abs[n] == '/' ? abs + n + 1 : NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- the database: LMDB's compacted copy, then checked where it landed ---- */

static int stage_db(backup_t *b)
{
	char *src = path2(b->dir, "db"), *dst = path2(b->stage, "db"), *file = NULL, *lock = NULL;
	audit_verify_result_t res = { 0 };
	uint8_t hash[32];
	db_t *db = NULL;
	db_txn_t *txn = NULL;
	int rc = CAIRN_ENOMEM;

	file = dst ? path2(dst, "data.mdb") : NULL;
	lock = dst ? path2(dst, "lock.mdb") : NULL;
	if (src == NULL || file == NULL || lock == NULL)
		goto out;
	if (mkdir(dst, 0700) != 0) {
		rc = cairn_err_set(&b->err, CAIRN_EIO, "mkdir %s: %s", dst, strerror(errno));
		goto out;
	}
	if ((rc = db_open(src, &db, &b->err)) != 0 || (rc = db_backup(db, file, &b->err)) != 0)
		goto out;
	db_close(db);
	/* The copy must be what restore will trust: open it, walk its audit chain. */
	if ((rc = db_open(dst, &db, &b->err)) != 0)
		goto out;
	if ((rc = audit_verify(db, &res)) != 0) {
		rc = cairn_err_set(&b->err, rc, "the database's audit chain is broken at event %llu "
				   "(%s): `cairn audit verify --dir %s`", (unsigned long long)res.first_bad,
				   res.reason, b->dir);
		goto out;
	}
	b->audit_events = res.count;
	if ((rc = audit_head(db, &b->audit_seq, hash, &b->err)) != 0)
		goto out;
	hex_encode(hash, sizeof(hash), b->audit_hash);
	if ((rc = db_read_begin(db, &txn)) != 0) {
		cairn_err_set(&b->err, rc, "read the database copy: %s", cairn_strerror(rc));
		goto out;
	}
	b->certs = db_count(txn, DB_CERTS);
	json_array_append_new(b->names, json_string(BK_DB));
out:
	db_txn_end(txn);
	db_close(db);
	if (lock != NULL)
		unlink(lock); /* made by opening the copy; not part of a backup */
	free(src);
	free(dst);
	free(file);
	free(lock);
	return rc;
}

/* ---- the SoftHSM2 token ---- */

/* directories.tokendir of a softhsm2.conf, malloc'd, or NULL. */
static char *conf_tokendir(const char *conf)
{
	char *text = NULL, *line, *save = NULL, *dir = NULL;
	size_t len;

	if (fs_read(conf, 1 << 20, &text, &len) != 0)
		return NULL;
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *v;
		size_t n;
		line += strspn(line, " \t");
		if (strncmp(line, "directories.tokendir", 20) != 0)
			continue;
		v = line + 20;
		v += strspn(v, " \t");
		if (*v++ != '=')
			continue;
		v += strspn(v, " \t");
		for (n = strlen(v); n > 0 && strchr(" \t\r", v[n - 1]) != NULL; n--)
			;
		free(dir);
		dir = strndup(v, n);
	}
	free(text);
	return dir;
}

/* Finds the embedded token: softhsm2.conf and its tokendir must both live inside DIR. */
static int find_token(backup_t *b)
{
	char *conf = NULL, *conf_real = NULL, *tokdir = NULL, *tok_real = NULL;
	const char *rel;
	int rc = 0;

	if (b->cfg->softhsm_conf[0] == '\0')
		return 0; /* another PKCS#11 module: its keys are not files of ours */
	conf = config_path(b->cfg, b->cfg->softhsm_conf);
	conf_real = conf ? realpath(conf, NULL) : NULL;
	tokdir = conf_real ? conf_tokendir(conf_real) : NULL;
	tok_real = tokdir ? realpath(tokdir, NULL) : NULL;
	if (conf_real == NULL || (rel = below_dir(b, conf_real)) == NULL) {
		rc = cairn_err_set(&b->err, CAIRN_ECONFIG, "token.softhsm_conf %s: not a file inside %s",
				   conf ? conf : "?", b->dir);
		goto out;
	}
	snprintf(b->conf_rel, sizeof(b->conf_rel), "%s", rel);
	if (tok_real == NULL || (rel = below_dir(b, tok_real)) == NULL || !bk_name_ok(rel)) {
		rc = cairn_err_set(&b->err, CAIRN_ECONFIG,
				   "%s: directories.tokendir %s is not a directory inside %s "
				   "(back up that token with the daemon stopped)",
				   conf_real, tokdir ? tokdir : "(missing)", b->dir);
		goto out;
	}
	snprintf(b->token_rel, sizeof(b->token_rel), "%s", rel);
out:
	free(conf);
	free(conf_real);
	free(tokdir);
	free(tok_real);
	return rc;
}

typedef struct token_pass {
	backup_t *b;
	const char *src, *dst;
	int verify;       /* 0: copy src to dst; 1: compare src with dst */
	size_t files;
	char changed[PATH_MAX + 64]; /* verify: which file differs, vanished or looks half-written */
} token_pass_t;

static int token_file(const char *rel, const struct stat *st, void *arg)
{
	token_pass_t *p = arg;
	char from[PATH_MAX], to[PATH_MAX], a[65], c[65];
	const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
	long long size = 0;
	size_t n = strlen(base);

	if (!bk_name_ok(rel) || !(S_ISDIR(st->st_mode) || S_ISREG(st->st_mode)))
		return cairn_err_set(&p->b->err, CAIRN_EINVAL, "token file %s/%s: %s", p->src, rel,
				     S_ISREG(st->st_mode) || S_ISDIR(st->st_mode)
					     ? "a name the archive cannot carry"
					     : "not a regular file");
	snprintf(from, sizeof(from), "%s/%s", p->src, rel);
	snprintf(to, sizeof(to), "%s/%s", p->dst, rel);
	if (S_ISDIR(st->st_mode))
		return p->verify || mkdir(to, 0700) == 0 || errno == EEXIST
			       ? 0
			       : cairn_err_set(&p->b->err, CAIRN_EIO, "mkdir %s: %s", to, strerror(errno));
	p->files++;
	if (!p->verify) {
		if (bk_copy_file(from, to) == 0)
			return 0;
		if (errno != ENOENT)
			return cairn_err_set(&p->b->err, CAIRN_EIO, "copy %s: %s", from, strerror(errno));
		snprintf(p->changed, sizeof(p->changed), "%s vanished while it was copied", rel);
		return 0;
	}
	if (p->changed[0] != '\0')
		return 0;
	if (bk_sha256_file(from, a, &size) != 0 || bk_sha256_file(to, c, NULL) != 0 ||
	    strcmp(a, c) != 0)
		snprintf(p->changed, sizeof(p->changed), "%s changed while it was copied", rel);
	/* SoftHSM2 truncates before it writes: an empty object is one caught mid-write
	 * (or a token already damaged: then no copy will do). */
	else if (size == 0 && ((n > 7 && strcmp(base + n - 7, ".object") == 0) ||
			       strcmp(base, "generation") == 0))
		snprintf(p->changed, sizeof(p->changed), "%s is empty", rel);
	return 0;
}

/* Names the staged token files as archive members. */
static int token_member(const char *rel, const struct stat *st, void *arg)
{
	backup_t *b = arg;
	char name[PATH_MAX];

	if (!S_ISREG(st->st_mode))
		return 0;
	if (snprintf(name, sizeof(name), "%s/%s", b->token_rel, rel) >= (int)sizeof(name))
		return cairn_err_set(&b->err, CAIRN_ETOOBIG, "%s/%s: name too long", b->token_rel, rel);
	return json_array_append_new(b->names, json_string(name)) == 0 ? 0 : CAIRN_ENOMEM;
}

/*
 * SoftHSM 2.6.1 rewrites token files in place (truncate, then a buffered write after
 * it has dropped its lock): a reader can catch a file empty or half-written, and its
 * locks do not prevent that. The daemon logs in once at start-up, so while it runs the
 * files change only when a key is made (renewal, rotation). So: copy the whole token,
 * wait TOKEN_SETTLE_MS, re-read every file and compare with the copy; a difference, a
 * file gone or added, or an empty object means a write was in flight: copy again.
 */
static int stage_token(backup_t *b)
{
	char *src = path2(b->dir, b->token_rel), *dst = path2(b->stage, b->token_rel);
	token_pass_t copy, check;
	int rc = CAIRN_ENOMEM, tries;

	if (src == NULL || dst == NULL)
		goto out;
	for (tries = 0; tries < TOKEN_TRIES; tries++) {
		bk_rmtree(dst);
		if (bk_mkparents(b->stage, b->token_rel) != 0 || mkdir(dst, 0700) != 0) {
			rc = cairn_err_set(&b->err, CAIRN_EIO, "mkdir %s: %s", dst, strerror(errno));
			goto out;
		}
		copy = (token_pass_t){ b, src, dst, 0, 0, "" };
		check = (token_pass_t){ b, src, dst, 1, 0, "" };
		if ((rc = bk_walk(src, token_file, &copy)) != 0)
			goto out;
		sleep_ms(TOKEN_SETTLE_MS);
		if ((rc = bk_walk(src, token_file, &check)) != 0)
			goto out;
		if (copy.changed[0] == '\0' && check.changed[0] == '\0' &&
		    check.files == copy.files && copy.files > 0)
			break;
		if (copy.changed[0] != '\0')
			memcpy(check.changed, copy.changed, sizeof(check.changed));
		else if (check.changed[0] == '\0')
			snprintf(check.changed, sizeof(check.changed), "%zu files, then %zu",
				 copy.files, check.files);
	}
	if (tries < TOKEN_TRIES && (rc = bk_walk(dst, token_member, b)) != 0)
		goto out;
	if (tries == TOKEN_TRIES) {
		rc = cairn_err_set(&b->err, CAIRN_EBUSY,
				   "no stable copy of the token in %s after %d tries (last: %s): "
				   "SoftHSM2 kept writing (a key being made?), or the token is "
				   "damaged", src, TOKEN_TRIES, check.changed);
		goto out;
	}
	rc = 0;
out:
	free(src);
	free(dst);
	return rc;
}

/* ---- everything else in DIR ---- */

static int add_member(const char *rel, const struct stat *st, void *arg)
{
	backup_t *b = arg;
	char from[PATH_MAX], to[PATH_MAX];

	if (strcmp(rel, "db") == 0 || strcmp(rel, b->token_rel) == 0)
		return BK_WALK_SKIP; /* copied on their own terms */
	if (strcmp(rel, "cairn.lock") == 0 || strcmp(rel, "serve.json") == 0 ||
	    strcmp(rel, BK_INFO) == 0 || strcmp(rel, BK_MANIFEST) == 0)
		return 0; /* the running daemon's, or the archive's own */
	if (!bk_name_ok(rel) || !(S_ISREG(st->st_mode) || S_ISDIR(st->st_mode))) {
		fprintf(stderr, "cairn backup: left out %s/%s: %s\n", b->dir, rel,
			bk_name_ok(rel) ? "not a regular file or directory"
					: "a name the archive does not carry");
		return BK_WALK_SKIP;
	}
	if (S_ISDIR(st->st_mode))
		return 0;
	snprintf(from, sizeof(from), "%s/%s", b->dir, rel);
	snprintf(to, sizeof(to), "%s/%s", b->stage, rel);
	if (bk_mkparents(b->stage, rel) != 0 || bk_copy_file(from, to) != 0)
		return cairn_err_set(&b->err, CAIRN_EIO, "copy %s: %s", from, strerror(errno));
	json_array_append_new(b->names, json_string(rel));
	return 0;
}

static int has_member(const backup_t *b, const char *rel)
{
	size_t i;

	for (i = 0; i < json_array_size(b->names); i++)
		if (strcmp(json_string_value(json_array_get(b->names, i)), rel) == 0)
			return 1;
	return 0;
}

/* Paths in cairn.json outside DIR are not in the archive: say so (the module is the system's). */
static void warn_outside(const backup_t *b, json_t *v)
{
	const char *key;
	json_t *item;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, key, item)
			warn_outside(b, item);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
			warn_outside(b, item);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (s[0] == '/' && below_dir(b, s) == NULL && strcmp(s, b->cfg->token_module) != 0)
			fprintf(stderr, "cairn backup: not in the archive: %s (outside %s; back it "
				"up yourself)\n", s, b->dir);
	}
}

static int stage_info(backup_t *b)
{
	char ts[32], *text = NULL, *path = path2(b->stage, BK_INFO);
	json_t *doc;
	int rc = CAIRN_ENOMEM;

	time_rfc3339(b->created, ts, sizeof(ts));
	doc = json_pack("{s:s, s:i, s:s, s:s, s:s, s:o, s:o, s:I, s:I, s:s}", "format", BK_FORMAT,
			"version", BK_VERSION, "cairn", PACKAGE_VERSION, "created", ts, "source_dir",
			b->dir, "token_dir",
			b->token_rel[0] ? json_string(b->token_rel) : json_null(), "softhsm_conf",
			b->token_rel[0] ? json_string(b->conf_rel) : json_null(), "certificates",
			(json_int_t)b->certs, "audit_seq", (json_int_t)b->audit_seq, "audit_head",
			b->audit_hash);
	text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	if (text != NULL && path != NULL) {
		rc = fs_write_atomic(path, text, strlen(text), 0600);
		if (rc != 0)
			cairn_err_set(&b->err, rc, "write %s: %s", path, cairn_strerror(rc));
		else
			json_array_insert_new(b->names, 0, json_string(BK_INFO));
	}
	free(text);
	free(path);
	json_decref(doc);
	return rc;
}

/* MANIFEST.sha256 in sha256sum's format (so `sha256sum -c` checks an unpacked archive). */
static int stage_manifest(backup_t *b)
{
	char *path = path2(b->stage, BK_MANIFEST), hex[65], file[PATH_MAX];
	char *text = NULL;
	size_t len = 0, i;
	FILE *mem = open_memstream(&text, &len);
	int rc = CAIRN_ENOMEM;

	if (path == NULL || mem == NULL)
		goto out;
	for (i = 0; i < json_array_size(b->names); i++) {
		const char *rel = json_string_value(json_array_get(b->names, i));
		snprintf(file, sizeof(file), "%s/%s", b->stage, rel);
		if (bk_sha256_file(file, hex, NULL) != 0) {
			rc = cairn_err_set(&b->err, CAIRN_EIO, "read %s back", file);
			goto out;
		}
		fprintf(mem, "%s  %s\n", hex, rel);
	}
	fclose(mem);
	mem = NULL;
	if ((rc = fs_write_atomic(path, text, len, 0600)) != 0) {
		cairn_err_set(&b->err, rc, "write %s: %s", path, cairn_strerror(rc));
		goto out;
	}
	json_array_insert_new(b->names, 0, json_string(BK_MANIFEST));
out:
	if (mem != NULL)
		fclose(mem);
	free(text);
	free(path);
	return rc;
}

/* GNU tar writes the staged files (and only them: --no-recursion, names given) as a
 * tar.xz into fd. Measured: flipping each byte of a sample .tar.xz one at a time, xz
 * refused every one; gzip let 10 of 2537 through (header time and flags), hence xz. */
static int write_archive(backup_t *b, int fd)
{
	char mtime[32], *feed = NULL;
	size_t len = 0, i;
	FILE *mem = open_memstream(&feed, &len);
	bk_tar_t t = { .in_fd = -1, .out_fd = fd, .xz_opt = "-3" };
	const char *args[] = { "--create", "--xz", "--file=-", "--directory", b->stage,
			       "--no-recursion", "--null", "--verbatim-files-from", "--files-from=-",
			       "--format=posix", "--pax-option=delete=atime,delete=ctime",
			       "--owner=0", "--group=0", "--numeric-owner", "--mode=u=rw,go=",
			       mtime, NULL };
	int rc;

	if (mem == NULL)
		return cairn_err_set(&b->err, CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < json_array_size(b->names); i++)
		fprintf(mem, "%s%c", json_string_value(json_array_get(b->names, i)), '\0');
	fclose(mem);
	snprintf(mtime, sizeof(mtime), "--mtime=@%lld", (long long)b->created);
	t.feed = feed;
	t.feed_len = len;
	rc = bk_tar_run(args, &t);
	if (rc != 0)
		cairn_err_set(&b->err, rc, "tar: %s", t.err);
	else if (fsync(fd) != 0)
		rc = cairn_err_set(&b->err, CAIRN_EIO, "fsync %s: %s", b->tmp, strerror(errno));
	free(t.out);
	free(feed);
	return rc;
}

/* The event that says the keys were copied: through the daemon when it runs (this
 * command only reads its database), else written here under DIR's lock. */
static int record_backup(backup_t *b, const char *sum, long long size, uint64_t *seq)
{
	json_t *details = json_pack("{s:s, s:I, s:I, s:I, s:I}", "archive_sha256", sum, "bytes",
				    (json_int_t)size, "files", (json_int_t)json_array_size(b->names),
				    "certificates", (json_int_t)b->certs, "audit_seq",
				    (json_int_t)b->audit_seq);
	char *text = NULL, *dbdir = NULL, why[512];
	json_t *answer = NULL, *problem = NULL;
	cli_buf_t resp = { NULL, 0 };
	db_t *db = NULL;
	long status;
	int rc = CAIRN_ENOMEM;

	if (details == NULL)
		goto out;
	if (b->lock_fd >= 0) {
		audit_event_t ev = { .actor = "cli:backup", .action = "ca.backup", .details = details };
		dbdir = path2(b->dir, "db");
		if (dbdir != NULL && (rc = db_open(dbdir, &db, &b->err)) == 0)
			rc = audit_record(db, &ev, seq, &b->err);
		goto out;
	}
	if ((text = json_dumps(details, JSON_COMPACT)) == NULL)
		goto out;
	status = cli_admin_post(b->dir, "/audit/backups", text, &resp.data, &resp.len, why,
				sizeof(why));
	answer = status == 201 ? json_loadb(resp.data ? resp.data : "", resp.len, 0, NULL) : NULL;
	if (status < 0)
		rc = cairn_err_set(&b->err, CAIRN_EIO, "the daemon runs but cannot record the backup: %s",
				   why);
	else if (answer == NULL)
		rc = cairn_err_set(&b->err, CAIRN_EIO, "the daemon refused to record the backup "
				   "(HTTP %ld): %.200s", status, cli_problem(&resp, &problem));
	else
		*seq = (uint64_t)json_integer_value(json_object_get(answer, "seq")), rc = 0;
out:
	if (rc == CAIRN_ENOMEM && b->err.code == 0)
		cairn_err_set(&b->err, rc, "out of memory");
	db_close(db);
	json_decref(answer);
	json_decref(problem);
	json_decref(details);
	free(dbdir);
	free(text);
	free(resp.data);
	return rc;
}

/* The archive appears under its name only once complete, never over a file; the event
 * that records it comes next, and removes it again when it cannot be written. */
static int publish(backup_t *b, const char *out, const char *parent)
{
	int dfd;

	if (link(b->tmp, out) != 0)
		return cairn_err_set(&b->err, CAIRN_EIO, "%s: %s", out, strerror(errno));
	unlink(b->tmp);
	dfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* Checks --out: a new file whose directory exists and is not inside DIR. */
static int check_out(backup_t *b, const char *out, char **parent, char **base)
{
	char *a = strdup(out), *c = strdup(out);
	struct stat st;
	int rc = 0;

	if (out[0] == '\0') {
		free(a);
		free(c);
		return cairn_err_set(&b->err, CAIRN_EINVAL, "--out is empty: name the archive to write");
	}
	*parent = a ? realpath(dirname(a), NULL) : NULL;
	*base = c ? strdup(basename(c)) : NULL;
	if (*parent == NULL || *base == NULL || out[strlen(out) - 1] == '/')
		rc = cairn_err_set(&b->err, CAIRN_EINVAL, "--out %s: not a file in an existing "
				   "directory", out);
	else if (lstat(out, &st) == 0)
		rc = cairn_err_set(&b->err, CAIRN_EEXIST, "%s exists; refusing to overwrite it", out);
	else if (strcmp(*parent, b->dir) == 0 || below_dir(b, *parent) != NULL)
		rc = cairn_err_set(&b->err, CAIRN_EINVAL, "--out %s is inside the data directory %s",
				   out, b->dir);
	free(a);
	free(c);
	return rc;
}

int cli_backup(int argc, char **argv)
{
	backup_t b = { .lock_fd = -1 };
	const char *dir_arg, *out;
	char *parent = NULL, *base = NULL, sum[65];
	long long size = 0;
	uint64_t seq = 0;
	int rc, fd = -1;

	if ((rc = bk_parse_opts("backup", argc, argv, "dir", &dir_arg, "out", &out, NULL,
				 NULL)) != CLI_OK)
		return rc;
	b.created = time(NULL);
	b.names = json_array();
	if ((b.dir = realpath(dir_arg, NULL)) == NULL) {
		rc = cli_fail("backup", "%s: %s", dir_arg, strerror(errno));
		goto out;
	}
	if (b.names == NULL || config_load(b.dir, &b.cfg, &b.err) != 0 ||
	    check_out(&b, out, &parent, &base) != 0 || find_token(&b) != 0)
		goto failed;
	/* Our own lock when free (no daemon: the event is written here); busy = daemon runs. */
	b.lock_fd = server_lock_dir(b.dir, NULL);
	if (asprintf(&b.tmp, "%s/.%s.XXXXXX", parent, base) < 0)
		b.tmp = NULL;
	if (b.tmp == NULL || asprintf(&b.stage, "%s/.cairn-backup-XXXXXX", parent) < 0) {
		b.stage = NULL;
		cairn_err_set(&b.err, CAIRN_ENOMEM, "out of memory");
		goto failed;
	}
	if (mkdtemp(b.stage) == NULL) {
		free(b.stage);
		b.stage = NULL;
	} else if ((fd = mkstemp(b.tmp)) < 0) {
		free(b.tmp);
		b.tmp = NULL;
	}
	if (b.stage == NULL || b.tmp == NULL) {
		cairn_err_set(&b.err, CAIRN_EIO, "cannot write in %s: %s", parent, strerror(errno));
		goto failed;
	}
	/* The database first: whatever its snapshot names (a key, a certificate file) was
	 * made before it, so the token and files copied after it hold it too. */
	if (stage_db(&b) != 0 || (b.token_rel[0] && stage_token(&b) != 0))
		goto failed;
	warn_outside(&b, b.cfg->root);
	if (bk_walk(b.dir, add_member, &b) != 0) {
		if (b.err.code == 0)
			cairn_err_set(&b.err, CAIRN_EIO, "cannot read %s", b.dir);
		goto failed;
	}
	if (b.token_rel[0] && !has_member(&b, b.conf_rel)) {
		cairn_err_set(&b.err, CAIRN_EIO, "%s/%s was not copied", b.dir, b.conf_rel);
		goto failed;
	}
	if (stage_info(&b) != 0 || stage_manifest(&b) != 0 || write_archive(&b, fd) != 0)
		goto failed;
	if (bk_sha256_fd(fd, sum, &size) != 0) {
		cairn_err_set(&b.err, CAIRN_EIO, "read %s back", b.tmp);
		goto failed;
	}
	/* Linked first: an event recorded for an archive that then failed to appear would
	 * count a copy of the keys that does not exist. */
	if (publish(&b, out, parent) != 0)
		goto failed;
	if (record_backup(&b, sum, size, &seq) != 0) {
		unlink(out);
		goto failed;
	}
	printf("cairn backup: %s\n", out);
	printf("  files      %zu, each in %s (SHA-256)\n", json_array_size(b.names) - 1,
	       BK_MANIFEST);
	printf("  archive    %lld bytes, sha256 %s\n", size, sum);
	printf("  database   %llu certificates; audit chain intact, %llu events\n",
	       (unsigned long long)b.certs, (unsigned long long)b.audit_events);
	printf("  audited    event %llu (ca.backup)\n", (unsigned long long)seq);
	if (b.token_rel[0])
		printf("It holds the CA's private keys (the SoftHSM2 token in %s/) and their PIN: keep it\n"
		       "like the keys. `cairn restore --from %s --dir NEWDIR` brings it back.\n",
		       b.token_rel, out);
	else
		printf("The CA's keys are in the HSM (%s), not in the archive: back them up with the\n"
		       "HSM vendor's tools.\n", b.cfg->token_module);
	rc = CLI_OK;
	goto out;
failed:
	rc = cli_fail("backup", "%s", cairn_err_msg(&b.err));
out:
	if (fd >= 0) {
		close(fd);
		if (rc != CLI_OK)
			unlink(b.tmp);
	}
	if (b.stage != NULL)
		bk_rmtree(b.stage);
	if (b.lock_fd >= 0)
		close(b.lock_fd);
	config_free(b.cfg);
	json_decref(b.names);
	free(b.dir);
	free(b.stage);
	free(b.tmp);
	free(parent);
	free(base);
	return rc;
}
