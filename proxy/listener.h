/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * listener.h — listening sockets, opened by the control thread (before the
 * privilege drop, and again on reload for new addresses).
 *
 * Each address gets one socket per worker with SO_REUSEPORT, so the kernel
 * spreads new connections over the workers and no worker contends on
 * another's accept queue (why not one shared socket: see
 * docs/architecture.md).  Before opening the group, a probe bind without
 * SO_REUSEPORT makes sure no other process already listens there (two
 * instances under one user would otherwise silently share the port).
 *
 * An lsock is identified by its socket address; a reload keeps the lsocks
 * whose address is still configured, so their queues never drop a
 * connection.  Which listener configuration (TLS, redirect_https, ...) a
 * connection gets is looked up by address in the snapshot at accept time.
 */
#ifndef LIMEN_PROXY_LISTENER_H
#define LIMEN_PROXY_LISTENER_H

#include <stdbool.h>
#include <sys/socket.h>

#include "conf/config.h"

struct lsock {
	struct sockaddr_storage sa;
	socklen_t sa_len;
	char text[80];			/* for logs */
	int *fds;			/* one per worker; -1 once handed over */
	unsigned n_fds;
	bool mark;			/* reload bookkeeping */
	struct lsock *next;
};

/* Open the socket group for addr with one socket per worker.  NULL with a
 * message in err on failure. */
struct lsock *listener_open(const struct conf_addr *addr, unsigned n_workers,
    char *err, size_t cap);
/* Close any fds still owned (not handed to workers) and free. */
void listener_free(struct lsock *ls);
bool listener_same_addr(const struct sockaddr_storage *a, socklen_t alen,
    const struct sockaddr_storage *b, socklen_t blen);
/* The listener of config c that has address sa, or NULL. */
const struct conf_listener *listener_find_conf(const struct config *c,
    const struct sockaddr_storage *sa, socklen_t len);

#endif
