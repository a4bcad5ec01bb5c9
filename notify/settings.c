/* SPDX-License-Identifier: MIT */
/* The "notify" object of cairn.json: thresholds, retry schedule and webhook sinks, validated. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "notify/notify_int.h"

/* Every event type cairn emits; a sink's "events" may name these or "*". */
static const char *const event_types[] = {
	"cert.issued",	    "cert.revoked",	"cert.unhold",	    "cert.renewed",
	"cert.replace",
	"cert.expiring",    "request.pending",	"request.approved", "request.rejected",
	"request.expired",  "ca.expiring",	"token.expiring",   "notify.test",
	"*",
};

static int known_type(const char *t)
{
	size_t i;

	for (i = 0; i < sizeof(event_types) / sizeof(event_types[0]); i++)
		if (strcmp(t, event_types[i]) == 0)
			return 1;
	return 0;
}

/* 1 when name ends in suffix (case-insensitive); ".x.test" does not match "x.test". */
static int under(const char *name, const char *suffix)
{
	size_t n = strlen(name), k = strlen(suffix);

	return n >= k && strcasecmp(name + n - k, suffix) == 0;
}

/* 1 when value is one of list (n entries of width w); an empty list takes anything. */
static int listed(const char *value, const char *list, size_t n, size_t w)
{
	size_t i;

	if (n == 0)
		return 1;
	for (i = 0; value != NULL && i < n; i++)
		if (strcmp(value, list + i * w) == 0)
			return 1;
	return 0;
}

static int matches(const notify_sink_t *s, const json_t *data)
{
	json_t *name;
	size_t i, j;

	if (!listed(json_string_value(json_object_get(data, "profile")), s->profile[0],
		    s->n_profile, sizeof(s->profile[0])) ||
	    !listed(json_string_value(json_object_get(data, "issuer")), s->issuer[0], s->n_issuer,
		    sizeof(s->issuer[0])))
		return 0;
	if (s->n_suffix == 0)
		return 1;
	json_array_foreach(json_object_get(data, "names"), j, name)
		for (i = 0; i < s->n_suffix; i++)
			if (json_is_string(name) && under(json_string_value(name), s->dns_suffix[i]))
				return 1;
	return 0;
}

int notify_address_ok(const char *a)
{
	const char *at = a ? strchr(a, '@') : NULL;
	size_t i, n = a ? strlen(a) : 0;

	if (at == NULL || at == a || at[1] == '\0' || strchr(at + 1, '@') != NULL || n >= 128)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)a[i] <= ' ' || (unsigned char)a[i] >= 127 ||
		    strchr("<>,;:\"()[]\\", a[i]) != NULL)
			return 0;
	return 1;
}

int notify_sink_wants(const notify_sink_t *s, const json_t *event)
{
	const char *type = json_string_value(json_object_get(event, "type"));
	const json_t *data = json_object_get(event, "data");
	size_t i;

	if (type == NULL)
		return 0;
	if (strcmp(type, "notify.test") == 0)
		return strcmp(json_string_value(json_object_get(data, "sink")) ?: "", s->name) == 0;
	for (i = 0; i < s->n_events; i++)
		if (strcmp(s->events[i], "*") == 0 || strcmp(s->events[i], type) == 0)
			return matches(s, data);
	return 0;
}

/* "match": {"dns_suffix": [..], "profile": [..], "issuer": [..]} of a sink (at most 4 of each). */
static int parse_match(const json_t *m, const char *where, notify_sink_t *s, cairn_err_t *err)
{
	const char *key;
	json_t *v, *one;
	size_t i;

	if (m == NULL)
		return 0;
	if (!json_is_object(m))
		return cairn_err_set(err, CAIRN_ECONFIG, "notify.%s.match: must be an object", where);
	json_object_foreach((json_t *)m, key, v) {
		int suffix = strcmp(key, "dns_suffix") == 0, issuer = strcmp(key, "issuer") == 0;
		if (!suffix && !issuer && strcmp(key, "profile") != 0)
			return cairn_err_set(err, CAIRN_ECONFIG, "notify.%s.match.%s: unknown key",
					     where, key);
		if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 4)
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "notify.%s.match.%s: must be a list of 1..4 strings", where,
					     key);
		json_array_foreach(v, i, one) {
			const char *t = json_string_value(one);
			char *dst = suffix ? s->dns_suffix[i] : issuer ? s->issuer[i] : s->profile[i];
			size_t cap = suffix ? sizeof(s->dns_suffix[i])
				     : issuer ? sizeof(s->issuer[i]) : sizeof(s->profile[i]);
			if (t == NULL || t[0] == '\0' || strlen(t) >= cap)
				return cairn_err_set(err, CAIRN_ECONFIG,
						     "notify.%s.match.%s[%zu]: must be a string of "
						     "1..%zu bytes", where, key, i, cap - 1);
			memcpy(dst, t, strlen(t) + 1);
		}
		if (suffix)
			s->n_suffix = i;
		else if (issuer)
			s->n_issuer = i;
		else
			s->n_profile = i;
	}
	return 0;
}

/* An integer key of obj within [min, max] into *out (absent: unchanged). */
static int int_key(const json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out,
		   cairn_err_t *err)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return cairn_err_set(err, CAIRN_ECONFIG, "notify.%s: must be an integer %lld..%lld",
				     key, (long long)min, (long long)max);
	*out = (int64_t)json_integer_value(v);
	return 0;
}

/* A string of 1..cap-1 bytes; where is "webhooks[0]", "email[1]", "smtp". */
static int copy_str(const json_t *v, char *dst, size_t cap, const char *where, const char *what,
		    cairn_err_t *err)
{
	const char *s = json_string_value(v);

	if (s == NULL || s[0] == '\0' || strlen(s) >= cap || strpbrk(s, "\r\n") != NULL)
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "notify.%s.%s: must be a string of 1..%zu bytes on one line",
				     where, what, cap - 1);
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

/* The "events" list of a sink (absent: every event). */
static int parse_events(const json_t *v, const char *where, notify_sink_t *s, cairn_err_t *err)
{
	size_t j;

	if (v == NULL) {
		strcpy(s->events[0], "*");
		s->n_events = 1;
		return 0;
	}
	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > sizeof(s->events) / sizeof(s->events[0]))
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "notify.%s.events: must be a list of 1..16 event types", where);
	for (j = 0; j < json_array_size(v); j++) {
		const char *t = json_string_value(json_array_get(v, j));
		if (t == NULL || !known_type(t))
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "notify.%s.events[%zu]: unknown event type %s "
					     "(see docs/notify.md)", where, j, t ? t : "(not a string)");
		snprintf(s->events[j], sizeof(s->events[j]), "%s", t);
	}
	s->n_events = j;
	return 0;
}

static int check_name(const char *name, const char *where, cairn_err_t *err)
{
	for (; *name; name++)
		if (!((*name >= 'a' && *name <= 'z') || (*name >= 'A' && *name <= 'Z') ||
		      (*name >= '0' && *name <= '9') || *name == '-' || *name == '_' || *name == '.'))
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "notify.%s.name: only letters, digits, . _ -", where);
	return 0;
}

/* An optional boolean key of o into *out (absent: unchanged). */
static int bool_key(const json_t *o, const char *where, const char *key, int *out,
		    cairn_err_t *err)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return cairn_err_set(err, CAIRN_ECONFIG, "notify.%s.%s: must be true or false", where,
				     key);
	*out = json_is_true(v);
	return 0;
}

/* notify.email[i]: {"name", "to"?: [addresses], "to_owner"?, "to_approvers"?, "mode"?,
 * "events"?, "max_tries"?, "match"?}; digest is notify.smtp.digest (the default mode). */
static int parse_email(const json_t *o, size_t i, int digest, notify_sink_t *s, cairn_err_t *err)
{
	static const char *const keys[] = { "name", "to", "to_owner", "to_approvers", "mode",
					    "events", "max_tries", "match" };
	char where[32];
	const char *key, *mode;
	json_t *v, *to;
	size_t j, k;
	int rc;

	snprintf(where, sizeof(where), "email[%zu]", i);
	if (!json_is_object(o))
		return cairn_err_set(err, CAIRN_ECONFIG, "notify.%s: must be an object", where);
	json_object_foreach((json_t *)o, key, v) {
		for (k = 0; k < sizeof(keys) / sizeof(keys[0]) && strcmp(key, keys[k]) != 0; k++)
			;
		if (k == sizeof(keys) / sizeof(keys[0]))
			return cairn_err_set(err, CAIRN_ECONFIG, "notify.%s.%s: unknown key", where, key);
	}
	s->email = 1;
	s->digest = digest;
	if ((rc = copy_str(json_object_get(o, "name"), s->name, sizeof(s->name), where, "name",
			   err)) != 0 ||
	    (rc = check_name(s->name, where, err)) != 0 ||
	    (rc = bool_key(o, where, "to_owner", &s->to_owner, err)) != 0 ||
	    (rc = bool_key(o, where, "to_approvers", &s->to_approvers, err)) != 0)
		return rc;
	if ((v = json_object_get(o, "mode")) != NULL) {
		mode = json_string_value(v);
		if (mode == NULL || (strcmp(mode, "each") != 0 && strcmp(mode, "digest") != 0))
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "notify.%s.mode: must be \"each\" or \"digest\"", where);
		s->digest = strcmp(mode, "digest") == 0;
	}
	to = json_object_get(o, "to");
	if ((to != NULL || (!s->to_owner && !s->to_approvers)) && (!json_is_array(to) || json_array_size(to) == 0 ||
		 json_array_size(to) > sizeof(s->to) / sizeof(s->to[0])))
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "notify.%s.to: must be a list of 1..4 addresses (or leave it out "
				     "with to_owner or to_approvers)", where);
	for (j = 0; j < json_array_size(to); j++) {
		if ((rc = copy_str(json_array_get(to, j), s->to[j], sizeof(s->to[j]), where, "to",
				   err)) != 0)
			return rc;
		if (!notify_address_ok(s->to[j]))
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "notify.%s.to[%zu]: not an address (user@host)", where, j);
	}
	s->n_to = j;
	v = json_object_get(o, "max_tries");
	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 1 ||
			  json_integer_value(v) > 100))
		return cairn_err_set(err, CAIRN_ECONFIG, "notify.%s.max_tries: must be 1..100", where);
	s->max_tries = v != NULL ? (int)json_integer_value(v) : 0;
	if ((rc = parse_match(json_object_get(o, "match"), where, s, err)) != 0)
		return rc;
	return parse_events(json_object_get(o, "events"), where, s, err);
}

/* notify.smtp: {"url", "from", "user"?, "password_file"?, "starttls"?, "ca_file"?,
 * "digest"?}; *digest receives the default mode of e-mail sinks. */
static int parse_smtp(const json_t *o, notify_settings_t *out, int *digest, cairn_err_t *err)
{
	static const char *const keys[] = { "url", "from", "user", "password_file", "starttls",
					    "ca_file", "digest" };
	const char *key, *tls;
	json_t *v;
	size_t k;
	int rc;

	if (!json_is_object(o))
		return cairn_err_set(err, CAIRN_ECONFIG, "notify.smtp: must be an object");
	json_object_foreach((json_t *)o, key, v) {
		for (k = 0; k < sizeof(keys) / sizeof(keys[0]) && strcmp(key, keys[k]) != 0; k++)
			;
		if (k == sizeof(keys) / sizeof(keys[0]))
			return cairn_err_set(err, CAIRN_ECONFIG, "notify.smtp.%s: unknown key", key);
	}
	if ((rc = copy_str(json_object_get(o, "url"), out->smtp_url, sizeof(out->smtp_url), "smtp",
			   "url", err)) != 0 ||
	    (rc = copy_str(json_object_get(o, "from"), out->smtp_from, sizeof(out->smtp_from),
			   "smtp", "from", err)) != 0)
		return rc;
	if (strncmp(out->smtp_url, "smtp://", 7) != 0 && strncmp(out->smtp_url, "smtps://", 8) != 0)
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "notify.smtp.url: must start with smtp:// or smtps://");
	if (!notify_address_ok(out->smtp_from))
		return cairn_err_set(err, CAIRN_ECONFIG, "notify.smtp.from: not an address (user@host)");
	if (json_object_get(o, "user") != NULL &&
	    ((rc = copy_str(json_object_get(o, "user"), out->smtp_user, sizeof(out->smtp_user),
			    "smtp", "user", err)) != 0 ||
	     (rc = copy_str(json_object_get(o, "password_file"), out->smtp_password_file,
			    sizeof(out->smtp_password_file), "smtp", "password_file", err)) != 0))
		return rc;
	if (json_object_get(o, "ca_file") != NULL &&
	    (rc = copy_str(json_object_get(o, "ca_file"), out->smtp_ca_file,
			   sizeof(out->smtp_ca_file), "smtp", "ca_file", err)) != 0)
		return rc;
	if ((v = json_object_get(o, "starttls")) != NULL) {
		tls = json_string_value(v);
		if (tls != NULL && strcmp(tls, "auto") == 0)
			out->smtp_starttls = NOTIFY_STARTTLS_AUTO;
		else if (tls != NULL && strcmp(tls, "require") == 0)
			out->smtp_starttls = NOTIFY_STARTTLS_REQUIRE;
		else if (tls != NULL && strcmp(tls, "none") == 0)
			out->smtp_starttls = NOTIFY_STARTTLS_NONE;
		else
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "notify.smtp.starttls: must be \"auto\", \"require\" or \"none\"");
	}
	/* AUTH over plain text would hand the password to anyone on the path. */
	if (out->smtp_starttls == NOTIFY_STARTTLS_NONE && out->smtp_user[0] != '\0' &&
	    strncmp(out->smtp_url, "smtp://", 7) == 0)
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "notify.smtp.starttls: \"none\" with a user would send the "
				     "password in clear (use smtps:// or STARTTLS)");
	return bool_key(o, "smtp", "digest", digest, err);
}

static int parse_sink(const json_t *o, size_t i, notify_sink_t *s, cairn_err_t *err)
{
	char where[32];
	const char *key;
	json_t *v;
	int rc;

	if (!json_is_object(o))
		return cairn_err_set(err, CAIRN_ECONFIG, "notify.webhooks[%zu]: must be an object", i);
	json_object_foreach((json_t *)o, key, v)
		if (strcmp(key, "name") && strcmp(key, "url") && strcmp(key, "secret_file") &&
		    strcmp(key, "events") && strcmp(key, "max_tries") && strcmp(key, "match"))
			return cairn_err_set(err, CAIRN_ECONFIG, "notify.webhooks[%zu].%s: unknown key",
					     i, key);
	snprintf(where, sizeof(where), "webhooks[%zu]", i);
	if ((rc = copy_str(json_object_get(o, "name"), s->name, sizeof(s->name), where, "name",
			   err)) ||
	    (rc = copy_str(json_object_get(o, "url"), s->url, sizeof(s->url), where, "url", err)) ||
	    (rc = copy_str(json_object_get(o, "secret_file"), s->secret_file,
			   sizeof(s->secret_file), where, "secret_file", err)) ||
	    (rc = check_name(s->name, where, err)))
		return rc;
	if (strncmp(s->url, "http://", 7) != 0 && strncmp(s->url, "https://", 8) != 0)
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "notify.webhooks[%zu].url: must start with http:// or https://", i);
	v = json_object_get(o, "max_tries");
	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 1 ||
			  json_integer_value(v) > 100))
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "notify.webhooks[%zu].max_tries: must be an integer 1..100", i);
	s->max_tries = v != NULL ? (int)json_integer_value(v) : 0;
	if ((rc = parse_match(json_object_get(o, "match"), where, s, err)) != 0)
		return rc;
	return parse_events(json_object_get(o, "events"), where, s, err);
}

int notify_settings_parse(const json_t *obj, notify_settings_t *out, cairn_err_t *err)
{
	static const char *const keys[] = { "expiry_days", "webhooks", "email", "smtp",
					    "scan_interval",
					    "max_tries", "backoff_ms", "backoff_max_ms",
					    "poll_ms", "timeout_ms", "dead_letters_max" };
	const char *key;
	json_t *v;
	size_t i, j;
	int64_t tries = 8;
	int rc, digest = 0;

	memset(out, 0, sizeof(*out));
	out->expiry_days[0] = 30;
	out->expiry_days[1] = 7;
	out->expiry_days[2] = 1;
	out->n_expiry = 3;
	out->scan_interval = 3600;
	out->backoff_ms = 1000;
	out->backoff_max_ms = 300000;
	out->poll_ms = 500;
	out->timeout_ms = 10000;
	out->dead_letters_max = 100000;
	if (obj == NULL || (json_is_string(obj) && json_string_value(obj)[0] == '\0'))
		goto done;
	if (!json_is_object(obj))
		return cairn_err_set(err, CAIRN_ECONFIG, "notify: must be an object");
	json_object_foreach((json_t *)obj, key, v) {
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(key, keys[i]) == 0)
				break;
		if (i == sizeof(keys) / sizeof(keys[0]))
			return cairn_err_set(err, CAIRN_ECONFIG, "notify.%s: unknown key", key);
	}
	if ((rc = int_key(obj, "scan_interval", 10, 86400, &out->scan_interval, err)) ||
	    (rc = int_key(obj, "max_tries", 1, 100, &tries, err)) ||
	    (rc = int_key(obj, "backoff_ms", 10, 3600000, &out->backoff_ms, err)) ||
	    (rc = int_key(obj, "backoff_max_ms", 10, 86400000, &out->backoff_max_ms, err)) ||
	    (rc = int_key(obj, "poll_ms", 10, 60000, &out->poll_ms, err)) ||
	    (rc = int_key(obj, "timeout_ms", 100, 300000, &out->timeout_ms, err)) ||
	    (rc = int_key(obj, "dead_letters_max", 1, 10000000, &out->dead_letters_max, err)))
		return rc;
	if ((v = json_object_get(obj, "expiry_days")) != NULL) {
		if (!json_is_array(v) || json_array_size(v) > NOTIFY_MAX_THRESHOLDS)
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "notify.expiry_days: must be a list of at most %d day counts",
					     NOTIFY_MAX_THRESHOLDS);
		out->n_expiry = json_array_size(v);
		for (i = 0; i < out->n_expiry; i++) {
			json_t *d = json_array_get(v, i);
			if (!json_is_integer(d) || json_integer_value(d) < 1 ||
			    json_integer_value(d) > 3650)
				return cairn_err_set(err, CAIRN_ECONFIG,
						     "notify.expiry_days[%zu]: must be 1..3650", i);
			out->expiry_days[i] = (int64_t)json_integer_value(d);
			for (j = 0; j < i; j++)
				if (out->expiry_days[j] == out->expiry_days[i])
					return cairn_err_set(err, CAIRN_ECONFIG,
							     "notify.expiry_days[%zu]: listed twice", i);
		}
	}
	if ((v = json_object_get(obj, "webhooks")) != NULL) {
		if (!json_is_array(v) || json_array_size(v) > NOTIFY_MAX_SINKS)
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "notify.webhooks: must be a list of at most %d sinks",
					     NOTIFY_MAX_SINKS);
		for (i = 0; i < json_array_size(v); i++) {
			if ((rc = parse_sink(json_array_get(v, i), i, &out->sinks[i], err)) != 0)
				return rc;
			for (j = 0; j < i; j++)
				if (strcmp(out->sinks[j].name, out->sinks[i].name) == 0)
					return cairn_err_set(err, CAIRN_ECONFIG,
							     "notify.webhooks[%zu].name: %s is used twice",
							     i, out->sinks[i].name);
		}
		out->n_sinks = i;
	}
	if ((v = json_object_get(obj, "smtp")) != NULL &&
	    (rc = parse_smtp(v, out, &digest, err)) != 0)
		return rc;
	if ((v = json_object_get(obj, "email")) != NULL) {
		size_t first = out->n_sinks;
		if (!json_is_array(v) || first + json_array_size(v) > NOTIFY_MAX_SINKS)
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "notify.email: must be a list (at most %d sinks in all)",
					     NOTIFY_MAX_SINKS);
		if (json_array_size(v) > 0 && out->smtp_url[0] == '\0')
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "notify.email: needs notify.smtp (url, from)");
		for (i = 0; i < json_array_size(v); i++) {
			notify_sink_t *s = &out->sinks[first + i];
			if ((rc = parse_email(json_array_get(v, i), i, digest, s, err)) != 0)
				return rc;
			for (j = 0; j < first + i; j++)
				if (strcmp(out->sinks[j].name, s->name) == 0)
					return cairn_err_set(err, CAIRN_ECONFIG,
							     "notify.email[%zu].name: %s is used twice",
							     i, s->name);
		}
		out->n_sinks = first + i;
	}
done:
	out->max_tries = (int)tries;
	return 0;
}
