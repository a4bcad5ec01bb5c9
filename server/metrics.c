/* SPDX-License-Identifier: MIT */
/* /metrics: the Prometheus text exposition — counters kept in the database, request-duration
 * histograms kept in atomics, and the gauges an operator alerts on (docs/monitoring.md). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/internal.h"

#define DAY 86400

const char *const server_channel_names[SERVER_CHANNELS] = {
	[SERVER_CH_OTHER] = "other", [SERVER_CH_ACME] = "acme", [SERVER_CH_EST] = "est",
	[SERVER_CH_ADMIN] = "admin", [SERVER_CH_OCSP] = "ocsp", [SERVER_CH_CRL] = "crl",
};

/* Upper bounds of the histogram buckets in microseconds (+Inf is the count). From a
 * 1 ms OCSP cache hit to a 10 s ACME finalize waiting on approvals or a slow token. */
static const uint64_t bucket_us[SERVER_BUCKETS] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
	5000000, 10000000,
};

void server_observe(server_t *s, int channel, uint64_t us)
{
	server_hist_t *h;
	size_t b = 0;

	if (channel < 0 || channel >= SERVER_CHANNELS)
		channel = SERVER_CH_OTHER;
	h = &s->hist[channel];
	while (b < SERVER_BUCKETS && us > bucket_us[b])
		b++;
	/* Three relaxed adds: a scrape may see them a moment apart, never lost. */
	if (b < SERVER_BUCKETS)
		atomic_fetch_add_explicit(&h->bucket[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

/* ---- the text ---- */

void mtext_add(mtext_t *m, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (m->failed)
		return;
	for (;;) {
		size_t room = m->cap - m->len;
		va_start(ap, fmt);
		k = vsnprintf(m->p ? m->p + m->len : NULL, room, fmt, ap);
		va_end(ap);
		if (k < 0) {
			m->failed = 1;
			return;
		}
		if ((size_t)k < room) {
			m->len += (size_t)k;
			return;
		}
		{
			size_t cap = 2 * m->cap + (size_t)k + 1024;
			char *g = realloc(m->p, cap);
			if (g == NULL) {
				m->failed = 1;
				return;
			}
			m->p = g;
			m->cap = cap;
		}
	}
}

void mtext_family(mtext_t *m, const char *name, const char *type, const char *help)
{
	mtext_add(m, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and newline escaped (exposition format), into out (cap bytes). */
const char *mtext_label(const char *v, char *out, size_t cap)
{
	size_t o = 0;

	for (; *v != '\0' && o + 3 < cap; v++) {
		if (*v == '\\' || *v == '"' || *v == '\n') {
			out[o++] = '\\';
			out[o++] = *v == '\n' ? 'n' : *v;
		} else {
			out[o++] = *v;
		}
	}
	out[o] = '\0';
	return out;
}

/* ---- certificates ---- */

/* The expiring gauges per profile: within 7d, 30d; within 7d and not renewed. Computed by
 * the expiry gauge thread (below), read by scrapes. */
struct server_expiring {
	uint64_t gen;      /* s->exp_gen when computed: certificates changed since when less */
	double at;         /* unix time the computation started (its snapshot is later) */
	int64_t next_due;  /* when the first certificate enters or leaves a window */
	size_t n;
	char profile[DB_COUNT_PROFILES][64];
	int64_t soon[DB_COUNT_PROFILES][3];
};

struct cert_rows {
	db_cert_count_t row[DB_COUNT_PROFILES];
	size_t n;
	struct server_expiring exp;
	int64_t now;
	db_txn_t *txn;
};

static int count_cb(const db_cert_count_t *c, void *arg)
{
	struct cert_rows *r = arg;

	if (r->n < DB_COUNT_PROFILES)
		r->row[r->n++] = *c;
	return 0;
}

/* The row of profile in e (added at zero when new); NULL when e is full. */
static int64_t *soon_of(struct server_expiring *e, const char *profile)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (strcmp(e->profile[i], profile) == 0)
			return e->soon[i];
	if (e->n == DB_COUNT_PROFILES)
		return NULL;
	snprintf(e->profile[e->n], sizeof(e->profile[0]), "%s", profile);
	memset(e->soon[e->n], 0, sizeof(e->soon[0]));
	return e->soon[e->n++];
}

static void due_at(struct server_expiring *e, int64_t t)
{
	if (t < e->next_due)
		e->next_due = t;
}

static int expiring_cb(const db_cert_t *c, void *arg)
{
	struct cert_rows *r = arg;
	int64_t *soon;

	/* The window moves: the answer changes when a certificate leaves it (its notAfter)
	 * or enters the 7-day one; revoked ones count too (an earlier look does no harm). */
	due_at(&r->exp, c->not_after + 1);
	if (c->not_after >= r->now + 7 * DAY)
		due_at(&r->exp, c->not_after - 7 * DAY + 1);
	if (c->status != DB_CERT_VALID || (soon = soon_of(&r->exp, c->profile)) == NULL)
		return 0;
	soon[1]++;
	if (c->not_after < r->now + 7 * DAY) {
		/* Only this window pays for the renewal check (a DER parse and name lookups). */
		json_t *names = server_cert_names(c->der, c->der_len, NULL);
		soon[0]++;
		soon[2] += notify_cert_renewed(r->txn, c, names) != 1;
		json_decref(names);
	}
	return 0;
}

/* The first certificate past the 30-day window: it enters the window 30 days before its
 * notAfter. */
static int enters_cb(const db_cert_t *c, void *arg)
{
	struct cert_rows *r = arg;

	due_at(&r->exp, c->not_after - 30 * DAY + 1);
	return 1;
}

/*
 * The expiring gauges into *e: the by_expiry scan of [now, now + 30d) costs what expires
 * in 30 days (~190 ms for 150k such certificates, bench/metrics_bench; ~822k rows at 10M,
 * docs/scaling.md) plus the renewal check of the 7-day ones. Run by the gauge thread,
 * never by a scrape. Returns 0 or a db code.
 */
static int expiring_compute(server_t *s, struct server_expiring *e)
{
	struct cert_rows *r = calloc(1, sizeof(*r));
	struct timespec ts;
	int rc;

	if (r == NULL)
		return CAIRN_ENOMEM;
	clock_gettime(CLOCK_REALTIME, &ts);
	r->exp.gen = atomic_load(&s->exp_gen); /* before the snapshot: changes after it count */
	r->exp.at = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	r->exp.next_due = INT64_MAX;
	r->now = (int64_t)ts.tv_sec;
	if ((rc = db_read_begin(s->db, &r->txn)) != 0) {
		free(r);
		return rc;
	}
	rc = db_certs_by_expiry(r->txn, r->now, r->now + 30 * DAY, expiring_cb, r);
	if (rc == 0)
		rc = db_certs_by_expiry(r->txn, r->now + 30 * DAY, INT64_MAX, enters_cb, r);
	db_txn_end(r->txn);
	if (rc >= 0)
		*e = r->exp;
	free(r);
	return rc < 0 ? rc : 0;
}

/* Computed at most this often after certificates change: at least a second apart, and at
 * least ten times as long apart as a computation takes (a tenth of a core at most). */
#define EXP_MIN_GAP_S 1.0
#define EXP_GAP_FACTOR 10.0

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The expiry gauge thread: computes at start, after certificates were issued or revoked
 * (server_metrics_changed), and when the moving windows reach a certificate. */
static void *expiring_main(void *arg)
{
	server_t *s = arg;
	struct server_expiring e;
	double gap = EXP_MIN_GAP_S, took;
	int rc;

	pthread_mutex_lock(&s->metrics_lock);
	while (!s->exp_stop) {
		pthread_mutex_unlock(&s->metrics_lock);
		took = now_s();
		rc = expiring_compute(s, &e);
		took = now_s() - took;
		gap = took * EXP_GAP_FACTOR > EXP_MIN_GAP_S ? took * EXP_GAP_FACTOR : EXP_MIN_GAP_S;
		pthread_mutex_lock(&s->metrics_lock);
		if (rc != 0) {
			log_warn("metrics", "computing the expiring gauges: %s", cairn_strerror(rc));
			e.gen = atomic_load(&s->exp_gen);
			e.at = now_s();
			e.next_due = (int64_t)now_s() + 60;
		} else {
			if (s->expiring == NULL)
				s->expiring = malloc(sizeof(*s->expiring));
			if (s->expiring != NULL)
				*s->expiring = e;
		}
		/* Not again before the gap; then at the next change or window boundary. */
		{
			uint64_t until = time_mono_ms() + (uint64_t)(gap * 1000);
			while (!s->exp_stop &&
			       time_mono_wait(&s->exp_wake, &s->metrics_lock, until) == 0)
				;
		}
		/* ... or when the wall clock went back behind the computation (the windows
		 * moved back with it) */
		while (!s->exp_stop && atomic_load(&s->exp_gen) == e.gen &&
		       (int64_t)now_s() < e.next_due && !time_ahead((int64_t)e.at, (int64_t)now_s()))
			time_wait_until(&s->exp_wake, &s->metrics_lock, e.next_due);
	}
	pthread_mutex_unlock(&s->metrics_lock);
	return NULL;
}

void server_metrics_changed(const char *issuer, const uint8_t *serial, size_t len, void *arg)
{
	server_t *s = arg;
	(void)issuer;
	(void)serial;
	(void)len;

	atomic_fetch_add(&s->exp_gen, 1);
	pthread_mutex_lock(&s->metrics_lock);
	pthread_cond_signal(&s->exp_wake);
	pthread_mutex_unlock(&s->metrics_lock);
}

int server_metrics_start(server_t *s, cairn_err_t *err)
{
	time_mono_cond_init(&s->exp_wake); /* monotonic waits: time_wait_until */
	if (ca_on_issue(s->ca, server_metrics_changed, s) != 0 ||
	    ca_on_revoke(s->ca, server_metrics_changed, s) != 0)
		return cairn_err_set(err, CAIRN_EINVAL, "cannot register the metrics listeners");
	if (pthread_create(&s->exp_thread, NULL, expiring_main, s) != 0)
		return cairn_err_set(err, CAIRN_ENOMEM, "cannot start the expiry gauge thread");
	s->exp_running = 1;
	return 0;
}

void server_metrics_stop(server_t *s)
{
	if (!s->exp_running)
		return;
	pthread_mutex_lock(&s->metrics_lock);
	s->exp_stop = 1;
	pthread_cond_signal(&s->exp_wake);
	pthread_mutex_unlock(&s->metrics_lock);
	pthread_join(s->exp_thread, NULL);
	pthread_cond_destroy(&s->exp_wake);
	s->exp_running = 0;
}

static int advance_op(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	(void)err;
	return db_cert_counts_advance(txn, *(const int64_t *)arg);
}

static void certificate_metrics(server_t *s, mtext_t *m, db_txn_t *txn, int64_t now,
				size_t *walked)
{
	static const char *const status[3] = { "valid", "revoked", "expired" };
	struct cert_rows *r = calloc(1, sizeof(*r));
	int have = 0, outdated;
	char p[160];
	size_t i, k;

	if (r == NULL) {
		m->failed = 1;
		return;
	}
	r->now = now;
	r->txn = txn;
	if (db_cert_counts(txn, now, count_cb, r, walked) != 0)
		goto out;
	pthread_mutex_lock(&s->metrics_lock);
	if (s->expiring != NULL) {
		r->exp = *s->expiring;
		have = 1;
	}
	pthread_mutex_unlock(&s->metrics_lock);
	outdated = !have || r->exp.gen != atomic_load(&s->exp_gen);
	mtext_family(m, "cairn_certificates", "gauge",
		     "Certificates in the database by status (revoked: whatever the notAfter; "
		     "expired: not revoked, past notAfter) and profile.");
	for (i = 0; i < r->n; i++) {
		int64_t v[3] = { r->row[i].valid, r->row[i].revoked, r->row[i].expired };
		mtext_label(r->row[i].profile, p, sizeof(p));
		for (k = 0; k < 3; k++)
			mtext_add(m, "cairn_certificates{status=\"%s\",profile=\"%s\"} %lld\n", status[k],
				  p, (long long)v[k]);
	}
	mtext_family(m, "cairn_certificates_expiring_computed_timestamp_seconds", "gauge",
		     "When the expiring gauges were computed (in the background: at start, "
		     "after certificates are issued or revoked, when the window reaches one).");
	mtext_add(m, "cairn_certificates_expiring_computed_timestamp_seconds %.3f\n",
		  have ? r->exp.at : 0.0);
	mtext_family(m, "cairn_certificates_expiring_outdated", "gauge",
		     "1 while certificates issued or revoked since that computation are not in "
		     "the expiring gauges yet (the next one follows within seconds).");
	mtext_add(m, "cairn_certificates_expiring_outdated %d\n", outdated);
	if (!have)
		goto out; /* the first computation since the start runs */
	/* Every profile with certificates gets its rows, at 0 when nothing expires. */
	for (i = 0; i < r->n; i++)
		(void)soon_of(&r->exp, r->row[i].profile);
	mtext_family(m, "cairn_certificates_expiring", "gauge",
		     "Valid certificates whose notAfter falls within the window from now (30d "
		     "includes 7d), renewed ones included.");
	for (i = 0; i < r->exp.n; i++) {
		mtext_label(r->exp.profile[i], p, sizeof(p));
		mtext_add(m, "cairn_certificates_expiring{profile=\"%s\",within=\"7d\"} %lld\n", p,
			  (long long)r->exp.soon[i][0]);
		mtext_add(m, "cairn_certificates_expiring{profile=\"%s\",within=\"30d\"} %lld\n", p,
			  (long long)r->exp.soon[i][1]);
	}
	mtext_family(m, "cairn_certificates_expiring_unrenewed", "gauge",
		     "Valid certificates expiring within 7 days that no later certificate of the "
		     "same requester for every one of their names replaces.");
	for (i = 0; i < r->exp.n; i++)
		mtext_add(m, "cairn_certificates_expiring_unrenewed{profile=\"%s\",within=\"7d\"} %lld\n",
			  mtext_label(r->exp.profile[i], p, sizeof(p)), (long long)r->exp.soon[i][2]);
out:
	free(r);
}

struct counter_out {
	mtext_t *m;
	const char *metric;
	const char *label[2];
	int reason;      /* the single label is a CRLReason code: print its name */
	int64_t sum;
	const char *only; /* requests: the status wanted */
};

static int counter_cb(const char *const *labels, size_t n, int64_t v, void *arg)
{
	struct counter_out *o = arg;
	char a[160], b[160];

	if (o->only != NULL) {
		if (n == 1 && strcmp(labels[0], o->only) == 0)
			o->sum += v;
		return 0;
	}
	if (n == 1 && o->label[1] == NULL)
		mtext_add(o->m, "%s{%s=\"%s\"} %lld\n", o->metric, o->label[0],
			  o->reason ? ca_reason_name(atoi(labels[0]))
				    : mtext_label(labels[0], a, sizeof(a)),
			  (long long)v);
	else if (n == 2 && o->label[1] != NULL)
		mtext_add(o->m, "%s{%s=\"%s\",%s=\"%s\"} %lld\n", o->metric, o->label[0],
			  mtext_label(labels[0], a, sizeof(a)), o->label[1],
			  mtext_label(labels[1], b, sizeof(b)), (long long)v);
	return 0;
}

/* The last backup recorded (cairn backup's ca.backup event) and the changes of the CA's
 * keys and certificates since, which a restore of it would lack. */
static void backup_metrics(mtext_t *m, db_txn_t *txn)
{
	int64_t last = 0, changes = 0;

	if (db_counter_get(txn, "backup_last", NULL, 0, &last) != 0)
		last = 0;
	if (db_counter_get(txn, "backup_changes", NULL, 0, &changes) != 0)
		changes = 0;
	mtext_family(m, "cairn_backup_last_timestamp_seconds", "gauge",
		     "When the last backup recorded was taken (cairn backup, or the archive a "
		     "restore came from); 0: none recorded.");
	mtext_add(m, "cairn_backup_last_timestamp_seconds %lld\n", (long long)last);
	mtext_family(m, "cairn_backup_changes_pending", "gauge",
		     "Changes of the CA's keys and certificates (init, renewals, rotations, "
		     "rollovers, imports) since the last backup: a restore of it lacks them.");
	mtext_add(m, "cairn_backup_changes_pending %lld\n", (long long)changes);
}

static void counter_metrics(mtext_t *m, db_txn_t *txn)
{
	struct counter_out o = { m, "cairn_issued_total", { "channel", "profile" }, 0, 0, NULL };

	mtext_family(m, "cairn_issued_total", "counter",
		     "Certificates issued by channel and profile (kept in the database: survives "
		     "restarts; channel internal: the CA's own, unknown: issued before counting).");
	(void)db_counters(txn, "issued", counter_cb, &o);
	o.metric = "cairn_revoked_total";
	o.label[0] = "reason";
	o.label[1] = NULL;
	o.reason = 1;
	mtext_family(m, "cairn_revoked_total", "counter",
		     "Revocations by RFC 5280 reason (kept in the database: survives restarts).");
	(void)db_counters(txn, "revocations", counter_cb, &o);
	o.only = "pending";
	(void)db_counters(txn, "requests", counter_cb, &o);
	mtext_family(m, "cairn_requests_pending", "gauge",
		     "Certificate requests waiting for approvals.");
	mtext_add(m, "cairn_requests_pending %lld\n", (long long)o.sum);
	backup_metrics(m, txn);
}

/* ---- notification sinks ---- */

static const char *jname(const json_t *sink)
{
	const char *n = json_string_value(json_object_get(sink, "name"));
	return n ? n : "";
}

static void notify_metrics(server_t *s, mtext_t *m)
{
	json_t *st = s->notify ? notify_status(s->notify) : NULL;
	json_t *sinks = json_object_get(st, "sinks"), *one;
	char name[160];
	size_t i;

	mtext_family(m, "cairn_notify_deliveries_total", "counter",
		     "Delivery attempts per sink since the daemon started, by result.");
	json_array_foreach(sinks, i, one) {
		mtext_label(jname(one), name,
			    sizeof(name));
		mtext_add(m, "cairn_notify_deliveries_total{sink=\"%s\",result=\"delivered\"} %lld\n",
			  name, (long long)json_integer_value(json_object_get(one, "delivered")));
		mtext_add(m, "cairn_notify_deliveries_total{sink=\"%s\",result=\"failed\"} %lld\n",
			  name, (long long)json_integer_value(json_object_get(one, "failed")));
	}
	mtext_family(m, "cairn_notify_backlog_events", "gauge",
		     "Events written to the outbox that the sink has not got to yet.");
	json_array_foreach(sinks, i, one) {
		mtext_label(jname(one), name,
			    sizeof(name));
		mtext_add(m, "cairn_notify_backlog_events{sink=\"%s\"} %lld\n", name,
			  (long long)json_integer_value(json_object_get(one, "behind")));
	}
	mtext_family(m, "cairn_notify_dead_letters", "gauge",
		     "Events given up on for the sink (cairn notify retry puts them back).");
	json_array_foreach(sinks, i, one) {
		mtext_label(jname(one), name, sizeof(name));
		mtext_add(m, "cairn_notify_dead_letters{sink=\"%s\"} %lld\n", name,
			  (long long)json_integer_value(json_object_get(one, "dead_letters")));
	}
	mtext_family(m, "cairn_notify_dead_letters_dropped_total", "counter",
		     "The sink's oldest dead letters dropped past notify.dead_letters_max.");
	json_array_foreach(sinks, i, one) {
		mtext_label(jname(one), name, sizeof(name));
		mtext_add(m, "cairn_notify_dead_letters_dropped_total{sink=\"%s\"} %lld\n", name,
			  (long long)json_integer_value(json_object_get(one, "dead_dropped")));
	}
	json_decref(st);
}

/* ---- request durations ---- */

static void duration_metrics(server_t *s, mtext_t *m)
{
	int c;
	size_t b;

	mtext_family(m, "cairn_http_request_duration_seconds", "histogram",
		     "Time from a request's headers to its answer being queued, by channel.");
	for (c = 0; c < SERVER_CHANNELS; c++) {
		server_hist_t *h = &s->hist[c];
		uint64_t count = atomic_load(&h->count), cum = 0;
		for (b = 0; b < SERVER_BUCKETS; b++) {
			cum += atomic_load(&h->bucket[b]);
			mtext_add(m, "cairn_http_request_duration_seconds_bucket{channel=\"%s\",le=\"%g\"} %llu\n",
				  server_channel_names[c], (double)bucket_us[b] / 1e6,
				  (unsigned long long)cum);
		}
		/* count is read first: +Inf never falls below a bucket read after it. */
		mtext_add(m, "cairn_http_request_duration_seconds_bucket{channel=\"%s\",le=\"+Inf\"} %llu\n",
			  server_channel_names[c], (unsigned long long)(count > cum ? count : cum));
		mtext_add(m, "cairn_http_request_duration_seconds_sum{channel=\"%s\"} %.6f\n",
			  server_channel_names[c], (double)atomic_load(&h->sum_us) / 1e6);
		mtext_add(m, "cairn_http_request_duration_seconds_count{channel=\"%s\"} %llu\n",
			  server_channel_names[c], (unsigned long long)(count > cum ? count : cum));
	}
}

/* The listeners' connections beside their limits, and the process's file descriptors
 * beside theirs (conns.c): a listener at its limit keeps new clients waiting; a process
 * out of descriptors can neither accept nor open what its own work needs. */
static void conn_metrics(server_t *s, mtext_t *m)
{
	struct MHD_Daemon *d[2] = { s->https, s->http };
	static const char *const name[2] = { "https", "http" };
	long open_fds = server_open_fds();
	int i;

	mtext_family(m, "cairn_http_connections", "gauge", "Connections open, by listener.");
	for (i = 0; i < 2; i++)
		if (d[i] != NULL)
			mtext_add(m, "cairn_http_connections{listener=\"%s\"} %u\n", name[i],
				  atomic_load_explicit(&s->conns[i], memory_order_relaxed));
	mtext_family(m, "cairn_http_connections_max", "gauge",
		     "Connections a listener holds at most (server.max_connections, or less "
		     "when the file descriptor limit is short: the start-up log says so).");
	for (i = 0; i < 2; i++)
		if (d[i] != NULL)
			mtext_add(m, "cairn_http_connections_max{listener=\"%s\"} %u\n", name[i],
				  s->conn_max);
	if (open_fds >= 0) {
		mtext_family(m, "process_open_fds", "gauge", "Open file descriptors.");
		mtext_add(m, "process_open_fds %ld\n", open_fds);
	}
	if (s->fd_limit > 0) {
		mtext_family(m, "process_max_fds", "gauge",
			     "The file descriptor limit (soft RLIMIT_NOFILE, as raised at start).");
		mtext_add(m, "process_max_fds %lu\n", s->fd_limit);
	}
}

/* The ACME table's size and what the retention sweep took from it. */
static void acme_metrics(server_t *s, mtext_t *m, db_txn_t *txn)
{
	acme_sweep_stats_t st;

	if (s->acme == NULL)
		return;
	acme_sweep_stats(s->acme, &st);
	mtext_family(m, "cairn_acme_records", "gauge",
		     "Records in the ACME table: accounts, orders, authorizations and their index "
		     "entries.");
	mtext_add(m, "cairn_acme_records %zu\n", db_count(txn, DB_ACME));
	mtext_family(m, "cairn_acme_swept_total", "counter",
		     "Deleted by the retention sweep since start: orders and authorizations past "
		     "acme.retention_days, failed-validation entries past their hour.");
	mtext_add(m, "cairn_acme_swept_total{kind=\"order\"} %llu\n"
		      "cairn_acme_swept_total{kind=\"authorization\"} %llu\n"
		      "cairn_acme_swept_total{kind=\"failed_validation\"} %llu\n",
		  (unsigned long long)st.orders, (unsigned long long)st.authzs,
		  (unsigned long long)st.failures);
	mtext_family(m, "cairn_acme_sweep_last_timestamp_seconds", "gauge",
		     "Unix time the last retention sweep ended whole (hourly; 0: none yet).");
	mtext_add(m, "cairn_acme_sweep_last_timestamp_seconds %lld\n", (long long)st.last);
}

void server_metrics_front(server_t *s, mtext_t *m)
{
	mtext_family(m, "cairn_up", "gauge", "1 while the daemon serves.");
	mtext_add(m, "cairn_up 1\n");
	mtext_family(m, "cairn_start_time_seconds", "gauge", "Unix time the daemon started.");
	mtext_add(m, "cairn_start_time_seconds %lld\n", (long long)s->started);
	mtext_family(m, "cairn_http_requests_total", "counter", "HTTP requests by listener.");
	mtext_add(m, "cairn_http_requests_total{listener=\"https\"} %lu\n"
		      "cairn_http_requests_total{listener=\"http\"} %lu\n",
		  atomic_load(&s->requests[0]), atomic_load(&s->requests[1]));
	mtext_family(m, "cairn_http_responses_total", "counter",
		     "HTTP responses by status class.");
	mtext_add(m, "cairn_http_responses_total{code=\"2xx\"} %lu\n"
		      "cairn_http_responses_total{code=\"4xx\"} %lu\n"
		      "cairn_http_responses_total{code=\"5xx\"} %lu\n",
		  atomic_load(&s->responses[2]), atomic_load(&s->responses[4]),
		  atomic_load(&s->responses[5]));
	duration_metrics(s, m);
	conn_metrics(s, m);
	{
		uint64_t dropped, blocked_ms;
		int64_t since;
		log_state(&dropped, &since, &blocked_ms);
		mtext_family(m, "cairn_log_lines_dropped_total", "counter",
			     "Log lines dropped since start because stderr was not read (more "
			     "than 4 MiB waiting): the daemon went on, the log misses them.");
		mtext_add(m, "cairn_log_lines_dropped_total %llu\n", (unsigned long long)dropped);
	}
}

int server_metrics(server_t *s, char **text, size_t *len)
{
	mtext_t m = { 0 };
	db_txn_t *txn;
	uint64_t map = 0, used = 0;
	int64_t now = (int64_t)time(NULL);
	size_t walked = 0;

	server_metrics_front(s, &m);
	if (db_read_begin(s->db, &txn) == 0) {
		certificate_metrics(s, &m, txn, now, &walked);
		counter_metrics(&m, txn);
		mtext_family(&m, "cairn_audit_events", "gauge", "Events in the audit log.");
		mtext_add(&m, "cairn_audit_events %zu\n", db_count(txn, DB_AUDIT));
		acme_metrics(s, &m, txn);
		db_txn_end(txn);
	}
	/* What expired since the stored horizon was walked: move the horizon (one small
	 * durable write) so the next scrape starts from here. No read txn may be open. */
	if (walked > 0) {
		cairn_err_t err = { 0 };
		if (db_write(s->db, advance_op, &now, &err) != 0)
			log_warn("metrics", "moving the expiry horizon: %s", cairn_err_msg(&err));
	}
	{
		uint64_t commits = 0, writes = 0, lone = 0;
		db_stats(s->db, &commits, &writes, &lone);
		mtext_family(&m, "cairn_db_commits_total", "counter",
			     "Durable LMDB commits since the daemon started (group commit: one "
			     "commit holds every write queued meanwhile).");
		mtext_add(&m, "cairn_db_commits_total %llu\n", (unsigned long long)commits);
		mtext_family(&m, "cairn_db_writes_total", "counter",
			     "Write operations committed or refused since the daemon started; "
			     "writes / commits is the mean group size.");
		mtext_add(&m, "cairn_db_writes_total %llu\n", (unsigned long long)writes);
		mtext_family(&m, "cairn_db_lone_background_commits_total", "counter",
			     "Of the commits, those that held only background writes (OCSP "
			     "pre-signed answers) after they waited 200 ms for another write "
			     "to share it in vain.");
		mtext_add(&m, "cairn_db_lone_background_commits_total %llu\n",
			  (unsigned long long)lone);
	}
	if (db_usage(s->db, &map, &used) == 0) {
		mtext_family(&m, "cairn_db_map_size_bytes", "gauge",
			     "Size of the LMDB map (grows on demand).");
		mtext_add(&m, "cairn_db_map_size_bytes %llu\n", (unsigned long long)map);
		mtext_family(&m, "cairn_db_used_bytes", "gauge",
			     "Bytes of the map in use (up to the last page written).");
		mtext_add(&m, "cairn_db_used_bytes %llu\n", (unsigned long long)used);
	}
	{
		util_failrun_t w, t = { 0 };
		hsm_stuck_t stuck;
		uint64_t free_bytes, size_bytes;
		db_write_state(s->db, &w);
		if (s->hsm != NULL)
			hsm_sign_state(s->hsm, &t);
		mtext_family(&m, "cairn_token_sign_failures_total", "counter",
			     "Signatures the token refused or failed since the daemon started (a "
			     "token that dropped off): what needed them was refused or retried.");
		mtext_add(&m, "cairn_token_sign_failures_total %llu\n",
			  (unsigned long long)t.failures);
		mtext_family(&m, "cairn_token_relogins_total", "counter",
			     "Logins to the token again after it forgot the daemon's sessions, "
			     "login or key copies (an HSM reset), since the daemon started.");
		mtext_add(&m, "cairn_token_relogins_total %lu\n",
			  s->hsm != NULL ? hsm_relogins(s->hsm) : 0UL);
		hsm_token_stuck(s->hsm, &stuck);
		mtext_family(&m, "cairn_token_timeout_seconds", "gauge",
			     "How long a token call (a signature, a key generation) is waited for "
			     "(token.timeout); 0: no bound, the thread that asks makes the calls.");
		mtext_add(&m, "cairn_token_timeout_seconds %llu\n",
			  (unsigned long long)(stuck.timeout_ms / 1000));
		mtext_family(&m, "cairn_token_calls_stuck", "gauge",
			     "Calls in the token for longer than token.timeout (a network HSM "
			     "whose link died answers nothing): token calls are refused meanwhile.");
		mtext_add(&m, "cairn_token_calls_stuck %u\n", stuck.calls);
		mtext_family(&m, "cairn_token_timeouts_total", "counter",
			     "Token calls given up after token.timeout, or refused at once while "
			     "the token did not answer, since the daemon started.");
		mtext_add(&m, "cairn_token_timeouts_total %lu\n", stuck.timeouts);
		mtext_family(&m, "cairn_db_commit_failures_total", "counter",
			     "Commits that failed since the daemon started (a full disk, an I/O "
			     "error): none of their writes was stored or answered as done.");
		mtext_add(&m, "cairn_db_commit_failures_total %llu\n",
			  (unsigned long long)w.failures);
		if (db_disk(s->db, &free_bytes, &size_bytes) == 0) {
			mtext_family(&m, "cairn_disk_free_bytes", "gauge",
				     "Free space on the disk holding the database (what an "
				     "unprivileged writer may still use).");
			mtext_add(&m, "cairn_disk_free_bytes %llu\n",
				  (unsigned long long)free_bytes);
			mtext_family(&m, "cairn_disk_size_bytes", "gauge",
				     "Size of the disk holding the database.");
			mtext_add(&m, "cairn_disk_size_bytes %llu\n",
				  (unsigned long long)size_bytes);
		}
	}
	notify_metrics(s, &m);
	if (s->est != NULL) {
		uint64_t pw = 0, cache = 0, conn = 0;
		est_login_stats(s->est, &pw, &cache, &conn);
		mtext_family(&m, "cairn_est_basic_logins_total", "counter",
			     "EST HTTP Basic logins accepted, by how: the slow password hash, the "
			     "in-memory login cache, the login of the same TLS connection.");
		mtext_add(&m,
			  "cairn_est_basic_logins_total{via=\"password\"} %llu\n"
			  "cairn_est_basic_logins_total{via=\"cache\"} %llu\n"
			  "cairn_est_basic_logins_total{via=\"connection\"} %llu\n",
			  (unsigned long long)pw, (unsigned long long)cache,
			  (unsigned long long)conn);
	}
	server_revocation_metrics(s, &m);
	server_health_metrics(s, &m);
	server_audit_metrics(s, &m);
	/* Last, so it includes what this scrape walked. */
	mtext_family(&m, "cairn_db_entries_walked_total", "counter",
		     "Database entries (index entries and records) visited by walks since start.");
	mtext_add(&m, "cairn_db_entries_walked_total %llu\n", (unsigned long long)db_walked(s->db));
	if (m.failed || m.p == NULL) {
		free(m.p);
		return CAIRN_ENOMEM;
	}
	*text = m.p;
	*len = m.len;
	return 0;
}
