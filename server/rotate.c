/* SPDX-License-Identifier: MIT */
/* Rotation of the issuing CA in the running daemon: the new CA, then its OCSP answers and CRL, then new certificates get it. */
#include <string.h>

#include "server/internal.h"

int server_rotate_now(void *arg, const char *actor, json_t **out, cairn_err_t *err)
{
	server_t *s = arg;
	const char *name;
	json_t *doc = NULL;
	int rc;

	*out = NULL;
	if (s->ocsp == NULL || s->crl == NULL)
		return cairn_err_set(err, CAIRN_ESHUTDOWN, "the daemon is not ready");
	if ((rc = ca_rotate(s->ca, actor, &doc, err)) != 0)
		return rc;
	name = json_string_value(json_object_get(doc, "name"));
	/* Recorded and durable from here: a failure below is repaired by a restart, which
	 * loads every recorded issuer and makes the last one current. */
	if ((rc = server_revocation_add_issuer(s, name, err)) != 0) {
		log_error("rotate", "issuing CA %s is recorded but not yet in use (a restart "
			  "finishes the rotation): %s", name, cairn_err_msg(err));
		json_decref(doc);
		return rc;
	}
	server_material_update(s, name, ca_issuer_cert(s->ca, name));
	if ((rc = ca_issuer_activate(s->ca, name)) != 0) {
		json_decref(doc);
		return cairn_err_set(err, rc, "cannot make %s current", name);
	}
	log_info("rotate", "issuing CA %s (serial %s, key %s) replaces %s for new certificates, "
		 "by %s", name, json_string_value(json_object_get(doc, "serial")),
		 json_string_value(json_object_get(doc, "key")),
		 json_string_value(json_object_get(doc, "replaces")), actor);
	*out = doc;
	return 0;
}
