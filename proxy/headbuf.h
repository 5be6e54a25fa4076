/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * headbuf.h — building an HTTP/1.1 head without printf (issue 6).
 *
 * The request head towards an upstream (action_proxy.c) and the response
 * head towards an HTTP/1.1 client (conn.c) used to go out as one
 * evbuffer_add or evbuffer_add_printf per piece: about 40 calls per
 * proxied request, each running the evbuffer's callbacks, plus printf's
 * format parsing (callgrind: a third of the worker's instructions).  A
 * headbuf collects the pieces in a buffer on the caller's stack and hands
 * them to the evbuffer in one evbuffer_add when finished (or whenever the
 * buffer is full, so a head of any size works).
 *
 *   struct headbuf hb;
 *   headbuf_init(&hb, out);
 *   HEADBUF_LIT(&hb, "HTTP/1.1 ");  headbuf_u64(&hb, 200);  ...
 *   if (headbuf_finish(&hb) == -1) ...
 *
 * The integer formatters print exactly what "%llu" and "%llx" print.
 */
#ifndef LIMEN_PROXY_HEADBUF_H
#define LIMEN_PROXY_HEADBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct evbuffer;

#define HEADBUF_SIZE 2048

struct headbuf {
	struct evbuffer *out;
	size_t len;
	bool failed;		/* an evbuffer_add failed (out of memory) */
	char buf[HEADBUF_SIZE];
};

void headbuf_init(struct headbuf *hb, struct evbuffer *out);
/* Hands what is buffered to the evbuffer; 0, or -1 if any add failed. */
int headbuf_finish(struct headbuf *hb);
/* The slow path of headbuf_add: the buffer is full. */
void headbuf_add_slow(struct headbuf *hb, const void *p, size_t n);
/* v in decimal, as "%llu". */
void headbuf_u64(struct headbuf *hb, uint64_t v);
/* v in lower-case hexadecimal, as "%llx" (chunk sizes). */
void headbuf_hex(struct headbuf *hb, uint64_t v);

static inline void
headbuf_add(struct headbuf *hb, const void *p, size_t n)
{
	if (n <= sizeof(hb->buf) - hb->len) {
		memcpy(hb->buf + hb->len, p, n);
		hb->len += n;
	} else {
		headbuf_add_slow(hb, p, n);
	}
}

static inline void
headbuf_str(struct headbuf *hb, const char *s)
{
	headbuf_add(hb, s, strlen(s));
}

/* A string literal, its length known at compile time. */
#define HEADBUF_LIT(hb, s) headbuf_add((hb), (s), sizeof(s) - 1)

/* Formatters for other writers: the digits of v at out (no NUL), their
 * count returned; out needs 20 bytes (decimal) or 16 (hex). */
size_t headbuf_fmt_u64(char *out, uint64_t v);
size_t headbuf_fmt_hex(char *out, uint64_t v);

#endif
