/* SPDX-License-Identifier: MIT */
/* Unit tests for name constraints (ca/constraints.c): each name type against permitted and excluded subtrees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"

static EVP_PKEY *key;

/* A CA certificate whose nameConstraints are nc (OpenSSL config syntax), or none. */
static X509 *make_ca(const char *nc)
{
	X509 *x = X509_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	assert_non_null(x);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"Test CA", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, key);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	if (nc != NULL) {
		X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
		ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_name_constraints, nc);
		assert_non_null(ext);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

/* A leaf (unsigned: only its names are read) with subject CN cn (may be NULL) and SANs. */
static X509 *make_leaf(const char *cn, const char *san)
{
	X509 *x = X509_new();
	X509_EXTENSION *ext;

	assert_non_null(x);
	if (cn != NULL)
		X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
					   (const unsigned char *)cn, -1, -1, 0);
	if (san != NULL) {
		ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
		assert_non_null(ext);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	return x;
}

typedef struct nc_case {
	const char *issuing_nc, *root_nc; /* NULL = none */
	const char *cn, *san;
	int want;                         /* 0 or CAIRN_ENAME */
	const char *msg;                  /* a piece of the message when refused */
} nc_case_t;

static const nc_case_t cases[] = {
	/* DNS: a leading dot covers what is below, not the domain itself */
	{ "permitted;DNS:.example.test", NULL, NULL, "DNS:a.example.test", 0, NULL },
	{ "permitted;DNS:.example.test", NULL, NULL, "DNS:A.B.EXAMPLE.TEST", 0, NULL },
	{ "permitted;DNS:.example.test", NULL, NULL, "DNS:*.example.test", 0, NULL },
	{ "permitted;DNS:.example.test", NULL, NULL, "DNS:example.test", CAIRN_ENAME,
	  "dns:example.test is outside the permitted subtrees (dns:.example.test)" },
	{ "permitted;DNS:.example.test", NULL, NULL, "DNS:evilexample.test", CAIRN_ENAME, NULL },
	{ "permitted;DNS:.example.test", NULL, NULL, "DNS:a.example.test,DNS:*.other.test",
	  CAIRN_ENAME, "dns:*.other.test" },
	{ "permitted;DNS:.example.test", NULL, NULL, "DNS:example.test.other", CAIRN_ENAME, NULL },
	/* without the dot: the domain and what is below, not a longer label */
	{ "permitted;DNS:example.test", NULL, NULL, "DNS:example.test", 0, NULL },
	{ "permitted;DNS:example.test", NULL, NULL, "DNS:a.example.test", 0, NULL },
	{ "permitted;DNS:example.test", NULL, NULL, "DNS:evilexample.test", CAIRN_ENAME, NULL },
	{ "permitted;DNS:Example.Test", NULL, NULL, "DNS:a.example.test", 0, NULL },
	/* excluded wins over permitted */
	{ "permitted;DNS:.example.test,excluded;DNS:bad.example.test", NULL, NULL,
	  "DNS:x.bad.example.test", CAIRN_ENAME,
	  "is in the excluded subtree dns:bad.example.test of the issuing CA" },
	{ "excluded;DNS:bad.example.test", NULL, NULL, "DNS:notbad.example.test", 0, NULL },
	/* a DNS constraint says nothing about other types */
	{ "permitted;DNS:.example.test", NULL, NULL, "IP:192.0.2.1,email:a@b.test", 0, NULL },
	/* IP: mask, family, IPv4-mapped IPv6 checked as the IPv4 address */
	{ "permitted;IP:10.0.0.0/255.0.0.0", NULL, NULL, "IP:10.1.2.3", 0, NULL },
	{ "permitted;IP:10.0.0.0/255.0.0.0", NULL, NULL, "IP:11.0.0.1", CAIRN_ENAME,
	  "ip:11.0.0.1 is outside the permitted subtrees (ip:10.0.0.0/8)" },
	{ "permitted;IP:10.0.0.0/255.0.0.0", NULL, NULL, "IP:::ffff:10.1.2.3", 0, NULL },
	{ "permitted;IP:10.0.0.0/255.0.0.0", NULL, NULL, "IP:::ffff:192.168.1.1", CAIRN_ENAME,
	  "IPv4-mapped IPv6 address) ip:192.168.1.1 is outside" },
	{ "permitted;IP:10.0.0.0/255.0.0.0", NULL, NULL, "IP:2001:db8::1", CAIRN_ENAME, NULL },
	{ "permitted;IP:2001:db8::/ffff:ffff::", NULL, NULL, "IP:2001:db8::1", 0, NULL },
	{ "permitted;IP:2001:db8::/ffff:ffff::", NULL, NULL, "IP:10.0.0.1", CAIRN_ENAME, NULL },
	{ "excluded;IP:10.9.0.0/255.255.0.0", NULL, NULL, "IP:10.9.1.1", CAIRN_ENAME,
	  "excluded subtree ip:10.9.0.0/16" },
	/* email: a domain, the domains below, one mailbox */
	{ "permitted;email:.example.test", NULL, NULL, "email:a@b.example.test", 0, NULL },
	{ "permitted;email:.example.test", NULL, NULL, "email:a@example.test", CAIRN_ENAME, NULL },
	{ "permitted;email:example.test", NULL, NULL, "email:a@EXAMPLE.test", 0, NULL },
	{ "permitted;email:example.test", NULL, NULL, "email:a@b.example.test", CAIRN_ENAME, NULL },
	{ "permitted;email:alice@example.test", NULL, NULL, "email:alice@Example.Test", 0, NULL },
	{ "permitted;email:alice@example.test", NULL, NULL, "email:bob@example.test", CAIRN_ENAME,
	  NULL },
	{ "permitted;email:alice@example.test", NULL, NULL, "email:Alice@example.test",
	  CAIRN_ENAME, NULL },
	/* URI: the host */
	{ "permitted;URI:.example.test", NULL, NULL, "URI:https://a.example.test/x", 0, NULL },
	{ "permitted;URI:.example.test", NULL, NULL, "URI:https://example.test/", CAIRN_ENAME,
	  NULL },
	{ "permitted;URI:example.test", NULL, NULL, "URI:https://example.test:8443/p", 0, NULL },
	{ "permitted;URI:example.test", NULL, NULL, "URI:https://evil.test/example.test",
	  CAIRN_ENAME, NULL },
	{ "permitted;URI:example.test", NULL, NULL, "URI:urn:example.test", CAIRN_ENAME, NULL },
	/* CN: a host name (with a dot) or an address is held to the constraints */
	{ "permitted;DNS:.example.test", NULL, "host.other.test", NULL, CAIRN_ENAME,
	  "subject CN dns:host.other.test is outside" },
	{ "permitted;DNS:.example.test", NULL, "Alice Smith", NULL, 0, NULL },
	{ "permitted;DNS:.example.test", NULL, "device42", NULL, 0, NULL },
	{ "permitted;IP:10.0.0.0/255.0.0.0", NULL, "192.0.2.7", NULL, CAIRN_ENAME, "subject CN" },
	/* both certificates count: the root's and the issuing CA's */
	{ NULL, "permitted;DNS:.example.test", NULL, "DNS:a.other.test", CAIRN_ENAME,
	  "of the root CA's name constraints" },
	{ "permitted;DNS:.a.example.test", "permitted;DNS:.example.test", NULL,
	  "DNS:x.b.example.test", CAIRN_ENAME, "of the issuing CA's" },
	{ "permitted;DNS:.a.example.test", "permitted;DNS:.example.test", NULL,
	  "DNS:x.a.example.test", 0, NULL },
	/* none at all */
	{ NULL, NULL, "anything.other.test", "DNS:anything.other.test", 0, NULL },
};

static void test_cases(void **state)
{
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const nc_case_t *c = &cases[i];
		X509 *iss = make_ca(c->issuing_nc), *root = make_ca(c->root_nc);
		X509 *leaf = make_leaf(c->cn, c->san);
		cairn_err_t err = { 0 };
		int rc = ca_cert_check_constraints(leaf, iss, root, &err);

		if (rc != c->want)
			fail_msg("case %zu (%s / %s, %s): got %d (%s), want %d", i,
				 c->issuing_nc ? c->issuing_nc : "-", c->root_nc ? c->root_nc : "-",
				 c->san ? c->san : c->cn, rc, cairn_err_msg(&err), c->want);
		if (c->msg != NULL && strstr(cairn_err_msg(&err), c->msg) == NULL)
			fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, cairn_err_msg(&err),
				 c->msg);
		X509_free(leaf);
		X509_free(iss);
		X509_free(root);
	}
}

static void test_unusable(void **state)
{
	cairn_err_t err = { 0 };
	X509 *x = X509_new();
	NAME_CONSTRAINTS *nc = NAME_CONSTRAINTS_new();
	GENERAL_SUBTREE *t = GENERAL_SUBTREE_new();
	(void)state;

	/* A directoryName subtree: cairn cannot check it, so it refuses the certificate. */
	assert_non_null(x);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "O", MBSTRING_ASC,
				   (const unsigned char *)"Outside", -1, -1, 0);
	GENERAL_NAME_free(t->base);
	t->base = GENERAL_NAME_new();
	t->base->type = GEN_DIRNAME;
	t->base->d.directoryName = X509_NAME_dup(X509_get_subject_name(x));
	nc->permittedSubtrees = sk_GENERAL_SUBTREE_new_null();
	sk_GENERAL_SUBTREE_push(nc->permittedSubtrees, t);
	assert_int_equal(X509_add1_ext_i2d(x, NID_name_constraints, nc, 1, 0), 1);
	assert_int_equal(ca_name_constraints_usable(x, "root CA", &err), CAIRN_ECONFIG);
	assert_non_null(strstr(cairn_err_msg(&err), "directoryName"));
	NAME_CONSTRAINTS_free(nc);
	X509_free(x);
}

static int setup(void **state)
{
	(void)state;
	key = EVP_EC_gen("P-256");
	return key == NULL;
}

static int teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(key);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_unusable),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
