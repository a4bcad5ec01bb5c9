/* SPDX-License-Identifier: MIT */
/* host:port parsing, shared by the listeners, the config table and ACME's DNS server setting. */
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
