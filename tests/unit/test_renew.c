/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_renew.c — the renewal and retry policy (acme/renew.c): ARI window,
 * two thirds of the lifetime, one order per window, backoff with jitter.
 */
#include "acme/renew.h"
#include "tests/unit/harness.h"

#define DAY 86400

static void
test_renew_at_two_thirds_of_the_lifetime_without_ari(void)
{
	struct renew_cert c = { 1000000, 1000000 + 90 * DAY, 1000000 + 60 };

	CHECK_INT(renew_due(&c, NULL, 0, 0.0), ==, 1000000 + 60 * DAY);
	/* the spread is 5 % of the lifetime after that point */
	CHECK_INT(renew_due(&c, NULL, 0, 0.999), >, 1000000 + 64 * DAY);
	CHECK_INT(renew_due(&c, NULL, 0, 0.999), <=, 1000000 + 60 * DAY +
	    90 * DAY / 20);
}

static void
test_renew_two_thirds_of_a_short_lifetime_is_not_rounded_down(void)
{
	/* 11 s (pebble's "12 s" certificates): 7 s, not 3 * 2 = 6 s */
	struct renew_cert c = { 1000, 1011, 1000 };

	CHECK_INT(renew_due(&c, NULL, 0, 0.0), ==, 1007);
}

static void
test_renew_before_overrides_two_thirds(void)
{
	struct renew_cert c = { 0, 90 * DAY, 60 };

	CHECK_INT(renew_due(&c, NULL, 10 * DAY, 0.0), ==, 80 * DAY);
	/* longer than the lifetime: ignored */
	CHECK_INT(renew_due(&c, NULL, 100 * DAY, 0.0), ==, 60 * DAY);
}

static void
test_renew_picks_a_point_in_the_ari_window(void)
{
	struct renew_cert c = { 0, 90 * DAY, 60 };
	struct renew_window w = { 30 * DAY, 31 * DAY };

	CHECK_INT(renew_due(&c, &w, 0, 0.0), ==, 30 * DAY);
	CHECK_INT(renew_due(&c, &w, 0, 0.5), ==, 30 * DAY + DAY / 2);
	/* a window in the past means: renew now (the caller compares) */
	w.start = -2 * DAY;
	w.end = -DAY;
	c.obtained_at = -3 * DAY;
	CHECK_INT(renew_due(&c, &w, 0, 0.0), <, 0);
}

static void
test_renew_orders_once_per_window(void)
{
	/* we renewed after the window began, and the CA still shows the
	 * same past window: not again before a third of the lifetime */
	struct renew_cert c = { 100 * DAY, 190 * DAY, 100 * DAY + 60 };
	struct renew_window w = { 50 * DAY, 51 * DAY };

	CHECK_INT(renew_due(&c, &w, 0, 0.0), ==, 160 * DAY);
}

static void
test_renew_backdated_not_before_causes_no_burst(void)
{
	/* issued at day 100 but notBefore says day 10: two thirds of the
	 * lifetime already passed when we got it */
	struct renew_cert c = { 10 * DAY, 100 * DAY + 30 * DAY, 100 * DAY };
	time_t t = renew_due(&c, NULL, 0, 0.0);

	CHECK_INT(t, ==, 100 * DAY + 120 * DAY / 3);
}

static void
test_renew_nonsense_dates_mean_renew_now(void)
{
	struct renew_cert c = { 5000, 4000, 0 };

	CHECK_INT(renew_due(&c, NULL, 0, 0.3), ==, 5000);
}

static void
test_backoff_doubles_with_jitter_and_caps(void)
{
	CHECK_INT(renew_backoff_ms(1, 60000, 3600000, 0.0), ==, 30000);
	CHECK_INT(renew_backoff_ms(1, 60000, 3600000, 0.999), <=, 60000);
	CHECK_INT(renew_backoff_ms(1, 60000, 3600000, 0.999), >, 59000);
	CHECK_INT(renew_backoff_ms(2, 60000, 3600000, 0.0), ==, 60000);
	CHECK_INT(renew_backoff_ms(3, 60000, 3600000, 0.0), ==, 120000);
	CHECK_INT(renew_backoff_ms(20, 60000, 3600000, 0.0), ==, 1800000);
	CHECK_INT(renew_backoff_ms(1000, 60000, 3600000, 0.999), <=, 3600000);
}

static void
test_ari_poll_interval_is_clamped(void)
{
	CHECK_INT(renew_ari_poll_s(-1), ==, 6 * 3600);
	CHECK_INT(renew_ari_poll_s(0), ==, 60);
	CHECK_INT(renew_ari_poll_s(7200), ==, 7200);
	CHECK_INT(renew_ari_poll_s(10 * DAY), ==, DAY);
}

static void
test_random_is_in_unit_interval(void)
{
	for (int i = 0; i < 1000; i++) {
		double r = renew_random();
		CHECK(r >= 0.0 && r < 1.0);
	}
}

HARNESS_MAIN(
    T(test_renew_at_two_thirds_of_the_lifetime_without_ari),
    T(test_renew_two_thirds_of_a_short_lifetime_is_not_rounded_down),
    T(test_renew_before_overrides_two_thirds),
    T(test_renew_picks_a_point_in_the_ari_window),
    T(test_renew_orders_once_per_window),
    T(test_renew_backdated_not_before_causes_no_burst),
    T(test_renew_nonsense_dates_mean_renew_now),
    T(test_backoff_doubles_with_jitter_and_caps),
    T(test_ari_poll_interval_is_clamped),
    T(test_random_is_in_unit_interval))
