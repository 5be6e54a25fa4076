/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * compress.c — Accept-Encoding negotiation, the compress-or-not decision
 * and streaming encoders (see compress.h).
 *
 * Each encoder writes straight into space reserved in the output evbuffer
 * (evbuffer_reserve_space / commit), COMPRESS_CHUNK bytes at a time, and
 * loops until the codec has consumed all input and has no more output
 * pending for the requested flush mode.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <brotli/encode.h>
#include <event2/buffer.h>
#include <zlib.h>
#include <zstd.h>

#include "proxy/compress.h"

#define COMPRESS_CHUNK 16384

/* ---- Accept-Encoding ---------------------------------------------------- */

static bool
is_ows(int c)
{
	return c == ' ' || c == '\t';
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in 1/1000. */
static int
parse_q(const char *s, size_t n)
{
	int q, scale = 100;

	if (n == 0 || (s[0] != '0' && s[0] != '1'))
		return -1;
	q = (s[0] - '0') * 1000;
	if (n == 1)
		return q;
	if (s[1] != '.' || n > 5)
		return -1;
	for (size_t i = 2; i < n; i++, scale /= 10) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		q += (s[i] - '0') * scale;
	}
	return q > 1000 ? -1 : q;
}

static bool
token_eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* Index into q[]: 0 gzip, 1 br, 2 zstd, 3 "*"; -1 for others. */
static int
coding_index(const char *s, size_t n)
{
	if (token_eq(s, n, "gzip") || token_eq(s, n, "x-gzip"))
		return 0;
	if (token_eq(s, n, "br"))
		return 1;
	if (token_eq(s, n, "zstd"))
		return 2;
	if (token_eq(s, n, "*"))
		return 3;
	return -1;
}

static bool
is_tchar(int c)
{
	return isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

enum compress_enc
compress_accept(const char *v, size_t len)
{
	int q[4] = { -1, -1, -1, -1 };	/* -1 = not mentioned */
	static const enum compress_enc pref[] = { COMPRESS_ENC_BR,
	    COMPRESS_ENC_ZSTD, COMPRESS_ENC_GZIP };
	static const int pref_idx[] = { 1, 2, 0 };
	enum compress_enc best = COMPRESS_ENC_IDENTITY;
	int best_q = 0;
	size_t i = 0;

	if (v == NULL)
		return COMPRESS_ENC_IDENTITY;
	while (i < len) {
		size_t start, end;
		int qv = 1000, idx;
		bool bad = false;

		while (i < len && (is_ows(v[i]) || v[i] == ','))
			i++;
		start = i;
		while (i < len && is_tchar((unsigned char)v[i]))
			i++;
		end = i;
		/* parameters: ;name=value, q is the only one that counts */
		for (;;) {
			size_t ps, pe, vs, ve;

			while (i < len && is_ows(v[i]))
				i++;
			if (i >= len || v[i] != ';')
				break;
			i++;
			while (i < len && is_ows(v[i]))
				i++;
			ps = i;
			while (i < len && is_tchar((unsigned char)v[i]))
				i++;
			pe = i;
			if (i >= len || v[i] != '=' || pe == ps) {
				bad = true;
				break;
			}
			vs = ++i;
			while (i < len && is_tchar((unsigned char)v[i]))
				i++;
			ve = i;
			if (token_eq(v + ps, pe - ps, "q") &&
			    (qv = parse_q(v + vs, ve - vs)) < 0)
				bad = true;
		}
		/* skip to the next element */
		while (i < len && v[i] != ',') {
			if (!is_ows(v[i]))
				bad = true;
			i++;
		}
		if (bad || end == start)
			continue;
		if ((idx = coding_index(v + start, end - start)) >= 0 &&
		    q[idx] < 0)
			q[idx] = qv;
	}
	for (size_t k = 0; k < 3; k++) {
		int cq = q[pref_idx[k]];

		if (cq < 0)
			cq = q[3] < 0 ? 0 : q[3];
		if (cq > best_q) {
			best_q = cq;
			best = pref[k];
		}
	}
	return best;
}

const char *
compress_enc_name(enum compress_enc enc)
{
	switch (enc) {
	case COMPRESS_ENC_GZIP:
		return "gzip";
	case COMPRESS_ENC_BR:
		return "br";
	case COMPRESS_ENC_ZSTD:
		return "zstd";
	case COMPRESS_ENC_IDENTITY:
		break;
	}
	return "identity";
}

/* ---- the decision ----------------------------------------------------- */

bool
compress_type_ok(const char *t, size_t len)
{
	static const char *const exact[] = {
		"application/json", "application/javascript",
		"application/x-javascript", "application/ecmascript",
		"application/xml", "application/xhtml+xml",
		"application/rss+xml", "application/atom+xml",
		"application/wasm", "image/svg+xml",
		"application/x-ndjson", "application/graphql-response+json",
	};
	size_t n = 0, slash;

	if (t == NULL)
		return false;
	while (n < len && t[n] != ';' && !is_ows(t[n]))
		n++;
	if (n == 0 || memchr(t, '/', n) == NULL)
		return false;
	slash = (size_t)((const char *)memchr(t, '/', n) - t);
	if (slash == 4 && strncasecmp(t, "text", 4) == 0)
		/* server-sent events must reach the client as they happen */
		return !token_eq(t, n, "text/event-stream");
	for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
		if (token_eq(t, n, exact[i]))
			return true;
	if (slash == 11 && strncasecmp(t, "application", 11) == 0 &&
	    ((n > 17 && strncasecmp(t + n - 5, "+json", 5) == 0) ||
	    (n > 16 && strncasecmp(t + n - 4, "+xml", 4) == 0)))
		return true;
	return false;
}

/* Whether a comma-separated header value lists `tok` (case-insensitive). */
static bool
list_has(const char *v, size_t len, const char *tok)
{
	size_t i = 0;

	while (i < len) {
		size_t s, e;

		while (i < len && (is_ows(v[i]) || v[i] == ','))
			i++;
		s = i;
		while (i < len && v[i] != ',' && v[i] != '=')
			i++;
		e = i;
		while (e > s && is_ows(v[e - 1]))
			e--;
		if (token_eq(v + s, e - s, tok))
			return true;
		while (i < len && v[i] != ',')
			i++;
	}
	return false;
}

struct compress_decision
compress_decide(const struct compress_head *h, enum compress_enc accepted)
{
	struct compress_decision d = { COMPRESS_ENC_IDENTITY, false };

	if (h->status < 200 || h->status == 204 || h->status == 206 ||
	    h->status == 304 || h->content_range)
		return d;
	if (h->content_encoding != NULL &&
	    !token_eq(h->content_encoding, h->content_encoding_len,
	    "identity"))
		return d;
	if (!compress_type_ok(h->content_type, h->content_type_len))
		return d;
	if (h->cache_control != NULL &&
	    list_has(h->cache_control, h->cache_control_len, "no-transform"))
		return d;
	if (h->content_length >= 0 && h->content_length < COMPRESS_MIN_LENGTH)
		return d;
	d.vary = true;
	d.enc = accepted;
	return d;
}

/* opaque-tag = DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text */
static bool
opaque_tag_ok(const char *t, size_t len)
{
	if (len < 2 || t[0] != '"' || t[len - 1] != '"')
		return false;
	for (size_t i = 1; i + 1 < len; i++) {
		unsigned char c = (unsigned char)t[i];

		if (c < 0x21 || c == '"' || c == 0x7f)
			return false;
	}
	return true;
}

int
compress_etag_weaken(const char *etag, size_t len, char *out, size_t cap)
{
	bool weak = len >= 2 && etag[0] == 'W' && etag[1] == '/';
	size_t need = weak ? len : len + 2;

	if (!opaque_tag_ok(weak ? etag + 2 : etag, weak ? len - 2 : len) ||
	    need + 1 > cap)
		return -1;
	if (weak)
		memcpy(out, etag, len);
	else {
		out[0] = 'W';
		out[1] = '/';
		memcpy(out + 2, etag, len);
	}
	out[need] = '\0';
	return (int)need;
}

int
compress_vary_merge(const char *vary, size_t len, char *out, size_t cap)
{
	static const char ae[] = "Accept-Encoding";
	size_t n = 0;

	if (vary != NULL) {
		while (len > 0 && is_ows(vary[len - 1]))
			len--;
		while (len > 0 && is_ows(vary[0])) {
			vary++;
			len--;
		}
	}
	if (vary != NULL && len > 0) {
		if (list_has(vary, len, "*") ||
		    list_has(vary, len, "accept-encoding"))
			return 0;
		if (len + 2 + sizeof ae > cap)
			return -1;
		memcpy(out, vary, len);
		memcpy(out + len, ", ", 2);
		n = len + 2;
	} else if (sizeof ae > cap)
		return -1;
	memcpy(out + n, ae, sizeof ae);
	return (int)(n + sizeof ae - 1);
}

/* ---- streaming encoders ---------------------------------------------- */

enum stream_op { OP_PROCESS, OP_FLUSH, OP_FINISH };

struct compress_stream {
	enum compress_enc enc;
	bool finished;
	uint64_t bytes_in, bytes_out;
	z_stream z;
	BrotliEncoderState *br;
	ZSTD_CCtx *zstd;
};

struct compress_stream *
compress_stream_new(enum compress_enc enc)
{
	struct compress_stream *s;

	if (enc == COMPRESS_ENC_IDENTITY || (s = calloc(1, sizeof *s)) == NULL)
		return NULL;
	s->enc = enc;
	switch (enc) {
	case COMPRESS_ENC_GZIP:
		/* 15 + 16: a 32 KiB window with a gzip header and trailer */
		if (deflateInit2(&s->z, COMPRESS_GZIP_LEVEL, Z_DEFLATED, 15 + 16,
		    8, Z_DEFAULT_STRATEGY) != Z_OK)
			goto fail;
		break;
	case COMPRESS_ENC_BR:
		if ((s->br = BrotliEncoderCreateInstance(NULL, NULL, NULL)) ==
		    NULL ||
		    !BrotliEncoderSetParameter(s->br, BROTLI_PARAM_QUALITY,
		    COMPRESS_BR_QUALITY) ||
		    !BrotliEncoderSetParameter(s->br, BROTLI_PARAM_LGWIN,
		    COMPRESS_BR_LGWIN) ||
		    !BrotliEncoderSetParameter(s->br, BROTLI_PARAM_MODE,
		    BROTLI_MODE_TEXT))
			goto fail;
		break;
	case COMPRESS_ENC_ZSTD:
		if ((s->zstd = ZSTD_createCCtx()) == NULL ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(s->zstd,
		    ZSTD_c_compressionLevel, COMPRESS_ZSTD_LEVEL)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(s->zstd,
		    ZSTD_c_windowLog, COMPRESS_ZSTD_WINDOWLOG)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(s->zstd,
		    ZSTD_c_checksumFlag, 1)))
			goto fail;
		break;
	case COMPRESS_ENC_IDENTITY:
		break;
	}
	return s;
fail:
	if (enc == COMPRESS_ENC_GZIP)
		s->enc = COMPRESS_ENC_IDENTITY;	/* deflateInit2 failed */
	compress_stream_free(s);
	return NULL;
}

void
compress_stream_free(struct compress_stream *s)
{
	if (s == NULL)
		return;
	if (s->enc == COMPRESS_ENC_GZIP)
		deflateEnd(&s->z);
	if (s->br != NULL)
		BrotliEncoderDestroyInstance(s->br);
	if (s->zstd != NULL)
		ZSTD_freeCCtx(s->zstd);
	free(s);
}

/*
 * One codec step from (in, *in_len) into (out, *out_len): on return the
 * lengths say what is left.  *more: the codec still has output pending
 * for this op.  -1 on a codec error.
 */
static int
codec_step(struct compress_stream *s, enum stream_op op,
    const unsigned char **in, size_t *in_len, unsigned char *out,
    size_t *out_len, bool *more)
{
	switch (s->enc) {
	case COMPRESS_ENC_GZIP: {
		int flush = op == OP_FINISH ? Z_FINISH :
		    op == OP_FLUSH ? Z_SYNC_FLUSH : Z_NO_FLUSH;
		uInt in_chunk = *in_len > 1u << 30 ? 1u << 30 : (uInt)*in_len;
		int rc;

		s->z.next_in = (Bytef *)(uintptr_t)*in;
		s->z.avail_in = in_chunk;
		s->z.next_out = out;
		s->z.avail_out = (uInt)*out_len;
		rc = deflate(&s->z, flush);
		if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
			return -1;
		*in_len -= in_chunk - s->z.avail_in;
		*in = s->z.next_in;
		/* output space left unused means deflate is done for now */
		*more = s->z.avail_out == 0 ||
		    (op == OP_FINISH && rc != Z_STREAM_END);
		*out_len = s->z.avail_out;
		return 0;
	}
	case COMPRESS_ENC_BR: {
		BrotliEncoderOperation bop = op == OP_FINISH ?
		    BROTLI_OPERATION_FINISH : op == OP_FLUSH ?
		    BROTLI_OPERATION_FLUSH : BROTLI_OPERATION_PROCESS;
		uint8_t *next_out = out;

		if (!BrotliEncoderCompressStream(s->br, bop, in_len, in,
		    out_len, &next_out, NULL))
			return -1;
		*more = BrotliEncoderHasMoreOutput(s->br) ||
		    (op == OP_FINISH && !BrotliEncoderIsFinished(s->br)) ||
		    (op != OP_PROCESS && *in_len > 0);
		return 0;
	}
	case COMPRESS_ENC_ZSTD: {
		ZSTD_inBuffer ib = { *in, *in_len, 0 };
		ZSTD_outBuffer ob = { out, *out_len, 0 };
		ZSTD_EndDirective zop = op == OP_FINISH ? ZSTD_e_end :
		    op == OP_FLUSH ? ZSTD_e_flush : ZSTD_e_continue;
		size_t rc = ZSTD_compressStream2(s->zstd, &ob, &ib, zop);

		if (ZSTD_isError(rc))
			return -1;
		*in += ib.pos;
		*in_len -= ib.pos;
		*out_len -= ob.pos;
		*more = op == OP_PROCESS ? ob.pos == ob.size : rc != 0;
		return 0;
	}
	case COMPRESS_ENC_IDENTITY:
		break;
	}
	return -1;
}

static int
stream_run(struct compress_stream *s, enum stream_op op, const void *data,
    size_t len, struct evbuffer *out)
{
	const unsigned char *in = data;
	struct evbuffer_iovec vec;
	bool more;

	if (s->finished)
		return -1;
	s->bytes_in += len;
	do {
		size_t room, used;

		if (evbuffer_reserve_space(out, COMPRESS_CHUNK, &vec, 1) < 1)
			return -1;
		room = vec.iov_len;
		if (codec_step(s, op, &in, &len, vec.iov_base, &room,
		    &more) == -1)
			return -1;
		used = vec.iov_len - room;
		vec.iov_len = used;
		if (evbuffer_commit_space(out, &vec, 1) == -1)
			return -1;
		s->bytes_out += used;
	} while (len > 0 || more);
	if (op == OP_FINISH)
		s->finished = true;
	return 0;
}

int
compress_stream_write(struct compress_stream *s, const void *data, size_t len,
    struct evbuffer *out)
{
	if (len == 0)
		return 0;
	return stream_run(s, OP_PROCESS, data, len, out);
}

int
compress_stream_write_buffer(struct compress_stream *s, struct evbuffer *in,
    size_t n, struct evbuffer *out)
{
	struct evbuffer_iovec v[8];

	if (n > evbuffer_get_length(in))
		return -1;
	while (n > 0) {
		int nv = evbuffer_peek(in, (ev_ssize_t)n, NULL, v, 8);
		size_t done = 0;

		if (nv <= 0)
			return -1;
		for (int i = 0; i < nv && i < 8 && done < n; i++) {
			size_t part = v[i].iov_len < n - done ?
			    v[i].iov_len : n - done;

			if (compress_stream_write(s, v[i].iov_base, part,
			    out) == -1)
				return -1;
			done += part;
		}
		evbuffer_drain(in, done);
		n -= done;
	}
	return 0;
}

int
compress_stream_flush(struct compress_stream *s, struct evbuffer *out)
{
	return stream_run(s, OP_FLUSH, NULL, 0, out);
}

int
compress_stream_finish(struct compress_stream *s, struct evbuffer *out)
{
	return stream_run(s, OP_FINISH, NULL, 0, out);
}

uint64_t
compress_stream_in(const struct compress_stream *s)
{
	return s->bytes_in;
}

uint64_t
compress_stream_out(const struct compress_stream *s)
{
	return s->bytes_out;
}
