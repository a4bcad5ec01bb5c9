/* SPDX-License-Identifier: MIT */
/* One certificate as an inventory record: names through the one extractor, key, signature,
 * validity, and whether it chains to cairn's roots or the system store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "inventory/inventory_int.h"

struct inv_trust {
	X509_STORE *system; /* the system default paths */
	X509_STORE *cairn;  /* cairn's root */
	X509 *issuing;      /* cairn's issuing CA (an intermediate), may be NULL */
};

X509_STORE *inv_system_store(void)
{
	X509_STORE *st = X509_STORE_new();
	const char *file = getenv(X509_get_default_cert_file_env());

	/* The bundle file only: X509_STORE_set_default_paths also adds a directory store
	 * that reads the whole certificate directory at every lookup (perf: 3000 imported
	 * certificates spent most of their time in getdents). */
	if (st != NULL && X509_STORE_load_file(st, file ? file : X509_get_default_cert_file()) != 1)
		ERR_clear_error(); /* no system bundle: nothing chains to "system" */
	return st;
}

inv_trust_t *inv_trust_new(const ca_t *ca)
{
	inv_trust_t *t = calloc(1, sizeof(*t));
	X509 *root = ca ? ca_issuer_cert(ca, "root") : NULL;

	if (t == NULL || (t->system = inv_system_store()) == NULL ||
	    (t->cairn = X509_STORE_new()) == NULL) {
		inv_trust_free(t);
		return NULL;
	}
	if (root != NULL)
		X509_STORE_add_cert(t->cairn, root);
	if (ca != NULL && (t->issuing = ca_issuer_cert(ca, "issuing")) != NULL)
		X509_up_ref(t->issuing);
	ERR_clear_error();
	return t;
}

void inv_trust_free(inv_trust_t *t)
{
	if (t == NULL)
		return;
	X509_STORE_free(t->system);
	X509_STORE_free(t->cairn);
	X509_free(t->issuing);
	free(t);
}

int inv_verify(X509_STORE *store, X509 *x, STACK_OF(X509) *untrusted, int check_time,
	       const char **why)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok = 0;

	if (why)
		*why = "out of memory";
	if (ctx == NULL || store == NULL || !X509_STORE_CTX_init(ctx, store, x, untrusted))
		goto out;
	if (!check_time)
		X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME);
	ok = X509_verify_cert(ctx) == 1;
	if (why)
		*why = ok ? NULL : X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
out:
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

/* "cairn", "system" or "unknown": who vouches for x's issuer (validity dates aside). */
static const char *trust_of(const inv_trust_t *t, X509 *x, STACK_OF(X509) *untrusted)
{
	STACK_OF(X509) *chain = NULL;
	const char *r = "unknown";
	int i;

	if (t == NULL)
		return r;
	chain = sk_X509_new_null();
	if (chain == NULL)
		return r;
	if (t->issuing != NULL)
		sk_X509_push(chain, t->issuing);
	for (i = 0; untrusted != NULL && i < sk_X509_num(untrusted); i++)
		sk_X509_push(chain, sk_X509_value(untrusted, i));
	if (inv_verify(t->cairn, x, chain, 0, NULL))
		r = "cairn";
	else if (inv_verify(t->system, x, chain, 0, NULL))
		r = "system";
	sk_X509_free(chain);
	return r;
}

int inv_fingerprint(X509 *x, uint8_t fp[INV_FP_LEN])
{
	unsigned int len = 0;

	return X509_digest(x, EVP_sha256(), fp, &len) == 1 && len == INV_FP_LEN ? 0 : CAIRN_ECRYPTO;
}

static json_t *sans_of(X509 *x)
{
	ca_names_t n = { 0 };
	cairn_err_t err = { 0 };
	json_t *arr = json_array();
	char buf[600];
	size_t i;

	/* Names a foreign certificate carries that cairn's extractor refuses are left out:
	 * the record still stands on subject, issuer and fingerprint. */
	if (arr != NULL && ca_names_from_cert(x, &n, &err) == 0) {
		for (i = 0; i < n.n_san; i++) {
			snprintf(buf, sizeof(buf), "%s:%s", ca_name_type_str(n.san[i].type),
				 n.san[i].text);
			json_array_append_new(arr, util_json_text(buf));
		}
		ca_names_clear(&n);
	}
	return arr;
}

json_t *inv_record_new(X509 *x, const inv_trust_t *trust, STACK_OF(X509) *untrusted)
{
	uint8_t fp[INV_FP_LEN];
	char fphex[2 * INV_FP_LEN + 1], *subject = NULL, *issuer = NULL, *serial = NULL;
	const char *key = "unknown", *sig = "unknown", *digest = "none";
	EVP_PKEY *pk = X509_get0_pubkey(x);
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	BIGNUM *bn = NULL;
	int64_t nb = 0, na = 0;
	int md_nid = NID_undef, pk_nid = NID_undef, bits = 0;
	json_t *rec = NULL;

	if (inv_fingerprint(x, fp) != 0)
		return NULL;
	hex_encode(fp, sizeof(fp), fphex);
	subject = ca_dn_text(X509_get_subject_name(x));
	issuer = ca_dn_text(X509_get_issuer_name(x));
	if ((bn = ASN1_INTEGER_to_BN(sn, NULL)) != NULL && (serial = BN_bn2hex(bn)) != NULL) {
		char *p;
		for (p = serial; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
	}
	if (pk != NULL) {
		bits = EVP_PKEY_get_bits(pk);
		key = EVP_PKEY_get0_type_name(pk);
		if (key == NULL)
			key = "unknown";
	}
	if (OBJ_find_sigid_algs(X509_get_signature_nid(x), &md_nid, &pk_nid)) {
		sig = OBJ_nid2ln(X509_get_signature_nid(x));
		digest = md_nid == NID_undef ? "none" : OBJ_nid2sn(md_nid);
	}
	if (ca_time_unix(X509_get0_notBefore(x), &nb) != 0 ||
	    ca_time_unix(X509_get0_notAfter(x), &na) != 0)
		nb = na = 0;
	rec = json_pack("{s:s, s:o, s:o, s:s, s:o, s:s, s:i, s:s, s:s, s:I, s:I, s:b, s:s, s:[], s:[]}",
			"fp", fphex, "subject", util_json_text(subject ? subject : ""), "issuer",
			util_json_text(issuer ? issuer : ""), "serial", serial ? serial : "", "sans",
			sans_of(x), "key", key, "bits", bits, "sig", sig ? sig : "unknown", "digest",
			digest ? digest : "none", "not_before", (json_int_t)nb, "not_after",
			(json_int_t)na, "ca", X509_check_ca(x) > 0, "trust",
			trust_of(trust, x, untrusted), "tags", "seen");
	OPENSSL_free(serial);
	BN_free(bn);
	free(subject);
	free(issuer);
	ERR_clear_error();
	return rec;
}

int inv_record_weak(const json_t *rec, char *why, size_t cap)
{
	const char *key = json_string_value(json_object_get(rec, "key"));
	const char *digest = json_string_value(json_object_get(rec, "digest"));
	json_int_t bits = json_integer_value(json_object_get(rec, "bits"));
	char buf[96] = "";

	if (key != NULL && strcmp(key, "RSA") == 0 && bits < INV_WEAK_RSA_BITS)
		snprintf(buf, sizeof(buf), "RSA-%lld key", (long long)bits);
	if (digest != NULL && (strcmp(digest, "SHA1") == 0 || strcmp(digest, "MD5") == 0))
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s signature",
			 buf[0] ? ", " : "", digest);
	if (why != NULL)
		snprintf(why, cap, "%s", buf);
	return buf[0] != '\0';
}
