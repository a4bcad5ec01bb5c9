/* SPDX-License-Identifier: MIT */
/* Admin API revocation endpoints: one certificate by serial, or many in one transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "admin/admin_int.h"

#define ADMIN_REVOKE_MAX 1000

/* Parses {"reason", "invalidity_date"?} plus, when serials is non-NULL, "serials", else
 * "confirm_issuing_ca"? into *confirm (a retired issuing CA is revoked one at a time). */
static int parse_body(const admin_ctx_t *ctx, const admin_request_t *req, json_t **body,
		      int *reason, int64_t *inval, json_t **serials, int *confirm,
		      http_reply_t *reply)
{
	json_error_t jerr;
	const char *rname = NULL, *idate = NULL;
	time_t t;
	int rc;

	if ((*body = api_body(ctx, req, reply)) == NULL)
		return -1;
	rc = serials ? json_unpack_ex(*body, &jerr, JSON_STRICT, "{s:o, s:s, s?s}", "serials",
				      serials, "reason", &rname, "invalidity_date", &idate)
		     : json_unpack_ex(*body, &jerr, JSON_STRICT, "{s:s, s?s, s?b}", "reason",
				      &rname, "invalidity_date", &idate, "confirm_issuing_ca",
				      confirm);
	if (rc != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "expected {%s\"reason\": NAME, \"invalidity_date\"?: RFC3339%s}: %s",
				   serials ? "\"serials\": [HEX, ...], " : "",
				   serials ? "" : ", \"confirm_issuing_ca\"?: BOOL", jerr.text);
		return -1;
	}
	if ((*reason = ca_reason_parse(rname)) < 0) {
		http_reply_problem(reply, 400, PROBLEM("badRevocationReason"),
				   "reason %s is not one of unspecified, keyCompromise, cACompromise, "
				   "affiliationChanged, superseded, cessationOfOperation, "
				   "certificateHold, removeFromCRL, privilegeWithdrawn, aACompromise",
				   rname);
		return -1;
	}
	*inval = 0;
	if (idate != NULL) {
		if (time_parse(idate, &t) != 0 || t <= 0) {
			http_reply_problem(reply, 400, PROBLEM("malformed"),
					   "invalidity_date %s is not an RFC 3339 time", idate);
			return -1;
		}
		*inval = (int64_t)t;
	}
	return 0;
}

static const char *status_word(int code)
{
	switch (code) {
	case 0: return "revoked";
	case CAIRN_ENOENT: return "not found";
	case CAIRN_EEXIST: return "already revoked";
	case CAIRN_EDENIED: return "forbidden";
	case CAIRN_ECONFLICT: return "CA certificate";
	default: return "refused";
	}
}

/* An admin certificate is a login, like a token: only the admin role may hold, revoke or
 * release one (an operator lifting an admin's hold would hand a login back). The check
 * runs on the stored record inside the revocation's transaction. */
static const char *spared_profile(const admin_identity_t *who)
{
	return strcmp(who->role, "admin") == 0 ? NULL : CA_ADMIN_PROFILE;
}

/* A refusal of the caller's wish (audited admin.denied), not a state of the certificate:
 * an admin certificate without the admin role, or one of the CA's own certificates. */
static int refused(int code)
{
	return code == CAIRN_EDENIED || code == CAIRN_ECONFLICT;
}

void admin_api_revoke(const admin_ctx_t *ctx, const admin_request_t *req,
		      const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	json_t *body = NULL, *resp = NULL;
	ca_revoke_item_t item;
	ca_revoke_result_t res;
	cairn_err_t err = { 0 };
	int64_t inval;
	int reason, rc, confirm = 0;
	char actor[96];

	if (parse_body(ctx, req, &body, &reason, &inval, NULL, &confirm, reply) != 0)
		goto out;
	snprintf(actor, sizeof(actor), "admin:%s", who->name);
	item = (ca_revoke_item_t){ arg, reason, inval, spared_profile(who), confirm };
	rc = ca_revoke_one(ctx->ca, &item, actor, &res, &err);
	switch (rc) {
	case 0: /* what it was, as stored: "ca-issuing" tells the caller what follows */
		resp = json_pack("{s:s, s:s, s:s, s:s, s:s}", "serial", arg, "status",
				 reason == CA_REASON_REMOVE_FROM_CRL ? "valid" : "revoked", "reason",
				 ca_reason_name(reason), "profile", res.profile, "issuer",
				 res.issuer);
		http_reply_json(reply, 200, NULL, resp);
		log_info("admin", "%s: %s %s (%s)", actor,
			 reason == CA_REASON_REMOVE_FROM_CRL ? "released hold of" : "revoked", arg,
			 ca_reason_name(reason));
		break;
	case CAIRN_ENOENT:
		http_reply_problem(reply, 404, PROBLEM("notFound"), "%s", cairn_err_msg(&err));
		break;
	case CAIRN_EEXIST:
		http_reply_problem(reply, 409, PROBLEM("alreadyRevoked"), "%s", cairn_err_msg(&err));
		break;
	case CAIRN_EINVAL:
		http_reply_problem(reply, 400, PROBLEM("malformed"), "%s", cairn_err_msg(&err));
		break;
	case CAIRN_EDENIED:
		api_audit_denied(ctx, req, actor, cairn_err_msg(&err));
		http_reply_problem(reply, 403, PROBLEM("forbidden"),
				   "%s: only the admin role may hold, revoke or release an "
				   "admin-profile certificate",
				   cairn_err_msg(&err));
		break;
	case CAIRN_ECONFLICT: /* one of the CA's own in use (no role may), or unconfirmed */
		api_audit_denied(ctx, req, actor, cairn_err_msg(&err));
		http_reply_problem(reply, 409, PROBLEM("conflict"), "%s", cairn_err_msg(&err));
		break;
	default: /* the caller's credential gone by the write (401), the database (500) */
		if (cairn_err_http(err.code)->status >= 500)
			log_error("admin", "revoke %s: %s", arg, cairn_err_msg(&err));
		api_reply_error(reply, &err);
	}
out:
	json_decref(resp);
	json_decref(body);
}

void admin_api_revoke_many(const admin_ctx_t *ctx, const admin_request_t *req,
			   const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	json_t *body = NULL, *serials = NULL, *resp = NULL, *list = NULL, *v;
	ca_revoke_item_t *items = NULL;
	ca_revoke_result_t *res = NULL;
	cairn_err_t err = { 0 };
	size_t n, i, done = 0, denied = 0, first_denied = 0;
	int64_t inval;
	int reason;
	char actor[96];
	(void)arg;

	if (parse_body(ctx, req, &body, &reason, &inval, &serials, NULL, reply) != 0)
		goto out;
	n = json_array_size(serials);
	if (!json_is_array(serials) || n == 0 || n > ADMIN_REVOKE_MAX) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "serials must be an array of 1..%d hex strings", ADMIN_REVOKE_MAX);
		goto out;
	}
	items = calloc(n, sizeof(*items));
	res = calloc(n, sizeof(*res));
	list = json_array();
	if (items == NULL || res == NULL || list == NULL) {
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "out of memory");
		goto out;
	}
	json_array_foreach(serials, i, v) {
		if (!json_is_string(v)) {
			http_reply_problem(reply, 400, PROBLEM("malformed"),
					   "serials[%zu] is not a string", i);
			goto out;
		}
		items[i].serial_hex = json_string_value(v);
		items[i].reason = reason;
		items[i].invalidity_date = inval;
		items[i].spare_profile = spared_profile(who);
	}
	snprintf(actor, sizeof(actor), "admin:%s", who->name);
	if (ca_revoke_batch(ctx->ca, items, n, actor, res, &err) != 0) {
		if (cairn_err_http(err.code)->status >= 500)
			log_error("admin", "bulk revoke: %s", cairn_err_msg(&err));
		api_reply_error(reply, &err); /* a future invalidity date: 400 */
		goto out;
	}
	for (i = 0; i < n; i++) {
		json_t *o = json_pack("{s:s, s:s}", "serial", items[i].serial_hex, "status",
				      status_word(res[i].code));
		if (o != NULL && res[i].code != 0)
			json_object_set_new(o, "detail", json_string(res[i].msg));
		if (o != NULL && res[i].code == 0)
			json_object_set_new(o, "profile", json_string(res[i].profile));
		json_array_append_new(list, o);
		done += res[i].code == 0;
		if (refused(res[i].code) && denied++ == 0)
			first_denied = i;
	}
	/* The others were done; the refused ones are one refusal of this call, audited. */
	if (denied > 0) {
		char why[320];
		snprintf(why, sizeof(why), "%zu of %zu refused: %s", denied, n, res[first_denied].msg);
		api_audit_denied(ctx, req, actor, why);
	}
	resp = json_pack("{s:I, s:O}", "revoked", (json_int_t)done, "results", list);
	http_reply_json(reply, 200, NULL, resp);
	log_info("admin", "%s: bulk revoke (%s): %zu of %zu", actor, ca_reason_name(reason), done, n);
out:
	json_decref(resp);
	json_decref(list);
	json_decref(body);
	free(items);
	free(res);
}
