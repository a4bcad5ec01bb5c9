/* SPDX-License-Identifier: MIT */
/* CSV cells a spreadsheet shows as text: the one writer behind every CSV report. */
#include <stdio.h>
#include <string.h>

#include "util/util.h"

/* A cell a spreadsheet would read as a formula (OWASP "CSV injection"): one that starts,
 * maybe after spaces, with = + - @, a tab, CR or LF. */
static int formula_like(const char *s)
{
	s += strspn(s, " ");
	return *s != '\0' && strchr("=+-@\t\r\n", *s) != NULL;
}

/* One CSV cell: formula-like text gets a leading ' (shown as text, not evaluated), quoted
 * (RFC 4180, "" for a quote) when it holds , " CR or LF. Returns 0 or -1 on a write error. */
int util_csv_cell(FILE *out, const char *s, int last)
{
	size_t i, len;
	int rc = 0, quote;

	if (s == NULL)
		s = "";
	len = strlen(s);
	quote = strcspn(s, ",\"\r\n") < len;
	if (quote)
		rc |= fputc('"', out) == EOF;
	if (formula_like(s))
		rc |= fputc('\'', out) == EOF;
	for (i = 0; i < len; i++) {
		if (s[i] == '"')
			rc |= fputc('"', out) == EOF;
		rc |= fputc(s[i], out) == EOF;
	}
	if (quote)
		rc |= fputc('"', out) == EOF;
	rc |= fputs(last ? "\r\n" : ",", out) == EOF;
	return rc ? -1 : 0;
}
