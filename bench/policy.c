/* SPDX-License-Identifier: MIT */
/* bench/policy_bench: policy decisions per second, a one-rule policy beside the enterprise example. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "util/util.h"

#define N_INPUTS 64

static char *dns_dev[] = { "www.dev.test" };
static char *dns_prod[] = { "api.prod.test", "www.prod.test" };
static char *dns_apps[] = { "*.shop.apps.example.test" };
static char *dns_other[] = { "www.example.org", "mail.example.org", "x.example.org" };
static char *ips[] = { "10.20.3.4", "fd00:20::1" };

/* A mix of requests that stop at different rules (and some that fall to the default). */
static void make_inputs(policy_input_t *in)
{
	static const char *const channels[] = { "acme", "est", "admin" };
	int i;

	for (i = 0; i < N_INPUTS; i++) {
		policy_input_t *p = &in[i];
		memset(p, 0, sizeof(*p));
		p->channel = channels[i % 3];
		p->requester = (i % 4) ? "acme:eab/web-7" : "admin:alice";
		p->group = (i % 2) ? "web-team" : NULL;
		p->profile = "tls-server";
		p->key_type = (i % 5) ? "ec" : "rsa";
		p->key_bits = (i % 5) ? 256 : 3072;
		p->validity_days = 30 + i % 90;
		p->subject_cn = (i % 7) ? NULL : "device-12";
		switch (i % 5) {
		case 0: p->dns = dns_dev; p->n_dns = 1; break;
		case 1: p->dns = dns_prod; p->n_dns = 2; break;
		case 2: p->dns = dns_apps; p->n_dns = 1; break;
		case 3: p->dns = dns_other; p->n_dns = 3; break;
		default: p->ips = ips; p->n_ips = 2;
		}
	}
}

/* Decisions per second over n decisions. */
static double run(const policy_t *p, const policy_input_t *in, long n, int *sink)
{
	policy_decision_t d;
	uint64_t t0 = time_mono_ms(), ms;
	long i;

	for (i = 0; i < n; i++) {
		policy_decide(p, &in[i % N_INPUTS], &d);
		*sink += (int)d.action;
	}
	ms = time_mono_ms() - t0;
	return ms ? (double)n * 1000.0 / (double)ms : 0.0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	const char *file = argc > 1 ? argv[1] : "policy/examples/enterprise.json";
	long n = argc > 2 ? atol(argv[2]) : 2000000;
	policy_t *one = NULL, *big = NULL;
	policy_input_t in[N_INPUTS];
	cairn_err_t err = { 0 };
	char *text = policy_default_text();
	double a[5], b[5];
	int i, sink = 0;

	if (n <= 0 || n > 100000000) {
		fprintf(stderr, "usage: policy_bench [POLICY.json] [DECISIONS <= 1e8]\n");
		return 2;
	}
	if (policy_parse(text, strlen(text), &one, &err) != 0 || policy_load(file, &big, &err) != 0) {
		fprintf(stderr, "policy_bench: %s\n", cairn_err_msg(&err));
		return 1;
	}
	make_inputs(in);
	/* Side by side, alternating, five rounds each: medians. */
	for (i = 0; i < 5; i++) {
		a[i] = run(one, in, n, &sink);
		b[i] = run(big, in, n, &sink);
	}
	qsort(a, 5, sizeof(a[0]), cmp);
	qsort(b, 5, sizeof(b[0]), cmp);
	printf("policy decisions/s, one thread, %ld decisions per round, median of 5 (min..max):\n",
	       n);
	printf("  default policy (1 rule)   %12.0f  (%.0f..%.0f)\n", a[2], a[0], a[4]);
	printf("  %-25s %12.0f  (%.0f..%.0f)\n", file, b[2], b[0], b[4]);
	printf("(checksum %d)\n", sink);
	policy_free(one);
	policy_free(big);
	free(text);
	return 0;
}
