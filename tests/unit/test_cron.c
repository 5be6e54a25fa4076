/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_cron.c — cron expression parsing and next-run times, including the
 * DST changes of Europe/Berlin and America/New_York.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cron.h"
#include "tests/unit/harness.h"

/* "2026-03-29T01:00:00Z" -> time_t */
static time_t
utc(const char *s)
{
	struct tm tm;

	memset(&tm, 0, sizeof tm);
	if (strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL)
		abort();
	return timegm(&tm);
}

static const char *
fmt(time_t t)
{
	static char buf[32];
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

/* The next run of expr after `after` (UTC text) in tz, as UTC text. */
static const char *
next_of(const char *expr, const char *after, const char *tz)
{
	struct cron_expr c;
	const char *err = NULL;
	time_t t;

	if (cron_parse(expr, &c, &err) == -1)
		return err;
	if (cron_next(&c, utc(after), tz, &t) == -1)
		return "none";
	return fmt(t);
}

static void
test_cron_parse_fields_lists_ranges_steps(void)
{
	struct cron_expr c;

	REQUIRE(cron_parse("0,30 8-17/3 1,15 * MON-FRI", &c, NULL) == 0);
	CHECK_INT(c.minutes, ==, (1ull << 0) | (1ull << 30));
	CHECK_INT(c.hours, ==, (1u << 8) | (1u << 11) | (1u << 14) | (1u << 17));
	CHECK_INT(c.days, ==, (1u << 1) | (1u << 15));
	CHECK_INT(c.months, ==, 0x1ffe);
	CHECK_INT(c.weekdays, ==, 0x3e);
	CHECK(!c.dom_star);
	CHECK(!c.dow_star);

	REQUIRE(cron_parse("*/20 * * * *", &c, NULL) == 0);
	CHECK_INT(c.minutes, ==, (1ull << 0) | (1ull << 20) | (1ull << 40));
	CHECK(c.dom_star && c.dow_star);

	REQUIRE(cron_parse("50/5 * * * *", &c, NULL) == 0);
	CHECK_INT(c.minutes, ==, (1ull << 50) | (1ull << 55));
}

static void
test_cron_parse_names_case_insensitive_and_sunday_7(void)
{
	struct cron_expr c;

	REQUIRE(cron_parse("0 0 * jan,Mar-may sun", &c, NULL) == 0);
	CHECK_INT(c.months, ==, (1u << 1) | (1u << 3) | (1u << 4) | (1u << 5));
	CHECK_INT(c.weekdays, ==, 1);
	REQUIRE(cron_parse("0 0 * * 7", &c, NULL) == 0);
	CHECK_INT(c.weekdays, ==, 1);
	REQUIRE(cron_parse("0 0 * * 5-7", &c, NULL) == 0);
	CHECK_INT(c.weekdays, ==, (1u << 0) | (1u << 5) | (1u << 6));
}

static void
test_cron_parse_macros(void)
{
	struct cron_expr a, b;

	REQUIRE(cron_parse("@daily", &a, NULL) == 0);
	REQUIRE(cron_parse("0 0 * * *", &b, NULL) == 0);
	CHECK(memcmp(&a, &b, sizeof a) == 0);
	REQUIRE(cron_parse("@hourly", &a, NULL) == 0);
	REQUIRE(cron_parse("0 * * * *", &b, NULL) == 0);
	CHECK(memcmp(&a, &b, sizeof a) == 0);
	REQUIRE(cron_parse("@weekly", &a, NULL) == 0);
	CHECK_INT(a.weekdays, ==, 1);
	REQUIRE(cron_parse("@monthly", &a, NULL) == 0);
	CHECK_INT(a.days, ==, 2);
	REQUIRE(cron_parse("@yearly", &a, NULL) == 0);
	CHECK_INT(a.months, ==, 2);
	CHECK_INT(cron_parse("@annually", &a, NULL), ==, 0);
}

static void
test_cron_parse_rejects_bad_input_with_message(void)
{
	static const char *bad[] = { "", "   ", "* * * *", "* * * * * *",
	    "60 * * * *", "* 24 * * *", "* * 0 * *", "* * 32 * *",
	    "* * * 13 *", "* * * * 8", "*/0 * * * *", "5-1 * * * *",
	    "a * * * *", "1,,2 * * * *", "1- * * * *", "* * * FOO *",
	    "* * * * MONDAY", "@reboot", "@daily x", "0 0 30 2 *",
	    "0 0 31 4,6,9,11 *", "*/ * * * *", "1-2-3 * * * *",
	    "99999999999999999999 * * * *", NULL };
	struct cron_expr c;

	for (int i = 0; bad[i]; i++) {
		const char *err = NULL;
		if (cron_parse(bad[i], &c, &err) != -1)
			harness_fail(__FILE__, __LINE__, "accepted \"%s\"",
			    bad[i]);
		else if (err == NULL || *err == '\0')
			harness_fail(__FILE__, __LINE__, "no message for \"%s\"",
			    bad[i]);
	}
	CHECK_INT(cron_parse(NULL, &c, NULL), ==, -1);
}

static void
test_cron_next_utc_basic(void)
{
	CHECK_STR(next_of("0 3 * * *", "2026-11-22T02:59:00Z", "UTC"),
	    "2026-11-22T03:00:00Z");
	/* strictly after: the run at 03:00 itself is past */
	CHECK_STR(next_of("0 3 * * *", "2026-11-22T03:00:00Z", "UTC"),
	    "2026-11-23T03:00:00Z");
	CHECK_STR(next_of("0 3 * * *", "2026-11-22T03:00:30Z", "UTC"),
	    "2026-11-23T03:00:00Z");
	CHECK_STR(next_of("*/15 * * * *", "2026-11-22T10:07:13Z", "UTC"),
	    "2026-11-22T10:15:00Z");
	CHECK_STR(next_of("* * * * *", "2026-12-31T23:59:00Z", "UTC"),
	    "2027-01-01T00:00:00Z");
	/* 2026-11-22 is a Sunday */
	CHECK_STR(next_of("@weekly", "2026-11-22T00:00:00Z", "UTC"),
	    "2026-11-29T00:00:00Z");
	CHECK_STR(next_of("@monthly", "2026-11-22T00:00:00Z", "UTC"),
	    "2026-12-01T00:00:00Z");
	CHECK_STR(next_of("@yearly", "2026-11-22T00:00:00Z", "UTC"),
	    "2027-01-01T00:00:00Z");
	CHECK_STR(next_of("30 9 * * MON-FRI", "2026-11-20T10:00:00Z", "UTC"),
	    "2026-11-23T09:30:00Z");
}

static void
test_cron_next_feb_29_and_month_ends(void)
{
	CHECK_STR(next_of("0 0 29 2 *", "2026-03-01T00:00:00Z", "UTC"),
	    "2028-02-29T00:00:00Z");
	CHECK_STR(next_of("0 12 31 * *", "2026-04-01T00:00:00Z", "UTC"),
	    "2026-05-31T12:00:00Z");
}

static void
test_cron_next_dom_or_dow_when_both_restricted(void)
{
	/* Vixie: the 13th or any Friday; 2026-11-20 is a Friday */
	CHECK_STR(next_of("0 0 13 * FRI", "2026-11-14T00:00:00Z", "UTC"),
	    "2026-11-20T00:00:00Z");
	CHECK_STR(next_of("0 0 13 * FRI", "2026-11-28T00:00:00Z", "UTC"),
	    "2026-12-04T00:00:00Z");
	/* with a '*' in day-of-month, both must hold (every Friday) */
	CHECK_STR(next_of("0 0 * * FRI", "2026-11-14T00:00:00Z", "UTC"),
	    "2026-11-20T00:00:00Z");
	/* '*' with a step still counts as unrestricted (AND): odd days
	 * that are Mondays; 2026-11-23 Monday is odd */
	CHECK_STR(next_of("0 0 */2 * MON", "2026-11-17T00:00:00Z", "UTC"),
	    "2026-11-23T00:00:00Z");
}

static void
test_cron_next_named_zone_applies_offset(void)
{
	/* Berlin is UTC+1 in November */
	CHECK_STR(next_of("0 3 * * *", "2026-11-22T00:00:00Z",
	    "Europe/Berlin"), "2026-11-22T02:00:00Z");
	/* New York is UTC-5 in November */
	CHECK_STR(next_of("0 3 * * *", "2026-11-22T00:00:00Z",
	    "America/New_York"), "2026-11-22T08:00:00Z");
}

static void
test_cron_next_local_zone_follows_tz(void)
{
	setenv("TZ", "Europe/Berlin", 1);
	CHECK_STR(next_of("0 3 * * *", "2026-11-22T00:00:00Z", NULL),
	    "2026-11-22T02:00:00Z");
	setenv("TZ", "UTC", 1);
	CHECK_STR(next_of("0 3 * * *", "2026-11-22T00:00:00Z", NULL),
	    "2026-11-22T03:00:00Z");
	/* a named zone leaves TZ as it was */
	CHECK_STR(next_of("0 3 * * *", "2026-11-22T00:00:00Z",
	    "Europe/Berlin"), "2026-11-22T02:00:00Z");
	CHECK_STR(getenv("TZ"), "UTC");
}

static void
test_cron_next_spring_forward_runs_skipped_time_once(void)
{
	/* Berlin 2026-03-29: 02:00 CET -> 03:00 CEST at 01:00Z.
	 * 02:30 does not exist: it runs once, at the end of the gap. */
	const char *z = "Europe/Berlin";

	CHECK_STR(next_of("30 2 * * *", "2026-03-28T23:00:00Z", z),
	    "2026-03-29T01:00:00Z");
	CHECK_STR(next_of("30 2 * * *", "2026-03-29T01:00:00Z", z),
	    "2026-03-30T00:30:00Z");
	/* every 15 minutes: 01:45 CET, then the gap collapses to one run */
	CHECK_STR(next_of("*/15 * * * *", "2026-03-29T00:40:00Z", z),
	    "2026-03-29T00:45:00Z");
	CHECK_STR(next_of("*/15 * * * *", "2026-03-29T00:45:00Z", z),
	    "2026-03-29T01:00:00Z");
	CHECK_STR(next_of("*/15 * * * *", "2026-03-29T01:00:00Z", z),
	    "2026-03-29T01:15:00Z");
	/* a time outside the gap is unaffected: 03:30 CEST = 01:30Z */
	CHECK_STR(next_of("30 3 * * *", "2026-03-28T23:00:00Z", z),
	    "2026-03-29T01:30:00Z");
	/* New York 2026-03-08: 02:00 EST -> 03:00 EDT at 07:00Z */
	CHECK_STR(next_of("30 2 * * *", "2026-03-08T05:00:00Z",
	    "America/New_York"), "2026-03-08T07:00:00Z");
}

static void
test_cron_next_fall_back_runs_repeated_time_once(void)
{
	/* Berlin 2026-10-25: 03:00 CEST -> 02:00 CET at 01:00Z; the wall
	 * hour 02:00-02:59 happens twice (00:00Z-01:00Z and 01:00Z-02:00Z). */
	const char *z = "Europe/Berlin";

	CHECK_STR(next_of("30 2 * * *", "2026-10-24T22:00:00Z", z),
	    "2026-10-25T00:30:00Z");
	CHECK_STR(next_of("30 2 * * *", "2026-10-25T00:30:00Z", z),
	    "2026-10-26T01:30:00Z");
	/* asked during the second pass: still not again that day */
	CHECK_STR(next_of("30 2 * * *", "2026-10-25T01:10:00Z", z),
	    "2026-10-26T01:30:00Z");
	/* every 30 minutes: 02:00, 02:30 CEST, then 03:00 CET */
	CHECK_STR(next_of("*/30 * * * *", "2026-10-24T23:50:00Z", z),
	    "2026-10-25T00:00:00Z");
	CHECK_STR(next_of("*/30 * * * *", "2026-10-25T00:00:00Z", z),
	    "2026-10-25T00:30:00Z");
	CHECK_STR(next_of("*/30 * * * *", "2026-10-25T00:30:00Z", z),
	    "2026-10-25T02:00:00Z");
	/* New York 2026-11-01: 02:00 EDT -> 01:00 EST at 06:00Z */
	CHECK_STR(next_of("30 1 * * *", "2026-11-01T04:00:00Z",
	    "America/New_York"), "2026-11-01T05:30:00Z");
	CHECK_STR(next_of("30 1 * * *", "2026-11-01T05:30:00Z",
	    "America/New_York"), "2026-11-02T06:30:00Z");
}

static void
test_cron_next_unknown_zone_fails(void)
{
	struct cron_expr c;
	time_t t;

	REQUIRE(cron_parse("@daily", &c, NULL) == 0);
	CHECK_INT(cron_next(&c, 0, "Mars/Olympus_Mons", &t), ==, -1);
	CHECK_INT(cron_next(&c, 0, "../../etc/passwd", &t), ==, -1);
	CHECK(!cron_timezone_valid("Nowhere/Else"));
	CHECK(cron_timezone_valid("Europe/Berlin"));
	CHECK(cron_timezone_valid("UTC"));
	CHECK(cron_timezone_valid(NULL));
}

HARNESS_MAIN(
    T(test_cron_parse_fields_lists_ranges_steps),
    T(test_cron_parse_names_case_insensitive_and_sunday_7),
    T(test_cron_parse_macros),
    T(test_cron_parse_rejects_bad_input_with_message),
    T(test_cron_next_utc_basic),
    T(test_cron_next_feb_29_and_month_ends),
    T(test_cron_next_dom_or_dow_when_both_restricted),
    T(test_cron_next_named_zone_applies_offset),
    T(test_cron_next_local_zone_follows_tz),
    T(test_cron_next_spring_forward_runs_skipped_time_once),
    T(test_cron_next_fall_back_runs_repeated_time_once),
    T(test_cron_next_unknown_zone_fails)
)
