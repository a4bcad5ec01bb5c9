/* SPDX-License-Identifier: MIT */
/*
 * Writes into a stopped daemon's database DIR what a long life leaves in notify's tables:
 *   notify_fill DIR dead SINK N [FIRST [retry]]  N dead letters of SINK, ids FIRST (default
 *       1000000) on, as a receiver down for long leaves them (each with its whole event)
 *       but without the counts and marks the daemon keeps, like a database written before
 *       them; "retry" flags each for retry (notify_dead.sh, bench/notify_dead.sh)
 *   notify_fill DIR seq N  the outbox's last event id set to N: the next events get ids
 *       N+1 on, whose big-endian bytes are no UTF-8 text (notify_route.sh)
 */
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

static int seq_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	(void)err;
	return notify_meta_put_u64(txn, "notify_seq", *(const uint64_t *)arg);
}

static int usage(void)
{
	fprintf(stderr, "usage: notify_fill DIR dead SINK N [FIRST [retry]] | DIR seq N\n");
	return 2;
}

int main(int argc, char **argv)
{
	cairn_err_t err = { 0 };
	db_t *db = NULL;
	uint64_t n, done, first = 1000000;
	int dead = argc >= 5 && strcmp(argv[2], "dead") == 0, rc = 0;
	int retry = dead && argc > 6 && strcmp(argv[6], "retry") == 0;

	if (dead) {
		if (argc > 7 || (n = strtoull(argv[4], NULL, 10)) == 0 ||
		    (argc > 5 && (first = strtoull(argv[5], NULL, 10)) == 0) || (argc > 6 && !retry))
			return usage();
	} else if (argc != 4 || strcmp(argv[2], "seq") != 0 ||
		   ((n = strtoull(argv[3], NULL, 10)) == 0 && strcmp(argv[3], "0") != 0)) {
		return usage();
	}
	if (db_open(argv[1], &db, &err) != 0) {
		fprintf(stderr, "notify_fill: %s\n", cairn_err_msg(&err));
		return 1;
	}
	if (!dead) {
		rc = db_write(db, seq_run, &n, &err);
	} else {
		for (done = 0; done < n && rc == 0; done += BATCH) {
			struct fill f = { argv[3], first + done, n - done < BATCH ? n - done : BATCH,
					  retry };
			rc = db_write(db, fill_run, &f, &err);
		}
	}
	db_close(db);
	if (rc != 0) {
		fprintf(stderr, "notify_fill: %s\n", cairn_err_msg(&err));
		return 1;
	}
	return 0;
}
