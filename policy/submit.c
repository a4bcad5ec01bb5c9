/* SPDX-License-Identifier: MIT */
/* The one issuance path of every channel: request object → checks → policy → issue | pending | reject → the channel's answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_int.h"

/* A refusal by policy: audited, then err says the rule and the reason. */
static int refuse(policy_engine_t *e, const ca_request_t *req, const policy_input_t *in,
		  const policy_decision_t *d, cairn_err_t *err)
{
	json_t *names = policy_input_names(in), *details;
	int rc;

	/* The decision's texts are cut by bytes (a CN in UTF-8, a reason from the policy file):
	 * util_json_text keeps a cut character as U+FFFD, so the event keeps its details. */
	details = json_pack("{s:o, s:o, s:o?, s:s, s:s}", "rule", util_json_text(d->rule),
			    "reason", util_json_text(d->reason), "name",
			    d->name[0] ? util_json_text(d->name) : NULL, "channel", req->channel,
			    "profile", req->profile);
	rc = policy_audit(e->db, req->requester, "request.rejected", NULL, names, details, err);
	if (rc == 0)
		rc = cairn_err_set(err, CAIRN_EDENIED, "rejected by policy%s%s: %s",
				   d->rule[0] ? " rule " : "", d->rule, d->reason);
	json_decref(names);
	json_decref(details);
	return rc;
}

int policy_request_input(policy_engine_t *e, const ca_request_t *req, const char *group,
			 policy_input_t *in, cairn_err_t *err)
{
	const ca_profile_t *prof;
	int rc;

	memset(in, 0, sizeof(*in));
	if (e == NULL || req == NULL || req->csr == NULL || req->profile == NULL ||
	    req->requester == NULL || req->channel == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "request lacks CSR, profile, requester or channel");
	if ((prof = ca_profile_find(e->ca, req->profile, err)) == NULL)
		return CAIRN_EPROFILE;
	if (req->validity_days < 0 || req->validity_days > prof->validity_days)
		return cairn_err_set(err, CAIRN_EINVAL,
				     "validity_days %d outside 1..%d (profile %s)", req->validity_days,
				     prof->validity_days, prof->name);
	/* The CSR was parsed, verified and named once by ca_csr_new; what is left depends on
	 * the profile and the CA. */
	if ((rc = ca_csr_check_profile(req->csr, prof, err)) != 0 ||
	    (rc = ca_csr_check_constraints(e->ca, req->csr, err)) != 0 ||
	    (rc = policy_input_from_csr(req->csr, in, err)) != 0) {
		policy_input_clear(in);
		return rc;
	}
	in->channel = req->channel;
	in->requester = req->requester;
	in->group = group;
	in->profile = req->profile;
	in->validity_days = req->validity_days ? req->validity_days : prof->validity_days;
	return 0;
}

/* An issue decision, taken before the signature, in the certificate's own write. */
typedef struct decided {
	policy_engine_t *e;
	const policy_input_t *in;
	uint64_t generation;             /* of the rules that decided */
	const ca_record_extra_t *caller; /* the channel's own extra (borrowed), or NULL */
	int changed;                     /* out: a reload since decided otherwise (now) */
	policy_decision_t now;
} decided_t;

/* A reload between the decision and this write (the signature takes its time): the policy
 * in force decides again and has the last word, as it has on a pending request. Then the
 * channel's own step. */
static int still_decided(db_txn_t *txn, const char *serial_hex, void *arg, cairn_err_t *err)
{
	decided_t *d = arg;

	d->changed = 0; /* the writer may rerun the op */
	if (policy_engine_generation(d->e) != d->generation) {
		(void)policy_engine_decide(d->e, d->in, &d->now);
		if (d->now.action != POLICY_ISSUE) {
			d->changed = 1;
			return cairn_err_set(err, CAIRN_EDENIED, "the policy was reloaded meanwhile");
		}
	}
	if (d->caller == NULL || d->caller->also == NULL)
		return 0;
	return d->caller->also(txn, serial_hex, d->caller->also_arg, err);
}

/* Issues what the policy decided to issue (generation: of the rules that decided); a
 * reload that now decides otherwise refuses it, audited like a rejection (out->decision:
 * the one in force). */
static int issue(policy_engine_t *e, const ca_request_t *req, const policy_input_t *in,
		 uint64_t generation, policy_outcome_t *out, cairn_err_t *err)
{
	decided_t d = { e, in, generation, req->record_extra, 0, { 0 } };
	ca_record_extra_t extra = { req->record_extra ? req->record_extra->details : NULL,
				    still_decided, &d };
	ca_request_t mine = *req;
	int rc;

	mine.record_extra = &extra;
	rc = ca_issue(e->ca, &mine, &out->issued, err);
	if (rc == 0 || !d.changed)
		return rc;
	out->decision = d.now;
	if (d.now.action == POLICY_APPROVE) {
		out->decision.action = POLICY_REJECT;
		snprintf(out->decision.reason, sizeof(out->decision.reason),
			 "the policy reloaded while the certificate was signed asks %d "
			 "approval(s): submit the request again", d.now.approvals);
	}
	return refuse(e, req, in, &out->decision, err);
}

/* The checks and the decision; 0 or a negative code (CAIRN_EDENIED: refused by policy). */
static int submit(policy_engine_t *e, const ca_request_t *req, const char *group,
		  policy_outcome_t *out, cairn_err_t *err)
{
	policy_input_t in;
	uint64_t generation;
	int rc;

	if ((rc = policy_request_input(e, req, group, &in, err)) != 0)
		return rc;
	generation = policy_engine_decide(e, &in, &out->decision);
	switch (out->decision.action) {
	case POLICY_ISSUE:
		rc = issue(e, req, &in, generation, out, err);
		break;
	case POLICY_APPROVE:
		if (!req->no_wait) {
			rc = policy_request_store(e, req, group, &in, &out->decision, &out->request,
						  err);
			break;
		}
		/* Nothing is stored for approvers to approve: refused like a reject rule. */
		out->decision.action = POLICY_REJECT;
		snprintf(out->decision.reason, sizeof(out->decision.reason),
			 "needs %d approval(s), but this request cannot wait for them",
			 out->decision.approvals);
		/* fall through */
	case POLICY_REJECT:
		rc = refuse(e, req, &in, &out->decision, err);
		break;
	}
	policy_input_clear(&in);
	return rc;
}

policy_submit_result_t policy_submit(policy_engine_t *e, const ca_request_t *req,
				     const char *group, policy_outcome_t *out, cairn_err_t *err)
{
	int rc;

	memset(out, 0, sizeof(*out));
	rc = submit(e, req, group, out, err);
	if (rc == CAIRN_EDENIED)
		return POLICY_SUBMIT_REJECTED;
	if (rc != 0)
		return POLICY_SUBMIT_FAILED;
	if (out->decision.action == POLICY_APPROVE)
		return POLICY_SUBMIT_PENDING;
	if (out->issued == NULL) {
		cairn_err_set(err, CAIRN_EINVAL, "policy gave no certificate");
		return POLICY_SUBMIT_FAILED;
	}
	return POLICY_SUBMIT_ISSUED;
}

policy_submit_result_t policy_submit_answer(policy_engine_t *e, const ca_request_t *req,
					    const char *group, const policy_answer_t *ans,
					    void *arg, cairn_err_t *err)
{
	policy_outcome_t out;
	policy_submit_result_t res = policy_submit(e, req, group, &out, err);

	switch (res) {
	case POLICY_SUBMIT_ISSUED:
		if (ans->issued != NULL)
			ans->issued(arg, &out);
		break;
	case POLICY_SUBMIT_PENDING:
		if (ans->pending != NULL)
			ans->pending(arg, &out);
		break;
	case POLICY_SUBMIT_REJECTED:
	case POLICY_SUBMIT_FAILED:
		if (ans->refused != NULL)
			ans->refused(arg, res, &out, err);
		break;
	}
	ca_issued_free(out.issued);
	return res;
}
