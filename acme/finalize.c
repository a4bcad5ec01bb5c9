/* SPDX-License-Identifier: MIT */
/* ACME finalize and certificate download (RFC 8555 §7.4, §7.4.2): CSR vs order, issuance through the common path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "acme/acme_int.h"

/*
 * The one place ACME asks for a certificate: the common request -> policy -> issue
 * path (policy_submit). extra (borrowed) is written in the certificate's own
 * transaction when it is issued now. Returns 0 with serial_hex set when issued, 1 with
 * request_id set when the request waits for approvers, or a negative code with
 * err set (CAIRN_EDENIED when refused by policy; extra's code, nothing issued).
 */
static int acme_submit(acme_t *a, const uint8_t *csr, size_t csr_len, const char *acct,
		       const json_t *account, const ca_record_extra_t *extra, char *serial_hex,
		       size_t scap, char *request_id, size_t rcap, cairn_err_t *err)
{
	const char *group = json_string_value(json_object_get(account, "group"));
	const char *profile = json_string_value(json_object_get(account, "profile"));
	const char *kid = json_string_value(json_object_get(account, "eab_kid"));
	ca_request_t cr = { 0 };
	policy_outcome_t out;
	char requester[160];
	int rc;

	memset(&out, 0, sizeof(out));
	/* An account bound with an EAB key asks as that key (one key, one account), so a
	 * policy can tell bound accounts from open ones: acme:eab/KID, else acme:acct/ID. */
	if (kid != NULL && kid[0] != '\0')
		snprintf(requester, sizeof(requester), "acme:eab/%s", kid);
	else
		snprintf(requester, sizeof(requester), "acme:acct/%s", acct);
	cr.csr = csr;
	cr.csr_len = csr_len;
	cr.profile = profile && profile[0] ? profile : a->profile;
	/* Never the admin-login profile, whatever an old EAB record says. */
	if (strcmp(cr.profile, CA_ADMIN_PROFILE) == 0)
		return cairn_err_set(err, CAIRN_EDENIED,
				     "profile %s logs in to the admin API, ACME may not issue it",
				     cr.profile);
	cr.requester = requester;
	cr.channel = "acme";
	cr.record_extra = extra;
	rc = policy_submit(a->policy, &cr, group && group[0] ? group : NULL, &out, err);
	if (rc)
		return rc;
	if (out.decision.action == POLICY_APPROVE) {
		snprintf(request_id, rcap, "%s", out.request.id);
		return 1;
	}
	if (out.issued == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "policy gave no certificate");
	snprintf(serial_hex, scap, "%s", out.issued->serial_hex);
	ca_issued_free(out.issued);
	return 0;
}

/* The CSR's names as a set of "type:value" keys, from the one extractor (DNS
 * lower-cased, IPv4-mapped IPv6 as IPv4; the CN counts as a name too). NULL with
 * err set when the names are malformed (an iPAddress of the wrong length, …). */
static json_t *csr_names(X509_REQ *req, cairn_err_t *err)
{
	json_t *set = NULL;
	ca_names_t names;
	char key[2100];
	size_t i;

	if (ca_names_from_csr(req, &names, err) != 0)
		return NULL;
	if ((set = json_object()) == NULL)
		goto out;
	for (i = 0; i < names.n_san; i++) {
		snprintf(key, sizeof(key), "%s:%s", ca_name_type_str(names.san[i].type),
			 names.san[i].text);
		json_object_set_new(set, key, json_true());
	}
	if (names.other_type >= 0) {
		snprintf(key, sizeof(key), "other:%d", names.other_type);
		json_object_set_new(set, key, json_true());
	}
	if (names.cn != NULL) {
		snprintf(key, sizeof(key), "%s:%s", ca_name_type_str(names.cn_name.type),
			 names.cn_name.text);
		json_object_set_new(set, key, json_true());
	}
out:
	ca_names_clear(&names);
	return set;
}

/* The order's move to valid, written in the certificate's own transaction: the
 * certificate, its indexes, its audit event, the order and the s/SERIAL owner entry
 * commit together (one durable commit for finalize), or none of them. An order that
 * is no longer pending in the store rolls the certificate back (CAIRN_ECONFLICT). */
typedef struct fin_valid {
	const char *oid, *acct;
	json_t *order;            /* out: the stored order (new reference) */
} fin_valid_t;

static int fin_valid_run(db_txn_t *txn, const char *serial_hex, void *arg, cairn_err_t *err)
{
	fin_valid_t *f = arg;
	acme_order_change_t ch = { 0 };

	ch.status = "valid";
	ch.serial = serial_hex;
	ch.expect = "pending";
	ch.acct = f->acct;
	return acme_order_change_txn(txn, f->oid, &ch, &f->order, err);
}

void acme_finalize(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		   http_reply_t *r)
{
	acme_jws_t j;
	json_t *o = NULL, *res = NULL, *names = NULL, *want = NULL, *perr = NULL, *x, *view;
	const char *csr_b64, *st, *k, *ptype = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0, i;
	X509_REQ *csr = NULL;
	char serial[2 * DB_SERIAL_MAX + 1] = "", request[40] = "", u[512];
	acme_order_change_t op = { 0 };
	fin_valid_t fv = { NULL, NULL, NULL };
	ca_record_extra_t extra = { NULL, fin_valid_run, &fv };
	cairn_err_t err = { 0 };
	int rc, busy, claimed = 0;

	if (acme_jws_verify(a, req->body, req->body_len, url, 0, &j, r) != 0)
		return;
	if ((o = acme_load_owned(a, "o", arg, &j, r)) == NULL)
		goto out;
	st = acme_order_status(a, o);
	if (strcmp(st, "ready") != 0) {
		acme_problem(r, 403, "orderNotReady", "order is %s, not ready", st);
		goto out;
	}
	csr_b64 = json_string_value(json_object_get(j.payload, "csr"));
	if (csr_b64 == NULL || b64url_decode(csr_b64, strlen(csr_b64), &der, &der_len) != 0) {
		acme_problem(r, 400, "malformed", "payload needs csr: base64url DER");
		goto out;
	}
	if (ca_csr_parse(der, der_len, &csr, &err) != 0) {
		acme_problem(r, 400, "badCSR", "%s", cairn_err_msg(&err));
		goto out;
	}
	if ((names = csr_names(csr, &err)) == NULL) {
		acme_problem(r, 400, "badCSR", "%s", cairn_err_msg(&err));
		goto out;
	}
	want = json_object();
	json_array_foreach(json_object_get(o, "identifiers"), i, x) {
		char key[310];
		snprintf(key, sizeof(key), "%s:%s", json_string_value(json_object_get(x, "type")),
			 json_string_value(json_object_get(x, "value")));
		json_object_set_new(want, key, json_true());
	}
	json_object_foreach(names, k, x) {
		if (json_object_get(want, k) == NULL) {
			acme_problem(r, 400, "badCSR", "CSR names %s, which is not in the order", k);
			goto out;
		}
	}
	json_object_foreach(want, k, x) {
		if (json_object_get(names, k) == NULL) {
			acme_problem(r, 400, "badCSR", "CSR lacks %s of the order", k);
			goto out;
		}
	}
	/* One finalize per order at a time (in memory: a daemon that dies while issuing
	 * leaves the order ready, so the client can finalize again). */
	pthread_mutex_lock(&a->rl_lock);
	busy = json_object_get(a->finalizing, arg) != NULL;
	if (!busy)
		json_object_set_new(a->finalizing, arg, json_true());
	pthread_mutex_unlock(&a->rl_lock);
	if (busy) {
		acme_problem(r, 403, "orderNotReady", "order is already being finalized");
		goto out;
	}
	claimed = 1;
	json_decref(o);
	o = acme_load_owned(a, "o", arg, &j, r);
	if (o == NULL)
		goto out;
	if (strcmp(acme_order_status(a, o), "ready") != 0) {
		acme_problem(r, 403, "orderNotReady", "order is %s, not ready",
			     acme_order_status(a, o));
		goto out;
	}
	rc = acme_caa_recheck(a, o, &ptype, &err);
	fv.oid = arg;
	fv.acct = j.acct_id;
	if (rc == 0)
		rc = acme_submit(a, der, der_len, j.acct_id, j.account, &extra, serial,
				 sizeof(serial), request, sizeof(request), &err);
	op.acct = j.acct_id;
	if (rc == 0) {
		/* Issued: the order became valid in the certificate's own commit. */
		res = fv.order;
		fv.order = NULL;
		if (res == NULL) {
			acme_problem(r, 500, "serverInternal", "certificate %s issued without its order",
				     serial);
			goto out;
		}
	} else if (rc == 1) {
		/* Waiting for approvers: the request was stored by its own write. */
		op.status = "processing";
		op.request = request;
		if (acme_order_change(a, arg, &op, &res, &err) != 0) {
			acme_problem(r, 500, "serverInternal", "%s", cairn_err_msg(&err));
			goto out;
		}
	} else if (rc == CAIRN_EBADCSR || rc == CAIRN_ECSRSIG || rc == CAIRN_EWEAKKEY ||
		   rc == CAIRN_EKEYTYPE || rc == CAIRN_ENAME) {
		/* The order stays ready: the client may send a better CSR. */
		acme_problem_err(r, rc, cairn_err_msg(&err));
		goto out;
	} else if (rc == CAIRN_ECONFLICT) {
		/* The order changed under us (fin_valid_run): nothing was issued. */
		acme_problem(r, 403, "orderNotReady", "%s", cairn_err_msg(&err));
		goto out;
	} else {
		char detail[600];
		snprintf(detail, sizeof(detail), "%s", cairn_err_msg(&err));
		perr = acme_problem_obj(ptype ? ptype : cairn_err_http(rc)->acme_type, detail, NULL);
		op.status = "invalid";
		op.error = perr;
		if (acme_order_change(a, arg, &op, NULL, NULL) != 0)
			log_warn("acme", "order %s: storing its failure failed", arg);
		if (ptype != NULL)
			acme_problem(r, 403, ptype, "%s", detail);
		else
			acme_problem_err(r, rc, detail);
		goto out;
	}
	view = acme_order_view(a, res);
	http_reply_json(r, 200, NULL, view);
	json_decref(view);
	if (rc == 1)
		r->retry_after = 2;
	snprintf(u, sizeof(u), "%sorder/%s", a->base, arg);
	r->location = strdup(u);
out:
	if (claimed) {
		pthread_mutex_lock(&a->rl_lock);
		json_object_del(a->finalizing, arg);
		pthread_mutex_unlock(&a->rl_lock);
	}
	X509_REQ_free(csr);
	free(der);
	json_decref(o);
	json_decref(res);
	json_decref(fv.order);
	json_decref(perr);
	json_decref(names);
	json_decref(want);
	acme_jws_clear(&j);
}

/* PEM of one DER certificate appended to a malloc'd buffer. The DER comes from our own
 * database, so it is wrapped as it is (decoding it would cost a public-key decode). */
static int pem_append(char **buf, size_t *len, const uint8_t *der, size_t dlen)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *nb;
	long n;
	int rc = CAIRN_ECRYPTO;

	if (b == NULL || PEM_write_bio(b, "CERTIFICATE", "", der, (long)dlen) <= 0)
		goto out;
	n = BIO_get_mem_data(b, &data);
	nb = realloc(*buf, *len + (size_t)n + 1);
	if (nb == NULL) {
		rc = CAIRN_ENOMEM;
		goto out;
	}
	memcpy(nb + *len, data, (size_t)n);
	*len += (size_t)n;
	nb[*len] = '\0';
	*buf = nb;
	rc = 0;
out:
	BIO_free(b);
	return rc;
}

/* The Link to the ACME resource of issuer name (answers POST-as-GET, RFC 8555 §7.1). */
static void link_up(acme_t *a, const char *name, http_reply_t *r)
{
	http_reply_header(r, "Link", "<%sissuer/%s>;rel=\"up\"", a->base, name);
}

void acme_cert(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
	       http_reply_t *r)
{
	acme_jws_t j;
	json_t *s = NULL;
	char key[64], issuer_name[sizeof(((db_cert_t *)0)->issuer)];
	uint8_t serial[DB_SERIAL_MAX];
	db_txn_t *txn = NULL;
	db_cert_t c;
	char *pem = NULL;
	size_t len = 0;
	uint8_t *idder = NULL;
	X509 *issuer;
	int n, sl;

	if (acme_jws_verify(a, req->body, req->body_len, url, 0, &j, r) != 0)
		return;
	sl = strlen(arg) <= 2 * DB_SERIAL_MAX ? hex_decode(arg, serial, sizeof(serial)) : -1;
	snprintf(key, sizeof(key), "s/%s", arg);
	if (sl <= 0 || acme_get(a, key, &s) != 0) {
		acme_problem(r, 404, "malformed", "no certificate %s", arg);
		goto out;
	}
	if (strcmp(json_string_value(json_object_get(s, "acct")), j.acct_id) != 0) {
		acme_problem(r, 403, "unauthorized", "this certificate belongs to another account");
		goto out;
	}
	if (db_read_begin(a->db, &txn) != 0 || db_cert_get(txn, serial, (size_t)sl, &c) != 0) {
		acme_problem(r, 404, "malformed", "no certificate %s", arg);
		goto out;
	}
	if (pem_append(&pem, &len, c.der, c.der_len) != 0)
		goto fail;
	/* The chain of the CA that signed it, whichever is current now (rotation). */
	snprintf(issuer_name, sizeof(issuer_name), "%s", c.issuer);
	db_txn_end(txn);
	txn = NULL;
	if ((issuer = ca_issuer_cert(a->ca, issuer_name)) == NULL)
		goto fail;
	n = i2d_X509(issuer, &idder);
	if (n <= 0 || pem_append(&pem, &len, idder, (size_t)n) != 0)
		goto fail;
	http_reply_set(r, 200, "application/pem-certificate-chain", pem, len);
	pem = NULL;
	link_up(a, issuer_name, r);
	goto out;
fail:
	acme_problem(r, 500, "serverInternal", "cannot encode the certificate chain");
out:
	db_txn_end(txn);
	OPENSSL_free(idder);
	free(pem);
	json_decref(s);
	acme_jws_clear(&j);
}

void acme_issuer(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		 http_reply_t *r)
{
	acme_jws_t j;
	X509 *x = NULL;
	uint8_t *der = NULL;
	char *pem = NULL;
	size_t len = 0;
	int n, verified = 0;

	if (strcmp(req->method, "POST") == 0) {
		if (acme_jws_verify(a, req->body, req->body_len, url, 0, &j, r) != 0)
			return;
		verified = 1;
		if (!j.post_as_get) {
			acme_problem(r, 400, "malformed", "an issuer certificate is fetched with "
				     "POST-as-GET");
			goto out;
		}
	}
	/* "current" is no resource: a certificate links to the CA that actually signed it. */
	if (strcmp(arg, "current") == 0 || (x = ca_issuer_cert(a->ca, arg)) == NULL) {
		acme_problem(r, 404, "malformed", "no issuer %s", arg);
		goto out;
	}
	if ((n = i2d_X509(x, &der)) <= 0 || pem_append(&pem, &len, der, (size_t)n) != 0) {
		acme_problem(r, 500, "serverInternal", "cannot encode the issuer certificate");
		goto out;
	}
	http_reply_set(r, 200, "application/pem-certificate-chain", pem, len);
	pem = NULL;
	if (strcmp(arg, "root") != 0)
		link_up(a, "root", r);
out:
	OPENSSL_free(der);
	free(pem);
	if (verified)
		acme_jws_clear(&j);
}
