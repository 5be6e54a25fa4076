/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * action_proxy.c — `pool: NAME`: forward the exchange to a server of the
 * pool over HTTP/1.1 and stream the answer back (SPEC §3).
 *
 *   PICK ─> CONNECT ─> SEND (head, then body as it arrives) ─> WAIT_HEAD
 *     ^        │                                                 │
 *     └────────┘ connect error / reset before any response byte  v
 *                (retries left; no body sent; idempotent)      STREAM ─> DONE
 *                                                                │ 101
 *                                                                v
 *                                                            TUNNEL (front)
 *
 * Forwarded: the request line with the normalised path (less the route
 * prefix with strip_prefix), the client's headers minus hop-by-hop ones
 * (Connection and what it names, Keep-Alive, Proxy-Connection, TE,
 * Trailer, Upgrade unless WebSocket; Expect, since limen answers
 * 100-continue itself), X-Forwarded-For (appended), X-Forwarded-Proto,
 * X-Forwarded-Host, X-Real-IP, X-Request-ID, the route's request_set.
 * Bodies are re-framed on both sides (Content-Length kept, chunked
 * decoded and re-encoded) and never held whole: the request body moves
 * when the upstream's output is under EXCHANGE_BUF_HIGH, the response
 * body when the client's is.  A large Content-Length body that nothing
 * transforms, between plain sockets, moves in the kernel instead
 * (splice(2), proxy/splice.h) once what the buffers held is out.
 *
 * Timeouts (from the pool): connect; response (504 when no head came
 * that long after the request was sent; also the idle time between body
 * reads); idle keep-alive in upstream.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "common/arena.h"
#include "common/log.h"
#include "proxy/action.h"
#include "proxy/exchange.h"
#include "proxy/h1_parse.h"
#include "proxy/headbuf.h"
#include "proxy/pool.h"
#include "proxy/rawread.h"
#include "proxy/snapshot.h"
#include "proxy/splice.h"
#include "proxy/upstream.h"
#include "proxy/worker.h"

enum proxy_state {
	PROXY_PICK,
	PROXY_CONNECT,
	PROXY_WAIT_HEAD,
	PROXY_STREAM,
	PROXY_DONE
};

struct proxy {
	struct exchange *x;
	struct pool *pool;
	const struct conf_pool *pc;
	struct server *server;		/* the current attempt (ref held) */
	struct upstream *u;
	struct server **tried;
	size_t n_tried, max_tried;
	enum proxy_state state;
	bool connected;
	bool head_written;
	bool body_sent;			/* request body bytes went out */
	bool req_end_sent;
	bool up_chunked;		/* request body re-encoded chunked */
	bool got_bytes;			/* any response byte */
	bool paused;			/* upstream reading stopped for the client */
	bool splice_ok;			/* the body may go through splice.h */
	struct splice_xfer *sx;		/* the body moves in the kernel */
	bool fresh_retry_done;
	enum h1_body resp_kind;
	uint64_t resp_left;
	bool resp_keep_alive;
	struct h1_chunked resp_chunked;
};

static void proxy_attempt(struct proxy *p);
static void proxy_splice_try(struct proxy *p);
static void proxy_read_cb(struct bufferevent *bev, void *arg);
static void proxy_write_cb(struct bufferevent *bev, void *arg);
static void proxy_event_cb(struct bufferevent *bev, short what, void *arg);

static void
tv_ms(struct timeval *tv, uint64_t ms)
{
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

/* ---- ending ---------------------------------------------------------- */

static void
proxy_release_server(struct proxy *p, enum pool_outcome o)
{
	if (p->server != NULL) {
		pool_release(p->pool, p->server, o);
		p->server = NULL;
	}
}

/* End a splice transfer (if any), counting what reached the client. */
static void
proxy_splice_stop(struct proxy *p)
{
	if (p->sx == NULL)
		return;
	p->x->bytes_out += splice_moved(p->sx);
	splice_free(p->sx);
	p->sx = NULL;
}

static void
proxy_on_free(struct exchange *x)
{
	struct proxy *p = x->action_ctx;

	if (p == NULL)
		return;
	proxy_splice_stop(p);
	if (p->u != NULL) {
		upstream_close(p->u);
		p->u = NULL;
	}
	proxy_release_server(p, POOL_ABORTED);
	for (size_t i = 0; i < p->n_tried; i++)
		server_unref(p->tried[i]);
	p->n_tried = 0;
	x->action_ctx = NULL;
}

/* An attempt failed: try another server when §3 allows it, else answer. */
static void
proxy_fail(struct proxy *p, enum pool_outcome o, int status)
{
	struct exchange *x = p->x;
	bool retriable;

	proxy_splice_stop(p);
	if (p->u != NULL) {
		upstream_close(p->u);
		p->u = NULL;
	}
	proxy_release_server(p, o);
	if (p->state == PROXY_STREAM) {
		exchange_error(x, status);	/* cuts the response */
		p->state = PROXY_DONE;
		return;
	}
	retriable = (o == POOL_FAIL_CONNECT || o == POOL_FAIL_RESET) &&
	    !p->body_sent && !p->got_bytes &&
	    (o == POOL_FAIL_CONNECT || !p->head_written ||
	    (x->method_flags & EXCHANGE_M_IDEMPOTENT)) &&
	    p->n_tried < p->max_tried;
	if (retriable) {
		log_debug("proxy: %s: retrying after a failed attempt",
		    x->request_id);
		proxy_attempt(p);
		return;
	}
	p->state = PROXY_DONE;
	exchange_error(x, status);
}

/* ---- the request ----------------------------------------------------- */

static bool
hdr_is(const struct exchange_header *h, const char *lname, size_t n)
{
	return h->name_len == n && strncasecmp(h->name, lname, n) == 0;
}

/*
 * The tokens of a message's Connection headers, collected once so that
 * dropping the headers they name costs a length compare per header and
 * token (issue 6: the old per-header scan of every header was 5 % of the
 * worker's instructions, since most responses carry "Connection:
 * keep-alive").  A header matches as with h1_list_has() on its lower-cased
 * name: same length, equal ignoring ASCII case, names of 64 bytes or more
 * never.  More tokens than fit: the callers fall back to the scan.
 */
#define PROXY_CONN_TOKENS 16

struct conn_tokens {
	size_t n;
	bool overflow;
	const char *tok[PROXY_CONN_TOKENS];
	size_t len[PROXY_CONN_TOKENS];
};

static void
conn_tokens_add(struct conn_tokens *ct, const char *v, size_t vlen)
{
	const char *p = v, *end = v + vlen, *tok;
	size_t n;

	while ((n = h1_list_next(&p, end, &tok)) > 0) {
		if (ct->n == PROXY_CONN_TOKENS) {
			ct->overflow = true;
			return;
		}
		ct->tok[ct->n] = tok;
		ct->len[ct->n++] = n;
	}
}

static bool
conn_tokens_name(const struct conn_tokens *ct, const char *name, size_t len)
{
	if (len >= 64)
		return false;
	for (size_t i = 0; i < ct->n; i++) {
		size_t j;

		if (ct->len[i] != len)
			continue;
		for (j = 0; j < len; j++) {
			unsigned char a = (unsigned char)ct->tok[i][j];
			unsigned char b = (unsigned char)name[j];

			if (a >= 'A' && a <= 'Z')
				a |= 0x20;
			if (b >= 'A' && b <= 'Z')
				b |= 0x20;
			if (a != b)
				break;
		}
		if (j == len)
			return true;
	}
	return false;
}

/* Named by a Connection header of the request? */
static bool
proxy_conn_names(const struct exchange *x, const struct exchange_header *h)
{
	char lname[64];

	if (h->name_len >= sizeof(lname))
		return false;
	for (size_t i = 0; i < h->name_len; i++)
		lname[i] = (char)((h->name[i] >= 'A' && h->name[i] <= 'Z') ?
		    h->name[i] + 32 : h->name[i]);
	lname[h->name_len] = '\0';
	for (size_t i = 0; i < x->n_req_headers; i++) {
		const struct exchange_header *c = &x->req_headers[i];
		if (hdr_is(c, "connection", 10) &&
		    h1_list_has(c->value, c->value_len, lname))
			return true;
	}
	return false;
}

static bool
proxy_request_set_has(const struct conf_route *r, const struct exchange_header *h)
{
	for (size_t i = 0; i < r->headers.n_request_set; i++) {
		const char *n = r->headers.request_set[i].name;
		if (strlen(n) == h->name_len &&
		    strncasecmp(n, h->name, h->name_len) == 0)
			return true;
	}
	return false;
}

static void
proxy_write_head(struct proxy *p)
{
	struct exchange *x = p->x;
	const struct conf_route *r = x->route;
	struct headbuf hb;
	const char *path = x->path;
	size_t path_len = x->path_len, i;
	const char *xff = NULL;
	size_t xff_len = 0;
	bool has_host = false;
	struct conn_tokens ct;

	ct.n = 0;
	ct.overflow = false;
	for (i = 0; i < x->n_req_headers; i++)
		if (hdr_is(&x->req_headers[i], "connection", 10))
			conn_tokens_add(&ct, x->req_headers[i].value,
			    x->req_headers[i].value_len);
	if (r->strip_prefix && r->path != NULL) {
		size_t pl = strlen(r->path);
		while (pl > 0 && r->path[pl - 1] == '/')
			pl--;
		if (pl > 0 && pl <= path_len && memcmp(path, r->path, pl) == 0) {
			path += pl;
			path_len -= pl;
		}
	}
	/* the whole head in one evbuffer_add, no printf (headbuf.h) */
	headbuf_init(&hb, bufferevent_get_output(p->u->bev));
	headbuf_add(&hb, x->method, x->method_len);
	HEADBUF_LIT(&hb, " ");
	if (path_len == 0 || path[0] != '/')
		HEADBUF_LIT(&hb, "/");
	headbuf_add(&hb, path, path_len);
	if (x->query != NULL) {
		HEADBUF_LIT(&hb, "?");
		headbuf_add(&hb, x->query, x->query_len);
	}
	HEADBUF_LIT(&hb, " HTTP/1.1\r\n");

	for (i = 0; i < x->n_req_headers; i++) {
		const struct exchange_header *h = &x->req_headers[i];

		switch (h->name_len) {
		case 2:
			if (hdr_is(h, "te", 2))
				continue;
			break;
		case 4:
			if (hdr_is(h, "host", 4))
				has_host = true;
			break;
		case 6:
			if (hdr_is(h, "expect", 6))
				continue;
			break;
		case 7:
			if (hdr_is(h, "upgrade", 7) || hdr_is(h, "trailer", 7))
				continue;
			break;
		case 9:
			if (hdr_is(h, "x-real-ip", 9))
				continue;
			break;
		case 10:
			if (hdr_is(h, "connection", 10) ||
			    hdr_is(h, "keep-alive", 10))
				continue;
			break;
		case 12:
			if (hdr_is(h, "x-request-id", 12))
				continue;
			break;
		case 14:
			if (hdr_is(h, "content-length", 14))
				continue;
			break;
		case 15:
			if (hdr_is(h, "x-forwarded-for", 15)) {
				/* several lines fold into one list */
				if (xff == NULL) {
					xff = h->value;
					xff_len = h->value_len;
				} else {
					char *m = arena_alloc(x->arena,
					    xff_len + h->value_len + 3);
					if (m != NULL) {
						memcpy(m, xff, xff_len);
						memcpy(m + xff_len, ", ", 2);
						memcpy(m + xff_len + 2, h->value,
						    h->value_len);
						xff = m;
						xff_len += h->value_len + 2;
					}
				}
				continue;
			}
			break;
		case 16:
			if (hdr_is(h, "proxy-connection", 16) ||
			    hdr_is(h, "x-forwarded-host", 16))
				continue;
			break;
		case 17:
			if (hdr_is(h, "transfer-encoding", 17) ||
			    hdr_is(h, "x-forwarded-proto", 17))
				continue;
			break;
		default:
			break;
		}
		if ((ct.overflow ? proxy_conn_names(x, h) :
		    (ct.n > 0 && conn_tokens_name(&ct, h->name, h->name_len))) ||
		    (r->headers.n_request_set && proxy_request_set_has(r, h)))
			continue;
		headbuf_add(&hb, h->name, h->name_len);
		HEADBUF_LIT(&hb, ": ");
		headbuf_add(&hb, h->value, h->value_len);
		HEADBUF_LIT(&hb, "\r\n");
	}
	if (!has_host && x->host_len > 0) {
		HEADBUF_LIT(&hb, "Host: ");
		headbuf_add(&hb, x->host, x->host_len);
		HEADBUF_LIT(&hb, "\r\n");
	}
	HEADBUF_LIT(&hb, "X-Forwarded-For: ");
	if (xff != NULL) {
		headbuf_add(&hb, xff, xff_len);
		HEADBUF_LIT(&hb, ", ");
	}
	headbuf_str(&hb, x->client_ip);
	if (x->tls)
		HEADBUF_LIT(&hb, "\r\nX-Forwarded-Proto: https\r\n");
	else
		HEADBUF_LIT(&hb, "\r\nX-Forwarded-Proto: http\r\n");
	if (x->host_header != NULL) {
		HEADBUF_LIT(&hb, "X-Forwarded-Host: ");
		headbuf_add(&hb, x->host_header, x->host_header_len);
		HEADBUF_LIT(&hb, "\r\n");
	}
	HEADBUF_LIT(&hb, "X-Real-IP: ");
	headbuf_str(&hb, x->client_ip);
	HEADBUF_LIT(&hb, "\r\nX-Request-ID: ");
	headbuf_add(&hb, x->request_id, x->request_id_len);
	HEADBUF_LIT(&hb, "\r\n");
	for (i = 0; i < r->headers.n_request_set; i++) {
		headbuf_str(&hb, r->headers.request_set[i].name);
		HEADBUF_LIT(&hb, ": ");
		headbuf_str(&hb, r->headers.request_set[i].value);
		HEADBUF_LIT(&hb, "\r\n");
	}
	p->up_chunked = false;
	if (x->req_body_kind == EXCHANGE_BODY_LENGTH) {
		HEADBUF_LIT(&hb, "Content-Length: ");
		headbuf_u64(&hb, x->req_content_length);
		HEADBUF_LIT(&hb, "\r\n");
	} else if (x->req_body_kind == EXCHANGE_BODY_STREAM) {
		HEADBUF_LIT(&hb, "Transfer-Encoding: chunked\r\n");
		p->up_chunked = true;
	}
	if (x->upgrade_websocket && x->front->tunnel != NULL)
		HEADBUF_LIT(&hb, "Connection: upgrade\r\nUpgrade: websocket\r\n");
	HEADBUF_LIT(&hb, "\r\n");
	(void)headbuf_finish(&hb);	/* unchecked, as the adds were */
	p->head_written = true;
	flush_queue(x->w->flusher, &p->u->flush);
	if (x->req_body_kind == EXCHANGE_BODY_NONE)
		p->req_end_sent = true;
}

/* Move what the client sent so far towards the server. */
static void
proxy_push_body(struct proxy *p)
{
	struct exchange *x = p->x;
	struct evbuffer *out;
	size_t n;
	bool moved = false;
	struct timeval tv;

	if (p->u == NULL || !p->connected || p->req_end_sent)
		return;
	out = bufferevent_get_output(p->u->bev);
	while ((n = evbuffer_get_length(x->req_body)) > 0 &&
	    evbuffer_get_length(out) < EXCHANGE_BUF_HIGH) {
		if (p->up_chunked) {
			char d[16 + 2];
			size_t dl = headbuf_fmt_hex(d, n);

			memcpy(d + dl, "\r\n", 2);
			evbuffer_add(out, d, dl + 2);
		}
		evbuffer_remove_buffer(x->req_body, out, n);
		if (p->up_chunked)
			evbuffer_add(out, "\r\n", 2);
		p->body_sent = true;
		moved = true;
	}
	if (x->req_body_done && evbuffer_get_length(x->req_body) == 0) {
		if (p->up_chunked)
			evbuffer_add(out, "0\r\n\r\n", 5);
		p->req_end_sent = true;
		/* Now the response timeout counts. */
		tv_ms(&tv, p->pc->response_timeout_ms);
		bufferevent_set_timeouts(p->u->bev, &tv, &tv);
	}
	flush_queue(x->w->flusher, &p->u->flush);
	if (moved)
		exchange_req_body_drained(x);
}

static void
proxy_on_req_body(struct exchange *x)
{
	struct proxy *p = x->action_ctx;

	if (p != NULL)
		proxy_push_body(p);
}

/* ---- the response ---------------------------------------------------- */

static void
proxy_complete(struct proxy *p)
{
	struct exchange *x = p->x;
	struct upstream *u = p->u;

	p->state = PROXY_DONE;
	p->u = NULL;
	/* A spliced body: the idle connection's read interest is registered
	 * before the transfer drops its own, so the socket's epoll
	 * registration never changes (splice.c). */
	if (p->resp_keep_alive && p->req_end_sent &&
	    p->resp_kind != H1_BODY_UNTIL_CLOSE) {
		upstream_release(u, p->pc->keepalive, p->pc->idle_timeout_ms);
		proxy_splice_stop(p);
	} else {
		proxy_splice_stop(p);
		upstream_close(u);
	}
	proxy_release_server(p, POOL_OK);
	exchange_send_end(x);
}

/* Forward response body bytes while the client keeps up.  Returns 1 when
 * the body is complete, 0 otherwise, -1 on a framing error. */
static int
proxy_stream(struct proxy *p, bool eof)
{
	struct exchange *x = p->x;
	struct evbuffer *in = bufferevent_get_input(p->u->bev);
	size_t len, n, consumed, off, dlen;
	struct evbuffer_iovec v;
	enum h1_err err;
	int rc;

	for (;;) {
		if (p->resp_kind == H1_BODY_NONE ||
		    (p->resp_kind == H1_BODY_LENGTH && p->resp_left == 0))
			return 1;
		if ((len = evbuffer_get_length(in)) == 0) {
			if (p->splice_ok && !eof)
				proxy_splice_try(p);	/* the rest in the kernel */
			return eof && p->resp_kind == H1_BODY_UNTIL_CLOSE ? 1 : 0;
		}
		if (!eof && exchange_out_pending(x) >= EXCHANGE_BUF_HIGH) {
			p->paused = true;
			bufferevent_disable(p->u->bev, EV_READ);
			return 0;
		}
		switch (p->resp_kind) {
		case H1_BODY_LENGTH:
			n = len < p->resp_left ? len : (size_t)p->resp_left;
			if (exchange_send_body(x, in, n) == -1)
				return -1;
			p->resp_left -= n;
			break;
		case H1_BODY_UNTIL_CLOSE:
			if (exchange_send_body(x, in, len) == -1)
				return -1;
			break;
		case H1_BODY_CHUNKED:
			if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
				return 0;
			rc = h1_chunked_feed(&p->resp_chunked, v.iov_base,
			    v.iov_len, &consumed, &off, &dlen, &err);
			if (rc < 0)
				return -1;
			if (consumed == 0 && dlen == 0 && rc == 0) {
				if (v.iov_len >= len || v.iov_len >= 4096)
					return 0;
				evbuffer_pullup(in, (ssize_t)(len < 4096 ? len : 4096));
				continue;
			}
			if (dlen > 0) {
				/* the data span moves without a copy */
				evbuffer_drain(in, off);
				if (exchange_send_body(x, in, dlen) == -1)
					return -1;
				evbuffer_drain(in, consumed - off - dlen);
			} else {
				evbuffer_drain(in, consumed);
			}
			if (rc == 1)
				return 1;
			break;
		default:
			return 1;
		}
	}
}

static bool
resp_hop_by_hop(const struct h1_header *h, const struct h1_response *r)
{
	switch (h->name_len) {
	case 2:
		return h1_header_is(h, "te");
	case 7:
		return h1_header_is(h, "trailer") ||
		    (h1_header_is(h, "upgrade") && r->status != 101);
	case 10:
		return h1_header_is(h, "connection") ||
		    h1_header_is(h, "keep-alive");
	case 14:
		return h1_header_is(h, "content-length");
	case 16:
		return h1_header_is(h, "proxy-connection");
	case 17:
		return h1_header_is(h, "transfer-encoding");
	default:
		return false;
	}
}

static bool
resp_conn_names(const struct h1_header *h, const struct h1_response *r)
{
	char lname[64];

	if (h->name_len >= sizeof(lname))
		return false;
	for (size_t i = 0; i < h->name_len; i++)
		lname[i] = (char)((h->name[i] >= 'A' && h->name[i] <= 'Z') ?
		    h->name[i] + 32 : h->name[i]);
	lname[h->name_len] = '\0';
	for (size_t i = 0; i < r->n_headers; i++)
		if (h1_header_is(&r->headers[i], "connection") &&
		    h1_list_has(r->headers[i].value, r->headers[i].value_len,
		    lname))
			return true;
	return false;
}

static void
proxy_tunnel(struct proxy *p)
{
	struct exchange *x = p->x;
	struct bufferevent *bev;

	exchange_resp_add_ref(x, "Connection", 10, "upgrade", 7);
	exchange_resp_add_ref(x, "Upgrade", 7, "websocket", 9);
	exchange_send_head(x, EXCHANGE_BODY_NONE, 0);
	x->tunnel_idle_ms = p->pc->response_timeout_ms > p->pc->idle_timeout_ms ?
	    p->pc->response_timeout_ms : p->pc->idle_timeout_ms;
	bev = upstream_detach(p->u);
	p->u = NULL;
	proxy_release_server(p, POOL_OK);
	p->state = PROXY_DONE;
	x->state = EXCHANGE_DONE;
	x->front->tunnel(x, bev);
}

/* ---- splice(2) for the body (splice.h) -------------------------------
 *
 * After the head: may the body bypass user space?  Then proxy_stream()
 * forwards what the input buffer holds as usual, and once it is empty
 * proxy_splice_try() hands the upstream socket to a transfer of exactly
 * the bytes the body still has.  Bytes still queued towards the client
 * go first: the transfer is held until on_drained finds the client's
 * output empty.  A transfer that cannot start leaves the exchange on the
 * normal path for good.
 */
static bool
proxy_splice_gate(struct proxy *p)
{
	struct exchange *x = p->x;
	struct bufferevent *bev = p->u->bev;
	uint64_t have = evbuffer_get_length(bufferevent_get_input(bev));
	struct splice_gate g = {
		.client_raw = x->front->raw_fd != NULL && x->front->raw_fd(x) >= 0,
		.upstream_plain = bufferevent_openssl_get_ssl(bev) == NULL,
		.length_framed = p->resp_kind == H1_BODY_LENGTH &&
		    x->resp_body == EXCHANGE_BODY_LENGTH,
		.transformed = x->encoder != NULL,
		.head_only = (x->method_flags & EXCHANGE_M_HEAD) != 0,
		.request_sent = p->req_end_sent,
		.left = p->resp_left > have ? p->resp_left - have : 0,
	};

	return x->w->pipes != NULL && splice_wanted(&g);
}

static void
proxy_splice_done(struct splice_xfer *s, enum splice_end e, void *arg)
{
	struct proxy *p = arg;
	uint64_t moved = splice_moved(s);

	p->resp_left -= moved;
	if (e == SPLICE_DONE) {
		proxy_complete(p);	/* frees s */
		return;
	}
	proxy_splice_stop(p);		/* frees s, counts the bytes */
	log_debug("proxy: %s: body from %s cut after %llu spliced "
		    "bytes: %s", p->x->request_id, p->x->upstream_name,
		    (unsigned long long)moved, splice_end_string(e));
	switch (e) {
	case SPLICE_SRC_TIMEOUT:
		proxy_fail(p, POOL_FAIL_TIMEOUT, 504);	/* cuts the response */
		break;
	case SPLICE_DST_ERROR:
	case SPLICE_DST_TIMEOUT:
		proxy_fail(p, POOL_ABORTED, 502);	/* the client's doing */
		break;
	default:
		proxy_fail(p, POOL_FAIL_RESET, 502);
		break;
	}
}

static void
proxy_splice_try(struct proxy *p)
{
	struct exchange *x = p->x;
	struct bufferevent *bev = p->u->bev;
	struct evbuffer *in = bufferevent_get_input(bev);
	int cfd;

	p->splice_ok = false;	/* one try: a fallback stays on the normal path */
	if (p->sx != NULL || p->resp_left < SPLICE_MIN_BYTES ||
	    evbuffer_get_length(in) != 0 || x->front->raw_fd == NULL ||
	    (cfd = x->front->raw_fd(x)) < 0)
		return;
	p->sx = splice_start(x->w->pipes, x->w->base, bufferevent_getfd(bev),
	    cfd, p->resp_left, p->pc->response_timeout_ms,
	    exchange_out_pending(x) > 0, proxy_splice_done, p);
	if (p->sx == NULL)
		return;
	bufferevent_disable(bev, EV_READ);	/* after splice_start: no
						 * epoll_ctl (splice.c) */
	log_debug("proxy: %s: splicing %llu body bytes", x->request_id,
	    (unsigned long long)p->resp_left);
}

/* Parse the response head; 1 when it was handled, 0 for more bytes. */
static int
proxy_read_head(struct proxy *p)
{
	struct exchange *x = p->x;
	struct evbuffer *in = bufferevent_get_input(p->u->bev);
	struct h1_response *r = x->w->scratch_resp;
	enum h1_err err = H1_ERR_NONE;
	size_t len, n, i;
	const char *buf;
	char *copy;
	struct conn_tokens ct;
	int rc;

	for (;;) {
		if ((len = evbuffer_get_length(in)) == 0)
			return 0;
		n = len < H1_MAX_HEAD + 1 ? len : H1_MAX_HEAD + 1;
		if ((buf = (const char *)evbuffer_pullup(in, (ssize_t)n)) == NULL)
			return -1;
		rc = h1_parse_response(buf, n,
		    (x->method_flags & EXCHANGE_M_HEAD) != 0, r, &err);
		if (rc == H1_AGAIN)
			return n > H1_MAX_HEAD ? -1 : 0;
		if (rc < 0) {
			log_info("proxy: %s: bad response from %s: %s",
			    x->request_id, x->upstream_name, h1_err_string(err));
			return -1;
		}
		if (r->status >= 100 && r->status < 200 && r->status != 101) {
			evbuffer_drain(in, (size_t)rc);	/* interim: skip */
			continue;
		}
		break;
	}
	if (r->status == 101 && !(x->upgrade_websocket &&
	    x->front->tunnel != NULL))
		return -1;
	if ((copy = arena_memdup(x->arena, buf, (size_t)rc)) == NULL)
		return -1;
	exchange_resp_start(x, r->status);
	ct.n = 0;
	ct.overflow = false;
	for (i = 0; i < r->n_headers; i++)
		if (r->headers[i].name_len == 10 &&
		    h1_header_is(&r->headers[i], "connection"))
			conn_tokens_add(&ct, r->headers[i].value,
			    r->headers[i].value_len);
	for (i = 0; i < r->n_headers; i++) {
		const struct h1_header *h = &r->headers[i];
		if (resp_hop_by_hop(h, r)) {
			/* A HEAD or 304 answer keeps the length it describes. */
			if (!(r->body == H1_BODY_NONE && r->status != 204 &&
			    h1_header_is(h, "content-length")))
				continue;
		}
		if (r->status == 101 && h1_header_is(h, "upgrade"))
			continue;	/* set again by proxy_tunnel */
		if (ct.overflow ? resp_conn_names(h, r) :
		    (ct.n > 0 && conn_tokens_name(&ct, h->name, h->name_len)))
			continue;
		exchange_resp_add_ref(x, copy + (h->name - buf), h->name_len,
		    copy + (h->value - buf), h->value_len);
	}
	p->resp_kind = r->body;
	p->resp_left = r->content_length;
	p->resp_keep_alive = r->keep_alive;
	evbuffer_drain(in, (size_t)rc);
	if (r->status == 101) {
		proxy_tunnel(p);
		return 1;
	}
	if (r->body == H1_BODY_CHUNKED)
		h1_chunked_init(&p->resp_chunked);
	p->state = PROXY_STREAM;
	switch (r->body) {
	case H1_BODY_LENGTH:
		exchange_send_head(x, EXCHANGE_BODY_LENGTH, r->content_length);
		p->splice_ok = proxy_splice_gate(p);
		break;
	case H1_BODY_NONE:
		exchange_send_head(x, EXCHANGE_BODY_NONE, 0);
		break;
	default:
		exchange_send_head(x, EXCHANGE_BODY_STREAM, 0);
		break;
	}
	return 1;
}

static void
proxy_read(struct proxy *p, bool eof)
{
	int rc;

	if (p->state == PROXY_WAIT_HEAD || p->state == PROXY_CONNECT) {
		if (evbuffer_get_length(bufferevent_get_input(p->u->bev)) > 0)
			p->got_bytes = true;
		if ((rc = proxy_read_head(p)) == -1) {
			proxy_fail(p, POOL_FAIL_RESET, 502);
			return;
		}
		if (rc == 0 || p->state != PROXY_STREAM)
			return;
	}
	if (p->state != PROXY_STREAM)
		return;
	rc = proxy_stream(p, eof);
	if (rc == 1)
		proxy_complete(p);
	else if (rc == -1)
		proxy_fail(p, POOL_FAIL_RESET, 502);
	else if (eof)
		proxy_fail(p, POOL_FAIL_RESET, 502);	/* cut short */
}

/*
 * libevent 2.1's evbuffer_read() reads at most 4096 bytes per call, so a
 * socket bufferevent costs one epoll wake-up, one FIONREAD ioctl, one
 * readv and one pass through the callbacks per 4 KiB: a 1 MiB response
 * took 256 of them (`make bench`, 1 MiB scenario: about 10x nginx's CPU
 * per request).  While streaming a response body, top the input up with
 * one direct read of up to PROXY_READ_MORE bytes.  Back-pressure still
 * holds: nothing is read while the client side is above its high-water
 * mark, and the amount stays below the upstream's read high-water mark.
 * A read of 0 (EOF) or an error is left for the bufferevent to find on
 * its next read: the socket stays readable.
 */
#define PROXY_READ_MORE (64 * 1024)

static void
proxy_read_more(struct proxy *p)
{
	struct bufferevent *bev = p->u->bev;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_iovec v[2];
	struct iovec iov[2];
	size_t have = evbuffer_get_length(in);
	ssize_t n;
	int nv, used;

	if (p->state != PROXY_STREAM || p->paused || have >= PROXY_READ_MORE ||
	    exchange_out_pending(p->x) >= EXCHANGE_BUF_HIGH ||
	    bufferevent_openssl_get_ssl(bev) != NULL)
		return;
	/* the socket bufferevent keeps its input's end frozen outside its
	 * own reads; thaw it for ours, as bufferevent_readcb does */
	evbuffer_unfreeze(in, 0);
	if ((nv = evbuffer_reserve_space(in, (ev_ssize_t)(PROXY_READ_MORE -
	    have), v, 2)) <= 0)
		goto out;
	for (int i = 0; i < nv; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	n = readv(bufferevent_getfd(bev), iov, nv);
	for (used = 0; used < nv && n > 0; used++) {
		if ((size_t)n < v[used].iov_len)
			v[used].iov_len = (size_t)n;
		n -= (ssize_t)v[used].iov_len;
	}
	evbuffer_commit_space(in, v, used);	/* 0: gives the space back */
out:
	evbuffer_freeze(in, 0);
}

static void
proxy_read_cb(struct bufferevent *bev, void *arg)
{
	struct proxy *p = arg;

	if (p->sx != NULL)
		return;		/* the socket is splice.c's */
	if (p->u != NULL)
		proxy_read_more(p);
	proxy_read(p, false);
}

static void
proxy_on_drained(struct exchange *x)
{
	struct proxy *p = x->action_ctx;

	if (p != NULL && p->sx != NULL) {
		if (exchange_out_pending(x) == 0)
			splice_release(p->sx);	/* what was queued is out */
		return;
	}
	if (p == NULL || !p->paused || p->u == NULL)
		return;
	p->paused = false;
	bufferevent_enable(p->u->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(p->u->bev)) > 0)
		bufferevent_trigger(p->u->bev, EV_READ,
		    BEV_TRIG_DEFER_CALLBACKS | BEV_TRIG_IGNORE_WATERMARKS);
}

static void
proxy_write_cb(struct bufferevent *bev, void *arg)
{
	struct proxy *p = arg;

	if (p->u != NULL)
		flush_written(&p->u->flush);	/* output empty: EV_WRITE off */
	proxy_push_body(p);
}

static void
proxy_connected(struct proxy *p)
{
	struct timeval tv;

	p->connected = true;
	if (p->state == PROXY_CONNECT)
		p->state = PROXY_WAIT_HEAD;
	p->u->state = UPSTREAM_BUSY;
	tv_ms(&tv, p->pc->response_timeout_ms);
	if (p->req_end_sent)
		bufferevent_set_timeouts(p->u->bev, &tv, &tv);
	else
		bufferevent_set_timeouts(p->u->bev, NULL, &tv);
	exchange_continue(p->x);
	proxy_push_body(p);
}

static void
proxy_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct proxy *p = arg;

	if (p->sx != NULL)
		return;	/* a stale event: the transfer sees the socket itself */
	if (what & BEV_EVENT_CONNECTED) {
		proxy_connected(p);
		return;
	}
	if (!p->connected) {
		log_info("proxy: %s: connect to %s: %s", p->x->request_id,
		    p->x->upstream_name, (what & BEV_EVENT_TIMEOUT) ?
		    "timeout" : evutil_socket_error_to_string(
		    EVUTIL_SOCKET_ERROR()));
		proxy_fail(p, POOL_FAIL_CONNECT, 502);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (p->state == PROXY_WAIT_HEAD)
			log_info("proxy: %s: no response from %s within %llums",
			    p->x->request_id, p->x->upstream_name,
			    (unsigned long long)p->pc->response_timeout_ms);
		proxy_fail(p, POOL_FAIL_TIMEOUT, 504);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		if (p->state == PROXY_STREAM) {
			proxy_read(p, true);
			return;
		}
		/* Bytes of a head and then EOF: treat what is there. */
		if (p->state == PROXY_WAIT_HEAD && evbuffer_get_length(
		    bufferevent_get_input(bev)) > 0) {
			proxy_read(p, true);
			if (p->state == PROXY_STREAM)
				return;
			if (p->state == PROXY_DONE)
				return;
		}
	}
	/* EOF or reset before a response.  A reused connection that died
	 * in between is not the server's fault: once more on a fresh one. */
	if (p->u != NULL && p->u->reused && !p->got_bytes && !p->body_sent &&
	    !p->fresh_retry_done && p->state == PROXY_WAIT_HEAD) {
		struct server *s = p->server;

		p->fresh_retry_done = true;
		upstream_close(p->u);
		p->u = upstream_connect(p->x->w, (const void *)&s->sa,
		    s->sa_len, p->pc->connect_timeout_ms);
		if (p->u == NULL) {
			proxy_fail(p, POOL_FAIL_CONNECT, 502);
			return;
		}
		p->connected = false;
		p->state = PROXY_CONNECT;
		bufferevent_setcb(p->u->bev, proxy_read_cb, proxy_write_cb,
		    proxy_event_cb, p);
		bufferevent_setwatermark(p->u->bev, EV_WRITE, EXCHANGE_BUF_LOW, 0);
		bufferevent_enable(p->u->bev, EV_READ | EV_WRITE);
		proxy_write_head(p);
		return;
	}
	proxy_fail(p, POOL_FAIL_RESET, 502);
}

/* ---- picking and connecting ------------------------------------------ */

/* The value `hash_key: header:NAME | cookie:NAME` names, or NULL. */
static const char *
proxy_hash_value(const struct exchange *x, const struct conf_pool *pc,
    size_t *len)
{
	const char *name = pc->hash_key_name;
	size_t nl = name ? strlen(name) : 0;

	if (pc->balance != BALANCE_HASH || name == NULL)
		return NULL;
	for (size_t i = 0; i < x->n_req_headers; i++) {
		const struct exchange_header *h = &x->req_headers[i];

		if (pc->hash_key == HASH_HEADER) {
			if (h->name_len == nl &&
			    strncasecmp(h->name, name, nl) == 0) {
				*len = h->value_len;
				return h->value;
			}
			continue;
		}
		if (pc->hash_key != HASH_COOKIE || !hdr_is(h, "cookie", 6))
			continue;
		/* Cookie: a=1; sid=xyz */
		for (const char *c = h->value, *end = h->value + h->value_len;
		    c < end;) {
			const char *semi = memchr(c, ';', (size_t)(end - c));
			const char *stop = semi ? semi : end, *eq;

			while (c < stop && (*c == ' ' || *c == '\t'))
				c++;
			eq = memchr(c, '=', (size_t)(stop - c));
			if (eq != NULL && (size_t)(eq - c) == nl &&
			    memcmp(c, name, nl) == 0) {
				*len = (size_t)(stop - eq - 1);
				return eq + 1;
			}
			c = semi ? semi + 1 : end;
		}
	}
	return NULL;
}

static void
proxy_attempt(struct proxy *p)
{
	struct exchange *x = p->x;
	struct pick_ctx ctx;
	struct server *s;
	size_t lo, hi;

	memset(&ctx, 0, sizeof(ctx));
	ctx.worker = x->w->id;
	ctx.client = (const struct sockaddr *)&x->client;
	ctx.tried = p->tried;
	ctx.n_tried = p->n_tried;
	ctx.hash_value = proxy_hash_value(x, p->pc, &ctx.hash_len);
	p->state = PROXY_PICK;
	p->connected = p->head_written = p->got_bytes = false;
	p->req_end_sent = false;
	if ((s = pool_pick(p->pool, &ctx)) == NULL) {
		p->state = PROXY_DONE;
		/* every server down: 503 at once; all tried: 502 */
		exchange_error(x, p->n_tried == 0 ? 503 : 502);
		return;
	}
	p->server = s;
	server_ref(s);
	p->tried[p->n_tried++] = s;
	x->upstream_name = arena_strdup(x->arena, s->name);
	if ((p->u = upstream_get_idle(x->w, (const void *)&s->sa,
	    s->sa_len)) != NULL) {
		p->connected = true;
		p->state = PROXY_WAIT_HEAD;
	} else {
		p->u = upstream_connect(x->w, (const void *)&s->sa, s->sa_len,
		    p->pc->connect_timeout_ms);
		if (p->u == NULL) {
			proxy_fail(p, POOL_FAIL_CONNECT, 502);
			return;
		}
		p->state = PROXY_CONNECT;
	}
	bufferevent_setcb(p->u->bev, proxy_read_cb, proxy_write_cb,
	    proxy_event_cb, p);
	bufferevent_setwatermark(p->u->bev, EV_WRITE, EXCHANGE_BUF_LOW, 0);
	/* A reused connection has this read mark already and an empty input
	 * (upstream_release): setting it again would only re-add the read
	 * event (issue 6). */
	if (bufferevent_getwatermark(p->u->bev, EV_READ, &lo, &hi) == -1 ||
	    lo != 0 || hi != EXCHANGE_BUF_HIGH)
		rawread_set_high(p->u->bev, EXCHANGE_BUF_HIGH);
	if (p->connected && bufferevent_openssl_get_ssl(p->u->bev) == NULL) {
		/* a connected plain socket: write-behind (flush.h) */
		bufferevent_enable(p->u->bev, EV_READ);
		flush_attach(&p->u->flush, p->u->bev);
	} else {
		bufferevent_enable(p->u->bev, EV_READ | EV_WRITE);
	}
	proxy_write_head(p);
	if (p->connected)
		proxy_connected(p);
}

void
action_proxy_run(struct exchange *x)
{
	const struct conf_route *r = x->route;
	struct proxy *p;

	x->pool = r->pool ? pools_find(x->ws->snap->pools, r->pool) : NULL;
	if (x->pool == NULL || (p = arena_alloc(x->arena, sizeof(*p))) == NULL) {
		exchange_error(x, 500);
		return;
	}
	p->x = x;
	p->pool = x->pool;
	p->pc = r->pool;
	p->max_tried = (size_t)p->pc->retries + 1;
	if ((p->tried = arena_calloc(x->arena, p->max_tried,
	    sizeof(*p->tried))) == NULL) {
		exchange_error(x, 500);
		return;
	}
	x->action_ctx = p;
	x->on_free = proxy_on_free;
	x->on_req_body = proxy_on_req_body;
	x->on_drained = proxy_on_drained;
	proxy_attempt(p);
}
