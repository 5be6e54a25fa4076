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
 * Every accepted socket is checked and counted for as long as it is
 * open, whatever it becomes: the flags go from worker_accept_cb to the
 * front through worker->accept_limits (conn_start, h2_conn_start take
 * them), or to the accepting object of a PROXY header or a TLS handshake
 * (accept.c), which hands them on or gives them back if it fails.  On a
 * listener with proxy_protocol the accept callback counts the total only;
 * the per-address count is taken when the header has named the real
 * client, and a client over its limit is closed then.
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
