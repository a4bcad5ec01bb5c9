/* SPDX-License-Identifier: MIT */
/* Renewal of what cairn signs for itself — the delegated OCSP signer (new key in the token) and the HTTPS certificate — at two thirds of their lifetime: at start-up before anything is answered, then when due, or on an admin's request. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "server/internal.h"

/* DB_META entry naming the current delegated OCSP signer once one was renewed:
 * {"label": token key label, "serial": hex}. Written in the same transaction as the
 * signer's certificate and audit event, so a crash leaves the old or the new one. */
#define SIGNER_META "ocsp_signer"
#define CHECK_EVERY 3600 /* seconds between checks when nothing is due sooner */
#define RETRY_AFTER 600  /* seconds after a failed renewal before the next try */

enum { KIND_OCSP, KIND_HTTPS, N_KINDS };
static const char *const kind_name[N_KINDS] = { "ocsp-signer", "https" };

struct server_renew {
	server_t *s;
	pthread_mutex_t mu;       /* one renewal at a time; guards everything below */
	pthread_cond_t wake;
	pthread_t thread;
	int running, stop;
	X509 *cert[N_KINDS];      /* the current certificates; NULL = not ours to renew */
	char ocsp_label[64];      /* token label of the current OCSP signer's key */
	int64_t retry_at[N_KINDS];
	int stuck[N_KINDS];       /* logged that the issuing CA ends first */
	/* Renewals that were due and failed (/healthz renew_failing, /metrics), under fail_mu
	 * alone: what reads them never waits for a renewal under way. */
	pthread_mutex_t fail_mu;
	util_failrun_t fail[N_KINDS];
};

/* The renewal time of x: two thirds into its lifetime, and at least keep seconds
 * before its notAfter (the answers it signed must not outlive it). */
static int64_t due_at(X509 *x, int64_t keep)
{
	int64_t nb = 0, na = 0, t;

	if (ca_time_unix(X509_get0_notBefore(x), &nb) != 0 ||
	    ca_time_unix(X509_get0_notAfter(x), &na) != 0)
		return 0;
	t = nb + (na - nb) / 3 * 2;
	return na - keep < t ? na - keep : t;
}

/* 1 when a renewal now would end later than x: the issuing CA caps every notAfter. */
static int worth_renewing(server_renew_t *r, int kind, int64_t now)
{
	X509 *issuing = ca_issuer_cert(r->s->ca, "issuing");
	int64_t na = 0, ca_na = 0, days = kind == KIND_OCSP ? r->s->cfg->ocsp_signer_days
							    : r->s->cfg->tls_days;
	int64_t new_na = now + days * 86400;

	if (ca_time_unix(X509_get0_notAfter(r->cert[kind]), &na) != 0 ||
	    ca_time_unix(X509_get0_notAfter(issuing), &ca_na) != 0)
		return 0;
	return (new_na < ca_na ? new_na : ca_na) > na + 3600;
}

static int64_t kind_due(server_renew_t *r, int kind)
{
	return due_at(r->cert[kind], kind == KIND_OCSP ? r->s->cfg->ocsp_validity : 0);
}

static int64_t kind_not_before(server_renew_t *r, int kind)
{
	int64_t nb = 0;

	return ca_time_unix(X509_get0_notBefore(r->cert[kind]), &nb) == 0 ? nb : 0;
}

static X509 *read_first_cert(const char *path, cairn_err_t *err)
{
	FILE *f = fopen(path, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (x == NULL)
		cairn_err_ssl(err, CAIRN_ECONFIG, "certificate %s unreadable", path);
	if (f)
		fclose(f);
	ERR_clear_error();
	return x;
}

/* Writes x (and next, may be NULL) as PEM to path, atomically. */
static int write_pem(const char *path, X509 *x, X509 *next, unsigned mode)
{
	char *a = NULL, *b = NULL, *text = NULL;
	int rc = CAIRN_ENOMEM;

	if (ca_cert_pem(x, &a, NULL) == 0 && (next == NULL || ca_cert_pem(next, &b, NULL) == 0) &&
	    asprintf(&text, "%s%s", a, b ? b : "") >= 0)
		rc = fs_write_atomic(path, text, strlen(text), mode);
	else
		text = NULL;
	free(a);
	free(b);
	free(text);
	return rc;
}

struct signer_meta {
	const char *label, *serial;
};

static int put_signer_meta(db_txn_t *txn, const char *serial_hex, void *arg, cairn_err_t *err)
{
	struct signer_meta *m = arg;
	json_t *doc = json_pack("{s:s, s:s}", "label", m->label, "serial", m->serial);
	char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int rc = text ? db_put(txn, DB_META, SIGNER_META, strlen(SIGNER_META), text, strlen(text), 0)
		      : CAIRN_ENOMEM;

	(void)serial_hex; /* m->serial: the same, known before the write */
	if (rc != 0)
		cairn_err_set(err, rc, "recording the OCSP signer: %s", cairn_strerror(rc));
	free(text);
	json_decref(doc);
	return rc;
}

/* The signer recorded in DB_META: its certificate and key label. CAIRN_ENOENT when none. */
static int signer_from_db(server_t *s, X509 **cert, char *label, size_t cap, cairn_err_t *err)
{
	uint8_t serial[DB_SERIAL_MAX];
	db_txn_t *txn = NULL;
	const void *v;
	size_t vlen;
	json_t *doc = NULL;
	const char *lab = NULL, *hex = NULL;
	db_cert_t c;
	int n, rc;

	*cert = NULL;
	if (db_read_begin(s->db, &txn) != 0)
		return cairn_err_set(err, CAIRN_EDB, "cannot read the database");
	if ((rc = db_get(txn, DB_META, SIGNER_META, strlen(SIGNER_META), &v, &vlen)) != 0) {
		rc = CAIRN_ENOENT;
		goto out;
	}
	doc = json_loadb(v, vlen, 0, NULL);
	rc = cairn_err_set(err, CAIRN_EDB, "meta %s is damaged", SIGNER_META);
	if (json_unpack(doc, "{s:s, s:s}", "label", &lab, "serial", &hex) != 0 ||
	    strlen(lab) >= cap || (n = hex_decode(hex, serial, sizeof(serial))) <= 0 ||
	    db_cert_get(txn, serial, (size_t)n, &c) != 0)
		goto out;
	{
		const unsigned char *p = c.der;
		*cert = ca_cert_d2i(&p, (long)c.der_len);
	}
	if (*cert == NULL)
		goto out;
	snprintf(label, cap, "%s", lab);
	rc = 0;
out:
	json_decref(doc);
	db_txn_end(txn);
	return rc;
}

static void serial_of(X509 *x, char out[2 * DB_SERIAL_MAX + 1])
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);

	out[0] = '\0';
	if (sn->length > 0 && sn->length <= DB_SERIAL_MAX)
		db_serial_hex(sn->data, (size_t)sn->length, out);
}

/* The result of a renewal for the log and the admin API. */
static json_t *outcome(const char *what, X509 *now, X509 *was)
{
	char a[2 * DB_SERIAL_MAX + 1], b[2 * DB_SERIAL_MAX + 1], na[32];
	int64_t t = 0;

	serial_of(now, a);
	serial_of(was, b);
	if (ca_time_unix(X509_get0_notAfter(now), &t) != 0)
		t = 0;
	time_rfc3339((time_t)t, na, sizeof(na));
	return json_pack("{s:s, s:s, s:s, s:s}", "what", what, "serial", a, "replaces", b,
			 "not_after", na);
}

/* Records cert (the renewal of r->cert[kind]) with its audit event; hook (may be NULL)
 * runs in the same transaction. */
static int record(server_renew_t *r, int kind, X509 *cert, const char *actor,
		  const char *trigger, struct signer_meta *meta, cairn_err_t *err)
{
	char was[2 * DB_SERIAL_MAX + 1];
	ca_record_extra_t extra = { NULL, meta ? put_signer_meta : NULL, meta };
	json_t *details;
	int rc;

	serial_of(r->cert[kind], was);
	details = json_pack("{s:s, s:s, s:s}", "what", kind_name[kind], "replaces", was,
			    "trigger", trigger);
	if (details != NULL && meta != NULL)
		json_object_set_new(details, "key", json_string(meta->label));
	if (details == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	extra.details = details;
	rc = ca_record_with(r->s->db, cert, "issuing",
			    kind == KIND_OCSP ? "ocsp-signer" : "daemon-tls", actor, "ca.renew",
			    &extra, err);
	json_decref(details);
	return rc;
}

/* record, with revocation refusing cert from before its write until the daemon has
 * switched to it (ca_in_use_incoming): between the commit and the switch a revocation
 * would otherwise find it retired, and the daemon would then use a revoked certificate
 * (so would the next start, after a switch that failed). A write that failed leaves it
 * refused all the same: nothing to revoke if it was not recorded, and in use at the
 * next start if it was. */
static int record_incoming(server_renew_t *r, int kind, X509 *cert, const char *actor,
			   const char *trigger, struct signer_meta *meta, cairn_err_t *err)
{
	char serial[2 * DB_SERIAL_MAX + 1];

	serial_of(cert, serial);
	ca_in_use_incoming(r->s->ca, kind_name[kind], serial);
	return record(r, kind, cert, actor, trigger, meta, err);
}

/* A new signer key in the token, its certificate, one durable write (certificate,
 * audit event, DB_META), then the responder switches and ca.ocsp_cert is rewritten. */
static int renew_ocsp(server_renew_t *r, const char *actor, const char *trigger,
		      json_t **out, cairn_err_t *err)
{
	server_t *s = r->s;
	X509 *issuing = ca_issuer_cert(s->ca, "issuing"), *cert = NULL;
	EVP_PKEY *pub = NULL, *ikey = NULL, *key = NULL;
	uint8_t rnd[8];
	char label[32], serial[2 * DB_SERIAL_MAX + 1], *path = NULL;
	struct signer_meta meta = { label, serial };
	int rc;

	if (util_random(rnd, sizeof(rnd)) != 0)
		return cairn_err_set(err, CAIRN_ECRYPTO, "no randomness for a key label");
	memcpy(label, "ocsp-", 5);
	hex_encode(rnd, sizeof(rnd), label + 5);
	/* A crash before the write below leaves this key unused in the token; the signer
	 * in use does not change until the write commits. */
	if ((rc = hsm_keygen(s->hsm, HSM_KEY_EC_P256, label, &pub, err)) != 0 ||
	    (rc = hsm_key_get(s->hsm, s->cfg->issuing_key, &ikey, err)) != 0 ||
	    (rc = ca_self_cert_renew(CA_SELF_OCSP_SIGNER, r->cert[KIND_OCSP], s->http_url,
				     (int)s->cfg->ocsp_signer_days, issuing, ikey, pub, &cert,
				     err)) != 0)
		goto out;
	serial_of(cert, serial);
	if ((rc = record_incoming(r, KIND_OCSP, cert, actor, trigger, &meta, err)) != 0)
		goto out;
	if ((rc = hsm_key_get(s->hsm, label, &key, err)) != 0 ||
	    (s->ocsp != NULL &&
	     (rc = ocsp_set_signer(s->ocsp, "issuing", cert, key, issuing, err)) != 0)) {
		log_error("renew", "OCSP signer %s is recorded but not in use until a restart",
			  serial);
		goto out;
	}
	path = config_path(s->cfg, s->cfg->ocsp_cert);
	if (path == NULL || write_pem(path, cert, NULL, 0644) != 0)
		log_warn("renew", "%s not rewritten (the database names the signer in use)",
			 path ? path : s->cfg->ocsp_cert);
	*out = outcome(kind_name[KIND_OCSP], cert, r->cert[KIND_OCSP]);
	X509_free(r->cert[KIND_OCSP]);
	r->cert[KIND_OCSP] = cert;
	cert = NULL;
	snprintf(r->ocsp_label, sizeof(r->ocsp_label), "%s", label);
	server_material_update(s, kind_name[KIND_OCSP], r->cert[KIND_OCSP]);
out:
	free(path);
	X509_free(cert);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(ikey);
	EVP_PKEY_free(key);
	return rc;
}

/* Paths of the HTTPS files and of their ".new" twins. */
struct tls_paths {
	char *cert, *key, *cert_new, *key_new;
};

static void tls_paths_free(struct tls_paths *p)
{
	free(p->cert);
	free(p->key);
	free(p->cert_new);
	free(p->key_new);
}

static int tls_paths_get(const cairn_config_t *cfg, struct tls_paths *p)
{
	memset(p, 0, sizeof(*p));
	p->cert = config_path(cfg, cfg->tls_cert);
	p->key = config_path(cfg, cfg->tls_key);
	if (p->cert == NULL || p->key == NULL || asprintf(&p->cert_new, "%s.new", p->cert) < 0 ||
	    asprintf(&p->key_new, "%s.new", p->key) < 0) {
		p->key_new = NULL;
		tls_paths_free(p);
		return CAIRN_ENOMEM;
	}
	return 0;
}

/*
 * The files change after the certificate is recorded: key.new and cert.new are
 * written, then renamed over key and cert, in that order. server_renew_tls_recover
 * finishes an interrupted sequence at the next start.
 */
static int install_tls_files(const cairn_config_t *cfg, const char *chain, const char *key)
{
	struct tls_paths p;
	int rc = tls_paths_get(cfg, &p);

	if (rc == 0 && ((rc = fs_write_atomic(p.key_new, key, strlen(key), 0600)) != 0 ||
			(rc = fs_write_atomic(p.cert_new, chain, strlen(chain), 0644)) != 0 ||
			rename(p.key_new, p.key) != 0 || rename(p.cert_new, p.cert) != 0))
		rc = rc ? rc : CAIRN_EIO;
	tls_paths_free(&p);
	return rc;
}

int server_renew_tls_recover(const cairn_config_t *cfg, cairn_err_t *err)
{
	struct tls_paths p;
	int rc = tls_paths_get(cfg, &p);

	if (rc != 0)
		return cairn_err_set(err, rc, "out of memory");
	if (fs_exists(p.cert_new)) {
		if ((fs_exists(p.key_new) && rename(p.key_new, p.key) != 0) ||
		    rename(p.cert_new, p.cert) != 0)
			rc = cairn_err_set(err, CAIRN_EIO, "completing the renewal of %s: %s",
					   p.cert, strerror(errno));
		else
			log_info("renew", "completed an interrupted renewal of %s", p.cert);
	} else if (fs_exists(p.key_new)) {
		unlink(p.key_new); /* its certificate was never written */
	}
	tls_paths_free(&p);
	return rc;
}

/* A new key (a file, like init's), its certificate with the same names, one durable
 * write (certificate, audit event), the files, then new connections get it. */
static int renew_https(server_renew_t *r, const char *actor, const char *trigger,
		       json_t **out, cairn_err_t *err)
{
	server_t *s = r->s;
	X509 *issuing = ca_issuer_cert(s->ca, "issuing"), *cert = NULL;
	EVP_PKEY *key = EVP_EC_gen("P-256"), *ikey = NULL;
	char *key_pem = NULL, *a = NULL, *b = NULL, *chain = NULL;
	int rc;

	if (key == NULL)
		return cairn_err_ssl(err, CAIRN_ECRYPTO, "HTTPS key generation failed");
	if ((rc = hsm_key_get(s->hsm, s->cfg->issuing_key, &ikey, err)) != 0 ||
	    (rc = ca_self_cert_renew(CA_SELF_HTTPS, r->cert[KIND_HTTPS], s->http_url,
				     (int)s->cfg->tls_days, issuing, ikey, key, &cert, err)) != 0)
		goto out;
	if ((key_pem = ca_key_pem(key)) == NULL || ca_cert_pem(cert, &a, NULL) != 0 ||
	    ca_cert_pem(issuing, &b, NULL) != 0 || asprintf(&chain, "%s%s", a, b) < 0) {
		chain = NULL;
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = record_incoming(r, KIND_HTTPS, cert, actor, trigger, NULL, err)) != 0)
		goto out;
	if (install_tls_files(s->cfg, chain, key_pem) != 0)
		log_error("renew", "the new HTTPS certificate is served but %s could not be "
			  "written: a restart serves the old one", s->cfg->tls_cert);
	if ((rc = http_tls_set(s, chain, key_pem, err)) != 0)
		goto out;
	*out = outcome(kind_name[KIND_HTTPS], cert, r->cert[KIND_HTTPS]);
	X509_free(r->cert[KIND_HTTPS]);
	r->cert[KIND_HTTPS] = cert;
	cert = NULL;
out:
	if (key_pem != NULL)
		OPENSSL_cleanse(key_pem, strlen(key_pem));
	free(key_pem);
	free(a);
	free(b);
	free(chain);
	X509_free(cert);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ikey);
	return rc;
}

/* Renews kind now (r->mu held). */
static int renew_locked(server_renew_t *r, int kind, const char *actor, const char *trigger,
			json_t **out, cairn_err_t *err)
{
	json_t *res = NULL;
	int rc;

	if (r->cert[kind] == NULL)
		return cairn_err_set(err, CAIRN_ECONFLICT,
				     kind == KIND_OCSP
					     ? "no delegated OCSP signer to renew (ocsp.signer is \"ca\")"
					     : "the HTTPS certificate (tls.cert) is not one this CA "
					       "issued: renew it where it comes from");
	rc = kind == KIND_OCSP ? renew_ocsp(r, actor, trigger, &res, err)
			       : renew_https(r, actor, trigger, &res, err);
	if (rc != 0)
		return rc;
	log_info("renew", "%s renewed (%s, by %s): serial %s replaces %s, valid until %s",
		 kind_name[kind], trigger, actor, json_string_value(json_object_get(res, "serial")),
		 json_string_value(json_object_get(res, "replaces")),
		 json_string_value(json_object_get(res, "not_after")));
	r->retry_at[kind] = 0;
	r->stuck[kind] = 0;
	pthread_mutex_lock(&r->fail_mu);
	util_failrun_ok(&r->fail[kind]);
	pthread_mutex_unlock(&r->fail_mu);
	if (out != NULL)
		*out = res;
	else
		json_decref(res);
	return 0;
}

/* Renews whatever is due at now (r->mu held); returns when the next check is due. A
 * certificate not valid yet (the clock went back since it was issued) is due at once,
 * whatever its lifetime says: its renewal starts now (trigger "clock"). */
static int64_t check_locked(server_renew_t *r, const char *trigger, int64_t now)
{
	int64_t next = now + CHECK_EVERY, due, nb;
	int kind, ahead;

	for (kind = 0; kind < N_KINDS; kind++) {
		cairn_err_t err = { 0 };
		if (r->cert[kind] == NULL)
			continue;
		due = kind_due(r, kind);
		/* not valid yet: issued while the clock ran ahead, refused by every client */
		nb = kind_not_before(r, kind);
		ahead = time_ahead(nb, now);
		if (now < due && !ahead) {
			next = due < next ? due : next;
			continue;
		}
		if (ahead && now >= r->retry_at[kind])
			log_warn("renew", "%s is not valid until %lld s from now: the clock went "
				 "back since it was issued; renewing it", kind_name[kind],
				 (long long)(nb - now));
		if (!ahead && !worth_renewing(r, kind, now)) {
			if (!r->stuck[kind])
				log_warn("renew", "%s not renewed: the issuing CA expires first "
					 "(rotate the issuing CA)", kind_name[kind]);
			r->stuck[kind] = 1;
			continue;
		}
		if (now < r->retry_at[kind]) {
			next = r->retry_at[kind] < next ? r->retry_at[kind] : next;
			continue;
		}
		if (renew_locked(r, kind, "server:renew", ahead ? "clock" : trigger, NULL, &err) != 0) {
			char why[sizeof(r->fail[kind].why)];
			log_error("renew", "renewing %s failed, retried in %d s: %s", kind_name[kind],
				  RETRY_AFTER, cairn_err_msg(&err));
			snprintf(why, sizeof(why), "%s (retried every %d minutes)", cairn_err_msg(&err),
				 RETRY_AFTER / 60);
			pthread_mutex_lock(&r->fail_mu);
			util_failrun_fail(&r->fail[kind], now, why);
			pthread_mutex_unlock(&r->fail_mu);
			r->retry_at[kind] = now + RETRY_AFTER;
			next = r->retry_at[kind] < next ? r->retry_at[kind] : next;
		}
	}
	return next;
}

static void *renew_main(void *arg)
{
	server_renew_t *r = arg;

	/* Woken by the deadline, an admin's renewal (which may have moved the next due time)
	 * or every TIME_WALL_TICK seconds (a clock gone back): each wake-up is a cheap check. */
	pthread_mutex_lock(&r->mu);
	while (!r->stop)
		time_wait_until(&r->wake, &r->mu, check_locked(r, "schedule", (int64_t)time(NULL)));
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* The delegated signer in use: the one recorded by a renewal, else the configured one.
 * Checks that its key is the token key and that the issuing CA issued it. */
static int load_signer(server_renew_t *r, cairn_err_t *err)
{
	server_t *s = r->s;
	const cairn_config_t *cfg = s->cfg;
	X509 *issuing = ca_issuer_cert(s->ca, "issuing"), *x = NULL;
	EVP_PKEY *key = NULL;
	char *path = config_path(cfg, cfg->ocsp_cert);
	int rc, recorded;

	if (path == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	rc = signer_from_db(s, &x, r->ocsp_label, sizeof(r->ocsp_label), err);
	recorded = rc == 0;
	if (rc == CAIRN_ENOENT) {
		snprintf(r->ocsp_label, sizeof(r->ocsp_label), "%s", cfg->ocsp_key);
		rc = (x = read_first_cert(path, err)) ? 0 : CAIRN_ECONFIG;
	}
	if (rc != 0 || (rc = hsm_key_get(s->hsm, r->ocsp_label, &key, err)) != 0)
		goto out;
	if (EVP_PKEY_eq(X509_get0_pubkey(x), key) != 1 ||
	    X509_check_issued(issuing, x) != X509_V_OK) {
		rc = cairn_err_set(err, CAIRN_ECONFIG,
				   "ca.ocsp_cert: not issued by the issuing CA for token key %s",
				   r->ocsp_label);
		goto out;
	}
	/* The file follows the database: a crash may have come between the two. */
	if (recorded) {
		X509 *f = read_first_cert(path, NULL);
		if ((f == NULL || X509_cmp(f, x) != 0) && write_pem(path, x, NULL, 0644) != 0)
			log_warn("renew", "%s could not be brought up to date", path);
		X509_free(f);
	}
	r->cert[KIND_OCSP] = x;
	x = NULL;
out:
	ERR_clear_error();
	X509_free(x);
	EVP_PKEY_free(key);
	free(path);
	return rc;
}

/* The HTTPS certificate in use, when this CA issued it (else it is not renewed here). */
static void load_https(server_renew_t *r)
{
	char *path = config_path(r->s->cfg, r->s->cfg->tls_cert);
	X509 *x = path ? read_first_cert(path, NULL) : NULL;

	if (x != NULL && X509_check_issued(ca_issuer_cert(r->s->ca, "issuing"), x) == X509_V_OK) {
		r->cert[KIND_HTTPS] = x;
		x = NULL;
	} else {
		log_info("renew", "%s is not issued by the issuing CA: cairn does not renew it",
			 path ? path : r->s->cfg->tls_cert);
	}
	ERR_clear_error();
	X509_free(x);
	free(path);
}

int server_renew_open(server_t *s, X509 **ocsp_cert, EVP_PKEY **ocsp_key, cairn_err_t *err)
{
	server_renew_t *r = calloc(1, sizeof(*r));
	int rc = 0;

	*ocsp_cert = NULL;
	*ocsp_key = NULL;
	if (r == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	r->s = s;
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->fail_mu, NULL);
	/* Renewal times are wall-clock times, the waits for them monotonic (time_wait_until). */
	time_mono_cond_init(&r->wake);
	s->renew = r;
	if (strcmp(s->cfg->ocsp_signer, "delegated") == 0 && (rc = load_signer(r, err)) != 0)
		return rc;
	load_https(r);
	/* Before the responder opens and before the daemon says it is ready: a daemon
	 * started after a long stop never answers with what it is about to replace. */
	pthread_mutex_lock(&r->mu);
	check_locked(r, "startup", (int64_t)time(NULL));
	pthread_mutex_unlock(&r->mu);
	if (r->cert[KIND_OCSP] != NULL) {
		if ((rc = hsm_key_get(s->hsm, r->ocsp_label, ocsp_key, err)) != 0)
			return rc;
		X509_up_ref(r->cert[KIND_OCSP]);
		*ocsp_cert = r->cert[KIND_OCSP];
	}
	return 0;
}

int server_renew_start(server_t *s, cairn_err_t *err)
{
	server_renew_t *r = s->renew;
	int rc;

	rc = pthread_create(&r->thread, NULL, renew_main, r);
	if (rc != 0)
		return cairn_err_set(err, CAIRN_EIO, "cannot start the renewal thread: %s",
				     strerror(rc));
	r->running = 1;
	return 0;
}

void server_renew_stop(server_t *s)
{
	server_renew_t *r = s->renew;

	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = 1; /* also refuses an admin's renewal from here on */
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->mu);
	if (r->running) {
		pthread_join(r->thread, NULL);
		r->running = 0;
	}
}

void server_renew_close(server_t *s)
{
	server_renew_t *r = s->renew;
	int kind;

	if (r == NULL)
		return;
	server_renew_stop(s);
	for (kind = 0; kind < N_KINDS; kind++)
		X509_free(r->cert[kind]);
	pthread_mutex_destroy(&r->mu);
	pthread_mutex_destroy(&r->fail_mu);
	pthread_cond_destroy(&r->wake);
	free(r);
	s->renew = NULL;
}

int server_renew_now(void *arg, const char *what, const char *actor, json_t **out,
		     cairn_err_t *err)
{
	server_t *s = arg;
	server_renew_t *r = s->renew;
	int kind, rc;

	for (kind = 0; kind < N_KINDS && strcmp(kind_name[kind], what) != 0; kind++)
		;
	if (kind == N_KINDS)
		return cairn_err_set(err, CAIRN_EINVAL, "cannot renew \"%s\": use ocsp-signer or https",
				     what);
	if (r == NULL)
		return cairn_err_set(err, CAIRN_ESHUTDOWN, "the daemon is not ready");
	pthread_mutex_lock(&r->mu);
	rc = r->stop ? cairn_err_set(err, CAIRN_ESHUTDOWN, "the daemon is shutting down")
		     : renew_locked(r, kind, actor, "admin", out, err);
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

int server_renew_failrun(server_t *s, int i, const char **what, util_failrun_t *out)
{
	server_renew_t *r = s->renew;

	if (r == NULL || i < 0 || i >= N_KINDS)
		return CAIRN_ENOENT;
	*what = kind_name[i];
	pthread_mutex_lock(&r->fail_mu);
	*out = r->fail[i];
	pthread_mutex_unlock(&r->fail_mu);
	return 0;
}
