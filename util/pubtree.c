/* SPDX-License-Identifier: MIT */
/* Published trees: writes and deletes that never follow a symlink inside them; after a crash, the root's checks and the stray temporaries of the CRL and CA-certificate parts (ocsp/prune.c and crl/ share them). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

int pubtree_in_set(const char *s, size_t n, const char *set)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] == '\0' || strchr(set, s[i]) == NULL)
			return 0;
	return n > 0;
}

int pubtree_root(const char *dir, int *fd, cairn_err_t *err)
{
	struct stat sb;

	*fd = -1;
	if (dir == NULL || dir[0] != '/')
		return cairn_err_set(err, CAIRN_EINVAL, "pruning needs an absolute directory");
	if (lstat(dir, &sb) != 0)
		return errno == ENOENT ? 0 : cairn_err_set(err, CAIRN_EIO, "%s: %s", dir, strerror(errno));
	if (S_ISLNK(sb.st_mode) || !S_ISDIR(sb.st_mode) || sb.st_uid != geteuid())
		return cairn_err_set(err, CAIRN_EDENIED, "not pruning %s: it is %s", dir,
				     S_ISLNK(sb.st_mode) ? "a symlink" :
				     !S_ISDIR(sb.st_mode) ? "not a directory" :
				     "not owned by this user");
	if ((*fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return cairn_err_set(err, CAIRN_EIO, "%s: %s", dir, strerror(errno));
	return 0;
}

/* What a directory of the CRL part holds. */
enum part { P_CRL, P_CRL_ISSUER, P_CA };

/* 1 when name (n bytes) is a file cairn writes in a directory of part p. */
static int part_file(enum part p, const char *name, size_t n)
{
	switch (p) {
	case P_CRL: /* NAME.crl, NAME-delta.crl */
	case P_CA:  /* NAME.crt */
		return n > 4 && pubtree_in_set(name, n - 4, PUBTREE_ISSUER_CHARS) &&
		       memcmp(name + n - 4, p == P_CA ? ".crt" : ".crl", 4) == 0;
	case P_CRL_ISSUER: /* NAME/S.crl */
		return n > 4 && n <= 7 && pubtree_in_set(name, n - 4, "0123456789") &&
		       memcmp(name + n - 4, ".crl", 4) == 0;
	default:
		return 0;
	}
}

/* Removes the stray temporaries of directory dfd (closed here), part p; in crl/ its
 * issuers' shard directories too. Returns 0, or -1 when stop asked. */
static int prune_part(int dfd, enum part p, int (*stop)(void *), void *arg, uint64_t *removed)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	struct stat sb;
	size_t base;
	int rc = 0, fd;

	if (d == NULL) {
		close(dfd);
		return 0;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (stop != NULL && stop(arg)) {
			rc = -1;
		} else if (S_ISDIR(sb.st_mode)) {
			/* crl/NAME/ of the shard CRLs; no other directory is cairn's */
			if (p == P_CRL &&
			    pubtree_in_set(de->d_name, strlen(de->d_name), PUBTREE_ISSUER_CHARS) &&
			    (fd = openat(dfd, de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0)
				rc = prune_part(fd, P_CRL_ISSUER, stop, arg, removed);
		} else if (S_ISREG(sb.st_mode) && fs_tmp_stray(de->d_name, &base) &&
			   part_file(p, de->d_name, base) && unlinkat(dfd, de->d_name, 0) == 0) {
			(*removed)++; /* symlinks and sockets are never ours: not S_ISREG */
		}
	}
	closedir(d);
	return rc;
}

int pubtree_prune_at(int root, int layout, int (*stop)(void *), void *arg, uint64_t *removed)
{
	int fd;

	if (layout == PUBTREE_CRL_DIR) {
		if ((fd = dup(root)) < 0)
			return 0;
		return prune_part(fd, P_CRL, stop, arg, removed);
	}
	/* absent, or a symlink: not walked */
	if ((fd = openat(root, "crl", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0 &&
	    prune_part(fd, P_CRL, stop, arg, removed) < 0)
		return -1;
	if ((fd = openat(root, "ca", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0 &&
	    prune_part(fd, P_CA, stop, arg, removed) < 0)
		return -1;
	return 0;
}

int pubtree_prune(const char *dir, int layout, int (*stop)(void *), void *arg,
		  uint64_t *removed, cairn_err_t *err)
{
	int root, rc;

	*removed = 0;
	if ((rc = pubtree_root(dir, &root, err)) != 0 || root < 0)
		return rc;
	pubtree_prune_at(root, layout, stop, arg, removed);
	close(root);
	return 0;
}

/* The directory of rel's last component below root, walked one component at a time
 * (O_NOFOLLOW: a symlink is refused), created when missing and create is set; *dfd its
 * descriptor (the caller closes it), *name the last component (inside rel). */
static int tree_dir(const char *root, const char *rel, int create, int *dfd, const char **name,
		    cairn_err_t *err)
{
	char comp[NAME_MAX + 1];
	const char *s = rel, *slash;
	struct stat sb;
	int fd, nfd, e;

	*dfd = -1;
	if (root == NULL || root[0] != '/')
		return cairn_err_set(err, CAIRN_EINVAL, "a published tree needs an absolute root");
	/* The root is the operator's configured path, followed as given (a symlinked
	 * crl.publish is written to, not pruned: pubtree_root; publish --to refuses one);
	 * below it nothing is followed. */
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create && fs_mkdirs(root, 0755) == 0)
		fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cairn_err_set(err, errno == ENOENT ? CAIRN_ENOENT : CAIRN_EIO, "%s: %s", root,
				     strerror(errno));
	while ((slash = strchr(s, '/')) != NULL) {
		size_t n = (size_t)(slash - s);

		if (n == 0) { /* "//" is one separator */
			s++;
			continue;
		}
		if (n > NAME_MAX || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) {
			close(fd);
			return cairn_err_set(err, CAIRN_EINVAL, "%s/%s: not a tree path", root, rel);
		}
		memcpy(comp, s, n);
		comp[n] = '\0';
		nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT && create &&
		    (mkdirat(fd, comp, 0755) == 0 || errno == EEXIST))
			nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			const char *what = NULL;

			e = errno;
			if ((e == ELOOP || e == ENOTDIR) &&
			    fstatat(fd, comp, &sb, AT_SYMLINK_NOFOLLOW) == 0)
				what = S_ISLNK(sb.st_mode) ? "a symlink" : "not a directory";
			close(fd);
			if (what != NULL)
				return cairn_err_set(err, CAIRN_EDENIED, "refusing %s/%.*s: %s, never "
						     "followed inside the published tree "
						     "(docs/security.md)", root, (int)(slash - rel),
						     rel, what);
			return cairn_err_set(err, e == ENOENT ? CAIRN_ENOENT : CAIRN_EIO, "%s/%.*s: %s",
					     root, (int)(slash - rel), rel, strerror(e));
		}
		close(fd);
		fd = nfd;
		s = slash + 1;
	}
	if (s[0] == '\0' || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
		close(fd);
		return cairn_err_set(err, CAIRN_EINVAL, "%s/%s: not a tree path", root, rel);
	}
	*dfd = fd;
	*name = s;
	return 0;
}

int pubtree_write(const char *root, const char *rel, const void *data, size_t len, int flags,
		  time_t mtime, int *written, cairn_err_t *err)
{
	const char *name;
	struct stat sb;
	int dfd, rc;

	if (written != NULL)
		*written = 0;
	if ((rc = tree_dir(root, rel, 1, &dfd, &name, err)) != 0)
		return rc;
	if ((flags & PUBTREE_KEEP_SAME) && fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(sb.st_mode) && (size_t)sb.st_size == len && sb.st_mtime == mtime) {
		close(dfd);
		return 0;
	}
	rc = fs_write_at(dfd, name, data, len, 0644, flags & FS_NO_SYNC, mtime);
	close(dfd);
	if (rc != 0)
		return cairn_err_set(err, rc, "writing %s/%s: %s", root, rel, cairn_strerror(rc));
	if (written != NULL)
		*written = 1;
	return 0;
}

int pubtree_unlink(const char *root, const char *rel, cairn_err_t *err)
{
	const char *name;
	int dfd, rc;

	if ((rc = tree_dir(root, rel, 0, &dfd, &name, err)) != 0)
		return rc;
	rc = 0;
	if (unlinkat(dfd, name, 0) != 0)
		rc = errno == ENOENT ? CAIRN_ENOENT :
		     cairn_err_set(err, CAIRN_EIO, "removing %s/%s: %s", root, rel, strerror(errno));
	close(dfd);
	return rc;
}
