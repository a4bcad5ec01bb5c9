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
#include "server/server.h"

#define CMD "est"

static void show_refusal(long status, const char *body, size_t len)
{
	json_t *doc = body ? json_loadb(body, len, 0, NULL) : NULL;
	const char *detail = json_string_value(json_object_get(doc, "detail"));

	cli_fail(CMD, "refused (HTTP %ld): %s", status, detail ? detail : "no detail");
	json_decref(doc);
}

/* The EST settings of DIR/cairn.json into set; CLI_OK or the failure printed. */
static int load_settings(const char *dir, est_settings_t *set)
{
	cairn_config_t *cfg = NULL;
	cairn_err_t err = { 0 };
	int rc = CLI_OK;

	if (config_load(dir, &cfg, &err) != 0)
		rc = cli_fail(CMD, "%s", cairn_err_msg(&err));
	else
		*set = *cfg->est_settings;
	config_free(cfg);
	return rc;
}

/* --labels a,b: each a label of DIR/cairn.json, as a JSON array (NULL: none given). */
static int labels_array(const char *dir, const char *list, json_t **out)
{
	est_settings_t *set = NULL;
	char *copy = NULL, *save = NULL, *one;
	size_t i;
	int rc = CLI_FAILED, found;

	*out = NULL;
	if (list == NULL)
		return CLI_OK;
	set = malloc(sizeof(*set));
	copy = strdup(list);
	if (set == NULL || copy == NULL || (*out = json_array()) == NULL) {
		rc = cli_fail(CMD, "out of memory");
		goto out;
	}
	if (load_settings(dir, set) != CLI_OK)
		goto out;
	for (one = strtok_r(copy, ",", &save); one != NULL; one = strtok_r(NULL, ",", &save)) {
		for (i = 0, found = 0; i < set->n_labels; i++)
			found |= strcmp(set->labels[i].name, one) == 0;
		if (!found) {
			rc = cli_fail(CMD, "--labels: no EST label %s in %s/cairn.json", one, dir);
			goto out;
		}
		json_array_append_new(*out, json_string(one));
	}
	if (json_array_size(*out) == 0) {
		rc = cli_usage_error(CMD, "--labels needs at least one label name");
		goto out;
	}
	rc = CLI_OK;
out:
	if (rc != CLI_OK) {
		json_decref(*out);
		*out = NULL;
	}
	free(copy);
	free(set);
	return rc;
}

static int user_add(const char *dir, const char *name, const char *pw_file, const char *labels,
		    const char *email)
{
	char *pw = NULL, *text = NULL, *body = NULL, why[512];
	json_t *req = NULL, *larr = NULL;
	size_t len = 0, blen = 0;
	long status;
	int rc = CLI_FAILED;

	if ((rc = labels_array(dir, labels, &larr)) != CLI_OK)
		return rc;
	rc = CLI_FAILED;
	if (fs_read(pw_file, 4096, &pw, &len) != 0) {
		json_decref(larr);
		return cli_fail(CMD, "cannot read the password file %s", pw_file);
	}
	while (len > 0 && (pw[len - 1] == '\n' || pw[len - 1] == '\r'))
		pw[--len] = '\0';
	if (strlen(pw) != len || !util_utf8_valid(pw)) {
		rc = cli_fail(CMD, "%s: the password must be UTF-8 text", pw_file);
		goto out;
	}
	req = json_pack("{s:s, s:s}", "name", name, "password", pw);
	if (req != NULL && email != NULL && json_object_set_new(req, "email", json_string(email)) != 0) {
		json_decref(req);
		req = NULL;
	}
	if (req != NULL && larr != NULL && json_object_set(req, "labels", larr) != 0) {
		json_decref(req);
		req = NULL;
	}
	text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	if (text == NULL) {
		rc = cli_fail(CMD, "out of memory");
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
	json_decref(larr);
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

struct list_ctx {
	const char *default_label;
	json_t *items; /* --json: every account; NULL for the table */
};

static int print_user(const char *name, const est_user_info_t *info, void *arg)
{
	const struct list_ctx *lc = arg;
	char when[32];
	size_t i;

	time_rfc3339((time_t)info->created, when, sizeof(when));
	if (lc->items != NULL) {
		/* labels: as given; [] means the default label only, named in default_label */
		json_t *labels = json_array();
		for (i = 0; labels != NULL && i < info->n_labels; i++)
			json_array_append_new(labels, json_string(info->labels[i]));
		json_array_append_new(lc->items,
				      json_pack("{s:s, s:s, s:o, s:s}", "name", name, "created", when,
						"labels", labels ? labels : json_array(),
						"default_label", lc->default_label));
		return 0;
	}
	printf("%s\t%s\t", name, when);
	/* An account without labels may use the default label only. */
	if (info->n_labels == 0)
		printf("%s (default label)", lc->default_label);
	for (i = 0; i < info->n_labels; i++)
		printf("%s%s", i ? "," : "", info->labels[i]);
	printf("\n");
	return 0;
}

/* Read-only: straight from the database (another process may serve meanwhile). */
static int user_list(const char *dir, int json)
{
	cairn_err_t err = { 0 };
	char *cfg = fs_join(dir, "cairn.json"), *path = fs_join(dir, "db");
	est_settings_t *set = malloc(sizeof(*set));
	struct list_ctx lc = { "default", json ? json_array() : NULL };
	db_t *db = NULL;
	int rc = CLI_OK;

	if (cfg == NULL || path == NULL || set == NULL || !fs_exists(cfg) || !fs_exists(path))
		rc = cli_fail(CMD, "%s: no CA here (run `cairn init --dir %s`)", dir, dir);
	else if ((rc = load_settings(dir, set)) != CLI_OK)
		;
	else if (db_open(path, &db, &err) != 0)
		rc = cli_fail(CMD, "%s", cairn_err_msg(&err));
	else if ((lc.default_label = set->default_label),
		 est_users_list(db, print_user, &lc) != 0)
		rc = cli_fail(CMD, "cannot read the accounts");
	else if (json)
		rc = cli_print_list(json_incref(lc.items), (long long)json_array_size(lc.items), NULL);
	json_decref(lc.items);
	db_close(db);
	free(cfg);
	free(path);
	free(set);
	return rc;
}

int cli_est(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "name", required_argument, NULL, 'n' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "labels", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "email", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *name = NULL, *pw_file = NULL, *labels = NULL, *email = NULL, *what;
	int c, json = 0;

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
		case 'l': labels = optarg; break;
		case 'j': json = 1; break;
		case 'e': email = optarg; break;
		default:
			return cli_usage_error(CMD, "unknown or incomplete option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error(CMD, "unexpected argument %s", argv[optind]);
	if (dir == NULL)
		return cli_usage_error(CMD, "--dir is required");
	if (CLI_TEXT_ARGS(CMD, { "--name", name }, { "--labels", labels }, { "--email", email }) !=
	    CLI_OK)
		return CLI_USAGE;
	if (strcmp(what, "add") == 0) {
		if (name == NULL || pw_file == NULL)
			return cli_usage_error(CMD, "user add needs --name and --password-file");
		return user_add(dir, name, pw_file, labels, email);
	}
	if (labels != NULL || email != NULL)
		return cli_usage_error(CMD, "--labels and --email are options of `est user add`");
	if (strcmp(what, "del") == 0) {
		if (name == NULL)
			return cli_usage_error(CMD, "user del needs --name");
		return user_del(dir, name);
	}
	if (strcmp(what, "list") == 0)
		return user_list(dir, json);
	if (json)
		return cli_usage_error(CMD, "--json is an option of `est user list`");
	return cli_usage_error(CMD, "unknown `est user %s` (add, del or list)", what);
}
