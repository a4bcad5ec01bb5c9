/* SPDX-License-Identifier: MIT */
/* JSON-lines logging to stderr, one line per event, safe from any thread. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "util/util.h"

static log_level_t log_min = LOG_LVL_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_names[] = { "debug", "info", "warn", "error" };

/* Written instead of a line that cannot be encoded (out of memory): still one JSON object. */
#define LOG_FALLBACK "{\"level\":\"error\",\"component\":\"log\",\"msg\":\"a log line could not be encoded\"}"

/* The daemon's lines go through a queue to one writer thread (log_async_start): a reader
 * of stderr that stops reading (a stalled pipe, a container's log driver in blocking
 * mode) then holds up that thread only, not the threads that issue, revoke and answer.
 * Past LOG_QUEUE_BYTES waiting, lines are dropped and counted; the writer says how many
 * once it writes again. Without the thread (the CLI, a daemon starting or stopped) each
 * line is written at once. */
#define LOG_QUEUE_BYTES (4u * 1024 * 1024)
/* log_async_stop waits this long for the lines still queued, then lets the process go. */
#define LOG_STOP_WAIT_MS 2000

struct log_line {
	struct log_line *next;
	size_t len;
	char text[];
};

static struct {
	int on, stop, done;         /* under log_lock */
	int finished_ready;             /* finished initialised (its clock is CLOCK_MONOTONIC) */
	pthread_t thread;
	pthread_cond_t wake, finished; /* with log_lock: lines queued or stop; the writer done */
	struct log_line *head, *tail;
	size_t bytes;               /* queued and being written */
	uint64_t unsaid;            /* dropped since the writer last said so */
	atomic_uint_fast64_t dropped;
	atomic_int_fast64_t writing_since; /* Unix time a write began that has not returned, 0 */
	atomic_uint_fast64_t writing_mono; /* its time_mono_ms */
} lq = { .wake = PTHREAD_COND_INITIALIZER };

void log_set_level(log_level_t min)
{
	log_min = min;
}

/* All of text to stderr; gives up on an error other than an interrupted or full write. */
static void write_all(const char *text, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(STDERR_FILENO, text, len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
			if (errno == EAGAIN)
				usleep(10000); /* made non-blocking by whoever shares it */
			continue;
		}
		if (n <= 0)
			return;
		text += n;
		len -= (size_t)n;
	}
}

/* One queued line to stderr, marked as a write in progress for log_state. */
static void write_line(const char *text, size_t len)
{
	atomic_store(&lq.writing_mono, time_mono_ms());
	atomic_store(&lq.writing_since, (int_fast64_t)time(NULL));
	write_all(text, len);
	atomic_store(&lq.writing_since, 0);
}

static void *log_writer(void *arg)
{
	struct log_line *batch, *l;
	uint64_t unsaid;

	(void)arg;
	pthread_mutex_lock(&log_lock);
	for (;;) {
		while (lq.head == NULL && lq.unsaid == 0 && !lq.stop)
			pthread_cond_wait(&lq.wake, &log_lock);
		if (lq.head == NULL && lq.unsaid == 0)
			break; /* stopping, everything written */
		batch = lq.head;
		lq.head = lq.tail = NULL;
		unsaid = lq.unsaid;
		lq.unsaid = 0;
		pthread_mutex_unlock(&log_lock);
		while ((l = batch) != NULL) {
			batch = l->next;
			write_line(l->text, l->len);
			pthread_mutex_lock(&log_lock);
			lq.bytes -= l->len;
			pthread_mutex_unlock(&log_lock);
			free(l);
		}
		/* queued like any line, written next round */
		if (unsaid > 0)
			log_warn("log", "%llu log lines dropped: stderr was not read",
				 (unsigned long long)unsaid);
		pthread_mutex_lock(&log_lock);
	}
	lq.done = 1;
	pthread_cond_broadcast(&lq.finished);
	pthread_mutex_unlock(&log_lock);
	return NULL;
}

int log_async_start(void)
{
	int rc = 0;

	pthread_mutex_lock(&log_lock);
	if (!lq.finished_ready) {
		time_mono_cond_init(&lq.finished);
		lq.finished_ready = 1;
	}
	if (!lq.on) {
		lq.stop = lq.done = 0;
		if ((rc = pthread_create(&lq.thread, NULL, log_writer, NULL)) == 0)
			lq.on = 1;
	}
	pthread_mutex_unlock(&log_lock);
	return rc == 0 ? 0 : CAIRN_ENOMEM;
}

void log_async_stop(void)
{
	uint64_t until = time_mono_ms() + LOG_STOP_WAIT_MS;
	int done;

	pthread_mutex_lock(&log_lock);
	if (!lq.on) {
		pthread_mutex_unlock(&log_lock);
		return;
	}
	lq.stop = 1;
	pthread_cond_signal(&lq.wake);
	while (!lq.done && time_mono_wait(&lq.finished, &log_lock, until) == 0)
		;
	done = lq.done;
	/* A writer stuck on stderr stays behind (the process is exiting): lines logged from
	 * here on keep going to its queue, so that no thread blocks on stderr either. */
	if (done)
		lq.on = 0;
	pthread_mutex_unlock(&log_lock);
	if (done)
		pthread_join(lq.thread, NULL);
}

void log_state(uint64_t *dropped, int64_t *blocked_since, uint64_t *blocked_ms)
{
	int64_t since = atomic_load(&lq.writing_since);
	uint64_t began = atomic_load(&lq.writing_mono), now = time_mono_ms();

	*dropped = atomic_load(&lq.dropped);
	*blocked_since = since;
	*blocked_ms = since != 0 && now > began ? now - began : 0;
}

/* text (len bytes, ending in a newline) to stderr now, or to the writer's queue. */
static void log_emit(const char *text, size_t len)
{
	struct log_line *l;

	pthread_mutex_lock(&log_lock);
	if (!lq.on) {
		write_all(text, len);
		pthread_mutex_unlock(&log_lock);
		return;
	}
	if (lq.bytes + len > LOG_QUEUE_BYTES || (l = malloc(sizeof(*l) + len)) == NULL) {
		lq.unsaid++;
		atomic_fetch_add(&lq.dropped, 1);
		pthread_mutex_unlock(&log_lock);
		return;
	}
	l->next = NULL;
	l->len = len;
	memcpy(l->text, text, len);
	if (lq.tail != NULL)
		lq.tail->next = l;
	else
		lq.head = l;
	lq.tail = l;
	lq.bytes += len;
	pthread_cond_signal(&lq.wake);
	pthread_mutex_unlock(&log_lock);
}

/* Adds member key = value; a NULL value (out of memory) poisons the line. */
static int put(json_t *line, const char *key, json_t *value)
{
	return value == NULL || json_object_set_new(line, key, value) != 0 ? -1 : 0;
}

/* One line: ts, level, component, msg (outside bytes), then the key/value pairs of
 * fields (may be NULL) up to a NULL key. Never writes anything but one JSON object. */
static void log_write(log_level_t lvl, const char *component, const char *msg, va_list *fields)
{
	char ts[64];
	struct timeval tv;
	struct tm tm;
	json_t *line = json_object();
	char *text = NULL, *grown;
	const char *key, *value;
	size_t len;
	int bad;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(tv.tv_usec / 1000));
	bad = line == NULL || put(line, "ts", json_string(ts)) != 0 ||
	      put(line, "level", json_string(level_names[lvl])) != 0 ||
	      put(line, "component", util_json_text(component)) != 0 ||
	      put(line, "msg", util_json_text(msg)) != 0;
	while (!bad && fields != NULL && (key = va_arg(*fields, const char *)) != NULL) {
		value = va_arg(*fields, const char *);
		bad = put(line, key, value != NULL ? util_json_text(value) : json_null()) != 0;
	}
	if (!bad)
		text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
	/* The line and its newline in one write: a reader never sees a line cut in two. */
	len = text != NULL ? strlen(text) : 0;
	if (text != NULL && (grown = realloc(text, len + 2)) != NULL) {
		text = grown;
		text[len++] = '\n';
		text[len] = '\0';
		log_emit(text, len);
	} else {
		log_emit(LOG_FALLBACK "\n", sizeof(LOG_FALLBACK)); /* sizeof: its length + "\n" */
	}
	free(text);
	json_decref(line);
}

void log_msg(log_level_t lvl, const char *component, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (lvl < log_min)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_write(lvl, component, msg, NULL);
}

void log_kv(log_level_t lvl, const char *component, const char *msg, ...)
{
	va_list ap;

	if (lvl < log_min)
		return;
	va_start(ap, msg);
	log_write(lvl, component, msg, &ap);
	va_end(ap);
}
