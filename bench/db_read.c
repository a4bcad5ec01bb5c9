/* SPDX-License-Identifier: MIT */
/* Read-transaction micro-benchmark: db_read_begin + one db_get + db_txn_end, 1 and 2 threads. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "db/db.h"

#define ROUNDS 1000000

static db_t *db;

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *reader(void *arg)
{
	const void *v;
	size_t len;
	db_txn_t *txn;
	int i;

	(void)arg;
	for (i = 0; i < ROUNDS; i++) {
		if (db_read_begin(db, &txn) != 0)
			abort();
		if (db_get(txn, DB_META, "schema_version", 14, &v, &len) != 0)
			abort();
		db_txn_end(txn);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/cairn-dbread.XXXXXX", path[64];
	cairn_err_t err = { 0 };
	pthread_t th[2];
	int n, i;
	double t0, el;

	(void)argc;
	(void)argv;
	if (mkdtemp(dir) == NULL || db_open(dir, &db, &err) != 0) {
		fprintf(stderr, "db_read_bench: %s\n", cairn_err_msg(&err));
		return 1;
	}
	for (n = 1; n <= 2; n++) {
		t0 = now_s();
		for (i = 0; i < n; i++)
			pthread_create(&th[i], NULL, reader, NULL);
		for (i = 0; i < n; i++)
			pthread_join(th[i], NULL);
		el = now_s() - t0;
		printf("%d thread(s): %.2f M read txns/s, %.3f us per begin + get + end\n", n,
		       n * ROUNDS / el / 1e6, el * 1e6 / ROUNDS);
	}
	printf("renewed (kept txns reused): %llu of %d\n",
	       (unsigned long long)db_read_renewed(db), 3 * ROUNDS);
	db_close(db);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	unlink(path);
	rmdir(dir);
	return 0;
}
