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

/* Value + 1 of each base64url character, 0 for every other byte: one lookup per
 * character (a JWS request decodes three members; the chain of comparisons this
 * replaced was ~0.4 % of the daemon's CPU on the ACME path). */
static const uint8_t b64url_table[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7,
	['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14,
	['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21,
	['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28,
	['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35,
	['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
	['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49,
	['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
	['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['-'] = 63,
	['_'] = 64,
};

int b64url_decode(const char *in, size_t in_len, uint8_t **out, size_t *out_len)
{
	const unsigned char *p = (const unsigned char *)in;
	uint8_t *buf;
	uint32_t acc = 0;
	size_t i = 0, n = 0;
	int bits = 0;

	*out = NULL;
	*out_len = 0;
	if (in_len % 4 == 1)
		return CAIRN_EINVAL;
	buf = malloc(in_len * 3 / 4 + 1);
	if (buf == NULL)
		return CAIRN_ENOMEM;
	/* Whole groups of four characters, three bytes each. */
	for (; i + 4 <= in_len; i += 4) {
		unsigned a = b64url_table[p[i]], b = b64url_table[p[i + 1]];
		unsigned c = b64url_table[p[i + 2]], d = b64url_table[p[i + 3]];
		uint32_t v;

		if (a == 0 || b == 0 || c == 0 || d == 0)
			goto bad;
		v = (a - 1) << 18 | (b - 1) << 12 | (c - 1) << 6 | (d - 1);
		buf[n++] = (uint8_t)(v >> 16);
		buf[n++] = (uint8_t)(v >> 8);
		buf[n++] = (uint8_t)v;
	}
	/* The last two or three characters. */
	for (; i < in_len; i++) {
		unsigned v = b64url_table[p[i]];

		if (v == 0)
			goto bad;
		acc = acc << 6 | (v - 1);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[n++] = (uint8_t)(acc >> bits);
		}
	}
	/* Leftover bits must be zero: a canonical encoding only. */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		goto bad;
	*out = buf;
	*out_len = n;
	return 0;
bad:
	free(buf);
	return CAIRN_EINVAL;
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
