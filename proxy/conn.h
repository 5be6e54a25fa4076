/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * conn.h — a client connection and its HTTP/1.1 front (STYLE-DETAILS 3.6).
 *
 *   ACCEPTED ──> H1_IDLE <──────────────────────┐
 *                  │ first byte                 │ response done and
 *                  v                            │ request body read,
 *              H1_READ_HEAD ── head ──> H1_EXCHANGE (keep-alive)
 *                  │ bad / 408            │ 101 ──> TUNNEL ──> CLOSED
 *                  v                      v close / error / limit
 *               CLOSING (flush, lingering drain) ──> CLOSED
 *
 * One exchange at a time: a pipelined request waits in the input buffer
 * until the previous response is complete and its request body read.
 * The connection owns its bufferevent, which the listener creates (a
 * socket one; for TLS listeners a socket one too, whose session tlsio.h
 * reads and writes after accept.c's handshake).  Timers:
 * keepalive_timeout in H1_IDLE, header_timeout (total, from the first
 * byte) in H1_READ_HEAD, the same idle timeout between body reads, a
 * short linger in CLOSING.
 */
#ifndef LIMEN_PROXY_CONN_H
#define LIMEN_PROXY_CONN_H

#include <stdbool.h>
#include <sys/socket.h>

#include "conf/config.h"

struct bufferevent;
struct worker;

enum conn_state {
	CONN_ACCEPTED,
	CONN_H1_IDLE,
	CONN_H1_READ_HEAD,
	CONN_H1_EXCHANGE,
	CONN_TUNNEL,
	CONN_CLOSING,
	CONN_CLOSED
};

/*
 * Take over bev (a connected client) in worker w.  sa is the client's
 * address, local the listening address it came to, tls whether bev
 * carries TLS.  Returns 0, or -1 (bev freed).
 */
int conn_start(struct worker *w, struct bufferevent *bev,
    const struct sockaddr *sa, socklen_t sa_len,
    const struct sockaddr_storage *local, socklen_t local_len, bool tls);
/* Graceful shutdown of worker w's connections: close idle ones now, the
 * others after their current response. */
void conn_drain_all(struct worker *w);
/* After a forced shutdown: free every connection of w. */
void conn_kill_all(struct worker *w);
const char *conn_state_name(enum conn_state s);

#endif
