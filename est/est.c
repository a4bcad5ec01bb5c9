/* SPDX-License-Identifier: MIT */
/* EST front: labels and operations as a table, device authentication (Basic or TLS client certificate), cacerts and csrattrs. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "audit/audit.h"
#include "est/est_int.h"

#define WWW_AUTH "Basic realm=\"cairn est\""
/* Client addresses and user names whose failed logins are remembered (~90 bytes each). */
#define EST_FAIL_KEYS 4096

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

static int ca_has_profile(const char *name, const void *ca)
{
	return ca_profile(ca, name) != NULL;
}

int est_settings_check_profiles(const est_settings_t *set,
				int (*known)(const char *name, const void *arg), const void *arg,
				cairn_err_t *err)
{
	size_t i, j;

	for (i = 0; i < set->n_labels; i++) {
		const est_label_t *l = &set->labels[i];
		if (!known(l->profile, arg))
			return cairn_err_set(err, CAIRN_ECONFIG, "est.labels.%s.profile: no profile named %s",
					     l->name, l->profile);
		for (j = 0; j < l->n_client_cert_profiles; j++)
			if (!known(l->client_cert_profiles[j], arg))
				return cairn_err_set(err, CAIRN_ECONFIG,
						     "est.labels.%s.client_cert_profiles[%zu]: no profile named %s",
						     l->name, j, l->client_cert_profiles[j]);
	}
	return 0;
}

/* The /cacerts body: the current issuing CA first, the root, then the issuing CAs of
 * earlier rotations (their certificates are still in use), then after a root rollover
 * its three certificates (RFC 7030 §4.1.3: the new root, NewWithOld, OldWithNew). Base64
 * of a certs-only PKCS#7, malloc'd. Built per request: a rotation or a rollover shows at
 * once, and it is a handful of certificates. Returns 0 or an OpenSSL/memory code. */
static int cacerts_build(ca_t *ca, char **b64, size_t *b64_len)
{
	X509 *chain[CA_MAX_ISSUERS + 4];
	const ca_rollover_certs_t *ro = ca_rollover(ca);
	ca_issuer_info_t info;
	uint8_t *der = NULL;
	size_t n = 0, i, len = 0;
	int rc;

	if ((chain[n] = ca_issuer_cert(ca, "current")) != NULL)
		n++;
	if ((chain[n] = ca_issuer_cert(ca, "root")) != NULL)
		n++;
	if (n != 2)
		return CAIRN_EINVAL;
	for (i = ca_issuer_count(ca); i-- > 0;)
		if (ca_issuer_at(ca, i, &info) == 0 && !info.current)
			chain[n++] = info.cert;
	if (ro != NULL) {
		chain[n++] = ro->root;
		chain[n++] = ro->new_by_old;
		chain[n++] = ro->old_by_new;
	}
	if ((rc = est_certs_only(chain, n, &der, &len)) == 0)
		rc = est_b64_encode(der, len, b64, b64_len);
	OPENSSL_free(der);
	return rc;
}

int est_new(const est_settings_t *set, ca_t *ca, db_t *db, policy_engine_t *policy,
	    est_t **out, cairn_err_t *err)
{
	est_t *e = NULL;
	char *b64 = NULL;
	size_t b64_len = 0;
	int rc;

	*out = NULL;
	if ((rc = est_settings_check_profiles(set, ca_has_profile, ca, err)) != 0)
		return rc;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	e->set = *set;
	e->ca = ca;
	e->db = db;
	e->policy = policy;
	pthread_mutex_init(&e->logins_mu, NULL);
	est_users_kdf(set->scrypt_n, set->scrypt_r, set->scrypt_p);
	if (set->auth_cache_seconds > 0 && set->auth_cache_entries > 0 &&
	    (e->logins = calloc((size_t)set->auth_cache_entries, sizeof(*e->logins))) == NULL) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = util_ratelimit_new(EST_FAIL_KEYS, set->auth_fail_limit,
				     (uint64_t)set->auth_fail_window * 1000, &e->fails)) != 0 ||
	    (rc = util_random(e->conn_key, sizeof(e->conn_key))) != 0) {
		cairn_err_set(err, rc, "EST: cannot set up the login failure limits");
		goto out;
	}
	if ((rc = cacerts_build(ca, &b64, &b64_len)) != 0) {
		cairn_err_ssl(err, rc, "building the /cacerts answer");
		goto out;
	}
	*out = e;
	e = NULL;
out:
	free(b64);
	est_free(e);
	return rc;
}

void est_free(est_t *e)
{
	if (e == NULL)
		return;
	util_ratelimit_free(e->fails);
	OPENSSL_cleanse(e->conn_key, sizeof(e->conn_key));
	if (e->logins != NULL)
		OPENSSL_cleanse(e->logins, (size_t)e->set.auth_cache_entries * sizeof(*e->logins));
	free(e->logins);
	pthread_mutex_destroy(&e->logins_mu);
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
	char *body = NULL;
	size_t len = 0;

	if (cacerts_build(c->e->ca, &body, &len) != 0) {
		est_reply_text(reply, 500, "cannot build the CA certificates");
		return;
	}
	http_reply_set(reply, 200, "application/pkcs7-mime", body, len);
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
	char shown[200];
	size_t i;

	if (slash != NULL) {
		c.label = label_find(e, req->path, (size_t)(slash - req->path));
		opname = slash + 1;
		if (c.label == NULL) {
			est_shown(req->path, (size_t)(slash - req->path), shown, sizeof(shown));
			est_reply_text(reply, 404, "no EST label %s", shown);
			return;
		}
	} else {
		c.label = label_find(e, e->set.default_label, strlen(e->set.default_label));
	}
	for (i = 0; i < sizeof(est_ops) / sizeof(est_ops[0]); i++)
		if (strcmp(est_ops[i].name, opname) == 0)
			op = &est_ops[i];
	if (op == NULL || c.label == NULL) {
		est_shown(opname, strlen(opname), shown, sizeof(shown));
		est_reply_text(reply, 404, "no EST operation %s", shown);
		return;
	}
	c.op = op->name;
	if (strcmp(req->method, op->method) != 0 &&
	    !(strcmp(req->method, "HEAD") == 0 && strcmp(op->method, "GET") == 0)) {
		char allow[16] = "";

		est_reply_text(reply, 405, "%s takes %s", op->name, op->method);
		http_allow_add(allow, sizeof(allow), op->method, 1); /* a GET op answers HEAD */
		http_reply_header(reply, "Allow", "%s", allow);
		return;
	}
	if (op->auth && est_authenticate(&c, strcmp(op->name, "simplereenroll") == 0, reply) != 0)
		goto out;
	op->fn(&c, reply);
out:
	X509_free(c.peer);
}
