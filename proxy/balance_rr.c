/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * balance_rr.c — smooth weighted round robin (nginx's algorithm).
 *
 * Each pick adds every usable server's weight to its current weight,
 * takes the server with the highest current weight and subtracts the
 * total from it: weights 5,1,1 give a a b a c a a, spread out rather than
 * a a a a a b c (balance_swrr_pick).  The current weights are per worker
 * (each worker's slot is its own cache lines), so picks never write a
 * shared line; over all workers the weights are still honoured.  A
 * worker's weights start again when the pool's server set changes (DNS).
 */
#include "proxy/balance.h"

static void *
rr_state_new(const struct conf_pool *conf, unsigned n_workers)
{
	return balance_slots_new(n_workers, sizeof(struct balance_swrr));
}

static void
rr_state_free(void *state)
{
	balance_slots_free(state, balance_swrr_fini);
}

static struct server *
rr_pick(void *state, struct server_set *set, const struct pick_ctx *ctx,
    int64_t now_ms)
{
	struct balance_slots *bs = state;
	struct server *s;

	s = balance_swrr_pick(balance_slot_enter(bs, ctx->worker), set, ctx,
	    now_ms, NULL);
	balance_slot_leave(bs, ctx->worker);
	return s;
}

const struct balance_ops balance_rr_ops = {
	.name = "round_robin",
	.state_new = rr_state_new,
	.state_free = rr_state_free,
	.pick = rr_pick,
};
