/* SPDX-License-Identifier: MIT */
/* Admin API plumbing: who is calling (bearer token or client certificate), bodies, query, errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "admin/admin_int.h"

void api_actor(const admin_identity_t *who, char *out, size_t cap)
{
	snprintf(out, cap, "admin:%s", who->name);
}

const char *api_query(const admin_request_t *req, const char *key)
{
	return req->query ? req->query(req->query_ctx, key) : NULL;
}

long api_query_long(const admin_request_t *req, const char *key, long def, long min, long max,
		    http_reply_t *reply)
{
	const char *v = api_query(req, key);
	char *end;
	long n;

	if (v == NULL || v[0] == '\0')
		return def;
	n = strtol(v, &end, 10);
	if (*end != '\0' || n < min || n > max) {
		http_reply_problem(reply, 400, PROBLEM("malformed"), "%s must be an integer %ld..%ld",
				   key, min, max);
		return -1;
	}
	return n;
}

json_t *api_body(const admin_ctx_t *ctx, const admin_request_t *req, http_reply_t *reply)
{
	json_t *body = NULL;
	char why[160];

	if (req->body_len == 0)
		return json_object();
	if (req->content_type == NULL || strncmp(req->content_type, "application/json", 16) != 0) {
		http_reply_problem(reply, 415, PROBLEM("malformed"),
				   "Content-Type must be application/json");
		return NULL;
	}
	if (util_json_parse(req->body, req->body_len,
			    ctx->max_json_depth > 0 ? ctx->max_json_depth : ADMIN_JSON_DEPTH, &body,
			    why, sizeof(why)) != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"), "body is not JSON: %s", why);
		return NULL;
	}
	if (!json_is_object(body)) {
		http_reply_problem(reply, 400, PROBLEM("malformed"), "body is not a JSON object");
		json_decref(body);
		return NULL;
	}
	return body;
}

void api_reply_error(http_reply_t *reply, const cairn_err_t *err)
{
	const char *msg = cairn_err_msg(err);

	switch (err->code) {
	case CAIRN_EBADCSR:
		http_reply_problem(reply, 400, PROBLEM("badCSR"), "%s", msg);
		break;
	case CAIRN_ECSRSIG:
		http_reply_problem(reply, 400, PROBLEM("badSignature"), "%s", msg);
		break;
	case CAIRN_EWEAKKEY:
	case CAIRN_EKEYTYPE:
		http_reply_problem(reply, 400, PROBLEM("badPublicKey"), "%s", msg);
		break;
	case CAIRN_ENAME:
		http_reply_problem(reply, 400, PROBLEM("rejectedIdentifier"), "%s", msg);
		break;
	case CAIRN_EPROFILE:
	case CAIRN_EINVAL:
	case CAIRN_ETOOBIG:
		http_reply_problem(reply, 400, PROBLEM("malformed"), "%s", msg);
		break;
	case CAIRN_EDENIED:
		http_reply_problem(reply, 403, PROBLEM("forbidden"), "%s", msg);
		break;
	case CAIRN_ENOENT:
		http_reply_problem(reply, 404, PROBLEM("notFound"), "%s", msg);
		break;
	case CAIRN_EEXIST:
		http_reply_problem(reply, 409, PROBLEM("alreadyDone"), "%s", msg);
		break;
	case CAIRN_ECONFLICT:
		http_reply_problem(reply, 409, PROBLEM("conflict"), "%s", msg);
		break;
	default:
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "%s", msg);
	}
}

/* An admin certificate: issued by one of the issuing CAs under the "admin" profile,
 * stored, valid now and not revoked; its CN names an enabled admin. */
static int cert_identity(const admin_ctx_t *ctx, X509 *cert, admin_identity_t *id,
			 cairn_err_t *err)
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(cert);
	X509_NAME *subj = X509_get_subject_name(cert);
	db_txn_t *txn = NULL;
	db_cert_t rec;
	char cn[64] = "";
	int rc, n;

	/* Any of our issuing CAs: admin certificates outlive a rotation. */
	if (ca_issuer_of(ctx->ca, cert) == NULL)
		return cairn_err_set(err, CAIRN_EAUTH, "client certificate not issued by this CA");
	n = X509_NAME_get_text_by_NID(subj, NID_commonName, cn, sizeof(cn));
	if (n <= 0 || sn == NULL || sn->length > DB_SERIAL_MAX)
		return cairn_err_set(err, CAIRN_EAUTH, "client certificate has no admin name (CN)");
	if (db_read_begin(ctx->db, &txn) != 0)
		return cairn_err_set(err, CAIRN_EAUTH, "database unavailable");
	rc = db_cert_get(txn, sn->data, (size_t)sn->length, &rec);
	db_txn_end(txn);
	if (rc != 0 || strcmp(rec.profile, CA_ADMIN_PROFILE) != 0)
		return cairn_err_set(err, CAIRN_EAUTH,
				     "client certificate is not an admin certificate of this CA");
	if (rec.status == DB_CERT_REVOKED)
		return cairn_err_set(err, CAIRN_EAUTH, "client certificate is revoked");
	if (rec.not_after < (int64_t)time(NULL) || rec.not_before > (int64_t)time(NULL))
		return cairn_err_set(err, CAIRN_EAUTH, "client certificate is not valid now");
	{
		int disabled = 0;
		if (admin_get(ctx->db, cn, id, &disabled) != 0)
			return cairn_err_set(err, CAIRN_EAUTH, "no admin %s", cn);
		if (disabled)
			return cairn_err_set(err, CAIRN_EAUTH, "admin %s is disabled", cn);
	}
	return 0;
}

int admin_identify(const admin_ctx_t *ctx, const admin_request_t *req, admin_identity_t *id,
		   cairn_err_t *err)
{
	if (req->authorization == NULL && req->client_cert != NULL)
		return cert_identity(ctx, req->client_cert, id, err);
	if (req->authorization == NULL)
		return cairn_err_set(err, CAIRN_EAUTH,
				     "missing Authorization header (or an admin client certificate)");
	return admin_authenticate(ctx->db, req->authorization, id, err);
}
