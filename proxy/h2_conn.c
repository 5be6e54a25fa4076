/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * h2_conn.c — HTTP/2 connections and their streams as exchanges (see
 * h2_conn.h).  The shape follows nghttp2's libevent server sample: bytes
 * read from the bufferevent go to nghttp2_session_mem_recv, frames
 * nghttp2 produces go to the bufferevent's output through the send
 * callbacks.  What is added for production:
 *
 * - Output back-pressure: the send callbacks answer WOULDBLOCK while the
 *   socket's output holds H2_OUT_HIGH bytes; the write callback (low
 *   watermark) resumes sending.  Response bodies go out without a copy
 *   (NGHTTP2_DATA_FLAG_NO_COPY + send_data_callback: the DATA frame
 *   header, then the bytes moved from the stream's buffer).
 * - Response streaming: a stream's buffer is filled by the action
 *   (send_body); the data provider defers when it is empty and is resumed
 *   when bytes or the end arrive.  out_pending() is that buffer, so an
 *   action stops reading its upstream at EXCHANGE_BUF_HIGH and is told
 *   (on_drained) when it fell under EXCHANGE_BUF_LOW.
 * - Request bodies with real flow control: automatic WINDOW_UPDATE is
 *   off; a DATA chunk goes into the exchange's req_body, and the window
 *   opens again (nghttp2_session_consume) only for what the action took
 *   out of it.  A stalled upstream stalls its client stream, nothing else.
 * - Nothing is freed under an action's feet: front functions only queue
 *   (submit, resume) and make the connection's "kick" event active; frames
 *   are sent, and exchanges of closed streams freed, from this file's own
 *   callbacks.
 * - Abuse limits: see h2_conn.h; nghttp2's own limits (max CONTINUATION
 *   frames, RST_STREAM rate, outbound ACK queue, SETTINGS entries) are set
 *   explicitly and our counters add to them.
 * - Graceful shutdown: a GOAWAY shutdown notice, then a second later the
 *   final GOAWAY with the last stream processed; the streams below it
 *   finish, then the connection closes.  A reload does not touch the
 *   session: each new stream runs on the worker's current configuration.
 */
#include "proxy/h2_conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <nghttp2/nghttp2.h>

#include "common/arena.h"
#include "common/log.h"
#include "proxy/certbundle.h"
#include "proxy/connlimit.h"
#include "proxy/exchange.h"
#include "proxy/h1_parse.h"
#include "proxy/listener.h"
#include "proxy/metrics.h"
#include "proxy/path.h"
#include "proxy/router.h"
#include "proxy/snapshot.h"
#include "proxy/tls.h"
#include "proxy/worker.h"

#define H2_OUT_HIGH (128 * 1024)	/* socket output: stop framing */
#define H2_OUT_LOW (32 * 1024)		/* resume below */
#define H2_GOAWAY_GRACE_MS 1000		/* notice -> final GOAWAY */
#define H2_DEFAULT_IDLE_MS 60000
#define H2_WRITE_TIMEOUT_MS 60000	/* no progress writing: close */
#define H2_HEADER_HARD_MAX (2 * H2_MAX_HEADER_LIST)	/* reset the stream */
#define H2_SPARE_OUT 4			/* empty stream buffers kept for reuse */

struct h2_conn;

struct h2_stream {
	TAILQ_ENTRY(h2_stream) link;
	struct h2_conn *c;
	int32_t id;
	struct exchange *x;		/* owns the arena this struct is in */
	struct evbuffer *out;		/* response body not framed yet */
	struct event body_timer;	/* request body idle */
	bool body_armed;		/* body_timer is pending */

	/* request head, while HEADERS/CONTINUATION arrive */
	const char *authority, *path, *scheme;
	size_t authority_len, path_len, scheme_len;
	struct exchange_header *hdrs;
	size_t n_hdrs, cap_hdrs;
	char *cookie;
	size_t cookie_len;
	size_t hdr_bytes;
	const char *content_length;
	size_t content_length_len;
	bool hdr_too_big;		/* answer 431 */
	bool hdr_too_many;

	size_t unconsumed;		/* received, window not reopened */
	bool started;			/* exchange_start ran */
	bool req_done;			/* END_STREAM received */
	bool discard;			/* the body is not wanted any more */
	bool head_sent;			/* response HEADERS submitted */
	bool has_body;			/* with a data provider */
	bool resp_eof;			/* the action ended the response */
	bool deferred;			/* the data provider is waiting */
	bool resp_closed;		/* END_STREAM or RST sent */
	bool out_high;			/* the action saw a full buffer */
};

TAILQ_HEAD(h2_stream_list, h2_stream);

struct h2_conn {
	struct wfront f;		/* first: f <-> conn */
	struct worker *w;
	struct bufferevent *bev;
	nghttp2_session *ss;
	struct event kick;		/* deferred send + housekeeping */
	struct event timer;		/* idle, or GOAWAY grace */
	struct h2_stream_list streams;
	unsigned n_streams;
	struct h2_stream *hstream;	/* the last request head begun */
	struct evbuffer *spare[H2_SPARE_OUT];	/* for the next streams' out */
	unsigned n_spare;
	unsigned n_heads;		/* response heads submitted */
	struct sockaddr_storage sa, local;
	socklen_t sa_len, local_len;
	char sni[CERTBUNDLE_NAME_MAX + 1];
	int sni_len;

	uint64_t window_start_ms;	/* flood accounting */
	unsigned flood, resets;

	bool draining;			/* shutdown notice sent */
	bool goaway_final;		/* final GOAWAY submitted */
	bool calm;			/* abuse seen: GOAWAY and close */
	bool closing;			/* flushing before free */
	bool drained_pending;		/* some stream wants on_drained */
	bool tls;			/* bev is bufferevent_openssl */
	bool kicked;			/* kick is active already */
	bool timer_armed;		/* timer is pending */
	unsigned mseries;		/* metrics: listener series */
	unsigned limits;		/* connlimit flags to give back */
};

static const struct exchange_front h2_front;

static void h2_conn_free(struct h2_conn *c);
static void h2_conn_kick(struct h2_conn *c);

static uint64_t
now_ms(void)
{
	return worker_now_ns() / 1000000;
}

static void
tv_ms(struct timeval *tv, uint64_t ms)
{
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

/* The connection's timer (idle, or the GOAWAY grace), tracked so that
 * the per-stream paths need no event_del of a timer not pending. */
static void
h2_conn_arm_timer(struct h2_conn *c, uint64_t ms)
{
	struct timeval tv;

	tv_ms(&tv, ms);
	evtimer_add(&c->timer, &tv);
	c->timer_armed = true;
}

static void
h2_conn_disarm_timer(struct h2_conn *c)
{
	if (c->timer_armed) {
		evtimer_del(&c->timer);
		c->timer_armed = false;
	}
}

static uint64_t
h2_idle_ms(struct h2_conn *c)
{
	uint64_t ms = c->w->cur->snap->conf->global.keepalive_timeout_ms;

	return ms ? ms : H2_DEFAULT_IDLE_MS;
}

static struct h2_stream *
h2_stream_get(struct h2_conn *c, int32_t id)
{
	return nghttp2_session_get_stream_user_data(c->ss, id);
}

/* ---- abuse accounting --------------------------------------------------- */

/* The client's address for a log line (static buffer: one thread per
 * worker, used at once). */
static const char *
h2_conn_ip(struct h2_conn *c)
{
	static _Thread_local char ip[64];

	strcpy(ip, "-");
	if (c->sa.ss_family == AF_INET6)
		evutil_inet_ntop(AF_INET6, &((struct sockaddr_in6 *)
		    (void *)&c->sa)->sin6_addr, ip, sizeof(ip));
	else if (c->sa.ss_family == AF_INET)
		evutil_inet_ntop(AF_INET, &((struct sockaddr_in *)
		    (void *)&c->sa)->sin_addr, ip, sizeof(ip));
	return ip;
}

/* Count one frame that does no useful work (or one client reset); past
 * the budget the connection ends with ENHANCE_YOUR_CALM. */
static void
h2_conn_charge(struct h2_conn *c, bool reset)
{
	uint64_t now = now_ms();

	if (now - c->window_start_ms >= H2_FLOOD_WINDOW_MS) {
		c->window_start_ms = now;
		c->flood = c->resets = 0;
	}
	if (reset)
		c->resets++;
	else
		c->flood++;
	if (!c->calm && (c->flood > H2_FLOOD_MAX || c->resets > H2_RESET_MAX)) {
		c->calm = true;
		log_info("h2: client %s: %s flood, closing the connection",
		    h2_conn_ip(c), c->resets > H2_RESET_MAX ? "stream reset" :
		    "frame");
		nghttp2_session_terminate_session(c->ss,
		    NGHTTP2_ENHANCE_YOUR_CALM);
	}
}

/* ---- streams ------------------------------------------------------------ */

/* Reopen the receive window for the request body bytes the action took. */
static void
h2_stream_consumed(struct h2_stream *s)
{
	size_t left = s->x ? evbuffer_get_length(s->x->req_body) : 0;

	if (s->unconsumed > left) {
		nghttp2_session_consume(s->c->ss, s->id, s->unconsumed - left);
		s->unconsumed = left;
	}
}

static void
h2_stream_free(struct h2_stream *s, bool aborted)
{
	struct h2_conn *c = s->c;
	struct exchange *x = s->x;

	/* the connection window must not leak what this stream held */
	if (s->unconsumed > 0 && c->ss != NULL)
		nghttp2_session_consume(c->ss, s->id, s->unconsumed);
	if (c->ss != NULL)
		nghttp2_session_set_stream_user_data(c->ss, s->id, NULL);
	if (c->hstream == s)
		c->hstream = NULL;
	if (s->body_armed)
		event_del(&s->body_timer);
	TAILQ_REMOVE(&c->streams, s, link);
	c->n_streams--;
	/* the buffer serves a later stream: no free and new per stream */
	if (c->n_spare < H2_SPARE_OUT && !c->closing &&
	    evbuffer_drain(s->out, evbuffer_get_length(s->out)) == 0)
		c->spare[c->n_spare++] = s->out;
	else
		evbuffer_free(s->out);
	if (aborted && x->state != EXCHANGE_DONE)
		x->state = EXCHANGE_ABORTED;
	exchange_free(x);	/* frees s too (its arena) */
	if (c->n_streams == 0 && !c->draining && !c->closing)
		h2_conn_arm_timer(c, h2_idle_ms(c));
}

static void h2_body_timer_cb(evutil_socket_t fd, short what, void *arg);

static struct h2_stream *
h2_stream_new(struct h2_conn *c, int32_t id)
{
	struct exchange *x;
	struct h2_stream *s;

	if ((x = exchange_new(c->w, &h2_front, NULL)) == NULL)
		return NULL;
	if ((s = arena_calloc(x->arena, 1, sizeof(*s))) == NULL) {
		exchange_free(x);
		return NULL;
	}
	if (c->n_spare > 0)
		s->out = c->spare[--c->n_spare];
	else if ((s->out = evbuffer_new()) == NULL) {
		exchange_free(x);
		return NULL;
	}
	x->front_ctx = s;
	s->x = x;
	s->c = c;
	s->id = id;
	evtimer_assign(&s->body_timer, c->w->base, h2_body_timer_cb, s);
	TAILQ_INSERT_TAIL(&c->streams, s, link);
	c->n_streams++;
	if (c->timer_armed && !c->draining) {	/* not idle any more */
		evtimer_del(&c->timer);
		c->timer_armed = false;
	}
	return s;
}

static void
h2_stream_arm_body_timer(struct h2_stream *s)
{
	struct timeval tv;

	tv_ms(&tv, h2_idle_ms(s->c));
	evtimer_add(&s->body_timer, &tv);
	s->body_armed = true;
}

static void
h2_stream_disarm_body_timer(struct h2_stream *s)
{
	if (s->body_armed) {
		event_del(&s->body_timer);
		s->body_armed = false;
	}
}

/* The client stopped sending its body. */
static void
h2_body_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2_stream *s = arg;

	s->body_armed = false;
	if (s->req_done)
		return;
	s->discard = true;
	s->x->req_body_done = true;
	if (!s->head_sent)
		exchange_error(s->x, 408);
	else
		nghttp2_submit_rst_stream(s->c->ss, NGHTTP2_FLAG_NONE, s->id,
		    NGHTTP2_CANCEL);
	h2_conn_kick(s->c);
}

/* ---- request heads ------------------------------------------------------ */

static int
h2_hdr_add(struct h2_stream *s, const char *name, size_t nlen,
    const char *value, size_t vlen)
{
	struct exchange *x = s->x;
	struct exchange_header *h;

	if (s->n_hdrs == H1_MAX_HEADERS) {
		s->hdr_too_many = true;
		return 0;
	}
	if (s->n_hdrs == s->cap_hdrs) {
		size_t cap = s->cap_hdrs ? s->cap_hdrs * 2 : 16;
		if ((h = arena_calloc(x->arena, cap, sizeof(*h))) == NULL)
			return -1;
		if (s->n_hdrs)
			memcpy(h, s->hdrs, s->n_hdrs * sizeof(*h));
		s->hdrs = h;
		s->cap_hdrs = cap;
	}
	h = &s->hdrs[s->n_hdrs++];
	h->name = name;
	h->name_len = nlen;
	h->value = value;
	h->value_len = vlen;
	return 0;
}

static int
h2_on_begin_headers(nghttp2_session *ss, const nghttp2_frame *frame,
    void *arg)
{
	struct h2_conn *c = arg;
	struct h2_stream *s;

	if (frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (c->calm || (c->draining && c->goaway_final))
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if ((s = h2_stream_new(c, frame->hd.stream_id)) == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	nghttp2_session_set_stream_user_data(ss, frame->hd.stream_id, s);
	c->hstream = s;
	return 0;
}

#define IS(n, l, lit) ((l) == sizeof(lit) - 1 && memcmp((n), (lit), (l)) == 0)

/* One field of a request head.  A name from HPACK's static table is
 * nghttp2's own constant string and is kept as is; any other name and
 * every value are copied into the exchange's arena. */
static int
h2_on_header(nghttp2_session *ss, const nghttp2_frame *frame,
    nghttp2_rcbuf *name_rc, nghttp2_rcbuf *value_rc, uint8_t flags,
    void *arg)
{
	struct h2_conn *c = arg;
	struct h2_stream *s = c->hstream;
	struct exchange *x;
	nghttp2_vec nv = nghttp2_rcbuf_get_buf(name_rc);
	nghttp2_vec vv = nghttp2_rcbuf_get_buf(value_rc);
	const uint8_t *name = nv.base, *value = vv.base;
	size_t nlen = nv.len, vlen = vv.len;
	const char *n = (const char *)name;
	char *v;

	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	if ((s == NULL || s->id != frame->hd.stream_id) &&
	    (s = h2_stream_get(c, frame->hd.stream_id)) == NULL)
		return 0;
	if (s->started)
		return 0;	/* trailers: not forwarded */
	x = s->x;
	s->hdr_bytes += nlen + vlen + 32;
	if (s->hdr_bytes > H2_HEADER_HARD_MAX) {
		h2_conn_charge(c, false);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	if (s->hdr_bytes > H2_MAX_HEADER_LIST) {
		s->hdr_too_big = true;
		return 0;
	}
	/* nghttp2 has checked names (lower-case tokens), values (no CR, LF,
	 * NUL, no surrounding space), pseudo-headers (known, once, first)
	 * and connection-specific fields; TE is at most "trailers". */
	if ((v = arena_alloc(x->arena, vlen + 1)) == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	memcpy(v, value, vlen);
	v[vlen] = '\0';
	if (nlen > 0 && n[0] == ':') {
		if (IS(n, nlen, ":method")) {
			x->method = v;
			x->method_len = vlen;
		} else if (IS(n, nlen, ":path")) {
			s->path = v;
			s->path_len = vlen;
		} else if (IS(n, nlen, ":authority")) {
			s->authority = v;
			s->authority_len = vlen;
		} else if (IS(n, nlen, ":scheme")) {
			s->scheme = v;
			s->scheme_len = vlen;
		}
		return 0;
	}
	if (IS(n, nlen, "cookie")) {
		/* RFC 9113 8.2.3: crumbs join with "; " for HTTP/1.1 */
		char *j = arena_alloc(x->arena, s->cookie_len + 2 + vlen + 1);
		if (j == NULL)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		if (s->cookie_len) {
			memcpy(j, s->cookie, s->cookie_len);
			memcpy(j + s->cookie_len, "; ", 2);
			memcpy(j + s->cookie_len + 2, v, vlen + 1);
			s->cookie_len += 2 + vlen;
		} else {
			memcpy(j, v, vlen + 1);
			s->cookie_len = vlen;
		}
		s->cookie = j;
		return 0;
	}
	if (IS(n, nlen, "content-length")) {
		s->content_length = v;
		s->content_length_len = vlen;
	}
	if (IS(n, nlen, "expect") && vlen == 12 &&
	    evutil_ascii_strncasecmp(v, "100-continue", 12) == 0)
		x->expect_continue = true;
	{
		const char *nn = nghttp2_rcbuf_is_static(name_rc) ? n :
		    arena_memdup(x->arena, name, nlen);
		if (nn == NULL || h2_hdr_add(s, nn, nlen, v, vlen) == -1)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	return 0;
}

/* Decimal content-length (nghttp2 already refused a malformed one). */
static int
h2_parse_length(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 19)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*out = v;
	return 0;
}

/* The whole head is in (END_HEADERS): fill the exchange and start it. */
static void
h2_stream_start(struct h2_stream *s, bool end_stream)
{
	struct h2_conn *c = s->c;
	struct exchange *x = s->x;
	struct target_parts tp;
	enum path_err perr;
	const char *host;
	size_t host_len, i, n;
	char *p;
	int rc;

	s->started = true;
	s->req_done = end_stream;
	x->listener = listener_find_conf(x->conf, &c->local, c->local_len);
	x->tls = true;
	memcpy(&x->client, &c->sa, c->sa_len);
	x->http_major = 2;
	x->http_minor = 0;
	x->bytes_in_wire = s->hdr_bytes;
	x->req_body_done = end_stream;
	if (x->method == NULL) {	/* nghttp2 makes sure it is there */
		x->method = "-";
		x->method_len = 1;
	}
	x->method_flags = exchange_method_flags(x->method, x->method_len);
	x->path = "-";
	x->path_len = 1;

	/* host: :authority, else Host, else the SNI name */
	host = s->authority;
	host_len = s->authority_len;
	for (i = 0; host == NULL && i < s->n_hdrs; i++)
		if (IS(s->hdrs[i].name, s->hdrs[i].name_len, "host")) {
			host = s->hdrs[i].value;
			host_len = s->hdrs[i].value_len;
		}
	x->host = "";
	x->host_len = 0;
	if (host != NULL && host_len > 0) {
		x->host_header = host;
		x->host_header_len = host_len;
		if ((p = arena_alloc(x->arena, host_len + 1)) == NULL ||
		    (rc = router_host_normalize(host, host_len, p,
		    host_len + 1)) < 0) {
			exchange_error(x, 400);
			return;
		}
		x->host = p;
		x->host_len = (size_t)rc;
	} else if (c->sni_len > 0) {
		x->host = c->sni;
		x->host_len = (size_t)c->sni_len;
	}

	/* The upstream gets Host from :authority (and only that one), the
	 * joined cookie, the rest as the client sent them. */
	n = s->n_hdrs + 2;
	if ((x->req_headers = arena_calloc(x->arena, n, sizeof(*x->req_headers)))
	    == NULL) {
		exchange_error(x, 500);
		return;
	}
	n = 0;
	if (s->authority != NULL) {
		x->req_headers[n++] = (struct exchange_header){ "host", 4,
		    s->authority, s->authority_len };
	}
	for (i = 0; i < s->n_hdrs; i++) {
		if (s->authority != NULL &&
		    IS(s->hdrs[i].name, s->hdrs[i].name_len, "host"))
			continue;
		x->req_headers[n++] = s->hdrs[i];
	}
	if (s->cookie != NULL)
		x->req_headers[n++] = (struct exchange_header){ "cookie", 6,
		    s->cookie, s->cookie_len };
	x->n_req_headers = n;

	if (s->hdr_too_big || s->hdr_too_many) {
		exchange_error(x, 431);
		return;
	}
	if (x->method_flags & EXCHANGE_M_CONNECT) {
		exchange_error(x, 501);
		return;
	}
	if (s->content_length != NULL) {
		if (h2_parse_length(s->content_length, s->content_length_len,
		    &x->req_content_length) == -1) {
			exchange_error(x, 400);
			return;
		}
		x->req_body_kind = EXCHANGE_BODY_LENGTH;
	} else {
		x->req_body_kind = end_stream ? EXCHANGE_BODY_NONE :
		    EXCHANGE_BODY_STREAM;
	}
	if (s->path == NULL) {
		exchange_error(x, 400);
		return;
	}
	if (s->path_len > H1_MAX_URI) {
		exchange_error(x, 414);
		return;
	}
	if (s->path_len == 1 && s->path[0] == '*') {
		x->path = "*";
		exchange_error(x, (x->method_flags & EXCHANGE_M_OPTIONS) ?
		    501 : 400);
		return;
	}
	if (s->path[0] != '/' ||
	    path_split_target(s->path, s->path_len, &tp, &perr) == -1 ||
	    (p = arena_alloc(x->arena, tp.path_len + 1)) == NULL ||
	    (rc = path_normalize(tp.path, tp.path_len, p, &perr)) < 0) {
		exchange_error(x, 400);
		return;
	}
	x->path = p;
	x->path_len = (size_t)rc;
	x->query = tp.query;
	x->query_len = tp.query_len;
	if (!end_stream)
		h2_stream_arm_body_timer(s);
	exchange_start(x);
}

/* ---- request bodies ----------------------------------------------------- */

static int
h2_on_data_chunk(nghttp2_session *ss, uint8_t flags, int32_t id,
    const uint8_t *data, size_t len, void *arg)
{
	struct h2_conn *c = arg;
	struct h2_stream *s = h2_stream_get(c, id);
	struct exchange *x;

	if (s == NULL) {
		nghttp2_session_consume(ss, id, len);
		return 0;
	}
	x = s->x;
	x->bytes_in_wire += len;
	if (s->discard || !s->started || x->state == EXCHANGE_DONE) {
		nghttp2_session_consume(ss, id, len);
		return 0;
	}
	evbuffer_add(x->req_body, data, len);
	s->unconsumed += len;
	x->req_body_bytes += len;
	if (x->route != NULL && x->route->max_body != 0 &&
	    x->req_body_bytes > x->route->max_body) {
		s->discard = true;
		x->req_body_done = true;
		evbuffer_drain(x->req_body, evbuffer_get_length(x->req_body));
		h2_stream_consumed(s);
		if (!s->head_sent)
			exchange_error(x, 413);
		else
			nghttp2_submit_rst_stream(ss, NGHTTP2_FLAG_NONE, id,
			    NGHTTP2_CANCEL);
		return 0;
	}
	h2_stream_arm_body_timer(s);
	return 0;
}

/* New body bytes (or its end) for the action. */
static void
h2_stream_body_event(struct h2_stream *s)
{
	struct exchange *x = s->x;

	if (s->discard || x->state == EXCHANGE_DONE ||
	    x->state == EXCHANGE_ABORTED) {
		evbuffer_drain(x->req_body, evbuffer_get_length(x->req_body));
		h2_stream_consumed(s);
		return;
	}
	if (x->on_req_body != NULL)
		x->on_req_body(x);
}

static int
h2_on_frame_recv(nghttp2_session *ss, const nghttp2_frame *frame, void *arg)
{
	struct h2_conn *c = arg;
	struct h2_stream *s;
	bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

	switch (frame->hd.type) {
	case NGHTTP2_HEADERS:
		if ((s = h2_stream_get(c, frame->hd.stream_id)) == NULL)
			break;
		if (!s->started) {
			if (frame->headers.cat == NGHTTP2_HCAT_REQUEST)
				h2_stream_start(s, end);
			break;
		}
		if (end && !s->req_done) {	/* trailers end the body */
			s->req_done = true;
			s->x->req_body_done = true;
			h2_stream_disarm_body_timer(s);
			h2_stream_body_event(s);
		}
		break;
	case NGHTTP2_DATA:
		if ((s = h2_stream_get(c, frame->hd.stream_id)) == NULL)
			break;
		if (frame->hd.length == 0 && !end)
			h2_conn_charge(c, false);
		if (end) {
			s->req_done = true;
			s->x->req_body_done = true;
			h2_stream_disarm_body_timer(s);
		}
		if (s->started && (frame->hd.length > 0 || end))
			h2_stream_body_event(s);
		break;
	case NGHTTP2_RST_STREAM:
		s = h2_stream_get(c, frame->hd.stream_id);
		/* a reset of a stream we were still working on costs us */
		if (s != NULL && !s->resp_closed)
			h2_conn_charge(c, true);
		else
			h2_conn_charge(c, false);
		break;
	case NGHTTP2_SETTINGS:
	case NGHTTP2_PING:
		if (!(frame->hd.flags & NGHTTP2_FLAG_ACK))
			h2_conn_charge(c, false);
		break;
	case NGHTTP2_PRIORITY:
		h2_conn_charge(c, false);
		break;
	default:
		break;
	}
	return 0;
}

static int
h2_on_invalid_frame(nghttp2_session *ss, const nghttp2_frame *frame,
    int lib_error_code, void *arg)
{
	h2_conn_charge(arg, false);
	return 0;
}

static int
h2_on_stream_close(nghttp2_session *ss, int32_t id, uint32_t error_code,
    void *arg)
{
	struct h2_conn *c = arg;
	struct h2_stream *s = h2_stream_get(c, id);

	if (s == NULL)
		return 0;
	h2_stream_free(s, !s->resp_eof || error_code != NGHTTP2_NO_ERROR);
	return 0;
}

/* ---- sending ------------------------------------------------------------ */

static ssize_t
h2_send_cb(nghttp2_session *ss, const uint8_t *data, size_t len, int flags,
    void *arg)
{
	struct h2_conn *c = arg;
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (evbuffer_get_length(out) >= H2_OUT_HIGH)
		return NGHTTP2_ERR_WOULDBLOCK;
	if (evbuffer_add(out, data, len) == -1)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return (ssize_t)len;
}

static ssize_t
h2_data_read_cb(nghttp2_session *ss, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct h2_stream *s = src->ptr;
	size_t avail = evbuffer_get_length(s->out);

	if (avail == 0) {
		if (s->resp_eof) {
			*flags |= NGHTTP2_DATA_FLAG_EOF;
			return 0;
		}
		s->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	if (len > avail)
		len = avail;
	*flags |= NGHTTP2_DATA_FLAG_NO_COPY;
	if (s->resp_eof && len == avail)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)len;
}

/* DATA frame without a copy: the 9-byte frame header, then the bytes
 * moved from the stream's buffer to the socket's. */
static int
h2_send_data_cb(nghttp2_session *ss, nghttp2_frame *frame,
    const uint8_t *framehd, size_t len, nghttp2_data_source *src, void *arg)
{
	struct h2_conn *c = arg;
	struct h2_stream *s = src->ptr;
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (evbuffer_get_length(out) >= H2_OUT_HIGH)
		return NGHTTP2_ERR_WOULDBLOCK;
	if (frame->data.padlen != 0)	/* we never ask for padding */
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if (evbuffer_add(out, framehd, 9) == -1 ||
	    evbuffer_remove_buffer(s->out, out, len) != (int)len)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if (s->out_high && evbuffer_get_length(s->out) < EXCHANGE_BUF_LOW) {
		s->out_high = false;
		c->drained_pending = true;
	}
	return 0;
}

static int
h2_on_frame_send(nghttp2_session *ss, const nghttp2_frame *frame, void *arg)
{
	struct h2_conn *c = arg;
	struct h2_stream *s;

	if ((frame->hd.type != NGHTTP2_HEADERS &&
	    frame->hd.type != NGHTTP2_DATA) ||
	    !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
	    (s = h2_stream_get(c, frame->hd.stream_id)) == NULL)
		return 0;
	s->resp_closed = true;
	/* The response is complete but the client is still sending: tell it
	 * to stop (RFC 9113 8.1), which also closes the stream. */
	if (!s->req_done)
		nghttp2_submit_rst_stream(ss, NGHTTP2_FLAG_NONE, s->id,
		    NGHTTP2_NO_ERROR);
	return 0;
}

/* ---- the exchange front ------------------------------------------------- */

/* Connection-specific fields HTTP/2 forbids, and the length we set
 * ourselves; name is lower-case. */
static bool
h2_resp_header_dropped(const uint8_t *name, size_t len)
{
	switch (len) {
	case 2:
		return memcmp(name, "te", 2) == 0;
	case 7:
		return memcmp(name, "upgrade", 7) == 0;
	case 10:
		return memcmp(name, "connection", 10) == 0 ||
		    memcmp(name, "keep-alive", 10) == 0;
	case 14:
		return memcmp(name, "content-length", 14) == 0;
	case 16:
		return memcmp(name, "proxy-connection", 16) == 0;
	case 17:
		return memcmp(name, "transfer-encoding", 17) == 0;
	default:
		return false;
	}
}

/* Decimal digits of v at the end of buf[24]; returns the first. */
static char *
h2_utoa(char *end, uint64_t v)
{
	char *p = end;

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return p;
}

/*
 * HPACK: the response head is handed over without copies (names
 * lower-cased into the arena, values living as long as the exchange,
 * which outlives the HEADERS frame: a stream closed first drops its
 * queued frames).  X-Request-ID differs in every response: indexed, it
 * would fill the connection's dynamic table with entries never used
 * again, each evicting a useful one, and every lookup of the name would
 * walk all of them (nghttp2's table chains entries by name).  So it goes
 * out never-indexed, except once every H2_RID_INDEX_EVERY responses of
 * the connection: that one entry lets the others refer to the name by
 * index instead of spelling it out (nghttp2 has no "without indexing"
 * flag, and a never-indexed field may still name a table entry).
 */
#define H2_RID_INDEX_EVERY 256
#define H2_NV_REF (NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE)

static int
h2_send_head(struct exchange *x)
{
	struct h2_stream *s = x->front_ctx;
	struct h2_conn *c = s->c;
	nghttp2_data_provider dp;
	nghttp2_nv *nva;
	uint8_t *lower;
	char *status, *len = NULL;
	size_t i, n = 0, names = 0;
	bool keep_cl;
	int rv;

	if (s->head_sent || s->resp_closed)
		return -1;
	/* one arena block: the lower-cased names, the status, the length */
	for (i = 0; i < x->n_resp_headers; i++)
		names += x->resp_headers[i].name_len;
	if ((nva = arena_alloc(x->arena, (x->n_resp_headers + 2) *
	    sizeof(*nva))) == NULL ||
	    (lower = arena_alloc(x->arena, names + 4 + 24)) == NULL)
		return -1;
	status = (char *)lower + names;
	status[0] = (char)('0' + (unsigned)x->status / 100 % 10);
	status[1] = (char)('0' + (unsigned)x->status / 10 % 10);
	status[2] = (char)('0' + (unsigned)x->status % 10);
	status[3] = '\0';
	nva[n++] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)status, 7,
	    3, H2_NV_REF };
	/* A HEAD or 304 answer keeps the length it describes. */
	keep_cl = x->resp_body == EXCHANGE_BODY_NONE;
	for (i = 0; i < x->n_resp_headers; i++) {
		const struct exchange_header *h = &x->resp_headers[i];
		uint8_t *name = lower, flags = H2_NV_REF;

		if (h->name == NULL || h->name_len == 0)
			continue;
		/* HTTP/2 field names are lower-case */
		for (size_t k = 0; k < h->name_len; k++) {
			uint8_t ch = (uint8_t)h->name[k];
			name[k] = (uint8_t)((unsigned)(ch - 'A') < 26u ? ch + 32 :
			    ch);
		}
		if (h2_resp_header_dropped(name, h->name_len) && !(keep_cl &&
		    h->name_len == 14))
			continue;
		lower += h->name_len;
		if (h->name_len == 12 && memcmp(name, "x-request-id", 12) == 0 &&
		    c->n_heads % H2_RID_INDEX_EVERY != 0)
			flags |= NGHTTP2_NV_FLAG_NO_INDEX;
		nva[n++] = (nghttp2_nv){ name, (uint8_t *)h->value,
		    h->name_len, h->value_len, flags };
	}
	if (x->resp_body == EXCHANGE_BODY_LENGTH) {
		char *end = status + 4 + 24;

		len = h2_utoa(end, x->resp_content_length);
		nva[n++] = (nghttp2_nv){ (uint8_t *)"content-length",
		    (uint8_t *)len, 14, (size_t)(end - len), H2_NV_REF };
	}
	s->has_body = x->resp_body != EXCHANGE_BODY_NONE &&
	    !(x->method_flags & EXCHANGE_M_HEAD) &&
	    !(x->resp_body == EXCHANGE_BODY_LENGTH &&
	    x->resp_content_length == 0) &&
	    x->status != 204 && x->status != 304;
	dp.source.ptr = s;
	dp.read_callback = h2_data_read_cb;
	rv = nghttp2_submit_response(c->ss, s->id, nva, n,
	    s->has_body ? &dp : NULL);
	if (rv != 0) {
		log_debug("h2: stream %d: response: %s", s->id,
		    nghttp2_strerror(rv));
		return -1;
	}
	s->head_sent = true;
	c->n_heads++;
	h2_conn_kick(c);
	return 0;
}

static int
h2_send_body(struct exchange *x, struct evbuffer *src, size_t n)
{
	struct h2_stream *s = x->front_ctx;

	if (!s->has_body || s->resp_closed) {
		evbuffer_drain(src, n);
		return 0;
	}
	if (evbuffer_remove_buffer(src, s->out, n) != (int)n)
		return -1;
	if (evbuffer_get_length(s->out) >= EXCHANGE_BUF_HIGH)
		s->out_high = true;
	if (s->deferred) {
		s->deferred = false;
		nghttp2_session_resume_data(s->c->ss, s->id);
	}
	h2_conn_kick(s->c);
	return 0;
}

static void
h2_send_end(struct exchange *x)
{
	struct h2_stream *s = x->front_ctx;
	struct h2_conn *c = s->c;

	if (x->state == EXCHANGE_ABORTED) {
		/* cut: the client must not take a partial body as whole */
		if (!s->resp_closed)
			nghttp2_submit_rst_stream(c->ss, NGHTTP2_FLAG_NONE,
			    s->id, NGHTTP2_INTERNAL_ERROR);
		s->resp_closed = true;
	} else {
		s->resp_eof = true;
		if (s->deferred) {
			s->deferred = false;
			nghttp2_session_resume_data(c->ss, s->id);
		}
	}
	h2_conn_kick(c);
}

static void
h2_send_continue(struct exchange *x)
{
	struct h2_stream *s = x->front_ctx;
	nghttp2_nv nv = { (uint8_t *)":status", (uint8_t *)"100", 7, 3,
	    NGHTTP2_NV_FLAG_NONE };

	if (!x->expect_continue || s->head_sent || s->req_done)
		return;
	x->expect_continue = false;	/* once */
	nghttp2_submit_headers(s->c->ss, NGHTTP2_FLAG_NONE, s->id, NULL, &nv,
	    1, NULL);
	h2_conn_kick(s->c);
}

static size_t
h2_out_pending(struct exchange *x)
{
	struct h2_stream *s = x->front_ctx;

	return evbuffer_get_length(s->out);
}

static void
h2_req_body_resume(struct exchange *x)
{
	struct h2_stream *s = x->front_ctx;

	h2_stream_consumed(s);
	h2_conn_kick(s->c);
}

static const struct exchange_front h2_front = {
	.send_head = h2_send_head,
	.send_body = h2_send_body,
	.send_end = h2_send_end,
	.send_continue = h2_send_continue,
	.out_pending = h2_out_pending,
	.req_body_resume = h2_req_body_resume,
	.tunnel = NULL,
};

/* ---- the connection ----------------------------------------------------- */

static void
h2_conn_free(struct h2_conn *c)
{
	struct h2_stream *s;

	c->closing = true;	/* no idle timer from h2_stream_free */
	event_del(&c->kick);
	event_del(&c->timer);
	while ((s = TAILQ_FIRST(&c->streams)) != NULL)
		h2_stream_free(s, true);
	while (c->n_spare > 0)
		evbuffer_free(c->spare[--c->n_spare]);
	nghttp2_session_del(c->ss);
	c->ss = NULL;
	bufferevent_free(c->bev);
	connlimit_release((struct sockaddr *)&c->sa, c->limits);
	metrics_conn_close(c->w->id, c->mseries);
	worker_front_remove(c->w, &c->f);
	free(c);
}

/* Stop reading; free once the output (GOAWAY included) is written. */
static void
h2_conn_close(struct h2_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	h2_conn_disarm_timer(c);
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		tls_bufferevent_close_notify(c->bev);
		h2_conn_free(c);
		return;
	}
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	/* the write timeout bounds a client that never reads the rest */
}

/* Send what nghttp2 has, then the bookkeeping that must not run inside
 * an action: on_drained notifications, closing a finished session. */
static void
h2_conn_flush(struct h2_conn *c)
{
	struct h2_stream *s, *next;
	int rv;

	if (c->closing)
		return;
	if ((rv = nghttp2_session_send(c->ss)) != 0) {
		log_debug("h2: send: %s", nghttp2_strerror(rv));
		h2_conn_close(c);
		return;
	}
	if (c->tls)	/* one record per pass, not one per frame */
		tls_bufferevent_coalesce(c->bev);
	if (c->drained_pending) {
		c->drained_pending = false;
		for (s = TAILQ_FIRST(&c->streams); s != NULL; s = next) {
			next = TAILQ_NEXT(s, link);
			if (!s->out_high && s->x->on_drained != NULL &&
			    s->head_sent && !s->resp_eof &&
			    s->x->state == EXCHANGE_STREAM)
				s->x->on_drained(s->x);
		}
		/* on_drained may have queued more: go again later */
		h2_conn_kick(c);
	}
	if (c->calm || (!nghttp2_session_want_read(c->ss) &&
	    !nghttp2_session_want_write(c->ss)) ||
	    (c->goaway_final && c->n_streams == 0 &&
	    !nghttp2_session_want_write(c->ss)))
		h2_conn_close(c);
}

static void
h2_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2_conn *c = arg;

	c->kicked = false;
	h2_conn_flush(c);
}

/* Once per loop pass however many streams asked. */
static void
h2_conn_kick(struct h2_conn *c)
{
	if (!c->closing && !c->kicked) {
		c->kicked = true;
		event_active(&c->kick, EV_TIMEOUT, 0);
	}
}

static void
h2_read_cb(struct bufferevent *bev, void *arg)
{
	struct h2_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_iovec v;
	ssize_t rv;

	while (!c->closing && !c->calm && evbuffer_get_length(in) > 0) {
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		rv = nghttp2_session_mem_recv(c->ss, v.iov_base, v.iov_len);
		if (rv < 0) {
			bool flood = rv == NGHTTP2_ERR_FLOODED ||
			    rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS;

			if (flood)
				log_info("h2: client %s: %s, closing the "
				    "connection", h2_conn_ip(c),
				    nghttp2_strerror((int)rv));
			else
				log_debug("h2: receive: %s",
				    nghttp2_strerror((int)rv));
			/* a GOAWAY if nghttp2 has not queued one */
			nghttp2_session_terminate_session(c->ss, flood ?
			    NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
			evbuffer_drain(in, evbuffer_get_length(in));
			nghttp2_session_send(c->ss);
			h2_conn_close(c);
			return;
		}
		evbuffer_drain(in, (size_t)rv);
	}
	if (c->calm)
		evbuffer_drain(in, evbuffer_get_length(in));
	h2_conn_flush(c);
}

static void
h2_write_cb(struct bufferevent *bev, void *arg)
{
	struct h2_conn *c = arg;

	if (c->closing) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
			tls_bufferevent_close_notify(bev);
			h2_conn_free(c);
		}
		return;
	}
	h2_conn_flush(c);
}

static void
h2_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct h2_conn *c = arg;

	if (what & BEV_EVENT_TIMEOUT)
		log_debug("h2: client stopped reading, closing");
	h2_conn_free(c);
}

/* Idle with no stream, or the GOAWAY grace period is over. */
static void
h2_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2_conn *c = arg;

	c->timer_armed = false;
	if (c->draining && !c->goaway_final) {
		c->goaway_final = true;
		nghttp2_submit_goaway(c->ss, NGHTTP2_FLAG_NONE,
		    nghttp2_session_get_last_proc_stream_id(c->ss),
		    NGHTTP2_NO_ERROR, NULL, 0);
		h2_conn_flush(c);
		return;
	}
	if (c->n_streams == 0) {
		c->draining = c->goaway_final = true;
		nghttp2_submit_goaway(c->ss, NGHTTP2_FLAG_NONE,
		    nghttp2_session_get_last_proc_stream_id(c->ss),
		    NGHTTP2_NO_ERROR, NULL, 0);
		h2_conn_flush(c);
	}
}

/* Graceful shutdown of the worker. */
static void
h2_conn_drain(struct wfront *f)
{
	struct h2_conn *c = (struct h2_conn *)f;

	if (c->draining || c->closing)
		return;
	c->draining = true;
	nghttp2_submit_shutdown_notice(c->ss);
	h2_conn_arm_timer(c, H2_GOAWAY_GRACE_MS);
	h2_conn_kick(c);
}

static void
h2_conn_kill(struct wfront *f)
{
	h2_conn_free((struct h2_conn *)f);
}

static int
h2_session_new(struct h2_conn *c)
{
	nghttp2_session_callbacks *cb = NULL;
	nghttp2_option *opt = NULL;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
		    H2_MAX_CONCURRENT_STREAMS },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, H2_MAX_HEADER_LIST },
		{ NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1 },
	};
	int rv = -1;

	if (nghttp2_session_callbacks_new(&cb) != 0 ||
	    nghttp2_option_new(&opt) != 0)
		goto fail;
	nghttp2_session_callbacks_set_send_callback(cb, h2_send_cb);
	nghttp2_session_callbacks_set_send_data_callback(cb, h2_send_data_cb);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
	    h2_on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback2(cb, h2_on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb,
	    h2_on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
	    h2_on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb,
	    h2_on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb,
	    h2_on_frame_send);
	nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb,
	    h2_on_invalid_frame);

	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_no_closed_streams(opt, 1);
	nghttp2_option_set_max_continuations(opt, 8);
	nghttp2_option_set_stream_reset_rate_limit(opt, 2 * H2_RESET_MAX,
	    H2_RESET_MAX * 1000 / H2_FLOOD_WINDOW_MS);
	nghttp2_option_set_max_outbound_ack(opt, 1000);
	nghttp2_option_set_max_settings(opt, 32);
	nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);

	if (nghttp2_session_server_new2(&c->ss, cb, c, opt) != 0)
		goto fail;
	if (nghttp2_submit_settings(c->ss, NGHTTP2_FLAG_NONE, iv,
	    sizeof(iv) / sizeof(iv[0])) != 0 ||
	    nghttp2_session_set_local_window_size(c->ss, NGHTTP2_FLAG_NONE, 0,
	    H2_CONN_WINDOW) != 0)
		goto fail;
	rv = 0;
fail:
	nghttp2_session_callbacks_del(cb);
	nghttp2_option_del(opt);
	return rv;
}

int
h2_conn_start(struct worker *w, struct bufferevent *bev,
    const struct sockaddr *sa, socklen_t sa_len,
    const struct sockaddr_storage *local, socklen_t local_len)
{
	struct h2_conn *c;
	struct timeval tv;
	SSL *ssl;
	int one = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		bufferevent_free(bev);
		return -1;
	}
	c->w = w;
	c->bev = bev;
	TAILQ_INIT(&c->streams);
	if (sa_len > sizeof(c->sa))
		sa_len = sizeof(c->sa);
	memcpy(&c->sa, sa, sa_len);
	c->sa_len = sa_len;
	memcpy(&c->local, local, local_len);
	c->local_len = local_len;
	c->window_start_ms = now_ms();
	if ((ssl = bufferevent_openssl_get_ssl(bev)) != NULL) {
		c->sni_len = tls_servername(ssl, c->sni);
		c->tls = true;
	}
	if (c->sni_len < 0)
		c->sni_len = 0;
	if (h2_session_new(c) == -1) {
		if (c->ss != NULL)
			nghttp2_session_del(c->ss);
		bufferevent_free(bev);
		free(c);
		return -1;
	}
	/* counted on accept (worker.c, accept.c): given back when freed */
	c->limits = w->accept_limits;
	w->accept_limits = 0;
	c->f.drain = h2_conn_drain;
	c->f.kill = h2_conn_kill;
	worker_front_add(w, &c->f);
	c->mseries = metrics_conn_open(w->id, w->cur->snap,
	    listener_find_conf(w->cur->snap->conf, local, local_len));
	event_assign(&c->kick, w->base, -1, 0, h2_kick_cb, c);
	evtimer_assign(&c->timer, w->base, h2_timer_cb, c);
	h2_conn_arm_timer(c, h2_idle_ms(c));

	(void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
	    &one, sizeof(one));
	bufferevent_setcb(bev, h2_read_cb, h2_write_cb, h2_event_cb, c);
	bufferevent_setwatermark(bev, EV_WRITE, H2_OUT_LOW, 0);
	tv_ms(&tv, H2_WRITE_TIMEOUT_MS);
	bufferevent_set_timeouts(bev, NULL, &tv);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	if (w->draining)
		h2_conn_drain(&c->f);
	/* SETTINGS now; the preface may already be in the input buffer */
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		bufferevent_trigger(bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS |
		    BEV_TRIG_IGNORE_WATERMARKS);
	h2_conn_kick(c);
	return 0;
}
