/* SPDX-License-Identifier: MIT */
/* Internal to notify/: the e-mail sink's send (libcurl SMTP). */
#ifndef CAIRN_NOTIFY_SMTP_H
#define CAIRN_NOTIFY_SMTP_H

#include "notify/notify.h"

/*
 * Sends one message for event (its JSON body, id and type) to the sink's recipients
 * through set->smtp_url: STARTTLS when the server offers it (required when a user is
 * set, so a password never crosses in clear), AUTH with user/password when a user is
 * set. Subject "[cairn] TYPE SERIAL-or-ID"; Message-ID names the event id so mail
 * clients can fold repeats. Abandoned when *cancel becomes non-zero. Returns 0, or
 * CAIRN_EIO with why filled, CAIRN_ENOMEM.
 */
int notify_smtp_send(const notify_settings_t *set, const char *password, const notify_sink_t *s,
		     uint64_t id, const char *type, const char *body, long timeout_ms,
		     const int *cancel, char *why, size_t why_cap);

#endif
