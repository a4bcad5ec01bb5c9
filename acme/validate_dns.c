/* SPDX-License-Identifier: MIT */
/* DNS for validation through c-ares (configurable server:port): A/AAAA resolution, dns-01 TXT, CAA (RFC 8659/8657) at validation and again at finalize. */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ares.h>
#include <openssl/sha.h>

#include "acme/acme_int.h"

typedef struct query {
	int type;
	int status;
	int done;
	json_t *out;       /* array: addresses, TXT strings or CAA objects */
} query_t;

/* n bytes of a DNS answer as text into out (no NUL added): printable ASCII as it is, any
 * other byte (one that is no UTF-8, a control, NUL) as '?'. What CAA and dns-01 compare
 * is printable ASCII, so such a record can only fail to match; dropping it instead (what
 * jansson does with bytes that are no UTF-8) changed the answer. */
static void dns_printable(char *out, const unsigned char *in, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f ? (char)in[i] : '?';
}

/* A CAA tag or value as text (dns_printable): the record stays in its RRset and can only
 * fail to match; dropped, the name's other or parent records, or none, would decide
 * (RFC 8659 §4.2: the relevant RRset is the one at the closest name). */
static json_t *caa_text(const unsigned char *b, size_t len)
{
	char buf[512];
	size_t n = len < sizeof(buf) ? len : sizeof(buf) - 1;

	dns_printable(buf, b, n);
	if (len >= sizeof(buf))
		buf[n - 1] = '?'; /* cut: it cannot match */
	buf[n] = '\0';
	return json_string(buf);
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	query_t *q = arg;
	char text[INET6_ADDRSTRLEN];
	(void)timeouts;

	q->done = 1;
	q->status = status;
	if (status != ARES_SUCCESS)
		return;
	if (q->type == ns_t_a) {
		struct ares_addrttl at[8];
		int n = 8, i;
		if (ares_parse_a_reply(abuf, alen, NULL, at, &n) == ARES_SUCCESS)
			for (i = 0; i < n; i++)
				if (inet_ntop(AF_INET, &at[i].ipaddr, text, sizeof(text)))
					json_array_append_new(q->out, json_string(text));
	} else if (q->type == ns_t_aaaa) {
		struct ares_addr6ttl at[8];
		int n = 8, i;
		if (ares_parse_aaaa_reply(abuf, alen, NULL, at, &n) == ARES_SUCCESS)
			for (i = 0; i < n; i++)
				if (inet_ntop(AF_INET6, &at[i].ip6addr, text, sizeof(text)))
					json_array_append_new(q->out, json_string(text));
	} else if (q->type == ns_t_txt) {
		struct ares_txt_ext *txt = NULL, *t, *end, *u;
		if (ares_parse_txt_reply_ext(abuf, alen, &txt) != ARES_SUCCESS)
			return;
		/* A record may be split into several strings: each record is joined whole, then
		 * made text, a byte that is not printable ASCII (NUL included) shown as '?'. A
		 * challenge digest is base64url, so such a record can only fail to match. Before,
		 * jansson refused a string that is no UTF-8: it was dropped and the next string
		 * of the same record read as a record of its own, a join that broke kept only
		 * its first part, and a NUL ended the text compared: each could match. */
		for (t = txt; t != NULL; t = end) {
			size_t len = 0, off = 0;
			json_t *rec;
			char *buf;

			for (end = t; end != NULL && (end == t || !end->record_start); end = end->next)
				len += end->length;
			if ((buf = malloc(len + 1)) == NULL) {
				q->status = ARES_ENOMEM; /* a record lost: no answer at all */
				break;
			}
			for (u = t; u != end; u = u->next) {
				dns_printable(buf + off, u->txt, u->length);
				off += u->length;
			}
			buf[off] = '\0';
			rec = json_stringn(buf, off);
			free(buf);
			if (rec == NULL || json_array_append_new(q->out, rec) != 0) {
				q->status = ARES_ENOMEM;
				break;
			}
		}
		ares_free_data(txt);
	} else if (q->type == 257) {
		struct ares_caa_reply *caa = NULL, *c;
		int rc = ares_parse_caa_reply(abuf, alen, &caa);
		/* An answer whose CAA records do not parse fails the query: read as "no records"
		 * it would let the parent's records, or none, decide. (ENODATA: answers of
		 * other types only, a CNAME to a name without CAA.) */
		if (rc != ARES_SUCCESS) {
			if (rc != ARES_ENODATA)
				q->status = rc;
			return;
		}
		for (c = caa; c; c = c->next) {
			json_t *rec = json_pack("{s:i, s:o, s:o}", "flags", c->critical, "tag",
						caa_text(c->property, c->plength), "value",
						caa_text(c->value, c->length));
			if (rec == NULL || json_array_append_new(q->out, rec) != 0) {
				q->status = ARES_ENOMEM; /* a record lost: no answer at all */
				break;
			}
		}
		ares_free_data(caa);
	}
}

/*
 * One c-ares channel per thread (validation workers, and HTTP threads for the CAA
 * recheck at finalize), kept between queries for the same server and timeout: a new
 * channel per query read resolv.conf and seeded its query-id generator from
 * /dev/urandom every time, and a dns name's validation makes several queries (A, then
 * CAA up the tree). c-ares 1.18 keeps no answers, so every query still asks the server
 * (nothing is remembered between validations); its socket is closed when no query is
 * pending. A channel left with a query in flight (deadline, failure) is destroyed at
 * once, never reused.
 */
typedef struct dns_chan {
	ares_channel ch;
	char servers[200];       /* "" = the system's */
	int timeout_ms;
} dns_chan_t;

static pthread_key_t chan_key;
static pthread_once_t chan_once = PTHREAD_ONCE_INIT;

static void chan_free(void *arg)
{
	dns_chan_t *c = arg;

	if (c->ch != NULL)
		ares_destroy(c->ch);
	free(c);
}

static void chan_key_init(void)
{
	if (pthread_key_create(&chan_key, chan_free) != 0)
		abort();
}

/* Destroys this thread's channel (its pending queries end with ARES_EDESTRUCTION). */
static void chan_drop(void)
{
	dns_chan_t *c = pthread_getspecific(chan_key);

	if (c != NULL && c->ch != NULL) {
		ares_destroy(c->ch);
		c->ch = NULL;
	}
}

/* This thread's channel for v's server and timeout; NULL with why. */
static ares_channel chan_get(const acme_vconf_t *v, char *why, size_t cap)
{
	struct ares_options opts = { 0 };
	dns_chan_t *c;
	char servers[200] = "";
	int rc, timeout = v->timeout_ms / 3 > 0 ? v->timeout_ms / 3 : 1000;

	pthread_once(&chan_once, chan_key_init);
	if (v->dns_host[0] != '\0')
		snprintf(servers, sizeof(servers), "%s%s%s:%d", strchr(v->dns_host, ':') ? "[" : "",
			 v->dns_host, strchr(v->dns_host, ':') ? "]" : "", v->dns_port);
	if ((c = pthread_getspecific(chan_key)) == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL || pthread_setspecific(chan_key, c) != 0) {
			free(c);
			snprintf(why, cap, "DNS: out of memory");
			return NULL;
		}
	}
	if (c->ch != NULL && (c->timeout_ms != timeout || strcmp(c->servers, servers) != 0))
		chan_drop();
	if (c->ch != NULL)
		return c->ch;
	opts.timeout = timeout;
	opts.tries = 2;
	rc = ares_init_options(&c->ch, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (rc != ARES_SUCCESS) {
		c->ch = NULL;
		snprintf(why, cap, "DNS: %s", ares_strerror(rc));
		return NULL;
	}
	if (servers[0] != '\0' && (rc = ares_set_servers_ports_csv(c->ch, servers)) != ARES_SUCCESS) {
		chan_drop();
		snprintf(why, cap, "DNS server %s: %s", servers, ares_strerror(rc));
		return NULL;
	}
	snprintf(c->servers, sizeof(c->servers), "%s", servers);
	c->timeout_ms = timeout;
	return c->ch;
}

/* One query against the configured server; returns the JSON array (maybe empty) or NULL on
 * a transport failure. NXDOMAIN and NODATA give an empty array. */
static json_t *dns_query(const acme_vconf_t *v, const char *name, int type, char *why,
			 size_t cap)
{
	ares_channel ch;
	query_t q = { type, 0, 0, json_array() };

	if ((ch = chan_get(v, why, cap)) == NULL)
		goto fail;
	ares_query(ch, name, ns_c_in, type, on_answer, &q);
	while (!q.done) {
		uint64_t now = time_mono_ms();
		int wait;
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd pfd[ARES_GETSOCK_MAXNUM];
		struct timeval tv, *tvp;
		/* c-ares's ARES_GETSOCK_WRITABLE shifts a signed 1 by up to 31: test the
		 * bits unsigned instead. */
		unsigned bits = (unsigned)ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
		int n = 0, i;

		for (i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			unsigned rd = bits & (1u << i), wr = bits & (1u << (i + ARES_GETSOCK_MAXNUM));
			if (!rd && !wr)
				continue;
			pfd[n].fd = socks[i];
			pfd[n].events = (short)((rd ? POLLIN : 0) | (wr ? POLLOUT : 0));
			pfd[n].revents = 0;
			n++;
		}
		if (n == 0)
			break;
		if (v->deadline_ms != 0 && now >= v->deadline_ms) {
			snprintf(why, cap, "DNS query %s: no answer in time", name);
			goto fail;
		}
		tvp = ares_timeout(ch, NULL, &tv);
		wait = tvp ? (int)(tvp->tv_sec * 1000 + tvp->tv_usec / 1000) : 1000;
		if (v->deadline_ms != 0 && (uint64_t)wait > v->deadline_ms - now)
			wait = (int)(v->deadline_ms - now);
		poll(pfd, (nfds_t)n, wait);
		for (i = 0; i < n; i++)
			ares_process_fd(ch, pfd[i].revents & (POLLIN | POLLERR | POLLHUP) ? pfd[i].fd
											  : ARES_SOCKET_BAD,
					pfd[i].revents & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD);
		if (!q.done && n > 0) {
			int any = 0;
			for (i = 0; i < n; i++)
				any |= pfd[i].revents;
			if (!any)
				ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
		}
	}
	if (!q.done) {
		/* No socket to wait on and no answer: the query must not outlive q. */
		snprintf(why, cap, "DNS query %s: no answer", name);
		goto fail;
	}
	if (q.status == ARES_SUCCESS || q.status == ARES_ENOTFOUND || q.status == ARES_ENODATA)
		return q.out;
	snprintf(why, cap, "DNS query %s: %s", name, ares_strerror(q.status));
fail:
	/* Any query still in flight ends here, while q exists (its callback sees it). */
	if (!q.done)
		chan_drop();
	json_decref(q.out);
	return NULL;
}

int acme_resolve(const acme_vconf_t *v, const char *name, char *addr, size_t cap, char *why,
		 size_t why_cap)
{
	unsigned char bin[16];
	json_t *list;
	size_t i;

	if (inet_pton(AF_INET, name, bin) == 1 || inet_pton(AF_INET6, name, bin) == 1) {
		snprintf(addr, cap, "%s", name);
		return 0;
	}
	for (i = 0; i < v->n_hosts; i++) {
		if (strcasecmp(v->hosts[i].name, name) == 0) {
			snprintf(addr, cap, "%s", v->hosts[i].addr);
			return 0;
		}
	}
	list = dns_query(v, name, ns_t_a, why, why_cap);
	if (list != NULL && json_array_size(list) == 0) {
		json_decref(list);
		list = dns_query(v, name, ns_t_aaaa, why, why_cap);
	}
	if (list == NULL)
		return CAIRN_EIO;
	if (json_array_size(list) == 0) {
		snprintf(why, why_cap, "%s has no A or AAAA record", name);
		json_decref(list);
		return CAIRN_ENOENT;
	}
	snprintf(addr, cap, "%s", json_string_value(json_array_get(list, 0)));
	json_decref(list);
	return 0;
}

json_t *acme_dns_txt(const acme_vconf_t *v, const char *name, char *why, size_t why_cap)
{
	return dns_query(v, name, ns_t_txt, why, why_cap);
}

json_t *acme_dns_caa(const acme_vconf_t *v, const char *name, char *why, size_t why_cap)
{
	return dns_query(v, name, 257, why, why_cap);
}

int acme_validate_dns01(const acme_vconf_t *v, const char *name, const char *keyauth,
			const char **type, char *why, size_t cap)
{
	char qname[300], *want;
	uint8_t md[32];
	json_t *txt, *x;
	size_t i;
	int rc = CAIRN_EINVAL;

	*type = "dns";
	snprintf(qname, sizeof(qname), "_acme-challenge.%s", name);
	SHA256((const uint8_t *)keyauth, strlen(keyauth), md);
	want = b64url_encode(md, sizeof(md));
	if (want == NULL)
		return CAIRN_ENOMEM;
	txt = acme_dns_txt(v, qname, why, cap);
	if (txt == NULL)
		goto out;
	json_array_foreach(txt, i, x) {
		if (strcmp(json_string_value(x), want) == 0) {
			rc = 0;
			goto out;
		}
	}
	*type = "incorrectResponse";
	snprintf(why, cap, "no TXT record at %s holds the expected digest (%zu found)", qname,
		 json_array_size(txt));
out:
	json_decref(txt);
	free(want);
	return rc;
}

/* Does one CAA issue/issuewild value authorize us (RFC 8659 §4.2, RFC 8657)? */
static int caa_value_ok(const json_t *ids, const char *value, const char *acct_url,
			const char *method)
{
	char buf[512], *p, *save = NULL, *tok;
	size_t i, n;
	int match = 0;

	snprintf(buf, sizeof(buf), "%s", value);
	p = strchr(buf, ';');
	if (p)
		*p++ = '\0';
	/* issuer domain, whitespace trimmed */
	for (tok = buf; *tok == ' ' || *tok == '\t'; tok++)
		;
	n = strlen(tok);
	while (n > 0 && (tok[n - 1] == ' ' || tok[n - 1] == '\t'))
		tok[--n] = '\0';
	if (n == 0)
		return 0;
	for (i = 0; i < json_array_size(ids); i++)
		if (strcasecmp(tok, json_string_value(json_array_get(ids, i))) == 0)
			match = 1;
	if (!match)
		return 0;
	for (tok = p ? strtok_r(p, ";", &save) : NULL; tok; tok = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(tok, '='), *k = tok, *val;
		while (*k == ' ' || *k == '\t')
			k++;
		if (eq == NULL)
			continue;
		*eq = '\0';
		val = eq + 1;
		while (*val == ' ')
			val++;
		n = strlen(val);
		while (n > 0 && val[n - 1] == ' ')
			val[--n] = '\0';
		if (strcmp(k, "accounturi") == 0 && strcmp(val, acct_url) != 0)
			return 0;
		if (strcmp(k, "validationmethods") == 0) {
			char *m, *s2 = NULL;
			int found = 0;
			for (m = strtok_r(val, ",", &s2); m; m = strtok_r(NULL, ",", &s2))
				if (strcmp(m, method) == 0)
					found = 1;
			if (!found)
				return 0;
		}
	}
	return 1;
}

int acme_caa_check(acme_t *a, const acme_vconf_t *v, const char *name, int wildcard,
		   const char *acct_url, const char *method, char *why, size_t cap)
{
	const char *cur = name;
	json_t *set = NULL, *x;
	size_t i;
	int has_wild = 0, has_issue = 0, rc = 0;

	if (a->caa_identities == NULL || json_array_size(a->caa_identities) == 0)
		return 0;
	/* The relevant RRset: the closest name up the tree that has CAA records. */
	while (cur != NULL && *cur != '\0') {
		set = acme_dns_caa(v, cur, why, cap);
		if (set == NULL)
			return CAIRN_EIO;
		if (json_array_size(set) > 0)
			break;
		json_decref(set);
		set = NULL;
		cur = strchr(cur, '.');
		if (cur)
			cur++;
	}
	if (set == NULL)
		return 0;
	json_array_foreach(set, i, x) {
		const char *tag = json_string_value(json_object_get(x, "tag"));
		if (strcasecmp(tag, "issuewild") == 0)
			has_wild = 1;
		else if (strcasecmp(tag, "issue") == 0)
			has_issue = 1;
		else if (strcasecmp(tag, "iodef") != 0 &&
			 (json_integer_value(json_object_get(x, "flags")) & 128)) {
			snprintf(why, cap, "CAA at %s has an unknown critical tag %s", cur, tag);
			rc = CAIRN_EDENIED;
			goto out;
		}
	}
	{
		const char *want = wildcard && has_wild ? "issuewild" : "issue";
		if (!(wildcard && has_wild) && !has_issue)
			goto out;
		json_array_foreach(set, i, x) {
			if (strcasecmp(json_string_value(json_object_get(x, "tag")), want) == 0 &&
			    caa_value_ok(a->caa_identities,
					 json_string_value(json_object_get(x, "value")), acct_url,
					 method))
				goto out;
		}
		snprintf(why, cap, "CAA records at %s do not authorize this CA", cur);
		rc = CAIRN_EDENIED;
	}
out:
	json_decref(set);
	return rc;
}

/* CA/B Baseline Requirements §3.2.2.8: CAA is checked within 8 hours before issuance. */
#define CAA_RECHECK_AFTER (8 * 3600)

int acme_caa_recheck(acme_t *a, const json_t *order, const char *when, const char **type,
		     cairn_err_t *err)
{
	const char *acct = json_string_value(json_object_get(order, "acct"));
	char acct_url[400], key[64], why[400] = "";
	json_t *id, *z = NULL, *ident;
	const json_t *c;
	int64_t now = time(NULL);
	acme_vconf_t v = a->v;
	size_t i;
	int rc = 0;

	if (a->caa_identities == NULL || json_array_size(a->caa_identities) == 0)
		return 0;
	v.deadline_ms = time_mono_ms() + (uint64_t)a->v.timeout_ms;
	snprintf(acct_url, sizeof(acct_url), "%sacct/%s", a->base, acct ? acct : "");
	json_array_foreach(json_object_get(order, "authzs"), i, id) {
		const char *method = "";
		int64_t validated = 0;

		snprintf(key, sizeof(key), "z/%s", json_string_value(id));
		if ((rc = acme_get(a, key, &z)) != 0) {
			*type = "serverInternal";
			return cairn_err_set(err, rc, "authorization %s: %s", json_string_value(id),
					     cairn_strerror(rc));
		}
		ident = json_object_get(z, "identifier");
		if ((c = acme_authz_valid_chall(z)) != NULL) {
			method = json_string_value(json_object_get(c, "type"));
			validated = json_integer_value(json_object_get(c, "validated"));
		}
		/* IP identifiers have no CAA (RFC 8738 §7). */
		if (strcmp(json_string_value(json_object_get(ident, "type")), "dns") == 0 &&
		    now - validated > CAA_RECHECK_AFTER)
			rc = acme_caa_check(a, &v, json_string_value(json_object_get(ident, "value")),
					    json_is_true(json_object_get(z, "wildcard")), acct_url,
					    method, why, sizeof(why));
		json_decref(z);
		if (rc != 0) {
			*type = rc == CAIRN_EDENIED ? "caa" : "dns";
			return cairn_err_set(err, rc, "CAA rechecked %s: %s", when, why);
		}
	}
	return 0;
}
