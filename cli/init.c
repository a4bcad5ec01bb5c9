/* SPDX-License-Identifier: MIT */
/* `cairn init`: data dir, token, CA keys inside it, the hierarchy, TLS cert, config, first admin. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "admin/admin.h"
#include "audit/audit.h"
#include "ca/ca.h"
#include "cli/cli.h"
#include "config.h"
#include "server/server.h"

typedef struct init_opts {
	const char *dir;
	const char *listen_https, *listen_http, *public_https, *public_http;
	const char *org, *root_cn, *issuing_cn;
	hsm_key_type_t root_key, issuing_key;
	int root_days, issuing_days;
	const char *module, *token_label, *pin_file;
	int external_root;      /* --external-root: a CSR for an outside root, no root key */
	int root_opts;          /* a --root-* option was given */
	char http_base[256];    /* what the certificates' AIA and CDP URLs start with */
} init_opts_t;

/* What init builds, freed at the end. */
typedef struct init_state {
	char *dir;
	hsm_t *hsm;
	EVP_PKEY *root_key, *issuing_key;
	X509 *root, *issuing;
	int lock_fd;
} init_state_t;

/* What follows from an issuing CA (cli_init_complete), freed at its end. */
typedef struct init_self {
	EVP_PKEY *ocsp_pub, *tls_key;
	X509 *ocsp, *tls;
	db_t *db;
	char *token;
} init_self_t;

static int write_text(const char *dir, const char *rel, const char *text, unsigned mode,
		      cairn_err_t *err)
{
	char *path = fs_join(dir, rel);
	int rc = path ? fs_write_atomic(path, text, strlen(text), mode) : CAIRN_ENOMEM;

	if (rc)
		cairn_err_set(err, rc, "writing %s: %s", path ? path : rel, cairn_strerror(rc));
	free(path);
	return rc;
}

/* Writes certificates (PEM, concatenated) to DIR/rel. */
static int write_certs(const char *dir, const char *rel, X509 *a, X509 *b, cairn_err_t *err)
{
	char *pa = NULL, *pb = NULL, *text = NULL;
	int rc = CAIRN_ENOMEM;

	if (ca_cert_pem(a, &pa, NULL) != 0 || (b != NULL && ca_cert_pem(b, &pb, NULL) != 0) ||
	    asprintf(&text, "%s%s", pa, pb ? pb : "") < 0) {
		text = NULL;
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	rc = write_text(dir, rel, text, 0644, err);
out:
	free(pa);
	free(pb);
	free(text);
	return rc;
}

static int random_secret(char *out, size_t bytes)
{
	uint8_t raw[32];

	if (bytes > sizeof(raw) || util_random(raw, bytes) != 0)
		return CAIRN_ECRYPTO;
	hex_encode(raw, bytes, out);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

/* The embedded default: a SoftHSM2 token living inside DIR. */
static int make_softhsm_token(const init_opts_t *o, init_state_t *st, char *pin,
			      cairn_err_t *err)
{
	char so_pin[33], *tokens = fs_join(st->dir, "tokens"), *conf = NULL, *conf_path = NULL;
	hsm_config_t hc = { CAIRN_DEFAULT_MODULE, o->token_label, pin, NULL, HSM_TIMEOUT_MS };
	int rc;

	if (tokens == NULL || (rc = fs_mkdirs(tokens, 0700)) != 0) {
		rc = cairn_err_set(err, CAIRN_EIO, "cannot create %s/tokens", st->dir);
		goto out;
	}
	if (asprintf(&conf, "# SoftHSM2 token of this cairn CA (written by cairn init)\n"
			    "directories.tokendir = %s\nobjectstore.backend = file\n"
			    "log.level = ERROR\nslots.removable = false\n",
		     tokens) < 0) {
		conf = NULL;
		rc = CAIRN_ENOMEM;
		goto out;
	}
	if ((rc = write_text(st->dir, "softhsm2.conf", conf, 0600, err)) != 0)
		goto out;
	if ((rc = random_secret(pin, 16)) != 0 || (rc = random_secret(so_pin, 16)) != 0)
		goto out;
	if ((rc = write_text(st->dir, "token.pin", pin, 0600, err)) != 0 ||
	    (rc = write_text(st->dir, "token.so-pin", so_pin, 0600, err)) != 0)
		goto out;
	conf_path = fs_join(st->dir, "softhsm2.conf");
	hc.softhsm_conf = conf_path;
	rc = hsm_token_create(&hc, so_pin, err);
	if (rc == 0)
		rc = hsm_open(&hc, &st->hsm, err);
out:
	OPENSSL_cleanse(so_pin, sizeof(so_pin));
	free(tokens);
	free(conf);
	free(conf_path);
	return rc;
}

static int open_existing_token(const init_opts_t *o, init_state_t *st, cairn_err_t *err)
{
	char *pin = NULL;
	size_t len;
	hsm_config_t hc = { o->module, o->token_label, NULL, NULL, HSM_TIMEOUT_MS };
	int rc;

	if (o->pin_file == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "--module needs --pin-file");
	rc = fs_read(o->pin_file, 1024, &pin, &len);
	if (rc)
		return cairn_err_set(err, rc, "%s: %s", o->pin_file, cairn_strerror(rc));
	while (len > 0 && (pin[len - 1] == '\n' || pin[len - 1] == '\r'))
		pin[--len] = '\0';
	hc.pin = pin;
	rc = hsm_open(&hc, &st->hsm, err);
	OPENSSL_cleanse(pin, len);
	free(pin);
	return rc;
}

/* A CA certificate whose key is generated in the token under label; issuer NULL = self-signed. */
static int make_ca(init_state_t *st, hsm_key_type_t type, const char *label, const char *cn,
		   const char *org, int days, int path_len, X509 *issuer, EVP_PKEY *issuer_key,
		   const char *issuers_url, const char *crl_url, EVP_PKEY **key, X509 **cert,
		   cairn_err_t *err)
{
	ca_cert_spec_t spec = { 0 };
	EVP_PKEY *pub = NULL;
	int rc;

	if ((rc = hsm_keygen(st->hsm, type, label, &pub, err)) != 0 ||
	    (rc = hsm_key_get(st->hsm, label, key, err)) != 0)
		goto out;
	spec.subject_cn = cn;
	spec.subject_o = org;
	spec.validity_days = days;
	spec.is_ca = 1;
	spec.path_len = path_len;
	spec.key_usage = X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN | X509v3_KU_DIGITAL_SIGNATURE;
	spec.ca_issuers_url = issuers_url;
	spec.crl_url = crl_url;
	rc = ca_cert_build(&spec, issuer, issuer_key ? issuer_key : *key, pub, cert, err);
out:
	EVP_PKEY_free(pub);
	return rc;
}

static void ca_names(const init_opts_t *o, char *root_cn, char *issuing_cn, size_t cap)
{
	snprintf(root_cn, cap, "%s", o->root_cn ? o->root_cn : "");
	if (!o->root_cn)
		snprintf(root_cn, cap, "%s Root CA", o->org);
	snprintf(issuing_cn, cap, "%s", o->issuing_cn ? o->issuing_cn : "");
	if (!o->issuing_cn)
		snprintf(issuing_cn, cap, "%s Issuing CA", o->org);
}

static int build_hierarchy(const init_opts_t *o, init_state_t *st, const char *http_base,
			   cairn_err_t *err)
{
	char root_cn[128], issuing_cn[128], url_root_crt[300], url_root_crl[300];

	ca_names(o, root_cn, issuing_cn, sizeof(root_cn));
	snprintf(url_root_crt, sizeof(url_root_crt), "%s/ca/root.crt", http_base);
	snprintf(url_root_crl, sizeof(url_root_crl), "%s/crl/root.crl", http_base);

	/* Root: self-signed by its token key; then the issuing CA, signed by the root. */
	int rc = make_ca(st, o->root_key, "root", root_cn, o->org, o->root_days, 1, NULL, NULL,
			 NULL, NULL, &st->root_key, &st->root, err);

	if (rc != 0)
		return rc;
	return make_ca(st, o->issuing_key, "issuing", issuing_cn, o->org, o->issuing_days, 0,
		       st->root, st->root_key, url_root_crt, url_root_crl, &st->issuing_key,
		       &st->issuing, err);
}

/* The daemon's HTTPS certificate (key in a file) and the delegated OCSP signer (key in the
 * token), with the builder renewal uses. The HTTPS names are held to the CA's name
 * constraints (clients check them) before any key is made in the token. An "ocsp" key left
 * in the token by an import that failed later is used again. */
static int build_self(hsm_t *hsm, X509 *root, X509 *issuing, EVP_PKEY *issuing_key,
		      const char *org, const char *http_base, init_self_t *me, cairn_err_t *err)
{
	ca_self_spec_t self = { 0 };
	char why[400];
	int rc;

	self.org = org;
	self.http_base = http_base;
	self.validity_days = CA_HTTPS_DAYS;
	me->tls_key = EVP_EC_gen("P-256");
	if (me->tls_key == NULL)
		return cairn_err_ssl(err, CAIRN_ECRYPTO, "TLS key generation failed");
	if ((rc = ca_self_cert_build(CA_SELF_HTTPS, &self, issuing, issuing_key, me->tls_key,
				     &me->tls, err)) != 0)
		return rc;
	if ((rc = ca_cert_check_constraints(me->tls, issuing, root, err)) != 0) {
		snprintf(why, sizeof(why), "%s", cairn_err_msg(err));
		return cairn_err_set(err, rc, "the daemon's HTTPS certificate (localhost, 127.0.0.1, "
				     "::1) would break the CA's name constraints: %s", why);
	}
	self.validity_days = CA_OCSP_SIGNER_DAYS;
	rc = hsm_keygen(hsm, HSM_KEY_EC_P256, "ocsp", &me->ocsp_pub, err);
	if (rc == CAIRN_EEXIST)
		rc = hsm_key_get(hsm, "ocsp", &me->ocsp_pub, err);
	if (rc != 0)
		return rc;
	return ca_self_cert_build(CA_SELF_OCSP_SIGNER, &self, issuing, issuing_key, me->ocsp_pub,
				  &me->ocsp, err);
}

static int write_key_file(const char *dir, const char *rel, EVP_PKEY *key, cairn_err_t *err)
{
	char *text = ca_key_pem(key);
	int rc;

	if (text == NULL)
		return cairn_err_ssl(err, CAIRN_ENOMEM, "cannot encode the TLS key");
	rc = write_text(dir, rel, text, 0600, err);
	OPENSSL_cleanse(text, strlen(text));
	free(text);
	return rc;
}

static int record_hierarchy(db_t *db, X509 *root, X509 *issuing, const init_self_t *me,
			    const char *actor, const char *action, cairn_err_t *err)
{
	int rc;

	if ((rc = ca_record(db, root, "root", "ca-root", actor, action, err)) ||
	    (rc = ca_record(db, issuing, "root", "ca-issuing", actor, action, err)) ||
	    (rc = ca_record(db, me->ocsp, "issuing", "ocsp-signer", actor, "ca.init", err)))
		return rc;
	return ca_record(db, me->tls, "issuing", "daemon-tls", actor, "ca.init", err);
}

int cli_init_complete(const char *dir, hsm_t *hsm, X509 *root, X509 *issuing,
		      EVP_PKEY *issuing_key, const char *org, const char *http_base,
		      const char *actor, const char *action, cairn_err_t *err)
{
	init_self_t me = { 0 };
	char *dbdir = fs_join(dir, "db");
	int rc;

	if (dbdir == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	/* ca/issuing.pem last: its presence is what says the CA is complete. */
	if ((rc = build_self(hsm, root, issuing, issuing_key, org, http_base, &me, err)) != 0 ||
	    (rc = db_open(dbdir, &me.db, err)) != 0 ||
	    (rc = record_hierarchy(me.db, root, issuing, &me, actor, action, err)) != 0 ||
	    (rc = admin_add(me.db, "bootstrap", "admin", NULL, actor, err)) != 0 ||
	    (rc = admin_token_create(me.db, "bootstrap", "admin", 0, actor, &me.token, err)) != 0 ||
	    (rc = write_text(dir, "admin.token", me.token, 0600, err)) != 0 ||
	    (rc = write_certs(dir, "ca/ocsp.pem", me.ocsp, NULL, err)) != 0 ||
	    (rc = write_certs(dir, "ca/chain.pem", issuing, root, err)) != 0 ||
	    (rc = write_certs(dir, "tls/server.pem", me.tls, issuing, err)) != 0 ||
	    (rc = write_key_file(dir, "tls/server.key", me.tls_key, err)) != 0 ||
	    (rc = write_certs(dir, "ca/root.pem", root, NULL, err)) != 0 ||
	    (rc = write_certs(dir, "ca/issuing.pem", issuing, NULL, err)) != 0)
		goto out;
out:
	if (me.token)
		OPENSSL_cleanse(me.token, strlen(me.token));
	free(me.token);
	X509_free(me.ocsp);
	X509_free(me.tls);
	EVP_PKEY_free(me.ocsp_pub);
	EVP_PKEY_free(me.tls_key);
	db_close(me.db);
	free(dbdir);
	return rc;
}

static int write_config(const init_opts_t *o, init_state_t *st, cairn_err_t *err)
{
	json_t *profiles = ca_profiles_default(), *doc = NULL;
	char *text = NULL;
	int rc = CAIRN_ENOMEM;

	doc = profiles ? config_default(o->listen_https, o->listen_http, o->public_https,
					o->public_http, profiles)
		       : NULL;
	if (doc == NULL)
		goto out;
	if (o->module != NULL) {
		json_t *token = json_object_get(doc, "token");
		json_object_set_new(token, "module", json_string(o->module));
		json_object_set_new(token, "softhsm_conf", json_string(""));
		json_object_set_new(token, "pin_file", json_string(o->pin_file));
	}
	json_object_set_new(json_object_get(doc, "token"), "label", json_string(o->token_label));
	text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (text == NULL)
		goto out;
	rc = write_text(st->dir, "cairn.json", text, 0600, err);
out:
	free(text);
	json_decref(doc);
	json_decref(profiles);
	return rc;
}

/* The policy every new CA starts with: issue whatever passes the channel's checks. */
static int write_policy(init_state_t *st, cairn_err_t *err)
{
	char *text = policy_default_text();
	int rc;

	if (text == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	rc = write_text(st->dir, "policy.json", text, 0600, err);
	free(text);
	return rc;
}

int cli_http_base(const char *public_http, const char *listen_http, char *out, size_t cap,
		  cairn_err_t *err)
{
	const char *listen = listen_http ? listen_http : config_key_default("listen.http");
	char host[128];
	int port = 0;

	if (public_http != NULL && public_http[0] != '\0') {
		snprintf(out, cap, "%s", public_http);
		return 0;
	}
	if (config_parse_addr(listen, host, sizeof(host), &port) != 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	/* The daemon's own URLs follow such a listener; the CA's certificates outlive it. */
	if (port == 0)
		return cairn_err_set(err, CAIRN_EINVAL,
				     "listen.http %s is on port 0 (the system picks one at each "
				     "start), which the URLs in the CA's certificates cannot name: "
				     "set public_urls.http (cairn init --public-http "
				     "http://HOST:PORT) or a fixed port", listen);
	/* A listener on every address names no host a client can reach. */
	if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
		return cairn_err_set(err, CAIRN_EINVAL,
				     "listen.http %s listens on every address, which the URLs in "
				     "the CA's certificates cannot name: set public_urls.http "
				     "(cairn init --public-http http://HOST:PORT) with the name "
				     "clients reach", listen);
	snprintf(out, cap, "http://%s%s%s:%d", strchr(host, ':') ? "[" : "", host,
		 strchr(host, ':') ? "]" : "", port);
	return 0;
}

/* --external-root: the issuing key in the token and a CSR for it, signed by that key, asking
 * for what the issuing CA needs (CA:TRUE pathlen 0; keyCertSign, cRLSign, digitalSignature). */
static int make_issuing_csr(const init_opts_t *o, init_state_t *st, cairn_err_t *err)
{
	char root_cn[128], issuing_cn[128];
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *bc = NULL, *ku = NULL;
	EVP_PKEY *pub = NULL;
	BIO *b = BIO_new(BIO_s_mem());
	char *pem = NULL, *text = NULL;
	long n;
	int rc;

	ca_names(o, root_cn, issuing_cn, sizeof(root_cn));
	if ((rc = hsm_keygen(st->hsm, o->issuing_key, "issuing", &pub, err)) != 0 ||
	    (rc = hsm_key_get(st->hsm, "issuing", &st->issuing_key, err)) != 0)
		goto out;
	if (req == NULL || name == NULL || exts == NULL || b == NULL ||
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)o->org,
				       -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
				       (const unsigned char *)issuing_cn, -1, -1, 0) != 1 ||
	    X509_REQ_set_version(req, 0) != 1 || X509_REQ_set_subject_name(req, name) != 1 ||
	    X509_REQ_set_pubkey(req, pub) != 1 ||
	    (bc = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints,
				      "critical,CA:TRUE,pathlen:0")) == NULL ||
	    sk_X509_EXTENSION_push(exts, bc) == 0)
		goto ssl_fail;
	bc = NULL; /* owned by exts */
	if ((ku = X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage,
				      "critical,keyCertSign,cRLSign,digitalSignature")) == NULL ||
	    sk_X509_EXTENSION_push(exts, ku) == 0)
		goto ssl_fail;
	ku = NULL;
	/* The digest ca_cert_build would use with this key: SHA-384 for P-384. */
	if (X509_REQ_add_extensions(req, exts) != 1 ||
	    X509_REQ_sign(req, st->issuing_key,
			  EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC && EVP_PKEY_get_bits(pub) > 256
				  ? EVP_sha384()
				  : EVP_sha256()) <= 0 ||
	    PEM_write_bio_X509_REQ(b, req) != 1 || (n = BIO_get_mem_data(b, &pem)) <= 0 ||
	    (text = strndup(pem, (size_t)n)) == NULL)
		goto ssl_fail;
	ERR_clear_error();
	rc = write_text(st->dir, "ca/issuing.csr", text, 0644, err);
	goto out;
ssl_fail:
	rc = cairn_err_ssl(err, CAIRN_ECRYPTO, "cannot build the issuing CA's CSR");
out:
	free(text);
	X509_EXTENSION_free(bc);
	X509_EXTENSION_free(ku);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(name);
	X509_REQ_free(req);
	EVP_PKEY_free(pub);
	BIO_free(b);
	return rc;
}

static int parse_init_opts(int argc, char **argv, init_opts_t *o)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "listen-https", required_argument, NULL, 'S' },
		{ "listen-http", required_argument, NULL, 'H' },
		{ "public-https", required_argument, NULL, 's' },
		{ "public-http", required_argument, NULL, 'h' },
		{ "org", required_argument, NULL, 'o' },
		{ "root-cn", required_argument, NULL, 'r' },
		{ "issuing-cn", required_argument, NULL, 'i' },
		{ "root-key", required_argument, NULL, 'R' },
		{ "issuing-key", required_argument, NULL, 'I' },
		{ "root-days", required_argument, NULL, 'x' },
		{ "issuing-days", required_argument, NULL, 'y' },
		{ "module", required_argument, NULL, 'm' },
		{ "token-label", required_argument, NULL, 'l' },
		{ "pin-file", required_argument, NULL, 'p' },
		{ "external-root", no_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 },
	};
	cairn_err_t err = { 0 };
	char host[128];
	int c, port;

	memset(o, 0, sizeof(*o));
	o->org = "cairn";
	o->root_key = HSM_KEY_EC_P384;
	o->issuing_key = HSM_KEY_EC_P256;
	o->root_days = 3650;
	o->issuing_days = 1825;
	o->token_label = "cairn";
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->dir = optarg; break;
		case 'S': o->listen_https = optarg; break;
		case 'H': o->listen_http = optarg; break;
		case 's': o->public_https = optarg; break;
		case 'h': o->public_http = optarg; break;
		case 'o': o->org = optarg; break;
		case 'r': o->root_cn = optarg; o->root_opts = 1; break;
		case 'i': o->issuing_cn = optarg; break;
		case 'R':
			o->root_opts = 1;
			if (hsm_key_type_parse(optarg, &o->root_key) != 0)
				return cli_usage_error("init", "--root-key %s: use p256, p384 or rsa3072", optarg);
			break;
		case 'I':
			if (hsm_key_type_parse(optarg, &o->issuing_key) != 0)
				return cli_usage_error("init", "--issuing-key %s: use p256, p384 or rsa3072", optarg);
			break;
		case 'x':
		case 'y': {
			long days;
			if (cli_int_arg("init", c == 'x' ? "--root-days" : "--issuing-days", optarg,
					1, 36500, &days) != CLI_OK)
				return CLI_USAGE;
			*(c == 'x' ? &o->root_days : &o->issuing_days) = (int)days;
			o->root_opts |= c == 'x';
			break;
		}
		case 'm': o->module = optarg; break;
		case 'l': o->token_label = optarg; break;
		case 'p': o->pin_file = optarg; break;
		case 'E': o->external_root = 1; break;
		default:
			return cli_usage_error("init", "unknown or incomplete option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("init", "unexpected argument %s", argv[optind]);
	if (o->dir == NULL)
		return cli_usage_error("init", "--dir is required");
	if (o->external_root && (o->root_opts || o->issuing_days != 1825))
		return cli_usage_error("init", "--external-root: the outside root decides the root "
				       "and the issuing CA's lifetime; drop --root-* and --issuing-days");
	if ((o->listen_https && config_parse_addr(o->listen_https, host, sizeof(host), &port)) ||
	    (o->listen_http && config_parse_addr(o->listen_http, host, sizeof(host), &port)))
		return cli_usage_error("init", "listen addresses are host:port or [v6]:port");
	/* The same rule as cairn.json's: these URLs go into certificates init issues. */
	if ((o->public_https && config_check_string("public_urls.https", o->public_https, &err)) ||
	    (o->public_http && config_check_string("public_urls.http", o->public_http, &err)) ||
	    cli_http_base(o->public_http, o->listen_http, o->http_base, sizeof(o->http_base),
			  &err) != 0)
		return cli_usage_error("init", "%s", cairn_err_msg(&err));
	return CLI_OK;
}

static void print_token_note(const char *dir, const init_opts_t *o)
{
	if (o->module == NULL) {
		printf("\nThe CA keys live in a SoftHSM2 token in %s/tokens (PIN in %s/token.pin).\n",
		       dir, dir);
		printf("Back it up now and after every key change (the daemon may run); the archive\n"
		       "holds the keys and their PIN:\n");
		printf("  cairn backup --dir %s --out cairn-backup.tar.xz\n", dir);
		printf("SoftHSM2 rewrites its token file at every login: a process killed during\n"
		       "login can leave the token empty, and only a backup brings the keys back.\n");
	} else {
		printf("\nThe CA keys live in token \"%s\" of %s.\n", o->token_label, o->module);
	}
}

static void print_summary(const init_state_t *st, const init_opts_t *o)
{
	char serial[2 * DB_SERIAL_MAX + 1] = "";
	const ASN1_INTEGER *sn = X509_get0_serialNumber(st->root);

	if (sn->length <= DB_SERIAL_MAX)
		hex_encode(sn->data, (size_t)sn->length, serial);
	printf("cairn: CA created in %s\n", st->dir);
	printf("  root CA       %s/ca/root.pem (serial %s, key in token, %s)\n", st->dir, serial,
	       hsm_key_type_name(o->root_key));
	printf("  issuing CA    %s/ca/issuing.pem (key in token, %s)\n", st->dir,
	       hsm_key_type_name(o->issuing_key));
	printf("  OCSP signer   %s/ca/ocsp.pem\n", st->dir);
	printf("  HTTPS cert    %s/tls/server.pem (key %s/tls/server.key)\n", st->dir, st->dir);
	printf("  config        %s/cairn.json\n", st->dir);
	printf("  admin token   %s/admin.token (role admin; keep it secret)\n", st->dir);
	printf("  policy        %s/policy.json (issues every request; see docs/policy.md)\n",
	       st->dir);
	print_token_note(st->dir, o);
	printf("\nStart the daemon with: cairn serve --dir %s\n", st->dir);
}

static void print_external_summary(const init_state_t *st, const init_opts_t *o)
{
	printf("cairn: CA prepared in %s, awaiting its issuing certificate from an outside root\n",
	       st->dir);
	printf("  issuing key   in the token (%s, never leaves it)\n",
	       hsm_key_type_name(o->issuing_key));
	printf("  CSR           %s/ca/issuing.csr (asks for CA:TRUE, pathlen 0, keyCertSign, cRLSign)\n",
	       st->dir);
	printf("  config        %s/cairn.json\n", st->dir);
	printf("  policy        %s/policy.json\n", st->dir);
	print_token_note(st->dir, o);
	printf("\nHave the root sign the CSR, then install the certificate with:\n"
	       "  cairn ca import-cert ISSUING.pem --chain ROOT.pem --dir %s\n"
	       "`cairn serve` refuses to start until then.\n", st->dir);
}

int cli_init(int argc, char **argv)
{
	init_opts_t o;
	init_state_t st = { .lock_fd = -1 };
	cairn_err_t err = { 0 };
	char pin[33] = "", *cfg_path = NULL, *dbdir = NULL;
	int rc;

	rc = parse_init_opts(argc, argv, &o);
	if (rc != CLI_OK)
		return rc;
	if (fs_mkdirs(o.dir, 0700) != 0)
		return cli_fail("init", "cannot create %s: %s", o.dir, strerror(errno));
	st.dir = realpath(o.dir, NULL);
	cfg_path = st.dir ? fs_join(st.dir, "cairn.json") : NULL;
	dbdir = st.dir ? fs_join(st.dir, "db") : NULL;
	if (cfg_path == NULL || dbdir == NULL) {
		rc = cli_fail("init", "out of memory");
		goto out;
	}
	if (fs_exists(cfg_path) || fs_exists(dbdir)) {
		rc = cli_fail("init", "%s already holds a CA; refusing to overwrite it", st.dir);
		goto out;
	}
	st.lock_fd = server_lock_dir(st.dir, &err);
	if (st.lock_fd < 0) {
		rc = cli_fail("init", "%s", cairn_err_msg(&err));
		goto out;
	}
	chmod(st.dir, 0700);
	for (const char *const *sub = (const char *const[]){ "ca", "tls", NULL }; *sub; sub++) {
		char *p = fs_join(st.dir, *sub);
		int mk = p ? fs_mkdirs(p, 0700) : CAIRN_ENOMEM;
		free(p);
		if (mk != 0) {
			rc = cli_fail("init", "cannot create %s/%s", st.dir, *sub);
			goto out;
		}
	}
	if ((rc = o.module ? open_existing_token(&o, &st, &err)
			   : make_softhsm_token(&o, &st, pin, &err)) != 0)
		goto fail;
	if (o.external_root) {
		/* No root key, no db yet: `cairn ca import-cert` completes the CA. */
		if ((rc = make_issuing_csr(&o, &st, &err)) != 0 ||
		    (rc = write_policy(&st, &err)) != 0 || (rc = write_config(&o, &st, &err)) != 0)
			goto fail;
		print_external_summary(&st, &o);
		rc = CLI_OK;
		goto out;
	}
	if ((rc = build_hierarchy(&o, &st, o.http_base, &err)) != 0 ||
	    (rc = cli_init_complete(st.dir, st.hsm, st.root, st.issuing, st.issuing_key, o.org,
				    o.http_base, "cli:init", "ca.init", &err)) != 0 ||
	    (rc = write_policy(&st, &err)) != 0 || (rc = write_config(&o, &st, &err)) != 0)
		goto fail;
	print_summary(&st, &o);
	rc = CLI_OK;
	goto out;
fail:
	rc = cli_fail("init", "%s", cairn_err_msg(&err));
out:
	OPENSSL_cleanse(pin, sizeof(pin));
	X509_free(st.root);
	X509_free(st.issuing);
	EVP_PKEY_free(st.root_key);
	EVP_PKEY_free(st.issuing_key);
	hsm_close(st.hsm);
	if (st.lock_fd >= 0)
		close(st.lock_fd);
	free(cfg_path);
	free(dbdir);
	free(st.dir);
	return rc;
}
