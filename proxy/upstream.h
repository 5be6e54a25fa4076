/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * upstream.h — connections to backend servers and their keep-alive cache.
 *
 *   CONNECTING -> BUSY (owned by one exchange) -> IDLE (owned by the
 *   worker's cache, idle timer) -> BUSY again ... -> CLOSED
 *
 * An upstream connection belongs to at most one exchange at a time.  Idle
 * ones are kept per worker and per server address, `keepalive` of them
 * (a surplus of up to as many again is parked for a moment and closed by
 * a trim timer once it stays unused for a whole period, see upstream.c),
 * and closed after the pool's idle timeout, or as soon as the server
 * sends anything or closes (an idle connection that saw bytes or EOF is
 * never reused: stale keep-alive is the classic source of 502s).
 * Worker thread only; nothing here is shared.
 */
#ifndef LIMEN_PROXY_UPSTREAM_H
#define LIMEN_PROXY_UPSTREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "proxy/flush.h"

struct bufferevent;
struct worker;
struct upstream_bucket;

enum upstream_state {
	UPSTREAM_CONNECTING,
	UPSTREAM_BUSY,
	UPSTREAM_IDLE
};

struct upstream {
	struct bufferevent *bev;
	struct worker *w;
	enum upstream_state state;
	bool reused;			/* came from the idle cache */
	struct sockaddr_storage sa;
	socklen_t sa_len;
	struct upstream_bucket *bucket;	/* while idle */
	struct flush_item flush;	/* write-behind while BUSY on a
					 * connected socket (the exchange's) */
	TAILQ_ENTRY(upstream) link;
};

struct upstream_cache;

struct upstream_cache *upstream_cache_new(void);
/* Close every idle connection and free the cache. */
void upstream_cache_free(struct upstream_cache *uc);

/* An idle connection to sa, now BUSY, or NULL.  The caller sets the
 * bufferevent's callbacks and timeouts (the idle ones are still set) before
 * it returns to the loop. */
struct upstream *upstream_get_idle(struct worker *w,
    const struct sockaddr *sa, socklen_t len);
/* Start connecting to sa (non-blocking).  NULL on an immediate failure. */
struct upstream *upstream_connect(struct worker *w, const struct sockaddr *sa,
    socklen_t len, uint64_t connect_timeout_ms);
/* Park a BUSY connection (whose exchange is complete, with nothing unread)
 * in the idle cache, or close it when the cache for its server holds twice
 * `keepalive` already. */
void upstream_release(struct upstream *u, uint32_t keepalive,
    uint64_t idle_timeout_ms);
/* Close and free. */
void upstream_close(struct upstream *u);
/* Take the bufferevent out (for a tunnel) and free the rest. */
struct bufferevent *upstream_detach(struct upstream *u);
/* Idle connections held by the worker (for tests and metrics). */
unsigned upstream_idle_count(struct worker *w);

#endif
