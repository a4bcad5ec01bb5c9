/* SPDX-License-Identifier: MIT */
/*
 * Requests nobody decided expire when their time comes, whether or not anyone reads them.
 * Before, a request was marked expired only when someone touched it (a listing showed it
 * expired without writing it): until then nothing was audited or sent, and
 * cairn_requests_pending still counted it. A thread of its own (util_periodic) looks at
 * the pending requests at start, then when the earliest of them is due and at least
 * hourly, and expires each due one through the one decision path (policy_request_get):
 * audited request.expired by policy:expiry, notified, counted, in one transaction.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_int.h"

#define EXPIRY_EVERY 3600  /* the longest time between looks */
#define EXPIRY_BATCH 256   /* due requests expired per read of the table */
#define EXPIRY_LOOK 65536  /* records read by one read transaction at most */

typedef struct expiry_walk {
	int64_t now, next;  /* next: the earliest expiry still ahead */
	db_walk_t walk;
	char ids[EXPIRY_BATCH][POLICY_ID_HEX + 1];
	size_t n;
} expiry_walk_t;

static int due_one(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	expiry_walk_t *w = arg;
	const char *st;
	int64_t expires;
	json_t *rec;

	if (memmem(val, vlen, "\"pending\"", 9) == NULL)
		return 0; /* decided: not parsed */
	if ((rec = json_loadb(val, vlen, 0, NULL)) == NULL)
		return 0; /* unreadable: left to whoever reads it, as the listing does */
	st = json_string_value(json_object_get(rec, "status"));
	expires = json_integer_value(json_object_get(rec, "expires"));
	if (st != NULL && strcmp(st, "pending") == 0) {
		if (expires <= w->now) {
			memcpy(w->ids[w->n], key, klen);
			w->ids[w->n++][klen] = '\0';
		} else if (expires < w->next) {
			w->next = expires;
		}
	}
	json_decref(rec);
	return w->n == EXPIRY_BATCH ? 1 : 0;
}

int policy_requests_expire(policy_engine_t *e, int64_t now, int64_t *next, size_t *count,
			   cairn_err_t *err)
{
	expiry_walk_t *w = calloc(1, sizeof(*w));
	request_info_t info;
	db_txn_t *txn;
	size_t i;
	int rc = 0, more, rb;

	*count = 0;
	if (w == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	w->now = now;
	w->next = INT64_MAX;
	w->walk = (db_walk_t){ .min_len = POLICY_ID_HEX, .max_len = POLICY_ID_HEX,
			       .batch = EXPIRY_LOOK };
	do {
		w->n = 0;
		if ((rb = db_read_begin(e->db, &txn)) != 0) {
			rc = cairn_err_set(err, rb, "reading the requests: %s", cairn_strerror(rb));
			break;
		}
		more = db_walk_batch(txn, DB_REQUESTS, &w->walk, due_one, w);
		db_txn_end(txn);
		if (more < 0) {
			rc = cairn_err_set(err, more, "reading the requests: %s", cairn_strerror(more));
			break;
		}
		/* Each through the decision path: read again in its write, expired if still
		 * pending (an approval may have come meanwhile). One that fails holds back
		 * none of the others; the first failure is reported. */
		for (i = 0; i < w->n; i++) {
			cairn_err_t one_err = { 0 };
			int one = policy_request_get(e, w->ids[i], &info, &one_err);

			if (one == 0 && info.status == REQ_EXPIRED)
				(*count)++;
			else if (one != 0 && rc == 0)
				rc = cairn_err_set(err, one, "request %s: %s", w->ids[i],
						   cairn_err_msg(&one_err));
		}
	} while (more == 1 && !util_periodic_stopping(e->expiry));
	*next = w->next;
	free(w);
	return rc;
}

static int64_t expiry_run(void *arg, int64_t now)
{
	policy_engine_t *e = arg;
	cairn_err_t err = { 0 };
	int64_t next = INT64_MAX;
	size_t n = 0;
	int rc = policy_requests_expire(e, now, &next, &n, &err);

	if (n > 0)
		log_info("policy", "%zu pending request%s expired: nobody decided within "
			 "requests.pending_ttl", n, n == 1 ? "" : "s");
	if (rc != 0) {
		log_error("policy", "expiring pending requests: %s", cairn_err_msg(&err));
		return (int64_t)time(NULL) + 60;
	}
	return next;
}

int policy_expiry_start(policy_engine_t *e, cairn_err_t *err)
{
	if (util_periodic_start(expiry_run, e, EXPIRY_EVERY, &e->expiry) != 0)
		return cairn_err_set(err, CAIRN_ENOMEM, "cannot start the request expiry thread");
	return 0;
}

void policy_expiry_stop(policy_engine_t *e)
{
	if (e == NULL)
		return;
	util_periodic_stop(e->expiry);
	e->expiry = NULL;
}
