/* SPDX-License-Identifier: MIT */
/* `cairn discover`: scans TLS endpoints inside discover.allowed and records what they serve
 * in the inventory through the daemon. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli/cli.h"
#include "cli/inventory_cli.h"
#include "inventory/inventory.h"
#include "server/server.h"

#define SNI_MAX 64

static const char *const columns[] = { "endpoint", "sni",     "result",  "version",
				       "cipher",   "subject", "not_after", "verify_cairn",
				       "verify_system", "verify_error", "name_match", "expired", "weak",
				       "cairn_serial", "status", NULL };

typedef struct discover {
	inv_batch_t batch;
	json_t *rows;     /* every endpoint, in the order scanned */
	json_t *waiting;  /* rows whose certificate is in the batch, in order */
	size_t answered;  /* of waiting */
	size_t endpoints, tls;
	int failed;
} discover_t;

static const char *yes(const json_t *tls, const char *key)
{
	return json_is_true(json_object_get(tls, key)) ? "yes" : "no";
}

/* The daemon's answer for a recorded certificate: whether cairn issued it and its status. */
static void on_result(const json_t *item, const json_t *result, void *arg)
{
	discover_t *d = arg;
	json_t *row = json_array_get(d->waiting, d->answered++);
	const char *serial = json_string_value(json_object_get(result, "cairn_serial"));
	(void)item;

	if (row == NULL)
		return;
	json_object_set_new(row, "cairn_serial", json_string(serial ? serial : ""));
	json_object_set_new(row, "status", json_string(serial ? json_string_value(json_object_get(
									   result, "status"))
							      : "not cairn's"));
}

static void on_scan(const inv_scan_result_t *r, void *arg)
{
	discover_t *d = arg;
	json_t *row;
	char endpoint[320], nb[32];

	d->endpoints++;
	inv_endpoint_name(r, endpoint, sizeof(endpoint));
	row = json_pack("{s:s, s:s, s:s}", "endpoint", endpoint, "sni", r->sni ? r->sni : "",
			"result", r->error ? r->error : "tls");
	if (row == NULL)
		return;
	json_array_append_new(d->rows, row);
	if (r->tls == NULL)
		return;
	d->tls++;
	{
		X509 *leaf = sk_X509_value(r->chain, 0);
		char *subject = ca_dn_text(X509_get_subject_name(leaf));
		int64_t na = 0;

		if (ca_time_unix(X509_get0_notAfter(leaf), &na) != 0)
			na = 0;
		time_rfc3339((time_t)na, nb, sizeof(nb));
		json_object_set_new(row, "subject", util_json_text(subject ? subject : ""));
		free(subject);
		json_object_set_new(row, "not_after", json_string(nb));
		json_object_set(row, "version", json_object_get(r->tls, "version"));
		json_object_set(row, "cipher", json_object_get(r->tls, "cipher"));
		json_object_set_new(row, "verify_cairn", json_string(yes(r->tls, "verify_cairn")));
		json_object_set_new(row, "verify_system", json_string(yes(r->tls, "verify_system")));
		json_object_set(row, "verify_error", json_object_get(r->tls, "verify_error"));
		json_object_set_new(row, "name_match", json_string(yes(r->tls, "name_match")));
		json_object_set_new(row, "expired", json_string(yes(r->tls, "expired")));
		json_object_set(row, "weak", json_object_get(r->tls, "weak"));
		json_array_append(d->waiting, row);
		if (!d->failed && inv_batch_add(&d->batch, leaf, "tls", endpoint, r->sni, NULL, NULL,
						r->tls) != CLI_OK)
			d->failed = 1;
	}
}

/* Server names, one a line ('#' comments and blank lines skipped). */
static int read_snis(const char *file, char **data, const char **snis, size_t *n)
{
	char *line, *save = NULL;
	size_t len;

	*n = 0;
	if (fs_read(file, 1u << 20, data, &len) != 0)
		return cli_fail("discover", "cannot read %s", file);
	for (line = strtok_r(*data, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '\0' || *line == '#')
			continue;
		if (*n == SNI_MAX || strlen(line) > 253 || strchr(line, ' ') != NULL)
			return cli_fail("discover", "%s: at most %d names of at most 253 characters",
					file, SNI_MAX);
		snis[(*n)++] = line;
	}
	return CLI_OK;
}

/* discover.allowed from DIR/cairn.json (validated as `serve` does); none = loopback. */
static int load_allowed(const char *dir, cairn_config_t **cfg, const char **allowed, size_t *n)
{
	cairn_err_t err = { 0 };
	json_t *list, *v;
	size_t i;

	*n = 0;
	if (config_load(dir, cfg, &err) != 0)
		return cli_fail("discover", "%s", cairn_err_msg(&err));
	list = json_object_get(json_object_get((*cfg)->root, "discover"), "allowed");
	json_array_foreach(list, i, v)
		if (*n < 64)
			allowed[(*n)++] = json_string_value(v);
	return CLI_OK;
}

int cli_discover(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "targets", required_argument, NULL, 't' },
		{ "ports", required_argument, NULL, 'p' },
		{ "sni-file", required_argument, NULL, 's' },
		{ "parallel", required_argument, NULL, 'n' },
		{ "timeout-ms", required_argument, NULL, 'T' },
		{ "rate", required_argument, NULL, 'r' },
		{ "format", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *sni_file = NULL, *format = NULL, *snis[SNI_MAX], *allowed[64];
	inv_scan_opts_t o = { .ports = "443", .parallel = 32, .connect_ms = 3000,
			      .handshake_ms = 3000, .rate = 200 };
	discover_t d = { 0 };
	cairn_config_t *cfg = NULL;
	cairn_err_t err = { 0 };
	char *sni_data = NULL, *root = NULL, source[300];
	long v;
	int c, rc = CLI_OK, fmt;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 't': o.targets = optarg; break;
		case 'p': o.ports = optarg; break;
		case 's': sni_file = optarg; break;
		case 'f': format = optarg; break;
		case 'j': format = "json"; break;
		case 'n':
			if (cli_int_arg("discover", "--parallel", optarg, 1, 256, &v) != CLI_OK)
				return CLI_USAGE;
			o.parallel = (int)v;
			break;
		case 'T':
			if (cli_int_arg("discover", "--timeout-ms", optarg, 10, 60000, &v) != CLI_OK)
				return CLI_USAGE;
			o.connect_ms = o.handshake_ms = (int)v;
			break;
		case 'r':
			if (cli_int_arg("discover", "--rate", optarg, 0, 1000, &v) != CLI_OK)
				return CLI_USAGE;
			o.rate = (int)v;
			break;
		default:
			return cli_usage_error("discover", "unknown or incomplete option %s", argv[optind - 1]);
		}
	}
	if (dir == NULL || o.targets == NULL || optind < argc)
		return cli_usage_error("discover", "--dir and --targets are required");
	if ((fmt = inv_format_parse(format)) < 0)
		return cli_usage_error("discover", "--format takes table, csv or json");
	if (sni_file != NULL && (rc = read_snis(sni_file, &sni_data, snis, &o.n_snis)) != CLI_OK)
		goto out;
	o.snis = snis;
	if ((rc = load_allowed(dir, &cfg, allowed, &o.n_allowed)) != CLI_OK)
		goto out;
	o.allowed = allowed;
	o.cairn_roots = X509_STORE_new();
	o.system_roots = inv_system_store();
	root = fs_join(dir, "ca/root.pem");
	if (o.cairn_roots == NULL || o.system_roots == NULL || root == NULL ||
	    X509_STORE_load_file(o.cairn_roots, root) != 1) {
		rc = cli_fail("discover", "cannot load cairn's root %s", root ? root : "");
		goto out;
	}
	snprintf(source, sizeof(source), "discover %.250s", o.targets);
	inv_batch_init(&d.batch, dir, source);
	d.batch.cmd = "discover";
	d.batch.on_result = on_result;
	d.batch.on_result_arg = &d;
	d.rows = json_array();
	d.waiting = json_array();
	if (d.batch.items == NULL || d.rows == NULL || d.waiting == NULL) {
		rc = cli_fail("discover", "out of memory");
		goto out;
	}
	if (inventory_scan(&o, on_scan, &d, &err) != 0) {
		rc = err.code == CAIRN_EDENIED || err.code == CAIRN_EINVAL || err.code == CAIRN_ETOOBIG
			     ? cli_usage_error("discover", "%s", cairn_err_msg(&err))
			     : cli_fail("discover", "%s", cairn_err_msg(&err));
		goto out;
	}
	if (d.failed || inv_batch_flush(&d.batch) != CLI_OK) {
		rc = CLI_FAILED;
		goto out;
	}
	fprintf(stderr, "cairn discover: %zu endpoints tried, %zu served TLS; inventory: %zu added, "
		"%zu already known\n", d.endpoints, d.tls, d.batch.added, d.batch.known);
	if (fmt == INV_FMT_JSON)
		rc = cli_print_list(json_incref(d.rows), (long long)json_array_size(d.rows), NULL);
	else if (inv_rows_write(stdout, d.rows, columns, (inv_format_t)fmt) != 0)
		rc = cli_fail("discover", "cannot write the results");
out:
	inv_batch_free(&d.batch);
	json_decref(d.rows);
	json_decref(d.waiting);
	X509_STORE_free(o.cairn_roots);
	X509_STORE_free(o.system_roots);
	config_free(cfg);
	free(root);
	free(sni_data);
	return rc;
}
