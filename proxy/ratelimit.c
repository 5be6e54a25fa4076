/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ratelimit.c — see ratelimit.h.
 */
#include "proxy/ratelimit.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RL_ONE 1024ULL			/* one token in fixed point */

struct rl_slot {
	_Atomic uint64_t tag;		/* key hash, 0 = empty */
	_Atomic uint64_t state;		/* tokens (hi 32) | time ms (lo 32) */
};

struct ratelimit {
	atomic_uint refs;		/* snapshots holding it */
	double per_ms;			/* tokens (fixed point) per ms */
	uint64_t cap;			/* burst, fixed point */
	struct rl_slot slots[RATELIMIT_SLOTS];
};

static uint64_t
rl_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a, then mixed */

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h ? h : 1;
}

struct ratelimit *
ratelimit_new(const struct conf_rate_limit *c)
{
	struct ratelimit *rl;
	uint32_t burst = c->burst ? c->burst : 1;

	if ((rl = calloc(1, sizeof(*rl))) == NULL)
		return NULL;
	atomic_init(&rl->refs, 1);
	rl->per_ms = c->rate * (double)RL_ONE / 1000.0;
	rl->cap = (uint64_t)burst * RL_ONE;
	if (rl->cap > UINT32_MAX)
		rl->cap = UINT32_MAX;
	return rl;
}

struct ratelimit *
ratelimit_ref(struct ratelimit *rl)
{
	atomic_fetch_add_explicit(&rl->refs, 1, memory_order_relaxed);
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	if (rl != NULL && atomic_fetch_sub_explicit(&rl->refs, 1,
	    memory_order_acq_rel) == 1)
		free(rl);
}

bool
ratelimit_conf_same(const struct conf_rate_limit *a,
    const struct conf_rate_limit *b)
{
	if (!a->enabled || !b->enabled)
		return false;
	if (a->rate != b->rate || a->burst != b->burst || a->key != b->key)
		return false;
	if (a->key != RL_KEY_HEADER)
		return true;
	return a->key_header != NULL && b->key_header != NULL &&
	    strcasecmp(a->key_header, b->key_header) == 0;
}

unsigned
ratelimit_take(struct ratelimit *rl, const void *key, size_t len,
    uint64_t now_ms)
{
	uint64_t h = rl_hash(key, len);
	struct rl_slot *s = &rl->slots[h % RATELIMIT_SLOTS];
	uint32_t now = (uint32_t)now_ms;
	uint64_t old, tokens, next;
	uint32_t last;
	double wait;

	if (atomic_load_explicit(&s->tag, memory_order_relaxed) != h) {
		/* New key for this slot: a full bucket minus this request. */
		atomic_store_explicit(&s->tag, h, memory_order_relaxed);
		atomic_store_explicit(&s->state,
		    ((rl->cap - RL_ONE) << 32) | now, memory_order_relaxed);
		return 0;
	}
	old = atomic_load_explicit(&s->state, memory_order_relaxed);
	for (;;) {
		tokens = old >> 32;
		last = (uint32_t)old;
		tokens += (uint64_t)((double)(uint32_t)(now - last) * rl->per_ms);
		if (tokens > rl->cap)
			tokens = rl->cap;
		if (tokens < RL_ONE) {
			if (rl->per_ms <= 0)
				return 3600;
			wait = (double)(RL_ONE - tokens) / rl->per_ms / 1000.0;
			return wait < 1.0 ? 1 : (unsigned)ceil(wait);
		}
		next = ((tokens - RL_ONE) << 32) | now;
		if (atomic_compare_exchange_weak_explicit(&s->state, &old, next,
		    memory_order_relaxed, memory_order_relaxed))
			return 0;
	}
}
