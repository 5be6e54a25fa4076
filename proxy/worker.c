/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * worker.c — the event-loop threads (see worker.h).
 *
 * A worker's life: worker_start() makes its event_base and listeners and
 * runs the loop in a new thread; messages from the control thread switch
 * its snapshot and listener set (reload) or start a graceful shutdown, in
 * which it closes its listeners and idle connections, lets the others
 * finish their current response, and leaves the loop when none is left.
 */
#include "proxy/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>

#include "common/log.h"
#include "proxy/accept.h"
#include "proxy/accesslog.h"
#include "proxy/conn.h"
#include "proxy/connlimit.h"
#include "proxy/exchange.h"
#include "proxy/flush.h"
#include "proxy/h1_parse.h"
#include "proxy/headbuf.h"
#include "proxy/listener.h"
#include "proxy/server_internal.h"
#include "proxy/snapshot.h"
#include "proxy/splice.h"
#include "proxy/upstream.h"

#define WORKER_ACCEPT_BACKOFF_MS 100	/* pause after EMFILE/ENFILE */
#define WORKER_FD_SLOTS_AHEAD 4096	/* libevent fd entries made at once */

uint64_t
worker_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

const char *
worker_date(struct worker *w)
{
	time_t now = time(NULL);
	struct tm tm;

	if (now != w->date_sec) {
		gmtime_r(&now, &tm);
		strftime(w->date, sizeof(w->date), "%a, %d %b %Y %H:%M:%S GMT",
		    &tm);
		w->date_sec = now;
	}
	return w->date;
}

size_t
worker_request_id(struct worker *w, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = strlen(w->reqid_prefix), d;
	char digits[16];
	uint64_t seq = ++w->reqid_seq;

	/* 8 hex digits of process randomness + worker + counter: unique per
	 * run, cheap, and not a secret.  What "%s%02x%014llx" printed, without
	 * printf (issue 6: once per request). */
	memcpy(out, w->reqid_prefix, n);
	out[n++] = hex[(w->id >> 4) & 0xf];
	out[n++] = hex[w->id & 0xf];
	d = headbuf_fmt_hex(digits, seq);
	for (; d < 14; d++)
		out[n++] = '0';
	n += headbuf_fmt_hex(out + n, seq);
	out[n] = '\0';
	return n;
}

void
worker_front_add(struct worker *w, struct wfront *f)
{
	TAILQ_INSERT_TAIL(&w->fronts, f, link);
	w->n_conns++;
}

void
worker_front_remove(struct worker *w, struct wfront *f)
{
	TAILQ_REMOVE(&w->fronts, f, link);
	w->n_conns--;
	if (w->draining && w->n_conns == 0)
		event_base_loopexit(w->base, NULL);
}

static void
worker_fronts_drain(struct worker *w)
{
	struct wfront *f, *next;

	for (f = TAILQ_FIRST(&w->fronts); f != NULL; f = next) {
		next = TAILQ_NEXT(f, link);
		f->drain(f);
	}
}

static void
worker_fronts_kill(struct worker *w)
{
	struct wfront *f;

	while ((f = TAILQ_FIRST(&w->fronts)) != NULL)
		f->kill(f);
}

struct worker *
workers_new(unsigned n)
{
	struct worker *ws;
	uint32_t r = 0;

	if ((ws = calloc(n, sizeof(*ws))) == NULL)
		return NULL;
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint32_t)getpid() ^ (uint32_t)time(NULL);
	for (unsigned i = 0; i < n; i++) {
		ws[i].id = i;
		ws[i].wake_fd = -1;
		atomic_init(&ws[i].brk, false);
		pthread_mutex_init(&ws[i].mu, NULL);
		TAILQ_INIT(&ws[i].conns);
		TAILQ_INIT(&ws[i].fronts);
		snprintf(ws[i].reqid_prefix, sizeof(ws[i].reqid_prefix),
		    "%08x", r);
	}
	return ws;
}

/* ---- accepting ---------------------------------------------------------- */

/*
 * libevent keeps a small entry (evmap_io, 32 bytes with malloc's header)
 * per descriptor number its base has ever watched, made on the first
 * event_add and never freed.  Made one by one as connections come in,
 * those entries end up spread over the heap among everything the busy
 * connections allocate, and once those are freed each entry pins a page
 * that is otherwise free: with 10,000 idle keep-alive connections that
 * was about 200 bytes of resident memory per connection (issue 6).  So
 * when a descriptor number above the ones seen so far comes in, the
 * worker makes the entries for the next WORKER_FD_SLOTS_AHEAD numbers in
 * one go, packed together: it duplicates fd onto free numbers from there
 * (F_DUPFD picks free ones only, so no other thread's descriptor is
 * touched), adds and deletes an event on each, and closes them.  Four
 * system calls per descriptor number, once in the life of the process.
 */
static void
worker_fd_slot_cb(evutil_socket_t fd, short what, void *arg)
{
}

static void
worker_fd_slots(struct worker *w, evutil_socket_t fd)
{
	int n, d, next = fd + 1, want;
	struct event ev;

	if (fd < w->fd_slots)
		return;
	want = fd < 256 ? 256 : fd < WORKER_FD_SLOTS_AHEAD ? fd :
	    WORKER_FD_SLOTS_AHEAD;
	for (n = 0; n < want; n++) {
		if ((d = fcntl(fd, F_DUPFD_CLOEXEC, next)) < 0)
			break;
		event_assign(&ev, w->base, d, EV_READ, worker_fd_slot_cb,
		    NULL);
		if (event_add(&ev, NULL) == 0)
			event_del(&ev);
		close(d);
		next = d + 1;
	}
	w->fd_slots = next;
}

static void
worker_accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
	struct wlisten *wl = arg;
	struct worker *w = wl->w;
	const struct conf_global *g = &w->cur->snap->conf->global;
	const struct conf_listener *l;
	uint32_t per_ip = g->max_conns_per_ip;
	int lim;

	/* Behind a PROXY header the client is the address the header names:
	 * accept.c counts that one once it is read. */
	if (per_ip != 0 && (l = listener_find_conf(w->cur->snap->conf,
	    &wl->ls->sa, wl->ls->sa_len)) != NULL && l->proxy_protocol)
		per_ip = 0;
	/* Over global.max_conns or max_conns_per_ip: close at once, before
	 * anything is allocated (connlimit.h). */
	if ((lim = connlimit_admit(sa, g->max_conns, per_ip)) < 0) {
		close(fd);
		return;
	}
	w->accept_limits = (unsigned)lim;
	wl->backoff_logged = false;
	worker_fd_slots(w, fd);

	/* PROXY header, TLS handshake, then HTTP/1.1 or HTTP/2 (accept.c) */
	accept_start(w, fd, sa, (socklen_t)len, &wl->ls->sa, wl->ls->sa_len);
	/* The front (conn_start, h2_conn_start) or the accepting object of
	 * a PROXY header or TLS handshake (accept.c) took the counts and
	 * gives them back when freed; what is left here failed to start. */
	if (w->accept_limits != 0) {
		connlimit_release(sa, w->accept_limits);
		w->accept_limits = 0;
	}
}

static void
worker_accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wlisten *wl = arg;

	evconnlistener_enable(wl->evl);
}

static void
worker_accept_error_cb(struct evconnlistener *evl, void *arg)
{
	struct wlisten *wl = arg;
	int e = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { 0, WORKER_ACCEPT_BACKOFF_MS * 1000 };

	/* Out of descriptors or memory: the socket stays readable, so a
	 * listener left enabled would spin.  Pause accepting for a moment
	 * (the kernel keeps the backlog) and log once per episode; a
	 * successful accept ends the episode. */
	if (!wl->backoff_logged)
		log_warnx("accept on %s: %s; pausing accepts for %d ms",
		    wl->ls->text, evutil_socket_error_to_string(e),
		    WORKER_ACCEPT_BACKOFF_MS);
	wl->backoff_logged = true;
	if (e == EINTR || e == ECONNABORTED || wl->backoff == NULL)
		return;
	evconnlistener_disable(wl->evl);
	evtimer_add(wl->backoff, &tv);
}

static int
worker_listen_add(struct worker *w, struct lsock *ls)
{
	struct wlisten *wl;

	if ((wl = calloc(1, sizeof(*wl))) == NULL)
		return -1;
	wl->w = w;
	wl->ls = ls;
	wl->evl = evconnlistener_new(w->base, worker_accept_cb, wl,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1,
	    ls->fds[w->id]);
	if (wl->evl == NULL) {
		free(wl);
		return -1;
	}
	ls->fds[w->id] = -1;	/* the listener owns it now */
	wl->backoff = evtimer_new(w->base, worker_accept_resume_cb, wl);
	evconnlistener_set_error_cb(wl->evl, worker_accept_error_cb);
	wl->next = w->listens;
	w->listens = wl;
	return 0;
}

static void
worker_listen_remove(struct worker *w, struct lsock *ls)
{
	struct wlisten **pp, *wl;

	for (pp = &w->listens; (wl = *pp) != NULL; pp = &wl->next) {
		if (wl->ls == ls) {
			*pp = wl->next;
			evconnlistener_free(wl->evl);
			if (wl->backoff != NULL)
				event_free(wl->backoff);
			free(wl);
			return;
		}
	}
}

static void
worker_listen_close_all(struct worker *w)
{
	struct wlisten *wl;

	while ((wl = w->listens) != NULL) {
		w->listens = wl->next;
		evconnlistener_free(wl->evl);
		if (wl->backoff != NULL)
			event_free(wl->backoff);
		free(wl);
	}
}

/* ---- messages from the control thread ---------------------------------- */

/* The one way another thread reaches a worker's loop (its base has no
 * locks): the eventfd becomes readable, worker_msg_cb runs in the worker. */
static void
worker_wake(struct worker *w)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is saturated, so it is readable anyway */
	while (write(w->wake_fd, &one, sizeof(one)) == -1 && errno == EINTR)
		;
}

void
worker_post(struct worker *w, struct worker_msg *m)
{
	struct worker_msg **pp;

	m->next = NULL;
	pthread_mutex_lock(&w->mu);
	for (pp = &w->msgs; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = m;
	pthread_mutex_unlock(&w->mu);
	worker_wake(w);
}

void
worker_break(struct worker *w)
{
	atomic_store(&w->brk, true);
	worker_wake(w);
}

static void
worker_switch(struct worker *w, struct snapshot *s)
{
	struct wsnap *ws = wsnap_new(s);

	if (ws == NULL) {
		log_warnx("worker %u: out of memory switching configuration",
		    w->id);
		return;
	}
	wsnap_unref(w->cur);
	w->cur = ws;
}

static void
worker_shutdown(struct worker *w)
{
	w->draining = true;
	worker_listen_close_all(w);
	upstream_cache_free(w->ucache);
	w->ucache = upstream_cache_new();
	conn_drain_all(w);
	worker_fronts_drain(w);
	if (w->n_conns == 0)
		event_base_loopexit(w->base, NULL);
}

static void
worker_msg_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct worker_msg *m, *next;
	uint64_t v;

	/* reset the eventfd first: a post after this read wakes us again */
	while (read(w->wake_fd, &v, sizeof(v)) == -1 && errno == EINTR)
		;
	pthread_mutex_lock(&w->mu);
	m = w->msgs;
	w->msgs = NULL;
	pthread_mutex_unlock(&w->mu);
	for (; m != NULL; m = next) {
		next = m->next;
		switch (m->type) {
		case WORKER_MSG_SNAPSHOT:
			for (size_t i = 0; i < m->n_remove; i++)
				worker_listen_remove(w, m->remove[i]);
			for (size_t i = 0; i < m->n_add; i++)
				if (worker_listen_add(w, m->add[i]) == -1)
					log_warnx("worker %u: cannot listen on %s",
					    w->id, m->add[i]->text);
			if (m->snap != NULL)
				worker_switch(w, m->snap);
			break;
		case WORKER_MSG_SHUTDOWN:
			worker_shutdown(w);
			break;
		}
		server_worker_ack(w, m);
		free(m);
	}
	if (atomic_load(&w->brk))
		event_base_loopbreak(w->base);
}

/* ---- the thread ---------------------------------------------------------- */

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	char name[16];

	/* "limen-w0": what top -H, perf and bench/scaling.py see */
	snprintf(name, sizeof name, "limen-w%u", w->id % 1000);
	pthread_setname_np(pthread_self(), name);
	event_base_dispatch(w->base);
	accesslog_flush(w->alog);
	server_worker_exited(w);
	return NULL;
}

/*
 * The worker's event_base, with epoll's changelist: the event changes of
 * one loop pass are applied once per descriptor at the next epoll_wait
 * instead of one epoll_ctl each.  bufferevent_openssl adds and removes its
 * events several times per pass around a TLS handshake (issue 6: 10
 * epoll_ctl per connection down to 6).  libevent's caveat is descriptors
 * cloned with dup() registered in epoll: the only dup()s here are
 * worker_fd_slots' (an event added and deleted in one pass, which the
 * changelist cancels before it reaches epoll, so they never are).
 */
static struct event_base *
worker_base_new(void)
{
	struct event_config *cfg;
	struct event_base *base;

	if ((cfg = event_config_new()) == NULL)
		return NULL;
	/* Only this worker's thread uses its base (worker.h): no locks. */
	(void)event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
	(void)event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

int
worker_start(struct worker *w, struct snapshot *s, struct lsock **ls,
    size_t n_ls)
{
	sigset_t all, old;
	int rc;

	if ((w->base = worker_base_new()) == NULL ||
	    (w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    (w->msg_ev = event_new(w->base, w->wake_fd, EV_READ | EV_PERSIST,
	    worker_msg_cb, w)) == NULL ||
	    event_add(w->msg_ev, NULL) == -1 ||
	    (w->scratch_req = malloc(sizeof(struct h1_request))) == NULL ||
	    (w->scratch_resp = malloc(sizeof(struct h1_response))) == NULL ||
	    (w->ucache = upstream_cache_new()) == NULL ||
	    (w->flusher = flush_new(w->base)) == NULL ||
	    (w->pipes = splice_pipes_new(w->base)) == NULL ||
	    (w->alog = accesslog_buf_new(w)) == NULL ||
	    (w->cur = wsnap_new(s)) == NULL)
		return -1;
	for (size_t i = 0; i < n_ls; i++)
		if (worker_listen_add(w, ls[i]) == -1) {
			log_warnx("worker %u: cannot listen on %s", w->id,
			    ls[i]->text);
			return -1;
		}
	/* Signals belong to the control thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc == 0 ? 0 : -1;
}

void
workers_join(struct worker *ws, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (ws[i].base != NULL)
			pthread_join(ws[i].thread, NULL);
}

/*
 * Run what is still queued on a worker's base once its loop has ended.  A
 * bufferevent freed while one of its deferred callbacks is queued (a
 * connection freed by the shutdown drain right after its EOF was read)
 * stays referenced by that callback; event_base_free only cancels such
 * callbacks, so without this the bufferevent and its buffers would leak
 * (LeakSanitizer saw it after 10,000 connections closed at once).  The
 * callbacks run with the bufferevents' own callbacks already cleared.
 */
static void
worker_flush_base(struct worker *w)
{
	if (w->base == NULL)
		return;
	for (int i = 0; i < 16 && event_base_get_num_events(w->base,
	    EVENT_BASE_COUNT_ACTIVE) > 0; i++)
		event_base_loop(w->base, EVLOOP_NONBLOCK);
}

/* After the threads ended: free what they held (a forced shutdown may
 * leave connections, which are freed with their base). */
void
workers_free(struct worker *ws, unsigned n)
{
	if (ws == NULL)
		return;
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &ws[i];

		conn_kill_all(w);
		worker_fronts_kill(w);
		worker_listen_close_all(w);
		upstream_cache_free(w->ucache);
		worker_flush_base(w);
		accesslog_buf_free(w->alog);
		flush_free(w->flusher);
		splice_pipes_free(w->pipes);
		if (w->cur != NULL)
			wsnap_unref(w->cur);
		exchange_spares_free(w);
		if (w->msg_ev != NULL)
			event_free(w->msg_ev);
		if (w->wake_fd != -1)
			close(w->wake_fd);
		free(w->scratch_req);
		free(w->scratch_resp);
		if (w->base != NULL)
			event_base_free(w->base);
		pthread_mutex_destroy(&w->mu);
	}
	free(ws);
}
