/* SPDX-License-Identifier: MIT */
/* audit_fill DIR N [SERIAL]: appends N chained events into the stopped daemon's database DIR,
 * shaped as a CA's issuances leave them (cert.issue: actor, serial, names, profile, notAfter),
 * one a second up to now; SERIAL (hex) names the certificate of the first of them, the others
 * get serials of their own. For tests/integration/audit_page.sh and bench/audit_query.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"

#define BATCH 5000

struct fill {
	uint64_t from, n, total;
	const char *first_serial;
	time_t start;
};

static int fill_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	const struct fill *f = arg;
	char serial[41], name[64], actor[64];
	uint64_t i;
	int rc = 0;

	for (i = f->from; i < f->from + f->n && rc == 0; i++) {
		json_t *names, *details;
		audit_event_t ev;

		if (i == 0 && f->first_serial != NULL)
			snprintf(serial, sizeof(serial), "%s", f->first_serial);
		else
			snprintf(serial, sizeof(serial), "7f%038llx", (unsigned long long)i);
		snprintf(name, sizeof(name), "host%llu.bench.test", (unsigned long long)i);
		snprintf(actor, sizeof(actor), "acme:account/%016llx", (unsigned long long)(i % 97));
		names = json_pack("[s]", name);
		details = json_pack("{s:s, s:s, s:s}", "profile", "tls-server", "not_after",
				    "2027-03-08T00:00:00Z", "channel", "acme");
		ev = (audit_event_t){ actor, "cert.issue", serial, names, details };
		rc = names && details ? audit_append_at(txn, &ev, f->start + (time_t)i, NULL, err)
				      : cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		json_decref(names);
		json_decref(details);
	}
	return rc;
}

int main(int argc, char **argv)
{
	cairn_err_t err = { 0 };
	db_t *db = NULL;
	uint64_t n, done;
	const char *first = argc > 3 ? argv[3] : NULL;

	if (argc < 3 || argc > 4 || (n = strtoull(argv[2], NULL, 10)) == 0 ||
	    (first != NULL && (strlen(first) == 0 || strlen(first) > 40))) {
		fprintf(stderr, "usage: audit_fill DIR N [SERIAL]\n");
		return 2;
	}
	if (db_open(argv[1], &db, &err) != 0) {
		fprintf(stderr, "audit_fill: %s\n", cairn_err_msg(&err));
		return 1;
	}
	for (done = 0; done < n; done += BATCH) {
		struct fill f = { done, n - done < BATCH ? n - done : BATCH, n, first,
				  time(NULL) - (time_t)n };
		if (db_write(db, fill_run, &f, &err) != 0) {
			fprintf(stderr, "audit_fill: %s\n", cairn_err_msg(&err));
			db_close(db);
			return 1;
		}
	}
	db_close(db);
	printf("%llu audit events written\n", (unsigned long long)n);
	return 0;
}
