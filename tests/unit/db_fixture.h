/* SPDX-License-Identifier: MIT */
/* Shared helper of the unit tests that need a database: a fresh LMDB environment in a
 * temporary directory per test. */
#ifndef CAIRN_TEST_DB_FIXTURE_H
#define CAIRN_TEST_DB_FIXTURE_H

/* cmocka setup/teardown: *state becomes void *box[2] = { directory (char *), db_t * }. */
int fixture_db_setup(void **state);
int fixture_db_teardown(void **state);

#endif
