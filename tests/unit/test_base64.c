/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_base64.c — common/base64.c: the RFC 4648 §10 vectors in both
 * variants, and every malformed input refused.
 */
#include <string.h>

#include "common/base64.h"
#include "tests/unit/harness.h"

static int
dec(enum base64_variant v, const char *in, char *out, size_t cap)
{
	size_t n = 0;

	if (base64_decode(v, in, strlen(in), out, cap, &n) == -1)
		return -1;
	out[n] = '\0';
	return (int)n;
}

static void
test_base64_decodes_rfc4648_vectors(void)
{
	static const char *std[][2] = { { "Zg==", "f" }, { "Zm8=", "fo" },
		{ "Zm9v", "foo" }, { "Zm9vYg==", "foob" },
		{ "Zm9vYmE=", "fooba" }, { "Zm9vYmFy", "foobar" } };
	static const char *url[][2] = { { "Zg", "f" }, { "Zm8", "fo" },
		{ "Zm9v", "foo" }, { "Zm9vYg", "foob" }, { "Zm9vYmE", "fooba" },
		{ "Zm9vYmFy", "foobar" } };
	char out[16];

	for (size_t i = 0; i < 6; i++) {
		CHECK_INT(dec(BASE64_STD_PADDED, std[i][0], out, 15), ==,
		    (int)strlen(std[i][1]));
		CHECK_STR(out, std[i][1]);
		CHECK_INT(dec(BASE64_URL_NOPAD, url[i][0], out, 15), ==,
		    (int)strlen(url[i][1]));
		CHECK_STR(out, url[i][1]);
	}
}

static void
test_base64_alphabets_differ_in_two_characters(void)
{
	char out[8];

	CHECK_INT(dec(BASE64_STD_PADDED, "+/8=", out, 7), ==, 2);
	CHECK_INT((unsigned char)out[0], ==, 0xfb);
	CHECK_INT((unsigned char)out[1], ==, 0xff);
	CHECK_INT(dec(BASE64_URL_NOPAD, "-_8", out, 7), ==, 2);
	CHECK_INT((unsigned char)out[0], ==, 0xfb);
	CHECK_INT(dec(BASE64_STD_PADDED, "-_8=", out, 7), ==, -1);
	CHECK_INT(dec(BASE64_URL_NOPAD, "+/8", out, 7), ==, -1);
}

static void
test_base64_refuses_malformed_input(void)
{
	char out[16];

	CHECK_INT(dec(BASE64_STD_PADDED, "", out, 15), ==, -1);
	CHECK_INT(dec(BASE64_STD_PADDED, "Zg", out, 15), ==, -1);	/* no pad */
	CHECK_INT(dec(BASE64_STD_PADDED, "Z===", out, 15), ==, -1);
	CHECK_INT(dec(BASE64_STD_PADDED, "Zg=a", out, 15), ==, -1);
	CHECK_INT(dec(BASE64_STD_PADDED, "Zh==", out, 15), ==, -1); /* bits */
	CHECK_INT(dec(BASE64_STD_PADDED, "Zm 9v", out, 15), ==, -1);
	CHECK_INT(dec(BASE64_URL_NOPAD, "Zg==", out, 15), ==, -1);
	CHECK_INT(dec(BASE64_URL_NOPAD, "Z", out, 15), ==, -1);	/* length */
	CHECK_INT(dec(BASE64_URL_NOPAD, "Zh", out, 15), ==, -1);	/* bits */
	CHECK_INT(dec(BASE64_URL_NOPAD, "Zm9vYmFy", out, 5), ==, -1); /* room */
	CHECK_INT(dec(BASE64_URL_NOPAD, "Zm9v\n", out, 15), ==, -1);
}

HARNESS_MAIN(
    T(test_base64_decodes_rfc4648_vectors),
    T(test_base64_alphabets_differ_in_two_characters),
    T(test_base64_refuses_malformed_input))
