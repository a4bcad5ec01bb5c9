/* SPDX-License-Identifier: MIT */
/* JWS for ACME (RFC 7515/7518/8037/8555 §6.2): flattened JSON, protected header checks, signature over the received strings. */
/*
 * ECDSA signatures are checked with ECDSA_do_verify on the key's legacy EC_KEY (kept
 * with the cached key): EVP_DigestVerifyInit fetches the signature method from the
 * provider store on every call, under the store's locks, and the provider wants the
 * signature DER-encoded first; in the daemon that was a fifth of each JWS check
 * (bench/README.md, ACME profile). The legacy EC_KEY API is deprecated in 3.0 but
 * present (ca/pubkey.c and hsm/ rely on it as well).
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>

#include "acme/acme_int.h"

#define ACME_ALGS "RS256, ES256, ES384, EdDSA"
#define JWK_RSA_MIN_BITS 2048
#define JWK_RSA_MAX_BITS 8192

static int b64_member(const json_t *obj, const char *name, uint8_t **out, size_t *len)
{
	const char *s = json_string_value(json_object_get(obj, name));

	if (s == NULL)
		return CAIRN_EINVAL;
	return b64url_decode(s, strlen(s), out, len);
}

/*
 * The RSA members of a JWK as RFC 7518 §6.3.1 wants them, and a key worth trusting:
 * n and e in minimal octets (no leading zero byte: one key, one encoding, so one
 * thumbprint and one account), n of JWK_RSA_MIN_BITS..JWK_RSA_MAX_BITS bits counted on
 * the number (zero bytes in front of a 512-bit modulus do not make it 2048), e odd and
 * at least 65537 (below 2^64: at most 8 octets). e = 1 would make every payload its own
 * signature. 0, or CAIRN_EINVAL with why.
 */
static int rsa_jwk_problem(const uint8_t *nb, size_t nlen, const BIGNUM *n, const uint8_t *eb,
			   size_t elen, const BIGNUM *e, char *why, size_t cap)
{
	int bits = BN_num_bits(n);

	if (nlen == 0 || nb[0] == 0 || elen == 0 || eb[0] == 0) {
		snprintf(why, cap, "RSA jwk: n and e must be minimal octets (no leading zero byte, "
			 "RFC 7518 6.3.1)");
		return CAIRN_EINVAL;
	}
	if (bits < JWK_RSA_MIN_BITS || bits > JWK_RSA_MAX_BITS) {
		snprintf(why, cap, "RSA jwk: n of %d bits, must be %d..%d", bits,
			 JWK_RSA_MIN_BITS, JWK_RSA_MAX_BITS);
		return CAIRN_EINVAL;
	}
	if (elen > 8 || !BN_is_odd(e) || BN_num_bits(e) < 17) {
		snprintf(why, cap, "RSA jwk: e must be odd, at least 65537 and below 2^64");
		return CAIRN_EINVAL;
	}
	return 0;
}

/* The members of a public JWK of each kty cairn takes, sorted: exactly what its RFC 7638
 * thumbprint hashes, and all that is kept of a key a client sends. NULL for another kty. */
static const char *const *jwk_members(const json_t *jwk)
{
	static const char *const rsa[] = { "e", "kty", "n", NULL };
	static const char *const ec[] = { "crv", "kty", "x", "y", NULL };
	static const char *const okp[] = { "crv", "kty", "x", NULL };
	const char *kty = json_string_value(json_object_get(jwk, "kty"));

	if (kty == NULL)
		return NULL;
	if (strcmp(kty, "RSA") == 0)
		return rsa;
	if (strcmp(kty, "EC") == 0)
		return ec;
	if (strcmp(kty, "OKP") == 0)
		return okp;
	return NULL;
}

/* 1 when jwk carries private key material (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2):
 * why then names the first such member. 0 otherwise. */
static int jwk_is_private(const json_t *jwk, char *why, size_t cap)
{
	static const char *const private[] = { "d", "p", "q", "dp", "dq", "qi", "oth", "k",
					       NULL };
	const char *const *m;

	for (m = private; *m; m++)
		if (json_object_get(jwk, *m) != NULL) {
			snprintf(why, cap, "jwk must not contain private key material (%s)", *m);
			return 1;
		}
	return 0;
}

json_t *acme_jwk_public(const json_t *jwk, char *why, size_t cap)
{
	const char *const *m = jwk_members(jwk);
	json_t *out;

	if (!json_is_object(jwk) || m == NULL) {
		snprintf(why, cap, "jwk must be an object with kty RSA, EC or OKP");
		return NULL;
	}
	if (jwk_is_private(jwk, why, cap))
		return NULL;
	if ((out = json_object()) == NULL) {
		snprintf(why, cap, "out of memory");
		return NULL;
	}
	for (; *m; m++) {
		json_t *v = json_object_get(jwk, *m);
		if (!json_is_string(v)) {
			snprintf(why, cap, "jwk lacks the members of its kty (%s)", *m);
			json_decref(out);
			return NULL;
		}
		json_object_set(out, *m, v);
	}
	return out;
}

EVP_PKEY *acme_jwk_to_pkey(const json_t *jwk, char *why, size_t cap)
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	uint8_t *a = NULL, *b = NULL, *pub = NULL;
	size_t alen = 0, blen = 0;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	BIGNUM *n = NULL, *e = NULL;

	if (!json_is_object(jwk) || kty == NULL) {
		snprintf(why, cap, "jwk must be an object with kty");
		goto out;
	}
	if (jwk_is_private(jwk, why, cap))
		goto out;
	if (strcmp(kty, "OKP") == 0) {
		if (crv == NULL || strcmp(crv, "Ed25519") != 0 || b64_member(jwk, "x", &a, &alen) ||
		    alen != 32) {
			snprintf(why, cap, "OKP jwk: only Ed25519 with a 32-byte x");
			goto out;
		}
		pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, a, alen);
		if (pk == NULL)
			snprintf(why, cap, "bad Ed25519 key");
		goto out;
	}
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL)
		goto out;
	if (strcmp(kty, "RSA") == 0) {
		if (b64_member(jwk, "n", &a, &alen) || b64_member(jwk, "e", &b, &blen) ||
		    alen > JWK_RSA_MAX_BITS / 8 + 1) {
			snprintf(why, cap, "RSA jwk: n (%d..%d bits) and e required",
				 JWK_RSA_MIN_BITS, JWK_RSA_MAX_BITS);
			goto out;
		}
		if ((n = BN_bin2bn(a, (int)alen, NULL)) == NULL ||
		    (e = BN_bin2bn(b, (int)blen, NULL)) == NULL ||
		    rsa_jwk_problem(a, alen, n, b, blen, e, why, cap) != 0)
			goto out;
		if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
			goto out;
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	} else if (strcmp(kty, "EC") == 0) {
		const char *group = NULL;
		size_t flen = 0;

		if (crv != NULL && strcmp(crv, "P-256") == 0) {
			group = "prime256v1";
			flen = 32;
		} else if (crv != NULL && strcmp(crv, "P-384") == 0) {
			group = "secp384r1";
			flen = 48;
		}
		if (group == NULL || b64_member(jwk, "x", &a, &alen) ||
		    b64_member(jwk, "y", &b, &blen) || alen != flen || blen != flen) {
			snprintf(why, cap, "EC jwk: crv P-256 or P-384 with x and y of the curve's size");
			goto out;
		}
		pub = malloc(1 + 2 * flen);
		if (pub == NULL)
			goto out;
		pub[0] = 0x04;
		memcpy(pub + 1, a, flen);
		memcpy(pub + 1 + flen, b, flen);
		if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
		    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * flen))
			goto out;
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	} else {
		snprintf(why, cap, "unsupported jwk kty %s", kty);
		goto out;
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	if (ctx == NULL || params == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		snprintf(why, cap, "jwk is not a valid %s public key", kty);
		pk = NULL;
	}
out:
	if (pk == NULL && why[0] == '\0')
		snprintf(why, cap, "unusable jwk");
	ERR_clear_error();
	BN_free(n);
	BN_free(e);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	free(a);
	free(b);
	free(pub);
	return pk;
}

int acme_jwk_thumbprint(const json_t *jwk, char *out, size_t cap)
{
	const char *const *m = jwk_members(jwk);
	json_t *req = json_object();
	uint8_t md[32];
	char *text = NULL, *b = NULL;
	int rc = CAIRN_EINVAL;

	if (m == NULL || req == NULL)
		goto out;
	for (; *m; m++) {
		json_t *v = json_object_get(jwk, *m);
		if (!json_is_string(v))
			goto out;
		json_object_set(req, *m, v);
	}
	text = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL)
		goto out;
	SHA256((const uint8_t *)text, strlen(text), md);
	b = b64url_encode(md, sizeof(md));
	if (b == NULL)
		goto out;
	snprintf(out, cap, "%s", b);
	rc = 0;
out:
	free(text);
	free(b);
	json_decref(req);
	return rc;
}

static EVP_MD *md_sha256, *md_sha384;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

/* Explicitly fetched digests: the implicit fetch behind EVP_sha256() takes locks per call. */
static void md_init(void)
{
	md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	md_sha384 = EVP_MD_fetch(NULL, "SHA384", NULL);
}

static size_t slot_of(const char *text, size_t n)
{
	size_t h = 5381;

	for (; *text; text++)
		h = h * 33 + (unsigned char)*text;
	return h % n;
}

/* The verifier of a JWK: pk, ec (pk's legacy EC_KEY, ECDSA keys only, else NULL), and
 * pk's type and size, asked once when the key is built, not on every request. */
typedef struct verifier {
	EVP_PKEY *pk;
	EC_KEY *ec;
	int type, bits;
} verifier_t;

static void verifier_clear(verifier_t *v)
{
	EVP_PKEY_free(v->pk);
	EC_KEY_free(v->ec);
	v->pk = NULL;
	v->ec = NULL;
}

/* Builds the verifier of jwk; 0 or CAIRN_EINVAL with why. */
static int verifier_new(const json_t *jwk, verifier_t *v, char *why, size_t cap)
{
	v->ec = NULL;
	v->pk = acme_jwk_to_pkey(jwk, why, cap);
	if (v->pk == NULL)
		return CAIRN_EINVAL;
	v->type = EVP_PKEY_get_base_id(v->pk);
	v->bits = EVP_PKEY_get_bits(v->pk);
	if (v->type == EVP_PKEY_EC &&
	    (v->ec = EVP_PKEY_get1_EC_KEY(v->pk)) == NULL) {
		snprintf(why, cap, "unusable EC jwk");
		verifier_clear(v);
		return CAIRN_EINVAL;
	}
	return 0;
}

/* The verifier of jwk (thumbprint thumb) from the cache, or built and cached; *v holds
 * references of its own (verifier_clear). 0 or CAIRN_EINVAL with why. */
static int cached_verifier(acme_t *a, const json_t *jwk, const char *thumb, verifier_t *v,
			   char *why, size_t cap)
{
	acme_keyslot_t *s = &a->keys[slot_of(thumb, ACME_KEYCACHE)];
	verifier_t old = { NULL, NULL, 0, 0 };

	pthread_mutex_lock(&a->key_lock);
	if (s->pk != NULL && strcmp(s->thumb, thumb) == 0 && EVP_PKEY_up_ref(s->pk) == 1) {
		v->pk = s->pk;
		v->ec = s->ec;
		v->type = s->type;
		v->bits = s->bits;
		if (v->ec != NULL)
			EC_KEY_up_ref(v->ec);
	}
	pthread_mutex_unlock(&a->key_lock);
	if (v->pk != NULL)
		return 0;
	if (verifier_new(jwk, v, why, cap) != 0)
		return CAIRN_EINVAL;
	if (EVP_PKEY_up_ref(v->pk) != 1)
		return 0; /* usable, just not cached */
	if (v->ec != NULL && EC_KEY_up_ref(v->ec) != 1) {
		EVP_PKEY_free(v->pk); /* the slot's reference, not taken after all */
		return 0;
	}
	pthread_mutex_lock(&a->key_lock);
	old.pk = s->pk;
	old.ec = s->ec;
	s->pk = v->pk;
	s->ec = v->ec;
	s->type = v->type;
	s->bits = v->bits;
	snprintf(s->thumb, sizeof(s->thumb), "%s", thumb);
	pthread_mutex_unlock(&a->key_lock);
	verifier_clear(&old);
	return 0;
}

void acme_jws_caches_free(acme_t *a)
{
	size_t i;

	for (i = 0; i < ACME_KEYCACHE; i++) {
		EVP_PKEY_free(a->keys[i].pk);
		EC_KEY_free(a->keys[i].ec);
	}
}

/* ECDSA: sig is the JWS form r || s (half bytes each); 0 when it verifies over md. */
static int ecdsa_check(EC_KEY *ec, const uint8_t *md, size_t mdlen, const uint8_t *sig,
		       size_t half)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)half, NULL), *s = BN_bin2bn(sig + half, (int)half, NULL);
	int rc = CAIRN_EAUTH;

	if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
		BN_free(r);
		BN_free(s);
	} else if (ECDSA_do_verify(md, (int)mdlen, es, ec) == 1) {
		rc = 0;
	}
	ECDSA_SIG_free(es);
	return rc;
}

/*
 * SHA-256 of the signing input "prot.payload" (ES256, nearly every ACME client), hashed
 * in three pieces with the low-level functions: no copy of the input and no EVP_MD_CTX
 * (EVP_Digest allocates one and asks the provider for a context on every call, ~0.4 %
 * of the daemon's CPU on the ACME path; OpenSSL 3.0's one-shot SHA256() even fetches
 * the digest by name each time).
 */
static void es256_digest(const char *prot, size_t plen, const char *payload, size_t ylen,
			 uint8_t *hash)
{
	SHA256_CTX c;

	SHA256_Init(&c);
	SHA256_Update(&c, prot, plen);
	SHA256_Update(&c, ".", 1);
	SHA256_Update(&c, payload, ylen);
	SHA256_Final(hash, &c);
}

/* Checks the key fits alg and verifies sig over the signing input "prot.payload".
 * Returns 0 or negative with why. */
static int verify_sig(const verifier_t *v, const char *alg, const char *prot,
		      const char *payload, const uint8_t *sig, size_t slen, char *why,
		      size_t cap)
{
	EVP_MD_CTX *md = NULL;
	const EVP_MD *digest = NULL;
	uint8_t hash[EVP_MAX_MD_SIZE];
	unsigned int hlen = 0;
	size_t plen = strlen(prot), ylen = strlen(payload);
	char *input = NULL;
	int rc = CAIRN_EAUTH, type = v->type, bits = v->bits;

	pthread_once(&md_once, md_init);
	if (strcmp(alg, "RS256") == 0 && type == EVP_PKEY_RSA) {
		digest = md_sha256;
	} else if (strcmp(alg, "ES256") == 0 && type == EVP_PKEY_EC && bits == 256) {
		digest = md_sha256;
	} else if (strcmp(alg, "ES384") == 0 && type == EVP_PKEY_EC && bits == 384) {
		digest = md_sha384;
	} else if (strcmp(alg, "EdDSA") == 0 && type == EVP_PKEY_ED25519) {
		digest = NULL;
	} else {
		snprintf(why, cap, "alg %s does not match the key", alg);
		return CAIRN_EAUTH;
	}
	if (type == EVP_PKEY_EC && slen != (bits == 256 ? 64u : 96u)) {
		/* JWS carries ECDSA as fixed-size r || s. */
		snprintf(why, cap, "ECDSA signature must be %d bytes", bits == 256 ? 64 : 96);
		return CAIRN_EAUTH;
	}
	if (type == EVP_PKEY_EC && bits == 256) {
		es256_digest(prot, plen, payload, ylen, hash);
		if (v->ec != NULL)
			rc = ecdsa_check(v->ec, hash, SHA256_DIGEST_LENGTH, sig, 32);
		goto out;
	}
	/* The others take the whole input: ES384 hashes it, RSA and EdDSA verify it. */
	if ((input = malloc(plen + ylen + 2)) == NULL) {
		rc = CAIRN_ENOMEM;
		goto out;
	}
	memcpy(input, prot, plen);
	input[plen] = '.';
	memcpy(input + plen + 1, payload, ylen + 1);
	if (type == EVP_PKEY_EC) {
		if (v->ec != NULL &&
		    EVP_Digest(input, plen + 1 + ylen, hash, &hlen, digest, NULL) == 1)
			rc = ecdsa_check(v->ec, hash, hlen, sig, 48);
		goto out;
	}
	md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestVerifyInit(md, NULL, digest, NULL, v->pk) <= 0)
		goto out;
	if (EVP_DigestVerify(md, sig, slen, (const uint8_t *)input, plen + 1 + ylen) == 1)
		rc = 0;
out:
	if (rc) {
		snprintf(why, cap, "JWS signature does not verify");
		ERR_clear_error();
	}
	EVP_MD_CTX_free(md);
	free(input);
	return rc;
}

static int alg_supported(const char *alg)
{
	return alg && (strcmp(alg, "RS256") == 0 || strcmp(alg, "ES256") == 0 ||
		       strcmp(alg, "ES384") == 0 || strcmp(alg, "EdDSA") == 0);
}

/* Splits a flattened JWS object into its three strings; 0 or CAIRN_EINVAL with why. */
static int jws_parts(const json_t *jws, const char **prot, const char **payload,
		     const char **sig, char *why, size_t cap)
{
	const char *k;
	json_t *v;

	if (!json_is_object(jws)) {
		snprintf(why, cap, "request body must be a flattened JWS JSON object");
		return CAIRN_EINVAL;
	}
	json_object_foreach((json_t *)jws, k, v) {
		if (strcmp(k, "protected") && strcmp(k, "payload") && strcmp(k, "signature")) {
			snprintf(why, cap, "unexpected JWS member \"%s\"", k);
			return CAIRN_EINVAL;
		}
	}
	*prot = json_string_value(json_object_get(jws, "protected"));
	*payload = json_string_value(json_object_get(jws, "payload"));
	*sig = json_string_value(json_object_get(jws, "signature"));
	if (*prot == NULL || *payload == NULL || *sig == NULL) {
		snprintf(why, cap, "JWS needs string protected, payload and signature");
		return CAIRN_EINVAL;
	}
	return 0;
}

/* The JSON object encoded in base64url s, through the one bounded parser (lim). */
static json_t *b64_json(const util_json_limits_t *lim, const char *s, char *why, size_t cap,
			const char *what)
{
	uint8_t *raw = NULL;
	size_t len = 0;
	char jwhy[160];
	json_t *o = NULL;

	if (b64url_decode(s, strlen(s), &raw, &len) != 0) {
		snprintf(why, cap, "%s is not base64url", what);
		return NULL;
	}
	if (util_json_parse((const char *)raw, len, lim, &o, jwhy, sizeof(jwhy)) != 0)
		snprintf(why, cap, "%s: %s", what, jwhy);
	else if (!json_is_object(o)) {
		snprintf(why, cap, "%s must be a JSON object", what);
		json_decref(o);
		o = NULL;
	}
	free(raw);
	return o;
}

/* The decoded signature, verified with v over "prot.payload". */
static int check_signature(const verifier_t *v, const char *alg, const char *prot,
			   const char *payload, const char *sig, char *why, size_t cap)
{
	uint8_t *raw = NULL;
	size_t slen = 0;
	int rc;

	if (b64url_decode(sig, strlen(sig), &raw, &slen) != 0) {
		snprintf(why, cap, "signature is not base64url");
		rc = CAIRN_EAUTH;
	} else {
		rc = verify_sig(v, alg, prot, payload, raw, slen, why, cap);
	}
	free(raw);
	return rc;
}

int acme_jws_check_inner(const acme_t *a, const json_t *jws, const json_t *jwk,
			 json_t **protected_hdr, json_t **payload, char *why, size_t cap)
{
	const char *prot, *pay, *sig, *alg;
	verifier_t v = { NULL, NULL, 0, 0 };
	int rc = CAIRN_EAUTH;

	*protected_hdr = *payload = NULL;
	if (jws_parts(jws, &prot, &pay, &sig, why, cap) != 0)
		return CAIRN_EAUTH;
	*protected_hdr = b64_json(&a->json, prot, why, cap, "inner protected header");
	if (*protected_hdr == NULL)
		goto out;
	if (json_object_get(*protected_hdr, "crit") != NULL) {
		snprintf(why, cap, "inner protected header crit: no JWS extension is supported");
		goto out;
	}
	alg = json_string_value(json_object_get(*protected_hdr, "alg"));
	if (!alg_supported(alg)) {
		snprintf(why, cap, "inner JWS alg must be one of " ACME_ALGS);
		goto out;
	}
	if (verifier_new(jwk, &v, why, cap) != 0 ||
	    check_signature(&v, alg, prot, pay, sig, why, cap) != 0)
		goto out;
	*payload = b64_json(&a->json, pay, why, cap, "inner payload");
	if (*payload == NULL)
		goto out;
	rc = 0;
out:
	verifier_clear(&v);
	if (rc) {
		json_decref(*protected_hdr);
		json_decref(*payload);
		*protected_hdr = *payload = NULL;
	}
	return rc;
}

void acme_jws_clear(acme_jws_t *j)
{
	json_decref(j->protected_hdr);
	json_decref(j->payload);
	json_decref(j->account);
	json_decref(j->jwk_public);
	memset(j, 0, sizeof(*j));
}

int acme_jws_verify(acme_t *a, const char *body, size_t len, const char *url, int want_jwk,
		    acme_jws_t *out, http_reply_t *reply)
{
	json_t *jws = NULL;
	const char *prot, *pay, *sig, *nonce, *hurl;
	char why[256] = "";
	verifier_t v = { NULL, NULL, 0, 0 };
	int rc = CAIRN_EINVAL;

	memset(out, 0, sizeof(*out));
	if (util_json_parse(body, len, &a->json, &jws, why, sizeof(why)) != 0) {
		acme_problem(reply, 400, "malformed", "request body is not JSON: %s", why);
		goto out;
	}
	if (jws_parts(jws, &prot, &pay, &sig, why, sizeof(why)) != 0) {
		acme_problem(reply, 400, "malformed", "%s", why);
		goto out;
	}
	out->protected_hdr = b64_json(&a->json, prot, why, sizeof(why), "protected header");
	if (out->protected_hdr == NULL) {
		acme_problem(reply, 400, "malformed", "%s", why);
		goto out;
	}
	out->alg = json_string_value(json_object_get(out->protected_hdr, "alg"));
	if (!alg_supported(out->alg)) {
		/* RFC 8555 §6.2: list the algorithms we accept. */
		acme_problem_with(reply, 400, "badSignatureAlgorithm",
				  json_pack("{s:[s,s,s,s]}", "algorithms", "RS256", "ES256", "ES384",
					    "EdDSA"),
				  "alg must be one of " ACME_ALGS);
		goto out;
	}
	if (json_object_get(out->protected_hdr, "crit") != NULL) {
		/* RFC 7515 4.1.11: no extension is understood here, so none may be critical. */
		acme_problem(reply, 400, "malformed",
			     "protected header crit: no JWS extension is supported");
		goto out;
	}
	hurl = json_string_value(json_object_get(out->protected_hdr, "url"));
	if (hurl == NULL || strcmp(hurl, url) != 0) {
		acme_problem(reply, 401, "unauthorized",
			     "protected header url must be %s", url);
		goto out;
	}
	nonce = json_string_value(json_object_get(out->protected_hdr, "nonce"));
	if (nonce == NULL || !acme_nonce_use(a->nonces, nonce)) {
		acme_problem(reply, 400, "badNonce", "nonce is unknown, used or expired");
		goto out;
	}
	out->jwk = json_object_get(out->protected_hdr, "jwk");
	out->kid = json_string_value(json_object_get(out->protected_hdr, "kid"));
	if ((out->jwk != NULL) == (json_object_get(out->protected_hdr, "kid") != NULL)) {
		acme_problem(reply, 400, "malformed", "protected header needs exactly one of jwk, kid");
		goto out;
	}
	if (want_jwk == 1 && out->jwk == NULL) {
		acme_problem(reply, 400, "malformed", "this resource needs jwk, not kid");
		goto out;
	}
	if (want_jwk == 0 && out->jwk == NULL && out->kid == NULL) {
		acme_problem(reply, 400, "malformed", "kid must be a string");
		goto out;
	}
	if (want_jwk == 0 && out->jwk != NULL) {
		acme_problem(reply, 400, "malformed", "this resource needs kid, not jwk");
		goto out;
	}
	if (out->kid != NULL) {
		size_t blen = strlen(a->base);
		char akey[8 + ACME_ID_LEN];
		const char *st;

		if (strncmp(out->kid, a->base, blen) != 0 || strncmp(out->kid + blen, "acct/", 5) ||
		    strlen(out->kid + blen + 5) != ACME_ID_LEN) {
			acme_problem(reply, 400, "accountDoesNotExist", "no account %s", out->kid);
			goto out;
		}
		memcpy(out->acct_id, out->kid + blen + 5, ACME_ID_LEN + 1);
		snprintf(akey, sizeof(akey), "a/%s", out->acct_id);
		if (acme_get(a, akey, &out->account) != 0) {
			acme_problem(reply, 400, "accountDoesNotExist", "no account %s", out->kid);
			goto out;
		}
		st = json_string_value(json_object_get(out->account, "status"));
		if (st == NULL || strcmp(st, "valid") != 0) {
			acme_problem(reply, 401, "unauthorized", "account is %s",
				     st ? st : "unusable");
			goto out;
		}
		out->jwk = json_object_get(out->account, "jwk");
	}
	if (out->kid == NULL) {
		/* The key as sent: only its public members go further (into the verifier,
		 * the key cache, a new account's record), and private ones refuse it — before
		 * the cache, which a key seen before would otherwise pass straight through. */
		out->jwk_public = acme_jwk_public(out->jwk, why, sizeof(why));
		if (out->jwk_public == NULL) {
			acme_problem(reply, 400, "badPublicKey", "%s", why);
			goto out;
		}
		out->jwk = out->jwk_public;
	}
	if (out->kid != NULL && json_is_string(json_object_get(out->account, "thumb"))) {
		/* stored with the account (and rewritten by keyChange) */
		snprintf(out->thumb, sizeof(out->thumb), "%s",
			 json_string_value(json_object_get(out->account, "thumb")));
	} else if (acme_jwk_thumbprint(out->jwk, out->thumb, sizeof(out->thumb)) != 0) {
		acme_problem(reply, 400, "badPublicKey", "jwk lacks the members of its kty");
		goto out;
	}
	if (cached_verifier(a, out->jwk, out->thumb, &v, why, sizeof(why)) != 0) {
		acme_problem(reply, 400, "badPublicKey", "%s", why);
		goto out;
	}
	if (check_signature(&v, out->alg, prot, pay, sig, why, sizeof(why)) != 0) {
		acme_problem(reply, 400, "malformed", "%s", why);
		goto out;
	}
	if (pay[0] == '\0') {
		out->post_as_get = 1;
	} else {
		out->payload = b64_json(&a->json, pay, why, sizeof(why), "payload");
		if (out->payload == NULL) {
			acme_problem(reply, 400, "malformed", "%s", why);
			goto out;
		}
	}
	rc = 0;
out:
	verifier_clear(&v);
	json_decref(jws);
	if (rc)
		acme_jws_clear(out);
	return rc;
}

int acme_jws_verify_get(acme_t *a, const char *body, size_t len, const char *url,
			const char *what, acme_jws_t *out, http_reply_t *reply)
{
	if (acme_jws_verify(a, body, len, url, 0, out, reply) != 0)
		return CAIRN_EINVAL;
	if (!out->post_as_get) {
		acme_jws_clear(out);
		acme_problem(reply, 400, "malformed", "%s is fetched with POST-as-GET (an empty "
			     "payload, RFC 8555 §6.3), not with a JSON payload", what);
		return CAIRN_EINVAL;
	}
	return 0;
}
