/* SPDX-License-Identifier: MIT */
/* `cairn config keys|check`: the documented key table, and validation without starting. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "server/server.h"

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
	return cli_usage_error("config", "say `config keys [--json]` or `config check --dir DIR`");
}
