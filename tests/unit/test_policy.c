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
	assert_string_equal(d.reason, "not allowed by policy");

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
	/* IP names under a DNS-only rule are not covered. */
	in = input("acme", dns_a, 1);
	in.ips = ip_lab;
	in.n_ips = 1;
	expect(p, &in, POLICY_REJECT, "default");

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
	assert_string_equal(d.reason, "no policy rule matches");
	policy_free(empty);
	policy_free(p);
}

static int explained;

static void count_explain(const char *rule, const char *why, void *arg)
{
	(void)arg;
	assert_non_null(rule);
	assert_true(strlen(why) > 0);
	explained++;
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
	assert_int_equal(explained, 1); /* "dev" passed over */
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
	X509_REQ *req = NULL;
	size_t len;
	uint8_t *der = make_csr(ec, "WWW.Dev.Test", "DNS:WWW.Dev.Test,IP:10.1.2.3,IP:fd00:1::5", &len);
	(void)state;

	assert_int_equal(ca_csr_parse(der, len, &req, &err), 0);
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
	X509_REQ_free(req);
	OPENSSL_free(der);

	der = make_csr(rsa, "user-1", NULL, &len);
	req = NULL;
	assert_int_equal(ca_csr_parse(der, len, &req, &err), 0);
	assert_int_equal(policy_input_from_csr(req, &in, &err), 0);
	assert_string_equal(in.key_type, "rsa");
	assert_int_equal(in.key_bits, 2048);
	assert_int_equal(in.n_dns + in.n_ips, 0);
	policy_input_clear(&in);
	X509_REQ_free(req);
	OPENSSL_free(der);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
}

/* ---------- the engine over a real token, CA and database ---------- */

#define TOKEN_LABEL "cairn-policy-test"
#define TOKEN_PIN "1234"

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
	char path[256], root_path[256], iss_path[256];
	hsm_config_t hc = { CAIRN_DEFAULT_MODULE, TOKEN_LABEL, TOKEN_PIN, NULL };
	EVP_PKEY *root_pub = NULL, *iss_pub = NULL, *root_key = NULL;
	X509 *root, *issuing;
	ca_config_t cc;
	cairn_err_t err = { 0 };

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/cairn-test-policy-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	fixture_softhsm_conf(f->dir, path, sizeof(path));
	hc.softhsm_conf = path;
	if (hsm_token_create(&hc, "5678", &err) != 0 || hsm_open(&hc, &f->hsm, &err) != 0 ||
	    hsm_keygen(f->hsm, HSM_KEY_EC_P256, "root", &root_pub, &err) != 0 ||
	    hsm_keygen(f->hsm, HSM_KEY_EC_P256, "issuing", &iss_pub, &err) != 0 ||
	    hsm_key_get(f->hsm, "root", &root_key, &err) != 0)
		fail_msg("token: %s", cairn_err_msg(&err));
	root = build_ca("Policy Test Root", 3650, 1, NULL, root_key, root_pub, NULL);
	issuing = build_ca("Policy Test Issuing", 1825, 0, root, root_key, iss_pub, NULL);
	snprintf(root_path, sizeof(root_path), "%s/root.pem", f->dir);
	snprintf(iss_path, sizeof(iss_path), "%s/issuing.pem", f->dir);
	fixture_write_pem(root_path, root);
	fixture_write_pem(iss_path, issuing);
	snprintf(path, sizeof(path), "%s/db", f->dir);
	if (db_open(path, &f->db, &err) != 0)
		fail_msg("db_open: %s", cairn_err_msg(&err));
	memset(&cc, 0, sizeof(cc));
	cc.hsm = f->hsm;
	cc.db = f->db;
	cc.root_cert_file = root_path;
	cc.issuing_cert_file = iss_path;
	cc.issuing_key_label = "issuing";
	cc.http_base_url = "http://localhost:8080";
	if (ca_open(&cc, &f->ca, &err) != 0)
		fail_msg("ca_open: %s", cairn_err_msg(&err));
	snprintf(f->policy_path, sizeof(f->policy_path), "%s/policy.json", f->dir);
	write_policy(f, example_policy);
	if (policy_engine_new(f->ca, f->db, f->policy_path, 3600, &f->engine, &err) != 0)
		fail_msg("policy_engine_new: %s", cairn_err_msg(&err));
	f->key = EVP_EC_gen("P-256");
	X509_free(root);
	X509_free(issuing);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(root_pub);
	EVP_PKEY_free(iss_pub);
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

/* Submits a CSR for sans by requester on channel; returns the code. */
static int submit(fixture_t *f, const char *channel, const char *requester, const char *cn,
		  const char *sans, policy_outcome_t *out, cairn_err_t *err)
{
	size_t len;
	uint8_t *der = make_csr(f->key, cn, sans, &len);
	ca_request_t r = { .csr = der, .csr_len = len, .profile = "tls-server",
			   .requester = requester, .channel = channel };
	int rc;

	memset(err, 0, sizeof(*err));
	rc = policy_submit(f->engine, &r, NULL, out, err);
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
		assert_string_equal(is->serial_hex, info.serial_hex);
		assert_non_null(strstr(is->pem, "BEGIN CERTIFICATE"));
		assert_true(strlen(is->chain_pem) > strlen(is->pem));
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

static int list_cb(const request_info_t *r, void *arg)
{
	struct listed *l = arg;

	if (l->n < 8)
		snprintf(l->ids[l->n], sizeof(l->ids[0]), "%s", r->id);
	l->n++;
	return 0;
}

struct expire_op {
	const char *id;
};

/* Moves a pending request's deadline into the past, as if its TTL had run out. */
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
	struct expire_op x;
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
	assert_string_equal(out.decision.reason, "rejected by policy rule nothing");
	assert_int_equal(count_events(f, "policy.reload_failed", NULL), 1);
	assert_int_equal(count_events(f, "policy.reload", NULL), 1);
	assert_int_equal(audit_verify(f->db, &res), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_explain_and_default),
		cmocka_unit_test(test_input_from_csr),
		cmocka_unit_test_setup_teardown(test_engine_issue_and_reject, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_engine_approvals, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_engine_reject_role_and_list, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_engine_list_and_expiry, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_engine_reload, fixture_setup, fixture_teardown),
	};
	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
