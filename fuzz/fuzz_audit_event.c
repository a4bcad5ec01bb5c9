/* SPDX-License-Identifier: MIT */
/* Fuzz target: parsing one stored audit event as `cairn audit verify` does. */
#include <jansson.h>

#include "audit/audit.h"
#include "fuzz/fuzz.h"

FUZZ_TARGET(audit_event)
{
	const char *why = NULL;
	json_t *ev = audit_event_parse(data, size, &why);

	if (ev == NULL) {
		FUZZ_ASSERT(why != NULL);
		return 0;
	}
	FUZZ_ASSERT(json_is_integer(json_object_get(ev, "seq")));
	FUZZ_ASSERT(json_string_length(json_object_get(ev, "prev")) == 64);
	json_decref(ev);
	return 0;
}
