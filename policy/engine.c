/* SPDX-License-Identifier: MIT */
/* The policy engine: the policy in force, its reload and explanations, and the audit helper (the issuance path is submit.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "policy/policy_int.h"

#define POLICY_MAX_FILE (1024 * 1024)
#define DEFAULT_TTL (7 * 86400)

static int ca_knows(const char *name, const void *ca)
{
	return ca_profile(ca, name) != NULL;
}

/* Reads and parses the file, checked against ca's profiles; on success *p and *text are
 * new. */
static int load_file(ca_t *ca, const char *path, policy_t **p, char **text, cairn_err_t *err)
{
	size_t len;
	int rc;

	*p = NULL;
	*text = NULL;
	rc = fs_read(path, POLICY_MAX_FILE, text, &len);
	if (rc)
		return cairn_err_set(err, rc == CAIRN_ENOENT ? CAIRN_ENOENT : CAIRN_ECONFIG,
				     "policy file %s: %s", path, cairn_strerror(rc));
	rc = policy_parse(*text, len, p, err);
	if (rc == 0 && (rc = policy_check_profiles(*p, ca_knows, ca, err)) != 0) {
		policy_free(*p);
		*p = NULL;
	}
	if (rc) {
		if (err != NULL) {
			char msg[sizeof(err->msg)];
			snprintf(msg, sizeof(msg), "%s", err->msg);
			cairn_err_set(err, rc, "policy file %s: %s", path, msg);
		}
		free(*text);
		*text = NULL;
	}
	return rc;
}

int policy_engine_new(ca_t *ca, db_t *db, const char *policy_path, int64_t pending_ttl,
		      policy_engine_t **out, cairn_err_t *err)
{
	policy_engine_t *e;
	int rc;

	*out = NULL;
	if (ca == NULL || db == NULL || policy_path == NULL || pending_ttl < 0)
		return cairn_err_set(err, CAIRN_EINVAL, "policy engine: missing argument");
	e = calloc(1, sizeof(*e));
	if (e == NULL || (e->path = strdup(policy_path)) == NULL) {
		free(e);
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	}
	e->ca = ca;
	e->db = db;
	e->ttl = pending_ttl ? pending_ttl : DEFAULT_TTL;
	rc = load_file(ca, policy_path, &e->policy, &e->text, err);
	if (rc) {
		free(e->path);
		free(e);
		return rc;
	}
	pthread_rwlock_init(&e->lock, NULL);
	pthread_mutex_init(&e->decide, NULL);
	*out = e;
	return 0;
}

void policy_engine_free(policy_engine_t *e)
{
	if (e == NULL)
		return;
	policy_expiry_stop(e);
	pthread_rwlock_destroy(&e->lock);
	pthread_mutex_destroy(&e->decide);
	policy_free(e->policy);
	free(e->text);
	free(e->path);
	free(e);
}

int policy_engine_reload_as(policy_engine_t *e, const char *actor, cairn_err_t *err)
{
	policy_t *p = NULL, *old;
	char *text = NULL, *old_text;
	json_t *details;
	int rc;

	if (e == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "no policy engine");
	rc = load_file(e->ca, e->path, &p, &text, err);
	if (rc) {
		/* The error quotes the file's values cut by bytes, and the path is the
		 * file system's: util_json_text keeps both, so the event says why. */
		details = json_pack("{s:o, s:o}", "file", util_json_text(e->path), "error",
				    util_json_text(cairn_err_msg(err)));
		(void)policy_audit(e->db, actor, "policy.reload_failed", NULL, NULL, details, NULL);
		json_decref(details);
		return rc;
	}
	pthread_rwlock_wrlock(&e->lock);
	old = e->policy;
	old_text = e->text;
	e->policy = p;
	e->text = text;
	atomic_fetch_add(&e->generation, 1);
	pthread_rwlock_unlock(&e->lock);
	policy_free(old);
	free(old_text);
	details = json_pack("{s:o}", "file", util_json_text(e->path));
	rc = policy_audit(e->db, actor, "policy.reload", NULL, NULL, details, err);
	json_decref(details);
	return rc;
}

int policy_engine_reload(policy_engine_t *e, cairn_err_t *err)
{
	return policy_engine_reload_as(e, "server:reload", err);
}

char *policy_engine_text(policy_engine_t *e)
{
	char *copy;

	if (e == NULL)
		return NULL;
	pthread_rwlock_rdlock(&e->lock);
	copy = strdup(e->text);
	pthread_rwlock_unlock(&e->lock);
	return copy;
}

void policy_engine_explain(policy_engine_t *e, const policy_input_t *in, policy_explain_fn fn,
			   void *arg, policy_decision_t *out)
{
	if (e == NULL) { /* no engine: nothing is allowed */
		policy_explain(NULL, in, fn, arg, out);
		return;
	}
	pthread_rwlock_rdlock(&e->lock);
	policy_explain(e->policy, in, fn, arg, out);
	pthread_rwlock_unlock(&e->lock);
}

uint64_t policy_engine_decide(policy_engine_t *e, const policy_input_t *in,
			      policy_decision_t *out)
{
	uint64_t generation;

	pthread_rwlock_rdlock(&e->lock);
	policy_explain(e->policy, in, NULL, NULL, out);
	generation = atomic_load(&e->generation);
	pthread_rwlock_unlock(&e->lock);
	return generation;
}

uint64_t policy_engine_generation(policy_engine_t *e)
{
	return atomic_load(&e->generation);
}

struct audit_op {
	const audit_event_t *ev;
};

static int audit_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct audit_op *a = arg;

	return audit_append(txn, a->ev, NULL, err);
}

int policy_audit(db_t *db, const char *actor, const char *action, const char *serial,
		 json_t *names, json_t *details, cairn_err_t *err)
{
	audit_event_t ev = { actor, action, serial, names, details };
	struct audit_op a = { &ev };

	return db_write(db, audit_op, &a, err);
}
