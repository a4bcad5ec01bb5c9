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

	details = json_pack("{s:s, s:s, s:s?, s:s, s:s}", "rule", d->rule, "reason", d->reason,
			    "name", d->name[0] ? d->name : NULL, "channel", req->channel,
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

/* The checks and the decision; 0 or a negative code (CAIRN_EDENIED: refused by policy). */
static int submit(policy_engine_t *e, const ca_request_t *req, const char *group,
		  policy_outcome_t *out, cairn_err_t *err)
{
	policy_input_t in;
	int rc;

	if ((rc = policy_request_input(e, req, group, &in, err)) != 0)
		return rc;
	policy_engine_explain(e, &in, NULL, NULL, &out->decision);
	switch (out->decision.action) {
	case POLICY_ISSUE:
		rc = ca_issue(e->ca, req, &out->issued, err);
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
