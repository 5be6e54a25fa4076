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

size_t
rawread_budget(struct bufferevent *bev, size_t cap)
{
	size_t low = 0, high = 0, len = evbuffer_get_length(bev->input);
	ev_ssize_t max;

	bufferevent_getwatermark(bev, EV_READ, &low, &high);
	if (high != 0) {
		if (len >= high)
			return 0;
		if (high - len < cap)
			cap = high - len;
	}
	if ((max = bufferevent_get_max_single_read(bev)) > 0 &&
	    (size_t)max < cap)
		cap = (size_t)max;
	return cap;
}

static void
rawread_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bufferevent *bev = arg;
	struct evbuffer *in = bev->input;
	struct evbuffer_iovec v[2];
	struct iovec iov[2];
	size_t want;
	ssize_t n;
	int nv, used;
	short ev = BEV_EVENT_READING;

	if (what == EV_TIMEOUT) {	/* EV_TIMEOUT|EV_READ: bytes came */
		ev |= BEV_EVENT_TIMEOUT;
		goto stop;
	}
	if ((want = rawread_budget(bev, RAWREAD_SIZE)) == 0) {
		/* at the mark: stop reading; rawread_input_cb (or libevent's
		 * own callback, for a mark libevent set) resumes once the
		 * input is below it again */
		event_del(&bev->ev_read);
		return;
	}

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

/*
 * The input buffer changed: if rawread_cb stopped reading at the mark and
 * the input is below it now, read again (with the read timeout, as
 * libevent adds the event).  Nothing else leaves an enabled read event of
 * a plain socket bufferevent unadded: libevent's other suspensions (rate
 * limits, filters, name lookups) are not used here, and its watermark
 * suspension ends on the same change, from its own callback.
 */
static void
rawread_input_cb(struct evbuffer *in, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct bufferevent *bev = arg;

	/* cheapest first: this runs on every change of every input */
	if (info->n_deleted == 0 || bev->wm_read.high == 0 ||
	    info->orig_size + info->n_added - info->n_deleted >=
	    bev->wm_read.high ||
	    event_pending(&bev->ev_read, EV_READ, NULL) ||
	    !(bufferevent_get_enabled(bev) & EV_READ) ||
	    event_get_callback(&bev->ev_read) != rawread_cb)
		return;
	(void)event_add(&bev->ev_read, evutil_timerisset(&bev->timeout_read) ?
	    &bev->timeout_read : NULL);
}

int
rawread_attach(struct bufferevent *bev)
{
	evutil_socket_t fd = bufferevent_getfd(bev);
	struct evbuffer_cb_entry *cb;

	if (fd < 0 || event_pending(&bev->ev_read, EV_READ | EV_TIMEOUT, NULL))
		return -1;
	/* freed with the input buffer */
	if ((cb = evbuffer_add_cb(bev->input, rawread_input_cb, bev)) == NULL)
		return -1;
	if (event_assign(&bev->ev_read, bufferevent_get_base(bev), fd,
	    EV_READ | EV_PERSIST | EV_FINALIZE, rawread_cb, bev) == -1) {
		evbuffer_remove_cb_entry(bev->input, cb);
		return -1;
	}
	return 0;
}

void
rawread_set_high(struct bufferevent *bev, size_t high)
{
	struct evbuffer_cb_info below;

	/* libevent's reads (not attached) suspend by libevent's mark */
	if (event_get_callback(&bev->ev_read) != rawread_cb) {
		bufferevent_setwatermark(bev, EV_READ, 0, high);
		return;
	}
	/* Drop a mark libevent keeps (its input callback off; resumes a
	 * suspended read), then set ours in place: bufferevent_setwatermark
	 * with a mark would install libevent's callback again.  Once per
	 * bufferevent, not per request. */
	bufferevent_setwatermark(bev, EV_READ, 0, 0);
	bev->wm_read.high = high;
	/* as if the input had just shrunk to its length: below the mark,
	 * reading resumes */
	below.orig_size = evbuffer_get_length(bev->input) + 1;
	below.n_added = 0;
	below.n_deleted = 1;
	rawread_input_cb(bev->input, &below, bev);
}
