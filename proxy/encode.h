/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * encode.h — response compression on the exchange's response path (SPEC
 * §2 routes[].compress), with the pure parts of proxy/compress.h.
 *
 * exchange_send_head() calls encode_head() for routes with `compress:
 * true`: it decides from the request's Accept-Encoding and the response
 * head, edits the head (Content-Encoding, Vary, weak ETag, no
 * Content-Length / Accept-Ranges) and switches the framing to
 * EXCHANGE_BODY_STREAM (chunked towards HTTP/1.1 clients).  Then
 * exchange_send_body() passes each piece through encode_body() and
 * exchange_send_end() calls encode_end() for the trailer.  Input is
 * compressed 64 KiB at a time while the front's output is under
 * EXCHANGE_BUF_HIGH (a static file handed over whole waits as a file
 * reference, resumed by on_drained), each step sync-flushed, so memory
 * stays bounded and a trickling response is never held back.  Works for any
 * action (proxy, static; limen's own small answers fall under the
 * minimum size).
 */
#ifndef LIMEN_PROXY_ENCODE_H
#define LIMEN_PROXY_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/exchange.h"

struct evbuffer;

/* Edit the head and the framing; 0, or -1 (out of memory). */
int encode_head(struct exchange *x, enum exchange_body *body,
    uint64_t *length);
/* Take n bytes of src (drained) to compress and send; 0 or -1. */
int encode_body(struct exchange *x, struct evbuffer *src, size_t n);
/* Finish the stream and send the rest: 0, -1, or 1 when input still
 * waits for the client to read (encode.c calls exchange_send_end() again
 * once it is out). */
int encode_end(struct exchange *x);

#endif
