/* SPDX-License-Identifier: MIT */
/* Console sessions: an API token or admin certificate exchanged once for a cookie, kept in memory. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "admin/admin_int.h"
#include "audit/audit.h"

#define SESSION_ID_BYTES 32
#define SESSION_CSRF_BYTES 32

typedef struct session {
	uint8_t id_hash[SHA256_DIGEST_LENGTH]; /* SHA-256 of the cookie value; all zero = free */
	char csrf[2 * SESSION_CSRF_BYTES + 1];
	char name[64];
	char via[16]; /* how the session was opened: "token" | "certificate" */
	uint8_t cred[32]; /* the token's SHA-256 or the certificate's serial (admin_identity_t) */
	size_t cred_len;
	int64_t created, expires;
} session_t;

struct admin_sessions {
	pthread_mutex_t lock;
	size_t cap;
	session_t *slots;
};

admin_sessions_t *admin_sessions_new(size_t cap)
{
	admin_sessions_t *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->slots = calloc(cap, sizeof(session_t))) == NULL) {
		free(s);
		return NULL;
	}
	s->cap = cap;
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

void admin_sessions_free(admin_sessions_t *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s->slots, s->cap * sizeof(session_t));
	free(s->slots);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static int slot_free(const session_t *e)
{
	static const uint8_t zero[SHA256_DIGEST_LENGTH];
	return memcmp(e->id_hash, zero, sizeof(zero)) == 0;
}

/* The session cookie's value in a Cookie header ("a=b; c=d"), copied to out; 0 or -1. */
static int cookie_value(const char *header, char *out, size_t cap)
{
	const char *p = header;
	size_t nlen = strlen(ADMIN_SESSION_COOKIE), vlen;

	while (p != NULL && *p != '\0') {
		p += strspn(p, " \t;");
		if (strncmp(p, ADMIN_SESSION_COOKIE, nlen) == 0 && p[nlen] == '=') {
			p += nlen + 1;
			vlen = strcspn(p, "; \t");
			if (vlen == 0 || vlen >= cap)
				return -1;
			memcpy(out, p, vlen);
			out[vlen] = '\0';
			return 0;
		}
		p = strchr(p, ';');
	}
	return -1;
}

/* The slot of the live session named by the request's cookie, under s->lock; NULL if none.
 * Expired sessions met on the way are dropped. */
static session_t *find_locked(admin_sessions_t *s, const char *cookie, int64_t now)
{
	uint8_t h[SHA256_DIGEST_LENGTH];
	char value[2 * SESSION_ID_BYTES + 8];
	session_t *hit = NULL;
	size_t i;

	if (cookie == NULL || cookie_value(cookie, value, sizeof(value)) != 0)
		return NULL;
	SHA256((const unsigned char *)value, strlen(value), h);
	for (i = 0; i < s->cap; i++) {
		session_t *e = &s->slots[i];
		if (slot_free(e))
			continue;
		/* made after now: the clock went back since, and the session would outlast
		 * its lifetime by as much */
		if (e->expires <= now || time_ahead(e->created, now)) {
			OPENSSL_cleanse(e, sizeof(*e));
			continue;
		}
		if (CRYPTO_memcmp(e->id_hash, h, sizeof(h)) == 0)
			hit = e;
	}
	return hit;
}

/* Copies the live session the cookie names into out (and forgets it when forget is set).
 * Returns 0, or -1 when there is none (no store, unknown, expired or signed out). */
static int session_copy(admin_sessions_t *s, const char *cookie, session_t *out, int forget)
{
	session_t *e;

	if (s == NULL)
		return -1;
	pthread_mutex_lock(&s->lock);
	e = find_locked(s, cookie, (int64_t)time(NULL));
	if (e != NULL) {
		*out = *e;
		if (forget)
			OPENSSL_cleanse(e, sizeof(*e));
	}
	pthread_mutex_unlock(&s->lock);
	return e != NULL ? 0 : -1;
}

static int via_session(const admin_identity_t *who)
{
	return who->via != NULL && strcmp(who->via, "session") == 0;
}

int admin_session_cookie_present(const char *cookie)
{
	char value[2 * SESSION_ID_BYTES + 8];
	return cookie != NULL && cookie_value(cookie, value, sizeof(value)) == 0;
}

static int safe_method(const char *m)
{
	return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

int admin_session_identify(const admin_ctx_t *ctx, const admin_request_t *req,
			   admin_identity_t *id, cairn_err_t *err)
{
	session_t e;
	size_t n;
	int rc, csrf_ok = 1;

	if (session_copy(ctx->sessions, req->cookie, &e, 0) != 0)
		return cairn_err_set(err, CAIRN_EAUTH, "session expired or signed out: sign in again");
	/* A cookie rides along with any request the browser makes, a cross-site one too: a
	 * change needs the session's CSRF token in a header, which only our own pages can read. */
	if (!safe_method(req->method)) {
		n = strlen(e.csrf);
		csrf_ok = req->csrf_token != NULL && strlen(req->csrf_token) == n &&
			  CRYPTO_memcmp(req->csrf_token, e.csrf, n) == 0;
	}
	OPENSSL_cleanse(e.csrf, sizeof(e.csrf));
	if (!csrf_ok)
		return cairn_err_set(err, CAIRN_EDENIED, "missing or wrong " ADMIN_CSRF_HEADER " header");
	/* What made the session is checked again on every call: revoking the token or the
	 * certificate, or disabling the admin, ends its sessions at once. */
	memset(id, 0, sizeof(*id));
	rc = strcmp(e.via, "certificate") == 0
		     ? admin_cert_serial_check(ctx, e.cred, e.cred_len, e.name, id, err)
		     : admin_token_check_hash(ctx->db, e.cred, id, err);
	OPENSSL_cleanse(&e, sizeof(e));
	/* A session ends, it does not pause: once its token, certificate or admin is refused,
	 * releasing a hold or re-enabling the admin must not bring it back. */
	if (rc == CAIRN_EAUTH)
		(void)session_copy(ctx->sessions, req->cookie, &e, 1);
	OPENSSL_cleanse(&e, sizeof(e));
	if (rc != 0)
		return rc;
	id->via = "session";
	return 0;
}

struct session_event {
	const char *actor, *action, *via, *remote;
	int64_t expires;
};

static int session_event_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct session_event *se = arg;
	char when[32];
	json_t *details;
	audit_event_t ev = { .actor = se->actor, .action = se->action };
	int rc;

	time_rfc3339((time_t)se->expires, when, sizeof(when));
	details = json_pack("{s:s, s:s, s:o}", "via", se->via, "expires", when, "remote",
			    util_json_text(se->remote));
	if (details == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	ev.details = details;
	rc = audit_append(txn, &ev, NULL, err);
	json_decref(details);
	return rc;
}

void admin_session_cookie_clear(http_reply_t *reply)
{
	(void)http_reply_header(reply, "Set-Cookie",
				"%s=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict",
				ADMIN_SESSION_COOKIE);
}

static void set_cookie(http_reply_t *reply, const char *value, long max_age)
{
	if (http_reply_header(reply, "Set-Cookie",
			      "%s=%s; Path=/; Max-Age=%ld; Secure; HttpOnly; SameSite=Strict",
			      ADMIN_SESSION_COOKIE, value, max_age) != 0)
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "cannot set the cookie");
}

static json_t *session_doc(const admin_identity_t *who, const char *csrf, int64_t expires)
{
	char when[32];

	time_rfc3339((time_t)expires, when, sizeof(when));
	return json_pack("{s:s, s:s, s:s?, s:s?, s:s}", "name", who->name, "role", who->role,
			 "csrf_token", csrf, "expires", expires ? when : NULL, "via",
			 who->via ? who->via : "token");
}

/* Under s->lock: the oldest session of admin name when it holds ADMIN_SESSIONS_PER_ADMIN
 * already (its next sign-in takes that slot), else NULL. */
static session_t *own_oldest_locked(admin_sessions_t *s, const char *name, int64_t now)
{
	session_t *oldest = NULL;
	size_t i, n = 0;

	for (i = 0; i < s->cap; i++) {
		session_t *e = &s->slots[i];
		if (slot_free(e) || e->expires <= now || strcmp(e->name, name) != 0)
			continue;
		n++;
		if (oldest == NULL || e->expires < oldest->expires)
			oldest = e;
	}
	return n >= ADMIN_SESSIONS_PER_ADMIN ? oldest : NULL;
}

/* POST /session: the caller (token or admin certificate) gets a session cookie. */
void api_session_create(const admin_ctx_t *ctx, const admin_request_t *req,
			const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	admin_sessions_t *s = ctx->sessions;
	uint8_t raw[SESSION_ID_BYTES], rawc[SESSION_CSRF_BYTES];
	char value[2 * SESSION_ID_BYTES + 1], actor[96];
	session_t fresh = { 0 }, *slot = NULL, *own;
	int64_t now = (int64_t)time(NULL);
	long life = ctx->session_lifetime > 0 ? ctx->session_lifetime : ADMIN_SESSION_LIFETIME;
	struct session_event se;
	cairn_err_t err = { 0 };
	json_t *doc;
	size_t i;
	(void)arg;

	if (s == NULL) {
		http_reply_problem(reply, 503, PROBLEM("serverInternal"), "console sessions are off");
		return;
	}
	if (via_session(who)) {
		http_reply_problem(reply, 409, PROBLEM("conflict"), "already signed in");
		return;
	}
	if (util_random(raw, sizeof(raw)) != 0 || util_random(rawc, sizeof(rawc)) != 0) {
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "no randomness");
		return;
	}
	hex_encode(raw, sizeof(raw), value);
	hex_encode(rawc, sizeof(rawc), fresh.csrf);
	SHA256((const unsigned char *)value, strlen(value), fresh.id_hash);
	snprintf(fresh.name, sizeof(fresh.name), "%s", who->name);
	snprintf(fresh.via, sizeof(fresh.via), "%s", who->via ? who->via : "token");
	fresh.created = now;
	fresh.expires = now + life;
	if (who->cred_len == 0 || who->cred_len > sizeof(fresh.cred)) {
		http_reply_problem(reply, 500, PROBLEM("serverInternal"), "no credential to bind");
		goto out;
	}
	memcpy(fresh.cred, who->cred, who->cred_len);
	fresh.cred_len = who->cred_len;

	api_actor(who, actor, sizeof(actor));
	se = (struct session_event){ actor, "admin.session.create", fresh.via, req->remote,
				     fresh.expires };
	if (db_write(ctx->db, session_event_op, &se, &err) != 0) {
		api_reply_error(reply, &err);
		goto out;
	}
	pthread_mutex_lock(&s->lock);
	(void)find_locked(s, NULL, now);
	own = own_oldest_locked(s, fresh.name, now);
	for (i = 0; own == NULL && i < s->cap; i++) {
		session_t *e = &s->slots[i];
		if (slot_free(e) || e->expires <= now) {
			slot = e;
			break;
		}
		/* Full: the session closest to its end gives way. */
		if (slot == NULL || e->expires < slot->expires)
			slot = e;
	}
	*(own != NULL ? own : slot) = fresh;
	pthread_mutex_unlock(&s->lock);

	doc = session_doc(who, fresh.csrf, fresh.expires);
	http_reply_json(reply, 201, NULL, doc);
	json_decref(doc);
	set_cookie(reply, value, life);
	log_info("admin", "console session for %s (%s)", actor, fresh.via);
out:
	OPENSSL_cleanse(&fresh, sizeof(fresh));
	OPENSSL_cleanse(value, sizeof(value));
	OPENSSL_cleanse(raw, sizeof(raw));
}

/* GET /session: who is signed in; a session caller also gets its CSRF token back. */
void api_session_show(const admin_ctx_t *ctx, const admin_request_t *req,
		      const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	session_t e = { 0 };
	int have = via_session(who) && session_copy(ctx->sessions, req->cookie, &e, 0) == 0;
	json_t *doc = session_doc(who, have ? e.csrf : NULL, have ? e.expires : 0);
	(void)arg;

	http_reply_json(reply, 200, NULL, doc);
	json_decref(doc);
	OPENSSL_cleanse(&e, sizeof(e));
}

/* DELETE /session: signs out (the session is forgotten, the cookie cleared). */
void api_session_delete(const admin_ctx_t *ctx, const admin_request_t *req,
			const admin_identity_t *who, const char *arg, http_reply_t *reply)
{
	struct session_event se;
	cairn_err_t err = { 0 };
	char actor[96];
	session_t e = { 0 };
	json_t *doc;
	(void)arg;

	if (!via_session(who) || session_copy(ctx->sessions, req->cookie, &e, 1) != 0) {
		http_reply_problem(reply, 409, PROBLEM("conflict"), "not signed in with a session");
		return;
	}
	api_actor(who, actor, sizeof(actor));
	se = (struct session_event){ actor, "admin.session.delete", e.via, req->remote,
				     (int64_t)time(NULL) };
	if (db_write(ctx->db, session_event_op, &se, &err) != 0)
		log_warn("admin", "audit of sign-out by %s failed: %s", actor, cairn_err_msg(&err));
	OPENSSL_cleanse(&e, sizeof(e));
	doc = json_pack("{s:s}", "status", "signed out");
	http_reply_json(reply, 200, NULL, doc);
	json_decref(doc);
	admin_session_cookie_clear(reply);
}
