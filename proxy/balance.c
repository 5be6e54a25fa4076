/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * balance.c — dispatch to the pool's algorithm and the pieces every
 * algorithm shares: the usability test, load comparison, hashing, a
 * per-thread PRNG and per-worker state slots.
 */
#include "proxy/balance.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static const struct balance_ops *
balance_ops_for(enum conf_balance b)
{
	switch (b) {
	case BALANCE_LEAST_CONN:
		return &balance_lc_ops;
	case BALANCE_RANDOM_TWO:
		return &balance_r2_ops;
	case BALANCE_HASH:
		return &balance_hash_ops;
	case BALANCE_ROUND_ROBIN:
	default:
		return &balance_rr_ops;
	}
}

struct balance *
balance_new(const struct conf_pool *conf, unsigned n_workers)
{
	struct balance *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->ops = balance_ops_for(conf->balance);
	b->conf = conf;
	if (b->ops->state_new != NULL &&
	    (b->state = b->ops->state_new(conf, n_workers)) == NULL) {
		free(b);
		return NULL;
	}
	return b;
}

void
balance_free(struct balance *b)
{
	if (b == NULL)
		return;
	if (b->ops->state_free != NULL)
		b->ops->state_free(b->state);
	free(b);
}

int
balance_set_init(const struct conf_pool *conf, struct server_set *set)
{
	const struct balance_ops *ops = balance_ops_for(conf->balance);

	if (ops->set_init == NULL)
		return 0;
	return ops->set_init(conf, set);
}

struct server *
balance_pick(struct balance *b, struct server_set *set,
    const struct pick_ctx *ctx, int64_t now_ms)
{
	if (set == NULL || set->n == 0)
		return NULL;
	return b->ops->pick(b->state, set, ctx, now_ms);
}

bool
balance_usable(const struct server *s, const struct pick_ctx *ctx,
    int64_t now_ms)
{
	size_t i;

	if (!atomic_load_explicit(&s->up, memory_order_relaxed) ||
	    atomic_load_explicit(&s->drained, memory_order_relaxed) ||
	    atomic_load_explicit(&s->down_until_ms, memory_order_relaxed) >
	    now_ms)
		return false;
	if (ctx != NULL)
		for (i = 0; i < ctx->n_tried; i++)
			if (ctx->tried[i] == s)
				return false;
	return true;
}

uint32_t
balance_weight(const struct server *s)
{
	return s->weight ? s->weight : 1;
}

int
balance_cmp_load(const struct server *a, const struct server *b)
{
	uint64_t la, lb;

	/* active_a / w_a vs active_b / w_b, without division */
	la = (uint64_t)atomic_load_explicit(&a->active, memory_order_relaxed) *
	    balance_weight(b);
	lb = (uint64_t)atomic_load_explicit(&b->active, memory_order_relaxed) *
	    balance_weight(a);
	return la < lb ? -1 : la > lb;
}

static uint64_t
balance_fmix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

uint64_t
balance_hash(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *c = p;
	uint64_t h = 0xcbf29ce484222325ULL ^ balance_fmix64(seed + n);
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ULL;
	}
	return balance_fmix64(h);
}

static _Thread_local uint64_t balance_rng[4];
static _Thread_local bool balance_rng_seeded;

static uint64_t
balance_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static void
balance_rng_seed(void)
{
	uint64_t seed;
	struct timespec ts;
	int i;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed)) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
		    (uint64_t)(uintptr_t)&seed;
	}
	/* splitmix64 expands the seed into the state */
	for (i = 0; i < 4; i++) {
		seed += 0x9e3779b97f4a7c15ULL;
		balance_rng[i] = balance_fmix64(seed) | 1;
	}
	balance_rng_seeded = true;
}

uint64_t
balance_random(void)
{
	uint64_t *s = balance_rng, r, t;

	if (!balance_rng_seeded)
		balance_rng_seed();
	r = balance_rotl(s[1] * 5, 7) * 9;
	t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = balance_rotl(s[3], 45);
	return r;
}

uint64_t
balance_random_below(uint64_t bound)
{
	/* Lemire's multiply-shift; the bias is below 2^-32 for our bounds */
	return (uint64_t)(((unsigned __int128)balance_random() * bound) >> 64);
}

struct server *
balance_swrr_pick(struct balance_swrr *w, struct server_set *set,
    const struct pick_ctx *ctx, int64_t now_ms,
    const struct server *same_load)
{
	struct server *s, *best = NULL;
	int64_t *cur, total = 0, *grown;
	size_t i, best_i = 0;

	if (w->gen != set->gen || w->current == NULL) {
		if (w->cap < set->n) {
			if ((grown = realloc(w->current,
			    set->n * sizeof(*grown))) == NULL)
				goto nostate;
			w->current = grown;
			w->cap = set->n;
		}
		memset(w->current, 0, set->n * sizeof(*w->current));
		w->gen = set->gen;
	}
	cur = w->current;
	for (i = 0; i < set->n; i++) {
		s = set->servers[i];
		if (!balance_usable(s, ctx, now_ms) ||
		    (same_load != NULL && s != same_load &&
		    balance_cmp_load(s, same_load) != 0))
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
	return best;

nostate:
	/* out of memory: still answer, with the first candidate */
	for (i = 0; i < set->n; i++) {
		s = set->servers[i];
		if (balance_usable(s, ctx, now_ms) && (same_load == NULL ||
		    s == same_load || balance_cmp_load(s, same_load) == 0))
			return s;
	}
	return NULL;
}

void
balance_swrr_fini(void *w)
{
	free(((struct balance_swrr *)w)->current);
}

struct balance_slots *
balance_slots_new(unsigned n_workers, size_t size)
{
	struct balance_slots *bs;
	size_t total;

	if ((bs = calloc(1, sizeof(*bs))) == NULL)
		return NULL;
	bs->n_workers = n_workers;
	bs->stride = (size + 63) & ~(size_t)63;
	total = bs->stride * ((size_t)n_workers + 1);
	if ((bs->mem = aligned_alloc(64, total)) == NULL) {
		free(bs);
		return NULL;
	}
	memset(bs->mem, 0, total);
	pthread_mutex_init(&bs->other_lock, NULL);
	return bs;
}

void
balance_slots_free(struct balance_slots *bs, void (*fini)(void *slot))
{
	unsigned i;

	if (bs == NULL)
		return;
	if (fini != NULL)
		for (i = 0; i <= bs->n_workers; i++)
			fini(bs->mem + (size_t)i * bs->stride);
	pthread_mutex_destroy(&bs->other_lock);
	free(bs->mem);
	free(bs);
}

void *
balance_slot_enter(struct balance_slots *bs, unsigned worker)
{
	if (worker >= bs->n_workers) {
		pthread_mutex_lock(&bs->other_lock);
		worker = bs->n_workers;
	}
	return bs->mem + (size_t)worker * bs->stride;
}

void
balance_slot_leave(struct balance_slots *bs, unsigned worker)
{
	if (worker >= bs->n_workers)
		pthread_mutex_unlock(&bs->other_lock);
}
