/* SPDX-License-Identifier: MIT */
/* `cairn config keys|check`: the documented key table, and validation without starting. */
#include <stdio.h>
#include <string.h>

#include "ca/ca.h"
#include "cli/cli.h"
#include "server/server.h"

/* The profile names of DIR/cairn.json (without DIR: the defaults init writes), one a line. */
static int print_profiles(const char *dir)
{
	cairn_config_t *cfg = NULL;
	cairn_err_t err = { 0 };
	json_t *all, *v;
	const char *name;

	if (dir != NULL && config_load(dir, &cfg, &err) != 0)
		return cli_fail("config", "%s", cairn_err_msg(&err));
	all = cfg ? json_incref(cfg->profiles) : ca_profiles_default();
	json_object_foreach(all, name, v)
		printf("%s\n", name);
	json_decref(all);
	config_free(cfg);
	return CLI_OK;
}

int cli_config(int argc, char **argv)
{
	cairn_config_t *cfg = NULL;
	cairn_err_t err = { 0 };

	if (argc == 2 && strcmp(argv[1], "keys") == 0) {
		config_describe(stdout);
		return CLI_OK;
	}
	if (argc == 3 && strcmp(argv[1], "keys") == 0 && strcmp(argv[2], "--json") == 0) {
		json_t *rows = config_keys_json();
		return cli_print_list(rows, (long long)json_array_size(rows), NULL);
	}
	if (argc == 4 && strcmp(argv[1], "check") == 0 && strcmp(argv[2], "--dir") == 0) {
		if (config_load(argv[3], &cfg, &err) != 0)
			return cli_fail("config", "%s", cairn_err_msg(&err));
		printf("%s/cairn.json is valid\n", cfg->dir);
		config_free(cfg);
		return CLI_OK;
	}
	if ((argc == 2 || (argc == 4 && strcmp(argv[2], "--dir") == 0)) &&
	    strcmp(argv[1], "profiles") == 0)
		return print_profiles(argc == 4 ? argv[3] : NULL);
	return cli_usage_error("config", "say `config keys [--json]`, `config check --dir DIR` or "
					 "`config profiles [--dir DIR]`");
}
