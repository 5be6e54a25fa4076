/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_proxy_proto.c — the PROXY protocol v1/v2 parser
 * (proxy/proxy_proto.c): valid headers of every family, the "need more
 * bytes" answer at every split point (and that those bytes all belong to
 * the header), and the malformed headers a strict parser must refuse.
 * Inputs sit against a guard page, so a read past the end crashes.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "proxy/proxy_proto.h"
#include "tests/unit/harness.h"

static const uint8_t sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

static int
parse(const void *p, size_t n, struct proxy_proto *out)
{
	return proxy_proto_parse(harness_guarded(p, n), n, out);
}

static void
check_v4(const struct proxy_proto *pp, const char *src, unsigned sport,
    const char *dst, unsigned dport)
{
	const struct sockaddr_in *s = (const void *)&pp->src;
	const struct sockaddr_in *d = (const void *)&pp->dst;
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];

	CHECK(pp->has_addr);
	CHECK_INT(s->sin_family, ==, AF_INET);
	CHECK_INT(pp->src_len, ==, sizeof(struct sockaddr_in));
	inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
	inet_ntop(AF_INET, &d->sin_addr, b, sizeof(b));
	CHECK_STR(a, src);
	CHECK_STR(b, dst);
	CHECK_INT(ntohs(s->sin_port), ==, sport);
	CHECK_INT(ntohs(d->sin_port), ==, dport);
}

static void
test_proxy_proto_v1_tcp4_and_tcp6(void)
{
	static const char l4[] = "PROXY TCP4 192.0.2.7 10.0.0.1 56324 443\r\n";
	static const char l6[] = "PROXY TCP6 2001:db8::1 ::1 1 65535\r\nGET";
	struct proxy_proto pp;
	char a[INET6_ADDRSTRLEN];

	CHECK_INT(parse(l4, sizeof(l4) - 1, &pp), ==, sizeof(l4) - 1);
	CHECK_INT(pp.version, ==, 1);
	check_v4(&pp, "192.0.2.7", 56324, "10.0.0.1", 443);

	/* bytes after the header are not part of it */
	CHECK_INT(parse(l6, sizeof(l6) - 1, &pp), ==, sizeof(l6) - 4);
	CHECK(pp.has_addr);
	CHECK_INT(pp.src.ss_family, ==, AF_INET6);
	inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)&pp.src)->sin6_addr,
	    a, sizeof(a));
	CHECK_STR(a, "2001:db8::1");
	CHECK_INT(ntohs(((struct sockaddr_in6 *)(void *)&pp.dst)->sin6_port),
	    ==, 65535);
}

static void
test_proxy_proto_v1_unknown_keeps_connection_address(void)
{
	static const char u1[] = "PROXY UNKNOWN\r\n";
	static const char u2[] = "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n";
	struct proxy_proto pp;

	CHECK_INT(parse(u1, sizeof(u1) - 1, &pp), ==, sizeof(u1) - 1);
	CHECK(!pp.has_addr);
	CHECK_INT(parse(u2, sizeof(u2) - 1, &pp), ==, sizeof(u2) - 1);
	CHECK(!pp.has_addr);
}

static void
test_proxy_proto_v1_rejects_malformed(void)
{
	static const char *const bad[] = {
		"PROXY TCP4 192.0.2.7 10.0.0.1 56324 443\n",	/* no CR */
		"PROXY TCP4 192.0.2.7 10.0.0.1 56324 443\rX",
		"PROXY TCP4  192.0.2.7 10.0.0.1 56324 443\r\n",	/* two spaces */
		"PROXY TCP4 192.0.2.7 10.0.0.1 56324 443 \r\n",	/* trailing */
		"PROXY TCP4 192.0.2.7 10.0.0.1 56324\r\n",	/* missing port */
		"PROXY TCP4 192.0.2.7 10.0.0.1 56324 443 1\r\n",
		"PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n",	/* wrong family */
		"PROXY TCP6 192.0.2.7 ::1 1 2\r\n",
		"PROXY TCP4 192.0.2.300 10.0.0.1 1 2\r\n",
		"PROXY TCP4 192.0.2.7 10.0.0.1 65536 443\r\n",	/* port range */
		"PROXY TCP4 192.0.2.7 10.0.0.1 0443 443\r\n",	/* leading zero */
		"PROXY TCP4 192.0.2.7 10.0.0.1 -1 443\r\n",
		"PROXY UDP4 192.0.2.7 10.0.0.1 1 2\r\n",
		"PROXY tcp4 192.0.2.7 10.0.0.1 1 2\r\n",
		"PROXY \r\n",
		"PROXY TCP4 192.0.2.7\t10.0.0.1 1 2\r\n",
		"proxy TCP4 192.0.2.7 10.0.0.1 1 2\r\n",
		"GET / HTTP/1.1\r\n",
		"\x16\x03\x01\x02\x00",				/* a ClientHello */
	};
	struct proxy_proto pp;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], strlen(bad[i]), &pp) != -1)
			harness_fail(__FILE__, __LINE__, "accepted: %s", bad[i]);
	}
}

static void
test_proxy_proto_v1_length_bound(void)
{
	char line[200];
	struct proxy_proto pp;

	/* 107 bytes with CRLF is the most; one more is refused even before
	 * the CRLF arrives */
	memset(line, 0, sizeof(line));
	strcpy(line, "PROXY UNKNOWN ");
	memset(line + 14, 'a', 91);
	memcpy(line + 105, "\r\n", 2);
	CHECK_INT(parse(line, 107, &pp), ==, 107);
	memset(line + 14, 'a', 92);
	memcpy(line + 106, "\r\n", 2);
	CHECK_INT(parse(line, 108, &pp), ==, -1);
	memset(line, 'a', sizeof(line));
	memcpy(line, "PROXY ", 6);
	CHECK_INT(parse(line, 107, &pp), ==, -1);
	CHECK_INT(parse(line, 106, &pp), ==, 0);
}

/* A v2 header: cmd (0 LOCAL, 1 PROXY), fam byte, address block, TLVs. */
static size_t
v2(uint8_t *out, uint8_t cmd, uint8_t fam, const uint8_t *addr,
    size_t alen, const uint8_t *tlv, size_t tlen)
{
	size_t len = alen + tlen;

	memcpy(out, sig, 12);
	out[12] = (uint8_t)(0x20 | cmd);
	out[13] = fam;
	out[14] = (uint8_t)(len >> 8);
	out[15] = (uint8_t)len;
	if (alen)
		memcpy(out + 16, addr, alen);
	if (tlen)
		memcpy(out + 16 + alen, tlv, tlen);
	return 16 + len;
}

static const uint8_t addr4[12] = {
	192, 0, 2, 7, 10, 0, 0, 1, 0xdc, 0x04, 0x01, 0xbb
};

static void
test_proxy_proto_v2_inet_inet6_local(void)
{
	uint8_t buf[600], a6[36];
	struct proxy_proto pp;
	size_t n;

	n = v2(buf, 1, 0x11, addr4, sizeof(addr4), NULL, 0);
	CHECK_INT(parse(buf, n, &pp), ==, n);
	CHECK_INT(pp.version, ==, 2);
	check_v4(&pp, "192.0.2.7", 56324, "10.0.0.1", 443);

	memset(a6, 0, sizeof(a6));
	a6[0] = 0x20;
	a6[1] = 0x01;
	a6[15] = 1;
	a6[31] = 1;
	a6[32] = 0x12;
	a6[33] = 0x34;
	n = v2(buf, 1, 0x21, a6, sizeof(a6), NULL, 0);
	CHECK_INT(parse(buf, n, &pp), ==, n);
	CHECK_INT(pp.src.ss_family, ==, AF_INET6);
	CHECK_INT(ntohs(((struct sockaddr_in6 *)(void *)&pp.src)->sin6_port),
	    ==, 0x1234);

	/* LOCAL (the balancer's own health check): no address, even with
	 * an address block present */
	n = v2(buf, 0, 0x00, NULL, 0, NULL, 0);
	CHECK_INT(parse(buf, n, &pp), ==, 16);
	CHECK(!pp.has_addr);
	n = v2(buf, 0, 0x11, addr4, sizeof(addr4), NULL, 0);
	CHECK_INT(parse(buf, n, &pp), ==, n);
	CHECK(!pp.has_addr);

	/* AF_UNIX: accepted, the connection's own address is kept */
	{
		uint8_t ux[216] = { 0 };
		n = v2(buf, 1, 0x31, ux, sizeof(ux), NULL, 0);
		CHECK_INT(parse(buf, n, &pp), ==, n);
		CHECK(!pp.has_addr);
	}
}

static uint32_t
crc32c(const uint8_t *p, size_t n)
{
	uint32_t crc = 0xffffffffu;

	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return ~crc;
}

static void
test_proxy_proto_v2_tlvs_and_crc(void)
{
	uint8_t buf[600], tlv[64];
	struct proxy_proto pp;
	size_t n;
	uint32_t c;

	/* ALPN "h2" + NOOP, tiling the rest exactly */
	memcpy(tlv, "\x01\x00\x02h2\x04\x00\x01\x00", 9);
	n = v2(buf, 1, 0x11, addr4, sizeof(addr4), tlv, 9);
	CHECK_INT(parse(buf, n, &pp), ==, n);
	/* a TLV running past the end */
	memcpy(tlv, "\x01\x00\x05h2", 5);
	n = v2(buf, 1, 0x11, addr4, sizeof(addr4), tlv, 5);
	CHECK_INT(parse(buf, n, &pp), ==, -1);
	/* two stray bytes */
	memcpy(tlv, "\x01\x00", 2);
	n = v2(buf, 1, 0x11, addr4, sizeof(addr4), tlv, 2);
	CHECK_INT(parse(buf, n, &pp), ==, -1);

	/* CRC32C over the whole header with the field zeroed */
	memcpy(tlv, "\x03\x00\x04\x00\x00\x00\x00", 7);
	n = v2(buf, 1, 0x11, addr4, sizeof(addr4), tlv, 7);
	c = crc32c(buf, n);
	buf[n - 4] = (uint8_t)(c >> 24);
	buf[n - 3] = (uint8_t)(c >> 16);
	buf[n - 2] = (uint8_t)(c >> 8);
	buf[n - 1] = (uint8_t)c;
	CHECK_INT(parse(buf, n, &pp), ==, n);
	buf[16] ^= 1;		/* a changed source address */
	CHECK_INT(parse(buf, n, &pp), ==, -1);
}

static void
test_proxy_proto_v2_rejects_malformed(void)
{
	uint8_t buf[600];
	struct proxy_proto pp;
	size_t n;

	n = v2(buf, 1, 0x11, addr4, sizeof(addr4), NULL, 0);
	buf[12] = 0x11;				/* version 1 in a v2 header */
	CHECK_INT(parse(buf, n, &pp), ==, -1);
	n = v2(buf, 2, 0x11, addr4, sizeof(addr4), NULL, 0);	/* command 2 */
	CHECK_INT(parse(buf, n, &pp), ==, -1);
	n = v2(buf, 1, 0x12, addr4, sizeof(addr4), NULL, 0);	/* UDP */
	CHECK_INT(parse(buf, n, &pp), ==, -1);
	n = v2(buf, 1, 0x41, addr4, sizeof(addr4), NULL, 0);	/* family 4 */
	CHECK_INT(parse(buf, n, &pp), ==, -1);
	n = v2(buf, 1, 0x00, NULL, 0, NULL, 0);	/* PROXY needs an address */
	CHECK_INT(parse(buf, n, &pp), ==, -1);
	n = v2(buf, 1, 0x21, addr4, sizeof(addr4), NULL, 0);	/* too short */
	CHECK_INT(parse(buf, n, &pp), ==, -1);
	/* longer than we take: refused from the 16-byte head on */
	n = v2(buf, 1, 0x11, addr4, sizeof(addr4), NULL, 0);
	buf[14] = (uint8_t)((PROXY_PROTO_MAX - 16 + 1) >> 8);
	buf[15] = (uint8_t)(PROXY_PROTO_MAX - 16 + 1);
	CHECK_INT(parse(buf, 16, &pp), ==, -1);
	/* a broken signature */
	n = v2(buf, 1, 0x11, addr4, sizeof(addr4), NULL, 0);
	buf[11] = 'X';
	CHECK_INT(parse(buf, n, &pp), ==, -1);
}

/* Every prefix of a valid header asks for more (never -1, never a
 * result), so the reader may consume every byte it saw. */
static void
test_proxy_proto_prefixes_need_more(void)
{
	static const char l4[] = "PROXY TCP4 192.0.2.7 10.0.0.1 56324 443\r\n";
	uint8_t buf[64];
	struct proxy_proto pp;
	size_t n, i;

	for (i = 0; i < sizeof(l4) - 1; i++)
		if (parse(l4, i, &pp) != 0)
			harness_fail(__FILE__, __LINE__, "v1 prefix %zu", i);
	n = v2(buf, 1, 0x11, addr4, sizeof(addr4), NULL, 0);
	for (i = 0; i < n; i++)
		if (parse(buf, i, &pp) != 0)
			harness_fail(__FILE__, __LINE__, "v2 prefix %zu", i);
	CHECK_INT(parse(buf, n, &pp), ==, n);
}

HARNESS_MAIN(
	T(test_proxy_proto_v1_tcp4_and_tcp6),
	T(test_proxy_proto_v1_unknown_keeps_connection_address),
	T(test_proxy_proto_v1_rejects_malformed),
	T(test_proxy_proto_v1_length_bound),
	T(test_proxy_proto_v2_inet_inet6_local),
	T(test_proxy_proto_v2_tlvs_and_crc),
	T(test_proxy_proto_v2_rejects_malformed),
	T(test_proxy_proto_prefixes_need_more)
)
