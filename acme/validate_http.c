/* SPDX-License-Identifier: MIT */
/* http-01 (RFC 8555 §8.3): the fetch, and every redirect checked hop by hop against the same rules and resolver as the first request. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "acme/acme_int.h"

/* RFC 8555 §8.3 leaves the number open; Boulder follows at most 10. */
#define HTTP01_MAX_REDIRECTS 10

/* One request of the chain and the only address it may connect to. */
typedef struct hop {
	char url[1024];
	char host[256];          /* lower-case name or address, without brackets */
	int port;
	char addr[64];           /* numeric: acme_resolve of host, or host itself */
	int family;
	unsigned char bin[16];   /* addr in binary */
	int off_target;          /* libcurl tried to connect elsewhere (refused) */
} hop_t;

typedef struct body {
	char data[1024];
	size_t len;
	int over;
} body_t;

static size_t body_collect(char *ptr, size_t size, size_t n, void *arg)
{
	body_t *b = arg;
	size_t add = size * n;

	if (b->len + add >= sizeof(b->data)) {
		b->over = 1;
		return 0;
	}
	memcpy(b->data + b->len, ptr, add);
	b->len += add;
	return add;
}

/* Binary form of an address literal; 0 when s is not one. */
static int ip_literal(const char *s, unsigned char *bin)
{
	if (inet_pton(AF_INET, s, bin) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, bin) == 1)
		return AF_INET6;
	return 0;
}

/* libcurl connects only to the address the validation resolver gave for this hop:
 * CURLOPT_RESOLVE pins it, and this refuses any other (system resolver, proxy). */
static curl_socket_t open_pinned(void *arg, curlsocktype purpose, struct curl_sockaddr *sa)
{
	hop_t *h = arg;
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)&sa->addr;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&sa->addr;
	int ok = 0;

	if (purpose == CURLSOCKTYPE_IPCXN && sa->family == h->family) {
		if (sa->family == AF_INET)
			ok = ntohs(in4->sin_port) == h->port && memcmp(&in4->sin_addr, h->bin, 4) == 0;
		else if (sa->family == AF_INET6)
			ok = ntohs(in6->sin6_port) == h->port &&
			     memcmp(&in6->sin6_addr, h->bin, 16) == 0;
	}
	if (!ok) {
		h->off_target = 1;
		return CURL_SOCKET_BAD;
	}
	return socket(sa->family, sa->socktype | SOCK_CLOEXEC, sa->protocol);
}

/*
 * One libcurl handle per validation thread, reset before each request: a new handle
 * per request cost an easy and a multi handle built and torn down (with the multi's
 * wake-up socketpair) each time, ~1 % of the daemon's CPU per ACME order. What a reset
 * handle keeps is made harmless here: every request asks for a fresh connection and
 * forbids keeping it (no validation, of whichever account, rides on another's
 * connection), TLS session ids are not cached, and the address pinned for the previous
 * request (CURLOPT_RESOLVE entries live in the handle's DNS cache and would accumulate)
 * is removed in the same list that pins the next one. open_pinned still refuses any
 * address but the hop's own.
 */
typedef struct http_handle {
	CURL *c;
	char pinned[300];        /* "host:port" pinned by the last request, or "" */
} http_handle_t;

static pthread_key_t handle_key;
static pthread_once_t handle_once = PTHREAD_ONCE_INIT;

static void handle_free(void *arg)
{
	http_handle_t *h = arg;

	curl_easy_cleanup(h->c);
	free(h);
}

static void handle_key_init(void)
{
	if (pthread_key_create(&handle_key, handle_free) != 0)
		abort();
}

/* This thread's handle, reset; NULL when out of memory. */
static http_handle_t *thread_handle(void)
{
	http_handle_t *h;

	pthread_once(&handle_once, handle_key_init);
	h = pthread_getspecific(handle_key);
	if (h == NULL) {
		if ((h = calloc(1, sizeof(*h))) == NULL)
			return NULL;
		if ((h->c = curl_easy_init()) == NULL || pthread_setspecific(handle_key, h) != 0) {
			curl_easy_cleanup(h->c);
			free(h);
			return NULL;
		}
	}
	curl_easy_reset(h->c);
	return h;
}

/* One GET of h->url, no redirect followed, on a new connection. *location (malloc'd) is
 * set for a redirect (301, 302, 303, 307, 308 with a Location header). Returns libcurl's
 * code. */
static CURLcode fetch(hop_t *h, long timeout_ms, body_t *b, long *status, char **location)
{
	struct curl_slist *pins = NULL, *more;
	struct curl_header *loc = NULL;
	unsigned char lit[16];
	char entry[400];
	http_handle_t *hh;
	CURLcode cc;
	CURL *c;

	*status = 0;
	*location = NULL;
	memset(b, 0, sizeof(*b));
	if ((hh = thread_handle()) == NULL)
		return CURLE_OUT_OF_MEMORY;
	c = hh->c;
	/* The previous request's pin goes; a name is pinned to its address; an address
	 * literal needs no resolving. */
	if (hh->pinned[0] != '\0') {
		snprintf(entry, sizeof(entry), "-%s", hh->pinned);
		if ((pins = curl_slist_append(NULL, entry)) == NULL)
			return CURLE_OUT_OF_MEMORY;
		hh->pinned[0] = '\0';
	}
	if (ip_literal(h->host, lit) == 0) {
		snprintf(entry, sizeof(entry), "%s:%d:%s%s%s", h->host, h->port,
			 h->family == AF_INET6 ? "[" : "", h->addr, h->family == AF_INET6 ? "]" : "");
		if ((more = curl_slist_append(pins, entry)) == NULL) {
			curl_slist_free_all(pins);
			return CURLE_OUT_OF_MEMORY;
		}
		pins = more;
		snprintf(hh->pinned, sizeof(hh->pinned), "%s:%d", h->host, h->port);
	}
	curl_easy_setopt(c, CURLOPT_URL, h->url);
	curl_easy_setopt(c, CURLOPT_RESOLVE, pins);
	curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_pinned);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, h);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	/* RFC 8555 §8.3: certificate errors of an https redirect target are ignored. */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "cairn-acme-validator");
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK || b->over) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
		if ((*status >= 301 && *status <= 303) || *status == 307 || *status == 308) {
			if (curl_easy_header(c, "Location", 0, CURLH_HEADER, -1, &loc) == CURLHE_OK)
				*location = strdup(loc->value);
		}
	}
	/* libcurl reads the list during the transfer only; the handle keeps no pointer to
	 * it once the option is set again at the next reset. */
	curl_easy_setopt(c, CURLOPT_RESOLVE, NULL);
	curl_slist_free_all(pins);
	return cc;
}

/*
 * The rules for a redirect from base to location (relative or absolute), in order:
 * http or https only; the host a DNS name (an address literal only when it is the
 * challenged address itself); port 80 for http and 443 for https, or http on the
 * configured http01_port when the host is the challenged name itself; the name
 * resolved through the validation resolver (hosts map, then the DNS server), as the
 * first request. Fills next, or why with the rule that refused.
 */
static int redirect_target(const acme_vconf_t *v, const char *name, const char *base,
			   const char *location, hop_t *next, char *why, size_t cap)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *full = NULL, rwhy[200];
	unsigned char bin[16], name_bin[16];
	int rc = CAIRN_EDENIED, https, same, wildcard = 0, family;
	size_t hl;

	memset(next, 0, sizeof(*next));
	if (u == NULL)
		return CAIRN_ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_URL, location, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
		snprintf(why, cap, "redirect refused: the target is not a valid URL");
		goto out;
	}
	https = strcasecmp(scheme, "https") == 0;
	if (!https && strcasecmp(scheme, "http") != 0) {
		snprintf(why, cap, "redirect to a %.20s: URL refused: only http and https", scheme);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK ||
	    strlen(full) >= sizeof(next->url) || strlen(host) >= sizeof(next->host)) {
		snprintf(why, cap, "redirect refused: the target is not a valid URL");
		goto out;
	}
	hl = strlen(host);
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']')
		snprintf(next->host, sizeof(next->host), "%.*s", (int)(hl - 2), host + 1);
	else
		snprintf(next->host, sizeof(next->host), "%s", host);
	next->port = atoi(port);
	family = ip_literal(next->host, bin);
	if (family != 0) {
		same = ip_literal(name, name_bin) == family &&
		       memcmp(bin, name_bin, family == AF_INET ? 4 : 16) == 0;
		if (!same) {
			snprintf(why, cap, "redirect to the IP address %.64s refused: only names "
				 "resolved through the validation resolver", next->host);
			goto out;
		}
	} else {
		if (acme_dns_name_check(next->host, &wildcard, rwhy, sizeof(rwhy)) != 0 || wildcard) {
			snprintf(why, cap, "redirect to %.64s refused: the host is not a DNS name",
				 next->host);
			goto out;
		}
		same = strcasecmp(next->host, name) == 0;
	}
	if (!(!https && next->port == 80) && !(https && next->port == 443) &&
	    !(!https && same && next->port == v->http01_port)) {
		if (v->http01_port != 80)
			snprintf(why, cap, "redirect to port %d refused: only 80 (http) and 443 "
				 "(https), or %d (http) on %.253s itself", next->port,
				 v->http01_port, name);
		else
			snprintf(why, cap, "redirect to port %d refused: only 80 (http) and 443 (https)",
				 next->port);
		goto out;
	}
	if (acme_resolve(v, next->host, next->addr, sizeof(next->addr), rwhy, sizeof(rwhy)) != 0) {
		snprintf(why, cap, "redirect to %.253s refused: the host does not resolve through "
			 "the validation resolver", next->host);
		goto out;
	}
	next->family = ip_literal(next->addr, next->bin);
	if (next->family == 0) {
		snprintf(why, cap, "redirect to %.253s refused: the host does not resolve through "
			 "the validation resolver", next->host);
		goto out;
	}
	snprintf(next->url, sizeof(next->url), "%s", full);
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(full);
	curl_url_cleanup(u);
	return rc;
}

int acme_validate_http01(const acme_vconf_t *v, const char *name, const char *token,
			 const char *keyauth, const char **type, char *why, size_t cap)
{
	hop_t hop = { 0 }, next;
	body_t b;
	char first[sizeof(hop.url)], rule[400], *loc = NULL;
	const char *br = strchr(name, ':') ? "[" : "", *bc = strchr(name, ':') ? "]" : "";
	int64_t deadline = (int64_t)time_mono_ms() + v->timeout_ms, left;
	size_t kl = strlen(keyauth);
	int redirects = 0, rc;
	long status = 0;
	CURLcode cc;

	*type = "dns";
	if (acme_resolve(v, name, hop.addr, sizeof(hop.addr), why, cap) != 0)
		return CAIRN_EIO;
	snprintf(hop.url, sizeof(hop.url), "http://%s%s%s:%d/.well-known/acme-challenge/%s", br,
		 name, bc, v->http01_port, token);
	snprintf(hop.host, sizeof(hop.host), "%s", name);
	hop.port = v->http01_port;
	hop.family = ip_literal(hop.addr, hop.bin);
	snprintf(first, sizeof(first), "%s", hop.url);
	*type = "connection";
	for (;;) {
		left = deadline - (int64_t)time_mono_ms();
		cc = left > 0 ? fetch(&hop, (long)left, &b, &status, &loc) : CURLE_OPERATION_TIMEDOUT;
		if (loc == NULL)
			break;
		if (redirects == HTTP01_MAX_REDIRECTS) {
			snprintf(why, cap, "GET %s: more than %d redirects refused", first,
				 HTTP01_MAX_REDIRECTS);
			free(loc);
			return CAIRN_EDENIED;
		}
		redirects++;
		rc = redirect_target(v, name, hop.url, loc, &next, rule, sizeof(rule));
		free(loc);
		loc = NULL;
		if (rc != 0) {
			snprintf(why, cap, "GET %s: redirect %d: %s", first, redirects, rule);
			return rc;
		}
		hop = next;
	}
	/* Trailing whitespace is tolerated (RFC 8555 §8.3). */
	while (b.len > 0 && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r' ||
			     b.data[b.len - 1] == ' ' || b.data[b.len - 1] == '\t'))
		b.len--;
	if ((cc == CURLE_OK || b.over) && status == 200 && !b.over && b.len == kl &&
	    memcmp(b.data, keyauth, kl) == 0)
		return 0;
	if (redirects > 0) {
		/* What a redirect target answered (status, connection error, body) says
		 * something about a host the account holder need not control: not told. */
		*type = "incorrectResponse";
		snprintf(why, cap, "GET %s: followed %d redirect(s) to %.300s, which did not "
			 "serve the key authorization", first, redirects, hop.url);
	} else if (hop.off_target) {
		snprintf(why, cap, "GET %s: connection to an address other than %s refused", first,
			 hop.addr);
	} else if (cc != CURLE_OK && !b.over) {
		snprintf(why, cap, "GET %s: %s", first, curl_easy_strerror(cc));
	} else if (status != 200) {
		*type = "unauthorized";
		snprintf(why, cap, "GET %s: HTTP %ld", first, status);
	} else {
		*type = "incorrectResponse";
		snprintf(why, cap, "GET %s: body is not the key authorization", first);
	}
	return CAIRN_EIO;
}
