/* SPDX-License-Identifier: MIT */
/* Parsing JSON from outside: duplicate keys refused, nesting depth bounded. */
#include <stdio.h>

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

int util_json_parse(const char *buf, size_t len, int max_depth, json_t **out, char *why,
		    size_t why_cap)
{
	json_error_t jerr;
	json_t *doc;

	*out = NULL;
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL) {
		snprintf(why, why_cap, "%s", jerr.text);
		return CAIRN_EINVAL;
	}
	if (max_depth > 0 && json_depth(doc, max_depth) > max_depth) {
		snprintf(why, why_cap, "nested deeper than %d levels", max_depth);
		json_decref(doc);
		return CAIRN_ETOOBIG;
	}
	*out = doc;
	return 0;
}
