/* SPDX-License-Identifier: MIT */
/* ACME problem documents (RFC 8555 §6.7): typed errors, subproblems, stored errors. */
#include <stdarg.h>
#include <stdio.h>

#include "acme/acme_int.h"

/* extra: members added to the document (taken over; NULL for none). */
static void problem_v(http_reply_t *r, int status, const char *type, json_t *extra,
		      const char *fmt, va_list ap)
{
	char detail[1024], full[128];
	json_t *doc;

	vsnprintf(detail, sizeof(detail), fmt, ap);
	snprintf(full, sizeof(full), ACME_ERR "%s", type);
	/* detail may echo outside bytes (a name cut at a byte count): util_json_text keeps
	 * the document encodable instead of turning the answer into a 500 */
	doc = json_pack("{s:s, s:o, s:i}", "type", full, "detail", util_json_text(detail), "status",
			status);
	if (doc != NULL && extra != NULL)
		json_object_update(doc, extra);
	json_decref(extra);
	if (doc == NULL) {
		http_reply_problem(r, 500, ACME_ERR "serverInternal", "out of memory");
		return;
	}
	http_reply_json(r, status, "application/problem+json", doc);
	json_decref(doc);
}

void acme_problem(http_reply_t *r, int status, const char *type, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	problem_v(r, status, type, NULL, fmt, ap);
	va_end(ap);
}

void acme_problem_sub(http_reply_t *r, int status, const char *type, json_t *subs,
		      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	problem_v(r, status, type, subs != NULL ? json_pack("{s:o}", "subproblems", subs) : NULL,
		  fmt, ap);
	va_end(ap);
}

void acme_problem_with(http_reply_t *r, int status, const char *type, json_t *extra,
		       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	problem_v(r, status, type, extra, fmt, ap);
	va_end(ap);
}

json_t *acme_problem_obj(const char *type, const char *detail, const json_t *identifier)
{
	char full[128];
	json_t *o;

	snprintf(full, sizeof(full), ACME_ERR "%s", type);
	o = json_pack("{s:s, s:o}", "type", full, "detail", util_json_text(detail));
	if (o != NULL && identifier != NULL)
		json_object_set(o, "identifier", (json_t *)identifier);
	return o;
}

void acme_problem_err(http_reply_t *r, int code, const char *fmt, ...)
{
	const cairn_http_error_t *m = cairn_err_http(code);
	va_list ap;

	va_start(ap, fmt);
	problem_v(r, m->status, m->acme_type, NULL, fmt, ap);
	va_end(ap);
	r->retry_after = m->retry_after;
}

void acme_problem_write(http_reply_t *r, const cairn_err_t *err, const char *what)
{
	acme_problem_err(r, err->code == CAIRN_ENOSPACE ? CAIRN_ENOSPACE : CAIRN_EDB, "%s: %s",
			 what, cairn_err_msg(err));
}
