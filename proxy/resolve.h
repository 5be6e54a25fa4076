/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * resolve.h — servers given by DNS name (SPEC §2 pools.resolve_interval).
 *
 * At load, pools_new resolves a new name once, synchronously
 * (resolve_startup).  After that the control thread re-resolves every
 * name with evdns, every resolve_interval or sooner when a record's TTL
 * is shorter, and publishes a new server set when the answer changed
 * (resolve_*).  A failed lookup keeps the last good servers.
 */
#ifndef LIMEN_PROXY_RESOLVE_H
#define LIMEN_PROXY_RESOLVE_H

#include <event2/event.h>

#include "conf/config.h"
#include "proxy/pool.h"

/* Append one server per address of entry e to set (getaddrinfo); a
 * failed lookup logs and adds nothing.  -1 only on allocation failure. */
int resolve_startup(const struct conf_pool *conf, const struct conf_server *e,
    struct server_set *set);

/* The control thread's resolver, on its event_base. */
struct resolve *resolve_new(struct event_base *base);
/* Follow the DNS names of pools p (after a reload too: the nameservers
 * come from p->config, global.resolvers or /etc/resolv.conf).  NULL stops
 * every lookup. */
void resolve_apply(struct resolve *r, struct pools *p);
/* Cancel every lookup and free r (in the control thread, loop stopped). */
void resolve_free(struct resolve *r);

#endif
