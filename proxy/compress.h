/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * compress.h — response compression (SPEC §2 routes[].compress).
 *
 * Three parts, all free of I/O, for the runtime's response path:
 *
 * 1. compress_accept(): the encoding a client prefers, from its
 *    Accept-Encoding (q-values, `*`, `identity;q=0`); ties go to br, then
 *    zstd, then gzip.
 * 2. compress_decide(): whether this response may be compressed at all
 *    (status, Content-Type, Content-Encoding, Content-Range, size,
 *    Cache-Control: no-transform) and whether it varies by
 *    Accept-Encoding.  If the decision is an encoding, the runtime edits
 *    the response head before sending it:
 *      - Content-Encoding: compress_enc_name(enc)
 *      - Content-Length removed (the body becomes EXCHANGE_BODY_STREAM,
 *        chunked on HTTP/1.1), Accept-Ranges removed
 *      - ETag made weak: compress_etag_weaken()
 *    and, whenever decision.vary is set (also when not compressing, so
 *    caches keep one copy per encoding): Vary merged with
 *    compress_vary_merge().
 * 3. struct compress_stream: a streaming encoder (zlib gzip, libbrotli,
 *    libzstd) fed body pieces as they arrive and writing into an
 *    evbuffer; it never holds more than the codec's window, so a 1 GiB
 *    body costs the same memory as a small one.  compress_stream_finish()
 *    ends the stream; compress_stream_flush() makes everything written so
 *    far decodable (for responses that trickle).
 *
 * The `static` action uses the same three steps for files.
 */
#ifndef LIMEN_PROXY_COMPRESS_H
#define LIMEN_PROXY_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct compress_stream;

enum compress_enc {
	COMPRESS_ENC_IDENTITY,
	COMPRESS_ENC_GZIP,
	COMPRESS_ENC_BR,
	COMPRESS_ENC_ZSTD
};

#define COMPRESS_MIN_LENGTH 1024	/* known Content-Length below: no */

/* Levels: fast enough for on-the-fly use (nginx/Caddy-like). */
#define COMPRESS_GZIP_LEVEL 5
#define COMPRESS_BR_QUALITY 4
#define COMPRESS_BR_LGWIN 18		/* 256 KiB window */
#define COMPRESS_ZSTD_LEVEL 3
#define COMPRESS_ZSTD_WINDOWLOG 19	/* 512 KiB window */

/*
 * The encoding to use for a request's Accept-Encoding value (NULL: the
 * header is absent, which means identity).  Codings the client gives q=0,
 * or that fall under `*;q=0` without being named, are never chosen.
 * Malformed elements are ignored; the first of duplicate codings counts.
 */
enum compress_enc compress_accept(const char *value, size_t len);

/* "gzip", "br", "zstd" ("identity" for none). */
const char *compress_enc_name(enum compress_enc enc);

/* Whether a Content-Type (parameters allowed) is worth compressing. */
bool compress_type_ok(const char *type, size_t len);

struct compress_head {
	int status;
	const char *content_type;	/* NULL = absent */
	size_t content_type_len;
	const char *content_encoding;	/* NULL = absent */
	size_t content_encoding_len;
	const char *cache_control;	/* NULL = absent */
	size_t cache_control_len;
	bool content_range;		/* a Content-Range header is present */
	int64_t content_length;		/* -1 = unknown (streamed) */
};

struct compress_decision {
	enum compress_enc enc;		/* IDENTITY: leave the body alone */
	bool vary;			/* add Accept-Encoding to Vary */
};

/*
 * Decide for one response head, given what compress_accept() returned for
 * the request.  Never compresses 1xx, 204, 206, 304, ranges, responses
 * that already have a Content-Encoding (other than identity), types that
 * compress_type_ok() refuses, `no-transform`, or a known length below
 * COMPRESS_MIN_LENGTH.
 */
struct compress_decision compress_decide(const struct compress_head *h,
    enum compress_enc accepted);

/*
 * W/"x" for a strong ETag "x" (a compressed body is not byte-identical);
 * weak tags are copied as they are.  Returns the length written to out
 * (NUL-terminated), or -1 if cap is too small or the tag is malformed.
 */
int compress_etag_weaken(const char *etag, size_t len, char *out,
    size_t cap);

/*
 * The Vary value with Accept-Encoding added (vary NULL: no Vary header
 * yet).  Returns the length written to out, 0 if the existing value
 * already covers it ("*" or Accept-Encoding listed; nothing to change),
 * -1 if cap is too small.
 */
int compress_vary_merge(const char *vary, size_t len, char *out, size_t cap);

/* A streaming encoder; NULL for IDENTITY or when out of memory. */
struct compress_stream *compress_stream_new(enum compress_enc enc);
/* Compress len bytes, appending whatever output is ready to out. */
int compress_stream_write(struct compress_stream *s, const void *data,
    size_t len, struct evbuffer *out);
/* The same for the first n bytes of in, which are drained. */
int compress_stream_write_buffer(struct compress_stream *s,
    struct evbuffer *in, size_t n, struct evbuffer *out);
/* Emit everything written so far in a decodable form (sync flush). */
int compress_stream_flush(struct compress_stream *s, struct evbuffer *out);
/* End the stream (trailer, checksums).  No write after this. */
int compress_stream_finish(struct compress_stream *s, struct evbuffer *out);
void compress_stream_free(struct compress_stream *s);
/* Bytes fed in and bytes produced so far (for logs and metrics). */
uint64_t compress_stream_in(const struct compress_stream *s);
uint64_t compress_stream_out(const struct compress_stream *s);

#endif
