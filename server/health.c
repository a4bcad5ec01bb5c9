/* SPDX-License-Identifier: MIT */
/* The daemon's own material in time: CA certificates, OCSP signer, HTTPS certificate and CRLs — what /healthz and /metrics say about expiry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "ca/ca.h"
#include "crl/crl.h"
#include "server/internal.h"

#define DAY 86400

void server_material_update(server_t *s, const char *name, X509 *x)
{
	server_material_t *m = NULL;
	int64_t nb, na;
	size_t i;

	if (x == NULL || ca_time_unix(X509_get0_notBefore(x), &nb) != 0 ||
	    ca_time_unix(X509_get0_notAfter(x), &na) != 0)
		return;
	pthread_mutex_lock(&s->material_lock);
	for (i = 0; i < s->n_material && m == NULL; i++)
		if (strcmp(s->material[i].name, name) == 0)
			m = &s->material[i];
	if (m == NULL && s->n_material < SERVER_MAX_MATERIAL) {
		m = &s->material[s->n_material++];
		snprintf(m->name, sizeof(m->name), "%s", name);
	}
	if (m != NULL) {
		m->not_before = nb;
		m->not_after = na;
		m->is_ca = X509_check_ca(x) > 0;
		ca_serial_hex(x, m->serial);
		/* Revocation refuses what is in use and lets what it replaced be revoked. */
		if (s->ca != NULL)
			ca_in_use_set(s->ca, name, m->serial);
	}
	pthread_mutex_unlock(&s->material_lock);
}

void server_material_to_ca(server_t *s)
{
	size_t i;

	pthread_mutex_lock(&s->material_lock);
	for (i = 0; i < s->n_material; i++)
		ca_in_use_set(s->ca, s->material[i].name, s->material[i].serial);
	pthread_mutex_unlock(&s->material_lock);
}

/* Warned about this long before notAfter: a third of the lifetime, at most 30 days. */
static int64_t warn_window(const server_material_t *m)
{
	int64_t third = (m->not_after - m->not_before) / 3;

	return third < 30 * DAY ? third : 30 * DAY;
}

int server_problem(json_t *problems, const char *what, const char *state, int64_t at,
		   json_t *extra)
{
	char when[32];
	json_t *p;

	if (problems != NULL) {
		time_rfc3339((time_t)at, when, sizeof(when));
		p = json_pack("{s:s, s:s, s:s}", "what", what, "state", state, "at", when);
		if (p != NULL && extra != NULL)
			json_object_update(p, extra);
		json_array_append_new(problems, p);
	}
	json_decref(extra);
	return 1;
}

static int problem(json_t *problems, const char *what, const char *state, int64_t at)
{
	return server_problem(problems, what, state, at, NULL);
}

/* crl_failing's callback: arg is the problems array (or NULL). */
static void crl_failing_one(const char *name, int64_t since, void *problems)
{
	char what[64];

	snprintf(what, sizeof(what), "crl-%s", name);
	problem(problems, what, "failing", since);
}

/* A run of failures while it is named (util_failrun_open): at its first failure, with
 * the latest, whether the latest attempt failed, and what it said. */
static int failrun_problem(json_t *problems, const char *what, const char *state,
			   const util_failrun_t *f, int64_t now)
{
	char latest[32];

	if (!util_failrun_open(f, now))
		return 0;
	time_rfc3339((time_t)f->latest, latest, sizeof(latest));
	return server_problem(problems, what, state, f->since,
			    json_pack("{s:s, s:b, s:o}", "latest", latest, "still_failing",
				      f->failing, "detail", util_json_text(f->why)));
}

/* Calls in the token for longer than token.timeout: the token does not answer (a network
 * HSM whose link died without a reset). Since the oldest went in, with how many, and
 * what that means for what needs a signature. */
static int token_stuck(hsm_t *h, json_t *problems)
{
	char detail[160];
	hsm_stuck_t st;

	hsm_token_stuck(h, &st);
	if (st.calls == 0)
		return 0;
	snprintf(detail, sizeof(detail),
		 "%u call%s in the token for %llu s without an answer; calls are given up "
		 "after %llu s",
		 st.calls, st.calls == 1 ? "" : "s", (unsigned long long)(st.for_ms / 1000),
		 (unsigned long long)(st.timeout_ms / 1000));
	return server_problem(problems, "token", "not_answering", st.since,
			    json_pack("{s:i, s:s}", "calls", (int)st.calls, "detail", detail));
}

/* What the daemon needs to go on: the token's signatures and the database's commits,
 * failing or failed in the last UTIL_FAIL_RUN_S (a token that dropped off, a full disk:
 * what they carried was refused), the disk holding the database below
 * server.disk_min_free_mb (said while there is still room, so the alert can be stored and
 * sent), CRLs whose rebuild fails (the revocations since are missing from the CRL files). */
/* Renewals of the OCSP signer or the HTTPS certificate that were due and failed: said
 * at the first failure, not weeks later when the certificate comes close to its end. */
static int renew_health(server_t *s, int64_t now, json_t *problems)
{
	util_failrun_t f;
	const char *what;
	int i, n = 0;

	for (i = 0; server_renew_failrun(s, i, &what, &f) == 0; i++)
		n += failrun_problem(problems, what, "renew_failing", &f, now);
	return n;
}

static int storage_health(server_t *s, int64_t now, json_t *problems)
{
	util_failrun_t f;
	uint64_t free_bytes = 0;
	int64_t low_since;
	int n = 0, low;

	if (s->hsm != NULL) {
		hsm_sign_state(s->hsm, &f);
		n += failrun_problem(problems, "token", "sign_failing", &f, now);
		n += token_stuck(s->hsm, problems);
	}
	if (s->db == NULL)
		return n;
	db_write_state(s->db, &f);
	n += failrun_problem(problems, "database", "write_failing", &f, now);
	low = s->cfg->disk_min_free_mb > 0 && db_disk(s->db, &free_bytes, NULL) == 0 &&
	      free_bytes < (uint64_t)s->cfg->disk_min_free_mb * 1024 * 1024;
	pthread_mutex_lock(&s->material_lock);
	if (!low)
		s->disk_low_since = 0;
	else if (s->disk_low_since == 0)
		s->disk_low_since = now;
	low_since = s->disk_low_since;
	pthread_mutex_unlock(&s->material_lock);
	if (low)
		n += server_problem(problems, "disk", "low", low_since,
				  json_pack("{s:I}", "free_bytes", (json_int_t)free_bytes));
	if (s->crl != NULL)
		n += (int)crl_failing(s->crl, crl_failing_one, problems);
	return n + renew_health(s, now, problems);
}

/* A write to stderr that has not returned for this long: nobody reads the log. */
#define HEALTH_LOG_BLOCKED_MS 10000

/* The log: lines the daemon cannot write (a stalled pipe, a container's log driver in
 * blocking mode). The daemon goes on (util/log.c queues them, and drops past 4 MiB);
 * whoever reads the log misses them, so it is said here, since the write began. */
static int log_health(json_t *problems)
{
	uint64_t dropped, blocked_ms;
	int64_t since;

	log_state(&dropped, &since, &blocked_ms);
	if (blocked_ms < HEALTH_LOG_BLOCKED_MS)
		return 0;
	return server_problem(problems, "log", "blocked", since,
			    json_pack("{s:I}", "dropped", (json_int_t)dropped));
}

/* 1 when name is an issuing CA that a rotation replaced: its certificates end with it,
 * so its own end is expected, not a problem (its CRL still is watched). */
static int replaced_issuer(server_t *s, const char *name)
{
	ca_issuer_info_t info;
	size_t i;

	for (i = 0; s->ca != NULL && ca_issuer_at(s->ca, i, &info) == 0; i++)
		if (strcmp(info.name, name) == 0)
			return !info.current;
	return 0;
}

/* The CRLs served: every issuing CA's and the root's. names receives at most cap. */
static size_t crl_names(server_t *s, const char **names, size_t cap)
{
	ca_issuer_info_t info;
	size_t i, n = 0;

	for (i = 0; s->ca != NULL && n + 1 < cap && ca_issuer_at(s->ca, i, &info) == 0; i++)
		names[n++] = info.name;
	names[n++] = "root";
	return n;
}

int server_health(server_t *s, int64_t now, json_t *problems)
{
	const char *issuers[CA_MAX_ISSUERS + 1];
	size_t n_issuers = crl_names(s, issuers, CA_MAX_ISSUERS + 1);
	char what[48];
	int64_t this_update, next_update;
	size_t i;
	int n = 0;

	pthread_mutex_lock(&s->material_lock);
	for (i = 0; i < s->n_material; i++) {
		const server_material_t *m = &s->material[i];
		if (replaced_issuer(s, m->name))
			continue;
		if (time_ahead(m->not_before, now))
			/* issued while the clock ran ahead: refused by clients until then */
			n += problem(problems, m->name, "not_yet_valid", m->not_before);
		else if (now >= m->not_after)
			n += problem(problems, m->name, "expired", m->not_after);
		else if (now >= m->not_after - warn_window(m))
			n += problem(problems, m->name, "expiring", m->not_after);
	}
	pthread_mutex_unlock(&s->material_lock);
	for (i = 0; s->crl != NULL && i < n_issuers; i++) {
		if (crl_get(s->crl, issuers[i], NULL, NULL, &this_update, &next_update, NULL) != 0)
			continue;
		snprintf(what, sizeof(what), "crl-%s", issuers[i]);
		/* The scheduler rebuilds well before nextUpdate: a minute before it is late.
		 * One from the future (the clock went back) it rebuilds within seconds. */
		if (time_ahead(this_update, now))
			n += problem(problems, what, "not_yet_valid", this_update);
		else if (now >= next_update)
			n += problem(problems, what, "stale", next_update);
		else if (now >= next_update - 60)
			n += problem(problems, what, "overdue", next_update);
	}
	return n + storage_health(s, now, problems) + log_health(problems) +
	       server_audit_health(s, problems);
}

void server_health_metrics(server_t *s, mtext_t *m)
{
	const char *issuers[CA_MAX_ISSUERS + 1];
	size_t n_issuers = crl_names(s, issuers, CA_MAX_ISSUERS + 1);
	server_material_t mat[SERVER_MAX_MATERIAL];
	util_failrun_t f;
	const char *what;
	char name[64];
	int64_t next_update;
	size_t i, n;
	int ca;

	pthread_mutex_lock(&s->material_lock);
	n = s->n_material;
	memcpy(mat, s->material, n * sizeof(mat[0]));
	pthread_mutex_unlock(&s->material_lock);
	/* CA certificates in one family, the daemon's other certificates in another: each
	 * certificate is a row of exactly one. */
	for (ca = 1; ca >= 0; ca--) {
		if (ca)
			mtext_family(m, "cairn_ca_not_after_timestamp_seconds", "gauge",
				     "notAfter of the CA certificates (root and issuing CAs).");
		else
			mtext_family(m, "cairn_cert_not_after_timestamp_seconds", "gauge",
				     "notAfter of the daemon's other certificates (OCSP signer, "
				     "HTTPS).");
		for (i = 0; i < n; i++)
			if (mat[i].is_ca == ca)
				mtext_add(m, "cairn_%s_not_after_timestamp_seconds{%s=\"%s\"} %lld\n",
					  ca ? "ca" : "cert", ca ? "ca" : "cert",
					  mtext_label(mat[i].name, name, sizeof(name)),
					  (long long)mat[i].not_after);
	}
	mtext_family(m, "cairn_cert_renewal_failing", "gauge",
		     "1 while the latest renewal of the daemon's certificate (OCSP signer, HTTPS) "
		     "that was due failed; it is retried every 10 minutes.");
	for (i = 0; server_renew_failrun(s, (int)i, &what, &f) == 0; i++)
		mtext_add(m, "cairn_cert_renewal_failing{cert=\"%s\"} %d\n", what, f.failing);
	mtext_family(m, "cairn_cert_renewal_failures_total", "counter",
		     "Renewals of the daemon's certificates that were due and failed, since the "
		     "daemon started.");
	for (i = 0; server_renew_failrun(s, (int)i, &what, &f) == 0; i++)
		mtext_add(m, "cairn_cert_renewal_failures_total{cert=\"%s\"} %llu\n", what,
			  (unsigned long long)f.failures);
	mtext_family(m, "cairn_crl_next_update_timestamp_seconds", "gauge",
		     "nextUpdate of the CRL served per issuer.");
	for (i = 0; s->crl != NULL && i < n_issuers; i++)
		if (crl_get(s->crl, issuers[i], NULL, NULL, NULL, &next_update, NULL) == 0)
			mtext_add(m, "cairn_crl_next_update_timestamp_seconds{issuer=\"%s\"} %lld\n",
				  issuers[i], (long long)next_update);
	mtext_family(m, "cairn_health_degraded", "gauge",
		     "1 while /healthz reports degraded (expiring, expired or not yet valid "
		     "material, a stale CRL or one from the future, failing writes, signatures, "
		     "renewals or CRL rebuilds, a disk low on space).");
	mtext_add(m, "cairn_health_degraded %d\n",
		  server_health(s, (int64_t)time(NULL), NULL) > 0);
}
