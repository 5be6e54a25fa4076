/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * compress.c — gzip (zlib) and zstd (libzstd) stages of the stream chain.
 *
 * Encoders compress what they are given and push the output on; decoders
 * do the reverse and insist on a whole, single stream: data after the end
 * of the gzip member / zstd frame, or a stream that stops before its end,
 * is an error (a truncated or tampered backup must not restore silently).
 */
#include "backup/backup.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define COMPRESS_OUT	(64 * 1024)

/* ---- gzip ------------------------------------------------------------------ */

struct compress_gz {
	struct stream s;
	z_stream z;
	bool inflating;
	bool ended;		/* inflate saw Z_STREAM_END */
	unsigned char out[COMPRESS_OUT];
};

static int
gz_run(struct compress_gz *g, const void *buf, size_t len, int flush)
{
	g->z.next_in = (unsigned char *)(uintptr_t)buf;
	g->z.avail_in = (uInt)len;
	for (;;) {
		int zr;
		size_t have;

		g->z.next_out = g->out;
		g->z.avail_out = sizeof g->out;
		if (g->inflating) {
			if (g->ended) {
				if (g->z.avail_in > 0) {
					stream_set_err(&g->s,
					    "data after the end of the gzip stream");
					return -1;
				}
				return 0;
			}
			zr = inflate(&g->z, Z_NO_FLUSH);
			if (zr == Z_STREAM_END)
				g->ended = true;
			else if (zr == Z_BUF_ERROR)
				zr = Z_OK;	/* needs more input */
			else if (zr != Z_OK) {
				stream_set_err(&g->s, "gzip: %s",
				    g->z.msg ? g->z.msg : "corrupt data");
				return -1;
			}
		} else {
			zr = deflate(&g->z, flush);
			if (zr == Z_STREAM_ERROR) {
				stream_set_err(&g->s, "gzip: deflate failed");
				return -1;
			}
		}
		have = sizeof g->out - g->z.avail_out;
		if (have > 0 && stream_write(g->s.next, g->out, have) == -1)
			return -1;
		if (g->inflating) {
			if (g->z.avail_in == 0 && have < sizeof g->out)
				return 0;
			if (g->ended && g->z.avail_in == 0)
				return 0;
		} else if (flush == Z_FINISH) {
			if (zr == Z_STREAM_END)
				return 0;
		} else if (g->z.avail_in == 0 && g->z.avail_out != 0)
			return 0;
	}
}

static int
gz_write(struct stream *s, const void *buf, size_t len)
{
	return gz_run((struct compress_gz *)s, buf, len, Z_NO_FLUSH);
}

static int
gz_finish(struct stream *s)
{
	struct compress_gz *g = (struct compress_gz *)s;

	if (g->inflating) {
		if (!g->ended) {
			stream_set_err(s, "gzip stream is truncated");
			return -1;
		}
	} else if (gz_run(g, NULL, 0, Z_FINISH) == -1)
		return -1;
	return stream_finish(s->next);
}

static void
gz_free(struct stream *s)
{
	struct compress_gz *g = (struct compress_gz *)s;

	if (g->inflating)
		inflateEnd(&g->z);
	else
		deflateEnd(&g->z);
	free(g);
}

static struct stream *
gz_new(struct stream *next, bool inflating)
{
	struct compress_gz *g = calloc(1, sizeof *g);
	int zr;

	if (g == NULL)
		return NULL;
	g->s.write = gz_write;
	g->s.finish = gz_finish;
	g->s.free = gz_free;
	g->s.next = next;
	g->inflating = inflating;
	if (inflating)
		zr = inflateInit2(&g->z, 16 + MAX_WBITS);
	else
		zr = deflateInit2(&g->z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8,
		    Z_DEFAULT_STRATEGY);
	if (zr != Z_OK) {
		free(g);
		return NULL;
	}
	return &g->s;
}

struct stream *
compress_gzip_new(struct stream *next)
{
	return gz_new(next, false);
}

struct stream *
compress_gunzip_new(struct stream *next)
{
	return gz_new(next, true);
}

/* ---- zstd ------------------------------------------------------------------ */

struct compress_zst {
	struct stream s;
	ZSTD_CStream *cs;
	ZSTD_DStream *ds;
	size_t last;		/* last decompressStream result: 0 = frame done */
	bool any;		/* any input seen (decoder) */
	unsigned char out[COMPRESS_OUT];
};

static int
zst_write(struct stream *s, const void *buf, size_t len)
{
	struct compress_zst *z = (struct compress_zst *)s;
	ZSTD_inBuffer in = { buf, len, 0 };

	while (in.pos < in.size) {
		ZSTD_outBuffer out = { z->out, sizeof z->out, 0 };
		size_t r;

		if (z->ds) {
			if (z->any && z->last == 0) {
				stream_set_err(s,
				    "data after the end of the zstd frame");
				return -1;
			}
			z->any = true;
			r = ZSTD_decompressStream(z->ds, &out, &in);
			if (!ZSTD_isError(r))
				z->last = r;
		} else
			r = ZSTD_compressStream2(z->cs, &out, &in,
			    ZSTD_e_continue);
		if (ZSTD_isError(r)) {
			stream_set_err(s, "zstd: %s", ZSTD_getErrorName(r));
			return -1;
		}
		if (out.pos > 0 && stream_write(s->next, z->out, out.pos) == -1)
			return -1;
	}
	/* the decoder may still hold output for the input it consumed */
	while (z->ds && z->last != 0) {
		ZSTD_inBuffer none = { NULL, 0, 0 };
		ZSTD_outBuffer out = { z->out, sizeof z->out, 0 };
		size_t r = ZSTD_decompressStream(z->ds, &out, &none);

		if (ZSTD_isError(r)) {
			stream_set_err(s, "zstd: %s", ZSTD_getErrorName(r));
			return -1;
		}
		z->last = r;
		if (out.pos == 0)
			break;
		if (stream_write(s->next, z->out, out.pos) == -1)
			return -1;
	}
	return 0;
}

static int
zst_finish(struct stream *s)
{
	struct compress_zst *z = (struct compress_zst *)s;

	if (z->ds) {
		if (!z->any || z->last != 0) {
			stream_set_err(s, "zstd stream is truncated");
			return -1;
		}
		return stream_finish(s->next);
	}
	for (;;) {
		ZSTD_inBuffer in = { NULL, 0, 0 };
		ZSTD_outBuffer out = { z->out, sizeof z->out, 0 };
		size_t r = ZSTD_compressStream2(z->cs, &out, &in, ZSTD_e_end);

		if (ZSTD_isError(r)) {
			stream_set_err(s, "zstd: %s", ZSTD_getErrorName(r));
			return -1;
		}
		if (out.pos > 0 && stream_write(s->next, z->out, out.pos) == -1)
			return -1;
		if (r == 0)
			break;
	}
	return stream_finish(s->next);
}

static void
zst_free(struct stream *s)
{
	struct compress_zst *z = (struct compress_zst *)s;

	ZSTD_freeCStream(z->cs);
	ZSTD_freeDStream(z->ds);
	free(z);
}

static struct stream *
zst_new(struct stream *next, bool decoding)
{
	struct compress_zst *z = calloc(1, sizeof *z);

	if (z == NULL)
		return NULL;
	z->s.write = zst_write;
	z->s.finish = zst_finish;
	z->s.free = zst_free;
	z->s.next = next;
	if (decoding) {
		if ((z->ds = ZSTD_createDStream()) == NULL)
			goto fail;
		ZSTD_initDStream(z->ds);
	} else {
		if ((z->cs = ZSTD_createCStream()) == NULL)
			goto fail;
		ZSTD_CCtx_setParameter(z->cs, ZSTD_c_compressionLevel, 3);
		ZSTD_CCtx_setParameter(z->cs, ZSTD_c_checksumFlag, 1);
	}
	return &z->s;
fail:
	free(z);
	return NULL;
}

struct stream *
compress_zstd_new(struct stream *next)
{
	return zst_new(next, false);
}

struct stream *
compress_unzstd_new(struct stream *next)
{
	return zst_new(next, true);
}
