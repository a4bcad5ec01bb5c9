/* SPDX-License-Identifier: MIT */
/* Helpers shared by the fuzz targets: a temporary directory removed at exit, failures. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz/fuzz.h"

static char tmpdir[256];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void remove_tmpdir(void)
{
	if (tmpdir[0] != '\0')
		nftw(tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	if (tmpdir[0] != '\0')
		return tmpdir;
	snprintf(tmpdir, sizeof(tmpdir), "%s/cairn-fuzz-XXXXXX", base && base[0] ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("fuzz: mkdtemp");
		abort();
	}
	atexit(remove_tmpdir);
	return tmpdir;
}

void fuzz_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "fuzz: %s:%d: assertion failed: %s\n", file, line, what);
	abort();
}
