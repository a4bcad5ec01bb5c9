/* SPDX-License-Identifier: MIT */
/* The admin API client behind the admin subcommands: finds URL, CA and token, calls with libcurl. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "cli/cli.h"
#include "util/util.h"

static size_t collect(char *ptr, size_t size, size_t n, void *arg)
{
	cli_buf_t *b = arg;
	size_t add = size * n;
	char *nd;

	if (b->len + add > (64u << 20))
		return 0;
	nd = realloc(b->data, b->len + add + 1);
	if (nd == NULL)
		return 0;
	memcpy(nd + b->len, ptr, add);
	b->data = nd;
	b->len += add;
	b->data[b->len] = '\0';
	return add;
}

static char *read_trimmed(const char *path)
{
	char *data = NULL;
	size_t len;

	if (fs_read(path, 4096, &data, &len) != 0)
		return NULL;
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
		data[--len] = '\0';
	return data;
}

int cli_conn_opt(int c, const char *arg, cli_conn_opts_t *o)
{
	switch (c) {
	case 'd': o->dir = arg; return 1;
	case 'u': o->url = arg; return 1;
	case 'C': o->cacert = arg; return 1;
	case 't': o->token_file = arg; return 1;
	default: return 0;
	}
}

int cli_api_resolve(const cli_conn_opts_t *o, cli_api_t *api, char *why, size_t why_cap)
{
	const char *env = getenv("CAIRN_TOKEN");
	char *path;

	memset(api, 0, sizeof(*api));
	if (env == NULL || env[0] == '\0')
		env = getenv("CAIRN_ADMIN_TOKEN");
	if (o->dir == NULL && o->url == NULL) {
		snprintf(why, why_cap, "--dir DIR (on the CA host) or --url URL is required");
		return CLI_USAGE;
	}
	/* URL: --url, else the daemon's serve.json. */
	if (o->url != NULL) {
		api->base = strdup(o->url);
	} else {
		json_t *doc;
		path = fs_join(o->dir, "serve.json");
		doc = path ? json_load_file(path, 0, NULL) : NULL;
		if (json_string_value(json_object_get(doc, "https")) != NULL)
			api->base = strdup(json_string_value(json_object_get(doc, "https")));
		json_decref(doc);
		free(path);
		if (api->base == NULL) {
			cli_api_free(api);
			snprintf(why, why_cap,
				 "the daemon is not running for %s (start it: cairn serve --dir %s)",
				 o->dir, o->dir);
			return CLI_FAILED;
		}
	}
	/* CA bundle: --cacert, else DIR/ca/root.pem, else the system store. */
	if (o->cacert != NULL)
		api->cacert = strdup(o->cacert);
	else if (o->dir != NULL)
		api->cacert = fs_join(o->dir, "ca/root.pem");
	/* Token: --token-file, $CAIRN_TOKEN, else DIR/admin.token. */
	if (o->token_file != NULL) {
		api->token = read_trimmed(o->token_file);
		if (api->token == NULL) {
			cli_api_free(api);
			snprintf(why, why_cap, "cannot read the token file %s", o->token_file);
			return CLI_FAILED;
		}
	} else if (env != NULL && env[0] != '\0') {
		api->token = strdup(env);
	} else if (o->dir != NULL) {
		path = fs_join(o->dir, "admin.token");
		api->token = path ? read_trimmed(path) : NULL;
		free(path);
	}
	if (api->token == NULL) {
		cli_api_free(api);
		snprintf(why, why_cap, "no admin token (--token-file, $CAIRN_TOKEN or DIR/admin.token)");
		return CLI_FAILED;
	}
	return CLI_OK;
}

int cli_api_setup(const char *cmd, const cli_conn_opts_t *o, cli_api_t *api)
{
	char why[512];
	int rc = cli_api_resolve(o, api, why, sizeof(why));

	if (rc == CLI_USAGE)
		return cli_usage_error(cmd, "%s", why);
	if (rc != CLI_OK)
		return cli_fail(cmd, "%s", why);
	return CLI_OK;
}

long cli_admin_call(const char *dir, const char *method, const char *path, const char *json,
		    char **body, size_t *len, char *why, size_t why_cap)
{
	cli_conn_opts_t o = { 0 };
	cli_buf_t resp = { 0 };
	cli_api_t api;
	long status = -1;

	o.dir = dir;
	if (cli_api_resolve(&o, &api, why, why_cap) == CLI_OK) {
		status = cli_api_call(&api, method, path, json, &resp, why, why_cap);
		cli_api_free(&api);
	}
	*body = resp.data;
	*len = resp.len;
	return status;
}

long cli_admin_post(const char *dir, const char *path, const char *json, char **body,
		    size_t *body_len, char *why, size_t why_cap)
{
	return cli_admin_call(dir, "POST", path, json, body, body_len, why, why_cap);
}

void cli_api_free(cli_api_t *api)
{
	if (api->token != NULL)
		OPENSSL_cleanse(api->token, strlen(api->token));
	free(api->token);
	free(api->base);
	free(api->cacert);
	memset(api, 0, sizeof(*api));
}

long cli_api_call(const cli_api_t *api, const char *method, const char *path, const char *body,
		  cli_buf_t *resp, char *why, size_t why_cap)
{
	struct curl_slist *hdrs = NULL;
	char *url = NULL, *authz = NULL;
	CURL *curl = NULL;
	long status = -1;
	CURLcode cc;

	memset(resp, 0, sizeof(*resp));
	if (asprintf(&url, "%s/admin/v1%s", api->base, path) < 0 ||
	    asprintf(&authz, "Authorization: Bearer %s", api->token) < 0) {
		url = authz = NULL;
		snprintf(why, why_cap, "out of memory");
		goto out;
	}
	curl = curl_easy_init();
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, authz);
	if (curl == NULL || hdrs == NULL) {
		snprintf(why, why_cap, "libcurl initialisation failed");
		goto out;
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	if (api->cacert != NULL)
		curl_easy_setopt(curl, CURLOPT_CAINFO, api->cacert);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	else if (strcmp(method, "POST") == 0)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	cc = curl_easy_perform(curl);
	if (cc == CURLE_COULDNT_CONNECT) {
		snprintf(why, why_cap, "the daemon is not running (nothing listens on %s)", api->base);
		goto out;
	}
	if (cc != CURLE_OK) {
		snprintf(why, why_cap, "%s: %s", api->base, curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
out:
	if (authz)
		OPENSSL_cleanse(authz, strlen(authz));
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(curl);
	free(authz);
	free(url);
	return status;
}

const char *cli_problem(const cli_buf_t *resp, json_t **doc)
{
	const char *detail;

	*doc = resp->data ? json_loadb(resp->data, resp->len, 0, NULL) : NULL;
	detail = json_string_value(json_object_get(*doc, "detail"));
	return detail ? detail : (resp->data ? resp->data : "no answer");
}

int cli_api_json(const char *cmd, const cli_conn_opts_t *o, const char *method, const char *path,
		 json_t *body, long want, json_t **out)
{
	cli_api_t api;
	cli_buf_t resp = { NULL, 0 };
	char why[512], *text = NULL;
	json_t *doc = NULL;
	long status;
	int rc;

	*out = NULL;
	if ((rc = cli_api_setup(cmd, o, &api)) != CLI_OK)
		return rc;
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	status = cli_api_call(&api, method, path, text, &resp, why, sizeof(why));
	if (status < 0) {
		rc = cli_fail(cmd, "%s", why);
	} else if (status != want) {
		rc = cli_fail(cmd, "refused (HTTP %ld): %s", status, cli_problem(&resp, &doc));
	} else {
		*out = resp.data ? json_loadb(resp.data, resp.len, 0, NULL) : NULL;
		rc = *out ? CLI_OK : cli_fail(cmd, "unexpected answer from the daemon");
	}
	json_decref(doc);
	free(text);
	free(resp.data);
	cli_api_free(&api);
	return rc;
}
