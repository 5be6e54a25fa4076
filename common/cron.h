/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cron.h — 5-field cron expressions and "when is the next run" (pure).
 *
 * Syntax (Vixie cron): "MIN HOUR DOM MON DOW", each field a list of
 * `*`, `N`, `N-M`, each with an optional `/STEP` (`1-30/5`; `5/20` =
 * from 5 to the field's end by 20; after `*`, every STEP); months
 * JAN..DEC and weekdays SUN..SAT by name (case-insensitive), weekday 7 =
 * Sunday; and the macros @hourly,
 * @daily (@midnight), @weekly, @monthly, @yearly (@annually).  As in Vixie
 * cron, when both day-of-month and day-of-week are restricted (neither
 * starts with `*`) a day matches if either does.
 *
 * cron_next() works on the wall clock of a time zone, so "0 3 * * *" means
 * 03:00 local time whatever the UTC offset.  Around DST changes every
 * matching wall-clock minute fires exactly once: a time skipped by a
 * spring-forward fires at the first instant after the gap, a time that a
 * fall-back repeats fires on its first occurrence only.
 */
#ifndef LIMEN_COMMON_CRON_H
#define LIMEN_COMMON_CRON_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct cron_expr {
	uint64_t minutes;	/* bit 0..59 */
	uint32_t hours;		/* bit 0..23 */
	uint32_t days;		/* bit 1..31 */
	uint16_t months;	/* bit 1..12 */
	uint8_t weekdays;	/* bit 0..6, 0 = Sunday */
	bool dom_star;		/* day-of-month field starts with '*' */
	bool dow_star;		/* day-of-week field starts with '*' */
};

/* Parse expr into *out.  0, or -1 with *errstr set to a static message
 * (errstr may be NULL). */
int cron_parse(const char *expr, struct cron_expr *out, const char **errstr);

/*
 * The first instant strictly after `after` (truncated to its minute) that
 * matches c, in time zone tz: NULL = the process's local time (TZ), "UTC",
 * or a tz database name ("Europe/Paris").  0 with *next set; -1 if the
 * time zone is unknown or nothing matches within the next 30 years.
 * Not thread-safe for named zones (it switches TZ while it computes).
 */
int cron_next(const struct cron_expr *c, time_t after, const char *tz,
    time_t *next);

/* Whether a time zone name is usable by cron_next (NULL and "UTC" are). */
bool cron_timezone_valid(const char *tz);

#endif
