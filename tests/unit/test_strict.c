/* SPDX-License-Identifier: BSD-2-Clause */
/* test_strict.c — the strict value parsers: good values, and every way to
 * get one wrong. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "common/arena.h"
#include "common/strict.h"
#include "tests/unit/harness.h"

static void
test_strict_uint_accepts_digits_in_range_only(void)
{
	uint64_t v;
	const char *e;

	CHECK_INT(strict_uint("42", 0, 100, &v, &e), ==, 0);
	CHECK_INT(v, ==, 42);
	CHECK_INT(strict_uint("18446744073709551615", 0, UINT64_MAX, &v, &e),
	    ==, 0);
	CHECK_INT(strict_uint("18446744073709551616", 0, UINT64_MAX, &v, &e),
	    ==, -1);
	CHECK_STR(e, "out of range");
	CHECK_INT(strict_uint("101", 0, 100, &v, &e), ==, -1);
	CHECK_STR(e, "too large");
	CHECK_INT(strict_uint("0", 1, 100, &v, &e), ==, -1);
	CHECK_STR(e, "too small");
	const char *bad[] = { "", " 1", "1 ", "+1", "-1", "0x10", "1e3", "1.0" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_INT(strict_uint(bad[i], 0, 100, &v, &e), ==, -1);
}

static void
test_strict_int_takes_a_sign(void)
{
	int64_t v;
	const char *e;

	CHECK_INT(strict_int("-5", -10, 10, &v, &e), ==, 0);
	CHECK_INT(v, ==, -5);
	CHECK_INT(strict_int("-9223372036854775808", INT64_MIN, 0, &v, &e), ==, 0);
	CHECK(v == INT64_MIN);
	CHECK_INT(strict_int("9223372036854775808", INT64_MIN, INT64_MAX, &v, &e),
	    ==, -1);
	CHECK_INT(strict_int("-11", -10, 10, &v, &e), ==, -1);
	CHECK_STR(e, "too small");
}

static void
test_strict_duration_units(void)
{
	uint64_t ms;
	const char *e;
	struct { const char *s; uint64_t ms; } good[] = {
		{ "250ms", 250 }, { "2s", 2000 }, { "5m", 300000 },
		{ "1h", 3600000 }, { "7d", 604800000 }, { "0", 0 },
		{ "0s", 0 }, { "1h30m", 5400000 }, { "1m500ms", 60500 },
		{ "2w", 1209600000 }, { "1y", 31536000000ULL },
		{ "1y2w", 31536000000ULL + 1209600000 },
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		CHECK_INT(strict_duration(good[i].s, &ms, &e), ==, 0);
		CHECK_INT(ms, ==, good[i].ms);
	}
	CHECK_INT(strict_duration("30", &ms, &e), ==, -1);
	CHECK_STR(e, "missing unit (ms, s, m, h, d, w, y)");
	CHECK_INT(strict_duration("5x", &ms, &e), ==, -1);
	CHECK_STR(e, "unknown unit (ms, s, m, h, d, w, y)");
	CHECK_INT(strict_duration("", &ms, &e), ==, -1);
	CHECK_STR(e, "empty");
	CHECK_INT(strict_duration("s", &ms, &e), ==, -1);
	CHECK_STR(e, "not a number");
	CHECK_INT(strict_duration("-1s", &ms, &e), ==, -1);
	CHECK_INT(strict_duration("1.5s", &ms, &e), ==, -1);
	CHECK_INT(strict_duration("1 s", &ms, &e), ==, -1);
	CHECK_INT(strict_duration("99999999999999999d", &ms, &e), ==, -1);
	CHECK_STR(e, "out of range");
}

static void
test_strict_size_units(void)
{
	uint64_t b;
	const char *e;

	CHECK_INT(strict_size("512", &b, &e), ==, 0);
	CHECK_INT(b, ==, 512);
	CHECK_INT(strict_size("16k", &b, &e), ==, 0);
	CHECK_INT(b, ==, 16384);
	CHECK_INT(strict_size("8m", &b, &e), ==, 0);
	CHECK_INT(b, ==, 8 << 20);
	CHECK_INT(strict_size("1g", &b, &e), ==, 0);
	CHECK_INT(b, ==, 1 << 30);
	CHECK_INT(strict_size("10M", &b, &e), ==, 0);
	CHECK_INT(b, ==, 10 << 20);
	CHECK_INT(strict_size("10mb", &b, &e), ==, -1);
	CHECK_STR(e, "unknown unit (k, m, g)");
	CHECK_INT(strict_size("10x", &b, &e), ==, -1);
	CHECK_INT(strict_size("k", &b, &e), ==, -1);
	CHECK_INT(strict_size("99999999999999999999", &b, &e), ==, -1);
	CHECK_INT(strict_size("17179869184g", &b, &e), ==, -1);
	CHECK_STR(e, "out of range");
}

static void
test_strict_port_and_bool(void)
{
	uint16_t p;
	bool b;
	const char *e;

	CHECK_INT(strict_port("443", &p, &e), ==, 0);
	CHECK_INT(p, ==, 443);
	CHECK_INT(strict_port("65535", &p, &e), ==, 0);
	CHECK_INT(strict_port("0", &p, &e), ==, -1);
	CHECK_STR(e, "port must be 1..65535");
	CHECK_INT(strict_port("65536", &p, &e), ==, -1);
	CHECK_INT(strict_port("http", &p, &e), ==, -1);
	CHECK_INT(strict_bool("true", &b, &e), ==, 0);
	CHECK(b);
	CHECK_INT(strict_bool("false", &b, &e), ==, 0);
	CHECK(!b);
	CHECK_INT(strict_bool("yes", &b, &e), ==, -1);
	CHECK_STR(e, "expected true or false");
}

static void
test_strict_addr_forms(void)
{
	struct arena *a = arena_new(0);
	struct conf_addr ad;
	const char *e;
	char buf[64];

	REQUIRE(strict_addr(a, "127.0.0.1:9090", &ad, &e) == 0);
	CHECK_STR(ad.text, "127.0.0.1:9090");
	CHECK_STR(ad.host, "127.0.0.1");
	CHECK_INT(ad.port, ==, 9090);
	CHECK(!ad.is_name);
	CHECK_INT(ad.sa.ss_family, ==, AF_INET);
	CHECK_INT(ad.sa_len, ==, sizeof(struct sockaddr_in));
	struct sockaddr_in *sin = (struct sockaddr_in *)&ad.sa;
	CHECK_INT(ntohs(sin->sin_port), ==, 9090);
	CHECK_STR(inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf),
	    "127.0.0.1");

	REQUIRE(strict_addr(a, ":443", &ad, &e) == 0);
	CHECK(ad.host == NULL);
	CHECK_INT(ad.port, ==, 443);
	CHECK(ad.sa.ss_family == AF_INET6 || ad.sa.ss_family == AF_INET);

	REQUIRE(strict_addr(a, "[::1]:8443", &ad, &e) == 0);
	CHECK_STR(ad.host, "::1");
	CHECK_INT(ad.sa.ss_family, ==, AF_INET6);
	CHECK_INT(ad.sa_len, ==, sizeof(struct sockaddr_in6));

	REQUIRE(strict_addr(a, "api.default.svc.cluster.local:8000", &ad, &e)
	    == 0);
	CHECK(ad.is_name);
	CHECK_STR(ad.host, "api.default.svc.cluster.local");
	CHECK_INT(ad.sa_len, ==, 0);

	struct { const char *s, *err; } bad[] = {
		{ "", "empty address" },
		{ "8080", "missing port (host:port or :port)" },
		{ "::1:80", "an IPv6 address needs brackets ([::1]:port)" },
		{ "[::1]80", "missing port ([addr]:port)" },
		{ "[::1:80", "missing ']'" },
		{ "[nope]:80", "invalid IPv6 address" },
		{ "300.1.1.1:80", "invalid IPv4 address" },
		{ "1.2.3:80", "invalid IPv4 address" },
		{ "bad_host!:80", "invalid host name" },
		{ "-x.com:80", "invalid host name" },
		{ "host:", "port must be 1..65535" },
		{ "host:0", "port must be 1..65535" },
		{ "host:99999", "port must be 1..65535" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		e = NULL;
		CHECK_INT(strict_addr(a, bad[i].s, &ad, &e), ==, -1);
		CHECK_STR(e, bad[i].err);
	}
	arena_free(a);
}

static void
test_strict_hostname_labels(void)
{
	CHECK(strict_hostname("example.com"));
	CHECK(strict_hostname("a-b.c_d.e"));
	CHECK(strict_hostname("localhost"));
	CHECK(!strict_hostname(""));
	CHECK(!strict_hostname("a..b"));
	CHECK(!strict_hostname("a.b."));
	CHECK(!strict_hostname("a-.b"));
	CHECK(!strict_hostname("a b"));
	char long_label[70];
	memset(long_label, 'a', 64);
	long_label[64] = '\0';
	CHECK(!strict_hostname(long_label));
}

static void
test_strict_cidr_parses_and_matches(void)
{
	struct conf_cidr c;
	const char *e;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

	REQUIRE(strict_cidr("10.0.0.0/8", &c, &e) == 0);
	CHECK_INT(c.prefix, ==, 104);
	inet_pton(AF_INET, "10.200.3.4", &sin.sin_addr);
	CHECK(strict_cidr_match(&c, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "11.0.0.1", &sin.sin_addr);
	CHECK(!strict_cidr_match(&c, (struct sockaddr *)&sin));
	/* an IPv4-mapped IPv6 peer matches the IPv4 network */
	inet_pton(AF_INET6, "::ffff:10.1.1.1", &sin6.sin6_addr);
	CHECK(strict_cidr_match(&c, (struct sockaddr *)&sin6));

	REQUIRE(strict_cidr("192.168.0.0/16", &c, &e) == 0);
	inet_pton(AF_INET, "192.168.255.1", &sin.sin_addr);
	CHECK(strict_cidr_match(&c, (struct sockaddr *)&sin));
	REQUIRE(strict_cidr("192.168.1.128/25", &c, &e) == 0);
	inet_pton(AF_INET, "192.168.1.200", &sin.sin_addr);
	CHECK(strict_cidr_match(&c, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "192.168.1.100", &sin.sin_addr);
	CHECK(!strict_cidr_match(&c, (struct sockaddr *)&sin));

	REQUIRE(strict_cidr("2001:db8::/32", &c, &e) == 0);
	CHECK_INT(c.prefix, ==, 32);
	inet_pton(AF_INET6, "2001:db8:1::5", &sin6.sin6_addr);
	CHECK(strict_cidr_match(&c, (struct sockaddr *)&sin6));
	inet_pton(AF_INET6, "2001:db9::5", &sin6.sin6_addr);
	CHECK(!strict_cidr_match(&c, (struct sockaddr *)&sin6));

	REQUIRE(strict_cidr("203.0.113.7", &c, &e) == 0);
	CHECK_INT(c.prefix, ==, 128);
	REQUIRE(strict_cidr("0.0.0.0/0", &c, &e) == 0);
	inet_pton(AF_INET, "8.8.8.8", &sin.sin_addr);
	CHECK(strict_cidr_match(&c, (struct sockaddr *)&sin));
	REQUIRE(strict_cidr("::/0", &c, &e) == 0);
	CHECK(strict_cidr_match(&c, (struct sockaddr *)&sin6));

	struct sockaddr un = { .sa_family = AF_UNIX };
	CHECK(!strict_cidr_match(&c, &un));

	CHECK_INT(strict_cidr("10.0.0.1/8", &c, &e), ==, -1);
	CHECK_STR(e, "host bits set after the prefix length");
	CHECK_INT(strict_cidr("10.0.0.0/33", &c, &e), ==, -1);
	CHECK_STR(e, "prefix length must be 0..32");
	CHECK_INT(strict_cidr("::/129", &c, &e), ==, -1);
	CHECK_STR(e, "prefix length must be 0..128");
	CHECK_INT(strict_cidr("10.0.0.0/", &c, &e), ==, -1);
	CHECK_INT(strict_cidr("example.com/8", &c, &e), ==, -1);
	CHECK_STR(e, "invalid address");
	CHECK_INT(strict_cidr("", &c, &e), ==, -1);
}

static void
test_strict_rate_per_second(void)
{
	double r;
	const char *e;

	CHECK_INT(strict_rate("100/s", &r, &e), ==, 0);
	CHECK(r == 100.0);
	CHECK_INT(strict_rate("10/m", &r, &e), ==, 0);
	CHECK(r > 0.1666 && r < 0.1667);
	CHECK_INT(strict_rate("3600/h", &r, &e), ==, 0);
	CHECK(r == 1.0);
	CHECK_INT(strict_rate("0.5/s", &r, &e), ==, 0);
	CHECK(r == 0.5);
	CHECK_INT(strict_rate("0/s", &r, &e), ==, -1);
	CHECK_STR(e, "rate must be above zero");
	CHECK_INT(strict_rate("10/w", &r, &e), ==, -1);
	CHECK_STR(e, "unknown unit (s, m, h, d)");
	CHECK_INT(strict_rate("100", &r, &e), ==, -1);
	CHECK_STR(e, "expected N/s, N/m, N/h or N/d");
	CHECK_INT(strict_rate("/s", &r, &e), ==, -1);
	CHECK_INT(strict_rate("1./s", &r, &e), ==, -1);
}

HARNESS_MAIN(T(test_strict_uint_accepts_digits_in_range_only),
    T(test_strict_int_takes_a_sign),
    T(test_strict_duration_units),
    T(test_strict_size_units),
    T(test_strict_port_and_bool),
    T(test_strict_addr_forms),
    T(test_strict_hostname_labels),
    T(test_strict_cidr_parses_and_matches),
    T(test_strict_rate_per_second))
