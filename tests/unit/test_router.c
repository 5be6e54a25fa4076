/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_router.c — host and path to route (proxy/router.c), on hand-built
 * configurations: exact beats "*.domain" beats "*", a wildcard covers one
 * label, the longest prefix on a segment boundary wins, ties go to the
 * first route, a host falls through to less specific hosts for paths its
 * own routes do not cover; and Host/SNI normalisation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/router.h"
#include "tests/unit/harness.h"

#define HOSTS(a) (a), sizeof(a) / sizeof((a)[0])

static char *h_app[] = { "app.example.com" };
static char *h_wild[] = { "*.example.com" };
static char *h_star[] = { "*" };
static char *h_only_api[] = { "only-api.example.com" };
static char *h_dup[] = { "dup.test" };
static char *h_multi[] = { "a.test", "B.test.example.org", "*.multi.test" };
static char *h_v6[] = { "[::1]" };
static char *h_a[] = { "a.test" };

static struct conf_route routes[] = {
	{ .hosts = HOSTS(h_app), .path = "/api" },			/* 0 */
	{ .hosts = HOSTS(h_app), .path = "/api/v2" },			/* 1 */
	{ .hosts = HOSTS(h_app), .path = "/" },				/* 2 */
	{ .hosts = HOSTS(h_wild), .path = "/" },			/* 3 */
	{ .hosts = HOSTS(h_wild), .path = "/static/" },			/* 4 */
	{ .hosts = HOSTS(h_star), .path = "/" },			/* 5 */
	{ .hosts = HOSTS(h_only_api), .path = "/api" },			/* 6 */
	{ .hosts = HOSTS(h_dup), .path = "/x" },			/* 7 */
	{ .hosts = HOSTS(h_dup), .path = "/x" },			/* 8 */
	{ .hosts = HOSTS(h_multi), .path = "/m" },			/* 9 */
	{ .hosts = HOSTS(h_star), .path = "/.well-known/acme-challenge" }, /* 10 */
	{ .hosts = HOSTS(h_v6), .path = NULL },				/* 11 */
};

static struct config cfg = {
	.routes = routes,
	.n_routes = sizeof(routes) / sizeof(routes[0]),
};

static struct router *
build(void)
{
	for (size_t i = 0; i < cfg.n_routes; i++)
		routes[i].index = i;
	return router_new(&cfg);
}

/* The index of the matching route, or -1. */
static long
match(const struct router *r, const char *host, const char *path)
{
	const struct conf_route *rt = router_match(r, host, strlen(host),
	    path, strlen(path));

	return rt == NULL ? -1 : (long)rt->index;
}

static void
test_router_prefers_exact_host(void)
{
	struct router *r = build();

	REQUIRE(r != NULL);
	CHECK_INT(match(r, "app.example.com", "/"), ==, 2);
	CHECK_INT(match(r, "app.example.com", "/static/x"), ==, 2);
	CHECK_INT(match(r, "www.example.com", "/"), ==, 3);
	CHECK_INT(match(r, "other.org", "/"), ==, 5);
	router_free(r);
}

static void
test_router_wildcard_covers_exactly_one_label(void)
{
	struct router *r = build();

	REQUIRE(r != NULL);
	CHECK_INT(match(r, "x.example.com", "/a"), ==, 3);
	CHECK_INT(match(r, "example.com", "/a"), ==, 5);
	CHECK_INT(match(r, "a.b.example.com", "/a"), ==, 5);
	CHECK_INT(match(r, "xexample.com", "/a"), ==, 5);
	CHECK_INT(match(r, "q.multi.test", "/m"), ==, 9);
	CHECK_INT(match(r, "multi.test", "/m"), ==, 5);
	router_free(r);
}

static void
test_router_longest_prefix_on_segment_boundary(void)
{
	struct router *r = build();

	REQUIRE(r != NULL);
	CHECK_INT(match(r, "app.example.com", "/api"), ==, 0);
	CHECK_INT(match(r, "app.example.com", "/api/"), ==, 0);
	CHECK_INT(match(r, "app.example.com", "/api/x"), ==, 0);
	CHECK_INT(match(r, "app.example.com", "/apix"), ==, 2);
	CHECK_INT(match(r, "app.example.com", "/api/v2"), ==, 1);
	CHECK_INT(match(r, "app.example.com", "/api/v2/users"), ==, 1);
	CHECK_INT(match(r, "app.example.com", "/api/v20"), ==, 0);
	/* a prefix ending in '/' needs that slash */
	CHECK_INT(match(r, "w.example.com", "/static/a.css"), ==, 4);
	CHECK_INT(match(r, "w.example.com", "/static/"), ==, 4);
	CHECK_INT(match(r, "w.example.com", "/static"), ==, 3);
	CHECK_INT(match(r, "w.example.com", "/staticx"), ==, 3);
	CHECK_INT(match(r, "none.org", "/.well-known/acme-challenge/tok"), ==,
	    10);
	router_free(r);
}

static void
test_router_falls_through_to_less_specific_host(void)
{
	struct router *r = build();

	REQUIRE(r != NULL);
	CHECK_INT(match(r, "only-api.example.com", "/api/x"), ==, 6);
	/* no exact route for "/": the wildcard's route serves it */
	CHECK_INT(match(r, "only-api.example.com", "/"), ==, 3);
	CHECK_INT(match(r, "dup.test", "/y"), ==, 5);
	router_free(r);
}

static void
test_router_ties_go_to_first_route(void)
{
	struct router *r = build();

	REQUIRE(r != NULL);
	CHECK_INT(match(r, "dup.test", "/x"), ==, 7);
	CHECK_INT(match(r, "dup.test", "/x/y"), ==, 7);
	router_free(r);
}

static void
test_router_multiple_hosts_and_default_path(void)
{
	struct router *r = build();

	REQUIRE(r != NULL);
	CHECK_INT(match(r, "a.test", "/m/1"), ==, 9);
	/* hosts are matched as the config has them (lower-cased by the
	 * loader); this one was written with a capital on purpose */
	CHECK_INT(match(r, "B.test.example.org", "/m"), ==, 9);
	CHECK_INT(match(r, "[::1]", "/anything"), ==, 11);
	router_free(r);
}

static void
test_router_no_route_is_null(void)
{
	static struct conf_route one[] = {
		{ .hosts = HOSTS(h_a), .path = "/only" },
		{ .hosts = NULL, .n_hosts = 0, .path = "/any-host" },
	};
	struct config c = { .routes = one, .n_routes = 2 };
	struct config empty = { .routes = NULL, .n_routes = 0 };
	struct router *r;

	one[0].index = 0;
	one[1].index = 1;
	r = router_new(&c);
	REQUIRE(r != NULL);
	CHECK_INT(match(r, "a.test", "/"), ==, -1);
	CHECK_INT(match(r, "b.test", "/only"), ==, -1);
	CHECK_INT(match(r, "a.test", "/only"), ==, 0);
	/* a route without hosts serves every host */
	CHECK_INT(match(r, "b.test", "/any-host/x"), ==, 1);
	CHECK_INT(match(r, "", "/any-host"), ==, 1);
	router_free(r);

	r = router_new(&empty);
	REQUIRE(r != NULL);
	CHECK_INT(match(r, "a.test", "/"), ==, -1);
	router_free(r);
	router_free(NULL);
}

static void
test_router_many_hosts(void)
{
	enum { N = 2000 };
	static struct conf_route many[N];
	static char names[N][32];
	static char *hostp[N];
	struct config c = { .routes = many, .n_routes = N };
	struct router *r;
	char buf[48];

	for (int i = 0; i < N; i++) {
		if (i % 2)
			snprintf(names[i], sizeof(names[i]), "h%d.test", i);
		else
			snprintf(names[i], sizeof(names[i]), "*.w%d.test", i);
		hostp[i] = names[i];
		many[i].hosts = &hostp[i];
		many[i].n_hosts = 1;
		many[i].path = "/";
		many[i].index = (size_t)i;
	}
	r = router_new(&c);
	REQUIRE(r != NULL);
	for (int i = 0; i < N; i++) {
		if (i % 2)
			snprintf(buf, sizeof(buf), "h%d.test", i);
		else
			snprintf(buf, sizeof(buf), "x.w%d.test", i);
		CHECK_INT(match(r, buf, "/p"), ==, i);
	}
	CHECK_INT(match(r, "h0.test", "/"), ==, -1);
	router_free(r);
}

static void
test_router_path_has_prefix(void)
{
	CHECK(router_path_has_prefix("/a", 2, "/", 1));
	CHECK(router_path_has_prefix("/", 1, "/", 1));
	CHECK(router_path_has_prefix("/api", 4, "/api", 4));
	CHECK(router_path_has_prefix("/api/", 5, "/api", 4));
	CHECK(router_path_has_prefix("/api/x", 6, "/api", 4));
	CHECK(!router_path_has_prefix("/apix", 5, "/api", 4));
	CHECK(!router_path_has_prefix("/ap", 3, "/api", 4));
	CHECK(!router_path_has_prefix("/api%2Fx", 8, "/api", 4));
	CHECK(router_path_has_prefix("/api/", 5, "/api/", 5));
	CHECK(!router_path_has_prefix("/api", 4, "/api/", 5));
	CHECK(router_path_has_prefix("/x", 2, "", 0));
}

static void
test_router_host_normalize(void)
{
	static const struct {
		const char *in;
		const char *out;	/* NULL: invalid */
	} t[] = {
		{ "example.com", "example.com" },
		{ "Example.COM", "example.com" },
		{ "example.com:8080", "example.com" },
		{ "example.com.", "example.com" },
		{ "example.com.:443", "example.com" },
		{ "localhost", "localhost" },
		{ "a_b-c.test", "a_b-c.test" },
		{ "127.0.0.1:80", "127.0.0.1" },
		{ "[::1]", "[::1]" },
		{ "[::1]:8443", "[::1]" },
		{ "[2001:DB8:0:0::0001]", "[2001:db8::1]" },
		{ "[::ffff:127.0.0.1]", "[::ffff:127.0.0.1]" },
		{ "[1::3:4:5:6:7:8]", "[1:0:3:4:5:6:7:8]" },	/* grows */
		{ "", NULL },
		{ ".", NULL },
		{ ":80", NULL },
		{ "example.com:", NULL },
		{ "example.com:65536", NULL },
		{ "example.com:80:80", NULL },
		{ "example.com:8a", NULL },
		{ "example.com:123456", NULL },
		{ "a..b", NULL },
		{ ".a", NULL },
		{ "a b", NULL },
		{ "a/b", NULL },
		{ "a@b", NULL },
		{ "*.example.com", NULL },
		{ "ex%41mple.com", NULL },
		{ "\xc3\xa9.test", NULL },
		{ "::1", NULL },
		{ "[::1", NULL },
		{ "[::1]x", NULL },
		{ "[fe80::1%25eth0]", NULL },
		{ "[example.com]", NULL },
		{ "[]", NULL },
	};
	char out[300], small[4];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t len = strlen(t[i].in);
		int n = router_host_normalize(harness_guarded(t[i].in, len),
		    len, out, sizeof(out));
		if (t[i].out == NULL) {
			if (n != -1)
				harness_fail(__FILE__, __LINE__,
				    "\"%s\" accepted as \"%.*s\"", t[i].in,
				    n, out);
			continue;
		}
		if (n < 0) {
			harness_fail(__FILE__, __LINE__, "\"%s\" rejected",
			    t[i].in);
			continue;
		}
		CHECK_MEM(out, (size_t)n, t[i].out, strlen(t[i].out));
		CHECK_INT(out[n], ==, '\0');
	}
	/* too small for the result and its NUL */
	CHECK_INT(router_host_normalize("abcd", 4, small, sizeof(small)), ==,
	    -1);
	CHECK_INT(router_host_normalize("abc", 3, small, sizeof(small)), ==, 3);
	/* label and name lengths */
	memset(out, 'a', 64);
	CHECK_INT(router_host_normalize(out, 63, out + 100, 200), ==, 63);
	CHECK_INT(router_host_normalize(out, 64, out + 100, 200), ==, -1);
}

HARNESS_MAIN(T(test_router_prefers_exact_host),
    T(test_router_wildcard_covers_exactly_one_label),
    T(test_router_longest_prefix_on_segment_boundary),
    T(test_router_falls_through_to_less_specific_host),
    T(test_router_ties_go_to_first_route),
    T(test_router_multiple_hosts_and_default_path),
    T(test_router_no_route_is_null),
    T(test_router_many_hosts),
    T(test_router_path_has_prefix),
    T(test_router_host_normalize))
