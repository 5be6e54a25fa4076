/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * acme_http.h — non-blocking HTTPS requests to the ACME server.
 *
 * Built on libevent's HTTP client over bufferevent_openssl, with evdns for
 * names.  The CA's certificate is verified against acme.ca_roots or the
 * system store, for the URL's host name (or IP literal).  Every request
 * has a total deadline and bounded header and body sizes, and uses a
 * fresh connection (ACME traffic is a few requests per order; a fresh
 * connection keeps TLS and error handling simple).
 *
 * proxy/jwks.c uses it too, for the JWKS of routes[].auth.jwt.jwks_url
 * (same limits; a JWKS is at most 1 MiB as well).
 *
 * The callback always runs later from the event loop, never inside
 * acme_http_request() or libevent's own callbacks, so it may start new
 * requests or free whatever it likes, including the acme_http.
 */
#ifndef LIMEN_ACME_ACME_HTTP_H
#define LIMEN_ACME_ACME_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;
struct evdns_base;
struct acme_http;
struct acme_http_req;

enum acme_http_method { ACME_HTTP_GET, ACME_HTTP_HEAD, ACME_HTTP_POST };

/* Limits on what the CA may send. */
#define ACME_HTTP_MAX_BODY	(1024 * 1024)	/* a certificate chain fits */
#define ACME_HTTP_MAX_HEADERS	(64 * 1024)

struct acme_http_response {
	int status;		/* HTTP status; 0 if no usable response */
	/* the server did answer (status 0 then means the answer was
	 * malformed or too large, not that the server is unreachable) */
	bool answered;
	const char *error;	/* transport failure (then status is 0) */
	const char *content_type;	/* the headers below may be NULL */
	const char *location;
	const char *replay_nonce;
	const char *retry_after;
	const char *cache_control;
	const char *expires;
	const char *date;
	const char *body;	/* NUL-terminated; body_len excludes the NUL */
	size_t body_len;
};

/* Called once per request, with data valid only during the call. */
typedef void acme_http_cb(const struct acme_http_response *resp, void *arg);

/*
 * A client for one event loop.  ca_roots is a PEM file of trusted roots,
 * or NULL for the system store.  NULL on failure with a reason in *err
 * (static or from OpenSSL, valid until the next call).
 */
struct acme_http *acme_http_new(struct event_base *base,
    struct evdns_base *dns, const char *ca_roots, const char **err);
/* Cancels every pending request (their callbacks are not called). */
void acme_http_free(struct acme_http *h);
/*
 * Also accept plain http:// URLs (off by default: ACME is https only).
 * The caller decides where plain HTTP is acceptable (limen's JWKS fetch
 * allows it to loopback addresses only).
 */
void acme_http_allow_plain(struct acme_http *h, int allow);

/*
 * Start a request.  body (may be NULL) is sent as is with content_type;
 * accept, if not NULL, becomes the Accept header.  timeout_ms bounds the
 * whole exchange (connect, TLS, request, response).  Returns a handle for
 * acme_http_cancel(), or NULL if the request could not even be started
 * (bad URL): then the callback is not called.
 */
struct acme_http_req *acme_http_request(struct acme_http *h,
    enum acme_http_method method, const char *url, const char *body,
    size_t body_len, const char *content_type, const char *accept,
    uint64_t timeout_ms, acme_http_cb *cb, void *arg);
/* Cancel a pending request; its callback will not be called. */
void acme_http_cancel(struct acme_http_req *r);

/*
 * Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, as
 * seconds from now (0 for a date in the past); -1 if absent or malformed.
 */
long acme_http_retry_after(const char *value, time_t now);
/* An HTTP-date (IMF-fixdate) -> *out; -1 if it is not one. */
int acme_http_date(const char *value, time_t *out);

#endif
