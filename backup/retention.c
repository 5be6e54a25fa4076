/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * retention.c — which backups and WAL files a policy keeps (pure).
 *
 * The policy is the union of its rules, as in restic and Borg: keep_last
 * keeps the N newest backups; keep_daily / keep_weekly / keep_monthly keep
 * the newest backup of each of the N most recent days / ISO weeks
 * (Monday first) / months that have a backup.  Periods are UTC.  On top:
 * the newest complete backup is always kept (even if its restore test
 * failed), backups dated in the future (a clock that went back) are kept,
 * and with no rule at all everything is kept.  A backup whose restore test
 * failed fills no period, so a bad backup never pushes out a good one.
 *
 * WAL: a base backup needs every segment from its start segment on, so
 * segments (and their .partial / .backup files) before the oldest kept
 * base backup's start segment may go; timeline history files always stay.
 */
#include "backup/backup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
order_newest_first(const void *a, const void *b, void *arg)
{
	const struct retention_item *items = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;

	if (items[i].time != items[j].time)
		return items[i].time > items[j].time ? -1 : 1;
	return i > j ? -1 : (i < j);
}

static long long
period_day(time_t t)
{
	long long d = (long long)t;
	return d >= 0 ? d / 86400 : (d - 86399) / 86400;
}

static long long
period_week(time_t t)
{
	/* 1970-01-01 was a Thursday; +3 makes weeks start on Monday */
	long long d = period_day(t) + 3;
	return d >= 0 ? d / 7 : (d - 6) / 7;
}

static long long
period_month(time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	return (long long)tm.tm_year * 12 + tm.tm_mon;
}

static void
keep_periods(struct retention_item *items, const size_t *order, size_t n,
    uint32_t count, long long (*period)(time_t), unsigned reason)
{
	long long last = 0;
	bool have_last = false;
	uint32_t kept = 0;

	for (size_t k = 0; k < n && kept < count; k++) {
		struct retention_item *it = &items[order[k]];
		long long p;

		if (it->bad)
			continue;
		p = period(it->time);
		if (have_last && p == last)
			continue;
		it->keep |= reason;
		last = p;
		have_last = true;
		kept++;
	}
}

void
retention_plan(struct retention_item *items, size_t n,
    const struct conf_retention *policy, time_t now)
{
	size_t *order;
	uint32_t kept = 0;

	for (size_t i = 0; i < n; i++)
		items[i].keep = 0;
	if (n == 0)
		return;
	if (policy->keep_last == 0 && policy->keep_daily == 0 &&
	    policy->keep_weekly == 0 && policy->keep_monthly == 0) {
		for (size_t i = 0; i < n; i++)
			items[i].keep = RETENTION_KEEP_ALL;
		return;
	}
	if ((order = malloc(n * sizeof *order)) == NULL) {
		/* cannot plan: keep everything */
		for (size_t i = 0; i < n; i++)
			items[i].keep = RETENTION_KEEP_ALL;
		return;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof *order, order_newest_first, items);

	items[order[0]].keep |= RETENTION_KEEP_NEWEST;
	for (size_t k = 0; k < n; k++)
		if (items[order[k]].time > now)
			items[order[k]].keep |= RETENTION_KEEP_FUTURE;
	for (size_t k = 0; k < n && kept < policy->keep_last; k++) {
		if (items[order[k]].bad)
			continue;
		items[order[k]].keep |= RETENTION_KEEP_LAST;
		kept++;
	}
	keep_periods(items, order, n, policy->keep_daily, period_day,
	    RETENTION_KEEP_DAILY);
	keep_periods(items, order, n, policy->keep_weekly, period_week,
	    RETENTION_KEEP_WEEKLY);
	keep_periods(items, order, n, policy->keep_monthly, period_month,
	    RETENTION_KEEP_MONTHLY);
	free(order);
}

void
retention_reasons(unsigned keep, char *buf, size_t len)
{
	static const char *const names[] = { "last", "daily", "weekly",
		"monthly", "newest", "no-policy", "future" };
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (!(keep & (1u << i)))
			continue;
		int w = snprintf(buf + off, len - off, "%s%s", off ? "," : "",
		    names[i]);
		if (w < 0 || (size_t)w >= len - off)
			break;
		off += (size_t)w;
	}
}

static bool
is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

bool
retention_wal_deletable(const char *name, const char *oldest_needed)
{
	if (oldest_needed == NULL || strlen(oldest_needed) < 24 ||
	    !is_hex(oldest_needed, 24))
		return false;
	if (strlen(name) < 24 || !is_hex(name, 24) ||
	    (name[24] != '\0' && name[24] != '.'))
		return false;	/* history files and anything unknown stay */
	/* position = log and segment numbers, whatever the timeline */
	return memcmp(name + 8, oldest_needed + 8, 16) < 0;
}
