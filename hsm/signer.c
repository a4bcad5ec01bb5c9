/* SPDX-License-Identifier: MIT */
/* The signers: threads that wait on the token so the threads that ask it for something wait at most token.timeout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hsm/hsm_int.h"

/*
 * A PKCS#11 call cannot be interrupted: a network HSM whose link died without a reset
 * keeps it for minutes (the TCP timeout) or for good. Made on a request's own thread, it
 * would hold that HTTP worker as long; a few of them hold a whole listener (revocations,
 * /healthz over HTTPS, OCSP answers that need a signature), and a renewal that generates
 * a key holds its lock, the admin calls that wait for it and the daemon's stop. So every
 * token call after the start is a job (hsm_call): a signer makes the calls, and the thread
 * that asked waits for it at most h->timeout_ms, then gives it up and answers "the token
 * did not answer". A job given up stays with its signer until the token returns;
 * whichever of the two lets go last frees it, so it carries its own copy of the
 * argument, and frees what the call left there (a key) when nobody took it.
 *
 * While the token does not answer (a call in it for longer than the timeout, and none
 * back since), new jobs are refused at once rather than each holding its caller for the
 * timeout; one in each timeout still goes to the token, to see whether it is back.
 */
typedef struct hsm_job {
	struct hsm_job *next; /* in the queue */
	hsm_call_fn fn;
	hsm_drop_fn drop; /* may be NULL */
	CK_RV rv;
	char why[HSM_WHY_MAX]; /* the signer's hsm_sign_why_get */
	int done;
	int refs; /* the caller and the signer */
	pthread_cond_t cond; /* done, signalled to the caller */
	max_align_t arg[];   /* the caller's argument, copied in and, once done, out */
} hsm_job_t;

/* Set on the signers: a call they make themselves is made there and then. */
static __thread int on_signer;

void hsm_signers_init(hsm_t *h, uint64_t timeout_ms)
{
	h->timeout_ms = timeout_ms;
	pthread_mutex_init(&h->sign_lock, NULL);
	pthread_cond_init(&h->sign_work, NULL);
	time_mono_cond_init(&h->sign_back);
}

static void job_free(hsm_job_t *j)
{
	pthread_cond_destroy(&j->cond);
	free(j);
}

/* Drops one reference (sign_lock held). The last one, when the caller gave the job up
 * after it ran, also frees what the call left in its argument. */
static void job_put(hsm_job_t *j)
{
	if (--j->refs > 0)
		return;
	if (j->done && j->drop != NULL)
		j->drop(j->arg);
	job_free(j);
}

/* The calls in the token (sign_lock held): how many have been in it for at least ms, and
 * since when the oldest has been (0: none in it), *slot that signer's. */
static unsigned calls_in(const hsm_t *h, uint64_t now, uint64_t ms, uint64_t *oldest,
			 unsigned *slot)
{
	unsigned i, n = 0;

	*oldest = 0;
	for (i = 0; i < h->signers; i++) {
		uint64_t t = h->since_ms[i];
		if (t == 0)
			continue;
		if (*oldest == 0 || t < *oldest) {
			*oldest = t;
			*slot = i;
		}
		if (now >= t + ms)
			n++;
	}
	return n;
}

/* Signer slot (its index in since_ms) is the thread's argument, h found through it. */
typedef struct {
	hsm_t *h;
	unsigned slot;
} signer_arg_t;

static void *signer_main(void *arg)
{
	signer_arg_t a = *(signer_arg_t *)arg;
	hsm_t *h = a.h;
	hsm_job_t *j;
	CK_RV rv;

	free(arg);
	on_signer = 1;
	pthread_mutex_lock(&h->sign_lock);
	for (;;) {
		while (h->queue == NULL && !h->stopping) {
			h->idle++;
			pthread_cond_wait(&h->sign_work, &h->sign_lock);
			h->idle--;
		}
		if (h->queue == NULL)
			break; /* stopping, nothing left */
		j = h->queue;
		h->queue = j->next;
		if (h->queue == NULL)
			h->queue_tail = NULL;
		h->queued--;
		h->since_ms[a.slot] = time_mono_ms();
		h->since_wall[a.slot] = (int64_t)time(NULL);
		pthread_mutex_unlock(&h->sign_lock);

		hsm_sign_why_set("");
		rv = j->fn(h, j->arg);

		pthread_mutex_lock(&h->sign_lock);
		h->since_ms[a.slot] = 0;
		h->done_ms = time_mono_ms();
		j->rv = rv;
		snprintf(j->why, sizeof(j->why), "%s", hsm_sign_why_get());
		j->done = 1;
		pthread_cond_signal(&j->cond);
		if (j->refs == 2)
			j->drop = NULL; /* the caller is there to take what it left */
		job_put(j);
		pthread_cond_broadcast(&h->sign_back);
	}
	h->live--;
	pthread_cond_broadcast(&h->sign_back);
	pthread_mutex_unlock(&h->sign_lock);
	return NULL;
}

/* Queues j (sign_lock held) and wakes or starts a signer for it. Returns 0, or
 * CAIRN_ENOMEM when there is no signer and none could be started. */
static int job_queue(hsm_t *h, hsm_job_t *j)
{
	signer_arg_t *a;
	int rc;

	if (h->queued + 1 > h->idle && h->signers < HSM_POOL_MAX) {
		if ((a = malloc(sizeof(*a))) == NULL)
			return CAIRN_ENOMEM;
		*a = (signer_arg_t){ h, h->signers };
		rc = pthread_create(&h->signer_tid[h->signers], NULL, signer_main, a);
		if (rc != 0) {
			free(a);
			if (h->live == 0)
				return CAIRN_ENOMEM;
		} else {
			h->signers++;
			h->live++;
		}
	}
	j->next = NULL;
	if (h->queue_tail != NULL)
		h->queue_tail->next = j;
	else
		h->queue = j;
	h->queue_tail = j;
	h->queued++;
	pthread_cond_signal(&h->sign_work);
	return 0;
}

/* Takes j out of the queue if it is still there (sign_lock held): 1 if it was. */
static int job_unqueue(hsm_t *h, hsm_job_t *j)
{
	hsm_job_t **pp, *prev = NULL;

	for (pp = &h->queue; *pp != NULL; prev = *pp, pp = &(*pp)->next) {
		if (*pp != j)
			continue;
		*pp = j->next;
		if (h->queue_tail == j)
			h->queue_tail = prev;
		h->queued--;
		return 1;
	}
	return 0;
}

/* Refuses a signature the token was not asked for, or gave no answer to, saying why. */
static CK_RV given_up(hsm_t *h, const char *fmt, unsigned long secs)
{
	char why[HSM_WHY_MAX];

	atomic_fetch_add(&h->timeouts, 1);
	snprintf(why, sizeof(why), fmt, secs);
	hsm_sign_failed(h, why);
	return CKR_FUNCTION_FAILED;
}

CK_RV hsm_call(hsm_t *h, hsm_call_fn fn, void *arg, size_t size, hsm_drop_fn drop)
{
	uint64_t now, deadline, oldest;
	unsigned slot;
	hsm_job_t *j;
	CK_RV rv;

	if (h->timeout_ms == 0 || on_signer) /* token.timeout 0: no bound */
		return fn(h, arg);
	j = malloc(sizeof(*j) + size);
	if (j == NULL)
		return CKR_HOST_MEMORY;
	memset(j, 0, sizeof(*j));
	j->fn = fn;
	j->drop = drop;
	j->refs = 2;
	memcpy(j->arg, arg, size);
	time_mono_cond_init(&j->cond);

	pthread_mutex_lock(&h->sign_lock);
	now = time_mono_ms(); /* under the lock: no signer's times are later */
	deadline = now + h->timeout_ms;
	if (calls_in(h, now, h->timeout_ms, &oldest, &slot) > 0 &&
	    now >= h->done_ms + h->timeout_ms) {
		/* The token does not answer: one try per timeout, the others refused. */
		if (now < h->probe_ms + h->timeout_ms) {
			rv = given_up(h, "the token has not answered for %lu s",
				      (unsigned long)((now - oldest) / 1000));
			pthread_mutex_unlock(&h->sign_lock);
			job_free(j);
			return rv;
		}
		h->probe_ms = now;
	}
	if (h->stopping || job_queue(h, j) != 0) {
		hsm_sign_why_set(h->stopping ? "the token is being closed" : "no signer thread");
		pthread_mutex_unlock(&h->sign_lock);
		job_free(j);
		return CKR_FUNCTION_FAILED;
	}
	while (!j->done && time_mono_ms() < deadline)
		(void)time_mono_wait(&j->cond, &h->sign_lock, deadline);
	if (!j->done) {
		if (job_unqueue(h, j))
			j->refs--; /* never reached a signer */
		job_put(j);
		h->probe_ms = time_mono_ms(); /* this period's try: the next one a period on */
		rv = given_up(h, "no answer from the token within %lu s",
			      (unsigned long)(h->timeout_ms / 1000));
		pthread_mutex_unlock(&h->sign_lock);
		return rv;
	}
	rv = j->rv;
	hsm_sign_why_set(j->why);
	memcpy(arg, j->arg, size);
	job_put(j);
	pthread_mutex_unlock(&h->sign_lock);
	return rv;
}

/* A signature as a job: the key, the mechanism, what is signed and room for the
 * signature, all in the job's own copy. */
typedef struct {
	const hsm_key_ent_t *k;
	CK_MECHANISM_TYPE mech;
	size_t inlen;
	size_t outlen; /* capacity, then the signature's length */
	uint8_t buf[]; /* in (inlen bytes), then out (outlen) */
} sign_arg_t;

static CK_RV sign_run(hsm_t *h, void *arg)
{
	sign_arg_t *a = arg;

	return hsm_sign_now(h, a->k, a->mech, a->buf, a->inlen, a->buf + a->inlen, &a->outlen);
}

CK_RV hsm_sign_key(hsm_t *h, const hsm_key_ent_t *k, CK_MECHANISM_TYPE mech, const uint8_t *in,
		   size_t inlen, uint8_t *out, size_t *outlen)
{
	size_t size = sizeof(sign_arg_t) + inlen + *outlen;
	sign_arg_t *a;
	CK_RV rv;

	if (h->timeout_ms == 0 || on_signer) /* the common case, without the copies */
		return hsm_sign_now(h, k, mech, in, inlen, out, outlen);
	if ((a = malloc(size)) == NULL)
		return CKR_HOST_MEMORY;
	*a = (sign_arg_t){ .k = k, .mech = mech, .inlen = inlen, .outlen = *outlen };
	memcpy(a->buf, in, inlen);
	rv = hsm_call(h, sign_run, a, size, NULL);
	if (rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL)
		*outlen = a->outlen;
	if (rv == CKR_OK)
		memcpy(out, a->buf + inlen, a->outlen);
	free(a);
	return rv;
}

/* A call about one key as a job: the label, what fn made and the error, all in the
 * job's own copy. */
typedef struct {
	hsm_key_fn fn;
	int param;
	int want_out;
	void *out;
	void (*free_out)(void *out);
	int rc;
	cairn_err_t err;
	char label[]; /* NUL-terminated */
} key_arg_t;

static CK_RV key_run(hsm_t *h, void *arg)
{
	key_arg_t *a = arg;

	a->rc = a->fn(h, a->label, a->param, a->want_out ? &a->out : NULL, &a->err);
	return CKR_OK;
}

static void key_drop(void *arg)
{
	key_arg_t *a = arg;

	if (a->out != NULL && a->free_out != NULL)
		a->free_out(a->out);
}

int hsm_key_call(hsm_t *h, hsm_key_fn fn, const char *label, int param, void **out,
		 void (*free_out)(void *out), const char *what, cairn_err_t *err)
{
	size_t len = strlen(label), size = sizeof(key_arg_t) + len + 1;
	key_arg_t *a = calloc(1, size);
	int rc;
	CK_RV rv;

	if (a == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	a->fn = fn;
	a->param = param;
	a->want_out = out != NULL;
	a->free_out = free_out;
	memcpy(a->label, label, len + 1);
	rv = hsm_call(h, key_run, a, size, key_drop);
	if (rv != CKR_OK) { /* given up or refused: the token did not answer */
		rc = cairn_err_set(err, CAIRN_ETOKENDOWN, "%s \"%s\": %s", what, label,
				   hsm_sign_why_get());
	} else {
		rc = a->rc;
		if (rc != 0 && err != NULL)
			*err = a->err;
		if (out != NULL)
			*out = a->out;
	}
	free(a);
	return rc;
}

void hsm_token_stuck(hsm_t *h, hsm_stuck_t *out)
{
	uint64_t now, oldest;
	unsigned slot = 0;

	memset(out, 0, sizeof(*out));
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->sign_lock);
	now = time_mono_ms();
	out->calls = calls_in(h, now, h->timeout_ms, &oldest, &slot);
	if (out->calls > 0) {
		out->for_ms = now - oldest;
		out->since = h->since_wall[slot];
	}
	pthread_mutex_unlock(&h->sign_lock);
	out->timeouts = atomic_load(&h->timeouts);
	out->timeout_ms = h->timeout_ms;
}

int hsm_signers_calm(hsm_t *h)
{
	uint64_t deadline = time_mono_ms() + h->timeout_ms, oldest;
	unsigned slot;
	int busy;

	pthread_mutex_lock(&h->sign_lock);
	for (;;) {
		(void)calls_in(h, 0, 0, &oldest, &slot); /* oldest: 0 when none is in a call */
		if ((busy = oldest != 0) == 0 || time_mono_ms() >= deadline)
			break;
		(void)time_mono_wait(&h->sign_back, &h->sign_lock, deadline);
	}
	pthread_mutex_unlock(&h->sign_lock);
	return busy ? CAIRN_EBUSY : 0;
}

int hsm_signers_stop(hsm_t *h)
{
	uint64_t deadline = time_mono_ms() + h->timeout_ms;
	unsigned i;
	int left;

	pthread_mutex_lock(&h->sign_lock);
	h->stopping = 1;
	pthread_cond_broadcast(&h->sign_work);
	while (h->live > 0 && time_mono_ms() < deadline)
		(void)time_mono_wait(&h->sign_back, &h->sign_lock, deadline);
	left = h->live > 0;
	pthread_mutex_unlock(&h->sign_lock);
	/* Those that ended are joined (past their last touch of h); with some still in the
	 * token, all are let go instead, and h stays. */
	for (i = 0; i < h->signers; i++)
		if (left)
			pthread_detach(h->signer_tid[i]);
		else
			pthread_join(h->signer_tid[i], NULL);
	if (left)
		return CAIRN_EBUSY;
	pthread_mutex_destroy(&h->sign_lock);
	pthread_cond_destroy(&h->sign_work);
	pthread_cond_destroy(&h->sign_back);
	return 0;
}
