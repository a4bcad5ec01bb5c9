/* SPDX-License-Identifier: MIT */
/* Which of the CA's own certificates are in use now — revocation refuses those — and which are retired and may be revoked (a leaked key of a replaced OCSP signer or HTTPS certificate, an issuing CA rotated away). */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ca/ca.h"
#include "ca/ca_int.h"

/* The roles the daemon names (ca_in_use_set), the profile their certificates are
 * recorded under and what they are called in a message. */
static const struct {
	const char *role, *profile, *what;
} roles[CA_USE_ROLES] = {
	{ CA_USE_OCSP_SIGNER, "ocsp-signer", "the OCSP signer" },
	{ CA_USE_HTTPS, "daemon-tls", "the HTTPS certificate" },
};

/* The index of role in roles[], or CA_USE_ROLES when it is none of them. */
static size_t role_index(const char *role)
{
	size_t i;

	for (i = 0; role != NULL && i < CA_USE_ROLES; i++)
		if (strcmp(role, roles[i].role) == 0)
			break;
	return role == NULL ? CA_USE_ROLES : i;
}

/* Names serial_hex for role: as the one in use (the renewal's switch, if any, is done),
 * or as the one a renewal is putting in use. */
static void name_for_role(ca_t *ca, const char *role, const char *serial_hex, int incoming)
{
	size_t i = role_index(role);

	if (ca == NULL || serial_hex == NULL || i == CA_USE_ROLES)
		return;
	pthread_mutex_lock(&ca->use_mu);
	if (incoming) {
		snprintf(ca->incoming[i], sizeof(ca->incoming[i]), "%s", serial_hex);
	} else {
		snprintf(ca->in_use[i], sizeof(ca->in_use[i]), "%s", serial_hex);
		if (strcmp(ca->incoming[i], serial_hex) == 0)
			ca->incoming[i][0] = '\0';
	}
	pthread_mutex_unlock(&ca->use_mu);
}

void ca_in_use_set(ca_t *ca, const char *role, const char *serial_hex)
{
	name_for_role(ca, role, serial_hex, 0);
}

void ca_in_use_incoming(ca_t *ca, const char *role, const char *serial_hex)
{
	name_for_role(ca, role, serial_hex, 1);
}

/* Copies of the serial in use for role i ("" until the daemon named one) and of the one a
 * renewal is putting in use ("" when none). */
static void in_use(ca_t *ca, size_t i, char out[2 * DB_SERIAL_MAX + 1],
		   char incoming[2 * DB_SERIAL_MAX + 1])
{
	pthread_mutex_lock(&ca->use_mu);
	memcpy(out, ca->in_use[i], sizeof(ca->in_use[i]));
	if (incoming != NULL)
		memcpy(incoming, ca->incoming[i], sizeof(ca->incoming[i]));
	pthread_mutex_unlock(&ca->use_mu);
}

static int serial_is(X509 *x, const char *hex)
{
	char h[2 * DB_SERIAL_MAX + 1];

	ca_serial_hex(x, h);
	return x != NULL && h[0] != '\0' && strcmp(h, hex) == 0;
}

/* Why the issuing CA is (NULL: it is retired; *name: its name here, NULL when it
 * is not one of the daemon's). The current one issues; the one that signed the OCSP
 * signer or HTTPS certificate in use must stay valid for them. */
static const char *issuing_in_use(ca_t *ca, db_txn_t *txn, const char *hex, const char **name)
{
	static const char *const signed_what[CA_USE_ROLES] = {
		"it signed the OCSP signer in use", "it signed the HTTPS certificate in use"
	};
	size_t i, n = atomic_load(&ca->n_iss);
	const ca_iss_t *is = NULL;

	*name = NULL;
	for (i = 0; i < n && is == NULL; i++)
		if (serial_is(ca->iss[i]->cert, hex))
			is = ca->iss[i];
	if (is == NULL)
		return NULL;
	*name = is->name;
	if (is == ca_iss_current(ca))
		return "new certificates are issued under it";
	for (i = 0; i < CA_USE_ROLES; i++) {
		char used[2 * DB_SERIAL_MAX + 1];
		uint8_t sn[DB_SERIAL_MAX];
		db_cert_t u;
		int len;

		in_use(ca, i, used, NULL);
		if (used[0] == '\0')
			return "no daemon said which OCSP signer and HTTPS certificate it uses";
		if ((len = hex_decode(used, sn, sizeof(sn))) > 0 &&
		    db_cert_get(txn, sn, (size_t)len, &u) == 0 && strcmp(u.issuer, is->name) == 0)
			return signed_what[i];
	}
	return NULL;
}

/* Why hex is in use by what the database records, read in the revocation's own
 * transaction (NULL: nothing says so): the last issuing CA of DB_META "issuers" (the
 * current one from the rotation's commit on, before the daemon has loaded it), the
 * cross-certificates of DB_META "rollover" (the last rollover's, written with the one
 * signed by the daemon's root). What the daemon holds in memory follows those writes;
 * read here, a revocation between a write and the daemon's switch finds them in use. */
static const char *recorded_in_use(db_txn_t *txn, const char *hex)
{
	const char *what = NULL, *s;
	const void *v;
	size_t vlen;
	json_t *doc;

	if (db_get(txn, DB_META, CA_ISSUERS_META, strlen(CA_ISSUERS_META), &v, &vlen) == 0 &&
	    (doc = json_loadb(v, vlen, 0, NULL)) != NULL) {
		s = json_string_value(json_object_get(json_array_get(doc, json_array_size(doc) - 1),
						      "serial"));
		if (s != NULL && strcmp(s, hex) == 0)
			what = "new certificates are issued under it (the last rotation's)";
		json_decref(doc);
	}
	if (what == NULL &&
	    db_get(txn, DB_META, CA_ROLLOVER_META, strlen(CA_ROLLOVER_META), &v, &vlen) == 0 &&
	    (doc = json_loadb(v, vlen, 0, NULL)) != NULL) {
		if (((s = json_string_value(json_object_get(doc, "new_by_old"))) != NULL &&
		     strcmp(s, hex) == 0) ||
		    ((s = json_string_value(json_object_get(doc, "old_by_new"))) != NULL &&
		     strcmp(s, hex) == 0))
			what = "of the last root rollover";
		json_decref(doc);
	}
	return what;
}

/* Why c, of an own profile other than ca-issuing, is in use; NULL when retired. */
static const char *other_in_use(ca_t *ca, const db_cert_t *c, const char *hex)
{
	const ca_rollover_certs_t *r;
	size_t i;

	if (strcmp(c->profile, "ca-root") == 0)
		return "a trust anchor"; /* self-signed: no CRL a relying party checks lists it */
	if (strcmp(c->profile, "ca-cross") == 0) {
		r = ca_rollover(ca);
		return r != NULL && (serial_is(r->new_by_old, hex) || serial_is(r->old_by_new, hex))
			       ? "of the last root rollover"
			       : NULL;
	}
	for (i = 0; i < CA_USE_ROLES; i++)
		if (strcmp(c->profile, roles[i].profile) == 0) {
			char used[2 * DB_SERIAL_MAX + 1], incoming[2 * DB_SERIAL_MAX + 1];

			in_use(ca, i, used, incoming);
			if (strcmp(incoming, hex) == 0)
				return "being put in use by a renewal";
			if (used[0] == '\0')
				return "perhaps in use: no daemon said which one it uses";
			return strcmp(used, hex) == 0 ? "in use" : NULL;
		}
	return "in use"; /* an own profile this file does not know: the safe answer */
}

int ca_own_revocable(ca_t *ca, db_txn_t *txn, const db_cert_t *c, const char *serial_hex,
		     int confirm, char *why, size_t cap)
{
	const char *instead = ca_own_profile(c->profile), *use, *name = NULL;
	char hex[2 * DB_SERIAL_MAX + 1];

	if (instead == NULL)
		return 0;
	db_serial_hex(c->serial, c->serial_len, hex);
	use = strcmp(c->profile, "ca-issuing") == 0 ? issuing_in_use(ca, txn, hex, &name)
						     : other_in_use(ca, c, hex);
	if (use == NULL)
		use = recorded_in_use(txn, hex);
	if (use != NULL) {
		snprintf(why, cap, "certificate %s is the CA's own (profile %s), %s, and is "
			 "never held or revoked here: %s", serial_hex, c->profile, use, instead);
		return CAIRN_ECONFLICT;
	}
	/* Retired. A root key the daemon does not run on (an earlier rollover's new root)
	 * has no CRL here: a revocation of what it signed (the old root's cross-certificate)
	 * would reach no relying party while the API said revoked. */
	if (strcmp(c->issuer, "root") != 0 && ca_iss_find(ca, c->issuer) == NULL) {
		snprintf(why, cap, "certificate %s is the CA's own (profile %s), retired, but was "
			 "signed by %s, whose CRL this CA does not publish: a revocation would "
			 "reach no relying party", serial_hex, c->profile, c->issuer);
		return CAIRN_ECONFLICT;
	}
	/* An issuing CA on the root's CRL takes every certificate it issued with it:
	 * right for a leaked key, a surprise otherwise. */
	if (strcmp(c->profile, "ca-issuing") == 0 && !confirm) {
		snprintf(why, cap, "certificate %s is the retired issuing CA %s: revoking it lists "
			 "it on the root's CRL and every certificate it issued stops validating; "
			 "confirm with confirm_issuing_ca (cairn revoke --confirm-issuing-ca)",
			 serial_hex, name ? name : "(not loaded)");
		return CAIRN_ECONFLICT;
	}
	return 0;
}
