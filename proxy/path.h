/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * path.h — request targets: split them, normalise the path (SPEC §3).
 *
 * Normalising happens before routing so that "/api/../admin" cannot reach a
 * route it does not match: percent-encoded unreserved characters
 * (ALPHA DIGIT - . _ ~) are decoded, other escapes are kept with upper-case
 * hex, "." and ".." segments are resolved, "//" is kept.  A path that
 * escapes the root or has invalid percent-encoding is rejected (400).
 * Pure functions; no allocation.
 */
#ifndef LIMEN_PROXY_PATH_H
#define LIMEN_PROXY_PATH_H

#include <stddef.h>

enum path_err {
	PATH_OK = 0,
	PATH_ERR_ENCODING,		/* % not followed by two hex digits, or %00 */
	PATH_ERR_ESCAPES_ROOT,		/* more ".." than segments */
	PATH_ERR_FORM,			/* not origin-form, absolute-form or "*" */
	PATH_ERR_CHARS			/* characters not allowed in a path */
};

struct target_parts {
	const char *authority;		/* absolute-form only: "host[:port]", else NULL */
	size_t authority_len;
	const char *path;		/* starts with '/', or is "*" */
	size_t path_len;
	const char *query;		/* after '?', without it; NULL if none */
	size_t query_len;
};

/* Split an origin-form ("/p?q"), absolute-form ("http://h/p?q") or
 * asterisk-form ("*") target.  Returns 0 or -1 with *err. */
int path_split_target(const char *target, size_t len, struct target_parts *out,
    enum path_err *err);

/*
 * Normalise path[0..len) (starting with '/') into out, which must have room
 * for len + 1 bytes (the result is never longer; it is NUL-terminated).
 * Returns the normalised length, or -1 with *err.
 */
int path_normalize(const char *path, size_t len, char *out, enum path_err *err);

#endif
