/* SPDX-License-Identifier: MIT */
/* JSON-lines logging to stderr, one line per event, safe from any thread. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <jansson.h>

#include "util/util.h"

static log_level_t log_min = LOG_LVL_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_names[] = { "debug", "info", "warn", "error" };

/* Written instead of a line that cannot be encoded (out of memory): still one JSON object. */
#define LOG_FALLBACK "{\"level\":\"error\",\"component\":\"log\",\"msg\":\"a log line could not be encoded\"}"

void log_set_level(log_level_t min)
{
	log_min = min;
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
	char *text = NULL;
	const char *key, *value;
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
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s\n", text != NULL ? text : LOG_FALLBACK);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
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
