/* SPDX-License-Identifier: MIT */
/* Private to policy/: the engine's state shared by engine.c and requests.c. */
#ifndef CAIRN_POLICY_INT_H
#define CAIRN_POLICY_INT_H

#include <pthread.h>

#include "policy/policy.h"

struct policy_engine {
	ca_t *ca;                /* borrowed */
	db_t *db;                /* borrowed */
	char *path;              /* policy file */
	int64_t ttl;             /* seconds a pending request waits */
	pthread_rwlock_t lock;   /* guards policy and text (swapped by reload) */
	policy_t *policy;
	char *text;
	pthread_mutex_t decide;  /* approvals and rejections one at a time */
	policy_approver_fn approver_ok; /* may be NULL: every approver counts */
	void *approver_arg;
};

/* Stores a new pending request for in/d (audited "request.pending"); fills info. */
int policy_request_store(policy_engine_t *e, const ca_request_t *req, const char *group,
			 const policy_input_t *in, const policy_decision_t *d,
			 request_info_t *info, cairn_err_t *err);

/* Appends one audit event in its own durable write. names/details borrowed (may be NULL). */
int policy_audit(db_t *db, const char *actor, const char *action, const char *serial,
		 json_t *names, json_t *details, cairn_err_t *err);

/* The DNS and IP names of in as a new JSON array. */
json_t *policy_input_names(const policy_input_t *in);

#endif
