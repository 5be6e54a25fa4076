/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * accept.c — from an accepted socket to an HTTP front (see accept.h).
 *
 * The PROXY header is read straight from the socket: peek what is there,
 * let the parser say whether the header is complete, and consume exactly
 * its bytes, so whatever follows (a ClientHello, a request) stays in the
 * kernel for the next step.  While the header is incomplete every byte
 * peeked belongs to it (the parser guarantees that), so they are consumed
 * too and the socket never stays readable with nothing new in it.
 *
 * The TLS handshake runs on a bufferevent_openssl (tls.c) whose event
 * callback gets BEV_EVENT_CONNECTED; the same bufferevent is then handed
 * to the HTTP/2 front, or its session to a socket bufferevent driven by
 * tlsio.h for the HTTP/1.1 front.
 */
#include "proxy/accept.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/err.h>

#include "common/log.h"
#include "proxy/conn.h"
#include "proxy/connlimit.h"
#include "proxy/h2_conn.h"
#include "proxy/listener.h"
#include "proxy/proxy_proto.h"
#include "proxy/snapshot.h"
#include "proxy/tls.h"
#include "proxy/tls_listen.h"
#include "proxy/tlsio.h"
#include "proxy/worker.h"

#define ACCEPT_MAX_IO (256 * 1024)	/* per read/write call */
#define ACCEPT_DEFAULT_TIMEOUT_MS 10000

enum accept_state {
	ACCEPT_PROXY,			/* reading the PROXY header */
	ACCEPT_TLS			/* TLS handshake */
};

struct accepting {
	struct wfront f;		/* first: f <-> accepting */
	struct worker *w;
	enum accept_state state;
	evutil_socket_t fd;
	struct event ev;		/* ACCEPT_PROXY: readable */
	struct event timer;		/* ACCEPT_PROXY: deadline */
	struct bufferevent *bev;	/* ACCEPT_TLS */
	struct sockaddr_storage sa, local;
	socklen_t sa_len, local_len;
	uint8_t *pp;			/* PROXY header bytes so far */
	size_t pp_have;
	unsigned limits;		/* connlimit flags, counted for sa */
};

static void accept_continue(struct worker *w, struct accepting *a,
    evutil_socket_t fd, const struct sockaddr_storage *sa, socklen_t sa_len,
    const struct sockaddr_storage *local, socklen_t local_len);

static uint64_t
accept_timeout_ms(struct worker *w)
{
	uint64_t ms = w->cur->snap->conf->global.header_timeout_ms;

	return ms ? ms : ACCEPT_DEFAULT_TIMEOUT_MS;
}

static void
tv_ms(struct timeval *tv, uint64_t ms)
{
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

/* Release a, and the socket or bufferevent it still owns. */
static void
accept_free(struct accepting *a, bool close_too)
{
	if (a->state == ACCEPT_PROXY) {
		event_del(&a->ev);
		event_del(&a->timer);
		if (close_too && a->fd >= 0)
			close(a->fd);
	} else if (close_too && a->bev != NULL) {
		bufferevent_free(a->bev);
	}
	free(a->pp);
	connlimit_release((struct sockaddr *)&a->sa, a->limits);
	worker_front_remove(a->w, &a->f);
	free(a);
}

/* Hand a's connection counts to the front about to start (conn_start and
 * h2_conn_start take them from w->accept_limits). */
static void
accept_pass_limits(struct accepting *a)
{
	a->w->accept_limits = a->limits;
	a->limits = 0;
}

/* After a front started: counts it did not take (it failed) go back. */
static void
accept_return_limits(struct worker *w, const struct sockaddr_storage *sa)
{
	if (w->accept_limits != 0) {
		connlimit_release((const struct sockaddr *)sa, w->accept_limits);
		w->accept_limits = 0;
	}
}

static void
accept_drain(struct wfront *f)
{
	accept_free((struct accepting *)f, true);
}

static struct accepting *
accept_new(struct worker *w, const struct sockaddr_storage *sa,
    socklen_t sa_len, const struct sockaddr_storage *local,
    socklen_t local_len)
{
	struct accepting *a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->w = w;
	a->fd = -1;
	a->f.drain = accept_drain;
	a->f.kill = accept_drain;
	memcpy(&a->sa, sa, sa_len);
	a->sa_len = sa_len;
	memcpy(&a->local, local, local_len);
	a->local_len = local_len;
	/* the counts worker_accept_cb took are a's from now on */
	a->limits = w->accept_limits;
	w->accept_limits = 0;
	worker_front_add(w, &a->f);
	return a;
}

/* ---- TLS -------------------------------------------------------------- */

static void
accept_tls_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct accepting *a = arg;
	struct worker *w = a->w;
	struct sockaddr_storage sa, local;
	socklen_t sa_len = a->sa_len, local_len = a->local_len;
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	unsigned long e;
	enum tls_alpn alpn;

	if (!(what & BEV_EVENT_CONNECTED)) {
		if (log_get_level() >= LOG_LVL_DEBUG) {
			e = bufferevent_get_openssl_error(bev);
			log_debug("tls: handshake failed: %s",
			    (what & BEV_EVENT_TIMEOUT) ? "timeout" :
			    e ? ERR_reason_error_string(e) : "closed");
		}
		ERR_clear_error();
		accept_free(a, true);
		return;
	}
	memcpy(&sa, &a->sa, sa_len);
	memcpy(&local, &a->local, local_len);
	alpn = tls_alpn(ssl);
	a->bev = NULL;
	accept_pass_limits(a);
	accept_free(a, false);
	bufferevent_set_timeouts(bev, NULL, NULL);
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	switch (alpn) {
	case TLS_ALPN_ACME:
		/* the validation handshake is all the CA wanted */
		bufferevent_free(bev);
		accept_return_limits(w, &sa);
		return;
	case TLS_ALPN_H2:
		h2_conn_start(w, bev, (struct sockaddr *)&sa, sa_len, &local,
		    local_len);
		accept_return_limits(w, &sa);
		return;
	default:
		/* HTTP/1.1: the session goes on with limen's own reads and
		 * writes (tlsio.h) */
		if ((bev = tlsio_adopt(bev, BEV_OPT_DEFER_CALLBACKS)) == NULL) {
			accept_return_limits(w, &sa);
			return;
		}
		bufferevent_set_max_single_read(bev, ACCEPT_MAX_IO);
		bufferevent_set_max_single_write(bev, ACCEPT_MAX_IO);
		if (conn_start(w, bev, (struct sockaddr *)&sa, sa_len, &local,
		    local_len, true) == -1) {
			accept_return_limits(w, &sa);
			return;
		}
		/* A request sent with the handshake's last flight is already
		 * in the input buffer: no new read event would announce it. */
		if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
			bufferevent_trigger(bev, EV_READ,
			    BEV_TRIG_DEFER_CALLBACKS |
			    BEV_TRIG_IGNORE_WATERMARKS);
		return;
	}
}

static void
accept_tls(struct worker *w, struct accepting *a, SSL_CTX *ctx,
    evutil_socket_t fd, const struct sockaddr_storage *sa, socklen_t sa_len,
    const struct sockaddr_storage *local, socklen_t local_len)
{
	struct timeval tv;

	if (a == NULL && (a = accept_new(w, sa, sa_len, local,
	    local_len)) == NULL) {
		close(fd);
		return;
	}
	a->state = ACCEPT_TLS;
	a->fd = -1;
	a->bev = tls_bufferevent_accept(ctx, w->base, fd,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (a->bev == NULL) {
		close(fd);
		accept_free(a, false);
		return;
	}
	/* one record per SSL_read: see TLS_RECORD_MAX */
	bufferevent_set_max_single_read(a->bev, TLS_RECORD_MAX);
	bufferevent_set_max_single_write(a->bev, ACCEPT_MAX_IO);
	tv_ms(&tv, accept_timeout_ms(w));
	bufferevent_set_timeouts(a->bev, &tv, &tv);
	bufferevent_setcb(a->bev, NULL, NULL, accept_tls_event_cb, a);
	bufferevent_enable(a->bev, EV_READ | EV_WRITE);
}

/* ---- PROXY protocol ---------------------------------------------------- */

static void
accept_pp_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct accepting *a = arg;
	struct proxy_proto pp;
	uint32_t per_ip;
	ssize_t n;
	int rc, lim;

	n = recv(fd, a->pp + a->pp_have, PROXY_PROTO_MAX - a->pp_have,
	    MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n <= 0) {
		accept_free(a, true);
		return;
	}
	rc = proxy_proto_parse(a->pp, a->pp_have + (size_t)n, &pp);
	if (rc < 0) {
		log_debug("proxy protocol: invalid header, closing");
		accept_free(a, true);
		return;
	}
	/* Consume what belongs to the header, and nothing after it. */
	if (rc == 0) {
		if (recv(fd, a->pp + a->pp_have, (size_t)n, 0) != n ||
		    (a->pp_have += (size_t)n) >= PROXY_PROTO_MAX)
			accept_free(a, true);
		return;
	}
	if ((size_t)rc > a->pp_have) {
		size_t need = (size_t)rc - a->pp_have;
		if (recv(fd, a->pp + a->pp_have, need, 0) != (ssize_t)need) {
			accept_free(a, true);
			return;
		}
	}
	event_del(&a->ev);
	event_del(&a->timer);
	free(a->pp);
	a->pp = NULL;
	a->fd = -1;
	if (pp.has_addr) {
		memcpy(&a->sa, &pp.src, pp.src_len);
		a->sa_len = pp.src_len;
	}
	/* max_conns_per_ip counts the client the header names, not the
	 * proxy in front (worker_accept_cb counted the total only). */
	if ((per_ip = a->w->cur->snap->conf->global.max_conns_per_ip) != 0) {
		if ((lim = connlimit_admit((struct sockaddr *)&a->sa, 0,
		    per_ip)) < 0) {
			log_debug("proxy protocol: over max_conns_per_ip, "
			    "closing");
			a->fd = fd;
			a->state = ACCEPT_PROXY;
			accept_free(a, true);
			return;
		}
		a->limits |= (unsigned)lim;
	}
	accept_continue(a->w, a, fd, &a->sa, a->sa_len, &a->local,
	    a->local_len);
}

static void
accept_pp_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	log_debug("proxy protocol: no header in time, closing");
	accept_free(arg, true);
}

static void
accept_proxy_proto(struct worker *w, evutil_socket_t fd,
    const struct sockaddr_storage *sa, socklen_t sa_len,
    const struct sockaddr_storage *local, socklen_t local_len)
{
	struct accepting *a;
	struct timeval tv;

	if ((a = accept_new(w, sa, sa_len, local, local_len)) == NULL) {
		close(fd);
		return;
	}
	a->state = ACCEPT_PROXY;
	a->fd = fd;
	event_assign(&a->ev, w->base, fd, EV_READ | EV_PERSIST,
	    accept_pp_read_cb, a);
	evtimer_assign(&a->timer, w->base, accept_pp_timeout_cb, a);
	if ((a->pp = malloc(PROXY_PROTO_MAX)) == NULL) {
		accept_free(a, true);
		return;
	}
	tv_ms(&tv, accept_timeout_ms(w));
	event_add(&a->ev, NULL);
	evtimer_add(&a->timer, &tv);
}

/* ---- dispatch ---------------------------------------------------------- */

/* After the PROXY header (if any): TLS or plain HTTP/1.1.  a is the
 * accepting object already made for fd, or NULL. */
static void
accept_continue(struct worker *w, struct accepting *a, evutil_socket_t fd,
    const struct sockaddr_storage *sa, socklen_t sa_len,
    const struct sockaddr_storage *local, socklen_t local_len)
{
	struct snapshot *s = w->cur->snap;
	const struct conf_listener *l;
	struct bufferevent *bev;
	struct sockaddr_storage csa, clocal;
	SSL_CTX *ctx;

	l = listener_find_conf(s->conf, local, local_len);
	ctx = l ? tls_listen_ctx(s->tls, s->conf, l) : NULL;
	if (l == NULL || (l->tls.enabled && ctx == NULL)) {
		/* the address left the configuration a moment ago */
		close(fd);
		if (a != NULL)
			accept_free(a, false);
		return;
	}
	if (ctx != NULL) {
		accept_tls(w, a, ctx, fd, sa, sa_len, local, local_len);
		return;
	}
	/* sa and local may live in a, freed here */
	memcpy(&csa, sa, sa_len);
	memcpy(&clocal, local, local_len);
	if (a != NULL) {
		accept_pass_limits(a);
		accept_free(a, false);
	}
	bev = bufferevent_socket_new(w->base, fd,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		close(fd);
		accept_return_limits(w, &csa);
		return;
	}
	bufferevent_set_max_single_read(bev, ACCEPT_MAX_IO);
	bufferevent_set_max_single_write(bev, ACCEPT_MAX_IO);
	conn_start(w, bev, (struct sockaddr *)&csa, sa_len, &clocal, local_len,
	    false);
	accept_return_limits(w, &csa);
}

void
accept_start(struct worker *w, evutil_socket_t fd, const struct sockaddr *sa,
    socklen_t sa_len, const struct sockaddr_storage *local,
    socklen_t local_len)
{
	const struct conf_listener *l;
	struct sockaddr_storage ss;

	if (sa_len > sizeof(ss))
		sa_len = sizeof(ss);
	memcpy(&ss, sa, sa_len);
	l = listener_find_conf(w->cur->snap->conf, local, local_len);
	if (l != NULL && l->proxy_protocol) {
		accept_proxy_proto(w, fd, &ss, sa_len, local, local_len);
		return;
	}
	accept_continue(w, NULL, fd, &ss, sa_len, local, local_len);
}
