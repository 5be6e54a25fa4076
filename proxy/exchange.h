/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * exchange.h — one HTTP request and its response, whatever protocol
 * carried it (h2o's h2o_req_t idea).
 *
 * A front (the HTTP/1.1 connection in conn.c; later an HTTP/2 stream)
 * parses a request head, fills a `struct exchange` and calls
 * exchange_start().  From there the exchange routes, runs the gateway
 * checks and hands itself to one action (respond, redirect, static,
 * proxy).  Actions only see this structure and the exchange_* functions
 * below; they never know how the bytes travel.  The front implements
 * `struct exchange_front` (serialising heads, framing bodies, back-pressure)
 * and feeds the request body into `req_body`.
 *
 *   ROUTE -> CHECKS -> ACTION -+- respond / redirect / static -> RESPOND -> DONE
 *                              +- proxy -> PICK -> CONNECT -> SEND_HEAD
 *                                          -> STREAM -> DONE
 *   any error before the response head -> ERROR (4xx/5xx) -> DONE
 *
 * Memory: everything of one exchange (copied head, header arrays, action
 * state) comes from its arena, freed at once when the exchange ends; body
 * bytes only ever sit in evbuffers bounded by watermarks.
 *
 * Threading: an exchange lives in one worker thread, start to end.
 */
#ifndef LIMEN_PROXY_EXCHANGE_H
#define LIMEN_PROXY_EXCHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "conf/config.h"

struct arena;
struct bufferevent;
struct encode;
struct evbuffer;
struct exchange;
struct pool;
struct worker;
struct wsnap;

/* Bounds of the buffers between the two sides of an exchange. */
#define EXCHANGE_BUF_HIGH (256 * 1024)	/* stop reading the producer */
#define EXCHANGE_BUF_LOW (64 * 1024)	/* resume below this */

struct exchange_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

enum exchange_state {
	EXCHANGE_ROUTE,
	EXCHANGE_ACTION,		/* the action runs; no head sent yet */
	EXCHANGE_STREAM,		/* the response head is out */
	EXCHANGE_DONE,			/* response complete */
	EXCHANGE_ABORTED
};

/* How a body is framed, on either side. */
enum exchange_body {
	EXCHANGE_BODY_NONE,		/* no body, no framing header */
	EXCHANGE_BODY_LENGTH,		/* content_length bytes */
	EXCHANGE_BODY_STREAM		/* unknown length (chunked on H1/1.1) */
};

/* What a protocol front does for its exchanges. */
struct exchange_front {
	/* Serialise x->status and x->resp_headers with the framing given by
	 * x->resp_body / x->resp_content_length.  0 or -1. */
	int (*send_head)(struct exchange *x);
	/* Move n bytes of response body out of src (n <= length of src). */
	int (*send_body)(struct exchange *x, struct evbuffer *src, size_t n);
	/* The response is complete. */
	void (*send_end)(struct exchange *x);
	/* "100 Continue" if the client waits for one (once). */
	void (*send_continue)(struct exchange *x);
	/* Response bytes queued towards the client, not yet written. */
	size_t (*out_pending)(struct exchange *x);
	/* The action drained req_body: read more of the client's body. */
	void (*req_body_resume)(struct exchange *x);
	/* The client's socket, for response body bytes written to it
	 * directly (splice.h), when that is possible: a plain HTTP/1.1
	 * connection, Content-Length framing, a body going out.  The caller
	 * writes only while out_pending() is 0 and sends nothing through
	 * the front meanwhile.  -1 otherwise; NULL where never (HTTP/2). */
	int (*raw_fd)(struct exchange *x);
	/* After a 101 head: join the client and peer into a byte tunnel; the
	 * front takes ownership of peer.  NULL where impossible (HTTP/2). */
	int (*tunnel)(struct exchange *x, struct bufferevent *peer);
};

enum exchange_method_flags {
	EXCHANGE_M_GET = 1 << 0,
	EXCHANGE_M_HEAD = 1 << 1,
	EXCHANGE_M_IDEMPOTENT = 1 << 2,	/* GET HEAD PUT DELETE OPTIONS TRACE */
	EXCHANGE_M_OPTIONS = 1 << 3,
	EXCHANGE_M_CONNECT = 1 << 4
};

struct exchange {
	struct arena *arena;
	const struct exchange_front *front;
	void *front_ctx;		/* the conn / stream */
	struct worker *w;
	struct wsnap *ws;		/* the configuration it runs on (ref held) */
	const struct config *conf;
	const struct conf_listener *listener;
	enum exchange_state state;

	/* ---- request, filled by the front ---- */
	const char *method;
	size_t method_len;
	unsigned method_flags;
	const char *host;		/* normalised: lower-case, no port */
	size_t host_len;
	const char *host_header;	/* as the client sent it (X-Forwarded-Host) */
	size_t host_header_len;
	const char *path;		/* normalised, NUL-terminated */
	size_t path_len;
	const char *query;		/* after '?', NULL if none */
	size_t query_len;
	struct exchange_header *req_headers;
	size_t n_req_headers;
	int http_major, http_minor;	/* 1.0, 1.1, 2.0 */
	bool tls;
	enum exchange_body req_body_kind;
	uint64_t req_content_length;	/* with EXCHANGE_BODY_LENGTH */
	bool expect_continue;
	bool upgrade_websocket;
	struct sockaddr_storage client;
	char client_ip[48];		/* text form, for headers and logs */

	/* request body: the front appends decoded bytes, the action drains
	 * them and calls exchange_req_body_drained(). */
	struct evbuffer *req_body;
	bool req_body_done;		/* the front has seen the whole body */
	uint64_t req_body_bytes;	/* decoded body bytes received */

	char request_id[64];
	size_t request_id_len;

	/* ---- routing ---- */
	const struct conf_route *route;
	struct pool *pool;
	const char *upstream_name;	/* for the access log */

	/* ---- response ---- */
	int status;
	struct exchange_header *resp_headers;
	size_t n_resp_headers, cap_resp_headers;
	enum exchange_body resp_body;
	uint64_t resp_content_length;
	uint64_t bytes_out;		/* response body bytes sent */
	struct encode *encoder;		/* compress: on (proxy/encode.c) */
	uint64_t bytes_in_wire;		/* request bytes read (head + body) */

	/* ---- the action ---- */
	void *action_ctx;
	/* New bytes in req_body (or req_body_done became true). */
	void (*on_req_body)(struct exchange *x);
	/* The front's output fell under EXCHANGE_BUF_LOW. */
	void (*on_drained)(struct exchange *x);
	/* Release everything the action holds; x is freed right after.  Called
	 * at the end of every exchange, completed or aborted. */
	void (*on_free)(struct exchange *x);

	uint64_t tunnel_idle_ms;	/* for a WebSocket tunnel after 101 */
	uint64_t start_ns;		/* monotonic */
	bool close_after;		/* the front closes the connection after it */
};

/* ---- for fronts ---- */

/* A new exchange in worker w with its own arena; NULL on failure.  The
 * caller fills the request part and calls exchange_start(). */
struct exchange *exchange_new(struct worker *w,
    const struct exchange_front *front, void *front_ctx);
/* Route, check, act.  The exchange always ends with a response (maybe an
 * error) through the front; the front frees it with exchange_free() when
 * both the response and the request body are done, or on abort. */
void exchange_start(struct exchange *x);
/* After the checks (proxy/checks.c): run the route's action. */
void exchange_act(struct exchange *x);
/* Calls on_free, writes the access log line, frees the arena. */
void exchange_free(struct exchange *x);
/* Frees the arenas and buffers w keeps for its next exchanges (at the
 * end, after its last exchange was freed). */
void exchange_spares_free(struct worker *w);
/* Method flags for a method name. */
unsigned exchange_method_flags(const char *m, size_t len);
/* The request header named lname (lower-case), or NULL. */
const struct exchange_header *exchange_req_header(const struct exchange *x,
    const char *lname);

/* ---- for actions ---- */

/* Set the status and forget any response header added so far. */
void exchange_resp_start(struct exchange *x, int status);
/* Add a response header; name and value are copied into the arena. 0/-1 */
int exchange_resp_add(struct exchange *x, const char *name, size_t name_len,
    const char *value, size_t value_len);
/* The same without copying: the strings must live as long as x. */
int exchange_resp_add_ref(struct exchange *x, const char *name,
    size_t name_len, const char *value, size_t value_len);
int exchange_resp_addf(struct exchange *x, const char *name,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Remove every response header named lname (lower-case). */
void exchange_resp_remove(struct exchange *x, const char *lname);
/* Send the head (route headers, request id and HSTS are added here).
 * body/length give the framing. 0 or -1 (then the exchange is aborted). */
int exchange_send_head(struct exchange *x, enum exchange_body body,
    uint64_t length);
int exchange_send_body(struct exchange *x, struct evbuffer *src, size_t n);
int exchange_send_body_mem(struct exchange *x, const void *p, size_t n);
/* The response is complete.  The action may still return normally; the
 * front frees x later (never from inside this call). */
void exchange_send_end(struct exchange *x);
/* A whole small response with a text/plain body (limen's own errors and
 * respond/redirect).  body may be NULL: "<status> <reason>\nrequest-id". */
void exchange_respond(struct exchange *x, int status, const char *ctype,
    const char *body, size_t body_len);
/* limen's own error response: status with a short text/plain body that
 * names the request id.  If the head is already out, the connection is
 * cut instead. */
void exchange_error(struct exchange *x, int status);
/* The action consumed req_body: let the front read more. */
void exchange_req_body_drained(struct exchange *x);
/* Tell a client that waits on Expect: 100-continue to send its body. */
void exchange_continue(struct exchange *x);
size_t exchange_out_pending(struct exchange *x);
/* Reason phrase for a status code. */
const char *exchange_reason(int status);

#endif
