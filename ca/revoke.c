/* SPDX-License-Identifier: MIT */
/* Revocation: status change, revoked index and audit event per certificate, many in one durable write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "audit/audit.h"
#include "ca/ca.h"
#include "ca/ca_int.h"
#include "notify/notify.h"

#define CA_REVOKE_MAX 10000

static const char *const reason_names[] = {
	[CA_REASON_UNSPECIFIED] = "unspecified",
	[CA_REASON_KEY_COMPROMISE] = "keyCompromise",
	[CA_REASON_CA_COMPROMISE] = "cACompromise",
	[CA_REASON_AFFILIATION_CHANGED] = "affiliationChanged",
	[CA_REASON_SUPERSEDED] = "superseded",
	[CA_REASON_CESSATION] = "cessationOfOperation",
	[CA_REASON_HOLD] = "certificateHold",
	[CA_REASON_REMOVE_FROM_CRL] = "removeFromCRL",
	[CA_REASON_PRIVILEGE_WITHDRAWN] = "privilegeWithdrawn",
	[CA_REASON_AA_COMPROMISE] = "aACompromise",
};

int ca_reason_parse(const char *name)
{
	size_t i;

	if (name == NULL)
		return CAIRN_EINVAL;
	for (i = 0; i < sizeof(reason_names) / sizeof(reason_names[0]); i++)
		if (reason_names[i] != NULL && strcasecmp(name, reason_names[i]) == 0)
			return (int)i;
	return CAIRN_EINVAL;
}

const char *ca_reason_name(int reason)
{
	if (reason < 0 || (size_t)reason >= sizeof(reason_names) / sizeof(reason_names[0]) ||
	    reason_names[reason] == NULL)
		return "unknown";
	return reason_names[reason];
}

/* Parsed form of one item, computed before the write (the op only reads it). */
struct parsed_item {
	uint8_t serial[DB_SERIAL_MAX];
	size_t len;
	int ok; /* parsed; otherwise results[i] already says why */
};

struct revoke_op {
	ca_t *ca;
	const ca_revoke_item_t *items;
	const struct parsed_item *parsed;
	size_t n;
	const char *actor;
	int64_t now;
	ca_revoke_result_t *results;
	ca_revoke_still_fn still; /* or NULL */
	void *still_arg;
};

/* The names of a stored certificate (a new array; empty when its DER does not parse). */
static json_t *record_names(const db_cert_t *c)
{
	const unsigned char *p = c->der;
	X509 *x = ca_cert_d2i(&p, (long)c->der_len);
	json_t *out = json_array();
	char **names = NULL;
	size_t n = 0, i;

	if (x != NULL && out != NULL && ca_cert_names(x, &names, &n) == 0)
		for (i = 0; i < n; i++)
			json_array_append_new(out, json_string(names[i]));
	ca_names_free(names, n);
	X509_free(x);
	return out;
}

/* The audit event and the notify event (cert.revoked / cert.unhold) of one item. */
static int audit_item(db_txn_t *txn, const struct revoke_op *op, size_t i, const char *action,
		      const db_cert_t *c, cairn_err_t *err)
{
	const ca_revoke_item_t *it = &op->items[i];
	json_t *details = json_pack("{s:s}", "reason", ca_reason_name(it->reason));
	audit_event_t ev = { .actor = op->actor, .action = action, .serial = it->serial_hex,
			     .details = details };
	char when[32];
	int rc;

	if (details == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	if (it->invalidity_date > 0) {
		time_rfc3339((time_t)it->invalidity_date, when, sizeof(when));
		json_object_set_new(details, "invalidity_date", json_string(when));
	}
	rc = audit_append(txn, &ev, NULL, err);
	if (rc == 0) {
		char na[32], at[32];
		time_rfc3339((time_t)c->not_after, na, sizeof(na));
		time_rfc3339((time_t)op->now, at, sizeof(at));
		json_object_set_new(details, "serial", json_string(it->serial_hex));
		json_object_set_new(details, "by", json_string(op->actor));
		json_object_set_new(details, "profile", json_string(c->profile));
		json_object_set_new(details, "issuer", json_string(c->issuer));
		json_object_set_new(details, "requester", json_string(c->requester));
		json_object_set_new(details, "not_after", json_string(na));
		json_object_set_new(details, "time", json_string(at));
		json_object_set_new(details, "names", record_names(c));
		rc = notify_event(txn, strcmp(action, "cert.unhold") == 0 ? "cert.unhold"
									 : "cert.revoked",
				  details, NULL, err);
	}
	json_decref(details);
	return rc;
}

/* A certificate revoked for keyCompromise: its key is never certified again. */
static int block_compromised(db_txn_t *txn, const db_cert_t *c, const char *serial_hex,
			     int64_t now, cairn_err_t *err)
{
	const unsigned char *p = c->der;
	X509 *x = ca_cert_d2i(&p, (long)c->der_len);
	uint8_t spki[32];
	char why[96];
	int rc = 0;

	snprintf(why, sizeof(why), "certificate %.48s was revoked for keyCompromise", serial_hex);
	/* A record without a parsable certificate (none in practice) has no key to block. */
	if (x != NULL && ca_spki_sha256(x, spki) == 0)
		rc = ca_key_block(txn, spki, why, 0, now, err);
	X509_free(x);
	return rc;
}

/* One item inside the batch's transaction. Returns the item's code, or a
 * fatal (database) code through *fatal. Nothing is written for a refused item. */
static int revoke_one(db_txn_t *txn, const struct revoke_op *op, size_t i, int *fatal,
		      cairn_err_t *err)
{
	const ca_revoke_item_t *it = &op->items[i];
	const struct parsed_item *p = &op->parsed[i];
	ca_revoke_result_t *res = &op->results[i];
	db_cert_t c;
	int rc;

	rc = db_cert_get(txn, p->serial, p->len, &c);
	if (rc == CAIRN_ENOENT) {
		snprintf(res->msg, sizeof(res->msg), "no certificate with serial %s", it->serial_hex);
		return rc;
	}
	if (rc != 0) {
		*fatal = cairn_err_set(err, rc, "reading %s: %s", it->serial_hex, cairn_strerror(rc));
		return rc;
	}
	snprintf(res->issuer, sizeof(res->issuer), "%s", c.issuer);
	snprintf(res->profile, sizeof(res->profile), "%s", c.profile);
	/* Read in the write: what decides is the stored profile, not what the caller saw. */
	if (it->spare_profile != NULL && strcmp(c.profile, it->spare_profile) == 0) {
		snprintf(res->msg, sizeof(res->msg),
			 "certificate %s is of the %s profile, which this caller may not %s",
			 it->serial_hex, c.profile,
			 it->reason == CA_REASON_REMOVE_FROM_CRL ? "release"
			 : it->reason == CA_REASON_HOLD		 ? "hold"
								 : "revoke");
		return CAIRN_EDENIED;
	}
	/* Releasing a hold only gives a CA certificate back (repairs a hold made before
	 * this rule); holding or revoking one in use is refused whoever asks. */
	if (it->reason != CA_REASON_REMOVE_FROM_CRL &&
	    (rc = ca_own_revocable(op->ca, txn, &c, it->serial_hex, it->confirm_issuing_ca,
				   res->msg, sizeof(res->msg))) != 0)
		return rc;
	if (it->reason == CA_REASON_REMOVE_FROM_CRL) {
		if (c.status != DB_CERT_REVOKED || c.reason != CA_REASON_HOLD) {
			snprintf(res->msg, sizeof(res->msg),
				 "certificate %s is not on hold (removeFromCRL releases a certificateHold)",
				 it->serial_hex);
			return CAIRN_EINVAL;
		}
		rc = db_cert_unhold(txn, p->serial, p->len, op->now);
		if (rc == 0)
			rc = audit_item(txn, op, i, "cert.unhold", &c, err);
	} else {
		if (c.status == DB_CERT_REVOKED &&
		    (c.reason != CA_REASON_HOLD || it->reason == CA_REASON_HOLD)) {
			snprintf(res->msg, sizeof(res->msg), "certificate %s is already revoked (%s)",
				 it->serial_hex, ca_reason_name(c.reason));
			return CAIRN_EEXIST;
		}
		/* A hold may become a permanent revocation: release it first. */
		rc = c.status == DB_CERT_REVOKED ? db_cert_unhold(txn, p->serial, p->len, op->now) : 0;
		if (rc == 0)
			rc = db_cert_revoke_ex(txn, p->serial, p->len, op->now, it->reason,
					       it->invalidity_date);
		if (rc == 0)
			rc = audit_item(txn, op, i, "cert.revoke", &c, err);
		if (rc == 0 && it->reason == CA_REASON_KEY_COMPROMISE)
			rc = block_compromised(txn, &c, it->serial_hex, op->now, err);
	}
	if (rc != 0)
		*fatal = err != NULL && err->code != 0
				 ? rc
				 : cairn_err_set(err, rc, "revoking %s: %s", it->serial_hex,
						 cairn_strerror(rc));
	return rc;
}

static int revoke_op_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct revoke_op *op = arg;
	size_t i;
	int fatal = 0;

	/* The writer may rerun the op: every output is set afresh. The time is read here,
	 * in the writer, not when the call began: a CRL build reads its thisUpdate before
	 * its own write and its snapshot after it, so what commits after a base CRL's
	 * snapshot is revoked at or after its thisUpdate and its delta lists it
	 * (crl/build.c add: revoked_at >= delta_since). A time taken before a wait for the
	 * writer could fall before the base and miss both. */
	op->now = (int64_t)time(NULL);
	if (op->still != NULL && (fatal = op->still(txn, op->still_arg, err)) != 0)
		return fatal;
	for (i = 0; i < op->n; i++) {
		ca_revoke_result_t *res = &op->results[i];

		if (!op->parsed[i].ok)
			continue;
		res->code = 0;
		res->msg[0] = '\0';
		res->issuer[0] = '\0';
		res->profile[0] = '\0';
		res->code = revoke_one(txn, op, i, &fatal, err);
		if (fatal != 0)
			return fatal;
	}
	return 0;
}

static void refuse(ca_revoke_result_t *res, int code, const char *fmt, const char *serial)
{
	res->code = code;
	snprintf(res->msg, sizeof(res->msg), fmt, serial);
}

/*
 * RFC 5280 §5.3.2: the invalidity date is when the key is known or suspected to have been
 * compromised, or the certificate became invalid, so it cannot lie after the revocation
 * (now): a relying party that checks old signatures would trust the key until that date.
 * The admin API gives one date for the whole call, so a future one refuses the call.
 */
static int check_invalidity(const ca_revoke_item_t *items, size_t n, int64_t now,
			    cairn_err_t *err)
{
	char when[32], at[32];
	size_t i;

	for (i = 0; i < n; i++)
		if (items[i].invalidity_date > now) {
			time_rfc3339((time_t)items[i].invalidity_date, when, sizeof(when));
			time_rfc3339((time_t)now, at, sizeof(at));
			return cairn_err_set(err, CAIRN_EINVAL,
					     "invalidity date %s is later than now (%s): it says when "
					     "the key was known or suspected compromised (RFC 5280 5.3.2)",
					     when, at);
		}
	return 0;
}

int ca_revoke_batch(ca_t *ca, const ca_revoke_item_t *items, size_t n, const char *actor,
		    ca_revoke_result_t *results, cairn_err_t *err)
{
	return ca_revoke_batch_if(ca, items, n, actor, NULL, NULL, results, err);
}

int ca_revoke_batch_if(ca_t *ca, const ca_revoke_item_t *items, size_t n, const char *actor,
		       ca_revoke_still_fn still, void *still_arg, ca_revoke_result_t *results,
		       cairn_err_t *err)
{
	struct parsed_item *parsed = NULL;
	struct revoke_op op;
	int64_t now = (int64_t)time(NULL);
	size_t i, to_write = 0;
	int rc = 0, len;

	if (ca == NULL || items == NULL || results == NULL || actor == NULL || n == 0 ||
	    n > CA_REVOKE_MAX)
		return cairn_err_set(err, CAIRN_EINVAL, "revoke: 1..%d items and an actor needed",
				     CA_REVOKE_MAX);
	if ((rc = check_invalidity(items, n, now, err)) != 0)
		return rc;
	if ((parsed = calloc(n, sizeof(*parsed))) == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		const ca_revoke_item_t *it = &items[i];
		const char *s = it->serial_hex ? it->serial_hex : "";

		memset(&results[i], 0, sizeof(results[i]));
		len = strlen(s) <= 2 * DB_SERIAL_MAX ? hex_decode(s, parsed[i].serial, DB_SERIAL_MAX)
						     : -1;
		if (len <= 0) {
			refuse(&results[i], CAIRN_EINVAL, "serial %.64s is not 1..20 bytes of hex", s);
		} else if (it->reason < 0 || it->reason > CA_REASON_AA_COMPROMISE || it->reason == 7) {
			refuse(&results[i], CAIRN_EINVAL, "%s: reason is not an RFC 5280 CRLReason", s);
		} else if (it->reason == CA_REASON_REMOVE_FROM_CRL && it->invalidity_date != 0) {
			refuse(&results[i], CAIRN_EINVAL, "%s: removeFromCRL takes no invalidity date", s);
		} else if (it->invalidity_date < 0) {
			refuse(&results[i], CAIRN_EINVAL, "%s: invalidity date before 1970", s);
		} else {
			/* The stored form drops a leading zero byte (ca_cert_serial). */
			size_t skip = 0;
			while (skip + 1 < (size_t)len && parsed[i].serial[skip] == 0)
				skip++;
			memmove(parsed[i].serial, parsed[i].serial + skip, (size_t)len - skip);
			parsed[i].len = (size_t)len - skip;
			parsed[i].ok = 1;
			to_write++;
		}
	}
	if (to_write == 0)
		goto out;
	op.ca = ca;
	op.items = items;
	op.parsed = parsed;
	op.n = n;
	op.actor = actor;
	op.now = now; /* set again by each run of the op */
	op.results = results;
	op.still = still;
	op.still_arg = still_arg;
	rc = db_write(ca_db(ca), revoke_op_run, &op, err);
	if (rc != 0)
		goto out;
	for (i = 0; i < n; i++)
		if (parsed[i].ok && results[i].code == 0)
			ca_notify_revoked(ca, results[i].issuer, parsed[i].serial, parsed[i].len);
out:
	free(parsed);
	return rc;
}

int ca_revoke_one(ca_t *ca, const ca_revoke_item_t *item, const char *actor,
		  ca_revoke_result_t *res, cairn_err_t *err)
{
	ca_revoke_result_t own;
	int rc;

	if (res == NULL)
		res = &own;
	if ((rc = ca_revoke_batch(ca, item, 1, actor, res, err)) != 0)
		return rc;
	if (res->code != 0)
		return cairn_err_set(err, res->code, "%s", res->msg);
	return 0;
}

int ca_revoke(ca_t *ca, const char *serial_hex, int reason, int64_t invalidity_date,
	      const char *actor, cairn_err_t *err)
{
	ca_revoke_item_t it = { serial_hex, reason, invalidity_date, NULL, 0 };

	return ca_revoke_one(ca, &it, actor, NULL, err);
}
