/* SPDX-License-Identifier: MIT */
/* Admin subcommands through the daemon's API: requests, admins, tokens, audit checkpoints. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "util/util.h"

static const struct option long_opts[] = {
	CLI_CONN_LONGOPTS,
	{ "comment", required_argument, NULL, 'm' }, { "status", required_argument, NULL, 's' },
	{ "name", required_argument, NULL, 'n' },    { "role", required_argument, NULL, 'r' },
	{ "expires-in", required_argument, NULL, 'e' }, { "json", no_argument, NULL, 'j' },
	{ "csr", required_argument, NULL, 'c' },     { "channel", required_argument, NULL, 'H' },
	{ "requester", required_argument, NULL, 'R' }, { "group", required_argument, NULL, 'g' },
	{ "profile", required_argument, NULL, 'p' }, { "export", required_argument, NULL, 'x' },
	{ "ca", required_argument, NULL, 'a' },      { "file", required_argument, NULL, 'f' },
	{ "validity-days", required_argument, NULL, 'v' },
	{ "ocsp-signer", no_argument, NULL, 'O' },   { "https", no_argument, NULL, 'T' },
	{ "limit", required_argument, NULL, 'L' },   { "after", required_argument, NULL, 'A' },
	{ "email", required_argument, NULL, 'E' },
	{ "chain", required_argument, NULL, 'K' },
	{ NULL, 0, NULL, 0 },
};

int cli_parse_opts(const char *cmd, int argc, char **argv, cli_opts_t *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		if (cli_conn_opt(c, optarg, &o->conn))
			continue;
		switch (c) {
		case 'm': o->comment = optarg; break;
		case 's': o->status = optarg; break;
		case 'n': o->name = optarg; break;
		case 'r': o->role = optarg; break;
		case 'e': o->expires_in = optarg; break;
		case 'j': o->json = 1; break;
		case 'c': o->csr = optarg; break;
		case 'H': o->channel = optarg; break;
		case 'R': o->requester = optarg; break;
		case 'g': o->group = optarg; break;
		case 'p': o->profile = optarg; break;
		case 'x': o->export_file = optarg; break;
		case 'a': o->ca = optarg; break;
		case 'f': o->file = optarg; break;
		case 'v': {
			long days;
			if (cli_int_arg(cmd, "--validity-days", optarg, 1, 3650, &days) != CLI_OK)
				return CLI_USAGE;
			o->validity_days = (int)days;
			break;
		}
		case 'O': o->ocsp_signer = 1; break;
		case 'T': o->https = 1; break;
		case 'L': o->limit = optarg; break;
		case 'A': o->after = optarg; break;
		case 'E': o->email = optarg; break;
		case 'K': o->chain = optarg; break;
		default:
			return cli_usage_error(cmd, "unknown or incomplete option %s", argv[optind - 1]);
		}
	}
	for (; optind < argc && o->nargs < 4; optind++)
		o->args[o->nargs++] = argv[optind];
	if (optind < argc)
		return cli_usage_error(cmd, "too many arguments");
	/* the text options; arguments may be paths (policy check FILE) and are checked
	 * where they go into a body (notify SINK) */
	return CLI_TEXT_ARGS(cmd, { "--comment", o->comment }, { "--status", o->status },
			     { "--name", o->name }, { "--role", o->role },
			     { "--expires-in", o->expires_in }, { "--email", o->email },
			     { "--channel", o->channel }, { "--requester", o->requester },
			     { "--group", o->group }, { "--profile", o->profile },
			     { "--after", o->after });
}

/* The NAMES cell of a request: its SANs (or, in records from before they were stored, the
 * names the policy matched), else its subject; the names that do not fit in cap are
 * counted as "+N" (a first name too long is cut with "..."). */
static void names_cell(const json_t *r, char *out, size_t cap)
{
	json_t *list = json_object_get(r, "sans"), *v;
	const char *subject = json_string_value(json_object_get(r, "subject")), *t;
	size_t i, used = 0, n, len;
	char more[16];

	if (list == NULL)
		list = json_object_get(r, "names");
	n = json_array_size(list);
	if (n == 0) {
		snprintf(out, cap, "%s", subject && subject[0] ? subject : "-");
		return;
	}
	out[0] = '\0';
	json_array_foreach(list, i, v) {
		t = json_is_object(v) ? json_string_value(json_object_get(v, "value"))
				      : json_string_value(v);
		t = t ? t : "?";
		len = strlen(t) + (i > 0);
		snprintf(more, sizeof(more), ",+%zu", n - i - 1);
		if (used + len + (i + 1 < n ? strlen(more) : 0) >= cap) {
			if (i == 0) { /* one long name: as much of it as fits */
				snprintf(out, cap, "%.*s...", (int)(cap - 4 - strlen(more)), t);
				used = strlen(out);
				i = 1;
			}
			snprintf(more, sizeof(more), ",+%zu", n - i);
			if (i < n)
				snprintf(out + used, cap - used, "%s", more);
			return;
		}
		used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? "," : "", t);
	}
}

static void print_request(const json_t *r)
{
	char names[48];

	names_cell(r, names, sizeof(names));
	printf("%-32s %-8s %-8s %-10s %d/%d   %-40s %s\n",
	       json_string_value(json_object_get(r, "id")),
	       json_string_value(json_object_get(r, "status")),
	       json_string_value(json_object_get(r, "channel")),
	       json_string_value(json_object_get(r, "rule")),
	       (int)json_integer_value(json_object_get(r, "approvals_have")),
	       (int)json_integer_value(json_object_get(r, "approvals_needed")), names,
	       json_string_value(json_object_get(r, "requester")));
}

int cli_print_unpaged(json_t *doc)
{
	json_t *items = json_incref(json_object_get(doc, "items"));
	int rc = cli_print_list(items, (long long)json_array_size(items), NULL);

	json_decref(doc);
	return rc;
}

int cli_plain_segment(const char *s)
{
	return s != NULL && s[0] != '\0' && strlen(s) < 128 && strspn(s,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-") == strlen(s);
}

int cli_requests(int argc, char **argv)
{
	cli_opts_t o;
	cli_page_t page;
	json_t *doc = NULL, *body = NULL, *it;
	char path[256], next[32];
	const char *sub = argc > 1 ? argv[1] : "";
	size_t i;
	int rc;

	if ((rc = cli_parse_opts("requests", argc - 1, argv + 1, &o)) != CLI_OK)
		return rc;
	if (strcmp(sub, "list") == 0) {
		if (o.nargs != 0)
			return cli_usage_error("requests", "list takes no argument");
		if ((rc = cli_page_parse("requests", o.limit, o.after, &page)) != CLI_OK)
			return rc;
		snprintf(path, sizeof(path), "/requests?offset=%lld&limit=%lld&status=%s",
			 page.offset, page.limit, o.status ? o.status : "pending");
		if (o.status && !cli_plain_segment(o.status))
			return cli_usage_error("requests", "--status: pending, issued, rejected, expired, failed or all");
		if ((rc = cli_api_json("requests", &o.conn, "GET", path, NULL, 200, &doc)) != CLI_OK)
			return rc;
		if (o.json) {
			long long total = json_integer_value(json_object_get(doc, "total"));
			rc = cli_print_list(json_incref(json_object_get(doc, "items")), total,
					    cli_page_next(&page, total, next, sizeof(next)));
		} else {
			printf("%-32s %-8s %-8s %-10s %-5s %-40s %s\n", "ID", "STATUS", "CHANNEL",
			       "RULE", "APPR", "NAMES", "REQUESTER");
			json_array_foreach(json_object_get(doc, "items"), i, it)
				print_request(it);
		}
		json_decref(doc);
		return rc;
	}
	if (strcmp(sub, "show") != 0 && strcmp(sub, "approve") != 0 && strcmp(sub, "reject") != 0)
		return cli_usage_error("requests", "say list, show ID, approve ID or reject ID");
	if (o.nargs != 1 || !cli_plain_segment(o.args[0]))
		return cli_usage_error("requests", "%s needs one request ID", sub);
	if (strcmp(sub, "show") == 0) {
		snprintf(path, sizeof(path), "/requests/%s", o.args[0]);
		if ((rc = cli_api_json("requests", &o.conn, "GET", path, NULL, 200, &doc)) != CLI_OK)
			return rc;
		rc = cli_print_object(doc);
		json_decref(doc);
		return rc;
	}
	snprintf(path, sizeof(path), "/requests/%s/%s", o.args[0], sub);
	body = o.comment ? json_pack("{s:s}", "comment", o.comment) : json_object();
	rc = cli_api_json("requests", &o.conn, "POST", path, body, 200, &doc);
	json_decref(body);
	if (rc != CLI_OK)
		return rc;
	printf("request %s: %s (%d/%d approvals)%s%s\n", o.args[0],
	       json_string_value(json_object_get(doc, "status")),
	       (int)json_integer_value(json_object_get(doc, "approvals_have")),
	       (int)json_integer_value(json_object_get(doc, "approvals_needed")),
	       json_string_value(json_object_get(doc, "serial")) ? ", serial " : "",
	       json_string_value(json_object_get(doc, "serial")) ?: "");
	json_decref(doc);
	return CLI_OK;
}

int cli_admin(int argc, char **argv)
{
	cli_opts_t o;
	json_t *doc = NULL, *body, *it;
	const char *sub = argc > 1 ? argv[1] : "";
	char path[256];
	size_t i;
	int rc;

	if ((rc = cli_parse_opts("admin", argc - 1, argv + 1, &o)) != CLI_OK)
		return rc;
	if (strcmp(sub, "list") == 0) {
		if ((rc = cli_api_json("admin", &o.conn, "GET", "/admins", NULL, 200, &doc)) != CLI_OK)
			return rc;
		if (o.json)
			return cli_print_unpaged(doc);
		printf("%-24s %-9s %s\n", "NAME", "ROLE", "STATE");
		json_array_foreach(json_object_get(doc, "items"), i, it)
			printf("%-24s %-9s %s\n", json_string_value(json_object_get(it, "name")),
			       json_string_value(json_object_get(it, "role")),
			       json_is_true(json_object_get(it, "disabled")) ? "disabled" : "enabled");
		json_decref(doc);
		return CLI_OK;
	}
	if (strcmp(sub, "add") == 0) {
		if (o.name == NULL || o.role == NULL)
			return cli_usage_error("admin", "add needs --name NAME --role ROLE");
		body = json_pack("{s:s, s:s, s:s*}", "name", o.name, "role", o.role, "email",
				 o.email);
		rc = cli_api_json("admin", &o.conn, "POST", "/admins", body, 201, &doc);
		json_decref(body);
		if (rc == CLI_OK)
			printf("admin %s added (role %s)\n", o.name, o.role);
		json_decref(doc);
		return rc;
	}
	if (strcmp(sub, "disable") == 0) {
		const char *name = o.nargs == 1 ? o.args[0] : o.name;
		if (!cli_plain_segment(name))
			return cli_usage_error("admin", "disable needs NAME");
		snprintf(path, sizeof(path), "/admins/%s/disable", name);
		rc = cli_api_json("admin", &o.conn, "POST", path, NULL, 200, &doc);
		if (rc == CLI_OK)
			printf("admin %s disabled\n", name);
		json_decref(doc);
		return rc;
	}
	return cli_usage_error("admin", "say add, list or disable");
}

int cli_token(int argc, char **argv)
{
	cli_opts_t o;
	json_t *doc = NULL, *body, *it;
	const char *sub = argc > 1 ? argv[1] : "";
	char path[256];
	size_t i;
	int rc;

	if ((rc = cli_parse_opts("token", argc - 1, argv + 1, &o)) != CLI_OK)
		return rc;
	if (strcmp(sub, "create") == 0) {
		if (o.name == NULL || o.role == NULL)
			return cli_usage_error("token", "create needs --name NAME --role ROLE");
		body = json_pack("{s:s, s:s, s:s*}", "name", o.name, "role", o.role, "expires_in",
				 o.expires_in);
		rc = cli_api_json("token", &o.conn, "POST", "/tokens", body, 201, &doc);
		json_decref(body);
		if (rc == CLI_OK) {
			/* The secret goes to stdout alone (shown once); the rest to stderr. */
			printf("%s\n", json_string_value(json_object_get(doc, "token")));
			fprintf(stderr, "cairn token: token %s for %s (role %s); it is shown only once\n",
				json_string_value(json_object_get(doc, "id")), o.name, o.role);
		}
		json_decref(doc);
		return rc;
	}
	if (strcmp(sub, "list") == 0) {
		if ((rc = cli_api_json("token", &o.conn, "GET", "/tokens", NULL, 200, &doc)) != CLI_OK)
			return rc;
		if (o.json)
			return cli_print_unpaged(doc);
		printf("%-16s %-24s %-9s %-7s %s\n", "ID", "NAME", "ROLE", "STATE", "EXPIRES");
		json_array_foreach(json_object_get(doc, "items"), i, it) {
			json_int_t exp = json_integer_value(json_object_get(it, "expires"));
			char expires[32];
			cli_time_cell(exp, expires, sizeof(expires));
			printf("%-16s %-24s %-9s %-7s %s\n", json_string_value(json_object_get(it, "id")),
			       json_string_value(json_object_get(it, "name")),
			       json_string_value(json_object_get(it, "role")),
			       json_is_true(json_object_get(it, "revoked")) ? "revoked"
			       : exp != 0 && exp < (json_int_t)time(NULL) ? "expired" : "active",
			       expires);
		}
		json_decref(doc);
		return CLI_OK;
	}
	if (strcmp(sub, "revoke") == 0) {
		if (o.nargs != 1 || !cli_plain_segment(o.args[0]))
			return cli_usage_error("token", "revoke needs a token ID (see `cairn token list`)");
		snprintf(path, sizeof(path), "/tokens/%s/revoke", o.args[0]);
		rc = cli_api_json("token", &o.conn, "POST", path, NULL, 200, &doc);
		if (rc == CLI_OK)
			printf("token %s revoked\n", o.args[0]);
		json_decref(doc);
		return rc;
	}
	return cli_usage_error("token", "say create, list or revoke");
}

int cli_audit_checkpoint(int argc, char **argv)
{
	cli_opts_t o;
	json_t *doc = NULL;
	int rc;

	if ((rc = cli_parse_opts("audit", argc, argv, &o)) != CLI_OK)
		return rc;
	rc = cli_api_json("audit", &o.conn, "POST", "/audit/checkpoint", NULL, 200, &doc);
	if (rc == CLI_OK)
		printf("audit head signed up to sequence %lld\n",
		       (long long)json_integer_value(json_object_get(doc, "seq")));
	json_decref(doc);
	return rc;
}

/* `cairn ca rotate`: a new issuing CA now, through the daemon (admin role, audited). */
static int ca_rotate_cmd(cli_opts_t *o)
{
	json_t *doc = NULL, *body = json_object();
	int rc;

	rc = cli_api_json("ca", &o->conn, "POST", "/ca/rotate", body, 200, &doc);
	json_decref(body);
	if (rc == CLI_OK)
		printf("issuing CA %s (serial %s, token key %s) replaces %s for new "
		       "certificates, valid until %s\n",
		       json_string_value(json_object_get(doc, "name")),
		       json_string_value(json_object_get(doc, "serial")),
		       json_string_value(json_object_get(doc, "key")),
		       json_string_value(json_object_get(doc, "replaces")),
		       json_string_value(json_object_get(doc, "not_after")));
	json_decref(doc);
	return rc;
}

/* Writes text to PREFIX-what.pem (0644); CLI_OK or CLI_FAILED with a message. */
static int write_member(const char *prefix, const char *what, json_t *doc, const char *key)
{
	const char *text = json_string_value(json_object_get(doc, key));
	char path[4096];
	int rc;

	snprintf(path, sizeof(path), "%s-%s.pem", prefix, what);
	if (text == NULL || (rc = fs_write_atomic(path, text, strlen(text), 0644)) != 0) {
		fprintf(stderr, "cairn ca: writing %s: %s\n", path,
			text ? cairn_strerror(rc) : "missing in the answer");
		return CLI_FAILED;
	}
	printf("%s\n", path);
	return CLI_OK;
}

/* `cairn ca cross-sign PREFIX`: the certificates of a root rollover, through the daemon
 * (which holds the token), written to PREFIX-root.pem, PREFIX-cross-new-by-old.pem and
 * PREFIX-cross-old-by-new.pem. */
static int ca_cross_sign_cmd(cli_opts_t *o)
{
	json_t *doc = NULL, *body;
	int rc;

	if (o->nargs != 1)
		return cli_usage_error("ca", "cross-sign needs one PREFIX for the files it writes");
	body = json_object();
	rc = cli_api_json("ca", &o->conn, "POST", "/ca/cross-sign", body, 200, &doc);
	json_decref(body);
	if (rc == CLI_OK) {
		printf("new root (token key %s) and cross-certificates:\n",
		       json_string_value(json_object_get(doc, "key")));
		if ((rc = write_member(o->args[0], "root", doc, "root")) == CLI_OK &&
		    (rc = write_member(o->args[0], "cross-new-by-old", doc, "cross_new_by_old")) ==
			    CLI_OK)
			rc = write_member(o->args[0], "cross-old-by-new", doc, "cross_old_by_new");
		if (rc == CLI_OK)
			printf("ACME now offers each certificate's alternate chain through "
			       "%s-cross-old-by-new.pem, and EST /cacerts all three "
			       "(docs/operations.md, \"Root rollover\")\n",
			       o->args[0]);
	}
	json_decref(doc);
	return rc;
}

/* `cairn ca renew --ocsp-signer | --https`, `cairn ca rotate`, `cairn ca cross-sign`: through the daemon
 * (admin role, audited). `cairn ca import-cert FILE --chain FILE --dir DIR`: offline (no
 * daemon runs before it). */
int cli_ca(int argc, char **argv)
{
	cli_opts_t o;
	json_t *doc = NULL, *body;
	const char *sub = argc > 1 ? argv[1] : "";
	int rc;

	if ((rc = cli_parse_opts("ca", argc - 1, argv + 1, &o)) != CLI_OK)
		return rc;
	if (strcmp(sub, "rotate") == 0) {
		if (o.ocsp_signer || o.https)
			return cli_usage_error("ca", "rotate takes no --ocsp-signer or --https");
		return ca_rotate_cmd(&o);
	}
	if (strcmp(sub, "cross-sign") == 0)
		return ca_cross_sign_cmd(&o);
	if (strcmp(sub, "import-cert") == 0) {
		if (o.nargs != 1 || o.chain == NULL || o.conn.dir == NULL)
			return cli_usage_error("ca", "import-cert needs FILE --chain FILE --dir DIR");
		return cli_ca_import(o.conn.dir, o.args[0], o.chain);
	}
	if (strcmp(sub, "renew") != 0)
		return cli_usage_error("ca", "unknown subcommand \"%s\" (renew, rotate, cross-sign)", sub);
	if (o.ocsp_signer + o.https != 1)
		return cli_usage_error("ca", "renew needs exactly one of --ocsp-signer, --https");
	body = json_pack("{s:s}", "what", o.ocsp_signer ? "ocsp-signer" : "https");
	rc = cli_api_json("ca", &o.conn, "POST", "/ca/renew", body, 200, &doc);
	json_decref(body);
	if (rc == CLI_OK)
		printf("%s renewed: serial %s (replaces %s), valid until %s\n",
		       json_string_value(json_object_get(doc, "what")),
		       json_string_value(json_object_get(doc, "serial")),
		       json_string_value(json_object_get(doc, "replaces")),
		       json_string_value(json_object_get(doc, "not_after")));
	json_decref(doc);
	return rc;
}
