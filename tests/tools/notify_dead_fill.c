/* SPDX-License-Identifier: MIT */
/* notify_dead_fill DIR SINK N [FIRST [retry]]: writes N dead letters of SINK, ids FIRST
 * (default 1000000) on, into the stopped daemon's database DIR, as a receiver down for long
 * leaves them (each with its whole event) but without the counts and marks the daemon
 * keeps, like a database written before them; "retry" flags each for retry. For
 * tests/integration/notify_dead.sh and bench/notify_dead.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify/notify_int.h"

#define BATCH 5000

struct fill {
	const char *sink;
	uint64_t from, n;
	int retry;
};

static int fill_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	const struct fill *f = arg;
	char event[700], *text;
	uint8_t key[96];
	uint64_t id;
	int rc = 0;

	for (id = f->from; id < f->from + f->n && rc == 0; id++) {
		size_t klen = notify_sink_key(NOTIFY_KEY_DEAD, f->sink, id, key, sizeof(key));
		json_t *d;

		/* about the size of a cert.issued event with its names and PEM-less fields */
		snprintf(event, sizeof(event),
			 "{\"version\":1,\"id\":%llu,\"type\":\"cert.issued\",\"time\":"
			 "\"2026-12-08T00:00:00Z\",\"data\":{\"serial\":\"%040llx\",\"subject\":"
			 "\"CN=host%llu.bench.test\",\"names\":[\"host%llu.bench.test\"],\"profile\":"
			 "\"tls-server\",\"requester\":\"acme:account/0123456789abcdef\",\"not_before\":"
			 "\"2026-12-08T00:00:00Z\",\"not_after\":\"2027-01-07T00:00:00Z\",\"issuer\":"
			 "\"issuing\",\"key\":\"ec:P-256\",\"rule\":\"auto\"}}",
			 (unsigned long long)id, (unsigned long long)id, (unsigned long long)id,
			 (unsigned long long)id);
		d = json_pack("{s:s, s:I, s:s, s:i, s:s, s:s, s:b, s:s}", "sink", f->sink, "id",
			      (json_int_t)id, "type", "cert.issued", "tries", 1, "error",
			      "connect to 127.0.0.1: Connection refused", "time",
			      "2026-12-08T00:00:00Z", "retry", f->retry, "event", event);
		text = d ? json_dumps(d, JSON_COMPACT) : NULL;
		json_decref(d);
		if (text == NULL || klen == 0)
			rc = CAIRN_ENOMEM;
		else
			rc = db_put(txn, DB_OUTBOX, key, klen, text, strlen(text), 0);
		free(text);
	}
	return rc ? cairn_err_set(err, rc, "dead letter %llu: %s", (unsigned long long)id,
				  cairn_strerror(rc))
		  : 0;
}

int main(int argc, char **argv)
{
	cairn_err_t err = { 0 };
	db_t *db = NULL;
	uint64_t n, done, first = 1000000;
	int retry = argc > 5 && strcmp(argv[5], "retry") == 0;

	if (argc < 4 || argc > 6 || (n = strtoull(argv[3], NULL, 10)) == 0 ||
	    (argc > 4 && (first = strtoull(argv[4], NULL, 10)) == 0) || (argc > 5 && !retry)) {
		fprintf(stderr, "usage: notify_dead_fill DIR SINK N [FIRST [retry]]\n");
		return 2;
	}
	if (db_open(argv[1], &db, &err) != 0) {
		fprintf(stderr, "notify_dead_fill: %s\n", cairn_err_msg(&err));
		return 1;
	}
	for (done = 0; done < n; done += BATCH) {
		struct fill f = { argv[2], first + done, n - done < BATCH ? n - done : BATCH, retry };
		if (db_write(db, fill_run, &f, &err) != 0) {
			fprintf(stderr, "notify_dead_fill: %s\n", cairn_err_msg(&err));
			db_close(db);
			return 1;
		}
	}
	db_close(db);
	printf("%llu dead letters of %s written\n", (unsigned long long)n, argv[2]);
	return 0;
}
