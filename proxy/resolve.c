/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * resolve.c — DNS names of pool servers.
 *
 * resolve_startup runs once per new name while a configuration is built
 * (getaddrinfo: blocking, but only at load, off the request path).
 */
#include "proxy/resolve.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "proxy/pool_internal.h"

/* "api.svc:8000 (10.1.2.3)" */
static void
resolve_server_name(const struct conf_server *e, const struct sockaddr *sa,
    char *buf, size_t len)
{
	char addr[80];

	server_addr_text(sa, addr, sizeof(addr));
	snprintf(buf, len, "%s (%s)", e->addr.text, addr);
}

/* Add a server for address sa of entry e unless set has it already. */
static int
resolve_add(const struct conf_server *e, struct server_set *set,
    const struct sockaddr *sa, socklen_t sa_len)
{
	char name[512];
	struct server *s;
	int rc;

	if (server_set_find_addr(set, sa, sa_len) != NULL)
		return 0;
	resolve_server_name(e, sa, name, sizeof(name));
	if ((s = server_new(name, e->addr.text, sa, sa_len, e->weight)) ==
	    NULL)
		return -1;
	rc = server_set_add(set, s);
	server_unref(s);
	return rc;
}

int
resolve_startup(const struct conf_pool *conf, const struct conf_server *e,
    struct server_set *set)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[8];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", e->addr.port);
	if ((rc = getaddrinfo(e->addr.host, port, &hints, &res)) != 0) {
		log_warnx("pool: %s: %s: %s; no servers until it resolves",
		    conf->name, e->addr.text, gai_strerror(rc));
		return 0;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(struct sockaddr_storage))
			continue;
		if (resolve_add(e, set, ai->ai_addr, ai->ai_addrlen) == -1) {
			freeaddrinfo(res);
			return -1;
		}
	}
	freeaddrinfo(res);
	return 0;
}
