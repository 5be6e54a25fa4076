/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * accept.h — what happens to an accepted socket before HTTP: the PROXY
 * protocol header (listeners with `proxy_protocol: true`), then the TLS
 * handshake (listeners with `tls:`), then the protocol ALPN chose: an
 * HTTP/1.1 connection (conn.c) or an HTTP/2 session (h2_conn.c).
 *
 *   accepted ─> [PROXY header] ─> [TLS handshake] ─┬─ h2 ──────> h2_conn_start
 *                                                  ├─ http/1.1 ─> conn_start
 *                                                  └─ acme-tls/1: close
 *
 * Each step has a deadline (global.header_timeout, 10 s by default) and a
 * bounded buffer; a connection in one of these steps counts as a worker
 * connection (struct wfront), so a graceful shutdown closes it and a
 * forced one frees it.  The listener's configuration and TLS context are
 * taken from the worker's current snapshot when the step begins.
 */
#ifndef LIMEN_PROXY_ACCEPT_H
#define LIMEN_PROXY_ACCEPT_H

#include <sys/socket.h>

#include <event2/util.h>

struct worker;

/* Take over the accepted socket fd (client sa) that came to the
 * listening address local. */
void accept_start(struct worker *w, evutil_socket_t fd,
    const struct sockaddr *sa, socklen_t sa_len,
    const struct sockaddr_storage *local, socklen_t local_len);

#endif
