/* SPDX-License-Identifier: MIT */
/* bench/ocsp_seed: fills a stopped CA's database with N synthetic certificates and writes wrk/openssl inputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "db/db.h"

#define BATCH 20000

struct seed_op {
	uint8_t (*serials)[16];
	size_t from, to;
	int64_t now;
	const uint8_t *der; /* every record carries this certificate (NULL: none) */
	size_t der_len;
};

/* Every 10th certificate is revoked (keyCompromise, a day ago). */
static int revoked(size_t i)
{
	return i % 10 == 0;
}

static int seed_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct seed_op *op = arg;
	size_t i;
	int rc;

	for (i = op->from; i < op->to; i++) {
		db_cert_t c = { 0 };
		memcpy(c.serial, op->serials[i], 16);
		c.serial_len = 16;
		c.status = revoked(i) ? DB_CERT_REVOKED : DB_CERT_VALID;
		c.not_before = op->now - 86400;
		c.not_after = op->now + 90 * 86400;
		c.revoked_at = revoked(i) ? op->now - 86400 : 0;
		c.reason = revoked(i) ? 1 : -1;
		memcpy(c.issuer, "issuing", 8);
		memcpy(c.profile, "tls-server", 11);
		memcpy(c.requester, "bench", 6);
		c.der = op->der;
		c.der_len = op->der_len;
		if ((rc = db_cert_put(txn, &c, NULL, 0)) != 0)
			return cairn_err_set(err, rc, "seed: %s", cairn_strerror(rc));
	}
	return 0;
}

/* DER OCSP request (SHA-1 CertID, no nonce: the RFC 5019 profile) for one serial. */
static int request_der(X509 *issuer, const uint8_t *serial, unsigned char **der)
{
	BIGNUM *bn = BN_bin2bn(serial, 16, NULL);
	ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
	OCSP_CERTID *id = OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(issuer),
					   X509_get0_pubkey_bitstr(issuer), ai);
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	int n = -1;

	if (id != NULL && req != NULL && OCSP_request_add0_id(req, id) != NULL) {
		id = NULL;
		n = i2d_OCSP_REQUEST(req, der);
	}
	OCSP_CERTID_free(id);
	OCSP_REQUEST_free(req);
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return n;
}

static void lua_string(FILE *f, const unsigned char *p, int n)
{
	int i;

	fputc('"', f);
	for (i = 0; i < n; i++)
		fprintf(f, "\\%03u", p[i]);
	fputc('"', f);
}

static void url_b64(FILE *f, const unsigned char *p, int n)
{
	char b64[1024];
	int i;

	EVP_EncodeBlock((unsigned char *)b64, p, n);
	for (i = 0; b64[i]; i++) {
		if (b64[i] == '+' || b64[i] == '/' || b64[i] == '=')
			fprintf(f, "%%%02X", (unsigned char)b64[i]);
		else
			fputc(b64[i], f);
	}
}

/* openssl ocsp's index.txt for the same certificates, plus a file-key signer for it. */
static int write_openssl_side(const char *out, uint8_t (*serials)[16], size_t n, int64_t now)
{
	char path[600], hex[33], na[16], ra[16];
	struct tm tm;
	time_t t;
	FILE *f;
	size_t i;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	ca_cert_spec_t spec = { 0 };
	cairn_err_t err = { 0 };
	X509 *cert = NULL;
	static const char *const eku[] = { "1.3.6.1.5.5.7.3.9", NULL };

	snprintf(path, sizeof(path), "%s/index.txt", out);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	t = (time_t)(now + 90 * 86400);
	gmtime_r(&t, &tm);
	strftime(na, sizeof(na), "%y%m%d%H%M%SZ", &tm);
	t = (time_t)(now - 86400);
	gmtime_r(&t, &tm);
	strftime(ra, sizeof(ra), "%y%m%d%H%M%SZ", &tm);
	for (i = 0; i < n; i++) {
		char *p;
		hex_encode(serials[i], 16, hex);
		for (p = hex; *p; p++)
			if (*p >= 'a' && *p <= 'f')
				*p = (char)(*p - 'a' + 'A');
		if (revoked(i))
			fprintf(f, "R\t%s\t%s,keyCompromise\t%s\tunknown\t/CN=bench-%zu\n", na, ra, hex, i);
		else
			fprintf(f, "V\t%s\t\t%s\tunknown\t/CN=bench-%zu\n", na, hex, i);
	}
	fclose(f);
	spec.subject_cn = "bench OCSP signer (openssl side)";
	spec.validity_days = 30;
	spec.path_len = -1;
	spec.key_usage = X509v3_KU_DIGITAL_SIGNATURE;
	spec.eku = eku;
	if (key == NULL || ca_cert_build(&spec, NULL, key, key, &cert, &err) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/signer.key", out);
	if ((f = fopen(path, "w")) == NULL || !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL))
		return -1;
	fclose(f);
	snprintf(path, sizeof(path), "%s/signer.pem", out);
	if ((f = fopen(path, "w")) == NULL || !PEM_write_X509(f, cert))
		return -1;
	fclose(f);
	X509_free(cert);
	EVP_PKEY_free(key);
	return 0;
}

int main(int argc, char **argv)
{
	cairn_err_t err = { 0 };
	uint8_t (*serials)[16] = NULL;
	size_t n, k, i, step;
	char path[600];
	db_t *db = NULL;
	X509 *issuer = NULL;
	FILE *f;
	int64_t now = time(NULL);

	unsigned char *tmpl_der = NULL;
	int der_len = 0;

	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: ocsp_seed CADIR N QUERIED OUTDIR [CERT.pem]\n"
				"  adds N certificates (every 10th revoked) to CADIR's database (daemon stopped)\n"
				"  and writes OUTDIR/reqs.lua (QUERIED requests), index.txt, signer.{key,pem};\n"
				"  with CERT.pem every record carries that certificate's DER (replace tests)\n");
		return 2;
	}
	n = strtoul(argv[2], NULL, 10);
	k = strtoul(argv[3], NULL, 10);
	if (n < 10 || k < 1 || k > n) {
		fprintf(stderr, "ocsp_seed: need N >= 10 and 1 <= QUERIED <= N\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/ca/issuing.pem", argv[1]);
	if ((f = fopen(path, "r")) == NULL || (issuer = PEM_read_X509(f, NULL, NULL, NULL)) == NULL) {
		fprintf(stderr, "ocsp_seed: cannot read %s\n", path);
		return 1;
	}
	fclose(f);
	if (argc == 6) {
		X509 *tmpl = NULL;
		if ((f = fopen(argv[5], "r")) == NULL ||
		    (tmpl = PEM_read_X509(f, NULL, NULL, NULL)) == NULL ||
		    (der_len = i2d_X509(tmpl, &tmpl_der)) <= 0) {
			fprintf(stderr, "ocsp_seed: cannot read %s\n", argv[5]);
			return 1;
		}
		fclose(f);
		X509_free(tmpl);
	}
	if ((serials = malloc(n * 16)) == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		if (util_random(serials[i], 16) != 0)
			return 1;
		serials[i][0] = (uint8_t)((serials[i][0] & 0x7f) | 0x01);
	}
	snprintf(path, sizeof(path), "%s/db", argv[1]);
	if (db_open(path, &db, &err) != 0) {
		fprintf(stderr, "ocsp_seed: %s\n", cairn_err_msg(&err));
		return 1;
	}
	for (i = 0; i < n; i += BATCH) {
		struct seed_op op = { serials, i, i + BATCH < n ? i + BATCH : n, now, tmpl_der,
				      (size_t)(der_len > 0 ? der_len : 0) };
		if (db_write(db, seed_run, &op, &err) != 0) {
			fprintf(stderr, "ocsp_seed: %s\n", cairn_err_msg(&err));
			return 1;
		}
	}
	db_close(db);
	/* The queried set: k certificates spread over the database, every 10th revoked. */
	snprintf(path, sizeof(path), "%s/reqs.lua", argv[4]);
	if ((f = fopen(path, "w")) == NULL)
		return 1;
	step = n / k;
	fprintf(f, "-- generated by bench/ocsp_seed: %zu requests, SHA-1 CertIDs, no nonce\nreturn {\n", k);
	for (int pass = 0; pass < 2; pass++) {
		fprintf(f, pass == 0 ? "paths = {\n" : "bodies = {\n");
		for (i = 0; i < k; i++) {
			unsigned char *der = NULL;
			size_t idx = i * step;
			int len;

			/* Keep the queried set at 10% revoked whatever the step. */
			if (revoked(idx) && i % 10 != 0)
				idx++;
			else if (!revoked(idx) && i % 10 == 0)
				idx -= idx % 10;
			len = request_der(issuer, serials[idx], &der);
			if (len <= 0)
				return 1;
			if (pass == 0) {
				fputc('"', f);
				url_b64(f, der, len);
				fputs("\",\n", f);
			} else {
				lua_string(f, der, len);
				fputs(",\n", f);
			}
			OPENSSL_free(der);
		}
		fprintf(f, "},\n");
	}
	fprintf(f, "}\n");
	fclose(f);
	if (write_openssl_side(argv[4], serials, n, now) != 0) {
		fprintf(stderr, "ocsp_seed: cannot write the openssl side\n");
		return 1;
	}
	printf("seeded %zu certificates (%zu revoked); %zu requests in %s/reqs.lua\n", n,
	       (n + 9) / 10, k, argv[4]);
	X509_free(issuer);
	OPENSSL_free(tmpl_der);
	free(serials);
	return 0;
}
