/* SPDX-License-Identifier: MIT */
/* host:port parsing, shared by the listeners, the config table and ACME's DNS server
 * setting; the rate-limit key of a client address (EST logins, ACME accounts); outgoing
 * connections and TLS handshakes under one deadline (discovery, ACME tls-alpn-01). */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

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

	if (remote == NULL || inet_pton(AF_INET6, remote, &a6) != 1) {
		snprintf(key, cap, "addr:%s", remote ? remote : "");
	} else if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		/* in any spelling (::FFFF:…, ::ffff:c000:207): its IPv4 address */
		inet_ntop(AF_INET, a6.s6_addr + 12, text, sizeof(text));
		snprintf(key, cap, "addr:%s", text);
	} else {
		memset(a6.s6_addr + 8, 0, 8);
		inet_ntop(AF_INET6, &a6, text, sizeof(text));
		snprintf(key, cap, "addr:%s/64", text);
	}
}

/* Waits until fd is ready for events (POLLIN, POLLOUT) or deadline: 1 ready, 0 not. */
static int net_wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	uint64_t t;
	int rc;

	do {
		t = time_mono_ms();
		if (t >= deadline)
			return 0;
		rc = poll(&p, 1, (int)(deadline - t));
	} while (rc < 0 && errno == EINTR);
	return rc > 0;
}

const char *net_connect(const struct sockaddr *sa, socklen_t salen, uint64_t deadline,
			int *fdp)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), soerr = 0;
	socklen_t len = sizeof(soerr);

	*fdp = -1;
	if (fd < 0)
		return "no socket";
	if (connect(fd, sa, salen) != 0 && errno != EINPROGRESS) {
		soerr = errno;
	} else if (!net_wait_fd(fd, POLLOUT, deadline)) {
		close(fd);
		return "connect timeout";
	} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) {
		soerr = errno;
	}
	if (soerr != 0) {
		close(fd);
		return soerr == ECONNREFUSED ? "connection refused" : strerror(soerr);
	}
	*fdp = fd;
	return NULL;
}

const char *net_tls_connect(SSL *ssl, int fd, uint64_t deadline)
{
	int rc;

	for (;;) {
		rc = SSL_connect(ssl);
		if (rc == 1)
			return NULL;
		rc = SSL_get_error(ssl, rc);
		if (rc != SSL_ERROR_WANT_READ && rc != SSL_ERROR_WANT_WRITE)
			return rc == SSL_ERROR_SYSCALL || rc == SSL_ERROR_ZERO_RETURN
				       ? "connection closed during the handshake"
				       : "TLS handshake failed";
		if (!net_wait_fd(fd, rc == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline))
			return "handshake timeout";
	}
}
