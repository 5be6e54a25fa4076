/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * auth_forward.h — the decisions of forward authentication (SPEC §2
 * routes[].auth.forward, §3 Gateway checks): the nginx `auth_request` /
 * Traefik ForwardAuth contract, so oauth2-proxy, Authelia and the like
 * plug in.
 *
 * Pure functions only.  The subrequest itself (a non-blocking GET through
 * the runtime's upstream client, with the route's `timeout`) is the
 * runtime's; this module says what it carries and what its answer means:
 *
 *   1. Target: auth_forward_parse_url() splits `url` once per config.
 *   2. Request: `GET PATH HTTP/1.1`, Host: the auth service's authority,
 *      the client's headers that auth_forward_pass_request_header()
 *      accepts (Cookie and Authorization above all; never hop-by-hop,
 *      framing, Host or the client's own X-Forwarded-*), plus the five
 *      from auth_forward_xf_headers(): X-Forwarded-Method, -Proto,
 *      -Host, -Uri, -For.  No body.
 *   3. Answer: auth_forward_decide(status), status -1 for a timeout, a
 *      connection failure or an unparsable answer:
 *        2xx       PASS: the request goes on, with the auth response's
 *                  headers named in copy_headers set on it
 *                  (auth_forward_copy_header), replacing any the client
 *                  sent (those were stripped before the checks anyway);
 *        300-599   RELAY: the auth response goes to the client as it is
 *                  (status, headers that auth_forward_relay_header keeps,
 *                  body up to AUTH_FORWARD_BODY_MAX) — a 302 to a login
 *                  page, a 401, a 403;
 *        other     UNAVAILABLE: 503 from limen, never an open door.
 *   4. Cache (cache_ms > 0): only PASS answers, keyed by
 *      auth_forward_cache_key() (route, Authorization, Cookie); anonymous
 *      requests (neither header) are never cached.  The cache ignores
 *      method and path, so it suits services whose answer depends on the
 *      identity alone.
 */
#ifndef LIMEN_PROXY_AUTH_FORWARD_H
#define LIMEN_PROXY_AUTH_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"

#define AUTH_FORWARD_BODY_MAX (64 * 1024)	/* relayed body; more: 503 */
#define AUTH_FORWARD_XF_N 5

struct auth_forward_url {
	bool tls;			/* https */
	char host[256];			/* name or IP literal, no brackets */
	uint16_t port;
	char authority[272];		/* for the Host header */
	char path[2048];		/* path and query, at least "/" */
};

/* Split an http(s) URL; -1 if it is not one (userinfo and fragments are
 * refused). */
int auth_forward_parse_url(const char *url, struct auth_forward_url *out);

enum auth_forward_verdict {
	AUTH_FORWARD_PASS,
	AUTH_FORWARD_RELAY,
	AUTH_FORWARD_UNAVAILABLE
};

enum auth_forward_verdict auth_forward_decide(int status);

/* The original request, as the client sent it. */
struct auth_forward_req {
	const char *method;
	size_t method_len;
	bool tls;			/* X-Forwarded-Proto https / http */
	const char *host;		/* Host / :authority as sent */
	size_t host_len;
	const char *uri;		/* request target: path and query */
	size_t uri_len;
	const char *client_ip;		/* text form */
};

struct auth_forward_header {
	const char *name;
	const char *value;		/* points into the request */
	size_t value_len;
};

/* The X-Forwarded-* headers of the subrequest; returns AUTH_FORWARD_XF_N. */
size_t auth_forward_xf_headers(const struct auth_forward_req *r,
    struct auth_forward_header out[AUTH_FORWARD_XF_N]);

/* Whether a client request header goes on the subrequest. */
bool auth_forward_pass_request_header(const char *name, size_t len);
/* Whether an auth response header (2xx) is copied onto the request. */
bool auth_forward_copy_header(const struct conf_auth_forward *c,
    const char *name, size_t len);
/* Whether an auth response header goes back to the client on RELAY. */
bool auth_forward_relay_header(const char *name, size_t len);

/*
 * SHA-256 of the route index and the Authorization and Cookie values
 * (NULL when absent; each length-prefixed, so values cannot run into each
 * other).  -1 when both are absent (do not cache).
 */
int auth_forward_cache_key(size_t route_index, const char *authorization,
    size_t authorization_len, const char *cookie, size_t cookie_len,
    unsigned char key[32]);

#endif
