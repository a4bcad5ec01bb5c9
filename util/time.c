/* SPDX-License-Identifier: MIT */
/* Time formatting/parsing, durations, randomness and constant-time compare. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "util/util.h"

void time_rfc3339(time_t t, char *out, size_t cap)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int time_parse(const char *s, time_t *out)
{
	struct tm tm;
	const char *rest;
	long off = 0;

	memset(&tm, 0, sizeof(tm));
	rest = strptime(s, "%Y-%m-%d", &tm);
	if (rest == NULL)
		return CAIRN_EINVAL;
	if (*rest == 'T' || *rest == 't' || *rest == ' ') {
		rest = strptime(rest + 1, "%H:%M:%S", &tm);
		if (rest == NULL)
			return CAIRN_EINVAL;
		if (*rest == '.') {
			rest++;
			while (isdigit((unsigned char)*rest))
				rest++;
		}
		if (*rest == 'Z' || *rest == 'z') {
			rest++;
		} else if (*rest == '+' || *rest == '-') {
			int hh, mm;
			if (sscanf(rest + 1, "%2d:%2d", &hh, &mm) != 2)
				return CAIRN_EINVAL;
			off = (hh * 3600L + mm * 60L) * (*rest == '-' ? -1 : 1);
			rest += 6;
		} else {
			return CAIRN_EINVAL;
		}
	}
	if (*rest != '\0')
		return CAIRN_EINVAL;
	*out = timegm(&tm) - off;
	return 0;
}

int duration_parse(const char *s, int64_t *seconds)
{
	char *end;
	long long v;
	int64_t mult = 1;

	if (s == NULL || !isdigit((unsigned char)s[0]))
		return CAIRN_EINVAL;
	v = strtoll(s, &end, 10);
	switch (*end) {
	case '\0':
	case 's':
		break;
	case 'm':
		mult = 60;
		break;
	case 'h':
		mult = 3600;
		break;
	case 'd':
		mult = 86400;
		break;
	case 'w':
		mult = 7 * 86400;
		break;
	default:
		return CAIRN_EINVAL;
	}
	if (*end != '\0' && end[1] != '\0')
		return CAIRN_EINVAL;
	if (v < 0 || v > INT64_MAX / mult)
		return CAIRN_EINVAL;
	*seconds = v * mult;
	return 0;
}

uint64_t time_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int util_random(uint8_t *buf, size_t len)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : CAIRN_ECRYPTO;
}

int util_ct_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}
