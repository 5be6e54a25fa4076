/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * upstream.c — see upstream.h.
 *
 * The cache is a short list of buckets, one per server address this
 * worker talked to, each a LIFO of idle connections (the most recently
 * used one is the warmest, and the oldest ones time out first).
 *
 * `keepalive` is what a bucket keeps, not what it may hold for a moment.
 * Closing every connection released over the limit makes a steady load
 * with more concurrent requests than `keepalive` churn: each burst of
 * releases closes the excess and the next burst of requests connects
 * again (50 clients over `keepalive: 32` opened a fresh upstream
 * connection for one request in six, and those requests waited for the
 * server's accept: limen's p99 in `make bench`, docs/performance.md).  A
 * release over the limit is parked all the same, up to twice the limit,
 * and a trim timer (UPSTREAM_TRIM_MS, armed only while a bucket is over
 * its limit) closes the least recently used surplus that stayed idle
 * through a whole period: a bucket whose idle count fell to the limit or
 * below since the last tick was using its surplus and keeps it.
 */
#include "proxy/upstream.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "proxy/exchange.h"
#include "proxy/listener.h"
#include "proxy/rawread.h"
#include "proxy/worker.h"

#define UPSTREAM_MAX_IO (256 * 1024)
#define UPSTREAM_TRIM_MS 250	/* period of the surplus trim */

TAILQ_HEAD(upstream_list, upstream);

struct upstream_bucket {
	struct sockaddr_storage sa;
	socklen_t sa_len;
	struct upstream_list idle;
	unsigned n_idle;
	unsigned keep;			/* the pool's keepalive, at the last release */
	unsigned low;			/* fewest idle since the last trim tick */
	struct upstream_bucket *next;
};

struct upstream_cache {
	struct upstream_bucket *buckets;
	unsigned n_idle;
	struct event *trim;		/* while a bucket is over its keep */
};

struct upstream_cache *
upstream_cache_new(void)
{
	return calloc(1, sizeof(struct upstream_cache));
}

static void
upstream_free(struct upstream *u)
{
	flush_detach(u->w->flusher, &u->flush);
	if (u->bev != NULL)
		bufferevent_free(u->bev);
	free(u);
}

void
upstream_cache_free(struct upstream_cache *uc)
{
	struct upstream_bucket *b, *nb;
	struct upstream *u;

	if (uc == NULL)
		return;
	if (uc->trim != NULL)
		event_free(uc->trim);
	for (b = uc->buckets; b != NULL; b = nb) {
		nb = b->next;
		while ((u = TAILQ_FIRST(&b->idle)) != NULL) {
			TAILQ_REMOVE(&b->idle, u, link);
			upstream_free(u);
		}
		free(b);
	}
	free(uc);
}

static struct upstream_bucket *
upstream_bucket(struct upstream_cache *uc, const struct sockaddr_storage *sa,
    socklen_t len, bool create)
{
	struct upstream_bucket *b;

	for (b = uc->buckets; b != NULL; b = b->next)
		if (listener_same_addr(&b->sa, b->sa_len, sa, len))
			return b;
	if (!create || (b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	memcpy(&b->sa, sa, len);
	b->sa_len = len;
	TAILQ_INIT(&b->idle);
	b->next = uc->buckets;
	uc->buckets = b;
	return b;
}

static void
upstream_unlink_idle(struct upstream *u)
{
	if (u->state == UPSTREAM_IDLE && u->bucket != NULL) {
		TAILQ_REMOVE(&u->bucket->idle, u, link);
		u->bucket->n_idle--;
		if (u->bucket->low > u->bucket->n_idle)
			u->bucket->low = u->bucket->n_idle;
		u->w->ucache->n_idle--;
		u->bucket = NULL;
	}
}

struct upstream *
upstream_get_idle(struct worker *w, const struct sockaddr *sa, socklen_t len)
{
	struct upstream_bucket *b;
	struct upstream *u;

	if ((b = upstream_bucket(w->ucache, (const void *)sa, len,
	    false)) == NULL || (u = TAILQ_FIRST(&b->idle)) == NULL)
		return NULL;
	upstream_unlink_idle(u);
	u->state = UPSTREAM_BUSY;
	u->reused = true;
	/* the idle timeout stays until the caller sets its own (upstream.h),
	 * in the same loop pass: clearing it here cost an event_add per
	 * request for nothing (issue 6) */
	return u;
}

struct upstream *
upstream_connect(struct worker *w, const struct sockaddr *sa, socklen_t len,
    uint64_t connect_timeout_ms)
{
	struct upstream *u;
	struct timeval tv;
	int one = 1, fd;

	if ((u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->w = w;
	memcpy(&u->sa, sa, len);
	u->sa_len = len;
	u->state = UPSTREAM_CONNECTING;
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		goto fail;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	u->bev = bufferevent_socket_new(w->base, fd,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (u->bev == NULL) {
		close(fd);
		goto fail;
	}
	bufferevent_set_max_single_read(u->bev, UPSTREAM_MAX_IO);
	bufferevent_set_max_single_write(u->bev, UPSTREAM_MAX_IO);
	/* libevent times a connect with the write timeout */
	tv.tv_sec = (time_t)(connect_timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(connect_timeout_ms % 1000) * 1000;
	bufferevent_set_timeouts(u->bev, NULL, &tv);
	if (bufferevent_socket_connect(u->bev, sa, (int)len) == -1)
		goto fail;
	/* after the connect, which re-assigns the bufferevent's events */
	(void)rawread_attach(u->bev);	/* no FIONREAD; else libevent's */
	rawread_set_high(u->bev, EXCHANGE_BUF_HIGH);
	return u;
fail:
	upstream_free(u);
	return NULL;
}

static void
upstream_idle_read_cb(struct bufferevent *bev, void *arg)
{
	/* An idle server must not talk: whatever it says, it is done. */
	upstream_close(arg);
}

static void
upstream_idle_event_cb(struct bufferevent *bev, short what, void *arg)
{
	upstream_close(arg);
}

/* Close the surplus that stayed idle through the whole period (the least
 * recently used first); disarm once no bucket is over its keep. */
static void
upstream_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_cache *uc = arg;
	struct upstream_bucket *b;
	bool over = false;

	for (b = uc->buckets; b != NULL; b = b->next) {
		unsigned n = b->low < b->n_idle ? b->low : b->n_idle;

		for (; n > b->keep; n--)
			upstream_close(TAILQ_LAST(&b->idle, upstream_list));
		b->low = b->n_idle;
		if (b->n_idle > b->keep)
			over = true;
	}
	if (!over)
		event_del(uc->trim);
}

/* b is about to go over its keep: make sure the trim timer runs. */
static int
upstream_trim_arm(struct worker *w, struct upstream_bucket *b)
{
	struct upstream_cache *uc = w->ucache;
	struct timeval tv = { 0, UPSTREAM_TRIM_MS * 1000 };

	if (uc->trim == NULL && (uc->trim = event_new(w->base, -1,
	    EV_PERSIST, upstream_trim_cb, uc)) == NULL)
		return -1;
	if (event_pending(uc->trim, EV_TIMEOUT, NULL))
		return 0;
	b->low = b->n_idle + 1;		/* counting the one parked now */
	return event_add(uc->trim, &tv);
}

void
upstream_release(struct upstream *u, uint32_t keepalive,
    uint64_t idle_timeout_ms)
{
	struct upstream_bucket *b;
	struct timeval tv;

	if (keepalive == 0 || u->w->draining ||
	    evbuffer_get_length(bufferevent_get_input(u->bev)) > 0 ||
	    evbuffer_get_length(bufferevent_get_output(u->bev)) > 0 ||
	    (b = upstream_bucket(u->w->ucache, &u->sa, u->sa_len,
	    true)) == NULL) {
		upstream_close(u);
		return;
	}
	b->keep = keepalive;	/* a reload may have lowered it: trim to it */
	if ((uint64_t)b->n_idle >= 2 * (uint64_t)keepalive) {
		(void)upstream_trim_arm(u->w, b);
		upstream_close(u);
		return;
	}
	if (b->n_idle >= keepalive && upstream_trim_arm(u->w, b) == -1) {
		upstream_close(u);
		return;
	}
	flush_detach(u->w->flusher, &u->flush);
	u->state = UPSTREAM_IDLE;
	u->bucket = b;
	TAILQ_INSERT_HEAD(&b->idle, u, link);
	b->n_idle++;
	u->w->ucache->n_idle++;
	tv.tv_sec = (time_t)(idle_timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(idle_timeout_ms % 1000) * 1000;
	bufferevent_setcb(u->bev, upstream_idle_read_cb, NULL,
	    upstream_idle_event_cb, u);
	bufferevent_setwatermark(u->bev, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(u->bev, idle_timeout_ms ? &tv : NULL, NULL);
	bufferevent_enable(u->bev, EV_READ);
}

void
upstream_close(struct upstream *u)
{
	if (u == NULL)
		return;
	upstream_unlink_idle(u);
	upstream_free(u);
}

struct bufferevent *
upstream_detach(struct upstream *u)
{
	struct bufferevent *bev = u->bev;

	flush_detach(u->w->flusher, &u->flush);
	upstream_unlink_idle(u);
	u->bev = NULL;
	free(u);
	return bev;
}

unsigned
upstream_idle_count(struct worker *w)
{
	return w->ucache ? w->ucache->n_idle : 0;
}
