/* SPDX-License-Identifier: MIT */
/* The daemon's notify worker: what it is handed (names of a certificate, the CA material's
 * health) and its start and stop. */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "acme/acme.h"
#include "admin/admin.h"
#include "ca/ca.h"
#include "est/est.h"
#include "inventory/inventory.h"
#include "server/internal.h"

json_t *server_cert_names(const uint8_t *der, size_t len, void *arg)
{
	const unsigned char *p = der;
	X509 *x = ca_cert_d2i(&p, (long)len);
	ca_names_t n = { 0 };
	cairn_err_t err = { 0 };
	json_t *out = NULL;
	size_t i;
	(void)arg;

	if (x == NULL || ca_names_from_cert(x, &n, &err) != 0 || (out = json_array()) == NULL)
		goto out;
	for (i = 0; i < n.n_san; i++)
		json_array_append_new(out, json_string(n.san[i].text));
	if (n.n_san == 0 && n.cn_name.type != 0 && n.cn_name.text != NULL)
		json_array_append_new(out, json_string(n.cn_name.text));
out:
	ca_names_clear(&n);
	X509_free(x);
	return out;
}

/* notify_material_fn: what /healthz says is expiring, expired or stale. */
static json_t *material(void *arg, int64_t now)
{
	json_t *problems = json_array();

	if (problems != NULL)
		server_health(arg, now, problems);
	return problems;
}

/* notify_recipients_fn: the owner of an event's certificate or request is its requester
 * (each channel's folder knows its own: an ACME account's contacts, an EST account's or an
 * admin's address); the approvers of a request.pending are the admins who may decide it. */
static json_t *recipients(void *arg, const json_t *event, int owner, int approvers)
{
	server_t *s = arg;
	const json_t *data = json_object_get(event, "data");
	const char *type = json_string_value(json_object_get(event, "type"));
	const char *requester = json_string_value(json_object_get(data, "requester"));
	json_t *out = json_array();

	if (out == NULL || type == NULL)
		return out;
	if (owner && requester != NULL && strcmp(type, "ca.expiring") != 0 &&
	    acme_owner_contacts(s->db, requester, out) == CAIRN_ENOENT &&
	    est_owner_address(s->db, requester, out) == CAIRN_ENOENT)
		(void)admin_owner_address(s->db, requester, out);
	if (approvers && strcmp(type, "request.pending") == 0)
		admin_approver_addresses(
			s->db, json_string_value(json_object_get(data, "approver_role")), requester,
			(uint64_t)json_integer_value(json_object_get(data, "audit_seq")), out);
	return out;
}

/* The notify worker's other expiry scans, same thresholds: the inventory's certificates
 * (cert.expiring) and the API tokens (token.expiring). */
static int others_expiring(db_t *db, const notify_settings_t *set, int64_t now, void *arg,
			   uint64_t *emitted, cairn_err_t *err)
{
	cairn_err_t token_err = { 0 };
	uint64_t tokens = 0;
	int rc, token_rc;
	(void)arg;

	*emitted = 0;
	if (set->n_expiry == 0)
		return 0;
	/* Each on its own: a scan that fails holds back none of the other's events. */
	rc = inventory_expiry_scan(db, set->expiry_days, set->n_expiry, now, emitted, err);
	token_rc = admin_token_expiry_scan(db, set->expiry_days, set->n_expiry, now, &tokens,
					   &token_err);
	*emitted += tokens;
	if (rc == 0 && token_rc != 0) {
		*err = token_err;
		rc = token_rc;
	}
	return rc;
}

int server_events_start(server_t *s, cairn_err_t *err)
{
	notify_config_t nc = { 0 };
	int rc;

	if ((rc = notify_settings_parse(s->cfg->notify, &s->notify_settings, err)) != 0)
		return rc;
	nc.db = s->db;
	nc.set = &s->notify_settings;
	nc.dir = s->cfg->dir;
	nc.names = server_cert_names;
	nc.material = material;
	nc.material_arg = s;
	nc.recipients = recipients;
	nc.recipients_arg = s;
	nc.also_scan = others_expiring;
	rc = notify_start(&nc, &s->notify, err);
	s->admin.notify = s->notify;
	return rc;
}

void server_events_stop(server_t *s)
{
	notify_free(s->notify);
	s->notify = NULL;
	s->admin.notify = NULL;
}
