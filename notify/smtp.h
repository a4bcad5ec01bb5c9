/* SPDX-License-Identifier: MIT */
/* Internal to notify/: the e-mail sinks' send (libcurl SMTP). */
#ifndef CAIRN_NOTIFY_SMTP_H
#define CAIRN_NOTIFY_SMTP_H

#include "notify/notify.h"

/*
 * Sends one plain-text message (text: LF line ends, borrowed) to the addresses of rcpt (a
 * json array of strings, each checked with notify_address_ok by the caller) through
 * set->smtp_url. TLS: smtps:// always; smtp:// per set->smtp_starttls (auto: STARTTLS when
 * the server offers it, required when a user is set so a password never crosses in clear;
 * require: a server without STARTTLS is refused; none: never). The server's certificate is
 * verified (against set->smtp_ca_file when set). AUTH with user/password when a user is
 * set. msg_id is the local part of the Message-ID (its domain is from's), so a repeat of
 * the same message carries the same id. Abandoned when *cancel becomes non-zero.
 * Returns 0, or CAIRN_EIO with why filled, CAIRN_ENOMEM.
 */
/* The body of a message, quoted-printable (RFC 2045 §6.7): text (LF line ends) as lines
 * of at most 76 characters ending in CRLF (a longer line is broken with soft "=" breaks),
 * "=", control bytes, bytes above 126 and a space or tab before a line end written as
 * =XX. So any event (a discovered certificate's subject can be kilobytes on one line)
 * fits SMTP's 998-character lines, and UTF-8 arrives intact. Returns malloc'd text or
 * NULL. */
char *notify_qp_body(const char *text);

int notify_smtp_send(const notify_settings_t *set, const char *password, const json_t *rcpt,
		     const char *subject, const char *msg_id, const char *text, long timeout_ms,
		     const int *cancel, char *why, size_t why_cap);

#endif
