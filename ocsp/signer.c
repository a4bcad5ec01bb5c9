/* SPDX-License-Identifier: MIT */
/* The responders that sign OCSP answers: held by reference, replaced at run time (a renewed delegated signer) while answers in flight finish with the old one; the record of those the cache was signed by. */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "ocsp/ocsp_int.h"

/* SHA-384 for keys above 256 bits of EC (P-384), SHA-256 otherwise (P-256, RSA). */
static const EVP_MD *key_md(EVP_PKEY *k)
{
	if (EVP_PKEY_is_a(k, "EC") && EVP_PKEY_get_bits(k) > 256)
		return EVP_sha384();
	if (EVP_PKEY_is_a(k, "ED25519"))
		return NULL;
	return EVP_sha256();
}

void ocsp_signer_put(struct ocsp_signer *sg)
{
	if (sg == NULL || atomic_fetch_sub(&sg->refs, 1) != 1)
		return;
	X509_free(sg->cert);
	X509_free(sg->extra);
	EVP_PKEY_free(sg->key);
	sk_X509_free(sg->certs);
	free(sg);
}

struct ocsp_signer *ocsp_signer_get(ocsp_t *o, size_t i)
{
	struct ocsp_signer *sg;

	pthread_mutex_lock(&o->sg_mu);
	sg = o->iss[i].sg;
	atomic_fetch_add(&sg->refs, 1);
	pthread_mutex_unlock(&o->sg_mu);
	return sg;
}

/* A responder holding references on cert, key and extra (may be NULL); NULL on failure. */
static struct ocsp_signer *signer_new(X509 *cert, EVP_PKEY *key, X509 *extra)
{
	struct ocsp_signer *sg = calloc(1, sizeof(*sg));
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (sg == NULL)
		return NULL;
	atomic_init(&sg->refs, 1);
	X509_up_ref(cert);
	sg->cert = cert;
	EVP_PKEY_up_ref(key);
	sg->key = key;
	sg->md = key_md(key);
	if ((sg->certs = sk_X509_new_null()) == NULL)
		goto fail;
	if (extra != NULL) {
		X509_up_ref(extra);
		sg->extra = extra;
		if (!sk_X509_push(sg->certs, extra))
			goto fail;
	}
	if (!X509_digest(cert, EVP_sha256(), md, &mdlen))
		goto fail;
	memcpy(sg->tag, md, sizeof(sg->tag));
	return sg;
fail:
	ocsp_signer_put(sg);
	return NULL;
}

int ocsp_signer_init(ocsp_t *o, size_t i, const ocsp_issuer_t *c)
{
	struct ocsp_iss *is = &o->iss[i];
	uint32_t tag;

	if ((is->sg = signer_new(c->signer_cert, c->signer_key, c->extra_cert)) == NULL)
		return CAIRN_ENOMEM;
	memcpy(&tag, is->sg->tag, sizeof(tag));
	atomic_store(&is->signer_tag, tag);
	return 0;
}

int ocsp_set_signer(ocsp_t *o, const char *issuer, X509 *signer_cert, EVP_PKEY *signer_key,
		    X509 *extra_cert, cairn_err_t *err)
{
	struct ocsp_signer *sg, *old;
	uint32_t tag;
	size_t i;

	for (i = 0; i < o->n_iss && strcmp(o->iss[i].name, issuer) != 0; i++)
		;
	if (i == o->n_iss || signer_cert == NULL || signer_key == NULL ||
	    (X509_cmp(o->iss[i].cert, signer_cert) != 0 &&
	     X509_check_issued(o->iss[i].cert, signer_cert) != X509_V_OK) ||
	    EVP_PKEY_eq(X509_get0_pubkey(signer_cert), signer_key) != 1) {
		ERR_clear_error();
		return cairn_err_set(err, CAIRN_EINVAL,
				     "ocsp: no issuer %s, or a responder not issued by it for that key",
				     issuer);
	}
	if ((sg = signer_new(signer_cert, signer_key, extra_cert)) == NULL)
		return cairn_err_ssl(err, CAIRN_ENOMEM, "ocsp: cannot set up the responder");
	memcpy(&tag, sg->tag, sizeof(tag));
	pthread_mutex_lock(&o->sg_mu);
	old = o->iss[i].sg;
	o->iss[i].sg = sg;
	atomic_store(&o->iss[i].signer_tag, tag);
	pthread_mutex_unlock(&o->sg_mu);
	ocsp_signer_put(old);
	/* Every cached answer of the old responder now fails ocsp_cache_matches: it is
	 * signed live until the refresher, woken here, has re-signed the whole cache. */
	pthread_mutex_lock(&o->mu);
	o->rescan = 1;
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
	return 0;
}

/* ---- the record of the responders the cache was signed by (ocsp_int.h) ---- */

size_t ocsp_signers_encode(const ocsp_t *o, uint8_t *buf)
{
	size_t i, n = 0, len;

	for (i = 0; i < atomic_load(&o->n_iss); i++) {
		uint32_t tag = atomic_load(&o->iss[i].signer_tag);
		len = strlen(o->iss[i].name) + 1;
		memcpy(buf + n, o->iss[i].name, len);
		memcpy(buf + n + len, &tag, 4);
		n += len + 4;
	}
	return n;
}

int ocsp_signers_changed(ocsp_t *o)
{
	uint8_t cur[OCSP_SIGNERS_MAX];
	size_t n = ocsp_signers_encode(o, cur), i = 0, j, vlen;
	const uint8_t *v;
	db_txn_t *txn = NULL;
	int changed = -1;

	if (db_read_begin(o->db, &txn) != 0)
		return 0;
	if (db_get(txn, DB_META, OCSP_SIGNERS_META, strlen(OCSP_SIGNERS_META), (const void **)&v,
		   &vlen) == 0) {
		for (changed = 0; i < n && !changed; i = j + 5) {
			const uint8_t *p = v, *end = v + vlen;
			j = i + strlen((const char *)cur + i);
			changed = 1;
			while (p < end) { /* this issuer's entry in the record */
				const uint8_t *z = memchr(p, 0, (size_t)(end - p));
				if (z == NULL || end - z < 5)
					break;
				if ((size_t)(z - p) == j - i && memcmp(p, cur + i, j - i) == 0) {
					changed = memcmp(z + 1, cur + j + 1, 4) != 0;
					break;
				}
				p = z + 5;
			}
		}
	}
	db_txn_end(txn);
	return changed;
}
