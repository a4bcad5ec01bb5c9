/* SPDX-License-Identifier: MIT */
/* Who is asking: EST client certificates (only those issued for EST clients, on the label they were issued on), HTTP Basic accounts bound to labels, failure limits, logins kept per TLS connection. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "audit/audit.h"
#include "est/est_int.h"

void est_shown(const char *s, size_t n, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < n && o + 5 <= cap; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	if (cap > 0)
		out[o < cap ? o : cap - 1] = '\0';
}

void est_conn_free(est_conn_t *conn)
{
	if (conn == NULL)
		return;
	OPENSSL_cleanse(conn, sizeof(*conn));
	free(conn);
}

/* The serial of c's client certificate into serial: its length, or 0 when it has none
 * that could be stored. */
static size_t peer_serial(const est_call_t *c, uint8_t serial[DB_SERIAL_MAX])
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(c->peer);
	int len = ASN1_STRING_length(sn);

	if (len <= 0 || len > DB_SERIAL_MAX)
		return 0;
	memcpy(serial, ASN1_STRING_get0_data(sn), (size_t)len);
	return (size_t)len;
}

/* In txn: c's client certificate is stored under its serial with exactly its bytes,
 * valid, unexpired, and its key is not blocked by a keyCompromise revocation of another
 * certificate (whoever holds the key may not be the device). 0 with rec filled, or
 * CAIRN_EAUTH; blocked says why when the key is blocked, else "". */
static int peer_current(db_txn_t *txn, const est_call_t *c, db_cert_t *rec, char *blocked,
			size_t cap)
{
	uint8_t serial[DB_SERIAL_MAX];
	size_t len = peer_serial(c, serial);

	blocked[0] = '\0';
	if (len == 0 || db_cert_get(txn, serial, len, rec) != 0 ||
	    rec->der_len != c->req->peer_cert_len ||
	    memcmp(rec->der, c->req->peer_cert, rec->der_len) != 0 ||
	    rec->status != DB_CERT_VALID || rec->not_after <= (int64_t)time(NULL))
		return CAIRN_EAUTH;
	/* Hashed once per request (check_peer), not again in the writer's re-check. */
	if (!c->peer_spki_ok) {
		snprintf(blocked, cap, "its key cannot be read");
		return CAIRN_EAUTH;
	}
	if (ca_spki_compromised(txn, c->peer_spki, blocked, cap)) {
		if (blocked[0] == '\0')
			snprintf(blocked, cap, "compromised");
		return CAIRN_EAUTH;
	}
	return 0;
}

/* Is the verified TLS client certificate one of ours, current, not revoked, and its
 * key not compromised? Fills the peer fields of c (and the requester: the device by
 * its subject). */
static void check_peer(est_call_t *c)
{
	const unsigned char *p = c->req->peer_cert;
	uint8_t serial[DB_SERIAL_MAX];
	db_txn_t *txn = NULL;
	db_cert_t rec;
	char *subj = NULL;
	size_t len;

	/* One of this CA's stored certificates or nothing (peer_current compares its bytes with
	 * the record): the stored certificates' decoder, ~20 µs, not d2i_X509's ~110. */
	c->peer = ca_cert_d2i(&p, (long)c->req->peer_cert_len);
	if (c->peer == NULL || (len = peer_serial(c, serial)) == 0)
		return;
	c->peer_spki_ok = ca_spki_sha256(c->peer, c->peer_spki) == 0;
	db_serial_hex(serial, len, c->peer_serial);
	if (db_read_begin(c->e->db, &txn) != 0)
		return;
	if (peer_current(txn, c, &rec, c->peer_blocked, sizeof(c->peer_blocked)) == 0) {
		c->peer_ok = 1;
		snprintf(c->peer_profile, sizeof(c->peer_profile), "%.*s",
			 (int)sizeof(rec.profile), rec.profile);
		snprintf(c->peer_requester, sizeof(c->peer_requester), "%.*s",
			 (int)sizeof(rec.requester), rec.requester);
		if (est_cert_label_get(txn, c->peer_serial, c->peer_label) != 0)
			c->peer_label[0] = '\0';
	}
	db_txn_end(txn);
	/* The requester names the device by its subject in RFC 2253 form ("CN=device-1"). */
	if ((subj = ca_dn_text(X509_get_subject_name(c->peer))) != NULL)
		snprintf(c->requester, sizeof(c->requester), "est:cert/%s", subj);
	free(subj);
}

int est_caller_recheck(db_txn_t *txn, const est_call_t *c, cairn_err_t *err)
{
	est_user_info_t now;
	db_cert_t rec;
	char blocked[160];

	if (c->by_cert) {
		if (peer_current(txn, c, &rec, blocked, sizeof(blocked)) == 0)
			return 0;
		return cairn_err_set(err, CAIRN_EAUTH, "client certificate %s %s now",
				     c->peer_serial, blocked[0] ? "has its key blocked" :
				     "is not a current certificate of this CA");
	}
	if (est_user_get_txn(txn, c->requester + 9, &now) != 0 ||
	    !util_ct_equal(now.tag, c->user_tag, sizeof(now.tag)))
		return cairn_err_set(err, CAIRN_EAUTH, "EST user %s was deleted or its password "
				     "changed", c->requester + 9);
	return 0;
}

static int profile_listed(const est_label_t *l, const char *profile)
{
	size_t i;

	for (i = 0; i < l->n_client_cert_profiles; i++)
		if (strcmp(l->client_cert_profiles[i], profile) == 0)
			return 1;
	return 0;
}

/*
 * May an EST certificate with no label recorded (issued before labels were recorded, or
 * approved and not yet collected through EST) act on this label? Only when its requester
 * names an account ("est:user/NAME") that may use the label: the account's own
 * confinement. A certificate renewed by certificate ("est:cert/...") names no account:
 * never. Returns 1, or 0 with why.
 */
static int unrecorded_counts(const est_call_t *c, char *why, size_t cap)
{
	const char *req = c->peer_requester;
	est_user_info_t info;

	if (strncmp(req, "est:user/", 9) == 0 && est_user_get(c->e->db, req + 9, &info) == 0 &&
	    est_user_may_use(&info, c->label->name, c->e->set.default_label))
		return 1;
	if (strncmp(req, "est:user/", 9) == 0)
		snprintf(why, cap, "client certificate %s was issued through EST with no label "
			 "recorded, and its account %s may not use label %s", c->peer_serial,
			 req + 9, c->label->name);
	else
		snprintf(why, cap, "client certificate %s was issued through EST with no label "
			 "recorded, and names no account (%s): enroll afresh with an account",
			 c->peer_serial, req);
	return 0;
}

/*
 * Does the (current, ours) client certificate authenticate an EST client on this
 * label? A certificate issued through EST only on the label it was issued on (so a
 * device keeps that label's policy group, approvals, serverkeygen and validity, and
 * an account its labels; unrecorded_counts for one with no label recorded), whatever
 * client_cert_profiles say; one from another channel only where the label lists its
 * profile in client_cert_profiles; never ACME's, never those `cairn init` made (the
 * daemon's HTTPS certificate: its key is a file), never admin ones. simpleenroll and
 * serverkeygen also need the label's profile to be the certificate's (or listed): a
 * device does not get other EKUs when a label's profile changed. Returns 1, or 0 with why.
 */
static int peer_counts(const est_call_t *c, int reenroll, char *why, size_t cap)
{
	const est_label_t *l = c->label;
	const char *req = c->peer_requester, *prof = c->peer_profile;
	int listed = profile_listed(l, prof), est = strncmp(req, "est:", 4) == 0;

	if (strncmp(req, "acme:", 5) == 0)
		snprintf(why, cap, "client certificate %s was issued through ACME: it does not "
			 "authenticate EST clients", c->peer_serial);
	else if (strncmp(req, "cli:", 4) == 0 || est_profile_never_client(prof))
		snprintf(why, cap, "client certificate %s (profile %s) never authenticates EST "
			 "clients", c->peer_serial, prof[0] ? prof : "none");
	else if (!est && !listed)
		snprintf(why, cap, "client certificate %s was not issued through EST and its "
			 "profile %s is not in est.labels.%s.client_cert_profiles",
			 c->peer_serial, prof, l->name);
	else if (est && c->peer_label[0] != '\0' && strcmp(c->peer_label, l->name) != 0)
		snprintf(why, cap, "client certificate %s was issued on EST label %s: it "
			 "authenticates only there, not on label %s", c->peer_serial,
			 c->peer_label, l->name);
	else if (est && c->peer_label[0] == '\0' && !unrecorded_counts(c, why, cap))
		return 0;
	else if (!reenroll && !listed && strcmp(prof, l->profile) != 0)
		snprintf(why, cap, "client certificate %s has profile %s but label %s issues %s: "
			 "enroll afresh", c->peer_serial, prof, l->name, l->profile);
	else
		return 1;
	return 0;
}

/*
 * The failure limit of key ("addr:…" or "user:…"), checked before the slow hash.
 * Over the limit: 429 with Retry-After; the first refusal of a lock-out is audited
 * like any refusal, the next ones only counted, and their number is audited once
 * ("est.login_limited") when the key may try again. Returns 0 (go on) or -1 (reply
 * filled).
 */
static int check_limit(est_call_t *c, const char *key, http_reply_t *reply)
{
	char shown[4 * RL_KEY_MAX];
	int first;
	uint64_t wait;

	est_shown(key, strlen(key), shown, sizeof(shown));
	wait = audit_limit_check(c->e->db, c->e->fails, key, shown, "est", "est.login_limited",
				 &first);
	if (wait == 0)
		return 0;
	if (first)
		est_refuse(c, reply, 429, "too many failed logins (%s): try again later", shown);
	else
		est_reply_text(reply, 429, "too many failed logins (%s): try again later", shown);
	reply->retry_after = (int)((wait + 999) / 1000);
	return -1;
}

static void shown_key(const char *key, char *out, size_t cap)
{
	est_shown(key, strlen(key), out, cap);
}

void est_audit_lockouts(est_t *e)
{
	if (e != NULL)
		(void)audit_limit_flush(e->db, e->fails, "est", "est.login_limited", shown_key);
}

/*
 * Refuses a request that brings no credential that counts (none, a Basic header of
 * another scheme, or only a client certificate that does not authenticate here): a
 * failed login of its address, since each refusal is a durable audit write; past the
 * limit the refusals are 429s, counted and audited once like any lock-out. Always -1
 * (reply filled).
 */
static int refuse_counted(est_call_t *c, http_reply_t *reply, int status, const char *why)
{
	char addr[RL_KEY_MAX];

	net_addr_key(c->req->remote, addr, sizeof(addr));
	if (check_limit(c, addr, reply) != 0)
		return -1;
	util_ratelimit_fail(c->e->fails, addr);
	est_refuse(c, reply, status, "%s", why);
	return -1;
}

/* HMAC of the decoded Basic credentials ("user:password", len bytes) under the server's
 * per-run key: one login whatever the header's spelling (the scheme's case, spaces). */
static int cred_digest(const est_t *e, const char *cred, size_t cred_len, uint8_t out[32])
{
	size_t len = 0;

	return EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, e->conn_key, sizeof(e->conn_key),
			 (const unsigned char *)cred, cred_len, out, 32, &len) != NULL &&
			       len == 32
		       ? 0
		       : CAIRN_ECRYPTO;
}

/* Does the account still exist with the password hash it had when the login was
 * checked? Then the requester is set and info filled: 1; else 0. One read of the
 * database, so a deleted account or a new password ends every kept login at once. */
static int still_current(est_call_t *c, const char *user, const uint8_t tag[32],
			 est_user_info_t *info)
{
	if (est_user_get(c->e->db, user, info) != 0 || !util_ct_equal(tag, info->tag, 32))
		return 0;
	snprintf(c->requester, sizeof(c->requester), "est:user/%s", user);
	return 1;
}

/* The login this connection made before, when this request sends the same credentials and
 * the account still has the same password: user and info filled, 1; else 0. */
static int conn_reuse(est_call_t *c, const uint8_t cred[32], est_user_info_t *info)
{
	est_conn_t *conn = c->req->conn ? *c->req->conn : NULL;

	return conn != NULL && conn->valid && util_ct_equal(conn->cred, cred, 32) &&
	       still_current(c, conn->user, conn->tag, info);
}

/* The cache slot of a credential digest. */
static struct est_login *login_slot(est_t *e, const uint8_t cred[32])
{
	uint32_t h;

	memcpy(&h, cred, sizeof(h));
	return &e->logins[h % (uint32_t)e->set.auth_cache_entries];
}

static int check_limit(est_call_t *c, const char *key, http_reply_t *reply);

/* A login verified (by the slow hash) on any connection less than
 * est.auth_cache_seconds ago with the same credentials, its account
 * unchanged since: 1 with user and info filled; 0 when there is none; -1 when its
 * user name is locked by the failure limit (reply filled), as the slow path would
 * be. A slot holds one login: a colliding one replaces it (the bound on memory and
 * on what a client can fill). */
static int cache_reuse(est_call_t *c, const uint8_t cred[32], est_user_info_t *info,
		       http_reply_t *reply)
{
	struct est_login *l, hit;
	char ukey[RL_KEY_MAX];
	int found = 0;

	if (c->e->logins == NULL)
		return 0;
	pthread_mutex_lock(&c->e->logins_mu);
	l = login_slot(c->e, cred);
	if (l->until > time_mono_ms() && util_ct_equal(l->cred, cred, 32)) {
		hit = *l;
		found = 1;
	} else if (l->until != 0 && l->until <= time_mono_ms()) {
		OPENSSL_cleanse(l, sizeof(*l));
	}
	pthread_mutex_unlock(&c->e->logins_mu);
	if (!found)
		return 0;
	snprintf(ukey, sizeof(ukey), "user:%s", hit.user);
	if (check_limit(c, ukey, reply) != 0)
		found = -1;
	else
		found = still_current(c, hit.user, hit.tag, info);
	OPENSSL_cleanse(&hit, sizeof(hit));
	return found;
}

static void cache_keep(est_call_t *c, const char *user, const uint8_t cred[32],
		       const est_user_info_t *info)
{
	struct est_login *l;

	if (c->e->logins == NULL)
		return;
	pthread_mutex_lock(&c->e->logins_mu);
	l = login_slot(c->e, cred);
	memcpy(l->cred, cred, 32);
	snprintf(l->user, sizeof(l->user), "%s", user);
	memcpy(l->tag, info->tag, sizeof(l->tag));
	l->until = time_mono_ms() + (uint64_t)c->e->set.auth_cache_seconds * 1000u;
	pthread_mutex_unlock(&c->e->logins_mu);
}

void est_login_stats(est_t *e, uint64_t *password, uint64_t *cache, uint64_t *connection)
{
	if (password)
		*password = atomic_load(&e->n_password);
	if (cache)
		*cache = atomic_load(&e->n_cache);
	if (connection)
		*connection = atomic_load(&e->n_connection);
}

static void conn_keep(est_call_t *c, const char *user, const uint8_t cred[32],
		      const est_user_info_t *info)
{
	est_conn_t *conn;

	if (c->req->conn == NULL)
		return;
	if (*c->req->conn == NULL)
		*c->req->conn = calloc(1, sizeof(est_conn_t));
	if ((conn = *c->req->conn) == NULL)
		return;
	snprintf(conn->user, sizeof(conn->user), "%s", user);
	memcpy(conn->cred, cred, 32);
	memcpy(conn->tag, info->tag, sizeof(conn->tag));
	conn->valid = 1;
}

/* HTTP Basic: 0 with c->requester set and the account's labels in info, or -1 with the
 * refusal in reply. A certificate that was sent but does not count is named in the 401. */
static int check_basic(est_call_t *c, const char *cert_why, est_user_info_t *info,
		       http_reply_t *reply)
{
	const char *h = c->req->authorization;
	char addr[RL_KEY_MAX], ukey[RL_KEY_MAX], shown[300];
	uint8_t *raw = NULL, cred[32];
	size_t len = 0;
	char *colon, *user = NULL;
	cairn_err_t err = { 0 };
	int rc = -1, have_cred;

	if (h == NULL || strncasecmp(h, "Basic ", 6) != 0) {
		char why[640]; /* cert_why (up to 511) and the sentence */

		snprintf(why, sizeof(why), "%s%sauthentication required: HTTP Basic or a "
			 "client certificate", cert_why ? cert_why : "", cert_why ? "; " : "");
		return refuse_counted(c, reply, 401, why);
	}
	net_addr_key(c->req->remote, addr, sizeof(addr));
	/* Decoded first (cheap): a kept login is found by the credentials, not the header's
	 * bytes, or each spelling of one password would cost the slow hash. */
	if (est_b64_decode(h + 6, strlen(h + 6), &raw, &len) == 0) {
		if ((user = realloc(raw, len + 1)) == NULL) {
			OPENSSL_cleanse(raw, len);
			free(raw);
			est_reply_text(reply, 500, "out of memory");
			return -1;
		}
		user[len] = '\0';
	}
	colon = user ? memchr(user, ':', len) : NULL;
	if (colon != NULL && strlen(user) != len)
		colon = NULL; /* a NUL inside: malformed */
	have_cred = colon != NULL && cred_digest(c->e, user, len, cred) == 0;
	if (have_cred && conn_reuse(c, cred, info)) {
		atomic_fetch_add(&c->e->n_connection, 1);
		rc = 0;
		goto out;
	}
	if (check_limit(c, addr, reply) != 0)
		goto out;
	if (colon == NULL) {
		util_ratelimit_fail(c->e->fails, addr);
		est_refuse(c, reply, 401, "malformed Basic credentials");
		goto out;
	}
	if (have_cred && (rc = cache_reuse(c, cred, info, reply)) != 0) {
		if (rc > 0) {
			atomic_fetch_add(&c->e->n_cache, 1);
			conn_keep(c, c->requester + 9, cred, info);
			rc = 0;
		}
		goto out;
	}
	rc = -1;
	*colon = '\0';
	snprintf(ukey, sizeof(ukey), "user:%s", user);
	if (check_limit(c, ukey, reply) != 0)
		goto out;
	if (est_user_check(c->e->db, user, colon + 1, info, &err) == 0) {
		snprintf(c->requester, sizeof(c->requester), "est:user/%s", user);
		if (have_cred) {
			conn_keep(c, user, cred, info);
			cache_keep(c, user, cred, info);
		}
		atomic_fetch_add(&c->e->n_password, 1);
		rc = 0;
		goto out;
	}
	util_ratelimit_fail(c->e->fails, addr);
	util_ratelimit_fail(c->e->fails, ukey);
	/* The name as sent is outside input: never echoed raw (body, audit, log). */
	est_shown(user, strlen(user) < 64 ? strlen(user) : 64, shown, sizeof(shown));
	est_refuse(c, reply, 401, "user %s: %s", shown, cairn_err_msg(&err));
out:
	if (user != NULL)
		OPENSSL_cleanse(user, len);
	free(user);
	return rc;
}

int est_authenticate(est_call_t *c, int reenroll, http_reply_t *reply)
{
	est_user_info_t info;
	char why[512];

	if (c->req->peer_cert != NULL)
		check_peer(c);
	if (reenroll) {
		/* A re-enrollment is proven by the certificate being renewed, nothing else: a
		 * request without one that counts is a failed login of its address. */
		if (c->peer == NULL)
			return refuse_counted(c, reply, 401, "re-enrollment needs the current "
					      "certificate as TLS client certificate");
		if (c->peer_blocked[0] != '\0')
			snprintf(why, sizeof(why), "client certificate %s: its key is blocked (%s)",
				 c->peer_serial, c->peer_blocked);
		else if (!c->peer_ok)
			snprintf(why, sizeof(why), "client certificate %s is not a current "
				 "certificate of this CA (unknown, expired or revoked)", c->peer_serial);
		else if (peer_counts(c, 1, why, sizeof(why))) {
			c->by_cert = 1;
			return 0;
		}
		return refuse_counted(c, reply, 403, why);
	}
	if (c->peer_ok && peer_counts(c, 0, why, sizeof(why))) {
		c->by_cert = 1;
		return 0;
	}
	if (c->peer_blocked[0] != '\0')
		snprintf(why, sizeof(why), "client certificate %s: its key is blocked (%s)",
			 c->peer_serial, c->peer_blocked);
	else if (c->peer != NULL && !c->peer_ok)
		snprintf(why, sizeof(why), "client certificate %s is not a current certificate of "
			 "this CA", c->peer_serial);
	c->requester[0] = '\0';
	if (check_basic(c, c->peer ? why : NULL, &info, reply) != 0)
		return -1;
	memcpy(c->user_tag, info.tag, sizeof(c->user_tag));
	if (!est_user_may_use(&info, c->label->name, c->e->set.default_label)) {
		est_refuse(c, reply, 403, "EST user %s may not use label %s", c->requester + 9,
			   c->label->name);
		return -1;
	}
	return 0;
}
