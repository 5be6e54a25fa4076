/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * listener.c — see listener.h.
 */
#include "proxy/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LISTENER_BACKLOG 4096

static int
listener_socket(const struct sockaddr_storage *sa, socklen_t len,
    bool reuseport)
{
	int fd, one = 1;

	fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto fail;
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
	    sizeof(one)) == -1)
		goto fail;
	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		/* The any-address listens dual-stack; a specific v6 address
		 * only on v6. */
		int v6only = IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr) ? 0 : 1;
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
		    sizeof(v6only)) == -1)
			goto fail;
	}
	if (bind(fd, (const struct sockaddr *)sa, len) == -1)
		goto fail;
	return fd;
fail:
	{
		int e = errno;
		close(fd);
		errno = e;
	}
	return -1;
}

static void
listener_format(const struct sockaddr_storage *sa, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(out, cap, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(out, cap, "%s:%u", host, ntohs(s4->sin_port));
	}
}

struct lsock *
listener_open(const struct conf_addr *addr, unsigned n_workers, char *err,
    size_t cap)
{
	struct lsock *ls;
	unsigned i;
	int probe;

	if ((ls = calloc(1, sizeof(*ls))) == NULL ||
	    (ls->fds = malloc(n_workers * sizeof(int))) == NULL) {
		free(ls);
		snprintf(err, cap, "out of memory");
		return NULL;
	}
	memcpy(&ls->sa, &addr->sa, sizeof(ls->sa));
	ls->sa_len = addr->sa_len;
	listener_format(&ls->sa, ls->text, sizeof(ls->text));
	ls->n_fds = n_workers;
	for (i = 0; i < n_workers; i++)
		ls->fds[i] = -1;

	/* The probe: fails with EADDRINUSE if anyone listens there. */
	if ((probe = listener_socket(&ls->sa, ls->sa_len, false)) == -1) {
		snprintf(err, cap, "listen %s: %s", ls->text, strerror(errno));
		goto fail;
	}
	close(probe);
	for (i = 0; i < n_workers; i++) {
		if ((ls->fds[i] = listener_socket(&ls->sa, ls->sa_len,
		    true)) == -1 || listen(ls->fds[i], LISTENER_BACKLOG) == -1) {
			snprintf(err, cap, "listen %s: %s", ls->text,
			    strerror(errno));
			goto fail;
		}
	}
	return ls;
fail:
	listener_free(ls);
	return NULL;
}

void
listener_free(struct lsock *ls)
{
	if (ls == NULL)
		return;
	for (unsigned i = 0; i < ls->n_fds; i++)
		if (ls->fds[i] >= 0)
			close(ls->fds[i]);
	free(ls->fds);
	free(ls);
}

bool
listener_same_addr(const struct sockaddr_storage *a, socklen_t alen,
    const struct sockaddr_storage *b, socklen_t blen)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
	return alen == blen && memcmp(a, b, alen) == 0;
}

const struct conf_listener *
listener_find_conf(const struct config *c, const struct sockaddr_storage *sa,
    socklen_t len)
{
	for (size_t i = 0; i < c->n_listeners; i++)
		for (size_t j = 0; j < c->listeners[i].n_addrs; j++)
			if (listener_same_addr(&c->listeners[i].addrs[j].sa,
			    c->listeners[i].addrs[j].sa_len, sa, len))
				return &c->listeners[i];
	return NULL;
}
