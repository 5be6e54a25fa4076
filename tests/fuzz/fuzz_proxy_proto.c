/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_proxy_proto.c — libFuzzer target for the PROXY protocol parser
 * (proxy/proxy_proto.c), which reads the first bytes of connections on
 * listeners with `proxy_protocol: true`.
 *
 * Invariants checked: a complete header is never longer than the input
 * nor than PROXY_PROTO_MAX; a v1 header ends in CRLF within 107 bytes;
 * every proper prefix of an accepted header answers "need more" (the
 * reader relies on it to consume bytes as they come); an address result
 * has a known family with the matching length; parsing is deterministic.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "proxy/proxy_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_proto pp, again;
	int n, m;

	memset(&pp, 0xa5, sizeof(pp));
	n = proxy_proto_parse(data, size, &pp);
	if (n < -1 || (size_t)(n > 0 ? n : 0) > size || n > PROXY_PROTO_MAX)
		abort();
	if (n == 0 && size >= PROXY_PROTO_MAX)
		abort();
	if (n <= 0)
		return 0;
	if (pp.version == 1 && (n > PROXY_PROTO_V1_MAX ||
	    data[n - 2] != '\r' || data[n - 1] != '\n'))
		abort();
	if (pp.version != 1 && pp.version != 2)
		abort();
	if (pp.has_addr) {
		if (pp.src.ss_family != pp.dst.ss_family)
			abort();
		if (pp.src.ss_family == AF_INET) {
			if (pp.src_len != sizeof(struct sockaddr_in) ||
			    pp.dst_len != sizeof(struct sockaddr_in))
				abort();
		} else if (pp.src.ss_family == AF_INET6) {
			if (pp.src_len != sizeof(struct sockaddr_in6) ||
			    pp.dst_len != sizeof(struct sockaddr_in6))
				abort();
		} else {
			abort();
		}
	}
	for (int k = 0; k < n; k++)
		if (proxy_proto_parse(data, (size_t)k, &again) != 0)
			abort();
	m = proxy_proto_parse(data, (size_t)n, &again);
	if (m != n || again.has_addr != pp.has_addr ||
	    (pp.has_addr && memcmp(&again.src, &pp.src, pp.src_len) != 0))
		abort();
	return 0;
}
