/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pool_internal.h — what pool.c shares with the control thread
 * (health.c, resolve.c) and the unit tests: building servers and sets,
 * publishing a new set and reclaiming the old ones.  Not for workers.
 */
#ifndef LIMEN_PROXY_POOL_INTERNAL_H
#define LIMEN_PROXY_POOL_INTERNAL_H

#include "proxy/pool.h"

/* A new server (one reference, up, not drained). */
struct server *server_new(const char *name, const char *host_header,
    const struct sockaddr *sa, socklen_t sa_len, uint32_t weight);
/* Carry the run-time state (up, drained, passive failures) of src. */
void server_copy_state(struct server *dst, const struct server *src);
/* "10.1.2.3:8000" or "[2001:db8::1]:8000" into buf; buf on error. */
const char *server_addr_text(const struct sockaddr *sa, char *buf,
    size_t len);

/* An empty set with one reference and a new gen. */
struct server_set *server_set_new(void);
/* Append s while building (the set takes a reference of its own); 0/-1. */
int server_set_add(struct server_set *set, struct server *s);
/* The server of set with this address, or NULL. */
struct server *server_set_find_addr(struct server_set *set,
    const struct sockaddr *sa, socklen_t sa_len);

/*
 * Control thread only: prepare set for the pool's balancer and make it the
 * pool's current set (takes over the caller's reference).  The old set is
 * retired and freed by pool_reclaim once no worker reads it.
 */
int pool_publish(struct pool *p, struct server_set *set);
/* Free retired sets that no thread protects; with `all`, wait for them. */
void pool_reclaim(bool all);

#endif
