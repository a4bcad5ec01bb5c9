/* SPDX-License-Identifier: MIT */
/* Fuzz target: cairn.json validation against the config table, then every profile in it. */
#include <jansson.h>

#include "ca/ca.h"
#include "fuzz/fuzz.h"
#include "server/server.h"

FUZZ_TARGET(config)
{
	cairn_config_t *cfg = NULL;
	cairn_err_t err = { 0 };
	ca_profile_t prof;
	const char *name;
	json_t *obj;

	if (config_parse("/nonexistent/cairn-fuzz", "cairn.json", (const char *)data, size, &cfg,
			 &err) != 0) {
		/* A refused config always names what is wrong. */
		FUZZ_ASSERT(cfg == NULL && err.msg[0] != '\0');
		return 0;
	}
	FUZZ_ASSERT(cfg->profiles != NULL && cfg->threads >= 1);
	/* What ca_open does next with the profiles. */
	json_object_foreach(cfg->profiles, name, obj) {
		err.msg[0] = '\0';
		if (ca_profile_parse(name, obj, &prof, &err) != 0)
			FUZZ_ASSERT(err.msg[0] != '\0');
	}
	config_free(cfg);
	return 0;
}
