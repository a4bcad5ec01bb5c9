/* SPDX-License-Identifier: MIT */
/* Whole-file reads, atomic writes and directory creation. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

/* Reads fd to its end (at most max bytes, NUL-terminated) into *out, and closes it. The
 * callers have set *out to NULL and *len to 0 already: they stay so on a failure. */
static int read_fd(int fd, size_t max, char **out, size_t *len)
{
	char *buf = NULL;
	size_t cap = 0, n = 0;
	int rc = 0;

	for (;;) {
		ssize_t r;
		if (n + 1 >= cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			char *nb = realloc(buf, ncap);
			if (nb == NULL) {
				rc = CAIRN_ENOMEM;
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = CAIRN_EIO;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			rc = CAIRN_ETOOBIG;
			goto out;
		}
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
	if (len)
		*len = n;
out:
	free(buf);
	close(fd);
	return rc;
}

int fs_read(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*out = NULL;
	if (len)
		*len = 0;
	if (fd < 0)
		return errno == ENOENT ? CAIRN_ENOENT : CAIRN_EIO;
	return read_fd(fd, max, out, len);
}

int fs_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	return fs_write_atomic_ex(path, data, len, mode, 0, 0);
}

/* mkdir -p of the directory part of path (nothing when there is none). */
static int mkdirs_parent(const char *path)
{
	char buf[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	if (n == 0)
		return 0;
	if (n >= sizeof(buf))
		return CAIRN_EINVAL;
	memcpy(buf, path, n);
	buf[n] = '\0';
	return fs_mkdirs(buf, 0755);
}

/* The code of a failed write's errno: a full disk (or quota) is said as such. */
static int write_code(int e)
{
	return e == ENOENT ? CAIRN_ENOENT : e == ENOSPC || e == EDQUOT ? CAIRN_ENOSPACE : CAIRN_EIO;
}

int fs_write_at(int dfd, const char *name, const void *data, size_t len, unsigned mode,
		int flags, time_t mtime)
{
	char tmp[PATH_MAX];
	const char *p = data;
	int fd, rc = CAIRN_EIO;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", name, (long)getpid()) >= (int)sizeof(tmp))
		return CAIRN_EINVAL;
	/* A new file, never through a symlink someone left under the temporary name (a
	 * crash's leftover of the same name is removed first). */
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0 && errno == EEXIST && unlinkat(dfd, tmp, 0) == 0)
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return write_code(errno);
	if (fchmod(fd, mode) != 0)
		goto out;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		p += w;
		len -= (size_t)w;
	}
	if (!(flags & FS_NO_SYNC) && fsync(fd) != 0)
		goto out;
	if (mtime > 0) {
		struct timespec ts[2] = { { .tv_sec = mtime }, { .tv_sec = mtime } };
		if (futimens(fd, ts) != 0)
			goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (renameat(dfd, tmp, dfd, name) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		rc = write_code(errno); /* of the call that failed: nothing ran since */
	if (fd >= 0)
		close(fd);
	if (rc != 0)
		unlinkat(dfd, tmp, 0);
	return rc;
}

int fs_write_atomic_ex(const char *path, const void *data, size_t len, unsigned mode, int flags,
		       time_t mtime)
{
	int rc = fs_write_at(AT_FDCWD, path, data, len, mode, flags, mtime);

	if (rc == CAIRN_ENOENT && (flags & FS_MKDIRS) && mkdirs_parent(path) == 0)
		rc = fs_write_at(AT_FDCWD, path, data, len, mode, flags, mtime);
	return rc == CAIRN_ENOENT ? CAIRN_EIO : rc;
}

int fs_mkdirs(const char *path, unsigned mode)
{
	char buf[PATH_MAX];
	size_t i, len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return CAIRN_EINVAL;
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, i == len ? mode : 0755) != 0 && errno != EEXIST)
			return CAIRN_EIO;
		buf[i] = path[i];
	}
	return 0;
}

char *fs_join(const char *dir, const char *rel)
{
	char *out;

	if (rel[0] == '/' || dir == NULL || dir[0] == '\0')
		return strdup(rel);
	if (asprintf(&out, "%s/%s", dir, rel) < 0)
		return NULL;
	return out;
}

int fs_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

int fs_tmp_stray(const char *name, size_t *base_len)
{
	const char *t = strstr(name, ".tmp.");
	char *end;
	long pid;

	if (t == NULL || t[5] < '1' || t[5] > '9')
		return 0;
	errno = 0;
	pid = strtol(t + 5, &end, 10);
	if (*end != '\0' || errno != 0 || pid <= 0 || pid > 0x7fffffffL)
		return 0;
	if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
		return 0; /* alive (this process included), or not ours to ask: in use */
	*base_len = (size_t)(t - name);
	return 1;
}

int fs_open_regular(const char *path, int *fd)
{
	struct stat st;
	int f, flags, rc = CAIRN_EIO;

	*fd = -1;
	f = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (f < 0)
		return errno == ENOENT ? CAIRN_ENOENT : CAIRN_EIO;
	if (fstat(f, &st) != 0)
		goto out;
	if (!S_ISREG(st.st_mode)) {
		rc = CAIRN_EINVAL;
		goto out;
	}
	if ((flags = fcntl(f, F_GETFL)) < 0 || fcntl(f, F_SETFL, flags & ~O_NONBLOCK) != 0)
		goto out;
	*fd = f;
	f = -1;
	rc = 0;
out:
	if (f >= 0)
		close(f);
	return rc;
}

int fs_read_regular(const char *path, size_t max, char **out, size_t *len)
{
	int fd, rc;

	*out = NULL;
	if (len)
		*len = 0;
	if ((rc = fs_open_regular(path, &fd)) != 0)
		return rc;
	return read_fd(fd, max, out, len);
}
