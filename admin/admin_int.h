/* SPDX-License-Identifier: MIT */
/* admin internals shared by the files of admin/ — not part of the public interface. */
#ifndef CAIRN_ADMIN_INT_H
#define CAIRN_ADMIN_INT_H

#include "admin/admin.h"

#define PROBLEM(t) "urn:cairn:problem:" t

/* POST /certificates/{serial}/revoke {"reason": NAME, "invalidity_date"?: RFC3339}:
 * 200 with the new status; 404 unknown serial, 409 already revoked, 400 bad reason. */
void admin_api_revoke(const admin_ctx_t *ctx, const admin_request_t *req,
		      const admin_identity_t *who, const char *arg, http_reply_t *reply);
/* POST /revocations {"serials": [hex, ...] (1..1000), "reason": NAME,
 * "invalidity_date"?: RFC3339}: all in one durable transaction; 200 with
 * {"revoked": N, "results": [{"serial", "status", "detail"?}]}. */
void admin_api_revoke_many(const admin_ctx_t *ctx, const admin_request_t *req,
			   const admin_identity_t *who, const char *arg, http_reply_t *reply);

#endif
