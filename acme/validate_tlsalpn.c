/* SPDX-License-Identifier: MIT */
/* tls-alpn-01 (RFC 8737): TLS with ALPN acme-tls/1 and SNI, self-signed certificate with the critical acmeIdentifier extension. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/sha.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "acme/acme_int.h"

/* A connection to addr:port by deadline (time_mono_ms): the fd, or -1 with why. */
static int connect_by(const char *addr, int port, uint64_t deadline, char *why, size_t cap)
{
	struct addrinfo hints = { 0 }, *ai = NULL;
	const char *failed;
	char ps[8];
	int fd;

	snprintf(ps, sizeof(ps), "%d", port);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(addr, ps, &hints, &ai) != 0) {
		snprintf(why, cap, "cannot connect to %s port %d", addr, port);
		return -1;
	}
	failed = net_connect(ai->ai_addr, ai->ai_addrlen, deadline, &fd);
	freeaddrinfo(ai);
	if (failed != NULL)
		snprintf(why, cap, "cannot connect to %s port %d: %s", addr, port, failed);
	return fd;
}

int acme_validate_tlsalpn01(const acme_vconf_t *v, const char *name, const char *keyauth,
			    const char **type, char *why, size_t cap)
{
	static const unsigned char alpn[] = "\x0a" "acme-tls/1";
	char addr[64];
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	X509 *peer = NULL;
	GENERAL_NAMES *sans = NULL;
	ASN1_OBJECT *oid = NULL;
	ASN1_OCTET_STRING *inner = NULL;
	const unsigned char *sel = NULL, *p;
	unsigned int sel_len = 0;
	uint8_t md[32];
	int fd = -1, rc = CAIRN_EINVAL, loc, crit = 0;
	/* The whole validation, however slowly the peer sends its handshake. */
	uint64_t deadline = time_mono_ms() + (uint64_t)v->timeout_ms;
	const char *failed;
	X509_EXTENSION *ext;

	*type = "dns";
	if (acme_resolve(v, name, addr, sizeof(addr), why, cap) != 0)
		return CAIRN_EIO;
	*type = "connection";
	fd = connect_by(addr, v->tlsalpn01_port, deadline, why, cap);
	if (fd < 0)
		return CAIRN_EIO;
	*type = "tls";
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		goto out;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	ssl = SSL_new(ctx);
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_set_tlsext_host_name(ssl, name) != 1 ||
	    SSL_set_alpn_protos(ssl, alpn, sizeof(alpn) - 1) != 0)
		goto out;
	if ((failed = net_tls_connect(ssl, fd, deadline)) != NULL) {
		snprintf(why, cap, "TLS handshake with %s:%d: %s", addr, v->tlsalpn01_port, failed);
		goto out;
	}
	SSL_get0_alpn_selected(ssl, &sel, &sel_len);
	if (sel_len != 10 || memcmp(sel, "acme-tls/1", 10) != 0) {
		*type = "unauthorized";
		snprintf(why, cap, "server did not negotiate ALPN acme-tls/1");
		goto out;
	}
	peer = SSL_get1_peer_certificate(ssl);
	*type = "unauthorized";
	if (peer == NULL) {
		snprintf(why, cap, "no certificate presented");
		goto out;
	}
	sans = X509_get_ext_d2i(peer, NID_subject_alt_name, NULL, NULL);
	if (sans == NULL || sk_GENERAL_NAME_num(sans) != 1 ||
	    sk_GENERAL_NAME_value(sans, 0)->type != GEN_DNS ||
	    (size_t)ASN1_STRING_length(sk_GENERAL_NAME_value(sans, 0)->d.dNSName) != strlen(name) ||
	    strncasecmp((const char *)ASN1_STRING_get0_data(
				sk_GENERAL_NAME_value(sans, 0)->d.dNSName),
			name, strlen(name)) != 0) {
		snprintf(why, cap, "certificate must have %s as its only subjectAltName", name);
		goto out;
	}
	oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
	loc = oid ? X509_get_ext_by_OBJ(peer, oid, -1) : -1;
	ext = loc >= 0 ? X509_get_ext(peer, loc) : NULL;
	if (ext != NULL)
		crit = X509_EXTENSION_get_critical(ext);
	if (ext == NULL || !crit) {
		snprintf(why, cap, "certificate lacks the critical acmeIdentifier extension");
		goto out;
	}
	p = ASN1_STRING_get0_data(X509_EXTENSION_get_data(ext));
	inner = d2i_ASN1_OCTET_STRING(NULL, &p,
				      ASN1_STRING_length(X509_EXTENSION_get_data(ext)));
	SHA256((const uint8_t *)keyauth, strlen(keyauth), md);
	if (inner == NULL || ASN1_STRING_length(inner) != 32 ||
	    memcmp(ASN1_STRING_get0_data(inner), md, 32) != 0) {
		*type = "incorrectResponse";
		snprintf(why, cap, "acmeIdentifier is not SHA-256 of the key authorization");
		goto out;
	}
	rc = 0;
out:
	if (rc && why[0] == '\0')
		snprintf(why, cap, "TLS setup failed");
	ERR_clear_error();
	ASN1_OCTET_STRING_free(inner);
	ASN1_OBJECT_free(oid);
	GENERAL_NAMES_free(sans);
	X509_free(peer);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	return rc;
}
