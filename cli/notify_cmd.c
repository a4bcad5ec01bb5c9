/* SPDX-License-Identifier: MIT */
/* `cairn notify list|retry|test`: webhook sinks, their delivery logs and dead letters (admin API). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_opts.h"

#define CMD "notify"

static void print_status(const json_t *doc)
{
	json_t *s, *d;
	size_t i;

	long long dead = 0, more = 0;

	printf("%-16s %-8s %-8s %-9s %-7s %-8s %s\n", "SINK", "CURSOR", "BEHIND", "DELIVERED",
	       "FAILED", "DEAD", "LAST ERROR");
	json_array_foreach(json_object_get(doc, "sinks"), i, s) {
		long long n = (long long)json_integer_value(json_object_get(s, "dead_letters"));
		long long dropped = (long long)json_integer_value(json_object_get(s, "dead_dropped"));
		printf("%-16s %-8lld %-8lld %-9lld %-7lld %-8lld %s\n",
		       json_string_value(json_object_get(s, "name")),
		       (long long)json_integer_value(json_object_get(s, "cursor")),
		       (long long)json_integer_value(json_object_get(s, "behind")),
		       (long long)json_integer_value(json_object_get(s, "delivered")),
		       (long long)json_integer_value(json_object_get(s, "failed")), n,
		       json_string_value(json_object_get(s, "last_error")));
		if (dropped > 0)
			printf("  (%s: %lld oldest dead letters dropped past notify.dead_letters_max)\n",
			       json_string_value(json_object_get(s, "name")), dropped);
		dead += n;
	}
	more = dead - (long long)json_array_size(json_object_get(doc, "dead"));
	if (dead == 0 && json_array_size(json_object_get(doc, "dead")) == 0)
		return;
	printf("\ndead letters%s:\n%-16s %-8s %-16s %-6s %-5s %s\n",
	       more > 0 ? " (the oldest of each sink)" : "", "SINK", "ID", "TYPE", "TRIES", "RETRY",
	       "ERROR");
	json_array_foreach(json_object_get(doc, "dead"), i, d)
		printf("%-16s %-8lld %-16s %-6lld %-5s %s\n",
		       json_string_value(json_object_get(d, "sink")),
		       (long long)json_integer_value(json_object_get(d, "id")),
		       json_string_value(json_object_get(d, "type")),
		       (long long)json_integer_value(json_object_get(d, "tries")),
		       json_is_true(json_object_get(d, "retry")) ? "yes" : "no",
		       json_string_value(json_object_get(d, "error")));
	if (more > 0)
		printf("... and %lld more (DEAD above counts them all)\n", more);
}

/* --json: the list envelope with one item a sink, each with its dead letters ("dead"). */
static int print_sinks(const json_t *doc)
{
	json_t *sinks = json_deep_copy(json_object_get(doc, "sinks")), *s, *d, *mine;
	size_t i, j;

	json_array_foreach(sinks, i, s) {
		const char *name = json_string_value(json_object_get(s, "name"));
		if ((mine = json_array()) == NULL)
			break;
		json_array_foreach(json_object_get(doc, "dead"), j, d)
			if (name && strcmp(name, json_string_value(json_object_get(d, "sink")) ?: "") == 0)
				json_array_append(mine, d);
		json_object_set_new(s, "dead", mine);
	}
	return cli_print_list(sinks, (long long)json_array_size(sinks), NULL);
}

int cli_notify(int argc, char **argv)
{
	cli_opts_t o;
	json_t *doc = NULL, *body = NULL;
	const char *sub = argc > 1 ? argv[1] : "";
	char *end = NULL;
	unsigned long long id = 0;
	int rc;

	if ((rc = cli_parse_opts(CMD, argc - 1, argv + 1, &o)) != CLI_OK)
		return rc;
	/* a SINK that is not UTF-8 would fall out of the body: retry would then mean every sink */
	if (o.nargs >= 1 && cli_text_arg(CMD, "SINK", o.args[0]) != CLI_OK)
		return CLI_USAGE;
	if (strcmp(sub, "list") == 0) {
		if ((rc = cli_api_json(CMD, &o.conn, "GET", "/notify", NULL, 200, &doc)) != CLI_OK)
			return rc;
		if (o.json)
			rc = print_sinks(doc);
		else
			print_status(doc);
		json_decref(doc);
		return rc;
	}
	if (strcmp(sub, "retry") == 0) {
		if (o.nargs > 2)
			return cli_usage_error(CMD, "retry takes [SINK [ID]]");
		if (o.nargs == 2) {
			errno = 0;
			id = strtoull(o.args[1], &end, 10);
			if (errno != 0 || end == o.args[1] || *end != '\0' || id == 0)
				return cli_usage_error(CMD, "retry: ID must be an event id (1, 2, ...)");
		}
		body = json_object();
		if (body != NULL && o.nargs >= 1)
			json_object_set_new(body, "sink", json_string(o.args[0]));
		if (body != NULL && id != 0)
			json_object_set_new(body, "id", json_integer((json_int_t)id));
		rc = cli_api_json(CMD, &o.conn, "POST", "/notify/retry", body, 200, &doc);
		json_decref(body);
		if (rc == CLI_OK)
			printf("%lld event(s) queued again\n",
			       (long long)json_integer_value(json_object_get(doc, "retried")));
		json_decref(doc);
		return rc;
	}
	if (strcmp(sub, "test") == 0) {
		if (o.nargs != 1)
			return cli_usage_error(CMD, "test needs SINK");
		body = json_pack("{s:s}", "sink", o.args[0]);
		rc = cli_api_json(CMD, &o.conn, "POST", "/notify/test", body, 202, &doc);
		json_decref(body);
		if (rc == CLI_OK)
			printf("test event %lld queued for %s\n",
			       (long long)json_integer_value(json_object_get(doc, "id")), o.args[0]);
		json_decref(doc);
		return rc;
	}
	return cli_usage_error(CMD, "say list, retry or test");
}
