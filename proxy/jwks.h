/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * jwks.h — routes[].auth.jwt.jwks_url: a JWKS fetched in the background
 * and refreshed, shared by every worker (SPEC §2, docs/gateway.md).
 *
 * A `struct jwks_source` is one URL (with its optional CA file).  Sources
 * live in a process-wide registry: gateway_new() asks for one per route
 * with jwks_source_get(), so routes and successive configurations that
 * name the same URL share it, and a reload keeps the keys already
 * loaded.  The fetching runs on the control thread's event loop
 * (jwks_start()), through acme/acme_http (non-blocking HTTPS over
 * libevent + OpenSSL, evdns for names; the server verified against the
 * system's roots or jwks_ca_file).
 *
 * Schedule: the first fetch at start (or when a reload adds the URL);
 * after a success, the next one after the response's Cache-Control
 * max-age clamped to [5 min, 24 h] (1 h without one); after a failure
 * (transport, status other than 200, a body that is not a usable JWKS)
 * the last good keys stay and retries come after 1, 2, 4 ... seconds, at
 * most 5 min apart.  A worker that meets a token whose key is not in the
 * set (a key rotation at the IdP), or a token while no set is loaded,
 * calls jwks_source_kick(): an early fetch, unless one is under way, at
 * most one per JWKS_KICK_INTERVAL_S per source, whatever the traffic.
 *
 * The request path: jwks_acquire() returns the current key set with a
 * reference (a hazard pointer guards the one atomic increment; no lock),
 * jwks_release() drops it.  The control thread swaps in a new set with
 * an atomic exchange and drops its reference on the old one once no
 * reader is between load and increment.  Until a set is loaded,
 * jwks_acquire() returns NULL: the caller fails closed.
 */
#ifndef LIMEN_PROXY_JWKS_H
#define LIMEN_PROXY_JWKS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <stddef.h>

struct diag;
struct event_base;
struct jwks_keys;
struct jwks_source;
struct jwt_keyset;

#define JWKS_REFRESH_DEFAULT_S	3600	/* no Cache-Control max-age */
#define JWKS_REFRESH_MIN_S	300
#define JWKS_REFRESH_MAX_S	86400
#define JWKS_RETRY_MAX_S	300	/* after failures */
#define JWKS_KICK_INTERVAL_S	10	/* early fetches, at most */
#define JWKS_KICK_SIGNAL_MS	250	/* workers waking the control thread */
#define JWKS_TIMEOUT_MS		10000	/* one fetch, whole exchange */

/* ---- pure pieces (unit tested) ------------------------------------------ */

/*
 * The max-age directive of a Cache-Control value, in seconds; -1 when
 * absent or malformed.  "no-store" and "no-cache" count as max-age=0.
 */
long jwks_max_age(const char *cache_control);
/*
 * How long a fetched set stays fresh (RFC 9111 §4.2.1): max-age when
 * present, else Expires minus Date (or minus `now` without a Date; an
 * Expires that is not a date means already stale); -1 when neither says.
 */
long jwks_lifetime(const char *cache_control, const char *expires,
    const char *date, time_t now);
/* Seconds until the next refresh after a success: that lifetime,
 * JWKS_REFRESH_DEFAULT_S without one, clamped to MIN..MAX. */
long jwks_refresh_delay(const char *cache_control, const char *expires,
    const char *date, time_t now);
/*
 * The delay brought forward by up to a tenth, by `rnd` (random bits):
 * several limen instances behind one identity provider do not all ask
 * at the same second.
 */
long jwks_jitter(long delay, uint32_t rnd);
/* Seconds until the next try after `failures` failures in a row (>= 1). */
long jwks_retry_delay(unsigned failures);
/*
 * Whether something rate limited may happen at `now`, given when it last
 * did (*last, updated when it may; 0: never) and the minimum interval
 * (any one unit of time).
 */
bool jwks_kick_allowed(long *last, long now, long interval);
/* Whether url is acceptable: https, or http to a loopback literal. */
bool jwks_url_ok(const char *url);

/* ---- the registry (control thread) -------------------------------------- */

/*
 * The source for url and ca_file (may be NULL), new or shared, with one
 * reference for the caller; NULL with a message in d (the CA file cannot
 * be loaded).  Before jwks_start() nothing is fetched (`limen check`).
 */
struct jwks_source *jwks_source_get(const char *url, const char *ca_file,
    struct diag *d);
/* Drop a reference (any thread). */
void jwks_source_unref(struct jwks_source *s);

/* Start fetching every source, now and later ones, on base. */
int jwks_start(struct event_base *base);
/* Stop fetching (after the workers have stopped; before base is freed). */
void jwks_stop(void);

/* ---- the request path (any thread) -------------------------------------- */

/* The current key set with a reference in *hold; NULL if none yet. */
const struct jwt_keyset *jwks_acquire(struct jwks_source *s,
    struct jwks_keys **hold);
void jwks_release(struct jwks_keys *hold);
/* Ask for an early fetch (unknown kid, no keys yet); rate limited. */
void jwks_source_kick(struct jwks_source *s);
const char *jwks_source_url(const struct jwks_source *s);

#endif
