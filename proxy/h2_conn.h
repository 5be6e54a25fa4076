/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * h2_conn.h — an HTTP/2 client connection (RFC 9113) over TLS, with
 * nghttp2 doing the framing, HPACK, flow-control bookkeeping and
 * protocol checks.  Each request stream becomes an exchange (exchange.h),
 * routed, checked and proxied exactly like an HTTP/1.1 request; this file
 * is the exchange front for streams.
 *
 *   preface/SETTINGS ──> OPEN (streams come and go) ──> GOAWAY ──> CLOSED
 *                          │ idle keepalive_timeout, flood, protocol error
 *                          └──────────────────────────────> GOAWAY ──> CLOSED
 *
 * Limits (see docs/http.md): 128 concurrent streams, a 32 KiB header list
 * (431 above, stream reset at twice that), 8 CONTINUATION frames per
 * header block, a budget of frames that do no work (SETTINGS, PING,
 * PRIORITY, RST_STREAM, empty DATA) and of client resets per 10 s past
 * which the connection gets GOAWAY ENHANCE_YOUR_CALM, a 256 KiB receive
 * window per stream and 1 MiB per connection, opened again only as the
 * request bodies are consumed by the upstream side.
 */
#ifndef LIMEN_PROXY_H2_CONN_H
#define LIMEN_PROXY_H2_CONN_H

#include <sys/socket.h>

struct bufferevent;
struct worker;

#define H2_MAX_CONCURRENT_STREAMS 128
#define H2_MAX_HEADER_LIST (32 * 1024)	/* 431 above (as HTTP/1.1) */
#define H2_STREAM_WINDOW (256 * 1024)
#define H2_CONN_WINDOW (1024 * 1024)
#define H2_FLOOD_WINDOW_MS 10000
#define H2_FLOOD_MAX 1000		/* no-op frames per window */
#define H2_RESET_MAX 200		/* client resets per window */

/*
 * Take over bev, a TLS connection whose ALPN chose h2, in worker w: the
 * client's address (from PROXY protocol or the socket) and the listening
 * address it came to.  Returns 0, or -1 with bev freed.
 */
int h2_conn_start(struct worker *w, struct bufferevent *bev,
    const struct sockaddr *sa, socklen_t sa_len,
    const struct sockaddr_storage *local, socklen_t local_len);

#endif
