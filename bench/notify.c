/* SPDX-License-Identifier: MIT */
/* bench/notify_bench: the expiry scan over N certificates (default 1M) — a first scan, a
 * daily and an hourly one — against a walk of every certificate, the cost it avoids. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "notify/notify.h"

#define DAY 86400
#define BATCH 10000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct fill {
	uint64_t from, n, total;
	int64_t t0;
};

/* Certificates with notAfter spread evenly over a year after t0 (a small stand-in DER:
 * the scan never parses it when no names function is given). */
static int fill_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct fill *f = arg;
	static const uint8_t der[300];
	char name[64];
	const char *names[1] = { name };
	db_cert_t c;
	uint64_t i;
	int rc;

	for (i = f->from; i < f->from + f->n; i++) {
		memset(&c, 0, sizeof(c));
		c.serial[0] = 0x40;
		db_be64_put(c.serial + 1, i + 1);
		c.serial_len = 9;
		c.not_after = f->t0 + (int64_t)((i * 365 * (uint64_t)DAY) / f->total) + 60;
		c.not_before = c.not_after - 398 * DAY; /* a 398-day certificate */
		c.reason = -1;
		strcpy(c.issuer, "issuing");
		strcpy(c.profile, "tls-server");
		snprintf(c.requester, sizeof(c.requester), "bench:%llu", (unsigned long long)(i % 1000));
		snprintf(name, sizeof(name), "host%llu.bench.test", (unsigned long long)i);
		c.der = der;
		c.der_len = sizeof(der);
		if ((rc = db_cert_put(txn, &c, names, 1)) != 0)
			return cairn_err_set(err, rc, "db_cert_put: %s", cairn_strerror(rc));
	}
	return 0;
}

static int count_cert(const db_cert_t *c, void *arg)
{
	(void)c;
	(*(uint64_t *)arg)++;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void scan(db_t *db, const notify_settings_t *set, int64_t at, const char *what)
{
	notify_scan_stats_t st;
	cairn_err_t err = { 0 };
	double t = now_s();

	if (notify_scan_expiry(db, set, at, NULL, NULL, &st, &err) != 0) {
		fprintf(stderr, "scan: %s\n", cairn_err_msg(&err));
		exit(1);
	}
	t = now_s() - t;
	printf("%-34s %8llu entries walked, %7llu events, %8.3f s (%.1f us/entry)\n", what,
	       (unsigned long long)st.visited, (unsigned long long)st.emitted, t,
	       st.visited ? t * 1e6 / (double)st.visited : 0.0);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/cairn-bench-notify-XXXXXX";
	uint64_t total = 1000000, done, all = 0;
	notify_settings_t set;
	cairn_err_t err = { 0 };
	db_t *db = NULL;
	db_txn_t *txn = NULL;
	int64_t t0 = (int64_t)time(NULL);
	double t;
	int opt, keep = 0;

	while ((opt = getopt(argc, argv, "n:k")) != -1) {
		if (opt == 'n')
			total = strtoull(optarg, NULL, 10);
		else if (opt == 'k')
			keep = 1;
		else {
			fprintf(stderr, "usage: notify_bench [-n CERTS] [-k]\n");
			return 2;
		}
	}
	if (total == 0 || mkdtemp(dir) == NULL || db_open(dir, &db, &err) != 0 ||
	    notify_settings_parse(NULL, &set, &err) != 0) {
		fprintf(stderr, "setup: %s\n", cairn_err_msg(&err));
		return 1;
	}
	t = now_s();
	for (done = 0; done < total; done += BATCH) {
		struct fill f = { done, total - done < BATCH ? total - done : BATCH, total, t0 };
		if (db_write(db, fill_run, &f, &err) != 0) {
			fprintf(stderr, "fill: %s\n", cairn_err_msg(&err));
			return 1;
		}
	}
	printf("%llu certificates stored in %.1f s (notAfter spread over 365 days)\n",
	       (unsigned long long)total, now_s() - t);

	t = now_s();
	if (db_read_begin(db, &txn) != 0)
		return 1;
	(void)db_certs_all(txn, count_cert, &all);
	db_txn_end(txn);
	printf("%-34s %8llu certificates,           %8.3f s\n", "full walk (what a naive scan reads)",
	       (unsigned long long)all, now_s() - t);

	scan(db, &set, t0, "first scan (30/7/1-day windows)");
	scan(db, &set, t0 + DAY, "next day");
	scan(db, &set, t0 + DAY + 3600, "an hour later");
	scan(db, &set, t0 + DAY + 3600, "again at once (nothing new)");
	db_close(db);
	if (!keep)
		nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	else
		printf("kept %s\n", dir);
	return 0;
}
