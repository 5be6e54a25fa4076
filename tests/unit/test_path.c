/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_path.c — target splitting and path normalisation (proxy/path.c).
 *
 * Table-driven: each input with its normalised form or its error, every
 * input placed against a guard page, every result normalised a second
 * time to prove idempotence.  Traversal attempts in all their spellings
 * (literal, percent-encoded, encoded slashes) are here.
 */
#include <stdint.h>
#include <string.h>

#include "proxy/path.h"
#include "tests/unit/harness.h"

struct norm_case {
	const char *in;
	const char *out;	/* NULL: rejected with err */
	enum path_err err;
};

static const struct norm_case norm_cases[] = {
	/* plain paths */
	{ "/", "/", PATH_OK },
	{ "/a/b/c", "/a/b/c", PATH_OK },
	{ "/a/b/", "/a/b/", PATH_OK },
	{ "/a//b", "/a//b", PATH_OK },			/* // kept */
	{ "//", "//", PATH_OK },
	{ "/a:b@c!$&'()*+,;=-._~", "/a:b@c!$&'()*+,;=-._~", PATH_OK },
	{ "/[x]{y}|^`", "/[x]{y}|^`", PATH_OK },	/* sent raw by clients */
	{ "/...", "/...", PATH_OK },			/* not a dot segment */
	{ "/a/.b/..c/c..", "/a/.b/..c/c..", PATH_OK },
	/* dot segments */
	{ "/.", "/", PATH_OK },
	{ "/./", "/", PATH_OK },
	{ "/a/.", "/a/", PATH_OK },
	{ "/a/./b", "/a/b", PATH_OK },
	{ "/a/././b/./", "/a/b/", PATH_OK },
	{ "/a/..", "/", PATH_OK },
	{ "/a/../", "/", PATH_OK },
	{ "/a/b/..", "/a/", PATH_OK },
	{ "/a/b/../c", "/a/c", PATH_OK },
	{ "/a/b/../../c", "/c", PATH_OK },
	{ "/a//../b", "/a/b", PATH_OK },		/* pops the empty segment */
	{ "/a/b/c/./../../g", "/a/g", PATH_OK },	/* RFC 3986 §5.4.1 */
	{ "/api/../admin", "/admin", PATH_OK },
	/* escaping the root */
	{ "/..", NULL, PATH_ERR_ESCAPES_ROOT },
	{ "/../", NULL, PATH_ERR_ESCAPES_ROOT },
	{ "/../x", NULL, PATH_ERR_ESCAPES_ROOT },
	{ "/a/../..", NULL, PATH_ERR_ESCAPES_ROOT },
	{ "/a/../../b", NULL, PATH_ERR_ESCAPES_ROOT },
	{ "/./../x", NULL, PATH_ERR_ESCAPES_ROOT },
	{ "/%2e%2e/x", NULL, PATH_ERR_ESCAPES_ROOT },
	{ "/%2E%2E", NULL, PATH_ERR_ESCAPES_ROOT },
	{ "/.%2e/etc/passwd", NULL, PATH_ERR_ESCAPES_ROOT },
	/* percent-encoding: unreserved decoded, others kept in upper case */
	{ "/%41%7a%30%2d%2E%5f%7E", "/Az0-._~", PATH_OK },
	{ "/a%2fb", "/a%2Fb", PATH_OK },		/* encoded slash kept */
	{ "/a%2Fb/c", "/a%2Fb/c", PATH_OK },
	{ "/%2F", "/%2F", PATH_OK },
	{ "/%20%3f%23%25%c3%a9", "/%20%3F%23%25%C3%A9", PATH_OK },
	{ "/%252e%252e/x", "/%252e%252e/x", PATH_OK },	/* double-encoded: data */
	{ "/a/%2e/b", "/a/b", PATH_OK },
	{ "/a/%2e%2e/b", "/b", PATH_OK },		/* decoded, then resolved */
	{ "/a/b/%2E%2E/%2e%2E/c", "/c", PATH_OK },
	/* bad encoding */
	{ "/%", NULL, PATH_ERR_ENCODING },
	{ "/%2", NULL, PATH_ERR_ENCODING },
	{ "/%2g", NULL, PATH_ERR_ENCODING },
	{ "/%g2", NULL, PATH_ERR_ENCODING },
	{ "/%%41", NULL, PATH_ERR_ENCODING },
	{ "/a%00b", NULL, PATH_ERR_ENCODING },
	{ "/%u002e", NULL, PATH_ERR_ENCODING },
	/* dot pieces next to encoded slashes or backslashes: ambiguous */
	{ "/a/..%2Fadmin", NULL, PATH_ERR_ENCODING },
	{ "/a/..%2fadmin", NULL, PATH_ERR_ENCODING },
	{ "/a/%2e%2e%2fadmin", NULL, PATH_ERR_ENCODING },
	{ "/a%2F..%2Fb", NULL, PATH_ERR_ENCODING },
	{ "/a%2F..", NULL, PATH_ERR_ENCODING },
	{ "/x%2F.%2Fy", NULL, PATH_ERR_ENCODING },
	{ "/..%5Cwin", NULL, PATH_ERR_ENCODING },
	{ "/a%2F...%2Fb", "/a%2F...%2Fb", PATH_OK },
	{ "/a%2F.b", "/a%2F.b", PATH_OK },
	/* characters */
	{ "/a b", NULL, PATH_ERR_CHARS },
	{ "/a\tb", NULL, PATH_ERR_CHARS },
	{ "/a\\..\\b", NULL, PATH_ERR_CHARS },
	{ "/a\"b", NULL, PATH_ERR_CHARS },
	{ "/a<b>", NULL, PATH_ERR_CHARS },
	{ "/a#b", NULL, PATH_ERR_CHARS },
	{ "/a?b", NULL, PATH_ERR_CHARS },
	{ "/\x7f", NULL, PATH_ERR_CHARS },
	{ "/\xc3\xa9", NULL, PATH_ERR_CHARS },
	{ "/a\r\nb", NULL, PATH_ERR_CHARS },
	/* not a path */
	{ "", NULL, PATH_ERR_FORM },
	{ "a/b", NULL, PATH_ERR_FORM },
	{ "*", NULL, PATH_ERR_FORM },
};

static void
test_path_normalize_table(void)
{
	char out[256], again[256];
	enum path_err err;
	int n, m;

	for (size_t i = 0; i < sizeof(norm_cases) / sizeof(norm_cases[0]);
	    i++) {
		const struct norm_case *t = &norm_cases[i];
		size_t len = strlen(t->in);

		n = path_normalize(harness_guarded(t->in, len), len, out, &err);
		if (t->out == NULL) {
			if (n != -1 || err != t->err)
				harness_fail(__FILE__, __LINE__,
				    "\"%s\": %d (%.*s) err %d, want err %d",
				    t->in, n, n > 0 ? n : 0, out, err, t->err);
			continue;
		}
		if (n < 0) {
			harness_fail(__FILE__, __LINE__, "\"%s\": err %d",
			    t->in, err);
			continue;
		}
		CHECK_MEM(out, (size_t)n, t->out, strlen(t->out));
		CHECK_INT(out[n], ==, '\0');
		CHECK_INT((size_t)n, <=, len);
		m = path_normalize(harness_guarded(out, (size_t)n), (size_t)n,
		    again, &err);
		CHECK_MEM(again, m > 0 ? (size_t)m : 0, out, (size_t)n);
	}
}

static void
test_path_normalize_never_grows(void)
{
	/* the output buffer is exactly len + 1 and ends at a guard page */
	static const char *in[] = { "/%2f%2f%2f", "/a/./b/../c", "/%41",
	    "/x", "/" };
	char buf[64];
	enum path_err err;

	memset(buf, 0, sizeof(buf));
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		size_t len = strlen(in[i]);
		/* harness_guarded gives read-only intent; use a copy */
		char *out = (char *)(uintptr_t)harness_guarded(buf, len + 1);
		int n = path_normalize(in[i], len, out, &err);
		CHECK_INT(n, >=, 1);
		CHECK_INT((size_t)n, <=, len);
	}
}

struct split_case {
	const char *in;
	int rc;
	const char *authority;	/* NULL: none */
	const char *path;
	const char *query;	/* NULL: none */
	enum path_err err;
};

static const struct split_case split_cases[] = {
	{ "/", 0, NULL, "/", NULL, PATH_OK },
	{ "/a/b?x=1&y", 0, NULL, "/a/b", "x=1&y", PATH_OK },
	{ "/a?", 0, NULL, "/a", "", PATH_OK },
	{ "/a??b", 0, NULL, "/a", "?b", PATH_OK },
	{ "//evil.example/x", 0, NULL, "//evil.example/x", NULL, PATH_OK },
	{ "*", 0, NULL, "*", NULL, PATH_OK },
	{ "http://Example.COM:8080/p/q?r", 0, "Example.COM:8080", "/p/q", "r",
	  PATH_OK },
	{ "HTTPS://h/", 0, "h", "/", NULL, PATH_OK },
	{ "http://h", 0, "h", "/", NULL, PATH_OK },
	{ "http://h?q", 0, "h", "/", "q", PATH_OK },
	{ "http://[::1]:80/x", 0, "[::1]:80", "/x", NULL, PATH_OK },
	{ "http:///x", -1, NULL, NULL, NULL, PATH_ERR_FORM },
	{ "http://user@h/x", -1, NULL, NULL, NULL, PATH_ERR_FORM },
	{ "ftp://h/x", -1, NULL, NULL, NULL, PATH_ERR_FORM },
	{ "example.com:443", -1, NULL, NULL, NULL, PATH_ERR_FORM },
	{ "**", -1, NULL, NULL, NULL, PATH_ERR_FORM },
	{ "*?x", -1, NULL, NULL, NULL, PATH_ERR_FORM },
	{ "", -1, NULL, NULL, NULL, PATH_ERR_FORM },
	{ "x", -1, NULL, NULL, NULL, PATH_ERR_FORM },
	{ "/a#frag", -1, NULL, NULL, NULL, PATH_ERR_CHARS },
};

static void
test_path_split_target_table(void)
{
	struct target_parts tp;
	enum path_err err;

	for (size_t i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]);
	    i++) {
		const struct split_case *t = &split_cases[i];
		size_t len = strlen(t->in);
		const char *g = harness_guarded(t->in, len);
		int rc = path_split_target(g, len, &tp, &err);

		if (rc != t->rc) {
			harness_fail(__FILE__, __LINE__, "\"%s\": rc %d",
			    t->in, rc);
			continue;
		}
		if (rc == -1) {
			CHECK_INT(err, ==, t->err);
			continue;
		}
		if (t->authority == NULL)
			CHECK(tp.authority == NULL);
		else
			CHECK_MEM(tp.authority, tp.authority_len, t->authority,
			    strlen(t->authority));
		CHECK_MEM(tp.path, tp.path_len, t->path, strlen(t->path));
		if (t->query == NULL)
			CHECK(tp.query == NULL);
		else
			CHECK_MEM(tp.query, tp.query_len, t->query,
			    strlen(t->query));
	}
}

HARNESS_MAIN(T(test_path_normalize_table),
    T(test_path_normalize_never_grows),
    T(test_path_split_target_table))
