/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * router.h — host and path to route (SPEC §3, Routing).
 *
 * Built once per configuration, immutable afterwards, read by every worker
 * without locks.  The best host match wins first (exact, then "*.domain"
 * matching exactly one label, then "*"); within that host the longest path
 * prefix on a segment boundary ("/api" matches /api, /api/, /api/x, not
 * /apix).  Equal candidates: the first in the file.
 */
#ifndef LIMEN_PROXY_ROUTER_H
#define LIMEN_PROXY_ROUTER_H

#include <stddef.h>

#include "conf/config.h"

struct router;

/* Build the routing table for c's routes (the config must outlive it). */
struct router *router_new(const struct config *c);
void router_free(struct router *r);

/*
 * The route for a normalised host (lower-case, no port; see
 * router_host_normalize) and a normalised path, or NULL (404).
 */
const struct conf_route *router_match(const struct router *r,
    const char *host, size_t host_len, const char *path, size_t path_len);

/*
 * Normalise a Host header, :authority or SNI name into out (cap bytes):
 * lower-case, port removed, IPv6 literal kept with its brackets, trailing
 * dot removed.  Returns the length, or -1 if the value is not a valid host
 * (empty, bad characters, bad port).
 *
 * The result is NUL-terminated.  It is at most 253 bytes for a name and
 * 47 for an IPv6 literal, which is put in canonical form and so can be
 * one byte longer than its input ("[1::3:4:5:6:7:8]" becomes
 * "[1:0:3:4:5:6:7:8]"): cap = ROUTER_HOST_MAX always suffices.
 */
#define ROUTER_HOST_MAX 256
int router_host_normalize(const char *in, size_t len, char *out, size_t cap);

/* Whether path is under prefix on a segment boundary. */
int router_path_has_prefix(const char *path, size_t path_len,
    const char *prefix, size_t prefix_len);

#endif
