/* SPDX-License-Identifier: MIT */
/* JSON from outside: the one bounded parser (length, depth, duplicate keys); outside bytes as JSON strings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/util.h"

/* Depth of v: 0 for a scalar, 1 for a flat array/object. Stops counting past limit. */
static int json_depth(const json_t *v, int limit)
{
	const char *key;
	json_t *child;
	size_t i;
	int d, max = 0;

	if (limit < 0)
		return 1;
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, child) {
			d = json_depth(child, limit - 1);
			if (d > max)
				max = d;
			if (max >= limit)
				break;
		}
		return max + 1;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, child) {
			d = json_depth(child, limit - 1);
			if (d > max)
				max = d;
			if (max >= limit)
				break;
		}
		return max + 1;
	}
	return 0;
}

int util_json_parse(const char *buf, size_t len, const util_json_limits_t *lim, json_t **out,
		    char *why, size_t why_cap)
{
	int max_depth = lim && lim->max_depth > 0 ? lim->max_depth : UTIL_JSON_DEPTH_DEFAULT;
	long max_bytes = lim && lim->max_bytes > 0 ? lim->max_bytes : UTIL_JSON_BYTES_DEFAULT;
	json_error_t jerr;
	json_t *doc;

	*out = NULL;
	/* Before jansson sees it: the text alone must not cost more than the bound. */
	if (len > (size_t)max_bytes) {
		snprintf(why, why_cap, "longer than %ld bytes", max_bytes);
		return CAIRN_ETOOBIG;
	}
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL) {
		snprintf(why, why_cap, "%s", jerr.text);
		return CAIRN_EINVAL;
	}
	if (json_depth(doc, max_depth) > max_depth) {
		snprintf(why, why_cap, "nested deeper than %d levels", max_depth);
		json_decref(doc);
		return CAIRN_ETOOBIG;
	}
	*out = doc;
	return 0;
}

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 when p[0] does not start one.
 * Reads no further than the first byte that fails, so the terminating NUL is never passed. */
static size_t utf8_seq_len(const unsigned char *p)
{
	unsigned lo = 0x80, hi = 0xBF;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		return (p[1] & 0xC0) == 0x80 ? 2 : 0;
	if (p[0] >= 0xE0 && p[0] <= 0xEF) {
		if (p[0] == 0xE0)
			lo = 0xA0; /* overlong */
		else if (p[0] == 0xED)
			hi = 0x9F; /* UTF-16 surrogates */
		return p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
	}
	if (p[0] >= 0xF0 && p[0] <= 0xF4) {
		if (p[0] == 0xF0)
			lo = 0x90; /* overlong */
		else if (p[0] == 0xF4)
			hi = 0x8F; /* past U+10FFFF */
		return p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 && (p[3] & 0xC0) == 0x80
			       ? 4
			       : 0;
	}
	return 0;
}

int util_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	while (*p != '\0') {
		if ((n = utf8_seq_len(p)) == 0)
			return 0;
		p += n;
	}
	return 1;
}

json_t *util_json_text(const char *s)
{
	static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */
	const unsigned char *p = (const unsigned char *)s;
	size_t len, in = 0, out, n;
	char *buf;
	json_t *str;

	if (s == NULL)
		return json_string("");
	len = strlen(s);
	while (in < len && (n = utf8_seq_len(p + in)) > 0)
		in += n;
	if (in == len)
		return json_stringn(s, len);
	/* At worst every byte becomes the three bytes of U+FFFD. */
	buf = malloc(3 * len + 1);
	if (buf == NULL)
		return NULL;
	memcpy(buf, s, in);
	out = in;
	while (in < len) {
		if ((n = utf8_seq_len(p + in)) > 0) {
			memcpy(buf + out, s + in, n);
			out += n;
			in += n;
		} else {
			memcpy(buf + out, replacement, 3);
			out += 3;
			in++;
		}
	}
	str = json_stringn(buf, out);
	free(buf);
	return str;
}
