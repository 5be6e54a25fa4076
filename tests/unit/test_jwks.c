/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_jwks.c — proxy/jwks.c: Cache-Control max-age, the refresh and
 * retry delays, the early-fetch rate limit, the URL rule, and the
 * background fetch itself against a small libevent HTTP server on
 * 127.0.0.1 in the same loop (keys loaded, a bad body keeping the old
 * keys, an early fetch on a kick, sources shared and freed).  The HTTPS
 * path, rotation with real tokens and the 503 are in
 * tests/integration/test_jwks.py.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "conf/diag.h"
#include "proxy/jwks.h"
#include "proxy/jwt.h"
#include "tests/unit/harness.h"

static const char jwks_one[] = "{\"keys\":[{\"kty\":\"OKP\",\"crv\":"
    "\"Ed25519\",\"kid\":\"k1\",\"x\":"
    "\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}";
static const char jwks_two[] = "{\"keys\":[{\"kty\":\"OKP\",\"crv\":"
    "\"Ed25519\",\"kid\":\"k1\",\"x\":"
    "\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"},{\"kty\":\"OKP\","
    "\"crv\":\"Ed25519\",\"kid\":\"k2\",\"x\":"
    "\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}";

static void
test_jwks_max_age_reads_cache_control(void)
{
	CHECK_INT(jwks_max_age(NULL), ==, -1);
	CHECK_INT(jwks_max_age(""), ==, -1);
	CHECK_INT(jwks_max_age("max-age=600"), ==, 600);
	CHECK_INT(jwks_max_age("public, max-age=3600, must-revalidate"), ==,
	    3600);
	CHECK_INT(jwks_max_age("Max-Age=\"120\""), ==, 120);
	CHECK_INT(jwks_max_age("max-age=12x"), ==, -1);
	CHECK_INT(jwks_max_age("max-age="), ==, -1);
	CHECK_INT(jwks_max_age("max-age=-5"), ==, -1);
	CHECK_INT(jwks_max_age("s-maxage=50"), ==, -1);
	CHECK_INT(jwks_max_age("no-store"), ==, 0);
	CHECK_INT(jwks_max_age("private, no-cache"), ==, 0);
	/* absurd values saturate instead of overflowing */
	CHECK(jwks_max_age("max-age=99999999999999999999999") > 86400);
}

static void
test_jwks_refresh_delay_is_clamped(void)
{
	CHECK_INT(jwks_refresh_delay(NULL, NULL, NULL, 0), ==, 3600);
	CHECK_INT(jwks_refresh_delay("public", NULL, NULL, 0), ==, 3600);
	CHECK_INT(jwks_refresh_delay("max-age=0", NULL, NULL, 0), ==, 300);
	CHECK_INT(jwks_refresh_delay("no-store", NULL, NULL, 0), ==, 300);
	CHECK_INT(jwks_refresh_delay("max-age=299", NULL, NULL, 0), ==, 300);
	CHECK_INT(jwks_refresh_delay("max-age=7200", NULL, NULL, 0), ==, 7200);
	CHECK_INT(jwks_refresh_delay("max-age=86401", NULL, NULL, 0), ==, 86400);
	CHECK_INT(jwks_refresh_delay("max-age=99999999999999999999", NULL, NULL,
	    0), ==,
	    86400);
}

static void
test_jwks_lifetime_falls_back_to_expires(void)
{
	/* Date and Expires from the server, 2 h apart */
	const char *date = "Tue, 24 Nov 2026 10:00:00 GMT";
	const char *exp = "Tue, 24 Nov 2026 12:00:00 GMT";
	time_t now = 1795514400;	/* 2026-11-24 10:00:00 UTC */

	CHECK_INT(jwks_lifetime(NULL, exp, date, 0), ==, 7200);
	/* max-age wins over Expires */
	CHECK_INT(jwks_lifetime("max-age=600", exp, date, 0), ==, 600);
	/* without Date, from our clock; a past Expires is stale */
	CHECK_INT(jwks_lifetime(NULL, exp, NULL, now), ==, 7200);
	CHECK_INT(jwks_lifetime(NULL, exp, "garbage", now + 3600), ==, 3600);
	CHECK_INT(jwks_lifetime(NULL, date, NULL, now + 60), ==, 0);
	/* "Expires: 0" and other non-dates mean already expired */
	CHECK_INT(jwks_lifetime(NULL, "0", date, now), ==, 0);
	CHECK_INT(jwks_lifetime(NULL, NULL, date, now), ==, -1);
	CHECK_INT(jwks_refresh_delay(NULL, exp, date, 0), ==, 7200);
	CHECK_INT(jwks_refresh_delay(NULL, "0", date, 0), ==, 300);
}

static void
test_jwks_jitter_brings_the_refresh_forward_by_a_tenth_at_most(void)
{
	uint32_t r;

	CHECK_INT(jwks_jitter(3600, 0), ==, 3600);
	CHECK_INT(jwks_jitter(3600, 360), ==, 3240);
	CHECK_INT(jwks_jitter(3600, 361), ==, 3600);
	for (r = 0; r < 5000; r += 7) {
		long d = jwks_jitter(300, r * 2654435761u);

		CHECK(d >= 270 && d <= 300);
	}
	CHECK_INT(jwks_jitter(5, 12345), ==, 5);
}

static void
test_jwks_retry_delay_backs_off_to_five_minutes(void)
{
	CHECK_INT(jwks_retry_delay(1), ==, 1);
	CHECK_INT(jwks_retry_delay(2), ==, 2);
	CHECK_INT(jwks_retry_delay(3), ==, 4);
	CHECK_INT(jwks_retry_delay(9), ==, 256);
	CHECK_INT(jwks_retry_delay(10), ==, 300);
	CHECK_INT(jwks_retry_delay(4000000000u), ==, 300);
}

static void
test_jwks_kick_is_rate_limited(void)
{
	long last = 0;

	CHECK(jwks_kick_allowed(&last, 1000, 10));
	CHECK_INT(last, ==, 1000);
	CHECK(!jwks_kick_allowed(&last, 1000, 10));
	CHECK(!jwks_kick_allowed(&last, 1009, 10));
	CHECK_INT(last, ==, 1000);
	CHECK(jwks_kick_allowed(&last, 1010, 10));
	CHECK_INT(last, ==, 1010);
	CHECK(jwks_kick_allowed(&last, 1010, 0));
}

static void
test_jwks_url_https_or_loopback_http(void)
{
	CHECK(jwks_url_ok("https://id.example.com/.well-known/jwks.json"));
	CHECK(jwks_url_ok("https://10.0.0.1:8443/jwks"));
	CHECK(jwks_url_ok("http://127.0.0.1:8080/jwks"));
	CHECK(jwks_url_ok("http://127.3.4.5/jwks"));
	CHECK(jwks_url_ok("http://[::1]:80/jwks"));
	CHECK(!jwks_url_ok("http://id.example.com/jwks"));
	CHECK(!jwks_url_ok("http://localhost.example/jwks"));
	CHECK(!jwks_url_ok("http://10.0.0.1/jwks"));
	CHECK(!jwks_url_ok("http://128.0.0.1/jwks"));
	CHECK(!jwks_url_ok("ftp://127.0.0.1/jwks"));
	CHECK(!jwks_url_ok("https://user:pw@id.example.com/jwks"));
	CHECK(!jwks_url_ok("https:///jwks"));
	CHECK(!jwks_url_ok("not a url"));
}

/* ---- a fetch against an in-loop server ---------------------------------- */

static struct {
	const char *body;
	const char *cache_control;
	int status;
	int hits;
} srv;

static void
srv_cb(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b = evbuffer_new();

	(void)arg;
	srv.hits++;
	evbuffer_add(b, srv.body, strlen(srv.body));
	if (srv.cache_control != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Cache-Control", srv.cache_control);
	evhttp_send_reply(req, srv.status, "x", b);
	evbuffer_free(b);
}

static void
loop_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* Run the loop until `hits` requests were answered and handled (bounded). */
static void
run_until_hits(struct event_base *base, int hits)
{
	struct timeval tick = { 0, 20000 };
	struct event *t = evtimer_new(base, loop_stop, base);

	for (int i = 0; i < 250 && srv.hits < hits; i++) {
		evtimer_add(t, &tick);
		event_base_dispatch(base);
	}
	/* and a little longer, for the response to be delivered */
	for (int i = 0; i < 5; i++) {
		evtimer_add(t, &tick);
		event_base_dispatch(base);
	}
	event_free(t);
}

static size_t
loaded(struct jwks_source *s)
{
	struct jwks_keys *hold;
	const struct jwt_keyset *ks = jwks_acquire(s, &hold);
	size_t n = ks ? jwt_keyset_count(ks) : 0;

	jwks_release(hold);
	return n;
}

static void
test_jwks_fetches_keeps_old_keys_and_refetches_on_kick(void)
{
	struct event_base *base = event_base_new();
	struct evhttp *http = evhttp_new(base);
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sin;
	socklen_t sl = sizeof sin;
	struct jwks_source *s, *s2;
	struct diag d;
	char url[128];

	REQUIRE(base != NULL && http != NULL);
	evhttp_set_gencb(http, srv_cb, NULL);
	REQUIRE((bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0)) !=
	    NULL);
	REQUIRE(getsockname(evhttp_bound_socket_get_fd(bs),
	    (struct sockaddr *)&sin, &sl) == 0);
	snprintf(url, sizeof url, "http://127.0.0.1:%u/jwks",
	    ntohs(sin.sin_port));
	srv.body = jwks_one;
	srv.status = 200;
	srv.cache_control = "max-age=600";
	srv.hits = 0;

	diag_init(&d);
	s = jwks_source_get(url, NULL, &d);
	REQUIRE(s != NULL);
	s2 = jwks_source_get(url, NULL, &d);
	CHECK(s2 == s);
	jwks_source_unref(s2);
	CHECK_INT(d.n_errors, ==, 0);
	/* before the start: no fetch, no keys */
	CHECK_INT(loaded(s), ==, 0);
	REQUIRE(jwks_start(base) == 0);
	run_until_hits(base, 1);
	CHECK_INT(srv.hits, ==, 1);
	CHECK_INT(loaded(s), ==, 1);

	/* a kick fetches early; a broken body keeps the keys */
	srv.body = "{\"keys\": [";
	jwks_source_kick(s);
	run_until_hits(base, 2);
	CHECK_INT(srv.hits, ==, 2);
	CHECK_INT(loaded(s), ==, 1);
	/* and kicks inside the interval do nothing */
	srv.body = jwks_two;
	jwks_source_kick(s);
	run_until_hits(base, 0);	/* 100 ms */
	CHECK_INT(srv.hits, ==, 2);
	/* the failure's retry comes after 1 s and loads the new set */
	run_until_hits(base, 3);
	CHECK_INT(srv.hits, ==, 3);
	CHECK_INT(loaded(s), ==, 2);

	/* a source added while running is fetched at once; an error status
	 * keeps nothing loaded */
	srv.status = 500;
	snprintf(url, sizeof url, "http://127.0.0.1:%u/other",
	    ntohs(sin.sin_port));
	s2 = jwks_source_get(url, NULL, &d);
	REQUIRE(s2 != NULL);
	CHECK(s2 != s);
	run_until_hits(base, 4);
	CHECK_INT(srv.hits, ==, 4);
	CHECK_INT(loaded(s2), ==, 0);
	jwks_source_unref(s2);
	run_until_hits(base, 3);	/* gc */

	jwks_source_unref(s);
	jwks_stop();
	diag_free(&d);
	evhttp_free(http);
	event_base_free(base);
}

HARNESS_MAIN(
    T(test_jwks_max_age_reads_cache_control),
    T(test_jwks_refresh_delay_is_clamped),
    T(test_jwks_lifetime_falls_back_to_expires),
    T(test_jwks_jitter_brings_the_refresh_forward_by_a_tenth_at_most),
    T(test_jwks_retry_delay_backs_off_to_five_minutes),
    T(test_jwks_kick_is_rate_limited),
    T(test_jwks_url_https_or_loopback_http),
    T(test_jwks_fetches_keeps_old_keys_and_refetches_on_kick))
