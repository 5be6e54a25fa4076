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

static void
test_ratelimit_shared_reference_keeps_the_buckets(void)
{
	struct conf_rate_limit c = { .enabled = true, .rate = 0.01, .burst = 1 };
	struct ratelimit *rl = ratelimit_new(&c), *again;

	REQUIRE(rl != NULL);
	CHECK_INT(ratelimit_take(rl, "k", 1, 1), ==, 0);
	again = ratelimit_ref(rl);	/* a reload keeps it */
	ratelimit_free(rl);		/* the old snapshot goes */
	CHECK_INT(ratelimit_take(again, "k", 1, 2), >=, 1);
	ratelimit_free(again);
}

static void
test_ratelimit_conf_same_compares_rate_burst_and_key(void)
{
	struct conf_rate_limit a = { .enabled = true, .rate = 10, .burst = 5 };
	struct conf_rate_limit b = a, h1 = a, h2 = a;

	CHECK_INT(ratelimit_conf_same(&a, &b), ==, 1);
	b.rate = 11;
	CHECK_INT(ratelimit_conf_same(&a, &b), ==, 0);
	b = a;
	b.burst = 6;
	CHECK_INT(ratelimit_conf_same(&a, &b), ==, 0);
	b = a;
	b.enabled = false;
	CHECK_INT(ratelimit_conf_same(&a, &b), ==, 0);
	h1.key = h2.key = RL_KEY_HEADER;
	h1.key_header = "X-Api-Key";
	h2.key_header = "x-api-key";
	CHECK_INT(ratelimit_conf_same(&h1, &h2), ==, 1);
	CHECK_INT(ratelimit_conf_same(&h1, &a), ==, 0);
	h2.key_header = "X-Other";
	CHECK_INT(ratelimit_conf_same(&h1, &h2), ==, 0);
}

HARNESS_MAIN(T(test_ratelimit_allows_the_burst_then_refuses),
    T(test_ratelimit_refills_at_the_rate),
    T(test_ratelimit_keys_are_independent),
    T(test_ratelimit_shared_reference_keeps_the_buckets),
    T(test_ratelimit_conf_same_compares_rate_burst_and_key))
