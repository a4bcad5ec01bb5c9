/* SPDX-License-Identifier: MIT */
/* Policy decisions: each name of a request through the rules (first match per name, a
 * wildcard as every name it covers), then the strictest of those decisions. */
#include <arpa/inet.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_int.h"

static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int policy_ip16(const char *text, uint8_t out[16])
{
	uint8_t v4[4];

	if (inet_pton(AF_INET, text, v4) == 1) {
		memcpy(out, v4_mapped, sizeof(v4_mapped));
		memcpy(out + 12, v4, sizeof(v4));
		return 0;
	}
	return inet_pton(AF_INET6, text, out) == 1 ? 0 : -1;
}

static int cidr_contains(const cidr_t *c, const uint8_t *addr)
{
	int full = c->bits / 8, rest = c->bits % 8;

	if (memcmp(c->addr, addr, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((c->addr[full] ^ addr[full]) & (0xff << (8 - rest))) == 0;
}

static int list_has(const strlist_t *l, const char *s)
{
	size_t i;

	for (i = 0; s != NULL && i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return 1;
	return 0;
}

static int list_glob(const strlist_t *l, const char *s)
{
	size_t i;

	for (i = 0; s != NULL && i < l->n; i++)
		if (fnmatch(l->v[i], s, 0) == 0)
			return 1;
	return 0;
}

/* "a.dev.test" is under ".dev.test"; a suffix without a leading dot also matches itself.
 * For a wildcard "*.b.test" this is true exactly when every name it covers is under. */
static int dns_under(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	if (suffix[0] != '.' && strcmp(name, suffix) == 0)
		return 1;
	if (n <= s || strcmp(name + n - s, suffix) != 0)
		return 0;
	return suffix[0] == '.' || name[n - s - 1] == '.';
}

/* NAME_TEXT: a CN that is no host name ("Alice Smith", "evil.example x.iot.test"): no
 * name field lists it, so only a rule without name fields takes it. */
typedef enum { NAME_DNS, NAME_IP, NAME_EMAIL, NAME_URI, NAME_TEXT } name_kind_t;

/* Each kind of name in explanations, and the match fields that take it. */
static const struct {
	const char *key, *what, *fields;
} kinds[] = {
	[NAME_DNS] = { "dns", "DNS name", "match.dns_suffix/dns_exact" },
	[NAME_IP] = { "ip", "IP address", "match.ip_cidr" },
	[NAME_EMAIL] = { "email", "email address", "match.email_domain" },
	[NAME_URI] = { "uri", "URI", "match.uri_prefix" },
	[NAME_TEXT] = { "text", "CN text", "name field that lists it (only rules without name fields take it)" },
};

/* One name of the request as the rules see it. */
typedef struct pname {
	const char *text;  /* DNS lower-case; IP as the input gives it; email, URI as the input */
	int from_cn;       /* the subject CN, not one of the SANs */
	name_kind_t kind;
	uint8_t ip[16];    /* NAME_IP: IPv4 as IPv4-mapped IPv6, like cidr_t */
	const char *domain; /* NAME_EMAIL: the part after the last '@' */
	const char *base;  /* a wildcard "*.B": B; else NULL */
	const char *bad;   /* why this name is refused whatever the rules say, or NULL */
} pname_t;

static void pname_init(pname_t *n, const char *text, name_kind_t kind,
		       const policy_input_t *in)
{
	const char *star;

	memset(n, 0, sizeof(*n));
	n->text = text;
	n->from_cn = text == in->cn_name;
	n->kind = kind;
	if (kind == NAME_IP) {
		if (policy_ip16(text, n->ip) != 0)
			n->bad = "is not an IP address";
		return;
	}
	if (kind == NAME_EMAIL) {
		/* One '@' between a local part and a domain. ca_csr_check refuses other SANs
		 * before (`policy test` does not run it); a CN is not checked there, and
		 * "a@evil.test@x.iot.test" has one domain for one reader and another for the next. */
		n->domain = strchr(text, '@');
		if (n->domain == NULL || n->domain == text || n->domain[1] == '\0' ||
		    strchr(n->domain + 1, '@') != NULL)
			n->bad = "is not an email address (local@domain)";
		else
			n->domain++;
		return;
	}
	if (kind == NAME_URI) { /* a '*' in a URI is a character like any other */
		/* SANs passed the same check in ca_csr_check; a CN read as a URI did not */
		n->bad = ca_uri_problem(text, strlen(text));
		return;
	}
	star = strchr(text, '*');
	/* A CN read DNS-style that no DNS name could be: its text, not a name under a suffix
	 * ("Alice Smith.iot.test" ends in ".iot.test" but names no host there). With a '*'
	 * it is refused below: nobody can say which names it covers. */
	if (n->from_cn && star == NULL && ca_dns_problem(text, strlen(text), 0) != NULL) {
		n->kind = NAME_TEXT;
		return;
	}
	if (star == NULL)
		return;
	/* SANs pass ca_csr_check (a '*' only as the whole leftmost label); a CN on a profile
	 * without serverAuth does not, and nobody can say which names "a*b.test" covers. */
	if (star != text || text[1] != '.' || text[2] == '\0' || strchr(text + 1, '*') != NULL)
		n->bad = "has a '*' that is not the whole leftmost label";
	else if (n->from_cn && ca_dns_problem(text, strlen(text), 1) != NULL)
		n->bad = "is a wildcard over no host name";
	else
		n->base = text + 2;
}

/* 1 when the request's facts other than its names hold for r; else 0 with why filled. */
static int facts_match(const rule_t *r, const policy_input_t *in, char *why, size_t cap)
{
	if (r->channel.n && !list_has(&r->channel, in->channel))
		return snprintf(why, cap, "channel %s not in match.channel",
				in->channel ? in->channel : "(none)"), 0;
	if (r->requester.n && !list_glob(&r->requester, in->requester))
		return snprintf(why, cap, "requester %s not in match.requester",
				in->requester ? in->requester : "(none)"), 0;
	if (r->group.n && !list_has(&r->group, in->group))
		return snprintf(why, cap, "group %s not in match.group",
				in->group ? in->group : "(none)"), 0;
	if (r->profile.n && !list_has(&r->profile, in->profile))
		return snprintf(why, cap, "profile %s not in match.profile",
				in->profile ? in->profile : "(none)"), 0;
	if (r->cn_prefix && (in->subject_cn == NULL ||
			     strncmp(in->subject_cn, r->cn_prefix, strlen(r->cn_prefix)) != 0))
		return snprintf(why, cap, "subject CN %s does not start with %s",
				in->subject_cn ? in->subject_cn : "(none)", r->cn_prefix), 0;
	if (r->cn_pattern &&
	    (in->subject_cn == NULL || fnmatch(r->cn_pattern, in->subject_cn, 0) != 0))
		return snprintf(why, cap, "subject CN %s does not match %s",
				in->subject_cn ? in->subject_cn : "(none)", r->cn_pattern), 0;
	if (r->key_type.n && !list_has(&r->key_type, in->key_type))
		return snprintf(why, cap, "key type %s not in match.key_type",
				in->key_type ? in->key_type : "(none)"), 0;
	if (r->min_bits && in->key_bits < r->min_bits)
		return snprintf(why, cap, "key of %d bits below match.min_key_bits %d", in->key_bits,
				r->min_bits), 0;
	if (r->max_bits && in->key_bits > r->max_bits)
		return snprintf(why, cap, "key of %d bits above match.max_key_bits %d", in->key_bits,
				r->max_bits), 0;
	if (r->max_validity && in->validity_days > r->max_validity)
		return snprintf(why, cap, "validity of %d days above match.max_validity_days %d",
				in->validity_days, r->max_validity), 0;
	return 1;
}

/* ".d" is every domain under d, as in dns_suffix; "d" is d alone, as in RFC 5280 name
 * constraints (unlike dns_suffix): a subdomain's mail is often another service's. */
static int email_in(const char *domain, const char *entry)
{
	return entry[0] == '.' ? dns_under(domain, entry) : strcmp(domain, entry) == 0;
}

/* 1 when r lists n among the names of n's kind (cand: for a DNS wildcard, one name it
 * covers), r having fields of that kind. */
static int name_listed(const rule_t *r, const pname_t *n, const char *cand)
{
	size_t i;

	switch (n->kind) {
	case NAME_IP:
		for (i = 0; i < r->n_cidrs; i++)
			if (cidr_contains(&r->cidrs[i], n->ip))
				return 1;
		return 0;
	case NAME_EMAIL:
		for (i = 0; i < r->email_domain.n; i++)
			if (email_in(n->domain, r->email_domain.v[i]))
				return 1;
		return 0;
	case NAME_URI:
		for (i = 0; i < r->uri_prefix.n; i++)
			if (strncmp(n->text, r->uri_prefix.v[i], strlen(r->uri_prefix.v[i])) == 0)
				return 1;
		return 0;
	case NAME_TEXT:
		return 0;
	case NAME_DNS:
		break;
	}
	/* dns_exact naming the wildcard itself covers every name it covers. */
	if (list_has(&r->dns_exact, cand) || (n->base != NULL && list_has(&r->dns_exact, n->text)))
		return 1;
	for (i = 0; i < r->dns_suffix.n; i++)
		if (dns_under(cand, r->dns_suffix.v[i]))
			return 1;
	return 0;
}

/* The number of r's name fields that take names of kind k. */
static size_t kind_fields(const rule_t *r, name_kind_t k)
{
	switch (k) {
	case NAME_IP:
		return r->n_cidrs;
	case NAME_EMAIL:
		return r->email_domain.n;
	case NAME_URI:
		return r->uri_prefix.n;
	case NAME_TEXT:
		return 0;
	case NAME_DNS:
		break;
	}
	return r->dns_suffix.n + r->dns_exact.n;
}

/* 1 when r's name fields hold for the name n (NULL: the request has none), looking at
 * cand: n itself, or for a wildcard one name it covers. A rule with name fields takes
 * only the kinds of names it lists. Else 0 with why filled. */
static int name_match(const rule_t *r, const pname_t *n, const char *cand, char *why,
		      size_t cap)
{
	int constrained = kind_fields(r, NAME_DNS) || kind_fields(r, NAME_IP) ||
			  kind_fields(r, NAME_EMAIL) || kind_fields(r, NAME_URI);

	if (n == NULL)
		return constrained ? (snprintf(why, cap, "no names to check against the rule's "
						   "names"), 0) : 1;
	if (n->base != NULL && r->wildcard == 0)
		return snprintf(why, cap, "wildcard %s not allowed (match.wildcard false)", n->text), 0;
	if (!constrained)
		return 1;
	if (kind_fields(r, n->kind) == 0)
		return snprintf(why, cap, "%s %s: the rule has no %s", kinds[n->kind].what, cand,
				kinds[n->kind].fields), 0;
	if (name_listed(r, n, cand))
		return 1;
	return snprintf(why, cap, "%s %s not in %s", kinds[n->kind].what, cand,
			kinds[n->kind].fields), 0;
}

/* One evaluation: the request, the rules whose facts hold, the decision so far. */
typedef struct eval {
	const policy_t *p;
	const policy_input_t *in;
	size_t n_rules;
	unsigned char facts[POLICY_MAX_RULES]; /* facts_match of each rule */
	policy_explain_fn fn;
	void *arg;
	policy_decision_t *out;
	size_t approving;       /* verdicts that need approval */
	const char *issue_rule; /* the rule of the first verdict that issues */
	int issue_mixed;        /* a later one issues by another rule */
} eval_t;

/* Hands s (rule, why or the verdict filled) to the explain function, for name n. */
static void step(const eval_t *e, const pname_t *n, const char *covered, policy_step_t *s)
{
	s->name = n ? n->text : NULL;
	s->from_cn = n ? n->from_cn : 0;
	s->kind = n ? kinds[n->kind].key : NULL;
	s->covered = covered;
	e->fn(s, e->arg);
}

/* The first rule that holds for n looking at cand (e->n_rules when none); with an
 * explain function, says why each earlier rule did not. */
static size_t first_match(const eval_t *e, const pname_t *n, const char *cand)
{
	char why[256];
	size_t i;

	for (i = 0; i < e->n_rules; i++) {
		const rule_t *r = &e->p->rules[i];
		if (e->facts[i] && name_match(r, n, cand, why, sizeof(why)))
			return i;
		if (e->fn != NULL) {
			policy_step_t s = { .rule = r->name, .why = why };
			if (!e->facts[i])
				facts_match(r, e->in, why, sizeof(why));
			step(e, n, NULL, &s);
		}
	}
	return i;
}

/* "pay.example.test", "CN pay.example.test", "*.example.test covering pay.example.test". */
static void label(const pname_t *n, const char *covered, char *buf, size_t cap)
{
	if (n == NULL)
		snprintf(buf, cap, "the request");
	else
		snprintf(buf, cap, "%s%s%s%s", n->from_cn ? "CN " : "", n->text,
			 covered ? " covering " : "", covered ? covered : "");
}

/* admin ⊇ everyone: two different roles (approver and operator) leave only admin. */
void policy_role_combine(char *have, size_t cap, const char *add)
{
	const char *a = have[0] ? have : "approver", *b = add[0] ? add : "approver";

	if (strcmp(a, b) != 0)
		snprintf(have, cap, "admin");
	else if (strcmp(have, add) != 0)
		snprintf(have, cap, "%s", a);
}

static void approve_reason(policy_decision_t *d, const char *lab, const rule_t *r)
{
	snprintf(d->reason, sizeof(d->reason), "%.120s needs %d approval%s%s%s (rule %s)", lab,
		 r->approvals, r->approvals == 1 ? "" : "s", r->approver_role[0] ? " by " : "",
		 r->approver_role, r->name);
}

/* The name that decided d (NULL: the request as a whole). */
static void decided_by(policy_decision_t *d, const pname_t *n, const char *covered)
{
	snprintf(d->name, sizeof(d->name), "%s", n ? n->text : "");
	d->name_from_cn = n ? n->from_cn : 0;
	snprintf(d->covered, sizeof(d->covered), "%s", covered ? covered : "");
}

/* Name n (or what it covers) is decided by rule k (none: k == n_rules; bad: refused
 * outright); folds that into the decision: reject > approve (most approvals, strictest
 * role) > issue. */
static void verdict(eval_t *e, const pname_t *n, const char *covered, size_t k)
{
	const rule_t *r = k < e->n_rules ? &e->p->rules[k] : NULL;
	policy_action_t act = r && (n == NULL || n->bad == NULL) ? r->action : POLICY_REJECT;
	policy_decision_t *d = e->out;
	char lab[320], bad[96];
	const char *reason = r ? r->reason : "no policy rule matches";

	label(n, covered, lab, sizeof(lab));
	if (n != NULL && n->bad != NULL) {
		snprintf(bad, sizeof(bad), "the name %s", n->bad);
		reason = bad;
		r = NULL;
	}
	if (e->fn != NULL) {
		policy_step_t s = { .rule = r ? r->name : "", .action = act, .reason = "",
				    .approver_role = "" };
		if (act == POLICY_APPROVE) {
			s.approvals = r->approvals;
			s.approver_role = r->approver_role;
		} else if (act == POLICY_REJECT) {
			s.reason = reason;
		}
		step(e, n, covered, &s);
	}
	if (d->action == POLICY_REJECT)
		return; /* the first refusal stands */
	switch (act) {
	case POLICY_REJECT:
		d->action = POLICY_REJECT;
		snprintf(d->rule, sizeof(d->rule), "%s", r ? r->name : "");
		d->approvals = 0;
		d->approver_role[0] = '\0';
		decided_by(d, n, covered);
		if (n == NULL)
			snprintf(d->reason, sizeof(d->reason), "%.255s", reason);
		else
			snprintf(d->reason, sizeof(d->reason), "%.150s (%.100s)", reason, lab);
		break;
	case POLICY_APPROVE:
		e->approving++;
		if (d->action == POLICY_ISSUE || r->approvals > d->approvals) {
			snprintf(d->rule, sizeof(d->rule), "%s", r->name);
			d->approvals = r->approvals;
			approve_reason(d, lab, r);
			decided_by(d, n, covered);
		}
		if (d->action == POLICY_ISSUE)
			snprintf(d->approver_role, sizeof(d->approver_role), "%s", r->approver_role);
		else
			policy_role_combine(d->approver_role, sizeof(d->approver_role), r->approver_role);
		d->action = POLICY_APPROVE;
		break;
	case POLICY_ISSUE:
		if (e->issue_rule == NULL)
			e->issue_rule = r->name;
		else if (strcmp(e->issue_rule, r->name) != 0)
			e->issue_mixed = 1;
		break;
	}
}

/* A name *.B a rule lists: L.B for one label L other than "*" (dns_exact, or a dns_suffix
 * without a leading dot, which matches itself). */
static int covers(const char *base, const char *name)
{
	size_t n = strlen(name), b = strlen(base);

	if (n < b + 2 || strcmp(name + n - b, base) != 0 || name[n - b - 1] != '.')
		return 0;
	if (memchr(name, '.', n - b - 1) != NULL)
		return 0;
	return !(n - b - 1 == 1 && name[0] == '*');
}

typedef struct listed {
	const char *name;
	size_t rule;
} listed_t;

static int listed_cmp(const void *a, const void *b)
{
	const listed_t *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c != 0 ? c : (x->rule > y->rule) - (x->rule < y->rule);
}

/*
 * A wildcard *.B stands for every name L.B. The names no rule lists by name all fall to
 * the same first rule g: the first one whose dns_suffix covers all of them (or whose
 * dns_exact lists the wildcard), or one without name fields. A name some rule before g
 * lists (dns_exact pay.B) is decided by the first rule that lists it. Each of these is
 * one verdict: cost O(entries log entries), whatever the number of rules.
 */
static void eval_wildcard(eval_t *e, const pname_t *n)
{
	size_t g = first_match(e, n, n->text), j, i, cap = 0, cnt = 0;
	listed_t *l = NULL;

	verdict(e, n, NULL, g);
	for (j = 0; j < g; j++)
		if (e->facts[j] && e->p->rules[j].wildcard != 0)
			cap += e->p->rules[j].dns_exact.n + e->p->rules[j].dns_suffix.n;
	if (cap == 0)
		return;
	if ((l = malloc(cap * sizeof(*l))) == NULL) {
		pname_t oom = *n;
		oom.bad = "could not be checked (out of memory)";
		verdict(e, &oom, NULL, e->n_rules);
		return;
	}
	for (j = 0; j < g; j++) {
		const rule_t *r = &e->p->rules[j];
		if (!e->facts[j] || r->wildcard == 0)
			continue;
		for (i = 0; i < r->dns_exact.n; i++)
			if (covers(n->base, r->dns_exact.v[i]))
				l[cnt++] = (listed_t){ r->dns_exact.v[i], j };
		for (i = 0; i < r->dns_suffix.n; i++)
			if (r->dns_suffix.v[i][0] != '.' && covers(n->base, r->dns_suffix.v[i]))
				l[cnt++] = (listed_t){ r->dns_suffix.v[i], j };
	}
	if (cnt > 1)
		qsort(l, cnt, sizeof(*l), listed_cmp);
	for (i = 0; i < cnt; i++)
		if (i == 0 || strcmp(l[i].name, l[i - 1].name) != 0)
			verdict(e, n, l[i].name, l[i].rule);
	free(l);
}

static void eval_name(eval_t *e, const char *text, name_kind_t kind)
{
	pname_t n;

	pname_init(&n, text, kind, e->in);
	if (n.bad != NULL)
		verdict(e, &n, NULL, e->n_rules);
	else if (n.base != NULL)
		eval_wildcard(e, &n);
	else
		verdict(e, &n, NULL, first_match(e, &n, n.text));
}

void policy_explain(const policy_t *p, const policy_input_t *in, policy_explain_fn fn,
		    void *arg, policy_decision_t *out)
{
	eval_t e;
	char why[256];
	size_t i;

	memset(&e, 0, sizeof(e));
	memset(out, 0, sizeof(*out));
	e.p = p;
	e.in = in;
	e.fn = fn;
	e.arg = arg;
	e.out = out;
	e.n_rules = p == NULL ? 0 : p->n < POLICY_MAX_RULES ? p->n : POLICY_MAX_RULES;
	for (i = 0; i < e.n_rules; i++)
		e.facts[i] = (unsigned char)facts_match(&p->rules[i], in, why, sizeof(why));
	out->action = POLICY_ISSUE;
	if (in->n_dns + in->n_ips + in->n_emails + in->n_uris == 0)
		verdict(&e, NULL, NULL, first_match(&e, NULL, NULL));
	for (i = 0; i < in->n_dns; i++)
		eval_name(&e, in->dns[i], NAME_DNS);
	for (i = 0; i < in->n_ips; i++)
		eval_name(&e, in->ips[i], NAME_IP);
	for (i = 0; i < in->n_emails; i++)
		eval_name(&e, in->emails[i], NAME_EMAIL);
	for (i = 0; i < in->n_uris; i++)
		eval_name(&e, in->uris[i], NAME_URI);
	if (out->action == POLICY_ISSUE) {
		snprintf(out->rule, sizeof(out->rule), "%s", e.issue_rule ? e.issue_rule : "");
		if (e.issue_mixed)
			snprintf(out->reason, sizeof(out->reason),
				 "every name may be issued at once (rule %s and others)", out->rule);
		else
			snprintf(out->reason, sizeof(out->reason), "rule %s matches", out->rule);
	} else if (out->action == POLICY_APPROVE && e.approving > 1) {
		size_t len = strlen(out->reason);
		snprintf(out->reason + len, sizeof(out->reason) - len, "; %zu more need approval",
			 e.approving - 1);
	}
}

void policy_decide(const policy_t *p, const policy_input_t *in, policy_decision_t *out)
{
	policy_explain(p, in, NULL, NULL, out);
}
