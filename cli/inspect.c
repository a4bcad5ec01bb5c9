/* SPDX-License-Identifier: MIT */
/* Read-only commands (show, list, audit verify/export): they read LMDB directly, safely beside the daemon. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "audit/audit.h"
#include "ca/ca.h"
#include "cli/cli.h"
#include "db/db.h"

typedef struct read_opts {
	const char *dir;
	const char *expiring;
	const char *name;
	const char *format;
	const char *since, *until, *out;
	const char *limit, *after;
	const char *requester;
	int json, pem, unsigned_export, count;
	int nargs;
	char *args[2];
} read_opts_t;

static int parse_read_opts(const char *cmd, int argc, char **argv, read_opts_t *o)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "expiring-within", required_argument, NULL, 'e' },
		{ "name", required_argument, NULL, 'n' },
		{ "format", required_argument, NULL, 'f' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "out", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "pem", no_argument, NULL, 'p' },
		{ "unsigned", no_argument, NULL, 'U' },
		{ "limit", required_argument, NULL, 'L' },
		{ "after", required_argument, NULL, 'A' },
		{ "count", no_argument, NULL, 'C' },
		{ "requester", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->dir = optarg; break;
		case 'e': o->expiring = optarg; break;
		case 'n': o->name = optarg; break;
		case 'f': o->format = optarg; break;
		case 's': o->since = optarg; break;
		case 'u': o->until = optarg; break;
		case 'o': o->out = optarg; break;
		case 'j': o->json = 1; break;
		case 'p': o->pem = 1; break;
		case 'U': o->unsigned_export = 1; break;
		case 'L': o->limit = optarg; break;
		case 'A': o->after = optarg; break;
		case 'C': o->count = 1; break;
		case 'r': o->requester = optarg; break;
		default:
			return cli_usage_error(cmd, "unknown or incomplete option %s", argv[optind - 1]);
		}
	}
	for (; optind < argc; optind++) {
		if (o->nargs == 2)
			return cli_usage_error(cmd, "unexpected argument %s", argv[optind]);
		o->args[o->nargs++] = argv[optind];
	}
	if (o->dir == NULL)
		return cli_usage_error(cmd, "--dir is required");
	return CLI_OK;
}

int cli_db_open(const char *cmd, const char *dir, db_t **db)
{
	cairn_err_t err = { 0 };
	char *cfg = fs_join(dir, "cairn.json"), *path = fs_join(dir, "db");
	int rc = CLI_OK;

	if (cfg == NULL || path == NULL || !fs_exists(cfg) || !fs_exists(path))
		rc = cli_fail(cmd, "%s: no CA here (run `cairn init --dir %s`)", dir, dir);
	else if (db_open(path, db, &err) != 0)
		rc = cli_fail(cmd, "%s", cairn_err_msg(&err));
	free(cfg);
	free(path);
	return rc;
}

static const char *reason_name(int reason)
{
	static const char *const names[] = { "unspecified", "keyCompromise", "cACompromise",
					     "affiliationChanged", "superseded",
					     "cessationOfOperation", "certificateHold", "",
					     "removeFromCRL", "privilegeWithdrawn", "aACompromise" };
	return reason >= 0 && reason <= 10 ? names[reason] : "none";
}

/* Names of the certificate (SANs, as the one extractor reads them), comma-separated into
 * out; with list non-NULL also appended to it as strings. */
static void cert_names(X509 *x, char *out, size_t cap, json_t *list)
{
	ca_names_t names;
	size_t i, used = 0;
	cairn_err_t err = { 0 };

	out[0] = '\0';
	if (ca_names_from_cert(x, &names, &err) != 0) {
		snprintf(out, cap, "(unreadable: %s)", cairn_err_msg(&err));
		return;
	}
	for (i = 0; i < names.n_san; i++) {
		if (used + 2 < cap)
			used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? "," : "",
						 names.san[i].text);
		if (list != NULL)
			json_array_append_new(list, json_string(names.san[i].text));
	}
	ca_names_clear(&names);
}

/* The record as the --json of `show` and of `list`'s items (new reference). */
static json_t *cert_json(const db_cert_t *c, X509 *x)
{
	char serial[2 * DB_SERIAL_MAX + 1], nb[32], na[32], ra[32], names[16];
	json_t *list = json_array(), *o;

	if (x != NULL)
		cert_names(x, names, sizeof(names), list);
	db_serial_hex(c->serial, c->serial_len, serial);
	time_rfc3339((time_t)c->not_before, nb, sizeof(nb));
	time_rfc3339((time_t)c->not_after, na, sizeof(na));
	o = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:s}", "serial", serial, "subject",
		      c->subject, "names", list ? list : json_array(), "status",
		      c->status == DB_CERT_REVOKED ? "revoked" : "valid", "not_before", nb,
		      "not_after", na, "issuer", c->issuer, "profile", c->profile, "requester",
		      c->requester);
	if (o != NULL && c->status == DB_CERT_REVOKED) {
		time_rfc3339((time_t)c->revoked_at, ra, sizeof(ra));
		json_object_set_new(o, "revoked_at", json_string(ra));
		json_object_set_new(o, "reason", json_string(reason_name(c->reason)));
	}
	return o;
}

int cli_show(int argc, char **argv)
{
	read_opts_t o;
	uint8_t serial[DB_SERIAL_MAX];
	char hex[2 * DB_SERIAL_MAX + 1];
	db_t *db = NULL;
	db_txn_t *txn = NULL;
	db_cert_t c;
	X509 *x = NULL;
	const unsigned char *p;
	char nb[32], na[32], ra[32], names[1024];
	int len, rc;

	if ((rc = parse_read_opts("show", argc, argv, &o)) != CLI_OK)
		return rc;
	if (o.json && o.pem)
		return cli_usage_error("show", "--json or --pem, not both");
	if (o.nargs != 1)
		return cli_usage_error("show", "give one SERIAL (hex)");
	if (cli_serial_norm(o.args[0], hex, sizeof(hex), DB_SERIAL_MAX) != 0 ||
	    (len = hex_decode(hex, serial, sizeof(serial))) <= 0)
		return cli_usage_error("show", "SERIAL must be hex (colons allowed), at most %d bytes",
				       DB_SERIAL_MAX);
	if ((rc = cli_db_open("show", o.dir, &db)) != CLI_OK)
		return rc;
	if (db_read_begin(db, &txn) != 0) {
		rc = cli_fail("show", "database unreadable");
		goto out;
	}
	if (db_cert_get(txn, serial, (size_t)len, &c) != 0) {
		rc = cli_fail("show", "no certificate with serial %s", hex);
		goto out;
	}
	p = c.der;
	x = ca_cert_d2i(&p, (long)c.der_len);
	if (x == NULL) {
		rc = cli_fail("show", "stored certificate %s does not parse", hex);
		goto out;
	}
	if (o.json) {
		json_t *doc = cert_json(&c, x);
		BIO *mem = BIO_new(BIO_s_mem());
		BUF_MEM *bm = NULL;
		if (doc != NULL && mem != NULL && PEM_write_bio_X509(mem, x) == 1) {
			BIO_get_mem_ptr(mem, &bm);
			json_object_set_new(doc, "pem", json_stringn(bm->data, bm->length));
		}
		rc = cli_print_object(doc);
		json_decref(doc);
		BIO_free(mem);
		goto out;
	}
	if (!o.pem) {
		time_rfc3339((time_t)c.not_before, nb, sizeof(nb));
		time_rfc3339((time_t)c.not_after, na, sizeof(na));
		cert_names(x, names, sizeof(names), NULL);
		printf("serial:     %s\nsubject:    %s\nnames:      %s\nstatus:     %s\n", hex,
		       c.subject, names, c.status == DB_CERT_REVOKED ? "revoked" : "valid");
		if (c.status == DB_CERT_REVOKED) {
			time_rfc3339((time_t)c.revoked_at, ra, sizeof(ra));
			printf("revoked:    %s (%s)\n", ra, reason_name(c.reason));
		}
		printf("not before: %s\nnot after:  %s\nissuer:     %s\nprofile:    %s\nrequester:  %s\n",
		       nb, na, c.issuer, c.profile, c.requester);
	}
	PEM_write_X509(stdout, x);
	rc = CLI_OK;
out:
	X509_free(x);
	db_txn_end(txn);
	db_close(db);
	return rc;
}

typedef struct list_ctx {
	json_t *items;         /* --json: the page's items; NULL for the table */
	cli_page_t page;
	long long n;           /* rows printed or kept */
	long long matched;     /* --json: matches seen (every one with --count) */
	int count, more;
	const char *suffix;    /* --name .SUFFIX (paged by key): one row per certificate */
	db_cursor_t pos, last; /* --json: the walk's position, that of the last row kept */
} list_ctx_t;

/* The certificates of a paged suffix search, once each (ca_names_suffix_first). */
static int list_keep(const list_ctx_t *l, X509 *x)
{
	ca_names_t names;
	int keep = 1;

	if (l->suffix == NULL || x == NULL || ca_names_from_cert(x, &names, NULL) != 0)
		return 1;
	keep = ca_names_suffix_first(&names, l->suffix, l->pos.name);
	ca_names_clear(&names);
	return keep;
}

static int list_one(const db_cert_t *c, void *arg)
{
	list_ctx_t *l = arg;
	char serial[2 * DB_SERIAL_MAX + 1], na[32], names[1024] = "";
	const unsigned char *p = c->der;
	X509 *x;

	if (l->items != NULL && l->more && l->suffix == NULL) {
		l->matched++; /* --count: past the page, counted only */
		return 0;
	}
	x = ca_cert_d2i(&p, (long)c->der_len);
	if (!list_keep(l, x)) {
		X509_free(x);
		return 0;
	}
	if (l->items != NULL) {
		l->matched++;
		if (l->n >= l->page.limit) {
			l->more = 1;
			X509_free(x);
			return l->count ? 0 : 1;
		}
		json_array_append_new(l->items, cert_json(c, x));
		l->last = l->pos;
	} else {
		if (x)
			cert_names(x, names, sizeof(names), NULL);
		db_serial_hex(c->serial, c->serial_len, serial);
		time_rfc3339((time_t)c->not_after, na, sizeof(na));
		printf("%-40s %-20s %-7s %-16s %s\n", serial, na,
		       c->status == DB_CERT_REVOKED ? "revoked" : "valid", c->profile,
		       names[0] ? names : c->subject);
	}
	X509_free(x);
	l->n++;
	return 0;
}

static int count_cb(const db_cert_count_t *c, void *arg)
{
	*(long long *)arg += c->valid + c->revoked + c->expired;
	return 0;
}

/*
 * `list`: the table walks every row it prints; --json pages by key (docs/cli.md): the
 * page starts after the index key its --after cursor names and stops at the first match
 * past --limit. total: from the stats counters without filters, the rows when the first
 * page holds every match, every match counted with --count, else null. The filters
 * (--name, --expiring-within, --requester, together or alone) are the admin API's search
 * (db_certs_search_at): one index walked, the other filters checked on its rows.
 */
int cli_list(int argc, char **argv)
{
	read_opts_t o;
	list_ctx_t l = { 0 };
	db_search_t q = { 0 };
	const char *why;
	db_t *db = NULL;
	db_txn_t *txn = NULL;
	int64_t within = 0, now = (int64_t)time(NULL);
	long long total = -1;
	char kind, *next = NULL;
	int rc, wrc;

	if ((rc = parse_read_opts("list", argc, argv, &o)) != CLI_OK)
		return rc;
	if (o.nargs != 0)
		return cli_usage_error("list", "unexpected argument %s", o.args[0]);
	if ((o.limit || o.after || o.count) && !o.json)
		return cli_usage_error("list", "--limit, --after and --count page the --json output");
	if ((rc = cli_page_parse("list", o.limit, NULL, &l.page)) != CLI_OK)
		return rc;
	if (o.requester != NULL && (why = db_search_requester_invalid(o.requester)) != NULL)
		return cli_usage_error("list", "--requester: %s", why);
	if (o.expiring && duration_parse(o.expiring, &within) != 0)
		return cli_usage_error("list", "--expiring-within %s: use e.g. 1y, 12w, 90d, 36h or 30m",
				       o.expiring);
	q = (db_search_t){ o.name, o.expiring != NULL, now, now + within, o.requester };
	kind = o.name || o.expiring || o.requester ? db_search_kind(&q) : 'x';
	if (o.after && db_cursor_parse(o.after, kind, &l.pos) != 0)
		return cli_usage_error("list", "--after %s: pass the \"next\" of the previous page "
				       "of the same listing (numeric offsets are no longer cursors)",
				       o.after);
	l.count = o.count;
	if ((rc = cli_db_open("list", o.dir, &db)) != CLI_OK)
		return rc;
	if (db_read_begin(db, &txn) != 0) {
		rc = cli_fail("list", "database unreadable");
		goto out;
	}
	if (o.json && (l.items = json_array()) == NULL) {
		rc = cli_fail("list", "out of memory");
		goto out;
	}
	if (!o.json)
		printf("%-40s %-20s %-7s %-16s %s\n", "SERIAL", "NOT AFTER", "STATUS", "PROFILE",
		       "NAMES");
	if (kind == 'x') /* every certificate, in expiry order */
		wrc = db_certs_by_expiry_at(txn, 0, INT64_MAX, o.json ? &l.pos : NULL, list_one, &l);
	else if (kind == DB_SEARCH_NAME && !o.json && !o.expiring && !o.requester)
		wrc = db_certs_by_name(txn, o.name, list_one, &l); /* the table: serial order */
	else {
		l.suffix = o.name && o.name[0] == '.' ? o.name : NULL;
		wrc = db_certs_search_at(txn, &q, &l.pos, list_one, &l);
	}
	if (wrc < 0) {
		rc = wrc == CAIRN_EINVAL ? cli_usage_error("list", "--after %s is not a cursor of "
							   "this listing", o.after)
					 : cli_fail("list", "database unreadable: %s",
						    cairn_strerror(wrc));
		goto out;
	}
	if (o.json) {
		if (o.count || (!l.more && !o.after)) {
			total = l.matched;
		} else if (kind == 'x') { /* every certificate: the counters' sum */
			total = 0;
			if (db_cert_counts(txn, now, count_cb, &total, NULL) != 0)
				total = -1;
		}
		if (l.more && (next = db_cursor_text(&l.last, kind)) == NULL) {
			rc = cli_fail("list", "out of memory");
			goto out;
		}
		rc = cli_print_list(l.items, total, next);
		l.items = NULL;
		goto out;
	}
	fprintf(stderr, "%lld certificate(s)\n", l.n);
	rc = CLI_OK;
out:
	free(next);
	json_decref(l.items);
	db_txn_end(txn);
	db_close(db);
	return rc;
}

static int audit_verify_cmd(const read_opts_t *o)
{
	audit_verify_result_t res;
	db_t *db = NULL;
	int rc;

	if ((rc = cli_db_open("audit", o->dir, &db)) != CLI_OK)
		return rc;
	memset(&res, 0, sizeof(res));
	if (audit_verify(db, &res) != 0) {
		rc = cli_fail("audit", "chain BROKEN at sequence %llu: %s",
			      (unsigned long long)res.first_bad, res.reason);
	} else {
		printf("audit chain intact: %llu events verified\n", (unsigned long long)res.count);
		rc = CLI_OK;
	}
	db_close(db);
	return rc;
}

/* The signed JSONL export: only the daemon holds the token that signs its head line.
 * On success *body (malloc'd) holds the export. */
static int signed_export(const read_opts_t *o, time_t since, time_t until, cli_buf_t *body)
{
	cli_conn_opts_t conn = { .dir = o->dir };
	char path[160], t[32], why[512];
	cli_api_t api;
	json_t *doc = NULL;
	long status = -1;
	int rc;

	memset(body, 0, sizeof(*body));
	/* only the bounds given: the API refuses an empty parameter */
	snprintf(path, sizeof(path), "/audit/export?format=jsonl");
	if (since != 0) {
		time_rfc3339(since, t, sizeof(t));
		snprintf(path + strlen(path), sizeof(path) - strlen(path), "&since=%s", t);
	}
	if (until != 0) {
		time_rfc3339(until, t, sizeof(t));
		snprintf(path + strlen(path), sizeof(path) - strlen(path), "&until=%s", t);
	}
	if (cli_api_resolve(&conn, &api, why, sizeof(why)) == CLI_OK) {
		status = cli_api_call(&api, "GET", path, NULL, body, why, sizeof(why));
		cli_api_free(&api);
	}
	if (status < 0)
		rc = cli_fail("audit", "a signed export needs the running daemon and an admin token: "
				       "%s (--unsigned writes one that `audit verify --export` refuses)",
			      why);
	else if (status != 200)
		rc = cli_fail("audit", "export refused (HTTP %ld): %s", status, cli_problem(body, &doc));
	else
		rc = CLI_OK;
	json_decref(doc);
	if (rc != CLI_OK) {
		free(body->data);
		memset(body, 0, sizeof(*body));
	}
	return rc;
}

/* The events count of a JSONL export's head line (its last line). */
static unsigned long long head_events(const cli_buf_t *b)
{
	const char *p = b->data;
	size_t n = b->len;
	json_t *doc;
	unsigned long long events;

	while (n > 0 && p[n - 1] == '\n')
		n--;
	while (n > 0 && p[n - 1] != '\n')
		n--;
	doc = json_loadb(p + n, b->len - n, JSON_DISABLE_EOF_CHECK, NULL);
	events = (unsigned long long)json_integer_value(
		json_object_get(json_object_get(doc, "head"), "events"));
	json_decref(doc);
	return events;
}

/*
 * JSONL through the running daemon, signed (its head line vouches for the end of the
 * export); --unsigned reads LMDB here and writes an unsigned head line. CSV is a report
 * read here.
 */
static int audit_export_cmd(const read_opts_t *o)
{
	audit_format_t fmt = AUDIT_FMT_JSONL;
	cairn_err_t err = { 0 };
	time_t since = 0, until = 0;
	uint64_t n = 0;
	cli_buf_t body = { NULL, 0 };
	db_t *db = NULL;
	FILE *out = stdout;
	int rc;

	/* --json names the machine format, which is JSON lines (docs/cli.md). */
	if (o->json && o->format && strcmp(o->format, "jsonl") != 0)
		return cli_usage_error("audit", "--json is --format jsonl");
	if (o->format && strcmp(o->format, "csv") == 0)
		fmt = AUDIT_FMT_CSV;
	else if (o->format && strcmp(o->format, "jsonl") != 0)
		return cli_usage_error("audit", "--format %s: use jsonl or csv", o->format);
	if ((o->since && time_parse(o->since, &since) != 0) ||
	    (o->until && time_parse(o->until, &until) != 0))
		return cli_usage_error("audit", "--since/--until take RFC 3339 times or YYYY-MM-DD");
	if (since != 0 && until != 0 && since >= until)
		return cli_usage_error("audit", "--since %s is not before --until %s: no event "
				       "could be exported", o->since, o->until);
	if (fmt == AUDIT_FMT_CSV && o->unsigned_export)
		return cli_usage_error("audit", "--unsigned is for --format jsonl (CSV is never signed)");
	if (fmt == AUDIT_FMT_JSONL && !o->unsigned_export) {
		if ((rc = signed_export(o, since, until, &body)) != CLI_OK)
			return rc;
		n = head_events(&body);
	} else if ((rc = cli_db_open("audit", o->dir, &db)) != CLI_OK) {
		return rc;
	}
	if (o->out && (out = fopen(o->out, "w")) == NULL) {
		rc = cli_fail("audit", "cannot write %s", o->out);
		goto out;
	}
	if (db == NULL) {
		if (fwrite(body.data, 1, body.len, out) != body.len) {
			rc = cli_fail("audit", "writing the export failed");
			goto out;
		}
	} else if ((fmt == AUDIT_FMT_CSV ? audit_export(db, out, fmt, since, until, &n, &err)
					 : audit_export_sealed(db, out, since, until, NULL, NULL, &n,
							       &err)) != 0) {
		rc = cli_fail("audit", "export failed: %s", cairn_err_msg(&err));
		goto out;
	}
	if (fflush(out) != 0) {
		rc = cli_fail("audit", "writing the export failed");
		goto out;
	}
	fprintf(stderr, "cairn audit: exported %llu event(s)%s\n", (unsigned long long)n,
		fmt == AUDIT_FMT_CSV ? "" : db ? ", UNSIGNED" : ", signed by the daemon");
	rc = CLI_OK;
out:
	if (out != NULL && out != stdout)
		fclose(out);
	free(body.data);
	db_close(db);
	return rc;
}

int cli_audit(int argc, char **argv)
{
	read_opts_t o;
	int rc;

	if (argc >= 2 && strcmp(argv[1], "checkpoint") == 0)
		return cli_audit_checkpoint(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "verify") == 0)
		for (int i = 2; i < argc; i++)
			if (strcmp(argv[i], "--export") == 0 || strncmp(argv[i], "--export=", 9) == 0)
				return cli_audit_verify_export(argc - 1, argv + 1);
	if (argc < 2 || (strcmp(argv[1], "verify") != 0 && strcmp(argv[1], "export") != 0))
		return cli_usage_error("audit", "say `audit verify`, `audit export` or `audit checkpoint`");
	if ((rc = parse_read_opts("audit", argc - 1, argv + 1, &o)) != CLI_OK)
		return rc;
	if (o.nargs != 0)
		return cli_usage_error("audit", "unexpected argument %s", o.args[0]);
	return strcmp(argv[1], "verify") == 0 ? audit_verify_cmd(&o) : audit_export_cmd(&o);
}
