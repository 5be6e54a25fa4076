/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ratelimit.h — token buckets per key (client address or a header),
 * shared by every worker without a lock (SPEC §3, rate_limit).
 *
 * One limiter per route and configuration.  Keys hash into a fixed table
 * of slots; a slot holds its key's hash and the bucket packed in one
 * 64-bit word (tokens in 1/1024 units, last refill time in ms), updated
 * with compare-and-swap.  Two keys that collide on a slot take it over
 * from each other (the newcomer starts with a full bucket), which errs on
 * the side of letting traffic through; the table is large enough that
 * this is rare.  Memory is fixed (RATELIMIT_SLOTS * 16 bytes).
 */
#ifndef LIMEN_PROXY_RATELIMIT_H
#define LIMEN_PROXY_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"

#define RATELIMIT_SLOTS 8192

struct ratelimit;

/*
 * Reference counted: a reload hands the limiter of a route whose
 * rate_limit did not change to the new configuration (ratelimit_ref), so
 * a client at its limit gets no fresh allowance from a reload.  Each
 * snapshot holding it calls ratelimit_free once.
 */
struct ratelimit *ratelimit_new(const struct conf_rate_limit *c);
struct ratelimit *ratelimit_ref(struct ratelimit *rl);
void ratelimit_free(struct ratelimit *rl);
/* True when a limiter built for a also serves b (rate, burst and key). */
bool ratelimit_conf_same(const struct conf_rate_limit *a,
    const struct conf_rate_limit *b);
/*
 * Take one token for key at now_ms (monotonic).  Returns 0 if allowed,
 * else the whole seconds until a token is available (>= 1, for
 * Retry-After).
 */
unsigned ratelimit_take(struct ratelimit *rl, const void *key, size_t len,
    uint64_t now_ms);

#endif
