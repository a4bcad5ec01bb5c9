/* SPDX-License-Identifier: MIT */
/* The check of an archive's database before restore uses it: read whole in a child that
 * may crash or loop on a damaged page without taking restore with it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit/audit.h"
#include "cli/archive.h"
#include "db/db.h"
#include "util/util.h"

/* How long bk_db_check's child may read the staged database before it is taken for a
 * damaged page that LMDB loops on: CHECK_BASE_S plus CHECK_PER_GIB_S per GiB of data.mdb
 * (counted in whole MiB). Measured on 2 CPUs at load 5 with a virtio disk: the compacted
 * copy of 400k certificates (605 MiB) read whole in 1.2 s, and in 1.5 s with its pages
 * evicted first (a compacted copy is written in tree order: the walk reads it front to
 * back); 5,000 issuances with their audit chain (12.6 MiB) in 0.05 s, about 4 s per GiB.
 * 120 s per GiB still passes a disk of 8.5 MiB/s (a USB 2 stick, a share over 100 Mbit/s)
 * or a CPU 30 times slower; the base covers start-up on a machine busy with other work. */
#define CHECK_BASE_S 120ULL
#define CHECK_PER_GIB_S 120ULL

/* db_iterate's callback for read_db: folds every byte in, so that a key or value whose
 * page lies past the end of the file is read here (LMDB returns pointers into its map). */
static int touch_entry(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	const unsigned char *k = key, *v = val;
	unsigned char *fold = arg;
	size_t i;

	for (i = 0; i < klen; i++)
		*fold ^= k[i];
	for (i = 0; i < vlen; i++)
		*fold ^= v[i];
	return 0;
}

/* Opens the database in dir, reads every entry of every table and verifies the audit
 * chain; why gets the reason of a failure. Runs in bk_db_check's child: a damaged page
 * can make LMDB read past its map (SIGBUS) or loop, and that must not happen to restore. */
static int read_db(const char *dir, char *why, size_t why_len)
{
	audit_verify_result_t res = { 0 };
	cairn_err_t err = { 0 };
	db_t *db = NULL;
	db_txn_t *txn = NULL;
	unsigned char fold = 0;
	int t, rc;

	if ((rc = db_open(dir, &db, &err)) != 0) {
		snprintf(why, why_len, "%s", cairn_err_msg(&err));
		goto out;
	}
	if ((rc = db_read_begin(db, &txn)) != 0) {
		snprintf(why, why_len, "cannot read it: %s", cairn_strerror(rc));
		goto out;
	}
	for (t = 0; t < DB_TABLE_COUNT && rc == 0; t++)
		rc = db_iterate(txn, (db_table_t)t, NULL, 0, touch_entry, &fold);
	db_txn_end(txn);
	snprintf(why, why_len, "%02x", fold); /* the bytes were read: this uses them */
	if (rc != 0) {
		snprintf(why, why_len, "table %d unreadable: %s", t - 1, cairn_strerror(rc));
		goto out;
	}
	if ((rc = audit_verify(db, &res)) != 0)
		snprintf(why, why_len, "its audit chain is broken at event %llu: %s",
			 (unsigned long long)res.first_bad, res.reason);
out:
	db_close(db);
	return rc;
}

/* Reads the child's reason from fd into why (cap bytes, NUL-terminated; the rest of a
 * longer one is read and dropped) until the child's exit closes the pipe, or until the
 * CLOCK_MONOTONIC instant deadline_ms (a time_mono_ms value). Returns 0 at the end of
 * the pipe with *late 0, 0 with *late 1 when the deadline came first, or CAIRN_EIO when
 * poll or read fail (errno says why). */
static int read_reason(int fd, uint64_t deadline_ms, char *why, size_t cap, int *late)
{
	char drop[64];
	size_t got = 0;
	int rc = 0;

	*late = 0;
	for (;;) {
		struct pollfd pf = { fd, POLLIN, 0 };
		uint64_t now = time_mono_ms(), left = deadline_ms > now ? deadline_ms - now : 0;
		size_t room = cap - 1 - got;
		ssize_t n;
		if (left == 0) {
			*late = 1;
			break;
		}
		n = poll(&pf, 1, left < INT_MAX ? (int)left : INT_MAX);
		if (n == 0 || (n < 0 && errno == EINTR))
			continue;
		if (n > 0)
			n = read(fd, room > 0 ? why + got : drop, room > 0 ? room : sizeof(drop));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = CAIRN_EIO;
		if (n <= 0)
			break;
		got += room > 0 ? (size_t)n : 0;
	}
	why[got] = '\0';
	return rc;
}

/* The pipe has a single writer, the child (the parent closes its copy; O_CLOEXEC keeps
 * it from anything the child could start), so its end comes at the child's exit and the
 * wait after it is short; a child still reading at the deadline is killed first. Every
 * path after the fork reaps the child. */
int bk_db_check(const char *dbdir, char *why, size_t why_len)
{
	char file[PATH_MAX], reason[300] = "";
	unsigned long long bound_s;
	struct stat st;
	int fds[2], status = 0, late = 0, rc, read_rc, read_errno;
	pid_t pid;

	snprintf(file, sizeof(file), "%s/data.mdb", dbdir);
	if (stat(file, &st) != 0) {
		snprintf(why, why_len, "%s: %s", file, strerror(errno));
		return CAIRN_EIO;
	}
	bound_s = bk_size_bound_s(CHECK_BASE_S, CHECK_PER_GIB_S, st.st_size);
	if (pipe2(fds, O_CLOEXEC) != 0) {
		snprintf(why, why_len, "pipe: %s", strerror(errno));
		return CAIRN_EIO;
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		snprintf(why, why_len, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return CAIRN_EIO;
	}
	if (pid == 0) {
		close(fds[0]);
		rc = read_db(dbdir, reason, sizeof(reason));
		if (rc != 0 && write(fds[1], reason, strlen(reason)) < 0)
			rc = 1;
		_exit(rc == 0 ? 0 : 1);
	}
	close(fds[1]);
	read_rc = read_reason(fds[0], time_mono_ms() + bound_s * 1000, reason, sizeof(reason),
			      &late);
	read_errno = errno;
	close(fds[0]);
	if (read_rc != 0 || late)
		kill(pid, SIGKILL);
	while ((rc = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	if (rc < 0) {
		snprintf(why, why_len, "waitpid: %s", strerror(errno));
		return CAIRN_EIO;
	}
	if (read_rc != 0) {
		snprintf(why, why_len, "reading the check of %s: %s", BK_DB, strerror(read_errno));
		return CAIRN_EIO;
	}
	if (late)
		snprintf(why, why_len, "%s is damaged (reading it took more than %llu s)", BK_DB,
			 bound_s);
	else if (WIFSIGNALED(status))
		snprintf(why, why_len, "%s is damaged (reading it raised signal %d)", BK_DB,
			 WTERMSIG(status));
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		snprintf(why, why_len, "%s is damaged: %s", BK_DB, reason[0] ? reason : "unreadable");
	else
		return 0;
	return CAIRN_EINVAL;
}
