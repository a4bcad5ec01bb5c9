/* SPDX-License-Identifier: MIT */
/* `cairn ca import-cert`: install the issuing CA certificate an outside root signed, then finish the CA. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "cli/cli.h"
#include "server/server.h"

#define IMPORT_FILE_MAX (1024 * 1024)
#define IMPORT_MAX_CERTS 16

/* The PEM certificates of path, in order. A file holding a private key is refused before
 * anything else: a key handed to cairn has already left wherever it was safe. */
static int read_certs(const char *path, const char *what, STACK_OF(X509) **out,
		      cairn_err_t *err)
{
	char *data = NULL;
	size_t len = 0;
	BIO *b = NULL;
	X509 *x;
	int rc;

	*out = NULL;
	if ((rc = fs_read(path, IMPORT_FILE_MAX, &data, &len)) != 0)
		return cairn_err_set(err, rc, "%s %s: %s", what, path, cairn_strerror(rc));
	if (strstr(data, "PRIVATE KEY-----") != NULL) {
		rc = cairn_err_set(err, CAIRN_EINVAL,
				   "%s %s holds a private key, not a certificate: refused (keep the "
				   "root's key where it is; cairn needs only certificates)", what, path);
		goto out;
	}
	if ((b = BIO_new_mem_buf(data, (int)len)) == NULL ||
	    (*out = sk_X509_new_null()) == NULL) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	while (sk_X509_num(*out) <= IMPORT_MAX_CERTS &&
	       (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (sk_X509_push(*out, x) == 0) {
			X509_free(x);
			rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
			goto out;
		}
	ERR_clear_error();
	if (sk_X509_num(*out) == 0 || sk_X509_num(*out) > IMPORT_MAX_CERTS)
		rc = cairn_err_set(err, CAIRN_EINVAL, "%s %s: %s", what, path,
				   sk_X509_num(*out) ? "more than 16 certificates"
						     : "no PEM certificate in it");
out:
	if (rc != 0) {
		sk_X509_pop_free(*out, X509_free);
		*out = NULL;
	}
	BIO_free(b);
	free(data);
	return rc;
}

static void time_text(const ASN1_TIME *t, char *out, size_t cap)
{
	int64_t secs = 0;

	if (ca_time_unix(t, &secs) != 0)
		snprintf(out, cap, "?");
	else
		time_rfc3339((time_t)secs, out, cap);
}

/* The issuing certificate on its own: a CA for the token's key, valid now. */
static int check_issuing(X509 *cert, EVP_PKEY *token_key, const char *file, cairn_err_t *err)
{
	uint32_t flags = X509_get_extension_flags(cert), ku = X509_get_key_usage(cert);
	char when[40];

	if (EVP_PKEY_eq(X509_get0_pubkey(cert), token_key) != 1)
		return cairn_err_set(err, CAIRN_EINVAL,
				     "%s certifies another key, not the issuing key in this CA's "
				     "token (sign DIR/ca/issuing.csr, not another CSR)", file);
	if (!(flags & EXFLAG_BCONS) || !(flags & EXFLAG_CA))
		return cairn_err_set(err, CAIRN_EINVAL,
				     "%s is not a CA certificate (basicConstraints CA:TRUE missing)",
				     file);
	if (!(flags & EXFLAG_KUSAGE) || !(ku & KU_KEY_CERT_SIGN) || !(ku & KU_CRL_SIGN))
		return cairn_err_set(err, CAIRN_EINVAL,
				     "%s: keyUsage must include keyCertSign and cRLSign (cairn signs "
				     "certificates and CRLs with it)", file);
	if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
		time_text(X509_get0_notAfter(cert), when, sizeof(when));
		return cairn_err_set(err, CAIRN_EINVAL, "%s expired on %s", file, when);
	}
	if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0) {
		time_text(X509_get0_notBefore(cert), when, sizeof(when));
		return cairn_err_set(err, CAIRN_EINVAL, "%s is not valid before %s", file, when);
	}
	return ca_name_constraints_usable(cert, "issuing CA certificate", err);
}

/* The chain: exactly one self-signed root that the issuing certificate verifies up to. */
static int check_chain(X509 *cert, STACK_OF(X509) *chain, const char *file,
		       const char *chain_file, cairn_err_t *err)
{
	X509 *root = sk_X509_value(chain, 0);
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	int rc;

	if (sk_X509_num(chain) != 1)
		return cairn_err_set(err, CAIRN_EINVAL,
				     "--chain %s holds %d certificates: give the root alone "
				     "(intermediate CAs between the root and the issuing CA are not "
				     "supported)", chain_file, sk_X509_num(chain));
	if (X509_check_issued(root, root) != X509_V_OK ||
	    X509_verify(root, X509_get0_pubkey(root)) != 1) {
		ERR_clear_error();
		return cairn_err_set(err, CAIRN_EINVAL, "--chain %s: not a self-signed root",
				     chain_file);
	}
	/* The verifier does not apply a root's pathlen to the certificate right below it, but
	 * every relying party does to the certificates cairn would issue under it. */
	if (X509_get_pathlen(root) == 0)
		return cairn_err_set(err, CAIRN_EINVAL,
				     "--chain %s: the root's basicConstraints pathlen:0 allows no CA "
				     "below it", chain_file);
	/* Before the verifier, which would only say "subtree violation" for a type cairn
	 * cannot honour anyway. */
	if ((rc = ca_name_constraints_usable(root, "root CA certificate", err)) != 0)
		return rc;
	if ((store = X509_STORE_new()) == NULL || (ctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_add_cert(store, root) != 1 ||
	    X509_STORE_CTX_init(ctx, store, cert, NULL) != 1) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_CHECK_SS_SIGNATURE);
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);
		rc = cairn_err_set(err, CAIRN_EINVAL, "%s does not verify up to the root in %s: %s",
				   file, chain_file, X509_verify_cert_error_string(e));
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

/* The organisation for the OCSP signer and HTTPS certificate: the issuing CA's O. */
static void org_of(X509 *cert, char *out, size_t cap)
{
	X509_NAME *n = X509_get_subject_name(cert);
	int i = X509_NAME_get_index_by_NID(n, NID_organizationName, -1);
	unsigned char *utf8 = NULL;
	int len = i >= 0 ? ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(
							     X509_NAME_get_entry(n, i)))
			 : -1;

	snprintf(out, cap, "%.*s", len > 0 && len < 64 ? len : 5,
		 len > 0 && len < 64 ? (const char *)utf8 : "cairn");
	OPENSSL_free(utf8);
}

static int open_token(const cairn_config_t *cfg, hsm_t **hsm, cairn_err_t *err)
{
	char *pin = NULL, *softhsm = NULL;
	hsm_config_t hc = { 0 };
	int rc;

	if ((rc = config_read_pin(cfg, &pin, err)) != 0)
		return rc;
	if (cfg->softhsm_conf[0] != '\0' && (softhsm = config_path(cfg, cfg->softhsm_conf)) == NULL)
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	hc.module = cfg->token_module;
	hc.token_label = cfg->token_label;
	hc.pin = pin;
	hc.softhsm_conf = softhsm;
	hc.timeout_ms = HSM_TIMEOUT_MS;
	if (rc == 0)
		rc = hsm_open(&hc, hsm, err);
	OPENSSL_cleanse(pin, strlen(pin));
	free(pin);
	free(softhsm);
	return rc;
}

int cli_ca_import(const char *dir_arg, const char *file, const char *chain_file)
{
	cairn_config_t *cfg = NULL;
	cairn_err_t err = { 0 };
	STACK_OF(X509) *certs = NULL, *chain = NULL;
	hsm_t *hsm = NULL;
	EVP_PKEY *key = NULL;
	char *dir = NULL, *issuing_path = NULL, *dbdir = NULL, base[256], org[64];
	int lock_fd = -1, rc;
	X509 *cert;

	if (dir_arg == NULL || file == NULL || chain_file == NULL)
		return cli_usage_error("ca", "import-cert needs FILE, --chain FILE and --dir DIR");
	if ((dir = realpath(dir_arg, NULL)) == NULL)
		return cli_fail("ca", "%s: no such data directory", dir_arg);
	if ((rc = config_load(dir, &cfg, &err)) != 0)
		goto fail;
	if ((lock_fd = server_lock_dir(dir, &err)) < 0) {
		rc = lock_fd;
		goto fail;
	}
	issuing_path = config_path(cfg, cfg->issuing_cert);
	dbdir = fs_join(dir, "db");
	if (issuing_path == NULL || dbdir == NULL) {
		rc = cairn_err_set(&err, CAIRN_ENOMEM, "out of memory");
		goto fail;
	}
	if (fs_exists(issuing_path) || fs_exists(dbdir)) {
		rc = cairn_err_set(&err, CAIRN_EEXIST,
				   "%s already has its issuing CA (%s); import-cert completes a CA "
				   "made by `cairn init --external-root` once", dir, issuing_path);
		goto fail;
	}
	if ((rc = read_certs(file, "certificate", &certs, &err)) != 0 ||
	    (rc = read_certs(chain_file, "--chain", &chain, &err)) != 0)
		goto fail;
	if (sk_X509_num(certs) != 1) {
		rc = cairn_err_set(&err, CAIRN_EINVAL, "%s holds %d certificates: give the issuing "
				   "CA certificate alone and the root with --chain", file,
				   sk_X509_num(certs));
		goto fail;
	}
	cert = sk_X509_value(certs, 0);
	if ((rc = open_token(cfg, &hsm, &err)) != 0 ||
	    (rc = hsm_key_get(hsm, cfg->issuing_key, &key, &err)) != 0 ||
	    (rc = check_issuing(cert, key, file, &err)) != 0 ||
	    (rc = check_chain(cert, chain, file, chain_file, &err)) != 0 ||
	    (rc = cli_http_base(cfg->public_http, cfg->listen_http, base, sizeof(base), &err)) != 0)
		goto fail;
	org_of(cert, org, sizeof(org));
	if ((rc = cli_init_complete(dir, hsm, sk_X509_value(chain, 0), cert, key, org, base,
				    "cli:import-cert", "ca.import", &err)) != 0)
		goto fail;
	printf("cairn: issuing CA certificate installed in %s\n", dir);
	printf("  issuing CA    %s/ca/issuing.pem (key in token)\n", dir);
	printf("  root CA       %s/ca/root.pem (outside root: its key is not here)\n", dir);
	printf("  OCSP signer   %s/ca/ocsp.pem\n", dir);
	printf("  HTTPS cert    %s/tls/server.pem (key %s/tls/server.key)\n", dir, dir);
	printf("  admin token   %s/admin.token (role admin; keep it secret)\n", dir);
	printf("\nStart the daemon with: cairn serve --dir %s\n", dir);
	rc = CLI_OK;
	goto out;
fail:
	rc = cli_fail("ca", "import-cert: %s", cairn_err_msg(&err));
out:
	EVP_PKEY_free(key);
	hsm_close(hsm);
	sk_X509_pop_free(certs, X509_free);
	sk_X509_pop_free(chain, X509_free);
	if (lock_fd >= 0)
		close(lock_fd);
	config_free(cfg);
	free(issuing_path);
	free(dbdir);
	free(dir);
	return rc;
}
