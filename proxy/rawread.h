/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rawread.h — socket bufferevent reads without the FIONREAD ioctl (issue 6).
 *
 * libevent 2.1's socket bufferevent asks the kernel how many bytes are
 * waiting (ioctl FIONREAD) before every read, then reads at most 4 KiB:
 * one extra system call per read on each side of every proxied request.
 * rawread_attach() points the bufferevent's read event at rawread's own
 * callback, which reads straight into the input buffer (one readv into
 * up to RAWREAD_SIZE bytes of reserved space, never past the read
 * high-water mark) and then does what libevent's callback does: run the
 * read callback (deferred as the bufferevent's options say), report EOF,
 * an error or a read timeout through the event callback and stop
 * reading.  Everything else (enable/disable, timeouts, the low-water
 * mark) stays libevent's, on the same event.
 *
 * The read high-water mark: set with rawread_set_high(), rawread keeps it
 * itself.  At the mark rawread_cb removes the read event, and its own
 * callback on the input buffer adds it back once the input is below the
 * mark again.  libevent's mark (bufferevent_setwatermark) would re-add the
 * read event on every change of the input, mark reached or not: 5 times
 * per proxied request, about 5 % of the worker's instructions (issue 6).
 * A mark set with bufferevent_setwatermark (tunnels, lingering) still
 * works: both callbacks then resume reading.
 *
 * Plain socket bufferevents only (not bufferevent_openssl), attached
 * while their read event is not pending: right after
 * bufferevent_socket_new, or after bufferevent_disable(EV_READ).
 */
#ifndef LIMEN_PROXY_RAWREAD_H
#define LIMEN_PROXY_RAWREAD_H

#include <stddef.h>

struct bufferevent;

#define RAWREAD_SIZE 4096		/* per read call, as libevent 2.1 */

/* Take over bev's socket reads.  0, or -1 (bev unchanged). */
int rawread_attach(struct bufferevent *bev);
/* bev's read high-water mark (low mark 0): kept by rawread when attached,
 * else bufferevent_setwatermark.  0 means none. */
void rawread_set_high(struct bufferevent *bev, size_t high);
/*
 * How many bytes one read for bev may take (rawread's, and tlsio.c's own
 * reads): cap, less what is left below the read high-water mark, at most
 * the bufferevent's max single read.  0 when the input is at the mark:
 * the caller suspends reading, each in its own way.
 */
size_t rawread_budget(struct bufferevent *bev, size_t cap);

#endif
