/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_h1_request.c — libFuzzer target for h1_parse_request.
 *
 * The input is a byte stream from a client: requests are parsed one after
 * another (pipelining), chunked bodies go through the chunked decoder.
 * Checked on every input: nothing reads outside the buffer (ASan); every
 * returned pointer lies inside it; a prefix of the input gives H1_AGAIN
 * or the same verdict as the whole (the split is taken from the input);
 * and the derived fields agree with the headers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/h1_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct h1_request req, req2;

#define INSIDE(p, n, b, len) \
	((p) >= (b) && (size_t)((p) - (b)) + (n) <= (len))

static void
check_request(const char *b, size_t len, int rc)
{
	if ((size_t)rc > len || req.head_len != (size_t)rc)
		abort();
	if (!INSIDE(req.method, req.method_len, b, len) ||
	    !INSIDE(req.target, req.target_len, b, len) ||
	    req.method_len == 0 || req.target_len == 0 ||
	    req.target_len > H1_MAX_URI || req.n_headers > H1_MAX_HEADERS)
		abort();
	if (req.minor_version != 0 && req.minor_version != 1)
		abort();
	for (size_t i = 0; i < req.n_headers; i++) {
		const struct h1_header *h = &req.headers[i];
		if (!INSIDE(h->name, h->name_len, b, len) || h->name_len == 0 ||
		    !INSIDE(h->value, h->value_len, b, len))
			abort();
		if (h->value_len > 0 && (h->value[0] == ' ' ||
		    h->value[h->value_len - 1] == ' '))
			abort();
		if (h1_header_is(h, "transfer-encoding") &&
		    req.body != H1_BODY_CHUNKED)
			abort();
	}
	if (req.minor_version == 1 && req.host == NULL)
		abort();
	if (req.body == H1_BODY_LENGTH && req.content_length == 0)
		abort();
	if (req.body == H1_BODY_UNTIL_CLOSE)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *b = (const char *)data;
	size_t off = 0, split;
	enum h1_err err, err2;
	int rc, rc2;

	for (int round = 0; round < 8 && off < size; round++) {
		size_t len = size - off;
		rc = h1_parse_request(b + off, len, &req, &err);
		/* any prefix: H1_AGAIN or the same verdict */
		split = len > 0 ? (size_t)data[off] % (len + 1) : 0;
		rc2 = h1_parse_request(b + off, split, &req2, &err2);
		if (rc2 != H1_AGAIN && (rc2 != rc || (rc == -1 && err2 != err)))
			abort();
		if (rc > 0 && split < (size_t)rc && rc2 != H1_AGAIN)
			abort();
		if (rc == -1) {
			int st = h1_err_status(err);
			if (err == H1_ERR_NONE || (st != 400 && st != 414 &&
			    st != 431))
				abort();
			return 0;
		}
		if (rc == H1_AGAIN)
			return 0;
		check_request(b + off, len, rc);
		off += (size_t)rc;
		if (req.body == H1_BODY_LENGTH) {
			if (req.content_length > size - off)
				return 0;
			off += (size_t)req.content_length;
		} else if (req.body == H1_BODY_CHUNKED) {
			struct h1_chunked c;
			size_t used, doff, dlen;
			int crc = 0;

			h1_chunked_init(&c);
			while (off < size && crc == 0) {
				crc = h1_chunked_feed(&c, b + off, size - off,
				    &used, &doff, &dlen, &err);
				if (crc >= 0 && (used > size - off ||
				    doff + dlen > used))
					abort();
				if (crc >= 0)
					off += used;
			}
			if (crc != 1)
				return 0;
		}
	}
	return 0;
}
