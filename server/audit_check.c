/* SPDX-License-Identifier: MIT */
/*
 * The daemon checks its own audit chain: the log is tamper-evident only if someone looks,
 * and before, only `cairn audit verify`, a backup or an inspect did. At start and daily
 * a thread (util_periodic) walks the whole chain (audit_verify_step: 50,000 events a read
 * transaction); a chain that no longer holds — an event changed, removed or cut off
 * behind the daemon's back, e.g. in a copy of the database put in place — is reported on
 * /healthz ({"what":"audit","state":"broken","at","first_bad","detail"}, so notify sends
 * ca.expiring what:audit once), on /metrics and in the log. The daemon goes on serving
 * and appending: the events after the break still chain to the head.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "server/internal.h"

#define AUDIT_CHECK_EVERY 86400 /* seconds between whole checks */
#define AUDIT_CHECK_STEP 50000  /* events per read transaction */

struct server_audit_check {
	util_periodic_t *run;
	pthread_mutex_t mu;       /* guards what follows */
	int64_t verified;         /* when the last whole check ended with the chain intact; 0 */
	uint64_t events;          /* events it checked */
	int broken;
	uint64_t first_bad;
	int64_t broken_at;        /* when this break was first found (kept while it stays) */
	char reason[256];
};

static int64_t check_run(void *arg, int64_t now)
{
	server_t *s = arg;
	struct server_audit_check *c = s->audit_check;
	audit_verify_result_t res;
	audit_walk_t w = { 0 };
	int rc, done = 0, was_broken;
	(void)now;

	do
		rc = audit_verify_step(s->db, &w, AUDIT_CHECK_STEP, &res, &done);
	while (rc == 0 && !done && !util_periodic_stopping(c->run));
	if (rc == 0 && !done)
		return INT64_MAX; /* stopping */
	if (rc != 0 && rc != CAIRN_EAUDIT) {
		log_error("audit", "checking the audit chain: %s", res.reason);
		return (int64_t)time(NULL) + 600;
	}
	pthread_mutex_lock(&c->mu);
	was_broken = c->broken && c->first_bad == res.first_bad;
	c->broken = rc == CAIRN_EAUDIT;
	if (c->broken) {
		if (!was_broken)
			c->broken_at = (int64_t)time(NULL);
		c->first_bad = res.first_bad;
		snprintf(c->reason, sizeof(c->reason), "%s", res.reason);
	} else {
		c->verified = (int64_t)time(NULL);
		c->events = res.count;
		c->first_bad = 0;
		c->reason[0] = '\0';
	}
	pthread_mutex_unlock(&c->mu);
	if (rc == CAIRN_EAUDIT)
		log_error("audit", "the audit chain is broken at event %" PRIu64 ": %s "
			  "(cairn audit verify; docs/operations.md, \"When the audit chain is "
			  "broken\")", res.first_bad, res.reason);
	else
		log_info("audit", "audit chain intact: %" PRIu64 " events", res.count);
	return (int64_t)time(NULL) + AUDIT_CHECK_EVERY;
}

int server_audit_check_open(server_t *s, cairn_err_t *err)
{
	struct server_audit_check *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	pthread_mutex_init(&c->mu, NULL);
	s->audit_check = c;
	return 0;
}

int server_audit_check_start(server_t *s, cairn_err_t *err)
{
	struct server_audit_check *c = s->audit_check;

	if (c == NULL || util_periodic_start(check_run, s, AUDIT_CHECK_EVERY, &c->run) != 0)
		return cairn_err_set(err, CAIRN_ENOMEM, "cannot start the audit chain check");
	return 0;
}

void server_audit_check_stop(server_t *s)
{
	struct server_audit_check *c = s->audit_check;

	if (c == NULL)
		return;
	util_periodic_stop(c->run);
	c->run = NULL;
}

void server_audit_check_free(server_t *s)
{
	struct server_audit_check *c = s->audit_check;

	if (c == NULL)
		return;
	server_audit_check_stop(s);
	pthread_mutex_destroy(&c->mu);
	free(c);
	s->audit_check = NULL;
}

int server_audit_health(server_t *s, json_t *problems)
{
	struct server_audit_check *c = s->audit_check;
	json_t *extra;
	int n = 0;

	if (c == NULL)
		return 0;
	pthread_mutex_lock(&c->mu);
	if (c->broken) {
		extra = json_pack("{s:I, s:s}", "first_bad", (json_int_t)c->first_bad, "detail",
				  c->reason);
		n = server_problem(problems, "audit", "broken", c->broken_at, extra);
	}
	pthread_mutex_unlock(&c->mu);
	return n;
}

void server_audit_metrics(server_t *s, mtext_t *m)
{
	struct server_audit_check *c = s->audit_check;
	int64_t verified = 0;
	int broken = 0;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	verified = c->verified;
	broken = c->broken;
	pthread_mutex_unlock(&c->mu);
	mtext_family(m, "cairn_audit_chain_broken", "gauge",
		     "1 while the daemon's last check of its audit chain found it broken (an "
		     "event changed, removed or cut off).");
	mtext_add(m, "cairn_audit_chain_broken %d\n", broken);
	mtext_family(m, "cairn_audit_chain_verified_timestamp_seconds", "gauge",
		     "When the daemon's last whole check of its audit chain found it intact "
		     "(at start and daily; 0: not yet).");
	mtext_add(m, "cairn_audit_chain_verified_timestamp_seconds %lld\n", (long long)verified);
}
