/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * proxy_proto.h — the PROXY protocol header (HAProxy's
 * proxy-protocol.txt, versions 1 and 2) that a fronting load balancer
 * sends before anything else on a connection to a listener with
 * `proxy_protocol: true`.  The parser is pure (bytes in, addresses out);
 * accept.c reads the bytes from the socket with a timeout and a size bound
 * and then hands the connection on with the client address from the
 * header.
 *
 * Strictness: v1 is exactly "PROXY" SP ("TCP4" | "TCP6") SP src SP dst SP
 * sport SP dport CRLF (single spaces, addresses that inet_pton accepts for
 * the family, decimal ports 0-65535 without leading zeros) or "PROXY
 * UNKNOWN" ... CRLF, at most 107 bytes.  v2 has the 12-byte signature,
 * version 2, command LOCAL or PROXY, a family/transport pair we know, an
 * address block as long as the family needs, and TLVs that fill the rest
 * exactly; a CRC32C TLV, when present, must match.  UDP is refused (this
 * is a TCP listener).  Anything else is an error: the connection is
 * closed, never guessed at.
 */
#ifndef LIMEN_PROXY_PROXY_PROTO_H
#define LIMEN_PROXY_PROXY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_PROTO_V1_MAX 107		/* the spec's bound, CRLF included */
#define PROXY_PROTO_MAX 4096		/* v2: 16-byte head + address + TLVs */

struct proxy_proto {
	int version;			/* 1 or 2 */
	/* false: LOCAL (v2) or UNKNOWN (v1) or an AF_UNIX pair: keep the
	 * connection's own addresses */
	bool has_addr;
	struct sockaddr_storage src;	/* the client */
	struct sockaddr_storage dst;	/* the address it connected to */
	socklen_t src_len, dst_len;
};

/*
 * Parse the header at the start of buf[0..len).  Returns the header's
 * length (> 0) when it is complete and valid, with the result in out; 0
 * when more bytes are needed, in which case every byte of buf belongs to
 * the header (the caller may consume them all); -1 when it is invalid.
 */
int proxy_proto_parse(const uint8_t *buf, size_t len, struct proxy_proto *out);

#endif
