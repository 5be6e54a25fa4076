/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_chunked.c — libFuzzer target for the chunked decoder, with a
 * differential check: the input decoded in one piece, in two pieces split
 * where the first two bytes say, and one byte at a time must give the
 * same verdict, the same body and the same number of bytes used.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/h1_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
	int rc;			/* 1 done, 0 needs more, -1 error */
	size_t used;		/* bytes used when done */
	size_t body_len;
	uint8_t *body;
};

/* Decode in[0..n) delivered as pieces ending at the given bounds. */
static void
decode(const uint8_t *in, size_t n, const size_t *bounds, size_t nb,
    struct result *r)
{
	struct h1_chunked c;
	size_t pos = 0, used, off, dl;
	enum h1_err err;

	h1_chunked_init(&c);
	r->rc = 0;
	r->used = 0;
	r->body_len = 0;
	for (size_t b = 0; b < nb && r->rc == 0; b++) {
		/* each piece in its own allocation: ASan sees over-reads */
		size_t plen = bounds[b] - pos, at = 0;
		uint8_t *piece = malloc(plen ? plen : 1);

		memcpy(piece, in + pos, plen);
		while (at < plen) {
			r->rc = h1_chunked_feed(&c, (const char *)piece + at,
			    plen - at, &used, &off, &dl, &err);
			if (r->rc == -1) {
				if (err != H1_ERR_CHUNK)
					abort();
				break;
			}
			if (used > plen - at || (dl > 0 && off + dl > used))
				abort();
			memcpy(r->body + r->body_len, piece + at + off, dl);
			r->body_len += dl;
			at += used;
			if (r->rc == 1)
				break;
			if (used == 0)
				abort();	/* no progress */
		}
		free(piece);
		pos += at;
	}
	r->used = pos;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static size_t bounds[1 << 16];
	struct result one, two, bytes;
	size_t split, n;
	const uint8_t *in;

	if (size < 2 || size > sizeof(bounds) / sizeof(bounds[0]))
		return 0;
	in = data + 2;
	n = size - 2;
	split = n ? ((size_t)data[0] << 8 | data[1]) % (n + 1) : 0;
	one.body = malloc(n + 1);
	two.body = malloc(n + 1);
	bytes.body = malloc(n + 1);

	bounds[0] = n;
	decode(in, n, bounds, 1, &one);
	bounds[0] = split;
	bounds[1] = n;
	decode(in, n, bounds, 2, &two);
	for (size_t i = 0; i < n; i++)
		bounds[i] = i + 1;
	decode(in, n, bounds, n, &bytes);

	if (one.rc != two.rc || one.rc != bytes.rc)
		abort();
	if (one.rc >= 0 && (one.body_len != two.body_len ||
	    one.body_len != bytes.body_len ||
	    memcmp(one.body, two.body, one.body_len) != 0 ||
	    memcmp(one.body, bytes.body, one.body_len) != 0))
		abort();
	if (one.rc == 1 && (one.used != two.used || one.used != bytes.used))
		abort();
	free(one.body);
	free(two.body);
	free(bytes.body);
	return 0;
}
