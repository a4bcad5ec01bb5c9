/* SPDX-License-Identifier: MIT */
/* Admin REST API routes: a table of (method, path, role, handler); every answer JSON or a problem. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "admin/admin_int.h"
#include "audit/audit.h"
#include "est/est.h"

static const char *const roles_admin[] = { "admin", NULL };
static const char *const roles_issue[] = { "admin", "operator", NULL };
static const char *const roles_revoke[] = { "admin", "operator", NULL };
static const char *const roles_decide[] = { "admin", "approver", "operator", NULL };
static const char *const roles_read[] = { "admin", "operator", "approver", "auditor", NULL };
static const char *const roles_ops[] = { "admin", "operator", NULL };
static const char *const roles_audit[] = { "admin", "auditor", NULL };

static void api_cert_issue(const admin_ctx_t *ctx, const admin_request_t *req,
			   const admin_identity_t *who, const char *arg, http_reply_t *reply);
static void api_cert_show(const admin_ctx_t *ctx, const admin_request_t *req,
			  const admin_identity_t *who, const char *arg, http_reply_t *reply);

static void api_est_user_add(const admin_ctx_t *ctx, const admin_request_t *req,
			     const admin_identity_t *who, const char *arg, http_reply_t *reply);
static void api_est_user_del(const admin_ctx_t *ctx, const admin_request_t *req,
			     const admin_identity_t *who, const char *arg, http_reply_t *reply);
static void api_est_user_list(const admin_ctx_t *ctx, const admin_request_t *req,
			      const admin_identity_t *who, const char *arg, http_reply_t *reply);

typedef struct admin_route {
	const char *method;
	const char *path;         /* segments; one "*" segment is the handler's argument */
	const char *const *roles; /* roles allowed */
	admin_fn fn;
	const struct admin_query *query; /* the query it takes (NULL: none) */
} admin_route_t;

/* A route's query parameters: any other, an empty one or one given twice is a 400
 * (query_check). */
typedef struct admin_query {
	const char *const *params;
} admin_query_t;

/* Query parameters, per route: a misspelt filter is refused, not ignored (which would
 * answer as if no filter had been given: every certificate instead of the revoked ones). */
static const char *const params_certs[] = { "name",	      "serial",		"status",
					    "expiring_within", "expires_after", "expires_before",
					    "requester",       "profile",	"after",
					    "count",	       "limit",		"offset",
					    NULL };
static const char *const params_requests[] = { "status", "limit", "offset", NULL };
static const char *const params_audit[] = { "actor", "action", "serial", "since", "until",
					    "limit", "offset", "after",	 "order", NULL };
static const char *const params_export[] = { "format", "since", "until", NULL };
static const char *const params_inventory[] = { "limit", NULL };
static const char *const params_reports[] = { "within", "by", "limit", NULL };
static const admin_query_t q_certs = { params_certs };
static const admin_query_t q_requests = { params_requests };
static const admin_query_t q_audit = { params_audit };
static const admin_query_t q_export = { params_export };
static const admin_query_t q_inventory = { params_inventory };
static const admin_query_t q_reports = { params_reports };

static const admin_route_t admin_routes[] = {
	{ "POST", "/session", roles_read, api_session_create, NULL },
	{ "GET", "/session", roles_read, api_session_show, NULL },
	{ "DELETE", "/session", roles_read, api_session_delete, NULL },
	{ "GET", "/stats", roles_read, api_stats, NULL },
	{ "POST", "/certificates", roles_issue, api_cert_issue, NULL },
	{ "GET", "/certificates", roles_read, api_certs_search, &q_certs },
	{ "GET", "/certificates/*", roles_read, api_cert_show, NULL },
	{ "POST", "/certificates/*/revoke", roles_revoke, admin_api_revoke, NULL },
	{ "POST", "/revocations", roles_revoke, admin_api_revoke_many, NULL },
	{ "POST", "/est/users", roles_admin, api_est_user_add, NULL },
	{ "GET", "/est/users", roles_ops, api_est_user_list, NULL },
	{ "DELETE", "/est/users/*", roles_admin, api_est_user_del, NULL },
	{ "GET", "/requests", roles_read, api_requests_list, &q_requests },
	{ "GET", "/requests/*", roles_read, api_request_show, NULL },
	{ "POST", "/requests/*/approve", roles_decide, api_request_approve, NULL },
	{ "POST", "/requests/*/reject", roles_decide, api_request_reject, NULL },
	{ "GET", "/policy", roles_read, api_policy_show, NULL },
	{ "POST", "/policy/test", roles_read, api_policy_test, NULL },
	{ "POST", "/policy/reload", roles_admin, api_policy_reload, NULL },
	{ "GET", "/audit", roles_audit, api_audit_query, &q_audit },
	{ "GET", "/audit/export", roles_audit, api_audit_export, &q_export },
	{ "POST", "/audit/checkpoint", roles_audit, api_audit_checkpoint, NULL },
	{ "POST", "/audit/backups", roles_admin, api_audit_backup, NULL },
	{ "GET", "/admins", roles_audit, api_admins_list, NULL },
	{ "POST", "/admins", roles_admin, api_admins_add, NULL },
	{ "POST", "/admins/*/disable", roles_admin, api_admin_disable, NULL },
	{ "GET", "/tokens", roles_audit, api_tokens_list, NULL },
	{ "POST", "/tokens", roles_admin, api_tokens_create, NULL },
	{ "POST", "/tokens/*/revoke", roles_admin, api_token_revoke, NULL },
	{ "POST", "/acme/eab", roles_admin, api_acme_eab, NULL },
	{ "GET", "/acme/eab", roles_audit, api_acme_eab_list, NULL },
	{ "POST", "/acme/eab/*/revoke", roles_admin, api_acme_eab_revoke, NULL },
	{ "GET", "/acme/accounts/*", roles_audit, api_acme_account_show, NULL },
	{ "POST", "/acme/accounts/*/revoke", roles_admin, api_acme_account_revoke, NULL },
	{ "GET", "/notify", roles_read, api_notify_list, NULL },
	{ "POST", "/notify/retry", roles_ops, api_notify_retry, NULL },
	{ "POST", "/notify/test", roles_ops, api_notify_test, NULL },
	{ "POST", "/ca/renew", roles_admin, api_ca_renew, NULL },
	{ "POST", "/ca/rotate", roles_admin, api_ca_rotate, NULL },
	{ "POST", "/ca/cross-sign", roles_admin, api_ca_cross_sign, NULL },
	{ "POST", "/inventory/import", roles_ops, api_inventory_import, NULL },
	{ "GET", "/inventory", roles_read, api_inventory_list, &q_inventory },
	{ "GET", "/inventory/*", roles_read, api_inventory_show, NULL },
	{ "POST", "/inventory/*/owner", roles_ops, api_inventory_owner, NULL },
	{ "GET", "/reports/*", roles_read, api_inventory_report, &q_reports },
	{ "POST", "/replace", roles_admin, api_replace_create, NULL },
	{ "GET", "/replace", roles_read, api_replace_list, NULL },
	{ "GET", "/replace/*", roles_read, api_replace_show, NULL },
	{ "POST", "/replace/*/cancel", roles_admin, api_replace_cancel, NULL },
};

/* The admin API's answer to a submission (policy_answer_t callbacks). */
typedef struct issue_answer {
	const admin_ctx_t *ctx;
	http_reply_t *reply;
	const char *requester, *profile;
} issue_answer_t;

static void issue_issued(void *arg, const policy_outcome_t *out)
{
	issue_answer_t *a = arg;
	const ca_issued_t *issued = out->issued;
	char *pem = NULL, *chain = NULL, location[128];
	json_t *resp = NULL;

	/* The one channel that answers with PEM formats it here. */
	if (ca_issued_pem(a->ctx->ca, issued, &pem, &chain) == 0)
		resp = json_pack("{s:s, s:s, s:s, s:s, s:I}", "serial", issued->serial_hex,
				 "profile", a->profile, "certificate", pem, "chain", chain,
				 "audit_seq", (json_int_t)issued->audit_seq);
	if (resp == NULL) {
		http_reply_problem(a->reply, 500, PROBLEM("serverInternal"),
				   "certificate %s was stored but cannot be returned",
				   issued->serial_hex);
		goto out;
	}
	http_reply_json(a->reply, 201, NULL, resp);
	snprintf(location, sizeof(location), "/admin/v1/certificates/%s", issued->serial_hex);
	a->reply->location = strdup(location);
	log_info("admin", "issued %s to %s (profile %s)", issued->serial_hex, a->requester,
		 a->profile);
out:
	json_decref(resp);
	free(pem);
	free(chain);
}

static void issue_pending(void *arg, const policy_outcome_t *out)
{
	issue_answer_t *a = arg;
	char location[128];
	json_t *resp;

	/* The decision's texts are cut by bytes (a CN in UTF-8): util_json_text shows a cut
	 * character as U+FFFD, where json_pack would fail the answer of a stored request. */
	resp = json_pack("{s:s, s:s, s:o, s:s, s:i, s:i, s:o}", "request", out->request.id,
			 "status", "pending", "rule", util_json_text(out->decision.rule), "profile",
			 a->profile, "approvals_needed", out->request.approvals_needed,
			 "approvals_have", out->request.approvals_have, "reason",
			 util_json_text(out->decision.reason));
	http_reply_json(a->reply, 202, NULL, resp);
	json_decref(resp);
	snprintf(location, sizeof(location), "/admin/v1/requests/%s", out->request.id);
	a->reply->location = strdup(location);
	log_info("admin", "request %s by %s waits for %d approvals (rule %s)", out->request.id,
		 a->requester, out->request.approvals_needed, out->decision.rule);
}

static void issue_refused(void *arg, policy_submit_result_t res, const policy_outcome_t *out,
			  const cairn_err_t *err)
{
	issue_answer_t *a = arg;
	(void)out;

	log_warn("admin", "issue for %s (profile %s): %s", a->requester, a->profile,
		 cairn_err_msg(err));
	if (res == POLICY_SUBMIT_REJECTED)
		http_reply_problem(a->reply, 403, PROBLEM("rejectedByPolicy"), "%s",
				   cairn_err_msg(err));
	else
		api_reply_error(a->reply, err);
}

static const policy_answer_t issue_answer_ops = { issue_issued, issue_pending, issue_refused };

static void api_cert_issue(const admin_ctx_t *ctx, const admin_request_t *req,
			   const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	ca_request_t creq = { 0 };
	issue_answer_t ans = { ctx, reply, NULL, NULL };
	ca_csr_t *parsed = NULL;
	cairn_err_t err = { 0 };
	json_error_t jerr;
	json_t *body = NULL;
	const char *csr = NULL, *profile = NULL;
	char requester[96];
	json_int_t asked = 0;
	int days = 0;
	(void)arg;

	if ((body = api_body(ctx, req, reply)) == NULL)
		return;
	if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s:s, s?I}", "csr", &csr, "profile",
			   &profile, "validity_days", &asked) != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "expected {\"csr\": PEM, \"profile\": NAME, \"validity_days\"?: N}: %s",
				   jerr.text);
		goto out;
	}
	if (api_days_check(body, asked, &days, reply) != 0)
		goto out;
	api_actor(who, requester, sizeof(requester));
	/* An admin certificate is a login: only admins hand them out. */
	if (strcmp(profile, CA_ADMIN_PROFILE) == 0 && strcmp(who->role, "admin") != 0) {
		api_audit_denied(ctx, req, requester,
				 "only the admin role may issue admin-profile certificates");
		http_reply_problem(reply, 403, PROBLEM("forbidden"),
				   "only the admin role may issue admin-profile certificates");
		goto out;
	}
	ans.requester = requester;
	ans.profile = profile;
	/* The one parse and signature check of this request. */
	if (ca_csr_new(csr, strlen(csr), 0, &parsed, &err) != 0) {
		issue_refused(&ans, POLICY_SUBMIT_FAILED, NULL, &err);
		goto out;
	}
	creq.csr = parsed;
	creq.profile = profile;
	creq.requester = requester;
	creq.channel = "admin";
	creq.validity_days = days;
	(void)policy_submit_answer(ctx->policy, &creq, NULL, &issue_answer_ops, &ans, &err);
out:
	ca_csr_free(parsed);
	json_decref(body);
}

static void api_cert_show(const admin_ctx_t *ctx, const admin_request_t *req,
			  const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	uint8_t serial[DB_SERIAL_MAX];
	db_txn_t *txn = NULL;
	db_cert_t c;
	json_t *resp = NULL;
	BIO *bio = NULL;
	BUF_MEM *mem;
	X509 *x = NULL;
	const unsigned char *p;
	char nb[32], na[32];
	int len;
	(void)req;
	(void)who;

	if ((len = api_serial_parse(arg, serial, reply)) < 0)
		return;
	if (db_read_begin(ctx->db, &txn) != 0) {
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "database unavailable");
		return;
	}
	if (db_cert_get(txn, serial, (size_t)len, &c) != 0) {
		http_reply_problem(reply, 404, PROBLEM("notFound"), "no certificate with serial %s",
				   arg);
		goto out;
	}
	p = c.der;
	x = ca_cert_d2i(&p, (long)c.der_len);
	bio = BIO_new(BIO_s_mem());
	if (x == NULL || bio == NULL || !PEM_write_bio_X509(bio, x)) {
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "stored certificate unreadable");
		goto out;
	}
	BIO_get_mem_ptr(bio, &mem);
	time_rfc3339((time_t)c.not_before, nb, sizeof(nb));
	time_rfc3339((time_t)c.not_after, na, sizeof(na));
	/* Nine members: the format once listed eight, and every show answered 500. */
	resp = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s%}", "serial", arg, "status",
			 c.status == DB_CERT_REVOKED ? "revoked" : "valid", "subject", c.subject,
			 "issuer", c.issuer, "profile", c.profile, "requester", c.requester,
			 "not_before", nb, "not_after", na, "certificate", mem->data, mem->length);
	if (resp != NULL && c.status == DB_CERT_REVOKED) {
		time_rfc3339((time_t)c.revoked_at, nb, sizeof(nb));
		json_object_set_new(resp, "revoked_at", json_string(nb));
		json_object_set_new(resp, "revocation_reason", json_string(ca_reason_name(c.reason)));
	}
	http_reply_json(reply, 200, NULL, resp);
out:
	json_decref(resp);
	BIO_free(bio);
	X509_free(x);
	db_txn_end(txn);
}

/* EST enrollment accounts: the password arrives once, only its slow hash is kept. */
static void api_est_user_add(const admin_ctx_t *ctx, const admin_request_t *req,
			     const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	cairn_err_t err = { 0 };
	json_error_t jerr;
	json_t *body = NULL, *labels = NULL, *l;
	const char *name = NULL, *password = NULL, *email = NULL, *names[EST_MAX_LABELS];
	char actor[96];
	size_t i;
	int rc;
	(void)arg;

	if ((body = api_body(ctx, req, reply)) == NULL)
		return;
	if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s:s, s?o, s?s}", "name", &name,
			   "password", &password, "labels", &labels, "email", &email) != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "expected {\"name\": NAME, \"password\": TEXT, \"labels\"?: [LABEL...], "
				   "\"email\"?: ADDRESS}: %s",
				   jerr.text);
		goto out;
	}
	if (labels != NULL && (!json_is_array(labels) || json_array_size(labels) > EST_MAX_LABELS)) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "labels must be an array of at most %d label names", EST_MAX_LABELS);
		goto out;
	}
	json_array_foreach(labels, i, l)
		names[i] = json_string_value(l); /* NULL (not a string) is refused by est_user_add */
	snprintf(actor, sizeof(actor), "admin:%s", who->name);
	rc = est_user_add(ctx->db, name, password, names, json_array_size(labels), email, actor,
			  &err);
	if (rc == CAIRN_EEXIST)
		http_reply_problem(reply, 409, PROBLEM("conflict"), "%s", cairn_err_msg(&err));
	else if (rc == CAIRN_EINVAL)
		http_reply_problem(reply, 400, PROBLEM("malformed"), "%s", cairn_err_msg(&err));
	else if (rc != 0) /* the caller's credential gone by the write (401), the database */
		api_reply_error(reply, &err);
	else {
		json_t *resp = json_pack("{s:s}", "name", name);
		http_reply_json(reply, 201, NULL, resp);
		json_decref(resp);
		log_info("admin", "EST user %s added by %s", name, actor);
	}
out:
	if (body != NULL && password != NULL)
		OPENSSL_cleanse((void *)password, strlen(password));
	json_decref(body);
}

static void api_est_user_del(const admin_ctx_t *ctx, const admin_request_t *req,
			     const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	cairn_err_t err = { 0 };
	char actor[96];
	int rc;
	(void)req;

	snprintf(actor, sizeof(actor), "admin:%s", who->name);
	rc = est_user_del(ctx->db, arg, actor, &err);
	if (rc == CAIRN_ENOENT) {
		http_reply_problem(reply, 404, PROBLEM("notFound"), "%s", cairn_err_msg(&err));
	} else if (rc != 0) { /* 401: the caller's credential gone by the write */
		api_reply_error(reply, &err);
	} else {
		json_t *resp = json_pack("{s:s}", "deleted", arg);
		http_reply_json(reply, 200, NULL, resp);
		json_decref(resp);
		log_info("admin", "EST user %s deleted by %s", arg, actor);
	}
}

static int list_user(const char *name, const est_user_info_t *info, void *arg)
{
	json_t *labels = json_array();
	char when[32];
	size_t i;

	for (i = 0; labels != NULL && i < info->n_labels; i++)
		json_array_append_new(labels, json_string(info->labels[i]));
	time_rfc3339((time_t)info->created, when, sizeof(when));
	/* No labels: the account may use the default label only (est.default_label). */
	return json_array_append_new(arg, json_pack("{s:s, s:s, s:o}", "name", name, "created",
						    when, "labels", labels));
}

static void api_est_user_list(const admin_ctx_t *ctx, const admin_request_t *req,
			      const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	json_t *users = json_array(), *resp = NULL;
	(void)req;
	(void)who;
	(void)arg;

	if (users == NULL || est_users_list(ctx->db, list_user, users) != 0) {
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "cannot list EST users");
		json_decref(users);
		return;
	}
	resp = json_pack("{s:o}", "users", users);
	http_reply_json(reply, 200, NULL, resp);
	json_decref(resp);
}

/* 1 when name is in list (NULL-terminated; NULL is the empty list): a role among the
 * route's roles. */
static int listed(const char *const *list, const char *name)
{
	size_t i;

	for (i = 0; list != NULL && list[i] != NULL; i++)
		if (strcmp(list[i], name) == 0)
			return 1;
	return 0;
}

/* Matches path against a pattern of segments; a "*" segment (one non-empty segment
 * of at most 127 characters) is copied to arg. */
static int path_match(const char *pattern, const char *path, char *arg, size_t cap)
{
	while (*pattern != '\0' && *path != '\0') {
		if (pattern[0] == '*') {
			size_t n = strcspn(path, "/");
			if (n == 0 || n >= cap)
				return 0;
			memcpy(arg, path, n);
			arg[n] = '\0';
			path += n;
			pattern++;
			continue;
		}
		if (*pattern != *path)
			return 0;
		pattern++;
		path++;
	}
	return *pattern == '\0' && *path == '\0';
}

struct denied_event {
	const admin_request_t *req;
	const char *who;
	const char *why;
};

static int denied_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct denied_event *de = arg;
	/* Method and path come from the request as sent (a %ff in the path is a raw byte):
	 * util_json_text keeps them, escaped, so the event never loses its details. */
	json_t *details = json_pack("{s:o, s:o, s:o, s:o}", "method",
				    util_json_text(de->req->method), "path",
				    util_json_text(de->req->path), "reason", util_json_text(de->why),
				    "remote", util_json_text(de->req->remote));
	json_t *actor = util_json_text(de->who);
	audit_event_t ev = { .actor = json_string_value(actor), .action = "admin.denied",
			     .details = details };
	int rc = details && actor ? audit_append(txn, &ev, NULL, err)
				  : cairn_err_set(err, CAIRN_ENOMEM, "out of memory");

	json_decref(details);
	json_decref(actor);
	return rc;
}

/* Every refused call leaves a trace: who tried what, and why it was refused. */
void api_audit_denied(const admin_ctx_t *ctx, const admin_request_t *req, const char *who,
		      const char *why)
{
	struct denied_event de = { req, who, why };
	cairn_err_t err = { 0 };

	log_kv(LOG_LVL_WARN, "admin", "call refused", "remote", req->remote, "method", req->method,
	       "path", req->path, "user", who, "reason", why, NULL);
	if (db_write(ctx->db, denied_op, &de, &err) != 0)
		log_kv(LOG_LVL_ERROR, "admin", "audit of a refused call failed", "remote",
		       req->remote, "path", req->path, "reason", cairn_err_msg(&err), NULL);
}

/*
 * Refuses a call that a browser or anyone may send without end: from a caller that proved
 * nothing (no credential, one refused, a session's change without its CSRF token; actor
 * "anonymous") or one a browser marks cross-site (another site's page making an admin's
 * browser post with its client certificate; actor that admin). status and why, audited
 * under actor. Each is a durable audit event, so one address (net_addr_key) gets at most
 * ADMIN_AUTH_FAIL_LIMIT of them at a time: past it, 429 with Retry-After; the first 429
 * of a lock-out is audited, the next ones only counted, and their number audited once
 * ("admin.login_limited", audit_limit_check) when the address may try again. A valid same-site call never
 * gets here, so callers that share an address (behind a proxy) are not locked out by it.
 */
static void refuse_counted(const admin_ctx_t *ctx, const admin_request_t *req,
			   const char *actor, int status, const char *type, const char *why,
			   http_reply_t *reply)
{
	char key[RL_KEY_MAX];
	int first;
	uint64_t wait;

	net_addr_key(req->remote, key, sizeof(key));
	wait = audit_limit_check(ctx->db, ctx->fails, key, key, "anonymous",
				 "admin.login_limited", &first);
	if (wait > 0) {
		if (first)
			api_audit_denied(ctx, req, actor,
					 "too many refused calls from this address: limited (429)");
		http_reply_problem(reply, 429, PROBLEM("rateLimited"),
				   "too many refused calls (no valid credential, or cross-site) from "
				   "this address: try again later");
		reply->retry_after = (int)((wait + 999) / 1000);
		return;
	}
	if (ctx->fails != NULL)
		util_ratelimit_fail(ctx->fails, key);
	api_audit_denied(ctx, req, actor, why);
	http_reply_problem(reply, status, type, "%s", why);
}

/* A browser marks the requests another site makes it send (Origin, Sec-Fetch-Site). The
 * cookie is SameSite=Strict and a session change needs its CSRF token, but a browser also
 * presents a client certificate to any site's form post: so no change is accepted from a
 * request a browser says came from elsewhere. CLI and other clients send neither header. */
static int cross_site(const admin_request_t *req)
{
	size_t n;

	if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)
		return 0;
	if (req->fetch_site != NULL && strcmp(req->fetch_site, "same-origin") != 0 &&
	    strcmp(req->fetch_site, "none") != 0)
		return 1;
	if (req->origin == NULL)
		return 0;
	/* Origin must be https://HOST exactly, HOST being the Host header we were asked for. */
	if (req->host == NULL || strncmp(req->origin, "https://", 8) != 0)
		return 1;
	n = strlen(req->host);
	return strncmp(req->origin + 8, req->host, n) != 0 || req->origin[8 + n] != '\0';
}

/*
 * The query as a whole, before any handler reads a parameter: only the parameters the
 * route takes, none of them empty. A handler then reads each with api_query* and checks
 * only its value. Otherwise a misspelt filter answered the unfiltered list, "?limit="
 * the default page and "?limit=5&limit=7" whichever value libmicrohttpd kept (the
 * first). 0, or -1 and a 400 reply naming the parameter.
 */
static int query_check(const admin_route_t *route, const admin_request_t *req,
		       http_reply_t *reply)
{
	const char *const *params = route->query ? route->query->params : NULL;
	const char *name, *v;
	char takes[256] = "";
	size_t i;

	if (req->query_unknown != NULL &&
	    (name = req->query_unknown(req->query_ctx, params)) != NULL) {
		for (i = 0; params != NULL && params[i] != NULL; i++)
			snprintf(takes + strlen(takes), sizeof(takes) - strlen(takes), "%s%s",
				 i ? ", " : "", params[i]);
		/* (the detail goes through util_json_text: a name that is not UTF-8 is shown
		 * with U+FFFD, never dropped) */
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "unknown query parameter \"%.64s\": %s /admin/v1%s takes %s",
				   name, req->method, req->path, takes[0] ? takes : "none");
		return -1;
	}
	for (i = 0; params != NULL && (name = params[i]) != NULL; i++) {
		size_t n = req->query_count != NULL ? req->query_count(req->query_ctx, name) : 0;

		if (n > 1) {
			http_reply_problem(reply, 400, PROBLEM("malformed"),
					   "query parameter \"%s\" is given more than once", name);
			return -1;
		}
		v = api_query(req, name);
		/* "?status" without "=": libmicrohttpd keeps it with no value (NULL), which
		 * would read as absent */
		if ((v == NULL && n == 1) || (v != NULL && v[0] == '\0')) {
			http_reply_problem(reply, 400, PROBLEM("malformed"),
					   "query parameter \"%s\" is empty: give a value or leave "
					   "it out", name);
			return -1;
		}
	}
	return 0;
}

/* The guard of a route's writes (db_guard_swap): the caller's credential and admin. */
static int caller_still_there(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	return admin_identity_recheck(txn, arg, err);
}

void admin_handle(const admin_ctx_t *ctx, const admin_request_t *req, http_reply_t *reply)
{
	const admin_route_t *route = NULL;
	admin_identity_t who;
	db_guard_t prev;
	cairn_err_t err = { 0 };
	int path_known = 0, rc;
	char actor[96], arg[128] = "", allow[32] = "";
	size_t i;

	/* Answers carry a session's CSRF token, a new API token or EAB key, the audit log:
	 * no browser cache or proxy keeps any of them (the console's fetch asks no-store
	 * itself; a browser opening an API URL with an admin certificate does not). */
	(void)http_reply_header(reply, "Cache-Control", "no-store");
	for (i = 0; i < sizeof(admin_routes) / sizeof(admin_routes[0]); i++) {
		const admin_route_t *r = &admin_routes[i];
		if (!path_match(r->path, req->path, arg, sizeof(arg)))
			continue;
		path_known = 1;
		if (strcmp(r->method, req->method) == 0) {
			route = r;
			break;
		}
		http_allow_add(allow, sizeof(allow), r->method, 0); /* no HEAD here */
	}
	if (route == NULL) {
		if (path_known) {
			http_reply_problem(reply, 405, PROBLEM("methodNotAllowed"),
					   "%s is not allowed on /admin/v1%s", req->method, req->path);
			http_reply_header(reply, "Allow", "%s", allow); /* RFC 9110 §15.5.6 */
		} else {
			http_reply_problem(reply, 404, PROBLEM("notFound"), "no such endpoint: /admin/v1%s",
					   req->path);
		}
		return;
	}
	if (cross_site(req)) {
		/* Refused whoever sent it, but the audit names the credential that came with it. */
		if (admin_identify(ctx, req, &who, &err) == 0)
			api_actor(&who, actor, sizeof(actor));
		else
			snprintf(actor, sizeof(actor), "anonymous");
		refuse_counted(ctx, req, actor, 403, PROBLEM("forbidden"),
			       "cross-site request: it may not change anything", reply);
		return;
	}
	rc = admin_identify(ctx, req, &who, &err);
	if (rc == CAIRN_EDENIED) {
		refuse_counted(ctx, req, "anonymous", 403, PROBLEM("forbidden"), cairn_err_msg(&err),
			       reply);
		return;
	}
	if (rc != 0) {
		refuse_counted(ctx, req, "anonymous", 401, PROBLEM("unauthorized"), cairn_err_msg(&err),
			       reply);
		if (reply->status == 401)
			reply->www_authenticate = "Bearer realm=\"cairn admin\"";
		/* A dead session's cookie is dropped (with the 429 of a limited address too), so
		 * a client certificate can sign in again. */
		if (req->authorization == NULL && admin_session_cookie_present(req->cookie))
			admin_session_cookie_clear(reply);
		return;
	}
	if (!listed(route->roles, who.role)) {
		api_actor(&who, actor, sizeof(actor));
		api_audit_denied(ctx, req, actor, "role not allowed");
		http_reply_problem(reply, 403, PROBLEM("forbidden"),
				   "role %s may not %s /admin/v1%s", who.role, req->method, req->path);
		return;
	}
	if (query_check(route, req, reply) != 0)
		return;
	/* Whatever the route writes, it writes on the caller's authority as it stands in that
	 * write: a token revoked, a certificate revoked or held, an admin disabled since the
	 * check above (while an issuance signed, or for the microseconds before a revocation's
	 * write) writes nothing and the route answers 401. */
	prev = db_guard_swap((db_guard_t){ caller_still_there, &who });
	route->fn(ctx, req, &who, strchr(route->path, '*') ? arg : NULL, reply);
	db_guard_swap(prev);
	if (reply->status == 401) { /* refused in a write: audited like any other refusal */
		api_actor(&who, actor, sizeof(actor));
		api_audit_denied(ctx, req, actor, "credential no longer valid when written");
		reply->www_authenticate = "Bearer realm=\"cairn admin\"";
	}
}
