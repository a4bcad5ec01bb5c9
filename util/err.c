/* SPDX-License-Identifier: MIT */
/* The error list's messages and the per-call error detail. */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "util/util.h"

const char *cairn_strerror(int code)
{
	switch (code) {
	case CAIRN_OK:
		return "success";
#define CAIRN_X_CASE(name, msg) \
	case name:              \
		return msg;
		CAIRN_ERROR_LIST(CAIRN_X_CASE)
#undef CAIRN_X_CASE
	default:
		return "unknown error";
	}
}

static const cairn_http_error_t http_internal = { 500, "serverInternal", "serverInternal", 0 };

/* Indexed by code - CAIRN_ERROR_BASE - 1; rows left zero (status 0) answer http_internal. */
static const cairn_http_error_t http_rows[CAIRN_ERROR_END - CAIRN_ERROR_BASE - 1] = {
#define CAIRN_X_ROW(name, st, t, at) \
	[name - CAIRN_ERROR_BASE - 1] = { st, t, at, st == 503 ? CAIRN_RETRY_AFTER_S : 0 },
	CAIRN_ERROR_HTTP(CAIRN_X_ROW)
#undef CAIRN_X_ROW
};

const cairn_http_error_t *cairn_err_http(int code)
{
	if (code <= CAIRN_ERROR_BASE || code >= CAIRN_ERROR_END ||
	    http_rows[code - CAIRN_ERROR_BASE - 1].status == 0)
		return &http_internal;
	return &http_rows[code - CAIRN_ERROR_BASE - 1];
}

static int err_vset(cairn_err_t *err, int code, const char *ssl, const char *fmt, va_list ap)
{
	if (err == NULL)
		return code;
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	if (ssl != NULL && ssl[0] != '\0') {
		size_t n = strlen(err->msg);
		snprintf(err->msg + n, sizeof(err->msg) - n, " (%s)", ssl);
	}
	return code;
}

int cairn_err_set(cairn_err_t *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	err_vset(err, code, NULL, fmt, ap);
	va_end(ap);
	return code;
}

int cairn_err_ssl(cairn_err_t *err, int code, const char *fmt, ...)
{
	char ssl[384] = "";
	const char *data = NULL;
	int flags = 0;
	unsigned long e = ERR_peek_last_error();
	va_list ap;

	if (e != 0)
		ERR_error_string_n(e, ssl, 256);
	/* The first error's text says what started it ("PKCS#11 C_Sign: CKR_...", which the
	 * last one, "operation fail", does not). */
	if (e != 0 && ERR_peek_error_data(&data, &flags) != 0 && (flags & ERR_TXT_STRING) &&
	    data != NULL && data[0] != '\0')
		snprintf(ssl + strlen(ssl), sizeof(ssl) - strlen(ssl), "; %s", data);
	ERR_clear_error();
	va_start(ap, fmt);
	err_vset(err, code, ssl, fmt, ap);
	va_end(ap);
	return code;
}

const char *cairn_err_msg(const cairn_err_t *err)
{
	if (err == NULL)
		return "error";
	if (err->msg[0] != '\0')
		return err->msg;
	return cairn_strerror(err->code);
}
