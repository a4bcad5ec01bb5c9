/* SPDX-License-Identifier: MIT */
/* Replay nonces: random, single-use, bounded in number and expiring (in memory). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme/acme_int.h"

#define NONCE_MAX 65536       /* live nonces kept; the oldest are forgotten first */
#define NONCE_TTL 3600        /* seconds */
#define NONCE_LEN 22

/* An open-addressing set keyed by the nonce text plus a ring for eviction order. */
typedef struct slot {
	char text[NONCE_LEN + 1];
	time_t born;
} slot_t;

/* Random bytes for this many nonces are drawn from the CSPRNG at once: one RAND_bytes
 * call per nonce was most of a nonce's cost (the DRBG's per-call overhead). */
#define NONCE_BATCH 64

struct acme_nonces {
	pthread_mutex_t lock;
	slot_t *table;           /* 2 * NONCE_MAX slots */
	size_t cap;
	uint8_t fresh[NONCE_BATCH * 16]; /* CSPRNG output not handed out yet (under lock) */
	size_t fresh_left;       /* bytes of fresh left, at its end */
};

static size_t nonce_hash(const char *s)
{
	size_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

int acme_nonces_new(acme_nonces_t **out)
{
	acme_nonces_t *n = calloc(1, sizeof(*n));

	if (n == NULL)
		return CAIRN_ENOMEM;
	n->cap = 2 * NONCE_MAX;
	n->table = calloc(n->cap, sizeof(slot_t));
	if (n->table == NULL) {
		free(n);
		return CAIRN_ENOMEM;
	}
	pthread_mutex_init(&n->lock, NULL);
	*out = n;
	return 0;
}

void acme_nonces_free(acme_nonces_t *n)
{
	if (n == NULL)
		return;
	pthread_mutex_destroy(&n->lock);
	free(n->table);
	free(n);
}

/*
 * Linear probing over a bounded window: a nonce lives at one of the PROBE slots
 * after its hash. When that window is full the oldest entry in it is replaced,
 * so memory stays bounded and the oldest nonces are the ones forgotten.
 */
#define PROBE 8

int acme_nonce_make(acme_nonces_t *n, char *out, size_t cap)
{
	uint8_t raw[16];
	char *text;
	size_t h, i, victim;
	time_t now = time(NULL);

	pthread_mutex_lock(&n->lock);
	if (n->fresh_left == 0 && util_random(n->fresh, sizeof(n->fresh)) == 0)
		n->fresh_left = sizeof(n->fresh);
	if (n->fresh_left == 0) {
		pthread_mutex_unlock(&n->lock);
		return CAIRN_ECRYPTO;
	}
	n->fresh_left -= sizeof(raw);
	memcpy(raw, n->fresh + n->fresh_left, sizeof(raw));
	memset(n->fresh + n->fresh_left, 0, sizeof(raw)); /* handed out once */
	pthread_mutex_unlock(&n->lock);
	text = b64url_encode(raw, sizeof(raw));
	if (text == NULL)
		return CAIRN_ENOMEM;
	snprintf(out, cap, "%s", text);
	h = nonce_hash(text);
	pthread_mutex_lock(&n->lock);
	victim = h % n->cap;
	for (i = 0; i < PROBE; i++) {
		slot_t *s = &n->table[(h + i) % n->cap];
		if (s->text[0] == '\0' || now - s->born > NONCE_TTL) {
			victim = (h + i) % n->cap;
			break;
		}
		if (s->born < n->table[victim].born)
			victim = (h + i) % n->cap;
	}
	memcpy(n->table[victim].text, text, NONCE_LEN + 1);
	n->table[victim].born = now;
	pthread_mutex_unlock(&n->lock);
	free(text);
	return 0;
}

int acme_nonce_use(acme_nonces_t *n, const char *nonce)
{
	size_t h, i;
	int ok = 0;
	time_t now = time(NULL);

	if (nonce == NULL || strlen(nonce) != NONCE_LEN)
		return 0;
	h = nonce_hash(nonce);
	pthread_mutex_lock(&n->lock);
	for (i = 0; i < PROBE; i++) {
		slot_t *s = &n->table[(h + i) % n->cap];
		if (strcmp(s->text, nonce) == 0) {
			ok = now - s->born <= NONCE_TTL;
			s->text[0] = '\0';
			break;
		}
	}
	pthread_mutex_unlock(&n->lock);
	return ok;
}
