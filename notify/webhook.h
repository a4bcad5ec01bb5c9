/* SPDX-License-Identifier: MIT */
/* Internal to notify/: the webhook POST (the worker's only network call). */
#ifndef CAIRN_NOTIFY_WEBHOOK_H
#define CAIRN_NOTIFY_WEBHOOK_H

#include <stddef.h>

#include <curl/curl.h>

/*
 * POSTs body (JSON) to url with Cairn-Signature (notify_sign over "t.body" with secret)
 * and Cairn-Event-Id headers, waiting at most timeout_ms. Any 2xx is a delivery.
 * The attempt is abandoned as soon as *cancel (read atomically; may be NULL) is non-zero.
 * Returns 0; CAIRN_EIO with why filled (connection failure, non-2xx: *status is the
 * HTTP status or 0); CAIRN_ENOMEM, CAIRN_ECRYPTO. Thread-safe (curl_global_init first).
 */
int notify_webhook_post(const char *url, const char *secret, size_t secret_len,
			const char *body, size_t body_len, const char *event_id,
			long timeout_ms, const int *cancel, long *status, char *why,
			size_t why_cap);

/* libcurl progress callback (CURLOPT_XFERINFOFUNCTION) shared by the sinks: non-zero
 * aborts the transfer once the int arg points to (the worker's stop flag) is set. */
int notify_curl_cancelled(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un);

#endif
