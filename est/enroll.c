/* SPDX-License-Identifier: MIT */
/* simpleenroll, simplereenroll and serverkeygen: CSR checks, channel binding, policy, pending requests, CMS answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "audit/audit.h"
#include "notify/notify.h"
#include "est/est_int.h"

#define PENDING_PREFIX "p:"
#define LABEL_PREFIX "l:"
#define BOUNDARY "cairn-est-5f0e2c7a"

/* RFC 7030 §3.5: the CSR's challengePassword must be base64 of this session's binding. */
static int check_binding(est_call_t *c, const ca_csr_t *req, char *why, size_t cap)
{
	X509_REQ *csr = req->req;
	int idx = X509_REQ_get_attr_by_NID(csr, NID_pkcs9_challengePassword, -1);
	X509_ATTRIBUTE *attr = idx >= 0 ? X509_REQ_get_attr(csr, idx) : NULL;
	ASN1_TYPE *t = attr ? X509_ATTRIBUTE_get0_type(attr, 0) : NULL;
	char want[128];
	int n;

	if (c->req->binding == NULL || c->req->binding_len == 0 || c->req->binding_len > 64) {
		snprintf(why, cap, "this TLS session offers no %s channel binding (tls-unique needs TLS 1.2)",
			 c->e->set.channel_binding == EST_CB_TLS_UNIQUE ? "tls-unique" : "tls-exporter");
		return CAIRN_EDENIED;
	}
	if (t == NULL || (t->type != V_ASN1_PRINTABLESTRING && t->type != V_ASN1_UTF8STRING &&
			  t->type != V_ASN1_IA5STRING)) {
		snprintf(why, cap, "the CSR must carry challengePassword bound to the TLS session");
		return CAIRN_EDENIED;
	}
	n = EVP_EncodeBlock((unsigned char *)want, c->req->binding, (int)c->req->binding_len);
	if (ASN1_STRING_length(t->value.asn1_string) != n ||
	    !util_ct_equal(ASN1_STRING_get0_data(t->value.asn1_string), want, (size_t)n)) {
		snprintf(why, cap, "challengePassword does not match this TLS session's channel binding");
		return CAIRN_EDENIED;
	}
	return 0;
}

/* 1 when a and b are the same name byte for byte (their DER): RFC 7030 §4.2.2 wants
 * the renewal's subject "identical", and X509_NAME_cmp would fold case and spaces. */
static int same_name_der(const X509_NAME *a, const X509_NAME *b)
{
	const unsigned char *da = NULL, *db = NULL;
	size_t la = 0, lb = 0;

	return X509_NAME_get0_der(a, &da, &la) == 1 && X509_NAME_get0_der(b, &db, &lb) == 1 &&
	       la == lb && memcmp(da, db, la) == 0;
}

/* RFC 7030 §4.2.2: the renewal keeps the subject exactly and the subject alternative
 * names (compared as the one extractor normalises them). */
static int same_identity(X509 *old, const ca_csr_t *csr, char *why, size_t cap)
{
	const X509_NAME *want = X509_REQ_get_subject_name(csr->req);
	ca_names_t a;
	cairn_err_t err = { 0 };
	char *have_text = NULL, *want_text = NULL, shown[300];
	int ok = 0;

	if (!same_name_der(X509_get_subject_name(old), want)) {
		have_text = ca_dn_text(X509_get_subject_name(old));
		want_text = ca_dn_text(want);
		est_shown(want_text ? want_text : "?", want_text ? strlen(want_text) : 1, shown,
			  sizeof(shown));
		snprintf(why, cap, "re-enrollment must keep the subject of the current certificate "
			 "exactly (%s), byte for byte: the CSR asks for %s",
			 have_text ? have_text : "?", shown);
		free(have_text);
		free(want_text);
		return 0;
	}
	if (ca_names_from_cert(old, &a, &err) != 0) {
		snprintf(why, cap, "the current certificate's names cannot be read: %s",
			 cairn_err_msg(&err));
		return 0;
	}
	if (!ca_names_same_sans(&a, &csr->names))
		snprintf(why, cap,
			 "re-enrollment must keep the subject alternative names of the current certificate");
	else
		ok = 1;
	ca_names_clear(&a);
	return ok;
}

/* 1 when name is one of the certificate's: a SAN of it, or its CN read as a name. */
static int holds(const ca_names_t *mine, const ca_name_t *name)
{
	ca_names_t cn = { 0 };

	cn.san = (ca_name_t *)&mine->cn_name;
	cn.n_san = mine->cn_name.type != 0;
	return ca_names_has(mine, name) || ca_names_has(&cn, name);
}

/*
 * A device that authenticated with its certificate asks only for its own names:
 * every SAN and the CN of the CSR are names of that certificate (its SANs or its
 * CN), and an O is the certificate's O. Returns 0, or the HTTP status 403 with why.
 */
static int own_names(const est_call_t *c, const ca_csr_t *csr, char *why, size_t cap)
{
	ca_names_t mine = { 0 };
	const ca_names_t *want = &csr->names;
	cairn_err_t err = { 0 };
	char shown[300];
	size_t i;
	int status = 403;

	if (ca_names_from_cert(c->peer, &mine, &err) != 0) {
		snprintf(why, cap, "the names of client certificate %s cannot be read: %s",
			 c->peer_serial, cairn_err_msg(&err));
		goto out;
	}
	if (want->other_type != -1) {
		snprintf(why, cap, "the CSR asks for a subject alternative name of another type: "
			 "client certificate %s may only ask for its own names", c->peer_serial);
		goto out;
	}
	for (i = 0; i < want->n_san; i++)
		if (!holds(&mine, &want->san[i])) {
			est_shown(want->san[i].text, strlen(want->san[i].text), shown, sizeof(shown));
			snprintf(why, cap, "the CSR asks for %s %s, which client certificate %s does "
				 "not hold: it may only ask for its own names",
				 ca_name_type_str(want->san[i].type), shown, c->peer_serial);
			goto out;
		}
	if (want->cn != NULL && !holds(&mine, &want->cn_name)) {
		est_shown(want->cn, strlen(want->cn), shown, sizeof(shown));
		snprintf(why, cap, "the CSR asks for CN %s, which client certificate %s does not "
			 "hold: it may only ask for its own names", shown, c->peer_serial);
		goto out;
	}
	if (want->o != NULL && (mine.o == NULL || strcmp(want->o, mine.o) != 0)) {
		est_shown(want->o, strlen(want->o), shown, sizeof(shown));
		snprintf(why, cap, "the CSR asks for O %s, which is not client certificate %s's",
			 shown, c->peer_serial);
		goto out;
	}
	status = 0;
out:
	ca_names_clear(&mine);
	return status;
}

/* DER of csr's CertificationRequestInfo without its challengePassword (*der
 * OPENSSL_free'd): that attribute carries the TLS session's channel binding (RFC 7030
 * §3.5), which differs on every session a device repeats its request on (§4.2.3). Its
 * length, or -1. */
static int request_info_der(X509_REQ *csr, unsigned char **der)
{
	X509_REQ *copy;
	int idx, len;

	/* Most requests carry none: encoded as they are, without the copy (which made an
	 * EST Basic enrollment cost ~15 % more server CPU: bench/est.sh, keep-alive c=1). */
	if (X509_REQ_get_attr_by_NID(csr, NID_pkcs9_challengePassword, -1) < 0)
		return i2d_re_X509_REQ_tbs(csr, der);
	if ((copy = X509_REQ_dup(csr)) == NULL)
		return -1;
	while ((idx = X509_REQ_get_attr_by_NID(copy, NID_pkcs9_challengePassword, -1)) >= 0)
		X509_ATTRIBUTE_free(X509_REQ_delete_attr(copy, idx));
	len = i2d_re_X509_REQ_tbs(copy, der);
	X509_REQ_free(copy);
	return len;
}

/*
 * The key that finds a pending request again: SHA-256(requester, label, operation,
 * the authenticating certificate's serial ("" for Basic), the CSR's
 * CertificationRequestInfo without challengePassword). The signature is left out: ECDSA
 * signatures differ each time, and a device that signs the same request again asks the
 * same; so is the channel binding, checked on every call against the call's own session.
 * The operation and the serial are in it so that a renewal is collected only as a
 * renewal, by the certificate it supersedes. 0, or CAIRN_ECRYPTO when it cannot be
 * computed (never a key that every failed computation would share).
 */
static int pending_key(const est_call_t *c, X509_REQ *csr, char *key)
{
	const char *serial = c->by_cert ? c->peer_serial : "";
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	int len = request_info_der(csr, &der);
	uint8_t h[32];
	unsigned hl = 0;
	int ok = md != NULL && len > 0 && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
		 EVP_DigestUpdate(md, c->requester, strlen(c->requester) + 1) &&
		 EVP_DigestUpdate(md, c->label->name, strlen(c->label->name) + 1) &&
		 EVP_DigestUpdate(md, c->op, strlen(c->op) + 1) &&
		 EVP_DigestUpdate(md, serial, strlen(serial) + 1) &&
		 EVP_DigestUpdate(md, der, (size_t)len) && EVP_DigestFinal_ex(md, h, &hl) &&
		 hl == sizeof(h);

	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	if (!ok)
		return CAIRN_ECRYPTO;
	memcpy(key, PENDING_PREFIX, 2);
	hex_encode(h, sizeof(h), key + 2);
	return 0;
}

struct pending_put {
	const char *key;
	const char *id; /* NULL = delete */
};

static int pending_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct pending_put *p = arg;
	int rc;
	(void)err;

	if (p->id == NULL) {
		rc = db_del(txn, DB_EST, p->key, strlen(p->key));
		return rc == CAIRN_ENOENT ? 0 : rc;
	}
	return db_put(txn, DB_EST, p->key, strlen(p->key), p->id, strlen(p->id), 0);
}

/* Request id stored for key, into id (33 bytes); 0 or CAIRN_ENOENT. */
static int pending_get(est_t *e, const char *key, char *id)
{
	db_txn_t *txn;
	const void *val;
	size_t len;
	int rc;

	if (db_read_begin(e->db, &txn) != 0)
		return CAIRN_EDB;
	rc = db_get(txn, DB_EST, key, strlen(key), &val, &len);
	if (rc == 0 && len > 0 && len < 33) {
		memcpy(id, val, len);
		id[len] = '\0';
	} else if (rc == 0) {
		rc = CAIRN_ENOENT;
	}
	db_txn_end(txn);
	return rc;
}

/* The certificate with serial_hex, from the database (owned by the caller), or NULL. */
static X509 *cert_by_serial(est_t *e, const char *serial_hex)
{
	uint8_t serial[DB_SERIAL_MAX];
	db_txn_t *txn;
	db_cert_t rec;
	const unsigned char *p;
	X509 *x = NULL;
	int len = hex_decode(serial_hex, serial, sizeof(serial));

	if (len <= 0 || db_read_begin(e->db, &txn) != 0)
		return NULL;
	if (db_cert_get(txn, serial, (size_t)len, &rec) == 0) {
		p = rec.der;
		x = ca_cert_d2i(&p, (long)rec.der_len);
	}
	db_txn_end(txn);
	return x;
}

/* Body of a certs-only answer for one certificate (base64, malloc'd). */
static char *cert_b64(X509 *x, size_t *len)
{
	uint8_t *der = NULL;
	size_t dlen = 0;
	char *b64 = NULL;

	if (est_certs_only(&x, 1, &der, &dlen) != 0 || est_b64_encode(der, dlen, &b64, len) != 0)
		b64 = NULL;
	OPENSSL_free(der);
	return b64;
}

static void reply_cert(http_reply_t *reply, X509 *x)
{
	size_t len = 0;
	char *b64 = cert_b64(x, &len);

	if (b64 == NULL) {
		est_reply_text(reply, 500, "cannot encode the certificate");
		return;
	}
	http_reply_set(reply, 200, "application/pkcs7-mime; smime-type=certs-only", b64, len);
	http_reply_header(reply, "Content-Transfer-Encoding", "base64");
}

/* RFC 7030 §4.4.2: multipart/mixed with the PKCS#8 key and the certificate. Every copy
 * of the key made here (DER, base64) is wiped once written into the body, which is built
 * in one allocation (asprintf's growing buffers were freed unwiped) and marked secret:
 * the front wipes it when the answer has been sent (http_reply_t.secret). */
#define KEYGEN_BODY                                                                       \
	"--" BOUNDARY "\r\nContent-Type: application/pkcs8\r\n"                               \
	"Content-Transfer-Encoding: base64\r\n\r\n%s\r\n"                                     \
	"--" BOUNDARY "\r\nContent-Type: application/pkcs7-mime; smime-type=certs-only\r\n"   \
	"Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--" BOUNDARY "--\r\n"

static void reply_keygen(http_reply_t *reply, X509 *x, EVP_PKEY *key)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
	unsigned char *kder = NULL;
	char *kb64 = NULL, *cb64 = NULL, *body = NULL;
	size_t klen = 0, clen = 0;
	int kn = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &kder) : -1, n;

	if (kn <= 0 || est_b64_encode(kder, (size_t)kn, &kb64, &klen) != 0 ||
	    (cb64 = cert_b64(x, &clen)) == NULL) {
		est_reply_text(reply, 500, "cannot encode the generated key and certificate");
		goto out;
	}
	n = snprintf(NULL, 0, KEYGEN_BODY, kb64, cb64);
	if (n < 0 || (body = malloc((size_t)n + 1)) == NULL) {
		est_reply_text(reply, 500, "out of memory");
		goto out;
	}
	snprintf(body, (size_t)n + 1, KEYGEN_BODY, kb64, cb64);
	http_reply_set(reply, 200, "multipart/mixed; boundary=" BOUNDARY, body, (size_t)n);
	reply->secret = 1;
out:
	if (kder != NULL)
		OPENSSL_clear_free(kder, (size_t)kn);
	if (kb64 != NULL)
		OPENSSL_cleanse(kb64, klen);
	free(kb64);
	free(cb64);
	PKCS8_PRIV_KEY_INFO_free(p8);
}

int est_cert_label_put(db_txn_t *txn, const char *serial_hex, const char *label)
{
	char key[sizeof(LABEL_PREFIX) + 2 * DB_SERIAL_MAX];

	snprintf(key, sizeof(key), LABEL_PREFIX "%s", serial_hex);
	return db_put(txn, DB_EST, key, strlen(key), label, strlen(label), 0);
}

int est_cert_label_get(db_txn_t *txn, const char *serial_hex, char *label)
{
	char key[sizeof(LABEL_PREFIX) + 2 * DB_SERIAL_MAX];
	const void *val;
	size_t len;
	int rc;

	snprintf(key, sizeof(key), LABEL_PREFIX "%s", serial_hex);
	if ((rc = db_get(txn, DB_EST, key, strlen(key), &val, &len)) != 0)
		return rc;
	if (len == 0 || len >= EST_NAME_MAX)
		return CAIRN_EDB;
	memcpy(label, val, len);
	label[len] = '\0';
	return 0;
}

/* The cert.superseded event of a renewal (and its notify events), in txn. */
static int superseded_op(db_txn_t *txn, const est_call_t *c, const char *new_serial,
			 cairn_err_t *err)
{
	json_t *details = json_pack("{s:s, s:b}", "superseded_by", new_serial, "revoke",
				    c->e->set.revoke_superseded);
	audit_event_t ev = { .actor = c->requester, .action = "cert.superseded",
			     .serial = c->peer_serial, .details = details };
	int rc = audit_append(txn, &ev, NULL, err);

	/* The notify event says which certificate replaced which (cert.renewed). */
	json_object_set_new(details, "serial", json_string(c->peer_serial));
	json_object_set_new(details, "requester", json_string(c->requester));
	/* Re-enrolled by the same requester, the issuance's own cert.renewed said it already. */
	if (rc == 0 && strcmp(c->peer_requester, c->requester) != 0)
		rc = notify_event(txn, "cert.renewed", details, NULL, err);
	if (rc == 0)
		rc = notify_superseded(txn, c->peer_serial, new_serial);
	json_decref(details);
	return rc;
}

/* What handing a certificate to the device records, in one transaction: the label it
 * was issued on (what it authenticates on from then on, est_authenticate) and for a
 * renewal the certificate it supersedes. An immediate issuance records it in the
 * certificate's own transaction (ca_record_also_fn); a request that waited for approval
 * when the device collects it, once (collect: nothing when the label is there). */
struct delivery {
	est_call_t *c;
	int reenroll;
	int collect;
	const char *serial_hex; /* collect: the request's certificate */
	int first;              /* out: this write recorded the delivery */
};

static int delivery_record(db_txn_t *txn, const char *serial_hex, void *arg, cairn_err_t *err)
{
	struct delivery *d = arg;
	char have[EST_NAME_MAX];
	int rc;

	d->first = 0;
	if (d->collect && (rc = est_cert_label_get(txn, serial_hex, have)) != CAIRN_ENOENT)
		return rc;
	/* Checked when the call came, checked again here: a device certificate revoked or an
	 * account deleted while the enrollment signed gets nothing. */
	if ((rc = est_caller_recheck(txn, d->c, err)) != 0)
		return rc;
	if ((rc = est_cert_label_put(txn, serial_hex, d->c->label->name)) != 0 ||
	    (d->reenroll && (rc = superseded_op(txn, d->c, serial_hex, err)) != 0))
		return rc;
	d->first = 1;
	return 0;
}

static int collect_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct delivery *d = arg;

	return delivery_record(txn, d->serial_hex, d, err);
}

/* RFC 7030 §4.2.2 with est.revoke_superseded: the renewed certificate is revoked
 * (superseded) through ca_revoke, so OCSP and the CRL learn it. Failures are logged: the
 * device already has its new certificate. */
static void revoke_superseded(est_call_t *c)
{
	cairn_err_t err = { 0 };
	int rc;

	if (!c->e->set.revoke_superseded)
		return;
	rc = ca_revoke(c->e->ca, c->peer_serial, CA_REASON_SUPERSEDED, 0, c->requester, &err);
	if (rc != 0 && rc != CAIRN_EEXIST)
		log_error("est", "revoking superseded %s: %s", c->peer_serial, cairn_err_msg(&err));
}

/* Answer to an earlier request for the same CSR: 202 again, the certificate (its
 * delivery recorded the first time), or why not. */
static void answer_pending(est_call_t *c, int reenroll, const char *key, const char *id,
			   http_reply_t *reply)
{
	struct pending_put del = { key, NULL };
	struct delivery d = { c, reenroll, 1, NULL, 0 };
	request_info_t info;
	cairn_err_t err = { 0 };
	X509 *x = NULL;

	if (policy_request_get(c->e->policy, id, &info, &err) != 0) {
		est_reply_text(reply, 500, "request %s: %s", id, cairn_err_msg(&err));
		return;
	}
	switch (info.status) {
	case REQ_PENDING:
		est_reply_text(reply, 202, "request %s waits for approval (%d of %d)", id,
			       info.approvals_have, info.approvals_needed);
		reply->retry_after = c->e->set.retry_after;
		return;
	case REQ_ISSUED:
		d.serial_hex = info.serial_hex;
		if (db_write(c->e->db, collect_op, &d, &err) != 0) {
			est_reply_text(reply, 500, "recording the delivery of %s (request %s): %s",
				       info.serial_hex, id, cairn_err_msg(&err));
			return;
		}
		if (d.first && reenroll)
			revoke_superseded(c);
		x = cert_by_serial(c->e, info.serial_hex);
		if (x == NULL) {
			est_reply_text(reply, 500, "certificate %s of request %s is missing",
				       info.serial_hex, id);
			return;
		}
		reply_cert(reply, x);
		X509_free(x);
		log_info("est", "%s: delivered %s (request %s) to %s", c->op, info.serial_hex, id,
			 c->requester);
		return;
	default:
		/* The request is over: forget it so the device may ask afresh. */
		if (db_write(c->e->db, pending_op, &del, &err) != 0)
			log_warn("est", "forgetting request %s: %s", id, cairn_err_msg(&err));
		est_refuse(c, reply, 403, "request %s was %s: %s", id,
			   info.status == REQ_REJECTED  ? "rejected"
			   : info.status == REQ_EXPIRED ? "not approved in time"
							: "not issued",
			   info.reason[0] ? info.reason : "no reason given");
	}
}

/* EST's answer to a submission (policy_answer_t callbacks). */
typedef struct enroll_answer {
	est_call_t *c;
	http_reply_t *reply;
	int reenroll;
	EVP_PKEY *gen_key;       /* serverkeygen: the key made here, else NULL */
	const char *pending_key; /* where a pending request is remembered */
} enroll_answer_t;

static void enroll_issued(void *arg, const policy_outcome_t *out)
{
	enroll_answer_t *a = arg;
	est_call_t *c = a->c;

	if (a->reenroll)
		revoke_superseded(c);
	if (a->gen_key != NULL)
		reply_keygen(a->reply, out->issued->cert, a->gen_key);
	else
		reply_cert(a->reply, out->issued->cert);
	log_info("est", "%s: issued %s to %s (label %s)", c->op, out->issued->serial_hex,
		 c->requester, c->label->name);
}

static void enroll_pending(void *arg, const policy_outcome_t *out)
{
	enroll_answer_t *a = arg;
	est_call_t *c = a->c;
	struct pending_put put = { a->pending_key, out->request.id };
	cairn_err_t err = { 0 };

	if (db_write(c->e->db, pending_op, &put, &err) != 0) {
		est_reply_text(a->reply, 500, "storing request %s: %s", out->request.id,
			       cairn_err_msg(&err));
		return;
	}
	est_reply_text(a->reply, 202, "request %s waits for approval (%d needed)", out->request.id,
		       out->request.approvals_needed);
	a->reply->retry_after = c->e->set.retry_after;
	log_info("est", "%s for %s pending as request %s", c->op, c->requester, out->request.id);
}

static void enroll_refused(void *arg, policy_submit_result_t res, const policy_outcome_t *out,
			   const cairn_err_t *err)
{
	enroll_answer_t *a = arg;
	est_call_t *c = a->c;

	/* Policy refusals are audited by the policy engine; the rest here. */
	if (res == POLICY_SUBMIT_REJECTED) {
		log_info("est", "%s for %s refused by policy: %s", c->op, c->requester,
			 cairn_err_msg(err));
		est_reply_text(a->reply, 403, "refused by policy: %s%s", cairn_err_msg(err),
			       a->gen_key != NULL && out->decision.approvals > 0
				       ? " (a server-generated key is never kept: enroll "
					 "with your own key instead)"
				       : "");
		return;
	}
	est_refuse(c, a->reply, cairn_err_http(err->code)->status, "%s", cairn_err_msg(err));
	a->reply->retry_after = cairn_err_http(err->code)->retry_after;
}

static const policy_answer_t enroll_answer_ops = { enroll_issued, enroll_pending,
						   enroll_refused };

void est_enroll(est_call_t *c, int reenroll, int keygen, http_reply_t *reply)
{
	const est_request_t *req = c->req;
	const char *ct = req->content_type;
	uint8_t *der = NULL;
	unsigned char *gen_der = NULL;
	size_t der_len = 0;
	X509_REQ *gen_csr = NULL;
	ca_csr_t *csr = NULL, *gen = NULL;
	EVP_PKEY *gen_key = NULL;
	enroll_answer_t ans = { c, reply, reenroll, NULL, NULL };
	struct delivery d = { c, reenroll, 0, NULL, 0 };
	json_t *issue_details = NULL;
	ca_record_extra_t extra = { NULL, delivery_record, &d };
	ca_request_t creq = { 0 };
	cairn_err_t err = { 0 };
	char why[512], key[2 + 64 + 1], id[33];
	int rc, n;
	const char *profile = c->label->profile;
	int validity_days = c->label->validity_days;

	if (!http_media_type_is(ct, "application/pkcs10")) {
		est_refuse(c, reply, 415, "Content-Type must be application/pkcs10");
		goto out;
	}
	if (est_b64_decode(req->body, req->body_len, &der, &der_len) != 0) {
		est_refuse(c, reply, 400, "the body must be a base64 PKCS#10 request");
		goto out;
	}
	/* The one parse and signature check of this request (a pending request is answered
	 * from it too); everything after reads csr. */
	if (ca_csr_new(der, der_len, 0, &csr, &err) != 0) {
		est_refuse(c, reply, 400, "bad CSR: %s", cairn_err_msg(&err));
		goto out;
	}
	if (c->e->set.channel_binding != EST_CB_OFF && check_binding(c, csr, why, sizeof(why)) != 0) {
		est_refuse(c, reply, 403, "%s", why);
		goto out;
	}
	if (reenroll && !same_identity(c->peer, csr, why, sizeof(why))) {
		est_refuse(c, reply, 403, "%s", why);
		goto out;
	}
	if (!reenroll && c->by_cert && (rc = own_names(c, csr, why, sizeof(why))) != 0) {
		est_refuse(c, reply, rc, "%s", why);
		goto out;
	}
	/* A renewal keeps what the certificate was (its EKUs): a label of another
	 * profile does not widen it. */
	if (reenroll && strcmp(c->peer_profile, profile) != 0) {
		if (ca_profile(c->e->ca, c->peer_profile) == NULL) {
			est_refuse(c, reply, 403, "the profile %s of client certificate %s is not "
				   "configured any more: enroll afresh", c->peer_profile,
				   c->peer_serial);
			goto out;
		}
		profile = c->peer_profile;
		validity_days = 0;
	}
	if (keygen) {
		/* The device's CSR names what it wants; the key is made here and never kept. The
		 * request is then the CSR made here, signed by the new key: its own object. */
		if (est_keygen_csr(csr->req, &gen_key, &gen_csr, &err) != 0 ||
		    (n = i2d_X509_REQ(gen_csr, &gen_der)) <= 0 ||
		    ca_csr_new(gen_der, (size_t)n, 0, &gen, &err) != 0) {
			est_reply_text(reply, 500, "%s", cairn_err_msg(&err));
			goto out;
		}
		creq.csr = gen;
		ans.gen_key = gen_key;
		/* The key is never kept, so nobody could approve it later: refuse instead. */
		creq.no_wait = 1;
	} else {
		creq.csr = csr;
		if (pending_key(c, csr->req, key) != 0) {
			est_reply_text(reply, 500, "cannot compute the request's key");
			goto out;
		}
		ans.pending_key = key;
		if (pending_get(c->e, key, id) == 0) {
			answer_pending(c, reenroll, key, id, reply);
			goto out;
		}
	}
	creq.profile = profile;
	creq.requester = c->requester;
	creq.channel = "est";
	creq.validity_days = validity_days;
	/* The certificate's cert.issue event names the label; its label and, for a renewal,
	 * the certificate it supersedes are recorded in its own transaction. */
	if ((issue_details = json_pack("{s:s}", "label", c->label->name)) == NULL) {
		est_reply_text(reply, 500, "out of memory");
		goto out;
	}
	extra.details = issue_details;
	creq.record_extra = &extra;
	(void)policy_submit_answer(c->e->policy, &creq,
				   c->label->policy_group[0] ? c->label->policy_group : NULL,
				   &enroll_answer_ops, &ans, &err);
out:
	json_decref(issue_details);
	ca_csr_free(csr);
	ca_csr_free(gen);
	X509_REQ_free(gen_csr);
	EVP_PKEY_free(gen_key);
	OPENSSL_free(gen_der);
	free(der);
}
