/* SPDX-License-Identifier: MIT */
/* Fuzz target: OCSP requests, POST (DER) and GET (base64 path), answered by a real responder
 * over a database in a temporary directory holding a valid, a revoked and an expired
 * certificate (serials 0x10.., 0x11.., 0x12..). The issuing CA's key is fixed (below, a
 * test-only key) and its name is "CN=cairn fuzz issuing", so seed requests made by
 * `openssl ocsp` against the same key and name (scripts/fuzz-seeds.sh) match its CertID. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "ca/ca.h"
#include "fuzz/fuzz.h"
#include "ocsp/ocsp_int.h"

/* Test-only key of the fuzz issuing CA; never used for anything else. */
static const char fuzz_issuer_key[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgTgajzN4Cyyw/aQy8\n"
	"0owQU5d6Qa8r2FFW3etDQE8dyC2hRANCAASBXmcRIfhBZZ6z1i8s2TXZi+R5ldG4\n"
	"/mWI6WNJUnH2/aOQy8gFY60rbkTON+cox4MsHF4EOFTEOVmWr+WovByW\n"
	"-----END PRIVATE KEY-----\n";

static db_t *db;
static ocsp_t *responder;
static EVP_PKEY *key;
static X509 *issuer;

static int put_certs(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	int i, rc;
	(void)arg;
	(void)err;

	for (i = 0; i < 3; i++) {
		db_cert_t c = { 0 };
		memset(c.serial, 0x10 + i, 16);
		c.serial_len = 16;
		c.not_before = time(NULL) - 3600;
		c.not_after = i == 2 ? time(NULL) - 60 : time(NULL) + 86400 * 90;
		c.reason = -1;
		snprintf(c.issuer, sizeof(c.issuer), "issuing");
		snprintf(c.profile, sizeof(c.profile), "tls-server");
		snprintf(c.requester, sizeof(c.requester), "fuzz");
		if ((rc = db_cert_put(txn, &c, NULL, 0)) != 0)
			return rc;
	}
	return db_cert_revoke(txn, (const uint8_t *)"\x11\x11\x11\x11\x11\x11\x11\x11"
						    "\x11\x11\x11\x11\x11\x11\x11\x11",
			      16, (int64_t)time(NULL) - 60, 1);
}

static void open_responder(void)
{
	BIO *b = BIO_new_mem_buf(fuzz_issuer_key, -1);
	ca_cert_spec_t spec = { 0 };
	ocsp_config_t cfg = { 0 };
	char path[512];

	key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	FUZZ_ASSERT(key != NULL);
	spec.subject_cn = "cairn fuzz issuing";
	spec.validity_days = 365;
	spec.is_ca = 1;
	spec.path_len = 0;
	spec.key_usage = X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN;
	FUZZ_ASSERT(ca_cert_build(&spec, NULL, key, key, &issuer, NULL) == 0);
	snprintf(path, sizeof(path), "%s/db", fuzz_tmpdir());
	FUZZ_ASSERT(fs_mkdirs(path, 0700) == 0);
	FUZZ_ASSERT(db_open(path, &db, NULL) == 0);
	FUZZ_ASSERT(db_write(db, put_certs, NULL, NULL) == 0);
	cfg.db = db;
	cfg.issuers[0] = (ocsp_issuer_t){ "issuing", issuer, issuer, key, NULL };
	cfg.n_issuers = 1;
	cfg.validity = 3600;
	FUZZ_ASSERT(ocsp_open(&cfg, &responder, NULL) == 0);
}

__attribute__((destructor)) static void close_responder(void)
{
	ocsp_free(responder);
	db_close(db);
	X509_free(issuer);
	EVP_PKEY_free(key);
	responder = NULL;
	db = NULL;
}

FUZZ_TARGET(ocsp)
{
	http_reply_t reply = { 0 };
	char *path;

	if (responder == NULL)
		open_responder();
	/* A request the quick reading takes, the decoder reads the same way. */
	{
		ocsp_one_t q, d;

		if (ocsp_req_quick(responder, data, size, &q)) {
			FUZZ_ASSERT(ocsp_req_decoded(responder, data, size, &d) == 1);
			FUZZ_ASSERT(q.iss == d.iss && q.alg == d.alg && q.serial_len == d.serial_len &&
				    memcmp(q.serial, d.serial, q.serial_len) == 0);
		}
	}
	/* POST: the DER request. Every answer is HTTP 200 with an OCSP response. */
	ocsp_handle(responder, data, size, &reply);
	FUZZ_ASSERT(reply.status == 200 && reply.body != NULL && reply.body_len > 0);
	http_reply_clear(&reply);
	/* GET: the same bytes as the (already URL-decoded) path. */
	path = malloc(size + 1);
	FUZZ_ASSERT(path != NULL);
	memcpy(path, data, size);
	path[size] = '\0';
	ocsp_handle_get(responder, path, &reply);
	FUZZ_ASSERT(reply.status >= 200 && reply.status < 500);
	http_reply_clear(&reply);
	free(path);
	ERR_clear_error();
	return 0;
}
