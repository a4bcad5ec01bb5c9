/* SPDX-License-Identifier: MIT */
/* `cairn publish --to DIR`: the published tree (OCSP answers, CRLs, CA certificates) written once, read-only beside the daemon. */
#include <dirent.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "ca/ca.h"
#include "cli/cli.h"
#include "db/db.h"
#include "ocsp/ocsp.h"
#include "server/server.h"

#define CMD "publish"
#define CRL_COPY_MAX (1u << 30)
#define CRL_DEPTH_MAX 3 /* publish_dir/NAME.crl, publish_dir/ISSUER/SHARD.crl */

struct tree {
	const char *out;    /* the tree's root (absolute) */
	size_t n_crl, n_ca;
};

/* DER of cert as ca/NAME.crt under the tree: what /ca/NAME.crt serves. */
static int put_ca_cert(struct tree *t, const char *name, X509 *cert, cairn_err_t *err)
{
	unsigned char *der = NULL;
	char rel[PATH_MAX];
	int n = i2d_X509(cert, &der), rc;

	if (n <= 0 || snprintf(rel, sizeof(rel), "ca/%s.crt", name) >= (int)sizeof(rel))
		rc = cairn_err_set(err, CAIRN_ENOMEM, "issuer %s: out of memory", name);
	else
		rc = pubtree_write(t->out, rel, der, (size_t)n, 0, 0, NULL, err);
	OPENSSL_free(der);
	if (rc == 0)
		t->n_ca++;
	return rc;
}

struct issuers {
	ocsp_pub_t *pub;
	struct tree *t;
};

static int add_rotated(const char *name, const char *label, X509 *cert, void *arg,
		       cairn_err_t *err)
{
	struct issuers *is = arg;
	int rc;
	(void)label;

	if ((rc = ocsp_pub_add_issuer(is->pub, name, cert)) != 0)
		return cairn_err_set(err, rc, "issuer %s: %s", name, cairn_strerror(rc));
	return put_ca_cert(is->t, name, cert, err);
}

/* The CA certificate at cfg-relative path rel, for issuer name. */
static int add_file_issuer(const cairn_config_t *cfg, const char *rel, const char *name,
			   struct issuers *is, cairn_err_t *err)
{
	char *path = config_path(cfg, rel);
	FILE *f = path ? fopen(path, "r") : NULL;
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	int rc;

	if (x == NULL)
		rc = cairn_err_set(err, CAIRN_EIO, "cannot read the %s CA certificate %s", name,
				   path ? path : rel);
	else
		rc = add_rotated(name, NULL, x, is, err);
	if (f != NULL)
		fclose(f);
	X509_free(x);
	free(path);
	ERR_clear_error();
	return rc;
}

/* Copies the CRLs the daemon published under src (rel: the path below it) into the
 * tree's crl/, keeping their modification time (their thisUpdate). */
static int copy_crls(struct tree *t, const char *src, const char *rel, int depth, cairn_err_t *err)
{
	char from[PATH_MAX], to[PATH_MAX], sub[PATH_MAX];
	DIR *d;
	struct dirent *e;
	int rc = 0;

	snprintf(from, sizeof(from), "%s%s%s", src, rel[0] ? "/" : "", rel);
	if ((d = opendir(from)) == NULL)
		return depth == 0 ? cairn_err_set(err, CAIRN_EIO, "cannot read %s", from) : 0;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		struct stat sb;
		size_t n = strlen(e->d_name);
		char *data = NULL;
		size_t len = 0;

		if (e->d_name[0] == '.' ||
		    snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >=
			    (int)sizeof(sub) ||
		    snprintf(from, sizeof(from), "%s/%s", src, sub) >= (int)sizeof(from) ||
		    stat(from, &sb) != 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			if (depth + 1 < CRL_DEPTH_MAX)
				rc = copy_crls(t, src, sub, depth + 1, err);
			continue;
		}
		if (!S_ISREG(sb.st_mode) || n < 5 || strcmp(e->d_name + n - 4, ".crl") != 0 ||
		    snprintf(to, sizeof(to), "crl/%s", sub) >= (int)sizeof(to))
			continue;
		if ((rc = fs_read(from, CRL_COPY_MAX, &data, &len)) != 0)
			cairn_err_set(err, rc, "copying %s: %s", from, cairn_strerror(rc));
		else if ((rc = pubtree_write(t->out, to, data, len, 0, sb.st_mtime, NULL, err)) == 0)
			t->n_crl++;
		free(data);
	}
	closedir(d);
	return rc;
}

int cli_publish(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "to", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *to = NULL;
	char out[PATH_MAX], *crl_dir = NULL;
	cairn_config_t *cfg = NULL;
	cairn_err_t err = { 0 };
	db_t *db = NULL;
	ocsp_pub_t *pub = NULL;
	ocsp_pub_stats_t st = { 0 }, pst = { 0 };
	struct stat sb;
	struct tree t = { out, 0, 0 };
	struct issuers is = { NULL, &t };
	int c, rc = CLI_FAILED;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 't': to = optarg; break;
		default:
			return cli_usage_error(CMD, "unknown or incomplete option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error(CMD, "unexpected argument %s", argv[optind]);
	if (dir == NULL || to == NULL || to[0] == '\0')
		return cli_usage_error(CMD, "--dir and --to are required");
	if (fs_mkdirs(to, 0755) != 0 || realpath(to, out) == NULL)
		return cli_fail(CMD, "cannot create %s", to);
	/* The tree is pruned (ocsp_prune): its root must be ours, not a symlink. */
	if (lstat(to, &sb) != 0 || S_ISLNK(sb.st_mode) || sb.st_uid != geteuid())
		return cli_fail(CMD, "refusing %s: the tree's root must be a directory of this user, "
				"not a symlink (docs/security.md)", to);
	if (config_load(dir, &cfg, &err) != 0) {
		rc = cli_fail(CMD, "%s", cairn_err_msg(&err));
		goto out;
	}
	if ((rc = cli_db_open(CMD, dir, &db)) != CLI_OK)
		goto out;
	rc = CLI_FAILED;
	if (ocsp_pub_new(db, out, 0, &pub, &err) != 0)
		goto fail;
	is.pub = pub;
	/* The same issuers the daemon answers for: the root, the first issuing CA, then the
	 * ones rotations made (their certificates are in the database). */
	if (add_file_issuer(cfg, cfg->root_cert, "root", &is, &err) != 0 ||
	    add_file_issuer(cfg, cfg->issuing_cert, "issuing", &is, &err) != 0)
		goto fail;
	if (ca_issuers_recorded(db, add_rotated, &is, &err) != 0 ||
	    ocsp_pub_all(pub, &st, &err) != 0 || ocsp_pub_prune(pub, &pst, &err) != 0)
		goto fail;
	if ((crl_dir = config_path(cfg, cfg->crl_publish_dir)) == NULL ||
	    copy_crls(&t, crl_dir, "", 0, &err) != 0)
		goto fail;
	printf("published %lu OCSP answers (%lu already there, %lu removed, %lu not current), "
	       "%zu CRLs and %zu CA certificates to %s; pruned %lu stray files\n",
	       (unsigned long)st.written, (unsigned long)st.unchanged, (unsigned long)st.removed,
	       (unsigned long)st.skipped, t.n_crl, t.n_ca, out, (unsigned long)pst.removed);
	rc = CLI_OK;
	goto out;
fail:
	rc = cli_fail(CMD, "%s", err.msg[0] ? cairn_err_msg(&err) : "out of memory");
out:
	ocsp_pub_free(pub);
	free(crl_dir);
	if (db != NULL)
		db_close(db);
	config_free(cfg);
	return rc;
}
