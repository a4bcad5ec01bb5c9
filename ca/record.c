/* SPDX-License-Identifier: MIT */
/* Storing a certificate, its indexes and its audit event in one durable group-commit write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "audit/audit.h"
#include "ca/ca.h"
#include "ca/ca_int.h"
#include "db/db.h"
#include "notify/notify.h"

/* What the writer thread needs; everything is borrowed from the caller, who
 * waits in db_write until the op has run and the commit is on disk. */
struct record_op {
	const db_cert_t *rec;
	const char *const *names;
	size_t n_names;
	const audit_event_t *ev;
	json_t *event;          /* notify payload (cert.issued), NULL for the CA's own certificates */
	const ca_record_extra_t *extra;
	const char *channel;    /* "acme", "est", "admin", "cli"; NULL for the CA's own */
	uint64_t seq;
};

static int record_op_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct record_op *op = arg;
	int rc;

	rc = db_cert_put(txn, op->rec, op->names, op->n_names);
	if (rc == CAIRN_ECOLLISION)
		return cairn_err_set(err, rc, "serial %s is already in use", op->ev->serial);
	if (rc != 0)
		return cairn_err_set(err, rc, "storing certificate %s: %s", op->ev->serial,
				     cairn_strerror(rc));
	{
		/* The CA's own certificates (cairn init, renewals) come through no channel. */
		const char *l[2] = { op->channel ? op->channel : "internal", op->rec->profile };
		if ((rc = db_counter_add(txn, "issued", l, 2, 1)) != 0)
			return cairn_err_set(err, rc, "counting certificate %s: %s", op->ev->serial,
					     cairn_strerror(rc));
	}
	rc = audit_append(txn, op->ev, &op->seq, err);
	if (rc != 0 && err != NULL && err->msg[0] == '\0')
		cairn_err_set(err, rc, "audit event for %s: %s", op->ev->serial,
			      cairn_strerror(rc));
	if (rc == 0 && op->event != NULL) {
		json_object_set_new(op->event, "audit_seq", json_integer((json_int_t)op->seq));
		rc = notify_event(txn, "cert.issued", op->event, NULL, err);
		if (rc == 0)
			rc = ca_supersede_events(txn, op->rec, op->names, op->n_names,
						 json_string_value(json_object_get(op->event, "channel")),
						 err);
	}
	if (rc == 0 && op->extra != NULL && op->extra->also != NULL)
		rc = op->extra->also(txn, op->ev->serial, op->extra->also_arg, err);
	return rc;
}

/* One-line RFC 2253 subject ("CN=a.example,O=Example") into out, truncated. */
static void subject_line(X509 *x, char *out, size_t cap)
{
	char *dn = ca_dn_text(X509_get_subject_name(x));

	snprintf(out, cap, "%s", dn ? dn : "");
	free(dn);
}

static int copy_field(char *dst, size_t cap, const char *src, const char *what,
		      cairn_err_t *err)
{
	size_t n = src ? strlen(src) : 0;

	if (n == 0 || n >= cap)
		return cairn_err_set(err, CAIRN_EINVAL, "%s must be 1..%zu bytes", what, cap - 1);
	memcpy(dst, src, n + 1);
	return 0;
}

int ca_record_write(db_t *db, X509 *cert, const ca_record_args_t *a,
		    char serial_hex[2 * DB_SERIAL_MAX + 1], uint64_t *seq, cairn_err_t *err)
{
	db_cert_t rec;
	audit_event_t ev;
	struct record_op op;
	char hex[2 * DB_SERIAL_MAX + 1], na_text[32];
	unsigned char *der = NULL;
	char **names = NULL;
	size_t n_names = 0, i;
	json_t *jnames = NULL, *details = NULL, *event = NULL;
	int der_len = 0, rc;

	memset(&rec, 0, sizeof(rec));
	memset(&op, 0, sizeof(op));
	if (db == NULL || cert == NULL || a == NULL || a->action == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "ca_record: missing argument");
	if ((rc = copy_field(rec.issuer, sizeof(rec.issuer), a->issuer, "issuer", err)) != 0 ||
	    (rc = copy_field(rec.profile, sizeof(rec.profile), a->profile, "profile", err)) != 0 ||
	    (rc = copy_field(rec.requester, sizeof(rec.requester), a->requester, "requester",
			     err)) != 0)
		return rc;
	if ((rc = ca_cert_serial(cert, rec.serial, &rec.serial_len, err)) != 0)
		return rc;
	if (ca_time_unix(X509_get0_notBefore(cert), &rec.not_before) != 0 ||
	    ca_time_unix(X509_get0_notAfter(cert), &rec.not_after) != 0)
		return cairn_err_set(err, CAIRN_EINVAL, "certificate validity cannot be read");
	rec.status = DB_CERT_VALID;
	rec.reason = -1;
	subject_line(cert, rec.subject, sizeof(rec.subject));
	db_serial_hex(rec.serial, rec.serial_len, hex);

	if (a->der != NULL) {
		rec.der = a->der;
		rec.der_len = a->der_len;
	} else {
		der_len = i2d_X509(cert, &der);
		if (der_len <= 0) {
			rc = cairn_err_ssl(err, CAIRN_ECRYPTO, "cannot encode certificate %s", hex);
			goto out;
		}
		rec.der = der;
		rec.der_len = (size_t)der_len;
	}

	rc = CAIRN_ENOMEM;
	if (ca_cert_names(cert, &names, &n_names) != 0 || (jnames = json_array()) == NULL)
		goto nomem;
	for (i = 0; i < n_names; i++)
		if (json_array_append_new(jnames, json_string(names[i])) != 0)
			goto nomem;
	time_rfc3339((time_t)rec.not_after, na_text, sizeof(na_text));
	details = json_pack("{s:s, s:s}", "profile", rec.profile, "not_after", na_text);
	if (details == NULL ||
	    (a->channel != NULL && json_object_set_new(details, "channel", json_string(a->channel)) != 0) ||
	    (a->extra != NULL && a->extra->details != NULL &&
	     json_object_update(details, (json_t *)a->extra->details) != 0))
		goto nomem;

	/* The CA's own certificates (cairn init) are no one's business but the operator's. */
	if (strcmp(a->action, "cert.issue") == 0) {
		char nb_text[32];
		time_rfc3339((time_t)rec.not_before, nb_text, sizeof(nb_text));
		event = json_pack("{s:s, s:O, s:s, s:s, s:s, s:s?, s:s, s:s, s:s}", "serial", hex,
				  "names", jnames, "profile", rec.profile, "issuer", rec.issuer,
				  "requester", rec.requester, "channel", a->channel, "subject",
				  rec.subject, "not_before", nb_text, "not_after", na_text);
		if (event == NULL)
			goto nomem;
	}
	ev.actor = rec.requester;
	ev.action = a->action;
	ev.serial = hex;
	ev.names = jnames;
	ev.details = details;
	op.rec = &rec;
	op.names = (const char *const *)names;
	op.n_names = n_names;
	op.ev = &ev;
	op.event = event;
	op.extra = a->extra;
	op.channel = a->channel;
	rc = db_write(db, record_op_run, &op, err);
	if (rc != 0)
		goto out;
	if (serial_hex != NULL)
		memcpy(serial_hex, hex, sizeof(hex));
	if (seq != NULL)
		*seq = op.seq;
	if (a->der_out != NULL && der != NULL) {
		/* The encoding just stored: the caller needs no second i2d_X509. */
		*a->der_out = der;
		*a->der_len_out = (size_t)der_len;
		der = NULL;
	}
	goto out;
nomem:
	rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory recording certificate %s", hex);
out:
	json_decref(event);
	json_decref(details);
	json_decref(jnames);
	ca_names_free(names, n_names);
	OPENSSL_free(der);
	return rc;
}

/*
 * Stores an already-built certificate (see ca.h). The audit actor is
 * requester; details carry profile and not_after. Returns 0, CAIRN_ECOLLISION
 * when the serial is already stored (nothing is written), CAIRN_EINVAL for a
 * bad argument or a serial that is not 1..20 positive bytes, or the db code.
 */
int ca_record(db_t *db, X509 *cert, const char *issuer, const char *profile,
	      const char *requester, const char *action, cairn_err_t *err)
{
	ca_record_args_t a = { issuer, profile, requester, action, NULL, NULL, NULL, NULL, NULL, 0 };

	return ca_record_write(db, cert, &a, NULL, NULL, err);
}

int ca_record_with(db_t *db, X509 *cert, const char *issuer, const char *profile,
		   const char *requester, const char *action, const ca_record_extra_t *extra,
		   cairn_err_t *err)
{
	ca_record_args_t a = { issuer, profile, requester, action, NULL, extra, NULL, NULL, NULL, 0 };

	return ca_record_write(db, cert, &a, NULL, NULL, err);
}
