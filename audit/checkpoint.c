/* SPDX-License-Identifier: MIT */
/* Signed audit statements: checkpoints (the chain head, stored as an event) and export seals. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "audit/audit_int.h"

int audit_checkpoint_message(uint64_t seq, const char *hash_hex, char *out, size_t cap)
{
	int n = snprintf(out, cap, "cairn-audit-checkpoint:v1:%" PRIu64 ":%s", seq, hash_hex);
	return n > 0 && (size_t)n < cap ? n : -1;
}

/* Is the newest event already a checkpoint? Then there is nothing new to vouch for. */
static int head_is_checkpoint(db_t *db, uint64_t seq)
{
	db_txn_t *txn = NULL;
	uint8_t key[8];
	const void *val;
	size_t len;
	json_t *o;
	int yes = 0;

	if (seq == 0 || db_read_begin(db, &txn) != 0)
		return 0;
	db_be64_put(key, seq);
	if (db_get(txn, DB_AUDIT, key, sizeof(key), &val, &len) == 0 &&
	    (o = json_loadb(val, len, 0, NULL)) != NULL) {
		const char *a = json_string_value(json_object_get(o, "action"));
		yes = a != NULL && strcmp(a, "audit.checkpoint") == 0;
		json_decref(o);
	}
	db_txn_end(txn);
	return yes;
}

struct cp_op {
	const audit_event_t *ev;
};

static int cp_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct cp_op *c = arg;

	return audit_append(txn, c->ev, NULL, err);
}

int audit_seal_message(const audit_seal_t *s, char *out, size_t cap)
{
	int n = snprintf(out, cap,
			 "cairn-audit-export:v1:first=%" PRIu64 ":last=%" PRIu64 ":events=%" PRIu64
			 ":hash=%s:since=%s:until=%s:exported=%s",
			 s->first, s->last, s->events, s->hash, s->since, s->until, s->exported);
	return n > 0 && (size_t)n < cap ? n : -1;
}

int audit_sign(EVP_PKEY *key, X509 *cert, const char *msg, char **sig_b64, char **cert_b64,
	       cairn_err_t *err)
{
	uint8_t sig[1024];
	size_t siglen = sizeof(sig);
	unsigned char *der = NULL;
	EVP_MD_CTX *md = NULL;
	int rc = 0, derlen;

	*sig_b64 = *cert_b64 = NULL;
	md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)msg, strlen(msg)) != 1) {
		rc = cairn_err_ssl(err, CAIRN_ECRYPTO, "signing an audit statement");
		goto out;
	}
	derlen = i2d_X509(cert, &der);
	*sig_b64 = b64url_encode(sig, siglen);
	*cert_b64 = derlen > 0 ? b64url_encode(der, (size_t)derlen) : NULL;
	if (*sig_b64 == NULL || *cert_b64 == NULL) {
		free(*sig_b64);
		free(*cert_b64);
		*sig_b64 = *cert_b64 = NULL;
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	}
out:
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	return rc;
}

int audit_checkpoint(db_t *db, EVP_PKEY *key, X509 *cert, const char *actor, uint64_t *seq,
		     cairn_err_t *err)
{
	uint8_t hash[32];
	char hex[65], msg[160], *sig_b64 = NULL, *cert_b64 = NULL;
	json_t *details = NULL;
	audit_event_t ev = { actor, "audit.checkpoint", NULL, NULL, NULL };
	struct cp_op c = { &ev };
	uint64_t head = 0;
	int rc;

	if (db == NULL || key == NULL || cert == NULL || actor == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "audit checkpoint: no signing key");
	if ((rc = audit_head(db, &head, hash, err)) != 0)
		return rc;
	if (seq != NULL)
		*seq = head;
	if (head == 0 || head_is_checkpoint(db, head))
		return 0;
	hex_encode(hash, sizeof(hash), hex);
	if (audit_checkpoint_message(head, hex, msg, sizeof(msg)) < 0)
		return cairn_err_set(err, CAIRN_EINVAL, "audit checkpoint: message too long");
	if ((rc = audit_sign(key, cert, msg, &sig_b64, &cert_b64, err)) != 0)
		goto out;
	details = json_pack("{s:I, s:s, s:s, s:s, s:s}", "seq", (json_int_t)head, "hash", hex,
			    "alg", "sha256", "signature", sig_b64, "cert", cert_b64);
	if (details == NULL) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	ev.details = details;
	rc = db_write(db, cp_op, &c, err);
out:
	free(sig_b64);
	free(cert_b64);
	json_decref(details);
	return rc;
}
