/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_accept_encoding.c — libFuzzer target for the header values the
 * compression decision reads (proxy/compress.c): Accept-Encoding,
 * Content-Type, Vary, ETag and Cache-Control, each from the same input.
 *
 * Invariants: the chosen encoding is one of the four; choosing is
 * deterministic; a coding the input never names (other than through "*")
 * is never chosen; a merged Vary ends with Accept-Encoding and merging
 * it again changes nothing; a weakened ETag starts with W/" and ends with
 * a quote.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/compress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
mentions(const char *s, size_t n, const char *what)
{
	size_t wl = strlen(what);

	for (size_t i = 0; i + wl <= n; i++)
		if (strncasecmp(s + i, what, wl) == 0)
			return true;
	return memchr(s, '*', n) != NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	enum compress_enc e = compress_accept(s, size);
	char out[512], again[512];
	int n, m;

	if (e != compress_accept(s, size) || (int)e < 0 ||
	    e > COMPRESS_ENC_ZSTD)
		abort();
	if ((e == COMPRESS_ENC_BR && !mentions(s, size, "br")) ||
	    (e == COMPRESS_ENC_ZSTD && !mentions(s, size, "zstd")) ||
	    (e == COMPRESS_ENC_GZIP && !mentions(s, size, "gzip")))
		abort();
	(void)compress_type_ok(s, size);

	n = compress_vary_merge(s, size, out, sizeof out);
	if (n > 0) {
		if ((size_t)n >= sizeof out || out[n] != '\0' ||
		    n < 15 || strcmp(out + n - 15, "Accept-Encoding") != 0)
			abort();
		if (compress_vary_merge(out, (size_t)n, again,
		    sizeof again) != 0)
			abort();
	}
	n = compress_etag_weaken(s, size, out, sizeof out);
	if (n >= 0) {
		if (n < 4 || out[0] != 'W' || out[1] != '/' || out[2] != '"' ||
		    out[n - 1] != '"')
			abort();
		m = compress_etag_weaken(out, (size_t)n, again, sizeof again);
		if (m != n || memcmp(out, again, (size_t)n) != 0)
			abort();
	}
	struct compress_head h = { .status = 200, .content_type = s,
	    .content_type_len = size, .cache_control = s,
	    .cache_control_len = size, .content_length = (int64_t)size * 100 };
	struct compress_decision d = compress_decide(&h, e);
	if (d.enc != COMPRESS_ENC_IDENTITY && (!d.vary || d.enc != e))
		abort();
	return 0;
}
