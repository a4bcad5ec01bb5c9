/* SPDX-License-Identifier: MIT */
/* discover.schedules: TLS discovery scans the daemon runs by itself (at start-up, then every
 * interval), recorded in the inventory like `cairn discover` does, by "server:discover". */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "inventory/inventory.h"
#include "server/internal.h"

#define SCHEDULES_MAX 16
#define PARALLEL_DEFAULT 32 /* discover.schedules.*.parallel */

typedef struct schedule {
	char name[64];
	const char *targets, *ports; /* borrowed from the config */
	int64_t interval, next;
	int timeout_ms, parallel, rate;
} schedule_t;

struct server_discover {
	server_t *s;
	schedule_t sched[SCHEDULES_MAX];
	size_t n;
	const char *allowed[INV_ALLOWED_MAX];
	size_t n_allowed;
	X509_STORE *cairn_roots, *system_roots;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
};

/* What one scan found, imported in batches of INV_BATCH_MAX. */
typedef struct found {
	inv_item_t *items;
	uint8_t **ders;
	char **wheres, **snis;
	json_t **tls;
	size_t n, cap;
} found_t;

static void on_result(const inv_scan_result_t *r, void *arg)
{
	found_t *f = arg;
	unsigned char *der = NULL;
	char where[320];
	int len;

	if (r->tls == NULL || f->n == f->cap)
		return;
	len = i2d_X509(sk_X509_value(r->chain, 0), &der);
	if (len <= 0)
		return;
	inv_endpoint_name(r, where, sizeof(where));
	f->ders[f->n] = der;
	f->wheres[f->n] = strdup(where);
	f->snis[f->n] = r->sni ? strdup(r->sni) : NULL;
	f->tls[f->n] = json_incref(r->tls);
	f->items[f->n] = (inv_item_t){ der, (size_t)len, "tls", f->wheres[f->n], f->snis[f->n],
				       NULL, NULL, f->tls[f->n] };
	f->n++;
}

static void run_one(struct server_discover *d, const schedule_t *sc)
{
	inv_scan_opts_t o = { .targets = sc->targets, .ports = sc->ports, .allowed = d->allowed,
			      .n_allowed = d->n_allowed, .parallel = sc->parallel,
			      .connect_ms = sc->timeout_ms, .handshake_ms = sc->timeout_ms,
			      .rate = sc->rate, .cairn_roots = d->cairn_roots,
			      .system_roots = d->system_roots };
	found_t f = { 0 };
	cairn_err_t err = { 0 };
	inv_trust_t *trust = inv_trust_new(d->s->ca);
	char source[96];
	size_t i, added = 0;

	f.cap = INV_SCAN_MAX_TARGETS;
	f.items = calloc(f.cap, sizeof(*f.items));
	f.ders = calloc(f.cap, sizeof(*f.ders));
	f.wheres = calloc(f.cap, sizeof(*f.wheres));
	f.snis = calloc(f.cap, sizeof(*f.snis));
	f.tls = calloc(f.cap, sizeof(*f.tls));
	if (trust == NULL || !f.items || !f.ders || !f.wheres || !f.snis || !f.tls) {
		log_warn("discover", "schedule %s: out of memory", sc->name);
		goto out;
	}
	if (inventory_scan(&o, on_result, &f, &err) != 0) {
		log_warn("discover", "schedule %s: %s", sc->name, cairn_err_msg(&err));
		goto out;
	}
	snprintf(source, sizeof(source), "discover schedule %s", sc->name);
	for (i = 0; i < f.n; i += INV_BATCH_MAX) {
		size_t n = f.n - i < INV_BATCH_MAX ? f.n - i : INV_BATCH_MAX;
		json_t *res = NULL;
		if (inventory_import(d->s->db, trust, f.items + i, n, source, "server:discover", &res,
				     &err) != 0) {
			log_warn("discover", "schedule %s: recording: %s", sc->name, cairn_err_msg(&err));
			break;
		}
		added += (size_t)json_integer_value(json_object_get(res, "added"));
		json_decref(res);
	}
	log_info("discover", "schedule %s: %zu endpoint(s) served TLS, %zu new certificate(s)",
		 sc->name, f.n, added);
out:
	for (i = 0; i < f.n; i++) {
		OPENSSL_free(f.ders[i]);
		free(f.wheres[i]);
		free(f.snis[i]);
		json_decref(f.tls[i]);
	}
	free(f.items);
	free(f.ders);
	free(f.wheres);
	free(f.snis);
	free(f.tls);
	inv_trust_free(trust);
}

static void *discover_main(void *arg)
{
	struct server_discover *d = arg;
	size_t i;

	pthread_mutex_lock(&d->mu);
	while (!d->stop) {
		int64_t now = (int64_t)time(NULL), next = now + 3600;
		for (i = 0; i < d->n && !d->stop; i++) {
			d->sched[i].next = time_next_within(d->sched[i].next, now,
							    d->sched[i].interval);
			if (d->sched[i].next <= now) {
				pthread_mutex_unlock(&d->mu);
				run_one(d, &d->sched[i]);
				pthread_mutex_lock(&d->mu);
				d->sched[i].next = (int64_t)time(NULL) + d->sched[i].interval;
			}
			if (d->sched[i].next < next)
				next = d->sched[i].next;
		}
		if (d->stop)
			break;
		time_wait_until(&d->cv, &d->mu, next);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

static int int_of(const json_t *o, const char *key, int def)
{
	const json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (int)json_integer_value(v) : def;
}

int server_discover_parallel(const cairn_config_t *cfg)
{
	const json_t *disc = json_object_get(cfg->root, "discover"), *v;
	const char *name;
	int most = 0, n, i = 0;

	/* The schedules take turns on one thread (discover_main), the first
	 * SCHEDULES_MAX of them. */
	json_object_foreach((json_t *)json_object_get(disc, "schedules"), name, v) {
		(void)name;
		if (i++ == SCHEDULES_MAX)
			break;
		if ((n = int_of(v, "parallel", PARALLEL_DEFAULT)) > most)
			most = n;
	}
	return most;
}

int server_discover_start(server_t *s, cairn_err_t *err)
{
	const json_t *disc = json_object_get(s->cfg->root, "discover"), *v;
	const json_t *scheds = json_object_get(disc, "schedules");
	struct server_discover *d;
	cairn_err_t why = { 0 };
	const char *name;
	char *root = NULL;
	size_t i;
	int rc = 0;

	s->discover = NULL;
	if (json_object_size(scheds) == 0)
		return 0;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	d->s = s;
	json_array_foreach(json_object_get(disc, "allowed"), i, v)
		if (d->n_allowed < INV_ALLOWED_MAX)
			d->allowed[d->n_allowed++] = json_string_value(v);
	json_object_foreach((json_t *)scheds, name, v) {
		schedule_t *sc = &d->sched[d->n];
		const char *interval = json_string_value(json_object_get(v, "interval"));
		inv_scan_opts_t o = { 0 };

		if (d->n == SCHEDULES_MAX)
			break;
		snprintf(sc->name, sizeof(sc->name), "%s", name);
		sc->targets = json_string_value(json_object_get(v, "targets"));
		sc->ports = json_string_value(json_object_get(v, "ports"));
		if (sc->ports == NULL)
			sc->ports = "443";
		sc->interval = 86400;
		if (interval != NULL && duration_parse(interval, &sc->interval) != 0)
			sc->interval = 86400;
		sc->timeout_ms = int_of(v, "timeout_ms", 3000);
		sc->parallel = int_of(v, "parallel", PARALLEL_DEFAULT);
		sc->rate = int_of(v, "rate", 200);
		/* Refuse at start-up what the scan would refuse: a target outside the ranges. */
		o = (inv_scan_opts_t){ .targets = sc->targets, .ports = sc->ports,
				       .allowed = d->allowed, .n_allowed = d->n_allowed,
				       .parallel = sc->parallel, .connect_ms = sc->timeout_ms,
				       .handshake_ms = sc->timeout_ms, .rate = sc->rate,
				       .dry_run = 1 };
		if (inventory_scan(&o, on_result, NULL, &why) != 0) {
			rc = cairn_err_set(err, CAIRN_ECONFIG, "discover.schedules.%s: %s", name,
					   cairn_err_msg(&why));
			goto fail;
		}
		d->n++;
	}
	d->cairn_roots = X509_STORE_new();
	d->system_roots = inv_system_store();
	root = config_path(s->cfg, s->cfg->root_cert);
	if (d->cairn_roots == NULL || d->system_roots == NULL || root == NULL ||
	    X509_STORE_load_file(d->cairn_roots, root) != 1) {
		rc = cairn_err_set(err, CAIRN_ECONFIG, "discover: cannot load %s", root ? root : "root");
		goto fail;
	}
	pthread_mutex_init(&d->mu, NULL);
	time_mono_cond_init(&d->cv); /* time_wait_until */
	if (pthread_create(&d->thread, NULL, discover_main, d) != 0) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "cannot start the discovery thread");
		goto fail;
	}
	free(root);
	s->discover = d;
	return 0;
fail:
	free(root);
	X509_STORE_free(d->cairn_roots);
	X509_STORE_free(d->system_roots);
	free(d);
	return rc;
}

void server_discover_stop(server_t *s)
{
	struct server_discover *d = s->discover;

	if (d == NULL)
		return;
	pthread_mutex_lock(&d->mu);
	d->stop = 1;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
	pthread_join(d->thread, NULL); /* a scan under way finishes (bounded by its timeouts) */
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv);
	X509_STORE_free(d->cairn_roots);
	X509_STORE_free(d->system_roots);
	free(d);
	s->discover = NULL;
}
