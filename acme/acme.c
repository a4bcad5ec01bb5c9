/* SPDX-License-Identifier: MIT */
/* ACME front: settings, the resource table, directory, newNonce and the headers every reply carries. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>
#include <curl/curl.h>

#include "acme/acme_int.h"

/* ---- settings (the config's "acme" object) ---- */

static int conf_int(const json_t *obj, const char *key, const char *path, long lo, long hi,
		    long *out, cairn_err_t *err)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return cairn_err_set(err, CAIRN_ECONFIG, "acme.%s%s: must be an integer %ld..%ld",
				     path, key, lo, hi);
	*out = (long)json_integer_value(v);
	return 0;
}

static int conf_str(const json_t *obj, const char *key, const char *path, char *out,
		    size_t cap, cairn_err_t *err)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return 0;
	if (!json_is_string(v) || strlen(json_string_value(v)) >= cap)
		return cairn_err_set(err, CAIRN_ECONFIG, "acme.%s%s: must be a string (< %zu chars)",
				     path, key, cap);
	snprintf(out, cap, "%s", json_string_value(v));
	return 0;
}

static int conf_known(const json_t *obj, const char *path, const char *const *keys,
		      cairn_err_t *err)
{
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach((json_t *)obj, k, v) {
		for (i = 0; keys[i] && strcmp(keys[i], k) != 0; i++)
			;
		if (keys[i] == NULL)
			return cairn_err_set(err, CAIRN_ECONFIG, "acme.%s%s: unknown key", path, k);
	}
	return 0;
}

/* "host:port" or "[v6]:port". */
static int parse_hostport(const char *s, char *host, size_t cap, int *port)
{
	const char *colon;
	size_t hl;
	char *end;
	long p;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return CAIRN_EINVAL;
		hl = (size_t)(close - s - 1);
		s++;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return CAIRN_EINVAL;
		hl = (size_t)(colon - s);
	}
	p = strtol(colon + 1, &end, 10);
	if (hl == 0 || hl >= cap || *end != '\0' || p < 1 || p > 65535)
		return CAIRN_EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	*port = (int)p;
	return 0;
}

static int parse_validation(acme_t *a, const json_t *v, cairn_err_t *err)
{
	static const char *const keys[] = { "dns_server", "http01_port", "tlsalpn01_port",
					    "hosts", "timeout_ms", NULL };
	char dns[160] = "";
	long http = 80, tls = 443, tmo = 5000;
	const char *name;
	json_t *addr, *hosts;
	int rc;

	if (!json_is_object(v))
		return cairn_err_set(err, CAIRN_ECONFIG, "acme.validation: must be an object");
	if ((rc = conf_known(v, "validation.", keys, err)) ||
	    (rc = conf_str(v, "dns_server", "validation.", dns, sizeof(dns), err)) ||
	    (rc = conf_int(v, "http01_port", "validation.", 1, 65535, &http, err)) ||
	    (rc = conf_int(v, "tlsalpn01_port", "validation.", 1, 65535, &tls, err)) ||
	    (rc = conf_int(v, "timeout_ms", "validation.", 100, 60000, &tmo, err)))
		return rc;
	if (dns[0] != '\0') {
		if (parse_hostport(dns, a->v.dns_host, sizeof(a->v.dns_host), &a->v.dns_port) != 0)
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "acme.validation.dns_server: must be host:port");
	}
	a->v.http01_port = (int)http;
	a->v.tlsalpn01_port = (int)tls;
	a->v.timeout_ms = (int)tmo;
	hosts = json_object_get(v, "hosts");
	if (hosts != NULL && !json_is_object(hosts))
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "acme.validation.hosts: must be an object name -> address");
	json_object_foreach(hosts, name, addr) {
		acme_host_t *h;
		unsigned char bin[16];
		if (a->v.n_hosts == ACME_MAX_HOSTS)
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "acme.validation.hosts: at most %d names",
					     ACME_MAX_HOSTS);
		if (!json_is_string(addr) || strlen(name) >= sizeof(h->name) ||
		    (inet_pton(AF_INET, json_string_value(addr), bin) != 1 &&
		     inet_pton(AF_INET6, json_string_value(addr), bin) != 1))
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "acme.validation.hosts.%s: must be an IPv4 or IPv6 address",
					     name);
		h = &a->v.hosts[a->v.n_hosts++];
		snprintf(h->name, sizeof(h->name), "%s", name);
		snprintf(h->addr, sizeof(h->addr), "%s", json_string_value(addr));
	}
	return 0;
}

static int parse_conf(acme_t *a, const json_t *c, cairn_err_t *err)
{
	static const char *const keys[] = { "validation", "terms_of_service", "website",
					    "caa_identities", "external_account_required",
					    "authz_reuse_seconds", "order_lifetime_seconds",
					    "rate_limits", "profile", "renewal_window_percent",
					    "validation_workers", NULL };
	static const char *const rl_keys[] = { "orders_per_hour", "pending_authorizations",
					       "failed_validations_per_hour", NULL };
	long reuse = 30L * 86400, life = 7L * 86400, pct = 66;
	json_t *v;
	size_t i;
	int rc;

	a->v.http01_port = 80;
	a->v.tlsalpn01_port = 443;
	a->v.timeout_ms = 5000;
	if (c == NULL)
		goto defaults;
	if (!json_is_object(c))
		return cairn_err_set(err, CAIRN_ECONFIG, "acme: must be an object");
	if ((rc = conf_known(c, "", keys, err)) ||
	    (rc = conf_str(c, "terms_of_service", "", a->tos, sizeof(a->tos), err)) ||
	    (rc = conf_str(c, "website", "", a->website, sizeof(a->website), err)) ||
	    (rc = conf_str(c, "profile", "", a->profile, sizeof(a->profile), err)) ||
	    (rc = conf_int(c, "authz_reuse_seconds", "", 0, 400L * 86400, &reuse, err)) ||
	    (rc = conf_int(c, "order_lifetime_seconds", "", 60, 30L * 86400, &life, err)) ||
	    (rc = conf_int(c, "renewal_window_percent", "", 1, 99, &pct, err)))
		return rc;
	v = json_object_get(c, "validation");
	if (v != NULL && (rc = parse_validation(a, v, err)) != 0)
		return rc;
	v = json_object_get(c, "external_account_required");
	if (v != NULL && !json_is_boolean(v))
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "acme.external_account_required: must be true or false");
	a->eab_required = json_is_true(v);
	v = json_object_get(c, "caa_identities");
	if (v != NULL) {
		if (!json_is_array(v))
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "acme.caa_identities: must be an array of domain names");
		for (i = 0; i < json_array_size(v); i++)
			if (!json_is_string(json_array_get(v, i)))
				return cairn_err_set(err, CAIRN_ECONFIG,
						     "acme.caa_identities[%zu]: must be a string", i);
		a->caa_identities = json_deep_copy(v);
	}
	v = json_object_get(c, "rate_limits");
	if (v != NULL) {
		if (!json_is_object(v))
			return cairn_err_set(err, CAIRN_ECONFIG, "acme.rate_limits: must be an object");
		if ((rc = conf_known(v, "rate_limits.", rl_keys, err)) ||
		    (rc = conf_int(v, "orders_per_hour", "rate_limits.", 0, 1000000,
				   &a->orders_per_hour, err)) ||
		    (rc = conf_int(v, "pending_authorizations", "rate_limits.", 0, 1000000,
				   &a->pending_authz_max, err)) ||
		    (rc = conf_int(v, "failed_validations_per_hour", "rate_limits.", 0, 1000000,
				   &a->failed_per_hour, err)))
			return rc;
	}
defaults:
	a->authz_reuse = reuse;
	a->order_lifetime = life;
	a->ari_window_pct = pct;
	if (a->profile[0] == '\0')
		snprintf(a->profile, sizeof(a->profile), "tls-server");
	return 0;
}

int acme_new(const acme_config_t *cfg, acme_t **out, cairn_err_t *err)
{
	acme_t *a = calloc(1, sizeof(*a));
	long workers = 4;
	int rc;

	if (a == NULL)
		return CAIRN_ENOMEM;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	ares_library_init(ARES_LIB_INIT_ALL);
	pthread_mutex_init(&a->rl_lock, NULL);
	pthread_mutex_init(&a->key_lock, NULL);
	a->db = cfg->db;
	a->ca = cfg->ca;
	a->policy = cfg->policy;
	snprintf(a->base, sizeof(a->base), "%s/acme/", cfg->https_base);
	snprintf(a->http_base, sizeof(a->http_base), "%s", cfg->http_base ? cfg->http_base : "");
	a->rl_failed = json_object();
	a->finalizing = json_object();
	rc = parse_conf(a, cfg->conf, err);
	if (rc == 0 && cfg->conf != NULL)
		rc = conf_int(cfg->conf, "validation_workers", "", 1, 64, &workers, err);
	if (rc)
		goto fail;
	if (cfg->profile != NULL)
		snprintf(a->profile, sizeof(a->profile), "%s", cfg->profile);
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
	    (rc = acme_pool_start(a, (int)workers, &a->pool)) != 0) {
		cairn_err_set(err, rc, "acme: cannot start: %s", cairn_strerror(rc));
		goto fail;
	}
	*out = a;
	return 0;
fail:
	acme_free(a);
	return rc;
}

void acme_free(acme_t *a)
{
	if (a == NULL)
		return;
	acme_pool_stop(a->pool);
	acme_nonces_free(a->nonces);
	json_decref(a->caa_identities);
	json_decref(a->rl_failed);
	json_decref(a->finalizing);
	pthread_mutex_destroy(&a->rl_lock);
	for (size_t i = 0; i < ACME_KEYCACHE; i++)
		EVP_PKEY_free(a->keys[i].pk);
	pthread_mutex_destroy(&a->key_lock);
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
	{ "POST", "revoke-cert", NULL, acme_revoke },
	{ "GET", "renewal-info/", NULL, acme_renewal_info },
};

static const acme_row_t *find_row(const char *path, char *arg, size_t cap, int *method_ok,
				  const char *method)
{
	size_t i;

	*method_ok = 0;
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

void acme_handle(acme_t *a, const acme_request_t *req, http_reply_t *r)
{
	const acme_row_t *row;
	char arg[256], url[512], nonce[40], link[600];
	int method_ok;

	row = find_row(req->path, arg, sizeof(arg), &method_ok, req->method);
	snprintf(url, sizeof(url), "%s%s", a->base, req->path);
	if (row == NULL) {
		if (method_ok < 0)
			acme_problem(r, 405, "malformed", "method %s not allowed on %s",
				     req->method, url);
		else
			acme_problem(r, 404, "malformed", "no ACME resource %s", url);
	} else if (strcmp(row->method, "POST") == 0 &&
		   (req->content_type == NULL ||
		    strncmp(req->content_type, "application/jose+json", 21) != 0)) {
		acme_problem(r, 415, "malformed", "Content-Type must be application/jose+json");
	} else {
		row->fn(a, url, arg, req, r);
	}
	if (r->status == 0)
		acme_problem(r, 500, "serverInternal", "no reply");
	/* Every reply carries a fresh nonce (RFC 8555 §6.5), so a client can retry a
	 * badNonce at once, and a link to the directory. */
	if (acme_nonce_make(a->nonces, nonce, sizeof(nonce)) == 0)
		http_reply_header(r, "Replay-Nonce", "%s", nonce);
	snprintf(link, sizeof(link), "<%sdirectory>;rel=\"index\"", a->base);
	http_reply_header(r, "Link", "%s", link);
	http_reply_header(r, "Cache-Control", "no-store");
}
