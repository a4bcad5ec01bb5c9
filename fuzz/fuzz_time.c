/* SPDX-License-Identifier: MIT */
/* Fuzz target: the one RFC 3339 parser (time_parse) that every time from outside goes through. */
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "util/util.h"

/* Years 0000-9999 as seconds since 1970: what a 4-digit year can reach. */
#define YEAR_0 (-62167219200LL)
#define YEAR_10000 253402300800LL

FUZZ_TARGET(time)
{
	char *s = malloc(size + 1), out[32];
	time_t t = 0, back = 0;

	FUZZ_ASSERT(s != NULL);
	/* Exactly size + 1 bytes: ASan sees any read past the terminating NUL. */
	memcpy(s, data, size);
	s[size] = '\0';
	if (time_parse(s, &t) == 0) {
		/* Offsets reach ±23:59 and a leap second one more: just outside the years. */
		FUZZ_ASSERT((long long)t >= YEAR_0 - 86400 && (long long)t < YEAR_10000 + 86400);
		/* Only RFC 3339 characters were accepted. */
		FUZZ_ASSERT(strspn(s, "0123456789-:.+TtZz") == strlen(s));
		/* Whatever parses prints as RFC 3339 UTC and reads back the same. */
		if ((long long)t >= YEAR_0 && (long long)t < YEAR_10000) {
			time_rfc3339(t, out, sizeof(out));
			FUZZ_ASSERT(strlen(out) == 20);
			FUZZ_ASSERT(time_parse(out, &back) == 0 && back == t);
		}
	}
	free(s);
	return 0;
}
