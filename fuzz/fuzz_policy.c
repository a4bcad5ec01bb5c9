/* SPDX-License-Identifier: MIT */
/* Fuzz target: the policy file parser, then a decision on a few fixed requests (wildcard, CN, mapped address among them). */
#include <stdlib.h>

#include "fuzz/fuzz.h"
#include "policy/policy.h"

FUZZ_TARGET(policy)
{
	static char *dns[] = { "a.dev.test", "www.prod.test", "*.prod.test", "device-7" };
	static char *ips[] = { "127.0.0.1", "::ffff:10.0.0.1" };
	policy_input_t in[3] = {
		{ .channel = "admin", .requester = "admin:fuzz", .profile = "tls-server",
		  .subject_cn = "www.prod.test", .dns = dns, .n_dns = 3, .ips = ips, .n_ips = 2,
		  .key_type = "ec", .key_bits = 256, .validity_days = 90 },
		{ .channel = "est", .requester = "est:user/dev", .group = "devices",
		  .profile = "tls-client", .subject_cn = "device-7", .dns = dns + 3, .n_dns = 1,
		  .cn_name = dns[3], .key_type = "rsa", .key_bits = 2048 },
		{ .channel = "acme", .requester = "acme:acct/1", .profile = "tls-server",
		  .dns = dns, .n_dns = 1, .key_type = "ed25519", .key_bits = 256 },
	};
	policy_decision_t d;
	cairn_err_t err = { 0 };
	policy_t *p = NULL;
	size_t i;

	if (policy_parse((const char *)data, size, &p, &err) != 0) {
		/* A refused policy always names what is wrong. */
		FUZZ_ASSERT(p == NULL && err.msg[0] != '\0');
		return 0;
	}
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		policy_decide(p, &in[i], &d);
		FUZZ_ASSERT(d.action == POLICY_ISSUE || d.action == POLICY_APPROVE ||
			    d.action == POLICY_REJECT);
		FUZZ_ASSERT(d.action != POLICY_APPROVE || d.approvals >= 1);
	}
	policy_free(p);
	return 0;
}
