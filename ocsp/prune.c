/* SPDX-License-Identifier: MIT */
/* Pruning a published tree after a crash: stray temporaries and answers the database no longer has, nothing cairn did not write. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>

#include "ocsp/ocsp_int.h"

#define PRUNE_BATCH 1024     /* answers checked per read txn */
#define PRUNE_DEPTH 64       /* directories below ocsp/ (a '/' of the base64 is one) */
#define PRUNE_FILE_MAX 65536 /* a published answer is far smaller */

/* Where in ocsp/ a directory is: what names cairn writes there (crl/ and ca/ are
 * util/pubtree.c's, shared with the CRL side's own tree). */
enum where { W_OCSP, W_SHA256, W_SHA256_HH };

/* An answer file read in the current directory, to be checked against the db. */
struct cand {
	char name[256];
	uint8_t serial[DB_SERIAL_MAX];
	size_t serial_len;
	const char *issuer;
};

struct prune {
	const ocsp_prune_config_t *cfg;
	OCSP_CERTID **tmpl;          /* per issuer: a CertID to compare issuer hashes with */
	ocsp_pub_stats_t st;
	struct cand *cands;
	size_t n_cands;
	time_t now;
};

#define B64 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+="
#define HEX "0123456789abcdef"

/* 1 when name (n bytes) in a directory at w (rel: its path below the tree, "ocsp/M...")
 * is a file cairn writes there. */
static int ours(enum where w, const char *rel, const char *name, size_t n)
{
	switch (w) {
	case W_OCSP: /* a piece of a GET path: base64 (its first piece starts with 'M', a
		      * DER SEQUENCE), or the file of a path that ends in '/' */
		if (n == strlen(OCSP_PUB_INDEX) && memcmp(name, OCSP_PUB_INDEX, n) == 0)
			return strcmp(rel, "ocsp") != 0;
		return pubtree_in_set(name, n, B64) && (strcmp(rel, "ocsp") != 0 || name[0] == 'M');
	case W_SHA256_HH: /* ocsp/sha256/hh/<64 hex starting with hh> */
		return n == 64 && pubtree_in_set(name, n, HEX) && memcmp(name, rel + strlen(rel) - 2, 2) == 0;
	default:
		return 0;
	}
}

/* The directory w's subdirectory name leads to, or -1 when cairn makes no such one. */
static int subdir(enum where w, const char *rel, const char *name)
{
	size_t n = strlen(name);

	switch (w) {
	case W_OCSP:
		if (strcmp(rel, "ocsp") == 0 && strcmp(name, "sha256") == 0)
			return W_SHA256;
		return ours(W_OCSP, rel, name, n) && strcmp(name, OCSP_PUB_INDEX) != 0 ? W_OCSP : -1;
	case W_SHA256:
		return n == 2 && pubtree_in_set(name, 2, HEX) ? W_SHA256_HH : -1;
	default:
		return -1;
	}
}

/* A temporary file fs_write_atomic_ex left: "<a name cairn writes here>.tmp.<pid>" whose
 * process is gone (a live one, this process included, may be writing it right now). */
static int stray_tmp(enum where w, const char *rel, const char *name)
{
	size_t base;

	return fs_tmp_stray(name, &base) && ours(w, rel, name, base);
}

/*
 * An OCSPResponse (RFC 6960 §4.2.1) as far as pruning needs it: the SingleResponses of
 * its BasicOCSPResponse, with the certificates after them kept as undecoded bytes.
 * OCSP_response_get1_basic decodes those certificates (their public keys through the
 * providers): ~85% of the time of reading an answer, ~0.5 ms on a loaded machine, which
 * made a prune of 20k answers take 25 s. These templates are OpenSSL's parser all the
 * same (DESIGN.md: no hand-rolled ASN.1), only with ANY where nothing is needed.
 */
typedef struct {
	ASN1_INTEGER *version;
	OCSP_RESPID *rid;
	ASN1_GENERALIZEDTIME *produced;
	STACK_OF(OCSP_SINGLERESP) *responses;
	STACK_OF(X509_EXTENSION) *exts;
} PRUNE_RESPDATA;

ASN1_SEQUENCE(PRUNE_RESPDATA) = {
	ASN1_EXP_OPT(PRUNE_RESPDATA, version, ASN1_INTEGER, 0),
	ASN1_SIMPLE(PRUNE_RESPDATA, rid, OCSP_RESPID),
	ASN1_SIMPLE(PRUNE_RESPDATA, produced, ASN1_GENERALIZEDTIME),
	ASN1_SEQUENCE_OF(PRUNE_RESPDATA, responses, OCSP_SINGLERESP),
	ASN1_EXP_SEQUENCE_OF_OPT(PRUNE_RESPDATA, exts, X509_EXTENSION, 1)
} static_ASN1_SEQUENCE_END(PRUNE_RESPDATA)

typedef struct {
	PRUNE_RESPDATA *tbs;
	X509_ALGOR *alg;
	ASN1_BIT_STRING *sig;
	STACK_OF(ASN1_TYPE) *certs; /* undecoded */
} PRUNE_BASIC;

ASN1_SEQUENCE(PRUNE_BASIC) = {
	ASN1_SIMPLE(PRUNE_BASIC, tbs, PRUNE_RESPDATA),
	ASN1_SIMPLE(PRUNE_BASIC, alg, X509_ALGOR),
	ASN1_SIMPLE(PRUNE_BASIC, sig, ASN1_BIT_STRING),
	ASN1_EXP_SEQUENCE_OF_OPT(PRUNE_BASIC, certs, ASN1_ANY, 0)
} static_ASN1_SEQUENCE_END(PRUNE_BASIC)

typedef struct {
	ASN1_OBJECT *type;
	ASN1_OCTET_STRING *response;
} PRUNE_BYTES;

ASN1_SEQUENCE(PRUNE_BYTES) = {
	ASN1_SIMPLE(PRUNE_BYTES, type, ASN1_OBJECT),
	ASN1_SIMPLE(PRUNE_BYTES, response, ASN1_OCTET_STRING)
} static_ASN1_SEQUENCE_END(PRUNE_BYTES)

typedef struct {
	ASN1_ENUMERATED *status;
	PRUNE_BYTES *bytes;
} PRUNE_RESPONSE;

ASN1_SEQUENCE(PRUNE_RESPONSE) = {
	ASN1_SIMPLE(PRUNE_RESPONSE, status, ASN1_ENUMERATED),
	ASN1_EXP_OPT(PRUNE_RESPONSE, bytes, PRUNE_BYTES, 0)
} static_ASN1_SEQUENCE_END(PRUNE_RESPONSE)


/* Reads the answer file name in dfd and names its serial and issuer in *c: 0, or -1 when
 * it is not an OCSP answer of one of the configured issuers (left alone). */
static int read_answer(struct prune *pr, int dfd, const char *name, struct cand *c)
{
	uint8_t buf[PRUNE_FILE_MAX];
	const unsigned char *q = buf;
	PRUNE_RESPONSE *resp = NULL;
	PRUNE_BASIC *bs = NULL;
	const OCSP_CERTID *cid;
	ssize_t n;
	size_t i;
	int fd, rc = -1;

	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0 || n == (ssize_t)sizeof(buf) ||
	    (resp = (PRUNE_RESPONSE *)ASN1_item_d2i(NULL, &q, (long)n,
						      ASN1_ITEM_rptr(PRUNE_RESPONSE))) == NULL || q != buf + n ||
	    resp->bytes == NULL || OBJ_obj2nid(resp->bytes->type) != NID_id_pkix_OCSP_basic)
		goto out;
	q = ASN1_STRING_get0_data(resp->bytes->response);
	n = ASN1_STRING_length(resp->bytes->response);
	if ((bs = (PRUNE_BASIC *)ASN1_item_d2i(NULL, &q, (long)n, ASN1_ITEM_rptr(PRUNE_BASIC))) == NULL ||
	    q != ASN1_STRING_get0_data(resp->bytes->response) + n ||
	    sk_OCSP_SINGLERESP_num(bs->tbs->responses) != 1 ||
	    (cid = OCSP_SINGLERESP_get0_id(sk_OCSP_SINGLERESP_value(bs->tbs->responses, 0))) == NULL)
		goto out;
	for (i = 0; i < pr->cfg->n_issuers; i++)
		if (OCSP_id_issuer_cmp(pr->tmpl[i], cid) == 0)
			break;
	if (i == pr->cfg->n_issuers)
		goto out;
	if (ocsp_cid_serial((OCSP_CERTID *)cid, c->serial, &c->serial_len) != 0)
		goto out;
	c->issuer = pr->cfg->issuers[i].name;
	rc = 0;
out:
	ASN1_item_free((ASN1_VALUE *)bs, ASN1_ITEM_rptr(PRUNE_BASIC));
	ASN1_item_free((ASN1_VALUE *)resp, ASN1_ITEM_rptr(PRUNE_RESPONSE));
	ERR_clear_error();
	return rc;
}

/* Checks the answers read in the directory dfd against the db in one read txn,
 * begun only now: an answer whose file was read above was committed before it was
 * written, so this txn sees it. Removes those whose certificate is gone, belongs to
 * another issuer or has expired. */
static void flush(struct prune *pr, int dfd, int *removed)
{
	db_txn_t *txn;
	db_cert_t c;
	size_t i;
	uint8_t *gone;

	if (pr->n_cands == 0)
		return;
	if ((gone = calloc(pr->n_cands, 1)) == NULL || db_read_begin(pr->cfg->db, &txn) != 0) {
		free(gone);
		pr->n_cands = 0;
		pr->st.failed++;
		return;
	}
	for (i = 0; i < pr->n_cands; i++) {
		struct cand *k = &pr->cands[i];
		int rc = db_cert_get(txn, k->serial, k->serial_len, &c);
		gone[i] = rc == CAIRN_ENOENT ||
			  (rc == 0 && (strcmp(c.issuer, k->issuer) != 0 || c.not_after <= (int64_t)pr->now));
	}
	db_txn_end(txn);
	for (i = 0; i < pr->n_cands; i++)
		if (gone[i] && unlinkat(dfd, pr->cands[i].name, 0) == 0) {
			pr->st.removed++;
			(*removed)++;
		}
	free(gone);
	pr->n_cands = 0;
}

static int prune_dir(struct prune *pr, int dfd, enum where w, char *rel, size_t rel_len,
		     int depth);

/* One entry of directory dfd. Returns 1 when it was removed. */
static int prune_entry(struct prune *pr, int dfd, enum where w, char *rel, size_t rel_len,
		       int depth, const char *name, int *removed)
{
	struct stat sb;
	size_t n = strlen(name);
	int sub;

	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		return 0;
	if (S_ISDIR(sb.st_mode)) {
		int fd, in = 0;
		if ((sub = subdir(w, rel, name)) < 0 || depth >= PRUNE_DEPTH ||
		    rel_len + 1 + n >= OCSP_PUB_PATH_MAX)
			return 0;
		if ((fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
			return 0;
		flush(pr, dfd, removed); /* the batch holds this directory's answers only */
		rel[rel_len] = '/';
		memcpy(rel + rel_len + 1, name, n + 1);
		in = prune_dir(pr, fd, (enum where)sub, rel, rel_len + 1 + n, depth + 1);
		rel[rel_len] = '\0';
		/* A directory of a GET path emptied here goes too (never one we did not empty). */
		if (in > 0 && sub == W_OCSP && unlinkat(dfd, name, AT_REMOVEDIR) == 0)
			(*removed)++;
		return 0;
	}
	if (!S_ISREG(sb.st_mode))
		return 0; /* symlinks, sockets, ...: never ours */
	if (stray_tmp(w, rel, name)) {
		if (unlinkat(dfd, name, 0) == 0) {
			pr->st.removed++;
			(*removed)++;
		}
		return 1;
	}
	if ((w == W_OCSP || w == W_SHA256_HH) && ours(w, rel, name, n) &&
	    sb.st_size < PRUNE_FILE_MAX && n < sizeof(pr->cands[0].name)) {
		struct cand *c = &pr->cands[pr->n_cands];
		char get[OCSP_PUB_PATH_MAX], hash[OCSP_PUB_PATH_MAX], path[OCSP_PUB_PATH_MAX];
		size_t i;

		if (read_answer(pr, dfd, name, c) != 0)
			return 0;
		for (i = 0; i < pr->cfg->n_issuers; i++)
			if (strcmp(pr->cfg->issuers[i].name, c->issuer) == 0)
				break;
		if (ocsp_pub_names(pr->cfg->issuers[i].cert, c->serial, c->serial_len, get, hash,
				   NULL, NULL) != 0 ||
		    snprintf(path, sizeof(path), "%s/%s", rel, name) >= (int)sizeof(path) ||
		    (strcmp(path, get) != 0 && strcmp(path, hash) != 0)) {
			ERR_clear_error();
			return 0; /* an answer under a name cairn would not give it */
		}
		memcpy(c->name, name, n + 1);
		if (++pr->n_cands == PRUNE_BATCH)
			flush(pr, dfd, removed);
	}
	return 0;
}

/* Prunes directory dfd (closed here) at w, rel its path below the tree (rel_len bytes,
 * the buffer OCSP_PUB_PATH_MAX). Returns how many of its entries were removed, -1 when
 * the walk was stopped. */
static int prune_dir(struct prune *pr, int dfd, enum where w, char *rel, size_t rel_len,
		     int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int removed = 0;

	if (d == NULL) {
		close(dfd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (pr->cfg->stop != NULL && pr->cfg->stop(pr->cfg->stop_arg)) {
			removed = -1;
			break;
		}
		prune_entry(pr, dfd, w, rel, rel_len, depth, de->d_name, &removed);
	}
	if (removed >= 0)
		flush(pr, dfd, &removed);
	pr->n_cands = 0;
	closedir(d);
	return removed;
}

int ocsp_prune(const ocsp_prune_config_t *cfg, ocsp_pub_stats_t *st, cairn_err_t *err)
{
	struct prune pr = { 0 };
	cairn_err_t why = { 0 };
	char rel[OCSP_PUB_PATH_MAX];
	size_t i;
	int root = -1, fd, rc = 0;

	if (cfg == NULL || cfg->db == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "ocsp: pruning needs a db");
	/* The tree root must be ours and not a symlink (docs/security.md): pruning deletes. */
	if ((rc = pubtree_root(cfg->dir, &root, &why)) != 0)
		return cairn_err_set(err, rc, "ocsp: %s", why.msg);
	if (root < 0)
		return 0; /* no tree yet: nothing to prune */
	pr.cfg = cfg;
	pr.now = time(NULL);
	if ((pr.tmpl = calloc(cfg->n_issuers + 1, sizeof(*pr.tmpl))) == NULL ||
	    (pr.cands = calloc(PRUNE_BATCH, sizeof(*pr.cands))) == NULL) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < cfg->n_issuers; i++)
		if ((pr.tmpl[i] = OCSP_cert_to_id(EVP_sha1(), NULL, cfg->issuers[i].cert)) == NULL) {
			rc = cairn_err_ssl(err, CAIRN_ECRYPTO, "ocsp: CertID of %s", cfg->issuers[i].name);
			goto out;
		}
	/* ocsp/ here (absent, or a symlink: not walked), then the CRL side's crl/ and ca/ */
	snprintf(rel, sizeof(rel), "ocsp");
	if (((fd = openat(root, "ocsp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	     prune_dir(&pr, fd, W_OCSP, rel, strlen(rel), 0) >= 0))
		(void)pubtree_prune_at(root, PUBTREE_TREE, cfg->stop, cfg->stop_arg, &pr.st.removed);
	if (st != NULL)
		*st = pr.st;
out:
	for (i = 0; pr.tmpl != NULL && i < cfg->n_issuers; i++)
		OCSP_CERTID_free(pr.tmpl[i]);
	free(pr.tmpl);
	free(pr.cands);
	close(root);
	ERR_clear_error();
	return rc;
}
