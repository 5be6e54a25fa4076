/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * balance_rr.c — smooth weighted round robin (nginx's algorithm).
 *
 * Each pick adds every usable server's weight to its current weight,
 * takes the server with the highest current weight and subtracts the
 * total from it: weights 5,1,1 give a a b a c a a, spread out rather than
 * a a a a a b c.  The current weights are per worker (each worker's slot
 * is its own cache lines), so picks never write a shared line; over all
 * workers the weights are still honoured.  A worker's state is rebuilt
 * when the pool's server set changes (DNS).
 */
#include <stdlib.h>
#include <string.h>

#include "proxy/balance.h"

struct rr_slot {
	uint64_t gen;			/* the set the weights belong to */
	size_t cap;
	int64_t *current;		/* current weight per set position */
};

static void *
rr_state_new(const struct conf_pool *conf, unsigned n_workers)
{
	return balance_slots_new(n_workers, sizeof(struct rr_slot));
}

static void
rr_slot_fini(void *slot)
{
	free(((struct rr_slot *)slot)->current);
}

static void
rr_state_free(void *state)
{
	balance_slots_free(state, rr_slot_fini);
}

static struct server *
rr_pick(void *state, struct server_set *set, const struct pick_ctx *ctx,
    int64_t now_ms)
{
	struct balance_slots *bs = state;
	struct rr_slot *rs;
	struct server *s, *best = NULL;
	int64_t *cur, total = 0;
	size_t i, best_i = 0;
	int64_t *grown;

	rs = balance_slot_enter(bs, ctx->worker);
	if (rs->gen != set->gen || rs->current == NULL) {
		if (rs->cap < set->n) {
			if ((grown = realloc(rs->current,
			    set->n * sizeof(*grown))) == NULL)
				goto nostate;
			rs->current = grown;
			rs->cap = set->n;
		}
		memset(rs->current, 0, set->n * sizeof(*rs->current));
		rs->gen = set->gen;
	}
	cur = rs->current;
	for (i = 0; i < set->n; i++) {
		s = set->servers[i];
		if (!balance_usable(s, ctx, now_ms))
			continue;
		cur[i] += balance_weight(s);
		total += balance_weight(s);
		if (best == NULL || cur[i] > cur[best_i]) {
			best = s;
			best_i = i;
		}
	}
	if (best != NULL)
		cur[best_i] -= total;
	balance_slot_leave(bs, ctx->worker);
	return best;

nostate:
	/* out of memory: still answer, with the first usable server */
	balance_slot_leave(bs, ctx->worker);
	for (i = 0; i < set->n; i++)
		if (balance_usable(set->servers[i], ctx, now_ms))
			return set->servers[i];
	return NULL;
}

const struct balance_ops balance_rr_ops = {
	.name = "round_robin",
	.state_new = rr_state_new,
	.state_free = rr_state_free,
	.pick = rr_pick,
};
