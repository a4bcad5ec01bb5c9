/* SPDX-License-Identifier: MIT */
/* Shared helpers of the ca/ unit tests: default profiles, CSRs made in memory, chain checks. */
#ifndef CAIRN_TEST_CA_FIXTURE_H
#define CAIRN_TEST_CA_FIXTURE_H

#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/ca.h"

ca_profile_t default_profile(const char *name);
uint8_t *make_csr(EVP_PKEY *key, const char *cn, const char *sans, size_t *len);
int check_csr(const uint8_t *der, size_t len, const char *profile, cairn_err_t *err);
int check_key_csr(EVP_PKEY *key, const char *cn, const char *sans, const char *profile,
		  cairn_err_t *err);
int ext_critical(X509 *x, int nid);
const char *aia_uri(X509 *x, int nid);
const char *cdp_uri(X509 *x);
int verify_chain(X509 *root, X509 *issuing, X509 *leaf, int purpose);
void assert_serial16(X509 *x);
int64_t unix_time(const ASN1_TIME *t);
X509 *build_ca(const char *cn, int days, int path_len, X509 *issuer, EVP_PKEY *ikey,
	       EVP_PKEY *pub, const char *crl_url);

/* How many times OpenSSL's provider key decoder (OSSL_DECODER_CTX_new_for_pkey, the
 * ~130 us walk of every decoder) was set up in this process so far. */
uint64_t fixture_decoder_walks(void);
/* Removes dir and everything below it. */
void fixture_rmtree(const char *dir);
/* Writes x as PEM to path (asserts on failure). */
void fixture_write_pem(const char *path, X509 *x);
/* ca_open over hsm and db with the root and issuing certificates in these PEM files and
 * the issuing key "issuing" (what the unit tests' daemons use). Returns ca_open's result. */
int fixture_ca_open(hsm_t *hsm, db_t *db, const char *root_path, const char *iss_path,
		    ca_t **out, cairn_err_t *err);
/* Makes dir/tokens and a SoftHSM2 config for it; path (cap bytes) receives the config's path. */
void fixture_softhsm_conf(const char *dir, char *path, size_t cap);
/* A CA for a unit test in dir (made by the caller): a SoftHSM2 token labelled label (PIN
 * "1234") holding P-256 keys "root" and "issuing", "NAME Test Root" and "NAME Test Issuing"
 * signed in it (dir/root.pem, dir/issuing.pem), the database dir/db, and fixture_ca_open
 * over them. Fails the test on any error. */
void fixture_ca_make(const char *dir, const char *label, const char *name, hsm_t **hsm,
		     db_t **db, ca_t **ca);

#endif
