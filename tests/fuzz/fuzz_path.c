/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_path.c — libFuzzer target for target splitting, path
 * normalisation and host normalisation.
 *
 * Invariants checked: a normalised path starts with '/', is never longer
 * than its input, holds no "." or ".." segment, no literal byte outside
 * the allowed set and no lower-case escape; normalising it again changes
 * nothing; the split parts lie inside the target.  Host normalisation is
 * idempotent and its result is lower-case.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/path.h"
#include "proxy/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_normalized(const char *out, size_t n)
{
	size_t seg = 1;

	if (n == 0 || out[0] != '/' || out[n] != '\0')
		abort();
	for (size_t i = 1; i <= n; i++) {
		if (i == n || out[i] == '/') {
			size_t sl = i - seg;
			if ((sl == 1 && out[seg] == '.') ||
			    (sl == 2 && out[seg] == '.' && out[seg + 1] == '.'))
				abort();
			seg = i + 1;
			continue;
		}
		unsigned char c = (unsigned char)out[i];
		if (c <= 0x20 || c >= 0x7f || strchr("\"#<>?\\", c) != NULL)
			abort();
		if (c == '%') {
			if (i + 2 >= n)
				abort();
			for (int k = 1; k <= 2; k++)
				if (!((out[i + k] >= '0' && out[i + k] <= '9') ||
				    (out[i + k] >= 'A' && out[i + k] <= 'F')))
					abort();
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct target_parts tp;
	enum path_err err;
	char *out, *again, host[300], host2[300];
	int n, m;

	if (path_split_target(in, size, &tp, &err) == 0) {
		if (tp.path == NULL || tp.path_len == 0)
			abort();
		/* inside the target, or the constant "/" for "http://h" */
		if ((tp.path < in || tp.path + tp.path_len > in + size) &&
		    !(tp.path_len == 1 && tp.path[0] == '/'))
			abort();
		if (tp.query && (tp.query < in ||
		    tp.query + tp.query_len > in + size))
			abort();
	}

	out = malloc(size + 1);
	n = path_normalize(in, size, out, &err);
	if (n >= 0) {
		if ((size_t)n > size || err != PATH_OK)
			abort();
		check_normalized(out, (size_t)n);
		again = malloc((size_t)n + 1);
		m = path_normalize(out, (size_t)n, again, &err);
		if (m != n || memcmp(out, again, (size_t)n) != 0)
			abort();
		free(again);
	} else if (err == PATH_OK) {
		abort();
	}
	free(out);

	n = router_host_normalize(in, size, host, sizeof(host));
	if (n >= 0) {
		if ((size_t)n >= sizeof(host) || host[n] != '\0')
			abort();
		for (int i = 0; i < n; i++)
			if (host[i] >= 'A' && host[i] <= 'Z')
				abort();
		m = router_host_normalize(host, (size_t)n, host2, sizeof(host2));
		if (m != n || memcmp(host, host2, (size_t)n) != 0)
			abort();
	}
	return 0;
}
