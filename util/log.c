/* SPDX-License-Identifier: MIT */
/* JSON-lines logging to stderr, one line per event, safe from any thread. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include <jansson.h>

#include "util/util.h"

static log_level_t log_min = LOG_LVL_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_set_level(log_level_t min)
{
	log_min = min;
}

void log_msg(log_level_t lvl, const char *component, const char *fmt, ...)
{
	char msg[1024], ts[64];
	struct timeval tv;
	struct tm tm;
	json_t *line;
	char *text;
	va_list ap;

	if (lvl < log_min)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(tv.tv_usec / 1000));
	line = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", level_names[lvl],
			 "component", component, "msg", msg);
	text = line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s\n", text ? text : msg);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
	free(text);
	json_decref(line);
}
