/* SPDX-License-Identifier: MIT */
/* The certificate search the admin API and `cairn list` share: which index a set of filters walks, and the filters that index does not apply. */
#include <string.h>

#include <jansson.h>

#include "db/db_int.h"

const char *db_search_requester_invalid(const char *r)
{
	json_t *utf8;

	if (strlen(r) >= sizeof(((db_cert_t *)0)->requester))
		return "a requester is at most 127 bytes";
	if (r[0] == '\0' || (utf8 = json_string(r)) == NULL) /* jansson checks UTF-8 */
		return "a requester is a non-empty UTF-8 text (e.g. admin:NAME, acme:acct/N, "
		       "est:USER)";
	json_decref(utf8);
	return NULL;
}

char db_search_kind(const db_search_t *q)
{
	if (q->name != NULL)
		return DB_SEARCH_NAME;
	if (q->window)
		return DB_SEARCH_EXPIRY;
	if (q->requester != NULL)
		return DB_SEARCH_REQUESTER;
	return DB_SEARCH_ALL;
}

struct filter {
	const db_search_t *q;
	char kind;
	db_cert_fn fn;
	void *arg;
};

/* The rows of the walked index that the other filters keep. */
static int filter_cb(const db_cert_t *c, void *arg)
{
	const struct filter *f = arg;

	if (f->kind != DB_SEARCH_REQUESTER && f->q->requester != NULL &&
	    strcmp(c->requester, f->q->requester) != 0)
		return 0;
	if (f->kind != DB_SEARCH_EXPIRY && f->q->window &&
	    (c->not_after < f->q->from || c->not_after >= f->q->until))
		return 0;
	return f->fn(c, f->arg);
}

int db_certs_search_at(db_txn_t *txn, const db_search_t *q, db_cursor_t *pos, db_cert_fn fn,
		       void *arg)
{
	struct filter f = { q, 0, fn, arg };

	if (q == NULL || fn == NULL)
		return CAIRN_EINVAL;
	switch ((f.kind = db_search_kind(q))) {
	case DB_SEARCH_NAME:
		return db_certs_by_name_at(txn, q->name, pos, filter_cb, &f);
	case DB_SEARCH_EXPIRY:
		return db_certs_by_expiry_at(txn, q->from, q->until, pos, filter_cb, &f);
	case DB_SEARCH_REQUESTER:
		return db_certs_by_requester_at(txn, q->requester, pos, filter_cb, &f);
	default:
		return db_certs_all_at(txn, pos, filter_cb, &f);
	}
}
