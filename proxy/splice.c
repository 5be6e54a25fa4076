/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * splice.c — kernel-side body forwarding through a pipe (see splice.h):
 * the gate, the per-worker pipe pool and the transfer's pump.
 *
 * The pump reads into the pipe only while it is empty.  A pipe has a
 * fixed number of slots (one per page or socket-buffer fragment), so a
 * pipe holding fewer bytes than its capacity may still refuse more with
 * EAGAIN, which would look like an empty socket: waiting for the source
 * then would spin on a level-triggered readable event.  Filling only an
 * empty pipe keeps the two cases apart; the client is written from the
 * pipe until it is empty again (waiting for writability when it is
 * full), then the source is read again.
 */
#include "proxy/splice.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

/* ---- the gate -------------------------------------------------------- */

bool
splice_wanted(const struct splice_gate *g)
{
	return g->client_raw && g->upstream_plain && g->length_framed &&
	    !g->transformed && !g->head_only && g->request_sent &&
	    g->left >= SPLICE_MIN_BYTES;
}

const char *
splice_end_string(enum splice_end e)
{
	switch (e) {
	case SPLICE_DONE:
		return "done";
	case SPLICE_SRC_EOF:
		return "upstream closed";
	case SPLICE_SRC_ERROR:
		return "upstream read error";
	case SPLICE_DST_ERROR:
		return "client write error";
	case SPLICE_SRC_TIMEOUT:
		return "upstream timeout";
	case SPLICE_DST_TIMEOUT:
		return "client timeout";
	}
	return "?";
}

/* ---- the pipe pool --------------------------------------------------- */

struct splice_pipe {
	int fd[2];			/* read end, write end */
	size_t cap;
};

struct splice_pipes {
	struct event_base *base;
	struct event *trim;		/* while pipes are idle */
	struct splice_pipe idle[SPLICE_PIPES_IDLE];
	unsigned n_idle;
	unsigned low;			/* fewest idle since the last tick */
	unsigned in_use;
};

static void
splice_pipe_close(struct splice_pipe *p)
{
	close(p->fd[0]);
	close(p->fd[1]);
}

/* Close the idle pipes that no transfer needed for a whole period. */
static void
splice_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	struct splice_pipes *sp = arg;
	unsigned n = sp->low < sp->n_idle ? sp->low : sp->n_idle;

	/* the oldest ones sit at the bottom of the stack */
	for (unsigned i = 0; i < n; i++)
		splice_pipe_close(&sp->idle[i]);
	for (unsigned i = n; i < sp->n_idle; i++)
		sp->idle[i - n] = sp->idle[i];
	sp->n_idle -= n;
	sp->low = sp->n_idle;
	if (sp->n_idle == 0)
		event_del(sp->trim);
}

struct splice_pipes *
splice_pipes_new(struct event_base *base)
{
	struct splice_pipes *sp;

	if ((sp = calloc(1, sizeof(*sp))) == NULL)
		return NULL;
	sp->base = base;
	if ((sp->trim = event_new(base, -1, EV_PERSIST, splice_trim_cb,
	    sp)) == NULL) {
		free(sp);
		return NULL;
	}
	return sp;
}

void
splice_pipes_free(struct splice_pipes *sp)
{
	if (sp == NULL)
		return;
	for (unsigned i = 0; i < sp->n_idle; i++)
		splice_pipe_close(&sp->idle[i]);
	event_free(sp->trim);
	free(sp);
}

unsigned
splice_pipes_count(const struct splice_pipes *sp)
{
	return sp == NULL ? 0 : sp->n_idle + sp->in_use;
}

static int
splice_pipe_get(struct splice_pipes *sp, struct splice_pipe *p)
{
	int sz;

	if (sp->in_use >= SPLICE_PIPES_MAX)
		return -1;
	if (sp->n_idle > 0) {
		*p = sp->idle[--sp->n_idle];
		if (sp->low > sp->n_idle)
			sp->low = sp->n_idle;
		sp->in_use++;
		return 0;
	}
	if (pipe2(p->fd, O_NONBLOCK | O_CLOEXEC) == -1)
		return -1;
	/* the bigger, the fewer system calls per body (64 KiB pipes cost
	 * about 25 % more CPU per 1 MiB response than 1 MiB ones, see
	 * docs/performance.md); refused (pipe-max-size, or the user's pipe
	 * pages used up: then new pipes get 2 slots), the pipe keeps its
	 * size, and a pipe too small to pay is not used */
	if ((sz = fcntl(p->fd[1], F_SETPIPE_SZ, SPLICE_PIPE_SIZE)) == -1)
		sz = fcntl(p->fd[1], F_GETPIPE_SZ);
	if (sz < SPLICE_PIPE_MIN) {
		splice_pipe_close(p);
		return -1;
	}
	p->cap = (size_t)sz;
	sp->in_use++;
	return 0;
}

/* An empty pipe goes back to the pool (or is closed when the pool is
 * full); one holding bytes is closed. */
static void
splice_pipe_put(struct splice_pipes *sp, struct splice_pipe *p, bool empty)
{
	struct timeval tv = { SPLICE_TRIM_MS / 1000,
	    (SPLICE_TRIM_MS % 1000) * 1000 };

	sp->in_use--;
	if (!empty || sp->n_idle >= SPLICE_PIPES_IDLE) {
		splice_pipe_close(p);
		return;
	}
	sp->idle[sp->n_idle++] = *p;
	if (!event_pending(sp->trim, EV_TIMEOUT, NULL)) {
		sp->low = sp->n_idle;
		if (event_add(sp->trim, &tv) == -1) {
			/* no timer: keep nothing idle */
			splice_pipe_close(&sp->idle[--sp->n_idle]);
		}
	}
}

/* ---- a transfer ------------------------------------------------------ */

struct splice_xfer {
	struct splice_pipes *sp;
	struct splice_pipe pipe;
	struct event ev_src;		/* src readable (pipe empty) */
	struct event ev_dst;		/* dst writable (pipe not empty) */
	struct event kick;		/* run the pump from the loop */
	struct timeval tv;
	bool timed;
	bool src_armed, dst_armed;
	bool held;			/* dst not to be written yet */
	bool ended;
	int src, dst;
	size_t in_pipe;			/* bytes in the pipe */
	uint64_t left;			/* bytes still to read from src */
	uint64_t moved;			/* bytes written to dst */
	splice_done_cb cb;
	void *arg;
};

static void
splice_arm(struct splice_xfer *s, struct event *ev, bool *armed, bool on)
{
	if (on == *armed)
		return;
	if (on)
		event_add(ev, s->timed ? &s->tv : NULL);
	else
		event_del(ev);
	*armed = on;
}

/* The events stay as they are: the callback frees s (splice.h), and
 * whoever takes the descriptors over registers its own interest first,
 * so that the kernel's epoll set need not change at all. */
static void
splice_end(struct splice_xfer *s, enum splice_end e)
{
	s->ended = true;
	s->cb(s, e, s->arg);	/* frees s */
}

static void
splice_pump(struct splice_xfer *s)
{
	bool src_dry = false;
	ssize_t n;

	if (s->held) {	/* nothing until splice_release() */
		splice_arm(s, &s->ev_src, &s->src_armed, false);
		splice_arm(s, &s->ev_dst, &s->dst_armed, false);
		return;
	}
	for (;;) {
		if (s->in_pipe == 0 && s->left > 0) {
			size_t want = s->left < s->pipe.cap ? (size_t)s->left :
			    s->pipe.cap;

			n = splice(s->src, NULL, s->pipe.fd[1], NULL, want,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n == 0) {
				splice_end(s, SPLICE_SRC_EOF);
				return;
			}
			if (n < 0) {
				if (errno != EAGAIN && errno != EINTR) {
					splice_end(s, SPLICE_SRC_ERROR);
					return;
				}
				break;		/* wait for the source */
			}
			s->in_pipe = (size_t)n;
			s->left -= (uint64_t)n;
			src_dry = (size_t)n < want;
		}
		if (s->in_pipe > 0) {
			/* no SPLICE_F_MORE: it would hold the last partial
			 * segment back while the pump waits for the source */
			n = splice(s->pipe.fd[0], NULL, s->dst, NULL, s->in_pipe,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n == 0 || (n < 0 && errno != EAGAIN &&
			    errno != EINTR)) {
				splice_end(s, SPLICE_DST_ERROR);
				return;
			}
			if (n > 0) {
				s->in_pipe -= (size_t)n;
				s->moved += (uint64_t)n;
			}
			if (s->in_pipe > 0)
				break;		/* wait for the destination */
		}
		if (s->left == 0) {
			splice_end(s, SPLICE_DONE);
			return;
		}
		if (src_dry)
			break;	/* the socket likely has nothing more now */
	}
	/* wait on exactly one side: the client while the pipe holds bytes,
	 * the upstream while it is empty */
	splice_arm(s, &s->ev_src, &s->src_armed, s->in_pipe == 0);
	splice_arm(s, &s->ev_dst, &s->dst_armed, s->in_pipe > 0);
}

static void
splice_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct splice_xfer *s = arg;

	if (s->ended)
		return;
	if (what & (EV_READ | EV_WRITE)) {
		splice_pump(s);
		return;
	}
	splice_end(s, fd == s->src ? SPLICE_SRC_TIMEOUT : SPLICE_DST_TIMEOUT);
}

static void
splice_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct splice_xfer *s = arg;

	if (!s->ended)
		splice_pump(s);
}

struct splice_xfer *
splice_start(struct splice_pipes *sp, struct event_base *base, int src,
    int dst, uint64_t len, uint64_t timeout_ms, bool held, splice_done_cb cb,
    void *arg)
{
	struct splice_xfer *s;

	if (sp == NULL || (s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if (splice_pipe_get(sp, &s->pipe) == -1) {
		free(s);
		return NULL;
	}
	s->sp = sp;
	s->src = src;
	s->dst = dst;
	s->left = len;
	s->held = held;
	s->cb = cb;
	s->arg = arg;
	s->timed = timeout_ms > 0;
	s->tv.tv_sec = (time_t)(timeout_ms / 1000);
	s->tv.tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000;
	event_assign(&s->ev_src, base, src, EV_READ | EV_PERSIST,
	    splice_event_cb, s);
	event_assign(&s->ev_dst, base, dst, EV_WRITE | EV_PERSIST,
	    splice_event_cb, s);
	event_assign(&s->kick, base, -1, 0, splice_kick_cb, s);
	/* Interest in src now, before the caller drops its own: libevent
	 * counts interest per descriptor, so the hand-over costs no
	 * epoll_ctl.  The first pump runs from the loop (never from under
	 * the caller's feet), as if src were readable: it usually is. */
	splice_arm(s, &s->ev_src, &s->src_armed, true);
	event_active(&s->kick, EV_TIMEOUT, 0);
	return s;
}

void
splice_release(struct splice_xfer *s)
{
	if (s == NULL || !s->held)
		return;
	s->held = false;
	if (!s->ended)
		event_active(&s->kick, EV_TIMEOUT, 0);
}

uint64_t
splice_moved(const struct splice_xfer *s)
{
	return s == NULL ? 0 : s->moved;
}

void
splice_free(struct splice_xfer *s)
{
	if (s == NULL)
		return;
	event_del(&s->ev_src);
	event_del(&s->ev_dst);
	event_del(&s->kick);
	splice_pipe_put(s->sp, &s->pipe, s->in_pipe == 0);
	free(s);
}
