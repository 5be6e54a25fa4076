/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_retention.c — which backups a policy keeps, over simulated dates
 * (a daily job for months, several backups a day, failed restore tests),
 * and which WAL files a kept base backup still needs.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/backup.h"
#include "tests/unit/harness.h"

static time_t
at(int y, int mo, int d, int h)
{
	struct tm tm;

	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	return timegm(&tm);
}

static size_t
count_kept(const struct retention_item *it, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += it[i].keep != 0;
	return k;
}

static void
test_retention_daily_job_over_half_a_year(void)
{
	/* one backup a day at 03:00 from 2026-01-01 to 2026-06-30 */
	struct retention_item it[181];
	struct conf_retention p = { .keep_last = 3, .keep_daily = 7,
	    .keep_weekly = 4, .keep_monthly = 6 };
	size_t n = 0;

	for (int d = 0; d < 181; d++)
		it[n++] = (struct retention_item){ at(2026, 1, 1, 3) +
		    (time_t)d * 86400, false, 0 };
	retention_plan(it, n, &p, at(2026, 7, 1, 0));
	/* the last 7 days (covers keep_last 3) */
	for (int d = 174; d < 181; d++)
		CHECK(it[d].keep & RETENTION_KEEP_DAILY);
	CHECK(it[180].keep & RETENTION_KEEP_NEWEST);
	CHECK(it[180].keep & RETENTION_KEEP_LAST);
	CHECK(it[178].keep & RETENTION_KEEP_LAST);
	CHECK(!(it[177].keep & RETENTION_KEEP_LAST));
	/* weekly: newest of the 4 most recent ISO weeks.  2026-06-30 is a
	 * Tuesday (week from Mon 06-29), then Sundays 06-28, 06-21, 06-14 */
	CHECK(it[180].keep & RETENTION_KEEP_WEEKLY);
	CHECK(it[178].keep & RETENTION_KEEP_WEEKLY);	/* 06-28 */
	CHECK(it[171].keep & RETENTION_KEEP_WEEKLY);	/* 06-21 */
	CHECK(it[164].keep & RETENTION_KEEP_WEEKLY);	/* 06-14 */
	CHECK(!(it[157].keep & RETENTION_KEEP_WEEKLY));
	/* monthly: last day of Jan..May and 06-30 */
	CHECK(it[30].keep & RETENTION_KEEP_MONTHLY);	/* 01-31 */
	CHECK(it[58].keep & RETENTION_KEEP_MONTHLY);	/* 02-28 */
	CHECK(it[89].keep & RETENTION_KEEP_MONTHLY);	/* 03-31 */
	CHECK(it[119].keep & RETENTION_KEEP_MONTHLY);	/* 04-30 */
	CHECK(it[150].keep & RETENTION_KEEP_MONTHLY);	/* 05-31 */
	CHECK(it[180].keep & RETENTION_KEEP_MONTHLY);
	CHECK(!(it[0].keep));
	/* union: 7 daily + 06-21, 06-14 weekly + 5 monthly = 14 */
	CHECK_INT(count_kept(it, n), ==, 14);
}

static void
test_retention_several_a_day_keep_the_newest_of_each_day(void)
{
	struct retention_item it[12];
	struct conf_retention p = { .keep_daily = 2 };
	size_t n = 0;

	for (int d = 0; d < 3; d++)
		for (int h = 0; h < 4; h++)
			it[n++] = (struct retention_item){
			    at(2026, 11, 20 + d, h * 6), false, 0 };
	retention_plan(it, n, &p, at(2026, 11, 23, 0));
	CHECK(it[11].keep & RETENTION_KEEP_DAILY);	/* 11-22 18:00 */
	CHECK(it[7].keep & RETENTION_KEEP_DAILY);	/* 11-21 18:00 */
	CHECK_INT(count_kept(it, n), ==, 2);
}

static void
test_retention_newest_kept_even_when_bad_and_bad_fills_nothing(void)
{
	struct retention_item it[4];
	struct conf_retention p = { .keep_last = 1 };

	for (int i = 0; i < 4; i++)
		it[i] = (struct retention_item){ at(2026, 11, 1 + i, 3),
		    false, 0 };
	it[3].bad = true;
	it[2].bad = true;
	retention_plan(it, 4, &p, at(2026, 12, 1, 0));
	CHECK(it[3].keep == RETENTION_KEEP_NEWEST);
	CHECK(!(it[2].keep));
	CHECK(it[1].keep & RETENTION_KEEP_LAST);	/* the newest good one */
	CHECK(!(it[0].keep));
}

static void
test_retention_no_policy_keeps_everything(void)
{
	struct retention_item it[3];
	struct conf_retention p = { 0 };

	for (int i = 0; i < 3; i++)
		it[i] = (struct retention_item){ at(2020, 1, 1 + i, 0), false,
		    0 };
	retention_plan(it, 3, &p, at(2026, 1, 1, 0));
	CHECK_INT(count_kept(it, 3), ==, 3);
}

static void
test_retention_future_backups_are_kept(void)
{
	struct retention_item it[3];
	struct conf_retention p = { .keep_last = 1 };

	it[0] = (struct retention_item){ at(2026, 1, 1, 0), false, 0 };
	it[1] = (struct retention_item){ at(2026, 1, 2, 0), false, 0 };
	it[2] = (struct retention_item){ at(2027, 1, 1, 0), false, 0 };
	retention_plan(it, 3, &p, at(2026, 1, 3, 0));
	CHECK(it[2].keep & RETENTION_KEEP_FUTURE);
	CHECK(!(it[1].keep));
	CHECK(!(it[0].keep));
}

static void
test_retention_order_of_items_does_not_matter(void)
{
	struct retention_item a[5], b[5];
	struct conf_retention p = { .keep_last = 2, .keep_weekly = 2 };

	for (int i = 0; i < 5; i++) {
		a[i] = (struct retention_item){ at(2026, 3, 1 + 5 * i, 0),
		    false, 0 };
		b[4 - i] = a[i];
	}
	retention_plan(a, 5, &p, at(2026, 4, 1, 0));
	retention_plan(b, 5, &p, at(2026, 4, 1, 0));
	for (int i = 0; i < 5; i++)
		CHECK_INT(a[i].keep, ==, b[4 - i].keep);
}

static void
test_retention_wal_before_oldest_kept_base_backup_goes(void)
{
	const char *oldest = "000000010000000200000010";

	CHECK(retention_wal_deletable("00000001000000020000000F", oldest));
	CHECK(retention_wal_deletable("0000000100000001000000FF.gz", oldest));
	CHECK(retention_wal_deletable(
	    "00000001000000020000000F.00000028.backup", oldest));
	CHECK(retention_wal_deletable("00000001000000020000000E.partial.enc",
	    oldest));
	CHECK(!retention_wal_deletable("000000010000000200000010", oldest));
	CHECK(!retention_wal_deletable("000000010000000200000011.zst", oldest));
	/* a later timeline at a later position is needed */
	CHECK(!retention_wal_deletable("000000020000000200000012", oldest));
	/* history files always stay; so does anything unknown */
	CHECK(!retention_wal_deletable("00000002.history", oldest));
	CHECK(!retention_wal_deletable("notes.txt", oldest));
	CHECK(!retention_wal_deletable("00000001000000020000000F", NULL));
}

static void
test_retention_reasons_text(void)
{
	char buf[64];

	retention_reasons(RETENTION_KEEP_LAST | RETENTION_KEEP_MONTHLY, buf,
	    sizeof buf);
	CHECK_STR(buf, "last,monthly");
	retention_reasons(0, buf, sizeof buf);
	CHECK_STR(buf, "");
}

HARNESS_MAIN(
    T(test_retention_daily_job_over_half_a_year),
    T(test_retention_several_a_day_keep_the_newest_of_each_day),
    T(test_retention_newest_kept_even_when_bad_and_bad_fills_nothing),
    T(test_retention_no_policy_keeps_everything),
    T(test_retention_future_backups_are_kept),
    T(test_retention_order_of_items_does_not_matter),
    T(test_retention_wal_before_oldest_kept_base_backup_goes),
    T(test_retention_reasons_text)
)
