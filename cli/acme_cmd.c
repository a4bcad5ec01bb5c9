/* SPDX-License-Identifier: MIT */
/* `cairn acme eab create`: External Account Binding keys through the daemon's admin API. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "cli/cli.h"

static int eab_create(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "group", required_argument, NULL, 'g' },
		{ "profile", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *group = NULL, *profile = NULL;
	char *body = NULL, *req_text = NULL, why[512];
	json_t *req = NULL, *doc = NULL;
	size_t len = 0;
	long status;
	int c, rc = CLI_FAILED;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'g': group = optarg; break;
		case 'p': profile = optarg; break;
		default:
			return cli_usage_error("acme", "unknown or incomplete option %s",
					       argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("acme", "unexpected argument %s", argv[optind]);
	if (dir == NULL)
		return cli_usage_error("acme", "--dir is required");
	if (CLI_TEXT_ARGS("acme", { "--group", group }, { "--profile", profile }) != CLI_OK)
		return CLI_USAGE;
	req = json_object();
	if (req != NULL && group != NULL)
		json_object_set_new(req, "group", json_string(group));
	if (req != NULL && profile != NULL)
		json_object_set_new(req, "profile", json_string(profile));
	req_text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	if (req_text == NULL) {
		rc = cli_fail("acme", "out of memory");
		goto out;
	}
	status = cli_admin_post(dir, "/acme/eab", req_text, &body, &len, why, sizeof(why));
	if (status < 0) {
		rc = cli_fail("acme", "%s", why);
		goto out;
	}
	doc = body ? json_loadb(body, len, 0, NULL) : NULL;
	if (status != 201) {
		const char *d = json_string_value(json_object_get(doc, "detail"));
		rc = cli_fail("acme", "refused (HTTP %ld): %s", status, d ? d : "no detail");
		goto out;
	}
	if (!json_is_string(json_object_get(doc, "kid")) ||
	    !json_is_string(json_object_get(doc, "hmac_key"))) {
		rc = cli_fail("acme", "unexpected answer from the daemon");
		goto out;
	}
	printf("kid: %s\nhmac: %s\n", json_string_value(json_object_get(doc, "kid")),
	       json_string_value(json_object_get(doc, "hmac_key")));
	fprintf(stderr, "cairn acme: the HMAC key is shown only once; give it with the kid to the "
			"ACME client (e.g. lego --eab --kid KID --hmac KEY)\n");
	rc = CLI_OK;
out:
	if (body)
		OPENSSL_cleanse(body, len);
	free(body);
	free(req_text);
	json_decref(req);
	json_decref(doc);
	return rc;
}

int cli_acme(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "eab") == 0 && strcmp(argv[2], "create") == 0)
		return eab_create(argc - 2, argv + 2);
	return cli_usage_error("acme",
			       "expected: acme eab create --dir DIR [--group G] [--profile P]");
}
