/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_h1_response.c — libFuzzer target for h1_parse_response.
 *
 * The first byte chooses whether the request was HEAD; the rest is what
 * an upstream sent.  Checked: no out-of-bounds read (ASan), pointers
 * inside the buffer, a prefix gives H1_AGAIN or the same verdict, and
 * the framing rules (no body for HEAD/1xx/204/304, no keep-alive when
 * the body runs until close).
 */
#include <stdint.h>
#include <stdlib.h>

#include "proxy/h1_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct h1_response resp, resp2;

#define INSIDE(p, n, b, len) \
	((p) >= (b) && (size_t)((p) - (b)) + (n) <= (len))

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *b;
	size_t len, split;
	bool head;
	enum h1_err err, err2;
	int rc, rc2;

	if (size < 2)
		return 0;
	head = data[0] & 1;
	split = data[1];
	b = (const char *)data + 2;
	len = size - 2;
	split = len > 0 ? split % (len + 1) : 0;

	rc = h1_parse_response(b, len, head, &resp, &err);
	rc2 = h1_parse_response(b, split, head, &resp2, &err2);
	if (rc2 != H1_AGAIN && (rc2 != rc || (rc == -1 && err2 != err)))
		abort();
	if (rc > 0 && split < (size_t)rc && rc2 != H1_AGAIN)
		abort();
	if (rc <= 0)
		return 0;
	if ((size_t)rc > len || resp.head_len != (size_t)rc)
		abort();
	if (resp.status < 100 || resp.status > 999)
		abort();
	if (resp.reason != NULL && !INSIDE(resp.reason, resp.reason_len, b, len))
		abort();
	for (size_t i = 0; i < resp.n_headers; i++)
		if (!INSIDE(resp.headers[i].name, resp.headers[i].name_len, b,
		    len) || !INSIDE(resp.headers[i].value,
		    resp.headers[i].value_len, b, len))
			abort();
	if ((head || resp.status < 200 || resp.status == 204 ||
	    resp.status == 304) && resp.body != H1_BODY_NONE)
		abort();
	if (resp.body == H1_BODY_UNTIL_CLOSE && resp.keep_alive)
		abort();
	if (resp.upgrade != (resp.status == 101))
		abort();
	return 0;
}
