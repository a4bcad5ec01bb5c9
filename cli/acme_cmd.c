/* SPDX-License-Identifier: MIT */
/* `cairn acme eab create|list|revoke`, `cairn acme account show|revoke`: External Account
 * Binding keys and ACME accounts through the daemon's admin API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "cli/cli.h"
#include "cli/cli_opts.h"

static int eab_create(const cli_opts_t *o)
{
	json_t *body, *doc = NULL;
	const char *kid, *key;
	char expires[32];
	int rc;

	body = json_pack("{s:s*, s:s*, s:s*}", "group", o->group, "profile", o->profile,
			 "expires_in", o->expires_in);
	if (body == NULL)
		return cli_fail("acme", "out of memory");
	rc = cli_api_json("acme", &o->conn, "POST", "/acme/eab", body, 201, &doc);
	json_decref(body);
	if (rc != CLI_OK)
		return rc;
	kid = json_string_value(json_object_get(doc, "kid"));
	key = json_string_value(json_object_get(doc, "hmac_key"));
	if (kid == NULL || key == NULL) {
		json_decref(doc);
		return cli_fail("acme", "unexpected answer from the daemon");
	}
	printf("kid: %s\nhmac: %s\n", kid, key);
	cli_time_cell(json_integer_value(json_object_get(doc, "expires")), expires,
		      sizeof(expires));
	fprintf(stderr, "cairn acme: the HMAC key is shown only once; give it with the kid to the "
			"ACME client (e.g. lego --eab --kid KID --hmac KEY) before %s, when an "
			"unused key stops working\n", expires);
	OPENSSL_cleanse((char *)key, strlen(key));
	json_decref(doc);
	return CLI_OK;
}

static int eab_list(const cli_opts_t *o)
{
	json_t *doc = NULL, *it;
	char expires[32];
	size_t i;
	int rc;

	if ((rc = cli_api_json("acme", &o->conn, "GET", "/acme/eab", NULL, 200, &doc)) != CLI_OK)
		return rc;
	if (o->json)
		return cli_print_unpaged(doc);
	printf("%-22s %-8s %-16s %-16s %-20s %s\n", "KID", "STATE", "GROUP", "PROFILE", "EXPIRES",
	       "ACCOUNT");
	json_array_foreach(json_object_get(doc, "items"), i, it) {
		const char *group = json_string_value(json_object_get(it, "group"));
		const char *profile = json_string_value(json_object_get(it, "profile"));
		const char *acct = json_string_value(json_object_get(it, "account"));

		cli_time_cell(json_integer_value(json_object_get(it, "expires")), expires,
			      sizeof(expires));
		printf("%-22s %-8s %-16s %-16s %-20s %s\n",
		       json_string_value(json_object_get(it, "kid")),
		       json_string_value(json_object_get(it, "state")), group ? group : "-",
		       profile ? profile : "-", expires, acct ? acct : "-");
	}
	json_decref(doc);
	return CLI_OK;
}

/* POST path (PATH_FMT with the one argument) for `acme eab|account revoke ID`: 0 with the
 * answer in *doc, or what cli_api_json said. */
static int revoke_by_id(const cli_opts_t *o, const char *usage, const char *path_fmt,
			json_t **doc)
{
	char path[192];

	if (o->nargs != 1 || !cli_plain_segment(o->args[0]))
		return cli_usage_error("acme", "%s", usage);
	snprintf(path, sizeof(path), path_fmt, o->args[0]);
	return cli_api_json("acme", &o->conn, "POST", path, NULL, 200, doc);
}

static int eab_revoke(const cli_opts_t *o)
{
	json_t *doc = NULL;
	const char *acct;
	int rc;

	if ((rc = revoke_by_id(o, "eab revoke needs a key id (see `cairn acme eab list`)",
			       "/acme/eab/%s/revoke", &doc)) != CLI_OK)
		return rc;
	acct = json_string_value(json_object_get(doc, "account"));
	if (acct != NULL)
		printf("EAB key %s revoked, and the ACME account %s it bound\n", o->args[0], acct);
	else
		printf("EAB key %s revoked (it had bound no account)\n", o->args[0]);
	json_decref(doc);
	return CLI_OK;
}

static int account_show(const cli_opts_t *o)
{
	json_t *doc = NULL, *c;
	char path[192], created[32];
	size_t i;
	int rc;

	if (o->nargs != 1 || !cli_plain_segment(o->args[0]))
		return cli_usage_error("acme", "account show needs an account id");
	snprintf(path, sizeof(path), "/acme/accounts/%s", o->args[0]);
	if ((rc = cli_api_json("acme", &o->conn, "GET", path, NULL, 200, &doc)) != CLI_OK)
		return rc;
	if (o->json) {
		rc = cli_print_object(doc);
		json_decref(doc);
		return rc;
	}
	cli_time_cell(json_integer_value(json_object_get(doc, "created")), created,
		      sizeof(created));
	printf("account     %s\nstatus      %s\ncreated     %s\nkey         %s (JWK thumbprint)\n",
	       json_string_value(json_object_get(doc, "id")),
	       json_string_value(json_object_get(doc, "status")), created,
	       json_string_value(json_object_get(doc, "jwk_thumbprint")));
	json_array_foreach(json_object_get(doc, "contact"), i, c)
		printf("contact     %s\n", json_string_value(c));
	if (json_is_string(json_object_get(doc, "eab_kid")))
		printf("EAB key     %s (group %s, profile %s)\n",
		       json_string_value(json_object_get(doc, "eab_kid")),
		       json_is_string(json_object_get(doc, "group")) ?
			       json_string_value(json_object_get(doc, "group")) : "-",
		       json_is_string(json_object_get(doc, "profile")) ?
			       json_string_value(json_object_get(doc, "profile")) : "-");
	if (json_is_string(json_object_get(doc, "revoked_by")))
		printf("revoked by  %s\n", json_string_value(json_object_get(doc, "revoked_by")));
	json_decref(doc);
	return CLI_OK;
}

static int account_revoke(const cli_opts_t *o)
{
	json_t *doc = NULL;
	int rc;

	if ((rc = revoke_by_id(o, "account revoke needs an account id", "/acme/accounts/%s/revoke",
			       &doc)) != CLI_OK)
		return rc;
	printf("ACME account %s revoked: its requests are refused from now on (its "
	       "certificates stay valid: revoke them with `cairn revoke`)\n", o->args[0]);
	json_decref(doc);
	return CLI_OK;
}

int cli_acme(int argc, char **argv)
{
	static const char usage[] = "expected: acme eab create|list|revoke or acme account "
				    "show|revoke, with --dir DIR ...";
	cli_opts_t o;
	const char *what, *sub;
	int rc;

	if (argc < 3)
		return cli_usage_error("acme", usage);
	what = argv[1];
	sub = argv[2];
	if ((rc = cli_parse_opts("acme", argc - 2, argv + 2, &o)) != CLI_OK)
		return rc;
	if (strcmp(what, "eab") == 0 && strcmp(sub, "create") == 0 && o.nargs == 0)
		return eab_create(&o);
	if (strcmp(what, "eab") == 0 && strcmp(sub, "list") == 0 && o.nargs == 0)
		return eab_list(&o);
	if (strcmp(what, "eab") == 0 && strcmp(sub, "revoke") == 0)
		return eab_revoke(&o);
	if (strcmp(what, "account") == 0 && strcmp(sub, "show") == 0)
		return account_show(&o);
	if (strcmp(what, "account") == 0 && strcmp(sub, "revoke") == 0)
		return account_revoke(&o);
	return cli_usage_error("acme", usage);
}
