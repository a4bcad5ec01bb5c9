/* SPDX-License-Identifier: MIT */
/* Private to policy/: parsed rules (rules.c, decide.c) and the engine's state (engine.c, requests.c). */
#ifndef CAIRN_POLICY_INT_H
#define CAIRN_POLICY_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "policy/policy.h"

#define POLICY_MAX_RULES 1000

typedef struct strlist {
	char **v;
	size_t n;
} strlist_t;

/* An address range; IPv4 is held as IPv4-mapped IPv6 (::ffff:a.b.c.d/96+bits), so
 * 10.0.0.0/8 and ::ffff:10.0.0.0/104 are the same range and match the same names. */
typedef struct cidr {
	uint8_t addr[16];
	int bits; /* 0..128 */
} cidr_t;

typedef struct rule {
	char name[64];
	strlist_t channel, requester, group, profile, dns_suffix, dns_exact, key_type;
	strlist_t email_domain; /* lower-case; ".d" = under d, "d" = d itself */
	strlist_t uri_prefix;   /* byte prefixes, each a URI with a scheme */
	cidr_t *cidrs;
	size_t n_cidrs;
	int wildcard; /* -1 = not constrained, 0 = refused, 1 = allowed */
	char *cn_prefix, *cn_pattern;
	int min_bits, max_bits, max_validity;
	policy_action_t action;
	int approvals;
	char approver_role[16];
	char reason[256];
} rule_t;

struct policy {
	rule_t *rules;
	size_t n;
};

/* An IPv4 or IPv6 address in text form as the 16 bytes rules compare: IPv4 (and
 * IPv4-mapped IPv6) as ::ffff:a.b.c.d. Returns 0, or -1 when text is no address. */
int policy_ip16(const char *text, uint8_t out[16]);

struct policy_engine {
	ca_t *ca;                /* borrowed */
	db_t *db;                /* borrowed */
	char *path;              /* policy file */
	int64_t ttl;             /* seconds a pending request waits */
	pthread_rwlock_t lock;   /* guards policy and text (swapped by reload) */
	policy_t *policy;
	char *text;
	_Atomic uint64_t generation; /* of policy: bumped by every reload, under lock */
	pthread_mutex_t decide;  /* approvals and rejections one at a time */
	policy_approver_fn approver_ok; /* may be NULL: every approver counts */
	void *approver_arg;
	policy_requester_fn requester_ok; /* may be NULL: every requester may */
	void *requester_arg;
	policy_presign_fn presign_ok; /* may be NULL: no check before signing */
	void *presign_arg;
	util_periodic_t *expiry;  /* expires due requests (expiry.c), or NULL */
};

/* policy_engine_explain without an explanation, returning the generation of the rules
 * that decided (a later reload bumps it: policy_engine_generation). */
uint64_t policy_engine_decide(policy_engine_t *e, const policy_input_t *in,
			      policy_decision_t *out);
/* The generation of the rules in force now. */
uint64_t policy_engine_generation(policy_engine_t *e);

/* Characters of a request id (hex of 16 random bytes): the key of its record. */
#define POLICY_ID_HEX 32

/* What the policy decides on for req (group: the submitter's, may be NULL), after the
 * checks that depend on its profile (validity, CSR against the profile) and on the CA
 * (name constraints): fills in (release with policy_input_clear; cleared on failure).
 * Borrows req's strings. Returns 0, CAIRN_EINVAL, CAIRN_EPROFILE or the check's code, with
 * err set. The one path from a request to a decision: submissions and approvals. */
int policy_request_input(policy_engine_t *e, const ca_request_t *req, const char *group,
			 policy_input_t *in, cairn_err_t *err);

/* The strictest of two approver roles into have ("" = approver): the same stays, two
 * different ones leave admin (decide.c). */
void policy_role_combine(char *have, size_t cap, const char *add);

/* Stores a new pending request for in/d (audited "request.pending") with what approvers
 * see of its CSR (req->csr: the bytes as received, and its facts); fills info. */
int policy_request_store(policy_engine_t *e, const ca_request_t *req, const char *group,
			 const policy_input_t *in, const policy_decision_t *d,
			 request_info_t *info, cairn_err_t *err);

/* ---- what approvers see (request_view.c); rec is a stored request record ---- */

/* Sets on rec the facts of its CSR: "subject" (RFC 2253, ca_dn_text), "sans"
 * [{"type", "value"}] (every SAN the extractor found) and "key" {"type", "bits",
 * "curve"?} (from in). Returns 0 or CAIRN_ENOMEM with err set. */
int policy_record_facts(json_t *rec, const ca_csr_t *csr, const policy_input_t *in,
			cairn_err_t *err);
/* d as {"action", "rule", "reason", "name", "subject_cn", "covered", "approvals_needed",
 * "approver_role"} (name and covered null when empty). New reference, NULL if out of memory. */
json_t *policy_decision_json(const policy_decision_t *d);
/* rec's "history" array (borrowed), rebuilt from the record first when it has none (a
 * record from before history was kept: those events have seq null). NULL if out of memory. */
json_t *policy_history(json_t *rec);
/* Appends {"event", "at", "by", "seq" (the audit event's sequence), extra's members} to
 * rec's history. extra (may be NULL) is stolen. Returns 0 or CAIRN_ENOMEM. */
int policy_history_add(json_t *rec, const char *event, int64_t at, const char *by,
		       uint64_t seq, json_t *extra);
/* What a list shows of rec without parsing its CSR: {"subject", "sans", "names", "key"}
 * (those present). New reference, NULL if out of memory. */
json_t *policy_record_summary(const json_t *rec);
/* Turns rec into the view of policy_request_json: facts read from the CSR when the record
 * predates them (when that CSR does not read: "facts_error" says why), the CSR dropped, "decision", "history", "validity" and "approvals_have"
 * filled. Returns 0 or CAIRN_ENOMEM with err set. */
int policy_record_view(policy_engine_t *e, json_t *rec, cairn_err_t *err);

/* Appends one audit event in its own durable write. names/details borrowed (may be NULL). */
int policy_audit(db_t *db, const char *actor, const char *action, const char *serial,
		 json_t *names, json_t *details, cairn_err_t *err);

/* The names of in (DNS, IP, email, URI) as a new JSON array (input.c). */
json_t *policy_input_names(const policy_input_t *in);

#endif
