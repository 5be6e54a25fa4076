/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_gateway.c — the gateway checks' per-configuration state
 * (proxy/gateway.c) built from real configurations through conf_load:
 * files loaded per route, one WAF rule set shared by routes naming the
 * same rules, broken files refused as configuration errors, routes naming
 * the same jwks_url sharing one source (not fetched: no loop here),
 * and the identity headers stripped from client requests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/diag.h"
#include "proxy/auth_basic.h"
#include "proxy/gateway.h"
#include "proxy/jwks.h"
#include "proxy/jwt.h"
#include "tests/unit/conf_testutil.h"
#include "tests/unit/harness.h"

static const char jwks[] = "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
    "\"kid\":\"k1\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}";

static struct gateway *
build(const char *yaml, struct config **cp, char *msgs, size_t cap)
{
	struct config *c = conf_test_load(yaml);
	struct gateway *g = NULL;
	struct diag d;
	char *s;

	*cp = c;
	if (c == NULL) {
		snprintf(msgs, cap, "conf: %s", conf_test_msgs);
		return NULL;
	}
	diag_init(&d);
	g = gateway_new(c, &d);
	s = diag_join(&d);
	snprintf(msgs, cap, "%s", s ? s : "");
	free(s);
	diag_free(&d);
	return g;
}

static void
test_gateway_loads_route_files_and_shares_waf_rules(void)
{
	char users[128], keys[128], yaml[2048], msgs[10240];
	const struct gateway_route *r0, *r1, *r2;
	struct config *c;
	struct gateway *g;

	snprintf(users, sizeof users, "%s", harness_tmpfile(".htpasswd",
	    "alice:$2y$05$T9KovS/QEDpCXDDX1hBpcut44XK3mtNCOXCJfiHHx/.wutRY6.7.O\n"));
	snprintf(keys, sizeof keys, "%s", harness_tmpfile(".json", jwks));
	snprintf(yaml, sizeof yaml,
	    "routes:\n"
	    "  - host: [a.test]\n"
	    "    path: /staff\n"
	    "    respond: { status: 200 }\n"
	    "    auth:\n"
	    "      basic: { users_file: %s, realm: staff }\n"
	    "      forward: { url: \"http://127.0.0.1:4180/oauth2/auth\","
	    " copy_headers: [X-Auth-Request-User] }\n"
	    "    waf: { rules: /usr/share/modsecurity-crs, mode: block }\n"
	    "  - host: [a.test]\n"
	    "    path: /api\n"
	    "    respond: { status: 200 }\n"
	    "    auth:\n"
	    "      jwt: { jwks_file: %s, audience: api,"
	    " claims_to_headers: { sub: X-User } }\n"
	    "    waf: { rules: /usr/share/modsecurity-crs, mode: detect }\n"
	    "  - host: [a.test]\n"
	    "    respond: { status: 404 }\n", users, keys);
	g = build(yaml, &c, msgs, sizeof msgs);
	CHECK_STR(msgs, "");
	REQUIRE(g != NULL);
	r0 = gateway_route(g, 0);
	r1 = gateway_route(g, 1);
	r2 = gateway_route(g, 2);
	REQUIRE(r0 && r1 && r2);
	CHECK(gateway_route(g, 3) == NULL);
	REQUIRE(r0->basic != NULL);
	CHECK_INT(auth_basic_count(r0->basic), ==, 1);
	CHECK_STR(auth_basic_challenge(r0->basic),
	    "Basic realm=\"staff\", charset=\"UTF-8\"");
	CHECK(r0->forward);
	CHECK_INT(r0->forward_url.port, ==, 4180);
	CHECK(r0->jwks == NULL);
	REQUIRE(r1->jwks != NULL);
	CHECK_INT(jwt_keyset_count(r1->jwks), ==, 1);
	CHECK(r0->waf != NULL && r0->waf == r1->waf);
	CHECK_INT(r0->waf_mode, ==, WAF_BLOCK);
	CHECK_INT(r1->waf_mode, ==, WAF_DETECT);
	CHECK(r2->basic == NULL && r2->jwks == NULL && r2->waf == NULL &&
	    !r2->forward);

	/* identity headers a client must not forge */
	CHECK(gateway_strips_request_header(&c->routes[0],
	    "x-auth-request-user", 19));
	CHECK(!gateway_strips_request_header(&c->routes[0], "X-User", 6));
	CHECK(gateway_strips_request_header(&c->routes[1], "X-USER", 6));
	CHECK(!gateway_strips_request_header(&c->routes[1], "X-Use", 5));
	CHECK(!gateway_strips_request_header(&c->routes[2], "X-User", 6));
	gateway_free(g);
	conf_unref(c);
}

static void
test_gateway_refuses_bad_files_and_jwks_url(void)
{
	char users[128], keys[128], yaml[2048], msgs[10240];
	struct config *c;

	snprintf(users, sizeof users, "%s", harness_tmpfile(".htpasswd",
	    "bob:$apr1$zkGAqvc1$.CMFKlUZKktf6pCU1F5ok0\n"));
	snprintf(keys, sizeof keys, "%s", harness_tmpfile(".json",
	    "{\"keys\": []}"));
	snprintf(yaml, sizeof yaml,
	    "routes:\n"
	    "  - host: [a.test]\n"
	    "    respond: { status: 200 }\n"
	    "    auth:\n"
	    "      basic: { users_file: %s }\n"
	    "      jwt: { jwks_file: %s }\n"
	    "  - host: [b.test]\n"
	    "    respond: { status: 200 }\n"
	    "    auth:\n"
	    "      jwt: { jwks_url: \"https://id.example.com/jwks\", "
	    "jwks_ca_file: %s }\n",
	    users, keys, keys);
	CHECK(build(yaml, &c, msgs, sizeof msgs) == NULL);
	CHECK(strstr(msgs, ":1:1: error: user 'bob': MD5 (apr1)") != NULL);
	CHECK(strstr(msgs, "JWKS has no usable signing key") != NULL);
	CHECK(strstr(msgs, "error: jwks: cannot load CA roots from ") != NULL);
	if (c != NULL)
		conf_unref(c);
}

static void
test_gateway_routes_share_a_jwks_url_source(void)
{
	char msgs[10240];
	const struct gateway_route *r0, *r1, *r2;
	struct jwks_keys *hold;
	struct config *c;
	struct gateway *g, *g2;

	g = build("routes:\n"
	    "  - host: [a.test]\n"
	    "    respond: { status: 200 }\n"
	    "    auth: { jwt: { jwks_url: \"https://id.test/jwks\" } }\n"
	    "  - host: [b.test]\n"
	    "    respond: { status: 200 }\n"
	    "    auth: { jwt: { jwks_url: \"https://id.test/jwks\" } }\n"
	    "  - host: [c.test]\n"
	    "    respond: { status: 200 }\n"
	    "    auth: { jwt: { jwks_url: \"http://127.0.0.1:9/jwks\" } }\n",
	    &c, msgs, sizeof msgs);
	REQUIRE(g != NULL);
	r0 = gateway_route(g, 0);
	r1 = gateway_route(g, 1);
	r2 = gateway_route(g, 2);
	CHECK(r0->jwks == NULL && r0->jwks_src != NULL);
	CHECK(r0->jwks_src == r1->jwks_src);
	CHECK(r2->jwks_src != NULL && r2->jwks_src != r0->jwks_src);
	/* nothing fetched: fail closed */
	CHECK(jwks_acquire(r0->jwks_src, &hold) == NULL);
	CHECK(hold == NULL);
	/* a second configuration (a reload) gets the same source */
	{
		struct diag d;

		diag_init(&d);
		g2 = gateway_new(c, &d);
		diag_free(&d);
	}
	REQUIRE(g2 != NULL);
	CHECK(gateway_route(g2, 0)->jwks_src == r0->jwks_src);
	gateway_free(g);
	gateway_free(g2);
	conf_unref(c);
}

HARNESS_MAIN(
    T(test_gateway_loads_route_files_and_shares_waf_rules),
    T(test_gateway_refuses_bad_files_and_jwks_url),
    T(test_gateway_routes_share_a_jwks_url_source))
