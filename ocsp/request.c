/* SPDX-License-Identifier: MIT */
/* The RFC 5019 request read without OpenSSL's ASN.1 decoder: one CertID of ours, no extension, no signature, in DER. Anything else goes to the decoder (respond.c), which decides. */
#include <string.h>

#include <openssl/objects.h>
#include <openssl/ocsp.h>

#include "ocsp/ocsp_int.h"

enum { DER_INTEGER = 0x02, DER_OCTETS = 0x04, DER_NULL = 0x05, DER_OID = 0x06, DER_SEQ = 0x30 };

/* The unread part of a DER element's contents. */
typedef struct der_in {
	const uint8_t *p, *end;
} der_in_t;

/* Reads the next element of in when it has the tag given and a DER length (definite, in
 * the fewest bytes; at most two after 0x8n, more than a request may hold anyway): *body
 * is its contents and in moves past it. 0, or -1 with in unchanged. */
static int der_take(der_in_t *in, uint8_t tag, der_in_t *body)
{
	const uint8_t *p = in->p;
	size_t n, k;

	if (in->end - p < 2 || p[0] != tag)
		return -1;
	n = p[1];
	p += 2;
	if (n & 0x80) {
		k = n & 0x7f;
		if (k == 0 || k > 2 || (size_t)(in->end - p) < k)
			return -1;
		n = k == 1 ? p[0] : (size_t)p[0] << 8 | p[1];
		if (n < 0x80 || (k == 2 && n < 0x100))
			return -1;
		p += k;
	}
	if ((size_t)(in->end - p) < n)
		return -1;
	body->p = p;
	body->end = p + n;
	in->p = p + n;
	return 0;
}

/* The only element left in in (nothing after it), as der_take. */
static int der_last(der_in_t *in, uint8_t tag, der_in_t *body)
{
	return der_take(in, tag, body) == 0 && in->p == in->end ? 0 : -1;
}

static int same(const der_in_t *d, const unsigned char *bytes, int len)
{
	return len >= 0 && (size_t)(d->end - d->p) == (size_t)len && memcmp(d->p, bytes, (size_t)len) == 0;
}

/* The issuer and algorithm whose CertID template has this hash algorithm OID (contents)
 * and these hashes: match_issuer's order (issuers, then algorithms), -1 when none. */
static int issuer_of(const ocsp_t *o, const der_in_t *oid, const der_in_t *name_hash,
		     const der_in_t *key_hash, int *alg)
{
	size_t i, n = atomic_load(&o->n_iss);
	int a;

	for (i = 0; i < n; i++)
		for (a = 1; a <= OCSP_N_ALGS; a++) {
			ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
			ASN1_OBJECT *md = NULL;

			OCSP_id_get0_info(&nh, &md, &kh, NULL, o->iss[i].tmpl[a]);
			if (same(oid, OBJ_get0_data(md), (int)OBJ_length(md)) &&
			    same(name_hash, ASN1_STRING_get0_data(nh), ASN1_STRING_length(nh)) &&
			    same(key_hash, ASN1_STRING_get0_data(kh), ASN1_STRING_length(kh))) {
				*alg = a;
				return (int)i;
			}
		}
	return -1;
}

/*
 * OCSPRequest { TBSRequest { requestList { Request { CertID } } } }, nothing else:
 * no version (v1 is the DEFAULT, absent in DER), requestor name, request or single
 * extension (so no nonce), or signature. The CertID's parameters absent or NULL; its
 * serial a positive INTEGER in the fewest bytes (the decoder refuses padded ones) of
 * at most DB_SERIAL_MAX bytes once a sign byte is dropped.
 */
int ocsp_req_quick(const ocsp_t *o, const uint8_t *der, size_t len, ocsp_one_t *one)
{
	der_in_t in = { der, der + len }, req, tbs, list, single, cid, algo, oid, nh, kh, sn, nul;
	int i, alg;

	if (len == 0 || len > OCSP_MAX_REQUEST || der_last(&in, DER_SEQ, &req) != 0 ||
	    der_last(&req, DER_SEQ, &tbs) != 0 || der_last(&tbs, DER_SEQ, &list) != 0 ||
	    der_last(&list, DER_SEQ, &single) != 0 || der_last(&single, DER_SEQ, &cid) != 0 ||
	    der_take(&cid, DER_SEQ, &algo) != 0 || der_take(&algo, DER_OID, &oid) != 0 ||
	    (algo.p != algo.end && (der_last(&algo, DER_NULL, &nul) != 0 || nul.p != nul.end)) ||
	    der_take(&cid, DER_OCTETS, &nh) != 0 || der_take(&cid, DER_OCTETS, &kh) != 0 ||
	    der_last(&cid, DER_INTEGER, &sn) != 0 || sn.p == sn.end || (sn.p[0] & 0x80))
		return 0;
	if (sn.p[0] == 0) { /* a sign byte: only before a byte with its top bit set */
		if (sn.end - sn.p < 2 || !(sn.p[1] & 0x80))
			return 0;
		sn.p++;
	}
	if ((size_t)(sn.end - sn.p) > DB_SERIAL_MAX || (i = issuer_of(o, &oid, &nh, &kh, &alg)) < 0)
		return 0;
	one->iss = (size_t)i;
	one->alg = alg;
	one->serial_len = (size_t)(sn.end - sn.p);
	memcpy(one->serial, sn.p, one->serial_len);
	return 1;
}
