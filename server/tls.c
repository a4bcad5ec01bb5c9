/* SPDX-License-Identifier: MIT */
/* The HTTPS listener's certificate as a swappable, reference-counted GnuTLS credential: each new connection gets the current one, and keeps it until it closes. */
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "server/internal.h"

/* Longest chain served (certificate + issuing CA, with room to spare). */
#define CRED_MAX_CHAIN 8

struct http_cred {
	atomic_int refs;
	gnutls_pcert_st pcert[CRED_MAX_CHAIN];
	unsigned n_pcert;
	gnutls_privkey_t key;
};

static void cred_put(struct http_cred *c)
{
	unsigned i;

	if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	for (i = 0; i < c->n_pcert; i++)
		gnutls_pcert_deinit(&c->pcert[i]);
	if (c->key != NULL)
		gnutls_privkey_deinit(c->key);
	free(c);
}

/* The current credential with a reference taken, or NULL. */
static struct http_cred *cred_get(server_t *s)
{
	struct http_cred *c;

	pthread_mutex_lock(&s->tls_lock);
	c = s->tls_cred;
	if (c != NULL)
		atomic_fetch_add(&c->refs, 1);
	pthread_mutex_unlock(&s->tls_lock);
	return c;
}

/* The first certificate of cert_pem, checked against key_pem (OpenSSL). */
static X509 *check_pair(const char *cert_pem, const char *key_pem, cairn_err_t *err)
{
	BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
	X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;

	if (x == NULL || k == NULL || X509_check_private_key(x, k) != 1) {
		cairn_err_ssl(err, CAIRN_ECONFIG, "the HTTPS key does not belong to its certificate");
		X509_free(x);
		x = NULL;
	}
	EVP_PKEY_free(k);
	BIO_free(cb);
	BIO_free(kb);
	ERR_clear_error();
	return x;
}

int http_tls_set(server_t *s, const char *cert_pem, const char *key_pem, cairn_err_t *err)
{
	gnutls_datum_t cd = { (unsigned char *)cert_pem, (unsigned)strlen(cert_pem) };
	gnutls_datum_t kd = { (unsigned char *)key_pem, (unsigned)strlen(key_pem) };
	struct http_cred *c = NULL, *old;
	X509 *x = check_pair(cert_pem, key_pem, err);
	unsigned n = CRED_MAX_CHAIN;
	int ret, rc = CAIRN_ECONFIG;

	if (x == NULL)
		return CAIRN_ECONFIG;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	atomic_init(&c->refs, 1);
	if ((ret = gnutls_pcert_list_import_x509_raw(c->pcert, &n, &cd, GNUTLS_X509_FMT_PEM, 0)) < 0 ||
	    (c->n_pcert = n) == 0 || (ret = gnutls_privkey_init(&c->key)) < 0 ||
	    (ret = gnutls_privkey_import_x509_raw(c->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		cairn_err_set(err, CAIRN_ECONFIG, "HTTPS certificate/key: %s", gnutls_strerror(ret));
		goto out;
	}
	pthread_mutex_lock(&s->tls_lock);
	old = s->tls_cred;
	s->tls_cred = c;
	pthread_mutex_unlock(&s->tls_lock);
	c = NULL;
	cred_put(old); /* freed when the last connection holding it closes */
	server_material_update(s, "https", x);
	rc = 0;
out:
	cred_put(c);
	X509_free(x);
	return rc;
}

void http_tls_clear(server_t *s)
{
	pthread_mutex_lock(&s->tls_lock);
	cred_put(s->tls_cred);
	s->tls_cred = NULL;
	pthread_mutex_unlock(&s->tls_lock);
}

void http_tls_hold_start(http_tls_hold_t *h, server_t *s, void *tls_session)
{
	h->s = s;
	h->cred = NULL;
	if (tls_session != NULL)
		gnutls_session_set_ptr(tls_session, h);
}

void http_tls_hold_end(http_tls_hold_t *h)
{
	cred_put(h->cred);
	h->cred = NULL;
}

int http_tls_retrieve(gnutls_session_t sess, const gnutls_datum_t *req_ca_rdn, int nreqs,
		      const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
		      gnutls_pcert_st **pcert, unsigned int *pcert_length,
		      gnutls_privkey_t *privkey)
{
	http_tls_hold_t *h = gnutls_session_get_ptr(sess);
	struct http_cred *c;
	(void)req_ca_rdn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;

	/* GnuTLS keeps pointing at what is returned here until the session ends (it
	 * does not free it): the connection holds a reference until it closes. */
	if (h == NULL || (c = cred_get(h->s)) == NULL)
		return -1;
	cred_put(h->cred);
	h->cred = c;
	*pcert = c->pcert;
	*pcert_length = c->n_pcert;
	*privkey = c->key;
	return 0;
}

/* The certificates a verification trusts: the root and every issuing CA, rotations
 * included (the listener's GnuTLS trust list is fixed when it starts). */
static X509_STORE *trust_store(server_t *s)
{
	X509_STORE *store = X509_STORE_new();
	ca_issuer_info_t info;
	size_t i;

	if (store == NULL || s->ca == NULL ||
	    X509_STORE_add_cert(store, ca_issuer_cert(s->ca, "root")) != 1)
		goto fail;
	for (i = 0; ca_issuer_at(s->ca, i, &info) == 0; i++)
		if (X509_STORE_add_cert(store, info.cert) != 1)
			goto fail;
	return store;
fail:
	X509_STORE_free(store);
	return NULL;
}

int http_tls_peer_trusted(server_t *s, const gnutls_datum_t *peers, unsigned n)
{
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *sent = NULL;
	X509 *leaf = NULL, *x;
	const unsigned char *p;
	unsigned i;
	int ok = 0;

	if (peers == NULL || n == 0 || n > CRED_MAX_CHAIN)
		return 0;
	p = peers[0].data;
	if ((leaf = d2i_X509(NULL, &p, (long)peers[0].size)) == NULL ||
	    p != peers[0].data + peers[0].size || (sent = sk_X509_new_null()) == NULL)
		goto out;
	for (i = 1; i < n; i++) {
		p = peers[i].data;
		if ((x = d2i_X509(NULL, &p, (long)peers[i].size)) == NULL)
			goto out;
		if (!sk_X509_push(sent, x)) {
			X509_free(x);
			goto out;
		}
	}
	if ((store = trust_store(s)) == NULL || (ctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(ctx, store, leaf, sent) != 1)
		goto out;
	ok = X509_verify_cert(ctx) == 1;
	if (!ok)
		log_debug("http", "client certificate not trusted: %s",
			  X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_pop_free(sent, X509_free);
	X509_free(leaf);
	return ok;
}
