/* SPDX-License-Identifier: MIT */
/* The backup archive's shared parts: allowed names, SHA-256 of files, tree walks, GNU tar runs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cli/archive.h"
#include "cli/cli.h"
#include "util/util.h"

extern char **environ;

int bk_parse_opts(const char *cmd, int argc, char **argv, const char *a, const char **va,
		  const char *b, const char **vb, const char *flag, int *flag_set)
{
	const struct option longopts[] = {
		{ a, required_argument, NULL, 'a' },
		{ b, required_argument, NULL, 'b' },
		{ flag, no_argument, NULL, 'f' }, /* without a flag: the end of the table */
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*va = *vb = NULL;
	if (flag_set != NULL)
		*flag_set = 0;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'f') {
			*flag_set = 1;
			continue;
		}
		if (c != 'a' && c != 'b')
			return cli_usage_error(cmd, "unknown or incomplete option %s", argv[optind - 1]);
		*(c == 'a' ? va : vb) = optarg;
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument %s", argv[optind]);
	if (*va == NULL || *vb == NULL)
		return cli_usage_error(cmd, "--%s and --%s are required", a, b);
	return CLI_OK;
}

static int name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

int bk_name_ok(const char *rel)
{
	size_t i, len = strlen(rel);
	int start = 1;

	if (len == 0 || len > BK_NAME_MAX || strcmp(rel, "cairn.lock") == 0 ||
	    strcmp(rel, "serve.json") == 0)
		return 0;
	for (i = 0; i < len; i++) {
		char c = rel[i];
		if (c == '/') {
			if (start)
				return 0;
			start = 1;
		} else if (start) {
			if (!name_start(c))
				return 0;
			start = 0;
		} else if (!name_start(c) && c != '.' && c != '-') {
			return 0;
		}
	}
	return !start;
}

int bk_sha256_fd(int fd, char hex[65], long long *size)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[65536], digest[32];
	long long total = 0;
	ssize_t n;
	int rc = CAIRN_EIO;

	if (md == NULL || !EVP_DigestInit_ex(md, EVP_sha256(), NULL) || lseek(fd, 0, SEEK_SET) != 0)
		goto out;
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		if (!EVP_DigestUpdate(md, buf, (size_t)n))
			goto out;
		total += n;
	}
	if (!EVP_DigestFinal_ex(md, digest, NULL))
		goto out;
	hex_encode(digest, sizeof(digest), hex);
	if (size != NULL)
		*size = total;
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	return rc;
}

int bk_sha256_file(const char *path, char hex[65], long long *size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), rc = CAIRN_EIO;

	if (fd < 0)
		return CAIRN_EIO;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		rc = bk_sha256_fd(fd, hex, size);
	close(fd);
	return rc;
}

/* rel holds rel_len bytes of the path below root (PATH_MAX buffer); entries are appended. */
static int walk_dir(const char *root, char *rel, size_t rel_len, int depth, bk_walk_fn fn,
		    void *arg)
{
	struct dirent **ents = NULL;
	char path[PATH_MAX];
	int i, n, rc = 0;

	if (depth > 32 || snprintf(path, sizeof(path), "%s%s%s", root, rel_len ? "/" : "",
				   rel_len ? rel : "") >= (int)sizeof(path))
		return CAIRN_EIO;
	n = scandir(path, &ents, NULL, alphasort);
	if (n < 0)
		return CAIRN_EIO;
	for (i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		size_t len = rel_len + (rel_len ? 1 : 0) + strlen(name);
		struct stat st;

		if (rc != 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		if (len >= PATH_MAX || strlen(root) + 1 + len >= PATH_MAX) {
			rc = CAIRN_EIO;
			continue;
		}
		snprintf(rel + rel_len, PATH_MAX - rel_len, "%s%s", rel_len ? "/" : "", name);
		snprintf(path, sizeof(path), "%s/%s", root, rel);
		if (lstat(path, &st) != 0) {
			if (errno != ENOENT) /* gone since the listing: nothing to visit */
				rc = CAIRN_EIO;
		} else {
			rc = fn(rel, &st, arg);
			if (rc == 0 && S_ISDIR(st.st_mode))
				rc = walk_dir(root, rel, len, depth + 1, fn, arg);
			else if (rc == BK_WALK_SKIP)
				rc = 0;
		}
		rel[rel_len] = '\0';
	}
	for (i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	return rc;
}

int bk_walk(const char *root, bk_walk_fn fn, void *arg)
{
	char rel[PATH_MAX] = "";

	return walk_dir(root, rel, 0, 0, fn, arg);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void bk_rmtree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int bk_mkparents(const char *root, const char *rel)
{
	char path[PATH_MAX];
	size_t off = strlen(root) + 1;
	char *slash;

	if (snprintf(path, sizeof(path), "%s/%s", root, rel) >= (int)sizeof(path))
		return CAIRN_EIO;
	while ((slash = strchr(path + off, '/')) != NULL) {
		*slash = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return CAIRN_EIO;
		*slash = '/';
		off = (size_t)(slash - path) + 1;
	}
	return 0;
}

int bk_copy_file(const char *src, const char *dst)
{
	char buf[65536];
	struct stat st;
	int in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), out = -1, rc = CAIRN_EIO;
	ssize_t n;

	if (in < 0 || fstat(in, &st) != 0 || !S_ISREG(st.st_mode))
		goto out;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		goto out;
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		char *p = buf;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		while (n > 0) {
			ssize_t w = write(out, p, (size_t)n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				goto out;
			p += w;
			n -= w;
		}
	}
	if (fsync(out) != 0)
		goto out;
	rc = 0;
out:
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) != 0)
		rc = CAIRN_EIO;
	return rc;
}

/* The caller's environment without what would change what tar or xz do, plus LC_ALL=C. */
static char **tar_env(const char *xz_opt, char *xz_buf, size_t xz_cap)
{
	static const char *const drop[] = { "TAR_OPTIONS=", "XZ_OPT=", "XZ_DEFAULTS=", "TAPE=",
					    "POSIXLY_CORRECT=", "LANG=", "LANGUAGE=", "LC_", NULL };
	size_t n = 0, i, k = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	env = calloc(n + 3, sizeof(*env));
	if (env == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		const char *const *d;
		for (d = drop; *d != NULL && strncmp(environ[i], *d, strlen(*d)) != 0; d++)
			;
		if (*d == NULL)
			env[k++] = environ[i];
	}
	env[k++] = (char *)"LC_ALL=C";
	if (xz_opt != NULL) {
		snprintf(xz_buf, xz_cap, "XZ_OPT=%s", xz_opt);
		env[k++] = xz_buf;
	}
	return env;
}

/* Moves bytes between tar and us until its pipes close: feed in, stdout and stderr out.
 * Closes the three descriptors (those >= 0) whatever happens. At deadline_ms (a
 * time_mono_ms instant; 0: none) it stops with *late set. */
static int tar_pump(int in_w, int out_r, int err_r, uint64_t deadline_ms, int *late,
		    bk_tar_t *t)
{
	size_t fed = 0, err_len = 0, cap = 0;
	char chunk[16384];
	int too_big = 0, rc = 0;

	while (in_w >= 0 || out_r >= 0 || err_r >= 0) {
		struct pollfd pf[3];
		int n = 0, i, wait_ms = -1;
		if (deadline_ms != 0) {
			uint64_t now = time_mono_ms();
			if (now >= deadline_ms) {
				*late = 1;
				goto out;
			}
			wait_ms = deadline_ms - now > INT_MAX ? INT_MAX : (int)(deadline_ms - now);
		}
		if (in_w >= 0)
			pf[n++] = (struct pollfd){ in_w, POLLOUT, 0 };
		if (out_r >= 0)
			pf[n++] = (struct pollfd){ out_r, POLLIN, 0 };
		if (err_r >= 0)
			pf[n++] = (struct pollfd){ err_r, POLLIN, 0 };
		if (poll(pf, (nfds_t)n, wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			rc = CAIRN_EIO;
			goto out;
		}
		for (i = 0; i < n; i++) {
			ssize_t r;
			if (pf[i].revents == 0)
				continue;
			if (pf[i].fd == in_w) {
				r = write(in_w, t->feed + fed, t->feed_len - fed);
				if (r > 0)
					fed += (size_t)r;
				if ((r < 0 && errno != EAGAIN && errno != EINTR) || fed == t->feed_len) {
					close(in_w);
					in_w = -1;
				}
				continue;
			}
			r = read(pf[i].fd, chunk, sizeof(chunk));
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				close(pf[i].fd);
				*(pf[i].fd == out_r ? &out_r : &err_r) = -1;
			} else if (pf[i].fd == err_r) {
				size_t take = (size_t)r < sizeof(t->err) - 1 - err_len
						      ? (size_t)r
						      : sizeof(t->err) - 1 - err_len;
				memcpy(t->err + err_len, chunk, take);
				err_len += take;
			} else if (t->out_len + (size_t)r > t->out_cap) {
				too_big = 1;
			} else {
				if (t->out_len + (size_t)r + 1 > cap) {
					size_t ncap = (t->out_len + (size_t)r + 1) * 2;
					char *nb = realloc(t->out, ncap);
					if (nb == NULL) {
						rc = CAIRN_ENOMEM;
						goto out;
					}
					t->out = nb;
					cap = ncap;
				}
				memcpy(t->out + t->out_len, chunk, (size_t)r);
				t->out_len += (size_t)r;
				t->out[t->out_len] = '\0';
			}
		}
	}
out:
	t->err[err_len] = '\0';
	t->err[strcspn(t->err, "\n")] = '\0';
	if (in_w >= 0)
		close(in_w);
	if (out_r >= 0)
		close(out_r);
	if (err_r >= 0)
		close(err_r);
	return rc != 0 ? rc : too_big ? CAIRN_ETOOBIG : 0;
}

unsigned long long bk_size_bound_s(unsigned long long base_s, unsigned long long per_gib_s,
				   off_t size_bytes)
{
	return base_s + per_gib_s * ((unsigned long long)size_bytes >> 20) / 1024;
}

int bk_tar_run(const char *const *args, bk_tar_t *t)
{
	posix_spawn_file_actions_t fa;
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	int in_p[2] = { -1, -1 }, out_p[2] = { -1, -1 }, err_p[2] = { -1, -1 };
	char *argv[64], xz_buf[64], **env = NULL;
	size_t i, n = 0;
	pid_t pid = -1;
	uint64_t deadline_ms = 0;
	int status = 0, rc = CAIRN_EIO, spawned, late = 0;

	t->out = NULL;
	t->out_len = 0;
	t->err[0] = '\0';
	argv[n++] = (char *)"tar";
	for (i = 0; args[i] != NULL && n < 63; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	if (posix_spawn_file_actions_init(&fa) != 0)
		return CAIRN_ENOMEM;
	sigaction(SIGPIPE, &ign, &old);
	env = tar_env(t->xz_opt, xz_buf, sizeof(xz_buf));
	if (env == NULL || pipe2(err_p, O_CLOEXEC) != 0 ||
	    (t->in_fd < 0 && t->feed != NULL && pipe2(in_p, O_CLOEXEC) != 0) ||
	    (t->out_fd < 0 && pipe2(out_p, O_CLOEXEC) != 0))
		goto out;
	if (t->in_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, t->in_fd, 0);
	else if (in_p[0] >= 0)
		posix_spawn_file_actions_adddup2(&fa, in_p[0], 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, t->out_fd >= 0 ? t->out_fd : out_p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err_p[1], 2);
	if (t->bound_s != 0)
		deadline_ms = time_mono_ms() + t->bound_s * 1000;
	spawned = posix_spawnp(&pid, "tar", &fa, NULL, argv, env);
	if (spawned != 0) {
		snprintf(t->err, sizeof(t->err), "cannot run tar: %s", strerror(spawned));
		pid = -1;
		goto out;
	}
	/* Our copies of the child's ends go, so EOF arrives when tar exits. */
	close(err_p[1]);
	err_p[1] = -1;
	if (out_p[1] >= 0) {
		close(out_p[1]);
		out_p[1] = -1;
	}
	if (in_p[0] >= 0) {
		close(in_p[0]);
		in_p[0] = -1;
		fcntl(in_p[1], F_SETFL, O_NONBLOCK);
	}
	rc = tar_pump(in_p[1], out_p[0], err_p[0], deadline_ms, &late, t);
	in_p[1] = out_p[0] = err_p[0] = -1; /* closed by tar_pump */
	if (late) {
		kill(pid, SIGKILL);
		rc = CAIRN_EIO;
		snprintf(t->err, sizeof(t->err), "tar took more than %llu s (stopped)", t->bound_s);
	}
out:
	if (pid > 0) {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
			rc = CAIRN_EIO;
			if (t->err[0] == '\0' && WIFEXITED(status))
				snprintf(t->err, sizeof(t->err), "tar exited with status %d",
					 WEXITSTATUS(status));
			else if (t->err[0] == '\0')
				snprintf(t->err, sizeof(t->err), "tar killed by signal %d",
					 WTERMSIG(status));
		}
	}
	for (i = 0; i < 2; i++) {
		if (in_p[i] >= 0)
			close(in_p[i]);
		if (out_p[i] >= 0)
			close(out_p[i]);
		if (err_p[i] >= 0)
			close(err_p[i]);
	}
	if (rc != 0 && t->err[0] == '\0')
		snprintf(t->err, sizeof(t->err), "%s", cairn_strerror(rc));
	sigaction(SIGPIPE, &old, NULL);
	posix_spawn_file_actions_destroy(&fa);
	free(env);
	return rc;
}
