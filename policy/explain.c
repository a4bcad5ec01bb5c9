/* SPDX-License-Identifier: MIT */
/* An explanation (policy_explain) as one JSON document: the answer of the admin API's
 * policy test and of `cairn policy test --json`. */
#include "policy/policy_int.h"

/* Rules passed over per name, and each name's verdict. The texts go through
 * util_json_text: a CN is UTF-8 and the decision's texts are cut by bytes, so a cut
 * character shows as U+FFFD instead of losing the step or the answer. */
struct explained {
	json_t *passed, *names;
};

static void add_step(const policy_step_t *s, void *arg)
{
	struct explained *x = arg;
	json_t *o = json_pack("{s:o?, s:o}", "name", s->name ? util_json_text(s->name) : NULL,
			      "rule", util_json_text(s->rule));

	if (o == NULL)
		return;
	if (s->kind != NULL)
		json_object_set_new(o, "kind", json_string(s->kind));
	if (s->why != NULL) {
		json_object_set_new(o, "why", util_json_text(s->why));
		json_array_append_new(x->passed, o);
		return;
	}
	if (s->from_cn)
		json_object_set_new(o, "subject_cn", json_true());
	if (s->covered != NULL)
		json_object_set_new(o, "covered", util_json_text(s->covered));
	json_object_set_new(o, "action", json_string(policy_action_name(s->action)));
	if (s->action == POLICY_APPROVE) {
		json_object_set_new(o, "approvals", json_integer(s->approvals));
		json_object_set_new(o, "approver_role", json_string(s->approver_role));
	} else if (s->action == POLICY_REJECT) {
		json_object_set_new(o, "reason", util_json_text(s->reason));
	}
	json_array_append_new(x->names, o);
}

/* p NULL: through the engine e (under its lock). */
static json_t *explain_json(const policy_t *p, policy_engine_t *e, const policy_input_t *in)
{
	struct explained ex = { json_array(), json_array() };
	policy_decision_t d;
	json_t *doc = NULL;

	if (ex.passed == NULL || ex.names == NULL)
		goto out;
	if (p != NULL)
		policy_explain(p, in, add_step, &ex, &d);
	else
		policy_engine_explain(e, in, add_step, &ex, &d);
	doc = json_pack("{s:s, s:o, s:o, s:i, s:s, s:O, s:O}", "action",
			policy_action_name(d.action), "rule", util_json_text(d.rule), "reason",
			util_json_text(d.reason), "approvals", d.approvals, "approver_role",
			d.approver_role, "names", ex.names, "passed_over", ex.passed);
out:
	json_decref(ex.passed);
	json_decref(ex.names);
	return doc;
}

json_t *policy_explain_json(const policy_t *p, const policy_input_t *in)
{
	return explain_json(p, NULL, in);
}

json_t *policy_engine_explain_json(policy_engine_t *e, const policy_input_t *in)
{
	return explain_json(NULL, e, in);
}
