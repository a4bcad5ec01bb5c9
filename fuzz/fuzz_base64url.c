/* SPDX-License-Identifier: MIT */
/* Fuzz target: the strict base64url decoder (and that encode/decode round-trip). */
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "util/util.h"

FUZZ_TARGET(base64url)
{
	uint8_t *out = NULL, *back = NULL;
	size_t out_len = 0, back_len = 0;
	char *text;

	/* Anything that decodes must be canonical: encoding it again gives the input. */
	if (b64url_decode((const char *)data, size, &out, &out_len) == 0) {
		text = b64url_encode(out, out_len);
		FUZZ_ASSERT(text != NULL);
		FUZZ_ASSERT(strlen(text) == size && memcmp(text, data, size) == 0);
		free(text);
	}
	free(out);
	/* Any bytes encode, and decode back to themselves. */
	text = b64url_encode(data, size);
	FUZZ_ASSERT(text != NULL);
	FUZZ_ASSERT(b64url_decode(text, strlen(text), &back, &back_len) == 0);
	FUZZ_ASSERT(back_len == size && (size == 0 || memcmp(back, data, size) == 0));
	free(back);
	free(text);
	return 0;
}
