/* SPDX-License-Identifier: MIT */
/* Failure rate limits in bounded memory: a fixed set-associative table of keys, each a GCRA cell. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* Eight keys share a set: a lookup touches one cache-friendly run of slots. */
#define RL_WAYS 8

typedef struct rl_slot {
	char key[RL_KEY_MAX];
	uint64_t tat;       /* GCRA theoretical arrival time (ms); the key is free again when <= now */
	uint64_t last;      /* last touched (ms), for eviction */
	unsigned refused;   /* refusals in the current (or just ended) lock-out */
	int used;
} rl_slot_t;

struct util_ratelimit {
	pthread_mutex_t lock;
	rl_slot_t *slots;
	size_t n_sets;
	uint64_t interval;  /* window / limit: one failure leaks away per interval */
	uint64_t window;
	uint64_t seed;      /* random: nobody outside can aim keys at one set */
};

int util_ratelimit_new(size_t keys, int limit, uint64_t window_ms, util_ratelimit_t **out)
{
	util_ratelimit_t *rl;

	*out = NULL;
	if (keys == 0 || limit < 1 || window_ms < (uint64_t)limit)
		return CAIRN_EINVAL;
	rl = calloc(1, sizeof(*rl));
	if (rl == NULL)
		return CAIRN_ENOMEM;
	rl->n_sets = (keys + RL_WAYS - 1) / RL_WAYS;
	rl->slots = calloc(rl->n_sets * RL_WAYS, sizeof(rl_slot_t));
	if (rl->slots == NULL || util_random((uint8_t *)&rl->seed, sizeof(rl->seed)) != 0) {
		int rc = rl->slots ? CAIRN_ECRYPTO : CAIRN_ENOMEM;
		free(rl->slots);
		free(rl);
		return rc;
	}
	rl->window = window_ms;
	rl->interval = window_ms / (uint64_t)limit;
	pthread_mutex_init(&rl->lock, NULL);
	*out = rl;
	return 0;
}

void util_ratelimit_free(util_ratelimit_t *rl)
{
	if (rl == NULL)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl->slots);
	free(rl);
}

/* FNV-1a over the key, started from the secret seed. */
static size_t set_of(const util_ratelimit_t *rl, const char *key)
{
	uint64_t h = 14695981039346656037ull ^ rl->seed;

	for (; *key; key++) {
		h ^= (unsigned char)*key;
		h *= 1099511628211ull;
	}
	h ^= h >> 29;
	return (size_t)(h % rl->n_sets);
}

/* The slot of key, or NULL; with create, a free slot, an idle one or the least recently
 * used of its set is taken over. Lock held. */
static rl_slot_t *slot_find(util_ratelimit_t *rl, const char *key, uint64_t now, int create)
{
	rl_slot_t *set = rl->slots + set_of(rl, key) * RL_WAYS, *victim = NULL;
	size_t i;

	for (i = 0; i < RL_WAYS; i++)
		if (set[i].used && strcmp(set[i].key, key) == 0)
			return &set[i];
	if (!create)
		return NULL;
	for (i = 0; i < RL_WAYS; i++) {
		rl_slot_t *s = &set[i];
		/* Best a free slot, then one with nothing left to remember, then the oldest. */
		if (!s->used || (s->tat <= now && s->refused == 0)) {
			victim = s;
			break;
		}
		if (victim == NULL || s->last < victim->last)
			victim = s;
	}
	memset(victim, 0, sizeof(*victim));
	victim->used = 1;
	snprintf(victim->key, sizeof(victim->key), "%s", key);
	return victim;
}

uint64_t util_ratelimit_check(util_ratelimit_t *rl, const char *key, unsigned *refused)
{
	uint64_t now = time_mono_ms(), wait = 0;
	rl_slot_t *s;

	*refused = 0;
	pthread_mutex_lock(&rl->lock);
	s = slot_find(rl, key, now, 0);
	if (s != NULL) {
		s->last = now;
		/* One more failure must still fit in the window: tat + interval <= now + window. */
		if (s->tat + rl->interval > now + rl->window) {
			wait = s->tat + rl->interval - now - rl->window;
			*refused = ++s->refused;
		} else if (s->refused > 0) {
			/* The lock-out is over: report it once. */
			*refused = s->refused;
			s->refused = 0;
		}
	}
	pthread_mutex_unlock(&rl->lock);
	return wait;
}

void util_ratelimit_fail(util_ratelimit_t *rl, const char *key)
{
	uint64_t now = time_mono_ms();
	rl_slot_t *s;

	pthread_mutex_lock(&rl->lock);
	s = slot_find(rl, key, now, 1);
	s->last = now;
	s->tat = (s->tat > now ? s->tat : now) + rl->interval;
	pthread_mutex_unlock(&rl->lock);
}

void util_ratelimit_recount(util_ratelimit_t *rl, const char *key, unsigned refused)
{
	rl_slot_t *s;

	if (refused == 0)
		return;
	pthread_mutex_lock(&rl->lock);
	s = slot_find(rl, key, time_mono_ms(), 1);
	s->last = time_mono_ms();
	s->refused = s->refused > UINT_MAX - refused ? UINT_MAX : s->refused + refused;
	pthread_mutex_unlock(&rl->lock);
}

void util_ratelimit_drain(util_ratelimit_t *rl,
			  void (*fn)(void *arg, const char *key, unsigned refused), void *arg)
{
	size_t i, n = rl->n_sets * RL_WAYS;

	for (i = 0; i < n; i++) {
		char key[RL_KEY_MAX];
		unsigned refused = 0;

		pthread_mutex_lock(&rl->lock);
		if (rl->slots[i].used && rl->slots[i].refused > 0) {
			memcpy(key, rl->slots[i].key, sizeof(key));
			refused = rl->slots[i].refused;
			rl->slots[i].refused = 0;
		}
		pthread_mutex_unlock(&rl->lock);
		if (refused > 0)
			fn(arg, key, refused);
	}
}
