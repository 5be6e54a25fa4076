/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_pool.c — live pools: picking skips unusable servers, passive
 * failure accounting, drain, state carried over a reload, references,
 * and set swaps under concurrent picks.
 */
#include <pthread.h>
#include <unistd.h>

#include "proxy/pool.h"
#include "proxy/pool_internal.h"
#include "tests/unit/harness.h"
#include "tests/unit/pool_fixture.h"

static void
test_pool_round_robin_is_smooth_and_weighted(void)
{
	uint32_t w[] = { 5, 1, 1 };
	struct config *c = fixture_config(BALANCE_ROUND_ROBIN, w, 3);
	struct pools *ps = pools_new(c, NULL, 2);
	struct pick_ctx ctx = { .worker = 0 };
	int seq[7], expect[7] = { 0, 0, 1, 0, 2, 0, 0 }, count[3] = { 0 };
	int i, k;

	REQUIRE(ps != NULL);
	for (i = 0; i < 7; i++)
		seq[i] = fixture_pick(&ps->pools[0], &ctx, POOL_OK);
	for (i = 0; i < 7; i++)
		CHECK_INT(seq[i], ==, expect[i]);
	for (i = 0; i < 700; i++) {
		ctx.worker = (unsigned)(i % 3);	/* 2 workers + an outsider */
		k = fixture_pick(&ps->pools[0], &ctx, POOL_OK);
		REQUIRE(k >= 0);
		count[k]++;
	}
	/* each worker runs whole cycles of 7, except where it stopped */
	CHECK_INT(count[0], >=, 500 - 15);
	CHECK_INT(count[0], <=, 500 + 15);
	CHECK_INT(count[1], >=, 100 - 6);
	CHECK_INT(count[2], >=, 100 - 6);
	pools_unref(ps);
	fixture_free(c);
}

static void
test_pool_pick_skips_down_drained_and_tried(void)
{
	struct config *c = fixture_config(BALANCE_ROUND_ROBIN, NULL, 3);
	struct pools *ps = pools_new(c, NULL, 1);
	struct pool *p;
	struct server *tried[1];
	struct pick_ctx ctx = { .worker = 0 };
	int i, k;

	REQUIRE(ps != NULL);
	p = &ps->pools[0];
	atomic_store(&fixture_server(p, 0)->up, false);
	atomic_store(&fixture_server(p, 1)->drained, true);
	for (i = 0; i < 10; i++)
		CHECK_INT(fixture_pick(p, &ctx, POOL_OK), ==, 2);
	tried[0] = fixture_server(p, 2);
	ctx.tried = tried;
	ctx.n_tried = 1;
	CHECK_INT(fixture_pick(p, &ctx, POOL_OK), ==, -1);
	CHECK(pool_any_usable(p));
	atomic_store(&fixture_server(p, 1)->drained, false);
	k = fixture_pick(p, &ctx, POOL_OK);
	CHECK_INT(k, ==, 1);
	pools_unref(ps);
	fixture_free(c);
}

static void
test_pool_all_down_gives_null_at_once(void)
{
	enum conf_balance algos[] = { BALANCE_ROUND_ROBIN, BALANCE_LEAST_CONN,
	    BALANCE_RANDOM_TWO, BALANCE_HASH };
	struct pick_ctx ctx = { .worker = 0 };
	struct config *c;
	struct pools *ps;
	size_t a, i;

	for (a = 0; a < 4; a++) {
		c = fixture_config(algos[a], NULL, 4);
		ps = pools_new(c, NULL, 1);
		REQUIRE(ps != NULL);
		CHECK(pool_any_usable(&ps->pools[0]));
		for (i = 0; i < 4; i++)
			atomic_store(&fixture_server(&ps->pools[0], i)->up,
			    false);
		CHECK(!pool_any_usable(&ps->pools[0]));
		CHECK(pool_pick(&ps->pools[0], &ctx) == NULL);
		pools_unref(ps);
		fixture_free(c);
	}
}

static void
test_pool_empty_pool_gives_null(void)
{
	struct config *c = fixture_config(BALANCE_ROUND_ROBIN, NULL, 0);
	struct pools *ps = pools_new(c, NULL, 1);
	struct pick_ctx ctx = { .worker = 0 };

	REQUIRE(ps != NULL);
	CHECK(pool_pick(&ps->pools[0], &ctx) == NULL);
	CHECK(!pool_any_usable(&ps->pools[0]));
	pools_unref(ps);
	fixture_free(c);
}

static void
test_pool_passive_failures_take_server_out(void)
{
	struct config *c = fixture_config(BALANCE_ROUND_ROBIN, NULL, 2);
	struct pools *ps;
	struct pool *p;
	struct server *s0;
	struct pick_ctx ctx = { .worker = 0 };
	int i, k;

	c->pools[0].max_fails = 3;
	c->pools[0].fail_timeout_ms = 60000;
	ps = pools_new(c, NULL, 1);
	REQUIRE(ps != NULL);
	p = &ps->pools[0];
	s0 = fixture_server(p, 0);
	/* two failures, then a success: the count starts again */
	pool_release(p, (server_ref(s0), atomic_fetch_add(&s0->active, 1), s0),
	    POOL_FAIL_CONNECT);
	pool_release(p, (server_ref(s0), atomic_fetch_add(&s0->active, 1), s0),
	    POOL_FAIL_RESET);
	CHECK_INT(atomic_load(&s0->fails), ==, 2);
	pool_release(p, (server_ref(s0), atomic_fetch_add(&s0->active, 1), s0),
	    POOL_OK);
	CHECK_INT(atomic_load(&s0->fails), ==, 0);
	/* an aborted client is not the server's fault */
	pool_release(p, (server_ref(s0), atomic_fetch_add(&s0->active, 1), s0),
	    POOL_ABORTED);
	CHECK_INT(atomic_load(&s0->fails), ==, 0);
	for (i = 0; i < 3; i++)
		pool_release(p, (server_ref(s0),
		    atomic_fetch_add(&s0->active, 1), s0), POOL_FAIL_TIMEOUT);
	CHECK_INT(atomic_load(&s0->down_until_ms), >, pool_now_ms() + 50000);
	for (i = 0; i < 10; i++)
		CHECK_INT(fixture_pick(p, &ctx, POOL_OK), ==, 1);
	CHECK_INT(atomic_load(&s0->active), ==, 0);
	/* the timeout passes: it gets traffic again */
	atomic_store(&s0->down_until_ms, pool_now_ms() - 1);
	for (i = 0, k = 0; i < 10; i++)
		k += fixture_pick(p, &ctx, POOL_OK) == 0;
	CHECK_INT(k, ==, 5);
	pools_unref(ps);
	fixture_free(c);
}

static void
test_pool_passive_half_open_failure_goes_out_again(void)
{
	struct config *c = fixture_config(BALANCE_ROUND_ROBIN, NULL, 1);
	struct pools *ps;
	struct pool *p;
	struct server *s;
	struct pick_ctx ctx = { .worker = 0 };
	int i;

	c->pools[0].max_fails = 2;
	c->pools[0].fail_timeout_ms = 30;
	ps = pools_new(c, NULL, 1);
	REQUIRE(ps != NULL);
	p = &ps->pools[0];
	for (i = 0; i < 2; i++)
		CHECK_INT(fixture_pick(p, &ctx, POOL_FAIL_CONNECT), ==, 0);
	CHECK_INT(fixture_pick(p, &ctx, POOL_OK), ==, -1);
	CHECK(!pool_any_usable(p));
	/* the real clock: back after fail_timeout (deadline, not a sleep) */
	for (i = 0; i < 200 && !pool_any_usable(p); i++)
		usleep(5000);
	CHECK(pool_any_usable(p));
	/* one more failure after the timeout: out again at once */
	CHECK_INT(fixture_pick(p, &ctx, POOL_FAIL_CONNECT), ==, 0);
	CHECK(!pool_any_usable(p));
	s = fixture_server(p, 0);
	atomic_store(&s->down_until_ms, 0);
	CHECK_INT(fixture_pick(p, &ctx, POOL_OK), ==, 0);
	CHECK_INT(atomic_load(&s->fails), ==, 0);
	pools_unref(ps);
	fixture_free(c);
}

static void
test_pool_max_fails_zero_disables_passive(void)
{
	struct config *c = fixture_config(BALANCE_ROUND_ROBIN, NULL, 1);
	struct pools *ps;
	struct pick_ctx ctx = { .worker = 0 };
	int i;

	c->pools[0].max_fails = 0;
	ps = pools_new(c, NULL, 1);
	REQUIRE(ps != NULL);
	for (i = 0; i < 20; i++)
		CHECK_INT(fixture_pick(&ps->pools[0], &ctx, POOL_FAIL_CONNECT),
		    ==, 0);
	pools_unref(ps);
	fixture_free(c);
}

static void
test_pool_drain_by_address(void)
{
	struct config *c = fixture_config(BALANCE_ROUND_ROBIN, NULL, 2);
	struct pools *ps = pools_new(c, NULL, 1);
	struct pick_ctx ctx = { .worker = 0 };
	struct server *inflight;
	struct pool *p;
	int i;

	REQUIRE(ps != NULL);
	p = &ps->pools[0];
	CHECK_INT(pool_set_drained(p, "10.0.0.9:8000", true), ==, -1);
	inflight = pool_pick(p, &ctx);
	REQUIRE(inflight != NULL);
	CHECK_STR(inflight->name, "10.0.0.1:8000");
	CHECK_INT(pool_set_drained(p, "10.0.0.1:8000", true), ==, 0);
	for (i = 0; i < 6; i++)
		CHECK_INT(fixture_pick(p, &ctx, POOL_OK), ==, 1);
	/* the in-flight request finishes normally */
	CHECK_INT(atomic_load(&inflight->active), ==, 1);
	pool_release(p, inflight, POOL_OK);
	CHECK_INT(pool_set_drained(p, "10.0.0.1:8000", false), ==, 0);
	for (i = 0; i < 2; i++)
		fixture_pick(p, &ctx, POOL_OK);
	CHECK_INT(atomic_load(&fixture_server(p, 0)->requests), ==, 2);
	pools_unref(ps);
	fixture_free(c);
}

static void
test_pools_new_carries_state_over_reload(void)
{
	uint32_t w1[] = { 1, 1, 1 }, w2[] = { 1, 3, 1 };
	struct config *c1 = fixture_config(BALANCE_ROUND_ROBIN, w1, 3);
	struct config *c2 = fixture_config(BALANCE_ROUND_ROBIN, w2, 3);
	struct pools *p1, *p2;
	struct server *a0, *a1, *b0, *b1, *b2;

	/* c2: servers .1 (same), .2 (weight changed), .9 (new) */
	free(c2->pools[0].servers[2].addr.text);
	free(c2->pools[0].servers[2].addr.host);
	fixture_addr(&c2->pools[0].servers[2].addr, "10.0.0.9", 8000);
	c1->pools[0].health.enabled = true;
	c2->pools[0].health.enabled = true;
	p1 = pools_new(c1, NULL, 1);
	REQUIRE(p1 != NULL);
	a0 = fixture_server(&p1->pools[0], 0);
	a1 = fixture_server(&p1->pools[0], 1);
	atomic_store(&a0->up, false);
	atomic_store(&a1->drained, true);
	p2 = pools_new(c2, p1, 1);
	REQUIRE(p2 != NULL);
	CHECK_INT(atomic_load(&c1->refs), ==, 2);
	b0 = fixture_server(&p2->pools[0], 0);
	b1 = fixture_server(&p2->pools[0], 1);
	b2 = fixture_server(&p2->pools[0], 2);
	REQUIRE(b0 != NULL && b1 != NULL && b2 != NULL);
	CHECK(b0 == a0);		/* same object */
	CHECK(!atomic_load(&b0->up));	/* c2 has health checks */
	CHECK(b1 != a1);		/* new weight: a copy of the state */
	CHECK_INT(b1->weight, ==, 3);
	CHECK(atomic_load(&b1->drained));
	CHECK(atomic_load(&b2->up));
	pools_unref(p1);
	CHECK_INT(atomic_load(&c1->refs), ==, 1);
	CHECK(!atomic_load(&b0->up));
	/* a reload without health checks: nothing would bring .1 up again */
	c1->pools[0].health.enabled = false;
	p1 = pools_new(c1, p2, 1);
	REQUIRE(p1 != NULL);
	CHECK(atomic_load(&fixture_server(&p1->pools[0], 0)->up));
	pools_unref(p1);
	pools_unref(p2);
	fixture_free(c1);
	fixture_free(c2);
}

static void
test_pool_picked_server_outlives_its_pools(void)
{
	struct config *c = fixture_config(BALANCE_LEAST_CONN, NULL, 2);
	struct pools *ps = pools_new(c, NULL, 1);
	struct pick_ctx ctx = { .worker = 0 };
	struct server *s;

	REQUIRE(ps != NULL);
	s = pool_pick(&ps->pools[0], &ctx);
	REQUIRE(s != NULL);
	CHECK_INT(atomic_load(&s->refs), ==, 2);
	pools_ref(ps);
	pools_unref(ps);
	CHECK_INT(atomic_load(&s->active), ==, 1);
	/* the runtime keeps the pools while the exchange runs; the server's
	 * own reference is what keeps it when the set is swapped */
	server_ref(s);
	pool_release(&ps->pools[0], s, POOL_OK);
	pools_unref(ps);
	CHECK_INT(atomic_load(&s->refs), ==, 1);
	CHECK_STR(s->name, "10.0.0.1:8000");
	server_unref(s);
	fixture_free(c);
}

struct swap_arg {
	struct pool *p;
	unsigned worker;
	atomic_bool *stop;
	long picks;
};

static void *
swap_picker(void *arg)
{
	struct swap_arg *a = arg;
	struct pick_ctx ctx = { .worker = a->worker };
	struct server *s;

	while (!atomic_load(a->stop)) {
		if ((s = pool_pick(a->p, &ctx)) != NULL) {
			a->picks++;
			pool_release(a->p, s, POOL_OK);
		}
		if (pool_any_usable(a->p))
			a->picks++;
	}
	return NULL;
}

/* Workers pick while the set is swapped and old sets are reclaimed:
 * with ASan this shows that no reader touches a freed set. */
static void
test_pool_set_swap_under_concurrent_picks(void)
{
	struct config *c = fixture_config(BALANCE_HASH, NULL, 4);
	struct pools *ps = pools_new(c, NULL, 2);
	struct swap_arg args[2];
	pthread_t th[2];
	atomic_bool stop = false;
	struct server_set *cur, *set;
	struct server *s;
	size_t i;
	int round;

	REQUIRE(ps != NULL);
	for (i = 0; i < 2; i++) {
		args[i] = (struct swap_arg){ &ps->pools[0], (unsigned)i, &stop,
		    0 };
		pthread_create(&th[i], NULL, swap_picker, &args[i]);
	}
	for (round = 0; round < 2000; round++) {
		cur = pool_servers(&ps->pools[0]);
		REQUIRE(cur != NULL);
		set = server_set_new();
		REQUIRE(set != NULL);
		/* drop one server in turn, keep the others (same objects) */
		for (i = 0; i < cur->n; i++)
			if ((int)i != round % 4 || cur->n < 4)
				server_set_add(set, cur->servers[i]);
		if (cur->n < 4) {
			s = server_new("extra", "extra",
			    (struct sockaddr *)&c->pools[0].servers[round % 4]
			    .addr.sa, c->pools[0].servers[0].addr.sa_len, 1);
			server_set_add(set, s);
			server_unref(s);
		}
		server_set_unref(cur);
		CHECK_INT(pool_publish(&ps->pools[0], set), ==, 0);
		pool_reclaim(false);
	}
	atomic_store(&stop, true);
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pool_reclaim(true);
	CHECK_INT(args[0].picks + args[1].picks, >, 0);
	pools_unref(ps);
	fixture_free(c);
}

static void
test_pool_cookie_value_finds_the_named_cookie(void)
{
	const char *h = "theme=dark; sid=abc123;x=1; q=\"quoted v\"; e=";
	const char *v;
	size_t n = 0;

	v = pool_cookie_value(h, strlen(h), "sid", &n);
	CHECK_MEM(v, n, "abc123", 6);
	v = pool_cookie_value(h, strlen(h), "x", &n);
	CHECK_MEM(v, n, "1", 1);
	v = pool_cookie_value(h, strlen(h), "q", &n);
	CHECK_MEM(v, n, "quoted v", 8);
	v = pool_cookie_value(h, strlen(h), "e", &n);
	CHECK(v != NULL && n == 0);
	CHECK(pool_cookie_value(h, strlen(h), "si", &n) == NULL);
	CHECK(pool_cookie_value(h, strlen(h), "theme=dark", &n) == NULL);
	CHECK(pool_cookie_value("", 0, "sid", &n) == NULL);
	/* bounded by len, not by a NUL */
	v = harness_guarded("sid=zz", 6);
	CHECK(pool_cookie_value(v, 6, "sid", &n) != NULL && n == 2);
}

HARNESS_MAIN(T(test_pool_cookie_value_finds_the_named_cookie),
    T(test_pool_round_robin_is_smooth_and_weighted),
    T(test_pool_pick_skips_down_drained_and_tried),
    T(test_pool_all_down_gives_null_at_once),
    T(test_pool_empty_pool_gives_null),
    T(test_pool_passive_failures_take_server_out),
    T(test_pool_passive_half_open_failure_goes_out_again),
    T(test_pool_max_fails_zero_disables_passive),
    T(test_pool_drain_by_address),
    T(test_pools_new_carries_state_over_reload),
    T(test_pool_picked_server_outlives_its_pools),
    T(test_pool_set_swap_under_concurrent_picks))
