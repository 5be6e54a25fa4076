/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_health.c — the control thread's active checks against real
 * sockets of this process: a TCP check follows a listener that comes and
 * goes; an HTTP check follows the status a tiny server answers, with
 * rise/fall hysteresis; health_update switches to new pools.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proxy/pool.h"
#include "tests/unit/harness.h"
#include "tests/unit/pool_fixture.h"

/* A listening socket on 127.0.0.1 (port 0: any); its port in *port. */
static int
listen_on(unsigned *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)*port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 64) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1) {
		close(fd);
		return -1;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Point server i of the fixture's pool at 127.0.0.1:port. */
static void
set_server(struct config *c, size_t i, unsigned port)
{
	free(c->pools[0].servers[i].addr.text);
	free(c->pools[0].servers[i].addr.host);
	fixture_addr(&c->pools[0].servers[i].addr, "127.0.0.1", port);
}

static int
wait_until(struct server *s, bool up, int ms)
{
	struct timespec ts = { 0, 10 * 1000000 };
	int i;

	for (i = 0; i < ms / 10; i++) {
		if (atomic_load(&s->up) == up)
			return 0;
		nanosleep(&ts, NULL);
	}
	return -1;
}

static void
health_conf(struct config *c, bool tcp)
{
	struct conf_health *h = &c->pools[0].health;

	h->enabled = true;
	h->tcp = tcp;
	h->path = tcp ? NULL : strdup("/health");
	h->interval_ms = 40;
	h->timeout_ms = 300;
	h->rise = 2;
	h->fall = 3;
	h->expect_min = 200;
	h->expect_max = 399;
}

static void
test_health_tcp_check_follows_a_listener(void)
{
	struct config *c = fixture_config(BALANCE_ROUND_ROBIN, NULL, 2);
	struct pools *ps;
	struct server *a, *b;
	unsigned pa = 0, pb = 0;
	int fa, fb;

	fa = listen_on(&pa);
	fb = listen_on(&pb);
	REQUIRE(fa != -1 && fb != -1);
	close(fb);		/* b refuses connections */
	set_server(c, 0, pa);
	set_server(c, 1, pb);
	health_conf(c, true);
	ps = pools_new(c, NULL, 1);
	REQUIRE(ps != NULL);
	a = fixture_server(&ps->pools[0], 0);
	b = fixture_server(&ps->pools[0], 1);
	CHECK(atomic_load(&b->up));	/* up until proven down */
	REQUIRE(health_start(ps) == 0);
	CHECK_INT(wait_until(b, false, 5000), ==, 0);
	CHECK(atomic_load(&a->up));
	fb = listen_on(&pb);		/* b comes back on its port */
	REQUIRE(fb != -1);
	CHECK_INT(wait_until(b, true, 5000), ==, 0);
	health_stop();
	close(fa);
	close(fb);
	pools_unref(ps);
	free(c->pools[0].health.path);
	fixture_free(c);
}

/* A tiny HTTP server answering every request with `status`. */
struct http_peer {
	int fd;
	atomic_int status;
	atomic_bool stop;
	atomic_int requests;
	char last_host[128];
	pthread_t th;
};

static void *
http_peer_main(void *arg)
{
	struct http_peer *hp = arg;
	struct pollfd pfd = { .fd = hp->fd, .events = POLLIN };
	char buf[2048], resp[128], *h, *e;
	size_t got;
	ssize_t r;
	int cfd, n;

	while (!atomic_load(&hp->stop)) {
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		if ((cfd = accept(hp->fd, NULL, NULL)) == -1)
			continue;
		got = 0;
		pfd.fd = cfd;
		while (got < sizeof(buf) - 1 && poll(&pfd, 1, 1000) > 0 &&
		    (r = read(cfd, buf + got, sizeof(buf) - 1 - got)) > 0) {
			got += (size_t)r;
			buf[got] = '\0';
			if (strstr(buf, "\r\n\r\n") != NULL)
				break;
		}
		pfd.fd = hp->fd;
		buf[got] = '\0';
		if ((h = strstr(buf, "\r\nHost: ")) != NULL &&
		    (e = strstr(h + 8, "\r\n")) != NULL &&
		    (size_t)(e - h - 8) < sizeof(hp->last_host)) {
			memcpy(hp->last_host, h + 8, (size_t)(e - h - 8));
			hp->last_host[e - h - 8] = '\0';
		}
		atomic_fetch_add(&hp->requests, 1);
		n = snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\n"
		    "Content-Length: 0\r\nConnection: close\r\n\r\n",
		    atomic_load(&hp->status));
		if (write(cfd, resp, (size_t)n) < 0)
			(void)0;
		close(cfd);
	}
	return NULL;
}

static void
test_health_http_check_rise_and_fall(void)
{
	struct config *c = fixture_config(BALANCE_ROUND_ROBIN, NULL, 1);
	struct http_peer hp = { .fd = -1 };
	struct pools *ps;
	struct server *s;
	unsigned port = 0;
	int before;
	struct timespec ts = { 0, 20 * 1000000 };

	hp.fd = listen_on(&port);
	REQUIRE(hp.fd != -1);
	atomic_init(&hp.status, 200);
	pthread_create(&hp.th, NULL, http_peer_main, &hp);
	set_server(c, 0, port);
	health_conf(c, false);
	c->pools[0].health.host = strdup("app.internal");
	ps = pools_new(c, NULL, 1);
	REQUIRE(ps != NULL);
	s = fixture_server(&ps->pools[0], 0);
	REQUIRE(health_start(ps) == 0);
	/* 503: down after `fall` checks, not before */
	while (atomic_load(&hp.requests) < 2)
		nanosleep(&ts, NULL);
	CHECK(atomic_load(&s->up));
	CHECK_STR(hp.last_host, "app.internal");
	before = atomic_load(&hp.requests);
	atomic_store(&hp.status, 503);
	CHECK_INT(wait_until(s, false, 5000), ==, 0);
	CHECK_INT(atomic_load(&hp.requests) - before, >=, 3);
	/* 302 is in 200-399: up after `rise` checks */
	before = atomic_load(&hp.requests);
	atomic_store(&hp.status, 302);
	CHECK_INT(wait_until(s, true, 5000), ==, 0);
	CHECK_INT(atomic_load(&hp.requests) - before, >=, 2);
	health_stop();
	atomic_store(&hp.stop, true);
	pthread_join(hp.th, NULL);
	close(hp.fd);
	pools_unref(ps);
	free(c->pools[0].health.path);
	free(c->pools[0].health.host);
	fixture_free(c);
}

static void
test_health_timeout_counts_as_failure(void)
{
	struct config *c = fixture_config(BALANCE_ROUND_ROBIN, NULL, 1);
	struct pools *ps;
	struct server *s;
	unsigned port = 0;
	int fd;

	/* a listener that never accepts nor answers: the GET times out */
	fd = listen_on(&port);
	REQUIRE(fd != -1);
	set_server(c, 0, port);
	health_conf(c, false);
	c->pools[0].health.timeout_ms = 60;
	c->pools[0].health.fall = 2;
	ps = pools_new(c, NULL, 1);
	REQUIRE(ps != NULL);
	s = fixture_server(&ps->pools[0], 0);
	REQUIRE(health_start(ps) == 0);
	CHECK_INT(wait_until(s, false, 5000), ==, 0);
	health_stop();
	close(fd);
	pools_unref(ps);
	free(c->pools[0].health.path);
	fixture_free(c);
}

static void
test_health_update_switches_to_new_pools(void)
{
	struct config *c1 = fixture_config(BALANCE_ROUND_ROBIN, NULL, 1);
	struct config *c2 = fixture_config(BALANCE_ROUND_ROBIN, NULL, 2);
	struct pools *p1, *p2;
	struct server *gone;
	unsigned pa = 0, pb = 0;
	int fa, fb;

	fa = listen_on(&pa);
	fb = listen_on(&pb);
	REQUIRE(fa != -1 && fb != -1);
	close(fb);
	set_server(c1, 0, pa);
	set_server(c2, 0, pa);
	set_server(c2, 1, pb);
	health_conf(c1, true);
	health_conf(c2, true);
	p1 = pools_new(c1, NULL, 1);
	REQUIRE(p1 != NULL);
	REQUIRE(health_start(p1) == 0);
	p2 = pools_new(c2, p1, 1);
	REQUIRE(p2 != NULL);
	health_update(p2);
	pools_unref(p1);	/* the control thread lets go of it too */
	gone = fixture_server(&p2->pools[0], 1);
	CHECK_INT(wait_until(gone, false, 5000), ==, 0);
	CHECK(atomic_load(&fixture_server(&p2->pools[0], 0)->up));
	health_stop();
	CHECK_INT(atomic_load(&p2->refs), ==, 1);
	close(fa);
	pools_unref(p2);
	free(c1->pools[0].health.path);
	free(c2->pools[0].health.path);
	fixture_free(c1);
	fixture_free(c2);
}

HARNESS_MAIN(T(test_health_tcp_check_follows_a_listener),
    T(test_health_http_check_rise_and_fall),
    T(test_health_timeout_counts_as_failure),
    T(test_health_update_switches_to_new_pools))
