/* SPDX-License-Identifier: MIT */
/* `cairn inventory` (import a PEM/DER directory or a CSV, owners, list) and `cairn report`:
 * writes through the daemon's admin API, reads straight from LMDB beside it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli/cli.h"
#include "cli/inventory_cli.h"
#include "db/db.h"
#include "inventory/inventory.h"

#define FILE_MAX (1u << 20)     /* a certificate file larger than this is refused */
#define BATCH_BYTES (40u << 10) /* JSON per API call: below server.max_body's default */
#define DIR_DEPTH_MAX 64
#define CSV_ROWS_MAX 1000000

/* ---- import: batches to POST /inventory/import ---- */

void inv_batch_init(inv_batch_t *b, const char *dir, const char *source)
{
	memset(b, 0, sizeof(*b));
	b->dir = dir;
	b->source = source;
	b->items = json_array();
}

void inv_batch_refuse(inv_batch_t *b, const char *where, const char *why)
{
	b->refused++;
	fprintf(stderr, "cairn inventory: %s: refused: %s\n", where, why);
}

static void report_results(inv_batch_t *b, const json_t *doc)
{
	json_t *r;
	size_t i;

	b->added += (size_t)json_integer_value(json_object_get(doc, "added"));
	b->known += (size_t)json_integer_value(json_object_get(doc, "known"));
	json_array_foreach(json_object_get(doc, "results"), i, r) {
		const char *res = json_string_value(json_object_get(r, "result"));
		const char *where = json_string_value(
			json_object_get(json_array_get(b->items, i), "where"));
		if (res != NULL && strcmp(res, "refused") == 0)
			inv_batch_refuse(b, where ? where : "?",
					 json_string_value(json_object_get(r, "reason")));
		if (b->on_result != NULL)
			b->on_result(json_array_get(b->items, i), r, b->on_result_arg);
	}
}

int inv_batch_flush(inv_batch_t *b)
{
	json_t *req, *doc = NULL;
	char *text, *body = NULL, why[512];
	size_t len = 0;
	long status;
	int rc = CLI_OK;

	if (json_array_size(b->items) == 0)
		return CLI_OK;
	req = json_pack("{s:s, s:O}", "source", b->source, "items", b->items);
	text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (text == NULL)
		return cli_fail(b->cmd, "out of memory");
	status = cli_admin_post(b->dir, "/inventory/import", text, &body, &len, why, sizeof(why));
	if (status < 0) {
		rc = cli_fail(b->cmd, "%s", why);
	} else if (status != 200) {
		cli_buf_t resp = { body, len };
		rc = cli_fail(b->cmd, "refused (HTTP %ld): %s", status, cli_problem(&resp, &doc));
	} else if ((doc = json_loadb(body, len, 0, NULL)) == NULL) {
		rc = cli_fail(b->cmd, "unexpected answer from the daemon");
	} else {
		report_results(b, doc);
		b->sent += json_array_size(b->items);
		fprintf(stderr, "cairn %s: %zu certificates sent: %zu added, %zu already known, %zu refused\n",
			b->cmd, b->sent, b->added, b->known, b->refused);
	}
	json_decref(doc);
	free(text);
	free(body);
	json_array_clear(b->items);
	b->bytes = 0;
	return rc;
}

int inv_batch_add(inv_batch_t *b, X509 *x, const char *kind, const char *where,
		  const char *sni, const char *owner, json_t *tags, json_t *tls)
{
	unsigned char *der = NULL;
	char *enc = NULL;
	json_t *item;
	size_t size;
	int len = i2d_X509(x, &der), rc = CLI_OK;

	enc = len > 0 ? b64url_encode(der, (size_t)len) : NULL;
	OPENSSL_free(der);
	item = enc ? json_pack("{s:s, s:s, s:o}", "der", enc, "kind", kind, "where",
			       util_json_text(where)) : NULL;
	free(enc);
	if (item == NULL)
		return cli_fail(b->cmd, "out of memory");
	if (sni != NULL)
		json_object_set_new(item, "sni", json_string(sni));
	if (owner != NULL && owner[0] != '\0')
		json_object_set_new(item, "owner", util_json_text(owner));
	if (tags != NULL && json_array_size(tags) > 0)
		json_object_set(item, "tags", tags);
	if (tls != NULL)
		json_object_set(item, "tls", tls);
	/* Its size as sent, tags and tls details included (long CSV tags made a batch of
	 * twelve rows a 413), plus the comma between items. */
	size = json_dumpb(item, NULL, 0, JSON_COMPACT) + 1;
	/* Sent before it would grow past a call's size: a large certificate goes alone, and
	 * never takes the others of its batch down with a 413. */
	if (b->bytes > 0 && b->bytes + size > BATCH_BYTES && (rc = inv_batch_flush(b)) != CLI_OK) {
		json_decref(item);
		return rc;
	}
	b->bytes += size;
	json_array_append_new(b->items, item);
	if (b->bytes >= BATCH_BYTES || json_array_size(b->items) >= INV_BATCH_MAX)
		rc = inv_batch_flush(b);
	return rc;
}

void inv_batch_free(inv_batch_t *b)
{
	json_decref(b->items);
	b->items = NULL;
}

/* The PEM blocks of data, every one read on its own: a CERTIFICATE block handed to the
 * batch, or refused as "block N: damaged" (N counts every block from 1) when it does not
 * decode, the next blocks read all the same; any other block (a private key, a CSR) is
 * skipped, never sent, and the skipped are counted in one line. Returns as certs_of. */
static int pem_certs_of(inv_batch_t *b, const char *data, size_t len, const char *kind,
			const char *where, const char *owner, json_t *tags, int *damaged)
{
	BIO *bio = BIO_new_mem_buf(data, (int)len);
	char *name = NULL, *header = NULL, msg[64];
	unsigned char *der = NULL;
	long dlen = 0;
	int n = 0, block = 0, skipped = 0;
	size_t left;

	*damaged = 0;
	while (bio != NULL && n >= 0 && (left = (size_t)BIO_pending(bio)) > 0) {
		X509 *x = NULL;
		const unsigned char *p;

		if (PEM_read_bio(bio, &name, &header, &der, &dlen) != 1) {
			unsigned long e = ERR_peek_last_error();

			ERR_clear_error();
			/* no further BEGIN line, or no progress: the end of the blocks */
			if (ERR_GET_REASON(e) == PEM_R_NO_START_LINE || (size_t)BIO_pending(bio) >= left)
				break;
			snprintf(msg, sizeof(msg), "block %d: damaged", ++block);
			inv_batch_refuse(b, where, msg);
			(*damaged)++;
			continue;
		}
		block++;
		if (strcmp(name, PEM_STRING_X509) != 0 && strcmp(name, PEM_STRING_X509_OLD) != 0) {
			skipped++;
		} else if (p = der, (x = d2i_X509(NULL, &p, dlen)) == NULL || p != der + dlen) {
			snprintf(msg, sizeof(msg), "block %d: damaged", block);
			inv_batch_refuse(b, where, msg);
			(*damaged)++;
		} else {
			n = inv_batch_add(b, x, kind, where, NULL, owner, tags, NULL) == CLI_OK ? n + 1 : -1;
		}
		X509_free(x);
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(der);
		name = header = NULL;
		der = NULL;
	}
	BIO_free(bio);
	ERR_clear_error();
	if (skipped > 0 && n >= 0)
		fprintf(stderr, "cairn inventory: %s: skipped %d PEM block%s that %s no certificate "
			"(private keys are never stored)\n", where, skipped, skipped == 1 ? "" : "s",
			skipped == 1 ? "is" : "are");
	return n;
}

/* Every certificate in data (PEM blocks of a bundle, or one DER certificate), each handed
 * to the batch. Returns how many, or -1 when a batch failed; 0 when none, *why then says
 * why, or is NULL when each damaged block was refused already (pem_certs_of). */
static int certs_of(inv_batch_t *b, const char *data, size_t len, const char *kind,
		    const char *where, const char *owner, json_t *tags, const char **why)
{
	int n = 0, damaged = 0;

	*why = NULL;
	if (memmem(data, len, "-----BEGIN", 10) != NULL) {
		n = pem_certs_of(b, data, len, kind, where, owner, tags, &damaged);
		if (n == 0 && damaged == 0)
			*why = "PEM without a readable certificate";
	} else {
		const unsigned char *p = (const unsigned char *)data;
		X509 *x = d2i_X509(NULL, &p, (long)len);
		if (x != NULL && p == (const unsigned char *)data + len) {
			n = inv_batch_add(b, x, kind, where, NULL, owner, tags, NULL) == CLI_OK ? 1 : -1;
		} else {
			*why = "not a certificate (neither PEM nor DER)";
		}
		X509_free(x);
	}
	ERR_clear_error();
	return n;
}

/* Reads a regular file (never a FIFO or device: opening one could block): 0, or an errno
 * with why saying it when strerror would not. */
static int read_regular(const char *path, char **data, size_t *len, const char **why)
{
	*why = NULL;
	switch (fs_read_regular(path, FILE_MAX, data, len)) {
	case 0:
		return 0;
	case CAIRN_ENOENT:
		return ENOENT;
	case CAIRN_EINVAL:
		*why = "not a regular file";
		return EINVAL;
	case CAIRN_ETOOBIG:
		*why = "larger than 1 MiB";
		return EFBIG;
	default:
		return EIO;
	}
}

typedef struct walk {
	inv_batch_t *b;
	size_t files;
	struct { dev_t dev; ino_t ino; } seen[DIR_DEPTH_MAX];
	int depth;
} walk_t;

static int import_file(walk_t *w, const char *path)
{
	const char *why = NULL;
	char *data = NULL;
	size_t len = 0;
	int e, n;

	w->files++;
	e = read_regular(path, &data, &len, &why);
	if (e != 0) {
		inv_batch_refuse(w->b, path, why ? why : strerror(e));
		return CLI_OK;
	}
	n = certs_of(w->b, data, len, "file", path, NULL, NULL, &why);
	free(data);
	if (n < 0)
		return CLI_FAILED;
	if (n == 0 && why != NULL)
		inv_batch_refuse(w->b, path, why);
	return CLI_OK;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Walks dir recursively in name order, following symlinks but never into a directory it
 * is already inside (a symlink loop is reported and skipped). */
static int walk_dir(walk_t *w, const char *dir)
{
	struct dirent **ents = NULL;
	struct stat st;
	int n, i, rc = CLI_OK;

	if (stat(dir, &st) != 0) {
		inv_batch_refuse(w->b, dir, strerror(errno));
		return CLI_OK;
	}
	for (i = 0; i < w->depth; i++)
		if (w->seen[i].dev == st.st_dev && w->seen[i].ino == st.st_ino) {
			inv_batch_refuse(w->b, dir, "directory loop (a symlink back to a parent)");
			return CLI_OK;
		}
	if (w->depth >= DIR_DEPTH_MAX) {
		inv_batch_refuse(w->b, dir, "nested too deep");
		return CLI_OK;
	}
	n = scandir(dir, &ents, NULL, by_name);
	if (n < 0) {
		inv_batch_refuse(w->b, dir, strerror(errno));
		return CLI_OK;
	}
	w->seen[w->depth].dev = st.st_dev;
	w->seen[w->depth].ino = st.st_ino;
	w->depth++;
	for (i = 0; i < n; i++) {
		char *path = NULL;
		if (rc == CLI_OK && strcmp(ents[i]->d_name, ".") != 0 &&
		    strcmp(ents[i]->d_name, "..") != 0) {
			path = fs_join(dir, ents[i]->d_name);
			if (path == NULL)
				rc = cli_fail(w->b->cmd, "out of memory");
			else if (stat(path, &st) != 0)
				inv_batch_refuse(w->b, path, strerror(errno)); /* a broken symlink */
			else if (S_ISDIR(st.st_mode))
				rc = walk_dir(w, path);
			else
				rc = import_file(w, path);
		}
		free(path);
		free(ents[i]);
	}
	free(ents);
	w->depth--;
	return rc;
}

/* ---- CSV: a header row naming the columns, then one certificate per row ---- */

/* Appends c to the growing string *out (n used, *cap allocated); -1 when out of memory. */
static int str_put(char **out, size_t *n, size_t *cap, char c)
{
	if (*n + 2 > *cap) {
		char *nd = realloc(*out, *cap * 2);
		if (nd == NULL)
			return -1;
		*out = nd;
		*cap *= 2;
	}
	(*out)[(*n)++] = c;
	return 0;
}

/* Reads one RFC 4180 field from *p (quoted fields may hold commas, quotes as "" and line
 * breaks); *end set to the character after it (',' '\n' or '\0'). Returns a new string. */
static char *csv_field(const char **p, char *end)
{
	const char *s = *p;
	size_t cap = 64, n = 0;
	char *out = malloc(cap);
	int oom = out == NULL;

	if (!oom && *s == '"') {
		for (s++; *s != '\0' && !oom; s++) {
			if (*s == '"' && s[1] == '"')
				s++;
			else if (*s == '"') {
				s++;
				break;
			}
			oom = str_put(&out, &n, &cap, *s) != 0;
		}
	}
	for (; !oom && *s != '\0' && *s != ',' && *s != '\n'; s++)
		if (*s != '\r')
			oom = str_put(&out, &n, &cap, *s) != 0;
	if (oom) {
		free(out);
		return NULL;
	}
	out[n] = '\0';
	*end = *s;
	*p = *s ? s + 1 : s;
	return out;
}

#define CSV_COLS_MAX 16

typedef struct csv_row {
	char *f[CSV_COLS_MAX];
	int n;
	int too_many;
} csv_row_t;

static void csv_row_clear(csv_row_t *r)
{
	int i;

	for (i = 0; i < r->n; i++)
		free(r->f[i]);
	memset(r, 0, sizeof(*r));
}

/* One row; 0, or -1 at the end of data. */
static int csv_row(const char **p, csv_row_t *r)
{
	char end = ',';

	memset(r, 0, sizeof(*r));
	if (**p == '\0')
		return -1;
	while (end == ',') {
		char *f = csv_field(p, &end);
		if (f == NULL)
			return -1;
		if (r->n < CSV_COLS_MAX)
			r->f[r->n++] = f;
		else {
			free(f);
			r->too_many = 1;
		}
	}
	return 0;
}

static json_t *split_tags(const char *s)
{
	json_t *arr = json_array();
	char *copy = strdup(s ? s : ""), *t, *save = NULL;

	for (t = copy ? strtok_r(copy, ";", &save) : NULL; t && arr; t = strtok_r(NULL, ";", &save)) {
		while (*t == ' ')
			t++;
		if (*t != '\0')
			json_array_append_new(arr, util_json_text(t));
	}
	free(copy);
	return arr;
}

static int import_csv(inv_batch_t *b, const char *file)
{
	int col_pem = -1, col_path = -1, col_owner = -1, col_tags = -1, i, rc = CLI_OK;
	char *data = NULL, *base = NULL, *slash;
	const char *p, *why;
	csv_row_t r;
	size_t len, row = 1;

	if ((rc = fs_read_regular(file, 256u << 20, &data, &len)) != 0)
		return cli_fail(b->cmd, "%s: %s", file,
				rc == CAIRN_EINVAL ? "not a regular file" : "cannot be read");
	p = data;
	if (csv_row(&p, &r) != 0) {
		free(data);
		return cli_fail(b->cmd, "%s: empty CSV (the first row names the columns: pem or path, owner, tags)", file);
	}
	for (i = 0; i < r.n; i++) {
		const char *h = r.f[i];
		if (strcmp(h, "pem") == 0) col_pem = i;
		else if (strcmp(h, "path") == 0) col_path = i;
		else if (strcmp(h, "owner") == 0) col_owner = i;
		else if (strcmp(h, "tags") == 0) col_tags = i;
	}
	csv_row_clear(&r);
	if (col_pem < 0 && col_path < 0) {
		free(data);
		return cli_fail(b->cmd, "%s: the header row has neither a pem nor a path column", file);
	}
	base = strdup(file);
	if (base != NULL && (slash = strrchr(base, '/')) != NULL)
		*slash = '\0';
	else if (base != NULL)
		strcpy(base, ".");
	while (rc == CLI_OK && row < CSV_ROWS_MAX && csv_row(&p, &r) == 0) {
		const char *pem = col_pem >= 0 && col_pem < r.n ? r.f[col_pem] : "";
		const char *path = col_path >= 0 && col_path < r.n ? r.f[col_path] : "";
		const char *owner = col_owner >= 0 && col_owner < r.n ? r.f[col_owner] : NULL;
		json_t *tags = split_tags(col_tags >= 0 && col_tags < r.n ? r.f[col_tags] : NULL);
		char where[600], *full = NULL, *cert = NULL;
		size_t clen = 0;
		int n;

		row++;
		snprintf(where, sizeof(where), "%s:%zu", file, row);
		if (r.n == 1 && r.f[0][0] == '\0') {
			/* a blank line */
		} else if (r.too_many) {
			inv_batch_refuse(b, where, "more columns than the header allows");
		} else if (owner != NULL && strlen(owner) > INV_OWNER_MAX) {
			inv_batch_refuse(b, where, "owner longer than 128 bytes");
		} else if (pem[0] != '\0') {
			n = certs_of(b, pem, strlen(pem), "csv", where, owner, tags, &why);
			if (n < 0)
				rc = CLI_FAILED;
			else if (n == 0 && why != NULL)
				inv_batch_refuse(b, where, why);
		} else if (path[0] != '\0') {
			full = path[0] == '/' ? strdup(path) : fs_join(base ? base : ".", path);
			n = full ? read_regular(full, &cert, &clen, &why) : ENOMEM;
			if (n != 0) {
				char msg[700];
				snprintf(msg, sizeof(msg), "%s: %s", path, why ? why : strerror(n));
				inv_batch_refuse(b, where, msg);
			} else if ((n = certs_of(b, cert, clen, "csv", where, owner, tags, &why)) < 0) {
				rc = CLI_FAILED;
			} else if (n == 0 && why != NULL) {
				inv_batch_refuse(b, where, why);
			}
		} else {
			inv_batch_refuse(b, where, "neither pem nor path given");
		}
		free(cert);
		free(full);
		json_decref(tags);
		csv_row_clear(&r);
	}
	/* Rows past the limit are not read: named and counted, never dropped without a word. */
	if (rc == CLI_OK && row >= CSV_ROWS_MAX && p[strspn(p, "\r\n")] != '\0') {
		char where[600], msg[96];
		snprintf(where, sizeof(where), "%s:%zu", file, row + 1);
		snprintf(msg, sizeof(msg), "more than %d rows: this row and those after it are not read",
			 CSV_ROWS_MAX);
		inv_batch_refuse(b, where, msg);
	}
	free(base);
	free(data);
	return rc;
}

static int inventory_import_cmd(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "pem-dir", required_argument, NULL, 'p' },
		{ "csv", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *pem_dir = NULL, *csv = NULL;
	char source[600];
	inv_batch_t b;
	walk_t w = { 0 };
	int c, rc;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'p': pem_dir = optarg; break;
		case 'c': csv = optarg; break;
		default:
			return cli_usage_error("inventory", "unknown or incomplete option %s", argv[optind - 1]);
		}
	}
	if (dir == NULL || (pem_dir == NULL) == (csv == NULL) || optind < argc)
		return cli_usage_error("inventory", "import takes --dir and one of --pem-dir DIR, --csv FILE");
	snprintf(source, sizeof(source), "%s %s", pem_dir ? "pem-dir" : "csv", pem_dir ? pem_dir : csv);
	inv_batch_init(&b, dir, source);
	b.cmd = "inventory";
	if (b.items == NULL)
		return cli_fail("inventory", "out of memory");
	w.b = &b;
	rc = pem_dir ? walk_dir(&w, pem_dir) : import_csv(&b, csv);
	if (rc == CLI_OK)
		rc = inv_batch_flush(&b);
	if (rc == CLI_OK)
		printf("added %zu, already known %zu, refused %zu\n", b.added, b.known, b.refused);
	inv_batch_free(&b);
	return rc;
}

static int inventory_owner_cmd(int argc, char **argv)
{
	cli_conn_opts_t o = { 0 };
	json_t *body = NULL, *out = NULL;
	char path[160], key[2 * INV_FP_LEN + 1];
	int c, rc;
	static const struct option longopts[] = {
		CLI_CONN_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
		if (!cli_conn_opt(c, optarg, &o))
			return cli_usage_error("inventory", "unknown or incomplete option %s", argv[optind - 1]);
	if (argc - optind != 3 || strcmp(argv[optind], "set") != 0)
		return cli_usage_error("inventory", "owner set FP|SERIAL OWNER");
	if (cli_serial_norm(argv[optind + 1], key, sizeof(key), INV_FP_LEN) != 0)
		return cli_usage_error("inventory", "%s is neither a fingerprint nor a serial (hex)",
				       argv[optind + 1]);
	snprintf(path, sizeof(path), "/inventory/%s/owner", key);
	body = json_pack("{s:o}", "owner", util_json_text(argv[optind + 2]));
	rc = cli_api_json("inventory", &o, "POST", path, body, 200, &out);
	if (rc == CLI_OK)
		printf("owner of %s: %s (was %s)\n", json_string_value(json_object_get(out, "fp")),
		       json_string_value(json_object_get(out, "owner")),
		       json_string_value(json_object_get(out, "previous"))[0]
			       ? json_string_value(json_object_get(out, "previous")) : "none");
	json_decref(body);
	json_decref(out);
	return rc;
}

/* Prints rows in the chosen format. */
static int print_rows(const char *cmd, const json_t *rows, inv_report_t kind, int fmt)
{
	if (fmt == INV_FMT_JSON) /* the envelope of every read command (cli/output.c) */
		return cli_print_list(json_incref((json_t *)rows), (long long)json_array_size(rows),
				      NULL);
	if (inv_rows_write(stdout, rows, inv_report_columns(kind), (inv_format_t)fmt) != 0)
		return cli_fail(cmd, "cannot write the report");
	return CLI_OK;
}

/* Runs a report straight from DIR's database (a reader beside the daemon). */
static int run_report(const char *cmd, const char *dir, const inv_report_opts_t *o, int fmt)
{
	db_t *db = NULL;
	db_txn_t *txn = NULL;
	json_t *rows = NULL;
	cairn_err_t err = { 0 };
	int rc;

	if ((rc = cli_db_open(cmd, dir, &db)) != CLI_OK)
		return rc;
	if (db_read_begin(db, &txn) != 0)
		rc = cli_fail(cmd, "cannot read the database");
	else if (inventory_report(txn, o, &rows, &err) != 0)
		rc = err.code == CAIRN_EINVAL ? cli_usage_error(cmd, "%s", cairn_err_msg(&err))
					      : cli_fail(cmd, "%s", cairn_err_msg(&err));
	db_txn_end(txn);
	if (rc == CLI_OK)
		rc = print_rows(cmd, rows, o->kind, fmt);
	json_decref(rows);
	db_close(db);
	return rc;
}

typedef struct report_args {
	const char *dir, *format, *within, *by;
	int nargs;
	char *args[3];
} report_args_t;

static int parse_report_args(const char *cmd, int argc, char **argv, report_args_t *a)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "format", required_argument, NULL, 'f' },
		{ "within", required_argument, NULL, 'w' },
		{ "by", required_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(a, 0, sizeof(*a));
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': a->dir = optarg; break;
		case 'f': a->format = optarg; break;
		case 'w': a->within = optarg; break;
		case 'b': a->by = optarg; break;
		case 'j': a->format = "json"; break; /* every read command's --json */
		default:
			return cli_usage_error(cmd, "unknown or incomplete option %s", argv[optind - 1]);
		}
	}
	for (; optind < argc; optind++) {
		if (a->nargs == 3)
			return cli_usage_error(cmd, "unexpected argument %s", argv[optind]);
		a->args[a->nargs++] = argv[optind];
	}
	if (a->dir == NULL)
		return cli_usage_error(cmd, "--dir is required");
	if (inv_format_parse(a->format) < 0)
		return cli_usage_error(cmd, "--format takes table, csv or json");
	return CLI_OK;
}

int cli_report(int argc, char **argv)
{
	inv_report_opts_t o = { .now = time(NULL), .within = 30 * 86400 };
	report_args_t a;
	int rc, kind;

	if ((rc = parse_report_args("report", argc, argv, &a)) != CLI_OK)
		return rc;
	kind = a.nargs == 1 ? inv_report_parse(a.args[0]) : -1;
	if (kind < 0 || kind == INV_REPORT_LIST)
		return cli_usage_error("report", "give one report: expiring, weak, revoked-in-use, unknown-issuer");
	if (a.within != NULL && (duration_parse(a.within, &o.within) != 0 || o.within <= 0))
		return cli_usage_error("report", "--within %s: use e.g. 30d, 12w, 36h", a.within);
	if (a.by != NULL && kind != INV_REPORT_EXPIRING)
		return cli_usage_error("report", "--by goes with the expiring report");
	o.kind = (inv_report_t)kind;
	o.by = a.by;
	return run_report("report", a.dir, &o, inv_format_parse(a.format));
}

int cli_inventory(int argc, char **argv)
{
	report_args_t a;
	int rc;

	if (argc < 2)
		return cli_usage_error("inventory", "give a subcommand: import, owner, list, show");
	if (strcmp(argv[1], "import") == 0)
		return inventory_import_cmd(argc - 1, argv + 1);
	if (strcmp(argv[1], "owner") == 0)
		return inventory_owner_cmd(argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0) {
		inv_report_opts_t o = { .kind = INV_REPORT_LIST, .now = time(NULL) };
		if ((rc = parse_report_args("inventory", argc - 1, argv + 1, &a)) != CLI_OK)
			return rc;
		if (a.nargs > 0 || a.within || a.by)
			return cli_usage_error("inventory", "list takes --dir and --format only");
		return run_report("inventory", a.dir, &o, inv_format_parse(a.format));
	}
	if (strcmp(argv[1], "show") == 0) {
		db_t *db = NULL;
		db_txn_t *txn = NULL;
		json_t *rec = NULL;
		char key[2 * INV_FP_LEN + 1];

		if ((rc = parse_report_args("inventory", argc - 1, argv + 1, &a)) != CLI_OK)
			return rc;
		if (a.nargs != 1 || cli_serial_norm(a.args[0], key, sizeof(key), INV_FP_LEN) != 0 ||
		    strlen(key) != 2 * INV_FP_LEN)
			return cli_usage_error("inventory", "show --dir DIR FINGERPRINT (64 hex digits)");
		if ((rc = cli_db_open("inventory", a.dir, &db)) != CLI_OK)
			return rc;
		if (db_read_begin(db, &txn) == 0)
			rec = inventory_get(txn, key);
		db_txn_end(txn);
		db_close(db);
		if (rec == NULL)
			return cli_fail("inventory", "no inventory certificate %s", key);
		json_dumpf(rec, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(rec);
		return CLI_OK;
	}
	return cli_usage_error("inventory", "unknown subcommand %s", argv[1]);
}
