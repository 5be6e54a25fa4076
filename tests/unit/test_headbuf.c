/* SPDX-License-Identifier: BSD-2-Clause */
/* test_headbuf.c — printf-free head building: the formatters print what
 * printf printed, and heads larger than the buffer arrive whole. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "proxy/headbuf.h"
#include "tests/unit/harness.h"

static void
test_headbuf_formatters_match_printf(void)
{
	static const uint64_t v[] = { 0, 1, 9, 10, 15, 16, 99, 100, 255, 256,
	    4095, 65535, 1000000, 4294967295u, 4294967296u,
	    18446744073709551615u };
	char want[32], got[32];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		snprintf(want, sizeof(want), "%" PRIu64, v[i]);
		got[headbuf_fmt_u64(got, v[i])] = '\0';
		CHECK_STR(got, want);
		snprintf(want, sizeof(want), "%" PRIx64, v[i]);
		got[headbuf_fmt_hex(got, v[i])] = '\0';
		CHECK_STR(got, want);
	}
}

static void
test_headbuf_head_larger_than_buffer_arrives_whole(void)
{
	struct evbuffer *out = evbuffer_new();
	struct headbuf *hb = malloc(sizeof(*hb));
	char *big = malloc(3 * HEADBUF_SIZE), *want = malloc(8 * HEADBUF_SIZE);
	volatile size_t big_len = 3 * HEADBUF_SIZE;	/* not a constant
					 * gcc would check the inline copy with */
	size_t n = 0;

	REQUIRE(out != NULL && hb != NULL && big != NULL && want != NULL);
	memset(big, 'v', 3 * HEADBUF_SIZE);
	headbuf_init(hb, out);
	for (int i = 0; i < 40; i++) {	/* many small pieces: several fills */
		HEADBUF_LIT(hb, "X-Long-Header-Name: ");
		headbuf_u64(hb, (uint64_t)i * 1000003u);
		HEADBUF_LIT(hb, "\r\n");
		n += (size_t)sprintf(want + n, "X-Long-Header-Name: %llu\r\n",
		    (unsigned long long)i * 1000003u);
	}
	headbuf_add(hb, big, big_len);	/* larger than the buffer */
	memcpy(want + n, big, 3 * HEADBUF_SIZE);
	n += 3 * HEADBUF_SIZE;
	headbuf_str(hb, "end");
	headbuf_hex(hb, 0xabc);
	memcpy(want + n, "endabc", 6);
	n += 6;
	CHECK_INT(headbuf_finish(hb), ==, 0);
	CHECK_INT(evbuffer_get_length(out), ==, n);
	CHECK_MEM(evbuffer_pullup(out, -1), n, want, n);
	evbuffer_free(out);
	free(hb);
	free(big);
	free(want);
}

HARNESS_MAIN(T(test_headbuf_formatters_match_printf),
    T(test_headbuf_head_larger_than_buffer_arrives_whole))
