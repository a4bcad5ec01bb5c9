/* SPDX-License-Identifier: MIT */
/* Test tool: an LD_PRELOAD shim that reports every change of the environment made while
 * the process has more than one thread. setenv(), unsetenv() and putenv() are not
 * thread-safe: a getenv() in another thread (OpenSSL, libcurl, libfaketime on each clock
 * call) may read the array or a string the change frees. */
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The threads of this process: the entries of /proc/self/task. */
static int threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/*
 * With CAIRN_TEST_ENV_GUARD=FILE in the environment (read at the call, before the change),
 * a change made while the process has more than one thread appends "PID CALL NAME
 * THREADS" to FILE. The change is then made as asked.
 */
static void note(const char *call, const char *name)
{
	const char *file = getenv("CAIRN_TEST_ENV_GUARD");
	size_t len = strcspn(name, "=");
	int n, fd;

	if (file == NULL || (n = threads()) <= 1)
		return;
	fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	dprintf(fd, "%ld %s %.*s %d threads\n", (long)getpid(), call, (int)len, name, n);
	close(fd);
}

int setenv(const char *name, const char *value, int overwrite)
{
	int (*real)(const char *, const char *, int) =
		(int (*)(const char *, const char *, int))dlsym(RTLD_NEXT, "setenv");

	note("setenv", name);
	return real(name, value, overwrite);
}

int unsetenv(const char *name)
{
	int (*real)(const char *) = (int (*)(const char *))dlsym(RTLD_NEXT, "unsetenv");

	note("unsetenv", name);
	return real(name);
}

int putenv(char *string)
{
	int (*real)(char *) = (int (*)(char *))dlsym(RTLD_NEXT, "putenv");

	note("putenv", string);
	return real(string);
}
