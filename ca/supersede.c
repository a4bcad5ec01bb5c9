/* SPDX-License-Identifier: MIT */
/* Renewals: a new certificate supersedes the valid ones of the same requester whose names it
 * all holds (an ACME renewal, an admin re-issuance); each gets a cert.renewed event in the
 * issuance's own transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "ca/ca_int.h"
#include "notify/notify.h"

/* Certificates one issuance may supersede (a requester re-issuing the same names), and
 * certificates looked at per name (a name issued to many requesters is not walked whole). */
#define SUPERSEDE_MAX 64
#define VISIT_MAX 4096

struct serial_list {
	size_t n;
	struct {
		uint8_t len;
		uint8_t b[DB_SERIAL_MAX];
		uint16_t names; /* listed with its name count (0: not known) */
	} v[VISIT_MAX];
};

struct supersede_find {
	db_txn_t *txn;
	const db_cert_t *rec;
	const char *const *names;
	size_t n_names;
	const char **distinct; /* names without repeats (case-insensitive), n_distinct of them */
	unsigned n_distinct;
	int64_t now;
	int complete;         /* the database lists every candidate (DB_META_CANDIDATES) */
	size_t visited;       /* of the current name */
	json_t *found;        /* serial hex -> event data */
	struct serial_list *serials; /* the current name's candidates (see find_for_name) */
};

static int holds(const struct supersede_find *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->n_names; i++)
		if (strcasecmp(f->names[i], name) == 0)
			return 1;
	return 0;
}

/* 1 when names[i] repeats an earlier name (case-insensitive): the name index holds one
 * entry for both. */
static int repeats(const char *const *names, size_t i)
{
	size_t j;

	for (j = 0; j < i; j++)
		if (strcasecmp(names[j], names[i]) == 0)
			return 1;
	return 0;
}

/* c (serial hex) is superseded by this issuance, its names jnames: into found. */
static void found_add(struct supersede_find *f, const db_cert_t *c, const char *hex,
		      json_t *jnames)
{
	char na[32];

	time_rfc3339((time_t)c->not_after, na, sizeof(na));
	json_object_set_new(f->found, hex,
			    json_pack("{s:s, s:O, s:s, s:s, s:s, s:s, s:I}", "serial", hex,
				      "names", jnames, "profile", c->profile, "issuer",
				      c->issuer, "requester", c->requester, "not_after", na,
				      "t", (json_int_t)c->not_after));
}

/* 1 when c may still be superseded by an issuance of this requester: valid, not expired,
 * not this issuance, not superseded already (hex: its serial). */
static int is_candidate(const struct supersede_find *f, const db_cert_t *c, char *hex)
{
	db_serial_hex(c->serial, c->serial_len, hex);
	return c->status == DB_CERT_VALID && c->not_after > f->now &&
	       strcmp(c->requester, f->rec->requester) == 0 &&
	       !(c->serial_len == f->rec->serial_len &&
		 memcmp(c->serial, f->rec->serial, c->serial_len) == 0) &&
	       !notify_is_superseded(f->txn, hex);
}

/*
 * For a candidate listed with its count of distinct names, k: it holds k names, so they
 * are all among ours when k of ours are indexed for it. A name index lookup per name of
 * the new certificate instead of decoding the candidate. 1 when it is, 0 when not, a
 * negative code.
 */
static int counted_subset(struct supersede_find *f, const db_cert_t *c, unsigned k,
			  json_t *jnames)
{
	unsigned hits = 0;
	size_t i;
	int rc;

	for (i = 0; i < f->n_distinct && hits < k; i++) {
		rc = db_cert_has_name(f->txn, f->distinct[i], c->serial, c->serial_len);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			hits++;
			json_array_append_new(jnames, json_string(f->distinct[i]));
		}
	}
	return hits == k;
}

/* A candidate c is superseded by this issuance when it expires no later and every name
 * it holds is among the new certificate's: then it goes into found. k: its count of
 * distinct names when listed with one (0: decode it for its names). */
static void check_names(struct supersede_find *f, const db_cert_t *c, const char *hex,
			unsigned k)
{
	const unsigned char *p = c->der;
	char **names = NULL;
	size_t n = 0, i;
	json_t *jnames = NULL;
	X509 *x = NULL;
	int all = 1;

	if (c->not_after > f->rec->not_after || json_object_size(f->found) >= SUPERSEDE_MAX ||
	    json_object_get(f->found, hex) != NULL)
		return;
	if (k > 0) {
		if ((jnames = json_array()) != NULL && counted_subset(f, c, k, jnames) == 1)
			found_add(f, c, hex, jnames);
		json_decref(jnames);
		return;
	}
	if ((x = ca_cert_d2i(&p, (long)c->der_len)) == NULL ||
	    ca_cert_names(x, &names, &n) != 0 || n == 0 || (jnames = json_array()) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		all &= holds(f, names[i]);
		json_array_append_new(jnames, json_string(names[i]));
	}
	if (all)
		found_add(f, c, hex, jnames);
out:
	json_decref(jnames);
	ca_names_free(names, n);
	X509_free(x);
}

static void keep_serial(struct serial_list *l, const uint8_t *serial, size_t len,
			unsigned names)
{
	if (l->n < VISIT_MAX && len > 0 && len <= DB_SERIAL_MAX) {
		l->v[l->n].len = (uint8_t)len;
		memcpy(l->v[l->n].b, serial, len);
		l->v[l->n].names = (uint16_t)(names <= 0xffff ? names : 0);
		l->n++;
	}
}

/* The name index walk, for a name whose candidates are not listed yet: checks every
 * candidate and keeps its serial for the list. */
static int consider(const db_cert_t *c, void *arg)
{
	struct supersede_find *f = arg;
	char hex[2 * DB_SERIAL_MAX + 1];

	if (++f->visited > VISIT_MAX)
		return 1;
	if (!is_candidate(f, c, hex))
		return 0;
	keep_serial(f->serials, c->serial, c->serial_len, 0);
	check_names(f, c, hex, 0);
	return 0;
}

static int listed_serial(const uint8_t *serial, size_t len, unsigned n_names, void *arg)
{
	struct supersede_find *f = arg;

	if (++f->visited > VISIT_MAX)
		return 1;
	keep_serial(f->serials, serial, len, n_names);
	return 0;
}

/*
 * The candidates of this requester holding name. Only listed ones are read (entries of
 * certificates revoked, expired or superseded since are dropped): a database created
 * with the lists (DB_META_CANDIDATES) has every certificate issued into it listed, so a
 * pair with no entries has no candidates. On an older database a pair not listed yet is
 * found through the name index once, bounded by VISIT_MAX, and listed then. It is marked
 * listed even when the walk stopped at VISIT_MAX entries: walking again at each issuance
 * cost up to VISIT_MAX record reads every time (a name held by more certificates than
 * that, all requesters together), while what it did not reach are certificates from
 * before the lists, which then get their expiry notice although renewed.
 */
static int find_for_name(struct supersede_find *f, const char *name)
{
	const char *req = f->rec->requester;
	char hex[2 * DB_SERIAL_MAX + 1];
	db_cert_t c;
	size_t i;
	int rc;

	f->visited = 0;
	f->serials->n = 0;
	if (f->complete || notify_candidates_listed(f->txn, req, name)) {
		if ((rc = notify_candidates(f->txn, req, name, listed_serial, f)) != 0)
			return rc;
		for (i = 0; i < f->serials->n; i++) {
			const uint8_t *s = f->serials->v[i].b;
			size_t len = f->serials->v[i].len;

			rc = db_cert_get(f->txn, s, len, &c);
			if (rc == 0 && is_candidate(f, &c, hex)) {
				check_names(f, &c, hex, f->serials->v[i].names);
				continue;
			}
			if (rc != 0 && rc != CAIRN_ENOENT)
				return rc;
			if ((rc = notify_candidate_del(f->txn, req, name, s, len)) != 0)
				return rc;
		}
		return 0;
	}
	rc = db_certs_by_name(f->txn, name, consider, f);
	if (rc < 0)
		return rc;
	for (i = 0; i < f->serials->n; i++)
		if ((rc = notify_candidate_add(f->txn, req, name, f->serials->v[i].b,
					       f->serials->v[i].len, 0)) != 0)
			return rc;
	return notify_candidates_mark_listed(f->txn, req, name);
}

/* 1 when names a are all among names b (both json arrays of strings). */
static int subset(const json_t *a, const json_t *b)
{
	json_t *x, *y;
	size_t i, j;
	int hit;

	json_array_foreach(a, i, x) {
		hit = 0;
		json_array_foreach(b, j, y)
			hit |= strcasecmp(json_string_value(x), json_string_value(y)) == 0;
		if (!hit)
			return 0;
	}
	return 1;
}

/* 1 when another candidate expiring later holds every name of x: x was superseded by
 * that one already (and said so then), not by this issuance. */
static int superseded_before(const json_t *found, const char *xkey, const json_t *x)
{
	const char *key;
	json_t *y;

	json_object_foreach((json_t *)found, key, y)
		if (strcmp(key, xkey) != 0 &&
		    json_integer_value(json_object_get(y, "t")) >
			    json_integer_value(json_object_get(x, "t")) &&
		    subset(json_object_get(x, "names"), json_object_get(y, "names")))
			return 1;
	return 0;
}

int ca_supersede_events(db_txn_t *txn, const db_cert_t *rec, const char *const *names,
			size_t n_names, const char *channel, cairn_err_t *err)
{
	struct supersede_find f = { .txn = txn, .rec = rec, .names = names, .n_names = n_names,
				    .now = (int64_t)time(NULL), .found = json_object(),
				    .complete = db_get(txn, DB_META, DB_META_CANDIDATES,
						       sizeof(DB_META_CANDIDATES) - 1, NULL, NULL) == 0 };
	char hex[2 * DB_SERIAL_MAX + 1];
	const char *key;
	json_t *data, *ev;
	size_t i;
	int rc = 0;

	f.serials = malloc(sizeof(*f.serials));
	f.distinct = malloc((n_names ? n_names : 1) * sizeof(*f.distinct));
	if (f.found == NULL || f.serials == NULL || f.distinct == NULL) {
		json_decref(f.found);
		free(f.serials);
		free(f.distinct);
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	}
	for (i = 0; i < n_names; i++)
		if (!repeats(names, i))
			f.distinct[f.n_distinct++] = names[i];
	/* Every superseded certificate shares a name with the new one: its names are all
	 * here. The new certificate becomes a candidate for the next issuance of each (a
	 * name repeated in another case has the same list). */
	for (i = 0; i < f.n_distinct && rc == 0; i++) {
		rc = find_for_name(&f, f.distinct[i]);
		if (rc == 0)
			rc = notify_candidate_add(txn, rec->requester, f.distinct[i], rec->serial,
						  rec->serial_len, f.n_distinct);
	}
	free(f.serials);
	free(f.distinct);
	rc = rc != 0 ? cairn_err_set(err, rc, "looking for superseded certificates: %s",
				     cairn_strerror(rc))
		     : 0;
	db_serial_hex(rec->serial, rec->serial_len, hex);
	json_object_foreach(f.found, key, data) {
		if (rc != 0)
			break;
		if (superseded_before(f.found, key, data))
			continue;
		if ((ev = json_deep_copy(data)) == NULL) {
			rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
			break;
		}
		json_object_del(ev, "t");
		json_object_set_new(ev, "superseded_by", json_string(hex));
		if (channel != NULL)
			json_object_set_new(ev, "channel", json_string(channel));
		rc = notify_event(txn, "cert.renewed", ev, NULL, err);
		json_decref(ev);
		if (rc == 0 && (rc = notify_superseded(txn, key, hex)) != 0)
			cairn_err_set(err, rc, "recording %s as superseded: %s", key, cairn_strerror(rc));
	}
	json_decref(f.found);
	return rc;
}
