/* SPDX-License-Identifier: MIT */
/* cairn.json: one table row per key gives type, default, bounds and docs; load validates against it. */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ca/ca.h"
#include "est/est.h"
#include "server/server.h"

/* cairn.json larger than this is refused (it is a few KiB in practice). */
#define CONFIG_MAX_BYTES (1 << 20)

typedef enum { CFG_STR, CFG_INT, CFG_OBJ } cfg_type_t;

typedef struct cfg_key {
	const char *path;  /* dotted path in the JSON document */
	cfg_type_t type;
	size_t offset;     /* into cairn_config_t */
	const char *def;   /* default (string form); NULL = required */
	long min, max;     /* CFG_INT bounds */
	const char *doc;
} cfg_key_t;

#define S(field) CFG_STR, offsetof(cairn_config_t, field)
#define I(field) CFG_INT, offsetof(cairn_config_t, field)
#define O(field) CFG_OBJ, offsetof(cairn_config_t, field)
#define CFG_STR_(x) #x
#define CFG_NUM(x) CFG_STR_(x)

static const cfg_key_t cfg_keys[] = {
	{ "listen.https", S(listen_https), "127.0.0.1:8443", 0, 0,
	  "HTTPS listener (ACME, EST, admin API), host:port or [v6]:port; port 0 = ephemeral" },
	{ "listen.http", S(listen_http), "127.0.0.1:8080", 0, 0,
	  "plain HTTP listener (OCSP, CRL, CA certificates)" },
	{ "public_urls.https", S(public_https), "", 0, 0,
	  "base URL clients use for HTTPS; empty = follows the listener" },
	{ "public_urls.http", S(public_http), "", 0, 0,
	  "base URL put into AIA/CDP; empty = follows the listener" },
	{ "token.module", S(token_module), CAIRN_DEFAULT_MODULE, 0, 0, "PKCS#11 module" },
	{ "token.label", S(token_label), "cairn", 0, 0, "token label" },
	{ "token.pin_file", S(pin_file), "token.pin", 0, 0, "file holding the user PIN" },
	{ "token.pin_env", S(pin_env), "", 0, 0,
	  "environment variable holding the PIN (wins over pin_file when set)" },
	{ "token.softhsm_conf", S(softhsm_conf), "", 0, 0,
	  "SoftHSM2 config (the embedded token); empty for another module" },
	{ "ca.root_cert", S(root_cert), "ca/root.pem", 0, 0, "root CA certificate" },
	{ "ca.issuing_cert", S(issuing_cert), "ca/issuing.pem", 0, 0, "issuing CA certificate" },
	{ "ca.ocsp_cert", S(ocsp_cert), "ca/ocsp.pem", 0, 0,
	  "delegated OCSP signer certificate; the daemon rewrites it with the signer in use "
	  "after each renewal" },
	{ "ca.issuing_key", S(issuing_key), "issuing", 0, 0, "token label of the issuing key" },
	{ "ca.ocsp_key", S(ocsp_key), "ocsp", 0, 0,
	  "token label of the OCSP signer key init made; once a signer was renewed, the "
	  "database names the signer in use (key label and certificate)" },
	{ "tls.cert", S(tls_cert), "tls/server.pem", 0, 0, "daemon HTTPS certificate chain" },
	{ "tls.key", S(tls_key), "tls/server.key", 0, 0, "daemon HTTPS private key" },
	{ "tls.validity_days", I(tls_days), CFG_NUM(CA_HTTPS_DAYS), 1, 825,
	  "lifetime of the HTTPS certificate the daemon issues itself when it renews it "
	  "(at two thirds of the current one's lifetime, same names, new key)" },
	{ "log_level", S(log_level), "info", 0, 0, "debug, info, warn or error" },
	{ "server.threads", I(threads), "4", 1, 256, "HTTP worker threads per listener" },
	{ "server.max_body", I(max_body), "65536", 1024, 16777216, "largest request body (bytes)" },
	{ "server.max_connections", I(max_connections), "1024", 16, 65536,
	  "concurrent connections per listener" },
	{ "server.max_connections_per_ip", I(max_connections_per_ip), "64", 1, 65536,
	  "concurrent connections from one client address, per listener" },
	{ "server.max_header_bytes", I(max_header_bytes), "32768", 4096, 1048576,
	  "memory per connection for the request line, headers and read buffer; "
	  "larger headers get 431" },
	{ "server.http_max_header_bytes", I(http_max_header_bytes), "16384", 4096, 1048576,
	  "the same for the plain HTTP listener (OCSP, CRL): small, because libmicrohttpd "
	  "zeroes a connection's whole pool between keep-alive requests" },
	{ "server.connection_timeout", I(connection_timeout), "30", 1, 3600,
	  "seconds a connection may stay idle (slow clients are dropped)" },
	{ "server.max_json_depth", I(max_json_depth), "32", 2, 1000,
	  "deepest nesting of arrays/objects accepted in JSON request bodies" },
	{ "policy_file", S(policy_file), "policy.json", 0, 0,
	  "approval policy rules (see docs/policy.md); reloaded on SIGHUP" },
	{ "requests.pending_ttl", S(pending_ttl), "7d", 0, 0,
	  "how long a request waiting for approvals stays open (30d, 12h, ...)" },
	{ "audit.checkpoint_interval", S(checkpoint_interval), "1h", 0, 0,
	  "how often the daemon signs the audit chain head (also at shutdown and on demand)" },
	{ "profiles", O(profiles), NULL, 0, 0, "certificate profiles (see docs/config.md)" },
	{ "acme", O(acme), "", 0, 0, "ACME settings (validation targets for tests)" },
	{ "ocsp.signer", S(ocsp_signer), "delegated", 0, 0,
	  "who signs OCSP answers for the issuing CA: delegated (ca.ocsp_key) or ca (the CA key)" },
	{ "ocsp.signer_validity_days", I(ocsp_signer_days), CFG_NUM(CA_OCSP_SIGNER_DAYS), 1, 3650,
	  "lifetime of a delegated OCSP signer the daemon renews (new key in the token, at two "
	  "thirds of the current one's lifetime); at least twice ocsp.validity" },
	{ "ocsp.validity", I(ocsp_validity), "345600", 300, 2592000,
	  "seconds from thisUpdate to nextUpdate; cached answers are re-signed at half-life" },
	{ "crl.publish_dir", S(crl_publish_dir), "crl", 0, 0,
	  "directory the CRLs are written to atomically (NAME.crl) for a web server or CDN" },
	{ "crl.period", I(crl_period), "86400", 60, 2592000, "seconds between scheduled CRL rebuilds" },
	{ "crl.overlap", I(crl_overlap), "86400", 0, 2592000,
	  "extra seconds of CRL validity: nextUpdate = thisUpdate + period + overlap" },
	{ "crl.debounce", I(crl_debounce), "2", 0, 3600,
	  "seconds to gather revocations before the CRL is rebuilt" },
	{ "crl.delta_period", I(crl_delta_period), "0", 0, 2592000,
	  "0: no delta CRLs; else seconds between delta CRLs (NAME-delta.crl, also after revocations)" },
	{ "crl.keep_expired", I(crl_keep_expired), "0", 0, 1,
	  "1 keeps revoked certificates on the CRL after they expire; 0 drops them" },
	{ "est", O(est), "", 0, 0,
	  "EST settings: labels (profile, validity_days, serverkeygen, policy_group), default_label, "
	  "channel_binding, revoke_superseded, retry_after" },
};

/* Top-level and section names that may appear in the document. */
static int cfg_known(const char *path)
{
	size_t i, n = strlen(path);

	for (i = 0; i < sizeof(cfg_keys) / sizeof(cfg_keys[0]); i++) {
		const char *k = cfg_keys[i].path;
		if (strcmp(k, path) == 0 || (strncmp(k, path, n) == 0 && k[n] == '.'))
			return 1;
	}
	return 0;
}

/* Rejects keys the table does not know, so a typo is an error, not a silent default. */
static int cfg_check_unknown(json_t *obj, const char *prefix, cairn_err_t *err)
{
	const char *key;
	json_t *val;

	json_object_foreach(obj, key, val) {
		char path[256];
		snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", key);
		if (!cfg_known(path))
			return cairn_err_set(err, CAIRN_ECONFIG, "%s: unknown key", path);
		if (json_is_object(val) && strcmp(path, "profiles") != 0 &&
		    strcmp(path, "acme") != 0 && strcmp(path, "est") != 0) {
			int rc = cfg_check_unknown(val, path, err);
			if (rc)
				return rc;
		}
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

static int cfg_apply(cairn_config_t *cfg, const cfg_key_t *k, cairn_err_t *err)
{
	json_t *v = cfg_lookup(cfg->root, k->path);
	void *field = (char *)cfg + k->offset;

	switch (k->type) {
	case CFG_STR: {
		const char *s = k->def;
		if (v != NULL && !json_is_string(v))
			return cairn_err_set(err, CAIRN_ECONFIG, "%s: must be a string", k->path);
		if (v != NULL)
			s = json_string_value(v);
		if (s == NULL)
			return cairn_err_set(err, CAIRN_ECONFIG, "%s: required", k->path);
		*(char **)field = strdup(s);
		return *(char **)field ? 0 : CAIRN_ENOMEM;
	}
	case CFG_INT: {
		long n = strtol(k->def, NULL, 10);
		if (v != NULL && !json_is_integer(v))
			return cairn_err_set(err, CAIRN_ECONFIG, "%s: must be an integer", k->path);
		if (v != NULL)
			n = (long)json_integer_value(v);
		if (n < k->min || n > k->max)
			return cairn_err_set(err, CAIRN_ECONFIG, "%s: must be %ld..%ld", k->path,
					     k->min, k->max);
		*(long *)field = n;
		return 0;
	}
	case CFG_OBJ:
		if (v == NULL && k->def == NULL)
			return cairn_err_set(err, CAIRN_ECONFIG, "%s: required", k->path);
		if (v != NULL && !json_is_object(v))
			return cairn_err_set(err, CAIRN_ECONFIG, "%s: must be an object", k->path);
		*(json_t **)field = v;
		return 0;
	}
	return CAIRN_EINVAL;
}

int config_parse_addr(const char *addr, char *host, size_t cap, int *port)
{
	const char *colon;
	char *end;
	long p;
	size_t hlen;

	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (close == NULL || close[1] != ':')
			return CAIRN_EINVAL;
		hlen = (size_t)(close - addr - 1);
		if (hlen >= cap)
			return CAIRN_EINVAL;
		memcpy(host, addr + 1, hlen);
		colon = close + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL || strchr(addr, ':') != colon)
			return CAIRN_EINVAL;
		hlen = (size_t)(colon - addr);
		if (hlen >= cap)
			return CAIRN_EINVAL;
		memcpy(host, addr, hlen);
	}
	host[hlen] = '\0';
	p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || p < 0 || p > 65535 || hlen == 0)
		return CAIRN_EINVAL;
	*port = (int)p;
	return 0;
}

/* Validates the parsed document against the table; fills cfg. */
static int config_check(cairn_config_t *cfg, cairn_err_t *err)
{
	char host[128];
	size_t i;
	int rc, port;
	int64_t ttl;

	rc = cfg_check_unknown(cfg->root, "", err);
	for (i = 0; rc == 0 && i < sizeof(cfg_keys) / sizeof(cfg_keys[0]); i++)
		rc = cfg_apply(cfg, &cfg_keys[i], err);
	if (rc)
		return rc;
	if (config_parse_addr(cfg->listen_https, host, sizeof(host), &port) != 0 ||
	    config_parse_addr(cfg->listen_http, host, sizeof(host), &port) != 0)
		return cairn_err_set(err, CAIRN_ECONFIG, "listen: addresses must be host:port");
	{
		/* The EST object has its own validator (errors name the key). */
		est_settings_t *est = malloc(sizeof(*est));
		rc = est == NULL ? CAIRN_ENOMEM : est_settings_parse(cfg->est, est, err);
		free(est);
		if (rc)
			return rc;
	}
	if (strcmp(cfg->log_level, "debug") && strcmp(cfg->log_level, "info") &&
	    strcmp(cfg->log_level, "warn") && strcmp(cfg->log_level, "error"))
		return cairn_err_set(err, CAIRN_ECONFIG, "log_level: must be debug|info|warn|error");
	if (duration_parse(cfg->pending_ttl, &ttl) != 0 || ttl <= 0)
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "requests.pending_ttl: must be a duration like 7d, 12h or 90m");
	if (duration_parse(cfg->checkpoint_interval, &ttl) != 0 || ttl < 60)
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "audit.checkpoint_interval: must be a duration of at least 60s");
	if (strcmp(cfg->ocsp_signer, "delegated") != 0 && strcmp(cfg->ocsp_signer, "ca") != 0)
		return cairn_err_set(err, CAIRN_ECONFIG, "ocsp.signer: must be delegated|ca");
	/* A signer must outlive the answers it signed: renewed no later than notAfter minus
	 * ocsp.validity, which must leave it some life of its own. */
	if (cfg->ocsp_signer_days * 86400 < 2 * cfg->ocsp_validity)
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "ocsp.signer_validity_days: must be at least twice ocsp.validity "
				     "(%ld s)", cfg->ocsp_validity);
	return 0;
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
	for (i = 0; i < sizeof(cfg_keys) / sizeof(cfg_keys[0]); i++)
		if (cfg_keys[i].type == CFG_STR)
			free(*(char **)((char *)cfg + cfg_keys[i].offset));
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

json_t *config_default(const char *listen_https, const char *listen_http,
		       const char *public_https, const char *public_http, const json_t *profiles)
{
	json_t *doc = json_pack(
		"{s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s}, "
		"s:{s:s, s:s, s:s, s:s, s:s}, s:{s:s, s:s}, s:{s:i, s:i}, s:O, "
		"s:{s:{s:s, s:i, s:i, s:{}}}}",
		"listen", "https", listen_https ? listen_https : "127.0.0.1:8443", "http",
		listen_http ? listen_http : "127.0.0.1:8080",
		"public_urls", "https", public_https ? public_https : "", "http",
		public_http ? public_http : "",
		"token", "module", CAIRN_DEFAULT_MODULE, "label", "cairn", "pin_file", "token.pin",
		"softhsm_conf", "softhsm2.conf",
		"ca", "root_cert", "ca/root.pem", "issuing_cert", "ca/issuing.pem", "ocsp_cert",
		"ca/ocsp.pem", "issuing_key", "issuing", "ocsp_key", "ocsp",
		"tls", "cert", "tls/server.pem", "key", "tls/server.key",
		"server", "threads", 4, "max_body", 65536,
		"profiles", profiles,
		"acme", "validation", "dns_server", "", "http01_port", 80, "tlsalpn01_port", 443,
		"hosts");

	if (doc != NULL) {
		json_object_set_new(doc, "policy_file", json_string("policy.json"));
		json_object_set_new(doc, "requests", json_pack("{s:s}", "pending_ttl", "7d"));
		json_object_set_new(doc, "est", est_settings_default());
	}
	return doc;
}

void config_describe(FILE *out)
{
	static const char *const type_names[] = { "string", "integer", "object" };
	size_t i;

	fprintf(out, "| key | type | default | meaning |\n| --- | --- | --- | --- |\n");
	for (i = 0; i < sizeof(cfg_keys) / sizeof(cfg_keys[0]); i++) {
		const cfg_key_t *k = &cfg_keys[i];
		if (k->def == NULL)
			fprintf(out, "| `%s` | %s | required | %s |\n", k->path, type_names[k->type],
				k->doc);
		else if (k->type == CFG_OBJ)
			fprintf(out, "| `%s` | %s | optional | %s |\n", k->path, type_names[k->type],
				k->doc);
		else if (k->def[0] == '\0')
			fprintf(out, "| `%s` | %s | empty | %s |\n", k->path, type_names[k->type],
				k->doc);
		else
			fprintf(out, "| `%s` | %s | `%s` | %s |\n", k->path, type_names[k->type], k->def,
				k->doc);
	}
}
