/* SPDX-License-Identifier: MIT */
/* Commands that change the CA go through the running daemon's admin API: serve, issue. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "cli/cli.h"
#include "server/server.h"

typedef struct buf {
	char *data;
	size_t len;
} buf_t;

static size_t collect(char *ptr, size_t size, size_t n, void *arg)
{
	buf_t *b = arg;
	size_t add = size * n;
	char *nd;

	if (b->len + add > (8u << 20))
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

/* Where the daemon for dir listens, from the serve.json it writes at start. */
static char *daemon_https_url(const char *dir)
{
	char *path = fs_join(dir, "serve.json");
	json_t *doc = path ? json_load_file(path, 0, NULL) : NULL;
	const char *url = json_string_value(json_object_get(doc, "https"));
	char *out = url ? strdup(url) : NULL;

	json_decref(doc);
	free(path);
	return out;
}

/* Reads the admin token: $CAIRN_ADMIN_TOKEN, else DIR/admin.token. */
static char *admin_token(const char *dir)
{
	const char *env = getenv("CAIRN_ADMIN_TOKEN");
	char *path, *data = NULL;
	size_t len;

	if (env != NULL && env[0] != '\0')
		return strdup(env);
	path = fs_join(dir, "admin.token");
	if (path == NULL || fs_read(path, 1024, &data, &len) != 0) {
		free(path);
		return NULL;
	}
	free(path);
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		data[--len] = '\0';
	return data;
}

/*
 * POSTs JSON to the daemon's admin API. Returns the HTTP status (>0) with the
 * body in *resp, or -1 with a one-line reason in why when the daemon cannot be reached.
 */
static long admin_post(const char *dir, const char *path, const char *json, buf_t *resp,
		       char *why, size_t why_cap)
{
	char *base = daemon_https_url(dir), *token = admin_token(dir), *url = NULL;
	char *cafile = fs_join(dir, "ca/root.pem"), *authz = NULL;
	struct curl_slist *hdrs = NULL;
	CURL *curl = NULL;
	long status = -1;
	CURLcode cc;

	if (base == NULL) {
		snprintf(why, why_cap, "the daemon is not running for %s (start it: cairn serve --dir %s)",
			 dir, dir);
		goto out;
	}
	if (token == NULL) {
		snprintf(why, why_cap, "no admin token (%s/admin.token or $CAIRN_ADMIN_TOKEN)", dir);
		goto out;
	}
	if (asprintf(&url, "%s/admin/v1%s", base, path) < 0 ||
	    asprintf(&authz, "Authorization: Bearer %s", token) < 0) {
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
	curl_easy_setopt(curl, CURLOPT_CAINFO, cafile);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	cc = curl_easy_perform(curl);
	if (cc == CURLE_COULDNT_CONNECT) {
		snprintf(why, why_cap, "the daemon is not running for %s (nothing listens on %s)", dir,
			 base);
		goto out;
	}
	if (cc != CURLE_OK) {
		snprintf(why, why_cap, "%s: %s", base, curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
out:
	if (authz)
		OPENSSL_cleanse(authz, strlen(authz));
	if (token)
		OPENSSL_cleanse(token, strlen(token));
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(curl);
	free(authz);
	free(token);
	free(url);
	free(base);
	free(cafile);
	return status;
}

long cli_admin_post(const char *dir, const char *path, const char *json, char **body,
		    size_t *body_len, char *why, size_t why_cap)
{
	buf_t resp = { 0 };
	long status = admin_post(dir, path, json, &resp, why, why_cap);

	*body = resp.data;
	*body_len = resp.len;
	return status;
}

/* The detail of a problem document, or the raw body. */
static const char *problem_detail(const buf_t *resp, json_t **doc)
{
	const char *detail;

	*doc = resp->data ? json_loadb(resp->data, resp->len, 0, NULL) : NULL;
	detail = json_string_value(json_object_get(*doc, "detail"));
	return detail ? detail : (resp->data ? resp->data : "no answer");
}

int cli_issue(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "csr", required_argument, NULL, 'c' },
		{ "profile", required_argument, NULL, 'p' },
		{ "out", required_argument, NULL, 'o' },
		{ "validity-days", required_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *csr_path = NULL, *profile = NULL, *out_path = NULL;
	char *csr = NULL, *req_text = NULL, why[512];
	json_t *req = NULL, *doc = NULL;
	buf_t resp = { 0 };
	long status;
	int c, days = 0, rc = CLI_FAILED;
	size_t len;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'c': csr_path = optarg; break;
		case 'p': profile = optarg; break;
		case 'o': out_path = optarg; break;
		case 'v': days = atoi(optarg); break;
		default:
			return cli_usage_error("issue", "unknown or incomplete option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("issue", "unexpected argument %s", argv[optind]);
	if (dir == NULL || csr_path == NULL || profile == NULL)
		return cli_usage_error("issue", "--dir, --csr and --profile are required");
	if (fs_read(csr_path, 64 * 1024, &csr, &len) != 0)
		return cli_fail("issue", "cannot read CSR %s", csr_path);
	if (memchr(csr, '\0', len) != NULL) {
		/* DER: the API takes PEM text, so wrap it. */
		rc = cli_fail("issue", "%s: give the CSR in PEM (openssl req -outform PEM)", csr_path);
		goto out;
	}
	req = json_pack("{s:s, s:s}", "csr", csr, "profile", profile);
	if (req && days > 0)
		json_object_set_new(req, "validity_days", json_integer(days));
	req_text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	if (req_text == NULL) {
		rc = cli_fail("issue", "out of memory");
		goto out;
	}
	status = admin_post(dir, "/certificates", req_text, &resp, why, sizeof(why));
	if (status < 0) {
		rc = cli_fail("issue", "%s", why);
		goto out;
	}
	if (status == 202) {
		doc = json_loadb(resp.data, resp.len, 0, NULL);
		printf("request %s pending: %d approvals needed (rule %s)\n",
		       json_string_value(json_object_get(doc, "request")) ?: "?",
		       (int)json_integer_value(json_object_get(doc, "approvals_needed")),
		       json_string_value(json_object_get(doc, "rule")) ?: "?");
		rc = CLI_PENDING;
		goto out;
	}
	if (status != 201) {
		rc = cli_fail("issue", "refused (HTTP %ld): %s", status, problem_detail(&resp, &doc));
		goto out;
	}
	doc = json_loadb(resp.data, resp.len, 0, NULL);
	{
		const char *chain = json_string_value(json_object_get(doc, "chain"));
		const char *serial = json_string_value(json_object_get(doc, "serial"));
		FILE *out = out_path ? fopen(out_path, "w") : stdout;
		if (chain == NULL || serial == NULL || out == NULL) {
			rc = cli_fail("issue", out ? "unexpected answer from the daemon"
						   : "cannot write the certificate file");
			goto out;
		}
		fputs(chain, out);
		if (out_path && fclose(out) != 0) {
			rc = cli_fail("issue", "writing %s failed", out_path);
			goto out;
		}
		fprintf(stderr, "cairn issue: issued serial %s (profile %s)\n", serial, profile);
	}
	rc = CLI_OK;
out:
	json_decref(doc);
	json_decref(req);
	free(req_text);
	free(resp.data);
	free(csr);
	return rc;
}

int cli_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	cairn_config_t *cfg = NULL;
	cairn_err_t err = { 0 };
	const char *dir = NULL;
	int c, rc;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c != 'd')
			return cli_usage_error("serve", "unknown or incomplete option %s", argv[optind - 1]);
		dir = optarg;
	}
	if (optind < argc)
		return cli_usage_error("serve", "unexpected argument %s", argv[optind]);
	if (dir == NULL)
		return cli_usage_error("serve", "--dir is required");
	if (config_load(dir, &cfg, &err) != 0)
		return cli_fail("serve", "%s", cairn_err_msg(&err));
	log_set_level(strcmp(cfg->log_level, "debug") == 0  ? LOG_LVL_DEBUG
		      : strcmp(cfg->log_level, "warn") == 0 ? LOG_LVL_WARN
		      : strcmp(cfg->log_level, "error") == 0 ? LOG_LVL_ERROR
							      : LOG_LVL_INFO);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = server_run(cfg, &err);
	config_free(cfg);
	if (rc != 0)
		return cli_fail("serve", "%s", cairn_err_msg(&err));
	return CLI_OK;
}

