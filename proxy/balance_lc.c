/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * balance_lc.c — least connections, weighted.
 *
 * The load of a server is its `active` count (in-flight requests of all
 * workers, kept by pool_pick/pool_release) divided by its weight; the
 * least loaded usable server wins.  Ties are broken by smooth weighted
 * round robin among the tied servers (as nginx does), with per-worker
 * weights: an idle pool is spread by weight, and equal servers in turn.
 */
#include "proxy/balance.h"

static void *
lc_state_new(const struct conf_pool *conf, unsigned n_workers)
{
	return balance_slots_new(n_workers, sizeof(struct balance_swrr));
}

static void
lc_state_free(void *state)
{
	balance_slots_free(state, balance_swrr_fini);
}

static struct server *
lc_pick(void *state, struct server_set *set, const struct pick_ctx *ctx,
    int64_t now_ms)
{
	struct balance_slots *bs = state;
	struct server *s, *least = NULL;
	size_t i;

	for (i = 0; i < set->n; i++) {
		s = set->servers[i];
		if (balance_usable(s, ctx, now_ms) &&
		    (least == NULL || balance_cmp_load(s, least) < 0))
			least = s;
	}
	if (least == NULL)
		return NULL;
	s = balance_swrr_pick(balance_slot_enter(bs, ctx->worker), set, ctx,
	    now_ms, least);
	balance_slot_leave(bs, ctx->worker);
	/* loads moved between the two scans and nothing ties any more */
	return s != NULL ? s : least;
}

const struct balance_ops balance_lc_ops = {
	.name = "least_conn",
	.state_new = lc_state_new,
	.state_free = lc_state_free,
	.pick = lc_pick,
};
