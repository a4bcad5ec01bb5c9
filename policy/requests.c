/* SPDX-License-Identifier: MIT */
/* Pending requests: durable records in DB_REQUESTS, approvals by distinct approvers, expiry, listing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "audit/audit.h"
#include "notify/notify.h"
#include "policy/policy_int.h"


static const char *const status_names[] = { "pending", "issued", "rejected", "expired",
					    "failed" };

const char *request_status_name(request_status_t s)
{
	return (unsigned)s < sizeof(status_names) / sizeof(status_names[0]) ? status_names[s]
									     : "unknown";
}

int request_status_parse(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (strcmp(status_names[i], name) == 0)
			return (int)i;
	return -1;
}

static const char *jstr(const json_t *rec, const char *key)
{
	const char *s = json_string_value(json_object_get(rec, key));
	return s ? s : "";
}

static int64_t jint(const json_t *rec, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(rec, key));
}

static void info_from_json(const json_t *rec, request_info_t *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", jstr(rec, "id"));
	out->status = (request_status_t)request_status_parse(jstr(rec, "status"));
	snprintf(out->channel, sizeof(out->channel), "%s", jstr(rec, "channel"));
	snprintf(out->requester, sizeof(out->requester), "%s", jstr(rec, "requester"));
	snprintf(out->profile, sizeof(out->profile), "%s", jstr(rec, "profile"));
	snprintf(out->rule, sizeof(out->rule), "%s", jstr(rec, "rule"));
	out->approvals_needed = (int)jint(rec, "approvals_needed");
	out->approvals_have = (int)json_array_size(json_object_get(rec, "approvals"));
	snprintf(out->serial_hex, sizeof(out->serial_hex), "%s", jstr(rec, "serial"));
	snprintf(out->reason, sizeof(out->reason), "%s", jstr(rec, "reason"));
	out->created = jint(rec, "created");
	out->expires = jint(rec, "expires");
}

/* Moves the "requests" counters (stats table: /metrics reads them) from the stored
 * record's status to rec's, in the same txn. */
static int count_status(db_txn_t *txn, const char *id, const json_t *rec)
{
	const char *l[1];
	const void *val;
	size_t len;
	json_t *old = NULL;
	int rc = 0;

	if (db_get(txn, DB_REQUESTS, id, strlen(id), &val, &len) == 0 &&
	    (old = json_loadb(val, len, 0, NULL)) != NULL && (l[0] = jstr(old, "status"))[0])
		rc = db_counter_add(txn, "requests", l, 1, -1);
	json_decref(old);
	if (rc == 0 && (l[0] = jstr(rec, "status"))[0])
		rc = db_counter_add(txn, "requests", l, 1, 1);
	return rc;
}

static int put_record(db_txn_t *txn, const json_t *rec, unsigned flags)
{
	const char *id = jstr(rec, "id");
	char *text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	int rc;

	if (text == NULL)
		return CAIRN_ENOMEM;
	rc = count_status(txn, id, rec);
	if (rc == 0)
		rc = db_put(txn, DB_REQUESTS, id, strlen(id), text, strlen(text), flags);
	free(text);
	return rc;
}

/* The record of id inside txn (new reference), or NULL with err set. */
static json_t *get_record(db_txn_t *txn, const char *id, cairn_err_t *err)
{
	const void *val;
	size_t len;
	json_t *rec;

	if (strlen(id) != POLICY_ID_HEX ||
	    db_get(txn, DB_REQUESTS, id, POLICY_ID_HEX, &val, &len) != 0) {
		cairn_err_set(err, CAIRN_ENOENT, "no request %s", id);
		return NULL;
	}
	rec = json_loadb(val, len, 0, NULL);
	if (rec == NULL)
		cairn_err_set(err, CAIRN_EDB, "request %s: stored record unreadable", id);
	return rec;
}

/* The notify event of a request's change (request.pending, .approved, .rejected, .expired),
 * in the same txn as its audit event. by: who decided (NULL for none). */
static int request_event(db_txn_t *txn, const char *type, json_t *rec, const char *by,
			 cairn_err_t *err)
{
	char expires[32];
	json_t *data;
	int rc;

	time_rfc3339((time_t)jint(rec, "expires"), expires, sizeof(expires));
	data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O?, s:I, s:I, s:s, s:s, s:s?, s:I}", "id",
			 jstr(rec, "id"), "status", jstr(rec, "status"), "requester",
			 jstr(rec, "requester"), "profile", jstr(rec, "profile"), "channel",
			 jstr(rec, "channel"), "rule", jstr(rec, "rule"), "names",
			 json_object_get(rec, "names"), "approvals_needed",
			 (json_int_t)jint(rec, "approvals_needed"), "approvals",
			 (json_int_t)json_array_size(json_object_get(rec, "approvals")),
			 "approver_role", jstr(rec, "approver_role"), "expires", expires, "by", by,
			 "audit_seq", (json_int_t)jint(rec, "seq"));
	if (data == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	rc = notify_event(txn, type, data, NULL, err);
	json_decref(data);
	return rc;
}

/* ---- storing a new request ---- */

struct store_op {
	json_t *rec;
	json_t *names;
	json_t *details;
};

static int store_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct store_op *s = arg;
	audit_event_t ev = { jstr(s->rec, "requester"), "request.pending", NULL, s->names,
			     s->details };
	uint64_t seq = 0;
	int rc = audit_append(txn, &ev, &seq, err);

	/* The event's sequence dates the request: approvers must be older (approver_ok). */
	if (rc)
		return rc;
	json_object_set_new(s->rec, "seq", json_integer((json_int_t)seq));
	/* A new history (the writer may run this twice). */
	if (json_object_set_new(s->rec, "history", json_array()) != 0 ||
	    policy_history_add(s->rec, "submitted", jint(s->rec, "created"),
			       jstr(s->rec, "requester"), seq, NULL) != 0)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	rc = put_record(txn, s->rec, DB_NOOVERWRITE);
	if (rc)
		return cairn_err_set(err, rc, "storing request: %s", cairn_strerror(rc));
	return request_event(txn, "request.pending", s->rec, NULL, err);
}

int policy_request_store(policy_engine_t *e, const ca_request_t *req, const char *group,
			 const policy_input_t *in, const policy_decision_t *d,
			 request_info_t *info, cairn_err_t *err)
{
	struct store_op s = { NULL, NULL, NULL };
	uint8_t raw[16];
	char id[POLICY_ID_HEX + 1], *csr = NULL;
	int64_t now = (int64_t)time(NULL);
	int rc, tries;

	csr = b64url_encode(req->csr->raw, req->csr->raw_len);
	s.names = policy_input_names(in);
	if (csr == NULL || s.names == NULL) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	for (tries = 0; tries < 4; tries++) {
		if ((rc = util_random(raw, sizeof(raw))) != 0) {
			cairn_err_set(err, rc, "no randomness for a request id");
			goto out;
		}
		hex_encode(raw, sizeof(raw), id);
		json_decref(s.rec);
		json_decref(s.details);
		/* The decision's texts through util_json_text (see refuse in submit.c). */
		s.rec = json_pack("{s:s, s:s, s:s, s:s*, s:s, s:s, s:o, s:i, s:s, s:[], s:s, s:i, "
				  "s:O, s:I, s:I, s:s, s:o}",
				  "id", id, "status", "pending", "channel", req->channel, "group",
				  group, "requester", req->requester, "profile", req->profile, "rule",
				  util_json_text(d->rule), "approvals_needed", d->approvals,
				  "approver_role", d->approver_role, "approvals", "csr", csr,
				  "validity_days", req->validity_days, "names", s.names, "created",
				  (json_int_t)now, "expires", (json_int_t)(now + e->ttl), "serial", "",
				  "reason", util_json_text(d->reason));
		s.details = json_pack("{s:s, s:o, s:i, s:s, s:s, s:o, s:o?}", "id", id, "rule",
				      util_json_text(d->rule), "approvals_needed", d->approvals,
				      "channel", req->channel, "profile", req->profile, "reason",
				      util_json_text(d->reason), "name",
				      d->name[0] ? util_json_text(d->name) : NULL);
		if (s.rec == NULL || s.details == NULL ||
		    json_object_set_new(s.rec, "decision", policy_decision_json(d)) != 0 ||
		    json_object_set_new(s.rec, "validity_granted",
					json_integer(in->validity_days)) != 0) {
			rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
			goto out;
		}
		if ((rc = policy_record_facts(s.rec, req->csr, in, err)) != 0)
			goto out;
		rc = db_write(e->db, store_op, &s, err);
		if (rc != CAIRN_EEXIST)
			break;
	}
	if (rc == 0)
		info_from_json(s.rec, info);
out:
	free(csr);
	json_decref(s.rec);
	json_decref(s.names);
	json_decref(s.details);
	return rc;
}

/* ---- decisions on a stored request ---- */

typedef enum { DO_APPROVE, DO_REJECT, DO_EXPIRE, DO_ISSUED, DO_FAILED } decide_kind_t;

struct decide_op {
	decide_kind_t kind;
	const char *id, *actor, *role, *comment, *serial, *reason;
	int64_t now;
	policy_approver_fn approver_ok; /* DO_APPROVE: may be NULL */
	void *approver_arg;
	const policy_decision_t *now_rules; /* DO_APPROVE: the policy in force decided again
					     * on the stored request; NULL: not pending */
	uint64_t generation;     /* DO_APPROVE: of the rules that made now_rules */
	/* results, reset on every run */
	json_t *rec;     /* the record after the op (new reference) */
	int complete;    /* DO_APPROVE: enough approvals to issue */
	int code;        /* refusal to report although the op committed (expiry) */
	char msg[256];
};

int policy_role_may_decide(const char *approver_role, const char *role)
{
	if (strcmp(role, "admin") == 0)
		return 1;
	return strcmp(role, approver_role && approver_role[0] ? approver_role : "approver") == 0;
}

static int role_may_decide(const json_t *rec, const char *role)
{
	return policy_role_may_decide(jstr(rec, "approver_role"), role);
}

static int request_due(const struct decide_op *d)
{
	return d->now >= jint(d->rec, "expires");
}

/* Mark a pending request whose time has passed expired (audited). Returns 0 or the error. */
static int mark_expired(db_txn_t *txn, struct decide_op *d, cairn_err_t *err)
{
	audit_event_t ev = { "policy:expiry", "request.expired", NULL, NULL, NULL };
	json_t *details;
	uint64_t seq = 0;
	int rc;

	json_object_set_new(d->rec, "status", json_string("expired"));
	json_object_set_new(d->rec, "reason", json_string("no decision before the request expired"));
	details = json_pack("{s:s, s:s}", "id", d->id, "rule", jstr(d->rec, "rule"));
	ev.names = json_object_get(d->rec, "names");
	ev.details = details;
	rc = audit_append(txn, &ev, &seq, err);
	if (rc == 0)
		rc = request_event(txn, "request.expired", d->rec, NULL, err);
	json_decref(details);
	if (rc == 0)
		rc = policy_history_add(d->rec, "expired", d->now, ev.actor, seq, NULL);
	if (rc == 0)
		rc = put_record(txn, d->rec, 0);
	return rc;
}

static int has_approved(const json_t *rec, const char *who)
{
	json_t *a;
	size_t i;

	json_array_foreach(json_object_get(rec, "approvals"), i, a)
		if (strcmp(jstr(a, "by"), who) == 0)
			return 1;
	return 0;
}

/* DO_APPROVE: refuses an approver the check refuses, and drops the stored approvals of
 * approvers it refuses now (disabled since), listing them in dropped. */
static int check_approvers(db_txn_t *txn, struct decide_op *d, json_t *dropped,
			   cairn_err_t *err)
{
	uint64_t seq = (uint64_t)jint(d->rec, "seq");
	json_t *approvals = json_object_get(d->rec, "approvals");
	cairn_err_t lapsed = { 0 };
	size_t i = 0;
	int rc;

	if (d->approver_ok == NULL)
		return 0;
	if ((rc = d->approver_ok(txn, d->actor, seq, d->approver_arg, err)) != 0)
		return rc;
	while (i < json_array_size(approvals)) {
		const char *by = jstr(json_array_get(approvals, i), "by");
		if (d->approver_ok(txn, by, seq, d->approver_arg, &lapsed) == 0) {
			i++;
			continue;
		}
		json_array_append_new(dropped, json_string(by));
		json_array_remove(approvals, i);
	}
	return 0;
}

/* The approver role as the policy reads it: "" is approver. */
static const char *role_or_approver(const char *role)
{
	return role[0] ? role : "approver";
}

/* Whether the approve decision now asks more of the pending request rec than it records:
 * more approvals or a stricter approver role (role: the two combined, what it asks now). */
static int asks_more(const json_t *rec, const policy_decision_t *now, char *role, size_t cap)
{
	snprintf(role, cap, "%s", jstr(rec, "approver_role"));
	policy_role_combine(role, cap, now->approver_role);
	return now->approvals > jint(rec, "approvals_needed") ||
	       strcmp(role_or_approver(role), role_or_approver(jstr(rec, "approver_role"))) != 0;
}

/* One step the policy in force took on d->rec: the audit event ev with details (borrowed;
 * NULL: out of memory) and the history step event naming it, with extra (stolen). */
static int recheck_event(db_txn_t *txn, struct decide_op *d, audit_event_t *ev, json_t *details,
			 const char *event, json_t *extra, cairn_err_t *err)
{
	uint64_t seq = 0;
	int rc;

	ev->names = json_object_get(d->rec, "names");
	ev->details = details;
	rc = details ? audit_append(txn, ev, &seq, err)
		     : cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	if (rc == 0)
		rc = policy_history_add(d->rec, event, d->now, ev->actor, seq, extra);
	else
		json_decref(extra);
	return rc;
}

/* DO_APPROVE on a pending request: the policy in force now (d->now_rules) has the last
 * word, never a looser one. A reject rejects the request (audited "request.rejected" by
 * policy:recheck, the rule and its reason named); an approve that asks more approvals or
 * a stricter role raises them, names its rule and drops the approvals of roles that may no
 * longer decide (audited "request.raised" by policy:recheck; *raised set); anything looser
 * leaves the request as it was. Returns 0 or the error; d->code when it was rejected. */
static int apply_rules_now(db_txn_t *txn, struct decide_op *d, int *raised, cairn_err_t *err)
{
	const policy_decision_t *now = d->now_rules;
	audit_event_t ev = { "policy:recheck", "request.rejected", NULL, NULL, NULL };
	char role[sizeof(now->approver_role)], reason[320];
	json_t *details = NULL, *dropped = NULL, *approvals, *decision = policy_decision_json(now);
	int64_t need = jint(d->rec, "approvals_needed");
	size_t i;
	int rc = 0;

	*raised = 0;
	if (decision == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	if (now->action == POLICY_REJECT) {
		snprintf(reason, sizeof(reason), "rejected by policy%s%.63s: %.200s",
			 now->rule[0] ? " rule " : "", now->rule, now->reason);
		json_object_set_new(d->rec, "status", json_string("rejected"));
		json_object_set_new(d->rec, "rule", util_json_text(now->rule));
		json_object_set_new(d->rec, "reason", util_json_text(reason));
		json_object_set_new(d->rec, "decided_by", json_string(ev.actor));
		json_object_set(d->rec, "decision", decision);
		details = json_pack("{s:s, s:o, s:o, s:o?, s:s}", "id", d->id, "rule",
				    util_json_text(now->rule), "reason", util_json_text(now->reason),
				    "name", now->name[0] ? util_json_text(now->name) : NULL,
				    "approver", d->actor);
		rc = recheck_event(txn, d, &ev, details, "rejected",
				   json_pack("{s:o}", "comment", util_json_text(reason)), err);
		if (rc == 0)
			rc = put_record(txn, d->rec, 0);
		if (rc == 0)
			rc = request_event(txn, "request.rejected", d->rec, ev.actor, err);
		if (rc == 0) {
			d->code = CAIRN_ECONFLICT;
			snprintf(d->msg, sizeof(d->msg), "request %.32s: %.200s",
				 d->id, reason);
		}
		goto out;
	}
	if (now->action != POLICY_APPROVE)
		goto out;
	if (!asks_more(d->rec, now, role, sizeof(role)))
		goto out;
	*raised = 1;
	if (now->approvals > need)
		need = now->approvals;
	json_object_set_new(d->rec, "approvals_needed", json_integer((json_int_t)need));
	json_object_set_new(d->rec, "approver_role", json_string(role));
	json_object_set_new(d->rec, "rule", util_json_text(now->rule));
	json_object_set_new(d->rec, "reason", util_json_text(now->reason));
	/* The decision shown is the one in force, with what it asks as raised. */
	json_object_set_new(decision, "approvals_needed", json_integer((json_int_t)need));
	json_object_set_new(decision, "approver_role", json_string(role));
	json_object_set(d->rec, "decision", decision);
	/* Approvals of a role that may no longer decide stop counting. */
	if ((dropped = json_array()) == NULL) {
		rc = CAIRN_ENOMEM;
		goto out;
	}
	approvals = json_object_get(d->rec, "approvals");
	for (i = 0; i < json_array_size(approvals);) {
		const json_t *a = json_array_get(approvals, i);
		if (role_may_decide(d->rec, jstr(a, "role"))) {
			i++;
			continue;
		}
		json_array_append_new(dropped, json_string(jstr(a, "by")));
		json_array_remove(approvals, i);
	}
	ev.action = "request.raised";
	details = json_pack("{s:s, s:o, s:o, s:I, s:s, s:O}", "id", d->id, "rule",
			    util_json_text(now->rule), "reason", util_json_text(now->reason),
			    "approvals_needed", (json_int_t)need, "approver_role", role, "dropped",
			    dropped);
	rc = recheck_event(txn, d, &ev, details, "raised",
			   json_pack("{s:o, s:I, s:s, s:O}", "rule", util_json_text(now->rule),
				     "approvals_needed", (json_int_t)need, "approver_role", role,
				     "dropped", dropped),
			   err);
out:
	json_decref(decision);
	json_decref(details);
	json_decref(dropped);
	if (rc == CAIRN_ENOMEM && (err == NULL || err->code == 0))
		cairn_err_set(err, rc, "out of memory");
	return rc;
}

static int decide_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct decide_op *d = arg;
	audit_event_t ev = { d->actor, NULL, NULL, NULL, NULL };
	json_t *details = NULL, *dropped = NULL, *extra = NULL, *x;
	const char *event = NULL;
	uint64_t seq = 0;
	size_t have, i;
	int rc, raised = 0;

	json_decref(d->rec);
	d->complete = 0;
	d->code = 0;
	d->msg[0] = '\0';
	d->rec = get_record(txn, d->id, err);
	if (d->rec == NULL)
		return err ? err->code : CAIRN_ENOENT;
	if (strcmp(jstr(d->rec, "status"), "pending") != 0) {
		if (d->kind == DO_EXPIRE)
			return 0;
		return cairn_err_set(err, CAIRN_ECONFLICT, "request %s is %s, not pending", d->id,
				     jstr(d->rec, "status"));
	}
	/* A record from before history was kept gets it rebuilt before it changes. */
	if (policy_history(d->rec) == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	if (d->kind == DO_APPROVE || d->kind == DO_REJECT || d->kind == DO_EXPIRE) {
		if (request_due(d)) {
			rc = mark_expired(txn, d, err);
			if (rc == 0 && d->kind != DO_EXPIRE) {
				d->code = CAIRN_ECONFLICT;
				snprintf(d->msg, sizeof(d->msg), "request %s expired", d->id);
			}
			return rc;
		}
		if (d->kind == DO_EXPIRE)
			return 0;
		if (d->kind == DO_APPROVE && d->now_rules != NULL &&
		    ((rc = apply_rules_now(txn, d, &raised, err)) != 0 || d->code != 0))
			return rc;
		if (!role_may_decide(d->rec, d->role) && raised) {
			/* The raise stands although this approver may no longer decide. */
			if ((rc = put_record(txn, d->rec, 0)) != 0)
				return cairn_err_set(err, rc, "updating request %s: %s", d->id,
						     cairn_strerror(rc));
			d->code = CAIRN_EDENIED;
			snprintf(d->msg, sizeof(d->msg),
				 "role %.15s may not decide request %.32s: the policy in force asks "
				 "%.15s (rule %.63s)",
				 d->role, d->id, jstr(d->rec, "approver_role"), jstr(d->rec, "rule"));
			return 0;
		}
		if (!role_may_decide(d->rec, d->role))
			return cairn_err_set(err, CAIRN_EDENIED,
					     "role %s may not decide requests of rule %s (needs %s)",
					     d->role, jstr(d->rec, "rule"),
					     jstr(d->rec, "approver_role")[0]
						     ? jstr(d->rec, "approver_role")
						     : "approver or admin");
	}
	ev.names = json_object_get(d->rec, "names");
	have = json_array_size(json_object_get(d->rec, "approvals"));
	switch (d->kind) {
	case DO_APPROVE:
		if (strcmp(d->actor, jstr(d->rec, "requester")) == 0)
			return cairn_err_set(err, CAIRN_EDENIED,
					     "%s asked for request %s and cannot approve it", d->actor,
					     d->id);
		if (has_approved(d->rec, d->actor))
			return cairn_err_set(err, CAIRN_EEXIST, "%s already approved request %s",
					     d->actor, d->id);
		if ((dropped = json_array()) == NULL)
			return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		if ((rc = check_approvers(txn, d, dropped, err)) != 0) {
			json_decref(dropped);
			return rc;
		}
		have = json_array_size(json_object_get(d->rec, "approvals"));
		if ((int64_t)have < jint(d->rec, "approvals_needed")) {
			json_array_append_new(json_object_get(d->rec, "approvals"),
					      json_pack("{s:s, s:s, s:I, s:s}", "by", d->actor, "role",
							d->role, "at", (json_int_t)d->now, "comment",
							d->comment ? d->comment : ""));
			have++;
		}
		d->complete = (int64_t)have >= jint(d->rec, "approvals_needed");
		ev.action = "request.approve";
		event = "approved";
		extra = json_pack("{s:s, s:s}", "role", d->role, "comment", d->comment ? d->comment : "");
		details = json_pack("{s:s, s:s, s:i, s:I, s:o}", "id", d->id, "comment",
				    d->comment ? d->comment : "", "approvals", (int)have,
				    "approvals_needed", (json_int_t)jint(d->rec, "approvals_needed"),
				    "dropped", dropped);
		break;
	case DO_REJECT:
		json_object_set_new(d->rec, "status", json_string("rejected"));
		json_object_set_new(d->rec, "decided_by", json_string(d->actor));
		json_object_set_new(d->rec, "reason",
				    json_string(d->comment && d->comment[0] ? d->comment
									    : "rejected by an approver"));
		ev.action = "request.reject";
		event = "rejected";
		extra = json_pack("{s:s, s:s}", "role", d->role, "comment", d->comment ? d->comment : "");
		details = json_pack("{s:s, s:s}", "id", d->id, "comment", d->comment ? d->comment : "");
		break;
	case DO_ISSUED:
		json_object_set_new(d->rec, "status", json_string("issued"));
		json_object_set_new(d->rec, "serial", json_string(d->serial));
		json_object_set_new(d->rec, "decided_by", json_string(d->actor));
		ev.action = "request.issued";
		ev.serial = d->serial;
		event = "issued";
		extra = json_pack("{s:s}", "serial", d->serial);
		details = json_pack("{s:s}", "id", d->id);
		break;
	case DO_FAILED:
		json_object_set_new(d->rec, "status", json_string("failed"));
		json_object_set_new(d->rec, "reason", json_string(d->reason));
		ev.action = "request.failed";
		event = "failed";
		extra = json_pack("{s:s}", "reason", d->reason);
		details = json_pack("{s:s, s:s}", "id", d->id, "reason", d->reason);
		break;
	case DO_EXPIRE:
		return 0;
	}
	if (details == NULL || extra == NULL) {
		json_decref(details);
		json_decref(extra);
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	}
	ev.details = details;
	rc = audit_append(txn, &ev, &seq, err);
	/* The history names the audit event of each step: approvals dropped, then the step. */
	json_array_foreach(json_object_get(details, "dropped"), i, x)
		if (rc == 0)
			rc = policy_history_add(d->rec, "approval_dropped", d->now, d->actor, seq,
						json_pack("{s:s}", "approver", json_string_value(x)));
	if (rc == 0)
		rc = policy_history_add(d->rec, event, d->now, d->actor, seq, json_incref(extra));
	if (rc == CAIRN_ENOMEM)
		cairn_err_set(err, rc, "out of memory");
	if (rc == 0 && (rc = put_record(txn, d->rec, 0)) != 0)
		cairn_err_set(err, rc, "updating request %s: %s", d->id, cairn_strerror(rc));
	if (rc == 0 && d->kind == DO_APPROVE && d->complete)
		rc = request_event(txn, "request.approved", d->rec, d->actor, err);
	else if (rc == 0 && d->kind == DO_REJECT)
		rc = request_event(txn, "request.rejected", d->rec, d->actor, err);
	json_decref(details);
	json_decref(extra);
	return rc;
}

static int run_decide(policy_engine_t *e, struct decide_op *d, cairn_err_t *err)
{
	int rc;

	d->now = (int64_t)time(NULL);
	rc = db_write(e->db, decide_op, d, err);
	if (rc == 0 && d->code != 0)
		rc = cairn_err_set(err, d->code, "%s", d->msg);
	return rc;
}

/* The request object of a stored record (its strings borrowed from rec): the CSR is read
 * from the database again, a new object, parsed and checked again (*parsed: free with
 * ca_csr_free). Returns 0 or the code with err set. */
static int stored_request(const json_t *rec, ca_request_t *creq, ca_csr_t **parsed,
			  cairn_err_t *err)
{
	uint8_t *csr = NULL;
	size_t csr_len = 0;
	const char *b64 = jstr(rec, "csr");
	int rc;

	memset(creq, 0, sizeof(*creq));
	*parsed = NULL;
	if (b64url_decode(b64, strlen(b64), &csr, &csr_len) != 0)
		return cairn_err_set(err, CAIRN_EDB, "stored CSR of request %s unreadable",
				     jstr(rec, "id"));
	rc = ca_csr_new(csr, csr_len, 0, parsed, err);
	free(csr);
	if (rc != 0)
		return rc;
	creq->csr = *parsed;
	creq->profile = jstr(rec, "profile");
	creq->requester = jstr(rec, "requester");
	creq->channel = jstr(rec, "channel");
	creq->validity_days = (int)jint(rec, "validity_days");
	return 0;
}

/* DO_APPROVE: the policy in force decides again on the stored request of id, the way a
 * submission is decided (policy_request_input, policy_engine_explain), before the write
 * that records the approval. *have: 0 when there is nothing to decide (no such request or
 * not pending: the write says so). Returns 0, or the code that keeps the request from
 * being decided (its profile or CSR no longer passes): nothing is approved then. */
static int decide_again(policy_engine_t *e, const char *id, policy_decision_t *out,
			uint64_t *generation, int *have, cairn_err_t *err)
{
	ca_request_t creq;
	ca_csr_t *parsed = NULL;
	policy_input_t in;
	db_txn_t *txn = NULL;
	json_t *rec = NULL;
	int rc;

	*have = 0;
	if ((rc = db_read_begin(e->db, &txn)) != 0)
		return cairn_err_set(err, rc, "database unavailable");
	rec = get_record(txn, id, NULL);
	db_txn_end(txn);
	if (rec == NULL || strcmp(jstr(rec, "status"), "pending") != 0)
		goto out;
	if ((rc = stored_request(rec, &creq, &parsed, err)) != 0 ||
	    (rc = policy_request_input(e, &creq, json_string_value(json_object_get(rec, "group")),
				       &in, err)) != 0)
		goto out;
	*generation = policy_engine_decide(e, &in, out);
	policy_input_clear(&in);
	*have = 1;
out:
	ca_csr_free(parsed);
	json_decref(rec);
	return rc;
}

/* The last approval: issue from the stored CSR, then record the outcome. */
typedef struct issue_check {
	policy_engine_t *e;
	const json_t *rec;          /* the request as the last approval's write left it */
	const ca_request_t *creq;   /* ... and made from it (stored_request) */
	uint64_t generation;        /* of the rules that decided the last approval */
} issue_check_t;

/* A reload since the last approval was decided (its certificate takes its time to sign):
 * the policy in force decides again, and one that rejects the request, or asks more
 * approvals or a stricter role than it was given, leaves it unissued. */
static int still_in_force(const issue_check_t *c, cairn_err_t *err)
{
	policy_input_t in;
	policy_decision_t now;
	char role[sizeof(now.approver_role)];
	int rc;

	if (policy_engine_generation(c->e) == c->generation)
		return 0;
	if ((rc = policy_request_input(c->e, c->creq,
				       json_string_value(json_object_get(c->rec, "group")), &in,
				       err)) != 0)
		return rc;
	(void)policy_engine_decide(c->e, &in, &now);
	policy_input_clear(&in);
	if (now.action == POLICY_REJECT ||
	    (now.action == POLICY_APPROVE && asks_more(c->rec, &now, role, sizeof(role))))
		return cairn_err_set(err, CAIRN_EDENIED, "the policy reloaded meanwhile %s (rule "
				     "%.63s: %.200s)", now.action == POLICY_REJECT ? "rejects it" :
				     "asks more approvals", now.rule, now.reason);
	return 0;
}

/* In the certificate's write: the policy in force still issues it (still_in_force), its
 * requester may still be issued one (e->requester_ok), and the approvals that completed
 * the request still count (e->approver_ok): an approver disabled while the certificate
 * was signed leaves the request short of approvals. */
static int still_approved(db_txn_t *txn, const char *serial_hex, void *arg, cairn_err_t *err)
{
	const issue_check_t *c = arg;
	const policy_engine_t *e = c->e;
	uint64_t seq = (uint64_t)jint(c->rec, "seq");
	cairn_err_t lapsed = { 0 };
	const char *lost = NULL;
	int64_t count = 0;
	json_t *a;
	size_t i;
	int rc;
	(void)serial_hex;

	if ((rc = still_in_force(c, err)) != 0)
		return rc;
	/* The requester's credential is gone, not the approver's: 403 to the approver. */
	if (e->requester_ok != NULL &&
	    e->requester_ok(txn, jstr(c->rec, "requester"), jstr(c->rec, "id"), e->requester_arg,
			    &lapsed) != 0)
		return cairn_err_set(err, CAIRN_EDENIED, "%s", cairn_err_msg(&lapsed));
	if (e->approver_ok == NULL)
		return 0;
	json_array_foreach(json_object_get(c->rec, "approvals"), i, a) {
		if (e->approver_ok(txn, jstr(a, "by"), seq, e->approver_arg, &lapsed) == 0)
			count++;
		else
			lost = jstr(a, "by");
	}
	if (count >= jint(c->rec, "approvals_needed"))
		return 0;
	return cairn_err_set(err, CAIRN_EDENIED, "the approval of %s no longer counts (%s): "
			     "%lld of %lld approvals", lost ? lost : "?", cairn_err_msg(&lapsed),
			     (long long)count, (long long)jint(c->rec, "approvals_needed"));
}

static int issue_approved(policy_engine_t *e, struct decide_op *d, cairn_err_t *err)
{
	struct decide_op fin = { 0 };
	ca_request_t creq;
	issue_check_t check = { e, d->rec, &creq, d->generation };
	ca_record_extra_t extra = { NULL, still_approved, &check };
	ca_issued_t *issued = NULL;
	ca_csr_t *parsed = NULL;
	cairn_err_t ierr = { 0 };
	db_guard_t guard;
	int rc, irc;

	if ((irc = stored_request(d->rec, &creq, &parsed, &ierr)) == 0 &&
	    (e->presign_ok == NULL ||
	     (irc = e->presign_ok(d->id, jstr(d->rec, "requester"), e->presign_arg, &ierr)) == 0)) {
		creq.record_extra = &extra;
		irc = ca_issue(e->ca, &creq, &issued, &ierr);
	}
	fin.id = d->id;
	fin.actor = d->actor;
	fin.role = d->role;
	if (irc == 0) {
		fin.kind = DO_ISSUED;
		fin.serial = issued->serial_hex;
	} else {
		fin.kind = DO_FAILED;
		fin.reason = cairn_err_msg(&ierr);
	}
	/* What the approval did is recorded whoever asked: the caller's guard (db_guard_swap)
	 * already had its say in the certificate's write, and a request left `approved` with
	 * its certificate issued, or never issued, would be stuck. */
	guard = db_guard_swap((db_guard_t){ NULL, NULL });
	rc = run_decide(e, &fin, err);
	db_guard_swap(guard);
	if (rc == 0) {
		json_decref(d->rec);
		d->rec = fin.rec;
		fin.rec = NULL;
		if (irc != 0)
			rc = cairn_err_set(err, irc, "approved, but issuance failed: %s",
					   cairn_err_msg(&ierr));
	}
	json_decref(fin.rec);
	ca_issued_free(issued);
	ca_csr_free(parsed);
	return rc;
}

static int decide(policy_engine_t *e, decide_kind_t kind, const char *id, const char *approver,
		  const char *role, const char *comment, request_info_t *out, cairn_err_t *err)
{
	struct decide_op d = { 0 };
	policy_decision_t now_rules;
	int rc, have_rules = 0;

	if (e == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "no policy engine");
	if (id == NULL || approver == NULL || role == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "missing request id, approver or role");
	if (comment != NULL && strlen(comment) > 1000)
		return cairn_err_set(err, CAIRN_ETOOBIG, "comment longer than 1000 characters");
	d.kind = kind;
	d.id = id;
	d.actor = approver;
	d.role = role;
	d.comment = comment;
	d.approver_ok = e->approver_ok;
	d.approver_arg = e->approver_arg;
	pthread_mutex_lock(&e->decide);
	/* Under the decide lock: no other approval or rejection runs between this decision and
	 * the write that applies it (a reload may; the next approval decides again). */
	rc = kind == DO_APPROVE ? decide_again(e, id, &now_rules, &d.generation, &have_rules, err)
				: 0;
	d.now_rules = have_rules ? &now_rules : NULL;
	if (rc == 0)
		rc = run_decide(e, &d, err);
	if (rc == 0 && kind == DO_APPROVE && d.complete)
		rc = issue_approved(e, &d, err);
	pthread_mutex_unlock(&e->decide);
	if (out != NULL && d.rec != NULL)
		info_from_json(d.rec, out);
	json_decref(d.rec);
	return rc;
}

int policy_request_approve(policy_engine_t *e, const char *id, const char *approver,
			   const char *role, const char *comment, request_info_t *out,
			   cairn_err_t *err)
{
	return decide(e, DO_APPROVE, id, approver, role, comment, out, err);
}

int policy_request_reject(policy_engine_t *e, const char *id, const char *approver,
			  const char *role, const char *comment, request_info_t *out,
			  cairn_err_t *err)
{
	return decide(e, DO_REJECT, id, approver, role, comment, out, err);
}

void policy_engine_set_approver_check(policy_engine_t *e, policy_approver_fn fn, void *arg)
{
	e->approver_ok = fn;
	e->approver_arg = arg;
}

void policy_engine_set_requester_check(policy_engine_t *e, policy_requester_fn fn, void *arg)
{
	e->requester_ok = fn;
	e->requester_arg = arg;
}

void policy_engine_set_presign_check(policy_engine_t *e, policy_presign_fn fn, void *arg)
{
	e->presign_ok = fn;
	e->presign_arg = arg;
}

/* The record of id, expired first if due. New reference in *out. */
static int fetch(policy_engine_t *e, const char *id, json_t **out, cairn_err_t *err)
{
	struct decide_op d = { 0 };
	db_txn_t *txn = NULL;
	json_t *rec;
	int rc;

	*out = NULL;
	if (e == NULL || id == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "missing request id");
	if (db_read_begin(e->db, &txn) != 0)
		return cairn_err_set(err, CAIRN_EDB, "database unavailable");
	rec = get_record(txn, id, err);
	db_txn_end(txn);
	if (rec == NULL)
		return err ? err->code : CAIRN_ENOENT;
	if (strcmp(jstr(rec, "status"), "pending") == 0 && (int64_t)time(NULL) >= jint(rec, "expires")) {
		json_decref(rec);
		d.kind = DO_EXPIRE;
		d.id = id;
		d.actor = "policy:expiry";
		d.role = "";
		rc = run_decide(e, &d, err);
		if (rc)
			return rc;
		rec = d.rec;
	}
	*out = rec;
	return 0;
}

int policy_request_get(policy_engine_t *e, const char *id, request_info_t *out, cairn_err_t *err)
{
	json_t *rec;
	int rc = fetch(e, id, &rec, err);

	if (rc == 0)
		info_from_json(rec, out);
	json_decref(rec);
	return rc;
}

int policy_request_json(policy_engine_t *e, const char *id, json_t **out, cairn_err_t *err)
{
	int rc = fetch(e, id, out, err);

	if (rc == 0 && (rc = policy_record_view(e, *out, err)) != 0) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

/* ---- listing ---- */

struct item {
	request_info_t info;
	json_t *summary; /* policy_record_summary */
};

struct collect {
	struct item *v;
	size_t n, cap;
	int64_t now;
	int failed;
};

static int collect_one(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct collect *c = arg;
	json_t *rec = json_loadb(val, vlen, 0, NULL);
	(void)key;
	(void)klen;

	if (rec == NULL)
		return 0; /* unreadable records are skipped; audit keeps the history */
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct item *grown = realloc(c->v, cap * sizeof(*grown));
		if (grown == NULL) {
			json_decref(rec);
			c->failed = 1;
			return 1;
		}
		c->v = grown;
		c->cap = cap;
	}
	info_from_json(rec, &c->v[c->n].info);
	/* Shown as expired at once; the record is rewritten when someone touches it. */
	if (c->v[c->n].info.status == REQ_PENDING && c->now >= c->v[c->n].info.expires)
		c->v[c->n].info.status = REQ_EXPIRED;
	c->v[c->n].summary = policy_record_summary(rec);
	json_decref(rec);
	if (c->v[c->n].summary == NULL) {
		c->failed = 1;
		return 1;
	}
	c->n++;
	return 0;
}

static int newest_first(const void *a, const void *b)
{
	const request_info_t *x = &((const struct item *)a)->info;
	const request_info_t *y = &((const struct item *)b)->info;

	if (x->created != y->created)
		return x->created > y->created ? -1 : 1;
	return strcmp(x->id, y->id);
}

int policy_requests_list(policy_engine_t *e, int status, policy_request_fn fn, void *arg)
{
	struct collect c = { NULL, 0, 0, (int64_t)time(NULL), 0 };
	db_txn_t *txn = NULL;
	size_t i;
	int rc = 0;

	if (e == NULL || fn == NULL)
		return CAIRN_EINVAL;
	if (db_read_begin(e->db, &txn) != 0)
		return CAIRN_EDB;
	db_iterate(txn, DB_REQUESTS, NULL, 0, collect_one, &c);
	db_txn_end(txn);
	if (c.failed)
		rc = CAIRN_ENOMEM;
	else if (c.n > 1) /* qsort must not see the NULL of an empty list */
		qsort(c.v, c.n, sizeof(*c.v), newest_first);
	for (i = 0; i < c.n && rc == 0; i++)
		if (status < 0 || (int)c.v[i].info.status == status)
			rc = fn(&c.v[i].info, c.v[i].summary, arg);
	for (i = 0; i < c.n; i++)
		json_decref(c.v[i].summary);
	free(c.v);
	return rc;
}

int policy_request_certificate(policy_engine_t *e, const char *id, ca_issued_t **out,
			       cairn_err_t *err)
{
	request_info_t info;
	uint8_t serial[DB_SERIAL_MAX];
	db_txn_t *txn = NULL;
	db_cert_t c;
	ca_issued_t *is = NULL;
	const unsigned char *p;
	int rc, len;

	*out = NULL;
	if ((rc = policy_request_get(e, id, &info, err)) != 0)
		return rc;
	if (info.status != REQ_ISSUED)
		return cairn_err_set(err, CAIRN_ECONFLICT, "request %s is %s%s%s", id,
				     request_status_name(info.status), info.reason[0] ? ": " : "",
				     info.reason);
	len = hex_decode(info.serial_hex, serial, sizeof(serial));
	if (len <= 0 || db_read_begin(e->db, &txn) != 0)
		return cairn_err_set(err, CAIRN_EDB, "request %s: certificate unreadable", id);
	is = calloc(1, sizeof(*is));
	if (is != NULL && db_cert_get(txn, serial, (size_t)len, &c) == 0 &&
	    (is->der = OPENSSL_malloc(c.der_len)) != NULL) {
		memcpy(is->der, c.der, c.der_len);
		is->der_len = c.der_len;
		p = c.der;
		is->cert = ca_cert_d2i(&p, (long)c.der_len);
		snprintf(is->issuer, sizeof(is->issuer), "%s", c.issuer);
	}
	db_txn_end(txn);
	if (is == NULL || is->cert == NULL) {
		ca_issued_free(is);
		return cairn_err_set(err, CAIRN_EDB, "request %s: certificate %s unreadable", id,
				     info.serial_hex);
	}
	snprintf(is->serial_hex, sizeof(is->serial_hex), "%s", info.serial_hex);
	*out = is;
	return 0;
}
