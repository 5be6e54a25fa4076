/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tlsio.h — TLS on an HTTP/1.1 client connection after the handshake
 * (issue 6), with the system calls of a plain one: one read(2) per
 * readable event, one write(2) per response, no epoll_ctl per request.
 *
 * bufferevent_openssl (which runs the handshake, see accept.c) costs per
 * request two reads (OpenSSL without read-ahead reads the 5-byte record
 * header, then the record) and two epoll_ctl (it arms its write event
 * when the output fills and disarms it when it is written), and its write
 * waits for the next loop pass.  Here the session moves, once the
 * handshake is done, onto a plain socket bufferevent whose two events run
 * our callbacks (as rawread.c does for plain reads):
 *   read   one read(2) of what the socket has into a per-thread buffer,
 *          then SSL_read until OpenSSL wants more, every record decrypted
 *          from memory (the SSL's BIO serves that buffer; no system call);
 *   write  SSL_write of up to one record from the output, its BIO writes
 *          the record with send(2).  The connection's flusher (flush.h)
 *          calls tlsio_flush at the end of the loop pass; the write event
 *          takes over only when the socket is full, as for plain sockets.
 * The rest of the code keeps bufferevent semantics (callbacks, watermarks,
 * timeouts, enable/disable): only the bytes go through the SSL.
 *
 * Only for the worker's thread.  The bufferevent must be freed with
 * tlsio_free (it frees the session too).
 */
#ifndef LIMEN_PROXY_TLSIO_H
#define LIMEN_PROXY_TLSIO_H

#include <openssl/ssl.h>

struct bufferevent;

/*
 * Move the open session of hs (a bufferevent_openssl whose handshake just
 * completed, made with BEV_OPT_CLOSE_ON_FREE) onto a new socket
 * bufferevent of the same socket (options as given, plus
 * BEV_OPT_CLOSE_ON_FREE and BEV_OPT_DEFER_CALLBACKS, which tlsio needs), with what hs had already decrypted in its input.  hs is freed
 * either way; on failure (NULL) its socket is closed too.
 */
struct bufferevent *tlsio_adopt(struct bufferevent *hs, int options);

/* The SSL of bev: a tlsio bufferevent's, a bufferevent_openssl's, or
 * NULL for a plain bufferevent. */
SSL *tlsio_ssl(struct bufferevent *bev);

/* Free a tlsio bufferevent and its session (a plain one: just free it). */
void tlsio_free(struct bufferevent *bev);

/*
 * Write bev's output through the SSL now, up to a full socket (the
 * flush_item writer).  0, or -1 on a TLS or socket error (the write
 * event then reports it through the event callback).
 */
int tlsio_flush(struct bufferevent *bev);

#endif
