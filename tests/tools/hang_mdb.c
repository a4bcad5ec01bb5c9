/* SPDX-License-Identifier: MIT */
/* Test tool: an LD_PRELOAD shim that makes mdb_env_open hang, standing in for LMDB looping
 * on a damaged page, so tests can show that a reader of a database is bounded in time. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <lmdb.h>

/*
 * With CAIRN_TEST_HANG_MDB=FILE in the environment, mdb_env_open appends "PID PPID" of
 * the calling process to FILE (so a test learns which process hangs, and that only one
 * does) and never returns: it waits in pause() (not sleep(), which libfaketime's speed-up
 * shortens) until a signal kills the process; a signal it catches starts the wait again.
 * Without the variable the call goes to LMDB.
 */
int mdb_env_open(MDB_env *env, const char *path, unsigned int flags, mdb_mode_t mode)
{
	int (*real)(MDB_env *, const char *, unsigned int, mdb_mode_t);
	const char *mark = getenv("CAIRN_TEST_HANG_MDB");
	int fd;

	if (mark != NULL) {
		fd = open(mark, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dprintf(fd, "%ld %ld\n", (long)getpid(), (long)getppid());
			close(fd);
		}
		for (;;)
			pause();
	}
	*(void **)&real = dlsym(RTLD_NEXT, "mdb_env_open");
	return real != NULL ? real(env, path, flags, mode) : EINVAL;
}
