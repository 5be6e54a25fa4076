/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * log.h — process-wide logging to stderr (OpenBSD log.h shape).
 *
 * One line per message, text ("2026-11-23T21:30:00.123Z info  msg") or
 * JSON ({"time":..,"level":..,"msg":..}).  Safe to call from any thread:
 * each line is formatted into a local buffer and written with one write(2).
 * Callers must never pass secrets (passwords, keys, tokens) in a message.
 */
#ifndef LIMEN_LOG_H
#define LIMEN_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };
enum log_format { LOG_FMT_TEXT, LOG_FMT_JSON };

void log_init(enum log_level level, enum log_format format);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "error|warn|info|debug" / "text|json"; -1 if unknown. */
int log_level_parse(const char *s);
int log_format_parse(const char *s);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Startup failures and broken invariants only: log and exit(2). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

void log_vemit(enum log_level level, int errnum, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
