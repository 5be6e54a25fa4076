/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * flush.c — write-behind for plain socket bufferevents: one direct
 * writev per output per loop pass, the write event armed only on a short
 * write (see flush.h for the states).  One flusher per worker: a queue of
 * items and one event made active when the first item is queued.
 */
#include "proxy/flush.h"

#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

TAILQ_HEAD(flush_list, flush_item);

struct flusher {
	struct flush_list q;
	struct event *ev;
};

static void flush_run(evutil_socket_t fd, short what, void *arg);

struct flusher *
flush_new(struct event_base *base)
{
	struct flusher *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	TAILQ_INIT(&f->q);
	if ((f->ev = event_new(base, -1, 0, flush_run, f)) == NULL) {
		free(f);
		return NULL;
	}
	return f;
}

void
flush_free(struct flusher *f)
{
	if (f == NULL)
		return;
	event_free(f->ev);
	free(f);
}

void
flush_attach(struct flush_item *it, struct bufferevent *bev)
{
	it->bev = bev;
	it->queued = false;
	bufferevent_disable(bev, EV_WRITE);
	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		bufferevent_enable(bev, EV_WRITE);	/* keep the invariant */
}

void
flush_detach(struct flusher *f, struct flush_item *it)
{
	if (it->queued) {
		TAILQ_REMOVE(&f->q, it, link);
		it->queued = false;
	}
	it->bev = NULL;
}

void
flush_queue(struct flusher *f, struct flush_item *it)
{
	if (it->bev == NULL || it->queued ||
	    (bufferevent_get_enabled(it->bev) & EV_WRITE) ||
	    evbuffer_get_length(bufferevent_get_output(it->bev)) == 0)
		return;	/* detached, queued, the bufferevent writes, or nothing
			 * to write (so a write callback that queues again
			 * without adding anything cannot loop) */
	if (TAILQ_EMPTY(&f->q))
		event_active(f->ev, EV_TIMEOUT, 0);
	TAILQ_INSERT_TAIL(&f->q, it, link);
	it->queued = true;
}

void
flush_written(struct flush_item *it)
{
	if (it->bev != NULL &&
	    evbuffer_get_length(bufferevent_get_output(it->bev)) == 0)
		bufferevent_disable(it->bev, EV_WRITE);
}

/* Write each queued output.  A write callback may queue more (or free
 * items, which flush_detach takes off the queue): the loop runs until
 * the queue is empty. */
static void
flush_run(evutil_socket_t fd, short what, void *arg)
{
	struct flusher *f = arg;
	struct flush_item *it;

	while ((it = TAILQ_FIRST(&f->q)) != NULL) {
		struct evbuffer *out = bufferevent_get_output(it->bev);
		bufferevent_data_cb writecb;
		void *cbarg;

		TAILQ_REMOVE(&f->q, it, link);
		it->queued = false;
		if (evbuffer_get_length(out) > 0 && it->write != NULL) {
			(void)it->write(it->bev);
		} else if (evbuffer_get_length(out) > 0) {
			/* the socket bufferevent keeps its output's front
			 * frozen outside its own writes; thaw it for ours */
			evbuffer_unfreeze(out, 1);
			(void)evbuffer_write(out, bufferevent_getfd(it->bev));
			evbuffer_freeze(out, 1);
		}
		if (evbuffer_get_length(out) > 0) {
			/* short write or error: the bufferevent takes over
			 * (and reports an error through its event callback) */
			bufferevent_enable(it->bev, EV_WRITE);
			continue;
		}
		/* written out: what the bufferevent would do next */
		bufferevent_getcb(it->bev, NULL, &writecb, NULL, &cbarg);
		if (writecb != NULL)
			writecb(it->bev, cbarg);	/* may free it */
	}
}
