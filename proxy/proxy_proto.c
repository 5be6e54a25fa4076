/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * proxy_proto.c — PROXY protocol v1/v2 parser (see proxy_proto.h).
 */
#include "proxy/proxy_proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static const uint8_t v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};
static const char v1_sig[6] = "PROXY ";

#define V2_HEAD 16
#define V2_CMD_LOCAL 0x0
#define V2_CMD_PROXY 0x1
#define V2_AF_UNSPEC 0x0
#define V2_AF_INET 0x1
#define V2_AF_INET6 0x2
#define V2_AF_UNIX 0x3
#define V2_T_UNSPEC 0x0
#define V2_T_STREAM 0x1
#define V2_TLV_CRC32C 0x03
#define V2_TLV_NOOP 0x04

/* ---- v1 ----------------------------------------------------------------- */

/* One decimal port: 1-5 digits, no leading zero, <= 65535. */
static int
v1_port(const char *s, size_t n, uint16_t *out)
{
	unsigned long v = 0;

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

static int
v1_addr(int af, const char *s, size_t n, uint16_t port,
    struct sockaddr_storage *ss, socklen_t *len)
{
	char tmp[INET6_ADDRSTRLEN];

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, tmp, &sin->sin_addr) != 1)
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, tmp, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
	}
	return 0;
}

static bool
v1_char_ok(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'Z') || c == '.' || c == ':' || c == ' ';
}

static int
v1_parse(const uint8_t *buf, size_t len, struct proxy_proto *out)
{
	const char *p = (const char *)buf, *f[6];
	size_t end, fl[6], nf = 0, i, start;
	uint16_t sport, dport;
	int af;

	/* Find CRLF within the bound; every byte before it must be one of
	 * the characters a valid line can hold. */
	for (end = 0; end < len && end < PROXY_PROTO_V1_MAX; end++) {
		if (buf[end] == '\r')
			break;
		if (!v1_char_ok(buf[end]))
			return -1;
	}
	if (end == len)
		return len >= PROXY_PROTO_V1_MAX ? -1 : 0;
	if (end >= PROXY_PROTO_V1_MAX - 1)
		return -1;
	if (end + 1 == len)
		return 0;
	if (buf[end + 1] != '\n')
		return -1;

	/* Split on single spaces: PROXY FAM SRC DST SPORT DPORT. */
	for (i = start = 6; i <= end; i++) {
		if (i < end && p[i] != ' ')
			continue;
		if (i == start || nf == 6)
			return -1;
		f[nf] = p + start;
		fl[nf++] = i - start;
		start = i + 1;
	}
	if (nf >= 1 && fl[0] == 7 && memcmp(f[0], "UNKNOWN", 7) == 0) {
		/* The rest is to be ignored by the receiver. */
		memset(out, 0, sizeof(*out));
		out->version = 1;
		return (int)(end + 2);
	}
	if (nf != 5)
		return -1;
	if (fl[0] == 4 && memcmp(f[0], "TCP4", 4) == 0)
		af = AF_INET;
	else if (fl[0] == 4 && memcmp(f[0], "TCP6", 4) == 0)
		af = AF_INET6;
	else
		return -1;
	memset(out, 0, sizeof(*out));
	if (v1_port(f[3], fl[3], &sport) == -1 ||
	    v1_port(f[4], fl[4], &dport) == -1 ||
	    v1_addr(af, f[1], fl[1], sport, &out->src, &out->src_len) == -1 ||
	    v1_addr(af, f[2], fl[2], dport, &out->dst, &out->dst_len) == -1)
		return -1;
	out->version = 1;
	out->has_addr = true;
	return (int)(end + 2);
}

/* ---- v2 ----------------------------------------------------------------- */

/* CRC32C (Castagnoli), bitwise: a header is small and rare. */
static uint32_t
crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return ~crc;
}

/* TLVs must tile the rest exactly; check a CRC32C one if present. */
static int
v2_tlvs(const uint8_t *buf, size_t total, size_t off)
{
	bool seen_crc = false;

	while (off < total) {
		size_t vlen;

		if (total - off < 3)
			return -1;
		vlen = (size_t)buf[off + 1] << 8 | buf[off + 2];
		if (vlen > total - off - 3)
			return -1;
		if (buf[off] == V2_TLV_CRC32C) {
			uint8_t copy[PROXY_PROTO_MAX];
			uint32_t want, got;

			if (vlen != 4 || seen_crc)
				return -1;
			seen_crc = true;
			want = (uint32_t)buf[off + 3] << 24 |
			    (uint32_t)buf[off + 4] << 16 |
			    (uint32_t)buf[off + 5] << 8 | buf[off + 6];
			memcpy(copy, buf, total);
			memset(copy + off + 3, 0, 4);
			got = crc32c(0, copy, total);
			if (got != want)
				return -1;
		}
		off += 3 + vlen;
	}
	return 0;
}

static int
v2_parse(const uint8_t *buf, size_t len, struct proxy_proto *out)
{
	size_t total, need;
	uint8_t cmd, af, tr;

	if (len < V2_HEAD)
		return 0;
	if ((buf[12] >> 4) != 2)
		return -1;
	cmd = buf[12] & 0x0f;
	af = buf[13] >> 4;
	tr = buf[13] & 0x0f;
	total = V2_HEAD + ((size_t)buf[14] << 8 | buf[15]);
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
		return -1;
	if (total > PROXY_PROTO_MAX)
		return -1;
	switch (af) {
	case V2_AF_UNSPEC:
		need = 0;
		break;
	case V2_AF_INET:
		need = 12;
		break;
	case V2_AF_INET6:
		need = 36;
		break;
	case V2_AF_UNIX:
		need = 216;
		break;
	default:
		return -1;
	}
	/* Transport: unspecified only with an unspecified family (LOCAL
	 * health checks); otherwise a stream.  UDP is not ours. */
	if (af == V2_AF_UNSPEC ? tr != V2_T_UNSPEC : tr != V2_T_STREAM)
		return -1;
	if (cmd == V2_CMD_PROXY && af == V2_AF_UNSPEC)
		return -1;
	if (total - V2_HEAD < need)
		return -1;
	if (len < total)
		return 0;
	if (v2_tlvs(buf, total, V2_HEAD + need) == -1)
		return -1;

	memset(out, 0, sizeof(*out));
	out->version = 2;
	if (cmd == V2_CMD_LOCAL || af == V2_AF_UNIX || af == V2_AF_UNSPEC)
		return (int)total;
	out->has_addr = true;
	if (af == V2_AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&out->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&out->dst;
		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, buf + 16, 4);
		memcpy(&d->sin_addr, buf + 20, 4);
		memcpy(&s->sin_port, buf + 24, 2);
		memcpy(&d->sin_port, buf + 26, 2);
		out->src_len = out->dst_len = sizeof(struct sockaddr_in);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&out->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&out->dst;
		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, buf + 16, 16);
		memcpy(&d->sin6_addr, buf + 32, 16);
		memcpy(&s->sin6_port, buf + 48, 2);
		memcpy(&d->sin6_port, buf + 50, 2);
		out->src_len = out->dst_len = sizeof(struct sockaddr_in6);
	}
	return (int)total;
}

int
proxy_proto_parse(const uint8_t *buf, size_t len, struct proxy_proto *out)
{
	size_t n;

	if (len == 0)
		return 0;
	n = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
	if (memcmp(buf, v2_sig, n) == 0)
		return n < sizeof(v2_sig) ? 0 : v2_parse(buf, len, out);
	n = len < sizeof(v1_sig) ? len : sizeof(v1_sig);
	if (memcmp(buf, v1_sig, n) == 0)
		return n < sizeof(v1_sig) ? 0 : v1_parse(buf, len, out);
	return -1;
}
