/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rawread.c — the read callback of a plain socket bufferevent, without
 * FIONREAD (see rawread.h).  It mirrors libevent 2.1's bufferevent_readcb
 * (bufferevent_sock.c) step by step, with a fixed-size readv instead of
 * evbuffer_read.  The bufferevent's read event is reached through the
 * public struct in event2/bufferevent_struct.h, which libevent 2.1 keeps
 * stable (Debian ships 2.1 only).
 */
#include "proxy/rawread.h"

#include <errno.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>

static void
rawread_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bufferevent *bev = arg;
	struct evbuffer *in = bev->input;
	struct evbuffer_iovec v[2];
	struct iovec iov[2];
	size_t low = 0, high = 0, len, want = RAWREAD_SIZE;
	ev_ssize_t max;
	ssize_t n;
	int nv, used;
	short ev = BEV_EVENT_READING;

	if (what == EV_TIMEOUT) {	/* EV_TIMEOUT|EV_READ: bytes came */
		ev |= BEV_EVENT_TIMEOUT;
		goto stop;
	}
	len = evbuffer_get_length(in);
	bufferevent_getwatermark(bev, EV_READ, &low, &high);
	if (high != 0) {
		if (len >= high) {
			/* at the mark: suspend reading as libevent does here
			 * (setting the mark again suspends; draining the input
			 * below it resumes, from libevent's input callback) */
			bufferevent_setwatermark(bev, EV_READ, low, high);
			return;
		}
		if (high - len < want)
			want = high - len;
	}
	if ((max = bufferevent_get_max_single_read(bev)) > 0 &&
	    (size_t)max < want)
		want = (size_t)max;

	/* the socket bufferevent keeps its input's end frozen outside its
	 * own reads; thaw it for ours, as bufferevent_readcb does */
	evbuffer_unfreeze(in, 0);
	if ((nv = evbuffer_reserve_space(in, (ev_ssize_t)want, v, 2)) <= 0) {
		evbuffer_freeze(in, 0);
		ev |= BEV_EVENT_ERROR;
		goto stop;
	}
	for (int i = 0; i < nv; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
		if (want < iov[i].iov_len)
			iov[i].iov_len = v[i].iov_len = want;
		want -= iov[i].iov_len;
	}
	n = readv(fd, iov, nv);
	if (n > 0) {
		ssize_t left = n;

		for (used = 0; used < nv && left > 0; used++) {
			if ((size_t)left < v[used].iov_len)
				v[used].iov_len = (size_t)left;
			left -= (ssize_t)v[used].iov_len;
		}
		evbuffer_commit_space(in, v, used);
	} else {
		evbuffer_commit_space(in, v, 0);	/* gives the space back */
	}
	evbuffer_freeze(in, 0);

	if (n > 0) {
		bufferevent_trigger(bev, EV_READ, 0);	/* honours low mark */
		return;
	}
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		if (errno == ECONNREFUSED)
			return;	/* a failed connect: the write side reports it */
		ev |= BEV_EVENT_ERROR;
	} else {
		ev |= BEV_EVENT_EOF;
	}
stop:
	bufferevent_disable(bev, EV_READ);
	bufferevent_trigger_event(bev, ev, 0);
}

int
rawread_attach(struct bufferevent *bev)
{
	evutil_socket_t fd = bufferevent_getfd(bev);

	if (fd < 0 || event_pending(&bev->ev_read, EV_READ | EV_TIMEOUT, NULL))
		return -1;
	return event_assign(&bev->ev_read, bufferevent_get_base(bev), fd,
	    EV_READ | EV_PERSIST | EV_FINALIZE, rawread_cb, bev);
}
