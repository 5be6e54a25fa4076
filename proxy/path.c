/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * path.c — split request targets and normalise their paths (SPEC §3).
 *
 * Routing and every prefix check happen on the normalised path, so it has
 * to be the one path every backend would agree on.  One pass, writing into
 * the caller's buffer (the output never grows: decoding shrinks, dot
 * segments only remove):
 *  - "%XX" of an unreserved character (ALPHA DIGIT - . _ ~) is decoded;
 *    every other escape is kept, with its hex in upper case; "%" without
 *    two hex digits, and "%00", are rejected (PATH_ERR_ENCODING);
 *  - "." and ".." segments are resolved as in RFC 3986 §5.2.4, after the
 *    decoding (so "%2e%2e" is ".."); a ".." with nothing left to remove
 *    is rejected (PATH_ERR_ESCAPES_ROOT) rather than clamped;
 *  - empty segments ("//") are kept: they are data to some backends;
 *  - encoded slashes (%2F) and backslashes (%5C) stay encoded and do not
 *    separate segments here, so "/api%2Fx" is one segment and does not
 *    match a route "/api".  But a backend that decodes them might see
 *    segments there, so a segment whose pieces between such escapes
 *    include "." or ".." ("/a/..%2Fadmin", "/x%2F.%2Fy") is rejected as
 *    ambiguous (PATH_ERR_ENCODING);
 *  - allowed literal bytes are RFC 3986 pchar and "/", plus the ones
 *    clients send unescaped in practice: [ ] { } | ^ `.  Refused
 *    (PATH_ERR_CHARS): controls, SP, DEL, bytes >= 0x80, " # < > ? \.
 * The result is idempotent: normalising a normalised path changes nothing.
 */
#include "proxy/path.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define P_UNRESERVED 1	/* ALPHA DIGIT - . _ ~ */
#define P_ALLOWED 2	/* allowed literally in a normalised path */
#define P_PLAIN 4	/* allowed, and not '/': copied as is */

static const uint8_t path_class[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* 00 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* 10 */
	0, 6, 0, 0, 6, 0, 6, 6, 6, 6, 6, 6, 6, 7, 7, 2,	/* 20 */
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 0, 6, 0, 0,	/* 30 */
	6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,	/* 40 */
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 0, 6, 6, 7,	/* 50 */
	6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,	/* 60 */
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 7, 0,	/* 70 */
	/* 0x80-0xff: 0 */
};
static const char hexdig[] = "0123456789ABCDEF";

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool
starts_ci(const char *s, size_t n, const char *lprefix, size_t pl)
{
	if (n < pl)
		return false;
	for (size_t i = 0; i < pl; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 'A' && c <= 'Z')
			c |= 0x20;
		if (c != (unsigned char)lprefix[i])
			return false;
	}
	return true;
}

int
path_split_target(const char *target, size_t len, struct target_parts *out,
    enum path_err *err)
{
	const char *p, *end = target + len, *q;
	size_t skip;

	memset(out, 0, sizeof(*out));
	*err = PATH_OK;
	if (len == 1 && target[0] == '*') {
		out->path = target;
		out->path_len = 1;
		return 0;
	}
	if (len > 0 && memchr(target, '#', len) != NULL) {
		*err = PATH_ERR_CHARS;	/* fragments are never sent */
		return -1;
	}
	if (len > 0 && target[0] == '/') {
		p = target;
	} else {
		if (starts_ci(target, len, "http://", 7))
			skip = 7;
		else if (starts_ci(target, len, "https://", 8))
			skip = 8;
		else
			goto form;	/* authority-form, other schemes */
		out->authority = target + skip;
		for (p = out->authority; p < end && *p != '/' && *p != '?'; p++)
			if (*p == '@')
				goto form;	/* no userinfo */
		out->authority_len = (size_t)(p - out->authority);
		if (out->authority_len == 0)
			goto form;
	}
	q = memchr(p, '?', (size_t)(end - p));
	if (q != NULL) {
		out->query = q + 1;
		out->query_len = (size_t)(end - q - 1);
	} else {
		q = end;
	}
	if (q == p) {
		/* "http://host" or "http://host?q": the path is "/" */
		out->path = "/";
		out->path_len = 1;
	} else {
		out->path = p;
		out->path_len = (size_t)(q - p);
	}
	return 0;
form:
	memset(out, 0, sizeof(*out));
	*err = PATH_ERR_FORM;
	return -1;
}

static bool
is_dot_piece(const char *s, size_t n)
{
	return (n == 1 && s[0] == '.') ||
	    (n == 2 && s[0] == '.' && s[1] == '.');
}

/* Whether the segment s[0..n) has a "." or ".." between %2F / %5C. */
static bool
has_encoded_dot_piece(const char *s, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i + 3 <= n; i++) {
		if (s[i] != '%')
			continue;
		if ((s[i + 1] == '2' && s[i + 2] == 'F') ||
		    (s[i + 1] == '5' && s[i + 2] == 'C')) {
			if (is_dot_piece(s + start, i - start))
				return true;
			start = i + 3;
			i += 2;
		}
	}
	return is_dot_piece(s + start, n - start);
}

int
path_normalize(const char *path, size_t len, char *out, enum path_err *err)
{
	size_t i, o, seg;
	bool enc_sep = false;
	unsigned char c;
	int hi, lo, v;

	*err = PATH_OK;
	if (len == 0 || path[0] != '/' || len >= INT_MAX) {
		*err = PATH_ERR_FORM;
		return -1;
	}
	out[0] = '/';
	o = seg = 1;		/* out[seg..o) is the segment being built */
	for (i = 1;; i++) {
		/* the common case: a run of ordinary bytes */
		while (i < len && (path_class[(unsigned char)path[i]] & P_PLAIN))
			out[o++] = path[i++];
		if (i == len || path[i] == '/') {
			size_t sl = o - seg;

			if (sl == 1 && out[seg] == '.') {
				o = seg;		/* drop "." */
			} else if (sl == 2 && out[seg] == '.' &&
			    out[seg + 1] == '.') {
				if (seg == 1) {
					*err = PATH_ERR_ESCAPES_ROOT;
					return -1;
				}
				/* drop ".." and the segment before it,
				 * keeping that segment's leading '/' */
				o = seg - 1;
				while (out[o - 1] != '/')
					o--;
				seg = o;
			} else {
				if (enc_sep && has_encoded_dot_piece(out + seg,
				    sl)) {
					*err = PATH_ERR_ENCODING;
					return -1;
				}
				if (i < len)
					out[o++] = '/';
				seg = o;
			}
			enc_sep = false;
			if (i == len)
				break;
			continue;
		}
		c = (unsigned char)path[i];
		if (c == '%') {
			if (len - i < 3 || (hi = hexval((unsigned char)path[i + 1])) < 0 ||
			    (lo = hexval((unsigned char)path[i + 2])) < 0 ||
			    (v = hi << 4 | lo) == 0) {
				*err = PATH_ERR_ENCODING;
				return -1;
			}
			i += 2;
			if (path_class[v] & P_UNRESERVED) {
				out[o++] = (char)v;
			} else {
				out[o++] = '%';
				out[o++] = hexdig[hi];
				out[o++] = hexdig[lo];
				if (v == '/' || v == '\\')
					enc_sep = true;
			}
			continue;
		}
		if (!(path_class[c] & P_ALLOWED)) {
			*err = PATH_ERR_CHARS;
			return -1;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (int)o;
}
