/* SPDX-License-Identifier: MIT */
/* The "est" object of cairn.json: labels, default label, channel binding, re-enroll and retry settings. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "est/est.h"

int est_label_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= EST_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '_'))
			return 0;
	/* These would be read as an operation, not a label. */
	return strcmp(s, "cacerts") && strcmp(s, "simpleenroll") && strcmp(s, "simplereenroll") &&
	       strcmp(s, "csrattrs") && strcmp(s, "serverkeygen");
}

int est_profile_never_client(const char *profile)
{
	/* admin logs in to the admin API; the others are the CA's own certificates: its
	 * hierarchy, the OCSP signer and the daemon's HTTPS certificate (its key is a file). */
	return strcmp(profile, CA_ADMIN_PROFILE) == 0 || ca_own_profile(profile) != NULL;
}

static int parse_cert_profiles(const char *name, const json_t *v, est_label_t *l,
			       cairn_err_t *err)
{
	const json_t *p;
	size_t i;

	if (!json_is_array(v) || json_array_size(v) > EST_MAX_CERT_PROFILES)
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "est.labels.%s.client_cert_profiles: must be an array of at "
				     "most %d profile names", name, EST_MAX_CERT_PROFILES);
	json_array_foreach(v, i, p) {
		const char *s = json_string_value(p);
		if (s == NULL || json_string_length(p) == 0 || json_string_length(p) >= EST_NAME_MAX)
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "est.labels.%s.client_cert_profiles[%zu]: must be a "
					     "string of 1..63 characters", name, i);
		if (est_profile_never_client(s))
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "est.labels.%s.client_cert_profiles[%zu]: %s certificates "
					     "never authenticate EST clients", name, i, s);
		snprintf(l->client_cert_profiles[i], EST_NAME_MAX, "%s", s);
	}
	l->n_client_cert_profiles = json_array_size(v);
	return 0;
}

static int parse_label(const char *name, const json_t *obj, est_label_t *l, cairn_err_t *err)
{
	const char *key;
	json_t *v;

	if (!est_label_name_ok(name))
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "est.labels.%s: a label is [a-z0-9_-]{1,63} and not an EST operation",
				     name);
	if (!json_is_object(obj))
		return cairn_err_set(err, CAIRN_ECONFIG, "est.labels.%s: must be an object", name);
	memset(l, 0, sizeof(*l));
	snprintf(l->name, sizeof(l->name), "%s", name);
	json_object_foreach((json_t *)obj, key, v) {
		if (strcmp(key, "profile") == 0 || strcmp(key, "policy_group") == 0) {
			char *dst = key[0] == 'p' && key[1] == 'r' ? l->profile : l->policy_group;
			if (!json_is_string(v) || json_string_length(v) == 0 ||
			    json_string_length(v) >= EST_NAME_MAX)
				return cairn_err_set(err, CAIRN_ECONFIG,
						     "est.labels.%s.%s: must be a string of 1..63 characters",
						     name, key);
			snprintf(dst, EST_NAME_MAX, "%s", json_string_value(v));
			if (dst == l->policy_group && !policy_group_ok(dst))
				return cairn_err_set(err, CAIRN_ECONFIG,
						     "est.labels.%s.policy_group: must be "
						     POLICY_GROUP_RULE, name);
		} else if (strcmp(key, "validity_days") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > 3650)
				return cairn_err_set(err, CAIRN_ECONFIG,
						     "est.labels.%s.validity_days: must be 0..3650", name);
			l->validity_days = (int)json_integer_value(v);
		} else if (strcmp(key, "serverkeygen") == 0) {
			if (!json_is_boolean(v))
				return cairn_err_set(err, CAIRN_ECONFIG,
						     "est.labels.%s.serverkeygen: must be true or false", name);
			l->serverkeygen = json_is_true(v);
		} else if (strcmp(key, "client_cert_profiles") == 0) {
			int rc = parse_cert_profiles(name, v, l, err);
			if (rc)
				return rc;
		} else {
			return cairn_err_set(err, CAIRN_ECONFIG, "est.labels.%s.%s: unknown key", name,
					     key);
		}
	}
	if (l->profile[0] == '\0')
		return cairn_err_set(err, CAIRN_ECONFIG, "est.labels.%s.profile: required", name);
	return 0;
}

/* The plain integer keys of "est": where each goes and its bounds. */
static int parse_int_key(const char *key, const json_t *v, est_settings_t *out, cairn_err_t *err)
{
	static const struct {
		const char *key;
		size_t off;
		long min, max;
	} keys[] = {
		{ "auth_cache_seconds", offsetof(est_settings_t, auth_cache_seconds), 0, 3600 },
		{ "auth_cache_entries", offsetof(est_settings_t, auth_cache_entries), 0, 65536 },
		{ "scrypt_n", offsetof(est_settings_t, scrypt_n), 1024, 1048576 },
		{ "scrypt_r", offsetof(est_settings_t, scrypt_r), 1, 32 },
		{ "scrypt_p", offsetof(est_settings_t, scrypt_p), 1, 16 },
	};
	size_t i;
	json_int_t n;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(key, keys[i].key) != 0)
			continue;
		n = json_integer_value(v);
		if (!json_is_integer(v) || n < keys[i].min || n > keys[i].max ||
		    (strcmp(key, "scrypt_n") == 0 && (n & (n - 1)) != 0))
			return cairn_err_set(err, CAIRN_ECONFIG, "est.%s: must be %s%ld..%ld", key,
					     strcmp(key, "scrypt_n") == 0 ? "a power of two " : "",
					     keys[i].min, keys[i].max);
		*(int *)((char *)out + keys[i].off) = (int)n;
		return 0;
	}
	return cairn_err_set(err, CAIRN_ECONFIG, "est.%s: unknown key", key);
}

int est_settings_parse(const json_t *obj, est_settings_t *out, cairn_err_t *err)
{
	json_t *def = NULL, *v;
	const char *key;
	int rc = 0, have_default = 0;
	size_t i;

	memset(out, 0, sizeof(*out));
	out->retry_after = EST_DEFAULT_RETRY_AFTER;
	out->auth_fail_limit = EST_AUTH_FAIL_LIMIT;
	out->auth_fail_window = EST_AUTH_FAIL_WINDOW;
	out->auth_cache_seconds = EST_AUTH_CACHE_SECONDS;
	out->auth_cache_entries = EST_AUTH_CACHE_ENTRIES;
	out->scrypt_n = EST_SCRYPT_N;
	out->scrypt_r = EST_SCRYPT_R;
	out->scrypt_p = EST_SCRYPT_P;
	snprintf(out->default_label, sizeof(out->default_label), "default");
	if (obj == NULL)
		obj = def = est_settings_default();
	if (!json_is_object(obj)) {
		rc = cairn_err_set(err, CAIRN_ECONFIG, "est: must be an object");
		goto out;
	}
	json_object_foreach((json_t *)obj, key, v) {
		if (strcmp(key, "labels") == 0) {
			const char *lname;
			json_t *lv;
			if (!json_is_object(v)) {
				rc = cairn_err_set(err, CAIRN_ECONFIG, "est.labels: must be an object");
				goto out;
			}
			json_object_foreach(v, lname, lv) {
				if (out->n_labels == EST_MAX_LABELS) {
					rc = cairn_err_set(err, CAIRN_ECONFIG,
							   "est.labels: at most %d labels", EST_MAX_LABELS);
					goto out;
				}
				rc = parse_label(lname, lv, &out->labels[out->n_labels], err);
				if (rc)
					goto out;
				out->n_labels++;
			}
		} else if (strcmp(key, "default_label") == 0) {
			if (!json_is_string(v) || !est_label_name_ok(json_string_value(v))) {
				rc = cairn_err_set(err, CAIRN_ECONFIG,
						   "est.default_label: must name a label");
				goto out;
			}
			snprintf(out->default_label, sizeof(out->default_label), "%s",
				 json_string_value(v));
		} else if (strcmp(key, "channel_binding") == 0) {
			const char *s = json_string_value(v);
			if (s && strcmp(s, "off") == 0)
				out->channel_binding = EST_CB_OFF;
			else if (s && strcmp(s, "tls-unique") == 0)
				out->channel_binding = EST_CB_TLS_UNIQUE;
			else if (s && strcmp(s, "tls-exporter") == 0)
				out->channel_binding = EST_CB_TLS_EXPORTER;
			else {
				rc = cairn_err_set(err, CAIRN_ECONFIG,
						   "est.channel_binding: must be \"off\", \"tls-unique\" or \"tls-exporter\"");
				goto out;
			}
		} else if (strcmp(key, "revoke_superseded") == 0) {
			if (!json_is_boolean(v)) {
				rc = cairn_err_set(err, CAIRN_ECONFIG,
						   "est.revoke_superseded: must be true or false");
				goto out;
			}
			out->revoke_superseded = json_is_true(v);
		} else if (strcmp(key, "retry_after") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > 86400) {
				rc = cairn_err_set(err, CAIRN_ECONFIG, "est.retry_after: must be 1..86400");
				goto out;
			}
			out->retry_after = (int)json_integer_value(v);
		} else if (strcmp(key, "auth_fail_limit") == 0 || strcmp(key, "auth_fail_window") == 0) {
			int limit = key[10] == 'l';
			long max = limit ? 1000 : 86400;
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > max) {
				rc = cairn_err_set(err, CAIRN_ECONFIG, "est.%s: must be 1..%ld", key, max);
				goto out;
			}
			*(limit ? &out->auth_fail_limit : &out->auth_fail_window) =
				(int)json_integer_value(v);
		} else if ((rc = parse_int_key(key, v, out, err)) != 0) {
			goto out;
		}
	}
	if ((rc = est_scrypt_check(out->scrypt_n, out->scrypt_r, out->scrypt_p, err)) != 0)
		goto out;
	for (i = 0; i < out->n_labels; i++)
		if (strcmp(out->labels[i].name, out->default_label) == 0)
			have_default = 1;
	if (!have_default)
		rc = cairn_err_set(err, CAIRN_ECONFIG,
				   "est.default_label: no label named %s in est.labels",
				   out->default_label);
out:
	json_decref(def);
	return rc;
}

json_t *est_settings_default(void)
{
	return json_pack("{s:s, s:{s:{s:s, s:i, s:b}}, s:s, s:b, s:i}", "default_label", "default",
			 "labels", "default", "profile", "tls-client", "validity_days", 365,
			 "serverkeygen", 0, "channel_binding", "off", "revoke_superseded", 0,
			 "retry_after", EST_DEFAULT_RETRY_AFTER);
}
