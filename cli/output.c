/* SPDX-License-Identifier: MIT */
/* The one machine-readable form of every read command's `--json` (docs/cli.md): a list is
 * {"items": [...], "total": N, "next": CURSOR or null}, a `show` is the object itself. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/util.h"

static int print_doc(const json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	int rc = text != NULL && printf("%s\n", text) > 0 && fflush(stdout) == 0;

	free(text);
	return rc ? CLI_OK : cli_fail("output", "cannot write the JSON answer");
}

int cli_print_list(json_t *items, long long total, const char *next)
{
	json_t *doc;
	int rc;

	if (items == NULL)
		return cli_fail("output", "out of memory");
	doc = json_pack("{s:o, s:o, s:s?}", "items", items, "total",
			total >= 0 ? json_integer((json_int_t)total) : json_null(), "next", next);
	rc = print_doc(doc);
	json_decref(doc);
	return rc;
}

int cli_print_object(const json_t *obj)
{
	return print_doc(obj);
}

int cli_page_parse(const char *cmd, const char *limit, const char *after, cli_page_t *page)
{
	char *end = NULL;
	long long v;

	page->offset = 0;
	page->limit = CLI_PAGE_MAX;
	if (limit != NULL) {
		errno = 0;
		v = strtoll(limit, &end, 10);
		if (errno != 0 || end == limit || *end != '\0' || v < 1 || v > CLI_PAGE_MAX)
			return cli_usage_error(cmd, "--limit %s: a number of items, 1..%d", limit,
					       CLI_PAGE_MAX);
		page->limit = v;
	}
	if (after != NULL) {
		errno = 0;
		v = strtoll(after, &end, 10);
		if (errno != 0 || end == after || *end != '\0' || v < 0)
			return cli_usage_error(cmd, "--after %s: pass the \"next\" of the previous page",
					       after);
		page->offset = v;
	}
	return CLI_OK;
}

const char *cli_page_next(const cli_page_t *page, long long total, char *buf, size_t cap)
{
	if (page->offset + page->limit >= total)
		return NULL;
	snprintf(buf, cap, "%lld", page->offset + page->limit);
	return buf;
}

void cli_time_cell(long long t, char *out, size_t cap)
{
	if (t == 0)
		snprintf(out, cap, "never");
	else
		time_rfc3339((time_t)t, out, cap);
}
