/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * headbuf.c — building an HTTP/1.1 head without printf (see headbuf.h).
 */
#include "proxy/headbuf.h"

#include <event2/buffer.h>

void
headbuf_init(struct headbuf *hb, struct evbuffer *out)
{
	hb->out = out;
	hb->len = 0;
	hb->failed = false;
}

static void
headbuf_flush(struct headbuf *hb)
{
	if (hb->len > 0 && evbuffer_add(hb->out, hb->buf, hb->len) == -1)
		hb->failed = true;
	hb->len = 0;
}

void
headbuf_add_slow(struct headbuf *hb, const void *p, size_t n)
{
	headbuf_flush(hb);
	if (n <= sizeof(hb->buf)) {
		memcpy(hb->buf, p, n);
		hb->len = n;
	} else if (evbuffer_add(hb->out, p, n) == -1) {
		hb->failed = true;
	}
}

int
headbuf_finish(struct headbuf *hb)
{
	headbuf_flush(hb);
	return hb->failed ? -1 : 0;
}

size_t
headbuf_fmt_u64(char *out, uint64_t v)
{
	char tmp[20];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

size_t
headbuf_fmt_hex(char *out, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[16];
	size_t n = 0, i;

	do {
		tmp[n++] = digits[v & 0xf];
		v >>= 4;
	} while (v != 0);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

void
headbuf_u64(struct headbuf *hb, uint64_t v)
{
	char d[20];

	headbuf_add(hb, d, headbuf_fmt_u64(d, v));
}

void
headbuf_hex(struct headbuf *hb, uint64_t v)
{
	char d[16];

	headbuf_add(hb, d, headbuf_fmt_hex(d, v));
}
