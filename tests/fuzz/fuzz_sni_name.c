/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_sni_name.c — libFuzzer target for certbundle_name_normalize(), the
 * check every SNI name from a client goes through before it is looked up.
 * The first byte says whether "*." is allowed; the rest is the name.
 * Whatever is accepted must be short, lower-case, made of the allowed
 * characters, without empty labels, and a fixed point of the function.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/certbundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[CERTBUNDLE_NAME_MAX + 1], again[CERTBUNDLE_NAME_MAX + 1];
	bool wild;
	int n;

	if (size < 1)
		return 0;
	wild = data[0] & 1;
	n = certbundle_name_normalize((const char *)data + 1, size - 1, out,
	    wild);
	if (n < 0)
		return 0;
	if (n == 0 || n > CERTBUNDLE_NAME_MAX || strlen(out) != (size_t)n ||
	    out[0] == '.' || out[n - 1] == '.' || strstr(out, "..") != NULL)
		abort();
	for (int i = 0; i < n; i++) {
		char c = out[i];

		if (c == '*' && !(wild && i == 0 && out[1] == '.'))
			abort();
		if (!(c == '*' || c == '.' || c == '-' || c == '_' ||
		    (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			abort();
	}
	if (certbundle_name_normalize(out, (size_t)n, again, wild) != n ||
	    memcmp(out, again, (size_t)n + 1) != 0)
		abort();
	return 0;
}
