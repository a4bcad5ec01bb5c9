/* SPDX-License-Identifier: MIT */
/* policy: which requests are issued at once, which wait for approvers, which are refused — and the pending-request store. */
#ifndef CAIRN_POLICY_H
#define CAIRN_POLICY_H

#include <stdint.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "db/db.h"
#include "util/util.h"

typedef enum { POLICY_ISSUE, POLICY_APPROVE, POLICY_REJECT } policy_action_t;

/* What a rule sees of a request (all borrowed). Built from the CSR by policy_input_from_csr. */
typedef struct policy_input {
	const char *channel;    /* "acme" | "est" | "admin" */
	const char *requester;  /* "acme:acct/ID", "acme:eab/KID", "est:user/NAME", "est:cert/SUBJECT", "admin:NAME" */
	const char *group;      /* policy group bound to the requester (EAB, EST label), or NULL */
	const char *profile;
	const char *subject_cn; /* or NULL */
	char **dns;             /* DNS names, lower-case: the DNS SANs, and the CN when it is a name */
	size_t n_dns;
	char **ips;             /* IP names, text form: the IP SANs, and the CN when it is an address */
	size_t n_ips;
	char **emails;          /* email SANs, the domain (after the last '@') lower-cased */
	size_t n_emails;
	char **uris;            /* URI SANs as given */
	size_t n_uris;
	const char *cn_name;    /* the entry of dns or ips that is the CN (not one of the SANs), or NULL */
	const char *key_type;   /* "ec" | "rsa" | "ed25519" */
	int key_bits;
	const char *key_curve;  /* EC: "P-256", "P-384" (static string); else NULL */
	int validity_days;      /* requested; 0 = profile default */
} policy_input_t;

typedef struct policy_decision {
	policy_action_t action;
	char rule[64];          /* name of the rule that decided ("" = default) */
	int approvals;          /* POLICY_APPROVE: distinct approvers needed */
	char approver_role[16]; /* POLICY_APPROVE: role required of approvers, "" = approver or admin */
	char reason[256];       /* why, naming the name that decided: for reject the rule's reason
	                           and the name ("not allowed (x.test)"), for approve "pay.test
	                           needs 2 approvals by admin (rule payments)" */
	char name[256];         /* the name whose verdict decided: the first refused (reject), the
	                           one asking most approvals (approve); "" for issue and for a
	                           request without names */
	int name_from_cn;       /* name is the subject CN, not one of the SANs */
	char covered[256];      /* name is a wildcard: the name it covers that decided, or "" */
} policy_decision_t;

typedef struct policy policy_t;

/*
 * Loads and validates a policy file: {"rules": [{"name", "match": {...}, "action",
 * "approvals"?, "approver_role"?, "reason"?}, ...]}. Errors name the rule and field
 * ("rules[1] (prod).match.dns_suffix: must be an array of strings").
 * *out owned by the caller: policy_free.
 */
int policy_load(const char *path, policy_t **out, cairn_err_t *err) CAIRN_WUR;
/* Same from a JSON text (used by tests and `cairn policy test`). */
int policy_parse(const char *text, size_t len, policy_t **out, cairn_err_t *err) CAIRN_WUR;
void policy_free(policy_t *p);
/* A policy group name, as EAB keys, EST labels (policy_group) and match.group hold it:
 * 1..63 of [A-Za-z0-9_.-]. 1 when s is one. */
int policy_group_ok(const char *s);
#define POLICY_GROUP_RULE "1..63 of [A-Za-z0-9_.-]"
/* Every profile a rule's match.profile names is one known() accepts (the CA's profiles):
 * a misspelt profile would leave the rule matching nothing. 0, or CAIRN_ECONFIG with err
 * naming the rule ("rules[2] (admins).match.profile: \"admn\" can never match: ..."). */
int policy_check_profiles(const policy_t *p, int (*known)(const char *name, const void *arg),
			  const void *arg, cairn_err_t *err) CAIRN_WUR;

/* The policy `cairn init` writes: every request issues (proof of control /
 * authentication is the gate); admins tighten it. New string, caller frees. */
char *policy_default_text(void);

/* Names, CN and key facts of a request object into in (arrays malloc'd into in;
 * release with policy_input_clear): the names ca_csr_new extracted, plus the CN as one
 * more name when it is not one of the SANs (lower-cased, surrounding spaces and one
 * trailing dot dropped; what inet_aton reads as an address as an IP name). Other fields
 * are left as the caller set them. csr may be unverified (explanations). */
int policy_input_from_csr(const ca_csr_t *csr, policy_input_t *in, cairn_err_t *err) CAIRN_WUR;
void policy_input_clear(policy_input_t *in);

/*
 * The decision for a request (docs/policy.md): each DNS, IP, email and URI name is tried
 * against the rules with the request's other facts, and the first rule that holds decides
 * that name; a wildcard *.B is every name it covers (a rule listing pay.B decides that one,
 * the first rule covering all of them the rest); a request without names is tried once.
 * Then the strictest wins: any reject rejects (the first one); else any approve waits
 * for the most approvals asked by a name, by the strictest role (approver and operator
 * together leave admin); else issue. No matching rule = reject "no policy rule
 * matches". Pure, thread-safe; cost O(names x rule fields).
 */
void policy_decide(const policy_t *p, const policy_input_t *in, policy_decision_t *out);

/* One line of an explanation: for one name, a rule passed over (why set) or the verdict
 * for that name (why NULL). All strings borrowed for the call. */
typedef struct policy_step {
	const char *name;          /* the name, or NULL: the request has no name */
	int from_cn;               /* the name is the subject CN */
	const char *kind;          /* "dns", "ip", "email" or "uri" (a CN's as the policy read
				    * it: docs/policy.md); NULL when the request has no name */
	const char *covered;       /* a wildcard's verdict for this one name it covers, or NULL */
	const char *rule;          /* the rule; "" in a verdict no rule gave (reject) */
	const char *why;           /* passed over: what did not hold; NULL: a verdict */
	policy_action_t action;    /* verdict: what it says for this name */
	int approvals;             /* verdict approve: approvals asked */
	const char *approver_role; /* verdict approve: role asked ("" = approver) */
	const char *reason;        /* verdict reject: the reason */
} policy_step_t;
typedef void (*policy_explain_fn)(const policy_step_t *step, void *arg);
/* policy_decide that reports, name by name, each rule passed over and the verdict (fn
 * may be NULL). */
void policy_explain(const policy_t *p, const policy_input_t *in, policy_explain_fn fn,
		    void *arg, policy_decision_t *out);
/* The explanation as one JSON document (new reference; NULL when out of memory):
 * {"action", "rule" ("" = reject by default), "reason", "approvals", "approver_role",
 * "names": [the verdict for each name: "name", "rule", "action", "subject_cn"?, "covered"?,
 * "approvals"/"approver_role" or "reason"], "passed_over": [{"name", "rule", "why"}]}. */
json_t *policy_explain_json(const policy_t *p, const policy_input_t *in);
/* "issue", "approve" or "reject". Static string. */
const char *policy_action_name(policy_action_t a);

/* ---- the one path every channel takes ---- */
typedef struct policy_engine policy_engine_t;

/* Engine over a CA and its database, with the policy file at path (reloadable). */
int policy_engine_new(ca_t *ca, db_t *db, const char *policy_path, int64_t pending_ttl,
		      policy_engine_t **out, cairn_err_t *err) CAIRN_WUR;
void policy_engine_free(policy_engine_t *e);
/* Re-reads the policy file; on error the old policy stays and err says why (rule and field). */
int policy_engine_reload(policy_engine_t *e, cairn_err_t *err) CAIRN_WUR;
/* Same, audited as "policy.reload" (or "policy.reload_failed" with the error) with actor. */
int policy_engine_reload_as(policy_engine_t *e, const char *actor, cairn_err_t *err) CAIRN_WUR;
/* The text of the policy in force (new string, caller frees; NULL when out of memory). */
char *policy_engine_text(policy_engine_t *e);
/* policy_explain against the policy in force. Thread-safe. */
void policy_engine_explain(policy_engine_t *e, const policy_input_t *in, policy_explain_fn fn,
			   void *arg, policy_decision_t *out);
/* policy_explain_json with the engine's policy in force. */
json_t *policy_engine_explain_json(policy_engine_t *e, const policy_input_t *in);

typedef enum {
	REQ_PENDING,  /* waiting for approvals */
	REQ_ISSUED,   /* certificate issued: serial_hex set */
	REQ_REJECTED, /* by policy or by an approver: reason set */
	REQ_EXPIRED,  /* nobody decided in time */
	REQ_FAILED,   /* approved but issuance failed: reason set */
} request_status_t;

typedef struct request_info {
	char id[33];            /* hex, 16 random bytes */
	request_status_t status;
	char channel[16];
	char requester[128];
	char profile[64];
	char rule[64];
	int approvals_needed;
	int approvals_have;
	char serial_hex[2 * DB_SERIAL_MAX + 1];
	char reason[256];
	int64_t created;
	int64_t expires;
} request_info_t;

typedef struct policy_outcome {
	policy_decision_t decision;
	request_info_t request;  /* filled when a request was stored (POLICY_APPROVE) */
	ca_issued_t *issued;     /* POLICY_ISSUE: the certificate (caller frees with ca_issued_free) */
} policy_outcome_t;

/* How a submission ended (policy_submit, policy_submit_answer). */
typedef enum {
	POLICY_SUBMIT_ISSUED,   /* out->issued holds the certificate */
	POLICY_SUBMIT_PENDING,  /* out->request: stored, waiting for approvers */
	POLICY_SUBMIT_REJECTED, /* refused by policy (audited "request.rejected"): err is
	                           CAIRN_EDENIED naming the rule and reason */
	POLICY_SUBMIT_FAILED,   /* not decided or not issued: err says why (CSR, profile,
	                           name constraints, token, database) */
} policy_submit_result_t;

/*
 * Every issuance, whatever the channel: checks the request object (req->csr, parsed and
 * verified once by ca_csr_new; an unverified one is CAIRN_EINVAL) against the profile and
 * the CA's name constraints, asks the policy, then issues (POLICY_ISSUE: out->issued),
 * stores a pending request (POLICY_APPROVE: out->request, durable, audited
 * "request.pending") or refuses (POLICY_REJECT: audited "request.rejected", err
 * CAIRN_EDENIED says the rule and reason). With req->no_wait an approve decision is
 * refused the same way (decision.action becomes POLICY_REJECT) and nothing is stored.
 * group may be NULL. Returns the outcome; on POLICY_SUBMIT_REJECTED/FAILED err->code
 * holds the error code. Thread-safe.
 */
policy_submit_result_t policy_submit(policy_engine_t *e, const ca_request_t *req,
				     const char *group, policy_outcome_t *out, cairn_err_t *err)
	CAIRN_WUR;

/* How a channel answers each outcome (its reply formatter). arg is the channel's; the
 * outcome and err are borrowed for the call. A NULL member answers nothing. */
typedef struct policy_answer {
	void (*issued)(void *arg, const policy_outcome_t *out);
	void (*pending)(void *arg, const policy_outcome_t *out);
	/* POLICY_SUBMIT_REJECTED or POLICY_SUBMIT_FAILED; err->code says which error */
	void (*refused)(void *arg, policy_submit_result_t res, const policy_outcome_t *out,
			const cairn_err_t *err);
} policy_answer_t;

/*
 * The one submit-and-answer path of ACME, EST and the admin API: policy_submit, then the
 * channel's formatter for what came of it; the outcome (and its certificate) is freed
 * afterwards. Returns what policy_submit returned; err as policy_submit leaves it.
 */
policy_submit_result_t policy_submit_answer(policy_engine_t *e, const ca_request_t *req,
					    const char *group, const policy_answer_t *ans,
					    void *arg, cairn_err_t *err);

/*
 * Expires every pending request whose time has passed (each as policy_request_get does:
 * audited, notified, counted); *count: how many, *next: the earliest expiry of those still
 * pending (INT64_MAX: none). Returns 0 or a db code with err set.
 */
int policy_requests_expire(policy_engine_t *e, int64_t now, int64_t *next, size_t *count,
			   cairn_err_t *err) CAIRN_WUR;
/* A thread that runs policy_requests_expire at start, when the next request is due and
 * at least hourly, and logs what it expired. Stop it before the engine's db closes
 * (policy_engine_free stops it too); stop is a no-op when not started. */
int policy_expiry_start(policy_engine_t *e, cairn_err_t *err) CAIRN_WUR;
void policy_expiry_stop(policy_engine_t *e);

/* Current state of a request (expiring it if its time has passed). CAIRN_ENOENT if unknown. */
int policy_request_get(policy_engine_t *e, const char *id, request_info_t *out,
		       cairn_err_t *err) CAIRN_WUR;

/*
 * An approver's decision. approve: counts one approval per distinct approver
 * (CAIRN_EEXIST if this approver already approved; CAIRN_EDENIED if the approver
 * is the requester, lacks the rule's approver_role or fails the approver check
 * of policy_engine_set_approver_check); the last needed approval
 * issues the certificate. reject: ends the request. Both audited with the actor.
 * out (may be NULL) receives the new state.
 */
int policy_request_approve(policy_engine_t *e, const char *id, const char *approver,
			   const char *role, const char *comment, request_info_t *out,
			   cairn_err_t *err) CAIRN_WUR;
int policy_request_reject(policy_engine_t *e, const char *id, const char *approver,
			  const char *role, const char *comment, request_info_t *out,
			  cairn_err_t *err) CAIRN_WUR;

/* 1 when an admin of role may decide (approve or reject) requests of a rule asking for
 * approver_role ("" = approver): admins always, otherwise that role only. */
int policy_role_may_decide(const char *approver_role, const char *role);

/*
 * Whether approver (the actor, "admin:NAME") counts on a request that was submitted
 * at audit sequence request_seq (0: a record from before sequences were kept). Runs
 * inside the decision's write transaction (txn borrowed, read it only). Returns 0
 * when the approval counts, else a negative code with the reason in err.
 */
typedef int (*policy_approver_fn)(db_txn_t *txn, const char *approver, uint64_t request_seq,
				  void *arg, cairn_err_t *err);
/*
 * Installs the check every approval passes: a new approval that fails it is refused
 * with its code; approvals stored earlier whose approver fails it now (disabled since)
 * are dropped before counting, and counted again in the write of the certificate the
 * last approval issues (too few left: the request fails, nothing issued). NULL (the
 * default) = every approver counts. Call before
 * the engine serves requests; arg is borrowed.
 */
void policy_engine_set_approver_check(policy_engine_t *e, policy_approver_fn fn, void *arg);
/*
 * Whether requester ("acme:acct/ID", "est:user/NAME", …) may still be issued the
 * certificate of request (its id), checked in the write of the certificate an approval
 * issues (txn borrowed, read it only): 0, or a negative code with the reason in err — the
 * request then fails with it and nothing is issued. A request waits for approvers for
 * days; its requester may be gone by then (an ACME account revoked), or have given up
 * what the request rests on (an ACME authorization deactivated).
 */
typedef int (*policy_requester_fn)(db_txn_t *txn, const char *requester, const char *request,
				   void *arg, cairn_err_t *err);
/* Installs that check (NULL, the default: every requester may). Call before the engine
 * serves requests; arg is borrowed. */
void policy_engine_set_requester_check(policy_engine_t *e, policy_requester_fn fn, void *arg);
/*
 * Whether the certificate an approval issues for request (its id) of requester may be
 * signed now, asked before it is signed, outside any transaction: it may ask the network
 * (ACME rechecks CAA when the validation is more than 8 hours old, CA/B BR §3.2.2.8, and
 * a request waits for approvers for days). It runs under the lock that takes approvals
 * one at a time, as the signature does. 0, or a negative code with the reason in err —
 * the request then fails with it and nothing is issued.
 */
typedef int (*policy_presign_fn)(const char *request, const char *requester, void *arg,
				 cairn_err_t *err);
/* Installs that check (NULL, the default: none). Call before the engine serves requests;
 * arg is borrowed. */
void policy_engine_set_presign_check(policy_engine_t *e, policy_presign_fn fn, void *arg);

/* Walks requests (status filter: -1 = all), newest first. fn gets each request's facts and
 * what approvers see of its CSR without parsing it (summary, borrowed for the call;
 * json_incref to keep it):
 * {"subject", "sans": [{"type", "value"}], "names", "key": {"type", "bits", "curve"?}},
 * subject, sans and key absent in records from before they were stored. fn returns
 * non-zero to stop. Returns 0, fn's value, CAIRN_EINVAL, CAIRN_EDB or CAIRN_ENOMEM. */
typedef int (*policy_request_fn)(const request_info_t *r, json_t *summary, void *arg);
int policy_requests_list(policy_engine_t *e, int status, policy_request_fn fn, void *arg);

/*
 * The certificate of an issued request, as ca_issue returns it (cert, der, serial_hex,
 * issuer; audit_seq 0): what an ACME order or an EST poll hands out once the last
 * approval came. *out owned by the caller (ca_issued_free). Returns 0, CAIRN_ENOENT
 * (unknown request), CAIRN_ECONFLICT (not issued: err says its status and reason),
 * CAIRN_EDB. Thread-safe.
 */
int policy_request_certificate(policy_engine_t *e, const char *id, ca_issued_t **out,
			       cairn_err_t *err) CAIRN_WUR;

/* "pending", "issued", "rejected", "expired", "failed". Static string. */
const char *request_status_name(request_status_t s);
/* Status by name, or -1. */
int request_status_parse(const char *name);
/* The request as JSON for the API and CLI (docs/api.md): the request_info_t fields plus
 * what approvers see: subject (RFC 2253), sans [{type, value}], names (what the policy
 * matched), key {type, bits, curve?}, validity {asked_days, granted_days, not_before?,
 * not_after?}, decision {action, rule, reason, name, subject_cn, covered, ...}, approvals
 * [{by, role, at, comment}], approvals_have, history [{event, at, by, seq, ...}] and
 * decided_by; no CSR. Records from before these were stored are read from their CSR and
 * their history rebuilt (seq null). New reference in *out. CAIRN_ENOENT if unknown.
 * Expires the request first if its time has passed. */
int policy_request_json(policy_engine_t *e, const char *id, json_t **out, cairn_err_t *err)
	CAIRN_WUR;

#endif
