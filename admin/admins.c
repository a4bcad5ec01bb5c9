/* SPDX-License-Identifier: MIT */
/* Admins with roles (DB_ADMINS) and token management: add, disable, list, revoke. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "admin/admin_int.h"
#include "audit/audit.h"
#include "notify/notify.h"
#include "policy/policy.h"

static int name_valid(const char *name)
{
	size_t i, n = name ? strlen(name) : 0;

	if (n == 0 || n > 63)
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '@' || c == '-'))
			return 0;
	}
	return 1;
}

void admin_token_id(const char *token, char out[17])
{
	uint8_t hash[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)token, strlen(token), hash);
	hex_encode(hash, 8, out);
}

/* The admin record of name in txn (new reference) or NULL. */
static json_t *admin_record(db_txn_t *txn, const char *name)
{
	const void *val;
	size_t len;

	if (db_get(txn, DB_ADMINS, name, strlen(name), &val, &len) != 0)
		return NULL;
	return json_loadb(val, len, 0, NULL);
}

static int put_admin(db_txn_t *txn, const char *name, json_t *rec, unsigned flags,
		     cairn_err_t *err)
{
	char *text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	int rc;

	if (text == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	rc = db_put(txn, DB_ADMINS, name, strlen(name), text, strlen(text), flags);
	free(text);
	if (rc == CAIRN_EEXIST)
		return cairn_err_set(err, rc, "admin %s already exists", name);
	if (rc)
		return cairn_err_set(err, rc, "storing admin %s: %s", name, cairn_strerror(rc));
	return 0;
}

int admin_require(db_txn_t *txn, const char *name, const char *role, cairn_err_t *err)
{
	json_t *rec = admin_record(txn, name);
	const char *have;
	int rc = 0;

	if (rec == NULL)
		return cairn_err_set(err, CAIRN_ENOENT,
				     "no admin %s: tokens are only for existing admins "
				     "(add one first with `cairn admin add --name NAME --role ROLE`)",
				     name);
	have = json_string_value(json_object_get(rec, "role"));
	if (json_is_true(json_object_get(rec, "disabled")))
		rc = cairn_err_set(err, CAIRN_EDENIED, "admin %s is disabled", name);
	else if (have == NULL || strcmp(have, role) != 0)
		rc = cairn_err_set(err, CAIRN_ECONFLICT, "admin %s has role %s, not %s", name,
				   have ? have : "?", role);
	json_decref(rec);
	return rc;
}

int admin_check_enabled(db_txn_t *txn, admin_identity_t *id, cairn_err_t *err)
{
	json_t *rec = admin_record(txn, id->name);
	const char *role;
	int rc = 0;

	if (rec == NULL)
		return cairn_err_set(err, CAIRN_EAUTH, "no admin %s", id->name);
	role = json_string_value(json_object_get(rec, "role"));
	if (json_is_true(json_object_get(rec, "disabled")))
		rc = cairn_err_set(err, CAIRN_EAUTH, "admin %s is disabled", id->name);
	else if (role != NULL)
		snprintf(id->role, sizeof(id->role), "%s", role);
	json_decref(rec);
	return rc;
}

int admin_approver_counts(db_txn_t *txn, const char *approver, uint64_t request_seq, void *arg,
			  cairn_err_t *err)
{
	const char *name = approver;
	json_t *rec = NULL;
	json_int_t since;
	int rc = 0;
	(void)arg;

	if (strncmp(name, "admin:", 6) != 0 || (rec = admin_record(txn, name + 6)) == NULL)
		return cairn_err_set(err, CAIRN_EDENIED, "%s is not an admin", approver);
	/* Admins from before creation sequences were kept have none: they predate the request. */
	since = json_integer_value(json_object_get(rec, "created_seq"));
	if (json_is_true(json_object_get(rec, "disabled")))
		rc = cairn_err_set(err, CAIRN_EDENIED, "admin %s is disabled", name + 6);
	else if (since > 0 && (uint64_t)since > request_seq)
		rc = cairn_err_set(err, CAIRN_EDENIED,
				   "admin %s was added after the request was submitted: approvals "
				   "count only from admins who existed before it",
				   name + 6);
	json_decref(rec);
	return rc;
}

int admin_requester_active(db_txn_t *txn, const char *requester, const char *request, void *arg,
                           cairn_err_t *err)
{
	json_t *rec;
	int rc = 0;
	(void)request;
	(void)arg;

	if (strncmp(requester, "admin:", 6) != 0)
		return 0;
	if ((rec = admin_record(txn, requester + 6)) == NULL)
		return cairn_err_set(err, CAIRN_EAUTH, "admin %s is gone", requester + 6);
	if (json_is_true(json_object_get(rec, "disabled")))
		rc = cairn_err_set(err, CAIRN_EAUTH, "admin %s was disabled while the request "
				   "waited", requester + 6);
	json_decref(rec);
	return rc;
}

struct admin_op {
	const char *name, *role, *email, *actor;
	int disable;
};

/* The enabled admins of the admin role, except one (db_iterate over DB_ADMINS). */
struct admins_left {
	const char *except;
	size_t n;
};

static int admins_left_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct admins_left *l = arg;
	json_t *rec;

	if (klen == strlen(l->except) && memcmp(key, l->except, klen) == 0)
		return 0;
	rec = json_loadb(val, vlen, 0, NULL);
	l->n += !json_is_true(json_object_get(rec, "disabled")) &&
		json_is_string(json_object_get(rec, "role")) &&
		strcmp(json_string_value(json_object_get(rec, "role")), "admin") == 0;
	json_decref(rec);
	return 0;
}

/* Nobody administers a CA whose last enabled admin of the admin role is gone: no
 * endpoint re-enables one and no offline command adds one (a backup would have to be
 * restored). So the change that would leave none is refused, read in its own write. */
static int keeps_an_admin(db_txn_t *txn, const char *name, const json_t *rec, cairn_err_t *err)
{
	struct admins_left l = { name, 0 };
	const char *role = json_string_value(json_object_get(rec, "role"));
	int rc;

	if (role == NULL || strcmp(role, "admin") != 0)
		return 0;
	if ((rc = db_iterate(txn, DB_ADMINS, NULL, 0, admins_left_cb, &l)) != 0)
		return cairn_err_set(err, rc, "reading the admins: %s", cairn_strerror(rc));
	if (l.n == 0)
		return cairn_err_set(err, CAIRN_ECONFLICT,
				     "admin %s is the last enabled admin with the admin role: "
				     "nobody could administer the CA without it (add another "
				     "with cairn admin add --role admin first)",
				     name);
	return 0;
}

static int admin_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct admin_op *a = arg;
	json_t *details = json_pack("{s:s, s:s}", "name", a->name, "role", a->role ? a->role : "");
	audit_event_t ev = { a->actor, a->disable ? "admin.disable" : "admin.add", NULL, NULL,
			     details };
	json_t *rec = admin_record(txn, a->name);
	uint64_t seq = 0;
	int rc = 0;

	if (a->disable) {
		if (rec == NULL)
			rc = cairn_err_set(err, CAIRN_ENOENT, "no admin %s", a->name);
		else if (json_is_true(json_object_get(rec, "disabled")))
			rc = cairn_err_set(err, CAIRN_ECONFLICT, "admin %s is already disabled",
					   a->name);
		else if ((rc = keeps_an_admin(txn, a->name, rec, err)) == 0)
			json_object_set_new(rec, "disabled", json_true());
	} else if (rec != NULL) {
		rc = cairn_err_set(err, CAIRN_EEXIST, "admin %s already exists", a->name);
	} else {
		rec = json_pack("{s:s, s:s, s:b, s:I, s:s*}", "name", a->name, "role", a->role,
				"disabled", 0, "created", (json_int_t)time(NULL), "email", a->email);
		rc = rec ? 0 : CAIRN_ENOMEM;
	}
	/* The event's sequence dates the admin: approvals count only on requests after it. */
	if (rc == 0)
		rc = audit_append(txn, &ev, &seq, err);
	if (rc == 0 && !a->disable)
		json_object_set_new(rec, "created_seq", json_integer((json_int_t)seq));
	if (rc == 0)
		rc = put_admin(txn, a->name, rec, a->disable ? 0 : DB_NOOVERWRITE, err);
	json_decref(rec);
	json_decref(details);
	return rc;
}

int admin_add(db_t *db, const char *name, const char *role, const char *email, const char *actor,
	      cairn_err_t *err)
{
	struct admin_op a = { name, role, email, actor, 0 };

	if (!name_valid(name))
		return cairn_err_set(err, CAIRN_EINVAL,
				     "admin name must be 1..63 of A-Z a-z 0-9 . _ @ -");
	if (role == NULL || !admin_role_valid(role))
		return cairn_err_set(err, CAIRN_EINVAL,
				     "role must be admin, approver, operator or auditor");
	if (email != NULL && !notify_address_ok(email))
		return cairn_err_set(err, CAIRN_EINVAL, "e-mail address must be one user@host");
	return db_write(db, admin_op, &a, err);
}

int admin_disable(db_t *db, const char *name, const char *actor, cairn_err_t *err)
{
	struct admin_op a = { name, NULL, NULL, actor, 1 };

	if (!name_valid(name))
		return cairn_err_set(err, CAIRN_ENOENT, "no admin %s", name ? name : "");
	return db_write(db, admin_op, &a, err);
}

int admin_get(db_t *db, const char *name, admin_identity_t *id, int *disabled)
{
	db_txn_t *txn = NULL;
	json_t *rec;

	if (db_read_begin(db, &txn) != 0)
		return CAIRN_EDB;
	rec = name_valid(name) ? admin_record(txn, name) : NULL;
	db_txn_end(txn);
	if (rec == NULL)
		return CAIRN_ENOENT;
	snprintf(id->name, sizeof(id->name), "%s", name);
	snprintf(id->role, sizeof(id->role), "%s",
		 json_string_value(json_object_get(rec, "role")) ?: "");
	*disabled = json_is_true(json_object_get(rec, "disabled"));
	json_decref(rec);
	return 0;
}

static int collect_json(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	json_t *rec = json_loadb(val, vlen, 0, NULL);
	char id[17];

	if (rec == NULL)
		return 0;
	if (klen == SHA256_DIGEST_LENGTH) { /* a token: the id is its hash prefix */
		hex_encode(key, 8, id);
		json_object_set_new(rec, "id", json_string(id));
	}
	json_array_append_new(arg, rec);
	return 0;
}

static json_t *list_table(db_t *db, db_table_t t)
{
	json_t *arr = json_array();
	db_txn_t *txn = NULL;

	if (arr == NULL || db_read_begin(db, &txn) != 0) {
		json_decref(arr);
		return NULL;
	}
	db_iterate(txn, t, NULL, 0, collect_json, arr);
	db_txn_end(txn);
	return arr;
}

json_t *admin_list(db_t *db)
{
	return list_table(db, DB_ADMINS);
}

json_t *admin_token_list(db_t *db)
{
	return list_table(db, DB_TOKENS);
}

struct revoke_op {
	uint8_t prefix[8];
	const char *id, *actor;
};

struct find_token {
	const uint8_t *prefix;
	uint8_t key[SHA256_DIGEST_LENGTH];
	int found;
};

static int find_token_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct find_token *f = arg;
	(void)val;
	(void)vlen;

	if (klen == SHA256_DIGEST_LENGTH && memcmp(key, f->prefix, 8) == 0) {
		memcpy(f->key, key, sizeof(f->key));
		f->found = 1;
		return 1;
	}
	return 0;
}

static int revoke_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct revoke_op *r = arg;
	struct find_token f = { r->prefix, { 0 }, 0 };
	json_t *rec = NULL, *details = NULL;
	audit_event_t ev = { r->actor, "admin.token.revoke", NULL, NULL, NULL };
	const void *val;
	size_t len;
	char *text = NULL;
	int rc;

	db_iterate(txn, DB_TOKENS, r->prefix, sizeof(r->prefix), find_token_cb, &f);
	if (!f.found || db_get(txn, DB_TOKENS, f.key, sizeof(f.key), &val, &len) != 0 ||
	    (rec = json_loadb(val, len, 0, NULL)) == NULL)
		return cairn_err_set(err, CAIRN_ENOENT, "no token %s", r->id);
	if (json_is_true(json_object_get(rec, "revoked"))) {
		rc = cairn_err_set(err, CAIRN_ECONFLICT, "token %s is already revoked", r->id);
		goto out;
	}
	json_object_set_new(rec, "revoked", json_true());
	text = json_dumps(rec, JSON_COMPACT);
	rc = text ? db_put(txn, DB_TOKENS, f.key, sizeof(f.key), text, strlen(text), 0)
		  : CAIRN_ENOMEM;
	if (rc) {
		cairn_err_set(err, rc, "revoking token %s: %s", r->id, cairn_strerror(rc));
		goto out;
	}
	details = json_pack("{s:s, s:s}", "id", r->id, "name",
			    json_string_value(json_object_get(rec, "name")) ?: "");
	ev.details = details;
	rc = audit_append(txn, &ev, NULL, err);
out:
	free(text);
	json_decref(details);
	json_decref(rec);
	return rc;
}

int admin_token_revoke(db_t *db, const char *id, const char *actor, cairn_err_t *err)
{
	struct revoke_op r = { { 0 }, id, actor };

	if (id == NULL || strlen(id) != 16 || hex_decode(id, r.prefix, sizeof(r.prefix)) != 8)
		return cairn_err_set(err, CAIRN_ENOENT, "no token %s (ids are 16 hex digits)",
				     id ? id : "");
	return db_write(db, revoke_op, &r, err);
}

int admin_owner_address(db_t *db, const char *requester, json_t *into)
{
	db_txn_t *txn = NULL;
	json_t *rec = NULL;
	const char *email;
	int rc = CAIRN_ENOENT;

	if (requester == NULL || strncmp(requester, "admin:", 6) != 0 || !name_valid(requester + 6) ||
	    db_read_begin(db, &txn) != 0)
		return CAIRN_ENOENT;
	rec = admin_record(txn, requester + 6);
	db_txn_end(txn);
	email = json_string_value(json_object_get(rec, "email"));
	if (email != NULL && notify_address_ok(email) &&
	    !json_is_true(json_object_get(rec, "disabled"))) {
		json_array_append_new(into, json_string(email));
		rc = 0;
	}
	json_decref(rec);
	return rc;
}

struct approver_walk {
	db_txn_t *txn;
	const char *approver_role, *requester;
	uint64_t request_seq;
	json_t *into;
	size_t added;
};

static int approver_iter(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct approver_walk *w = arg;
	json_t *rec = json_loadb(val, vlen, 0, NULL);
	const char *email = json_string_value(json_object_get(rec, "email"));
	const char *role = json_string_value(json_object_get(rec, "role"));
	char actor[80];
	cairn_err_t err = { 0 };

	snprintf(actor, sizeof(actor), "admin:%.*s", (int)(klen < 63 ? klen : 63), (const char *)key);
	/* The same tests an approval meets: role, not one's own request, enabled, older. */
	if (email != NULL && role != NULL && notify_address_ok(email) &&
	    policy_role_may_decide(w->approver_role, role) && strcmp(actor, w->requester) != 0 &&
	    admin_approver_counts(w->txn, actor, w->request_seq, NULL, &err) == 0) {
		json_array_append_new(w->into, json_string(email));
		w->added++;
	}
	json_decref(rec);
	return 0;
}

size_t admin_approver_addresses(db_t *db, const char *approver_role, const char *requester,
				uint64_t request_seq, json_t *into)
{
	struct approver_walk w = { NULL, approver_role ? approver_role : "", requester ? requester : "",
				   request_seq, into, 0 };

	if (db_read_begin(db, &w.txn) != 0)
		return 0;
	(void)db_iterate(w.txn, DB_ADMINS, NULL, 0, approver_iter, &w);
	db_txn_end(w.txn);
	return w.added;
}
