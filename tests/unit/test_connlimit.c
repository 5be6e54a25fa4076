/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_connlimit.c — the accept-time limits of proxy/connlimit.c: the
 * process total, the per-address counters, and giving both back.
 */
#include "tests/unit/harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "proxy/connlimit.h"

static struct sockaddr_storage
addr(const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, text, &s6->sin6_addr);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		inet_pton(AF_INET, text, &s4->sin_addr);
	}
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static void
test_connlimit_unlimited_counts_nothing(void)
{
	struct sockaddr_storage a = addr("192.0.2.1");

	CHECK_INT(connlimit_admit(SA(a), 0, 0), ==, 0);
	CHECK_INT(connlimit_total(), ==, 0);
}

static void
test_connlimit_total_refuses_over_the_limit_and_gives_back(void)
{
	struct sockaddr_storage a = addr("192.0.2.1");
	int f[3];

	for (int i = 0; i < 3; i++)
		CHECK_INT(f[i] = connlimit_admit(SA(a), 3, 0), ==,
		    CONNLIMIT_TOTAL);
	CHECK_INT(connlimit_admit(SA(a), 3, 0), ==, -1);
	CHECK_INT(connlimit_total(), ==, 3);
	connlimit_release(SA(a), (unsigned)f[0]);
	CHECK_INT(connlimit_admit(SA(a), 3, 0), ==, CONNLIMIT_TOTAL);
	for (int i = 0; i < 3; i++)
		connlimit_release(SA(a), CONNLIMIT_TOTAL);
	CHECK_INT(connlimit_total(), ==, 0);
}

static void
test_connlimit_per_ip_is_per_address(void)
{
	struct sockaddr_storage a = addr("192.0.2.1");
	struct sockaddr_storage b = addr("192.0.2.2");
	struct sockaddr_storage m = addr("::ffff:192.0.2.1");

	CHECK_INT(connlimit_admit(SA(a), 0, 2), ==, CONNLIMIT_IP);
	CHECK_INT(connlimit_admit(SA(a), 0, 2), ==, CONNLIMIT_IP);
	CHECK_INT(connlimit_admit(SA(a), 0, 2), ==, -1);
	/* the same client over a v4-mapped address is the same client */
	CHECK_INT(connlimit_admit(SA(m), 0, 2), ==, -1);
	CHECK_INT(connlimit_admit(SA(b), 0, 2), ==, CONNLIMIT_IP);
	connlimit_release(SA(a), CONNLIMIT_IP);
	CHECK_INT(connlimit_admit(SA(m), 0, 2), ==, CONNLIMIT_IP);
	connlimit_release(SA(m), CONNLIMIT_IP);
	connlimit_release(SA(a), CONNLIMIT_IP);
	connlimit_release(SA(b), CONNLIMIT_IP);
}

static void
test_connlimit_ipv6_counts_the_slash64(void)
{
	struct sockaddr_storage a = addr("2001:db8:1:2::1");
	struct sockaddr_storage b = addr("2001:db8:1:2::ffff");
	struct sockaddr_storage c = addr("2001:db8:1:3::1");

	CHECK_INT(connlimit_admit(SA(a), 0, 1), ==, CONNLIMIT_IP);
	CHECK_INT(connlimit_admit(SA(b), 0, 1), ==, -1);
	CHECK_INT(connlimit_admit(SA(c), 0, 1), ==, CONNLIMIT_IP);
	connlimit_release(SA(a), CONNLIMIT_IP);
	connlimit_release(SA(c), CONNLIMIT_IP);
}

static void
test_connlimit_refused_by_ip_gives_the_total_back(void)
{
	struct sockaddr_storage a = addr("198.51.100.7");

	CHECK_INT(connlimit_admit(SA(a), 10, 1), ==,
	    CONNLIMIT_TOTAL | CONNLIMIT_IP);
	CHECK_INT(connlimit_admit(SA(a), 10, 1), ==, -1);
	CHECK_INT(connlimit_total(), ==, 1);
	connlimit_release(SA(a), CONNLIMIT_TOTAL | CONNLIMIT_IP);
	CHECK_INT(connlimit_total(), ==, 0);
}

HARNESS_MAIN(
	T(test_connlimit_unlimited_counts_nothing),
	T(test_connlimit_total_refuses_over_the_limit_and_gives_back),
	T(test_connlimit_per_ip_is_per_address),
	T(test_connlimit_ipv6_counts_the_slash64),
	T(test_connlimit_refused_by_ip_gives_the_total_back))
