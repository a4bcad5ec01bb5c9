/* SPDX-License-Identifier: MIT */
/* Webhook sink: one signed JSON POST per event through libcurl. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "notify/notify_int.h"
#include "notify/webhook.h"

int notify_sign(const char *secret, size_t secret_len, int64_t t, const char *body,
		size_t body_len, char *out, size_t cap)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	char prefix[32], hex[2 * EVP_MAX_MD_SIZE + 1];
	EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
	OSSL_PARAM params[2] = { OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
				 OSSL_PARAM_construct_end() };
	size_t n = 0;
	int plen, rc = CAIRN_ECRYPTO;

	plen = snprintf(prefix, sizeof(prefix), "%lld.", (long long)t);
	if (ctx == NULL || !EVP_MAC_init(ctx, (const unsigned char *)secret, secret_len, params) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)prefix, (size_t)plen) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)body, body_len) ||
	    !EVP_MAC_final(ctx, mac, &n, sizeof(mac)))
		goto out;
	mac_len = (unsigned int)n;
	hex_encode(mac, mac_len, hex);
	if ((size_t)snprintf(out, cap, "t=%lld,v1=%s", (long long)t, hex) >= cap)
		goto out;
	rc = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(m);
	return rc;
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

int notify_curl_cancelled(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return arg != NULL && __atomic_load_n((const int *)arg, __ATOMIC_RELAXED) != 0;
}

int notify_webhook_post(const char *url, const char *secret, size_t secret_len,
			const char *body, size_t body_len, const char *event_id,
			long timeout_ms, const int *cancel, long *status, char *why,
			size_t why_cap)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char sig[160], line[200];
	int64_t t = (int64_t)time(NULL);
	CURLcode cc;
	int rc = CAIRN_EIO;

	*status = 0;
	why[0] = '\0';
	if (c == NULL) {
		snprintf(why, why_cap, "out of memory");
		return CAIRN_ENOMEM;
	}
	if (notify_sign(secret, secret_len, t, body, body_len, sig, sizeof(sig)) != 0) {
		snprintf(why, why_cap, "cannot sign the body");
		rc = CAIRN_ECRYPTO;
		goto out;
	}
	h = curl_slist_append(h, "Content-Type: application/json");
	snprintf(line, sizeof(line), "Cairn-Signature: %s", sig);
	h = curl_slist_append(h, line);
	snprintf(line, sizeof(line), "Cairn-Event-Id: %s", event_id);
	h = curl_slist_append(h, line);
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "cairn-notify/1");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, notify_curl_cancelled);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)cancel);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		snprintf(why, why_cap, "%s", curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (*status < 200 || *status > 299) {
		snprintf(why, why_cap, "HTTP %ld", *status);
		goto out;
	}
	rc = 0;
out:
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return rc;
}
