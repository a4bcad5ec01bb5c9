/* SPDX-License-Identifier: MIT */
/* The one reply helper: problem documents and JSON bodies for every HTTP surface. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "util/util.h"

static void body_free(http_reply_t *r)
{
	if (r->body != NULL && r->secret)
		OPENSSL_cleanse(r->body, r->body_len);
	free(r->body);
	r->body = NULL;
	r->secret = 0;
}

int http_media_type_is(const char *header, const char *type)
{
	size_t n = strlen(type);

	if (header == NULL)
		return 0;
	while (*header == ' ' || *header == '\t')
		header++;
	return strncasecmp(header, type, n) == 0 &&
	       (header[n] == '\0' || header[n] == ';' || header[n] == ' ' || header[n] == '\t');
}

void http_reply_init(http_reply_t *r)
{
	memset(r, 0, offsetof(http_reply_t, headers));
	r->n_headers = 0;
	r->later = NULL;
}

void http_reply_clear(http_reply_t *r)
{
	body_free(r);
	free(r->location);
	http_reply_init(r);
}

void http_reply_set(http_reply_t *r, int status, const char *content_type, char *body, size_t len)
{
	body_free(r);
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
	/* The detail often echoes outside bytes (a path, a name) and may be cut inside a
	 * character: json_pack's "s" refuses invalid UTF-8, which made every such answer a
	 * 500. util_json_text keeps valid UTF-8 and writes U+FFFD for the rest. */
	doc = json_pack("{s:s, s:o, s:i}", "type", type ? type : "about:blank", "detail",
			util_json_text(detail), "status", status);
	http_reply_json(r, status, "application/problem+json", doc);
	json_decref(doc);
}

int http_reply_header(http_reply_t *r, const char *name, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->n_headers >= HTTP_REPLY_MAX_HEADERS || strlen(name) >= sizeof(r->headers[0].name))
		return CAIRN_ETOOBIG;
	va_start(ap, fmt);
	n = vsnprintf(r->headers[r->n_headers].value, sizeof(r->headers[0].value), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(r->headers[0].value))
		return CAIRN_ETOOBIG;
	snprintf(r->headers[r->n_headers].name, sizeof(r->headers[0].name), "%s", name);
	r->n_headers++;
	return 0;
}

void http_allow_add(char *allow, size_t cap, const char *method, int with_head)
{
	const char *m = with_head && strcmp(method, "GET") == 0 ? "GET, HEAD" : method;
	size_t n = strlen(allow);

	if (n < cap && strstr(allow, method) == NULL)
		snprintf(allow + n, cap - n, "%s%s", n > 0 ? ", " : "", m);
}
