/* SPDX-License-Identifier: MIT */
/* `cairn est user add|del|list`: EST enrollment accounts (changes go through the daemon). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "cli/cli.h"
#include "est/est.h"

#define CMD "est"

static void show_refusal(long status, const char *body, size_t len)
{
	json_t *doc = body ? json_loadb(body, len, 0, NULL) : NULL;
	const char *detail = json_string_value(json_object_get(doc, "detail"));

	cli_fail(CMD, "refused (HTTP %ld): %s", status, detail ? detail : "no detail");
	json_decref(doc);
}

static int user_add(const char *dir, const char *name, const char *pw_file)
{
	char *pw = NULL, *text = NULL, *body = NULL, why[512];
	json_t *req = NULL;
	size_t len = 0, blen = 0;
	long status;
	int rc = CLI_FAILED;

	if (fs_read(pw_file, 4096, &pw, &len) != 0)
		return cli_fail(CMD, "cannot read the password file %s", pw_file);
	while (len > 0 && (pw[len - 1] == '\n' || pw[len - 1] == '\r'))
		pw[--len] = '\0';
	if (strlen(pw) != len) {
		rc = cli_fail(CMD, "%s: the password must be text", pw_file);
		goto out;
	}
	req = json_pack("{s:s, s:s}", "name", name, "password", pw);
	text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	if (text == NULL) {
		rc = cli_fail(CMD, "out of memory (or the password is not UTF-8)");
		goto out;
	}
	status = cli_admin_call(dir, "POST", "/est/users", text, &body, &blen, why, sizeof(why));
	if (status < 0)
		rc = cli_fail(CMD, "%s", why);
	else if (status != 201)
		show_refusal(status, body, blen);
	else {
		fprintf(stderr, "cairn est: user %s added\n", name);
		rc = CLI_OK;
	}
out:
	if (pw != NULL)
		OPENSSL_cleanse(pw, len);
	if (text != NULL)
		OPENSSL_cleanse(text, strlen(text));
	free(pw);
	free(text);
	free(body);
	json_decref(req);
	return rc;
}

static int user_del(const char *dir, const char *name)
{
	char path[128], *body = NULL, why[512];
	size_t blen = 0;
	long status;
	int rc = CLI_FAILED;

	if (strchr(name, '/') != NULL || strlen(name) >= EST_NAME_MAX)
		return cli_fail(CMD, "no EST user %s", name);
	snprintf(path, sizeof(path), "/est/users/%s", name);
	status = cli_admin_call(dir, "DELETE", path, NULL, &body, &blen, why, sizeof(why));
	if (status < 0)
		rc = cli_fail(CMD, "%s", why);
	else if (status != 200)
		show_refusal(status, body, blen);
	else {
		fprintf(stderr, "cairn est: user %s deleted\n", name);
		rc = CLI_OK;
	}
	free(body);
	return rc;
}

static int print_user(const char *name, int64_t created, void *arg)
{
	char when[32];
	(void)arg;

	time_rfc3339((time_t)created, when, sizeof(when));
	printf("%s\t%s\n", name, when);
	return 0;
}

/* Read-only: straight from the database (another process may serve meanwhile). */
static int user_list(const char *dir)
{
	cairn_err_t err = { 0 };
	char *cfg = fs_join(dir, "cairn.json"), *path = fs_join(dir, "db");
	db_t *db = NULL;
	int rc = CLI_OK;

	if (cfg == NULL || path == NULL || !fs_exists(cfg) || !fs_exists(path))
		rc = cli_fail(CMD, "%s: no CA here (run `cairn init --dir %s`)", dir, dir);
	else if (db_open(path, &db, &err) != 0)
		rc = cli_fail(CMD, "%s", cairn_err_msg(&err));
	else if (est_users_list(db, print_user, NULL) != 0)
		rc = cli_fail(CMD, "cannot read the accounts");
	db_close(db);
	free(cfg);
	free(path);
	return rc;
}

int cli_est(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "name", required_argument, NULL, 'n' },
		{ "password-file", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *name = NULL, *pw_file = NULL, *what;
	int c;

	if (argc < 3 || strcmp(argv[1], "user") != 0)
		return cli_usage_error(CMD, "expected `est user add|del|list`");
	what = argv[2];
	opterr = 0;
	optind = 3;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'n': name = optarg; break;
		case 'p': pw_file = optarg; break;
		default:
			return cli_usage_error(CMD, "unknown or incomplete option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error(CMD, "unexpected argument %s", argv[optind]);
	if (dir == NULL)
		return cli_usage_error(CMD, "--dir is required");
	if (strcmp(what, "add") == 0) {
		if (name == NULL || pw_file == NULL)
			return cli_usage_error(CMD, "user add needs --name and --password-file");
		return user_add(dir, name, pw_file);
	}
	if (strcmp(what, "del") == 0) {
		if (name == NULL)
			return cli_usage_error(CMD, "user del needs --name");
		return user_del(dir, name);
	}
	if (strcmp(what, "list") == 0)
		return user_list(dir);
	return cli_usage_error(CMD, "unknown `est user %s` (add, del or list)", what);
}
