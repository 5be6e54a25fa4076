/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_balance.c — the four balancing algorithms: weights honoured over
 * many picks, least_conn and random_two follow the load, the consistent
 * hash moves about 1/(N+1) of the keys when a server is added and keeps
 * a key on its server.
 */
#include <math.h>

#include "proxy/balance.h"
#include "proxy/pool.h"
#include "proxy/pool_internal.h"
#include "tests/unit/harness.h"
#include "tests/unit/pool_fixture.h"

static void
client_ip(struct sockaddr_in *sin, uint32_t n)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(0x0a000000u + n);
	sin->sin_port = htons(40000);
}

/* Share of each server over `picks` picks (released at once), picks made
 * by two workers in turn and with a different client address each. */
static void
shares(enum conf_balance b, const uint32_t *w, size_t n, int picks,
    double *share)
{
	struct config *c = fixture_config(b, w, n);
	struct pools *ps = pools_new(c, NULL, 2);
	struct sockaddr_in sin;
	struct pick_ctx ctx = { .worker = 0 };
	int count[16] = { 0 }, i, k;
	size_t j;

	if (ps == NULL)
		return;
	for (i = 0; i < picks; i++) {
		client_ip(&sin, (uint32_t)i * 7919u);
		ctx.client = (struct sockaddr *)&sin;
		ctx.worker = (unsigned)(i & 1);
		k = fixture_pick(&ps->pools[0], &ctx, POOL_OK);
		if (k >= 0)
			count[k]++;
	}
	for (j = 0; j < n; j++)
		share[j] = (double)count[j] / picks;
	pools_unref(ps);
	fixture_free(c);
}

static void
test_balance_every_algorithm_honours_weights(void)
{
	enum conf_balance algos[] = { BALANCE_ROUND_ROBIN, BALANCE_LEAST_CONN,
	    BALANCE_RANDOM_TWO, BALANCE_HASH };
	/* hash: the points of a ring are random, so a looser bound */
	double tol[] = { 0.005, 0.005, 0.02, 0.04 };
	uint32_t w[] = { 1, 2, 3, 4 };
	double share[4], want;
	size_t a, j;

	for (a = 0; a < 4; a++) {
		shares(algos[a], w, 4, 20000, share);
		if (getenv("TEST_VERBOSE"))
			printf("# algorithm %zu: %.3f %.3f %.3f %.3f\n", a,
			    share[0], share[1], share[2], share[3]);
		for (j = 0; j < 4; j++) {
			want = w[j] / 10.0;
			if (fabs(share[j] - want) > tol[a])
				harness_fail(__FILE__, __LINE__,
				    "algorithm %zu server %zu: share %.3f, "
				    "want %.3f", a, j, share[j], want);
		}
	}
}

static void
test_balance_least_conn_prefers_least_active(void)
{
	uint32_t w[] = { 1, 3 };
	struct config *c = fixture_config(BALANCE_LEAST_CONN, NULL, 3);
	struct config *cw = fixture_config(BALANCE_LEAST_CONN, w, 2);
	struct pools *ps = pools_new(c, NULL, 1), *pw = pools_new(cw, NULL, 1);
	struct pick_ctx ctx = { .worker = 0 };
	struct server *held[8];
	struct pool *p;
	int i, n0 = 0;

	REQUIRE(ps != NULL && pw != NULL);
	p = &ps->pools[0];
	atomic_store(&fixture_server(p, 0)->active, 5);
	atomic_store(&fixture_server(p, 1)->active, 3);
	atomic_store(&fixture_server(p, 2)->active, 1);
	/* .3 until it reaches 3, then .2 and .3 alternate */
	CHECK_INT(fixture_pick(p, &ctx, POOL_OK), ==, 2);
	for (i = 0; i < 2; i++) {
		held[i] = pool_pick(p, &ctx);
		REQUIRE(held[i] != NULL);
		CHECK(held[i] == fixture_server(p, 2));
	}
	held[2] = pool_pick(p, &ctx);
	held[3] = pool_pick(p, &ctx);
	REQUIRE(held[2] != NULL && held[3] != NULL);
	CHECK(held[2] != held[3]);
	CHECK(held[2] != fixture_server(p, 0) && held[3] != fixture_server(p, 0));
	for (i = 0; i < 4; i++)
		pool_release(p, held[i], POOL_OK);
	/* weighted: 8 requests held on weights 1 and 3 -> 2 and 6 */
	for (i = 0; i < 8; i++) {
		held[i] = pool_pick(&pw->pools[0], &ctx);
		REQUIRE(held[i] != NULL);
		n0 += held[i] == fixture_server(&pw->pools[0], 0);
	}
	CHECK_INT(n0, ==, 2);
	for (i = 0; i < 8; i++)
		pool_release(&pw->pools[0], held[i], POOL_OK);
	pools_unref(ps);
	pools_unref(pw);
	fixture_free(c);
	fixture_free(cw);
}

static void
test_balance_random_two_never_picks_down_and_prefers_idle(void)
{
	struct config *c = fixture_config(BALANCE_RANDOM_TWO, NULL, 5);
	struct pools *ps = pools_new(c, NULL, 1);
	struct pick_ctx ctx = { .worker = 0 };
	struct pool *p;
	int i, k, count[5] = { 0 };

	REQUIRE(ps != NULL);
	p = &ps->pools[0];
	atomic_store(&fixture_server(p, 1)->up, false);
	atomic_store(&fixture_server(p, 3)->down_until_ms,
	    pool_now_ms() + 60000);
	for (i = 0; i < 5000; i++) {
		k = fixture_pick(p, &ctx, POOL_OK);
		REQUIRE(k >= 0);
		count[k]++;
	}
	CHECK_INT(count[1], ==, 0);
	CHECK_INT(count[3], ==, 0);
	CHECK_INT(count[0], >, 1400);
	CHECK_INT(count[2], >, 1400);
	CHECK_INT(count[4], >, 1400);
	/* a loaded server is chosen only when both draws are loaded ones:
	 * with .1 and .5 busy, .3 (idle) wins every draw it is in */
	atomic_store(&fixture_server(p, 0)->active, 10);
	atomic_store(&fixture_server(p, 4)->active, 10);
	memset(count, 0, sizeof(count));
	for (i = 0; i < 3000; i++)
		count[fixture_pick(p, &ctx, POOL_OK)]++;
	/* .3 is in 2 of the 3 possible pairs and wins both: about 2/3 */
	CHECK_INT(count[2], >, 1800);
	atomic_store(&fixture_server(p, 0)->active, 0);
	atomic_store(&fixture_server(p, 4)->active, 0);
	/* one usable server left: always it */
	atomic_store(&fixture_server(p, 0)->drained, true);
	atomic_store(&fixture_server(p, 4)->drained, true);
	for (i = 0; i < 50; i++)
		CHECK_INT(fixture_pick(p, &ctx, POOL_OK), ==, 2);
	pools_unref(ps);
	fixture_free(c);
}

/* The server (by address) each of n keys goes to, in out[]. */
static void
hash_map(struct pool *p, int n, struct server **out)
{
	struct pick_ctx ctx = { .worker = 0 };
	struct sockaddr_in sin;
	struct server *s;
	int i;

	for (i = 0; i < n; i++) {
		client_ip(&sin, (uint32_t)i);
		ctx.client = (struct sockaddr *)&sin;
		s = pool_pick(p, &ctx);
		out[i] = s;
		if (s != NULL)
			pool_release(p, s, POOL_OK);
	}
}

static void
test_balance_hash_adding_a_server_moves_one_in_n_plus_one(void)
{
	enum { N = 10, KEYS = 20000 };
	struct config *c = fixture_config(BALANCE_HASH, NULL, N + 1);
	struct pools *ps;
	struct pool *p;
	struct server_set *full, *less, *all;
	struct server *added;
	static struct server *before[KEYS], *after[KEYS];
	int i, moved = 0, wrong = 0;
	size_t j;
	double frac;

	ps = pools_new(c, NULL, 1);
	REQUIRE(ps != NULL);
	p = &ps->pools[0];
	/* start with the first N servers, then publish all N+1 */
	full = pool_servers(p);
	added = full->servers[N];
	less = server_set_new();
	all = server_set_new();
	for (j = 0; j <= N; j++) {
		if (j < N)
			server_set_add(less, full->servers[j]);
		server_set_add(all, full->servers[j]);
	}
	server_set_unref(full);
	REQUIRE(pool_publish(p, less) == 0);
	hash_map(p, KEYS, before);
	REQUIRE(pool_publish(p, all) == 0);
	hash_map(p, KEYS, after);
	for (i = 0; i < KEYS; i++) {
		if (before[i] == after[i])
			continue;
		moved++;
		wrong += after[i] != added;	/* moved elsewhere: not minimal */
	}
	frac = (double)moved / KEYS;
	if (getenv("TEST_VERBOSE"))
		printf("# moved %.4f, ideal %.4f\n", frac, 1.0 / (N + 1));
	CHECK_INT(wrong, ==, 0);
	if (frac < 0.7 / (N + 1) || frac > 1.3 / (N + 1))
		harness_fail(__FILE__, __LINE__, "moved %.4f, want about %.4f",
		    frac, 1.0 / (N + 1));
	pool_reclaim(true);
	pools_unref(ps);
	fixture_free(c);
}

static void
test_balance_hash_is_sticky_by_header_and_falls_back_to_ip(void)
{
	struct config *c = fixture_config(BALANCE_HASH, NULL, 5);
	struct pools *ps;
	struct pool *p;
	struct pick_ctx ctx = { .worker = 0 };
	struct sockaddr_in sin;
	char val[32];
	int first, i, k, seen[5] = { 0 }, distinct = 0;

	c->pools[0].hash_key = HASH_HEADER;
	c->pools[0].hash_key_name = strdup("X-User");
	ps = pools_new(c, NULL, 1);
	REQUIRE(ps != NULL);
	p = &ps->pools[0];
	ctx.hash_value = "alice";
	ctx.hash_len = 5;
	first = fixture_pick(p, &ctx, POOL_OK);
	REQUIRE(first >= 0);
	for (i = 0; i < 100; i++) {
		client_ip(&sin, (uint32_t)i);	/* the client IP does not matter */
		ctx.client = (struct sockaddr *)&sin;
		CHECK_INT(fixture_pick(p, &ctx, POOL_OK), ==, first);
	}
	/* its server goes down: the next one on the ring, then back */
	atomic_store(&fixture_server(p, (size_t)first)->up, false);
	k = fixture_pick(p, &ctx, POOL_OK);
	CHECK(k >= 0 && k != first);
	for (i = 0; i < 10; i++)
		CHECK_INT(fixture_pick(p, &ctx, POOL_OK), ==, k);
	atomic_store(&fixture_server(p, (size_t)first)->up, true);
	CHECK_INT(fixture_pick(p, &ctx, POOL_OK), ==, first);
	/* different values spread over the servers */
	for (i = 0; i < 200; i++) {
		snprintf(val, sizeof(val), "user-%d", i);
		ctx.hash_value = val;
		ctx.hash_len = strlen(val);
		seen[fixture_pick(p, &ctx, POOL_OK)]++;
	}
	for (i = 0; i < 5; i++)
		distinct += seen[i] > 10;
	CHECK_INT(distinct, ==, 5);
	/* no header: the client IP decides, the same IP the same server */
	ctx.hash_value = NULL;
	ctx.hash_len = 0;
	client_ip(&sin, 42);
	first = fixture_pick(p, &ctx, POOL_OK);
	for (i = 0; i < 20; i++)
		CHECK_INT(fixture_pick(p, &ctx, POOL_OK), ==, first);
	pools_unref(ps);
	fixture_free(c);
}

static void
test_balance_hash_ipv4_mapped_client_is_the_ipv4_client(void)
{
	struct config *c = fixture_config(BALANCE_HASH, NULL, 7);
	struct pools *ps = pools_new(c, NULL, 1);
	struct pick_ctx ctx = { .worker = 0 };
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	int i, a, b;

	REQUIRE(ps != NULL);
	for (i = 0; i < 50; i++) {
		client_ip(&sin, (uint32_t)i * 977u);
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_addr.s6_addr[10] = 0xff;
		sin6.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&sin6.sin6_addr.s6_addr[12], &sin.sin_addr, 4);
		ctx.client = (struct sockaddr *)&sin;
		a = fixture_pick(&ps->pools[0], &ctx, POOL_OK);
		ctx.client = (struct sockaddr *)&sin6;
		b = fixture_pick(&ps->pools[0], &ctx, POOL_OK);
		CHECK_INT(a, ==, b);
	}
	pools_unref(ps);
	fixture_free(c);
}

static void
test_balance_round_robin_restarts_on_a_new_set(void)
{
	struct config *c = fixture_config(BALANCE_ROUND_ROBIN, NULL, 3);
	struct pools *ps = pools_new(c, NULL, 1);
	struct pick_ctx ctx = { .worker = 0 };
	struct server_set *cur, *two;
	struct pool *p;
	int i, count[3] = { 0 };

	REQUIRE(ps != NULL);
	p = &ps->pools[0];
	fixture_pick(p, &ctx, POOL_OK);
	cur = pool_servers(p);
	two = server_set_new();
	server_set_add(two, cur->servers[1]);
	server_set_add(two, cur->servers[2]);
	server_set_unref(cur);
	REQUIRE(pool_publish(p, two) == 0);
	for (i = 0; i < 10; i++) {
		int k = fixture_pick(p, &ctx, POOL_OK);
		REQUIRE(k >= 0);
		count[k]++;
	}
	CHECK_INT(count[0], ==, 0);
	CHECK_INT(count[1], ==, 5);
	CHECK_INT(count[2], ==, 5);
	pool_reclaim(true);
	pools_unref(ps);
	fixture_free(c);
}

static void
test_balance_hash_function_is_stable(void)
{
	/* other limen instances must map keys the same way: pin values */
	CHECK(balance_hash("abc", 3, 0) == balance_hash("abc", 3, 0));
	CHECK(balance_hash("abc", 3, 0) != balance_hash("abc", 3, 1));
	CHECK(balance_hash("abc", 3, 0) != balance_hash("abd", 3, 0));
	CHECK(balance_random_below(1) == 0);
}

HARNESS_MAIN(T(test_balance_every_algorithm_honours_weights),
    T(test_balance_least_conn_prefers_least_active),
    T(test_balance_random_two_never_picks_down_and_prefers_idle),
    T(test_balance_hash_adding_a_server_moves_one_in_n_plus_one),
    T(test_balance_hash_is_sticky_by_header_and_falls_back_to_ip),
    T(test_balance_hash_ipv4_mapped_client_is_the_ipv4_client),
    T(test_balance_round_robin_restarts_on_a_new_set),
    T(test_balance_hash_function_is_stable))
