/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * log.c — see log.h.  The level and format are plain atomics so a reload
 * can change them while worker threads log.
 */
#include "common/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = LOG_LVL_INFO;
static atomic_int log_format = LOG_FMT_TEXT;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void
log_init(enum log_level level, enum log_format format)
{
	atomic_store(&log_level, level);
	atomic_store(&log_format, format);
}

void
log_set_level(enum log_level level)
{
	atomic_store(&log_level, level);
}

enum log_level
log_get_level(void)
{
	return (enum log_level)atomic_load(&log_level);
}

int
log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

int
log_format_parse(const char *s)
{
	if (strcasecmp(s, "text") == 0)
		return LOG_FMT_TEXT;
	if (strcasecmp(s, "json") == 0)
		return LOG_FMT_JSON;
	return -1;
}

/* Append s to buf as the inside of a JSON string. */
static size_t
json_escape(char *buf, size_t cap, size_t len, const char *s)
{
	for (; *s && len + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[len++] = '\\';
			buf[len++] = (char)c;
		} else if (c < 0x20) {
			len += (size_t)snprintf(buf + len, cap - len, "\\u%04x", c);
		} else
			buf[len++] = (char)c;
	}
	return len;
}

void
log_vemit(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[2048], line[4608], ts[40];
	struct timespec now;
	struct tm tm;
	size_t len;
	int n;

	if ((int)level > atomic_load(&log_level))
		return;
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	if (n < 0)
		return;
	if (errnum) {
		len = strlen(msg);
		snprintf(msg + len, sizeof msg - len, ": %s", strerror(errnum));
	}
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	len = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + len, sizeof ts - len, ".%03ldZ", now.tv_nsec / 1000000);

	if (atomic_load(&log_format) == LOG_FMT_JSON) {
		len = (size_t)snprintf(line, sizeof line,
		    "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts,
		    level_names[level]);
		len = json_escape(line, sizeof line - 4, len, msg);
		memcpy(line + len, "\"}\n", 3);
		len += 3;
	} else {
		n = snprintf(line, sizeof line, "%s %-5s %s\n", ts,
		    level_names[level], msg);
		len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
		line[len - 1] = '\n';
	}
	/* One write per line keeps lines from different threads whole. */
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}

#define LOG_FN(name, lvl, useerr)                                      \
	void name(const char *fmt, ...)                                \
	{                                                              \
		int saved = errno;                                     \
		va_list ap;                                            \
		va_start(ap, fmt);                                     \
		log_vemit(lvl, (useerr) ? saved : 0, fmt, ap);         \
		va_end(ap);                                            \
		errno = saved;                                         \
	}

LOG_FN(log_error, LOG_LVL_ERROR, 0)
LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	log_vemit(LOG_LVL_ERROR, saved, fmt, ap);
	va_end(ap);
	exit(2);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vemit(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(2);
}
