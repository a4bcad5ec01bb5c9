/* SPDX-License-Identifier: MIT */
/* `cairn policy test|check|show|reload` and the offline `cairn audit verify --export`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "audit/audit.h"
#include "ca/ca.h"
#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "policy/policy.h"
#include "server/server.h"

/* Prints the explanation name by name: a heading per name, the rules passed over, then
 * each verdict with the name it is about. arg: the last name headed (const char **). */
static void print_step(const policy_step_t *s, void *arg)
{
	const char **last = arg;

	if (*last == NULL || s->name != *last) {
		if (s->name == NULL)
			printf("the request (no name)\n");
		else
			printf("name %s%s\n", s->from_cn ? "(subject CN) " : "", s->name);
		*last = s->name ? s->name : "";
	}
	if (s->why != NULL) {
		printf("  rule %s passed over: %s\n", s->rule, s->why);
		return;
	}
	printf("  %s%s%s: ", s->name ? s->name : "request", s->covered ? " covering " : "",
	       s->covered ? s->covered : "");
	if (s->action == POLICY_APPROVE)
		printf("approve by rule %s: %d approval(s)%s%s\n", s->rule, s->approvals,
		       s->approver_role[0] ? " by role " : "", s->approver_role);
	else if (s->action == POLICY_REJECT)
		printf("reject by %s%s: %s\n", s->rule[0] ? "rule " : "default", s->rule, s->reason);
	else
		printf("issue by rule %s\n", s->rule);
}

/* The policy file: --file, else DIR's policy_file. With --dir, its profiles are checked
 * against DIR's cairn.json as the daemon will. */
static int load_policy(const cli_opts_t *o, policy_t **p, char **path_out)
{
	cairn_config_t *cfg = NULL;
	cairn_err_t err = { 0 };
	char *path = NULL;
	int rc = CLI_OK;

	if (o->file == NULL && o->conn.dir == NULL)
		return cli_usage_error("policy", "--dir DIR or --file POLICY is required");
	if (o->conn.dir != NULL && config_load(o->conn.dir, &cfg, &err) != 0)
		return cli_fail("policy", "%s", cairn_err_msg(&err));
	path = o->file != NULL ? strdup(o->file) : config_path(cfg, cfg->policy_file);
	if (path == NULL)
		rc = cli_fail("policy", "out of memory");
	else if (policy_load(path, p, &err) != 0)
		rc = cli_fail("policy", "%s", cairn_err_msg(&err));
	else if (cfg != NULL && policy_check_profiles(*p, config_has_profile, cfg->profiles, &err) != 0)
		rc = cli_fail("policy", "%s: %s", path, cairn_err_msg(&err));
	config_free(cfg);
	if (rc != CLI_OK) {
		policy_free(*p);
		*p = NULL;
		free(path);
		return rc;
	}
	*path_out = path;
	return CLI_OK;
}

/* The profile's validity (what a request without validity_days gets), or 0 if unknown. */
static int profile_days(const cli_opts_t *o, const char *name)
{
	cairn_config_t *cfg = NULL;
	json_t *all = NULL;
	ca_profile_t prof;
	int days = 0;

	if (o->conn.dir != NULL && config_load(o->conn.dir, &cfg, NULL) == 0)
		all = json_incref(cfg->profiles);
	else
		all = ca_profiles_default();
	if (all != NULL && json_object_get(all, name) != NULL &&
	    ca_profile_parse(name, json_object_get(all, name), &prof, NULL) == 0)
		days = prof.validity_days;
	json_decref(all);
	config_free(cfg);
	return days;
}

static int policy_test(const cli_opts_t *o)
{
	policy_t *p = NULL;
	policy_input_t in;
	policy_decision_t d;
	ca_csr_t *req = NULL;
	cairn_err_t err = { 0 };
	const char *last = NULL;
	char *path = NULL, *csr = NULL;
	size_t len;
	int rc;

	memset(&in, 0, sizeof(in));
	if (o->csr == NULL || o->channel == NULL)
		return cli_usage_error("policy", "test needs --csr FILE --channel acme|est|admin");
	if (strcmp(o->channel, "acme") && strcmp(o->channel, "est") && strcmp(o->channel, "admin"))
		return cli_usage_error("policy", "--channel must be acme, est or admin");
	if ((rc = load_policy(o, &p, &path)) != CLI_OK)
		return rc;
	if (fs_read(o->csr, 1 << 16, &csr, &len) != 0) {
		rc = cli_fail("policy", "cannot read %s", o->csr);
		goto out;
	}
	if (ca_csr_new(csr, len, CA_CSR_NO_VERIFY, &req, &err) != 0 ||
	    policy_input_from_csr(req, &in, &err) != 0) {
		rc = cli_fail("policy", "%s: %s", o->csr, cairn_err_msg(&err));
		goto out;
	}
	in.channel = o->channel;
	in.requester = o->requester ? o->requester : "";
	in.group = o->group;
	in.profile = o->profile ? o->profile : "tls-server";
	in.validity_days = o->validity_days ? o->validity_days : profile_days(o, in.profile);
	if (o->json) {
		/* The admin API's answer, with the file it read. */
		json_t *doc = policy_explain_json(p, &in);
		if (doc != NULL)
			json_object_set_new(doc, "policy", json_string(path));
		rc = doc ? cli_print_object(doc) : cli_fail("policy", "out of memory");
		json_decref(doc);
		goto out;
	}
	printf("policy %s\n", path);
	policy_explain(p, &in, print_step, &last, &d);
	if (d.rule[0] == '\0')
		printf("decision: reject by default: %s\n", d.reason);
	else if (d.action == POLICY_APPROVE)
		printf("decision: approve by rule %s: %d approval(s)%s%s\n  because %s\n", d.rule,
		       d.approvals, d.approver_role[0] ? " by role " : "", d.approver_role,
		       d.reason);
	else
		printf("decision: %s by rule %s: %s\n", policy_action_name(d.action), d.rule,
		       d.reason);
	rc = CLI_OK;
out:
	policy_input_clear(&in);
	ca_csr_free(req);
	policy_free(p);
	free(path);
	free(csr);
	return rc;
}

int cli_policy(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	cli_opts_t o;
	json_t *doc = NULL;
	policy_t *p = NULL;
	char *path = NULL;
	int rc;

	if ((rc = cli_parse_opts("policy", argc - 1, argv + 1, &o)) != CLI_OK)
		return rc;
	if (strcmp(sub, "test") == 0)
		return policy_test(&o);
	if (strcmp(sub, "check") == 0) {
		if (o.nargs == 1)
			o.file = o.args[0];
		if ((rc = load_policy(&o, &p, &path)) == CLI_OK)
			printf("%s: valid\n", path);
		policy_free(p);
		free(path);
		return rc;
	}
	if (strcmp(sub, "show") == 0) {
		cli_api_t api;
		cli_buf_t resp;
		char why[512];
		long status;
		if ((rc = cli_api_setup("policy", &o.conn, &api)) != CLI_OK)
			return rc;
		status = cli_api_call(&api, "GET", "/policy", NULL, &resp, why, sizeof(why));
		if (status == 200 && o.json) {
			/* The policy in force, as the object itself. */
			doc = resp.data ? json_loadb(resp.data, resp.len, 0, NULL) : NULL;
			rc = doc ? cli_print_object(doc)
				 : cli_fail("policy", "the daemon's answer is not JSON");
		} else if (status == 200)
			fwrite(resp.data, 1, resp.len, stdout);
		else
			rc = status < 0 ? cli_fail("policy", "%s", why)
					: cli_fail("policy", "refused (HTTP %ld): %s", status,
						   cli_problem(&resp, &doc));
		json_decref(doc);
		free(resp.data);
		cli_api_free(&api);
		return rc;
	}
	if (strcmp(sub, "reload") == 0) {
		rc = cli_api_json("policy", &o.conn, "POST", "/policy/reload", NULL, 200, &doc);
		if (rc == CLI_OK)
			printf("policy reloaded\n");
		json_decref(doc);
		return rc;
	}
	return cli_usage_error("policy", "say test, check, show or reload");
}

/* fopen(path, "r") of a regular file only (fs_open_regular: a FIFO would block); NULL
 * with errno EINVAL for anything else. */
static FILE *open_regular(const char *path)
{
	FILE *f;
	int fd, rc = fs_open_regular(path, &fd);

	if (rc != 0) {
		errno = rc == CAIRN_EINVAL ? EINVAL : EIO;
		return NULL;
	}
	if ((f = fdopen(fd, "r")) == NULL)
		close(fd);
	return f;
}

int cli_audit_verify_export(int argc, char **argv)
{
	audit_export_check_t res;
	cli_opts_t o;
	FILE *in = NULL, *caf = NULL;
	X509 *root = NULL;
	int rc;

	if ((rc = cli_parse_opts("audit", argc, argv, &o)) != CLI_OK)
		return rc;
	if (o.export_file == NULL || o.ca == NULL)
		return cli_usage_error("audit", "verify --export FILE --ca ROOT.pem");
	if ((caf = open_regular(o.ca)) == NULL && errno == EINVAL) {
		rc = cli_fail("audit", "%s: not a regular file", o.ca);
		goto out;
	}
	if (caf == NULL || (root = PEM_read_X509(caf, NULL, NULL, NULL)) == NULL) {
		rc = cli_fail("audit", "cannot read a CA certificate from %s", o.ca);
		goto out;
	}
	if ((in = open_regular(o.export_file)) == NULL) {
		rc = errno == EINVAL ? cli_fail("audit", "%s: not a regular file", o.export_file)
				     : cli_fail("audit", "cannot read %s", o.export_file);
		goto out;
	}
	rc = audit_verify_export(in, root, &res);
	if (rc == CAIRN_EAUDIT) {
		rc = cli_fail("audit", "export BROKEN: %s", res.reason);
	} else if (rc != 0) {
		rc = cli_fail("audit", "%s: %s", o.export_file, cairn_strerror(rc));
	} else {
		printf("export intact: %llu events (sequences %llu..%llu) from %s to %s, complete: "
		       "signed at export time %s by %s\n",
		       (unsigned long long)res.events, (unsigned long long)res.first_seq,
		       (unsigned long long)res.last_seq, res.since[0] ? res.since : "the start",
		       res.until[0] ? res.until : "the end", res.exported, res.signer);
		rc = CLI_OK;
	}
out:
	if (in)
		fclose(in);
	if (caf)
		fclose(caf);
	X509_free(root);
	return rc;
}
