/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_ratelimit.c — the lock-free token buckets of proxy/ratelimit.c.
 */
#include "tests/unit/harness.h"

#include "proxy/ratelimit.h"

static void
test_ratelimit_allows_the_burst_then_refuses(void)
{
	struct conf_rate_limit c = { .enabled = true, .rate = 1.0, .burst = 3 };
	struct ratelimit *rl = ratelimit_new(&c);

	REQUIRE(rl != NULL);
	for (int i = 0; i < 3; i++)
		CHECK_INT(ratelimit_take(rl, "k", 1, 1000), ==, 0);
	CHECK_INT(ratelimit_take(rl, "k", 1, 1000), ==, 1);
	ratelimit_free(rl);
}

static void
test_ratelimit_refills_at_the_rate(void)
{
	struct conf_rate_limit c = { .enabled = true, .rate = 10.0, .burst = 1 };
	struct ratelimit *rl = ratelimit_new(&c);

	REQUIRE(rl != NULL);
	CHECK_INT(ratelimit_take(rl, "k", 1, 5000), ==, 0);
	CHECK_INT(ratelimit_take(rl, "k", 1, 5050), >, 0);	/* half a token */
	CHECK_INT(ratelimit_take(rl, "k", 1, 5100), ==, 0);	/* one token */
	CHECK_INT(ratelimit_take(rl, "k", 1, 5100), >, 0);
	ratelimit_free(rl);
}

static void
test_ratelimit_keys_are_independent(void)
{
	struct conf_rate_limit c = { .enabled = true, .rate = 0.01, .burst = 1 };
	struct ratelimit *rl = ratelimit_new(&c);

	REQUIRE(rl != NULL);
	CHECK_INT(ratelimit_take(rl, "alice", 5, 1), ==, 0);
	CHECK_INT(ratelimit_take(rl, "bob", 3, 1), ==, 0);
	CHECK_INT(ratelimit_take(rl, "alice", 5, 2), >=, 1);
	/* Retry-After: 1 token at 0.01/s is 100 s away */
	CHECK_INT(ratelimit_take(rl, "bob", 3, 2), >=, 99);
	ratelimit_free(rl);
}

HARNESS_MAIN(T(test_ratelimit_allows_the_burst_then_refuses),
    T(test_ratelimit_refills_at_the_rate),
    T(test_ratelimit_keys_are_independent))
