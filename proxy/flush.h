/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * flush.h — write-behind for plain socket bufferevents (issue 6).
 *
 * A socket bufferevent with EV_WRITE enabled arms its write event (one
 * epoll_ctl) as soon as bytes land in its output and disarms it (another
 * one) once they are written: two system calls besides the write itself,
 * on each side of every proxied request.  A bufferevent "attached" here
 * keeps EV_WRITE disabled while its output is empty.  Whoever adds bytes
 * calls flush_queue(); once per loop pass, after the callbacks that
 * produced the bytes, the worker's flusher writes every queued output
 * straight to its socket (one writev).  Only what the socket does not
 * take arms the write event (bufferevent_enable EV_WRITE, the bufferevent
 * then writes as usual); the owner's write callback calls
 * flush_written() once the output is empty, which disables EV_WRITE
 * again.  When the direct write empties the output, the flusher calls
 * the bufferevent's write callback itself (from its own event, so never
 * under an action's feet), as the bufferevent would have.
 *
 *   detached ──attach──> idle ──queue──> queued ──run──> idle (drained)
 *                         ^                  │ short write
 *                         └── written ── EV_WRITE on (bufferevent writes)
 *
 * Only for socket bufferevents (bufferevent_openssl does its own writes;
 * tlsio.h's TLS ones set the item's writer)
 * and only on the worker's thread.  Invariant while attached: the output
 * is empty, or the item is queued, or EV_WRITE is enabled.
 */
#ifndef LIMEN_PROXY_FLUSH_H
#define LIMEN_PROXY_FLUSH_H

#include <stdbool.h>
#include <sys/queue.h>

struct bufferevent;
struct event_base;

struct flush_item {
	TAILQ_ENTRY(flush_item) link;
	struct bufferevent *bev;	/* NULL: detached */
	bool queued;
	/* NULL: evbuffer_write to the socket; else writes the output itself
	 * (a TLS session, tlsio.h), 0 or -1 */
	int (*write)(struct bufferevent *bev);
};

struct flusher;

struct flusher *flush_new(struct event_base *base);
void flush_free(struct flusher *f);
/* Take over bev's writes: EV_WRITE off while its output is empty. */
void flush_attach(struct flush_item *it, struct bufferevent *bev);
/* Hand bev's writes back (leaves EV_WRITE as it is; the caller enables
 * it when the bufferevent should write by itself again). */
void flush_detach(struct flusher *f, struct flush_item *it);
/* Bytes were added to the output: write them at the end of this pass.
 * Nothing happens for a detached item or an empty output. */
void flush_queue(struct flusher *f, struct flush_item *it);
/* From the owner's write callback: the output is empty, EV_WRITE off. */
void flush_written(struct flush_item *it);

#endif
