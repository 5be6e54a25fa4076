/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * connlimit.h — global.max_conns and global.max_conns_per_ip, checked on
 * accept (never on the request path).  An accepted socket over a limit is
 * closed at once, before any buffer is allocated for it.
 *
 * max_conns is one process-wide atomic counter; max_conns_per_ip is a
 * fixed table of atomic counters indexed by two keyed hashes of the client
 * address (IPv4, or the /64 of an IPv6 address), in the manner of a
 * count-min sketch: a connection is admitted when the smaller of its two
 * counters is under the limit.  No lock anywhere; the counters are touched
 * only when a limit is set, so an unlimited configuration pays nothing.
 * Two addresses share a limit only if both of their slots collide (about
 * (n/65536)^2 for n distinct busy addresses; the hash key is random per
 * process, so a client cannot aim at another's slots).
 *
 * Every accepted socket is checked; the counts are kept (and given back
 * in conn_free) for plain HTTP/1.1 connections, which reach conn_start
 * from the accept callback itself.  A connection that goes through a
 * PROXY header or a TLS handshake first (accept.c) is checked against the
 * limits when accepted but not counted while open: carrying the counts
 * through accept.c and h2_conn.c is still to do.
 *
 * connlimit_admit returns the flags to keep with the connection (0 when it
 * counted nothing) or -1 when it must be refused; connlimit_release takes
 * the same flags back when the connection is freed, so a reload that
 * changes a limit never unbalances the counters.
 */
#ifndef LIMEN_PROXY_CONNLIMIT_H
#define LIMEN_PROXY_CONNLIMIT_H

#include <stdint.h>
#include <sys/socket.h>

#define CONNLIMIT_TOTAL	0x1u	/* counted in the process total */
#define CONNLIMIT_IP	0x2u	/* counted in the per-address table */

int connlimit_admit(const struct sockaddr *sa, uint32_t max_conns,
    uint32_t max_per_ip);
void connlimit_release(const struct sockaddr *sa, unsigned flags);
/* For tests and metrics: connections counted in the total. */
uint32_t connlimit_total(void);

#endif
