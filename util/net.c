/* SPDX-License-Identifier: MIT */
/* host:port parsing, shared by the listeners, the config table and ACME's DNS server
 * setting; the rate-limit key of a client address (EST logins, ACME accounts). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

int hostport_parse(const char *addr, char *host, size_t cap, int *port)
{
	const char *colon;
	char *end;
	long p;
	size_t hlen;

	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (close == NULL || close[1] != ':')
			return CAIRN_EINVAL;
		hlen = (size_t)(close - addr - 1);
		if (hlen >= cap)
			return CAIRN_EINVAL;
		memcpy(host, addr + 1, hlen);
		colon = close + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL || strchr(addr, ':') != colon)
			return CAIRN_EINVAL;
		hlen = (size_t)(colon - addr);
		if (hlen >= cap)
			return CAIRN_EINVAL;
		memcpy(host, addr, hlen);
	}
	host[hlen] = '\0';
	p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || p < 0 || p > 65535 || hlen == 0)
		return CAIRN_EINVAL;
	*port = (int)p;
	return 0;
}

void net_addr_key(const char *remote, char *key, size_t cap)
{
	struct in6_addr a6;
	char text[INET6_ADDRSTRLEN];

	if (remote != NULL && inet_pton(AF_INET6, remote, &a6) == 1 &&
	    !IN6_IS_ADDR_V4MAPPED(&a6)) {
		memset(a6.s6_addr + 8, 0, 8);
		inet_ntop(AF_INET6, &a6, text, sizeof(text));
		snprintf(key, cap, "addr:%s/64", text);
	} else if (remote != NULL && strncmp(remote, "::ffff:", 7) == 0) {
		snprintf(key, cap, "addr:%s", remote + 7);
	} else {
		snprintf(key, cap, "addr:%s", remote ? remote : "");
	}
}
