/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * gateway.h — the gateway checks' per-configuration state (SPEC §3
 * Gateway checks): what auth and waf need loaded from files, built once
 * when a configuration is loaded and freed with it.
 *
 * gateway_new() walks the routes and, for each, reads the htpasswd file
 * (auth_basic), the JWKS file (jwt), parses the forward-auth URL and
 * loads the WAF rules, sharing one rule set among routes that name the
 * same `rules` path.  Any problem is a configuration error (so `limen
 * check` and a reload report it, and an invalid new file leaves the old
 * configuration serving); a route is never served with a check silently
 * missing.  A `jwks_url` becomes a shared proxy/jwks.c source (fetched
 * in the background; only the URL and CA file are checked here).
 *
 * The order in the request path (the runtime's CHECKS stage):
 *
 *   strip the headers gateway_strips_request_header() names
 *   allow -> rate_limit -> auth (basic, jwt, forward; all configured must
 *   pass) -> waf -> action
 *
 * Everything here is immutable after gateway_new() and read by every
 * worker without locks.
 */
#ifndef LIMEN_PROXY_GATEWAY_H
#define LIMEN_PROXY_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/config.h"
#include "proxy/auth_forward.h"

struct auth_basic;
struct diag;
struct gateway;
struct jwks_source;
struct jwt_keyset;
struct waf_rules;

struct gateway_route {
	struct auth_basic *basic;	/* NULL: no basic auth */
	struct jwt_keyset *jwks;	/* jwks_file; NULL: none */
	struct jwks_source *jwks_src;	/* jwks_url; NULL: none */
	bool forward;			/* forward auth configured */
	struct auth_forward_url forward_url;
	struct waf_rules *waf;		/* NULL: no WAF; shared, not owned */
	enum conf_waf_mode waf_mode;
};

/* Build the state for c's routes; NULL with problems in d. */
struct gateway *gateway_new(const struct config *c, struct diag *d);
void gateway_free(struct gateway *g);
/* A TLS client context for https forward-auth URLs (the system's trusted
 * roots, peer verified, TLS 1.2+); NULL when no route needs one. */
struct ssl_ctx_st *gateway_tls_client(const struct gateway *g);
/* The state of route number `index` (conf_route.index). */
const struct gateway_route *gateway_route(const struct gateway *g,
    size_t index);

/*
 * Whether a client request header must be removed before the checks run
 * because auth sets it (forward copy_headers, jwt claims_to_headers): a
 * client must not be able to forge an identity header.
 */
bool gateway_strips_request_header(const struct conf_route *r,
    const char *name, size_t len);

#endif
