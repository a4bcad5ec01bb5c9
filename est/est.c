/* SPDX-License-Identifier: MIT */
/* EST front: labels and operations as a table, device authentication (Basic or TLS client certificate), cacerts and csrattrs. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "audit/audit.h"
#include "est/est_int.h"

#define WWW_AUTH "Basic realm=\"cairn est\""

typedef void (*op_fn)(est_call_t *c, http_reply_t *reply);

static void op_cacerts(est_call_t *c, http_reply_t *reply);
static void op_csrattrs(est_call_t *c, http_reply_t *reply);
static void op_simpleenroll(est_call_t *c, http_reply_t *reply);
static void op_simplereenroll(est_call_t *c, http_reply_t *reply);
static void op_serverkeygen(est_call_t *c, http_reply_t *reply);

/* The operations of RFC 7030 §3.2.2, with the method each takes and whether it needs a client. */
static const struct est_op {
	const char *name;
	const char *method;
	int auth;
	op_fn fn;
} est_ops[] = {
	{ "cacerts", "GET", 0, op_cacerts },
	{ "csrattrs", "GET", 0, op_csrattrs },
	{ "simpleenroll", "POST", 1, op_simpleenroll },
	{ "simplereenroll", "POST", 1, op_simplereenroll },
	{ "serverkeygen", "POST", 1, op_serverkeygen },
};

int est_new(const est_settings_t *set, ca_t *ca, db_t *db, policy_engine_t *policy,
	    est_t **out, cairn_err_t *err)
{
	X509 *chain[2];
	est_t *e = NULL;
	uint8_t *der = NULL;
	size_t len = 0, i;
	int rc;

	*out = NULL;
	for (i = 0; i < set->n_labels; i++)
		if (ca_profile(ca, set->labels[i].profile) == NULL)
			return cairn_err_set(err, CAIRN_ECONFIG, "est.labels.%s.profile: no profile named %s",
					     set->labels[i].name, set->labels[i].profile);
	chain[0] = ca_issuer_cert(ca, "issuing");
	chain[1] = ca_issuer_cert(ca, "root");
	e = calloc(1, sizeof(*e));
	if (e == NULL || chain[0] == NULL || chain[1] == NULL) {
		rc = cairn_err_set(err, e ? CAIRN_EINVAL : CAIRN_ENOMEM, "EST needs the CA certificates");
		goto out;
	}
	e->set = *set;
	e->ca = ca;
	e->db = db;
	e->policy = policy;
	if ((rc = est_certs_only(chain, 2, &der, &len)) != 0 ||
	    (rc = est_b64_encode(der, len, &e->cacerts_b64, &e->cacerts_len)) != 0) {
		cairn_err_ssl(err, rc, "building the /cacerts answer");
		goto out;
	}
	*out = e;
	e = NULL;
out:
	OPENSSL_free(der);
	est_free(e);
	return rc;
}

void est_free(est_t *e)
{
	if (e == NULL)
		return;
	free(e->cacerts_b64);
	free(e);
}

void est_reply_text(http_reply_t *reply, int status, const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0) {
		http_reply_set(reply, 500, "text/plain", NULL, 0);
		return;
	}
	text[n] = '\0';
	/* One line ending in a newline, as curl users expect. */
	if (n == 0 || text[n - 1] != '\n') {
		char *t = realloc(text, (size_t)n + 2);
		if (t != NULL) {
			text = t;
			text[n++] = '\n';
			text[n] = '\0';
		}
	}
	http_reply_set(reply, status, "text/plain; charset=utf-8", text, (size_t)n);
}

struct refusal {
	const est_call_t *c;
	int status;
	const char *reason;
};

static int refusal_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct refusal *r = arg;
	const est_call_t *c = r->c;
	/* The requester is the Basic user name as sent and the reason may quote it: outside
	 * bytes, kept escaped by util_json_text so the event keeps its details. */
	json_t *details = json_pack("{s:o, s:o, s:i, s:o, s:o}", "op", util_json_text(c->op),
				    "label", util_json_text(c->label ? c->label->name : ""),
				    "status", r->status, "reason", util_json_text(r->reason),
				    "remote", util_json_text(c->req->remote));
	json_t *actor = util_json_text(c->requester[0] ? c->requester : "anonymous");
	audit_event_t ev = { .actor = json_string_value(actor), .action = "est.refused",
			     .details = details };
	int rc = details && actor ? audit_append(txn, &ev, NULL, err)
				  : cairn_err_set(err, CAIRN_ENOMEM, "out of memory");

	json_decref(details);
	json_decref(actor);
	return rc;
}

void est_refuse(est_call_t *c, http_reply_t *reply, int status, const char *fmt, ...)
{
	struct refusal r = { c, status, NULL };
	cairn_err_t err = { 0 };
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	r.reason = reason;
	if (db_write(c->e->db, refusal_op, &r, &err) != 0)
		log_kv(LOG_LVL_ERROR, "est", "audit of a refusal failed", "remote", c->req->remote,
		       "reason", cairn_err_msg(&err), NULL);
	log_kv(LOG_LVL_INFO, "est", "request refused", "remote", c->req->remote, "op", c->op,
	       "user", c->requester[0] ? c->requester : "anonymous", "reason", reason, NULL);
	est_reply_text(reply, status, "%s", reason);
	if (status == 401)
		reply->www_authenticate = WWW_AUTH;
}

static void op_cacerts(est_call_t *c, http_reply_t *reply)
{
	char *body = malloc(c->e->cacerts_len + 1);

	if (body == NULL) {
		est_reply_text(reply, 500, "out of memory");
		return;
	}
	memcpy(body, c->e->cacerts_b64, c->e->cacerts_len + 1);
	http_reply_set(reply, 200, "application/pkcs7-mime", body, c->e->cacerts_len);
	http_reply_header(reply, "Content-Transfer-Encoding", "base64");
}

static void op_csrattrs(est_call_t *c, http_reply_t *reply)
{
	const ca_profile_t *prof = ca_profile(c->e->ca, c->label->profile);
	uint8_t *der = NULL;
	size_t len = 0, blen = 0;
	char *b64 = NULL;

	if (prof == NULL || est_csrattrs_der(prof, c->e->set.channel_binding != EST_CB_OFF, &der,
					     &len) != 0 ||
	    est_b64_encode(der, len, &b64, &blen) != 0) {
		est_reply_text(reply, 500, "cannot build the CSR attributes of label %s",
			       c->label->name);
		goto out;
	}
	http_reply_set(reply, 200, "application/csrattrs", b64, blen);
	http_reply_header(reply, "Content-Transfer-Encoding", "base64");
out:
	OPENSSL_free(der);
}

static void op_simpleenroll(est_call_t *c, http_reply_t *reply)
{
	est_enroll(c, 0, 0, reply);
}

static void op_simplereenroll(est_call_t *c, http_reply_t *reply)
{
	est_enroll(c, 1, 0, reply);
}

static void op_serverkeygen(est_call_t *c, http_reply_t *reply)
{
	if (!c->label->serverkeygen) {
		est_refuse(c, reply, 403, "serverkeygen is not enabled for label %s", c->label->name);
		return;
	}
	est_enroll(c, 0, 1, reply);
}

/* Is the verified TLS client certificate one of ours, current and not revoked? */
static void check_peer(est_call_t *c)
{
	const unsigned char *p = c->req->peer_cert;
	const ASN1_INTEGER *sn;
	uint8_t serial[DB_SERIAL_MAX];
	db_txn_t *txn = NULL;
	db_cert_t rec;
	BIO *bio = NULL;
	char *subj = NULL;
	int len;

	c->peer = d2i_X509(NULL, &p, (long)c->req->peer_cert_len);
	if (c->peer == NULL)
		return;
	sn = X509_get0_serialNumber(c->peer);
	len = ASN1_STRING_length(sn);
	if (len <= 0 || len > DB_SERIAL_MAX)
		return;
	memcpy(serial, ASN1_STRING_get0_data(sn), (size_t)len);
	db_serial_hex(serial, (size_t)len, c->peer_serial);
	if (db_read_begin(c->e->db, &txn) != 0)
		return;
	/* Ours means: stored under this serial with exactly these bytes. */
	if (db_cert_get(txn, serial, (size_t)len, &rec) == 0 &&
	    rec.der_len == c->req->peer_cert_len &&
	    memcmp(rec.der, c->req->peer_cert, rec.der_len) == 0 && rec.status == DB_CERT_VALID &&
	    rec.not_after > (int64_t)time(NULL))
		c->peer_ok = 1;
	db_txn_end(txn);
	/* The requester names the device by its subject in RFC 2253 form ("CN=device-1"). */
	bio = BIO_new(BIO_s_mem());
	if (bio != NULL &&
	    X509_NAME_print_ex(bio, X509_get_subject_name(c->peer), 0, XN_FLAG_RFC2253) >= 0) {
		len = (int)BIO_get_mem_data(bio, &subj);
		snprintf(c->requester, sizeof(c->requester), "est:cert/%.*s", len, subj);
	}
	BIO_free(bio);
}

/* HTTP Basic: returns 0 with c->requester set, or a negative code and why. */
static int check_basic(est_call_t *c, char *why, size_t cap)
{
	const char *h = c->req->authorization;
	uint8_t *raw = NULL;
	size_t len = 0;
	char *colon, *user;
	cairn_err_t err = { 0 };
	int rc;

	if (h == NULL || strncasecmp(h, "Basic ", 6) != 0) {
		snprintf(why, cap, "authentication required: HTTP Basic or a client certificate");
		return CAIRN_EAUTH;
	}
	if (est_b64_decode(h + 6, strlen(h + 6), &raw, &len) != 0) {
		snprintf(why, cap, "malformed Basic credentials");
		return CAIRN_EAUTH;
	}
	user = realloc(raw, len + 1);
	if (user == NULL) {
		free(raw);
		snprintf(why, cap, "out of memory");
		return CAIRN_ENOMEM;
	}
	user[len] = '\0';
	colon = memchr(user, ':', len);
	if (colon == NULL || strlen(user) != len) {
		rc = CAIRN_EAUTH;
		snprintf(why, cap, "malformed Basic credentials");
		goto out;
	}
	*colon = '\0';
	rc = est_user_check(c->e->db, user, colon + 1, &err);
	if (rc == 0)
		snprintf(c->requester, sizeof(c->requester), "est:user/%s", user);
	else
		snprintf(why, cap, "user %.64s: %s", user, cairn_err_msg(&err));
out:
	OPENSSL_cleanse(user, len);
	free(user);
	return rc;
}

static const est_label_t *label_find(const est_t *e, const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < e->set.n_labels; i++)
		if (strlen(e->set.labels[i].name) == n && strncmp(e->set.labels[i].name, name, n) == 0)
			return &e->set.labels[i];
	return NULL;
}

void est_handle(est_t *e, const est_request_t *req, http_reply_t *reply)
{
	est_call_t c = { .e = e, .req = req };
	const struct est_op *op = NULL;
	const char *slash = strchr(req->path, '/'), *opname = req->path;
	char why[256];
	size_t i;

	if (slash != NULL) {
		c.label = label_find(e, req->path, (size_t)(slash - req->path));
		opname = slash + 1;
		if (c.label == NULL) {
			est_reply_text(reply, 404, "no EST label %.*s", (int)(slash - req->path),
				       req->path);
			return;
		}
	} else {
		c.label = label_find(e, e->set.default_label, strlen(e->set.default_label));
	}
	for (i = 0; i < sizeof(est_ops) / sizeof(est_ops[0]); i++)
		if (strcmp(est_ops[i].name, opname) == 0)
			op = &est_ops[i];
	if (op == NULL || c.label == NULL) {
		est_reply_text(reply, 404, "no EST operation %s", opname);
		return;
	}
	c.op = op->name;
	if (strcmp(req->method, op->method) != 0 &&
	    !(strcmp(req->method, "HEAD") == 0 && strcmp(op->method, "GET") == 0)) {
		est_reply_text(reply, 405, "%s takes %s", op->name, op->method);
		return;
	}
	if (op->auth) {
		if (req->peer_cert != NULL)
			check_peer(&c);
		/* A re-enrollment is proven by the certificate being renewed, nothing else. */
		if (strcmp(op->name, "simplereenroll") == 0) {
			if (c.peer == NULL) {
				est_refuse(&c, reply, 401,
					   "re-enrollment needs the current certificate as TLS client certificate");
				goto out;
			}
			if (!c.peer_ok) {
				est_refuse(&c, reply, 403,
					   "client certificate %s is not a current certificate of this CA "
					   "(unknown, expired or revoked)",
					   c.peer_serial);
				goto out;
			}
		} else if (!c.peer_ok) {
			c.requester[0] = '\0';
			if (check_basic(&c, why, sizeof(why)) != 0) {
				est_refuse(&c, reply, 401, "%s", why);
				goto out;
			}
		}
	}
	op->fn(&c, reply);
out:
	X509_free(c.peer);
}
