/* SPDX-License-Identifier: MIT */
/* The manual pages, generated from the tables they describe so they cannot drift:
 * cairn(1) from the command table of main.c, cairn.json(5) from the config table
 * (config_keys_json). `cairn man 1|5` prints them (mdoc); the build installs the output. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "server/server.h"

/* Fixed, so that the pages are reproducible; move it when the pages change in substance. */
#define MAN_DATE "December 3, 2026"

/* text as mdoc body text: backslashes escaped, a leading '.' or '\'' made literal,
 * trailing blanks dropped. One line a call (no newline inside text). */
static void man_line(FILE *out, const char *text, size_t len)
{
	size_t i;

	while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
		len--;
	if (len > 0 && (text[0] == '.' || text[0] == '\''))
		fputs("\\&", out);
	for (i = 0; i < len; i++) {
		if (text[i] == '\\')
			fputs("\\e", out);
		else
			fputc(text[i], out);
	}
	fputc('\n', out);
}

/* Running text, wrapped at blanks into lines of at most 72 bytes where it can be. */
static void man_words(FILE *out, const char *text)
{
	size_t len = strlen(text), cut;

	while (len > 72) {
		for (cut = 72; cut > 0 && text[cut] != ' '; cut--)
			;
		if (cut == 0)
			for (cut = 72; cut < len && text[cut] != ' '; cut++)
				;
		if (cut == len)
			break;
		man_line(out, text, cut);
		text += cut + 1;
		len -= cut + 1;
	}
	man_line(out, text, len);
}

/* A multi-line text, line by line (an empty line becomes an empty literal line). */
static void man_text(FILE *out, const char *text)
{
	const char *nl;

	while (*text) {
		nl = strchr(text, '\n');
		if (nl == NULL)
			nl = text + strlen(text);
		if (nl == text)
			fputs("\\&\n", out);
		else
			man_line(out, text, (size_t)(nl - text));
		text = *nl ? nl + 1 : nl;
	}
}

static void man_cairn(FILE *out)
{
	size_t i, n;
	const cli_command_t *cmds = cli_commands(&n);

	fprintf(out, ".Dd %s\n.Dt CAIRN 1\n.Os\n", MAN_DATE);
	fputs(".Sh NAME\n.Nm cairn\n.Nd private certificate authority: ACME, EST, OCSP, CRL and an admin API\n"
	      ".Sh SYNOPSIS\n.Nm\n.Ar command\n.Op Ar options\n.Nm\n.Ar command\n.Fl -help\n"
	      ".Nm\n.Fl -version\n"
	      ".Sh DESCRIPTION\n"
	      ".Nm\nruns a private certificate authority from one data directory\n.Ar DIR :\n"
	      ".Ic init\ncreates it,\n.Ic serve\nruns the daemon that holds the CA keys in a PKCS#11 token and\n"
	      "serves ACME, EST, OCSP, CRLs and the admin API.\n"
	      "Commands that change the CA go through the running daemon's admin API,\n"
	      "so only the daemon touches the token and every change is audited;\n"
	      "read-only commands read the database directly.\n"
	      ".Pp\nEvery read command takes\n.Fl -json\nand prints one JSON document: lists as\n"
	      ".Bd -literal -offset indent\n{\"items\": [...], \"total\": N, \"next\": CURSOR or null}\n.Ed\n"
	      "and single objects as themselves; pass\n.Ic next\nto\n.Fl -after\nfor the next page.\n"
	      ".Pp\n.Fl -version\nprints the version of\n.Nm\nand of the OpenSSL, LMDB and libmicrohttpd\n"
	      "libraries it runs with.\n"
	      ".Sh COMMANDS\n", out);
	for (i = 0; i < n; i++) {
		fprintf(out, ".Ss %s\n.Bd -literal -offset indent\n", cmds[i].name);
		fputs("cairn ", out);
		man_text(out, cmds[i].synopsis);
		man_text(out, cmds[i].help);
		fputs(".Ed\n", out);
	}
	fputs(".Sh ENVIRONMENT\n.Bl -tag -width Ds\n"
	      ".It Ev CAIRN_TOKEN\nan admin API token to act with (instead of\n.Pa DIR/admin.token ) .\n"
	      ".It Ev CAIRN_ADMIN_TOKEN\nthe same, an older name.\n.El\n"
	      ".Sh FILES\n.Bl -tag -width Ds\n"
	      ".It Pa DIR/cairn.json\nthe configuration, see\n.Xr cairn.json 5 .\n"
	      ".It Pa DIR/policy.json\nthe approval policy, reloaded on\n.Dv SIGHUP .\n"
	      ".It Pa DIR/serve.json\nwritten by the running daemon: its pid and URLs.\n"
	      ".It Pa DIR/admin.token\nthe bootstrap admin's API token.\n"
	      ".It Pa /var/lib/cairn\nthe data directory of the packaged service\n(cairn.service).\n"
	      ".El\n"
	      ".Sh EXIT STATUS\n.Bl -tag -width Ds -compact\n.It 0\nsuccess\n"
	      ".It 1\nrefused or failed; one line on standard error says why\n"
	      ".It 2\nusage error\n.It 3\nthe request waits for approvals\n.El\n"
	      ".Sh SIGNALS\n.Ic serve\nstops cleanly on\n.Dv SIGINT\nand\n.Dv SIGTERM ;\n"
	      ".Dv SIGHUP\nreloads the policy file and logs one line saying what it reloaded.\n"
	      ".Sh SEE ALSO\n.Xr openssl 1 ,\n.Xr systemctl 1 ,\n.Xr cairn.json 5\n", out);
}

static void man_config(FILE *out)
{
	json_t *rows = config_keys_json(), *r;
	const char *bounds, *value;
	size_t i;

	fprintf(out, ".Dd %s\n.Dt CAIRN.JSON 5\n.Os\n", MAN_DATE);
	fputs(".Sh NAME\n.Nm cairn.json\n.Nd configuration of the cairn certificate authority\n"
	      ".Sh DESCRIPTION\n"
	      ".Ic cairn init\nwrites\n.Pa DIR/cairn.json ;\n"
	      ".Ic cairn serve\nvalidates it at start-up and\n.Ic cairn config check\n"
	      "runs the same validator without starting.\n"
	      "Unknown keys are refused at every level; an error names the key path and what is\n"
	      "allowed.\nURLs must be absolute http:// or https:// URLs.\n"
	      "Durations are a number with a suffix s, m, h, d, w or y.\n"
	      "Relative paths are relative to\n.Ar DIR .\n"
	      "The token PIN is never in this file.\n"
	      ".Pp\nA * in a key stands for any name (a profile, an EST label, a host name).\n"
	      "This list is generated from the config table, as is the output of\n"
	      ".Ic cairn config keys .\n"
	      ".Sh KEYS\n.Bl -tag -width Ds\n", out);
	json_array_foreach(rows, i, r) {
		bounds = json_string_value(json_object_get(r, "bounds"));
		value = json_string_value(json_object_get(r, "value"));
		fprintf(out, ".It Cm %s\n", json_string_value(json_object_get(r, "key")));
		fprintf(out, "%s%s%s;\n", json_string_value(json_object_get(r, "type")),
			bounds ? " " : "", bounds ? bounds : "");
		if (value != NULL) {
			fputs("default\n", out);
			fprintf(out, ".Ql ");
			man_line(out, value, strlen(value));
		} else {
			man_line(out, json_string_value(json_object_get(r, "default")),
				 strlen(json_string_value(json_object_get(r, "default"))));
		}
		fputs(".Pp\n", out);
		man_words(out, json_string_value(json_object_get(r, "meaning")));
	}
	fputs(".El\n.Sh FILES\n.Bl -tag -width Ds\n.It Pa DIR/cairn.json\n.El\n"
	      ".Sh SEE ALSO\n.Xr cairn 1\n", out);
	json_decref(rows);
}

int cli_man(int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "1") == 0 || strcmp(argv[1], "cairn") == 0)) {
		man_cairn(stdout);
		return fflush(stdout) == 0 ? CLI_OK : CLI_FAILED;
	}
	if (argc == 2 && (strcmp(argv[1], "5") == 0 || strcmp(argv[1], "cairn.json") == 0)) {
		man_config(stdout);
		return fflush(stdout) == 0 ? CLI_OK : CLI_FAILED;
	}
	return cli_usage_error("man", "say `man 1` (cairn) or `man 5` (cairn.json)");
}
