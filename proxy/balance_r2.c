/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * balance_r2.c — power of two random choices.
 *
 * Draw two different usable servers at random, each with probability
 * proportional to its weight, and take the less loaded (active / weight);
 * on a tie the first draw wins, so an idle pool is spread by weight.  It
 * needs no shared state at all: the PRNG is per thread, and the loads are
 * the `active` atomics.
 */
#include "proxy/balance.h"

/* A weighted draw among usable servers other than `not`; NULL if none. */
static struct server *
r2_draw(struct server_set *set, const struct pick_ctx *ctx, int64_t now_ms,
    const struct server *not)
{
	struct server *s;
	uint64_t total = 0, r;
	size_t i;

	for (i = 0; i < set->n; i++) {
		s = set->servers[i];
		if (s != not && balance_usable(s, ctx, now_ms))
			total += balance_weight(s);
	}
	if (total == 0)
		return NULL;
	r = balance_random_below(total);
	for (i = 0; i < set->n; i++) {
		s = set->servers[i];
		if (s == not || !balance_usable(s, ctx, now_ms))
			continue;
		if (r < balance_weight(s))
			return s;
		r -= balance_weight(s);
	}
	/* a server went out between the two scans: take any usable one */
	for (i = 0; i < set->n; i++)
		if (set->servers[i] != not &&
		    balance_usable(set->servers[i], ctx, now_ms))
			return set->servers[i];
	return NULL;
}

static struct server *
r2_pick(void *state, struct server_set *set, const struct pick_ctx *ctx,
    int64_t now_ms)
{
	struct server *a, *b;

	if ((a = r2_draw(set, ctx, now_ms, NULL)) == NULL)
		return NULL;
	if ((b = r2_draw(set, ctx, now_ms, a)) == NULL)
		return a;
	return balance_cmp_load(b, a) < 0 ? b : a;
}

const struct balance_ops balance_r2_ops = {
	.name = "random_two",
	.pick = r2_pick,
};
