/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * balance_lc.c — least connections, weighted.
 *
 * The load of a server is its `active` count (in-flight requests of all
 * workers, kept by pool_pick/pool_release) divided by its weight; the
 * least loaded usable server wins.  Ties are broken round robin: each
 * worker starts its scan one position further than last time, and the
 * first server with the least load from there wins.
 */
#include "proxy/balance.h"

struct lc_slot {
	size_t next;			/* where this worker's next scan starts */
};

static void *
lc_state_new(const struct conf_pool *conf, unsigned n_workers)
{
	return balance_slots_new(n_workers, sizeof(struct lc_slot));
}

static void
lc_state_free(void *state)
{
	balance_slots_free(state, NULL);
}

static struct server *
lc_pick(void *state, struct server_set *set, const struct pick_ctx *ctx,
    int64_t now_ms)
{
	struct balance_slots *bs = state;
	struct lc_slot *ls;
	struct server *s, *best = NULL;
	size_t i, start;

	ls = balance_slot_enter(bs, ctx->worker);
	start = ls->next++ % set->n;
	balance_slot_leave(bs, ctx->worker);
	for (i = 0; i < set->n; i++) {
		s = set->servers[(start + i) % set->n];
		if (!balance_usable(s, ctx, now_ms))
			continue;
		if (best == NULL || balance_cmp_load(s, best) < 0)
			best = s;
	}
	return best;
}

const struct balance_ops balance_lc_ops = {
	.name = "least_conn",
	.state_new = lc_state_new,
	.state_free = lc_state_free,
	.pick = lc_pick,
};
