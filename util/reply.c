/* SPDX-License-Identifier: MIT */
/* The one reply helper: problem documents and JSON bodies for every HTTP surface. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/util.h"

void http_reply_clear(http_reply_t *r)
{
	free(r->body);
	free(r->location);
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

int http_reply_header(http_reply_t *r, const char *name, const char *value)
{
	size_t old = r->headers ? strlen(r->headers) : 0;
	size_t add = strlen(name) + strlen(value) + 3;
	char *n = realloc(r->headers, old + add + 1);

	if (n == NULL)
		return CAIRN_ENOMEM;
	snprintf(n + old, add + 1, "%s: %s\n", name, value);
	r->headers = n;
	return 0;
}

void http_reply_set(http_reply_t *r, int status, const char *content_type, char *body, size_t len)
{
	free(r->body);
	r->status = status;
	r->content_type = content_type;
	r->body = body;
	r->body_len = len;
}

void http_reply_json(http_reply_t *r, int status, const char *content_type, const void *json)
{
	char *text = json_dumps((const json_t *)json, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (text == NULL) {
		http_reply_set(r, 500, "text/plain", strdup("out of memory\n"), 14);
		return;
	}
	http_reply_set(r, status, content_type ? content_type : "application/json", text,
		       strlen(text));
}

void http_reply_problem(http_reply_t *r, int status, const char *type, const char *fmt, ...)
{
	char detail[1024];
	json_t *doc;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	doc = json_pack("{s:s, s:s, s:i}", "type", type ? type : "about:blank", "detail", detail,
			"status", status);
	http_reply_json(r, status, "application/problem+json", doc);
	json_decref(doc);
}
