/* SPDX-License-Identifier: MIT */
/* Strict base64url (RFC 4648 §5, unpadded) and hex. OpenSSL only offers padded base64. */
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static const char b64url_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *b64url_encode(const uint8_t *in, size_t len)
{
	size_t out_len = (len / 3) * 4 + (len % 3 ? len % 3 + 1 : 0);
	char *out = malloc(out_len + 1), *p = out;
	size_t i;

	if (out == NULL)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*p++ = b64url_alphabet[v >> 18 & 63];
		*p++ = b64url_alphabet[v >> 12 & 63];
		*p++ = b64url_alphabet[v >> 6 & 63];
		*p++ = b64url_alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		*p++ = b64url_alphabet[v >> 18 & 63];
		*p++ = b64url_alphabet[v >> 12 & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		*p++ = b64url_alphabet[v >> 18 & 63];
		*p++ = b64url_alphabet[v >> 12 & 63];
		*p++ = b64url_alphabet[v >> 6 & 63];
	}
	*p = '\0';
	return out;
}

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int b64url_decode(const char *in, size_t in_len, uint8_t **out, size_t *out_len)
{
	uint8_t *buf;
	uint32_t acc = 0;
	size_t i, n = 0;
	int bits = 0;

	*out = NULL;
	*out_len = 0;
	if (in_len % 4 == 1)
		return CAIRN_EINVAL;
	buf = malloc(in_len * 3 / 4 + 1);
	if (buf == NULL)
		return CAIRN_ENOMEM;
	for (i = 0; i < in_len; i++) {
		int v = b64url_value((unsigned char)in[i]);
		if (v < 0) {
			free(buf);
			return CAIRN_EINVAL;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[n++] = (uint8_t)(acc >> bits);
		}
	}
	/* Leftover bits must be zero: a canonical encoding only. */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
		free(buf);
		return CAIRN_EINVAL;
	}
	*out = buf;
	*out_len = n;
	return 0;
}

void hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(const char *in, uint8_t *out, size_t cap)
{
	size_t len = strlen(in), i;

	if (len % 2 != 0 || len / 2 > cap)
		return -1;
	for (i = 0; i < len / 2; i++) {
		int hi = hex_value(in[2 * i]), lo = hex_value(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (int)(len / 2);
}
