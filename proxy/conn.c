/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * conn.c — the client connection state machine and its HTTP/1.1 front
 * (see conn.h for the diagram).
 *
 * The bytes: the head is parsed in place (evbuffer_pullup, h1_parse_request
 * into the worker's scratch structure), then copied once into the
 * exchange's arena; body bytes move from the socket's input buffer into
 * the exchange's req_body by evbuffer_remove_buffer (whole chains move, no
 * copy) or, for chunked bodies, decoded by h1_chunked_feed.  Response
 * bytes move the same way into the output buffer, or, for a spliced
 * body (h1_raw_fd, proxy/splice.h), straight into the socket while the
 * output buffer is empty.  Back-pressure: the
 * input stops being read at CONN_INPUT_HIGH, req_body stops being filled
 * at EXCHANGE_BUF_HIGH, and the write callback (low watermark
 * EXCHANGE_BUF_LOW) tells the action when it may produce again.
 *
 * Every bufferevent callback is deferred (BEV_OPT_DEFER_CALLBACKS), and an
 * exchange is only freed from this file's own callbacks (the "finish"
 * step runs from the connection's timer made active), so an action never
 * sees its exchange freed under its feet.
 */
#include "proxy/conn.h"

#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "common/arena.h"
#include "common/log.h"
#include "proxy/connlimit.h"
#include "proxy/exchange.h"
#include "proxy/flush.h"
#include "proxy/h1_parse.h"
#include "proxy/headbuf.h"
#include "proxy/listener.h"
#include "proxy/metrics.h"	/* admin hook */
#include "proxy/path.h"
#include "proxy/rawread.h"
#include "proxy/router.h"
#include "proxy/slab.h"
#include "proxy/snapshot.h"
#include "proxy/tls.h"
#include "proxy/tlsio.h"
#include "proxy/worker.h"

#define CONN_INPUT_HIGH (64 * 1024)	/* bytes read ahead from a client */
#define CONN_LINGER_MS 2000		/* drain after our last byte */
#define CONN_DISCARD_MAX (256 * 1024)	/* unread body we read and drop */
#define DEFAULT_HEADER_TIMEOUT_MS 10000
#define DEFAULT_KEEPALIVE_TIMEOUT_MS 60000
#define CONN_MAX_IO (256 * 1024)	/* per read/write call, as accept.c */
#define CONN_SWEEP_MS 250		/* idle connections go compact
					 * after 1-2 sweeps */
#define CONN_IDLE_READ 4096		/* first read of a compact one */

/* Client and local addresses: listeners are IPv4 or IPv6 only, so 28
 * bytes instead of a 128-byte sockaddr_storage each (every idle keep-alive
 * connection carries two; issue 6 counts bytes per idle connection). */
union conn_addr {
	struct sockaddr sa;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
};

struct conn {
	TAILQ_ENTRY(conn) link;
	struct worker *w;
	struct bufferevent *bev;
	struct bufferevent *peer;	/* TUNNEL: the upstream side */
	struct flush_item flush;	/* plain HTTP/1.1: write-behind */
	struct event timer;
	enum conn_state state;
	struct exchange *x;
	union conn_addr sa;
	union conn_addr local;
	socklen_t sa_len, local_len;
	uint64_t tunnel_idle_ms;
	/* request body decoding */
	uint64_t body_left;
	struct h1_chunked chunked;
	unsigned n_requests;
	bool tls;
	bool tlsio;			/* TLS through tlsio.h (else a
					 * bufferevent_openssl) */
	bool keep_alive;		/* the request allows another one */
	bool chunked_body;
	bool body_done;
	bool discard;			/* response done; dropping the rest of the body */
	bool resp_done;
	bool resp_chunked;
	bool continue_sent;
	bool finish_pending;
	bool peer_eof;			/* the client half-closed */
	bool lingering;
	bool client_close;		/* the last request asked for the close */
	bool idle_seen;			/* H1_IDLE at the last sweep */
	uint8_t limits;			/* connlimit flags to give back */
	unsigned mseries;		/* admin hook: listener series */
};

static const struct exchange_front h1_front;

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg);
static void conn_read_head(struct conn *c);
static void conn_read_body(struct conn *c);
static void conn_close(struct conn *c);
static void conn_free(struct conn *c);
static void conn_sweep_cb(evutil_socket_t fd, short what, void *arg);
static void conn_setup_bev(struct conn *c);
static void conn_idle_drain_all(struct worker *w);

const char *
conn_state_name(enum conn_state s)
{
	static const char *const names[] = { "ACCEPTED", "H1_IDLE",
		"H1_READ_HEAD", "H1_EXCHANGE", "TUNNEL", "CLOSING", "CLOSED" };
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

static const struct conf_global *
conn_global(struct conn *c)
{
	return &c->w->cur->snap->conf->global;
}

static void
conn_arm(struct conn *c, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(&c->timer, &tv);
}

/* The one place the state changes: logs, re-arms the state's timer. */
static void
conn_set_state(struct conn *c, enum conn_state s)
{
	const struct conf_global *g = conn_global(c);

	if (log_get_level() >= LOG_LVL_DEBUG)
		log_debug("conn %p: %s -> %s", (void *)c,
		    conn_state_name(c->state), conn_state_name(s));
	c->state = s;
	c->idle_seen = false;
	evtimer_del(&c->timer);
	switch (s) {
	case CONN_H1_IDLE:
		conn_arm(c, g->keepalive_timeout_ms ? g->keepalive_timeout_ms :
		    DEFAULT_KEEPALIVE_TIMEOUT_MS);
		break;
	case CONN_H1_READ_HEAD:
		conn_arm(c, g->header_timeout_ms ? g->header_timeout_ms :
		    DEFAULT_HEADER_TIMEOUT_MS);
		break;
	case CONN_CLOSING:
		conn_arm(c, CONN_LINGER_MS);
		break;
	default:
		break;
	}
}

/* A zeroed conn; the first one starts w's sweep timer. */
static struct conn *
conn_alloc(struct worker *w)
{
	if (w->conn_sweep == NULL) {
		struct timeval tv = { 0, CONN_SWEEP_MS * 1000 };

		if ((w->conn_sweep = event_new(w->base, -1, EV_PERSIST,
		    conn_sweep_cb, w)) == NULL)
			return NULL;
		event_add(w->conn_sweep, &tv);
	}
	return calloc(1, sizeof(struct conn));
}

/* Callbacks, watermarks and the I/O shortcuts of c's (new) bufferevent. */
static void
conn_setup_bev(struct conn *c)
{
	struct bufferevent *bev = c->bev;

	bufferevent_setcb(bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(bev, EV_WRITE, EXCHANGE_BUF_LOW, 0);
	if (c->tls && !c->tlsio) {
		/* bufferevent_openssl writes by itself */
		bufferevent_setwatermark(bev, EV_READ, 0, CONN_INPUT_HIGH);
		bufferevent_enable(bev, EV_READ | EV_WRITE);
	} else {	/* no FIONREAD (rawread.h), write-behind (flush.h);
			 * TLS: tlsio.h reads and writes the same way */
		if (!c->tls)
			(void)rawread_attach(bev);	/* else libevent's */
		/* rawread's own mark, else libevent's (tlsio suspends
		 * through libevent's) */
		rawread_set_high(bev, CONN_INPUT_HIGH);
		bufferevent_enable(bev, EV_READ);
		flush_attach(&c->flush, bev);
		c->flush.write = c->tls ? tlsio_flush : NULL;
	}
}

/* ---- compact idle connections (issue 6) -----------------------------
 *
 * Between requests a keep-alive connection holds its struct conn (about
 * 300 bytes), its bufferevent (two events, two evbuffers, deferred
 * callbacks: about 900 bytes) and malloc's overhead for each, spread over
 * the heap among what the busy connections allocate.  A plain connection
 * that two sweeps of the worker's sweep timer (CONN_SWEEP_MS apart) find
 * in H1_IDLE with nothing buffered becomes a struct conn_idle of 80 bytes:
 * the socket, its keep-alive deadline, the addresses and the counters the
 * connection needs later, in a slab of such records (slab.h) packed away
 * from the heap.  The struct conn and the bufferevent are freed.
 *
 * Even a libevent event per compact connection (128 bytes, plus its place
 * in the timer heap) would be most of that, so compact sockets leave
 * libevent: they sit in the worker's own epoll set (ci->epfd; its
 * descriptor is one event in the worker's base) and their deadlines in a
 * binary min-heap of record pointers with one libevent timer for the
 * earliest.  That costs two epoll_ctl calls when a connection goes
 * compact (libevent's DEL, our ADD) and two when it wakes; a connection
 * busy with requests is never seen idle by two sweeps in a row, so the
 * request path pays nothing.
 *
 * A compact connection still counts as a connection everywhere:
 * w->n_conns, its connlimit slots, the metrics' open connections.  When
 * bytes arrive they are read into a fresh conn with a fresh bufferevent,
 * which carries on in H1_IDLE as if nothing had happened; EOF, an error or
 * the keep-alive deadline close it without building anything; a graceful
 * shutdown closes it as an idle connection.  TLS connections keep their
 * bufferevent (it holds the TLS session; OpenSSL releases their buffers,
 * SSL_MODE_RELEASE_BUFFERS).
 */

struct conn_idle {
	int fd;
	unsigned hidx;			/* index in ci->heap */
	uint32_t deadline_ms;		/* keep-alive end, conn_now_ms() */
	union conn_addr sa;
	union conn_addr local;
	unsigned mseries;		/* admin hook: listener series */
	unsigned n_requests;
	uint8_t sa_len, local_len;
	uint8_t limits;			/* connlimit flags to give back */
};

struct conn_idles {
	int epfd;			/* the compact connections' sockets */
	struct event *ready;		/* epfd readable */
	struct event *timer;		/* the earliest deadline */
	struct conn_idle **heap;	/* min-heap by deadline_ms */
	unsigned n, cap;
	struct slab *slab;		/* owner: the worker */
};

#define CONN_IDLE_EVENTS 64		/* epoll_wait batch */

static uint32_t
conn_now_ms(void)
{
	return (uint32_t)(worker_now_ns() / 1000000);
}

/* a before b, on the wrapping millisecond clock */
static bool
conn_ms_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static void
conn_heap_set(struct conn_idles *ci, unsigned i, struct conn_idle *r)
{
	ci->heap[i] = r;
	r->hidx = i;
}

static void
conn_heap_up(struct conn_idles *ci, unsigned i)
{
	struct conn_idle *r = ci->heap[i];

	while (i > 0 && conn_ms_before(r->deadline_ms,
	    ci->heap[(i - 1) / 2]->deadline_ms)) {
		conn_heap_set(ci, i, ci->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	conn_heap_set(ci, i, r);
}

static void
conn_heap_down(struct conn_idles *ci, unsigned i)
{
	struct conn_idle *r = ci->heap[i];
	unsigned k;

	for (;;) {
		k = 2 * i + 1;
		if (k >= ci->n)
			break;
		if (k + 1 < ci->n && conn_ms_before(ci->heap[k + 1]->deadline_ms,
		    ci->heap[k]->deadline_ms))
			k++;
		if (!conn_ms_before(ci->heap[k]->deadline_ms, r->deadline_ms))
			break;
		conn_heap_set(ci, i, ci->heap[k]);
		i = k;
	}
	conn_heap_set(ci, i, r);
}

static void
conn_heap_remove(struct conn_idles *ci, struct conn_idle *r)
{
	unsigned i = r->hidx;
	struct conn_idle *last = ci->heap[--ci->n];

	if (last == r)
		return;
	conn_heap_set(ci, i, last);
	conn_heap_up(ci, i);
	conn_heap_down(ci, last->hidx);
}

/* Arm the timer for the earliest deadline (none: leave it be; it finds
 * nothing to do if it fires). */
static void
conn_idle_arm(struct conn_idles *ci)
{
	struct timeval tv = { 0, 0 };
	int32_t left;

	if (ci->n == 0)
		return;
	left = (int32_t)(ci->heap[0]->deadline_ms - conn_now_ms());
	if (left > 0) {
		tv.tv_sec = left / 1000;
		tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	}
	evtimer_add(ci->timer, &tv);
}

/* Remove r from its worker; close its socket if close_fd.  The
 * connection ends here unless a conn took it over (close_fd false). */
static void
conn_idle_drop(struct conn_idle *r, bool close_fd)
{
	struct worker *w = slab_owner(r);
	struct conn_idles *ci = w->idles;

	conn_heap_remove(ci, r);
	(void)epoll_ctl(ci->epfd, EPOLL_CTL_DEL, r->fd, NULL);
	if (close_fd) {
		close(r->fd);
		connlimit_release(&r->sa.sa, r->limits);
		metrics_conn_close(w->id, r->mseries);	/* admin hook */
		slab_release(r);
		w->n_conns--;
		if (w->draining && w->n_conns == 0)
			event_base_loopexit(w->base, NULL);
		return;
	}
	slab_release(r);
}

/* Add n bytes to a socket bufferevent's input, whose end only the
 * bufferevent itself may add to (it keeps it frozen otherwise). */
static int
conn_idle_fill(struct evbuffer *in, const char *buf, size_t n)
{
	int rc;

	evbuffer_unfreeze(in, 0);
	rc = evbuffer_add(in, buf, n);
	evbuffer_freeze(in, 0);
	return rc;
}

/* Bytes arrived on compact r: a conn with a bufferevent again, with the
 * bytes already read in its input. */
static void
conn_idle_wake(struct conn_idle *r, const char *buf, size_t n)
{
	struct worker *w = slab_owner(r);
	evutil_socket_t fd = r->fd;
	struct bufferevent *bev;
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		conn_idle_drop(r, true);
		return;
	}
	bev = bufferevent_socket_new(w->base, fd,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL || conn_idle_fill(bufferevent_get_input(bev), buf,
	    n) == -1) {
		if (bev != NULL) {
			bufferevent_setfd(bev, -1);	/* closed below */
			bufferevent_free(bev);
		}
		free(c);
		conn_idle_drop(r, true);
		return;
	}
	bufferevent_set_max_single_read(bev, CONN_MAX_IO);
	bufferevent_set_max_single_write(bev, CONN_MAX_IO);
	c->w = w;
	c->bev = bev;
	c->tls = false;
	c->limits = r->limits;
	memcpy(&c->sa, &r->sa, r->sa_len);
	c->sa_len = r->sa_len;
	memcpy(&c->local, &r->local, r->local_len);
	c->local_len = r->local_len;
	c->mseries = r->mseries;
	c->n_requests = r->n_requests;
	conn_idle_drop(r, false);	/* out of our epoll set ... */
	event_assign(&c->timer, w->base, -1, 0, conn_timer_cb, c);
	conn_setup_bev(c);		/* ... into libevent's */
	TAILQ_INSERT_TAIL(&w->conns, c, link);	/* n_conns counted it */
	c->state = CONN_ACCEPTED;
	conn_set_state(c, CONN_H1_IDLE);
	bufferevent_trigger(bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS |
	    BEV_TRIG_IGNORE_WATERMARKS);
}

/* The socket of compact r is readable. */
static void
conn_idle_readable(struct conn_idle *r)
{
	char buf[CONN_IDLE_READ];
	ssize_t n;

	n = recv(r->fd, buf, sizeof(buf), 0);
	if (log_get_level() >= LOG_LVL_DEBUG)
		log_debug("compact idle fd %d: read %zd", r->fd, n);
	if (n > 0) {
		conn_idle_wake(r, buf, (size_t)n);
		return;
	}
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR))	/* EOF or reset: closed as before */
		conn_idle_drop(r, true);
	/* else nothing after all: stays compact, same deadline */
}

/* The compact connections' epoll set is readable: serve what it has.
 * Handling one record never frees another, so a batch stays valid. */
static void
conn_idle_ready_cb(evutil_socket_t fd, short what, void *arg)
{
	struct epoll_event evs[CONN_IDLE_EVENTS];
	int n, i, rounds = 0;

	do {
		n = epoll_wait(fd, evs, CONN_IDLE_EVENTS, 0);
		for (i = 0; i < n; i++)
			conn_idle_readable(evs[i].data.ptr);
	} while (n == CONN_IDLE_EVENTS && ++rounds < 16);
}

static void
conn_idle_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn_idles *ci = arg;
	uint32_t now = conn_now_ms();

	while (ci->n > 0 && !conn_ms_before(now, ci->heap[0]->deadline_ms))
		conn_idle_drop(ci->heap[0], true);	/* keep-alive timeout */
	conn_idle_arm(ci);
}

static void
conn_idles_free(struct conn_idles *ci)
{
	if (ci == NULL)
		return;
	if (ci->ready != NULL)
		event_free(ci->ready);
	if (ci->timer != NULL)
		event_free(ci->timer);
	if (ci->epfd >= 0)
		close(ci->epfd);
	slab_free_all(ci->slab);
	free(ci->heap);
	free(ci);
}

static int
conn_idles_init(struct worker *w)
{
	struct conn_idles *ci;

	if ((ci = calloc(1, sizeof(*ci))) == NULL)
		return -1;
	if ((ci->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (ci->slab = slab_new(sizeof(struct conn_idle), w)) == NULL ||
	    (ci->ready = event_new(w->base, ci->epfd, EV_READ | EV_PERSIST,
	    conn_idle_ready_cb, NULL)) == NULL ||
	    (ci->timer = evtimer_new(w->base, conn_idle_timer_cb, ci)) ==
	    NULL || event_add(ci->ready, NULL) == -1) {
		if (ci->epfd == -1)
			log_warn("epoll_create1");
		conn_idles_free(ci);
		return -1;
	}
	w->idles = ci;
	return 0;
}

/* c (plain, H1_IDLE, nothing buffered) becomes a compact record; c is
 * freed.  Returns 0, or -1 (c left as it was). */
static int
conn_go_idle(struct conn *c)
{
	struct worker *w = c->w;
	struct timeval now, end, left = { 0, 0 };
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	struct epoll_event ee;
	struct conn_idles *ci;
	struct conn_idle *r;
	uint64_t ms;

	if (fd < 0 || !event_pending(&c->timer, EV_TIMEOUT, &end))
		return -1;
	if (w->idles == NULL && conn_idles_init(w) == -1)
		return -1;
	ci = w->idles;
	if (ci->n == ci->cap) {
		unsigned cap = ci->cap ? 2 * ci->cap : 256;
		struct conn_idle **h = realloc(ci->heap, cap * sizeof(*h));

		if (h == NULL)
			return -1;
		ci->heap = h;
		ci->cap = cap;
	}
	if ((r = slab_alloc(ci->slab)) == NULL)
		return -1;
	r->fd = fd;
	memset(&ee, 0, sizeof(ee));
	ee.events = EPOLLIN;
	ee.data.ptr = r;
	if (epoll_ctl(ci->epfd, EPOLL_CTL_ADD, fd, &ee) == -1) {
		slab_release(r);
		return -1;
	}
	event_base_gettimeofday_cached(w->base, &now);
	if (evutil_timercmp(&end, &now, >))
		evutil_timersub(&end, &now, &left);
	ms = (uint64_t)left.tv_sec * 1000 + (uint64_t)left.tv_usec / 1000;
	r->deadline_ms = conn_now_ms() + (uint32_t)(ms < INT32_MAX ? ms :
	    INT32_MAX);
	memcpy(&r->sa, &c->sa, c->sa_len);
	r->sa_len = (uint8_t)c->sa_len;
	memcpy(&r->local, &c->local, c->local_len);
	r->local_len = (uint8_t)c->local_len;
	r->limits = c->limits;
	r->mseries = c->mseries;
	r->n_requests = c->n_requests;
	conn_heap_set(ci, ci->n++, r);
	conn_heap_up(ci, r->hidx);
	if (r->hidx == 0)
		conn_idle_arm(ci);
	if (log_get_level() >= LOG_LVL_DEBUG)
		log_debug("conn %p: compact idle, fd %d", (void *)c, (int)fd);

	flush_detach(w->flusher, &c->flush);
	evtimer_del(&c->timer);
	bufferevent_setfd(c->bev, -1);	/* out of libevent's epoll set, and
					 * so that freeing keeps the socket */
	bufferevent_free(c->bev);
	TAILQ_REMOVE(&w->conns, c, link);	/* still in n_conns, as r */
	free(c);
	return 0;
}

/* Graceful shutdown or forced stop: close every compact connection. */
static void
conn_idle_drain_all(struct worker *w)
{
	struct conn_idles *ci = w->idles;

	if (ci == NULL)
		return;
	while (ci->n > 0)
		conn_idle_drop(ci->heap[ci->n - 1], true);
}

static void
conn_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	malloc_trim(0);
}

static void
conn_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct conn *c, *next;
	unsigned n = 0;

	for (c = TAILQ_FIRST(&w->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->state != CONN_H1_IDLE || c->tls || c->finish_pending)
			continue;
		if (!c->idle_seen) {	/* cleared by every state change */
			c->idle_seen = true;
			continue;
		}
		if (evbuffer_get_length(bufferevent_get_input(c->bev)) == 0 &&
		    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 &&
		    conn_go_idle(c) == 0)
			n++;
	}
	/* What the compact ones gave back is spread over the heap: return
	 * the pages that are now free (limen sets a high trim threshold, see
	 * server.c).  libevent frees a bufferevent once this pass is over,
	 * so the trim runs in the next one. */
	if (n >= 64) {
		struct timeval now = { 0, 0 };

		(void)event_base_once(w->base, -1, EV_TIMEOUT, conn_trim_cb,
		    NULL, &now);
	}
}

int
conn_start(struct worker *w, struct bufferevent *bev, const struct sockaddr *sa,
    socklen_t sa_len, const struct sockaddr_storage *local, socklen_t local_len,
    bool tls)
{
	const struct conf_listener *l;
	struct conn *c;
	int one = 1;

	l = listener_find_conf(w->cur->snap->conf, local, local_len);
	if (l == NULL || (c = conn_alloc(w)) == NULL) {
		/* The address left the configuration a moment ago. */
		tlsio_free(bev);
		return -1;
	}
	c->w = w;
	c->bev = bev;
	c->tls = tls;
	c->tlsio = tls && tlsio_ssl(bev) != NULL &&
	    bufferevent_openssl_get_ssl(bev) == NULL;
	c->limits = (uint8_t)w->accept_limits;	/* counted by worker_accept_cb */
	w->accept_limits = 0;
	if (sa_len > sizeof(c->sa))
		sa_len = sizeof(c->sa);
	memcpy(&c->sa, sa, sa_len);
	c->sa_len = sa_len;
	if (local_len > sizeof(c->local))
		local_len = sizeof(c->local);
	memcpy(&c->local, local, local_len);
	c->local_len = local_len;
	event_assign(&c->timer, w->base, -1, 0, conn_timer_cb, c);
	(void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
	    &one, sizeof(one));
	conn_setup_bev(c);
	worker_conn_add(w, c);
	c->mseries = metrics_conn_open(w->id, w->cur->snap, l);	/* admin hook */
	c->state = CONN_ACCEPTED;
	conn_set_state(c, CONN_H1_IDLE);
	return 0;
}

/* The listener configuration of c's local address in conf. */
static const struct conf_listener *
conn_find_listener(const struct conn *c, const struct config *conf)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, &c->local, c->local_len);
	return listener_find_conf(conf, &ss, c->local_len);
}

/* ---- finishing an exchange ---------------------------------------- */

/* Run conn_finish from the event loop, never from inside an action. */
static void
conn_schedule_finish(struct conn *c)
{
	if (c->finish_pending)
		return;
	c->finish_pending = true;
	evtimer_del(&c->timer);
	event_active(&c->timer, EV_TIMEOUT, 0);
}

static void
conn_finish(struct conn *c)
{
	struct exchange *x = c->x;
	bool again;

	c->finish_pending = false;
	if (x == NULL)
		return;
	again = !x->close_after && c->keep_alive && !c->peer_eof &&
	    !c->w->draining && c->state == CONN_H1_EXCHANGE;
	c->x = NULL;
	exchange_free(x);
	c->n_requests++;
	if (c->state == CONN_TUNNEL)
		return;
	if (!again) {
		conn_close(c);
		return;
	}
	c->discard = c->resp_done = c->body_done = false;
	c->continue_sent = false;
	conn_set_state(c, CONN_H1_IDLE);
	bufferevent_enable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		conn_read_head(c);	/* pipelined */
}

/* Response complete: finish now if the body was read, else drop the rest
 * of a small body or give up on the connection. */
static void
conn_response_complete(struct conn *c)
{
	struct exchange *x = c->x;

	c->resp_done = true;
	if (c->body_done) {
		conn_schedule_finish(c);
		return;
	}
	if (!c->chunked_body && c->body_left <= CONN_DISCARD_MAX &&
	    (!x->expect_continue || c->continue_sent)) {
		c->discard = true;
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS |
		    BEV_TRIG_IGNORE_WATERMARKS);
		return;
	}
	x->close_after = true;
	conn_schedule_finish(c);
}

/* ---- closing ------------------------------------------------------- */

static void
conn_free(struct conn *c)
{
	if (c->x != NULL) {
		c->x->state = EXCHANGE_ABORTED;
		exchange_free(c->x);
		c->x = NULL;
	}
	if (c->peer != NULL)
		bufferevent_free(c->peer);
	evtimer_del(&c->timer);
	flush_detach(c->w->flusher, &c->flush);
	if (c->bev != NULL)
		tlsio_free(c->bev);	/* any bufferevent; TLS: the session */
	c->state = CONN_CLOSED;
	connlimit_release(&c->sa.sa, c->limits);
	metrics_conn_close(c->w->id, c->mseries);	/* admin hook */
	worker_conn_remove(c->w, c);
	free(c);
}

/*
 * Whether the client is done sending: it asked for the close itself
 * (Connection: close, HTTP/1.0), its request was read to the end, and
 * nothing has come since, neither buffered here (libevent, OpenSSL) nor
 * waiting in the socket.  Such a client sends nothing more, so closing
 * cannot make its kernel answer a late segment with a reset.
 */
static bool
conn_client_done(struct conn *c)
{
	char b;
	ssize_t n;

	if (!c->client_close || !c->body_done ||
	    evbuffer_get_length(bufferevent_get_input(c->bev)) > 0 ||
	    (c->tls && tls_bufferevent_pending(c->bev)))
		return false;
	n = recv(bufferevent_getfd(c->bev), &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

/*
 * Half-close our side and read until the client closes or the linger
 * timer fires, so our last response is not destroyed by a reset; a client
 * done sending (conn_client_done) is closed at once instead, as nginx
 * does, which saves the shutdown, a wakeup and the read of its FIN
 * (a TLS connection per request, issue 6).
 */
static void
conn_linger(struct conn *c)
{
	if (conn_client_done(c)) {
		tls_bufferevent_close_notify(c->bev);
		conn_free(c);
		return;
	}
	c->lingering = true;
	tls_bufferevent_close_notify(c->bev);	/* TLS: close_notify first */
	shutdown(bufferevent_getfd(c->bev), SHUT_WR);
	evbuffer_drain(bufferevent_get_input(c->bev),
	    evbuffer_get_length(bufferevent_get_input(c->bev)));
	bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
	bufferevent_enable(c->bev, EV_READ);
}

static void
conn_close(struct conn *c)
{
	if (c->state == CONN_CLOSING)
		return;
	conn_set_state(c, CONN_CLOSING);
	if (c->x != NULL) {
		c->x->state = EXCHANGE_ABORTED;
		exchange_free(c->x);
		c->x = NULL;
	}
	if (c->peer_eof) {
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			conn_free(c);
		else
			bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_linger(c);
	else
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
}

void
worker_conn_add(struct worker *w, struct conn *c)
{
	TAILQ_INSERT_TAIL(&w->conns, c, link);
	w->n_conns++;
}

void
worker_conn_remove(struct worker *w, struct conn *c)
{
	TAILQ_REMOVE(&w->conns, c, link);
	w->n_conns--;
	if (w->draining && w->n_conns == 0)
		event_base_loopexit(w->base, NULL);
}

void
conn_drain_all(struct worker *w)
{
	struct conn *c, *next;

	for (c = TAILQ_FIRST(&w->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->state == CONN_H1_IDLE || c->state == CONN_ACCEPTED)
			conn_free(c);
		else if (c->x != NULL)
			c->x->close_after = true;
	}
	conn_idle_drain_all(w);
}

void
conn_kill_all(struct worker *w)
{
	struct conn *c;


	while ((c = TAILQ_FIRST(&w->conns)) != NULL)
		conn_free(c);
	conn_idle_drain_all(w);
	conn_idles_free(w->idles);
	w->idles = NULL;
	if (w->conn_sweep != NULL) {
		event_free(w->conn_sweep);
		w->conn_sweep = NULL;
	}
}

/* An error before any exchange could be built: answer and close. */
static void
conn_reject(struct conn *c, int status)
{
	struct exchange *x;

	if ((x = exchange_new(c->w, &h1_front, c)) == NULL) {
		conn_close(c);
		return;
	}
	x->method = "-";
	x->method_len = 1;
	x->path = "-";
	x->path_len = 1;
	x->http_major = 1;
	x->http_minor = 1;
	x->tls = c->tls;
	/* from the exchange's own snapshot: the one the connection was
	 * accepted under may be gone after a reload */
	x->listener = conn_find_listener(c, x->conf);
	memcpy(&x->client, &c->sa, c->sa_len);
	x->close_after = true;
	c->x = x;
	c->keep_alive = false;
	c->body_done = true;
	conn_set_state(c, CONN_H1_EXCHANGE);
	exchange_error(x, status);
}

/* ---- reading the head ---------------------------------------------- */

static const char *
rebase(const char *p, const char *from, char *to)
{
	return p == NULL ? NULL : to + (p - from);
}

static void
conn_read_head(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct h1_request *req = c->w->scratch_req;
	struct target_parts tp;
	struct exchange *x;
	enum path_err perr;
	enum h1_err err = H1_ERR_NONE;
	size_t len, n, i;
	const char *buf, *host;
	size_t host_len;
	char *copy, *p;
	int rc;

	if ((len = evbuffer_get_length(in)) == 0)
		return;
	n = len < H1_MAX_HEAD + 1 ? len : H1_MAX_HEAD + 1;
	if ((buf = (const char *)evbuffer_pullup(in, (ssize_t)n)) == NULL) {
		conn_close(c);
		return;
	}
	rc = h1_parse_request(buf, n, req, &err);
	if (rc == H1_AGAIN) {
		/* The header timeout runs from the first byte of a head that
		 * did not come whole (a whole one skips H1_READ_HEAD: its
		 * timer would be armed and dropped at once, issue 6). */
		if (c->state == CONN_H1_IDLE)
			conn_set_state(c, CONN_H1_READ_HEAD);
		if (n > H1_MAX_HEAD)	/* the parser should have said 431 */
			conn_reject(c, 431);
		return;
	}
	if (rc < 0) {
		log_debug("conn %p: bad request: %s", (void *)c,
		    h1_err_string(err));
		conn_reject(c, h1_err_status(err));
		return;
	}

	if ((x = exchange_new(c->w, &h1_front, c)) == NULL) {
		conn_close(c);
		return;
	}
	c->x = x;
	/* from the exchange's own snapshot: the one the connection was
	 * accepted under may be gone after a reload */
	x->listener = conn_find_listener(c, x->conf);
	x->tls = c->tls;
	memcpy(&x->client, &c->sa, c->sa_len);
	x->http_major = 1;
	x->http_minor = req->minor_version;
	x->bytes_in_wire = (uint64_t)rc;
	if ((copy = arena_memdup(x->arena, buf, (size_t)rc)) == NULL ||
	    (x->req_headers = arena_calloc(x->arena, req->n_headers + 1,
	    sizeof(*x->req_headers))) == NULL) {
		c->keep_alive = false;
		evbuffer_drain(in, (size_t)rc);
		c->body_done = true;
		conn_set_state(c, CONN_H1_EXCHANGE);
		x->close_after = true;
		exchange_error(x, 500);
		return;
	}
	x->method = rebase(req->method, buf, copy);
	x->method_len = req->method_len;
	x->method_flags = exchange_method_flags(x->method, x->method_len);
	for (i = 0; i < req->n_headers; i++) {
		x->req_headers[i].name = rebase(req->headers[i].name, buf, copy);
		x->req_headers[i].name_len = req->headers[i].name_len;
		x->req_headers[i].value = rebase(req->headers[i].value, buf, copy);
		x->req_headers[i].value_len = req->headers[i].value_len;
	}
	x->n_req_headers = req->n_headers;
	x->expect_continue = req->expect_continue && req->minor_version >= 1;
	x->upgrade_websocket = req->upgrade_websocket;
	c->keep_alive = req->keep_alive;
	c->client_close = !req->keep_alive;
	c->chunked_body = false;
	c->body_done = false;
	switch (req->body) {
	case H1_BODY_LENGTH:
		x->req_body_kind = EXCHANGE_BODY_LENGTH;
		x->req_content_length = req->content_length;
		c->body_left = req->content_length;
		c->body_done = req->content_length == 0;
		break;
	case H1_BODY_CHUNKED:
		x->req_body_kind = EXCHANGE_BODY_STREAM;
		c->chunked_body = true;
		h1_chunked_init(&c->chunked);
		break;
	default:
		x->req_body_kind = EXCHANGE_BODY_NONE;
		c->body_done = true;
		break;
	}
	x->req_body_done = c->body_done;
	if (x->req_body_done)
		x->req_body_kind = x->req_body_kind == EXCHANGE_BODY_LENGTH ?
		    EXCHANGE_BODY_LENGTH : EXCHANGE_BODY_NONE;
	evbuffer_drain(in, (size_t)rc);
	conn_set_state(c, CONN_H1_EXCHANGE);
	if (!c->body_done) {
		const struct conf_global *g = conn_global(c);
		conn_arm(c, g->keepalive_timeout_ms ? g->keepalive_timeout_ms :
		    DEFAULT_KEEPALIVE_TIMEOUT_MS);
	}

	/* The target: origin-form, absolute-form (its authority wins over
	 * Host, RFC 9112 §3.2.2) or "*". */
	if (path_split_target(rebase(req->target, buf, copy), req->target_len,
	    &tp, &perr) == -1) {
		x->path = "-";
		x->path_len = 1;
		exchange_error(x, 400);
		return;
	}
	host = tp.authority ? tp.authority : rebase(req->host, buf, copy);
	host_len = tp.authority ? tp.authority_len : req->host_len;
	x->host_header = host;
	x->host_header_len = host_len;
	if (host != NULL && host_len > 0) {
		if ((p = arena_alloc(x->arena, host_len + 1)) == NULL ||
		    (rc = router_host_normalize(host, host_len, p,
		    host_len + 1)) < 0) {
			x->path = "-";
			x->path_len = 1;
			exchange_error(x, 400);
			return;
		}
		x->host = p;
		x->host_len = (size_t)rc;
	} else if (c->tls && (p = arena_alloc(x->arena,
	    CERTBUNDLE_NAME_MAX + 1)) != NULL &&
	    (rc = tls_servername(tlsio_ssl(c->bev), p)) > 0) {
		/* no Host (HTTP/1.0): the TLS SNI names the site */
		x->host = p;
		x->host_len = (size_t)rc;
	} else {
		x->host = "";
		x->host_len = 0;
	}
	if (tp.path_len == 1 && tp.path[0] == '*') {
		x->path = "*";
		x->path_len = 1;
		exchange_error(x, (x->method_flags & EXCHANGE_M_OPTIONS) ?
		    501 : 400);
		return;
	}
	if ((p = arena_alloc(x->arena, tp.path_len + 1)) == NULL ||
	    (rc = path_normalize(tp.path, tp.path_len, p, &perr)) < 0) {
		x->path = "-";
		x->path_len = 1;
		exchange_error(x, 400);
		return;
	}
	x->path = p;
	x->path_len = (size_t)rc;
	x->query = tp.query;
	x->query_len = tp.query_len;
	exchange_start(x);
	if (c->x == x && !c->body_done && x->state != EXCHANGE_DONE)
		conn_read_body(c);
}

/* ---- reading the body ---------------------------------------------- */

static void
conn_body_error(struct conn *c, int status)
{
	struct exchange *x = c->x;

	c->body_done = true;
	x->req_body_done = true;
	c->keep_alive = false;
	if (x->state == EXCHANGE_STREAM || x->state == EXCHANGE_DONE ||
	    c->resp_done) {
		conn_close(c);
		return;
	}
	exchange_error(x, status);
}

static void
conn_read_body(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct exchange *x = c->x;
	uint64_t before = x->req_body_bytes;
	size_t len, n, consumed, off, dlen;
	struct evbuffer_iovec v;
	enum h1_err err;
	int rc;

	while (!c->body_done) {
		size_t room;

		if ((len = evbuffer_get_length(in)) == 0)
			break;
		if (!c->discard && evbuffer_get_length(x->req_body) >=
		    EXCHANGE_BUF_HIGH)
			break;
		room = c->discard ? len : EXCHANGE_BUF_HIGH -
		    evbuffer_get_length(x->req_body);
		if (!c->chunked_body) {
			n = len;
			if (n > c->body_left)
				n = (size_t)c->body_left;
			if (n > room)
				n = room;
			if (c->discard)
				evbuffer_drain(in, n);
			else
				evbuffer_remove_buffer(in, x->req_body, n);
			c->body_left -= n;
			x->req_body_bytes += n;
			x->bytes_in_wire += n;
			if (c->body_left == 0)
				c->body_done = true;
			continue;
		}
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		rc = h1_chunked_feed(&c->chunked, v.iov_base, v.iov_len,
		    &consumed, &off, &dlen, &err);
		if (rc < 0) {
			conn_body_error(c, 400);
			return;
		}
		if (dlen > 0) {
			if (!c->discard)
				evbuffer_add(x->req_body,
				    (const char *)v.iov_base + off, dlen);
			x->req_body_bytes += dlen;
		}
		if (consumed == 0 && rc == 0 && dlen == 0) {
			/* A size line split across chains: make it one. */
			if (v.iov_len >= len || v.iov_len >= 4096)
				break;
			evbuffer_pullup(in, (ssize_t)(len < 4096 ? len : 4096));
			continue;
		}
		evbuffer_drain(in, consumed);
		x->bytes_in_wire += consumed;
		if (rc == 1)
			c->body_done = true;
	}
	if (x->route != NULL && x->route->max_body != 0 &&
	    x->req_body_bytes > x->route->max_body) {
		conn_body_error(c, 413);
		return;
	}
	if (c->body_done) {
		x->req_body_done = true;
		if (c->state == CONN_H1_EXCHANGE)
			evtimer_del(&c->timer);
	} else if (x->req_body_bytes != before) {
		const struct conf_global *g = conn_global(c);
		conn_arm(c, g->keepalive_timeout_ms ? g->keepalive_timeout_ms :
		    DEFAULT_KEEPALIVE_TIMEOUT_MS);
	}
	if (c->discard) {
		evbuffer_drain(x->req_body, evbuffer_get_length(x->req_body));
		if (c->body_done)
			conn_schedule_finish(c);
		return;
	}
	if ((x->req_body_bytes != before || c->body_done) &&
	    x->on_req_body != NULL)
		x->on_req_body(x);
	if (c->body_done && c->resp_done)
		conn_schedule_finish(c);
}

/* ---- bufferevent callbacks ----------------------------------------- */

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	switch (c->state) {
	case CONN_H1_IDLE:
	case CONN_H1_READ_HEAD:
		conn_read_head(c);
		break;
	case CONN_H1_EXCHANGE:
		if (c->x != NULL && !c->body_done)
			conn_read_body(c);
		break;
	case CONN_CLOSING:
		evbuffer_drain(bufferevent_get_input(bev),
		    evbuffer_get_length(bufferevent_get_input(bev)));
		break;
	default:
		break;
	}
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	flush_written(&c->flush);	/* output empty: EV_WRITE off */
	if (c->state == CONN_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
			if (c->peer_eof)
				conn_free(c);
			else if (!c->lingering)
				conn_linger(c);
		}
		return;
	}
	if (c->state == CONN_H1_EXCHANGE && c->x != NULL &&
	    c->x->on_drained != NULL && !c->resp_done)
		c->x->on_drained(c->x);
}

/* Response bytes were added to the output. */
static void
conn_queue_flush(struct conn *c)
{
	if (c->tls && !c->tlsio) {	/* one record per response, */
		tls_bufferevent_coalesce(c->bev);
		tls_bufferevent_write_soon(c->bev);	/* in this pass */
	}
	flush_queue(c->w->flusher, &c->flush);	/* detached for
						 * bufferevent_openssl */
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    (what & BEV_EVENT_READING)) {
		c->peer_eof = true;
		switch (c->state) {
		case CONN_H1_EXCHANGE:
			/* A half-close after a complete request is allowed:
			 * answer, then close. */
			if (c->body_done && !c->discard) {
				c->keep_alive = false;
				return;
			}
			break;
		case CONN_CLOSING:
			if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
				return;
			break;
		default:
			break;
		}
	}
	conn_free(c);
}

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (c->finish_pending) {
		conn_finish(c);
		return;
	}
	switch (c->state) {
	case CONN_H1_READ_HEAD:
		conn_reject(c, 408);
		break;
	case CONN_H1_EXCHANGE:
		/* the client stopped sending its body */
		if (c->x != NULL && !c->body_done)
			conn_body_error(c, 408);
		break;
	case CONN_H1_IDLE:
	case CONN_CLOSING:
	default:
		conn_free(c);
		break;
	}
}

/* ---- the HTTP/1.1 front of exchanges -------------------------------- */

static int
h1_send_head(struct exchange *x)
{
	struct conn *c = x->front_ctx;
	struct headbuf hb;
	size_t i;

	if (c->w->draining || !c->keep_alive)
		x->close_after = true;
	c->resp_chunked = false;
	if (x->resp_body == EXCHANGE_BODY_STREAM &&
	    !(x->method_flags & EXCHANGE_M_HEAD)) {
		if (x->http_minor >= 1)
			c->resp_chunked = true;
		else
			x->close_after = true;	/* close-delimited */
	}
	/* the whole head in one evbuffer_add, no printf (headbuf.h) */
	headbuf_init(&hb, bufferevent_get_output(c->bev));
	HEADBUF_LIT(&hb, "HTTP/1.1 ");
	if (x->status < 0) {	/* never: statuses are 3 digits */
		HEADBUF_LIT(&hb, "-");
		headbuf_u64(&hb, (uint64_t)-(int64_t)x->status);
	} else {
		headbuf_u64(&hb, (uint64_t)x->status);
	}
	HEADBUF_LIT(&hb, " ");
	headbuf_str(&hb, exchange_reason(x->status));
	HEADBUF_LIT(&hb, "\r\n");
	for (i = 0; i < x->n_resp_headers; i++) {
		const struct exchange_header *h = &x->resp_headers[i];
		if (h->name == NULL)
			continue;
		headbuf_add(&hb, h->name, h->name_len);
		HEADBUF_LIT(&hb, ": ");
		headbuf_add(&hb, h->value, h->value_len);
		HEADBUF_LIT(&hb, "\r\n");
	}
	if (x->resp_body == EXCHANGE_BODY_LENGTH) {
		HEADBUF_LIT(&hb, "Content-Length: ");
		headbuf_u64(&hb, x->resp_content_length);
		HEADBUF_LIT(&hb, "\r\n");
	} else if (c->resp_chunked) {
		HEADBUF_LIT(&hb, "Transfer-Encoding: chunked\r\n");
	}
	if (x->status == 101)
		;	/* the action set Connection/Upgrade */
	else if (x->close_after)
		HEADBUF_LIT(&hb, "Connection: close\r\n");
	else if (x->http_minor == 0)
		HEADBUF_LIT(&hb, "Connection: keep-alive\r\n");
	HEADBUF_LIT(&hb, "\r\n");
	(void)headbuf_finish(&hb);	/* unchecked, as the adds were */
	conn_queue_flush(c);
	return 0;
}

static int
h1_send_body(struct exchange *x, struct evbuffer *src, size_t n)
{
	struct conn *c = x->front_ctx;
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (n == 0)
		return 0;
	if (x->method_flags & EXCHANGE_M_HEAD) {
		evbuffer_drain(src, n);
		return 0;
	}
	if (c->resp_chunked) {
		char d[16 + 2];
		size_t dl = headbuf_fmt_hex(d, n);

		memcpy(d + dl, "\r\n", 2);
		evbuffer_add(out, d, dl + 2);
	}
	if (evbuffer_remove_buffer(src, out, n) != (int)n)
		return -1;
	if (c->resp_chunked)
		evbuffer_add(out, "\r\n", 2);
	conn_queue_flush(c);
	return 0;
}

static void
h1_send_end(struct exchange *x)
{
	struct conn *c = x->front_ctx;

	/* An aborted response must look cut to the client: no last chunk. */
	if (c->resp_chunked && x->state != EXCHANGE_ABORTED)
		evbuffer_add(bufferevent_get_output(c->bev), "0\r\n\r\n", 5);
	conn_queue_flush(c);
	conn_response_complete(c);
}

static void
h1_send_continue(struct exchange *x)
{
	struct conn *c = x->front_ctx;

	if (!x->expect_continue || c->continue_sent || c->body_done)
		return;
	c->continue_sent = true;
	evbuffer_add(bufferevent_get_output(c->bev),
	    "HTTP/1.1 100 Continue\r\n\r\n", 25);
	conn_queue_flush(c);
}

static size_t
h1_out_pending(struct exchange *x)
{
	struct conn *c = x->front_ctx;

	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

static int
h1_raw_fd(struct exchange *x)
{
	struct conn *c = x->front_ctx;

	if (c->tls || c->bev == NULL || c->resp_chunked ||
	    c->state != CONN_H1_EXCHANGE || c->lingering ||
	    x->resp_body != EXCHANGE_BODY_LENGTH ||
	    (x->method_flags & EXCHANGE_M_HEAD))
		return -1;
	return bufferevent_getfd(c->bev);
}

static void
h1_req_body_resume(struct exchange *x)
{
	struct conn *c = x->front_ctx;

	if (!c->body_done)
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS |
		    BEV_TRIG_IGNORE_WATERMARKS);
}

/* ---- TUNNEL: bytes both ways after a 101 (libevent le-proxy shape) --- */

static void tunnel_read_cb(struct bufferevent *bev, void *arg);
static void tunnel_write_cb(struct bufferevent *bev, void *arg);
static void tunnel_event_cb(struct bufferevent *bev, short what, void *arg);

static void
tunnel_move(struct conn *c, struct bufferevent *from, struct bufferevent *to)
{
	struct evbuffer *out = bufferevent_get_output(to);

	evbuffer_add_buffer(out, bufferevent_get_input(from));
	if (evbuffer_get_length(out) >= EXCHANGE_BUF_HIGH) {
		/* partner-disable: stop reading until `to` drains */
		bufferevent_disable(from, EV_READ);
		bufferevent_setwatermark(to, EV_WRITE, EXCHANGE_BUF_LOW, 0);
	}
}

static void
tunnel_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->peer == NULL) {	/* closing: the server side is gone */
		evbuffer_drain(bufferevent_get_input(bev),
		    evbuffer_get_length(bufferevent_get_input(bev)));
		return;
	}
	tunnel_move(c, bev, bev == c->bev ? c->peer : c->bev);
}

static void
tunnel_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct bufferevent *other = bev == c->bev ? c->peer : c->bev;

	if (c->state == CONN_CLOSING || other == NULL) {
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			conn_free(c);
		return;
	}
	bufferevent_enable(other, EV_READ);
}

static void
tunnel_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (bev == c->peer) {
		/* The server side ended: flush what we have to the client. */
		tunnel_move(c, c->peer, c->bev);
		bufferevent_free(c->peer);
		c->peer = NULL;
		c->state = CONN_CLOSING;
		evtimer_del(&c->timer);
		conn_arm(c, CONN_LINGER_MS);
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			conn_free(c);
		else
			bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
		return;
	}
	/* The client ended: give the server what is left, then close. */
	if (c->peer != NULL && !(what & BEV_EVENT_ERROR))
		tunnel_move(c, c->bev, c->peer);
	conn_free(c);
}

static int
h1_tunnel(struct exchange *x, struct bufferevent *peer)
{
	struct conn *c = x->front_ctx;
	struct timeval tv;
	uint64_t ms = x->tunnel_idle_ms ? x->tunnel_idle_ms : 3600 * 1000;

	c->peer = peer;
	c->tunnel_idle_ms = ms;
	/* both sides write by themselves from here on (enabled below) */
	flush_detach(c->w->flusher, &c->flush);
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	conn_set_state(c, CONN_TUNNEL);
	bufferevent_setcb(c->bev, tunnel_read_cb, tunnel_write_cb,
	    tunnel_event_cb, c);
	bufferevent_setcb(peer, tunnel_read_cb, tunnel_write_cb,
	    tunnel_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, EXCHANGE_BUF_HIGH);
	bufferevent_setwatermark(peer, EV_READ, 0, EXCHANGE_BUF_HIGH);
	bufferevent_setwatermark(c->bev, EV_WRITE, EXCHANGE_BUF_LOW, 0);
	bufferevent_setwatermark(peer, EV_WRITE, EXCHANGE_BUF_LOW, 0);
	bufferevent_set_timeouts(c->bev, &tv, NULL);
	bufferevent_set_timeouts(peer, &tv, NULL);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	bufferevent_enable(peer, EV_READ | EV_WRITE);
	/* Bytes that came early, on either side, go now. */
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS |
		    BEV_TRIG_IGNORE_WATERMARKS);
	if (evbuffer_get_length(bufferevent_get_input(peer)) > 0)
		bufferevent_trigger(peer, EV_READ, BEV_TRIG_DEFER_CALLBACKS |
		    BEV_TRIG_IGNORE_WATERMARKS);
	c->resp_done = c->body_done = true;
	conn_schedule_finish(c);	/* frees the exchange, keeps the tunnel */
	return 0;
}

static const struct exchange_front h1_front = {
	.send_head = h1_send_head,
	.send_body = h1_send_body,
	.send_end = h1_send_end,
	.send_continue = h1_send_continue,
	.out_pending = h1_out_pending,
	.req_body_resume = h1_req_body_resume,
	.raw_fd = h1_raw_fd,
	.tunnel = h1_tunnel,
};
