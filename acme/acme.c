/* SPDX-License-Identifier: MIT */
/* ACME front: settings, the resource table, directory, newNonce and the headers every reply carries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>
#include <curl/curl.h>

#include "acme/acme_int.h"

/* ---- settings (validated by the config table; copied into the acme_t) ---- */

static int apply_settings(acme_t *a, const acme_settings_t *st, cairn_err_t *err)
{
	const char *name;
	json_t *addr;

	snprintf(a->profile, sizeof(a->profile), "%s", st->profile);
	snprintf(a->tos, sizeof(a->tos), "%s", st->terms_of_service);
	snprintf(a->website, sizeof(a->website), "%s", st->website);
	a->eab_required = st->external_account_required != 0;
	if (st->caa_identities != NULL)
		a->caa_identities = json_deep_copy(st->caa_identities);
	a->authz_reuse = st->authz_reuse_seconds;
	a->order_lifetime = st->order_lifetime_seconds;
	a->ari_window_pct = st->renewal_window_percent;
	a->orders_per_hour = st->orders_per_hour;
	a->pending_authz_max = st->pending_authorizations;
	a->failed_per_hour = st->failed_validations_per_hour;
	a->accounts_per_hour = st->accounts_per_address_per_hour;
	a->retention_days = st->retention_days;
	if (a->accounts_per_hour > 0 &&
	    util_ratelimit_new(ACME_ACCOUNT_ADDRS, (int)a->accounts_per_hour, 3600 * 1000,
			       &a->new_accounts) != 0)
		return cairn_err_set(err, CAIRN_ENOMEM, "acme: out of memory");
	a->v.http01_port = (int)st->http01_port;
	a->v.tlsalpn01_port = (int)st->tlsalpn01_port;
	a->v.timeout_ms = (int)st->timeout_ms;
	a->v.answer_wait_ms = (int)st->answer_wait_ms;
	if (st->dns_server[0] != '\0' &&
	    hostport_parse(st->dns_server, a->v.dns_host, sizeof(a->v.dns_host), &a->v.dns_port))
		return cairn_err_set(err, CAIRN_ECONFIG, "acme.validation.dns_server: must be host:port");
	json_object_foreach((json_t *)st->hosts, name, addr) {
		acme_host_t *h;
		if (a->v.n_hosts == ACME_MAX_HOSTS)
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "acme.validation.hosts: at most %d names", ACME_MAX_HOSTS);
		h = &a->v.hosts[a->v.n_hosts++];
		snprintf(h->name, sizeof(h->name), "%s", name);
		snprintf(h->addr, sizeof(h->addr), "%s", json_string_value(addr));
	}
	return 0;
}

int acme_new(const acme_config_t *cfg, acme_t **out, cairn_err_t *err)
{
	acme_t *a = calloc(1, sizeof(*a));
	int rc;

	if (a == NULL)
		return CAIRN_ENOMEM;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	ares_library_init(ARES_LIB_INIT_ALL);
	pthread_mutex_init(&a->fin_lock, NULL);
	pthread_mutex_init(&a->key_lock, NULL);
	pthread_mutex_init(&a->obj_lock, NULL);
	a->db = cfg->db;
	a->ca = cfg->ca;
	a->policy = cfg->policy;
	a->json.max_depth = cfg->max_json_depth;
	a->json.max_bytes = ACME_MAX_BODY;
	snprintf(a->base, sizeof(a->base), "%s/acme/", cfg->https_base);
	snprintf(a->http_base, sizeof(a->http_base), "%s", cfg->http_base ? cfg->http_base : "");
	a->finalizing = json_object();
	rc = apply_settings(a, cfg->settings, err);
	if (rc)
		goto fail;
	if (a->policy == NULL) {
		rc = cairn_err_set(err, CAIRN_EINVAL, "acme: no policy engine");
		goto fail;
	}
	if (ca_profile(a->ca, a->profile) == NULL) {
		rc = cairn_err_set(err, CAIRN_ECONFIG, "acme.profile: no profile named %s",
				   a->profile);
		goto fail;
	}
	if (strcmp(a->profile, CA_ADMIN_PROFILE) == 0) {
		rc = cairn_err_set(err, CAIRN_ECONFIG,
				   "acme.profile: %s logs in to the admin API, ACME may not issue it",
				   a->profile);
		goto fail;
	}
	if ((rc = acme_nonces_new(&a->nonces)) != 0 ||
	    (rc = acme_pool_start(a, (int)cfg->settings->validation_workers, &a->pool)) != 0 ||
	    (rc = acme_sweeper_start(a)) != 0) {
		cairn_err_set(err, rc, "acme: cannot start: %s", cairn_strerror(rc));
		goto fail;
	}
	*out = a;
	return 0;
fail:
	acme_free(a);
	return rc;
}

void acme_release(acme_t *a)
{
	if (a != NULL)
		acme_pool_release(a->pool);
}

void acme_free(acme_t *a)
{
	if (a == NULL)
		return;
	acme_sweeper_stop(a);
	acme_pool_stop(a->pool);
	acme_nonces_free(a->nonces);
	util_ratelimit_free(a->new_accounts);
	json_decref(a->caa_identities);
	json_decref(a->finalizing);
	pthread_mutex_destroy(&a->fin_lock);
	acme_jws_caches_free(a);
	acme_store_cache_free(a);
	pthread_mutex_destroy(&a->key_lock);
	pthread_mutex_destroy(&a->obj_lock);
	free(a);
}

/* ---- directory and nonces ---- */

static void res_directory(acme_t *a, const char *url, const char *arg,
			  const acme_request_t *req, http_reply_t *r)
{
	json_t *d, *meta;
	char u[512];
	(void)url;
	(void)arg;
	(void)req;

	d = json_object();
	meta = json_object();
#define ADD(k, rel)                                           \
	snprintf(u, sizeof(u), "%s%s", a->base, rel);         \
	json_object_set_new(d, k, json_string(u))
	ADD("newNonce", "new-nonce");
	ADD("newAccount", "new-account");
	ADD("newOrder", "new-order");
	ADD("revokeCert", "revoke-cert");
	ADD("keyChange", "key-change");
	ADD("renewalInfo", "renewal-info");
#undef ADD
	if (a->tos[0])
		json_object_set_new(meta, "termsOfService", json_string(a->tos));
	if (a->website[0])
		json_object_set_new(meta, "website", json_string(a->website));
	if (a->caa_identities)
		json_object_set(meta, "caaIdentities", a->caa_identities);
	json_object_set_new(meta, "externalAccountRequired", json_boolean(a->eab_required));
	json_object_set_new(meta, "profiles",
			    json_pack("{s:s}", a->profile, "the CA's TLS server profile"));
	json_object_set_new(d, "meta", meta);
	http_reply_json(r, 200, NULL, d);
	json_decref(d);
}

static void res_nonce(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		      http_reply_t *r)
{
	(void)a;
	(void)url;
	(void)arg;
	/* The nonce header itself is added to every reply by acme_handle. */
	http_reply_set(r, strcmp(req->method, "HEAD") == 0 ? 200 : 204, NULL, NULL, 0);
}

typedef struct acme_row {
	const char *method; /* "GET" (HEAD too) or "POST" */
	const char *prefix; /* exact when it does not end in '/' */
	const char *suffix; /* required ending of the rest, or NULL */
	acme_fn fn;
} acme_row_t;

/* The ACME resources (RFC 8555 §7.1). Suffixed rows come before their plain prefix. */
static const acme_row_t rows[] = {
	{ "GET", "directory", NULL, res_directory },
	{ "GET", "new-nonce", NULL, res_nonce },
	{ "POST", "new-account", NULL, acme_new_account },
	{ "POST", "acct/", "/orders", acme_account_orders },
	{ "POST", "acct/", NULL, acme_account },
	{ "POST", "orders/", NULL, acme_orders_next },
	{ "POST", "key-change", NULL, acme_key_change },
	{ "POST", "new-order", NULL, acme_new_order },
	{ "POST", "order/", "/finalize", acme_finalize },
	{ "POST", "order/", NULL, acme_order },
	{ "POST", "authz/", NULL, acme_authz },
	{ "POST", "chall/", NULL, acme_challenge },
	{ "POST", "cert/", NULL, acme_cert },
	{ "POST", "issuer/", NULL, acme_issuer },
	{ "GET", "issuer/", NULL, acme_issuer },
	{ "POST", "revoke-cert", NULL, acme_revoke },
	{ "GET", "renewal-info/", NULL, acme_renewal_info },
};

/* The row for method and path (arg: what the prefix row's path holds), or NULL:
 * *method_ok is -1 when rows take the path with other methods only (a 405; allow,
 * allow_cap bytes, then lists them), else 0. */
static const acme_row_t *find_row(const char *path, char *arg, size_t cap, int *method_ok,
				  const char *method, char *allow, size_t allow_cap)
{
	size_t i;

	*method_ok = 0;
	allow[0] = '\0';
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const acme_row_t *row = &rows[i];
		size_t n = strlen(row->prefix), rest;
		int prefix = row->prefix[n - 1] == '/';

		if (prefix ? strncmp(path, row->prefix, n) != 0 : strcmp(path, row->prefix) != 0)
			continue;
		rest = prefix ? strlen(path + n) : 0;
		if (prefix && rest >= cap)
			continue;
		if (row->suffix != NULL) {
			size_t sl = strlen(row->suffix);
			if (rest <= sl || strcmp(path + n + rest - sl, row->suffix) != 0)
				continue;
			rest -= sl;
		}
		if (strcmp(method, row->method) != 0 &&
		    !(strcmp(method, "HEAD") == 0 && strcmp(row->method, "GET") == 0)) {
			*method_ok = -1;
			http_allow_add(allow, allow_cap, row->method, 1);
			continue;
		}
		*method_ok = 1;
		if (prefix) {
			memcpy(arg, path + n, rest);
			arg[rest] = '\0';
		} else {
			arg[0] = '\0';
		}
		return row;
	}
	return NULL;
}

/* The headers of every ACME reply: a fresh nonce (RFC 8555 §6.5), so a client can retry
 * a badNonce or any refusal at once, a link to the directory, and no caching. */
static void reply_headers(acme_t *a, http_reply_t *r)
{
	char nonce[40], link[600];

	if (acme_nonce_make(a->nonces, nonce, sizeof(nonce)) == 0)
		http_reply_header(r, "Replay-Nonce", "%s", nonce);
	snprintf(link, sizeof(link), "<%sdirectory>;rel=\"index\"", a->base);
	http_reply_header(r, "Link", "%s", link);
	http_reply_header(r, "Cache-Control", "no-store");
}

void acme_handle(acme_t *a, const acme_request_t *req, http_reply_t *r)
{
	const acme_row_t *row;
	char arg[256], url[512], allow[32];
	int method_ok;

	row = find_row(req->path, arg, sizeof(arg), &method_ok, req->method, allow,
		       sizeof(allow));
	snprintf(url, sizeof(url), "%s%s", a->base, req->path);
	if (row == NULL) {
		if (method_ok < 0) {
			acme_problem(r, 405, "malformed", "method %s not allowed on %s",
				     req->method, url);
			http_reply_header(r, "Allow", "%s", allow); /* RFC 9110 §15.5.6 */
		} else {
			acme_problem(r, 404, "malformed", "no ACME resource %s", url);
		}
	} else if (strcmp(row->method, "POST") == 0 &&
		   !http_media_type_is(req->content_type, "application/jose+json")) {
		acme_problem(r, 415, "malformed", "Content-Type must be application/jose+json");
	} else {
		row->fn(a, url, arg, req, r);
	}
	if (r->status == 0 && r->later == NULL)
		acme_problem(r, 500, "serverInternal", "no reply");
	reply_headers(a, r);
}

void acme_refuse(acme_t *a, int status, const char *detail, http_reply_t *r)
{
	acme_problem(r, status, status >= 500 ? "serverInternal" : "malformed", "%s", detail);
	reply_headers(a, r);
}
