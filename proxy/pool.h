/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pool.h — the live state of pools and their servers, shared by all
 * workers (SPEC §3: Balancing, Health, Retries).
 *
 * A `struct pools` is built for each configuration (pools_new) and
 * published together with it; building it carries over the state of
 * servers that already existed (same pool name and address), so a reload
 * does not forget that a server is down.  Servers are reference-counted
 * objects: DNS re-resolution may remove one while an exchange still uses
 * it.  Health (active checks, DNS) runs in one control thread
 * (health_start) and publishes through atomics; workers only read those
 * atomics and update counters, never take a lock on the request path.
 */
#ifndef LIMEN_PROXY_POOL_H
#define LIMEN_PROXY_POOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/config.h"

struct server {
	atomic_uint refs;
	char *name;			/* "10.0.0.11:8000" or "api.svc:8000 (10.1.2.3)" */
	char *host_header;		/* host[:port] as configured, for health checks */
	struct sockaddr_storage sa;
	socklen_t sa_len;
	uint32_t weight;
	atomic_bool up;			/* active checks: false after `fall` failures */
	atomic_bool drained;		/* admin: no new requests */
	atomic_uint active;		/* in-flight requests, all workers */
	atomic_uint fails;		/* consecutive passive failures */
	_Atomic int64_t down_until_ms;	/* passive: out until then (monotonic ms) */
	atomic_uint_least64_t requests;	/* total, for metrics */
	size_t index;			/* position in its server set */
};

/* The servers of one pool at one moment (DNS may swap the set).  A set
 * is immutable once published; readers hold it through a hazard pointer
 * (pool_pick) or a reference (pool_servers). */
struct server_set {
	atomic_uint refs;
	size_t n;
	struct server **servers;
	uint64_t gen;			/* unique per set: per-worker state keys on it */
	void *lb;			/* balancer data for this set (hash ring) */
	void (*lb_free)(void *lb);
};

struct pool {
	const struct conf_pool *conf;
	_Atomic(struct server_set *) set;
	void *balance;			/* algorithm state (balance.c) */
};

struct pools {
	atomic_uint refs;
	struct config *config;		/* a reference: pool->conf points into it */
	size_t n;
	struct pool *pools;		/* same order as config->pools */
	unsigned n_workers;
};

/* What the balancer may use to choose. */
struct pick_ctx {
	unsigned worker;		/* 0..n_workers-1: per-worker balancer state */
	const struct sockaddr *client;	/* for hash: client_ip */
	const char *hash_value;		/* for hash: header/cookie value, or NULL */
	size_t hash_len;
	struct server *const *tried;	/* servers this exchange already tried */
	size_t n_tried;
};

/* Build the live pools of config c; carry server state over from prev
 * (may be NULL).  Returns NULL on allocation failure. */
struct pools *pools_new(const struct config *c, struct pools *prev,
    unsigned n_workers);
void pools_ref(struct pools *p);
void pools_unref(struct pools *p);
struct pool *pools_find(struct pools *p, const struct conf_pool *conf);

/*
 * Choose a server for one attempt: usable (up, not drained, not in passive
 * timeout, not already tried) by the pool's algorithm.  Returns a server
 * with its `active` count incremented and a reference taken, or NULL when
 * no server is usable (the caller answers 503 at once).
 */
struct server *pool_pick(struct pool *p, const struct pick_ctx *ctx);

enum pool_outcome {
	POOL_OK,			/* a response came back (any status) */
	POOL_FAIL_CONNECT,		/* connect error or connect timeout */
	POOL_FAIL_RESET,		/* reset / EOF before a complete response */
	POOL_FAIL_TIMEOUT,		/* response timeout */
	POOL_ABORTED			/* the client went away: not the server's fault */
};

/* End of one attempt: decrement `active`, update passive failure state
 * (max_fails consecutive failures -> out for fail_timeout), drop the
 * reference. */
void pool_release(struct pool *p, struct server *s, enum pool_outcome o);

/* Whether any server of the pool is usable now (else 503 at once). */
bool pool_any_usable(struct pool *p);

/* Admin: drain / enable a server by address text; 0, or -1 if unknown. */
int pool_set_drained(struct pool *p, const char *address, bool drained);

void server_ref(struct server *s);
void server_unref(struct server *s);

/* The current server set of a pool, with a reference (admin, metrics);
 * release with server_set_unref.  Never NULL (possibly empty) unless out
 * of memory. */
struct server_set *pool_servers(struct pool *p);
void server_set_unref(struct server_set *set);

/*
 * For hash_key: cookie:NAME — the value of cookie `name` in one Cookie
 * header value ("a=1; sid=xyz"), without quotes; NULL if absent.  The
 * runtime passes it (or a header's value for header:NAME) in
 * pick_ctx.hash_value; with neither, the client IP is the key.
 */
const char *pool_cookie_value(const char *cookie, size_t len,
    const char *name, size_t *vlen);

/* Monotonic clock in milliseconds, the time base of down_until_ms. */
int64_t pool_now_ms(void);

/* The control thread: active health checks and DNS re-resolution for the
 * current pools.  health_update() switches it to a new `struct pools`
 * after a reload (it takes a reference). */
int health_start(struct pools *p);
void health_update(struct pools *p);
void health_stop(void);

#endif
