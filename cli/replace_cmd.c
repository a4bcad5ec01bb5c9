/* SPDX-License-Identifier: MIT */
/* `cairn replace`: start a mass replacement campaign, and follow its progress, through the
 * daemon's admin API (docs/operations.md "Replacing certificates in bulk"). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "db/db.h"

#define SERIALS_FILE_MAX (1u << 20)

/* The serials of FILE, one a line (blank lines and # comments skipped), as a json array. */
static json_t *read_serials(const char *file)
{
	char *data = NULL, *line, *save = NULL, hex[2 * DB_SERIAL_MAX + 1];
	size_t len = 0, lineno = 0;
	json_t *list;

	if (fs_read(file, SERIALS_FILE_MAX, &data, &len) != 0) {
		cli_fail("replace", "cannot read %s (at most 1 MiB)", file);
		return NULL;
	}
	list = json_array();
	for (line = strtok_r(data, "\n", &save); line != NULL && list != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		line[strcspn(line, "\r#")] = '\0';
		if (line[strspn(line, " \t")] == '\0')
			continue;
		if (cli_serial_norm(line, hex, sizeof(hex), DB_SERIAL_MAX) != 0) {
			cli_fail("replace", "%s:%zu: not a serial (hex): %s", file, lineno, line);
			json_decref(list);
			list = NULL;
			break;
		}
		json_array_append_new(list, json_string(hex));
	}
	free(data);
	if (list != NULL && json_array_size(list) == 0) {
		cli_fail("replace", "%s lists no serial", file);
		json_decref(list);
		list = NULL;
	}
	return list;
}

static void print_campaign(const json_t *c)
{
	const char *v = json_string_value(json_object_get(c, "value"));
	const json_t *ra = json_object_get(c, "revoke_after");

	printf("campaign %lld: %s %s, %s\n", (long long)json_integer_value(json_object_get(c, "id")),
	       json_string_value(json_object_get(c, "kind")), v ? v : "(serial list)",
	       json_string_value(json_object_get(c, "state")));
	printf("  renew by %s; revoke after %s (%s)\n",
	       json_string_value(json_object_get(c, "by")),
	       json_is_string(ra) ? json_string_value(ra) : "never",
	       json_string_value(json_object_get(c, "reason")));
	printf("  marked %lld, replaced %lld, revoked %lld, pending %lld, gone %lld\n",
	       (long long)json_integer_value(json_object_get(c, "marked")),
	       (long long)json_integer_value(json_object_get(c, "replaced")),
	       (long long)json_integer_value(json_object_get(c, "revoked")),
	       (long long)json_integer_value(json_object_get(c, "pending")),
	       (long long)json_integer_value(json_object_get(c, "gone")));
}

int cli_replace(int argc, char **argv)
{
	cli_conn_opts_t o = { 0 };
	const char *key = NULL, *issuer = NULL, *profile = NULL, *file = NULL, *by = NULL;
	const char *ra = NULL, *reason = NULL, *url = NULL;
	json_t *body = NULL, *out = NULL, *serials = NULL;
	char path[64];
	int c, rc, json = 0, kinds;
	static const struct option longopts[] = {
		CLI_CONN_LONGOPTS,
		{ "issued-by-key", required_argument, NULL, 'k' },
		{ "issuer", required_argument, NULL, 'i' },
		{ "profile", required_argument, NULL, 'p' },
		{ "file", required_argument, NULL, 'f' },
		{ "by", required_argument, NULL, 'b' },
		{ "revoke-after", required_argument, NULL, 'a' },
		{ "reason", required_argument, NULL, 'r' },
		{ "explanation-url", required_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (cli_conn_opt(c, optarg, &o))
			continue;
		switch (c) {
		case 'k': key = optarg; break;
		case 'i': issuer = optarg; break;
		case 'p': profile = optarg; break;
		case 'f': file = optarg; break;
		case 'b': by = optarg; break;
		case 'a': ra = optarg; break;
		case 'r': reason = optarg; break;
		case 'e': url = optarg; break;
		case 'j': json = 1; break;
		default:
			return cli_usage_error("replace", "unknown or incomplete option %s",
					       argv[optind - 1]);
		}
	}
	if (optind < argc && strcmp(argv[optind], "cancel") == 0) {
		if (argc - optind != 2)
			return cli_usage_error("replace", "replace cancel ID");
		snprintf(path, sizeof(path), "/replace/%.20s/cancel", argv[optind + 1]);
		rc = cli_api_json("replace", &o, "POST", path, NULL, 200, &out);
		if (rc == CLI_OK)
			rc = json ? cli_print_object(out) : (print_campaign(out), CLI_OK);
		json_decref(out);
		return rc;
	}
	if (optind < argc && (strcmp(argv[optind], "status") == 0 ||
			      strcmp(argv[optind], "list") == 0)) {
		int status = strcmp(argv[optind], "status") == 0;
		if (argc - optind != (status ? 2 : 1))
			return cli_usage_error("replace", "replace status ID | replace list");
		if (status)
			snprintf(path, sizeof(path), "/replace/%.20s", argv[optind + 1]);
		rc = cli_api_json("replace", &o, "GET", status ? path : "/replace", NULL, 200, &out);
		if (rc == CLI_OK) {
			if (json && status)
				rc = cli_print_object(out);
			else if (json)
				rc = cli_print_list(json_incref(json_object_get(out, "items")),
						    json_integer_value(json_object_get(out, "total")),
						    NULL);
			else if (status)
				print_campaign(out);
			else {
				json_t *it;
				size_t i;
				json_array_foreach(json_object_get(out, "items"), i, it)
					print_campaign(it);
			}
		}
		json_decref(out);
		return rc;
	}
	if (optind != argc)
		return cli_usage_error("replace", "unexpected argument %s", argv[optind]);
	kinds = (key != NULL) + (issuer != NULL) + (profile != NULL) + (file != NULL);
	if (kinds != 1)
		return cli_usage_error("replace", "select by exactly one of --issued-by-key, "
						  "--issuer, --profile, --file");
	if (by == NULL)
		return cli_usage_error("replace", "--by DATE is required");
	if (CLI_TEXT_ARGS("replace", { "--by", by }, { "--issued-by-key", key },
			  { "--issuer", issuer }, { "--profile", profile }, { "--revoke-after", ra },
			  { "--reason", reason }, { "--explanation-url", url }) != CLI_OK)
		return CLI_USAGE;
	if (file != NULL && (serials = read_serials(file)) == NULL)
		return CLI_FAILED;
	body = json_pack("{s:s}", "by", by);
	if (body == NULL)
		return cli_fail("replace", "out of memory");
	if (key)
		json_object_set_new(body, "issued_by_key", json_string(key));
	if (issuer)
		json_object_set_new(body, "issuer", json_string(issuer));
	if (profile)
		json_object_set_new(body, "profile", json_string(profile));
	if (serials)
		json_object_set_new(body, "serials", serials);
	if (ra)
		json_object_set_new(body, "revoke_after", json_string(ra));
	if (reason)
		json_object_set_new(body, "reason", json_string(reason));
	if (url)
		json_object_set_new(body, "explanation_url", json_string(url));
	fprintf(stderr, "cairn replace: marking (batches of 2000 certificates)...\n");
	rc = cli_api_json("replace", &o, "POST", "/replace", body, 201, &out);
	if (rc == CLI_OK)
		rc = json ? cli_print_object(out) : (print_campaign(out), CLI_OK);
	json_decref(body);
	json_decref(out);
	return rc;
}
