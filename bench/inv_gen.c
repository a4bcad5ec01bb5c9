/* SPDX-License-Identifier: MIT */
/* Writes N distinct certificates (one P-256 key, serials 1..N, notAfter spread over two
 * years) as PEM files, 1000 per subdirectory, for the
 * inventory import benchmark. Usage: inv_gen DIR N */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

int main(int argc, char **argv)
{
	EVP_PKEY *key;
	X509_NAME *issuer;
	long n, i;
	char path[4096], cn[64];

	if (argc != 3 || (n = strtol(argv[2], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: inv_gen DIR N\n");
		return 2;
	}
	key = EVP_EC_gen("P-256");
	issuer = X509_NAME_new();
	if (key == NULL || issuer == NULL)
		return 1;
	X509_NAME_add_entry_by_txt(issuer, "CN", MBSTRING_ASC,
				   (const unsigned char *)"Bench Foreign CA", -1, -1, 0);
	mkdir(argv[1], 0700);
	for (i = 0; i < n; i++) {
		X509 *x = X509_new();
		X509_NAME *subj = X509_NAME_new();
		FILE *f;

		if (i % 1000 == 0) {
			snprintf(path, sizeof(path), "%s/d%04ld", argv[1], i / 1000);
			mkdir(path, 0700);
		}
		snprintf(cn, sizeof(cn), "host%ld.bench.example", i);
		X509_set_version(x, 2);
		ASN1_INTEGER_set(X509_get_serialNumber(x), i + 1);
		X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
		X509_set_subject_name(x, subj);
		X509_set_issuer_name(x, issuer);
		X509_gmtime_adj(X509_getm_notBefore(x), -86400);
		X509_gmtime_adj(X509_getm_notAfter(x), 86400L * (1 + i % 730));
		X509_set_pubkey(x, key);
		if (X509_sign(x, key, EVP_sha256()) <= 0)
			return 1;
		snprintf(path, sizeof(path), "%s/d%04ld/c%ld.pem", argv[1], i / 1000, i);
		f = fopen(path, "w");
		if (f == NULL || !PEM_write_X509(f, x))
			return 1;
		fclose(f);
		X509_NAME_free(subj);
		X509_free(x);
	}
	X509_NAME_free(issuer);
	EVP_PKEY_free(key);
	return 0;
}
