/* SPDX-License-Identifier: MIT */
/* Time formatting/parsing, durations, randomness and constant-time compare. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "util/util.h"

void time_rfc3339(time_t t, char *out, size_t cap)
{
	struct tm tm;

	/* Four-digit years (0000-0999 too), so that time_parse reads back every output. */
	gmtime_r(&t, &tm);
	snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Days from 1970-01-01 to the civil date y-m-d (proleptic Gregorian; H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The civil date of day `days` since 1970-01-01: the inverse of days_from_civil. */
static void civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
	int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static char *put_2digits(char *p, int v)
{
	*p++ = (char)('0' + v / 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

/* By hand, not gmtime_r and strftime: every OCSP answer carries two of these, and the
 * C library's pair (a time zone lock, a format walk) was the larger part of its headers. */
void time_http_date(time_t t, char *out, size_t cap)
{
	static const char wdays[] = "ThuFriSatSunMonTueWed"; /* 1970-01-01 was a Thursday */
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int64_t days = (int64_t)t / 86400, secs = (int64_t)t % 86400, y;
	int m, d, wd;
	char *p = out;

	if (secs < 0) {
		secs += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	if (cap < 30 || y < 1 || y > 9999) { /* never for our times: the library's way */
		struct tm tm;

		/* a time gmtime_r cannot represent gives "", not a format of garbage */
		if (cap > 0 && (gmtime_r(&t, &tm) == NULL ||
				strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0))
			out[0] = '\0';
		return;
	}
	wd = (int)(((days % 7) + 7) % 7);
	memcpy(p, wdays + 3 * wd, 3);
	p += 3;
	*p++ = ',';
	*p++ = ' ';
	p = put_2digits(p, d);
	*p++ = ' ';
	memcpy(p, months + 3 * (m - 1), 3);
	p += 3;
	*p++ = ' ';
	p = put_2digits(p, (int)(y / 100));
	p = put_2digits(p, (int)(y % 100));
	*p++ = ' ';
	p = put_2digits(p, (int)(secs / 3600));
	*p++ = ':';
	p = put_2digits(p, (int)(secs / 60 % 60));
	*p++ = ':';
	p = put_2digits(p, (int)(secs % 60));
	memcpy(p, " GMT", 5);
}

static int month_days(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* The n digits at s as a number, or -1 when one of them is not a digit. Reads s only up
 * to the first byte that is not a digit, so a string that ends early is never overrun. */
static int digits(const char *s, int n)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int time_parse(const char *s, time_t *out)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, n;
	long off = 0;
	int64_t t;

	if (s == NULL || out == NULL)
		return CAIRN_EINVAL;
	/* full-date = YYYY "-" MM "-" DD */
	if ((y = digits(s, 4)) < 0 || s[4] != '-' || (mo = digits(s + 5, 2)) < 0 || s[7] != '-' ||
	    (d = digits(s + 8, 2)) < 0 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo))
		return CAIRN_EINVAL;
	s += 10;
	if (*s != '\0') {
		/* "T" partial-time time-offset; the T and the Z may be lower case (RFC 3339 §5.6) */
		if ((*s != 'T' && *s != 't') || (h = digits(s + 1, 2)) < 0 || s[3] != ':' ||
		    (mi = digits(s + 4, 2)) < 0 || s[6] != ':' || (sec = digits(s + 7, 2)) < 0 ||
		    h > 23 || mi > 59 || sec > 60)
			return CAIRN_EINVAL;
		s += 9;
		if (*s == '.') { /* time-secfrac: 1 to 9 digits, read and dropped */
			for (n = 0, s++; *s >= '0' && *s <= '9'; s++)
				n++;
			if (n < 1 || n > 9)
				return CAIRN_EINVAL;
		}
		if (*s == 'Z' || *s == 'z') {
			s++;
		} else if (*s == '+' || *s == '-') {
			int oh, om;
			if ((oh = digits(s + 1, 2)) < 0 || s[3] != ':' || (om = digits(s + 4, 2)) < 0 ||
			    oh > 23 || om > 59)
				return CAIRN_EINVAL;
			off = (oh * 3600L + om * 60L) * (*s == '-' ? -1 : 1);
			s += 6;
		} else {
			return CAIRN_EINVAL;
		}
		if (*s != '\0')
			return CAIRN_EINVAL;
		/* A leap second only exists as 23:59:60 UTC (after the offset is applied). */
		if (sec == 60 && ((h * 3600L + mi * 60L + 59 - off) % 86400 + 86400) % 86400 != 86399)
			return CAIRN_EINVAL;
	}
	t = days_from_civil(y, mo, d) * 86400 + h * 3600L + mi * 60L + sec - off;
	*out = (time_t)t;
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
	case 'y':
		mult = 365 * 86400;
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

/* The CLOCK_MONOTONIC instant at_ms (a time_mono_ms value) as a timespec. */
static struct timespec time_mono_ts(uint64_t at_ms)
{
	struct timespec ts = { .tv_sec = (time_t)(at_ms / 1000u),
			       .tv_nsec = (long)(at_ms % 1000u) * 1000000L };

	return ts;
}

void time_mono_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
}

int time_mono_wait(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t deadline_ms)
{
	struct timespec ts = time_mono_ts(deadline_ms), nap = { 0, 0 };
	uint64_t now;

	if (pthread_cond_timedwait(cv, mu, &ts) != ETIMEDOUT)
		return 0;
	if ((now = time_mono_ms()) >= deadline_ms)
		return ETIMEDOUT;
	nap.tv_nsec = (long)(deadline_ms - now < 20 ? deadline_ms - now : 20) * 1000000L;
	pthread_mutex_unlock(mu);
	nanosleep(&nap, NULL);
	pthread_mutex_lock(mu);
	return 0;
}

void time_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t until)
{
	struct timespec wall;
	int64_t left_ms;

	clock_gettime(CLOCK_REALTIME, &wall);
	left_ms = until > INT64_MAX / 1000 ? INT64_MAX
					    : until * 1000 - ((int64_t)wall.tv_sec * 1000 +
							       wall.tv_nsec / 1000000);
	if (left_ms > TIME_WALL_TICK * 1000)
		left_ms = TIME_WALL_TICK * 1000;
	if (left_ms < 0)
		left_ms = 0;
	(void)time_mono_wait(cv, mu, time_mono_ms() + (uint64_t)left_ms);
}

void util_failrun_fail(util_failrun_t *f, int64_t now, const char *why)
{
	f->failures++;
	if (f->latest == 0 || now - f->latest > UTIL_FAIL_RUN_S || now < f->latest)
		f->since = now;
	f->latest = now;
	f->failing = 1;
	snprintf(f->why, sizeof(f->why), "%s", why);
}

int util_failrun_open(const util_failrun_t *f, int64_t now)
{
	return f->latest != 0 && (f->failing || now - f->latest < UTIL_FAIL_RUN_S || now < f->latest);
}

int util_random(uint8_t *buf, size_t len)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : CAIRN_ECRYPTO;
}

int util_ct_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}
