/* SPDX-License-Identifier: MIT */
/* Regression driver: runs every registered fuzz target over its corpus (seeds and every
 * input that once crashed) without libFuzzer, and speaks TAP for `make check`.
 *   replay                      every target over $CAIRN_SRCDIR/fuzz/corpus/NAME/
 *   replay NAME FILE|DIR...     one target over the given inputs */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz/fuzz.h"
#include "util/util.h"

#define MAX_TARGETS 64
#define REPLAY_MAX_INPUT (1 << 20)

static struct {
	const char *name;
	fuzz_fn fn;
} targets[MAX_TARGETS];
static size_t n_targets;

void fuzz_register(const char *name, fuzz_fn fn)
{
	if (n_targets < MAX_TARGETS) {
		targets[n_targets].name = name;
		targets[n_targets].fn = fn;
		n_targets++;
	}
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const char *const *)a)[0], ((const char *const *)b)[0]);
}

/* Runs fn over one file; returns 0, or -1 when the file cannot be read. */
static int run_file(fuzz_fn fn, const char *path)
{
	char *data = NULL;
	size_t len = 0;

	if (fs_read(path, REPLAY_MAX_INPUT, &data, &len) != 0)
		return -1;
	fn((const uint8_t *)data, len);
	free(data);
	return 0;
}

/* Runs fn over a file or every regular file of a directory; returns inputs run or -1. */
static long run_path(fuzz_fn fn, const char *path)
{
	struct stat st;
	struct dirent **ents = NULL;
	char file[4096];
	long n = 0;
	int i, count;

	if (stat(path, &st) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode))
		return run_file(fn, path) == 0 ? 1 : -1;
	count = scandir(path, &ents, NULL, alphasort);
	if (count < 0)
		return -1;
	for (i = 0; i < count; i++) {
		snprintf(file, sizeof(file), "%s/%s", path, ents[i]->d_name);
		if (ents[i]->d_name[0] != '.' && stat(file, &st) == 0 && S_ISREG(st.st_mode) &&
		    run_file(fn, file) == 0)
			n++;
		free(ents[i]);
	}
	free(ents);
	return n;
}

static fuzz_fn find(const char *name)
{
	size_t i;

	for (i = 0; i < n_targets; i++)
		if (strcmp(targets[i].name, name) == 0)
			return targets[i].fn;
	return NULL;
}

int main(int argc, char **argv)
{
	const char *src = getenv("CAIRN_SRCDIR");
	char dir[4096];
	size_t i;
	int failed = 0;

	log_set_level(LOG_LVL_ERROR);
	qsort(targets, n_targets, sizeof(targets[0]), by_name);
	if (argc >= 3) {
		fuzz_fn fn = find(argv[1]);
		int a;
		if (fn == NULL) {
			fprintf(stderr, "replay: no target %s\n", argv[1]);
			return 2;
		}
		for (a = 2; a < argc; a++) {
			long n = run_path(fn, argv[a]);
			printf("%s %s: %ld input(s)\n", argv[1], argv[a], n);
			failed |= n < 0;
		}
		return failed;
	}
	printf("1..%zu\n", n_targets);
	for (i = 0; i < n_targets; i++) {
		long n;
		snprintf(dir, sizeof(dir), "%s/fuzz/corpus/%s", src ? src : ".", targets[i].name);
		n = run_path(targets[i].fn, dir);
		/* An empty or missing corpus is a failure: every target ships seeds. */
		printf("%s %zu - fuzz target %s replays its corpus (%ld inputs)\n",
		       n > 0 ? "ok" : "not ok", i + 1, targets[i].name, n);
		failed |= n <= 0;
	}
	return failed;
}
