/* SPDX-License-Identifier: MIT */
/* A fresh database per unit test (tests/unit/db_fixture.h). */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "db/db.h"
#include "tests/unit/db_fixture.h"

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int fixture_db_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	char *dir = NULL;
	db_t *db = NULL;
	cairn_err_t err = { 0 };
	void **box = calloc(2, sizeof(void *));

	/* mkdtemp fills in the XXXXXX template. */
	if (box == NULL || asprintf(&dir, "%s/cairn-test-db-XXXXXX", tmp ? tmp : "/tmp") < 0 ||
	    mkdtemp(dir) == NULL || db_open(dir, &db, &err) != 0) {
		free(box);
		return -1;
	}
	box[0] = dir;
	box[1] = db;
	*state = box;
	return 0;
}

int fixture_db_teardown(void **state)
{
	void **box = *state;

	db_close(box[1]);
	nftw(box[0], rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(box[0]);
	free(box);
	return 0;
}
