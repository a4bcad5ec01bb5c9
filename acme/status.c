/* SPDX-License-Identifier: MIT */
/* The one table of authorization and challenge status moves (RFC 8555 §7.1.6): every writer asks it, so final states stay final. */
#include <string.h>
#include <time.h>

#include "acme/acme_int.h"

typedef struct status_move {
	const char *from, *to;
} status_move_t;

/* "expired" is never stored: it is derived from "expires" (acme_authz_status). */
static const status_move_t authz_moves[] = {
	{ "pending", "valid" },       /* a challenge validated */
	{ "pending", "invalid" },     /* a challenge failed */
	{ "pending", "deactivated" }, /* the client gave it up */
	{ "valid", "deactivated" },
	{ "valid", "revoked" },
};

static const status_move_t chall_moves[] = {
	{ "pending", "processing" },  /* stored only for validations parked at a clean stop */
	{ "pending", "valid" },       /* a validation's result: while it runs the challenge is */
	{ "pending", "invalid" },     /* "processing" in memory only (validate.c) */
	{ "processing", "valid" },
	{ "processing", "invalid" },
};

static int move_allowed(const status_move_t *t, size_t n, const char *from, const char *to)
{
	size_t i;

	if (from == NULL || to == NULL)
		return 0;
	for (i = 0; i < n; i++)
		if (strcmp(t[i].from, from) == 0 && strcmp(t[i].to, to) == 0)
			return 1;
	return 0;
}

const char *acme_authz_status(const json_t *z)
{
	const char *st = json_string_value(json_object_get(z, "status"));

	if (st == NULL)
		return "invalid";
	if ((strcmp(st, "pending") == 0 || strcmp(st, "valid") == 0) &&
	    json_integer_value(json_object_get(z, "expires")) < (json_int_t)time(NULL))
		return "expired";
	return st;
}

int acme_authz_may_move(const json_t *z, const char *to)
{
	return move_allowed(authz_moves, sizeof(authz_moves) / sizeof(authz_moves[0]),
			    acme_authz_status(z), to);
}

int acme_chall_may_move(const json_t *c, const char *to)
{
	return move_allowed(chall_moves, sizeof(chall_moves) / sizeof(chall_moves[0]),
			    json_string_value(json_object_get(c, "status")), to);
}

const json_t *acme_authz_valid_chall(const json_t *z)
{
	const json_t *c;
	size_t i;

	json_array_foreach(json_object_get(z, "challs"), i, c) {
		const char *st = json_string_value(json_object_get(c, "status"));
		if (st != NULL && strcmp(st, "valid") == 0)
			return c;
	}
	return NULL;
}
