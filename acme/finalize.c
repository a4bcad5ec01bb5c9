/* SPDX-License-Identifier: MIT */
/* ACME finalize and certificate download (RFC 8555 §7.4, §7.4.2): CSR vs order, issuance through the common path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "acme/acme_int.h"

/* The CSR's names as a set of "type:value" keys, from the one extractor (DNS
 * lower-cased, IPv4-mapped IPv6 as IPv4; the CN counts as a name too). */
static json_t *csr_names(const ca_csr_t *csr)
{
	const ca_names_t *names = &csr->names;
	json_t *set = json_object();
	char key[2100];
	size_t i;

	if (set == NULL)
		return NULL;
	for (i = 0; i < names->n_san; i++) {
		snprintf(key, sizeof(key), "%s:%s", ca_name_type_str(names->san[i].type),
			 names->san[i].text);
		json_object_set_new(set, key, json_true());
	}
	if (names->other_type >= 0) {
		snprintf(key, sizeof(key), "other:%d", names->other_type);
		json_object_set_new(set, key, json_true());
	}
	if (names->cn != NULL) {
		snprintf(key, sizeof(key), "%s:%s", ca_name_type_str(names->cn_name.type),
			 names->cn_name.text);
		json_object_set_new(set, key, json_true());
	}
	return set;
}

/* 1 when the CSR's key is the account's key (jwk): an account key must not also be
 * a certificate key (whoever holds the certificate's key could then act as the
 * account, and a keyCompromise of one is a compromise of the other). */
static int csr_is_account_key(const ca_csr_t *csr, const json_t *jwk)
{
	char why[160] = "";
	EVP_PKEY *acct = acme_jwk_to_pkey(jwk, why, sizeof(why));
	int same = acct != NULL && EVP_PKEY_eq(acct, csr->pub) == 1;

	ERR_clear_error(); /* keys of two types compare with an error queued */
	EVP_PKEY_free(acct);
	return same;
}

/* A CSR the client can fix: the order stays ready (RFC 8555 §7.4). */
static int csr_fault(int code)
{
	return code == CAIRN_EBADCSR || code == CAIRN_ECSRSIG || code == CAIRN_EWEAKKEY ||
	       code == CAIRN_EKEYTYPE || code == CAIRN_ENAME;
}

/* The order's move to valid, written in the certificate's own transaction: the
 * certificate, its indexes, its audit event, the order and the s/SERIAL owner entry
 * commit together (one durable commit for finalize), or none of them. An order that
 * is no longer pending in the store rolls the certificate back (CAIRN_ECONFLICT). */
typedef struct fin_valid {
	acme_t *a;
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
	ch.authzs_valid = 1;
	ch.acct = f->acct;
	return acme_order_change_txn(f->a, txn, f->oid, &ch, &f->order, err);
}

/* ACME's answer to a submission (policy_answer_t callbacks): the order as it now is
 * (valid in the certificate's own commit, or processing while approvers decide), or a
 * problem document. */
typedef struct fin_answer {
	acme_t *a;
	const char *oid;
	http_reply_t *r;
	const char *ptype;        /* CAA recheck's problem type, or NULL */
	fin_valid_t valid;        /* the order's change inside the certificate's commit */
	ca_record_extra_t extra;  /* runs valid */
	json_t *order;            /* out: the order to answer with; NULL = answered already */
	int pending;              /* the order waits for approvers */
} fin_answer_t;

static void fin_issued(void *arg, const policy_outcome_t *out)
{
	fin_answer_t *f = arg;

	/* The order became valid in the certificate's own commit (fin_valid_run). */
	f->order = f->valid.order;
	f->valid.order = NULL;
	if (f->order == NULL)
		acme_problem(f->r, 500, "serverInternal", "certificate %s issued without its order",
			     out->issued->serial_hex);
}

static void fin_pending(void *arg, const policy_outcome_t *out)
{
	fin_answer_t *f = arg;
	acme_order_change_t ch = { 0 };
	cairn_err_t err = { 0 };

	/* The request was stored by its own write; the order says where it waits. */
	ch.status = "processing";
	ch.request = out->request.id;
	ch.acct = f->valid.acct;
	f->pending = 1;
	if (acme_order_change(f->a, f->oid, &ch, &f->order, &err) != 0)
		acme_problem_write(f->r, &err, "storing the order");
}

static void fin_refused(void *arg, policy_submit_result_t res, const policy_outcome_t *out,
			const cairn_err_t *err)
{
	fin_answer_t *f = arg;
	acme_order_change_t ch = { 0 };
	json_t *perr;
	char detail[600];
	(void)res;
	(void)out;

	if (csr_fault(err->code) || err->code == CAIRN_ENOSPACE || err->code == CAIRN_EDB ||
	    err->code == CAIRN_ETOKENDOWN) {
		/* The order stays ready: the client may send a better CSR, or the same one
		 * once the CA's storage or token works again (nothing was issued: the
		 * certificate and the order's move to valid commit together). */
		acme_problem_err(f->r, err->code, "%s", cairn_err_msg(err));
		return;
	}
	if (err->code == CAIRN_ECONFLICT) {
		/* The order changed under us (fin_valid_run): nothing was issued. */
		acme_problem(f->r, 403, "orderNotReady", "%s", cairn_err_msg(err));
		return;
	}
	snprintf(detail, sizeof(detail), "%s", cairn_err_msg(err));
	perr = acme_problem_obj(f->ptype ? f->ptype : cairn_err_http(err->code)->acme_type, detail,
				NULL);
	ch.status = "invalid";
	ch.error = perr;
	ch.acct = f->valid.acct;
	if (acme_order_change(f->a, f->oid, &ch, NULL, NULL) != 0)
		log_warn("acme", "order %s: storing its failure failed", f->oid);
	json_decref(perr);
	if (f->ptype != NULL)
		acme_problem(f->r, 403, f->ptype, "%s", detail);
	else
		acme_problem_err(f->r, err->code, "%s", detail);
}

static const policy_answer_t fin_answer_ops = { fin_issued, fin_pending, fin_refused };

/*
 * The one place ACME asks for a certificate: the common submit-and-answer path. An
 * account bound with an EAB key asks as that key (one key, one account), so a policy can
 * tell bound accounts from open ones: acme:eab/KID, else acme:acct/ID.
 */
static void acme_submit(acme_t *a, const ca_csr_t *csr, const char *acct, const json_t *account,
			fin_answer_t *f, cairn_err_t *err)
{
	const char *group = json_string_value(json_object_get(account, "group"));
	const char *profile = json_string_value(json_object_get(account, "profile"));
	const char *kid = json_string_value(json_object_get(account, "eab_kid"));
	ca_request_t cr = { 0 };
	char requester[160];

	if (kid != NULL && kid[0] != '\0')
		snprintf(requester, sizeof(requester), "acme:eab/%s", kid);
	else
		snprintf(requester, sizeof(requester), "acme:acct/%s", acct);
	cr.csr = csr;
	cr.profile = profile && profile[0] ? profile : a->profile;
	/* Never the admin-login profile, whatever an old EAB record says. */
	if (strcmp(cr.profile, CA_ADMIN_PROFILE) == 0) {
		cairn_err_set(err, CAIRN_EDENIED,
			      "profile %s logs in to the admin API, ACME may not issue it",
			      cr.profile);
		fin_refused(f, POLICY_SUBMIT_REJECTED, NULL, err);
		return;
	}
	cr.requester = requester;
	cr.channel = "acme";
	cr.record_extra = &f->extra;
	(void)policy_submit_answer(a->policy, &cr, group && group[0] ? group : NULL,
				   &fin_answer_ops, f, err);
}

void acme_finalize(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		   http_reply_t *r)
{
	acme_jws_t j;
	json_t *o = NULL, *res = NULL, *names = NULL, *want = NULL, *x, *view;
	const char *csr_b64, *st, *k;
	uint8_t *der = NULL;
	size_t der_len = 0, i;
	ca_csr_t *csr = NULL;
	fin_answer_t f;
	char u[512];
	cairn_err_t err = { 0 };
	int busy, claimed = 0;

	memset(&f, 0, sizeof(f));
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
	/* The one parse and signature check of this request: everything after reads csr. */
	if (ca_csr_new(der, der_len, 0, &csr, &err) != 0) {
		/* Decoding: a malformed name is a malformed CSR, a bad key a bad public key. */
		acme_problem(r, 400,
			     err.code == CAIRN_EKEYTYPE || err.code == CAIRN_EWEAKKEY ? "badPublicKey"
										 : "badCSR",
			     "%s", cairn_err_msg(&err));
		goto out;
	}
	if (csr_is_account_key(csr, j.jwk)) {
		acme_problem(r, 400, "badCSR",
			     "the CSR's key is the account key: certify another key");
		goto out;
	}
	if ((names = csr_names(csr)) == NULL) {
		acme_problem(r, 500, "serverInternal", "out of memory");
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
	pthread_mutex_lock(&a->fin_lock);
	busy = json_object_get(a->finalizing, arg) != NULL;
	if (!busy)
		json_object_set_new(a->finalizing, arg, json_true());
	pthread_mutex_unlock(&a->fin_lock);
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
	f.a = a;
	f.oid = arg;
	f.r = r;
	f.valid.a = a;
	f.valid.oid = arg;
	f.valid.acct = j.acct_id;
	f.extra.also = fin_valid_run;
	f.extra.also_arg = &f.valid;
	if (acme_caa_recheck(a, o, "at finalize", &f.ptype, &err) != 0)
		fin_refused(&f, POLICY_SUBMIT_FAILED, NULL, &err);
	else
		acme_submit(a, csr, j.acct_id, j.account, &f, &err);
	if ((res = f.order) == NULL)
		goto out; /* answered with a problem */
	f.order = NULL;
	view = acme_order_view(a, res);
	http_reply_json(r, 200, NULL, view);
	json_decref(view);
	if (f.pending)
		r->retry_after = 2;
	snprintf(u, sizeof(u), "%sorder/%s", a->base, arg);
	r->location = strdup(u);
out:
	if (claimed) {
		pthread_mutex_lock(&a->fin_lock);
		json_object_del(a->finalizing, arg);
		pthread_mutex_unlock(&a->fin_lock);
	}
	ca_csr_free(csr);
	json_decref(f.order);
	json_decref(f.valid.order);
	free(der);
	json_decref(o);
	json_decref(res);
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

/*
 * A certificate's chain (RFC 8555 §7.4.2): cert/ID is the certificate and the issuing CA
 * that signed it; after a root rollover (ca_rollover) cert/ID/1 is the alternate chain,
 * the same two and the daemon's root certified by the new root, for clients that trust
 * only the new root. Each answer links the other with rel="alternate".
 */
void acme_cert(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
	       http_reply_t *r)
{
	acme_jws_t j;
	json_t *s = NULL;
	char key[64], id[2 * DB_SERIAL_MAX + 1], issuer_name[sizeof(((db_cert_t *)0)->issuer)];
	uint8_t serial[DB_SERIAL_MAX];
	db_txn_t *txn = NULL;
	db_cert_t c;
	char *pem = NULL;
	size_t len = 0, idlen = strcspn(arg, "/");
	uint8_t *idder = NULL;
	const ca_rollover_certs_t *ro = ca_rollover(a->ca);
	int alternate = strcmp(arg + idlen, "/1") == 0;
	X509 *issuer;
	int n, sl = -1;

	if (acme_jws_verify_get(a, req->body, req->body_len, url, "a certificate", &j, r) != 0)
		return;
	if (idlen < sizeof(id) && (arg[idlen] == '\0' || (alternate && ro != NULL))) {
		memcpy(id, arg, idlen);
		id[idlen] = '\0';
		sl = hex_decode(id, serial, sizeof(serial));
	}
	if (sl > 0)
		snprintf(key, sizeof(key), "s/%s", id);
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
	if (alternate) {
		OPENSSL_free(idder);
		idder = NULL;
		n = i2d_X509(ro->old_by_new, &idder);
		if (n <= 0 || pem_append(&pem, &len, idder, (size_t)n) != 0)
			goto fail;
	}
	http_reply_set(r, 200, "application/pem-certificate-chain", pem, len);
	pem = NULL;
	link_up(a, issuer_name, r);
	if (ro != NULL)
		http_reply_header(r, "Link", "<%scert/%s%s>;rel=\"alternate\"", a->base, id,
				  alternate ? "" : "/1");
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
		if (acme_jws_verify_get(a, req->body, req->body_len, url, "an issuer certificate",
					&j, r) != 0)
			return;
		verified = 1;
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
