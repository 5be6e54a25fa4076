/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_h2_frames.c — libFuzzer target for the HTTP/2 front
 * (proxy/h2_conn.c): the input is what a client sends after the
 * connection preface (which the target adds), fed through a bufferevent
 * pair into a real h2 connection of a real worker whose configuration has
 * respond routes.  That drives nghttp2's frame and HPACK parsing and all
 * of limen's session callbacks: stream creation, header collection and
 * limits, request building and routing, body accounting and flow
 * control, responses with their data provider, resets, the flood
 * counters, GOAWAY.  Each input ends by killing the connection, so leaks
 * of streams or exchanges show up under ASan.
 *
 * Seeds: SETTINGS, GET/POST/HEAD requests with bodies and trailers,
 * resets, PING, WINDOW_UPDATE, CONTINUATION.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "conf/config.h"
#include "conf/diag.h"
#include "proxy/accesslog.h"
#include "proxy/h2_conn.h"
#include "proxy/snapshot.h"
#include "proxy/upstream.h"
#include "proxy/worker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char conf_text[] =
    "listeners:\n"
    "  - name: web\n"
    "    listen: [\"127.0.0.1:1\"]\n"
    "routes:\n"
    "  - host: [\"*\"]\n"
    "    path: /small\n"
    "    max_body: 100\n"
    "    respond: { status: 200, body: \"small\\n\" }\n"
    "  - host: [\"app.example.com\"]\n"
    "    redirect: { to: \"https://example.org\", keep_path: true }\n"
    "  - host: [\"*\"]\n"
    "    respond: { status: 200, body: \"hello\\n\" }\n";

static struct worker *w;
static struct config *conf;

static void
setup(void)
{
	struct snapshot *s;
	struct diag d;

	diag_init(&d);
	if ((conf = conf_load_buffer("fuzz.yaml", conf_text,
	    sizeof(conf_text) - 1, &d)) == NULL)
		abort();
	conf_ref(conf);
	if ((s = snapshot_build(conf, NULL, 1, &d)) == NULL)
		abort();
	diag_free(&d);
	if ((w = workers_new(1)) == NULL ||
	    (w->base = event_base_new()) == NULL ||
	    (w->cur = wsnap_new(s)) == NULL ||
	    (w->ucache = upstream_cache_new()) == NULL ||
	    (w->alog = accesslog_buf_new(w)) == NULL)
		abort();
	snapshot_unref(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	const struct conf_addr *a;
	struct bufferevent *pair[2];
	struct wfront *f;

	if (w == NULL)
		setup();
	a = &conf->listeners[0].addrs[0];
	if (bufferevent_pair_new(w->base, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS, pair) == -1)
		abort();
	if (h2_conn_start(w, pair[0], (const struct sockaddr *)&a->sa,
	    a->sa_len, &a->sa, a->sa_len) == -1) {
		bufferevent_free(pair[1]);
		return 0;
	}
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	bufferevent_write(pair[1], preface, sizeof(preface) - 1);
	bufferevent_write(pair[1], data, size);
	/* let the session read, answer and close what it wants to */
	for (int i = 0; i < 16; i++) {
		event_base_loop(w->base, EVLOOP_NONBLOCK);
		evbuffer_drain(bufferevent_get_input(pair[1]),
		    evbuffer_get_length(bufferevent_get_input(pair[1])));
	}
	while ((f = TAILQ_FIRST(&w->fronts)) != NULL)
		f->kill(f);
	bufferevent_free(pair[1]);
	event_base_loop(w->base, EVLOOP_NONBLOCK);
	return 0;
}
