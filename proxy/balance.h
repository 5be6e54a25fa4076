/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * balance.h — the balancer vtable (h2o's balancer, nginx's peer.get) and
 * the helpers the algorithms share.
 *
 * One file per algorithm: balance_rr.c (smooth weighted round robin),
 * balance_lc.c (least connections), balance_r2.c (power of two random
 * choices), balance_hash.c (consistent hash ring).  An algorithm has
 * per-pool state (state_new) and may attach data to each server set when
 * the set is built (set_init: the hash ring), so the request path only
 * reads what the control thread built.  Per-worker state lives in
 * balance_slots: one cache line set per worker, plus one slot behind a
 * mutex for callers that are not workers.
 */
#ifndef LIMEN_PROXY_BALANCE_H
#define LIMEN_PROXY_BALANCE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "proxy/pool.h"

struct balance_ops {
	const char *name;
	/* Per-pool state; NULL on allocation failure.  May be NULL itself. */
	void *(*state_new)(const struct conf_pool *conf, unsigned n_workers);
	void (*state_free)(void *state);
	/* Build set->lb / set->lb_free for a new set; 0 or -1.  May be NULL. */
	int (*set_init)(const struct conf_pool *conf, struct server_set *set);
	/* Choose a usable server of set (balance_usable), or NULL. */
	struct server *(*pick)(void *state, struct server_set *set,
	    const struct pick_ctx *ctx, int64_t now_ms);
};

extern const struct balance_ops balance_rr_ops;
extern const struct balance_ops balance_lc_ops;
extern const struct balance_ops balance_r2_ops;
extern const struct balance_ops balance_hash_ops;

/* A pool's balancer: the algorithm and its state. */
struct balance {
	const struct balance_ops *ops;
	const struct conf_pool *conf;
	void *state;
};

struct balance *balance_new(const struct conf_pool *conf, unsigned n_workers);
void balance_free(struct balance *b);
/* Prepare a new set for this pool's algorithm (before publishing it). */
int balance_set_init(const struct conf_pool *conf, struct server_set *set);
struct server *balance_pick(struct balance *b, struct server_set *set,
    const struct pick_ctx *ctx, int64_t now_ms);

/* Up, not drained, not in passive timeout, not tried by this exchange. */
bool balance_usable(const struct server *s, const struct pick_ctx *ctx,
    int64_t now_ms);
/* <0, 0, >0 as a's load (active / weight) is below, equal, above b's. */
int balance_cmp_load(const struct server *a, const struct server *b);
uint32_t balance_weight(const struct server *s);

/* A 64-bit hash with good avalanche (FNV-1a folded through a 64-bit
 * finaliser); stable across runs and machines, so several limen
 * instances send the same key to the same server. */
uint64_t balance_hash(const void *p, size_t n, uint64_t seed);
/* A fast per-thread PRNG (xoshiro256**), seeded from getrandom. */
uint64_t balance_random(void);
/* Uniform in [0, bound), bound > 0. */
uint64_t balance_random_below(uint64_t bound);

/*
 * Smooth weighted round robin over the usable servers of a set, with the
 * current weights of one worker (nginx's algorithm).  With `same_load`,
 * only servers whose load equals its load take part (least_conn's tie
 * break).  A state built for another set starts again from zero.
 */
struct balance_swrr {
	uint64_t gen;			/* the set the weights belong to */
	size_t cap;
	int64_t *current;		/* current weight per set position */
};

struct server *balance_swrr_pick(struct balance_swrr *w,
    struct server_set *set, const struct pick_ctx *ctx, int64_t now_ms,
    const struct server *same_load);
void balance_swrr_fini(void *w);

/*
 * Per-worker state: n_workers slots of `size` bytes (each on its own cache
 * lines, zeroed) plus one shared slot under a mutex for any other caller
 * (worker >= n_workers).  enter/leave bracket each use.
 */
struct balance_slots {
	unsigned n_workers;
	size_t stride;
	unsigned char *mem;
	pthread_mutex_t other_lock;
};

struct balance_slots *balance_slots_new(unsigned n_workers, size_t size);
void balance_slots_free(struct balance_slots *bs, void (*fini)(void *slot));
void *balance_slot_enter(struct balance_slots *bs, unsigned worker);
void balance_slot_leave(struct balance_slots *bs, unsigned worker);

#endif
