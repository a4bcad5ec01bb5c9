/* SPDX-License-Identifier: MIT */
/* Unit tests for policy/: rule parsing and errors, decisions, CSR facts, and the engine over a real token and db. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ftw.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config.h"

#include "audit/audit.h"
#include "ca/ca.h"
#include "db/db.h"
#include "hsm/hsm.h"
#include "policy/policy.h"
#include "util/util.h"

#include "ca_fixture.h"

/* The shape the issue asks for, plus rules exercising the other match fields. */
static const char *const example_policy =
	"{\"rules\": ["
	" {\"name\": \"dev\", \"match\": {\"dns_suffix\": [\".dev.test\"]}, \"action\": \"issue\"},"
	" {\"name\": \"prod\", \"match\": {\"dns_suffix\": [\".prod.test\"]}, \"action\": \"approve\","
	"  \"approvals\": 2},"
	" {\"name\": \"devices\", \"match\": {\"channel\": \"est\", \"subject_cn_prefix\": \"device-\"},"
	"  \"action\": \"approve\", \"approvals\": 2},"
	" {\"name\": \"secure\", \"match\": {\"dns_exact\": [\"vault.corp.test\"], \"wildcard\": false},"
	"  \"action\": \"approve\", \"approver_role\": \"admin\"},"
	" {\"name\": \"lab-ips\", \"match\": {\"ip_cidr\": [\"10.1.0.0/16\", \"fd00:1::/32\"]},"
	"  \"action\": \"issue\"},"
	" {\"name\": \"bots\", \"match\": {\"requester\": \"acme:eab/bot-*\", \"group\": \"robots\","
	"  \"key_type\": [\"rsa\"], \"min_key_bits\": 3072, \"max_validity_days\": 30},"
	"  \"action\": \"issue\"},"
	" {\"name\": \"clients\", \"match\": {\"profile\": \"tls-client\","
	"  \"subject_cn_pattern\": \"user-[0-9]*\"}, \"action\": \"issue\"},"
	" {\"name\": \"default\", \"match\": {}, \"action\": \"reject\", \"reason\": \"not allowed by policy\"}"
	"]}";

static policy_t *parse_ok(const char *text)
{
	policy_t *p = NULL;
	cairn_err_t err = { 0 };

	if (policy_parse(text, strlen(text), &p, &err) != 0)
		fail_msg("policy_parse: %s", cairn_err_msg(&err));
	return p;
}

/* Parses text expecting a CAIRN_ECONFIG whose message contains want. */
static void parse_fails(const char *text, const char *want)
{
	policy_t *p = NULL;
	cairn_err_t err = { 0 };

	assert_int_equal(policy_parse(text, strlen(text), &p, &err), CAIRN_ECONFIG);
	assert_null(p);
	if (strstr(err.msg, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, want);
}

static void test_parse_errors(void **state)
{
	(void)state;
	parse_fails("not json", "line 1");
	parse_fails("[]", "top level must be an object");
	parse_fails("{}", "rules: required");
	parse_fails("{\"rules\": [], \"extra\": 1}", "extra: unknown key");
	parse_fails("{\"rules\": [1]}", "rules[0]: must be an object");
	parse_fails("{\"rules\": [{\"match\": {}, \"action\": \"issue\"}]}", "rules[0].name: required");
	parse_fails("{\"rules\": [{\"name\": \"a\", \"match\": {}, \"action\": \"issue\"},"
		    " {\"name\": \"prod\", \"match\": {\"dns_suffix\": \".prod.test\"}, \"action\": \"issue\"}]}",
		    "rules[1] (prod).match.dns_suffix: must be a non-empty array of strings");
	parse_fails("{\"rules\": [{\"name\": \"a\", \"match\": {\"dns_sufix\": [\"x\"]}, \"action\": \"issue\"}]}",
		    "rules[0] (a).match.dns_sufix: unknown match field");
	parse_fails("{\"rules\": [{\"name\": \"a\", \"match\": {}, \"action\": \"allow\"}]}",
		    "rules[0] (a).action: must be");
	parse_fails("{\"rules\": [{\"name\": \"a\", \"match\": {}}]}", "rules[0] (a).action: required");
	parse_fails("{\"rules\": [{\"name\": \"a\", \"action\": \"issue\"}]}", "rules[0] (a).match: required");
	parse_fails("{\"rules\": [{\"name\": \"a\", \"match\": {}, \"action\": \"approve\", \"approvals\": 0}]}",
		    "rules[0] (a).approvals: must be an integer 1..10");
	parse_fails("{\"rules\": [{\"name\": \"a\", \"match\": {}, \"action\": \"issue\", \"approvals\": 2}]}",
		    "rules[0] (a).approvals: only allowed with action \"approve\"");
	parse_fails("{\"rules\": [{\"name\": \"a\", \"match\": {}, \"action\": \"approve\","
		    " \"approver_role\": \"auditor\"}]}",
		    "rules[0] (a).approver_role");
	parse_fails("{\"rules\": [{\"name\": \"a\", \"match\": {\"ip_cidr\": [\"10.0.0.0/33\"]},"
		    " \"action\": \"issue\"}]}",
		    "rules[0] (a).match.ip_cidr: \"10.0.0.0/33\" is not an address or CIDR range");
	parse_fails("{\"rules\": [{\"name\": \"a\", \"match\": {\"channel\": \"smtp\"}, \"action\": \"issue\"}]}",
		    "rules[0] (a).match.channel: unknown value \"smtp\"");
	parse_fails("{\"rules\": [{\"name\": \"a\", \"match\": {\"wildcard\": \"no\"}, \"action\": \"issue\"}]}",
		    "rules[0] (a).match.wildcard: must be true or false");
	parse_fails("{\"rules\": [{\"name\": \"a\", \"match\": {\"requester\": [\"acme:*\", \"acme:eab-*\"]},"
		    " \"action\": \"issue\"}]}",
		    "rules[0] (a).match.requester: \"acme:eab-*\" can never match");
	parse_fails("{\"rules\": [{\"name\": \"a\", \"match\": {\"requester\": \"admin\"}, \"action\": \"issue\"}]}",
		    "rules[0] (a).match.requester: \"admin\" can never match");
	policy_free(parse_ok("{\"rules\": [{\"name\": \"a\", \"match\": {\"requester\": [\"*\", \"est:*\","
			     " \"admin:alice\", \"acme:eab/*\", \"acme:acct/?\"]}, \"action\": \"issue\"}]}"));
	parse_fails("{\"rules\": [{\"name\": \"a\", \"match\": {\"min_key_bits\": 4096, \"max_key_bits\": 2048},"
		    " \"action\": \"issue\"}]}",
		    "rules[0] (a).match.min_key_bits: is above");
	parse_fails("{\"rules\": [{\"name\": \"a\", \"match\": {}, \"action\": \"issue\"},"
		    " {\"name\": \"a\", \"match\": {}, \"action\": \"issue\"}]}",
		    "rules[1] (a).name: used by an earlier rule");
	parse_fails("{\"rules\": [{\"name\": \"a\", \"match\": {}, \"action\": \"issue\", \"colour\": 1}]}",
		    "rules[0] (a).colour: unknown field");
	parse_fails("{\"rules\": [{\"name\": \"a\", \"name\": \"b\", \"match\": {}, \"action\": \"issue\"}]}",
		    "duplicate");
	/* Name lists no certificate name can match: a protecting rule would match nothing. */
	parse_fails("{\"rules\": [{\"name\": \"pay\", \"match\": {\"dns_exact\": [\"pay.example.\"]},"
		    " \"action\": \"reject\"}]}",
		    "rules[0] (pay).match.dns_exact: \"pay.example.\" can never match: the name ends with a dot");
	parse_fails("{\"rules\": [{\"name\": \"p\", \"match\": {\"dns_suffix\": [\".ok.test\", \".prod.test.\"]},"
		    " \"action\": \"approve\"}]}",
		    "rules[0] (p).match.dns_suffix: \".prod.test.\" can never match: the name ends with a dot");
	parse_fails("{\"rules\": [{\"name\": \"p\", \"match\": {\"dns_suffix\": [\".\"]}, \"action\": \"reject\"}]}",
		    "\".\" can never match: the name is empty");
	parse_fails("{\"rules\": [{\"name\": \"p\", \"match\": {\"dns_exact\": [\"a..b.test\"]}, \"action\": \"reject\"}]}",
		    "\"a..b.test\" can never match: the name has an empty label");
	parse_fails("{\"rules\": [{\"name\": \"p\", \"match\": {\"dns_exact\": [\"10.1.2.3\"]}, \"action\": \"reject\"}]}",
		    "\"10.1.2.3\" can never match: the name ends in an all-numeric label");
	parse_fails("{\"rules\": [{\"name\": \"p\", \"match\": {\"dns_exact\": [\"a.*.test\"]}, \"action\": \"reject\"}]}",
		    "\"a.*.test\" can never match");
	parse_fails("{\"rules\": [{\"name\": \"p\", \"match\": {\"dns_suffix\": [\"*.corp.test\"]}, \"action\": \"reject\"}]}",
		    "\"*.corp.test\" is a wildcard: list it in match.dns_exact, or its names here as \".corp.test\"");
	policy_free(parse_ok("{\"rules\": [{\"name\": \"p\", \"match\": {\"dns_suffix\": [\".Prod.Test\", \"corp.test\"],"
			     " \"dns_exact\": [\"*.apps.test\", \"API.x.test\"]}, \"action\": \"reject\"}]}"));
	/* email_domain holds domains, uri_prefix URIs with a scheme: anything else matches nothing. */
	parse_fails("{\"rules\": [{\"name\": \"m\", \"match\": {\"email_domain\": [\"ceo@corp.test\"]},"
		    " \"action\": \"issue\"}]}",
		    "rules[0] (m).match.email_domain: \"ceo@corp.test\" is an address: list its domain (\"corp.test\")");
	parse_fails("{\"rules\": [{\"name\": \"m\", \"match\": {\"email_domain\": [\"corp.test.\"]},"
		    " \"action\": \"issue\"}]}",
		    "rules[0] (m).match.email_domain: \"corp.test.\" can never match: the domain ends with a dot");
	parse_fails("{\"rules\": [{\"name\": \"m\", \"match\": {\"email_domain\": \"corp.test\"},"
		    " \"action\": \"issue\"}]}",
		    "rules[0] (m).match.email_domain: must be a non-empty array of strings");
	parse_fails("{\"rules\": [{\"name\": \"u\", \"match\": {\"uri_prefix\": [\"prod/admin\"]},"
		    " \"action\": \"reject\"}]}",
		    "rules[0] (u).match.uri_prefix: \"prod/admin\" is not a URI prefix with a scheme "
		    "(spiffe://prod/): it does not start with a scheme");
	parse_fails("{\"rules\": [{\"name\": \"u\", \"match\": {\"uri_prefix\": [\"spiffe://a b\"]},"
		    " \"action\": \"reject\"}]}",
		    "rules[0] (u).match.uri_prefix: \"spiffe://a b\" is not a URI prefix");
	policy_free(parse_ok("{\"rules\": [{\"name\": \"m\", \"match\": {\"email_domain\": [\"Corp.Test\","
			     " \".corp.test\"], \"uri_prefix\": [\"spiffe://prod/\", \"https://x.test/u/\"]},"
			     " \"action\": \"issue\"}]}"));
	/* Invalid UTF-8 anywhere in the file is refused by the parser, before any rule. */
	parse_fails("{\"rules\": [{\"name\": \"a\xff\", \"match\": {}, \"action\": \"issue\"}]}",
		    "unable to decode byte 0xff");
	/* Groups are names EAB keys and EST labels can hold (policy_group_ok). */
	parse_fails("{\"rules\": [{\"name\": \"g\", \"match\": {\"group\": [\"devices\", \"lab one\"]},"
		    " \"action\": \"approve\"}]}",
		    "rules[0] (g).match.group: \"lab one\" can never match: a group is 1..63 of [A-Za-z0-9_.-]");
	policy_free(parse_ok("{\"rules\": [{\"name\": \"g\", \"match\": {\"group\": \"Web.team_2-x\"},"
			     " \"action\": \"approve\"}]}"));
	assert_true(policy_group_ok("a") && policy_group_ok("Web.team_2-x"));
	assert_false(policy_group_ok("") || policy_group_ok("a b") || policy_group_ok("a/b") ||
		     policy_group_ok("x\n") || policy_group_ok(NULL));
	assert_true(policy_group_ok("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));  /* 63 */
	assert_false(policy_group_ok("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 64 */
	/* Names and reasons are shown on one line; a reason only reaches anyone from a reject. */
	parse_fails("{\"rules\": [{\"name\": \"a\\nb\", \"match\": {}, \"action\": \"issue\"}]}",
		    "rules[0].name: must not contain control characters");
	parse_fails("{\"rules\": [{\"name\": \"a\", \"match\": {}, \"action\": \"reject\", \"reason\": \"x\\u001b[2J\"}]}",
		    "rules[0] (a).reason: must not contain control characters");
	parse_fails("{\"rules\": [{\"name\": \"a\", \"match\": {}, \"action\": \"issue\", \"reason\": \"fine\"}]}",
		    "rules[0] (a).reason: only allowed with action \"reject\"");
	parse_fails("{\"rules\": [{\"name\": \"a\", \"match\": {}, \"action\": \"approve\", \"reason\": \"fine\"}]}",
		    "rules[0] (a).reason: only allowed with action \"reject\"");
}

static int only_tls(const char *name, const void *arg)
{
	(void)arg;
	return strcmp(name, "tls-server") == 0 || strcmp(name, "tls-client") == 0;
}

static void test_check_profiles(void **state)
{
	policy_t *p;
	cairn_err_t err = { 0 };

	(void)state;
	p = parse_ok("{\"rules\": [{\"name\": \"a\", \"match\": {\"profile\": [\"tls-server\"]},"
		     " \"action\": \"issue\"}, {\"name\": \"b\", \"match\": {}, \"action\": \"reject\"}]}");
	assert_int_equal(policy_check_profiles(p, only_tls, NULL, &err), 0);
	policy_free(p);
	p = parse_ok("{\"rules\": [{\"name\": \"a\", \"match\": {\"profile\": \"tls-client\"}, \"action\": \"issue\"},"
		     " {\"name\": \"admins\", \"match\": {\"profile\": [\"tls-server\", \"admn\"]},"
		     " \"action\": \"reject\"}]}");
	assert_int_equal(policy_check_profiles(p, only_tls, NULL, &err), CAIRN_ECONFIG);
	assert_string_equal(err.msg, "rules[1] (admins).match.profile: \"admn\" can never match: "
				     "cairn.json has no such profile");
	policy_free(p);
}

static char *dns_a[] = { "www.dev.test" };
static char *dns_prod[] = { "api.prod.test", "www.prod.test" };
static char *dns_mixed[] = { "api.prod.test", "evil.example" };
static char *dns_vault[] = { "vault.corp.test" };
static char *dns_vault_wild[] = { "vault.corp.test", "*.corp.test" };
static char *ip_lab[] = { "10.1.2.3", "fd00:1::5" };
static char *ip_out[] = { "10.2.0.1" };

static policy_input_t input(const char *channel, char **dns, size_t n_dns)
{
	policy_input_t in;

	memset(&in, 0, sizeof(in));
	in.channel = channel;
	in.requester = "acme:acct/1";
	in.profile = "tls-server";
	in.dns = dns;
	in.n_dns = n_dns;
	in.key_type = "ec";
	in.key_bits = 256;
	in.validity_days = 90;
	return in;
}

static void expect(const policy_t *p, const policy_input_t *in, policy_action_t action,
		   const char *rule)
{
	policy_decision_t d;

	policy_decide(p, in, &d);
	if (d.action != action || strcmp(d.rule, rule) != 0)
		fail_msg("expected %s by \"%s\", got %s by \"%s\" (%s)", policy_action_name(action),
			 rule, policy_action_name(d.action), d.rule, d.reason);
}

static void test_decide(void **state)
{
	policy_t *p = parse_ok(example_policy), *empty;
	policy_input_t in;
	policy_decision_t d;
	(void)state;

	in = input("acme", dns_a, 1);
	expect(p, &in, POLICY_ISSUE, "dev");
	in = input("acme", dns_prod, 2);
	policy_decide(p, &in, &d);
	assert_int_equal(d.action, POLICY_APPROVE);
	assert_string_equal(d.rule, "prod");
	assert_int_equal(d.approvals, 2);
	assert_string_equal(d.approver_role, "");
	/* One name outside every suffix: no identifier rule covers it. */
	in = input("acme", dns_mixed, 2);
	policy_decide(p, &in, &d);
	assert_int_equal(d.action, POLICY_REJECT);
	assert_string_equal(d.rule, "default");
	assert_string_equal(d.reason, "not allowed by policy (evil.example)");

	in = input("est", NULL, 0);
	in.subject_cn = "device-0042";
	expect(p, &in, POLICY_APPROVE, "devices");
	in.channel = "acme";
	expect(p, &in, POLICY_REJECT, "default");

	in = input("admin", dns_vault, 1);
	policy_decide(p, &in, &d);
	assert_int_equal(d.action, POLICY_APPROVE);
	assert_string_equal(d.approver_role, "admin");
	assert_int_equal(d.approvals, 1);
	in = input("admin", dns_vault_wild, 2);
	expect(p, &in, POLICY_REJECT, "default");

	in = input("acme", NULL, 0);
	in.ips = ip_lab;
	in.n_ips = 2;
	expect(p, &in, POLICY_ISSUE, "lab-ips");
	in.ips = ip_out;
	in.n_ips = 1;
	expect(p, &in, POLICY_REJECT, "default");
	/* Each name by its own rule: a dev name and a lab address are both issuable. */
	in = input("acme", dns_a, 1);
	in.ips = ip_lab;
	in.n_ips = 1;
	policy_decide(p, &in, &d);
	assert_int_equal(d.action, POLICY_ISSUE);
	assert_string_equal(d.rule, "dev");
	assert_string_equal(d.reason, "every name may be issued at once (rule dev and others)");
	in.ips = ip_out;
	policy_decide(p, &in, &d);
	assert_int_equal(d.action, POLICY_REJECT);
	assert_string_equal(d.reason, "not allowed by policy (10.2.0.1)");

	in = input("acme", NULL, 0);
	in.requester = "acme:eab/bot-7";
	in.group = "robots";
	in.key_type = "rsa";
	in.key_bits = 3072;
	in.validity_days = 30;
	expect(p, &in, POLICY_ISSUE, "bots");
	in.key_bits = 2048;
	expect(p, &in, POLICY_REJECT, "default");
	in.key_bits = 4096;
	in.validity_days = 31;
	expect(p, &in, POLICY_REJECT, "default");
	in.validity_days = 30;
	in.group = "humans";
	expect(p, &in, POLICY_REJECT, "default");
	in.group = "robots";
	in.requester = "acme:eab/human-1";
	expect(p, &in, POLICY_REJECT, "default");

	in = input("admin", NULL, 0);
	in.profile = "tls-client";
	in.subject_cn = "user-12";
	expect(p, &in, POLICY_ISSUE, "clients");
	in.subject_cn = "admin-12";
	expect(p, &in, POLICY_REJECT, "default");

	/* No rule at all: the default is reject. */
	empty = parse_ok("{\"rules\": []}");
	in = input("acme", dns_a, 1);
	policy_decide(empty, &in, &d);
	assert_int_equal(d.action, POLICY_REJECT);
	assert_string_equal(d.rule, "");
	assert_string_equal(d.reason, "no policy rule matches (www.dev.test)");
	policy_free(empty);
	policy_free(p);
}

static int explained;

/* Counts the rules passed over; checks every step names a name of dns_prod. */
static void count_explain(const policy_step_t *s, void *arg)
{
	(void)arg;
	assert_non_null(s->rule);
	assert_non_null(s->name);
	assert_true(strcmp(s->name, "api.prod.test") == 0 || strcmp(s->name, "www.prod.test") == 0);
	if (s->why != NULL) {
		assert_true(strlen(s->why) > 0);
		explained++;
	} else {
		assert_string_equal(s->rule, "prod");
		assert_int_equal(s->action, POLICY_APPROVE);
	}
}

static void test_explain_and_default(void **state)
{
	char *text = policy_default_text();
	policy_t *p = parse_ok(example_policy), *def = parse_ok(text);
	policy_input_t in = input("est", dns_prod, 2);
	policy_decision_t d;
	(void)state;

	explained = 0;
	policy_explain(p, &in, count_explain, NULL, &d);
	assert_int_equal(d.action, POLICY_APPROVE);
	assert_int_equal(explained, 2); /* "dev" passed over, once for each name */
	in = input("est", dns_mixed, 2);
	policy_decide(def, &in, &d);
	assert_int_equal(d.action, POLICY_ISSUE);
	policy_free(p);
	policy_free(def);
	free(text);
}

static void test_input_from_csr(void **state)
{
	EVP_PKEY *ec = EVP_EC_gen("P-256"), *rsa = EVP_RSA_gen(2048);
	policy_input_t in;
	cairn_err_t err = { 0 };
	ca_csr_t *req = NULL;
	size_t len;
	uint8_t *der = make_csr(ec, "WWW.Dev.Test", "DNS:WWW.Dev.Test,IP:10.1.2.3,IP:fd00:1::5", &len);
	(void)state;

	assert_int_equal(ca_csr_new(der, len, 0, &req, &err), 0);
	memset(&in, 0, sizeof(in));
	assert_int_equal(policy_input_from_csr(req, &in, &err), 0);
	assert_string_equal(in.subject_cn, "WWW.Dev.Test");
	assert_int_equal(in.n_dns, 1);
	assert_string_equal(in.dns[0], "www.dev.test");
	assert_int_equal(in.n_ips, 2);
	assert_string_equal(in.ips[0], "10.1.2.3");
	assert_string_equal(in.ips[1], "fd00:1::5");
	assert_string_equal(in.key_type, "ec");
	assert_int_equal(in.key_bits, 256);
	policy_input_clear(&in);
	assert_null(in.dns);
	ca_csr_free(req);
	OPENSSL_free(der);
	/* Email and URI SANs are names too: an address's domain lower-cased, a URI as given. */
	der = make_csr(ec, "x.iot.test", "DNS:x.iot.test,email:CEO@Evil.Example,URI:spiffe://Prod/Admin",
		       &len);
	req = NULL;
	assert_int_equal(ca_csr_new(der, len, 0, &req, &err), 0);
	assert_int_equal(policy_input_from_csr(req, &in, &err), 0);
	assert_int_equal(in.n_emails, 1);
	assert_string_equal(in.emails[0], "CEO@evil.example");
	assert_int_equal(in.n_uris, 1);
	assert_string_equal(in.uris[0], "spiffe://Prod/Admin");
	policy_input_clear(&in);
	assert_null(in.emails);
	assert_null(in.uris);
	ca_csr_free(req);
	OPENSSL_free(der);

	der = make_csr(rsa, "user-1", NULL, &len);
	req = NULL;
	assert_int_equal(ca_csr_new(der, len, 0, &req, &err), 0);
	assert_int_equal(policy_input_from_csr(req, &in, &err), 0);
	assert_string_equal(in.key_type, "rsa");
	assert_int_equal(in.key_bits, 2048);
	/* No SAN: the CN is the one name. */
	assert_int_equal(in.n_dns + in.n_ips, 1);
	assert_string_equal(in.dns[0], "user-1");
	assert_ptr_equal(in.cn_name, in.dns[0]);
	policy_input_clear(&in);
	ca_csr_free(req);
	OPENSSL_free(der);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
}

/* ---------- every name decides: the strictest verdict over all of them ---------- */

static const char *const names_policy =
	"{\"rules\": ["
	" {\"name\": \"weak\", \"match\": {\"key_type\": \"rsa\", \"max_key_bits\": 2047},"
	"  \"action\": \"reject\", \"reason\": \"weak key\"},"
	" {\"name\": \"payments\", \"match\": {\"dns_exact\": [\"pay.example.test\"]},"
	"  \"action\": \"approve\", \"approvals\": 2, \"approver_role\": \"admin\"},"
	" {\"name\": \"ops\", \"match\": {\"dns_exact\": [\"ops.example.test\"]},"
	"  \"action\": \"approve\", \"approver_role\": \"operator\"},"
	" {\"name\": \"staff\", \"match\": {\"dns_suffix\": [\"staff.example.test\"]},"
	"  \"action\": \"approve\"},"
	" {\"name\": \"banned\", \"match\": {\"dns_exact\": [\"evil.example.test\"]},"
	"  \"action\": \"reject\", \"reason\": \"banned name\"},"
	" {\"name\": \"lab-deny\", \"match\": {\"ip_cidr\": [\"::ffff:10.20.0.0/112\"]},"
	"  \"action\": \"reject\", \"reason\": \"lab addresses\"},"
	" {\"name\": \"v6-wait\", \"match\": {\"ip_cidr\": [\"fd00::/8\"]}, \"action\": \"approve\"},"
	" {\"name\": \"lab-ok\", \"match\": {\"ip_cidr\": [\"10.30.0.0/16\"]}, \"action\": \"issue\"},"
	" {\"name\": \"web\", \"match\": {\"dns_suffix\": [\".example.test\"]}, \"action\": \"issue\"},"
	" {\"name\": \"other\", \"match\": {\"dns_suffix\": [\".other.test\"], \"wildcard\": false},"
	"  \"action\": \"issue\"},"
	" {\"name\": \"clients\", \"match\": {\"profile\": \"tls-client\"}, \"action\": \"issue\"},"
	" {\"name\": \"default\", \"match\": {}, \"action\": \"reject\", \"reason\": \"not allowed\"}"
	"]}";

/* Decides for the DNS names given (NULL-terminated), checking action, rule and, when
 * want_reason is given, the reason. Returns the decision. */
static policy_decision_t decide_names(const policy_t *p, const char *profile,
				      policy_action_t action, const char *rule,
				      const char *want_reason, ...)
{
	char *names[8];
	size_t n = 0;
	const char *s;
	policy_input_t in;
	policy_decision_t d;
	va_list ap;

	va_start(ap, want_reason);
	while ((s = va_arg(ap, const char *)) != NULL && n < 8)
		names[n++] = (char *)s;
	va_end(ap);
	in = input("acme", names, n);
	in.profile = profile;
	policy_decide(p, &in, &d);
	if (d.action != action || strcmp(d.rule, rule) != 0 ||
	    (want_reason != NULL && strcmp(d.reason, want_reason) != 0))
		fail_msg("%s: expected %s by \"%s\" (%s), got %s by \"%s\" (%s)", names[0],
			 policy_action_name(action), rule, want_reason ? want_reason : "-",
			 policy_action_name(d.action), d.rule, d.reason);
	return d;
}

static void test_names_strictest(void **state)
{
	policy_t *p = parse_ok(names_policy);
	policy_decision_t d;
	(void)state;

	/* The issue's case: a protected name next to an issuable one still waits. */
	d = decide_names(p, "tls-server", POLICY_APPROVE, "payments",
			 "pay.example.test needs 2 approvals by admin (rule payments)",
			 "pay.example.test", "x.other.test", NULL);
	assert_int_equal(d.approvals, 2);
	assert_string_equal(d.approver_role, "admin");
	decide_names(p, "tls-server", POLICY_APPROVE, "payments", NULL, "x.other.test",
		     "www.example.test", "pay.example.test", NULL);
	/* Any name a reject rule catches refuses the whole request, wherever it is. */
	decide_names(p, "tls-server", POLICY_REJECT, "banned", "banned name (evil.example.test)",
		     "pay.example.test", "evil.example.test", NULL);
	decide_names(p, "tls-server", POLICY_REJECT, "default", "not allowed (x.unknown.test)",
		     "www.example.test", "x.unknown.test", NULL);
	/* Every name issuable: issued. */
	decide_names(p, "tls-server", POLICY_ISSUE, "web", "rule web matches", "a.example.test",
		     "b.example.test", NULL);
	decide_names(p, "tls-server", POLICY_ISSUE, "web",
		     "every name may be issued at once (rule web and others)", "a.example.test",
		     "b.other.test", NULL);
	/* The most approvals, the strictest role: approver and operator together need admin. */
	d = decide_names(p, "tls-server", POLICY_APPROVE, "ops",
			 "ops.example.test needs 1 approval by operator (rule ops); 1 more need approval",
			 "ops.example.test", "a.staff.example.test", NULL);
	assert_int_equal(d.approvals, 1);
	assert_string_equal(d.approver_role, "admin");
	d = decide_names(p, "tls-server", POLICY_APPROVE, "staff", NULL, "a.staff.example.test",
			 "b.staff.example.test", NULL);
	assert_string_equal(d.approver_role, "");
	d = decide_names(p, "tls-server", POLICY_APPROVE, "payments", NULL, "a.staff.example.test",
			 "pay.example.test", NULL);
	assert_int_equal(d.approvals, 2);
	assert_string_equal(d.approver_role, "admin");
	/* A rule on the request's other facts applies to every name. */
	{
		char *one[] = { "www.example.test" };
		policy_input_t in = input("acme", one, 1);
		in.key_type = "rsa";
		in.key_bits = 1024;
		expect(p, &in, POLICY_REJECT, "weak");
	}
	policy_free(p);
}

static void test_wildcards(void **state)
{
	policy_t *p = parse_ok(names_policy), *q;
	policy_decision_t d;
	(void)state;

	/* *.example.test covers pay.example.test (waits) and evil.example.test (refused). */
	decide_names(p, "tls-server", POLICY_REJECT, "banned",
		     "banned name (*.example.test covering evil.example.test)", "*.example.test",
		     NULL);
	q = parse_ok("{\"rules\": ["
		     " {\"name\": \"payments\", \"match\": {\"dns_exact\": [\"pay.example.test\","
		     "  \"api.pay.example.test\"]}, \"action\": \"approve\", \"approvals\": 2},"
		     " {\"name\": \"sub\", \"match\": {\"dns_suffix\": [\"x.example.test\"]},"
		     "  \"action\": \"approve\", \"approvals\": 3},"
		     " {\"name\": \"deep\", \"match\": {\"dns_suffix\": [\".y.example.test\"]},"
		     "  \"action\": \"reject\"},"
		     " {\"name\": \"web\", \"match\": {\"dns_suffix\": [\".example.test\"]},"
		     "  \"action\": \"issue\"},"
		     " {\"name\": \"default\", \"match\": {}, \"action\": \"reject\"}]}");
	/* *.example.test covers pay.example.test (2) and x.example.test (3: a dot-less suffix
	 * matches itself), not api.pay.example.test nor anything under .y.example.test. */
	d = decide_names(q, "tls-server", POLICY_APPROVE, "sub",
			 "*.example.test covering x.example.test needs 3 approvals (rule sub); "
			 "1 more need approval",
			 "*.example.test", NULL);
	assert_int_equal(d.approvals, 3);
	decide_names(q, "tls-server", POLICY_APPROVE, "payments",
		     "*.pay.example.test covering api.pay.example.test needs 2 approvals (rule payments)",
		     "*.pay.example.test", NULL);
	decide_names(q, "tls-server", POLICY_REJECT, "deep", NULL, "*.y.example.test", NULL);
	decide_names(q, "tls-server", POLICY_APPROVE, "sub", NULL, "*.x.example.test", NULL);
	/* Satisfying an issue rule takes every covered name: no rule covers *.other.test. */
	decide_names(q, "tls-server", POLICY_REJECT, "default", NULL, "*.other.test", NULL);
	policy_free(q);

	/* First match per covered name: a rule that issues pay.example.test before the one that
	 * refuses it leaves pay issuable, so the wildcard is issued. */
	q = parse_ok("{\"rules\": ["
		     " {\"name\": \"pay-ok\", \"match\": {\"dns_exact\": [\"pay.example.test\"]},"
		     "  \"action\": \"issue\"},"
		     " {\"name\": \"pay-no\", \"match\": {\"dns_exact\": [\"pay.example.test\"]},"
		     "  \"action\": \"reject\"},"
		     " {\"name\": \"wild\", \"match\": {\"dns_exact\": [\"*.example.test\"]},"
		     "  \"action\": \"issue\"},"
		     " {\"name\": \"default\", \"match\": {}, \"action\": \"reject\"}]}");
	decide_names(q, "tls-server", POLICY_ISSUE, "wild", NULL, "*.example.test", NULL);
	/* dns_exact naming the wildcard covers it, not the names one by one. */
	decide_names(q, "tls-server", POLICY_REJECT, "default", NULL, "a.example.test", NULL);
	policy_free(q);

	/* match.wildcard false keeps working: "other" does not take *.other.test. */
	decide_names(p, "tls-server", POLICY_ISSUE, "other", NULL, "a.other.test", NULL);
	decide_names(p, "tls-server", POLICY_REJECT, "default", NULL, "*.other.test", NULL);
	decide_names(p, "tls-client", POLICY_ISSUE, "clients", NULL, "*.other.test", NULL);
	/* A '*' anywhere else (only a CN can carry one) is refused whatever the rules. */
	decide_names(p, "tls-client", POLICY_REJECT, "",
		     "the name has a '*' that is not the whole leftmost label (p*.example.test)",
		     "p*.example.test", NULL);
	decide_names(p, "tls-client", POLICY_REJECT, "", NULL, "*.*.example.test", NULL);
	policy_free(p);
}

static void test_ip_normalised(void **state)
{
	policy_t *p = parse_ok(names_policy), *q;
	char *v4[] = { "10.20.1.1" }, *mapped[] = { "::ffff:10.20.1.1" }, *ok[] = { "10.30.0.9" };
	char *ok_mapped[] = { "::ffff:10.30.0.9" }, *v6[] = { "fd00::1" };
	policy_input_t in = input("acme", NULL, 0);
	(void)state;

	/* ip_cidr written as ::ffff:10.20.0.0/112 is 10.20.0.0/16, however the name is written. */
	in.ips = v4;
	in.n_ips = 1;
	expect(p, &in, POLICY_REJECT, "lab-deny");
	in.ips = mapped;
	expect(p, &in, POLICY_REJECT, "lab-deny");
	in.ips = ok;
	expect(p, &in, POLICY_ISSUE, "lab-ok");
	in.ips = ok_mapped;
	expect(p, &in, POLICY_ISSUE, "lab-ok");
	in.ips = v6;
	expect(p, &in, POLICY_APPROVE, "v6-wait");
	/* IPv6 ranges holding ::ffff:0:0/96 hold every IPv4 address too. */
	q = parse_ok("{\"rules\": [{\"name\": \"all6\", \"match\": {\"ip_cidr\": [\"::/0\"]},"
		     " \"action\": \"reject\"}, {\"name\": \"rest\", \"match\": {}, \"action\": \"issue\"}]}");
	in.ips = v4;
	expect(q, &in, POLICY_REJECT, "all6");
	policy_free(q);
	parse_fails("{\"rules\": [{\"name\": \"a\", \"match\": {\"ip_cidr\": [\"::ffff:10.0.0.0/129\"]},"
		    " \"action\": \"issue\"}]}",
		    "\"::ffff:10.0.0.0/129\" is not an address or CIDR range");
	policy_free(p);
}

/* Decision for a CSR with subject cn and sans on profile (through policy_input_from_csr). */
static policy_decision_t decide_csr(const policy_t *p, const char *profile, const char *cn,
				    const char *sans, policy_input_t *in_out)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	policy_input_t in;
	policy_decision_t d;
	cairn_err_t err = { 0 };
	ca_csr_t *req = NULL;
	size_t len;
	uint8_t *der = make_csr(k, cn, sans, &len);

	assert_int_equal(ca_csr_new(der, len, 0, &req, &err), 0);
	memset(&in, 0, sizeof(in));
	if (policy_input_from_csr(req, &in, &err) != 0)
		fail_msg("policy_input_from_csr: %s", cairn_err_msg(&err));
	in.channel = "admin";
	in.requester = "admin:carol";
	in.profile = profile;
	in.validity_days = 30;
	policy_decide(p, &in, &d);
	if (in_out != NULL)
		*in_out = in;
	else
		policy_input_clear(&in);
	ca_csr_free(req);
	OPENSSL_free(der);
	EVP_PKEY_free(k);
	return d;
}

static void test_cn_is_a_name(void **state)
{
	policy_t *p = parse_ok(names_policy);
	policy_input_t in;
	policy_decision_t d;
	(void)state;

	/* A tls-client CN that is a protected name waits, though the profile issues anything. */
	d = decide_csr(p, "tls-client", "Pay.Example.Test.", NULL, &in);
	assert_int_equal(d.action, POLICY_APPROVE);
	assert_string_equal(d.rule, "payments");
	assert_string_equal(d.reason, "CN pay.example.test needs 2 approvals by admin (rule payments)");
	assert_int_equal(in.n_dns, 1);
	assert_string_equal(in.dns[0], "pay.example.test");
	assert_ptr_equal(in.cn_name, in.dns[0]);
	policy_input_clear(&in);
	assert_null(in.cn_name);
	d = decide_csr(p, "tls-client", "  pay.example.test  ", NULL, NULL);
	assert_int_equal(d.action, POLICY_APPROVE);
	/* Beside other SANs, too. */
	d = decide_csr(p, "tls-client", "pay.example.test", "DNS:www.example.test", NULL);
	assert_int_equal(d.action, POLICY_APPROVE);
	/* A CN that is one of the SANs is not counted twice. */
	d = decide_csr(p, "tls-server", "www.example.test", "DNS:WWW.example.test", &in);
	assert_int_equal(d.action, POLICY_ISSUE);
	assert_int_equal(in.n_dns, 1);
	assert_null(in.cn_name);
	policy_input_clear(&in);
	/* A CN any parser reads as an address is that address. */
	d = decide_csr(p, "tls-client", "10.20.257", NULL, &in);
	assert_int_equal(d.action, POLICY_REJECT);
	assert_string_equal(d.rule, "lab-deny");
	assert_int_equal(in.n_ips, 1);
	assert_string_equal(in.ips[0], "10.20.1.1");
	policy_input_clear(&in);
	d = decide_csr(p, "tls-client", "::ffff:10.20.1.1", NULL, NULL);
	assert_string_equal(d.rule, "lab-deny");
	/* IPv4-mapped IPv6 SANs arrive as IPv4. */
	d = decide_csr(p, "tls-server", "10.20.1.1", "IP:::ffff:10.20.1.1", &in);
	assert_string_equal(d.rule, "lab-deny");
	assert_int_equal(in.n_ips, 1);
	policy_input_clear(&in);
	/* A CN that names no host is still a name: only rules without name fields take it. */
	d = decide_csr(p, "tls-client", "Alice Smith", NULL, NULL);
	assert_int_equal(d.action, POLICY_ISSUE);
	assert_string_equal(d.rule, "clients");
	d = decide_csr(p, "tls-server", "Alice Smith", "DNS:www.example.test", NULL);
	assert_int_equal(d.action, POLICY_REJECT);
	assert_string_equal(d.reason, "not allowed (CN alice smith)");
	policy_free(p);
}

/* Collects what policy_explain reports, one line per step. */
static void collect_step(const policy_step_t *s, void *arg)
{
	char *buf = arg;
	size_t len = strlen(buf);

	snprintf(buf + len, 4096 - len, "%s|%s|%s|%s\n", s->name ? s->name : "-",
		 s->covered ? s->covered : "-", s->rule, s->why ? "passed" : policy_action_name(s->action));
}

static void test_explain_names(void **state)
{
	policy_t *p = parse_ok(names_policy);
	char *two[] = { "pay.example.test", "*.example.test" };
	policy_input_t in = input("acme", two, 2);
	policy_decision_t d;
	char buf[4096] = "";
	(void)state;

	policy_explain(p, &in, collect_step, buf, &d);
	assert_int_equal(d.action, POLICY_REJECT);
	assert_non_null(strstr(buf, "pay.example.test|-|weak|passed\n"));
	assert_non_null(strstr(buf, "pay.example.test|-|payments|approve\n"));
	assert_non_null(strstr(buf, "*.example.test|-|payments|passed\n"));
	assert_non_null(strstr(buf, "*.example.test|-|web|issue\n"));
	assert_non_null(strstr(buf, "*.example.test|pay.example.test|payments|approve\n"));
	assert_non_null(strstr(buf, "*.example.test|ops.example.test|ops|approve\n"));
	assert_non_null(strstr(buf, "*.example.test|evil.example.test|banned|reject\n"));
	assert_non_null(strstr(buf, "*.example.test|staff.example.test|staff|approve\n"));
	/* A request without names is tried once, as a whole. */
	buf[0] = '\0';
	in = input("acme", NULL, 0);
	policy_explain(p, &in, collect_step, buf, &d);
	assert_non_null(strstr(buf, "-|-|payments|passed\n"));
	assert_non_null(strstr(buf, "-|-|default|reject\n"));
	policy_free(p);
}

/* ---------- email and URI SANs are names of the policy (attack review F5) ---------- */

/* The probe's label allowed only .iot.test; an identity on a client certificate is its
 * email or URI SAN as much as its DNS name. */
static const char *const iot_only_policy =
	"{\"rules\": ["
	" {\"name\": \"iot\", \"match\": {\"dns_suffix\": [\".iot.test\"], \"ip_cidr\": [\"10.1.0.0/16\"]},"
	"  \"action\": \"issue\"},"
	" {\"name\": \"default\", \"match\": {}, \"action\": \"reject\", \"reason\": \"not allowed\"}"
	"]}";

static const char *const identity_policy =
	"{\"rules\": ["
	" {\"name\": \"spiffe-admin\", \"match\": {\"uri_prefix\": [\"spiffe://prod/admin\"]},"
	"  \"action\": \"reject\", \"reason\": \"admin identity\"},"
	" {\"name\": \"mail\", \"match\": {\"email_domain\": [\"corp.test\", \".mail.corp.test\"]},"
	"  \"action\": \"approve\", \"approvals\": 2},"
	" {\"name\": \"iot\", \"match\": {\"dns_suffix\": [\".iot.test\"]}, \"action\": \"issue\"},"
	" {\"name\": \"spiffe\", \"match\": {\"uri_prefix\": [\"spiffe://prod/\"]}, \"action\": \"issue\"},"
	" {\"name\": \"clients\", \"match\": {\"profile\": \"tls-client\"}, \"action\": \"issue\"},"
	" {\"name\": \"default\", \"match\": {}, \"action\": \"reject\", \"reason\": \"not allowed\"}"
	"]}";

/* Decides a request for one DNS name plus the email (may be NULL) and URI (may be NULL)
 * on profile, expecting action by rule and, when given, the reason. */
static policy_decision_t decide_identity(const policy_t *p, const char *profile,
					 const char *email, const char *uri,
					 policy_action_t action, const char *rule,
					 const char *want_reason)
{
	char *dns[] = { "x.iot.test" }, *emails[] = { (char *)email }, *uris[] = { (char *)uri };
	policy_input_t in = input("est", dns, 1);
	policy_decision_t d;

	in.profile = profile;
	in.emails = emails;
	in.n_emails = email != NULL;
	in.uris = uris;
	in.n_uris = uri != NULL;
	policy_decide(p, &in, &d);
	if (d.action != action || strcmp(d.rule, rule) != 0 ||
	    (want_reason != NULL && strcmp(d.reason, want_reason) != 0))
		fail_msg("%s %s: expected %s by \"%s\" (%s), got %s by \"%s\" (%s)",
			 email ? email : "-", uri ? uri : "-", policy_action_name(action), rule,
			 want_reason ? want_reason : "-", policy_action_name(d.action), d.rule,
			 d.reason);
	return d;
}

static void test_email_uri_names(void **state)
{
	policy_t *p = parse_ok(iot_only_policy);
	policy_decision_t d;
	char *none[] = { NULL }, *mail[] = { "a@corp.test" };
	policy_input_t in;
	char buf[4096] = "";
	(void)state;

	/* The probe: a DNS name the label allows, and an email and a URI it does not. */
	decide_identity(p, "tls-client", NULL, NULL, POLICY_ISSUE, "iot", NULL);
	decide_identity(p, "tls-client", "ceo@evil.example", NULL, POLICY_REJECT, "default",
			"not allowed (ceo@evil.example)");
	d = decide_identity(p, "tls-client", NULL, "spiffe://prod/admin", POLICY_REJECT, "default",
			    "not allowed (spiffe://prod/admin)");
	assert_string_equal(d.name, "spiffe://prod/admin");
	/* A rule with DNS/IP fields does not take them: the explanation says so. */
	in = input("est", none, 0);
	in.emails = mail;
	in.n_emails = 1;
	policy_explain(p, &in, collect_step, buf, &d);
	assert_int_equal(d.action, POLICY_REJECT);
	assert_non_null(strstr(buf, "a@corp.test|-|iot|passed\n"));
	assert_non_null(strstr(buf, "a@corp.test|-|default|reject\n"));
	policy_free(p);

	p = parse_ok(identity_policy);
	/* email_domain: "d" is d alone, ".d" what is under d. */
	decide_identity(p, "tls-server", "ops@corp.test", NULL, POLICY_APPROVE, "mail",
			"ops@corp.test needs 2 approvals (rule mail)");
	decide_identity(p, "tls-server", "ops@eu.mail.corp.test", NULL, POLICY_APPROVE, "mail", NULL);
	decide_identity(p, "tls-server", "ops@mail.corp.test", NULL, POLICY_REJECT, "default",
			"not allowed (ops@mail.corp.test)");
	decide_identity(p, "tls-server", "ops@x.corp.test", NULL, POLICY_REJECT, "default", NULL);
	decide_identity(p, "tls-server", "ops@evilcorp.test", NULL, POLICY_REJECT, "default", NULL);
	/* uri_prefix: an exact byte prefix. */
	decide_identity(p, "tls-server", NULL, "spiffe://prod/web", POLICY_ISSUE, "iot",
			"every name may be issued at once (rule iot and others)");
	decide_identity(p, "tls-server", NULL, "spiffe://prod/admin/x", POLICY_REJECT,
			"spiffe-admin", "admin identity (spiffe://prod/admin/x)");
	decide_identity(p, "tls-server", NULL, "spiffe://production/web", POLICY_REJECT, "default",
			NULL);
	decide_identity(p, "tls-server", NULL, "SPIFFE://prod/web", POLICY_REJECT, "default", NULL);
	/* A rule without name fields takes them, like any name. */
	decide_identity(p, "tls-client", "ceo@evil.example", "https://evil.example/",
			POLICY_ISSUE, "iot", NULL);
	/* Strictest wins across kinds: reject > approve > issue, whatever the order of names. */
	decide_identity(p, "tls-server", "ops@corp.test", "spiffe://prod/web", POLICY_APPROVE,
			"mail", "ops@corp.test needs 2 approvals (rule mail)");
	decide_identity(p, "tls-client", "ops@corp.test", "spiffe://prod/admin", POLICY_REJECT,
			"spiffe-admin", "admin identity (spiffe://prod/admin)");
	/* A name field of one kind does not take another kind's names. */
	{
		char *dns[] = { "corp.test" };
		in = input("est", dns, 1);
		expect(p, &in, POLICY_REJECT, "default");
	}
	policy_free(p);
}

/* A CN is a name of the kind it reads as: an '@' makes it an email address, a scheme a
 * URI, and a rule listing only the DNS suffix .iot.test takes neither. */
/* The decision for a CSR whose only name is the CN cn: action by rule (NULL: any rule). */
static void cn_decides(const policy_t *p, const char *profile, const char *cn,
		       policy_action_t action, const char *rule)
{
	policy_decision_t d = decide_csr(p, profile, cn, NULL, NULL);

	if (d.action != action || (rule != NULL && strcmp(d.rule, rule) != 0))
		fail_msg("CN %s: expected %s by \"%s\", got %s by \"%s\"", cn,
			 policy_action_name(action), rule ? rule : "*", policy_action_name(d.action),
			 d.rule);
}

static void test_cn_kinds(void **state)
{
	policy_t *p = parse_ok(iot_only_policy), *id = parse_ok(identity_policy);
	policy_input_t in;
	policy_decision_t d;
	char buf[4096] = "";
	(void)state;

	d = decide_csr(p, "tls-client", "ceo@x.iot.test", NULL, &in);
	assert_int_equal(d.action, POLICY_REJECT);
	assert_string_equal(d.reason, "not allowed (CN ceo@x.iot.test)");
	assert_int_equal(in.n_dns, 0);
	assert_int_equal(in.n_emails, 1);
	assert_ptr_equal(in.cn_name, in.emails[0]);
	policy_explain(p, &in, collect_step, buf, &d);
	assert_non_null(strstr(buf, "ceo@x.iot.test|-|iot|passed\n"));
	policy_input_clear(&in);
	/* Beside a DNS SAN the rule takes: the strictest verdict wins. */
	d = decide_csr(p, "tls-client", "ceo@x.iot.test", "DNS:x.iot.test", NULL);
	assert_int_equal(d.action, POLICY_REJECT);
	/* As an email address: its domain lower-cased, checked against email_domain. */
	d = decide_csr(id, "tls-server", "Ops@Corp.Test", NULL, &in);
	assert_string_equal(d.rule, "mail");
	assert_string_equal(in.emails[0], "Ops@corp.test");
	policy_input_clear(&in);
	/* Not one plain address: refused whatever the rules say (readers differ on its domain). */
	cn_decides(id, "tls-client", "a@evil.test@x.mail.corp.test", POLICY_REJECT, "");
	cn_decides(id, "tls-client", "@corp.test", POLICY_REJECT, "");
	/* A URI as written (case counts), checked against uri_prefix. */
	d = decide_csr(p, "tls-client", "spiffe://prod/x.iot.test", NULL, &in);
	assert_int_equal(d.action, POLICY_REJECT);
	assert_int_equal(in.n_uris, 1);
	assert_string_equal(in.uris[0], "spiffe://prod/x.iot.test");
	policy_input_clear(&in);
	cn_decides(id, "tls-server", " spiffe://prod/web ", POLICY_ISSUE, "spiffe");
	cn_decides(id, "tls-server", "SPIFFE://prod/web", POLICY_REJECT, "default");
	cn_decides(id, "tls-client", "spiffe://prod/admin/x", POLICY_REJECT, "spiffe-admin");
	/* A CN that is the URI SAN is not counted twice. */
	d = decide_csr(id, "tls-server", "spiffe://prod/web", "URI:spiffe://prod/web", &in);
	assert_int_equal(in.n_uris, 1);
	assert_null(in.cn_name);
	policy_input_clear(&in);
	/* Nor the email SAN it names with its domain in another case (one mailbox); a
	 * local part in another case is another mailbox (RFC 5321 2.4), listed too. */
	d = decide_csr(id, "tls-server", "Ops@Corp.Test", "email:Ops@corp.test", &in);
	assert_int_equal(in.n_emails, 1);
	assert_string_equal(in.emails[0], "Ops@corp.test");
	assert_null(in.cn_name);
	policy_input_clear(&in);
	d = decide_csr(id, "tls-server", "OPS@corp.test", "email:Ops@corp.test", &in);
	assert_int_equal(in.n_emails, 2);
	assert_string_equal(in.cn_name, "OPS@corp.test");
	policy_input_clear(&in);
	/* An IPv6 address keeps being an address, not a URI with scheme "fd00". */
	d = decide_csr(p, "tls-client", "fd00::1", NULL, &in);
	assert_int_equal(in.n_ips, 1);
	policy_input_clear(&in);
	/* A CN no host name could be is text: no dns_suffix lists it, whatever it ends in
	 * (on tls-client nothing else checks the CN); a rule without name fields takes it. */
	cn_decides(p, "tls-client", "Alice Smith.iot.test", POLICY_REJECT, "default");
	cn_decides(p, "tls-client", "evil.example#x.iot.test", POLICY_REJECT, "default");
	cn_decides(p, "tls-client", "1evil:x.iot.test", POLICY_REJECT, "default");
	cn_decides(p, "tls-client", "\xc2\xa0spiffe://prod/admin.iot.test", POLICY_REJECT, "default");
	cn_decides(p, "tls-client", "x.iot.test", POLICY_ISSUE, "iot");
	cn_decides(id, "tls-client", "Alice Smith", POLICY_ISSUE, "clients");
	cn_decides(id, "tls-client", "Alice Smith.iot.test", POLICY_ISSUE, "clients");
	cn_decides(id, "tls-server", "Alice Smith.iot.test", POLICY_REJECT, "default");
	d = decide_csr(p, "tls-client", "Alice Smith.iot.test", NULL, &in);
	buf[0] = '\0';
	policy_explain(p, &in, collect_step, buf, &d);
	assert_non_null(strcasestr(buf, "Alice Smith.iot.test|-|iot|passed\n"));
	policy_input_clear(&in);
	/* A URI CN with a dot-segment is refused whatever the rules say (a consumer that
	 * normalises it reads spiffe://prod/admin, outside the prefix). */
	cn_decides(id, "tls-server", "spiffe://prod/web/../admin", POLICY_REJECT, "");
	cn_decides(id, "tls-server", "spiffe://prod/web/%2e%2e/admin", POLICY_REJECT, "");
	/* A wildcard over text is refused whatever the rules say. */
	cn_decides(id, "tls-client", "*.evil x.iot.test", POLICY_REJECT, "");
	policy_free(p);
	policy_free(id);
}

/* 100 names, every one a wildcard, against 1000 rules listing 10 names each: bounded. */
static void test_many_names_bounded(void **state)
{
	size_t cap = 1 << 20, len = 0, i;
	char *text = malloc(cap), *names[100];
	policy_t *p;
	policy_input_t in;
	policy_decision_t d;
	(void)state;

	assert_non_null(text);
	len += (size_t)snprintf(text + len, cap - len, "{\"rules\": [");
	for (i = 0; i < 999; i++)
		len += (size_t)snprintf(text + len, cap - len,
					"{\"name\": \"r%zu\", \"match\": {\"dns_exact\": [\"a%zu.w.test\","
					" \"b%zu.w.test\", \"c%zu.w.test\", \"d%zu.w.test\", \"e%zu.w.test\","
					" \"f%zu.w.test\", \"g%zu.w.test\", \"h%zu.w.test\", \"i%zu.w.test\","
					" \"j%zu.w.test\"]}, \"action\": \"%s\"},",
					i, i, i, i, i, i, i, i, i, i, i, i % 2 ? "issue" : "approve");
	snprintf(text + len, cap - len, "{\"name\": \"all\", \"match\": {}, \"action\": \"issue\"}]}");
	p = parse_ok(text);
	for (i = 0; i < 100; i++)
		names[i] = "*.w.test";
	in = input("acme", names, 100);
	policy_decide(p, &in, &d);
	assert_int_equal(d.action, POLICY_APPROVE);
	assert_string_equal(d.rule, "r0");
	policy_free(p);
	free(text);
}

/* ---------- the engine over a real token, CA and database ---------- */

#define TOKEN_LABEL "cairn-policy-test"

typedef struct fixture {
	char dir[64];
	char policy_path[128];
	hsm_t *hsm;
	db_t *db;
	ca_t *ca;
	policy_engine_t *engine;
	EVP_PKEY *key;
} fixture_t;

static void write_policy(const fixture_t *f, const char *text)
{
	assert_int_equal(fs_write_atomic(f->policy_path, text, strlen(text), 0600), 0);
}

static int fixture_setup(void **state)
{
	fixture_t *f = calloc(1, sizeof(*f));
	cairn_err_t err = { 0 };

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/cairn-test-policy-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	fixture_ca_make(f->dir, TOKEN_LABEL, "Policy", &f->hsm, &f->db, &f->ca);
	snprintf(f->policy_path, sizeof(f->policy_path), "%s/policy.json", f->dir);
	write_policy(f, example_policy);
	if (policy_engine_new(f->ca, f->db, f->policy_path, 3600, &f->engine, &err) != 0)
		fail_msg("policy_engine_new: %s", cairn_err_msg(&err));
	f->key = EVP_EC_gen("P-256");
	*state = f;
	return 0;
}

static int fixture_teardown(void **state)
{
	fixture_t *f = *state;

	policy_engine_free(f->engine);
	ca_free(f->ca);
	db_close(f->db);
	hsm_close(f->hsm);
	EVP_PKEY_free(f->key);
	fixture_rmtree(f->dir);
	free(f);
	return 0;
}

/* Submits a CSR for sans by requester on channel; returns the code (0: issued or pending).
 * Whatever the outcome, the submission decodes and verifies nothing: the request object
 * was built once before it. */
static int submit(fixture_t *f, const char *channel, const char *requester, const char *cn,
		  const char *sans, policy_outcome_t *out, cairn_err_t *err)
{
	size_t len;
	uint8_t *der = make_csr(f->key, cn, sans, &len);
	ca_csr_t *csr = NULL;
	ca_request_t r = { .profile = "tls-server", .requester = requester, .channel = channel };
	uint64_t parsed, verified, parsed_after, verified_after;
	policy_submit_result_t res;
	int rc;

	memset(err, 0, sizeof(*err));
	assert_int_equal(ca_csr_new(der, len, 0, &csr, err), 0);
	r.csr = csr;
	ca_csr_counts(&parsed, &verified);
	res = policy_submit(f->engine, &r, NULL, out, err);
	ca_csr_counts(&parsed_after, &verified_after);
	assert_int_equal(parsed_after, parsed);
	assert_int_equal(verified_after, verified);
	switch (res) {
	case POLICY_SUBMIT_ISSUED:
		assert_non_null(out->issued);
		assert_int_equal(out->decision.action, POLICY_ISSUE);
		rc = 0;
		break;
	case POLICY_SUBMIT_PENDING:
		assert_null(out->issued);
		assert_int_equal(out->decision.action, POLICY_APPROVE);
		rc = 0;
		break;
	case POLICY_SUBMIT_REJECTED:
		assert_int_equal(err->code, CAIRN_EDENIED);
		rc = err->code;
		break;
	default:
		assert_true(err->code < 0 && err->code != CAIRN_EDENIED);
		rc = err->code;
	}
	ca_csr_free(csr);
	OPENSSL_free(der);
	return rc;
}

/* Number of audit events with this action (and, when id is given, details.id == id). */
static int count_events(fixture_t *f, const char *action, const char *id)
{
	char path[256], line[8192];
	FILE *tmp;
	int n = 0;

	snprintf(path, sizeof(path), "%s/audit.jsonl", f->dir);
	tmp = fopen(path, "w+");
	assert_non_null(tmp);
	assert_int_equal(audit_export(f->db, tmp, AUDIT_FMT_JSONL, 0, 0, NULL, NULL), 0);
	rewind(tmp);
	while (fgets(line, sizeof(line), tmp) != NULL) {
		json_t *ev = json_loads(line, 0, NULL);
		const char *a = json_string_value(json_object_get(ev, "action"));
		const char *eid = json_string_value(
			json_object_get(json_object_get(ev, "details"), "id"));
		if (a && strcmp(a, action) == 0 && (id == NULL || (eid && strcmp(eid, id) == 0)))
			n++;
		json_decref(ev);
	}
	fclose(tmp);
	return n;
}

static int cert_stored(fixture_t *f, const char *serial_hex)
{
	uint8_t serial[DB_SERIAL_MAX];
	int len = hex_decode(serial_hex, serial, sizeof(serial));
	db_txn_t *txn = NULL;
	db_cert_t c;
	int found;

	assert_true(len > 0);
	assert_int_equal(db_read_begin(f->db, &txn), 0);
	found = db_cert_get(txn, serial, (size_t)len, &c) == 0;
	db_txn_end(txn);
	return found;
}

static void test_engine_issue_and_reject(void **state)
{
	fixture_t *f = *state;
	policy_outcome_t out;
	cairn_err_t err;

	assert_int_equal(submit(f, "acme", "acme:acct/1", NULL, "DNS:www.dev.test", &out, &err), 0);
	assert_int_equal(out.decision.action, POLICY_ISSUE);
	assert_string_equal(out.decision.rule, "dev");
	assert_non_null(out.issued);
	assert_true(cert_stored(f, out.issued->serial_hex));
	ca_issued_free(out.issued);

	assert_int_equal(submit(f, "acme", "acme:acct/1", NULL, "DNS:www.example.org", &out, &err),
			 CAIRN_EDENIED);
	assert_int_equal(out.decision.action, POLICY_REJECT);
	assert_null(out.issued);
	assert_non_null(strstr(err.msg, "default"));
	assert_non_null(strstr(err.msg, "not allowed by policy"));
	assert_int_equal(count_events(f, "request.rejected", NULL), 1);

	/* The CSR is checked against the profile before the policy is asked. */
	assert_int_equal(submit(f, "acme", "acme:acct/1", "other.dev.test", "DNS:www.dev.test",
				&out, &err),
			 CAIRN_ENAME);
}

static void test_engine_approvals(void **state)
{
	fixture_t *f = *state;
	policy_outcome_t out;
	request_info_t info;
	cairn_err_t err;
	char id[33];

	assert_int_equal(submit(f, "admin", "admin:carol", NULL, "DNS:api.prod.test", &out, &err), 0);
	assert_int_equal(out.decision.action, POLICY_APPROVE);
	assert_null(out.issued);
	assert_int_equal(strlen(out.request.id), 32);
	assert_int_equal(out.request.status, REQ_PENDING);
	assert_int_equal(out.request.approvals_needed, 2);
	assert_true(out.request.expires - out.request.created == 3600);
	snprintf(id, sizeof(id), "%s", out.request.id);
	assert_int_equal(count_events(f, "request.pending", id), 1);

	assert_int_equal(policy_request_get(f->engine, id, &info, &err), 0);
	assert_int_equal(info.status, REQ_PENDING);
	assert_string_equal(info.requester, "admin:carol");
	assert_string_equal(info.rule, "prod");
	/* The request says which name made it wait. */
	assert_string_equal(info.reason, "api.prod.test needs 2 approvals (rule prod)");

	/* The requester cannot approve; an auditor cannot decide. */
	assert_int_equal(policy_request_approve(f->engine, id, "admin:carol", "approver", NULL, NULL,
						&err),
			 CAIRN_EDENIED);
	assert_int_equal(policy_request_approve(f->engine, id, "admin:dave", "auditor", NULL, NULL,
						&err),
			 CAIRN_EDENIED);
	assert_int_equal(policy_request_approve(f->engine, id, "admin:alice", "approver", "ok",
						&info, &err),
			 0);
	assert_int_equal(info.status, REQ_PENDING);
	assert_int_equal(info.approvals_have, 1);
	/* The same approver twice does not count. */
	assert_int_equal(policy_request_approve(f->engine, id, "admin:alice", "approver", NULL,
						&info, &err),
			 CAIRN_EEXIST);
	assert_int_equal(policy_request_get(f->engine, id, &info, &err), 0);
	assert_int_equal(info.approvals_have, 1);
	assert_int_equal(info.status, REQ_PENDING);
	/* The last approval issues. */
	assert_int_equal(policy_request_approve(f->engine, id, "admin:bob", "admin", NULL, &info,
						&err),
			 0);
	assert_int_equal(info.status, REQ_ISSUED);
	assert_int_equal(info.approvals_have, 2);
	assert_true(strlen(info.serial_hex) > 0);
	assert_true(cert_stored(f, info.serial_hex));
	assert_int_equal(count_events(f, "request.approve", id), 2);
	assert_int_equal(count_events(f, "request.issued", id), 1);
	/* What an ACME order or EST poll hands out. */
	{
		ca_issued_t *is = NULL;
		assert_int_equal(policy_request_certificate(f->engine, id, &is, &err), 0);
		char *pem = NULL, *chain = NULL;
		assert_string_equal(is->serial_hex, info.serial_hex);
		assert_string_equal(is->issuer, "issuing");
		assert_true(is->der_len > 0);
		assert_int_equal(ca_issued_pem(f->ca, is, &pem, &chain), 0);
		assert_non_null(strstr(pem, "BEGIN CERTIFICATE"));
		assert_true(strlen(chain) > strlen(pem));
		free(pem);
		free(chain);
		assert_int_equal(X509_check_host(is->cert, "api.prod.test", 0, 0, NULL), 1);
		ca_issued_free(is);
	}
	/* Decided requests take no more decisions. */
	assert_int_equal(policy_request_approve(f->engine, id, "admin:erin", "approver", NULL, NULL,
						&err),
			 CAIRN_ECONFLICT);
	assert_int_equal(policy_request_reject(f->engine, id, "admin:erin", "approver", NULL, NULL,
					       &err),
			 CAIRN_ECONFLICT);
	assert_int_equal(policy_request_get(f->engine, "00112233445566778899aabbccddeeff", &info,
					    &err),
			 CAIRN_ENOENT);
	assert_int_equal(policy_request_get(f->engine, "../x", &info, &err), CAIRN_ENOENT);
}

static void test_engine_reject_role_and_list(void **state)
{
	fixture_t *f = *state;
	policy_outcome_t out;
	request_info_t info;
	cairn_err_t err;
	char first[33], second[33];
	json_t *doc = NULL;

	assert_int_equal(submit(f, "acme", "acme:acct/9", NULL, "DNS:x.prod.test", &out, &err), 0);
	snprintf(first, sizeof(first), "%s", out.request.id);
	assert_int_equal(policy_request_approve(f->engine, first, "admin:alice", "approver", NULL,
						NULL, &err),
			 0);
	/* One reject ends it. */
	assert_int_equal(policy_request_reject(f->engine, first, "admin:bob", "approver",
					       "unknown host", &info, &err),
			 0);
	assert_int_equal(info.status, REQ_REJECTED);
	assert_string_equal(info.reason, "unknown host");
	{
		ca_issued_t *is = NULL;
		assert_int_equal(policy_request_certificate(f->engine, first, &is, &err),
				 CAIRN_ECONFLICT);
		assert_non_null(strstr(err.msg, "rejected: unknown host"));
		assert_null(is);
	}
	assert_int_equal(policy_request_approve(f->engine, first, "admin:carol", "approver", NULL,
						NULL, &err),
			 CAIRN_ECONFLICT);
	assert_int_equal(policy_request_json(f->engine, first, &doc, &err), 0);
	assert_string_equal(json_string_value(json_object_get(doc, "decided_by")), "admin:bob");
	assert_null(json_object_get(doc, "csr"));
	assert_int_equal(json_array_size(json_object_get(doc, "approvals")), 1);
	json_decref(doc);

	/* A rule that wants admins as approvers. */
	assert_int_equal(submit(f, "acme", "acme:acct/9", NULL, "DNS:vault.corp.test", &out, &err), 0);
	snprintf(second, sizeof(second), "%s", out.request.id);
	assert_int_equal(out.request.approvals_needed, 1);
	assert_int_equal(policy_request_approve(f->engine, second, "admin:alice", "approver", NULL,
						NULL, &err),
			 CAIRN_EDENIED);
	assert_non_null(strstr(err.msg, "needs admin"));
	assert_int_equal(policy_requests_list(f->engine, -1, NULL, NULL), CAIRN_EINVAL);
}

struct listed {
	int n;
	char ids[8][33];
};

static int list_cb(const request_info_t *r, json_t *summary, void *arg)
{
	struct listed *l = arg;

	assert_non_null(json_object_get(summary, "names"));
	if (l->n < 8)
		snprintf(l->ids[l->n], sizeof(l->ids[0]), "%s", r->id);
	l->n++;
	return 0;
}

struct expire_op {
	const char *id;
	void (*edit)(json_t *rec); /* NULL: backdate */
};

/* Rewrites a stored request with edit; by default moves a pending request's deadline into
 * the past, as if its TTL had run out. */
static int backdate_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct expire_op *x = arg;
	const void *val;
	size_t len;
	json_t *rec;
	char *text;
	int rc;
	(void)err;

	assert_int_equal(db_get(txn, DB_REQUESTS, x->id, strlen(x->id), &val, &len), 0);
	rec = json_loadb(val, len, 0, NULL);
	if (x->edit != NULL)
		x->edit(rec);
	else
		json_object_set_new(rec, "expires", json_integer(time(NULL) - 1));
	text = json_dumps(rec, JSON_COMPACT);
	rc = db_put(txn, DB_REQUESTS, x->id, strlen(x->id), text, strlen(text), 0);
	free(text);
	json_decref(rec);
	return rc;
}

static void test_engine_list_and_expiry(void **state)
{
	fixture_t *f = *state;
	policy_outcome_t out;
	request_info_t info;
	cairn_err_t err;
	struct listed all = { 0 }, pending = { 0 }, expired = { 0 };
	struct expire_op x = { NULL, NULL };
	char a[33], b[33];

	assert_int_equal(submit(f, "acme", "acme:acct/1", NULL, "DNS:a.prod.test", &out, &err), 0);
	snprintf(a, sizeof(a), "%s", out.request.id);
	assert_int_equal(submit(f, "acme", "acme:acct/1", NULL, "DNS:b.prod.test", &out, &err), 0);
	snprintf(b, sizeof(b), "%s", out.request.id);
	assert_int_equal(policy_requests_list(f->engine, -1, list_cb, &all), 0);
	assert_int_equal(all.n, 2);
	assert_int_equal(policy_requests_list(f->engine, REQ_PENDING, list_cb, &pending), 0);
	assert_int_equal(pending.n, 2);

	x.id = a;
	assert_int_equal(db_write(f->db, backdate_op, &x, &err), 0);
	assert_int_equal(policy_requests_list(f->engine, REQ_EXPIRED, list_cb, &expired), 0);
	assert_int_equal(expired.n, 1);
	assert_string_equal(expired.ids[0], a);
	assert_int_equal(policy_request_approve(f->engine, a, "admin:alice", "approver", NULL, NULL,
						&err),
			 CAIRN_ECONFLICT);
	assert_non_null(strstr(err.msg, "expired"));
	assert_int_equal(policy_request_get(f->engine, a, &info, &err), 0);
	assert_int_equal(info.status, REQ_EXPIRED);
	assert_int_equal(count_events(f, "request.expired", a), 1);
	assert_int_equal(policy_request_get(f->engine, b, &info, &err), 0);
	assert_int_equal(info.status, REQ_PENDING);
	assert_int_equal(request_status_parse("expired"), REQ_EXPIRED);
	assert_string_equal(request_status_name(REQ_FAILED), "failed");
	assert_int_equal(request_status_parse("bogus"), -1);
}

/* Strips a stored request down to what records held before the CSR's facts, the decision
 * and the history were stored. */
static void make_old(json_t *rec)
{
	static const char *const added[] = { "subject", "sans", "key", "decision", "history",
					     "validity_granted" };
	size_t i;

	for (i = 0; i < sizeof(added) / sizeof(added[0]); i++)
		json_object_del(rec, added[i]);
}

/* Member key of step i of history h. */
static json_t *step(const json_t *h, size_t i, const char *key)
{
	return json_object_get(json_array_get(h, i), key);
}

static void step_is(const json_t *h, size_t i, const char *key, const char *want)
{
	assert_string_equal(json_string_value(step(h, i, key)), want);
}

/* doc.a.b */
static json_t *sub(const json_t *doc, const char *a, const char *b)
{
	return json_object_get(json_object_get(doc, a), b);
}

/* An old record whose CSR was damaged. */
static void make_old_broken(json_t *rec)
{
	make_old(rec);
	json_object_set_new(rec, "csr", json_string("bm90IGEgQ1NS"));
}

static int summary_cb(const request_info_t *r, json_t *summary, void *arg)
{
	(void)r;
	json_decref(*(json_t **)arg);
	*(json_t **)arg = json_incref(summary);
	return 0;
}

/* What approvers see: the CSR's facts, the deciding name, approvals and history; a record
 * from before they were stored reads the same (facts from its CSR, history rebuilt). */
static void test_engine_view(void **state)
{
	fixture_t *f = *state;
	policy_outcome_t out;
	cairn_err_t err;
	struct expire_op x = { NULL, NULL };
	json_t *doc = NULL, *h, *sum = NULL;
	char id[33];

	assert_int_equal(submit(f, "acme", "acme:acct/7", "x.prod.test",
				"DNS:x.prod.test,DNS:www.dev.test,IP:10.1.2.3", &out, &err), 0);
	assert_int_equal(out.decision.action, POLICY_APPROVE);
	assert_string_equal(out.decision.name, "x.prod.test");
	assert_int_equal(out.decision.name_from_cn, 0);
	assert_string_equal(out.decision.covered, "");
	snprintf(id, sizeof(id), "%s", out.request.id);
	assert_int_equal(policy_requests_list(f->engine, -1, summary_cb, &sum), 0);
	assert_string_equal(json_string_value(json_object_get(sum, "subject")), "OU=ignored,CN=x.prod.test");
	assert_int_equal(json_array_size(json_object_get(sum, "sans")), 3);
	json_decref(sum);
	sum = NULL;
	assert_int_equal(policy_request_approve(f->engine, id, "admin:alice", "approver", "fine",
						NULL, &err),
			 0);
	assert_int_equal(policy_request_json(f->engine, id, &doc, &err), 0);
	assert_string_equal(json_string_value(json_object_get(doc, "subject")), "OU=ignored,CN=x.prod.test");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(doc, "sans"), 2), "type")),
			    "ip");
	assert_string_equal(json_string_value(sub(doc, "key", "type")), "ec");
	assert_string_equal(json_string_value(sub(doc, "key", "curve")), "P-256");
	assert_string_equal(json_string_value(sub(doc, "decision", "name")),
			    "x.prod.test");
	assert_int_equal(json_integer_value(sub(doc, "validity", "granted_days")), 90);
	assert_true(json_is_null(sub(doc, "validity", "asked_days")));
	h = json_object_get(doc, "history");
	assert_int_equal(json_array_size(h), 2);
	step_is(h, 1, "event", "approved");
	assert_true(json_integer_value(step(h, 1, "seq")) >
		    json_integer_value(step(h, 0, "seq")));
	json_decref(doc);

	/* The same request as an old record: read from its CSR, history rebuilt. */
	x.id = id;
	x.edit = make_old;
	assert_int_equal(db_write(f->db, backdate_op, &x, &err), 0);
	assert_int_equal(policy_requests_list(f->engine, -1, summary_cb, &sum), 0);
	assert_null(json_object_get(sum, "sans"));
	assert_int_equal(json_array_size(json_object_get(sum, "names")), 3);
	json_decref(sum);
	assert_int_equal(policy_request_json(f->engine, id, &doc, &err), 0);
	assert_string_equal(json_string_value(json_object_get(doc, "subject")), "OU=ignored,CN=x.prod.test");
	assert_int_equal(json_array_size(json_object_get(doc, "sans")), 3);
	assert_int_equal(json_integer_value(sub(doc, "key", "bits")), 256);
	assert_string_equal(json_string_value(sub(doc, "decision", "rule")), "prod");
	assert_true(json_is_null(sub(doc, "decision", "name")));
	h = json_object_get(doc, "history");
	assert_int_equal(json_array_size(h), 2);
	assert_true(json_integer_value(step(h, 0, "seq")) > 0);
	assert_true(json_is_null(step(h, 1, "seq")));
	step_is(h, 1, "by", "admin:alice");
	json_decref(doc);
	/* Its next step keeps the rebuilt history and adds itself. */
	assert_int_equal(policy_request_approve(f->engine, id, "admin:bob", "approver", NULL, NULL,
						&err),
			 0);
	assert_int_equal(policy_request_json(f->engine, id, &doc, &err), 0);
	h = json_object_get(doc, "history");
	assert_int_equal(json_array_size(h), 4);
	step_is(h, 2, "by", "admin:bob");
	step_is(h, 3, "event", "issued");
	assert_int_equal(json_integer_value(sub(doc, "validity", "granted_days")), 90);
	assert_non_null(sub(doc, "validity", "not_after"));
	json_decref(doc);

	/* An expiry is history too. */
	assert_int_equal(submit(f, "acme", "acme:acct/7", NULL, "DNS:y.prod.test", &out, &err), 0);
	x.id = out.request.id;
	x.edit = NULL;
	assert_int_equal(db_write(f->db, backdate_op, &x, &err), 0);
	assert_int_equal(policy_request_json(f->engine, out.request.id, &doc, &err), 0);
	h = json_object_get(doc, "history");
	assert_int_equal(json_array_size(h), 2);
	step_is(h, 1, "event", "expired");
	step_is(h, 1, "by", "policy:expiry");
	json_decref(doc);

	/* An old record whose CSR does not read is still shown, saying why. */
	assert_int_equal(submit(f, "acme", "acme:acct/7", NULL, "DNS:z.prod.test", &out, &err), 0);
	x.id = out.request.id;
	x.edit = make_old_broken;
	assert_int_equal(db_write(f->db, backdate_op, &x, &err), 0);
	assert_int_equal(policy_request_json(f->engine, out.request.id, &doc, &err), 0);
	assert_non_null(json_string_value(json_object_get(doc, "facts_error")));
	assert_null(json_object_get(doc, "sans"));
	assert_null(json_object_get(doc, "csr"));
	step_is(json_object_get(doc, "history"), 0, "event", "submitted");
	json_decref(doc);
}

static void test_engine_reload(void **state)
{
	fixture_t *f = *state;
	policy_outcome_t out;
	cairn_err_t err = { 0 };
	audit_verify_result_t res;
	char *text;

	write_policy(f, "{\"rules\": [{\"name\": \"all\", \"match\": {\"dns_suffix\": \".x\"},"
			" \"action\": \"issue\"}]}");
	assert_int_equal(policy_engine_reload(f->engine, &err), CAIRN_ECONFIG);
	assert_non_null(strstr(err.msg, "rules[0] (all).match.dns_suffix"));
	/* A profile the CA does not have: the rule could never match. */
	write_policy(f, "{\"rules\": [{\"name\": \"srv\", \"match\": {\"profile\": \"tls-sever\"},"
			" \"action\": \"reject\"}, {\"name\": \"all\", \"match\": {}, \"action\": \"issue\"}]}");
	assert_int_equal(policy_engine_reload(f->engine, &err), CAIRN_ECONFIG);
	assert_non_null(strstr(err.msg, "rules[0] (srv).match.profile: \"tls-sever\" can never match"));
	/* The old policy stays in force. */
	assert_int_equal(submit(f, "acme", "acme:acct/1", NULL, "DNS:www.dev.test", &out, &err), 0);
	assert_string_equal(out.decision.rule, "dev");
	ca_issued_free(out.issued);
	text = policy_engine_text(f->engine);
	assert_string_equal(text, example_policy);
	free(text);

	write_policy(f, "{\"rules\": [{\"name\": \"nothing\", \"match\": {}, \"action\": \"reject\"}]}");
	assert_int_equal(policy_engine_reload_as(f->engine, "admin:alice", &err), 0);
	assert_int_equal(submit(f, "acme", "acme:acct/1", NULL, "DNS:www.dev.test", &out, &err),
			 CAIRN_EDENIED);
	assert_string_equal(out.decision.rule, "nothing");
	assert_string_equal(out.decision.reason, "rejected by policy rule nothing (www.dev.test)");
	assert_int_equal(count_events(f, "policy.reload_failed", NULL), 2);
	assert_int_equal(count_events(f, "policy.reload", NULL), 1);
	assert_int_equal(audit_verify(f->db, &res), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_check_profiles),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_explain_and_default),
		cmocka_unit_test(test_input_from_csr),
		cmocka_unit_test(test_names_strictest),
		cmocka_unit_test(test_wildcards),
		cmocka_unit_test(test_ip_normalised),
		cmocka_unit_test(test_cn_is_a_name),
		cmocka_unit_test(test_explain_names),
		cmocka_unit_test(test_email_uri_names),
		cmocka_unit_test(test_cn_kinds),
		cmocka_unit_test(test_many_names_bounded),
		cmocka_unit_test_setup_teardown(test_engine_issue_and_reject, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_engine_approvals, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_engine_reject_role_and_list, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_engine_list_and_expiry, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_engine_view, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_engine_reload, fixture_setup, fixture_teardown),
	};
	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
