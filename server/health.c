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
	}
	pthread_mutex_unlock(&s->material_lock);
}

/* Warned about this long before notAfter: a third of the lifetime, at most 30 days. */
static int64_t warn_window(const server_material_t *m)
{
	int64_t third = (m->not_after - m->not_before) / 3;

	return third < 30 * DAY ? third : 30 * DAY;
}

/* Appends {"what","state","at"} to problems (which may be NULL: only counted). */
static int problem(json_t *problems, const char *what, const char *state, int64_t at)
{
	char when[32];

	if (problems != NULL) {
		time_rfc3339((time_t)at, when, sizeof(when));
		json_array_append_new(problems,
				      json_pack("{s:s, s:s, s:s}", "what", what, "state", state,
						"at", when));
	}
	return 1;
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
	int64_t next_update;
	size_t i;
	int n = 0;

	pthread_mutex_lock(&s->material_lock);
	for (i = 0; i < s->n_material; i++) {
		const server_material_t *m = &s->material[i];
		if (replaced_issuer(s, m->name))
			continue;
		if (now >= m->not_after)
			n += problem(problems, m->name, "expired", m->not_after);
		else if (now >= m->not_after - warn_window(m))
			n += problem(problems, m->name, "expiring", m->not_after);
	}
	pthread_mutex_unlock(&s->material_lock);
	for (i = 0; s->crl != NULL && i < n_issuers; i++) {
		if (crl_get(s->crl, issuers[i], NULL, NULL, NULL, &next_update, NULL) != 0)
			continue;
		snprintf(what, sizeof(what), "crl-%s", issuers[i]);
		/* The scheduler rebuilds well before nextUpdate: a minute before it is late. */
		if (now >= next_update)
			n += problem(problems, what, "stale", next_update);
		else if (now >= next_update - 60)
			n += problem(problems, what, "overdue", next_update);
	}
	return n;
}

int server_health_metrics(server_t *s, char **text, size_t len)
{
	const char *issuers[CA_MAX_ISSUERS + 1];
	size_t n_issuers = crl_names(s, issuers, CA_MAX_ISSUERS + 1);
	char *more = NULL, *all, line[160];
	size_t used = 0, cap = 0;
	int64_t next_update;
	size_t i;

#define ADD(...)                                                                          \
	do {                                                                              \
		int k = snprintf(line, sizeof(line), __VA_ARGS__);                       \
		if (k < 0 || (size_t)k >= sizeof(line))                                  \
			goto fail;                                                        \
		if (used + (size_t)k + 1 > cap) {                                        \
			char *g = realloc(more, cap = 2 * cap + (size_t)k + 256);       \
			if (g == NULL)                                                    \
				goto fail;                                                \
			more = g;                                                         \
		}                                                                         \
		memcpy(more + used, line, (size_t)k + 1);                                \
		used += (size_t)k;                                                        \
	} while (0)

	ADD("# HELP cairn_cert_not_after_timestamp_seconds notAfter of the daemon's own "
	    "certificates (CAs, OCSP signer, HTTPS).\n");
	ADD("# TYPE cairn_cert_not_after_timestamp_seconds gauge\n");
	{
		server_material_t m[SERVER_MAX_MATERIAL];
		size_t n;

		pthread_mutex_lock(&s->material_lock);
		n = s->n_material;
		memcpy(m, s->material, n * sizeof(m[0]));
		pthread_mutex_unlock(&s->material_lock);
		for (i = 0; i < n; i++)
			ADD("cairn_cert_not_after_timestamp_seconds{cert=\"%s\"} %lld\n", m[i].name,
			    (long long)m[i].not_after);
	}
	ADD("# HELP cairn_crl_next_update_timestamp_seconds nextUpdate of the CRL served per "
	    "issuer.\n");
	ADD("# TYPE cairn_crl_next_update_timestamp_seconds gauge\n");
	for (i = 0; s->crl != NULL && i < n_issuers; i++)
		if (crl_get(s->crl, issuers[i], NULL, NULL, NULL, &next_update, NULL) == 0)
			ADD("cairn_crl_next_update_timestamp_seconds{issuer=\"%s\"} %lld\n",
			    issuers[i], (long long)next_update);
	ADD("# HELP cairn_health_degraded 1 while /healthz reports degraded (expiring or "
	    "expired material, a stale CRL).\n");
	ADD("# TYPE cairn_health_degraded gauge\ncairn_health_degraded %d\n",
	    server_health(s, (int64_t)time(NULL), NULL) > 0);
#undef ADD
	if ((all = realloc(*text, len + used + 1)) == NULL)
		goto fail;
	memcpy(all + len, more, used + 1);
	free(more);
	*text = all;
	return (int)(len + used);
fail:
	free(more);
	return -1;
}
