/* SPDX-License-Identifier: MIT */
/* cairn.json: one table row per key gives type, default, bounds and docs; load validates against it. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>

#include "config.h"
#include "inventory/inventory.h"
#include "notify/notify.h"
#include "server/internal.h"

/* cairn.json larger than this is refused (it is a few KiB in practice). */
#define CONFIG_MAX_BYTES (1 << 20)
/* Longest key path shown in a message ("est.labels.NAME.client_cert_profiles"). */
#define CFG_PATH_MAX 512

static const cfg_key_t *cfg_row(const char *pattern)
{
	size_t i;

	for (i = 0; i < config_n_keys; i++)
		if (strcmp(config_keys[i].path, pattern) == 0)
			return &config_keys[i];
	return NULL;
}

/* 1 when row is a direct child of the pattern parent ("" = the top level). */
static int cfg_is_child(const char *row, const char *parent)
{
	size_t n = strlen(parent);

	if (n == 0)
		return strchr(row, '.') == NULL;
	return strncmp(row, parent, n) == 0 && row[n] == '.' && strchr(row + n + 1, '.') == NULL;
}

/* "a|b|c" as "a, b or c" into out. */
static void cfg_choices_text(const char *choices, char *out, size_t cap)
{
	const char *last = strrchr(choices, '|');
	size_t o = 0;

	for (; *choices && o + 5 < cap; choices++) {
		if (*choices != '|') {
			out[o++] = *choices;
			continue;
		}
		o += (size_t)snprintf(out + o, cap - o, "%s", choices == last ? " or " : ", ");
	}
	out[o < cap ? o : cap - 1] = '\0';
}

static int cfg_choice_ok(const char *choices, const char *s)
{
	size_t n = strlen(s);

	for (;;) {
		const char *bar = strchr(choices, '|');
		size_t len = bar ? (size_t)(bar - choices) : strlen(choices);
		if (len == n && strncmp(choices, s, n) == 0)
			return 1;
		if (bar == NULL)
			return 0;
		choices = bar + 1;
	}
}

/* Absolute http(s) URL with a host: what goes into certificates and ACME links. */
static int cfg_url_ok(const char *s)
{
	const char *p;

	if (strncmp(s, "http://", 7) == 0)
		p = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		p = s + 8;
	else
		return 0;
	if (*p == '\0' || *p == '/' || *p == ':' || *p == '?' || *p == '#')
		return 0;
	for (; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return 0;
	return 1;
}

/* Why s (a URL that passed cfg_url_ok) cannot be a base that paths such as
 * "/acme/new-order" or "/crl/issuing.crl" are appended to, or NULL: a user@ would travel
 * in every link and certificate, a ?query or #fragment would swallow the path, and a
 * trailing / would double it. */
static const char *cfg_base_why(const char *s)
{
	const char *host = strstr(s, "://") + 3;
	size_t auth = strcspn(host, "/?#");

	if (memchr(host, '@', auth) != NULL)
		return "a base URL carries no user name or password (user@)";
	if (strpbrk(s, "?#") != NULL)
		return "a base URL has no ?query or #fragment (paths are appended to it)";
	if (s[strlen(s) - 1] == '/')
		return "a base URL does not end in / (paths are appended to it)";
	return NULL;
}

/* The member names a pattern allows, for "unknown key" messages. */
static void cfg_allowed_here(const char *pattern, char *out, size_t cap)
{
	size_t i, o = 0, n = strlen(pattern);

	out[0] = '\0';
	for (i = 0; i < config_n_keys && o + 4 < cap; i++) {
		const char *k = config_keys[i].path;
		if (cfg_is_child(k, pattern))
			o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? ", " : "", k + (n ? n + 1 : 0));
	}
}

static int cfg_walk(const json_t *obj, const char *path, const char *pattern, cairn_err_t *err);

/* Checks one value v at path against its row k (pattern is the row's path). */
static int cfg_value(const cfg_key_t *k, const json_t *v, const char *path, const char *pattern,
		     cairn_err_t *err)
{
	const char *s = json_string_value(v), *name;
	char text[256], host[256];
	unsigned char bin[16];
	int64_t secs;
	json_t *m;
	size_t i;
	int port;

	if (s == NULL && (k->type == CFG_STR || k->type == CFG_DUR || k->type == CFG_URL ||
			  k->type == CFG_ADDR || k->type == CFG_IP))
		return cairn_err_set(err, CAIRN_ECONFIG, "%s: must be a string", path);
	switch (k->type) {
	case CFG_STR:
		if (k->choices != NULL && !cfg_choice_ok(k->choices, s)) {
			cfg_choices_text(k->choices, text, sizeof(text));
			return cairn_err_set(err, CAIRN_ECONFIG, "%s: must be %s", path, text);
		}
		if ((k->max > 0 && strlen(s) > (size_t)k->max) || (k->def == NULL && s[0] == '\0'))
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "%s: must be a string of %d..%ld characters", path,
					     k->def == NULL, k->max > 0 ? k->max : 4096);
		return 0;
	case CFG_INT:
		if (!json_is_integer(v) || json_integer_value(v) < k->min ||
		    json_integer_value(v) > k->max)
			return cairn_err_set(err, CAIRN_ECONFIG, "%s: must be an integer %ld..%ld", path,
					     k->min, k->max);
		return 0;
	case CFG_BOOL:
		return json_is_boolean(v) ? 0
					  : cairn_err_set(err, CAIRN_ECONFIG,
							  "%s: must be true or false", path);
	case CFG_DUR:
		if (duration_parse(s, &secs) != 0 || secs < k->min || secs > k->max)
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "%s: must be a duration like 90s, 30m, 12h, 7d, 2w or "
					     "1y, from %lds to %lds", path, k->min, k->max);
		return 0;
	case CFG_URL:
		if (s[0] == '\0' && (k->flags & CFG_EMPTY))
			return 0;
		if (!cfg_url_ok(s) || (k->max != 0 && strlen(s) > (size_t)k->max))
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "%s: must be an absolute %shttps:// URL with a host%s", path,
					     k->flags & CFG_HTTPS ? "" : "http:// or ",
					     k->flags & CFG_EMPTY ? ", or empty" : "");
		if ((k->flags & CFG_HTTPS) && strncmp(s, "https://", 8) != 0)
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "%s: must be an https:// URL (ACME, EST and the admin API "
					     "run over TLS)", path);
		if ((k->flags & CFG_BASE) && (name = cfg_base_why(s)) != NULL)
			return cairn_err_set(err, CAIRN_ECONFIG, "%s: %s", path, name);
		return 0;
	case CFG_ADDR:
		if (((s[0] == '\0' && (k->flags & CFG_EMPTY)) ||
				  (hostport_parse(s, host, sizeof(host), &port) == 0 && port >= k->min &&
				   port <= k->max)))
			return 0;
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "%s: must be host:port or [v6]:port with a port %ld..%ld%s", path,
				     k->min, k->max, k->flags & CFG_EMPTY ? ", or empty" : "");
	case CFG_IP:
		if ((inet_pton(AF_INET, s, bin) == 1 || inet_pton(AF_INET6, s, bin) == 1))
			return 0;
		return cairn_err_set(err, CAIRN_ECONFIG, "%s: must be an IPv4 or IPv6 address", path);
	case CFG_LIST:
		if (json_is_array(v) && json_array_size(v) <= (size_t)k->max) {
			json_array_foreach(v, i, m)
				if (!json_is_string(m))
					break;
			if (i == json_array_size(v))
				return 0;
		}
		return cairn_err_set(err, CAIRN_ECONFIG, "%s: must be an array of at most %ld strings",
				     path, k->max);
	case CFG_OBJ:
		if (!json_is_object(v))
			return cairn_err_set(err, CAIRN_ECONFIG, "%s: must be an object", path);
		return cfg_walk(v, path, pattern, err);
	case CFG_SUB:
		if (!json_is_object(v))
			return cairn_err_set(err, CAIRN_ECONFIG, "%s: must be an object", path);
		return 0; /* its members: the subsystem's validator, in cfg_check_subsystems */
	case CFG_MAP: {
		char mpath[CFG_PATH_MAX], mpat[CFG_PATH_MAX];
		const cfg_key_t *row;
		int rc;
		if (!json_is_object(v) || json_object_size(v) < (size_t)k->min ||
		    json_object_size(v) > (size_t)k->max)
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "%s: must be an object of %ld..%ld named entries", path,
					     k->min, k->max);
		snprintf(mpat, sizeof(mpat), "%s.*", pattern);
		if ((row = cfg_row(mpat)) == NULL)
			return CAIRN_EINVAL;
		json_object_foreach((json_t *)v, name, m) {
			if (name[0] == '\0' || strlen(name) > 253 ||
			    (size_t)snprintf(mpath, sizeof(mpath), "%s.%s", path, name) >= sizeof(mpath))
				return cairn_err_set(err, CAIRN_ECONFIG,
						     "%s: names must be 1..253 characters", path);
			if ((rc = cfg_value(row, m, mpath, mpat, err)) != 0)
				return rc;
		}
		return 0;
	}
	}
	return CAIRN_EINVAL;
}

/* Every member of obj must be a row below pattern, of the right type; required rows present. */
static int cfg_walk(const json_t *obj, const char *path, const char *pattern, cairn_err_t *err)
{
	char cpath[CFG_PATH_MAX], cpat[CFG_PATH_MAX], allowed[1024];
	const char *key, *dot = path[0] ? "." : "";
	const cfg_key_t *row;
	json_t *v;
	size_t i;
	int rc;

	json_object_foreach((json_t *)obj, key, v) {
		if ((size_t)snprintf(cpath, sizeof(cpath), "%s%s%s", path, dot, key) >= sizeof(cpath))
			return cairn_err_set(err, CAIRN_ECONFIG, "%s: key path too long", path);
		snprintf(cpat, sizeof(cpat), "%s%s%s", pattern, dot, key);
		if (strcmp(key, "*") == 0 || (row = cfg_row(cpat)) == NULL) {
			cfg_allowed_here(pattern, allowed, sizeof(allowed));
			return cairn_err_set(err, CAIRN_ECONFIG, "%s: unknown key (known here: %s)",
					     cpath, allowed);
		}
		if ((rc = cfg_value(row, v, cpath, cpat, err)) != 0)
			return rc;
	}
	for (i = 0; i < config_n_keys; i++) {
		const cfg_key_t *k = &config_keys[i];
		const char *last = strrchr(k->path, '.');
		if (k->def == NULL && cfg_is_child(k->path, pattern) &&
		    json_object_get(obj, last ? last + 1 : k->path) == NULL)
			return cairn_err_set(err, CAIRN_ECONFIG, "%s%s%s: required (%s)", path, dot,
					     last ? last + 1 : k->path, k->doc);
	}
	return 0;
}

static json_t *cfg_lookup(json_t *root, const char *path)
{
	char buf[128], *save = NULL, *part;
	json_t *cur = root;

	snprintf(buf, sizeof(buf), "%s", path);
	for (part = strtok_r(buf, ".", &save); part && cur; part = strtok_r(NULL, ".", &save))
		cur = json_is_object(cur) ? json_object_get(cur, part) : NULL;
	return cur;
}

/* Stores the (validated) value of row k, or its default, into cfg. */
static int cfg_apply(cairn_config_t *cfg, const cfg_key_t *k)
{
	json_t *v = cfg_lookup(cfg->root, k->path);
	void *field = (char *)cfg + k->offset;

	switch (k->type) {
	case CFG_STR:
	case CFG_DUR:
	case CFG_URL:
	case CFG_ADDR:
	case CFG_IP:
		*(char **)field = strdup(v ? json_string_value(v) : k->def);
		return *(char **)field ? 0 : CAIRN_ENOMEM;
	case CFG_INT:
		*(long *)field = v ? (long)json_integer_value(v) : strtol(k->def, NULL, 10);
		return 0;
	case CFG_BOOL:
		*(long *)field = v ? json_is_true(v) : strcmp(k->def, "true") == 0;
		return 0;
	case CFG_LIST:
	case CFG_OBJ:
	case CFG_MAP:
	case CFG_SUB:
		*(json_t **)field = v;
		return 0;
	}
	return CAIRN_EINVAL;
}

int config_has_profile(const char *name, const void *profiles)
{
	return json_object_get(profiles, name) != NULL;
}

/* What the subsystems check beyond types and bounds: profiles, EST labels, the ACME profile. */
static int cfg_check_subsystems(cairn_config_t *cfg, cairn_err_t *err)
{
	const char *acme_profile = cfg->acme_settings.profile;
	notify_settings_t *ns;
	est_settings_t *est;
	size_t i;
	int rc;

	if ((rc = ca_profiles_check(cfg->profiles, err)) != 0)
		return rc;
	if ((est = cfg->est_settings = malloc(sizeof(*est))) == NULL)
		return CAIRN_ENOMEM;
	if ((rc = est_settings_parse(cfg->est, est, err)) != 0)
		return rc;
	/* Admin certificates log in to the admin API: no EST label or ACME order hands them out. */
	for (i = 0; i < est->n_labels; i++)
		if (strcmp(est->labels[i].profile, CA_ADMIN_PROFILE) == 0)
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "est.labels.%s.profile: %s logs in to the admin API, EST "
					     "may not issue it", est->labels[i].name, CA_ADMIN_PROFILE);
	if ((rc = est_settings_check_profiles(est, config_has_profile, cfg->profiles, err)) != 0)
		return rc;
	if (strcmp(acme_profile, CA_ADMIN_PROFILE) == 0)
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "acme.profile: %s logs in to the admin API, ACME may not issue it",
				     acme_profile);
	if (!config_has_profile(acme_profile, cfg->profiles))
		return cairn_err_set(err, CAIRN_ECONFIG, "acme.profile: no profile named %s",
				     acme_profile);
	/* A signer must outlive the answers it signed: renewed no later than notAfter minus
	 * ocsp.validity, which must leave it some life of its own. */
	if (cfg->ocsp_signer_days * 86400 < 2 * cfg->ocsp_validity)
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "ocsp.signer_validity_days: must be at least twice ocsp.validity "
				     "(%ld s)", cfg->ocsp_validity);
	/* acme.caa_identities: issuer domain names as CAA records hold them (RFC 8659 §4.2);
	 * "ca.example." or "" would match no record and refuse every name that has CAA. */
	{
		json_t *e;
		json_array_foreach(cfg->acme_settings.caa_identities, i, e) {
			const char *id = json_string_value(e);
			const char *why = ca_dns_problem(id, strlen(id), 0);
			if (why != NULL)
				return cairn_err_set(err, CAIRN_ECONFIG,
						     "acme.caa_identities[%zu]: \"%.64s\" is no issuer "
						     "domain name: it %s", i, id, why);
		}
	}
	/* discover.allowed: the ranges `cairn discover` and the schedules may scan. */
	{
		const json_t *allowed = json_object_get(json_object_get(cfg->root, "discover"),
							"allowed");
		const char *list[INV_ALLOWED_MAX]; /* the table allows no more */
		size_t n = 0;
		json_t *e;
		json_array_foreach(allowed, i, e)
			if (n < INV_ALLOWED_MAX)
				list[n++] = json_string_value(e);
		if ((rc = inventory_allowed_check(list, n, err)) != 0)
			return rc;
	}
	/* The notify object: thresholds, retries, sinks (notify/settings.c). */
	if ((ns = malloc(sizeof(*ns))) == NULL)
		return CAIRN_ENOMEM;
	rc = notify_settings_parse(cfg->notify, ns, err);
	/* A sink's match that no event can meet would drop its alerts, silently. */
	for (i = 0; rc == 0 && i < ns->n_sinks; i++) {
		const notify_sink_t *sk = &ns->sinks[i];
		size_t j;
		for (j = 0; rc == 0 && j < sk->n_suffix; j++) {
			const char *why = ca_dns_suffix_problem(sk->dns_suffix[j]);
			if (why != NULL)
				rc = cairn_err_set(err, CAIRN_ECONFIG,
						   "notify sink %s: match.dns_suffix \"%.64s\" can never "
						   "match: the name %s", sk->name, sk->dns_suffix[j], why);
		}
		for (j = 0; rc == 0 && j < sk->n_profile; j++)
			if (!config_has_profile(sk->profile[j], cfg->profiles))
				rc = cairn_err_set(err, CAIRN_ECONFIG,
						   "notify sink %s: match.profile \"%.64s\" can never "
						   "match: cairn.json has no such profile", sk->name,
						   sk->profile[j]);
	}
	free(ns);
	return rc;
}

int config_check_string(const char *key, const char *value, cairn_err_t *err)
{
	const cfg_key_t *k = cfg_row(key);
	json_t *v = json_string(value);
	int rc;

	if (k == NULL || v == NULL)
		rc = v == NULL ? CAIRN_ENOMEM : CAIRN_EINVAL;
	else
		rc = cfg_value(k, v, key, key, err);
	json_decref(v);
	return rc;
}

const char *config_key_default(const char *key)
{
	const cfg_key_t *k = cfg_row(key);

	return k ? k->def : NULL;
}

int config_parse_addr(const char *addr, char *host, size_t cap, int *port)
{
	return hostport_parse(addr, host, cap, port);
}

char *config_tls_priorities(const cairn_config_t *cfg)
{
	char *out = NULL;

	if (asprintf(&out, "%s:-VERS-ALL:+VERS-TLS1.3%s", cfg->tls_priorities,
		     strcmp(cfg->tls_min_version, "1.2") == 0 ? ":+VERS-TLS1.2" : "") < 0)
		return NULL;
	return out;
}

/* server.tls_min_version and server.tls_priorities, checked as GnuTLS will read them. */
static int config_check_tls(const cairn_config_t *cfg, cairn_err_t *err)
{
	gnutls_priority_t prio = NULL;
	const char *where = NULL;
	char *full;
	int rc;

	if (strcmp(cfg->tls_min_version, "1.2") != 0 && strcmp(cfg->tls_min_version, "1.3") != 0)
		return cairn_err_set(err, CAIRN_ECONFIG, "server.tls_min_version: must be 1.2 or 1.3");
	if (cfg->tls_priorities[0] == '\0')
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "server.tls_priorities: must be a GnuTLS priority string");
	if (strcasestr(cfg->tls_priorities, "VERS-") != NULL)
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "server.tls_priorities: no VERS- items; set the oldest version "
				     "with server.tls_min_version");
	if ((full = config_tls_priorities(cfg)) == NULL)
		return CAIRN_ENOMEM;
	rc = gnutls_priority_init(&prio, full, &where);
	if (rc != GNUTLS_E_SUCCESS) {
		/* where points into full; the part from the user's string is what to show. */
		size_t at = where && where >= full ? (size_t)(where - full) : 0;
		rc = cairn_err_set(err, CAIRN_ECONFIG,
				   "server.tls_priorities: GnuTLS refuses it at \"%.40s\": %s",
				   at < strlen(cfg->tls_priorities) ? cfg->tls_priorities + at
								    : cfg->tls_priorities,
				   gnutls_strerror(rc));
	} else {
		gnutls_priority_deinit(prio);
		rc = 0;
	}
	free(full);
	return rc;
}

/* Validates the parsed document against the table, then fills cfg from it. */
static int config_check(cairn_config_t *cfg, cairn_err_t *err)
{
	size_t i;
	int rc;

	if ((rc = cfg_walk(cfg->root, "", "", err)) != 0)
		return rc;
	for (i = 0; i < config_n_keys; i++)
		if (config_keys[i].offset != CFG_NO_FIELD &&
		    (rc = cfg_apply(cfg, &config_keys[i])) != 0)
			return rc;
	if ((rc = cfg_check_subsystems(cfg, err)) != 0)
		return rc;
	return config_check_tls(cfg, err);
}

int config_parse(const char *dir, const char *name, const char *text, size_t len,
		 cairn_config_t **out, cairn_err_t *err)
{
	cairn_config_t *cfg = NULL;
	json_error_t jerr;
	int rc;

	*out = NULL;
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL || (cfg->dir = strdup(dir)) == NULL) {
		rc = CAIRN_ENOMEM;
		goto out;
	}
	cfg->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (cfg->root == NULL || !json_is_object(cfg->root)) {
		rc = cairn_err_set(err, CAIRN_ECONFIG, "%s:%d: %s", name, jerr.line,
				   cfg->root ? "top level must be an object" : jerr.text);
		goto out;
	}
	rc = config_check(cfg, err);
	if (rc)
		goto out;
	*out = cfg;
	cfg = NULL;
out:
	config_free(cfg);
	return rc;
}

int config_load(const char *dir, cairn_config_t **out, cairn_err_t *err)
{
	char *path = NULL, *abs = NULL, *text = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	path = fs_join(dir, "cairn.json");
	if (path == NULL) {
		rc = CAIRN_ENOMEM;
		goto out;
	}
	abs = realpath(dir, NULL);
	if (abs == NULL || !fs_exists(path)) {
		rc = cairn_err_set(err, CAIRN_ENOENT, "%s: no CA here (run `cairn init --dir %s`)",
				   path, dir);
		goto out;
	}
	rc = fs_read(path, CONFIG_MAX_BYTES, &text, &len);
	if (rc) {
		cairn_err_set(err, rc == CAIRN_ETOOBIG ? CAIRN_ECONFIG : rc, "%s: %s", path,
			      cairn_strerror(rc));
		rc = rc == CAIRN_ETOOBIG ? CAIRN_ECONFIG : rc;
		goto out;
	}
	rc = config_parse(abs, path, text, len, out, err);
out:
	free(text);
	free(abs);
	free(path);
	return rc;
}

void config_free(cairn_config_t *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < config_n_keys; i++) {
		const cfg_key_t *k = &config_keys[i];
		if (k->offset != CFG_NO_FIELD && k->type != CFG_INT && k->type != CFG_BOOL &&
		    k->type != CFG_LIST && k->type != CFG_OBJ && k->type != CFG_MAP &&
		    k->type != CFG_SUB)
			free(*(char **)((char *)cfg + k->offset));
	}
	free(cfg->est_settings);
	free(cfg->dir);
	json_decref(cfg->root);
	free(cfg);
}

char *config_path(const cairn_config_t *cfg, const char *rel)
{
	return fs_join(cfg->dir, rel);
}

int config_read_pin(const cairn_config_t *cfg, char **pin, cairn_err_t *err)
{
	const char *env = cfg->pin_env[0] ? getenv(cfg->pin_env) : NULL;
	char *path, *data = NULL;
	size_t len;
	int rc;

	*pin = NULL;
	if (env != NULL && env[0] != '\0') {
		*pin = strdup(env);
		return *pin ? 0 : CAIRN_ENOMEM;
	}
	path = config_path(cfg, cfg->pin_file);
	if (path == NULL)
		return CAIRN_ENOMEM;
	rc = fs_read(path, 1024, &data, &len);
	if (rc) {
		cairn_err_set(err, rc, "token.pin_file %s: %s", path, cairn_strerror(rc));
		free(path);
		return rc;
	}
	free(path);
	while (len > 0 && isspace((unsigned char)data[len - 1]))
		data[--len] = '\0';
	*pin = data;
	return 0;
}

/* Sets doc.PATH (creating the objects on the way) to val (stolen). */
static int cfg_set_path(json_t *doc, const char *path, json_t *val)
{
	char buf[128], *dot, *part = buf;
	json_t *cur = doc, *next;

	snprintf(buf, sizeof(buf), "%s", path);
	while ((dot = strchr(part, '.')) != NULL) {
		*dot = '\0';
		if ((next = json_object_get(cur, part)) == NULL) {
			next = json_object();
			if (json_object_set_new(cur, part, next) != 0)
				break;
		}
		cur = next;
		part = dot + 1;
	}
	return json_object_set_new(cur, part, val);
}

json_t *config_default(const char *listen_https, const char *listen_http,
		       const char *public_https, const char *public_http, const json_t *profiles)
{
	json_t *doc = json_object(), *v;
	size_t i;

	for (i = 0; doc != NULL && i < config_n_keys; i++) {
		const cfg_key_t *k = &config_keys[i];
		if (strcmp(k->path, "profiles") == 0)
			v = json_deep_copy(profiles);
		else if (strcmp(k->path, "est") == 0)
			v = est_settings_default();
		else if (!(k->flags & CFG_INIT))
			continue;
		else if (k->type == CFG_INT)
			v = json_integer(strtol(k->def, NULL, 10));
		else if (k->type == CFG_MAP || k->type == CFG_OBJ)
			v = json_object();
		else
			v = json_string(k->def);
		if (cfg_set_path(doc, k->path, v) != 0) {
			json_decref(doc);
			return NULL;
		}
	}
	/* What init was told, and the embedded token's config it writes next to cairn.json. */
	if (doc != NULL &&
	    ((listen_https && cfg_set_path(doc, "listen.https", json_string(listen_https))) ||
	     (listen_http && cfg_set_path(doc, "listen.http", json_string(listen_http))) ||
	     (public_https && cfg_set_path(doc, "public_urls.https", json_string(public_https))) ||
	     (public_http && cfg_set_path(doc, "public_urls.http", json_string(public_http))) ||
	     cfg_set_path(doc, "token.softhsm_conf", json_string("softhsm2.conf")))) {
		json_decref(doc);
		doc = NULL;
	}
	return doc;
}

json_t *config_keys_json(void)
{
	static const char *const type_names[] = {
		[CFG_STR] = "string", [CFG_INT] = "integer", [CFG_BOOL] = "boolean",
		[CFG_DUR] = "duration", [CFG_URL] = "URL", [CFG_ADDR] = "host:port",
		[CFG_IP] = "IP address", [CFG_LIST] = "list of strings", [CFG_OBJ] = "object",
		[CFG_MAP] = "object of named entries", [CFG_SUB] = "object",
	};
	json_t *rows = json_array(), *row;
	char bounds[160];
	const char *def;
	size_t i;

	for (i = 0; rows != NULL && i < config_n_keys; i++) {
		const cfg_key_t *k = &config_keys[i];
		bounds[0] = '\0';
		if (k->type == CFG_INT || k->type == CFG_DUR)
			snprintf(bounds, sizeof(bounds), "%ld..%ld%s", k->min, k->max,
				 k->type == CFG_DUR ? " s" : "");
		else if (k->type == CFG_STR && k->choices != NULL)
			cfg_choices_text(k->choices, bounds, sizeof(bounds));
		else if ((k->type == CFG_LIST || k->type == CFG_MAP) && k->max > 0)
			snprintf(bounds, sizeof(bounds), "at most %ld", k->max);
		if (k->def == NULL)
			def = "required";
		else if (k->type == CFG_OBJ || k->type == CFG_SUB ||
			 (k->def[0] == '\0' && (k->type == CFG_MAP || k->type == CFG_LIST)))
			def = "optional";
		else if (k->def[0] == '\0')
			def = "empty";
		else
			def = NULL;
		row = json_pack("{s:s, s:s, s:s*, s:s, s:s*, s:s}", "key", k->path, "type",
				type_names[k->type], "bounds", bounds[0] ? bounds : NULL, "default",
				def ? def : "value", "value", def ? NULL : k->def, "meaning", k->doc);
		if (row == NULL || json_array_append_new(rows, row) != 0) {
			json_decref(rows);
			return NULL;
		}
	}
	return rows;
}

void config_describe(FILE *out)
{
	json_t *rows = config_keys_json(), *r;
	const char *bounds, *type;
	size_t i;

	fprintf(out, "| key | type | default | meaning |\n| --- | --- | --- | --- |\n");
	json_array_foreach(rows, i, r) {
		bounds = json_string_value(json_object_get(r, "bounds"));
		type = json_string_value(json_object_get(r, "type"));
		fprintf(out, "| `%s` | %s%s%s | ", json_string_value(json_object_get(r, "key")), type,
			bounds == NULL			 ? ""
			: strncmp(bounds, "at most", 7) == 0 ? ", "
			: strcmp(type, "string") == 0	 ? ": "
							 : " ",
			bounds ? bounds : "");
		if (json_object_get(r, "value") != NULL)
			fprintf(out, "`%s`", json_string_value(json_object_get(r, "value")));
		else
			fprintf(out, "%s", json_string_value(json_object_get(r, "default")));
		fprintf(out, " | %s |\n", json_string_value(json_object_get(r, "meaning")));
	}
	json_decref(rows);
}
