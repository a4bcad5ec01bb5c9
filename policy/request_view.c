/* SPDX-License-Identifier: MIT */
/* What approvers see of a request: the CSR's facts stored at submission, the decision, the
 * history of the request, and the view the API and CLI show (older records filled in). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_int.h"

static const char *jstr(const json_t *rec, const char *key)
{
	const char *s = json_string_value(json_object_get(rec, key));
	return s ? s : "";
}

static int64_t jint(const json_t *rec, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(rec, key));
}

/* {"type", "bits", "curve"?} of in's key. */
static json_t *key_json(const policy_input_t *in)
{
	json_t *key = json_pack("{s:s, s:i}", "type", in->key_type ? in->key_type : "other",
				"bits", in->key_bits);

	if (key != NULL && in->key_curve != NULL)
		json_object_set_new(key, "curve", json_string(in->key_curve));
	return key;
}

int policy_record_facts(json_t *rec, const ca_csr_t *csr, const policy_input_t *in,
			cairn_err_t *err)
{
	const ca_names_t *names = &csr->names;
	json_t *sans = NULL, *key = NULL;
	char *subject = NULL;
	size_t i;
	int rc = CAIRN_ENOMEM;

	if ((subject = ca_dn_text(X509_REQ_get_subject_name(csr->req))) == NULL ||
	    (sans = json_array()) == NULL || (key = key_json(in)) == NULL)
		goto out;
	for (i = 0; i < names->n_san; i++)
		if (json_array_append_new(sans, json_pack("{s:s, s:s}", "type",
							  ca_name_type_str(names->san[i].type),
							  "value", names->san[i].text)) != 0)
			goto out;
	if (json_object_set_new(rec, "subject", json_string(subject)) != 0 ||
	    json_object_set(rec, "sans", sans) != 0 || json_object_set(rec, "key", key) != 0 ||
	    json_object_set_new(rec, "must_staple", json_boolean(csr->must_staple)) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		cairn_err_set(err, rc, "out of memory");
	free(subject);
	json_decref(sans);
	json_decref(key);
	return rc;
}

json_t *policy_decision_json(const policy_decision_t *d)
{
	/* Texts cut by bytes (a CN in UTF-8, a reason or rule name from the policy file):
	 * util_json_text shows a cut character as U+FFFD instead of losing the decision. */
	return json_pack("{s:s, s:o, s:o, s:o?, s:b, s:o?, s:i, s:s}", "action",
			 policy_action_name(d->action), "rule", util_json_text(d->rule), "reason",
			 util_json_text(d->reason), "name",
			 d->name[0] ? util_json_text(d->name) : NULL, "subject_cn", d->name_from_cn,
			 "covered", d->covered[0] ? util_json_text(d->covered) : NULL,
			 "approvals_needed", d->approvals, "approver_role", d->approver_role);
}

/* An event of the history without its audit sequence (seq null). */
static json_t *event_json(const char *event, json_t *at, const char *by)
{
	return json_pack("{s:s, s:o, s:s?, s:n}", "event", event, "at", at, "by", by, "seq");
}

/* The history of a record from before it was kept, rebuilt from the record: submission,
 * each approval, then the outcome (its time unknown, except for an expiry). */
static json_t *history_rebuilt(const json_t *rec)
{
	json_t *h = json_array(), *a, *ev;
	const char *status = jstr(rec, "status"), *by = jstr(rec, "decided_by");
	size_t i;

	if (h == NULL)
		return NULL;
	ev = event_json("submitted", json_integer((json_int_t)jint(rec, "created")),
			jstr(rec, "requester"));
	if (ev != NULL && jint(rec, "seq") > 0)
		json_object_set_new(ev, "seq", json_integer((json_int_t)jint(rec, "seq")));
	json_array_append_new(h, ev);
	json_array_foreach(json_object_get(rec, "approvals"), i, a) {
		ev = event_json("approved", json_integer((json_int_t)jint(a, "at")), jstr(a, "by"));
		if (ev != NULL) {
			json_object_set_new(ev, "role", json_string(jstr(a, "role")));
			json_object_set_new(ev, "comment", json_string(jstr(a, "comment")));
		}
		json_array_append_new(h, ev);
	}
	ev = NULL;
	if (strcmp(status, "issued") == 0 && (ev = event_json("issued", json_null(), by)) != NULL)
		json_object_set_new(ev, "serial", json_string(jstr(rec, "serial")));
	else if (strcmp(status, "rejected") == 0 &&
		 (ev = event_json("rejected", json_null(), by)) != NULL)
		json_object_set_new(ev, "comment", json_string(jstr(rec, "reason")));
	else if (strcmp(status, "failed") == 0 &&
		 (ev = event_json("failed", json_null(), NULL)) != NULL)
		json_object_set_new(ev, "reason", json_string(jstr(rec, "reason")));
	else if (strcmp(status, "expired") == 0)
		ev = event_json("expired", json_integer((json_int_t)jint(rec, "expires")),
				"policy:expiry");
	if (ev != NULL)
		json_array_append_new(h, ev);
	return h;
}

json_t *policy_history(json_t *rec)
{
	json_t *h = json_object_get(rec, "history");

	if (json_is_array(h))
		return h;
	if ((h = history_rebuilt(rec)) == NULL || json_object_set_new(rec, "history", h) != 0)
		return NULL;
	return h;
}

int policy_history_add(json_t *rec, const char *event, int64_t at, const char *by,
		       uint64_t seq, json_t *extra)
{
	json_t *h = policy_history(rec), *ev;
	int rc = CAIRN_ENOMEM;

	ev = json_pack("{s:s, s:I, s:s, s:I}", "event", event, "at", (json_int_t)at, "by", by,
		       "seq", (json_int_t)seq);
	if (h != NULL && ev != NULL && (extra == NULL || json_object_update(ev, extra) == 0) &&
	    json_array_append(h, ev) == 0)
		rc = 0;
	json_decref(ev);
	json_decref(extra);
	return rc;
}

json_t *policy_record_summary(const json_t *rec)
{
	json_t *s = json_object(), *v;
	static const char *const keys[] = { "subject", "sans", "names", "key" };
	size_t i;

	for (i = 0; s != NULL && i < sizeof(keys) / sizeof(keys[0]); i++)
		if ((v = json_object_get(rec, keys[i])) != NULL)
			json_object_set(s, keys[i], v);
	return s;
}

/* A record from before the CSR's facts were stored: read them from its CSR. */
static int facts_from_csr(json_t *rec, cairn_err_t *err)
{
	const char *b64 = jstr(rec, "csr");
	policy_input_t in;
	ca_csr_t *csr = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	int rc;

	memset(&in, 0, sizeof(in));
	if (b64url_decode(b64, strlen(b64), &der, &len) != 0)
		return cairn_err_set(err, CAIRN_EDB, "request %s: stored CSR unreadable",
				     jstr(rec, "id"));
	/* Only read: the signature was checked when the request was submitted. */
	if ((rc = ca_csr_new(der, len, CA_CSR_NO_VERIFY, &csr, err)) == 0 &&
	    (rc = policy_input_from_csr(csr, &in, err)) == 0)
		rc = policy_record_facts(rec, csr, &in, err);
	policy_input_clear(&in);
	ca_csr_free(csr);
	free(der);
	return rc;
}

/* {"asked_days": N or null (the profile's), "granted_days", and once issued the
 * certificate's "not_before" and "not_after"}. */
static json_t *validity_json(policy_engine_t *e, const json_t *rec)
{
	const ca_profile_t *prof = ca_profile(e->ca, jstr(rec, "profile"));
	int64_t asked = jint(rec, "validity_days"), granted = jint(rec, "validity_granted");
	uint8_t serial[DB_SERIAL_MAX];
	db_txn_t *txn = NULL;
	db_cert_t c;
	json_t *v;
	int len;

	if (granted == 0)
		granted = asked ? asked : prof ? prof->validity_days : 0;
	v = json_pack("{s:o, s:I}", "asked_days", asked ? json_integer((json_int_t)asked)
							: json_null(),
		      "granted_days", (json_int_t)granted);
	len = hex_decode(jstr(rec, "serial"), serial, sizeof(serial));
	if (v == NULL || len <= 0 || db_read_begin(e->db, &txn) != 0)
		return v;
	if (db_cert_get(txn, serial, (size_t)len, &c) == 0) {
		json_object_set_new(v, "not_before", json_integer((json_int_t)c.not_before));
		json_object_set_new(v, "not_after", json_integer((json_int_t)c.not_after));
		json_object_set_new(v, "granted_days",
				    json_integer((json_int_t)((c.not_after - c.not_before + 1) / 86400)));
	}
	db_txn_end(txn);
	return v;
}

/* The decision of a record from before it was stored whole: what the record kept of it. */
static json_t *decision_rebuilt(const json_t *rec)
{
	const char *status = jstr(rec, "status");
	int kept = strcmp(status, "rejected") != 0 && strcmp(status, "failed") != 0;

	return json_pack("{s:s, s:s, s:s?, s:n, s:b, s:n, s:I, s:s}", "action", "approve", "rule",
			 jstr(rec, "rule"), "reason", kept ? jstr(rec, "reason") : NULL, "name",
			 "subject_cn", 0, "covered", "approvals_needed",
			 (json_int_t)jint(rec, "approvals_needed"), "approver_role",
			 jstr(rec, "approver_role"));
}

int policy_record_view(policy_engine_t *e, json_t *rec, cairn_err_t *err)
{
	cairn_err_t why = { 0 };
	json_t *v;

	/* An old record whose CSR no longer reads is still shown, saying so. */
	if (json_object_get(rec, "sans") == NULL && facts_from_csr(rec, &why) != 0)
		json_object_set_new(rec, "facts_error", json_string(cairn_err_msg(&why)));
	json_object_del(rec, "csr");
	if (json_object_get(rec, "decided_by") == NULL)
		json_object_set_new(rec, "decided_by", json_null());
	if (json_object_get(rec, "decision") == NULL &&
	    json_object_set_new(rec, "decision", decision_rebuilt(rec)) != 0)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	if (policy_history(rec) == NULL || (v = validity_json(e, rec)) == NULL ||
	    json_object_set_new(rec, "validity", v) != 0 ||
	    json_object_set_new(rec, "approvals_have",
				json_integer((json_int_t)json_array_size(
					json_object_get(rec, "approvals")))) != 0)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	return 0;
}
