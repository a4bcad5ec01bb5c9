/* SPDX-License-Identifier: MIT */
/* bench/metrics_bench: what a /metrics scrape costs over N certificates (default 1M) —
 * the certificate gauges from the stats table against a walk of every certificate (the
 * cost the table avoids), and the by_expiry range scan behind the expiring gauges. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db/db.h"

#define DAY 86400
#define BATCH 10000
#define VALIDITY (90 * DAY)

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

/* 90-day certificates issued evenly over the last 180 days (half of them expired), every
 * tenth revoked, two profiles; a small stand-in DER (never parsed here). */
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
		c.not_before = f->t0 - 180 * DAY + (int64_t)((i * 180 * (uint64_t)DAY) / f->total);
		c.not_after = c.not_before + VALIDITY;
		c.status = i % 10 == 0 ? DB_CERT_REVOKED : DB_CERT_VALID;
		c.revoked_at = c.status == DB_CERT_REVOKED ? c.not_before + DAY : 0;
		c.reason = c.status == DB_CERT_REVOKED ? 1 : -1;
		strcpy(c.issuer, "issuing");
		strcpy(c.profile, i % 2 ? "tls-server" : "tls-client");
		snprintf(c.requester, sizeof(c.requester), "bench:%llu", (unsigned long long)(i % 1000));
		snprintf(name, sizeof(name), "host%llu.bench.test", (unsigned long long)i);
		c.der = der;
		c.der_len = sizeof(der);
		if ((rc = db_cert_put(txn, &c, names, 1)) != 0)
			return cairn_err_set(err, rc, "db_cert_put: %s", cairn_strerror(rc));
	}
	return 0;
}

struct tally {
	uint64_t valid, revoked, expired;
	int64_t now;
};

/* The walk the stats table replaces: every record decoded. */
static int walk_cert(const db_cert_t *c, void *arg)
{
	struct tally *t = arg;

	if (c->status == DB_CERT_REVOKED)
		t->revoked++;
	else if (c->not_after < t->now)
		t->expired++;
	else
		t->valid++;
	return 0;
}

static int from_table(const db_cert_count_t *c, void *arg)
{
	struct tally *t = arg;

	t->valid += (uint64_t)c->valid;
	t->revoked += (uint64_t)c->revoked;
	t->expired += (uint64_t)c->expired;
	return 0;
}

static int expiring(const db_cert_t *c, void *arg)
{
	struct tally *t = arg;

	t->valid += c->status == DB_CERT_VALID;
	return 0;
}

static int advance(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	(void)err;
	return db_cert_counts_advance(txn, *(int64_t *)arg);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static db_txn_t *reader(db_t *db)
{
	db_txn_t *txn = NULL;

	if (db_read_begin(db, &txn) != 0) {
		fprintf(stderr, "read txn\n");
		exit(1);
	}
	return txn;
}

/* Gauges at `at` from the table; prints the time and the entries walked. */
static void gauges(db_t *db, int64_t at, const char *what)
{
	struct tally t = { 0 };
	db_txn_t *txn = reader(db);
	size_t walked = 0;
	double s = now_s();

	if (db_cert_counts(txn, at, from_table, &t, &walked) != 0) {
		fprintf(stderr, "db_cert_counts failed\n");
		exit(1);
	}
	s = now_s() - s;
	db_txn_end(txn);
	printf("%-44s %9.3f ms  (%zu by_expiry entries walked) valid %llu revoked %llu expired %llu\n",
	       what, s * 1e3, walked, (unsigned long long)t.valid, (unsigned long long)t.revoked,
	       (unsigned long long)t.expired);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/cairn-bench-metrics-XXXXXX";
	uint64_t total = 1000000, done;
	cairn_err_t err = { 0 };
	struct tally t = { 0 };
	db_t *db = NULL;
	db_txn_t *txn;
	int64_t t0 = (int64_t)time(NULL), at;
	double s;
	int opt, keep = 0;

	while ((opt = getopt(argc, argv, "n:k")) != -1) {
		if (opt == 'n')
			total = strtoull(optarg, NULL, 10);
		else if (opt == 'k')
			keep = 1;
		else {
			fprintf(stderr, "usage: metrics_bench [-n CERTS] [-k]\n");
			return 2;
		}
	}
	if (total == 0 || mkdtemp(dir) == NULL || db_open(dir, &db, &err) != 0) {
		fprintf(stderr, "setup: %s\n", cairn_err_msg(&err));
		return 1;
	}
	s = now_s();
	for (done = 0; done < total; done += BATCH) {
		struct fill f = { done, total - done < BATCH ? total - done : BATCH, total, t0 };
		if (db_write(db, fill_run, &f, &err) != 0) {
			fprintf(stderr, "fill: %s\n", cairn_err_msg(&err));
			return 1;
		}
	}
	printf("filled %llu certificates (90 days, issued over 180 days, 1 in 10 revoked) in %.1f s\n",
	       (unsigned long long)total, now_s() - s);

	txn = reader(db);
	t.now = t0;
	s = now_s();
	(void)db_certs_all(txn, walk_cert, &t);
	s = now_s() - s;
	db_txn_end(txn);
	printf("%-44s %9.3f ms  valid %llu revoked %llu expired %llu\n",
	       "walk of every certificate (avoided)", s * 1e3, (unsigned long long)t.valid,
	       (unsigned long long)t.revoked, (unsigned long long)t.expired);

	gauges(db, t0, "gauges from the stats table, horizon = now");
	at = t0 + 15;
	gauges(db, at, "gauges 15 s later (one scrape interval)");
	at = t0 + 3600;
	gauges(db, at, "gauges 1 h after the horizon");
	at = t0 + DAY;
	gauges(db, at, "gauges 1 day after the horizon");
	s = now_s();
	if (db_write(db, advance, &at, &err) != 0) {
		fprintf(stderr, "advance: %s\n", cairn_err_msg(&err));
		return 1;
	}
	printf("%-44s %9.3f ms  (durable write)\n", "moving the horizon by 1 day", (now_s() - s) * 1e3);
	gauges(db, at, "gauges at the new horizon");

	txn = reader(db);
	memset(&t, 0, sizeof(t));
	s = now_s();
	(void)db_certs_by_expiry(txn, t0, t0 + 30 * DAY, expiring, &t);
	s = now_s() - s;
	db_txn_end(txn);
	printf("%-44s %9.3f ms  (%llu valid of them)\n", "by_expiry range scan, now .. now+30d",
	       s * 1e3, (unsigned long long)t.valid);
	txn = reader(db);
	memset(&t, 0, sizeof(t));
	s = now_s();
	(void)db_certs_by_expiry(txn, t0, t0 + 7 * DAY, expiring, &t);
	s = now_s() - s;
	db_txn_end(txn);
	printf("%-44s %9.3f ms  (%llu valid of them)\n", "by_expiry range scan, now .. now+7d",
	       s * 1e3, (unsigned long long)t.valid);
	db_close(db);
	if (!keep)
		nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	else
		printf("kept %s\n", dir);
	return 0;
}
