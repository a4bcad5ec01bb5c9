/* SPDX-License-Identifier: MIT */
/* `cairn revoke`: one serial, a file of serials, or every certificate of a compromised key — via the admin API. */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "cli/cli.h"
#include "db/db.h"

#define CHUNK 500 /* serials per admin API call (one durable transaction each) */

typedef struct serials {
	char **v;
	size_t n, cap;
} serials_t;

static int serials_add(serials_t *s, const char *hex, size_t len)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 256;
		char **nv = realloc(s->v, cap * sizeof(*nv));
		if (nv == NULL)
			return -1;
		s->v = nv;
		s->cap = cap;
	}
	if ((s->v[s->n] = strndup(hex, len)) == NULL)
		return -1;
	s->n++;
	return 0;
}

static void serials_free(serials_t *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

/* One serial a line; blank lines and '#' comments skipped; "0x" and ':' allowed. */
static int read_serial_file(const char *path, serials_t *out)
{
	char *data = NULL, *line, *save = NULL;
	size_t len;

	if (fs_read(path, 256u << 20, &data, &len) != 0)
		return cli_fail("revoke", "cannot read %s", path);
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char hex[2 * DB_SERIAL_MAX + 1], *p = line, *end;
		size_t n;

		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		for (end = p; *end && !isspace((unsigned char)*end); end++)
			;
		*end = '\0';
		if (cli_serial_norm(p, hex, sizeof(hex), DB_SERIAL_MAX) != 0) {
			free(data);
			return cli_fail("revoke", "%s: %.80s is not a serial (hex, colons allowed)",
					path, p);
		}
		n = strlen(hex);
		if (serials_add(out, hex, n) != 0) {
			free(data);
			return cli_fail("revoke", "out of memory");
		}
	}
	free(data);
	return CLI_OK;
}

struct key_scan {
	uint8_t want[32];
	serials_t *out;
	size_t scanned;
	int oom;
};

static int key_scan_cb(const db_cert_t *c, void *arg)
{
	struct key_scan *ks = arg;
	const unsigned char *p = c->der;
	unsigned char md[32];
	char hex[2 * DB_SERIAL_MAX + 1];
	X509 *x;

	ks->scanned++;
	if (c->status != DB_CERT_VALID || c->der == NULL)
		return 0;
	x = ca_cert_d2i(&p, (long)c->der_len);
	if (x != NULL && ca_spki_sha256(x, md) == 0 && memcmp(md, ks->want, 32) == 0) {
		db_serial_hex(c->serial, c->serial_len, hex);
		if (serials_add(ks->out, hex, strlen(hex)) != 0)
			ks->oom = 1;
	}
	X509_free(x);
	return ks->oom ? -1 : 0;
}

/* Reads the database directly (safe beside the daemon) for the key's certificates. */
static int find_by_key(const char *dir, const char *spki_hex, serials_t *out)
{
	struct key_scan ks = { .out = out };
	cairn_err_t err = { 0 };
	char *path = fs_join(dir, "db");
	db_t *db = NULL;
	db_txn_t *txn = NULL;
	int rc = CLI_OK;

	if (ca_spki_pin_parse(spki_hex, ks.want) != 0) {
		free(path);
		return cli_usage_error("revoke", "--issued-by-key takes a SHA-256 of the key's "
					 "SubjectPublicKeyInfo: 64 hex digits (or base64 pin-sha256)");
	}
	if (path == NULL || !fs_exists(path)) {
		rc = cli_fail("revoke", "%s: no CA here", dir);
		goto out;
	}
	if (db_open(path, &db, &err) != 0) {
		rc = cli_fail("revoke", "%s", cairn_err_msg(&err));
		goto out;
	}
	if (db_read_begin(db, &txn) != 0 || db_certs_all(txn, key_scan_cb, &ks) != 0) {
		rc = cli_fail("revoke", ks.oom ? "out of memory" : "cannot read the database");
		goto out;
	}
	fprintf(stderr, "cairn revoke: %zu certificates scanned, %zu valid ones carry key %.16s...\n",
		ks.scanned, out->n, spki_hex);
out:
	db_txn_end(txn);
	db_close(db);
	free(path);
	return rc;
}

/* The detail of a problem document, or the raw body (borrowed from doc/body). */
static const char *detail_of(const char *body, size_t len, json_t **doc)
{
	const char *d;

	*doc = body ? json_loadb(body, len, 0, NULL) : NULL;
	d = json_string_value(json_object_get(*doc, "detail"));
	return d ? d : (body ? body : "no answer");
}

static int revoke_one(const char *dir, const char *serial, const char *reason, const char *inval,
		      int confirm_ca)
{
	json_t *req = json_pack("{s:s}", "reason", reason), *doc = NULL;
	char *text = NULL, *body = NULL, *path = NULL, why[512];
	size_t len = 0;
	long status;
	int rc = CLI_FAILED;

	if (req && inval)
		json_object_set_new(req, "invalidity_date", json_string(inval));
	if (req && confirm_ca)
		json_object_set_new(req, "confirm_issuing_ca", json_true());
	text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	if (text == NULL || asprintf(&path, "/certificates/%s/revoke", serial) < 0) {
		path = NULL;
		rc = cli_fail("revoke", "out of memory");
		goto out;
	}
	status = cli_admin_post(dir, path, text, &body, &len, why, sizeof(why));
	if (status < 0)
		rc = cli_fail("revoke", "%s", why);
	else if (status != 200)
		rc = cli_fail("revoke", "refused (HTTP %ld): %s", status,
			      detail_of(body, len, &doc));
	else {
		const char *profile;

		fprintf(stderr, "cairn revoke: %s %s (%s)\n",
			strcmp(reason, "removeFromCRL") == 0 ? "released the hold of" : "revoked",
			serial, reason);
		doc = json_loadb(body, len, 0, NULL);
		profile = json_string_value(json_object_get(doc, "profile"));
		if (profile != NULL && strcmp(profile, "ca-issuing") == 0 &&
		    strcmp(reason, "removeFromCRL") != 0)
			fprintf(stderr, "cairn revoke: %s was an issuing CA: every certificate it "
				"issued now fails validation (the root's CRL and OCSP list it)\n",
				serial);
		rc = CLI_OK;
	}
out:
	json_decref(doc);
	json_decref(req);
	free(text);
	free(body);
	free(path);
	return rc;
}

/* Sends the serials CHUNK at a time to POST /revocations, with a progress line per chunk. */
static int revoke_many(const char *dir, const serials_t *s, const char *reason, const char *inval)
{
	size_t off, i, revoked = 0, already = 0, missing = 0, refused = 0;
	char why[512];
	int rc = CLI_OK;

	for (off = 0; off < s->n; off += CHUNK) {
		size_t n = s->n - off < CHUNK ? s->n - off : CHUNK;
		json_t *arr = json_array(), *req = NULL, *doc = NULL, *v;
		char *text = NULL, *body = NULL;
		size_t len = 0;
		long status;

		for (i = 0; arr && i < n; i++)
			json_array_append_new(arr, json_string(s->v[off + i]));
		req = arr ? json_pack("{s:o, s:s}", "serials", arr, "reason", reason) : NULL;
		if (req && inval)
			json_object_set_new(req, "invalidity_date", json_string(inval));
		text = req ? json_dumps(req, JSON_COMPACT) : NULL;
		if (text == NULL) {
			json_decref(req);
			return cli_fail("revoke", "out of memory");
		}
		status = cli_admin_post(dir, "/revocations", text, &body, &len, why, sizeof(why));
		if (status != 200) {
			rc = status < 0 ? cli_fail("revoke", "%s", why)
					: cli_fail("revoke", "refused (HTTP %ld): %s", status,
						   detail_of(body, len, &doc));
		} else {
			doc = json_loadb(body, len, 0, NULL);
			json_array_foreach(json_object_get(doc, "results"), i, v) {
				const char *st = json_string_value(json_object_get(v, "status"));
				const char *detail = json_string_value(json_object_get(v, "detail"));
				if (st && strcmp(st, "revoked") == 0)
					revoked++;
				else if (st && strcmp(st, "already revoked") == 0)
					already++;
				else {
					if (st && strcmp(st, "not found") == 0)
						missing++;
					else
						refused++;
					fprintf(stderr, "cairn revoke: %s\n", detail ? detail : "refused");
				}
			}
			fprintf(stderr,
				"cairn revoke: %zu/%zu done: %zu revoked, %zu already revoked, "
				"%zu not found, %zu refused\n",
				off + n, s->n, revoked, already, missing, refused);
		}
		json_decref(doc);
		json_decref(req);
		free(text);
		free(body);
		if (rc != CLI_OK)
			return rc;
	}
	return missing + refused > 0 ? CLI_FAILED : CLI_OK;
}

int cli_revoke(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "reason", required_argument, NULL, 'r' },
		{ "invalidity-date", required_argument, NULL, 'i' },
		{ "file", required_argument, NULL, 'f' },
		{ "issued-by-key", required_argument, NULL, 'k' },
		{ "confirm-issuing-ca", no_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *reason = NULL, *inval = NULL, *file = NULL, *key = NULL;
	serials_t s = { 0 };
	time_t t;
	int c, rc, confirm_ca = 0;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'r': reason = optarg; break;
		case 'i': inval = optarg; break;
		case 'f': file = optarg; break;
		case 'k': key = optarg; break;
		case 'C': confirm_ca = 1; break;
		default:
			return cli_usage_error("revoke", "unknown or incomplete option %s", argv[optind - 1]);
		}
	}
	if (dir == NULL || reason == NULL)
		return cli_usage_error("revoke", "--dir and --reason are required");
	if ((optind < argc) + (file != NULL) + (key != NULL) != 1 || argc - optind > 1)
		return cli_usage_error("revoke", "give one SERIAL, or --file, or --issued-by-key");
	if (confirm_ca && optind == argc)
		return cli_usage_error("revoke", "--confirm-issuing-ca goes with one SERIAL: an "
				       "issuing CA is revoked on its own");
	if (ca_reason_parse(reason) < 0)
		return cli_usage_error("revoke", "unknown reason %s", reason);
	if (inval != NULL && time_parse(inval, &t) != 0)
		return cli_usage_error("revoke", "--invalidity-date %s is not an RFC 3339 time", inval);
	if (optind < argc) {
		char hex[2 * DB_SERIAL_MAX + 1];
		if (cli_serial_norm(argv[optind], hex, sizeof(hex), DB_SERIAL_MAX) != 0)
			return cli_usage_error("revoke", "SERIAL must be hex (colons allowed), at most "
					       "%d bytes", DB_SERIAL_MAX);
		return revoke_one(dir, hex, reason, inval, confirm_ca);
	}
	rc = file ? read_serial_file(file, &s) : find_by_key(dir, key, &s);
	if (rc == CLI_OK && s.n == 0)
		fprintf(stderr, "cairn revoke: nothing to revoke\n");
	else if (rc == CLI_OK)
		rc = revoke_many(dir, &s, reason, inval);
	serials_free(&s);
	return rc;
}
