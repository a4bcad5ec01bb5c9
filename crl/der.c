/* SPDX-License-Identifier: MIT */
/* Hand-emitted DER for the CRL hot path: tag/length headers and entry times (parsed back by tests). */
#include <time.h>

#include "crl/crl_int.h"

static size_t len_size(size_t n)
{
	size_t k = 1;

	if (n < 0x80)
		return 1;
	while (n > 0) {
		k++;
		n >>= 8;
	}
	return k;
}

size_t crl_der_tlv_size(size_t n)
{
	return 1 + len_size(n) + n;
}

uint8_t *crl_der_hdr(uint8_t *p, uint8_t tag, size_t n)
{
	size_t k = len_size(n), i;

	*p++ = tag;
	if (k == 1) {
		*p++ = (uint8_t)n;
		return p;
	}
	*p++ = (uint8_t)(0x80 | (k - 1));
	for (i = k - 1; i > 0; i--)
		*p++ = (uint8_t)(n >> (8 * (i - 1)));
	return p;
}

static uint8_t *two(uint8_t *p, int v)
{
	*p++ = (uint8_t)('0' + v / 10 % 10);
	*p++ = (uint8_t)('0' + v % 10);
	return p;
}

size_t crl_der_time(uint8_t *p, int64_t t, int generalized)
{
	time_t tt = (time_t)t;
	struct tm tm;
	int year;

	gmtime_r(&tt, &tm);
	year = tm.tm_year + 1900;
	if (!generalized && year >= 1950 && year <= 2049) {
		if (p != NULL) {
			*p++ = 0x17;
			*p++ = 13;
			p = two(p, year % 100);
			p = two(p, tm.tm_mon + 1);
			p = two(p, tm.tm_mday);
			p = two(p, tm.tm_hour);
			p = two(p, tm.tm_min);
			p = two(p, tm.tm_sec);
			*p = 'Z';
		}
		return 15;
	}
	if (p != NULL) {
		*p++ = 0x18;
		*p++ = 15;
		p = two(p, year / 100);
		p = two(p, year % 100);
		p = two(p, tm.tm_mon + 1);
		p = two(p, tm.tm_mday);
		p = two(p, tm.tm_hour);
		p = two(p, tm.tm_min);
		p = two(p, tm.tm_sec);
		*p = 'Z';
	}
	return 17;
}
