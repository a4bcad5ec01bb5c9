/* SPDX-License-Identifier: MIT */
/* E-mail sinks: one plain-text message through libcurl's SMTP (an event or a digest). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "notify/smtp.h"
#include "notify/webhook.h"

struct reader {
	const char *data;
	size_t len, off;
};

static size_t read_msg(char *buf, size_t size, size_t n, void *arg)
{
	struct reader *r = arg;
	size_t k = size * n;

	if (k > r->len - r->off)
		k = r->len - r->off;
	memcpy(buf, r->data + r->off, k);
	r->off += k;
	return k;
}

#define QP_LINE 76 /* RFC 2045 §6.7 (5): encoded lines at most 76 characters */

char *notify_qp_body(const char *text)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(text), used = 0, col = 0;
	/* each byte at most "=XX", plus a soft break "=\r\n" per 72 output bytes at worst */
	char *out = malloc(n * 3 + (n * 3 / 72 + 2) * 3 + 3);
	const unsigned char *p;

	if (out == NULL)
		return NULL;
	for (p = (const unsigned char *)text; *p; p++) {
		int end = p[1] == '\n' || p[1] == '\0', literal;
		size_t w;

		if (*p == '\n') {
			memcpy(out + used, "\r\n", 2);
			used += 2;
			col = 0;
			continue;
		}
		literal = (*p >= 33 && *p <= 126 && *p != '=') || ((*p == ' ' || *p == '\t') && !end);
		w = literal ? 1 : 3;
		/* A soft break when this would pass the limit (the "=" of the break included),
		 * unless it is the line's last and fits exactly. */
		if (col + w > QP_LINE - 1 && !(end && col + w <= QP_LINE)) {
			memcpy(out + used, "=\r\n", 3);
			used += 3;
			col = 0;
		}
		if (literal) {
			out[used++] = (char)*p;
		} else {
			out[used++] = '=';
			out[used++] = hex[*p >> 4];
			out[used++] = hex[*p & 15];
		}
		col += w;
	}
	out[used] = '\0';
	return out;
}

/* The message: headers, then the quoted-printable body with CRLF line ends (dot-stuffing
 * is libcurl's). Returns malloc'd text or NULL. */
static char *message(const notify_settings_t *set, const json_t *rcpt, const char *subject,
		     const char *msg_id, const char *text)
{
	char date[64], *out = NULL, *body = notify_qp_body(text);
	size_t i, cap, used;
	time_t now = time(NULL);
	struct tm tm;

	if (body == NULL)
		return NULL;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	cap = strlen(body) + strlen(subject) + strlen(msg_id) + 1024 + 160 * json_array_size(rcpt);
	if ((out = malloc(cap)) == NULL) {
		free(body);
		return NULL;
	}
	used = (size_t)snprintf(out, cap, "Date: %s\r\nFrom: %s\r\nTo: ", date, set->smtp_from);
	for (i = 0; i < json_array_size(rcpt); i++)
		used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? ", " : "",
					 json_string_value(json_array_get(rcpt, i)));
	used += (size_t)snprintf(out + used, cap - used,
				 "\r\nSubject: %s\r\nMessage-ID: <%s@%s>\r\n"
				 "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
				 "Content-Transfer-Encoding: quoted-printable\r\n\r\n%s\r\n",
				 subject, msg_id, strchr(set->smtp_from, '@') + 1, body);
	free(body);
	return out;
}

int notify_smtp_send(const notify_settings_t *set, const char *password, const json_t *to_list,
		     const char *subject, const char *msg_id, const char *text, long timeout_ms,
		     const int *cancel, char *why, size_t why_cap)
{
	CURL *c = curl_easy_init();
	struct curl_slist *rcpt = NULL;
	struct reader r = { 0 };
	char *msg = message(set, to_list, subject, msg_id, text), from[160], to[160];
	long tls;
	CURLcode cc;
	size_t i;
	int rc = CAIRN_EIO;

	why[0] = '\0';
	if (c == NULL || msg == NULL) {
		snprintf(why, why_cap, "out of memory");
		rc = CAIRN_ENOMEM;
		goto out;
	}
	snprintf(from, sizeof(from), "<%s>", set->smtp_from);
	for (i = 0; i < json_array_size(to_list); i++) {
		snprintf(to, sizeof(to), "<%s>", json_string_value(json_array_get(to_list, i)));
		rcpt = curl_slist_append(rcpt, to);
	}
	r.data = msg;
	r.len = strlen(msg);
	curl_easy_setopt(c, CURLOPT_URL, set->smtp_url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_msg);
	curl_easy_setopt(c, CURLOPT_READDATA, &r);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, notify_curl_cancelled);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)cancel);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	if (set->smtp_starttls == NOTIFY_STARTTLS_REQUIRE ||
	    (set->smtp_starttls == NOTIFY_STARTTLS_AUTO && set->smtp_user[0] != '\0'))
		tls = CURLUSESSL_ALL;
	else if (set->smtp_starttls == NOTIFY_STARTTLS_AUTO)
		tls = CURLUSESSL_TRY;
	else
		tls = CURLUSESSL_NONE;
	curl_easy_setopt(c, CURLOPT_USE_SSL, tls);
	if (set->smtp_ca_file[0] != '\0')
		curl_easy_setopt(c, CURLOPT_CAINFO, set->smtp_ca_file);
	if (set->smtp_user[0] != '\0') {
		curl_easy_setopt(c, CURLOPT_USERNAME, set->smtp_user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, password ? password : "");
	}
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		snprintf(why, why_cap, "smtp: %s", curl_easy_strerror(cc));
		goto out;
	}
	rc = 0;
out:
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(c);
	free(msg);
	return rc;
}
