/* SPDX-License-Identifier: MIT */
/* cli: the `cairn` command's subcommands; each returns an exit code (0 ok, 1 failed, 2 usage,
 * 3 waiting: a request parked for approvals). */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include <stddef.h>
#include <stdio.h>

enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2, CLI_PENDING = 3 };

typedef struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *synopsis;
	const char *help; /* option lines */
} cli_command_t;

int cli_init(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_issue(int argc, char **argv);
int cli_show(int argc, char **argv);
int cli_list(int argc, char **argv);
int cli_audit(int argc, char **argv);
int cli_config(int argc, char **argv);
int cli_revoke(int argc, char **argv);

/* POSTs json to the running daemon's admin API at /admin/v1{path} with the
 * admin token (client.c). Returns the HTTP status with the answer in *body
 * (malloc'd, NUL-terminated, may be NULL; caller frees), or -1 with a one-line
 * reason in why when the daemon cannot be reached. */
long cli_admin_post(const char *dir, const char *path, const char *json, char **body,
		    size_t *len, char *why, size_t why_cap);

int cli_acme(int argc, char **argv);

/* Prints the command's usage to out. */
void cli_usage(FILE *out, const char *name);
/* One-line failure on stderr ("cairn NAME: message"); returns CLI_FAILED. */
int cli_fail(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Usage error: message + hint; returns CLI_USAGE. */
int cli_usage_error(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
