/* SPDX-License-Identifier: MIT */
/* Policy rules: parsing the JSON file with errors naming rule and field (decide.c evaluates them). */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "policy/policy_int.h"

#define POLICY_MAX_FILE (1024 * 1024)

static const char *const channels[] = { "acme", "est", "admin", NULL };
static const char *const key_types[] = { "ec", "rsa", "ed25519", NULL };
static const char *const roles[] = { "admin", "approver", "operator", "auditor", NULL };

/* How every requester string starts, by channel (policy.h, docs/policy.md). */
static const char *const requester_kinds[] = { "acme:acct/", "acme:eab/", "est:user/",
					       "est:cert/", "admin:", NULL };

/* 1 when a match.requester pattern can match some requester: its literal start (up to
 * the first glob character) begins with a known kind, or is followed by a glob and is
 * the start of one ("*", "acme:*"). A pattern no channel produces is a typo. */
static int requester_pattern_ok(const char *pat)
{
	size_t lit = strcspn(pat, "*?[\\"), n;
	const char *const *k;

	for (k = requester_kinds; *k; k++) {
		n = strlen(*k);
		if (lit >= n ? strncmp(pat, *k, n) == 0
			     : pat[lit] != '\0' && strncmp(pat, *k, lit) == 0)
			return 1;
	}
	return 0;
}

static int in_set(const char *const *set, const char *s)
{
	for (; *set; set++)
		if (strcmp(*set, s) == 0)
			return 1;
	return 0;
}

static void strlist_free(strlist_t *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void rule_clear(rule_t *r)
{
	strlist_free(&r->channel);
	strlist_free(&r->requester);
	strlist_free(&r->group);
	strlist_free(&r->profile);
	strlist_free(&r->dns_suffix);
	strlist_free(&r->dns_exact);
	strlist_free(&r->key_type);
	strlist_free(&r->email_domain);
	strlist_free(&r->uri_prefix);
	free(r->cidrs);
	free(r->cn_prefix);
	free(r->cn_pattern);
}

void policy_free(policy_t *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		rule_clear(&p->rules[i]);
	free(p->rules);
	free(p);
}

/* Parse context: where we are, for error messages ("rules[1] (prod).match.x"). */
typedef struct where {
	size_t index;
	const char *name;
	cairn_err_t *err;
} where_t;

static int field_error(const where_t *w, const char *field, const char *what)
{
	if (w->name != NULL && w->name[0] != '\0')
		return cairn_err_set(w->err, CAIRN_ECONFIG, "rules[%zu] (%s).%s: %s", w->index,
				     w->name, field, what);
	return cairn_err_set(w->err, CAIRN_ECONFIG, "rules[%zu].%s: %s", w->index, field, what);
}

/* A list of strings; a lone string is accepted when allow_single. Values are lower-cased
 * when lower is set. set (may be NULL) restricts the values. */
static int parse_strlist(const where_t *w, const char *field, json_t *v, int allow_single,
			 int lower, const char *const *set, strlist_t *out)
{
	size_t i, n;
	char msg[160];

	if (allow_single && json_is_string(v)) {
		json_t *arr = json_array();
		int rc;
		if (arr == NULL)
			return CAIRN_ENOMEM;
		json_array_append(arr, v);
		rc = parse_strlist(w, field, arr, 0, lower, set, out);
		json_decref(arr);
		return rc;
	}
	if (!json_is_array(v) || json_array_size(v) == 0)
		return field_error(w, field, allow_single
						     ? "must be a string or a non-empty array of strings"
						     : "must be a non-empty array of strings");
	n = json_array_size(v);
	out->v = calloc(n, sizeof(char *));
	if (out->v == NULL)
		return CAIRN_ENOMEM;
	for (i = 0; i < n; i++) {
		json_t *s = json_array_get(v, i);
		const char *str = json_string_value(s);
		char *copy;
		if (str == NULL || str[0] == '\0') {
			snprintf(msg, sizeof(msg), "element %zu must be a non-empty string", i);
			return field_error(w, field, msg);
		}
		if (set != NULL && !in_set(set, str)) {
			snprintf(msg, sizeof(msg), "unknown value \"%.64s\"", str);
			return field_error(w, field, msg);
		}
		copy = strdup(str);
		if (copy == NULL)
			return CAIRN_ENOMEM;
		if (lower)
			for (char *c = copy; *c; c++)
				if (*c >= 'A' && *c <= 'Z')
					*c = (char)(*c - 'A' + 'a');
		out->v[out->n++] = copy;
	}
	return 0;
}

/* "10.0.0.0/8", "fd00::/8", "::ffff:10.0.0.0/104" (the same range as 10.0.0.0/8) or
 * one address; held as 16 bytes (see cidr_t). */
static int parse_cidr(const char *text, cidr_t *out)
{
	char buf[64], *slash, *end;
	long bits;
	int max;

	if (strlen(text) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", text);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash = '\0';
	memset(out, 0, sizeof(*out));
	if (policy_ip16(buf, out->addr) != 0)
		return -1;
	max = strchr(buf, ':') == NULL ? 32 : 128;
	bits = max;
	if (slash != NULL) {
		bits = strtol(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || bits < 0 || bits > max)
			return -1;
	}
	out->bits = (int)bits + (128 - max);
	return 0;
}

static int parse_int(const where_t *w, const char *field, json_t *v, int min, int max, int *out)
{
	char msg[64];

	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(msg, sizeof(msg), "must be an integer %d..%d", min, max);
		return field_error(w, field, msg);
	}
	*out = (int)json_integer_value(v);
	return 0;
}

/* dns_suffix and dns_exact entries are DNS names as certificates carry them: a suffix may
 * start with '.', only an exact name may be a wildcard. An entry no name can match
 * ("pay.example." with its trailing dot, "a..example") would leave the rule matching
 * nothing, silently, and a rule that protects a name would let it through to the next. */
static int check_dns_list(const where_t *w, const char *field, const strlist_t *l,
			  int suffix)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		const char *e = l->v[i], *star = e + (e[0] == '.');
		const char *why = suffix ? ca_dns_suffix_problem(e) : ca_dns_problem(e, strlen(e), 1);
		char msg[200];
		if (why == NULL)
			continue;
		if (suffix && star[0] == '*') /* say where a wildcard goes */
			snprintf(msg, sizeof(msg), "\"%.64s\" is a wildcard: list it in "
				 "match.dns_exact, or its names here as \"%.64s\"", e, star + 1);
		else
			snprintf(msg, sizeof(msg), "\"%.64s\" can never match: the name %s", e, why);
		return field_error(w, field, msg);
	}
	return 0;
}

/* email_domain entries are domains ("corp.test", ".corp.test"), checked like dns_suffix's:
 * one no address can have would leave the rule matching nothing. */
static int check_email_domains(const where_t *w, const char *field, const strlist_t *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		const char *e = l->v[i], *why = ca_dns_suffix_problem(e);
		char msg[200];
		if (strchr(e, '@') != NULL)
			snprintf(msg, sizeof(msg), "\"%.64s\" is an address: list its domain "
				 "(\"%.64s\")", e, strrchr(e, '@') + 1);
		else if (why != NULL)
			snprintf(msg, sizeof(msg), "\"%.64s\" can never match: the domain %s", e,
				 why);
		else
			continue;
		return field_error(w, field, msg);
	}
	return 0;
}

/* uri_prefix entries start with a scheme ("spiffe://prod/"): a prefix without one
 * ("prod/admin") matches no URI a certificate can carry. */
static int check_uri_prefixes(const where_t *w, const char *field, const strlist_t *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		const char *why = ca_uri_problem(l->v[i], strlen(l->v[i]));
		char msg[200];
		if (why == NULL)
			continue;
		snprintf(msg, sizeof(msg), "\"%.64s\" is not a URI prefix with a scheme "
			 "(spiffe://prod/): it %s", l->v[i], why);
		return field_error(w, field, msg);
	}
	return 0;
}

/* A rule's name and reason are shown on one line (CLI, logs, problem documents). */
static int has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static int parse_match(const where_t *w, json_t *m, rule_t *r)
{
	const char *key;
	json_t *v;
	int rc = 0;

	if (!json_is_object(m))
		return field_error(w, "match", "must be an object");
	json_object_foreach(m, key, v) {
		char field[96];
		snprintf(field, sizeof(field), "match.%s", key);
		if (strcmp(key, "channel") == 0)
			rc = parse_strlist(w, field, v, 1, 0, channels, &r->channel);
		else if (strcmp(key, "requester") == 0) {
			size_t i;
			rc = parse_strlist(w, field, v, 1, 0, NULL, &r->requester);
			for (i = 0; rc == 0 && i < r->requester.n; i++)
				if (!requester_pattern_ok(r->requester.v[i])) {
					char msg[256];
					snprintf(msg, sizeof(msg),
						 "\"%.64s\" can never match: requesters are acme:acct/ID, "
						 "acme:eab/KID, est:user/NAME, est:cert/SUBJECT or admin:NAME",
						 r->requester.v[i]);
					rc = field_error(w, field, msg);
				}
		}
		else if (strcmp(key, "group") == 0) {
			size_t i;
			rc = parse_strlist(w, field, v, 1, 0, NULL, &r->group);
			for (i = 0; rc == 0 && i < r->group.n; i++)
				if (!policy_group_ok(r->group.v[i])) {
					char msg[160];
					snprintf(msg, sizeof(msg),
						 "\"%.64s\" can never match: a group is " POLICY_GROUP_RULE,
						 r->group.v[i]);
					rc = field_error(w, field, msg);
				}
		}
		else if (strcmp(key, "profile") == 0)
			rc = parse_strlist(w, field, v, 1, 0, NULL, &r->profile);
		else if (strcmp(key, "dns_suffix") == 0) {
			rc = parse_strlist(w, field, v, 0, 1, NULL, &r->dns_suffix);
			if (rc == 0)
				rc = check_dns_list(w, field, &r->dns_suffix, 1);
		} else if (strcmp(key, "dns_exact") == 0) {
			rc = parse_strlist(w, field, v, 0, 1, NULL, &r->dns_exact);
			if (rc == 0)
				rc = check_dns_list(w, field, &r->dns_exact, 0);
		}
		else if (strcmp(key, "email_domain") == 0) {
			rc = parse_strlist(w, field, v, 0, 1, NULL, &r->email_domain);
			if (rc == 0)
				rc = check_email_domains(w, field, &r->email_domain);
		} else if (strcmp(key, "uri_prefix") == 0) {
			rc = parse_strlist(w, field, v, 0, 0, NULL, &r->uri_prefix);
			if (rc == 0)
				rc = check_uri_prefixes(w, field, &r->uri_prefix);
		}
		else if (strcmp(key, "key_type") == 0)
			rc = parse_strlist(w, field, v, 1, 0, key_types, &r->key_type);
		else if (strcmp(key, "wildcard") == 0) {
			if (!json_is_boolean(v))
				return field_error(w, field, "must be true or false");
			r->wildcard = json_is_true(v);
		} else if (strcmp(key, "ip_cidr") == 0) {
			strlist_t l = { 0 };
			size_t i;
			rc = parse_strlist(w, field, v, 0, 0, NULL, &l);
			if (rc == 0 && (r->cidrs = calloc(l.n, sizeof(cidr_t))) == NULL)
				rc = CAIRN_ENOMEM;
			for (i = 0; rc == 0 && i < l.n; i++) {
				if (parse_cidr(l.v[i], &r->cidrs[i]) != 0) {
					char msg[128];
					snprintf(msg, sizeof(msg),
						 "\"%.64s\" is not an address or CIDR range", l.v[i]);
					rc = field_error(w, field, msg);
				}
				r->n_cidrs = i + 1;
			}
			strlist_free(&l);
		} else if (strcmp(key, "subject_cn_prefix") == 0 ||
			   strcmp(key, "subject_cn_pattern") == 0) {
			char **dst = strcmp(key, "subject_cn_prefix") == 0 ? &r->cn_prefix
								       : &r->cn_pattern;
			if (!json_is_string(v) || json_string_length(v) == 0)
				return field_error(w, field, "must be a non-empty string");
			*dst = strdup(json_string_value(v));
			if (*dst == NULL)
				return CAIRN_ENOMEM;
		} else if (strcmp(key, "min_key_bits") == 0)
			rc = parse_int(w, field, v, 1, 65536, &r->min_bits);
		else if (strcmp(key, "max_key_bits") == 0)
			rc = parse_int(w, field, v, 1, 65536, &r->max_bits);
		else if (strcmp(key, "max_validity_days") == 0)
			rc = parse_int(w, field, v, 1, 36500, &r->max_validity);
		else
			return field_error(w, field, "unknown match field");
		if (rc)
			return rc;
	}
	if (r->min_bits && r->max_bits && r->min_bits > r->max_bits)
		return field_error(w, "match.min_key_bits", "is above match.max_key_bits");
	return 0;
}

static int parse_rule(json_t *obj, size_t index, rule_t *r, cairn_err_t *err)
{
	where_t w = { index, NULL, err };
	json_t *name, *action, *v;
	const char *key, *act;
	int rc;

	r->wildcard = -1;
	if (!json_is_object(obj))
		return cairn_err_set(err, CAIRN_ECONFIG, "rules[%zu]: must be an object", index);
	name = json_object_get(obj, "name");
	if (name == NULL)
		return field_error(&w, "name", "required");
	if (!json_is_string(name) || json_string_length(name) == 0 ||
	    json_string_length(name) >= sizeof(r->name))
		return field_error(&w, "name", "must be a string of 1..63 characters");
	if (has_control(json_string_value(name)))
		return field_error(&w, "name", "must not contain control characters");
	snprintf(r->name, sizeof(r->name), "%s", json_string_value(name));
	w.name = r->name;
	json_object_foreach(obj, key, v) {
		if (strcmp(key, "name") && strcmp(key, "match") && strcmp(key, "action") &&
		    strcmp(key, "approvals") && strcmp(key, "approver_role") &&
		    strcmp(key, "reason") && strcmp(key, "comment"))
			return field_error(&w, key, "unknown field");
	}
	v = json_object_get(obj, "match");
	if (v == NULL)
		return field_error(&w, "match", "required (use {} to match everything)");
	rc = parse_match(&w, v, r);
	if (rc)
		return rc;
	action = json_object_get(obj, "action");
	act = json_string_value(action);
	if (act == NULL)
		return field_error(&w, "action", "required: \"issue\", \"approve\" or \"reject\"");
	if (strcmp(act, "issue") == 0)
		r->action = POLICY_ISSUE;
	else if (strcmp(act, "approve") == 0)
		r->action = POLICY_APPROVE;
	else if (strcmp(act, "reject") == 0)
		r->action = POLICY_REJECT;
	else
		return field_error(&w, "action", "must be \"issue\", \"approve\" or \"reject\"");
	r->approvals = r->action == POLICY_APPROVE ? 1 : 0;
	if ((v = json_object_get(obj, "approvals")) != NULL) {
		if (r->action != POLICY_APPROVE)
			return field_error(&w, "approvals", "only allowed with action \"approve\"");
		rc = parse_int(&w, "approvals", v, 1, 10, &r->approvals);
		if (rc)
			return rc;
	}
	if ((v = json_object_get(obj, "approver_role")) != NULL) {
		if (r->action != POLICY_APPROVE)
			return field_error(&w, "approver_role", "only allowed with action \"approve\"");
		if (!json_is_string(v) || !in_set(roles, json_string_value(v)) ||
		    strcmp(json_string_value(v), "auditor") == 0)
			return field_error(&w, "approver_role",
					   "must be \"approver\", \"operator\" or \"admin\"");
		snprintf(r->approver_role, sizeof(r->approver_role), "%s", json_string_value(v));
	}
	if ((v = json_object_get(obj, "reason")) != NULL) {
		/* Only a reject rule's reason reaches the requester: elsewhere it would be
		 * ignored, which hides a rule written as reject and saved as issue. */
		if (r->action != POLICY_REJECT)
			return field_error(&w, "reason", "only allowed with action \"reject\"");
		if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 200)
			return field_error(&w, "reason", "must be a string of 1..200 characters");
		if (has_control(json_string_value(v)))
			return field_error(&w, "reason", "must not contain control characters");
		snprintf(r->reason, sizeof(r->reason), "%s", json_string_value(v));
	}
	if (r->action == POLICY_REJECT && r->reason[0] == '\0')
		snprintf(r->reason, sizeof(r->reason), "rejected by policy rule %s", r->name);
	return 0;
}

int policy_parse(const char *text, size_t len, policy_t **out, cairn_err_t *err)
{
	policy_t *p = NULL;
	json_t *doc = NULL, *rules;
	json_error_t jerr;
	const char *key;
	json_t *v;
	size_t i, j;
	int rc = 0;

	*out = NULL;
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL)
		return cairn_err_set(err, CAIRN_ECONFIG, "line %d: %s", jerr.line, jerr.text);
	if (!json_is_object(doc)) {
		rc = cairn_err_set(err, CAIRN_ECONFIG, "top level must be an object {\"rules\": [...]}");
		goto out;
	}
	json_object_foreach(doc, key, v) {
		if (strcmp(key, "rules") != 0 && strcmp(key, "comment") != 0) {
			rc = cairn_err_set(err, CAIRN_ECONFIG, "%s: unknown key", key);
			goto out;
		}
	}
	rules = json_object_get(doc, "rules");
	if (!json_is_array(rules)) {
		rc = cairn_err_set(err, CAIRN_ECONFIG, "rules: required, an array of rules");
		goto out;
	}
	if (json_array_size(rules) > POLICY_MAX_RULES) {
		rc = cairn_err_set(err, CAIRN_ECONFIG, "rules: at most %d rules", POLICY_MAX_RULES);
		goto out;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL || (json_array_size(rules) > 0 &&
			  (p->rules = calloc(json_array_size(rules), sizeof(rule_t))) == NULL)) {
		rc = CAIRN_ENOMEM;
		goto out;
	}
	for (i = 0; i < json_array_size(rules); i++) {
		p->n = i + 1;
		rc = parse_rule(json_array_get(rules, i), i, &p->rules[i], err);
		if (rc)
			goto out;
		for (j = 0; j < i; j++)
			if (strcmp(p->rules[j].name, p->rules[i].name) == 0) {
				where_t w = { i, p->rules[i].name, err };
				rc = field_error(&w, "name", "used by an earlier rule");
				goto out;
			}
	}
	*out = p;
	p = NULL;
out:
	if (rc == CAIRN_ENOMEM)
		cairn_err_set(err, rc, "out of memory");
	policy_free(p);
	json_decref(doc);
	return rc;
}

int policy_group_ok(const char *s)
{
	size_t i;

	for (i = 0; s != NULL && s[i] != '\0'; i++)
		if (!(s[i] == '-' || s[i] == '_' || s[i] == '.' || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return i >= 1 && i <= 63;
}

int policy_check_profiles(const policy_t *p, int (*known)(const char *name, const void *arg),
			  const void *arg, cairn_err_t *err)
{
	size_t i, j;

	for (i = 0; p != NULL && i < p->n; i++)
		for (j = 0; j < p->rules[i].profile.n; j++)
			if (!known(p->rules[i].profile.v[j], arg))
				return cairn_err_set(err, CAIRN_ECONFIG,
						     "rules[%zu] (%s).match.profile: \"%.64s\" can "
						     "never match: cairn.json has no such profile",
						     i, p->rules[i].name, p->rules[i].profile.v[j]);
	return 0;
}

int policy_load(const char *path, policy_t **out, cairn_err_t *err)
{
	char *text = NULL;
	size_t len;
	int rc;

	*out = NULL;
	rc = fs_read_regular(path, POLICY_MAX_FILE, &text, &len);
	if (rc)
		return cairn_err_set(err, rc == CAIRN_ENOENT ? CAIRN_ENOENT : CAIRN_ECONFIG,
				     "%s: %s", path,
				     rc == CAIRN_EINVAL ? "not a regular file" : cairn_strerror(rc));
	rc = policy_parse(text, len, out, err);
	if (rc && err != NULL) {
		char msg[sizeof(err->msg)];
		snprintf(msg, sizeof(msg), "%s", err->msg);
		cairn_err_set(err, rc, "%s: %s", path, msg);
	}
	free(text);
	return rc;
}

char *policy_default_text(void)
{
	return strdup("{\n"
		      "  \"comment\": \"Written by cairn init: every request that passes the channel's "
		      "checks is issued. See docs/policy.md and policy/examples/.\",\n"
		      "  \"rules\": [\n"
		      "    {\"name\": \"issue-all\", \"match\": {}, \"action\": \"issue\"}\n"
		      "  ]\n"
		      "}\n");
}

const char *policy_action_name(policy_action_t a)
{
	return a == POLICY_ISSUE ? "issue" : a == POLICY_APPROVE ? "approve" : "reject";
}
