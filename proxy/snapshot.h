/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * snapshot.h — everything one configuration generation needs on the data
 * path: the config, its router, its live pools, its rate limiters and
 * static roots.  Built whole by the control thread (snapshot_build), then
 * published to the workers; never modified afterwards.
 *
 * Reference counting is two-level so the request path touches no shared
 * cache line: each worker holds one atomic reference on the snapshot
 * through a `struct wsnap`, and its exchanges and connections count on
 * that wsnap with a plain integer.  A worker switches to a new snapshot by
 * making a new wsnap current; the old one is released when its last
 * exchange ends, and the snapshot when the last worker lets go.
 */
#ifndef LIMEN_PROXY_SNAPSHOT_H
#define LIMEN_PROXY_SNAPSHOT_H

#include <stdatomic.h>
#include <stdint.h>

#include "conf/config.h"

struct diag;
struct metrics_map;
struct gateway;
struct pools;
struct ratelimit;
struct router;
struct tls_listen_set;

struct snapshot {
	atomic_uint refs;
	uint64_t generation;
	struct config *conf;
	struct router *router;
	struct pools *pools;
	struct ratelimit **ratelimits;	/* per route; NULL when off */
	int *static_root_fds;		/* per route; -1 when not static */
	struct metrics_map *metrics;	/* admin: series of routes, listeners */
	struct tls_listen_set *tls;	/* SSL_CTX per TLS listener */
	struct gateway *gateway;	/* auth files, JWKS, WAF rules */
};

/* Build the snapshot for config c (the snapshot takes the caller's
 * reference on c).  prev (may be NULL) lends pool state.  NULL with a
 * message in d on failure (then c is unreferenced). */
struct snapshot *snapshot_build(struct config *c, struct snapshot *prev,
    unsigned n_workers, struct diag *d);
void snapshot_ref(struct snapshot *s);
void snapshot_unref(struct snapshot *s);

/* A worker's view of one snapshot (see above).  Worker thread only. */
struct wsnap {
	struct snapshot *snap;
	unsigned refs;
};

struct wsnap *wsnap_new(struct snapshot *s);	/* refs = 1, takes a snap ref */
void wsnap_ref(struct wsnap *ws);
void wsnap_unref(struct wsnap *ws);

#endif
