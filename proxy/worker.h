/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * worker.h — one event-loop thread: its own event_base, its own listening
 * sockets (SO_REUSEPORT), connections, idle upstream connections and
 * access-log buffer.  Nothing on the request path is shared between
 * workers except the read-only snapshot and a few atomics (pool server
 * counters, rate-limit buckets).
 *
 * The control thread talks to a worker only through worker_post(): a
 * message queued under the worker's own mutex (taken once per reload, never
 * per request) and a write to the worker's eventfd, which its loop watches;
 * worker_break() (forced shutdown) goes the same way.  Nothing else of
 * another thread touches a worker's base, so the base is created without
 * libevent's locks (EVENT_BASE_FLAG_NOLOCK: issue 6 measured a lock and
 * unlock around every event_add/event_del/deferred callback otherwise).
 * The worker answers through server_worker_ack().
 */
#ifndef LIMEN_PROXY_WORKER_H
#define LIMEN_PROXY_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

struct event;
struct event_base;
struct evconnlistener;
struct lsock;
struct snapshot;
struct wsnap;
struct conn;
struct conn_idles;
struct upstream_cache;
struct flusher;
struct splice_pipes;
struct accesslog_buf;
struct arena;
struct evbuffer;
struct h1_request;
struct h1_response;

enum worker_msg_type {
	WORKER_MSG_SNAPSHOT,		/* switch to snap; add/remove listeners */
	WORKER_MSG_SHUTDOWN		/* stop accepting, finish, exit */
};

struct worker_msg {
	enum worker_msg_type type;
	struct snapshot *snap;		/* a reference for the worker */
	struct lsock **add;		/* the worker takes fds[id] of each */
	size_t n_add;
	struct lsock **remove;		/* the worker closes its socket of each */
	size_t n_remove;
	struct worker_msg *next;
};

struct wlisten {
	struct evconnlistener *evl;
	struct lsock *ls;
	struct worker *w;
	struct event *backoff;		/* re-enables accepting after EMFILE */
	bool backoff_logged;		/* one log line per episode */
	struct wlisten *next;
};

TAILQ_HEAD(conn_list, conn);

/*
 * A client connection that is not (yet) a `struct conn`: a TLS handshake
 * or a PROXY protocol header in progress (accept.c), an HTTP/2 session
 * (h2_conn.c).  It counts in n_conns like a conn, so a graceful shutdown
 * waits for it too.
 */
struct wfront {
	TAILQ_ENTRY(wfront) link;
	/* graceful shutdown: finish what is in flight, then close */
	void (*drain)(struct wfront *f);
	/* forced shutdown (loop stopped): free now */
	void (*kill)(struct wfront *f);
};
TAILQ_HEAD(wfront_list, wfront);

struct worker {
	unsigned id;
	pthread_t thread;
	struct event_base *base;
	struct wsnap *cur;		/* the current configuration */

	pthread_mutex_t mu;		/* guards msgs only */
	struct worker_msg *msgs;
	struct event *msg_ev;		/* reads wake_fd */
	int wake_fd;			/* eventfd: msgs or brk posted */
	atomic_bool brk;		/* worker_break: leave the loop now */

	struct wlisten *listens;
	struct conn_list conns;
	struct wfront_list fronts;	/* handshakes, HTTP/2 sessions */
	unsigned n_conns;		/* conns + fronts */
	unsigned accept_limits;		/* connlimit flags for conn_start */
	int fd_slots;			/* libevent has entries below this
					 * descriptor number (worker.c) */
	bool draining;			/* shutting down */

	struct h1_request *scratch_req;	/* parse buffers, reused */
	struct h1_response *scratch_resp;
	struct upstream_cache *ucache;	/* idle upstream connections */
	struct flusher *flusher;	/* write-behind queue (flush.h) */
	struct splice_pipes *pipes;	/* splice(2) bodies (splice.h) */
	struct event *conn_sweep;	/* conn.c: idle conns shed buffers */
	struct conn_idles *idles;	/* conn.c: compact idle conns */
	struct accesslog_buf *alog;

	/* exchange.c: arenas and request-body buffers of ended exchanges,
	 * reused by the next ones instead of 3 mallocs and frees each */
#define WORKER_XSPARES 32
	struct arena *xspare_arena[WORKER_XSPARES];
	struct evbuffer *xspare_body[WORKER_XSPARES];
	unsigned n_xspare;

	uint64_t reqid_seq;
	char reqid_prefix[12];
	time_t date_sec;		/* cached Date header */
	char date[40];
};

/* Create n workers (threads not started yet); NULL on failure. */
struct worker *workers_new(unsigned n);
/* Start the thread of worker w with snapshot s and its first listeners. */
int worker_start(struct worker *w, struct snapshot *s, struct lsock **ls,
    size_t n_ls);
void worker_post(struct worker *w, struct worker_msg *m);
/* From another thread: make w's loop stop at once (forced shutdown). */
void worker_break(struct worker *w);
void workers_join(struct worker *ws, unsigned n);
void workers_free(struct worker *ws, unsigned n);

/* Worker-thread helpers. */
const char *worker_date(struct worker *w);	/* IMF-fixdate, cached per second */
/* A fresh request id in out (>= 33 bytes); returns its length. */
size_t worker_request_id(struct worker *w, char *out);
void worker_conn_add(struct worker *w, struct conn *c);
void worker_conn_remove(struct worker *w, struct conn *c);
void worker_front_add(struct worker *w, struct wfront *f);
void worker_front_remove(struct worker *w, struct wfront *f);
uint64_t worker_now_ns(void);

#endif
