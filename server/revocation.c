/* SPDX-License-Identifier: MIT */
/* The daemon's revocation services: OCSP responder and CRLs, their signers from the token, their routes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "server/internal.h"

/* The OCSP responder of an issuing CA made by a rotation: the CA itself. */
static ocsp_issuer_t issuer_responder(const ca_issuer_info_t *info)
{
	return (ocsp_issuer_t){ info->name, info->cert, info->cert, info->key, NULL };
}

/* The published tree (ocsp.publish, crl.publish): the OCSP publisher with the responder's
 * issuers, handed to oc; *ocsp_tree and *crl_tree the absolute directories or NULL. */
static int publish_open(server_t *s, ocsp_config_t *oc, char **ocsp_tree, char **crl_tree,
			cairn_err_t *err)
{
	const cairn_config_t *cfg = s->cfg;
	size_t i;
	int rc;

	if ((cfg->ocsp_publish[0] != '\0' && (*ocsp_tree = config_path(cfg, cfg->ocsp_publish)) == NULL) ||
	    (cfg->crl_publish[0] != '\0' && (*crl_tree = config_path(cfg, cfg->crl_publish)) == NULL))
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	if (*ocsp_tree == NULL)
		return 0;
	if ((rc = ocsp_pub_new(s->db, *ocsp_tree, cfg->ocsp_publish_delay, &s->ocsp_pub, err)) != 0)
		return rc;
	for (i = 0; i < oc->n_issuers; i++)
		if ((rc = ocsp_pub_add_issuer(s->ocsp_pub, oc->issuers[i].name, oc->issuers[i].cert)) != 0)
			return cairn_err_set(err, rc, "ocsp: cannot publish for %s", oc->issuers[i].name);
	oc->publish = s->ocsp_pub;
	return 0;
}

int server_revocation_open(server_t *s, cairn_err_t *err)
{
	const cairn_config_t *cfg = s->cfg;
	X509 *root = ca_issuer_cert(s->ca, "root"), *issuing = ca_issuer_cert(s->ca, "issuing");
	X509 *ocsp_cert = NULL;
	EVP_PKEY *root_key = NULL, *issuing_key = NULL, *ocsp_key = NULL;
	ocsp_config_t oc = { 0 };
	crl_config_t cc = { 0 };
	char *publish = NULL, *ocsp_tree = NULL, *crl_tree = NULL;
	ca_issuer_info_t info;
	size_t i;
	int delegated = strcmp(cfg->ocsp_signer, "delegated") == 0, rc;

	/* Under an outside root (`cairn init --external-root`) the token holds no root key:
	 * the root's own OCSP and CRL are its owner's business, not served here. */
	if ((rc = hsm_key_get(s->hsm, CA_ROOT_KEY_LABEL, &root_key, err)) == CAIRN_EKEY)
		rc = 0;
	if (rc != 0 || (rc = hsm_key_get(s->hsm, cfg->issuing_key, &issuing_key, err)) != 0)
		goto out;
	/* The signer in use, renewed first when due (renew.c). */
	if ((rc = server_renew_open(s, &ocsp_cert, &ocsp_key, err)) != 0)
		goto out;
	server_material_update(s, "ocsp-signer", ocsp_cert);
	oc.db = s->db;
	oc.validity = cfg->ocsp_validity;
	oc.issuers[0] = (ocsp_issuer_t){ "issuing", issuing, delegated ? ocsp_cert : issuing,
					 delegated ? ocsp_key : issuing_key,
					 delegated ? issuing : NULL };
	oc.issuers[1] = (ocsp_issuer_t){ "root", root, root, root_key, NULL };
	oc.n_issuers = root_key ? 2 : 1;
	/* Issuing CAs made by rotations answer with their own key (RFC 6960 §4.2.2.2: the CA
	 * itself is an authorised responder): nothing of theirs expires before they do. */
	for (i = 1; ca_issuer_at(s->ca, i, &info) == 0; i++)
		oc.issuers[oc.n_issuers++] = issuer_responder(&info);
	if ((rc = publish_open(s, &oc, &ocsp_tree, &crl_tree, err)) != 0 ||
	    (rc = ocsp_open(&oc, &s->ocsp, err)) != 0)
		goto out;

	if ((publish = config_path(cfg, cfg->crl_publish_dir)) == NULL) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	cc.db = s->db;
	cc.issuers[0] = (crl_issuer_t){ "issuing", issuing, issuing_key, 1 };
	cc.issuers[1] = (crl_issuer_t){ "root", root, root_key, 0 };
	cc.n_issuers = root_key ? 2 : 1;
	for (i = 1; ca_issuer_at(s->ca, i, &info) == 0; i++)
		cc.issuers[cc.n_issuers++] = (crl_issuer_t){ info.name, info.cert, info.key, 1 };
	cc.publish_dir = publish;
	cc.period = cfg->crl_period;
	cc.overlap = cfg->crl_overlap;
	cc.debounce = cfg->crl_debounce;
	cc.keep_expired = (int)cfg->crl_keep_expired;
	cc.delta_period = cfg->crl_delta_period;
	cc.shards = (unsigned)cfg->crl_shards;
	cc.base_url = s->http_url;
	cc.tree_dir = crl_tree;
	if ((rc = crl_open(&cc, &s->crl, err)) != 0)
		goto out;
	if ((rc = ca_on_revoke(s->ca, ocsp_changed, s->ocsp)) != 0 ||
	    (rc = ca_on_issue(s->ca, ocsp_issued, s->ocsp)) != 0 ||
	    (rc = ca_on_revoke(s->ca, crl_changed, s->crl)) != 0) {
		cairn_err_set(err, rc, "cannot register revocation listeners");
		goto out;
	}
	if ((rc = ocsp_start(s->ocsp, err)) != 0 || (rc = crl_start(s->crl, err)) != 0 ||
	    (s->ocsp_pub != NULL && (rc = ocsp_pub_start(s->ocsp_pub, err)) != 0) ||
	    (rc = server_renew_start(s, err)) != 0)
		goto out;
out:
	X509_free(ocsp_cert);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(issuing_key);
	EVP_PKEY_free(ocsp_key);
	free(publish);
	free(ocsp_tree);
	free(crl_tree);
	return rc;
}

int server_revocation_add_issuer(server_t *s, const char *name, cairn_err_t *err)
{
	ca_issuer_info_t info;
	ocsp_issuer_t oi;
	crl_issuer_t ci;
	size_t i;
	int rc, found = 0;

	for (i = 0; !found && ca_issuer_at(s->ca, i, &info) == 0; i++)
		found = strcmp(info.name, name) == 0;
	if (!found)
		return cairn_err_set(err, CAIRN_ENOENT, "no issuing CA %s", name);
	oi = issuer_responder(&info);
	ci = (crl_issuer_t){ info.name, info.cert, info.key, 1 };
	if ((s->ocsp_pub != NULL && (rc = ocsp_pub_add_issuer(s->ocsp_pub, info.name, info.cert)) != 0) ||
	    (rc = ocsp_add_issuer(s->ocsp, &oi, err)) != 0 ||
	    (rc = crl_add_issuer(s->crl, &ci, err)) != 0)
		return rc;
	return 0;
}

void server_revocation_close(server_t *s)
{
	server_renew_close(s); /* first: a renewal may be switching the responder */
	ocsp_free(s->ocsp);
	ocsp_pub_free(s->ocsp_pub); /* after the responder: it tells the publisher of changes */
	crl_free(s->crl);
	s->ocsp = NULL;
	s->ocsp_pub = NULL;
	s->crl = NULL;
}

void route_ocsp_post(server_t *s, const server_req_t *req, const char *arg, http_reply_t *reply)
{
	(void)arg;
	ocsp_handle(s->ocsp, req->body, req->body_len, reply);
}

void route_ocsp_get(server_t *s, const server_req_t *req, const char *arg, http_reply_t *reply)
{
	(void)req;
	ocsp_handle_get(s->ocsp, arg, reply);
}

/* Seconds a client is asked to wait for a CRL still being built. */
#define CRL_RETRY_AFTER 10

/* /crl/{issuer}.crl and /crl/{issuer}/{shard}.crl: DER, application/pkix-crl, cacheable until nextUpdate. */
void route_crl(server_t *s, const server_req_t *req, const char *arg, http_reply_t *reply)
{
	char name[40];
	size_t n = strlen(arg), len = 0;
	uint8_t *der = NULL;
	int64_t tu = 0, nu = 0;
	int rc;
	(void)req;

	if (n <= 4 || n - 4 >= sizeof(name) || strcmp(arg + n - 4, ".crl") != 0) {
		http_reply_problem(reply, 404, NULL, "no CRL named %s", arg);
		return;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(n - 4), arg);
	if ((rc = crl_get(s->crl, name, &der, &len, &tu, &nu, NULL)) == CAIRN_EAGAIN) {
		/* The first build after the start runs in the background (crl_open). */
		http_reply_problem(reply, 503, NULL, "the CRL %s is being built: try again shortly",
				   arg);
		http_reply_header(reply, "Retry-After", "%d", CRL_RETRY_AFTER);
		return;
	}
	if (rc != 0) {
		http_reply_problem(reply, 404, NULL, "no CRL named %s", arg);
		return;
	}
	server_reply_crl(reply, der, len, tu, nu);
}

void server_reply_crl(http_reply_t *reply, uint8_t *der, size_t len, int64_t tu, int64_t nu)
{
	char date[40];
	time_t now = time(NULL);

	http_reply_set(reply, 200, "application/pkix-crl", (char *)der, len);
	time_http_date((time_t)tu, date, sizeof(date));
	http_reply_header(reply, "Last-Modified", "%s", date);
	time_http_date((time_t)nu, date, sizeof(date));
	http_reply_header(reply, "Expires", "%s", date);
	http_reply_header(reply, "Cache-Control", "max-age=%ld, public, no-transform, must-revalidate",
			  nu > now ? (long)(nu - now) : 0L);
}

void server_revocation_metrics(server_t *s, mtext_t *m)
{
	uint64_t hits = 0, live = 0, presigned = 0, crl_number = 0;
	size_t cached = 0, crl_len = 0;
	db_txn_t *txn;
	uint8_t *der = NULL;

	if (s->ocsp == NULL || s->crl == NULL)
		return;
	ocsp_stats(s->ocsp, &hits, &live, &presigned);
	if (db_read_begin(s->db, &txn) == 0) {
		cached = db_count(txn, DB_OCSP);
		db_txn_end(txn);
	}
	if (crl_get(s->crl, "issuing", &der, &crl_len, NULL, NULL, &crl_number) == 0)
		free(der);
	mtext_add(m,
		  "# HELP cairn_ocsp_responses_total OCSP answers by source.\n"
		  "# TYPE cairn_ocsp_responses_total counter\n"
		  "cairn_ocsp_responses_total{source=\"cache\"} %lu\n"
		  "cairn_ocsp_responses_total{source=\"signed\"} %lu\n"
		  "# HELP cairn_ocsp_presigned_total Responses pre-signed by the refresher.\n"
		  "# TYPE cairn_ocsp_presigned_total counter\ncairn_ocsp_presigned_total %lu\n"
		  "# HELP cairn_ocsp_swept_total Cached responses deleted: expired certificates, "
		  "stale unknown answers.\n"
		  "# TYPE cairn_ocsp_swept_total counter\ncairn_ocsp_swept_total %lu\n"
		  "# HELP cairn_ocsp_cache_writes_total Durable writes of the OCSP cache (pre-signed "
		  "answers stored, sweeps): background writes within cairn_db_writes_total.\n"
		  "# TYPE cairn_ocsp_cache_writes_total counter\ncairn_ocsp_cache_writes_total %lu\n"
		  "# HELP cairn_ocsp_cached_responses Pre-signed responses stored.\n"
		  "# TYPE cairn_ocsp_cached_responses gauge\ncairn_ocsp_cached_responses %zu\n"
		  "# HELP cairn_crl_number CRL Number of the issuing CA's current CRL.\n"
		  "# TYPE cairn_crl_number gauge\ncairn_crl_number %lu\n"
		  "# HELP cairn_crl_bytes Size of the issuing CA's current CRL.\n"
		  "# TYPE cairn_crl_bytes gauge\ncairn_crl_bytes %zu\n",
		  (unsigned long)hits, (unsigned long)live, (unsigned long)presigned,
		  (unsigned long)ocsp_swept(s->ocsp), (unsigned long)ocsp_cache_writes(s->ocsp), cached,
		  (unsigned long)crl_number, crl_len);
	mtext_family(m, "cairn_crl_pending", "gauge",
		     "CRLs whose first build since the start has not finished (served 503, or "
		     "the CRL published before the start while it is valid).");
	mtext_add(m, "cairn_crl_pending %zu\n", crl_pending(s->crl, NULL, NULL));
	if (s->ocsp_pub != NULL) {
		ocsp_pub_stats_t ps;
		ocsp_pub_stats(s->ocsp_pub, &ps);
		mtext_add(m,
			  "# HELP cairn_ocsp_published_total OCSP answers written to the published "
			  "tree (ocsp.publish), files removed, answers that could not be written.\n"
			  "# TYPE cairn_ocsp_published_total counter\n"
			  "cairn_ocsp_published_total{result=\"written\"} %lu\n"
			  "cairn_ocsp_published_total{result=\"removed\"} %lu\n"
			  "cairn_ocsp_published_total{result=\"failed\"} %lu\n",
			  (unsigned long)ps.written, (unsigned long)ps.removed,
			  (unsigned long)ps.failed);
	}
}
