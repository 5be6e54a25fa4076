/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_splice.c — proxy/splice.c: the gate that decides whether a
 * response body goes through splice(2), and transfers between real
 * loopback TCP sockets on a libevent loop (a whole body, exactly len
 * bytes; the source closing early; the destination gone; a held start;
 * the idle timeout).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "proxy/splice.h"
#include "tests/unit/harness.h"

/* ---- the gate ------------------------------------------------------ */

static struct splice_gate
gate_ok(void)
{
	struct splice_gate g = {
		.client_raw = true,
		.upstream_plain = true,
		.length_framed = true,
		.transformed = false,
		.head_only = false,
		.request_sent = true,
		.left = 1 << 20,
	};
	return g;
}

static void
test_splice_gate_plain_length_body(void)
{
	struct splice_gate g = gate_ok();

	CHECK(splice_wanted(&g));
	g.left = SPLICE_MIN_BYTES;
	CHECK(splice_wanted(&g));
}

static void
test_splice_gate_refuses_each_condition(void)
{
	struct splice_gate g;

	g = gate_ok(); g.client_raw = false;		/* TLS, HTTP/2 */
	CHECK(!splice_wanted(&g));
	g = gate_ok(); g.upstream_plain = false;	/* TLS upstream */
	CHECK(!splice_wanted(&g));
	g = gate_ok(); g.length_framed = false;		/* chunked, close */
	CHECK(!splice_wanted(&g));
	g = gate_ok(); g.transformed = true;		/* compression */
	CHECK(!splice_wanted(&g));
	g = gate_ok(); g.head_only = true;
	CHECK(!splice_wanted(&g));
	g = gate_ok(); g.request_sent = false;		/* body still going up */
	CHECK(!splice_wanted(&g));
	g = gate_ok(); g.left = SPLICE_MIN_BYTES - 1;	/* too small to pay */
	CHECK(!splice_wanted(&g));
	g = gate_ok(); g.left = 0;
	CHECK(!splice_wanted(&g));
}

/* ---- transfers ------------------------------------------------------ */

/* A connected loopback TCP pair: fd[0] writes to fd[1]; nonblocking. */
static void
tcp_pair(int fd[2])
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int l, one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	REQUIRE(l >= 0);
	REQUIRE(bind(l, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	REQUIRE(listen(l, 1) == 0);
	REQUIRE(getsockname(l, (struct sockaddr *)&sin, &len) == 0);
	fd[0] = socket(AF_INET, SOCK_STREAM, 0);
	REQUIRE(fd[0] >= 0);
	REQUIRE(connect(fd[0], (struct sockaddr *)&sin, sizeof(sin)) == 0);
	fd[1] = accept(l, NULL, NULL);
	REQUIRE(fd[1] >= 0);
	close(l);
	for (int i = 0; i < 2; i++) {
		(void)setsockopt(fd[i], IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		REQUIRE(fcntl(fd[i], F_SETFL, O_NONBLOCK) == 0);
	}
}

struct rig {
	struct event_base *base;
	struct splice_pipes *sp;
	int up[2];			/* "server" writes up[0], limen reads up[1] */
	int cl[2];			/* limen writes cl[0], "client" reads cl[1] */
	unsigned char *data;		/* what the server sends */
	size_t data_len, sent;
	bool close_after_send;		/* the server closes once it sent all */
	unsigned char *got;		/* what the client read */
	size_t got_len, got_cap;
	bool client_reads;
	struct event *ev_send, *ev_recv, *ev_guard;
	bool ended;
	enum splice_end end;
	uint64_t moved;
	struct splice_xfer *sx;
};

static void
rig_send_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rig *r = arg;
	ssize_t n;

	while (r->sent < r->data_len) {
		n = write(fd, r->data + r->sent, r->data_len - r->sent);
		if (n <= 0)
			return;		/* EAGAIN: the event comes again */
		r->sent += (size_t)n;
	}
	event_del(r->ev_send);
	if (r->close_after_send) {
		close(r->up[0]);
		r->up[0] = -1;
	}
}

static void
rig_recv_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rig *r = arg;
	ssize_t n;

	for (;;) {
		if (r->got_len == r->got_cap)
			return;
		n = read(fd, r->got + r->got_len, r->got_cap - r->got_len);
		if (n <= 0)
			return;
		r->got_len += (size_t)n;
	}
}

static void
rig_guard_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rig *r = arg;

	harness_fail(__FILE__, __LINE__, "transfer did not end in time");
	event_base_loopbreak(r->base);
}

static void
rig_done(struct splice_xfer *s, enum splice_end e, void *arg)
{
	struct rig *r = arg;

	r->ended = true;
	r->end = e;
	r->moved = splice_moved(s);
	splice_free(s);
	r->sx = NULL;
	event_base_loopexit(r->base, NULL);
}

static void
rig_init(struct rig *r, size_t data_len, size_t extra)
{
	struct timeval guard = { 10, 0 };

	memset(r, 0, sizeof(*r));
	r->base = event_base_new();
	REQUIRE(r->base != NULL);
	r->sp = splice_pipes_new(r->base);
	REQUIRE(r->sp != NULL);
	tcp_pair(r->up);
	tcp_pair(r->cl);
	r->data_len = data_len + extra;
	r->data = malloc(r->data_len);
	REQUIRE(r->data != NULL);
	for (size_t i = 0; i < r->data_len; i++)
		r->data[i] = (unsigned char)(i * 7 + i / 251);
	r->got_cap = r->data_len;
	r->got = malloc(r->got_cap);
	REQUIRE(r->got != NULL);
	r->ev_send = event_new(r->base, r->up[0], EV_WRITE | EV_PERSIST,
	    rig_send_cb, r);
	r->ev_recv = event_new(r->base, r->cl[1], EV_READ | EV_PERSIST,
	    rig_recv_cb, r);
	r->ev_guard = evtimer_new(r->base, rig_guard_cb, r);
	event_add(r->ev_send, NULL);
	event_add(r->ev_recv, NULL);
	event_add(r->ev_guard, &guard);
}

static void
rig_free(struct rig *r)
{
	splice_free(r->sx);
	event_free(r->ev_send);
	event_free(r->ev_recv);
	event_free(r->ev_guard);
	for (int i = 0; i < 2; i++) {
		if (r->up[i] >= 0)
			close(r->up[i]);
		if (r->cl[i] >= 0)
			close(r->cl[i]);
	}
	splice_pipes_free(r->sp);
	event_base_free(r->base);
	free(r->data);
	free(r->got);
}

/* Read what the client side still has in flight after the transfer. */
static void
rig_drain_client(struct rig *r)
{
	for (int i = 0; i < 200 && r->got_len < r->moved; i++) {
		struct timeval tv = { 0, 10000 };

		event_base_loopexit(r->base, &tv);
		event_base_dispatch(r->base);
	}
}

static void
test_splice_moves_exactly_len_bytes(void)
{
	struct rig r;
	const size_t len = 3 * 1024 * 1024 + 12345, extra = 100;
	unsigned char tail[200];
	ssize_t n;

	rig_init(&r, len, extra);
	r.sx = splice_start(r.sp, r.base, r.up[1], r.cl[0], len, 5000, false,
	    rig_done, &r);
	REQUIRE(r.sx != NULL);
	CHECK_INT(splice_pipes_count(r.sp), ==, 1);
	event_base_dispatch(r.base);
	REQUIRE(r.ended);
	CHECK_INT(r.end, ==, SPLICE_DONE);
	CHECK_INT(r.moved, ==, len);
	rig_drain_client(&r);
	CHECK_INT(r.got_len, ==, len);
	CHECK(memcmp(r.got, r.data, len) == 0);
	/* the bytes after the body (a next response) stay in the socket */
	n = read(r.up[1], tail, sizeof(tail));
	CHECK_INT(n, ==, (ssize_t)extra);
	if (n == (ssize_t)extra)
		CHECK(memcmp(tail, r.data + len, extra) == 0);
	/* the empty pipe went back to the pool */
	CHECK_INT(splice_pipes_count(r.sp), ==, 1);
	rig_free(&r);
}

static void
test_splice_source_closing_early_is_reported(void)
{
	struct rig r;
	const size_t sent = 300 * 1000;

	rig_init(&r, sent, 0);
	r.close_after_send = true;
	r.sx = splice_start(r.sp, r.base, r.up[1], r.cl[0], 1 << 20, 5000,
	    false, rig_done, &r);
	REQUIRE(r.sx != NULL);
	event_base_dispatch(r.base);
	REQUIRE(r.ended);
	CHECK_INT(r.end, ==, SPLICE_SRC_EOF);
	CHECK_INT(r.moved, ==, sent);
	rig_drain_client(&r);
	CHECK_INT(r.got_len, ==, sent);
	CHECK(memcmp(r.got, r.data, sent) == 0);
	rig_free(&r);
}

static void
test_splice_destination_gone_is_reported(void)
{
	struct rig r;
	struct linger lg = { 1, 0 };

	signal(SIGPIPE, SIG_IGN);	/* as limen does (server.c) */
	rig_init(&r, 4 << 20, 0);
	/* the client resets its connection before reading anything */
	event_del(r.ev_recv);
	(void)setsockopt(r.cl[1], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(r.cl[1]);
	r.cl[1] = -1;
	r.sx = splice_start(r.sp, r.base, r.up[1], r.cl[0], 4 << 20, 5000,
	    false, rig_done, &r);
	REQUIRE(r.sx != NULL);
	event_base_dispatch(r.base);
	REQUIRE(r.ended);
	CHECK_INT(r.end, ==, SPLICE_DST_ERROR);
	CHECK_INT(r.moved, <, 4 << 20);
	/* a pipe that held bytes is closed, not pooled */
	CHECK_INT(splice_pipes_count(r.sp), <=, 1);
	rig_free(&r);
}

static void
hold_release_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rig *r = arg;

	/* nothing reached the client while held */
	CHECK_INT(r->got_len, ==, 0);
	CHECK_INT(splice_moved(r->sx), ==, 0);
	splice_release(r->sx);
}

static void
test_splice_held_waits_for_release(void)
{
	struct rig r;
	const size_t len = 200 * 1000;
	struct timeval tv = { 0, 100 * 1000 };

	rig_init(&r, len, 0);
	r.sx = splice_start(r.sp, r.base, r.up[1], r.cl[0], len, 5000, true,
	    rig_done, &r);
	REQUIRE(r.sx != NULL);
	event_base_once(r.base, -1, EV_TIMEOUT, hold_release_cb, &r, &tv);
	event_base_dispatch(r.base);
	REQUIRE(r.ended);
	CHECK_INT(r.end, ==, SPLICE_DONE);
	rig_drain_client(&r);
	CHECK_INT(r.got_len, ==, len);
	CHECK(memcmp(r.got, r.data, len) == 0);
	rig_free(&r);
}

static void
test_splice_idle_source_times_out(void)
{
	struct rig r;
	const size_t sent = 1000;

	rig_init(&r, sent, 0);
	r.sx = splice_start(r.sp, r.base, r.up[1], r.cl[0], 1 << 20, 100,
	    false, rig_done, &r);
	REQUIRE(r.sx != NULL);
	event_base_dispatch(r.base);
	REQUIRE(r.ended);
	CHECK_INT(r.end, ==, SPLICE_SRC_TIMEOUT);
	CHECK_INT(r.moved, ==, sent);
	rig_free(&r);
}

static void
test_splice_pool_reuses_and_bounds_pipes(void)
{
	struct event_base *base = event_base_new();
	struct splice_pipes *sp = splice_pipes_new(base);
	struct splice_xfer *x[SPLICE_PIPES_MAX + 1];
	int fd[2];
	size_t n = 0;

	REQUIRE(sp != NULL);
	tcp_pair(fd);
	for (n = 0; n < SPLICE_PIPES_MAX; n++) {
		x[n] = splice_start(sp, base, fd[1], fd[0], 1 << 20, 0, true,
		    rig_done, NULL);
		REQUIRE(x[n] != NULL);
	}
	/* over the bound: the caller keeps its normal path */
	CHECK(splice_start(sp, base, fd[1], fd[0], 1 << 20, 0, true,
	    rig_done, NULL) == NULL);
	for (size_t i = 0; i < n; i++)
		splice_free(x[i]);
	/* empty pipes kept for the next transfers, up to the idle bound */
	CHECK_INT(splice_pipes_count(sp), ==, SPLICE_PIPES_IDLE);
	x[0] = splice_start(sp, base, fd[1], fd[0], 1 << 20, 0, true, rig_done,
	    NULL);
	REQUIRE(x[0] != NULL);
	CHECK_INT(splice_pipes_count(sp), ==, SPLICE_PIPES_IDLE);
	splice_free(x[0]);
	close(fd[0]);
	close(fd[1]);
	splice_pipes_free(sp);
	event_base_free(base);
}

HARNESS_MAIN(T(test_splice_gate_plain_length_body),
    T(test_splice_gate_refuses_each_condition),
    T(test_splice_moves_exactly_len_bytes),
    T(test_splice_source_closing_early_is_reported),
    T(test_splice_destination_gone_is_reported),
    T(test_splice_held_waits_for_release),
    T(test_splice_idle_source_times_out),
    T(test_splice_pool_reuses_and_bounds_pipes))
