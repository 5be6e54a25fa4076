/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_acme_names.c — which names limen orders certificates for
 * (acme_names() in acme/acme.c), from hand-built configurations.
 */
#include <stdlib.h>
#include <string.h>

#include "acme/acme.h"
#include "conf/config.h"
#include "tests/unit/harness.h"

static char *hosts_a[] = { "app.example.com", "*", "*.example.com",
    "192.0.2.1", "::1", "API.Example.COM", "localhost" };
static char *hosts_b[] = { "app.example.com", "www.example.org",
    "bad_name.example.com", "-x.example.com", "x-.example.com",
    "1.2.3.4", "a..b.example.com" };

static void
config_build(struct config *c, struct conf_listener *ls, bool acme,
    struct conf_route *rs)
{
	memset(c, 0, sizeof *c);
	memset(ls, 0, 2 * sizeof *ls);
	memset(rs, 0, 2 * sizeof *rs);
	ls[0].name = "web";
	ls[1].name = "websecure";
	ls[1].tls.enabled = true;
	ls[1].tls.acme = acme;
	c->listeners = ls;
	c->n_listeners = 2;
	rs[0].hosts = hosts_a;
	rs[0].n_hosts = sizeof hosts_a / sizeof hosts_a[0];
	rs[1].hosts = hosts_b;
	rs[1].n_hosts = sizeof hosts_b / sizeof hosts_b[0];
	c->routes = rs;
	c->n_routes = 2;
}

static void
test_acme_names_are_plain_dns_route_hosts_sorted_and_unique(void)
{
	struct config c;
	struct conf_listener ls[2];
	struct conf_route rs[2];
	char **names;
	int n;

	config_build(&c, ls, true, rs);
	n = acme_names(&c, &names);
	REQUIRE(n == 3);
	CHECK_STR(names[0], "api.example.com");
	CHECK_STR(names[1], "app.example.com");
	CHECK_STR(names[2], "www.example.org");
	acme_names_free(names, n);
}

static void
test_acme_names_need_a_listener_with_tls_acme(void)
{
	struct config c;
	struct conf_listener ls[2];
	struct conf_route rs[2];
	char **names;

	config_build(&c, ls, false, rs);
	CHECK_INT(acme_names(&c, &names), ==, 0);
	CHECK(names == NULL);
	/* acme: true on a listener without tls: means nothing */
	ls[0].tls.acme = true;
	CHECK_INT(acme_names(&c, &names), ==, 0);
}

static void
test_acme_name_valid_follows_ldh_rules(void)
{
	char label63[80], label64[80], long254[300];

	CHECK(acme_name_valid("a.example.com"));
	CHECK(acme_name_valid("xn--bcher-kva.example"));
	CHECK(acme_name_valid("1a.example.com"));
	CHECK(!acme_name_valid("example"));
	CHECK(!acme_name_valid("Example.com"));
	CHECK(!acme_name_valid("*.example.com"));
	CHECK(!acme_name_valid("a.example.com."));
	CHECK(!acme_name_valid(".example.com"));
	CHECK(!acme_name_valid("10.0.0.1"));
	CHECK(!acme_name_valid("a.123"));
	CHECK(!acme_name_valid("a b.example.com"));
	CHECK(!acme_name_valid(""));
	memset(label63, 'a', 63);
	strcpy(label63 + 63, ".com");
	CHECK(acme_name_valid(label63));
	memset(label64, 'a', 64);
	strcpy(label64 + 64, ".com");
	CHECK(!acme_name_valid(label64));
	for (int i = 0; i < 254; i++)
		long254[i] = i % 2 ? '.' : 'a';
	long254[253] = 'a';
	long254[254] = '\0';
	CHECK(!acme_name_valid(long254));
	long254[253] = '\0';
	CHECK(acme_name_valid(long254));
}

HARNESS_MAIN(
    T(test_acme_names_are_plain_dns_route_hosts_sorted_and_unique),
    T(test_acme_names_need_a_listener_with_tls_acme),
    T(test_acme_name_valid_follows_ldh_rules))
