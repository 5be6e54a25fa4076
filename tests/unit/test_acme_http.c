/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_acme_http.c — the ACME/JWKS HTTP client against an in-process
 * libevent HTTP server: what the callback is told when the server
 * answers, answers too much, or is not there at all (the ACME manager
 * retries an unreachable CA sooner than one that answered badly).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "acme/acme_http.h"
#include "tests/unit/harness.h"

static struct {
	size_t body_len;
	int calls;
	int status;
	bool answered;
	char error[128];
	char expires[64];
} got;

static void
srv_cb(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b = evbuffer_new();
	char *body = calloc(1, got.body_len + 1);

	(void)arg;
	memset(body, 'x', got.body_len);
	evbuffer_add(b, body, got.body_len);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Expires",
	    "Tue, 24 Nov 2026 12:00:00 GMT");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
	free(body);
}

static void
done(const struct acme_http_response *r, void *arg)
{
	got.calls++;
	got.status = r->status;
	got.answered = r->answered;
	snprintf(got.error, sizeof got.error, "%s", r->error ? r->error : "");
	snprintf(got.expires, sizeof got.expires, "%s",
	    r->expires ? r->expires : "");
	event_base_loopbreak(arg);
}

/* One GET of url, the loop run until its callback (bounded by the
 * request's own 5 s timeout). */
static void
get(struct event_base *base, const char *url)
{
	const char *err;
	struct acme_http *h = acme_http_new(base, NULL, NULL, &err);

	REQUIRE(h != NULL);
	acme_http_allow_plain(h, 1);
	size_t body_len = got.body_len;

	memset(&got, 0, sizeof got);
	got.body_len = body_len;
	REQUIRE(acme_http_request(h, ACME_HTTP_GET, url, NULL, 0, NULL, NULL,
	    5000, done, base) != NULL);
	event_base_dispatch(base);
	acme_http_free(h);
}

static void
test_acme_http_tells_an_oversized_answer_from_no_answer(void)
{
	struct event_base *base = event_base_new();
	struct evhttp *http = evhttp_new(base);
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sin;
	socklen_t sl = sizeof sin;
	char url[128];
	int fd;

	REQUIRE(base != NULL && http != NULL);
	evhttp_set_gencb(http, srv_cb, NULL);
	REQUIRE((bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0)) !=
	    NULL);
	REQUIRE(getsockname(evhttp_bound_socket_get_fd(bs),
	    (struct sockaddr *)&sin, &sl) == 0);
	snprintf(url, sizeof url, "http://127.0.0.1:%u/x",
	    ntohs(sin.sin_port));

	/* a normal answer, with its Expires header handed over */
	got.body_len = 100;
	get(base, url);
	CHECK_INT(got.calls, ==, 1);
	CHECK_INT(got.status, ==, 200);
	CHECK(got.answered);
	CHECK_STR(got.expires, "Tue, 24 Nov 2026 12:00:00 GMT");

	/* more than ACME_HTTP_MAX_BODY: no usable response, but answered */
	got.body_len = ACME_HTTP_MAX_BODY + 4096;
	get(base, url);
	CHECK_INT(got.calls, ==, 1);
	CHECK_INT(got.status, ==, 0);
	CHECK(got.answered);
	CHECK_STR(got.error, "response too large");

	/* nobody listening (a port bound, never listened on, closed):
	 * refused, not answered */
	evhttp_free(http);
	REQUIRE((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	sin.sin_port = 0;
	REQUIRE(bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0);
	sl = sizeof sin;
	REQUIRE(getsockname(fd, (struct sockaddr *)&sin, &sl) == 0);
	close(fd);
	snprintf(url, sizeof url, "http://127.0.0.1:%u/x",
	    ntohs(sin.sin_port));
	got.body_len = 0;
	get(base, url);
	CHECK_INT(got.calls, ==, 1);
	CHECK_INT(got.status, ==, 0);
	CHECK(!got.answered);
	CHECK(got.error[0] != '\0');
	event_base_free(base);
}

HARNESS_MAIN(
    T(test_acme_http_tells_an_oversized_answer_from_no_answer))
