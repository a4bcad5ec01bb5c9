/* SPDX-License-Identifier: MIT */
/* Private to cli/: the options shared by the admin subcommands. */
#ifndef CAIRN_CLI_OPTS_H
#define CAIRN_CLI_OPTS_H

#include "cli/cli.h"

typedef struct cli_opts {
	cli_conn_opts_t conn;
	const char *comment, *status, *name, *role, *expires_in;
	const char *email; /* admin add --email */
	const char *csr, *channel, *requester, *group, *profile;
	const char *export_file, *ca, *file;
	const char *limit, *after; /* paging of a --json list */
	const char *chain;      /* ca import-cert --chain */
	int json, validity_days;
	int ocsp_signer, https; /* ca renew: what */
	const char *args[4];
	int nargs;
} cli_opts_t;

/* Parses argv (argv[0] is the subcommand) into o; CLI_OK or a usage error. */
int cli_parse_opts(const char *cmd, int argc, char **argv, cli_opts_t *o);
/* An API answer {"items": [...]} that has no pages, as the --json envelope; consumes doc. */
int cli_print_unpaged(json_t *doc);
/* An id or name for a URL path: refuse anything that is not a plain segment. */
int cli_plain_segment(const char *s);

#endif
