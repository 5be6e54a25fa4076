/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * base64.h — strict base64 decoding (RFC 4648) for outside input.
 *
 * Two variants: the standard alphabet with '=' padding required (HTTP
 * Basic credentials, §4) and the URL-safe alphabet without padding (JOSE,
 * ACME, §5).  Both reject any character outside the alphabet, a length
 * that cannot be an encoding, and non-zero unused bits, so one value has
 * exactly one accepted encoding.
 */
#ifndef LIMEN_COMMON_BASE64_H
#define LIMEN_COMMON_BASE64_H

#include <stddef.h>

enum base64_variant {
	BASE64_STD_PADDED,	/* A-Z a-z 0-9 + /, length a multiple of 4 */
	BASE64_URL_NOPAD,	/* A-Z a-z 0-9 - _, no '=' */
};

/* Decode n characters into out (cap bytes); 0 and *outlen, or -1. */
int base64_decode(enum base64_variant v, const char *in, size_t n,
    void *out, size_t cap, size_t *outlen);

#endif
