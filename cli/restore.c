/* SPDX-License-Identifier: MIT */
/* `cairn restore`: checks a `cairn backup` archive member by member against its manifest,
 * unpacks it into a new data directory, points its paths there and audits the restore. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <jansson.h>

#include "audit/audit.h"
#include "cli/archive.h"
#include "cli/cli.h"
#include "db/db.h"
#include "server/server.h"

#define LIST_MAX (16 << 20)     /* tar's listing of an archive we accept */
#define MANIFEST_MAX (16 << 20)
/* What the members may add up to, as tar lists them, before anything is unpacked: at most
 * UNPACK_RATIO times the archive or UNPACK_FLOOR, whichever is more (a backup's xz gains
 * about 8x on a new CA's mostly empty pages, less on certificates and keys), and never
 * more than NEWDIR's file system has free. A decompression bomb is refused before anything
 * is unpacked, when tar has listed it or at the bound below. */
#define UNPACK_RATIO 100
#define UNPACK_FLOOR (64ULL << 20)
/* Each tar run over the archive (list, manifest, unpack) reads all of it through xz:
 * TAR_BASE_S plus TAR_PER_GIB_S per GiB of archive (counted in whole MiB), then it is
 * stopped. Measured on 2 CPUs: xz decompresses a backup-like archive at ~14 MB/s of
 * input, ~75 s a GiB, and zeros at ~345 MB/s of output; a bomb of 100 MiB of xz holding
 * ~690 GB of zeros would keep one run busy for ~33 min. */
#define TAR_BASE_S 60ULL
#define TAR_PER_GIB_S 600ULL

typedef struct restore {
	char *dir;          /* realpath of --dir */
	char *stage;        /* DIR/.restore-XXXXXX while the archive is checked */
	int created;        /* we made DIR (else it was empty) */
	int lock_fd;
	json_t *members;    /* archive member name -> true */
	json_t *manifest;   /* MANIFEST.sha256: member name -> its SHA-256 (hex) */
	unsigned long long listed_bytes; /* the members' sizes, as tar lists them */
	unsigned long long tar_bound_s;  /* how long one tar run over the archive may take */
	json_t *info;       /* BACKUP.json */
	char sum[65];       /* SHA-256 of the archive */
	uint64_t certs, audit_events, seq;
	int keep_paths;     /* --keep-paths: publishing paths outside DIR stay as they were */
	json_t *cleared;    /* lines saying which of them were cleared */
	cairn_err_t err;
} restore_t;

static int refuse(restore_t *r, const char *fmt, ...) CAIRN_PRINTF(2, 3);

/* "archive refused: ..." — every check on what the archive holds fails through here. */
static int refuse(restore_t *r, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cairn_err_set(&r->err, CAIRN_EINVAL, "archive refused: %s", msg);
}

/* NEWDIR must be new or empty: a restore never mixes with what is there. */
static int prepare_dir(restore_t *r, const char *arg)
{
	struct stat st;
	DIR *d;
	struct dirent *e;

	if (lstat(arg, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return cairn_err_set(&r->err, CAIRN_EEXIST, "%s exists and is not a directory",
					     arg);
		if ((d = opendir(arg)) == NULL)
			return cairn_err_set(&r->err, CAIRN_EIO, "%s: %s", arg, strerror(errno));
		while ((e = readdir(d)) != NULL)
			if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
				break;
		closedir(d);
		if (e != NULL)
			return cairn_err_set(&r->err, CAIRN_EEXIST,
					     "%s is not empty; restore into a new directory", arg);
	} else if (fs_mkdirs(arg, 0700) != 0) {
		return cairn_err_set(&r->err, CAIRN_EIO, "cannot create %s: %s", arg, strerror(errno));
	} else {
		r->created = 1;
	}
	if ((r->dir = realpath(arg, NULL)) == NULL || chmod(r->dir, 0700) != 0)
		return cairn_err_set(&r->err, CAIRN_EIO, "%s: %s", arg, strerror(errno));
	return 0;
}

/* One line of `tar -tv`: "MODE OWNER SIZE DATE TIME NAME"; only regular files pass. */
static int list_line(restore_t *r, char *line)
{
	char *p = line, *name, *end;
	unsigned long long size = 0;
	int field;

	for (field = 0; field < 5; field++) {
		if (field == 2 && line[0] == '-') {
			errno = 0;
			size = strtoull(p, &end, 10);
			if (end == p || *end != ' ' || errno != 0 || *p == '-')
				return refuse(r, "unreadable listing line \"%.80s\"", line);
		}
		p += strcspn(p, " ");
		p += strspn(p, " ");
	}
	name = p;
	if (*name == '\0')
		return refuse(r, "unreadable listing line \"%.80s\"", line);
	if (line[0] != '-')
		return refuse(r, "member %.200s is not a regular file (type '%c')", name, line[0]);
	if (!bk_name_ok(name))
		return refuse(r, "member name \"%.200s\" (absolute, with '..', or other characters "
			      "than a backup writes)", name);
	if (json_object_get(r->members, name) != NULL)
		return refuse(r, "member %.200s appears twice", name);
	if (json_object_size(r->members) >= BK_MAX_FILES)
		return refuse(r, "more than %d members", BK_MAX_FILES);
	r->listed_bytes += size;
	return json_object_set_new(r->members, name, json_true()) == 0 ? 0 : CAIRN_ENOMEM;
}

/* Reads the member list (GNU tar -tv) before anything is unpacked. */
static int list_members(restore_t *r, int fd)
{
	const char *args[] = { "--list", "--verbose", "--xz", "--file=-", "--absolute-names",
			       "--numeric-owner", "--quoting-style=escape", NULL };
	bk_tar_t t = { .in_fd = fd, .out_fd = -1, .out_cap = LIST_MAX, .bound_s = r->tar_bound_s };
	char *line, *save = NULL;
	int rc;

	if (lseek(fd, 0, SEEK_SET) != 0)
		return cairn_err_set(&r->err, CAIRN_EIO, "cannot read the archive");
	rc = bk_tar_run(args, &t);
	if (rc != 0) {
		cairn_err_set(&r->err, rc, "archive damaged: %s", t.err);
		goto out;
	}
	for (line = strtok_r(t.out ? t.out : (char *)"", "\n", &save); line != NULL && rc == 0;
	     line = strtok_r(NULL, "\n", &save))
		rc = list_line(r, line);
	if (rc == 0 && json_object_size(r->members) == 0)
		rc = refuse(r, "it holds no files");
out:
	free(t.out);
	return rc;
}

static int extract(restore_t *r, int fd)
{
	const char *args[] = { "--extract", "--xz", "--file=-", "--directory", r->stage,
			       "--no-same-owner", "--no-same-permissions", "--keep-old-files",
			       NULL };
	bk_tar_t t = { .in_fd = fd, .out_fd = -1, .out_cap = 65536, .bound_s = r->tar_bound_s };
	int rc;

	if (lseek(fd, 0, SEEK_SET) != 0)
		return cairn_err_set(&r->err, CAIRN_EIO, "cannot read the archive");
	rc = bk_tar_run(args, &t);
	if (rc != 0)
		cairn_err_set(&r->err, rc, "archive damaged: %s", t.err);
	free(t.out);
	return rc;
}

typedef struct tree_check {
	restore_t *r;
	size_t files;
} tree_check_t;

/* What tar left must be exactly the listed regular files (and their directories). */
static int tree_entry(const char *rel, const struct stat *st, void *arg)
{
	tree_check_t *c = arg;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", c->r->stage, rel);
	if (S_ISDIR(st->st_mode))
		return chmod(path, 0700) == 0 ? 0 : cairn_err_set(&c->r->err, CAIRN_EIO, "chmod %s", path);
	if (!S_ISREG(st->st_mode) || json_object_get(c->r->members, rel) == NULL)
		return refuse(c->r, "unpacking made %.200s, which is not a listed regular file", rel);
	c->files++;
	return chmod(path, 0600) == 0 ? 0 : cairn_err_set(&c->r->err, CAIRN_EIO, "chmod %s", path);
}

/* Every member but the manifest is in it once with its SHA-256, and nothing else is:
 * read out of the archive (tar to a pipe) before anything is unpacked. */
static int read_manifest(restore_t *r, int fd)
{
	const char *args[] = { "--extract", "--xz", "--file=-", "--to-stdout", "--occurrence=1",
			       "--", BK_MANIFEST, NULL };
	bk_tar_t t = { .in_fd = fd, .out_fd = -1, .out_cap = MANIFEST_MAX,
		       .bound_s = r->tar_bound_s };
	char *line, *end, *text;
	const char *key;
	json_t *v;
	size_t lines = 0;
	int rc = 0;

	if (json_object_get(r->members, BK_MANIFEST) == NULL || lseek(fd, 0, SEEK_SET) != 0 ||
	    bk_tar_run(args, &t) != 0 || t.out == NULL || strlen(t.out) != t.out_len ||
	    (t.out_len > 0 && t.out[t.out_len - 1] != '\n')) {
		rc = refuse(r, "no readable %s", BK_MANIFEST);
		goto out;
	}
	text = t.out;
	for (line = text; rc == 0 && line < text + t.out_len; line = end + 1, lines++) {
		const char *name = line + 66;
		size_t i;
		end = strchr(line, '\n');
		*end = '\0';
		for (i = 0; i < 64 && line[i] != '\0' && strchr("0123456789abcdef", line[i]); i++)
			;
		if (i != 64 || strncmp(line + 64, "  ", 2) != 0 || !bk_name_ok(name) ||
		    strcmp(name, BK_MANIFEST) == 0) {
			rc = refuse(r, "%s line %zu is not \"SHA256  NAME\"", BK_MANIFEST, lines + 1);
		} else if (json_object_get(r->manifest, name) != NULL) {
			rc = refuse(r, "%s lists %.200s twice", BK_MANIFEST, name);
		} else if (json_object_get(r->members, name) == NULL) {
			rc = refuse(r, "%.200s is in %s but not in the archive", name, BK_MANIFEST);
		} else if (json_object_set_new(r->manifest, name, json_stringn(line, 64)) != 0) {
			rc = cairn_err_set(&r->err, CAIRN_ENOMEM, "out of memory");
		}
	}
	json_object_foreach(r->members, key, v)
		if (rc == 0 && strcmp(key, BK_MANIFEST) != 0 && json_object_get(r->manifest, key) == NULL)
			rc = refuse(r, "%.200s is not in %s", key, BK_MANIFEST);
out:
	free(t.out);
	return rc;
}

/* The members may add up to no more than the cap (UNPACK_RATIO) and DIR's free space. */
static int check_sizes(restore_t *r, const struct stat *archive)
{
	unsigned long long cap = (unsigned long long)archive->st_size * UNPACK_RATIO, room;
	struct statvfs vfs;

	if (cap < UNPACK_FLOOR)
		cap = UNPACK_FLOOR;
	if (r->listed_bytes > cap)
		return refuse(r, "its members add up to %llu bytes, over %d times the archive "
			      "(%lld bytes): not a backup", r->listed_bytes, UNPACK_RATIO,
			      (long long)archive->st_size);
	if (statvfs(r->dir, &vfs) != 0)
		return cairn_err_set(&r->err, CAIRN_EIO, "statvfs %s: %s", r->dir, strerror(errno));
	room = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
	if (r->listed_bytes > room)
		return cairn_err_set(&r->err, CAIRN_EIO, "the archive unpacks to %llu bytes; %s has "
				     "%llu free", r->listed_bytes, r->dir, room);
	return 0;
}

/* Each unpacked member matches its SHA-256 in the manifest. */
static int check_sums(restore_t *r)
{
	char path[PATH_MAX], hex[65];
	const char *name;
	json_t *sum;

	json_object_foreach(r->manifest, name, sum) {
		snprintf(path, sizeof(path), "%s/%s", r->stage, name);
		if (bk_sha256_file(path, hex, NULL) != 0 || strcmp(hex, json_string_value(sum)) != 0)
			return refuse(r, "%.200s does not match its SHA-256 in %s", name, BK_MANIFEST);
	}
	return 0;
}

/* BACKUP.json: our format, and where the backup came from. */
static int read_info(restore_t *r)
{
	static const char *const needed[] = { BK_INFO, BK_DB, "cairn.json", NULL };
	char path[PATH_MAX], why[160], *text = NULL;
	const char *src, *tok, *conf;
	size_t len, i;
	int rc;

	for (i = 0; needed[i] != NULL; i++)
		if (json_object_get(r->members, needed[i]) == NULL)
			return refuse(r, "it holds no %s", needed[i]);
	snprintf(path, sizeof(path), "%s/%s", r->stage, BK_INFO);
	if (fs_read(path, 1 << 20, &text, &len) != 0 ||
	    util_json_parse(text, len, &(util_json_limits_t){ 4, 1 << 20 }, &r->info, why,
			    sizeof(why)) != 0) {
		free(text);
		return refuse(r, "%s unreadable", BK_INFO);
	}
	free(text);
	src = json_string_value(json_object_get(r->info, "source_dir"));
	tok = json_string_value(json_object_get(r->info, "token_dir"));
	conf = json_string_value(json_object_get(r->info, "softhsm_conf"));
	if (json_is_string(json_object_get(r->info, "format")) == 0 ||
	    strcmp(json_string_value(json_object_get(r->info, "format")), BK_FORMAT) != 0 ||
	    json_integer_value(json_object_get(r->info, "version")) != BK_VERSION)
		return refuse(r, "%s is not a %s version %d", BK_INFO, BK_FORMAT, BK_VERSION);
	rc = src == NULL || src[0] != '/' || (tok == NULL) != (conf == NULL) ||
	     (tok && !bk_name_ok(tok)) || (conf && json_object_get(r->members, conf) == NULL);
	return rc ? refuse(r, "%s: source_dir, token_dir or softhsm_conf make no sense", BK_INFO) : 0;
}

/* The staged database is read whole (bk_db_check) before anything is moved into DIR: a
 * damaged one refuses the archive, and DIR is left as it was. */
static int check_db(restore_t *r)
{
	char dir[PATH_MAX], why[400];
	int rc;

	snprintf(dir, sizeof(dir), "%s/db", r->stage);
	if ((rc = bk_db_check(dir, why, sizeof(why))) == CAIRN_EINVAL)
		return refuse(r, "%s", why);
	return rc == 0 ? 0 : cairn_err_set(&r->err, rc, "%s", why);
}

/* Every string in cairn.json that named the old directory (or a path in it) names the
 * new one: relative paths need nothing, absolute ones were written by the operator. */
static void repoint(json_t *v, const char *from, const char *to)
{
	const char *key;
	json_t *item;
	size_t i, n = strlen(from);

	if (json_is_object(v)) {
		json_object_foreach(v, key, item)
			repoint(item, from, to);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
			repoint(item, from, to);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *moved;
		if (strncmp(s, from, n) == 0 && (s[n] == '\0' || s[n] == '/') &&
		    asprintf(&moved, "%s%s", to, s + n) >= 0) {
			json_string_set(v, moved);
			free(moved);
		}
	}
}

/* 1 when path (absolute, or relative to dir as config_path resolves it) names dir or a
 * path below it once "." and ".." are taken away. dir is a realpath and the tree below it
 * holds only what restore unpacked (no links), so the words of the path are enough. */
static int path_inside(const char *dir, const char *path)
{
	char full[PATH_MAX], buf[PATH_MAX], *tok, *save = NULL;
	size_t n = 0, dlen = strlen(dir);
	int len = path[0] == '/' ? snprintf(full, sizeof(full), "%s", path)
				 : snprintf(full, sizeof(full), "%s/%s", dir, path);

	if (len < 0 || len >= (int)sizeof(full))
		return 0;
	buf[0] = '\0';
	for (tok = strtok_r(full, "/", &save); tok != NULL; tok = strtok_r(NULL, "/", &save)) {
		if (strcmp(tok, ".") == 0)
			continue;
		if (strcmp(tok, "..") == 0) {
			while (n > 0 && buf[n - 1] != '/')
				n--;
			n -= n > 0;
			buf[n] = '\0';
			continue;
		}
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "/%s", tok);
		if (n >= sizeof(buf))
			return 0;
	}
	return strncmp(buf, dir, dlen) == 0 && (buf[dlen] == '\0' || buf[dlen] == '/');
}

/* The settings under which the daemon writes files, and what each becomes when its path
 * leads out of the restored directory: a copy started for a drill must not publish over
 * the tree the original serves (it would prune the original's OCSP answers and put its
 * older CRLs in place of the current ones). NULL = the key goes, its default applies. */
static const struct {
	const char *section, *key, *off;
} publish_paths[] = {
	{ "ocsp", "publish", "" },
	{ "crl", "publish", "" },
	{ "crl", "publish_dir", NULL },
};

static int fence_paths(restore_t *r, json_t *doc)
{
	size_t i;

	for (i = 0; i < sizeof(publish_paths) / sizeof(publish_paths[0]); i++) {
		json_t *sec = json_object_get(doc, publish_paths[i].section);
		const char *v = json_string_value(json_object_get(sec, publish_paths[i].key));
		json_t *line;
		if (v == NULL || v[0] == '\0' || path_inside(r->dir, v))
			continue;
		line = r->keep_paths
			       ? json_sprintf("%s.%s still %s, outside %s: this copy writes into that "
					      "tree (--keep-paths)", publish_paths[i].section,
					      publish_paths[i].key, v, r->dir)
			       : json_sprintf("%s.%s %s (was %s, outside %s: a copy would write into "
					      "the original's tree)", publish_paths[i].section,
					      publish_paths[i].key,
					      publish_paths[i].off ? "cleared" : "back to its default", v,
					      r->dir);
		if (line == NULL || json_array_append_new(r->cleared, line) != 0)
			return cairn_err_set(&r->err, CAIRN_ENOMEM, "out of memory");
		if (r->keep_paths)
			continue;
		if ((publish_paths[i].off != NULL
			     ? json_object_set_new(sec, publish_paths[i].key,
						   json_string(publish_paths[i].off))
			     : json_object_del(sec, publish_paths[i].key)) != 0)
			return cairn_err_set(&r->err, CAIRN_ENOMEM, "out of memory");
	}
	return 0;
}

static int rewrite_config(restore_t *r)
{
	const char *src = json_string_value(json_object_get(r->info, "source_dir"));
	char path[PATH_MAX], why[160], *text = NULL, *out = NULL;
	cairn_config_t *cfg = NULL;
	json_t *doc = NULL;
	size_t len;
	int rc;

	snprintf(path, sizeof(path), "%s/cairn.json", r->stage);
	if ((rc = fs_read(path, 1 << 20, &text, &len)) != 0 ||
	    (rc = util_json_parse(text, len, &(util_json_limits_t){ 64, 1 << 20 }, &doc, why,
				  sizeof(why))) != 0) {
		rc = refuse(r, "cairn.json unreadable");
		goto out;
	}
	repoint(doc, src, r->dir);
	if ((rc = fence_paths(r, doc)) != 0)
		goto out;
	out = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (out == NULL || (rc = fs_write_atomic(path, out, strlen(out), 0600)) != 0) {
		rc = cairn_err_set(&r->err, CAIRN_EIO, "write %s", path);
		goto out;
	}
	if ((rc = config_load(r->stage, &cfg, &r->err)) != 0)
		goto out;
out:
	config_free(cfg);
	json_decref(doc);
	free(text);
	free(out);
	return rc;
}

/* The token directory SoftHSM2 is told about is the restored one. */
static int rewrite_softhsm(restore_t *r)
{
	const char *conf = json_string_value(json_object_get(r->info, "softhsm_conf"));
	const char *tok = json_string_value(json_object_get(r->info, "token_dir"));
	char path[PATH_MAX], *text = NULL, *line, *save = NULL, *out = NULL;
	size_t len, out_len = 0;
	FILE *mem = NULL;
	int rc, found = 0;

	if (conf == NULL)
		return 0; /* a real HSM: nothing of it is in the archive */
	snprintf(path, sizeof(path), "%s/%s", r->stage, conf);
	if ((rc = fs_read(path, 1 << 20, &text, &len)) != 0 ||
	    (mem = open_memstream(&out, &out_len)) == NULL) {
		rc = refuse(r, "%s unreadable", conf);
		goto out;
	}
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		const char *key = line + strspn(line, " \t");
		if (strncmp(key, "directories.tokendir", 20) == 0 && strchr(" \t=", key[20])) {
			fprintf(mem, "directories.tokendir = %s/%s\n", r->dir, tok);
			found = 1;
		} else {
			fprintf(mem, "%s\n", line);
		}
	}
	fclose(mem);
	mem = NULL;
	if (!found)
		rc = refuse(r, "%s has no directories.tokendir", conf);
	else if ((rc = fs_write_atomic(path, out, out_len, 0600)) != 0)
		cairn_err_set(&r->err, rc, "write %s", path);
out:
	if (mem != NULL)
		fclose(mem);
	free(text);
	free(out);
	return rc;
}

/* The manifest and BACKUP.json belong to the archive, not to the data directory. */
static int drop_own(restore_t *r)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", r->stage, BK_MANIFEST);
	if (unlink(path) != 0)
		return cairn_err_set(&r->err, CAIRN_EIO, "remove %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/%s", r->stage, BK_INFO);
	if (unlink(path) != 0)
		return cairn_err_set(&r->err, CAIRN_EIO, "remove %s: %s", path, strerror(errno));
	return 0;
}

/* Moves the checked tree from the staging directory into DIR. */
static int move_in(restore_t *r)
{
	struct dirent **ents = NULL;
	char from[PATH_MAX], to[PATH_MAX];
	int i, n = scandir(r->stage, &ents, NULL, alphasort), rc = 0;

	if (n < 0)
		return cairn_err_set(&r->err, CAIRN_EIO, "read %s", r->stage);
	for (i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		if (rc == 0 && strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
			snprintf(from, sizeof(from), "%s/%s", r->stage, name);
			snprintf(to, sizeof(to), "%s/%s", r->dir, name);
			if (rename(from, to) != 0)
				rc = cairn_err_set(&r->err, CAIRN_EIO, "rename %s: %s", from,
						   strerror(errno));
		}
		free(ents[i]);
	}
	free(ents);
	if (rc == 0 && rmdir(r->stage) == 0) {
		free(r->stage);
		r->stage = NULL;
	}
	return rc;
}

/* The restored chain must verify; then the restore itself goes on it. */
static int audit_restore(restore_t *r, size_t files)
{
	char path[PATH_MAX];
	audit_verify_result_t res = { 0 };
	json_t *details = NULL;
	db_t *db = NULL;
	db_txn_t *txn = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/db", r->dir);
	if ((rc = db_open(path, &db, &r->err)) != 0)
		goto out;
	if ((rc = audit_verify(db, &res)) != 0) {
		rc = cairn_err_set(&r->err, rc, "the restored audit chain is broken at event %llu: %s",
				   (unsigned long long)res.first_bad, res.reason);
		goto out;
	}
	r->audit_events = res.count;
	if (db_read_begin(db, &txn) == 0)
		r->certs = db_count(txn, DB_CERTS);
	db_txn_end(txn);
	details = json_pack("{s:s, s:O, s:O, s:I, s:I}", "archive_sha256", r->sum, "source_dir",
			    json_object_get(r->info, "source_dir"), "backup_created",
			    json_object_get(r->info, "created") ? json_object_get(r->info, "created")
								: json_null(),
			    "files", (json_int_t)files, "certificates", (json_int_t)r->certs);
	if (details == NULL) {
		rc = cairn_err_set(&r->err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	rc = audit_record(db, &(audit_event_t){ .actor = "cli:restore", .action = "ca.restore",
						.details = details },
			  &r->seq, &r->err);
out:
	json_decref(details);
	db_close(db);
	return rc;
}

/* After a failure DIR goes back to what it was: absent, or empty. */
static void undo(restore_t *r)
{
	struct dirent **ents = NULL;
	char path[PATH_MAX];
	int i, n;

	if (r->dir == NULL)
		return;
	n = scandir(r->dir, &ents, NULL, alphasort);
	for (i = 0; i < n; i++) {
		if (strcmp(ents[i]->d_name, ".") != 0 && strcmp(ents[i]->d_name, "..") != 0) {
			snprintf(path, sizeof(path), "%s/%s", r->dir, ents[i]->d_name);
			bk_rmtree(path);
		}
		free(ents[i]);
	}
	free(ents);
	if (r->created)
		rmdir(r->dir);
}

int cli_restore(int argc, char **argv)
{
	restore_t r = { .lock_fd = -1 };
	tree_check_t tree = { &r, 0 };
	const char *from, *dir_arg;
	struct stat st;
	json_t *line;
	size_t i;
	int rc, fd = -1;

	if ((rc = bk_parse_opts("restore", argc, argv, "from", &from, "dir", &dir_arg, "keep-paths",
				&r.keep_paths)) != CLI_OK)
		return rc;
	if ((rc = fs_open_regular(from, &fd)) != 0 || fstat(fd, &st) != 0) {
		rc = cli_fail("restore", "%s: %s", from, rc == CAIRN_EINVAL ? "not a regular file"
							 : cairn_strerror(rc ? rc : CAIRN_EIO));
		goto out;
	}
	r.tar_bound_s = bk_size_bound_s(TAR_BASE_S, TAR_PER_GIB_S, st.st_size);
	r.members = json_object();
	r.manifest = json_object();
	r.cleared = json_array();
	if (r.members == NULL || r.manifest == NULL || r.cleared == NULL ||
	    bk_sha256_fd(fd, r.sum, NULL) != 0) {
		rc = cli_fail("restore", "cannot read %s", from);
		goto out;
	}
	if (prepare_dir(&r, dir_arg) != 0)
		goto failed;
	/* Nothing may start a daemon on the directory while it fills. */
	if ((r.lock_fd = server_lock_dir(r.dir, &r.err)) < 0)
		goto failed;
	if (asprintf(&r.stage, "%s/.restore-XXXXXX", r.dir) < 0)
		r.stage = NULL;
	if (r.stage == NULL || mkdtemp(r.stage) == NULL) {
		cairn_err_set(&r.err, CAIRN_EIO, "cannot write in %s: %s", r.dir, strerror(errno));
		goto failed;
	}
	if (list_members(&r, fd) != 0 || check_sizes(&r, &st) != 0 || read_manifest(&r, fd) != 0 ||
	    extract(&r, fd) != 0 || bk_walk(r.stage, tree_entry, &tree) != 0 || check_sums(&r) != 0)
		goto failed;
	if (tree.files != json_object_size(r.members)) {
		refuse(&r, "%zu member(s) listed but %zu unpacked", json_object_size(r.members),
		       tree.files);
		goto failed;
	}
	if (read_info(&r) != 0 || check_db(&r) != 0 || rewrite_config(&r) != 0 ||
	    rewrite_softhsm(&r) != 0 || drop_own(&r) != 0 || move_in(&r) != 0 ||
	    audit_restore(&r, tree.files) != 0)
		goto failed;
	printf("cairn restore: %s into %s\n", from, r.dir);
	printf("  backup     of %s, taken %s; archive sha256 %s\n",
	       json_string_value(json_object_get(r.info, "source_dir")),
	       json_string_value(json_object_get(r.info, "created")) ?: "?", r.sum);
	printf("  files      %zu, every one matching %s\n", tree.files - 1, BK_MANIFEST);
	printf("  database   %llu certificates; audit chain intact, %llu events\n",
	       (unsigned long long)r.certs, (unsigned long long)r.audit_events);
	printf("  audited    event %llu (ca.restore)\n", (unsigned long long)r.seq);
	json_array_foreach(r.cleared, i, line)
		printf("  cairn.json %s\n", json_string_value(line));
	if (!json_is_string(json_object_get(r.info, "token_dir")))
		printf("The CA's keys were in an HSM, not in the archive: this CA signs only where\n"
		       "that HSM (token.module in cairn.json) is reachable.\n");
	printf("Check listen addresses in %s/cairn.json (the original may still run), then:\n"
	       "  cairn serve --dir %s\n", r.dir, r.dir);
	rc = CLI_OK;
	goto out;
failed:
	rc = cli_fail("restore", "%s", cairn_err_msg(&r.err));
	if (r.stage != NULL)
		bk_rmtree(r.stage);
	undo(&r);
out:
	if (fd >= 0)
		close(fd);
	if (r.lock_fd >= 0)
		close(r.lock_fd);
	json_decref(r.members);
	json_decref(r.manifest);
	json_decref(r.cleared);
	json_decref(r.info);
	free(r.stage);
	free(r.dir);
	return rc;
}
