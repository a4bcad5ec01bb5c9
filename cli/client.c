/* SPDX-License-Identifier: MIT */
/* Commands that change the CA go through the running daemon's admin API: serve, issue. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli/cli.h"
#include "server/server.h"

/* 1 when data (len bytes) holds a private key, PEM of any kind or DER (PKCS#8, PKCS#1, SEC1). */
static int holds_private_key(const char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;
	EVP_PKEY *pk;

	if (memmem(data, len, "PRIVATE KEY-----", 16) != NULL)
		return 1;
	pk = d2i_AutoPrivateKey(NULL, &p, (long)len);
	EVP_PKEY_free(pk);
	ERR_clear_error();
	return pk != NULL;
}

/* Reads the CSR at path (PEM or DER) and checks it here, so that nothing but a CSR — never
 * a private key given by mistake — is sent to the daemon; *pem is the request as PEM text
 * (malloc'd). CLI_OK, or the failure printed. */
static int read_csr(const char *path, char **pem)
{
	X509_REQ *req = NULL;
	cairn_err_t err = { 0 };
	char *data = NULL, *text;
	size_t len = 0;
	BIO *mem = NULL;
	long n;
	int rc, e;

	*pem = NULL;
	rc = fs_read(path, 64 * 1024, &data, &len);
	e = errno;
	if (rc != 0)
		return cli_fail("issue", "cannot read CSR %s: %s", path,
				rc == CAIRN_ETOOBIG ? "larger than 64 KiB" : strerror(e));
	if (holds_private_key(data, len)) {
		rc = cli_fail("issue", "%s holds a private key, not a CSR: nothing was sent (make a "
				"CSR with `openssl req -new -key %s -out req.csr`)", path, path);
		goto out;
	}
	if (ca_csr_parse(data, len, &req, &err) != 0) {
		rc = cli_fail("issue", "%s: not a certificate request: %s", path, cairn_err_msg(&err));
		goto out;
	}
	if ((mem = BIO_new(BIO_s_mem())) == NULL || !PEM_write_bio_X509_REQ(mem, req) ||
	    (n = BIO_get_mem_data(mem, &text)) <= 0 || (*pem = strndup(text, (size_t)n)) == NULL) {
		rc = cli_fail("issue", "out of memory");
		goto out;
	}
	rc = CLI_OK;
out:
	BIO_free(mem);
	X509_REQ_free(req);
	free(data);
	return rc;
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
	cli_buf_t resp = { 0 };
	long status;
	long days = 0;
	int c, rc = CLI_FAILED;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'c': csr_path = optarg; break;
		case 'p': profile = optarg; break;
		case 'o': out_path = optarg; break;
		case 'v':
			if (cli_int_arg("issue", "--validity-days", optarg, 1, 3650, &days) != CLI_OK)
				return CLI_USAGE;
			break;
		default:
			return cli_usage_error("issue", "unknown or incomplete option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("issue", "unexpected argument %s", argv[optind]);
	if (dir == NULL || csr_path == NULL || profile == NULL)
		return cli_usage_error("issue", "--dir, --csr and --profile are required");
	if ((rc = read_csr(csr_path, &csr)) != CLI_OK)
		return rc;
	rc = CLI_FAILED;
	req = json_pack("{s:s, s:s}", "csr", csr, "profile", profile);
	if (req && days > 0)
		json_object_set_new(req, "validity_days", json_integer(days));
	req_text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	if (req_text == NULL) {
		rc = cli_fail("issue", "out of memory");
		goto out;
	}
	status = cli_admin_post(dir, "/certificates", req_text, &resp.data, &resp.len, why,
				sizeof(why));
	if (status < 0) {
		rc = cli_fail("issue", "%s", why);
		goto out;
	}
	if (status == 202) {
		doc = json_loadb(resp.data, resp.len, 0, NULL);
		printf("request %s pending: %d approvals needed (rule %s)\n  because %s\n",
		       json_string_value(json_object_get(doc, "request")) ?: "?",
		       (int)json_integer_value(json_object_get(doc, "approvals_needed")),
		       json_string_value(json_object_get(doc, "rule")) ?: "?",
		       json_string_value(json_object_get(doc, "reason")) ?: "?");
		rc = CLI_PENDING;
		goto out;
	}
	if (status != 201) {
		rc = cli_fail("issue", "refused (HTTP %ld): %s", status, cli_problem(&resp, &doc));
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
		{ "role", required_argument, NULL, 'r' },
		{ "listen", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	cairn_config_t *cfg = NULL;
	cairn_err_t err = { 0 };
	const char *dir = NULL, *role = "issuer", *listen = NULL;
	int c, rc, responder;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'd')
			dir = optarg;
		else if (c == 'r')
			role = optarg;
		else if (c == 'l')
			listen = optarg;
		else
			return cli_usage_error("serve", "unknown or incomplete option %s", argv[optind - 1]);
	}
	if (optind < argc)
		return cli_usage_error("serve", "unexpected argument %s", argv[optind]);
	if (dir == NULL)
		return cli_usage_error("serve", "--dir is required");
	if (strcmp(role, "issuer") != 0 && strcmp(role, "responder") != 0)
		return cli_usage_error("serve", "--role must be issuer or responder, not %s", role);
	responder = strcmp(role, "responder") == 0;
	if (listen != NULL && !responder)
		return cli_usage_error("serve", "--listen goes with --role responder (the issuer's "
				       "listeners are listen.* in cairn.json)");
	if (config_load(dir, &cfg, &err) != 0)
		return cli_fail("serve", "%s", cairn_err_msg(&err));
	log_set_level(strcmp(cfg->log_level, "debug") == 0  ? LOG_LVL_DEBUG
		      : strcmp(cfg->log_level, "warn") == 0 ? LOG_LVL_WARN
		      : strcmp(cfg->log_level, "error") == 0 ? LOG_LVL_ERROR
							      : LOG_LVL_INFO);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = responder ? server_run_responder(cfg, listen, &err) : server_run(cfg, &err);
	config_free(cfg);
	if (rc != 0)
		return cli_fail("serve", "%s", cairn_err_msg(&err));
	return CLI_OK;
}

