/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * base64.c — strict base64 decoding; see base64.h.
 */
#include "common/base64.h"

#include <stdint.h>

static int
base64_value(enum base64_variant v, unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (v == BASE64_URL_NOPAD ? '-' : '+'))
		return 62;
	if (c == (v == BASE64_URL_NOPAD ? '_' : '/'))
		return 63;
	return -1;
}

int
base64_decode(enum base64_variant v, const char *in, size_t n, void *out,
    size_t cap, size_t *outlen)
{
	unsigned char *o = out;
	size_t pad = 0, need, k = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (v == BASE64_STD_PADDED) {
		if (n == 0 || n % 4 != 0)
			return -1;
		if (in[n - 1] == '=')
			pad = in[n - 2] == '=' ? 2 : 1;
		n -= pad;
	} else if (n % 4 == 1)
		return -1;
	need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	if (need > cap)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int x = base64_value(v, (unsigned char)in[i]);

		if (x < 0)
			return -1;
		acc = acc << 6 | (uint32_t)x;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[k++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* the unused low bits of the last character must be zero */
	if (acc != 0)
		return -1;
	*outlen = k;
	return 0;
}
