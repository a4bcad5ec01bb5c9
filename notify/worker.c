/* SPDX-License-Identifier: MIT */
/* The delivery worker thread and what the admin API asks of it: status, retry, test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "audit/audit.h"
#include "notify/deliver.h"

static void *worker_main(void *arg)
{
	notify_t *n = arg;
	int64_t next_scan = 0;
	size_t i;

	pthread_mutex_lock(&n->mu);
	while (!n->stop) {
		int64_t now = (int64_t)time(NULL), wait_ms = n->set.poll_ms, t;
		n->kicked = 0;
		pthread_mutex_unlock(&n->mu);
		/* later than one interval away: set before the wall clock went back */
		if (next_scan > now + n->set.scan_interval)
			next_scan = now;
		if (now >= next_scan) {
			cairn_err_t err = { 0 };
			notify_scan_stats_t st;
			json_t *problems = n->material ? n->material(n->material_arg, now) : NULL, *p;
			size_t k;
			if (notify_scan_expiry(n->db, &n->set, now, n->names, n->names_arg, &st, &err) != 0)
				log_warn("notify", "expiry scan: %s", cairn_err_msg(&err));
			else if (st.emitted > 0)
				log_info("notify", "expiry scan: %llu certificate(s) looked at, %llu event(s)",
					 (unsigned long long)st.visited, (unsigned long long)st.emitted);
			if (n->also_scan != NULL) {
				uint64_t more = 0;
				if (n->also_scan(n->db, &n->set, now, n->also_scan_arg, &more, &err) != 0)
					log_warn("notify", "expiry scan (more): %s", cairn_err_msg(&err));
				else if (more > 0)
					log_info("notify", "expiry scan: %llu more event(s)",
						 (unsigned long long)more);
			}
			json_array_foreach(problems, k, p)
				if (notify_material(n->db, p, &err) != 0)
					log_warn("notify", "CA material event: %s", cairn_err_msg(&err));
			json_decref(problems);
			next_scan = now + n->set.scan_interval;
		}
		for (i = 0; i < n->n_sinks && !notify_stopping(n); i++)
			notify_deliver_sink(n, &n->sinks[i]);
		notify_gc(n);
		pthread_mutex_lock(&n->mu);
		for (i = 0; i < n->n_sinks; i++) {
			t = n->sinks[i].next_attempt_ms;
			if (t != 0) {
				int64_t left = t - ((int64_t)time(NULL) * 1000);
				if (left > n->set.backoff_max_ms) /* the clock went back: due now */
					left = 0;
				if (left < wait_ms)
					wait_ms = left < 10 ? 10 : left;
			}
		}
		if (n->stop || n->kicked)
			continue;
		/* monotonic: a wall clock set back meanwhile does not stretch the wait */
		(void)time_mono_wait(&n->cv, &n->mu, time_mono_ms() + (uint64_t)wait_ms);
	}
	pthread_mutex_unlock(&n->mu);
	return NULL;
}

/* A secret file (relative to dir), a trailing newline cut; *out malloc'd. what names the key. */
static int load_file(const char *dir, const char *file, const char *what, char **out,
		     size_t *out_len, cairn_err_t *err)
{
	char *path = file[0] == '/' ? strdup(file) : fs_join(dir, file);
	size_t len = 0;
	int rc;

	if (path == NULL)
		return CAIRN_ENOMEM;
	rc = fs_read(path, 4096, out, &len);
	while (rc == 0 && len > 0 && ((*out)[len - 1] == '\n' || (*out)[len - 1] == '\r'))
		(*out)[--len] = '\0';
	if (rc != 0 || len == 0)
		rc = cairn_err_set(err, CAIRN_ECONFIG, "%s %s: %s", what, path,
				   rc ? cairn_strerror(rc) : "empty");
	if (out_len != NULL)
		*out_len = len;
	free(path);
	return rc;
}

static int load_secret(const char *dir, notify_sink_state_t *s, cairn_err_t *err)
{
	char what[96];

	snprintf(what, sizeof(what), "notify.webhooks %s: secret_file", s->conf.name);
	return load_file(dir, s->conf.secret_file, what, &s->secret, &s->secret_len, err);
}

struct settle_op {
	notify_t *n;
	uint64_t dropped;
};

static int settle_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct settle_op *o = arg;
	size_t i;
	int rc = 0;

	o->dropped = 0; /* the writer may run this twice */
	for (i = 0; i < o->n->n_sinks && rc == 0; i++)
		rc = notify_dead_settle(txn, o->n->sinks[i].conf.name,
					(uint64_t)o->n->set.dead_letters_max, &o->dropped);
	return rc ? cairn_err_set(err, rc, "notify: dead letters: %s", cairn_strerror(rc)) : 0;
}

/* Dead letters at start: counted once if stored before counts were kept, and the oldest
 * dropped when notify.dead_letters_max was lowered. A failure is logged: delivery goes on. */
static void settle_dead(notify_t *n)
{
	struct settle_op o = { n, 0 };
	cairn_err_t err = { 0 };

	if (n->n_sinks == 0)
		return;
	if (db_write(n->db, settle_run, &o, &err) != 0)
		log_warn("notify", "%s", cairn_err_msg(&err));
	else if (o.dropped > 0)
		log_warn("notify", "%llu oldest dead letter(s) dropped at start: more than "
			 "notify.dead_letters_max (%lld) of a sink", (unsigned long long)o.dropped,
			 (long long)n->set.dead_letters_max);
}

int notify_start(const notify_config_t *cfg, notify_t **out, cairn_err_t *err)
{
	notify_t *n = calloc(1, sizeof(*n));
	db_txn_t *txn = NULL;
	char name[96];
	size_t i;
	int rc = 0;

	*out = NULL;
	if (n == NULL)
		return CAIRN_ENOMEM;
	curl_global_init(CURL_GLOBAL_DEFAULT); /* reference-counted; the daemon's ACME did it first */
	n->db = cfg->db;
	n->set = *cfg->set;
	n->names = cfg->names;
	n->names_arg = cfg->names_arg;
	n->material = cfg->material;
	n->material_arg = cfg->material_arg;
	n->recipients = cfg->recipients;
	n->recipients_arg = cfg->recipients_arg;
	n->also_scan = cfg->also_scan;
	n->also_scan_arg = cfg->also_scan_arg;
	pthread_mutex_init(&n->mu, NULL);
	time_mono_cond_init(&n->cv); /* its waits are monotonic */
	/* libcurl reads the CA file by path: relative to the data dir like every other file. */
	if (n->set.smtp_ca_file[0] != '\0' && n->set.smtp_ca_file[0] != '/') {
		char *abs = fs_join(cfg->dir, n->set.smtp_ca_file);
		if (abs == NULL || strlen(abs) >= sizeof(n->set.smtp_ca_file)) {
			free(abs);
			rc = cairn_err_set(err, CAIRN_ECONFIG, "notify.smtp.ca_file: path too long");
			goto out;
		}
		memcpy(n->set.smtp_ca_file, abs, strlen(abs) + 1);
		free(abs);
	}
	n->n_sinks = n->set.n_sinks;
	for (i = 0; i < n->n_sinks; i++) {
		n->sinks[i].conf = n->set.sinks[i];
		if (!n->sinks[i].conf.email && (rc = load_secret(cfg->dir, &n->sinks[i], err)) != 0)
			goto out;
	}
	if (n->set.smtp_password_file[0] != '\0' &&
	    (rc = load_file(cfg->dir, n->set.smtp_password_file, "notify.smtp.password_file",
			    &n->smtp_password, NULL, err)) != 0)
		goto out;
	if ((rc = db_read_begin(n->db, &txn)) != 0)
		goto out;
	for (i = 0; i < n->n_sinks; i++) {
		notify_cursor_name(n->sinks[i].conf.name, name, sizeof(name));
		n->sinks[i].cursor = notify_meta_u64(txn, name);
	}
	db_txn_end(txn);
	settle_dead(n);
	if (pthread_create(&n->thread, NULL, worker_main, n) != 0) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "cannot start the notify worker");
		goto out;
	}
	n->running = 1;
	*out = n;
	return 0;
out:
	notify_free(n);
	return rc;
}

void notify_free(notify_t *n)
{
	size_t i;

	if (n == NULL)
		return;
	if (n->running) {
		pthread_mutex_lock(&n->mu);
		__atomic_store_n(&n->stop, 1, __ATOMIC_RELAXED); /* also read by an attempt under way */
		pthread_cond_signal(&n->cv);
		pthread_mutex_unlock(&n->mu);
		pthread_join(n->thread, NULL);
	}
	for (i = 0; i < n->n_sinks; i++) {
		if (n->sinks[i].secret != NULL)
			OPENSSL_cleanse(n->sinks[i].secret, n->sinks[i].secret_len);
		free(n->sinks[i].secret);
	}
	if (n->smtp_password != NULL)
		OPENSSL_cleanse(n->smtp_password, strlen(n->smtp_password));
	free(n->smtp_password);
	pthread_cond_destroy(&n->cv);
	pthread_mutex_destroy(&n->mu);
	free(n);
	curl_global_cleanup();
}

void notify_kick(notify_t *n)
{
	if (n == NULL)
		return;
	pthread_mutex_lock(&n->mu);
	n->kicked = 1;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

/* ---- status ---- */
struct prefix_walk {
	uint8_t prefix[80];
	size_t plen;
	json_t *into;
	int drop_event; /* dead letters: leave the stored body out */
	size_t left;    /* entries still to take; 0: no bound */
};

static int prefix_iter(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct prefix_walk *w = arg;
	json_t *j;

	if (klen < w->plen || memcmp(key, w->prefix, w->plen) != 0)
		return 1;
	if (w->left > 0 && --w->left == 0)
		return 1; /* the bound reached: this one is not taken */
	j = json_loadb(val, vlen, 0, NULL);
	if (j != NULL && w->drop_event)
		json_object_del(j, "event");
	if (j != NULL)
		json_array_append_new(w->into, j);
	return 0;
}

/* The entries of kind of sink, in key order, into the array into; at most most (0: all). */
static void walk(db_txn_t *txn, char kind, const char *sink, json_t *into, int drop, size_t most)
{
	struct prefix_walk w = { .into = into, .drop_event = drop, .left = most ? most + 1 : 0 };

	w.plen = notify_sink_key(kind, sink, 0, w.prefix, sizeof(w.prefix));
	if (w.plen == 0)
		return;
	w.plen -= 8;
	(void)db_iterate(txn, DB_OUTBOX, w.prefix, w.plen, prefix_iter, &w);
}

/* What GET /notify shows of a webhook's URL: scheme, host and port only. The user,
 * password, path and query stay out: a chat service's webhook URL is its credential,
 * and every read role (auditors, approvers) may see this list. "/..." marks a path. */
static void url_shown(const char *url, char *out, size_t cap)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL;

	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
		(void)curl_url_get(u, CURLUPART_PATH, &path, 0);
		(void)curl_url_get(u, CURLUPART_QUERY, &query, 0);
		snprintf(out, cap, "%s://%s:%s%s", scheme, host, port,
			 (path != NULL && strcmp(path, "/") != 0) || query != NULL ? "/..." : "/");
	} else {
		snprintf(out, cap, "(unparsable URL)");
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(u);
}

json_t *notify_status(notify_t *n)
{
	json_t *doc = json_pack("{s:[], s:[]}", "sinks", "dead"), *sinks, *dead, *log, *one;
	db_txn_t *txn = NULL;
	uint64_t seq;
	size_t i;

	if (doc == NULL || n == NULL || db_read_begin(n->db, &txn) != 0)
		return doc;
	sinks = json_object_get(doc, "sinks");
	dead = json_object_get(doc, "dead");
	seq = notify_meta_u64(txn, "notify_seq");
	json_object_set_new(doc, "last_event", json_integer((json_int_t)seq));
	for (i = 0; i < n->n_sinks; i++) {
		notify_sink_state_t *s = &n->sinks[i];
		char target[600];
		size_t t;
		if (s->conf.email) {
			snprintf(target, sizeof(target), "mailto:");
			for (t = 0; t < s->conf.n_to; t++)
				snprintf(target + strlen(target), sizeof(target) - strlen(target), "%s%s",
					 t ? "," : "", s->conf.to[t]);
			snprintf(target + strlen(target), sizeof(target) - strlen(target), "%s%s%s",
				 s->conf.to_owner ? "+owner" : "",
				 s->conf.to_approvers ? "+approvers" : "",
				 s->conf.digest ? " (daily digest)" : "");
		} else {
			url_shown(s->conf.url, target, sizeof(target));
		}
		log = json_array();
		walk(txn, NOTIFY_KEY_LOG, s->conf.name, log, 0, 0);
		walk(txn, NOTIFY_KEY_DEAD, s->conf.name, dead, 1, NOTIFY_DEAD_SHOWN);
		pthread_mutex_lock(&n->mu);
		one = json_pack("{s:s, s:s, s:I, s:I, s:i, s:I, s:I, s:I, s:s, s:I, s:I, s:o}",
				"name", s->conf.name, "url", target, "cursor",
				(json_int_t)s->cursor, "behind", (json_int_t)(seq - s->cursor),
				"tries", s->tries, "next_attempt_ms",
				(json_int_t)s->next_attempt_ms, "delivered",
				(json_int_t)s->delivered, "failed", (json_int_t)s->failed,
				"last_error", s->last_error, "dead_letters",
				(json_int_t)notify_dead_count(txn, s->conf.name), "dead_dropped",
				(json_int_t)notify_dead_dropped(txn, s->conf.name), "log",
				log ? log : json_array());
		pthread_mutex_unlock(&n->mu);
		json_array_append_new(sinks, one);
	}
	db_txn_end(txn);
	return doc;
}

/* ---- retry and test (audited) ---- */
struct retry_op {
	notify_t *n;
	const char *sink;
	uint64_t id;
	const char *actor;
	size_t count;
};

struct mark_walk {
	uint8_t prefix[96];
	size_t plen;
	const char *sink;
	uint64_t id;
	json_t *keys; /* [[hexkey, newtext]] collected: no writes while walking */
};

static int mark_iter(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct mark_walk *w = arg;
	uint64_t id;
	json_t *d;
	char *text;

	if (klen != w->plen + 8 || memcmp(key, w->prefix, w->plen) != 0)
		return 1;
	id = db_be64_get((const uint8_t *)key + w->plen);
	if (w->id != 0 && id != w->id)
		return 1; /* the walk of one id starts at its key */
	d = json_loadb(val, vlen, 0, NULL);
	if (d == NULL)
		return 0;
	json_object_set_new(d, "retry", json_true());
	text = json_dumps(d, JSON_COMPACT);
	json_decref(d);
	/* the sink and the id, not the key's bytes: a BE64 id is no UTF-8 text */
	if (text != NULL)
		json_array_append_new(w->keys, json_pack("{s:s, s:I, s:s}", "s", w->sink, "id",
							 (json_int_t)id, "v", text));
	free(text);
	return 0;
}

static int retry_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct retry_op *r = arg;
	json_t *keys = json_array(), *k, *details;
	audit_event_t ev = { r->actor, "notify.retry", NULL, NULL, NULL };
	size_t i, j;
	int rc = 0;

	r->count = 0;
	if (keys == NULL)
		return CAIRN_ENOMEM;
	for (i = 0; i < r->n->n_sinks; i++) {
		struct mark_walk w = { .sink = r->n->sinks[i].conf.name, .id = r->id, .keys = keys };
		if (r->sink != NULL && strcmp(r->sink, r->n->sinks[i].conf.name) != 0)
			continue;
		uint8_t start[96];
		size_t slen = notify_sink_key(NOTIFY_KEY_DEAD, r->n->sinks[i].conf.name, r->id,
					      start, sizeof(start));
		if (slen == 0)
			continue;
		w.plen = slen - 8;
		memcpy(w.prefix, start, w.plen);
		(void)db_iterate(txn, DB_OUTBOX, start, slen, mark_iter, &w);
	}
	json_array_foreach(keys, j, k) {
		const char *sink = json_string_value(json_object_get(k, "s"));
		uint64_t id = (uint64_t)json_integer_value(json_object_get(k, "id"));
		const char *v = json_string_value(json_object_get(k, "v"));
		uint8_t key[96];
		size_t klen = notify_sink_key(NOTIFY_KEY_DEAD, sink, id, key, sizeof(key));
		if ((rc = db_put(txn, DB_OUTBOX, key, klen, v, strlen(v), 0)) != 0 ||
		    (rc = notify_dead_mark(txn, sink, id, 1)) != 0)
			break;
	}
	r->count = json_array_size(keys);
	json_decref(keys);
	if (rc != 0)
		return cairn_err_set(err, rc, "notify retry: %s", cairn_strerror(rc));
	if (r->count == 0)
		return cairn_err_set(err, CAIRN_ENOENT, "no dead-lettered event matches");
	details = json_pack("{s:s?, s:I, s:I}", "sink", r->sink, "id", (json_int_t)r->id, "count",
			    (json_int_t)r->count);
	ev.details = details;
	rc = audit_append(txn, &ev, NULL, err);
	json_decref(details);
	return rc;
}

int notify_retry(notify_t *n, const char *sink, uint64_t id, const char *actor, size_t *count,
		 cairn_err_t *err)
{
	struct retry_op r = { n, sink, id, actor, 0 };
	size_t i;
	int rc;

	if (n == NULL)
		return cairn_err_set(err, CAIRN_ENOENT, "no notification sink is configured");
	if (sink != NULL) {
		for (i = 0; i < n->n_sinks && strcmp(n->sinks[i].conf.name, sink) != 0; i++)
			;
		if (i == n->n_sinks)
			return cairn_err_set(err, CAIRN_ENOENT, "no sink named %s", sink);
	}
	rc = db_write(n->db, retry_run, &r, err);
	if (rc == 0) {
		if (count != NULL)
			*count = r.count;
		pthread_mutex_lock(&n->mu);
		for (i = 0; i < n->n_sinks; i++)
			n->sinks[i].next_attempt_ms = 0;
		pthread_mutex_unlock(&n->mu);
		notify_kick(n);
	}
	return rc;
}

struct test_op {
	const char *sink, *actor;
	uint64_t id;
};

static int test_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct test_op *t = arg;
	json_t *data = json_pack("{s:s, s:s}", "sink", t->sink, "by", t->actor);
	audit_event_t ev = { t->actor, "notify.test", NULL, NULL, data };
	int rc = data ? notify_event(txn, "notify.test", data, &t->id, err) : CAIRN_ENOMEM;

	if (rc == 0)
		rc = audit_append(txn, &ev, NULL, err);
	json_decref(data);
	return rc;
}

int notify_test(notify_t *n, const char *sink, const char *actor, uint64_t *id,
		cairn_err_t *err)
{
	struct test_op t = { sink, actor, 0 };
	size_t i;
	int rc;

	for (i = 0; n != NULL && i < n->n_sinks && strcmp(n->sinks[i].conf.name, sink) != 0; i++)
		;
	if (n == NULL || i == n->n_sinks)
		return cairn_err_set(err, CAIRN_ENOENT, "no sink named %s", sink ? sink : "");
	rc = db_write(n->db, test_run, &t, err);
	if (rc == 0) {
		if (id != NULL)
			*id = t.id;
		notify_kick(n);
	}
	return rc;
}
