/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_auth_forward.c — forward authentication decisions
 * (proxy/auth_forward.c): the auth URL, the subrequest's X-Forwarded-*
 * headers and which client headers it carries, the meaning of the auth
 * service's answer (2xx pass, 3xx-5xx relayed as is, anything else 503),
 * which headers are copied or relayed, and the cache key.
 */
#include <string.h>

#include "proxy/auth_forward.h"
#include "tests/unit/harness.h"

static void
test_auth_forward_parses_urls(void)
{
	struct auth_forward_url u;

	REQUIRE(auth_forward_parse_url("http://127.0.0.1:4180/oauth2/auth",
	    &u) == 0);
	CHECK(!u.tls);
	CHECK_STR(u.host, "127.0.0.1");
	CHECK_INT(u.port, ==, 4180);
	CHECK_STR(u.authority, "127.0.0.1:4180");
	CHECK_STR(u.path, "/oauth2/auth");
	REQUIRE(auth_forward_parse_url("https://auth.example.com", &u) == 0);
	CHECK(u.tls);
	CHECK_INT(u.port, ==, 443);
	CHECK_STR(u.path, "/");
	CHECK_STR(u.authority, "auth.example.com");
	REQUIRE(auth_forward_parse_url("HTTP://[::1]:9091/api/verify?rd=x",
	    &u) == 0);
	CHECK_STR(u.host, "::1");
	CHECK_STR(u.authority, "[::1]:9091");
	CHECK_STR(u.path, "/api/verify?rd=x");
	REQUIRE(auth_forward_parse_url("http://a.test?x=1", &u) == 0);
	CHECK_STR(u.path, "/?x=1");
	static const char *const bad[] = { "ftp://a.test/", "http://",
	    "http:///x", "http://user:pw@a.test/", "http://a.test:0/",
	    "http://a.test:65536/", "http://a.test:/", "http://a.test/#frag",
	    "http://[::1/", "http://a test/", "http://a.test/x y", "a.test" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (auth_forward_parse_url(bad[i], &u) != -1)
			harness_fail(__FILE__, __LINE__, "accepted %s", bad[i]);
}

static void
test_auth_forward_decides_by_status(void)
{
	CHECK_INT(auth_forward_decide(200), ==, AUTH_FORWARD_PASS);
	CHECK_INT(auth_forward_decide(204), ==, AUTH_FORWARD_PASS);
	CHECK_INT(auth_forward_decide(299), ==, AUTH_FORWARD_PASS);
	CHECK_INT(auth_forward_decide(302), ==, AUTH_FORWARD_RELAY);
	CHECK_INT(auth_forward_decide(401), ==, AUTH_FORWARD_RELAY);
	CHECK_INT(auth_forward_decide(403), ==, AUTH_FORWARD_RELAY);
	CHECK_INT(auth_forward_decide(500), ==, AUTH_FORWARD_RELAY);
	/* timeout / unreachable / nonsense: never an open door */
	CHECK_INT(auth_forward_decide(-1), ==, AUTH_FORWARD_UNAVAILABLE);
	CHECK_INT(auth_forward_decide(0), ==, AUTH_FORWARD_UNAVAILABLE);
	CHECK_INT(auth_forward_decide(101), ==, AUTH_FORWARD_UNAVAILABLE);
	CHECK_INT(auth_forward_decide(199), ==, AUTH_FORWARD_UNAVAILABLE);
	CHECK_INT(auth_forward_decide(600), ==, AUTH_FORWARD_UNAVAILABLE);
}

static void
test_auth_forward_subrequest_headers(void)
{
	struct auth_forward_req r = { .method = "POST", .method_len = 4,
	    .tls = true, .host = "app.example.com:8443", .host_len = 20,
	    .uri = "/api/x?y=1", .uri_len = 10, .client_ip = "192.0.2.7" };
	struct auth_forward_header h[AUTH_FORWARD_XF_N];

	REQUIRE(auth_forward_xf_headers(&r, h) == 5);
	CHECK_STR(h[0].name, "X-Forwarded-Method");
	CHECK_MEM(h[0].value, h[0].value_len, "POST", 4);
	CHECK_STR(h[1].name, "X-Forwarded-Proto");
	CHECK_MEM(h[1].value, h[1].value_len, "https", 5);
	CHECK_STR(h[2].name, "X-Forwarded-Host");
	CHECK_MEM(h[2].value, h[2].value_len, "app.example.com:8443", 20);
	CHECK_STR(h[3].name, "X-Forwarded-Uri");
	CHECK_MEM(h[3].value, h[3].value_len, "/api/x?y=1", 10);
	CHECK_STR(h[4].name, "X-Forwarded-For");
	CHECK_MEM(h[4].value, h[4].value_len, "192.0.2.7", 9);
	r.tls = false;
	auth_forward_xf_headers(&r, h);
	CHECK_MEM(h[1].value, h[1].value_len, "http", 4);

	static const char *const pass[] = { "Cookie", "Authorization",
	    "User-Agent", "Accept", "X-Request-ID", "X-Auth-Request-User" };
	static const char *const drop[] = { "Host", "Connection",
	    "Keep-Alive", "Transfer-Encoding", "Content-Length", "TE",
	    "Upgrade", "Expect", "x-forwarded-for", "X-Forwarded-Uri",
	    "Forwarded", "X-Real-IP", "Proxy-Connection", "Trailer" };
	for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++)
		CHECK(auth_forward_pass_request_header(pass[i],
		    strlen(pass[i])));
	for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
		if (auth_forward_pass_request_header(drop[i], strlen(drop[i])))
			harness_fail(__FILE__, __LINE__, "passed %s", drop[i]);
}

static void
test_auth_forward_copies_and_relays_headers(void)
{
	static char *copy[] = { "X-Auth-Request-User", "X-Auth-Request-Email" };
	struct conf_auth_forward c = { .copy_headers = copy,
	    .n_copy_headers = 2 };

	CHECK(auth_forward_copy_header(&c, "x-auth-request-user", 19));
	CHECK(auth_forward_copy_header(&c, "X-Auth-Request-Email", 20));
	CHECK(!auth_forward_copy_header(&c, "X-Auth-Request-Groups", 21));
	CHECK(!auth_forward_copy_header(&c, "Set-Cookie", 10));
	/* relayed answers keep their headers, minus hop-by-hop and framing */
	CHECK(auth_forward_relay_header("Location", 8));
	CHECK(auth_forward_relay_header("Set-Cookie", 10));
	CHECK(auth_forward_relay_header("WWW-Authenticate", 16));
	CHECK(!auth_forward_relay_header("Connection", 10));
	CHECK(!auth_forward_relay_header("Transfer-Encoding", 17));
	CHECK(!auth_forward_relay_header("Content-Length", 14));
}

static void
test_auth_forward_cache_key(void)
{
	unsigned char a[32], b[32], c[32], d[32], e[32];

	CHECK_INT(auth_forward_cache_key(0, NULL, 0, NULL, 0, a), ==, -1);
	REQUIRE(auth_forward_cache_key(0, "Bearer x", 8, NULL, 0, a) == 0);
	REQUIRE(auth_forward_cache_key(1, "Bearer x", 8, NULL, 0, b) == 0);
	REQUIRE(auth_forward_cache_key(0, NULL, 0, "Bearer x", 8, c) == 0);
	REQUIRE(auth_forward_cache_key(0, "Bearer x", 8, "", 0, d) == 0);
	REQUIRE(auth_forward_cache_key(0, "Bearer x", 8, NULL, 0, e) == 0);
	CHECK(memcmp(a, b, 32) != 0);	/* per route */
	CHECK(memcmp(a, c, 32) != 0);	/* which header it was */
	CHECK(memcmp(a, d, 32) != 0);	/* absent vs empty */
	CHECK(memcmp(a, e, 32) == 0);	/* stable */
}

HARNESS_MAIN(
    T(test_auth_forward_parses_urls),
    T(test_auth_forward_decides_by_status),
    T(test_auth_forward_subrequest_headers),
    T(test_auth_forward_copies_and_relays_headers),
    T(test_auth_forward_cache_key))
