/* SPDX-License-Identifier: MIT */
/* E-mail sinks: who gets an event (the sink's "to", the owner, the approvers), the message
 * for one event, and the daily digest (queued durably with the cursor, sent after midnight UTC). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/sha.h>

#include "notify/deliver.h"
#include "notify/smtp.h"

/* Events in one digest message; more of one day wait for the next message. */
#define DIGEST_MAX 1000
/* A digest entry's key: 'g' || sink || 0 || day || 0 || address || 0 || BE64 id (db keys
 * are at most 511 bytes). */
#define DIGEST_KEY_MAX 512

static void add_unique(json_t *list, const char *addr)
{
	json_t *v;
	size_t i;

	if (addr == NULL || !notify_address_ok(addr))
		return;
	json_array_foreach(list, i, v)
		if (strcasecmp(json_string_value(v), addr) == 0)
			return;
	json_array_append_new(list, json_string(addr));
}

json_t *notify_email_recipients(notify_t *n, const notify_sink_t *s, const json_t *event)
{
	json_t *out = json_array(), *more = NULL, *v;
	size_t i;

	if (out == NULL)
		return NULL;
	for (i = 0; i < s->n_to; i++)
		add_unique(out, s->to[i]);
	/* A test message goes to the sink's own list only. */
	if (strcmp(json_string_value(json_object_get(event, "type")) ?: "", "notify.test") == 0 ||
	    n->recipients == NULL || (!s->to_owner && !s->to_approvers))
		return out;
	more = n->recipients(n->recipients_arg, event, s->to_owner, s->to_approvers);
	json_array_foreach(more, i, v)
		add_unique(out, json_string_value(v));
	json_decref(more);
	return out;
}

int notify_email_event(notify_t *n, const json_t *rcpt, uint64_t id, const char *type,
		       const char *body, char *why, size_t why_cap)
{
	json_t *ev = json_loads(body, 0, NULL);
	const json_t *data = json_object_get(ev, "data");
	const char *serial = json_string_value(json_object_get(data, "serial"));
	char *pretty = ev ? json_dumps(ev, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	char subject[160], msg_id[48];
	int rc;

	if (serial == NULL) /* a request's id, or which CA material */
		serial = json_string_value(json_object_get(data, "id")) ?: json_string_value(json_object_get(data, "what"));
	snprintf(subject, sizeof(subject), "[cairn] %s %s", type, serial ? serial : "");
	snprintf(msg_id, sizeof(msg_id), "cairn-event-%llu", (unsigned long long)id);
	rc = notify_smtp_send(&n->set, n->smtp_password, rcpt, subject, msg_id,
			      pretty ? pretty : body, (long)n->set.timeout_ms, &n->stop, why, why_cap);
	free(pretty);
	json_decref(ev);
	return rc;
}

/* ---- the digest queue: 'g' || sink || 0 || DAY (YYYY-MM-DD) || 0 || address || 0 || BE64 id
 * -> the event document. Sorted by day, then address, then event id. ---- */

static size_t digest_key(const char *sink, const char *day, const char *addr, uint64_t id,
			 uint8_t *key, size_t cap)
{
	size_t ls = strlen(sink), ld = strlen(day), la = strlen(addr), n = 0;

	if (ls + ld + la + 4 + 8 > cap)
		return 0;
	key[n++] = NOTIFY_KEY_DIGEST;
	memcpy(key + n, sink, ls + 1);
	n += ls + 1;
	memcpy(key + n, day, ld + 1);
	n += ld + 1;
	memcpy(key + n, addr, la + 1);
	n += la + 1;
	db_be64_put(key + n, id);
	return n + 8;
}

int notify_digest_queue(db_txn_t *txn, const char *sink, const json_t *rcpt, uint64_t id,
			const char *body)
{
	json_t *ev = json_loads(body, 0, NULL), *v;
	const char *time = json_string_value(json_object_get(ev, "time"));
	uint8_t key[512];
	char day[11];
	size_t i, klen;
	int rc = 0;

	/* The event's own day (UTC): a digest lists what happened that day. */
	snprintf(day, sizeof(day), "%.10s", time && strlen(time) >= 10 ? time : "1970-01-01");
	json_array_foreach(rcpt, i, v) {
		klen = digest_key(sink, day, json_string_value(v), id, key, sizeof(key));
		if (klen == 0)
			continue;
		if ((rc = db_put(txn, DB_OUTBOX, key, klen, body, strlen(body), 0)) != 0)
			break;
	}
	json_decref(ev);
	return rc;
}

/* One (day, address) group of a sink's queue, older than today. */
struct digest_group {
	uint8_t prefix[80];
	size_t plen;
	char today[11];
	char day[11], addr[128];
	json_t *keys;   /* hex keys to delete once sent */
	json_t *events; /* the event documents */
};

static int group_iter(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct digest_group *g = arg;
	const char *day, *addr;
	char hex[2 * DIGEST_KEY_MAX + 1];
	json_t *ev;

	if (klen < g->plen + 12 || memcmp(key, g->prefix, g->plen) != 0)
		return 1;
	day = (const char *)key + g->plen;
	if (strnlen(day, klen - g->plen) != 10)
		return 0; /* not ours: skip */
	addr = day + 11;
	if (g->day[0] == '\0') {
		if (strcmp(day, g->today) >= 0)
			return 1; /* the oldest day still open: nothing to send yet */
		snprintf(g->day, sizeof(g->day), "%s", day);
		snprintf(g->addr, sizeof(g->addr), "%.*s", (int)strnlen(addr, 127), addr);
	} else if (strcmp(day, g->day) != 0 || strcmp(addr, g->addr) != 0 ||
		   json_array_size(g->keys) >= DIGEST_MAX) {
		return 1;
	}
	/* in hex: the key ends in a big-endian event id, which is no UTF-8 text (a JSON
	 * string of its bytes fails for most ids, and that entry would never be deleted) */
	if (klen > DIGEST_KEY_MAX)
		return 0; /* cannot be: sink, day and address are bounded */
	hex_encode(key, klen, hex);
	if (json_array_append_new(g->keys, json_string(hex)) != 0)
		return 1; /* out of memory: send what is collected */
	if ((ev = json_loadb(val, vlen, 0, NULL)) != NULL)
		json_array_append_new(g->events, ev);
	return 0;
}

/* The digest's text: a line per event, oldest first. malloc'd or NULL. */
static char *digest_text(const struct digest_group *g)
{
	char *out = NULL, *line = NULL;
	size_t used = 0, cap = 0, i;
	json_t *ev;

	json_array_foreach(g->events, i, ev) {
		const json_t *d = json_object_get(ev, "data");
		const char *what = json_string_value(json_object_get(d, "serial"));
		json_t *names = json_object_get(d, "names"), *nm;
		char list[400] = "", extra[48] = "";
		size_t j;
		int len;

		if (what == NULL)
			what = json_string_value(json_object_get(d, "id"));
		if (what == NULL)
			what = json_string_value(json_object_get(d, "what"));
		json_array_foreach(names, j, nm)
			if (strlen(list) + strlen(json_string_value(nm) ?: "") + 2 < sizeof(list))
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
					 j ? " " : "", json_string_value(nm) ?: "");
		if (json_object_get(d, "days_left") != NULL)
			snprintf(extra, sizeof(extra), "  days left: %lld",
				 (long long)json_integer_value(json_object_get(d, "days_left")));
		len = asprintf(&line, "%s  %-16s  %s  %s%s\n",
			       json_string_value(json_object_get(ev, "time")) ?: "",
			       json_string_value(json_object_get(ev, "type")) ?: "", what ? what : "-",
			       list, extra);
		if (len < 0) {
			line = NULL;
			goto fail;
		}
		if (used + (size_t)len + 1 > cap) {
			char *grown;
			cap = (used + (size_t)len + 1) * 2 + 512;
			if ((grown = realloc(out, cap)) == NULL)
				goto fail;
			out = grown;
		}
		memcpy(out + used, line, (size_t)len + 1);
		used += (size_t)len;
		free(line);
		line = NULL;
	}
	if (asprintf(&line, "cairn: %zu event(s) on %s for %s\n\n%s\n"
		     "The documents themselves: cairn notify list, the admin API and the audit log.\n",
		     json_array_size(g->events), g->day, g->addr, out ? out : "") < 0)
		line = NULL;
	free(out);
	return line;
fail:
	free(line);
	free(out);
	return NULL;
}

static int digest_delete(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	json_t *keys = arg, *k;
	uint8_t key[DIGEST_KEY_MAX];
	size_t i;
	int rc, klen;

	json_array_foreach(keys, i, k) {
		if ((klen = hex_decode(json_string_value(k), key, sizeof(key))) <= 0)
			return cairn_err_set(err, CAIRN_EINVAL, "notify: digest clean-up: bad key");
		rc = db_del(txn, DB_OUTBOX, key, (size_t)klen);
		if (rc != 0 && rc != CAIRN_ENOENT)
			return cairn_err_set(err, rc, "notify: digest clean-up: %s", cairn_strerror(rc));
	}
	return 0;
}

int notify_digest_flush(notify_t *n, notify_sink_state_t *s, int64_t now, int *sent, char *why,
			size_t why_cap)
{
	struct digest_group g;
	uint8_t hash[SHA256_DIGEST_LENGTH];
	char subject[160], msg_id[128], hex[17], *text = NULL;
	cairn_err_t err = { 0 };
	db_txn_t *txn = NULL;
	json_t *rcpt = NULL;
	time_t t = (time_t)now;
	struct tm tm;
	int rc;

	memset(&g, 0, sizeof(g));
	why[0] = '\0';
	*sent = 0;
	g.plen = notify_sink_key(NOTIFY_KEY_DIGEST, s->conf.name, 0, g.prefix, sizeof(g.prefix));
	if (g.plen == 0)
		return 0;
	g.plen -= 8;
	gmtime_r(&t, &tm);
	strftime(g.today, sizeof(g.today), "%Y-%m-%d", &tm);
	g.keys = json_array();
	g.events = json_array();
	if (g.keys == NULL || g.events == NULL || db_read_begin(n->db, &txn) != 0) {
		rc = CAIRN_ENOMEM;
		goto out;
	}
	(void)db_iterate(txn, DB_OUTBOX, g.prefix, g.plen, group_iter, &g);
	db_txn_end(txn);
	rc = 0;
	if (json_array_size(g.keys) == 0)
		goto out; /* nothing of a past day */
	SHA256((const unsigned char *)g.addr, strlen(g.addr), hash);
	hex_encode(hash, 8, hex);
	snprintf(subject, sizeof(subject), "[cairn] digest %s: %zu event(s)", g.day,
		 json_array_size(g.events));
	snprintf(msg_id, sizeof(msg_id), "cairn-digest-%s-%s-%s", s->conf.name, g.day, hex);
	text = digest_text(&g);
	rcpt = json_pack("[s]", g.addr);
	if (text == NULL || rcpt == NULL) {
		rc = CAIRN_ENOMEM;
		goto out;
	}
	rc = notify_smtp_send(&n->set, n->smtp_password, rcpt, subject, msg_id, text,
			      (long)n->set.timeout_ms, &n->stop, why, why_cap);
	if (rc != 0)
		goto out;
	/* Sent: the group goes. A kill -9 between the send and this commit sends it again
	 * (the same Message-ID), never loses it. */
	if ((rc = db_write(n->db, digest_delete, g.keys, &err)) != 0) {
		snprintf(why, why_cap, "%s", cairn_err_msg(&err));
		goto out;
	}
	*sent = 1;
out:
	free(text);
	json_decref(rcpt);
	json_decref(g.keys);
	json_decref(g.events);
	return rc;
}
