/* SPDX-License-Identifier: MIT */
/* Serving the current CRLs: finding one by name, handing out a copy, saying which are not built yet. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crl/crl_int.h"

struct crl_iss *crl_find_issuer(crl_t *c, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < c->n_iss; i++)
		if (strcmp(c->iss[i].name, name) == 0)
			return &c->iss[i];
	return NULL;
}

/* The shard slot "NAME/S" means (S in decimal, no leading zeros), or NULL. */
static struct crl_slot *find_shard(crl_t *c, const char *name, struct crl_iss **is)
{
	const char *sl = name ? strchr(name, '/') : NULL;
	char base[40], *end;
	unsigned long s;

	if (sl == NULL || (size_t)(sl - name) >= sizeof(base) || sl[1] < '0' || sl[1] > '9' ||
	    (sl[1] == '0' && sl[2] != '\0'))
		return NULL;
	s = strtoul(sl + 1, &end, 10);
	if (*end != '\0')
		return NULL;
	snprintf(base, sizeof(base), "%.*s", (int)(sl - name), name);
	*is = crl_find_issuer(c, base);
	return *is != NULL && s < (*is)->n_shards ? &(*is)->shards[s] : NULL;
}

/* The slot a name means: "NAME" (full), "NAME-delta" (when deltas are on) or "NAME/S"
 * (a shard). */
struct crl_slot *crl_find_slot(crl_t *c, const char *name, struct crl_iss **is)
{
	size_t n = name ? strlen(name) : 0;
	char base[40];
	struct crl_slot *sh;

	*is = crl_find_issuer(c, name);
	if (*is != NULL)
		return &(*is)->full;
	if ((sh = find_shard(c, name, is)) != NULL)
		return sh;
	*is = NULL;
	if (c->delta_period <= 0 || n <= 6 || n - 6 >= sizeof(base) ||
	    strcmp(name + n - 6, "-delta") != 0)
		return NULL;
	snprintf(base, sizeof(base), "%.*s", (int)(n - 6), name);
	*is = crl_find_issuer(c, base);
	return *is ? &(*is)->delta : NULL;
}

int crl_get(crl_t *c, const char *name, uint8_t **der, size_t *len, int64_t *this_update,
     int64_t *next_update, uint64_t *number)
{
	struct crl_iss *is = NULL;
	struct crl_slot *slot = crl_find_slot(c, name, &is);
	int rc = 0;

	if (slot == NULL)
		return CAIRN_ENOENT;
	pthread_mutex_lock(&c->mu);
	if (slot->der == NULL) {
		rc = CAIRN_EAGAIN;
	} else if (der != NULL && (*der = malloc(slot->len)) == NULL) {
		rc = CAIRN_ENOMEM;
	} else {
		if (der != NULL)
			memcpy(*der, slot->der, slot->len);
		if (len)
			*len = slot->len;
		if (this_update)
			*this_update = slot->this_update;
		if (next_update)
			*next_update = slot->next_update;
		if (number)
			*number = slot->number;
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/* Sums visit over every CRL served (each issuer's full CRL, its delta when deltas are on,
 * its shards), c->mu held. */
static size_t each_slot(crl_t *c, size_t (*visit)(const struct crl_slot *slot, void *arg),
			void *arg)
{
	size_t i, n = 0;
	unsigned k;

	pthread_mutex_lock(&c->mu);
	for (i = 0; i < c->n_iss; i++) {
		struct crl_iss *is = &c->iss[i];
		struct crl_slot *slots[2] = { &is->full, c->delta_period > 0 ? &is->delta : NULL };
		for (k = 0; k < 2 + is->n_shards; k++) {
			struct crl_slot *slot = k < 2 ? slots[k] : &is->shards[k - 2];
			if (slot != NULL)
				n += visit(slot, arg);
		}
	}
	pthread_mutex_unlock(&c->mu);
	return n;
}

struct slot_report {
	void (*pending)(const char *name, const char *state, void *arg);
	void (*failing)(const char *name, int64_t since, void *arg);
	void *arg;
};

static size_t visit_pending(const struct crl_slot *slot, void *arg)
{
	const struct slot_report *r = arg;

	if (slot->der != NULL && !slot->interim)
		return 0;
	if (r->pending != NULL)
		r->pending(slot->name, slot->der != NULL ? "previous"
				       : slot->retry_at != 0 ? "failed" : "building", r->arg);
	return 1;
}

static size_t visit_failing(const struct crl_slot *slot, void *arg)
{
	const struct slot_report *r = arg;

	if (slot->failing_since == 0 || slot->der == NULL || slot->interim)
		return 0;
	if (r->failing != NULL)
		r->failing(slot->name, slot->failing_since, r->arg);
	return 1;
}

size_t crl_pending(crl_t *c, void (*fn)(const char *name, const char *state, void *arg),
	    void *arg)
{
	struct slot_report r = { fn, NULL, arg };

	return each_slot(c, visit_pending, &r);
}

size_t crl_failing(crl_t *c, void (*fn)(const char *name, int64_t since, void *arg), void *arg)
{
	struct slot_report r = { NULL, fn, arg };

	return each_slot(c, visit_failing, &r);
}
