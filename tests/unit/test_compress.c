/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_compress.c — response compression (proxy/compress.c):
 * Accept-Encoding negotiation with q-values, the compress-or-not decision
 * and its header edits, and streaming round trips through gzip, brotli
 * and zstd decoded by the libraries' own decoders and by Python's
 * (gzip module, python3-brotli, python3-zstandard).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <brotli/decode.h>
#include <event2/buffer.h>
#include <zlib.h>
#include <zstd.h>

#include "proxy/compress.h"
#include "tests/unit/harness.h"

static enum compress_enc
acc(const char *v)
{
	return compress_accept(v, v ? strlen(v) : 0);
}

static void
test_compress_accept_prefers_br_zstd_gzip_on_ties(void)
{
	CHECK_INT(acc(NULL), ==, COMPRESS_ENC_IDENTITY);
	CHECK_INT(acc(""), ==, COMPRESS_ENC_IDENTITY);
	CHECK_INT(acc("gzip"), ==, COMPRESS_ENC_GZIP);
	CHECK_INT(acc("x-gzip"), ==, COMPRESS_ENC_GZIP);
	CHECK_INT(acc("gzip, deflate, br"), ==, COMPRESS_ENC_BR);
	CHECK_INT(acc("gzip, deflate, br, zstd"), ==, COMPRESS_ENC_BR);
	CHECK_INT(acc("zstd, gzip"), ==, COMPRESS_ENC_ZSTD);
	CHECK_INT(acc("GZIP ,  BR"), ==, COMPRESS_ENC_BR);
	CHECK_INT(acc("deflate"), ==, COMPRESS_ENC_IDENTITY);
	CHECK_INT(acc("identity"), ==, COMPRESS_ENC_IDENTITY);
}

static void
test_compress_accept_honours_q_values(void)
{
	CHECK_INT(acc("br;q=0.5, gzip"), ==, COMPRESS_ENC_GZIP);
	CHECK_INT(acc("br;q=0.5, gzip;q=0.4"), ==, COMPRESS_ENC_BR);
	CHECK_INT(acc("br;q=0, gzip;q=0.001"), ==, COMPRESS_ENC_GZIP);
	CHECK_INT(acc("br;q=0, gzip;q=0"), ==, COMPRESS_ENC_IDENTITY);
	CHECK_INT(acc("gzip ; q=1.000"), ==, COMPRESS_ENC_GZIP);
	CHECK_INT(acc("br;Q=0.9;level=1, zstd;q=0.8"), ==, COMPRESS_ENC_BR);
	/* "*" covers codings not named; named ones keep their own q */
	CHECK_INT(acc("*"), ==, COMPRESS_ENC_BR);
	CHECK_INT(acc("*;q=0.5, br;q=0.1"), ==, COMPRESS_ENC_ZSTD);
	CHECK_INT(acc("*;q=0, gzip"), ==, COMPRESS_ENC_GZIP);
	CHECK_INT(acc("*;q=0"), ==, COMPRESS_ENC_IDENTITY);
	CHECK_INT(acc("identity;q=0, *;q=0"), ==, COMPRESS_ENC_IDENTITY);
	CHECK_INT(acc("identity;q=0, gzip;q=0.2"), ==, COMPRESS_ENC_GZIP);
	/* malformed q values drop their element, not the whole header */
	CHECK_INT(acc("br;q=2, gzip"), ==, COMPRESS_ENC_GZIP);
	CHECK_INT(acc("br;q=1.5, gzip"), ==, COMPRESS_ENC_GZIP);
	CHECK_INT(acc("br;q=0.0001, gzip;q=0.1"), ==, COMPRESS_ENC_GZIP);
	CHECK_INT(acc("br;q=, gzip"), ==, COMPRESS_ENC_GZIP);
	CHECK_INT(acc("br;q=abc, zstd"), ==, COMPRESS_ENC_ZSTD);
	CHECK_INT(acc("br junk, gzip"), ==, COMPRESS_ENC_GZIP);
	CHECK_INT(acc("br;, zstd"), ==, COMPRESS_ENC_ZSTD);
	/* the first of duplicates counts */
	CHECK_INT(acc("br;q=0, br, gzip;q=0.5"), ==, COMPRESS_ENC_GZIP);
}

static void
test_compress_type_ok_for_text_like_types(void)
{
	static const char *const yes[] = { "text/html", "text/plain; charset=utf-8",
	    "TEXT/CSS", "application/json", "application/javascript",
	    "application/xml", "application/problem+json",
	    "application/atom+xml", "image/svg+xml",
	    "application/vnd.api+json;charset=utf-8" };
	static const char *const no[] = { "image/png", "application/octet-stream",
	    "application/zip", "video/mp4", "text/event-stream", "",
	    "application/+json", "json", "application/jsonx" };

	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
		if (!compress_type_ok(yes[i], strlen(yes[i])))
			harness_fail(__FILE__, __LINE__, "refused %s", yes[i]);
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		if (compress_type_ok(no[i], strlen(no[i])))
			harness_fail(__FILE__, __LINE__, "accepted %s", no[i]);
	CHECK(!compress_type_ok(NULL, 0));
}

static struct compress_head
head(int status, const char *type, int64_t length)
{
	struct compress_head h = { .status = status, .content_type = type,
	    .content_type_len = type ? strlen(type) : 0,
	    .content_length = length };
	return h;
}

static void
test_compress_decide_skips_encoded_ranges_small_and_binary(void)
{
	struct compress_head h;
	struct compress_decision d;

	h = head(200, "text/html", 5000);
	d = compress_decide(&h, COMPRESS_ENC_BR);
	CHECK_INT(d.enc, ==, COMPRESS_ENC_BR);
	CHECK(d.vary);
	/* the client takes no encoding: still Vary */
	d = compress_decide(&h, COMPRESS_ENC_IDENTITY);
	CHECK_INT(d.enc, ==, COMPRESS_ENC_IDENTITY);
	CHECK(d.vary);
	/* unknown length (streamed): compress */
	h = head(404, "application/json", -1);
	CHECK_INT(compress_decide(&h, COMPRESS_ENC_GZIP).enc, ==,
	    COMPRESS_ENC_GZIP);
	/* small */
	h = head(200, "text/html", COMPRESS_MIN_LENGTH - 1);
	d = compress_decide(&h, COMPRESS_ENC_GZIP);
	CHECK(d.enc == COMPRESS_ENC_IDENTITY && !d.vary);
	h = head(200, "text/html", COMPRESS_MIN_LENGTH);
	CHECK_INT(compress_decide(&h, COMPRESS_ENC_GZIP).enc, ==,
	    COMPRESS_ENC_GZIP);
	/* statuses */
	static const int skip[] = { 101, 204, 206, 304 };
	for (size_t i = 0; i < 4; i++) {
		h = head(skip[i], "text/html", 5000);
		d = compress_decide(&h, COMPRESS_ENC_GZIP);
		CHECK(d.enc == COMPRESS_ENC_IDENTITY && !d.vary);
	}
	/* already encoded; identity is not an encoding */
	h = head(200, "text/html", 5000);
	h.content_encoding = "gzip";
	h.content_encoding_len = 4;
	CHECK_INT(compress_decide(&h, COMPRESS_ENC_BR).enc, ==,
	    COMPRESS_ENC_IDENTITY);
	h.content_encoding = "identity";
	h.content_encoding_len = 8;
	CHECK_INT(compress_decide(&h, COMPRESS_ENC_BR).enc, ==,
	    COMPRESS_ENC_BR);
	/* a range, even with status 200 */
	h = head(200, "text/html", 5000);
	h.content_range = true;
	CHECK_INT(compress_decide(&h, COMPRESS_ENC_BR).enc, ==,
	    COMPRESS_ENC_IDENTITY);
	/* binary, no type, no-transform */
	h = head(200, "image/png", 50000);
	CHECK(!compress_decide(&h, COMPRESS_ENC_BR).vary);
	h = head(200, NULL, 50000);
	CHECK_INT(compress_decide(&h, COMPRESS_ENC_BR).enc, ==,
	    COMPRESS_ENC_IDENTITY);
	h = head(200, "text/html", 50000);
	h.cache_control = "public, No-Transform, max-age=60";
	h.cache_control_len = strlen(h.cache_control);
	CHECK_INT(compress_decide(&h, COMPRESS_ENC_BR).enc, ==,
	    COMPRESS_ENC_IDENTITY);
}

static void
test_compress_header_edits(void)
{
	char out[64];

	CHECK_INT(compress_etag_weaken("\"abc\"", 5, out, sizeof out), ==, 7);
	CHECK_STR(out, "W/\"abc\"");
	CHECK_INT(compress_etag_weaken("W/\"abc\"", 7, out, sizeof out), ==, 7);
	CHECK_STR(out, "W/\"abc\"");
	CHECK_INT(compress_etag_weaken("abc", 3, out, sizeof out), ==, -1);
	CHECK_INT(compress_etag_weaken("W/\xe9x\"", 5, out, sizeof out), ==, -1);
	CHECK_INT(compress_etag_weaken("\"a\"b\"", 5, out, sizeof out), ==, -1);
	CHECK_INT(compress_etag_weaken("\"\"", 2, out, sizeof out), ==, 4);
	CHECK_INT(compress_etag_weaken("\"abc\"", 5, out, 7), ==, -1);

	CHECK_INT(compress_vary_merge(NULL, 0, out, sizeof out), ==, 15);
	CHECK_STR(out, "Accept-Encoding");
	CHECK_INT(compress_vary_merge("Origin", 6, out, sizeof out), ==, 23);
	CHECK_STR(out, "Origin, Accept-Encoding");
	CHECK_INT(compress_vary_merge("origin, accept-encoding", 23, out,
	    sizeof out), ==, 0);
	CHECK_INT(compress_vary_merge(" * ", 3, out, sizeof out), ==, 0);
	CHECK_INT(compress_vary_merge("Origin", 6, out, 10), ==, -1);
	CHECK_STR(compress_enc_name(COMPRESS_ENC_BR), "br");
	CHECK_STR(compress_enc_name(COMPRESS_ENC_ZSTD), "zstd");
	CHECK_STR(compress_enc_name(COMPRESS_ENC_GZIP), "gzip");
}

/* Some text that compresses, but not trivially: random words. */
static unsigned char *
sample(size_t n)
{
	static const char *const words[] = { "the ", "quick ", "brown ",
	    "fox ", "jumps ", "over ", "lazy ", "dog ", "<p>", "</p>\n",
	    "limen ", "proxy ", "{\"id\": ", "42, ", "\"name\": ", "} " };
	unsigned char *p = malloc(n + 1);
	uint32_t x = 12345;
	size_t i = 0;

	while (i < n) {
		const char *w;

		x = x * 1103515245 + 12345;
		w = words[(x >> 16) % 16];
		for (; *w && i < n; w++)
			p[i++] = (unsigned char)*w;
	}
	return p;
}

static unsigned char *
decode(enum compress_enc enc, const unsigned char *in, size_t in_len,
    size_t cap, size_t *out_len)
{
	unsigned char *out = malloc(cap);

	*out_len = cap;
	switch (enc) {
	case COMPRESS_ENC_GZIP: {
		z_stream z = { 0 };
		int rc;

		if (inflateInit2(&z, 15 + 16) != Z_OK)
			goto fail;
		z.next_in = (Bytef *)(uintptr_t)in;
		z.avail_in = (uInt)in_len;
		z.next_out = out;
		z.avail_out = (uInt)cap;
		rc = inflate(&z, Z_FINISH);
		*out_len = cap - z.avail_out;
		inflateEnd(&z);
		if (rc != Z_STREAM_END || z.avail_in != 0)
			goto fail;
		return out;
	}
	case COMPRESS_ENC_BR:
		if (BrotliDecoderDecompress(in_len, in, out_len, out) !=
		    BROTLI_DECODER_RESULT_SUCCESS)
			goto fail;
		return out;
	case COMPRESS_ENC_ZSTD: {
		size_t r = ZSTD_decompress(out, cap, in, in_len);

		if (ZSTD_isError(r))
			goto fail;
		*out_len = r;
		return out;
	}
	case COMPRESS_ENC_IDENTITY:
		break;
	}
fail:
	free(out);
	return NULL;
}

/* Feed n bytes in uneven pieces, with a flush in the middle. */
static void
round_trip(enum compress_enc enc, size_t n)
{
	unsigned char *src = sample(n), *flat, *dec;
	struct evbuffer *out = evbuffer_new();
	struct compress_stream *s = compress_stream_new(enc);
	size_t pos = 0, piece = 1, dlen, olen;

	REQUIRE(s != NULL && out != NULL);
	while (pos < n) {
		size_t k = piece < n - pos ? piece : n - pos;

		REQUIRE(compress_stream_write(s, src + pos, k, out) == 0);
		pos += k;
		piece = piece * 3 + 7;
		if (pos > n / 2 && pos - k <= n / 2) {
			size_t before = evbuffer_get_length(out);

			REQUIRE(compress_stream_flush(s, out) == 0);
			/* everything so far decodes from what is out */
			if (!(evbuffer_get_length(out) > before || n < 1000))
				harness_fail(__FILE__, __LINE__, "%s %zu: "
				    "flush added nothing",
				    compress_enc_name(enc), n);
		}
	}
	REQUIRE(compress_stream_finish(s, out) == 0);
	CHECK(compress_stream_write(s, "x", 1, out) == -1);
	olen = evbuffer_get_length(out);
	CHECK_INT(compress_stream_in(s), ==, n);
	CHECK_INT(compress_stream_out(s), ==, olen);
	if (n > 10000)
		CHECK(olen < n / 2);
	flat = evbuffer_pullup(out, -1);
	dec = decode(enc, flat, olen, n + 1, &dlen);
	REQUIRE(dec != NULL);
	CHECK_MEM(dec, dlen, src, n);
	free(dec);
	free(src);
	compress_stream_free(s);
	evbuffer_free(out);
}

static void
test_compress_stream_round_trips(void)
{
	static const size_t sizes[] = { 0, 1, 1000, 70000, 3 * 1024 * 1024 + 123 };
	static const enum compress_enc encs[] = { COMPRESS_ENC_GZIP,
	    COMPRESS_ENC_BR, COMPRESS_ENC_ZSTD };

	for (size_t e = 0; e < 3; e++)
		for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
			round_trip(encs[e], sizes[i]);
	CHECK(compress_stream_new(COMPRESS_ENC_IDENTITY) == NULL);
}

/* The input comes from an evbuffer, drained as it is compressed. */
static void
test_compress_stream_from_evbuffer(void)
{
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	struct compress_stream *s = compress_stream_new(COMPRESS_ENC_GZIP);
	unsigned char *src = sample(200000), *dec;
	size_t dlen;

	REQUIRE(in && out && s && src);
	for (size_t i = 0; i < 200000; i += 4096)
		evbuffer_add(in, src + i, 200000 - i < 4096 ? 200000 - i : 4096);
	REQUIRE(compress_stream_write_buffer(s, in, 150000, out) == 0);
	CHECK_INT(evbuffer_get_length(in), ==, 50000);
	CHECK(compress_stream_write_buffer(s, in, 50001, out) == -1);
	REQUIRE(compress_stream_write_buffer(s, in, 50000, out) == 0);
	REQUIRE(compress_stream_finish(s, out) == 0);
	dec = decode(COMPRESS_ENC_GZIP, evbuffer_pullup(out, -1),
	    evbuffer_get_length(out), 200001, &dlen);
	REQUIRE(dec != NULL);
	CHECK_MEM(dec, dlen, src, 200000);
	free(dec);
	free(src);
	compress_stream_free(s);
	evbuffer_free(in);
	evbuffer_free(out);
}

/* Python's decoders (gzip, python3-brotli, python3-zstandard) agree. */
static void
test_compress_stream_decoded_by_python(void)
{
	static const char *const mods[] = { "gzip", "brotli", "zstandard" };
	static const enum compress_enc encs[] = { COMPRESS_ENC_GZIP,
	    COMPRESS_ENC_BR, COMPRESS_ENC_ZSTD };
	unsigned char *src = sample(100000);

	for (size_t e = 0; e < 3; e++) {
		struct evbuffer *out = evbuffer_new();
		struct compress_stream *s = compress_stream_new(encs[e]);
		char cmd[512], sum[64] = "";
		const char *path;
		FILE *p;

		REQUIRE(s && out);
		REQUIRE(compress_stream_write(s, src, 100000, out) == 0);
		REQUIRE(compress_stream_finish(s, out) == 0);
		path = harness_tmpfile(".z", "");
		FILE *f = fopen(path, "wb");
		REQUIRE(f != NULL);
		fwrite(evbuffer_pullup(out, -1), 1, evbuffer_get_length(out), f);
		fclose(f);
		snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c '"
		    "import sys, zlib, %s as m\n"
		    "d = open(sys.argv[1], \"rb\").read()\n"
		    "x = m.ZstdDecompressor().decompressobj().decompress(d) "
		    "if m.__name__ == \"zstandard\" else m.decompress(d)\n"
		    "print(len(x), zlib.crc32(x))' %s", mods[e], path);
		REQUIRE((p = popen(cmd, "r")) != NULL);
		if (fgets(sum, sizeof sum, p) == NULL)
			sum[0] = '\0';
		pclose(p);
		char want[64];
		snprintf(want, sizeof want, "100000 %lu\n",
		    crc32(0, src, 100000));
		CHECK_STR(sum, want);
		compress_stream_free(s);
		evbuffer_free(out);
	}
	free(src);
}

HARNESS_MAIN(
    T(test_compress_accept_prefers_br_zstd_gzip_on_ties),
    T(test_compress_accept_honours_q_values),
    T(test_compress_type_ok_for_text_like_types),
    T(test_compress_decide_skips_encoded_ranges_small_and_binary),
    T(test_compress_header_edits),
    T(test_compress_stream_round_trips),
    T(test_compress_stream_from_evbuffer),
    T(test_compress_stream_decoded_by_python))
