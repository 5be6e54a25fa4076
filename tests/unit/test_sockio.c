/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_sockio.c — the plain-socket I/O shortcuts under a real event loop
 * and a socketpair: proxy/flush.c (write-behind: one direct write, the
 * write callback as the bufferevent would run it, the write event armed
 * only for what the socket did not take) and proxy/rawread.c (reads
 * without FIONREAD: data, the high-water mark, EOF, the read timeout).
 */
#include "tests/unit/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "proxy/flush.h"
#include "proxy/rawread.h"

struct seen {
	int reads, writes, events;
	short what;
	struct flush_item *fl;
};

static void
read_cb(struct bufferevent *bev, void *arg)
{
	((struct seen *)arg)->reads++;
}

static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct seen *s = arg;

	s->writes++;
	if (s->fl != NULL)
		flush_written(s->fl);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct seen *s = arg;

	s->events++;
	s->what = what;
}

/* A non-blocking socketpair; sv[0] goes to a bufferevent. */
static struct bufferevent *
pair(struct event_base *base, int sv[2], struct seen *s)
{
	struct bufferevent *bev;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return NULL;
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	bev = bufferevent_socket_new(base, sv[0],
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev != NULL)
		bufferevent_setcb(bev, read_cb, write_cb, event_cb, s);
	return bev;
}

static void
spin(struct event_base *base)
{
	for (int i = 0; i < 5; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

static void
test_flush_writes_queued_output_and_runs_write_callback(void)
{
	struct event_base *base = event_base_new();
	struct flusher *f = flush_new(base);
	struct flush_item it = { 0 };
	struct seen s = { 0 };
	struct bufferevent *bev;
	char buf[64];
	int sv[2];

	REQUIRE(base != NULL && f != NULL);
	REQUIRE((bev = pair(base, sv, &s)) != NULL);
	s.fl = &it;
	flush_attach(&it, bev);
	CHECK(!(bufferevent_get_enabled(bev) & EV_WRITE));
	evbuffer_add(bufferevent_get_output(bev), "hello", 5);
	flush_queue(f, &it);
	CHECK(it.queued);
	spin(base);
	CHECK(!it.queued);
	CHECK_INT(read(sv[1], buf, sizeof(buf)), ==, 5);
	CHECK_MEM(buf, 5, "hello", 5);
	CHECK_INT(s.writes, ==, 1);	/* as after a bufferevent write */
	CHECK(!(bufferevent_get_enabled(bev) & EV_WRITE));
	/* an empty output is never queued (no loop through write cbs) */
	flush_queue(f, &it);
	CHECK(!it.queued);
	flush_detach(f, &it);
	bufferevent_free(bev);
	close(sv[1]);
	flush_free(f);
	event_base_free(base);
}

static void
test_flush_short_write_arms_write_event_until_drained(void)
{
	struct event_base *base = event_base_new();
	struct flusher *f = flush_new(base);
	struct flush_item it = { 0 };
	struct seen s = { 0 };
	struct bufferevent *bev;
	static char big[4 * 1024 * 1024], sink[65536];
	size_t got = 0;
	ssize_t n;
	int sv[2];

	REQUIRE(base != NULL && f != NULL);
	REQUIRE((bev = pair(base, sv, &s)) != NULL);
	s.fl = &it;
	flush_attach(&it, bev);
	evbuffer_add(bufferevent_get_output(bev), big, sizeof(big));
	flush_queue(f, &it);
	spin(base);
	/* the socket took part of it: the bufferevent writes the rest */
	CHECK(evbuffer_get_length(bufferevent_get_output(bev)) > 0);
	CHECK(bufferevent_get_enabled(bev) & EV_WRITE);
	for (int i = 0; i < 10000 && got < sizeof(big); i++) {
		while ((n = read(sv[1], sink, sizeof(sink))) > 0)
			got += (size_t)n;
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	CHECK_INT(got, ==, sizeof(big));
	CHECK_INT(evbuffer_get_length(bufferevent_get_output(bev)), ==, 0);
	/* the write callback turned the write event off again */
	CHECK(!(bufferevent_get_enabled(bev) & EV_WRITE));
	flush_detach(f, &it);
	bufferevent_free(bev);
	close(sv[1]);
	flush_free(f);
	event_base_free(base);
}

static void
test_rawread_reads_and_reports_eof(void)
{
	struct event_base *base = event_base_new();
	struct seen s = { 0 };
	struct bufferevent *bev;
	char buf[16];
	int sv[2];

	REQUIRE(base != NULL);
	REQUIRE((bev = pair(base, sv, &s)) != NULL);
	CHECK_INT(rawread_attach(bev), ==, 0);
	bufferevent_enable(bev, EV_READ);
	CHECK_INT(write(sv[1], "GET / HTTP/1.1\r\n", 16), ==, 16);
	spin(base);
	CHECK_INT(s.reads, ==, 1);
	CHECK_INT(evbuffer_remove(bufferevent_get_input(bev), buf, 16), ==, 16);
	CHECK_MEM(buf, 16, "GET / HTTP/1.1\r\n", 16);
	close(sv[1]);
	spin(base);
	CHECK_INT(s.events, ==, 1);
	CHECK(s.what & BEV_EVENT_EOF);
	CHECK(s.what & BEV_EVENT_READING);
	CHECK(!(bufferevent_get_enabled(bev) & EV_READ));
	bufferevent_free(bev);
	event_base_free(base);
}

static void
test_rawread_stops_at_high_watermark(void)
{
	struct event_base *base = event_base_new();
	struct seen s = { 0 };
	struct bufferevent *bev;
	static char data[100000];
	int sv[2];

	REQUIRE(base != NULL);
	REQUIRE((bev = pair(base, sv, &s)) != NULL);
	CHECK_INT(rawread_attach(bev), ==, 0);
	/* no read callback: libevent 2.1.12 runs it again and again while
	 * the input stays at the mark (bufferevent_inbuf_wm_check) */
	bufferevent_setcb(bev, NULL, NULL, event_cb, &s);
	bufferevent_setwatermark(bev, EV_READ, 0, 10000);
	bufferevent_enable(bev, EV_READ);
	CHECK_INT(write(sv[1], data, sizeof(data)), >, 20000);
	spin(base);
	CHECK_INT(evbuffer_get_length(bufferevent_get_input(bev)), ==, 10000);
	/* draining below the mark resumes reading */
	evbuffer_drain(bufferevent_get_input(bev), 10000);
	spin(base);
	CHECK_INT(evbuffer_get_length(bufferevent_get_input(bev)), ==, 10000);
	bufferevent_free(bev);
	close(sv[1]);
	event_base_free(base);
}

static void
test_rawread_timeout_reaches_event_callback(void)
{
	struct event_base *base = event_base_new();
	struct seen s = { 0 };
	struct bufferevent *bev;
	struct timeval tv = { 0, 20000 };
	int sv[2];

	REQUIRE(base != NULL);
	REQUIRE((bev = pair(base, sv, &s)) != NULL);
	CHECK_INT(rawread_attach(bev), ==, 0);
	bufferevent_set_timeouts(bev, &tv, NULL);
	bufferevent_enable(bev, EV_READ);
	for (int i = 0; i < 100 && s.events == 0; i++)
		event_base_loop(base, EVLOOP_ONCE);
	CHECK_INT(s.events, ==, 1);
	CHECK(s.what & BEV_EVENT_TIMEOUT);
	CHECK(s.what & BEV_EVENT_READING);
	bufferevent_free(bev);
	close(sv[1]);
	event_base_free(base);
}

HARNESS_MAIN(T(test_flush_writes_queued_output_and_runs_write_callback),
    T(test_flush_short_write_arms_write_event_until_drained),
    T(test_rawread_reads_and_reports_eof),
    T(test_rawread_stops_at_high_watermark),
    T(test_rawread_timeout_reaches_event_callback))
