/* SPDX-License-Identifier: MIT */
/* cli: the `cairn` command's subcommands; each returns an exit code (0 ok, 1 failed, 2 usage,
 * 3 waiting: a request parked for approvals). */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

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
int cli_est(int argc, char **argv);
/* `backup` (backup.c) and `restore` (restore.c): the whole CA in one archive and back. */
int cli_backup(int argc, char **argv);
int cli_restore(int argc, char **argv);
int cli_notify(int argc, char **argv);
/* `inventory` and `report` (inventory_cmd.c), `discover` (discover_cmd.c). */
int cli_inventory(int argc, char **argv);
int cli_report(int argc, char **argv);
int cli_discover(int argc, char **argv);
int cli_replace(int argc, char **argv);
/* `publish --to DIR` (publish_cmd.c): the published tree, once. */
int cli_publish(int argc, char **argv);

/* POSTs json to the running daemon's admin API at /admin/v1{path} with the
 * admin token (api_client.c). Returns the HTTP status with the answer in *body
 * (malloc'd, NUL-terminated, may be NULL; caller frees), or -1 with a one-line
 * reason in why when the daemon cannot be reached. */
long cli_admin_post(const char *dir, const char *path, const char *json, char **body,
		    size_t *len, char *why, size_t why_cap);
/* The same with any method (json NULL = no body), e.g. DELETE. */
long cli_admin_call(const char *dir, const char *method, const char *path, const char *json,
		    char **body, size_t *len, char *why, size_t why_cap);

int cli_acme(int argc, char **argv);
int cli_requests(int argc, char **argv);
int cli_admin(int argc, char **argv);
int cli_token(int argc, char **argv);
int cli_policy(int argc, char **argv);
int cli_ca(int argc, char **argv);

/* ---- init.c: what `cairn init` makes, shared with `cairn ca import-cert` ---- */
struct hsm;
struct x509_st;
struct evp_pkey_st;
struct cairn_err;
/* The HTTP base URL that goes into AIA/CDP: public_http when set (non-empty), else
 * http://host:port of listen_http (NULL = the config default). CAIRN_EINVAL (err says
 * what to set) when that listener is on port 0: the system picks its port at each
 * start, which no certificate can name. */
int cli_http_base(const char *public_http, const char *listen_http, char *out, size_t cap,
		  struct cairn_err *err);
/* Everything that follows from an issuing CA (its key in the token): the delegated OCSP
 * signer (key "ocsp" in the token), the daemon's HTTPS certificate and key file, the db
 * with the root, issuing, signer and HTTPS certificates recorded (root and issuing audited
 * as action by actor), the bootstrap admin and DIR/admin.token, ca/chain.pem, and
 * ca/root.pem and ca/issuing.pem written last. Returns 0 or a negative code with err set. */
int cli_init_complete(const char *dir, struct hsm *hsm, struct x509_st *root,
		      struct x509_st *issuing, struct evp_pkey_st *issuing_key, const char *org,
		      const char *http_base, const char *actor, const char *action,
		      struct cairn_err *err);
/* `cairn ca import-cert FILE --chain FILE --dir DIR` (ca_import.c), offline. */
int cli_ca_import(const char *dir, const char *file, const char *chain);
/* `audit checkpoint` (through the API) and `audit verify --export` (offline). */
int cli_audit_checkpoint(int argc, char **argv);
int cli_audit_verify_export(int argc, char **argv);

/* ---- the admin API client (api_client.c) ---- */
typedef struct cli_conn_opts {
	const char *dir;        /* data directory on the CA host: serve.json, ca/root.pem, admin.token */
	const char *url;        /* https://host:port of a remote daemon */
	const char *cacert;     /* CA bundle for url */
	const char *token_file; /* another admin's token */
} cli_conn_opts_t;

/* The connection options of every command that calls the admin API, as getopt_long
 * table rows (CLI_CONN_HELP describes them), and their parsing: cli_conn_opt returns 1
 * when c was one of them (kept in o), else 0. */
#define CLI_CONN_LONGOPTS                                                                \
	{ "dir", required_argument, NULL, 'd' }, { "url", required_argument, NULL, 'u' }, \
	{ "cacert", required_argument, NULL, 'C' }, { "token-file", required_argument, NULL, 't' }
int cli_conn_opt(int c, const char *arg, cli_conn_opts_t *o);

typedef struct cli_api {
	char *base, *cacert, *token;
} cli_api_t;

typedef struct cli_buf {
	char *data;
	size_t len;
} cli_buf_t;

/* Resolves URL, CA bundle and token without printing: CLI_OK, or CLI_FAILED/CLI_USAGE
 * with the reason in why. */
int cli_api_resolve(const cli_conn_opts_t *o, cli_api_t *api, char *why, size_t why_cap);
/* Resolves URL, CA bundle and token (--token-file, $CAIRN_TOKEN, $CAIRN_ADMIN_TOKEN,
 * DIR/admin.token). Returns CLI_OK or prints why and returns CLI_FAILED/CLI_USAGE. */
int cli_api_setup(const char *cmd, const cli_conn_opts_t *o, cli_api_t *api);
void cli_api_free(cli_api_t *api);
/* One call; returns the HTTP status with the body in resp (caller frees resp->data), or -1
 * with why filled. body may be NULL. */
long cli_api_call(const cli_api_t *api, const char *method, const char *path, const char *body,
		  cli_buf_t *resp, char *why, size_t why_cap);
/* The detail of a problem document in resp (or the raw body); *doc to json_decref. */
const char *cli_problem(const cli_buf_t *resp, json_t **doc);
/* setup + call + check status == want + parse the JSON answer into *out (caller decrefs).
 * Prints one line and returns CLI_FAILED on any failure. */
int cli_api_json(const char *cmd, const cli_conn_opts_t *o, const char *method, const char *path,
		 json_t *body, long want, json_t **out);

/* Opens DIR's database for reading beside the daemon (inspect.c); prints why and returns
 * CLI_FAILED when DIR holds no CA. *db to db_close. */
struct db;
int cli_db_open(const char *cmd, const char *dir, struct db **db);
/* The command table (main.c): n entries, static. */
const cli_command_t *cli_commands(size_t *n);
/* `cairn man 1|5` (hidden; manpage.c): cairn(1) or cairn.json(5) as mdoc on stdout. */
int cli_man(int argc, char **argv);

/* Prints the command's usage to out. */
void cli_usage(FILE *out, const char *name);
/* One-line failure on stderr ("cairn NAME: message"); returns CLI_FAILED. */
/* A serial as people paste it ("0x", colons, upper case, surrounding blanks) as the
 * lower-case hex the database prints, into hex (cap bytes). 0, or -1 when what is left is
 * not 1..max_bytes bytes of hex. */
int cli_serial_norm(const char *in, char *hex, size_t cap, size_t max_bytes);
int cli_fail(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The value of option opt ("--validity-days") given as text: a decimal integer min..max
 * with nothing around it, into *out; CLI_OK, or a usage error naming opt and the range. */
int cli_int_arg(const char *name, const char *opt, const char *text, long min, long max,
		long *out);
/* A text argument (a name, a comment, a group) that goes into a request body: CLI_OK
 * when text is NULL or UTF-8, else a usage error naming opt. JSON holds only UTF-8, and
 * a value that cannot be sent must not be left out of the request silently. */
int cli_text_arg(const char *name, const char *opt, const char *text);
/* cli_text_arg for each of n options (value NULL: not given); the first that is not UTF-8
 * is the usage error. */
typedef struct cli_text {
	const char *opt, *value;
} cli_text_t;
int cli_text_args(const char *name, const cli_text_t *t, size_t n);
#define CLI_TEXT_ARGS(name, ...)                                                             \
	cli_text_args((name), (const cli_text_t[]){ __VA_ARGS__ },                           \
		      sizeof((const cli_text_t[]){ __VA_ARGS__ }) / sizeof(cli_text_t))
/* Usage error: message + hint; returns CLI_USAGE. */
int cli_usage_error(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- machine-readable output (output.c): the one envelope of every `--json` ----
 * A list: {"items": [...], "total": N, "next": CURSOR or null}; `total` counts every item
 * the query matched, `next` is the --after of the following page (a string; null on the
 * last page). A `show`: the object itself. Both indented JSON on stdout, one document. */
#define CLI_PAGE_MAX 1000
typedef struct cli_page {
	long long offset, limit;
} cli_page_t;
/* Prints the list envelope; takes ownership of items (NULL: fails); a negative total is
 * printed as null (not known without walking every match). CLI_OK or CLI_FAILED. */
int cli_print_list(json_t *items, long long total, const char *next);
/* Prints obj (borrowed) as it is. CLI_OK or CLI_FAILED. */
int cli_print_object(const json_t *obj);
/* --limit/--after (either NULL) into page (default: the first CLI_PAGE_MAX items); CLI_OK
 * or a usage error. */
int cli_page_parse(const char *cmd, const char *limit, const char *after, cli_page_t *page);
/* The "next" cursor after page when total items matched, in buf, or NULL on the last page. */
const char *cli_page_next(const cli_page_t *page, long long total, char *buf, size_t cap);
/* An expiry/time cell: RFC 3339, or "never" for 0. */
void cli_time_cell(long long t, char *out, size_t cap);

#endif
