/* SPDX-License-Identifier: MIT */
/* Unit tests for acme/'s CAA check (RFC 8659) against a DNS server in this process that
 * answers CAA records a test writes byte by byte: a record that is not printable ASCII, or
 * one that does not parse, can only refuse; it is never read as "no CAA here" (which let
 * the parent's records, or none, decide). The same server answers dns-01's TXT records:
 * one that is not printable ASCII is kept whole and can only fail to match. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "acme/acme_int.h"

/* ---- the DNS server: every CAA or TXT query answered with rr[], anything else with none ---- */

typedef struct caa_rr {
	uint8_t rdata[300];
	size_t len;
} caa_rr_t;

static struct {
	int fd, port, stop;
	pthread_t thread;
	caa_rr_t rr[4];
	size_t n_rr;
	int queries;
	pthread_mutex_t mu;
} dns;

/* An RDATA: flags, tag length, tag, value (RFC 8659 §4.1). */
static void rr_set(size_t i, int flags, const char *tag, const void *value, size_t vlen)
{
	caa_rr_t *r = &dns.rr[i];

	pthread_mutex_lock(&dns.mu); /* the server thread reads them under it */
	r->rdata[0] = (uint8_t)flags;
	r->rdata[1] = (uint8_t)strlen(tag);
	memcpy(r->rdata + 2, tag, strlen(tag));
	memcpy(r->rdata + 2 + strlen(tag), value, vlen);
	r->len = 2 + strlen(tag) + vlen;
	pthread_mutex_unlock(&dns.mu);
}

static void *dns_main(void *arg)
{
	uint8_t q[512], a[1500];
	(void)arg;

	while (!__atomic_load_n(&dns.stop, __ATOMIC_RELAXED)) {
		struct pollfd p = { dns.fd, POLLIN, 0 };
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);
		size_t qend = 12, n = 0, i;
		ssize_t got;
		int type;

		if (poll(&p, 1, 50) <= 0)
			continue;
		got = recvfrom(dns.fd, q, sizeof(q), 0, (struct sockaddr *)&peer, &plen);
		if (got < 17)
			continue;
		while (qend < (size_t)got && q[qend] != 0)
			qend += 1 + q[qend];
		qend += 5; /* the root label, QTYPE, QCLASS */
		if (qend > (size_t)got)
			continue;
		type = q[qend - 4] << 8 | q[qend - 3];
		memcpy(a, q, qend);
		a[2] = 0x81 | (q[2] & 0x01); /* QR, RD as asked */
		a[3] = 0x80;                 /* RA, NOERROR */
		a[6] = a[8] = a[9] = a[10] = a[11] = 0;
		pthread_mutex_lock(&dns.mu);
		dns.queries++;
		if (type == 257 || type == 16) {
			for (i = 0; i < dns.n_rr; i++) {
				uint8_t *r = a + qend + n;
				r[0] = 0xc0; /* the question's name */
				r[1] = 0x0c;
				r[2] = (uint8_t)(type >> 8); /* CAA or TXT, as asked */
				r[3] = (uint8_t)type;
				r[4] = 0x00; /* IN */
				r[5] = 0x01;
				r[6] = r[7] = r[8] = 0;
				r[9] = 60;
				r[10] = (uint8_t)(dns.rr[i].len >> 8);
				r[11] = (uint8_t)dns.rr[i].len;
				memcpy(r + 12, dns.rr[i].rdata, dns.rr[i].len);
				n += 12 + dns.rr[i].len;
			}
			a[7] = (uint8_t)dns.n_rr;
		} else {
			a[7] = 0;
		}
		pthread_mutex_unlock(&dns.mu);
		sendto(dns.fd, a, qend + n, 0, (struct sockaddr *)&peer, plen);
	}
	return NULL;
}

static int setup(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	(void)state;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	dns.fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (dns.fd < 0 || bind(dns.fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(dns.fd, (struct sockaddr *)&sa, &len) != 0)
		return -1;
	dns.port = ntohs(sa.sin_port);
	pthread_mutex_init(&dns.mu, NULL);
	return pthread_create(&dns.thread, NULL, dns_main, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	__atomic_store_n(&dns.stop, 1, __ATOMIC_RELAXED);
	pthread_join(dns.thread, NULL);
	close(dns.fd);
	pthread_mutex_destroy(&dns.mu);
	return 0;
}

/* The CAA check of x.example.test by a CA named cairn.test, with why on refusal. */
static int check(size_t n_rr, char *why, size_t cap)
{
	acme_t a;
	acme_vconf_t v;
	int rc;

	memset(&a, 0, sizeof(a));
	memset(&v, 0, sizeof(v));
	snprintf(v.dns_host, sizeof(v.dns_host), "127.0.0.1");
	v.dns_port = dns.port;
	v.timeout_ms = 2000;
	a.caa_identities = json_pack("[s]", "cairn.test");
	pthread_mutex_lock(&dns.mu);
	dns.n_rr = n_rr;
	pthread_mutex_unlock(&dns.mu);
	why[0] = '\0';
	rc = acme_caa_check(&a, &v, "x.example.test", 0, "https://ca.test/acme/acct/1", "http-01",
			    why, cap);
	json_decref(a.caa_identities);
	return rc;
}

/* The records as written, so the server and the parser are what the other tests rely on. */
static void test_plain(void **state)
{
	char why[300];
	(void)state;

	assert_int_equal(check(0, why, sizeof(why)), 0); /* no CAA anywhere: any CA */
	rr_set(0, 0, "issue", "cairn.test", 10);
	assert_int_equal(check(1, why, sizeof(why)), 0);
	rr_set(0, 0, "issue", "other.test", 10);
	assert_int_equal(check(1, why, sizeof(why)), CAIRN_EDENIED);
	assert_non_null(strstr(why, "do not authorize this CA"));
	rr_set(0, 0, "issue", "cairn.test; validationmethods=dns-01", 36);
	assert_int_equal(check(1, why, sizeof(why)), CAIRN_EDENIED);
}

/* Bytes that are no UTF-8 (or controls) in the value: the record stays and refuses. Before,
 * jansson refused the record's text, the record was dropped, the RRset looked empty and
 * the check went up to example.test and test (the same answer: empty) and allowed. */
static void test_not_text(void **state)
{
	static const char bad_domain[] = "cairn.test\xff";
	static const char bad_param[] = "cairn.test; accounturi=\xc3";
	static const char ctl[] = "cairn.te\x01st";
	char why[300];
	(void)state;

	rr_set(0, 0, "issue", bad_domain, sizeof(bad_domain) - 1);
	assert_int_equal(check(1, why, sizeof(why)), CAIRN_EDENIED);
	rr_set(0, 0, "issue", bad_param, sizeof(bad_param) - 1);
	assert_int_equal(check(1, why, sizeof(why)), CAIRN_EDENIED);
	rr_set(0, 0, "issue", ctl, sizeof(ctl) - 1);
	assert_int_equal(check(1, why, sizeof(why)), CAIRN_EDENIED);
	/* beside a record that authorizes us, a bad one changes nothing: any issue record
	 * naming this CA is enough (RFC 8659 §4.2) */
	rr_set(0, 0, "issue", bad_domain, sizeof(bad_domain) - 1);
	rr_set(1, 0, "issue", "cairn.test", 10);
	assert_int_equal(check(2, why, sizeof(why)), 0);
	/* a tag that is no text, marked critical: unknown, so it refuses */
	rr_set(0, 128, "iss\xffue", "cairn.test", 10);
	assert_int_equal(check(1, why, sizeof(why)), CAIRN_EDENIED);
	assert_non_null(strstr(why, "unknown critical tag"));
}

/* A CAA record that does not parse (its tag longer than its data) fails the lookup: the
 * caller refuses with a DNS problem. Before, the answer read as "no CAA here". */
static void test_unparsable(void **state)
{
	char why[300];
	(void)state;

	rr_set(0, 0, "issue", "cairn.test", 10);
	pthread_mutex_lock(&dns.mu);
	dns.rr[0].rdata[1] = 200; /* the tag length runs past the record */
	pthread_mutex_unlock(&dns.mu);
	assert_int_equal(check(1, why, sizeof(why)), CAIRN_EIO);
	assert_non_null(strstr(why, "DNS query"));
}

/* One TXT RDATA of n character-strings, each given with its length. */
static void txt_set(size_t i, int n, ...)
{
	caa_rr_t *r = &dns.rr[i];
	va_list ap;
	int k;

	pthread_mutex_lock(&dns.mu);
	r->len = 0;
	va_start(ap, n);
	for (k = 0; k < n; k++) {
		const char *str = va_arg(ap, const char *);
		size_t len = va_arg(ap, size_t);
		r->rdata[r->len++] = (uint8_t)len;
		memcpy(r->rdata + r->len, str, len);
		r->len += len;
	}
	va_end(ap);
	pthread_mutex_unlock(&dns.mu);
}

/* The TXT records of _acme-challenge.x.example.test as acme_dns_txt reads them. */
static json_t *txt(size_t n_rr)
{
	acme_vconf_t v;
	char why[300];

	memset(&v, 0, sizeof(v));
	snprintf(v.dns_host, sizeof(v.dns_host), "127.0.0.1");
	v.dns_port = dns.port;
	v.timeout_ms = 2000;
	pthread_mutex_lock(&dns.mu);
	dns.n_rr = n_rr;
	pthread_mutex_unlock(&dns.mu);
	return acme_dns_txt(&v, "_acme-challenge.x.example.test", why, sizeof(why));
}

static void assert_txt(json_t *got, size_t i, const char *want)
{
	assert_non_null(got);
	assert_non_null(json_array_get(got, i));
	assert_string_equal(json_string_value(json_array_get(got, i)), want);
}

/* A TXT record split into strings is one record; a byte that is no printable ASCII shows
 * as '?' and the record stays whole, so it cannot equal a digest. Before, a string that is
 * no UTF-8 was dropped and the string after it read as a record of its own (the digest
 * alone), a join that broke kept its first part (the digest), and a NUL cut the text. */
static void test_txt(void **state)
{
	static const char d[] = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
	json_t *got;
	(void)state;

	txt_set(0, 2, "LoqXcYV8q5ONbJQxbmR7SCTNo3", (size_t)26, "tiAXDfowyjxAjEuX0", (size_t)17);
	got = txt(1);
	assert_int_equal(json_array_size(got), 1);
	assert_txt(got, 0, d);
	json_decref(got);

	txt_set(0, 2, "\xff", (size_t)1, d, sizeof(d) - 1);
	txt_set(1, 2, d, sizeof(d) - 1, "\xc3", (size_t)1);
	txt_set(2, 1, "Loq\0XcY", (size_t)7);
	got = txt(3);
	assert_int_equal(json_array_size(got), 3);
	assert_txt(got, 0, "?LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0");
	assert_txt(got, 1, "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0?");
	assert_txt(got, 2, "Loq?XcY");
	json_decref(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_not_text),
		cmocka_unit_test(test_unparsable),
		cmocka_unit_test(test_txt),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
