/* SPDX-License-Identifier: MIT */
/* Admin API plumbing: who is calling (bearer token or client certificate), bodies, query, errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>
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
	char *end = NULL;
	long n = 0;

	if (v == NULL)
		return def;
	/* Digits only: strtol alone would take " 5", "+5" and "" (as 0). A number past
	 * LONG_MAX comes back as LONG_MAX, above every max. */
	if (v[0] >= '0' && v[0] <= '9')
		n = strtol(v, &end, 10);
	if (end == NULL || *end != '\0' || n < min || n > max) {
		http_reply_problem(reply, 400, PROBLEM("malformed"), "%s must be an integer %ld..%ld",
				   key, min, max);
		return -1;
	}
	return n;
}

int api_query_time(const admin_request_t *req, const char *key, time_t def, time_t *out,
		   http_reply_t *reply)
{
	const char *v = api_query(req, key);

	*out = def;
	if (v == NULL) /* query_check refused an empty one */
		return 0;
	if (time_parse(v, out) != 0) {
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "%s must be an RFC 3339 time or YYYY-MM-DD", key);
		return -1;
	}
	return 0;
}

int api_serial_parse(const char *hex, uint8_t out[DB_SERIAL_MAX], http_reply_t *reply)
{
	int len = hex_decode(hex, out, DB_SERIAL_MAX);

	if (len <= 0)
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "serial %.64s%s is not 1..%d bytes of hex", hex,
				   strlen(hex) > 64 ? "..." : "", DB_SERIAL_MAX);
	return len > 0 ? len : -1;
}

int api_days_check(const json_t *body, json_int_t asked, int *days, http_reply_t *reply)
{
	/* Unpacked as json_int_t: an int would wrap 4294967297 to 1 and take it. Above the
	 * longest validity a profile may have, no profile grants it. */
	if (json_object_get(body, "validity_days") == NULL) {
		*days = 0;
		return 0;
	}
	if (asked >= 1 && asked <= CA_PROFILE_MAX_VALIDITY) {
		*days = (int)asked;
		return 0;
	}
	http_reply_problem(reply, 400, PROBLEM("malformed"),
			   "validity_days %" JSON_INTEGER_FORMAT " is not 1..%d (leave it out for "
			   "the profile's)", asked, CA_PROFILE_MAX_VALIDITY);
	return -1;
}

json_t *api_body(const admin_ctx_t *ctx, const admin_request_t *req, http_reply_t *reply)
{
	json_t *body = NULL;
	char why[160];

	if (req->body_len == 0)
		return json_object();
	if (!http_media_type_is(req->content_type, "application/json")) {
		http_reply_problem(reply, 415, PROBLEM("malformed"),
				   "Content-Type must be application/json");
		return NULL;
	}
	if (util_json_parse(req->body, req->body_len, &ctx->json, &body, why, sizeof(why)) != 0) {
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

int api_body_none(const admin_ctx_t *ctx, const admin_request_t *req, http_reply_t *reply)
{
	json_t *body = api_body(ctx, req, reply);
	void *it = body ? json_object_iter(body) : NULL;

	if (it != NULL)
		http_reply_problem(reply, 400, PROBLEM("malformed"),
				   "unknown member \"%.64s\": %s /admin/v1%s takes no options (an "
				   "empty body or {})", json_object_iter_key(it), req->method, req->path);
	json_decref(body);
	return body != NULL && it == NULL ? 0 : -1;
}

void api_reply_error(http_reply_t *reply, const cairn_err_t *err)
{
	const cairn_http_error_t *m = cairn_err_http(err->code);
	char type[96];

	snprintf(type, sizeof(type), CAIRN_PROBLEM_NS "%s", m->type);
	http_reply_problem(reply, m->status, type, "%s", cairn_err_msg(err));
	reply->retry_after = m->retry_after;
}

/* admin_cert_serial_check inside txn. */
static int cert_serial_check_txn(db_txn_t *txn, const uint8_t *serial, size_t len,
				 const char *name, admin_identity_t *id, cairn_err_t *err)
{
	db_cert_t rec;
	const unsigned char *p;
	X509 *x = NULL;
	char blocked[256] = "";
	int compromised = 0;
	int64_t now = (int64_t)time(NULL);

	if (len == 0 || len > DB_SERIAL_MAX)
		return cairn_err_set(err, CAIRN_EAUTH, "client certificate has no usable serial");
	if (db_cert_get(txn, serial, len, &rec) != 0 || strcmp(rec.profile, CA_ADMIN_PROFILE) != 0)
		return cairn_err_set(err, CAIRN_EAUTH,
				     "client certificate is not an admin certificate of this CA");
	if (rec.status == DB_CERT_REVOKED && rec.reason == CA_REASON_HOLD)
		return cairn_err_set(err, CAIRN_EAUTH, "client certificate is on hold");
	if (rec.status == DB_CERT_REVOKED)
		return cairn_err_set(err, CAIRN_EAUTH, "client certificate is revoked");
	/* Another certificate of the same key revoked for keyCompromise: whoever holds the
	 * key may be someone else, so none of its certificates signs in (read from the
	 * stored record, so a session's re-check by serial asks it too). */
	p = rec.der;
	x = ca_cert_d2i(&p, (long)rec.der_len);
	compromised = x == NULL || ca_key_compromised(txn, x, blocked, sizeof(blocked));
	X509_free(x);
	if (compromised)
		return cairn_err_set(err, CAIRN_EAUTH, "client certificate's key is blocked: %s",
				     blocked[0] ? blocked : "it cannot be read");
	if (rec.not_after < now || rec.not_before > now)
		return cairn_err_set(err, CAIRN_EAUTH, "client certificate is not valid now");
	snprintf(id->name, sizeof(id->name), "%s", name);
	memcpy(id->cred, serial, len);
	id->cred_len = len;
	id->proof = "certificate";
	return admin_check_enabled(txn, id, err);
}

int admin_cert_serial_check(const admin_ctx_t *ctx, const uint8_t *serial, size_t len,
			    const char *name, admin_identity_t *id, cairn_err_t *err)
{
	db_txn_t *txn = NULL;
	int rc;

	if ((rc = db_read_begin(ctx->db, &txn)) != 0)
		return cairn_err_set(err, rc, "database unavailable");
	rc = cert_serial_check_txn(txn, serial, len, name, id, err);
	db_txn_end(txn);
	return rc;
}

int admin_identity_recheck(db_txn_t *txn, const admin_identity_t *who, cairn_err_t *err)
{
	admin_identity_t now = { 0 };

	if (who->proof != NULL && strcmp(who->proof, "certificate") == 0)
		return cert_serial_check_txn(txn, who->cred, who->cred_len, who->name, &now, err);
	if (who->cred_len != SHA256_DIGEST_LENGTH)
		return cairn_err_set(err, CAIRN_EAUTH, "no credential to check");
	return admin_token_check_txn(txn, who->cred, &now, err);
}

/* An admin certificate: issued by one of the issuing CAs under the "admin" profile,
 * stored, valid now and not revoked; its CN names an enabled admin. */
static int cert_identity(const admin_ctx_t *ctx, X509 *cert, admin_identity_t *id,
			 cairn_err_t *err)
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(cert);
	X509_NAME *subj = X509_get_subject_name(cert);
	char cn[64] = "";
	int n;

	/* Any of our issuing CAs: admin certificates outlive a rotation. */
	if (ca_issuer_of(ctx->ca, cert) == NULL)
		return cairn_err_set(err, CAIRN_EAUTH, "client certificate not issued by this CA");
	n = X509_NAME_get_text_by_NID(subj, NID_commonName, cn, sizeof(cn));
	if (n <= 0 || sn == NULL || sn->length > DB_SERIAL_MAX)
		return cairn_err_set(err, CAIRN_EAUTH, "client certificate has no admin name (CN)");
	return admin_cert_serial_check(ctx, sn->data, (size_t)sn->length, cn, id, err);
}

int admin_identify(const admin_ctx_t *ctx, const admin_request_t *req, admin_identity_t *id,
		   cairn_err_t *err)
{
	int rc;

	if (req->authorization == NULL && admin_session_cookie_present(req->cookie))
		return admin_session_identify(ctx, req, id, err);
	if (req->authorization == NULL && req->client_cert != NULL) {
		id->via = "certificate";
		return cert_identity(ctx, req->client_cert, id, err);
	}
	if (req->authorization == NULL)
		return cairn_err_set(err, CAIRN_EAUTH,
				     "missing Authorization header (or an admin client certificate)");
	rc = admin_authenticate(ctx->db, req->authorization, id, err);
	if (rc == 0)
		id->via = "token";
	return rc;
}
